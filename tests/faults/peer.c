/* tests/faults/peer.c - the client against a real broker (mosquitto) that fails:
   build/fault_peer MODE ARGS (built by mk/fuzz.mk), run by tests/t_faults.sh. Each mode prints what it measured
   and "ok: ..." then exits 0, or says what went wrong and exits 1.
     killed PORT1 PID1 PORT2   mosquitto (PID1) killed while QoS 1 and QoS 2 publishes are in
                               flight: "closed", every message accepted is completed or still
                               owned, and the owned ones complete through a second broker
     halfopen PORT PID KEEPALIVE   mosquitto stopped (SIGSTOP): "pingresp" within 2 x keepalive
     bigpayload PORT           16 MiB payloads through small socket buffers (partial writes)
     flood PORT                1000 QoS 1 messages while another client floods the broker */
#define MQTTC_IMPLEMENTATION
#include "mqttc.h"
#include "../test.h"

#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/wait.h>


/* ---- a poll loop over several clients ---- */

typedef int (*done_fn)(void *ctx);

/* Steps every client as its socket and timers ask until done(ctx) or max_ms passed.
   Returns 0 when done, MQTTC_ERR_TIMEOUT when max_ms passed, or the error a client ended
   with (*which = its index). */
static int pump(mqttc_client **cs, int n, long max_ms, done_fn done, void *ctx, int *which) {
    uint64_t end = mqttc_now_ms() + (uint64_t)max_ms;
    struct pollfd p[8];
    while (!done(ctx)) {
        uint64_t now = mqttc_now_ms();
        long wait = 100;
        if (now >= end) return MQTTC_ERR_TIMEOUT;
        for (int i = 0; i < n; i++) {
            long t = mqttc_timeout_ms(cs[i], now);
            p[i] = test_pollfd(cs[i]);
            if (t >= 0 && t < wait) wait = t;
        }
        poll(p, (nfds_t)n, (int)wait);
        for (int i = 0; i < n; i++) {
            int rc = mqttc_step(cs[i], mqttc_now_ms());
            if (rc != MQTTC_OK) {
                if (which) *which = i;
                return rc;
            }
        }
    }
    return 0;
}

static int never_done(void *ctx) { (void)ctx; return 0; }
static int is_connected(void *ctx) { return mqttc_state((mqttc_client *)ctx) == MQTTC_STATE_CONNECTED; }

/* Connects over a socket we made, with small kernel buffers (0: the system's). */
static int connect_small(mqttc_client *c, int port, int sndbuf, int rcvbuf) {
    int fd = test_tcp_socket(port, sndbuf, rcvbuf);
    if (fd < 0) return MQTTC_ERR_CANNOTCONNECT;
    int rc = mqttc_adopt_fd(c, fd, mqttc_now_ms());
    mqttc_client *cs[1] = {c};
    return rc == MQTTC_OK ? pump(cs, 1, 15000, is_connected, c, NULL) : rc;
}

/* Waits until process pid is stopped (state T in /proc), so nothing more is acknowledged. */
static int wait_stopped(pid_t pid) {
    char path[64], buf[256];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    for (int i = 0; i < 1000; i++) {
        FILE *f = fopen(path, "r");
        size_t n = f ? fread(buf, 1, sizeof buf - 1, f) : 0;
        if (f) fclose(f);
        buf[n] = 0;
        char *state = strrchr(buf, ')');
        if (state && (state[2] == 'T' || state[2] == 't')) return 0;
        struct timespec ts = {0, 10 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    return -1;
}

/* ---- killed: QoS 1 and 2 in flight when the broker dies ---- */

#define KILLED_TOTAL 60
typedef struct killed_state {
    unsigned short id_of[KILLED_TOTAL]; /* packet id of message i */
    int accepted, completed, lost; /* lost: QoS 2 past PUBREC when the session went (on_dropped) */
    int done[KILLED_TOTAL];
    int received[KILLED_TOTAL];         /* at the subscriber, second broker */
    int subscribed;
} killed_state;

static void killed_on_published(mqttc_client *c, const mqttc_ack_info *ack, void *user) {
    unsigned short id = ack->packet_id;
    killed_state *k = (killed_state *)user;
    (void)c;
    for (int i = 0; i < k->accepted; i++)
        if (k->id_of[i] == id && !k->done[i]) {
            k->done[i] = 1;
            k->completed++;
            return;
        }
    CHECK_MSG(0, "completion of packet id %u, which is not in flight", id);
}

static void killed_on_message(mqttc_client *c, const mqttc_message *m, void *user) {
    killed_state *k = (killed_state *)user;
    int i;
    (void)c;
    if (sscanf(m->topic, "fault/%d", &i) == 1 && i >= 0 && i < KILLED_TOTAL) k->received[i]++;
}

static void killed_on_suback(mqttc_client *c, const mqttc_suback_info *sa, void *user) {
    (void)c;
    ((killed_state *)user)->subscribed = sa->codes[0] == 2 ? 1 : -1;
}

static int killed_publish(mqttc_client *a, killed_state *k, int i) {
    char topic[32];
    snprintf(topic, sizeof topic, "fault/%d", i);
    int rc = mqttc_publish(a, topic, topic, strlen(topic), 1 + i % 2, 0, &k->id_of[i]);
    if (rc == MQTTC_OK) k->accepted = i + 1;
    return rc;
}

static int all_completed(void *ctx) {
    killed_state *k = (killed_state *)ctx;
    return k->completed == k->accepted;
}
static int is_subscribed(void *ctx) { return ((killed_state *)ctx)->subscribed != 0; }
static int resent_and_received(void *ctx) {
    killed_state *k = (killed_state *)ctx;
    for (int i = 40; i < KILLED_TOTAL; i++)
        if (!k->received[i]) return 0;
    return k->completed + k->lost == k->accepted;
}

/* A QoS 2 message past PUBREC at the first broker cannot go again (only its id is kept):
   the second broker has no session, so it is reported lost, never silently dropped. */
static void killed_on_dropped(mqttc_client *c, const mqttc_publish_info *m, int why, void *user) {
    killed_state *k = (killed_state *)user;
    (void)c;
    if (why == MQTTC_ERR_SESSION_LOST && m->qos == 2 && !m->topic) k->lost++;
}

static int mode_killed(int port1, pid_t pid1, int port2) {
    static killed_state k;
    mqttc_client a, b;
    mqttc_options oa, ob;
    mqttc_client *both[2] = {&a, &b};
    int rc, which = -1;
    memset(&oa, 0, sizeof oa);
    oa.client_id = "fault-pub";
    oa.no_clean_session = 1; /* owned messages go again on the next connection [MQTT-4.4.0-1] */
    oa.max_inflight = 64;
    oa.on_published = killed_on_published;
    oa.republish_qos2 = 1; /* the second broker has no session: its QoS 2 messages go again as new ones
                              (by default they would be reported to on_dropped as "sessionlost"), but
                              those past PUBREC kept no payload: they are reported lost */
    oa.on_dropped = killed_on_dropped;
    oa.user = &k;
    CHECK_MSG(mqttc_init(&a, &oa) == MQTTC_OK, "init");
    CHECK_MSG((rc = mqttc_connect(&a, "127.0.0.1", port1)) == MQTTC_OK, "connect: %s", mqttc_errname(rc));
    for (int i = 0; i < 20; i++) CHECK_MSG(killed_publish(&a, &k, i) == MQTTC_OK, "publish %d", i);
    CHECK_MSG(pump(both, 1, 15000, all_completed, &k, NULL) == 0, "the first 20 did not complete");
    /* a burst, the broker stopped in its middle, then 20 more that cannot be acknowledged */
    for (int i = 20; i < 40; i++) {
        CHECK_MSG(killed_publish(&a, &k, i) == MQTTC_OK, "publish %d", i);
        mqttc_step(&a, mqttc_now_ms());
        if (i == 29) kill(pid1, SIGSTOP);
    }
    CHECK_MSG(wait_stopped(pid1) == 0, "mosquitto did not stop");
    mqttc_step(&a, mqttc_now_ms());
    int completed_at_stop = k.completed;
    for (int i = 40; i < KILLED_TOTAL; i++) CHECK_MSG(killed_publish(&a, &k, i) == MQTTC_OK, "publish %d", i);
    kill(pid1, SIGKILL);
    uint64_t t0 = mqttc_now_ms();
    rc = mqttc_run(&a);
    printf("killed: run ended \"%s\" %llu ms after the kill; %d accepted, %d completed, %u still owned\n",
           mqttc_errname(rc), (unsigned long long)(mqttc_now_ms() - t0), k.accepted, k.completed, mqttc_inflight(&a));
    CHECK_MSG(rc == MQTTC_ERR_CLOSED, "ended with %s", mqttc_errname(rc));
    CHECK_MSG(k.completed == completed_at_stop, "completions after the broker stopped");
    CHECK_MSG(k.completed + (int)mqttc_inflight(&a) == k.accepted, "messages unaccounted for");
    CHECK_MSG(mqttc_inflight(&a) >= KILLED_TOTAL - 40, "the last 20 must be owned");

    /* a second broker: a subscriber, then the publisher's owned messages go again */
    memset(&ob, 0, sizeof ob);
    ob.client_id = "fault-sub";
    ob.on_message = killed_on_message;
    ob.user = &k;
    CHECK_MSG(mqttc_init(&b, &ob) == MQTTC_OK, "init");
    CHECK_MSG((rc = mqttc_connect(&b, "127.0.0.1", port2)) == MQTTC_OK, "subscriber connect: %s", mqttc_errname(rc));
    CHECK_MSG(mqttc_subscribe(&b, "fault/#", 2, killed_on_suback, NULL, &k, NULL) == MQTTC_OK, "subscribe");
    CHECK_MSG(pump(&both[1], 1, 15000, is_subscribed, &k, NULL) == 0 && k.subscribed == 1, "no SUBACK 2");
    CHECK_MSG((rc = mqttc_connect(&a, "127.0.0.1", port2)) == MQTTC_OK, "reconnect: %s", mqttc_errname(rc));
    rc = pump(both, 2, 30000, resent_and_received, &k, &which);
    CHECK_MSG(rc == 0, "after the reconnect: %s (client %d)", mqttc_errname(rc), which);
    int received = 0, twice = 0;
    for (int i = 0; i < KILLED_TOTAL; i++) {
        received += k.received[i] > 0;
        twice += i % 2 && k.received[i] > 1; /* QoS 2: exactly once */
    }
    printf("killed: after the reconnect %d of %d completed, %d reported lost (QoS 2 past PUBREC), %u owned; the "
           "subscriber got %d distinct messages (all 20 sent while the broker was stopped: %s)\n",
           k.completed, k.accepted, k.lost, mqttc_inflight(&a), received, resent_and_received(&k) ? "yes" : "no");
    CHECK_MSG(mqttc_inflight(&a) == 0 && k.completed + k.lost == k.accepted, "owned messages left");
    CHECK_MSG(twice == 0, "%d QoS 2 messages delivered twice", twice);
    mqttc_disconnect(&a);
    mqttc_disconnect(&b);
    pump(both, 2, 3000, never_done, NULL, NULL); /* flush the DISCONNECTs */
    mqttc_deinit(&a);
    mqttc_deinit(&b);
    return test__current_failed ? 1 : (printf("ok: killed\n"), 0);
}

/* ---- halfopen: the broker stops answering ---- */

static int mode_halfopen(int port, pid_t pid, unsigned keepalive_s) {
    mqttc_client c;
    mqttc_options o;
    memset(&o, 0, sizeof o);
    o.client_id = "fault-halfopen";
    o.keepalive_s = keepalive_s;
    CHECK_MSG(mqttc_init(&c, &o) == MQTTC_OK, "init");
    int rc = mqttc_connect(&c, "127.0.0.1", port);
    CHECK_MSG(rc == MQTTC_OK, "connect: %s", mqttc_errname(rc));
    uint64_t last_rx = mqttc_now_ms(); /* the CONNACK just came */
    kill(pid, SIGSTOP);
    CHECK_MSG(wait_stopped(pid) == 0, "mosquitto did not stop");
    rc = mqttc_run(&c);
    uint64_t ms = mqttc_now_ms() - last_rx;
    kill(pid, SIGCONT);
    printf("halfopen: keepalive %u s, run ended \"%s\" after %llu ms\n", keepalive_s, mqttc_errname(rc),
           (unsigned long long)ms);
    CHECK_MSG(rc == MQTTC_ERR_PINGRESP, "ended with %s", mqttc_errname(rc));
    CHECK_MSG(ms >= keepalive_s * 1000u, "pingresp before a ping was even due");
    CHECK_MSG(ms <= 2 * keepalive_s * 1000u + 1000u, "not within 2 x keepalive (+1 s)");
    mqttc_deinit(&c);
    return test__current_failed ? 1 : (printf("ok: halfopen\n"), 0);
}

/* ---- bigpayload: 16 MiB through 4 KiB buffers ---- */

#define BIG (16u * 1024u * 1024u)
typedef struct big_state {
    int subscribed, published, received;
    size_t len;
    int is_intact;
} big_state;

/* The publisher's transport send and the subscriber's recv, counted: how many writes the
   socket took only in part, and how many reads it took to receive the message. */
static int (*tcp_send)(mqttc_transport *t, const unsigned char *buf, size_t len, size_t *n);
static int (*tcp_recv)(mqttc_transport *t, unsigned char *buf, size_t cap, size_t *n);
static unsigned long sends, partial_sends, reads;
static int counting_send(mqttc_transport *t, const unsigned char *buf, size_t len, size_t *n) {
    int rc = tcp_send(t, buf, len, n);
    sends++;
    if (rc == MQTTC_OK && *n < len) partial_sends++;
    return rc;
}
static int counting_recv(mqttc_transport *t, unsigned char *buf, size_t cap, size_t *n) {
    int rc = tcp_recv(t, buf, cap, n);
    if (rc == MQTTC_OK && *n) reads++;
    return rc;
}

static unsigned char big_byte(size_t i) { return (unsigned char)(i * 31u + (i >> 16) + 7u); }

static void big_on_message(mqttc_client *c, const mqttc_message *m, void *user) {
    big_state *s = (big_state *)user;
    const unsigned char *p = (const unsigned char *)m->payload;
    (void)c;
    s->received++;
    s->len = m->payload_len;
    s->is_intact = m->payload_len == BIG;
    for (size_t i = 0; s->is_intact && i < m->payload_len; i++) s->is_intact = p[i] == big_byte(i);
}
static void big_on_suback(mqttc_client *c, const mqttc_suback_info *sa, void *user) {
    (void)c;
    ((big_state *)user)->subscribed += sa->codes[0] == 1 ? 1 : 100;
}
static void big_on_published(mqttc_client *c, const mqttc_ack_info *ack, void *user) {
    (void)c;
    (void)ack;
    ((big_state *)user)->published++;
}
static int big_subscribed(void *ctx) { return ((big_state *)ctx)->subscribed == 2; }
static int big_done(void *ctx) {
    big_state *s = (big_state *)ctx;
    return s->published == 1 && s->received == 1;
}

/* The subscribers read through a 4 KiB receive buffer; the publisher writes through a 64 KiB
   send buffer (with less, Linux loopback waits for the 40 ms delayed ACK on every segment:
   10 s natively, minutes under Valgrind), so 16 MiB goes in hundreds of partial writes.
   One subscriber allows 32 MiB packets; one keeps the default limit (16 MiB in all, less
   than this PUBLISH) and must end with "overflow" without taking the payload. */
static int mode_bigpayload(int port) {
    static big_state s;
    mqttc_client pub, sub, small;
    mqttc_options o;
    mqttc_client *all[3] = {&sub, &small, &pub}, *two[2] = {&sub, &pub};
    int rc, which = -1;
    unsigned char *payload = (unsigned char *)malloc(BIG);
    CHECK_MSG(payload != NULL, "malloc");
    for (size_t i = 0; i < BIG; i++) payload[i] = big_byte(i);
    memset(&o, 0, sizeof o);
    o.user = &s;
    o.on_message = big_on_message;
    o.on_published = big_on_published;
    o.client_id = "fault-big-sub";
    o.max_packet_size = 2 * BIG;
    mqttc_init(&sub, &o);
    o.client_id = "fault-big-small";
    o.max_packet_size = 0;
    mqttc_init(&small, &o);
    o.client_id = "fault-big-pub";
    mqttc_init(&pub, &o);
    CHECK_MSG((rc = connect_small(&sub, port, 0, 4096)) == MQTTC_OK, "subscriber: %s", mqttc_errname(rc));
    CHECK_MSG((rc = connect_small(&small, port, 0, 4096)) == MQTTC_OK, "small subscriber: %s", mqttc_errname(rc));
    CHECK_MSG((rc = connect_small(&pub, port, 65536, 0)) == MQTTC_OK, "publisher: %s", mqttc_errname(rc));
    tcp_send = pub.tr.send;
    pub.tr.send = counting_send;
    tcp_recv = sub.tr.recv;
    sub.tr.recv = counting_recv;
    mqttc_subscribe(&sub, "big", 1, big_on_suback, NULL, &s, NULL);
    mqttc_subscribe(&small, "big", 1, big_on_suback, NULL, &s, NULL);
    CHECK_MSG(pump(all, 3, 15000, big_subscribed, &s, NULL) == 0, "no SUBACKs");
    uint64_t t0 = mqttc_now_ms();
    CHECK_MSG((rc = mqttc_publish(&pub, "big", payload, BIG, 1, 0, NULL)) == MQTTC_OK, "publish: %s", mqttc_errname(rc));
    size_t first_left = mqttc_pending_output(&pub);
    rc = pump(all, 3, 60000, big_done, &s, &which);
    CHECK_MSG(rc == MQTTC_ERR_OVERFLOW && which == 1, "the default-limit subscriber: %s (client %d)", mqttc_errname(rc),
           which);
    rc = pump(two, 2, 90000, big_done, &s, &which);
    printf("bigpayload: 16 MiB in %llu ms; %zu bytes left after the first write; %lu sends, %lu of them partial; "
           "%lu reads; received %d (%zu bytes, %s); default-limit subscriber: \"%s\"\n",
           (unsigned long long)(mqttc_now_ms() - t0), first_left, sends, partial_sends, reads, s.received, s.len,
           s.is_intact ? "intact" : "CORRUPT", mqttc_errname(mqttc_error(&small)));
    CHECK_MSG(rc == 0, "not delivered: %s (client %d)", mqttc_errname(rc), which);
    CHECK_MSG(s.is_intact, "payload corrupt");
    CHECK_MSG(first_left > BIG / 2 && partial_sends > 10, "the socket never wrote in part: nothing tested");
    CHECK_MSG(reads > 100, "the subscriber read 16 MiB in %lu reads: its buffer is not small", reads);
    CHECK_MSG(mqttc_error(&small) == MQTTC_ERR_OVERFLOW, "small subscriber: %s", mqttc_errname(mqttc_error(&small)));
    mqttc_disconnect(&pub);
    mqttc_disconnect(&sub);
    pump(two, 2, 3000, never_done, NULL, NULL);
    mqttc_deinit(&pub);
    mqttc_deinit(&sub);
    mqttc_deinit(&small);
    free(payload);
    return test__current_failed ? 1 : (printf("ok: bigpayload\n"), 0);
}

/* ---- flood: 1000 QoS 1 messages on a busy broker ---- */

#define FLOOD_COUNT 1000
typedef struct flood_state {
    int subscribed, completed, distinct, duplicates;
    unsigned char got[FLOOD_COUNT];
} flood_state;

static void flood_on_message(mqttc_client *c, const mqttc_message *m, void *user) {
    flood_state *s = (flood_state *)user;
    int i;
    (void)c;
    if (sscanf(m->topic, "load/%d", &i) != 1 || i < 0 || i >= FLOOD_COUNT) return;
    if (s->got[i]++) s->duplicates++;
    else s->distinct++;
}
static void flood_on_suback(mqttc_client *c, const mqttc_suback_info *sa, void *user) {
    (void)c;
    ((flood_state *)user)->subscribed = sa->codes[0] == 1 ? 1 : -1;
}
static void flood_on_published(mqttc_client *c, const mqttc_ack_info *ack, void *user) {
    (void)c;
    (void)ack;
    ((flood_state *)user)->completed++;
}
static int flood_subscribed(void *ctx) { return ((flood_state *)ctx)->subscribed != 0; }
static int flood_done(void *ctx) {
    flood_state *s = (flood_state *)ctx;
    return s->completed == FLOOD_COUNT && s->distinct == FLOOD_COUNT;
}

static int mode_flood(int port) {
    static flood_state s;
    mqttc_client pub, sub;
    mqttc_options o;
    mqttc_client *both[2] = {&sub, &pub};
    int rc, which = -1, busy = 0;
    memset(&o, 0, sizeof o);
    o.user = &s;
    o.on_message = flood_on_message;
    o.on_published = flood_on_published;
    o.client_id = "fault-flood-sub";
    mqttc_init(&sub, &o);
    o.client_id = "fault-flood-pub";
    mqttc_init(&pub, &o);
    CHECK_MSG((rc = mqttc_connect(&sub, "127.0.0.1", port)) == MQTTC_OK, "subscriber: %s", mqttc_errname(rc));
    CHECK_MSG((rc = mqttc_connect(&pub, "127.0.0.1", port)) == MQTTC_OK, "publisher: %s", mqttc_errname(rc));
    mqttc_subscribe(&sub, "load/#", 1, flood_on_suback, NULL, &s, NULL);
    CHECK_MSG(pump(both, 1, 15000, flood_subscribed, &s, NULL) == 0 && s.subscribed == 1, "no SUBACK 1");
    uint64_t t0 = mqttc_now_ms();
    for (int i = 0; i < FLOOD_COUNT && !test__current_failed;) {
        char topic[32];
        snprintf(topic, sizeof topic, "load/%d", i);
        rc = mqttc_publish(&pub, topic, topic, strlen(topic), 1, 0, NULL);
        if (rc == MQTTC_OK) { i++; continue; }
        CHECK_MSG(rc == MQTTC_ERR_BUSY, "publish %d: %s", i, mqttc_errname(rc));
        busy++; /* the window is full: let acks in */
        rc = pump(both, 2, 20, never_done, NULL, &which);
        CHECK_MSG(rc == MQTTC_ERR_TIMEOUT, "while publishing: %s (client %d)", mqttc_errname(rc), which);
        CHECK_MSG(mqttc_now_ms() - t0 < 120000, "publishing took over 2 minutes");
    }
    rc = pump(both, 2, 60000, flood_done, &s, &which);
    printf("flood: %d QoS 1 published in %llu ms (%d times the window was full), %d completed, %d distinct "
           "received, %d duplicates\n",
           FLOOD_COUNT, (unsigned long long)(mqttc_now_ms() - t0), busy, s.completed, s.distinct, s.duplicates);
    CHECK_MSG(rc == 0, "%s (client %d)", mqttc_errname(rc), which);
    mqttc_disconnect(&pub);
    mqttc_disconnect(&sub);
    pump(both, 2, 3000, never_done, NULL, NULL);
    mqttc_deinit(&pub);
    mqttc_deinit(&sub);
    return test__current_failed ? 1 : (printf("ok: flood\n"), 0);
}

int main(int argc, char **argv) {
    signal(SIGPIPE, SIG_IGN);
    alarm(180); /* a hang fails the test */
    if (argc == 5 && !strcmp(argv[1], "killed")) return mode_killed(atoi(argv[2]), (pid_t)atoi(argv[3]), atoi(argv[4]));
    if (argc == 5 && !strcmp(argv[1], "halfopen"))
        return mode_halfopen(atoi(argv[2]), (pid_t)atoi(argv[3]), (unsigned)atoi(argv[4]));
    if (argc == 3 && !strcmp(argv[1], "bigpayload")) return mode_bigpayload(atoi(argv[2]));
    if (argc == 3 && !strcmp(argv[1], "flood")) return mode_flood(atoi(argv[2]));
    fprintf(stderr, "usage: fault_peer killed PORT1 PID1 PORT2 | halfopen PORT PID KEEPALIVE | bigpayload PORT | "
                    "flood PORT\n");
    return 2;
}
