// `fjord bench`: throughput and latency benchmarks in the manner of the nats
// CLI: core publish/subscribe, request/reply, and JetStream publish
// (asynchronous, or synchronous with --syncpub) followed by pull consumption.
// Every client runs on its own thread with its own connection. Every wait is
// bounded by the larger of --timeout and 5 s without progress.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <functional>
#include <iostream>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include "cli/commands.h"
#include "cli/table.h"

namespace fjord::cli {
namespace {

using Clock = std::chrono::steady_clock;

struct Opts {
  std::string subject, stream = "benchstream", storage = "memory";
  int pubs = 1, subs = 0, replicas = 1, pubbatch = 100, fetch_batch = 100;
  int64_t msgs = 100000, size = 128;
  bool js = false, pull = true, request = false, syncpub = false, purge = false, no_progress = false, json = false;
  CLI::Option* pub_opt = nullptr;
};

struct ClientStat {
  int64_t msgs = 0;
  Clock::time_point start, end;
  double Seconds() const { return std::chrono::duration<double>(end - start).count(); }
};

struct Phase {
  std::string role;
  std::vector<ClientStat> clients;
  int64_t size = 0;

  int64_t Msgs() const {
    int64_t n = 0;
    for (const auto& c : clients) n += c.msgs;
    return n;
  }
  double Seconds() const {
    if (clients.empty()) return 0;
    auto start = clients[0].start, end = clients[0].end;
    for (const auto& c : clients) {
      start = std::min(start, c.start);
      end = std::max(end, c.end);
    }
    return std::chrono::duration<double>(end - start).count();
  }
  Json ToJson() const {
    Json per = Json::array();
    for (const auto& c : clients) {
      double s = c.Seconds();
      per.push_back(Json{{"msgs", c.msgs}, {"seconds", s}, {"msgs_per_sec", s > 0 ? c.msgs / s : 0.0}});
    }
    double s = Seconds();
    int64_t m = Msgs();
    return Json{{"msgs", m},
                {"bytes", m * size},
                {"seconds", s},
                {"msgs_per_sec", s > 0 ? m / s : 0.0},
                {"bytes_per_sec", s > 0 ? m * size / s : 0.0},
                {"clients", per}};
  }
};

// Shows a progress bar on stdout while a phase runs, only on a terminal.
class Progress {
 public:
  Progress(bool enabled, std::string label, int64_t total, const std::atomic<int64_t>& done)
      : enabled_(enabled && StdoutIsTty()), label_(std::move(label)), total_(total), done_(done) {
    if (enabled_) thread_ = std::thread([this] { Run(); });
  }
  ~Progress() { Stop(); }
  void Stop() {
    if (!enabled_ || stopped_.exchange(true)) return;
    thread_.join();
    Draw();
    std::cout << std::endl;
  }

 private:
  void Draw() {
    int64_t d = std::min(done_.load(), total_);
    int width = 40;
    int filled = total_ > 0 ? static_cast<int>(width * d / total_) : width;
    std::string bar(static_cast<size_t>(filled), '=');
    bar.resize(static_cast<size_t>(width), ' ');
    std::cout << fmt::format("\r{:>8} [{}] {:3}% {}/{}", label_, bar, total_ > 0 ? 100 * d / total_ : 100,
                             Commas(d), Commas(total_))
              << std::flush;
  }
  void Run() {
    while (!stopped_) {
      Draw();
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
  }

  bool enabled_;
  std::string label_;
  int64_t total_;
  const std::atomic<int64_t>& done_;
  std::atomic<bool> stopped_{false};
  std::thread thread_;
};

// Splits `total` messages over `n` clients.
int64_t Share(int64_t total, int n, int i) { return total / n + (i < total % n ? 1 : 0); }

int64_t IdleMs(const GlobalOptions& g) { return std::max<int64_t>(g.TimeoutMs(), 5000); }

// Runs `n` clients on threads; the first error any of them hits is rethrown.
void RunClients(int n, const std::function<void(int)>& fn) {
  std::vector<std::thread> threads;
  std::mutex mu;
  std::string error;
  for (int i = 0; i < n; i++) {
    threads.emplace_back([&, i] {
      try {
        fn(i);
      } catch (const std::exception& e) {
        std::lock_guard<std::mutex> l(mu);
        if (error.empty()) error = e.what();
      }
    });
  }
  for (auto& t : threads) t.join();
  if (!error.empty()) Fail(error);
}

void CorePubSub(const GlobalOptions& g, const Opts& o, std::vector<Phase>& out) {
  std::string payload(static_cast<size_t>(o.size), 'x');
  Phase pub{"pub", std::vector<ClientStat>(static_cast<size_t>(o.pubs)), o.size};
  Phase sub{"sub", std::vector<ClientStat>(static_cast<size_t>(o.subs)), o.size};
  std::atomic<int> ready{0};
  std::atomic<int64_t> published{0}, received{0};
  std::atomic<bool> subs_failed{false};
  std::thread sub_runner([&] {
    try {
      RunClients(o.subs, [&](int i) {
        Conn conn(g);
        natsSubscription* s = nullptr;
        natsStatus st = natsConnection_SubscribeSync(&s, conn.nc(), o.subject.c_str());
        if (st != NATS_OK) FailNats("subscribe failed", st);
        std::unique_ptr<natsSubscription, void (*)(natsSubscription*)> guard(s, DropSubscription);
        natsSubscription_SetPendingLimits(s, -1, -1);
        natsConnection_FlushTimeout(conn.nc(), g.TimeoutMs());
        ready++;
        auto& c = sub.clients[static_cast<size_t>(i)];
        while (c.msgs < o.msgs) {
          natsMsg* m = nullptr;
          st = natsSubscription_NextMsg(&m, s, IdleMs(g));
          if (st == NATS_TIMEOUT) break;
          if (st != NATS_OK) FailNats("receive failed", st);
          if (c.msgs == 0) c.start = Clock::now();
          natsMsg_Destroy(m);
          c.msgs++;
          c.end = Clock::now();
          received++;
        }
      });
    } catch (const CliError&) {
      subs_failed = true;
      ready = o.subs;
    }
  });
  auto deadline = Clock::now() + std::chrono::milliseconds(IdleMs(g));
  while (ready < o.subs && Clock::now() < deadline) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  {
    Progress bar(!o.no_progress && o.pubs > 0, "pub", o.msgs, published);
    RunClients(o.pubs, [&](int i) {
      Conn conn(g);
      auto& c = pub.clients[static_cast<size_t>(i)];
      int64_t n = Share(o.msgs, o.pubs, i);
      c.start = Clock::now();
      for (int64_t k = 0; k < n; k++) {
        natsStatus st = natsConnection_Publish(conn.nc(), o.subject.c_str(), payload.data(),
                                               static_cast<int>(payload.size()));
        if (st != NATS_OK) FailNats("publish failed", st);
        c.msgs++;
        published++;
      }
      natsStatus st = natsConnection_FlushTimeout(conn.nc(), IdleMs(g));
      if (st != NATS_OK) FailNats("flush failed", st);
      c.end = Clock::now();
    });
  }
  {
    Progress bar(!o.no_progress && o.subs > 0, "sub", o.msgs * o.subs, received);
    sub_runner.join();
  }
  if (subs_failed) Fail("a subscriber failed");
  if (o.pubs > 0) out.push_back(pub);
  if (o.subs > 0) out.push_back(sub);
}

void RequestReply(const GlobalOptions& g, const Opts& o, std::vector<Phase>& out, std::vector<int64_t>& lat) {
  std::string payload(static_cast<size_t>(o.size), 'x');
  int responders = std::max(1, o.subs);
  std::atomic<bool> stop{false};
  std::atomic<int> ready{0};
  std::atomic<int64_t> done{0};
  std::thread reply_runner([&] {
    try {
      RunClients(responders, [&](int) {
        Conn conn(g);
        natsSubscription* s = nullptr;
        natsStatus st = natsConnection_QueueSubscribeSync(&s, conn.nc(), o.subject.c_str(), "fjord-bench");
        if (st != NATS_OK) FailNats("subscribe failed", st);
        std::unique_ptr<natsSubscription, void (*)(natsSubscription*)> guard(s, DropSubscription);
        natsConnection_FlushTimeout(conn.nc(), g.TimeoutMs());
        ready++;
        while (!stop) {
          natsMsg* m = nullptr;
          st = natsSubscription_NextMsg(&m, s, 100);
          if (st == NATS_TIMEOUT) continue;
          if (st != NATS_OK) break;
          MsgPtr req(m);
          const char* reply = natsMsg_GetReply(m);
          if (reply != nullptr) {
            natsConnection_Publish(conn.nc(), reply, payload.data(), static_cast<int>(payload.size()));
          }
        }
      });
    } catch (const CliError&) {
      ready = responders;
    }
  });
  auto deadline = Clock::now() + std::chrono::milliseconds(IdleMs(g));
  while (ready < responders && Clock::now() < deadline) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  Phase req{"request", std::vector<ClientStat>(static_cast<size_t>(o.pubs)), o.size};
  std::vector<std::vector<int64_t>> per(static_cast<size_t>(o.pubs));
  try {
    Progress bar(!o.no_progress, "request", o.msgs, done);
    RunClients(o.pubs, [&](int i) {
      Conn conn(g);
      auto& c = req.clients[static_cast<size_t>(i)];
      int64_t n = Share(o.msgs, o.pubs, i);
      c.start = Clock::now();
      for (int64_t k = 0; k < n; k++) {
        auto t0 = Clock::now();
        natsMsg* reply = nullptr;
        natsStatus st = natsConnection_Request(&reply, conn.nc(), o.subject.c_str(), payload.data(),
                                               static_cast<int>(payload.size()), IdleMs(g));
        if (st != NATS_OK) FailNats("request failed", st);
        natsMsg_Destroy(reply);
        per[static_cast<size_t>(i)].push_back(
            std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now() - t0).count());
        c.msgs++;
        done++;
      }
      c.end = Clock::now();
    });
  } catch (...) {
    stop = true;
    reply_runner.join();
    throw;
  }
  stop = true;
  reply_runner.join();
  for (auto& v : per) lat.insert(lat.end(), v.begin(), v.end());
  out.push_back(req);
}

struct JsPubErrors {
  std::atomic<int64_t> count{0};
  std::mutex mu;
  std::string first;
};

void OnPubError(jsCtx*, jsPubAckErr* pae, void* closure) {
  auto* errs = static_cast<JsPubErrors*>(closure);
  errs->count++;
  std::lock_guard<std::mutex> l(errs->mu);
  if (errs->first.empty()) errs->first = pae->ErrText != nullptr ? pae->ErrText : natsStatus_GetText(pae->Err);
}

void JetStream(const GlobalOptions& g, const Opts& o, std::vector<Phase>& out) {
  std::string payload(static_cast<size_t>(o.size), 'x');
  {
    Conn conn(g);
    Json info = conn.ApiNoThrow("STREAM.INFO." + o.stream);
    if (info.contains("error")) {
      conn.Api("STREAM.CREATE." + o.stream, Json{{"name", o.stream},
                                                 {"subjects", {o.subject}},
                                                 {"storage", o.storage},
                                                 {"num_replicas", o.replicas}});
    } else if (o.purge) {
      conn.Api("STREAM.PURGE." + o.stream, Json::object());
    }
  }
  if (o.pubs > 0) {
    Phase pub{"js pub", std::vector<ClientStat>(static_cast<size_t>(o.pubs)), o.size};
    std::atomic<int64_t> published{0};
    JsPubErrors errors;
    Progress bar(!o.no_progress, "js pub", o.msgs, published);
    RunClients(o.pubs, [&](int i) {
      Conn conn(g);
      jsCtx* js = nullptr;
      jsOptions jo;
      jsOptions_Init(&jo);
      jo.Wait = IdleMs(g);
      std::string prefix = g.ApiPrefix();
      jo.Prefix = prefix.c_str();
      jo.PublishAsync.MaxPending = o.pubbatch;
      // A full window waits for acks as long as the bench waits for
      // anything (libnats gives up after 200 ms by default: one slow fsync
      // on a busy disk failed the whole run).
      jo.PublishAsync.StallWait = IdleMs(g);
      jo.PublishAsync.ErrHandler = OnPubError;
      jo.PublishAsync.ErrHandlerClosure = &errors;
      natsStatus st = natsConnection_JetStream(&js, conn.nc(), &jo);
      if (st != NATS_OK) FailNats("JetStream context failed", st);
      std::unique_ptr<jsCtx, void (*)(jsCtx*)> guard(js, jsCtx_Destroy);
      auto& c = pub.clients[static_cast<size_t>(i)];
      int64_t n = Share(o.msgs, o.pubs, i);
      c.start = Clock::now();
      for (int64_t k = 0; k < n; k++) {
        if (o.syncpub) {
          jsPubAck* ack = nullptr;
          st = js_Publish(&ack, js, o.subject.c_str(), payload.data(), static_cast<int>(payload.size()), nullptr,
                          nullptr);
          jsPubAck_Destroy(ack);
        } else {
          st = js_PublishAsync(js, o.subject.c_str(), payload.data(), static_cast<int>(payload.size()), nullptr);
        }
        if (st != NATS_OK) FailNats("JetStream publish failed", st);
        c.msgs++;
        published++;
      }
      if (!o.syncpub) {
        jsPubOptions po;
        jsPubOptions_Init(&po);
        po.MaxWait = IdleMs(g);
        st = js_PublishAsyncComplete(js, &po);
        if (st != NATS_OK) FailNats("waiting for publish acknowledgments failed", st);
      }
      c.end = Clock::now();
    });
    bar.Stop();
    if (errors.count > 0) Fail(fmt::format("{} publishes failed: {}", errors.count.load(), errors.first));
    out.push_back(pub);
  }
  if (o.subs > 0) {
    std::string durable = "fjord-bench-" + NewNuid().substr(0, 8);
    {
      Conn conn(g);
      conn.Api("CONSUMER.CREATE." + o.stream + "." + durable,
               Json{{"stream_name", o.stream},
                    {"config", {{"durable_name", durable},
                                {"name", durable},
                                {"ack_policy", "explicit"},
                                {"deliver_policy", "all"},
                                {"max_ack_pending", -1},
                                {"filter_subject", o.subject}}}});
    }
    Phase sub{"js sub", std::vector<ClientStat>(static_cast<size_t>(o.subs)), o.size};
    std::atomic<int64_t> consumed{0};
    try {
      Progress bar(!o.no_progress, "js sub", o.msgs, consumed);
      RunClients(o.subs, [&](int i) {
        Conn conn(g);
        jsSubOptions so;
        jsSubOptions_Init(&so);
        so.Stream = o.stream.c_str();
        so.Consumer = durable.c_str();
        natsSubscription* s = nullptr;
        jsErrCode jerr = static_cast<jsErrCode>(0);
        natsStatus st = js_PullSubscribe(&s, conn.js(), o.subject.c_str(), durable.c_str(), nullptr, &so, &jerr);
        if (st != NATS_OK) FailNats("pull subscribe failed", st);
        std::unique_ptr<natsSubscription, void (*)(natsSubscription*)> guard(s, DropSubscription);
        auto& c = sub.clients[static_cast<size_t>(i)];
        c.start = Clock::now();
        c.end = c.start;
        // Short fetches so a client notices promptly that the others
        // consumed the rest; it gives up after IdleMs without progress.
        auto last_progress = Clock::now();
        while (consumed < o.msgs) {
          natsMsgList list = {nullptr, 0};
          int batch = static_cast<int>(std::min<int64_t>(o.fetch_batch, o.msgs - consumed));
          st = natsSubscription_Fetch(&list, s, std::max(1, batch), 250, &jerr);
          if (st == NATS_TIMEOUT) {
            if (Clock::now() - last_progress > std::chrono::milliseconds(IdleMs(g))) break;
            continue;
          }
          if (st != NATS_OK) FailNats("fetch failed", st);
          last_progress = Clock::now();
          for (int k = 0; k < list.Count; k++) natsMsg_Ack(list.Msgs[k], nullptr);
          c.msgs += list.Count;
          consumed += list.Count;
          c.end = Clock::now();
          natsMsgList_Destroy(&list);
        }
      });
    } catch (...) {
      Conn conn(g);
      conn.ApiNoThrow("CONSUMER.DELETE." + o.stream + "." + durable);
      throw;
    }
    Conn conn(g);
    conn.ApiNoThrow("CONSUMER.DELETE." + o.stream + "." + durable);
    out.push_back(sub);
    if (consumed < o.msgs) {
      std::cerr << fmt::format("fjord: warning: consumed only {} of {} messages\n", consumed.load(), o.msgs);
    }
  }
}

Json Latency(std::vector<int64_t> lat) {
  if (lat.empty()) return Json::object();
  std::sort(lat.begin(), lat.end());
  auto pct = [&](double p) { return lat[std::min(lat.size() - 1, static_cast<size_t>(p * lat.size()))]; };
  double sum = 0;
  for (auto v : lat) sum += static_cast<double>(v);
  return Json{{"count", lat.size()},      {"min_ns", lat.front()}, {"avg_ns", sum / lat.size()},
              {"p50_ns", pct(0.50)},      {"p90_ns", pct(0.90)},   {"p99_ns", pct(0.99)},
              {"max_ns", lat.back()}};
}

void Report(const Opts& o, const std::string& kind, const std::vector<Phase>& phases, const Json& latency) {
  if (o.json) {
    Json j{{"kind", kind}, {"subject", o.subject}, {"msgs", o.msgs}, {"size", o.size},
           {"pubs", o.pubs}, {"subs", o.subs}};
    if (o.js) j["stream"] = o.stream;
    Json results = Json::object();
    for (const auto& p : phases) results[p.role] = p.ToJson();
    j["results"] = results;
    if (!latency.empty()) j["latency"] = latency;
    return PrintJson(j);
  }
  Table t("Benchmark Results");
  t.Header({"Role", "Client", "Messages", "Seconds", "Msgs/sec", "Throughput"});
  for (const auto& p : phases) {
    auto row = [&](const std::string& who, int64_t msgs, double secs) {
      double rate = secs > 0 ? msgs / secs : 0;
      t.Row({p.role, who, Commas(msgs), fmt::format("{:.3f}", secs), Commas(static_cast<int64_t>(rate)),
             FormatBytes(static_cast<uint64_t>(rate * static_cast<double>(p.size))) + "/sec"});
    };
    if (p.clients.size() > 1) {
      for (size_t i = 0; i < p.clients.size(); i++) {
        row("#" + std::to_string(i + 1), p.clients[i].msgs, p.clients[i].Seconds());
      }
    }
    row("total", p.Msgs(), p.Seconds());
  }
  t.Print(std::cout);
  if (!latency.empty()) {
    auto d = [&](const char* k) { return FormatDuration(static_cast<int64_t>(latency[k].get<double>())); };
    std::cout << fmt::format("Latency: min {} avg {} p50 {} p90 {} p99 {} max {}\n", d("min_ns"), d("avg_ns"),
                             d("p50_ns"), d("p90_ns"), d("p99_ns"), d("max_ns"));
  }
}

}  // namespace

void AddBenchCommand(CLI::App& app, GlobalOptions& g) {
  auto o = std::make_shared<Opts>();
  auto* cmd = app.add_subcommand("bench", "Benchmark publish/subscribe, request/reply and JetStream");
  cmd->add_option("subject", o->subject, "Subject to use for the benchmark")->required();
  o->pub_opt = cmd->add_option("--pub", o->pubs, "Number of concurrent publishers (default 1)")
                   ->check(WholeNumber(0));
  cmd->add_option("--sub", o->subs, "Number of concurrent subscribers (JetStream: pull consumers)")
      ->check(WholeNumber(0));
  cmd->add_option("--msgs", o->msgs, "Number of messages to publish")->check(WholeNumber(1));
  cmd->add_option("--size", o->size, "Size of the message payload in bytes")->check(WholeNumber(0));
  cmd->add_flag("--request", o->request, "Request/reply: publishers request, --sub responders (default 1) reply");
  cmd->add_flag("--js", o->js, "JetStream: publish to a stream, then consume it with --sub pull consumers");
  cmd->add_flag("--pull", o->pull, "Consume JetStream with pull fetches (the only JetStream consume mode)");
  cmd->add_option("--stream", o->stream, "Stream to use with --js")->default_str("benchstream");
  cmd->add_option("--storage", o->storage, "Storage for a stream created by --js (memory, file)")
      ->check(CLI::IsMember({"memory", "file"}));
  cmd->add_option("--replicas", o->replicas, "Replicas for a stream created by --js");
  cmd->add_flag("--purge", o->purge, "Purge the stream before publishing");
  cmd->add_option("--pubbatch", o->pubbatch, "Outstanding asynchronous JetStream publishes")
      ->check(WholeNumber(1));
  cmd->add_flag("--syncpub", o->syncpub, "Wait for each JetStream acknowledgment");
  cmd->add_option("--fetch-batch", o->fetch_batch, "Messages per pull fetch")->check(WholeNumber(1));
  cmd->add_flag("--no-progress", o->no_progress, "Disable the progress bar");
  cmd->add_flag("-j,--json", o->json, "Produce JSON output");
  cmd->callback([&g, o] {
    if (o->js && o->request) Fail("--js and --request cannot be combined");
    if (o->pubs == 0 && o->subs == 0) Fail("nothing to do: --pub and --sub are both 0");
    if (o->request && o->pubs == 0) Fail("--request needs at least one publisher");
    if (o->js && o->pub_opt->count() == 0 && o->subs > 0) o->pubs = 1;
    std::string kind = o->js ? "jetstream" : o->request ? "request" : "core";
    if (!o->json) {
      std::cerr << fmt::format("Starting {} benchmark [subject={}, msgs={}, msgsize={}, pubs={}, subs={}{}]\n",
                               kind == "core" ? "Core NATS pub/sub" : kind == "request" ? "request/reply" : "JetStream",
                               o->subject, Commas(o->msgs), FormatBytes(static_cast<uint64_t>(o->size)), o->pubs,
                               o->subs, o->js ? ", stream=" + o->stream : "");
    }
    std::vector<Phase> phases;
    std::vector<int64_t> lat;
    if (o->js) JetStream(g, *o, phases);
    else if (o->request) RequestReply(g, *o, phases, lat);
    else CorePubSub(g, *o, phases);
    Report(*o, kind, phases, Latency(lat));
  });
}

}  // namespace fjord::cli
