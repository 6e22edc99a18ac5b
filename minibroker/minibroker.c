/* minibroker.c - a small MQTT 3.1.1 broker, the test fixture of mqttc.

   build/minibroker [-p PORT] [-v] [--user NAME --pass PASS] [--no-pingresp] [--connack N]
                    [--drop-after N] [--max-packet BYTES] [--bind ADDR]

   One thread, one poll(2) loop, non-blocking sockets. It speaks the whole of MQTT 3.1.1 that
   a client can see: QoS 0/1/2 in both directions, wildcards, retained messages, wills,
   keepalive, session takeover, and persistent subscriptions for clean session 0 (messages
   are not queued for offline sessions). The options make it misbehave on purpose, so
   clients can be tested against refusals, lost pings and dropped connections.

   The first line on stdout is "listening on ADDR:PORT". SIGINT or SIGTERM ends it with
   exit code 0 after freeing everything. The packet codec is the one of mqttc.h. */
#define MQTTC_IMPLEMENTATION
#define MQTTC_NO_SOCKETS /* the broker needs only the codec */
#include "mqttc.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MB_MAX_OUTPUT (64u * 1024u * 1024u) /* unsent bytes before a slow reader is dropped */
#define MB_READ_CHUNK 65536u

/* ---- configuration and the only globals ---- */

typedef struct mb_config {
    int port;                 /* -p; 0 = any free port */
    int verbose;              /* -v: one line per packet on stderr */
    const char *user, *pass;  /* --user/--pass: required credentials, NULL = anyone */
    int no_pingresp;          /* --no-pingresp */
    int connack;              /* --connack N: refuse every CONNECT with N; 0 = normal */
    unsigned long drop_after; /* --drop-after N: drop after N packets in; 0 = never */
    size_t max_packet;        /* --max-packet: incoming limit in bytes */
    const char *bind_addr;    /* --bind; default 127.0.0.1 */
} mb_config;

static mb_config g_cfg;
static volatile sig_atomic_t g_stop;

/* ---- data ---- */

/* A byte buffer: [off, len) holds data not yet consumed (input) or sent (output). */
typedef struct mb_buf {
    unsigned char *data;
    size_t off, len, cap;
} mb_buf;

typedef struct mb_sub {
    struct mb_sub *next;
    char *filter;
    size_t len;
    int qos; /* granted */
} mb_sub;

/* An outgoing QoS 1/2 message, named by what it waits for [MQTT-4.3]. */
enum { MB_AWAIT_PUBACK, MB_AWAIT_PUBREC, MB_AWAIT_PUBCOMP };
typedef struct mb_inflight {
    struct mb_inflight *next;
    unsigned short id;
    int state;
    unsigned char *pkt; /* the PUBLISH as sent, kept for a resend; NULL once PUBREC came */
    size_t len;
} mb_inflight;

/* Session state lives apart from the connection so clean session 0 can outlive it
   [MQTT-3.1.2-4]: subscriptions, outgoing QoS 1/2 in flight, incoming QoS 2 ids. */
typedef struct mb_session {
    struct mb_session *next;
    char *id;
    size_t id_len;
    int clean;
    struct mb_client *client; /* the connection using it, or NULL */
    mb_sub *subs;
    mb_inflight *out_head, *out_tail;
    unsigned short next_id;
    unsigned char out_ids[8192]; /* bitmap: packet ids in use by mb_inflight records */
    unsigned char in_qos2[8192]; /* bitmap: QoS 2 ids received, PUBREL not yet */
} mb_session;

typedef struct mb_retained {
    struct mb_retained *next;
    char *topic;
    size_t topic_len;
    unsigned char *payload;
    size_t payload_len;
    int qos;
} mb_retained;

/* Connection states in lifecycle order. */
enum {
    MB_NEW,       /* accepted; the first packet must be CONNECT [MQTT-3.1.0-1] */
    MB_CONNECTED, /* CONNACK 0 sent */
    MB_DEAD       /* ended; freed (and its will published) by mb_reap */
};

typedef struct mb_client {
    struct mb_client *next;
    int fd, state;
    int will_pending;   /* publish the will when reaped: the end was not a DISCONNECT */
    int flush_on_close; /* write what is queued (a refusing CONNACK) before closing */
    mb_session *session;
    mb_buf in, out;
    uint64_t last_rx_ms;
    unsigned keepalive_s;
    unsigned long packets_in;
    int has_will, will_qos, will_retain;
    char *will_topic;
    size_t will_topic_len;
    unsigned char *will_payload;
    size_t will_payload_len;
    char name[48]; /* for logs: the client id, or "fd N" before CONNECT */
} mb_client;

typedef struct mb_broker {
    int listen_fd;
    mb_client *clients;
    mb_session *sessions;
    mb_retained *retained;
    unsigned long next_auto_id;
    struct pollfd *pfds; /* the poll set, and the client of each entry */
    mb_client **owners;
    size_t poll_cap;
} mb_broker;

/* ---- small helpers ---- */

static uint64_t mb_now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* A NUL-terminated copy of len bytes (NULL on failure; never for len 0). */
static char *mb_memdup(const void *p, size_t len) {
    char *s = (char *)malloc(len + 1);
    if (!s) return NULL;
    if (len) memcpy(s, p, len);
    s[len] = 0;
    return s;
}

static int mb_str_eq(mqttc_str s, const char *z) { return s.len == strlen(z) && memcmp(s.ptr, z, s.len) == 0; }

static int mb_bit(const unsigned char *map, unsigned i) { return (map[i >> 3] >> (i & 7)) & 1; }
static void mb_set_bit(unsigned char *map, unsigned i, int on) {
    if (on) map[i >> 3] = (unsigned char)(map[i >> 3] | (1u << (i & 7)));
    else map[i >> 3] = (unsigned char)(map[i >> 3] & ~(1u << (i & 7)));
}

/* Room for n more bytes at data + len; compacts first, then grows. NULL when out of memory. */
static unsigned char *mb_buf_reserve(mb_buf *b, size_t n) {
    if (b->cap - b->len >= n) return b->data + b->len;
    if (b->off) {
        memmove(b->data, b->data + b->off, b->len - b->off);
        b->len -= b->off;
        b->off = 0;
        if (b->cap - b->len >= n) return b->data + b->len;
    }
    size_t cap = b->cap ? b->cap : 4096;
    while (cap - b->len < n) cap *= 2;
    unsigned char *d = (unsigned char *)realloc(b->data, cap);
    if (!d) return NULL;
    b->data = d;
    b->cap = cap;
    return d + b->len;
}

static void mb_buf_consumed(mb_buf *b, size_t n) {
    b->off += n;
    if (b->off == b->len) b->off = b->len = 0;
}

/* ---- logging (-v) ---- */

static const char *const mb_type_names[16] = {
    "RESERVED", "CONNECT", "CONNACK", "PUBLISH", "PUBACK", "PUBREC", "PUBREL", "PUBCOMP",
    "SUBSCRIBE", "SUBACK", "UNSUBSCRIBE", "UNSUBACK", "PINGREQ", "PINGRESP", "DISCONNECT", "RESERVED"};

static void mb_log_filters(const mqttc_packet *p) {
    size_t pos = 0;
    mqttc_str f;
    int qos = 0;
    while (mqttc_next_filter(&p->subscribe, &pos, &f, &qos)) {
        if (p->type == MQTTC_SUBSCRIBE) fprintf(stderr, " %.*s:q%d", (int)f.len, f.ptr, qos);
        else fprintf(stderr, " %.*s", (int)f.len, f.ptr);
    }
}

/* One line per packet: "client-id < PUBLISH q1 id=3 topic=a/b len=5" (< in, > out). */
static void mb_log_packet(const mb_client *c, char dir, const mqttc_packet *p) {
    const mqttc_connect_info *ci = &p->connect;
    const mqttc_publish_info *pi = &p->publish;
    fprintf(stderr, "%s %c %s", c->name, dir, mb_type_names[p->type & 15]);
    if (p->type == MQTTC_PUBLISH) {
        fprintf(stderr, " q%d", pi->qos);
        if (pi->qos) fprintf(stderr, " id=%u", pi->packet_id);
        fprintf(stderr, " topic=%.*s len=%lu%s%s", (int)pi->topic_len, pi->topic,
                (unsigned long)pi->payload_len, pi->retain ? " retain" : "", pi->dup ? " dup" : "");
    } else if (p->type == MQTTC_CONNECT) {
        fprintf(stderr, " id=%.*s clean=%d keepalive=%u", (int)ci->client_id.len, ci->client_id.ptr,
                ci->clean_session, ci->keepalive_s);
        if (ci->will_topic.ptr) fprintf(stderr, " will=%.*s", (int)ci->will_topic.len, ci->will_topic.ptr);
    } else if (p->type == MQTTC_CONNACK) {
        fprintf(stderr, " session_present=%d rc=%d", p->connack.session_present, p->connack.reason_code);
    } else if (mqttc_packet_id(p)) {
        fprintf(stderr, " id=%u", mqttc_packet_id(p));
    }
    if (p->type == MQTTC_SUBSCRIBE || p->type == MQTTC_UNSUBSCRIBE) mb_log_filters(p);
    for (size_t i = 0; p->type == MQTTC_SUBACK && i < p->suback.count; i++)
        fprintf(stderr, " rc=%u", p->suback.codes[i]);
    fputc('\n', stderr);
}

static void mb_log_out(const mb_client *c, const unsigned char *pkt, size_t n) {
    mqttc_packet p;
    size_t used;
    if (!g_cfg.verbose) return;
    if (mqttc_decode(pkt, n, 0, MQTTC_PROTOCOL_311, &p, &used) == MQTTC_OK) mb_log_packet(c, '>', &p);
    else if (n == 4) fprintf(stderr, "%s > CONNACK session_present=%d rc=%d\n", c->name, pkt[2], pkt[3]);
}

/* ---- connection ends ---- */

/* Ungraceful end (I/O error, EOF, protocol error, keepalive, --drop-after): the will is
   published when the client is reaped [MQTT-3.1.2-8]; queued output is thrown away. */
static void mb_drop(mb_client *c, const char *why) {
    if (c->state == MB_DEAD) return;
    if (g_cfg.verbose) fprintf(stderr, "%s dropped: %s\n", c->name, why);
    c->will_pending = c->has_will;
    c->state = MB_DEAD;
}

/* ---- output ---- */

/* Queues one packet of n bytes, encoded by the caller into the returned space. NULL drops
   the client: its unsent output would pass MB_MAX_OUTPUT, or memory ran out. */
static unsigned char *mb_out_begin(mb_client *c, size_t n) {
    if (c->state == MB_DEAD) return NULL;
    if (c->out.len - c->out.off + n > MB_MAX_OUTPUT) {
        mb_drop(c, "output buffer over its limit");
        return NULL;
    }
    unsigned char *p = mb_buf_reserve(&c->out, n);
    if (!p) mb_drop(c, "out of memory");
    return p;
}

static void mb_out_commit(mb_client *c, size_t n) {
    mb_log_out(c, c->out.data + c->out.len, n);
    c->out.len += n;
}

static void mb_send_bytes(mb_client *c, const unsigned char *pkt, size_t n) {
    unsigned char *p = mb_out_begin(c, n);
    if (!p) return;
    memcpy(p, pkt, n);
    mb_out_commit(c, n);
}

static void mb_send_ack(mb_client *c, int type, unsigned short id) {
    unsigned char pkt[4];
    size_t n;
    mqttc_ack_info ai = {0};
    ai.type = type;
    ai.packet_id = id;
    if (mqttc_encode_ack(pkt, sizeof pkt, MQTTC_PROTOCOL_311, &ai, &n) == MQTTC_OK) mb_send_bytes(c, pkt, n);
}

static void mb_send_connack(mb_client *c, int session_present, int code) {
    unsigned char pkt[4];
    size_t n;
    mqttc_connack_info ca = {0};
    ca.session_present = session_present;
    ca.reason_code = code;
    if (mqttc_encode_connack(pkt, sizeof pkt, MQTTC_PROTOCOL_311, &ca, &n) == MQTTC_OK) mb_send_bytes(c, pkt, n);
}

/* Writes as much queued output as the socket takes now. */
static void mb_flush(mb_client *c) {
    while (c->out.len > c->out.off) {
        ssize_t k = send(c->fd, c->out.data + c->out.off, c->out.len - c->out.off, MSG_NOSIGNAL);
        if (k > 0) { mb_buf_consumed(&c->out, (size_t)k); continue; }
        if (k < 0 && errno == EINTR) continue;
        if (k < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
        mb_drop(c, "send failed");
        return;
    }
}

/* ---- sessions ---- */

static void mb_inflight_remove(mb_session *s, mb_inflight *f) {
    mb_inflight **pp = &s->out_head, *prev = NULL;
    while (*pp != f) { prev = *pp; pp = &(*pp)->next; }
    *pp = f->next;
    if (s->out_tail == f) s->out_tail = prev;
    mb_set_bit(s->out_ids, f->id, 0);
    free(f->pkt);
    free(f);
}

static void mb_session_free(mb_session *s) {
    while (s->subs) {
        mb_sub *sub = s->subs;
        s->subs = sub->next;
        free(sub->filter);
        free(sub);
    }
    while (s->out_head) mb_inflight_remove(s, s->out_head);
    free(s->id);
    free(s);
}

static void mb_session_remove(mb_broker *b, mb_session *s) {
    mb_session **pp = &b->sessions;
    while (*pp && *pp != s) pp = &(*pp)->next;
    if (*pp) *pp = s->next;
    mb_session_free(s);
}

static mb_session *mb_session_find(mb_broker *b, mqttc_str id) {
    for (mb_session *s = b->sessions; s; s = s->next)
        if (s->id_len == id.len && memcmp(s->id, id.ptr, id.len) == 0) return s;
    return NULL;
}

static mb_session *mb_session_new(mb_broker *b, mqttc_str id, int clean) {
    mb_session *s = (mb_session *)calloc(1, sizeof *s);
    if (!s) return NULL;
    s->id = mb_memdup(id.ptr, id.len);
    if (!s->id) { free(s); return NULL; }
    s->id_len = id.len;
    s->clean = clean;
    s->next = b->sessions;
    b->sessions = s;
    return s;
}

/* A free packet id for an outgoing QoS 1/2 message, 0 when all 65535 are in flight. */
static unsigned short mb_session_take_id(mb_session *s) {
    for (unsigned tries = 0; tries < 65535u; tries++) {
        s->next_id = (unsigned short)(s->next_id == 65535u ? 1 : s->next_id + 1);
        if (!mb_bit(s->out_ids, s->next_id)) {
            mb_set_bit(s->out_ids, s->next_id, 1);
            return s->next_id;
        }
    }
    return 0;
}

static mb_inflight *mb_inflight_find(mb_session *s, unsigned short id, int state) {
    for (mb_inflight *f = s->out_head; f; f = f->next)
        if (f->id == id && f->state == state) return f;
    return NULL;
}

/* The link that points to the subscription with exactly this filter, or to the list's end. */
static mb_sub **mb_sub_find(mb_session *s, mqttc_str filter) {
    mb_sub **pp = &s->subs;
    while (*pp && !((*pp)->len == filter.len && memcmp((*pp)->filter, filter.ptr, filter.len) == 0))
        pp = &(*pp)->next;
    return pp;
}

/* Adds or replaces a subscription: an identical filter's QoS is replaced [MQTT-3.8.4-3]. */
static int mb_subscribe(mb_session *s, mqttc_str filter, int qos) {
    mb_sub **pp = mb_sub_find(s, filter);
    if (!*pp) {
        mb_sub *sub = (mb_sub *)calloc(1, sizeof *sub);
        if (!sub || !(sub->filter = mb_memdup(filter.ptr, filter.len))) { free(sub); return -1; }
        sub->len = filter.len;
        *pp = sub;
    }
    (*pp)->qos = qos;
    return 0;
}

static void mb_unsubscribe(mb_session *s, mqttc_str filter) {
    mb_sub **pp = mb_sub_find(s, filter), *sub = *pp;
    if (!sub) return;
    *pp = sub->next;
    free(sub->filter);
    free(sub);
}

/* The highest QoS granted by any matching subscription, -1 when none matches: with
   overlapping filters the client gets one copy at the maximum QoS [MQTT-3.3.5-1]. */
static int mb_session_match(const mb_session *s, const char *topic, size_t len) {
    int best = -1;
    for (const mb_sub *sub = s->subs; sub; sub = sub->next)
        if (sub->qos > best && mqttc_topic_matches(sub->filter, sub->len, topic, len)) best = sub->qos;
    return best;
}

/* ---- delivery ---- */

/* Sends one PUBLISH to a connected client; QoS 1/2 get an id and an in-flight record. */
static void mb_deliver(mb_client *c, mqttc_str topic, const void *payload, size_t len, int qos, int retain) {
    mb_session *s = c->session;
    unsigned short id = 0;
    size_t n;
    mb_inflight *f = NULL;
    mqttc_publish_info pi = {0};
    if (qos > 0) {
        f = (mb_inflight *)calloc(1, sizeof *f);
        if (!f || !(id = mb_session_take_id(s))) {
            if (g_cfg.verbose) fprintf(stderr, "%s: message to %.*s lost (no id or memory)\n", c->name,
                                       (int)topic.len, topic.ptr);
            free(f);
            return;
        }
    }
    pi.topic = topic.ptr;
    pi.topic_len = topic.len;
    pi.payload = payload;
    pi.payload_len = len;
    pi.qos = qos;
    pi.retain = retain;
    pi.packet_id = id;
    mqttc_encode_publish(NULL, 0, MQTTC_PROTOCOL_311, &pi, &n);
    unsigned char *p = n ? mb_out_begin(c, n) : NULL;
    if (!p || mqttc_encode_publish(p, n, MQTTC_PROTOCOL_311, &pi, &n) != MQTTC_OK ||
        (f && !(f->pkt = (unsigned char *)mb_memdup(p, n)))) {
        if (f) mb_set_bit(s->out_ids, id, 0);
        free(f);
        return;
    }
    mb_out_commit(c, n);
    if (!f) return;
    f->id = id;
    f->len = n;
    f->state = qos == 1 ? MB_AWAIT_PUBACK : MB_AWAIT_PUBREC;
    if (s->out_tail) s->out_tail->next = f;
    else s->out_head = f;
    s->out_tail = f;
}

/* Stores the last retained message of a topic; an empty payload deletes it [MQTT-3.3.1-10/11]. */
static void mb_retain(mb_broker *b, mqttc_str topic, const void *payload, size_t len, int qos) {
    mb_retained **pp = &b->retained, *r;
    while (*pp && !((*pp)->topic_len == topic.len && memcmp((*pp)->topic, topic.ptr, topic.len) == 0))
        pp = &(*pp)->next;
    if (*pp) {
        r = *pp;
        *pp = r->next;
        free(r->topic);
        free(r->payload);
        free(r);
    }
    if (len == 0) return;
    r = (mb_retained *)calloc(1, sizeof *r);
    if (!r) return;
    r->topic = mb_memdup(topic.ptr, topic.len);
    r->payload = (unsigned char *)mb_memdup(payload, len);
    if (!r->topic || !r->payload) { free(r->topic); free(r->payload); free(r); return; }
    r->topic_len = topic.len;
    r->payload_len = len;
    r->qos = qos;
    r->next = b->retained;
    b->retained = r;
}

/* Forwards an application message to every matching connected session, at the lower of
   the published and the granted QoS [MQTT-3.8.4-6], with retain 0 [MQTT-3.3.1-9]. */
static void mb_route(mb_broker *b, mqttc_str topic, const void *payload, size_t len, int qos, int retain) {
    if (retain) mb_retain(b, topic, payload, len, qos); /* [MQTT-3.3.1-5] */
    for (mb_client *c = b->clients; c; c = c->next) {
        if (c->state != MB_CONNECTED) continue;
        int granted = mb_session_match(c->session, topic.ptr, topic.len);
        if (granted >= 0) mb_deliver(c, topic, payload, len, qos < granted ? qos : granted, 0);
    }
}

/* Retained messages matching a new subscription go out with retain 1 [MQTT-3.3.1-6/8]. */
static void mb_send_retained(mb_broker *b, mb_client *c, mqttc_str filter, int granted) {
    for (mb_retained *r = b->retained; r; r = r->next) {
        if (!mqttc_topic_matches(filter.ptr, filter.len, r->topic, r->topic_len)) continue;
        mqttc_str t = {r->topic, r->topic_len};
        mb_deliver(c, t, r->payload, r->payload_len, r->qos < granted ? r->qos : granted, 1);
    }
}

/* After a resumed session: unacknowledged PUBLISH again with DUP set, PUBREL again for
   those past PUBREC, in their original order [MQTT-4.4.0-1]. */
static void mb_resend_inflight(mb_client *c) {
    for (mb_inflight *f = c->session->out_head; f; f = f->next) {
        if (f->state == MB_AWAIT_PUBCOMP) { mb_send_ack(c, MQTTC_PUBREL, f->id); continue; }
        f->pkt[0] |= 0x08u; /* DUP [MQTT-3.3.1-1] */
        mb_send_bytes(c, f->pkt, f->len);
    }
}

/* ---- CONNECT ---- */

/* The CONNACK return code for this CONNECT: 0 to accept, else the refusal. -1 for a
   protocol name that is not MQTT 3.1.1's or 3.1's: close without CONNACK [MQTT-3.1.2-1]. */
static int mb_connect_code(const mqttc_connect_info *ci) {
    int v311 = mb_str_eq(ci->protocol_name, "MQTT"), v31 = mb_str_eq(ci->protocol_name, "MQIsdp");
    if (!v311 && !v31) return -1;
    if ((v311 && ci->protocol_level != 4) || (v31 && ci->protocol_level != 3)) return 1; /* [MQTT-3.1.2-2] */
    if (g_cfg.connack) return g_cfg.connack;
    if (ci->client_id.len == 0 && !ci->clean_session) return 2; /* [MQTT-3.1.3-8] */
    if (g_cfg.user) {
        if (!ci->username.ptr) return 5;
        if (!mb_str_eq(ci->username, g_cfg.user)) return 4;
        if (g_cfg.pass && (!ci->password.ptr || !mb_str_eq(ci->password, g_cfg.pass))) return 4;
    }
    return 0;
}

static int mb_store_will(mb_client *c, const mqttc_connect_info *ci) {
    if (!ci->will_topic.ptr) return 0;
    c->will_topic = mb_memdup(ci->will_topic.ptr, ci->will_topic.len);
    c->will_payload = (unsigned char *)mb_memdup(ci->will_payload.ptr, ci->will_payload.len);
    if (!c->will_topic || !c->will_payload) return -1;
    c->will_topic_len = ci->will_topic.len;
    c->will_payload_len = ci->will_payload.len;
    c->will_qos = ci->will_qos;
    c->will_retain = ci->will_retain;
    c->has_will = 1;
    return 0;
}

/* Takes over or creates the session of this client id. A connection already using it is
   closed, will and all [MQTT-3.1.4-2]; clean session 1 starts afresh [MQTT-3.1.2-6]. */
static mb_session *mb_attach_session(mb_broker *b, mqttc_str id, int clean, int *present) {
    mb_session *s = mb_session_find(b, id);
    *present = 0;
    if (s && s->client) {
        mb_drop(s->client, "session taken over");
        s->client->session = NULL;
        s->client = NULL;
    }
    if (s && (clean || s->clean)) {
        mb_session_remove(b, s);
        s = NULL;
    }
    if (s) {
        *present = 1; /* [MQTT-3.2.2-2] */
        return s;
    }
    return mb_session_new(b, id, clean);
}

static void mb_on_connect(mb_broker *b, mb_client *c, const mqttc_connect_info *ci) {
    char auto_id[32];
    mqttc_str id = ci->client_id;
    int present, code = mb_connect_code(ci);
    if (code < 0) { mb_drop(c, "unknown protocol name"); return; }
    if (code > 0) {
        mb_send_connack(c, 0, code); /* then close [MQTT-3.2.2-5] */
        c->flush_on_close = 1;
        c->state = MB_DEAD;
        return;
    }
    if (id.len == 0) { /* the server assigns one [MQTT-3.1.3-6] */
        snprintf(auto_id, sizeof auto_id, "minibroker-%lu", ++b->next_auto_id);
        id.ptr = auto_id;
        id.len = strlen(auto_id);
    }
    snprintf(c->name, sizeof c->name, "%.*s", (int)id.len, id.ptr);
    c->session = mb_attach_session(b, id, ci->clean_session, &present);
    if (!c->session || mb_store_will(c, ci) != 0) { mb_drop(c, "out of memory"); return; }
    c->session->client = c;
    c->keepalive_s = ci->keepalive_s;
    c->state = MB_CONNECTED;
    mb_send_connack(c, present, 0);
    if (present) mb_resend_inflight(c);
}

/* ---- the other packets, in packet-type order ---- */

static void mb_on_publish(mb_broker *b, mb_client *c, const mqttc_publish_info *pi) {
    mb_session *s = c->session;
    mqttc_str topic = {pi->topic, pi->topic_len};
    if (pi->qos == 2) {
        /* deliver once, on the first PUBLISH; keep the id until PUBREL [MQTT-4.3.3-2] */
        if (!mb_bit(s->in_qos2, pi->packet_id)) {
            mb_set_bit(s->in_qos2, pi->packet_id, 1);
            mb_route(b, topic, pi->payload, pi->payload_len, pi->qos, pi->retain);
        }
        mb_send_ack(c, MQTTC_PUBREC, pi->packet_id);
        return;
    }
    mb_route(b, topic, pi->payload, pi->payload_len, pi->qos, pi->retain);
    if (pi->qos == 1) mb_send_ack(c, MQTTC_PUBACK, pi->packet_id); /* [MQTT-4.3.2-2] */
}

static void mb_on_puback(mb_client *c, const mqttc_ack_info *a) {
    mb_inflight *f = mb_inflight_find(c->session, a->packet_id, MB_AWAIT_PUBACK);
    if (f) mb_inflight_remove(c->session, f);
}

static void mb_on_pubrec(mb_client *c, const mqttc_ack_info *a) {
    mb_inflight *f = mb_inflight_find(c->session, a->packet_id, MB_AWAIT_PUBREC);
    if (!f) f = mb_inflight_find(c->session, a->packet_id, MB_AWAIT_PUBCOMP); /* a repeated PUBREC */
    if (!f) return;
    /* the message is no longer resent, only the PUBREL [MQTT-4.3.3-1] */
    free(f->pkt);
    f->pkt = NULL;
    f->state = MB_AWAIT_PUBCOMP;
    mb_send_ack(c, MQTTC_PUBREL, a->packet_id);
}

static void mb_on_pubrel(mb_client *c, const mqttc_ack_info *a) {
    mb_set_bit(c->session->in_qos2, a->packet_id, 0);
    mb_send_ack(c, MQTTC_PUBCOMP, a->packet_id); /* even for an unknown id [MQTT-4.3.3-2] */
}

static void mb_on_pubcomp(mb_client *c, const mqttc_ack_info *a) {
    mb_inflight *f = mb_inflight_find(c->session, a->packet_id, MB_AWAIT_PUBCOMP);
    if (f) mb_inflight_remove(c->session, f);
}

/* SUBACK carries one code per filter, in order [MQTT-3.8.4-5]; retained messages follow it. */
static void mb_on_subscribe(mb_broker *b, mb_client *c, const mqttc_packet *p) {
    const mqttc_subscribe_info *si = &p->subscribe;
    unsigned char *codes = (unsigned char *)malloc(si->count);
    size_t pos = 0, i = 0, n;
    mqttc_str f;
    int qos;
    mqttc_suback_info sa = {0};
    if (!codes) { mb_drop(c, "out of memory"); return; }
    while (mqttc_next_filter(&p->subscribe, &pos, &f, &qos) && i < si->count)
        codes[i++] = (unsigned char)(mb_subscribe(c->session, f, qos) == 0 ? qos : 0x80);
    sa.packet_id = si->packet_id;
    sa.codes = codes;
    sa.count = si->count;
    mqttc_encode_suback(NULL, 0, MQTTC_PROTOCOL_311, &sa, &n);
    unsigned char *out = mb_out_begin(c, n);
    if (out && mqttc_encode_suback(out, n, MQTTC_PROTOCOL_311, &sa, &n) == MQTTC_OK) mb_out_commit(c, n);
    for (pos = 0, i = 0; mqttc_next_filter(&p->subscribe, &pos, &f, &qos); i++)
        if (codes[i] != 0x80) mb_send_retained(b, c, f, codes[i]);
    free(codes);
}

static void mb_on_unsubscribe(mb_client *c, const mqttc_packet *p) {
    size_t pos = 0;
    mqttc_str f;
    while (mqttc_next_filter(&p->subscribe, &pos, &f, NULL)) mb_unsubscribe(c->session, f);
    mb_send_ack(c, MQTTC_UNSUBACK, p->subscribe.packet_id); /* [MQTT-3.10.4-4] */
}

static void mb_on_pingreq(mb_client *c) {
    unsigned char pkt[2];
    size_t n;
    if (g_cfg.no_pingresp) return;
    if (mqttc_encode_ping(pkt, sizeof pkt, MQTTC_PINGRESP, &n) == MQTTC_OK) mb_send_bytes(c, pkt, n);
}

/* DISCONNECT: a clean end, the will is discarded [MQTT-3.14.4-3]. */
static void mb_on_disconnect(mb_client *c) {
    c->has_will = 0;
    c->state = MB_DEAD;
}

static void mb_dispatch(mb_broker *b, mb_client *c, const mqttc_packet *p) {
    if (c->state == MB_NEW) {
        if (p->type == MQTTC_CONNECT) mb_on_connect(b, c, &p->connect);
        else mb_drop(c, "first packet is not CONNECT"); /* [MQTT-3.1.0-1] */
        return;
    }
    switch (p->type) {
    case MQTTC_PUBLISH: mb_on_publish(b, c, &p->publish); break;
    case MQTTC_PUBACK: mb_on_puback(c, &p->ack); break;
    case MQTTC_PUBREC: mb_on_pubrec(c, &p->ack); break;
    case MQTTC_PUBREL: mb_on_pubrel(c, &p->ack); break;
    case MQTTC_PUBCOMP: mb_on_pubcomp(c, &p->ack); break;
    case MQTTC_SUBSCRIBE: mb_on_subscribe(b, c, p); break;
    case MQTTC_UNSUBSCRIBE: mb_on_unsubscribe(c, p); break;
    case MQTTC_PINGREQ: mb_on_pingreq(c); break;
    case MQTTC_DISCONNECT: mb_on_disconnect(c); break;
    case MQTTC_CONNECT: mb_drop(c, "second CONNECT"); break; /* [MQTT-3.1.0-2] */
    default: mb_drop(c, "packet a client may not send"); break;
    }
}

/* ---- input ---- */

/* Decodes and handles every complete packet in the input buffer. */
static void mb_process_input(mb_broker *b, mb_client *c) {
    while (c->state != MB_DEAD) {
        mqttc_packet p;
        size_t used;
        int rc = mqttc_decode(c->in.data + c->in.off, c->in.len - c->in.off, g_cfg.max_packet,
                              MQTTC_PROTOCOL_311, &p, &used);
        if (rc == MQTTC_MORE) return;
        if (rc == MQTTC_ERR_OVERFLOW) { mb_drop(c, "packet over --max-packet"); return; }
        if (rc != MQTTC_OK) { mb_drop(c, "malformed packet"); return; }
        if (g_cfg.verbose) mb_log_packet(c, '<', &p);
        c->packets_in++;
        c->last_rx_ms = mb_now_ms();
        mb_dispatch(b, c, &p);
        mb_buf_consumed(&c->in, used);
        if (g_cfg.drop_after && c->packets_in >= g_cfg.drop_after) mb_drop(c, "--drop-after");
    }
}

static void mb_read(mb_broker *b, mb_client *c) {
    unsigned char *p = mb_buf_reserve(&c->in, MB_READ_CHUNK);
    if (!p) { mb_drop(c, "out of memory"); return; }
    ssize_t k = recv(c->fd, p, c->in.cap - c->in.len, 0);
    if (k == 0) { mb_drop(c, "end of stream"); return; }
    if (k < 0) {
        if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) mb_drop(c, "recv failed");
        return;
    }
    c->in.len += (size_t)k;
    mb_process_input(b, c);
}

/* ---- clients ---- */

static void mb_accept(mb_broker *b) {
    for (;;) {
        int fd = accept(b->listen_fd, NULL, NULL), one = 1;
        if (fd < 0) return; /* EAGAIN, or an error that poll will show again */
        mb_client *c = (mb_client *)calloc(1, sizeof *c);
        if (!c || fcntl(fd, F_SETFL, O_NONBLOCK) != 0) { free(c); close(fd); continue; }
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        c->fd = fd;
        c->state = MB_NEW;
        c->last_rx_ms = mb_now_ms();
        snprintf(c->name, sizeof c->name, "fd %d", fd);
        c->next = b->clients;
        b->clients = c;
    }
}

/* Closes the socket: a refusal's CONNACK is written first, and unread input is drained so
   the kernel sends FIN rather than RST (which could destroy that CONNACK in flight). */
static void mb_client_close(mb_client *c) {
    unsigned char sink[4096];
    if (c->flush_on_close) mb_flush(c);
    shutdown(c->fd, SHUT_WR);
    for (int i = 0; i < 64 && recv(c->fd, sink, sizeof sink, 0) > 0; i++) {}
    close(c->fd);
}

static void mb_client_free(mb_broker *b, mb_client *c) {
    mb_session *s = c->session;
    if (s && s->client == c) {
        s->client = NULL;
        if (s->clean) mb_session_remove(b, s); /* [MQTT-3.1.2-6] */
    }
    mb_client_close(c);
    free(c->in.data);
    free(c->out.data);
    free(c->will_topic);
    free(c->will_payload);
    free(c);
}

/* Frees ended clients, publishing the will of those that did not say DISCONNECT
   [MQTT-3.1.2-8]. A will can overflow another client, so returns how many it freed. */
static int mb_reap(mb_broker *b) {
    int freed = 0;
    mb_client **pp = &b->clients;
    while (*pp) {
        mb_client *c = *pp;
        if (c->state != MB_DEAD) { pp = &c->next; continue; }
        *pp = c->next; /* unlinked first: routing the will walks the list */
        if (c->will_pending) {
            mqttc_str t = {c->will_topic, c->will_topic_len};
            if (g_cfg.verbose) fprintf(stderr, "%s: publishing will to %s\n", c->name, c->will_topic);
            mb_route(b, t, c->will_payload, c->will_payload_len, c->will_qos, c->will_retain);
        }
        mb_client_free(b, c);
        freed++;
    }
    return freed;
}

/* Keepalive: nothing for 1.5 x keepalive ends the connection [MQTT-3.1.2-24]. Returns the
   milliseconds until the next deadline (at most 1000). */
static int mb_check_keepalive(mb_broker *b, uint64_t now) {
    uint64_t next = 1000;
    for (mb_client *c = b->clients; c; c = c->next) {
        if (c->state != MB_CONNECTED || c->keepalive_s == 0) continue;
        uint64_t deadline = c->last_rx_ms + (uint64_t)c->keepalive_s * 1500u;
        if (now >= deadline) mb_drop(c, "keepalive expired");
        else if (deadline - now < next) next = deadline - now;
    }
    return (int)next;
}

/* ---- the loop ---- */

/* Fills the poll set: the listener, then every client, writable wanted when output waits. */
static size_t mb_poll_set(mb_broker *b) {
    size_t n = 1, count = 1;
    for (mb_client *c = b->clients; c; c = c->next) count++;
    if (count > b->poll_cap) {
        struct pollfd *p = (struct pollfd *)realloc(b->pfds, 2 * count * sizeof *p);
        if (p) b->pfds = p;
        mb_client **o = (mb_client **)realloc(b->owners, 2 * count * sizeof *o);
        if (o) b->owners = o;
        if (!p || !o) return 0;
        b->poll_cap = 2 * count;
    }
    b->pfds[0].fd = b->listen_fd;
    b->pfds[0].events = POLLIN;
    for (mb_client *c = b->clients; c; c = c->next, n++) {
        b->pfds[n].fd = c->fd;
        b->pfds[n].events = (short)(POLLIN | (c->out.len > c->out.off ? POLLOUT : 0));
        b->owners[n] = c;
    }
    return n;
}

/* One round, in the order data flows: wait, accept, read and handle input, write output. */
static int mb_step(mb_broker *b, int timeout_ms) {
    size_t n = mb_poll_set(b);
    if (n == 0) return -1;
    if (poll(b->pfds, n, timeout_ms) < 0) return errno == EINTR ? 0 : -1;
    if (b->pfds[0].revents) mb_accept(b);
    for (size_t i = 1; i < n; i++) {
        mb_client *c = b->owners[i];
        if (c->state != MB_DEAD && (b->pfds[i].revents & (POLLIN | POLLHUP | POLLERR))) mb_read(b, c);
    }
    for (mb_client *c = b->clients; c; c = c->next)
        if (c->state != MB_DEAD) mb_flush(c);
    return 0;
}

/* The listening socket on addr:port (port 0: any free one); "ADDR:PORT" goes to shown. */
static int mb_listen(const char *addr, int port, char *shown, size_t shown_cap) {
    struct addrinfo hints, *ai = NULL;
    struct sockaddr_storage ss;
    socklen_t len = sizeof ss;
    char service[16], host[64], serv[16];
    int one = 1, fd;
    memset(&hints, 0, sizeof hints);
    hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV | AI_PASSIVE;
    hints.ai_socktype = SOCK_STREAM;
    snprintf(service, sizeof service, "%d", port);
    if (getaddrinfo(addr, service, &hints, &ai) != 0) {
        fprintf(stderr, "minibroker: --bind needs a numeric address, not %s\n", addr);
        return -1;
    }
    fd = socket(ai->ai_family, SOCK_STREAM, 0);
    if (fd >= 0) setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (fd < 0 || bind(fd, ai->ai_addr, ai->ai_addrlen) != 0 || listen(fd, 128) != 0 ||
        fcntl(fd, F_SETFL, O_NONBLOCK) != 0 || getsockname(fd, (struct sockaddr *)&ss, &len) != 0 ||
        getnameinfo((struct sockaddr *)&ss, len, host, sizeof host, serv, sizeof serv,
                    NI_NUMERICHOST | NI_NUMERICSERV) != 0) {
        perror("minibroker: listen");
        if (fd >= 0) close(fd);
        fd = -1;
    }
    freeaddrinfo(ai);
    if (fd >= 0) snprintf(shown, shown_cap, strchr(host, ':') ? "[%s]:%s" : "%s:%s", host, serv);
    return fd;
}

static void mb_broker_free(mb_broker *b) {
    while (b->clients) {
        mb_client *c = b->clients;
        b->clients = c->next;
        mb_client_free(b, c);
    }
    while (b->sessions) mb_session_remove(b, b->sessions);
    while (b->retained) {
        mb_retained *r = b->retained;
        b->retained = r->next;
        free(r->topic);
        free(r->payload);
        free(r);
    }
    if (b->listen_fd >= 0) close(b->listen_fd);
    free(b->pfds);
    free(b->owners);
}

/* ---- command line ---- */

/* The first SIGINT or SIGTERM stops the broker; later ones are ignored: it is exiting
   already, and a signal that lands in a sanitizer's exit-time leak check (which stops the
   process's threads with ptrace) can deadlock it. sigaction is async-signal-safe. */
static void mb_on_signal(int sig) {
    struct sigaction ignore;
    (void)sig;
    g_stop = 1;
    memset(&ignore, 0, sizeof ignore);
    ignore.sa_handler = SIG_IGN;
    sigaction(SIGINT, &ignore, NULL);
    sigaction(SIGTERM, &ignore, NULL);
}

static int mb_usage(void) {
    fprintf(stderr, "usage: minibroker [-p PORT] [-v] [--user NAME --pass PASS] [--no-pingresp] [--connack N]\n"
                    "                  [--drop-after N] [--max-packet BYTES] [--bind ADDR]\n");
    return 2;
}

/* A whole number in [0, max] from s; -1 when it is not one. */
static long mb_number(const char *s, long max) {
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    return (errno || end == s || *end || v < 0 || v > max) ? -1 : v;
}

static int mb_parse_args(int argc, char **argv) {
    g_cfg.port = 1883;
    g_cfg.max_packet = MQTTC_DEFAULT_MAX_PACKET;
    g_cfg.bind_addr = "127.0.0.1";
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        long num = v ? mb_number(v, 268435460L) : -1;
        if (!strcmp(a, "-v")) { g_cfg.verbose = 1; continue; }
        if (!strcmp(a, "--no-pingresp")) { g_cfg.no_pingresp = 1; continue; }
        if (!v) return -1;
        i++;
        if (!strcmp(a, "-p") && num >= 0 && num <= 65535) g_cfg.port = (int)num;
        else if (!strcmp(a, "--user")) g_cfg.user = v;
        else if (!strcmp(a, "--pass")) g_cfg.pass = v;
        else if (!strcmp(a, "--connack") && num >= 0 && num <= 255) g_cfg.connack = (int)num;
        else if (!strcmp(a, "--drop-after") && num >= 0) g_cfg.drop_after = (unsigned long)num;
        else if (!strcmp(a, "--max-packet") && num >= 2) g_cfg.max_packet = (size_t)num;
        else if (!strcmp(a, "--bind")) g_cfg.bind_addr = v;
        else return -1;
    }
    return g_cfg.pass && !g_cfg.user ? -1 : 0;
}

static void mb_install_signals(void) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = mb_on_signal; /* no SA_RESTART: poll returns EINTR at once */
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sa.sa_handler = SIG_IGN; /* a peer gone while we write; send also uses MSG_NOSIGNAL */
    sigaction(SIGPIPE, &sa, NULL);
}

int main(int argc, char **argv) {
    mb_broker b;
    char shown[96];
    int rc = 0, timeout_ms = 1000;
    if (mb_parse_args(argc, argv) != 0) return mb_usage();
    memset(&b, 0, sizeof b);
    b.listen_fd = mb_listen(g_cfg.bind_addr, g_cfg.port, shown, sizeof shown);
    if (b.listen_fd < 0) return 1;
    mb_install_signals();
    printf("listening on %s\n", shown);
    fflush(stdout);
    while (!g_stop) {
        if (mb_step(&b, timeout_ms) != 0) { perror("minibroker: poll"); rc = 1; break; }
        timeout_ms = mb_check_keepalive(&b, mb_now_ms());
        while (mb_reap(&b) > 0) {}
    }
    mb_broker_free(&b);
    return rc;
}
