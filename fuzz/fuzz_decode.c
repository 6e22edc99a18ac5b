/* fuzz/fuzz_decode.c - the packet decoder, every packet type (and the encoders).
   The input is a stream of packets after one byte that picks the size limit. Every packet
   the decoder accepts must lie inside the input, re-encode to the very same bytes (the
   decoder only accepts the one minimal encoding, so a symmetric codec bug cannot hide), and
   decode as "more" from every shorter prefix. A rejected byte is skipped and decoding goes
   on, so one input exercises many packets. The same input is then read as arguments for
   the encoders: each must refuse them or write a packet that decodes to the same fields.
   Any violated property aborts. */
#define MQTTC_IMPLEMENTATION
#define MQTTC_NO_SOCKETS
#include "mqttc.h"

#include <stdio.h>
#include <stdlib.h>

#define FUZZ_REQUIRE(cond)                                                                    \
    do {                                                                                      \
        if (!(cond)) {                                                                        \
            fprintf(stderr, "fuzz_decode: %s:%d: %s\n", __FILE__, __LINE__, #cond);           \
            abort();                                                                          \
        }                                                                                     \
    } while (0)

static int inside(const void *ptr, size_t len, const unsigned char *buf, size_t used) {
    const unsigned char *p = (const unsigned char *)ptr;
    return len == 0 || (p >= buf && p + len <= buf + used);
}

/* Re-encodes a decoded CONNECT. The decoder accepts what a broker must refuse with a
   CONNACK code rather than by closing (another protocol name or level, an empty client id
   with clean session 0 [MQTT-3.1.3-8]); only the rest must round-trip. */
static int encode_connect_again(const mqttc_packet *p, unsigned char *out, size_t cap, size_t *n) {
    const mqttc_connect_info *ci = &p->connect;
    int is_311 = ci->protocol_name.len == 4 && memcmp(ci->protocol_name.ptr, "MQTT", 4) == 0 &&
                 ci->protocol_level == 4;
    if (!is_311) return 1;
    int rc = mqttc_encode_connect(out, cap, ci, n);
    if (rc == MQTTC_ERR_ARG && ci->client_id.len == 0 && !ci->clean_session) return 1;
    FUZZ_REQUIRE(rc == MQTTC_OK);
    return 0;
}

/* Re-encodes SUBSCRIBE or UNSUBSCRIBE from the filter iterator, which must yield exactly
   count well-formed filters. */
static void encode_filters_again(const mqttc_packet *p, unsigned char *out, size_t cap, size_t *n) {
    mqttc_str *filters = (mqttc_str *)malloc(p->count * sizeof *filters);
    unsigned char *qos = (unsigned char *)malloc(p->count);
    size_t pos = 0, k = 0;
    mqttc_str f;
    int q = -1;
    FUZZ_REQUIRE(filters && qos);
    while (mqttc_next_filter(p, &pos, &f, &q)) {
        FUZZ_REQUIRE(k < p->count);
        FUZZ_REQUIRE(mqttc_filter_check(f.ptr, f.len) == MQTTC_OK);
        FUZZ_REQUIRE(inside(f.ptr, f.len, p->list, p->list_len));
        filters[k] = f;
        qos[k] = (unsigned char)q;
        FUZZ_REQUIRE(p->type != MQTTC_SUBSCRIBE || (q >= 0 && q <= 2));
        k++;
    }
    FUZZ_REQUIRE(k == p->count && pos == p->list_len);
    int rc = p->type == MQTTC_SUBSCRIBE
                 ? mqttc_encode_subscribe(out, cap, p->packet_id, filters, qos, k, n)
                 : mqttc_encode_unsubscribe(out, cap, p->packet_id, filters, k, n);
    FUZZ_REQUIRE(rc == MQTTC_OK);
    free(filters);
    free(qos);
}

/* Encodes p again into out (cap bytes, at least the packet's size); returns 1 when the
   packet is one the encoders do not produce (see encode_connect_again). */
static int encode_again(const mqttc_packet *p, unsigned char *out, size_t cap, size_t *n) {
    int rc = MQTTC_OK;
    switch (p->type) {
    case MQTTC_CONNECT: return encode_connect_again(p, out, cap, n);
    case MQTTC_CONNACK: rc = mqttc_encode_connack(out, cap, p->session_present, p->return_code, n); break;
    case MQTTC_PUBLISH:
        rc = mqttc_encode_publish(out, cap, p->topic, p->payload, p->payload_len, p->qos, p->retain, p->dup,
                                  p->packet_id, n);
        break;
    case MQTTC_PUBACK: case MQTTC_PUBREC: case MQTTC_PUBREL: case MQTTC_PUBCOMP: case MQTTC_UNSUBACK:
        rc = mqttc_encode_ack(out, cap, p->type, p->packet_id, n);
        break;
    case MQTTC_SUBSCRIBE: case MQTTC_UNSUBSCRIBE: encode_filters_again(p, out, cap, n); break;
    case MQTTC_SUBACK: rc = mqttc_encode_suback(out, cap, p->packet_id, p->list, p->count, n); break;
    case MQTTC_PINGREQ: case MQTTC_PINGRESP: case MQTTC_DISCONNECT: rc = mqttc_encode_empty(out, cap, p->type, n); break;
    default: FUZZ_REQUIRE(!"decoded a reserved packet type");
    }
    FUZZ_REQUIRE(rc == MQTTC_OK);
    return 0;
}

/* The fields of an accepted packet point into it and obey the spec's rules. */
static void check_fields(const mqttc_packet *p, const unsigned char *buf, size_t used) {
    FUZZ_REQUIRE(p->type >= MQTTC_CONNECT && p->type <= MQTTC_DISCONNECT);
    FUZZ_REQUIRE(inside(p->topic.ptr, p->topic.len, buf, used));
    FUZZ_REQUIRE(inside(p->payload, p->payload_len, buf, used));
    FUZZ_REQUIRE(inside(p->list, p->list_len, buf, used));
    if (p->type == MQTTC_PUBLISH) {
        FUZZ_REQUIRE(mqttc_topic_check(p->topic.ptr, p->topic.len) == MQTTC_OK);
        FUZZ_REQUIRE(p->qos >= 0 && p->qos <= 2);
        FUZZ_REQUIRE((p->qos == 0) == (p->packet_id == 0)); /* [MQTT-2.3.1-1/5] */
    }
    if (p->type == MQTTC_SUBACK) FUZZ_REQUIRE(p->count >= 1 && p->count == p->list_len);
    if (p->type >= MQTTC_PUBACK && p->type <= MQTTC_UNSUBACK) FUZZ_REQUIRE(p->packet_id != 0);
}

/* Every proper prefix of a complete packet decodes as "more", never as a packet or error. */
static void check_prefixes(const unsigned char *buf, size_t used, size_t max_size) {
    mqttc_packet q;
    size_t u;
    for (size_t k = 0; k < used; k = k < 8 ? k + 1 : k + 1 + (used - k) / 4) {
        FUZZ_REQUIRE(mqttc_decode(buf, k, max_size, &q, &u) == MQTTC_MORE);
        FUZZ_REQUIRE(u == 0 || u == used);
    }
}

static void check_packet(const unsigned char *buf, size_t len, size_t max_size, const mqttc_packet *p, size_t used) {
    FUZZ_REQUIRE(used >= 2 && used <= len);
    FUZZ_REQUIRE(max_size == 0 || used <= max_size);
    check_fields(p, buf, used);
    check_prefixes(buf, used, max_size);
    unsigned char *again = (unsigned char *)malloc(used);
    size_t n = 0;
    FUZZ_REQUIRE(again);
    if (encode_again(p, again, used, &n) == 0) {
        FUZZ_REQUIRE(n == used);
        FUZZ_REQUIRE(memcmp(again, buf, used) == 0);
    }
    free(again);
}

/* ---- the other way: encoders given arbitrary arguments ---- */

/* Arguments cut from the input: the encoders either refuse them (ARG, or NOSPACE when the
   buffer is short) or write a packet the decoder takes back with the same fields. */
typedef struct enc_args {
    const unsigned char *p;
    size_t n;
} enc_args;

static unsigned take_byte(enc_args *a) {
    if (!a->n) return 0;
    a->n--;
    return *a->p++;
}
static mqttc_str take_str(enc_args *a) {
    mqttc_str s = {(const char *)a->p, take_byte(a) % 24};
    if (s.len > a->n) s.len = a->n;
    s.ptr = (const char *)a->p;
    a->p += s.len;
    a->n -= s.len;
    if (take_byte(a) == 0xFF) s.ptr = NULL; /* absent */
    return s;
}

static int same_str(mqttc_str a, mqttc_str b) { return a.len == b.len && (a.len == 0 || memcmp(a.ptr, b.ptr, a.len) == 0); }

/* Decodes what an encoder wrote: complete, well-formed, and as long as it said. */
static void decode_back(const unsigned char *buf, size_t n, mqttc_packet *p) {
    size_t used;
    FUZZ_REQUIRE(mqttc_decode(buf, n, 0, p, &used) == MQTTC_OK && used == n);
}

static void encode_publish_back(enc_args *a, unsigned char *buf, size_t cap) {
    mqttc_str topic = take_str(a), payload = take_str(a);
    unsigned b = take_byte(a);
    unsigned short id = (unsigned short)(take_byte(a) << 8 | take_byte(a));
    int qos = (int)(b % 4) - (b & 4 ? 1 : 0); /* -1 .. 3 */
    size_t n;
    int rc = mqttc_encode_publish(buf, cap, topic, payload.ptr, payload.len, qos, (b >> 3) & 1, (b >> 4) & 1, id, &n);
    FUZZ_REQUIRE(rc == MQTTC_OK || rc == MQTTC_ERR_ARG || rc == MQTTC_ERR_NOSPACE);
    if (rc != MQTTC_OK) return;
    mqttc_packet p;
    decode_back(buf, n, &p);
    FUZZ_REQUIRE(p.type == MQTTC_PUBLISH && same_str(p.topic, topic) && p.qos == qos && p.packet_id == (qos ? id : 0));
    FUZZ_REQUIRE(p.payload_len == payload.len && (payload.len == 0 || memcmp(p.payload, payload.ptr, payload.len) == 0));
    FUZZ_REQUIRE(p.retain == (int)((b >> 3) & 1) && p.dup == (int)((b >> 4) & 1));
}

static void encode_connect_back(enc_args *a, unsigned char *buf, size_t cap) {
    mqttc_connect_info ci;
    size_t n;
    unsigned b = take_byte(a);
    memset(&ci, 0, sizeof ci);
    ci.client_id = take_str(a);
    ci.clean_session = b & 1;
    ci.keepalive_s = (unsigned)take_byte(a) * 300u; /* past 65535 too */
    if (b & 2) { ci.will_topic = take_str(a); ci.will_payload = take_str(a); }
    ci.will_qos = (int)((b >> 2) % 4);
    ci.will_retain = (b >> 4) & 1;
    if (b & 32) ci.username = take_str(a);
    if (b & 64) ci.password = take_str(a);
    int rc = mqttc_encode_connect(buf, cap, &ci, &n);
    FUZZ_REQUIRE(rc == MQTTC_OK || rc == MQTTC_ERR_ARG || rc == MQTTC_ERR_NOSPACE);
    if (rc != MQTTC_OK) return;
    mqttc_packet p;
    decode_back(buf, n, &p);
    FUZZ_REQUIRE(p.type == MQTTC_CONNECT && same_str(p.connect.client_id, ci.client_id));
    FUZZ_REQUIRE(p.connect.clean_session == ci.clean_session && p.connect.keepalive_s == ci.keepalive_s);
    FUZZ_REQUIRE((p.connect.will_topic.ptr != NULL) == (ci.will_topic.ptr != NULL));
    FUZZ_REQUIRE(!ci.will_topic.ptr || (same_str(p.connect.will_topic, ci.will_topic) &&
                                        same_str(p.connect.will_payload, ci.will_payload) &&
                                        p.connect.will_qos == ci.will_qos && p.connect.will_retain == ci.will_retain));
    FUZZ_REQUIRE((p.connect.username.ptr != NULL) == (ci.username.ptr != NULL) && same_str(p.connect.username, ci.username));
    FUZZ_REQUIRE((p.connect.password.ptr != NULL) == (ci.password.ptr != NULL) && same_str(p.connect.password, ci.password));
}

/* SUBSCRIBE, UNSUBSCRIBE and SUBACK with up to 4 entries. */
static void encode_lists_back(enc_args *a, unsigned char *buf, size_t cap) {
    mqttc_str filters[4];
    unsigned char codes[4];
    unsigned b = take_byte(a);
    size_t count = b % 5, n;
    unsigned short id = (unsigned short)take_byte(a);
    for (size_t i = 0; i < count; i++) {
        filters[i] = take_str(a);
        codes[i] = (unsigned char)take_byte(a);
    }
    int type = (b >> 3) % 3, rc;
    if (type == 0) rc = mqttc_encode_subscribe(buf, cap, id, filters, (b & 64) ? NULL : codes, count, &n);
    else if (type == 1) rc = mqttc_encode_unsubscribe(buf, cap, id, filters, count, &n);
    else rc = mqttc_encode_suback(buf, cap, id, (b & 64) ? NULL : codes, count, &n);
    FUZZ_REQUIRE(rc == MQTTC_OK || rc == MQTTC_ERR_ARG || rc == MQTTC_ERR_NOSPACE);
    if (rc != MQTTC_OK) return;
    mqttc_packet p;
    decode_back(buf, n, &p);
    FUZZ_REQUIRE(p.packet_id == id && p.count == count);
    if (type == 2) { FUZZ_REQUIRE(p.type == MQTTC_SUBACK && memcmp(p.list, codes, count) == 0); return; }
    size_t pos = 0, i = 0;
    mqttc_str f;
    int q;
    while (mqttc_next_filter(&p, &pos, &f, &q)) {
        FUZZ_REQUIRE(i < count && same_str(f, filters[i]) && (type == 1 || q == codes[i]));
        i++;
    }
    FUZZ_REQUIRE(i == count);
}

static void encode_small_back(enc_args *a, unsigned char *buf, size_t cap) {
    unsigned b = take_byte(a), type = take_byte(a) % 16;
    unsigned short id = (unsigned short)(take_byte(a) << 8 | take_byte(a));
    size_t n;
    int rc = b & 1 ? mqttc_encode_ack(buf, cap, (int)type, id, &n)
           : b & 2 ? mqttc_encode_empty(buf, cap, (int)type, &n)
                   : mqttc_encode_connack(buf, cap, (b >> 2) & 1, (int)(id % 300) - 10, &n);
    FUZZ_REQUIRE(rc == MQTTC_OK || rc == MQTTC_ERR_ARG || rc == MQTTC_ERR_NOSPACE);
    if (rc != MQTTC_OK) return;
    /* the CONNACK encoder writes reserved codes 6..255 on purpose (test brokers send them:
       minibroker --connack N); the decoder refuses them [MQTT-3.2.2] */
    if ((b & 3) == 0 && (int)(id % 300) - 10 > 5) return;
    mqttc_packet p;
    decode_back(buf, n, &p);
    FUZZ_REQUIRE((b & 3) == 0 ? p.type == MQTTC_CONNACK && p.return_code == (int)(id % 300) - 10
                              : p.type == (int)type && ((b & 1) == 0 || p.packet_id == id));
}

/* Runs the encoders on arguments from the input, into a buffer of a size from the input (a
   short one must give NOSPACE and the size needed, never an overrun). */
static void fuzz_encoders(const uint8_t *data, size_t size) {
    enc_args a = {data, size};
    while (a.n) {
        unsigned which = take_byte(&a), cap = which >> 2 == 63 ? 0 : 4 + (which >> 2) * 4;
        unsigned char *buf = (unsigned char *)malloc(cap ? cap : 1);
        FUZZ_REQUIRE(buf);
        switch (which & 3) {
        case 0: encode_publish_back(&a, cap ? buf : NULL, cap); break;
        case 1: encode_connect_back(&a, cap ? buf : NULL, cap); break;
        case 2: encode_lists_back(&a, cap ? buf : NULL, cap); break;
        default: encode_small_back(&a, cap ? buf : NULL, cap); break;
        }
        free(buf);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static const size_t limits[4] = {0, 16, 300, MQTTC_DEFAULT_MAX_PACKET};
    if (size < 1) return 0;
    size_t max_size = limits[data[0] & 3u], pos = 1;
    while (pos < size) {
        mqttc_packet p;
        size_t used = 0;
        int rc = mqttc_decode(data + pos, size - pos, max_size, &p, &used);
        if (rc == MQTTC_OK) {
            check_packet(data + pos, size - pos, max_size, &p, used);
            pos += used;
            continue;
        }
        FUZZ_REQUIRE(rc == MQTTC_MORE || rc == MQTTC_ERR_MALFORMED || rc == MQTTC_ERR_OVERFLOW);
        FUZZ_REQUIRE(rc != MQTTC_ERR_OVERFLOW || max_size != 0);
        if (rc == MQTTC_MORE) {
            FUZZ_REQUIRE(used == 0 || used > size - pos);
            break;
        }
        pos++; /* resynchronise on the next byte: more packets per input */
    }
    fuzz_encoders(data, size);
    return 0;
}
