#include "raft/transport.h"

#include <libnuraft/raft_server_handler.hxx>

#include <pthread.h>
#include <xxhash.h>

#include <charconv>

#include "base/log.h"
#include "raft/codec.h"
#include "server/account.h"

namespace fjord::raft {
namespace {

// NuRaft asks for no timeout on most RPCs; a peer that never answers must
// still fail the request, or the peer would be considered busy for ever.
constexpr uint64_t kDefaultTimeoutMs = 2000;

class RequestHandler : public nuraft::raft_server_handler {
 public:
  static nuraft::ptr<nuraft::resp_msg> Process(nuraft::raft_server* srv, nuraft::req_msg& req) {
    return process_req(srv, req);
  }
};

}  // namespace

class Transport::Client : public nuraft::rpc_client {
 public:
  Client(Transport* t, std::string group, int32_t dst, uint64_t id) : t_(t), group_(std::move(group)), dst_(dst), id_(id) {}
  void send(nuraft::ptr<nuraft::req_msg>& req, nuraft::rpc_handler& when_done, uint64_t timeout_ms) override {
    t_->Send(group_, dst_, req, when_done, timeout_ms);
  }
  uint64_t get_id() const override { return id_; }
  bool is_abandoned() const override { return false; }

 private:
  Transport* t_;
  std::string group_;
  int32_t dst_;
  uint64_t id_;
};

class Transport::Factory : public nuraft::rpc_client_factory {
 public:
  Factory(Transport* t, std::string group) : t_(t), group_(std::move(group)) {}
  nuraft::ptr<nuraft::rpc_client> create_client(const std::string& endpoint) override {
    return nuraft::cs_new<Client>(t_, group_, PeerId(endpoint), next_id_.fetch_add(1));
  }

 private:
  Transport* t_;
  std::string group_;
  std::atomic<uint64_t> next_id_{1};
};

class Transport::GroupListener : public nuraft::rpc_listener {
 public:
  GroupListener(Transport* t, std::string group) : t_(t), group_(std::move(group)) {}
  void listen(nuraft::ptr<nuraft::msg_handler>& handler) override {
    srv_ = handler.get();
    t_->SetHandler(group_, handler);
  }
  // Only its own server: a group reopened under the same name (revived)
  // may listen before the old one's last reference goes.
  void stop() override { t_->ClearHandler(group_, srv_); }

 private:
  Transport* t_;
  std::string group_;
  const nuraft::raft_server* srv_ = nullptr;
};

int32_t Transport::PeerId(std::string_view name) {
  auto id = static_cast<int32_t>(XXH32(name.data(), name.size(), 0) & 0x7fffffff);
  return id == 0 ? 1 : id;
}

Transport::Transport(server::Account* sys, std::string self_name)
    : sys_(sys), self_name_(std::move(self_name)), self_id_(PeerId(self_name_)), guard_(ctx_.get_executor()) {}

Transport::~Transport() { Stop(); }

void Transport::Start() {
  for (int i = 0; i < kThreads; i++)
    threads_.emplace_back([this] {
      pthread_setname_np(pthread_self(), "fjord-raft");
      ctx_.run();
    });
  std::string rq = fmt::format("$FJR.RQ.{}.*", self_id_);
  req_sub_ = sys_->SubscribeInternal(
      rq,
      [this](const server::InternalMsg& m) {
        // $FJR.RQ.<id>.<group>
        auto dot = m.subject.rfind('.');
        std::string group(m.subject.substr(dot + 1));
        std::shared_ptr<Strand> strand;
        {
          std::lock_guard lock(mu_);
          // No strand for a group this server has no member of: such a
          // request is only noted (OnRequest).
          if (handlers_.count(group)) strand = StrandLocked(group);
        }
        auto run = [this, group = std::move(group), reply = std::string(m.reply),
                    data = std::string(m.data)]() mutable {
          OnRequest(std::move(group), std::move(reply), std::move(data));
        };
        if (strand) {
          asio::post(*strand, std::move(run));
        } else {
          asio::post(ctx_, std::move(run));
        }
      },
      /*propagate=*/true);
  std::string rs = fmt::format("$FJR.RS.{}.*", self_id_);
  resp_sub_ = sys_->SubscribeInternal(
      rs,
      [this](const server::InternalMsg& m) {
        auto tok = m.subject.substr(m.subject.rfind('.') + 1);
        uint64_t seq = 0;
        if (std::from_chars(tok.data(), tok.data() + tok.size(), seq).ec != std::errc()) return;
        std::shared_ptr<Strand> strand;
        {
          std::lock_guard lock(mu_);
          auto it = pending_.find(seq);
          if (it == pending_.end()) return;  // timed out already
          strand = it->second.strand;
        }
        asio::post(*strand, [this, seq, data = std::string(m.data)]() mutable { OnResponse(seq, std::move(data)); });
      },
      /*propagate=*/true);
  Sweep();
}

void Transport::Stop() {
  if (stopped_.exchange(true)) return;
  if (req_sub_) sys_->UnsubscribeInternal(req_sub_);
  if (resp_sub_) sys_->UnsubscribeInternal(resp_sub_);
  std::unordered_map<uint64_t, Pending> pending;
  {
    std::lock_guard lock(mu_);
    pending.swap(pending_);
    handlers_.clear();
  }
  for (auto& [seq, p] : pending) Fail(std::move(p), "transport stopped");
  guard_.reset();
  ctx_.stop();
  for (auto& t : threads_)
    if (t.joinable()) t.join();
}

bool Transport::AskedFor(const std::string& group) {
  std::lock_guard lock(mu_);
  return asked_for_.count(group) > 0;
}

nuraft::ptr<nuraft::rpc_client_factory> Transport::ClientFactory(const std::string& group) {
  return nuraft::cs_new<Factory>(this, group);
}

nuraft::ptr<nuraft::rpc_listener> Transport::Listener(const std::string& group) {
  return nuraft::cs_new<GroupListener>(this, group);
}

void Transport::SetHandler(const std::string& group, nuraft::ptr<nuraft::raft_server> srv) {
  std::lock_guard lock(mu_);
  handlers_[group] = std::move(srv);
}

void Transport::ClearHandler(const std::string& group, const nuraft::raft_server* srv) {
  std::lock_guard lock(mu_);
  auto it = handlers_.find(group);
  if (it == handlers_.end() || it->second.get() != srv) return;
  handlers_.erase(it);
  told_to_leave_.erase(group);
  strands_.erase(group);  // what is queued on it keeps it
}

nuraft::ptr<nuraft::raft_server> Transport::ServerLocked(const std::string& group) {
  auto it = handlers_.find(group);
  return it == handlers_.end() ? nullptr : it->second;
}

std::shared_ptr<Transport::Strand> Transport::StrandLocked(const std::string& group) {
  if (auto it = strands_.find(group); it != strands_.end()) return it->second;
  auto s = std::make_shared<Strand>(asio::make_strand(ctx_));
  // Kept for a group with a member here only, so none outlives its group
  // (SetHandler drops it); a request sent before the member listens, or
  // after it stopped, gets one of its own.
  if (handlers_.count(group)) strands_.emplace(group, s);
  return s;
}

namespace {
bool IsVote(const nuraft::req_msg& r) {
  return r.get_type() == nuraft::msg_type::request_vote_request || r.get_type() == nuraft::msg_type::pre_vote_request;
}
}  // namespace

bool Transport::ToldToLeave(const std::string& group) {
  std::lock_guard lock(mu_);
  return told_to_leave_.count(group) > 0;
}

namespace {
void Mark(std::unordered_set<std::string>& set, const std::string& group, bool in) {
  if (in) {
    set.insert(group);
  } else {
    set.erase(group);
  }
}
}  // namespace

void Transport::SetVoting(const std::string& group, bool allowed) {
  std::lock_guard lock(mu_);
  Mark(no_vote_, group, !allowed);
}

void Transport::SetHalted(const std::string& group, bool halted) {
  std::lock_guard lock(mu_);
  Mark(halted_, group, halted);
}

void Transport::Send(const std::string& group, int32_t dst, nuraft::ptr<nuraft::req_msg>& req,
                     nuraft::rpc_handler& done, uint64_t timeout_ms) {
  sent_++;
  std::string data = EncodeRequest(*req);
  uint64_t seq;
  {
    std::lock_guard lock(mu_);
    if (stopped_) {
      Fail(Pending{req, done, {}, nullptr, nullptr}, "transport stopped");
      return;
    }
    if (halted_.count(group)) {
      Fail(Pending{req, done, {}, StrandLocked(group), ServerLocked(group)}, "this member halted");
      return;
    }
    if (IsVote(*req) && no_vote_.count(group)) {
      Fail(Pending{req, done, {}, StrandLocked(group), ServerLocked(group)}, "not standing while rejoining");
      return;
    }
    seq = next_seq_++;
    auto deadline = std::chrono::steady_clock::now() +
                    std::chrono::milliseconds(timeout_ms ? timeout_ms : kDefaultTimeoutMs);
    pending_.emplace(seq, Pending{req, done, deadline, StrandLocked(group), ServerLocked(group)});
  }
  std::string subject = fmt::format("$FJR.RQ.{}.{}", dst, group);
  std::string reply = fmt::format("$FJR.RS.{}.{}", self_id_, seq);
  if (sys_->PublishInternal(subject, reply, {}, data) == 0) {
    // No route to that server (it is down or not connected yet): fail now
    // rather than at the timeout.
    std::lock_guard lock(mu_);
    auto it = pending_.find(seq);
    if (it == pending_.end()) return;
    Pending p = std::move(it->second);
    pending_.erase(it);
    Fail(std::move(p), "no route to peer");
  }
}

void Transport::Fail(Pending p, const std::string& why) {
  failed_++;
  // Always from the transport's thread, never inside the caller's send():
  // NuRaft holds locks there that its handler takes again.
  auto done = std::move(p.done);
  auto req = std::move(p.req);
  if (stopped_ && ctx_.stopped()) return;
  auto run = [done = std::move(done), req = std::move(req), keep = std::move(p.keep), why]() mutable {
    nuraft::ptr<nuraft::resp_msg> none;
    nuraft::ptr<nuraft::rpc_exception> ex = nuraft::cs_new<nuraft::rpc_exception>(why, req);
    done(none, ex);
  };
  if (p.strand) {
    asio::post(*p.strand, std::move(run));
  } else {
    asio::post(ctx_, std::move(run));
  }
}

void Transport::OnRequest(std::string group, std::string reply, std::string data) {
  nuraft::ptr<nuraft::raft_server> srv;
  {
    std::lock_guard lock(mu_);
    srv = ServerLocked(group);
    if (!srv && asked_for_.size() < 1024) asked_for_.insert(group);
  }
  if (!srv) {
    // Not (yet) a member here: refused at once (an empty response), so
    // the sender need not wait for its timeout to try again. A new group's
    // first campaign (raft::Group) depends on it: its members open the
    // group one after another.
    if (!reply.empty()) sys_->PublishInternal(reply, {}, {}, {});
    return;
  }
  auto req = DecodeRequest(data);
  if (!req) {
    log::Warn("raft: malformed request for group {} ({} bytes) dropped", group, data.size());
    return;
  }
  if (req->get_dst() != self_id_) return;
  {
    std::lock_guard lock(mu_);
    if (halted_.count(group)) return;  // the sender times out
    if (IsVote(*req) && no_vote_.count(group)) return;  // not voting while rejoining: the candidate times out
  }
  nuraft::ptr<nuraft::resp_msg> resp;
  try {
    resp = RequestHandler::Process(srv.get(), *req);
  } catch (const std::exception& e) {
    log::Warn("raft: group {}: request failed: {}", group, e.what());
    return;
  }
  if (!resp) return;
  {
    std::lock_guard lock(mu_);
    // Halted while answering (it could not save the term or the vote it
    // answers with): the answer must not leave.
    if (halted_.count(group)) return;
    if (req->get_type() == nuraft::msg_type::leave_cluster_request && resp->get_accepted())
      told_to_leave_.insert(group);
  }
  if (resp->has_cb()) resp = resp->call_cb(resp);
  if (resp->has_async_cb()) {
    // Only forwarded client requests answer later; Fjord does not forward.
    return;
  }
  if (!reply.empty()) sys_->PublishInternal(reply, {}, {}, EncodeResponse(*resp));
}

void Transport::OnResponse(uint64_t seq, std::string data) {
  Pending p;
  {
    std::lock_guard lock(mu_);
    auto it = pending_.find(seq);
    if (it == pending_.end()) return;  // timed out already
    p = std::move(it->second);
    pending_.erase(it);
  }
  if (data.empty()) {
    Fail(std::move(p), "not a member of the group there");
    return;
  }
  auto resp = DecodeResponse(data);
  if (!resp) {
    log::Warn("raft: malformed response ({} bytes) dropped", data.size());
    failed_++;
    nuraft::ptr<nuraft::resp_msg> none;
    nuraft::ptr<nuraft::rpc_exception> ex = nuraft::cs_new<nuraft::rpc_exception>("malformed response", p.req);
    p.done(none, ex);
    return;
  }
  nuraft::ptr<nuraft::rpc_exception> none;
  p.done(resp, none);
}

void Transport::Sweep() {
  auto now = std::chrono::steady_clock::now();
  std::vector<Pending> expired;
  {
    std::lock_guard lock(mu_);
    for (auto it = pending_.begin(); it != pending_.end();) {
      if (it->second.deadline <= now) {
        expired.push_back(std::move(it->second));
        it = pending_.erase(it);
      } else {
        ++it;
      }
    }
  }
  for (auto& p : expired) Fail(std::move(p), "timed out");
  sweep_.expires_after(std::chrono::milliseconds(50));
  sweep_.async_wait([this](const asio::error_code& ec) {
    if (!ec && !stopped_) Sweep();
  });
}

}  // namespace fjord::raft
