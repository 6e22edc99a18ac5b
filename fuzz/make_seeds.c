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
}

/* ---- the client's scripts (operation codes of fuzz_client.c) ---- */

enum { OP_RAW = 0, OP_PACKET = 1, OP_MS10 = 3, OP_S = 4, OP_PUBLISH = 5, OP_SUBSCRIBE = 6, OP_UNSUBSCRIBE = 7,
       OP_DISCONNECT = 8, OP_CHUNKS = 9, OP_STALL = 10, OP_END = 11, OP_RECONNECT = 12, OP_CORK = 13,
       OP_FLUSH = 14, OP_BEHAVIOUR = 15 };
/* packet kinds of feed_packet */
enum { K_CONNACK, K_PUBLISH, K_PUBACK, K_PUBREC, K_PUBREL, K_PUBCOMP, K_SUBACK, K_UNSUBACK, K_PINGRESP };

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
