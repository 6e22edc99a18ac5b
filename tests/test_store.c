/* The durable store (section 13, issue 17): the client's calls to options.store at the
   moments that matter, with a test store in memory that records every call (and the output
   and deliveries as they were at that moment) and fails the call it is told to; the session
   loaded back by mqttc_init; and the bundled file store on a temporary directory: round
   trips, reopening, escaping, the lock, compaction, torn and corrupt records. */
#define _POSIX_C_SOURCE 200809L
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>
#define MQTTC_IMPLEMENTATION
#include "mqttc.h"
#include "test.h"
#include "tests/dropped.h"

/* ---- the test store ---- */

enum { OP_PUT = 'P', OP_REMOVE = 'R', OP_FLUSH = 'F', OP_LOAD = 'L' };

typedef struct call {
    int op, kind, incoming;
    unsigned short id;
    unsigned char data[512];
    size_t len;
    size_t out_len_then; /* what the client had sent when the call came */
    int delivered_then;  /* messages delivered when the call came */
} call;

typedef struct held {
    int kind;
    unsigned short id;
    unsigned char data[512];
    size_t len;
} held;

typedef struct tstore {
    mqttc_store st;
    call calls[256];
    int n;
    held recs[64];
    int nrecs;
    int fail_put, fail_remove, fail_flush; /* how many of the next such calls fail */
    int fail_kind;                         /* only puts of this kind fail (0: any) */
    int fail_load;
    mem_link *link;
} tstore;

static int delivered;

static int ts_should_fail(tstore *s, int op, int kind) {
    int *n = op == OP_PUT ? &s->fail_put : op == OP_REMOVE ? &s->fail_remove : &s->fail_flush;
    if (*n > 0 && (op != OP_PUT || !s->fail_kind || s->fail_kind == kind)) {
        (*n)--;
        return 1;
    }
    return 0;
}

static call *ts_log(tstore *s, int op) {
    call *c = &s->calls[s->n < 255 ? s->n++ : 255];
    memset(c, 0, sizeof *c);
    c->op = op;
    c->out_len_then = s->link ? s->link->out_len : 0;
    c->delivered_then = delivered;
    return c;
}

static int ts_find(tstore *s, int incoming, unsigned short id) {
    for (int i = 0; i < s->nrecs; i++)
        if (s->recs[i].id == id && (s->recs[i].kind == MQTTC_STORED_PUBREC) == incoming) return i;
    return -1;
}

static void ts_drop(tstore *s, int i) {
    memmove(s->recs + i, s->recs + i + 1, (size_t)(s->nrecs - i - 1) * sizeof *s->recs);
    s->nrecs--;
}

static void ts_hold(tstore *s, int kind, unsigned short id, const void *data, size_t len) {
    int i = ts_find(s, kind == MQTTC_STORED_PUBREC, id);
    if (i >= 0) ts_drop(s, i);
    held *h = &s->recs[s->nrecs++];
    h->kind = kind;
    h->id = id;
    h->len = len < sizeof h->data ? len : sizeof h->data;
    if (len) memcpy(h->data, data, h->len);
}

static int ts_put(void *ctx, const mqttc_stored *r) {
    tstore *s = (tstore *)ctx;
    call *c = ts_log(s, OP_PUT);
    c->kind = r->kind;
    c->id = r->packet_id;
    c->len = r->len;
    if (r->len && r->data) memcpy(c->data, r->data, r->len < sizeof c->data ? r->len : sizeof c->data);
    if (ts_should_fail(s, OP_PUT, r->kind)) return MQTTC_ERR_STORE;
    ts_hold(s, r->kind, r->packet_id, r->data, r->len);
    return MQTTC_OK;
}

static int ts_remove(void *ctx, int is_incoming, unsigned short id) {
    tstore *s = (tstore *)ctx;
    call *c = ts_log(s, OP_REMOVE);
    c->incoming = is_incoming;
    c->id = id;
    if (ts_should_fail(s, OP_REMOVE, 0)) return MQTTC_ERR_STORE;
    int i = ts_find(s, is_incoming != 0, id);
    if (i >= 0) ts_drop(s, i);
    return MQTTC_OK;
}

static int ts_load(void *ctx, int (*each)(void *arg, const mqttc_stored *r), void *arg) {
    tstore *s = (tstore *)ctx;
    (void)ts_log(s, OP_LOAD);
    if (s->fail_load) return MQTTC_ERR_STORE;
    for (int i = 0; i < s->nrecs; i++) {
        mqttc_stored r;
        r.kind = s->recs[i].kind;
        r.packet_id = s->recs[i].id;
        r.data = s->recs[i].len ? s->recs[i].data : NULL;
        r.len = s->recs[i].len;
        int rc = each(arg, &r);
        if (rc != 0) return rc;
    }
    return MQTTC_OK;
}

static int ts_flush(void *ctx) {
    tstore *s = (tstore *)ctx;
    (void)ts_log(s, OP_FLUSH);
    return ts_should_fail(s, OP_FLUSH, 0) ? MQTTC_ERR_STORE : MQTTC_OK;
}

static void ts_init(tstore *s, mem_link *l) {
    memset(s, 0, sizeof *s);
    s->st.put = ts_put;
    s->st.remove = ts_remove;
    s->st.load = ts_load;
    s->st.flush = ts_flush;
    s->st.ctx = s;
    s->link = l;
}

/* The calls other than flush, from index *from on: the next one, or NULL. */
static const call *ts_next(const tstore *s, int *from) {
    while (*from < s->n && s->calls[*from].op == OP_FLUSH) (*from)++;
    return *from < s->n ? &s->calls[(*from)++] : NULL;
}

static int ts_count(const tstore *s, int op) {
    int k = 0;
    for (int i = 0; i < s->n; i++) k += s->calls[i].op == op;
    return k;
}

/* ---- the client ---- */

static void on_message(mqttc_client *c, const mqttc_message *m, void *u) {
    (void)c;
    (void)m;
    (void)u;
    delivered++;
}

static const unsigned char CONNACK_SP[] = {0x20, 0x02, 0x01, 0x00};

static void options_for(mqttc_options *o, tstore *s) {
    memset(o, 0, sizeof *o);
    o->client_id = "store-tester";
    o->no_clean_session = 1;
    o->on_message = on_message;
    o->on_dropped = on_dropped;
    o->store = s ? &s->st : NULL;
    delivered = dropped = 0;
}

/* Connected over l: CONNECT sent, the CONNACK given handled (session present or not). */
static void connect_with(mqttc_client *c, mem_link *l, const mqttc_options *o, const unsigned char *connack) {
    mqttc_transport t = mem_transport(l);
    CHECK_RC(mqttc_init(c, o), MQTTC_OK);
    CHECK_RC(mqttc_start_transport(c, &t, 0), MQTTC_OK);
    mem_feed(l, connack, 4);
    for (int i = 0; i < 10 && mqttc_state(c) == MQTTC_STATE_CONNACK_WAIT; i++) mqttc_step(c, 0);
    CHECK_EQ_INT(mqttc_state(c), MQTTC_STATE_CONNECTED);
}

/* The first packet of `type` the client sent from byte *pos on (*pos moves past it), its
   start in *at; 0 when none. */
static int sent_find(mem_link *l, size_t *pos, int type, test_packet *p, size_t *at) {
    size_t before = *pos;
    while (test_next_sent(l, pos, p)) {
        if (p->type == type) {
            if (at) *at = before;
            return 1;
        }
        before = *pos;
    }
    return 0;
}

static int sent_count(mem_link *l, size_t from, int type) {
    test_packet p;
    int k = 0;
    while (test_next_sent(l, &from, &p)) k += p.type == type;
    return k;
}

static void step(mqttc_client *c, int times) {
    for (int i = 0; i < times; i++) mqttc_step(c, 0);
}

/* Publish QoS 1: put PUBLISH before mqttc_publish returns, the data the PUBLISH itself;
   PUBACK: remove. QoS 0: never stored. */
TEST(publish_qos1_put_then_puback_removes) {
    tstore s;
    mem_link l = {0};
    mqttc_client c;
    mqttc_options o;
    unsigned short id = 0;
    ts_init(&s, &l);
    options_for(&o, &s);
    connect_with(&c, &l, &o, TEST_CONNACK_OK);
    int from = s.n;
    CHECK_RC(mqttc_publish(&c, "a/b", "hello", 5, 1, 0, &id), MQTTC_OK);
    const call *k = ts_next(&s, &from);
    CHECK(k && k->op == OP_PUT && k->kind == MQTTC_STORED_PUBLISH && k->id == id && id != 0);
    if (k) {
        mqttc_packet p;
        size_t used = 0;
        CHECK_RC(mqttc_decode(k->data, k->len, 0, MQTTC_PROTOCOL_311, &p, &used), MQTTC_OK);
        CHECK_EQ_INT(used, k->len);
        /* DUP set in the stored copy: it is written at once (the store's "written" mark) */
        CHECK(p.type == MQTTC_PUBLISH && p.publish.qos == 1 && p.publish.packet_id == id && p.publish.dup);
        CHECK(p.publish.topic_len == 3 && memcmp(p.publish.topic, "a/b", 3) == 0);
        CHECK(p.publish.payload_len == 5 && memcmp(p.publish.payload, "hello", 5) == 0);
    }
    CHECK(ts_next(&s, &from) == NULL);
    CHECK_RC(mqttc_publish(&c, "a/b", "zero", 4, 0, 0, NULL), MQTTC_OK);
    CHECK(ts_next(&s, &from) == NULL); /* QoS 0: never stored */
    step(&c, 1);
    {
        size_t pos = 0;
        test_packet tp;
        CHECK(sent_find(&l, &pos, MQTTC_PUBLISH, &tp, NULL) && tp.packet_id == id && !tp.dup); /* first send: DUP 0 */
    }
    test_feed_ack(&l, MQTTC_PUBACK, id);
    step(&c, 1);
    k = ts_next(&s, &from);
    CHECK(k && k->op == OP_REMOVE && !k->incoming && k->id == id);
    CHECK(ts_next(&s, &from) == NULL);
    CHECK_EQ_INT(s.nrecs, 0);
    CHECK_EQ_INT(mqttc_state(&c), MQTTC_STATE_CONNECTED);
    mqttc_deinit(&c);
    mem_free(&l);
}

/* QoS 2 out: put PUBLISH; PUBREC: put PUBREL (same id) replacing it; PUBCOMP: remove. */
TEST(publish_qos2_put_pubrel_then_pubcomp_removes) {
    tstore s;
    mem_link l = {0};
    mqttc_client c;
    mqttc_options o;
    unsigned short id = 0;
    ts_init(&s, &l);
    options_for(&o, &s);
    connect_with(&c, &l, &o, TEST_CONNACK_OK);
    int from = s.n;
    CHECK_RC(mqttc_publish(&c, "q2", "two", 3, 2, 0, &id), MQTTC_OK);
    const call *k = ts_next(&s, &from);
    CHECK(k && k->op == OP_PUT && k->kind == MQTTC_STORED_PUBLISH && k->id == id);
    if (k) {
        mqttc_packet p;
        size_t used = 0;
        CHECK(mqttc_decode(k->data, k->len, 0, MQTTC_PROTOCOL_311, &p, &used) == MQTTC_OK && used == k->len &&
              p.type == MQTTC_PUBLISH && p.publish.qos == 2 && p.publish.packet_id == id);
    }
    step(&c, 1);
    size_t before = l.out_len;
    test_feed_ack(&l, MQTTC_PUBREC, id);
    step(&c, 1);
    k = ts_next(&s, &from);
    CHECK(k && k->op == OP_PUT && k->kind == MQTTC_STORED_PUBREL && k->id == id && k->len == 0);
    CHECK(ts_next(&s, &from) == NULL);
    CHECK(s.nrecs == 1 && s.recs[0].kind == MQTTC_STORED_PUBREL && s.recs[0].id == id);
    CHECK_EQ_INT(sent_count(&l, before, MQTTC_PUBREL), 1);
    test_feed_ack(&l, MQTTC_PUBCOMP, id);
    step(&c, 1);
    k = ts_next(&s, &from);
    CHECK(k && k->op == OP_REMOVE && !k->incoming && k->id == id);
    CHECK_EQ_INT(s.nrecs, 0);
    CHECK_EQ_INT(mqttc_inflight(&c), 0);
    mqttc_deinit(&c);
    mem_free(&l);
}

/* Incoming QoS 2: put PUBREC before the handler runs and before PUBREC is written; PUBREL:
   remove before PUBCOMP is written. Incoming QoS 1 is not stored. */
TEST(incoming_qos2_put_before_pubrec_and_handler) {
    tstore s;
    mem_link l = {0};
    mqttc_client c;
    mqttc_options o;
    ts_init(&s, &l);
    options_for(&o, &s);
    connect_with(&c, &l, &o, TEST_CONNACK_OK);
    int from = s.n;
    test_feed_publish(&l, "in/1", "one", 1, 3);
    step(&c, 1);
    CHECK_EQ_INT(delivered, 1);
    CHECK(ts_next(&s, &from) == NULL); /* QoS 1 in: nothing to keep */
    size_t before = l.out_len;
    test_feed_publish(&l, "in/2", "two", 2, 5);
    step(&c, 1);
    CHECK_EQ_INT(delivered, 2);
    const call *k = ts_next(&s, &from);
    CHECK(k && k->op == OP_PUT && k->kind == MQTTC_STORED_PUBREC && k->id == 5 && k->len == 0);
    size_t pos = before, at = 0;
    test_packet p;
    CHECK(sent_find(&l, &pos, MQTTC_PUBREC, &p, &at) && p.packet_id == 5);
    if (k) {
        CHECK_EQ_INT(k->delivered_then, 1); /* before the handler */
        CHECK(k->out_len_then <= at);       /* before PUBREC was written */
    }
    before = l.out_len;
    test_feed_ack(&l, MQTTC_PUBREL, 5);
    step(&c, 1);
    k = ts_next(&s, &from);
    CHECK(k && k->op == OP_REMOVE && k->incoming && k->id == 5);
    pos = before;
    CHECK(sent_find(&l, &pos, MQTTC_PUBCOMP, &p, &at) && p.packet_id == 5);
    if (k) CHECK(k->out_len_then <= at); /* before PUBCOMP was written */
    CHECK_EQ_INT(s.nrecs, 0);
    mqttc_deinit(&c);
    mem_free(&l);
}

/* Flush: once per mqttc_step, whatever the step did. */
TEST(flush_once_per_step) {
    tstore s;
    mem_link l = {0};
    mqttc_client c;
    mqttc_options o;
    ts_init(&s, &l);
    options_for(&o, &s);
    connect_with(&c, &l, &o, TEST_CONNACK_OK);
    int flushes = ts_count(&s, OP_FLUSH);
    for (int i = 0; i < 7; i++) {
        if (i == 2) mqttc_publish(&c, "x", "y", 1, 1, 0, NULL);
        if (i == 4) test_feed_publish(&l, "in", "z", 2, 9);
        mqttc_step(&c, 0);
        CHECK_EQ_INT(ts_count(&s, OP_FLUSH), flushes + i + 1);
    }
    mqttc_deinit(&c);
    mem_free(&l);
}

/* A put that fails inside mqttc_publish: MQTTC_ERR_STORE, nothing sent, not in flight, and
   the connection goes on. */
TEST(publish_put_fails_message_not_taken) {
    tstore s;
    mem_link l = {0};
    mqttc_client c;
    mqttc_options o;
    unsigned short id = 77;
    ts_init(&s, &l);
    options_for(&o, &s);
    connect_with(&c, &l, &o, TEST_CONNACK_OK);
    step(&c, 1);
    size_t before = l.out_len;
    unsigned inflight = mqttc_inflight(&c);
    for (int qos = 1; qos <= 2; qos++) {
        s.fail_put = 1;
        CHECK_RC(mqttc_publish(&c, "f", "x", 1, qos, 0, &id), MQTTC_ERR_STORE);
        CHECK_EQ_INT(mqttc_inflight(&c), inflight);
        CHECK_EQ_INT(s.nrecs, 0);
    }
    CHECK_RC(mqttc_step(&c, 0), MQTTC_OK);
    CHECK_EQ_INT(sent_count(&l, before, MQTTC_PUBLISH), 0);
    CHECK_EQ_INT(l.out_len, before);
    CHECK_EQ_INT(mqttc_state(&c), MQTTC_STATE_CONNECTED);
    CHECK_RC(mqttc_publish(&c, "f", "x", 1, 1, 0, &id), MQTTC_OK); /* the next one goes */
    step(&c, 1);
    CHECK_EQ_INT(sent_count(&l, before, MQTTC_PUBLISH), 1);
    CHECK_EQ_INT(mqttc_inflight(&c), inflight + 1);
    mqttc_deinit(&c);
    mem_free(&l);
}

/* The same for a publish held in the queue (window full). */
TEST(held_publish_put_fails_message_not_taken) {
    tstore s;
    mem_link l = {0};
    mqttc_client c;
    mqttc_options o;
    ts_init(&s, &l);
    options_for(&o, &s);
    o.max_inflight = 1;
    o.queue_bytes = 1000;
    connect_with(&c, &l, &o, TEST_CONNACK_OK);
    CHECK_RC(mqttc_publish(&c, "w", "1", 1, 1, 0, NULL), MQTTC_OK);
    CHECK_EQ_INT(mqttc_inflight(&c), 1);
    s.fail_put = 1;
    CHECK_RC(mqttc_publish(&c, "w", "2", 1, 2, 0, NULL), MQTTC_ERR_STORE);
    CHECK_EQ_INT(mqttc_inflight(&c), 1);
    CHECK_EQ_INT(mqttc_queued(&c), 0);
    CHECK_EQ_INT(s.nrecs, 1);
    CHECK_RC(mqttc_step(&c, 0), MQTTC_OK);
    CHECK_EQ_INT(mqttc_state(&c), MQTTC_STATE_CONNECTED);
    mqttc_deinit(&c);
    mem_free(&l);
}

/* A remove or put that fails outside mqttc_publish, or a flush that fails: the connection
   ends with MQTTC_ERR_STORE at the end of that step. */
static void failing_call_ends_connection(int op, int kind, int ack) {
    tstore s;
    mem_link l = {0};
    mqttc_client c;
    mqttc_options o;
    unsigned short id = 0;
    ts_init(&s, &l);
    options_for(&o, &s);
    connect_with(&c, &l, &o, TEST_CONNACK_OK);
    CHECK_RC(mqttc_publish(&c, "e", "x", 1, ack == MQTTC_PUBACK ? 1 : 2, 0, &id), MQTTC_OK);
    CHECK_RC(mqttc_step(&c, 0), MQTTC_OK);
    s.fail_kind = kind;
    if (op == OP_PUT) s.fail_put = 1;
    if (op == OP_REMOVE) s.fail_remove = 1;
    if (op == OP_FLUSH) s.fail_flush = 1;
    if (ack) test_feed_ack(&l, ack, id);
    CHECK_RC(mqttc_step(&c, 0), MQTTC_ERR_STORE);
    CHECK_EQ_INT(mqttc_state(&c), MQTTC_STATE_CLOSED);
    CHECK_RC(mqttc_error(&c), MQTTC_ERR_STORE);
    mqttc_deinit(&c);
    mem_free(&l);
}

TEST(failing_remove_on_puback_ends_connection) { failing_call_ends_connection(OP_REMOVE, 0, MQTTC_PUBACK); }
TEST(failing_put_pubrel_ends_connection) { failing_call_ends_connection(OP_PUT, MQTTC_STORED_PUBREL, MQTTC_PUBREC); }
TEST(failing_flush_ends_connection) { failing_call_ends_connection(OP_FLUSH, 0, 0); }

TEST(failing_remove_on_pubcomp_ends_connection) {
    tstore s;
    mem_link l = {0};
    mqttc_client c;
    mqttc_options o;
    unsigned short id = 0;
    ts_init(&s, &l);
    options_for(&o, &s);
    connect_with(&c, &l, &o, TEST_CONNACK_OK);
    CHECK_RC(mqttc_publish(&c, "e", "x", 1, 2, 0, &id), MQTTC_OK);
    test_feed_ack(&l, MQTTC_PUBREC, id);
    CHECK_RC(mqttc_step(&c, 0), MQTTC_OK);
    s.fail_remove = 1;
    test_feed_ack(&l, MQTTC_PUBCOMP, id);
    CHECK_RC(mqttc_step(&c, 0), MQTTC_ERR_STORE);
    CHECK_RC(mqttc_error(&c), MQTTC_ERR_STORE);
    mqttc_deinit(&c);
    mem_free(&l);
}

/* An incoming QoS 2 whose put fails: not delivered, no PUBREC, the connection ends. The
   remove of an incoming flow failing (PUBREL) ends it too. */
TEST(incoming_qos2_put_fails_not_delivered) {
    tstore s;
    mem_link l = {0};
    mqttc_client c;
    mqttc_options o;
    ts_init(&s, &l);
    options_for(&o, &s);
    connect_with(&c, &l, &o, TEST_CONNACK_OK);
    step(&c, 1);
    size_t before = l.out_len;
    s.fail_put = 1;
    test_feed_publish(&l, "in", "x", 2, 4);
    int rc = mqttc_step(&c, 0);
    CHECK_RC(rc, MQTTC_ERR_STORE);
    CHECK_EQ_INT(delivered, 0);
    CHECK_EQ_INT(sent_count(&l, before, MQTTC_PUBREC), 0);
    CHECK_EQ_INT(mqttc_state(&c), MQTTC_STATE_CLOSED);
    CHECK_RC(mqttc_error(&c), MQTTC_ERR_STORE);
    mqttc_deinit(&c);
    mem_free(&l);

    ts_init(&s, &l);
    options_for(&o, &s);
    connect_with(&c, &l, &o, TEST_CONNACK_OK);
    test_feed_publish(&l, "in", "x", 2, 4);
    CHECK_RC(mqttc_step(&c, 0), MQTTC_OK);
    s.fail_remove = 1;
    test_feed_ack(&l, MQTTC_PUBREL, 4);
    CHECK_RC(mqttc_step(&c, 0), MQTTC_ERR_STORE);
    CHECK_RC(mqttc_error(&c), MQTTC_ERR_STORE);
    mqttc_deinit(&c);
    mem_free(&l);
}

/* A message given up (queue_drop_oldest) is removed from the store. */
TEST(dropped_oldest_is_removed) {
    tstore s;
    mem_link l = {0};
    mqttc_client c;
    mqttc_options o;
    unsigned short ids[4] = {0};
    ts_init(&s, &l);
    options_for(&o, &s);
    o.max_inflight = 1;
    o.queue_bytes = 16; /* two of 8 bytes */
    o.queue_drop_oldest = 1;
    connect_with(&c, &l, &o, TEST_CONNACK_OK);
    for (int i = 0; i < 4; i++) CHECK_RC(mqttc_publish(&c, "q", "x", 1, 1 + i % 2, 0, &ids[i]), MQTTC_OK);
    CHECK_EQ_INT(dropped, 1);
    CHECK(dropped_why[0] == MQTTC_ERR_QUEUEFULL && dropped_ids[0] == ids[1]);
    CHECK(ts_find(&s, 0, ids[1]) < 0);
    CHECK(ts_find(&s, 0, ids[0]) >= 0 && ts_find(&s, 0, ids[2]) >= 0 && ts_find(&s, 0, ids[3]) >= 0);
    int removes = 0;
    for (int i = 0; i < s.n; i++) removes += s.calls[i].op == OP_REMOVE && s.calls[i].id == ids[1] && !s.calls[i].incoming;
    CHECK_EQ_INT(removes, 1);
    CHECK_RC(mqttc_step(&c, 0), MQTTC_OK);
    mqttc_deinit(&c);
    mem_free(&l);
}

/* The remove of a dropped message fails, and then the new message's put fails too:
   mqttc_publish returns MQTTC_ERR_STORE for the new one, but the failed remove (the given-up
   message stays in the store and would be resent after a restart) must still end the
   connection at the next step. */
TEST(failed_remove_of_dropped_not_forgotten_by_failed_put) {
    tstore s;
    mem_link l = {0};
    mqttc_client c;
    mqttc_options o;
    ts_init(&s, &l);
    options_for(&o, &s);
    o.max_inflight = 1;
    o.queue_bytes = 16;
    o.queue_drop_oldest = 1;
    connect_with(&c, &l, &o, TEST_CONNACK_OK);
    for (int i = 0; i < 3; i++) CHECK_RC(mqttc_publish(&c, "q", "x", 1, 1, 0, NULL), MQTTC_OK);
    s.fail_remove = 1;
    CHECK_RC(mqttc_publish(&c, "q", "x", 1, 1, 0, NULL), MQTTC_OK); /* drops one; its remove fails */
    CHECK_EQ_INT(dropped, 1);
    CHECK_RC(mqttc_step(&c, 0), MQTTC_ERR_STORE); /* the failed remove ends it */
    mqttc_deinit(&c);
    mem_free(&l);

    ts_init(&s, &l);
    options_for(&o, &s);
    o.max_inflight = 1;
    o.queue_bytes = 16;
    o.queue_drop_oldest = 1;
    connect_with(&c, &l, &o, TEST_CONNACK_OK);
    for (int i = 0; i < 3; i++) CHECK_RC(mqttc_publish(&c, "q", "x", 1, 1, 0, NULL), MQTTC_OK);
    s.fail_remove = 1;
    s.fail_put = 1;
    CHECK_RC(mqttc_publish(&c, "q", "x", 1, 1, 0, NULL), MQTTC_ERR_STORE); /* the new one's put failed */
    CHECK_EQ_INT(dropped, 1); /* the oldest was given up all the same... */
    CHECK_EQ_INT(s.nrecs, 3); /* ...and is still in the store (its remove failed) */
    CHECK_RC(mqttc_step(&c, 0), MQTTC_ERR_STORE); /* so the connection must end ("store") */
    mqttc_deinit(&c);
    mem_free(&l);
}

/* ---- the session loaded back (mqttc_init) ---- */

/* A PUBLISH packet's bytes (3.1.1). */
static size_t publish_bytes(unsigned char *b, size_t cap, const char *topic, const char *payload, int qos, unsigned short id) {
    return test_publish_bytes(b, cap, topic, payload, strlen(payload), qos, 0, 0, id);
}

/* The store holds PUBLISH QoS 1 id 7, PUBLISH QoS 2 id 9 (both written: DUP set in the
   stored copy), PUBREL 11, PUBREC (incoming) 5. */
static void preload(tstore *s) {
    unsigned char b[128];
    size_t n = publish_bytes(b, sizeof b, "r/7", "seven", 1, 7);
    b[0] |= 8u;
    ts_hold(s, MQTTC_STORED_PUBLISH, 7, b, n);
    n = publish_bytes(b, sizeof b, "r/9", "nine", 2, 9);
    b[0] |= 8u;
    ts_hold(s, MQTTC_STORED_PUBLISH, 9, b, n);
    ts_hold(s, MQTTC_STORED_PUBREL, 11, NULL, 0);
    ts_hold(s, MQTTC_STORED_PUBREC, 5, NULL, 0);
}

/* Session present 1: resent with their ids and DUP, PUBREL pending, in that order; the
   incoming id remembered (answered, not delivered again); new ids after the highest. */
TEST(resume_session_present) {
    tstore s;
    mem_link l = {0};
    mqttc_client c;
    mqttc_options o;
    test_packet p;
    ts_init(&s, &l);
    preload(&s);
    options_for(&o, &s);
    CHECK_RC(mqttc_init(&c, &o), MQTTC_OK);
    CHECK_EQ_INT(mqttc_inflight(&c), 3);
    mqttc_deinit(&c);
    connect_with(&c, &l, &o, CONNACK_SP);
    CHECK_EQ_INT(mqttc_inflight(&c), 3);
    step(&c, 1);
    size_t pos = 0;
    CHECK(test_next_sent(&l, &pos, &p) && p.type == MQTTC_CONNECT);
    CHECK(test_next_sent(&l, &pos, &p) && p.type == MQTTC_PUBREL && p.packet_id == 11); /* PUBREL first */
    CHECK(test_next_sent(&l, &pos, &p) && p.type == MQTTC_PUBLISH && p.packet_id == 7 && p.dup && p.qos == 1);
    CHECK(p.raw.publish.payload_len == 5 && memcmp(p.raw.publish.payload, "seven", 5) == 0);
    CHECK(test_next_sent(&l, &pos, &p) && p.type == MQTTC_PUBLISH && p.packet_id == 9 && p.dup && p.qos == 2);
    CHECK(!test_next_sent(&l, &pos, &p));
    /* the broker sends incoming 5 again (DUP): PUBREC, not delivered */
    unsigned char b[128];
    size_t n = test_publish_bytes(b, sizeof b, "in/5", "five", 4, 2, 0, 1, 5);
    mem_feed(&l, b, n);
    step(&c, 1);
    CHECK_EQ_INT(delivered, 0);
    CHECK(test_next_sent(&l, &pos, &p) && p.type == MQTTC_PUBREC && p.packet_id == 5);
    test_feed_ack(&l, MQTTC_PUBREL, 5);
    step(&c, 1);
    CHECK(test_next_sent(&l, &pos, &p) && p.type == MQTTC_PUBCOMP && p.packet_id == 5);
    CHECK(ts_find(&s, 1, 5) < 0);
    /* the flows complete: the store empties */
    test_feed_ack(&l, MQTTC_PUBACK, 7);
    test_feed_ack(&l, MQTTC_PUBREC, 9);
    test_feed_ack(&l, MQTTC_PUBCOMP, 11);
    step(&c, 1);
    CHECK(ts_find(&s, 0, 7) < 0 && ts_find(&s, 0, 11) < 0);
    CHECK(ts_find(&s, 0, 9) >= 0 && s.recs[ts_find(&s, 0, 9)].kind == MQTTC_STORED_PUBREL);
    unsigned short id = 0;
    CHECK_RC(mqttc_publish(&c, "new", "x", 1, 1, 0, &id), MQTTC_OK);
    CHECK_EQ_INT(id, 12);
    mqttc_deinit(&c);
    mem_free(&l);
}

/* What is not what the client stored is skipped, never sent: a PUBLISH record whose data is
   no PUBLISH, is QoS 0, has another id, trailing bytes, no data; id 0; an unknown kind. */
TEST(resume_skips_garbage) {
    tstore s;
    mem_link l = {0};
    mqttc_client c;
    mqttc_options o;
    test_packet p;
    unsigned char b[128];
    size_t n;
    ts_init(&s, &l);
    static const unsigned char pubrel[] = {0x62, 0x02, 0x00, 0x03};
    ts_hold(&s, MQTTC_STORED_PUBLISH, 3, pubrel, sizeof pubrel);
    n = publish_bytes(b, sizeof b, "g", "qos0", 0, 0);
    ts_hold(&s, MQTTC_STORED_PUBLISH, 4, b, n);
    n = publish_bytes(b, sizeof b, "g", "other id", 1, 8);
    ts_hold(&s, MQTTC_STORED_PUBLISH, 6, b, n);
    n = publish_bytes(b, sizeof b, "g", "trailing", 1, 10);
    b[n] = 0;
    ts_hold(&s, MQTTC_STORED_PUBLISH, 10, b, n + 1);
    ts_hold(&s, MQTTC_STORED_PUBLISH, 12, NULL, 0);
    n = publish_bytes(b, sizeof b, "g", "cut", 1, 13);
    ts_hold(&s, MQTTC_STORED_PUBLISH, 13, b, n - 1);
    s.recs[s.nrecs].kind = 9; /* unknown kind */
    s.recs[s.nrecs].id = 14;
    s.recs[s.nrecs++].len = 0;
    s.recs[s.nrecs].kind = MQTTC_STORED_PUBREL; /* id 0 */
    s.recs[s.nrecs].id = 0;
    s.recs[s.nrecs++].len = 0;
    options_for(&o, &s);
    connect_with(&c, &l, &o, CONNACK_SP);
    CHECK_EQ_INT(mqttc_inflight(&c), 0);
    step(&c, 2);
    size_t pos = 0;
    CHECK(test_next_sent(&l, &pos, &p) && p.type == MQTTC_CONNECT);
    CHECK_MSG(!test_next_sent(&l, &pos, &p), "sent a packet of type %d id %u", p.type, p.packet_id);
    mqttc_deinit(&c);
    mem_free(&l);
}

/* Session present 0 (section 12): QoS 1 resent as new (DUP 0); QoS 2 (PUBLISH and PUBREL
   pending) reported to on_dropped as MQTTC_ERR_SESSION_LOST and removed from the store;
   the incoming id forgotten and removed. */
TEST(resume_session_lost) {
    tstore s;
    mem_link l = {0};
    mqttc_client c;
    mqttc_options o;
    test_packet p;
    ts_init(&s, &l);
    preload(&s);
    options_for(&o, &s);
    connect_with(&c, &l, &o, TEST_CONNACK_OK);
    step(&c, 1);
    size_t pos = 0;
    CHECK(test_next_sent(&l, &pos, &p) && p.type == MQTTC_CONNECT);
    CHECK(test_next_sent(&l, &pos, &p) && p.type == MQTTC_PUBLISH && p.packet_id == 7 && !p.dup && p.qos == 1);
    CHECK_MSG(!test_next_sent(&l, &pos, &p), "sent a packet of type %d id %u", p.type, p.packet_id);
    CHECK_EQ_INT(dropped, 2);
    CHECK(dropped_why[0] == MQTTC_ERR_SESSION_LOST && dropped_why[1] == MQTTC_ERR_SESSION_LOST);
    CHECK((dropped_ids[0] == 9 && dropped_ids[1] == 11) || (dropped_ids[0] == 11 && dropped_ids[1] == 9));
    CHECK(ts_find(&s, 0, 9) < 0 && ts_find(&s, 0, 11) < 0 && ts_find(&s, 1, 5) < 0);
    CHECK(ts_find(&s, 0, 7) >= 0);
    CHECK_EQ_INT(s.nrecs, 1);
    CHECK_EQ_INT(mqttc_inflight(&c), 1);
    /* 5 is a new flow now: delivered */
    test_feed_publish(&l, "in/5", "again", 2, 5);
    step(&c, 1);
    CHECK_EQ_INT(delivered, 1);
    mqttc_deinit(&c);
    mem_free(&l);
}

/* A held publish (window full) is put unwritten (DUP 0 in the stored copy), put again
   marked written (DUP 1) when it leaves; one stored unwritten goes as new (DUP 0) after a
   restart, even to a broker that kept the session. */
TEST(held_then_written_and_unwritten_resumes_as_new) {
    tstore s;
    mem_link l = {0};
    mqttc_client c;
    mqttc_options o;
    unsigned short id1 = 0, id2 = 0;
    ts_init(&s, &l);
    options_for(&o, &s);
    o.max_inflight = 1;
    o.queue_bytes = 1000;
    connect_with(&c, &l, &o, TEST_CONNACK_OK);
    CHECK_RC(mqttc_publish(&c, "h", "1", 1, 1, 0, &id1), MQTTC_OK);
    int from = s.n;
    CHECK_RC(mqttc_publish(&c, "h", "2", 1, 2, 0, &id2), MQTTC_OK);
    const call *k = ts_next(&s, &from);
    CHECK(k && k->op == OP_PUT && k->kind == MQTTC_STORED_PUBLISH && k->id == id2 && k->len && !(k->data[0] & 8u));
    step(&c, 1);
    test_feed_ack(&l, MQTTC_PUBACK, id1);
    step(&c, 1);
    int puts = 0;
    for (int i = from; i < s.n; i++)
        if (s.calls[i].op == OP_PUT && s.calls[i].id == id2) {
            puts++;
            CHECK(s.calls[i].kind == MQTTC_STORED_PUBLISH && (s.calls[i].data[0] & 8u));
        }
    CHECK_EQ_INT(puts, 1);
    mqttc_deinit(&c);
    mem_free(&l);
    /* a store holding one never written: sent as new, DUP 0, with its id */
    ts_init(&s, &l);
    unsigned char b[64];
    size_t n = publish_bytes(b, sizeof b, "u", "unwritten", 2, 21);
    ts_hold(&s, MQTTC_STORED_PUBLISH, 21, b, n);
    options_for(&o, &s);
    connect_with(&c, &l, &o, CONNACK_SP);
    step(&c, 1);
    test_packet p;
    size_t pos = 0;
    CHECK(sent_find(&l, &pos, MQTTC_PUBLISH, &p, NULL) && p.packet_id == 21 && !p.dup && p.qos == 2);
    CHECK_EQ_INT(dropped, 0);
    CHECK_EQ_INT(mqttc_inflight(&c), 1);
    mqttc_deinit(&c);
    mem_free(&l);
}

/* A load that fails: mqttc_init says MQTTC_ERR_STORE; deinit frees what was loaded. */
TEST(resume_load_fails) {
    tstore s;
    mqttc_client c;
    mqttc_options o;
    ts_init(&s, NULL);
    preload(&s);
    s.fail_load = 1;
    options_for(&o, &s);
    CHECK_RC(mqttc_init(&c, &o), MQTTC_ERR_STORE);
    mqttc_deinit(&c);
}

/* ---- the file store ---- */

static char tmp_root[64];

static void rm_rf(const char *path) {
    struct stat st;
    if (lstat(path, &st) != 0) return;
    if (S_ISDIR(st.st_mode)) {
        DIR *d = opendir(path);
        struct dirent *e;
        while (d && (e = readdir(d)) != NULL) {
            if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
            char sub[4096];
            snprintf(sub, sizeof sub, "%s/%s", path, e->d_name);
            rm_rf(sub);
        }
        if (d) closedir(d);
        rmdir(path);
    } else {
        unlink(path);
    }
}

/* A fresh directory under the temporary root, for one test. */
static const char *fresh_dir(void) {
    static char dir[128];
    static int n;
    snprintf(dir, sizeof dir, "%s/t%d", tmp_root, n++);
    return dir;
}

typedef struct rec {
    int kind;
    unsigned short id;
    unsigned char data[1200];
    size_t len;
} rec;

typedef struct loaded {
    rec r[128];
    int n, bad;
} loaded;

static int collect(void *arg, const mqttc_stored *st) {
    loaded *L = (loaded *)arg;
    if (L->n >= 128) return 1;
    rec *r = &L->r[L->n++];
    r->kind = st->kind;
    r->id = st->packet_id;
    r->len = st->len;
    if (st->kind < MQTTC_STORED_PUBLISH || st->kind > MQTTC_STORED_PUBREC) L->bad++;
    if ((st->kind != MQTTC_STORED_PUBLISH) != (st->len == 0)) L->bad++;
    if (st->len > sizeof r->data) L->bad++;
    else if (st->len) memcpy(r->data, st->data, st->len);
    return 0;
}

static void load_all(mqttc_file_store *fs, loaded *L) {
    memset(L, 0, sizeof *L);
    CHECK_RC(fs->store.load(fs->store.ctx, collect, L), MQTTC_OK);
    CHECK_EQ_INT(L->bad, 0);
}

static int rec_eq(const rec *a, int kind, unsigned short id, const void *data, size_t len) {
    return a->kind == kind && a->id == id && a->len == len && (!len || memcmp(a->data, data, len) == 0);
}

static int fs_put(mqttc_file_store *fs, int kind, unsigned short id, const void *data, size_t len) {
    mqttc_stored r;
    r.kind = kind;
    r.packet_id = id;
    r.data = (const unsigned char *)data;
    r.len = len;
    return fs->store.put(fs->store.ctx, &r);
}

static unsigned char *read_file(const char *path, size_t *n) {
    FILE *f = fopen(path, "rb");
    unsigned char *b = NULL;
    *n = 0;
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long len = ftell(f);
    fseek(f, 0, SEEK_SET);
    b = (unsigned char *)malloc(len > 0 ? (size_t)len : 1);
    *n = fread(b, 1, (size_t)len, f);
    fclose(f);
    return b;
}

static void write_file(const char *path, const void *b, size_t n) {
    FILE *f = fopen(path, "wb");
    CHECK(f != NULL);
    if (!f) return;
    CHECK_EQ_INT(fwrite(b, 1, n, f), n);
    fclose(f);
}

/* A record's bytes as the format says, computed here (>>filestore): magic(4) op kind
   id(2) len(4) CRC-32 of those 12 (4), data, CRC-32 of the data (4), big-endian. A log
   starts with "MQTTCLOG", its magic and the CRC of those 12 bytes. */
enum { FILE_HEAD = 16, REC = 20 }; /* the log's header; a record without its data */

static void put32(unsigned char *p, uint32_t v) {
    p[0] = (unsigned char)(v >> 24);
    p[1] = (unsigned char)(v >> 16);
    p[2] = (unsigned char)(v >> 8);
    p[3] = (unsigned char)v;
}

static uint32_t magic_of(const unsigned char *log) {
    return (uint32_t)log[8] << 24 | (uint32_t)log[9] << 16 | (uint32_t)log[10] << 8 | log[11];
}

static size_t record_bytes(unsigned char *out, uint32_t magic, int op, int kind, unsigned short id, const void *data,
                           size_t len) {
    put32(out, magic);
    out[4] = (unsigned char)op;
    out[5] = (unsigned char)kind;
    out[6] = (unsigned char)(id >> 8);
    out[7] = (unsigned char)id;
    put32(out + 8, (uint32_t)len);
    put32(out + 12, mqttc__crc32(0, out, 12));
    if (len) memcpy(out + 16, data, len);
    put32(out + 16 + len, mqttc__crc32(0, out + 16, len));
    return REC + len;
}

static int contains(const unsigned char *hay, size_t n, const unsigned char *needle, size_t k) {
    for (size_t i = 0; i + k <= n; i++)
        if (!memcmp(hay + i, needle, k)) return 1;
    return 0;
}

TEST(crc32_is_ieee) {
    CHECK_EQ_INT(mqttc__crc32(0, (const unsigned char *)"123456789", 9), 0xCBF43926u);
    CHECK_EQ_INT(mqttc__crc32(0, NULL, 0), 0);
}

/* put / remove / load in order; a record put again keeps its place; outgoing and incoming
   ids are apart; closed and opened again: the same. */
TEST(file_store_round_trip_and_reopen) {
    mqttc_file_store fs;
    loaded L;
    const char *dir = fresh_dir();
    CHECK_RC(mqttc_file_store_open(&fs, dir, "rt", 0), MQTTC_OK);
    CHECK_EQ_INT(fs.skipped, 0);
    CHECK(fs.problem == NULL);
    load_all(&fs, &L);
    CHECK_EQ_INT(L.n, 0);
    CHECK_RC(fs_put(&fs, MQTTC_STORED_PUBLISH, 1, "one", 3), MQTTC_OK);
    CHECK_RC(fs_put(&fs, MQTTC_STORED_PUBREC, 2, NULL, 0), MQTTC_OK);
    CHECK_RC(fs_put(&fs, MQTTC_STORED_PUBREL, 3, NULL, 0), MQTTC_OK);
    CHECK_RC(fs_put(&fs, MQTTC_STORED_PUBLISH, 4, "four", 4), MQTTC_OK);
    CHECK_RC(fs_put(&fs, MQTTC_STORED_PUBREC, 4, NULL, 0), MQTTC_OK); /* incoming 4: apart */
    CHECK_RC(fs.store.remove(fs.store.ctx, 0, 1), MQTTC_OK);
    CHECK_RC(fs.store.remove(fs.store.ctx, 0, 99), MQTTC_OK); /* nothing held: fine */
    CHECK_RC(fs_put(&fs, MQTTC_STORED_PUBLISH, 3, "three", 5), MQTTC_OK); /* replaces PUBREL 3, in its place */
    CHECK_RC(fs_put(&fs, 0, 5, NULL, 0), MQTTC_ERR_ARG);
    CHECK_RC(fs_put(&fs, 4, 5, NULL, 0), MQTTC_ERR_ARG);
    CHECK_RC(fs.store.flush(fs.store.ctx), MQTTC_OK);
    for (int round = 0; round < 2; round++) {
        load_all(&fs, &L);
        CHECK_EQ_INT(L.n, 4);
        CHECK(rec_eq(&L.r[0], MQTTC_STORED_PUBREC, 2, NULL, 0));
        CHECK(rec_eq(&L.r[1], MQTTC_STORED_PUBLISH, 3, "three", 5));
        CHECK(rec_eq(&L.r[2], MQTTC_STORED_PUBLISH, 4, "four", 4));
        CHECK(rec_eq(&L.r[3], MQTTC_STORED_PUBREC, 4, NULL, 0));
        mqttc_file_store_close(&fs);
        CHECK_RC(mqttc_file_store_open(&fs, dir, "rt", 0), MQTTC_OK);
        CHECK_EQ_INT(fs.skipped, 0);
    }
    CHECK_RC(fs.store.remove(fs.store.ctx, 1, 4), MQTTC_OK);
    CHECK_RC(fs.store.remove(fs.store.ctx, 1, 2), MQTTC_OK);
    mqttc_file_store_close(&fs);
    CHECK_RC(mqttc_file_store_open(&fs, dir, "rt", 0), MQTTC_OK);
    load_all(&fs, &L);
    CHECK_EQ_INT(L.n, 2);
    CHECK(rec_eq(&L.r[0], MQTTC_STORED_PUBLISH, 3, "three", 5) && rec_eq(&L.r[1], MQTTC_STORED_PUBLISH, 4, "four", 4));
    mqttc_file_store_close(&fs);
}

/* flush_ms 0: each record is in the file when the call returns (the bytes the format
   says); flush_ms N: in the file too (written), synced later. */
TEST(file_store_each_call_reaches_the_file) {
    mqttc_file_store fs;
    const char *dir = fresh_dir();
    unsigned char want[64], *got;
    size_t n, k;
    for (int flush_ms = 0; flush_ms <= 1000; flush_ms += 1000) {
        CHECK_RC(mqttc_file_store_open(&fs, dir, flush_ms ? "f1000" : "f0", (unsigned)flush_ms), MQTTC_OK);
        CHECK_RC(fs_put(&fs, MQTTC_STORED_PUBLISH, 0x1234, "payload", 7), MQTTC_OK);
        got = read_file(fs.path, &n);
        uint32_t magic = got && n >= FILE_HEAD ? magic_of(got) : 0;
        k = record_bytes(want, magic, 1, MQTTC_STORED_PUBLISH, 0x1234, "payload", 7);
        CHECK(got && contains(got, n, want, k));
        free(got);
        CHECK_RC(fs_put(&fs, MQTTC_STORED_PUBREC, 7, NULL, 0), MQTTC_OK);
        got = read_file(fs.path, &n);
        k = record_bytes(want, magic, 1, MQTTC_STORED_PUBREC, 7, NULL, 0);
        CHECK(got && contains(got, n, want, k));
        free(got);
        CHECK_RC(fs.store.remove(fs.store.ctx, 1, 7), MQTTC_OK);
        got = read_file(fs.path, &n);
        k = record_bytes(want, magic, 2, 1, 7, NULL, 0);
        CHECK(got && n >= k && !memcmp(got + n - k, want, k)); /* appended last */
        free(got);
        CHECK_RC(fs.store.flush(fs.store.ctx), MQTTC_OK);
        mqttc_file_store_close(&fs);
    }
}

/* One process (one open) at a time: a second open is MQTTC_ERR_BUSY until the first
   closes. Bad arguments: MQTTC_ERR_ARG. */
TEST(file_store_lock_and_arguments) {
    mqttc_file_store a, b;
    const char *dir = fresh_dir();
    CHECK_RC(mqttc_file_store_open(&a, dir, "locked", 0), MQTTC_OK);
    CHECK_RC(mqttc_file_store_open(&b, dir, "locked", 0), MQTTC_ERR_BUSY);
    CHECK_RC(mqttc_file_store_open(&b, dir, "other", 0), MQTTC_OK); /* another id: its own */
    mqttc_file_store_close(&b);
    mqttc_file_store_close(&a);
    CHECK_RC(mqttc_file_store_open(&b, dir, "locked", 0), MQTTC_OK);
    mqttc_file_store_close(&b);
    CHECK_RC(mqttc_file_store_open(&b, dir, "", 0), MQTTC_ERR_ARG);
    CHECK_RC(mqttc_file_store_open(&b, dir, NULL, 0), MQTTC_ERR_ARG);
    CHECK_RC(mqttc_file_store_open(&b, "", "x", 0), MQTTC_ERR_ARG);
    CHECK_RC(mqttc_file_store_open(&b, NULL, "x", 0), MQTTC_ERR_ARG);
    char longid[5000];
    memset(longid, '/', sizeof longid - 1);
    longid[sizeof longid - 1] = '\0';
    CHECK_RC(mqttc_file_store_open(&b, dir, longid, 0), MQTTC_ERR_ARG);
}

/* Client ids become one directory level: '/', a leading '.', spaces, '%', UTF-8 escaped. */
TEST(file_store_client_id_escaped) {
    static const struct { const char *id, *name; } cases[] = {
        {"a/b", "a%2Fb"}, {"..", "%2E."}, {".", "%2E"}, {"../x", "%2E.%2Fx"}, {"a b", "a%20b"},
        {"caf\xC3\xA9", "caf%C3%A9"}, {"50%", "50%25"}, {"A-z_0.9", "A-z_0.9"}, {"\\", "%5C"},
    };
    const char *dir = fresh_dir();
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        mqttc_file_store fs;
        char want[512];
        struct stat st;
        CHECK_RC(mqttc_file_store_open(&fs, dir, cases[i].id, 0), MQTTC_OK);
        snprintf(want, sizeof want, "%s/%s/log", dir, cases[i].name);
        CHECK_MSG(!strcmp(fs.path, want), "id '%s': %s, want %s", cases[i].id, fs.path, want);
        CHECK(stat(want, &st) == 0 && S_ISREG(st.st_mode));
        mqttc_file_store_close(&fs);
    }
    /* nothing outside dir, exactly one entry per id */
    int entries = 0;
    DIR *d = opendir(dir);
    struct dirent *e;
    while (d && (e = readdir(d)) != NULL) entries += strcmp(e->d_name, ".") && strcmp(e->d_name, "..");
    if (d) closedir(d);
    CHECK_EQ_INT(entries, (int)(sizeof cases / sizeof cases[0]));
    struct stat st;
    CHECK(stat(tmp_root, &st) == 0);
    char outside[256];
    snprintf(outside, sizeof outside, "%s/x", tmp_root);
    CHECK(stat(outside, &st) != 0); /* "../x" did not escape */
}

/* Many puts and removes (10 000 PUBLISHes of 1 KiB): the log stays small, and load gives
   exactly what is live, in order. */
TEST(file_store_compaction) {
    mqttc_file_store fs;
    loaded L;
    const char *dir = fresh_dir();
    static unsigned char data[1024];
    int live_id[16], live_n = 0; /* the model: ids live, in the order first put (a put again keeps its place) */
    CHECK_RC(mqttc_file_store_open(&fs, dir, "compact", 60000), MQTTC_OK);
    uint64_t worst = 0;
    for (int i = 0; i < 10000; i++) {
        unsigned short id = (unsigned short)(i % 16 + 1);
        memset(data, (unsigned char)i, sizeof data);
        data[0] = (unsigned char)(i >> 8);
        if (i % 3 == 2) {
            CHECK_RC(fs.store.remove(fs.store.ctx, 0, id), MQTTC_OK);
            for (int j = 0; j < live_n; j++)
                if (live_id[j] == id) {
                    memmove(live_id + j, live_id + j + 1, (size_t)(live_n - j - 1) * sizeof *live_id);
                    live_n--;
                }
        } else {
            CHECK_RC(fs_put(&fs, MQTTC_STORED_PUBLISH, id, data, sizeof data), MQTTC_OK);
            int held = 0;
            for (int j = 0; j < live_n; j++) held |= live_id[j] == id;
            if (!held) live_id[live_n++] = id;
        }
        uint64_t live = (uint64_t)live_n * (REC + sizeof data);
        struct stat st;
        if (i % 97 == 0 && stat(fs.path, &st) == 0) {
            CHECK_MSG((uint64_t)st.st_size < 4 * live + 65536 + REC + sizeof data, "at %d: %lld bytes, %llu live", i,
                      (long long)st.st_size, (unsigned long long)live);
            if ((uint64_t)st.st_size > worst) worst = (uint64_t)st.st_size;
        }
        CHECK_RC(fs.store.flush(fs.store.ctx), MQTTC_OK);
    }
    CHECK(worst > 0);
    for (int round = 0; round < 2; round++) {
        load_all(&fs, &L);
        CHECK_EQ_INT(L.n, live_n);
        for (int j = 0; j < L.n && j < live_n; j++) {
            CHECK_EQ_INT(L.r[j].id, live_id[j]);
            CHECK_EQ_INT(L.r[j].len, sizeof data);
            /* the data is the last put of that id */
            int last = -1;
            for (int i = 0; i < 10000; i++)
                if (i % 16 + 1 == live_id[j] && i % 3 != 2) last = i;
            CHECK(L.r[j].data[0] == (unsigned char)(last >> 8) && L.r[j].data[1] == (unsigned char)last);
        }
        mqttc_file_store_close(&fs);
        CHECK_RC(mqttc_file_store_open(&fs, dir, "compact", 0), MQTTC_OK);
        CHECK_EQ_INT(fs.skipped, 0);
    }
    mqttc_file_store_close(&fs);
}

/* A log of n records written by the store itself: ids 1..n, PUBLISH (data "record i ...")
   for odd i, PUBREL for even; the records' offsets in off[0..n]. Returns the bytes. */
static unsigned char *write_log(const char *dir, const char *id, int n, size_t *off, size_t *len, char path[4096]) {
    mqttc_file_store fs;
    char data[64];
    CHECK_RC(mqttc_file_store_open(&fs, dir, id, 0), MQTTC_OK);
    size_t at = FILE_HEAD;
    for (int i = 1; i <= n; i++) {
        off[i - 1] = at;
        snprintf(data, sizeof data, "record %d, some payload bytes", i);
        if (i % 2) {
            CHECK_RC(fs_put(&fs, MQTTC_STORED_PUBLISH, (unsigned short)i, data, strlen(data)), MQTTC_OK);
            at += REC + strlen(data);
        } else {
            CHECK_RC(fs_put(&fs, MQTTC_STORED_PUBREL, (unsigned short)i, NULL, 0), MQTTC_OK);
            at += REC;
        }
    }
    off[n] = at;
    snprintf(path, 4096, "%s", fs.path);
    mqttc_file_store_close(&fs);
    unsigned char *b = read_file(path, len);
    CHECK_EQ_INT(*len, at);
    return b;
}

/* Whether L holds exactly records `which` (1-based ids, count k) of write_log's. */
static int holds_exactly(const loaded *L, const int *which, int k) {
    char data[64];
    if (L->n != k || L->bad) return 0;
    for (int j = 0; j < k; j++) {
        int i = which[j];
        snprintf(data, sizeof data, "record %d, some payload bytes", i);
        if (i % 2 ? !rec_eq(&L->r[j], MQTTC_STORED_PUBLISH, (unsigned short)i, data, strlen(data))
                  : !rec_eq(&L->r[j], MQTTC_STORED_PUBREL, (unsigned short)i, NULL, 0))
            return 0;
    }
    return 1;
}

/* A crash mid-write: the last record cut at every byte. The ones before it load intact,
   the cut one never; skipped 1 (0 on a record boundary), the problem named; the log is
   rewritten clean (a second open skips nothing). */
TEST(file_store_torn_last_record) {
    const char *dir = fresh_dir();
    size_t off[8], len;
    char path[4096];
    unsigned char *log = write_log(dir, "torn", 5, off, &len, path);
    int first4[] = {1, 2, 3, 4}, all5[] = {1, 2, 3, 4, 5};
    int failures = 0;
    for (size_t cut = off[4]; log && cut <= len && failures < 5; cut++) {
        mqttc_file_store fs;
        loaded L;
        int was = test__current_failed;
        test__current_failed = 0;
        write_file(path, log, cut);
        CHECK_RC(mqttc_file_store_open(&fs, dir, "torn", 0), MQTTC_OK);
        int whole = cut == len, boundary = cut == off[4] || whole;
        CHECK_MSG(fs.skipped == (boundary ? 0u : 1u), "cut at %zu: skipped %u", cut, fs.skipped);
        CHECK_MSG((fs.problem != NULL) == (fs.skipped != 0), "cut at %zu: problem %s", cut, fs.problem ? fs.problem : "NULL");
        load_all(&fs, &L);
        CHECK_MSG(whole ? holds_exactly(&L, all5, 5) : holds_exactly(&L, first4, 4), "cut at %zu: %d records", cut, L.n);
        mqttc_file_store_close(&fs);
        CHECK_RC(mqttc_file_store_open(&fs, dir, "torn", 0), MQTTC_OK);
        CHECK_MSG(fs.skipped == 0, "cut at %zu: reopened, skipped %u", cut, fs.skipped);
        load_all(&fs, &L);
        CHECK(whole ? holds_exactly(&L, all5, 5) : holds_exactly(&L, first4, 4));
        mqttc_file_store_close(&fs);
        failures += test__current_failed;
        test__current_failed |= was;
    }
    free(log);
}

/* A flipped bit in each byte of a middle record: that record is skipped (1 problem), the
   ones after it still load (resync), nothing else. */
TEST(file_store_flipped_bit_middle_record) {
    const char *dir = fresh_dir();
    size_t off[8], len;
    char path[4096];
    unsigned char *log = write_log(dir, "flip", 5, off, &len, path);
    int but3[] = {1, 2, 4, 5};
    int failures = 0;
    for (size_t at = off[2]; log && at < off[3] && failures < 5; at++) {
        mqttc_file_store fs;
        loaded L;
        int was = test__current_failed;
        test__current_failed = 0;
        log[at] ^= (unsigned char)(1u << (at % 8));
        write_file(path, log, len);
        log[at] ^= (unsigned char)(1u << (at % 8));
        CHECK_RC(mqttc_file_store_open(&fs, dir, "flip", 0), MQTTC_OK);
        CHECK_MSG(fs.skipped == 1 && fs.problem != NULL, "bit %zu of byte %zu: skipped %u", at % 8, at, fs.skipped);
        load_all(&fs, &L);
        CHECK_MSG(holds_exactly(&L, but3, 4), "byte %zu: %d records", at, L.n);
        mqttc_file_store_close(&fs);
        CHECK_RC(mqttc_file_store_open(&fs, dir, "flip", 0), MQTTC_OK);
        CHECK_EQ_INT(fs.skipped, 0);
        load_all(&fs, &L);
        CHECK(holds_exactly(&L, but3, 4));
        mqttc_file_store_close(&fs);
        failures += test__current_failed;
        test__current_failed |= was;
    }
    free(log);
}

/* Random bytes: opened, nothing loaded (no log header: nothing is trusted), the problem
   named; random bytes after a valid log: its records load, the rest is skipped. */
TEST(file_store_random_bytes) {
    const char *dir = fresh_dir();
    size_t off[8], len;
    char path[4096];
    unsigned char *log = write_log(dir, "rnd", 3, off, &len, path);
    unsigned char junk[4096 + 256];
    uint32_t x = 2463534242u;
    for (int round = 0; round < 8; round++) {
        mqttc_file_store fs;
        loaded L;
        for (size_t i = 0; i < 4096; i++) {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            junk[i] = round & 1 ? (unsigned char)"MQ\x01\x02"[x % 4] : (unsigned char)x; /* some with many 'M' 'Q' */
        }
        size_t n = 4096;
        unsigned char *file = junk;
        if (round >= 4 && log) { /* a valid log, then the random bytes (a garbage tail) */
            file = (unsigned char *)malloc(len + n);
            memcpy(file, log, len);
            memcpy(file + len, junk, n);
            n += len;
        }
        write_file(path, file, n);
        if (file != junk) free(file);
        CHECK_RC(mqttc_file_store_open(&fs, dir, "rnd", 0), MQTTC_OK);
        CHECK(fs.skipped >= 1 && fs.problem != NULL);
        load_all(&fs, &L);
        if (round >= 4) {
            int all3[] = {1, 2, 3};
            CHECK_MSG(holds_exactly(&L, all3, 3), "round %d: %d records", round, L.n);
        }
        mqttc_file_store_close(&fs);
        CHECK_RC(mqttc_file_store_open(&fs, dir, "rnd", 0), MQTTC_OK);
        CHECK_EQ_INT(fs.skipped, 0);
        mqttc_file_store_close(&fs);
    }
    free(log);
}

/* A PUBLISH whose payload holds the bytes of a whole log record (any application can
   publish such a payload): when its own record is torn (a crash while it was written) or
   corrupt, the record inside its data must not come back as a record of the store (here a
   PUBLISH id 77 nobody published, which the client would send after the restart). Torn: the
   outer record's header is sound, so its length is believed and the tail dropped, even when
   the inner record carries this very log's magic. Corrupt header: the log is searched for
   the next record, which must carry this log's random magic: a payload's record of another
   log (or written before this log's last rewrite) is not taken for one. (A payload made
   with this log's current magic, read from the file, would be: the format's known limit.) */
TEST(file_store_record_inside_a_payload_never_replayed) {
    const char *dir = fresh_dir();
    mqttc_file_store fs;
    loaded L;
    unsigned char inner_pub[64], payload[128], outer[256], *log = NULL;
    size_t pn = publish_bytes(inner_pub, sizeof inner_pub, "evil", "injected", 1, 77), len = 0;
    inner_pub[0] |= 8u;
    char path[4096];
    for (int variant = 0; variant < 2; variant++) { /* 0: this log's magic, torn; 1: another's, corrupt */
        char id[16];
        snprintf(id, sizeof id, "inner%d", variant);
        CHECK_RC(mqttc_file_store_open(&fs, dir, id, 0), MQTTC_OK);
        snprintf(path, sizeof path, "%s", fs.path);
        log = read_file(path, &len);
        uint32_t magic = log && len >= FILE_HEAD ? magic_of(log) : 0;
        free(log);
        size_t k = record_bytes(payload, variant ? magic ^ 0x01020304u : magic, 1, MQTTC_STORED_PUBLISH, 77, inner_pub, pn);
        size_t on = test_publish_bytes(outer, sizeof outer, "t", payload, k, 1, 0, 0, 1);
        CHECK_RC(fs_put(&fs, MQTTC_STORED_PUBREL, 2, NULL, 0), MQTTC_OK);
        CHECK_RC(fs_put(&fs, MQTTC_STORED_PUBLISH, 1, outer, on), MQTTC_OK);
        mqttc_file_store_close(&fs);
        log = read_file(path, &len);
        CHECK(log && len == FILE_HEAD + REC + REC + on);
        if (!log) return;
        if (variant == 0) {
            write_file(path, log, len - 4); /* torn: its data's CRC never reached the disk */
        } else {
            log[FILE_HEAD + REC + 11] ^= 1u; /* corrupt: a bit of its length flipped */
            write_file(path, log, len);
        }
        CHECK_RC(mqttc_file_store_open(&fs, dir, id, 0), MQTTC_OK);
        load_all(&fs, &L);
        CHECK_EQ_INT(fs.skipped, 1);
        CHECK_MSG(L.n == 1 && L.r[0].kind == MQTTC_STORED_PUBREL, "variant %d: %d records loaded, the last id %u", variant,
                  L.n, L.n ? L.r[L.n - 1].id : 0);
        mqttc_file_store_close(&fs);
        free(log);
    }
}

/* End to end: three QoS 2 publishes through the file store, a "crash" (the client dropped
   without acks), the store opened again by a new client: three in flight, resent with DUP
   and their ids after CONNACK (session present); completed, the store is empty. */
TEST(file_store_with_the_client_across_a_crash) {
    const char *dir = fresh_dir();
    mqttc_file_store fs;
    mem_link l = {0};
    mqttc_client c;
    mqttc_options o;
    unsigned short ids[3];
    test_packet p;
    CHECK_RC(mqttc_file_store_open(&fs, dir, "e2e", 0), MQTTC_OK);
    options_for(&o, NULL);
    o.client_id = "e2e";
    o.store = &fs.store;
    connect_with(&c, &l, &o, TEST_CONNACK_OK);
    for (int i = 0; i < 3; i++) CHECK_RC(mqttc_publish(&c, "e2e/t", "msg", 3, 2, 0, &ids[i]), MQTTC_OK);
    test_feed_ack(&l, MQTTC_PUBREC, ids[1]); /* the second is past PUBREC: PUBREL pending */
    step(&c, 1);
    mqttc_deinit(&c); /* the crash: nothing acknowledged */
    mem_free(&l);
    mqttc_file_store_close(&fs);

    CHECK_RC(mqttc_file_store_open(&fs, dir, "e2e", 0), MQTTC_OK);
    CHECK_EQ_INT(fs.skipped, 0);
    o.store = &fs.store;
    CHECK_RC(mqttc_init(&c, &o), MQTTC_OK);
    CHECK_EQ_INT(mqttc_inflight(&c), 3);
    mqttc_deinit(&c);
    connect_with(&c, &l, &o, CONNACK_SP);
    step(&c, 1);
    size_t pos = 0;
    CHECK(test_next_sent(&l, &pos, &p) && p.type == MQTTC_CONNECT);
    CHECK(test_next_sent(&l, &pos, &p) && p.type == MQTTC_PUBREL && p.packet_id == ids[1]); /* PUBREL first */
    CHECK(test_next_sent(&l, &pos, &p) && p.type == MQTTC_PUBLISH && p.packet_id == ids[0] && p.dup && p.qos == 2);
    CHECK(test_next_sent(&l, &pos, &p) && p.type == MQTTC_PUBLISH && p.packet_id == ids[2] && p.dup && p.qos == 2);
    CHECK(!test_next_sent(&l, &pos, &p));
    test_feed_ack(&l, MQTTC_PUBCOMP, ids[1]);
    for (int i = 0; i < 3; i += 2) {
        test_feed_ack(&l, MQTTC_PUBREC, ids[i]);
        test_feed_ack(&l, MQTTC_PUBCOMP, ids[i]);
    }
    step(&c, 2);
    CHECK_EQ_INT(mqttc_inflight(&c), 0);
    mqttc_deinit(&c);
    mem_free(&l);
    mqttc_file_store_close(&fs);
    CHECK_RC(mqttc_file_store_open(&fs, dir, "e2e", 0), MQTTC_OK);
    loaded L;
    load_all(&fs, &L);
    CHECK_EQ_INT(L.n, 0);
    mqttc_file_store_close(&fs);
}

int main(void) {
    snprintf(tmp_root, sizeof tmp_root, "/tmp/mqttc_test_store.XXXXXX");
    if (!mkdtemp(tmp_root)) {
        perror("mkdtemp");
        return 1;
    }
    RUN(publish_qos1_put_then_puback_removes);
    RUN(publish_qos2_put_pubrel_then_pubcomp_removes);
    RUN(incoming_qos2_put_before_pubrec_and_handler);
    RUN(flush_once_per_step);
    RUN(publish_put_fails_message_not_taken);
    RUN(held_publish_put_fails_message_not_taken);
    RUN(failing_remove_on_puback_ends_connection);
    RUN(failing_put_pubrel_ends_connection);
    RUN(failing_flush_ends_connection);
    RUN(failing_remove_on_pubcomp_ends_connection);
    RUN(incoming_qos2_put_fails_not_delivered);
    RUN(dropped_oldest_is_removed);
    RUN(failed_remove_of_dropped_not_forgotten_by_failed_put);
    RUN(resume_session_present);
    RUN(resume_skips_garbage);
    RUN(resume_session_lost);
    RUN(resume_load_fails);
    RUN(held_then_written_and_unwritten_resumes_as_new);
    RUN(crc32_is_ieee);
    RUN(file_store_round_trip_and_reopen);
    RUN(file_store_each_call_reaches_the_file);
    RUN(file_store_lock_and_arguments);
    RUN(file_store_client_id_escaped);
    RUN(file_store_compaction);
    RUN(file_store_torn_last_record);
    RUN(file_store_flipped_bit_middle_record);
    RUN(file_store_random_bytes);
    RUN(file_store_record_inside_a_payload_never_replayed);
    RUN(file_store_with_the_client_across_a_crash);
    rm_rf(tmp_root);
    return test_report();
}
