/*
 * cluster_bench - cross-node (through a route) workloads on a 3-node NATS
 * cluster, one per run, one JSON line out. Built on libnats (Debian
 * libnats-dev), so Fjord and nats-server are measured by the same client.
 * Modelled on ../../shared/bench/natsbench.c; driven by cluster_compare.sh.
 *
 *   cluster_bench -a URL_A -b URL_B [-c URL_C] [options] SCENARIO
 *   cluster_bench -P                    print a free 127.0.0.1 TCP port
 *
 * Scenarios (publisher / requester always on A):
 *   xpubsub  1 subscriber on B; msgs/s end to end, in-order check
 *   xfanout  K subscribers on B and K on C; delivered msgs/s
 *   xqueue   2 queue members on B and 2 on C; exactly once overall; msgs/s
 *   xreqrep  responder on B; sequential requests; rtt/s and p50/p90/p99 us
 *   ping     connect to every given URL and flush
 *
 * Before anything is timed, probe messages (marked by a reply subject) are
 * published on A until every subscriber (for queues: every node) got one,
 * so the interest has crossed the routes. Every wait is bounded by -t.
 * Prints {"ok":true,...} and exits 0, or {"ok":false,"err":...} and exits 1.
 */
#define _GNU_SOURCE
#include <nats/nats.h>

#include <arpa/inet.h>
#include <math.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static const char *g_url[3];          /* A, B, C */
static long        g_n       = -1;
static int         g_size    = 128;
static int         g_k       = 2;
static int         g_timeout = 60;
static int64_t     g_deadline;
static char        g_uniq[48];
static char        g_err[600];
static char        g_json[4096];
static size_t      g_jlen;

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t) ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static double cpu_s(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;
}

static void sleep_us(long us)
{
    struct timespec ts = { us / 1000000, (us % 1000000) * 1000 };
    nanosleep(&ts, NULL);
}

static bool past_deadline(void) { return now_ns() > g_deadline; }

static int64_t ms_left(void)
{
    int64_t ms = (g_deadline - now_ns()) / 1000000;
    return ms < 1 ? 1 : ms;
}

static int fail(const char *fmt, ...)
{
    if (g_err[0] == '\0') {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(g_err, sizeof g_err, fmt, ap);
        va_end(ap);
    }
    return -1;
}

static int chk(natsStatus s, const char *what)
{
    if (s == NATS_OK)
        return 0;
    const char *last = nats_GetLastError(NULL);
    return fail("%s: %s%s%s", what, natsStatus_GetText(s), (last && *last) ? " / " : "",
                (last && *last) ? last : "");
}

static void jraw(const char *fmt, ...)
{
    if (g_jlen >= sizeof g_json - 1)
        return;
    va_list ap;
    va_start(ap, fmt);
    int w = vsnprintf(g_json + g_jlen, sizeof g_json - g_jlen, fmt, ap);
    va_end(ap);
    if (w > 0)
        g_jlen += (size_t) w;
    if (g_jlen > sizeof g_json - 1)
        g_jlen = sizeof g_json - 1;
}

static void jint(const char *k, long long v) { jraw(",\"%s\":%lld", k, v); }
static void jnum(const char *k, double v)
{
    if (!isfinite(v))
        v = 0;
    jraw(fabs(v) >= 1000 ? ",\"%s\":%.0f" : ",\"%s\":%.3f", k, v);
}

static atomic_long g_async_errs;
static char        g_async_txt[200];

static void on_async_err(natsConnection *nc, natsSubscription *sub, natsStatus err, void *cl)
{
    (void) nc; (void) sub; (void) cl;
    if (atomic_fetch_add(&g_async_errs, 1) == 0)
        snprintf(g_async_txt, sizeof g_async_txt, "%s", natsStatus_GetText(err));
}

static natsStatus bconnect(natsConnection **nc, int node, const char *name, bool asap)
{
    natsOptions *o = NULL;
    natsStatus   s = natsOptions_Create(&o);
    if (s == NATS_OK) s = natsOptions_SetURL(o, g_url[node]);
    if (s == NATS_OK) s = natsOptions_SetName(o, name);
    if (s == NATS_OK) s = natsOptions_SetAllowReconnect(o, false);
    /* stay on the node we were given: no cluster URLs gossiped to the client */
    if (s == NATS_OK) s = natsOptions_SetIgnoreDiscoveredServers(o, true);
    if (s == NATS_OK) s = natsOptions_SetTimeout(o, 5000);
    if (s == NATS_OK) s = natsOptions_SetErrorHandler(o, on_async_err, NULL);
    if (s == NATS_OK && asap) s = natsOptions_SetSendAsap(o, true);
    if (s == NATS_OK) s = natsConnection_Connect(nc, o);
    natsOptions_Destroy(o);
    return s;
}

static void close_conn(natsConnection **nc)
{
    if (*nc) {
        natsConnection_Close(*nc);
        natsConnection_Destroy(*nc);
        *nc = NULL;
    }
}

static char *make_payload(void)
{
    char *b = malloc((size_t) g_size + 8);
    if (b)
        memset(b, 'x', (size_t) g_size + 8);
    return b;
}

static inline void stamp(char *buf, uint64_t seq)
{
    if (g_size >= 8)
        memcpy(buf, &seq, 8);
}

static inline bool read_seq(natsMsg *m, uint64_t *seq)
{
    if (g_size < 8 || natsMsg_GetDataLength(m) < 8)
        return false;
    memcpy(seq, natsMsg_GetData(m), 8);
    return true;
}

/* ------------------------------------------------------------------ */
/* subscribers                                                        */

typedef struct {
    natsConnection   *nc;
    natsSubscription *sub;
    int               node;
    atomic_int        probed;  /* got a probe: its interest reached A */
    atomic_long       count;
    uint64_t          next;
    long              ooo, badlen;
} subst_t;

static atomic_long  g_total;
static long         g_target, g_nmsgs;
static atomic_llong g_done_ns;
static uint8_t     *g_seen;          /* queue: deliveries per sequence */
static const char  *PROBE_REPLY = "cb.probe";

static void on_msg(natsConnection *nc, natsSubscription *sub, natsMsg *m, void *cl)
{
    (void) nc; (void) sub;
    subst_t *st = cl;
    uint64_t seq;
    if (natsMsg_GetReply(m) != NULL) { /* a probe, not counted */
        atomic_store(&st->probed, 1);
        natsMsg_Destroy(m);
        return;
    }
    if (natsMsg_GetDataLength(m) != g_size)
        st->badlen++;
    if (read_seq(m, &seq)) {
        if (g_seen) {
            if (seq < (uint64_t) g_nmsgs)
                __atomic_fetch_add(&g_seen[seq], 1, __ATOMIC_RELAXED);
            else
                st->ooo++;
        } else {
            if (seq != st->next)
                st->ooo++;
            st->next = seq + 1;
        }
    }
    atomic_fetch_add_explicit(&st->count, 1, memory_order_relaxed);
    if (atomic_fetch_add(&g_total, 1) + 1 == g_target)
        atomic_store(&g_done_ns, now_ns());
    natsMsg_Destroy(m);
}

static int make_subs(subst_t *subs, int k, const char *subj, const char *queue)
{
    for (int i = 0; i < k; i++) {
        char what[64];
        snprintf(what, sizeof what, "connect subscriber %d (node %c)", i, 'A' + subs[i].node);
        if (chk(bconnect(&subs[i].nc, subs[i].node, "cluster_bench-sub", false), what))
            return -1;
        natsStatus s = queue ? natsConnection_QueueSubscribe(&subs[i].sub, subs[i].nc, subj, queue, on_msg, &subs[i])
                             : natsConnection_Subscribe(&subs[i].sub, subs[i].nc, subj, on_msg, &subs[i]);
        if (chk(s, "subscribe"))
            return -1;
        if (chk(natsSubscription_SetPendingLimits(subs[i].sub, -1, -1), "pending limits"))
            return -1;
        if (chk(natsConnection_FlushTimeout(subs[i].nc, 5000), "flush subscriber"))
            return -1;
    }
    return 0;
}

static void free_subs(subst_t *subs, int k)
{
    for (int i = 0; i < k; i++) {
        if (subs[i].sub) {
            natsSubscription_Unsubscribe(subs[i].sub);
            natsSubscription_Destroy(subs[i].sub);
        }
        close_conn(&subs[i].nc);
    }
}

/* publish probes on A until every subscriber (queue: every node that has
 * members) got one; bounded by 15 s and the deadline */
static int wait_interest(natsConnection *pnc, const char *subj, subst_t *subs, int k, bool queue)
{
    int64_t until = now_ns() + 15000000000LL, t0 = now_ns();
    long probes = 0;
    for (;;) {
        bool ready = true;
        for (int node = 1; node <= 2; node++) {
            bool has = false, any = false, all = true;
            for (int i = 0; i < k; i++) {
                if (subs[i].node != node)
                    continue;
                has = true;
                if (atomic_load(&subs[i].probed)) any = true;
                else all = false;
            }
            if (has && !(queue ? any : all))
                ready = false;
        }
        if (ready)
            break;
        if (now_ns() > until || past_deadline())
            return fail("interest did not cross the routes: probes not delivered after %ld tries", probes);
        if (chk(natsConnection_PublishRequest(pnc, subj, PROBE_REPLY, "p", 1), "publish probe") ||
            chk(natsConnection_FlushTimeout(pnc, 2000), "flush probe"))
            return -1;
        probes++;
        for (int j = 0; j < 20; j++) { /* up to 20 ms for it to arrive */
            bool all = true;
            for (int i = 0; i < k; i++)
                if (!atomic_load(&subs[i].probed)) all = false;
            if (all) break;
            sleep_us(1000);
        }
    }
    jint("probes", probes);
    jnum("interest_ms", (now_ns() - t0) / 1e6);
    return 0;
}

static int wait_total(subst_t *subs, int k, natsConnection *pnc)
{
    while (atomic_load(&g_done_ns) == 0) {
        if (past_deadline())
            return fail("timeout: %ld of %ld deliveries received", atomic_load(&g_total), g_target);
        for (int i = 0; i < k; i++)
            if (natsConnection_IsClosed(subs[i].nc))
                return fail("subscriber connection %d was closed (slow consumer?) after %ld of %ld", i,
                            atomic_load(&g_total), g_target);
        if (natsConnection_IsClosed(pnc))
            return fail("publisher connection closed after %ld of %ld", atomic_load(&g_total), g_target);
        sleep_us(500);
    }
    return 0;
}

/* after completion: a round trip per subscriber, then drain local queues,
 * so that late duplicates would still be counted */
static void settle(subst_t *subs, int k)
{
    for (int i = 0; i < k; i++) {
        natsConnection_FlushTimeout(subs[i].nc, 2000);
        for (int j = 0; j < 2000; j++) {
            int pm = 0;
            if (natsSubscription_GetPending(subs[i].sub, &pm, NULL) != NATS_OK || pm == 0)
                break;
            sleep_us(1000);
        }
    }
    sleep_us(20000); /* a stray copy still crossing a route */
}

/* xpubsub (k=1 on B), xfanout (k on B + k on C), xqueue (k on B + k on C) */
static int sc_cross(int per_node, bool two_nodes, bool queue)
{
    int k = per_node * (two_nodes ? 2 : 1);
    natsConnection *pnc = NULL;
    subst_t *subs = calloc((size_t) k, sizeof *subs);
    char subj[96], *buf = make_payload();
    int rc = -1;
    snprintf(subj, sizeof subj, "cb.x.%s", g_uniq);
    if (!subs || !buf) return fail("out of memory");
    for (int i = 0; i < k; i++)
        subs[i].node = 1 + i / per_node;

    g_nmsgs  = g_n;
    g_target = queue ? g_n : g_n * k;
    if (queue && g_size >= 8 && !(g_seen = calloc((size_t) g_n, 1)))
        return fail("out of memory");
    if (make_subs(subs, k, subj, queue ? "cbq" : NULL))
        goto out;
    if (chk(bconnect(&pnc, 0, "cluster_bench-pub", false), "connect publisher (node A)"))
        goto out;
    if (wait_interest(pnc, subj, subs, k, queue))
        goto out;

    double c0 = cpu_s();
    int64_t t0 = now_ns();
    for (long i = 0; i < g_n; i++) {
        stamp(buf, (uint64_t) i);
        natsStatus s = natsConnection_Publish(pnc, subj, buf, g_size);
        if (s != NATS_OK) { chk(s, "publish"); goto out; }
        if ((i & 0x3FFF) == 0 && past_deadline()) {
            fail("timeout while publishing (%ld of %ld sent)", i, g_n);
            goto out;
        }
    }
    if (chk(natsConnection_FlushTimeout(pnc, ms_left()), "publisher flush"))
        goto out;
    int64_t tp = now_ns();
    if (wait_total(subs, k, pnc))
        goto out;
    int64_t t1 = atomic_load(&g_done_ns);
    double cpu = cpu_s() - c0;
    settle(subs, k);

    long total = atomic_load(&g_total), ooo = 0, badlen = 0;
    double secs = (t1 - t0) / 1e9;
    jint("subs", k);
    jnum("secs", secs);
    jnum("msgs_per_s", total / secs); /* deliveries per second, all subscribers */
    jnum("mb_per_s", (double) total * g_size / secs / 1e6);
    jnum("pub_msgs_per_s", g_n / ((tp - t0) / 1e9));
    jnum("cli_cpu_s", cpu);
    jint("delivered", total);
    jraw(",\"per_sub\":[");
    for (int i = 0; i < k; i++) {
        jraw("%s%ld", i ? "," : "", atomic_load(&subs[i].count));
        ooo += subs[i].ooo;
        badlen += subs[i].badlen;
    }
    jraw("]");
    if (badlen)
        fail("%ld messages with wrong payload length", badlen);
    if (queue) {
        long dup = 0, missing = 0;
        for (long i = 0; g_seen && i < g_n; i++) {
            if (g_seen[i] == 0) missing++;
            else if (g_seen[i] > 1) dup += g_seen[i] - 1;
        }
        jint("dup", dup);
        jint("missing", missing);
        if (dup || missing || ooo || total != g_n)
            fail("queue group not exactly-once: delivered %ld of %ld, dup %ld, missing %ld, bad seq %ld",
                 total, g_n, dup, missing, ooo);
    } else {
        jint("out_of_order", ooo);
        for (int i = 0; i < k; i++)
            if (atomic_load(&subs[i].count) != g_n)
                fail("subscriber %d (node %c) got %ld of %ld messages", i, 'A' + subs[i].node,
                     atomic_load(&subs[i].count), g_n);
        if (ooo)
            fail("%ld out-of-order/duplicate deliveries", ooo);
    }
    rc = g_err[0] ? -1 : 0;
out:
    close_conn(&pnc);
    free_subs(subs, k);
    free(subs);
    free(buf);
    free(g_seen);
    g_seen = NULL;
    return rc;
}

/* xreqrep: responder on B, requester on A */
static void on_req(natsConnection *nc, natsSubscription *sub, natsMsg *m, void *cl)
{
    (void) sub; (void) cl;
    const char *reply = natsMsg_GetReply(m);
    if (reply)
        natsConnection_Publish(nc, reply, natsMsg_GetData(m), natsMsg_GetDataLength(m));
    natsMsg_Destroy(m);
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *) a, y = *(const int64_t *) b;
    return (x > y) - (x < y);
}

static double pct_us(const int64_t *v, long n, double p)
{
    long idx = (long) ceil(p * (double) n) - 1;
    if (idx < 0) idx = 0;
    if (idx >= n) idx = n - 1;
    return n > 0 ? v[idx] / 1000.0 : 0;
}

static int sc_xreqrep(void)
{
    natsConnection *rnc = NULL, *nc = NULL;
    natsSubscription *rsub = NULL;
    char subj[96], *buf = make_payload();
    int64_t *lat = malloc(sizeof(int64_t) * (size_t) g_n);
    int rc = -1;
    snprintf(subj, sizeof subj, "cb.req.%s", g_uniq);
    if (!buf || !lat) return fail("out of memory");

    if (chk(bconnect(&rnc, 1, "cluster_bench-responder", true), "connect responder (node B)"))
        goto out;
    if (chk(natsConnection_Subscribe(&rsub, rnc, subj, on_req, NULL), "subscribe responder"))
        goto out;
    natsSubscription_SetPendingLimits(rsub, -1, -1);
    if (chk(natsConnection_FlushTimeout(rnc, 5000), "flush responder"))
        goto out;
    if (chk(bconnect(&nc, 0, "cluster_bench-requester", false), "connect requester (node A)"))
        goto out;

    /* until the responder's interest has crossed the route (bounded) */
    int64_t until = now_ns() + 15000000000LL, ti = now_ns();
    long tries = 0;
    for (;;) {
        natsMsg *r = NULL;
        tries++;
        natsStatus s = natsConnection_Request(&r, nc, subj, buf, g_size, 200);
        if (s == NATS_OK) { natsMsg_Destroy(r); break; }
        if (s != NATS_TIMEOUT && s != NATS_NO_RESPONDERS) { chk(s, "probe request"); goto out; }
        if (now_ns() > until || past_deadline()) {
            fail("responder on B not reachable from A after %ld requests: %s", tries, natsStatus_GetText(s));
            goto out;
        }
        sleep_us(10000);
    }
    jint("probes", tries);
    jnum("interest_ms", (now_ns() - ti) / 1e6);
    for (int i = 0; i < 200; i++) { /* warm-up */
        natsMsg *r = NULL;
        if (chk(natsConnection_Request(&r, nc, subj, buf, g_size, 5000), "warm-up request"))
            goto out;
        natsMsg_Destroy(r);
    }
    double c0 = cpu_s();
    int64_t t0 = now_ns();
    for (long i = 0; i < g_n; i++) {
        natsMsg *r = NULL;
        stamp(buf, (uint64_t) i);
        int64_t a = now_ns();
        natsStatus s = natsConnection_Request(&r, nc, subj, buf, g_size, ms_left() < 5000 ? ms_left() : 5000);
        int64_t b = now_ns();
        if (s != NATS_OK) {
            chk(s, "request");
            jint("completed", i);
            goto out;
        }
        uint64_t seq;
        bool bad = natsMsg_GetDataLength(r) != g_size || (read_seq(r, &seq) && seq != (uint64_t) i);
        natsMsg_Destroy(r);
        if (bad) { fail("reply %ld does not echo the request", i); goto out; }
        lat[i] = b - a;
        if ((i & 0xFF) == 0 && past_deadline()) { fail("timeout after %ld requests", i); goto out; }
    }
    int64_t t1 = now_ns();
    double secs = (t1 - t0) / 1e9, sum = 0;
    jnum("secs", secs);
    jnum("rtt_per_s", g_n / secs);
    jnum("cli_cpu_s", cpu_s() - c0);
    qsort(lat, (size_t) g_n, sizeof *lat, cmp_i64);
    for (long i = 0; i < g_n; i++)
        sum += (double) lat[i];
    jnum("p50_us", pct_us(lat, g_n, 0.50));
    jnum("p90_us", pct_us(lat, g_n, 0.90));
    jnum("p99_us", pct_us(lat, g_n, 0.99));
    jnum("max_us", lat[g_n - 1] / 1000.0);
    jnum("mean_us", sum / g_n / 1000.0);
    rc = 0;
out:
    close_conn(&nc);
    if (rsub) natsSubscription_Destroy(rsub);
    close_conn(&rnc);
    free(lat);
    free(buf);
    return rc;
}

static int sc_ping(void)
{
    for (int i = 0; i < 3; i++) {
        natsConnection *nc = NULL;
        if (!g_url[i])
            continue;
        if (chk(bconnect(&nc, i, "cluster_bench-ping", false), "connect") ||
            chk(natsConnection_FlushTimeout(nc, 2000), "flush")) {
            close_conn(&nc);
            return -1;
        }
        close_conn(&nc);
    }
    return 0;
}

/* ------------------------------------------------------------------ */

static int free_port(void)
{
    srand((unsigned) (now_ns() ^ getpid()));
    for (int attempt = 0; attempt < 201; attempt++) {
        int fd = socket(AF_INET, SOCK_STREAM, 0);
        if (fd < 0)
            return -1;
        struct sockaddr_in a;
        memset(&a, 0, sizeof a);
        a.sin_family      = AF_INET;
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        a.sin_port        = htons(attempt < 200 ? (uint16_t) (20000 + rand() % 12000) : 0);
        if (bind(fd, (struct sockaddr *) &a, sizeof a) == 0) {
            socklen_t l = sizeof a;
            getsockname(fd, (struct sockaddr *) &a, &l);
            close(fd);
            return ntohs(a.sin_port);
        }
        close(fd);
    }
    return -1;
}

static void usage(FILE *f)
{
    fprintf(f,
        "usage: cluster_bench -a URL_A -b URL_B [-c URL_C] [options] SCENARIO\n"
        "       cluster_bench -P        print a free port on 127.0.0.1\n"
        "scenarios: xpubsub xfanout xqueue xreqrep ping\n"
        "  -n N       messages / requests (default 1000000; xreqrep 10000)\n"
        "  -S BYTES   payload size (default 128)\n"
        "  -k K       xfanout subscribers per node B and C (default 2)\n"
        "  -t SECS    deadline for the whole run (default 60)\n");
}

static bool loopback_url(const char *u)
{
    const char *h = strstr(u, "://");
    h = h ? h + 3 : u;
    return !strncmp(h, "127.", 4) || !strncmp(h, "localhost", 9);
}

int main(int argc, char **argv)
{
    int opt;
    const char *sc = NULL;
    while ((opt = getopt(argc, argv, "a:b:c:n:S:k:t:Ph")) != -1) {
        switch (opt) {
        case 'a': g_url[0] = optarg; break;
        case 'b': g_url[1] = optarg; break;
        case 'c': g_url[2] = optarg; break;
        case 'n': g_n = atol(optarg); break;
        case 'S': g_size = atoi(optarg); break;
        case 'k': g_k = atoi(optarg); break;
        case 't': g_timeout = atoi(optarg); break;
        case 'P': {
            int p = free_port();
            if (p <= 0) { fprintf(stderr, "no free port\n"); return 1; }
            printf("%d\n", p);
            return 0;
        }
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (optind < argc)
        sc = argv[optind];
    if (!sc) { usage(stderr); return 2; }
    bool need_c = !strcmp(sc, "xfanout") || !strcmp(sc, "xqueue");
    if (!g_url[0] || (strcmp(sc, "ping") && !g_url[1]) || (need_c && !g_url[2])) {
        fprintf(stderr, "cluster_bench: %s needs -a, -b%s\n", sc, need_c ? " and -c" : "");
        return 2;
    }
    for (int i = 0; i < 3; i++)
        if (g_url[i] && !loopback_url(g_url[i])) {
            fprintf(stderr, "cluster_bench: refusing non-loopback URL %s\n", g_url[i]);
            return 2;
        }
    if (g_n < 0) g_n = !strcmp(sc, "xreqrep") ? 10000 : 1000000;
    if (g_n < 1 || g_size < 0 || g_k < 1 || g_timeout < 1) {
        fprintf(stderr, "cluster_bench: bad numeric option\n");
        return 2;
    }
    snprintf(g_uniq, sizeof g_uniq, "%d_%lld", (int) getpid(), (long long) (now_ns() % 1000000000000LL));
    g_deadline = now_ns() + (int64_t) g_timeout * 1000000000LL;
    if (nats_Open(-1) != NATS_OK) {
        printf("{\"scenario\":\"%s\",\"ok\":false,\"err\":\"nats_Open failed\"}\n", sc);
        return 1;
    }

    int rc;
    if      (!strcmp(sc, "xpubsub")) rc = sc_cross(1, false, false);
    else if (!strcmp(sc, "xfanout")) rc = sc_cross(g_k, true, false);
    else if (!strcmp(sc, "xqueue"))  rc = sc_cross(2, true, true);
    else if (!strcmp(sc, "xreqrep")) rc = sc_xreqrep();
    else if (!strcmp(sc, "ping"))    rc = sc_ping();
    else {
        fprintf(stderr, "cluster_bench: unknown scenario '%s'\n", sc);
        usage(stderr);
        return 2;
    }
    if (rc == 0 && g_err[0])
        rc = -1;

    jnum("proc_cpu_s", cpu_s());
    long aerr = atomic_load(&g_async_errs);
    printf("{\"scenario\":\"%s\",\"ok\":%s,\"n\":%ld,\"size\":%d%s", sc, rc == 0 ? "true" : "false", g_n,
           g_size, g_json);
    if (aerr)
        printf(",\"async_errs\":%ld,\"async_err\":\"%s\"", aerr, g_async_txt);
    if (rc != 0) {
        printf(",\"err\":\"");
        for (const char *p = g_err[0] ? g_err : "failed"; *p; p++)
            if (*p == '"' || *p == '\\') printf("\\%c", *p);
            else putchar((unsigned char) *p < 0x20 ? ' ' : *p);
        printf("\"");
    }
    printf("}\n");
    fflush(stdout);
    nats_CloseAndWait(2000);
    return rc == 0 ? 0 : 1;
}
