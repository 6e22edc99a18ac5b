/* tests/hostile.h - a scripted hostile broker for tests.
   hb_start() listens on 127.0.0.1 (a free port, b->port) and starts a thread that accepts
   one connection and plays a script: expect a packet of a type (and id) from the client,
   send raw bytes, trickle them a byte at a time, send pseudo-random garbage, stop reading,
   pause, close. After the script it reads and discards until the client closes
   (b->saw_eof). hb_finish() tells it the test is over, waits for it and frees everything;
   b->failure then names the first broken expectation ("" if none). Every wait is bounded
   (HB_WAIT_MS), so a script never hangs a test. Include after mqttc.h; link -lpthread.

       static const hb_step script[] = {
           HB_EXPECT(MQTTC_CONNECT, 0), HB_CONNACK_OK,
           HB_SEND(0x40, 0x01, 0x00),   // a PUBACK one byte short
           HB_DONE};
*/
#ifndef MQTTC_HOSTILE_H
#define MQTTC_HOSTILE_H
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#ifndef HB_WAIT_MS
#define HB_WAIT_MS 20000 /* the longest any step waits for the client */
#endif

typedef enum hb_op {
    HB_OP_END,          /* the script is over: read and discard until the client closes */
    HB_OP_EXPECT,       /* read one packet: its type must be `type`, its id `id` (0: any) */
    HB_OP_SEND,         /* write bytes (a write error ends the script: the client left) */
    HB_OP_TRICKLE,      /* write bytes one at a time, `count` ms apart */
    HB_OP_GARBAGE,      /* write `count` pseudo-random bytes, or as many as the client takes */
    HB_OP_STOP_READING, /* read nothing more, until hb_finish */
    HB_OP_SLEEP,        /* wait `count` ms */
    HB_OP_CLOSE         /* close the connection now */
} hb_op;

typedef struct hb_step {
    hb_op op;
    int type;
    unsigned id;
    const unsigned char *bytes;
    size_t len;
    size_t count;
} hb_step;

#define HB_BYTES(...) (const unsigned char[]){__VA_ARGS__}, sizeof((const unsigned char[]){__VA_ARGS__})
#define HB_EXPECT(type, id) {HB_OP_EXPECT, (type), (id), NULL, 0, 0}
#define HB_SEND(...) {HB_OP_SEND, 0, 0, HB_BYTES(__VA_ARGS__), 0}
#define HB_TRICKLE(ms, ...) {HB_OP_TRICKLE, 0, 0, HB_BYTES(__VA_ARGS__), (ms)}
#define HB_GARBAGE(n) {HB_OP_GARBAGE, 0, 0, NULL, 0, (n)}
#define HB_STOP_READING {HB_OP_STOP_READING, 0, 0, NULL, 0, 0}
#define HB_SLEEP(ms) {HB_OP_SLEEP, 0, 0, NULL, 0, (ms)}
#define HB_CLOSE {HB_OP_CLOSE, 0, 0, NULL, 0, 0}
#define HB_DONE {HB_OP_END, 0, 0, NULL, 0, 0}
#define HB_CONNACK_OK HB_SEND(0x20, 0x02, 0x00, 0x00)

typedef struct hb_broker {
    int port;
    int rcvbuf;             /* SO_RCVBUF of the connection; 0: the system's default */
    char failure[256];      /* the first broken expectation; "" if none */
    int saw_eof;            /* the client closed the connection */
    int client_left;        /* a write failed: the client had closed (expected in some cases) */
    size_t garbage_sent;    /* bytes HB_GARBAGE got into the socket */
    int packets;            /* packets read by HB_EXPECT */
    /* private */
    const hb_step *script;
    int listen_fd, fd, stop_pipe[2];
    pthread_t thread;
    unsigned char in[65536];
    size_t in_len;
} hb_broker;

static void hb__fail(hb_broker *b, const char *what, long a, long e) {
    if (!b->failure[0]) snprintf(b->failure, sizeof b->failure, "%s (got %ld, expected %ld)", what, a, e);
}

/* Waits for `events` on the connection, or the stop signal, for at most ms. Returns 1 when
   the socket is ready, 0 on timeout (or EINTR), -1 when told to stop. */
static int hb__wait(hb_broker *b, short events, int ms) {
    struct pollfd p[2];
    p[0].fd = b->fd;
    p[0].events = events;
    p[1].fd = b->stop_pipe[0];
    p[1].events = POLLIN;
    p[0].revents = p[1].revents = 0;
    int n = poll(p, 2, ms);
    if (n <= 0) return 0;
    if (p[0].revents) return 1; /* what the client sent before it returned comes first */
    return -1;
}

static int hb__write(hb_broker *b, const unsigned char *p, size_t len) {
    while (len) {
        if (hb__wait(b, POLLOUT, HB_WAIT_MS) != 1) return -1;
        ssize_t k = send(b->fd, p, len, MSG_NOSIGNAL);
        if (k < 0 && (errno == EAGAIN || errno == EINTR)) continue;
        if (k <= 0) { b->client_left = 1; return -1; }
        p += k;
        len -= (size_t)k;
    }
    return 0;
}

/* Reads one whole packet from the client into b->in (decoded into *p). */
static int hb__read_packet(hb_broker *b, mqttc_packet *p) {
    for (;;) {
        size_t used = 0;
        int rc = mqttc_decode(b->in, b->in_len, 0, MQTTC_PROTOCOL_311, p, &used);
        if (rc == MQTTC_OK) {
            memmove(b->in, b->in + used, b->in_len - used);
            b->in_len -= used;
            b->packets++;
            return 0;
        }
        if (rc != MQTTC_MORE) { hb__fail(b, "the client sent a malformed packet", rc, 0); return -1; }
        if (b->in_len == sizeof b->in) { hb__fail(b, "a client packet is too large for the script", 0, 0); return -1; }
        if (hb__wait(b, POLLIN, HB_WAIT_MS) != 1) { hb__fail(b, "no packet from the client in time", 0, 0); return -1; }
        ssize_t k = recv(b->fd, b->in + b->in_len, sizeof b->in - b->in_len, 0);
        if (k == 0) { b->saw_eof = 1; hb__fail(b, "the client closed while a packet was expected", 0, 0); return -1; }
        if (k < 0 && errno != EAGAIN && errno != EINTR) { hb__fail(b, "recv failed", errno, 0); return -1; }
        if (k > 0) b->in_len += (size_t)k;
    }
}

static int hb__expect(hb_broker *b, const hb_step *s) {
    mqttc_packet p;
    if (hb__read_packet(b, &p) != 0) return -1;
    if (p.type != s->type) { hb__fail(b, "unexpected packet type", p.type, s->type); return -1; }
    unsigned id = mqttc_packet_id(&p);
    if (s->id && id != s->id) { hb__fail(b, "unexpected packet id", (long)id, (long)s->id); return -1; }
    return 0;
}

static int hb__garbage(hb_broker *b, size_t count) {
    unsigned char chunk[65536];
    unsigned x = 2463534242u;
    while (b->garbage_sent < count) {
        size_t n = count - b->garbage_sent < sizeof chunk ? count - b->garbage_sent : sizeof chunk;
        for (size_t i = 0; i < n; i++) { /* xorshift32: repeatable garbage */
            x ^= x << 13; x ^= x >> 17; x ^= x << 5;
            chunk[i] = (unsigned char)x;
        }
        if (hb__wait(b, POLLOUT, HB_WAIT_MS) != 1) return -1;
        ssize_t k = send(b->fd, chunk, n, MSG_NOSIGNAL);
        if (k < 0 && (errno == EAGAIN || errno == EINTR)) continue;
        if (k <= 0) { b->client_left = 1; return -1; }
        b->garbage_sent += (size_t)k;
    }
    return 0;
}

static int hb__trickle(hb_broker *b, const hb_step *s) {
    for (size_t i = 0; i < s->len; i++) {
        if (hb__write(b, s->bytes + i, 1) != 0) return -1;
        if (i + 1 < s->len && hb__wait(b, 0, (int)s->count) < 0) return -1;
    }
    return 0;
}

static int hb__play(hb_broker *b, const hb_step *s) {
    switch (s->op) {
    case HB_OP_EXPECT: return hb__expect(b, s);
    case HB_OP_SEND: return hb__write(b, s->bytes, s->len);
    case HB_OP_TRICKLE: return hb__trickle(b, s);
    case HB_OP_GARBAGE: return hb__garbage(b, s->count);
    case HB_OP_STOP_READING: while (hb__wait(b, 0, HB_WAIT_MS) == 0) {} return -1;
    case HB_OP_SLEEP: return hb__wait(b, 0, (int)s->count) < 0 ? -1 : 0;
    case HB_OP_CLOSE: close(b->fd); b->fd = -1; return -1;
    default: return -1;
    }
}

/* After the script: discard what the client still sends until it closes. Once stopped,
   only what is already there is read (the client has returned: its close is queued). */
static void hb__linger(hb_broker *b) {
    unsigned char sink[65536];
    int stopping = 0;
    while (b->fd >= 0 && !b->saw_eof) {
        struct pollfd one = {b->fd, POLLIN, 0};
        int r = stopping ? (poll(&one, 1, 2000) > 0) : hb__wait(b, POLLIN, HB_WAIT_MS);
        if (r < 0) { stopping = 1; continue; }
        if (r == 0) return;
        ssize_t k = recv(b->fd, sink, sizeof sink, 0);
        if (k == 0 || (k < 0 && errno == ECONNRESET)) b->saw_eof = 1;
        else if (k < 0 && errno != EAGAIN && errno != EINTR) return;
    }
}

static void *hb__thread(void *arg) {
    hb_broker *b = (hb_broker *)arg;
    struct pollfd p[2] = {{b->listen_fd, POLLIN, 0}, {b->stop_pipe[0], POLLIN, 0}};
    if (poll(p, 2, HB_WAIT_MS) <= 0 || p[1].revents) {
        hb__fail(b, "the client did not connect", 0, 0);
        return NULL;
    }
    b->fd = accept(b->listen_fd, NULL, NULL);
    if (b->fd < 0) { hb__fail(b, "accept failed", errno, 0); return NULL; }
    fcntl(b->fd, F_SETFL, fcntl(b->fd, F_GETFL, 0) | O_NONBLOCK);
    const hb_step *s = b->script;
    while (s->op != HB_OP_END && hb__play(b, s) == 0) s++;
    hb__linger(b);
    return NULL;
}

/* Listens and starts the broker thread; 0 or -1. rcvbuf (if set) applies to the listening
   socket before listen(), so the accepted connection starts with that window. */
static int hb_start(hb_broker *b, const hb_step *script, int rcvbuf) {
    struct sockaddr_in a;
    socklen_t len = sizeof a;
    memset(b, 0, sizeof *b);
    b->fd = -1;
    b->script = script;
    b->rcvbuf = rcvbuf;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    b->listen_fd = socket(AF_INET, SOCK_STREAM, 0);
    if (b->listen_fd < 0 || pipe(b->stop_pipe) != 0) return -1;
    if (rcvbuf) setsockopt(b->listen_fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
    if (bind(b->listen_fd, (struct sockaddr *)&a, sizeof a) != 0 || listen(b->listen_fd, 1) != 0 ||
        getsockname(b->listen_fd, (struct sockaddr *)&a, &len) != 0)
        return -1;
    b->port = ntohs(a.sin_port);
    return pthread_create(&b->thread, NULL, hb__thread, b) == 0 ? 0 : -1;
}

static void hb_finish(hb_broker *b) {
    char one = 1;
    if (write(b->stop_pipe[1], &one, 1) != 1) hb__fail(b, "cannot stop the broker thread", errno, 0);
    pthread_join(b->thread, NULL);
    if (b->fd >= 0) close(b->fd);
    close(b->listen_fd);
    close(b->stop_pipe[0]);
    close(b->stop_pipe[1]);
}
#endif
