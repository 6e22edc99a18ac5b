/* fuzz/fuzz_decode.c - the packet decoder, every packet type (and the encoders).
   The input is a stream of packets after one byte that picks the size limit. Every packet
   the decoder accepts must lie inside the input, re-encode to the very same bytes (the
   decoder only accepts the one minimal encoding, so a symmetric codec bug cannot hide), and
   decode as "more" from every shorter prefix. A rejected byte is skipped and decoding goes
   on, so one input exercises many packets. The same input is then read as arguments for
   the encoders: each must refuse them or write a packet that decodes to the same fields.
   Any violated property aborts. Input is decoded and re-encoded as protocol version
   MQTTC_PROTOCOL_311, the encoders' arguments go with version 0 (which means the same). */
#define MQTTC_IMPLEMENTATION
#define MQTTC_NO_SOCKETS
#include "mqttc.h"
#define FUZZ_TARGET "fuzz_decode"
#include "fuzz/fuzz.h"

static int inside(const void *ptr, size_t len, const unsigned char *buf, size_t used) {
    const unsigned char *p = (const unsigned char *)ptr;
    return len == 0 || (p >= buf && p + len <= buf + used);
}
static int str_inside(mqttc_str s, const unsigned char *buf, size_t used) { return inside(s.ptr, s.len, buf, used); }

/* Re-encodes a decoded CONNECT. The decoder accepts what a broker must refuse with a
   CONNACK code rather than by closing (another protocol name or level, an empty client id
   with clean session 0 [MQTT-3.1.3-8]); only the rest must round-trip. */
static int encode_connect_again(const mqttc_packet *p, unsigned char *out, size_t cap, size_t *n) {
    const mqttc_connect_info *ci = &p->connect;
    int is_311 = ci->protocol_name.len == 4 && memcmp(ci->protocol_name.ptr, "MQTT", 4) == 0 &&
                 ci->protocol_level == 4;
    if (!is_311) return 1;
    int rc = mqttc_encode_connect(out, cap, MQTTC_PROTOCOL_311, ci, n);
    if (rc == MQTTC_ERR_ARG && ci->client_id.len == 0 && !ci->clean_session) return 1;
    FUZZ_REQUIRE(rc == MQTTC_OK);
    return 0;
}

/* Re-encodes SUBSCRIBE or UNSUBSCRIBE from the filter iterator, which must yield exactly
   count well-formed filters. The encoder takes C strings: each filter is copied with a NUL
   after it (a well-formed filter has none inside [MQTT-1.5.3-2]), all of them in one block
   no larger than the list (on the wire each has 2 length bytes more). */
static void encode_filters_again(const mqttc_packet *p, unsigned char *out, size_t cap, size_t *n) {
    const mqttc_subscribe_info *si = &p->subscribe;
    const char **filters = (const char **)malloc(si->count * sizeof *filters);
    char *text = (char *)malloc(si->list_len + 1), *at = text;
    unsigned char *qos = (unsigned char *)malloc(si->count);
    size_t pos = 0, k = 0;
    mqttc_str f;
    int q = -1;
    FUZZ_REQUIRE(filters && text && qos);
    while (mqttc_next_filter(&p->subscribe, &pos, &f, &q)) {
        FUZZ_REQUIRE(k < si->count);
        FUZZ_REQUIRE(mqttc_filter_check(f.ptr, f.len) == MQTTC_OK);
        FUZZ_REQUIRE(inside(f.ptr, f.len, si->list, si->list_len));
        FUZZ_REQUIRE(memchr(f.ptr, 0, f.len) == NULL);
        memcpy(at, f.ptr, f.len);
        at[f.len] = '\0';
        filters[k] = at;
        at += f.len + 1;
        qos[k] = (unsigned char)q;
        FUZZ_REQUIRE(p->type != MQTTC_SUBSCRIBE || (q >= 0 && q <= 2));
        k++;
    }
    FUZZ_REQUIRE(k == si->count && pos == si->list_len);
    mqttc_subscribe_info again = {0};
    again.packet_id = si->packet_id;
    again.filters = filters;
    again.options = p->type == MQTTC_SUBSCRIBE ? qos : NULL;
    again.count = k;
    int rc = p->type == MQTTC_SUBSCRIBE ? mqttc_encode_subscribe(out, cap, MQTTC_PROTOCOL_311, &again, n)
                                        : mqttc_encode_unsubscribe(out, cap, MQTTC_PROTOCOL_311, &again, n);
    FUZZ_REQUIRE(rc == MQTTC_OK);
    free(filters);
    free(text);
    free(qos);
}

/* Encodes p again into out (cap bytes, at least the packet's size); returns 1 when the
   packet is one the encoders do not produce (see encode_connect_again). */
static int encode_again(const mqttc_packet *p, unsigned char *out, size_t cap, size_t *n) {
    int rc = MQTTC_OK;
    switch (p->type) {
    case MQTTC_CONNECT: return encode_connect_again(p, out, cap, n);
    case MQTTC_CONNACK: rc = mqttc_encode_connack(out, cap, MQTTC_PROTOCOL_311, &p->connack, n); break;
    case MQTTC_PUBLISH: rc = mqttc_encode_publish(out, cap, MQTTC_PROTOCOL_311, &p->publish, n); break;
    case MQTTC_PUBACK: case MQTTC_PUBREC: case MQTTC_PUBREL: case MQTTC_PUBCOMP: case MQTTC_UNSUBACK:
        rc = mqttc_encode_ack(out, cap, MQTTC_PROTOCOL_311, &p->ack, n);
        break;
    case MQTTC_SUBSCRIBE: case MQTTC_UNSUBSCRIBE: encode_filters_again(p, out, cap, n); break;
    case MQTTC_SUBACK: rc = mqttc_encode_suback(out, cap, MQTTC_PROTOCOL_311, &p->suback, n); break;
    case MQTTC_PINGREQ: case MQTTC_PINGRESP: rc = mqttc_encode_ping(out, cap, p->type, n); break;
    case MQTTC_DISCONNECT: rc = mqttc_encode_disconnect(out, cap, MQTTC_PROTOCOL_311, &p->disconnect, n); break;
    default: FUZZ_REQUIRE(!"decoded a reserved packet type");
    }
    FUZZ_REQUIRE(rc == MQTTC_OK);
    return 0;
}

/* What MQTT 5 adds stays empty in 3.1.1: no property block anywhere, no reason codes
   beyond CONNACK's return code. */
static void check_no_mqtt5(const mqttc_packet *p) {
    FUZZ_REQUIRE(p->connect.props.len == 0 && p->connect.will_props.len == 0 && p->connack.props.len == 0);
    FUZZ_REQUIRE(p->publish.props.len == 0 && p->ack.props.len == 0 && p->subscribe.props.len == 0);
    FUZZ_REQUIRE(p->suback.props.len == 0 && p->disconnect.props.len == 0);
    FUZZ_REQUIRE(p->ack.reason_code == 0 && p->disconnect.reason_code == 0);
}

/* The fields of an accepted packet point into it and obey the spec's rules. */
static void check_fields(const mqttc_packet *p, const unsigned char *buf, size_t used) {
    const mqttc_connect_info *ci = &p->connect;
    const mqttc_publish_info *pi = &p->publish;
    FUZZ_REQUIRE(p->type >= MQTTC_CONNECT && p->type <= MQTTC_DISCONNECT);
    FUZZ_REQUIRE(str_inside(ci->protocol_name, buf, used) && str_inside(ci->client_id, buf, used));
    FUZZ_REQUIRE(str_inside(ci->will_topic, buf, used) && str_inside(ci->will_payload, buf, used));
    FUZZ_REQUIRE(str_inside(ci->username, buf, used) && str_inside(ci->password, buf, used));
    FUZZ_REQUIRE(inside(pi->topic, pi->topic_len, buf, used));
    FUZZ_REQUIRE(inside(pi->payload, pi->payload_len, buf, used));
    FUZZ_REQUIRE(inside(p->subscribe.list, p->subscribe.list_len, buf, used));
    FUZZ_REQUIRE(inside(p->suback.codes, p->suback.count, buf, used));
    check_no_mqtt5(p);
    if (p->type == MQTTC_PUBLISH) {
        FUZZ_REQUIRE(mqttc_topic_check(pi->topic, pi->topic_len) == MQTTC_OK);
        FUZZ_REQUIRE(pi->qos >= 0 && pi->qos <= 2);
        FUZZ_REQUIRE((pi->qos == 0) == (pi->packet_id == 0)); /* [MQTT-2.3.1-1/5] */
    }
    /* the codes are the rest of the packet, one per filter */
    if (p->type == MQTTC_SUBACK) FUZZ_REQUIRE(p->suback.count >= 1 && p->suback.codes + p->suback.count == buf + used);
    if (p->type >= MQTTC_PUBACK && p->type <= MQTTC_UNSUBACK) FUZZ_REQUIRE(mqttc_packet_id(p) != 0);
    if (p->type == MQTTC_PUBACK || p->type == MQTTC_PUBREC || p->type == MQTTC_PUBREL || p->type == MQTTC_PUBCOMP ||
        p->type == MQTTC_UNSUBACK)
        FUZZ_REQUIRE(p->ack.type == p->type);
}

/* Every proper prefix of a complete packet decodes as "more", never as a packet or error. */
static void check_prefixes(const unsigned char *buf, size_t used, size_t max_size) {
    mqttc_packet q;
    size_t u;
    for (size_t k = 0; k < used; k = k < 8 ? k + 1 : k + 1 + (used - k) / 4) {
        FUZZ_REQUIRE(mqttc_decode(buf, k, max_size, MQTTC_PROTOCOL_311, &q, &u) == MQTTC_MORE);
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
static mqttc_str take_str(fz_input *a) {
    mqttc_str s;
    s.len = fz_byte(a) % 24;
    s.ptr = (const char *)fz_take(a, &s.len);
    if (fz_byte(a) == 0xFF) s.ptr = NULL; /* absent */
    return s;
}

static int same_str(mqttc_str a, mqttc_str b) { return a.len == b.len && (a.len == 0 || memcmp(a.ptr, b.ptr, a.len) == 0); }

/* Decodes what an encoder wrote: complete, well-formed, and as long as it said. */
static void decode_back(const unsigned char *buf, size_t n, mqttc_packet *p) {
    size_t used;
    FUZZ_REQUIRE(mqttc_decode(buf, n, 0, 0, p, &used) == MQTTC_OK && used == n);
}

static void encode_publish_back(fz_input *a, unsigned char *buf, size_t cap) {
    mqttc_str topic = take_str(a), payload = take_str(a);
    unsigned b = fz_byte(a);
    unsigned short id = (unsigned short)(fz_byte(a) << 8 | fz_byte(a));
    int qos = (int)(b % 4) - (b & 4 ? 1 : 0); /* -1 .. 3 */
    size_t n;
    mqttc_publish_info pi = {0};
    pi.topic = topic.ptr;
    pi.topic_len = topic.len;
    pi.payload = payload.ptr;
    pi.payload_len = payload.len;
    pi.qos = qos;
    pi.retain = (b >> 3) & 1;
    pi.dup = (b >> 4) & 1;
    pi.packet_id = id;
    int rc = mqttc_encode_publish(buf, cap, 0, &pi, &n);
    FUZZ_REQUIRE(rc == MQTTC_OK || rc == MQTTC_ERR_ARG || rc == MQTTC_ERR_NOSPACE);
    if (rc != MQTTC_OK) return;
    mqttc_packet p;
    decode_back(buf, n, &p);
    const mqttc_publish_info *back = &p.publish;
    mqttc_str back_topic = {back->topic, back->topic_len};
    FUZZ_REQUIRE(p.type == MQTTC_PUBLISH && same_str(back_topic, topic) && back->qos == qos &&
                 back->packet_id == (qos ? id : 0));
    FUZZ_REQUIRE(back->payload_len == payload.len &&
                 (payload.len == 0 || memcmp(back->payload, payload.ptr, payload.len) == 0));
    FUZZ_REQUIRE(back->retain == (int)((b >> 3) & 1) && back->dup == (int)((b >> 4) & 1));
}

static void encode_connect_back(fz_input *a, unsigned char *buf, size_t cap) {
    mqttc_connect_info ci;
    size_t n;
    unsigned b = fz_byte(a);
    memset(&ci, 0, sizeof ci);
    ci.client_id = take_str(a);
    ci.clean_session = b & 1;
    ci.keepalive_s = (unsigned)fz_byte(a) * 300u; /* past 65535 too */
    if (b & 2) { ci.will_topic = take_str(a); ci.will_payload = take_str(a); }
    ci.will_qos = (int)((b >> 2) % 4);
    ci.will_retain = (b >> 4) & 1;
    if (b & 32) ci.username = take_str(a);
    if (b & 64) ci.password = take_str(a);
    int rc = mqttc_encode_connect(buf, cap, 0, &ci, &n);
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

/* SUBSCRIBE, UNSUBSCRIBE and SUBACK with up to 4 entries. Filters are C strings: the bytes
   taken up to the first NUL (or NULL when absent). UNSUBSCRIBE gets the options too, which
   its encoder must ignore. */
static void encode_lists_back(fz_input *a, unsigned char *buf, size_t cap) {
    char text[4][24];
    const char *filters[4];
    unsigned char codes[4];
    unsigned b = fz_byte(a);
    size_t count = b % 5, n;
    unsigned short id = (unsigned short)fz_byte(a);
    for (size_t i = 0; i < count; i++) {
        mqttc_str s = take_str(a); /* at most 23 bytes */
        filters[i] = NULL;
        if (s.ptr) {
            memcpy(text[i], s.ptr, s.len);
            text[i][s.len] = '\0';
            filters[i] = text[i];
        }
        codes[i] = (unsigned char)fz_byte(a);
    }
    int type = (b >> 3) % 3, rc;
    mqttc_subscribe_info si = {0};
    mqttc_suback_info sa = {0};
    si.packet_id = sa.packet_id = id;
    si.filters = filters;
    si.options = sa.codes = (b & 64) ? NULL : codes;
    si.count = sa.count = count;
    if (type == 0) rc = mqttc_encode_subscribe(buf, cap, 0, &si, &n);
    else if (type == 1) rc = mqttc_encode_unsubscribe(buf, cap, 0, &si, &n);
    else rc = mqttc_encode_suback(buf, cap, 0, &sa, &n);
    FUZZ_REQUIRE(rc == MQTTC_OK || rc == MQTTC_ERR_ARG || rc == MQTTC_ERR_NOSPACE);
    if (rc != MQTTC_OK) return;
    mqttc_packet p;
    decode_back(buf, n, &p);
    if (type == 2) {
        FUZZ_REQUIRE(p.type == MQTTC_SUBACK && p.suback.packet_id == id && p.suback.count == count);
        FUZZ_REQUIRE(memcmp(p.suback.codes, codes, count) == 0);
        return;
    }
    FUZZ_REQUIRE(p.type == (type == 0 ? MQTTC_SUBSCRIBE : MQTTC_UNSUBSCRIBE));
    FUZZ_REQUIRE(p.subscribe.packet_id == id && p.subscribe.count == count);
    size_t pos = 0, i = 0;
    mqttc_str f;
    int q;
    while (mqttc_next_filter(&p.subscribe, &pos, &f, &q)) {
        FUZZ_REQUIRE(i < count && filters[i]);
        mqttc_str given = {filters[i], strlen(filters[i])};
        FUZZ_REQUIRE(same_str(f, given) && (type == 1 || q == codes[i]));
        i++;
    }
    FUZZ_REQUIRE(i == count);
}

/* An ack, PINGREQ/PINGRESP or DISCONNECT (any type asked: the wrong ones are refused), or a
   CONNACK. A DISCONNECT goes without info or with one whose reason code 3.1.1 cannot send. */
static void encode_small_back(fz_input *a, unsigned char *buf, size_t cap) {
    unsigned b = fz_byte(a), type = fz_byte(a) % 16;
    unsigned short id = (unsigned short)(fz_byte(a) << 8 | fz_byte(a));
    size_t n;
    int rc;
    if (b & 1) {
        mqttc_ack_info ai = {0};
        ai.type = (int)type;
        ai.packet_id = id;
        rc = mqttc_encode_ack(buf, cap, 0, &ai, &n);
    } else if (b & 2) {
        mqttc_disconnect_info di = {0};
        di.reason_code = (b >> 3) & 1;
        rc = type != MQTTC_DISCONNECT ? mqttc_encode_ping(buf, cap, (int)type, &n)
                                      : mqttc_encode_disconnect(buf, cap, 0, (b & 4) ? &di : NULL, &n);
        FUZZ_REQUIRE(type != MQTTC_DISCONNECT || !(b & 4) || !di.reason_code || rc == MQTTC_ERR_ARG);
    } else {
        mqttc_connack_info ca = {0};
        ca.session_present = (b >> 2) & 1;
        ca.reason_code = (int)(id % 300) - 10;
        rc = mqttc_encode_connack(buf, cap, 0, &ca, &n);
    }
    FUZZ_REQUIRE(rc == MQTTC_OK || rc == MQTTC_ERR_ARG || rc == MQTTC_ERR_NOSPACE);
    if (rc != MQTTC_OK) return;
    /* the CONNACK encoder writes reserved codes 6..255 on purpose (test brokers send them:
       minibroker --connack N); the decoder refuses them [MQTT-3.2.2] */
    if ((b & 3) == 0 && (int)(id % 300) - 10 > 5) return;
    mqttc_packet p;
    decode_back(buf, n, &p);
    FUZZ_REQUIRE((b & 3) == 0 ? p.type == MQTTC_CONNACK && p.connack.reason_code == (int)(id % 300) - 10 &&
                                    p.connack.session_present == (int)((b >> 2) & 1)
                              : p.type == (int)type && ((b & 1) == 0 || p.ack.packet_id == id));
}

/* Runs the encoders on arguments from the input, into a buffer of a size from the input (a
   short one must give NOSPACE and the size needed, never an overrun). */
static void fuzz_encoders(const uint8_t *data, size_t size) {
    fz_input a = {data, size};
    while (a.n) {
        unsigned which = fz_byte(&a), cap = which >> 2 == 63 ? 0 : 4 + (which >> 2) * 4;
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
        int rc = mqttc_decode(data + pos, size - pos, max_size, MQTTC_PROTOCOL_311, &p, &used);
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
