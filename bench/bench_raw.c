/* bench/bench_raw.c - the floor: no MQTT library, a plain blocking socket that writes
   packets encoded in advance, in large batches, and reads in 64 KiB chunks. What it costs
   is what the machine and the broker cost; every client is compared with it.

   Also two helpers for the driver:
     bench_raw blast PORT N    the common publisher of sub0: N + warm-up QoS 0 messages to
                               bench/sub0 in 64 KiB writes, one QoS 1 round trip, DISCONNECT
     bench_raw freeport        prints a free 127.0.0.1 port */
#define _GNU_SOURCE
#include "bench.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#define RAW_CHUNK 65536
#define RAW_WINDOW 20 /* pub1: QoS 1 messages in flight, as mqttc's default window */

static const char *CLIENT = "raw";
static long window = RAW_WINDOW; /* BENCH_WINDOW, else RAW_WINDOW */

/* ---- encoding: fixed headers by hand (every packet here is under 128 bytes) ---- */

static size_t put_str(unsigned char *p, const char *s) {
    size_t len = strlen(s);
    p[0] = (unsigned char)(len >> 8);
    p[1] = (unsigned char)len;
    memcpy(p + 2, s, len);
    return 2 + len;
}

static size_t enc_connect(unsigned char *p, const char *id) {
    static const unsigned char head[] = {0, 4, 'M', 'Q', 'T', 'T', 4, 2 /* clean */, 0, 60};
    size_t n = 2;
    memcpy(p + n, head, sizeof head);
    n += sizeof head;
    n += put_str(p + n, id);
    p[0] = 0x10;
    p[1] = (unsigned char)(n - 2);
    return n;
}

static size_t enc_subscribe(unsigned char *p, const char *filter, unsigned short id) {
    size_t n = 2;
    p[n++] = (unsigned char)(id >> 8);
    p[n++] = (unsigned char)id;
    n += put_str(p + n, filter);
    p[n++] = 0; /* QoS 0 */
    p[0] = 0x82;
    p[1] = (unsigned char)(n - 2);
    return n;
}

/* A PUBLISH with the benchmark payload; QoS 1 carries id (patched later by set_id). */
static size_t enc_publish(unsigned char *p, const char *topic, int qos, unsigned short id) {
    size_t n = 2;
    n += put_str(p + n, topic);
    if (qos) {
        p[n++] = (unsigned char)(id >> 8);
        p[n++] = (unsigned char)id;
    }
    bench_fill_payload(p + n);
    n += BENCH_PAYLOAD_LEN;
    p[0] = (unsigned char)(0x30 | (qos << 1));
    p[1] = (unsigned char)(n - 2);
    return n;
}

/* ---- a blocking connection with a read buffer ---- */
typedef struct raw_conn {
    int fd;
    unsigned char buf[RAW_CHUNK];
    size_t start, len;
} raw_conn;

static int tcp_open(int port) {
    struct sockaddr_in a;
    int one = 1, fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) bench_die(CLIENT, "socket");
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_port = htons((unsigned short)port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0) bench_die(CLIENT, "connect");
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    return fd;
}

static void write_all(int fd, const unsigned char *p, size_t len) {
    while (len) {
        ssize_t w = write(fd, p, len);
        if (w <= 0) bench_die(CLIENT, "write");
        p += w;
        len -= (size_t)w;
    }
}

/* Reads at least once more into the buffer (compacting first). */
static void fill(raw_conn *c) {
    if (c->start) {
        memmove(c->buf, c->buf + c->start, c->len);
        c->start = 0;
    }
    ssize_t r = read(c->fd, c->buf + c->len, sizeof c->buf - c->len);
    if (r <= 0) bench_die(CLIENT, "read: connection closed");
    c->len += (size_t)r;
}

/* The next complete packet in the buffer: its type, or 0 when more bytes are needed.
   *size gets its whole length. */
static int peek_packet(const raw_conn *c, size_t *size) {
    const unsigned char *p = c->buf + c->start;
    size_t rem = 0, i = 1;
    unsigned shift = 0;
    for (;;) {
        if (i >= c->len) return 0;
        rem |= (size_t)(p[i] & 127u) << shift;
        shift += 7;
        if (!(p[i++] & 128u)) break;
    }
    if (c->len < i + rem) return 0;
    *size = i + rem;
    return p[0] >> 4;
}

/* Reads until a packet of the wanted type has been consumed; other packets are skipped. */
static void await_packet(raw_conn *c, int type) {
    for (;;) {
        size_t size;
        int t;
        while ((t = peek_packet(c, &size)) != 0) {
            c->start += size;
            c->len -= size;
            if (t == type) return;
        }
        fill(c);
    }
}

static raw_conn *raw_connect(int port, const char *id) {
    unsigned char p[128];
    raw_conn *c = calloc(1, sizeof *c);
    if (!c) bench_die(CLIENT, "out of memory");
    c->fd = tcp_open(port);
    write_all(c->fd, p, enc_connect(p, id));
    await_packet(c, 2 /* CONNACK */);
    return c;
}

static void raw_subscribe(raw_conn *c, const char *filter) {
    unsigned char p[128];
    write_all(c->fd, p, enc_subscribe(p, filter, 1));
    await_packet(c, 9 /* SUBACK */);
}

/* One QoS 1 publish and its PUBACK: everything written before has reached the broker. */
static void round_trip(raw_conn *c, const char *topic) {
    unsigned char p[128];
    write_all(c->fd, p, enc_publish(p, topic, 1, 65535));
    await_packet(c, 4 /* PUBACK */);
}

/* ---- pub0 and blast: QoS 0 in 64 KiB writes ---- */

static void send_qos0(raw_conn *c, const char *topic, long n) {
    static unsigned char batch[RAW_CHUNK];
    unsigned char one[128];
    size_t size = enc_publish(one, topic, 0, 0), per = sizeof batch / size;
    for (size_t i = 0; i < per; i++) memcpy(batch + i * size, one, size);
    while (n > 0) {
        long k = n < (long)per ? n : (long)per;
        write_all(c->fd, batch, (size_t)k * size);
        n -= k;
    }
    round_trip(c, topic);
}

static void run_blast(const bench_args *a) {
    unsigned char bye[2] = {0xE0, 0};
    raw_conn *c = raw_connect(a->port, "bench-blaster");
    send_qos0(c, "bench/sub0", a->warmup + a->n);
    write_all(c->fd, bye, 2);
    close(c->fd);
    free(c);
}

/* ---- pub1: a window of `window`, refilled in one write per read of PUBACKs ---- */

static void send_qos1(raw_conn *c, long n) {
    static unsigned char *batch;
    unsigned char one[128];
    size_t size = enc_publish(one, "bench/pub1", 1, 1);
    long sent = 0, acked = 0;
    unsigned short next_id = 1;
    if (!batch && !(batch = malloc((size_t)window * size))) bench_die(CLIENT, "out of memory");
    for (long i = 0; i < window; i++) memcpy(batch + (size_t)i * size, one, size);
    while (acked < n) {
        long k = window - (sent - acked);
        if (k > n - sent) k = n - sent;
        for (long i = 0; i < k; i++) { /* ids 1..65535: one sent 65535 ago was long acked */
            unsigned char *id = batch + (size_t)i * size + 2 + 2 + strlen("bench/pub1");
            id[0] = (unsigned char)(next_id >> 8);
            id[1] = (unsigned char)next_id;
            next_id = (unsigned short)(next_id == 65535 ? 1 : next_id + 1);
        }
        if (k > 0) write_all(c->fd, batch, (size_t)k * size);
        sent += k;
        fill(c);
        size_t psize;
        int t;
        while ((t = peek_packet(c, &psize)) != 0) {
            c->start += psize;
            c->len -= psize;
            acked += t == 4;
        }
    }
}

/* ---- pub0 and pub1: a warm-up batch, then the measured one ---- */

static void send_batch(raw_conn *c, int qos, long n) {
    if (qos) send_qos1(c, n);
    else send_qos0(c, "bench/pub0", n);
}

static void run_publish(const bench_args *a, bench_result *r, int qos) {
    bench_phase ph;
    raw_conn *c = raw_connect(a->port, "bench-raw");
    send_batch(c, qos, a->warmup);
    bench_begin(&ph);
    send_batch(c, qos, a->n);
    bench_end(&ph, r);
    close(c->fd);
    free(c);
}

/* ---- sub0: count PUBLISH packets, 64 KiB per read ---- */

static void run_sub0(const bench_args *a, bench_result *r) {
    bench_phase ph;
    long got = 0, total = a->warmup + a->n;
    raw_conn *c = raw_connect(a->port, "bench-raw");
    raw_subscribe(c, "bench/sub0");
    bench_ready();
    while (got < total) {
        size_t size;
        int t;
        fill(c);
        while ((t = peek_packet(c, &size)) != 0) {
            c->start += size;
            c->len -= size;
            if (t == 3 && ++got == a->warmup) bench_begin(&ph);
        }
    }
    bench_end(&ph, r);
    close(c->fd);
    free(c);
}

/* ---- rtt: one publish, then block until it comes back ---- */

static void run_rtt(const bench_args *a, bench_result *r) {
    unsigned char msg[128];
    bench_phase ph;
    uint64_t *ns = malloc((size_t)a->n * sizeof *ns);
    raw_conn *c = raw_connect(a->port, "bench-raw");
    if (!ns) bench_die(CLIENT, "out of memory");
    raw_subscribe(c, "bench/rtt/raw");
    size_t size = enc_publish(msg, "bench/rtt/raw", 0, 0);
    for (long i = -a->warmup; i < a->n; i++) {
        if (i == 0) bench_begin(&ph);
        uint64_t t0 = bench_now_ns();
        write_all(c->fd, msg, size);
        await_packet(c, 3 /* PUBLISH */);
        if (i >= 0) ns[i] = bench_now_ns() - t0;
    }
    bench_end(&ph, r);
    bench_percentiles(ns, a->n, r);
    free(ns);
    close(c->fd);
    free(c);
}

/* ---- handshake: a socket, CONNECT, CONNACK; then DISCONNECT and close ---- */
typedef struct handshake_ctx {
    raw_conn *c;
    int port;
} handshake_ctx;

static void handshake_connect(void *ctx) {
    handshake_ctx *h = (handshake_ctx *)ctx;
    h->c = raw_connect(h->port, "bench-raw");
}

static void handshake_disconnect(void *ctx) {
    handshake_ctx *h = (handshake_ctx *)ctx;
    unsigned char bye[2] = {0xE0, 0};
    write_all(h->c->fd, bye, 2);
    close(h->c->fd);
    free(h->c);
}

static void run_handshake(const bench_args *a, bench_result *r) {
    handshake_ctx h = {NULL, a->port};
    bench_handshakes(a, r, handshake_connect, handshake_disconnect, &h);
}

/* ---- conns: N sockets, CONNECT and SUBSCRIBE pipelined in one write each ---- */

static void connect_clients(int *fds, long first, long end, int port, const char *tag) {
    for (; first < end; first += BENCH_CONN_CHUNK) {
        long last = first + BENCH_CONN_CHUNK < end ? first + BENCH_CONN_CHUNK : end;
        for (long i = first; i < last; i++) {
            unsigned char p[256];
            char id[32];
            snprintf(id, sizeof id, "raw-%s-%d-%ld", tag, (int)getpid(), i);
            fds[i] = tcp_open(port);
            size_t n = enc_connect(p, id);
            n += enc_subscribe(p + n, "bench/conns", 1);
            write_all(fds[i], p, n);
        }
        for (long i = first; i < last; i++) { /* CONNACK (4 bytes) + SUBACK (5 bytes) */
            unsigned char in[9];
            size_t got = 0;
            while (got < sizeof in) {
                ssize_t k = read(fds[i], in + got, sizeof in - got);
                if (k <= 0) bench_die(CLIENT, "conns: connection closed");
                got += (size_t)k;
            }
            if (in[0] != 0x20 || in[3] != 0 || in[4] != 0x90) bench_die(CLIENT, "conns: refused");
        }
    }
}

/* The baseline is taken before the first connection; the array of descriptors counts. */
static void run_conns(const bench_args *a, bench_result *r) {
    bench_phase ph;
    bench_conns_base base = bench_conns_begin();
    bench_begin(&ph);
    int *fds = malloc((size_t)a->n * sizeof *fds);
    if (!fds) bench_die(CLIENT, "out of memory");
    connect_clients(fds, 0, a->n, a->port, "n");
    bench_end(&ph, r);
    bench_conns_end(&base, a->n, r);
    for (long i = 0; i < a->n; i++) close(fds[i]);
    free(fds);
}

static void print_free_port(void) {
    struct sockaddr_in a;
    socklen_t len = sizeof a;
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof a) != 0 || getsockname(fd, (struct sockaddr *)&a, &len) != 0)
        bench_die(CLIENT, "no free port");
    printf("%d\n", ntohs(a.sin_port));
    close(fd);
}

int main(int argc, char **argv) {
    static const bench_workloads workloads = {run_publish, NULL, run_sub0, run_rtt, run_conns, run_handshake};
    if (argc == 2 && strcmp(argv[1], "freeport") == 0) {
        print_free_port();
        return 0;
    }
    bench_args a = bench_parse(argc, argv, CLIENT);
    if (a.window) window = a.window;
    if (bench_is(&a, "blast")) { run_blast(&a); return 0; }
    bench_run(CLIENT, &a, &workloads);
    return 0;
}
