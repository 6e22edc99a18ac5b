/* Integration scenarios over real sockets, run by tests/t_live.sh against minibroker and a
   private mosquitto on 127.0.0.1 (under Valgrind). Usage: live_client SCENARIO PORT [ARG].
   Each scenario prints what it checks and exits 0 only when every check held. */
#define _POSIX_C_SOURCE 200809L
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>
#define MQTTC_IMPLEMENTATION
#include "mqttc.h"
#include "test.h"

static int port;

static void sleep_ms(long ms) {
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

typedef struct inbox {
    int count, suback_code, subacks, unsubacks, published;
    char topic[128];
    size_t len;
    unsigned char *data; /* last payload, copied */
    int qos, retain;
} inbox;

static void keep(inbox *b, const mqttc_message *m) {
    b->count++;
    snprintf(b->topic, sizeof b->topic, "%s", m->topic);
    free(b->data);
    b->data = (unsigned char *)malloc(m->payload_len + 1);
    memcpy(b->data, m->payload, m->payload_len);
    b->len = m->payload_len;
    b->qos = m->qos;
    b->retain = m->retain;
}
static void on_msg(mqttc_client *c, const mqttc_message *m, void *u) { (void)c; keep((inbox *)u, m); }
static void on_suback(mqttc_client *c, const mqttc_suback_info *sa, void *u) {
    unsigned short id = sa->packet_id;
    int code = sa->codes[0];
    (void)c; (void)id;
    ((inbox *)u)->subacks++;
    ((inbox *)u)->suback_code = code;
}
static void on_unsuback(mqttc_client *c, const mqttc_ack_info *ack, void *u) {
    unsigned short id = ack->packet_id; (void)c; (void)id; ((inbox *)u)->unsubacks++; }
static void on_published(mqttc_client *c, const mqttc_ack_info *ack, void *u) {
    unsigned short id = ack->packet_id; (void)c; (void)id; ((inbox *)u)->published++; }

static void options(mqttc_options *o, inbox *b, const char *id) {
    memset(o, 0, sizeof *o);
    o->client_id = id;
    o->on_message = on_msg;
    o->on_published = on_published;
    o->user = b;
    o->connect_timeout_ms = 10000;
}

/* Initialises c with o and connects it to the broker under test at host. */
static void connect_new(mqttc_client *c, const mqttc_options *o, const char *host) {
    CHECK_RC(mqttc_init(c, o), MQTTC_OK);
    CHECK_RC(mqttc_connect(c, host, port), MQTTC_OK);
}

/* Runs the loop until cond holds or ms pass; returns whether it held. */
#define RUN_UNTIL(c, cond, ms)                                                         \
    do {                                                                               \
        uint64_t end_ = mqttc_now_ms() + (ms);                                         \
        while (!(cond) && mqttc_now_ms() < end_ && mqttc_run_for((c), 50) == MQTTC_OK) {} \
    } while (0)

/* Publish QoS 0, 1, 2 to our own subscription, with handlers, binary and 1 MiB payloads. */
static void scenario_roundtrip(void) {
    mqttc_client c;
    mqttc_options o;
    inbox glob = {0}, mine = {0};
    options(&o, &glob, "live-roundtrip");
    connect_new(&c, &o, "127.0.0.1");
    CHECK_RC(mqttc_subscribe(&c, "live/+/q", 2, on_suback, on_msg, &mine, NULL), MQTTC_OK);
    CHECK_RC(mqttc_subscribe(&c, "other/#", 2, NULL, NULL, NULL, NULL), MQTTC_OK);
    RUN_UNTIL(&c, mine.subacks == 1, 5000);
    CHECK(mine.suback_code == 2);
    for (int qos = 0; qos <= 2; qos++) {
        char topic[32], payload[32];
        snprintf(topic, sizeof topic, "live/%d/q", qos);
        snprintf(payload, sizeof payload, "payload %d", qos);
        int before = mine.count;
        CHECK_RC(mqttc_publish(&c, topic, payload, strlen(payload), qos, 0, NULL), MQTTC_OK);
        RUN_UNTIL(&c, mine.count > before, 5000);
        CHECK(mine.count == before + 1 && mine.qos == qos && strcmp(mine.topic, topic) == 0);
        CHECK(mine.len == strlen(payload) && memcmp(mine.data, payload, mine.len) == 0);
    }
    RUN_UNTIL(&c, glob.published == 2, 5000);
    CHECK(glob.published == 2 && mqttc_inflight(&c) == 0);
    /* binary with NULs, to the global handler */
    static const unsigned char bin[] = {0, 1, 2, 0, 255, 0};
    CHECK_RC(mqttc_publish(&c, "other/bin", bin, sizeof bin, 1, 0, NULL), MQTTC_OK);
    RUN_UNTIL(&c, glob.count == 1, 5000);
    CHECK(glob.len == sizeof bin && memcmp(glob.data, bin, sizeof bin) == 0);
    /* 1 MiB, through partial writes and a growing receive buffer */
    size_t big = 1u << 20;
    unsigned char *blob = (unsigned char *)malloc(big);
    for (size_t i = 0; i < big; i++) blob[i] = (unsigned char)(i * 7 + 3);
    while (mqttc_publish(&c, "other/big", blob, big, 2, 0, NULL) == MQTTC_ERR_BUSY) mqttc_run_for(&c, 10);
    RUN_UNTIL(&c, glob.count == 2, 20000);
    CHECK(glob.count == 2 && glob.len == big && memcmp(glob.data, blob, big) == 0);
    free(blob);
    /* empty payload, retained: a new subscription gets it with the retain flag */
    CHECK_RC(mqttc_publish(&c, "other/retained", "keep", 4, 1, 1, NULL), MQTTC_OK);
    RUN_UNTIL(&c, glob.count == 3, 5000);
    CHECK(glob.retain == 0); /* a live forward is not flagged retained */
    CHECK_RC(mqttc_unsubscribe(&c, "other/#", on_unsuback, &mine, NULL), MQTTC_OK);
    RUN_UNTIL(&c, mine.unsubacks == 1, 5000);
    CHECK_RC(mqttc_subscribe(&c, "other/retained", 1, NULL, NULL, NULL, NULL), MQTTC_OK);
    RUN_UNTIL(&c, glob.count == 4, 5000);
    CHECK(glob.count == 4 && glob.retain == 1 && glob.len == 4);
    CHECK_RC(mqttc_publish(&c, "other/retained", NULL, 0, 1, 1, NULL), MQTTC_OK); /* clears it */
    RUN_UNTIL(&c, glob.count == 5, 5000);
    CHECK(glob.len == 0);
    CHECK_RC(mqttc_disconnect(&c), MQTTC_OK);
    CHECK_RC(mqttc_run(&c), MQTTC_ERR_DISCONNECT);
    mqttc_deinit(&c);
    free(glob.data);
    free(mine.data);
}

/* The will: published when a client vanishes, not after DISCONNECT [MQTT-3.1.2-8/10]. */
static void scenario_will(void) {
    mqttc_client watcher, dying;
    mqttc_options o, w;
    inbox seen = {0}, unused = {0};
    options(&o, &seen, "live-watcher");
    connect_new(&watcher, &o, "127.0.0.1");
    CHECK_RC(mqttc_subscribe(&watcher, "wills/#", 1, on_suback, NULL, &seen, NULL), MQTTC_OK);
    RUN_UNTIL(&watcher, seen.subacks == 1, 5000);
    for (int graceful = 0; graceful <= 1; graceful++) {
        options(&w, &unused, graceful ? "live-polite" : "live-dying");
        w.will_topic = graceful ? "wills/polite" : "wills/dying";
        w.will_payload = "gone";
        w.will_payload_len = 4;
        w.will_qos = 1;
        connect_new(&dying, &w, "127.0.0.1");
        if (graceful) {
            mqttc_disconnect(&dying);
            CHECK_RC(mqttc_run(&dying), MQTTC_ERR_DISCONNECT);
        }
        mqttc_deinit(&dying); /* without DISCONNECT: the socket just closes */
        int before = seen.count;
        RUN_UNTIL(&watcher, seen.count > before, graceful ? 1500 : 5000);
        if (graceful) CHECK(seen.count == before);
        else CHECK(seen.count == before + 1 && strcmp(seen.topic, "wills/dying") == 0 && seen.len == 4);
    }
    mqttc_deinit(&watcher);
    free(seen.data);
    free(unused.data);
}

/* argv: USER PASS. Right credentials connect; wrong ones get "4"; none get "5". */
static void scenario_credentials(const char *user, const char *pass) {
    static const struct { int use_user, right_pass, want, reason; } v[] = {
        {1, 1, MQTTC_OK, 0}, {1, 0, MQTTC_ERR_REFUSED, 4}, {0, 0, MQTTC_ERR_REFUSED, 5}};
    for (int i = 0; i < 3; i++) {
        mqttc_client c;
        mqttc_options o;
        inbox b = {0};
        options(&o, &b, "live-creds");
        if (v[i].use_user) {
            o.username = user;
            o.password = v[i].right_pass ? pass : "wrong";
            o.password_len = strlen((const char *)o.password);
        }
        mqttc_init(&c, &o);
        CHECK_RC(mqttc_connect(&c, "127.0.0.1", port), v[i].want);
        CHECK_EQ_INT(mqttc_reason_code(&c), v[i].reason);
        mqttc_deinit(&c);
    }
}

/* argv: N. minibroker --connack N refuses with code N. */
static void scenario_connack(int code) {
    mqttc_client c;
    mqttc_init(&c, NULL);
    int rc = mqttc_connect(&c, "127.0.0.1", port);
    CHECK_RC(rc, MQTTC_ERR_REFUSED);
    CHECK_EQ_INT(mqttc_reason_code(&c), code); /* [MQTT-3.2.2-5] */
    CHECK(mqttc_fd(&c) == -1);
    mqttc_deinit(&c);
}

/* minibroker --no-pingresp: keepalive 1 s, so "pingresp" within 2 x keepalive. */
static void scenario_pingresp(void) {
    mqttc_client c;
    mqttc_options o;
    inbox b = {0};
    options(&o, &b, "live-ping");
    o.keepalive_s = 1;
    connect_new(&c, &o, "127.0.0.1");
    uint64_t start = mqttc_now_ms();
    CHECK_RC(mqttc_run(&c), MQTTC_ERR_PINGRESP);
    uint64_t took = mqttc_now_ms() - start;
    printf("pingresp after %llu ms\n", (unsigned long long)took);
    CHECK(took >= 1000 && took <= 2000 + 1000 /* Valgrind's slack */);
    mqttc_deinit(&c);
}

/* minibroker --drop-after 3: CONNECT, SUBSCRIBE, PUBLISH, then the broker hangs up. */
static void scenario_closed(void) {
    mqttc_client c;
    mqttc_options o;
    inbox b = {0};
    options(&o, &b, "live-closed");
    connect_new(&c, &o, "127.0.0.1");
    CHECK_RC(mqttc_subscribe(&c, "x", 0, NULL, NULL, NULL, NULL), MQTTC_OK);
    CHECK_RC(mqttc_publish(&c, "x", "1", 1, 1, 0, NULL), MQTTC_OK);
    CHECK_RC(mqttc_run(&c), MQTTC_ERR_CLOSED);
    CHECK(mqttc_inflight(&c) == 1); /* the unacknowledged message is still ours */
    mqttc_deinit(&c);
}

/* A listener that accepts and then plays `reply` (NULL: stays silent). */
typedef struct fake_server { int listen_fd; const char *reply; } fake_server;
static void *fake_server_main(void *arg) {
    fake_server *s = (fake_server *)arg;
    int fd = accept(s->listen_fd, NULL, NULL);
    char buf[256];
    if (fd < 0) return NULL;
    if (s->reply) {
        ssize_t r = read(fd, buf, sizeof buf); /* the CONNECT */
        (void)r;
        r = write(fd, s->reply, strlen(s->reply));
        (void)r;
    }
    while (read(fd, buf, sizeof buf) > 0) {}
    close(fd);
    return NULL;
}
static int fake_listen(int *out_port) {
    struct sockaddr_in a;
    socklen_t len = sizeof a;
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    bind(fd, (struct sockaddr *)&a, sizeof a);
    listen(fd, 4);
    getsockname(fd, (struct sockaddr *)&a, &len);
    *out_port = ntohs(a.sin_port);
    return fd;
}

/* Errors before any MQTT: names that do not resolve, ports that refuse, servers that say
   nonsense or nothing. */
static void scenario_errors(void) {
    mqttc_client c;
    mqttc_options o;
    inbox b = {0};
    options(&o, &b, "live-errors");
    o.connect_timeout_ms = 700;
    mqttc_init(&c, &o);
    CHECK_RC(mqttc_connect(&c, "no-such-host.invalid", 1883), MQTTC_ERR_CANNOTRESOLVE);
    int closed_port;
    int fd = fake_listen(&closed_port);
    close(fd); /* nothing listens there now */
    CHECK_RC(mqttc_connect(&c, "127.0.0.1", closed_port), MQTTC_ERR_CANNOTCONNECT);
    const char *replies[] = {"HTTP/1.1 400 Bad Request\r\n\r\n", NULL};
    int wants[] = {MQTTC_ERR_INVALIDRESP, MQTTC_ERR_TIMEOUT};
    for (int i = 0; i < 2; i++) {
        fake_server s;
        pthread_t t;
        int p;
        s.listen_fd = fake_listen(&p);
        s.reply = replies[i];
        pthread_create(&t, NULL, fake_server_main, &s);
        uint64_t start = mqttc_now_ms();
        CHECK_RC(mqttc_connect(&c, "127.0.0.1", p), wants[i]);
        if (i == 1) CHECK(mqttc_now_ms() - start >= 700);
        CHECK(mqttc_fd(&c) == -1);
        pthread_join(t, NULL);
        close(s.listen_fd);
    }
    CHECK_RC(mqttc_connect(&c, NULL, 1), MQTTC_ERR_ARG);
    mqttc_deinit(&c);
}

/* IPv6 loopback, if the broker listens there (mosquitto does in t_live.sh). */
static void scenario_ipv6(void) {
    mqttc_client c;
    mqttc_options o;
    inbox b = {0};
    options(&o, &b, "live-v6");
    connect_new(&c, &o, "::1");
    CHECK_RC(mqttc_subscribe(&c, "v6", 1, NULL, NULL, NULL, NULL), MQTTC_OK);
    CHECK_RC(mqttc_publish(&c, "v6", "six", 3, 1, 0, NULL), MQTTC_OK);
    RUN_UNTIL(&c, b.count == 1, 5000);
    CHECK(b.count == 1 && b.len == 3);
    mqttc_deinit(&c);
    free(b.data);
}

/* The seed's proxy example: a socket connected by other code, handed over. */
static void scenario_adopt(void) {
    mqttc_client c;
    mqttc_options o;
    inbox b = {0};
    int fd = test_tcp_socket(port, 0, 0);
    CHECK(fd >= 0);
    options(&o, &b, "live-adopt");
    mqttc_init(&c, &o);
    CHECK_RC(mqttc_adopt_fd(&c, fd, mqttc_now_ms()), MQTTC_OK);
    RUN_UNTIL(&c, mqttc_state(&c) == MQTTC_STATE_CONNECTED, 5000);
    CHECK(mqttc_state(&c) == MQTTC_STATE_CONNECTED && mqttc_fd(&c) == fd);
    CHECK_RC(mqttc_subscribe(&c, "adopted", 0, NULL, NULL, NULL, NULL), MQTTC_OK);
    CHECK_RC(mqttc_publish(&c, "adopted", "via fd", 6, 1, 0, NULL), MQTTC_OK);
    RUN_UNTIL(&c, b.count == 1, 5000);
    CHECK(b.count == 1);
    mqttc_deinit(&c); /* closes the adopted fd */
    CHECK(write(fd, "x", 1) < 0);
    free(b.data);
}

/* An event loop on poll(2): non-blocking connect through steps, a timer publishing every
   100 ms while receiving, and an idle phase that must not spin. */
static void scenario_pollloop(void) {
    mqttc_client c;
    mqttc_options o;
    inbox b = {0};
    options(&o, &b, "live-poll");
    mqttc_init(&c, &o);
    CHECK_RC(mqttc_connect_start(&c, "127.0.0.1", port, mqttc_now_ms()), MQTTC_OK);
    int sent = 0, wakeups = 0, subscribed = 0;
    uint64_t next_pub = 0, end = mqttc_now_ms() + 8000, idle_from = 0;
    while (mqttc_now_ms() < end) {
        uint64_t now = mqttc_now_ms();
        long ms = mqttc_timeout_ms(&c, now);
        if (sent < 10 && mqttc_state(&c) == MQTTC_STATE_CONNECTED) ms = next_pub > now ? (long)(next_pub - now) : 0;
        struct pollfd p = test_pollfd(&c);
        if (idle_from && ms > 1000) ms = 1000; /* the idle phase lasts 1 s */
        poll(&p, 1, (int)ms);
        wakeups++;
        now = mqttc_now_ms();
        CHECK_RC(mqttc_step(&c, now), MQTTC_OK);
        if (mqttc_state(&c) != MQTTC_STATE_CONNECTED) continue;
        if (!subscribed) subscribed = mqttc_subscribe(&c, "tick", 1, NULL, NULL, NULL, NULL) == MQTTC_OK;
        if (sent < 10 && now >= next_pub) {
            char msg[24];
            snprintf(msg, sizeof msg, "tick %d", sent);
            if (mqttc_publish(&c, "tick", msg, strlen(msg), sent % 3, 0, NULL) == MQTTC_OK) sent++;
            next_pub = now + 100;
        }
        if (sent == 10 && b.count == 10 && !idle_from) { idle_from = now; wakeups = 0; }
        if (idle_from && now - idle_from >= 1000) break;
    }
    CHECK(b.count == 10);
    printf("idle wakeups in 1 s: %d\n", wakeups);
    CHECK(idle_from && wakeups <= 3); /* keepalive 60 s: an idle client sleeps */
    mqttc_deinit(&c);
    free(b.data);
}

/* One thread runs the loop; another publishes and finally disconnects, with a recursive
   mutex in the lock hooks. Run under Helgrind by t_live.sh too. */
static pthread_mutex_t lock;
static void lock_fn(void *u) { (void)u; pthread_mutex_lock(&lock); }
static void unlock_fn(void *u) { (void)u; pthread_mutex_unlock(&lock); }
static void *runner(void *arg) {
    mqttc_client *c = (mqttc_client *)arg;
    static int rc;
    rc = mqttc_run(c);
    return &rc;
}
static void scenario_threads(void) {
    mqttc_client c;
    mqttc_options o;
    inbox b = {0};
    pthread_mutexattr_t attr;
    pthread_t t;
    void *ret;
    pthread_mutexattr_init(&attr);
    pthread_mutexattr_settype(&attr, PTHREAD_MUTEX_RECURSIVE);
    pthread_mutex_init(&lock, &attr);
    options(&o, &b, "live-threads");
    o.lock = lock_fn;
    o.unlock = unlock_fn;
    connect_new(&c, &o, "127.0.0.1");
    CHECK_RC(mqttc_subscribe(&c, "thr", 1, NULL, NULL, NULL, NULL), MQTTC_OK);
    pthread_create(&t, NULL, runner, &c);
    int sent = 0;
    for (int i = 0; i < 200; i++) {
        int rc;
        while ((rc = mqttc_publish(&c, "thr", "m", 1, i % 2, 0, NULL)) == MQTTC_ERR_BUSY) sleep_ms(1);
        sent += rc == MQTTC_OK;
    }
    for (int i = 0; i < 1000; i++) {
        pthread_mutex_lock(&lock);
        int done = b.count;
        pthread_mutex_unlock(&lock);
        if (done == 200) break;
        sleep_ms(10);
    }
    CHECK_RC(mqttc_disconnect(&c), MQTTC_OK); /* wakes the runner */
    pthread_join(t, &ret);
    CHECK(*(int *)ret == MQTTC_ERR_DISCONNECT);
    CHECK(sent == 200 && b.count == 200);
    mqttc_deinit(&c);
    pthread_mutex_destroy(&lock);
    pthread_mutexattr_destroy(&attr);
    free(b.data);
}

/* Many clients in one process are independent: each gets exactly its own messages. */
static void scenario_many(void) {
    enum { N = 20 };
    mqttc_client c[N];
    inbox b[N];
    char ids[N][16], topics[N][16];
    memset(b, 0, sizeof b);
    for (int i = 0; i < N; i++) {
        mqttc_options o;
        snprintf(ids[i], sizeof ids[i], "many-%d", i);
        snprintf(topics[i], sizeof topics[i], "many/%d", i);
        options(&o, &b[i], ids[i]);
        connect_new(&c[i], &o, "127.0.0.1");
        CHECK_RC(mqttc_subscribe(&c[i], topics[i], 1, on_suback, NULL, &b[i], NULL), MQTTC_OK);
    }
    for (int round = 0; round < 200; round++)
        for (int i = 0; i < N; i++) mqttc_run_for(&c[i], 0);
    for (int i = 0; i < N; i++) CHECK_RC(mqttc_publish(&c[(i + 1) % N], topics[i], ids[i], strlen(ids[i]), 1, 0, NULL), MQTTC_OK);
    uint64_t end = mqttc_now_ms() + 10000;
    int all;
    do {
        all = 1;
        for (int i = 0; i < N; i++) {
            mqttc_run_for(&c[i], 1);
            all &= b[i].count >= 1;
        }
    } while (!all && mqttc_now_ms() < end);
    for (int i = 0; i < N; i++) {
        CHECK(b[i].count == 1 && b[i].len == strlen(ids[i]) && memcmp(b[i].data, ids[i], b[i].len) == 0);
        mqttc_deinit(&c[i]);
        free(b[i].data);
    }
}

/* Overlapping filters: the broker sends one PUBLISH (mosquitto does), and each matching
   per-filter handler gets it once. */
static void scenario_overlap(void) {
    mqttc_client c;
    mqttc_options o;
    inbox glob = {0}, a = {0}, b = {0};
    options(&o, &glob, "live-overlap");
    connect_new(&c, &o, "127.0.0.1");
    CHECK_RC(mqttc_subscribe(&c, "ov/#", 1, on_suback, on_msg, &a, NULL), MQTTC_OK);
    CHECK_RC(mqttc_subscribe(&c, "ov/+", 1, on_suback, on_msg, &b, NULL), MQTTC_OK);
    RUN_UNTIL(&c, a.subacks + b.subacks == 2, 5000);
    CHECK_RC(mqttc_publish(&c, "ov/x", "once", 4, 1, 0, NULL), MQTTC_OK);
    RUN_UNTIL(&c, a.count && b.count, 5000);
    mqttc_run_for(&c, 300); /* a second copy would have come by now */
    CHECK(a.count == 1 && b.count == 1 && glob.count == 0);
    mqttc_deinit(&c);
    free(a.data);
    free(b.data);
}

/* Several filters in one SUBSCRIBE and one UNSUBSCRIBE against a real broker. */
static unsigned char many_codes[4];
static int many_subacks;
static void on_subacks(mqttc_client *c, const mqttc_suback_info *sa, void *u) {
    (void)c; (void)u;
    many_subacks++;
    memcpy(many_codes, sa->codes, sa->count < 4 ? sa->count : 4);
}

static void scenario_manyfilters(void) {
    mqttc_client c;
    mqttc_options o;
    inbox glob = {0};
    const char *filters[] = {"mf/a", "mf/b/+", "mf/c/#"};
    unsigned char qos[] = {0, 1, 2};
    options(&o, &glob, "live-many-filters");
    connect_new(&c, &o, "127.0.0.1");
    CHECK_RC(mqttc_subscribe_many(&c, filters, qos, 3, on_subacks, NULL, NULL, NULL), MQTTC_OK);
    RUN_UNTIL(&c, many_subacks == 1, 5000);
    CHECK(many_codes[0] == 0 && many_codes[1] == 1 && many_codes[2] == 2);
    const char *topics[] = {"mf/a", "mf/b/x", "mf/c/y/z"};
    for (int i = 0; i < 3; i++) CHECK_RC(mqttc_publish(&c, topics[i], "m", 1, 1, 0, NULL), MQTTC_OK);
    RUN_UNTIL(&c, glob.count == 3, 5000);
    CHECK(glob.count == 3);
    CHECK_RC(mqttc_unsubscribe_many(&c, filters, 3, on_unsuback, &glob, NULL), MQTTC_OK);
    RUN_UNTIL(&c, glob.unsubacks == 1, 5000);
    CHECK_RC(mqttc_publish(&c, "mf/a", "gone", 4, 1, 0, NULL), MQTTC_OK);
    mqttc_run_for(&c, 300);
    CHECK(glob.count == 3 && glob.unsubacks == 1);
    mqttc_deinit(&c);
    free(glob.data);
}

/* mqttc_pause: nothing is read while paused (the messages wait in the broker and the
   socket), all arrive after resume; a graceful disconnect right after 100 QoS 2 publishes
   delivers all 100 (the drain). */
static void scenario_pause_and_drain(void) {
    mqttc_client sub, pub;
    mqttc_options o;
    inbox in = {0}, out = {0};
    enum { N = 100 };
    options(&o, &in, "live-paused-sub");
    connect_new(&sub, &o, "127.0.0.1");
    CHECK_RC(mqttc_subscribe(&sub, "pd", 2, on_suback, NULL, &in, NULL), MQTTC_OK);
    RUN_UNTIL(&sub, in.subacks == 1, 5000);
    mqttc_pause(&sub, 1);
    options(&o, &out, "live-draining-pub");
    connect_new(&pub, &o, "127.0.0.1");
    for (int i = 0; i < N; i++) {
        int rc;
        while ((rc = mqttc_publish(&pub, "pd", "q2", 2, 2, 0, NULL)) == MQTTC_ERR_BUSY) mqttc_run_for(&pub, 5);
        CHECK_RC(rc, MQTTC_OK);
    }
    CHECK_RC(mqttc_disconnect(&pub), MQTTC_OK);
    int rc;
    while ((rc = mqttc_run_for(&pub, 50)) == MQTTC_OK) {}
    CHECK_RC(rc, MQTTC_ERR_DISCONNECT);
    CHECK(out.published == N && mqttc_inflight(&pub) == 0);
    mqttc_run_for(&sub, 300);
    CHECK(in.count == 0); /* paused: nothing read */
    mqttc_pause(&sub, 0);
    RUN_UNTIL(&sub, in.count == N, 10000);
    if (in.count != N) fprintf(stderr, "received %d of %d, state %d, error %s\n", in.count, N, mqttc_state(&sub), mqttc_errname(mqttc_error(&sub)));
    CHECK(in.count == N);
    mqttc_deinit(&pub);
    mqttc_deinit(&sub);
    free(in.data);
}

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: live_client SCENARIO PORT [ARGS]\n");
        return 2;
    }
    const char *s = argv[1];
    port = atoi(argv[2]);
    if (!strcmp(s, "roundtrip")) scenario_roundtrip();
    else if (!strcmp(s, "will")) scenario_will();
    else if (!strcmp(s, "credentials") && argc == 5) scenario_credentials(argv[3], argv[4]);
    else if (!strcmp(s, "connack") && argc == 4) scenario_connack(atoi(argv[3]));
    else if (!strcmp(s, "pingresp")) scenario_pingresp();
    else if (!strcmp(s, "closed")) scenario_closed();
    else if (!strcmp(s, "errors")) scenario_errors();
    else if (!strcmp(s, "ipv6")) scenario_ipv6();
    else if (!strcmp(s, "adopt")) scenario_adopt();
    else if (!strcmp(s, "pollloop")) scenario_pollloop();
    else if (!strcmp(s, "threads")) scenario_threads();
    else if (!strcmp(s, "many")) scenario_many();
    else if (!strcmp(s, "overlap")) scenario_overlap();
    else if (!strcmp(s, "manyfilters")) scenario_manyfilters();
    else if (!strcmp(s, "pausedrain")) scenario_pause_and_drain();
    else {
        fprintf(stderr, "unknown scenario %s\n", s);
        return 2;
    }
    return test_exit(s);
}
