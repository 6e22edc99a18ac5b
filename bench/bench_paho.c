/* bench/bench_paho.c - Eclipse Paho C (Debian's libpaho-mqtt1.3), the MQTTAsync API, its
   fastest here: MQTTAsync_send queues a command that the library's own sending thread
   writes; its receiving thread runs the callbacks. No persistence. The main thread waits on
   a condition variable the callbacks signal. CPU is the whole process's, every thread.
     pub1   the default window: maxInflight 65535 (MQTTAsync_connectOptions_initializer),
            more waits for an ack when the library says MQTTASYNC_MAX_MESSAGES_INFLIGHT */
#define _GNU_SOURCE
#include "bench.h"

#include <MQTTAsync.h>
#include <pthread.h>

#ifdef BENCH_PAHO_STORE
static const char *CLIENT = "pahostore"; /* MQTTCLIENT_PERSISTENCE_DEFAULT: Paho's files */
static char paho_dir[] = "/tmp/mqttc-bench-paho.XXXXXX";
static void paho_dir_remove(void) {
    char cmd[96];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", paho_dir);
    if (system(cmd) != 0) fprintf(stderr, "bench_pahostore: could not remove %s\n", paho_dir);
}
#else
static const char *CLIENT = "paho";
#endif
static unsigned char payload[BENCH_PAYLOAD_LEN];
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t changed = PTHREAD_COND_INITIALIZER;

/* Written by Paho's threads under `lock`, read by main under it. */
typedef struct counts {
    long connacks, messages, published, subacks, failures;
    long measure_from; /* sub0: open the phase when this many messages have arrived */
    bench_phase *phase;
    MQTTAsync *handles; /* conns: subscribe each one once it is connected */
} counts;

static counts K;

static void bump(long *counter) {
    pthread_mutex_lock(&lock);
    (*counter)++;
    pthread_cond_broadcast(&changed);
    pthread_mutex_unlock(&lock);
}

/* Blocks until *counter reaches target (every read under the lock). */
static void wait_for(const long *counter, long target) {
    pthread_mutex_lock(&lock);
    while (*counter < target && K.failures == 0) pthread_cond_wait(&changed, &lock);
    pthread_mutex_unlock(&lock);
    if (K.failures) bench_die(CLIENT, "a request failed");
}

static long read_count(const long *counter) {
    pthread_mutex_lock(&lock);
    long v = *counter;
    pthread_mutex_unlock(&lock);
    return v;
}

static int on_message(void *ctx, char *topic, int topic_len, MQTTAsync_message *m) {
    (void)ctx; (void)topic_len;
    MQTTAsync_freeMessage(&m);
    MQTTAsync_free(topic);
    pthread_mutex_lock(&lock);
    if (++K.messages == K.measure_from && K.phase) bench_begin(K.phase);
    pthread_cond_broadcast(&changed);
    pthread_mutex_unlock(&lock);
    return 1;
}

static void on_lost(void *ctx, char *cause) {
    (void)ctx; (void)cause;
    bump(&K.failures);
}

static void on_failure(void *ctx, MQTTAsync_failureData *d) {
    (void)ctx; (void)d;
    bump(&K.failures);
}

static void on_published(void *ctx, MQTTAsync_successData *d) { (void)ctx; (void)d; bump(&K.published); }
static void on_subscribed(void *ctx, MQTTAsync_successData *d) { (void)ctx; (void)d; bump(&K.subacks); }
static void on_connected(void *ctx, MQTTAsync_successData *d) { (void)ctx; (void)d; bump(&K.connacks); }

static void check(int rc, const char *what) {
    if (rc != MQTTASYNC_SUCCESS) {
        fprintf(stderr, "bench_paho: %s: %s\n", what, MQTTAsync_strerror(rc));
        exit(1);
    }
}

static MQTTAsync client_new(int port, const char *id) {
    MQTTAsync h;
    char uri[64];
    snprintf(uri, sizeof uri, "tcp://127.0.0.1:%d", port);
#ifdef BENCH_PAHO_STORE
    static int made;
    if (!made && !mkdtemp(paho_dir)) bench_die(CLIENT, "mkdtemp");
    if (!made) atexit(paho_dir_remove);
    made = 1;
    check(MQTTAsync_create(&h, uri, id, MQTTCLIENT_PERSISTENCE_DEFAULT, paho_dir), "create");
#else
    check(MQTTAsync_create(&h, uri, id, MQTTCLIENT_PERSISTENCE_NONE, NULL), "create");
#endif
    check(MQTTAsync_setCallbacks(h, NULL, on_lost, on_message, NULL), "setCallbacks");
    return h;
}

static void connect_start(MQTTAsync h, MQTTAsync_onSuccess *on_success, void *ctx) {
    MQTTAsync_connectOptions o = MQTTAsync_connectOptions_initializer;
    o.keepAliveInterval = 60;
    o.cleansession = 1;
    o.onSuccess = on_success;
    o.onFailure = on_failure;
    o.context = ctx;
    check(MQTTAsync_connect(h, &o), "connect");
}

static MQTTAsync client_open(int port) {
    char id[32];
    snprintf(id, sizeof id, "bench-paho-%d", (int)getpid());
    MQTTAsync h = client_new(port, id);
    connect_start(h, on_connected, NULL);
    wait_for(&K.connacks, 1);
    return h;
}

static void client_close(MQTTAsync h) {
    MQTTAsync_disconnectOptions o = MQTTAsync_disconnectOptions_initializer;
    o.timeout = 1000;
    MQTTAsync_disconnect(h, &o);
    MQTTAsync_destroy(&h);
}

static void subscribe_wait(MQTTAsync h, const char *filter) {
    MQTTAsync_responseOptions o = MQTTAsync_responseOptions_initializer;
    long before = read_count(&K.subacks);
    o.onSuccess = on_subscribed;
    o.onFailure = on_failure;
    check(MQTTAsync_subscribe(h, filter, 0, &o), "subscribe");
    wait_for(&K.subacks, before + 1);
}

/* Queues one publish; QoS 1 gets the completion callback. When the library's window is
   full, waits for one more acknowledgement and tries again. */
static void publish(MQTTAsync h, const char *topic, int qos) {
    MQTTAsync_responseOptions o = MQTTAsync_responseOptions_initializer;
    o.onSuccess = on_published;
    o.onFailure = on_failure;
    for (;;) {
        long acked = read_count(&K.published);
        int rc = MQTTAsync_send(h, topic, sizeof payload, payload, qos, 0, qos ? &o : NULL);
        if (rc != MQTTASYNC_MAX_MESSAGES_INFLIGHT) { check(rc, "send"); return; }
        wait_for(&K.published, acked + 1);
    }
}

static void send_batch(MQTTAsync h, long n, int qos) {
    const char *topic = qos ? "bench/pub1" : "bench/pub0";
    long target = read_count(&K.published) + (qos ? n : 1);
    for (long i = 0; i < n; i++) publish(h, topic, qos);
    if (!qos) publish(h, topic, 1); /* the round trip: every QoS 0 before it has arrived */
    wait_for(&K.published, target);
}

static void run_publish(const bench_args *a, bench_result *r, int qos) {
    bench_phase ph;
    MQTTAsync h = client_open(a->port);
    send_batch(h, a->warmup, qos);
    bench_begin(&ph);
    send_batch(h, a->n, qos);
    bench_end(&ph, r);
    client_close(h);
}

static void run_sub0(const bench_args *a, bench_result *r) {
    bench_phase ph;
    MQTTAsync h = client_open(a->port);
    pthread_mutex_lock(&lock);
    K.phase = &ph;
    K.measure_from = a->warmup;
    pthread_mutex_unlock(&lock);
    subscribe_wait(h, "bench/sub0");
    bench_ready();
    wait_for(&K.messages, a->warmup + a->n);
    bench_end(&ph, r);
    client_close(h);
}

static void run_rtt(const bench_args *a, bench_result *r) {
    bench_phase ph;
    uint64_t *ns = malloc((size_t)a->n * sizeof *ns);
    if (!ns) bench_die(CLIENT, "out of memory");
    MQTTAsync h = client_open(a->port);
    subscribe_wait(h, "bench/rtt/paho");
    for (long i = -a->warmup; i < a->n; i++) {
        if (i == 0) bench_begin(&ph);
        long before = read_count(&K.messages);
        uint64_t t0 = bench_now_ns();
        publish(h, "bench/rtt/paho", 0);
        wait_for(&K.messages, before + 1);
        if (i >= 0) ns[i] = bench_now_ns() - t0;
    }
    bench_end(&ph, r);
    bench_percentiles(ns, a->n, r);
    free(ns);
    client_close(h);
}

/* conns: each client subscribes from its own connect callback. All N connects are issued
   at once: Paho's I/O thread starts them one after another by itself, while issuing them
   BENCH_CONN_CHUNK at a time costs a second per chunk (the thread's poll timeout). */
static void on_conn_connected(void *ctx, MQTTAsync_successData *d) {
    MQTTAsync_responseOptions o = MQTTAsync_responseOptions_initializer;
    (void)d;
    o.onSuccess = on_subscribed;
    o.onFailure = on_failure;
    if (MQTTAsync_subscribe(K.handles[(long)(intptr_t)ctx], "bench/conns", 0, &o) != MQTTASYNC_SUCCESS) bump(&K.failures);
    bump(&K.connacks);
}

/* Starts clients [first, end) and waits until all of them are subscribed. */
static void connect_clients(MQTTAsync *hs, long first, long end, int port, const char *tag) {
    for (long i = first; i < end; i++) {
        char id[48];
        snprintf(id, sizeof id, "paho-%s-%d-%ld", tag, (int)getpid(), i);
        hs[i] = client_new(port, id);
        connect_start(hs[i], on_conn_connected, (void *)(intptr_t)i);
    }
    wait_for(&K.subacks, end);
}

/* The baseline is taken before the first connection (Paho's threads, started by the first
   connect, count too); the array of handles counts as part of what N
   connections cost. */
static void run_conns(const bench_args *a, bench_result *r) {
    bench_phase ph;
    bench_conns_base base = bench_conns_begin();
    bench_begin(&ph);
    MQTTAsync *hs = malloc((size_t)a->n * sizeof *hs);
    if (!hs) bench_die(CLIENT, "out of memory");
    K.handles = hs;
    connect_clients(hs, 0, a->n, a->port, "n");
    bench_end(&ph, r);
    bench_conns_end(&base, a->n, r);
    for (long i = 0; i < a->n; i++) MQTTAsync_destroy(&hs[i]);
    free(hs);
}

int main(int argc, char **argv) {
    static const bench_workloads workloads = {run_publish, NULL, run_sub0, run_rtt, run_conns, NULL};
    bench_args a = bench_parse(argc, argv, CLIENT);
    bench_fill_payload(payload);
    bench_run(CLIENT, &a, &workloads);
    fflush(stdout);
    _exit(0); /* Paho's threads may still be winding down; the figures are out */
}
