// Reads COUNT messages from an existing durable pull consumer with libnats and
// acknowledges each with natsMsg_Ack: a plain "+ACK" with no reply subject,
// which is how natsMsg_Ack and nats.go's msg.Ack() send it. Then it asks once
// more and reports anything beyond COUNT as extra (a message the server
// delivered although it was acknowledged before).
//
// Usage: plain_ack_reader nats://127.0.0.1:PORT STREAM DURABLE COUNT
// Prints one stream sequence per line, then "extra N"; exit 0 unless a call failed.

#include <nats/nats.h>

#include <stdio.h>
#include <stdlib.h>

#define CHECK_S(expr)                                                                  \
  do {                                                                                 \
    natsStatus s_ = (expr);                                                            \
    if (s_ != NATS_OK) {                                                               \
      fprintf(stderr, "FAIL %s:%d: %s -> %s\n", __FILE__, __LINE__, #expr,             \
              natsStatus_GetText(s_));                                                 \
      nats_PrintLastErrorStack(stderr);                                                \
      exit(1);                                                                         \
    }                                                                                  \
  } while (0)

static int Take(natsSubscription *sub, int want, int print) {
  int got = 0;
  for (int tries = 0; got < want && tries < 50; tries++) {
    natsMsgList list = {0};
    jsErrCode jerr = 0;
    int batch = want - got < 100 ? want - got : 100;
    natsStatus s = natsSubscription_Fetch(&list, sub, batch, 1000, &jerr);
    if (s == NATS_TIMEOUT) continue;
    CHECK_S(s);
    for (int i = 0; i < list.Count; i++) {
      jsMsgMetaData *meta = NULL;
      CHECK_S(natsMsg_GetMetaData(&meta, list.Msgs[i]));
      if (print) printf("%llu\n", (unsigned long long)meta->Sequence.Stream);
      jsMsgMetaData_Destroy(meta);
      CHECK_S(natsMsg_Ack(list.Msgs[i], NULL));
      got++;
    }
    natsMsgList_Destroy(&list);
  }
  return got;
}

int main(int argc, char **argv) {
  if (argc != 5) {
    fprintf(stderr, "usage: %s URL STREAM DURABLE COUNT\n", argv[0]);
    return 2;
  }
  int count = atoi(argv[4]);
  natsConnection *nc = NULL;
  jsCtx *js = NULL;
  natsSubscription *sub = NULL;
  jsSubOptions so;
  jsErrCode jerr = 0;
  CHECK_S(natsConnection_ConnectTo(&nc, argv[1]));
  CHECK_S(natsConnection_JetStream(&js, nc, NULL));
  CHECK_S(jsSubOptions_Init(&so));
  so.Stream = argv[2];
  so.Consumer = argv[3];
  CHECK_S(js_PullSubscribe(&sub, js, NULL, argv[3], NULL, &so, &jerr));
  int got = Take(sub, count, 1);
  if (got != count) {
    fprintf(stderr, "FAIL: got %d of %d messages\n", got, count);
    return 1;
  }
  // Anything more now is a message that should not have come.
  natsMsgList list = {0};
  natsStatus s = natsSubscription_Fetch(&list, sub, 100, 500, &jerr);
  int extra = s == NATS_OK ? list.Count : 0;
  if (s == NATS_OK) {
    for (int i = 0; i < list.Count; i++) natsMsg_Ack(list.Msgs[i], NULL);
    natsMsgList_Destroy(&list);
  }
  printf("extra %d\n", extra);
  // The acks are plain publishes: make sure the server has read them.
  CHECK_S(natsConnection_Flush(nc));
  natsSubscription_Destroy(sub);
  jsCtx_Destroy(js);
  natsConnection_Destroy(nc);
  nats_Close();
  return 0;
}
