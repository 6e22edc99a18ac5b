/* fuzz/fuzz_client.c - the whole client, fed broker bytes over the in-memory transport.
   The input is a script: a few bytes of options, then operations chosen by the input -
   raw broker bytes, well-formed broker packets acknowledging the ids the client really
   used, steps, clock jumps, chunk sizes, stalled writes, EOF and errors, publish,
   subscribe, unsubscribe, disconnect, cork, flush and reconnects; callbacks call the API
   back. After every operation the client's state must be consistent, its memory bounded,
   its output a stream of well-formed packets (CONNECT first and once, nothing after
   DISCONNECT), and every QoS 1/2 message it accepted either completed once or still owned.
   A bit of the options byte selects MQTT 5 (options.protocol_version 5, with topic aliases
   both ways, enhanced authentication): the broker's packets then carry reason codes and
   properties (CONNACK limits, aliases, subscription identifiers, DISCONNECT and AUTH from
   the broker), and the client's output must also keep the limits its CONNACK set: no
   Subscription Identifier in a PUBLISH [MQTT-3.3.4-6], Topic Aliases within the broker's
   maximum [MQTT-3.3.2-9], new messages within Maximum QoS, Retain Available and Maximum
   Packet Size [MQTT-3.2.2-11/14/15], our Authentication Method in every AUTH [MQTT-4.12.0-5].
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
    int v5;              /* options.protocol_version 5 */
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
    for (size_t i = 0; i < s->count; i++) /* granted QoS or a refusal: 0x80 (MQTT 5: from 0x80) */
        FUZZ_REQUIRE(s->codes[i] <= 2 || s->codes[i] == 0x80 || (f->v5 && s->codes[i] > 0x80));
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

/* A message the client gave up (a lost session's QoS 2; in MQTT 5 one the new connection's
   limits no longer take): told once, and never completed. */
static void on_dropped(mqttc_client *c, const mqttc_publish_info *m, int why, void *user) {
    fz *f = (fz *)user;
    (void)c;
    FUZZ_REQUIRE((why == MQTTC_ERR_SESSION_LOST && m->qos == 2) ||
                 (f->v5 && (why == MQTTC_ERR_TOOLARGE || why == MQTTC_ERR_QOS || why == MQTTC_ERR_UNSUPPORTED)));
    int i = open_find(&f->published, m->packet_id);
    FUZZ_REQUIRE(i >= 0);
    open_remove_at(&f->published, (size_t)i);
}

static void on_published(mqttc_client *c, const mqttc_ack_info *a, void *user) {
    fz *f = (fz *)user;
    unsigned short id = a->packet_id;
    FUZZ_REQUIRE(!f->c.opt.lock || f->lock_depth > 0);
    /* MQTT 5: a PUBREC of 0x80 or more ends the flow too [MQTT-4.4.0-2] */
    FUZZ_REQUIRE(a->type == MQTTC_PUBACK || a->type == MQTTC_PUBCOMP ||
                 (f->v5 && a->type == MQTTC_PUBREC && a->reason_code >= 0x80));
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

/* MQTT 5: what the client sends keeps the limits of its connection's CONNACK (those of
   mqttc_server_limits: output is checked after every operation, before a new connection
   could change them). Resent messages (DUP) were accepted under an earlier CONNACK. */
static void check_output_v5(fz *f, const mqttc_packet *p, size_t used) {
    const mqttc_limits *l = mqttc_server_limits(&f->c);
    mqttc_prop pr;
    FUZZ_REQUIRE(l->max_packet_size == 0 || used <= l->max_packet_size || (p->type == MQTTC_PUBLISH && p->publish.dup) ||
                 p->type == MQTTC_CONNECT || p->type == MQTTC_PUBREL); /* [MQTT-3.2.2-15] */
    if (p->type == MQTTC_PUBLISH) {
        const mqttc_publish_info *pi = &p->publish;
        FUZZ_REQUIRE(!mqttc_props_get(&pi->props, MQTTC_PROP_SUBSCRIPTION_ID, NULL)); /* [MQTT-3.3.4-6] */
        if (mqttc_props_get(&pi->props, MQTTC_PROP_TOPIC_ALIAS, &pr)) /* [MQTT-3.3.2-9] */
            FUZZ_REQUIRE(pr.value >= 1 && pr.value <= l->topic_alias_max && pr.value <= f->o.topic_alias_out);
        FUZZ_REQUIRE(pi->dup || pi->qos <= l->max_qos);             /* [MQTT-3.2.2-11] */
        FUZZ_REQUIRE(pi->dup || !pi->retain || l->retain_available); /* [MQTT-3.2.2-14] */
    }
    if (p->type == MQTTC_SUBSCRIBE && mqttc_props_get(&p->subscribe.props, MQTTC_PROP_SUBSCRIPTION_ID, NULL))
        FUZZ_REQUIRE(l->sub_id_available);
    if (p->type == MQTTC_AUTH) { /* with our method [MQTT-4.12.0-5] */
        FUZZ_REQUIRE(mqttc_props_get(&p->auth.props, MQTTC_PROP_AUTH_METHOD, &pr) && pr.str.len == 1 && pr.str.ptr[0] == 'm');
        FUZZ_REQUIRE(p->auth.reason_code == MQTTC_RC_CONTINUE_AUTH || p->auth.reason_code == MQTTC_RC_REAUTHENTICATE);
    }
}

/* The client's output: well-formed packets only, CONNECT first and once per connection,
   nothing after DISCONNECT [MQTT-3.1.0-1/2], [MQTT-3.14.4-2]. Notes the ids it used. */
static void check_output(fz *f) {
    mqttc_packet p;
    size_t used;
    for (;;) {
        if (f->out_pos < f->link.out_len) FUZZ_REQUIRE(!f->sent_disconnect);
        int rc = mqttc_decode(f->link.out + f->out_pos, f->link.out_len - f->out_pos, 0,
                              f->v5 ? MQTTC_PROTOCOL_5 : MQTTC_PROTOCOL_311, &p, &used);
        if (rc == MQTTC_MORE) return;
        FUZZ_REQUIRE(rc == MQTTC_OK);
        TRACE("  sent: type %d, id %u, %zu bytes\n", p.type, (unsigned)mqttc_packet_id(&p), used);
        FUZZ_REQUIRE(p.type != MQTTC_CONNECT || p.connect.protocol_level == (f->v5 ? MQTTC_PROTOCOL_5 : 4));
        if (f->v5) check_output_v5(f, &p, used);
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

/* ---- MQTT 5 broker packets: reason codes and properties from the input ---- */

/* A code of the list, by the input byte. */
#define PICK(list, b) ((list)[(b) % (sizeof(list) / sizeof((list)[0]))])

/* The CONNACK's limits: each property when its bit is set. */
static size_t connack_props_v5(fz_input *in, mqttc_prop *pr) {
    unsigned b = fz_byte(in);
    size_t k = 0;
    if (b & 1) pr[k++] = mqttc_prop_int(MQTTC_PROP_RECEIVE_MAX, 1 + fz_byte(in) % 4);
    if (b & 2) pr[k++] = mqttc_prop_int(MQTTC_PROP_MAX_QOS, fz_byte(in) % 2);
    if (b & 4) pr[k++] = mqttc_prop_int(MQTTC_PROP_RETAIN_AVAILABLE, 0);
    if (b & 8) pr[k++] = mqttc_prop_int(MQTTC_PROP_TOPIC_ALIAS_MAX, fz_byte(in) % 4);
    if (b & 16) pr[k++] = mqttc_prop_int(MQTTC_PROP_MAX_PACKET_SIZE, 48 + fz_byte(in) * 8u);
    if (b & 32) pr[k++] = mqttc_prop_str(MQTTC_PROP_ASSIGNED_CLIENT_ID, "assigned");
    if (b & 64) pr[k++] = mqttc_prop_int(MQTTC_PROP_SERVER_KEEP_ALIVE, 1 + fz_byte(in) % 3);
    if (b & 128) {
        unsigned c = fz_byte(in);
        pr[k++] = mqttc_prop_int(MQTTC_PROP_WILDCARD_SUB_AVAILABLE, c & 1);
        pr[k++] = mqttc_prop_int(MQTTC_PROP_SUB_ID_AVAILABLE, (c >> 1) & 1);
        pr[k++] = mqttc_prop_int(MQTTC_PROP_SHARED_SUB_AVAILABLE, (c >> 2) & 1);
        pr[k++] = mqttc_prop_int(MQTTC_PROP_SESSION_EXPIRY, (c >> 3) & 1 ? 0 : 300);
        pr[k++] = mqttc_prop_str(MQTTC_PROP_REASON_STRING, "hello");
        pr[k++] = mqttc_prop_user("k", "v");
        if (c & 16) pr[k++] = mqttc_prop_str(MQTTC_PROP_AUTH_METHOD, (c & 32) ? "x" : "m");
    }
    return k;
}

static void feed_packet_v5(fz *f, fz_input *in, unsigned kind, unsigned b, unsigned char *buf, size_t cap, size_t *n) {
    static const unsigned char refusals[] = {0x80, 0x86, 0x87, 0x88, 0x8A, 0x97, 0x9C, 0x9F};
    static const unsigned char pub_codes[] = {0x00, 0x10, 0x80, 0x83, 0x87, 0x90, 0x91, 0x97, 0x99};
    static const unsigned char rel_codes[] = {0x00, 0x92};
    static const unsigned char sub_codes[] = {0x00, 0x01, 0x02, 0x80, 0x87, 0x8F, 0x97, 0x9E, 0xA1, 0xA2};
    static const unsigned char unsub_codes[] = {0x00, 0x11, 0x80, 0x87, 0x8F};
    static const unsigned char bye_codes[] = {0x00, 0x81, 0x82, 0x89, 0x8B, 0x8E, 0x93, 0x98, 0x9C, 0x9D};
    static const unsigned char auth_codes[] = {0x18, 0x18, 0x00, 0x19};
    static const char text[512] = "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"; /* then NULs */
    mqttc_prop pr[16];
    mqttc_props ps = {NULL, 0, pr, 0};
    if (b & 8) pr[ps.count++] = mqttc_prop_str(MQTTC_PROP_REASON_STRING, "why");
    switch (kind) {
    case 0: {
        mqttc_connack_info ca = {0};
        ca.session_present = b & 1;
        ca.reason_code = (b >> 1) % 8 < 6 ? 0 : PICK(refusals, b >> 4);
        ps.count = connack_props_v5(in, pr);
        ca.props = ps;
        mqttc_encode_connack(buf, cap, MQTTC_PROTOCOL_5, &ca, n);
        return;
    }
    case 1: {
        mqttc_publish_info pi = {0};
        unsigned q = fz_byte(in);
        pi.qos = (int)(b % 3);
        pi.packet_id = pi.qos ? pick_id(f, in, IDS_PUBLISH) : 0;
        if (pi.qos && !pi.packet_id) pi.packet_id = 1;
        pi.topic = topics[(b >> 2) % NTOPICS];
        pi.topic_len = strlen(pi.topic);
        pi.payload = text;
        pi.payload_len = fz_byte(in) * 2;
        pi.retain = (b >> 5) & 1;
        pi.dup = pi.qos && (b >> 6) & 1;
        ps.count = 0;
        if (q & 1) pr[ps.count++] = mqttc_prop_int(MQTTC_PROP_TOPIC_ALIAS, 1 + fz_byte(in) % 5); /* ours: up to 3 */
        if ((q & 3) == 3) pi.topic_len = 0; /* the alias alone */
        if (q & 4) pr[ps.count++] = mqttc_prop_int(MQTTC_PROP_SUBSCRIPTION_ID, 1 + fz_byte(in) % 8);
        if (q & 8) pr[ps.count++] = mqttc_prop_int(MQTTC_PROP_SUBSCRIPTION_ID, 1 + fz_byte(in) % 8);
        if (q & 16) pr[ps.count++] = mqttc_prop_int(MQTTC_PROP_PAYLOAD_FORMAT, 1); /* "x..." and NULs: a NUL is refused */
        if (q & 32) pr[ps.count++] = mqttc_prop_user("k", "v");
        if (q & 64) pr[ps.count++] = mqttc_prop_str(MQTTC_PROP_RESPONSE_TOPIC, "reply");
        if (q & 128) pr[ps.count++] = mqttc_prop_int(MQTTC_PROP_MESSAGE_EXPIRY, 10);
        pi.props = ps;
        mqttc_encode_publish(buf, cap, MQTTC_PROTOCOL_5, &pi, n);
        return;
    }
    case 2: case 3: case 4: case 5: {
        static const int types[4] = {MQTTC_PUBACK, MQTTC_PUBREC, MQTTC_PUBREL, MQTTC_PUBCOMP};
        static const int kinds[4] = {IDS_PUBLISH, IDS_PUBLISH, IDS_PUBREC, IDS_PUBREL};
        mqttc_ack_info ai = {0};
        ai.type = types[kind - 2];
        ai.packet_id = pick_id(f, in, kinds[kind - 2]);
        ai.reason_code = kind < 4 ? PICK(pub_codes, b >> 4) : PICK(rel_codes, b >> 4);
        ai.props = ps;
        mqttc_encode_ack(buf, cap, MQTTC_PROTOCOL_5, &ai, n);
        return;
    }
    case 6: {
        unsigned char two[2] = {PICK(sub_codes, b), PICK(sub_codes, b >> 3)};
        mqttc_suback_info sa = {0};
        sa.packet_id = pick_id(f, in, IDS_SUBSCRIBE);
        sa.codes = two;
        sa.count = (b & 64) ? 2 : 1;
        sa.props = ps;
        mqttc_encode_suback(buf, cap, MQTTC_PROTOCOL_5, &sa, n);
        return;
    }
    case 7: {
        unsigned char two[2] = {PICK(unsub_codes, b), PICK(unsub_codes, b >> 4)};
        mqttc_ack_info ai = {0};
        ai.type = MQTTC_UNSUBACK;
        ai.packet_id = pick_id(f, in, IDS_UNSUBSCRIBE);
        ai.codes = two;
        ai.count = (b & 64) ? 2 : 1;
        ai.props = ps;
        mqttc_encode_ack(buf, cap, MQTTC_PROTOCOL_5, &ai, n);
        return;
    }
    case 8: mqttc_encode_ping(buf, cap, MQTTC_PINGRESP, n); return;
    case 9: {
        mqttc_disconnect_info di = {0};
        di.reason_code = PICK(bye_codes, b >> 4);
        if (b & 1) pr[ps.count++] = mqttc_prop_str(MQTTC_PROP_SERVER_REFERENCE, "elsewhere");
        di.props = ps;
        mqttc_encode_disconnect(buf, cap, MQTTC_PROTOCOL_5, &di, n);
        return;
    }
    default: {
        mqttc_auth_info au = {0};
        au.reason_code = PICK(auth_codes, b >> 4);
        if (!(b & 1)) pr[ps.count++] = mqttc_prop_str(MQTTC_PROP_AUTH_METHOD, (b & 2) ? "x" : "m");
        if (b & 4) pr[ps.count++] = mqttc_prop_bin(MQTTC_PROP_AUTH_DATA, (b & 64) ? "no" : "challenge", (b & 64) ? 2 : 9);
        au.props = ps;
        mqttc_encode_auth(buf, cap, MQTTC_PROTOCOL_5, &au, n);
        return;
    }
    }
}

/* A well-formed broker packet, with ids the client used. */
static void feed_packet(fz *f, fz_input *in) {
    unsigned char buf[600];
    size_t n = 0;
    unsigned kind = fz_byte(in) % (f->v5 ? 11 : 9), b = fz_byte(in);
    if (f->v5) {
        feed_packet_v5(f, in, kind, b, buf, sizeof buf, &n);
        if (n) mem_feed(&f->link, buf, n); /* a refused one (id 0) feeds nothing */
        return;
    }
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
    int rc;
    if (f->v5) { /* properties, and the CONNACK's limits: refused, never sent past them */
        unsigned q = fz_byte(in);
        mqttc_prop pr[3];
        mqttc_publish_info pi = {0};
        pi.topic = topics[(b >> 2) % NTOPICS];
        pi.topic_len = strlen(pi.topic);
        pi.payload = payload;
        pi.payload_len = len;
        pi.qos = qos;
        pi.retain = (b >> 5) & 1;
        pi.props.list = pr;
        if (q & 1) pr[pi.props.count++] = mqttc_prop_user("k", "v");
        if (q & 2) pr[pi.props.count++] = mqttc_prop_int(MQTTC_PROP_MESSAGE_EXPIRY, 5);
        if (q & 4) pr[pi.props.count++] = mqttc_prop_int(MQTTC_PROP_PAYLOAD_FORMAT, 1); /* NULs: refused */
        rc = mqttc_publish_with(&f->c, &pi, &id);
        FUZZ_REQUIRE(rc != MQTTC_ERR_ARG || (q & 4));
        FUZZ_REQUIRE(rc == MQTTC_OK || rc == MQTTC_ERR_BUSY || rc == MQTTC_ERR_STATE || rc == f->c.error ||
                     rc == MQTTC_ERR_ARG || rc == MQTTC_ERR_QOS || rc == MQTTC_ERR_UNSUPPORTED || rc == MQTTC_ERR_TOOLARGE);
    } else {
        rc = mqttc_publish(&f->c, topics[(b >> 2) % NTOPICS], payload, len, qos, (b >> 5) & 1, &id);
        FUZZ_REQUIRE(rc == MQTTC_OK || rc == MQTTC_ERR_BUSY || rc == MQTTC_ERR_STATE || rc == f->c.error);
    }
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
    if (f->v5 && subscribe && (b & 7) == 7) { /* MQTT 5 options, a shared filter */
        unsigned q = fz_byte(in);
        char shared[32];
        const char *one[1] = {filter};
        unsigned char opt[1];
        mqttc_subscribe_info si = {0};
        snprintf(shared, sizeof shared, "$share/g/%s", filter);
        if (q & 1) one[0] = shared;
        opt[0] = (unsigned char)(qos[0] | (q & 2 ? MQTTC_SUB_NO_LOCAL : 0u) | (q & 4 ? MQTTC_SUB_RETAIN_AS_PUBLISHED : 0u) |
                                 MQTTC_SUB_RETAIN_HANDLING((q >> 3) % 3));
        si.filters = one;
        si.options = opt;
        si.count = 1;
        rc = mqttc_subscribe_with(&f->c, &si, on_suback, (b & 64) ? on_message : NULL, f, &id);
        FUZZ_REQUIRE(rc != MQTTC_ERR_ARG || ((q & 1) && (q & 2))); /* No Local on a shared filter [MQTT-3.8.3-4] */
    } else if (b & 128) /* several filters in one packet */
        rc = subscribe ? mqttc_subscribe_many(&f->c, two, qos, 2, on_suback, (b & 64) ? on_message : NULL, f, &id)
                       : mqttc_unsubscribe_many(&f->c, two, 2, on_unsuback, f, &id);
    else
        rc = subscribe ? mqttc_subscribe(&f->c, filter, qos[0], on_suback, (b & 64) ? on_message : NULL, f, &id)
                       : mqttc_unsubscribe(&f->c, filter, on_unsuback, f, &id);
    FUZZ_REQUIRE(rc == MQTTC_OK || rc == MQTTC_ERR_BUSY || rc == MQTTC_ERR_STATE || rc == f->c.error ||
                 (f->v5 && (rc == MQTTC_ERR_UNSUPPORTED || rc == MQTTC_ERR_TOOLARGE || rc == MQTTC_ERR_ARG)));
    if (rc == MQTTC_OK) f->requests[id] = (b & 128) && !(f->v5 && subscribe && (b & 7) == 7) ? 2 : 1;
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
    case 8:
        if (f->v5 && (fz_byte(in) & 1)) { /* MQTT 5: with the will, or a reason and a Reason String */
            mqttc_disconnect_info di = {0};
            mqttc_prop why = mqttc_prop_str(MQTTC_PROP_REASON_STRING, "bye");
            di.reason_code = (f->now & 1) ? MQTTC_RC_DISCONNECT_WITH_WILL : MQTTC_RC_UNSPECIFIED;
            di.props.list = &why;
            di.props.count = 1;
            (void)mqttc_disconnect_with(&f->c, &di);
        } else {
            (void)mqttc_disconnect(&f->c);
        }
        break;
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
        if (f->v5 && (b & 4)) { /* MQTT 5 re-authentication [MQTT-4.12.1-1] */
            int rc = mqttc_reauthenticate(&f->c, "again", 5);
            FUZZ_REQUIRE(rc == MQTTC_OK || rc == MQTTC_ERR_STATE || rc == f->c.error);
        } else if (b & 2) {
            mqttc_pause(&f->c, b & 1); /* flow control */
        } else {
            mqttc_cork(&f->c, b & 1);
        }
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

/* MQTT 5 enhanced authentication: the broker's challenge (0x18) is answered, unless its
   Authentication Data says "no" (then DISCONNECT 0x87 and MQTTC_ERR_AUTH). */
static int on_auth(mqttc_client *c, const mqttc_auth_info *in, mqttc_str *out, void *user) {
    fz *f = (fz *)user;
    mqttc_prop data;
    (void)c;
    FUZZ_REQUIRE(f->v5 && (!f->c.opt.lock || f->lock_depth > 0));
    FUZZ_REQUIRE(in->reason_code == MQTTC_RC_CONTINUE_AUTH);
    if (mqttc_props_get(&in->props, MQTTC_PROP_AUTH_DATA, &data) && data.str.len == 2) return 1;
    out->ptr = "response";
    out->len = 8;
    return 0;
}

/* One option that mqttc_init must refuse (MQTTC_ERR_ARG), by number: 3.1.1's rules, then
   MQTT 5's (its options without protocol_version 5, properties that do not belong). */
static void break_option(mqttc_options *o, unsigned which) {
    static const unsigned char bad_utf8[] = {'a', 0xC0, 0x80, 0};
    static const unsigned char alias_prop[] = {MQTTC_PROP_TOPIC_ALIAS, 0x00, 0x01};
    static const unsigned char delay_prop[] = {MQTTC_PROP_WILL_DELAY, 0x00, 0x00, 0x00, 0x05};
    switch (which % 12) {
    case 8: o->protocol_version = MQTTC_PROTOCOL_311; o->topic_alias_in = 2; break;
    case 9: /* a Topic Alias in CONNECT */
        o->protocol_version = MQTTC_PROTOCOL_5;
        o->connect_props.ptr = alias_prop;
        o->connect_props.len = sizeof alias_prop;
        break;
    case 10: /* will properties without a will */
        o->protocol_version = MQTTC_PROTOCOL_5;
        o->will_topic = NULL; o->will_payload = NULL; o->will_payload_len = 0; o->will_qos = 0;
        o->will_props.ptr = delay_prop;
        o->will_props.len = sizeof delay_prop;
        break;
    case 11: o->protocol_version = 3; break;
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
    f->v5 = !must_refuse && (b5 & 16);
    if (f->v5) { /* MQTT 5: aliases both ways, a kept session that lasts, authentication */
        static const unsigned char auth_props[] = {MQTTC_PROP_AUTH_METHOD, 0x00, 0x01, 'm', MQTTC_PROP_USER,
                                                   0x00, 0x01, 'k', 0x00, 0x01, 'v'};
        o->protocol_version = MQTTC_PROTOCOL_5;
        o->topic_alias_in = (b5 & 32) ? 3 : 0;
        o->topic_alias_out = (b5 & 64) ? 2 : 0;
        o->session_expiry_s = o->no_clean_session ? 600 : 0;
        if (b5 & 128) {
            o->connect_props.ptr = auth_props;
            o->connect_props.len = sizeof auth_props;
            o->on_auth = on_auth;
        }
    }
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
    o->on_dropped = on_dropped;
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
