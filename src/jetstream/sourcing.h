#pragma once
// Mirrors and sources on one server: the copy engine.
//
// A stream with `mirror` or `sources` copies messages straight out of its
// origin's store on the JetStream thread; no internal consumer is needed when
// both streams live in the same process. Each pass copies what the origins
// stored since the last pass, at most a budget of messages, so catching up
// on a large origin is spread over many turns of the JetStream thread.
//
// Positions are never stored separately; they are derived from the copying
// stream's own contents, which the normal group commit makes durable:
// - a mirror keeps the origin's sequence numbers, so it resumes after its
//   own last sequence;
// - a source's messages carry `Nats-Stream-Source: <origin> <origin seq>
//   <filters> <destinations>` (2.10's form), so it resumes after the newest
//   such header naming that source.
// A restart or kill -9 therefore neither duplicates nor skips a message.
//
// In a cluster, an origin held on another server is read through an
// internal push consumer on it (a feed): ack policy none, flow control and
// heartbeats, started at the position above and started again there when
// a delivery goes missing or the feed falls silent. Its deliveries are
// queued and stored by the same passes; only the stream's leader runs one.
#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "jetstream/types.h"
#include "proto/subject_transform.h"
#include "server/sublist.h"
#include "store/store.h"

namespace fjord::jetstream {

class JetStream;
class Stream;

// "<origin> <seq>" as nats-server 2.9 writes it, or 2.10's "<origin> <seq>
// <filters> <destinations>", whose index name ("<origin> <filters>
// <destinations>", see StreamSource::IndexName) goes to `*index_name` (""
// for the 2.9 form). False if `value` is neither.
bool ParseStreamSourceHeader(std::string_view value, std::string_view* origin, uint64_t* seq,
                             std::string* index_name = nullptr);

class Sourcing {
 public:
  explicit Sourcing(Stream* stream);
  ~Sourcing();
  Sourcing(const Sourcing&) = delete;
  Sourcing& operator=(const Sourcing&) = delete;

  // Copies at most `budget` messages (skipped mirror sequences count too)
  // from the origins; returns how many it used.
  size_t Pump(size_t budget, int64_t now);
  // Adds `mirror` / `sources` (StreamSourceInfo) to a StreamInfo.
  void AddInfo(Json* info, int64_t now) const;
  // This server stopped leading the stream: its feeds end.
  void Idle();
  // A message on feed `id` of source `index` (JetStream thread).
  void OnFeed(size_t index, uint64_t id, std::string_view subject, std::string_view reply, std::string_view hdr,
              std::string_view data);

 private:
  // A copy waiting to be stored: the message under the subject it is
  // stored with, and its subject in the origin.
  struct Copy {
    store::StoredMsg msg;
    std::string origin_subject;
  };
  // The internal consumer reading an origin held on another server.
  struct Feed {
    uint64_t id = 0;  // 0: none; deliveries of an older one are ignored
    std::string inbox;  // "$JS.S.<token>": deliveries on .D, the create's reply on .R
    server::SubPtr sub;
    std::string consumer;  // its name on the origin
    int64_t heard = 0;     // last message of any kind on the feed
    uint64_t next_dseq = 1;
    // Delivered, not yet stored: bounded by the consumer's flow-control
    // window, as its requests are answered once this has drained.
    std::deque<Copy> queue;
    std::string fc_reply;  // a flow-control request, answered once the queue drains
    uint64_t pending = 0;  // the origin's messages not delivered yet (lag)
    int64_t retry_at = 0;  // after a refused create
    std::string error;     // the last refusal, logged once
  };
  struct Source {
    StreamSource cfg;
    std::string index_name;
    // What is copied, and under which subject: empty takes everything.
    std::vector<std::pair<std::string, std::optional<proto::SubjectTransform>>> filters;
    bool positioned = false;  // `next` is known
    uint64_t next = 0;        // origin sequence to copy next
    uint64_t start = 0;       // where copying began (a mirror skips what precedes it)
    std::weak_ptr<Stream> origin;
    bool missing = true;      // the origin does not exist (yet)
    int64_t last_active = 0;  // last time the origin was looked at
    bool held_back = false;   // discard new refused the next message (logged once)
    Feed feed;
  };
  // Sources only: finds each source's position from the newest
  // Nats-Stream-Source header naming it.
  void Resume();
  void AddSource(const StreamSource& cfg);
  // The subject a message from the origin is stored under, or nullopt if
  // the source does not take it.
  static std::optional<std::string> Select(const Source& src, std::string_view subject);
  size_t PumpOne(Source& src, size_t budget, int64_t now);
  // The origin held on another server: what its feed delivered.
  size_t PumpRemote(Source& src, size_t budget, int64_t now);
  void StartFeed(size_t index, int64_t now);
  // Ends the feed; `remove` deletes its consumer on the origin too.
  void StopFeed(Source& src, bool remove = true);
  void AnswerFlowControl(Source& src);
  // Stores `copies` in order (within the budget, counted in *used); returns
  // how many were dealt with (stored, or dropped as a duplicate or unfit).
  // The rest wait: the budget ran out, discard new refused one, or a write
  // failed.
  size_t StoreCopies(Source& src, std::vector<Copy>& copies, size_t budget, int64_t now, size_t* used,
                     bool* touched);
  // The subject a copy of `subject` is stored under, or nullopt.
  std::optional<std::string> CopySubject(const Source& src, std::string_view subject) const;
  uint64_t StartSeq(const Source& src, Stream& origin) const;

  Stream* stream_;
  bool mirror_;
  uint64_t last_feed_id_ = 0;
  bool resumed_ = false;
  std::vector<Source> sources_;
};

// One pass over every stream that mirrors or sources, sharing `budget`.
// Returns true when the budget ran out (there may be more to copy).
bool PumpSources(JetStream* js, size_t budget);

}  // namespace fjord::jetstream
