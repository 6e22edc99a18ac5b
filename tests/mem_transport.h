/* tests/mem_transport.h - an in-memory transport for client tests and fuzzers.
   The "broker side" is a script: bytes the test pushes with mem_feed() are what the client
   receives; what the client sends collects in `out`. Reads and writes can be limited to a
   few bytes each (chunk), to exercise partial reads and writes; writes can be stalled
   (would-block) and the link broken. Include after mqttc.h. */
#ifndef MQTTC_MEM_TRANSPORT_H
#define MQTTC_MEM_TRANSPORT_H
#include <stdlib.h>
#include <string.h>

typedef struct mem_link {
    unsigned char *in;   /* broker -> client, not yet read */
    size_t in_len, in_cap;
    unsigned char *out;  /* client -> broker, everything sent */
    size_t out_len, out_cap;
    size_t read_chunk;   /* at most this many bytes per recv (0: no limit) */
    size_t write_chunk;  /* at most this many bytes per send (0: no limit) */
    int write_stalled;   /* sends return 0 bytes (would block) */
    int is_eof;          /* recv reports the peer closed once `in` is empty */
    int fail_with;       /* non-zero: every call returns this error */
    int closed;          /* times close was called */
    long sends;          /* send calls that wrote bytes: the number of writes */
} mem_link;

static inline void mem__grow(unsigned char **p, size_t *cap, size_t need) {
    if (need <= *cap) return;
    size_t n = *cap ? *cap : 256;
    while (n < need) n *= 2;
    *p = (unsigned char *)realloc(*p, n);
    *cap = n;
}

static inline void mem_feed(mem_link *l, const void *bytes, size_t n) {
    if (n == 0) return; /* memcpy into a NULL buffer, even of 0 bytes, is undefined */
    mem__grow(&l->in, &l->in_cap, l->in_len + n);
    memcpy(l->in + l->in_len, bytes, n);
    l->in_len += n;
}

static inline int mem_send(mqttc_transport *t, const unsigned char *buf, size_t len, size_t *n) {
    mem_link *l = (mem_link *)t->ctx;
    *n = 0;
    if (l->fail_with) return l->fail_with;
    if (l->write_stalled) return MQTTC_OK;
    if (l->write_chunk && len > l->write_chunk) len = l->write_chunk;
    mem__grow(&l->out, &l->out_cap, l->out_len + len);
    memcpy(l->out + l->out_len, buf, len);
    l->out_len += len;
    *n = len;
    l->sends += len > 0;
    return MQTTC_OK;
}

static inline int mem_recv(mqttc_transport *t, unsigned char *buf, size_t cap, size_t *n) {
    mem_link *l = (mem_link *)t->ctx;
    *n = 0;
    if (l->fail_with) return l->fail_with;
    if (l->in_len == 0) return l->is_eof ? MQTTC_ERR_CLOSED : MQTTC_OK;
    size_t k = l->in_len < cap ? l->in_len : cap;
    if (l->read_chunk && k > l->read_chunk) k = l->read_chunk;
    memcpy(buf, l->in, k);
    memmove(l->in, l->in + k, l->in_len - k);
    l->in_len -= k;
    *n = k;
    return MQTTC_OK;
}

static inline void mem_close(mqttc_transport *t) { ((mem_link *)t->ctx)->closed++; }

static inline mqttc_transport mem_transport(mem_link *l) {
    mqttc_transport t;
    memset(&t, 0, sizeof t);
    t.send = mem_send;
    t.recv = mem_recv;
    t.close = mem_close;
    t.fd = -1;
    t.ctx = l;
    return t;
}

/* Reads the packets the client sent, one at a time from *pos (start at 0): returns 1 with
   *p decoded (pointing into l->out), 0 when no complete packet is left. */
static inline int mem_next_sent(mem_link *l, size_t *pos, mqttc_packet *p) {
    size_t used;
    if (*pos >= l->out_len) return 0;
    if (mqttc_decode(l->out + *pos, l->out_len - *pos, 0, MQTTC_PROTOCOL_311, p, &used) != MQTTC_OK) return 0;
    *pos += used;
    return 1;
}

static inline void mem_free(mem_link *l) {
    free(l->in);
    free(l->out);
    memset(l, 0, sizeof *l);
}
#endif
