#include "raft/stream_log.h"

#include <xxhash.h>

#include <chrono>
#include <cstring>
#include <future>
#include <thread>

#include "base/log.h"
#include "raft/bytes.h"
#include "store/coding.h"
#include "store/group_commit.h"

namespace fjord::raft {
namespace {

// A stub's first byte: the entry's kind with this bit set. Stubs live only
// in the stub file; the wire and NuRaft's state machine see full entries.
constexpr uint8_t kStub = 0x80;
// On the first byte of an entry Stage made: its message is in the store
// already. Cleared as the entry is logged (replicas never see it).
constexpr uint8_t kStaged = 0x40;
constexpr size_t kStubSize = 1 + 8;
// Recent full entries kept for replication and commit.
constexpr size_t kCacheBytes = 8u << 20;

// The fsyncs of the stub files of every stream log a server leads, while
// their stores sync on their own threads. One per process, never destroyed:
// a log may be released on this very thread, and the thread must outlive
// every log's last batch.
store::GroupCommit& StubSyncs() {
  static auto* syncs = new store::GroupCommit(store::SyncMode::kAlways, 0, "fjord-stubsync");
  return *syncs;
}

nuraft::ptr<nuraft::log_entry> NewEntry(const nuraft::log_entry& like, std::string_view data) {
  return nuraft::cs_new<nuraft::log_entry>(like.get_term(), ToBuffer(data), like.get_val_type(),
                                           like.get_timestamp());
}

std::string_view View(const nuraft::log_entry& e) {
  if (e.is_buf_null()) return {};
  auto& b = e.get_buf();
  return {reinterpret_cast<const char*>(b.data_begin()), b.size()};
}

// A stub's bytes: a message or skip at `seq`.
std::string StubBytes(StreamEntry::Kind kind, uint64_t seq) {
  std::string stub(1, static_cast<char>(kind | kStub));
  store::PutU64(&stub, seq);
  return stub;
}

// The stub logged in place of `like`, a message or skip at `seq`.
nuraft::ptr<nuraft::log_entry> Stub(const nuraft::log_entry& like, StreamEntry::Kind kind, uint64_t seq) {
  return NewEntry(like, StubBytes(kind, seq));
}

// Logged in place of an entry whose append failed (an empty operation):
// NuRaft counts the index as taken, but nothing from there on is durable,
// and Load cuts the log from the first of them.
nuraft::ptr<nuraft::log_entry> Placeholder(const nuraft::log_entry& like) {
  return NewEntry(like, StreamEntry::Op({}));
}
bool IsPlaceholder(const nuraft::log_entry& e) {
  std::string_view v = View(e);
  return e.get_val_type() == nuraft::app_log && v.size() == 1 && static_cast<uint8_t>(v[0]) == StreamEntry::kOp;
}

// The stub's kind and sequence, when `e` is a stub.
std::optional<std::pair<StreamEntry::Kind, uint64_t>> StubOf(const nuraft::log_entry& e) {
  if (e.get_val_type() != nuraft::app_log) return std::nullopt;
  std::string_view v = View(e);
  if (v.size() != kStubSize || !(static_cast<uint8_t>(v[0]) & kStub)) return std::nullopt;
  return std::make_pair(static_cast<StreamEntry::Kind>(static_cast<uint8_t>(v[0]) & ~kStub),
                        store::DecodeU64(v.data() + 1));
}

size_t SizeOf(const nuraft::log_entry& e) { return (e.is_buf_null() ? 0 : e.get_buf().size()) + 64; }

}  // namespace

std::string StreamEntry::Msg(uint64_t seq, int64_t ts, std::string_view subject, std::string_view hdr,
                             std::string_view data) {
  std::string out;
  out.reserve(1 + 8 + 8 + 12 + subject.size() + hdr.size() + data.size());
  out.push_back(static_cast<char>(kMsg));
  store::PutU64(&out, seq);
  store::PutU64(&out, static_cast<uint64_t>(ts));
  for (std::string_view part : {subject, hdr, data}) {
    store::PutU32(&out, static_cast<uint32_t>(part.size()));
    out.append(part);
  }
  return out;
}

std::string StreamEntry::Skip(uint64_t seq) {
  std::string out(1, static_cast<char>(kSkip));
  store::PutU64(&out, seq);
  return out;
}

std::string StreamEntry::Op(std::string_view payload) {
  std::string out(1, static_cast<char>(kOp));
  out.append(payload);
  return out;
}

std::optional<StreamEntry> StreamEntry::Decode(std::string_view b) {
  if (b.empty()) return std::nullopt;
  StreamEntry e;
  e.kind = static_cast<Kind>(static_cast<uint8_t>(b[0]));
  b.remove_prefix(1);
  switch (e.kind) {
    case kOp:
      e.data = b;
      return e;
    case kSkip:
      if (b.size() != 8) return std::nullopt;
      e.seq = store::DecodeU64(b.data());
      return e;
    case kMsg: {
      if (b.size() < 16) return std::nullopt;
      e.seq = store::DecodeU64(b.data());
      e.ts = static_cast<int64_t>(store::DecodeU64(b.data() + 8));
      b.remove_prefix(16);
      std::string_view* parts[] = {&e.subject, &e.hdr, &e.data};
      for (auto* part : parts) {
        if (b.size() < 4) return std::nullopt;
        uint32_t n = store::DecodeU32(b.data());
        b.remove_prefix(4);
        if (b.size() < n) return std::nullopt;
        *part = b.substr(0, n);
        b.remove_prefix(n);
      }
      if (!b.empty()) return std::nullopt;
      return e;
    }
  }
  return std::nullopt;
}

std::shared_ptr<StreamLog> StreamLog::Open(store::Env* env, const std::string& dir, store::Store* store,
                                           std::string* err, int64_t lazy_sync_ns) {
  std::shared_ptr<StreamLog> s(new StreamLog(env, dir, store));
  s->lazy_ns_ = lazy_sync_ns;
  s->stubs_from_store_ = lazy_sync_ns <= 0 && store->KeepsLogPos();
  *err = s->Load();
  if (!err->empty()) return nullptr;
  return s;
}

bool StreamLog::WriteBase(uint64_t seq) {
  std::string body;
  store::PutU64(&body, seq);
  store::PutU64(&body, XXH64(body.data(), 8, 0));
  auto st = store::WriteFileDurably(env_, store::JoinPath(dir_, "base"), body);
  if (!st.ok()) log::Error("raft stream log {}: {}", dir_, st.msg);
  return st.ok();
}

std::string StreamLog::Load() {
  std::string err;
  bool lost = false;
  stubs_ = FileLogStore::Open(env_, dir_, &err, nullptr, &lost);
  if (!stubs_) return err;
  lost_durable_ = lost;
  store::StreamState st = store_->State();
  // `base`: the last sequence logged before the oldest entry kept (or the
  // store's last when the log began).
  std::string base_path = store::JoinPath(dir_, "base");
  if (env_->Exists(base_path)) {
    auto r = store::ReadFileToString(env_, base_path);
    if (!r.ok()) return r.status.msg;
    if (r.value.size() != 16 || XXH64(r.value.data(), 8, 0) != store::DecodeU64(r.value.data() + 8))
      return base_path + ": checksum mismatch";
    base_seq_ = store::DecodeU64(r.value.data());
  } else {
    base_seq_ = st.last_seq;
    if (!WriteBase(base_seq_)) return base_path + ": cannot be written";
  }
  // Stubs for messages the store does not have, or placeholders of failed
  // appends (the file may hold them: written, never synced, and a process
  // that stops keeps its writes): never reported durable. Cut from the
  // first of them, so the leader sends them again; kept, a placeholder
  // would stand for a message this replica never stored.
  last_seq_ = base_seq_;
  uint64_t end = stubs_->next_slot();
  for (uint64_t i = stubs_->start_index(); i < end; i++) {
    auto entry = stubs_->entry_at(i);
    if (IsPlaceholder(*entry)) {
      log::Warn("raft stream log {}: entries from {} were never stored (a failed append); cut", dir_, i);
      if (!stubs_->CutFrom(i)) return dir_ + ": cannot cut the stub file";
      break;
    }
    auto stub = StubOf(*entry);
    if (!stub) continue;
    if (stub->second > st.last_seq) {
      log::Warn("raft stream log {}: entries from {} name messages the store lacks (from seq {}); cut", dir_, i,
                stub->second);
      // Not all of them a torn write: the store lost some it had synced.
      if (auto loss = store_->LostAtOpen()) {
        lost_durable_ = true;
        log::Error("raft stream log {}: entries from {} on may have been acknowledged by this replica ({})", dir_,
                   i, loss->why);
      }
      if (!stubs_->CutFrom(i)) return dir_ + ": cannot cut the stub file";
      break;
    }
    // Stubs below `base` predate a snapshot installed since.
    last_seq_ = std::max(last_seq_, stub->second);
  }
  if (st.last_seq > last_seq_ && store_->KeepsLogPos())
    if (std::string e = RecoverStubs(st); !e.empty()) return e;
  // Messages appended to the store but never logged.
  if (st.last_seq > last_seq_) {
    log::Warn("raft stream log {}: the store holds sequences {}..{} the log never had; cut", dir_, last_seq_ + 1,
              st.last_seq);
    if (auto s = store_->Truncate(last_seq_); !s.ok()) return s.msg;
  }
  durable_ = stubs_->next_slot() - 1;
  return {};
}

std::string StreamLog::RecoverStubs(const store::StreamState& st) {
  // Walks the store from the last logged sequence: each message that has
  // its log position must be the next entry (index and sequence one step
  // on, term not lower), or a few steps on over messages removed since
  // (the per-subject limit of a KV bucket, say), which then were messages
  // too (each takes one index and one sequence; an operation takes an
  // index only) of the same term (terms change only at a leader's
  // membership entry, which needs its stub durable). Stops at the first
  // message without a position (a leader's staged message, never logged)
  // or out of step (an entry before it was lost unsynced: its batch was
  // never durable).
  uint64_t index = stubs_->next_slot() - 1;
  uint64_t term = index >= stubs_->start_index() ? stubs_->term_at(index) : 0;
  uint64_t seq = last_seq_;
  std::vector<std::pair<uint64_t, uint64_t>> found;  // (sequence, term), from seq + 1 on
  bool stopped = false;
  for (uint64_t s = last_seq_ + 1; s <= st.last_seq && !stopped; s++) {
    auto pos = store_->LogPosOf(s);
    if (!pos) {
      auto code = store_->Load(s).status.code;
      // Stored without a position (or unreadable): stop. Removed since:
      // known only by a message after it.
      stopped = code != store::Errc::kNotFound && code != store::Errc::kDeleted;
      continue;
    }
    uint64_t steps = s - seq;
    if (pos->index != index + steps || pos->term < term || (steps > 1 && pos->term != term)) {
      stopped = true;
      break;
    }
    for (uint64_t q = seq + 1; q <= s; q++) found.emplace_back(q, q == s ? pos->term : term);
    index = pos->index;
    term = pos->term;
    seq = s;
  }
  if (!stopped && seq < st.last_seq) {
    // Sequences past the last message with a position, none left in the
    // store: messages removed since (their stubs never synced, a power
    // loss within a tick of the removal) or a leader's skip never logged.
    // Cut; as they may have been acknowledged here, this replica must not
    // vote until its group has sent them again.
    lost_durable_ = true;
    log::Error("raft stream log {}: sequences {}..{} have no stub and no message left; cut, no vote until caught up",
               dir_, seq + 1, st.last_seq);
  }
  if (found.empty()) return {};
  for (auto [q, t] : found) {
    nuraft::log_entry e(t, ToBuffer(StubBytes(StreamEntry::kMsg, q)), nuraft::app_log, 0);
    if (!stubs_->Append(e)) return dir_ + ": cannot write the stub file";
  }
  if (!stubs_->flush()) return dir_ + ": cannot sync the stub file";
  log::Info("raft stream log {}: entries {}..{} (sequences {}..{}) logged again from the store", dir_,
            index - found.size() + 1, index, last_seq_ + 1, seq);
  last_seq_ = seq;
  return {};
}

void StreamLog::OnDurable(std::function<void(bool)> fn) { on_durable_ = std::move(fn); }

void StreamLog::OnFailed(std::function<void(const std::string&)> fn) { on_failed_ = std::move(fn); }

void StreamLog::Fail(const std::string& why) {
  if (failed_.exchange(true)) return;
  log::Error("raft stream log {}: {}", dir_, why);
  if (on_failed_) on_failed_(why);
}

bool StreamLog::failed() const { return failed_.load(); }

uint64_t StreamLog::last_logged_seq() const {
  std::lock_guard lock(mu_);
  return last_seq_;
}

nuraft::ulong StreamLog::next_slot() const { return stubs_->next_slot(); }
nuraft::ulong StreamLog::start_index() const { return stubs_->start_index(); }

nuraft::ptr<nuraft::log_entry> StreamLog::last_entry() const {
  std::lock_guard lock(mu_);
  uint64_t last = stubs_->next_slot() - 1;
  if (last < stubs_->start_index()) return stubs_->last_entry();  // the dummy of an empty log
  return const_cast<StreamLog*>(this)->Rebuild(last);
}

void StreamLog::Cache(uint64_t index, const nuraft::ptr<nuraft::log_entry>& entry) {
  cache_[index] = entry;
  cache_bytes_ += SizeOf(*entry);
  while (cache_bytes_ > kCacheBytes && !cache_.empty()) {
    cache_bytes_ -= SizeOf(*cache_.begin()->second);
    cache_.erase(cache_.begin());
  }
}

nuraft::ptr<nuraft::log_entry> StreamLog::StoreEntry(nuraft::ptr<nuraft::log_entry>& entry, uint64_t index) {
  if (failed_) return nullptr;
  // Only a message stored with its position can do without its stub.
  uint64_t needed_before = stubs_needed_upto_;
  stubs_needed_upto_ = index;
  if (entry->get_val_type() != nuraft::app_log) return entry;
  if (auto v = View(*entry); !v.empty() && (static_cast<uint8_t>(v[0]) & kStaged)) {
    // A message Stage stored: logged here, stored already.
    auto* first = reinterpret_cast<char*>(entry->get_buf().data_begin());
    *first = static_cast<char>(static_cast<uint8_t>(*first) & ~kStaged);
    auto e = StreamEntry::Decode(View(*entry));
    if (!e || e->kind == StreamEntry::kOp || staged_.empty() || staged_.front().seq != e->seq ||
        e->seq != last_seq_ + 1) {
      Fail(fmt::format("a staged entry for sequence {} out of order (log at {})", e ? e->seq : 0, last_seq_));
      return nullptr;
    }
    // Stored with the position it was to take: its stub can wait.
    if (e->kind == StreamEntry::kMsg && store_->KeepsLogPos() && staged_.front().pos.index == index &&
        staged_.front().pos.term == entry->get_term())
      stubs_needed_upto_ = needed_before;
    staged_.pop_front();
    last_seq_ = e->seq;
    return Stub(*entry, e->kind, e->seq);
  }
  // Any other entry is another leader's (this one proposes what it staged
  // first): what was staged here goes.
  if (!staged_.empty()) CutStaged();
  auto e = StreamEntry::Decode(View(*entry));
  if (!e) {
    Fail("a malformed entry");
    return nullptr;
  }
  if (e->kind == StreamEntry::kOp) return entry;
  // A follower stores the leader's sequence. Anything the store holds from
  // there on was never logged (the log's last message is below).
  uint64_t seq = e->seq;
  if (seq <= last_seq_) {
    Fail(fmt::format("an entry for sequence {} while the log is at {}", seq, last_seq_));
    return nullptr;
  }
  uint64_t last = store_->State().last_seq;
  if (last >= seq) {
    if (auto s = store_->Truncate(seq - 1); !s.ok()) {
      Fail(s.msg);
      return nullptr;
    }
  } else if (last + 1 != seq) {
    Fail(fmt::format("an entry for sequence {} while the store ends at {}", seq, last));
    return nullptr;
  }
  auto r = e->kind == StreamEntry::kMsg
               ? store_->AppendLogged(e->subject, e->hdr, e->data, e->ts, {index, entry->get_term()})
               : store_->SkipMsg();
  if (!r.ok()) {
    Fail(r.status.msg);
    return nullptr;
  }
  if (r.value != seq) {
    Fail(fmt::format("the store put sequence {} at {}", seq, r.value));
    return nullptr;
  }
  if (e->kind == StreamEntry::kMsg && store_->KeepsLogPos()) stubs_needed_upto_ = needed_before;
  last_seq_ = r.value;
  return Stub(*entry, e->kind, r.value);
}

std::string StreamLog::Stage(std::string_view subject, std::string_view hdr, std::string_view data, int64_t ts,
                             bool skip, uint64_t* seq, std::string* err) {
  std::lock_guard lock(mu_);
  if (failed_) {
    *err = "the stream's log failed";
    return {};
  }
  // The store ends where the log and what is staged end: anything else
  // was written past the log (and is cut at the next open).
  if (uint64_t last = store_->State().last_seq; last != last_seq_ + staged_.size()) {
    *err = fmt::format("the store ends at {}, the log and what is staged at {}", last, last_seq_ + staged_.size());
    return {};
  }
  // The position it takes if the entries staged before it are the next
  // appended, in this leader's term (its log ends with an entry of its
  // term: NuRaft appends one as it becomes leader). Checked as it is
  // logged (StoreEntry).
  store::LogPos pos{stubs_->next_slot() + staged_.size(), stubs_->last_entry()->get_term()};
  auto r = skip ? store_->SkipMsg() : store_->AppendLogged(subject, hdr, data, ts, pos);
  if (!r.ok()) {
    *err = r.status.msg;
    // A leader that cannot store (a full disk) fails as its log: its group
    // halts and another replica leads (raft::Group::Halted).
    if (r.status.code == store::Errc::kNoSpace || r.status.code == store::Errc::kIo) Fail(r.status.msg);
    return {};
  }
  staged_.push_back({r.value, pos});
  *seq = r.value;
  std::string entry = skip ? StreamEntry::Skip(r.value) : StreamEntry::Msg(r.value, ts, subject, hdr, data);
  entry[0] = static_cast<char>(static_cast<uint8_t>(entry[0]) | kStaged);
  return entry;
}

void StreamLog::DropStaged() {
  std::lock_guard lock(mu_);
  CutStaged();
}

void StreamLog::CutStaged() {
  staged_.clear();
  if (store_->State().last_seq > last_seq_)
    if (auto s = store_->Truncate(last_seq_); !s.ok()) Fail(s.msg);
}

nuraft::ulong StreamLog::append(nuraft::ptr<nuraft::log_entry>& entry) {
  std::lock_guard lock(mu_);
  uint64_t index = stubs_->next_slot();
  auto logged = StoreEntry(entry, index);
  if (!logged) {
    auto e = Placeholder(*entry);
    stubs_->append(e);
    return index;
  }
  // An entry that stores nothing (an operation) fails here alone: the batch
  // must not look durable.
  if (!stubs_->Append(*logged)) Fail("its stub file cannot be written");
  Cache(index, entry);
  return index;
}

void StreamLog::write_at(nuraft::ulong index, nuraft::ptr<nuraft::log_entry>& entry) {
  {
    std::lock_guard lock(mu_);
    if (!staged_.empty()) CutStaged();  // another leader's entries replace them
    // The replaced entries' messages leave the store first: a crash after
    // this leaves stubs naming missing messages, which Load cuts.
    uint64_t end = stubs_->next_slot();
    uint64_t keep = base_seq_;
    for (uint64_t i = stubs_->start_index(); i < index && i < end; i++)
      if (auto stub = StubOf(*stubs_->entry_at(i))) keep = stub->second;
    if (keep < last_seq_) {
      if (auto s = store_->Truncate(keep); !s.ok()) Fail(s.msg);
      last_seq_ = keep;
    }
    cache_.erase(cache_.lower_bound(index), cache_.end());
    cache_bytes_ = 0;
    for (auto& [i, e] : cache_) cache_bytes_ += SizeOf(*e);
    gen_++;
    auto logged = StoreEntry(entry, index);
    if (!logged) logged = Placeholder(*entry);
    stubs_->write_at(index, logged);
    // Durable before the store's new messages are (this batch's sync): a
    // stub file a power loss took back to the replaced stubs would give
    // them the old entries' terms. Rare (a new leader's log disagrees).
    if (!stubs_->flush()) Fail("its stub file cannot be written");
    stubs_needed_upto_ = index;
    if (!failed_) Cache(index, entry);
    if (durable_ >= index) durable_ = index - 1;
  }
}

thread_local bool AsyncLogStore::Proposing::active_ = false;

void StreamLog::SyncIfDue() {
  if (failed_ || stubs_->last_durable_index() + 1 >= stubs_->next_slot()) return;
  if (stubs_from_store_) {
    // Stubs of messages the store made durable: synced now, in the
    // background, so a power loss leaves few for Load to rebuild (and none
    // whose messages a limit has removed since, which it could not).
    if (auto point = stubs_->PrepareSync())
      StubSyncs().Submit(point->file, [stubs = stubs_, point = *point](store::Status st) { stubs->Synced(point, st); });
    return;
  }
  if (lazy_ns_ > 0 && !SkipStubSync() && !stubs_->flush()) Fail("the stub file cannot be synced");
}

bool StreamLog::SkipStubSync() {
  if (lazy_ns_ <= 0) return false;
  int64_t now = std::chrono::duration_cast<std::chrono::nanoseconds>(
                    std::chrono::steady_clock::now().time_since_epoch()).count();
  int64_t last = stubs_synced_at_.load();
  if (now - last < lazy_ns_) return true;
  stubs_synced_at_ = now;
  return false;
}

void StreamLog::end_of_append_batch(nuraft::ulong, nuraft::ulong) {
  uint64_t target, gen;
  bool skip_stubs;
  {
    std::lock_guard lock(mu_);
    target = stubs_->next_slot() - 1;
    gen = gen_;
    // Durable with the store alone: a batch of messages stored with their
    // positions, once every stub needed before is durable.
    skip_stubs = lazy_ns_ > 0 ? SkipStubSync()
                               : stubs_from_store_ && stubs_->last_durable_index() >= stubs_needed_upto_;
  }
  // The batch's stubs go to the file in one write (FileLogStore::Write);
  // in lazy mode that write is what makes the batch count as stored.
  stubs_->Write();
  if (!Proposing::active()) {
    // A follower's batch: this thread would wait for it anyway, so a batch
    // the store alone makes durable is synced here, without waking the
    // store's sync thread and being woken by it.
    if (skip_stubs && lazy_ns_ <= 0)
      if (auto sync = store_->PrepareSyncHere()) {
        store::Status st = (*sync)();
        SyncDone(target, gen, st.ok() && !stubs_->failed(), st.ok() ? "the stub file failed" : st.msg,
                 /*tell=*/false);
        return;
      }
    std::promise<store::Status> store_synced;
    auto f = store_synced.get_future();
    store_->Sync([&store_synced](store::Status st) { store_synced.set_value(std::move(st)); });
    bool stubs_ok = !failed_ && !stubs_->failed() &&
                    (skip_stubs || stubs_->last_durable_index() >= target || stubs_->flush());
    store::Status st = f.get();
    // Seen durable as soon as this returns: only a failure needs telling.
    SyncDone(target, gen, st.ok() && stubs_ok, st.ok() ? "the stub file cannot be synced" : st.msg,
             /*tell=*/false);
    return;
  }
  // Both files at once; the last to finish reports.
  struct Join {
    std::mutex mu;
    int left = 2;
    bool ok = true;
    std::string why;
    // Both finished before this call returns, on this thread (lazy mode,
    // where a batch is durable once written): the batch is durable before
    // NuRaft counts it (it reads last_durable_index), so telling it, a
    // hand-over to the notice thread per batch, would change nothing.
    bool in_call = true;
    std::thread::id caller = std::this_thread::get_id();
  };
  auto join = std::make_shared<Join>();
  auto finish = [w = weak_from_this(), target, gen, join](bool ok, const std::string& why) {
    bool tell;
    {
      std::lock_guard lock(join->mu);
      if (!ok && join->ok) {
        join->ok = false;
        join->why = why;
      }
      if (--join->left > 0) return;
      tell = !join->in_call || std::this_thread::get_id() != join->caller;
    }
    // The store may finish the sync after the log is gone (its last syncs
    // run as it closes).
    if (auto self = w.lock()) self->SyncDone(target, gen, join->ok, join->why, tell);
  };
  store_->Sync([finish](store::Status st) { finish(st.ok(), st.msg); });
  if (skip_stubs) {
    finish(!stubs_->failed(), "the stub file failed");
  } else if (auto point = stubs_->PrepareSync()) {
    StubSyncs().Submit(point->file, [stubs = stubs_, point = *point, finish](store::Status st) {
      finish(stubs->Synced(point, st), st.ok() ? "the stub file failed" : st.msg);
    });
  } else {
    finish(false, "the stub file failed");
  }
  std::lock_guard lock(join->mu);
  join->in_call = false;
}

void StreamLog::SyncDone(uint64_t target, uint64_t gen, bool ok, const std::string& why, bool tell) {
  // A log that failed since its batch was written reports nothing durable.
  ok = ok && !failed_;
  if (!ok) {
    Fail(why);
  } else {
    std::lock_guard lock(mu_);
    // Entries replaced since the batch (write_at) are not these.
    if (gen == gen_ && target > durable_) durable_ = target;
  }
  if (on_durable_ && (tell || !ok)) on_durable_(ok);
}

namespace {

struct SnapshotHead {
  uint64_t first = 0, last = 0;
  std::string_view app;
};
std::optional<SnapshotHead> DecodeHead(std::string_view b) {
  if (b.size() < 16) return std::nullopt;
  return SnapshotHead{store::DecodeU64(b.data()), store::DecodeU64(b.data() + 8), b.substr(16)};
}
uint64_t PartId(uint64_t seq, bool messages) { return (seq << 1) | (messages ? 1 : 0); }

// A part stops after this many bytes of messages, or this many sequences.
constexpr size_t kPartBytes = 1u << 20;
constexpr uint64_t kPartSeqs = 16384;

}  // namespace

std::optional<uint64_t> StreamLog::SnapshotLastSeq(std::string_view header) {
  auto head = DecodeHead(header);
  if (!head) return std::nullopt;
  return head->last;
}

std::string StreamLog::SnapshotHeader(uint64_t last_seq, std::string_view app) const {
  std::string out;
  store::PutU64(&out, store_->State().first_seq);
  store::PutU64(&out, last_seq);
  out.append(app);
  return out;
}

// A part: u64 the last sequence it covers, then entries: for a part of
// messages, u32 length + a message entry (StreamEntry::Msg) for each
// message the leader has; for the other kind, u64 each sequence it lacks.
// The leader's first sequence now may be past the header's.
int StreamLog::ReadSnapshotPart(std::string_view header, uint64_t id, std::string* out) {
  auto head = DecodeHead(header);
  if (!head) return -1;
  if (id == 0) {
    *out = header;
    return 0;
  }
  uint64_t from = id >> 1;
  bool messages = id & 1;
  uint64_t end = std::min(head->last, from + kPartSeqs - 1);
  out->clear();
  store::PutU64(out, 0);  // the end, once known
  uint64_t covered = from - 1, next = from;
  if (from <= end) {
    std::vector<uint64_t> gone;  // sequences the leader does not have
    auto st = store_->Scan(from, end, [&](const store::MsgView& m) {
      if (messages) {
        std::string e = StreamEntry::Msg(m.seq, m.ts, m.subject, m.hdr, m.data);
        store::PutU32(out, static_cast<uint32_t>(e.size()));
        out->append(e);
      } else {
        for (uint64_t s = next; s < m.seq; s++) gone.push_back(s);
      }
      next = m.seq + 1;
      covered = m.seq;
      return out->size() + 8 * gone.size() < kPartBytes;
    });
    // A damaged record here must not make the follower drop its good copy
    // (listed as gone) nor leave it without one (messages left out): the
    // part fails and NuRaft asks again (after a hand-over or a repair).
    if (!st.ok() && (messages || st.code != store::Errc::kCorrupt)) {
      log::Error("raft stream log {}: a snapshot part cannot be read: {}", dir_, st.msg);
      return -1;
    }
    // The scan ran to the end of the range unless the part filled up.
    if (out->size() + 8 * gone.size() < kPartBytes) covered = end;
    if (!messages) {
      for (uint64_t s = next; s <= covered; s++) gone.push_back(s);
      for (uint64_t s : gone) {
        if (!st.ok()) {
          if (store::Unreadable(store_->Load(s).status)) continue;  // held, not gone
        }
        store::PutU64(out, s);
      }
    }
  }
  store::EncodeU64(out->data(), std::max(covered, from - 1));
  return messages && covered >= head->last ? 1 : 0;
}

uint64_t StreamLog::SaveSnapshotPart(uint64_t id, std::string_view part, uint64_t committed) {
  std::lock_guard lock(mu_);
  if (id == 0) {
    auto head = DecodeHead(part);
    if (!head) return 0;
    receiving_ = true;
    // Messages past what this replica knows committed may be another
    // leader's tentative tail: they go, and come again from the leader.
    catchup_keep_ = std::min({committed, head->last, last_seq_});
    if (catchup_keep_ < last_seq_) {
      if (auto s = store_->Truncate(catchup_keep_); !s.ok()) {
        Fail(s.msg);
        return 0;
      }
      last_seq_ = catchup_keep_;
    }
    cache_.clear();
    cache_bytes_ = 0;
    store::StreamState st = store_->State();
    // What the leader dropped from the front is dropped here as well; if
    // that is everything kept, the store moves on to the leader's first.
    if (head->first > st.first_seq) {
      if (auto r = store_->Purge("", head->first, 0); !r.ok()) {
        Fail(r.status.msg);
        return 0;
      }
      st = store_->State();
      if (st.last_seq > last_seq_) last_seq_ = catchup_keep_ = st.last_seq;
    }
    if (st.msgs > 0 && st.first_seq <= catchup_keep_) return PartId(st.first_seq, false);
    return PartId(catchup_keep_ + 1, true);
  }
  if (part.size() < 8) return 0;
  uint64_t covered = store::DecodeU64(part.data());
  part.remove_prefix(8);
  if (!(id & 1)) {
    while (part.size() >= 8) {
      auto s = store_->Remove(store::DecodeU64(part.data()), false);
      if (!s.ok() && s.code != store::Errc::kNotFound && s.code != store::Errc::kDeleted) {
        Fail(s.msg);
        return 0;
      }
      part.remove_prefix(8);
    }
    if (covered < catchup_keep_) return PartId(covered + 1, false);
    return PartId(catchup_keep_ + 1, true);
  }
  auto fill = [&](uint64_t upto) {
    while (last_seq_ < upto) {
      auto r = store_->SkipMsg();
      if (!r.ok()) return Fail(r.status.msg), false;
      last_seq_ = r.value;
    }
    return true;
  };
  while (part.size() >= 4) {
    uint32_t n = store::DecodeU32(part.data());
    if (part.size() - 4 < n) return 0;
    auto e = StreamEntry::Decode(part.substr(4, n));
    part.remove_prefix(4 + n);
    if (!e || e->kind != StreamEntry::kMsg || e->seq <= last_seq_) return 0;
    if (!fill(e->seq - 1)) return 0;
    auto r = store_->Append(e->subject, e->hdr, e->data, e->ts);
    if (!r.ok() || r.value != e->seq) {
      Fail(r.ok() ? fmt::format("the store put sequence {} at {}", e->seq, r.value) : r.status.msg);
      return 0;
    }
    last_seq_ = r.value;
  }
  if (!fill(covered)) return 0;
  return PartId(covered + 1, true);
}

bool StreamLog::SyncStore() {
  std::promise<store::Status> p;
  auto f = p.get_future();
  store_->Sync([&p](store::Status st) { p.set_value(st); });
  store::Status st = f.get();
  if (!st.ok()) Fail(st.msg);
  return st.ok();
}

std::optional<std::string> StreamLog::FinishSnapshot(std::string_view header) {
  auto head = DecodeHead(header);
  if (!head) return std::nullopt;
  {
    // A snapshot restored at open, not received: the store has it all.
    std::lock_guard lock(mu_);
    if (!receiving_) return std::string(head->app);
  }
  if (!SyncStore()) return std::nullopt;
  std::lock_guard lock(mu_);
  receiving_ = false;
  if (last_seq_ != head->last) {
    log::Error("raft stream log {}: a snapshot ends at sequence {}, the store at {}", dir_, head->last, last_seq_);
    return std::nullopt;
  }
  // The log restarts after the snapshot (NuRaft compacts it): `base`
  // carries the last sequence until new entries name one.
  if (!WriteBase(head->last)) return std::nullopt;
  base_seq_ = head->last;
  return std::string(head->app);
}

bool StreamLog::flush() {
  uint64_t target;
  {
    std::lock_guard lock(mu_);
    target = stubs_->next_slot() - 1;
  }
  if (!SyncStore()) return false;
  if (failed_ || !stubs_->flush()) {
    Fail("the stub file cannot be synced");
    return false;
  }
  std::lock_guard lock(mu_);
  if (target > durable_) durable_ = target;
  return true;
}

nuraft::ulong StreamLog::last_durable_index() {
  return durable_.load();
}

nuraft::ptr<nuraft::log_entry> StreamLog::Rebuild(uint64_t index) {
  if (auto it = cache_.find(index); it != cache_.end()) return it->second;
  auto e = stubs_->entry_at(index);
  auto stub = StubOf(*e);
  if (!stub) return e;
  if (stub->first == StreamEntry::kMsg) {
    auto m = store_->Load(stub->second);
    if (m.ok()) return NewEntry(*e, StreamEntry::Msg(m.value.seq, m.value.ts, m.value.subject, m.value.hdr, m.value.data));
    // Deleted or evicted since: the follower records a gap, as the leader
    // has one. Any other failure is the store's to report.
    if (m.status.code != store::Errc::kNotFound && m.status.code != store::Errc::kDeleted)
      log::Error("raft stream log {}: cannot read sequence {} for entry {}: {}", dir_, stub->second, index,
                 m.status.msg);
  }
  return NewEntry(*e, StreamEntry::Skip(stub->second));
}

nuraft::ptr<nuraft::log_entry> StreamLog::entry_at(nuraft::ulong index) {
  std::lock_guard lock(mu_);
  if (index < stubs_->start_index() || index >= stubs_->next_slot()) return stubs_->entry_at(index);
  return Rebuild(index);
}

nuraft::ptr<std::vector<nuraft::ptr<nuraft::log_entry>>> StreamLog::log_entries(nuraft::ulong start,
                                                                                 nuraft::ulong end) {
  std::lock_guard lock(mu_);
  if (start < stubs_->start_index() || end > stubs_->next_slot() || start > end) return nullptr;
  auto out = nuraft::cs_new<std::vector<nuraft::ptr<nuraft::log_entry>>>();
  out->reserve(end - start);
  for (uint64_t i = start; i < end; i++) out->push_back(Rebuild(i));
  return out;
}

nuraft::ulong StreamLog::term_at(nuraft::ulong index) { return stubs_->term_at(index); }

nuraft::ptr<nuraft::buffer> StreamLog::pack(nuraft::ulong index, nuraft::int32 cnt) {
  auto entries = log_entries(index, std::min<uint64_t>(index + cnt, next_slot()));
  return PackEntries(entries ? *entries : std::vector<nuraft::ptr<nuraft::log_entry>>{});
}

void StreamLog::apply_pack(nuraft::ulong index, nuraft::buffer& pack) {
  auto entries = UnpackEntries(pack);
  for (size_t i = 0; i < entries.size(); i++) write_at(index + i, entries[i]);
  flush();
}

bool StreamLog::compact(nuraft::ulong last_log_index) {
  std::lock_guard lock(mu_);
  // Remember the last sequence the dropped entries logged: Load needs it
  // once no stub names it.
  uint64_t base = base_seq_;
  uint64_t end = std::min<uint64_t>(last_log_index + 1, stubs_->next_slot());
  for (uint64_t i = stubs_->start_index(); i < end; i++)
    if (auto stub = StubOf(*stubs_->entry_at(i))) base = std::max(base, stub->second);
  if (base != base_seq_) {
    if (!WriteBase(base)) return false;
    base_seq_ = base;
  }
  cache_.erase(cache_.begin(), cache_.upper_bound(last_log_index));
  cache_bytes_ = 0;
  for (auto& [i, e] : cache_) cache_bytes_ += SizeOf(*e);
  return stubs_->compact(last_log_index);
}

}  // namespace fjord::raft
