/* MQTT 5 codec tests on byte vectors written by hand from OASIS MQTT Version 5.0 (2019), not
   only round trips: the minibroker shares this codec, so a symmetric bug would hide from a
   round trip. Every packet type in its MQTT 5 forms, every property (all 27 identifiers, each
   value type), the malformed property sets the decoder must refuse and the encoder must not
   write, the reason codes of each packet, the property helpers, and 3.1.1 refusing what only
   MQTT 5 has. A test is named after the statement id it checks ([MQTT-3.8.3-4] ->
   mqtt_3_8_3_4_...); where the rule has no id, after its section (§). */
#define _POSIX_C_SOURCE 200809L
#define MQTTC_IMPLEMENTATION
#include "mqttc.h"
#include "test.h"

#define V5 MQTTC_PROTOCOL_5
#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

static mqttc_str S(const char *s) {
    mqttc_str r;
    r.ptr = s;
    r.len = s ? strlen(s) : 0;
    return r;
}

static mqttc_props no_props(void) {
    mqttc_props ps;
    memset(&ps, 0, sizeof ps);
    return ps;
}

static mqttc_props raw_props(const void *bytes, size_t n) {
    mqttc_props ps = no_props();
    ps.ptr = (const unsigned char *)bytes;
    ps.len = n;
    return ps;
}

static mqttc_props list_props(const mqttc_prop *list, size_t count) {
    mqttc_props ps = no_props();
    ps.list = list;
    ps.count = count;
    return ps;
}

/* Equal bytes; else both are printed, to read the difference. */
static int same_bytes(const unsigned char *got, size_t n, const unsigned char *want, size_t wn) {
    if (n == wn && memcmp(got, want, n) == 0) return 1;
    fprintf(stderr, "    got  (%zu):", n);
    for (size_t i = 0; i < n; i++) fprintf(stderr, " %02X", got[i]);
    fprintf(stderr, "\n    want (%zu):", wn);
    for (size_t i = 0; i < wn; i++) fprintf(stderr, " %02X", want[i]);
    fputc('\n', stderr);
    return 0;
}
#define CHECK_BYTES(got, n, want) CHECK(same_bytes((got), (n), (want), sizeof(want)))

/* Decodes as MQTT 5; a packet accepted must be all of the bytes. */
static int dec5(const unsigned char *bytes, size_t n, mqttc_packet *p) {
    size_t used = 0;
    int rc = mqttc_decode(bytes, n, 0, V5, p, &used);
    if (rc == MQTTC_OK) CHECK_EQ_INT(used, n);
    return rc;
}
#define DEC5(bytes, p) dec5((bytes), sizeof(bytes), (p))

static int same_str(mqttc_str a, mqttc_str b) {
    return a.len == b.len && (a.len == 0 || (a.ptr && b.ptr && memcmp(a.ptr, b.ptr, a.len) == 0));
}

static int same_prop(const mqttc_prop *a, const mqttc_prop *b) {
    return a->id == b->id && a->value == b->value && same_str(a->str, b->str) && same_str(a->val, b->val);
}

static int is_raw(const mqttc_props *ps, const unsigned char *bytes, size_t n) {
    return ps->len == n && ps->count == 0 && (n == 0 || (ps->ptr && memcmp(ps->ptr, bytes, n) == 0));
}

/* ---- the packets that carry properties, by hand ----
   Each the smallest of its type around a property block of plen bytes (plen < 100, so every
   length is one byte) [MQTT-2.2.2]; MQTTC_PROPS_WILL stands for a CONNECT whose will
   properties they are. encode_host writes the same packet through the encoders, host_props
   finds the block in a decoded one. */
static const int hosts[] = {MQTTC_PROPS_WILL, MQTTC_CONNECT, MQTTC_CONNACK, MQTTC_PUBLISH, MQTTC_PUBACK,
                            MQTTC_PUBREC, MQTTC_PUBREL, MQTTC_PUBCOMP, MQTTC_SUBSCRIBE, MQTTC_SUBACK,
                            MQTTC_UNSUBSCRIBE, MQTTC_UNSUBACK, MQTTC_DISCONNECT, MQTTC_AUTH};

static size_t hand_packet(int host, const unsigned char *props, size_t plen, unsigned char *out) {
    static const unsigned char mqtt5[] = {0x00, 0x04, 'M', 'Q', 'T', 'T', 0x05};
    static const unsigned char id1[] = {0x00, 0x01};
    unsigned char *p = out + 2;
#define PUT(...)                                                                      \
    do {                                                                              \
        static const unsigned char b_[] = {__VA_ARGS__};                              \
        memcpy(p, b_, sizeof b_);                                                     \
        p += sizeof b_;                                                               \
    } while (0)
#define PROPS()                                                                       \
    do {                                                                              \
        *p++ = (unsigned char)plen;                                                   \
        if (plen) memcpy(p, props, plen);                                             \
        p += plen;                                                                    \
    } while (0)
    switch (host) {
    case MQTTC_PROPS_WILL: /* flags: will, clean start; keepalive 0; no CONNECT properties */
        out[0] = 0x10;
        memcpy(p, mqtt5, sizeof mqtt5), p += sizeof mqtt5;
        PUT(0x06, 0x00, 0x00, 0x00, 0x00, 0x01, 'c');
        PROPS();
        PUT(0x00, 0x01, 'w', 0x00, 0x00); /* will topic "w", empty will payload */
        break;
    case MQTTC_CONNECT: /* clean start, keepalive 0, client id "c" */
        out[0] = 0x10;
        memcpy(p, mqtt5, sizeof mqtt5), p += sizeof mqtt5;
        PUT(0x02, 0x00, 0x00);
        PROPS();
        PUT(0x00, 0x01, 'c');
        break;
    case MQTTC_CONNACK: /* no session, success */
        out[0] = 0x20;
        PUT(0x00, 0x00);
        PROPS();
        break;
    case MQTTC_PUBLISH: /* QoS 0 to "t", no payload */
        out[0] = 0x30;
        PUT(0x00, 0x01, 't');
        PROPS();
        break;
    case MQTTC_PUBACK: case MQTTC_PUBREC: case MQTTC_PUBREL: case MQTTC_PUBCOMP: /* id 1, success */
        out[0] = (unsigned char)(host << 4 | (host == MQTTC_PUBREL ? 2 : 0));
        memcpy(p, id1, 2), p += 2;
        PUT(0x00);
        PROPS();
        break;
    case MQTTC_SUBSCRIBE: case MQTTC_UNSUBSCRIBE: /* id 1, filter "f" (options 0) */
        out[0] = (unsigned char)(host << 4 | 2);
        memcpy(p, id1, 2), p += 2;
        PROPS();
        PUT(0x00, 0x01, 'f');
        if (host == MQTTC_SUBSCRIBE) PUT(0x00);
        break;
    case MQTTC_SUBACK: case MQTTC_UNSUBACK: /* id 1, one code: success */
        out[0] = (unsigned char)(host << 4);
        memcpy(p, id1, 2), p += 2;
        PROPS();
        PUT(0x00);
        break;
    default: /* DISCONNECT, AUTH: success */
        out[0] = (unsigned char)(host << 4);
        PUT(0x00);
        PROPS();
        break;
    }
#undef PUT
#undef PROPS
    out[1] = (unsigned char)(p - out - 2);
    return (size_t)(p - out);
}

static int encode_host(int host, const mqttc_props *ps, unsigned char *buf, size_t cap, size_t *n) {
    static const char *const filters[1] = {"f"};
    static const unsigned char zero[1] = {0};
    switch (host) {
    case MQTTC_PROPS_WILL: case MQTTC_CONNECT: {
        mqttc_connect_info ci;
        memset(&ci, 0, sizeof ci);
        ci.client_id = S("c");
        ci.clean_session = 1;
        if (host == MQTTC_CONNECT) ci.props = *ps;
        else {
            ci.will_topic = S("w");
            ci.will_payload = S("");
            ci.will_props = *ps;
        }
        return mqttc_encode_connect(buf, cap, V5, &ci, n);
    }
    case MQTTC_CONNACK: {
        mqttc_connack_info ca;
        memset(&ca, 0, sizeof ca);
        ca.props = *ps;
        return mqttc_encode_connack(buf, cap, V5, &ca, n);
    }
    case MQTTC_PUBLISH: {
        mqttc_publish_info pi;
        memset(&pi, 0, sizeof pi);
        pi.topic = "t";
        pi.topic_len = 1;
        pi.props = *ps;
        return mqttc_encode_publish(buf, cap, V5, &pi, n);
    }
    case MQTTC_SUBSCRIBE: case MQTTC_UNSUBSCRIBE: {
        mqttc_subscribe_info si;
        memset(&si, 0, sizeof si);
        si.packet_id = 1;
        si.filters = filters;
        si.options = zero;
        si.count = 1;
        si.props = *ps;
        if (host == MQTTC_SUBSCRIBE) return mqttc_encode_subscribe(buf, cap, V5, &si, n);
        return mqttc_encode_unsubscribe(buf, cap, V5, &si, n);
    }
    case MQTTC_SUBACK: {
        mqttc_suback_info sa;
        memset(&sa, 0, sizeof sa);
        sa.packet_id = 1;
        sa.codes = zero;
        sa.count = 1;
        sa.props = *ps;
        return mqttc_encode_suback(buf, cap, V5, &sa, n);
    }
    case MQTTC_DISCONNECT: {
        mqttc_disconnect_info di;
        memset(&di, 0, sizeof di);
        di.props = *ps;
        return mqttc_encode_disconnect(buf, cap, V5, &di, n);
    }
    case MQTTC_AUTH: {
        mqttc_auth_info ai;
        memset(&ai, 0, sizeof ai);
        ai.props = *ps;
        return mqttc_encode_auth(buf, cap, V5, &ai, n);
    }
    default: { /* PUBACK, PUBREC, PUBREL, PUBCOMP, UNSUBACK */
        mqttc_ack_info ai;
        memset(&ai, 0, sizeof ai);
        ai.type = host;
        ai.packet_id = 1;
        ai.codes = zero;
        ai.count = 1;
        ai.props = *ps;
        return mqttc_encode_ack(buf, cap, V5, &ai, n);
    }
    }
}

static const mqttc_props *host_props(const mqttc_packet *p, int host) {
    switch (host) {
    case MQTTC_PROPS_WILL: return &p->connect.will_props;
    case MQTTC_CONNECT: return &p->connect.props;
    case MQTTC_CONNACK: return &p->connack.props;
    case MQTTC_PUBLISH: return &p->publish.props;
    case MQTTC_SUBSCRIBE: case MQTTC_UNSUBSCRIBE: return &p->subscribe.props;
    case MQTTC_SUBACK: return &p->suback.props;
    case MQTTC_DISCONNECT: return &p->disconnect.props;
    case MQTTC_AUTH: return &p->auth.props;
    default: return &p->ack.props;
    }
}

/* The host packet around these property bytes, decoded as MQTT 5; *p points into a buffer
   that stays valid until the next call. */
static int decode_in_host(int host, const unsigned char *props, size_t plen, mqttc_packet *p) {
    static unsigned char pkt[160];
    return dec5(pkt, hand_packet(host, props, plen, pkt), p);
}

/* ---- every property [MQTT-2.2.2.2], Table 2-4, by hand ---- */

enum { K_INT, K_STR, K_BIN, K_PAIR };
#define AT(t) (1u << (t))
#define AT_WILL AT(MQTTC_PROPS_WILL)
#define AT_ACKS (AT(MQTTC_PUBACK) | AT(MQTTC_PUBREC) | AT(MQTTC_PUBREL) | AT(MQTTC_PUBCOMP))
#define AT_EVERY                                                                                          \
    (AT_WILL | AT(MQTTC_CONNECT) | AT(MQTTC_CONNACK) | AT(MQTTC_PUBLISH) | AT_ACKS | AT(MQTTC_SUBSCRIBE) | \
     AT(MQTTC_SUBACK) | AT(MQTTC_UNSUBSCRIBE) | AT(MQTTC_UNSUBACK) | AT(MQTTC_DISCONNECT) | AT(MQTTC_AUTH))

typedef struct prop_case {
    int id, kind;
    unsigned where;          /* the packets it may appear in (Table 2-4) */
    int host;                /* one of them */
    unsigned char bytes[16]; /* identifier and value on the wire */
    size_t n;
    uint32_t value;          /* K_INT */
    const char *str;         /* K_STR, K_BIN: the value; K_PAIR: the name */
    size_t str_len;
    const char *val;         /* K_PAIR: the value */
} prop_case;

static const prop_case props27[] = {
    {0x01, K_INT, AT_WILL | AT(MQTTC_PUBLISH), MQTTC_PUBLISH, {0x01, 0x01}, 2, 1, NULL, 0, NULL},
    {0x02, K_INT, AT_WILL | AT(MQTTC_PUBLISH), MQTTC_PUBLISH, {0x02, 0x00, 0x00, 0x0E, 0x10}, 5, 3600, NULL, 0, NULL},
    {0x03, K_STR, AT_WILL | AT(MQTTC_PUBLISH), MQTTC_PUBLISH, {0x03, 0x00, 0x04, 'j', 's', 'o', 'n'}, 7, 0, "json", 4,
     NULL},
    {0x08, K_STR, AT_WILL | AT(MQTTC_PUBLISH), MQTTC_PUBLISH, {0x08, 0x00, 0x05, 'r', 'e', 'p', 'l', 'y'}, 8, 0,
     "reply", 5, NULL},
    {0x09, K_BIN, AT_WILL | AT(MQTTC_PUBLISH), MQTTC_PUBLISH, {0x09, 0x00, 0x03, 0x00, 0xFF, 0x7F}, 6, 0,
     "\x00\xFF\x7F", 3, NULL},
    {0x0B, K_INT, AT(MQTTC_PUBLISH) | AT(MQTTC_SUBSCRIBE), MQTTC_SUBSCRIBE, {0x0B, 0x80, 0x01}, 3, 128, NULL, 0, NULL},
    {0x11, K_INT, AT(MQTTC_CONNECT) | AT(MQTTC_CONNACK) | AT(MQTTC_DISCONNECT), MQTTC_CONNECT,
     {0x11, 0xFF, 0xFF, 0xFF, 0xFF}, 5, 0xFFFFFFFFu, NULL, 0, NULL},
    {0x12, K_STR, AT(MQTTC_CONNACK), MQTTC_CONNACK, {0x12, 0x00, 0x03, 'i', 'd', '7'}, 6, 0, "id7", 3, NULL},
    {0x13, K_INT, AT(MQTTC_CONNACK), MQTTC_CONNACK, {0x13, 0x01, 0x2C}, 3, 300, NULL, 0, NULL},
    {0x15, K_STR, AT(MQTTC_CONNECT) | AT(MQTTC_CONNACK) | AT(MQTTC_AUTH), MQTTC_CONNECT,
     {0x15, 0x00, 0x05, 'S', 'C', 'R', 'A', 'M'}, 8, 0, "SCRAM", 5, NULL},
    {0x16, K_BIN, AT(MQTTC_CONNECT) | AT(MQTTC_CONNACK) | AT(MQTTC_AUTH), MQTTC_AUTH, {0x16, 0x00, 0x02, 0x00, 0x01},
     5, 0, "\x00\x01", 2, NULL},
    {0x17, K_INT, AT(MQTTC_CONNECT), MQTTC_CONNECT, {0x17, 0x00}, 2, 0, NULL, 0, NULL},
    {0x18, K_INT, AT_WILL, MQTTC_PROPS_WILL, {0x18, 0x00, 0x00, 0x00, 0x3C}, 5, 60, NULL, 0, NULL},
    {0x19, K_INT, AT(MQTTC_CONNECT), MQTTC_CONNECT, {0x19, 0x01}, 2, 1, NULL, 0, NULL},
    {0x1A, K_STR, AT(MQTTC_CONNACK), MQTTC_CONNACK, {0x1A, 0x00, 0x02, 'r', '/'}, 5, 0, "r/", 2, NULL},
    {0x1C, K_STR, AT(MQTTC_CONNACK) | AT(MQTTC_DISCONNECT), MQTTC_DISCONNECT, {0x1C, 0x00, 0x05, 'o', 't', 'h', 'e', 'r'},
     8, 0, "other", 5, NULL},
    {0x1F, K_STR,
     AT(MQTTC_CONNACK) | AT_ACKS | AT(MQTTC_SUBACK) | AT(MQTTC_UNSUBACK) | AT(MQTTC_DISCONNECT) | AT(MQTTC_AUTH),
     MQTTC_PUBACK, {0x1F, 0x00, 0x02, 'o', 'k'}, 5, 0, "ok", 2, NULL},
    {0x21, K_INT, AT(MQTTC_CONNECT) | AT(MQTTC_CONNACK), MQTTC_CONNECT, {0x21, 0x00, 0x14}, 3, 20, NULL, 0, NULL},
    {0x22, K_INT, AT(MQTTC_CONNECT) | AT(MQTTC_CONNACK), MQTTC_CONNACK, {0x22, 0x00, 0x0A}, 3, 10, NULL, 0, NULL},
    {0x23, K_INT, AT(MQTTC_PUBLISH), MQTTC_PUBLISH, {0x23, 0x00, 0x01}, 3, 1, NULL, 0, NULL},
    {0x24, K_INT, AT(MQTTC_CONNACK), MQTTC_CONNACK, {0x24, 0x01}, 2, 1, NULL, 0, NULL},
    {0x25, K_INT, AT(MQTTC_CONNACK), MQTTC_CONNACK, {0x25, 0x00}, 2, 0, NULL, 0, NULL},
    {0x26, K_PAIR, AT_EVERY, MQTTC_UNSUBSCRIBE, {0x26, 0x00, 0x01, 'k', 0x00, 0x02, 'v', 'v'}, 8, 0, "k", 1, "vv"},
    {0x27, K_INT, AT(MQTTC_CONNECT) | AT(MQTTC_CONNACK), MQTTC_CONNECT, {0x27, 0x00, 0x01, 0x00, 0x00}, 5, 65536, NULL,
     0, NULL},
    {0x28, K_INT, AT(MQTTC_CONNACK), MQTTC_CONNACK, {0x28, 0x00}, 2, 0, NULL, 0, NULL},
    {0x29, K_INT, AT(MQTTC_CONNACK), MQTTC_CONNACK, {0x29, 0x01}, 2, 1, NULL, 0, NULL},
    {0x2A, K_INT, AT(MQTTC_CONNACK), MQTTC_CONNACK, {0x2A, 0x00}, 2, 0, NULL, 0, NULL},
};

static mqttc_prop case_prop(const prop_case *c) {
    switch (c->kind) {
    case K_INT: return mqttc_prop_int(c->id, c->value);
    case K_STR: return mqttc_prop_str(c->id, c->str);
    case K_BIN: return mqttc_prop_bin(c->id, c->str, c->str_len);
    default: return mqttc_prop_user(c->str, c->val);
    }
}

static const prop_case *case_of(int id) {
    for (size_t i = 0; i < COUNT(props27); i++)
        if (props27[i].id == id) return &props27[i];
    return NULL;
}

/* The table is the spec's: 27 identifiers, each once; every other byte is none. */
TEST(mqtt_2_2_2_2_the_27_property_identifiers) {
    static const unsigned char ids[] = {0x01, 0x02, 0x03, 0x08, 0x09, 0x0B, 0x11, 0x12, 0x13, 0x15, 0x16, 0x17, 0x18, 0x19,
                                        0x1A, 0x1C, 0x1F, 0x21, 0x22, 0x23, 0x24, 0x25, 0x26, 0x27, 0x28, 0x29, 0x2A};
    CHECK_EQ_INT(COUNT(props27), 27);
    CHECK_EQ_INT(COUNT(ids), 27);
    for (size_t i = 0; i < COUNT(ids); i++) {
        const prop_case *c = case_of(ids[i]);
        CHECK_MSG(c && c->bytes[0] == ids[i] && (c->where & AT(c->host)), "property 0x%02X", ids[i]);
    }
}

/* Each property written from a mqttc_prop and from raw bytes gives the bytes written by hand
   (identifier, then the value in its type: byte, two-byte and four-byte big-endian
   integers [MQTT-1.5.2], a variable byte integer [MQTT-1.5.5], a UTF-8 string [MQTT-1.5.4],
   binary data [MQTT-1.5.6], a string pair [MQTT-1.5.7]); decoded, it reads back as given. */
TEST(mqtt_2_2_2_2_every_property_by_hand) {
    for (size_t i = 0; i < COUNT(props27); i++) {
        const prop_case *c = &props27[i];
        mqttc_prop given = case_prop(c), got;
        mqttc_props list = list_props(&given, 1), raw = raw_props(c->bytes, c->n);
        unsigned char want[160], buf[160];
        size_t wn = hand_packet(c->host, c->bytes, c->n, want), n = 0, pos = 0;
        mqttc_packet p;
        CHECK_MSG(encode_host(c->host, &list, buf, sizeof buf, &n) == MQTTC_OK && same_bytes(buf, n, want, wn),
                  "property 0x%02X from a list", c->id);
        CHECK_MSG(encode_host(c->host, &raw, buf, sizeof buf, &n) == MQTTC_OK && same_bytes(buf, n, want, wn),
                  "property 0x%02X from raw bytes", c->id);
        CHECK_EQ_INT(mqttc_props_size(&list), 1 + c->n);
        CHECK_EQ_INT(mqttc_props_check(&list, c->host), MQTTC_OK);
        CHECK_EQ_INT(mqttc_props_check(&raw, c->host), MQTTC_OK);
        CHECK_MSG(dec5(want, wn, &p) == MQTTC_OK, "property 0x%02X decoded", c->id);
        const mqttc_props *back = host_props(&p, c->host);
        CHECK_MSG(is_raw(back, c->bytes, c->n), "property 0x%02X: the decoded view is its bytes", c->id);
        CHECK_EQ_INT(mqttc_props_next(back, &pos, &got), 1);
        CHECK_MSG(same_prop(&got, &given), "property 0x%02X reads back as given", c->id);
        CHECK_EQ_INT(mqttc_props_next(back, &pos, &got), 0);
    }
}

/* Each property in each packet that has properties (and the will): where Table 2-4 allows
   it, it is encoded and decoded; elsewhere the encoder refuses it and the decoder calls the
   packet malformed. */
TEST(mqtt_2_2_2_2_where_each_property_may_appear) {
    for (size_t i = 0; i < COUNT(props27); i++) {
        const prop_case *c = &props27[i];
        mqttc_prop given = case_prop(c);
        mqttc_props list = list_props(&given, 1);
        for (size_t h = 0; h < COUNT(hosts); h++) {
            int host = hosts[h], allowed = (c->where & AT(host)) != 0;
            unsigned char want[160], buf[160];
            size_t wn = hand_packet(host, c->bytes, c->n, want), n = 0;
            mqttc_packet p;
            int rc = dec5(want, wn, &p);
            CHECK_MSG(rc == (allowed ? MQTTC_OK : MQTTC_ERR_MALFORMED), "property 0x%02X in packet %d: decode %s",
                      c->id, host, mqttc_errname(rc));
            rc = encode_host(host, &list, buf, sizeof buf, &n);
            CHECK_MSG(rc == (allowed ? MQTTC_OK : MQTTC_ERR_ARG), "property 0x%02X in packet %d: encode %s", c->id, host,
                      mqttc_errname(rc));
            if (allowed && rc == MQTTC_OK) CHECK(same_bytes(buf, n, want, wn));
            CHECK_EQ_INT(mqttc_props_check(&list, host), allowed ? MQTTC_OK : MQTTC_ERR_ARG);
        }
    }
}

/* Identifiers the spec does not define: malformed [MQTT-2.2.2.2] (every identifier of 5.0
   is one byte; 0x80 and above would start a longer one). */
TEST(mqtt_2_2_2_2_unknown_property_id) {
    for (int id = 0; id < 256; id++) {
        unsigned char bytes[5] = {(unsigned char)id, 0x00, 0x01, 'x', 0x00};
        mqttc_packet p;
        if (case_of(id)) continue;
        CHECK_MSG(decode_in_host(MQTTC_CONNACK, bytes, sizeof bytes, &p) == MQTTC_ERR_MALFORMED, "id 0x%02X", id);
        mqttc_props raw = raw_props(bytes, sizeof bytes);
        CHECK_EQ_INT(mqttc_props_check(&raw, MQTTC_CONNACK), MQTTC_ERR_ARG);
        mqttc_prop pr = mqttc_prop_int(id, 0);
        mqttc_props list = list_props(&pr, 1);
        unsigned char buf[64];
        size_t n;
        CHECK_EQ_INT(encode_host(MQTTC_CONNACK, &list, buf, sizeof buf, &n), MQTTC_ERR_ARG);
    }
}

/* A second copy of any property but User Property (and Subscription Identifier in a
   PUBLISH) is a Protocol Error (§2.2.2.2 and each property's own rule). */
TEST(mqtt_2_2_2_2_repeats_are_protocol_errors) {
    for (size_t i = 0; i < COUNT(props27); i++) {
        const prop_case *c = &props27[i];
        unsigned char twice[32], buf[160];
        size_t n;
        mqttc_packet p;
        mqttc_prop two[2];
        memcpy(twice, c->bytes, c->n);
        memcpy(twice + c->n, c->bytes, c->n);
        two[0] = two[1] = case_prop(c);
        mqttc_props list = list_props(two, 2);
        int may_repeat = c->id == MQTTC_PROP_USER;
        CHECK_MSG(decode_in_host(c->host, twice, 2 * c->n, &p) == (may_repeat ? MQTTC_OK : MQTTC_ERR_PROTOCOL),
                  "property 0x%02X twice", c->id);
        CHECK_EQ_INT(encode_host(c->host, &list, buf, sizeof buf, &n), may_repeat ? MQTTC_OK : MQTTC_ERR_ARG);
        CHECK_EQ_INT(mqttc_props_check(&list, c->host), may_repeat ? MQTTC_OK : MQTTC_ERR_ARG);
    }
    /* one copy in the raw bytes and one in the list are two copies too */
    static const unsigned char expiry[] = {0x11, 0x00, 0x00, 0x00, 0x0A};
    mqttc_prop pr = mqttc_prop_int(MQTTC_PROP_SESSION_EXPIRY, 10);
    mqttc_props both = raw_props(expiry, sizeof expiry);
    unsigned char buf[64];
    size_t n;
    both.list = &pr;
    both.count = 1;
    CHECK_EQ_INT(encode_host(MQTTC_CONNECT, &both, buf, sizeof buf, &n), MQTTC_ERR_ARG);
    CHECK_EQ_INT(mqttc_props_check(&both, MQTTC_CONNECT), MQTTC_ERR_ARG);
}

/* A PUBLISH to the client carries one Subscription Identifier per matching subscription
   (§3.3.2.3.8); a SUBSCRIBE only one (§3.8.2.1.2). */
TEST(mqtt_3_3_2_subscription_identifiers_repeat_in_publish) {
    static const unsigned char want[] = {0x30, 0x0A, 0x00, 0x01, 't', 0x05, 0x0B, 0x01, 0x0B, 0x80, 0x01, 'x'};
    mqttc_prop ids[2];
    mqttc_publish_info pi;
    mqttc_packet p;
    unsigned char buf[64];
    size_t n, pos = 0;
    ids[0] = mqttc_prop_int(MQTTC_PROP_SUBSCRIPTION_ID, 1);
    ids[1] = mqttc_prop_int(MQTTC_PROP_SUBSCRIPTION_ID, 128);
    memset(&pi, 0, sizeof pi);
    pi.topic = "t";
    pi.topic_len = 1;
    pi.payload = "x";
    pi.payload_len = 1;
    pi.props = list_props(ids, 2);
    CHECK_EQ_INT(mqttc_encode_publish(buf, sizeof buf, V5, &pi, &n), MQTTC_OK);
    CHECK_BYTES(buf, n, want);
    CHECK_EQ_INT(DEC5(want, &p), MQTTC_OK);
    mqttc_prop got;
    CHECK_EQ_INT(mqttc_props_next(&p.publish.props, &pos, &got), 1);
    CHECK(got.id == MQTTC_PROP_SUBSCRIPTION_ID && got.value == 1);
    CHECK_EQ_INT(mqttc_props_next(&p.publish.props, &pos, &got), 1);
    CHECK(got.id == MQTTC_PROP_SUBSCRIPTION_ID && got.value == 128);
    CHECK_EQ_INT(mqttc_props_next(&p.publish.props, &pos, &got), 0);
    CHECK_EQ_INT(p.publish.payload_len, 1);
    /* the same two in a SUBSCRIBE */
    static const unsigned char sub_ids[] = {0x0B, 0x01, 0x0B, 0x80, 0x01};
    CHECK_EQ_INT(decode_in_host(MQTTC_SUBSCRIBE, sub_ids, sizeof sub_ids, &p), MQTTC_ERR_PROTOCOL);
    CHECK_EQ_INT(encode_host(MQTTC_SUBSCRIBE, &pi.props, buf, sizeof buf, &n), MQTTC_ERR_ARG);
}

/* Variable byte integers [MQTT-1.5.5-1]: the Subscription Identifier in 1..4 bytes at each
   boundary of Table 1-1, and the smallest encoding only; the property length is one too. */
TEST(mqtt_1_5_5_1_variable_byte_integers_in_properties) {
    static const struct { uint32_t value; unsigned char bytes[4]; size_t n; } v[] = {
        {1, {0x01}, 1}, {127, {0x7F}, 1}, {128, {0x80, 0x01}, 2}, {16383, {0xFF, 0x7F}, 2},
        {16384, {0x80, 0x80, 0x01}, 3}, {2097151, {0xFF, 0xFF, 0x7F}, 3},
        {2097152, {0x80, 0x80, 0x80, 0x01}, 4}, {268435455, {0xFF, 0xFF, 0xFF, 0x7F}, 4},
    };
    unsigned char buf[64], want[64];
    size_t n;
    mqttc_packet p;
    for (size_t i = 0; i < COUNT(v); i++) {
        unsigned char bytes[5] = {0x0B};
        memcpy(bytes + 1, v[i].bytes, v[i].n);
        mqttc_prop pr = mqttc_prop_int(MQTTC_PROP_SUBSCRIPTION_ID, v[i].value), got;
        mqttc_props list = list_props(&pr, 1);
        size_t wn = hand_packet(MQTTC_SUBSCRIBE, bytes, 1 + v[i].n, want);
        CHECK_EQ_INT(encode_host(MQTTC_SUBSCRIBE, &list, buf, sizeof buf, &n), MQTTC_OK);
        CHECK(same_bytes(buf, n, want, wn));
        CHECK_EQ_INT(mqttc_props_size(&list), 2 + v[i].n);
        CHECK_EQ_INT(decode_in_host(MQTTC_SUBSCRIBE, bytes, 1 + v[i].n, &p), MQTTC_OK);
        CHECK(mqttc_props_get(&p.subscribe.props, MQTTC_PROP_SUBSCRIPTION_ID, &got) == 1 && got.value == v[i].value);
    }
    mqttc_prop big = mqttc_prop_int(MQTTC_PROP_SUBSCRIPTION_ID, 268435456u);
    mqttc_props list = list_props(&big, 1);
    CHECK_EQ_INT(encode_host(MQTTC_SUBSCRIBE, &list, buf, sizeof buf, &n), MQTTC_ERR_ARG);
    static const unsigned char two_for_0[] = {0x0B, 0x80, 0x00};             /* 0 in two bytes */
    static const unsigned char three_for_1[] = {0x0B, 0x81, 0x80, 0x00};     /* 1 in three */
    static const unsigned char five[] = {0x0B, 0x80, 0x80, 0x80, 0x80, 0x01}; /* a fifth byte */
    static const unsigned char cut[] = {0x0B, 0x80};                         /* continues past the end */
    CHECK_EQ_INT(decode_in_host(MQTTC_SUBSCRIBE, two_for_0, sizeof two_for_0, &p), MQTTC_ERR_MALFORMED);
    CHECK_EQ_INT(decode_in_host(MQTTC_SUBSCRIBE, three_for_1, sizeof three_for_1, &p), MQTTC_ERR_MALFORMED);
    CHECK_EQ_INT(decode_in_host(MQTTC_SUBSCRIBE, five, sizeof five, &p), MQTTC_ERR_MALFORMED);
    CHECK_EQ_INT(decode_in_host(MQTTC_SUBSCRIBE, cut, sizeof cut, &p), MQTTC_ERR_MALFORMED);
    /* the property length itself: 0 in two bytes, and five bytes */
    static const unsigned char len_two[] = {0x82, 0x08, 0x00, 0x01, 0x80, 0x00, 0x00, 0x01, 'f', 0x00};
    static const unsigned char len_five[] = {0x82, 0x0B, 0x00, 0x01, 0x80, 0x80, 0x80, 0x80, 0x00, 0x00, 0x01, 'f', 0x00};
    CHECK_EQ_INT(DEC5(len_two, &p), MQTTC_ERR_MALFORMED);
    CHECK_EQ_INT(DEC5(len_five, &p), MQTTC_ERR_MALFORMED);
}

/* A property length of 128 bytes or more takes two bytes [MQTT-2.2.2-1], [MQTT-1.5.5-1]. */
TEST(mqtt_2_2_2_1_property_length_past_127) {
    unsigned char data[125], want[200], buf[200];
    size_t n;
    mqttc_packet p;
    for (size_t i = 0; i < sizeof data; i++) data[i] = (unsigned char)(i * 7);
    /* PUBLISH QoS 0 to "t": remaining 3 + 2 + 128 = 133 (0x85 0x01); properties 128 (0x80 0x01):
       Correlation Data, 125 bytes */
    static const unsigned char head[] = {0x30, 0x85, 0x01, 0x00, 0x01, 't', 0x80, 0x01, 0x09, 0x00, 0x7D};
    memcpy(want, head, sizeof head);
    memcpy(want + sizeof head, data, sizeof data);
    size_t wn = sizeof head + sizeof data;
    mqttc_prop pr = mqttc_prop_bin(MQTTC_PROP_CORRELATION_DATA, data, sizeof data);
    mqttc_publish_info pi;
    memset(&pi, 0, sizeof pi);
    pi.topic = "t";
    pi.topic_len = 1;
    pi.props = list_props(&pr, 1);
    CHECK_EQ_INT(mqttc_props_size(&pi.props), 130);
    CHECK_EQ_INT(mqttc_encode_publish(buf, sizeof buf, V5, &pi, &n), MQTTC_OK);
    CHECK(same_bytes(buf, n, want, wn));
    CHECK_EQ_INT(dec5(want, wn, &p), MQTTC_OK);
    CHECK_EQ_INT(p.publish.props.len, 128);
    CHECK_EQ_INT(p.publish.payload_len, 0);
    pr.str.len = 124; /* 127 bytes of properties: one length byte */
    CHECK_EQ_INT(mqttc_props_size(&pi.props), 128);
}

/* No properties is a property length of 0, never an absent one [MQTT-2.2.2-1]. */
TEST(mqtt_2_2_2_1_property_length_is_required) {
    mqttc_packet p;
    static const unsigned char connect[] = {0x10, 0x0D, 0x00, 0x04, 'M', 'Q', 'T', 'T', 0x05, 0x02,
                                            0x00, 0x00, 0x00, 0x01, 'c'}; /* a 3.1.1 body at level 5 */
    static const unsigned char publish[] = {0x30, 0x03, 0x00, 0x01, 't'};
    static const unsigned char suback[] = {0x90, 0x03, 0x00, 0x01, 0x00};
    static const unsigned char unsubscribe[] = {0xA2, 0x05, 0x00, 0x01, 0x00, 0x01, 'f'};
    CHECK_EQ_INT(DEC5(connect, &p), MQTTC_ERR_MALFORMED);
    CHECK_EQ_INT(DEC5(publish, &p), MQTTC_ERR_MALFORMED);
    CHECK_EQ_INT(DEC5(suback, &p), MQTTC_ERR_MALFORMED);
    CHECK_EQ_INT(DEC5(unsubscribe, &p), MQTTC_ERR_MALFORMED);
}

/* Receive Maximum, Maximum Packet Size and Subscription Identifier are never 0: a Protocol
   Error (§3.1.2.11.3, §3.1.2.11.4, §3.8.2.1.2). Topic Alias 0 is never sent
   [MQTT-3.3.2-8]; a receiver refuses it with its own reason code, Topic Alias invalid
   (0x94): the decoder hands it to the client for that (the header: "Topic Alias 0 is the
   receiver's to refuse, with its own reason code 0x94"). */
TEST(mqtt_3_3_2_8_zero_receive_max_packet_size_topic_alias_sub_id) {
    static const struct { int host, id; unsigned char bytes[5]; size_t n; } v[] = {
        {MQTTC_CONNECT, MQTTC_PROP_RECEIVE_MAX, {0x21, 0x00, 0x00}, 3},
        {MQTTC_CONNACK, MQTTC_PROP_RECEIVE_MAX, {0x21, 0x00, 0x00}, 3},
        {MQTTC_CONNECT, MQTTC_PROP_MAX_PACKET_SIZE, {0x27, 0x00, 0x00, 0x00, 0x00}, 5},
        {MQTTC_CONNACK, MQTTC_PROP_MAX_PACKET_SIZE, {0x27, 0x00, 0x00, 0x00, 0x00}, 5},
        {MQTTC_SUBSCRIBE, MQTTC_PROP_SUBSCRIPTION_ID, {0x0B, 0x00}, 2},
        {MQTTC_PUBLISH, MQTTC_PROP_SUBSCRIPTION_ID, {0x0B, 0x00}, 2},
    };
    for (size_t i = 0; i < COUNT(v); i++) {
        mqttc_packet p;
        unsigned char buf[64];
        size_t n;
        mqttc_prop pr = mqttc_prop_int(v[i].id, 0);
        mqttc_props list = list_props(&pr, 1);
        CHECK_MSG(decode_in_host(v[i].host, v[i].bytes, v[i].n, &p) == MQTTC_ERR_PROTOCOL, "0x%02X = 0 in %d", v[i].id,
                  v[i].host);
        CHECK_EQ_INT(encode_host(v[i].host, &list, buf, sizeof buf, &n), MQTTC_ERR_ARG);
        CHECK_EQ_INT(mqttc_props_check(&list, v[i].host), MQTTC_ERR_ARG);
    }
    /* and 1 is fine for each: the smallest */
    static const unsigned char one[] = {0x21, 0x00, 0x01, 0x27, 0x00, 0x00, 0x00, 0x01};
    mqttc_packet p;
    CHECK_EQ_INT(decode_in_host(MQTTC_CONNACK, one, sizeof one, &p), MQTTC_OK);
    /* Topic Alias 0: never written; read, for the client's 0x94 */
    static const unsigned char alias0[] = {0x23, 0x00, 0x00};
    mqttc_prop zero = mqttc_prop_int(MQTTC_PROP_TOPIC_ALIAS, 0), got;
    mqttc_props list = list_props(&zero, 1);
    unsigned char buf[64];
    size_t n;
    CHECK_EQ_INT(encode_host(MQTTC_PUBLISH, &list, buf, sizeof buf, &n), MQTTC_ERR_ARG);
    CHECK_EQ_INT(decode_in_host(MQTTC_PUBLISH, alias0, sizeof alias0, &p), MQTTC_OK);
    CHECK(mqttc_props_get(&p.publish.props, MQTTC_PROP_TOPIC_ALIAS, &got) == 1 && got.value == 0);
}

/* Every byte-valued property is 0 or 1; another value is a Protocol Error (Payload Format
   Indicator §3.3.2.3.2, Request Problem / Response Information §3.1.2.11.7/6, Maximum QoS
   §3.2.2.3.4, Retain / Wildcard / Subscription Identifier / Shared Available §3.2.2.3.5,
   .11, .12, .13). A value above 255 cannot be written at all. */
TEST(byte_properties_above_one) {
    static const int ids[] = {MQTTC_PROP_PAYLOAD_FORMAT, MQTTC_PROP_REQUEST_PROBLEM_INFO,
                              MQTTC_PROP_REQUEST_RESPONSE_INFO, MQTTC_PROP_MAX_QOS, MQTTC_PROP_RETAIN_AVAILABLE,
                              MQTTC_PROP_WILDCARD_SUB_AVAILABLE, MQTTC_PROP_SUB_ID_AVAILABLE,
                              MQTTC_PROP_SHARED_SUB_AVAILABLE};
    static const unsigned values[] = {2, 0x80, 0xFF};
    for (size_t i = 0; i < COUNT(ids); i++) {
        const prop_case *c = case_of(ids[i]);
        for (size_t k = 0; k < COUNT(values); k++) {
            unsigned char bytes[2] = {(unsigned char)ids[i], (unsigned char)values[k]}, buf[64];
            size_t n;
            mqttc_packet p;
            mqttc_prop pr = mqttc_prop_int(ids[i], values[k]);
            mqttc_props list = list_props(&pr, 1);
            CHECK_MSG(decode_in_host(c->host, bytes, 2, &p) == MQTTC_ERR_PROTOCOL, "0x%02X = %u", ids[i], values[k]);
            CHECK_EQ_INT(encode_host(c->host, &list, buf, sizeof buf, &n), MQTTC_ERR_ARG);
        }
        mqttc_prop pr = mqttc_prop_int(ids[i], 256);
        mqttc_props list = list_props(&pr, 1);
        CHECK_EQ_INT(mqttc_props_check(&list, c->host), MQTTC_ERR_ARG);
    }
}

/* Strings in properties are well-formed UTF-8 without U+0000 [MQTT-1.5.4-1/2], both halves
   of a User Property too [MQTT-1.5.7-1]; binary data may hold any byte. */
TEST(mqtt_1_5_4_1_mqtt_1_5_7_1_utf8_in_string_properties) {
    static const struct { unsigned char b[4]; size_t n; } bad[] = {
        {{0xC0, 0x80}, 2},       /* overlong U+0000 */
        {{0xED, 0xA0, 0x80}, 3}, /* a surrogate */
        {{'a', 0x00}, 2},        /* U+0000 [MQTT-1.5.4-2] */
        {{0xFF}, 1},             /* never in UTF-8 */
        {{0xE2, 0x82}, 2},       /* cut short */
    };
    for (size_t i = 0; i < COUNT(bad); i++) {
        unsigned char content[16] = {0x03, 0x00, (unsigned char)bad[i].n}, name[16] = {0x26, 0x00, (unsigned char)bad[i].n},
                      value[16] = {0x26, 0x00, 0x01, 'k', 0x00, (unsigned char)bad[i].n},
                      reason[16] = {0x1F, 0x00, (unsigned char)bad[i].n},
                      data[16] = {0x09, 0x00, (unsigned char)bad[i].n}, buf[64];
        size_t n = bad[i].n;
        mqttc_packet p;
        memcpy(content + 3, bad[i].b, n);
        memcpy(name + 3, bad[i].b, n);
        name[3 + n] = 0x00, name[4 + n] = 0x01, name[5 + n] = 'v';
        memcpy(value + 6, bad[i].b, n);
        memcpy(reason + 3, bad[i].b, n);
        memcpy(data + 3, bad[i].b, n);
        CHECK_MSG(decode_in_host(MQTTC_PUBLISH, content, 3 + n, &p) == MQTTC_ERR_MALFORMED, "content type %zu", i);
        CHECK_MSG(decode_in_host(MQTTC_PUBLISH, name, 6 + n, &p) == MQTTC_ERR_MALFORMED, "user property name %zu", i);
        CHECK_MSG(decode_in_host(MQTTC_PUBLISH, value, 6 + n, &p) == MQTTC_ERR_MALFORMED, "user property value %zu", i);
        CHECK_MSG(decode_in_host(MQTTC_PUBACK, reason, 3 + n, &p) == MQTTC_ERR_MALFORMED, "reason string %zu", i);
        CHECK_MSG(decode_in_host(MQTTC_PUBLISH, data, 3 + n, &p) == MQTTC_OK, "correlation data %zu", i);
        /* and the encoder writes none of them */
        char text[8] = {0};
        size_t wn;
        memcpy(text, bad[i].b, n);
        mqttc_prop pr[3];
        pr[0] = mqttc_prop_bin(MQTTC_PROP_CONTENT_TYPE, text, n);
        pr[1] = mqttc_prop_user("k", "v");
        pr[1].str.ptr = text, pr[1].str.len = n;
        pr[2] = mqttc_prop_user("k", "v");
        pr[2].val.ptr = text, pr[2].val.len = n;
        for (size_t k = 0; k < 3; k++) {
            mqttc_props list = list_props(&pr[k], 1);
            CHECK_MSG(encode_host(MQTTC_PUBLISH, &list, buf, sizeof buf, &wn) == MQTTC_ERR_ARG, "encode %zu/%zu", i, k);
        }
        mqttc_props raw = raw_props(content, 3 + n);
        CHECK_EQ_INT(encode_host(MQTTC_PUBLISH, &raw, buf, sizeof buf, &wn), MQTTC_ERR_ARG);
    }
    /* a byte order mark is a character like any other [MQTT-1.5.4-3] */
    static const unsigned char bom[] = {0x03, 0x00, 0x03, 0xEF, 0xBB, 0xBF};
    mqttc_packet p;
    CHECK_EQ_INT(decode_in_host(MQTTC_PUBLISH, bom, sizeof bom, &p), MQTTC_OK);
}

/* Lengths inside the packet: a property block longer than what is left, and a value (string,
   binary, pair, integers) running past the block's end, are malformed (§2.2.2.1, §1.5). */
TEST(property_lengths_past_the_end) {
    mqttc_packet p;
    static const unsigned char block_past[] = {0x30, 0x06, 0x00, 0x01, 't', 0x09, 0x01, 0x00};
    CHECK_EQ_INT(DEC5(block_past, &p), MQTTC_ERR_MALFORMED);
    static const unsigned char ack_block_past[] = {0x40, 0x05, 0x00, 0x01, 0x00, 0x05, 0x1F};
    CHECK_EQ_INT(DEC5(ack_block_past, &p), MQTTC_ERR_MALFORMED);
    static const struct { unsigned char b[8]; size_t n; } cut[] = {
        {{0x03, 0x00, 0x10, 'a', 'b', 'c'}, 6},        /* string of 16 in 3 */
        {{0x09, 0x00, 0x04, 0x01}, 4},                 /* binary of 4 in 1 */
        {{0x26, 0x00, 0x01, 'k', 0x00, 0x05, 'v'}, 7}, /* a pair's value */
        {{0x26, 0x00, 0x01, 'k'}, 4},                  /* a pair without its value */
        {{0x03, 0x00}, 2},                             /* a string's length cut */
        {{0x02, 0x00, 0x00, 0x01}, 4},                 /* four-byte integer in three */
        {{0x23, 0x00}, 2},                             /* two-byte integer in one */
        {{0x01}, 1},                                   /* a byte property without its byte */
    };
    for (size_t i = 0; i < COUNT(cut); i++)
        CHECK_MSG(decode_in_host(MQTTC_PUBLISH, cut[i].b, cut[i].n, &p) == MQTTC_ERR_MALFORMED, "cut %zu", i);
    /* the same bytes as raw properties to encode */
    for (size_t i = 0; i < COUNT(cut); i++) {
        unsigned char buf[64];
        size_t n;
        mqttc_props raw = raw_props(cut[i].b, cut[i].n);
        CHECK_EQ_INT(encode_host(MQTTC_PUBLISH, &raw, buf, sizeof buf, &n), MQTTC_ERR_ARG);
    }
    /* and bytes after the block where a packet ends with it */
    static const unsigned char after[] = {0x40, 0x05, 0x00, 0x01, 0x10, 0x00, 0x00};
    CHECK_EQ_INT(DEC5(after, &p), MQTTC_ERR_MALFORMED);
}

/* A Response Topic is a topic name: UTF-8, no wildcards [MQTT-3.3.2-13/14]. */
TEST(mqtt_3_3_2_14_response_topic_without_wildcards) {
    static const unsigned char plus[] = {0x08, 0x00, 0x03, 'a', '/', '+'};
    static const unsigned char hash[] = {0x08, 0x00, 0x01, '#'};
    static const unsigned char empty[] = {0x08, 0x00, 0x00};
    mqttc_packet p;
    unsigned char buf[64];
    size_t n;
    CHECK_EQ_INT(decode_in_host(MQTTC_PUBLISH, plus, sizeof plus, &p), MQTTC_ERR_PROTOCOL);
    CHECK_EQ_INT(decode_in_host(MQTTC_PUBLISH, hash, sizeof hash, &p), MQTTC_ERR_PROTOCOL);
    CHECK_EQ_INT(decode_in_host(MQTTC_PROPS_WILL, plus, sizeof plus, &p), MQTTC_ERR_PROTOCOL);
    CHECK(decode_in_host(MQTTC_PUBLISH, empty, sizeof empty, &p) != MQTTC_OK); /* a topic name is 1+ bytes */
    mqttc_prop pr = mqttc_prop_str(MQTTC_PROP_RESPONSE_TOPIC, "a/#");
    mqttc_props list = list_props(&pr, 1);
    CHECK_EQ_INT(encode_host(MQTTC_PUBLISH, &list, buf, sizeof buf, &n), MQTTC_ERR_ARG);
    CHECK_EQ_INT(encode_host(MQTTC_PROPS_WILL, &list, buf, sizeof buf, &n), MQTTC_ERR_ARG);
    CHECK_EQ_INT(mqttc_props_check(&list, MQTTC_PROPS_WILL), MQTTC_ERR_ARG);
    pr = mqttc_prop_str(MQTTC_PROP_RESPONSE_TOPIC, "a/b");
    CHECK_EQ_INT(encode_host(MQTTC_PUBLISH, &list, buf, sizeof buf, &n), MQTTC_OK);
}

/* ---- CONNECT ---- */

/* The spec's CONNECT variable header example (§3.1.2.12, Figure 3-6: level 5, flags 0xCE,
   keep alive 10, Session Expiry Interval 10), completed with the payload in the order of
   [MQTT-3.1.3-1]: client id, will properties, will topic, will payload, user name, password. */
static const unsigned char connect_example[] = {
    0x10, 0x2E,                                     /* CONNECT, remaining 46 */
    0x00, 0x04, 'M', 'Q', 'T', 'T', 0x05,           /* protocol name, level 5 */
    0xCE,                                           /* user, password, will QoS 1, will, clean start */
    0x00, 0x0A,                                     /* keep alive 10 */
    0x05, 0x11, 0x00, 0x00, 0x00, 0x0A,             /* properties: Session Expiry Interval 10 */
    0x00, 0x02, 'i', 'd',                           /* client id */
    0x05, 0x18, 0x00, 0x00, 0x00, 0x1E,             /* will properties: Will Delay Interval 30 */
    0x00, 0x03, 'w', '/', 't',                      /* will topic */
    0x00, 0x03, 'b', 'y', 'e',                      /* will payload */
    0x00, 0x04, 'u', 's', 'e', 'r',                 /* user name */
    0x00, 0x02, 'p', 'w',                           /* password */
};

static void connect_example_info(mqttc_connect_info *ci, mqttc_prop *expiry, mqttc_prop *delay) {
    memset(ci, 0, sizeof *ci);
    *expiry = mqttc_prop_int(MQTTC_PROP_SESSION_EXPIRY, 10);
    *delay = mqttc_prop_int(MQTTC_PROP_WILL_DELAY, 30);
    ci->client_id = S("id");
    ci->clean_session = 1;
    ci->keepalive_s = 10;
    ci->will_topic = S("w/t");
    ci->will_payload = S("bye");
    ci->will_qos = 1;
    ci->username = S("user");
    ci->password = S("pw");
    ci->props = list_props(expiry, 1);
    ci->will_props = list_props(delay, 1);
}

TEST(mqtt_3_1_3_1_connect_with_properties_and_will_properties) {
    mqttc_connect_info ci;
    mqttc_prop expiry, delay;
    unsigned char buf[64];
    size_t n;
    mqttc_packet p;
    connect_example_info(&ci, &expiry, &delay);
    CHECK_EQ_INT(mqttc_encode_connect(buf, sizeof buf, V5, &ci, &n), MQTTC_OK);
    CHECK_BYTES(buf, n, connect_example);
    CHECK_EQ_INT(mqttc_encode_connect(buf, 20, V5, &ci, &n), MQTTC_ERR_NOSPACE);
    CHECK_EQ_INT(n, sizeof connect_example);
    /* the same from raw property bytes */
    ci.props = raw_props(connect_example + 13, 5);
    ci.will_props = raw_props(connect_example + 23, 5);
    CHECK_EQ_INT(mqttc_encode_connect(buf, sizeof buf, V5, &ci, &n), MQTTC_OK);
    CHECK_BYTES(buf, n, connect_example);
    CHECK_EQ_INT(DEC5(connect_example, &p), MQTTC_OK);
    CHECK_EQ_INT(p.type, MQTTC_CONNECT);
    CHECK_EQ_INT(p.connect.protocol_level, 5);
    CHECK(same_str(p.connect.protocol_name, S("MQTT")));
    CHECK_EQ_INT(p.connect.clean_session, 1);
    CHECK_EQ_INT(p.connect.keepalive_s, 10);
    CHECK(is_raw(&p.connect.props, connect_example + 13, 5));
    CHECK(same_str(p.connect.client_id, S("id")));
    CHECK(is_raw(&p.connect.will_props, connect_example + 23, 5));
    CHECK(same_str(p.connect.will_topic, S("w/t")) && same_str(p.connect.will_payload, S("bye")));
    CHECK_EQ_INT(p.connect.will_qos, 1);
    CHECK_EQ_INT(p.connect.will_retain, 0);
    CHECK(same_str(p.connect.username, S("user")) && same_str(p.connect.password, S("pw")));
    mqttc_prop got;
    CHECK(mqttc_props_get(&p.connect.will_props, MQTTC_PROP_WILL_DELAY, &got) == 1 && got.value == 30);
    /* every shorter prefix is incomplete, never an error */
    for (size_t k = 0; k < sizeof connect_example; k++) {
        size_t used;
        CHECK_EQ_INT(mqttc_decode(connect_example, k, 0, V5, &p, &used), MQTTC_MORE);
    }
}

/* A CONNECT is read by the protocol level it carries, whatever version the decoder is given:
   a broker learns the version from it (§3.1.2.2). */
TEST(mqtt_3_1_2_2_connect_read_by_its_level) {
    mqttc_packet p;
    size_t used;
    CHECK_EQ_INT(mqttc_decode(connect_example, sizeof connect_example, 0, MQTTC_PROTOCOL_311, &p, &used), MQTTC_OK);
    CHECK_EQ_INT(p.connect.protocol_level, 5);
    CHECK_EQ_INT(p.connect.props.len, 5);
    CHECK_EQ_INT(mqttc_decode(connect_example, sizeof connect_example, 0, 0, &p, &used), MQTTC_OK);
    CHECK_EQ_INT(p.connect.will_props.len, 5);
}

/* MQTT 5 allows a password without a user name (§3.1.2.9); 3.1.1 did not [MQTT-3.1.2-22]. */
TEST(v5_password_without_user_name) {
    static const unsigned char want[] = {0x10, 0x12, 0x00, 0x04, 'M', 'Q', 'T', 'T', 0x05, 0x42, 0x00, 0x3C,
                                         0x00, 0x00, 0x01, 'c', 0x00, 0x02, 'p', 'w'};
    static const unsigned char v311[] = {0x10, 0x11, 0x00, 0x04, 'M', 'Q', 'T', 'T', 0x04, 0x42, 0x00, 0x3C,
                                         0x00, 0x01, 'c', 0x00, 0x02, 'p', 'w'};
    mqttc_connect_info ci;
    unsigned char buf[64];
    size_t n, used;
    mqttc_packet p;
    memset(&ci, 0, sizeof ci);
    ci.client_id = S("c");
    ci.clean_session = 1;
    ci.keepalive_s = 60;
    ci.password = S("pw");
    CHECK_EQ_INT(mqttc_encode_connect(buf, sizeof buf, V5, &ci, &n), MQTTC_OK);
    CHECK_BYTES(buf, n, want);
    CHECK_EQ_INT(DEC5(want, &p), MQTTC_OK);
    CHECK(p.connect.username.ptr == NULL && same_str(p.connect.password, S("pw")));
    CHECK_EQ_INT(mqttc_encode_connect(buf, sizeof buf, MQTTC_PROTOCOL_311, &ci, &n), MQTTC_ERR_ARG);
    CHECK_EQ_INT(mqttc_decode(v311, sizeof v311, 0, MQTTC_PROTOCOL_311, &p, &used), MQTTC_ERR_MALFORMED);
}

/* MQTT 5 lets a client send an empty client id with Clean Start 0 (the server assigns one,
   §3.1.3.1); 3.1.1 did not [MQTT-3.1.3-7]. */
TEST(v5_empty_client_id_without_clean_start) {
    static const unsigned char want[] = {0x10, 0x0D, 0x00, 0x04, 'M', 'Q', 'T', 'T', 0x05, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00};
    mqttc_connect_info ci;
    unsigned char buf[32];
    size_t n;
    mqttc_packet p;
    memset(&ci, 0, sizeof ci);
    ci.client_id = S("");
    CHECK_EQ_INT(mqttc_encode_connect(buf, sizeof buf, V5, &ci, &n), MQTTC_OK);
    CHECK_BYTES(buf, n, want);
    CHECK_EQ_INT(DEC5(want, &p), MQTTC_OK);
    CHECK_EQ_INT(p.connect.clean_session, 0);
    CHECK_EQ_INT(mqttc_encode_connect(buf, sizeof buf, MQTTC_PROTOCOL_311, &ci, &n), MQTTC_ERR_ARG);
}

/* Will properties go with a will only [MQTT-3.1.2-9]; a will with no properties still has
   its property length. */
TEST(mqtt_3_1_2_9_will_properties_need_a_will) {
    static const unsigned char want[] = {0x10, 0x15, 0x00, 0x04, 'M', 'Q', 'T', 'T', 0x05, 0x06, 0x00, 0x00, 0x00,
                                         0x00, 0x01, 'c', 0x00, 0x00, 0x01, 'w', 0x00, 0x01, 'x'};
    mqttc_connect_info ci;
    unsigned char buf[64];
    size_t n;
    mqttc_prop delay = mqttc_prop_int(MQTTC_PROP_WILL_DELAY, 5);
    memset(&ci, 0, sizeof ci);
    ci.client_id = S("c");
    ci.clean_session = 1;
    ci.will_props = list_props(&delay, 1);
    CHECK_EQ_INT(mqttc_encode_connect(buf, sizeof buf, V5, &ci, &n), MQTTC_ERR_ARG);
    ci.will_props = no_props();
    ci.will_topic = S("w");
    ci.will_payload = S("x");
    CHECK_EQ_INT(mqttc_encode_connect(buf, sizeof buf, V5, &ci, &n), MQTTC_OK);
    CHECK_BYTES(buf, n, want);
}

/* A will that says its payload is UTF-8 (Payload Format Indicator 1) must have a UTF-8
   payload (§3.1.3.2.3), as a PUBLISH must (§3.3.2.3.2). */
TEST(will_payload_format_1_needs_utf8) {
    mqttc_connect_info ci;
    unsigned char buf[64];
    size_t n;
    mqttc_prop text = mqttc_prop_int(MQTTC_PROP_PAYLOAD_FORMAT, 1);
    memset(&ci, 0, sizeof ci);
    ci.client_id = S("c");
    ci.clean_session = 1;
    ci.will_topic = S("w");
    ci.will_payload = S("caf\xC3\xA9");
    ci.will_props = list_props(&text, 1);
    CHECK_EQ_INT(mqttc_encode_connect(buf, sizeof buf, V5, &ci, &n), MQTTC_OK);
    ci.will_payload = S("\xC0\x80");
    CHECK_EQ_INT(mqttc_encode_connect(buf, sizeof buf, V5, &ci, &n), MQTTC_ERR_ARG);
}

/* ---- CONNACK ---- */

/* A CONNACK with the limits a broker announces (§3.2.2.3), every CONNACK property once. */
static const unsigned char connack_limits[] = {
    0x20, 0x43, 0x01, 0x00, 0x40,                    /* session present, success, 64 bytes */
    0x11, 0x00, 0x00, 0x0E, 0x10,                    /* Session Expiry Interval 3600 */
    0x21, 0x00, 0x0A,                                /* Receive Maximum 10 */
    0x24, 0x01,                                      /* Maximum QoS 1 */
    0x25, 0x00,                                      /* Retain Available 0 */
    0x27, 0x00, 0x00, 0x04, 0x00,                    /* Maximum Packet Size 1024 */
    0x12, 0x00, 0x03, 'a', 'b', 'c',                 /* Assigned Client Identifier */
    0x22, 0x00, 0x05,                                /* Topic Alias Maximum 5 */
    0x1F, 0x00, 0x02, 'o', 'k',                      /* Reason String */
    0x26, 0x00, 0x01, 'k', 0x00, 0x01, 'v',          /* User Property */
    0x28, 0x00,                                      /* Wildcard Subscription Available 0 */
    0x29, 0x00,                                      /* Subscription Identifiers Available 0 */
    0x2A, 0x00,                                      /* Shared Subscription Available 0 */
    0x13, 0x00, 0x1E,                                /* Server Keep Alive 30 */
    0x1A, 0x00, 0x02, 'r', '/',                      /* Response Information */
    0x1C, 0x00, 0x01, 's',                           /* Server Reference */
    0x15, 0x00, 0x01, 'm',                           /* Authentication Method */
    0x16, 0x00, 0x01, 0x07,                          /* Authentication Data */
};

TEST(mqtt_3_2_2_3_connack_with_limits) {
    mqttc_prop pr[17];
    size_t k = 0, n, pos = 0;
    unsigned char buf[128];
    mqttc_packet p;
    pr[k++] = mqttc_prop_int(MQTTC_PROP_SESSION_EXPIRY, 3600);
    pr[k++] = mqttc_prop_int(MQTTC_PROP_RECEIVE_MAX, 10);
    pr[k++] = mqttc_prop_int(MQTTC_PROP_MAX_QOS, 1);
    pr[k++] = mqttc_prop_int(MQTTC_PROP_RETAIN_AVAILABLE, 0);
    pr[k++] = mqttc_prop_int(MQTTC_PROP_MAX_PACKET_SIZE, 1024);
    pr[k++] = mqttc_prop_str(MQTTC_PROP_ASSIGNED_CLIENT_ID, "abc");
    pr[k++] = mqttc_prop_int(MQTTC_PROP_TOPIC_ALIAS_MAX, 5);
    pr[k++] = mqttc_prop_str(MQTTC_PROP_REASON_STRING, "ok");
    pr[k++] = mqttc_prop_user("k", "v");
    pr[k++] = mqttc_prop_int(MQTTC_PROP_WILDCARD_SUB_AVAILABLE, 0);
    pr[k++] = mqttc_prop_int(MQTTC_PROP_SUB_ID_AVAILABLE, 0);
    pr[k++] = mqttc_prop_int(MQTTC_PROP_SHARED_SUB_AVAILABLE, 0);
    pr[k++] = mqttc_prop_int(MQTTC_PROP_SERVER_KEEP_ALIVE, 30);
    pr[k++] = mqttc_prop_str(MQTTC_PROP_RESPONSE_INFO, "r/");
    pr[k++] = mqttc_prop_str(MQTTC_PROP_SERVER_REFERENCE, "s");
    pr[k++] = mqttc_prop_str(MQTTC_PROP_AUTH_METHOD, "m");
    pr[k++] = mqttc_prop_bin(MQTTC_PROP_AUTH_DATA, "\x07", 1);
    mqttc_connack_info ca;
    memset(&ca, 0, sizeof ca);
    ca.session_present = 1;
    ca.props = list_props(pr, k);
    CHECK_EQ_INT(mqttc_props_size(&ca.props), 65);
    CHECK_EQ_INT(mqttc_encode_connack(buf, sizeof buf, V5, &ca, &n), MQTTC_OK);
    CHECK_BYTES(buf, n, connack_limits);
    CHECK_EQ_INT(mqttc_encode_connack(buf, 10, V5, &ca, &n), MQTTC_ERR_NOSPACE);
    CHECK_EQ_INT(n, sizeof connack_limits);
    CHECK_EQ_INT(DEC5(connack_limits, &p), MQTTC_OK);
    CHECK_EQ_INT(p.connack.session_present, 1);
    CHECK_EQ_INT(p.connack.reason_code, 0);
    CHECK(is_raw(&p.connack.props, connack_limits + 5, 64));
    for (size_t i = 0; i < k; i++) {
        mqttc_prop got;
        CHECK_EQ_INT(mqttc_props_next(&p.connack.props, &pos, &got), 1);
        CHECK_MSG(same_prop(&got, &pr[i]), "property %zu (0x%02X)", i, pr[i].id);
    }
    mqttc_prop last;
    CHECK_EQ_INT(mqttc_props_next(&p.connack.props, &pos, &last), 0);
    for (size_t j = 0; j < sizeof connack_limits; j++) {
        size_t used;
        CHECK_EQ_INT(mqttc_decode(connack_limits, j, 0, V5, &p, &used), MQTTC_MORE);
    }
}

/* The smallest CONNACK of MQTT 5 has its property length (§3.2.2.3.1); a refusal is a
   reason code of 0x80 or more; the acknowledge flags' reserved bits are 0 [MQTT-3.2.2-1]. */
TEST(mqtt_3_2_2_1_connack_forms) {
    static const unsigned char ok[] = {0x20, 0x03, 0x00, 0x00, 0x00};
    static const unsigned char refused[] = {0x20, 0x03, 0x00, 0x87, 0x00};
    static const unsigned char flags[] = {0x20, 0x03, 0x02, 0x00, 0x00}; /* reserved bit [MQTT-3.2.2-1] */
    static const unsigned char trailing[] = {0x20, 0x04, 0x00, 0x00, 0x00, 0x00};
    mqttc_connack_info ca;
    unsigned char buf[16];
    size_t n;
    mqttc_packet p;
    memset(&ca, 0, sizeof ca);
    CHECK_EQ_INT(mqttc_encode_connack(buf, sizeof buf, V5, &ca, &n), MQTTC_OK);
    CHECK_BYTES(buf, n, ok);
    ca.reason_code = MQTTC_RC_NOT_AUTHORIZED;
    CHECK_EQ_INT(mqttc_encode_connack(buf, sizeof buf, V5, &ca, &n), MQTTC_OK);
    CHECK_BYTES(buf, n, refused);
    CHECK_EQ_INT(DEC5(refused, &p), MQTTC_OK);
    CHECK_EQ_INT(p.connack.reason_code, 0x87);
    CHECK_EQ_INT(p.connack.session_present, 0);
    CHECK_EQ_INT(DEC5(flags, &p), MQTTC_ERR_MALFORMED);
    CHECK_EQ_INT(DEC5(trailing, &p), MQTTC_ERR_MALFORMED);
}

/* ---- reason codes of each packet (§2.4, Table 2-6): every byte tried ---- */

static void put_reason_string(unsigned char **p) {
    static const unsigned char rs[] = {0x04, 0x1F, 0x00, 0x01, 'r'}; /* length 4: Reason String "r" */
    memcpy(*p, rs, sizeof rs);
    *p += sizeof rs;
}

/* Decodes a packet of `type` with reason code `code` in its shortest form with the code,
   and encodes one with a Reason String (so the form is not the question here); both must
   take exactly the codes of `valid` (from the spec's table) and refuse the others. */
static void reason_sweep(int type, const unsigned char *valid, size_t count) {
    mqttc_prop reason = mqttc_prop_str(MQTTC_PROP_REASON_STRING, "r");
    mqttc_props rs = list_props(&reason, 1);
    unsigned char first = (unsigned char)(type << 4 | (type == MQTTC_PUBREL ? 2 : 0));
    for (int code = 0; code < 256; code++) {
        int ok = memchr(valid, code, count) != NULL, rc, got_code = -1;
        unsigned char in[8], want[16], buf[32], c = (unsigned char)code, one[1] = {c}, *p = want;
        size_t n_in = 0, n = 0;
        mqttc_packet pk;
        /* the decoder's input */
        in[n_in++] = first;
        switch (type) {
        case MQTTC_CONNACK: in[n_in++] = 3, in[n_in++] = 0, in[n_in++] = c, in[n_in++] = 0; break;
        case MQTTC_SUBACK: case MQTTC_UNSUBACK: in[n_in++] = 4, in[n_in++] = 0, in[n_in++] = 1, in[n_in++] = 0, in[n_in++] = c; break;
        case MQTTC_DISCONNECT: in[n_in++] = 1, in[n_in++] = c; break;
        case MQTTC_AUTH: in[n_in++] = 2, in[n_in++] = c, in[n_in++] = 0; break;
        default: in[n_in++] = 3, in[n_in++] = 0, in[n_in++] = 1, in[n_in++] = c; break; /* acks */
        }
        rc = dec5(in, n_in, &pk);
        if (rc == MQTTC_OK) {
            switch (type) {
            case MQTTC_CONNACK: got_code = pk.connack.reason_code; break;
            case MQTTC_SUBACK: got_code = pk.suback.count == 1 ? pk.suback.codes[0] : -1; break;
            case MQTTC_UNSUBACK: got_code = pk.ack.count == 1 && pk.ack.codes[0] == c ? pk.ack.reason_code : -1; break;
            case MQTTC_DISCONNECT: got_code = pk.disconnect.reason_code; break;
            case MQTTC_AUTH: got_code = pk.auth.reason_code; break;
            default: got_code = pk.ack.reason_code; break;
            }
        }
        CHECK_MSG(ok ? rc == MQTTC_OK && got_code == code : rc == MQTTC_ERR_MALFORMED, "packet %d, code 0x%02X: decode %s",
                  type, code, mqttc_errname(rc));
        /* the encoder's output: the code and a Reason String */
        *p++ = first;
        *p++ = 0; /* remaining length, below */
        switch (type) {
        case MQTTC_CONNACK: {
            mqttc_connack_info ca;
            memset(&ca, 0, sizeof ca);
            ca.reason_code = code;
            ca.props = rs;
            rc = mqttc_encode_connack(buf, sizeof buf, V5, &ca, &n);
            *p++ = 0, *p++ = c, put_reason_string(&p);
            break;
        }
        case MQTTC_SUBACK: {
            mqttc_suback_info sa;
            memset(&sa, 0, sizeof sa);
            sa.packet_id = 1;
            sa.codes = one;
            sa.count = 1;
            sa.props = rs;
            rc = mqttc_encode_suback(buf, sizeof buf, V5, &sa, &n);
            *p++ = 0, *p++ = 1, put_reason_string(&p), *p++ = c;
            break;
        }
        case MQTTC_DISCONNECT: {
            mqttc_disconnect_info di;
            memset(&di, 0, sizeof di);
            di.reason_code = code;
            di.props = rs;
            rc = mqttc_encode_disconnect(buf, sizeof buf, V5, &di, &n);
            *p++ = c, put_reason_string(&p);
            break;
        }
        case MQTTC_AUTH: {
            mqttc_auth_info ai;
            memset(&ai, 0, sizeof ai);
            ai.reason_code = code;
            ai.props = rs;
            rc = mqttc_encode_auth(buf, sizeof buf, V5, &ai, &n);
            *p++ = c, put_reason_string(&p);
            break;
        }
        default: { /* the acks and UNSUBACK (its code in codes[]) */
            mqttc_ack_info ai;
            memset(&ai, 0, sizeof ai);
            ai.type = type;
            ai.packet_id = 1;
            ai.reason_code = code;
            ai.codes = one;
            ai.count = 1;
            ai.props = rs;
            rc = mqttc_encode_ack(buf, sizeof buf, V5, &ai, &n);
            *p++ = 0, *p++ = 1;
            if (type == MQTTC_UNSUBACK) put_reason_string(&p), *p++ = c;
            else *p++ = c, put_reason_string(&p);
            break;
        }
        }
        want[1] = (unsigned char)(p - want - 2);
        CHECK_MSG(ok ? rc == MQTTC_OK : rc == MQTTC_ERR_ARG, "packet %d, code 0x%02X: encode %s", type, code,
                  mqttc_errname(rc));
        if (ok && rc == MQTTC_OK) CHECK(same_bytes(buf, n, want, (size_t)(p - want)));
    }
}

TEST(mqtt_3_2_2_2_connack_reason_codes) {
    static const unsigned char valid[] = {0x00, 0x80, 0x81, 0x82, 0x83, 0x84, 0x85, 0x86, 0x87, 0x88, 0x89,
                                          0x8A, 0x8C, 0x90, 0x95, 0x97, 0x99, 0x9A, 0x9B, 0x9C, 0x9D, 0x9F};
    reason_sweep(MQTTC_CONNACK, valid, sizeof valid);
}

TEST(mqtt_3_4_2_1_mqtt_3_5_2_1_puback_pubrec_reason_codes) {
    static const unsigned char valid[] = {0x00, 0x10, 0x80, 0x83, 0x87, 0x90, 0x91, 0x97, 0x99};
    reason_sweep(MQTTC_PUBACK, valid, sizeof valid);
    reason_sweep(MQTTC_PUBREC, valid, sizeof valid);
}

TEST(mqtt_3_6_2_1_mqtt_3_7_2_1_pubrel_pubcomp_reason_codes) {
    static const unsigned char valid[] = {0x00, 0x92};
    reason_sweep(MQTTC_PUBREL, valid, sizeof valid);
    reason_sweep(MQTTC_PUBCOMP, valid, sizeof valid);
}

TEST(mqtt_3_9_3_2_suback_reason_codes) {
    static const unsigned char valid[] = {0x00, 0x01, 0x02, 0x80, 0x83, 0x87, 0x8F, 0x91, 0x97, 0x9E, 0xA1, 0xA2};
    reason_sweep(MQTTC_SUBACK, valid, sizeof valid);
}

TEST(mqtt_3_11_3_2_unsuback_reason_codes) {
    static const unsigned char valid[] = {0x00, 0x11, 0x80, 0x83, 0x87, 0x8F, 0x91};
    reason_sweep(MQTTC_UNSUBACK, valid, sizeof valid);
}

TEST(mqtt_3_14_2_1_disconnect_reason_codes) {
    static const unsigned char valid[] = {0x00, 0x04, 0x80, 0x81, 0x82, 0x83, 0x87, 0x89, 0x8B, 0x8C, 0x8D, 0x8E, 0x8F, 0x90, 0x93,
                                          0x94, 0x95, 0x96, 0x97, 0x98, 0x99, 0x9A, 0x9B, 0x9C, 0x9D, 0x9E, 0x9F, 0xA0, 0xA1, 0xA2};
    reason_sweep(MQTTC_DISCONNECT, valid, sizeof valid);
}

TEST(mqtt_3_15_2_1_auth_reason_codes) {
    static const unsigned char valid[] = {0x00, 0x18, 0x19};
    reason_sweep(MQTTC_AUTH, valid, sizeof valid);
}

/* ---- PUBLISH ---- */

/* §3.3.2.3: QoS 1 with the message properties, then the payload. */
TEST(mqtt_3_3_2_3_publish_with_properties) {
    static const unsigned char want[] = {
        0x32, 0x2A,                                 /* PUBLISH QoS 1, remaining 42 */
        0x00, 0x03, 'a', '/', 'b', 0x00, 0x0A,      /* topic, packet id 10 */
        0x20,                                       /* 32 bytes of properties */
        0x01, 0x01,                                 /* Payload Format Indicator: UTF-8 */
        0x02, 0x00, 0x00, 0x00, 0x3C,               /* Message Expiry Interval 60 */
        0x03, 0x00, 0x04, 't', 'e', 'x', 't',       /* Content Type */
        0x08, 0x00, 0x03, 'r', '/', '1',            /* Response Topic */
        0x09, 0x00, 0x02, 0x01, 0x02,               /* Correlation Data */
        0x26, 0x00, 0x01, 'k', 0x00, 0x01, 'v',     /* User Property */
        'h', 'i',                                   /* payload */
    };
    mqttc_prop pr[6];
    mqttc_publish_info pi;
    unsigned char buf[64];
    size_t n;
    mqttc_packet p;
    pr[0] = mqttc_prop_int(MQTTC_PROP_PAYLOAD_FORMAT, 1);
    pr[1] = mqttc_prop_int(MQTTC_PROP_MESSAGE_EXPIRY, 60);
    pr[2] = mqttc_prop_str(MQTTC_PROP_CONTENT_TYPE, "text");
    pr[3] = mqttc_prop_str(MQTTC_PROP_RESPONSE_TOPIC, "r/1");
    pr[4] = mqttc_prop_bin(MQTTC_PROP_CORRELATION_DATA, "\x01\x02", 2);
    pr[5] = mqttc_prop_user("k", "v");
    memset(&pi, 0, sizeof pi);
    pi.topic = "a/b";
    pi.topic_len = 3;
    pi.payload = "hi";
    pi.payload_len = 2;
    pi.qos = 1;
    pi.packet_id = 10;
    pi.props = list_props(pr, 6);
    CHECK_EQ_INT(mqttc_encode_publish(buf, sizeof buf, V5, &pi, &n), MQTTC_OK);
    CHECK_BYTES(buf, n, want);
    CHECK_EQ_INT(DEC5(want, &p), MQTTC_OK);
    CHECK_EQ_INT(p.publish.qos, 1);
    CHECK_EQ_INT(p.publish.packet_id, 10);
    CHECK(p.publish.topic_len == 3 && memcmp(p.publish.topic, "a/b", 3) == 0);
    CHECK(is_raw(&p.publish.props, want + 10, 32));
    CHECK(p.publish.payload_len == 2 && memcmp(p.publish.payload, "hi", 2) == 0);
    /* a QoS 0 PUBLISH with no properties: property length 0 */
    static const unsigned char q0[] = {0x31, 0x05, 0x00, 0x01, 't', 0x00, 'x'};
    memset(&pi, 0, sizeof pi);
    pi.topic = "t";
    pi.topic_len = 1;
    pi.payload = "x";
    pi.payload_len = 1;
    pi.retain = 1;
    CHECK_EQ_INT(mqttc_encode_publish(buf, sizeof buf, V5, &pi, &n), MQTTC_OK);
    CHECK_BYTES(buf, n, q0);
    CHECK_EQ_INT(DEC5(q0, &p), MQTTC_OK);
    CHECK_EQ_INT(p.publish.retain, 1);
    CHECK_EQ_INT(p.publish.props.len, 0);
}

/* An empty topic name is allowed with a Topic Alias (§3.3.2.3.4), a Protocol Error without
   one (§3.3.2.1); Topic Alias 0 is never sent [MQTT-3.3.2-8] (read, it is the client's to
   refuse with 0x94). */
TEST(mqtt_3_3_2_8_empty_topic_and_topic_alias) {
    static const unsigned char aliased[] = {0x30, 0x07, 0x00, 0x00, 0x03, 0x23, 0x00, 0x05, 'x'};
    static const unsigned char bare[] = {0x30, 0x04, 0x00, 0x00, 0x00, 'x'};
    static const unsigned char alias0[] = {0x30, 0x07, 0x00, 0x00, 0x03, 0x23, 0x00, 0x00, 'x'};
    static const unsigned char v311[] = {0x30, 0x03, 0x00, 0x00, 'x'};
    mqttc_prop alias = mqttc_prop_int(MQTTC_PROP_TOPIC_ALIAS, 5), got;
    mqttc_publish_info pi;
    unsigned char buf[32];
    size_t n, used;
    mqttc_packet p;
    memset(&pi, 0, sizeof pi);
    pi.topic = "";
    pi.payload = "x";
    pi.payload_len = 1;
    pi.props = list_props(&alias, 1);
    CHECK_EQ_INT(mqttc_encode_publish(buf, sizeof buf, V5, &pi, &n), MQTTC_OK);
    CHECK_BYTES(buf, n, aliased);
    CHECK_EQ_INT(DEC5(aliased, &p), MQTTC_OK);
    CHECK_EQ_INT(p.publish.topic_len, 0);
    CHECK(mqttc_props_get(&p.publish.props, MQTTC_PROP_TOPIC_ALIAS, &got) == 1 && got.value == 5);
    CHECK_EQ_INT(DEC5(bare, &p), MQTTC_ERR_PROTOCOL);
    CHECK_EQ_INT(DEC5(alias0, &p), MQTTC_OK);
    CHECK_EQ_INT(p.publish.topic_len, 0);
    pi.props = no_props();
    CHECK_EQ_INT(mqttc_encode_publish(buf, sizeof buf, V5, &pi, &n), MQTTC_ERR_ARG);
    alias.value = 0;
    pi.props = list_props(&alias, 1);
    CHECK_EQ_INT(mqttc_encode_publish(buf, sizeof buf, V5, &pi, &n), MQTTC_ERR_ARG);
    /* 3.1.1 has no aliases: an empty topic is malformed there [MQTT-4.7.3-1] */
    CHECK_EQ_INT(mqttc_decode(v311, sizeof v311, 0, MQTTC_PROTOCOL_311, &p, &used), MQTTC_ERR_MALFORMED);
}

/* A payload that says it is UTF-8 (Payload Format Indicator 1) must be well-formed UTF-8
   (§3.3.2.3.2): the encoder refuses one that is not; 0 (bytes) takes anything. The receiver
   MAY check (and answer PUBACK 0x99): the decoder leaves that to the client. */
TEST(mqtt_3_3_2_3_2_payload_format_1_needs_utf8) {
    static const unsigned char raw_text[] = {0x01, 0x01};
    mqttc_prop text = mqttc_prop_int(MQTTC_PROP_PAYLOAD_FORMAT, 1);
    mqttc_publish_info pi;
    unsigned char buf[32];
    size_t n;
    mqttc_packet p;
    memset(&pi, 0, sizeof pi);
    pi.topic = "t";
    pi.topic_len = 1;
    pi.props = list_props(&text, 1);
    pi.payload = "caf\xC3\xA9";
    pi.payload_len = 5;
    CHECK_EQ_INT(mqttc_encode_publish(buf, sizeof buf, V5, &pi, &n), MQTTC_OK);
    static const char *const bad[] = {"\xC0\x80", "\xED\xA0\x80", "a\xFF", "\xE2\x82"};
    for (size_t i = 0; i < COUNT(bad); i++) {
        pi.payload = bad[i];
        pi.payload_len = strlen(bad[i]);
        pi.props = list_props(&text, 1);
        CHECK_MSG(mqttc_encode_publish(buf, sizeof buf, V5, &pi, &n) == MQTTC_ERR_ARG, "payload %zu", i);
        pi.props = raw_props(raw_text, sizeof raw_text);
        CHECK_MSG(mqttc_encode_publish(buf, sizeof buf, V5, &pi, &n) == MQTTC_ERR_ARG, "payload %zu, raw", i);
        text.value = 0;
        pi.props = list_props(&text, 1);
        CHECK_EQ_INT(mqttc_encode_publish(buf, sizeof buf, V5, &pi, &n), MQTTC_OK);
        text.value = 1;
    }
    pi.payload = "\x00"; /* U+0000 is not allowed in UTF-8 Encoded Strings, but a payload is
                           UTF-8 Encoded Character Data: the checker is the strings' */
    pi.payload_len = 1;
    pi.props = no_props();
    CHECK_EQ_INT(mqttc_encode_publish(buf, sizeof buf, V5, &pi, &n), MQTTC_OK);
    static const unsigned char received[] = {0x30, 0x07, 0x00, 0x01, 't', 0x02, 0x01, 0x01, 0xFF};
    CHECK_EQ_INT(DEC5(received, &p), MQTTC_OK);
}

/* ---- PUBACK, PUBREC, PUBREL, PUBCOMP ---- */

static const struct { int type; unsigned char first, code; } ack_types[] = {
    {MQTTC_PUBACK, 0x40, 0x10}, {MQTTC_PUBREC, 0x50, 0x10}, {MQTTC_PUBREL, 0x62, 0x92}, {MQTTC_PUBCOMP, 0x70, 0x92},
};

/* All the forms a receiver must parse (§3.4.2.1, §3.4.2.2.1): remaining length 2 (success,
   no properties), 3 (a reason code), 4 (code and an empty property length), and with
   properties. PUBREL keeps its flags 0010 [MQTT-3.6.1-1]. */
TEST(mqtt_3_4_2_1_acks_decode_every_form) {
    for (size_t i = 0; i < COUNT(ack_types); i++) {
        unsigned char f = ack_types[i].first, c = ack_types[i].code;
        const unsigned char two[] = {f, 0x02, 0x00, 0x07};
        const unsigned char three[] = {f, 0x03, 0x00, 0x07, c};
        const unsigned char four[] = {f, 0x04, 0x00, 0x07, c, 0x00};
        const unsigned char four0[] = {f, 0x04, 0x00, 0x07, 0x00, 0x00};
        const unsigned char full[] = {f, 0x0B, 0x00, 0x07, c, 0x07, 0x1F, 0x00, 0x04, 'o', 'o', 'p', 's'};
        const unsigned char bad_flags[] = {(unsigned char)(f ^ 0x02), 0x02, 0x00, 0x07};
        mqttc_packet p;
        mqttc_prop got;
        CHECK_EQ_INT(DEC5(two, &p), MQTTC_OK);
        CHECK(p.type == ack_types[i].type && p.ack.type == ack_types[i].type && p.ack.packet_id == 7);
        CHECK(p.ack.reason_code == 0 && p.ack.props.len == 0);
        CHECK_EQ_INT(DEC5(three, &p), MQTTC_OK);
        CHECK(p.ack.reason_code == c && p.ack.props.len == 0);
        CHECK_EQ_INT(DEC5(four, &p), MQTTC_OK);
        CHECK(p.ack.reason_code == c && p.ack.props.len == 0);
        CHECK_EQ_INT(DEC5(four0, &p), MQTTC_OK);
        CHECK_EQ_INT(p.ack.reason_code, 0);
        CHECK_EQ_INT(DEC5(full, &p), MQTTC_OK);
        CHECK_EQ_INT(p.ack.reason_code, c);
        CHECK(mqttc_props_get(&p.ack.props, MQTTC_PROP_REASON_STRING, &got) == 1 && same_str(got.str, S("oops")));
        CHECK_EQ_INT(DEC5(bad_flags, &p), MQTTC_ERR_MALFORMED); /* [MQTT-2.2.2-2] */
    }
}

/* With properties the encoder writes the full form. */
TEST(mqtt_3_4_2_2_acks_encode_with_properties) {
    for (size_t i = 0; i < COUNT(ack_types); i++) {
        unsigned char f = ack_types[i].first, c = ack_types[i].code, buf[32];
        const unsigned char full[] = {f, 0x0B, 0x00, 0x07, c, 0x07, 0x1F, 0x00, 0x04, 'o', 'o', 'p', 's'};
        const unsigned char full0[] = {f, 0x0B, 0x00, 0x07, 0x00, 0x07, 0x1F, 0x00, 0x04, 'o', 'o', 'p', 's'};
        mqttc_prop reason = mqttc_prop_str(MQTTC_PROP_REASON_STRING, "oops");
        mqttc_ack_info ai;
        size_t n;
        memset(&ai, 0, sizeof ai);
        ai.type = ack_types[i].type;
        ai.packet_id = 7;
        ai.reason_code = c;
        ai.props = list_props(&reason, 1);
        CHECK_EQ_INT(mqttc_encode_ack(buf, sizeof buf, V5, &ai, &n), MQTTC_OK);
        CHECK_BYTES(buf, n, full);
        ai.reason_code = 0;
        CHECK_EQ_INT(mqttc_encode_ack(buf, sizeof buf, V5, &ai, &n), MQTTC_OK);
        CHECK_BYTES(buf, n, full0);
    }
}

/* The encoder picks the short forms (header: "An MQTT 5 ack with reason 0 and no properties
   takes the short form (remaining length 2), and with no properties 3"; §3.4.2.1: "The
   Reason Code and Property Length can be omitted if the Reason Code is 0x00 (Success) and
   there are no Properties"). */
TEST(mqtt_3_4_2_1_acks_encode_the_short_forms) {
    for (size_t i = 0; i < COUNT(ack_types); i++) {
        unsigned char f = ack_types[i].first, c = ack_types[i].code, buf[16];
        const unsigned char two[] = {f, 0x02, 0x00, 0x07};
        const unsigned char three[] = {f, 0x03, 0x00, 0x07, c};
        mqttc_ack_info ai;
        size_t n;
        memset(&ai, 0, sizeof ai);
        ai.type = ack_types[i].type;
        ai.packet_id = 7;
        CHECK_EQ_INT(mqttc_encode_ack(buf, sizeof buf, V5, &ai, &n), MQTTC_OK);
        CHECK_BYTES(buf, n, two);
        ai.reason_code = c;
        CHECK_EQ_INT(mqttc_encode_ack(buf, sizeof buf, V5, &ai, &n), MQTTC_OK);
        CHECK_BYTES(buf, n, three);
    }
}

/* ---- SUBSCRIBE, SUBACK, UNSUBSCRIBE, UNSUBACK ---- */

static int enc_subscribe5(unsigned char *buf, size_t cap, const char *const *filters, const unsigned char *options,
                          size_t count, const mqttc_props *ps, size_t *n) {
    mqttc_subscribe_info si;
    memset(&si, 0, sizeof si);
    si.packet_id = 10;
    si.filters = filters;
    si.options = options;
    si.count = count;
    if (ps) si.props = *ps;
    return mqttc_encode_subscribe(buf, cap, V5, &si, n);
}

/* A SUBSCRIBE of one filter with options byte o, by hand: id 10, no properties. */
static size_t hand_subscribe(const char *filter, unsigned o, unsigned char *out) {
    size_t len = strlen(filter);
    out[0] = 0x82;
    out[1] = (unsigned char)(2 + 1 + 2 + len + 1);
    out[2] = 0x00, out[3] = 0x0A, out[4] = 0x00;
    out[5] = 0x00, out[6] = (unsigned char)len;
    memcpy(out + 7, filter, len);
    out[7 + len] = (unsigned char)o;
    return 8 + len;
}

/* §3.8.3.1: each filter's options byte: Maximum QoS (bits 0-1), No Local (2), Retain As
   Published (3), Retain Handling (4-5); a Subscription Identifier in the properties. */
TEST(mqtt_3_8_3_1_subscribe_options) {
    static const unsigned char want[] = {
        0x82, 0x1E, 0x00, 0x0A,                         /* SUBSCRIBE, remaining 30, id 10 */
        0x02, 0x0B, 0x05,                               /* Subscription Identifier 5 */
        0x00, 0x03, 'a', '/', 'b', 0x2D,                /* QoS 1, No Local, RAP, Retain Handling 2 */
        0x00, 0x03, 'c', '/', 'd', 0x12,                /* QoS 2, Retain Handling 1 */
        0x00, 0x0A, '$', 's', 'h', 'a', 'r', 'e', '/', 'g', '/', 'x', 0x08, /* QoS 0, RAP */
    };
    static const char *const filters[] = {"a/b", "c/d", "$share/g/x"};
    const unsigned char options[] = {(unsigned char)(1 | MQTTC_SUB_NO_LOCAL | MQTTC_SUB_RETAIN_AS_PUBLISHED |
                                                     MQTTC_SUB_RETAIN_HANDLING(2)),
                                     (unsigned char)(2 | MQTTC_SUB_RETAIN_HANDLING(1)),
                                     (unsigned char)MQTTC_SUB_RETAIN_AS_PUBLISHED};
    mqttc_prop id = mqttc_prop_int(MQTTC_PROP_SUBSCRIPTION_ID, 5);
    mqttc_props ps = list_props(&id, 1);
    unsigned char buf[64];
    size_t n, pos = 0;
    mqttc_packet p;
    mqttc_str f;
    int o;
    CHECK_EQ_INT(enc_subscribe5(buf, sizeof buf, filters, options, 3, &ps, &n), MQTTC_OK);
    CHECK_BYTES(buf, n, want);
    CHECK_EQ_INT(DEC5(want, &p), MQTTC_OK);
    CHECK_EQ_INT(p.subscribe.packet_id, 10);
    CHECK_EQ_INT(p.subscribe.count, 3);
    CHECK(is_raw(&p.subscribe.props, want + 5, 2));
    for (size_t i = 0; i < 3; i++) {
        CHECK(mqttc_next_filter(&p.subscribe, &pos, &f, &o) == 1 && same_str(f, S(filters[i])) && o == options[i]);
    }
    CHECK_EQ_INT(mqttc_next_filter(&p.subscribe, &pos, &f, &o), 0);
}

/* The spec's SUBSCRIBE example (Figures 3-19 and 3-21): packet id 10, no properties; "a/b"
   with options 1, "c/d" with options 2. */
TEST(mqtt_3_8_3_subscribe_spec_example) {
    static const unsigned char want[] = {0x82, 0x0F, 0x00, 0x0A, 0x00, 0x00, 0x03, 'a', '/', 'b', 0x01,
                                         0x00, 0x03, 'c', '/', 'd', 0x02};
    static const char *const filters[] = {"a/b", "c/d"};
    static const unsigned char options[] = {1, 2};
    unsigned char buf[32];
    size_t n;
    mqttc_packet p;
    CHECK_EQ_INT(enc_subscribe5(buf, sizeof buf, filters, options, 2, NULL, &n), MQTTC_OK);
    CHECK_BYTES(buf, n, want);
    CHECK_EQ_INT(DEC5(want, &p), MQTTC_OK);
    CHECK(p.subscribe.count == 2 && p.subscribe.props.len == 0);
}

/* Every options byte: accepted when QoS <= 2, Retain Handling <= 2 and the reserved bits 6-7
   are 0; refused otherwise, reserved bits as malformed [MQTT-3.8.3-5]. */
TEST(mqtt_3_8_3_5_every_options_byte) {
    for (unsigned o = 0; o < 256; o++) {
        int ok = (o & 3) != 3 && ((o >> 4) & 3) != 3 && (o & 0xC0) == 0, rc;
        const char *const filters[1] = {"a/b"};
        unsigned char opt[1] = {(unsigned char)o}, want[32], buf[32];
        size_t wn = hand_subscribe("a/b", o, want), n;
        mqttc_packet p;
        rc = enc_subscribe5(buf, sizeof buf, filters, opt, 1, NULL, &n);
        CHECK_MSG(rc == (ok ? MQTTC_OK : MQTTC_ERR_ARG), "options 0x%02X: encode %s", o, mqttc_errname(rc));
        if (ok && rc == MQTTC_OK) CHECK(same_bytes(buf, n, want, wn));
        rc = dec5(want, wn, &p);
        if (ok) CHECK_MSG(rc == MQTTC_OK, "options 0x%02X: decode %s", o, mqttc_errname(rc));
        else if (o & 0xC0) CHECK_MSG(rc == MQTTC_ERR_MALFORMED, "options 0x%02X: decode %s", o, mqttc_errname(rc));
        else CHECK_MSG(rc != MQTTC_OK, "options 0x%02X: decode %s", o, mqttc_errname(rc));
    }
}

/* No Local on a shared subscription is a Protocol Error [MQTT-3.8.3-4]: the encoder refuses
   it and the decoder does not take it. */
TEST(mqtt_3_8_3_4_no_local_on_shared) {
    const char *const shared[1] = {"$share/g/a/b"};
    const char *const plain[1] = {"a/b"};
    unsigned char nl[1] = {MQTTC_SUB_NO_LOCAL | 1}, none[1] = {1}, buf[32], want[32];
    size_t n;
    mqttc_packet p;
    CHECK_EQ_INT(enc_subscribe5(buf, sizeof buf, shared, nl, 1, NULL, &n), MQTTC_ERR_ARG);
    CHECK_EQ_INT(enc_subscribe5(buf, sizeof buf, shared, none, 1, NULL, &n), MQTTC_OK);
    CHECK_EQ_INT(enc_subscribe5(buf, sizeof buf, plain, nl, 1, NULL, &n), MQTTC_OK);
    CHECK(dec5(want, hand_subscribe("$share/g/a/b", nl[0], want), &p) != MQTTC_OK);
    CHECK_EQ_INT(dec5(want, hand_subscribe("$share/g/a/b", none[0], want), &p), MQTTC_OK);
    CHECK_EQ_INT(dec5(want, hand_subscribe("a/b", nl[0], want), &p), MQTTC_OK);
}

/* What the spec calls Protocol Errors in SUBSCRIBE and UNSUBSCRIBE, not malformed packets
   (§3.8.3, §3.8.3.1, §3.10.3): Maximum QoS 3 ("It is a Protocol Error if the Maximum QoS
   field has the value 3"), Retain Handling 3 ("It is a Protocol Error to send a Retain
   Handling value of 3"), No Local on a shared filter [MQTT-3.8.3-4], no filter at all
   ([MQTT-3.8.3-2]: "A SUBSCRIBE packet with no Payload is a Protocol Error"; [MQTT-3.10.3-2]
   the same for UNSUBSCRIBE). mqttc_decode documents MQTTC_ERR_PROTOCOL for what is
   well-formed but not allowed, which a receiver answers with 0x82 rather than 0x81. */
TEST(mqtt_3_8_3_2_mqtt_3_8_3_4_protocol_errors_in_subscribe) {
    static const unsigned char no_filter[] = {0x82, 0x03, 0x00, 0x0A, 0x00};
    static const unsigned char no_unsub_filter[] = {0xA2, 0x03, 0x00, 0x0A, 0x00};
    unsigned char want[32];
    mqttc_packet p;
    CHECK_EQ_INT(dec5(want, hand_subscribe("a/b", 0x03, want), &p), MQTTC_ERR_PROTOCOL);
    CHECK_EQ_INT(dec5(want, hand_subscribe("a/b", 0x30, want), &p), MQTTC_ERR_PROTOCOL);
    CHECK_EQ_INT(dec5(want, hand_subscribe("$share/g/a", 0x04, want), &p), MQTTC_ERR_PROTOCOL);
    CHECK_EQ_INT(DEC5(no_filter, &p), MQTTC_ERR_PROTOCOL);
    CHECK_EQ_INT(DEC5(no_unsub_filter, &p), MQTTC_ERR_PROTOCOL);
}

/* A shared filter is `$share/{ShareName}/{filter}`: a ShareName of one or more characters
   without `/ + #` [MQTT-4.8.2-1], then `/` and a filter [MQTT-4.8.2-2]. Other `$share`
   look-alikes are plain filters. */
TEST(mqtt_4_8_2_1_mqtt_4_8_2_2_shared_filter_syntax) {
    static const char *const good[] = {"$share/g/a", "$share/group/+/b", "$share/g/#", "$share/g//", "$sharex/a",
                                       "$SHARE/g", "$share"};
    static const char *const bad[] = {"$share//a", "$share/g", "$share/g/", "$share/g+/a", "$share/+/a", "$share/#",
                                      "$share/"};
    unsigned char buf[64], want[64], zero[1] = {0};
    size_t n;
    mqttc_packet p;
    for (size_t i = 0; i < COUNT(good); i++) {
        const char *const f[1] = {good[i]};
        CHECK_MSG(enc_subscribe5(buf, sizeof buf, f, zero, 1, NULL, &n) == MQTTC_OK, "%s", good[i]);
        CHECK_MSG(dec5(want, hand_subscribe(good[i], 0, want), &p) == MQTTC_OK, "%s", good[i]);
    }
    for (size_t i = 0; i < COUNT(bad); i++) {
        const char *const f[1] = {bad[i]};
        mqttc_subscribe_info si;
        memset(&si, 0, sizeof si);
        si.packet_id = 10;
        si.filters = f;
        si.count = 1;
        CHECK_MSG(enc_subscribe5(buf, sizeof buf, f, zero, 1, NULL, &n) == MQTTC_ERR_ARG, "%s", bad[i]);
        CHECK_MSG(mqttc_encode_unsubscribe(buf, sizeof buf, V5, &si, &n) == MQTTC_ERR_ARG, "unsubscribe %s", bad[i]);
        CHECK_MSG(dec5(want, hand_subscribe(bad[i], 0, want), &p) != MQTTC_OK, "%s", bad[i]);
    }
    static const unsigned char bad_unsub[] = {0xA2, 0x0D, 0x00, 0x0A, 0x00, 0x00, 0x08,
                                              '$', 's', 'h', 'a', 'r', 'e', '/', 'g'};
    CHECK(DEC5(bad_unsub, &p) != MQTTC_OK);
}

/* In 3.1.1 there are no shared subscriptions: `$share/x` is an ordinary filter. Whatever the
   codec makes of it, its decoder and encoder must agree (the minibroker decodes what the
   client encodes, and fuzz_decode re-encodes what the decoder accepts). */
TEST(v311_share_filters_decode_and_encode_agree) {
    static const char *const filters[] = {"$share/x", "$share//a", "$share/g/a"};
    for (size_t i = 0; i < COUNT(filters); i++) {
        const char *const f[1] = {filters[i]};
        unsigned char zero[1] = {0}, want[64], buf[64];
        size_t wn = hand_subscribe(filters[i], 0, want), n, used;
        mqttc_packet p;
        /* the 3.1.1 SUBSCRIBE has no property length */
        memmove(want + 4, want + 5, wn - 5);
        want[1]--;
        wn--;
        mqttc_subscribe_info si;
        memset(&si, 0, sizeof si);
        si.packet_id = 10;
        si.filters = f;
        si.options = zero;
        si.count = 1;
        int dec = mqttc_decode(want, wn, 0, MQTTC_PROTOCOL_311, &p, &used);
        int enc = mqttc_encode_subscribe(buf, sizeof buf, MQTTC_PROTOCOL_311, &si, &n);
        CHECK_MSG((dec == MQTTC_OK) == (enc == MQTTC_OK), "3.1.1 SUBSCRIBE %s: decode %s, encode %s", filters[i],
                  mqttc_errname(dec), mqttc_errname(enc));
        if (enc == MQTTC_OK) CHECK(same_bytes(buf, n, want, wn));
        int unsub = mqttc_encode_unsubscribe(buf, sizeof buf, MQTTC_PROTOCOL_311, &si, &n);
        CHECK_MSG((dec == MQTTC_OK) == (unsub == MQTTC_OK), "3.1.1 UNSUBSCRIBE %s: encode %s", filters[i],
                  mqttc_errname(unsub));
    }
}

/* SUBACK: id, properties, one reason code per filter [MQTT-3.9.3-1]; at least one. */
TEST(mqtt_3_9_3_1_suback) {
    static const unsigned char want[] = {0x90, 0x0A, 0x00, 0x0A, 0x04, 0x1F, 0x00, 0x01, 'x', 0x00, 0x02, 0x97};
    static const unsigned char none[] = {0x90, 0x03, 0x00, 0x0A, 0x00};
    static const unsigned char codes[] = {0x00, 0x02, 0x97};
    mqttc_prop reason = mqttc_prop_str(MQTTC_PROP_REASON_STRING, "x");
    mqttc_suback_info sa;
    unsigned char buf[32];
    size_t n;
    mqttc_packet p;
    memset(&sa, 0, sizeof sa);
    sa.packet_id = 10;
    sa.codes = codes;
    sa.count = 3;
    sa.props = list_props(&reason, 1);
    CHECK_EQ_INT(mqttc_encode_suback(buf, sizeof buf, V5, &sa, &n), MQTTC_OK);
    CHECK_BYTES(buf, n, want);
    CHECK_EQ_INT(DEC5(want, &p), MQTTC_OK);
    CHECK(p.suback.packet_id == 10 && p.suback.count == 3 && memcmp(p.suback.codes, codes, 3) == 0);
    CHECK(is_raw(&p.suback.props, want + 5, 4));
    CHECK_EQ_INT(DEC5(none, &p), MQTTC_ERR_MALFORMED);
    sa.count = 0;
    CHECK_EQ_INT(mqttc_encode_suback(buf, sizeof buf, V5, &sa, &n), MQTTC_ERR_ARG);
}

/* UNSUBSCRIBE: id, properties, one or more filters [MQTT-3.10.3-2]. */
TEST(mqtt_3_10_3_2_unsubscribe) {
    static const unsigned char want[] = {0xA2, 0x0F, 0x00, 0x0B, 0x07, 0x26, 0x00, 0x01, 'k',
                                         0x00, 0x01, 'v', 0x00, 0x03, 'a', '/', 'b'};
    static const unsigned char none[] = {0xA2, 0x03, 0x00, 0x0B, 0x00};
    static const char *const filters[] = {"a/b"};
    mqttc_prop user = mqttc_prop_user("k", "v");
    mqttc_subscribe_info si;
    unsigned char buf[32];
    size_t n, pos = 0;
    mqttc_packet p;
    mqttc_str f;
    memset(&si, 0, sizeof si);
    si.packet_id = 11;
    si.filters = filters;
    si.count = 1;
    si.props = list_props(&user, 1);
    CHECK_EQ_INT(mqttc_encode_unsubscribe(buf, sizeof buf, V5, &si, &n), MQTTC_OK);
    CHECK_BYTES(buf, n, want);
    CHECK_EQ_INT(DEC5(want, &p), MQTTC_OK);
    CHECK(p.type == MQTTC_UNSUBSCRIBE && p.subscribe.type == MQTTC_UNSUBSCRIBE && p.subscribe.count == 1);
    CHECK(is_raw(&p.subscribe.props, want + 5, 7));
    CHECK(mqttc_next_filter(&p.subscribe, &pos, &f, NULL) == 1 && same_str(f, S("a/b")));
    CHECK(DEC5(none, &p) != MQTTC_OK);
    si.count = 0;
    CHECK_EQ_INT(mqttc_encode_unsubscribe(buf, sizeof buf, V5, &si, &n), MQTTC_ERR_ARG);
}

/* UNSUBACK in MQTT 5: a reason code per filter (§3.11.3) in mqttc_ack_info.codes/count
   (reason_code the first), written by mqttc_encode_ack; at least one [MQTT-3.11.3-1]. */
TEST(mqtt_3_11_3_1_unsuback_codes_per_filter) {
    static const unsigned char want[] = {0xB0, 0x06, 0x00, 0x0B, 0x00, 0x00, 0x11, 0x80};
    static const unsigned char with_reason[] = {0xB0, 0x09, 0x00, 0x0B, 0x05, 0x1F, 0x00, 0x02, 'n', 'o', 0x11};
    static const unsigned char none[] = {0xB0, 0x03, 0x00, 0x0B, 0x00};
    static const unsigned char v311[] = {0xB0, 0x02, 0x00, 0x0B};
    static const unsigned char codes[] = {0x00, 0x11, 0x80};
    mqttc_prop reason = mqttc_prop_str(MQTTC_PROP_REASON_STRING, "no");
    mqttc_ack_info ai;
    unsigned char buf[32];
    size_t n, used;
    mqttc_packet p;
    memset(&ai, 0, sizeof ai);
    ai.type = MQTTC_UNSUBACK;
    ai.packet_id = 11;
    ai.codes = codes;
    ai.count = 3;
    CHECK_EQ_INT(mqttc_encode_ack(buf, sizeof buf, V5, &ai, &n), MQTTC_OK);
    CHECK_BYTES(buf, n, want);
    CHECK_EQ_INT(DEC5(want, &p), MQTTC_OK);
    CHECK(p.type == MQTTC_UNSUBACK && p.ack.type == MQTTC_UNSUBACK && p.ack.packet_id == 11);
    CHECK(p.ack.count == 3 && p.ack.codes && memcmp(p.ack.codes, codes, 3) == 0);
    CHECK_EQ_INT(p.ack.reason_code, 0x00);
    CHECK_EQ_INT(mqttc_packet_id(&p), 11);
    ai.codes = codes + 1;
    ai.count = 1;
    ai.props = list_props(&reason, 1);
    CHECK_EQ_INT(mqttc_encode_ack(buf, sizeof buf, V5, &ai, &n), MQTTC_OK);
    CHECK_BYTES(buf, n, with_reason);
    CHECK_EQ_INT(DEC5(with_reason, &p), MQTTC_OK);
    CHECK(p.ack.count == 1 && p.ack.reason_code == 0x11);
    CHECK_EQ_INT(DEC5(none, &p), MQTTC_ERR_MALFORMED);
    ai.count = 0;
    CHECK_EQ_INT(mqttc_encode_ack(buf, sizeof buf, V5, &ai, &n), MQTTC_ERR_ARG);
    ai.codes = NULL;
    ai.count = 1;
    CHECK_EQ_INT(mqttc_encode_ack(buf, sizeof buf, V5, &ai, &n), MQTTC_ERR_ARG);
    /* in 3.1.1 it is the bare id, no codes */
    CHECK_EQ_INT(mqttc_decode(v311, sizeof v311, 0, MQTTC_PROTOCOL_311, &p, &used), MQTTC_OK);
    CHECK(p.ack.count == 0 && p.ack.packet_id == 11);
    CHECK_EQ_INT(DEC5(v311, &p), MQTTC_ERR_MALFORMED);
}

/* ---- DISCONNECT and AUTH ---- */

/* DISCONNECT bodies of 0 bytes (normal), 1 (a reason code), 2 and more (code and
   properties) (§3.14.2.1, §3.14.2.2.1); flags 0 [MQTT-3.14.1-1]. */
TEST(mqtt_3_14_1_1_disconnect_forms) {
    static const unsigned char zero[] = {0xE0, 0x00};
    static const unsigned char one[] = {0xE0, 0x01, 0x04};
    static const unsigned char two[] = {0xE0, 0x02, 0x8E, 0x00};
    static const unsigned char full[] = {0xE0, 0x10, 0x9C, 0x0E, 0x1C, 0x00, 0x04, 'h', 'o', 's', 't',
                                         0x1F, 0x00, 0x04, 'm', 'o', 'v', 'e'};
    static const unsigned char flags[] = {0xE2, 0x00};
    static const unsigned char trailing[] = {0xE0, 0x03, 0x00, 0x00, 0x00};
    mqttc_prop pr[2];
    mqttc_disconnect_info di;
    unsigned char buf[32];
    size_t n, used;
    mqttc_packet p;
    mqttc_prop got;
    CHECK_EQ_INT(DEC5(zero, &p), MQTTC_OK);
    CHECK(p.type == MQTTC_DISCONNECT && p.disconnect.reason_code == 0 && p.disconnect.props.len == 0);
    CHECK_EQ_INT(DEC5(one, &p), MQTTC_OK);
    CHECK_EQ_INT(p.disconnect.reason_code, 0x04);
    CHECK_EQ_INT(DEC5(two, &p), MQTTC_OK);
    CHECK_EQ_INT(p.disconnect.reason_code, 0x8E);
    CHECK_EQ_INT(DEC5(full, &p), MQTTC_OK);
    CHECK_EQ_INT(p.disconnect.reason_code, 0x9C);
    CHECK(mqttc_props_get(&p.disconnect.props, MQTTC_PROP_SERVER_REFERENCE, &got) == 1 && same_str(got.str, S("host")));
    CHECK_EQ_INT(DEC5(flags, &p), MQTTC_ERR_MALFORMED);
    CHECK_EQ_INT(DEC5(trailing, &p), MQTTC_ERR_MALFORMED);
    pr[0] = mqttc_prop_str(MQTTC_PROP_SERVER_REFERENCE, "host");
    pr[1] = mqttc_prop_str(MQTTC_PROP_REASON_STRING, "move");
    memset(&di, 0, sizeof di);
    di.reason_code = MQTTC_RC_USE_ANOTHER_SERVER;
    di.props = list_props(pr, 2);
    CHECK_EQ_INT(mqttc_encode_disconnect(buf, sizeof buf, V5, &di, &n), MQTTC_OK);
    CHECK_BYTES(buf, n, full);
    /* 3.1.1's DISCONNECT has no body */
    CHECK_EQ_INT(mqttc_decode(one, sizeof one, 0, MQTTC_PROTOCOL_311, &p, &used), MQTTC_ERR_MALFORMED);
    CHECK_EQ_INT(mqttc_decode(zero, sizeof zero, 0, MQTTC_PROTOCOL_311, &p, &used), MQTTC_OK);
}

/* The encoder picks the short forms: no body for a normal disconnection without properties
   (§3.14.2.1 "the DISCONNECT has a Remaining Length of 0"), the code alone without
   properties (§3.14.2.2.1 "If the Remaining Length is less than 2, a value of 0 is used"). */
TEST(mqtt_3_14_2_1_disconnect_encodes_the_short_forms) {
    static const unsigned char zero[] = {0xE0, 0x00};
    static const unsigned char one[] = {0xE0, 0x01, 0x04};
    mqttc_disconnect_info di;
    unsigned char buf[16];
    size_t n;
    memset(&di, 0, sizeof di);
    CHECK_EQ_INT(mqttc_encode_disconnect(buf, sizeof buf, V5, &di, &n), MQTTC_OK);
    CHECK_BYTES(buf, n, zero);
    CHECK_EQ_INT(mqttc_encode_disconnect(buf, sizeof buf, V5, NULL, &n), MQTTC_OK);
    CHECK_BYTES(buf, n, zero);
    di.reason_code = MQTTC_RC_DISCONNECT_WITH_WILL;
    CHECK_EQ_INT(mqttc_encode_disconnect(buf, sizeof buf, V5, &di, &n), MQTTC_OK);
    CHECK_BYTES(buf, n, one);
}

/* AUTH (§3.15): remaining length 0 for success without properties, else reason code and
   properties; flags 0 [MQTT-3.15.1-1]; MQTT 5 only (type 15 is reserved in 3.1.1). */
TEST(mqtt_3_15_1_1_auth_forms) {
    static const unsigned char zero[] = {0xF0, 0x00};
    static const unsigned char full[] = {0xF0, 0x0F, 0x18, 0x0D, 0x15, 0x00, 0x05, 'S', 'C', 'R', 'A', 'M',
                                         0x16, 0x00, 0x02, 0x01, 0x02};
    static const unsigned char flags[] = {0xF1, 0x00};
    mqttc_prop pr[2];
    mqttc_auth_info ai;
    unsigned char buf[32];
    size_t n, used;
    mqttc_packet p;
    mqttc_prop got;
    CHECK_EQ_INT(DEC5(zero, &p), MQTTC_OK);
    CHECK(p.type == MQTTC_AUTH && p.auth.reason_code == 0 && p.auth.props.len == 0);
    CHECK_EQ_INT(DEC5(full, &p), MQTTC_OK);
    CHECK_EQ_INT(p.auth.reason_code, MQTTC_RC_CONTINUE_AUTH);
    CHECK(mqttc_props_get(&p.auth.props, MQTTC_PROP_AUTH_METHOD, &got) == 1 && same_str(got.str, S("SCRAM")));
    CHECK(mqttc_props_get(&p.auth.props, MQTTC_PROP_AUTH_DATA, &got) == 1 && same_str(got.str, S("\x01\x02")));
    CHECK_EQ_INT(DEC5(flags, &p), MQTTC_ERR_MALFORMED);
    pr[0] = mqttc_prop_str(MQTTC_PROP_AUTH_METHOD, "SCRAM");
    pr[1] = mqttc_prop_bin(MQTTC_PROP_AUTH_DATA, "\x01\x02", 2);
    memset(&ai, 0, sizeof ai);
    ai.reason_code = MQTTC_RC_CONTINUE_AUTH;
    ai.props = list_props(pr, 2);
    CHECK_EQ_INT(mqttc_encode_auth(buf, sizeof buf, V5, &ai, &n), MQTTC_OK);
    CHECK_BYTES(buf, n, full);
    CHECK_EQ_INT(mqttc_encode_auth(buf, sizeof buf, MQTTC_PROTOCOL_311, &ai, &n), MQTTC_ERR_ARG);
    CHECK_EQ_INT(mqttc_encode_auth(buf, sizeof buf, 0, &ai, &n), MQTTC_ERR_ARG);
    CHECK_EQ_INT(mqttc_decode(zero, sizeof zero, 0, MQTTC_PROTOCOL_311, &p, &used), MQTTC_ERR_MALFORMED);
}

/* AUTH has two forms only (§3.15.2.1): no body for success without properties, else the
   code AND the property length (§3.15.2.2.1 has no "if the Remaining Length is less than 2"
   as DISCONNECT's and the acks' have: mosquitto, for one, reads a property length whenever
   the body is not empty). An AUTH 0x18 without properties lacks its Authentication Method
   (a Protocol Error, §3.15.2.2.2): the encoder may refuse it, or write the two-byte body;
   never the one-byte body. */
TEST(mqtt_3_15_2_1_auth_encodes_its_two_forms) {
    static const unsigned char zero[] = {0xF0, 0x00};
    static const unsigned char cont[] = {0xF0, 0x02, 0x18, 0x00};
    mqttc_auth_info ai;
    unsigned char buf[16];
    size_t n;
    int rc;
    memset(&ai, 0, sizeof ai);
    CHECK_EQ_INT(mqttc_encode_auth(buf, sizeof buf, V5, &ai, &n), MQTTC_OK);
    CHECK_BYTES(buf, n, zero);
    ai.reason_code = MQTTC_RC_CONTINUE_AUTH;
    rc = mqttc_encode_auth(buf, sizeof buf, V5, &ai, &n);
    CHECK_MSG(rc == MQTTC_ERR_ARG || rc == MQTTC_OK, "%s", mqttc_errname(rc));
    if (rc == MQTTC_OK) CHECK_BYTES(buf, n, cont);
    ai.reason_code = MQTTC_RC_REAUTHENTICATE;
    rc = mqttc_encode_auth(buf, sizeof buf, V5, &ai, &n);
    CHECK(rc == MQTTC_ERR_ARG || (rc == MQTTC_OK && n == 4 && buf[1] == 2 && buf[3] == 0));
}

/* ---- 3.1.1 refuses what only MQTT 5 has ---- */

/* With version 0 or 4 every encoder refuses properties and non-zero reason codes (the
   header: "In 3.1.1 properties and reason codes must be empty"), and the same infos
   without them encode. */
TEST(v311_refuses_properties_and_reason_codes) {
    static const int versions[] = {0, MQTTC_PROTOCOL_311};
    static const char *const filters[] = {"a/b"};
    static const unsigned char zero[1] = {0}, nolocal[1] = {MQTTC_SUB_NO_LOCAL}, code97[1] = {0x97};
    mqttc_prop user = mqttc_prop_user("k", "v");
    mqttc_props ps = list_props(&user, 1), empty = no_props();
    static const unsigned char raw[] = {0x26, 0x00, 0x01, 'k', 0x00, 0x01, 'v'};
    mqttc_props rawps = raw_props(raw, sizeof raw);
    for (size_t i = 0; i < COUNT(versions); i++) {
        int v = versions[i];
        unsigned char buf[64];
        size_t n;
        const mqttc_props *sets[2] = {&ps, &rawps};
        for (size_t s = 0; s < 2; s++) {
            mqttc_connect_info ci;
            mqttc_connack_info ca;
            mqttc_publish_info pi;
            mqttc_ack_info ai;
            mqttc_subscribe_info si;
            mqttc_suback_info sa;
            mqttc_disconnect_info di;
            memset(&ci, 0, sizeof ci);
            ci.client_id = S("c");
            ci.clean_session = 1;
            ci.props = *sets[s];
            CHECK_EQ_INT(mqttc_encode_connect(buf, sizeof buf, v, &ci, &n), MQTTC_ERR_ARG);
            ci.props = empty;
            ci.will_topic = S("w");
            ci.will_payload = S("x");
            ci.will_props = *sets[s];
            CHECK_EQ_INT(mqttc_encode_connect(buf, sizeof buf, v, &ci, &n), MQTTC_ERR_ARG);
            ci.will_props = empty;
            CHECK_EQ_INT(mqttc_encode_connect(buf, sizeof buf, v, &ci, &n), MQTTC_OK);
            memset(&ca, 0, sizeof ca);
            ca.props = *sets[s];
            CHECK_EQ_INT(mqttc_encode_connack(buf, sizeof buf, v, &ca, &n), MQTTC_ERR_ARG);
            memset(&pi, 0, sizeof pi);
            pi.topic = "t";
            pi.topic_len = 1;
            pi.props = *sets[s];
            CHECK_EQ_INT(mqttc_encode_publish(buf, sizeof buf, v, &pi, &n), MQTTC_ERR_ARG);
            pi.props = empty;
            CHECK_EQ_INT(mqttc_encode_publish(buf, sizeof buf, v, &pi, &n), MQTTC_OK);
            for (int type = MQTTC_PUBACK; type <= MQTTC_UNSUBACK; type = type == MQTTC_PUBCOMP ? MQTTC_UNSUBACK : type + 1) {
                memset(&ai, 0, sizeof ai);
                ai.type = type;
                ai.packet_id = 1;
                ai.props = *sets[s];
                CHECK_MSG(mqttc_encode_ack(buf, sizeof buf, v, &ai, &n) == MQTTC_ERR_ARG, "ack %d props, version %d", type, v);
                ai.props = empty;
                ai.reason_code = type == MQTTC_PUBREL || type == MQTTC_PUBCOMP ? 0x92 : 0x80;
                CHECK_MSG(mqttc_encode_ack(buf, sizeof buf, v, &ai, &n) == MQTTC_ERR_ARG, "ack %d code, version %d", type, v);
                ai.reason_code = 0;
                CHECK_EQ_INT(mqttc_encode_ack(buf, sizeof buf, v, &ai, &n), MQTTC_OK);
                CHECK_EQ_INT(n, 4);
            }
            memset(&si, 0, sizeof si);
            si.packet_id = 1;
            si.filters = filters;
            si.options = zero;
            si.count = 1;
            si.props = *sets[s];
            CHECK_EQ_INT(mqttc_encode_subscribe(buf, sizeof buf, v, &si, &n), MQTTC_ERR_ARG);
            CHECK_EQ_INT(mqttc_encode_unsubscribe(buf, sizeof buf, v, &si, &n), MQTTC_ERR_ARG);
            si.props = empty;
            si.options = nolocal; /* MQTT 5 option bits */
            CHECK_EQ_INT(mqttc_encode_subscribe(buf, sizeof buf, v, &si, &n), MQTTC_ERR_ARG);
            memset(&sa, 0, sizeof sa);
            sa.packet_id = 1;
            sa.codes = zero;
            sa.count = 1;
            sa.props = *sets[s];
            CHECK_EQ_INT(mqttc_encode_suback(buf, sizeof buf, v, &sa, &n), MQTTC_ERR_ARG);
            sa.props = empty;
            sa.codes = code97; /* an MQTT 5 code */
            CHECK_EQ_INT(mqttc_encode_suback(buf, sizeof buf, v, &sa, &n), MQTTC_ERR_ARG);
            memset(&di, 0, sizeof di);
            di.props = *sets[s];
            CHECK_EQ_INT(mqttc_encode_disconnect(buf, sizeof buf, v, &di, &n), MQTTC_ERR_ARG);
            di.props = empty;
            di.reason_code = MQTTC_RC_DISCONNECT_WITH_WILL;
            CHECK_EQ_INT(mqttc_encode_disconnect(buf, sizeof buf, v, &di, &n), MQTTC_ERR_ARG);
            di.reason_code = 0;
            CHECK_EQ_INT(mqttc_encode_disconnect(buf, sizeof buf, v, &di, &n), MQTTC_OK);
            CHECK_EQ_INT(n, 2);
        }
    }
    /* and the 3.1.1 decoder takes no MQTT 5 body */
    static const unsigned char puback[] = {0x40, 0x03, 0x00, 0x01, 0x10};
    static const unsigned char suback[] = {0x90, 0x04, 0x00, 0x01, 0x00, 0x00};
    mqttc_packet p;
    size_t used;
    CHECK_EQ_INT(mqttc_decode(puback, sizeof puback, 0, MQTTC_PROTOCOL_311, &p, &used), MQTTC_ERR_MALFORMED);
    CHECK_EQ_INT(mqttc_decode(suback, sizeof suback, 0, MQTTC_PROTOCOL_311, &p, &used), MQTTC_OK);
    CHECK_EQ_INT(p.suback.count, 2); /* read as two 3.1.1 codes: no property length there */
}

/* Versions other than 0, 4 and 5 are the caller's error (the header). */
TEST(other_versions_are_arg_errors) {
    static const int versions[] = {3, 6, -1, 255};
    for (size_t i = 0; i < COUNT(versions); i++) {
        unsigned char buf[16];
        size_t n, used;
        mqttc_packet p;
        mqttc_disconnect_info di;
        memset(&di, 0, sizeof di);
        CHECK_EQ_INT(mqttc_decode(connack_limits, sizeof connack_limits, 0, versions[i], &p, &used), MQTTC_ERR_ARG);
        CHECK_EQ_INT(mqttc_encode_disconnect(buf, sizeof buf, versions[i], &di, &n), MQTTC_ERR_ARG);
    }
}

/* ---- the property helpers ---- */

/* mqttc_props_next: the raw bytes first, then the list; strings point into the set; raw
   bytes that do not parse are MQTTC_ERR_MALFORMED. */
TEST(props_next_raw_then_list) {
    static const unsigned char raw[] = {0x11, 0x00, 0x00, 0x00, 0x0A, 0x26, 0x00, 0x01, 'a', 0x00, 0x01, 'b'};
    mqttc_prop list[2], got;
    size_t pos = 0;
    list[0] = mqttc_prop_int(MQTTC_PROP_RECEIVE_MAX, 5);
    list[1] = mqttc_prop_user("c", "d");
    mqttc_props ps = raw_props(raw, sizeof raw);
    ps.list = list;
    ps.count = 2;
    CHECK_EQ_INT(mqttc_props_next(&ps, &pos, &got), 1);
    CHECK(got.id == MQTTC_PROP_SESSION_EXPIRY && got.value == 10);
    CHECK_EQ_INT(mqttc_props_next(&ps, &pos, &got), 1);
    CHECK(got.id == MQTTC_PROP_USER && same_str(got.str, S("a")) && same_str(got.val, S("b")));
    CHECK(got.str.ptr == (const char *)raw + 8 && got.val.ptr == (const char *)raw + 11);
    CHECK_EQ_INT(mqttc_props_next(&ps, &pos, &got), 1);
    CHECK(same_prop(&got, &list[0]));
    CHECK_EQ_INT(mqttc_props_next(&ps, &pos, &got), 1);
    CHECK(same_prop(&got, &list[1]));
    CHECK_EQ_INT(mqttc_props_next(&ps, &pos, &got), 0);
    CHECK_EQ_INT(mqttc_props_next(&ps, &pos, &got), 0);
    /* empty, list only */
    mqttc_props empty = no_props(), only = list_props(list, 2);
    pos = 0;
    CHECK_EQ_INT(mqttc_props_next(&empty, &pos, &got), 0);
    pos = 0;
    CHECK(mqttc_props_next(&only, &pos, &got) == 1 && got.id == MQTTC_PROP_RECEIVE_MAX);
    /* raw bytes that do not parse */
    static const unsigned char cut[] = {0x11, 0x00, 0x00};
    static const unsigned char unknown[] = {0x7F, 0x00};
    mqttc_props bad = raw_props(cut, sizeof cut);
    pos = 0;
    CHECK_EQ_INT(mqttc_props_next(&bad, &pos, &got), MQTTC_ERR_MALFORMED);
    bad = raw_props(unknown, sizeof unknown);
    pos = 0;
    CHECK_EQ_INT(mqttc_props_next(&bad, &pos, &got), MQTTC_ERR_MALFORMED);
    /* a decoded packet's set: every property, in order */
    mqttc_packet p;
    size_t count = 0;
    CHECK_EQ_INT(DEC5(connack_limits, &p), MQTTC_OK);
    pos = 0;
    while (mqttc_props_next(&p.connack.props, &pos, &got) == 1) {
        CHECK(got.str.len == 0 || ((const unsigned char *)got.str.ptr > connack_limits &&
                                   (const unsigned char *)got.str.ptr + got.str.len <= connack_limits + sizeof connack_limits));
        count++;
    }
    CHECK_EQ_INT(count, 17);
}

/* mqttc_props_get: the first with that id, raw bytes before the list; out may be NULL. */
TEST(props_get_first_match) {
    static const unsigned char raw[] = {0x26, 0x00, 0x01, 'a', 0x00, 0x01, 'b', 0x21, 0x00, 0x07};
    mqttc_prop list[2], got;
    list[0] = mqttc_prop_user("c", "d");
    list[1] = mqttc_prop_int(MQTTC_PROP_TOPIC_ALIAS_MAX, 9);
    mqttc_props ps = raw_props(raw, sizeof raw);
    ps.list = list;
    ps.count = 2;
    CHECK(mqttc_props_get(&ps, MQTTC_PROP_USER, &got) == 1 && same_str(got.str, S("a")));
    CHECK(mqttc_props_get(&ps, MQTTC_PROP_RECEIVE_MAX, &got) == 1 && got.value == 7);
    CHECK(mqttc_props_get(&ps, MQTTC_PROP_TOPIC_ALIAS_MAX, &got) == 1 && got.value == 9);
    CHECK_EQ_INT(mqttc_props_get(&ps, MQTTC_PROP_TOPIC_ALIAS, &got), 0);
    CHECK_EQ_INT(mqttc_props_get(&ps, MQTTC_PROP_RECEIVE_MAX, NULL), 1);
    mqttc_props empty = no_props();
    CHECK_EQ_INT(mqttc_props_get(&empty, MQTTC_PROP_USER, NULL), 0);
}

/* mqttc_props_check with MQTTC_PROPS_WILL: the will's seven (§3.1.3.2), user properties
   repeated; nothing else, nothing else twice. */
TEST(mqtt_3_1_3_2_props_check_will) {
    mqttc_prop will[8];
    will[0] = mqttc_prop_int(MQTTC_PROP_WILL_DELAY, 5);
    will[1] = mqttc_prop_int(MQTTC_PROP_PAYLOAD_FORMAT, 1);
    will[2] = mqttc_prop_int(MQTTC_PROP_MESSAGE_EXPIRY, 60);
    will[3] = mqttc_prop_str(MQTTC_PROP_CONTENT_TYPE, "text/plain");
    will[4] = mqttc_prop_str(MQTTC_PROP_RESPONSE_TOPIC, "r");
    will[5] = mqttc_prop_bin(MQTTC_PROP_CORRELATION_DATA, "\x00", 1);
    will[6] = mqttc_prop_user("a", "1");
    will[7] = mqttc_prop_user("a", "2");
    mqttc_props ps = list_props(will, 8);
    CHECK_EQ_INT(mqttc_props_check(&ps, MQTTC_PROPS_WILL), MQTTC_OK);
    CHECK_EQ_INT(mqttc_props_check(&ps, MQTTC_PUBLISH), MQTTC_ERR_ARG);  /* Will Delay Interval */
    CHECK_EQ_INT(mqttc_props_check(&ps, MQTTC_CONNECT), MQTTC_ERR_ARG);
    static const int not_will[] = {MQTTC_PROP_SESSION_EXPIRY, MQTTC_PROP_TOPIC_ALIAS, MQTTC_PROP_SUBSCRIPTION_ID,
                                   MQTTC_PROP_RECEIVE_MAX, MQTTC_PROP_REASON_STRING};
    for (size_t i = 0; i < COUNT(not_will); i++) {
        mqttc_prop more[9];
        memcpy(more, will, sizeof will);
        more[8] = mqttc_prop_int(not_will[i], 1);
        if (not_will[i] == MQTTC_PROP_REASON_STRING) more[8] = mqttc_prop_str(not_will[i], "x");
        mqttc_props m = list_props(more, 9);
        CHECK_MSG(mqttc_props_check(&m, MQTTC_PROPS_WILL) == MQTTC_ERR_ARG, "0x%02X in a will", not_will[i]);
    }
    will[7] = will[0]; /* Will Delay Interval twice */
    CHECK_EQ_INT(mqttc_props_check(&ps, MQTTC_PROPS_WILL), MQTTC_ERR_ARG);
    CHECK_EQ_INT(mqttc_props_check(NULL, MQTTC_PROPS_WILL), MQTTC_ERR_ARG);
    mqttc_props empty = no_props();
    CHECK_EQ_INT(mqttc_props_check(&empty, -1), MQTTC_ERR_ARG);
    CHECK_EQ_INT(mqttc_props_check(&empty, MQTTC_AUTH + 1), MQTTC_ERR_ARG);
    CHECK_EQ_INT(mqttc_props_check(&empty, MQTTC_AUTH), MQTTC_OK);
    /* a set the encoder cannot read */
    mqttc_props broken = no_props();
    broken.len = 3; /* ptr NULL */
    CHECK_EQ_INT(mqttc_props_check(&broken, MQTTC_PROPS_WILL), MQTTC_ERR_ARG);
    broken = no_props();
    broken.count = 1; /* list NULL */
    CHECK_EQ_INT(mqttc_props_check(&broken, MQTTC_PROPS_WILL), MQTTC_ERR_ARG);
}

/* PINGREQ and PINGRESP have no properties (§3.12, §3.13): not even a User Property, which
   Table 2-4 allows in every packet that has properties. */
TEST(props_check_packets_without_properties) {
    mqttc_prop user = mqttc_prop_user("k", "v");
    mqttc_props ps = list_props(&user, 1);
    CHECK_EQ_INT(mqttc_props_check(&ps, MQTTC_PINGREQ), MQTTC_ERR_ARG);
    CHECK_EQ_INT(mqttc_props_check(&ps, MQTTC_PINGRESP), MQTTC_ERR_ARG);
}

/* mqttc_props_size: the wire size with the length prefix. */
TEST(props_size) {
    static const unsigned char raw[] = {0x11, 0x00, 0x00, 0x00, 0x0A};
    unsigned char data[125] = {0};
    mqttc_prop user = mqttc_prop_user("k", "vv"), bin;
    mqttc_props empty = no_props(), r = raw_props(raw, sizeof raw), l = list_props(&user, 1), both = r;
    CHECK_EQ_INT(mqttc_props_size(&empty), 1);
    CHECK_EQ_INT(mqttc_props_size(&r), 6);
    CHECK_EQ_INT(mqttc_props_size(&l), 9);
    both.list = &user;
    both.count = 1;
    CHECK_EQ_INT(mqttc_props_size(&both), 14);
    bin = mqttc_prop_bin(MQTTC_PROP_CORRELATION_DATA, data, 124);
    l = list_props(&bin, 1);
    CHECK_EQ_INT(mqttc_props_size(&l), 128);
    bin.str.len = 125;
    CHECK_EQ_INT(mqttc_props_size(&l), 130);
    static const uint32_t sid[] = {1, 128, 16384, 2097152};
    for (size_t i = 0; i < COUNT(sid); i++) {
        mqttc_prop s = mqttc_prop_int(MQTTC_PROP_SUBSCRIPTION_ID, sid[i]);
        mqttc_props sl = list_props(&s, 1);
        CHECK_EQ_INT(mqttc_props_size(&sl), 3 + i);
    }
}

/* The builders: the id and value, strings borrowed, NULL read as empty. */
TEST(prop_builders) {
    const char *name = "name";
    mqttc_prop p = mqttc_prop_int(MQTTC_PROP_MESSAGE_EXPIRY, 0xFFFFFFFFu);
    CHECK(p.id == MQTTC_PROP_MESSAGE_EXPIRY && p.value == 0xFFFFFFFFu && p.str.len == 0 && p.val.len == 0);
    p = mqttc_prop_str(MQTTC_PROP_CONTENT_TYPE, name);
    CHECK(p.id == MQTTC_PROP_CONTENT_TYPE && p.str.ptr == name && p.str.len == 4 && p.value == 0);
    p = mqttc_prop_bin(MQTTC_PROP_CORRELATION_DATA, "\x00\x01", 2);
    CHECK(p.str.len == 2 && p.str.ptr[0] == 0 && p.str.ptr[1] == 1);
    p = mqttc_prop_bin(MQTTC_PROP_CORRELATION_DATA, NULL, 0);
    CHECK(p.str.ptr != NULL && p.str.len == 0);
    p = mqttc_prop_user(name, NULL);
    CHECK(p.id == MQTTC_PROP_USER && p.str.ptr == name && p.val.ptr != NULL && p.val.len == 0);
    /* an empty string and empty binary are values like others */
    mqttc_prop two[2];
    two[0] = mqttc_prop_str(MQTTC_PROP_CONTENT_TYPE, "");
    two[1] = mqttc_prop_bin(MQTTC_PROP_CORRELATION_DATA, NULL, 0);
    mqttc_props ps = list_props(two, 2);
    unsigned char buf[32];
    size_t n;
    static const unsigned char want[] = {0x30, 0x0A, 0x00, 0x01, 't', 0x06, 0x03, 0x00, 0x00, 0x09, 0x00, 0x00};
    CHECK_EQ_INT(encode_host(MQTTC_PUBLISH, &ps, buf, sizeof buf, &n), MQTTC_OK);
    CHECK_BYTES(buf, n, want);
}

/* Every reason code of §2.4 has its short name; every other byte is "unknown". */
TEST(mqtt_2_4_reason_names) {
    static const struct { int code; const char *name; } v[] = {
        {0x00, "success"}, {0x01, "grantedqos1"}, {0x02, "grantedqos2"}, {0x04, "disconnectwithwill"},
        {0x10, "nomatchingsubscribers"}, {0x11, "nosubscriptionexisted"}, {0x18, "continueauthentication"},
        {0x19, "reauthenticate"}, {0x80, "unspecifiederror"}, {0x81, "malformedpacket"}, {0x82, "protocolerror"},
        {0x83, "implementationspecificerror"}, {0x84, "unsupportedprotocolversion"},
        {0x85, "clientidentifiernotvalid"}, {0x86, "badusernameorpassword"}, {0x87, "notauthorized"},
        {0x88, "serverunavailable"}, {0x89, "serverbusy"}, {0x8A, "banned"}, {0x8B, "servershuttingdown"},
        {0x8C, "badauthenticationmethod"}, {0x8D, "keepalivetimeout"}, {0x8E, "sessiontakenover"},
        {0x8F, "topicfilterinvalid"}, {0x90, "topicnameinvalid"}, {0x91, "packetidentifierinuse"},
        {0x92, "packetidentifiernotfound"}, {0x93, "receivemaximumexceeded"}, {0x94, "topicaliasinvalid"},
        {0x95, "packettoolarge"}, {0x96, "messageratetoohigh"}, {0x97, "quotaexceeded"},
        {0x98, "administrativeaction"}, {0x99, "payloadformatinvalid"}, {0x9A, "retainnotsupported"},
        {0x9B, "qosnotsupported"}, {0x9C, "useanotherserver"}, {0x9D, "servermoved"},
        {0x9E, "sharedsubscriptionsnotsupported"}, {0x9F, "connectionrateexceeded"}, {0xA0, "maximumconnecttime"},
        {0xA1, "subscriptionidentifiersnotsupported"}, {0xA2, "wildcardsubscriptionsnotsupported"},
    };
    CHECK_EQ_INT(COUNT(v), 43);
    for (int code = -1; code <= 256; code++) {
        const char *want = "unknown";
        for (size_t i = 0; i < COUNT(v); i++)
            if (v[i].code == code) want = v[i].name;
        const char *got = mqttc_reason_name(code);
        CHECK_MSG(got && strcmp(got, want) == 0, "0x%02X: %s, want %s", code, got ? got : "(null)", want);
    }
    CHECK_EQ_INT(MQTTC_RC_NORMAL, 0);
}

/* A refusal never says the session is present [MQTT-3.2.2-6] (3.1.1: [MQTT-3.2.2-4]). */
TEST(mqtt_3_2_2_6_refusal_without_session_present) {
    mqttc_connack_info ca;
    unsigned char buf[16];
    size_t n;
    memset(&ca, 0, sizeof ca);
    ca.session_present = 1;
    ca.reason_code = MQTTC_RC_NOT_AUTHORIZED;
    CHECK_EQ_INT(mqttc_encode_connack(buf, sizeof buf, 5, &ca, &n), MQTTC_ERR_ARG);
    ca.reason_code = 5;
    CHECK_EQ_INT(mqttc_encode_connack(buf, sizeof buf, 4, &ca, &n), MQTTC_ERR_ARG);
    ca.reason_code = 0;
    CHECK_EQ_INT(mqttc_encode_connack(buf, sizeof buf, 5, &ca, &n), MQTTC_OK);
    /* and such a CONNACK from a broker is refused by the decoder too (found by fuzz_decode) */
    static const unsigned char sp_refused[] = {0x20, 0x02, 0x01, 0x04};
    mqttc_packet p;
    size_t used;
    CHECK_EQ_INT(mqttc_decode(sp_refused, sizeof sp_refused, 0, 4, &p, &used), MQTTC_ERR_MALFORMED);
}

int main(void) {
    RUN(mqtt_3_2_2_6_refusal_without_session_present);
    RUN(mqtt_2_2_2_2_the_27_property_identifiers);
    RUN(mqtt_2_2_2_2_every_property_by_hand);
    RUN(mqtt_2_2_2_2_where_each_property_may_appear);
    RUN(mqtt_2_2_2_2_unknown_property_id);
    RUN(mqtt_2_2_2_2_repeats_are_protocol_errors);
    RUN(mqtt_3_3_2_subscription_identifiers_repeat_in_publish);
    RUN(mqtt_1_5_5_1_variable_byte_integers_in_properties);
    RUN(mqtt_2_2_2_1_property_length_past_127);
    RUN(mqtt_2_2_2_1_property_length_is_required);
    RUN(mqtt_3_3_2_8_zero_receive_max_packet_size_topic_alias_sub_id);
    RUN(byte_properties_above_one);
    RUN(mqtt_1_5_4_1_mqtt_1_5_7_1_utf8_in_string_properties);
    RUN(property_lengths_past_the_end);
    RUN(mqtt_3_3_2_14_response_topic_without_wildcards);
    RUN(mqtt_3_1_3_1_connect_with_properties_and_will_properties);
    RUN(mqtt_3_1_2_2_connect_read_by_its_level);
    RUN(v5_password_without_user_name);
    RUN(v5_empty_client_id_without_clean_start);
    RUN(mqtt_3_1_2_9_will_properties_need_a_will);
    RUN(will_payload_format_1_needs_utf8);
    RUN(mqtt_3_2_2_3_connack_with_limits);
    RUN(mqtt_3_2_2_1_connack_forms);
    RUN(mqtt_3_2_2_2_connack_reason_codes);
    RUN(mqtt_3_4_2_1_mqtt_3_5_2_1_puback_pubrec_reason_codes);
    RUN(mqtt_3_6_2_1_mqtt_3_7_2_1_pubrel_pubcomp_reason_codes);
    RUN(mqtt_3_9_3_2_suback_reason_codes);
    RUN(mqtt_3_11_3_2_unsuback_reason_codes);
    RUN(mqtt_3_14_2_1_disconnect_reason_codes);
    RUN(mqtt_3_15_2_1_auth_reason_codes);
    RUN(mqtt_3_3_2_3_publish_with_properties);
    RUN(mqtt_3_3_2_8_empty_topic_and_topic_alias);
    RUN(mqtt_3_3_2_3_2_payload_format_1_needs_utf8);
    RUN(mqtt_3_4_2_1_acks_decode_every_form);
    RUN(mqtt_3_4_2_2_acks_encode_with_properties);
    RUN(mqtt_3_4_2_1_acks_encode_the_short_forms);
    RUN(mqtt_3_8_3_1_subscribe_options);
    RUN(mqtt_3_8_3_subscribe_spec_example);
    RUN(mqtt_3_8_3_5_every_options_byte);
    RUN(mqtt_3_8_3_4_no_local_on_shared);
    RUN(mqtt_3_8_3_2_mqtt_3_8_3_4_protocol_errors_in_subscribe);
    RUN(mqtt_4_8_2_1_mqtt_4_8_2_2_shared_filter_syntax);
    RUN(v311_share_filters_decode_and_encode_agree);
    RUN(mqtt_3_9_3_1_suback);
    RUN(mqtt_3_10_3_2_unsubscribe);
    RUN(mqtt_3_11_3_1_unsuback_codes_per_filter);
    RUN(mqtt_3_14_1_1_disconnect_forms);
    RUN(mqtt_3_14_2_1_disconnect_encodes_the_short_forms);
    RUN(mqtt_3_15_1_1_auth_forms);
    RUN(mqtt_3_15_2_1_auth_encodes_its_two_forms);
    RUN(v311_refuses_properties_and_reason_codes);
    RUN(other_versions_are_arg_errors);
    RUN(props_next_raw_then_list);
    RUN(props_get_first_match);
    RUN(mqtt_3_1_3_2_props_check_will);
    RUN(props_check_packets_without_properties);
    RUN(props_size);
    RUN(prop_builders);
    RUN(mqtt_2_4_reason_names);
    return test_report();
}
