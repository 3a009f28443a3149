#include "jetstream/sourcing.h"

#include <algorithm>
#include <charconv>

#include "base/log.h"
#include "proto/headers.h"
#include "proto/js_ack.h"
#include "jetstream/cluster.h"
#include "jetstream/consumer.h"
#include "jetstream/counter.h"
#include "jetstream/jetstream.h"
#include "jetstream/stream.h"
#include "proto/parser.h"
#include "server/account.h"
#include "server/random.h"

namespace fjord::jetstream {
namespace {

constexpr std::string_view kSourceHeader = "Nats-Stream-Source";
constexpr int64_t kSecond = 1'000'000'000;
// A feed (an origin on another server): its consumer's heartbeat, the
// silence after which it is started again, how long its consumer outlives
// this server's interest, and the wait after a refused create.
constexpr int64_t kFeedHeartbeat = 1 * kSecond;
constexpr int64_t kFeedSilence = 5 * kSecond;
constexpr int64_t kFeedInactive = 30 * kSecond;
constexpr int64_t kFeedRetry = 2 * kSecond;
// Bytes of message copies held at once by one pass over a source.
constexpr size_t kMaxPassBytes = 8 << 20;

// An atomic batch's headers say nothing about the copy (nats-server strips
// them when mirroring and sourcing).
std::string WithoutBatchHeaders(std::string_view hdr) {
  std::string out(hdr);
  for (auto name : {"Nats-Batch-Id", "Nats-Batch-Sequence", "Nats-Batch-Commit"})
    if (!proto::GetHeader(out, name).empty()) out = proto::RemoveHeader(out, name);
  return out;
}

}  // namespace

bool ParseStreamSourceHeader(std::string_view value, std::string_view* origin, uint64_t* seq,
                             std::string* index_name) {
  std::vector<std::string_view> f;
  size_t start = 0;
  while (start <= value.size()) {
    size_t sp = value.find(' ', start);
    if (sp == std::string_view::npos) sp = value.size();
    f.push_back(value.substr(start, sp - start));
    start = sp + 1;
  }
  // "<origin> <seq>" (2.9), "<origin> <seq> <filters> <destinations>"
  // (2.10), and 2.12's with the origin subject after them.
  if ((f.size() != 2 && f.size() < 4) || f[0].empty()) return false;
  *origin = f[0];
  auto r = std::from_chars(f[1].data(), f[1].data() + f[1].size(), *seq);
  if (r.ec != std::errc() || r.ptr != f[1].data() + f[1].size() || *seq == 0) return false;
  if (index_name) {
    index_name->clear();
    if (f.size() >= 4) *index_name = std::string(f[0]) + " " + std::string(f[2]) + " " + std::string(f[3]);
  }
  return true;
}

Sourcing::Sourcing(Stream* stream) : stream_(stream), mirror_(stream->config().mirror.has_value()) {
  const StreamConfig& cfg = stream->config();
  if (mirror_) {
    AddSource(*cfg.mirror);
    // The mirror holds the origin's sequences: resume after its own last.
    auto st = stream->store().State();
    if (st.last_seq > 0) {
      sources_[0].positioned = true;
      sources_[0].next = st.last_seq + 1;
    }
    resumed_ = true;
  } else {
    for (const auto& s : cfg.sources) AddSource(s);
  }
}

void Sourcing::AddSource(const StreamSource& cfg) {
  Source& src = sources_.emplace_back();
  src.cfg = cfg;
  src.index_name = cfg.IndexName();
  std::string err;
  for (const auto& t : cfg.subject_transforms) {
    // Validated by CheckStreamConfig.
    src.filters.push_back({t.Source(), proto::SubjectTransform::Make(t.src, t.dest, &err)});
  }
  if (cfg.subject_transforms.empty() && !cfg.filter_subject.empty())
    src.filters.push_back({cfg.filter_subject, std::nullopt});
}

std::optional<std::string> Sourcing::Select(const Source& src, std::string_view subject) {
  if (src.filters.empty()) return std::string(subject);
  for (const auto& [filter, transform] : src.filters) {
    if (!proto::SubjectMatches(subject, filter)) continue;
    if (transform) return transform->Apply(subject);
    return std::string(subject);
  }
  return std::nullopt;
}

void Sourcing::Resume() {
  resumed_ = true;
  // Newest first, until every source has found its latest message: windows
  // of sequences from the end, each read with one sequential Scan (the
  // newest header of a window wins). A source that never delivered
  // anything costs one pass over the whole stream per start, as in
  // nats-server.
  constexpr uint64_t kWindow = 4096;
  store::Store& store = stream_->store();
  auto st = store.State();
  if (st.msgs == 0) return;
  size_t unresolved = sources_.size();
  for (uint64_t hi = st.last_seq; hi >= st.first_seq && unresolved > 0;) {
    uint64_t lo = hi - st.first_seq + 1 > kWindow ? hi - kWindow + 1 : st.first_seq;
    std::vector<uint64_t> found(sources_.size(), 0);
    std::string index_name;
    auto scan = store.Scan(lo, hi, [&](const store::MsgView& m) {
      if (m.hdr.empty()) return true;
      std::string_view origin;
      uint64_t origin_seq = 0;
      if (!ParseStreamSourceHeader(proto::GetHeader(m.hdr, kSourceHeader), &origin, &origin_seq, &index_name))
        return true;
      // A header without an index name (2.9's form, or older Fjord's)
      // belongs to the source of that stream.
      for (size_t i = 0; i < sources_.size(); ++i)
        if (!sources_[i].positioned &&
            (index_name.empty() ? sources_[i].cfg.name == origin : sources_[i].index_name == index_name))
          found[i] = origin_seq;
      return true;
    });
    if (!scan.ok() && scan.code != store::Errc::kCorrupt)
      log::Error("JetStream stream '{}': finding source positions: {}", stream_->name(), scan.msg);
    for (size_t i = 0; i < sources_.size(); ++i) {
      if (found[i] == 0) continue;
      sources_[i].positioned = true;
      sources_[i].next = found[i] + 1;
      --unresolved;
    }
    if (lo == st.first_seq) break;
    hi = lo - 1;
  }
}

uint64_t Sourcing::StartSeq(const Source& src, Stream& origin) const {
  auto st = origin.store().State();
  uint64_t first = st.msgs ? st.first_seq : st.last_seq + 1;
  if (src.cfg.opt_start_seq > 0) return src.cfg.opt_start_seq;
  if (src.cfg.opt_start_time != 0) return std::max(first, origin.store().FirstSeqSince(src.cfg.opt_start_time));
  return std::max<uint64_t>(first, 1);
}

size_t Sourcing::Pump(size_t budget, int64_t now) {
  if (!resumed_) Resume();
  size_t used = 0;
  for (auto& src : sources_) {
    if (used >= budget) break;
    used += PumpOne(src, budget - used, now);
  }
  return used;
}

size_t Sourcing::PumpOne(Source& src, size_t budget, int64_t now) {
  JetStream* js = stream_->js();
  auto origin = js->FindStream(src.cfg.name);
  if (!origin) return PumpRemote(src, budget, now);
  // Held here (again): read straight from its store.
  if (src.feed.id) StopFeed(src);
  store::Store& from = origin->store();
  store::Store& to = stream_->store();
  auto ost = from.State();
  // Copy only what the origin has made durable (committed, if replicated):
  // a copy must never survive a power loss that loses its original.
  const uint64_t limit = std::min(ost.last_seq, origin->CopyLimit());
  if (origin != src.origin.lock()) {
    // The origin appeared, or was deleted and created again. A new origin
    // whose sequences are behind our position starts over from its start.
    if (src.positioned && !mirror_ && ost.last_seq + 1 < src.next) src.positioned = false;
    src.origin = origin;
  }
  src.missing = false;
  src.last_active = now;
  if (!src.positioned) {
    src.next = StartSeq(src, *origin);
    src.start = src.next;
    src.positioned = true;
  }
  size_t used = 0;
  bool touched = false;
  if (mirror_) {
    // Sequences before the start are skipped so the mirror's sequences stay
    // the origin's (those deleted or filtered out later become gaps when
    // the next copied message is stored; none follow the last one, as in
    // nats-server).
    auto mst = to.State();
    if (mst.last_seq + 1 > src.next) src.next = mst.last_seq + 1;
    while (used < budget && mst.last_seq + 1 < src.start) {
      auto r = stream_->StoreMsg({}, {}, {}, 0, /*skip=*/true);
      if (!r.ok()) {
        log::Error("JetStream mirror '{}': {}", stream_->name(), r.status.msg);
        return used;
      }
      mst.last_seq = r.value;
      ++used;
      touched = true;
    }
    if (mst.last_seq + 1 < src.start) {
      js->TouchStream(stream_->shared_from_this());
      return used;
    }
  }
  if (src.next <= limit && used < budget) {
    uint64_t end = std::min<uint64_t>(limit, src.next + (budget - used) - 1);
    std::vector<Copy> copies;
    size_t bytes = 0;
    auto st = from.Scan(src.next, end, [&](const store::MsgView& m) {
      auto subject = CopySubject(src, m.subject);
      if (!subject) return true;
      copies.push_back({{m.seq, m.ts, std::move(*subject), WithoutBatchHeaders(m.hdr), std::string(m.data)},
                        std::string(m.subject)});
      bytes += m.subject.size() + m.hdr.size() + m.data.size();
      if (bytes < kMaxPassBytes) return true;
      end = m.seq;  // the rest waits for the next pass
      return false;
    });
    if (!st.ok() && st.code != store::Errc::kCorrupt) {
      log::Error("JetStream {} '{}': reading '{}': {}", mirror_ ? "mirror" : "source", stream_->name(),
                 src.cfg.name, st.msg);
      return used;
    }
    size_t done = StoreCopies(src, copies, budget, now, &used, &touched);
    if (done < copies.size()) {
      src.next = copies[done].msg.seq;
      js->TouchStream(stream_->shared_from_this());
      return used;
    }
    used += copies.empty() ? 1 : 0;  // a pass over deleted/filtered messages still costs
    src.next = end + 1;
  }
  if (touched) js->TouchStream(stream_->shared_from_this());
  return used;
}

std::optional<std::string> Sourcing::CopySubject(const Source& src, std::string_view subject) const {
  auto selected = Select(src, subject);
  if (!selected) return std::nullopt;
  // A sourced message is a publish into this stream, so the stream's own
  // subject transform applies too (as in nats-server 2.10).
  if (!mirror_ && stream_->input_transform_) {
    if (auto mapped = stream_->input_transform_->Apply(*selected)) return mapped;
  }
  return selected;
}

size_t Sourcing::StoreCopies(Source& src, std::vector<Copy>& copies, size_t budget, int64_t now, size_t* used,
                             bool* touched) {
  store::Store& to = stream_->store();
  uint64_t last = to.State().last_seq;
  for (size_t i = 0; i < copies.size(); ++i) {
    const store::StoredMsg& m = copies[i].msg;
    store::Result<uint64_t> r;
    if (mirror_) {
      // Deleted or filtered-out origin sequences become gaps, within the
      // pass's budget: a long run continues on the next pass.
      while (last + 1 < m.seq) {
        if (*used >= budget) return i;
        auto skip = stream_->StoreMsg({}, {}, {}, 0, /*skip=*/true);
        if (!skip.ok()) return i;
        last = skip.value;
        ++*used;
        *touched = true;
      }
      // Already held (a feed started again delivers from where it was).
      if (m.seq <= last) continue;
      uint64_t previous = stream_->RepublishPrevious(m.subject);
      r = stream_->StoreMsg(m.subject, m.hdr, m.data, m.ts, /*skip=*/false);
      if (r.ok()) {
        last = r.value;
        stream_->Republish(m.subject, m.hdr, m.data, r.value, previous);
        stream_->TrackTtl(r.value, m.ts, m.hdr);
      }
    } else {
      // A sourced message is a publish into this stream, as in
      // nats-server: a msg id already in the window is dropped, and a full
      // stream with discard new holds the copy back until there is room.
      std::string_view id = proto::GetHeader(m.hdr, "Nats-Msg-Id");
      if (!id.empty()) {
        stream_->ExpireMsgIds(now);
        if (stream_->FindMsgId(id) != 0) {
          ++*used;
          continue;
        }
      }
      // 2.12's form: the index name's fields around the origin sequence,
      // then the subject the message had there.
      std::string value = src.index_name;
      value.insert(src.cfg.name.size(), " " + std::to_string(m.seq));
      value += " " + copies[i].origin_subject;
      // Without any Nats-Stream-Source line it had: a message sourced
      // twice (A sources B which sources C) names only the stream it came
      // from last, so the resume scan finds the right position.
      std::string hdr = proto::AddHeaders(proto::RemoveHeader(m.hdr, kSourceHeader), {{kSourceHeader, value}});
      std::string_view data = m.data;
      std::string counter_body;
      if (stream_->cfg_.allow_msg_counter) {
        // Another counter's total: added as the change since its last copy.
        // What is no counter increment is skipped, as nats-server skips a
        // source message it cannot store.
        std::optional<ApiError> e;
        std::string_view incr = proto::GetHeader(m.hdr, kIncrHeader);
        if (incr.empty()) {
          e = MakeError(Err::MessageIncrMissing);
        } else if (!ParseBigInt(incr)) {
          e = MakeError(Err::MessageIncrInvalid);
        } else {
          Stream::CounterSource origin{src.cfg.name, copies[i].origin_subject, m.data};
          std::string counted;
          e = stream_->CountUp(m.subject, hdr, "0", &origin, &counted, &counter_body);
          hdr = std::move(counted);
          data = counter_body;
        }
        if (e) {
          log::Warn("JetStream stream '{}': skipping message {} from '{}': {}", stream_->name(), m.seq,
                    src.cfg.name, e->description);
          ++*used;
          continue;
        }
      }
      if (auto refused = stream_->DiscardNewRefusal(m.subject, hdr, data, to.State())) {
        if (!src.held_back) {
          log::Warn("JetStream stream '{}': holding back messages from '{}': {}", stream_->name(), src.cfg.name,
                    refused->description);
        }
        src.held_back = true;
        return i;
      }
      src.held_back = false;
      // Sourced messages are stored at arrival time, as nats-server does.
      uint64_t previous = stream_->RepublishPrevious(m.subject);
      r = stream_->StoreMsg(m.subject, hdr, data, now, /*skip=*/false);
      if (r.ok()) {
        stream_->Republish(m.subject, hdr, data, r.value, previous);
        stream_->TrackTtl(r.value, now, hdr);
      }
      if (r.ok() && !id.empty()) {
        stream_->RememberMsgId(id, r.value, now);
        stream_->last_msg_id_ = std::string(id);
      }
    }
    if (!r.ok()) {
      log::Error("JetStream {} '{}': storing a message from '{}': {}", mirror_ ? "mirror" : "source",
                 stream_->name(), src.cfg.name, r.status.msg);
      // Resumed at the message that failed on the next pass.
      return i;
    }
    ++*used;
    *touched = true;
    stream_->new_messages_ = true;
  }
  return copies.size();
}

size_t Sourcing::PumpRemote(Source& src, size_t budget, int64_t now) {
  JetStream* js = stream_->js();
  ClusterMeta* meta = js->meta();
  src.origin.reset();
  if (!meta) {
    // One server: the origin does not exist (yet).
    src.missing = true;
    return 0;
  }
  Feed& f = src.feed;
  size_t index = static_cast<size_t>(&src - sources_.data());
  if (f.id == 0 || (f.queue.empty() && now - f.heard > kFeedSilence)) {
    if (f.id) {
      log::Warn("JetStream {} '{}': nothing from '{}' for {} ms: reading it again from {}", mirror_ ? "mirror" : "source",
                stream_->name(), src.cfg.name, (now - f.heard) / 1'000'000, src.positioned ? src.next : 0);
      StopFeed(src);
    }
    if (now < f.retry_at) return 0;
    if (!meta->FindStream(js->account()->name(), src.cfg.name)) {
      src.missing = true;
      f.retry_at = now + kFeedRetry;
      return 0;
    }
    StartFeed(index, now);
    return 0;
  }
  if (f.queue.empty()) return 0;
  size_t used = 0;
  bool touched = false;
  std::vector<Copy> copies;
  while (!f.queue.empty() && copies.size() < budget) {
    copies.push_back(std::move(f.queue.front()));
    f.queue.pop_front();
  }
  size_t done = StoreCopies(src, copies, budget, now, &used, &touched);
  if (done > 0) {
    // A feed started again goes on from here.
    src.next = copies[done - 1].msg.seq + 1;
    src.positioned = true;
  }
  // What was not dealt with goes back, in order, for a later pass.
  for (size_t i = copies.size(); i > done; --i) f.queue.push_front(std::move(copies[i - 1]));
  if (f.queue.empty()) AnswerFlowControl(src);
  if (touched || done < copies.size()) js->TouchStream(stream_->shared_from_this());
  return std::max<size_t>(used, 1);
}

void Sourcing::StartFeed(size_t index, int64_t now) {
  Source& src = sources_[index];
  Feed& f = src.feed;
  JetStream* js = stream_->js();
  f.id = ++last_feed_id_;
  f.inbox = "$JS.S." + server::RandomToken(16);
  f.consumer = server::RandomToken(12);
  f.heard = now;
  f.next_dseq = 1;
  f.queue.clear();
  f.fc_reply.clear();
  std::weak_ptr<Stream> weak = stream_->shared_from_this();
  uint64_t id = f.id;
  // Propagated: the origin's server delivers over the route.
  f.sub = js->account()->SubscribeInternal(
      f.inbox + ".*",
      [weak, js, index, id](const server::InternalMsg& m) {
        js->Post([weak, index, id, subject = std::string(m.subject), reply = std::string(m.reply),
                  hdr = std::string(m.hdr), data = std::string(m.data)] {
          auto s = weak.lock();
          if (s && s->sourcing()) s->sourcing()->OnFeed(index, id, subject, reply, hdr, data);
        });
      },
      true);
  Json cfg;
  cfg["name"] = f.consumer;
  cfg["deliver_subject"] = f.inbox + ".D";
  cfg["ack_policy"] = "none";
  cfg["flow_control"] = true;
  cfg["idle_heartbeat"] = kFeedHeartbeat;
  // Removed on the origin when this server goes away without a word.
  cfg["inactive_threshold"] = kFeedInactive;
  cfg["mem_storage"] = true;
  cfg["num_replicas"] = 1;
  // Only what the origin has made durable, as the local path reads: a
  // copy here must never outlive its original.
  cfg["metadata"] = Json{{kDurableOnlyMetadata, "true"}};
  if (src.positioned) {
    cfg["deliver_policy"] = "by_start_sequence";
    cfg["opt_start_seq"] = src.next;
  } else if (src.cfg.opt_start_seq > 0) {
    cfg["deliver_policy"] = "by_start_sequence";
    cfg["opt_start_seq"] = src.cfg.opt_start_seq;
  } else if (src.cfg.opt_start_time != 0) {
    cfg["deliver_policy"] = "by_start_time";
    cfg["opt_start_time"] = FormatTime(src.cfg.opt_start_time);
  } else {
    cfg["deliver_policy"] = "all";
  }
  Json filters = Json::array();
  for (const auto& [filter, transform] : src.filters) filters.push_back(filter);
  if (filters.size() == 1) cfg["filter_subject"] = filters[0];
  else if (filters.size() > 1) cfg["filter_subjects"] = std::move(filters);
  Json req{{"stream_name", src.cfg.name}, {"config", std::move(cfg)}};
  js->Send("$JS.API.CONSUMER.CREATE." + src.cfg.name + "." + f.consumer, f.inbox + ".R", {}, req.dump());
}

void Sourcing::StopFeed(Source& src, bool remove) {
  Feed& f = src.feed;
  if (!f.id) return;
  JetStream* js = stream_->js();
  if (f.sub) js->account()->UnsubscribeInternal(f.sub);
  if (remove && !f.consumer.empty())
    js->Send("$JS.API.CONSUMER.DELETE." + src.cfg.name + "." + f.consumer, {}, {}, {});
  f.id = 0;
  f.sub.reset();
  f.consumer.clear();
  f.queue.clear();
  f.fc_reply.clear();
}

void Sourcing::AnswerFlowControl(Source& src) {
  Feed& f = src.feed;
  if (f.fc_reply.empty()) return;
  stream_->js()->Send(f.fc_reply, {}, {}, {});
  f.fc_reply.clear();
}

void Sourcing::Idle() {
  for (auto& src : sources_) StopFeed(src);
}

Sourcing::~Sourcing() {
  // Only the subscription: the consumer on the origin goes by itself once
  // idle (inactive_threshold); this may run as the server stops.
  for (auto& src : sources_)
    if (src.feed.sub) stream_->js()->account()->UnsubscribeInternal(src.feed.sub);
}

void Sourcing::OnFeed(size_t index, uint64_t id, std::string_view subject, std::string_view reply,
                      std::string_view hdr, std::string_view data) {
  if (index >= sources_.size()) return;
  Source& src = sources_[index];
  Feed& f = src.feed;
  if (f.id == 0 || f.id != id) return;  // an earlier feed's
  JetStream* js = stream_->js();
  int64_t now = NowNs();
  f.heard = now;
  src.last_active = now;
  const char* kind = mirror_ ? "mirror" : "source";
  if (subject.ends_with(".R")) {
    // The consumer create's answer.
    auto j = Json::parse(data, nullptr, false);
    if (j.is_object() && j.contains("error")) {
      std::string e = j["error"].value("description", std::string("refused"));
      if (e != f.error) log::Warn("JetStream {} '{}': cannot read '{}': {}", kind, stream_->name(), src.cfg.name, e);
      f.error = e;
      src.missing = j["error"].value("err_code", 0) == 10059;  // stream not found
      StopFeed(src, false);
      f.retry_at = now + kFeedRetry;
      return;
    }
    if (!f.error.empty()) log::Info("JetStream {} '{}': reading '{}' again", kind, stream_->name(), src.cfg.name);
    f.error.clear();
    src.missing = false;
    return;
  }
  bool status = hdr.starts_with("NATS/1.0 100");
  if (status) {
    if (!reply.empty()) {
      // Flow control: answered once what came before it is stored.
      f.fc_reply = std::string(reply);
      if (f.queue.empty()) AnswerFlowControl(src);
      return;
    }
    // A heartbeat says what the consumer delivered last; more than we got
    // means a delivery went missing.
    std::string_view last = proto::GetHeader(hdr, "Nats-Last-Consumer");
    uint64_t last_dseq = 0;
    std::from_chars(last.data(), last.data() + last.size(), last_dseq);
    if (last_dseq >= f.next_dseq) {
      log::Warn("JetStream {} '{}': deliveries from '{}' went missing: reading it again from {}", kind,
                stream_->name(), src.cfg.name, src.next);
      StopFeed(src);
      StartFeed(index, now);
      return;
    }
    if (std::string_view stalled = proto::GetHeader(hdr, "Nats-Consumer-Stalled"); !stalled.empty()) {
      f.fc_reply = std::string(stalled);
      if (f.queue.empty()) AnswerFlowControl(src);
    }
    return;
  }
  auto ack = proto::ParseJsAck(reply);
  if (!ack) return;
  uint64_t sseq = ack->stream_seq, dseq = ack->consumer_seq;
  if (dseq != f.next_dseq) {
    log::Warn("JetStream {} '{}': delivery {} from '{}' where {} was next: reading it again from {}", kind,
              stream_->name(), dseq, src.cfg.name, f.next_dseq, src.next);
    StopFeed(src);
    StartFeed(index, now);
    return;
  }
  ++f.next_dseq;
  f.pending = ack->pending;
  auto copy_subject = CopySubject(src, subject);
  if (!copy_subject) return;
  f.queue.push_back({{sseq, ack->ts, std::move(*copy_subject), WithoutBatchHeaders(hdr),
                      std::string(data)},
                     std::string(subject)});
  js->WakeSourcing();
}

void Sourcing::AddInfo(Json* info, int64_t now) const {
  auto one = [&](const Source& s) {
    Json j;
    j["name"] = s.cfg.name;
    // Counted when asked for, not after every pass: a filtered count walks
    // the origin's subject index.
    auto origin = s.origin.lock();
    uint64_t lag = 0;
    if (s.feed.id) lag = s.feed.pending + s.feed.queue.size();
    if (!s.missing && origin && s.positioned) {
      if (s.filters.empty()) lag = origin->store().NumPending("", s.next);
      // The filters do not overlap (CheckStreamConfig).
      for (const auto& f : s.filters) lag += origin->store().NumPending(f.first, s.next);
    }
    j["lag"] = lag;
    j["active"] = s.missing || s.last_active == 0 ? int64_t(-1) : now - s.last_active;
    if (s.missing) j["error"] = MakeError(Err::StreamNotFound).ToJson();
    // 2.10 names what the source takes.
    if (!s.cfg.filter_subject.empty()) j["filter_subject"] = s.cfg.filter_subject;
    for (const auto& t : s.cfg.subject_transforms) j["subject_transforms"].push_back(ToJson(t));
    return j;
  };
  if (mirror_) {
    (*info)["mirror"] = one(sources_[0]);
    return;
  }
  Json arr = Json::array();
  for (const auto& s : sources_) arr.push_back(one(s));
  (*info)["sources"] = std::move(arr);
}

bool PumpSources(JetStream* js, size_t budget) {
  int64_t now = NowNs();
  size_t left = budget;
  // A few passes, so a chain (a mirror of a mirror) moves along in one turn.
  for (int pass = 0; pass < 4 && left > 0; ++pass) {
    size_t before = left;
    for (auto& [name, s] : js->streams()) {
      // A replicated stream copies on its leader, into its group.
      if (!s->sourcing()) continue;
      if (!s->Serving()) {
        s->sourcing()->Idle();
        continue;
      }
      size_t used = s->sourcing()->Pump(left, now);
      left -= std::min(used, left);
      if (left == 0) break;
    }
    if (left == before) break;
  }
  return left == 0;
}

}  // namespace fjord::jetstream
