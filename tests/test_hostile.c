/* tests/test_hostile.c - the client against a scripted hostile broker (tests/hostile.h),
   over real loopback sockets with mqttc_connect and mqttc_run.
   Every case checks that the client ends with the error the case names, within its
   deadline, having closed the connection, and (Valgrind or ASan) without a crash or a leak.
   Where the client by design goes on (SUBACK 0x80, stray acks), the case checks exactly
   that and that the next normal exchange still works. */
#define MQTTC_IMPLEMENTATION
#include "mqttc.h"
#include "tests/hostile.h"
#include "tests/test.h"

#include <signal.h>
#include <stdlib.h>

/* ---- the client side: what it saw, and what its callbacks do ---- */

typedef struct hc {
    int messages, filter_messages;
    char topic[64];
    int subacks, suback_code;
    unsigned short suback_id;
    int unsubacks;
    unsigned short published[16];
    int npublished;
    int reply_qos;        /* >0: on_message publishes "done" with this QoS */
    int disconnect_after; /* >0: disconnect once this many publishes completed */
    int disconnect_on_end; /* a message to "end" disconnects */
} hc;

static void hc_on_message(mqttc_client *c, const mqttc_message *m, void *user) {
    hc *h = (hc *)user;
    h->messages++;
    snprintf(h->topic, sizeof h->topic, "%s", m->topic);
    if (h->disconnect_on_end && strcmp(m->topic, "end") == 0) {
        (void)mqttc_disconnect(c);
        return;
    }
    if (h->reply_qos) (void)mqttc_publish(c, "done", "ok", 2, h->reply_qos, 0, NULL);
}

static void hc_on_filter_message(mqttc_client *c, const mqttc_message *m, void *user) {
    ((hc *)user)->filter_messages++;
    (void)c;
    (void)m;
}

static void hc_on_suback(mqttc_client *c, const mqttc_suback_info *sa, void *user) {
    unsigned short id = sa->packet_id;
    int code = sa->codes[0];
    hc *h = (hc *)user;
    (void)c;
    h->subacks++;
    h->suback_id = id;
    h->suback_code = code;
}

static void hc_on_unsuback(mqttc_client *c, const mqttc_ack_info *ack, void *user) {
    unsigned short id = ack->packet_id;
    (void)c;
    (void)id;
    ((hc *)user)->unsubacks++;
}

static void hc_on_published(mqttc_client *c, const mqttc_ack_info *ack, void *user) {
    unsigned short id = ack->packet_id;
    hc *h = (hc *)user;
    if (h->npublished < 16) h->published[h->npublished] = id;
    h->npublished++;
    if (h->disconnect_after && h->npublished == h->disconnect_after) (void)mqttc_disconnect(c);
}

static mqttc_options hc_options(hc *h) {
    mqttc_options o;
    memset(&o, 0, sizeof o);
    memset(h, 0, sizeof *h);
    o.client_id = "hostile";
    o.keepalive_s = 30;           /* no PINGREQ unless a case wants one */
    o.connect_timeout_ms = 15000; /* generous: Valgrind and a busy machine */
    o.on_message = hc_on_message;
    o.on_published = hc_on_published;
    o.user = h;
    return o;
}

/* ---- one session against a script ---- */

static hb_broker broker; /* large: not on the stack */
static const char *current_case = "";

#define CHECK_NAME(rc, name)                                                                     \
    do {                                                                                         \
        if (strcmp(mqttc_errname(rc), (name)) != 0) {                                            \
            fprintf(stderr, "  %s:%d: [%s] ended with \"%s\", expected \"%s\"\n", __FILE__, __LINE__, \
                    current_case, mqttc_errname(rc), (name));                                     \
            test__current_failed = 1;                                                            \
        }                                                                                        \
    } while (0)

typedef void (*then_fn)(mqttc_client *c, hc *h);

static uint64_t session_ms; /* how long the last session took */

/* Connects, runs `then` once connected (may be NULL), then mqttc_run; returns the error the
   client ended with. Checks the deadline, the broker's expectations, and that the client
   closed its connection and is CLOSED. */
static int play_on(mqttc_client *c, const hb_step *script, int rcvbuf, then_fn then, hc *h, long deadline_ms) {
    if (hb_start(&broker, script, rcvbuf) != 0) {
        fprintf(stderr, "  [%s] cannot start the hostile broker\n", current_case);
        test__current_failed = 1;
        return MQTTC_OK;
    }
    uint64_t start = mqttc_now_ms();
    int rc = mqttc_connect(c, "127.0.0.1", broker.port);
    if (rc == MQTTC_OK && then) then(c, h);
    if (rc == MQTTC_OK) rc = mqttc_run(c);
    session_ms = mqttc_now_ms() - start;
    hb_finish(&broker);
    if ((long)session_ms > deadline_ms) {
        fprintf(stderr, "  [%s] took %llu ms, deadline %ld ms\n", current_case, (unsigned long long)session_ms,
                deadline_ms);
        test__current_failed = 1;
    }
    if (broker.failure[0]) {
        fprintf(stderr, "  [%s] broker: %s\n", current_case, broker.failure);
        test__current_failed = 1;
    }
    CHECK(mqttc_state(c) == MQTTC_STATE_CLOSED && mqttc_fd(c) == -1 && mqttc_error(c) == rc);
    return rc;
}

static int play(const hb_step *script, mqttc_options *o, then_fn then, long deadline_ms) {
    mqttc_client c;
    CHECK_EQ_INT(mqttc_init(&c, o), MQTTC_OK);
    int rc = play_on(&c, script, 0, then, (hc *)o->user, deadline_ms);
    mqttc_deinit(&c);
    return rc;
}

/* Runs one named case the way test.h's RUN does, so each row of a table counts. */
#define RUN_CASE(label, fn, arg)                                                                 \
    do {                                                                                         \
        test__current_failed = 0;                                                                \
        current_case = (label);                                                                  \
        fn(arg);                                                                                 \
        if (test__current_failed) { test__failed++; printf("not ok - %s\n", current_case); }     \
        else { test__passed++; printf("ok - %s\n", current_case); }                              \
        fflush(stdout);                                                                          \
    } while (0)

/* ---- one bad packet: the table ---- */

typedef struct bad_case {
    const char *name;
    const unsigned char *bytes;
    size_t len;
    const char *expect;     /* the error's short name */
    int before_connack;     /* sent instead of the CONNACK */
    int eof_after;          /* the broker closes right after: a packet cut short */
    size_t max_packet_size; /* options.max_packet_size; 0: the default (16 MiB) */
    int request;            /* MQTTC_SUBSCRIBE or MQTTC_UNSUBSCRIBE of "s/#" (id 1), made once
                               connected and answered by the bytes; 0: none */
} bad_case;

#define AFTER(name, expect, ...) {name, HB_BYTES(__VA_ARGS__), expect, 0, 0, 0, 0}
#define BEFORE(name, expect, ...) {name, HB_BYTES(__VA_ARGS__), expect, 1, 0, 0, 0}
#define CUT(name, before, ...) {name, HB_BYTES(__VA_ARGS__), "closed", before, 1, 0, 0}
#define LIMIT(name, limit, ...) {name, HB_BYTES(__VA_ARGS__), "overflow", 0, 0, limit, 0}
#define ANSWER(name, request, ...) {name, HB_BYTES(__VA_ARGS__), PROTO, 0, 0, 0, request}
#define PROTO "protocolerror"
#define INVALID "invalidresp"

static const bad_case bad_cases[] = {
    /* remaining length [MQTT-2.2.3]: at most 4 bytes, minimal, within the size limit */
    AFTER("remaining length of 5 bytes", PROTO, 0x30, 0xFF, 0xFF, 0xFF, 0xFF, 0x01),
    AFTER("remaining length of 5 bytes on PINGRESP", PROTO, 0xD0, 0x80, 0x80, 0x80, 0x80, 0x00),
    AFTER("remaining length overlong: 0 in 2 bytes", PROTO, 0x30, 0x80, 0x00),
    AFTER("remaining length overlong: 5 in 3 bytes", PROTO, 0xD0, 0x85, 0x80, 0x00),
    LIMIT("remaining length 268435455 over the default limit", 0, 0x30, 0xFF, 0xFF, 0xFF, 0x7F),
    LIMIT("remaining length one byte over the default 16 MiB", 0, 0x30, 0xFC, 0xFF, 0xFF, 0x07),
    LIMIT("remaining length over options.max_packet_size 1024", 1024, 0x30, 0xCC, 0x08),
    /* truncated: the remaining length leaves out what the type needs, or adds to it */
    AFTER("PUBLISH truncated in the topic length", PROTO, 0x30, 0x01, 0x00),
    AFTER("PUBLISH QoS 1 without its packet id", PROTO, 0x32, 0x03, 0x00, 0x01, 'a'),
    AFTER("PUBLISH QoS 2 with half a packet id", PROTO, 0x34, 0x04, 0x00, 0x01, 'a', 0x00),
    AFTER("PUBACK truncated", PROTO, 0x40, 0x01, 0x00),
    AFTER("PUBACK empty", PROTO, 0x40, 0x00),
    AFTER("PUBREC truncated", PROTO, 0x50, 0x01, 0x00),
    AFTER("PUBREL truncated", PROTO, 0x62, 0x01, 0x00),
    AFTER("PUBCOMP truncated", PROTO, 0x70, 0x01, 0x00),
    AFTER("SUBACK without return codes", PROTO, 0x90, 0x02, 0x00, 0x01),
    AFTER("SUBACK truncated in its id", PROTO, 0x90, 0x01, 0x00),
    AFTER("UNSUBACK truncated", PROTO, 0xB0, 0x01, 0x00),
    AFTER("PUBACK one byte too long", PROTO, 0x40, 0x03, 0x00, 0x01, 0x00),
    AFTER("UNSUBACK one byte too long", PROTO, 0xB0, 0x03, 0x00, 0x01, 0x00),
    AFTER("PINGRESP one byte too long", PROTO, 0xD0, 0x01, 0x00),
    BEFORE("CONNACK truncated", INVALID, 0x20, 0x01, 0x00),
    BEFORE("CONNACK one byte too long", INVALID, 0x20, 0x03, 0x00, 0x00, 0x00),
    /* string lengths pointing past the packet */
    AFTER("topic length 16 with 3 bytes left", PROTO, 0x30, 0x05, 0x00, 0x10, 'a', 'b', 'c'),
    AFTER("topic length 65535 with 2 bytes left", PROTO, 0x30, 0x04, 0xFF, 0xFF, 'a', 'b'),
    AFTER("topic length one past the packet", PROTO, 0x30, 0x04, 0x00, 0x03, 'a', 'b'),
    AFTER("topic length over the QoS 1 packet id", PROTO, 0x32, 0x06, 0x00, 0x05, 'a', 'b', 0x00, 0x01),
    /* topics: UTF-8 without U+0000 [MQTT-1.5.3-1/2], no wildcards [MQTT-3.3.2-2], not empty */
    AFTER("NUL in the topic", PROTO, 0x30, 0x05, 0x00, 0x03, 'a', 0x00, 'b'),
    AFTER("topic of a lone continuation byte", PROTO, 0x30, 0x03, 0x00, 0x01, 0x80),
    AFTER("topic with an overlong NUL C0 80", PROTO, 0x30, 0x04, 0x00, 0x02, 0xC0, 0x80),
    AFTER("topic with a surrogate ED A0 80", PROTO, 0x30, 0x05, 0x00, 0x03, 0xED, 0xA0, 0x80),
    AFTER("topic with a cut sequence E2 82", PROTO, 0x30, 0x04, 0x00, 0x02, 0xE2, 0x82),
    AFTER("topic above U+10FFFF", PROTO, 0x30, 0x06, 0x00, 0x04, 0xF4, 0x90, 0x80, 0x80),
    AFTER("topic with byte FF", PROTO, 0x30, 0x03, 0x00, 0x01, 0xFF),
    AFTER("topic with a + wildcard", PROTO, 0x30, 0x05, 0x00, 0x03, 'a', '/', '+'),
    AFTER("topic with a # wildcard", PROTO, 0x30, 0x03, 0x00, 0x01, '#'),
    AFTER("empty topic", PROTO, 0x30, 0x02, 0x00, 0x00),
    /* CONNACK: malformed, twice; anything before it [MQTT-3.2.0-1] */
    BEFORE("CONNACK with reserved acknowledge flags", INVALID, 0x20, 0x02, 0x02, 0x00),
    BEFORE("CONNACK with fixed-header flags", INVALID, 0x21, 0x02, 0x00, 0x00),
    BEFORE("CONNACK return code 6", INVALID, 0x20, 0x02, 0x00, 0x06),
    BEFORE("CONNACK with a 5-byte remaining length", INVALID, 0x20, 0xFF, 0xFF, 0xFF, 0xFF, 0x01),
    BEFORE("CONNACK session present on a clean session", PROTO, 0x20, 0x02, 0x01, 0x00),
    AFTER("CONNACK twice", PROTO, 0x20, 0x02, 0x00, 0x00),
    BEFORE("PUBLISH before CONNACK", INVALID, 0x30, 0x03, 0x00, 0x01, 'a'),
    BEFORE("PINGRESP before CONNACK", INVALID, 0xD0, 0x00),
    BEFORE("SUBACK before CONNACK", INVALID, 0x90, 0x03, 0x00, 0x01, 0x00),
    BEFORE("PUBACK before CONNACK", INVALID, 0x40, 0x02, 0x00, 0x01),
    BEFORE("reserved type 0 before CONNACK", INVALID, 0x00, 0x00),
    BEFORE("over the size limit before CONNACK", INVALID, 0x30, 0xFF, 0xFF, 0xFF, 0x7F),
    /* reserved packet types [MQTT-2.2.1] */
    AFTER("reserved packet type 0", PROTO, 0x00, 0x00),
    AFTER("reserved packet type 0 with a body", PROTO, 0x00, 0x02, 0x00, 0x01),
    AFTER("reserved packet type 15", PROTO, 0xF0, 0x00),
    /* fixed-header flags [MQTT-2.2.2-2], PUBLISH QoS 3 [MQTT-3.3.1-4], DUP on QoS 0 */
    AFTER("PUBACK with flags 0001", PROTO, 0x41, 0x02, 0x00, 0x01),
    AFTER("PUBREC with flags 0010", PROTO, 0x52, 0x02, 0x00, 0x01),
    AFTER("PUBREL without its 0010 flags", PROTO, 0x60, 0x02, 0x00, 0x01),
    AFTER("PUBCOMP with flags 1000", PROTO, 0x78, 0x02, 0x00, 0x01),
    AFTER("SUBACK with flags 0010", PROTO, 0x92, 0x03, 0x00, 0x01, 0x00),
    AFTER("UNSUBACK with flags 0010", PROTO, 0xB2, 0x02, 0x00, 0x01),
    AFTER("PINGRESP with flags 0001", PROTO, 0xD1, 0x00),
    AFTER("PUBLISH with QoS 3", PROTO, 0x36, 0x05, 0x00, 0x01, 'a', 0x00, 0x01),
    AFTER("PUBLISH QoS 0 with DUP", PROTO, 0x38, 0x03, 0x00, 0x01, 'a'),
    /* packets only a client sends [MQTT-4.8.0-1] */
    AFTER("CONNECT from the broker", PROTO, 0x10, 0x0C, 0x00, 0x04, 'M', 'Q', 'T', 'T', 0x04, 0x02, 0x00, 0x3C,
          0x00, 0x00),
    AFTER("SUBSCRIBE from the broker", PROTO, 0x82, 0x06, 0x00, 0x01, 0x00, 0x01, 'a', 0x00),
    AFTER("UNSUBSCRIBE from the broker", PROTO, 0xA2, 0x05, 0x00, 0x01, 0x00, 0x01, 'a'),
    AFTER("PINGREQ from the broker", PROTO, 0xC0, 0x00),
    AFTER("DISCONNECT from the broker", PROTO, 0xE0, 0x00),
    /* packet id 0 [MQTT-2.3.1-1] */
    AFTER("PUBLISH QoS 1 with packet id 0", PROTO, 0x32, 0x05, 0x00, 0x01, 'a', 0x00, 0x00),
    AFTER("PUBLISH QoS 2 with packet id 0", PROTO, 0x34, 0x05, 0x00, 0x01, 'a', 0x00, 0x00),
    AFTER("PUBACK with packet id 0", PROTO, 0x40, 0x02, 0x00, 0x00),
    AFTER("PUBREC with packet id 0", PROTO, 0x50, 0x02, 0x00, 0x00),
    AFTER("PUBREL with packet id 0", PROTO, 0x62, 0x02, 0x00, 0x00),
    AFTER("PUBCOMP with packet id 0", PROTO, 0x70, 0x02, 0x00, 0x00),
    AFTER("SUBACK with packet id 0", PROTO, 0x90, 0x03, 0x00, 0x00, 0x00),
    AFTER("UNSUBACK with packet id 0", PROTO, 0xB0, 0x02, 0x00, 0x00),
    AFTER("SUBACK with reserved return code 3", PROTO, 0x90, 0x03, 0x00, 0x01, 0x03),
    /* the stream ends inside a packet: "closed", whatever the packet */
    CUT("EOF inside CONNACK", 1, 0x20, 0x02, 0x00),
    CUT("EOF after the first byte of CONNACK", 1, 0x20),
    CUT("EOF inside the remaining length", 0, 0x30, 0x80),
    CUT("EOF inside PUBLISH", 0, 0x30, 0x05, 0x00, 0x03, 'a'),
    CUT("EOF inside PUBACK", 0, 0x40, 0x02, 0x00),
    CUT("EOF inside PUBREC", 0, 0x50, 0x02, 0x00),
    CUT("EOF inside PUBREL", 0, 0x62, 0x02, 0x00),
    CUT("EOF inside PUBCOMP", 0, 0x70, 0x02, 0x00),
    CUT("EOF inside SUBACK", 0, 0x90, 0x03, 0x00, 0x01),
    CUT("EOF inside UNSUBACK", 0, 0xB0, 0x02, 0x00),
    CUT("EOF after the first byte of PINGRESP", 0, 0xD0),
    /* SUBACK and UNSUBACK that do not fit the request made: one code per filter it sent
       (one) [MQTT-3.9.3-1], its id [MQTT-2.3.1-7], its kind; or that answer none */
    ANSWER("SUBACK with the wrong count", MQTTC_SUBSCRIBE, 0x90, 0x04, 0x00, 0x01, 0x00, 0x00),
    ANSWER("SUBACK with the wrong id", MQTTC_SUBSCRIBE, 0x90, 0x03, 0x00, 0x02, 0x00),
    ANSWER("SUBACK for an UNSUBSCRIBE's id", MQTTC_UNSUBSCRIBE, 0x90, 0x03, 0x00, 0x01, 0x00),
    AFTER("UNSUBACK for an id never used", PROTO, 0xB0, 0x02, 0x00, 0x07),
    ANSWER("UNSUBACK for a SUBSCRIBE's id", MQTTC_SUBSCRIBE, 0xB0, 0x02, 0x00, 0x01),
};

static void subscribe_s(mqttc_client *c, hc *h) {
    CHECK_EQ_INT(mqttc_subscribe(c, "s/#", 1, hc_on_suback, hc_on_filter_message, h, NULL), MQTTC_OK);
}
static void unsubscribe_s(mqttc_client *c, hc *h) {
    CHECK_EQ_INT(mqttc_unsubscribe(c, "s/#", hc_on_unsuback, h, NULL), MQTTC_OK);
}

/* The script: CONNECT, CONNACK (unless the bytes come before it), the request if any, the
   bytes, and the broker's close when they are cut short. */
static void bad_packet(const bad_case *bc) {
    hc h;
    mqttc_options o = hc_options(&h);
    hb_step script[6] = {HB_EXPECT(MQTTC_CONNECT, 0), HB_CONNACK_OK, HB_DONE, HB_DONE, HB_DONE, HB_DONE};
    hb_step *s = bc->before_connack ? &script[1] : &script[2];
    then_fn request = NULL;
    if (bc->request) {
        hb_step expect_request = HB_EXPECT(bc->request, 1);
        *s++ = expect_request;
        request = bc->request == MQTTC_SUBSCRIBE ? subscribe_s : unsubscribe_s;
    }
    s->op = HB_OP_SEND;
    s->bytes = bc->bytes;
    s->len = bc->len;
    if (bc->eof_after) s[1].op = HB_OP_CLOSE;
    o.max_packet_size = bc->max_packet_size;
    CHECK_NAME(play(script, &o, request, 10000), bc->expect);
    CHECK(h.messages == 0 && h.npublished == 0);
    CHECK(h.subacks == 0 && h.unsubacks == 0); /* a wrong answer completes no request */
    CHECK(bc->eof_after || broker.saw_eof); /* the client closed the connection */
}

/* ---- SUBACK and UNSUBACK ---- */

/* For a case where the client goes on: the next normal exchange must still work. The
   message the script sends next is answered with a QoS 1 "done", and that publish's
   PUBACK makes the client disconnect, so the session ends with "disconnect". */
static void then_exchange(hc *h) {
    h->reply_qos = 1;
    h->disconnect_after = 1;
}

/* 0x80 is an answer, not an error: the callback gets it, the filter loses its handler (a
   message on it goes to on_message), and the connection goes on: a QoS 1 publish completes
   and the client disconnects cleanly. */
static void suback_failure_code(void *unused) {
    const hb_step script[] = {
        HB_EXPECT(MQTTC_CONNECT, 0), HB_CONNACK_OK, HB_EXPECT(MQTTC_SUBSCRIBE, 1),
        HB_SEND(0x90, 0x03, 0x00, 0x01, 0x80),
        HB_SEND(0x30, 0x07, 0x00, 0x03, 's', '/', 'x', 'h', 'i'), /* reply_qos: "done" QoS 1 */
        HB_EXPECT(MQTTC_PUBLISH, 2), HB_SEND(0x40, 0x02, 0x00, 0x02), /* disconnect_after 1 */
        HB_EXPECT(MQTTC_DISCONNECT, 0), HB_DONE};
    hc h;
    mqttc_options o = hc_options(&h);
    (void)unused;
    then_exchange(&h);
    CHECK_NAME(play(script, &o, subscribe_s, 10000), "disconnect");
    CHECK(h.subacks == 1 && h.suback_id == 1 && h.suback_code == 0x80);
    CHECK(h.filter_messages == 0 && h.messages == 1 && strcmp(h.topic, "s/x") == 0);
    CHECK(h.npublished == 1 && h.published[0] == 2);
}

/* ---- acknowledgements nobody asked for ---- */

/* Stray PUBACK and PUBCOMP are ignored, a stray PUBREC is answered with PUBREL and a stray
   PUBREL with PUBCOMP, so the broker's flow can end (mosquitto's practice, conformance G7);
   then a QoS 1 message in and a QoS 1 publish out still work. */
static void unsolicited_acks(void *unused) {
    const hb_step script[] = {
        HB_EXPECT(MQTTC_CONNECT, 0), HB_CONNACK_OK,
        HB_SEND(0x40, 0x02, 0x12, 0x34), HB_SEND(0x70, 0x02, 0x12, 0x35),
        HB_SEND(0x50, 0x02, 0x12, 0x36), HB_EXPECT(MQTTC_PUBREL, 0x1236),
        HB_SEND(0x62, 0x02, 0x12, 0x37), HB_EXPECT(MQTTC_PUBCOMP, 0x1237),
        HB_SEND(0x32, 0x07, 0x00, 0x01, 't', 0x00, 0x09, 'h', 'i'), HB_EXPECT(MQTTC_PUBACK, 9),
        HB_EXPECT(MQTTC_PUBLISH, 1), HB_SEND(0x40, 0x02, 0x00, 0x01),
        HB_EXPECT(MQTTC_DISCONNECT, 0), HB_DONE};
    hc h;
    mqttc_options o = hc_options(&h);
    (void)unused;
    then_exchange(&h);
    CHECK_NAME(play(script, &o, NULL, 10000), "disconnect");
    CHECK(h.messages == 1 && strcmp(h.topic, "t") == 0);
    CHECK(h.npublished == 1 && h.published[0] == 1);
}

static void publish_q1_q2(mqttc_client *c, hc *h) {
    unsigned short id1 = 0, id2 = 0;
    (void)h;
    CHECK_EQ_INT(mqttc_publish(c, "q1", "a", 1, 1, 0, &id1), MQTTC_OK);
    CHECK_EQ_INT(mqttc_publish(c, "q2", "b", 1, 2, 0, &id2), MQTTC_OK);
    CHECK(id1 == 1 && id2 == 2);
}

/* Acks of the wrong kind or id complete nothing: message 1 (QoS 1) completes only on
   PUBACK 1, message 2 (QoS 2) only on PUBREC 2 then PUBCOMP 2, in that order. */
static void acks_for_wrong_ids(void *unused) {
    const hb_step script[] = {
        HB_EXPECT(MQTTC_CONNECT, 0), HB_CONNACK_OK, HB_EXPECT(MQTTC_PUBLISH, 1), HB_EXPECT(MQTTC_PUBLISH, 2),
        HB_SEND(0x40, 0x02, 0x00, 0x02),                                   /* PUBACK for the QoS 2 message */
        HB_SEND(0x70, 0x02, 0x00, 0x01),                                   /* PUBCOMP for the QoS 1 message */
        HB_SEND(0x40, 0x02, 0x00, 0x07),                                   /* PUBACK for an unused id */
        HB_SEND(0x70, 0x02, 0x00, 0x02),                                   /* PUBCOMP before PUBREC */
        HB_SEND(0x50, 0x02, 0x00, 0x01), HB_EXPECT(MQTTC_PUBREL, 1),       /* PUBREC for QoS 1 */
        HB_SEND(0x40, 0x02, 0x00, 0x01),                                   /* completes 1 */
        HB_SEND(0x50, 0x02, 0x00, 0x02), HB_EXPECT(MQTTC_PUBREL, 2),
        HB_SEND(0x70, 0x02, 0x00, 0x02),                                   /* completes 2 */
        HB_EXPECT(MQTTC_DISCONNECT, 0), HB_DONE};
    hc h;
    mqttc_options o = hc_options(&h);
    mqttc_client c;
    (void)unused;
    h.disconnect_after = 2;
    mqttc_init(&c, &o);
    CHECK_NAME(play_on(&c, script, 0, publish_q1_q2, &h, 10000), "disconnect");
    CHECK(h.npublished == 2 && h.published[0] == 1 && h.published[1] == 2);
    CHECK_EQ_INT(mqttc_inflight(&c), 0);
    mqttc_deinit(&c);
}

/* A PUBREL for the wrong id is answered (PUBCOMP) but releases nothing: the QoS 2 message
   still waiting for its PUBREL is not delivered again when the broker repeats it
   [MQTT-4.3.3-2]; its own PUBREL then ends the flow. */
static void pubrel_wrong_id(void *unused) {
    const hb_step script[] = {
        HB_EXPECT(MQTTC_CONNECT, 0), HB_CONNACK_OK,
        HB_SEND(0x34, 0x05, 0x00, 0x01, 'q', 0x00, 0x05), HB_EXPECT(MQTTC_PUBREC, 5),
        HB_SEND(0x62, 0x02, 0x00, 0x06), HB_EXPECT(MQTTC_PUBCOMP, 6),
        HB_SEND(0x3C, 0x05, 0x00, 0x01, 'q', 0x00, 0x05), HB_EXPECT(MQTTC_PUBREC, 5), /* DUP repeat */
        HB_SEND(0x62, 0x02, 0x00, 0x05), HB_EXPECT(MQTTC_PUBCOMP, 5),
        HB_SEND(0x30, 0x05, 0x00, 0x03, 'e', 'n', 'd'), HB_EXPECT(MQTTC_DISCONNECT, 0), HB_DONE};
    hc h;
    mqttc_options o = hc_options(&h);
    (void)unused;
    h.disconnect_on_end = 1;
    CHECK_NAME(play(script, &o, NULL, 10000), "disconnect");
    CHECK_EQ_INT(h.messages, 2); /* "q" once, then "end" */
}

/* A message handler that subscribes: the handler pool grows (is reallocated) while the
   client walks it to deliver that very message. Valgrind or ASan catch any stale pointer
   into the old pool. The message reaches its handler once; the 20 SUBSCRIBEs go out. */
#define GROW_FILTERS 20
static int grow_calls;
static void on_grow(mqttc_client *c, const mqttc_message *m, void *user) {
    char filter[16];
    (void)m;
    (void)user;
    grow_calls++;
    for (int i = 0; i < GROW_FILTERS; i++) {
        snprintf(filter, sizeof filter, "new/%d", i);
        CHECK_EQ_INT(mqttc_subscribe(c, filter, 0, NULL, hc_on_filter_message, NULL, NULL), MQTTC_OK);
    }
}
static void subscribe_four(mqttc_client *c, hc *h) {
    CHECK_EQ_INT(mqttc_subscribe(c, "m/#", 0, NULL, on_grow, h, NULL), MQTTC_OK);
    CHECK_EQ_INT(mqttc_subscribe(c, "f/1", 0, NULL, hc_on_filter_message, h, NULL), MQTTC_OK);
    CHECK_EQ_INT(mqttc_subscribe(c, "f/2", 0, NULL, hc_on_filter_message, h, NULL), MQTTC_OK);
    CHECK_EQ_INT(mqttc_subscribe(c, "f/3", 0, NULL, hc_on_filter_message, h, NULL), MQTTC_OK);
}
static void handler_subscribes(void *unused) {
    static unsigned char subacks[4][5];
    hb_step script[2 + 8 + 1 + GROW_FILTERS + 3], *s = script;
    hb_step expect_connect = HB_EXPECT(MQTTC_CONNECT, 0), connack = HB_CONNACK_OK, done = HB_DONE;
    hb_step publish_m = HB_SEND(0x30, 0x05, 0x00, 0x03, 'm', '/', 'x'), publish_end = HB_SEND(0x30, 0x05, 0x00, 0x03, 'e', 'n', 'd');
    hb_step expect_disconnect = HB_EXPECT(MQTTC_DISCONNECT, 0);
    hc h;
    mqttc_options o = hc_options(&h);
    (void)unused;
    *s++ = expect_connect;
    *s++ = connack;
    for (unsigned id = 1; id <= 4; id++) {
        hb_step e = HB_EXPECT(MQTTC_SUBSCRIBE, id), a = {HB_OP_SEND, 0, 0, subacks[id - 1], 5, 0};
        memcpy(subacks[id - 1], "\x90\x03\x00\x00\x00", 5);
        subacks[id - 1][3] = (unsigned char)id;
        *s++ = e;
        *s++ = a;
    }
    *s++ = publish_m;
    for (unsigned id = 5; id < 5 + GROW_FILTERS; id++) {
        hb_step e = HB_EXPECT(MQTTC_SUBSCRIBE, id);
        *s++ = e;
    }
    *s++ = publish_end;
    *s++ = expect_disconnect;
    *s++ = done;
    h.disconnect_on_end = 1;
    grow_calls = 0;
    CHECK_NAME(play(script, &o, subscribe_four, 10000), "disconnect");
    CHECK_EQ_INT(grow_calls, 1);
    CHECK_EQ_INT(h.filter_messages, 0);
}

/* A broker that never releases its QoS 2 messages fills max_inflight_in: "overflow". */
static void qos2_never_released(void *unused) {
    const hb_step script[] = {
        HB_EXPECT(MQTTC_CONNECT, 0), HB_CONNACK_OK,
        HB_SEND(0x34, 0x05, 0x00, 0x01, 'a', 0x00, 0x01), HB_SEND(0x34, 0x05, 0x00, 0x01, 'a', 0x00, 0x02),
        HB_SEND(0x34, 0x05, 0x00, 0x01, 'a', 0x00, 0x03), HB_DONE};
    hc h;
    mqttc_options o = hc_options(&h);
    (void)unused;
    o.max_inflight_in = 2;
    CHECK_NAME(play(script, &o, NULL, 10000), "overflow");
    CHECK_EQ_INT(h.messages, 2);
}

/* ---- connections that never get going ---- */

static void never_connack(void *unused) {
    const hb_step script[] = {HB_EXPECT(MQTTC_CONNECT, 0), HB_DONE};
    hc h;
    mqttc_options o = hc_options(&h);
    (void)unused;
    o.connect_timeout_ms = 1000;
    CHECK_NAME(play(script, &o, NULL, 6000), "timeout");
    CHECK(session_ms >= 900);
}

static void closes_before_connack(void *unused) {
    const hb_step script[] = {HB_EXPECT(MQTTC_CONNECT, 0), HB_CLOSE, HB_DONE};
    hc h;
    mqttc_options o = hc_options(&h);
    (void)unused;
    CHECK_NAME(play(script, &o, NULL, 10000), "closed");
}

/* ---- floods, stalls and trickles ---- */

#define SIXTEEN_MIB (16u * 1024u * 1024u)

/* 16 MiB of pseudo-random bytes after CONNACK: the first byte already makes no valid packet
   (hostile.h's garbage is fixed: 0x63, a PUBREL with flags 0011) and the client closes. */
static void garbage_16mib(void *unused) {
    const hb_step script[] = {HB_EXPECT(MQTTC_CONNECT, 0), HB_CONNACK_OK, HB_GARBAGE(SIXTEEN_MIB), HB_DONE};
    hc h;
    mqttc_options o = hc_options(&h);
    (void)unused;
    CHECK_NAME(play(script, &o, NULL, 20000), PROTO);
    CHECK(broker.garbage_sent < SIXTEEN_MIB); /* the client left before taking it all */
    printf("# garbage: the client closed after the broker got %zu bytes of 16 MiB into the socket\n",
           broker.garbage_sent);
}

/* A PUBLISH of exactly the default limit (16 MiB in all) whose body is garbage: the client
   takes the whole packet (its receive buffer grows to the limit, not past it), then finds
   the topic is not UTF-8. */
static void garbage_16mib_packet(void *unused) {
    const hb_step script[] = {HB_EXPECT(MQTTC_CONNECT, 0), HB_CONNACK_OK,
                                     HB_SEND(0x30, 0xFB, 0xFF, 0xFF, 0x07), /* 16777211 */
                                     HB_GARBAGE(SIXTEEN_MIB - 5), HB_DONE};
    hc h;
    mqttc_options o = hc_options(&h);
    mqttc_client c;
    (void)unused;
    mqttc_init(&c, &o);
    CHECK_NAME(play_on(&c, script, 0, NULL, &h, 60000), PROTO);
    CHECK_EQ_INT(broker.garbage_sent, SIXTEEN_MIB - 5);
    CHECK(c.rx.cap <= o.max_packet_size + 1024 || (o.max_packet_size == 0 && c.rx.cap <= SIXTEEN_MIB + 1024));
    mqttc_deinit(&c);
}

/* A broker that stops reading: our writes block. Publishes are accepted until the output
   buffer holds max_output, then say "busy"; nothing grows past that; QoS 1 publishes are
   refused without being half-taken; the unanswered PINGREQ ends it: "pingresp", within
   2 x keepalive of the last byte received. */
static void stalled_publish(mqttc_client *c, hc *h) {
    static char payload[16384];
    size_t accepted = 0;
    int rc = MQTTC_OK;
    (void)h;
    while (accepted < 4096 && (rc = mqttc_publish(c, "flood", payload, sizeof payload, 0, 0, NULL)) == MQTTC_OK)
        accepted++;
    CHECK_NAME(rc, "busy");
    printf("# stalled: %zu publishes of 16 KiB taken before \"busy\", %zu bytes queued\n", accepted,
           mqttc_pending_output(c));
    CHECK(mqttc_pending_output(c) <= c->opt.max_output);
    CHECK(c->tx.cap <= 2 * c->opt.max_output + sizeof payload);
    CHECK_NAME(mqttc_publish(c, "flood", payload, sizeof payload, 1, 0, NULL), "busy");
    CHECK_EQ_INT(mqttc_inflight(c), 0);
}

static void stops_reading(void *unused) {
    const hb_step script[] = {HB_EXPECT(MQTTC_CONNECT, 0), HB_CONNACK_OK, HB_STOP_READING, HB_DONE};
    hc h;
    mqttc_options o = hc_options(&h);
    mqttc_client c;
    (void)unused;
    o.keepalive_s = 1;
    mqttc_init(&c, &o);
    CHECK_NAME(play_on(&c, script, 4096, stalled_publish, &h, 2 * 1000 + 4000), "pingresp");
    CHECK(c.tx.cap <= 2 * c.opt.max_output + 16384 + 64);
    mqttc_deinit(&c);
}

/* One byte a second: the CONNACK never completes within connect_timeout_ms: "timeout". */
static void trickle_connack(void *unused) {
    const hb_step script[] = {HB_EXPECT(MQTTC_CONNECT, 0), HB_TRICKLE(1000, 0x20, 0x02, 0x00, 0x00), HB_DONE};
    hc h;
    mqttc_options o = hc_options(&h);
    (void)unused;
    o.connect_timeout_ms = 2500;
    CHECK_NAME(play(script, &o, NULL, 2500 + 4000), "timeout");
    CHECK(session_ms >= 2400);
}

/* One byte a second after CONNACK: bytes arrive, but no PINGRESP ever: "pingresp" within
   2 x keepalive. */
static void trickle_after_connack(void *unused) {
    const hb_step script[] = {HB_EXPECT(MQTTC_CONNECT, 0), HB_CONNACK_OK,
                                     HB_TRICKLE(1000, 0x30, 0x0A, 0x00, 0x01, 't', '1', '2', '3', '4', '5', '6', '7'),
                                     HB_DONE};
    hc h;
    mqttc_options o = hc_options(&h);
    (void)unused;
    o.keepalive_s = 1;
    CHECK_NAME(play(script, &o, NULL, 2 * 1000 + 4000), "pingresp");
    CHECK(session_ms >= 1900);
    CHECK_EQ_INT(h.messages, 0);
}

/* The cases above name the errors they expect: every error has its own short name and a
   sentence, and nothing else is named like one. */
static void error_names(void *unused) {
    static const int errors[] = {
#define HC_ERROR(name, value, shortname, text) MQTTC_##name,
        MQTTC_ERRORS(HC_ERROR)
#undef HC_ERROR
    };
    size_t n = sizeof errors / sizeof errors[0];
    (void)unused;
    for (size_t i = 0; i < n; i++) {
        CHECK(strcmp(mqttc_errname(errors[i]), "unknown") != 0 && strcmp(mqttc_strerror(errors[i]), "unknown error") != 0);
        for (size_t k = 0; k < i; k++) CHECK(strcmp(mqttc_errname(errors[i]), mqttc_errname(errors[k])) != 0);
    }
    CHECK(strcmp(mqttc_errname(MQTTC_MORE), "more") == 0 && strcmp(mqttc_errname(-999), "unknown") == 0);
    CHECK(strcmp(mqttc_strerror(-999), "unknown error") == 0 && strcmp(mqttc_strerror(MQTTC_MORE), "unknown error") != 0);
}

/* A hung case fails the suite rather than the machine's patience. */
static void on_watchdog(int sig) {
    static const char msg[] = "test_hostile: a case hung past the watchdog\n";
    (void)sig;
    if (write(2, msg, sizeof msg - 1) < 0) {}
    if (write(2, current_case, strlen(current_case)) < 0) {}
    _exit(1);
}

/* Open file descriptors: none may be left behind by a case. */
static int count_fds(void) {
    int n = 0;
    for (int fd = 0; fd < 1024; fd++) n += fcntl(fd, F_GETFD) != -1;
    return n;
}

static void no_fd_left(const int *before) { CHECK_EQ_INT(count_fds(), *before); }

int main(void) {
    signal(SIGALRM, on_watchdog);
    signal(SIGPIPE, SIG_IGN);
    int fds = count_fds();
    RUN_CASE("every error has a short name of its own", error_names, NULL);
    for (size_t i = 0; i < sizeof bad_cases / sizeof bad_cases[0]; i++) {
        alarm(60);
        RUN_CASE(bad_cases[i].name, bad_packet, &bad_cases[i]);
    }
    static const struct { const char *name; void (*fn)(void *); } flows[] = {
        {"SUBACK 0x80: delivered, the connection goes on", suback_failure_code},
        {"unsolicited PUBACK/PUBCOMP ignored, PUBREC/PUBREL answered", unsolicited_acks},
        {"acks of the wrong kind or id complete nothing", acks_for_wrong_ids},
        {"PUBREL for the wrong id releases nothing", pubrel_wrong_id},
        {"a message handler that subscribes (the handler pool grows)", handler_subscribes},
        {"QoS 2 never released: overflow", qos2_never_released},
        {"no CONNACK: timeout", never_connack},
        {"closed before CONNACK", closes_before_connack},
        {"16 MiB of garbage", garbage_16mib},
        {"a 16 MiB PUBLISH of garbage", garbage_16mib_packet},
        {"a broker that stops reading while we publish", stops_reading},
        {"CONNACK trickled one byte a second", trickle_connack},
        {"a packet trickled one byte a second", trickle_after_connack},
    };
    for (size_t i = 0; i < sizeof flows / sizeof flows[0]; i++) {
        alarm(120);
        RUN_CASE(flows[i].name, flows[i].fn, NULL);
    }
    alarm(0);
    RUN_CASE("no file descriptor left open", no_fd_left, &fds);
    return test_report();
}
