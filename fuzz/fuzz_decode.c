/* fuzz/fuzz_decode.c - the packet decoder, every packet type (and the encoders), in MQTT
   3.1.1 and in MQTT 5. The input is a stream of packets after one byte that picks the size
   limit, read twice: as protocol version MQTTC_PROTOCOL_311 and as MQTTC_PROTOCOL_5. Every
   packet the decoder accepts must lie inside the input (its property blocks too), obey the
   rules of its version (in MQTT 5 its properties pass mqttc_props_check and iterate to their
   end), re-encode to the very same bytes (the decoder only accepts one encoding of a
   packet, so a symmetric codec bug cannot hide), and decode as "more" from every shorter
   prefix. MQTT 5 lets a sender write some packets longer than needed (an ack, DISCONNECT or
   AUTH with an empty property length, a reason code 0 written out), and the decoder takes a
   CONNACK without its property length and an AUTH of its reason code alone (a form AUTH does
   not have, §3.15.2.1): those re-encode to the form the encoder must write, which must
   decode to the same fields and re-encode to itself. What a receiver may refuse but the
   decoder leaves to the client (a payload that says UTF-8 and is not, Topic Alias 0) is
   not written again. A rejected byte is skipped and decoding goes on, so one input
   exercises many packets. The same input is then read, once per version, as arguments for
   the encoders (version 0 means 3.1.1): each must refuse them or write a packet that
   decodes to the same fields; in MQTT 5 with properties cut from the input (raw bytes and
   one mqttc_prop), reason codes and option bits, and a set the encoder takes must pass
   mqttc_props_check and decode back property by property. Any violated property aborts. */
#define MQTTC_IMPLEMENTATION
#define MQTTC_NO_SOCKETS
#include "mqttc.h"
#define FUZZ_TARGET "fuzz_decode"
#include "fuzz/fuzz.h"

#define V5 MQTTC_PROTOCOL_5

static int inside(const void *ptr, size_t len, const unsigned char *buf, size_t used) {
    const unsigned char *p = (const unsigned char *)ptr;
    return len == 0 || (p >= buf && p + len <= buf + used);
}
static int str_inside(mqttc_str s, const unsigned char *buf, size_t used) { return inside(s.ptr, s.len, buf, used); }

static int same_str(mqttc_str a, mqttc_str b) { return a.len == b.len && (a.len == 0 || memcmp(a.ptr, b.ptr, a.len) == 0); }

static int same_props(const mqttc_props *a, const mqttc_props *b) {
    return a->len == b->len && a->count == 0 && b->count == 0 && (a->len == 0 || memcmp(a->ptr, b->ptr, a->len) == 0);
}

/* The remaining length of a packet the decoder accepted (so its varint is well-formed). */
static size_t remaining_of(const unsigned char *buf) {
    size_t v = 0;
    for (unsigned i = 0; i < 4; i++) {
        v |= (size_t)(buf[1 + i] & 127u) << (7 * i);
        if (!(buf[1 + i] & 128u)) break;
    }
    return v;
}

/* The payload of a message that says it is UTF-8 (Payload Format Indicator 1) is not: the
   receiver MAY refuse it (§3.3.2.3.2), so the decoder takes it and the encoders do not. */
static int says_text_but_is_not(const mqttc_props *ps, const void *payload, size_t len) {
    mqttc_prop pr;
    return mqttc_props_get(ps, MQTTC_PROP_PAYLOAD_FORMAT, &pr) && pr.value == 1 &&
           mqttc_utf8_check((const char *)payload, len) != MQTTC_OK;
}

/* Re-encodes a decoded CONNECT, by its own protocol level (the decoder reads it so). It
   accepts what a broker must refuse with a CONNACK code rather than by closing (another
   protocol name or level, in 3.1.1 an empty client id with clean session 0
   [MQTT-3.1.3-8]); only the rest must round-trip. */
static int encode_connect_again(const mqttc_packet *p, unsigned char *out, size_t cap, size_t *n) {
    const mqttc_connect_info *ci = &p->connect;
    int is_mqtt = ci->protocol_name.len == 4 && memcmp(ci->protocol_name.ptr, "MQTT", 4) == 0;
    if (!is_mqtt || (ci->protocol_level != 4 && ci->protocol_level != V5)) return 1;
    int rc = mqttc_encode_connect(out, cap, ci->protocol_level, ci, n);
    if (rc == MQTTC_ERR_ARG && ci->protocol_level == 4 && ci->client_id.len == 0 && !ci->clean_session) return 1;
    if (rc == MQTTC_ERR_ARG && ci->protocol_level == V5 &&
        says_text_but_is_not(&ci->will_props, ci->will_payload.ptr, ci->will_payload.len))
        return 1;
    FUZZ_REQUIRE(rc == MQTTC_OK);
    return 0;
}

/* Re-encodes SUBSCRIBE or UNSUBSCRIBE from the filter iterator, which must yield exactly
   count well-formed filters. The encoder takes C strings: each filter is copied with a NUL
   after it (a well-formed filter has none inside [MQTT-1.5.3-2]), all of them in one block
   no larger than the list (on the wire each has 2 length bytes more). The options byte is
   the QoS in 3.1.1, and carries the MQTT 5 bits in 5. */
static void encode_filters_again(const mqttc_packet *p, int version, unsigned char *out, size_t cap, size_t *n) {
    const mqttc_subscribe_info *si = &p->subscribe;
    const char **filters = (const char **)malloc(si->count * sizeof *filters);
    char *text = (char *)malloc(si->list_len + 1), *at = text;
    unsigned char *options = (unsigned char *)malloc(si->count);
    size_t pos = 0, k = 0;
    mqttc_str f;
    int o = -1;
    FUZZ_REQUIRE(filters && text && options);
    while (mqttc_next_filter(&p->subscribe, &pos, &f, &o)) {
        FUZZ_REQUIRE(k < si->count);
        FUZZ_REQUIRE(mqttc_filter_check(f.ptr, f.len) == MQTTC_OK);
        FUZZ_REQUIRE(inside(f.ptr, f.len, si->list, si->list_len));
        FUZZ_REQUIRE(memchr(f.ptr, 0, f.len) == NULL);
        memcpy(at, f.ptr, f.len);
        at[f.len] = '\0';
        filters[k] = at;
        at += f.len + 1;
        options[k] = (unsigned char)o;
        /* QoS 0..2; in MQTT 5 Retain Handling 0..2 and the reserved bits 0 [MQTT-3.8.3-5] */
        FUZZ_REQUIRE(p->type != MQTTC_SUBSCRIBE || (o >= 0 && (o & 3) != 3 && (version == V5 ? o < 64 && (o >> 4) != 3 : o <= 2)));
        k++;
    }
    FUZZ_REQUIRE(k == si->count && pos == si->list_len);
    mqttc_subscribe_info again = {0};
    again.packet_id = si->packet_id;
    again.filters = filters;
    again.options = p->type == MQTTC_SUBSCRIBE ? options : NULL;
    again.count = k;
    again.props = si->props;
    int rc = p->type == MQTTC_SUBSCRIBE ? mqttc_encode_subscribe(out, cap, version, &again, n)
                                        : mqttc_encode_unsubscribe(out, cap, version, &again, n);
    FUZZ_REQUIRE(rc == MQTTC_OK);
    free(filters);
    free(text);
    free(options);
}

/* An MQTT 5 ack (PUBACK..PUBCOMP), DISCONNECT or AUTH in the form its encoder writes: the
   shortest (no body, or the code alone, for a packet without properties), except that AUTH
   has no one-byte form (§3.15.2.1: the body is empty, or the code and the property length). */
static int is_shortest_form(const unsigned char *buf, int type, int code, const mqttc_props *ps) {
    size_t fixed = type == MQTTC_DISCONNECT || type == MQTTC_AUTH ? 0 : 2, rem = remaining_of(buf);
    if (ps->len) return 1;
    if (rem == fixed) return 1;
    if (type == MQTTC_AUTH) return rem == 2 && code != 0;
    return rem == fixed + 1 && code != 0;
}

/* Encodes p again into out (cap bytes, at least the packet's size): 0 when the bytes must
   be the same, 2 when the packet is in a longer form the encoder does not write (then the
   fields must be), 1 when it is one the encoders do not produce (see
   encode_connect_again). */
static int encode_again(const mqttc_packet *p, const unsigned char *buf, int version, unsigned char *out, size_t cap,
                        size_t *n) {
    int rc = MQTTC_OK, v5 = version == V5, form = 0;
    mqttc_prop alias;
    switch (p->type) {
    case MQTTC_CONNECT: return encode_connect_again(p, out, cap, n);
    case MQTTC_CONNACK:
        rc = mqttc_encode_connack(out, cap, version, &p->connack, n);
        form = v5 && remaining_of(buf) == 2 ? 2 : 0; /* no property length */
        break;
    case MQTTC_PUBLISH:
        rc = mqttc_encode_publish(out, cap, version, &p->publish, n);
        if (rc == MQTTC_ERR_ARG && v5 && says_text_but_is_not(&p->publish.props, p->publish.payload, p->publish.payload_len))
            return 1;
        /* Topic Alias 0 is read (the client refuses it with 0x94) and never written [MQTT-3.3.2-8] */
        if (rc == MQTTC_ERR_ARG && v5 && mqttc_props_get(&p->publish.props, MQTTC_PROP_TOPIC_ALIAS, &alias) && alias.value == 0)
            return 1;
        break;
    case MQTTC_PUBACK: case MQTTC_PUBREC: case MQTTC_PUBREL: case MQTTC_PUBCOMP: case MQTTC_UNSUBACK:
        rc = mqttc_encode_ack(out, cap, version, &p->ack, n);
        if (v5 && p->type != MQTTC_UNSUBACK && !is_shortest_form(buf, p->type, p->ack.reason_code, &p->ack.props))
            form = 2;
        break;
    case MQTTC_SUBSCRIBE: case MQTTC_UNSUBSCRIBE: encode_filters_again(p, version, out, cap, n); break;
    case MQTTC_SUBACK: rc = mqttc_encode_suback(out, cap, version, &p->suback, n); break;
    case MQTTC_PINGREQ: case MQTTC_PINGRESP: rc = mqttc_encode_ping(out, cap, p->type, n); break;
    case MQTTC_DISCONNECT:
        rc = mqttc_encode_disconnect(out, cap, version, &p->disconnect, n);
        if (v5 && !is_shortest_form(buf, p->type, p->disconnect.reason_code, &p->disconnect.props)) form = 2;
        break;
    case MQTTC_AUTH:
        FUZZ_REQUIRE(v5);
        rc = mqttc_encode_auth(out, cap, version, &p->auth, n);
        /* AUTH 0x18/0x19 lacks its required Authentication Method (§3.15.2.2.2): an
           encoder may refuse to write that */
        if (rc == MQTTC_ERR_ARG && p->auth.reason_code != 0 &&
            !mqttc_props_get(&p->auth.props, MQTTC_PROP_AUTH_METHOD, NULL))
            return 1;
        if (!is_shortest_form(buf, p->type, p->auth.reason_code, &p->auth.props)) form = 2;
        break;
    default: FUZZ_REQUIRE(!"decoded a reserved packet type");
    }
    FUZZ_REQUIRE(rc == MQTTC_OK);
    return form;
}

/* What MQTT 5 adds stays empty in 3.1.1: no property block anywhere (but in a CONNECT of
   level 5, which is read by its own level), no reason codes beyond CONNACK's return code. */
static void check_no_mqtt5(const mqttc_packet *p) {
    if (p->type != MQTTC_CONNECT || p->connect.protocol_level != V5)
        FUZZ_REQUIRE(p->connect.props.len == 0 && p->connect.will_props.len == 0);
    FUZZ_REQUIRE(p->connack.props.len == 0);
    FUZZ_REQUIRE(p->publish.props.len == 0 && p->ack.props.len == 0 && p->subscribe.props.len == 0);
    FUZZ_REQUIRE(p->suback.props.len == 0 && p->disconnect.props.len == 0 && p->auth.props.len == 0);
    FUZZ_REQUIRE(p->ack.reason_code == 0 && p->disconnect.reason_code == 0 && p->ack.count == 0);
}

/* A decoded property block: inside the packet, a raw view only, valid for its packet by
   mqttc_props_check, and iterable to its very end without an error. */
static void check_props(const mqttc_props *ps, int type, const unsigned char *buf, size_t used) {
    size_t pos = 0, count = 0;
    mqttc_prop pr;
    int rc;
    FUZZ_REQUIRE(ps->count == 0 && ps->list == NULL && inside(ps->ptr, ps->len, buf, used));
    FUZZ_REQUIRE(mqttc_props_check(ps, type) == MQTTC_OK);
    while ((rc = mqttc_props_next(ps, &pos, &pr)) == 1) {
        FUZZ_REQUIRE(++count <= ps->len / 2); /* every property takes 2 bytes or more */
        FUZZ_REQUIRE(str_inside(pr.str, ps->ptr, ps->len) && str_inside(pr.val, ps->ptr, ps->len));
    }
    FUZZ_REQUIRE(rc == 0 && pos == ps->len);
    FUZZ_REQUIRE(mqttc_props_size(ps) == ps->len + (ps->len < 128 ? 1u : ps->len < 16384 ? 2u : 3u));
}

/* The MQTT 5 rules of a decoded packet: each property block; a PUBLISH topic that is a topic
   name or empty with a Topic Alias; an UNSUBACK code per filter, the first its reason. */
static void check_v5(const mqttc_packet *p, const unsigned char *buf, size_t used) {
    mqttc_prop alias;
    switch (p->type) {
    case MQTTC_CONNACK: check_props(&p->connack.props, p->type, buf, used); break;
    case MQTTC_PUBLISH:
        check_props(&p->publish.props, p->type, buf, used);
        FUZZ_REQUIRE(mqttc_topic_check(p->publish.topic, p->publish.topic_len) == MQTTC_OK ||
                     (p->publish.topic_len == 0 && mqttc_props_get(&p->publish.props, MQTTC_PROP_TOPIC_ALIAS, &alias)));
        break;
    case MQTTC_PUBACK: case MQTTC_PUBREC: case MQTTC_PUBREL: case MQTTC_PUBCOMP: case MQTTC_UNSUBACK:
        check_props(&p->ack.props, p->type, buf, used);
        FUZZ_REQUIRE(p->type != MQTTC_UNSUBACK || (p->ack.count >= 1 && p->ack.codes + p->ack.count == buf + used &&
                                                   p->ack.reason_code == p->ack.codes[0]));
        break;
    case MQTTC_SUBSCRIBE: case MQTTC_UNSUBSCRIBE: check_props(&p->subscribe.props, p->type, buf, used); break;
    case MQTTC_SUBACK: check_props(&p->suback.props, p->type, buf, used); break;
    case MQTTC_DISCONNECT: check_props(&p->disconnect.props, p->type, buf, used); break;
    case MQTTC_AUTH: check_props(&p->auth.props, p->type, buf, used); break;
    default: break;
    }
}

/* The fields of an accepted packet point into it and obey the spec's rules. */
static void check_fields(const mqttc_packet *p, int version, const unsigned char *buf, size_t used) {
    const mqttc_connect_info *ci = &p->connect;
    const mqttc_publish_info *pi = &p->publish;
    FUZZ_REQUIRE(p->type >= MQTTC_CONNECT && p->type <= (version == V5 ? MQTTC_AUTH : MQTTC_DISCONNECT));
    FUZZ_REQUIRE(str_inside(ci->protocol_name, buf, used) && str_inside(ci->client_id, buf, used));
    FUZZ_REQUIRE(str_inside(ci->will_topic, buf, used) && str_inside(ci->will_payload, buf, used));
    FUZZ_REQUIRE(str_inside(ci->username, buf, used) && str_inside(ci->password, buf, used));
    FUZZ_REQUIRE(inside(pi->topic, pi->topic_len, buf, used));
    FUZZ_REQUIRE(inside(pi->payload, pi->payload_len, buf, used));
    FUZZ_REQUIRE(inside(p->subscribe.list, p->subscribe.list_len, buf, used));
    FUZZ_REQUIRE(inside(p->suback.codes, p->suback.count, buf, used));
    FUZZ_REQUIRE(inside(p->ack.codes, p->ack.count, buf, used));
    if (p->type == MQTTC_CONNECT && ci->protocol_level == V5) { /* read as MQTT 5 in either version */
        check_props(&ci->props, MQTTC_CONNECT, buf, used);
        check_props(&ci->will_props, MQTTC_PROPS_WILL, buf, used);
    }
    if (version == V5) check_v5(p, buf, used);
    else check_no_mqtt5(p);
    if (p->type == MQTTC_PUBLISH) {
        FUZZ_REQUIRE(version == V5 || mqttc_topic_check(pi->topic, pi->topic_len) == MQTTC_OK);
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
static void check_prefixes(const unsigned char *buf, size_t used, size_t max_size, int version) {
    mqttc_packet q;
    size_t u;
    for (size_t k = 0; k < used; k = k < 8 ? k + 1 : k + 1 + (used - k) / 4) {
        FUZZ_REQUIRE(mqttc_decode(buf, k, max_size, version, &q, &u) == MQTTC_MORE);
        FUZZ_REQUIRE(u == 0 || u == used);
    }
}

/* A packet re-encoded in the shortest form: the same fields, and it encodes to itself. */
static void check_same_fields(const mqttc_packet *p, const unsigned char *again, size_t n) {
    mqttc_packet q;
    size_t used;
    FUZZ_REQUIRE(mqttc_decode(again, n, 0, V5, &q, &used) == MQTTC_OK && used == n);
    FUZZ_REQUIRE(q.type == p->type && q.flags == p->flags);
    switch (p->type) {
    case MQTTC_CONNACK:
        FUZZ_REQUIRE(q.connack.session_present == p->connack.session_present);
        FUZZ_REQUIRE(q.connack.reason_code == p->connack.reason_code && same_props(&q.connack.props, &p->connack.props));
        break;
    case MQTTC_DISCONNECT:
        FUZZ_REQUIRE(q.disconnect.reason_code == p->disconnect.reason_code);
        FUZZ_REQUIRE(same_props(&q.disconnect.props, &p->disconnect.props));
        break;
    case MQTTC_AUTH:
        FUZZ_REQUIRE(q.auth.reason_code == p->auth.reason_code && same_props(&q.auth.props, &p->auth.props));
        break;
    default:
        FUZZ_REQUIRE(q.ack.type == p->ack.type && q.ack.packet_id == p->ack.packet_id);
        FUZZ_REQUIRE(q.ack.reason_code == p->ack.reason_code && same_props(&q.ack.props, &p->ack.props));
        break;
    }
    unsigned char *third = (unsigned char *)malloc(n);
    size_t n3 = 0;
    FUZZ_REQUIRE(third);
    FUZZ_REQUIRE(encode_again(&q, again, V5, third, n, &n3) == 0);
    FUZZ_REQUIRE(n3 == n && memcmp(third, again, n) == 0);
    free(third);
}

static void check_packet(const unsigned char *buf, size_t len, size_t max_size, int version, const mqttc_packet *p,
                         size_t used) {
    FUZZ_REQUIRE(used >= 2 && used <= len);
    FUZZ_REQUIRE(max_size == 0 || used <= max_size);
    check_fields(p, version, buf, used);
    check_prefixes(buf, used, max_size, version);
    size_t cap = used + 8; /* a longer form re-encodes shorter; a CONNACK without its length longer */
    unsigned char *again = (unsigned char *)malloc(cap);
    size_t n = 0;
    FUZZ_REQUIRE(again);
    int form = encode_again(p, buf, version, again, cap, &n);
    if (form == 0) {
        FUZZ_REQUIRE(n == used);
        FUZZ_REQUIRE(memcmp(again, buf, used) == 0);
    } else if (form == 2) {
        FUZZ_REQUIRE(n != used || memcmp(again, buf, used) != 0);
        check_same_fields(p, again, n);
    }
    free(again);
}

/* Decodes the stream after the limit byte as `version`. */
static void decode_stream(const uint8_t *data, size_t size, int version) {
    static const size_t limits[4] = {0, 16, 300, MQTTC_DEFAULT_MAX_PACKET};
    size_t max_size = limits[data[0] & 3u], pos = 1;
    while (pos < size) {
        mqttc_packet p;
        size_t used = 0;
        int rc = mqttc_decode(data + pos, size - pos, max_size, version, &p, &used);
        if (rc == MQTTC_OK) {
            check_packet(data + pos, size - pos, max_size, version, &p, used);
            pos += used;
            continue;
        }
        /* MQTTC_ERR_PROTOCOL is MQTT 5's, and a CONNECT is read by its own level */
        int is_v5 = version == V5 || data[pos] >> 4 == MQTTC_CONNECT;
        FUZZ_REQUIRE(rc == MQTTC_MORE || rc == MQTTC_ERR_MALFORMED || rc == MQTTC_ERR_OVERFLOW ||
                     (is_v5 && rc == MQTTC_ERR_PROTOCOL));
        FUZZ_REQUIRE(rc != MQTTC_ERR_OVERFLOW || max_size != 0);
        FUZZ_REQUIRE(used == 0 || rc == MQTTC_MORE || rc == MQTTC_ERR_OVERFLOW);
        if (rc == MQTTC_MORE) {
            FUZZ_REQUIRE(used == 0 || used > size - pos);
            break;
        }
        pos++; /* resynchronise on the next byte: more packets per input */
    }
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

/* MQTT 5 properties from the input (nothing is taken in 3.1.1): raw bytes, and one
   mqttc_prop with any id, a small or a large value, strings. */
static mqttc_props take_props(fz_input *a, int version, mqttc_prop *one) {
    mqttc_props ps = {NULL, 0, NULL, 0};
    if (version != V5) return ps;
    unsigned b = fz_byte(a);
    if (b & 1) {
        ps.len = fz_byte(a) % 40;
        ps.ptr = fz_take(a, &ps.len);
    }
    if (b & 2) {
        memset(one, 0, sizeof *one);
        one->id = (int)(fz_byte(a) % 48);
        one->value = (b & 8) ? fz_byte(a) % 3 : (uint32_t)fz_u16(a) << 16 | fz_u16(a);
        one->str = take_str(a);
        if (b & 4) one->val = take_str(a);
        ps.list = one;
        ps.count = 1;
    }
    return ps;
}

/* A set an encoder took: valid for its packet, and decoded back property by property. */
static void check_props_back(const mqttc_props *given, const mqttc_props *back, int type) {
    size_t pg = 0, pb = 0;
    mqttc_prop g, b;
    FUZZ_REQUIRE(mqttc_props_check(given, type) == MQTTC_OK);
    FUZZ_REQUIRE(mqttc_props_size(given) == mqttc_props_size(back) && back->count == 0);
    while (mqttc_props_next(given, &pg, &g) == 1) {
        FUZZ_REQUIRE(mqttc_props_next(back, &pb, &b) == 1);
        /* the value in the field of its type: an integer, a string or binary, a pair */
        FUZZ_REQUIRE(g.id == b.id && (b.str.ptr ? same_str(g.str, b.str) : g.value == b.value));
        FUZZ_REQUIRE(b.id != MQTTC_PROP_USER || same_str(g.val, b.val));
    }
    FUZZ_REQUIRE(mqttc_props_next(back, &pb, &b) == 0);
}

/* Decodes what an encoder wrote: complete, well-formed, and as long as it said. */
static void decode_back(const unsigned char *buf, size_t n, int version, mqttc_packet *p) {
    size_t used;
    FUZZ_REQUIRE(mqttc_decode(buf, n, 0, version, p, &used) == MQTTC_OK && used == n);
}

static void encode_publish_back(fz_input *a, int version, unsigned char *buf, size_t cap) {
    mqttc_str topic = take_str(a), payload = take_str(a);
    unsigned b = fz_byte(a);
    unsigned short id = (unsigned short)(fz_byte(a) << 8 | fz_byte(a));
    int qos = (int)(b % 4) - (b & 4 ? 1 : 0); /* -1 .. 3 */
    size_t n;
    mqttc_prop one;
    mqttc_publish_info pi = {0};
    pi.topic = topic.ptr;
    pi.topic_len = topic.len;
    pi.payload = payload.ptr;
    pi.payload_len = payload.len;
    pi.qos = qos;
    pi.retain = (b >> 3) & 1;
    pi.dup = (b >> 4) & 1;
    pi.packet_id = id;
    pi.props = take_props(a, version, &one);
    int rc = mqttc_encode_publish(buf, cap, version, &pi, &n);
    FUZZ_REQUIRE(rc == MQTTC_OK || rc == MQTTC_ERR_ARG || rc == MQTTC_ERR_NOSPACE);
    if (rc != MQTTC_OK) return;
    mqttc_packet p;
    decode_back(buf, n, version, &p);
    const mqttc_publish_info *back = &p.publish;
    mqttc_str back_topic = {back->topic, back->topic_len};
    FUZZ_REQUIRE(p.type == MQTTC_PUBLISH && same_str(back_topic, topic) && back->qos == qos &&
                 back->packet_id == (qos ? id : 0));
    FUZZ_REQUIRE(back->payload_len == payload.len &&
                 (payload.len == 0 || memcmp(back->payload, payload.ptr, payload.len) == 0));
    FUZZ_REQUIRE(back->retain == (int)((b >> 3) & 1) && back->dup == (int)((b >> 4) & 1));
    if (version == V5) check_props_back(&pi.props, &back->props, MQTTC_PUBLISH);
    if (version == V5) FUZZ_REQUIRE(!says_text_but_is_not(&pi.props, pi.payload, pi.payload_len));
}

static void encode_connect_back(fz_input *a, int version, unsigned char *buf, size_t cap) {
    mqttc_connect_info ci;
    mqttc_prop one, will_one;
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
    ci.props = take_props(a, version, &one);
    ci.will_props = take_props(a, version, &will_one);
    int rc = mqttc_encode_connect(buf, cap, version, &ci, &n);
    FUZZ_REQUIRE(rc == MQTTC_OK || rc == MQTTC_ERR_ARG || rc == MQTTC_ERR_NOSPACE);
    if (rc != MQTTC_OK) return;
    mqttc_packet p;
    decode_back(buf, n, version, &p);
    FUZZ_REQUIRE(p.type == MQTTC_CONNECT && same_str(p.connect.client_id, ci.client_id));
    FUZZ_REQUIRE(p.connect.protocol_level == (version == V5 ? V5 : 4));
    FUZZ_REQUIRE(p.connect.clean_session == ci.clean_session && p.connect.keepalive_s == ci.keepalive_s);
    FUZZ_REQUIRE((p.connect.will_topic.ptr != NULL) == (ci.will_topic.ptr != NULL));
    FUZZ_REQUIRE(!ci.will_topic.ptr || (same_str(p.connect.will_topic, ci.will_topic) &&
                                        same_str(p.connect.will_payload, ci.will_payload) &&
                                        p.connect.will_qos == ci.will_qos && p.connect.will_retain == ci.will_retain));
    FUZZ_REQUIRE((p.connect.username.ptr != NULL) == (ci.username.ptr != NULL) && same_str(p.connect.username, ci.username));
    FUZZ_REQUIRE((p.connect.password.ptr != NULL) == (ci.password.ptr != NULL) && same_str(p.connect.password, ci.password));
    if (version != V5) return;
    check_props_back(&ci.props, &p.connect.props, MQTTC_CONNECT);
    if (ci.will_topic.ptr) check_props_back(&ci.will_props, &p.connect.will_props, MQTTC_PROPS_WILL);
    /* a will that says it is UTF-8 is (§3.1.3.2.3), as a PUBLISH's payload (§3.3.2.3.2) */
    if (ci.will_topic.ptr) FUZZ_REQUIRE(!says_text_but_is_not(&ci.will_props, ci.will_payload.ptr, ci.will_payload.len));
    else FUZZ_REQUIRE(ci.will_props.len == 0 && ci.will_props.count == 0); /* will properties need a will */
}

/* SUBSCRIBE, UNSUBSCRIBE, SUBACK, and in MQTT 5 UNSUBACK, with up to 4 entries. Filters are
   C strings: the bytes taken up to the first NUL (or NULL when absent). UNSUBSCRIBE gets the
   options too, which its encoder must ignore. */
static void encode_lists_back(fz_input *a, int version, unsigned char *buf, size_t cap) {
    char text[4][24];
    const char *filters[4];
    unsigned char codes[4];
    mqttc_prop one;
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
    int type = (b >> 3) % (version == V5 ? 4 : 3), rc;
    mqttc_subscribe_info si = {0};
    mqttc_suback_info sa = {0};
    mqttc_ack_info ua = {0};
    si.packet_id = sa.packet_id = ua.packet_id = id;
    si.filters = filters;
    si.options = sa.codes = ua.codes = (b & 64) ? NULL : codes;
    si.count = sa.count = ua.count = count;
    si.props = sa.props = ua.props = take_props(a, version, &one);
    ua.type = MQTTC_UNSUBACK;
    if (type == 0) rc = mqttc_encode_subscribe(buf, cap, version, &si, &n);
    else if (type == 1) rc = mqttc_encode_unsubscribe(buf, cap, version, &si, &n);
    else if (type == 2) rc = mqttc_encode_suback(buf, cap, version, &sa, &n);
    else rc = mqttc_encode_ack(buf, cap, version, &ua, &n);
    FUZZ_REQUIRE(rc == MQTTC_OK || rc == MQTTC_ERR_ARG || rc == MQTTC_ERR_NOSPACE);
    if (rc != MQTTC_OK) return;
    mqttc_packet p;
    decode_back(buf, n, version, &p);
    if (type == 2) {
        FUZZ_REQUIRE(p.type == MQTTC_SUBACK && p.suback.packet_id == id && p.suback.count == count);
        FUZZ_REQUIRE(memcmp(p.suback.codes, codes, count) == 0);
        if (version == V5) check_props_back(&sa.props, &p.suback.props, MQTTC_SUBACK);
        return;
    }
    if (type == 3) {
        FUZZ_REQUIRE(p.type == MQTTC_UNSUBACK && p.ack.packet_id == id && p.ack.count == count);
        FUZZ_REQUIRE(memcmp(p.ack.codes, codes, count) == 0 && p.ack.reason_code == codes[0]);
        check_props_back(&ua.props, &p.ack.props, MQTTC_UNSUBACK);
        return;
    }
    FUZZ_REQUIRE(p.type == (type == 0 ? MQTTC_SUBSCRIBE : MQTTC_UNSUBSCRIBE));
    FUZZ_REQUIRE(p.subscribe.packet_id == id && p.subscribe.count == count);
    if (version == V5) check_props_back(&si.props, &p.subscribe.props, p.type);
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

/* An ack, PINGREQ/PINGRESP, DISCONNECT or (MQTT 5) AUTH (any type asked: the wrong ones are
   refused), or a CONNACK. In 3.1.1 a DISCONNECT goes without info or with one whose reason
   code 3.1.1 cannot send; in MQTT 5 reason codes and properties come from the input. */
static void encode_small_back(fz_input *a, int version, unsigned char *buf, size_t cap) {
    unsigned b = fz_byte(a), type = fz_byte(a) % 16;
    unsigned short id = (unsigned short)(fz_byte(a) << 8 | fz_byte(a));
    int v5 = version == V5, code = v5 ? (int)fz_byte(a) : 0;
    mqttc_prop one;
    mqttc_props ps = take_props(a, version, &one);
    unsigned char first = (unsigned char)b;
    size_t n;
    int rc;
    if (b & 1) {
        mqttc_ack_info ai = {0};
        ai.type = (int)type;
        ai.packet_id = id;
        ai.reason_code = code;
        ai.props = ps;
        ai.codes = &first; /* an MQTT 5 UNSUBACK: one code */
        ai.count = 1;
        rc = mqttc_encode_ack(buf, cap, version, &ai, &n);
    } else if (b & 2) {
        mqttc_disconnect_info di = {0};
        mqttc_auth_info au = {0};
        di.reason_code = v5 ? code : (int)((b >> 3) & 1);
        di.props = au.props = ps;
        au.reason_code = code;
        if (type == MQTTC_AUTH && v5) rc = mqttc_encode_auth(buf, cap, version, &au, &n);
        else if (type != MQTTC_DISCONNECT) rc = mqttc_encode_ping(buf, cap, (int)type, &n);
        else rc = mqttc_encode_disconnect(buf, cap, version, (b & 4) ? &di : NULL, &n);
        FUZZ_REQUIRE(v5 || type != MQTTC_DISCONNECT || !(b & 4) || !di.reason_code || rc == MQTTC_ERR_ARG);
    } else {
        mqttc_connack_info ca = {0};
        ca.session_present = (b >> 2) & 1;
        ca.reason_code = (int)(id % 300) - 10;
        ca.props = ps;
        rc = mqttc_encode_connack(buf, cap, version, &ca, &n);
    }
    FUZZ_REQUIRE(rc == MQTTC_OK || rc == MQTTC_ERR_ARG || rc == MQTTC_ERR_NOSPACE);
    if (rc != MQTTC_OK) return;
    /* the 3.1.1 CONNACK encoder writes reserved codes 6..255 on purpose (test brokers send
       them: minibroker --connack N); the decoder refuses them [MQTT-3.2.2] */
    if (!v5 && (b & 3) == 0 && (int)(id % 300) - 10 > 5) return;
    mqttc_packet p;
    decode_back(buf, n, version, &p);
    if ((b & 3) == 0) {
        FUZZ_REQUIRE(p.type == MQTTC_CONNACK && p.connack.reason_code == (int)(id % 300) - 10 &&
                     p.connack.session_present == (int)((b >> 2) & 1));
        if (v5) check_props_back(&ps, &p.connack.props, MQTTC_CONNACK);
        return;
    }
    FUZZ_REQUIRE(p.type == (int)type && ((b & 1) == 0 || p.ack.packet_id == id));
    if (!v5 || p.type == MQTTC_PINGREQ || p.type == MQTTC_PINGRESP) return;
    const mqttc_props *back = p.type == MQTTC_DISCONNECT ? &p.disconnect.props : p.type == MQTTC_AUTH ? &p.auth.props
                                                                                                     : &p.ack.props;
    int back_code = p.type == MQTTC_DISCONNECT ? p.disconnect.reason_code : p.type == MQTTC_AUTH ? p.auth.reason_code
                                                                                                 : p.ack.reason_code;
    FUZZ_REQUIRE(back_code == (p.type == MQTTC_UNSUBACK ? (int)first : (p.type == MQTTC_DISCONNECT && !(b & 4)) ? 0 : code));
    if (p.type != MQTTC_DISCONNECT || (b & 4)) check_props_back(&ps, back, p.type);
}

/* Runs the encoders on arguments from the input, into a buffer of a size from the input (a
   short one must give NOSPACE and the size needed, never an overrun). */
static void fuzz_encoders(const uint8_t *data, size_t size, int version) {
    fz_input a = {data, size};
    while (a.n) {
        unsigned which = fz_byte(&a), cap = which >> 2 == 63 ? 0 : 4 + (which >> 2) * 4;
        unsigned char *buf = (unsigned char *)malloc(cap ? cap : 1);
        FUZZ_REQUIRE(buf);
        switch (which & 3) {
        case 0: encode_publish_back(&a, version, cap ? buf : NULL, cap); break;
        case 1: encode_connect_back(&a, version, cap ? buf : NULL, cap); break;
        case 2: encode_lists_back(&a, version, cap ? buf : NULL, cap); break;
        default: encode_small_back(&a, version, cap ? buf : NULL, cap); break;
        }
        free(buf);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    decode_stream(data, size, MQTTC_PROTOCOL_311);
    decode_stream(data, size, V5);
    fuzz_encoders(data, size, 0);
    fuzz_encoders(data, size, V5);
    return 0;
}
