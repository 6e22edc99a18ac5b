/* tests/loopback_broker.h - a broker (or proxy) played by the test itself on 127.0.0.1 or
   ::1, in the test's own thread: it listens, and between the client's steps (a fake clock
   that moves 20 ms a round, so backoffs pass) accepts, reads whole packets or raw bytes and
   answers. For the socket paths the in-memory link cannot reach: dialling, redialling,
   proxies and WebSocket over TCP. Include after mqttc.h and tests/test.h.

       srv s; srv_listen(&s, 0);   mqttc_connect_start(&c, "127.0.0.1", s.port, now);
       srv_session(&s, &c, &now, NULL, NULL);   // accept, CONNECT, CONNACK, CONNECTED
*/
#ifndef MQTTC_LOOPBACK_BROKER_H
#define MQTTC_LOOPBACK_BROKER_H
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

typedef struct srv {
    int lfd, port, fd;
    unsigned char in[4096], pkt[4096];
    size_t in_len;
} srv;

static inline int srv_listen(srv *s, int v6) {
    memset(s, 0, sizeof *s);
    s->fd = -1;
    s->lfd = socket(v6 ? AF_INET6 : AF_INET, SOCK_STREAM, 0);
    if (s->lfd < 0) return -1;
    if (v6) {
        struct sockaddr_in6 a;
        socklen_t len = sizeof a;
        memset(&a, 0, sizeof a);
        a.sin6_family = AF_INET6;
        a.sin6_addr = in6addr_loopback;
        if (bind(s->lfd, (struct sockaddr *)&a, sizeof a) != 0 || listen(s->lfd, 4) != 0 ||
            getsockname(s->lfd, (struct sockaddr *)&a, &len) != 0)
            return -1;
        s->port = ntohs(a.sin6_port);
    } else {
        struct sockaddr_in a;
        socklen_t len = sizeof a;
        memset(&a, 0, sizeof a);
        a.sin_family = AF_INET;
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        if (bind(s->lfd, (struct sockaddr *)&a, sizeof a) != 0 || listen(s->lfd, 4) != 0 ||
            getsockname(s->lfd, (struct sockaddr *)&a, &len) != 0)
            return -1;
        s->port = ntohs(a.sin_port);
    }
    fcntl(s->lfd, F_SETFL, fcntl(s->lfd, F_GETFL, 0) | O_NONBLOCK);
    return 0;
}

static inline void srv_drop(srv *s) {
    if (s->fd >= 0) close(s->fd);
    s->fd = -1;
    s->in_len = 0;
}

static inline void srv_free(srv *s) {
    srv_drop(s);
    if (s->lfd >= 0) close(s->lfd);
    s->lfd = -1;
}

/* Steps the client (the clock 20 ms on a round, so backoffs pass) until one of the n
   listeners accepts a connection; returns its index, -1 when none did in time. */
static inline int srv_accept_any(srv **ss, int n, mqttc_client *c, uint64_t *now) {
    for (int round = 0; round < 2000; round++) {
        (void)mqttc_step(c, *now);
        for (int i = 0; i < n; i++) {
            int fd = accept(ss[i]->lfd, NULL, NULL);
            if (fd >= 0) {
                fcntl(fd, F_SETFL, fcntl(fd, F_GETFL, 0) | O_NONBLOCK);
                srv_drop(ss[i]);
                ss[i]->fd = fd;
                return i;
            }
        }
        *now += 20;
        poll(NULL, 0, 1);
    }
    return -1;
}

static inline int srv_accept(srv *s, mqttc_client *c, uint64_t *now) { return srv_accept_any(&s, 1, c, now) == 0 ? 0 : -1; }

/* Steps the client until s read one whole packet from it, decoded into *p (its strings in
   s->pkt, valid until the next call). 0, or -1 (nothing in time, or EOF). */
static inline int srv_packet(srv *s, mqttc_client *c, uint64_t *now, mqttc_packet *p) {
    for (int round = 0; round < 2000; round++) {
        size_t used = 0;
        if (mqttc_decode(s->in, s->in_len, 0, MQTTC_PROTOCOL_311, p, &used) == MQTTC_OK) {
            memcpy(s->pkt, s->in, used);
            memmove(s->in, s->in + used, s->in_len - used);
            s->in_len -= used;
            return mqttc_decode(s->pkt, used, 0, MQTTC_PROTOCOL_311, p, &used) == MQTTC_OK ? 0 : -1;
        }
        (void)mqttc_step(c, *now);
        ssize_t k = recv(s->fd, s->in + s->in_len, sizeof s->in - s->in_len, 0);
        if (k == 0) return -1;
        if (k > 0) s->in_len += (size_t)k;
        else poll(NULL, 0, 1);
    }
    return -1;
}

static inline void srv_send(srv *s, const void *b, size_t n) { CHECK_EQ_INT(send(s->fd, b, n, MSG_NOSIGNAL), (long)n); }

static inline int str_is(mqttc_str s, const char *want) {
    return want ? s.ptr && s.len == strlen(want) && memcmp(s.ptr, want, s.len) == 0 : s.len == 0;
}

/* Steps the client until s holds at least n bytes from it (in s->in); 0 or -1. */
static inline int srv_read(srv *s, mqttc_client *c, uint64_t *now, size_t n) {
    for (int round = 0; round < 2000 && s->in_len < n; round++) {
        (void)mqttc_step(c, *now);
        ssize_t k = recv(s->fd, s->in + s->in_len, sizeof s->in - s->in_len, 0);
        if (k == 0) return -1;
        if (k > 0) s->in_len += (size_t)k;
        else poll(NULL, 0, 1);
    }
    return s->in_len >= n ? 0 : -1;
}

/* The same until s->in holds `mark`: the length up to its end, or -1. */
static inline long srv_read_until(srv *s, mqttc_client *c, uint64_t *now, const char *mark) {
    size_t m = strlen(mark);
    for (int round = 0; round < 2000; round++) {
        for (size_t i = 0; i + m <= s->in_len; i++)
            if (memcmp(s->in + i, mark, m) == 0) return (long)(i + m);
        if (srv_read(s, c, now, s->in_len + 1) != 0) return -1;
    }
    return -1;
}

/* Drops the first n bytes of s->in (read and dealt with). */
static inline void srv_consume(srv *s, size_t n) {
    memmove(s->in, s->in + n, s->in_len - n);
    s->in_len -= n;
}

/* Reads CONNECT and checks its login, answers CONNACK and steps the client to CONNECTED. */
static inline void srv_connack(srv *s, mqttc_client *c, uint64_t *now, const char *user, const char *pass) {
    mqttc_packet p;
    CHECK_MSG(srv_packet(s, c, now, &p) == 0, "state %d error %s", mqttc_state(c), mqttc_errname(mqttc_error(c)));
    CHECK_EQ_INT(p.type, MQTTC_CONNECT);
    CHECK_MSG(str_is(p.connect.username, user), "username %.*s, want %s", (int)p.connect.username.len,
              p.connect.username.ptr ? p.connect.username.ptr : "", user ? user : "(none)");
    CHECK_MSG(str_is(p.connect.password, pass), "password %.*s, want %s", (int)p.connect.password.len,
              p.connect.password.ptr ? p.connect.password.ptr : "", pass ? pass : "(none)");
    srv_send(s, TEST_CONNACK_OK, sizeof TEST_CONNACK_OK);
    for (int i = 0; i < 500 && mqttc_state(c) != MQTTC_STATE_CONNECTED; i++) {
        (void)mqttc_step(c, *now);
        poll(NULL, 0, 1);
    }
    CHECK_EQ_INT(mqttc_state(c), MQTTC_STATE_CONNECTED);
}

/* Accepts on s, then srv_connack. */
static inline void srv_session(srv *s, mqttc_client *c, uint64_t *now, const char *user, const char *pass) {
    CHECK(srv_accept(s, c, now) == 0);
    srv_connack(s, c, now, user, pass);
}

#endif
