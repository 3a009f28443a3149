// libnats (the official C client, Debian's libnats-dev) against a running
// server: core pub/sub, request/reply, headers, queue groups, no responders,
// and JetStream publish + pull fetch/ack.
//
// Usage: libnats_interop nats://127.0.0.1:PORT
// Exit code 0 when every check passed; otherwise the first failure is printed.

#include <nats/nats.h>

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *step = "start";

#define CHECK_S(expr)                                                          \
  do {                                                                         \
    natsStatus s_ = (expr);                                                    \
    if (s_ != NATS_OK) {                                                       \
      fprintf(stderr, "FAIL [%s] %s:%d: %s -> %s\n", step, __FILE__, __LINE__, \
              #expr, natsStatus_GetText(s_));                                  \
      nats_PrintLastErrorStack(stderr);                                        \
      exit(1);                                                                 \
    }                                                                          \
  } while (0)

#define CHECK(cond, ...)                                                         \
  do {                                                                           \
    if (!(cond)) {                                                               \
      fprintf(stderr, "FAIL [%s] %s:%d: %s: ", step, __FILE__, __LINE__, #cond); \
      fprintf(stderr, __VA_ARGS__);                                              \
      fprintf(stderr, "\n");                                                     \
      exit(1);                                                                   \
    }                                                                            \
  } while (0)

static void Echo(natsConnection *nc, natsSubscription *sub, natsMsg *msg, void *closure) {
  (void)sub;
  (void)closure;
  char buf[256];
  int n = snprintf(buf, sizeof buf, "re:%.*s", natsMsg_GetDataLength(msg), natsMsg_GetData(msg));
  natsConnection_Publish(nc, natsMsg_GetReply(msg), buf, n);
  natsMsg_Destroy(msg);
}

static void TestPubSub(natsConnection *nc) {
  step = "pub/sub";
  natsSubscription *sub = NULL;
  CHECK_S(natsConnection_SubscribeSync(&sub, nc, "c.bin.*"));
  CHECK_S(natsConnection_Flush(nc));
  char payload[256];
  for (int i = 0; i < 256; i++) payload[i] = (char)i;
  for (int i = 1; i <= 10; i++) CHECK_S(natsConnection_Publish(nc, "c.bin.x", payload, i * 25));
  CHECK_S(natsConnection_Flush(nc));
  for (int i = 1; i <= 10; i++) {
    natsMsg *m = NULL;
    CHECK_S(natsSubscription_NextMsg(&m, sub, 5000));
    CHECK(natsMsg_GetDataLength(m) == i * 25, "length %d", natsMsg_GetDataLength(m));
    CHECK(memcmp(natsMsg_GetData(m), payload, i * 25) == 0, "payload bytes differ");
    CHECK(strcmp(natsMsg_GetSubject(m), "c.bin.x") == 0, "subject %s", natsMsg_GetSubject(m));
    natsMsg_Destroy(m);
  }
  natsSubscription_Destroy(sub);
}

static void TestRequestReply(natsConnection *nc) {
  step = "request/reply";
  natsSubscription *svc = NULL;
  CHECK_S(natsConnection_Subscribe(&svc, nc, "c.svc", Echo, NULL));
  CHECK_S(natsConnection_Flush(nc));
  for (int i = 0; i < 5; i++) {
    char req[16];
    snprintf(req, sizeof req, "q%d", i);
    natsMsg *reply = NULL;
    CHECK_S(natsConnection_RequestString(&reply, nc, "c.svc", req, 5000));
    char want[32];
    snprintf(want, sizeof want, "re:%s", req);
    CHECK(natsMsg_GetDataLength(reply) == (int)strlen(want) &&
              memcmp(natsMsg_GetData(reply), want, strlen(want)) == 0,
          "reply %.*s", natsMsg_GetDataLength(reply), natsMsg_GetData(reply));
    natsMsg_Destroy(reply);
  }
  natsSubscription_Destroy(svc);

  step = "no responders";
  natsMsg *reply = NULL;
  natsStatus s = natsConnection_RequestString(&reply, nc, "c.nobody.home", "x", 5000);
  CHECK(s == NATS_NO_RESPONDERS, "got %s", natsStatus_GetText(s));
}

static void TestHeaders(natsConnection *nc) {
  step = "headers";
  natsSubscription *sub = NULL;
  CHECK_S(natsConnection_SubscribeSync(&sub, nc, "c.hdr"));
  CHECK_S(natsConnection_Flush(nc));
  natsMsg *out = NULL;
  CHECK_S(natsMsg_Create(&out, "c.hdr", NULL, "body", 4));
  CHECK_S(natsMsgHeader_Add(out, "X-Multi", "one"));
  CHECK_S(natsMsgHeader_Add(out, "X-Multi", "two"));
  CHECK_S(natsMsgHeader_Set(out, "Single", "v"));
  CHECK_S(natsConnection_PublishMsg(nc, out));
  natsMsg_Destroy(out);
  natsMsg *in = NULL;
  CHECK_S(natsSubscription_NextMsg(&in, sub, 5000));
  const char **values = NULL;
  int count = 0;
  CHECK_S(natsMsgHeader_Values(in, "X-Multi", &values, &count));
  CHECK(count == 2 && strcmp(values[0], "one") == 0 && strcmp(values[1], "two") == 0,
        "X-Multi has %d values", count);
  free((void *)values);
  const char *single = NULL;
  CHECK_S(natsMsgHeader_Get(in, "Single", &single));
  CHECK(strcmp(single, "v") == 0, "Single=%s", single);
  CHECK(natsMsg_GetDataLength(in) == 4 && memcmp(natsMsg_GetData(in), "body", 4) == 0, "body");
  natsMsg_Destroy(in);
  natsSubscription_Destroy(sub);
}

static int Drain(natsSubscription *sub) {
  int n = 0;
  natsMsg *m = NULL;
  while (natsSubscription_NextMsg(&m, sub, 300) == NATS_OK) {
    natsMsg_Destroy(m);
    n++;
  }
  return n;
}

static void TestQueueGroups(natsConnection *nc, const char *url) {
  step = "queue groups";
  natsConnection *nc2 = NULL;
  CHECK_S(natsConnection_ConnectTo(&nc2, url));
  natsSubscription *a = NULL, *b = NULL;
  CHECK_S(natsConnection_QueueSubscribeSync(&a, nc, "c.q", "workers"));
  CHECK_S(natsConnection_QueueSubscribeSync(&b, nc2, "c.q", "workers"));
  CHECK_S(natsConnection_Flush(nc));
  CHECK_S(natsConnection_Flush(nc2));
  const int kMsgs = 200;
  for (int i = 0; i < kMsgs; i++) CHECK_S(natsConnection_PublishString(nc, "c.q", "w"));
  CHECK_S(natsConnection_Flush(nc));
  int na = Drain(a);
  int nb = Drain(b);
  CHECK(na + nb == kMsgs, "a=%d b=%d", na, nb);
  CHECK(na > 0 && nb > 0, "both members used: a=%d b=%d", na, nb);
  natsSubscription_Destroy(a);
  natsSubscription_Destroy(b);
  natsConnection_Destroy(nc2);
}

static void TestJetStream(natsConnection *nc) {
  step = "jetstream";
  jsCtx *js = NULL;
  jsErrCode jerr = 0;
  CHECK_S(natsConnection_JetStream(&js, nc, NULL));

  jsStreamConfig cfg;
  jsStreamConfig_Init(&cfg);
  cfg.Name = "CSTREAM";
  const char *subjects[] = {"c.js.>"};
  cfg.Subjects = subjects;
  cfg.SubjectsLen = 1;
  cfg.Storage = js_FileStorage;
  jsStreamInfo *si = NULL;
  CHECK_S(js_AddStream(&si, js, &cfg, NULL, &jerr));
  CHECK(strcmp(si->Config->Name, "CSTREAM") == 0, "stream name");
  jsStreamInfo_Destroy(si);

  const int kMsgs = 10;
  for (int i = 1; i <= kMsgs; i++) {
    char data[32];
    int n = snprintf(data, sizeof data, "order-%d", i);
    jsPubAck *pa = NULL;
    CHECK_S(js_Publish(&pa, js, "c.js.orders", data, n, NULL, &jerr));
    CHECK(pa->Sequence == (uint64_t)i, "seq %llu", (unsigned long long)pa->Sequence);
    CHECK(strcmp(pa->Stream, "CSTREAM") == 0, "stream %s", pa->Stream);
    jsPubAck_Destroy(pa);
  }

  step = "jetstream pull";
  natsSubscription *sub = NULL;
  CHECK_S(js_PullSubscribe(&sub, js, "c.js.orders", "cpull", NULL, NULL, &jerr));
  int got = 0;
  for (int round = 0; round < 5 && got < kMsgs; round++) {
    natsMsgList list = {0};
    natsStatus s = natsSubscription_Fetch(&list, sub, 4, 5000, &jerr);
    if (s == NATS_TIMEOUT) continue;
    CHECK_S(s);
    for (int i = 0; i < list.Count; i++) {
      natsMsg *m = list.Msgs[i];
      got++;
      char want[32];
      int n = snprintf(want, sizeof want, "order-%d", got);
      CHECK(natsMsg_GetDataLength(m) == n && memcmp(natsMsg_GetData(m), want, n) == 0,
            "message %d is %.*s", got, natsMsg_GetDataLength(m), natsMsg_GetData(m));
      CHECK_S(natsMsg_AckSync(m, NULL, &jerr));
    }
    natsMsgList_Destroy(&list);
  }
  CHECK(got == kMsgs, "fetched %d of %d", got, kMsgs);

  jsConsumerInfo *ci = NULL;
  CHECK_S(js_GetConsumerInfo(&ci, js, "CSTREAM", "cpull", NULL, &jerr));
  CHECK(ci->NumPending == 0, "num_pending %llu", (unsigned long long)ci->NumPending);
  CHECK(ci->NumAckPending == 0, "num_ack_pending %lld", (long long)ci->NumAckPending);
  CHECK(ci->AckFloor.Stream == (uint64_t)kMsgs, "ack floor %llu", (unsigned long long)ci->AckFloor.Stream);
  jsConsumerInfo_Destroy(ci);
  natsSubscription_Destroy(sub);

  CHECK_S(js_DeleteStream(js, "CSTREAM", NULL, &jerr));
  jsCtx_Destroy(js);
}

int main(int argc, char **argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: %s nats://host:port\n", argv[0]);
    return 2;
  }
  natsConnection *nc = NULL;
  step = "connect";
  CHECK_S(natsConnection_ConnectTo(&nc, argv[1]));
  TestPubSub(nc);
  TestRequestReply(nc);
  TestHeaders(nc);
  TestQueueGroups(nc, argv[1]);
  TestJetStream(nc);
  natsConnection_Destroy(nc);
  nats_Close();
  printf("libnats interop: all checks passed\n");
  return 0;
}
