/* fuzz/fuzz_ws.c - the WebSocket stage (RFC 6455) under a whole client, over the in-memory
   transport. The client (options.ws_path) writes its upgrade request; the server answers
   with a valid 101 made from the key it sent, then the input's frames. The first byte
   chooses the read size (0: all at once), the second the write size, stalled writes, a
   small max_packet_size, a publish of the client's before the frames and a disconnect after
   them. The client is stepped until the input is used up. Besides the sanitizers: nothing
   the client sends is an unmasked frame or anything but whole, final frames of binary data,
   PONG or CLOSE (a partly written last frame excepted while writes are stalled); the data
   in them is MQTT packets, CONNECT first; the state and the sticky error agree. */
#define MQTTC_IMPLEMENTATION
#include "mqttc.h"
#include "tests/mem_transport.h"
#define FUZZ_TARGET "fuzz_ws"
#include "fuzz/fuzz.h"

static const char fz_guid[] = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

/* The 101 for the key in the client's request; 0 when there is no request. */
static size_t fz_answer(const mem_link *l, char *out, size_t cap) {
    static const char name[] = "\r\nSec-WebSocket-Key: ";
    unsigned char both[128], d[20];
    char acc[32];
    size_t i, k;
    for (i = 0; i + sizeof name - 1 <= l->out_len; i++)
        if (memcmp(l->out + i, name, sizeof name - 1) == 0) break;
    if (i + sizeof name - 1 > l->out_len) return 0;
    i += sizeof name - 1;
    for (k = 0; i + k < l->out_len && l->out[i + k] != '\r' && k < 64; k++) both[k] = l->out[i + k];
    memcpy(both + k, fz_guid, sizeof fz_guid - 1);
    mqttc__sha1(both, k + sizeof fz_guid - 1, d);
    mqttc__base64(d, 20, acc);
    return (size_t)snprintf(out, cap,
                            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                            "Sec-WebSocket-Accept: %s\r\nSec-WebSocket-Protocol: mqtt\r\n\r\n", acc);
}

/* The client's output from pos checked frame by frame; the data is appended to *data. */
static size_t fz_check_frames(const mem_link *l, size_t pos, unsigned char **data, size_t *len, size_t *cap) {
    for (;;) {
        const unsigned char *p = l->out + pos;
        size_t avail = l->out_len - pos, h = 2;
        if (avail < 2) return pos;
        uint64_t n = p[1] & 0x7f;
        h += n == 126 ? 2 : n == 127 ? 8 : 0;
        FUZZ_REQUIRE(p[1] & 0x80); /* masked [RFC 6455 5.3] */
        h += 4;
        if (avail < h) return pos;
        if ((p[1] & 0x7f) == 126) n = (uint64_t)p[2] << 8 | p[3];
        if ((p[1] & 0x7f) == 127) { n = 0; for (int j = 0; j < 8; j++) n = n << 8 | p[2 + j]; }
        int op = p[0] & 0x0f;
        FUZZ_REQUIRE((p[0] & 0xF0) == 0x80); /* FIN, no reserved bit */
        FUZZ_REQUIRE(op == 2 || op == 8 || op == 10);
        FUZZ_REQUIRE(op == 2 ? n <= MQTTC_WS_FRAME : n <= 125);
        /* the shortest length form */
        FUZZ_REQUIRE((p[1] & 0x7f) < 126 || ((p[1] & 0x7f) == 126 ? n >= 126 && n < 65536 : n >= 65536));
        if (avail - h < n) return pos;
        if (op == 2) {
            if (*len + n > *cap) {
                *cap = (*len + (size_t)n) * 2;
                *data = (unsigned char *)realloc(*data, *cap);
            }
            for (size_t i = 0; i < n; i++) (*data)[*len + i] = p[h + i] ^ p[h - 4 + (i & 3)];
            *len += (size_t)n;
        }
        pos += h + (size_t)n;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    fz_input in = {data, size};
    unsigned rchunk = fz_byte(&in), flags = fz_byte(&in);
    mqttc_client c;
    mqttc_options o;
    mem_link l;
    char ans[512];
    memset(&o, 0, sizeof o);
    memset(&l, 0, sizeof l);
    o.client_id = "fz";
    o.ws_path = "/mqtt";
    if (flags & 1) o.max_packet_size = 200;
    FUZZ_REQUIRE(mqttc_init(&c, &o) == MQTTC_OK);
    mqttc_transport t = mem_transport(&l);
    FUZZ_REQUIRE(mqttc_start_transport(&c, &t, 0) == MQTTC_OK);
    size_t req_end = l.out_len;
    FUZZ_REQUIRE(req_end > 0 && mqttc_state(&c) == MQTTC_STATE_HANDSHAKE);
    size_t an = fz_answer(&l, ans, sizeof ans);
    FUZZ_REQUIRE(an > 0);
    mem_feed(&l, ans, an);
    l.read_chunk = rchunk & 0x80 ? 0 : rchunk;
    l.write_chunk = (flags >> 4) ? (flags >> 4) * 3u : 0u;
    uint64_t now = 0;
    for (int i = 0; i < 50 && l.in_len && mqttc_state(&c) == MQTTC_STATE_HANDSHAKE; i++) mqttc_step(&c, now);
    FUZZ_REQUIRE(mqttc_state(&c) == MQTTC_STATE_CONNACK_WAIT);
    if (flags & 2) { /* a publish that spans frames, waiting behind CONNECT */
        static unsigned char big[3 * MQTTC_WS_FRAME];
        (void)mqttc_publish(&c, "big", big, sizeof big, 0, 0, NULL);
    }
    mem_feed(&l, in.p, in.n);
    for (int i = 0; i < 100000 && (l.in_len || mqttc_pending_output(&c)) && mqttc_state(&c) != MQTTC_STATE_CLOSED; i++) {
        l.write_stalled = (flags & 4) && (i % 3 == 1);
        now += 10;
        int rc = mqttc_step(&c, now);
        FUZZ_REQUIRE(rc <= 0);
        FUZZ_REQUIRE((mqttc_state(&c) == MQTTC_STATE_CLOSED) == (mqttc_error(&c) != MQTTC_OK));
    }
    l.write_stalled = 0;
    if (flags & 8) (void)mqttc_disconnect(&c);
    for (int i = 0; i < 4; i++) mqttc_step(&c, now);
    mqttc_deinit(&c);

    /* everything sent after the request: whole, masked frames holding MQTT packets */
    unsigned char *d = NULL;
    size_t dlen = 0, dcap = 0, used = 0, dpos = 0;
    size_t end = fz_check_frames(&l, req_end, &d, &dlen, &dcap);
    FUZZ_REQUIRE(end == l.out_len);
    int first = 1;
    while (dpos < dlen) {
        mqttc_packet p;
        FUZZ_REQUIRE(mqttc_decode(d + dpos, dlen - dpos, 0, MQTTC_PROTOCOL_311, &p, &used) == MQTTC_OK);
        FUZZ_REQUIRE(!first || p.type == MQTTC_CONNECT);
        FUZZ_REQUIRE(first || p.type != MQTTC_CONNECT);
        first = 0;
        dpos += used;
    }
    FUZZ_REQUIRE(!first); /* CONNECT went */
    free(d);
    mem_free(&l);
    return 0;
}
