/* The transport stages without a network: SHA-1 and base64 vectors, URL and proxy URL
   parsing, the WebSocket stage (RFC 6455) under a client over the in-memory link with a
   fake clock, and the proxy stage (SOCKS5, RFC 1928/1929; HTTP CONNECT) driven directly
   over the in-memory link with scripted answers. */
#define _POSIX_C_SOURCE 200809L
#include <stdlib.h>
#define MQTTC_IMPLEMENTATION
#include "mqttc.h"
#include "test.h"

/* ======================================================================================
   vectors
   ====================================================================================== */

static void hex20(const unsigned char d[20], char out[41]) {
    for (int i = 0; i < 20; i++) sprintf(out + 2 * i, "%02x", d[i]);
}

static int sha1_is(const char *msg, size_t len, const char *want) {
    unsigned char d[20];
    char h[41];
    mqttc__sha1((const unsigned char *)msg, len, d);
    hex20(d, h);
    if (strcmp(h, want) != 0) fprintf(stderr, "  sha1(%zu bytes) = %s, want %s\n", len, h, want);
    return strcmp(h, want) == 0;
}

TEST(sha1_vectors) {
    CHECK(sha1_is("abc", 3, "a9993e364706816aba3e25717850c26c9cd0d89d"));
    CHECK(sha1_is("", 0, "da39a3ee5e6b4b0d3255bfef95601890afd80709"));
    /* 56 bytes: the padding needs a second block */
    const char *m56 = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
    CHECK_EQ_INT(strlen(m56), 56);
    CHECK(sha1_is(m56, 56, "84983e441c3bd26ebaae4aa1f95129e5e54670f1"));
    /* 64 bytes: exactly one block, then a padding block */
    char m64[65];
    memset(m64, 'a', 64);
    m64[64] = 0;
    CHECK(sha1_is(m64, 64, "0098ba824b5c16427bd7a1122a5a442a25ec644d"));
    /* 55 bytes: the last length that fits with the padding in one block */
    CHECK(sha1_is(m64, 55, "c1c8bbdc22796e28c0e15163d20899b65621d65a"));
    /* the million a's (RFC 3174 TEST3): many blocks */
    char *big = (char *)malloc(1000000);
    memset(big, 'a', 1000000);
    CHECK(sha1_is(big, 1000000, "34aa973cd4c4daa4f61eeb2bdbad27316534016f"));
    free(big);
}

static int b64_is(const char *in, const char *want) {
    char out[64];
    size_t n = mqttc__base64((const unsigned char *)in, strlen(in), out);
    if (strcmp(out, want) != 0 || n != strlen(want)) fprintf(stderr, "  base64(%s) = %s (%zu), want %s\n", in, out, n, want);
    return strcmp(out, want) == 0 && n == strlen(want);
}

TEST(base64_vectors) {
    CHECK(b64_is("", ""));
    CHECK(b64_is("f", "Zg=="));
    CHECK(b64_is("fo", "Zm8="));
    CHECK(b64_is("foo", "Zm9v"));
    CHECK(b64_is("foob", "Zm9vYg=="));
    CHECK(b64_is("fooba", "Zm9vYmE="));
    CHECK(b64_is("foobar", "Zm9vYmFy"));
    /* every byte value goes through the table */
    unsigned char all[3] = {0xFB, 0xFF, 0xBF};
    char out[8];
    mqttc__base64(all, 3, out);
    CHECK(strcmp(out, "+/+/") == 0);
}

static const char WS_GUID[] = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

/* The Sec-WebSocket-Accept for a key (RFC 6455 4.2.2), as the server computes it. */
static void ws_accept_for(const char *key, char out[32]) {
    unsigned char both[128], d[20];
    size_t kl = strlen(key);
    memcpy(both, key, kl);
    memcpy(both + kl, WS_GUID, sizeof WS_GUID - 1);
    mqttc__sha1(both, kl + sizeof WS_GUID - 1, d);
    mqttc__base64(d, 20, out);
}

TEST(rfc6455_accept_example) {
    char acc[32];
    ws_accept_for("dGhlIHNhbXBsZSBub25jZQ==", acc);
    CHECK(strcmp(acc, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=") == 0);
}

/* ======================================================================================
   URLs
   ====================================================================================== */

static const char *const broker_schemes[] = {"mqtt", "mqtts", "ws", "wss", NULL};

static int field_is(const char *p, size_t n, const char *want) {
    if (!want) return p == NULL;
    return p && n == strlen(want) && memcmp(p, want, n) == 0;
}

TEST(url_parse_good) {
    mqttc__url u;
    CHECK_RC(mqttc__url_parse("mqtt://broker.example", broker_schemes, &u), MQTTC_OK);
    CHECK_EQ_INT(u.scheme, 0);
    CHECK(field_is(u.host, u.host_len, "broker.example"));
    CHECK_EQ_INT(u.port, 0);
    CHECK(u.path == NULL && u.user == NULL && u.pass == NULL);

    CHECK_RC(mqttc__url_parse("mqtts://h:8884", broker_schemes, &u), MQTTC_OK);
    CHECK_EQ_INT(u.scheme, 1);
    CHECK(field_is(u.host, u.host_len, "h"));
    CHECK_EQ_INT(u.port, 8884);

    CHECK_RC(mqttc__url_parse("ws://user:secret@10.0.0.1:8080/mqtt/ws", broker_schemes, &u), MQTTC_OK);
    CHECK_EQ_INT(u.scheme, 2);
    CHECK(field_is(u.host, u.host_len, "10.0.0.1"));
    CHECK_EQ_INT(u.port, 8080);
    CHECK(u.path && strcmp(u.path, "/mqtt/ws") == 0);
    CHECK(field_is(u.user, u.user_len, "user"));
    CHECK(field_is(u.pass, u.pass_len, "secret"));

    CHECK_RC(mqttc__url_parse("wss://[::1]:1883/", broker_schemes, &u), MQTTC_OK);
    CHECK_EQ_INT(u.scheme, 3);
    CHECK(field_is(u.host, u.host_len, "::1"));
    CHECK_EQ_INT(u.port, 1883);
    CHECK(u.path && strcmp(u.path, "/") == 0);

    CHECK_RC(mqttc__url_parse("mqtt://[::1]", broker_schemes, &u), MQTTC_OK);
    CHECK(field_is(u.host, u.host_len, "::1"));
    CHECK_EQ_INT(u.port, 0);

    /* a user without a password; the scheme's case does not matter; the last '@' counts */
    CHECK_RC(mqttc__url_parse("MQTT://alice@h:1", broker_schemes, &u), MQTTC_OK);
    CHECK_EQ_INT(u.scheme, 0);
    CHECK(field_is(u.user, u.user_len, "alice"));
    CHECK(u.pass == NULL);
    CHECK_EQ_INT(u.port, 1);
    CHECK_RC(mqttc__url_parse("mqtt://a:p@ss@h:65535", broker_schemes, &u), MQTTC_OK);
    CHECK(field_is(u.user, u.user_len, "a"));
    CHECK(field_is(u.pass, u.pass_len, "p@ss"));
    CHECK(field_is(u.host, u.host_len, "h"));
    CHECK_EQ_INT(u.port, 65535);
    /* an empty password is a password */
    CHECK_RC(mqttc__url_parse("mqtt://a:@h", broker_schemes, &u), MQTTC_OK);
    CHECK(u.pass != NULL && u.pass_len == 0);
    /* percent-escapes stay as they are */
    CHECK_RC(mqttc__url_parse("mqtt://us%40er:p%3Aw%25@h", broker_schemes, &u), MQTTC_OK);
    CHECK(field_is(u.user, u.user_len, "us%40er"));
    CHECK(field_is(u.pass, u.pass_len, "p%3Aw%25"));
}

TEST(url_parse_bad) {
    static const char *const bad[] = {
        "mqtt://h:0", "mqtt://h:65536", "mqtt://h:99999999999", "mqtt://h:x", "mqtt://h:", "mqtt://h:12x",
        "mqtt://h:-1", "mqtt://", "mqtt://:1883", "mqtt://u:p@", "mqtt://u:p@:1", "mqtt://[]:1883", "mqtt://[::1",
        "mqtt://[::1]x", "mqtt://[::1]:", "http://h", "mqttx://h", "mqt://h", "h:1883", "mqtt:/h", "",
        "mqtt://ho st", " mqtt://h", "mqtt://h :1", "mqtt://h\t", "mqtt://h\x7f", "mqtt://a[b", NULL};
    mqttc__url u;
    for (int i = 0; bad[i]; i++) {
        int rc = mqttc__url_parse(bad[i], broker_schemes, &u);
        CHECK_MSG(rc == MQTTC_ERR_ARG, "\"%s\" -> %s", bad[i], mqttc_errname(rc));
    }
    /* a host of 255 bytes is taken, of 256 refused */
    char url[400];
    strcpy(url, "mqtt://");
    memset(url + 7, 'a', 255);
    url[7 + 255] = 0;
    CHECK_RC(mqttc__url_parse(url, broker_schemes, &u), MQTTC_OK);
    CHECK_EQ_INT(u.host_len, 255);
    url[7 + 255] = 'a';
    url[7 + 256] = 0;
    CHECK_RC(mqttc__url_parse(url, broker_schemes, &u), MQTTC_ERR_ARG);
}

TEST(unescape) {
    char out[64];
    long n = mqttc__unescape("us%40er", 7, out);
    CHECK_EQ_INT(n, 5);
    CHECK(n == 5 && memcmp(out, "us@er", 5) == 0);
    n = mqttc__unescape("%3a%3A%2f%25", 12, out);
    CHECK_EQ_INT(n, 4);
    CHECK(n == 4 && memcmp(out, "::/%", 4) == 0);
    n = mqttc__unescape("%41", 3, out); /* an escape at the very end */
    CHECK(n == 1 && out[0] == 'A');
    n = mqttc__unescape("", 0, out);
    CHECK_EQ_INT(n, 0);
    n = mqttc__unescape("a%00b", 5, out); /* a NUL byte is a byte */
    CHECK(n == 3 && out[1] == 0 && out[2] == 'b');
    CHECK_EQ_INT(mqttc__unescape("ab%", 3, out), -1);
    CHECK_EQ_INT(mqttc__unescape("ab%4", 4, out), -1);
    CHECK_EQ_INT(mqttc__unescape("%g1", 3, out), -1);
    CHECK_EQ_INT(mqttc__unescape("%1g", 3, out), -1);
    CHECK_EQ_INT(mqttc__unescape("%%41", 4, out), -1);
    /* the length bounds the input: "%41" cut after "%4" is broken */
    CHECK_EQ_INT(mqttc__unescape("%41", 2, out), -1);
}

TEST(proxy_parse) {
    mqttc__url px;
    CHECK_RC(mqttc__proxy_parse("socks5h://proxy.example", &px), MQTTC_OK);
    CHECK_EQ_INT(px.scheme, MQTTC__SOCKS5H);
    CHECK(field_is(px.host, px.host_len, "proxy.example"));
    CHECK_EQ_INT(px.port, 1080);
    CHECK_RC(mqttc__proxy_parse("socks5://u:p@127.0.0.1:9050", &px), MQTTC_OK);
    CHECK_EQ_INT(px.scheme, MQTTC__SOCKS5);
    CHECK_EQ_INT(px.port, 9050);
    CHECK(field_is(px.user, px.user_len, "u"));
    CHECK(field_is(px.pass, px.pass_len, "p"));
    CHECK_RC(mqttc__proxy_parse("http://[::1]", &px), MQTTC_OK);
    CHECK_EQ_INT(px.scheme, MQTTC__HTTP);
    CHECK(field_is(px.host, px.host_len, "::1"));
    CHECK_EQ_INT(px.port, 8080);
    CHECK_RC(mqttc__proxy_parse("HTTP://h:3128/", &px), MQTTC_OK); /* a bare "/" is no path */
    CHECK_EQ_INT(px.port, 3128);
    static const char *const bad[] = {"https://h", "socks4://h", "socks5h://h/x", "http://h:0", "http://h:65536",
                                      "socks5://", "socks5://:1080", "http://h:", "socks5h://h p", "h:1080",
                                      "mqtt://h", NULL};
    for (int i = 0; bad[i]; i++) {
        int rc = mqttc__proxy_parse(bad[i], &px);
        CHECK_MSG(rc == MQTTC_ERR_ARG, "\"%s\" -> %s", bad[i], mqttc_errname(rc));
    }
}

TEST(url_through_the_api) {
    mqttc_client c;
    mqttc_options o;
    memset(&o, 0, sizeof o);
    CHECK_RC(mqttc_init(&c, &o), MQTTC_OK);
    static const char *const bad[] = {"mqtt://h:0", "mqtt://", "ftp://h", "mqtt://h:x", "mqtt://ho st", "broker", NULL};
    for (int i = 0; bad[i]; i++) {
        CHECK_RC(mqttc_connect_url(&c, bad[i], 0), MQTTC_ERR_ARG);
        CHECK_MSG(strcmp(mqttc_bad_arg(&c), "url") == 0, "%s: bad_arg \"%s\"", bad[i], mqttc_bad_arg(&c));
        CHECK(mqttc_state(&c) != MQTTC_STATE_HANDSHAKE && mqttc_state(&c) != MQTTC_STATE_CONNACK_WAIT);
    }
    CHECK_RC(mqttc_connect_url(&c, NULL, 0), MQTTC_ERR_ARG);
    CHECK(strcmp(mqttc_bad_arg(&c), "url") == 0);
    /* a broken escape in the user information is the URL's fault too */
    CHECK_RC(mqttc_connect_url(&c, "mqtt://u%4@127.0.0.1:1", 0), MQTTC_ERR_ARG);
    CHECK(strcmp(mqttc_bad_arg(&c), "url") == 0);
    /* a URL of 2048 bytes or more (reconnects parse a copy of it on the stack) */
    static char longest[2049];
    memset(longest, 'a', sizeof longest - 1);
    memcpy(longest, "ws://127.0.0.1:1/", 17);
    CHECK_RC(mqttc_connect_url(&c, longest, 0), MQTTC_ERR_ARG);
    CHECK(strcmp(mqttc_bad_arg(&c), "url") == 0);
    longest[2047] = '\0'; /* 2047 bytes: taken (nothing listens: the dial fails later) */
    CHECK(mqttc_connect_url(&c, longest, 0) != MQTTC_ERR_ARG);
    mqttc_deinit(&c);
}

/* A ws:// URL whose path has a space: the URL is at fault (section 10: "MQTTC_ERR_ARG
   ("url") for anything else"), found before any socket is made. */
TEST(url_ws_path_with_space_is_the_urls_fault) {
    mqttc_client c;
    mqttc_options o;
    memset(&o, 0, sizeof o);
    CHECK_RC(mqttc_init(&c, &o), MQTTC_OK);
    CHECK_RC(mqttc_connect_url(&c, "ws://127.0.0.1:1/a b", 0), MQTTC_ERR_ARG);
    CHECK_MSG(strcmp(mqttc_bad_arg(&c), "url") == 0, "bad_arg \"%s\"", mqttc_bad_arg(&c));
    mqttc_deinit(&c);
}

TEST(bad_transport_options_at_init) {
    mqttc_client c;
    mqttc_options o;
    static const char *const bad_proxy[] = {"socks4://h", "http://h:0", "socks5h://", "proxy:1080", "socks5://h/path", NULL};
    for (int i = 0; bad_proxy[i]; i++) {
        memset(&o, 0, sizeof o);
        o.proxy = bad_proxy[i];
        CHECK_RC(mqttc_init(&c, &o), MQTTC_ERR_ARG);
        CHECK_MSG(strcmp(mqttc_bad_arg(&c), "options.proxy") == 0, "%s: \"%s\"", bad_proxy[i], mqttc_bad_arg(&c));
    }
    memset(&o, 0, sizeof o);
    o.proxy = "socks5h://u:p@127.0.0.1";
    CHECK_RC(mqttc_init(&c, &o), MQTTC_OK);
    mqttc_deinit(&c);
    static const char *const bad_headers[] = {"X-A: 1", "X-A: 1\n", "\r", "X-A: 1\r\nX-B: 2", NULL};
    for (int i = 0; bad_headers[i]; i++) {
        memset(&o, 0, sizeof o);
        o.ws_path = "/mqtt";
        o.ws_headers = bad_headers[i];
        CHECK_RC(mqttc_init(&c, &o), MQTTC_ERR_ARG);
        CHECK_MSG(strcmp(mqttc_bad_arg(&c), "options.ws_headers") == 0, "\"%s\"", mqttc_bad_arg(&c));
    }
    static const char *const bad_paths[] = {"", "mqtt", "/a#b", NULL}; /* a request path, no fragment */
    for (int i = 0; bad_paths[i]; i++) {
        memset(&o, 0, sizeof o);
        o.ws_path = bad_paths[i];
        CHECK_RC(mqttc_init(&c, &o), MQTTC_ERR_ARG);
        CHECK_MSG(strcmp(mqttc_bad_arg(&c), "options.ws_path") == 0, "\"%s\": \"%s\"", bad_paths[i], mqttc_bad_arg(&c));
    }
    memset(&o, 0, sizeof o);
    CHECK_RC(mqttc_init(&c, &o), MQTTC_OK); /* a URL with a fragment: the URL's fault (RFC 6455 3) */
    CHECK_RC(mqttc_connect_url(&c, "ws://127.0.0.1:1/mqtt#frag", 0), MQTTC_ERR_ARG);
    CHECK(strcmp(mqttc_bad_arg(&c), "url") == 0);
    mqttc_deinit(&c);
    memset(&o, 0, sizeof o);
    o.ws_path = "/mqtt";
    o.ws_headers = "X-A: 1\r\nX-B: 2\r\n";
    CHECK_RC(mqttc_init(&c, &o), MQTTC_OK);
    mqttc_deinit(&c);
}

/* ======================================================================================
   WebSocket: a client with ws_path over the in-memory link
   ====================================================================================== */

typedef struct seen {
    int messages, status_events, last_event, last_error;
    size_t last_len;
    char last_topic[64];
} seen;
static seen S;

static void on_message(mqttc_client *c, const mqttc_message *m, void *u) {
    (void)c; (void)u;
    S.messages++;
    S.last_len = m->payload_len;
    snprintf(S.last_topic, sizeof S.last_topic, "%s", m->topic);
}
static void on_status(mqttc_client *c, const mqttc_status *st, void *u) {
    (void)u;
    S.status_events++;
    S.last_event = st->event;
    S.last_error = st->error;
    mqttc_set_retry(c, -1); /* no reconnect plans in these tests */
}

static void ws_options(mqttc_options *o) {
    memset(o, 0, sizeof *o);
    o->client_id = "wstester";
    o->ws_path = "/mqtt";
    o->on_message = on_message;
    o->on_status = on_status;
}

static void pump(mqttc_client *c, mem_link *l, uint64_t now) {
    for (int i = 0; i < 200000 && (l->in_len || mqttc_pending_output(c)) && mqttc_state(c) != MQTTC_STATE_CLOSED; i++)
        mqttc_step(c, now);
    mqttc_step(c, now);
}

/* The end of the upgrade request in l->out (just after its blank line), or 0. */
static size_t ws_request_end(const mem_link *l) {
    for (size_t i = 0; i + 4 <= l->out_len; i++)
        if (memcmp(l->out + i, "\r\n\r\n", 4) == 0) return i + 4;
    return 0;
}

/* The request as a C string (into buf), or "" when it is not all there. */
static const char *ws_request(const mem_link *l, char *buf, size_t cap) {
    size_t n = ws_request_end(l);
    if (n >= cap) n = 0;
    memcpy(buf, l->out, n);
    buf[n] = 0;
    return buf;
}

/* The value of a request header (exact name), into out. */
static int request_header(const char *req, const char *name, char *out, size_t cap) {
    char pat[64];
    snprintf(pat, sizeof pat, "\r\n%s: ", name);
    const char *p = strstr(req, pat);
    if (!p) return 0;
    p += strlen(pat);
    size_t n = strcspn(p, "\r\n");
    if (n >= cap) return 0;
    memcpy(out, p, n);
    out[n] = 0;
    return 1;
}

/* The 101 answer for what the client asked, with extra header lines (ending CRLF) or
   with lines left out / replaced: flags below. */
enum { ANS_NO_PROTOCOL = 1, ANS_BAD_ACCEPT = 2, ANS_NO_UPGRADE = 4, ANS_NO_CONNECTION = 8, ANS_EXTENSION = 16,
       ANS_OTHER_PROTOCOL = 32, ANS_ODD_CASE = 64 };
static size_t ws_answer(const mem_link *l, char *out, size_t cap, const char *status, unsigned flags, const char *extra) {
    char req[2048], key[64] = "", acc[32];
    ws_request(l, req, sizeof req);
    request_header(req, "Sec-WebSocket-Key", key, sizeof key);
    ws_accept_for(key, acc);
    if (flags & ANS_BAD_ACCEPT) acc[3] = acc[3] == 'A' ? 'B' : 'A';
    int n = snprintf(out, cap, "%s\r\n%s%s%s%s%s%s%s%s%s\r\n", status,
                     flags & ANS_NO_UPGRADE ? "" : (flags & ANS_ODD_CASE ? "upgrade:WebSocket  \r\n" : "Upgrade: websocket\r\n"),
                     flags & ANS_NO_CONNECTION ? "" : (flags & ANS_ODD_CASE ? "CONNECTION: keep-alive, upgrade\r\n" : "Connection: Upgrade\r\n"),
                     flags & ANS_ODD_CASE ? "sec-websocket-accept:\t" : "Sec-WebSocket-Accept: ", acc, "\r\n",
                     flags & ANS_NO_PROTOCOL ? "" : (flags & ANS_OTHER_PROTOCOL ? "Sec-WebSocket-Protocol: mqttv3.1\r\n" : "Sec-WebSocket-Protocol: mqtt\r\n"),
                     flags & ANS_EXTENSION ? "Sec-WebSocket-Extensions: permessage-deflate\r\n" : "",
                     extra ? extra : "", "");
    return (size_t)n;
}

/* A server frame (never masked unless asked): lenform 0 the shortest, 2 or 8 forced. */
static size_t srv_frame_x(unsigned char *out, unsigned b0, const void *payload, size_t len, int lenform, int masked) {
    size_t n = 0;
    out[n++] = (unsigned char)b0;
    unsigned char mbit = masked ? 0x80 : 0;
    if (lenform == 0 && len < 126) out[n++] = (unsigned char)(mbit | len);
    else if ((lenform == 0 || lenform == 2) && len < 65536) {
        out[n++] = mbit | 126;
        out[n++] = (unsigned char)(len >> 8);
        out[n++] = (unsigned char)len;
    } else {
        out[n++] = mbit | 127;
        for (int j = 7; j >= 0; j--) out[n++] = (unsigned char)((uint64_t)len >> (8 * j));
    }
    unsigned char mask[4] = {0x11, 0x22, 0x33, 0x44};
    if (masked) { memcpy(out + n, mask, 4); n += 4; }
    for (size_t i = 0; i < len; i++) out[n + i] = ((const unsigned char *)payload)[i] ^ (masked ? mask[i & 3] : 0);
    return n + len;
}
static size_t srv_frame(unsigned char *out, unsigned b0, const void *payload, size_t len) {
    return srv_frame_x(out, b0, payload, len, 0, 0);
}
static void feed_frame(mem_link *l, unsigned b0, const void *payload, size_t len) {
    unsigned char *f = (unsigned char *)malloc(len + 14);
    mem_feed(l, f, srv_frame(f, b0, payload, len));
    free(f);
}

/* The client's frames parsed from l->out[*pos]: data reassembled, control frames kept. */
typedef struct wsout {
    unsigned char *data;
    size_t len, cap;
    int frames, data_frames, unmasked, not_fin, bad_opcode, ctl_count;
    size_t max_payload;
    int ctl_op;                /* the last control frame's opcode */
    unsigned char ctl[125];
    size_t ctl_len;
    unsigned char masks[64][4]; /* the first 64 frames' keys */
} wsout;

static void wsout_free(wsout *w) { free(w->data); memset(w, 0, sizeof *w); }

/* Parses every whole frame; returns how many it parsed. */
static int ws_parse_out(const mem_link *l, size_t *pos, wsout *w) {
    int count = 0;
    for (;;) {
        const unsigned char *p = l->out + *pos;
        size_t avail = l->out_len - *pos, h = 2;
        if (avail < 2) return count;
        uint64_t len = p[1] & 0x7f;
        if (len == 126) h += 2;
        if (len == 127) h += 8;
        if (p[1] & 0x80) h += 4;
        if (avail < h) return count;
        if ((p[1] & 0x7f) == 126) len = (uint64_t)p[2] << 8 | p[3];
        if ((p[1] & 0x7f) == 127) { len = 0; for (int j = 0; j < 8; j++) len = len << 8 | p[2 + j]; }
        if (avail - h < len) return count;
        const unsigned char *mask = (p[1] & 0x80) ? p + h - 4 : NULL;
        int op = p[0] & 0x0f;
        if (!mask) w->unmasked++;
        if (!(p[0] & 0x80)) w->not_fin++;
        if (w->frames < 64) memcpy(w->masks[w->frames], mask ? mask : (const unsigned char *)"\0\0\0\0", 4);
        w->frames++;
        if (len > w->max_payload) w->max_payload = (size_t)len;
        if (op == 2 || op == 0) {
            w->data_frames++;
            if (w->len + len > w->cap) {
                w->cap = (w->len + len) * 2 + 64;
                w->data = (unsigned char *)realloc(w->data, w->cap);
            }
            for (size_t i = 0; i < len; i++) w->data[w->len + i] = p[h + i] ^ (mask ? mask[i & 3] : 0);
            w->len += (size_t)len;
        } else if (op >= 8 && op <= 10 && len <= 125) {
            w->ctl_count++;
            w->ctl_op = op;
            w->ctl_len = (size_t)len;
            for (size_t i = 0; i < len; i++) w->ctl[i] = p[h + i] ^ (mask ? mask[i & 3] : 0);
        } else {
            w->bad_opcode++;
        }
        *pos += h + (size_t)len;
        count++;
    }
}

/* The next MQTT packet in the reassembled data (from *dpos): its type, or 0. */
static int ws_next_packet(const wsout *w, size_t *dpos, mqttc_packet *p) {
    size_t used;
    if (*dpos >= w->len) return 0;
    if (mqttc_decode(w->data + *dpos, w->len - *dpos, 0, MQTTC_PROTOCOL_311, p, &used) != MQTTC_OK) return 0;
    *dpos += used;
    return p->type;
}

/* A client with ws_path started over l: the upgrade request written, no answer yet. */
static void ws_start(mqttc_client *c, mem_link *l, const mqttc_options *o) {
    mqttc_transport t = mem_transport(l);
    memset(&S, 0, sizeof S);
    CHECK_RC(mqttc_init(c, o), MQTTC_OK);
    CHECK_RC(mqttc_start_transport(c, &t, 0), MQTTC_OK);
    CHECK_EQ_INT(mqttc_state(c), MQTTC_STATE_HANDSHAKE);
    CHECK(ws_request_end(l) > 0);
}

/* Answers the upgrade (whole) and steps until CONNECT went out; *pos is where the frames
   begin. */
static void ws_open(mqttc_client *c, mem_link *l, size_t *pos) {
    char ans[1024];
    mem_feed(l, ans, ws_answer(l, ans, sizeof ans, "HTTP/1.1 101 Switching Protocols", 0, NULL));
    pump(c, l, 0);
    CHECK_EQ_INT(mqttc_state(c), MQTTC_STATE_CONNACK_WAIT);
    *pos = ws_request_end(l);
}

/* Opened and connected: CONNACK fed in one frame. */
static void ws_connect(mqttc_client *c, mem_link *l, const mqttc_options *o, size_t *pos) {
    ws_start(c, l, o);
    ws_open(c, l, pos);
    feed_frame(l, 0x82, TEST_CONNACK_OK, 4);
    pump(c, l, 0);
    CHECK_EQ_INT(mqttc_state(c), MQTTC_STATE_CONNECTED);
}

/* Checks that what the client sent after the request is one CONNECT, in masked binary
   frames. */
static void check_connect_frame(const mem_link *l, size_t pos) {
    wsout w;
    mqttc_packet p;
    size_t dpos = 0;
    memset(&w, 0, sizeof w);
    CHECK(ws_parse_out(l, &pos, &w) >= 1);
    CHECK_EQ_INT(pos, l->out_len); /* every byte a whole frame */
    CHECK_EQ_INT(w.unmasked, 0);
    CHECK_EQ_INT(w.not_fin, 0);
    CHECK_EQ_INT(w.data_frames, w.frames);
    CHECK(l->out_len > 0 && l->out[ws_request_end(l)] == 0x82); /* FIN, binary */
    CHECK_EQ_INT(ws_next_packet(&w, &dpos, &p), MQTTC_CONNECT);
    CHECK(p.connect.client_id.len == 8 && memcmp(p.connect.client_id.ptr, "wstester", 8) == 0);
    CHECK_EQ_INT(dpos, w.len);
    wsout_free(&w);
}

TEST(ws_upgrade_request) {
    mqttc_client c;
    mqttc_options o;
    mem_link l = {0};
    char req[2048], v[128];
    ws_options(&o);
    o.ws_headers = "Authorization: Bearer x\r\n";
    ws_start(&c, &l, &o);
    ws_request(&l, req, sizeof req);
    CHECK(strncmp(req, "GET /mqtt HTTP/1.1\r\n", 20) == 0);
    CHECK(request_header(req, "Upgrade", v, sizeof v) && mqttc__same_word(v, "websocket", 10));
    CHECK(request_header(req, "Connection", v, sizeof v) && strstr(v, "Upgrade") != NULL);
    CHECK(request_header(req, "Sec-WebSocket-Version", v, sizeof v) && strcmp(v, "13") == 0);
    CHECK(request_header(req, "Sec-WebSocket-Protocol", v, sizeof v) && strcmp(v, "mqtt") == 0);
    CHECK(request_header(req, "Host", v, sizeof v));
    CHECK(request_header(req, "Authorization", v, sizeof v) && strcmp(v, "Bearer x") == 0);
    /* the key: 16 random bytes in base64 (24 characters, "==" at the end) */
    CHECK(request_header(req, "Sec-WebSocket-Key", v, sizeof v));
    CHECK_EQ_INT(strlen(v), 24);
    CHECK(v[22] == '=' && v[23] == '=');
    CHECK_EQ_INT(l.out_len, ws_request_end(&l)); /* nothing after it yet: no MQTT before 101 */
    /* a second client's key is another */
    mqttc_client c2;
    mem_link l2 = {0};
    char req2[2048], v2[128];
    ws_start(&c2, &l2, &o);
    ws_request(&l2, req2, sizeof req2);
    CHECK(request_header(req2, "Sec-WebSocket-Key", v2, sizeof v2) && strcmp(v, v2) != 0);
    mqttc_deinit(&c2);
    mem_free(&l2);
    mqttc_deinit(&c);
    mem_free(&l);
}

TEST(ws_upgrade_answer_whole) {
    mqttc_client c;
    mqttc_options o;
    mem_link l = {0};
    size_t pos;
    ws_options(&o);
    ws_start(&c, &l, &o);
    ws_open(&c, &l, &pos);
    check_connect_frame(&l, pos);
    CHECK_EQ_INT(mqttc_error(&c), MQTTC_OK);
    feed_frame(&l, 0x82, TEST_CONNACK_OK, 4);
    pump(&c, &l, 0);
    CHECK_EQ_INT(mqttc_state(&c), MQTTC_STATE_CONNECTED);
    CHECK_EQ_INT(S.last_event, MQTTC_EVENT_CONNECTED);
    mqttc_deinit(&c);
    mem_free(&l);
}

/* The server's first frame right behind the 101, in the same read: kept for MQTT. */
TEST(ws_upgrade_answer_and_frame_together) {
    mqttc_client c;
    mqttc_options o;
    mem_link l = {0};
    char ans[1024];
    unsigned char f[16];
    ws_options(&o);
    ws_start(&c, &l, &o);
    size_t n = ws_answer(&l, ans, sizeof ans, "HTTP/1.1 101 Switching Protocols", 0, NULL);
    size_t fn = srv_frame(f, 0x82, TEST_CONNACK_OK, 4);
    memcpy(ans + n, f, fn);
    mem_feed(&l, ans, n + fn);
    pump(&c, &l, 0);
    pump(&c, &l, 0);
    CHECK_EQ_INT(mqttc_state(&c), MQTTC_STATE_CONNECTED);
    check_connect_frame(&l, ws_request_end(&l));
    mqttc_deinit(&c);
    mem_free(&l);
}

TEST(ws_upgrade_answer_byte_by_byte) {
    mqttc_client c;
    mqttc_options o;
    mem_link l = {0};
    char ans[1024];
    ws_options(&o);
    ws_start(&c, &l, &o);
    /* other headers, odd case and spacing, a keep-alive in Connection: all fine */
    mem_feed(&l, ans, ws_answer(&l, ans, sizeof ans, "HTTP/1.1 101 Switching Protocols", ANS_ODD_CASE,
                                "Server: test\r\nX-Long: 0123456789012345678901234567890123456789\r\n"));
    l.read_chunk = 1;
    size_t req_end = ws_request_end(&l);
    for (int i = 0; i < 100000 && l.in_len; i++) {
        mqttc_step(&c, 0);
        if (l.in_len) CHECK_EQ_INT(l.out_len, req_end); /* nothing before the answer's end */
    }
    mqttc_step(&c, 0);
    CHECK_EQ_INT(mqttc_state(&c), MQTTC_STATE_CONNACK_WAIT);
    check_connect_frame(&l, req_end);
    /* the CONNACK's frame one byte at a time too */
    feed_frame(&l, 0x82, TEST_CONNACK_OK, 4);
    pump(&c, &l, 0);
    CHECK_EQ_INT(mqttc_state(&c), MQTTC_STATE_CONNECTED);
    mqttc_deinit(&c);
    mem_free(&l);
}

/* The upgrade refused: WSHANDSHAKE, a detail, no MQTT byte sent, on_status told. */
static void ws_refused(const char *status, unsigned flags, const char *extra, const char *detail_has) {
    mqttc_client c;
    mqttc_options o;
    mem_link l = {0};
    char ans[1024];
    ws_options(&o);
    ws_start(&c, &l, &o);
    mem_feed(&l, ans, ws_answer(&l, ans, sizeof ans, status, flags, extra));
    pump(&c, &l, 0);
    CHECK_EQ_INT(mqttc_state(&c), MQTTC_STATE_CLOSED);
    CHECK_RC(mqttc_error(&c), MQTTC_ERR_WSHANDSHAKE);
    CHECK_MSG(mqttc_error_detail(&c)[0] != 0, "%s / %u: no detail", status, flags);
    if (detail_has) CHECK_MSG(strstr(mqttc_error_detail(&c), detail_has) != NULL, "detail \"%s\"", mqttc_error_detail(&c));
    CHECK_EQ_INT(l.out_len, ws_request_end(&l)); /* nothing MQTT */
    CHECK_EQ_INT(S.last_event, MQTTC_EVENT_CONNECT_FAILED);
    CHECK_RC(S.last_error, MQTTC_ERR_WSHANDSHAKE);
    CHECK_EQ_INT(l.closed, 1);
    mqttc_deinit(&c);
    mem_free(&l);
}

TEST(ws_upgrade_refused) {
    ws_refused("HTTP/1.1 101 Switching Protocols", ANS_BAD_ACCEPT, NULL, "Accept");
    ws_refused("HTTP/1.1 101 Switching Protocols", ANS_NO_PROTOCOL, NULL, "mqtt");
    ws_refused("HTTP/1.1 101 Switching Protocols", ANS_OTHER_PROTOCOL, NULL, "mqtt");
    ws_refused("HTTP/1.1 101 Switching Protocols", ANS_NO_UPGRADE, NULL, NULL);
    ws_refused("HTTP/1.1 101 Switching Protocols", ANS_NO_CONNECTION, NULL, NULL);
    ws_refused("HTTP/1.1 101 Switching Protocols", ANS_EXTENSION, NULL, NULL);
    ws_refused("HTTP/1.1 200 OK", 0, NULL, "101");
    ws_refused("HTTP/1.1 404 Not Found", 0, NULL, "101");
    ws_refused("SSH-2.0-OpenSSH_9.6", 0, NULL, NULL);
    /* two Accept lines, one wrong */
    ws_refused("HTTP/1.1 101 Switching Protocols", 0, "Sec-WebSocket-Accept: AAAAAAAAAAAAAAAAAAAAAAAAAAA=\r\n", "Accept");
}

TEST(ws_upgrade_status_code_and_close) {
    mqttc_client c;
    mqttc_options o;
    mem_link l = {0};
    static const char a404[] = "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n";
    ws_options(&o);
    ws_start(&c, &l, &o);
    mem_feed(&l, a404, sizeof a404 - 1);
    pump(&c, &l, 0);
    CHECK_RC(mqttc_error(&c), MQTTC_ERR_WSHANDSHAKE);
    CHECK_EQ_INT(mqttc_reason_code(&c), 404);
    mqttc_deinit(&c);
    mem_free(&l);
    /* the server hangs up in the middle of the answer */
    memset(&l, 0, sizeof l);
    ws_start(&c, &l, &o);
    mem_feed(&l, "HTTP/1.1 101 Sw", 15);
    l.is_eof = 1;
    pump(&c, &l, 0);
    CHECK_RC(mqttc_error(&c), MQTTC_ERR_WSHANDSHAKE);
    CHECK(mqttc_error_detail(&c)[0] != 0);
    CHECK_EQ_INT(l.out_len, ws_request_end(&l));
    mqttc_deinit(&c);
    mem_free(&l);
    /* an endless answer: refused after 16 KiB */
    memset(&l, 0, sizeof l);
    ws_start(&c, &l, &o);
    static const char st[] = "HTTP/1.1 101 Switching Protocols\r\n";
    mem_feed(&l, st, sizeof st - 1);
    char junk[1000];
    memset(junk, 'x', sizeof junk);
    junk[998] = '\r';
    junk[999] = '\n';
    for (int i = 0; i < 20; i++) mem_feed(&l, junk, sizeof junk);
    pump(&c, &l, 0);
    CHECK_RC(mqttc_error(&c), MQTTC_ERR_WSHANDSHAKE);
    CHECK(strstr(mqttc_error_detail(&c), "long") != NULL);
    mqttc_deinit(&c);
    mem_free(&l);
}

/* A very long header line (10 KB) in the 101: fine. */
TEST(ws_upgrade_long_header) {
    mqttc_client c;
    mqttc_options o;
    mem_link l = {0};
    size_t n = 10000;
    char *extra = (char *)malloc(n + 16), ans[12000];
    memcpy(extra, "X-Big: ", 7);
    memset(extra + 7, 'b', n);
    memcpy(extra + 7 + n, "\r\n", 3);
    ws_options(&o);
    ws_start(&c, &l, &o);
    mem_feed(&l, ans, ws_answer(&l, ans, sizeof ans, "HTTP/1.1 101 Switching Protocols", 0, extra));
    pump(&c, &l, 0);
    CHECK_EQ_INT(mqttc_state(&c), MQTTC_STATE_CONNACK_WAIT);
    check_connect_frame(&l, ws_request_end(&l));
    free(extra);
    mqttc_deinit(&c);
    mem_free(&l);
}

TEST(ws_connack_fragmented_message) {
    mqttc_client c;
    mqttc_options o;
    mem_link l = {0};
    size_t pos;
    unsigned char f[64];
    size_t n = 0;
    ws_options(&o);
    ws_start(&c, &l, &o);
    ws_open(&c, &l, &pos);
    /* FIN=0 binary with one byte, an empty continuation, a PING in the middle, the rest */
    n += srv_frame(f + n, 0x02, TEST_CONNACK_OK, 1);
    n += srv_frame(f + n, 0x00, "", 0);
    n += srv_frame(f + n, 0x89, "mid", 3);
    n += srv_frame(f + n, 0x00, TEST_CONNACK_OK + 1, 2);
    n += srv_frame(f + n, 0x80, TEST_CONNACK_OK + 3, 1);
    mem_feed(&l, f, n);
    pump(&c, &l, 0);
    CHECK_EQ_INT(mqttc_state(&c), MQTTC_STATE_CONNECTED);
    CHECK_RC(mqttc_error(&c), MQTTC_OK);
    /* a new binary message after the fragmented one is fine */
    unsigned char pub[64];
    size_t pn = test_publish_bytes(pub, sizeof pub, "t/1", "hello", 5, 0, 0, 0, 0);
    feed_frame(&l, 0x82, pub, pn);
    pump(&c, &l, 0);
    CHECK_EQ_INT(S.messages, 1);
    CHECK_RC(mqttc_error(&c), MQTTC_OK);
    mqttc_deinit(&c);
    mem_free(&l);
}

TEST(ws_connack_and_publish_in_one_frame) {
    mqttc_client c;
    mqttc_options o;
    mem_link l = {0};
    size_t pos;
    unsigned char b[128];
    ws_options(&o);
    ws_start(&c, &l, &o);
    ws_open(&c, &l, &pos);
    memcpy(b, TEST_CONNACK_OK, 4);
    size_t n = 4 + test_publish_bytes(b + 4, sizeof b - 4, "a/b", "xyz", 3, 0, 0, 0, 0);
    n += test_publish_bytes(b + n, sizeof b - n, "a/c", "", 0, 0, 0, 0, 0);
    feed_frame(&l, 0x82, b, n);
    pump(&c, &l, 0);
    pump(&c, &l, 0);
    CHECK_EQ_INT(mqttc_state(&c), MQTTC_STATE_CONNECTED);
    CHECK_EQ_INT(S.messages, 2);
    CHECK(strcmp(S.last_topic, "a/c") == 0);
    mqttc_deinit(&c);
    mem_free(&l);
}

/* A frame header split at every byte: each piece delivered in its own step. */
TEST(ws_frame_header_split_everywhere) {
    unsigned char pub[300], f[400];
    size_t pn = test_publish_bytes(pub, sizeof pub, "s", "0123456789012345678901234567890123456789", 40, 0, 0, 0, 0);
    for (int form = 0; form < 3; form++) {
        int lenform = form == 0 ? 0 : form == 1 ? 2 : 8;
        size_t fn = srv_frame_x(f, 0x82, pub, pn, lenform, 0);
        size_t hlen = fn - pn;
        for (size_t cut = 1; cut <= hlen; cut++) {
            mqttc_client c;
            mqttc_options o;
            mem_link l = {0};
            size_t pos;
            ws_options(&o);
            ws_connect(&c, &l, &o, &pos);
            mem_feed(&l, f, cut);
            mqttc_step(&c, 0);
            CHECK_EQ_INT(S.messages, 0);
            mem_feed(&l, f + cut, fn - cut);
            pump(&c, &l, 0);
            CHECK_MSG(S.messages == 1 && S.last_len == 40, "form %d cut %zu: %d messages", lenform, cut, S.messages);
            CHECK_RC(mqttc_error(&c), MQTTC_OK);
            mqttc_deinit(&c);
            mem_free(&l);
        }
    }
}

/* A PUBLISH whose encoded size is exactly `size` (topic "t"). */
static unsigned char *publish_of_size(size_t size, size_t *payload_len) {
    for (size_t vl = 1; vl <= 4; vl++) {
        size_t r = size - 1 - vl;
        size_t need = r < 128 ? 1 : r < 16384 ? 2 : r < 2097152 ? 3 : 4;
        if (need != vl || r < 3) continue;
        *payload_len = r - 3;
        unsigned char *payload = (unsigned char *)malloc(*payload_len + 1), *out = (unsigned char *)malloc(size + 8);
        for (size_t i = 0; i < *payload_len; i++) payload[i] = (unsigned char)(i * 7);
        size_t n = test_publish_bytes(out, size + 8, "t", payload, *payload_len, 0, 0, 0, 0);
        free(payload);
        if (n != size) fprintf(stderr, "  publish_of_size(%zu): %zu\n", size, n);
        return out;
    }
    return NULL;
}

TEST(ws_payload_lengths) {
    static const size_t sizes[] = {125, 126, 127, 65535, 65536, 70000};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        mqttc_client c;
        mqttc_options o;
        mem_link l = {0};
        size_t pos, plen = 0;
        ws_options(&o);
        o.max_packet_size = 1u << 20;
        ws_connect(&c, &l, &o, &pos);
        unsigned char *pub = publish_of_size(sizes[i], &plen);
        unsigned char *f = (unsigned char *)malloc(sizes[i] + 14);
        size_t fn = srv_frame(f, 0x82, pub, sizes[i]);
        CHECK_EQ_INT(fn - sizes[i], sizes[i] < 126 ? 2 : sizes[i] < 65536 ? 4 : 10);
        feed_frame(&l, 0x82, "", 0); /* an empty binary frame first: nothing */
        mem_feed(&l, f, fn);
        pump(&c, &l, 0);
        CHECK_MSG(S.messages == 1 && S.last_len == plen, "size %zu: %d messages, %zu bytes", sizes[i], S.messages,
                  S.last_len);
        CHECK_RC(mqttc_error(&c), MQTTC_OK);
        /* and again, one byte at a time */
        l.read_chunk = 1;
        mem_feed(&l, f, sizes[i] < 1000 ? fn : 0);
        pump(&c, &l, 0);
        if (sizes[i] < 1000) CHECK_EQ_INT(S.messages, 2);
        free(f);
        free(pub);
        mqttc_deinit(&c);
        mem_free(&l);
    }
}

TEST(ws_ping_pong) {
    mqttc_client c;
    mqttc_options o;
    mem_link l = {0};
    size_t pos;
    wsout w;
    ws_options(&o);
    ws_connect(&c, &l, &o, &pos);
    memset(&w, 0, sizeof w);
    ws_parse_out(&l, &pos, &w); /* CONNECT */
    wsout_free(&w);
    unsigned char big[125];
    for (int i = 0; i < 125; i++) big[i] = (unsigned char)(i * 3 + 1);
    feed_frame(&l, 0x89, "ping-data", 9);
    pump(&c, &l, 0);
    CHECK_EQ_INT(ws_parse_out(&l, &pos, &w), 1);
    CHECK_EQ_INT(w.ctl_op, 10);
    CHECK(w.ctl_len == 9 && memcmp(w.ctl, "ping-data", 9) == 0);
    CHECK_EQ_INT(w.unmasked, 0);
    CHECK_EQ_INT(w.not_fin, 0);
    wsout_free(&w);
    /* the longest control payload, and an empty one */
    feed_frame(&l, 0x89, big, 125);
    pump(&c, &l, 0);
    CHECK_EQ_INT(ws_parse_out(&l, &pos, &w), 1);
    CHECK(w.ctl_op == 10 && w.ctl_len == 125 && memcmp(w.ctl, big, 125) == 0);
    CHECK_EQ_INT(w.unmasked, 0);
    wsout_free(&w);
    feed_frame(&l, 0x89, "", 0);
    pump(&c, &l, 0);
    CHECK_EQ_INT(ws_parse_out(&l, &pos, &w), 1);
    CHECK(w.ctl_op == 10 && w.ctl_len == 0);
    wsout_free(&w);
    /* a PONG from the server needs nothing */
    feed_frame(&l, 0x8A, "x", 1);
    pump(&c, &l, 0);
    CHECK_EQ_INT(ws_parse_out(&l, &pos, &w), 0);
    wsout_free(&w);
    /* a PING one byte at a time */
    l.read_chunk = 1;
    feed_frame(&l, 0x89, "abc", 3);
    pump(&c, &l, 0);
    CHECK_EQ_INT(ws_parse_out(&l, &pos, &w), 1);
    CHECK(w.ctl_op == 10 && w.ctl_len == 3 && memcmp(w.ctl, "abc", 3) == 0);
    wsout_free(&w);
    CHECK_RC(mqttc_error(&c), MQTTC_OK);
    CHECK_EQ_INT(mqttc_state(&c), MQTTC_STATE_CONNECTED);
    mqttc_deinit(&c);
    mem_free(&l);
}

/* A frame the client must refuse: WEBSOCKET with a detail. */
static void ws_bad_frame(const unsigned char *f, size_t n, const char *what) {
    mqttc_client c;
    mqttc_options o;
    mem_link l = {0};
    size_t pos;
    ws_options(&o);
    ws_connect(&c, &l, &o, &pos);
    S.last_event = 0;
    mem_feed(&l, f, n);
    pump(&c, &l, 0);
    CHECK_MSG(mqttc_error(&c) == MQTTC_ERR_WEBSOCKET, "%s: %s", what, mqttc_errname(mqttc_error(&c)));
    CHECK_EQ_INT(mqttc_state(&c), MQTTC_STATE_CLOSED);
    CHECK_MSG(mqttc_error_detail(&c)[0] != 0, "%s: no detail", what);
    CHECK_EQ_INT(S.last_event, MQTTC_EVENT_CONNECTION_LOST);
    CHECK_RC(S.last_error, MQTTC_ERR_WEBSOCKET);
    CHECK_EQ_INT(S.messages, 0);
    mqttc_deinit(&c);
    mem_free(&l);
}

TEST(ws_bad_frames) {
    unsigned char f[300], pub[64];
    size_t pn = test_publish_bytes(pub, sizeof pub, "t", "x", 1, 0, 0, 0, 0), n;
    n = srv_frame_x(f, 0x82, pub, pn, 0, 1);
    ws_bad_frame(f, n, "masked");
    n = srv_frame(f, 0x81, pub, pn);
    ws_bad_frame(f, n, "text");
    n = srv_frame(f, 0xC2, pub, pn);
    ws_bad_frame(f, n, "RSV1");
    n = srv_frame(f, 0xA2, pub, pn);
    ws_bad_frame(f, n, "RSV2");
    n = srv_frame(f, 0x92, pub, pn);
    ws_bad_frame(f, n, "RSV3");
    for (unsigned op = 3; op <= 7; op++) {
        n = srv_frame(f, 0x80 | op, pub, pn);
        ws_bad_frame(f, n, "reserved data opcode");
    }
    for (unsigned op = 11; op <= 15; op++) {
        n = srv_frame(f, 0x80 | op, "", 0);
        ws_bad_frame(f, n, "reserved control opcode");
    }
    n = srv_frame(f, 0x80, pub, pn);
    ws_bad_frame(f, n, "continuation without a start");
    n = srv_frame(f, 0x00, pub, pn);
    ws_bad_frame(f, n, "continuation (FIN=0) without a start");
    unsigned char p126[126];
    memset(p126, 'p', sizeof p126);
    n = srv_frame(f, 0x89, p126, 126);
    ws_bad_frame(f, n, "PING of 126");
    n = srv_frame(f, 0x88, p126, 126);
    ws_bad_frame(f, n, "CLOSE of 126");
    n = srv_frame(f, 0x09, "a", 1);
    ws_bad_frame(f, n, "fragmented PING");
    /* a new binary message inside a fragmented one */
    n = srv_frame(f, 0x02, pub, 2);
    n += srv_frame(f + n, 0x82, pub + 2, pn - 2);
    ws_bad_frame(f, n, "binary inside a fragmented message");
    /* a length of 2^63 or more */
    static const unsigned char huge[] = {0x82, 0x7F, 0x80, 0, 0, 0, 0, 0, 0, 0};
    ws_bad_frame(huge, sizeof huge, "length 2^63");
}

/* A length the client cannot take (larger than max_packet_size): refused, never read to the
   end. */
TEST(ws_frame_larger_than_max_packet) {
    mqttc_client c;
    mqttc_options o;
    mem_link l = {0};
    size_t pos;
    ws_options(&o);
    o.max_packet_size = 1000;
    ws_connect(&c, &l, &o, &pos);
    size_t plen;
    unsigned char *pub = publish_of_size(5000, &plen), f[6000];
    mem_feed(&l, f, srv_frame(f, 0x82, pub, 5000));
    pump(&c, &l, 0);
    CHECK_RC(mqttc_error(&c), MQTTC_ERR_OVERFLOW);
    CHECK_EQ_INT(S.messages, 0);
    free(pub);
    mqttc_deinit(&c);
    mem_free(&l);
}

TEST(ws_server_close) {
    mqttc_client c;
    mqttc_options o;
    mem_link l = {0};
    size_t pos;
    wsout w;
    unsigned char b[128];
    ws_options(&o);
    ws_connect(&c, &l, &o, &pos);
    memset(&w, 0, sizeof w);
    ws_parse_out(&l, &pos, &w);
    wsout_free(&w);
    /* a PUBLISH, then CLOSE (1001, going away, with a reason) in the same read: the PUBLISH
       is delivered, the CLOSE answered with its status */
    size_t n = srv_frame(b, 0x82, b + 64, test_publish_bytes(b + 64, 64, "x", "before", 6, 0, 0, 0, 0));
    static const unsigned char close1001[] = {0x03, 0xE9, 'b', 'y', 'e'};
    n += srv_frame(b + n, 0x88, close1001, sizeof close1001);
    mem_feed(&l, b, n);
    pump(&c, &l, 0);
    CHECK_EQ_INT(S.messages, 1);
    CHECK_EQ_INT(mqttc_state(&c), MQTTC_STATE_CLOSED);
    CHECK_RC(mqttc_error(&c), MQTTC_ERR_CLOSED);
    CHECK_MSG(strstr(mqttc_error_detail(&c), "CLOSE") != NULL, "detail \"%s\"", mqttc_error_detail(&c));
    CHECK_EQ_INT(S.last_event, MQTTC_EVENT_CONNECTION_LOST);
    CHECK_EQ_INT(ws_parse_out(&l, &pos, &w), 1);
    CHECK_EQ_INT(w.ctl_count, 1);
    CHECK_EQ_INT(w.ctl_op, 8);
    CHECK(w.ctl_len == 2 && w.ctl[0] == 0x03 && w.ctl[1] == 0xE9);
    CHECK_EQ_INT(w.unmasked, 0);
    CHECK_EQ_INT(pos, l.out_len); /* one CLOSE only: nothing after it */
    wsout_free(&w);
    mqttc_deinit(&c);
    mem_free(&l);
    /* an empty CLOSE is answered with an empty CLOSE */
    memset(&l, 0, sizeof l);
    ws_connect(&c, &l, &o, &pos);
    ws_parse_out(&l, &pos, &w);
    wsout_free(&w);
    feed_frame(&l, 0x88, "", 0);
    pump(&c, &l, 0);
    CHECK_RC(mqttc_error(&c), MQTTC_ERR_CLOSED);
    CHECK_EQ_INT(ws_parse_out(&l, &pos, &w), 1);
    CHECK(w.ctl_op == 8 && w.ctl_len == 0);
    CHECK_EQ_INT(pos, l.out_len);
    wsout_free(&w);
    mqttc_deinit(&c);
    mem_free(&l);
}

TEST(ws_graceful_disconnect) {
    mqttc_client c;
    mqttc_options o;
    mem_link l = {0};
    size_t pos, dpos = 0;
    wsout w;
    mqttc_packet p;
    ws_options(&o);
    ws_connect(&c, &l, &o, &pos);
    memset(&w, 0, sizeof w);
    CHECK_RC(mqttc_disconnect(&c), MQTTC_OK);
    pump(&c, &l, 0);
    for (int i = 0; i < 5; i++) mqttc_step(&c, 0);
    CHECK_EQ_INT(mqttc_state(&c), MQTTC_STATE_CLOSED);
    CHECK_RC(mqttc_error(&c), MQTTC_ERR_DISCONNECT);
    CHECK(ws_parse_out(&l, &pos, &w) >= 3);
    CHECK_EQ_INT(pos, l.out_len);
    CHECK_EQ_INT(w.unmasked, 0);
    CHECK_EQ_INT(ws_next_packet(&w, &dpos, &p), MQTTC_CONNECT);
    CHECK_EQ_INT(ws_next_packet(&w, &dpos, &p), MQTTC_DISCONNECT);
    CHECK_EQ_INT(dpos, w.len);
    CHECK_EQ_INT(w.ctl_count, 1);
    CHECK_EQ_INT(w.ctl_op, 8);
    CHECK(w.ctl_len == 2 && w.ctl[0] == 0x03 && w.ctl[1] == 0xE8);
    /* the CLOSE is the last frame */
    CHECK(l.out_len >= 8 && l.out[l.out_len - 8] == 0x88);
    CHECK_EQ_INT(l.closed, 1);
    wsout_free(&w);
    mqttc_deinit(&c);
    mem_free(&l);
}

TEST(ws_large_publish_in_frames) {
    mqttc_client c;
    mqttc_options o;
    mem_link l = {0};
    size_t pos, dpos = 0, size = 200 * 1024;
    wsout w;
    mqttc_packet p;
    ws_options(&o);
    ws_connect(&c, &l, &o, &pos);
    memset(&w, 0, sizeof w);
    ws_parse_out(&l, &pos, &w); /* CONNECT */
    wsout_free(&w);
    unsigned char *payload = (unsigned char *)malloc(size);
    for (size_t i = 0; i < size; i++) payload[i] = (unsigned char)(i * 31 + (i >> 8));
    CHECK_RC(mqttc_publish(&c, "big/one", payload, size, 0, 0, NULL), MQTTC_OK);
    pump(&c, &l, 0);
    CHECK_EQ_INT(mqttc_pending_output(&c), 0);
    ws_parse_out(&l, &pos, &w);
    CHECK_EQ_INT(pos, l.out_len);
    CHECK(w.frames >= 2);
    CHECK(w.frames >= (int)((size + MQTTC_WS_FRAME - 1) / MQTTC_WS_FRAME));
    CHECK(w.max_payload <= MQTTC_WS_FRAME);
    CHECK_EQ_INT(w.unmasked, 0);
    CHECK_EQ_INT(w.not_fin, 0);
    CHECK_EQ_INT(w.data_frames, w.frames);
    int same = 0;
    for (int i = 1; i < w.frames && i < 64; i++) same += memcmp(w.masks[i], w.masks[i - 1], 4) == 0;
    CHECK_EQ_INT(same, 0); /* a fresh key per frame */
    CHECK_EQ_INT(ws_next_packet(&w, &dpos, &p), MQTTC_PUBLISH);
    CHECK(p.publish.payload_len == size && memcmp(p.publish.payload, payload, size) == 0);
    CHECK_EQ_INT(dpos, w.len);
    wsout_free(&w);
    free(payload);
    mqttc_deinit(&c);
    mem_free(&l);
}

TEST(ws_output_in_small_and_stalled_writes) {
    mqttc_client c;
    mqttc_options o;
    mem_link l = {0};
    size_t pos, dpos = 0, size = 20000;
    wsout w;
    mqttc_packet p;
    ws_options(&o);
    ws_connect(&c, &l, &o, &pos);
    memset(&w, 0, sizeof w);
    ws_parse_out(&l, &pos, &w);
    wsout_free(&w);
    unsigned char *payload = (unsigned char *)malloc(size);
    for (size_t i = 0; i < size; i++) payload[i] = (unsigned char)(i ^ (i >> 7));
    l.write_chunk = 7;
    l.write_stalled = 1;
    CHECK_RC(mqttc_publish(&c, "a", payload, size, 1, 0, NULL), MQTTC_OK);
    CHECK_RC(mqttc_publish(&c, "b", "tail", 4, 0, 0, NULL), MQTTC_OK);
    for (int i = 0; i < 100000 && mqttc_pending_output(&c); i++) {
        l.write_stalled = (i % 3) == 0;
        l.write_chunk = 1 + (size_t)(i % 13);
        CHECK_RC(mqttc_step(&c, 0), MQTTC_OK);
    }
    l.write_stalled = 0;
    mqttc_step(&c, 0);
    CHECK_EQ_INT(mqttc_pending_output(&c), 0);
    ws_parse_out(&l, &pos, &w);
    CHECK_EQ_INT(pos, l.out_len);
    CHECK_EQ_INT(w.unmasked, 0);
    CHECK(w.max_payload <= MQTTC_WS_FRAME);
    CHECK_EQ_INT(ws_next_packet(&w, &dpos, &p), MQTTC_PUBLISH);
    CHECK(p.publish.payload_len == size && memcmp(p.publish.payload, payload, size) == 0);
    CHECK_EQ_INT(ws_next_packet(&w, &dpos, &p), MQTTC_PUBLISH);
    CHECK(p.publish.payload_len == 4 && memcmp(p.publish.payload, "tail", 4) == 0);
    CHECK_EQ_INT(dpos, w.len);
    wsout_free(&w);
    free(payload);
    mqttc_deinit(&c);
    mem_free(&l);
}

/* A link that takes a given number of bytes, then blocks: a frame left half written. */
typedef struct budget_link {
    mem_link *l;
    size_t budget;
} budget_link;
static int budget_send(mqttc_transport *t, const unsigned char *buf, size_t len, size_t *n) {
    budget_link *b = (budget_link *)t->ctx;
    mqttc_transport m = mem_transport(b->l);
    if (len > b->budget) len = b->budget;
    int rc = mem_send(&m, buf, len, n);
    b->budget -= *n;
    return rc;
}
static int budget_recv(mqttc_transport *t, unsigned char *buf, size_t cap, size_t *n) {
    mqttc_transport m = mem_transport(((budget_link *)t->ctx)->l);
    return mem_recv(&m, buf, cap, n);
}
static void budget_close(mqttc_transport *t) { ((budget_link *)t->ctx)->l->closed++; }

/* The server's PING comes while a data frame is half written: the PONG must wait for the
   frame's end (RFC 6455 5.4: control frames may come between the frames of a fragmented
   message, never inside a frame). */
TEST(ws_pong_never_inside_a_data_frame) {
    mqttc_client c;
    mqttc_options o;
    mem_link l = {0};
    budget_link b = {&l, (size_t)-1};
    mqttc_transport t;
    size_t pos, dpos = 0;
    wsout w;
    mqttc_packet p;
    char ans[1024];
    memset(&t, 0, sizeof t);
    t.send = budget_send;
    t.recv = budget_recv;
    t.close = budget_close;
    t.fd = -1;
    t.ctx = &b;
    ws_options(&o);
    memset(&S, 0, sizeof S);
    CHECK_RC(mqttc_init(&c, &o), MQTTC_OK);
    CHECK_RC(mqttc_start_transport(&c, &t, 0), MQTTC_OK);
    mem_feed(&l, ans, ws_answer(&l, ans, sizeof ans, "HTTP/1.1 101 Switching Protocols", 0, NULL));
    pump(&c, &l, 0);
    feed_frame(&l, 0x82, TEST_CONNACK_OK, 4);
    pump(&c, &l, 0);
    CHECK_EQ_INT(mqttc_state(&c), MQTTC_STATE_CONNECTED);
    pos = ws_request_end(&l);
    memset(&w, 0, sizeof w);
    unsigned char payload[1000];
    memset(payload, 'q', sizeof payload);
    b.budget = 100; /* the frame's first 100 bytes */
    CHECK_RC(mqttc_publish(&c, "t", payload, sizeof payload, 0, 0, NULL), MQTTC_OK);
    mqttc_step(&c, 0);
    feed_frame(&l, 0x89, "hb", 2);
    mqttc_step(&c, 0); /* the PING read, its PONG waits */
    b.budget = (size_t)-1;
    pump(&c, &l, 0);
    for (int i = 0; i < 3; i++) mqttc_step(&c, 0);
    CHECK_EQ_INT(mqttc_pending_output(&c), 0);
    ws_parse_out(&l, &pos, &w);
    CHECK_MSG(pos == l.out_len && w.bad_opcode == 0, "the output is no longer a sequence of frames (%zu of %zu parsed)",
              pos, l.out_len);
    CHECK_EQ_INT(w.ctl_count, 1);
    CHECK_EQ_INT(w.ctl_op, 10);
    CHECK_EQ_INT(ws_next_packet(&w, &dpos, &p), MQTTC_CONNECT);
    CHECK_EQ_INT(ws_next_packet(&w, &dpos, &p), MQTTC_PUBLISH);
    CHECK(p.publish.payload_len == sizeof payload);
    wsout_free(&w);
    mqttc_deinit(&c);
    mem_free(&l);
}

/* ======================================================================================
   proxy stage, driven directly
   ====================================================================================== */

/* The proxy stage over l for the proxy URL, asking for host:port. */
static int px_open(mqttc_transport *t, mem_link *l, const char *proxy, const char *host, int port) {
    mqttc__url px;
    *t = mem_transport(l);
    int rc = mqttc__proxy_parse(proxy, &px);
    if (rc != MQTTC_OK) return rc;
    return mqttc__proxy_stage(&px, host, port, t);
}

/* Runs the handshake until it stops asking (MORE with nothing to read): its result. */
static int px_drive(mqttc_transport *t) {
    int rc = MQTTC_MORE;
    for (int i = 0; i < 100000 && rc == MQTTC_MORE; i++) {
        rc = t->handshake(t);
        if (rc == MQTTC_MORE && ((mem_link *)((mqttc__proxy_conn *)t->ctx)->inner.ctx)->in_len == 0) break;
    }
    return rc;
}

static int out_is(const mem_link *l, size_t from, const void *bytes, size_t n) {
    if (l->out_len - from != n || memcmp(l->out + from, bytes, n) != 0) {
        fprintf(stderr, "  sent:");
        for (size_t i = from; i < l->out_len; i++) fprintf(stderr, " %02x", l->out[i]);
        fprintf(stderr, "\n  want:");
        for (size_t i = 0; i < n; i++) fprintf(stderr, " %02x", ((const unsigned char *)bytes)[i]);
        fprintf(stderr, "\n");
        return 0;
    }
    return 1;
}

static const unsigned char GREET_NOAUTH[] = {5, 1, 0};
static const unsigned char GREET_AUTH[] = {5, 2, 0, 2};
static const unsigned char METHOD_NONE[] = {5, 0};

TEST(socks5h_domain_request) {
    mqttc_transport t;
    mem_link l = {0};
    CHECK_RC(px_open(&t, &l, "socks5h://127.0.0.1:1080", "broker.example", 1883), MQTTC_OK);
    CHECK_RC(t.handshake(&t), MQTTC_MORE);
    CHECK(t.want & MQTTC_EV_READ);
    CHECK(out_is(&l, 0, GREET_NOAUTH, 3));
    mem_feed(&l, METHOD_NONE, 2);
    CHECK_RC(px_drive(&t), MQTTC_MORE);
    static const unsigned char ask[] = {5, 1, 0, 3, 14, 'b', 'r', 'o', 'k', 'e', 'r', '.', 'e', 'x', 'a', 'm', 'p', 'l', 'e',
                                        0x07, 0x5B};
    CHECK(out_is(&l, 3, ask, sizeof ask));
    static const unsigned char ok4[] = {5, 0, 0, 1, 10, 0, 0, 1, 0x1F, 0x90, 0x10, 0x20}; /* + 2 bytes of MQTT */
    mem_feed(&l, ok4, sizeof ok4);
    CHECK_RC(px_drive(&t), MQTTC_OK);
    CHECK_EQ_INT(l.in_len, 2); /* what follows the reply is left for the next stage */
    CHECK(l.in_len == 2 && l.in[0] == 0x10 && l.in[1] == 0x20);
    CHECK_EQ_INT(t.want, 0);
    /* then bytes pass through unchanged */
    size_t n = 0;
    unsigned char buf[16];
    CHECK_RC(t.recv(&t, buf, sizeof buf, &n), MQTTC_OK);
    CHECK(n == 2 && buf[0] == 0x10 && buf[1] == 0x20);
    size_t before = l.out_len;
    CHECK_RC(t.send(&t, (const unsigned char *)"\xE0\x00", 2, &n), MQTTC_OK);
    CHECK_EQ_INT(n, 2);
    CHECK(out_is(&l, before, "\xE0\x00", 2));
    l.is_eof = 1;
    CHECK_RC(t.recv(&t, buf, sizeof buf, &n), MQTTC_ERR_CLOSED);
    t.close(&t);
    CHECK_EQ_INT(l.closed, 1);
    mem_free(&l);
}

TEST(socks5_address_types_in_the_request) {
    mqttc_transport t;
    mem_link l = {0};
    /* an IPv4 literal: ATYP 1, with socks5h and socks5 alike */
    static const char *const v4p[] = {"socks5h://p", "socks5://p"};
    for (int i = 0; i < 2; i++) {
        memset(&l, 0, sizeof l);
        CHECK_RC(px_open(&t, &l, v4p[i], "192.168.1.20", 8883), MQTTC_OK);
        mem_feed(&l, METHOD_NONE, 2);
        CHECK_RC(px_drive(&t), MQTTC_MORE);
        static const unsigned char ask4[] = {5, 1, 0, 1, 192, 168, 1, 20, 0x22, 0xB3};
        CHECK(out_is(&l, 3, ask4, sizeof ask4));
        t.close(&t);
        mem_free(&l);
    }
    /* IPv6: ATYP 4 */
    memset(&l, 0, sizeof l);
    CHECK_RC(px_open(&t, &l, "socks5h://p", "::1", 1883), MQTTC_OK);
    mem_feed(&l, METHOD_NONE, 2);
    CHECK_RC(px_drive(&t), MQTTC_MORE);
    static const unsigned char ask6[] = {5, 1, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0x07, 0x5B};
    CHECK(out_is(&l, 3, ask6, sizeof ask6));
    t.close(&t);
    mem_free(&l);
    /* a name with socks5 (not h) is resolved here: "localhost" (no network needed) */
    memset(&l, 0, sizeof l);
    CHECK_RC(px_open(&t, &l, "socks5://p", "localhost", 1), MQTTC_OK);
    mem_feed(&l, METHOD_NONE, 2);
    CHECK_RC(px_drive(&t), MQTTC_MORE);
    CHECK(l.out_len >= 3 + 4 && (l.out[6] == 1 || l.out[6] == 4));
    CHECK(l.out_len == 3 + 4 + (l.out[6] == 1 ? 4u : 16u) + 2);
    t.close(&t);
    mem_free(&l);
    /* a name of 255 bytes fits; 256 does not */
    char name[300];
    memset(name, 'n', 256);
    name[255] = 0;
    memset(&l, 0, sizeof l);
    CHECK_RC(px_open(&t, &l, "socks5h://p", name, 1), MQTTC_OK);
    t.close(&t);
    mem_free(&l);
    name[255] = 'n';
    name[256] = 0;
    memset(&l, 0, sizeof l);
    CHECK_RC(px_open(&t, &l, "socks5h://p", name, 1), MQTTC_ERR_ARG);
    CHECK_EQ_INT(l.closed, 0); /* untouched: the caller closes it */
    mem_free(&l);
}

/* Each address type in the success reply, whole and one byte at a time, with bytes after
   it left unread. */
TEST(socks5_reply_address_types) {
    static const unsigned char r4[] = {5, 0, 0, 1, 1, 2, 3, 4, 0, 80};
    static const unsigned char r6[] = {5, 0, 0, 4, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 0, 80};
    static const unsigned char rd[] = {5, 0, 0, 3, 5, 'h', 'e', 'l', 'l', 'o', 0, 80};
    static const unsigned char rd0[] = {5, 0, 0, 3, 0, 0, 80};
    const unsigned char *replies[] = {r4, r6, rd, rd0};
    size_t lens[] = {sizeof r4, sizeof r6, sizeof rd, sizeof rd0};
    for (int r = 0; r < 4; r++) {
        for (int bytewise = 0; bytewise < 2; bytewise++) {
            mqttc_transport t;
            mem_link l = {0};
            CHECK_RC(px_open(&t, &l, "socks5h://p", "b", 1), MQTTC_OK);
            l.read_chunk = bytewise ? 1 : 0;
            mem_feed(&l, METHOD_NONE, 2);
            mem_feed(&l, replies[r], lens[r]);
            mem_feed(&l, "\x20\x02\x00\x00", 4);
            int rc = MQTTC_MORE;
            for (int i = 0; i < 1000 && rc == MQTTC_MORE; i++) rc = t.handshake(&t);
            CHECK_MSG(rc == MQTTC_OK, "reply %d bytewise %d: %s", r, bytewise, mqttc_errname(rc));
            CHECK_EQ_INT(l.in_len, 4);
            CHECK(l.in_len == 4 && memcmp(l.in, "\x20\x02\x00\x00", 4) == 0);
            t.close(&t);
            mem_free(&l);
        }
    }
}

TEST(socks5_login) {
    mqttc_transport t;
    mem_link l = {0};
    /* escapes undone; user "us@r", password "p:w" */
    CHECK_RC(px_open(&t, &l, "socks5h://us%40r:p%3Aw@p:1080", "b.example", 1883), MQTTC_OK);
    CHECK_RC(t.handshake(&t), MQTTC_MORE);
    CHECK(out_is(&l, 0, GREET_AUTH, 4));
    mem_feed(&l, "\x05\x02", 2);
    CHECK_RC(px_drive(&t), MQTTC_MORE);
    static const unsigned char login[] = {1, 4, 'u', 's', '@', 'r', 3, 'p', ':', 'w'};
    CHECK(out_is(&l, 4, login, sizeof login));
    mem_feed(&l, "\x01\x00", 2);
    CHECK_RC(px_drive(&t), MQTTC_MORE);
    static const unsigned char ask[] = {5, 1, 0, 3, 9, 'b', '.', 'e', 'x', 'a', 'm', 'p', 'l', 'e', 0x07, 0x5B};
    CHECK(out_is(&l, 4 + sizeof login, ask, sizeof ask));
    mem_feed(&l, "\x05\x00\x00\x01\x00\x00\x00\x00\x00\x00", 10);
    CHECK_RC(px_drive(&t), MQTTC_OK);
    CHECK_EQ_INT(l.in_len, 0);
    t.close(&t);
    mem_free(&l);
    /* the server may choose no authentication even when we offer a login */
    memset(&l, 0, sizeof l);
    CHECK_RC(px_open(&t, &l, "socks5h://u:p@p", "b", 1), MQTTC_OK);
    mem_feed(&l, METHOD_NONE, 2);
    CHECK_RC(px_drive(&t), MQTTC_MORE);
    static const unsigned char ask_b[] = {5, 1, 0, 3, 1, 'b', 0, 1};
    CHECK(out_is(&l, 4, ask_b, sizeof ask_b));
    t.close(&t);
    mem_free(&l);
    /* a user with no password: an empty one */
    memset(&l, 0, sizeof l);
    CHECK_RC(px_open(&t, &l, "socks5h://solo@p", "b", 1), MQTTC_OK);
    mem_feed(&l, "\x05\x02", 2);
    CHECK_RC(px_drive(&t), MQTTC_MORE);
    static const unsigned char login_solo[] = {1, 4, 's', 'o', 'l', 'o', 0};
    CHECK(out_is(&l, 4, login_solo, sizeof login_solo));
    t.close(&t);
    mem_free(&l);
    /* a broken escape: refused before anything */
    memset(&l, 0, sizeof l);
    CHECK_RC(px_open(&t, &l, "socks5h://u%zz:p@p", "b", 1), MQTTC_ERR_ARG);
    mem_free(&l);
}

/* A failure of the handshake: the error, and the detail it left. */
static void px_fails(const char *proxy, const void *answer, size_t n, int want, int want_code, const char *what) {
    mqttc_transport t;
    mem_link l = {0};
    CHECK_RC(px_open(&t, &l, proxy, "b", 1), MQTTC_OK);
    mem_feed(&l, answer, n);
    int rc = px_drive(&t);
    CHECK_MSG(rc == want, "%s: %s, want %s", what, mqttc_errname(rc), mqttc_errname(want));
    CHECK_MSG(t.detail != NULL && t.detail[0], "%s: no detail", what);
    CHECK_MSG(t.detail_code == want_code, "%s: detail_code %d, want %d", what, t.detail_code, want_code);
    t.close(&t);
    mem_free(&l);
}

TEST(socks5_refusals) {
    px_fails("socks5h://u:p@p", "\x05\x02\x01\x01", 4, MQTTC_ERR_PROXYAUTH, 0, "login refused");
    px_fails("socks5h://u:p@p", "\x05\xFF", 2, MQTTC_ERR_PROXYAUTH, 0, "no acceptable method (login)");
    px_fails("socks5h://p", "\x05\xFF", 2, MQTTC_ERR_PROXYAUTH, 0, "no acceptable method");
    px_fails("socks5h://p", "\x05\x02", 2, MQTTC_ERR_PROXY, 0, "a method not offered");
    px_fails("socks5h://p", "\x04\x00", 2, MQTTC_ERR_PROXY, 0, "not SOCKS5");
    px_fails("socks5h://p", "HTTP/1.1 400", 12, MQTTC_ERR_PROXY, 0, "an HTTP server");
    for (int rep = 1; rep <= 8; rep++) {
        unsigned char a[12] = {5, 0, 5, (unsigned char)rep, 0, 1, 0, 0, 0, 0, 0, 0};
        char what[32];
        snprintf(what, sizeof what, "REP %d", rep);
        px_fails("socks5h://p", a, sizeof a, MQTTC_ERR_PROXY, rep, what);
        /* the detail is the RFC's text for it */
        mqttc_transport t;
        mem_link l = {0};
        px_open(&t, &l, "socks5h://p", "b", 1);
        mem_feed(&l, a, sizeof a);
        px_drive(&t);
        CHECK(t.detail && strcmp(t.detail, mqttc__socks_reply(rep)) == 0);
        t.close(&t);
        mem_free(&l);
    }
    px_fails("socks5h://p", "\x05\x00\x05\x00\x00\x02\x00", 7, MQTTC_ERR_PROXY, 0, "unknown ATYP");
    px_fails("socks5h://p", "\x05\x00\x04\x00\x00\x01", 6, MQTTC_ERR_PROXY, 0, "reply not SOCKS5");
}

TEST(socks5_proxy_closes_mid_answer) {
    static const unsigned char script[] = {5, 0, 5, 0, 0, 1, 1, 2, 3, 4, 0, 80};
    /* closed after every prefix of the whole answer */
    for (size_t cut = 0; cut < sizeof script; cut++) {
        mqttc_transport t;
        mem_link l = {0};
        CHECK_RC(px_open(&t, &l, "socks5h://p", "b", 1), MQTTC_OK);
        mem_feed(&l, script, cut);
        l.is_eof = 1;
        int rc = px_drive(&t);
        CHECK_MSG(rc == MQTTC_ERR_PROXY, "cut %zu: %s", cut, mqttc_errname(rc));
        CHECK(t.detail != NULL);
        t.close(&t);
        mem_free(&l);
    }
    /* the link failing is its own error, passed on */
    mqttc_transport t;
    mem_link l = {0};
    CHECK_RC(px_open(&t, &l, "socks5h://p", "b", 1), MQTTC_OK);
    l.fail_with = MQTTC_ERR_IO;
    CHECK_RC(px_drive(&t), MQTTC_ERR_IO);
    t.close(&t);
    mem_free(&l);
}

/* What the HTTP proxy was asked, as a string. */
static const char *sent_text(const mem_link *l, char *buf, size_t cap) {
    size_t n = l->out_len < cap - 1 ? l->out_len : cap - 1;
    memcpy(buf, l->out, n);
    buf[n] = 0;
    return buf;
}

TEST(http_connect_request) {
    mqttc_transport t;
    mem_link l = {0};
    char s[2048];
    CHECK_RC(px_open(&t, &l, "http://127.0.0.1:3128", "broker.example", 1883), MQTTC_OK);
    CHECK_RC(t.handshake(&t), MQTTC_MORE);
    CHECK(strcmp(sent_text(&l, s, sizeof s), "CONNECT broker.example:1883 HTTP/1.1\r\nHost: broker.example:1883\r\n\r\n") == 0);
    t.close(&t);
    mem_free(&l);
    /* IPv6 in brackets */
    memset(&l, 0, sizeof l);
    CHECK_RC(px_open(&t, &l, "http://p", "::1", 8883), MQTTC_OK);
    CHECK_RC(t.handshake(&t), MQTTC_MORE);
    CHECK(strcmp(sent_text(&l, s, sizeof s), "CONNECT [::1]:8883 HTTP/1.1\r\nHost: [::1]:8883\r\n\r\n") == 0);
    t.close(&t);
    mem_free(&l);
    /* Basic credentials: base64("Aladdin:open sesame"), the space escaped in the URL */
    memset(&l, 0, sizeof l);
    CHECK_RC(px_open(&t, &l, "http://Aladdin:open%20sesame@p", "b", 1), MQTTC_OK);
    CHECK_RC(t.handshake(&t), MQTTC_MORE);
    CHECK(strcmp(sent_text(&l, s, sizeof s),
                 "CONNECT b:1 HTTP/1.1\r\nHost: b:1\r\nProxy-Authorization: Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==\r\n\r\n") == 0);
    t.close(&t);
    mem_free(&l);
    /* user with no password: "user:" */
    memset(&l, 0, sizeof l);
    CHECK_RC(px_open(&t, &l, "http://user@p", "b", 1), MQTTC_OK);
    CHECK_RC(t.handshake(&t), MQTTC_MORE);
    CHECK(strstr(sent_text(&l, s, sizeof s), "Proxy-Authorization: Basic dXNlcjo=\r\n") != NULL);
    t.close(&t);
    mem_free(&l);
}

/* A host with CR LF in it must never reach the request (header injection): refused. */
TEST(http_connect_host_injection_refused) {
    mqttc_transport t;
    mem_link l = {0};
    char s[2048];
    int rc = px_open(&t, &l, "http://p", "b\r\nX-Evil: 1", 1);
    if (rc == MQTTC_OK) {
        t.handshake(&t);
        CHECK_MSG(strstr(sent_text(&l, s, sizeof s), "\r\nX-Evil") == NULL, "sent: %s", s);
        t.close(&t);
    }
    CHECK_RC(rc, MQTTC_ERR_ARG);
    mem_free(&l);
}

/* The same for the WebSocket stage's Host header: a host with CR LF is refused. */
TEST(ws_host_injection_refused) {
    mem_link l = {0};
    mqttc_transport t = mem_transport(&l);
    int rc = mqttc__ws_stage("b\r\nX-Evil: 1", 80, 0, "/mqtt", NULL, &t);
    if (rc == MQTTC_OK) {
        char s[2048];
        t.handshake(&t);
        CHECK_MSG(strstr(sent_text(&l, s, sizeof s), "\r\nX-Evil") == NULL, "sent: %s", s);
        t.close(&t);
    }
    CHECK_RC(rc, MQTTC_ERR_ARG);
    mem_free(&l);
}

/* The answer, whole and split at every byte, then 4 bytes of MQTT that stay unread. */
static void http_ok(const char *answer, size_t n) {
    for (size_t cut = 0; cut <= n; cut += (n > 400 ? 97 : 1)) {
        mqttc_transport t;
        mem_link l = {0};
        CHECK_RC(px_open(&t, &l, "http://p", "b", 1), MQTTC_OK);
        mem_feed(&l, answer, cut);
        int rc = px_drive(&t);
        if (cut < n) CHECK_MSG(rc == MQTTC_MORE, "cut %zu: %s", cut, mqttc_errname(rc));
        mem_feed(&l, answer + cut, n - cut);
        mem_feed(&l, "\x20\x02\x00\x00", 4);
        rc = px_drive(&t);
        CHECK_MSG(rc == MQTTC_OK, "cut %zu: %s (%s)", cut, mqttc_errname(rc), t.detail ? t.detail : "");
        CHECK_EQ_INT(l.in_len, 4);
        CHECK(l.in_len == 4 && memcmp(l.in, "\x20\x02\x00\x00", 4) == 0);
        t.close(&t);
        mem_free(&l);
    }
}

TEST(http_connect_answers) {
    static const char a1[] = "HTTP/1.1 200 Connection established\r\n\r\n";
    http_ok(a1, sizeof a1 - 1);
    static const char a2[] = "HTTP/1.0 200 OK\r\nProxy-Agent: test/1.0\r\nVia: 1.1 x\r\nX-Empty:\r\n\r\n";
    http_ok(a2, sizeof a2 - 1);
    static const char a3[] = "HTTP/1.1 200\r\n\r\n"; /* no reason phrase */
    http_ok(a3, sizeof a3 - 1);
    static const char a4[] = "HTTP/1.1 204 No Content\n\n"; /* bare LF lines */
    http_ok(a4, sizeof a4 - 1);
    /* a 10 KB header line */
    size_t big = 10000;
    char *a5 = (char *)malloc(big + 100);
    int n = sprintf(a5, "HTTP/1.0 200 OK\r\nX-Big: ");
    memset(a5 + n, 'z', big);
    n += (int)big;
    n += sprintf(a5 + n, "\r\nX-After: 1\r\n\r\n");
    http_ok(a5, (size_t)n);
    free(a5);
}

TEST(http_connect_refusals) {
    static const char a407[] = "HTTP/1.1 407 Proxy Authentication Required\r\nProxy-Authenticate: Basic\r\n\r\n";
    px_fails("http://p", a407, sizeof a407 - 1, MQTTC_ERR_PROXYAUTH, 407, "407");
    static const char a401[] = "HTTP/1.0 401 Unauthorized\r\n\r\n";
    px_fails("http://u:p@p", a401, sizeof a401 - 1, MQTTC_ERR_PROXYAUTH, 401, "401");
    static const char a403[] = "HTTP/1.1 403 Forbidden\r\n\r\n";
    px_fails("http://p", a403, sizeof a403 - 1, MQTTC_ERR_PROXY, 403, "403");
    static const char a502[] = "HTTP/1.1 502 Bad Gateway\r\n\r\n";
    px_fails("http://p", a502, sizeof a502 - 1, MQTTC_ERR_PROXY, 502, "502");
    static const char a100[] = "HTTP/1.1 100 Continue\r\n\r\n";
    px_fails("http://p", a100, sizeof a100 - 1, MQTTC_ERR_PROXY, 100, "100");
    static const char g1[] = "garbage\r\n\r\n";
    px_fails("http://p", g1, sizeof g1 - 1, MQTTC_ERR_PROXY, 0, "garbage");
    static const char g2[] = "HTTP/2 200\r\n\r\n";
    px_fails("http://p", g2, sizeof g2 - 1, MQTTC_ERR_PROXY, 0, "HTTP/2");
    static const char g3[] = "HTTP/1.1 20x OK\r\n\r\n";
    px_fails("http://p", g3, sizeof g3 - 1, MQTTC_ERR_PROXY, 0, "20x");
    static const char g4[] = "HTTP/1.1 2000 OK\r\n\r\n";
    px_fails("http://p", g4, sizeof g4 - 1, MQTTC_ERR_PROXY, 0, "2000");
    static const char g5[] = "\x05\x00\r\n\r\n"; /* a SOCKS5 server */
    px_fails("http://p", g5, sizeof g5 - 1, MQTTC_ERR_PROXY, 0, "SOCKS answer");
    /* over 16 KiB: refused, however it is cut into lines */
    size_t n = 17000;
    char *a = (char *)malloc(n);
    memcpy(a, "HTTP/1.1 200 OK\r\n", 17);
    for (size_t i = 17; i < n; i++) a[i] = (i % 100 == 99) ? '\n' : 'h';
    px_fails("http://p", a, n, MQTTC_ERR_PROXY, 0, "17000 bytes of headers");
    memset(a + 17, 'h', n - 17);
    px_fails("http://p", a, n, MQTTC_ERR_PROXY, 0, "one 17000-byte line");
    free(a);
    /* closed mid-answer */
    static const char part[] = "HTTP/1.1 200 Connection established\r\nVia: x\r\n";
    for (size_t cut = 0; cut < sizeof part; cut += 5) {
        mqttc_transport t;
        mem_link l = {0};
        CHECK_RC(px_open(&t, &l, "http://p", "b", 1), MQTTC_OK);
        mem_feed(&l, part, cut);
        l.is_eof = 1;
        int rc = px_drive(&t);
        CHECK_MSG(rc == MQTTC_ERR_PROXY, "cut %zu: %s", cut, mqttc_errname(rc));
        t.close(&t);
        mem_free(&l);
    }
}

/* A header line that begins with a NUL byte is not the empty line that ends the answer:
   taken as such, the rest of the answer would reach the stage above as its data. Either a
   refusal, or the whole answer read (found by fuzz_proxy, fixed in 842b175;
   fuzz/regressions/proxy/). */
TEST(http_connect_nul_line_is_not_the_end) {
    static const char a[] = "HTTP/1.1 200 OK\r\n\0X: y\r\n\r\n";
    mqttc_transport t;
    mem_link l = {0};
    CHECK_RC(px_open(&t, &l, "http://p", "b", 1), MQTTC_OK);
    mem_feed(&l, a, sizeof a - 1);
    mem_feed(&l, "\x20\x02\x00\x00", 4);
    int rc = px_drive(&t);
    CHECK_MSG(rc == MQTTC_ERR_PROXY || (rc == MQTTC_OK && l.in_len == 4), "%s with %zu bytes left (want 4)",
              mqttc_errname(rc), l.in_len);
    t.close(&t);
    mem_free(&l);
}

/* Writes that block: the request comes out whole, in order. */
TEST(proxy_requests_in_small_writes) {
    mqttc_transport t;
    mem_link l = {0};
    char s[2048];
    CHECK_RC(px_open(&t, &l, "http://u:p@p", "broker", 1883), MQTTC_OK);
    l.write_chunk = 3;
    int rc = MQTTC_MORE;
    for (int i = 0; i < 1000 && rc == MQTTC_MORE && l.out_len < 80; i++) {
        l.write_stalled = i % 2;
        rc = t.handshake(&t);
        if (l.write_stalled) CHECK(rc != MQTTC_MORE || (t.want & MQTTC_EV_WRITE));
    }
    l.write_stalled = 0;
    t.handshake(&t);
    CHECK(strcmp(sent_text(&l, s, sizeof s),
                 "CONNECT broker:1883 HTTP/1.1\r\nHost: broker:1883\r\nProxy-Authorization: Basic dTpw\r\n\r\n") == 0);
    t.close(&t);
    mem_free(&l);
    /* SOCKS5 with a login, one byte a write */
    memset(&l, 0, sizeof l);
    CHECK_RC(px_open(&t, &l, "socks5h://u:p@p", "b", 1), MQTTC_OK);
    l.write_chunk = 1;
    mem_feed(&l, "\x05\x02\x01\x00\x05\x00\x00\x01\x00\x00\x00\x00\x00\x00", 14);
    CHECK_RC(px_drive(&t), MQTTC_OK);
    static const unsigned char all[] = {5, 2, 0, 2, 1, 1, 'u', 1, 'p', 5, 1, 0, 3, 1, 'b', 0, 1};
    CHECK(out_is(&l, 0, all, sizeof all));
    t.close(&t);
    mem_free(&l);
}

/* The proxy stage through the client: a refusal's detail and code reach the API. */
TEST(proxy_through_the_client) {
    mqttc_client c;
    mqttc_options o;
    mem_link l = {0};
    mqttc_transport t;
    memset(&o, 0, sizeof o);
    o.on_status = on_status;
    memset(&S, 0, sizeof S);
    CHECK_RC(px_open(&t, &l, "socks5h://p", "b", 1), MQTTC_OK);
    CHECK_RC(mqttc_init(&c, &o), MQTTC_OK);
    CHECK_RC(mqttc_start_transport(&c, &t, 0), MQTTC_OK);
    CHECK_EQ_INT(mqttc_state(&c), MQTTC_STATE_HANDSHAKE);
    mem_feed(&l, "\x05\x00\x05\x05\x00\x01\x00\x00\x00\x00\x00\x00", 12);
    pump(&c, &l, 0);
    CHECK_RC(mqttc_error(&c), MQTTC_ERR_PROXY);
    CHECK_EQ_INT(mqttc_reason_code(&c), 5);
    CHECK(strcmp(mqttc_error_detail(&c), "socks5: connection refused") == 0);
    CHECK_EQ_INT(S.last_event, MQTTC_EVENT_CONNECT_FAILED);
    CHECK_EQ_INT(l.closed, 1);
    mqttc_deinit(&c);
    mem_free(&l);
    /* and a success: CONNECT follows the reply, the CONNACK after it is read */
    memset(&l, 0, sizeof l);
    CHECK_RC(px_open(&t, &l, "http://p", "b", 1), MQTTC_OK);
    CHECK_RC(mqttc_init(&c, &o), MQTTC_OK);
    CHECK_RC(mqttc_start_transport(&c, &t, 0), MQTTC_OK);
    static const char ok[] = "HTTP/1.1 200 OK\r\n\r\n";
    mem_feed(&l, ok, sizeof ok - 1);
    mem_feed(&l, TEST_CONNACK_OK, 4);
    pump(&c, &l, 0);
    pump(&c, &l, 0);
    CHECK_EQ_INT(mqttc_state(&c), MQTTC_STATE_CONNECTED);
    size_t req = strlen("CONNECT b:1 HTTP/1.1\r\nHost: b:1\r\n\r\n"), pos = req;
    test_packet p;
    CHECK_EQ_INT(test_next_sent(&l, &pos, &p), MQTTC_CONNECT);
    mqttc_deinit(&c);
    mem_free(&l);
}

int main(void) {
    RUN(sha1_vectors);
    RUN(base64_vectors);
    RUN(rfc6455_accept_example);
    RUN(url_parse_good);
    RUN(url_parse_bad);
    RUN(unescape);
    RUN(proxy_parse);
    RUN(url_through_the_api);
    RUN(url_ws_path_with_space_is_the_urls_fault);
    RUN(bad_transport_options_at_init);
    RUN(ws_upgrade_request);
    RUN(ws_upgrade_answer_whole);
    RUN(ws_upgrade_answer_and_frame_together);
    RUN(ws_upgrade_answer_byte_by_byte);
    RUN(ws_upgrade_refused);
    RUN(ws_upgrade_status_code_and_close);
    RUN(ws_upgrade_long_header);
    RUN(ws_connack_fragmented_message);
    RUN(ws_connack_and_publish_in_one_frame);
    RUN(ws_frame_header_split_everywhere);
    RUN(ws_payload_lengths);
    RUN(ws_ping_pong);
    RUN(ws_bad_frames);
    RUN(ws_frame_larger_than_max_packet);
    RUN(ws_server_close);
    RUN(ws_graceful_disconnect);
    RUN(ws_large_publish_in_frames);
    RUN(ws_output_in_small_and_stalled_writes);
    RUN(ws_pong_never_inside_a_data_frame);
    RUN(socks5h_domain_request);
    RUN(socks5_address_types_in_the_request);
    RUN(socks5_reply_address_types);
    RUN(socks5_login);
    RUN(socks5_refusals);
    RUN(socks5_proxy_closes_mid_answer);
    RUN(http_connect_request);
    RUN(http_connect_host_injection_refused);
    RUN(ws_host_injection_refused);
    RUN(http_connect_answers);
    RUN(http_connect_refusals);
    RUN(http_connect_nul_line_is_not_the_end);
    RUN(proxy_requests_in_small_writes);
    RUN(proxy_through_the_client);
    return test_report();
}
