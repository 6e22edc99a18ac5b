/* Staying connected (the header's section 12) over in-memory links with a fake clock: the
   backoff sequence and its jitter bounds, when the client stops by itself, on_status's
   override, the reset after a link that held, takeover flapping, the session by the book
   (kept: DUP resends; lost: QoS 1 as new, QoS 2 reported, subscriptions made again), and the
   queue's bounds. Each attempt gets a fresh link from options.reconnect_transport. */
#define _POSIX_C_SOURCE 200809L
#define MQTTC_IMPLEMENTATION
#include "mqttc.h"
#include "test.h"
#include "tests/dropped.h"

/* ---- links: one per attempt, the broker's bytes scripted per link ---- */
enum { MAX_LINKS = 64 };
static mem_link links[MAX_LINKS];
static int dials, refuse_dial;
static const unsigned char *script; /* fed to each new link (a CONNACK, ...) */
static size_t script_len;

static int dial(mqttc_client *c, mqttc_transport *t, void *user) {
    (void)c;
    (void)user;
    if (refuse_dial || dials >= MAX_LINKS) return MQTTC_ERR_CANNOTCONNECT;
    mem_link *l = &links[dials++];
    memset(l, 0, sizeof *l);
    if (script_len) mem_feed(l, script, script_len);
    *t = mem_transport(l);
    return MQTTC_OK;
}

static void free_links(void) {
    for (int i = 0; i < MAX_LINKS; i++) mem_free(&links[i]);
    dials = refuse_dial = 0;
    script = NULL;
    script_len = 0;
}

/* ---- what callbacks saw ---- */
static long statuses, last_retry, last_event, last_error;
static long override_ms = -2; /* -2: leave the plan */
static void on_status(mqttc_client *c, const mqttc_status *s, void *u) {
    (void)u;
    statuses++;
    last_event = s->event;
    last_error = s->error;
    last_retry = s->retry_ms;
    if (override_ms != -2 && s->event != MQTTC_EVENT_CONNECTED) mqttc_set_retry(c, override_ms);
}
static const unsigned char CONNACK_OK[] = {0x20, 0x02, 0x00, 0x00};
static const unsigned char CONNACK_SP[] = {0x20, 0x02, 0x01, 0x00};

static void options_reconnect(mqttc_options *o) {
    memset(o, 0, sizeof *o);
    o->client_id = "rc";
    o->reconnect_min_ms = 100;
    o->reconnect_max_ms = 1000;
    o->reconnect_transport = dial;
    o->random_seed = 12345;
    o->on_status = on_status;
    o->on_dropped = on_dropped;
    statuses = last_retry = last_event = last_error = 0;
    override_ms = -2;
    dropped = 0;
}

/* A first connection over a scripted link, up at time 0. */
static void start(mqttc_client *c, const mqttc_options *o) {
    mqttc_transport t;
    script = CONNACK_OK;
    script_len = sizeof CONNACK_OK;
    CHECK_RC(mqttc_init(c, o), MQTTC_OK);
    CHECK_EQ_INT(dial(c, &t, NULL), MQTTC_OK);
    CHECK_RC(mqttc_start_transport(c, &t, 0), MQTTC_OK);
    CHECK_RC(mqttc_step(c, 0), MQTTC_OK);
    CHECK_EQ_INT(mqttc_state(c), MQTTC_STATE_CONNECTED);
}

/* The current link ends (the broker went away); one step sees it. */
static void lose(mqttc_client *c, uint64_t now) {
    links[dials - 1].is_eof = 1;
    mqttc_step(c, now);
}

/* Backoff: attempt n waits within [d/2, d] for d = min(max, min * 2^n); mqttc_timeout_ms
   says how long; a step before it is due dials nothing, at it a new link is dialled. */
TEST(backoff_sequence_and_jitter_bounds) {
    mqttc_client c;
    mqttc_options o;
    options_reconnect(&o);
    start(&c, &o);
    script = NULL; /* the broker stays silent: every attempt times out... */
    script_len = 0;
    refuse_dial = 1; /* ...or rather, cannot even connect */
    uint64_t now = 10;
    lose(&c, now);
    long want_max[] = {100, 200, 400, 800, 1000, 1000, 1000};
    for (int i = 0; i < 7; i++) {
        CHECK_EQ_INT(mqttc_state(&c), MQTTC_STATE_WAITING);
        CHECK_EQ_INT(mqttc_fd(&c), -1);
        long wait = mqttc_timeout_ms(&c, now);
        CHECK_MSG(last_retry >= want_max[i] / 2 && last_retry <= want_max[i], "attempt %d: %ld not in [%ld, %ld]", i,
                  last_retry, want_max[i] / 2, want_max[i]);
        CHECK_EQ_INT(wait, last_retry);
        long before = statuses;
        CHECK_RC(mqttc_step(&c, now + (uint64_t)wait - 1), MQTTC_OK); /* not yet */
        CHECK_EQ_INT(statuses, before);
        now += (uint64_t)wait;
        CHECK_RC(mqttc_step(&c, now), MQTTC_OK); /* dials, fails at once, plans the next */
        CHECK_EQ_INT(statuses, before + 1);
        CHECK_EQ_INT(last_event, MQTTC_EVENT_CONNECT_FAILED);
    }
    mqttc_deinit(&c);
    free_links();
}

/* The jitter spreads: different seeds give different delays, each within its bounds. */
TEST(jitter_spreads_a_fleet) {
    long seen[8];
    int distinct = 0;
    for (int k = 0; k < 8; k++) {
        mqttc_client c;
        mqttc_options o;
        options_reconnect(&o);
        o.random_seed = (uint32_t)(1000 + 7919 * k);
        start(&c, &o);
        lose(&c, 5);
        seen[k] = last_retry;
        CHECK(last_retry >= 50 && last_retry <= 100);
        int is_new = 1;
        for (int j = 0; j < k; j++) is_new &= seen[j] != seen[k];
        distinct += is_new;
        mqttc_deinit(&c);
        free_links();
    }
    CHECK_MSG(distinct >= 4, "only %d distinct delays of 8", distinct);
}

/* A loss while connected: the next link resumes; the backoff starts anew only after a link
   held for reconnect_reset_ms. */
TEST(reconnects_and_resets_after_a_link_that_held) {
    mqttc_client c;
    mqttc_options o;
    options_reconnect(&o);
    o.reconnect_reset_ms = 5000;
    start(&c, &o);
    lose(&c, 10);
    CHECK_EQ_INT(last_event, MQTTC_EVENT_CONNECTION_LOST);
    uint64_t due = 10 + (uint64_t)mqttc_timeout_ms(&c, 10);
    CHECK_RC(mqttc_step(&c, due), MQTTC_OK); /* dials: the scripted CONNACK is there */
    CHECK_RC(mqttc_step(&c, due), MQTTC_OK);
    CHECK_EQ_INT(mqttc_state(&c), MQTTC_STATE_CONNECTED);
    CHECK_EQ_INT(dials, 2);
    lose(&c, due + 100); /* lost again quickly: the delay grew */
    CHECK(last_retry >= 100 && last_retry <= 200);
    due = due + 100 + (uint64_t)mqttc_timeout_ms(&c, due + 100);
    mqttc_step(&c, due);
    mqttc_step(&c, due);
    CHECK_EQ_INT(mqttc_state(&c), MQTTC_STATE_CONNECTED);
    mqttc_step(&c, due + 5000); /* it held */
    lose(&c, due + 5001);
    CHECK(last_retry >= 50 && last_retry <= 100); /* from the start again */
    mqttc_deinit(&c);
    free_links();
}

/* Causes retrying cannot fix stop by themselves; on_status may override either way. */
static long plan_after(const unsigned char *connack, size_t len, int version, long override) {
    mqttc_client c;
    mqttc_options o;
    mqttc_transport t;
    options_reconnect(&o);
    o.protocol_version = version;
    o.reconnect_first = 1;
    override_ms = override;
    script = connack;
    script_len = len;
    CHECK_RC(mqttc_init(&c, &o), MQTTC_OK);
    dial(&c, &t, NULL);
    mqttc_start_transport(&c, &t, 0);
    mqttc_step(&c, 0);
    long plan = last_retry;
    int state = mqttc_state(&c);
    CHECK_EQ_INT(state, plan >= 0 || (override >= 0) ? MQTTC_STATE_WAITING : MQTTC_STATE_CLOSED);
    mqttc_deinit(&c);
    free_links();
    return plan;
}

TEST(refusals_stop_unless_retrying_can_help) {
    static const unsigned char rc5[] = {0x20, 0x02, 0x00, 0x05}, rc4[] = {0x20, 0x02, 0x00, 0x04};
    static const unsigned char rc3[] = {0x20, 0x02, 0x00, 0x03};
    static const unsigned char v5_87[] = {0x20, 0x03, 0x00, 0x87, 0x00}, v5_88[] = {0x20, 0x03, 0x00, 0x88, 0x00};
    CHECK_EQ_INT(plan_after(rc5, 4, 0, -2), -1); /* not authorised [MQTT-3.2.2-5] */
    CHECK_EQ_INT(plan_after(rc4, 4, 0, -2), -1); /* bad user name or password */
    CHECK(plan_after(rc3, 4, 0, -2) >= 50);      /* server unavailable: later */
    CHECK_EQ_INT(plan_after(v5_87, 5, 5, -2), -1);
    CHECK(plan_after(v5_88, 5, 5, -2) >= 50);
    /* the override: retry a refusal anyway, after 5 ms */
    plan_after(rc5, 4, 0, 5);
}

TEST(server_takeover_and_user_disconnect_stop) {
    mqttc_client c;
    mqttc_options o;
    static const unsigned char takeover[] = {0xE0, 0x01, 0x8E};
    options_reconnect(&o);
    o.protocol_version = 5;
    script = NULL;
    start(&c, &o);
    mem_feed(&links[dials - 1], takeover, sizeof takeover);
    mqttc_step(&c, 1);
    CHECK_RC(mqttc_error(&c), MQTTC_ERR_SERVER_DISCONNECT);
    CHECK_EQ_INT(last_retry, -1);
    CHECK_EQ_INT(mqttc_state(&c), MQTTC_STATE_CLOSED);
    mqttc_deinit(&c);
    free_links();
    /* mqttc_disconnect: no retry; while WAITING: stops the waiting */
    options_reconnect(&o);
    start(&c, &o);
    CHECK_RC(mqttc_disconnect(&c), MQTTC_OK);
    mqttc_step(&c, 1);
    CHECK_EQ_INT(mqttc_state(&c), MQTTC_STATE_CLOSED);
    CHECK_EQ_INT(last_retry, -1);
    mqttc_deinit(&c);
    free_links();
    options_reconnect(&o);
    start(&c, &o);
    lose(&c, 1);
    CHECK_EQ_INT(mqttc_state(&c), MQTTC_STATE_WAITING);
    CHECK_RC(mqttc_disconnect(&c), MQTTC_OK);
    CHECK_EQ_INT(mqttc_state(&c), MQTTC_STATE_CLOSED);
    CHECK_RC(mqttc_step(&c, 100000), MQTTC_ERR_DISCONNECT);
    CHECK_EQ_INT(dials, 1);
    mqttc_deinit(&c);
    free_links();
}

/* mqttc_disconnect is final: a link lost while draining is not dialled again. */
TEST(disconnect_is_final_while_draining) {
    mqttc_client c;
    mqttc_options o;
    options_reconnect(&o);
    start(&c, &o);
    CHECK_RC(mqttc_publish(&c, "t", "x", 1, 1, 0, NULL), MQTTC_OK);
    CHECK_RC(mqttc_disconnect(&c), MQTTC_OK);
    CHECK_EQ_INT(mqttc_state(&c), MQTTC_STATE_DRAINING);
    lose(&c, 1);
    CHECK_EQ_INT(mqttc_state(&c), MQTTC_STATE_CLOSED);
    CHECK_EQ_INT(last_retry, -1);
    CHECK_EQ_INT(dials, 1);
    mqttc_deinit(&c);
    free_links();
}

/* A first connect that fails is retried only with reconnect_first. */
TEST(first_connect_retried_only_when_asked) {
    mqttc_client c;
    mqttc_options o;
    mqttc_transport t;
    options_reconnect(&o);
    CHECK_RC(mqttc_init(&c, &o), MQTTC_OK);
    dial(&c, &t, NULL);
    links[0].is_eof = 1;
    mqttc_start_transport(&c, &t, 0);
    mqttc_step(&c, 0);
    CHECK_EQ_INT(mqttc_state(&c), MQTTC_STATE_CLOSED);
    CHECK_EQ_INT(last_retry, -1);
    mqttc_deinit(&c);
    free_links();
    options_reconnect(&o);
    o.reconnect_first = 1;
    CHECK_RC(mqttc_init(&c, &o), MQTTC_OK);
    dial(&c, &t, NULL);
    links[0].is_eof = 1;
    mqttc_start_transport(&c, &t, 0);
    mqttc_step(&c, 0);
    CHECK_EQ_INT(mqttc_state(&c), MQTTC_STATE_WAITING);
    script = CONNACK_OK;
    script_len = sizeof CONNACK_OK;
    uint64_t due = (uint64_t)mqttc_timeout_ms(&c, 0);
    mqttc_step(&c, due);
    mqttc_step(&c, due);
    CHECK_EQ_INT(mqttc_state(&c), MQTTC_STATE_CONNECTED);
    mqttc_deinit(&c);
    free_links();
}

/* Two clients with one id knock each other off: links accepted then lost at once. After
   MQTTC__MAX_FLAPS of them in a row the client stops. */
TEST(takeover_battle_stops) {
    mqttc_client c;
    mqttc_options o;
    options_reconnect(&o);
    start(&c, &o);
    uint64_t now = 1;
    int rounds = 0;
    while (mqttc_state(&c) != MQTTC_STATE_CLOSED && rounds < 30) {
        lose(&c, now); /* accepted, then closed by the broker (the other client took over) */
        if (mqttc_state(&c) != MQTTC_STATE_WAITING) break;
        now += (uint64_t)mqttc_timeout_ms(&c, now);
        mqttc_step(&c, now);
        mqttc_step(&c, now);
        rounds++;
    }
    CHECK_EQ_INT(mqttc_state(&c), MQTTC_STATE_CLOSED);
    CHECK_MSG(rounds == 9, "stopped after %d rounds", rounds);
    mqttc_deinit(&c);
    free_links();
}

/* ---- the session by the book ---- */

static int sent_publishes(mem_link *l, unsigned short *ids, int *dups, int max) {
    mqttc_packet p;
    size_t pos = 0, used;
    int n = 0;
    while (pos < l->out_len && mqttc_decode(l->out + pos, l->out_len - pos, 0, 4, &p, &used) == MQTTC_OK) {
        pos += used;
        if (p.type != MQTTC_PUBLISH || n >= max) continue;
        ids[n] = p.publish.packet_id;
        dups[n++] = p.publish.dup;
    }
    return n;
}

/* Session kept: resent with ids and DUP [MQTT-4.4.0-1]; lost: QoS 1 as new (DUP 0), QoS 2
   reported (MQTTC_ERR_SESSION_LOST), the subscriptions made again with their QoS. */
TEST(mqtt_4_4_0_1_session_kept_or_lost) {
    mqttc_client c;
    mqttc_options o;
    unsigned short id1, id2, ids[8];
    int dups[8];
    options_reconnect(&o);
    o.no_clean_session = 1;
    start(&c, &o);
    CHECK_RC(mqttc_subscribe(&c, "s/#", 2, NULL, NULL, NULL, NULL), MQTTC_OK);
    CHECK_RC(mqttc_publish(&c, "t", "1", 1, 1, 0, &id1), MQTTC_OK);
    CHECK_RC(mqttc_publish(&c, "t", "2", 1, 2, 0, &id2), MQTTC_OK);
    lose(&c, 1);
    script = CONNACK_SP; /* the broker kept it */
    uint64_t due = 1 + (uint64_t)mqttc_timeout_ms(&c, 1);
    mqttc_step(&c, due);
    mqttc_step(&c, due);
    CHECK_EQ_INT(sent_publishes(&links[1], ids, dups, 8), 2);
    CHECK(ids[0] == id1 && dups[0] && ids[1] == id2 && dups[1]);
    lose(&c, due + 1);
    script = CONNACK_OK; /* now it did not */
    due = due + 1 + (uint64_t)mqttc_timeout_ms(&c, due + 1);
    mqttc_step(&c, due);
    mqttc_step(&c, due);
    CHECK_EQ_INT(sent_publishes(&links[2], ids, dups, 8), 1);
    CHECK(ids[0] == id1 && !dups[0]); /* QoS 1: a new message */
    CHECK_EQ_INT(dropped, 1);
    CHECK(dropped_why[0] == MQTTC_ERR_SESSION_LOST && dropped_ids[0] == id2);
    CHECK_EQ_INT(mqttc_inflight(&c), 1);
    mqttc_packet p;
    size_t pos = 0, used;
    int resubscribed = 0;
    while (pos < links[2].out_len && mqttc_decode(links[2].out + pos, links[2].out_len - pos, 0, 4, &p, &used) == MQTTC_OK) {
        pos += used;
        mqttc_str f;
        int qos = -1;
        size_t fp = 0;
        if (p.type == MQTTC_SUBSCRIBE && mqttc_next_filter(&p.subscribe, &fp, &f, &qos))
            resubscribed += f.len == 3 && !memcmp(f.ptr, "s/#", 3) && qos == 2;
    }
    CHECK_EQ_INT(resubscribed, 1);
    mqttc_deinit(&c);
    free_links();
}

TEST(republish_qos2_and_no_resubscribe) {
    mqttc_client c;
    mqttc_options o;
    unsigned short id2, ids[8];
    int dups[8];
    options_reconnect(&o);
    o.republish_qos2 = 1;
    o.no_resubscribe = 1;
    start(&c, &o);
    CHECK_RC(mqttc_subscribe(&c, "s/#", 1, NULL, NULL, NULL, NULL), MQTTC_OK);
    CHECK_RC(mqttc_publish(&c, "t", "2", 1, 2, 0, &id2), MQTTC_OK);
    lose(&c, 1);
    uint64_t due = 1 + (uint64_t)mqttc_timeout_ms(&c, 1);
    mqttc_step(&c, due);
    mqttc_step(&c, due);
    CHECK_EQ_INT(sent_publishes(&links[1], ids, dups, 8), 1);
    CHECK(ids[0] == id2 && !dups[0]);
    CHECK_EQ_INT(dropped, 0);
    mqttc_packet p;
    size_t pos = 0, used;
    while (pos < links[1].out_len && mqttc_decode(links[1].out + pos, links[1].out_len - pos, 0, 4, &p, &used) == MQTTC_OK) {
        pos += used;
        CHECK(p.type != MQTTC_SUBSCRIBE);
    }
    mqttc_deinit(&c);
    free_links();
}

/* ---- the queue ---- */

/* Offline publishes are held, their ids given at once, and go in order after CONNACK; a full
   queue refuses the new one, or with queue_drop_oldest drops the oldest. */
TEST(queue_holds_offline_publishes_in_order) {
    mqttc_client c;
    mqttc_options o;
    unsigned short ids[8], sent[8];
    int dups[8];
    options_reconnect(&o);
    o.queue_bytes = 40; /* each is 2+2+1+2+1 = 8 bytes */
    start(&c, &o);
    lose(&c, 1);
    for (int i = 0; i < 5; i++) CHECK_RC(mqttc_publish(&c, "q", "x", 1, 1 + i % 2, 0, &ids[i]), MQTTC_OK);
    CHECK_RC(mqttc_publish(&c, "q", "x", 1, 1, 0, NULL), MQTTC_ERR_QUEUEFULL);
    CHECK_RC(mqttc_publish(&c, "q", "x", 1, 0, 0, NULL), MQTTC_ERR_STATE); /* QoS 0 is not held */
    CHECK_EQ_INT(mqttc_queued(&c), 5);
    uint64_t due = 1 + (uint64_t)mqttc_timeout_ms(&c, 1);
    mqttc_step(&c, due);
    mqttc_step(&c, due);
    CHECK_EQ_INT(sent_publishes(&links[1], sent, dups, 8), 5);
    for (int i = 0; i < 5; i++) CHECK(sent[i] == ids[i] && !dups[i]);
    CHECK_EQ_INT(mqttc_queued(&c), 0);
    mqttc_deinit(&c);
    free_links();
    options_reconnect(&o);
    o.queue_bytes = 16;
    o.queue_drop_oldest = 1;
    start(&c, &o);
    lose(&c, 1);
    for (int i = 0; i < 3; i++) CHECK_RC(mqttc_publish(&c, "q", "x", 1, 1, 0, &ids[i]), MQTTC_OK);
    CHECK_EQ_INT(dropped, 1);
    CHECK(dropped_why[0] == MQTTC_ERR_QUEUEFULL && dropped_ids[0] == ids[0]);
    CHECK_EQ_INT(mqttc_queued(&c), 2);
    mqttc_deinit(&c);
    free_links();
}

/* With a queue, a full window holds publishes instead of MQTTC_ERR_BUSY; each ack lets the
   next go, in order. */
TEST(queue_behind_a_full_window) {
    mqttc_client c;
    mqttc_options o;
    unsigned short ids[6], sent[8];
    int dups[8];
    options_reconnect(&o);
    o.max_inflight = 2;
    o.queue_bytes = 1000;
    start(&c, &o);
    for (int i = 0; i < 5; i++) CHECK_RC(mqttc_publish(&c, "w", "x", 1, 1, 0, &ids[i]), MQTTC_OK);
    CHECK_EQ_INT(sent_publishes(&links[0], sent, dups, 8), 2);
    CHECK_EQ_INT(mqttc_queued(&c), 3);
    unsigned char puback[4] = {0x40, 0x02, 0, 0};
    puback[2] = (unsigned char)(ids[0] >> 8);
    puback[3] = (unsigned char)ids[0];
    mem_feed(&links[0], puback, 4);
    mqttc_step(&c, 1);
    CHECK_EQ_INT(sent_publishes(&links[0], sent, dups, 8), 3);
    CHECK_EQ_INT(sent[2], ids[2]);
    CHECK_EQ_INT(mqttc_queued(&c), 2);
    mqttc_deinit(&c);
    free_links();
}

/* A drain sends the held ones too, in order, before DISCONNECT; a client that ended with no
   attempt to come holds nothing (MQTTC_ERR_STATE). */
TEST(a_drain_sends_the_held_and_an_ended_client_holds_nothing) {
    mqttc_client c;
    mqttc_options o;
    unsigned short ids[3], sent[8];
    int dups[8];
    options_reconnect(&o);
    o.max_inflight = 1;
    o.queue_bytes = 1000;
    start(&c, &o);
    for (int i = 0; i < 3; i++) CHECK_RC(mqttc_publish(&c, "d", "x", 1, 1, 0, &ids[i]), MQTTC_OK);
    CHECK_RC(mqttc_disconnect(&c), MQTTC_OK);
    CHECK_EQ_INT(mqttc_state(&c), MQTTC_STATE_DRAINING);
    for (int i = 0; i < 3; i++) {
        unsigned char puback[4] = {0x40, 0x02, (unsigned char)(ids[i] >> 8), (unsigned char)ids[i]};
        CHECK_EQ_INT(sent_publishes(&links[0], sent, dups, 8), i + 1);
        mem_feed(&links[0], puback, 4);
        mqttc_step(&c, 1);
    }
    mqttc_step(&c, 1);
    CHECK_RC(mqttc_error(&c), MQTTC_ERR_DISCONNECT); /* all three done, then DISCONNECT */
    CHECK_EQ_INT(mqttc_inflight(&c), 0);
    CHECK_RC(mqttc_publish(&c, "d", "x", 1, 1, 0, NULL), MQTTC_ERR_STATE);
    mqttc_deinit(&c);
    free_links();
}

/* A held message that no longer fits the new connection's limits (MQTT 5 Maximum Packet
   Size) is dropped with MQTTC_ERR_TOOLARGE when its turn comes. */
TEST(queued_checked_against_new_limits) {
    mqttc_client c;
    mqttc_options o;
    static const unsigned char connack_small[] = {0x20, 0x08, 0x00, 0x00, 0x05, 0x27, 0x00, 0x00, 0x00, 0x14};
    char big[64];
    memset(big, 'b', sizeof big);
    options_reconnect(&o);
    o.protocol_version = 5;
    o.queue_bytes = 1000;
    start(&c, &o);
    lose(&c, 1);
    CHECK_RC(mqttc_publish(&c, "big", big, sizeof big, 1, 0, NULL), MQTTC_OK);
    CHECK_RC(mqttc_publish(&c, "s", "x", 1, 1, 0, NULL), MQTTC_OK);
    script = connack_small; /* Maximum Packet Size 20 */
    script_len = sizeof connack_small;
    uint64_t due = 1 + (uint64_t)mqttc_timeout_ms(&c, 1);
    mqttc_step(&c, due);
    mqttc_step(&c, due);
    CHECK_EQ_INT(mqttc_state(&c), MQTTC_STATE_CONNECTED);
    CHECK_EQ_INT(dropped, 1);
    CHECK_EQ_INT(dropped_why[0], MQTTC_ERR_TOOLARGE);
    CHECK_EQ_INT(mqttc_inflight(&c), 1);
    mqttc_deinit(&c);
    free_links();
}

int main(void) {
    RUN(backoff_sequence_and_jitter_bounds);
    RUN(jitter_spreads_a_fleet);
    RUN(reconnects_and_resets_after_a_link_that_held);
    RUN(refusals_stop_unless_retrying_can_help);
    RUN(server_takeover_and_user_disconnect_stop);
    RUN(disconnect_is_final_while_draining);
    RUN(first_connect_retried_only_when_asked);
    RUN(takeover_battle_stops);
    RUN(mqtt_4_4_0_1_session_kept_or_lost);
    RUN(republish_qos2_and_no_resubscribe);
    RUN(queue_holds_offline_publishes_in_order);
    RUN(queue_behind_a_full_window);
    RUN(queued_checked_against_new_limits);
    RUN(a_drain_sends_the_held_and_an_ended_client_holds_nothing);
    return test_report();
}
