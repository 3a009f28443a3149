#include "server/sublist.h"

#include <algorithm>
#include <map>
#include <mutex>
#include <unordered_map>

namespace fjord::server {

struct Sublist::Node {
  std::unique_ptr<Level> next;
  std::vector<SubPtr> psubs;
  std::map<std::string, std::vector<SubPtr>, std::less<>> qsubs;
  bool empty() const { return !next && psubs.empty() && qsubs.empty(); }
};

struct StringHash {
  using is_transparent = void;
  size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
};

struct Sublist::Level {
  std::unordered_map<std::string, std::unique_ptr<Node>, StringHash, std::equal_to<>> nodes;
  std::unique_ptr<Node> pwc;  // '*'
  std::unique_ptr<Node> fwc;  // '>'
  bool empty() const { return nodes.empty() && !pwc && !fwc; }
};

namespace {

std::atomic<uint64_t> g_next_id{1};

template <typename F>
void ForEachToken(std::string_view s, F&& f) {
  size_t start = 0;
  while (true) {
    size_t dot = s.find('.', start);
    if (dot == std::string_view::npos) {
      f(s.substr(start));
      return;
    }
    f(s.substr(start, dot - start));
    start = dot + 1;
  }
}

struct Cache {
  uint64_t owner = 0;
  uint64_t gen = 0;
  std::unordered_map<std::string, MatchPtr, StringHash, std::equal_to<>> map;
};
constexpr size_t kMaxCache = 4096;
// One cache per Sublist a thread matches in, direct-mapped by the
// Sublist's id: connections of a few accounts sharing a thread do not
// clear each other's cache on every publish.
constexpr size_t kCacheSlots = 8;

thread_local std::array<Cache, kCacheSlots> t_cache;

std::atomic<size_t> g_next_thread{0};
thread_local size_t t_shard = g_next_thread.fetch_add(1, std::memory_order_relaxed);

}  // namespace

Sublist::Sublist(std::string account)
    : root_(std::make_unique<Level>()), id_(g_next_id.fetch_add(1)), account_(std::move(account)) {}
Sublist::~Sublist() = default;

void Sublist::Insert(const SubPtr& sub) {
  std::unique_lock lock(mu_);
  Level* level = root_.get();
  Node* node = nullptr;
  std::vector<std::string_view> toks;
  ForEachToken(sub->subject, [&](std::string_view t) { toks.push_back(t); });
  for (size_t i = 0; i < toks.size(); ++i) {
    std::string_view t = toks[i];
    std::unique_ptr<Node>* slot;
    if (t == "*") {
      slot = &level->pwc;
    } else if (t == ">") {
      slot = &level->fwc;
    } else {
      auto it = level->nodes.find(t);
      if (it == level->nodes.end()) it = level->nodes.emplace(std::string(t), nullptr).first;
      slot = &it->second;
    }
    if (!*slot) *slot = std::make_unique<Node>();
    node = slot->get();
    if (i + 1 < toks.size()) {
      if (!node->next) node->next = std::make_unique<Level>();
      level = node->next.get();
    }
  }
  if (sub->queue.empty()) {
    node->psubs.push_back(sub);
  } else {
    node->qsubs[sub->queue].push_back(sub);
  }
  ++count_;
  ++inserts_;
  gen_.fetch_add(1, std::memory_order_release);
  NoteInterest(*sub, 1);
}

void Sublist::NoteInterest(const Subscription& sub, int delta) {
  if (on_sub_) on_sub_(sub, delta);
  if (!sub.propagate && (sub.remote || !sub.client)) return;
  std::string key = sub.subject;
  if (!sub.queue.empty()) {
    key.push_back(' ');
    key.append(sub.queue);
  }
  int32_t n;
  if (delta > 0) {
    n = ++interest_[key];
  } else {
    auto it = interest_.find(key);
    if (it == interest_.end()) return;
    n = --it->second;
    if (n <= 0) interest_.erase(it);
  }
  // A plain subject matters to the cluster only at its first and last
  // subscription; a queue group's weight at every change.
  if (on_interest_ && (!sub.queue.empty() || (delta > 0 ? n == 1 : n == 0))) {
    on_interest_(sub.subject, sub.queue, n < 0 ? 0 : n);
  }
}

void Sublist::SetInterestObserver(InterestObserver fn) {
  std::unique_lock lock(mu_);
  on_interest_ = std::move(fn);
}

void Sublist::SetSubscriptionObserver(SubscriptionObserver fn) {
  std::unique_lock lock(mu_);
  on_sub_ = std::move(fn);
}

namespace {
template <typename Level, typename Fn>
void WalkLevel(const Level* level, const Fn& fn) {
  if (!level) return;
  auto node = [&](const auto& n) {
    if (!n) return;
    for (const auto& s : n->psubs) fn(*s);
    for (const auto& [q, members] : n->qsubs) {
      for (const auto& s : members) fn(*s);
    }
    WalkLevel(n->next.get(), fn);
  };
  for (const auto& [tok, n] : level->nodes) node(n);
  node(level->pwc);
  node(level->fwc);
}
}  // namespace

void Sublist::ForEachSubscription(const std::function<void(const Subscription&)>& fn,
                                  const std::function<void()>& then) const {
  std::shared_lock lock(mu_);
  WalkLevel(root_.get(), fn);
  if (then) then();
}

void Sublist::ForEachInterest(const InterestObserver& fn) const {
  std::shared_lock lock(mu_);
  for (const auto& [key, n] : interest_) {
    std::string_view k = key;
    size_t sp = k.find(' ');
    if (sp == std::string_view::npos) {
      fn(k, {}, n);
    } else {
      fn(k.substr(0, sp), k.substr(sp + 1), n);
    }
  }
}

bool Sublist::Remove(const SubPtr& sub) {
  std::unique_lock lock(mu_);
  std::vector<std::string_view> toks;
  ForEachToken(sub->subject, [&](std::string_view t) { toks.push_back(t); });
  // Walk down remembering the path so empty nodes can be pruned.
  struct Step {
    Level* level;
    std::string_view tok;
    Node* node;
  };
  std::vector<Step> path;
  Level* level = root_.get();
  for (size_t i = 0; i < toks.size(); ++i) {
    if (!level) return false;
    std::string_view t = toks[i];
    Node* n = nullptr;
    if (t == "*") {
      n = level->pwc.get();
    } else if (t == ">") {
      n = level->fwc.get();
    } else {
      auto it = level->nodes.find(t);
      if (it != level->nodes.end()) n = it->second.get();
    }
    if (!n) return false;
    path.push_back({level, t, n});
    level = n->next.get();
  }
  Node* node = path.back().node;
  bool found = false;
  if (sub->queue.empty()) {
    auto it = std::find(node->psubs.begin(), node->psubs.end(), sub);
    if (it != node->psubs.end()) {
      node->psubs.erase(it);
      found = true;
    }
  } else {
    auto q = node->qsubs.find(sub->queue);
    if (q != node->qsubs.end()) {
      auto it = std::find(q->second.begin(), q->second.end(), sub);
      if (it != q->second.end()) {
        q->second.erase(it);
        found = true;
        if (q->second.empty()) node->qsubs.erase(q);
      }
    }
  }
  if (!found) return false;
  // Prune from the leaf up.
  for (size_t i = path.size(); i-- > 0;) {
    Step& s = path[i];
    if (s.node->next && s.node->next->empty()) s.node->next.reset();
    if (!s.node->empty()) break;
    if (s.tok == "*") {
      s.level->pwc.reset();
    } else if (s.tok == ">") {
      s.level->fwc.reset();
    } else {
      s.level->nodes.erase(s.level->nodes.find(s.tok));
    }
  }
  --count_;
  ++removes_;
  gen_.fetch_add(1, std::memory_order_release);
  NoteInterest(*sub, -1);
  return true;
}

size_t Sublist::Count() const {
  std::shared_lock lock(mu_);
  return count_;
}

namespace {
void Collect(const std::vector<SubPtr>& psubs,
             const std::map<std::string, std::vector<SubPtr>, std::less<>>& qsubs,
             MatchResult* r, std::map<std::string_view, size_t>* qindex) {
  r->psubs.insert(r->psubs.end(), psubs.begin(), psubs.end());
  for (const auto& [name, members] : qsubs) {
    if (members.empty()) continue;
    for (const auto& m : members) r->remote_qsubs = r->remote_qsubs || m->remote;
    auto it = qindex->find(name);
    if (it == qindex->end()) {
      qindex->emplace(name, r->qsubs.size());
      r->qsubs.push_back(members);
    } else {
      auto& v = r->qsubs[it->second];
      v.insert(v.end(), members.begin(), members.end());
    }
  }
}
}  // namespace

MatchPtr Sublist::MatchLocked(std::string_view subject) const {
  auto result = std::make_shared<MatchResult>();
  std::vector<std::string_view> toks;
  ForEachToken(subject, [&](std::string_view t) { toks.push_back(t); });
  for (auto t : toks)
    if (t.empty()) return result;  // invalid subjects match nothing
  std::map<std::string_view, size_t> qindex;
  // Iterative DFS over (level, token index).
  struct Frame {
    const Level* level;
    size_t i;
  };
  std::vector<Frame> stack{{root_.get(), 0}};
  while (!stack.empty()) {
    Frame f = stack.back();
    stack.pop_back();
    const Level* l = f.level;
    if (l->fwc) Collect(l->fwc->psubs, l->fwc->qsubs, result.get(), &qindex);
    auto visit = [&](const Node* n) {
      if (f.i + 1 == toks.size()) {
        Collect(n->psubs, n->qsubs, result.get(), &qindex);
      } else if (n->next) {
        stack.push_back({n->next.get(), f.i + 1});
      }
    };
    if (l->pwc) visit(l->pwc.get());
    auto it = l->nodes.find(toks[f.i]);
    if (it != l->nodes.end()) visit(it->second.get());
  }
  return result;
}

Sublist::Shard& Sublist::MyShard() const { return shards_[t_shard % kShards]; }

MatchPtr Sublist::Match(std::string_view subject) const {
  constexpr auto kRelaxed = std::memory_order_relaxed;
  Shard& sh = MyShard();
  sh.matches.fetch_add(1, kRelaxed);
  uint64_t gen = gen_.load(std::memory_order_acquire);
  Cache& c = t_cache[id_ % kCacheSlots];
  if (c.owner != id_ || c.gen != gen) {
    // Entries of another Sublist were counted there (it may be gone).
    if (c.owner == id_) sh.cached.fetch_sub(int64_t(c.map.size()), kRelaxed);
    c.map.clear();
    c.owner = id_;
    c.gen = gen;
  } else {
    auto it = c.map.find(subject);
    if (it != c.map.end()) {
      sh.hits.fetch_add(1, kRelaxed);
      return it->second;
    }
  }
  MatchPtr r;
  {
    std::shared_lock lock(mu_);
    r = MatchLocked(subject);
  }
  uint64_t fanout = r->psubs.size() + r->qsubs.size();
  sh.computed.fetch_add(1, kRelaxed);
  sh.fanout_sum.fetch_add(fanout, kRelaxed);
  if (fanout > sh.fanout_max.load(kRelaxed)) sh.fanout_max.store(fanout, kRelaxed);
  // Ack subjects carry the message's sequences: each is seen once, and
  // caching them would only evict the subjects that repeat.
  if (subject.starts_with("$JS.ACK.")) return r;
  if (c.map.size() >= kMaxCache) {
    sh.cached.fetch_sub(int64_t(c.map.size()), kRelaxed);
    c.map.clear();
  }
  c.map.emplace(std::string(subject), r);
  sh.cached.fetch_add(1, kRelaxed);
  return r;
}

SublistStats Sublist::Stats() const {
  SublistStats st;
  {
    std::shared_lock lock(mu_);
    st.num_subscriptions = count_;
    st.num_inserts = inserts_;
    st.num_removes = removes_;
  }
  constexpr auto kRelaxed = std::memory_order_relaxed;
  uint64_t hits = 0, computed = 0, fanout_sum = 0;
  int64_t cached = 0;
  for (const auto& sh : shards_) {
    st.num_matches += sh.matches.load(kRelaxed);
    hits += sh.hits.load(kRelaxed);
    cached += sh.cached.load(kRelaxed);
    computed += sh.computed.load(kRelaxed);
    fanout_sum += sh.fanout_sum.load(kRelaxed);
    st.max_fanout = std::max(st.max_fanout, sh.fanout_max.load(kRelaxed));
  }
  // A cache dropped by its thread after a change elsewhere is subtracted
  // only when that thread next matches: never show a negative size.
  st.num_cache = cached > 0 ? uint64_t(cached) : 0;
  if (st.num_matches > 0) st.cache_hit_rate = double(hits) / double(st.num_matches);
  if (computed > 0) st.avg_fanout = double(fanout_sum) / double(computed);
  return st;
}

}  // namespace fjord::server
