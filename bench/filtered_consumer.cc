// Filtered consumers on a large stream (issue: "a consumer filtered to one
// subject on a stream of 1,000,000 messages over 10,000 subjects, against the
// same unfiltered").
//
//   fjord-bench-filtered [-s URL] [-n MSGS] [-k SUBJECTS] [-b BATCH]
//
// Fills a file stream with MSGS messages spread round-robin over SUBJECTS
// subjects (not timed), then times, each with a fresh durable pull consumer
// and explicit acks:
//   - "filtered": filter_subject bench.<k/2>, fetching its MSGS/SUBJECTS
//     messages, plus the consumer create and one consumer info (num_pending);
//   - "unfiltered": every message.
// One JSON line per case on stdout. Only the public libnats API is used, so the
// same binary measures nats-server: run it against both and compare.
#include <nats/nats.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

namespace {

using Clock = std::chrono::steady_clock;

double Since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

[[noreturn]] void Die(const char* what, natsStatus s, jsErrCode jerr = static_cast<jsErrCode>(0)) {
  std::fprintf(stderr, "fjord-bench-filtered: %s: %s (JetStream error %d)\n", what, natsStatus_GetText(s),
               static_cast<int>(jerr));
  std::exit(1);
}

void Check(natsStatus s, const char* what, jsErrCode jerr = static_cast<jsErrCode>(0)) {
  if (s != NATS_OK) Die(what, s, jerr);
}

struct Options {
  std::string url = "nats://127.0.0.1:4222";
  long msgs = 1'000'000;
  long subjects = 10'000;
  int batch = 500;
};

// Creates a durable pull consumer, fetches `want` messages acking each, and
// prints the timings.
void RunCase(jsCtx* js, const char* stream, const char* name, const char* filter, long want, int batch) {
  jsErrCode jerr = static_cast<jsErrCode>(0);
  jsConsumerConfig cc;
  jsConsumerConfig_Init(&cc);
  cc.Durable = name;
  cc.AckPolicy = js_AckExplicit;
  cc.DeliverPolicy = js_DeliverAll;
  cc.FilterSubject = filter;
  auto t0 = Clock::now();
  jsConsumerInfo* ci = nullptr;
  Check(js_AddConsumer(&ci, js, stream, &cc, nullptr, &jerr), "add consumer", jerr);
  double create_s = Since(t0);
  jsConsumerInfo_Destroy(ci);
  ci = nullptr;
  auto t1 = Clock::now();
  Check(js_GetConsumerInfo(&ci, js, stream, name, nullptr, &jerr), "consumer info", jerr);
  double info_s = Since(t1);
  uint64_t pending = ci->NumPending;
  jsConsumerInfo_Destroy(ci);
  if (long(pending) != want) {
    std::fprintf(stderr, "fjord-bench-filtered: %s: num_pending %llu, want %ld\n", name,
                 static_cast<unsigned long long>(pending), want);
    std::exit(1);
  }

  natsSubscription* sub = nullptr;
  jsSubOptions so;
  jsSubOptions_Init(&so);
  so.Stream = stream;
  so.Consumer = name;
  Check(js_PullSubscribe(&sub, js, filter ? filter : ">", name, nullptr, &so, &jerr), "pull subscribe", jerr);
  long got = 0;
  double first_s = -1;
  auto t2 = Clock::now();
  while (got < want) {
    natsMsgList list = {};
    natsStatus s = natsSubscription_Fetch(&list, sub, batch, 10'000, &jerr);
    if (s == NATS_TIMEOUT) Die("fetch timed out", s);
    Check(s, "fetch", jerr);
    if (first_s < 0) first_s = Since(t2);
    for (int i = 0; i < list.Count; ++i) {
      if (filter && std::strcmp(natsMsg_GetSubject(list.Msgs[i]), filter) != 0) {
        std::fprintf(stderr, "fjord-bench-filtered: got %s on a consumer filtered to %s\n",
                     natsMsg_GetSubject(list.Msgs[i]), filter);
        std::exit(1);
      }
      Check(natsMsg_Ack(list.Msgs[i], nullptr), "ack");
    }
    got += list.Count;
    natsMsgList_Destroy(&list);
  }
  double fetch_s = Since(t2);
  natsSubscription_Unsubscribe(sub);
  natsSubscription_Destroy(sub);
  js_DeleteConsumer(js, stream, name, nullptr, &jerr);
  std::printf(
      "{\"case\":\"%s\",\"filter\":\"%s\",\"msgs\":%ld,\"create_ms\":%.2f,\"info_ms\":%.2f,"
      "\"first_batch_ms\":%.2f,\"fetch_s\":%.3f,\"msgs_per_s\":%.0f}\n",
      name, filter ? filter : "", got, create_s * 1e3, info_s * 1e3, first_s * 1e3, fetch_s,
      double(got) / fetch_s);
  std::fflush(stdout);
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  for (int c; (c = getopt(argc, argv, "s:n:k:b:h")) != -1;) {
    switch (c) {
      case 's': o.url = optarg; break;
      case 'n': o.msgs = std::atol(optarg); break;
      case 'k': o.subjects = std::atol(optarg); break;
      case 'b': o.batch = std::atoi(optarg); break;
      default:
        std::fprintf(stderr, "usage: fjord-bench-filtered [-s URL] [-n MSGS] [-k SUBJECTS] [-b BATCH]\n");
        return c == 'h' ? 0 : 2;
    }
  }
  if (o.msgs <= 0 || o.subjects <= 0 || o.msgs % o.subjects != 0 || o.batch <= 0) {
    std::fprintf(stderr, "fjord-bench-filtered: -n must be a positive multiple of -k, -b positive\n");
    return 2;
  }
  natsConnection* nc = nullptr;
  Check(natsConnection_ConnectTo(&nc, o.url.c_str()), "connect");
  jsCtx* js = nullptr;
  jsOptions jo;
  jsOptions_Init(&jo);
  jo.PublishAsync.MaxPending = 4096;
  jo.PublishAsync.StallWait = 10'000;
  jo.Wait = 30'000;
  Check(natsConnection_JetStream(&js, nc, &jo), "jetstream");

  const char* stream = "BENCHFILT";
  jsErrCode jerr = static_cast<jsErrCode>(0);
  js_DeleteStream(js, stream, nullptr, &jerr);
  jsStreamConfig sc;
  jsStreamConfig_Init(&sc);
  sc.Name = stream;
  const char* subjects[] = {"bench.*"};
  sc.Subjects = subjects;
  sc.SubjectsLen = 1;
  sc.Storage = js_FileStorage;
  Check(js_AddStream(nullptr, js, &sc, nullptr, &jerr), "add stream", jerr);

  auto t0 = Clock::now();
  char subj[64], payload[128];
  std::memset(payload, 'x', sizeof payload);
  for (long i = 0; i < o.msgs; ++i) {
    std::snprintf(subj, sizeof subj, "bench.%ld", i % o.subjects);
    Check(js_PublishAsync(js, subj, payload, sizeof payload, nullptr), "publish");
  }
  jsPubOptions po;
  jsPubOptions_Init(&po);
  po.MaxWait = 120'000;
  Check(js_PublishAsyncComplete(js, &po), "publish complete");
  std::fprintf(stderr, "filled %ld messages over %ld subjects in %.1f s\n", o.msgs, o.subjects, Since(t0));

  std::snprintf(subj, sizeof subj, "bench.%ld", o.subjects / 2);
  RunCase(js, stream, "filtered", subj, o.msgs / o.subjects, o.batch);
  RunCase(js, stream, "unfiltered", nullptr, o.msgs, o.batch);

  js_DeleteStream(js, stream, nullptr, &jerr);
  jsCtx_Destroy(js);
  natsConnection_Destroy(nc);
  return 0;
}
