#include "jetstream/cluster_api.h"

#include <algorithm>
#include <map>
#include <set>

#include <fmt/format.h>

#include "base/log.h"
#include "jetstream/advisory.h"
#include "jetstream/api_common.h"
#include "jetstream/consumer.h"
#include "jetstream/jetstream.h"
#include "jetstream/stream.h"
#include "proto/parser.h"
#include "store/env.h"

namespace fjord::jetstream {

// A server's share of an account's stream list and info: every clustered
// JetStream answers `kShareRequest` with the streams it holds and their
// usage, on the reply subject the asking meta leader listens on.
namespace {
constexpr std::string_view kShareRequest = "$FJR.JS.SHARE";
constexpr std::string_view kShareReplies = "$FJR.JS.SR.";  // + <server id>.<gather id>
constexpr auto kGatherTimeout = std::chrono::milliseconds(1500);
constexpr int kNamesLimit = 1024;
constexpr int kListLimit = 256;
}  // namespace

struct ClusterState {
  server::SubPtr share_sub;
  server::SubPtr replies_sub;
  std::string replies_prefix;  // kShareReplies + server id + "."
  struct Gather {
    std::set<std::string> waiting;  // servers not heard from yet
    std::vector<Json> shares;
    std::function<void(std::vector<Json>& shares, const std::set<std::string>& missing)> done;
    std::unique_ptr<asio::steady_timer> timer;
  };
  uint64_t next_gather = 1;
  std::map<uint64_t, Gather> gathers;
};

namespace {

const std::string& AccountName(JetStream* js) { return js->account()->name(); }

std::vector<std::string> Subjects(const Json& config) {
  std::vector<std::string> out;
  if (auto it = config.find("subjects"); it != config.end() && it->is_array())
    for (const auto& s : *it)
      if (s.is_string()) out.push_back(s.get<std::string>());
  return out;
}

// An assignment's config, as it was checked when it was proposed.
StreamConfig ConfigOf(const StreamAssignment& a) {
  StreamConfig cfg;
  ParseStreamConfig(a.config, &cfg);
  CheckStreamConfig(&cfg, false, /*clustered=*/true);
  return cfg;
}

// The single-server checks of api.cc, against the cluster's assignments.
std::optional<ApiError> CheckOverlap(const std::vector<StreamAssignment>& all, const StreamConfig& cfg) {
  for (const auto& a : all)
    if (a.name() != cfg.name && AnySubjectsOverlap(Subjects(a.config), cfg.subjects))
      return MakeError(Err::StreamSubjectOverlap);
  return std::nullopt;
}

bool SourcingCycle(const std::vector<StreamAssignment>& all, const StreamConfig& cfg) {
  return SourcingCycle(cfg, [&all](const std::string& name) {
    for (const auto& a : all)
      if (a.name() == name) return Origins(ConfigOf(a));
    return std::vector<std::string>{};
  });
}

// The servers holding a replica of every stream `cfg` mirrors or sources
// that exists. A copy is read from the local replica of its origin where
// there is one (else through a consumer on another server: Sourcing's
// feed), so these are placed first. Nullopt when it copies from no
// existing stream.
std::optional<std::set<std::string>> OriginHosts(const std::vector<StreamAssignment>& all,
                                                 const StreamConfig& cfg) {
  std::optional<std::set<std::string>> hosts;
  for (const auto& o : Origins(cfg))
    for (const auto& a : all) {
      if (a.name() != o) continue;
      std::set<std::string> held(a.peers.begin(), a.peers.end());
      if (!hosts) hosts = std::move(held);
      else std::erase_if(*hosts, [&](const std::string& h) { return !held.count(h); });
    }
  return hosts;
}

// The servers a stream of `cfg` fits on (cluster, tags), those holding
// what it copies from first, then the least loaded; nullopt with the error
// when none does.
std::optional<std::vector<std::string>> Fitting(JetStream* js, const StreamConfig& cfg,
                                                const std::vector<StreamAssignment>& all, ApiError* err) {
  ClusterMeta* meta = js->meta();
  auto no_peers = [&](const std::string& why) {
    *err = MakeError(Err::ClusterNoPeers, {{"err", "no suitable peers for placement" + why}});
    return std::nullopt;
  };
  std::string cluster;
  std::vector<std::string> tags;
  if (cfg.placement.is_object()) {
    cluster = Field<std::string>(cfg.placement, "cluster", "");
    if (auto t = cfg.placement.find("tags"); t != cfg.placement.end() && t->is_array())
      for (const auto& tag : *t)
        if (tag.is_string()) {
          std::string s = tag.get<std::string>();
          std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
          tags.push_back(s);
        }
  }
  if (!cluster.empty() && cluster != meta->cluster_name()) return no_peers(", no cluster named \"" + cluster + "\"");
  auto origin_hosts = OriginHosts(all, cfg);
  auto candidates = meta->Candidates();
  std::vector<PlacementCandidate> fit;
  for (auto& c : candidates) {
    bool ok = std::all_of(tags.begin(), tags.end(), [&](const std::string& t) {
      return std::find(c.tags.begin(), c.tags.end(), t) != c.tags.end();
    });
    if (ok) fit.push_back(std::move(c));
  }
  if (fit.empty()) {
    std::string list;
    for (const auto& t : tags) list += (list.empty() ? "'" : ", '") + t + "'";
    return no_peers(tags.empty() ? "" : ", tags not matched [" + list + "]");
  }
  auto local = [&](const PlacementCandidate& c) { return origin_hosts && origin_hosts->count(c.name) > 0; };
  std::sort(fit.begin(), fit.end(), [&](const PlacementCandidate& a, const PlacementCandidate& b) {
    if (local(a) != local(b)) return local(a);
    return a.streams != b.streams ? a.streams < b.streams : a.name < b.name;
  });
  std::vector<std::string> hosts;
  for (const auto& c : fit) hosts.push_back(c.name);
  return hosts;
}

ApiError TooFewPeers(size_t placed, size_t replicas) {
  return MakeError(Err::ClusterNoPeers,
                   {{"err", fmt::format("no suitable peers for placement, {} of {} replicas could be placed", placed,
                                        replicas)}});
}

// Where a new stream of `cfg` goes: its replicas on the least loaded of the
// servers it fits on.
std::optional<std::vector<std::string>> Place(JetStream* js, const StreamConfig& cfg,
                                              const std::vector<StreamAssignment>& all, ApiError* err) {
  auto hosts = Fitting(js, cfg, all, err);
  if (!hosts) return std::nullopt;
  size_t replicas = static_cast<size_t>(std::max<int64_t>(1, cfg.num_replicas));
  if (hosts->size() < replicas) {
    *err = TooFewPeers(hosts->size(), replicas);
    return std::nullopt;
  }
  hosts->resize(replicas);
  return hosts;
}

// The servers a replicated stream `a` (with config `cfg`) could gain a
// replica on: those it fits on and is not held by, least loaded first.
std::optional<std::vector<std::string>> Unheld(JetStream* js, const StreamConfig& cfg,
                                               const std::vector<StreamAssignment>& all, const StreamAssignment& a,
                                               ApiError* err) {
  auto hosts = Fitting(js, cfg, all, err);
  if (hosts) std::erase_if(*hosts, [&](const std::string& h) { return a.Holds(h); });
  return hosts;
}

// More than one replica: up to five, as nats-server allows.
std::optional<ApiError> CheckReplicas(const StreamConfig& cfg) {
  if (cfg.num_replicas > 5)
    return MakeError(Err::StreamInvalidConfigF, {{"err", "maximum replicas is 5"}});
  return std::nullopt;
}

// Proposes `c`; a failed proposal is answered here (on the JetStream thread).
void Propose(JetStream* js, const Inbound& m, const char* type, AssignmentChange c) {
  js->meta()->Propose(c, [js, copy = Detached(m), type](const std::string& error) {
    if (error.empty()) return;
    asio::post(js->ctx(), [js, copy, type, error] {
      JetStream::WorkScope scope(js);
      log::Warn("JetStream cluster: a stream assignment was not committed: {}", error);
      ReplyError(js, copy, type, MakeError(Err::ClusterNotAvail));
    });
  });
}

// Parses a create or update request's config; replies the error if any.
bool ParseRequest(JetStream* js, Inbound& m, const char* type, const std::string& name, StreamConfig* cfg,
                  nlohmann::json* body) {
  ApiError err;
  if (!ParseBody(m.data, body, &err)) return ReplyError(js, m, type, err), false;
  if (auto e = ParseStreamConfig(*body, cfg)) return ReplyError(js, m, type, *e), false;
  if (cfg->name.empty()) cfg->name = name;
  if (cfg->name != name) return ReplyError(js, m, type, MakeError(Err::StreamMismatch)), false;
  if (auto e = CheckReplicas(*cfg)) return ReplyError(js, m, type, *e), false;
  if (auto e = CheckStreamConfig(cfg, Pedantic(*body), /*clustered=*/true)) return ReplyError(js, m, type, *e), false;
  return true;
}

void LeaderCreate(JetStream* js, Inbound& m, const std::string& name) {
  const char* type = "stream_create_response";
  if (!ValidStreamName(name))
    return ReplyError(js, m, type, MakeError(Err::StreamInvalidConfigF, {{"err", "invalid stream name"}}));
  StreamConfig cfg;
  nlohmann::json body;
  if (!ParseRequest(js, m, type, name, &cfg, &body)) return;
  if (body.value("sealed", false))
    return ReplyError(js, m, type,
                      MakeError(Err::StreamInvalidConfigF, {{"err", "stream configuration for create can not be sealed"}}));
  SetRequiredLevel(&cfg);
  ClusterMeta* meta = js->meta();
  auto all = meta->Streams(AccountName(js));
  AssignmentChange c{AssignmentChange::Op::kCreate, AssignmentChange::Outcome::kApplied, {}, name, m.reply};
  if (auto existing = meta->FindStream(AccountName(js), name)) {
    StreamConfig old = ConfigOf(*existing);
    KeepStoredLevel(&cfg.metadata, old.metadata);
    if (ToJson(old) != ToJson(cfg)) return ReplyError(js, m, type, MakeError(Err::StreamNameExist));
    // The same stream again: its server answers with its info.
    c.stream = *existing;
    return Propose(js, m, type, std::move(c));
  }
  const auto& o = js->options();
  if (o.max_streams >= 0 && int64_t(all.size()) >= o.max_streams)
    return ReplyError(js, m, type, MakeError(Err::MaximumStreamsLimit));
  if (auto e = CheckOverlap(all, cfg)) return ReplyError(js, m, type, *e);
  if (SourcingCycle(all, cfg)) return ReplyError(js, m, type, CycleError());
  if (auto e = CheckStreamBytes(o, cfg)) return ReplyError(js, m, type, *e);
  ApiError err;
  auto hosts = Place(js, cfg, all, &err);
  if (!hosts) return ReplyError(js, m, type, err);
  c.stream = StreamAssignment{AccountName(js), ToJson(cfg), std::move(*hosts), NowNs()};
  if (cfg.num_replicas > 1) c.stream.group_epoch = c.stream.created;
  Propose(js, m, type, std::move(c));
}

void LeaderUpdate(JetStream* js, Inbound& m, const std::string& name) {
  const char* type = "stream_update_response";
  StreamConfig cfg;
  nlohmann::json body;
  ClusterMeta* meta = js->meta();
  auto existing = meta->FindStream(AccountName(js), name);
  if (!ParseRequest(js, m, type, name, &cfg, &body)) return;
  if (!existing) return ReplyError(js, m, type, MakeError(Err::StreamNotFound));
  SetRequiredLevel(&cfg);
  if (auto e = CheckStreamUpdate(ConfigOf(*existing), cfg)) return ReplyError(js, m, type, *e);
  auto all = meta->Streams(AccountName(js));
  std::vector<std::string> peers = existing->peers;
  const int64_t from = std::max<int64_t>(1, ConfigOf(*existing).num_replicas);
  const int64_t to = std::max<int64_t>(1, cfg.num_replicas);
  if (from != to) {
    // The stream's group adds or removes members (StreamReplica::Tick); up
    // from one replica, the server holding it starts the group (Adopt);
    // down to one, the server kept leaves it (Unadopt).
    if (to == 1) {
      // Down to one: the others stay in the group until its leader has
      // removed them, so the one kept has everything committed (the
      // stream's leader when this server knows it, the first placed else).
      std::string keep = peers.front();
      if (auto s = js->FindStream(name); s && s->replica()) {
        std::string leader = s->replica()->Leader();
        if (std::find(peers.begin(), peers.end(), leader) != peers.end()) keep = leader;
      }
      peers = {keep};
    } else if (to < from && 2 * to <= from)
      // The servers left must be a majority of the old group, which elects
      // a leader once the others have gone.
      return ReplyError(js, m, type,
                        MakeError(Err::StreamInvalidConfigF,
                                  {{"err", fmt::format("scale down from {} replicas to more than {} at a time",
                                                       from, from / 2)}}));
    if (to > from) {
      // Keep where it is; add the least loaded of the others.
      ApiError err;
      auto free = Unheld(js, cfg, all, *existing, &err);
      if (!free) return ReplyError(js, m, type, err);
      for (const auto& h : *free)
        if (static_cast<int64_t>(peers.size()) < to) peers.push_back(h);
      if (static_cast<int64_t>(peers.size()) < to)
        return ReplyError(js, m, type, TooFewPeers(peers.size(), static_cast<size_t>(to)));
    } else if (to > 1) {
      peers.resize(static_cast<size_t>(to));
    }
  }
  if (SourcingCycle(all, cfg)) return ReplyError(js, m, type, CycleError());
  if (auto e = CheckOverlap(all, cfg)) return ReplyError(js, m, type, *e);
  AssignmentChange c{AssignmentChange::Op::kUpdate, AssignmentChange::Outcome::kApplied, *existing, name, m.reply};
  c.stream.config = ToJson(cfg);
  c.stream.peers = std::move(peers);
  // Up from one replica: a new group (its name apart from any earlier one).
  if (from == 1 && to > 1) c.stream.group_epoch = NowNs();
  Propose(js, m, type, std::move(c));
}

void LeaderDelete(JetStream* js, Inbound& m, const std::string& name) {
  const char* type = "stream_delete_response";
  auto existing = js->meta()->FindStream(AccountName(js), name);
  if (!existing) return ReplyError(js, m, type, MakeError(Err::StreamNotFound));
  AssignmentChange c{AssignmentChange::Op::kDelete, AssignmentChange::Outcome::kApplied, *existing, name, m.reply};
  Propose(js, m, type, std::move(c));
}

// `$JS.API.STREAM.PEER.REMOVE.<S>` for a replicated stream: the peer is
// replaced by a server that fits and holds no replica of it (as
// nats-server: 10040 if it is not a member, 10075 when there is no
// replacement), through the same assignment update as scaling.
void LeaderPeerRemove(JetStream* js, Inbound& m, const StreamAssignment& a) {
  const char* type = "stream_remove_peer_response";
  nlohmann::json body;
  ApiError err;
  if (!ParseBody(m.data, &body, &err)) return ReplyError(js, m, type, err);
  std::string peer = Field<std::string>(body, "peer", "");
  if (peer.empty()) return ReplyError(js, m, type, MakeError(Err::BadRequest));
  auto victim = std::find(a.peers.begin(), a.peers.end(), peer);
  if (victim == a.peers.end()) return ReplyError(js, m, type, MakeError(Err::ClusterPeerNotMember));
  StreamConfig cfg = ConfigOf(a);
  // Two replicas: the one left is no quorum of the old group, which could
  // then neither add the replacement nor drop the removed one.
  if (a.peers.size() < 3) {
    log::Warn("JetStream cluster: stream '{} > {}': peer {} not removed: a stream of two replicas cannot lose one "
              "before its replacement has joined (scale it to three first)",
              a.account, a.name(), peer);
    return ReplyError(js, m, type, MakeError(Err::PeerRemap));
  }
  auto free = Unheld(js, cfg, js->meta()->Streams(AccountName(js)), a, &err);
  if (!free || free->empty()) return ReplyError(js, m, type, MakeError(Err::PeerRemap));
  const std::string& replacement = free->front();
  AssignmentChange c{AssignmentChange::Op::kUpdate, AssignmentChange::Outcome::kApplied, a, a.name(), {}};
  c.stream.peers[static_cast<size_t>(victim - a.peers.begin())] = replacement;
  log::Info("JetStream cluster: stream '{} > {}': replacing peer {} with {}", a.account, a.name(), peer, replacement);
  js->meta()->Propose(c, [js, copy = Detached(m), type](const std::string& error) {
    asio::post(js->ctx(), [js, copy, type, error] {
      JetStream::WorkScope scope(js);
      if (!error.empty()) return ReplyError(js, copy, type, MakeError(Err::ClusterNotAvail));
      Json j = Typed(type);
      j["success"] = true;
      ReplyOk(js, copy, j);
    });
  });
}

std::vector<StreamAssignment> Matching(JetStream* js, const std::string& subject) {
  auto all = js->meta()->Streams(AccountName(js));
  if (subject.empty()) return all;
  std::vector<StreamAssignment> out;
  for (auto& a : all) {
    auto subjects = Subjects(a.config);
    if (std::any_of(subjects.begin(), subjects.end(),
                    [&](const std::string& s) { return proto::SubjectsOverlap(s, subject); }))
      out.push_back(std::move(a));
  }
  return out;
}

// A names or list request: its offset and the assignments matching its
// subject filter. False (answered) when the body is not JSON.
bool PageRequest(JetStream* js, Inbound& m, const char* type, int64_t* offset,
                 std::vector<StreamAssignment>* matched) {
  nlohmann::json body;
  ApiError err;
  if (!ParseBody(m.data, &body, &err)) return ReplyError(js, m, type, err), false;
  *offset = std::max<int64_t>(0, Field<int64_t>(body, "offset", 0));
  *matched = Matching(js, Field<std::string>(body, "subject", ""));
  return true;
}

void LeaderNames(JetStream* js, Inbound& m) {
  const char* type = "stream_names_response";
  int64_t offset;
  std::vector<StreamAssignment> matched;
  if (!PageRequest(js, m, type, &offset, &matched)) return;
  Json j = Typed(type);
  j["total"] = matched.size();
  j["offset"] = offset;
  j["limit"] = kNamesLimit;
  Json names = Json::array();
  for (size_t i = size_t(offset); i < matched.size() && names.size() < size_t(kNamesLimit); ++i)
    names.push_back(matched[i].name());
  j["streams"] = names.empty() ? Json(nullptr) : names;
  ReplyOk(js, m, j);
}

// This server's share: the account's streams held here, with usage.
Json LocalShare(JetStream* js) {
  Json j;
  j["server"] = js->meta()->server_name();
  Json streams = Json::array();
  for (const auto& [name, s] : js->streams()) streams.push_back(s->InfoJson());
  j["streams"] = std::move(streams);
  j["memory"] = js->MemoryUsed();
  j["storage"] = js->StoreUsed();
  j["consumers"] = js->ConsumerCount();
  return j;
}

// Asks every server holding one of `assigned` for its share; `done` runs
// on the JetStream thread with the shares (this server's included) once
// all answered or kGatherTimeout passed, with the servers that did not.
void Gather(JetStream* js, const std::vector<StreamAssignment>& assigned,
            std::function<void(std::vector<Json>& shares, const std::set<std::string>& missing)> done) {
  ClusterState* st = js->cluster_state();
  const std::string& self = js->meta()->server_name();
  std::set<std::string> waiting;
  for (const auto& a : assigned)
    for (const auto& p : a.peers)
      if (p != self) waiting.insert(p);
  std::vector<Json> shares{LocalShare(js)};
  if (waiting.empty()) return done(shares, waiting);
  uint64_t id = st->next_gather++;
  auto& g = st->gathers[id];
  g.waiting = std::move(waiting);
  g.shares = std::move(shares);
  g.done = std::move(done);
  g.timer = std::make_unique<asio::steady_timer>(js->ctx(), kGatherTimeout);
  g.timer->async_wait([js, st, id](const asio::error_code& ec) {
    if (ec) return;
    auto it = st->gathers.find(id);
    if (it == st->gathers.end()) return;
    auto gather = std::move(it->second);
    st->gathers.erase(it);
    JetStream::WorkScope scope(js);
    gather.done(gather.shares, gather.waiting);
  });
  js->Send(kShareRequest, st->replies_prefix + std::to_string(id), {}, {});
}

void OnShare(JetStream* js, ClusterState* st, uint64_t id, const std::string& data) {
  auto it = st->gathers.find(id);
  if (it == st->gathers.end()) return;
  auto share = Json::parse(data, nullptr, false);
  if (share.is_discarded() || !share.is_object()) return;
  auto& g = it->second;
  // Each server answers once per request, this one too (its own share is
  // in already): only the awaited ones count.
  if (g.waiting.erase(Field<std::string>(share, "server", "")) == 0) return;
  g.shares.push_back(std::move(share));
  if (!g.waiting.empty()) return;
  auto gather = std::move(g);
  st->gathers.erase(it);
  gather.timer->cancel();
  JetStream::WorkScope scope(js);
  gather.done(gather.shares, gather.waiting);
}

void LeaderList(JetStream* js, Inbound& m) {
  const char* type = "stream_list_response";
  int64_t offset;
  std::vector<StreamAssignment> matched;
  if (!PageRequest(js, m, type, &offset, &matched)) return;
  std::vector<StreamAssignment> page;
  for (size_t i = size_t(offset); i < matched.size() && page.size() < size_t(kListLimit); ++i)
    page.push_back(matched[i]);
  size_t total = matched.size();
  Gather(js, page, [js, req = Detached(m), page, total, offset, type](std::vector<Json>& shares, const std::set<std::string>&) {
    std::map<std::string, Json> infos;
    for (auto& share : shares)
      if (auto s = share.find("streams"); s != share.end() && s->is_array())
        for (auto& info : *s) {
          std::string name = Field<std::string>(info["config"], "name", "");
          infos[name] = std::move(info);
        }
    Json j = Typed(type);
    j["total"] = total;
    j["offset"] = offset;
    j["limit"] = kListLimit;
    Json items = Json::array();
    Json missing = Json::array();
    for (const auto& a : page) {
      std::string name = a.name();
      auto it = infos.find(name);
      if (it == infos.end()) {
        missing.push_back(name);
      } else {
        items.push_back(std::move(it->second));
      }
    }
    j["streams"] = std::move(items);
    if (!missing.empty()) j["missing"] = std::move(missing);
    ReplyOk(js, req, j);
  });
}

void LeaderAccountInfo(JetStream* js, Inbound& m) {
  auto all = js->meta()->Streams(AccountName(js));
  Gather(js, all, [js, req = Detached(m), streams = all.size()](std::vector<Json>& shares, const std::set<std::string>&) {
    uint64_t memory = 0, storage = 0, consumers = 0;
    for (const auto& s : shares) {
      memory += Field<uint64_t>(s, "memory", 0);
      storage += Field<uint64_t>(s, "storage", 0);
      consumers += Field<uint64_t>(s, "consumers", 0);
    }
    ReplyAccountInfo(js, req, memory, storage, streams, consumers);
  });
}

// The name after `prefix` when it is one token; empty otherwise.
std::string NameAfter(std::string_view rest, std::string_view prefix) {
  if (!rest.starts_with(prefix)) return {};
  std::string_view n = rest.substr(prefix.size());
  if (n.empty() || n.find('.') != std::string_view::npos) return {};
  return std::string(n);
}

// The stream a stream-scoped API is about; empty for the others.
std::string StreamOf(std::string_view rest) {
  std::vector<std::string_view> t;
  while (true) {
    size_t dot = rest.find('.');
    t.push_back(rest.substr(0, dot));
    if (dot == std::string_view::npos) break;
    rest.remove_prefix(dot + 1);
  }
  auto at = [&](size_t i) { return i < t.size() ? std::string(t[i]) : std::string(); };
  if (t[0] == "DIRECT") return t.size() > 1 && t[1] == "GET" ? at(2) : std::string();
  if (t[0] == "STREAM") return t.size() > 1 && (t[1] == "MSG" || t[1] == "LEADER" || t[1] == "PEER") ? at(3) : at(2);
  if (t[0] == "CONSUMER")
    return t.size() > 1 && (t[1] == "DURABLE" || t[1] == "MSG" || t[1] == "LEADER") ? at(3) : at(2);
  return {};
}

Inbound ReplyTo(const std::string& reply) { return Inbound{Inbound::Kind::kApi, nullptr, {}, reply, {}, {}, 0}; }

}  // namespace

ClusterState* StartCluster(JetStream* js) {
  auto st = std::make_unique<ClusterState>();
  st->replies_prefix = std::string(kShareReplies) + js->server()->id() + ".";
  ClusterState* raw = st.get();
  st->share_sub = js->account()->SubscribeInternal(
      kShareRequest,
      [js](const server::InternalMsg& m) {
        if (m.reply.empty()) return;
        asio::post(js->ctx(), [js, reply = std::string(m.reply)] {
          server::Server::OutputBatch output;  // what Send queues for the routes leaves at its end
          if (js->meta()) js->Send(reply, {}, {}, LocalShare(js).dump());
        });
      },
      /*propagate=*/true);
  st->replies_sub = js->account()->SubscribeInternal(
      st->replies_prefix + "*",
      [js, raw](const server::InternalMsg& m) {
        uint64_t id = std::strtoull(std::string(m.subject.substr(raw->replies_prefix.size())).c_str(), nullptr, 10);
        asio::post(js->ctx(), [js, raw, id, data = std::string(m.data)] { OnShare(js, raw, id, data); });
      },
      /*propagate=*/true);
  return st.release();
}

void StopCluster(JetStream* js, ClusterState* st) {
  if (!st) return;
  if (st->share_sub) js->account()->UnsubscribeInternal(st->share_sub);
  if (st->replies_sub) js->account()->UnsubscribeInternal(st->replies_sub);
}

void DeleteClusterState(ClusterState* st) { delete st; }

bool HandleClusteredApi(JetStream* js, Inbound& m, std::string_view rest) {
  ClusterMeta* meta = js->meta();
  bool leader = meta && meta->IsLeader();
  // The meta group's requests are the system account's (jscluster/meta.h).
  if (rest == "META.LEADER.STEPDOWN" || rest == "SERVER.REMOVE") return true;
  // A create's name of several tokens is refused; an update's or delete's
  // is not theirs (as on a single server).
  bool create = rest.starts_with("STREAM.CREATE.");
  std::string updated = NameAfter(rest, "STREAM.UPDATE."), deleted = NameAfter(rest, "STREAM.DELETE.");
  bool account_level = rest == "INFO" || rest == "STREAM.NAMES" || rest == "STREAM.LIST" || create ||
                       !updated.empty() || !deleted.empty();
  if (account_level) {
    if (!leader) {
      // Only the meta leader answers these. When there is none, the
      // client's own server says so rather than leave it to time out,
      // unless its own member stopped (the others may well have one).
      if (m.client_id != 0 && !(meta && (meta->HasLeader() || meta->Stopped())))
        ReplyError(js, m, ResponseType(rest), MakeError(Err::ClusterNotAvail));
      return true;
    }
    if (RefuseForApiLevel(js, m, rest)) return true;
    if (rest == "INFO") return LeaderAccountInfo(js, m), true;
    if (rest == "STREAM.NAMES") return LeaderNames(js, m), true;
    if (rest == "STREAM.LIST") return LeaderList(js, m), true;
    if (!updated.empty()) return LeaderUpdate(js, m, updated), true;
    if (!deleted.empty()) return LeaderDelete(js, m, deleted), true;
    std::string name = NameAfter(rest, "STREAM.CREATE.");
    if (name.empty())
      return ReplyError(js, m, "stream_create_response",
                        MakeError(Err::StreamInvalidConfigF, {{"err", "invalid stream name"}})),
             true;
    return LeaderCreate(js, m, name), true;
  }
  // A replicated stream's peers are the meta group's to change.
  if (std::string name = NameAfter(rest, "STREAM.PEER.REMOVE."); !name.empty() && meta) {
    if (auto a = meta->FindStream(AccountName(js), name); a && a->peers.size() > 1) {
      if (leader && !RefuseForApiLevel(js, m, rest)) LeaderPeerRemove(js, m, *a);
      return true;
    }
  }
  std::string stream = StreamOf(rest);
  if (!stream.empty()) {
    if (auto s = js->FindStream(stream)) {
      if (s->Serving()) return false;  // its server: serve it
      // A replica that does not lead stays silent: its leader answers.
      // When there has been none for a while, it gives the stream's info
      // from its own copy, and says a consumer's is unavailable (10008, as
      // nats-server's members of a leaderless consumer group).
      if (!s->AnswersLeaderless()) return true;
      if (rest.starts_with("STREAM.INFO.")) return false;
      if (rest.starts_with("CONSUMER.INFO."))
        ReplyError(js, m, ResponseType(rest), MakeError(Err::ClusterNotAvail));
      return true;
    }
  }
  if (!leader) return true;
  // Held by another server, which answers (or is down: nobody does, as
  // with nats-server).
  if (!stream.empty() && meta->FindStream(AccountName(js), stream)) return true;
  // Nobody holds it, or the API is unknown: the leader answers as a single
  // server does (stream not found, bad request).
  return false;
}

// A create's or update's answer leaves once the other servers have taken
// the stream's (new) subjects: a client told "created" may publish through
// any server at once. Answered at once, the first publish through another
// server could beat the interest there and find no responders (503).
namespace {
void ReplyOkAfterRoutes(JetStream* js, const Inbound& m, Json j) {
  js->CountApi(false);
  ApiAuditAdvisory(js, m, j);
  js->server()->RouteBarrier([account = js->account(), reply = m.reply, body = j.dump()] {
    account->PublishInternal(reply, {}, {}, body);
  });
}

// Answers a create or an update with the stream's info, `fields` set over
// it (did_create, or the config just committed).
void ReplyInfo(JetStream* js, const Inbound& req, const char* type, Stream& s, Json fields = Json::object()) {
  Json j = Typed(type);
  Merge(j, InfoWithLevel(s));
  Merge(j, std::move(fields));
  ReplyOkAfterRoutes(js, req, j);
}
}  // namespace

// Closes the stream held here and opens it again over its files (a memory
// stream: over the same store) with `cfg`, its consumers recovered (as a
// replica's local copies when `cfg` is replicated); `before` runs in
// between, on the closed stream's files.
// Not in the stream list until the caller puts it back. Null with the
// reason in *err.
std::shared_ptr<Stream> Reopen(JetStream* js, const std::string& name, const StreamConfig& cfg,
                               const std::function<std::string()>& before, std::string* err) {
  auto old = js->FindStream(name);
  int64_t created = old->created();
  // What lives in memory only is handed over: a memory stream's messages,
  // and the consumers kept in memory (all of a memory stream's).
  auto held_consumers = TakeMemoryConsumers(*old);
  std::unique_ptr<store::Store> held;
  old->Close(cfg.storage == Storage::kMemory ? &held : nullptr);
  js->streams().erase(name);
  if (*err = before(); !err->empty()) return nullptr;
  ApiError e;
  auto s = Stream::Open(js, cfg, created, /*recover=*/true, &e, std::move(held));
  if (!s) {
    *err = e.description;
    return nullptr;
  }
  RecoverConsumers(js, s.get());
  GiveMemoryConsumers(s.get(), held_consumers);
  return s;
}

// Scaled up from one replica, held here: the stream is reopened over the
// same files (store) as a replicated one (its consumers becoming the local copies
// every replica keeps), and its group starts with this server alone and
// adds the others (ReplicaStart::adopt). Error text on failure.
std::string Adopt(JetStream* js, const StreamAssignment& a) {
  const std::string name = a.name();
  auto held = js->FindStream(name);
  if (!held) return "the stream is not held here";
  const StreamConfig plain = held->config();
  const int64_t created = held->created();
  held.reset();
  std::string raft = js->StreamDir(name) + "/raft";
  // Raft state without the stream's config saying so: an adoption cut short
  // by a crash, or by a failure below. It starts over.
  auto clear_raft = [&]() -> std::string {
    if (!js->env()->IsDir(raft)) return {};
    auto st = store::RemoveDirDurably(js->env(), raft);
    return st.ok() ? std::string() : st.msg;
  };
  std::string err;
  auto s = Reopen(js, name, ConfigOf(a), clear_raft, &err);
  if (s) {
    err = s->StartReplica(a, ReplicaStart{.existing = false, .joining = false, .adopt = std::string()});
    // The config says replicated only once the group's state is saved: a
    // restart in between finds the stream as it was, and adopts again.
    if (err.empty())
      if (auto st = s->WriteMeta(); !st.ok()) err = st.msg;
    if (err.empty()) {
      js->streams()[name] = s;
      log::Info("JetStream cluster: stream '{} > {}' scaled up from one replica: its group starts here",
                AccountName(js), name);
      return {};
    }
  }
  // Failed: served again as it was, with one replica (a memory stream's
  // messages handed back), rather than not at all. The next start adopts
  // it again.
  std::shared_ptr<Stream> back;
  std::string again;
  if (s) {
    js->streams()[name] = s;  // Reopen takes its store and consumers from there
    back = Reopen(js, name, plain, clear_raft, &again);
  } else if (plain.storage == Storage::kFile) {
    ApiError e;
    back = Stream::Open(js, plain, created, /*recover=*/true, &e);
    if (back) RecoverConsumers(js, back.get());
    again = e.description;
  }
  if (back) {
    back->Subscribe();
    js->streams()[name] = back;
    log::Warn("JetStream cluster: stream '{} > {}' stays with one replica, served here: scaling up failed: {}",
              AccountName(js), name, err);
  } else {
    log::Error("JetStream cluster: stream '{} > {}' is not served: scaling up failed ({}), and so did reopening it "
               "with one replica{}",
               AccountName(js), name, err, again.empty() ? "" : ": " + again);
  }
  return err;
}

// Scaled down to one replica, kept here, and the group is this server
// alone: the stream is reopened over the same files as a plain one (the
// local copies of its consumers becoming its consumers), and its Raft state
// goes. The config on disk says one replica before that state is removed:
// a crash in between finds a plain stream with a stale `raft` directory,
// which nothing reads (and Adopt removes).
std::string Unadopt(JetStream* js, const std::string& name) {
  auto old = js->FindStream(name);
  if (!old || !old->keep_alone()) return "not scaled down here";
  std::string err;
  auto s = Reopen(js, name, *old->keep_alone(), [] { return std::string(); }, &err);
  if (!s) return err + " (it is served again after a restart)";
  if (auto st = s->WriteMeta(); !st.ok()) {
    s->Close();
    return st.msg + " (it is served again after a restart)";
  }
  if (std::string raft = js->StreamDir(name) + "/raft"; js->env()->IsDir(raft)) {
    if (auto st = store::RemoveDirDurably(js->env(), raft); !st.ok())
      log::Warn("JetStream cluster: stream '{} > {}': its Raft state stays in {}: {}", AccountName(js), name, raft,
                st.msg);
  }
  s->Subscribe();
  js->streams()[name] = s;
  log::Info("JetStream cluster: stream '{} > {}' scaled down to one replica: served here alone", AccountName(js),
            name);
  return {};
}

void FinishScaleDown(JetStream* js) {
  std::vector<std::string> gone, alone;
  for (const auto& [name, s] : js->streams()) {
    if (s->LeaveDone()) gone.push_back(name);
    else if (s->ReadyForOne()) alone.push_back(name);
  }
  for (const auto& name : gone) {
    log::Info("JetStream cluster: stream '{} > {}': removed from its group (scaled down): removing this replica",
              AccountName(js), name);
    js->streams()[name]->Delete();
    js->streams().erase(name);
  }
  for (const auto& name : alone)
    if (auto e = Unadopt(js, name); !e.empty())
      log::Error("JetStream cluster: cannot scale stream '{} > {}' down to one replica: {}", AccountName(js), name,
                 e);
}

void ApplyAssignmentChange(JetStream* js, const AssignmentChange& c) {
  ClusterMeta* meta = js->meta();
  if (!meta) return;
  const std::string& self = meta->server_name();
  bool mine = c.stream.Holds(self);
  bool answer = !c.replay && !c.reply.empty();
  Inbound req = ReplyTo(c.reply);
  switch (c.op) {
    case AssignmentChange::Op::kCreate: {
      const char* type = "stream_create_response";
      if (!mine) return;
      if (c.outcome == AssignmentChange::Outcome::kConflict) {
        if (answer) ReplyError(js, req, type, MakeError(Err::StreamNameExist));
        return;
      }
      auto s = js->FindStream(c.name);
      if (s && !s->Serving()) return;  // its leader answers
      if (!s) {
        ApiError err;
        s = Stream::Open(js, ConfigOf(c.stream), c.stream.created, /*recover=*/false, &err);
        if (!s) {
          log::Error("JetStream cluster: cannot create stream '{} > {}' assigned here: {}", AccountName(js), c.name,
                     err.description);
          if (answer) ReplyError(js, req, type, err);
          return;
        }
        if (s->replicated()) {
          // Replayed (at start, or for a stream whose files were lost): the
          // stream existed before.
          if (auto e = s->StartReplica(c.stream, ReplicaStart{.existing = c.replay, .joining = c.join, .adopt = {}}); !e.empty()) {
            log::Error("JetStream cluster: cannot start the replica of stream '{} > {}': {}", AccountName(js),
                       c.name, e);
            s->Close();
            if (answer) ReplyError(js, req, type, MakeError(Err::StreamCreate, {{"err", e}}));
            return;
          }
        } else {
          s->Subscribe();
        }
        js->streams()[c.name] = s;
        log::Debug("JetStream stream '{}' created (assigned by the meta group)", c.name);
        StreamActionAdvisory(js, c.name, "create");
      }
      if (!answer) return;
      if (s->replicated()) {
        // The replica elected first answers, once it has subscribed, so the
        // client can publish at once.
        std::weak_ptr<Stream> weak = s;
        return s->WhenLeading([js, weak, req, type] {
          auto s = weak.lock();
          if (!s) return;
          ReplyInfo(js, req, type, *s, {{"did_create", true}});
        });
      }
      return ReplyInfo(js, req, type, *s, {{"did_create", true}});
    }
    case AssignmentChange::Op::kUpdate: {
      const char* type = "stream_update_response";
      if (c.outcome == AssignmentChange::Outcome::kMissing) {
        if (answer && meta->IsLeader()) ReplyError(js, req, type, MakeError(Err::StreamNotFound));
        return;
      }
      auto s = js->FindStream(c.name);
      const bool to_one = ConfigOf(c.stream).num_replicas <= 1;
      if (!mine) {
        // Scaled down, and this server's replica is no longer assigned:
        // it answers if it leads (its group elects another once it has
        // gone), then removes its copy; down to one, only once the group's
        // leader has removed it (Stream::Leave; FinishScaleDown).
        if (!s) return;
        if (to_one && s->replicated()) {
          if (answer && s->Serving()) ReplyInfo(js, req, type, *s, {{"config", c.stream.config}});
          if (!s->Leaving() && !c.replay)
            log::Info("JetStream cluster: stream '{} > {}' scaled down to one replica on {}: this replica leaves "
                      "once the group has removed it",
                      AccountName(js), c.name, c.stream.peers.empty() ? "" : c.stream.peers.front());
          s->Leave(c.stream.peers);
          return;
        }
        if (answer && s->Serving()) ReplyInfo(js, req, type, *s, {{"config", c.stream.config}});
        log::Info("JetStream cluster: stream '{} > {}' is no longer assigned to this server (scaled down): "
                  "removing its replica",
                  AccountName(js), c.name);
        s->Delete();
        js->streams().erase(c.name);
        return;
      }
      if (s && s->replica() && s->group_epoch() != c.stream.group_epoch && !to_one) {
        // Its replica is of the group before (still leaving it when the
        // stream was scaled up again): it goes, and this server joins the
        // new group as a new replica.
        log::Info("JetStream cluster: stream '{} > {}' has a new group: this server's replica of the old one goes",
                  AccountName(js), c.name);
        s->Delete();
        js->streams().erase(c.name);
        s = nullptr;
      }
      if (!s) {
        // Scaled up onto this server: a new replica, which the group's
        // leader adds and catches up (it does not vote until then).
        if (c.replay || c.outcome != AssignmentChange::Outcome::kApplied) return;
        AssignmentChange create{AssignmentChange::Op::kCreate, AssignmentChange::Outcome::kApplied, c.stream, c.name,
                                {}, true};
        create.join = true;
        ApplyAssignmentChange(js, create);
        return;
      }
      if (s->replicated() && to_one) {
        // The one kept: once it leads a group of itself alone, the stream
        // becomes a plain one (FinishScaleDown).
        s->KeepAlone(ConfigOf(c.stream), c.stream.peers);
        if (answer && s->Serving()) ReplyInfo(js, req, type, *s, {{"config", c.stream.config}});
        return;
      }
      if (!s->replicated() && ConfigOf(c.stream).num_replicas > 1) {
        // At start, ReconcileStreams adopts once the meta group runs.
        if (c.replay) return;
        if (auto e = Adopt(js, c.stream); !e.empty()) {
          log::Error("JetStream cluster: cannot scale stream '{} > {}' up from one replica: {}", AccountName(js),
                     c.name, e);
          if (answer) ReplyError(js, req, type, MakeError(Err::StreamGeneralErrorF, {{"err", e}}));
          return;
        }
        StreamActionAdvisory(js, c.name, "modify");
        if (!answer) return;
        // Answered once it leads its new group (at once: it is alone).
        std::weak_ptr<Stream> weak = js->FindStream(c.name);
        return js->FindStream(c.name)->WhenLeading([js, weak, req, type] {
          if (auto s = weak.lock()) ReplyInfo(js, req, type, *s);
        });
      }
      // Every replica applies it; its leader answers.
      if (s->replicated()) s->StayReplicated();
      if (!s->Serving()) answer = false;
      if (auto e = s->Update(ConfigOf(c.stream)); !e.ok()) {
        log::Error("JetStream cluster: cannot update stream '{} > {}': {}", AccountName(js), c.name, e.description);
        if (answer) ReplyError(js, req, type, e);
        return;
      }
      if (auto* r = s->replica()) r->SetPeers(c.stream.peers);
      StreamActionAdvisory(js, c.name, "modify");
      if (answer) ReplyInfo(js, req, type, *s);
      return;
    }
    case AssignmentChange::Op::kDelete: {
      const char* type = "stream_delete_response";
      if (c.outcome == AssignmentChange::Outcome::kMissing) {
        if (answer && meta->IsLeader()) ReplyError(js, req, type, MakeError(Err::StreamNotFound));
        return;
      }
      // As nats-server: the replica that served the stream answers once it
      // has removed it, so a request through any server after the answer
      // finds it gone (answered once committed, the holder could still be
      // applying it). Every replica answers when its group had no leader,
      // and the meta leader when no replica is reachable: the deletion is
      // decided once committed.
      bool removed_here = false;
      if (mine) {
        auto s = js->FindStream(c.name);
        auto* r = s ? s->replica() : nullptr;
        removed_here = !s || s->Serving() || (r && (r->IsLeader() || r->Leader().empty()));
        if (s) {
          s->Delete();
          js->streams().erase(c.name);
          StreamActionAdvisory(js, c.name, "delete");
        }
      }
      if (!answer) return;
      if (!removed_here) {
        if (!meta->IsLeader()) return;
        auto reachable = meta->Candidates();
        bool any = std::any_of(reachable.begin(), reachable.end(),
                               [&](const PlacementCandidate& p) { return c.stream.Holds(p.name); });
        if (any) return;
      }
      Json j = Typed(type);
      j["success"] = true;
      return ReplyOk(js, req, j);
    }
  }
}

void ReconcileStreams(JetStream* js, const std::vector<StreamAssignment>& assigned) {
  ClusterMeta* meta = js->meta();
  if (!meta) return;
  const std::string& self = meta->server_name();
  std::map<std::string, const StreamAssignment*> by_name;
  for (const auto& a : assigned) by_name[a.name()] = &a;
  // Held here but not assigned here: the cluster does not know it (made
  // before this server joined, or deleted while it was away past the meta
  // log's snapshot). nats-server deletes such streams; Fjord stops serving
  // them and moves their files aside, so nothing stored is lost.
  std::vector<std::string> orphans;
  std::map<std::string, std::vector<std::string>> leaving;
  for (const auto& [name, s] : js->streams()) {
    auto it = by_name.find(name);
    // Scaled down to one while this replica still belonged to the group:
    // it rejoins to leave as it would have (the one kept may need it).
    if (it != by_name.end() && !it->second->Holds(self) && s->replicated() &&
        ConfigOf(*it->second).num_replicas <= 1) {
      leaving[name] = it->second->peers;
      continue;
    }
    if (it == by_name.end() || !it->second->Holds(self)) orphans.push_back(name);
  }
  for (const auto& name : orphans) {
    auto s = js->streams()[name];
    s->Close();
    js->streams().erase(name);
    std::string dir = js->StreamDir(name);
    std::string aside;
    if (js->env()->IsDir(dir)) {
      std::string root = js->options().store_dir + "/jetstream/" + AccountName(js) + "/orphaned";
      js->env()->CreateDir(root);
      aside = fmt::format("{}/{}-{}", root, name, NowNs());
      if (auto st = js->env()->Rename(dir, aside); !st.ok()) aside = dir + " (could not move it: " + st.msg + ")";
    }
    log::Error("JetStream cluster: stream '{} > {}' is held here but the cluster does not assign it to this "
               "server: no longer served{}",
               AccountName(js), name, aside.empty() ? "" : "; its files are kept in " + aside);
  }
  // Scaled up from one replica while this server, which held it, was away
  // (or before it could adopt it).
  std::vector<std::string> adopt;
  for (const auto& [name, s] : js->streams())
    if (!s->replicated() && ConfigOf(*by_name[name]).num_replicas > 1) adopt.push_back(name);
  for (const auto& name : adopt)
    if (auto e = Adopt(js, *by_name[name]); !e.empty())
      log::Error("JetStream cluster: cannot scale stream '{} > {}' up from one replica: {}", AccountName(js), name, e);
  // Replicas recovered from disk join their groups now that the
  // assignments are known.
  for (const auto& [name, s] : js->streams()) {
    if (!s->replicated() || s->replica()) continue;
    const StreamAssignment& a = *by_name[name];
    if (auto e = s->StartReplica(a, ReplicaStart{.existing = true, .joining = false, .adopt = {}}); !e.empty()) {
      log::Error("JetStream cluster: cannot start the replica of stream '{} > {}': {}", AccountName(js), name, e);
      continue;
    }
    if (auto it = leaving.find(name); it != leaving.end()) {
      s->Leave(it->second);
    } else if (ConfigOf(a).num_replicas <= 1) {
      s->KeepAlone(ConfigOf(a), a.peers);
    }
  }
  // Assigned here but missing (its files were lost): an empty stream, so
  // the cluster's view holds.
  for (const auto& a : assigned) {
    std::string name = a.name();
    if (!a.Holds(self) || js->FindStream(name)) continue;
    log::Warn("JetStream cluster: stream '{} > {}' is assigned to this server but not stored here: creating it empty",
              AccountName(js), name);
    AssignmentChange c{AssignmentChange::Op::kCreate, AssignmentChange::Outcome::kApplied, a, name, {}, true};
    ApplyAssignmentChange(js, c);
  }
}

}  // namespace fjord::jetstream
