/* Codec tests on byte vectors written from the MQTT 3.1.1 spec, not only round trips: the
   minibroker shares this codec, so a symmetric bug would hide from a round trip. */
#define _POSIX_C_SOURCE 200809L
#define MQTTC_IMPLEMENTATION
#include "mqttc.h"
#include "test.h"

static mqttc_str S(const char *s) { mqttc_str r = {s, s ? strlen(s) : 0}; return r; }

/* Decodes a whole buffer: returns the rc, with *p and *used. */
static int dec(const void *bytes, size_t n, mqttc_packet *p, size_t *used) {
    return mqttc_decode((const unsigned char *)bytes, n, 0, MQTTC_PROTOCOL_311, p, used);
}

/* The encoders' info structs, from the fields the byte vectors below are written from. */
static int enc_publish(unsigned char *buf, size_t cap, mqttc_str topic, const void *payload, size_t len, int qos,
                       int retain, int dup, unsigned short id, size_t *n) {
    mqttc_publish_info pi = {topic.ptr, topic.len, payload, len, qos, retain, dup, id, {NULL, 0, NULL, 0}};
    return mqttc_encode_publish(buf, cap, MQTTC_PROTOCOL_311, &pi, n);
}
static int enc_ack(unsigned char *buf, size_t cap, int type, unsigned short id, size_t *n) {
    mqttc_ack_info a;
    memset(&a, 0, sizeof a);
    a.type = type;
    a.packet_id = id;
    return mqttc_encode_ack(buf, cap, MQTTC_PROTOCOL_311, &a, n);
}
static int enc_filters(unsigned char *buf, size_t cap, int type, unsigned short id, const char *const *f,
                       const unsigned char *q, size_t count, size_t *n) {
    mqttc_subscribe_info si;
    memset(&si, 0, sizeof si);
    si.packet_id = id;
    si.filters = f;
    si.options = q;
    si.count = count;
    if (type == MQTTC_SUBSCRIBE) return mqttc_encode_subscribe(buf, cap, MQTTC_PROTOCOL_311, &si, n);
    return mqttc_encode_unsubscribe(buf, cap, MQTTC_PROTOCOL_311, &si, n);
}

/* §2.2.3 Table 2.4: remaining-length boundaries, encoded and decoded. */
TEST(remaining_length_boundaries) {
    static const struct { size_t value; unsigned char bytes[4]; size_t n; } v[] = {
        {0, {0x00}, 1},           {127, {0x7F}, 1},
        {128, {0x80, 0x01}, 2},   {16383, {0xFF, 0x7F}, 2},
        {16384, {0x80, 0x80, 0x01}, 3}, {2097151, {0xFF, 0xFF, 0x7F}, 3},
        {2097152, {0x80, 0x80, 0x80, 0x01}, 4}, {268435455, {0xFF, 0xFF, 0xFF, 0x7F}, 4},
    };
    for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
        unsigned char hdr[5] = {0x30};
        mqttc_packet p;
        size_t used;
        memcpy(hdr + 1, v[i].bytes, v[i].n);
        /* only the header is here: the decoder reports the full size and asks for more */
        int rc = mqttc_decode(hdr, 1 + v[i].n, 0, MQTTC_PROTOCOL_311, &p, &used);
        if (v[i].value == 0) {
            CHECK_EQ_INT(rc, MQTTC_ERR_MALFORMED); /* PUBLISH with no topic */
        } else {
            CHECK_EQ_INT(rc, MQTTC_MORE);
            CHECK_EQ_INT(used, 1 + v[i].n + v[i].value);
        }
        CHECK_EQ_INT(mqttc__varint_size(v[i].value), v[i].n);
        unsigned char out[4];
        CHECK_EQ_INT(mqttc__put_varint(out, v[i].value) - out, v[i].n);
        CHECK_MEM(out, v[i].bytes, v[i].n);
    }
    CHECK_EQ_INT(mqttc__varint_size(268435456u), 0); /* cannot be encoded */
}

TEST(remaining_length_rejects) {
    mqttc_packet p;
    size_t used;
    static const unsigned char five[] = {0x30, 0xFF, 0xFF, 0xFF, 0xFF, 0x01}; /* 268435456 */
    CHECK_EQ_INT(dec(five, sizeof five, &p, &used), MQTTC_ERR_MALFORMED);
    static const unsigned char overlong[] = {0xD0, 0x80, 0x00}; /* PINGRESP, 0 in two bytes */
    CHECK_EQ_INT(dec(overlong, sizeof overlong, &p, &used), MQTTC_ERR_MALFORMED);
    static const unsigned char big[] = {0x30, 0x80, 0x80, 0x01}; /* 16384 bytes */
    CHECK_EQ_INT(mqttc_decode(big, sizeof big, 1000, MQTTC_PROTOCOL_311, &p, &used), MQTTC_ERR_OVERFLOW);
    static const unsigned char partial[] = {0x30, 0x80};
    CHECK_EQ_INT(dec(partial, sizeof partial, &p, &used), MQTTC_MORE);
    CHECK_EQ_INT(used, 0);
    CHECK_EQ_INT(dec(partial, 0, &p, &used), MQTTC_MORE);
}

/* §3.1: the CONNECT example of the spec's figures, byte for byte. */
TEST(connect_encoding) {
    static const unsigned char want[] = {
        0x10, 0x25,                                     /* CONNECT, remaining 37 */
        0x00, 0x04, 'M', 'Q', 'T', 'T', 0x04,           /* protocol name and level */
        0xEE,                                           /* user, pass, will retain, qos 1, will, clean */
        0x00, 0x3C,                                     /* keepalive 60 */
        0x00, 0x02, 'i', 'd',                           /* client id */
        0x00, 0x03, 'w', '/', 't',                      /* will topic */
        0x00, 0x03, 'b', 'y', 'e',                      /* will message */
        0x00, 0x04, 'u', 's', 'e', 'r',                 /* user name */
        0x00, 0x05, 'p', 0x00, 's', 0xFF, 's',          /* binary password */
    };
    mqttc_connect_info ci;
    unsigned char buf[64];
    size_t n;
    memset(&ci, 0, sizeof ci);
    ci.client_id = S("id");
    ci.clean_session = 1;
    ci.keepalive_s = 60;
    ci.will_topic = S("w/t");
    ci.will_payload = S("bye");
    ci.will_qos = 1;
    ci.will_retain = 1;
    ci.username = S("user");
    ci.password.ptr = "p\0s\xffs";
    ci.password.len = 5;
    CHECK_EQ_INT(mqttc_encode_connect(buf, sizeof buf, MQTTC_PROTOCOL_311, &ci, &n), MQTTC_OK);
    CHECK_EQ_INT(n, sizeof want);
    CHECK_MEM(buf, want, sizeof want);
    /* size first: too small a buffer says how much is needed */
    CHECK_EQ_INT(mqttc_encode_connect(buf, 10, MQTTC_PROTOCOL_311, &ci, &n), MQTTC_ERR_NOSPACE);
    CHECK_EQ_INT(n, sizeof want);
    /* and the decoder reads the same fields back */
    mqttc_packet p;
    size_t used;
    CHECK_EQ_INT(dec(want, sizeof want, &p, &used), MQTTC_OK);
    CHECK_EQ_INT(p.connect.protocol_level, 4);
    CHECK_EQ_INT(p.connect.keepalive_s, 60);
    CHECK_EQ_INT(p.connect.will_qos, 1);
    CHECK_EQ_INT(p.connect.password.len, 5);
    CHECK(p.connect.password.ptr && memcmp(p.connect.password.ptr, "p\0s\xffs", 5) == 0);
}

TEST(connect_rules) {
    mqttc_connect_info ci;
    size_t n;
    unsigned char buf[64];
    memset(&ci, 0, sizeof ci);
    ci.client_id = S("");
    ci.clean_session = 0;
    CHECK_EQ_INT(mqttc_encode_connect(buf, sizeof buf, MQTTC_PROTOCOL_311, &ci, &n), MQTTC_ERR_ARG); /* [MQTT-3.1.3-7] */
    ci.clean_session = 1;
    CHECK_EQ_INT(mqttc_encode_connect(buf, sizeof buf, MQTTC_PROTOCOL_311, &ci, &n), MQTTC_OK);
    static const unsigned char minimal[] = {0x10, 0x0C, 0, 4, 'M', 'Q', 'T', 'T', 4, 0x02, 0, 0, 0, 0};
    CHECK_EQ_INT(n, sizeof minimal);
    CHECK_MEM(buf, minimal, sizeof minimal);
    ci.password = S("x"); /* password without user name [MQTT-3.1.2-22] */
    CHECK_EQ_INT(mqttc_encode_connect(buf, sizeof buf, MQTTC_PROTOCOL_311, &ci, &n), MQTTC_ERR_ARG);
    ci.password = S(NULL);
    ci.will_qos = 1; /* will QoS without a will [MQTT-3.1.2-13] */
    CHECK_EQ_INT(mqttc_encode_connect(buf, sizeof buf, MQTTC_PROTOCOL_311, &ci, &n), MQTTC_ERR_ARG);
    ci.will_qos = 0;
    ci.will_topic = S("a/+"); /* wildcard in the will topic */
    CHECK_EQ_INT(mqttc_encode_connect(buf, sizeof buf, MQTTC_PROTOCOL_311, &ci, &n), MQTTC_ERR_ARG);
    /* the decoder: reserved flag [MQTT-3.1.2-3], will QoS 3 [MQTT-3.1.2-14], password flag alone */
    unsigned char bad[sizeof minimal];
    mqttc_packet p;
    size_t used;
    memcpy(bad, minimal, sizeof bad);
    bad[9] = 0x03;
    CHECK_EQ_INT(dec(bad, sizeof bad, &p, &used), MQTTC_ERR_MALFORMED);
    bad[9] = 0x1E;
    CHECK_EQ_INT(dec(bad, sizeof bad, &p, &used), MQTTC_ERR_MALFORMED);
    bad[9] = 0x42;
    CHECK_EQ_INT(dec(bad, sizeof bad, &p, &used), MQTTC_ERR_MALFORMED);
    bad[9] = 0x02;
    bad[13] = 1; /* client id length points past the packet */
    CHECK_EQ_INT(dec(bad, sizeof bad, &p, &used), MQTTC_ERR_MALFORMED);
}

/* §3.2: CONNACK, return codes 0..5; reserved bits and codes rejected. */
TEST(connack) {
    unsigned char buf[4];
    size_t n, used;
    mqttc_packet p;
    mqttc_connack_info ca = {1, 0, {NULL, 0, NULL, 0}};
    CHECK_EQ_INT(mqttc_encode_connack(buf, sizeof buf, MQTTC_PROTOCOL_311, &ca, &n), MQTTC_OK);
    static const unsigned char want[] = {0x20, 0x02, 0x01, 0x00};
    CHECK_MEM(buf, want, 4);
    for (int rc = 0; rc <= 5; rc++) {
        unsigned char v[] = {0x20, 0x02, 0x00, (unsigned char)rc};
        CHECK_EQ_INT(dec(v, 4, &p, &used), MQTTC_OK);
        CHECK_EQ_INT(p.connack.reason_code, rc);
        CHECK_EQ_INT(used, 4);
    }
    static const unsigned char code6[] = {0x20, 0x02, 0x00, 0x06};
    static const unsigned char flags[] = {0x20, 0x02, 0x02, 0x00};
    static const unsigned char longer[] = {0x20, 0x03, 0x00, 0x00, 0x00};
    static const unsigned char hdrflag[] = {0x21, 0x02, 0x00, 0x00};
    CHECK_EQ_INT(dec(code6, 4, &p, &used), MQTTC_ERR_MALFORMED);
    CHECK_EQ_INT(dec(flags, 4, &p, &used), MQTTC_ERR_MALFORMED);
    CHECK_EQ_INT(dec(longer, 5, &p, &used), MQTTC_ERR_MALFORMED);
    CHECK_EQ_INT(dec(hdrflag, 4, &p, &used), MQTTC_ERR_MALFORMED); /* [MQTT-2.2.2-2] */
}

/* §3.3: PUBLISH with each QoS; DUP, RETAIN; id only with QoS > 0. */
TEST(publish_encoding) {
    unsigned char buf[32];
    size_t n, used;
    mqttc_packet p;
    CHECK_EQ_INT(enc_publish(buf, sizeof buf, S("a/b"), "hi", 2, 0, 1, 0, 0, &n), MQTTC_OK);
    static const unsigned char q0[] = {0x31, 0x07, 0x00, 0x03, 'a', '/', 'b', 'h', 'i'};
    CHECK_EQ_INT(n, sizeof q0);
    CHECK_MEM(buf, q0, sizeof q0);
    CHECK_EQ_INT(enc_publish(buf, sizeof buf, S("a/b"), "hi", 2, 2, 0, 1, 0x1234, &n), MQTTC_OK);
    static const unsigned char q2[] = {0x3C, 0x09, 0x00, 0x03, 'a', '/', 'b', 0x12, 0x34, 'h', 'i'};
    CHECK_EQ_INT(n, sizeof q2);
    CHECK_MEM(buf, q2, sizeof q2);
    CHECK_EQ_INT(dec(q2, sizeof q2, &p, &used), MQTTC_OK);
    CHECK_EQ_INT(p.publish.qos, 2);
    CHECK_EQ_INT(p.publish.dup, 1);
    CHECK_EQ_INT(p.publish.packet_id, 0x1234);
    CHECK_EQ_INT(p.publish.payload_len, 2);
    CHECK_EQ_INT(p.publish.topic_len, 3);
    /* empty payload is fine */
    CHECK_EQ_INT(enc_publish(buf, sizeof buf, S("t"), NULL, 0, 1, 0, 0, 7, &n), MQTTC_OK);
    CHECK_EQ_INT(n, 7);
    CHECK_EQ_INT(enc_publish(buf, sizeof buf, S("t"), "x", 1, 1, 0, 0, 0, &n), MQTTC_ERR_ARG); /* id 0 */
    CHECK_EQ_INT(enc_publish(buf, sizeof buf, S("t"), "x", 1, 0, 0, 1, 0, &n), MQTTC_ERR_ARG); /* DUP on QoS 0 */
    CHECK_EQ_INT(enc_publish(buf, sizeof buf, S("t/#"), "x", 1, 0, 0, 0, 0, &n), MQTTC_ERR_ARG);
    CHECK_EQ_INT(enc_publish(buf, sizeof buf, S(""), "x", 1, 0, 0, 0, 0, &n), MQTTC_ERR_ARG);
}

TEST(publish_rejects) {
    mqttc_packet p;
    size_t used;
    static const unsigned char qos3[] = {0x36, 0x05, 0x00, 0x01, 't', 0x00, 0x01};
    static const unsigned char id0[] = {0x32, 0x05, 0x00, 0x01, 't', 0x00, 0x00};
    static const unsigned char topic_past[] = {0x30, 0x03, 0x00, 0x05, 't'};
    static const unsigned char nul_topic[] = {0x30, 0x04, 0x00, 0x02, 't', 0x00};
    static const unsigned char bad_utf8[] = {0x30, 0x04, 0x00, 0x02, 0xC3, 0x28};
    static const unsigned char surrogate[] = {0x30, 0x05, 0x00, 0x03, 0xED, 0xA0, 0x80};
    static const unsigned char wildcard[] = {0x30, 0x03, 0x00, 0x01, '#'};
    static const unsigned char dup_q0[] = {0x38, 0x03, 0x00, 0x01, 't'};
    static const unsigned char no_id[] = {0x32, 0x04, 0x00, 0x01, 't', 0x00};
    CHECK_EQ_INT(dec(qos3, sizeof qos3, &p, &used), MQTTC_ERR_MALFORMED);       /* [MQTT-3.3.1-4] */
    CHECK_EQ_INT(dec(id0, sizeof id0, &p, &used), MQTTC_ERR_MALFORMED);         /* [MQTT-2.3.1-1] */
    CHECK_EQ_INT(dec(topic_past, sizeof topic_past, &p, &used), MQTTC_ERR_MALFORMED);
    CHECK_EQ_INT(dec(nul_topic, sizeof nul_topic, &p, &used), MQTTC_ERR_MALFORMED); /* [MQTT-1.5.3-2] */
    CHECK_EQ_INT(dec(bad_utf8, sizeof bad_utf8, &p, &used), MQTTC_ERR_MALFORMED);   /* [MQTT-1.5.3-1] */
    CHECK_EQ_INT(dec(surrogate, sizeof surrogate, &p, &used), MQTTC_ERR_MALFORMED);
    CHECK_EQ_INT(dec(wildcard, sizeof wildcard, &p, &used), MQTTC_ERR_MALFORMED);   /* [MQTT-3.3.2-2] */
    CHECK_EQ_INT(dec(dup_q0, sizeof dup_q0, &p, &used), MQTTC_ERR_MALFORMED);       /* [MQTT-3.3.1-2] */
    CHECK_EQ_INT(dec(no_id, sizeof no_id, &p, &used), MQTTC_ERR_MALFORMED);
}

/* §3.4-3.7, 3.11: acks are exactly four bytes; PUBREL carries flags 0010 [MQTT-3.6.1-1]. */
TEST(acks) {
    static const struct { int type; unsigned char first; } v[] = {
        {MQTTC_PUBACK, 0x40}, {MQTTC_PUBREC, 0x50}, {MQTTC_PUBREL, 0x62}, {MQTTC_PUBCOMP, 0x70}, {MQTTC_UNSUBACK, 0xB0},
    };
    for (size_t i = 0; i < 5; i++) {
        unsigned char buf[4];
        size_t n, used;
        mqttc_packet p;
        CHECK_EQ_INT(enc_ack(buf, 4, v[i].type, 0xBEEF, &n), MQTTC_OK);
        unsigned char want[] = {v[i].first, 0x02, 0xBE, 0xEF};
        CHECK_MEM(buf, want, 4);
        CHECK_EQ_INT(dec(want, 4, &p, &used), MQTTC_OK);
        CHECK_EQ_INT(p.type, v[i].type);
        CHECK_EQ_INT(p.ack.packet_id, 0xBEEF);
        want[0] ^= 0x02; /* the wrong flags */
        CHECK_EQ_INT(dec(want, 4, &p, &used), MQTTC_ERR_MALFORMED);
        want[0] ^= 0x02;
        want[2] = want[3] = 0; /* id 0 */
        CHECK_EQ_INT(dec(want, 4, &p, &used), MQTTC_ERR_MALFORMED);
        CHECK_EQ_INT(enc_ack(buf, 4, v[i].type, 0, &n), MQTTC_ERR_ARG);
    }
    static const unsigned char short_ack[] = {0x40, 0x01, 0x01};
    mqttc_packet p;
    size_t used;
    CHECK_EQ_INT(dec(short_ack, 3, &p, &used), MQTTC_ERR_MALFORMED);
}

/* §3.8-3.10: SUBSCRIBE / SUBACK / UNSUBSCRIBE. */
TEST(subscribe_family) {
    unsigned char buf[64];
    size_t n, used, pos = 0;
    mqttc_packet p;
    const char *f[2] = {"a/+", "#"};
    unsigned char q[2] = {1, 2};
    CHECK_EQ_INT(enc_filters(buf, sizeof buf, MQTTC_SUBSCRIBE, 10, f, q, 2, &n), MQTTC_OK);
    static const unsigned char sub[] = {0x82, 0x0C, 0x00, 0x0A, 0x00, 0x03, 'a', '/', '+', 0x01, 0x00, 0x01, '#', 0x02};
    CHECK_EQ_INT(n, sizeof sub);
    CHECK_MEM(buf, sub, sizeof sub);
    CHECK_EQ_INT(dec(sub, sizeof sub, &p, &used), MQTTC_OK);
    CHECK_EQ_INT(p.subscribe.count, 2);
    CHECK_EQ_INT(p.subscribe.packet_id, 10);
    mqttc_str got;
    int qos;
    CHECK(mqttc_next_filter(&p.subscribe, &pos, &got, &qos));
    CHECK(got.len == 3 && memcmp(got.ptr, "a/+", 3) == 0 && qos == 1);
    CHECK(mqttc_next_filter(&p.subscribe, &pos, &got, &qos));
    CHECK(got.len == 1 && got.ptr[0] == '#' && qos == 2);
    CHECK(!mqttc_next_filter(&p.subscribe, &pos, &got, &qos));
    unsigned char badq[sizeof sub];
    memcpy(badq, sub, sizeof sub);
    badq[sizeof sub - 1] = 3; /* [MQTT-3-8.3-4] */
    CHECK_EQ_INT(dec(badq, sizeof badq, &p, &used), MQTTC_ERR_MALFORMED);
    static const unsigned char empty_sub[] = {0x82, 0x02, 0x00, 0x01}; /* [MQTT-3.8.3-3] */
    CHECK_EQ_INT(dec(empty_sub, sizeof empty_sub, &p, &used), MQTTC_ERR_MALFORMED);
    CHECK_EQ_INT(enc_filters(buf, sizeof buf, MQTTC_UNSUBSCRIBE, 11, f, NULL, 1, &n), MQTTC_OK);
    static const unsigned char unsub[] = {0xA2, 0x07, 0x00, 0x0B, 0x00, 0x03, 'a', '/', '+'};
    CHECK_MEM(buf, unsub, sizeof unsub);
    unsigned char codes[] = {0x00, 0x01, 0x02, 0x80};
    mqttc_suback_info sa = {12, codes, 4, {NULL, 0, NULL, 0}};
    CHECK_EQ_INT(mqttc_encode_suback(buf, sizeof buf, MQTTC_PROTOCOL_311, &sa, &n), MQTTC_OK);
    static const unsigned char suback[] = {0x90, 0x06, 0x00, 0x0C, 0x00, 0x01, 0x02, 0x80};
    CHECK_MEM(buf, suback, sizeof suback);
    CHECK_EQ_INT(dec(suback, sizeof suback, &p, &used), MQTTC_OK);
    CHECK_EQ_INT(p.suback.count, 4);
    CHECK_EQ_INT(p.suback.packet_id, 12);
    CHECK_MEM(p.suback.codes, codes, 4);
    static const unsigned char bad_code[] = {0x90, 0x03, 0x00, 0x0C, 0x03}; /* [MQTT-3.9.3-2] */
    CHECK_EQ_INT(dec(bad_code, sizeof bad_code, &p, &used), MQTTC_ERR_MALFORMED);
    static const unsigned char no_code[] = {0x90, 0x02, 0x00, 0x0C};
    CHECK_EQ_INT(dec(no_code, sizeof no_code, &p, &used), MQTTC_ERR_MALFORMED);
    const char *badf = "a/#/b";
    CHECK_EQ_INT(enc_filters(buf, sizeof buf, MQTTC_SUBSCRIBE, 1, &badf, q, 1, &n), MQTTC_ERR_ARG);
    CHECK_EQ_INT(enc_filters(buf, sizeof buf, MQTTC_SUBSCRIBE, 1, f, NULL, 1, &n), MQTTC_ERR_ARG); /* no QoS */
}

TEST(empty_packets_and_reserved_types) {
    unsigned char buf[2];
    size_t n, used;
    mqttc_packet p;
    static const struct { int type; unsigned char first; } v[] = {
        {MQTTC_PINGREQ, 0xC0}, {MQTTC_PINGRESP, 0xD0}, {MQTTC_DISCONNECT, 0xE0}};
    for (int i = 0; i < 3; i++) {
        if (v[i].type == MQTTC_DISCONNECT) CHECK_EQ_INT(mqttc_encode_disconnect(buf, 2, MQTTC_PROTOCOL_311, NULL, &n), MQTTC_OK);
        else CHECK_EQ_INT(mqttc_encode_ping(buf, 2, v[i].type, &n), MQTTC_OK);
        CHECK(n == 2 && buf[0] == v[i].first && buf[1] == 0);
        CHECK_EQ_INT(dec(buf, 2, &p, &used), MQTTC_OK);
        CHECK_EQ_INT(p.type, v[i].type);
    }
    static const unsigned char t0[] = {0x00, 0x00}, t15[] = {0xF0, 0x00}, ping_body[] = {0xD0, 0x01, 0x00};
    CHECK_EQ_INT(dec(t0, 2, &p, &used), MQTTC_ERR_MALFORMED);
    CHECK_EQ_INT(dec(t15, 2, &p, &used), MQTTC_ERR_MALFORMED);
    CHECK_EQ_INT(dec(ping_body, 3, &p, &used), MQTTC_ERR_MALFORMED);
    CHECK_EQ_INT(mqttc_encode_ping(buf, 1, MQTTC_PINGREQ, &n), MQTTC_ERR_NOSPACE);
    CHECK_EQ_INT(n, 2);
}

/* Several packets back to back decode one at a time, each with its own size. */
TEST(stream_of_packets) {
    static const unsigned char s[] = {0xD0, 0x00, 0x40, 0x02, 0x00, 0x01, 0x30, 0x03, 0x00, 0x01, 'x'};
    size_t off = 0, used;
    int types[3], k = 0;
    mqttc_packet p;
    while (off < sizeof s && mqttc_decode(s + off, sizeof s - off, 0, MQTTC_PROTOCOL_311, &p, &used) == MQTTC_OK && k < 3) {
        types[k++] = p.type;
        off += used;
    }
    CHECK_EQ_INT(k, 3);
    CHECK(types[0] == MQTTC_PINGRESP && types[1] == MQTTC_PUBACK && types[2] == MQTTC_PUBLISH);
    CHECK_EQ_INT(off, sizeof s);
}

/* [MQTT-1.5.3]: UTF-8 rules. */
TEST(utf8) {
    CHECK_EQ_INT(mqttc_utf8_check("plain", 5), MQTTC_OK);
    CHECK_EQ_INT(mqttc_utf8_check("\xC3\xA9t\xC3\xA9", 5), MQTTC_OK);          /* été */
    CHECK_EQ_INT(mqttc_utf8_check("\xF0\x9F\x98\x80", 4), MQTTC_OK);          /* U+1F600 */
    CHECK_EQ_INT(mqttc_utf8_check("\xEF\xBB\xBF" "a", 4), MQTTC_OK);          /* BOM kept [MQTT-1.5.3-3] */
    CHECK_EQ_INT(mqttc_utf8_check("a\0b", 3), MQTTC_ERR_ARG);                 /* U+0000 */
    CHECK_EQ_INT(mqttc_utf8_check("\xC0\x80", 2), MQTTC_ERR_ARG);             /* overlong NUL */
    CHECK_EQ_INT(mqttc_utf8_check("\xE0\x80\xAF", 3), MQTTC_ERR_ARG);         /* overlong '/' */
    CHECK_EQ_INT(mqttc_utf8_check("\xED\xA0\x80", 3), MQTTC_ERR_ARG);         /* surrogate */
    CHECK_EQ_INT(mqttc_utf8_check("\xF4\x90\x80\x80", 4), MQTTC_ERR_ARG);     /* > U+10FFFF */
    CHECK_EQ_INT(mqttc_utf8_check("\xC3", 1), MQTTC_ERR_ARG);                 /* truncated */
    CHECK_EQ_INT(mqttc_utf8_check("\x80", 1), MQTTC_ERR_ARG);                 /* lone continuation */
    CHECK_EQ_INT(mqttc_utf8_check("\xFF", 1), MQTTC_ERR_ARG);
}

/* [MQTT-4.7]: topic names, filters and matching. */
TEST(topics_and_filters) {
    CHECK_EQ_INT(mqttc_topic_check("a/b", 3), MQTTC_OK);
    CHECK_EQ_INT(mqttc_topic_check("/", 1), MQTTC_OK);
    CHECK_EQ_INT(mqttc_topic_check("", 0), MQTTC_ERR_ARG);
    CHECK_EQ_INT(mqttc_topic_check("a/+", 3), MQTTC_ERR_ARG);
    CHECK_EQ_INT(mqttc_topic_check("a#", 2), MQTTC_ERR_ARG);
    static const char *good[] = {"#", "+", "a/#", "+/+", "/+", "a/+/b", "sport/tennis/#", "+/tennis/#", "$SYS/#"};
    static const char *bad[] = {"a#", "a/#/b", "a+", "a/b+", "+a", "##", "a/#/"};
    for (size_t i = 0; i < sizeof good / sizeof *good; i++) CHECK_EQ_INT(mqttc_filter_check(good[i], strlen(good[i])), MQTTC_OK);
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) CHECK_EQ_INT(mqttc_filter_check(bad[i], strlen(bad[i])), MQTTC_ERR_ARG);
    static const struct { const char *f, *t; int m; } v[] = {
        {"sport/tennis/player1/#", "sport/tennis/player1", 1},            /* §4.7.1.2 */
        {"sport/tennis/player1/#", "sport/tennis/player1/ranking", 1},
        {"sport/tennis/player1/#", "sport/tennis/player1/score/wimbledon", 1},
        {"sport/#", "sport", 1},
        {"#", "any/thing", 1},
        {"sport/tennis/+", "sport/tennis/player1", 1},                    /* §4.7.1.3 */
        {"sport/tennis/+", "sport/tennis/player1/ranking", 0},
        {"sport/+", "sport", 0},
        {"sport/+", "sport/", 1},
        {"+/+", "/finance", 1},
        {"/+", "/finance", 1},
        {"+", "/finance", 0},
        {"#", "$SYS/x", 0},                                                /* [MQTT-4.7.2-1] */
        {"+/monitor/Clients", "$SYS/monitor/Clients", 0},
        {"$SYS/#", "$SYS/monitor/Clients", 1},
        {"$SYS/monitor/+", "$SYS/monitor/Clients", 1},
        {"a/b", "a/b", 1},
        {"a/b", "a/bc", 0},
        {"a/b", "a", 0},
        {"a/+/c", "a//c", 1},
        {"ACCOUNTS", "Accounts", 0},                                       /* case sensitive */
    };
    for (size_t i = 0; i < sizeof v / sizeof *v; i++) {
        int m = mqttc_topic_matches(v[i].f, strlen(v[i].f), v[i].t, strlen(v[i].t));
        if (m != v[i].m) fprintf(stderr, "  match(%s, %s) = %d\n", v[i].f, v[i].t, m);
        CHECK_EQ_INT(m, v[i].m);
    }
}

TEST(error_names) {
    CHECK(strcmp(mqttc_errname(MQTTC_ERR_CLOSED), "closed") == 0);
    CHECK(strcmp(mqttc_errname(MQTTC_ERR_PINGRESP), "pingresp") == 0);
    CHECK(strcmp(mqttc_errname(MQTTC_ERR_PROTOCOL), "protocolerror") == 0);
    CHECK(strcmp(mqttc_errname(MQTTC_ERR_REFUSED), "refused") == 0); /* the reason: mqttc_reason_code */
    CHECK(strcmp(mqttc_errname(12345), "unknown") == 0);
    CHECK(strlen(mqttc_strerror(MQTTC_ERR_INVALIDRESP)) > 10);
    CHECK_EQ_INT(MQTTC_OK, 0);
}

/* The codec speaks 3.1.1 (0 or 4) until MQTT 5 lands: any other version is refused both
   ways, never half-spoken. A reason code needs MQTT 5 too. */
TEST(protocol_versions) {
    unsigned char buf[16];
    size_t n, used;
    mqttc_packet p;
    static const unsigned char ping[] = {0xD0, 0x00};
    CHECK_EQ_INT(mqttc_decode(ping, 2, 0, 0, &p, &used), MQTTC_OK);
    CHECK_EQ_INT(mqttc_decode(ping, 2, 0, 5, &p, &used), MQTTC_OK);      /* MQTT 5 */
    CHECK_EQ_INT(mqttc_decode(ping, 2, 0, 6, &p, &used), MQTTC_ERR_ARG); /* the caller's, not the peer's */
    CHECK_EQ_INT(mqttc_encode_ack(buf, sizeof buf, 4, NULL, &n), MQTTC_ERR_ARG);       /* no info: no crash */
    CHECK_EQ_INT(mqttc_encode_publish(buf, sizeof buf, 4, NULL, &n), MQTTC_ERR_ARG);
    CHECK_EQ_INT(mqttc_encode_connect(buf, sizeof buf, 4, NULL, &n), MQTTC_ERR_ARG);
    CHECK_EQ_INT(mqttc_encode_subscribe(buf, sizeof buf, 4, NULL, &n), MQTTC_ERR_ARG);
    CHECK_EQ_INT(mqttc_encode_connack(buf, sizeof buf, 4, NULL, &n), MQTTC_ERR_ARG);
    CHECK_EQ_INT(mqttc_encode_suback(buf, sizeof buf, 4, NULL, &n), MQTTC_ERR_ARG);
    CHECK_EQ_INT(mqttc_encode_disconnect(buf, sizeof buf, 6, NULL, &n), MQTTC_ERR_ARG);
    mqttc_disconnect_info di = {0x8E, {NULL, 0, NULL, 0}};
    CHECK_EQ_INT(mqttc_encode_disconnect(buf, sizeof buf, 4, &di, &n), MQTTC_ERR_ARG);
    mqttc_ack_info a = {MQTTC_PUBACK, 1, 0x10, {NULL, 0, NULL, 0}, NULL, 0};
    CHECK_EQ_INT(mqttc_encode_ack(buf, sizeof buf, 4, &a, &n), MQTTC_ERR_ARG);
    a.reason_code = 0;
    CHECK_EQ_INT(mqttc_encode_ack(buf, sizeof buf, 4, &a, &n), MQTTC_OK);
    CHECK_EQ_INT(mqttc_encode_ack(buf, sizeof buf, 3, &a, &n), MQTTC_ERR_ARG);
}

int main(void) {
    RUN(protocol_versions);
    RUN(remaining_length_boundaries);
    RUN(remaining_length_rejects);
    RUN(connect_encoding);
    RUN(connect_rules);
    RUN(connack);
    RUN(publish_encoding);
    RUN(publish_rejects);
    RUN(acks);
    RUN(subscribe_family);
    RUN(empty_packets_and_reserved_types);
    RUN(stream_of_packets);
    RUN(utf8);
    RUN(topics_and_filters);
    RUN(error_names);
    return test_report();
}
