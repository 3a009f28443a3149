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
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "jetstream/types.h"
#include "proto/subject_transform.h"

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

  // Copies at most `budget` messages (skipped mirror sequences count too)
  // from the origins; returns how many it used.
  size_t Pump(size_t budget, int64_t now);
  // Adds `mirror` / `sources` (StreamSourceInfo) to a StreamInfo.
  void AddInfo(Json* info, int64_t now) const;

 private:
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
  };
  // Sources only: finds each source's position from the newest
  // Nats-Stream-Source header naming it.
  void Resume();
  void AddSource(const StreamSource& cfg);
  // The subject a message from the origin is stored under, or nullopt if
  // the source does not take it.
  static std::optional<std::string> Select(const Source& src, std::string_view subject);
  size_t PumpOne(Source& src, size_t budget, int64_t now);
  uint64_t StartSeq(const Source& src, Stream& origin) const;

  Stream* stream_;
  bool mirror_;
  bool resumed_ = false;
  std::vector<Source> sources_;
};

// One pass over every stream that mirrors or sources, sharing `budget`.
// Returns true when the budget ran out (there may be more to copy).
bool PumpSources(JetStream* js, size_t budget);

}  // namespace fjord::jetstream
