#include "server/account.h"

#include <algorithm>
#include <nlohmann/json.hpp>

#include "base/log.h"
#include "proto/headers.h"
#include "proto/parser.h"
#include "server/random.h"
#include "server/server.h"

namespace fjord::server {
namespace {

// Imports can chain (A exports to B, B re-exports to C) and a config can
// make them loop; a message crosses at most this many imports.
constexpr int kMaxImportHops = 8;
thread_local int t_import_depth = 0;

struct Hop {
  Hop() { ++t_import_depth; }
  ~Hop() { --t_import_depth; }
  bool ok() const { return t_import_depth <= kMaxImportHops; }
};

bool Allowed(const std::vector<std::string>& accounts, std::string_view importer) {
  return accounts.empty() || std::find(accounts.begin(), accounts.end(), importer) != accounts.end();
}

// The transform an import applies, or nullopt when it keeps the subject.
std::optional<proto::SubjectTransform> ImportTransform(std::string_view from, std::string_view to) {
  if (to.empty() || to == from) return std::nullopt;
  std::string err;
  return proto::SubjectTransform::MakeForImport(from, to, &err);
}

}  // namespace

const StreamExport* FindStreamExport(const AccountConfig& exporter, std::string_view importer,
                                     std::string_view subject) {
  for (const auto& e : exporter.stream_exports) {
    if (proto::SubjectIsSubsetOf(subject, e.subject) && Allowed(e.accounts, importer)) return &e;
  }
  return nullptr;
}

const ServiceExport* FindServiceExport(const AccountConfig& exporter, std::string_view importer,
                                       std::string_view subject) {
  for (const auto& e : exporter.service_exports) {
    if (proto::SubjectIsSubsetOf(subject, e.subject) && Allowed(e.accounts, importer)) return &e;
  }
  return nullptr;
}

Account::Account(AccountConfig cfg)
    : cfg_(std::move(cfg)),
      max_connections_(cfg_.max_connections),
      max_subscriptions_(cfg_.max_subscriptions),
      max_payload_(cfg_.max_payload),
      js_limits_(cfg_.jetstream),
      sublist_(cfg_.name) {
  for (const auto& m : cfg_.mappings) {
    Mapping c;
    c.source = m.source;
    int total = 0;
    for (const auto& [dest, weight] : m.dests) {
      total += weight;
      // The destination equal to the source keeps the subject. A mapping
      // takes every transform function, unlike an import (nats-server 2.10).
      std::string err;
      std::optional<proto::SubjectTransform> t;
      if (dest != m.source) t = proto::SubjectTransform::Make(m.source, dest, &err);
      c.dests.emplace_back(std::move(t), total);
    }
    mappings_.push_back(std::move(c));
  }
}

std::optional<std::string> Account::Map(std::string_view subject) const {
  for (const auto& m : mappings_) {
    if (!proto::SubjectMatches(subject, m.source)) continue;
    int r = 0;
    if (m.dests.size() > 1 || m.dests.front().second < 100) {
      thread_local uint32_t seed = 0x2545f491u ^ uint32_t(reinterpret_cast<uintptr_t>(&seed));
      seed ^= seed << 13;
      seed ^= seed >> 17;
      seed ^= seed << 5;
      r = int(seed % 100);
    }
    for (const auto& [transform, upto] : m.dests) {
      if (r >= upto) continue;
      if (!transform) return std::nullopt;
      return transform->Apply(subject);
    }
    return std::nullopt;  // the weight left over keeps the subject
  }
  return std::nullopt;
}

Account::~Account() = default;

SubPtr Account::SubscribeInternal(std::string_view subject, InternalHandler handler, bool propagate) {
  auto sub = std::make_shared<Subscription>();
  sub->subject = subject;
  sub->handler = std::move(handler);
  sub->propagate = propagate;
  sublist_.Insert(sub);
  return sub;
}

void Account::UnsubscribeInternal(const SubPtr& sub) {
  sub->closed = true;
  sublist_.Remove(sub);
}

size_t Account::PublishInternal(std::string_view subject, std::string_view reply,
                                std::string_view hdr, std::string_view data) {
  return PublishInternalAs(subject, subject, reply, hdr, data);
}

size_t Account::PublishInternalAs(std::string_view route_to, std::string_view subject,
                                  std::string_view reply, std::string_view hdr,
                                  std::string_view data) {
  size_t n = Server::RouteInternal(sublist_, route_to, subject, reply, hdr, data);
  Server::FlushIfUnbatched();
  return n;
}

void Account::AddStreamImport(Account* exporter, const StreamImport& imp) {
  std::optional<proto::SubjectTransform> transform;
  if (imp.prefix.empty()) transform = ImportTransform(imp.subject, imp.to);
  std::string prefix = imp.prefix.empty() ? "" : imp.prefix + ".";
  // Every server of a cluster copies what reaches it: its routes must send
  // it the exporter's messages (propagate), and the copy stays here
  // (local_only), where this server's own importers are.
  exporter->SubscribeInternal(imp.subject, [this, transform, prefix](const InternalMsg& m) {
    Hop hop;
    if (!hop.ok()) return;
    std::string subject;
    if (!prefix.empty()) {
      subject = prefix + std::string(m.subject);
    } else if (transform) {
      auto mapped = transform->Apply(m.subject);
      if (!mapped) return;
      subject = std::move(*mapped);
    } else {
      subject = m.subject;
    }
    // The reply goes along unchanged: a responder here answers into this
    // account, as with nats-server.
    Server::RouteInternal(sublist_, subject, subject, m.reply, m.hdr, m.data, /*local_only=*/true);
  }, /*propagate=*/true);
}

void Account::AddServiceImport(Account* exporter, const ServiceImport& imp, const ServiceExport& exp) {
  const std::string& local = imp.to.empty() ? imp.subject : imp.to;
  // Requests arrive on the local subject and leave on the exporter's.
  auto transform = ImportTransform(local, imp.subject);
  if (!transform && local != imp.subject) {
    log::Error("Service import \"{}\" of account {}: cannot map \"{}\" onto it", imp.subject, name(), local);
    return;
  }
  const std::string request_info = nlohmann::json({{"acc", name()}}).dump();
  SubscribeInternal(local, [this, exporter, transform, exp, request_info](const InternalMsg& m) {
    Hop hop;
    if (!hop.ok()) return;
    std::string subject;
    if (transform) {
      auto mapped = transform->Apply(m.subject);
      if (!mapped) return;
      subject = std::move(*mapped);
    } else {
      subject = m.subject;
    }
    std::string reply;
    if (!m.reply.empty()) reply = exporter->AddResponseRoute(this, m.reply, exp);
    // As nats-server: the service learns which account asked.
    std::string hdr = proto::AddHeaders(m.hdr, {{"Nats-Request-Info", request_info}});
    Server::RouteInternal(exporter->sublist_, subject, subject, reply, hdr, m.data);
  });
}

std::string Account::AddResponseRoute(Account* requester, std::string_view reply, const ServiceExport& exp) {
  auto now = std::chrono::steady_clock::now();
  std::lock_guard lock(responses_mu_);
  if (!response_sub_) {
    response_prefix_ = "_R_." + RandomToken(6) + ".";
    // A responder on another server answers over a route: announce it.
    response_sub_ = SubscribeInternal(
        response_prefix_ + ">", [this](const InternalMsg& m) { OnResponse(m); }, /*propagate=*/true);
  }
  if (now >= next_sweep_) {
    // Routes nobody answered (or whose stream of responses ended) go once
    // their threshold has passed.
    for (auto it = responses_.begin(); it != responses_.end();) {
      it = it->second.expires <= now ? responses_.erase(it) : std::next(it);
    }
    next_sweep_ = now + std::chrono::seconds(1);
  }
  std::string token = RandomToken(6) + std::to_string(++next_response_);
  responses_.emplace(token, ResponseRoute{requester, std::string(reply), exp.response,
                                          now + std::chrono::milliseconds(exp.response_threshold_ms)});
  return response_prefix_ + token;
}

void Account::OnResponse(const InternalMsg& m) {
  Hop hop;
  if (!hop.ok()) return;
  Account* requester = nullptr;
  std::string reply;
  {
    std::lock_guard lock(responses_mu_);
    auto it = responses_.find(std::string(m.subject.substr(response_prefix_.size())));
    if (it == responses_.end()) return;
    if (it->second.expires <= std::chrono::steady_clock::now()) {
      responses_.erase(it);
      return;
    }
    requester = it->second.requester;
    reply = it->second.reply;
    // A singleton service answers once; a stream or chunked one keeps its
    // route until the threshold.
    if (it->second.type == ResponseType::kSingleton) responses_.erase(it);
  }
  Server::RouteInternal(requester->sublist_, reply, reply, m.reply, m.hdr, m.data);
}

}  // namespace fjord::server
