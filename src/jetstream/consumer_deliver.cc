#include "jetstream/consumer_deliver.h"

#include <random>
#include <string>

#include "server/client.h"
#include "server/server.h"

namespace fjord::jetstream {
namespace {

bool DeliverOne(server::Subscription& s, std::string_view subject, std::string_view reply,
                std::string_view hdr, std::string_view payload) {
  if (s.closed.load(std::memory_order_relaxed)) return false;
  if (s.handler) {
    server::InternalMsg m;
    m.subject = subject;
    m.reply = reply;
    m.hdr = hdr;
    m.data = payload.substr(hdr.size());
    s.handler(m);
    return true;
  }
  server::Client* c = s.client.get();
  if (!c) return false;
  uint64_t max = s.max.load(std::memory_order_relaxed);
  uint64_t n = s.delivered.fetch_add(1, std::memory_order_relaxed) + 1;
  if (max && n > max) return false;
  c->QueueMsg(s, subject, reply, uint32_t(hdr.size()), payload);
  return true;
}

}  // namespace

size_t DeliverAs(server::Server* srv, std::string_view target, std::string_view subject,
                 std::string_view reply, std::string_view hdr, std::string_view data) {
  auto r = srv->sublist().Match(target);
  if (r->empty()) return 0;
  std::string payload;
  payload.reserve(hdr.size() + data.size());
  payload.append(hdr);
  payload.append(data);
  size_t n = 0;
  auto after = [](const server::SubPtr& s) {
    if (s->max && s->delivered.load() >= s->max.load() && s->client) s->client->AutoUnsubscribed(s);
  };
  for (const auto& s : r->psubs) {
    if (DeliverOne(*s, subject, reply, hdr, payload)) {
      ++n;
      after(s);
    }
  }
  thread_local std::minstd_rand rng{std::random_device{}()};
  for (const auto& group : r->qsubs) {
    size_t size = group.size();
    size_t start = rng() % size;
    for (size_t k = 0; k < size; ++k) {
      const auto& s = group[(start + k) % size];
      if (DeliverOne(*s, subject, reply, hdr, payload)) {
        ++n;
        after(s);
        break;
      }
    }
  }
  server::Server::FlushDirty();
  return n;
}

bool HasInterest(server::Server* srv, std::string_view subject) {
  return !srv->sublist().Match(subject)->empty();
}

}  // namespace fjord::jetstream
