/* tests/test.h - the one C test harness: assertions, and (when mqttc.h came first) the
   fixtures every client test shares: an in-memory link, a connected client, packets fed
   and read back.
     TEST(name) { CHECK(cond); CHECK_EQ_INT(a, b); CHECK_RC(rc, MQTTC_OK); ... }
     main: RUN(name); ... return test_report();
   Each TEST counts once: passed if none of its checks failed. The last line printed is
   "N passed, N failed", which tests/run.sh adds up. Scenario programs (one scenario a run)
   use the same checks and end with test_exit("name"). */
#ifndef MQTTC_TEST_H
#define MQTTC_TEST_H
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static int test__passed, test__failed, test__current_failed;

#define TEST(name) static void name(void)
#define CHECK(cond)                                                                       \
    do {                                                                                  \
        if (!(cond)) {                                                                    \
            fprintf(stderr, "  %s:%d: CHECK(%s) failed\n", __FILE__, __LINE__, #cond);    \
            test__current_failed = 1;                                                     \
        }                                                                                 \
    } while (0)
#define CHECK_EQ_INT(a, b)                                                                \
    do {                                                                                  \
        long long test__a = (long long)(a), test__b = (long long)(b);                     \
        if (test__a != test__b) {                                                         \
            fprintf(stderr, "  %s:%d: %s == %s failed: %lld != %lld\n", __FILE__, __LINE__, \
                    #a, #b, test__a, test__b);                                            \
            test__current_failed = 1;                                                     \
        }                                                                                 \
    } while (0)
#define CHECK_MEM(p, q, n) CHECK(memcmp((p), (q), (n)) == 0)
/* CHECK with a printf-style account of what was found. */
#define CHECK_MSG(cond, ...)                                                              \
    do {                                                                                  \
        if (!(cond)) {                                                                    \
            fprintf(stderr, "  %s:%d: CHECK(%s) failed: ", __FILE__, __LINE__, #cond);    \
            fprintf(stderr, __VA_ARGS__);                                                 \
            fputc('\n', stderr);                                                         \
            test__current_failed = 1;                                                     \
        }                                                                                 \
    } while (0)
#define RUN(name)                                                                         \
    do {                                                                                  \
        test__current_failed = 0;                                                         \
        name();                                                                           \
        if (test__current_failed) { test__failed++; printf("not ok - %s\n", #name); }     \
        else { test__passed++; printf("ok - %s\n", #name); }                              \
        fflush(stdout);                                                                   \
    } while (0)

static inline int test_report(void) {
    printf("%d passed, %d failed\n", test__passed, test__failed);
    return test__failed ? 1 : 0;
}

#ifdef MQTTC_H
/* A call's result, by the library's error names. */
#define CHECK_RC(rc, want)                                                                \
    do {                                                                                  \
        int test__got = (rc);                                                             \
        if (test__got != (want)) {                                                        \
            fprintf(stderr, "  %s:%d: %s = %s, want %s\n", __FILE__, __LINE__, #rc,       \
                    mqttc_errname(test__got), mqttc_errname(want));                       \
            test__current_failed = 1;                                                     \
        }                                                                                 \
    } while (0)

#if defined(__GNUC__) || defined(__clang__)
#define TEST_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define TEST_PRINTF(a, b)
#endif

/* One named check of a scenario program: "ok - NAME", or "not ok - NAME" and, below it,
   what was found (printf-style). */
static inline void TEST_PRINTF(3, 4) verdict(const char *name, int holds, const char *fmt, ...) {
    printf("%s - %s\n", holds ? "ok" : "not ok", name);
    if (!holds) {
        va_list ap;
        va_start(ap, fmt);
        printf("    found: ");
        vprintf(fmt, ap);
        printf("\n");
        va_end(ap);
        test__current_failed = 1;
    }
    fflush(stdout);
}

/* The end of a scenario program: "name: ok" and 0, or "name: FAILED" and 1. */
static inline int test_exit(const char *name) {
    printf("%s: %s\n", name, test__current_failed ? "FAILED" : "ok");
    return test__current_failed ? 1 : 0;
}

#include "mem_transport.h"
#include <poll.h>

#ifndef MQTTC_NO_SOCKETS
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>
/* A blocking TCP socket to 127.0.0.1:port, connected by "other code" (a proxy, say) for
   mqttc_adopt_fd; small kernel buffers when asked (0: the system's). -1 on failure. */
static inline int test_tcp_socket(int port, int sndbuf, int rcvbuf) {
    struct sockaddr_in a;
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_port = htons((unsigned short)port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (sndbuf) setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof sndbuf);
    if (rcvbuf) setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
    if (fd >= 0 && connect(fd, (struct sockaddr *)&a, sizeof a) == 0) return fd;
    if (fd >= 0) close(fd);
    return -1;
}

/* A TCP transport of the test's own, whose link the test can cut (cut = 1: the client's
   next send or recv finds it closed), so that a connection ends with flows open. */
typedef struct test_cuttable {
    int fd, cut;
} test_cuttable;
static inline int test_cut_send(mqttc_transport *t, const unsigned char *buf, size_t len, size_t *n) {
    test_cuttable *l = (test_cuttable *)t->ctx;
    *n = 0;
    if (l->cut) return MQTTC_ERR_CLOSED;
    ssize_t r = send(l->fd, buf, len, MSG_NOSIGNAL);
    if (r < 0) return errno == EAGAIN || errno == EWOULDBLOCK ? MQTTC_OK : MQTTC_ERR_IO;
    *n = (size_t)r;
    return MQTTC_OK;
}
static inline int test_cut_recv(mqttc_transport *t, unsigned char *buf, size_t cap, size_t *n) {
    test_cuttable *l = (test_cuttable *)t->ctx;
    *n = 0;
    if (l->cut) return MQTTC_ERR_CLOSED;
    ssize_t r = recv(l->fd, buf, cap, 0);
    if (r == 0) return MQTTC_ERR_CLOSED;
    if (r < 0) return errno == EAGAIN || errno == EWOULDBLOCK ? MQTTC_OK : MQTTC_ERR_IO;
    *n = (size_t)r;
    return MQTTC_OK;
}
static inline void test_cut_close(mqttc_transport *t) {
    test_cuttable *l = (test_cuttable *)t->ctx;
    if (l->fd >= 0) close(l->fd);
    l->fd = -1;
}
/* A new cuttable link to 127.0.0.1:port as *t (non-blocking); MQTTC_ERR_CANNOTCONNECT. */
static inline int test_cut_open(test_cuttable *l, int port, mqttc_transport *t) {
    l->cut = 0;
    l->fd = test_tcp_socket(port, 0, 0);
    if (l->fd < 0) return MQTTC_ERR_CANNOTCONNECT;
    fcntl(l->fd, F_SETFL, fcntl(l->fd, F_GETFL, 0) | O_NONBLOCK);
    memset(t, 0, sizeof *t);
    t->send = test_cut_send;
    t->recv = test_cut_recv;
    t->close = test_cut_close;
    t->fd = l->fd;
    t->ctx = l;
    return MQTTC_OK;
}
#endif

/* The poll(2) entry for a client's fd and events: for the tests that run their own loop
   over the poll-loop interface (the library's own loop is mqttc_wait). */
static inline struct pollfd test_pollfd(const mqttc_client *c) {
    struct pollfd p;
    p.fd = mqttc_fd(c);
    p.events = mqttc_poll_events(c);
    p.revents = 0;
    return p;
}

/* A PUBLISH's bytes, for feeding to a client as the broker. */
static inline size_t test_publish_bytes(unsigned char *buf, size_t cap, const char *topic, const void *payload, size_t len,
                                 int qos, int retain, int dup, unsigned short id) {
    mqttc_publish_info pi;
    size_t n = 0;
    memset(&pi, 0, sizeof pi);
    pi.topic = topic;
    pi.topic_len = strlen(topic);
    pi.payload = payload;
    pi.payload_len = len;
    pi.qos = qos;
    pi.retain = retain;
    pi.dup = dup;
    pi.packet_id = id;
    CHECK_RC(mqttc_encode_publish(buf, cap, MQTTC_PROTOCOL_311, &pi, &n), MQTTC_OK);
    return n;
}

static inline void test_feed_publish(mem_link *l, const char *topic, const char *payload, int qos, unsigned short id) {
    unsigned char b[512];
    mem_feed(l, b, test_publish_bytes(b, sizeof b, topic, payload, strlen(payload), qos, 0, 0, id));
}

/* PUBACK, PUBREC, PUBREL, PUBCOMP, UNSUBACK as the broker sends them, in this version. */
static inline void test_feed_ack_v(mem_link *l, int version, int type, unsigned short id) {
    unsigned char b[8];
    mqttc_ack_info a;
    size_t n = 0;
    memset(&a, 0, sizeof a);
    a.type = type;
    a.packet_id = id;
    CHECK_RC(mqttc_encode_ack(b, sizeof b, version, &a, &n), MQTTC_OK);
    mem_feed(l, b, n);
}

static inline void test_feed_ack(mem_link *l, int type, unsigned short id) {
    test_feed_ack_v(l, MQTTC_PROTOCOL_311, type, id);
}

/* What the client sent, one packet at a time, with the fields tests look at side by side. */
typedef struct test_packet {
    int type;                 /* 0: none left */
    unsigned short packet_id; /* of whichever kind of packet it is */
    int qos, retain, dup;     /* PUBLISH */
    size_t payload_len;       /* PUBLISH */
    size_t count;             /* filters of SUBSCRIBE / UNSUBSCRIBE */
    mqttc_connect_info connect;
    mqttc_packet raw;         /* all of it */
} test_packet;

static inline int test_next_sent(mem_link *l, size_t *pos, test_packet *t) {
    memset(t, 0, sizeof *t);
    if (!mem_next_sent(l, pos, &t->raw)) return 0;
    const mqttc_packet *p = &t->raw;
    t->type = p->type;
    t->packet_id = mqttc_packet_id(p);
    t->qos = p->publish.qos;
    t->retain = p->publish.retain;
    t->dup = p->publish.dup;
    t->payload_len = p->publish.payload_len;
    t->count = p->subscribe.count;
    t->connect = p->connect;
    return t->type;
}

/* A client connected over an in-memory link: CONNECT sent, CONNACK fed and handled at
   time 0. */
static const unsigned char TEST_CONNACK_OK[] = {0x20, 0x02, 0x00, 0x00};

static inline void test_connect(mqttc_client *c, mem_link *l, const mqttc_options *o) {
    mqttc_transport t = mem_transport(l);
    CHECK_RC(mqttc_init(c, o), MQTTC_OK);
    CHECK_RC(mqttc_start_transport(c, &t, 0), MQTTC_OK);
    mem_feed(l, TEST_CONNACK_OK, sizeof TEST_CONNACK_OK);
    for (int i = 0; i < 50 && mqttc_state(c) == MQTTC_STATE_CONNACK_WAIT; i++) mqttc_step(c, 0);
    CHECK_EQ_INT(mqttc_state(c), MQTTC_STATE_CONNECTED);
}
/* What mqttc_init makes of these options: "" when it takes them, else the argument it names
   (MQTTC_ERR_ARG) or the error's name. */
static inline const char *test_refused(const mqttc_options *o) {
    static char name[64];
    mqttc_client c;
    int rc = mqttc_init(&c, o);
    if (rc == MQTTC_OK) {
        mqttc_deinit(&c);
        return "";
    }
    snprintf(name, sizeof name, "%s", rc == MQTTC_ERR_ARG ? mqttc_bad_arg(&c) : mqttc_errname(rc));
    return name;
}
#endif /* MQTTC_H */
#endif
