#pragma once
// The subject index: which subscriptions match a published subject.
//
// A token trie with `*` and `>` nodes, guarded by a reader-writer lock, in
// front of which every thread keeps its own match cache. The cache is
// invalidated by a generation counter that every Insert/Remove bumps, so the
// hot path (a cache hit) takes no lock and touches no shared cache line
// except the generation.
#include <array>
#include <atomic>
#include <functional>
#include <memory>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace fjord::server {

class Client;
class Remote;

// A message as an internal subscriber sees it. Views are valid only during
// the handler call.
struct InternalMsg {
  std::string_view subject;
  std::string_view reply;
  std::string_view hdr;   // raw header block, empty when none
  std::string_view data;  // body without headers
  uint64_t client_id = 0; // publishing client, 0 for internal publishes
};
// Runs on the publishing thread; must not block.
using InternalHandler = std::function<void(const InternalMsg&)>;

struct Subscription {
  std::shared_ptr<Client> client;  // null for internal subscriptions
  InternalHandler handler;         // set for internal subscriptions
  std::string subject;
  std::string queue;
  std::string sid;
  std::atomic<uint64_t> delivered{0};
  std::atomic<uint64_t> max{0};  // auto-unsubscribe after this many; 0 = none
  std::atomic<bool> closed{false};
  // Set for interest another server announced over a route: messages that
  // match go there (once per server, however many of its subscriptions
  // match).
  std::shared_ptr<Remote> remote;
  // A remote queue subscription stands for this many members there; the
  // group's member is picked with that weight.
  std::atomic<int32_t> weight{1};
  // Internal subscriptions (and a leaf node's) are this server's own
  // business unless set: then the cluster learns of them as of a client's.
  bool propagate = false;
};
using SubPtr = std::shared_ptr<Subscription>;

struct MatchResult {
  std::vector<SubPtr> psubs;
  std::vector<std::vector<SubPtr>> qsubs;  // one vector per queue group
  // Some queue group has a member on another server (then members are
  // weighed; without, the pick stays a plain random one).
  bool remote_qsubs = false;
  bool empty() const { return psubs.empty() && qsubs.empty(); }
};
using MatchPtr = std::shared_ptr<const MatchResult>;

// /subsz's statistics, named as nats-server's SublistStats.
struct SublistStats {
  uint64_t num_subscriptions = 0;
  uint64_t num_cache = 0;  // entries in the threads' match caches
  uint64_t num_inserts = 0;
  uint64_t num_removes = 0;
  uint64_t num_matches = 0;
  double cache_hit_rate = 0;  // hits / matches
  // Over every result computed on a cache miss since start (nats-server
  // looks at the results in its one shared cache).
  uint64_t max_fanout = 0;
  double avg_fanout = 0;
};

// The local interest of one subject (or subject and queue group) changed:
// `count` subscriptions now (0 = none left). See Sublist::SetInterestObserver.
using InterestObserver =
    std::function<void(std::string_view subject, std::string_view queue, int32_t count)>;

class Sublist {
 public:
  // `account`: the name of the account the index belongs to.
  explicit Sublist(std::string account = "$G");
  ~Sublist();
  Sublist(const Sublist&) = delete;
  Sublist& operator=(const Sublist&) = delete;

  // The subject must be valid (proto::ValidSubscribeSubject).
  void Insert(const SubPtr& sub);
  // Returns false if the subscription was not present.
  bool Remove(const SubPtr& sub);
  // Thread-safe; results may be cached per thread until the next change.
  MatchPtr Match(std::string_view subject) const;
  size_t Count() const;
  SublistStats Stats() const;
  // Changes with every Insert/Remove: a result obtained under generation g
  // is still exact while generation() == g.
  uint64_t generation() const { return gen_.load(std::memory_order_acquire); }
  const std::string& account() const { return account_; }

  // -- interest for the cluster (cluster/routes.h) ---------------------------
  // Local subscriptions (clients', internal ones marked `propagate`, and
  // those of leaf nodes we are the hub of, also marked so) are counted per
  // subject, or per subject and queue group. The observer
  // learns of a plain subject's first and last subscription and of every
  // change in a queue group's member count. It runs under the index's lock,
  // so changes reach it in order: it must not block or use this Sublist.
  void SetInterestObserver(InterestObserver fn);
  // Calls fn for every interest there is now (under the lock, as above).
  void ForEachInterest(const InterestObserver& fn) const;

  // -- interest for leaf nodes (leaf/leafnodes.h) ----------------------------
  // Every subscription inserted (delta 1) or removed (-1), whoever made it:
  // a leaf connection decides for itself which of them it announces. Runs
  // under the index's lock, as the interest observer.
  using SubscriptionObserver = std::function<void(const Subscription& sub, int delta)>;
  void SetSubscriptionObserver(SubscriptionObserver fn);
  // Calls fn for every subscription there is now, then `then`, all under
  // the (shared) lock: no observer call can come in between, so a leaf that
  // starts listening in `then` misses nothing and counts nothing twice.
  void ForEachSubscription(const std::function<void(const Subscription&)>& fn,
                           const std::function<void()>& then) const;

 private:
  struct Level;
  struct Node;
  MatchPtr MatchLocked(std::string_view subject) const;
  // Under mu_: counts `sub` in (delta 1) or out of (-1) the local interest.
  void NoteInterest(const Subscription& sub, int delta);

  // Match counters, sharded by thread so that threads matching at once do
  // not contend for one cache line on every publish.
  struct alignas(64) Shard {
    std::atomic<uint64_t> matches{0};
    std::atomic<uint64_t> hits{0};
    std::atomic<int64_t> cached{0};    // cache entries added minus dropped
    std::atomic<uint64_t> computed{0};  // results computed (cache misses)
    std::atomic<uint64_t> fanout_sum{0};
    std::atomic<uint64_t> fanout_max{0};
  };
  static constexpr size_t kShards = 16;
  Shard& MyShard() const;
  mutable std::array<Shard, kShards> shards_;

  mutable std::shared_mutex mu_;
  std::unique_ptr<Level> root_;
  size_t count_ = 0;
  uint64_t inserts_ = 0;  // guarded by mu_
  uint64_t removes_ = 0;
  std::atomic<uint64_t> gen_{1};
  const uint64_t id_;  // distinguishes Sublists in the thread-local caches
  const std::string account_;
  // Local interest by "subject" or "subject queue"; guarded by mu_.
  std::unordered_map<std::string, int32_t> interest_;
  InterestObserver on_interest_;  // guarded by mu_
  SubscriptionObserver on_sub_;   // guarded by mu_
};

}  // namespace fjord::server
