/* tests/test_cover_client.c - the client's API at its edges, over the in-memory link with a
   fake clock: each argument a call refuses (MQTTC_ERR_ARG and the argument named by
   mqttc_bad_arg), calls in the wrong state, the connect deadline, a broker that answers
   CONNECT with something else, and which refusals and server disconnects lead to a
   reconnect (section 12: "dialling again can help") and which stop it. */
#define _POSIX_C_SOURCE 200809L
#include <stdlib.h>
#define MQTTC_IMPLEMENTATION
#include "mqttc.h"
#include "tests/test.h"

static mqttc_options opts(int version) {
    mqttc_options o;
    memset(&o, 0, sizeof o);
    o.client_id = "cover-client";
    o.protocol_version = version;
    return o;
}

#define CHECK_BAD(call, name)                                                                        \
    do {                                                                                             \
        CHECK_RC((call), MQTTC_ERR_ARG);                                                             \
        CHECK_MSG(strcmp(mqttc_bad_arg(&c), (name)) == 0, "bad_arg %s, want %s", mqttc_bad_arg(&c), (name)); \
    } while (0)

static int recv_nothing(mqttc_transport *t, unsigned char *buf, size_t cap, size_t *n) {
    (void)t; (void)buf; (void)cap;
    *n = 0;
    return MQTTC_OK;
}

TEST(arguments_refused_before_a_connection) {
    mqttc_client c;
    mqttc_options o = opts(0);
    CHECK_RC(mqttc_init(&c, &o), MQTTC_OK);
    CHECK(strcmp(mqttc_error_detail(&c), "") == 0);
    CHECK_BAD(mqttc_start_transport(&c, NULL, 0), "transport");
    mqttc_transport t;
    memset(&t, 0, sizeof t);
    t.recv = recv_nothing;
    CHECK_BAD(mqttc_start_transport(&c, &t, 0), "transport"); /* no send */
    t.recv = NULL;
    t.send = mem_send;
    CHECK_BAD(mqttc_start_transport(&c, &t, 0), "transport"); /* no recv */
    CHECK_BAD(mqttc_connect_start(&c, "127.0.0.1", -1, 0), "port");
    CHECK_BAD(mqttc_connect_start(&c, "127.0.0.1", 65536, 0), "port");
    CHECK_BAD(mqttc_adopt_fd(&c, -1, 0), "fd");
    CHECK_RC(mqttc_disconnect(&c), MQTTC_ERR_STATE); /* nothing to end */
    CHECK_RC(mqttc_flush(&c), MQTTC_ERR_STATE);
    mqttc_set_retry(&c, 10); /* not waiting: nothing changes */
    CHECK_EQ_INT(mqttc_state(&c), MQTTC_STATE_IDLE);
    CHECK_EQ_INT(mqttc_events(&c), 0);
    mqttc_deinit(&c);
}

TEST(arguments_refused_when_connected) {
    mqttc_client c;
    mem_link l;
    memset(&l, 0, sizeof l);
    mqttc_options o = opts(0);
    test_connect(&c, &l, &o);
    CHECK_RC(mqttc_connect_start(&c, "127.0.0.1", 1883, 0), MQTTC_ERR_STATE); /* one connection at a time */
    CHECK_RC(mqttc_connect_url(&c, "mqtt://127.0.0.1", 0), MQTTC_ERR_STATE);
    CHECK_BAD(mqttc_subscribe(&c, "a", 3, NULL, NULL, NULL, NULL), "qos");
    CHECK_BAD(mqttc_subscribe(&c, "a", -1, NULL, NULL, NULL, NULL), "qos");
    CHECK_BAD(mqttc_subscribe_with(&c, NULL, NULL, NULL, NULL, NULL), "info");
    CHECK_BAD(mqttc_unsubscribe_with(&c, NULL, NULL, NULL, NULL), "info");
    const char *filters[] = {"a", NULL};
    const unsigned char qos[] = {0, 0};
    CHECK_BAD(mqttc_subscribe_many(&c, NULL, qos, 1, NULL, NULL, NULL, NULL), "filters");
    CHECK_BAD(mqttc_subscribe_many(&c, filters, qos, 0, NULL, NULL, NULL, NULL), "filters");
    CHECK_BAD(mqttc_subscribe_many(&c, filters, NULL, 1, NULL, NULL, NULL, NULL), "qos");
    CHECK_BAD(mqttc_subscribe_many(&c, filters, qos, 2, NULL, NULL, NULL, NULL), "filter"); /* a NULL one */
    CHECK_BAD(mqttc_publish(&c, "t", "x", 1, 3, 0, NULL), "qos");
    CHECK_BAD(mqttc_publish(&c, "t", "x", 1, -1, 0, NULL), "qos");
    CHECK_BAD(mqttc_publish(&c, "t", NULL, 5, 0, 0, NULL), "payload");
    CHECK_RC(mqttc_reauthenticate(&c, "x", 1), MQTTC_ERR_STATE); /* MQTT 3.1.1 */
    mqttc_disconnect_info di;
    memset(&di, 0, sizeof di);
    di.reason_code = 0x04;
    CHECK_BAD(mqttc_disconnect_with(&c, &di), "info"); /* a reason needs MQTT 5 */
    CHECK_EQ_INT(l.out_len > 0, 1);
    size_t sent = l.out_len;
    CHECK_RC(mqttc_step(&c, 1), MQTTC_OK);
    CHECK_EQ_INT(l.out_len, sent); /* none of it sent anything */
    CHECK_EQ_INT(mqttc_state(&c), MQTTC_STATE_CONNECTED);
    mqttc_deinit(&c);
    mem_free(&l);
}

static int auth_continue(mqttc_client *c, const mqttc_auth_info *in, mqttc_str *out, void *user) {
    (void)c; (void)in; (void)user;
    out->ptr = "more";
    out->len = 4;
    return 0;
}

TEST(mqtt5_calls_refused) {
    mqttc_client c;
    mem_link l;
    memset(&l, 0, sizeof l);
    mqttc_options o = opts(MQTTC_PROTOCOL_5);
    test_connect(&c, &l, &o);
    CHECK_RC(mqttc_reauthenticate(&c, "x", 1), MQTTC_ERR_STATE); /* no authentication method */
    mqttc_prop expiry = {MQTTC_PROP_SESSION_EXPIRY, 60, {NULL, 0}, {NULL, 0}};
    mqttc_disconnect_info di;
    memset(&di, 0, sizeof di);
    di.props.list = &expiry;
    di.props.count = 1;
    CHECK_BAD(mqttc_disconnect_with(&c, &di), "props"); /* [MQTT-3.14.2-2]: 0 at CONNECT, not changed now */
    CHECK_EQ_INT(mqttc_state(&c), MQTTC_STATE_CONNECTED);
    CHECK_RC(mqttc_disconnect_with(&c, NULL), MQTTC_OK); /* no reason: the plain one */
    mqttc_deinit(&c);
    mem_free(&l);

    /* with a method: data of more than 65535 bytes is refused; none is an empty one */
    static const unsigned char method[] = {MQTTC_PROP_AUTH_METHOD, 0, 4, 'S', 'C', 'R', 'A'};
    memset(&l, 0, sizeof l);
    o = opts(MQTTC_PROTOCOL_5);
    o.connect_props.ptr = method;
    o.connect_props.len = sizeof method;
    o.on_auth = auth_continue;
    mqttc_transport t = mem_transport(&l);
    CHECK_RC(mqttc_init(&c, &o), MQTTC_OK);
    CHECK_RC(mqttc_start_transport(&c, &t, 0), MQTTC_OK);
    static const unsigned char connack[] = {0x20, 0x03, 0x00, 0x00, 0x00};
    mem_feed(&l, connack, sizeof connack);
    for (int i = 0; i < 5; i++) (void)mqttc_step(&c, 0);
    CHECK_EQ_INT(mqttc_state(&c), MQTTC_STATE_CONNECTED);
    static unsigned char big[65536];
    CHECK_BAD(mqttc_reauthenticate(&c, big, sizeof big), "len");
    size_t sent = l.out_len;
    CHECK_RC(mqttc_reauthenticate(&c, NULL, 0), MQTTC_OK);
    CHECK(l.out_len > sent);
    CHECK_EQ_INT(l.out[sent], 0xF0); /* AUTH */
    mqttc_deinit(&c);
    mem_free(&l);
}

/* disconnect while CONNECT waits for its CONNACK: the attempt ends (error "disconnect"),
   nothing more is sent; mqttc_disconnect_with there is the same. */
TEST(disconnect_before_the_connack) {
    for (int with = 0; with < 2; with++) {
        mqttc_client c;
        mem_link l;
        memset(&l, 0, sizeof l);
        mqttc_options o = opts(MQTTC_PROTOCOL_5);
        mqttc_transport t = mem_transport(&l);
        CHECK_RC(mqttc_init(&c, &o), MQTTC_OK);
        CHECK_RC(mqttc_start_transport(&c, &t, 0), MQTTC_OK);
        CHECK_RC(mqttc_step(&c, 0), MQTTC_OK);
        CHECK_EQ_INT(mqttc_state(&c), MQTTC_STATE_CONNACK_WAIT);
        size_t sent = l.out_len;
        mqttc_disconnect_info di;
        memset(&di, 0, sizeof di);
        di.reason_code = 0x04;
        CHECK_RC(with ? mqttc_disconnect_with(&c, &di) : mqttc_disconnect(&c), MQTTC_OK);
        (void)mqttc_step(&c, 1);
        CHECK_EQ_INT(mqttc_state(&c), MQTTC_STATE_CLOSED);
        CHECK_RC(mqttc_error(&c), MQTTC_ERR_DISCONNECT);
        CHECK_EQ_INT(l.out_len, sent);
        CHECK_EQ_INT(l.closed, 1);
        CHECK_RC(mqttc_flush(&c), MQTTC_OK); /* our own end is no failure of the flush */
        mqttc_deinit(&c);
        mem_free(&l);
    }
}

/* No CONNACK by connect_timeout_ms: timeout. A broker answering CONNECT with another
   packet: invalidresp [MQTT-3.2.0-1]. */
TEST(connect_deadline_and_a_wrong_first_answer) {
    mqttc_client c;
    mem_link l;
    memset(&l, 0, sizeof l);
    mqttc_options o = opts(0);
    o.connect_timeout_ms = 1000;
    mqttc_transport t = mem_transport(&l);
    CHECK_RC(mqttc_init(&c, &o), MQTTC_OK);
    CHECK_RC(mqttc_start_transport(&c, &t, 0), MQTTC_OK);
    CHECK_RC(mqttc_step(&c, 999), MQTTC_OK);
    CHECK_EQ_INT(mqttc_timeout_ms(&c, 999), 1);
    (void)mqttc_step(&c, 1000);
    CHECK_RC(mqttc_error(&c), MQTTC_ERR_TIMEOUT);
    mqttc_deinit(&c);
    mem_free(&l);

    memset(&l, 0, sizeof l);
    t = mem_transport(&l);
    CHECK_RC(mqttc_init(&c, &o), MQTTC_OK);
    CHECK_RC(mqttc_start_transport(&c, &t, 0), MQTTC_OK);
    static const unsigned char suback[] = {0x90, 0x03, 0x00, 0x01, 0x00};
    mem_feed(&l, suback, sizeof suback);
    for (int i = 0; i < 3; i++) (void)mqttc_step(&c, 1);
    CHECK_EQ_INT(mqttc_state(&c), MQTTC_STATE_CLOSED);
    CHECK_RC(mqttc_error(&c), MQTTC_ERR_INVALIDRESP);
    mqttc_deinit(&c);
    mem_free(&l);
}

/* Caller memory with a small options.max_output: publish says BUSY once that many bytes
   wait unsent, and takes again once they left. */
TEST(max_output_holds_with_caller_memory) {
    static unsigned char mem[16384];
    mqttc_client c;
    mem_link l;
    memset(&l, 0, sizeof l);
    mqttc_options o = opts(0);
    o.mem = mem;
    o.mem_size = sizeof mem;
    o.max_output = 200;
    test_connect(&c, &l, &o);
    l.write_stalled = 1;
    static const unsigned char payload[50] = {0};
    int taken = 0, rc = MQTTC_OK;
    for (int i = 0; i < 20 && (rc = mqttc_publish(&c, "t", payload, sizeof payload, 0, 0, NULL)) == MQTTC_OK; i++) taken++;
    CHECK_RC(rc, MQTTC_ERR_BUSY);
    CHECK_MSG(taken >= 3 && taken <= 5, "%d publishes of 55 bytes taken within 200", taken);
    l.write_stalled = 0;
    CHECK_RC(mqttc_step(&c, 1), MQTTC_OK);
    CHECK_RC(mqttc_publish(&c, "t", payload, sizeof payload, 0, 0, NULL), MQTTC_OK);
    mqttc_deinit(&c);
    mem_free(&l);
}

/* ---- which ends lead to a reconnect ---- */

static mem_link next_link;
static int dials;
static int redial(mqttc_client *c, mqttc_transport *t, void *user) {
    (void)c; (void)user;
    dials++;
    mem_free(&next_link);
    memset(&next_link, 0, sizeof next_link);
    *t = mem_transport(&next_link);
    return MQTTC_OK;
}
static long last_retry;
static int last_error, last_reason;
static void on_status(mqttc_client *c, const mqttc_status *s, void *user) {
    (void)c; (void)user;
    if (s->event == MQTTC_EVENT_CONNECTED) return;
    last_retry = s->retry_ms;
    last_error = s->error;
    last_reason = s->reason_code;
}

/* The end of a first connection that the broker brings about with these bytes (a CONNACK
   refusing, or a DISCONNECT after a good CONNACK): does the client plan another attempt? */
static long plan_after(int version, const unsigned char *bytes, size_t n, int after_connack, int *error) {
    mqttc_client c;
    mem_link l;
    memset(&l, 0, sizeof l);
    mqttc_options o = opts(version);
    o.reconnect_min_ms = 100;
    o.reconnect_first = 1;
    o.reconnect_transport = redial;
    o.on_status = on_status;
    mqttc_transport t = mem_transport(&l);
    CHECK_RC(mqttc_init(&c, &o), MQTTC_OK);
    CHECK_RC(mqttc_start_transport(&c, &t, 0), MQTTC_OK);
    if (after_connack) {
        static const unsigned char ok5[] = {0x20, 0x03, 0x00, 0x00, 0x00};
        if (version == MQTTC_PROTOCOL_5) mem_feed(&l, ok5, sizeof ok5);
        else mem_feed(&l, TEST_CONNACK_OK, sizeof TEST_CONNACK_OK);
    }
    mem_feed(&l, bytes, n);
    last_retry = -2;
    last_error = 0;
    for (int i = 0; i < 5 && mqttc_state(&c) != MQTTC_STATE_WAITING && mqttc_state(&c) != MQTTC_STATE_CLOSED; i++)
        (void)mqttc_step(&c, 0);
    *error = last_error;
    long plan = last_retry;
    CHECK_EQ_INT(mqttc_state(&c), plan >= 0 ? MQTTC_STATE_WAITING : MQTTC_STATE_CLOSED);
    mqttc_deinit(&c);
    mem_free(&l);
    mem_free(&next_link);
    return plan;
}

TEST(refusals_that_are_worth_another_attempt) {
    int err;
    /* MQTT 3.1.1: 3, server unavailable, is; 5, not authorized, is not */
    unsigned char r311[] = {0x20, 0x02, 0x00, 0x03};
    CHECK(plan_after(0, r311, sizeof r311, 0, &err) >= 0);
    CHECK_RC(err, MQTTC_ERR_REFUSED);
    r311[3] = 0x05;
    CHECK(plan_after(0, r311, sizeof r311, 0, &err) < 0);
    CHECK_RC(err, MQTTC_ERR_REFUSED);
    /* MQTT 5: unavailable, busy, quota, connection rate are; the rest are not */
    const unsigned char again[] = {0x88, 0x89, 0x97, 0x9F}, never[] = {0x80, 0x85, 0x8A, 0x95};
    for (int i = 0; i < 4; i++) {
        unsigned char r5[] = {0x20, 0x03, 0x00, again[i], 0x00};
        CHECK_MSG(plan_after(MQTTC_PROTOCOL_5, r5, sizeof r5, 0, &err) >= 0, "reason %#x", again[i]);
        CHECK_RC(err, MQTTC_ERR_REFUSED);
        r5[3] = never[i];
        CHECK_MSG(plan_after(MQTTC_PROTOCOL_5, r5, sizeof r5, 0, &err) < 0, "reason %#x", never[i]);
    }
}

TEST(server_disconnects_that_are_worth_another_attempt) {
    int err;
    /* taken over, server moved, use another server, administrative action: stop */
    const unsigned char stop[] = {0x8E, 0x98, 0x9C, 0x9D}, again[] = {0x8B, 0x89, 0x80, 0x93};
    for (int i = 0; i < 4; i++) {
        unsigned char d[] = {0xE0, 0x02, stop[i], 0x00};
        CHECK_MSG(plan_after(MQTTC_PROTOCOL_5, d, sizeof d, 1, &err) < 0, "reason %#x", stop[i]);
        CHECK_RC(err, MQTTC_ERR_SERVER_DISCONNECT);
        CHECK_EQ_INT(last_reason, stop[i]);
        d[2] = again[i]; /* shutting down, busy, unspecified, receive maximum exceeded: later */
        CHECK_MSG(plan_after(MQTTC_PROTOCOL_5, d, sizeof d, 1, &err) >= 0, "reason %#x", again[i]);
        CHECK_RC(err, MQTTC_ERR_SERVER_DISCONNECT);
    }
}

int main(void) {
    RUN(arguments_refused_before_a_connection);
    RUN(arguments_refused_when_connected);
    RUN(mqtt5_calls_refused);
    RUN(disconnect_before_the_connack);
    RUN(connect_deadline_and_a_wrong_first_answer);
    RUN(max_output_holds_with_caller_memory);
    RUN(refusals_that_are_worth_another_attempt);
    RUN(server_disconnects_that_are_worth_another_attempt);
    return test_report();
}
