/* bench/bench_mqttc.c - mqttc through its poll-loop API (mqttc_wait, or mqttc_fd /
   mqttc_poll_events for many clients, and mqttc_step), one thread, default options (window
   20, 64 KiB output limit; BENCH_WINDOW sets options.max_inflight).
   Built several ways (mk/bench.mk):
     bench_mqttc       MQTT 3.1.1 (the default), client name "mqttc"
     bench_mqttc5      -DBENCH_MQTT5, "mqttc5": options.protocol_version = MQTTC_PROTOCOL_5 and
                       nothing else, a user's default MQTT 5 path (the broker's CONNACK
                       properties, its Receive Maximum in the window, no aliases)
     bench_mqttcws     -DBENCH_WS, "mqttcws": ws://127.0.0.1:PORT/mqtt, MQTT 3.1.1 over the
                       WebSocket stage, PORT a websockets listener (pub0, pub1, rtt)
     bench_mqttcstore  -DBENCH_STORE, "mqttcstore": the file store (section 13) in a fresh
                       directory under /tmp, synced every BENCH_STORE_FLUSH_MS (default 100) ms
     bench_mqttctls    -DBENCH_TLS -DMQTTC_WITH_OPENSSL, "mqttctls": options.secure = 1,
                       tls_ca_file = BENCH_TLS_CA, tls_verify = 1 (chain and name checked), PORT
                       a TLS listener whose certificate names 127.0.0.1
   Workloads:
     pub0, pub1   the default path, what a new user writes: mqttc_publish in a loop, and on
                  MQTTC_ERR_BUSY (output or window full) one pump (mqttc_wait + mqttc_step),
                  then the same publish again; no cork, no flush
     pub0corked,  tuned (mqttc_cork): publishes are queued until the output (pub0) or the
     pub1corked   window (pub1) is full, then one mqttc_flush writes them all
     sub0, rtt    not corked: a lone publish is written through at once
     conns        N clients in one poll(2) loop over every descriptor
     handshake    one client connecting again and again (mqttc_connect: TCP, TLS when built
                  so, CONNECT, CONNACK), each followed by mqttc_disconnect + mqttc_run */
#define _GNU_SOURCE
#define MQTTC_IMPLEMENTATION
#include "mqttc.h"
#include "bench.h"

#include <poll.h>

#ifdef BENCH_MQTT5
static const char *CLIENT = "mqttc5";
#elif defined(BENCH_WS)
static const char *CLIENT = "mqttcws";
#elif defined(BENCH_TLS)
static const char *CLIENT = "mqttctls";
#elif defined(BENCH_STORE)
static const char *CLIENT = "mqttcstore";
static mqttc_file_store store; /* (one client per run: pub1) */
static char bench_store_dir[64];

static void bench_store_cleanup(void) {
    char cmd[128];
    mqttc_file_store_close(&store);
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", bench_store_dir);
    if (system(cmd) != 0) fprintf(stderr, "bench_mqttcstore: could not remove %s\n", bench_store_dir);
}
#else
static const char *CLIENT = "mqttc";
#endif
static unsigned char payload[BENCH_PAYLOAD_LEN];
static long window; /* BENCH_WINDOW: options.max_inflight; 0: the default (20) */

typedef struct counts {
    long messages, published, subacks;
    long measure_from; /* sub0: open the phase when this many messages have arrived */
    bench_phase *phase;
} counts;

static void on_message(mqttc_client *c, const mqttc_message *m, void *user) {
    counts *k = (counts *)user;
    (void)c; (void)m;
    if (++k->messages == k->measure_from && k->phase) bench_begin(k->phase);
}

static void on_published(mqttc_client *c, const mqttc_ack_info *a, void *user) {
    (void)c; (void)a;
    ((counts *)user)->published++;
}

static void on_suback(mqttc_client *c, const mqttc_suback_info *s, void *user) {
    (void)c;
    if (s->codes[0] == 0x80) bench_die(CLIENT, "subscription refused");
    ((counts *)user)->subacks++;
}

static void check(int rc, const char *what) {
    if (rc != MQTTC_OK && rc != MQTTC_ERR_BUSY) {
        fprintf(stderr, "bench_%s: %s: %s\n", CLIENT, what, mqttc_errname(rc));
        exit(1);
    }
}

/* One round of the loop: wait for what the client asks (at most 1 s), then step. */
static void pump(mqttc_client *c) {
    mqttc_wait(c, 1000, -1);
    check(mqttc_step(c, mqttc_now_ms()), "step");
}

/* The defaults, but for the protocol version of bench_mqttc5, the window BENCH_WINDOW asks
   for and the TLS settings of bench_mqttctls. */
static void options_default(mqttc_options *o) {
    memset(o, 0, sizeof *o);
#ifdef BENCH_MQTT5
    o->protocol_version = MQTTC_PROTOCOL_5;
#endif
#ifdef BENCH_TLS
    o->secure = 1;
    o->tls_ca_file = getenv("BENCH_TLS_CA");
    o->tls_verify = 1;
    if (!o->tls_ca_file) bench_die(CLIENT, "BENCH_TLS_CA names no CA file");
#endif
    o->max_inflight = (unsigned)window;
}

static void client_init(mqttc_client *c, counts *k) {
    mqttc_options o;
    options_default(&o);
    o.on_message = on_message;
    o.on_published = on_published;
    o.user = k;
#ifdef BENCH_STORE
    char dir[] = "/tmp/mqttc-bench-store.XXXXXX", id[32];
    const char *ms = getenv("BENCH_STORE_FLUSH_MS");
    if (!mkdtemp(dir)) bench_die(CLIENT, "mkdtemp");
    snprintf(id, sizeof id, "bench%ld", (long)getpid());
    check(mqttc_file_store_open(&store, dir, id, ms ? (unsigned)atoi(ms) : 100u), "store");
    o.client_id = id;
    o.store = &store.store;
    check(mqttc_init(c, &o), "init");
    snprintf(bench_store_dir, sizeof bench_store_dir, "%s", dir);
    atexit(bench_store_cleanup); /* (the store and its directory go when the run ends) */
#else
    check(mqttc_init(c, &o), "init");
#endif
}

/* Blocks until CONNACK. */
static void client_connect(mqttc_client *c, int port) {
#ifdef BENCH_WS
    char url[64];
    snprintf(url, sizeof url, "ws://127.0.0.1:%d/mqtt", port);
    check(mqttc_connect_url(c, url, mqttc_now_ms()), "connect");
    check(mqttc_connect_wait(c), "connect");
#else
    check(mqttc_connect(c, "127.0.0.1", port), "connect");
#endif
}

static void client_open(mqttc_client *c, counts *k, int port) {
    client_init(c, k);
    client_connect(c, port);
}

static void subscribe_wait(mqttc_client *c, counts *k, const char *filter) {
    long before = k->subacks;
    check(mqttc_subscribe(c, filter, 0, on_suback, NULL, k, NULL), "subscribe");
    while (k->subacks == before) pump(c);
}

/* The default path: publishes until accepted; BUSY means the output (or the window) is
   full, so one pump (wait, step: write and read what the socket allows), then again. */
static void publish(mqttc_client *c, const char *topic, int qos) {
    int rc;
    while ((rc = mqttc_publish(c, topic, payload, sizeof payload, qos, 0, NULL)) == MQTTC_ERR_BUSY) pump(c);
    check(rc, "publish");
}

/* One QoS 1 publish and its PUBACK: everything queued before has reached the broker. */
static void round_trip(mqttc_client *c, counts *k, const char *topic) {
    long before = k->published;
    publish(c, topic, 1);
    while (k->published == before) pump(c);
}

static void send_qos0(mqttc_client *c, counts *k, long n) {
    for (long i = 0; i < n; i++) publish(c, "bench/pub0", 0);
    round_trip(c, k, "bench/pub0");
}

static void send_qos1(mqttc_client *c, counts *k, long n) {
    long target = k->published + n;
    for (long i = 0; i < n; i++) publish(c, "bench/pub1", 1);
    while (k->published < target) pump(c);
}

/* ---- the tuned path: corked ---- */

/* Publishes until accepted, corked: BUSY means the output (or the window) is full, so
   write it now, and wait only when the socket took not all of it (or for acks). */
static void publish_corked(mqttc_client *c, const char *topic, int qos) {
    int rc;
    while ((rc = mqttc_publish(c, topic, payload, sizeof payload, qos, 0, NULL)) == MQTTC_ERR_BUSY) {
        check(mqttc_flush(c), "flush");
        if (mqttc_pending_output(c) || qos) pump(c);
    }
    check(rc, "publish");
}

static void send_qos0_corked(mqttc_client *c, counts *k, long n) {
    long before;
    mqttc_cork(c, 1);
    for (long i = 0; i < n; i++) publish_corked(c, "bench/pub0", 0);
    mqttc_cork(c, 0);
    before = k->published;
    publish_corked(c, "bench/pub0", 1); /* the round trip */
    check(mqttc_flush(c), "flush");
    while (k->published == before) pump(c);
}

/* QoS 1: fill the window (BUSY when full), write it in one go, read PUBACKs, repeat. */
static void send_qos1_corked(mqttc_client *c, counts *k, long n) {
    long sent = 0, target = k->published + n;
    mqttc_cork(c, 1);
    while (k->published < target) {
        while (sent < n && mqttc_publish(c, "bench/pub1", payload, sizeof payload, 1, 0, NULL) == MQTTC_OK) sent++;
        check(mqttc_flush(c), "flush");
        pump(c);
    }
    mqttc_cork(c, 0);
}

/* pub0 and pub1: a warm-up batch, then the measured one. */
static void run_send(const bench_args *a, bench_result *r, void (*send)(mqttc_client *, counts *, long)) {
    mqttc_client c;
    counts k = {0, 0, 0, 0, NULL};
    bench_phase ph;
    client_open(&c, &k, a->port);
    send(&c, &k, a->warmup);
    bench_begin(&ph);
    send(&c, &k, a->n);
    bench_end(&ph, r);
    mqttc_deinit(&c);
}

static void run_publish(const bench_args *a, bench_result *r, int qos) {
    run_send(a, r, qos ? send_qos1 : send_qos0);
}

static void run_publish_corked(const bench_args *a, bench_result *r, int qos) {
    run_send(a, r, qos ? send_qos1_corked : send_qos0_corked);
}

static void run_sub0(const bench_args *a, bench_result *r) {
    mqttc_client c;
    bench_phase ph;
    counts k = {0, 0, 0, 0, &ph};
    k.measure_from = a->warmup;
    client_open(&c, &k, a->port);
    subscribe_wait(&c, &k, "bench/sub0");
    bench_ready();
    while (k.messages < a->warmup + a->n) pump(&c);
    bench_end(&ph, r);
    mqttc_deinit(&c);
}

static void run_rtt(const bench_args *a, bench_result *r) {
    mqttc_client c;
    counts k = {0, 0, 0, 0, NULL};
    bench_phase ph;
    uint64_t *ns = malloc((size_t)a->n * sizeof *ns);
    if (!ns) bench_die(CLIENT, "out of memory");
    client_open(&c, &k, a->port);
    subscribe_wait(&c, &k, "bench/rtt/mqttc"); /* mqttc5 too: the same bytes of topic */
    for (long i = -a->warmup; i < a->n; i++) {
        if (i == 0) bench_begin(&ph);
        long before = k.messages;
        uint64_t t0 = bench_now_ns();
        publish(&c, "bench/rtt/mqttc", 0); /* the socket is idle: written at once */
        while (k.messages == before) pump(&c);
        if (i >= 0) ns[i] = bench_now_ns() - t0;
    }
    bench_end(&ph, r);
    bench_percentiles(ns, a->n, r);
    free(ns);
    mqttc_deinit(&c);
}

/* ---- conns: N clients in one poll loop ---- */

/* One round of the loop over clients [0, end): one poll(2) over every descriptor, for at
   most the nearest deadline; then a step for each client with events or a deadline due. */
static void pump_all(mqttc_client *cs, long end, struct pollfd *p) {
    uint64_t now = mqttc_now_ms();
    long wait_ms = 1000;
    for (long i = 0; i < end; i++) {
        long t = mqttc_timeout_ms(&cs[i], now);
        if (t >= 0 && t < wait_ms) wait_ms = t;
        p[i].fd = mqttc_fd(&cs[i]);
        p[i].events = mqttc_poll_events(&cs[i]);
        p[i].revents = 0;
    }
    poll(p, (nfds_t)end, (int)wait_ms);
    now = mqttc_now_ms();
    for (long i = 0; i < end; i++)
        if (p[i].revents || mqttc_timeout_ms(&cs[i], now) == 0) check(mqttc_step(&cs[i], now), "step");
}

/* Connects and subscribes N clients, BENCH_CONN_CHUNK connecting at a time (the broker's
   listen backlog), every client connected so far in the loop. */
static void connect_clients(mqttc_client *cs, long n, int port, counts *k, struct pollfd *p) {
    mqttc_options o;
    options_default(&o);
    for (long first = 0; first < n; first += BENCH_CONN_CHUNK) {
        long last = first + BENCH_CONN_CHUNK < n ? first + BENCH_CONN_CHUNK : n, connected;
        for (long i = first; i < last; i++) {
            check(mqttc_init(&cs[i], &o), "init");
            check(mqttc_connect_start(&cs[i], "127.0.0.1", port, mqttc_now_ms()), "connect");
        }
        do {
            pump_all(cs, last, p);
            connected = 0;
            for (long i = first; i < last; i++) connected += mqttc_state(&cs[i]) == MQTTC_STATE_CONNECTED;
        } while (connected < last - first);
        for (long i = first; i < last; i++) check(mqttc_subscribe(&cs[i], "bench/conns", 0, on_suback, NULL, k, NULL), "subscribe");
        while (k->subacks < last) pump_all(cs, last, p);
    }
}

/* The baseline is taken before the first connection; the clients' array (mqttc_client is
   the caller's memory) and the poll array count as part of what N connections cost. */
static void run_conns(const bench_args *a, bench_result *r) {
    counts k = {0, 0, 0, 0, NULL};
    bench_phase ph;
    bench_conns_base base = bench_conns_begin();
    bench_begin(&ph);
    mqttc_client *cs = malloc((size_t)a->n * sizeof *cs);
    struct pollfd *p = malloc((size_t)a->n * sizeof *p);
    if (!cs || !p) bench_die(CLIENT, "out of memory");
    connect_clients(cs, a->n, a->port, &k, p);
    bench_end(&ph, r);
    bench_conns_end(&base, a->n, r);
    printf("INFO client_struct_bytes=%zu\n", sizeof(mqttc_client));
    for (long i = 0; i < a->n; i++) mqttc_deinit(&cs[i]);
    free(cs);
    free(p);
}

/* ---- handshake: one client, connected and disconnected N times ---- */
typedef struct handshake_ctx {
    mqttc_client c;
    int port;
} handshake_ctx;

static void handshake_connect(void *ctx) {
    handshake_ctx *h = (handshake_ctx *)ctx;
    client_connect(&h->c, h->port);
}

static void handshake_disconnect(void *ctx) {
    handshake_ctx *h = (handshake_ctx *)ctx;
    check(mqttc_disconnect(&h->c), "disconnect");
    int rc = mqttc_run(&h->c);
    if (rc != MQTTC_ERR_DISCONNECT) check(rc, "disconnect");
}

static void run_handshake(const bench_args *a, bench_result *r) {
    handshake_ctx h;
    counts k = {0, 0, 0, 0, NULL};
    h.port = a->port;
    client_init(&h.c, &k);
    bench_handshakes(a, r, handshake_connect, handshake_disconnect, &h);
    mqttc_deinit(&h.c);
}

int main(int argc, char **argv) {
    static const bench_workloads workloads = {run_publish, run_publish_corked, run_sub0, run_rtt, run_conns,
                                              run_handshake};
    bench_args a = bench_parse(argc, argv, CLIENT);
    window = a.window;
    bench_fill_payload(payload);
    bench_run(CLIENT, &a, &workloads);
    return 0;
}
