/* fuzz/fuzz_client.c - the whole client, fed broker bytes over the in-memory transport.
   The input is a script: a few bytes of options, then operations chosen by the input -
   raw broker bytes, well-formed broker packets acknowledging the ids the client really
   used, steps, clock jumps, chunk sizes, stalled writes, EOF and errors, publish,
   subscribe, unsubscribe, disconnect, cork, flush and reconnects; callbacks call the API
   back. After every operation the client's state must be consistent, its memory bounded,
   its output a stream of well-formed packets (CONNECT first and once, nothing after
   DISCONNECT), and every QoS 1/2 message it accepted either completed once or still owned.
   Any violated property aborts. */
#define MQTTC_IMPLEMENTATION
#define MQTTC_NO_SOCKETS
#include "mqttc.h"
#include "tests/mem_transport.h"
#define FUZZ_TARGET "fuzz_client"
#include "fuzz/fuzz.h"

/* FUZZ_TRACE=1 in the environment prints each operation (to read a crash input). */
static int fz_trace = -1;
#define TRACE(...) (fz_trace ? (void)fprintf(stderr, __VA_ARGS__) : (void)0)

/* Ids the client used, by what the broker may answer: so acks can hit real flows. */
enum { IDS_PUBLISH, IDS_PUBREL, IDS_PUBREC, IDS_SUBSCRIBE, IDS_UNSUBSCRIBE, IDS_KINDS };
#define RECENT 8
#define MAX_OPEN 256

typedef struct fz_ids {
    unsigned short id[RECENT];
    unsigned n;
} fz_ids;

/* An id list, for what the client owes an answer to. */
typedef struct fz_open {
    unsigned short id[MAX_OPEN];
    size_t n;
} fz_open;

typedef struct fz {
    mqttc_client c;
    mqttc_options o;
    mem_link link;
    void *mem;
    uint64_t now;
    size_t out_pos;      /* the client's output is checked up to here */
    int conn_packets;    /* packets sent on this connection */
    int sent_disconnect; /* this connection sent DISCONNECT */
    fz_ids ids[IDS_KINDS];
    fz_open published;   /* QoS 1/2 messages accepted, not yet completed */
    unsigned char requests[65536]; /* by id: SUBSCRIBE/UNSUBSCRIBE sent, not yet answered:
                                      how many filters it named (1 or 2) */
    unsigned behaviour;  /* what callbacks do (bits, below) */
    int reentries;       /* API calls made from callbacks: bounded */
    size_t largest;      /* the largest payload published: it may pass max_output alone */
    int lock_depth;      /* options.lock hooks: held during every call and callback */
    volatile unsigned sink;
} fz;

enum {
    ON_MESSAGE_PUBLISH = 1, ON_MESSAGE_SUBSCRIBE = 2, ON_MESSAGE_DISCONNECT = 4, ON_SUBACK_UNSUBSCRIBE = 8,
    ON_PUBLISHED_PUBLISH = 16, ON_UNSUBACK_SUBSCRIBE = 32, ON_MESSAGE_UNSUBSCRIBE = 64, ON_PUBLISHED_DISCONNECT = 128
};

static const char *const topics[] = {"a", "a/b", "a/b/c", "$SYS/x", "b", "echo", "x/y", "a/b/c/d/e/f/g/h"};
static const char *const filters[] = {"a/#", "a/+", "#", "+/b", "a/b", "$SYS/#", "echo", "+"};
#define NTOPICS (sizeof topics / sizeof topics[0])
#define NFILTERS (sizeof filters / sizeof filters[0])

static void open_add(fz_open *o, unsigned short id) {
    FUZZ_REQUIRE(o->n < MAX_OPEN);
    o->id[o->n++] = id;
}
static int open_find(const fz_open *o, unsigned short id) {
    for (size_t i = 0; i < o->n; i++)
        if (o->id[i] == id) return (int)i;
    return -1;
}
static void open_remove_at(fz_open *o, size_t i) { o->id[i] = o->id[--o->n]; }

static void ids_note(fz *f, int kind, unsigned short id) {
    fz_ids *s = &f->ids[kind];
    s->id[s->n++ % RECENT] = id;
}

/* An id to answer with: mostly one the client used, sometimes any. */
static unsigned short pick_id(fz *f, fz_input *in, int kind) {
    unsigned b = fz_byte(in);
    const fz_ids *s = &f->ids[kind];
    if (b < 224 && s->n) return s->id[b % (s->n < RECENT ? s->n : RECENT)];
    return (unsigned short)fz_u16(in);
}

/* ---- callbacks: check what they get, and call the API back ---- */

/* Callbacks run with the lock held (when there is one); and may call the API back a few times. */
static int may_reenter(fz *f) {
    FUZZ_REQUIRE(!f->c.opt.lock || f->lock_depth > 0);
    return f->reentries++ < 64;
}

static void count_records(mqttc_client *c, int kind, unsigned short id, unsigned *n) {
    mqttc__rec *r;
    for (size_t off = 0; (r = mqttc__rec_at(&c->inflight, off)) != NULL; off += r->size)
        if (r->kind == kind && r->packet_id == id) (*n)++;
}

static void on_message(mqttc_client *c, const mqttc_message *m, void *user) {
    fz *f = (fz *)user;
    unsigned sum = 0, records = 0;
    FUZZ_REQUIRE(m->topic && m->topic[m->topic_len] == '\0' && strlen(m->topic) == m->topic_len);
    FUZZ_REQUIRE(mqttc_topic_check(m->topic, m->topic_len) == MQTTC_OK);
    FUZZ_REQUIRE(m->qos >= 0 && m->qos <= 2 && (m->qos == 0) == (m->packet_id == 0));
    for (size_t i = 0; i < m->payload_len; i++) sum += ((const unsigned char *)m->payload)[i];
    f->sink += sum;
    if (m->qos == 2) { /* delivered once per flow: exactly one record waits for its PUBREL */
        count_records(c, MQTTC__AWAIT_PUBREL, m->packet_id, &records);
        FUZZ_REQUIRE(records == 1);
    }
    if (!may_reenter(f)) return;
    if (f->behaviour & ON_MESSAGE_PUBLISH) {
        unsigned short id;
        if (mqttc_publish(c, "echo", m->payload, m->payload_len, m->qos, 0, &id) == MQTTC_OK && m->qos)
            open_add(&f->published, id);
    }
    if (f->behaviour & ON_MESSAGE_SUBSCRIBE) { /* a new filter each time: the handler pool grows */
        char filter[16];
        unsigned short id;
        snprintf(filter, sizeof filter, "s/%u", (unsigned)(m->payload_len % 16));
        if (mqttc_subscribe(c, filter, 1, NULL, on_message, f, &id) == MQTTC_OK) f->requests[id] = 1;
    }
    if (f->behaviour & ON_MESSAGE_UNSUBSCRIBE) {
        unsigned short id;
        if (mqttc_unsubscribe(c, "a/+", NULL, f, &id) == MQTTC_OK) f->requests[id] = 1;
    }
    if ((f->behaviour & ON_MESSAGE_DISCONNECT) && m->payload_len == 1) (void)mqttc_disconnect(c);
}

/* An answer for a request the client made, once; returns how many filters it named. */
static unsigned answered(fz *f, unsigned short id) {
    unsigned count = f->requests[id];
    FUZZ_REQUIRE(count);
    f->requests[id] = 0;
    return count;
}

/* SUBACK of mqttc_subscribe and mqttc_subscribe_many: one valid code per filter asked. */
static void on_suback(mqttc_client *c, const mqttc_suback_info *s, void *user) {
    fz *f = (fz *)user;
    unsigned short id = s->packet_id;
    FUZZ_REQUIRE(!f->c.opt.lock || f->lock_depth > 0);
    for (size_t i = 0; i < s->count; i++) FUZZ_REQUIRE(s->codes[i] <= 2 || s->codes[i] == 0x80);
    FUZZ_REQUIRE(s->count == answered(f, id));
    if ((f->behaviour & ON_SUBACK_UNSUBSCRIBE) && may_reenter(f)) {
        unsigned short nid;
        if (mqttc_unsubscribe(c, filters[id % NFILTERS], NULL, f, &nid) == MQTTC_OK) f->requests[nid] = 1;
    }
}

static void on_unsuback(mqttc_client *c, const mqttc_ack_info *a, void *user) {
    fz *f = (fz *)user;
    unsigned short id = a->packet_id;
    FUZZ_REQUIRE(!f->c.opt.lock || f->lock_depth > 0);
    FUZZ_REQUIRE(a->type == MQTTC_UNSUBACK);
    answered(f, id);
    if ((f->behaviour & ON_UNSUBACK_SUBSCRIBE) && may_reenter(f)) {
        unsigned short nid;
        if (mqttc_subscribe(c, filters[id % NFILTERS], 2, on_suback, NULL, f, &nid) == MQTTC_OK)
            f->requests[nid] = 1;
    }
}

static void on_published(mqttc_client *c, const mqttc_ack_info *a, void *user) {
    fz *f = (fz *)user;
    unsigned short id = a->packet_id;
    FUZZ_REQUIRE(!f->c.opt.lock || f->lock_depth > 0);
    FUZZ_REQUIRE(a->type == MQTTC_PUBACK || a->type == MQTTC_PUBCOMP);
    int i = open_find(&f->published, id);
    FUZZ_REQUIRE(i >= 0); /* completes a message the client accepted, once */
    open_remove_at(&f->published, (size_t)i);
    if (!may_reenter(f)) return;
    if (f->behaviour & ON_PUBLISHED_PUBLISH) {
        unsigned short nid;
        if (mqttc_publish(c, "a/b", "x", 1, 1 + (id & 1), 0, &nid) == MQTTC_OK) open_add(&f->published, nid);
    }
    if (f->behaviour & ON_PUBLISHED_DISCONNECT) (void)mqttc_disconnect(c);
}

/* ---- checks after every operation ---- */

/* The client's output: well-formed packets only, CONNECT first and once per connection,
   nothing after DISCONNECT [MQTT-3.1.0-1/2], [MQTT-3.14.4-2]. Notes the ids it used. */
static void check_output(fz *f) {
    mqttc_packet p;
    size_t used;
    for (;;) {
        if (f->out_pos < f->link.out_len) FUZZ_REQUIRE(!f->sent_disconnect);
        int rc = mqttc_decode(f->link.out + f->out_pos, f->link.out_len - f->out_pos, 0, MQTTC_PROTOCOL_311, &p, &used);
        if (rc == MQTTC_MORE) return;
        FUZZ_REQUIRE(rc == MQTTC_OK);
        f->out_pos += used;
        FUZZ_REQUIRE((p.type == MQTTC_CONNECT) == (f->conn_packets++ == 0));
        if (p.type == MQTTC_DISCONNECT) f->sent_disconnect = 1;
        if (p.type == MQTTC_PUBLISH && p.publish.qos) ids_note(f, IDS_PUBLISH, p.publish.packet_id);
        if (p.type == MQTTC_PUBREL) ids_note(f, IDS_PUBREL, p.ack.packet_id);
        if (p.type == MQTTC_PUBREC) ids_note(f, IDS_PUBREC, p.ack.packet_id);
        if (p.type == MQTTC_SUBSCRIBE) ids_note(f, IDS_SUBSCRIBE, p.subscribe.packet_id);
        if (p.type == MQTTC_UNSUBSCRIBE) ids_note(f, IDS_UNSUBSCRIBE, p.subscribe.packet_id);
    }
}

static int is_outgoing_publish(int kind) {
    return kind == MQTTC__AWAIT_PUBACK || kind == MQTTC__AWAIT_PUBREC || kind == MQTTC__AWAIT_PUBCOMP;
}

/* Every QoS 1/2 message accepted is completed once or still owned. A clean session drops
   the owned ones at CONNACK [MQTT-3.1.2-6]; a kept session never does [MQTT-4.4.0-1]. */
static void check_records(fz *f) {
    mqttc_client *c = &f->c;
    mqttc__rec *r;
    unsigned outgoing = 0, incoming = 0;
    for (size_t off = 0; (r = mqttc__rec_at(&c->inflight, off)) != NULL; off += r->size) {
        FUZZ_REQUIRE(r->size >= sizeof *r && off + r->size <= c->inflight.len);
        if (is_outgoing_publish(r->kind)) {
            outgoing++;
            FUZZ_REQUIRE(open_find(&f->published, r->packet_id) >= 0);
        }
        if (r->kind == MQTTC__AWAIT_PUBREL) incoming++;
    }
    FUZZ_REQUIRE(outgoing == c->outgoing_qos && outgoing <= c->opt.max_inflight);
    FUZZ_REQUIRE(incoming == c->incoming_qos2 && incoming <= c->opt.max_inflight_in);
    for (size_t i = 0; i < f->published.n;) {
        unsigned owned = 0;
        count_records(c, MQTTC__AWAIT_PUBACK, f->published.id[i], &owned);
        count_records(c, MQTTC__AWAIT_PUBREC, f->published.id[i], &owned);
        count_records(c, MQTTC__AWAIT_PUBCOMP, f->published.id[i], &owned);
        FUZZ_REQUIRE(owned <= 1);
        if (owned) { i++; continue; }
        FUZZ_REQUIRE(!c->opt.no_clean_session); /* a kept session lost a message */
        open_remove_at(&f->published, i);
    }
}

/* The poll-loop interface agrees with the state: once closed no fd and no events, and a
   timeout of 0 (step has the end to report, so a poll loop never sleeps on nothing); while
   connecting or connected a deadline, unless keepalive is off. */
static void check_poll_interface(fz *f) {
    mqttc_client *c = &f->c;
    unsigned ev = mqttc_events(c);
    long ms = mqttc_timeout_ms(c, f->now);
    int is_open = c->state != MQTTC_STATE_CLOSED;
    FUZZ_REQUIRE(is_open || (ev == 0 && ms == 0 && mqttc_fd(c) == -1));
    FUZZ_REQUIRE(!is_open || ms >= 0 || (c->state == MQTTC_STATE_CONNECTED && c->opt.keepalive_s == 0));
    FUZZ_REQUIRE(!is_open || (ev & MQTTC_EV_WRITE) == (c->tx.len ? (unsigned)MQTTC_EV_WRITE : 0u));
    FUZZ_REQUIRE(mqttc_pending_output(c) == c->tx.len && mqttc_inflight(c) == c->outgoing_qos);
}

/* The state and the buffers: the sticky error, and memory bounded by the options. */
static void check_client(fz *f, int step_rc) {
    mqttc_client *c = &f->c;
    FUZZ_REQUIRE(f->lock_depth == 0); /* every call released the lock */
    check_poll_interface(f);
    FUZZ_REQUIRE(c->state >= MQTTC_STATE_CONNACK_WAIT && c->state <= MQTTC_STATE_CLOSED);
    FUZZ_REQUIRE((c->state == MQTTC_STATE_CLOSED) == (c->error != MQTTC_OK));
    FUZZ_REQUIRE(step_rc == c->error);
    FUZZ_REQUIRE(c->rx.start + c->rx.len <= c->rx.cap && c->rx.cap <= c->rx.max);
    FUZZ_REQUIRE(c->tx.start + c->tx.len <= c->tx.cap);
    /* publishes stop at max_output (one alone may pass it); acks of one read and resends
       may add to it */
    FUZZ_REQUIRE(c->tx.len <= c->opt.max_output + f->largest + c->rx.cap + c->inflight.len + 64);
    FUZZ_REQUIRE(c->state != MQTTC_STATE_CLOSED || (c->tx.len == 0 && c->rx.len == 0));
    check_output(f);
    check_records(f);
}

/* ---- operations ---- */

/* A well-formed broker packet, with ids the client used. */
static void feed_packet(fz *f, fz_input *in) {
    unsigned char buf[600];
    size_t n = 0;
    unsigned kind = fz_byte(in) % 9, b = fz_byte(in);
    switch (kind) {
    case 0: {
        mqttc_connack_info ca = {0};
        ca.session_present = b & 1;
        ca.reason_code = (b >> 1) % 8 < 6 ? (int)((b >> 1) % 8) : 0;
        mqttc_encode_connack(buf, sizeof buf, MQTTC_PROTOCOL_311, &ca, &n);
        break;
    }
    case 1: {
        static const unsigned char payload[512] = {0};
        mqttc_publish_info pi = {0};
        pi.qos = (int)(b % 3);
        unsigned short id = pi.qos ? pick_id(f, in, IDS_PUBLISH) : 0;
        pi.topic = topics[(b >> 2) % NTOPICS];
        pi.topic_len = strlen(pi.topic);
        pi.payload = payload;
        pi.payload_len = fz_byte(in) * 2;
        pi.retain = (b >> 5) & 1;
        pi.dup = pi.qos && (b >> 6) & 1;
        pi.packet_id = id ? id : 1;
        mqttc_encode_publish(buf, sizeof buf, MQTTC_PROTOCOL_311, &pi, &n);
        break;
    }
    case 2: fz_encode_ack(buf, sizeof buf, MQTTC_PUBACK, pick_id(f, in, IDS_PUBLISH), &n); break;
    case 3: fz_encode_ack(buf, sizeof buf, MQTTC_PUBREC, pick_id(f, in, IDS_PUBLISH), &n); break;
    case 4: fz_encode_ack(buf, sizeof buf, MQTTC_PUBREL, pick_id(f, in, IDS_PUBREC), &n); break;
    case 5: fz_encode_ack(buf, sizeof buf, MQTTC_PUBCOMP, pick_id(f, in, IDS_PUBREL), &n); break;
    case 6: {
        static const unsigned char codes[4] = {0, 1, 2, 0x80};
        unsigned char two[2] = {codes[b & 3], codes[(b >> 2) & 3]};
        mqttc_suback_info sa = {0};
        sa.packet_id = pick_id(f, in, IDS_SUBSCRIBE);
        sa.codes = two;
        sa.count = (b & 16) ? 2 : 1;
        mqttc_encode_suback(buf, sizeof buf, MQTTC_PROTOCOL_311, &sa, &n);
        break;
    }
    case 7: fz_encode_ack(buf, sizeof buf, MQTTC_UNSUBACK, pick_id(f, in, IDS_UNSUBSCRIBE), &n); break;
    default: mqttc_encode_ping(buf, sizeof buf, MQTTC_PINGRESP, &n); break;
    }
    if (n) mem_feed(&f->link, buf, n); /* an id 0 made the encoder refuse: nothing to feed */
}

static void feed_raw(fz *f, fz_input *in) {
    size_t n = fz_byte(in);
    const uint8_t *bytes = fz_take(in, &n);
    if (n) mem_feed(&f->link, bytes, n); /* mem_feed of 0 bytes into an empty link: memcpy(NULL) */
}

static void do_publish(fz *f, fz_input *in) {
    unsigned b = fz_byte(in);
    size_t len = (size_t)fz_byte(in) * ((b & 0x80) ? 512u : 1u);
    unsigned char *payload = (unsigned char *)calloc(1, len + 1);
    unsigned short id;
    int qos = (int)(b % 3);
    FUZZ_REQUIRE(payload);
    if (len > f->largest) f->largest = len;
    int rc = mqttc_publish(&f->c, topics[(b >> 2) % NTOPICS], payload, len, qos, (b >> 5) & 1, &id);
    FUZZ_REQUIRE(rc == MQTTC_OK || rc == MQTTC_ERR_BUSY || rc == MQTTC_ERR_STATE || rc == f->c.error);
    if (rc == MQTTC_OK && qos) open_add(&f->published, id);
    free(payload);
}

/* A filter of the table, or one of 64 more ("d/N"): enough handlers to make the pool grow. */
static const char *pick_filter(fz_input *in, char *buf, size_t cap) {
    unsigned b = fz_byte(in);
    if (b < 128) return filters[b % NFILTERS];
    snprintf(buf, cap, "d/%u", b & 63u);
    return buf;
}

static void do_request(fz *f, fz_input *in, int subscribe) {
    unsigned b = fz_byte(in);
    unsigned short id;
    char buf[16];
    const char *filter = pick_filter(in, buf, sizeof buf);
    const char *two[2] = {filter, "m/#"};
    unsigned char qos[2] = {(unsigned char)((b >> 3) % 3), 1};
    int rc;
    if (b & 128) /* several filters in one packet */
        rc = subscribe ? mqttc_subscribe_many(&f->c, two, qos, 2, on_suback, (b & 64) ? on_message : NULL, f, &id)
                       : mqttc_unsubscribe_many(&f->c, two, 2, on_unsuback, f, &id);
    else
        rc = subscribe ? mqttc_subscribe(&f->c, filter, qos[0], on_suback, (b & 64) ? on_message : NULL, f, &id)
                       : mqttc_unsubscribe(&f->c, filter, on_unsuback, f, &id);
    FUZZ_REQUIRE(rc == MQTTC_OK || rc == MQTTC_ERR_BUSY || rc == MQTTC_ERR_STATE || rc == f->c.error);
    if (rc == MQTTC_OK) f->requests[id] = (b & 128) ? 2 : 1;
}

/* A new connection over a fresh link (the old one is closed): requests of the old one are
   never answered [MQTT-4.4.0-1 resends only PUBLISH and PUBREL]. */
static void do_reconnect(fz *f) {
    mqttc_transport t = mem_transport(&f->link);
    int was_closed = f->c.state == MQTTC_STATE_CLOSED;
    if (was_closed) {
        check_output(f); /* the old connection's last bytes; a partial packet is left behind */
        f->link.in_len = 0;
        f->link.is_eof = f->link.fail_with = f->link.write_stalled = 0;
        f->out_pos = f->link.out_len;
        f->conn_packets = f->sent_disconnect = 0;
        memset(f->requests, 0, sizeof f->requests);
    }
    int rc = mqttc_start_transport(&f->c, &t, f->now);
    FUZZ_REQUIRE(was_closed ? rc == MQTTC_OK || f->c.state == MQTTC_STATE_CLOSED : rc == MQTTC_ERR_STATE);
}

static int run_op(fz *f, fz_input *in) {
    unsigned op = fz_byte(in) % 16;
    TRACE("op %u at %zu left, state %d, now %llu\n", op, in->n, f->c.state, (unsigned long long)f->now);
    switch (op) {
    case 0: feed_raw(f, in); break;
    case 1: case 2: feed_packet(f, in); break;
    case 3: f->now += fz_byte(in) * 10u; break;
    case 4: f->now += fz_byte(in) * 1000u; break;
    case 5: do_publish(f, in); break;
    case 6: do_request(f, in, 1); break;
    case 7: do_request(f, in, 0); break;
    case 8: (void)mqttc_disconnect(&f->c); break;
    case 9: {
        unsigned b = fz_byte(in);
        f->link.read_chunk = b & 15u;
        f->link.write_chunk = (b >> 4) * 3u;
        break;
    }
    case 10: f->link.write_stalled = !f->link.write_stalled; break;
    case 11: if (fz_byte(in) & 1) f->link.is_eof = 1; else f->link.fail_with = MQTTC_ERR_IO; break;
    case 12: do_reconnect(f); break;
    case 13: {
        unsigned b = fz_byte(in);
        if (b & 2) mqttc_pause(&f->c, b & 1); /* flow control */
        else mqttc_cork(&f->c, b & 1);
        break;
    }
    case 14: (void)mqttc_flush(&f->c); break;
    default: f->behaviour = fz_byte(in); break;
    }
    int rc = mqttc_step(&f->c, f->now);
    TRACE("  step: %s, state %d, tx %zu, rx %zu, inflight %u\n", mqttc_errname(rc), f->c.state, (size_t)f->c.tx.len,
          (size_t)f->c.rx.len, f->c.outgoing_qos);
    return rc;
}

static void fz_lock(void *user) { ((fz *)user)->lock_depth++; }
static void fz_unlock(void *user) {
    FUZZ_REQUIRE(((fz *)user)->lock_depth > 0);
    ((fz *)user)->lock_depth--;
}

/* One option that mqttc_init must refuse (MQTTC_ERR_ARG), by number. */
static void break_option(mqttc_options *o, unsigned which) {
    static const unsigned char bad_utf8[] = {'a', 0xC0, 0x80, 0};
    switch (which % 8) {
    case 0: o->keepalive_s = 70000; o->no_keepalive = 0; break;
    case 1: o->will_topic = "w"; o->will_qos = 3; break;
    case 2: o->will_topic = "w/+"; break;
    case 3: o->will_topic = "w"; o->will_payload = NULL; o->will_payload_len = 5; break;
    case 4: o->username = "u"; o->password = NULL; o->password_len = 3; break;
    case 5: o->username = (const char *)bad_utf8; break;
    case 6: o->client_id = (const char *)bad_utf8; break;
    default: o->username = NULL; o->password = "p"; o->password_len = 1; break;
    }
}

/* Options from the first bytes: small limits, so the edges are near. */
static int setup(fz *f, fz_input *in) {
    unsigned b0 = fz_byte(in), b1 = fz_byte(in), b2 = fz_byte(in), b3 = fz_byte(in), b4 = fz_byte(in);
    mqttc_options *o = &f->o;
    o->no_clean_session = b0 & 1;
    o->no_keepalive = (b0 >> 2) & 1;
    o->keepalive_s = 1 + ((b0 >> 3) & 3);
    o->client_id = (b0 & 32) ? "" : "fz";
    if (b0 & 64) { o->username = "u"; o->password = "p"; o->password_len = 1; }
    if (b0 & 128) { o->will_topic = "will"; o->will_payload = "bye"; o->will_payload_len = 3; o->will_qos = 1; }
    o->max_packet_size = b1 ? (size_t)b1 * 16u : 0; /* 0: the default, 16 MiB */
    o->max_inflight = 1 + (b2 & 7u);
    o->max_inflight_in = 1 + ((b2 >> 3) & 7u);
    o->ping_timeout_ms = (b2 >> 6) * 700u;
    o->max_output = b3 & 1 ? 0 : (size_t)b3 * 64u;
    o->connect_timeout_ms = 1000u + (b4 & 15u) * 1000u;
    f->behaviour = fz_byte(in);
    unsigned b5 = fz_byte(in);
    if (b5 & 1) { o->lock = fz_lock; o->unlock = fz_unlock; o->lock_user = f; }
    if (b5 & 2) { o->max_inflight = 70000u; o->max_inflight_in = 70000u; } /* clamped to 65535 */
    int must_refuse = (b5 & 12) == 12;
    if (must_refuse) break_option(o, b5 >> 4);
    if (b0 & 2) {
        size_t size = 4096u + (size_t)(b4 >> 4) * 1024u;
        f->mem = malloc(size);
        FUZZ_REQUIRE(f->mem);
        o->mem = f->mem;
        o->mem_size = size;
    }
    o->on_message = on_message;
    o->on_published = on_published;
    o->user = f;
    f->now = 1000;
    int rc = mqttc_init(&f->c, o);
    FUZZ_REQUIRE(!must_refuse || rc == MQTTC_ERR_ARG);
    if (rc != MQTTC_OK) return -1;
    mqttc_transport t = mem_transport(&f->link);
    FUZZ_REQUIRE(mqttc_start_transport(&f->c, &t, f->now) == MQTTC_OK);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static fz f; /* large: kept off the stack */
    fz_input in = {data, size};
    if (fz_trace < 0) fz_trace = getenv("FUZZ_TRACE") != NULL;
    memset(&f, 0, sizeof f);
    if (setup(&f, &in) == 0) {
        check_client(&f, mqttc_step(&f.c, f.now));
        while (in.n) {
            f.reentries = 0;
            check_client(&f, run_op(&f, &in));
        }
    }
    mqttc_deinit(&f.c);
    mem_free(&f.link);
    free(f.mem);
    return 0;
}
