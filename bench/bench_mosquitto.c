/* bench/bench_mosquitto.c - libmosquitto (Debian's libmosquitto1) used single-threaded, its
   fastest way: mosquitto_publish writes each packet at once (the library does so when no
   loop thread runs), mosquitto_loop(mosq, timeout, 1) reads and completes the rest. This is
   also its default path: it has nothing like a cork.
     pub1       at most W messages in flight, W = BENCH_WINDOW, else 20 (libmosquitto's
                default); with BENCH_WINDOW the library's own limit is set to W too
                (mosquitto_max_inflight_messages_set, which is MOSQ_OPT_SEND_MAXIMUM in 2.0
                and applies to MQTT 3.1.1 as well)
     conns      one poll(2) over every client's socket, mosquitto_loop_read / _write for the
                clients with events, mosquitto_loop_misc for those and for every client once
                a second (mosquitto_loop uses select(), which cannot take descriptors past 1023)
     handshake  one client, mosquitto_connect + mosquitto_loop until on_connect, then
                mosquitto_disconnect + mosquitto_loop until on_disconnect, N times
   bench_mosquittotls (-DBENCH_TLS, "mosquittotls"): mosquitto_tls_set(cafile BENCH_TLS_CA),
   its defaults otherwise (the chain and the host name checked); PORT a TLS listener. */
#define _GNU_SOURCE
#include "bench.h"

#include <mosquitto.h>
#include <poll.h>

#ifdef BENCH_TLS
static const char *CLIENT = "mosquittotls";
#else
static const char *CLIENT = "mosquitto";
#endif
static unsigned char payload[BENCH_PAYLOAD_LEN];
static long window = 20; /* QoS 1 messages in flight: BENCH_WINDOW, else libmosquitto's 20 */
static int window_set;   /* BENCH_WINDOW given: the library's own limit is set to it too */

typedef struct counts {
    long connacks, disconnects, messages, published, subacks;
    long measure_from; /* sub0: open the phase when this many messages have arrived */
    bench_phase *phase;
} counts;

static void on_connect(struct mosquitto *m, void *user, int rc) {
    (void)m;
    if (rc != 0) bench_die(CLIENT, "connection refused");
    ((counts *)user)->connacks++;
}

static void on_message(struct mosquitto *m, void *user, const struct mosquitto_message *msg) {
    counts *k = (counts *)user;
    (void)m; (void)msg;
    if (++k->messages == k->measure_from && k->phase) bench_begin(k->phase);
}

static void on_disconnect(struct mosquitto *m, void *user, int rc) {
    (void)m; (void)rc;
    ((counts *)user)->disconnects++;
}

static void on_publish(struct mosquitto *m, void *user, int mid) {
    (void)m; (void)mid;
    ((counts *)user)->published++;
}

static void on_subscribe(struct mosquitto *m, void *user, int mid, int count, const int *granted) {
    (void)m; (void)mid;
    if (count != 1 || granted[0] == 0x80) bench_die(CLIENT, "subscription refused");
    ((counts *)user)->subacks++;
}

static void check(int rc, const char *what) {
    if (rc != MOSQ_ERR_SUCCESS) {
        fprintf(stderr, "bench_mosquitto: %s: %s\n", what, mosquitto_strerror(rc));
        exit(1);
    }
}

static struct mosquitto *client_new(counts *k) {
    struct mosquitto *m = mosquitto_new(NULL, true, k);
    if (!m) bench_die(CLIENT, "mosquitto_new");
    if (window_set) check(mosquitto_max_inflight_messages_set(m, (unsigned)window), "max_inflight_messages_set");
#ifdef BENCH_TLS
    const char *ca = getenv("BENCH_TLS_CA");
    if (!ca) bench_die(CLIENT, "BENCH_TLS_CA names no CA file");
    check(mosquitto_tls_set(m, ca, NULL, NULL, NULL, NULL), "tls_set");
#endif
    mosquitto_connect_callback_set(m, on_connect);
    mosquitto_disconnect_callback_set(m, on_disconnect);
    mosquitto_message_callback_set(m, on_message);
    mosquitto_publish_callback_set(m, on_publish);
    mosquitto_subscribe_callback_set(m, on_subscribe);
    return m;
}

static struct mosquitto *client_open(counts *k, int port) {
    struct mosquitto *m = client_new(k);
    check(mosquitto_connect(m, "127.0.0.1", port, 60), "connect");
    while (k->connacks == 0) check(mosquitto_loop(m, 1000, 1), "loop");
    return m;
}

static void client_close(struct mosquitto *m) {
    mosquitto_disconnect(m);
    mosquitto_destroy(m);
}

static void subscribe_wait(struct mosquitto *m, counts *k, const char *filter) {
    long before = k->subacks;
    check(mosquitto_subscribe(m, NULL, filter, 0), "subscribe");
    while (k->subacks == before) check(mosquitto_loop(m, 1000, 1), "loop");
}

static void round_trip(struct mosquitto *m, counts *k, const char *topic) {
    long before = k->published;
    check(mosquitto_publish(m, NULL, topic, sizeof payload, payload, 1, false), "publish");
    while (k->published == before) check(mosquitto_loop(m, 1000, 1), "loop");
}

/* QoS 0: each publish is written at once; when the socket is full the library queues it,
   and the loop writes the queue out. */
static void send_qos0(struct mosquitto *m, counts *k, long n) {
    for (long i = 0; i < n; i++) {
        check(mosquitto_publish(m, NULL, "bench/pub0", sizeof payload, payload, 0, false), "publish");
        if (mosquitto_want_write(m)) check(mosquitto_loop(m, 1000, 1), "loop");
    }
    round_trip(m, k, "bench/pub0");
}

static void send_qos1(struct mosquitto *m, counts *k, long n) {
    long sent = 0, target = k->published + n, first = k->published;
    while (k->published < target) {
        while (sent < n && sent - (k->published - first) < window) {
            check(mosquitto_publish(m, NULL, "bench/pub1", sizeof payload, payload, 1, false), "publish");
            sent++;
        }
        check(mosquitto_loop(m, 1000, 1), "loop");
    }
}

static void run_publish(const bench_args *a, bench_result *r, int qos) {
    counts k;
    bench_phase ph;
    memset(&k, 0, sizeof k);
    struct mosquitto *m = client_open(&k, a->port);
    if (qos) send_qos1(m, &k, a->warmup);
    else send_qos0(m, &k, a->warmup);
    bench_begin(&ph);
    if (qos) send_qos1(m, &k, a->n);
    else send_qos0(m, &k, a->n);
    bench_end(&ph, r);
    client_close(m);
}

static void run_sub0(const bench_args *a, bench_result *r) {
    counts k;
    bench_phase ph;
    memset(&k, 0, sizeof k);
    k.phase = &ph;
    k.measure_from = a->warmup;
    struct mosquitto *m = client_open(&k, a->port);
    subscribe_wait(m, &k, "bench/sub0");
    bench_ready();
    while (k.messages < a->warmup + a->n) check(mosquitto_loop(m, 1000, 1), "loop");
    bench_end(&ph, r);
    client_close(m);
}

static void run_rtt(const bench_args *a, bench_result *r) {
    counts k;
    bench_phase ph;
    uint64_t *ns = malloc((size_t)a->n * sizeof *ns);
    if (!ns) bench_die(CLIENT, "out of memory");
    memset(&k, 0, sizeof k);
    struct mosquitto *m = client_open(&k, a->port);
    subscribe_wait(m, &k, "bench/rtt/mosquitto");
    for (long i = -a->warmup; i < a->n; i++) {
        if (i == 0) bench_begin(&ph);
        long before = k.messages;
        uint64_t t0 = bench_now_ns();
        check(mosquitto_publish(m, NULL, "bench/rtt/mosquitto", sizeof payload, payload, 0, false), "publish");
        while (k.messages == before) check(mosquitto_loop(m, 1000, 1), "loop");
        if (i >= 0) ns[i] = bench_now_ns() - t0;
    }
    bench_end(&ph, r);
    bench_percentiles(ns, a->n, r);
    free(ns);
    client_close(m);
}

/* ---- conns: N clients in one poll loop ---- */

/* One round of the loop over clients [0, end): one poll(2) over every socket; read and write
   for the clients with events, and mosquitto_loop_misc (pings, retries) for them and, once
   a second, for every client. */
static void pump_all(struct mosquitto **ms, long end, struct pollfd *p) {
    static uint64_t misc_ns;
    uint64_t now = bench_now_ns();
    int all = now - misc_ns >= 1000000000u;
    if (all) misc_ns = now;
    for (long i = 0; i < end; i++) {
        p[i].fd = mosquitto_socket(ms[i]);
        p[i].events = (short)(POLLIN | (mosquitto_want_write(ms[i]) ? POLLOUT : 0));
        p[i].revents = 0;
    }
    poll(p, (nfds_t)end, 1000);
    for (long i = 0; i < end; i++) {
        if (p[i].revents & (POLLIN | POLLHUP | POLLERR)) check(mosquitto_loop_read(ms[i], 1), "loop_read");
        if (p[i].revents & POLLOUT) check(mosquitto_loop_write(ms[i], 1), "loop_write");
        if (p[i].revents || all) check(mosquitto_loop_misc(ms[i]), "loop_misc");
    }
}

/* Connects and subscribes N clients, BENCH_CONN_CHUNK connecting at a time (the broker's
   listen backlog), every client connected so far in the loop. */
static void connect_clients(struct mosquitto **ms, long n, int port, counts *k, struct pollfd *p) {
    for (long first = 0; first < n; first += BENCH_CONN_CHUNK) {
        long last = first + BENCH_CONN_CHUNK < n ? first + BENCH_CONN_CHUNK : n;
        for (long i = first; i < last; i++) {
            ms[i] = client_new(k);
            check(mosquitto_connect(ms[i], "127.0.0.1", port, 60), "connect");
        }
        while (k->connacks < last) pump_all(ms, last, p);
        for (long i = first; i < last; i++) check(mosquitto_subscribe(ms[i], NULL, "bench/conns", 0), "subscribe");
        while (k->subacks < last) pump_all(ms, last, p);
    }
}

/* The baseline is taken before the first connection; the array of handles and the poll
   array count as part of what N connections cost. */
static void run_conns(const bench_args *a, bench_result *r) {
    counts k;
    bench_phase ph;
    memset(&k, 0, sizeof k);
    bench_conns_base base = bench_conns_begin();
    bench_begin(&ph);
    struct mosquitto **ms = malloc((size_t)a->n * sizeof *ms);
    struct pollfd *p = malloc((size_t)a->n * sizeof *p);
    if (!ms || !p) bench_die(CLIENT, "out of memory");
    connect_clients(ms, a->n, a->port, &k, p);
    bench_end(&ph, r);
    bench_conns_end(&base, a->n, r);
    for (long i = 0; i < a->n; i++) mosquitto_destroy(ms[i]);
    free(ms);
    free(p);
}

/* ---- handshake: one client, connected and disconnected N times ---- */
typedef struct handshake_ctx {
    struct mosquitto *m;
    counts k;
    int port;
} handshake_ctx;

static void handshake_connect(void *ctx) {
    handshake_ctx *h = (handshake_ctx *)ctx;
    long before = h->k.connacks;
    check(mosquitto_connect(h->m, "127.0.0.1", h->port, 60), "connect");
    while (h->k.connacks == before) check(mosquitto_loop(h->m, 1000, 1), "loop");
}

static void handshake_disconnect(void *ctx) {
    handshake_ctx *h = (handshake_ctx *)ctx;
    long before = h->k.disconnects;
    check(mosquitto_disconnect(h->m), "disconnect");
    while (h->k.disconnects == before) {
        int rc = mosquitto_loop(h->m, 1000, 1);
        if (rc != MOSQ_ERR_SUCCESS && rc != MOSQ_ERR_NO_CONN) check(rc, "loop");
    }
}

static void run_handshake(const bench_args *a, bench_result *r) {
    handshake_ctx h;
    memset(&h, 0, sizeof h);
    h.port = a->port;
    h.m = client_new(&h.k);
    bench_handshakes(a, r, handshake_connect, handshake_disconnect, &h);
    mosquitto_destroy(h.m);
}

int main(int argc, char **argv) {
    static const bench_workloads workloads = {run_publish, NULL, run_sub0, run_rtt, run_conns, run_handshake};
    bench_args a = bench_parse(argc, argv, CLIENT);
    if (a.window) {
        window = a.window;
        window_set = 1;
    }
    bench_fill_payload(payload);
    mosquitto_lib_init();
    bench_run(CLIENT, &a, &workloads);
    mosquitto_lib_cleanup();
    return 0;
}
