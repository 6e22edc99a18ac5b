/* bench/bench_mosquitto.c - libmosquitto (Debian's libmosquitto1) used single-threaded, its
   fastest way: mosquitto_publish writes each packet at once (the library does so when no
   loop thread runs), mosquitto_loop(mosq, timeout, 1) reads and completes the rest.
     pub1   at most 20 messages in flight: libmosquitto's default max_inflight_messages
     conns  poll(2) over every socket with mosquitto_loop_read/_write/_misc (mosquitto_loop
            uses select(), which cannot take descriptors past 1023) */
#define _GNU_SOURCE
#include "bench.h"

#include <mosquitto.h>
#include <poll.h>

#define MOSQ_WINDOW 20 /* libmosquitto's default max_inflight_messages */

static const char *CLIENT = "mosquitto";
static unsigned char payload[BENCH_PAYLOAD_LEN];

typedef struct counts {
    long connacks, messages, published, subacks;
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
    mosquitto_connect_callback_set(m, on_connect);
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
        while (sent < n && sent - (k->published - first) < MOSQ_WINDOW) {
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

/* conns: one poll loop over a chunk of clients. */
static void pump_all(struct mosquitto **ms, long first, long end, struct pollfd *p) {
    long n = 0;
    for (long i = first; i < end; i++, n++) {
        p[n].fd = mosquitto_socket(ms[i]);
        p[n].events = (short)(POLLIN | (mosquitto_want_write(ms[i]) ? POLLOUT : 0));
        p[n].revents = 0;
    }
    poll(p, (nfds_t)n, 1000);
    n = 0;
    for (long i = first; i < end; i++, n++) {
        if (p[n].revents & POLLIN) check(mosquitto_loop_read(ms[i], 1), "loop_read");
        if (p[n].revents & POLLOUT) check(mosquitto_loop_write(ms[i], 1), "loop_write");
        check(mosquitto_loop_misc(ms[i]), "loop_misc");
    }
}

/* Connects and subscribes clients [first, end), BENCH_CONN_CHUNK at a time. */
static void connect_clients(struct mosquitto **ms, long first, long end, int port, counts *k) {
    struct pollfd p[BENCH_CONN_CHUNK];
    for (; first < end; first += BENCH_CONN_CHUNK) {
        long last = first + BENCH_CONN_CHUNK < end ? first + BENCH_CONN_CHUNK : end;
        for (long i = first; i < last; i++) {
            ms[i] = client_new(k);
            check(mosquitto_connect(ms[i], "127.0.0.1", port, 60), "connect");
        }
        while (k->connacks < last) pump_all(ms, first, last, p);
        for (long i = first; i < last; i++) check(mosquitto_subscribe(ms[i], NULL, "bench/conns", 0), "subscribe");
        while (k->subacks < last) pump_all(ms, first, last, p);
    }
}

/* One client runs every code path before the baseline is taken; then N clients are
   counted, their array included (it is part of what N connections cost). */
static void run_conns(const bench_args *a, bench_result *r) {
    counts k;
    bench_phase ph;
    struct mosquitto *first;
    memset(&k, 0, sizeof k);
    connect_clients(&first, 0, 1, a->port, &k);
    k.connacks = k.subacks = 0;
    bench_conns_base base = bench_conns_begin();
    bench_begin(&ph);
    struct mosquitto **ms = malloc((size_t)a->n * sizeof *ms);
    if (!ms) bench_die(CLIENT, "out of memory");
    connect_clients(ms, 0, a->n, a->port, &k);
    bench_end(&ph, r);
    bench_conns_end(&base, a->n, r);
    for (long i = 0; i < a->n; i++) mosquitto_destroy(ms[i]);
    mosquitto_destroy(first);
    free(ms);
}

int main(int argc, char **argv) {
    static const bench_workloads workloads = {run_publish, run_sub0, run_rtt, run_conns};
    bench_args a = bench_parse(argc, argv, CLIENT);
    bench_fill_payload(payload);
    mosquitto_lib_init();
    bench_run(CLIENT, &a, &workloads);
    mosquitto_lib_cleanup();
    return 0;
}
