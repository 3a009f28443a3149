#pragma once
// IndexedStore: MemStore's index, every message in memory.
//
// Messages live in a deque of slots indexed by sequence (slot i holds
// sequence base_ + i); a removed message leaves a dead slot until the front
// catches up. Every slot links to the previous and next slot of the same
// subject, so the per-subject index {first, last, count} stays exact in O(1)
// per removal and literal-subject scans walk only that subject's messages.
//
// Invariants: slots_.size() == last_ + 1 - base_; the front slot, if any,
// is live; first_seq == base_ (== last_ + 1 when empty).
//
// The implementation supplies the payload type `Body` and hooks that store
// and read it; limits, purge, filters and pending counts are here. (The
// file store keeps only per-block and per-subject state in memory instead:
// file_store.cc.)
#include <algorithm>
#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "store/slot_queue.h"
#include "store/store.h"
#include "store/subject.h"

namespace fjord::store {

template <typename Body>
class IndexedStore : public Store {
 public:
  static constexpr uint32_t kNoSubj = UINT32_MAX;

  struct Slot {
    Body body{};
    uint64_t prev = 0;  // previous sequence of the same subject, 0 if none
    uint64_t next = 0;  // next sequence of the same subject, 0 if none
    int64_t ts = 0;
    uint32_t subj = kNoSubj;  // kNoSubj marks a dead slot
    uint32_t size = 0;        // bytes as accounted in StreamState::bytes
    bool live() const { return subj != kNoSubj; }
  };

  explicit IndexedStore(const Limits& limits) : limits_(limits) {}

  Result<uint64_t> Append(std::string_view subject, std::string_view hdr, std::string_view data,
                          int64_t ts) override {
    if (closed_) return {{Errc::kClosed, "store closed"}, 0};
    if (subject.empty()) return {{Errc::kInvalid, "empty subject"}, 0};
    uint64_t seq = last_ + 1;
    Body body{};
    if (Status s = StoreBody(seq, subject, hdr, data, ts, &body); !s.ok()) return {s, 0};
    uint32_t id = AddSlot(seq, subject, ts, MsgSize(subject, hdr, data), std::move(body));
    EnforcePerSubject(id);
    EnforceMsgsAndBytes();
    AfterMutation();
    return {{}, seq};
  }

  // Consumes the next sequence without storing a message (interest
  // retention with no interested consumer). Returns the sequence.
  Result<uint64_t> SkipMsg() override {
    if (closed_) return {{Errc::kClosed, "store closed"}, 0};
    uint64_t seq = last_ + 1;
    if (Status s = StoreSkip(seq); !s.ok()) return {s, 0};
    slots_.emplace_back();
    last_ = seq;
    PopDeadFront();
    AfterMutation();
    return {{}, seq};
  }

  Result<StoredMsg> Load(uint64_t seq) override {
    if (closed_) return {{Errc::kClosed, "store closed"}, {}};
    const Slot* s = At(seq);
    if (s == nullptr || !s->live()) return {MissingStatus(seq), {}};
    return ReadMsg(seq, *s);
  }

  Result<StoredMsg> LoadLast(std::string_view filter) override {
    if (closed_) return {{Errc::kClosed, "store closed"}, {}};
    uint64_t seq = 0;
    if (MatchesAll(filter)) {
      for (uint64_t q = last_; q >= base_ && q > 0; --q) {
        if (At(q)->live()) {
          seq = q;
          break;
        }
      }
    } else if (IsLiteral(filter)) {
      if (auto it = subject_ids_.find(filter); it != subject_ids_.end()) {
        seq = subjects_[it->second].info.last;
      }
    } else {
      for (const auto& sj : subjects_) {
        if (sj.info.count > 0 && sj.info.last > seq && SubjectMatches(filter, sj.name)) {
          seq = sj.info.last;
        }
      }
    }
    if (seq == 0) return {{Errc::kNotFound, "no message found"}, {}};
    return ReadMsg(seq, *At(seq));
  }

  Result<StoredMsg> LoadNext(std::string_view filter, uint64_t start) override {
    if (closed_) return {{Errc::kClosed, "store closed"}, {}};
    uint64_t seq = NextMatch(filter, std::max(start, base_));
    if (seq == 0) return {{Errc::kNotFound, "no message found"}, {}};
    return ReadMsg(seq, *At(seq));
  }

  uint64_t FirstSeqSince(int64_t ts) const override {
    for (uint64_t q = last_; q >= base_ && q > 0; --q) {
      const Slot* s = At(q);
      if (s->live() && s->ts < ts) return q + 1;
    }
    return base_;
  }

  Status Remove(uint64_t seq, bool erase) override {
    if (closed_) return {Errc::kClosed, "store closed"};
    Slot* s = At(seq);
    if (s == nullptr || !s->live()) return MissingStatus(seq);
    RemoveSlot(seq, erase);
    AfterMutation();
    return {};
  }

  Result<uint64_t> Purge(std::string_view filter, uint64_t upto, uint64_t keep) override {
    if (closed_) return {{Errc::kClosed, "store closed"}, 0};
    if (upto > 1 && keep > 0) return {{Errc::kInvalid, "purge: seq and keep are exclusive"}, 0};
    uint64_t purged = 0;
    if (MatchesAll(filter)) {
      if (keep > 0) {
        if (keep < msgs_) purged = CompactTo(NthNewest(keep));
      } else if (upto == 0) {
        purged = CompactTo(last_ + 1);
      } else {
        purged = CompactTo(upto);
      }
    } else {
      purged = PurgeFiltered(filter, upto, keep);
    }
    AfterMutation();
    return {{}, purged};
  }

  uint64_t ExpireOld(int64_t now_ns) override {
    if (closed_ || limits_.max_age_ns <= 0) return 0;
    int64_t cutoff = now_ns - limits_.max_age_ns;
    uint64_t n = 0;
    while (msgs_ > 0 && slots_.front().ts <= cutoff) {
      RemoveSlot(base_, false);
      ++n;
    }
    AfterMutation();
    return n;
  }

  // Pops slots off the back: the slot queue holds exactly [base_, last_],
  // so the work is the number of sequences cut, however far last_ was
  // moved by a purge past the end.
  Status Truncate(uint64_t seq) override {
    if (closed_) return {Errc::kClosed, "store closed"};
    if (seq >= last_) return {};
    uint64_t keep = seq >= base_ ? seq + 1 - base_ : 0;
    while (slots_.size() > keep) {
      Slot& s = slots_.back();
      if (s.live()) Unlink(s);
      s.body = Body{};
      slots_.pop_back();
    }
    last_ = seq;
    if (slots_.empty()) base_ = last_ + 1;
    last_ts_ = 0;
    for (uint64_t q = last_; msgs_ > 0 && q >= base_; --q) {
      if (At(q)->live()) {
        last_ts_ = At(q)->ts;
        break;
      }
    }
    AfterMutation();
    return {};
  }

  void SetCompression(bool) override {}  // nothing on disk to compress

  void SetLimits(const Limits& limits) override {
    limits_ = limits;
    if (closed_) return;
    if (limits_.max_msgs_per_subject > 0) {
      for (uint32_t id = 0; id < subjects_.size(); ++id) EnforcePerSubject(id);
    }
    EnforceMsgsAndBytes();
    AfterMutation();
  }

  uint64_t MsgBytes(std::string_view subject, std::string_view hdr,
                    std::string_view data) const override {
    return MsgSize(subject, hdr, data);
  }

  StreamState State() const override {
    StreamState st;
    st.msgs = msgs_;
    st.bytes = bytes_;
    st.first_seq = base_;
    st.last_seq = last_;
    st.first_ts = slots_.empty() ? 0 : slots_.front().ts;
    st.last_ts = last_ts_;
    st.num_deleted = msgs_ == 0 ? 0 : (last_ - base_ + 1) - msgs_;
    st.num_subjects = subject_ids_.size();
    return st;
  }

  std::map<std::string, SubjectInfo> Subjects(std::string_view filter) const override {
    std::map<std::string, SubjectInfo> out;
    if (IsLiteral(filter)) {
      if (auto it = subject_ids_.find(filter); it != subject_ids_.end()) {
        out.emplace(std::string(filter), subjects_[it->second].info);
      }
      return out;
    }
    for (const auto& sj : subjects_) {
      if (sj.info.count > 0 && SubjectMatches(filter, sj.name)) out.emplace(sj.name, sj.info);
    }
    return out;
  }

  uint64_t NumPending(std::string_view filter, uint64_t start) const override {
    if (start <= base_) start = base_;
    if (start > last_) return 0;
    if (MatchesAll(filter)) {
      if (start == base_) return msgs_;
      if (msgs_ == last_ + 1 - base_) return last_ + 1 - start;  // no gaps
      // Count whichever side of `start` is shorter.
      if (start - base_ < last_ + 1 - start) return msgs_ - CountLive(base_, start);
      return CountLive(start, last_ + 1);
    }
    uint64_t n = 0;
    if (IsLiteral(filter)) {
      if (auto it = subject_ids_.find(filter); it != subject_ids_.end()) {
        n = PendingInSubject(subjects_[it->second].info, start);
      }
      return n;
    }
    for (const auto& sj : subjects_) {
      if (sj.info.count > 0 && sj.info.last >= start && SubjectMatches(filter, sj.name)) {
        n += PendingInSubject(sj.info, start);
      }
    }
    return n;
  }

 protected:
  struct Subj {
    std::string name;
    SubjectInfo info;
  };

  // Hooks.
  virtual uint64_t MsgSize(std::string_view subject, std::string_view hdr,
                           std::string_view data) const = 0;
  // Stores a new message (nothing visible on failure).
  virtual Status StoreBody(uint64_t seq, std::string_view subject, std::string_view hdr,
                           std::string_view data, int64_t ts, Body* body) = 0;
  virtual Status StoreSkip(uint64_t seq) = 0;
  virtual Result<StoredMsg> ReadMsg(uint64_t seq, const Slot& slot) = 0;
  // Called with the body still intact, after the index stopped counting
  // the message. `was_first`: it was the stream's first message, so raising
  // the first sequence (see AfterMutation) records its removal.
  virtual void OnRemoved(uint64_t seq, Slot& slot, bool erase, bool was_first) = 0;
  // Called once at the end of every mutating call.
  virtual void AfterMutation() {}

  Slot* At(uint64_t seq) {
    if (seq < base_ || seq > last_) return nullptr;
    return &slots_[seq - base_];
  }
  const Slot* At(uint64_t seq) const {
    if (seq < base_ || seq > last_) return nullptr;
    return &slots_[seq - base_];
  }

  Status MissingStatus(uint64_t seq) const {
    if (seq == 0 || seq > last_) return {Errc::kNotFound, "no message found"};
    return {Errc::kDeleted, "message deleted"};
  }

  uint32_t SubjectId(std::string_view subject) {
    if (auto it = subject_ids_.find(subject); it != subject_ids_.end()) return it->second;
    uint32_t id;
    if (!free_ids_.empty()) {
      id = free_ids_.back();
      free_ids_.pop_back();
      subjects_[id].name.assign(subject);
    } else {
      id = static_cast<uint32_t>(subjects_.size());
      subjects_.push_back({std::string(subject), {}});
    }
    subject_ids_.emplace(subjects_[id].name, id);
    return id;
  }

  // Adds a live message at `seq` (> last_; a gap becomes dead slots).
  uint32_t AddSlot(uint64_t seq, std::string_view subject, int64_t ts, uint64_t size, Body body) {
    uint32_t id = SubjectId(subject);
    return AddSlotId(seq, id, ts, size, std::move(body));
  }

  uint32_t AddSlotId(uint64_t seq, uint32_t id, int64_t ts, uint64_t size, Body body) {
    if (slots_.empty()) {
      base_ = seq;
    } else {
      while (last_ + 1 < seq) {
        slots_.emplace_back();
        ++last_;
      }
    }
    last_ = seq;
    Slot& s = slots_.emplace_back();
    s.body = std::move(body);
    s.ts = ts;
    s.subj = id;
    s.size = static_cast<uint32_t>(size);
    SubjectInfo& info = subjects_[id].info;
    if (info.count == 0) {
      info.first = seq;
    } else {
      s.prev = info.last;
      At(info.last)->next = seq;
    }
    info.last = seq;
    info.count++;
    msgs_++;
    bytes_ += size;
    last_ts_ = ts;
    return id;
  }

  // Moves last_ forward without a message (recovery of skips and floors).
  void RaiseLast(uint64_t seq) {
    if (seq <= last_) return;
    if (slots_.empty()) {
      last_ = seq;
      base_ = seq + 1;
      return;
    }
    while (last_ < seq) {
      slots_.emplace_back();
      ++last_;
    }
  }

  void RemoveSlot(uint64_t seq, bool erase) {
    Slot& s = *At(seq);
    Unlink(s);
    OnRemoved(seq, s, erase, seq == base_);
    s.body = Body{};
    PopDeadFront();
  }

  // Takes a live slot out of its subject's chain and the counts.
  void Unlink(Slot& s) {
    Subj& sj = subjects_[s.subj];
    if (s.prev != 0) {
      At(s.prev)->next = s.next;
    } else {
      sj.info.first = s.next;
    }
    if (s.next != 0) {
      At(s.next)->prev = s.prev;
    } else {
      sj.info.last = s.prev;
    }
    if (--sj.info.count == 0) {
      sj.info = {};
      subject_ids_.erase(sj.name);
      free_ids_.push_back(s.subj);
    }
    msgs_--;
    bytes_ -= s.size;
    s.subj = kNoSubj;
    s.prev = s.next = 0;
  }

  // Removes every message below `seq`; past the end it moves the sequence
  // forward so the next append gets `seq`. Returns messages removed.
  uint64_t CompactTo(uint64_t seq) {
    uint64_t n = 0;
    while (msgs_ > 0 && base_ < seq) {
      RemoveSlot(base_, false);
      ++n;
    }
    if (msgs_ == 0 && seq > base_) {
      last_ = std::max(last_, seq - 1);
      slots_.clear();
      base_ = last_ + 1;
    }
    return n;
  }

  // Forgets every message (the file store reloads from disk after a failed
  // write).
  void ClearIndex() {
    slots_.clear();
    base_ = 1;
    last_ = 0;
    msgs_ = bytes_ = 0;
    last_ts_ = 0;
    subjects_.clear();
    subject_ids_.clear();
    free_ids_.clear();
  }

  const std::string& SubjectName(uint32_t id) const { return subjects_[id].name; }
  uint64_t first_seq() const { return base_; }
  uint64_t last_seq() const { return last_; }
  uint64_t msgs() const { return msgs_; }
  const Limits& limits() const { return limits_; }

  bool closed_ = false;

 private:
  void PopDeadFront() {
    while (!slots_.empty() && !slots_.front().live()) {
      slots_.pop_front();
      ++base_;
    }
    if (slots_.empty()) base_ = last_ + 1;
  }

  void EnforcePerSubject(uint32_t id) {
    if (limits_.max_msgs_per_subject <= 0) return;
    auto max = static_cast<uint64_t>(limits_.max_msgs_per_subject);
    while (subjects_[id].info.count > max) RemoveSlot(subjects_[id].info.first, false);
  }

  void EnforceMsgsAndBytes() {
    if (limits_.max_msgs > 0) {
      while (msgs_ > static_cast<uint64_t>(limits_.max_msgs)) RemoveSlot(base_, false);
    }
    if (limits_.max_bytes > 0) {
      while (msgs_ > 0 && bytes_ > static_cast<uint64_t>(limits_.max_bytes)) RemoveSlot(base_, false);
    }
  }

  uint64_t CountLive(uint64_t from, uint64_t to) const {
    uint64_t n = 0;
    for (uint64_t q = from; q < to; ++q) n += At(q)->live();
    return n;
  }

  // Messages of one subject with seq >= start, walking the shorter end.
  uint64_t PendingInSubject(const SubjectInfo& info, uint64_t start) const {
    if (start <= info.first) return info.count;
    if (start > info.last) return 0;
    uint64_t below = 0, above = 0;
    uint64_t lo = info.first, hi = info.last;
    while (true) {
      if (lo >= start) return info.count - below;
      ++below;
      lo = At(lo)->next;
      if (hi < start) return above;
      ++above;
      hi = At(hi)->prev;
    }
  }

  // The k-th newest live message's sequence (k >= 1, k < msgs_).
  uint64_t NthNewest(uint64_t k) const {
    uint64_t q = last_;
    for (;; --q) {
      if (At(q)->live() && --k == 0) return q;
    }
  }

  // First live sequence >= start matching `filter`, 0 if none.
  uint64_t NextMatch(std::string_view filter, uint64_t start) const {
    if (start > last_) return 0;
    if (MatchesAll(filter)) {
      for (uint64_t q = start; q <= last_; ++q) {
        if (At(q)->live()) return q;
      }
      return 0;
    }
    if (IsLiteral(filter)) {
      auto it = subject_ids_.find(filter);
      if (it == subject_ids_.end()) return 0;
      uint32_t id = it->second;
      const SubjectInfo& info = subjects_[id].info;
      if (start <= info.first) return info.first;
      if (start > info.last) return 0;
      // Scan forward from start and walk the subject chain back from its
      // last message in step; whichever reaches the answer first wins.
      uint64_t fwd = start, back = info.last;
      while (true) {
        const Slot* s = At(fwd);
        if (s->subj == id) return fwd;
        ++fwd;
        uint64_t prev = At(back)->prev;
        if (prev < start) return back;
        back = prev;
      }
    }
    std::vector<int8_t>& cache = MatchCache();
    for (uint64_t q = start; q <= last_; ++q) {
      const Slot* s = At(q);
      if (!s->live()) continue;
      int8_t& m = cache[s->subj];
      if (m < 0) m = SubjectMatches(filter, subjects_[s->subj].name) ? 1 : 0;
      if (m) return q;
    }
    return 0;
  }

  // Per-subject-id filter results for one scan (-1: not yet known); kept
  // between calls so a scan does not allocate.
  std::vector<int8_t>& MatchCache() const {
    match_cache_.assign(subjects_.size(), -1);
    return match_cache_;
  }

  uint64_t PurgeFiltered(std::string_view filter, uint64_t upto, uint64_t keep) {
    std::vector<uint64_t> victims;
    uint64_t limit = upto > 0 ? upto : last_ + 1;
    if (IsLiteral(filter)) {
      auto it = subject_ids_.find(filter);
      if (it == subject_ids_.end()) return 0;
      const SubjectInfo& info = subjects_[it->second].info;
      if (keep >= info.count && keep > 0) return 0;
      uint64_t max = keep > 0 ? info.count - keep : info.count;
      for (uint64_t q = info.first; q != 0 && q < limit && victims.size() < max; q = At(q)->next) {
        victims.push_back(q);
      }
    } else {
      std::vector<int8_t>& cache = MatchCache();
      for (uint64_t q = base_; q <= last_ && q < limit; ++q) {
        const Slot* s = At(q);
        if (!s->live()) continue;
        int8_t& m = cache[s->subj];
        if (m < 0) m = SubjectMatches(filter, subjects_[s->subj].name) ? 1 : 0;
        if (m) victims.push_back(q);
      }
      if (keep > 0) victims.resize(victims.size() > keep ? victims.size() - keep : 0);
    }
    for (uint64_t q : victims) RemoveSlot(q, false);
    return victims.size();
  }

  Limits limits_;
  SlotQueue<Slot> slots_;
  uint64_t base_ = 1;
  uint64_t last_ = 0;
  uint64_t msgs_ = 0;
  uint64_t bytes_ = 0;
  int64_t last_ts_ = 0;
  std::vector<Subj> subjects_;
  std::unordered_map<std::string, uint32_t, StringHash, std::equal_to<>> subject_ids_;
  std::vector<uint32_t> free_ids_;
  mutable std::vector<int8_t> match_cache_;
};

}  // namespace fjord::store
