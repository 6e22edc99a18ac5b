/* fuzz/make_seeds.c - writes the seed corpus, fuzz/corpus/<target>/: valid packets of
   every type for the decoder, and scripts of ordinary sessions (in each target's operation
   format, see fuzz_client.c and fuzz_minibroker.c) for the client and the minibroker, so
   fuzzing starts from traffic that reaches deep states. `make fuzz-seeds` runs it; the
   files are kept in the repository. */
#define MQTTC_IMPLEMENTATION
#define MQTTC_NO_SOCKETS
#include "mqttc.h"
#include "tests/test.h"
#define FUZZ_TARGET "make_seeds"
#include "fuzz/fuzz.h"

typedef struct seed {
    unsigned char b[8192];
    size_t n;
} seed;

static const char *out_dir = "fuzz/corpus";

static void put(seed *s, const void *p, size_t n) {
    if (s->n + n > sizeof s->b) { fprintf(stderr, "make_seeds: a seed is too large\n"); exit(1); }
    memcpy(s->b + s->n, p, n);
    s->n += n;
}
static void put1(seed *s, unsigned v) {
    unsigned char c = (unsigned char)v;
    put(s, &c, 1);
}
#define PUT(s, ...)                                                                   \
    do {                                                                              \
        static const unsigned char bytes_[] = {__VA_ARGS__};                          \
        put((s), bytes_, sizeof bytes_);                                              \
    } while (0)

static void save(const char *target, const char *name, const seed *s) {
    char path[512];
    snprintf(path, sizeof path, "%s/%s/%s", out_dir, target, name);
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(s->b, 1, s->n, f) != s->n || fclose(f) != 0) {
        fprintf(stderr, "make_seeds: cannot write %s\n", path);
        exit(1);
    }
}

/* ---- packets ---- */

static mqttc_str str(const char *z) {
    mqttc_str s = {z, strlen(z)};
    return s;
}

static void connect_packet(seed *s, int full) {
    mqttc_connect_info ci;
    size_t n;
    memset(&ci, 0, sizeof ci);
    ci.client_id = str(full ? "client-7" : "");
    ci.clean_session = 1;
    ci.keepalive_s = 60;
    if (full) {
        ci.clean_session = 0;
        ci.will_topic = str("status/client-7");
        ci.will_payload = str("gone");
        ci.will_qos = 1;
        ci.will_retain = 1;
        ci.username = str("user");
        ci.password = str("secret");
    }
    mqttc_encode_connect(s->b + s->n, sizeof s->b - s->n, MQTTC_PROTOCOL_311, &ci, &n);
    s->n += n;
}

/* Encoded as the C tests encode a broker's PUBLISH (tests/test.h): a refusal there is a
   failed check, and main's exit status says so. */
static void publish_packet(seed *s, const char *topic, const char *payload, int qos, int retain, int dup,
                           unsigned short id) {
    s->n += test_publish_bytes(s->b + s->n, sizeof s->b - s->n, topic, payload, strlen(payload), qos, retain, dup, id);
}

static void ack_packet(seed *s, int type, unsigned short id) {
    size_t n;
    fz_encode_ack(s->b + s->n, sizeof s->b - s->n, type, id, &n);
    s->n += n;
}

/* PINGREQ, PINGRESP or DISCONNECT: two bytes. */
static void empty_packet(seed *s, int type) {
    size_t n, cap = sizeof s->b - s->n;
    if (type == MQTTC_DISCONNECT) mqttc_encode_disconnect(s->b + s->n, cap, MQTTC_PROTOCOL_311, NULL, &n);
    else mqttc_encode_ping(s->b + s->n, cap, type, &n);
    s->n += n;
}

static void connack_packet(seed *s, int session_present, int code) {
    size_t n;
    mqttc_connack_info ca = {0};
    ca.session_present = session_present;
    ca.reason_code = code;
    mqttc_encode_connack(s->b + s->n, sizeof s->b - s->n, MQTTC_PROTOCOL_311, &ca, &n);
    s->n += n;
}

/* MQTT 5 packets, written by the encoders with version 5 (fuzz_decode reads every input as
   3.1.1 and as 5): every packet type with properties of each value type, every property
   identifier at least once, the short and long forms of acks, DISCONNECT and AUTH, and the
   forms only a decoder meets (a CONNACK without its property length, an ack with an empty
   property length). One per file after the limit byte 0, and all in one stream. */
static void seed_v5(seed *s, int rc) {
    if (rc != MQTTC_OK) {
        fprintf(stderr, "make_seeds: an MQTT 5 seed was refused: %s\n", mqttc_errname(rc));
        exit(1);
    }
    (void)s;
}

static void decode_seeds_v5(void) {
    static const unsigned char zero[1] = {0}, granted[4] = {0x00, 0x01, 0x02, 0x97}, unsub[3] = {0x00, 0x11, 0x80};
    static const char *const filters[3] = {"a/+/c", "$share/g/sport/#", "$SYS/x"};
    static const unsigned char options[3] = {0x2D, 0x1A, 0x00};
    seed all = {{0}, 1}, s;
    size_t n;
    mqttc_prop pr[20];
    mqttc_props ps = {NULL, 0, pr, 0};
#define ONE5(name, write)                                                               \
    do {                                                                                \
        memset(&s, 0, sizeof s);                                                        \
        s.n = 1;                                                                        \
        n = 0;                                                                          \
        seed_v5(&s, (write));                                                           \
        s.n += n;                                                                       \
        save("decode", name, &s);                                                       \
        put(&all, s.b + 1, s.n - 1);                                                    \
    } while (0)
/* bytes as written by hand: forms the encoders do not write */
#define RAW5(name, ...)                                                                 \
    do {                                                                                \
        memset(&s, 0, sizeof s);                                                        \
        s.n = 1;                                                                        \
        PUT(&s, __VA_ARGS__);                                                           \
        save("decode", name, &s);                                                       \
        put(&all, s.b + 1, s.n - 1);                                                    \
    } while (0)
#define CAP (sizeof s.b - 1)
    { /* CONNECT with every CONNECT property, a will with every will property; password alone */
        mqttc_connect_info ci;
        mqttc_prop will[8];
        memset(&ci, 0, sizeof ci);
        ci.client_id = str("client-5");
        ci.keepalive_s = 30;
        ci.password = str("secret");
        ci.will_topic = str("status/client-5");
        ci.will_payload = str("gone");
        ci.will_qos = 2;
        ci.will_retain = 1;
        ps.count = 0;
        pr[ps.count++] = mqttc_prop_int(MQTTC_PROP_SESSION_EXPIRY, 3600);
        pr[ps.count++] = mqttc_prop_int(MQTTC_PROP_RECEIVE_MAX, 20);
        pr[ps.count++] = mqttc_prop_int(MQTTC_PROP_MAX_PACKET_SIZE, 65536);
        pr[ps.count++] = mqttc_prop_int(MQTTC_PROP_TOPIC_ALIAS_MAX, 10);
        pr[ps.count++] = mqttc_prop_int(MQTTC_PROP_REQUEST_RESPONSE_INFO, 1);
        pr[ps.count++] = mqttc_prop_int(MQTTC_PROP_REQUEST_PROBLEM_INFO, 0);
        pr[ps.count++] = mqttc_prop_user("k", "v");
        pr[ps.count++] = mqttc_prop_str(MQTTC_PROP_AUTH_METHOD, "SCRAM-SHA-1");
        pr[ps.count++] = mqttc_prop_bin(MQTTC_PROP_AUTH_DATA, "\x00\x01\xFF", 3);
        ci.props = ps;
        will[0] = mqttc_prop_int(MQTTC_PROP_WILL_DELAY, 5);
        will[1] = mqttc_prop_int(MQTTC_PROP_PAYLOAD_FORMAT, 1);
        will[2] = mqttc_prop_int(MQTTC_PROP_MESSAGE_EXPIRY, 60);
        will[3] = mqttc_prop_str(MQTTC_PROP_CONTENT_TYPE, "text/plain");
        will[4] = mqttc_prop_str(MQTTC_PROP_RESPONSE_TOPIC, "reply/client-5");
        will[5] = mqttc_prop_bin(MQTTC_PROP_CORRELATION_DATA, "\x01\x02", 2);
        will[6] = mqttc_prop_user("a", "1");
        will[7] = mqttc_prop_user("a", "2");
        ci.will_props.list = will;
        ci.will_props.count = 8;
        ONE5("v5-connect-full", mqttc_encode_connect(s.b + 1, CAP, MQTTC_PROTOCOL_5, &ci, &n));
        memset(&ci, 0, sizeof ci);
        ci.client_id = str("");
        ONE5("v5-connect-minimal", mqttc_encode_connect(s.b + 1, CAP, MQTTC_PROTOCOL_5, &ci, &n));
    }
    { /* CONNACK with every CONNACK property; a refusal; the form without property length */
        mqttc_connack_info ca;
        memset(&ca, 0, sizeof ca);
        ca.session_present = 1;
        ps.count = 0;
        pr[ps.count++] = mqttc_prop_int(MQTTC_PROP_SESSION_EXPIRY, 120);
        pr[ps.count++] = mqttc_prop_int(MQTTC_PROP_RECEIVE_MAX, 10);
        pr[ps.count++] = mqttc_prop_int(MQTTC_PROP_MAX_QOS, 1);
        pr[ps.count++] = mqttc_prop_int(MQTTC_PROP_RETAIN_AVAILABLE, 0);
        pr[ps.count++] = mqttc_prop_int(MQTTC_PROP_MAX_PACKET_SIZE, 1024);
        pr[ps.count++] = mqttc_prop_str(MQTTC_PROP_ASSIGNED_CLIENT_ID, "auto-1");
        pr[ps.count++] = mqttc_prop_int(MQTTC_PROP_TOPIC_ALIAS_MAX, 5);
        pr[ps.count++] = mqttc_prop_str(MQTTC_PROP_REASON_STRING, "welcome");
        pr[ps.count++] = mqttc_prop_user("k", "v");
        pr[ps.count++] = mqttc_prop_int(MQTTC_PROP_WILDCARD_SUB_AVAILABLE, 0);
        pr[ps.count++] = mqttc_prop_int(MQTTC_PROP_SUB_ID_AVAILABLE, 1);
        pr[ps.count++] = mqttc_prop_int(MQTTC_PROP_SHARED_SUB_AVAILABLE, 0);
        pr[ps.count++] = mqttc_prop_int(MQTTC_PROP_SERVER_KEEP_ALIVE, 20);
        pr[ps.count++] = mqttc_prop_str(MQTTC_PROP_RESPONSE_INFO, "resp/");
        pr[ps.count++] = mqttc_prop_str(MQTTC_PROP_SERVER_REFERENCE, "other:1883");
        pr[ps.count++] = mqttc_prop_str(MQTTC_PROP_AUTH_METHOD, "SCRAM-SHA-1");
        pr[ps.count++] = mqttc_prop_bin(MQTTC_PROP_AUTH_DATA, "\x07", 1);
        ca.props = ps;
        ONE5("v5-connack-limits", mqttc_encode_connack(s.b + 1, CAP, MQTTC_PROTOCOL_5, &ca, &n));
        memset(&ca, 0, sizeof ca);
        ca.reason_code = MQTTC_RC_BAD_USERNAME_OR_PASSWORD;
        ONE5("v5-connack-refused", mqttc_encode_connack(s.b + 1, CAP, MQTTC_PROTOCOL_5, &ca, &n));
        RAW5("v5-connack-no-property-length", 0x20, 0x02, 0x00, 0x00);
    }
    { /* PUBLISH: the message properties; an alias with an empty topic; subscription ids */
        mqttc_publish_info pi;
        memset(&pi, 0, sizeof pi);
        pi.topic = "a/b";
        pi.topic_len = 3;
        pi.payload = "caf\xC3\xA9";
        pi.payload_len = 5;
        pi.qos = 1;
        pi.packet_id = 10;
        ps.count = 0;
        pr[ps.count++] = mqttc_prop_int(MQTTC_PROP_PAYLOAD_FORMAT, 1);
        pr[ps.count++] = mqttc_prop_int(MQTTC_PROP_MESSAGE_EXPIRY, 60);
        pr[ps.count++] = mqttc_prop_str(MQTTC_PROP_CONTENT_TYPE, "text/plain");
        pr[ps.count++] = mqttc_prop_str(MQTTC_PROP_RESPONSE_TOPIC, "r/1");
        pr[ps.count++] = mqttc_prop_bin(MQTTC_PROP_CORRELATION_DATA, "\x01\x02", 2);
        pr[ps.count++] = mqttc_prop_int(MQTTC_PROP_TOPIC_ALIAS, 3);
        pr[ps.count++] = mqttc_prop_user("k", "v");
        pi.props = ps;
        ONE5("v5-publish-properties", mqttc_encode_publish(s.b + 1, CAP, MQTTC_PROTOCOL_5, &pi, &n));
        memset(&pi, 0, sizeof pi);
        pi.topic = "";
        pi.payload = "x";
        pi.payload_len = 1;
        pi.qos = 2;
        pi.dup = 1;
        pi.packet_id = 65535;
        ps.count = 0;
        pr[ps.count++] = mqttc_prop_int(MQTTC_PROP_TOPIC_ALIAS, 3);
        pr[ps.count++] = mqttc_prop_int(MQTTC_PROP_SUBSCRIPTION_ID, 1);
        pr[ps.count++] = mqttc_prop_int(MQTTC_PROP_SUBSCRIPTION_ID, 268435455);
        pi.props = ps;
        ONE5("v5-publish-alias-subscription-ids", mqttc_encode_publish(s.b + 1, CAP, MQTTC_PROTOCOL_5, &pi, &n));
        memset(&pi, 0, sizeof pi);
        pi.topic = "t";
        pi.topic_len = 1;
        pi.retain = 1;
        ONE5("v5-publish-qos0", mqttc_encode_publish(s.b + 1, CAP, MQTTC_PROTOCOL_5, &pi, &n));
    }
    { /* the acks in each form; UNSUBACK with a code per filter */
        static const int types[4] = {MQTTC_PUBACK, MQTTC_PUBREC, MQTTC_PUBREL, MQTTC_PUBCOMP};
        static const char *const names[4][3] = {
            {"v5-puback-short", "v5-puback-code", "v5-puback-reason-string"},
            {"v5-pubrec-short", "v5-pubrec-code", "v5-pubrec-reason-string"},
            {"v5-pubrel-short", "v5-pubrel-code", "v5-pubrel-reason-string"},
            {"v5-pubcomp-short", "v5-pubcomp-code", "v5-pubcomp-reason-string"},
        };
        for (int i = 0; i < 4; i++) {
            mqttc_ack_info ai;
            memset(&ai, 0, sizeof ai);
            ai.type = types[i];
            ai.packet_id = (unsigned short)(7 + i);
            ONE5(names[i][0], mqttc_encode_ack(s.b + 1, CAP, MQTTC_PROTOCOL_5, &ai, &n));
            ai.reason_code = i < 2 ? MQTTC_RC_NO_MATCHING_SUBSCRIBERS : MQTTC_RC_PACKET_ID_NOT_FOUND;
            ONE5(names[i][1], mqttc_encode_ack(s.b + 1, CAP, MQTTC_PROTOCOL_5, &ai, &n));
            ps.count = 0;
            pr[ps.count++] = mqttc_prop_str(MQTTC_PROP_REASON_STRING, "why");
            pr[ps.count++] = mqttc_prop_user("k", "v");
            ai.props = ps;
            ai.reason_code = i < 2 ? MQTTC_RC_QUOTA_EXCEEDED : 0;
            ONE5(names[i][2], mqttc_encode_ack(s.b + 1, CAP, MQTTC_PROTOCOL_5, &ai, &n));
        }
        RAW5("v5-puback-empty-property-length", 0x40, 0x04, 0x00, 0x07, 0x00, 0x00);
        mqttc_ack_info ua;
        memset(&ua, 0, sizeof ua);
        ua.type = MQTTC_UNSUBACK;
        ua.packet_id = 6;
        ua.codes = unsub;
        ua.count = 3;
        ps.count = 0;
        pr[ps.count++] = mqttc_prop_str(MQTTC_PROP_REASON_STRING, "partly");
        ua.props = ps;
        ONE5("v5-unsuback", mqttc_encode_ack(s.b + 1, CAP, MQTTC_PROTOCOL_5, &ua, &n));
    }
    { /* SUBSCRIBE with the option bits, a shared filter and a subscription id; SUBACK;
         UNSUBSCRIBE */
        mqttc_subscribe_info si;
        mqttc_suback_info sa;
        memset(&si, 0, sizeof si);
        si.packet_id = 5;
        si.filters = filters;
        si.options = options;
        si.count = 3;
        ps.count = 0;
        pr[ps.count++] = mqttc_prop_int(MQTTC_PROP_SUBSCRIPTION_ID, 16384);
        pr[ps.count++] = mqttc_prop_user("k", "v");
        si.props = ps;
        ONE5("v5-subscribe", mqttc_encode_subscribe(s.b + 1, CAP, MQTTC_PROTOCOL_5, &si, &n));
        si.packet_id = 6;
        si.count = 2;
        si.props.count = 1;
        si.props.list = pr + 1; /* the user property: a subscription id is not for UNSUBSCRIBE */
        ONE5("v5-unsubscribe", mqttc_encode_unsubscribe(s.b + 1, CAP, MQTTC_PROTOCOL_5, &si, &n));
        memset(&sa, 0, sizeof sa);
        sa.packet_id = 5;
        sa.codes = granted;
        sa.count = 4;
        ps.count = 0;
        pr[ps.count++] = mqttc_prop_str(MQTTC_PROP_REASON_STRING, "quota");
        sa.props = ps;
        ONE5("v5-suback", mqttc_encode_suback(s.b + 1, CAP, MQTTC_PROTOCOL_5, &sa, &n));
        sa.codes = zero;
        sa.count = 1;
        sa.props.count = 0;
        ONE5("v5-suback-one", mqttc_encode_suback(s.b + 1, CAP, MQTTC_PROTOCOL_5, &sa, &n));
    }
    { /* DISCONNECT of 0, 1 and more bytes; AUTH of 0 bytes and with properties */
        mqttc_disconnect_info di;
        mqttc_auth_info au;
        memset(&di, 0, sizeof di);
        ONE5("v5-disconnect-normal", mqttc_encode_disconnect(s.b + 1, CAP, MQTTC_PROTOCOL_5, &di, &n));
        RAW5("v5-disconnect-code", 0xE0, 0x01, 0x04);
        RAW5("v5-disconnect-empty-property-length", 0xE0, 0x02, 0x8E, 0x00);
        di.reason_code = MQTTC_RC_SERVER_MOVED;
        ps.count = 0;
        pr[ps.count++] = mqttc_prop_str(MQTTC_PROP_SERVER_REFERENCE, "other:1883");
        pr[ps.count++] = mqttc_prop_str(MQTTC_PROP_REASON_STRING, "moved");
        pr[ps.count++] = mqttc_prop_int(MQTTC_PROP_SESSION_EXPIRY, 0);
        di.props = ps;
        ONE5("v5-disconnect-properties", mqttc_encode_disconnect(s.b + 1, CAP, MQTTC_PROTOCOL_5, &di, &n));
        memset(&au, 0, sizeof au);
        ONE5("v5-auth-success", mqttc_encode_auth(s.b + 1, CAP, MQTTC_PROTOCOL_5, &au, &n));
        au.reason_code = MQTTC_RC_CONTINUE_AUTH;
        ps.count = 0;
        pr[ps.count++] = mqttc_prop_str(MQTTC_PROP_AUTH_METHOD, "SCRAM-SHA-1");
        pr[ps.count++] = mqttc_prop_bin(MQTTC_PROP_AUTH_DATA, "challenge", 9);
        pr[ps.count++] = mqttc_prop_str(MQTTC_PROP_REASON_STRING, "continue");
        au.props = ps;
        ONE5("v5-auth-continue", mqttc_encode_auth(s.b + 1, CAP, MQTTC_PROTOCOL_5, &au, &n));
        au.reason_code = MQTTC_RC_REAUTHENTICATE;
        au.props.count = 1;
        ONE5("v5-auth-reauthenticate", mqttc_encode_auth(s.b + 1, CAP, MQTTC_PROTOCOL_5, &au, &n));
    }
    save("decode", "v5-stream-all", &all);
    all.b[0] = 2; /* the same stream under a 300-byte limit */
    save("decode", "v5-stream-all-limit300", &all);
#undef CAP
#undef RAW5
#undef ONE5
}

/* Every packet type once or more, one per file (after the limit byte 0: no limit). */
static void decode_seeds(void) {
    static const unsigned char codes[4] = {0, 1, 2, 0x80}, qos[3] = {0, 1, 2};
    static const char *const filters[3] = {"a/+/c", "sport/#", "$SYS/x"};
    mqttc_subscribe_info sub = {0}, unsub = {0};
    mqttc_suback_info suback = {0};
    seed all = {{0}, 1}, s;
    size_t n;
    sub.packet_id = 5;
    sub.filters = filters;
    sub.options = qos;
    sub.count = 3;
    suback.packet_id = 5;
    suback.codes = codes;
    suback.count = 4;
    unsub.packet_id = 6;
    unsub.filters = filters;
    unsub.count = 2;
#define ONE(name, write)                                                                \
    do {                                                                                \
        memset(&s, 0, sizeof s);                                                        \
        s.n = 1;                                                                        \
        write;                                                                          \
        save("decode", name, &s);                                                       \
        put(&all, s.b + 1, s.n - 1);                                                    \
    } while (0)
    ONE("connect-minimal", connect_packet(&s, 0));
    ONE("connect-full", connect_packet(&s, 1));
    ONE("connack", connack_packet(&s, 1, 0));
    ONE("connack-refused", connack_packet(&s, 0, 5));
    ONE("publish-qos0", publish_packet(&s, "a/b", "hello", 0, 0, 0, 0));
    ONE("publish-qos1-retain", publish_packet(&s, "a/b/c", "payload", 1, 1, 0, 10));
    ONE("publish-qos2-dup", publish_packet(&s, "\xC3\xA9t\xC3\xA9/\xE2\x82\xAC", "x", 2, 0, 1, 65535));
    ONE("puback", ack_packet(&s, MQTTC_PUBACK, 1));
    ONE("pubrec", ack_packet(&s, MQTTC_PUBREC, 2));
    ONE("pubrel", ack_packet(&s, MQTTC_PUBREL, 3));
    ONE("pubcomp", ack_packet(&s, MQTTC_PUBCOMP, 4));
    ONE("subscribe", (mqttc_encode_subscribe(s.b + 1, 100, MQTTC_PROTOCOL_311, &sub, &n), s.n += n));
    ONE("suback", (mqttc_encode_suback(s.b + 1, 100, MQTTC_PROTOCOL_311, &suback, &n), s.n += n));
    ONE("unsubscribe", (mqttc_encode_unsubscribe(s.b + 1, 100, MQTTC_PROTOCOL_311, &unsub, &n), s.n += n));
    ONE("unsuback", ack_packet(&s, MQTTC_UNSUBACK, 6));
    ONE("pingreq", empty_packet(&s, MQTTC_PINGREQ));
    ONE("pingresp", empty_packet(&s, MQTTC_PINGRESP));
    ONE("disconnect", empty_packet(&s, MQTTC_DISCONNECT));
    ONE("publish-2byte-length", publish_packet(&s, "big", "0123456789012345678901234567890123456789"
                                                          "0123456789012345678901234567890123456789"
                                                          "0123456789012345678901234567890123456789", 0, 0, 0, 0));
    save("decode", "stream-all", &all);
    all.b[0] = 2; /* the same stream under a 300-byte limit */
    save("decode", "stream-all-limit300", &all);
#undef ONE
    decode_seeds_v5();
}

/* ---- the client's scripts (operation codes of fuzz_client.c) ---- */

enum { OP_RAW = 0, OP_PACKET = 1, OP_MS10 = 3, OP_S = 4, OP_PUBLISH = 5, OP_SUBSCRIBE = 6, OP_UNSUBSCRIBE = 7,
       OP_DISCONNECT = 8, OP_CHUNKS = 9, OP_STALL = 10, OP_END = 11, OP_RECONNECT = 12, OP_CORK = 13,
       OP_FLUSH = 14, OP_BEHAVIOUR = 15 };
/* packet kinds of feed_packet (the last two in MQTT 5 only) */
enum { K_CONNACK, K_PUBLISH, K_PUBACK, K_PUBREC, K_PUBREL, K_PUBCOMP, K_SUBACK, K_UNSUBACK, K_PINGRESP, K_DISCONNECT,
       K_AUTH };

/* options: b0 (bit 0 kept session, bit 1 caller memory, bits 3-4 keepalive - 1), b1 limit,
   b2 windows, b3 max_output, b4 timeouts and memory, the callback behaviour, b5 (bit 0 lock
   hooks) */
static void client_setup(seed *s, unsigned b0, unsigned behaviour) {
    put1(s, b0);
    PUT(s, 0x40, 0x3F, 0, 0x25); /* a 1 KiB limit: the default 16 MiB makes every input that
                                    announces a large packet allocate 16 MiB, and fuzzing slow */
    put1(s, behaviour);
    put1(s, 0x01); /* lock hooks on */
}

/* MQTT 5 (b5 bit 4), with b5's other bits: 1 lock hooks, 32 aliases in, 64 aliases out,
   128 enhanced authentication */
static void client_setup_v5(seed *s, unsigned b0, unsigned b5) {
    put1(s, b0);
    PUT(s, 0x40, 0x3F, 0, 0x25);
    put1(s, 0); /* callbacks call nothing back */
    put1(s, 0x10 | b5);
}

/* An MQTT 5 session: CONNACK limits, a subscription with the MQTT 5 options, publishes with
   properties and an outgoing alias, acks with reason codes, incoming aliases and
   subscription identifiers, the broker's DISCONNECT. Operation bytes as fuzz_client.c
   reads them in MQTT 5 (feed_packet_v5, do_publish, do_request). */
static void client_v5_seeds(void) {
    seed s;
    memset(&s, 0, sizeof s);
    client_setup_v5(&s, 0x00, 0x61);
    /* CONNACK: Receive Maximum 3, Maximum QoS 1, Topic Alias Maximum 3, Maximum Packet Size 848 */
    PUT(&s, OP_PACKET, K_CONNACK, 0x00, 0x1B, 2, 1, 3, 100);
    PUT(&s, OP_SUBSCRIBE, 0x4F, 0, 0x0E);          /* "a/#", No Local, RAP, Retain Handling 1 */
    PUT(&s, OP_PACKET, K_SUBACK, 0x00, 0);          /* granted 0 */
    PUT(&s, OP_SUBSCRIBE, 0x4F, 1, 0x01);           /* "$share/g/a/+" */
    PUT(&s, OP_PACKET, K_SUBACK, 0x07, 1);          /* 0x9E: shared subscriptions not supported */
    PUT(&s, OP_PUBLISH, 0x04, 10, 0x01);            /* QoS 1 to a/b, a user property: alias 1 */
    PUT(&s, OP_PACKET, K_PUBACK, 0x10, 0);          /* no matching subscribers */
    PUT(&s, OP_PUBLISH, 0x04, 10, 0x00);            /* again: the alias alone */
    PUT(&s, OP_PACKET, K_PUBACK, 0x28, 1);          /* refused (0x80), with a Reason String */
    PUT(&s, OP_PUBLISH, 0x05, 10, 0x00);            /* QoS 2: above Maximum QoS, refused */
    PUT(&s, OP_PUBLISH, 0x21, 4, 0x02);             /* QoS 0, retained, Message Expiry */
    PUT(&s, OP_PACKET, K_PUBLISH, 0x04, 0x05, 0xF0, 0x00, 0x05, 3, 0, 0); /* QoS 1, alias 1, id 1 */
    PUT(&s, OP_PACKET, K_PUBLISH, 0x03, 0x03, 2, 0);                      /* QoS 0 by alias 1 alone */
    PUT(&s, OP_PACKET, K_PUBLISH, 0x02, 0x0C, 0xF0, 0x00, 0x06, 1, 0, 1); /* QoS 2, ids 1 and 2 */
    PUT(&s, OP_PACKET, K_PUBREL, 0x00, 0);
    PUT(&s, OP_UNSUBSCRIBE, 0, 0);
    PUT(&s, OP_PACKET, K_UNSUBACK, 0x01, 0);        /* 0x11: no subscription existed */
    PUT(&s, OP_S, 2);
    PUT(&s, OP_PACKET, K_PINGRESP, 0);
    PUT(&s, OP_PACKET, K_DISCONNECT, 0x81);         /* 0x9C, use another server, with a Server Reference */
    PUT(&s, OP_RECONNECT);
    PUT(&s, OP_PACKET, K_CONNACK, 0x00, 0x00);
    PUT(&s, OP_DISCONNECT, 0x01);                   /* with a reason */
    save("client", "v5-limits-aliases-reasons", &s);

    memset(&s, 0, sizeof s); /* enhanced authentication: a challenge, CONNACK, re-authentication */
    client_setup_v5(&s, 0x01, 0x81);
    PUT(&s, OP_PACKET, K_AUTH, 0x04);               /* 0x18 with our method and data */
    PUT(&s, OP_PACKET, K_CONNACK, 0x00, 0x80, 0x10); /* with our Authentication Method */
    PUT(&s, OP_CORK, 0x04);                         /* mqttc_reauthenticate: AUTH 0x19 */
    PUT(&s, OP_PACKET, K_AUTH, 0x04);               /* 0x18 again */
    PUT(&s, OP_PACKET, K_AUTH, 0x24);               /* 0x00: done */
    PUT(&s, OP_PUBLISH, 0x05, 3, 0x00);             /* QoS 2 */
    PUT(&s, OP_PACKET, K_PUBREC, 0x00, 0);
    PUT(&s, OP_PACKET, K_PUBCOMP, 0x00, 0);
    PUT(&s, OP_CORK, 0x04);
    PUT(&s, OP_PACKET, K_AUTH, 0x44);               /* 0x18 with data "no": on_auth gives up */
    save("client", "v5-enhanced-authentication", &s);
}

static void client_happy(seed *s) {
    PUT(s, OP_PACKET, K_CONNACK, 0);
    PUT(s, OP_CHUNKS, 0x30);                  /* writes of 9 bytes */
    PUT(s, OP_SUBSCRIBE, 0x48, 0);            /* "a/#" QoS 1 with a handler */
    PUT(s, OP_PACKET, K_SUBACK, 1, 0);        /* granted 1 */
    for (unsigned i = 0; i < 12; i++) {       /* d/0 .. d/11 with handlers: the pool grows */
        put1(s, OP_SUBSCRIBE);
        put1(s, 0x40);
        put1(s, 0x80 + i);
    }
    PUT(s, OP_PUBLISH, 0x04, 10);             /* QoS 1 to a/b: id 14 */
    PUT(s, OP_PACKET, K_PUBACK, 0, 0);
    PUT(s, OP_PUBLISH, 0x05, 10);             /* QoS 2 to a/b: id 15 */
    PUT(s, OP_PACKET, K_PUBREC, 0, 1);
    PUT(s, OP_PACKET, K_PUBCOMP, 0, 0);
    PUT(s, OP_PACKET, K_PUBLISH, 0x04, 0xF0, 0x00, 0x05, 3);   /* QoS 1 in, id 5 */
    PUT(s, OP_PACKET, K_PUBLISH, 0x05, 0xF0, 0x00, 0x06, 3);   /* QoS 2 in, id 6 */
    PUT(s, OP_PACKET, K_PUBREL, 0, 0);
    PUT(s, OP_S, 2);                          /* PINGREQ */
    PUT(s, OP_PACKET, K_PINGRESP, 0);
    PUT(s, OP_UNSUBSCRIBE, 0, 0);
    PUT(s, OP_PACKET, K_UNSUBACK, 0, 0);
    PUT(s, OP_CORK, 1);
    PUT(s, OP_PUBLISH, 0x06, 3);
    PUT(s, OP_PUBLISH, 0x04, 3);
    PUT(s, OP_CORK, 0);
    PUT(s, OP_FLUSH);
    PUT(s, OP_DISCONNECT);
}

static void client_seeds(void) {
    seed s;
    memset(&s, 0, sizeof s);
    client_setup(&s, 0x00, 0);
    client_happy(&s);
    save("client", "happy-path", &s);

    memset(&s, 0, sizeof s); /* caller memory, callbacks that call back */
    client_setup(&s, 0x02, 0x7F);
    client_happy(&s);
    save("client", "caller-memory-reentrant", &s);

    memset(&s, 0, sizeof s); /* a kept session: in flight, the link breaks, resent */
    client_setup(&s, 0x01, 0);
    PUT(&s, OP_PACKET, K_CONNACK, 0);
    PUT(&s, OP_PUBLISH, 0x04, 20);            /* QoS 1: id 1 */
    PUT(&s, OP_PUBLISH, 0x05, 20);            /* QoS 2: id 2 */
    PUT(&s, OP_PACKET, K_PUBREC, 0, 1);
    PUT(&s, OP_PACKET, K_PUBLISH, 0x05, 0xF0, 0x00, 0x09, 3);
    PUT(&s, OP_END, 1);
    PUT(&s, OP_RECONNECT);
    PUT(&s, OP_PACKET, K_CONNACK, 1);         /* session present: PUBLISH 1 and PUBREL 2 again */
    PUT(&s, OP_PACKET, K_PUBACK, 0, 0);
    PUT(&s, OP_PACKET, K_PUBCOMP, 0, 0);
    PUT(&s, OP_PACKET, K_PUBREL, 0, 0);
    PUT(&s, OP_DISCONNECT);
    save("client", "kept-session-reconnect", &s);

    memset(&s, 0, sizeof s); /* writes stall: publishes until busy, then the ping times out */
    client_setup(&s, 0x08, 0);
    PUT(&s, OP_PACKET, K_CONNACK, 0);
    PUT(&s, OP_STALL);
    for (int i = 0; i < 8; i++) PUT(&s, OP_PUBLISH, 0x81, 40); /* QoS 0, 20 KB */
    PUT(&s, OP_PUBLISH, 0x01, 4);
    PUT(&s, OP_S, 2);
    PUT(&s, OP_S, 2);
    PUT(&s, OP_S, 2);
    save("client", "stalled-writes", &s);

    memset(&s, 0, sizeof s); /* the broker's bytes raw: CONNACK; SUBACK and PUBLISH in one read */
    PUT(&s, 0x00, 0x00, 0x3F, 0x00, 0x25, 0x00, 0x00); /* the default limit, 16 MiB; no lock */
    PUT(&s, OP_RAW, 4, 0x20, 0x02, 0x00, 0x00);
    PUT(&s, OP_SUBSCRIBE, 0x00, 0);
    PUT(&s, OP_RAW, 13, 0x90, 0x03, 0x00, 0x01, 0x00, 0x30, 0x06, 0x00, 0x01, 'a', 'h', 'e', 'y');
    PUT(&s, OP_MS10, 50);
    save("client", "raw-broker-bytes", &s);
    client_v5_seeds();
}

/* ---- the minibroker's scripts (operation codes of fuzz_minibroker.c) ---- */

#define SLOT(k, op) ((k) << 4 | (op))
enum { M_RAW = 0, M_PACKET = 1, M_DROP = 5, M_KEEPALIVE = 6, M_SPLIT = 7 };
enum { P_CONNECT, P_PUBLISH, P_SUBSCRIBE = 3, P_UNSUBSCRIBE, P_PUBACK, P_PUBREC, P_PUBREL_OR_COMP, P_PINGREQ,
       P_DISCONNECT };

static void minibroker_seeds(void) {
    seed s;
    memset(&s, 0, sizeof s);
    put1(&s, 0);                                               /* default options */
    PUT(&s, SLOT(0, M_PACKET), P_CONNECT, 0x00, 0);            /* "a", kept session */
    PUT(&s, SLOT(0, M_PACKET), P_SUBSCRIBE, 0x00, 2);          /* t/# QoS 2 */
    PUT(&s, SLOT(1, M_PACKET), P_CONNECT, 0x05, 0);            /* "b", clean */
    PUT(&s, SLOT(1, M_PACKET), P_PUBLISH, 13, 5, 0);           /* t/a QoS 1, id 1 */
    PUT(&s, SLOT(1, M_SPLIT), P_PUBLISH, 19, 5, 2, 3);         /* t/a QoS 2, id 3, in two reads */
    PUT(&s, SLOT(1, M_PACKET), P_PUBREL_OR_COMP, 2);           /* PUBREL 3 */
    PUT(&s, SLOT(0, M_PACKET), P_PUBACK, 0);                   /* PUBACK 1 */
    PUT(&s, SLOT(0, M_PACKET), P_PUBREC, 1);                   /* PUBREC 2: PUBREL 2 comes */
    PUT(&s, SLOT(0, M_PACKET), P_PUBREL_OR_COMP, 1);           /* PUBCOMP 2 */
    PUT(&s, SLOT(1, M_PACKET), P_PUBLISH, 0x30, 3);            /* t, retained */
    PUT(&s, SLOT(2, M_PACKET), P_CONNECT, 0x00, 0);            /* "a" again: takeover */
    PUT(&s, SLOT(2, M_PACKET), P_SUBSCRIBE, 0x44, 1);          /* t and t/#: the retained one */
    PUT(&s, SLOT(3, M_PACKET), P_CONNECT, 0x27, 1, 0);         /* a will, QoS 1 */
    PUT(&s, SLOT(3, M_DROP));                                  /* will published */
    PUT(&s, SLOT(2, M_PACKET), P_UNSUBSCRIBE, 0x00);
    PUT(&s, SLOT(1, M_PACKET), P_PINGREQ, 0);
    PUT(&s, SLOT(1, M_KEEPALIVE), 200);
    PUT(&s, SLOT(2, M_PACKET), P_DISCONNECT, 0);
    save("minibroker", "sessions-qos-retain-will", &s);

    memset(&s, 0, sizeof s); /* raw bytes: CONNECT, SUBSCRIBE, PUBLISH in one read */
    put1(&s, 0);
    PUT(&s, SLOT(0, M_RAW), 32, 0x10, 0x0D, 0x00, 0x04, 'M', 'Q', 'T', 'T', 0x04, 0x02, 0x00, 0x3C, 0x00, 0x01, 'x',
        0x82, 0x06, 0x00, 0x01, 0x00, 0x01, '#', 0x01, 0x32, 0x07, 0x00, 0x01, 'z', 0x00, 0x01, 'h', 'i');
    save("minibroker", "raw-client-bytes", &s);

    memset(&s, 0, sizeof s); /* credentials required; refused and accepted */
    put1(&s, 0x0C);
    PUT(&s, SLOT(0, M_PACKET), P_CONNECT, 0x04, 0);            /* no user name: 5 */
    PUT(&s, SLOT(1, M_PACKET), P_CONNECT, 0x05, 7);            /* user and pass */
    PUT(&s, SLOT(1, M_PACKET), P_SUBSCRIBE, 0x80, 0);
    save("minibroker", "credentials", &s);
}

int main(int argc, char **argv) {
    if (argc > 1) out_dir = argv[1];
    decode_seeds();
    client_seeds();
    minibroker_seeds();
    return test__current_failed; /* an encoder of tests/test.h refused a seed's packet */
}
