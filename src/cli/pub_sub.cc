// `fjord pub|sub|req|reply`: core NATS messaging. Status lines go to stderr
// (as the nats CLI logs them), message contents to stdout.
#include <unistd.h>

#include <chrono>
#include <climits>
#include <ctime>
#include <iostream>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include "cli/commands.h"

namespace fjord::cli {
namespace {

void Log(const std::string& line) {
  time_t t = time(nullptr);
  struct tm tm;
  localtime_r(&t, &tm);
  char ts[16];
  strftime(ts, sizeof ts, "%H:%M:%S", &tm);
  std::cerr << ts << " " << line << std::endl;
}

std::string RandomString(int min_len, int max_len) {
  static const char kChars[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
  thread_local std::mt19937 rng(std::random_device{}());
  if (max_len < min_len) std::swap(min_len, max_len);
  int len = std::uniform_int_distribution<int>(std::max(0, min_len), std::max(0, max_len))(rng);
  std::string out(static_cast<size_t>(len), 'a');
  for (auto& c : out) c = kChars[rng() % 62];
  return out;
}

// Renders the nats CLI's template functions: {{Count}}, {{TimeStamp}},
// {{Unix}}, {{UnixNano}}, {{Time}}, {{ID}}, {{Random min max}} and, for
// replies, {{Request}} and {{Subject}}. Go template spellings such as
// {{ .Count }} work too; anything else is left as written.
std::string Render(const std::string& tpl, int64_t count, const std::string& request = "",
                   const std::string& subject = "") {
  std::string out;
  size_t pos = 0;
  while (true) {
    size_t open = tpl.find("{{", pos);
    if (open == std::string::npos) break;
    size_t close = tpl.find("}}", open + 2);
    if (close == std::string::npos) break;
    out += tpl.substr(pos, open - pos);
    std::vector<std::string> words = SplitList(tpl.substr(open + 2, close - open - 2), ' ');
    std::string fn = words.empty() ? "" : words[0];
    if (!fn.empty() && fn[0] == '.') fn.erase(0, 1);
    auto now = std::chrono::system_clock::now().time_since_epoch();
    if (fn == "Count" || fn == "Cnt") {
      out += std::to_string(count);
    } else if (fn == "TimeStamp") {
      out += NowRfc3339();
    } else if (fn == "Unix") {
      out += std::to_string(std::chrono::duration_cast<std::chrono::seconds>(now).count());
    } else if (fn == "UnixNano") {
      out += std::to_string(std::chrono::duration_cast<std::chrono::nanoseconds>(now).count());
    } else if (fn == "Time") {
      time_t t = time(nullptr);
      struct tm tm;
      localtime_r(&t, &tm);
      char buf[16];
      strftime(buf, sizeof buf, "%H:%M:%S", &tm);
      out += buf;
    } else if (fn == "ID") {
      out += NewNuid();
    } else if (fn == "Random" && words.size() == 3) {
      out += RandomString(static_cast<int>(ParseInt(words[1], "{{Random MIN MAX}} length", 0, INT_MAX)),
                          static_cast<int>(ParseInt(words[2], "{{Random MIN MAX}} length", 0, INT_MAX)));
    } else if (fn == "Request") {
      out += request;
    } else if (fn == "Subject") {
      out += subject;
    } else {
      out += tpl.substr(open, close + 2 - open);
    }
    pos = close + 2;
  }
  return out + tpl.substr(pos);
}

// Builds a message with "Key:Value" headers, all rendered as templates.
MsgPtr BuildMsg(const std::string& subject, const std::string& reply, const std::string& body,
                const std::vector<std::string>& headers, int64_t count) {
  natsMsg* m = nullptr;
  std::string r = Render(reply, count);
  natsStatus s = natsMsg_Create(&m, Render(subject, count).c_str(), r.empty() ? nullptr : r.c_str(),
                                body.data(), static_cast<int>(body.size()));
  if (s != NATS_OK) FailNats("invalid message", s);
  MsgPtr msg(m);
  for (const auto& h : headers) {
    auto colon = h.find(':');
    if (colon == std::string::npos) Fail("invalid header \"" + h + "\", use Key:Value");
    std::string key = h.substr(0, colon);
    std::string val = Render(h.substr(colon + 1), count);
    while (!val.empty() && val.front() == ' ') val.erase(0, 1);
    natsMsgHeader_Add(m, key.c_str(), val.c_str());
  }
  return msg;
}

void PrintMsg(natsMsg* m, int64_t n, bool raw) {
  std::string data(natsMsg_GetData(m), natsMsg_GetDataLength(m));
  if (raw) {
    std::cout << data << std::endl;
    return;
  }
  std::cout << "[#" << n << "] Received on \"" << natsMsg_GetSubject(m) << "\"";
  const char* reply = natsMsg_GetReply(m);
  if (reply != nullptr && *reply != '\0') std::cout << " with reply \"" << reply << "\"";
  std::cout << "\n";
  const char** keys = nullptr;
  int nkeys = 0;
  if (natsMsgHeader_Keys(m, &keys, &nkeys) == NATS_OK) {
    for (int i = 0; i < nkeys; i++) {
      const char** vals = nullptr;
      int nvals = 0;
      if (natsMsgHeader_Values(m, keys[i], &vals, &nvals) == NATS_OK) {
        for (int j = 0; j < nvals; j++) std::cout << keys[i] << ": " << vals[j] << "\n";
        free(vals);
      }
    }
    free(keys);
  }
  std::cout << "\n" << data << "\n" << std::endl;
}

std::string InputBody(const std::string* given, bool have) {
  if (have) return *given;
  if (isatty(STDIN_FILENO) == 1) Log("Reading payload from STDIN, end with ^D");
  return ReadAllStdin();
}

void PubCmd(CLI::App& app, GlobalOptions& g) {
  struct Opts {
    std::string subject, body, reply, sleep;
    std::vector<std::string> headers;
    int64_t count = 1;
    bool js = false, quiet = false;
    CLI::Option* body_opt = nullptr;
  };
  auto o = std::make_shared<Opts>();
  auto* cmd = app.add_subcommand("pub", "Publish a message (templates: {{Count}} {{ID}} {{TimeStamp}} ...)");
  cmd->add_option("subject", o->subject, "Subject to publish to")->required();
  o->body_opt = cmd->add_option("body", o->body, "Message body (read from stdin when omitted)");
  cmd->add_option("-H,--header", o->headers, "Add a header Key:Value (repeatable)")->allow_extra_args(false);
  cmd->add_option("--reply", o->reply, "Reply subject to set on the message");
  cmd->add_option("--count", o->count, "Publish this many messages")->check(WholeNumber(1));
  cmd->add_option("--sleep", o->sleep, "Pause between messages (e.g. 100ms)");
  cmd->add_flag("-J,--jetstream", o->js, "Publish to JetStream and wait for the acknowledgment");
  cmd->add_flag("-q,--quiet", o->quiet, "Print nothing on success");
  cmd->callback([&g, o] {
    std::string tpl = InputBody(&o->body, o->body_opt->count() > 0);
    int64_t pause = o->sleep.empty() ? 0 : ParseDuration(o->sleep);
    Conn conn(g);
    for (int64_t i = 1; i <= o->count; i++) {
      std::string body = Render(tpl, i);
      MsgPtr msg = BuildMsg(o->subject, o->reply, body, o->headers, i);
      if (o->js) {
        jsPubAck* ack = nullptr;
        jsErrCode jerr = static_cast<jsErrCode>(0);
        natsStatus s = js_PublishMsg(&ack, conn.js(), msg.get(), nullptr, &jerr);
        if (s != NATS_OK) FailNats("JetStream publish failed", s);
        if (!o->quiet) {
          std::cout << fmt::format("Published {} bytes to \"{}\": stream {} sequence {}{}\n", body.size(),
                                   natsMsg_GetSubject(msg.get()), ack->Stream, ack->Sequence,
                                   ack->Duplicate ? " (duplicate)" : "");
        }
        jsPubAck_Destroy(ack);
      } else {
        natsStatus s = natsConnection_PublishMsg(conn.nc(), msg.get());
        if (s != NATS_OK) FailNats("publish failed", s);
        if (!o->quiet && o->count == 1) {
          Log(fmt::format("Published {} bytes to \"{}\"", body.size(), natsMsg_GetSubject(msg.get())));
        }
      }
      if (pause > 0 && i < o->count) std::this_thread::sleep_for(std::chrono::nanoseconds(pause));
    }
    natsStatus s = natsConnection_FlushTimeout(conn.nc(), g.TimeoutMs());
    if (s != NATS_OK) FailNats("flushing published messages failed", s);
    if (!o->quiet && !o->js && o->count > 1) {
      Log(fmt::format("Published {} messages to \"{}\"", o->count, o->subject));
    }
  });
}

void SubCmd(CLI::App& app, GlobalOptions& g) {
  struct Opts {
    std::string subject, queue, wait;
    int64_t count = 0;
    bool raw = false;
  };
  auto o = std::make_shared<Opts>();
  auto* cmd = app.add_subcommand("sub", "Subscribe to a subject and print the messages");
  cmd->add_option("subject", o->subject, "Subject to subscribe to")->required();
  cmd->add_option("--queue", o->queue, "Join this queue group");
  cmd->add_option("--count", o->count, "Exit after receiving this many messages");
  cmd->add_option("--wait", o->wait, "Exit with an error if no message arrives within this time");
  cmd->add_flag("-r,--raw", o->raw, "Show only the message bodies");
  cmd->callback([&g, o] {
    Conn conn(g);
    natsSubscription* sub = nullptr;
    natsStatus s = o->queue.empty()
                       ? natsConnection_SubscribeSync(&sub, conn.nc(), o->subject.c_str())
                       : natsConnection_QueueSubscribeSync(&sub, conn.nc(), o->subject.c_str(), o->queue.c_str());
    if (s != NATS_OK) FailNats("could not subscribe to " + o->subject, s);
    std::unique_ptr<natsSubscription, void (*)(natsSubscription*)> guard(sub, DropSubscription);
    natsSubscription_SetPendingLimits(sub, -1, -1);
    s = natsConnection_FlushTimeout(conn.nc(), g.TimeoutMs());
    if (s != NATS_OK) FailNats("could not subscribe to " + o->subject, s);
    Log(o->queue.empty() ? "Subscribing on " + o->subject
                         : "Subscribing on " + o->subject + " in group " + o->queue);
    int64_t wait_ms = o->wait.empty() ? 0 : std::max<int64_t>(1, ParseDuration(o->wait) / 1000000);
    for (int64_t n = 1; o->count == 0 || n <= o->count; n++) {
      natsMsg* m = nullptr;
      s = natsSubscription_NextMsg(&m, sub, wait_ms > 0 ? wait_ms : 3600 * 1000);
      if (s == NATS_TIMEOUT && wait_ms == 0) {
        n--;
        continue;
      }
      if (s == NATS_TIMEOUT) Fail("no message received within " + o->wait);
      if (s != NATS_OK) FailNats("subscription failed", s);
      MsgPtr msg(m);
      PrintMsg(m, n, o->raw);
    }
  });
}

void ReqCmd(CLI::App& app, GlobalOptions& g) {
  struct Opts {
    std::string subject, body;
    std::vector<std::string> headers;
    int64_t count = 1;
    bool raw = false;
    CLI::Option* body_opt = nullptr;
  };
  auto o = std::make_shared<Opts>();
  auto* cmd = app.add_subcommand("req", "Send a request and wait for the response")->alias("request");
  cmd->add_option("subject", o->subject, "Subject to send the request to")->required();
  o->body_opt = cmd->add_option("body", o->body, "Request body (read from stdin when omitted)");
  cmd->add_option("-H,--header", o->headers, "Add a header Key:Value (repeatable)")->allow_extra_args(false);
  cmd->add_option("--count", o->count, "Send this many requests")->check(WholeNumber(1));
  cmd->add_flag("-r,--raw", o->raw, "Show only the response bodies");
  cmd->callback([&g, o] {
    std::string tpl = InputBody(&o->body, o->body_opt->count() > 0);
    Conn conn(g);
    for (int64_t i = 1; i <= o->count; i++) {
      MsgPtr req = BuildMsg(o->subject, "", Render(tpl, i), o->headers, i);
      if (!o->raw) Log("Sending request on \"" + std::string(natsMsg_GetSubject(req.get())) + "\"");
      auto start = std::chrono::steady_clock::now();
      natsMsg* reply = nullptr;
      natsStatus s = natsConnection_RequestMsg(&reply, conn.nc(), req.get(), g.TimeoutMs());
      if (s == NATS_NO_RESPONDERS) Fail("no responders available for request on " + o->subject);
      if (s == NATS_TIMEOUT) Fail("timeout waiting for a response on " + o->subject);
      if (s != NATS_OK) FailNats("request failed", s);
      MsgPtr msg(reply);
      auto rtt = std::chrono::steady_clock::now() - start;
      if (o->raw) {
        std::cout << std::string(natsMsg_GetData(reply), natsMsg_GetDataLength(reply)) << std::endl;
        continue;
      }
      Log("Received with rtt " + FormatDuration(std::chrono::duration_cast<std::chrono::nanoseconds>(rtt).count()));
      const char** keys = nullptr;
      int nkeys = 0;
      if (natsMsgHeader_Keys(reply, &keys, &nkeys) == NATS_OK) {
        for (int k = 0; k < nkeys; k++) {
          const char* v = nullptr;
          natsMsgHeader_Get(reply, keys[k], &v);
          std::cout << keys[k] << ": " << (v != nullptr ? v : "") << "\n";
        }
        free(keys);
        if (nkeys > 0) std::cout << "\n";
      }
      std::cout << std::string(natsMsg_GetData(reply), natsMsg_GetDataLength(reply)) << "\n" << std::endl;
    }
  });
}

void ReplyCmd(CLI::App& app, GlobalOptions& g) {
  struct Opts {
    std::string subject, body, queue = "NATS-RPLY-22", sleep;
    std::vector<std::string> headers;
    int64_t count = 0;
    bool echo = false, raw = false;
    CLI::Option* body_opt = nullptr;
  };
  auto o = std::make_shared<Opts>();
  auto* cmd = app.add_subcommand("reply", "Answer requests (a fixed body, a template or --echo)");
  cmd->add_option("subject", o->subject, "Subject to listen on")->required();
  o->body_opt = cmd->add_option("body", o->body, "Response body; templates {{Count}} {{Request}} {{Subject}} ...");
  cmd->add_flag("--echo", o->echo, "Echo back what is received");
  cmd->add_option("--queue", o->queue, "Queue group name")->default_str("NATS-RPLY-22");
  cmd->add_option("-H,--header", o->headers, "Add a header Key:Value to responses (repeatable)")->allow_extra_args(false);
  cmd->add_option("--count", o->count, "Exit after answering this many requests");
  cmd->add_option("--sleep", o->sleep, "Wait this long before answering");
  cmd->add_flag("-r,--raw", o->raw, "Show only the request bodies");
  cmd->callback([&g, o] {
    if (!o->echo && o->body_opt->count() == 0) Fail("a response body or --echo is required");
    int64_t pause = o->sleep.empty() ? 0 : ParseDuration(o->sleep);
    Conn conn(g);
    natsSubscription* sub = nullptr;
    natsStatus s = natsConnection_QueueSubscribeSync(&sub, conn.nc(), o->subject.c_str(), o->queue.c_str());
    if (s != NATS_OK) FailNats("could not subscribe to " + o->subject, s);
    std::unique_ptr<natsSubscription, void (*)(natsSubscription*)> guard(sub, DropSubscription);
    s = natsConnection_FlushTimeout(conn.nc(), g.TimeoutMs());
    if (s != NATS_OK) FailNats("could not subscribe to " + o->subject, s);
    Log("Listening on \"" + o->subject + "\" in group \"" + o->queue + "\"");
    for (int64_t n = 1; o->count == 0 || n <= o->count; n++) {
      natsMsg* m = nullptr;
      s = natsSubscription_NextMsg(&m, sub, 3600 * 1000);
      if (s == NATS_TIMEOUT) {
        n--;
        continue;
      }
      if (s != NATS_OK) FailNats("subscription failed", s);
      MsgPtr req(m);
      PrintMsg(m, n, o->raw);
      const char* reply = natsMsg_GetReply(m);
      if (reply == nullptr || *reply == '\0') continue;
      if (pause > 0) std::this_thread::sleep_for(std::chrono::nanoseconds(pause));
      std::string request(natsMsg_GetData(m), natsMsg_GetDataLength(m));
      std::string body = o->echo ? request : Render(o->body, n, request, natsMsg_GetSubject(m));
      MsgPtr resp = BuildMsg(reply, "", body, o->headers, n);
      if (o->echo) {
        const char** keys = nullptr;
        int nkeys = 0;
        if (natsMsgHeader_Keys(m, &keys, &nkeys) == NATS_OK) {
          for (int k = 0; k < nkeys; k++) {
            const char* v = nullptr;
            natsMsgHeader_Get(m, keys[k], &v);
            natsMsgHeader_Add(resp.get(), keys[k], v != nullptr ? v : "");
          }
          free(keys);
        }
      }
      s = natsConnection_PublishMsg(conn.nc(), resp.get());
      if (s != NATS_OK) FailNats("could not send the response", s);
      natsConnection_FlushTimeout(conn.nc(), g.TimeoutMs());
    }
  });
}

}  // namespace

void AddPubSubCommands(CLI::App& app, GlobalOptions& g) {
  PubCmd(app, g);
  SubCmd(app, g);
  ReqCmd(app, g);
  ReplyCmd(app, g);
}

}  // namespace fjord::cli
