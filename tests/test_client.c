/* The client over the in-memory transport with a fake clock: connection states, QoS flows
   in both directions, keepalive, callbacks re-entering the API, partial reads and writes
   of one byte, memory bounds and a counting allocator. No sockets, no sleeping. */
#define _POSIX_C_SOURCE 200809L
#include <stdlib.h>
static long allocations; /* every MQTTC_MALLOC / MQTTC_REALLOC the library makes */

static void *count_realloc(void *p, size_t n) { allocations++; return realloc(p, n); }
#define MQTTC_MALLOC(n) count_realloc(NULL, n)
#define MQTTC_REALLOC(p, n) count_realloc(p, n)
#define MQTTC_FREE(p) free(p)
/* MQTTC_ASSERT is the library's check of its own invariants: here it counts, and every test
   ends with none failed (test_state_table provokes one on purpose). */
static int assert_failures;
#define MQTTC_ASSERT(x) ((x) ? (void)0 : (void)assert_failures++)
#define MQTTC_IMPLEMENTATION
#include "mqttc.h"
#include "test.h"

static const unsigned char *const CONNACK_OK = TEST_CONNACK_OK;

/* What callbacks saw. */
typedef struct seen {
    int messages, handler_messages, subacks, unsubacks, published;
    int last_code, last_qos;
    char last_topic[64], last_payload[64];
    unsigned short last_id;
} seen;
static seen S;

static void remember(const mqttc_message *m) {
    snprintf(S.last_topic, sizeof S.last_topic, "%s", m->topic);
    snprintf(S.last_payload, sizeof S.last_payload, "%.*s", (int)m->payload_len, (const char *)m->payload);
    S.last_qos = m->qos;
}
static void on_message(mqttc_client *c, const mqttc_message *m, void *u) { (void)c; (void)u; S.messages++; remember(m); }
static void on_handler(mqttc_client *c, const mqttc_message *m, void *u) { (void)c; (void)u; S.handler_messages++; remember(m); }
static void on_suback(mqttc_client *c, const mqttc_suback_info *s, void *u) { (void)c; (void)u; S.subacks++; S.last_code = s->codes[0]; S.last_id = s->packet_id; }
static void on_unsuback(mqttc_client *c, const mqttc_ack_info *a, void *u) { (void)c; (void)u; S.unsubacks++; S.last_id = a->packet_id; }
static void on_published(mqttc_client *c, const mqttc_ack_info *a, void *u) { (void)c; (void)u; S.published++; S.last_id = a->packet_id; }

static void base_options(mqttc_options *o) {
    memset(o, 0, sizeof *o);
    o->on_message = on_message;
    o->on_published = on_published;
    o->client_id = "tester";
}

/* The shared fixture (test.h), with what callbacks saw cleared. */
static void connect_over(mqttc_client *c, mem_link *l, const mqttc_options *o) {
    memset(&S, 0, sizeof S);
    test_connect(c, l, o);
}

/* Steps until the link has no more bytes to give (for one-byte reads). */
static void pump(mqttc_client *c, mem_link *l, uint64_t now) {
    for (int i = 0; i < 100000 && (l->in_len || mqttc_pending_output(c)) && mqttc_state(c) != MQTTC_STATE_CLOSED; i++)
        mqttc_step(c, now);
    mqttc_step(c, now);
}

/* The next packet the client sent, by type; 0 when none. */
#define next_sent test_next_sent

TEST(connect_packet_and_defaults) {
    mqttc_client c;
    mem_link l = {0};
    mqttc_transport t = mem_transport(&l);
    test_packet p;
    size_t pos = 0;
    CHECK_EQ_INT(mqttc_init(&c, NULL), MQTTC_OK);
    CHECK_EQ_INT(mqttc_state(&c), MQTTC_STATE_IDLE);
    CHECK_EQ_INT(mqttc_step(&c, 0), MQTTC_ERR_STATE);
    CHECK_EQ_INT(mqttc_start_transport(&c, &t, 1000), MQTTC_OK);
    CHECK_EQ_INT(mqttc_state(&c), MQTTC_STATE_CONNACK_WAIT);
    CHECK_EQ_INT(next_sent(&l, &pos, &p), MQTTC_CONNECT); /* first packet [MQTT-3.1.0-1] */
    CHECK_EQ_INT(p.connect.keepalive_s, 60);
    CHECK_EQ_INT(p.connect.clean_session, 1);
    CHECK(p.connect.will_topic.ptr == NULL && p.connect.username.ptr == NULL);
    /* the generated id: 23 characters of [0-9a-zA-Z], starting "mqttc" [MQTT-3.1.3-5] */
    CHECK_EQ_INT(p.connect.client_id.len, 23);
    CHECK(memcmp(p.connect.client_id.ptr, "mqttc", 5) == 0);
    for (size_t i = 0; i < p.connect.client_id.len; i++) {
        char ch = p.connect.client_id.ptr[i];
        CHECK((ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z'));
    }
    CHECK_EQ_INT(mqttc_events(&c), MQTTC_EV_READ);
    CHECK_EQ_INT(mqttc_timeout_ms(&c, 1000), 30000); /* the connect timeout */
    CHECK_EQ_INT(mqttc_start_transport(&c, &t, 1000), MQTTC_ERR_STATE); /* never a second CONNECT [MQTT-3.1.0-2] */
    mqttc_deinit(&c);
    CHECK_EQ_INT(l.closed, 1);
    mem_free(&l);
}

/* The defaults the README's options table promises. */
TEST(documented_defaults) {
    mqttc_client c;
    CHECK_EQ_INT(mqttc_init(&c, NULL), MQTTC_OK);
    CHECK_EQ_INT(c.opt.keepalive_s, 60);
    CHECK_EQ_INT(c.opt.no_clean_session, 0);
    CHECK_EQ_INT(c.opt.connect_timeout_ms, 30000);
    CHECK_EQ_INT(c.opt.ping_timeout_ms, 60000);
    CHECK_EQ_INT(c.opt.max_packet_size, 16 * 1024 * 1024);
    CHECK_EQ_INT(c.opt.max_inflight, 20); /* mosquitto's max_inflight_messages: see the header */
    CHECK_EQ_INT(c.opt.disconnect_timeout_ms, 10000);
    CHECK_EQ_INT(c.opt.max_inflight_in, 65535); /* every packet id */
    CHECK_EQ_INT(c.opt.max_output, 64 * 1024);
    CHECK_EQ_INT(strlen(c.opt.client_id), 23);
    mqttc_deinit(&c);
    mqttc_options o;
    base_options(&o);
    o.keepalive_s = 5;
    o.ping_timeout_ms = 9000; /* never longer than keepalive */
    mqttc_init(&c, &o);
    CHECK_EQ_INT(c.opt.ping_timeout_ms, 5000);
    mqttc_deinit(&c);
}

TEST(connect_options_on_the_wire) {
    mqttc_client c;
    mqttc_options o;
    mem_link l = {0};
    test_packet p;
    size_t pos = 0;
    base_options(&o);
    o.keepalive_s = 15;
    o.no_clean_session = 1;
    o.username = "user";
    o.password = "p\0w";
    o.password_len = 3;
    o.will_topic = "status/tester";
    o.will_payload = "gone";
    o.will_payload_len = 4;
    o.will_qos = 2;
    o.will_retain = 1;
    connect_over(&c, &l, &o);
    CHECK_EQ_INT(next_sent(&l, &pos, &p), MQTTC_CONNECT);
    CHECK_EQ_INT(p.connect.keepalive_s, 15);
    CHECK_EQ_INT(p.connect.clean_session, 0);
    CHECK(p.connect.client_id.len == 6 && memcmp(p.connect.client_id.ptr, "tester", 6) == 0);
    CHECK(p.connect.username.len == 4 && p.connect.password.len == 3);
    CHECK(p.connect.password.ptr && memcmp(p.connect.password.ptr, "p\0w", 3) == 0);
    CHECK(p.connect.will_topic.len == 13 && p.connect.will_qos == 2 && p.connect.will_retain == 1);
    CHECK(p.connect.will_payload.len == 4 && memcmp(p.connect.will_payload.ptr, "gone", 4) == 0);
    mqttc_deinit(&c);
    mem_free(&l);
    /* no keepalive: 0 on the wire, never a deadline */
    base_options(&o);
    o.no_keepalive = 1;
    pos = 0;
    connect_over(&c, &l, &o);
    CHECK_EQ_INT(next_sent(&l, &pos, &p), MQTTC_CONNECT);
    CHECK_EQ_INT(p.connect.keepalive_s, 0);
    CHECK_EQ_INT(mqttc_timeout_ms(&c, 5), -1);
    mqttc_step(&c, 10u * 3600u * 1000u);
    CHECK_EQ_INT(next_sent(&l, &pos, &p), 0); /* not even after ten hours */
    mqttc_deinit(&c);
    mem_free(&l);
}

TEST(options_rejected) {
    mqttc_client c;
    mqttc_options o;
    base_options(&o);
    o.password = "x"; /* [MQTT-3.1.2-22] */
    o.password_len = 1;
    CHECK_EQ_INT(mqttc_init(&c, &o), MQTTC_ERR_ARG);
    base_options(&o);
    o.will_topic = "a/#";
    CHECK_EQ_INT(mqttc_init(&c, &o), MQTTC_ERR_ARG);
    base_options(&o);
    o.will_topic = "w";
    o.will_qos = 3;
    CHECK_EQ_INT(mqttc_init(&c, &o), MQTTC_ERR_ARG);
    base_options(&o);
    o.keepalive_s = 70000;
    CHECK_EQ_INT(mqttc_init(&c, &o), MQTTC_ERR_ARG);
    base_options(&o);
    o.client_id = "";
    o.no_clean_session = 1; /* [MQTT-3.1.3-7] */
    CHECK_EQ_INT(mqttc_init(&c, &o), MQTTC_ERR_ARG);
    base_options(&o);
    o.client_id = "bad\xff";
    CHECK_EQ_INT(mqttc_init(&c, &o), MQTTC_ERR_ARG);
}

TEST(connack_refusals) {
    for (int code = 1; code <= 5; code++) {
        mqttc_client c;
        mem_link l = {0};
        mqttc_transport t = mem_transport(&l);
        unsigned char connack[] = {0x20, 0x02, 0x00, (unsigned char)code};
        mqttc_init(&c, NULL);
        mqttc_start_transport(&c, &t, 0);
        mem_feed(&l, connack, 4);
        /* the kind of failure, and the broker's reason beside it [MQTT-3.2.2-5] */
        CHECK_EQ_INT(mqttc_step(&c, 1), MQTTC_ERR_REFUSED);
        CHECK_EQ_INT(mqttc_state(&c), MQTTC_STATE_CLOSED);
        CHECK_EQ_INT(mqttc_error(&c), MQTTC_ERR_REFUSED);
        CHECK_EQ_INT(mqttc_reason_code(&c), code);
        CHECK(strcmp(mqttc_errname(mqttc_error(&c)), "refused") == 0);
        CHECK_EQ_INT(l.closed, 1);
        CHECK_EQ_INT(mqttc_fd(&c), -1);
        CHECK_EQ_INT(mqttc_events(&c), 0);
        mqttc_deinit(&c);
        CHECK_EQ_INT(l.closed, 1); /* closed once */
        mem_free(&l);
    }
}

/* Anything but a CONNACK first is "invalidresp" [MQTT-3.2.0-1]. */
TEST(invalid_first_packets) {
    static const unsigned char pingresp[] = {0xD0, 0x00};
    static const unsigned char garbage[] = {'H', 'T', 'T', 'P', '/', '1', '.', '1'};
    static const unsigned char bad_connack[] = {0x20, 0x02, 0x04, 0x00};
    const unsigned char *cases[] = {pingresp, garbage, bad_connack};
    size_t sizes[] = {sizeof pingresp, sizeof garbage, sizeof bad_connack};
    for (int i = 0; i < 3; i++) {
        mqttc_client c;
        mem_link l = {0};
        mqttc_transport t = mem_transport(&l);
        mqttc_init(&c, NULL);
        mqttc_start_transport(&c, &t, 0);
        mem_feed(&l, cases[i], sizes[i]);
        CHECK_EQ_INT(mqttc_step(&c, 1), MQTTC_ERR_INVALIDRESP);
        mqttc_deinit(&c);
        mem_free(&l);
    }
}

TEST(connect_timeout_and_eof) {
    mqttc_client c;
    mem_link l = {0};
    mqttc_transport t = mem_transport(&l);
    mqttc_options o;
    base_options(&o);
    o.connect_timeout_ms = 5000;
    mqttc_init(&c, &o);
    mqttc_start_transport(&c, &t, 100);
    CHECK_EQ_INT(mqttc_step(&c, 5099), MQTTC_OK);
    CHECK_EQ_INT(mqttc_timeout_ms(&c, 5099), 1);
    CHECK_EQ_INT(mqttc_step(&c, 5100), MQTTC_ERR_TIMEOUT);
    CHECK(strcmp(mqttc_errname(mqttc_error(&c)), "timeout") == 0);
    /* a closed client can connect again; this time the broker hangs up */
    mem_free(&l);
    t = mem_transport(&l);
    CHECK_EQ_INT(mqttc_start_transport(&c, &t, 6000), MQTTC_OK);
    CHECK_EQ_INT(mqttc_error(&c), MQTTC_OK);
    l.is_eof = 1;
    CHECK_EQ_INT(mqttc_step(&c, 6001), MQTTC_ERR_CLOSED);
    mqttc_deinit(&c);
    mem_free(&l);
}

/* [MQTT-3.1.2-23]: PINGREQ when nothing was sent for keepalive; no PINGRESP in time ends it. */
TEST(keepalive_ping_and_timeout) {
    mqttc_client c;
    mem_link l = {0};
    mqttc_options o;
    test_packet p;
    size_t pos = 0;
    static const unsigned char pingresp[] = {0xD0, 0x00};
    base_options(&o);
    o.keepalive_s = 10;
    o.ping_timeout_ms = 3000;
    connect_over(&c, &l, &o);
    CHECK_EQ_INT(next_sent(&l, &pos, &p), MQTTC_CONNECT);
    CHECK_EQ_INT(mqttc_timeout_ms(&c, 0), 10000);
    CHECK_EQ_INT(mqttc_step(&c, 9999), MQTTC_OK);
    CHECK_EQ_INT(next_sent(&l, &pos, &p), 0);
    CHECK_EQ_INT(mqttc_step(&c, 10000), MQTTC_OK);
    CHECK_EQ_INT(next_sent(&l, &pos, &p), MQTTC_PINGREQ);
    CHECK_EQ_INT(mqttc_timeout_ms(&c, 10000), 3000); /* now waiting for PINGRESP, not busy */
    CHECK_EQ_INT(mqttc_step(&c, 11000), MQTTC_OK);
    CHECK_EQ_INT(next_sent(&l, &pos, &p), 0); /* one PINGREQ outstanding at a time */
    mem_feed(&l, pingresp, 2);
    CHECK_EQ_INT(mqttc_step(&c, 12000), MQTTC_OK);
    CHECK_EQ_INT(mqttc_timeout_ms(&c, 12000), 8000); /* last send at 10000 */
    CHECK_EQ_INT(mqttc_step(&c, 20000), MQTTC_OK);
    CHECK_EQ_INT(next_sent(&l, &pos, &p), MQTTC_PINGREQ);
    CHECK_EQ_INT(mqttc_step(&c, 22999), MQTTC_OK);
    CHECK_EQ_INT(mqttc_step(&c, 23000), MQTTC_ERR_PINGRESP);
    CHECK(strcmp(mqttc_errname(mqttc_error(&c)), "pingresp") == 0);
    mqttc_deinit(&c);
    mem_free(&l);
}

/* A client that only receives still pings (the broker drops it at 1.5 x keepalive
   otherwise [MQTT-3.1.2-24]); one that only sends pings to learn the link is alive. */
TEST(keepalive_counts_both_directions) {
    mqttc_client c;
    mem_link l = {0};
    mqttc_options o;
    test_packet p;
    size_t pos = 0;
    static const unsigned char pub[] = {0x30, 0x03, 0x00, 0x01, 't'};
    base_options(&o);
    o.keepalive_s = 10;
    connect_over(&c, &l, &o);
    next_sent(&l, &pos, &p);
    for (uint64_t now = 2000; now < 10000; now += 2000) {
        mem_feed(&l, pub, sizeof pub);
        mqttc_step(&c, now);
    }
    CHECK_EQ_INT(S.messages, 4);
    mqttc_step(&c, 10000);
    CHECK_EQ_INT(next_sent(&l, &pos, &p), MQTTC_PINGREQ);
    mqttc_deinit(&c);
    mem_free(&l);
    /* sending only: the ping is due keepalive after the last byte received */
    pos = 0;
    connect_over(&c, &l, &o);
    next_sent(&l, &pos, &p);
    for (uint64_t now = 2000; now < 10000; now += 2000) {
        mqttc_step(&c, now);
        CHECK_EQ_INT(mqttc_publish(&c, "t", "x", 1, 0, 0, NULL), MQTTC_OK);
    }
    CHECK_EQ_INT(mqttc_timeout_ms(&c, 8000), 2000);
    mqttc_step(&c, 10000);
    int types[8], k = 0;
    while (k < 8 && (types[k] = next_sent(&l, &pos, &p)) != 0) k++;
    CHECK_EQ_INT(k, 5);
    CHECK_EQ_INT(types[4], MQTTC_PINGREQ);
    mqttc_deinit(&c);
    mem_free(&l);
}

TEST(qos1_and_qos2_outgoing) {
    mqttc_client c;
    mem_link l = {0};
    mqttc_options o;
    test_packet p;
    size_t pos = 0;
    unsigned short id1, id2;
    base_options(&o);
    connect_over(&c, &l, &o);
    next_sent(&l, &pos, &p);
    CHECK_EQ_INT(mqttc_publish(&c, "a/b", "one", 3, 1, 0, &id1), MQTTC_OK);
    CHECK_EQ_INT(mqttc_publish(&c, "a/b", "two", 3, 2, 1, &id2), MQTTC_OK);
    CHECK(id1 != 0 && id2 != 0 && id1 != id2); /* [MQTT-2.3.1-1/2] */
    CHECK_EQ_INT(mqttc_inflight(&c), 2);
    CHECK_EQ_INT(next_sent(&l, &pos, &p), MQTTC_PUBLISH);
    CHECK(p.qos == 1 && p.packet_id == id1 && p.dup == 0 && p.payload_len == 3); /* [MQTT-4.3.2-1] */
    CHECK_EQ_INT(next_sent(&l, &pos, &p), MQTTC_PUBLISH);
    CHECK(p.qos == 2 && p.packet_id == id2 && p.retain == 1);
    unsigned char puback[] = {0x40, 0x02, (unsigned char)(id1 >> 8), (unsigned char)id1};
    unsigned char pubrec[] = {0x50, 0x02, (unsigned char)(id2 >> 8), (unsigned char)id2};
    unsigned char pubcomp[] = {0x70, 0x02, (unsigned char)(id2 >> 8), (unsigned char)id2};
    mem_feed(&l, puback, 4);
    mem_feed(&l, pubrec, 4);
    mqttc_step(&c, 1);
    CHECK_EQ_INT(S.published, 1);
    CHECK_EQ_INT(S.last_id, id1);
    CHECK_EQ_INT(next_sent(&l, &pos, &p), MQTTC_PUBREL); /* [MQTT-4.3.3-1] */
    CHECK_EQ_INT(p.packet_id, id2);
    CHECK_EQ_INT(mqttc_inflight(&c), 1);
    mem_feed(&l, pubcomp, 4);
    mem_feed(&l, puback, 4); /* a stray: ignored */
    mem_feed(&l, pubcomp, 4);
    CHECK_EQ_INT(mqttc_step(&c, 2), MQTTC_OK);
    CHECK_EQ_INT(S.published, 2);
    CHECK_EQ_INT(mqttc_inflight(&c), 0);
    CHECK_EQ_INT(next_sent(&l, &pos, &p), 0);
    mqttc_deinit(&c);
    mem_free(&l);
}

/* [MQTT-4.3.2-2], [MQTT-4.3.3-2]: acks by QoS; QoS 2 delivered once. */
TEST(qos1_and_qos2_incoming) {
    mqttc_client c;
    mem_link l = {0};
    mqttc_options o;
    test_packet p;
    size_t pos = 0;
    static const unsigned char q1[] = {0x32, 0x06, 0x00, 0x01, 'x', 0x00, 0x07, 'A'};
    static const unsigned char q2[] = {0x34, 0x06, 0x00, 0x01, 'y', 0x00, 0x09, 'B'};
    static const unsigned char q2dup[] = {0x3C, 0x06, 0x00, 0x01, 'y', 0x00, 0x09, 'B'};
    static const unsigned char pubrel[] = {0x62, 0x02, 0x00, 0x09};
    base_options(&o);
    connect_over(&c, &l, &o);
    next_sent(&l, &pos, &p);
    mem_feed(&l, q1, sizeof q1);
    mem_feed(&l, q2, sizeof q2);
    mem_feed(&l, q2dup, sizeof q2dup);
    mqttc_step(&c, 1);
    CHECK_EQ_INT(S.messages, 2);
    CHECK(strcmp(S.last_topic, "y") == 0 && strcmp(S.last_payload, "B") == 0 && S.last_qos == 2);
    CHECK_EQ_INT(next_sent(&l, &pos, &p), MQTTC_PUBACK);
    CHECK_EQ_INT(p.packet_id, 7);
    CHECK_EQ_INT(next_sent(&l, &pos, &p), MQTTC_PUBREC);
    CHECK_EQ_INT(next_sent(&l, &pos, &p), MQTTC_PUBREC); /* again for the repeat, not delivered */
    CHECK_EQ_INT(p.packet_id, 9);
    mem_feed(&l, pubrel, 4);
    mqttc_step(&c, 2);
    CHECK_EQ_INT(next_sent(&l, &pos, &p), MQTTC_PUBCOMP);
    CHECK_EQ_INT(p.packet_id, 9);
    mem_feed(&l, q2, sizeof q2); /* after PUBCOMP the id is new */
    mem_feed(&l, pubrel, 4);
    mem_feed(&l, pubrel, 4); /* a stray PUBREL still gets PUBCOMP */
    mqttc_step(&c, 3);
    CHECK_EQ_INT(S.messages, 3);
    CHECK_EQ_INT(next_sent(&l, &pos, &p), MQTTC_PUBREC);
    CHECK_EQ_INT(next_sent(&l, &pos, &p), MQTTC_PUBCOMP);
    CHECK_EQ_INT(next_sent(&l, &pos, &p), MQTTC_PUBCOMP);
    mqttc_deinit(&c);
    mem_free(&l);
}

TEST(inflight_window_is_bounded) {
    mqttc_client c;
    mem_link l = {0};
    mqttc_options o;
    unsigned short id;
    static const unsigned char puback_first[] = {0x40, 0x02, 0x00, 0x01};
    base_options(&o);
    o.max_inflight = 2;
    connect_over(&c, &l, &o);
    CHECK_EQ_INT(mqttc_publish(&c, "t", "1", 1, 1, 0, &id), MQTTC_OK);
    CHECK_EQ_INT(id, 1);
    CHECK_EQ_INT(mqttc_publish(&c, "t", "2", 1, 2, 0, NULL), MQTTC_OK);
    CHECK_EQ_INT(mqttc_publish(&c, "t", "3", 1, 1, 0, &id), MQTTC_ERR_BUSY);
    CHECK_EQ_INT(id, 0);
    CHECK_EQ_INT(mqttc_publish(&c, "t", "q0 is not windowed", 18, 0, 0, NULL), MQTTC_OK);
    mem_feed(&l, puback_first, 4);
    mqttc_step(&c, 1);
    CHECK_EQ_INT(mqttc_publish(&c, "t", "3", 1, 1, 0, &id), MQTTC_OK);
    CHECK_EQ_INT(id, 3); /* 1 is free again, but ids move on: 2 is in use */
    mqttc_deinit(&c);
    mem_free(&l);
}

/* Packet ids wrap 65535 -> 1 and skip ids still in use [MQTT-2.3.1-2]. */
TEST(packet_ids_wrap_and_skip) {
    mqttc_client c;
    mem_link l = {0};
    mqttc_options o;
    unsigned short id;
    base_options(&o);
    connect_over(&c, &l, &o);
    CHECK_EQ_INT(mqttc_publish(&c, "t", "x", 1, 1, 0, &id), MQTTC_OK); /* id 1 stays in flight */
    c.last_id = 65534;
    CHECK_EQ_INT(mqttc_publish(&c, "t", "x", 1, 1, 0, &id), MQTTC_OK);
    CHECK_EQ_INT(id, 65535);
    CHECK_EQ_INT(mqttc_publish(&c, "t", "x", 1, 1, 0, &id), MQTTC_OK);
    CHECK_EQ_INT(id, 2);
    mqttc_deinit(&c);
    mem_free(&l);
}

TEST(subscribe_handlers_and_acks) {
    mqttc_client c;
    mem_link l = {0};
    mqttc_options o;
    test_packet p;
    size_t pos = 0;
    unsigned short sid, uid, sid2;
    static const unsigned char in_ab[] = {0x30, 0x05, 0x00, 0x03, 'a', '/', 'b'};
    static const unsigned char in_zz[] = {0x30, 0x04, 0x00, 0x02, 'z', 'z'};
    base_options(&o);
    connect_over(&c, &l, &o);
    next_sent(&l, &pos, &p);
    CHECK_EQ_INT(mqttc_subscribe(&c, "a/+", 1, on_suback, on_handler, NULL, &sid), MQTTC_OK);
    CHECK_EQ_INT(next_sent(&l, &pos, &p), MQTTC_SUBSCRIBE);
    CHECK_EQ_INT(p.packet_id, sid);
    unsigned char suback[] = {0x90, 0x03, (unsigned char)(sid >> 8), (unsigned char)sid, 0x01};
    mem_feed(&l, suback, sizeof suback);
    mem_feed(&l, in_ab, sizeof in_ab);
    mem_feed(&l, in_zz, sizeof in_zz);
    mqttc_step(&c, 1);
    CHECK_EQ_INT(S.subacks, 1);
    CHECK_EQ_INT(S.last_code, 1);
    CHECK_EQ_INT(S.handler_messages, 1); /* a/b went to the filter's handler */
    CHECK_EQ_INT(S.messages, 1);         /* zz to the global one */
    CHECK_EQ_INT(mqttc_unsubscribe(&c, "a/+", on_unsuback, NULL, &uid), MQTTC_OK);
    CHECK_EQ_INT(next_sent(&l, &pos, &p), MQTTC_UNSUBSCRIBE);
    unsigned char unsuback[] = {0xB0, 0x02, (unsigned char)(uid >> 8), (unsigned char)uid};
    mem_feed(&l, unsuback, sizeof unsuback);
    mem_feed(&l, in_ab, sizeof in_ab);
    mqttc_step(&c, 2);
    CHECK_EQ_INT(S.unsubacks, 1);
    CHECK_EQ_INT(S.last_id, uid);
    CHECK_EQ_INT(S.handler_messages, 1);
    CHECK_EQ_INT(S.messages, 2); /* the handler is gone */
    /* a refused subscription (0x80) reaches the callback and drops the handler */
    CHECK_EQ_INT(mqttc_subscribe(&c, "a/#", 2, on_suback, on_handler, NULL, &sid2), MQTTC_OK);
    unsigned char refused[] = {0x90, 0x03, (unsigned char)(sid2 >> 8), (unsigned char)sid2, 0x80};
    mem_feed(&l, refused, sizeof refused);
    mem_feed(&l, in_ab, sizeof in_ab);
    CHECK_EQ_INT(mqttc_step(&c, 3), MQTTC_OK);
    CHECK_EQ_INT(S.last_code, 0x80);
    CHECK_EQ_INT(S.handler_messages, 1);
    CHECK_EQ_INT(S.messages, 3);
    /* argument errors: nothing on the wire */
    size_t before = l.out_len;
    CHECK_EQ_INT(mqttc_subscribe(&c, "a/#/b", 0, NULL, NULL, NULL, NULL), MQTTC_ERR_ARG);
    CHECK_EQ_INT(mqttc_subscribe(&c, "", 0, NULL, NULL, NULL, NULL), MQTTC_ERR_ARG);
    CHECK_EQ_INT(mqttc_subscribe(&c, "ok", 3, NULL, NULL, NULL, NULL), MQTTC_ERR_ARG);
    CHECK_EQ_INT(mqttc_unsubscribe(&c, "a+", NULL, NULL, NULL), MQTTC_ERR_ARG);
    CHECK_EQ_INT(mqttc_publish(&c, "a/+", "x", 1, 0, 0, NULL), MQTTC_ERR_ARG);
    CHECK_EQ_INT(mqttc_publish(&c, "a/#", "x", 1, 0, 0, NULL), MQTTC_ERR_ARG);
    CHECK_EQ_INT(mqttc_publish(&c, "", "x", 1, 0, 0, NULL), MQTTC_ERR_ARG);
    CHECK_EQ_INT(mqttc_publish(&c, NULL, "x", 1, 0, 0, NULL), MQTTC_ERR_ARG);
    CHECK_EQ_INT(mqttc_publish(&c, "bad\xc3", "x", 1, 0, 0, NULL), MQTTC_ERR_ARG);
    CHECK_EQ_INT(mqttc_publish(&c, "t", "x", 1, 3, 0, NULL), MQTTC_ERR_ARG);
    CHECK_EQ_INT(mqttc_publish(&c, "t", NULL, 1, 0, 0, NULL), MQTTC_ERR_ARG);
    CHECK_EQ_INT(l.out_len, before);
    CHECK_EQ_INT(mqttc_state(&c), MQTTC_STATE_CONNECTED);
    mqttc_deinit(&c);
    mem_free(&l);
}

/* Overlapping filters: every matching handler sees the message. */
TEST(overlapping_handlers) {
    mqttc_client c;
    mem_link l = {0};
    mqttc_options o;
    static const unsigned char in_ab[] = {0x30, 0x05, 0x00, 0x03, 'a', '/', 'b'};
    base_options(&o);
    connect_over(&c, &l, &o);
    CHECK_EQ_INT(mqttc_subscribe(&c, "a/#", 0, NULL, on_handler, NULL, NULL), MQTTC_OK);
    CHECK_EQ_INT(mqttc_subscribe(&c, "+/b", 0, NULL, on_handler, NULL, NULL), MQTTC_OK);
    CHECK_EQ_INT(mqttc_subscribe(&c, "a/#", 0, NULL, on_handler, NULL, NULL), MQTTC_OK); /* replaces, not adds */
    mem_feed(&l, in_ab, sizeof in_ab);
    mqttc_step(&c, 1);
    CHECK_EQ_INT(S.handler_messages, 2);
    CHECK_EQ_INT(S.messages, 0);
    mqttc_deinit(&c);
    mem_free(&l);
}

/* Callbacks may publish, subscribe and disconnect; after DISCONNECT nothing is sent
   [MQTT-3.14.4-2] and the acks of what was received before still go out first. */
static void reentrant(mqttc_client *c, const mqttc_message *m, void *u) {
    (void)u;
    S.messages++;
    CHECK_EQ_INT(mqttc_publish(c, "echo", m->payload, m->payload_len, 1, 0, NULL), MQTTC_OK);
    CHECK_EQ_INT(mqttc_subscribe(c, "more", 0, NULL, NULL, NULL, NULL), MQTTC_OK);
    CHECK_EQ_INT(mqttc_disconnect(c), MQTTC_OK);
    CHECK_EQ_INT(mqttc_publish(c, "late", "x", 1, 0, 0, NULL), MQTTC_ERR_STATE);
}

/* Stepping from inside a callback would re-enter dispatch mid-packet: refused. */
static int nested_rc = 1;
static void steps_inside(mqttc_client *c, const mqttc_message *m, void *u) {
    (void)u;
    S.messages++;
    remember(m);
    nested_rc = mqttc_step(c, 5);
    CHECK_EQ_INT(mqttc_run_for(c, 10), MQTTC_ERR_STATE);
}

TEST(step_inside_a_callback_is_refused) {
    mqttc_client c;
    mem_link l = {0};
    mqttc_options o;
    static const unsigned char two[] = {0x30, 0x03, 0x00, 0x01, 'a', 0x30, 0x03, 0x00, 0x01, 'b'};
    base_options(&o);
    o.on_message = steps_inside;
    connect_over(&c, &l, &o);
    mem_feed(&l, two, sizeof two);
    CHECK_EQ_INT(mqttc_step(&c, 1), MQTTC_OK);
    CHECK_EQ_INT(nested_rc, MQTTC_ERR_STATE);
    CHECK_EQ_INT(S.messages, 2); /* both delivered once, in order */
    CHECK(strcmp(S.last_topic, "b") == 0);
    mqttc_deinit(&c);
    mem_free(&l);
}

TEST(callbacks_reenter_the_api) {
    mqttc_client c;
    mem_link l = {0};
    mqttc_options o;
    test_packet p;
    size_t pos = 0;
    static const unsigned char q1[] = {0x32, 0x06, 0x00, 0x01, 'x', 0x00, 0x07, 'A'};
    static const unsigned char q1b[] = {0x32, 0x06, 0x00, 0x01, 'x', 0x00, 0x08, 'B'};
    base_options(&o);
    o.on_message = reentrant;
    connect_over(&c, &l, &o);
    next_sent(&l, &pos, &p);
    mem_feed(&l, q1, sizeof q1);
    mem_feed(&l, q1b, sizeof q1b); /* a new flow after the disconnect: not taken */
    CHECK_EQ_INT(mqttc_step(&c, 1), MQTTC_OK);
    CHECK_EQ_INT(mqttc_state(&c), MQTTC_STATE_DRAINING); /* the echo is in flight */
    CHECK_EQ_INT(S.messages, 1);
    int want[] = {MQTTC_PUBACK, MQTTC_PUBLISH, MQTTC_SUBSCRIBE, 0};
    for (int i = 0; i < 4; i++) CHECK_EQ_INT(next_sent(&l, &pos, &p), want[i]);
    static const unsigned char echo_ack[] = {0x40, 0x02, 0x00, 0x01};
    mem_feed(&l, echo_ack, sizeof echo_ack);
    CHECK_EQ_INT(mqttc_step(&c, 2), MQTTC_ERR_DISCONNECT);
    CHECK_EQ_INT(next_sent(&l, &pos, &p), MQTTC_DISCONNECT);
    CHECK_EQ_INT(next_sent(&l, &pos, &p), 0); /* q1b was never acknowledged */
    CHECK_EQ_INT(S.messages, 1);
    CHECK_EQ_INT(mqttc_state(&c), MQTTC_STATE_CLOSED);
    CHECK(strcmp(mqttc_errname(mqttc_error(&c)), "disconnect") == 0);
    CHECK_EQ_INT(mqttc_inflight(&c), 0);
    CHECK_EQ_INT(l.closed, 1);
    CHECK_EQ_INT(mqttc_run(&c), MQTTC_ERR_DISCONNECT); /* ended: returns at once, no wait */
    CHECK_EQ_INT(mqttc_run_for(&c, 100000), MQTTC_ERR_DISCONNECT);
    mqttc_deinit(&c);
    mem_free(&l);
}

/* Reads and writes of one byte at a time: the same conversation, the same bytes. */
TEST(one_byte_at_a_time) {
    mqttc_client c;
    mem_link l = {0};
    mqttc_options o;
    mqttc_transport t = mem_transport(&l);
    test_packet p;
    size_t pos = 0;
    char payload[300];
    memset(payload, 'p', sizeof payload);
    base_options(&o);
    l.read_chunk = l.write_chunk = 1;
    memset(&S, 0, sizeof S);
    mqttc_init(&c, &o);
    mqttc_start_transport(&c, &t, 0);
    mem_feed(&l, CONNACK_OK, 4);
    pump(&c, &l, 0);
    CHECK_EQ_INT(mqttc_state(&c), MQTTC_STATE_CONNECTED);
    l.write_stalled = 1; /* the socket is busy: the publish waits for a writable event */
    CHECK_EQ_INT(mqttc_publish(&c, "a/b", payload, sizeof payload, 1, 0, NULL), MQTTC_OK);
    CHECK(mqttc_pending_output(&c) > 0);
    CHECK(mqttc_events(&c) & MQTTC_EV_WRITE);
    l.write_stalled = 0;
    pump(&c, &l, 0);
    CHECK_EQ_INT(mqttc_pending_output(&c), 0);
    unsigned char in[400];
    size_t n;
    mqttc_str topic = {"in/x", 4};
    n = test_publish_bytes(in, sizeof in, topic.ptr, payload, sizeof payload, 2, 0, 0, 77);
    mem_feed(&l, in, n);
    static const unsigned char puback[] = {0x40, 0x02, 0x00, 0x01};
    mem_feed(&l, puback, 4);
    pump(&c, &l, 0);
    CHECK_EQ_INT(S.messages, 1);
    CHECK_EQ_INT(S.published, 1);
    CHECK(strcmp(S.last_topic, "in/x") == 0);
    CHECK_EQ_INT(next_sent(&l, &pos, &p), MQTTC_CONNECT);
    CHECK_EQ_INT(next_sent(&l, &pos, &p), MQTTC_PUBLISH);
    CHECK_EQ_INT(p.payload_len, sizeof payload);
    CHECK_EQ_INT(next_sent(&l, &pos, &p), MQTTC_PUBREC);
    CHECK_EQ_INT(p.packet_id, 77);
    mqttc_deinit(&c);
    mem_free(&l);
}

/* With clean session off, a reconnect resends unacknowledged PUBLISH with DUP and the same
   id, and PUBREL for those past PUBREC [MQTT-4.4.0-1]; with clean on they are dropped. */
static int dropped_why;
static unsigned short dropped_id;
static void on_dropped(mqttc_client *c, const mqttc_publish_info *m, int why, void *u) {
    (void)c; (void)u;
    dropped_why = why;
    dropped_id = m->packet_id;
}

TEST(reconnect_resends_inflight) {
    mqttc_client c;
    mem_link l = {0};
    mqttc_options o;
    test_packet p;
    size_t pos = 0;
    unsigned short id1, id2, id3;
    base_options(&o);
    o.no_clean_session = 1;
    connect_over(&c, &l, &o);
    mqttc_publish(&c, "t", "1", 1, 1, 0, &id1);
    mqttc_publish(&c, "t", "2", 1, 2, 0, &id2);
    mqttc_publish(&c, "t", "3", 1, 2, 0, &id3);
    unsigned char pubrec[] = {0x50, 0x02, (unsigned char)(id2 >> 8), (unsigned char)id2};
    mem_feed(&l, pubrec, 4);
    l.is_eof = 1;
    mqttc_step(&c, 1); /* reads the PUBREC; the next read sees the end */
    CHECK_EQ_INT(mqttc_step(&c, 1), MQTTC_ERR_CLOSED);
    CHECK_EQ_INT(mqttc_inflight(&c), 3); /* accounted for, not dropped */
    mem_free(&l);
    mqttc_transport t = mem_transport(&l);
    CHECK_EQ_INT(mqttc_start_transport(&c, &t, 2), MQTTC_OK);
    static const unsigned char connack_sp[] = {0x20, 0x02, 0x01, 0x00};
    mem_feed(&l, connack_sp, 4);
    CHECK_EQ_INT(mqttc_step(&c, 3), MQTTC_OK);
    CHECK_EQ_INT(next_sent(&l, &pos, &p), MQTTC_CONNECT);
    /* PUBREL first: the broker counts that flow in flight until it has it */
    CHECK_EQ_INT(next_sent(&l, &pos, &p), MQTTC_PUBREL); /* never the PUBLISH again [MQTT-4.3.3-1] */
    CHECK_EQ_INT(p.packet_id, id2);
    CHECK_EQ_INT(next_sent(&l, &pos, &p), MQTTC_PUBLISH);
    CHECK(p.packet_id == id1 && p.dup == 1 && p.qos == 1); /* [MQTT-3.3.1-1] */
    CHECK_EQ_INT(next_sent(&l, &pos, &p), MQTTC_PUBLISH);
    CHECK(p.packet_id == id3 && p.dup == 1 && p.qos == 2);
    CHECK_EQ_INT(next_sent(&l, &pos, &p), 0);
    mqttc_deinit(&c);
    mem_free(&l);
    /* clean session: the broker keeps nothing [MQTT-3.1.2-6], and nothing is lost silently:
       the QoS 1 message goes again as a new one (DUP 0), the QoS 2 one is told to on_dropped */
    base_options(&o);
    o.on_dropped = on_dropped;
    connect_over(&c, &l, &o);
    mqttc_publish(&c, "t", "1", 1, 1, 0, &id1);
    mqttc_publish(&c, "t", "2", 1, 2, 0, &id2);
    l.is_eof = 1;
    mqttc_step(&c, 1);
    CHECK_EQ_INT(mqttc_inflight(&c), 2);
    mem_free(&l);
    t = mem_transport(&l);
    mqttc_start_transport(&c, &t, 2);
    mem_feed(&l, CONNACK_OK, 4);
    mqttc_step(&c, 3);
    CHECK_EQ_INT(mqttc_inflight(&c), 1);
    CHECK_EQ_INT(dropped_why, MQTTC_ERR_SESSION_LOST);
    CHECK_EQ_INT(dropped_id, id2);
    pos = 0;
    CHECK_EQ_INT(next_sent(&l, &pos, &p), MQTTC_CONNECT);
    CHECK_EQ_INT(next_sent(&l, &pos, &p), MQTTC_PUBLISH);
    CHECK(p.packet_id == id1 && p.dup == 0 && p.qos == 1);
    CHECK_EQ_INT(next_sent(&l, &pos, &p), 0);
    mqttc_deinit(&c);
    mem_free(&l);
}

TEST(session_present_on_clean_session_is_an_error) {
    mqttc_client c;
    mem_link l = {0};
    mqttc_transport t = mem_transport(&l);
    static const unsigned char connack_sp[] = {0x20, 0x02, 0x01, 0x00};
    mqttc_init(&c, NULL);
    mqttc_start_transport(&c, &t, 0);
    mem_feed(&l, connack_sp, 4);
    CHECK_EQ_INT(mqttc_step(&c, 1), MQTTC_ERR_PROTOCOL);
    mqttc_deinit(&c);
    mem_free(&l);
}

TEST(protocol_errors_after_connack) {
    static const unsigned char connack_again[] = {0x20, 0x02, 0x00, 0x00};
    static const unsigned char subscribe[] = {0x82, 0x04, 0x00, 0x01, 0x00, 0x00};
    static const unsigned char pingreq[] = {0xC0, 0x00};
    static const unsigned char suback_unknown[] = {0x90, 0x03, 0x00, 0x63, 0x00};
    static const unsigned char unsuback_unknown[] = {0xB0, 0x02, 0x00, 0x63};
    static const unsigned char malformed[] = {0x30, 0x03, 0x00, 0x09, 'x'};
    const unsigned char *cases[] = {connack_again, subscribe, pingreq, suback_unknown, unsuback_unknown, malformed};
    size_t sizes[] = {4, 6, 2, 5, 4, 5};
    for (int i = 0; i < 6; i++) {
        mqttc_client c;
        mem_link l = {0};
        mqttc_options o;
        base_options(&o);
        connect_over(&c, &l, &o);
        mem_feed(&l, cases[i], sizes[i]);
        CHECK_EQ_INT(mqttc_step(&c, 1), MQTTC_ERR_PROTOCOL);
        CHECK_EQ_INT(l.closed, 1);
        mqttc_deinit(&c);
        mem_free(&l);
    }
}

TEST(incoming_size_limit) {
    mqttc_client c;
    mem_link l = {0};
    mqttc_options o;
    unsigned char big[300], payload[260] = {0};
    size_t n;
    mqttc_str topic = {"t", 1};
    base_options(&o);
    o.max_packet_size = 256;
    connect_over(&c, &l, &o);
    n = test_publish_bytes(big, sizeof big, topic.ptr, payload, sizeof payload, 0, 0, 0, 0);
    CHECK_EQ_INT(n, 266);
    mem_feed(&l, big, 10); /* the header alone is enough to know */
    CHECK_EQ_INT(mqttc_step(&c, 1), MQTTC_ERR_OVERFLOW);
    CHECK(strcmp(mqttc_errname(mqttc_error(&c)), "overflow") == 0);
    mqttc_deinit(&c);
    mem_free(&l);
}

/* A broker that stops reading: publishes say BUSY once max_output is queued; reading
   stops too, and the buffered output stays bounded. */
TEST(output_is_bounded_when_the_broker_stops_reading) {
    mqttc_client c;
    mem_link l = {0};
    mqttc_options o;
    char payload[1000];
    int busy = 0, sent = 0;
    memset(payload, 'x', sizeof payload);
    base_options(&o);
    o.max_output = 8192;
    connect_over(&c, &l, &o);
    l.write_stalled = 1;
    for (int i = 0; i < 100; i++) {
        int rc = mqttc_publish(&c, "t", payload, sizeof payload, 0, 0, NULL);
        if (rc == MQTTC_ERR_BUSY) busy++;
        else if (rc == MQTTC_OK) sent++;
    }
    CHECK(busy > 0);
    CHECK(mqttc_pending_output(&c) <= 8192 + sizeof payload + 8);
    CHECK(mqttc_events(&c) & MQTTC_EV_WRITE);
    l.write_stalled = 0;
    mqttc_step(&c, 1);
    CHECK_EQ_INT(mqttc_pending_output(&c), 0);
    CHECK_EQ_INT(mqttc_publish(&c, "t", payload, sizeof payload, 0, 0, NULL), MQTTC_OK);
    mqttc_deinit(&c);
    mem_free(&l);
}

/* Disconnect waits for DISCONNECT to be written, up to the disconnect timeout. */
TEST(disconnect_drains_then_closes) {
    mqttc_client c;
    mem_link l = {0};
    mqttc_options o;
    test_packet p;
    size_t pos = 0;
    base_options(&o);
    o.disconnect_timeout_ms = 1000;
    connect_over(&c, &l, &o);
    l.write_stalled = 1;
    CHECK_EQ_INT(mqttc_disconnect(&c), MQTTC_OK);
    CHECK_EQ_INT(mqttc_state(&c), MQTTC_STATE_DISCONNECTING);
    CHECK_EQ_INT(mqttc_step(&c, 10), MQTTC_OK);
    l.write_stalled = 0;
    CHECK_EQ_INT(mqttc_step(&c, 20), MQTTC_ERR_DISCONNECT);
    next_sent(&l, &pos, &p);
    CHECK_EQ_INT(next_sent(&l, &pos, &p), MQTTC_DISCONNECT);
    CHECK_EQ_INT(mqttc_disconnect(&c), MQTTC_ERR_STATE);
    mqttc_deinit(&c);
    mem_free(&l);
    /* never drained: closed at the deadline all the same */
    connect_over(&c, &l, &o);
    l.write_stalled = 1;
    mqttc_disconnect(&c);
    CHECK_EQ_INT(mqttc_timeout_ms(&c, 0), 1000);
    CHECK_EQ_INT(mqttc_step(&c, 1000), MQTTC_ERR_DISCONNECT);
    mqttc_deinit(&c);
    mem_free(&l);
}

TEST(cork_coalesces_until_flush) {
    mqttc_client c;
    mem_link l = {0};
    mqttc_options o;
    base_options(&o);
    connect_over(&c, &l, &o);
    size_t before = l.out_len;
    mqttc_cork(&c, 1);
    for (int i = 0; i < 10; i++) mqttc_publish(&c, "t", "x", 1, 0, 0, NULL);
    CHECK_EQ_INT(l.out_len, before);
    CHECK_EQ_INT(mqttc_pending_output(&c), 60);
    CHECK_EQ_INT(mqttc_flush(&c), MQTTC_OK);
    CHECK_EQ_INT(l.out_len, before + 60);
    mqttc_cork(&c, 0);
    CHECK_EQ_INT(mqttc_publish(&c, "t", "x", 1, 0, 0, NULL), MQTTC_OK);
    CHECK_EQ_INT(l.out_len, before + 66); /* idle socket: written through at once */
    mqttc_deinit(&c);
    mem_free(&l);
}

/* Batching without asking (no cork): what callbacks send during a step (the bridge case:
   each message republished, each acknowledged) leaves in one write at its end, and
   publishes made while earlier bytes wait for the socket join them in one write. */
static void republish(mqttc_client *c, const mqttc_message *m, void *u) {
    (void)u;
    S.messages++;
    CHECK_EQ_INT(mqttc_publish(c, "bridged", m->payload, m->payload_len, m->qos, 0, NULL), MQTTC_OK);
}

TEST(output_of_a_step_and_output_behind_waiting_bytes_leave_in_one_write) {
    mqttc_client c;
    mem_link l = {0};
    mqttc_options o;
    base_options(&o);
    o.on_message = republish;
    o.max_inflight = 100; /* (the default window of 20 would make the 21st BUSY) */
    connect_over(&c, &l, &o);
    for (int i = 0; i < 50; i++) test_feed_publish(&l, "in", "m", 1, (unsigned short)(i + 1));
    long sends = l.sends;
    size_t pos = l.out_len;
    CHECK_EQ_INT(mqttc_step(&c, 0), MQTTC_OK);
    CHECK_EQ_INT(S.messages, 50);
    CHECK_EQ_INT(l.sends, sends + 1); /* 50 PUBACKs and 50 PUBLISHes: one write */
    int pubacks = 0, publishes = 0;
    test_packet t;
    while (test_next_sent(&l, &pos, &t)) {
        pubacks += t.type == MQTTC_PUBACK;
        publishes += t.type == MQTTC_PUBLISH;
    }
    CHECK_EQ_INT(pubacks, 50);
    CHECK_EQ_INT(publishes, 50);
    /* the socket is busy: the first publish stays queued, the next 20 join it */
    l.write_stalled = 1;
    sends = l.sends;
    for (int i = 0; i < 21; i++) CHECK_EQ_INT(mqttc_publish(&c, "t", "x", 1, 0, 0, NULL), MQTTC_OK);
    CHECK_EQ_INT(mqttc_pending_output(&c), 21 * 6);
    l.write_stalled = 0;
    CHECK_EQ_INT(mqttc_step(&c, 0), MQTTC_OK);
    CHECK_EQ_INT(l.sends, sends + 1);
    CHECK_EQ_INT(mqttc_pending_output(&c), 0);
    mqttc_deinit(&c);
    mem_free(&l);
}

/* No allocation per message once buffers have grown to the working size. */
TEST(no_allocation_per_message) {
    mqttc_client c;
    mem_link l = {0};
    mqttc_options o;
    unsigned char in[64];
    size_t n;
    mqttc_str topic = {"in/t", 4};
    base_options(&o);
    connect_over(&c, &l, &o);
    mqttc_subscribe(&c, "in/#", 1, NULL, on_handler, NULL, NULL);
    long before = 0;
    for (int round = 0; round < 2000; round++) {
        if (round == 100) before = allocations; /* warmed up */
        unsigned short id;
        mqttc_publish(&c, "out/t", "payload", 7, round % 3, 0, &id);
        if (id) {
            unsigned char ack[4] = {round % 3 == 1 ? 0x40 : 0x50, 0x02, (unsigned char)(id >> 8), (unsigned char)id};
            mem_feed(&l, ack, 4);
            if (round % 3 == 2) { ack[0] = 0x70; mem_feed(&l, ack, 4); }
        }
        n = test_publish_bytes(in, sizeof in, topic.ptr, "data", 4, round % 3, 0, 0, (unsigned short)(round % 3 ? round + 1 : 0));
        mem_feed(&l, in, n);
        if (round % 3 == 2) {
            unsigned char rel[4] = {0x62, 0x02, (unsigned char)((round + 1) >> 8), (unsigned char)(round + 1)};
            mem_feed(&l, rel, 4);
        }
        mqttc_step(&c, (uint64_t)round);
    }
    CHECK_EQ_INT(S.handler_messages, 2000);
    CHECK_EQ_INT(mqttc_inflight(&c), 0);
    CHECK_EQ_INT(allocations - before, 0);
    mqttc_deinit(&c);
    mem_free(&l);
}

/* options.mem: the library never allocates, and its limits are explicit. */
TEST(caller_memory_never_allocates) {
    static unsigned char mem[16384];
    mqttc_client c;
    mem_link l = {0};
    mqttc_options o;
    char big[8000];
    memset(big, 'b', sizeof big);
    base_options(&o);
    o.mem = mem;
    o.mem_size = sizeof mem;
    long before = allocations;
    connect_over(&c, &l, &o);
    mqttc_subscribe(&c, "a/#", 2, NULL, on_handler, NULL, NULL);
    for (int i = 0; i < 100; i++) CHECK_EQ_INT(mqttc_publish(&c, "a/b", "hello", 5, 0, 0, NULL), MQTTC_OK);
    CHECK_EQ_INT(mqttc_publish(&c, "a/b", big, sizeof big, 0, 0, NULL), MQTTC_ERR_BUSY); /* over a quarter */
    static const unsigned char in_ab[] = {0x30, 0x06, 0x00, 0x03, 'a', '/', 'b', '!'};
    mem_feed(&l, in_ab, sizeof in_ab);
    mqttc_step(&c, 1);
    CHECK_EQ_INT(S.handler_messages, 1);
    CHECK_EQ_INT(allocations, before);
    mqttc_deinit(&c);
    mem_free(&l);
}

/* Transport errors on send end the connection with that error, not a crash. */
TEST(transport_errors) {
    mqttc_client c;
    mem_link l = {0};
    mqttc_options o;
    base_options(&o);
    connect_over(&c, &l, &o);
    l.fail_with = MQTTC_ERR_IO;
    /* accepted (the QoS 1 message stays in the session); the write-through failed */
    CHECK_EQ_INT(mqttc_publish(&c, "t", "x", 1, 1, 0, NULL), MQTTC_OK);
    CHECK_EQ_INT(mqttc_inflight(&c), 1);
    CHECK_EQ_INT(mqttc_state(&c), MQTTC_STATE_CLOSED);
    /* not connected: "state", as documented; the sticky cause stays readable */
    CHECK_EQ_INT(mqttc_publish(&c, "t", "x", 1, 0, 0, NULL), MQTTC_ERR_STATE);
    CHECK_EQ_INT(mqttc_subscribe(&c, "t", 0, NULL, NULL, NULL, NULL), MQTTC_ERR_STATE);
    CHECK_EQ_INT(mqttc_error(&c), MQTTC_ERR_IO);
    CHECK_EQ_INT(mqttc_step(&c, 2), MQTTC_ERR_IO);
    mqttc_deinit(&c);
    mem_free(&l);
}

/* options.on_trace sees every packet, both ways, in wire order, decoded. */
static int trace_types[32], trace_dirs[32], traced;
static void on_trace(mqttc_client *c, int is_sent, const mqttc_packet *p, void *u) {
    (void)c; (void)u;
    if (traced < 32) { trace_types[traced] = p->type; trace_dirs[traced] = is_sent; traced++; }
}

TEST(packet_trace) {
    mqttc_client c;
    mem_link l = {0};
    mqttc_options o;
    static const unsigned char q1[] = {0x32, 0x06, 0x00, 0x01, 'x', 0x00, 0x07, 'A'};
    static const unsigned char puback[] = {0x40, 0x02, 0x00, 0x01};
    base_options(&o);
    o.on_trace = on_trace;
    traced = 0;
    connect_over(&c, &l, &o);
    mqttc_publish(&c, "t", "x", 1, 1, 0, NULL);
    mem_feed(&l, q1, sizeof q1);
    mem_feed(&l, puback, sizeof puback);
    mqttc_step(&c, 1);
    mqttc_disconnect(&c);
    int want_types[] = {MQTTC_CONNECT, MQTTC_CONNACK, MQTTC_PUBLISH, MQTTC_PUBLISH, MQTTC_PUBACK, MQTTC_PUBACK, MQTTC_DISCONNECT};
    int want_dirs[] = {1, 0, 1, 0, 1, 0, 1};
    CHECK_EQ_INT(traced, 7);
    for (int i = 0; i < 7 && i < traced; i++) {
        CHECK_EQ_INT(trace_types[i], want_types[i]);
        CHECK_EQ_INT(trace_dirs[i], want_dirs[i]);
    }
    mqttc_deinit(&c);
    mem_free(&l);
}

/* ---- issue 11: graceful disconnect, CONNACK interleavings, handlers, API gaps ---- */

/* The types the client sent from *pos on, 0-terminated, into want-sized out. */
static int sent_types(mem_link *l, size_t *pos, int *out, int max) {
    test_packet p;
    int k = 0;
    while (k < max - 1 && next_sent(l, pos, &p)) out[k++] = p.type;
    out[k] = 0;
    return k;
}

/* mqttc_disconnect finishes the open QoS 1/2 flows, both ways, before DISCONNECT (as
   mosquitto_pub does; the Lua disconnect lost 19 of 100 QoS 2 messages without this). A new
   flow is not taken meanwhile; a repeated QoS 2 PUBLISH of an open flow gets PUBREC again
   [MQTT-4.3.3-2]; PUBCOMP goes before DISCONNECT. */
TEST(disconnect_finishes_open_flows) {
    mqttc_client c;
    mem_link l = {0};
    mqttc_options o;
    test_packet p;
    size_t pos = 0;
    unsigned short id1, id2;
    unsigned char dup7[256];
    base_options(&o);
    connect_over(&c, &l, &o);
    next_sent(&l, &pos, &p); /* CONNECT */
    CHECK_EQ_INT(mqttc_publish(&c, "t", "1", 1, 1, 0, &id1), MQTTC_OK);
    CHECK_EQ_INT(mqttc_publish(&c, "t", "2", 1, 2, 0, &id2), MQTTC_OK);
    test_feed_publish(&l, "in", "q2", 2, 7);
    CHECK_EQ_INT(mqttc_step(&c, 1), MQTTC_OK);
    CHECK_EQ_INT(S.messages, 1);
    CHECK_EQ_INT(mqttc_inflight(&c), 2);
    CHECK_EQ_INT(mqttc_inflight_in(&c), 1);
    CHECK_EQ_INT(mqttc_disconnect(&c), MQTTC_OK);
    CHECK_EQ_INT(mqttc_state(&c), MQTTC_STATE_DRAINING);
    CHECK_EQ_INT(mqttc_publish(&c, "t", "late", 4, 0, 0, NULL), MQTTC_ERR_STATE);
    CHECK_EQ_INT(mqttc_subscribe(&c, "t", 0, NULL, NULL, NULL, NULL), MQTTC_ERR_STATE);
    CHECK_EQ_INT(mqttc_state(&c), MQTTC_STATE_DRAINING);
    test_feed_publish(&l, "new", "q1", 1, 8); /* new flows: neither acknowledged nor delivered */
    test_feed_publish(&l, "new", "q0", 0, 0);
    mem_feed(&l, dup7, test_publish_bytes(dup7, 64, "in", "q2", strlen("q2"), 2, 0, 1, 7));
    CHECK_EQ_INT(mqttc_step(&c, 2), MQTTC_OK);
    CHECK_EQ_INT(S.messages, 1);
    test_feed_ack(&l, MQTTC_PUBACK, id1);
    test_feed_ack(&l, MQTTC_PUBREC, id2);
    CHECK_EQ_INT(mqttc_step(&c, 3), MQTTC_OK);
    CHECK_EQ_INT(mqttc_state(&c), MQTTC_STATE_DRAINING);
    test_feed_ack(&l, MQTTC_PUBCOMP, id2);
    test_feed_ack(&l, MQTTC_PUBREL, 7);
    CHECK_EQ_INT(mqttc_step(&c, 4), MQTTC_ERR_DISCONNECT);
    int types[16];
    sent_types(&l, &pos, types, 16);
    int want[] = {MQTTC_PUBLISH, MQTTC_PUBLISH, MQTTC_PUBREC, MQTTC_PUBREC, MQTTC_PUBREL, MQTTC_PUBCOMP,
                  MQTTC_DISCONNECT, 0};
    for (int i = 0; i < 8; i++) CHECK_EQ_INT(types[i], want[i]);
    CHECK_EQ_INT(S.published, 2);
    CHECK_EQ_INT(mqttc_inflight(&c), 0);
    CHECK_EQ_INT(mqttc_inflight_in(&c), 0);
    CHECK_EQ_INT(l.closed, 1);
    mqttc_deinit(&c);
    mem_free(&l);
}

/* A second mqttc_disconnect while draining stops waiting: DISCONNECT goes at once (a tool's
   second Ctrl-C), so the broker still drops the will; the unfinished flow stays counted. */
TEST(disconnect_again_stops_the_drain) {
    mqttc_client c;
    mem_link l = {0};
    mqttc_options o;
    test_packet p;
    size_t pos = 0;
    base_options(&o);
    connect_over(&c, &l, &o);
    next_sent(&l, &pos, &p);
    CHECK_RC(mqttc_publish(&c, "t", "1", 1, 1, 0, NULL), MQTTC_OK);
    CHECK_RC(mqttc_disconnect(&c), MQTTC_OK);
    CHECK_EQ_INT(mqttc_state(&c), MQTTC_STATE_DRAINING);
    CHECK_RC(mqttc_disconnect(&c), MQTTC_OK);
    CHECK_EQ_INT(mqttc_state(&c), MQTTC_STATE_DISCONNECTING);
    CHECK_RC(mqttc_step(&c, 1), MQTTC_ERR_DISCONNECT);
    CHECK_EQ_INT(next_sent(&l, &pos, &p), MQTTC_PUBLISH);
    CHECK_EQ_INT(next_sent(&l, &pos, &p), MQTTC_DISCONNECT);
    CHECK_EQ_INT(mqttc_inflight(&c), 1);
    mqttc_deinit(&c);
    mem_free(&l);
}

/* A drain that does not finish is bounded: DISCONNECT goes at disconnect_timeout_ms all the
   same, the end is "timeout", the unfinished flows are counted and kept; keepalive goes on
   while draining. */
TEST(disconnect_drain_is_bounded) {
    mqttc_client c;
    mem_link l = {0};
    mqttc_options o;
    test_packet p;
    size_t pos = 0;
    base_options(&o);
    o.disconnect_timeout_ms = 5000;
    o.keepalive_s = 2;
    connect_over(&c, &l, &o);
    next_sent(&l, &pos, &p);
    CHECK_EQ_INT(mqttc_publish(&c, "t", "1", 1, 1, 0, NULL), MQTTC_OK);
    CHECK_EQ_INT(mqttc_disconnect(&c), MQTTC_OK);
    CHECK_EQ_INT(mqttc_timeout_ms(&c, 0), 2000); /* the ping comes first */
    CHECK_EQ_INT(mqttc_step(&c, 2000), MQTTC_OK);
    static const unsigned char pingresp[] = {0xD0, 0x00};
    mem_feed(&l, pingresp, sizeof pingresp);
    CHECK_EQ_INT(mqttc_step(&c, 2100), MQTTC_OK);
    CHECK_EQ_INT(mqttc_timeout_ms(&c, 2100), 1900);
    CHECK_EQ_INT(mqttc_step(&c, 4999), MQTTC_OK);
    CHECK_EQ_INT(mqttc_step(&c, 5000), MQTTC_ERR_TIMEOUT);
    int types[8];
    sent_types(&l, &pos, types, 8);
    int want[] = {MQTTC_PUBLISH, MQTTC_PINGREQ, MQTTC_PINGREQ, MQTTC_DISCONNECT, 0};
    for (int i = 0; i < 5; i++) CHECK_EQ_INT(types[i], want[i]);
    CHECK(strcmp(mqttc_errname(mqttc_error(&c)), "timeout") == 0);
    CHECK_EQ_INT(mqttc_inflight(&c), 1);
    mqttc_deinit(&c);
    mem_free(&l);
}

/* The README's poll loop hung: mqttc_disconnect closed at once, then fd -1 and timeout -1
   made poll wait forever. The close is now the next step's, and a client that is not open
   has timeout 0, so a loop around poll always reaches step and sees the end. */
TEST(disconnect_leaves_the_close_to_step) {
    mqttc_client c;
    mem_link l = {0};
    mqttc_options o;
    base_options(&o);
    connect_over(&c, &l, &o);
    CHECK_EQ_INT(mqttc_disconnect(&c), MQTTC_OK);
    CHECK_EQ_INT(mqttc_state(&c), MQTTC_STATE_DISCONNECTING);
    CHECK_EQ_INT(l.closed, 0);
    CHECK_EQ_INT(mqttc_timeout_ms(&c, 5), 0);
    CHECK_EQ_INT(mqttc_step(&c, 5), MQTTC_ERR_DISCONNECT);
    CHECK_EQ_INT(l.closed, 1);
    CHECK_EQ_INT(mqttc_timeout_ms(&c, 6), 0);
    CHECK_EQ_INT(mqttc_step(&c, 6), MQTTC_ERR_DISCONNECT);
    mqttc_deinit(&c);
    mem_free(&l);
    /* before CONNACK a disconnect closes at once; the loop still ends through step */
    mqttc_transport t = mem_transport(&l);
    mqttc_init(&c, &o);
    CHECK_EQ_INT(mqttc_timeout_ms(&c, 0), 0); /* idle: step says "state" */
    mqttc_start_transport(&c, &t, 0);
    CHECK_EQ_INT(mqttc_disconnect(&c), MQTTC_OK);
    CHECK_EQ_INT(mqttc_timeout_ms(&c, 0), 0);
    CHECK_EQ_INT(mqttc_step(&c, 0), MQTTC_ERR_DISCONNECT);
    mqttc_deinit(&c);
    mem_free(&l);
}

/* A resumed session's messages often come in the same read as the CONNACK. The step that
   handles the CONNACK returns with the client connected and nothing delivered; the next
   step delivers. Checked with every read size, so the CONNACK and the messages are split
   at every byte. */
TEST(messages_after_connack_wait_for_the_next_step) {
    unsigned char stream[64];
    size_t len = 0;
    memcpy(stream, CONNACK_OK, 4);
    len = 4;
    len += test_publish_bytes(stream + len, 64, "a", "first", strlen("first"), 0, 0, 0, 0);
    len += test_publish_bytes(stream + len, 64, "b", "second", strlen("second"), 1, 0, 0, 9);
    for (size_t chunk = 0; chunk <= len; chunk++) {
        mqttc_client c;
        mem_link l = {0};
        mqttc_options o;
        mqttc_transport t = mem_transport(&l);
        int messages_when_connected = -1, steps = 0;
        base_options(&o);
        memset(&S, 0, sizeof S);
        mqttc_init(&c, &o);
        mqttc_start_transport(&c, &t, 0);
        l.read_chunk = chunk;
        mem_feed(&l, stream, len);
        while (S.messages < 2 && steps++ < 200) {
            CHECK_EQ_INT(mqttc_step(&c, 1), MQTTC_OK);
            if (messages_when_connected < 0 && mqttc_state(&c) == MQTTC_STATE_CONNECTED) {
                messages_when_connected = S.messages;
                if (chunk == 0) CHECK_EQ_INT(mqttc_timeout_ms(&c, 1), 0); /* the rest waits */
            }
        }
        CHECK_EQ_INT(messages_when_connected, 0);
        CHECK_EQ_INT(S.messages, 2);
        CHECK(strcmp(S.last_payload, "second") == 0);
        if (chunk == 0) CHECK_EQ_INT(steps, 2);
        mqttc_deinit(&c);
        mem_free(&l);
    }
}

/* The blocking connect over a socket: returns at CONNACK with nothing delivered, although
   a PUBLISH came in the same write; mqttc_run_for delivers it. */
TEST(connect_wait_returns_before_any_message) {
    mqttc_client c;
    mqttc_options o;
    int sv[2];
    unsigned char bytes[64];
    size_t n = 4;
    memcpy(bytes, CONNACK_OK, 4);
    n += test_publish_bytes(bytes + n, 64, "a", "early", strlen("early"), 0, 0, 0, 0);
    base_options(&o);
    memset(&S, 0, sizeof S);
    mqttc_init(&c, &o);
    CHECK_EQ_INT(mqttc_connect_wait(&c), MQTTC_ERR_STATE); /* nothing started */
    CHECK_EQ_INT(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    CHECK_EQ_INT(write(sv[1], bytes, n), (long)n);
    CHECK_EQ_INT(mqttc_adopt_fd(&c, sv[0], mqttc_now_ms()), MQTTC_OK);
    CHECK_EQ_INT(mqttc_connect_wait(&c), MQTTC_OK);
    CHECK_EQ_INT(mqttc_state(&c), MQTTC_STATE_CONNECTED);
    CHECK_EQ_INT(S.messages, 0);
    CHECK_EQ_INT(mqttc_run_for(&c, 50), MQTTC_OK);
    CHECK_EQ_INT(S.messages, 1);
    CHECK(strcmp(S.last_payload, "early") == 0);
    mqttc_deinit(&c);
    close(sv[1]);
}

/* Subscribing again replaces the handler; NULL gives the filter back to on_message. */
static int second_handler_calls;
static void second_handler(mqttc_client *c, const mqttc_message *m, void *u) {
    (void)c; (void)m; (void)u;
    second_handler_calls++;
}

TEST(subscribing_again_replaces_the_handler) {
    mqttc_client c;
    mem_link l = {0};
    mqttc_options o;
    base_options(&o);
    connect_over(&c, &l, &o);
    second_handler_calls = 0;
    CHECK_EQ_INT(mqttc_subscribe(&c, "a/#", 0, NULL, on_handler, NULL, NULL), MQTTC_OK);
    CHECK_EQ_INT(mqttc_subscribe(&c, "a/#", 0, NULL, second_handler, NULL, NULL), MQTTC_OK);
    test_feed_publish(&l, "a/x", "1", 0, 0);
    mqttc_step(&c, 1);
    CHECK_EQ_INT(S.handler_messages, 0);
    CHECK_EQ_INT(second_handler_calls, 1);
    CHECK_EQ_INT(mqttc_subscribe(&c, "a/#", 0, NULL, NULL, NULL, NULL), MQTTC_OK);
    test_feed_publish(&l, "a/x", "2", 0, 0);
    mqttc_step(&c, 2);
    CHECK_EQ_INT(second_handler_calls, 1);
    CHECK_EQ_INT(S.messages, 1); /* the global handler again */
    mqttc_deinit(&c);
    mem_free(&l);
}

/* A handler set while a message is being delivered gets the messages after that one. */
static void subscribes_x(mqttc_client *c, const mqttc_message *m, void *u) {
    (void)u;
    S.messages++;
    remember(m);
    CHECK_EQ_INT(mqttc_subscribe(c, "x", 0, NULL, on_handler, NULL, NULL), MQTTC_OK);
    CHECK_EQ_INT(mqttc_subscribe(c, "#", 0, NULL, second_handler, NULL, NULL), MQTTC_OK);
}

TEST(handler_set_during_a_delivery_misses_that_message) {
    mqttc_client c;
    mem_link l = {0};
    mqttc_options o;
    base_options(&o);
    o.on_message = subscribes_x;
    connect_over(&c, &l, &o);
    second_handler_calls = 0;
    test_feed_publish(&l, "x", "1", 0, 0);
    mqttc_step(&c, 1);
    CHECK_EQ_INT(S.messages, 1);
    CHECK_EQ_INT(S.handler_messages, 0);
    CHECK_EQ_INT(second_handler_calls, 0);
    test_feed_publish(&l, "x", "2", 0, 0);
    mqttc_step(&c, 2);
    CHECK_EQ_INT(S.handler_messages, 1); /* both handlers now, in the order they were set */
    CHECK_EQ_INT(second_handler_calls, 1);
    CHECK_EQ_INT(S.messages, 1);
    mqttc_deinit(&c);
    mem_free(&l);
}

/* Several filters in one SUBSCRIBE / UNSUBSCRIBE, one SUBACK with a code each. */
static unsigned char many_codes[8];
static size_t many_count;
static void on_subacks(mqttc_client *c, const mqttc_suback_info *s, void *u) {
    (void)c; (void)u;
    S.subacks++;
    S.last_id = s->packet_id;
    many_count = s->count;
    memcpy(many_codes, s->codes, s->count < 8 ? s->count : 8);
}

TEST(subscribe_and_unsubscribe_many) {
    mqttc_client c;
    mem_link l = {0};
    mqttc_options o;
    test_packet p;
    size_t pos = 0, fpos = 0;
    unsigned short id;
    const char *filters[] = {"a", "b/+", "c/#"};
    unsigned char qos[] = {0, 1, 2};
    mqttc_str f;
    int q;
    base_options(&o);
    connect_over(&c, &l, &o);
    next_sent(&l, &pos, &p);
    CHECK_EQ_INT(mqttc_subscribe_many(&c, filters, qos, 0, on_subacks, NULL, NULL, NULL), MQTTC_ERR_ARG);
    CHECK(strcmp(mqttc_bad_arg(&c), "filters") == 0); /* [MQTT-3.8.3-3] */
    const char *bad[] = {"a", "b/#/c"};
    CHECK_EQ_INT(mqttc_subscribe_many(&c, bad, qos, 2, on_subacks, NULL, NULL, NULL), MQTTC_ERR_ARG);
    CHECK(strcmp(mqttc_bad_arg(&c), "filter") == 0);
    unsigned char bad_qos[] = {0, 3};
    CHECK_EQ_INT(mqttc_subscribe_many(&c, filters, bad_qos, 2, on_subacks, NULL, NULL, NULL), MQTTC_ERR_ARG);
    CHECK(strcmp(mqttc_bad_arg(&c), "qos") == 0);
    CHECK_EQ_INT(mqttc_subscribe_many(&c, filters, qos, 3, on_subacks, on_handler, NULL, &id), MQTTC_OK);
    CHECK_EQ_INT(next_sent(&l, &pos, &p), MQTTC_SUBSCRIBE);
    CHECK_EQ_INT(p.count, 3);
    CHECK_EQ_INT(p.packet_id, id);
    for (int i = 0; i < 3; i++) {
        CHECK(mqttc_next_filter(&p.raw.subscribe, &fpos, &f, &q));
        CHECK(f.len == strlen(filters[i]) && memcmp(f.ptr, filters[i], f.len) == 0);
        CHECK_EQ_INT(q, qos[i]);
    }
    unsigned char suback[] = {0x90, 0x05, (unsigned char)(id >> 8), (unsigned char)id, 0x00, 0x80, 0x02};
    mem_feed(&l, suback, sizeof suback);
    mqttc_step(&c, 1);
    CHECK_EQ_INT(S.subacks, 1);
    CHECK_EQ_INT(many_count, 3);
    CHECK(many_codes[0] == 0 && many_codes[1] == 0x80 && many_codes[2] == 2);
    test_feed_publish(&l, "b/x", "refused", 0, 0); /* its handler went with the 0x80 [MQTT-3.9.3-2] */
    test_feed_publish(&l, "c/y", "kept", 0, 0);
    mqttc_step(&c, 2);
    CHECK_EQ_INT(S.messages, 1);
    CHECK_EQ_INT(S.handler_messages, 1);
    const char *gone[] = {"a", "c/#"};
    CHECK_EQ_INT(mqttc_unsubscribe_many(&c, gone, 2, on_unsuback, NULL, &id), MQTTC_OK);
    CHECK_EQ_INT(next_sent(&l, &pos, &p), MQTTC_UNSUBSCRIBE);
    CHECK_EQ_INT(p.count, 2);
    test_feed_ack(&l, MQTTC_UNSUBACK, id);
    mqttc_step(&c, 3);
    CHECK_EQ_INT(S.unsubacks, 1);
    test_feed_publish(&l, "c/y", "global", 0, 0);
    mqttc_step(&c, 4);
    CHECK_EQ_INT(S.messages, 2);
    CHECK_EQ_INT(S.handler_messages, 1);
    /* a SUBACK whose count differs from the filters sent is a protocol violation */
    CHECK_EQ_INT(mqttc_subscribe_many(&c, filters, qos, 3, on_subacks, NULL, NULL, &id), MQTTC_OK);
    unsigned char short_suback[] = {0x90, 0x03, (unsigned char)(id >> 8), (unsigned char)id, 0x00};
    mem_feed(&l, short_suback, sizeof short_suback);
    CHECK_EQ_INT(mqttc_step(&c, 5), MQTTC_ERR_PROTOCOL);
    mqttc_deinit(&c);
    mem_free(&l);
}

/* Flow control: paused, nothing is read (READ is not asked for), pings still go out once a
   keepalive period and no PINGRESP is awaited; resumed, the waiting message arrives. */
TEST(pause_stops_reading_and_keeps_the_link) {
    mqttc_client c;
    mem_link l = {0};
    mqttc_options o;
    test_packet p;
    size_t pos = 0;
    base_options(&o);
    o.keepalive_s = 2;
    connect_over(&c, &l, &o);
    next_sent(&l, &pos, &p);
    mqttc_pause(&c, 1);
    CHECK_EQ_INT(mqttc_events(&c) & MQTTC_EV_READ, 0);
    test_feed_publish(&l, "t", "waits", 1, 5);
    CHECK_EQ_INT(mqttc_step(&c, 100), MQTTC_OK);
    CHECK_EQ_INT(S.messages, 0);
    CHECK(l.in_len > 0); /* still in the "socket": back-pressure */
    CHECK_EQ_INT(mqttc_timeout_ms(&c, 100), 1900);
    CHECK_EQ_INT(mqttc_step(&c, 2000), MQTTC_OK);
    CHECK_EQ_INT(next_sent(&l, &pos, &p), MQTTC_PINGREQ);
    CHECK_EQ_INT(mqttc_timeout_ms(&c, 2000), 2000); /* the next ping, not a PINGRESP deadline */
    CHECK_EQ_INT(mqttc_step(&c, 4000), MQTTC_OK);
    CHECK_EQ_INT(next_sent(&l, &pos, &p), MQTTC_PINGREQ);
    CHECK_EQ_INT(mqttc_step(&c, 5999), MQTTC_OK);
    CHECK_EQ_INT(mqttc_state(&c), MQTTC_STATE_CONNECTED);
    mqttc_pause(&c, 0);
    CHECK(mqttc_events(&c) & MQTTC_EV_READ);
    CHECK_EQ_INT(mqttc_step(&c, 6000), MQTTC_OK);
    CHECK_EQ_INT(S.messages, 1);
    CHECK_EQ_INT(next_sent(&l, &pos, &p), MQTTC_PUBACK);
    /* the PINGRESP wait began anew at resume (the last step's time, 5999) */
    CHECK_EQ_INT(mqttc_step(&c, 7998), MQTTC_OK);
    CHECK_EQ_INT(mqttc_step(&c, 7999), MQTTC_ERR_PINGRESP);
    mqttc_deinit(&c);
    mem_free(&l);
}

/* MQTTC_ERR_ARG says which argument: mqttc_bad_arg. */
TEST(bad_argument_is_named) {
    mqttc_client c;
    mqttc_options o;
    mem_link l = {0};
    memset(&o, 0, sizeof o);
    mqttc_init(&c, &o);
    CHECK(strcmp(mqttc_bad_arg(&c), "") == 0);
    mqttc_deinit(&c);
    struct { const char *field; int which; } cases[] = {
        {"options.will_qos", 0}, {"options.password", 1}, {"options.keepalive_s", 2},
        {"options.tls_key_file", 3}, {"options.will_topic", 4}, {"options.no_clean_session", 5}};
    for (int i = 0; i < 6; i++) {
        memset(&o, 0, sizeof o);
        switch (cases[i].which) {
        case 0: o.will_topic = "w"; o.will_qos = 3; break;
        case 1: o.password = "p"; o.password_len = 1; break;
        case 2: o.keepalive_s = 70000; break;
        case 3: o.tls_key_file = "key.pem"; break;
        case 4: o.will_topic = "w/#"; break;
        case 5: o.client_id = ""; o.no_clean_session = 1; break;
        }
        CHECK_EQ_INT(mqttc_init(&c, &o), MQTTC_ERR_ARG);
        if (strcmp(mqttc_bad_arg(&c), cases[i].field) != 0) {
            fprintf(stderr, "  case %d: bad_arg %s, want %s\n", i, mqttc_bad_arg(&c), cases[i].field);
            CHECK(0);
        }
    }
    base_options(&o);
    connect_over(&c, &l, &o);
    CHECK_EQ_INT(mqttc_publish(&c, "a/+", "x", 1, 0, 0, NULL), MQTTC_ERR_ARG);
    CHECK(strcmp(mqttc_bad_arg(&c), "topic") == 0);
    CHECK_EQ_INT(mqttc_publish(&c, "a", "x", 1, 3, 0, NULL), MQTTC_ERR_ARG);
    CHECK(strcmp(mqttc_bad_arg(&c), "qos") == 0);
    CHECK_EQ_INT(mqttc_subscribe(&c, "a#", 0, NULL, NULL, NULL, NULL), MQTTC_ERR_ARG);
    CHECK(strcmp(mqttc_bad_arg(&c), "filter") == 0);
    mqttc_deinit(&c);
    mem_free(&l);
    mqttc_init(&c, NULL);
    CHECK_EQ_INT(mqttc_connect_start(&c, NULL, 1883, 0), MQTTC_ERR_ARG);
    CHECK(strcmp(mqttc_bad_arg(&c), "host") == 0);
    CHECK_EQ_INT(mqttc_connect_start(&c, "127.0.0.1", 70000, 0), MQTTC_ERR_ARG);
    CHECK(strcmp(mqttc_bad_arg(&c), "port") == 0);
    mqttc_deinit(&c);
}

/* Will, keepalive, clean session and login change between connections; the session held in
   memory stays. */
TEST(settings_change_between_connections) {
    mqttc_client c;
    mem_link l = {0};
    mqttc_options o;
    test_packet p;
    size_t pos = 0;
    base_options(&o);
    connect_over(&c, &l, &o);
    CHECK_EQ_INT(mqttc_set_keepalive(&c, 5), MQTTC_ERR_STATE); /* not while connected */
    CHECK_EQ_INT(mqttc_publish(&c, "t", "kept", 4, 1, 0, NULL), MQTTC_OK);
    l.is_eof = 1;
    mqttc_step(&c, 1);
    CHECK_EQ_INT(mqttc_state(&c), MQTTC_STATE_CLOSED);
    CHECK_EQ_INT(mqttc_set_will(&c, "w", "bye", 3, 1, 1), MQTTC_OK);
    CHECK_EQ_INT(mqttc_set_keepalive(&c, 5), MQTTC_OK);
    CHECK_EQ_INT(mqttc_set_clean_session(&c, 0), MQTTC_OK);
    CHECK_EQ_INT(mqttc_set_login(&c, "u", "pw", 2), MQTTC_OK);
    CHECK_EQ_INT(mqttc_set_keepalive(&c, 70000), MQTTC_ERR_ARG);
    CHECK_EQ_INT(mqttc_set_will(&c, "w", "x", 1, 3, 0), MQTTC_ERR_ARG);
    CHECK(strcmp(mqttc_bad_arg(&c), "options.will_qos") == 0);
    CHECK_EQ_INT(mqttc_set_login(&c, NULL, "pw", 2), MQTTC_ERR_ARG); /* [MQTT-3.1.2-22] */
    mem_free(&l);
    mqttc_transport t = mem_transport(&l);
    CHECK_EQ_INT(mqttc_start_transport(&c, &t, 10), MQTTC_OK);
    CHECK_EQ_INT(next_sent(&l, &pos, &p), MQTTC_CONNECT);
    CHECK(p.connect.will_topic.len == 1 && p.connect.will_topic.ptr[0] == 'w');
    CHECK_EQ_INT(p.connect.will_qos, 1);
    CHECK_EQ_INT(p.connect.will_retain, 1);
    CHECK_EQ_INT(p.connect.keepalive_s, 5);
    CHECK_EQ_INT(p.connect.clean_session, 0);
    CHECK(p.connect.username.len == 1 && p.connect.password.len == 2);
    static const unsigned char connack_sp[] = {0x20, 0x02, 0x01, 0x00};
    mem_feed(&l, connack_sp, 4);
    mqttc_step(&c, 11);
    CHECK_EQ_INT(mqttc_session_present(&c), 1);
    CHECK_EQ_INT(next_sent(&l, &pos, &p), MQTTC_PUBLISH); /* the kept message, resent */
    CHECK_EQ_INT(p.dup, 1);
    CHECK_EQ_INT(mqttc_timeout_ms(&c, 11), 5000);
    mqttc_deinit(&c);
    mem_free(&l);
    /* removing the will and turning keepalive off */
    base_options(&o);
    o.will_topic = "w";
    mqttc_init(&c, &o);
    CHECK_EQ_INT(mqttc_set_will(&c, NULL, NULL, 0, 0, 0), MQTTC_OK);
    CHECK_EQ_INT(mqttc_set_keepalive(&c, 0), MQTTC_OK);
    t = mem_transport(&l);
    pos = 0;
    mqttc_start_transport(&c, &t, 0);
    CHECK_EQ_INT(next_sent(&l, &pos, &p), MQTTC_CONNECT);
    CHECK(p.connect.will_topic.ptr == NULL);
    CHECK_EQ_INT(p.connect.keepalive_s, 0);
    mqttc_deinit(&c);
    mem_free(&l);
}

static mqttc_status statuses[8];
static int nstatus;
static void on_status(mqttc_client *c, const mqttc_status *st, void *u) {
    (void)u;
    if (nstatus < 8) statuses[nstatus++] = *st;
    CHECK_RC(mqttc_step(c, 0), MQTTC_ERR_STATE); /* no stepping from a callback */
}

/* A refused TCP connect keeps its errno (mqttc_sys_errno). A bound socket that does not
   listen refuses on loopback. */
TEST(refused_connect_keeps_errno) {
    mqttc_client c;
    struct sockaddr_in a;
    socklen_t alen = sizeof a;
    int s = socket(AF_INET, SOCK_STREAM, 0);
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(0x7f000001);
    CHECK_EQ_INT(bind(s, (struct sockaddr *)&a, sizeof a), 0);
    CHECK_EQ_INT(getsockname(s, (struct sockaddr *)&a, &alen), 0);
    mqttc_options o;
    memset(&o, 0, sizeof o);
    o.on_status = on_status;
    nstatus = 0;
    mqttc_init(&c, &o);
    CHECK_EQ_INT(mqttc_connect(&c, "127.0.0.1", ntohs(a.sin_port)), MQTTC_ERR_CANNOTCONNECT);
    CHECK_EQ_INT(mqttc_sys_errno(&c), ECONNREFUSED);
    CHECK_EQ_INT(nstatus, 1); /* told once, after the step in which the TCP connect failed */
    CHECK_EQ_INT(statuses[0].event, MQTTC_EVENT_CONNECT_FAILED);
    CHECK_EQ_INT(statuses[0].error, MQTTC_ERR_CANNOTCONNECT);
    mqttc_deinit(&c);
    close(s);
}

/* ---- issue 12: connection events, reason codes, the state table, exports ---- */

/* One callback sees connected, connect failed and connection lost, with the error (the
   kind) and the broker's reason code (CONNACK's) next to it; after the call it happened in. */
TEST(status_events_carry_error_and_reason) {
    mqttc_client c;
    mem_link l = {0};
    mqttc_options o;
    mqttc_transport t = mem_transport(&l);
    static const unsigned char connack_sp[] = {0x20, 0x02, 0x01, 0x00};
    static const unsigned char refused[] = {0x20, 0x02, 0x00, 0x05};
    base_options(&o);
    o.on_status = on_status;
    o.no_clean_session = 1;
    nstatus = 0;
    mqttc_init(&c, &o);
    mqttc_start_transport(&c, &t, 0);
    CHECK_EQ_INT(nstatus, 0);
    mem_feed(&l, connack_sp, 4);
    CHECK_RC(mqttc_step(&c, 1), MQTTC_OK);
    CHECK_EQ_INT(nstatus, 1);
    CHECK_EQ_INT(statuses[0].event, MQTTC_EVENT_CONNECTED);
    CHECK_EQ_INT(statuses[0].error, MQTTC_OK);
    CHECK_EQ_INT(statuses[0].session_present, 1);
    l.is_eof = 1;
    CHECK_RC(mqttc_step(&c, 2), MQTTC_ERR_CLOSED);
    CHECK_EQ_INT(nstatus, 2);
    CHECK_EQ_INT(statuses[1].event, MQTTC_EVENT_CONNECTION_LOST);
    CHECK_EQ_INT(statuses[1].error, MQTTC_ERR_CLOSED);
    mem_free(&l);
    t = mem_transport(&l);
    mqttc_start_transport(&c, &t, 3);
    mem_feed(&l, refused, 4);
    CHECK_RC(mqttc_step(&c, 4), MQTTC_ERR_REFUSED);
    CHECK_EQ_INT(nstatus, 3);
    CHECK_EQ_INT(statuses[2].event, MQTTC_EVENT_CONNECT_FAILED);
    CHECK_EQ_INT(statuses[2].error, MQTTC_ERR_REFUSED);
    CHECK_EQ_INT(statuses[2].reason_code, 5); /* not authorized [MQTT-3.2.2-5] */
    mem_free(&l);
    /* a connect that times out, and our own disconnect */
    t = mem_transport(&l);
    mqttc_start_transport(&c, &t, 10);
    CHECK_RC(mqttc_step(&c, 10 + 30000), MQTTC_ERR_TIMEOUT);
    CHECK_EQ_INT(statuses[3].event, MQTTC_EVENT_CONNECT_FAILED);
    CHECK_EQ_INT(statuses[3].error, MQTTC_ERR_TIMEOUT);
    mem_free(&l);
    t = mem_transport(&l);
    mqttc_start_transport(&c, &t, 20);
    mem_feed(&l, TEST_CONNACK_OK, 4);
    mqttc_step(&c, 21);
    CHECK_RC(mqttc_disconnect(&c), MQTTC_OK);
    CHECK_RC(mqttc_step(&c, 22), MQTTC_ERR_DISCONNECT);
    CHECK_EQ_INT(nstatus, 6);
    CHECK_EQ_INT(statuses[5].event, MQTTC_EVENT_CONNECTION_LOST);
    CHECK_EQ_INT(statuses[5].error, MQTTC_ERR_DISCONNECT);
    mqttc_deinit(&c);
    CHECK_EQ_INT(nstatus, 6); /* deinit tells nothing */
    mem_free(&l);
}

/* The state changes in one place, by a table; a transition it does not allow trips
   MQTTC_ASSERT (counted here, an assert() by default). */
TEST(state_table) {
    mqttc_client c;
    mem_link l = {0};
    mqttc_options o;
    base_options(&o);
    connect_over(&c, &l, &o);
    CHECK_EQ_INT(assert_failures, 0); /* every test so far kept to the table */
    mqttc__set_state(&c, MQTTC_STATE_HANDSHAKE); /* CONNECTED -> HANDSHAKE: never */
    CHECK_EQ_INT(assert_failures, 1);
    assert_failures = 0;
    c.state = MQTTC_STATE_CONNECTED;
    mqttc__set_state(&c, MQTTC_STATE_DRAINING);
    mqttc__set_state(&c, MQTTC_STATE_DISCONNECTING);
    mqttc__set_state(&c, MQTTC_STATE_CLOSED);
    mqttc__set_state(&c, MQTTC_STATE_HANDSHAKE);
    CHECK_EQ_INT(assert_failures, 0);
    c.state = MQTTC_STATE_CLOSED;
    c.error = MQTTC_ERR_CLOSED;
    mqttc_deinit(&c);
    mem_free(&l);
    CHECK(MQTTC_VERSION_MAJOR == 0 && MQTTC_VERSION_MINOR >= 1);
}

/* What the Lua module and the tools used to re-implement: the client id, the publish info. */
TEST(exports_client_id_and_publish_with) {
    mqttc_client c;
    mem_link l = {0};
    mqttc_options o;
    test_packet p;
    size_t pos = 0;
    unsigned short id = 0;
    mqttc_init(&c, NULL);
    CHECK_EQ_INT(strlen(mqttc_client_id(&c)), 23);
    CHECK(strncmp(mqttc_client_id(&c), "mqttc", 5) == 0);
    mqttc_deinit(&c);
    base_options(&o);
    connect_over(&c, &l, &o);
    CHECK(strcmp(mqttc_client_id(&c), "tester") == 0);
    mqttc_publish_info pi;
    memset(&pi, 0, sizeof pi);
    pi.topic = "with/info";
    pi.topic_len = 4; /* only "with" */
    pi.payload = "xyz";
    pi.payload_len = 3;
    pi.qos = 1;
    pi.retain = 1;
    pi.dup = 1;          /* the client's to set: ignored */
    pi.packet_id = 999;  /* likewise */
    CHECK_RC(mqttc_publish_with(&c, &pi, &id), MQTTC_OK);
    next_sent(&l, &pos, &p);
    CHECK_EQ_INT(next_sent(&l, &pos, &p), MQTTC_PUBLISH);
    CHECK(p.raw.publish.topic_len == 4 && memcmp(p.raw.publish.topic, "with", 4) == 0);
    CHECK(p.qos == 1 && p.retain == 1 && p.dup == 0 && p.packet_id == id && id != 999);
    CHECK_RC(mqttc_publish_with(&c, NULL, NULL), MQTTC_ERR_ARG);
    CHECK(strcmp(mqttc_bad_arg(&c), "info") == 0);
    mqttc_deinit(&c);
    mem_free(&l);
}

int main(void) {
    RUN(connect_packet_and_defaults);
    RUN(documented_defaults);
    RUN(connect_options_on_the_wire);
    RUN(options_rejected);
    RUN(connack_refusals);
    RUN(invalid_first_packets);
    RUN(connect_timeout_and_eof);
    RUN(keepalive_ping_and_timeout);
    RUN(keepalive_counts_both_directions);
    RUN(qos1_and_qos2_outgoing);
    RUN(qos1_and_qos2_incoming);
    RUN(inflight_window_is_bounded);
    RUN(packet_ids_wrap_and_skip);
    RUN(subscribe_handlers_and_acks);
    RUN(overlapping_handlers);
    RUN(callbacks_reenter_the_api);
    RUN(step_inside_a_callback_is_refused);
    RUN(one_byte_at_a_time);
    RUN(reconnect_resends_inflight);
    RUN(session_present_on_clean_session_is_an_error);
    RUN(protocol_errors_after_connack);
    RUN(incoming_size_limit);
    RUN(output_is_bounded_when_the_broker_stops_reading);
    RUN(disconnect_drains_then_closes);
    RUN(cork_coalesces_until_flush);
    RUN(output_of_a_step_and_output_behind_waiting_bytes_leave_in_one_write);
    RUN(no_allocation_per_message);
    RUN(caller_memory_never_allocates);
    RUN(transport_errors);
    RUN(packet_trace);
    RUN(disconnect_finishes_open_flows);
    RUN(disconnect_drain_is_bounded);
    RUN(disconnect_again_stops_the_drain);
    RUN(disconnect_leaves_the_close_to_step);
    RUN(messages_after_connack_wait_for_the_next_step);
    RUN(connect_wait_returns_before_any_message);
    RUN(subscribing_again_replaces_the_handler);
    RUN(handler_set_during_a_delivery_misses_that_message);
    RUN(subscribe_and_unsubscribe_many);
    RUN(pause_stops_reading_and_keeps_the_link);
    RUN(bad_argument_is_named);
    RUN(settings_change_between_connections);
    RUN(refused_connect_keeps_errno);
    RUN(status_events_carry_error_and_reason);
    RUN(exports_client_id_and_publish_with);
    RUN(state_table);
    return test_report();
}
