#include "jetstream/consumer.h"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <asio.hpp>
#include <deque>
#include <map>
#include <cstdlib>
#include <random>
#include <set>
#include <vector>

#include "base/log.h"
#include "jetstream/advisory.h"
#include "jetstream/cluster.h"
#include "jetstream/consumer_config.h"
#include "jetstream/consumer_deliver.h"
#include "proto/headers.h"
#include "jetstream/jetstream.h"
#include "jetstream/stream.h"
#include "store/consumer_state.h"
#include "store/subject.h"

namespace fjord::jetstream {
namespace {

constexpr uint64_t kFcInitialWindow = 2 * 1024 * 1024;
constexpr uint64_t kFcMaxWindow = 32 * 1024 * 1024;

// One queued `CONSUMER.MSG.NEXT` request.
struct PullRequest {
  std::string reply;
  int64_t batch = 1;      // messages still wanted
  int64_t max_bytes = 0;  // 0 = unlimited
  int64_t bytes_left = 0;
  bool no_wait = false;
  // no_wait with an expiry (2.9.10): wait for a first message until it
  // expires instead of answering 404 at once, then end like no_wait.
  bool wait_first = false;
  int64_t expires = 0;  // unix ns; 0 = never
  int64_t hb = 0;       // idle heartbeat interval
  int64_t hb_next = 0;
  int64_t delivered = 0;
  // Priority groups (2.11): the group asked for, overflow's thresholds, and
  // the pin id the requester holds (set when it is pinned).
  std::string group;
  int64_t min_pending = 0;
  int64_t min_ack_pending = 0;
  std::string id;
  // prioritized (2.12): 0 is served first. A request with a plain body
  // names none and comes after every JSON one, as in nats-server (which
  // ranks it at MaxInt32).
  int64_t priority = 0;
};

constexpr int64_t kPlainRequestPriority = INT32_MAX;

// Splits an ack subject into at most 12 tokens without allocating (an ack
// is parsed for every message); `n` is the count, 13 when there are more.
struct AckTokens {
  std::array<std::string_view, 12> t;
  size_t n = 0;
  size_t size() const { return n; }
  std::string_view operator[](size_t i) const { return t[i]; }
};

AckTokens Tokens(std::string_view s) {
  AckTokens out;
  size_t start = 0;
  for (;;) {
    size_t dot = s.find('.', start);
    if (out.n == out.t.size()) {
      ++out.n;
      return out;
    }
    out.t[out.n++] = s.substr(start, dot == std::string_view::npos ? std::string_view::npos : dot - start);
    if (dot == std::string_view::npos) return out;
    start = dot + 1;
  }
}

bool ParseU64(std::string_view s, uint64_t* out) {
  if (s.empty()) return false;
  uint64_t v = 0;
  for (char ch : s) {
    if (ch < '0' || ch > '9') return false;
    v = v * 10 + uint64_t(ch - '0');
  }
  *out = v;
  return true;
}

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t' || s.front() == '\r' || s.front() == '\n'))
    s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r' || s.back() == '\n'))
    s.remove_suffix(1);
  return s;
}

uint64_t MsgSize(const store::StoredMsg& m) { return m.subject.size() + m.hdr.size() + m.data.size(); }

}  // namespace

struct Consumer::Impl {
  Consumer* self = nullptr;
  Stream* stream = nullptr;
  JetStream* js = nullptr;
  std::string name;
  ConsumerConfig cfg;
  int64_t created = 0;
  std::unique_ptr<store::ConsumerStore> cs;

  // Delivery cursor and ack state.
  uint64_t sseq = 1;  // next stream sequence to consider
  uint64_t dseq = 0;  // last consumer sequence issued
  uint64_t adflr = 0, asflr = 0;
  struct Pending {
    uint64_t dseq = 0;
    int64_t ts = 0;        // last delivery
    int64_t deadline = 0;  // redelivery due; 0 = never (max_deliver reached)
  };
  std::map<uint64_t, Pending> pending;  // by stream seq
  std::map<uint64_t, uint64_t> rdc;     // delivery count when > 1
  std::set<uint64_t> rdq;               // due for redelivery
  std::set<std::pair<int64_t, uint64_t>> timers;  // (deadline, stream seq)
  std::vector<uint64_t> lps;            // last_per_subject start sequences
  size_t lps_pos = 0;

  // Cached num_pending; recomputed from the store's index when invalid.
  uint64_t npending = 0;
  bool npending_valid = false;
  uint64_t npending_msgs = 0, npending_first = 0, npending_last = 0;  // the stream it was counted on
  bool ticking = false;  // in the stream's list of consumers it ticks (Stream::WantTicks)

  // Pull.
  std::deque<PullRequest> waiting;
  // Push.
  bool push_active = false;
  int64_t last_msg = 0;  // last delivery or heartbeat, for idle heartbeats
  std::string fc_reply;  // outstanding flow-control request
  uint64_t fc_bytes = 0;
  uint64_t fc_window = kFcInitialWindow;
  server::SubPtr fc_sub;

  int64_t last_active = 0;
  // replay_policy original: stream time and wall time of the last new
  // message delivered.
  int64_t replay_msg_ts = 0;
  int64_t replay_wall = 0;
  // rate_limit_bps: bytes sent since rate_epoch.
  int64_t rate_epoch = 0;
  uint64_t rate_bytes = 0;
  bool closed = false;
  std::unique_ptr<asio::steady_timer> timer;
  int64_t timer_at = 0;
  bool changed = false;  // state changed since JetStream last flushed it
  // pinned_client: the requester served now (its pin id, empty when none),
  // since when, and when the pin lapses unless it asks again. Held in
  // memory only, as nats-server does: a restart pins anew.
  std::string pin_id;
  int64_t pinned_ts = 0;
  int64_t pin_deadline = 0;
  // A pause set through an update whose end is still to be announced.
  bool pause_end_pending = false;

  Impl() = default;

  // The consumer store, for a change of state. The change is told state:
  // JetStream hands it to the OS at the end of the batch (FlushState), before
  // the batch's deliveries reach a socket, whether or not anyone waits.
  store::ConsumerStore& Change() {
    if (!changed) {
      changed = true;
      js->NoteConsumerChanged(self->shared_from_this());
    }
    return *cs;
  }

  std::shared_ptr<Stream> StreamPtr() { return stream->shared_from_this(); }
  bool Paused(int64_t now) const { return cfg.pause_until > now; }
  bool AckNone() const { return cfg.ack_policy == AckPolicy::kNone; }

  bool Matches(std::string_view subject) const {
    if (!cfg.filter_subjects.empty()) {
      for (const auto& f : cfg.filter_subjects)
        if (store::SubjectMatches(f, subject)) return true;
      return false;
    }
    return cfg.filter_subject.empty() || store::SubjectMatches(cfg.filter_subject, subject);
  }

  std::vector<std::string> FilterList() const {
    auto f = cfg.Filters();
    if (f.empty()) f.push_back("");
    return f;
  }

  // -- positions ----------------------------------------------------------

  uint64_t FirstAtOrAfterTime(int64_t t) {
    auto st = stream->store().State();
    if (st.msgs == 0) return st.last_seq + 1;
    uint64_t lo = st.first_seq, hi = st.last_seq + 1;
    while (lo < hi) {
      uint64_t mid = lo + (hi - lo) / 2;
      auto m = stream->store().LoadNext("", mid);
      if (!m.ok()) {
        hi = mid;
        continue;
      }
      if (m.value.ts >= t) {
        hi = mid;
      } else {
        lo = m.value.seq + 1;
      }
    }
    return lo;
  }

  // Sets the starting position of a new consumer from its deliver policy.
  void SelectStart() {
    auto st = stream->store().State();
    uint64_t first = st.first_seq ? st.first_seq : 1;
    switch (cfg.deliver_policy) {
      case DeliverPolicy::kAll:
        sseq = first;
        break;
      case DeliverPolicy::kNew:
        sseq = st.last_seq + 1;
        break;
      case DeliverPolicy::kLast: {
        uint64_t last = 0;
        for (const auto& f : FilterList()) {
          auto m = stream->store().LoadLast(f.empty() ? ">" : f);
          if (m.ok()) last = std::max(last, m.value.seq);
        }
        sseq = last ? last : st.last_seq + 1;
        break;
      }
      case DeliverPolicy::kByStartSequence:
        sseq = std::max<uint64_t>(cfg.opt_start_seq, 1);
        break;
      case DeliverPolicy::kByStartTime:
        sseq = FirstAtOrAfterTime(cfg.opt_start_time);
        break;
      case DeliverPolicy::kLastPerSubject: {
        for (const auto& f : FilterList())
          for (const auto& [subj, info] : stream->store().Subjects(f.empty() ? ">" : f)) lps.push_back(info.last);
        std::sort(lps.begin(), lps.end());
        sseq = lps.empty() ? st.last_seq + 1 : lps.front();
        break;
      }
    }
    if (sseq < first && cfg.deliver_policy != DeliverPolicy::kNew) sseq = first;
    asflr = sseq - 1;
  }

  uint64_t NumPending() {
    // Valid while the stream holds the same messages: appends, deletes,
    // purges and limits all change this key, so nothing has to say so.
    auto st = stream->store().State();
    if (npending_valid && st.msgs == npending_msgs && st.first_seq == npending_first &&
        st.last_seq == npending_last)
      return npending;
    npending_msgs = st.msgs;
    npending_first = st.first_seq;
    npending_last = st.last_seq;
    uint64_t n = 0;
    uint64_t from = sseq;
    if (lps_pos < lps.size()) {
      for (size_t i = lps_pos; i < lps.size(); ++i)
        if (lps[i] >= sseq) ++n;
      from = std::max(from, lps.back() + 1);
    }
    for (const auto& f : FilterList()) n += stream->store().NumPending(f, from);
    npending = n;
    npending_valid = true;
    return n;
  }

  // -- next message -------------------------------------------------------

  enum class Source { kNone, kRedelivery, kLastPerSubject, kNew };
  struct Next {
    Source src = Source::kNone;
    store::StoredMsg msg;
    uint64_t dc = 1;
  };

  bool MaxAckPendingReached() const {
    return !AckNone() && cfg.max_ack_pending > 0 && int64_t(pending.size()) >= cfg.max_ack_pending;
  }

  // The next message to deliver, without consuming it (Commit does).
  bool DurableOnly() const {
    auto it = cfg.metadata.find(kDurableOnlyMetadata);
    return it != cfg.metadata.end() && it->second == "true";
  }
  // The last stream sequence it may deliver: a replicated stream's tail
  // above its commit may still be replaced (committed is durable on a
  // quorum); a durable-only consumer of a stream of one replica waits for
  // its sync too (Stream::NoteDurable signals it).
  uint64_t ReadLimit() const {
    if (DurableOnly() && !stream->replicated()) return stream->durable_last_seq();
    return stream->ReadLimit();
  }

  Next Peek() {
    Next n;
    while (!rdq.empty()) {
      uint64_t seq = *rdq.begin();
      if (!pending.count(seq)) {
        rdq.erase(rdq.begin());
        continue;
      }
      auto m = stream->store().Load(seq);
      if (!m.ok()) {
        // Held but unreadable: wait for its repair or the next leader.
        if (store::Unreadable(m.status) && !stream->SkipUnreadable(seq, m.status)) return n;
        // Gone from the stream (limits, purge): nothing left to redeliver,
        // so it no longer holds the ack floor back.
        AckOne(seq);
        UpdateAckFloor();
        continue;
      }
      n.src = Source::kRedelivery;
      n.msg = std::move(m.value);
      auto it = rdc.find(seq);
      n.dc = (it == rdc.end() ? 1 : it->second) + 1;
      return n;
    }
    if (MaxAckPendingReached()) return n;
    while (lps_pos < lps.size()) {
      uint64_t seq = lps[lps_pos];
      if (seq > ReadLimit()) return n;
      if (seq < sseq) {
        ++lps_pos;
        continue;
      }
      auto m = stream->store().Load(seq);
      if (!m.ok()) {
        if (store::Unreadable(m.status) && !stream->SkipUnreadable(seq, m.status)) return n;
        ++lps_pos;
        continue;
      }
      n.src = Source::kLastPerSubject;
      n.msg = std::move(m.value);
      return n;
    }
    if (!lps.empty()) {
      // Done with the last-per-subject set: continue after it.
      sseq = std::max(sseq, lps.back() + 1);
      lps.clear();
      lps_pos = 0;
    }
    for (;;) {
      store::StoredMsg best;
      bool found = false;
      uint64_t bad = 0;  // the first message held but unreadable, if before `best`
      store::Status bad_st;
      // A replicated stream's tail above its commit may still be replaced.
      const uint64_t limit = ReadLimit();
      for (const auto& f : FilterList()) {
        auto m = stream->store().LoadNext(f, sseq);
        if (m.ok()) {
          if (m.value.seq <= limit && (!found || m.value.seq < best.seq)) {
            best = std::move(m.value);
            found = true;
          }
        } else if (store::Unreadable(m.status)) {
          if (m.value.seq == 0) return n;  // not known which: wait
          if (m.value.seq <= limit && (!bad || m.value.seq < bad)) {
            bad = m.value.seq;
            bad_st = m.status;
          }
        }
      }
      if (bad && (!found || bad < best.seq)) {
        // Never moved past as if the stream ended there (that would skip
        // every later message): skipped alone, or waited for.
        if (!stream->SkipUnreadable(bad, bad_st)) return n;
        sseq = bad + 1;
        if (npending_valid && npending) --npending;
        continue;
      }
      if (!found) {
        // Move past what is stored so delivered.stream_seq reflects it.
        uint64_t last = std::min(stream->store().State().last_seq, limit);
        if (last + 1 > sseq) sseq = last + 1;
        return n;
      }
      n.src = Source::kNew;
      n.msg = std::move(best);
      return n;
    }
  }

  void Commit(const Next& n) {
    switch (n.src) {
      case Source::kRedelivery:
        rdq.erase(n.msg.seq);
        break;
      case Source::kLastPerSubject:
        ++lps_pos;
        sseq = n.msg.seq + 1;
        if (npending_valid && npending) --npending;
        break;
      case Source::kNew:
        sseq = n.msg.seq + 1;
        // Skipped non-matching messages never counted as pending.
        if (npending_valid && npending) --npending;
        break;
      case Source::kNone:
        break;
    }
  }

  int64_t AckWaitFor(uint64_t dc) const {
    if (!cfg.backoff.empty()) {
      size_t i = std::min<size_t>(dc ? dc - 1 : 0, cfg.backoff.size() - 1);
      return cfg.backoff[i];
    }
    return cfg.ack_wait > 0 ? cfg.ack_wait : kDefaultAckWait;
  }

  void SetDeadline(uint64_t seq, Pending& p, int64_t deadline) {
    if (p.deadline) timers.erase({p.deadline, seq});
    p.deadline = deadline;
    if (deadline) {
      timers.insert({deadline, seq});
      ArmTimer(deadline);
    }
  }

  void DropPending(uint64_t seq) {
    auto it = pending.find(seq);
    if (it == pending.end()) return;
    if (it->second.deadline) timers.erase({it->second.deadline, seq});
    pending.erase(it);
    rdc.erase(seq);
    rdq.erase(seq);
  }

  // Sends one message to `target` and records the delivery.
  void Deliver(const Next& n, const std::string& target, int64_t now, std::string_view pin = {}) {
    Commit(n);
    const auto& m = n.msg;
    ++dseq;
    if (AckNone()) {
      adflr = dseq;
      asflr = std::max(asflr, m.seq);
    } else {
      auto& p = pending[m.seq];
      p.dseq = dseq;
      p.ts = now;
      if (n.dc > 1) rdc[m.seq] = n.dc;
      SetDeadline(m.seq, p, now + AckWaitFor(n.dc));
    }
    Change().UpdateDelivered(dseq, m.seq, n.dc, now);
    if (AckNone()) Change().UpdateAcks(dseq, m.seq);
    std::string reply = fmt::format("$JS.ACK.{}.{}.{}.{}.{}.{}.{}", stream->name(), name, n.dc, m.seq, dseq,
                                    m.ts, NumPending());
    if (cfg.headers_only || !pin.empty()) {
      std::string hdr = m.hdr;
      if (cfg.headers_only) hdr = proto::AddHeaders(hdr, {{"Nats-Msg-Size", std::to_string(m.data.size())}});
      if (!pin.empty()) hdr = proto::AddHeaders(hdr, {{"Nats-Pin-Id", pin}});
      DeliverAs(js->account(), target, m.subject, reply, hdr, cfg.headers_only ? std::string_view() : m.data);
    } else {
      DeliverAs(js->account(), target, m.subject, reply, m.hdr, m.data);
    }
    last_msg = now;
    if (AckNone() && stream->config().retention != Retention::kLimits) {
      stream->OnConsumerAck(m.seq);
      js->TouchStream(StreamPtr());
    }
  }

  // -- delivery loops -----------------------------------------------------

  void TryDeliver() {
    if (closed) return;
    WantTicks();
    int64_t now = NowNs();
    if (cfg.is_pull()) {
      DeliverPull(now);
    } else {
      DeliverPush(now);
    }
  }

  void SendStatus(const std::string& to, int code, std::string_view text, std::string_view extra = {}) {
    js->Send(to, "", proto::StatusHeader(code, text, extra), "");
  }

  std::string PendingHeaders(const PullRequest& r) const {
    return fmt::format("Nats-Pending-Messages: {}\r\nNats-Pending-Bytes: {}\r\n", r.batch,
                       r.max_bytes ? r.bytes_left : 0);
  }

  // A delivery's size against a pull's max_bytes, counted as 2.9.10 counts
  // it: subject, ack reply, headers and data.
  int64_t PullSize(const Next& n) {
    uint64_t pending = NumPending();
    // The reply carries the count after this delivery is committed.
    if (n.src != Source::kRedelivery && pending > 0) --pending;
    size_t reply = fmt::formatted_size("$JS.ACK.{}.{}.{}.{}.{}.{}.{}", stream->name(), name, n.dc, n.msg.seq,
                                       dseq + 1, n.msg.ts, pending);
    return int64_t(n.msg.subject.size() + reply + n.msg.hdr.size() + n.msg.data.size());
  }

  // Priority groups: whether request `r` may take message `n` now. A
  // pinned_client consumer pins the first requester without an id when no
  // one is pinned; a requester holding a stale id is told (423) and
  // dropped (`*drop`); others wait their turn.
  bool Eligible(PullRequest& r, const Next& n, int64_t now, bool* drop) {
    *drop = false;
    switch (cfg.priority_policy) {
      case PriorityPolicy::kNone:
      case PriorityPolicy::kPrioritized:  // the order of `waiting` decides
        return true;
      case PriorityPolicy::kOverflow: {
        if (r.min_pending <= 0 && r.min_ack_pending <= 0) return true;
        // The backlog counting this message, and the unacknowledged
        // before it; either threshold met is enough (2.12's fix of 2.11's
        // inverted check, which wanted both).
        uint64_t backlog = NumPending() + (n.src == Source::kRedelivery ? 1 : 0);
        return (r.min_pending > 0 && backlog >= uint64_t(r.min_pending)) ||
               (r.min_ack_pending > 0 && pending.size() >= uint64_t(r.min_ack_pending));
      }
      case PriorityPolicy::kPinnedClient:
        if (pin_id.empty() && r.id.empty()) {
          pin_id = r.id = RandomToken(22);
          pinned_ts = now;
          pin_deadline = now + cfg.priority_timeout;
          ArmTimer(pin_deadline);
          SendAdvisory("PINNED", "io.nats.jetstream.advisory.v1.consumer_group_pinned",
                       {{"group", r.group}, {"pinned_id", pin_id}});
          return true;
        }
        if (!r.id.empty() && r.id == pin_id) return true;
        if (!r.id.empty()) {
          SendStatus(r.reply, 423, "Nats-Wrong-Pin-Id");
          *drop = true;
        }
        return false;
    }
    return true;
  }

  // prioritized: behind every waiting request of the same or a lower
  // priority number, ahead of the rest.
  void QueuePrioritized(PullRequest r) {
    auto pos = std::upper_bound(waiting.begin(), waiting.end(), r.priority,
                                [](int64_t p, const PullRequest& w) { return p < w.priority; });
    waiting.insert(pos, std::move(r));
  }

  bool HasGroup(const std::string& group) const {
    return std::find(cfg.priority_groups.begin(), cfg.priority_groups.end(), group) != cfg.priority_groups.end();
  }

  // pinned_client: a pin not renewed by a pull request within
  // priority_timeout lapses; the next requester is pinned.
  void ExpirePin(int64_t now) {
    if (pin_id.empty() || now < pin_deadline) return;
    Unpin(cfg.priority_groups.empty() ? std::string() : cfg.priority_groups.front(), "timeout");
  }

  // On the consumer's timer: a pin lapses (and its UNPINNED advisory
  // leaves) at its deadline even when no request comes to notice it.
  void CheckPinExpiry(int64_t now) {
    if (pin_id.empty()) return;
    ExpirePin(now);
    if (!pin_id.empty()) ArmTimer(pin_deadline);  // renewed meanwhile, or an earlier timer fired
  }

  void Unpin(const std::string& group, const char* reason) {
    pin_id.clear();
    SendAdvisory("UNPINNED", "io.nats.jetstream.advisory.v1.consumer_group_unpinned",
                 {{"group", group}, {"reason", reason}});
  }

  void DeliverPull(int64_t now) {
    bool paused = Paused(now);
    ExpirePin(now);
    while (!waiting.empty()) {
      Next n;
      if (!paused) n = Peek();
      if (n.src == Source::kNone || ReplayWait(n, now)) break;
      // The first waiting request that may take it (the front one when the
      // consumer has no priority policy).
      auto it = waiting.begin();
      while (it != waiting.end()) {
        bool drop = false;
        if (!HasInterest(js->account(), it->reply)) {
          drop = true;
        } else if (Eligible(*it, n, now, &drop)) {
          break;
        }
        it = drop ? waiting.erase(it) : std::next(it);
      }
      if (it == waiting.end()) break;
      PullRequest& r = *it;
      int64_t size = r.max_bytes ? PullSize(n) : 0;
      if (r.max_bytes && size > r.bytes_left) {
        SendStatus(r.reply, 409, "Message Size Exceeds MaxBytes", PendingHeaders(r));
        waiting.erase(it);
        continue;
      }
      std::string reply = r.reply;
      std::string pin = cfg.priority_policy == PriorityPolicy::kPinnedClient ? pin_id : std::string();
      --r.batch;
      ++r.delivered;
      if (r.max_bytes) r.bytes_left -= size;
      r.hb_next = r.hb ? now + r.hb : 0;
      bool done = r.batch <= 0 || (r.max_bytes && r.bytes_left <= 0);
      // 2.10: a request whose count is reached with bytes to spare is told
      // so after its last message.
      std::string completed = r.batch <= 0 && r.max_bytes && r.bytes_left > 0 ? PendingHeaders(r) : std::string();
      if (done) {
        waiting.erase(it);
      } else if (cfg.priority_policy == PriorityPolicy::kPrioritized) {
        // Round robin among requests of the same priority: one message,
        // then to the back of its priority (nats-server's popAndRequeue).
        PullRequest moved = std::move(r);
        waiting.erase(it);
        QueuePrioritized(std::move(moved));
      }
      Deliver(n, reply, now, pin);
      if (!completed.empty()) SendStatus(reply, 409, "Batch Completed", completed);
    }
    // no_wait requests end once nothing more can be delivered: 404, as
    // from 2.11, whether or not some messages went out (2.9 and 2.10 ended
    // a partly filled one with 408 and its pending counts).
    for (auto it = waiting.begin(); it != waiting.end();) {
      if (!it->no_wait || (it->wait_first && it->delivered == 0)) {
        ++it;
        continue;
      }
      SendStatus(it->reply, 404, "No Messages");
      it = waiting.erase(it);
    }
  }

  void DeliverPush(int64_t now) {
    if (Paused(now)) return;
    if (!UpdatePushInterest(now)) return;
    while (fc_reply.empty() && !RateLimited(now)) {
      Next n = Peek();
      if (n.src == Source::kNone || ReplayWait(n, now)) break;
      uint64_t size = MsgSize(n.msg);
      rate_bytes += size;
      Deliver(n, cfg.deliver_subject, now);
      if (cfg.flow_control) {
        fc_bytes += size;
        if (fc_bytes >= fc_window / 2) SendFlowControl();
      }
    }
  }

  // replay_policy original: true while `n` must wait to keep the original
  // spacing of the messages; a timer resumes delivery.
  bool ReplayWait(const Next& n, int64_t now) {
    if (cfg.replay_policy != ReplayPolicy::kOriginal || n.src == Source::kRedelivery) return false;
    if (replay_msg_ts != 0 && n.msg.ts > replay_msg_ts) {
      int64_t due = replay_wall + (n.msg.ts - replay_msg_ts);
      if (now < due) {
        ArmTimer(due);
        return true;
      }
    }
    replay_msg_ts = n.msg.ts;
    replay_wall = now;
    return false;
  }

  // Approximate rate_limit_bps: the average since the last idle moment
  // stays under the limit; the tick resumes delivery.
  bool RateLimited(int64_t now) {
    if (cfg.rate_limit_bps == 0) return false;
    if (rate_epoch == 0 || rate_bytes == 0) {
      rate_epoch = now;
      rate_bytes = 0;
      return false;
    }
    double allowed = double(now - rate_epoch) / 1e9 * double(cfg.rate_limit_bps) / 8.0;
    if (double(rate_bytes) <= allowed) {
      // Keep the window short so an idle period does not bank a burst.
      if (now - rate_epoch > 1'000'000'000) {
        rate_epoch = now;
        rate_bytes = 0;
      }
      return false;
    }
    return true;
  }

  // Checks for a subscriber on the deliver subject. The idle interval starts
  // when one appears.
  bool UpdatePushInterest(int64_t now) {
    bool was = push_active;
    push_active = HasInterest(js->account(), cfg.deliver_subject);
    WantTicks();
    if (push_active && !was) {
      last_msg = now;
      // A new subscriber never saw an outstanding flow-control request.
      fc_reply.clear();
      fc_bytes = 0;
    }
    return push_active;
  }

  void SendFlowControl() {
    fc_reply = fmt::format("$JS.FC.{}.{}.{}", stream->name(), name, RandomToken(4));
    DeliverAs(js->account(), cfg.deliver_subject, cfg.deliver_subject, fc_reply,
              proto::StatusHeader(100, "FlowControl Request"), {});
  }

  void OnFlowControlReply(std::string_view subject) {
    if (closed || fc_reply.empty() || subject != fc_reply) return;
    fc_reply.clear();
    fc_bytes = 0;
    fc_window = std::min(fc_window * 2, kFcMaxWindow);
    TryDeliver();
  }

  void SendHeartbeat(const std::string& to, int64_t now) {
    std::string extra = fmt::format("Nats-Last-Consumer: {}\r\nNats-Last-Stream: {}\r\n", dseq, sseq - 1);
    if (!fc_reply.empty()) extra += "Nats-Consumer-Stalled: " + fc_reply + "\r\n";
    js->Send(to, "", proto::StatusHeader(100, "Idle Heartbeat", extra), "");
    last_msg = now;
  }

  // -- timers -------------------------------------------------------------

  // Redeliveries (ack_wait, nak delay) want better precision than the
  // stream tick; one timer is kept armed for the earliest deadline.
  void ArmTimer(int64_t at) {
    if (closed) return;
    if (timer_at && timer_at <= at) return;
    if (!timer) timer = std::make_unique<asio::steady_timer>(js->ctx());
    timer_at = at;
    int64_t delay = std::max<int64_t>(at - NowNs(), 0);
    timer->expires_after(std::chrono::nanoseconds(delay));
    std::weak_ptr<Consumer> weak = self->weak_from_this();
    timer->async_wait([weak](const asio::error_code& ec) {
      if (ec) return;
      auto c = weak.lock();
      if (!c) return;
      // Redeliveries leave as one batch; their records are written when it ends.
      JetStream::WorkScope work(c->impl_->js);
      c->impl_->timer_at = 0;
      c->impl_->ProcessTimers(NowNs());
      c->impl_->CheckPauseEnd(NowNs());
      c->impl_->CheckPinExpiry(NowNs());
      c->impl_->TryDeliver();
    });
  }

  // 2.11's `$JS.EVENT.ADVISORY.CONSUMER.PAUSE.<S>.<C>`: sent when a pause is
  // set, changed or lifted, and when it runs out (on the consumer's timer).
  void SendPauseAdvisory(int64_t now) {
    Json fields = {{"paused", Paused(now)}};
    if (cfg.pause_until) fields["pause_until"] = FormatTime(cfg.pause_until);
    SendAdvisory("PAUSE", "io.nats.jetstream.advisory.v1.consumer_pause", fields);
  }

  void OnPauseChanged(int64_t now) {
    SendPauseAdvisory(now);
    pause_end_pending = Paused(now);
    if (pause_end_pending) ArmTimer(cfg.pause_until);
  }

  void CheckPauseEnd(int64_t now) {
    if (!pause_end_pending) return;
    if (Paused(now)) {
      ArmTimer(cfg.pause_until);  // an earlier redelivery took the timer
      return;
    }
    pause_end_pending = false;
    SendPauseAdvisory(now);
  }

  void ProcessTimers(int64_t now) {
    while (!timers.empty() && timers.begin()->first <= now) {
      uint64_t seq = timers.begin()->second;
      timers.erase(timers.begin());
      auto it = pending.find(seq);
      if (it == pending.end()) continue;
      it->second.deadline = 0;
      auto dc = rdc.find(seq);
      uint64_t count = dc == rdc.end() ? 1 : dc->second;
      if (cfg.max_deliver > 0 && int64_t(count) >= cfg.max_deliver) {
        SendAdvisory("MAX_DELIVERIES", "io.nats.jetstream.advisory.v1.max_deliver",
                     {{"stream_seq", seq}, {"deliveries", count}});
        continue;
      }
      rdq.insert(seq);
    }
    if (!timers.empty()) ArmTimer(timers.begin()->first);
  }

  void SendAdvisory(const char* kind, const char* type, Json fields) {
    fields["stream"] = stream->name();
    fields["consumer"] = name;
    PublishEvent(js, fmt::format("$JS.EVENT.ADVISORY.CONSUMER.{}.{}.{}", kind, stream->name(), name), type,
                 fields);
  }

  // `sample_freq` ("30" or "30%"): that share of acks is reported on
  // `$JS.EVENT.METRIC.CONSUMER.ACK.<stream>.<consumer>`, with the time from
  // delivery to ack, as nats-server does.
  void SampleAck(uint64_t seq, int64_t now) {
    if (cfg.sample_freq.empty()) return;
    auto it = pending.find(seq);
    if (it == pending.end()) return;
    int pct = std::atoi(cfg.sample_freq.c_str());
    if (pct <= 0) return;
    thread_local std::mt19937 rng{std::random_device{}()};
    if (pct < 100 && int(rng() % 100) >= pct) return;
    auto dcit = rdc.find(seq);
    uint64_t count = dcit == rdc.end() ? 1 : dcit->second;
    Json fields = {{"stream", stream->name()},
                   {"consumer", name},
                   {"consumer_seq", it->second.dseq},
                   {"stream_seq", seq},
                   {"ack_time", std::max<int64_t>(0, now - it->second.ts)},
                   {"deliveries", count}};
    if (!js->options().domain.empty()) fields["domain"] = js->options().domain;
    PublishEvent(js, fmt::format("$JS.EVENT.METRIC.CONSUMER.ACK.{}.{}", stream->name(), name),
                 "io.nats.jetstream.metric.v1.consumer_ack", fields);
  }

  // -- acks ---------------------------------------------------------------

  void UpdateAckFloor() {
    if (pending.empty()) {
      adflr = dseq;
      asflr = std::max(asflr, sseq - 1);
      return;
    }
    // Same rule as the consumer store (store::ApplyAck), so the floors shown
    // before and after a restart agree.
    uint64_t low_seq = pending.begin()->first;
    if (low_seq - 1 <= asflr) return;
    asflr = low_seq - 1;
    uint64_t low_dseq = store::LowestPendingDseq(pending, rdc, [](const Pending& p) { return p.dseq; });
    if (low_dseq > 0 && low_dseq - 1 > adflr) adflr = low_dseq - 1;
  }

  // Acks one stream sequence; true if it was pending.
  bool AckOne(uint64_t seq) {
    auto it = pending.find(seq);
    if (it == pending.end()) return false;
    uint64_t d = it->second.dseq;
    DropPending(seq);
    Change().UpdateAcks(d, seq);
    return true;
  }

  void AfterAck(const std::vector<uint64_t>& acked) {
    UpdateAckFloor();
    for (uint64_t seq : acked) stream->OnConsumerAck(seq);
    js->TouchStream(StreamPtr());
  }

  // Answers an ack-with-reply (the client's confirmation) once the ack is
  // durable. An ack that changed nothing is confirmed only for a message
  // behind the consumer's position (acked before). One at or beyond it was
  // delivered by an earlier run of the server whose delivery record did not
  // survive a crash: the ack cannot be applied, so it is not confirmed (the
  // client's ack times out) and the message is delivered again.
  void ConfirmAck(const std::string& reply, uint64_t seq, bool nothing_changed) {
    if (nothing_changed && seq >= sseq) return;
    JetStream* j = js;
    std::string r = reply;
    js->SendAfterSync(StreamPtr(), [j, r] { j->Send(r, "", "", ""); }, self->shared_from_this());
  }

  void ProcessAck(std::string_view subject, std::string_view payload, const std::string& reply) {
    auto t = Tokens(subject);
    uint64_t dc = 0, seq = 0, d = 0;
    bool ok;
    if (t.size() == 9) {
      ok = ParseU64(t[4], &dc) && ParseU64(t[5], &seq) && ParseU64(t[6], &d);
    } else if (t.size() >= 11) {
      ok = ParseU64(t[6], &dc) && ParseU64(t[7], &seq) && ParseU64(t[8], &d);
    } else {
      ok = false;
    }
    if (!ok) return;
    int64_t now = NowNs();
    last_active = now;
    std::string_view body = Trim(payload);
    // A confirmed NAK or +WPI, like a confirmed ack, is answered once durable.
    auto confirm_now = [&] {
      if (reply.empty()) return;
      JetStream* j = js;
      std::string r = reply;
      js->SendAfterSync(StreamPtr(), [j, r] { j->Send(r, "", "", ""); }, self->shared_from_this());
    };
    if (body.empty() || body == "+ACK" || body == "+OK" || body.substr(0, 4) == "+NXT") {
      bool next = body.substr(0, 4) == "+NXT";
      std::vector<uint64_t> acked;
      if (cfg.ack_policy == AckPolicy::kExplicit) {
        SampleAck(seq, now);
        if (AckOne(seq)) acked.push_back(seq);
      } else if (cfg.ack_policy == AckPolicy::kAll) {
        while (!pending.empty() && pending.begin()->first <= seq) {
          uint64_t s = pending.begin()->first;
          AckOne(s);
          acked.push_back(s);
        }
        if (seq > asflr && seq < sseq) {
          asflr = seq;
          adflr = std::max(adflr, d);
        }
      }
      if (!acked.empty()) AfterAck(acked);
      if (next) {
        // The ack's reply subject is the inbox of a new pull request.
        if (!reply.empty()) ProcessPullRequest(reply, Trim(body.substr(4)));
      } else if (!reply.empty()) {
        ConfirmAck(reply, seq, acked.empty());
      }
      if (!acked.empty()) TryDeliver();
      return;
    }
    if (body.substr(0, 4) == "-NAK") {
      auto it = pending.find(seq);
      if (it != pending.end()) {
        int64_t delay = 0;
        std::string_view arg = Trim(body.substr(4));
        if (!arg.empty()) {
          if (arg.front() == '{') {
            auto j = nlohmann::json::parse(arg, nullptr, false);
            if (j.is_object() && j.contains("delay") && j["delay"].is_number()) delay = j["delay"].get<int64_t>();
          } else {
            ParseGoDuration(arg, &delay);
          }
        }
        auto dcit = rdc.find(seq);
        uint64_t count = dcit == rdc.end() ? 1 : dcit->second;
        SendAdvisory("MSG_NAKED", "io.nats.jetstream.advisory.v1.nak",
                     {{"consumer_seq", it->second.dseq}, {"stream_seq", seq}, {"deliveries", count}});
        if (cfg.max_deliver > 0 && int64_t(count) >= cfg.max_deliver) {
          SetDeadline(seq, it->second, 0);
        } else if (delay > 0) {
          SetDeadline(seq, it->second, now + delay);
          Change().UpdateDue(seq, now + delay);
        } else {
          SetDeadline(seq, it->second, 0);
          rdq.insert(seq);
          Change().UpdateDue(seq, now);
        }
      }
      confirm_now();
      TryDeliver();
      return;
    }
    if (body == "+WPI") {
      auto it = pending.find(seq);
      if (it != pending.end() && it->second.deadline) {
        auto dcit = rdc.find(seq);
        int64_t due = now + AckWaitFor(dcit == rdc.end() ? 1 : dcit->second);
        SetDeadline(seq, it->second, due);
        Change().UpdateDue(seq, due);
      }
      confirm_now();
      return;
    }
    if (body.substr(0, 5) == "+TERM") {
      std::vector<uint64_t> acked;
      auto it = pending.find(seq);
      if (it != pending.end()) {
        auto dcit = rdc.find(seq);
        uint64_t count = dcit == rdc.end() ? 1 : dcit->second;
        Json fields = {{"consumer_seq", it->second.dseq}, {"stream_seq", seq}, {"deliveries", count}};
        std::string_view reason = Trim(body.substr(5));
        if (!reason.empty()) fields["reason"] = std::string(reason);
        SendAdvisory("MSG_TERMINATED", "io.nats.jetstream.advisory.v1.terminated", fields);
        if (AckOne(seq)) acked.push_back(seq);
      }
      if (!acked.empty()) AfterAck(acked);
      if (!reply.empty()) ConfirmAck(reply, seq, acked.empty());
      if (!acked.empty()) TryDeliver();
      return;
    }
    // Unknown ack kinds are ignored, as nats-server does.
  }

  // -- pull requests ------------------------------------------------------

  void ProcessPullRequest(const std::string& reply, std::string_view payload) {
    if (reply.empty()) return;
    int64_t now = NowNs();
    last_active = now;
    if (!cfg.is_pull()) {
      SendStatus(reply, 409, "Consumer is push based");
      return;
    }
    PullRequest r;
    r.reply = reply;
    std::string_view body = Trim(payload);
    int64_t expires = 0;
    if (!body.empty() && body.front() == '{') {
      auto j = nlohmann::json::parse(body, nullptr, false);
      if (!j.is_object()) {
        SendStatus(reply, 400, "Bad Request - invalid JSON");
        return;
      }
      try {
        if (j.contains("batch")) r.batch = j["batch"].get<int64_t>();
        if (j.contains("expires")) expires = j["expires"].get<int64_t>();
        if (j.contains("max_bytes")) r.max_bytes = j["max_bytes"].get<int64_t>();
        if (j.contains("no_wait")) r.no_wait = j["no_wait"].get<bool>();
        if (j.contains("idle_heartbeat")) r.hb = j["idle_heartbeat"].get<int64_t>();
        if (j.contains("group")) r.group = j["group"].get<std::string>();
        if (j.contains("min_pending")) r.min_pending = j["min_pending"].get<int64_t>();
        if (j.contains("min_ack_pending")) r.min_ack_pending = j["min_ack_pending"].get<int64_t>();
        if (j.contains("id")) r.id = j["id"].get<std::string>();
        if (j.contains("priority") && !j["priority"].is_null()) r.priority = j["priority"].get<int64_t>();
      } catch (const nlohmann::json::exception&) {
        SendStatus(reply, 400, "Bad Request - invalid JSON");
        return;
      }
      if (r.hb > 0 && r.hb * 2 > expires) {
        SendStatus(reply, 400, "Bad Request - heartbeat value too large");
        return;
      }
    } else if (!body.empty()) {
      uint64_t n;
      if (ParseU64(body, &n)) r.batch = int64_t(n);
    }
    if (r.batch <= 0) r.batch = 1;
    const int64_t client_expires = expires;  // before max_expires fills in a default
    if (cfg.max_batch > 0 && r.batch > cfg.max_batch) {
      SendStatus(reply, 409, fmt::format("Exceeded MaxRequestBatch of {}", cfg.max_batch));
      return;
    }
    if (cfg.max_expires > 0) {
      if (expires > cfg.max_expires) {
        SendStatus(reply, 409, fmt::format("Exceeded MaxRequestExpires of {}", GoDuration(cfg.max_expires)));
        return;
      }
      // A request without expiry is held at most max_expires.
      if (expires == 0) expires = cfg.max_expires;
    }
    if (cfg.max_bytes > 0 && r.max_bytes > cfg.max_bytes) {
      SendStatus(reply, 409, fmt::format("Exceeded MaxRequestMaxBytes of {}", cfg.max_bytes));
      return;
    }
    // An empty or numeric body names no group: nats-server skips the group
    // checks for it, so an overflow consumer serves it like any request; a
    // pinned one is refused (nats-server queues it and then fails on it).
    bool plain = body.empty() || body.front() != '{';
    // Priority groups, in nats-server's order; the first two are warnings
    // only, the request still counts.
    if ((r.min_pending != 0 || r.min_ack_pending != 0) && cfg.priority_policy != PriorityPolicy::kOverflow)
      SendStatus(reply, 400, "Bad Request - Not a Overflow Priority consumer");
    if (!r.id.empty() && cfg.priority_policy != PriorityPolicy::kPinnedClient)
      SendStatus(reply, 400, "Bad Request - Not a Pinned Client Priority consumer");
    // 2.12 checks the range under every policy (the field only orders a
    // prioritized consumer's requests; others ignore it).
    if (!plain && (r.priority < 0 || r.priority > 9))
      return SendStatus(reply, 400, "Bad Request - Priority must be between 0 and 9");
    if (plain) r.priority = kPlainRequestPriority;
    if (cfg.priority_policy == PriorityPolicy::kPinnedClient && plain)
      return SendStatus(reply, 400, "Bad Request - Priority Group missing");
    if (cfg.priority_policy != PriorityPolicy::kNone && !plain) {
      if (r.group.empty()) return SendStatus(reply, 400, "Bad Request - Priority Group missing");
      if (!HasGroup(r.group)) return SendStatus(reply, 400, "Bad Request - Invalid Priority Group");
      ExpirePin(now);
      if (!pin_id.empty() && !r.id.empty()) {
        if (r.id != pin_id) return SendStatus(reply, 423, "Nats-Pin-Id mismatch");
        pin_deadline = now + cfg.priority_timeout;  // the pinned client is still there
      }
    }
    r.bytes_left = r.max_bytes;
    if (expires > 0) r.expires = now + expires;
    if (r.hb > 0) r.hb_next = now + r.hb;
    r.wait_first = r.no_wait && client_expires > 0;
    if (r.no_wait && !r.wait_first &&
        (Paused(now) || (rdq.empty() && (MaxAckPendingReached() || NumPending() == 0)))) {
      SendStatus(reply, 404, "No Messages");
      return;
    }
    // Drop requests whose requester went away before counting the limit.
    for (auto it = waiting.begin(); it != waiting.end();)
      it = HasInterest(js->account(), it->reply) ? std::next(it) : waiting.erase(it);
    if (cfg.max_waiting > 0 && int64_t(waiting.size()) >= cfg.max_waiting) {
      SendStatus(reply, 409, "Exceeded MaxWaiting");
      return;
    }
    if (cfg.priority_policy == PriorityPolicy::kPrioritized) {
      QueuePrioritized(std::move(r));
    } else {
      waiting.push_back(std::move(r));
    }
    TryDeliver();  // which also asks for ticks while the request waits
  }

  // -- periodic -----------------------------------------------------------

  // Busy: a pull consumer while requests wait, a push consumer while
  // someone listens (heartbeats, flow control, a subscriber leaving) or
  // while it is paused. Only busy consumers are ticked, so thousands of
  // idle ones cost nothing: redeliveries have their own timer (ArmTimer),
  // and a push consumer hears of a new subscriber through OnSubscribed.
  bool Busy() const {
    if (closed) return false;
    if (cfg.is_pull()) return !waiting.empty();
    // A paused push consumer is watched until its pause ends.
    return push_active || Paused(NowNs());
  }

  void WantTicks() {
    if (ticking || !Busy()) return;
    auto me = self->weak_from_this().lock();
    if (!me) return;  // still being made: its first delivery asks again
    ticking = true;
    stream->WantTicks(std::move(me));
  }

  // Returns whether the consumer stays busy (and in the stream's list).
  bool Tick(int64_t now) {
    if (closed) return ticking = false;
    // Due redeliveries (normally the consumer's own timer takes them).
    ProcessTimers(now);
    if (!Busy()) return ticking = false;
    TickBusy(now);
    return ticking = Busy();
  }

  void TickBusy(int64_t now) {
    if (cfg.is_pull()) {
      ExpirePin(now);
      for (auto it = waiting.begin(); it != waiting.end();) {
        // The requester went away (closed fetch, disconnect).
        if (!HasInterest(js->account(), it->reply)) {
          it = waiting.erase(it);
          continue;
        }
        if (it->expires && it->expires <= now) {
          SendStatus(it->reply, 408, "Request Timeout", PendingHeaders(*it));
          it = waiting.erase(it);
          continue;
        }
        if (it->hb && it->hb_next <= now) {
          SendHeartbeat(it->reply, now);
          it->hb_next = now + it->hb;
        }
        ++it;
      }
      if (!waiting.empty()) last_active = now;
      TryDeliver();
      return;
    }
    if (!UpdatePushInterest(now)) return;
    last_active = now;
    // Pending messages go out before any heartbeat: to a KV watcher a
    // heartbeat means it has seen everything.
    TryDeliver();
    if (cfg.idle_heartbeat > 0 && now - last_msg >= cfg.idle_heartbeat) SendHeartbeat(cfg.deliver_subject, now);
  }

  bool HasInterestNow() const {
    if (cfg.is_pull()) return !waiting.empty();
    return push_active;
  }

  // -- state --------------------------------------------------------------

  store::ConsumerState State() const {
    store::ConsumerState st;
    st.delivered_consumer = dseq;
    st.delivered_stream = sseq - 1;
    st.ack_floor_consumer = adflr;
    st.ack_floor_stream = asflr;
    for (const auto& [seq, p] : pending) st.pending[seq] = {p.dseq, p.ts};
    st.redelivered = rdc;
    return st;
  }

  void Restore(const store::ConsumerState& st) {
    dseq = st.delivered_consumer;
    adflr = st.ack_floor_consumer;
    asflr = st.ack_floor_stream;
    sseq = std::max(st.delivered_stream, st.ack_floor_stream) + 1;
    rdc = st.redelivered;
    for (const auto& [seq, p] : st.pending) {
      auto& mine = pending[seq];
      mine.dseq = p.consumer_seq;
      mine.ts = p.ts;
      auto it = rdc.find(seq);
      uint64_t count = it == rdc.end() ? 1 : it->second;
      if (cfg.max_deliver > 0 && int64_t(count) >= cfg.max_deliver) continue;
      // A NAK or +WPI before the restart set its own due time.
      SetDeadline(seq, mine, p.due ? p.due : p.ts + AckWaitFor(count));
    }
  }

  void OnStreamPurged(uint64_t first) {
    npending_valid = false;
    bool changed = false;
    if (sseq < first) {
      sseq = first;
      changed = true;
    }
    while (!pending.empty() && pending.begin()->first < first) {
      DropPending(pending.begin()->first);
      changed = true;
    }
    if (first > 0 && asflr < first - 1) {
      asflr = first - 1;
      changed = true;
    }
    if (pending.empty()) adflr = dseq;
    if (changed) Change().Reset(State());
  }

  void SubscribeFlowControl() {
    if (!cfg.flow_control || cfg.is_pull() || fc_sub) return;
    std::weak_ptr<Consumer> weak = self->weak_from_this();
    asio::io_context* ctx = &js->ctx();
    fc_sub = js->account()->SubscribeInternal(
        fmt::format("$JS.FC.{}.{}.*", stream->name(), name),
        [weak, ctx](const server::InternalMsg& m) {
          asio::post(*ctx, [weak, subject = std::string(m.subject)] {
            if (auto c = weak.lock()) c->impl_->OnFlowControlReply(subject);
          });
        },
        js->options().clustered);
  }

  void Stop() {
    closed = true;
    if (timer) timer->cancel();
    if (fc_sub) {
      js->account()->UnsubscribeInternal(fc_sub);
      fc_sub.reset();
    }
  }
};

Consumer::Consumer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) { impl_->self = this; }

Consumer::~Consumer() {
  if (!impl_->closed) impl_->Stop();
}

std::shared_ptr<Consumer> Consumer::Create(Stream* stream, const std::string& name, ConsumerConfig cfg,
                                           int64_t created, std::unique_ptr<store::ConsumerStore> cs,
                                           bool recovering, ApiError* err) {
  SetConsumerDefaults(&cfg, name, stream->config());
  if (!recovering) {
    if (auto e = CheckConsumerConfig(*stream, name, cfg, stream->consumers().count(name) > 0)) {
      *err = *e;
      return nullptr;
    }
  }
  auto impl = std::make_unique<Impl>();
  impl->stream = stream;
  impl->js = stream->js();
  impl->name = name;
  impl->cfg = std::move(cfg);
  impl->created = created;
  impl->cs = std::move(cs);
  impl->last_active = NowNs();
  impl->last_msg = impl->last_active;
  Impl* p = impl.get();
  std::shared_ptr<Consumer> c(new Consumer(std::move(impl)));
  if (recovering) {
    p->Restore(p->cs->State());
  } else {
    p->SelectStart();
    Json meta = {{"name", name}, {"created", created}, {"config", ToJson(p->cfg)}};
    auto st = p->cs->SetConfig(meta.dump());
    if (st.ok()) st = p->cs->Reset(p->State());
    if (!st.ok()) {
      *err = MakeError(Err::ConsumerStoreFailed, {{"err", st.msg}});
      p->Stop();
      return nullptr;
    }
  }
  p->SubscribeFlowControl();
  // Created (or restored) paused: the pause's end is announced when it
  // comes, as nats-server's leader arms its timer (the start, only for an
  // API create: AnnouncePauseAtCreate).
  if (p->Paused(NowNs())) {
    p->pause_end_pending = true;
    p->ArmTimer(p->cfg.pause_until);
  }
  return c;
}

const std::string& Consumer::name() const { return impl_->name; }
const ConsumerConfig& Consumer::config() const { return impl_->cfg; }
int64_t Consumer::created() const { return impl_->created; }

Consumer::Numbers Consumer::GetNumbers() {
  Impl& m = *impl_;
  Numbers n;
  n.delivered_consumer_seq = m.dseq;
  n.delivered_stream_seq = m.sseq - 1;
  n.ack_floor_consumer_seq = m.adflr;
  n.ack_floor_stream_seq = m.asflr;
  n.num_ack_pending = m.pending.size();
  n.num_redelivered = m.rdc.size();
  n.num_waiting = m.waiting.size();
  n.num_pending = m.NumPending();
  return n;
}

bool Consumer::PushBound() {
  return !impl_->cfg.is_pull() && impl_->UpdatePushInterest(NowNs());
}

Json Consumer::InfoJson() {
  Impl& m = *impl_;
  int64_t now = NowNs();
  Numbers n = GetNumbers();
  Json j;
  j["stream_name"] = m.stream->name();
  j["name"] = m.name;
  j["created"] = FormatTime(m.created);
  j["config"] = ToJson(m.cfg);
  if (auto* replica = m.stream->replica()) {
    j["cluster"] = replica->ClusterInfo();
    // Runs on the leader alone, as nats-server's R1 consumers show.
    if (LeaderOnly(m.cfg, m.stream->config())) j["cluster"].erase("replicas");
  }
  else if (auto* meta = m.js->meta()) j["cluster"] = ClusterInfoJson(meta);
  j["delivered"] = {{"consumer_seq", n.delivered_consumer_seq}, {"stream_seq", n.delivered_stream_seq}};
  j["ack_floor"] = {{"consumer_seq", n.ack_floor_consumer_seq}, {"stream_seq", n.ack_floor_stream_seq}};
  j["num_ack_pending"] = n.num_ack_pending;
  j["num_redelivered"] = n.num_redelivered;
  j["num_waiting"] = n.num_waiting;
  j["num_pending"] = n.num_pending;
  if (!m.cfg.is_pull()) {
    if (m.UpdatePushInterest(now)) j["push_bound"] = true;
  }
  if (m.Paused(now)) {
    j["paused"] = true;
    j["pause_remaining"] = m.cfg.pause_until - now;
  }
  if (!m.cfg.priority_groups.empty()) {
    // nats-server reports the first group only (its one pin covers all).
    m.ExpirePin(now);
    Json g;
    g["group"] = m.cfg.priority_groups.front();
    if (!m.pin_id.empty()) g["pinned_client_id"] = m.pin_id;
    g["pinned_ts"] = FormatTime(m.pin_id.empty() ? 0 : m.pinned_ts);
    j["priority_groups"] = Json::array({g});
  }
  j["ts"] = FormatTime(now);
  return j;
}

ApiError Consumer::Unpin(const std::string& group) {
  Impl& m = *impl_;
  if (!m.HasGroup(group)) return MakeError(Err::ConsumerInvalidPriorityGroup);
  // As nats-server: whatever the policy, and announced even if no one was
  // pinned.
  m.Unpin(group, "admin");
  m.TryDeliver();
  return {};
}

void Consumer::AnnouncePauseAtCreate() {
  int64_t now = NowNs();
  if (impl_->Paused(now)) impl_->SendPauseAdvisory(now);
}

ApiError Consumer::Update(const ConsumerConfig& next_in) {
  Impl& m = *impl_;
  ConsumerConfig next = next_in;
  SetConsumerDefaults(&next, m.name, m.stream->config());
  std::string why = UpdateConflict(m.cfg, next);
  if (!why.empty()) return MakeError(Err::ConsumerCreate, {{"err", why}});
  if (auto e = CheckConsumerConfig(*m.stream, m.name, next, true)) return *e;
  bool filters_changed = next.Filters() != m.cfg.Filters();
  bool deliver_changed = next.deliver_subject != m.cfg.deliver_subject;
  bool watch = m.cfg.inactive_threshold <= 0 && next.inactive_threshold > 0;
  bool pause_changed = next.pause_until != m.cfg.pause_until;
  m.cfg = std::move(next);
  if (pause_changed) m.OnPauseChanged(NowNs());
  if (watch) m.stream->WatchInactivity(shared_from_this());
  Json meta = {{"name", m.name}, {"created", m.created}, {"config", ToJson(m.cfg)}};
  auto st = m.cs->SetConfig(meta.dump());
  if (!st.ok()) return MakeError(Err::ConsumerStoreFailed, {{"err", st.msg}});
  if (filters_changed) m.npending_valid = false;
  if (deliver_changed) {
    m.fc_reply.clear();
    m.fc_bytes = 0;
  }
  m.TryDeliver();
  return {};
}

void Consumer::ProcessPullRequest(const std::string& reply, std::string_view payload) {
  impl_->ProcessPullRequest(reply, payload);
}

void Consumer::ProcessAck(std::string_view subject, std::string_view payload, const std::string& reply) {
  if (impl_->closed) return;
  impl_->ProcessAck(subject, payload, reply);
}

void Consumer::Signal() { impl_->TryDeliver(); }

bool Consumer::DurableOnly() const { return impl_->DurableOnly(); }

void Consumer::OnSubscribed() {
  Impl& m = *impl_;
  if (m.closed || m.cfg.is_pull() || m.push_active) return;
  m.TryDeliver();
  if (m.push_active) m.last_active = NowNs();
}

void Consumer::OnStreamPurged(uint64_t first_seq) {
  impl_->OnStreamPurged(first_seq);
  impl_->TryDeliver();
}

uint64_t Consumer::NextSeq() const { return impl_->sseq; }

bool Consumer::DoneWith(uint64_t seq, std::string_view subject) const {
  const Impl& m = *impl_;
  if (!m.Matches(subject)) return true;
  if (seq <= m.asflr) return true;
  if (seq >= m.sseq) return false;
  switch (m.cfg.ack_policy) {
    case AckPolicy::kNone:
      return true;
    case AckPolicy::kAll:
      return false;
    case AckPolicy::kExplicit:
      return !m.pending.count(seq) && !m.rdq.count(seq);
  }
  return false;
}

bool Consumer::FilterMatches(std::string_view subject) const { return impl_->Matches(subject); }

bool Consumer::Tick(int64_t now) { return impl_->Tick(now); }

bool Consumer::InactiveExpired(int64_t now) const {
  const Impl& m = *impl_;
  if (m.cfg.inactive_threshold <= 0 || m.HasInterestNow()) return false;
  return now - m.last_active >= m.cfg.inactive_threshold;
}

void Consumer::SyncState(std::function<void(store::Status)> done) { impl_->cs->Sync(std::move(done)); }

void Consumer::FlushState() {
  Impl& m = *impl_;
  m.changed = false;
  if (m.closed) return;
  auto st = m.cs->Flush();
  if (!st.ok()) log::Error("JetStream can not write the state of consumer '{} > {}': {}", m.stream->name(), m.name, st.msg);
}

void Consumer::Delete() {
  Impl& m = *impl_;
  for (const auto& r : m.waiting) m.SendStatus(r.reply, 409, "Consumer Deleted");
  m.waiting.clear();
  m.Stop();
  auto st = m.cs->Delete();
  if (!st.ok()) log::Error("JetStream failed to delete consumer '{} > {}': {}", m.stream->name(), m.name, st.msg);
}

store::ConsumerStore& Consumer::store() { return *impl_->cs; }

void Consumer::Close() {
  Impl& m = *impl_;
  m.Stop();
  m.cs->Close();
}

void Consumer::Relinquish() {
  Impl& m = *impl_;
  for (const auto& r : m.waiting) m.SendStatus(r.reply, 409, "Leadership Change");
  m.waiting.clear();
  Close();
}

}  // namespace fjord::jetstream
