/* The small build (MQTTC_NO_MQTT5, top comment section 1): the codec speaks 3.1.1 only.
   Version 5 is the caller's error (MQTTC_ERR_ARG) in the decoder and in every encoder, AUTH
   included, while 3.1.1 works as before: the same byte vectors as tests/test_codec5.c and
   tests/test_codec.c. */
#define _POSIX_C_SOURCE 200809L
#define MQTTC_NO_MQTT5
#define MQTTC_IMPLEMENTATION
#include "mqttc.h"
#include "test.h"

#ifdef MQTTC_PROTOCOL_5
static const int v5 = MQTTC_PROTOCOL_5;
#else
static const int v5 = 5;
#endif

static mqttc_str S(const char *s) {
    mqttc_str r;
    r.ptr = s;
    r.len = s ? strlen(s) : 0;
    return r;
}

/* Packets of MQTT 5 (from tests/test_codec5.c) and of 3.1.1, each complete. */
static const unsigned char connack5[] = {0x20, 0x03, 0x00, 0x00, 0x00};
static const unsigned char puback5[] = {0x40, 0x03, 0x00, 0x07, 0x10};
static const unsigned char disconnect5[] = {0xE0, 0x01, 0x04};
static const unsigned char auth5[] = {0xF0, 0x00};
static const unsigned char pingresp[] = {0xD0, 0x00};
static const unsigned char connack311[] = {0x20, 0x02, 0x01, 0x00};

/* mqttc_decode: version 5 is not spoken, whatever the packet (even one 3.1.1 has too). */
TEST(decode_refuses_version_5) {
    static const struct { const unsigned char *b; size_t n; } v[] = {
        {connack5, sizeof connack5}, {puback5, sizeof puback5}, {disconnect5, sizeof disconnect5},
        {auth5, sizeof auth5}, {pingresp, sizeof pingresp}, {connack311, sizeof connack311},
    };
    for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
        mqttc_packet p;
        size_t used = 99;
        CHECK_EQ_INT(mqttc_decode(v[i].b, v[i].n, 0, v5, &p, &used), MQTTC_ERR_ARG);
        CHECK_EQ_INT(used, 0);
        CHECK_EQ_INT(mqttc_decode(v[i].b, 0, 0, v5, &p, &used), MQTTC_ERR_ARG); /* before "more" */
    }
}

/* Every encoder refuses version 5, with arguments it takes as 3.1.1. */
TEST(encoders_refuse_version_5) {
    static const char *const filters[] = {"a/b"};
    static const unsigned char zero[1] = {0};
    unsigned char buf[64];
    size_t n;
    mqttc_connect_info ci;
    mqttc_connack_info ca;
    mqttc_publish_info pi;
    mqttc_ack_info ai;
    mqttc_subscribe_info si;
    mqttc_suback_info sa;
    mqttc_disconnect_info di;
    mqttc_auth_info au;
    memset(&ci, 0, sizeof ci);
    ci.client_id = S("c");
    ci.clean_session = 1;
    memset(&ca, 0, sizeof ca);
    memset(&pi, 0, sizeof pi);
    pi.topic = "t";
    pi.topic_len = 1;
    memset(&ai, 0, sizeof ai);
    ai.type = MQTTC_PUBACK;
    ai.packet_id = 7;
    memset(&si, 0, sizeof si);
    si.packet_id = 1;
    si.filters = filters;
    si.options = zero;
    si.count = 1;
    memset(&sa, 0, sizeof sa);
    sa.packet_id = 1;
    sa.codes = zero;
    sa.count = 1;
    memset(&di, 0, sizeof di);
    memset(&au, 0, sizeof au);
    for (int pass = 0; pass < 2; pass++) {
        int v = pass ? v5 : MQTTC_PROTOCOL_311, want = pass ? MQTTC_ERR_ARG : MQTTC_OK;
        CHECK_EQ_INT(mqttc_encode_connect(buf, sizeof buf, v, &ci, &n), want);
        CHECK_EQ_INT(mqttc_encode_connack(buf, sizeof buf, v, &ca, &n), want);
        CHECK_EQ_INT(mqttc_encode_publish(buf, sizeof buf, v, &pi, &n), want);
        CHECK_EQ_INT(mqttc_encode_ack(buf, sizeof buf, v, &ai, &n), want);
        CHECK_EQ_INT(mqttc_encode_subscribe(buf, sizeof buf, v, &si, &n), want);
        CHECK_EQ_INT(mqttc_encode_unsubscribe(buf, sizeof buf, v, &si, &n), want);
        CHECK_EQ_INT(mqttc_encode_suback(buf, sizeof buf, v, &sa, &n), want);
        CHECK_EQ_INT(mqttc_encode_disconnect(buf, sizeof buf, v, &di, &n), want);
        CHECK_EQ_INT(mqttc_encode_auth(buf, sizeof buf, v, &au, &n), MQTTC_ERR_ARG); /* never */
    }
    /* the size query too: no size for a version not spoken */
    CHECK_EQ_INT(mqttc_encode_connect(NULL, 0, v5, &ci, &n), MQTTC_ERR_ARG);
    CHECK_EQ_INT(n, 0);
}

/* 3.1.1 is untouched: the same bytes both ways, and a level-5 CONNECT is not read as one. */
TEST(v311_still_works) {
    static const unsigned char connect311[] = {0x10, 0x0D, 0x00, 0x04, 'M', 'Q', 'T', 'T', 0x04, 0x02, 0x00, 0x3C,
                                               0x00, 0x01, 'c'};
    static const unsigned char connect5[] = {0x10, 0x0E, 0x00, 0x04, 'M', 'Q', 'T', 'T', 0x05, 0x02, 0x00, 0x3C,
                                             0x00, 0x00, 0x01, 'c'};
    mqttc_connect_info ci;
    unsigned char buf[32];
    size_t n, used;
    mqttc_packet p;
    memset(&ci, 0, sizeof ci);
    ci.client_id = S("c");
    ci.clean_session = 1;
    ci.keepalive_s = 60;
    CHECK_EQ_INT(mqttc_encode_connect(buf, sizeof buf, 0, &ci, &n), MQTTC_OK);
    CHECK(n == sizeof connect311 && memcmp(buf, connect311, n) == 0);
    CHECK_EQ_INT(mqttc_decode(connect311, sizeof connect311, 0, MQTTC_PROTOCOL_311, &p, &used), MQTTC_OK);
    CHECK(p.connect.protocol_level == 4 && p.connect.client_id.len == 1);
    CHECK_EQ_INT(mqttc_decode(connack311, sizeof connack311, 0, 0, &p, &used), MQTTC_OK);
    CHECK(p.connack.session_present == 1 && used == sizeof connack311);
    /* its properties would be read as the client id's length: not a packet this build takes */
    CHECK(mqttc_decode(connect5, sizeof connect5, 0, MQTTC_PROTOCOL_311, &p, &used) != MQTTC_OK);
    /* AUTH is a reserved type in 3.1.1 [MQTT-2.2.1] */
    CHECK_EQ_INT(mqttc_decode(auth5, sizeof auth5, 0, MQTTC_PROTOCOL_311, &p, &used), MQTTC_ERR_MALFORMED);
    /* reason names stay (they are the client's word for CONNACK codes too) */
    CHECK(strcmp(mqttc_reason_name(0x87), "notauthorized") == 0);
}

int main(void) {
    RUN(decode_refuses_version_5);
    RUN(encoders_refuse_version_5);
    RUN(v311_still_works);
    return test_report();
}
