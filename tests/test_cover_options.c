/* tests/test_cover_options.c - mqttc_init's checks of the options, one broken rule at a
   time: each is refused with MQTTC_ERR_ARG and mqttc_bad_arg names the field, and the same
   options without the fault are taken. Then the setters' rules, the defaults that clamp
   (seen through what the client does), and caller memory. In memory, no network. */
#define _POSIX_C_SOURCE 200809L
#include <stdlib.h>
#define MQTTC_IMPLEMENTATION
#include "mqttc.h"
#include "tests/test.h"


#define CHECK_REFUSED(o, want)                                                                           \
    do {                                                                                                 \
        const char *test__got = test_refused(&(o));                                                           \
        CHECK_MSG(strcmp(test__got, (want)) == 0, "refused as \"%s\", want \"%s\"", test__got, (want)); \
    } while (0)

static mqttc_options base(int v5) {
    mqttc_options o;
    memset(&o, 0, sizeof o);
    o.client_id = "cover-options";
    if (v5) o.protocol_version = MQTTC_PROTOCOL_5;
    return o;
}

static int store_put(void *ctx, const mqttc_stored *r) { (void)ctx; (void)r; return MQTTC_OK; }
static int store_remove(void *ctx, int in, unsigned short id) { (void)ctx; (void)in; (void)id; return MQTTC_OK; }
static int store_load(void *ctx, int (*each)(void *, const mqttc_stored *), void *arg) {
    (void)ctx; (void)each; (void)arg;
    return MQTTC_OK;
}
static int on_auth(mqttc_client *c, const mqttc_auth_info *in, mqttc_str *out, void *user) {
    (void)c; (void)in; (void)out; (void)user;
    return 1;
}

TEST(login_and_will_rules) {
    mqttc_options o = base(0);
    CHECK_REFUSED(o, "");
    o.password = "pw"; o.password_len = 2;
    CHECK_REFUSED(o, "options.password"); /* 3.1.1: no password without a user name */
    o.username = "u";
    CHECK_REFUSED(o, "");
    o.password_len = 70000;
    CHECK_REFUSED(o, "options.password_len");
    o.password = NULL; o.password_len = 3;
    CHECK_REFUSED(o, "options.password_len");
    o = base(0);
    o.username = "\xff";
    CHECK_REFUSED(o, "options.username");
    o = base(5);
    o.password = "pw"; o.password_len = 2;
    CHECK_REFUSED(o, ""); /* MQTT 5 allows a password alone */

    o = base(0);
    o.will_qos = 1;
    CHECK_REFUSED(o, "options.will_topic"); /* a will QoS without a will */
    o.will_qos = 0; o.will_retain = 1;
    CHECK_REFUSED(o, "options.will_topic");
    o.will_retain = 0; o.will_payload_len = 1;
    CHECK_REFUSED(o, "options.will_topic");
    o.will_payload_len = 0; o.will_topic = "a/#";
    CHECK_REFUSED(o, "options.will_topic"); /* a filter is not a topic */
    o.will_topic = "a/b"; o.will_payload_len = 5;
    CHECK_REFUSED(o, "options.will_payload");
    o.will_payload = "hello"; o.will_payload_len = 70000;
    CHECK_REFUSED(o, "options.will_payload");
    o.will_payload_len = 5; o.will_qos = 3;
    CHECK_REFUSED(o, "options.will_qos");
    o.will_qos = -1;
    CHECK_REFUSED(o, "options.will_qos");
    o.will_qos = 2;
    CHECK_REFUSED(o, "");
}

TEST(client_and_memory_rules) {
    mqttc_options o = base(0);
    o.keepalive_s = 65536;
    CHECK_REFUSED(o, "options.keepalive_s");
    o = base(0);
    o.client_id = "bad\xc3";
    CHECK_REFUSED(o, "options.client_id");
    o.client_id = "";
    o.no_clean_session = 1;
    CHECK_REFUSED(o, "options.no_clean_session"); /* [MQTT-3.1.3-7] */
    o.protocol_version = MQTTC_PROTOCOL_5;
    CHECK_REFUSED(o, ""); /* an MQTT 5 broker assigns one */
    static unsigned char mem[8192];
    o = base(0);
    o.mem = mem;
    o.mem_size = 4095;
    CHECK_REFUSED(o, "options.mem_size");
    o.mem_size = sizeof mem;
    CHECK_REFUSED(o, "");
    mqttc_store st;
    memset(&st, 0, sizeof st);
    st.put = store_put;
    st.load = store_load;
    o = base(0);
    o.store = &st;
    CHECK_REFUSED(o, "options.store"); /* no remove */
    st.remove = store_remove;
    st.put = NULL;
    CHECK_REFUSED(o, "options.store");
    st.put = store_put;
    st.load = NULL;
    CHECK_REFUSED(o, "options.store");
    st.load = store_load;
    o.client_id = "cover-store";
    CHECK_REFUSED(o, "");
}

TEST(transport_option_rules) {
    mqttc_options o = base(0);
    o.ws_path = "/mqtt";
    o.ws_headers = "X-A: b";
    CHECK_REFUSED(o, "options.ws_headers"); /* each line ends in CR LF */
    o.ws_headers = "\n";
    CHECK_REFUSED(o, "options.ws_headers");
    o.ws_headers = "X-A: b\r\n";
    CHECK_REFUSED(o, "");
    o.ws_path = "mqtt";
    CHECK_REFUSED(o, "options.ws_path");
    o.ws_path = "/mqtt#frag";
    CHECK_REFUSED(o, "options.ws_path");
    o = base(0);
    o.proxy = "ftp://127.0.0.1:21";
    CHECK_REFUSED(o, "options.proxy");
    o.proxy = "socks5h://127.0.0.1:1080";
    CHECK_REFUSED(o, "");
}

TEST(mqtt5_options_need_mqtt5) {
    mqttc_options o = base(0);
    o.protocol_version = 3;
    CHECK_REFUSED(o, "options.protocol_version");
    o.protocol_version = 6;
    CHECK_REFUSED(o, "options.protocol_version");
    o = base(0);
    o.session_expiry_s = 10;
    CHECK_REFUSED(o, "options.protocol_version");
    o = base(0);
    o.topic_alias_in = 4;
    CHECK_REFUSED(o, "options.protocol_version");
    o = base(0);
    o.topic_alias_out = 4;
    CHECK_REFUSED(o, "options.protocol_version");
    o = base(0);
    o.on_auth = on_auth;
    CHECK_REFUSED(o, "options.protocol_version");
    static const unsigned char expiry[] = {MQTTC_PROP_SESSION_EXPIRY, 0, 0, 0, 5};
    o = base(0);
    o.connect_props.ptr = expiry;
    o.connect_props.len = sizeof expiry;
    CHECK_REFUSED(o, "options.connect_props");
    mqttc_prop user = {MQTTC_PROP_USER, 0, {"k", 1}, {"v", 1}};
    o = base(0);
    o.connect_props.list = &user;
    o.connect_props.count = 1;
    CHECK_REFUSED(o, "options.connect_props");
    o = base(0);
    o.will_topic = "w";
    o.will_props.list = &user;
    o.will_props.count = 1;
    CHECK_REFUSED(o, "options.will_props");
    o.will_props.count = 0;
    o.will_props.ptr = expiry; /* (bytes, whatever they are) */
    o.will_props.len = 1;
    CHECK_REFUSED(o, "options.will_props");
}

TEST(mqtt5_properties_the_client_owns) {
    mqttc_options o = base(5);
    o.topic_alias_in = 65536;
    CHECK_REFUSED(o, "options.topic_alias_in");
    o = base(5);
    o.topic_alias_out = 65536;
    CHECK_REFUSED(o, "options.topic_alias_out");
    /* the fields set these: never in connect_props */
    int owned[] = {MQTTC_PROP_SESSION_EXPIRY, MQTTC_PROP_RECEIVE_MAX, MQTTC_PROP_MAX_PACKET_SIZE,
                   MQTTC_PROP_TOPIC_ALIAS_MAX};
    for (int i = 0; i < 4; i++) {
        mqttc_prop p = {owned[i], 10, {NULL, 0}, {NULL, 0}};
        o = base(5);
        o.connect_props.list = &p;
        o.connect_props.count = 1;
        CHECK_REFUSED(o, "options.connect_props");
    }
    mqttc_prop wrong_place = {MQTTC_PROP_MESSAGE_EXPIRY, 10, {NULL, 0}, {NULL, 0}}; /* a will's, not CONNECT's */
    o = base(5);
    o.connect_props.list = &wrong_place;
    o.connect_props.count = 1;
    CHECK_REFUSED(o, "options.connect_props");
    mqttc_prop user = {MQTTC_PROP_USER, 0, {"k", 1}, {"v", 1}};
    o.connect_props.list = &user;
    CHECK_REFUSED(o, "");
    /* will properties: not without a will; valid for a will; UTF-8 when they say so */
    o = base(5);
    o.will_props.list = &wrong_place;
    o.will_props.count = 1;
    CHECK_REFUSED(o, "options.will_props");
    o.will_topic = "w";
    CHECK_REFUSED(o, "");
    o.will_props.list = &user; /* (a will may carry user properties) */
    CHECK_REFUSED(o, "");
    mqttc_prop bad_will = {MQTTC_PROP_RECEIVE_MAX, 10, {NULL, 0}, {NULL, 0}};
    o.will_props.list = &bad_will;
    CHECK_REFUSED(o, "options.will_props");
    mqttc_prop utf8 = {MQTTC_PROP_PAYLOAD_FORMAT, 1, {NULL, 0}, {NULL, 0}};
    o.will_props.list = &utf8;
    o.will_payload = "\xff\xfe";
    o.will_payload_len = 2;
    CHECK_REFUSED(o, "options.will_payload"); /* it says UTF-8 */
    o.will_payload = "ok";
    CHECK_REFUSED(o, "");
    mqttc_prop binary = {MQTTC_PROP_PAYLOAD_FORMAT, 0, {NULL, 0}, {NULL, 0}};
    o.will_props.list = &binary;
    o.will_payload = "\xff\xfe";
    CHECK_REFUSED(o, "");
}

TEST(setters_keep_the_same_rules) {
    mqttc_client c;
    mqttc_options o = base(0);
    o.client_id = "";
    CHECK_RC(mqttc_init(&c, &o), MQTTC_OK);
    CHECK_RC(mqttc_set_clean_session(&c, 0), MQTTC_ERR_ARG); /* no id to keep a session by */
    CHECK(strcmp(mqttc_bad_arg(&c), "options.no_clean_session") == 0);
    CHECK_RC(mqttc_set_clean_session(&c, 1), MQTTC_OK);
    mqttc_prop user = {MQTTC_PROP_USER, 0, {"k", 1}, {"v", 1}};
    mqttc_props ps = {NULL, 0, &user, 1};
    CHECK_RC(mqttc_set_will_props(&c, &ps), MQTTC_ERR_ARG); /* 3.1.1 */
    CHECK(strcmp(mqttc_bad_arg(&c), "props") == 0);
    CHECK_RC(mqttc_set_will_props(&c, NULL), MQTTC_OK);
    CHECK_RC(mqttc_set_will(&c, NULL, NULL, 0, 1, 0), MQTTC_ERR_ARG);
    CHECK_RC(mqttc_set_login(&c, NULL, "pw", 2), MQTTC_ERR_ARG);
    CHECK(strcmp(mqttc_bad_arg(&c), "options.password") == 0);
    CHECK_RC(mqttc_set_keepalive(&c, 70000), MQTTC_ERR_ARG);
    mqttc_deinit(&c);
    o = base(5);
    CHECK_RC(mqttc_init(&c, &o), MQTTC_OK);
    CHECK_RC(mqttc_set_will_props(&c, &ps), MQTTC_OK);
    CHECK_RC(mqttc_set_clean_session(&c, 0), MQTTC_OK);
    mqttc_deinit(&c);
}

/* reconnect_max_ms below reconnect_min_ms is raised to it: the plan told to on_status lies
   in [min/2, min], never above. */
typedef struct plan {
    long retry_ms;
    int told;
} plan;
static void on_status(mqttc_client *c, const mqttc_status *s, void *user) {
    (void)c;
    if (s->event != MQTTC_EVENT_CONNECTED) {
        ((plan *)user)->retry_ms = s->retry_ms;
        ((plan *)user)->told++;
    }
}
static mem_link redial_link;
static int redial(mqttc_client *c, mqttc_transport *t, void *user) {
    (void)c;
    (void)user;
    *t = mem_transport(&redial_link);
    return MQTTC_OK;
}

TEST(reconnect_max_below_min_is_raised) {
    mem_link l;
    memset(&l, 0, sizeof l);
    memset(&redial_link, 0, sizeof redial_link);
    plan p = {0, 0};
    mqttc_options o = base(0);
    o.reconnect_min_ms = 1000;
    o.reconnect_max_ms = 10; /* below min */
    o.reconnect_transport = redial;
    o.on_status = on_status;
    o.user = &p;
    mqttc_client c;
    test_connect(&c, &l, &o);
    for (int round = 0; round < 3; round++) {
        mem_link *cur = round ? &redial_link : &l;
        cur->is_eof = 1;
        p.told = 0;
        (void)mqttc_step(&c, (uint64_t)round * 100000u);
        CHECK_EQ_INT(p.told, 1);
        CHECK_MSG(p.retry_ms >= 500 && p.retry_ms <= 1000, "retry in %ld ms", p.retry_ms);
        CHECK_EQ_INT(mqttc_state(&c), MQTTC_STATE_WAITING);
        mem_free(&redial_link);
        memset(&redial_link, 0, sizeof redial_link);
        mem_feed(&redial_link, TEST_CONNACK_OK, sizeof TEST_CONNACK_OK);
        for (int i = 0; i < 10 && mqttc_state(&c) != MQTTC_STATE_CONNECTED; i++)
            (void)mqttc_step(&c, (uint64_t)round * 100000u + 1001u);
        CHECK_EQ_INT(mqttc_state(&c), MQTTC_STATE_CONNECTED);
    }
    mqttc_deinit(&c);
    mem_free(&l);
    mem_free(&redial_link);
}

int main(void) {
    RUN(login_and_will_rules);
    RUN(client_and_memory_rules);
    RUN(transport_option_rules);
    RUN(mqtt5_options_need_mqtt5);
    RUN(mqtt5_properties_the_client_owns);
    RUN(setters_keep_the_same_rules);
    RUN(reconnect_max_below_min_is_raised);
    return test_report();
}
