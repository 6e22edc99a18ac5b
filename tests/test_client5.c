/* The client speaking MQTT 5 over the in-memory transport with a fake clock: what CONNECT
   carries, the CONNACK's limits enforced, topic aliases both ways, subscription identifiers,
   reason codes on every ack, DISCONNECT with a reason on each broker violation, the broker's
   DISCONNECT, enhanced authentication, and packets split at every byte. Test names cite the
   statement ids of MQTT 5.0; the broker's bytes are made by the codec (test_codec5 checks
   the codec against the spec's bytes). No sockets, no sleeping. */
#define _POSIX_C_SOURCE 200809L
#include <stdlib.h>
static long allocations;
static void *count_realloc(void *p, size_t n) { allocations++; return realloc(p, n); }
#define MQTTC_MALLOC(n) count_realloc(NULL, n)
#define MQTTC_REALLOC(p, n) count_realloc(p, n)
#define MQTTC_FREE(p) free(p)
#define MQTTC_IMPLEMENTATION
#include "mqttc.h"
#include "test.h"

/* ---- what callbacks saw ---- */
typedef struct seen {
    int messages, by_handler[4], published, subacks, unsubacks, statuses, auths;
    int last_reason, last_status_error, last_status_reason, last_suback_code;
    size_t last_unsuback_count;
    char last_topic[64], last_reason_string[64], last_content_type[32];
    char auth_data_in[32];
} seen;
static seen S;

/* The first string property with this id in a set, as a C string (empty if none). */
static void prop_text(const mqttc_props *ps, int id, char *out, size_t cap) {
    mqttc_prop pr;
    out[0] = 0;
    if (mqttc_props_get(ps, id, &pr)) snprintf(out, cap, "%.*s", (int)pr.str.len, pr.str.ptr);
}

static void on_message(mqttc_client *c, const mqttc_message *m, void *u) {
    (void)c;
    (void)u;
    S.messages++;
    snprintf(S.last_topic, sizeof S.last_topic, "%s", m->topic);
    prop_text(&m->props, MQTTC_PROP_CONTENT_TYPE, S.last_content_type, sizeof S.last_content_type);
}
static void on_handler(mqttc_client *c, const mqttc_message *m, void *u) {
    (void)c;
    S.by_handler[(int)(intptr_t)u]++;
    snprintf(S.last_topic, sizeof S.last_topic, "%s", m->topic);
}
static void on_published(mqttc_client *c, const mqttc_ack_info *a, void *u) {
    (void)c;
    (void)u;
    S.published++;
    S.last_reason = a->reason_code;
    prop_text(&a->props, MQTTC_PROP_REASON_STRING, S.last_reason_string, sizeof S.last_reason_string);
}
static void on_suback(mqttc_client *c, const mqttc_suback_info *s, void *u) {
    (void)c;
    (void)u;
    S.subacks++;
    S.last_suback_code = s->codes[0];
}
static void on_unsuback(mqttc_client *c, const mqttc_ack_info *a, void *u) {
    (void)c;
    (void)u;
    S.unsubacks++;
    S.last_reason = a->reason_code;
    S.last_unsuback_count = a->count;
}
static void on_status(mqttc_client *c, const mqttc_status *st, void *u) {
    (void)c;
    (void)u;
    S.statuses++;
    S.last_status_error = st->error;
    S.last_status_reason = st->reason_code;
    prop_text(&st->props, MQTTC_PROP_REASON_STRING, S.last_reason_string, sizeof S.last_reason_string);
}
static const char *auth_answer = "response";
static int auth_refuse;
static int on_auth(mqttc_client *c, const mqttc_auth_info *in, mqttc_str *out, void *u) {
    (void)c;
    (void)u;
    S.auths++;
    prop_text(&in->props, MQTTC_PROP_AUTH_DATA, S.auth_data_in, sizeof S.auth_data_in);
    out->ptr = auth_answer;
    out->len = strlen(auth_answer);
    return auth_refuse;
}

static void options5(mqttc_options *o) {
    memset(o, 0, sizeof *o);
    o->protocol_version = MQTTC_PROTOCOL_5;
    o->client_id = "tester5";
    o->on_message = on_message;
    o->on_published = on_published;
    o->on_status = on_status;
}

/* ---- the broker's side: packets made by the codec, fed to the client ---- */
static mqttc_props list_of(const mqttc_prop *list, size_t count) {
    mqttc_props ps;
    memset(&ps, 0, sizeof ps);
    ps.list = list;
    ps.count = count;
    return ps;
}

static void feed_connack(mem_link *l, int session_present, int reason, const mqttc_prop *list, size_t count) {
    unsigned char b[512];
    mqttc_connack_info ca;
    size_t n = 0;
    memset(&ca, 0, sizeof ca);
    ca.session_present = session_present;
    ca.reason_code = reason;
    ca.props = list_of(list, count);
    CHECK_RC(mqttc_encode_connack(b, sizeof b, 5, &ca, &n), MQTTC_OK);
    mem_feed(l, b, n);
}

static void feed_publish(mem_link *l, const char *topic, int qos, unsigned short id, const mqttc_prop *list,
                         size_t count) {
    unsigned char b[512];
    mqttc_publish_info pi;
    size_t n = 0;
    memset(&pi, 0, sizeof pi);
    pi.topic = topic;
    pi.topic_len = strlen(topic);
    pi.payload = "hi";
    pi.payload_len = 2;
    pi.qos = qos;
    pi.packet_id = id;
    pi.props = list_of(list, count);
    CHECK_RC(mqttc_encode_publish(b, sizeof b, 5, &pi, &n), MQTTC_OK);
    mem_feed(l, b, n);
}

static void feed_ack(mem_link *l, int type, unsigned short id, int reason, const mqttc_prop *list, size_t count) {
    unsigned char b[256];
    mqttc_ack_info a;
    size_t n = 0;
    memset(&a, 0, sizeof a);
    a.type = type;
    a.packet_id = id;
    a.reason_code = reason;
    a.props = list_of(list, count);
    CHECK_RC(mqttc_encode_ack(b, sizeof b, 5, &a, &n), MQTTC_OK);
    mem_feed(l, b, n);
}

static void feed_codes(mem_link *l, int type, unsigned short id, const unsigned char *codes, size_t count) {
    unsigned char b[256];
    size_t n = 0;
    if (type == MQTTC_SUBACK) {
        mqttc_suback_info sa;
        memset(&sa, 0, sizeof sa);
        sa.packet_id = id;
        sa.codes = codes;
        sa.count = count;
        CHECK_RC(mqttc_encode_suback(b, sizeof b, 5, &sa, &n), MQTTC_OK);
    } else {
        mqttc_ack_info a;
        memset(&a, 0, sizeof a);
        a.type = MQTTC_UNSUBACK;
        a.packet_id = id;
        a.codes = codes;
        a.count = count;
        CHECK_RC(mqttc_encode_ack(b, sizeof b, 5, &a, &n), MQTTC_OK);
    }
    mem_feed(l, b, n);
}

static void feed_auth(mem_link *l, int reason, const char *method, const char *data) {
    unsigned char b[256];
    mqttc_prop list[2];
    mqttc_auth_info ai;
    size_t n = 0;
    list[0] = mqttc_prop_str(MQTTC_PROP_AUTH_METHOD, method);
    list[1] = mqttc_prop_str(MQTTC_PROP_AUTH_DATA, data);
    memset(&ai, 0, sizeof ai);
    ai.reason_code = reason;
    ai.props = list_of(list, data ? 2 : 1);
    CHECK_RC(mqttc_encode_auth(b, sizeof b, 5, &ai, &n), MQTTC_OK);
    mem_feed(l, b, n);
}

/* ---- what the client sent ---- */
static int sent(mem_link *l, size_t *pos, mqttc_packet *p) {
    size_t used;
    if (*pos >= l->out_len || mqttc_decode(l->out + *pos, l->out_len - *pos, 0, 5, p, &used) != MQTTC_OK) return 0;
    *pos += used;
    return 1;
}

/* The next sent packet of this type (others skipped); 0 if none. */
static int sent_type(mem_link *l, size_t *pos, int type, mqttc_packet *p) {
    while (sent(l, pos, p))
        if (p->type == type) return 1;
    return 0;
}

/* The reason of the last DISCONNECT the client sent, or -1. */
static int sent_disconnect_reason(mem_link *l) {
    mqttc_packet p;
    size_t pos = 0;
    int reason = -1;
    while (sent_type(l, &pos, MQTTC_DISCONNECT, &p)) reason = p.disconnect.reason_code;
    return reason;
}

static uint32_t prop_value(const mqttc_props *ps, int id) {
    mqttc_prop pr;
    return mqttc_props_get(ps, id, &pr) ? pr.value : 0xFFFFFFFFu;
}

static void step_until_quiet(mqttc_client *c, mem_link *l, uint64_t now) {
    for (int i = 0; i < 100000 && l->in_len && mqttc_state(c) != MQTTC_STATE_CLOSED; i++) mqttc_step(c, now);
    mqttc_step(c, now);
    mqttc_step(c, now);
}

/* Connected over a link, with the broker's CONNACK properties. */
static void connect5(mqttc_client *c, mem_link *l, const mqttc_options *o, const mqttc_prop *connack, size_t count) {
    mqttc_transport t = mem_transport(l);
    memset(&S, 0, sizeof S);
    CHECK_RC(mqttc_init(c, o), MQTTC_OK);
    CHECK_RC(mqttc_start_transport(c, &t, 0), MQTTC_OK);
    feed_connack(l, 0, 0, connack, count);
    step_until_quiet(c, l, 0);
    CHECK_EQ_INT(mqttc_state(c), MQTTC_STATE_CONNECTED);
}

static void done(mqttc_client *c, mem_link *l) {
    mqttc_deinit(c);
    mem_free(l);
}

/* ---- CONNECT ---- */

TEST(mqtt_3_1_2_connect_properties) {
    mqttc_client c;
    mem_link l;
    mqttc_options o;
    mqttc_prop cp[2], wp[2];
    mqttc_packet p;
    size_t pos = 0;
    memset(&l, 0, sizeof l);
    options5(&o);
    o.session_expiry_s = 300;
    o.max_inflight_in = 10;
    o.max_packet_size = 4096;
    o.topic_alias_in = 7;
    cp[0] = mqttc_prop_user("site", "lab");
    cp[1] = mqttc_prop_int(MQTTC_PROP_REQUEST_PROBLEM_INFO, 0);
    o.connect_props = list_of(cp, 2);
    o.will_topic = "w/t";
    o.will_payload = "gone";
    o.will_payload_len = 4;
    wp[0] = mqttc_prop_int(MQTTC_PROP_WILL_DELAY, 5);
    wp[1] = mqttc_prop_str(MQTTC_PROP_CONTENT_TYPE, "text/plain");
    o.will_props = list_of(wp, 2);
    connect5(&c, &l, &o, NULL, 0);
    CHECK(sent_type(&l, &pos, MQTTC_CONNECT, &p));
    CHECK_EQ_INT(p.connect.protocol_level, 5);
    CHECK_EQ_INT((int)prop_value(&p.connect.props, MQTTC_PROP_SESSION_EXPIRY), 300);
    CHECK_EQ_INT((int)prop_value(&p.connect.props, MQTTC_PROP_RECEIVE_MAX), 10);
    CHECK_EQ_INT((int)prop_value(&p.connect.props, MQTTC_PROP_MAX_PACKET_SIZE), 4096);
    CHECK_EQ_INT((int)prop_value(&p.connect.props, MQTTC_PROP_TOPIC_ALIAS_MAX), 7);
    CHECK_EQ_INT((int)prop_value(&p.connect.props, MQTTC_PROP_REQUEST_PROBLEM_INFO), 0);
    CHECK(mqttc_props_get(&p.connect.props, MQTTC_PROP_USER, NULL));
    CHECK_EQ_INT((int)prop_value(&p.connect.will_props, MQTTC_PROP_WILL_DELAY), 5);
    CHECK(mqttc_props_get(&p.connect.will_props, MQTTC_PROP_CONTENT_TYPE, NULL));
    done(&c, &l);
}

/* mqttc_set_will_props between connections: the next CONNECT carries them; bad ones, or
   any on a 3.1.1 client, are the caller's argument. */
TEST(will_props_set_between_connections) {
    mqttc_client c;
    mem_link l;
    mqttc_options o;
    mqttc_prop wp[1], bad[1];
    mqttc_packet p;
    size_t pos = 0;
    memset(&l, 0, sizeof l);
    options5(&o);
    o.will_topic = "w/t";
    o.will_payload = "gone";
    o.will_payload_len = 4;
    CHECK_EQ_INT(mqttc_init(&c, &o), MQTTC_OK);
    wp[0] = mqttc_prop_int(MQTTC_PROP_WILL_DELAY, 9);
    mqttc_props set = list_of(wp, 1);
    CHECK_EQ_INT(mqttc_set_will_props(&c, &set), MQTTC_OK);
    bad[0] = mqttc_prop_int(MQTTC_PROP_TOPIC_ALIAS, 1); /* not a will's */
    mqttc_props wrong = list_of(bad, 1);
    CHECK_EQ_INT(mqttc_set_will_props(&c, &wrong), MQTTC_ERR_ARG);
    CHECK(strcmp(mqttc_bad_arg(&c), "props") == 0);
    mqttc_deinit(&c);
    connect5(&c, &l, &o, NULL, 0); /* (init again, from o: no will properties) */
    CHECK(sent_type(&l, &pos, MQTTC_CONNECT, &p));
    CHECK(!mqttc_props_get(&p.connect.will_props, MQTTC_PROP_WILL_DELAY, NULL));
    CHECK_EQ_INT(mqttc_set_will_props(&c, &set), MQTTC_ERR_STATE); /* not while open */
    done(&c, &l);
    o.protocol_version = 0; /* 3.1.1: no properties */
    CHECK_EQ_INT(mqttc_init(&c, &o), MQTTC_OK);
    CHECK_EQ_INT(mqttc_set_will_props(&c, &set), MQTTC_ERR_ARG);
    CHECK_EQ_INT(mqttc_set_will_props(&c, NULL), MQTTC_OK);
    mqttc_deinit(&c);
    /* set, then connected: CONNECT carries them */
    memset(&l, 0, sizeof l);
    pos = 0;
    options5(&o);
    o.will_topic = "w/t";
    CHECK_EQ_INT(mqttc_init(&c, &o), MQTTC_OK);
    CHECK_EQ_INT(mqttc_set_will_props(&c, &set), MQTTC_OK);
    mqttc_transport t = mem_transport(&l);
    CHECK_EQ_INT(mqttc_start_transport(&c, &t, 0), MQTTC_OK);
    CHECK(sent_type(&l, &pos, MQTTC_CONNECT, &p));
    CHECK_EQ_INT((int)prop_value(&p.connect.will_props, MQTTC_PROP_WILL_DELAY), 9);
    mqttc_deinit(&c);
    mem_free(&l);
}

/* The defaults advertise only Maximum Packet Size (ours, 16 MiB): Receive Maximum 65535 and
   no aliases are the spec's own defaults, so they are left out. */
TEST(mqtt_3_1_2_connect_defaults) {
    mqttc_client c;
    mem_link l;
    mqttc_options o;
    mqttc_packet p;
    size_t pos = 0;
    memset(&l, 0, sizeof l);
    options5(&o);
    connect5(&c, &l, &o, NULL, 0);
    CHECK(sent_type(&l, &pos, MQTTC_CONNECT, &p));
    CHECK_EQ_INT((int)prop_value(&p.connect.props, MQTTC_PROP_RECEIVE_MAX), -1);
    CHECK_EQ_INT((int)prop_value(&p.connect.props, MQTTC_PROP_TOPIC_ALIAS_MAX), -1);
    CHECK_EQ_INT((int)prop_value(&p.connect.props, MQTTC_PROP_SESSION_EXPIRY), -1);
    CHECK_EQ_INT((int)prop_value(&p.connect.props, MQTTC_PROP_MAX_PACKET_SIZE), 16 * 1024 * 1024);
    CHECK_EQ_INT(mqttc_server_limits(&c)->receive_max, 65535);
    CHECK_EQ_INT(mqttc_server_limits(&c)->max_qos, 2);
    done(&c, &l);
}

TEST(options_rules) {
    mqttc_client c;
    mqttc_options o;
    mqttc_prop bad = mqttc_prop_int(MQTTC_PROP_RECEIVE_MAX, 5);
    memset(&o, 0, sizeof o);
    o.session_expiry_s = 10; /* an MQTT 5 option on a 3.1.1 client */
    CHECK_RC(mqttc_init(&c, &o), MQTTC_ERR_ARG);
    CHECK(strcmp(mqttc_bad_arg(&c), "options.protocol_version") == 0);
    options5(&o);
    o.protocol_version = 3;
    CHECK_RC(mqttc_init(&c, &o), MQTTC_ERR_ARG);
    options5(&o);
    o.connect_props = list_of(&bad, 1); /* the client owns Receive Maximum (max_inflight_in) */
    CHECK_RC(mqttc_init(&c, &o), MQTTC_ERR_ARG);
    CHECK(strcmp(mqttc_bad_arg(&c), "options.connect_props") == 0);
    options5(&o);
    bad = mqttc_prop_int(MQTTC_PROP_WILL_DELAY, 1);
    o.will_props = list_of(&bad, 1); /* will properties without a will */
    CHECK_RC(mqttc_init(&c, &o), MQTTC_ERR_ARG);
    options5(&o);
    o.password = "pw"; /* a password alone is fine in MQTT 5 [MQTT-3.1.2-22 is 3.1.1's] */
    o.password_len = 2;
    CHECK_RC(mqttc_init(&c, &o), MQTTC_OK);
    mqttc_deinit(&c);
}

/* ---- CONNACK ---- */

/* A broker that speaks only 3.1.1 answers an MQTT 5 CONNECT with its return code 1: read
   as 0x84, unsupported protocol version [MQTT-3.1.2-2]. */
TEST(mqtt_3_1_2_2_a_311_broker_refuses_version_5) {
    static const unsigned char connack_311[] = {0x20, 0x02, 0x00, 0x01};
    mqttc_client c;
    mem_link l;
    mqttc_options o;
    mqttc_transport t = mem_transport(&l);
    memset(&l, 0, sizeof l);
    options5(&o);
    CHECK_RC(mqttc_init(&c, &o), MQTTC_OK);
    CHECK_RC(mqttc_start_transport(&c, &t, 0), MQTTC_OK);
    mem_feed(&l, connack_311, sizeof connack_311);
    step_until_quiet(&c, &l, 0);
    CHECK_RC(mqttc_error(&c), MQTTC_ERR_REFUSED);
    CHECK_EQ_INT(mqttc_reason_code(&c), 0x84);
    done(&c, &l);
}

TEST(mqtt_3_2_2_refusal_with_reason_string) {
    mqttc_client c;
    mem_link l;
    mqttc_options o;
    mqttc_prop rs = mqttc_prop_str(MQTTC_PROP_REASON_STRING, "go away");
    mqttc_transport t = mem_transport(&l);
    memset(&l, 0, sizeof l);
    memset(&S, 0, sizeof S);
    options5(&o);
    CHECK_RC(mqttc_init(&c, &o), MQTTC_OK);
    CHECK_RC(mqttc_start_transport(&c, &t, 0), MQTTC_OK);
    feed_connack(&l, 0, MQTTC_RC_NOT_AUTHORIZED, &rs, 1);
    step_until_quiet(&c, &l, 0);
    CHECK_EQ_INT(mqttc_state(&c), MQTTC_STATE_CLOSED);
    CHECK_RC(mqttc_error(&c), MQTTC_ERR_REFUSED);
    CHECK_EQ_INT(mqttc_reason_code(&c), 0x87);
    CHECK_EQ_INT(S.last_status_reason, 0x87);
    CHECK(strcmp(S.last_reason_string, "go away") == 0);
    done(&c, &l);
}

/* Receive Maximum 2: the third QoS 1 publish waits (BUSY) until an ack frees a slot. */
TEST(mqtt_3_3_4_7_receive_maximum) {
    mqttc_client c;
    mem_link l;
    mqttc_options o;
    mqttc_prop rm = mqttc_prop_int(MQTTC_PROP_RECEIVE_MAX, 2);
    unsigned short id1 = 0;
    memset(&l, 0, sizeof l);
    options5(&o);
    connect5(&c, &l, &o, &rm, 1);
    CHECK_EQ_INT(mqttc_server_limits(&c)->receive_max, 2);
    CHECK_RC(mqttc_publish(&c, "a", "1", 1, 1, 0, &id1), MQTTC_OK);
    CHECK_RC(mqttc_publish(&c, "a", "2", 1, 2, 0, NULL), MQTTC_OK);
    CHECK_RC(mqttc_publish(&c, "a", "3", 1, 1, 0, NULL), MQTTC_ERR_BUSY);
    CHECK_RC(mqttc_publish(&c, "a", "0", 1, 0, 0, NULL), MQTTC_OK); /* QoS 0 is not counted */
    feed_ack(&l, MQTTC_PUBACK, id1, 0, NULL, 0);
    step_until_quiet(&c, &l, 0);
    CHECK_RC(mqttc_publish(&c, "a", "3", 1, 1, 0, NULL), MQTTC_OK);
    CHECK_EQ_INT(mqttc_inflight(&c), 2);
    done(&c, &l);
}

/* Reconnected to a broker with a smaller Receive Maximum, a resumed session resends only
   what fits; each ack lets the next one go, in the original order [MQTT-3.3.4-7],
   [MQTT-4.6.0-1]. */
TEST(mqtt_3_3_4_7_receive_maximum_after_a_reconnect) {
    mqttc_client c;
    mem_link l, l2;
    mqttc_options o;
    mqttc_prop rm = mqttc_prop_int(MQTTC_PROP_RECEIVE_MAX, 2);
    mqttc_packet p;
    unsigned short ids[5];
    size_t pos = 0;
    memset(&l, 0, sizeof l);
    memset(&l2, 0, sizeof l2);
    options5(&o);
    o.no_clean_session = 1;
    o.session_expiry_s = 60;
    connect5(&c, &l, &o, NULL, 0);
    for (int i = 0; i < 5; i++) CHECK_RC(mqttc_publish(&c, "r", "x", 1, 1 + i % 2, 0, &ids[i]), MQTTC_OK);
    l.is_eof = 1;
    step_until_quiet(&c, &l, 1);
    mqttc_transport t = mem_transport(&l2);
    CHECK_RC(mqttc_start_transport(&c, &t, 2), MQTTC_OK);
    feed_connack(&l2, 1, 0, &rm, 1);
    step_until_quiet(&c, &l2, 2);
    int resent = 0;
    while (sent_type(&l2, &pos, MQTTC_PUBLISH, &p)) {
        CHECK(p.publish.dup);
        CHECK_EQ_INT(p.publish.packet_id, ids[resent]);
        resent++;
    }
    CHECK_EQ_INT(resent, 2);
    CHECK_EQ_INT(mqttc_inflight(&c), 5);
    CHECK_RC(mqttc_publish(&c, "r", "new", 3, 1, 0, NULL), MQTTC_ERR_BUSY); /* the held ones first */
    feed_ack(&l2, MQTTC_PUBREC, ids[1], 0, NULL, 0); /* a PUBREL flow still counts */
    feed_ack(&l2, MQTTC_PUBACK, ids[0], 0, NULL, 0);
    step_until_quiet(&c, &l2, 3);
    CHECK(sent_type(&l2, &pos, MQTTC_PUBLISH, &p) && p.publish.packet_id == ids[2] && p.publish.dup);
    CHECK(!sent_type(&l2, &pos, MQTTC_PUBLISH, &p));
    feed_ack(&l2, MQTTC_PUBCOMP, ids[1], 0, NULL, 0);
    feed_ack(&l2, MQTTC_PUBACK, ids[2], 0, NULL, 0); /* (QoS 1, 2, 1, 2, 1) */
    step_until_quiet(&c, &l2, 4);
    size_t at = pos;
    int more = 0;
    while (sent_type(&l2, &pos, MQTTC_PUBLISH, &p)) CHECK_EQ_INT(p.publish.packet_id, ids[3 + more++]);
    CHECK_EQ_INT(more, 2);
    pos = at;
    feed_ack(&l2, MQTTC_PUBACK, ids[4], 0, NULL, 0);
    feed_ack(&l2, MQTTC_PUBREC, ids[3], 0, NULL, 0);
    feed_ack(&l2, MQTTC_PUBCOMP, ids[3], 0, NULL, 0);
    step_until_quiet(&c, &l2, 5);
    CHECK_EQ_INT(mqttc_inflight(&c), 0);
    CHECK_EQ_INT(S.published, 5);
    mqttc_deinit(&c);
    mem_free(&l);
    mem_free(&l2);
}

TEST(mqtt_3_2_2_15_maximum_packet_size) {
    mqttc_client c;
    mem_link l;
    mqttc_options o;
    mqttc_prop mp = mqttc_prop_int(MQTTC_PROP_MAX_PACKET_SIZE, 64);
    char big[100];
    memset(big, 'x', sizeof big);
    memset(&l, 0, sizeof l);
    options5(&o);
    connect5(&c, &l, &o, &mp, 1);
    size_t before = l.out_len;
    CHECK_RC(mqttc_publish(&c, "a", big, sizeof big, 1, 0, NULL), MQTTC_ERR_TOOLARGE);
    CHECK_EQ_INT((int)l.out_len, (int)before); /* nothing sent */
    CHECK_EQ_INT(mqttc_inflight(&c), 0);
    CHECK_RC(mqttc_publish(&c, "a", big, 40, 1, 0, NULL), MQTTC_OK); /* 2+3+1+2+1+40 = 49 */
    CHECK_EQ_INT(mqttc_state(&c), MQTTC_STATE_CONNECTED);
    done(&c, &l);
}

TEST(mqtt_3_2_2_11_14_maximum_qos_and_retain) {
    mqttc_client c;
    mem_link l;
    mqttc_options o;
    mqttc_prop lim[4];
    lim[0] = mqttc_prop_int(MQTTC_PROP_MAX_QOS, 1);
    lim[1] = mqttc_prop_int(MQTTC_PROP_RETAIN_AVAILABLE, 0);
    lim[2] = mqttc_prop_int(MQTTC_PROP_WILDCARD_SUB_AVAILABLE, 0);
    lim[3] = mqttc_prop_int(MQTTC_PROP_SHARED_SUB_AVAILABLE, 0);
    memset(&l, 0, sizeof l);
    options5(&o);
    connect5(&c, &l, &o, lim, 4);
    CHECK_RC(mqttc_publish(&c, "a", "x", 1, 2, 0, NULL), MQTTC_ERR_QOS);
    CHECK_RC(mqttc_publish(&c, "a", "x", 1, 1, 1, NULL), MQTTC_ERR_UNSUPPORTED);
    CHECK_RC(mqttc_publish(&c, "a", "x", 1, 1, 0, NULL), MQTTC_OK);
    CHECK_RC(mqttc_subscribe(&c, "a/#", 1, NULL, NULL, NULL, NULL), MQTTC_ERR_UNSUPPORTED);
    CHECK_RC(mqttc_subscribe(&c, "$share/g/a", 1, NULL, NULL, NULL, NULL), MQTTC_ERR_UNSUPPORTED);
    CHECK_RC(mqttc_subscribe(&c, "a/b", 2, NULL, NULL, NULL, NULL), MQTTC_OK); /* the broker grants less */
    CHECK_EQ_INT(mqttc_state(&c), MQTTC_STATE_CONNECTED);
    done(&c, &l);
}

/* Server Keep Alive replaces ours [MQTT-3.2.2-21]: PINGREQ after 5 s, not 60. */
TEST(mqtt_3_2_2_21_server_keep_alive) {
    mqttc_client c;
    mem_link l;
    mqttc_options o;
    mqttc_prop ka = mqttc_prop_int(MQTTC_PROP_SERVER_KEEP_ALIVE, 5);
    mqttc_packet p;
    size_t pos = 0;
    memset(&l, 0, sizeof l);
    options5(&o);
    o.keepalive_s = 60;
    connect5(&c, &l, &o, &ka, 1);
    CHECK_EQ_INT(mqttc_server_limits(&c)->keepalive_s, 5);
    mqttc_step(&c, 4999);
    CHECK(!sent_type(&l, &pos, MQTTC_PINGREQ, &p));
    pos = 0;
    mqttc_step(&c, 5000);
    CHECK(sent_type(&l, &pos, MQTTC_PINGREQ, &p));
    mqttc_step(&c, 10001); /* no PINGRESP within the keepalive in effect */
    CHECK_RC(mqttc_error(&c), MQTTC_ERR_PINGRESP);
    done(&c, &l);
}

/* The Assigned Client Identifier names the session from then on: the next CONNECT sends
   it. */
TEST(mqtt_3_2_2_assigned_client_identifier) {
    mqttc_client c;
    mem_link l, l2;
    mqttc_options o;
    mqttc_prop id = mqttc_prop_str(MQTTC_PROP_ASSIGNED_CLIENT_ID, "auto-1234");
    mqttc_packet p;
    size_t pos = 0;
    memset(&l, 0, sizeof l);
    memset(&l2, 0, sizeof l2);
    options5(&o);
    o.client_id = "";       /* the broker assigns one [MQTT-3.1.3-6]; Clean Start 0 is allowed */
    o.no_clean_session = 1; /* in MQTT 5 (3.1.1 refuses it [MQTT-3.1.3-7]) */
    o.session_expiry_s = 60;
    connect5(&c, &l, &o, &id, 1);
    CHECK(strcmp(mqttc_client_id(&c), "auto-1234") == 0);
    CHECK_RC(mqttc_set_clean_session(&c, 0), MQTTC_ERR_STATE); /* connected: only between connections */
    CHECK_RC(mqttc_disconnect(&c), MQTTC_OK);
    mqttc_step(&c, 1);
    CHECK_RC(mqttc_set_clean_session(&c, 0), MQTTC_OK); /* between connections, with the assigned id */
    mqttc_transport t = mem_transport(&l2);
    CHECK_RC(mqttc_start_transport(&c, &t, 2), MQTTC_OK);
    CHECK(sent_type(&l2, &pos, MQTTC_CONNECT, &p));
    CHECK(p.connect.client_id.len == 9 && memcmp(p.connect.client_id.ptr, "auto-1234", 9) == 0);
    CHECK_EQ_INT(p.connect.clean_session, 0); /* the session it named is resumed */
    CHECK_RC(mqttc_set_clean_session(&c, 1), MQTTC_ERR_STATE);
    mqttc_deinit(&c);
    mem_free(&l);
    mem_free(&l2);
}

/* ---- the broker's DISCONNECT ---- */

TEST(mqtt_3_14_server_disconnect_reported) {
    mqttc_client c;
    mem_link l;
    mqttc_options o;
    mqttc_prop rs = mqttc_prop_str(MQTTC_PROP_REASON_STRING, "shutting down");
    unsigned char b[64];
    mqttc_disconnect_info di;
    size_t n = 0;
    memset(&l, 0, sizeof l);
    options5(&o);
    connect5(&c, &l, &o, NULL, 0);
    memset(&di, 0, sizeof di);
    di.reason_code = MQTTC_RC_SERVER_SHUTTING_DOWN;
    di.props = list_of(&rs, 1);
    CHECK_RC(mqttc_encode_disconnect(b, sizeof b, 5, &di, &n), MQTTC_OK);
    mem_feed(&l, b, n);
    step_until_quiet(&c, &l, 0);
    CHECK_RC(mqttc_error(&c), MQTTC_ERR_SERVER_DISCONNECT);
    CHECK_EQ_INT(mqttc_reason_code(&c), 0x8B);
    CHECK_EQ_INT(S.last_status_reason, 0x8B);
    CHECK(strcmp(S.last_reason_string, "shutting down") == 0);
    CHECK_EQ_INT(sent_disconnect_reason(&l), -1); /* nothing is sent after it [MQTT-3.14.4-1] */
    done(&c, &l);
}

/* ---- incoming topic aliases ---- */

TEST(mqtt_3_3_2_10_incoming_aliases_resolved) {
    mqttc_client c;
    mem_link l;
    mqttc_options o;
    mqttc_prop alias = mqttc_prop_int(MQTTC_PROP_TOPIC_ALIAS, 1);
    memset(&l, 0, sizeof l);
    options5(&o);
    o.topic_alias_in = 2;
    connect5(&c, &l, &o, NULL, 0);
    feed_publish(&l, "sensors/temp", 0, 0, &alias, 1);
    feed_publish(&l, "", 1, 7, &alias, 1);
    step_until_quiet(&c, &l, 0);
    CHECK_EQ_INT(S.messages, 2);
    CHECK(strcmp(S.last_topic, "sensors/temp") == 0);
    CHECK_EQ_INT(mqttc_state(&c), MQTTC_STATE_CONNECTED);
    done(&c, &l);
}

/* A PUBLISH with a bad alias (raw bytes, or by the codec from topic and alias) to a client
   that accepts aliases up to topic_alias_in: the DISCONNECT reason it answers with, or -1. */
static int bad_alias_answer(unsigned topic_alias_in, const unsigned char *raw, size_t raw_len, const char *topic,
                            unsigned alias_value) {
    mqttc_client c;
    mem_link l;
    mqttc_options o;
    mqttc_prop alias = mqttc_prop_int(MQTTC_PROP_TOPIC_ALIAS, alias_value);
    memset(&l, 0, sizeof l);
    options5(&o);
    o.topic_alias_in = topic_alias_in;
    connect5(&c, &l, &o, NULL, 0);
    if (raw) mem_feed(&l, raw, raw_len);
    else feed_publish(&l, topic, 0, 0, &alias, 1);
    step_until_quiet(&c, &l, 0);
    CHECK_RC(mqttc_error(&c), MQTTC_ERR_PROTOCOL);
    CHECK_EQ_INT(S.messages, 0);
    int reason = sent_disconnect_reason(&l);
    done(&c, &l);
    return reason;
}

TEST(mqtt_3_3_2_alias_above_maximum_is_0x94) { CHECK_EQ_INT(bad_alias_answer(2, NULL, 0, "t", 3), 0x94); }

TEST(mqtt_3_3_2_unknown_alias_is_0x82) { CHECK_EQ_INT(bad_alias_answer(2, NULL, 0, "", 2), 0x82); }

/* Topic Alias 0 is never valid [MQTT-3.3.2-8]: 0x94 too (raw bytes: the codec will not
   encode it). */
TEST(mqtt_3_3_2_8_alias_zero_is_0x94) {
    static const unsigned char alias0[] = {0x30, 0x07, 0x00, 0x01, 't', 0x03, 0x23, 0x00, 0x00};
    mqttc_publish_info pi;
    mqttc_prop zero = mqttc_prop_int(MQTTC_PROP_TOPIC_ALIAS, 0);
    unsigned char b[32];
    size_t n;
    memset(&pi, 0, sizeof pi);
    pi.topic = "t";
    pi.topic_len = 1;
    pi.props = list_of(&zero, 1);
    CHECK_RC(mqttc_encode_publish(b, sizeof b, 5, &pi, &n), MQTTC_ERR_ARG);
    CHECK_EQ_INT(bad_alias_answer(2, alias0, sizeof alias0, NULL, 0), 0x94);
}

/* Without topic_alias_in, any alias is above our maximum (0). */
TEST(mqtt_3_3_2_alias_without_maximum_is_0x94) { CHECK_EQ_INT(bad_alias_answer(0, NULL, 0, "t", 1), 0x94); }

/* ---- our limits towards the broker ---- */

TEST(receive_maximum_exceeded_is_0x93) {
    mqttc_client c;
    mem_link l;
    mqttc_options o;
    memset(&l, 0, sizeof l);
    options5(&o);
    o.max_inflight_in = 2;
    connect5(&c, &l, &o, NULL, 0);
    feed_publish(&l, "t", 2, 1, NULL, 0);
    feed_publish(&l, "t", 2, 2, NULL, 0);
    feed_publish(&l, "t", 2, 3, NULL, 0); /* no PUBREL came: a third is one too many */
    step_until_quiet(&c, &l, 0);
    CHECK_RC(mqttc_error(&c), MQTTC_ERR_OVERFLOW);
    CHECK_EQ_INT(sent_disconnect_reason(&l), 0x93);
    CHECK_EQ_INT(S.messages, 2);
    done(&c, &l);
}

TEST(packet_too_large_is_0x95) {
    mqttc_client c;
    mem_link l;
    mqttc_options o;
    char topic[200];
    memset(topic, 't', sizeof topic - 1);
    topic[sizeof topic - 1] = 0;
    memset(&l, 0, sizeof l);
    options5(&o);
    o.max_packet_size = 128;
    connect5(&c, &l, &o, NULL, 0);
    feed_publish(&l, topic, 0, 0, NULL, 0);
    step_until_quiet(&c, &l, 0);
    CHECK_RC(mqttc_error(&c), MQTTC_ERR_OVERFLOW);
    CHECK_EQ_INT(sent_disconnect_reason(&l), 0x95);
    done(&c, &l);
}

/* A property the packet may not carry is malformed (0x81); a repeated one a protocol error
   (0x82) [MQTT-2.2.2.2]. Raw bytes: the codec would not encode them. */
TEST(mqtt_2_2_2_bad_properties_from_the_broker) {
    static const unsigned char not_allowed[] = {0x40, 0x06, 0x00, 0x01, 0x00, 0x02, 0x24, 0x01}; /* PUBACK + Maximum QoS */
    static const unsigned char repeated[] = {0x40, 0x0A, 0x00, 0x01, 0x00, 0x06, 0x1F, 0x00, 0x00, 0x1F, 0x00, 0x00};
    const unsigned char *cases[2] = {not_allowed, repeated};
    size_t sizes[2] = {sizeof not_allowed, sizeof repeated};
    int want[2] = {0x81, 0x82};
    for (int i = 0; i < 2; i++) {
        mqttc_client c;
        mem_link l;
        mqttc_options o;
        memset(&l, 0, sizeof l);
        options5(&o);
        connect5(&c, &l, &o, NULL, 0);
        CHECK_RC(mqttc_publish(&c, "a", "x", 1, 1, 0, NULL), MQTTC_OK);
        mem_feed(&l, cases[i], sizes[i]);
        step_until_quiet(&c, &l, 0);
        CHECK_RC(mqttc_error(&c), MQTTC_ERR_PROTOCOL);
        CHECK_EQ_INT(sent_disconnect_reason(&l), want[i]);
        done(&c, &l);
    }
}

/* ---- outgoing topic aliases ---- */

typedef struct sent_alias {
    char topic[16];
    int alias;
} sent_alias;

/* The topic and alias of each PUBLISH sent from *pos on. */
static int sent_aliases(mem_link *l, size_t *pos, sent_alias *out, int max) {
    mqttc_packet p;
    int n = 0;
    while (n < max && sent_type(l, pos, MQTTC_PUBLISH, &p)) {
        snprintf(out[n].topic, sizeof out[n].topic, "%.*s", (int)p.publish.topic_len, p.publish.topic);
        out[n].alias = (int)prop_value(&p.publish.props, MQTTC_PROP_TOPIC_ALIAS);
        n++;
    }
    return n;
}

TEST(mqtt_3_3_2_8_9_outgoing_aliases) {
    mqttc_client c;
    mem_link l;
    mqttc_options o;
    mqttc_prop max = mqttc_prop_int(MQTTC_PROP_TOPIC_ALIAS_MAX, 2);
    sent_alias a[8];
    size_t pos = 0;
    const char *topics[] = {"t1", "t1", "t2", "t3", "t2", "t1"};
    memset(&l, 0, sizeof l);
    options5(&o);
    o.topic_alias_out = 10; /* the broker's 2 wins [MQTT-3.3.2-9] */
    connect5(&c, &l, &o, &max, 1);
    for (int i = 0; i < 6; i++) CHECK_RC(mqttc_publish(&c, topics[i], "x", 1, 0, 0, NULL), MQTTC_OK);
    CHECK_EQ_INT(sent_aliases(&l, &pos, a, 8), 6);
    CHECK(strcmp(a[0].topic, "t1") == 0 && a[0].alias == 1); /* new: topic and alias */
    CHECK(strcmp(a[1].topic, "") == 0 && a[1].alias == 1);   /* known: the alias alone */
    CHECK(strcmp(a[2].topic, "t2") == 0 && a[2].alias == 2);
    CHECK(strcmp(a[3].topic, "t3") == 0 && a[3].alias == 1); /* t1 was least recently used */
    CHECK(strcmp(a[4].topic, "") == 0 && a[4].alias == 2);
    CHECK(strcmp(a[5].topic, "t1") == 0 && a[5].alias == 1); /* t3 now */
    for (int i = 0; i < 6; i++) CHECK(a[i].alias >= 1 && a[i].alias <= 2);
    done(&c, &l);
}

/* Aliases die with the connection [MQTT-3.3.2-7]: a QoS 1 message resent after a
   reconnect carries its whole topic and no alias. */
TEST(mqtt_3_3_2_7_resend_has_the_whole_topic) {
    mqttc_client c;
    mem_link l, l2;
    mqttc_options o;
    mqttc_prop max = mqttc_prop_int(MQTTC_PROP_TOPIC_ALIAS_MAX, 5);
    sent_alias a[4];
    size_t pos = 0;
    memset(&l, 0, sizeof l);
    memset(&l2, 0, sizeof l2);
    options5(&o);
    o.topic_alias_out = 5;
    o.no_clean_session = 1;
    o.session_expiry_s = 60;
    connect5(&c, &l, &o, &max, 1);
    CHECK_RC(mqttc_publish(&c, "keep/me", "x", 1, 0, 0, NULL), MQTTC_OK);
    CHECK_RC(mqttc_publish(&c, "keep/me", "y", 1, 1, 0, NULL), MQTTC_OK);
    CHECK_EQ_INT(sent_aliases(&l, &pos, a, 4), 2);
    CHECK(strcmp(a[1].topic, "") == 0 && a[1].alias == 1);
    l.is_eof = 1;
    step_until_quiet(&c, &l, 1);
    CHECK_EQ_INT(mqttc_state(&c), MQTTC_STATE_CLOSED);
    mqttc_transport t = mem_transport(&l2);
    CHECK_RC(mqttc_start_transport(&c, &t, 2), MQTTC_OK);
    feed_connack(&l2, 1, 0, NULL, 0); /* no aliases this time */
    step_until_quiet(&c, &l2, 2);
    pos = 0;
    CHECK_EQ_INT(sent_aliases(&l2, &pos, a, 4), 1);
    CHECK(strcmp(a[0].topic, "keep/me") == 0 && a[0].alias == -1);
    mqttc_deinit(&c);
    mem_free(&l);
    mem_free(&l2);
}

TEST(mqtt_3_3_4_6_no_alias_or_subscription_id_from_the_application) {
    mqttc_client c;
    mem_link l;
    mqttc_options o;
    mqttc_prop p = mqttc_prop_int(MQTTC_PROP_SUBSCRIPTION_ID, 3);
    mqttc_publish_info pi;
    memset(&l, 0, sizeof l);
    options5(&o);
    connect5(&c, &l, &o, NULL, 0);
    memset(&pi, 0, sizeof pi);
    pi.topic = "a";
    pi.topic_len = 1;
    pi.props = list_of(&p, 1);
    CHECK_RC(mqttc_publish_with(&c, &pi, NULL), MQTTC_ERR_ARG);
    CHECK(strcmp(mqttc_bad_arg(&c), "props") == 0);
    p = mqttc_prop_int(MQTTC_PROP_TOPIC_ALIAS, 1);
    CHECK_RC(mqttc_publish_with(&c, &pi, NULL), MQTTC_ERR_ARG);
    p = mqttc_prop_int(MQTTC_PROP_PAYLOAD_FORMAT, 1);
    pi.payload = "\xff";
    pi.payload_len = 1;
    CHECK_RC(mqttc_publish_with(&c, &pi, NULL), MQTTC_ERR_ARG); /* says UTF-8, is not */
    done(&c, &l);
}

/* ---- properties out and in ---- */

TEST(publish_properties_travel) {
    mqttc_client c;
    mem_link l;
    mqttc_options o;
    mqttc_prop list[4];
    mqttc_publish_info pi;
    mqttc_packet p;
    size_t pos = 0;
    memset(&l, 0, sizeof l);
    options5(&o);
    connect5(&c, &l, &o, NULL, 0);
    list[0] = mqttc_prop_str(MQTTC_PROP_CONTENT_TYPE, "application/json");
    list[1] = mqttc_prop_str(MQTTC_PROP_RESPONSE_TOPIC, "reply/here");
    list[2] = mqttc_prop_bin(MQTTC_PROP_CORRELATION_DATA, "\x00\x01", 2);
    list[3] = mqttc_prop_user("k", "v");
    memset(&pi, 0, sizeof pi);
    pi.topic = "req";
    pi.topic_len = 3;
    pi.payload = "{}";
    pi.payload_len = 2;
    pi.qos = 1;
    pi.props = list_of(list, 4);
    CHECK_RC(mqttc_publish_with(&c, &pi, NULL), MQTTC_OK);
    CHECK(sent_type(&l, &pos, MQTTC_PUBLISH, &p));
    mqttc_prop got;
    CHECK(mqttc_props_get(&p.publish.props, MQTTC_PROP_CORRELATION_DATA, &got) && got.str.len == 2);
    CHECK(mqttc_props_get(&p.publish.props, MQTTC_PROP_RESPONSE_TOPIC, &got) && got.str.len == 10);
    feed_publish(&l, "in", 0, 0, list, 1);
    step_until_quiet(&c, &l, 0);
    CHECK(strcmp(S.last_content_type, "application/json") == 0);
    done(&c, &l);
}

/* ---- reason codes on acks ---- */

TEST(mqtt_3_4_2_puback_reason_and_string) {
    mqttc_client c;
    mem_link l;
    mqttc_options o;
    mqttc_prop rs = mqttc_prop_str(MQTTC_PROP_REASON_STRING, "nobody");
    unsigned short id = 0;
    memset(&l, 0, sizeof l);
    options5(&o);
    connect5(&c, &l, &o, NULL, 0);
    CHECK_RC(mqttc_publish(&c, "a", "x", 1, 1, 0, &id), MQTTC_OK);
    feed_ack(&l, MQTTC_PUBACK, id, MQTTC_RC_NO_MATCHING_SUBSCRIBERS, &rs, 1);
    step_until_quiet(&c, &l, 0);
    CHECK_EQ_INT(S.published, 1);
    CHECK_EQ_INT(S.last_reason, 0x10);
    CHECK(strcmp(S.last_reason_string, "nobody") == 0);
    done(&c, &l);
}

/* PUBREC >= 0x80 ends the flow: no PUBREL, the slot is free, the app is told
   [MQTT-4.4.0-2], [MQTT-4.3.3-4]. */
TEST(mqtt_4_3_3_4_pubrec_refusal_ends_the_flow) {
    mqttc_client c;
    mem_link l;
    mqttc_options o;
    mqttc_packet p;
    unsigned short id = 0;
    size_t pos = 0;
    memset(&l, 0, sizeof l);
    options5(&o);
    connect5(&c, &l, &o, NULL, 0);
    CHECK_RC(mqttc_publish(&c, "a", "x", 1, 2, 0, &id), MQTTC_OK);
    feed_ack(&l, MQTTC_PUBREC, id, MQTTC_RC_QUOTA_EXCEEDED, NULL, 0);
    step_until_quiet(&c, &l, 0);
    CHECK_EQ_INT(S.published, 1);
    CHECK_EQ_INT(S.last_reason, 0x97);
    CHECK_EQ_INT(mqttc_inflight(&c), 0);
    CHECK(!sent_type(&l, &pos, MQTTC_PUBREL, &p));
    done(&c, &l);
}

/* Short forms: PUBACK of remaining length 2 and 3 [MQTT-3.4.2.1]; PUBREL for an unknown id
   gets PUBCOMP 0x92. */
TEST(mqtt_3_4_2_1_short_forms_and_unknown_pubrel) {
    static const unsigned char puback2[] = {0x40, 0x02, 0x00, 0x01};
    static const unsigned char puback3[] = {0x40, 0x03, 0x00, 0x02, 0x10};
    mqttc_client c;
    mem_link l;
    mqttc_options o;
    mqttc_packet p;
    size_t pos = 0;
    memset(&l, 0, sizeof l);
    options5(&o);
    connect5(&c, &l, &o, NULL, 0);
    CHECK_RC(mqttc_publish(&c, "a", "1", 1, 1, 0, NULL), MQTTC_OK); /* id 1 */
    CHECK_RC(mqttc_publish(&c, "a", "2", 1, 1, 0, NULL), MQTTC_OK); /* id 2 */
    mem_feed(&l, puback2, sizeof puback2);
    mem_feed(&l, puback3, sizeof puback3);
    feed_ack(&l, MQTTC_PUBREL, 77, 0, NULL, 0);
    step_until_quiet(&c, &l, 0);
    CHECK_EQ_INT(S.published, 2);
    CHECK_EQ_INT(S.last_reason, 0x10);
    CHECK(sent_type(&l, &pos, MQTTC_PUBCOMP, &p));
    CHECK_EQ_INT(p.ack.packet_id, 77);
    CHECK_EQ_INT(p.ack.reason_code, 0x92);
    /* and our own success acks take the 2-byte form */
    feed_publish(&l, "in", 1, 9, NULL, 0);
    step_until_quiet(&c, &l, 0);
    size_t at = l.out_len - 4;
    CHECK(l.out[at] == 0x40 && l.out[at + 1] == 0x02);
    done(&c, &l);
}

TEST(mqtt_3_9_3_suback_refusal_drops_the_handler) {
    mqttc_client c;
    mem_link l;
    mqttc_options o;
    unsigned short id = 0;
    unsigned char code = MQTTC_RC_NOT_AUTHORIZED;
    memset(&l, 0, sizeof l);
    options5(&o);
    connect5(&c, &l, &o, NULL, 0);
    CHECK_RC(mqttc_subscribe(&c, "secret", 1, on_suback, on_handler, (void *)1, &id), MQTTC_OK);
    feed_codes(&l, MQTTC_SUBACK, id, &code, 1);
    step_until_quiet(&c, &l, 0);
    CHECK_EQ_INT(S.last_suback_code, 0x87);
    feed_publish(&l, "secret", 0, 0, NULL, 0);
    step_until_quiet(&c, &l, 0);
    CHECK_EQ_INT(S.by_handler[1], 0);
    CHECK_EQ_INT(S.messages, 1); /* the global handler takes it */
    done(&c, &l);
}

TEST(mqtt_3_11_3_unsuback_codes) {
    mqttc_client c;
    mem_link l;
    mqttc_options o;
    unsigned short id = 0;
    const char *filters[2] = {"a", "b"};
    unsigned char codes[2] = {0x00, MQTTC_RC_NO_SUBSCRIPTION_EXISTED};
    memset(&l, 0, sizeof l);
    options5(&o);
    connect5(&c, &l, &o, NULL, 0);
    CHECK_RC(mqttc_unsubscribe_many(&c, filters, 2, on_unsuback, NULL, &id), MQTTC_OK);
    feed_codes(&l, MQTTC_UNSUBACK, id, codes, 2);
    step_until_quiet(&c, &l, 0);
    CHECK_EQ_INT(S.unsubacks, 1);
    CHECK_EQ_INT((int)S.last_unsuback_count, 2);
    CHECK_RC(mqttc_unsubscribe_many(&c, filters, 2, on_unsuback, NULL, &id), MQTTC_OK);
    feed_codes(&l, MQTTC_UNSUBACK, id, codes, 1); /* one code for two filters [MQTT-3.11.3-1] */
    step_until_quiet(&c, &l, 0);
    CHECK_RC(mqttc_error(&c), MQTTC_ERR_PROTOCOL);
    CHECK_EQ_INT(sent_disconnect_reason(&l), 0x82);
    done(&c, &l);
}

/* ---- subscription identifiers ---- */

static uint32_t sent_sub_id(mem_link *l, size_t *pos) {
    mqttc_packet p;
    return sent_type(l, pos, MQTTC_SUBSCRIBE, &p) ? prop_value(&p.subscribe.props, MQTTC_PROP_SUBSCRIPTION_ID) : 0;
}

/* Overlapping filters each with a handler: the message's identifiers pick the handlers
   exactly [MQTT-3.3.4-3]; a message without one goes to on_message. */
TEST(mqtt_3_3_4_3_subscription_identifiers_dispatch_exactly) {
    mqttc_client c;
    mem_link l;
    mqttc_options o;
    size_t pos = 0;
    memset(&l, 0, sizeof l);
    options5(&o);
    connect5(&c, &l, &o, NULL, 0);
    CHECK_RC(mqttc_subscribe(&c, "a/#", 1, NULL, on_handler, (void *)1, NULL), MQTTC_OK);
    CHECK_RC(mqttc_subscribe(&c, "a/+", 1, NULL, on_handler, (void *)2, NULL), MQTTC_OK);
    CHECK_RC(mqttc_subscribe(&c, "a/b", 1, NULL, NULL, NULL, NULL), MQTTC_OK); /* no handler: no id */
    CHECK_EQ_INT((int)sent_sub_id(&l, &pos), 1);
    CHECK_EQ_INT((int)sent_sub_id(&l, &pos), 2);
    CHECK_EQ_INT((int)sent_sub_id(&l, &pos), -1);
    /* without a handler the application may name its own; with one it may not */
    mqttc_subscribe_info si;
    const char *own_filter = "own/#";
    unsigned char own_qos = 0;
    mqttc_prop own = mqttc_prop_int(MQTTC_PROP_SUBSCRIPTION_ID, 77);
    memset(&si, 0, sizeof si);
    si.filters = &own_filter;
    si.options = &own_qos;
    si.count = 1;
    si.props = list_of(&own, 1);
    CHECK_RC(mqttc_subscribe_with(&c, &si, NULL, on_handler, (void *)3, NULL), MQTTC_ERR_ARG);
    CHECK_RC(mqttc_subscribe_with(&c, &si, NULL, NULL, NULL, NULL), MQTTC_OK);
    CHECK_EQ_INT((int)sent_sub_id(&l, &pos), 77);
    mqttc_prop ids[2];
    ids[0] = mqttc_prop_int(MQTTC_PROP_SUBSCRIPTION_ID, 2);
    ids[1] = mqttc_prop_int(MQTTC_PROP_SUBSCRIPTION_ID, 1);
    feed_publish(&l, "a/b", 0, 0, ids, 1); /* the copy for "a/+" only */
    step_until_quiet(&c, &l, 0);
    CHECK_EQ_INT(S.by_handler[1], 0);
    CHECK_EQ_INT(S.by_handler[2], 1);
    feed_publish(&l, "a/b", 0, 0, ids, 2); /* one copy for both */
    step_until_quiet(&c, &l, 0);
    CHECK_EQ_INT(S.by_handler[1], 1);
    CHECK_EQ_INT(S.by_handler[2], 2);
    feed_publish(&l, "a/b", 0, 0, NULL, 0); /* the copy for the plain "a/b" */
    step_until_quiet(&c, &l, 0);
    CHECK_EQ_INT(S.by_handler[1], 1);
    CHECK_EQ_INT(S.by_handler[2], 2);
    CHECK_EQ_INT(S.messages, 1);
    done(&c, &l);
}

/* The filters of one SUBSCRIBE share its identifier: their handler runs once. Without
   identifiers (the broker's CONNACK said so) filters are matched, $share/name/ removed. */
TEST(subscription_identifier_shared_and_unavailable) {
    mqttc_client c;
    mem_link l;
    mqttc_options o;
    const char *filters[2] = {"x/1", "x/+"};
    unsigned char qos[2] = {0, 0};
    mqttc_prop id1 = mqttc_prop_int(MQTTC_PROP_SUBSCRIPTION_ID, 1);
    size_t pos = 0;
    memset(&l, 0, sizeof l);
    options5(&o);
    connect5(&c, &l, &o, NULL, 0);
    CHECK_RC(mqttc_subscribe_many(&c, filters, qos, 2, NULL, on_handler, (void *)3, NULL), MQTTC_OK);
    feed_publish(&l, "x/1", 0, 0, &id1, 1);
    step_until_quiet(&c, &l, 0);
    CHECK_EQ_INT(S.by_handler[3], 1);
    done(&c, &l);

    mqttc_prop off = mqttc_prop_int(MQTTC_PROP_SUB_ID_AVAILABLE, 0);
    memset(&l, 0, sizeof l);
    connect5(&c, &l, &o, &off, 1);
    CHECK_RC(mqttc_subscribe(&c, "$share/g/y/#", 1, NULL, on_handler, (void *)1, NULL), MQTTC_OK);
    CHECK_EQ_INT((int)sent_sub_id(&l, &pos), -1);
    feed_publish(&l, "y/z", 0, 0, NULL, 0);
    step_until_quiet(&c, &l, 0);
    CHECK_EQ_INT(S.by_handler[1], 1);
    done(&c, &l);
}

TEST(mqtt_3_8_3_subscription_options) {
    mqttc_client c;
    mem_link l;
    mqttc_options o;
    mqttc_subscribe_info si;
    const char *filter = "opt/t";
    unsigned char opts = 1 | MQTTC_SUB_NO_LOCAL | MQTTC_SUB_RETAIN_AS_PUBLISHED | MQTTC_SUB_RETAIN_HANDLING(2);
    mqttc_packet p;
    size_t pos = 0;
    memset(&l, 0, sizeof l);
    options5(&o);
    connect5(&c, &l, &o, NULL, 0);
    memset(&si, 0, sizeof si);
    si.filters = &filter;
    si.options = &opts;
    si.count = 1;
    CHECK_RC(mqttc_subscribe_with(&c, &si, NULL, NULL, NULL, NULL), MQTTC_OK);
    CHECK(sent_type(&l, &pos, MQTTC_SUBSCRIBE, &p));
    mqttc_str f;
    int got = 0;
    size_t fp = 0;
    CHECK(mqttc_next_filter(&p.subscribe, &fp, &f, &got));
    CHECK_EQ_INT(got, 0x2D);
    opts = MQTTC_SUB_RETAIN_HANDLING(3); /* [MQTT-3.8.3-5]: 3 is reserved */
    CHECK_RC(mqttc_subscribe_with(&c, &si, NULL, NULL, NULL, NULL), MQTTC_ERR_ARG);
    filter = "$share/g/t";
    opts = MQTTC_SUB_NO_LOCAL; /* never on a shared subscription [MQTT-3.8.3-4] */
    CHECK_RC(mqttc_subscribe_with(&c, &si, NULL, NULL, NULL, NULL), MQTTC_ERR_ARG);
    filter = "$share//t"; /* an empty share name [MQTT-4.8.2-1] */
    opts = 0;
    CHECK_RC(mqttc_subscribe_with(&c, &si, NULL, NULL, NULL, NULL), MQTTC_ERR_ARG);
    done(&c, &l);
}

/* ---- our DISCONNECT with a reason ---- */

TEST(mqtt_3_14_disconnect_with_reason_after_the_drain) {
    mqttc_client c;
    mem_link l;
    mqttc_options o;
    mqttc_disconnect_info di;
    mqttc_prop up = mqttc_prop_user("bye", "now");
    unsigned short id = 0;
    memset(&l, 0, sizeof l);
    options5(&o);
    connect5(&c, &l, &o, NULL, 0);
    CHECK_RC(mqttc_publish(&c, "a", "x", 1, 1, 0, &id), MQTTC_OK);
    memset(&di, 0, sizeof di);
    di.reason_code = MQTTC_RC_DISCONNECT_WITH_WILL;
    di.props = list_of(&up, 1);
    CHECK_RC(mqttc_disconnect_with(&c, &di), MQTTC_OK);
    CHECK_EQ_INT(mqttc_state(&c), MQTTC_STATE_DRAINING);
    CHECK_EQ_INT(sent_disconnect_reason(&l), -1);
    feed_ack(&l, MQTTC_PUBACK, id, 0, NULL, 0);
    step_until_quiet(&c, &l, 1);
    CHECK_RC(mqttc_error(&c), MQTTC_ERR_DISCONNECT);
    CHECK_EQ_INT(sent_disconnect_reason(&l), 0x04);
    done(&c, &l);

    mqttc_prop se = mqttc_prop_int(MQTTC_PROP_SESSION_EXPIRY, 30); /* CONNECT said 0 */
    memset(&l, 0, sizeof l);
    connect5(&c, &l, &o, NULL, 0);
    di.reason_code = 0;
    di.props = list_of(&se, 1);
    CHECK_RC(mqttc_disconnect_with(&c, &di), MQTTC_ERR_ARG);
    CHECK_EQ_INT(mqttc_state(&c), MQTTC_STATE_CONNECTED);
    done(&c, &l);
}

/* ---- enhanced authentication [MQTT-4.12] ---- */

static void auth_options(mqttc_options *o, mqttc_prop *method) {
    options5(o);
    *method = mqttc_prop_str(MQTTC_PROP_AUTH_METHOD, "SCRAM-TEST");
    o->connect_props = list_of(method, 1);
    o->on_auth = on_auth;
}

TEST(mqtt_4_12_0_3_auth_continue_then_connack) {
    mqttc_client c;
    mem_link l;
    mqttc_options o;
    mqttc_prop method;
    mqttc_packet p;
    size_t pos = 0;
    mqttc_transport t = mem_transport(&l);
    memset(&l, 0, sizeof l);
    memset(&S, 0, sizeof S);
    auth_refuse = 0;
    auth_options(&o, &method);
    CHECK_RC(mqttc_init(&c, &o), MQTTC_OK);
    CHECK_RC(mqttc_start_transport(&c, &t, 0), MQTTC_OK);
    feed_auth(&l, MQTTC_RC_CONTINUE_AUTH, "SCRAM-TEST", "challenge-1");
    step_until_quiet(&c, &l, 0);
    CHECK_EQ_INT(S.auths, 1);
    CHECK(strcmp(S.auth_data_in, "challenge-1") == 0);
    CHECK(sent_type(&l, &pos, MQTTC_AUTH, &p));
    CHECK_EQ_INT(p.auth.reason_code, 0x18);
    mqttc_prop got;
    CHECK(mqttc_props_get(&p.auth.props, MQTTC_PROP_AUTH_METHOD, &got) && got.str.len == 10); /* [MQTT-4.12.0-5] */
    CHECK(mqttc_props_get(&p.auth.props, MQTTC_PROP_AUTH_DATA, &got) && got.str.len == 8);
    feed_connack(&l, 0, 0, &method, 1);
    step_until_quiet(&c, &l, 0);
    CHECK_EQ_INT(mqttc_state(&c), MQTTC_STATE_CONNECTED);
    /* re-authentication: AUTH 0x19 with our method [MQTT-4.12.1-1], then the broker's 0x18, 0x00 */
    CHECK_RC(mqttc_reauthenticate(&c, "again", 5), MQTTC_OK);
    CHECK(sent_type(&l, &pos, MQTTC_AUTH, &p));
    CHECK_EQ_INT(p.auth.reason_code, 0x19);
    feed_auth(&l, MQTTC_RC_CONTINUE_AUTH, "SCRAM-TEST", "challenge-2");
    feed_auth(&l, 0, "SCRAM-TEST", NULL);
    step_until_quiet(&c, &l, 0);
    CHECK_EQ_INT(S.auths, 2);
    CHECK_EQ_INT(mqttc_state(&c), MQTTC_STATE_CONNECTED);
    done(&c, &l);
}

TEST(mqtt_4_12_auth_failures) {
    mqttc_client c;
    mem_link l;
    mqttc_options o;
    mqttc_prop method;
    mqttc_transport t;
    /* on_auth gives up: DISCONNECT 0x87 and "auth" */
    memset(&l, 0, sizeof l);
    t = mem_transport(&l);
    auth_refuse = 1;
    auth_options(&o, &method);
    CHECK_RC(mqttc_init(&c, &o), MQTTC_OK);
    CHECK_RC(mqttc_start_transport(&c, &t, 0), MQTTC_OK);
    feed_auth(&l, MQTTC_RC_CONTINUE_AUTH, "SCRAM-TEST", "x");
    step_until_quiet(&c, &l, 0);
    CHECK_RC(mqttc_error(&c), MQTTC_ERR_AUTH);
    CHECK_EQ_INT(sent_disconnect_reason(&l), 0x87);
    done(&c, &l);
    auth_refuse = 0;
    /* another method [MQTT-4.12.0-5] */
    memset(&l, 0, sizeof l);
    t = mem_transport(&l);
    CHECK_RC(mqttc_init(&c, &o), MQTTC_OK);
    CHECK_RC(mqttc_start_transport(&c, &t, 0), MQTTC_OK);
    feed_auth(&l, MQTTC_RC_CONTINUE_AUTH, "OTHER", "x");
    step_until_quiet(&c, &l, 0);
    CHECK_RC(mqttc_error(&c), MQTTC_ERR_PROTOCOL);
    CHECK_EQ_INT(sent_disconnect_reason(&l), 0x82);
    done(&c, &l);
    /* AUTH when we named no method [MQTT-4.12.0-6/7] */
    options5(&o);
    memset(&l, 0, sizeof l);
    connect5(&c, &l, &o, NULL, 0);
    CHECK_RC(mqttc_reauthenticate(&c, "x", 1), MQTTC_ERR_STATE);
    feed_auth(&l, MQTTC_RC_CONTINUE_AUTH, "SCRAM-TEST", "x");
    step_until_quiet(&c, &l, 0);
    CHECK_RC(mqttc_error(&c), MQTTC_ERR_PROTOCOL);
    CHECK_EQ_INT(sent_disconnect_reason(&l), 0x82);
    done(&c, &l);
}

/* ---- interleavings: everything at once, and every byte apart ---- */

/* A CONNACK with properties, aliased and identified messages and acks in one read, then
   the same split at every byte: the same outcome. */
static void interleaved(size_t chunk, int *messages, int *handler) {
    mqttc_client c;
    mem_link l;
    mqttc_options o;
    mqttc_prop lim[2], alias = mqttc_prop_int(MQTTC_PROP_TOPIC_ALIAS, 1), id1 = mqttc_prop_int(MQTTC_PROP_SUBSCRIPTION_ID, 1);
    mqttc_prop both[2];
    mqttc_transport t = mem_transport(&l);
    lim[0] = mqttc_prop_int(MQTTC_PROP_RECEIVE_MAX, 4);
    lim[1] = mqttc_prop_str(MQTTC_PROP_ASSIGNED_CLIENT_ID, "given");
    both[0] = alias;
    both[1] = id1;
    memset(&l, 0, sizeof l);
    memset(&S, 0, sizeof S);
    options5(&o);
    o.topic_alias_in = 4;
    o.no_clean_session = 1;
    o.session_expiry_s = 100;
    CHECK_RC(mqttc_init(&c, &o), MQTTC_OK);
    CHECK_RC(mqttc_subscribe(&c, "s/#", 1, NULL, on_handler, (void *)1, NULL), MQTTC_ERR_STATE);
    CHECK_RC(mqttc_start_transport(&c, &t, 0), MQTTC_OK);
    l.read_chunk = chunk;
    feed_connack(&l, 1, 0, lim, 2);
    feed_publish(&l, "s/one", 1, 5, both, 2);
    feed_publish(&l, "", 2, 6, both, 2);
    feed_publish(&l, "", 0, 0, &alias, 1);
    for (int i = 0; i < 1000 && mqttc_state(&c) == MQTTC_STATE_CONNACK_WAIT; i++) mqttc_step(&c, 0);
    CHECK_EQ_INT(mqttc_state(&c), MQTTC_STATE_CONNECTED);
    CHECK_EQ_INT(S.messages, 0); /* nothing before the caller sees CONNECTED */
    CHECK_RC(mqttc_subscribe(&c, "s/#", 1, NULL, on_handler, (void *)1, NULL), MQTTC_OK); /* gets id 1 */
    step_until_quiet(&c, &l, 0);
    CHECK_EQ_INT(mqttc_state(&c), MQTTC_STATE_CONNECTED);
    CHECK(strcmp(mqttc_client_id(&c), "given") == 0);
    CHECK(strcmp(S.last_topic, "s/one") == 0);
    *messages = S.messages;
    *handler = S.by_handler[1];
    done(&c, &l);
}

TEST(interleavings_split_at_every_byte) {
    int whole_m = -1, whole_h = -1;
    interleaved(0, &whole_m, &whole_h);
    CHECK_EQ_INT(whole_h, 2); /* the two with subscription id 1 */
    CHECK_EQ_INT(whole_m, 1); /* the one without */
    for (size_t chunk = 1; chunk <= 7; chunk++) {
        int m = -1, h = -1;
        interleaved(chunk, &m, &h);
        CHECK_EQ_INT(m, whole_m);
        CHECK_EQ_INT(h, whole_h);
    }
}

/* No allocation per message once warm, with properties both ways and aliases. */
TEST(no_allocation_per_message) {
    mqttc_client c;
    mem_link l;
    mqttc_options o;
    mqttc_prop up = mqttc_prop_user("k", "v"), max = mqttc_prop_int(MQTTC_PROP_TOPIC_ALIAS_MAX, 4);
    mqttc_prop alias = mqttc_prop_int(MQTTC_PROP_TOPIC_ALIAS, 1);
    mqttc_publish_info pi;
    memset(&l, 0, sizeof l);
    options5(&o);
    o.topic_alias_out = 4;
    o.topic_alias_in = 4;
    connect5(&c, &l, &o, &max, 1);
    memset(&pi, 0, sizeof pi);
    pi.topic = "hot/topic";
    pi.topic_len = 9;
    pi.payload = "x";
    pi.payload_len = 1;
    pi.qos = 1;
    pi.props = list_of(&up, 1);
    long before = 0;
    for (int round = 0; round < 200; round++) {
        unsigned short id = 0;
        if (round == 100) before = allocations;
        pi.props = round % 2 ? list_of(&up, 1) : list_of(NULL, 0);
        CHECK_RC(mqttc_publish_with(&c, &pi, &id), MQTTC_OK);
        feed_ack(&l, MQTTC_PUBACK, id, 0, NULL, 0);
        feed_publish(&l, round ? "" : "in/topic", 1, (unsigned short)(round + 1), &alias, 1);
        step_until_quiet(&c, &l, 0);
        l.out_len = 0;
    }
    CHECK_EQ_INT((int)(allocations - before), 0);
    CHECK_EQ_INT(S.messages, 200);
    done(&c, &l);
}

/* options.mem: the same MQTT 5 work without any allocation. */
TEST(caller_memory) {
    static unsigned char mem[16384];
    mqttc_client c;
    mem_link l;
    mqttc_options o;
    mqttc_prop alias = mqttc_prop_int(MQTTC_PROP_TOPIC_ALIAS, 2);
    memset(&l, 0, sizeof l);
    options5(&o);
    o.mem = mem;
    o.mem_size = sizeof mem;
    o.topic_alias_in = 2;
    long before = allocations;
    connect5(&c, &l, &o, NULL, 0);
    feed_publish(&l, "m/t", 0, 0, &alias, 1);
    feed_publish(&l, "", 0, 0, &alias, 1);
    step_until_quiet(&c, &l, 0);
    CHECK_EQ_INT(S.messages, 2);
    CHECK_EQ_INT((int)(allocations - before), 0);
    done(&c, &l);
}

int main(void) {
    RUN(mqtt_3_1_2_connect_properties);
    RUN(mqtt_3_1_2_connect_defaults);
    RUN(options_rules);
    RUN(mqtt_3_1_2_2_a_311_broker_refuses_version_5);
    RUN(mqtt_3_2_2_refusal_with_reason_string);
    RUN(mqtt_3_3_4_7_receive_maximum);
    RUN(mqtt_3_3_4_7_receive_maximum_after_a_reconnect);
    RUN(mqtt_3_2_2_15_maximum_packet_size);
    RUN(mqtt_3_2_2_11_14_maximum_qos_and_retain);
    RUN(mqtt_3_2_2_21_server_keep_alive);
    RUN(mqtt_3_2_2_assigned_client_identifier);
    RUN(mqtt_3_14_server_disconnect_reported);
    RUN(mqtt_3_3_2_10_incoming_aliases_resolved);
    RUN(mqtt_3_3_2_alias_above_maximum_is_0x94);
    RUN(mqtt_3_3_2_unknown_alias_is_0x82);
    RUN(mqtt_3_3_2_alias_without_maximum_is_0x94);
    RUN(mqtt_3_3_2_8_alias_zero_is_0x94);
    RUN(receive_maximum_exceeded_is_0x93);
    RUN(packet_too_large_is_0x95);
    RUN(mqtt_2_2_2_bad_properties_from_the_broker);
    RUN(mqtt_3_3_2_8_9_outgoing_aliases);
    RUN(mqtt_3_3_2_7_resend_has_the_whole_topic);
    RUN(mqtt_3_3_4_6_no_alias_or_subscription_id_from_the_application);
    RUN(publish_properties_travel);
    RUN(mqtt_3_4_2_puback_reason_and_string);
    RUN(mqtt_4_3_3_4_pubrec_refusal_ends_the_flow);
    RUN(mqtt_3_4_2_1_short_forms_and_unknown_pubrel);
    RUN(mqtt_3_9_3_suback_refusal_drops_the_handler);
    RUN(mqtt_3_11_3_unsuback_codes);
    RUN(mqtt_3_3_4_3_subscription_identifiers_dispatch_exactly);
    RUN(subscription_identifier_shared_and_unavailable);
    RUN(mqtt_3_8_3_subscription_options);
    RUN(mqtt_3_14_disconnect_with_reason_after_the_drain);
    RUN(mqtt_4_12_0_3_auth_continue_then_connack);
    RUN(mqtt_4_12_auth_failures);
    RUN(interleavings_split_at_every_byte);
    RUN(will_props_set_between_connections);
    RUN(no_allocation_per_message);
    RUN(caller_memory);
    return test_report();
}
