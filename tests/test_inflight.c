/* tests/test_inflight.c - the in-flight bookkeeping at large windows (>>session: dead
   records, compaction, the packet-id index), against a model of what the session holds.
   Random flows in both directions, acks in any order, reconnects with the session kept;
   after every step the client's output must be exactly what the model expects:
   - a new id is never one in flight [MQTT-2.3.1-2];
   - PUBACK and PUBCOMP end a flow once (on_published), PUBREC is answered with PUBREL;
   - an incoming QoS 2 id is delivered once and answered with PUBREC until PUBREL
     [MQTT-4.3.3-2];
   - after a reconnect, PUBRELs go first in PUBREC order [MQTT-4.6.0-4], then every
     unacknowledged PUBLISH with DUP in its original order [MQTT-4.4.0-1], [MQTT-4.6.0-1].
   Also: a full window of 65,535, and caller memory (options.mem), where no index is built
   and dead records must be compacted in place. No timing: speed is `make bench`'s. */
#define _POSIX_C_SOURCE 200809L
#include <stdlib.h>
/* An allocator that can refuse: the index's memory may fail, and nothing else may break. */
static size_t refuse_size; /* an allocation of exactly this many bytes fails */
static void *maybe_realloc(void *p, size_t n) { return n == refuse_size ? NULL : realloc(p, n); }
#define MQTTC_MALLOC(n) maybe_realloc(NULL, n)
#define MQTTC_REALLOC(p, n) maybe_realloc(p, n)
#define MQTTC_FREE(p) free(p)
#define MQTTC_IMPLEMENTATION
#include "mqttc.h"
#include "test.h"

/* The windows: the small build (test_inflight_small.c, -DMQTTC_NO_INDEX) scans per
   message, so it runs the same tests at windows its users would choose. */
#ifndef FULL_WINDOW
#define FULL_WINDOW 65535 /* every id in use */
#define WIDE_WINDOW 5000
#endif

/* ---- the model ---- */
enum { WAIT_PUBACK = 1, WAIT_PUBREC, WAIT_PUBCOMP };
typedef struct flow {
    unsigned short id;
    int state;          /* WAIT_*; 0: ended */
    unsigned long seq;  /* when it began (resend order) */
    unsigned long rec;  /* when its PUBREC came (PUBREL order) */
    int held, written;  /* queued (options.queue_bytes) and not yet written; written once */
} flow;

#define MAX_FLOWS 70000
static flow flows[MAX_FLOWS]; /* in the order they began; ended ones stay with state 0 */
static long nflows, first_live;
static int by_id[65536];      /* outgoing id -> index in flows + 1, or 0 */
static unsigned char in_q2[65536]; /* incoming QoS 2 ids awaiting PUBREL */
static unsigned long clock_seq;
static long published, delivered, live_out, live_in, held_count;
static int queueing; /* options.queue_bytes set: past the window, publishes are held */
static int proto;    /* MQTTC_PROTOCOL_311 or MQTTC_PROTOCOL_5 */
static unsigned window_now, window_max; /* MQTT 5: min(max_inflight, the broker's Receive Maximum) */

/* The next packet the client sent, decoded in this connection's version. */
static int next_sent(mem_link *l, size_t *pos, test_packet *t) {
    size_t used;
    memset(t, 0, sizeof *t);
    if (*pos >= l->out_len || mqttc_decode(l->out + *pos, l->out_len - *pos, 0, proto, &t->raw, &used) != MQTTC_OK) return 0;
    *pos += used;
    t->type = t->raw.type;
    t->packet_id = mqttc_packet_id(&t->raw);
    t->qos = t->raw.publish.qos;
    t->dup = t->raw.publish.dup;
    return t->type;
}

static void feed_publish(mem_link *l, unsigned short id) {
    unsigned char b[64];
    mqttc_publish_info pi;
    size_t n = 0;
    memset(&pi, 0, sizeof pi);
    pi.topic = "in/q2";
    pi.topic_len = 5;
    pi.payload = "m";
    pi.payload_len = 1;
    pi.qos = 2;
    pi.packet_id = id;
    CHECK_RC(mqttc_encode_publish(b, sizeof b, proto, &pi, &n), MQTTC_OK);
    mem_feed(l, b, n);
}

static void feed_ack(mem_link *l, int type, unsigned short id) { test_feed_ack_v(l, proto, type, id); }

/* CONNACK: session present or not; in MQTT 5 with a Receive Maximum (0: none). */
static void feed_connack(mem_link *l, int session_present, unsigned receive_max) {
    unsigned char b[8] = {0x20, 0x02, (unsigned char)session_present, 0x00, 0, 0, 0, 0};
    size_t n = 4;
    if (proto == MQTTC_PROTOCOL_5) {
        b[1] = receive_max ? 6 : 3;
        b[4] = receive_max ? 3 : 0;
        b[5] = 0x21;
        b[6] = (unsigned char)(receive_max >> 8);
        b[7] = (unsigned char)receive_max;
        n = receive_max ? 8 : 5;
    }
    mem_feed(l, b, n);
}
static unsigned short last_published;

static void on_published(mqttc_client *c, const mqttc_ack_info *a, void *u) {
    (void)c; (void)u;
    published++;
    last_published = a->packet_id;
}
static void on_message(mqttc_client *c, const mqttc_message *m, void *u) { (void)c; (void)m; (void)u; delivered++; }

static void model_reset(void) {
    memset(by_id, 0, sizeof by_id);
    memset(in_q2, 0, sizeof in_q2);
    nflows = first_live = 0;
    clock_seq = 0;
    published = delivered = live_out = live_in = held_count = 0;
}

static unsigned rng_state = 12345u;
static unsigned rnd(unsigned n) { /* xorshift: the same run every time */
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 17;
    rng_state ^= rng_state << 5;
    return rng_state % n;
}

/* The next packet the client sent, which must be of this type (and id, when id != 0). */
static int expect_sent(mem_link *l, size_t *pos, int type, unsigned short id, test_packet *t) {
    if (!next_sent(l, pos, t)) {
        CHECK_MSG(0, "expected packet type %d id %u, got nothing", type, id);
        return 0;
    }
    if (t->type != type || (id && t->packet_id != id)) {
        CHECK_MSG(0, "expected packet type %d id %u, got type %d id %u", type, id, t->type, t->packet_id);
        return 0;
    }
    return 1;
}

static void expect_nothing_more(mem_link *l, size_t *pos) {
    test_packet t;
    if (next_sent(l, pos, &t)) CHECK_MSG(0, "unexpected packet type %d id %u", t.type, t.packet_id);
}

static const char PAYLOAD[] = "payload";

/* One publish through the API: the id it gets must be free in the model. */
static int do_publish(mqttc_client *c, mem_link *l, size_t *pos, int qos) {
    unsigned short id = 0;
    int rc = mqttc_publish(c, "t/q", PAYLOAD, sizeof PAYLOAD - 1, qos, 0, &id);
    int hold = queueing && (held_count || live_out - held_count >= (long)window_now);
    if (!hold && live_out >= (long)window_now) {
        CHECK_RC(rc, MQTTC_ERR_BUSY);
        return 0;
    }
    CHECK_RC(rc, MQTTC_OK);
    if (rc != MQTTC_OK) return 0;
    CHECK_MSG(id != 0 && by_id[id] == 0, "id %u handed out while in flight", id);
    test_packet t;
    if (!hold && expect_sent(l, pos, MQTTC_PUBLISH, id, &t)) CHECK(t.qos == qos && !t.dup);
    flows[nflows].held = hold;
    flows[nflows].written = !hold;
    held_count += hold;
    flows[nflows].id = id;
    flows[nflows].state = qos == 1 ? WAIT_PUBACK : WAIT_PUBREC;
    flows[nflows].seq = ++clock_seq;
    flows[nflows].rec = 0;
    by_id[id] = (int)++nflows;
    live_out++;
    return 1;
}

/* A random live outgoing flow the broker has (not held), or NULL. */
static flow *pick_live(void) {
    if (live_out == held_count) return NULL;
    while (first_live < nflows && flows[first_live].state == 0) first_live++;
    for (int tries = 0; tries < 64; tries++) {
        flow *f = &flows[first_live + (long)rnd((unsigned)(nflows - first_live))];
        if (f->state && !f->held) return f;
    }
    for (long i = first_live; i < nflows; i++) /* (the oldest: in-order acks are common too) */
        if (flows[i].state && !flows[i].held) return &flows[i];
    return NULL;
}

/* A flow ended: the first held one goes, when the window has room (section 12). */
static void expect_release(mem_link *l, size_t *pos) {
    test_packet t;
    if (!held_count || live_out - held_count >= (long)window_now) return;
    for (long i = first_live; i < nflows; i++) {
        if (!flows[i].state || !flows[i].held) continue;
        if (expect_sent(l, pos, MQTTC_PUBLISH, flows[i].id, &t)) CHECK(t.dup == flows[i].written);
        flows[i].held = 0;
        flows[i].written = 1;
        held_count--;
        return;
    }
}

/* The broker answers a live flow: PUBACK, PUBREC or PUBCOMP as its state asks. */
static void do_ack(mqttc_client *c, mem_link *l, size_t *pos, flow *f) {
    long before = published;
    test_packet t;
    if (f->state == WAIT_PUBREC) {
        feed_ack(l, MQTTC_PUBREC, f->id);
        mqttc_step(c, 0);
        expect_sent(l, pos, MQTTC_PUBREL, f->id, &t);
        f->state = WAIT_PUBCOMP;
        f->rec = ++clock_seq;
        CHECK(published == before);
        return;
    }
    feed_ack(l, f->state == WAIT_PUBACK ? MQTTC_PUBACK : MQTTC_PUBCOMP, f->id);
    mqttc_step(c, 0);
    CHECK_MSG(published == before + 1 && last_published == f->id, "flow %u not ended once", f->id);
    by_id[f->id] = 0;
    f->state = 0;
    live_out--;
    expect_release(l, pos);
}

/* An incoming QoS 2 message with this id: delivered once, PUBREC every time. */
static void do_incoming(mqttc_client *c, mem_link *l, size_t *pos, unsigned short id) {
    long before = delivered;
    test_packet t;
    feed_publish(l, id);
    mqttc_step(c, 0);
    expect_sent(l, pos, MQTTC_PUBREC, id, &t);
    CHECK_MSG(delivered == before + !in_q2[id], "incoming id %u delivered %ld times", id, delivered - before);
    if (!in_q2[id]) live_in++;
    in_q2[id] = 1;
}

static void do_pubrel(mqttc_client *c, mem_link *l, size_t *pos, unsigned short id) {
    test_packet t;
    feed_ack(l, MQTTC_PUBREL, id);
    mqttc_step(c, 0);
    expect_sent(l, pos, MQTTC_PUBCOMP, id, &t);
    if (in_q2[id]) live_in--;
    in_q2[id] = 0;
}

static int cmp_rec(const void *a, const void *b) {
    unsigned long x = (*(const flow *const *)a)->rec, y = (*(const flow *const *)b)->rec;
    return x < y ? -1 : x > y;
}

/* The link breaks; a new one, the session kept: PUBRELs in PUBREC order, then the
   PUBLISHes with DUP in the order they began. */
static void do_reconnect(mqttc_client *c, mem_link **lp, size_t *pos) {
    static flow *order[MAX_FLOWS];
    mem_link *l = *lp;
    test_packet t;
    long n = 0;
    l->fail_with = MQTTC_ERR_CLOSED;
    mqttc_step(c, 0);
    CHECK_EQ_INT(mqttc_state(c), MQTTC_STATE_CLOSED);
    free(l->in);
    free(l->out);
    memset(l, 0, sizeof *l);
    *pos = 0;
    mqttc_transport tr = mem_transport(l);
    CHECK_RC(mqttc_start_transport(c, &tr, 0), MQTTC_OK);
    unsigned receive_max = proto == MQTTC_PROTOCOL_5 ? 1u + rnd(window_max) : 0u;
    feed_connack(l, 1, receive_max);
    window_now = receive_max && receive_max < window_max ? receive_max : window_max;
    for (int i = 0; i < 50 && mqttc_state(c) != MQTTC_STATE_CONNECTED; i++) mqttc_step(c, 0);
    mqttc_step(c, 0);
    CHECK_EQ_INT(mqttc_state(c), MQTTC_STATE_CONNECTED);
    expect_sent(l, pos, MQTTC_CONNECT, 0, &t);
    for (long i = first_live; i < nflows; i++)
        if (flows[i].state == WAIT_PUBCOMP) order[n++] = &flows[i];
    qsort(order, (size_t)n, sizeof *order, cmp_rec);
    for (long i = 0; i < n; i++)
        if (!expect_sent(l, pos, MQTTC_PUBREL, order[i]->id, &t)) return;
    long budget = (long)window_now - n; /* each flow past PUBREC takes one */
    for (long i = first_live; i < nflows; i++) {
        flow *f = &flows[i];
        if (f->state != WAIT_PUBACK && f->state != WAIT_PUBREC) continue;
        if (budget <= 0) { /* past the window: held until acks make room */
            held_count += !f->held;
            f->held = 1;
            continue;
        }
        budget--;
        if (!expect_sent(l, pos, MQTTC_PUBLISH, f->id, &t)) return;
        CHECK(t.dup == f->written);
        held_count -= f->held;
        f->held = 0;
        f->written = 1;
    }
    expect_nothing_more(l, pos);
}

/* ---- the tests ---- */

static void base_options(mqttc_options *o, unsigned window) {
    memset(o, 0, sizeof *o);
    o->client_id = "inflight";
    o->no_clean_session = 1;
    o->max_inflight = window;
    window_now = window_max = window;
    proto = MQTTC_PROTOCOL_311;
    o->on_published = on_published;
    o->on_message = on_message;
}

/* Random traffic in both directions: acks in random order, so dead records lie everywhere
   and compaction moves live ones under the index; incoming QoS 2 ids from 1..in_ids. */
static void random_traffic(long steps, unsigned in_ids, mqttc_options *o) {
    mqttc_client c;
    mem_link *l = (mem_link *)calloc(1, sizeof *l);
    size_t pos = 0;
    test_packet t;
    model_reset();
    queueing = o->queue_bytes != 0;
    proto = o->protocol_version == MQTTC_PROTOCOL_5 ? MQTTC_PROTOCOL_5 : MQTTC_PROTOCOL_311;
    mqttc_transport tr = mem_transport(l);
    CHECK_RC(mqttc_init(&c, o), MQTTC_OK);
    CHECK_RC(mqttc_start_transport(&c, &tr, 0), MQTTC_OK);
    feed_connack(l, 0, 0);
    for (int i = 0; i < 50 && mqttc_state(&c) == MQTTC_STATE_CONNACK_WAIT; i++) mqttc_step(&c, 0);
    CHECK_EQ_INT(mqttc_state(&c), MQTTC_STATE_CONNECTED);
    expect_sent(l, &pos, MQTTC_CONNECT, 0, &t);
    for (long i = 0; i < steps && !test__current_failed; i++) {
        unsigned r = rnd(100);
        if (nflows >= MAX_FLOWS - 1) break;
        if (r < 45 && live_out < (long)window_now) do_publish(&c, l, &pos, 1 + (int)rnd(2));
        else if (r < 47) do_publish(&c, l, &pos, 1); /* (BUSY when full) */
        else if (r < 85 && pick_live()) do_ack(&c, l, &pos, pick_live());
        else if (r < 93) do_incoming(&c, l, &pos, (unsigned short)(1 + rnd(in_ids)));
        else if (r < 99) do_pubrel(&c, l, &pos, (unsigned short)(1 + rnd(in_ids)));
        else do_reconnect(&c, &l, &pos);
        CHECK_EQ_INT((long)mqttc_inflight(&c), live_out);
        CHECK_EQ_INT((long)mqttc_inflight_in(&c), live_in);
    }
    /* everything acknowledged: nothing is left, and the pool took no more than it needs */
    while (pick_live() && !test__current_failed) do_ack(&c, l, &pos, pick_live());
    CHECK_EQ_INT((long)mqttc_inflight(&c), 0);
    mqttc_deinit(&c);
    free(l->in);
    free(l->out);
    free(l);
}

TEST(random_flows_at_a_wide_window_match_the_model) {
    mqttc_options o;
    base_options(&o, WIDE_WINDOW);
    random_traffic(60000, 65535, &o);
}

TEST(random_flows_at_a_window_of_20_match_the_model) {
    mqttc_options o;
    base_options(&o, 20);
    random_traffic(20000, 65535, &o);
}

/* A queue behind the window (options.queue_bytes): publishes past it are held, in order,
   and each ack releases the next, also after reconnects that shrink what may go. */
TEST(a_queue_behind_a_window_of_300_releases_in_order) {
    mqttc_options o;
    base_options(&o, 300);
    o.queue_bytes = 1u << 20;
    random_traffic(40000, 65535, &o);
}

/* MQTT 5: each reconnect's CONNACK brings a new Receive Maximum, often smaller than what is
   in flight [MQTT-3.3.4-7]: the rest is held and released in order as acks come. */
TEST(mqtt5_receive_maximum_changing_on_reconnect_holds_and_releases_in_order) {
    mqttc_options o;
    base_options(&o, 400);
    o.protocol_version = MQTTC_PROTOCOL_5;
    o.session_expiry_s = 600;
    proto = MQTTC_PROTOCOL_5;
    random_traffic(40000, 65535, &o);
}

/* Caller memory: no index, and the pool is small (8 KiB), so dead records must be
   compacted in place or publishes would be refused with room to spare. */
TEST(caller_memory_compacts_dead_records_in_place) {
    static unsigned char mem[32768];
    mqttc_options o;
    base_options(&o, 40);
    o.mem = mem;
    o.mem_size = sizeof mem;
    random_traffic(20000, 64, &o); /* (at most 40 + 64 live records: they fit) */
}

/* A full window (65,535: every id in use) of QoS 1 messages in flight, the next is BUSY;
   acked in random order, each ends once; then the ids go on after the last (round again). */
TEST(a_full_window_uses_each_id_once) {
    mqttc_options o;
    mqttc_client c;
    mem_link *l = (mem_link *)calloc(1, sizeof *l);
    size_t pos = 0;
    test_packet t;
    static unsigned short ids[FULL_WINDOW];
    base_options(&o, FULL_WINDOW);
    model_reset();
    test_connect(&c, l, &o);
    expect_sent(l, &pos, MQTTC_CONNECT, 0, &t);
    for (long i = 0; i < FULL_WINDOW && !test__current_failed; i++) {
        unsigned short id = 0;
        CHECK_RC(mqttc_publish(&c, "t", "x", 1, 1, 0, &id), MQTTC_OK);
        CHECK_MSG(id && !by_id[id], "id %u twice", id);
        by_id[id] = 1;
        ids[i] = id;
    }
    unsigned short none = 0;
    CHECK_RC(mqttc_publish(&c, "t", "x", 1, 1, 0, &none), MQTTC_ERR_BUSY);
    CHECK_EQ_INT((long)mqttc_inflight(&c), FULL_WINDOW);
    for (long i = FULL_WINDOW - 1; i > 0; i--) { /* a random order */
        long j = (long)rnd((unsigned)i + 1u);
        unsigned short x = ids[i];
        ids[i] = ids[j];
        ids[j] = x;
    }
    for (long i = 0; i < FULL_WINDOW && !test__current_failed; i++) {
        long before = published;
        feed_ack(l, MQTTC_PUBACK, ids[i]);
        mqttc_step(&c, 0);
        CHECK_MSG(published == before + 1 && last_published == ids[i], "PUBACK %u", ids[i]);
        feed_ack(l, MQTTC_PUBACK, ids[i]); /* a stray repeat ends nothing */
        mqttc_step(&c, 0);
        CHECK(published == before + 1);
    }
    CHECK_EQ_INT((long)mqttc_inflight(&c), 0);
    for (int i = 0; i < 1000; i++) { /* the ids go on after the last */
        unsigned short id = 0;
        CHECK_RC(mqttc_publish(&c, "t", "x", 1, 2, 0, &id), MQTTC_OK);
        CHECK(id == (unsigned short)((FULL_WINDOW + i) % 65535 + 1));
    }
    mqttc_deinit(&c);
    free(l->in);
    free(l->out);
    free(l);
}

/* The index's memory may be refused, when it is first built (16 records: 64 slots, 256
   bytes) and when it grows (past 32 records: 512 bytes): the client goes on scanning, every
   flow still ends once, and a later build works. The pool is grown first with large
   messages, so only the index asks for memory. */
static void refused_index(size_t refuse, int records) {
    static char big[1000];
    mqttc_options o;
    mqttc_client c;
    mem_link *l = (mem_link *)calloc(1, sizeof *l);
    size_t pos = 0;
    test_packet t;
    base_options(&o, 1000);
    o.max_output = 1u << 20;
    model_reset();
    test_connect(&c, l, &o);
    expect_sent(l, &pos, MQTTC_CONNECT, 0, &t);
    for (int i = 0; i < 15; i++) { /* (15 records: no index yet) */
        unsigned short id = 0;
        CHECK_RC(mqttc_publish(&c, "t", big, sizeof big, 1, 0, &id), MQTTC_OK);
        test_feed_ack(l, MQTTC_PUBACK, id);
    }
    mqttc_step(&c, 0);
    pos = l->out_len;
    published = 0;
    refuse_size = refuse;
    for (int i = 0; i < records; i++) do_publish(&c, l, &pos, 1 + (i & 1));
    while (pick_live() && !test__current_failed) do_ack(&c, l, &pos, pick_live());
    CHECK_EQ_INT((long)mqttc_inflight(&c), 0);
    refuse_size = 0;
    for (int i = 0; i < 100; i++) do_publish(&c, l, &pos, 1);
    while (pick_live() && !test__current_failed) do_ack(&c, l, &pos, pick_live());
    CHECK_EQ_INT((long)mqttc_inflight(&c), 0);
    CHECK_EQ_INT(mqttc_state(&c), MQTTC_STATE_CONNECTED);
    mqttc_deinit(&c);
    free(l->in);
    free(l->out);
    free(l);
}

TEST(an_index_that_cannot_be_allocated_leaves_a_scan) {
    refused_index(64 * sizeof(uint32_t), 30);  /* the first build */
    refused_index(128 * sizeof(uint32_t), 60); /* its growth */
}

int main(void) {
    RUN(random_flows_at_a_wide_window_match_the_model);
    RUN(random_flows_at_a_window_of_20_match_the_model);
    RUN(a_queue_behind_a_window_of_300_releases_in_order);
    RUN(mqtt5_receive_maximum_changing_on_reconnect_holds_and_releases_in_order);
    RUN(caller_memory_compacts_dead_records_in_place);
    RUN(a_full_window_uses_each_id_once);
    RUN(an_index_that_cannot_be_allocated_leaves_a_scan);
    return test_report();
}
