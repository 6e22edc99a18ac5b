/* fuzz/fuzz_minibroker.c - the minibroker's packet handling, fed arbitrary client bytes.
   minibroker.c is compiled into this file (its main renamed), so its own static functions
   run unchanged: up to four connections without sockets (fd -1: output is taken from each
   connection's buffer instead of being sent) get raw bytes or well-formed packets chosen by
   the input - CONNECT with a few client ids, clean or not, wills; SUBSCRIBE, UNSUBSCRIBE,
   PUBLISH QoS 0-2 retained or not; acks for the ids the broker used; PINGREQ, DISCONNECT -
   and are dropped, reaped and timed out as the input says. Everything the broker sends must
   be well-formed, with CONNACK first; ASan and UBSan watch the rest. Any violation aborts. */
#define main minibroker_main
#include "minibroker/minibroker.c"
#undef main
#define FUZZ_TARGET "fuzz_minibroker"
#include "fuzz/fuzz.h"

#define SLOTS 4

typedef struct fz_slot {
    mb_client *c;           /* NULL: no connection in this slot */
    int sent;               /* packets the broker sent on it */
    unsigned short ids[8];  /* ids of the last QoS 1/2 PUBLISH and PUBREL it sent */
    unsigned nids;
} fz_slot;

static mb_broker broker;
static fz_slot slots[SLOTS];

static const char *const ids[] = {"a", "b", "", "minibroker-1"};
static const char *const topics[] = {"t", "t/a", "t/a/b", "$SYS/x", "u", "w"};
static const char *const filters[] = {"t/#", "t/+", "#", "+/a", "t", "$SYS/#", "+", "w"};

/* A connection as mb_accept makes one, without a socket. */
static mb_client *fz_connect(void) {
    mb_client *c = (mb_client *)calloc(1, sizeof *c);
    FUZZ_REQUIRE(c);
    c->fd = -1;
    c->state = MB_NEW;
    c->last_rx_ms = mb_now_ms();
    snprintf(c->name, sizeof c->name, "fuzz");
    c->next = broker.clients;
    broker.clients = c;
    return c;
}

/* Takes what the broker queued for slot s: well-formed packets, CONNACK first. */
static void fz_take_output(fz_slot *s) {
    mb_client *c = s->c;
    while (c->out.len > c->out.off) {
        mqttc_packet p;
        size_t used;
        int rc = mqttc_decode(c->out.data + c->out.off, c->out.len - c->out.off, 0,
                              c->version ? c->version : MQTTC_PROTOCOL_311, &p, &used); /* its client's */
        FUZZ_REQUIRE(rc == MQTTC_OK); /* the broker queues whole packets only */
        FUZZ_REQUIRE((p.type == MQTTC_CONNACK) == (s->sent++ == 0));
        FUZZ_REQUIRE(p.type != MQTTC_CONNECT && p.type != MQTTC_SUBSCRIBE && p.type != MQTTC_UNSUBSCRIBE &&
                     p.type != MQTTC_PINGREQ); /* (an MQTT 5 broker may send DISCONNECT and AUTH) */
        FUZZ_REQUIRE(c->version == MQTTC_PROTOCOL_5 || (p.type != MQTTC_DISCONNECT && p.type != MQTTC_AUTH));
        if (p.type == MQTTC_PUBLISH && p.publish.qos) s->ids[s->nids++ % 8] = p.publish.packet_id;
        if (p.type == MQTTC_PUBREL) s->ids[s->nids++ % 8] = p.ack.packet_id;
        mb_buf_consumed(&c->out, used);
    }
}

static void fz_feed(mb_client *c, const void *bytes, size_t n) {
    unsigned char *p = mb_buf_reserve(&c->in, n ? n : 1);
    FUZZ_REQUIRE(p);
    if (n) memcpy(p, bytes, n);
    c->in.len += n;
    mb_process_input(&broker, c);
}

static void fz_connect_packet(unsigned char *buf, size_t cap, unsigned b, fz_input *in, size_t *n) {
    mqttc_connect_info ci;
    memset(&ci, 0, sizeof ci);
    ci.client_id.ptr = ids[b & 3];
    ci.client_id.len = strlen(ids[b & 3]);
    ci.clean_session = (b >> 2) & 1;
    ci.keepalive_s = (b >> 3) & 3;
    if (b & 32) {
        ci.will_topic.ptr = topics[(b >> 6) % 6];
        ci.will_topic.len = strlen(ci.will_topic.ptr);
        ci.will_payload.ptr = "will";
        ci.will_payload.len = 4;
        ci.will_qos = (int)(fz_byte(in) % 3);
        ci.will_retain = (b >> 7) & 1;
    }
    b = fz_byte(in);
    if (b & 1) { ci.username.ptr = "user"; ci.username.len = 4; }
    if ((b & 3) == 3) { ci.password.ptr = (b & 4) ? "pass" : "bad"; ci.password.len = strlen(ci.password.ptr); }
    if (mqttc_encode_connect(buf, cap, MQTTC_PROTOCOL_311, &ci, n) != MQTTC_OK) *n = 0;
}

/* A well-formed client packet; acks use the ids the broker sent on this connection. */
static size_t fz_packet(fz_slot *s, fz_input *in, unsigned char *buf, size_t cap) {
    unsigned kind = fz_byte(in) % 10, b = fz_byte(in);
    unsigned short id = s->nids && b < 200 ? s->ids[b % (s->nids < 8 ? s->nids : 8)] : (unsigned short)(b + 1);
    size_t n = 0;
    switch (kind) {
    case 0: fz_connect_packet(buf, cap, b, in, &n); break;
    case 1: case 2: {
        mqttc_publish_info pi = {0};
        pi.topic = topics[b % 6];
        pi.topic_len = strlen(pi.topic);
        pi.payload = "0123456789012345678901234567890123456789012345678901234567890123";
        pi.payload_len = fz_byte(in) % 64;
        pi.qos = (int)((b >> 3) % 3);
        pi.retain = (b >> 5) & 1;
        pi.packet_id = pi.qos ? (unsigned short)(fz_byte(in) % 4 + 1) : 0;
        mqttc_encode_publish(buf, cap, MQTTC_PROTOCOL_311, &pi, &n);
        break;
    }
    case 3: {
        const char *f[2] = {filters[b % 8], filters[(b >> 3) % 8]};
        unsigned char q[2] = {(unsigned char)(fz_byte(in) % 3), 2};
        mqttc_subscribe_info si = {0};
        si.packet_id = (unsigned short)(b + 1);
        si.filters = f;
        si.options = q;
        si.count = (b >> 6) ? 2 : 1;
        mqttc_encode_subscribe(buf, cap, MQTTC_PROTOCOL_311, &si, &n);
        break;
    }
    case 4: {
        const char *f = filters[b % 8];
        mqttc_subscribe_info si = {0};
        si.packet_id = (unsigned short)(b + 1);
        si.filters = &f;
        si.count = 1;
        mqttc_encode_unsubscribe(buf, cap, MQTTC_PROTOCOL_311, &si, &n);
        break;
    }
    case 5: fz_encode_ack(buf, cap, MQTTC_PUBACK, id, &n); break;
    case 6: fz_encode_ack(buf, cap, MQTTC_PUBREC, id, &n); break;
    case 7: fz_encode_ack(buf, cap, (b & 1) ? MQTTC_PUBCOMP : MQTTC_PUBREL, id, &n); break;
    case 8: mqttc_encode_ping(buf, cap, MQTTC_PINGREQ, &n); break;
    default: mqttc_encode_disconnect(buf, cap, MQTTC_PROTOCOL_311, NULL, &n); break;
    }
    return n;
}

/* Ended connections are freed as the broker's loop does; their slots are emptied first. */
static void fz_reap(void) {
    for (int i = 0; i < SLOTS; i++)
        if (slots[i].c && slots[i].c->state == MB_DEAD) memset(&slots[i], 0, sizeof slots[i]);
    while (mb_reap(&broker) > 0) {}
}

static void fz_op(fz_input *in) {
    unsigned op = fz_byte(in), k = (op >> 4) % SLOTS;
    fz_slot *s = &slots[k];
    if (!s->c) s->c = fz_connect();
    switch (op % 8) {
    case 0: {
        size_t n = fz_byte(in);
        const uint8_t *bytes = fz_take(in, &n);
        fz_feed(s->c, bytes, n);
        break;
    }
    case 1: case 2: case 3: case 4: {
        unsigned char buf[512];
        fz_feed(s->c, buf, fz_packet(s, in, buf, sizeof buf));
        break;
    }
    case 5: mb_drop(s->c, "fuzz: end of stream"); break;
    case 6: (void)mb_check_keepalive(&broker, mb_now_ms() + fz_byte(in) * 1000u); break;
    default: { /* one packet split in two feeds: partial input */
        unsigned char buf[512];
        size_t n = fz_packet(s, in, buf, sizeof buf), cut = n ? fz_byte(in) % n : 0;
        fz_feed(s->c, buf, cut);
        if (s->c->state != MB_DEAD) fz_feed(s->c, buf + cut, n - cut);
        break;
    }
    }
    for (int i = 0; i < SLOTS; i++)
        if (slots[i].c) fz_take_output(&slots[i]);
    fz_reap();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    fz_input in = {data, size};
    unsigned cfg = fz_byte(&in);
    memset(&g_cfg, 0, sizeof g_cfg);
    memset(&broker, 0, sizeof broker);
    memset(slots, 0, sizeof slots);
    broker.listen_fd = -1;
    g_cfg.max_packet = (cfg & 1) ? 64 + (size_t)fz_byte(&in) * 4 : MQTTC_DEFAULT_MAX_PACKET;
    g_cfg.no_pingresp = (cfg >> 1) & 1;
    if (cfg & 4) { g_cfg.user = "user"; g_cfg.pass = (cfg & 8) ? "pass" : NULL; }
    g_cfg.connack = (cfg & 16) ? (int)(fz_byte(&in) % 6) : 0;
    g_cfg.drop_after = (cfg & 32) ? fz_byte(&in) : 0;
    while (in.n) fz_op(&in);
    mb_broker_free(&broker);
    return 0;
}
