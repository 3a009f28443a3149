// libnats across a cluster failover: a publisher given every node's URL
// (connected to the first) and a subscriber on another node. The test kills
// the publisher's node; libnats reconnects to another node and every
// message published from then on must reach the subscriber over the routes.
//
// usage: cluster_failover <pub urls,> <sub urls,> <subject> <millis>
// prints "PUB <url>" and "SUB <url>" once connected, then one JSON line.
#define _POSIX_C_SOURCE 200809L
#include <nats/nats.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

// Seqs are numbered from 1; received[] marks what arrived.
#define MAX_SEQ 200000
static atomic_int g_received[MAX_SEQ];
static atomic_long g_seq;
static atomic_long g_reconnected_at;

static void on_msg(natsConnection *nc, natsSubscription *sub, natsMsg *msg, void *closure) {
  (void)nc, (void)sub, (void)closure;
  long s = atol(natsMsg_GetData(msg));
  if (s > 0 && s < MAX_SEQ) atomic_fetch_add(&g_received[s], 1);
  natsMsg_Destroy(msg);
}

static void on_reconnect(natsConnection *nc, void *closure) {
  (void)nc, (void)closure;
  long expected = 0;
  atomic_compare_exchange_strong(&g_reconnected_at, &expected, atomic_load(&g_seq));
}

static natsStatus connect_to(const char *list, natsConnection **nc, bool publisher) {
  natsOptions *o = NULL;
  const char *servers[8];
  int n = 0;
  char *copy = strdup(list);
  for (char *tok = strtok(copy, ","); tok && n < 8; tok = strtok(NULL, ",")) servers[n++] = tok;
  natsStatus s = natsOptions_Create(&o);
  if (s == NATS_OK) s = natsOptions_SetServers(o, servers, n);
  if (s == NATS_OK) s = natsOptions_SetNoRandomize(o, true);
  if (s == NATS_OK) s = natsOptions_SetReconnectWait(o, 100);
  if (s == NATS_OK) s = natsOptions_SetMaxReconnect(o, 100);
  if (s == NATS_OK && publisher) s = natsOptions_SetReconnectedCB(o, on_reconnect, NULL);
  if (s == NATS_OK) s = natsConnection_Connect(nc, o);
  natsOptions_Destroy(o);
  free(copy);
  return s;
}

int main(int argc, char **argv) {
  if (argc != 5) {
    fprintf(stderr, "usage: cluster_failover <pub urls> <sub urls> <subject> <millis>\n");
    return 2;
  }
  const char *subject = argv[3];
  long millis = atol(argv[4]);
  natsConnection *pub = NULL, *subc = NULL;
  natsSubscription *sub = NULL;
  char url[256];
  natsStatus s = connect_to(argv[2], &subc, false);
  if (s == NATS_OK) s = natsConnection_Subscribe(&sub, subc, subject, on_msg, NULL);
  if (s == NATS_OK) s = natsConnection_FlushTimeout(subc, 5000);
  if (s == NATS_OK) s = natsConnection_GetConnectedUrl(subc, url, sizeof url);
  if (s == NATS_OK) printf("SUB %s\n", url);
  if (s == NATS_OK) s = connect_to(argv[1], &pub, true);
  if (s == NATS_OK) s = natsConnection_GetConnectedUrl(pub, url, sizeof url);
  if (s != NATS_OK) {
    printf("{\"error\":\"%s\"}\n", natsStatus_GetText(s));
    return 1;
  }
  printf("PUB %s\n", url);
  fflush(stdout);
  // Publish every 2 ms; while disconnected libnats buffers what we publish.
  long steps = millis / 2;
  for (long i = 1; i <= steps && i < MAX_SEQ; i++) {
    char buf[32];
    snprintf(buf, sizeof buf, "%ld", i);
    atomic_store(&g_seq, i);
    natsConnection_PublishString(pub, subject, buf);
    nats_Sleep(2);
  }
  natsConnection_FlushTimeout(pub, 5000);
  nats_Sleep(500);
  long sent = atomic_load(&g_seq);
  long at = atomic_load(&g_reconnected_at);
  // From a little after the reconnect on, nothing may be missing (the
  // margin covers what was in flight to the dead node).
  long from = at > 0 ? at + 50 : sent + 1;
  long expected_after = 0, received_after = 0, dups = 0;
  for (long i = from; i <= sent; i++) {
    expected_after++;
    int r = atomic_load(&g_received[i]);
    if (r > 0) received_after++;
    if (r > 1) dups++;
  }
  url[0] = 0;
  natsConnection_GetConnectedUrl(pub, url, sizeof url);
  printf("{\"sent\":%ld,\"reconnected_at\":%ld,\"pub_url_after\":\"%s\",\"expected_after\":%ld,"
         "\"received_after\":%ld,\"duplicates\":%ld}\n",
         sent, at, url, expected_after, received_after, dups);
  fflush(stdout);
  natsSubscription_Destroy(sub);
  natsConnection_Destroy(pub);
  natsConnection_Destroy(subc);
  nats_Close();
  return 0;
}
