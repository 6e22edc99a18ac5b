/* tests/test_cover_stages.c - the stages a dial puts together (>>chain), over loopback TCP
   with the test as proxy and broker (tests/loopback_broker.h): an HTTP CONNECT proxy under
   WebSocket (ws:// URL, the scheme's default port), SOCKS5 that resolves the broker's name
   itself (an IPv6 answer) or cannot, the WebSocket request's Host for an IPv6 broker, and
   the arguments a stage refuses once the broker is named (the option at fault named). */
#define _POSIX_C_SOURCE 200809L
#define MQTTC_IMPLEMENTATION
#include "mqttc.h"
#include "tests/test.h"
#include "tests/loopback_broker.h"

#include <stdlib.h>

/* ---- the server's side of WebSocket (RFC 6455) ---- */

/* Reads the upgrade request (it must ask for path with this Host) and answers 101 with the
   accept value its key asks for. */
static void ws_accept(srv *s, mqttc_client *c, uint64_t *now, const char *path, const char *host) {
    long end = srv_read_until(s, c, now, "\r\n\r\n");
    CHECK(end > 0);
    if (end <= 0) return;
    char req[2048], line[512], key[64] = "";
    snprintf(req, sizeof req, "%.*s", (int)end, (const char *)s->in);
    srv_consume(s, (size_t)end);
    snprintf(line, sizeof line, "GET %s HTTP/1.1\r\n", path);
    CHECK_MSG(strncmp(req, line, strlen(line)) == 0, "request: %s", req);
    snprintf(line, sizeof line, "\r\nHost: %s\r\n", host);
    CHECK_MSG(strstr(req, line) != NULL, "no \"Host: %s\" in %s", host, req);
    const char *k = strstr(req, "Sec-WebSocket-Key: ");
    CHECK(k != NULL);
    if (k) sscanf(k + 19, "%63[^\r]", key);
    unsigned char both[128], digest[20];
    char accept[64], answer[512];
    size_t n = strlen(key);
    memcpy(both, key, n);
    memcpy(both + n, "258EAFA5-E914-47DA-95CA-C5AB0DC85B11", 36);
    mqttc__sha1(both, n + 36, digest);
    accept[mqttc__base64(digest, 20, accept)] = '\0';
    snprintf(answer, sizeof answer,
             "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
             "Sec-WebSocket-Accept: %s\r\nSec-WebSocket-Protocol: mqtt\r\n\r\n", accept);
    srv_send(s, answer, strlen(answer));
}

/* One masked binary frame from the client (a short one), unmasked: its MQTT packet. */
static int ws_packet(srv *s, mqttc_client *c, uint64_t *now, mqttc_packet *p) {
    size_t used = 0;
    if (srv_read(s, c, now, 2) != 0) return -1;
    CHECK_EQ_INT(s->in[0], 0x82);          /* final, binary */
    CHECK_EQ_INT(s->in[1] & 0x80, 0x80);   /* masked */
    size_t len = s->in[1] & 0x7Fu;
    if (len >= 126 || srv_read(s, c, now, 6 + len) != 0) return -1;
    for (size_t i = 0; i < len; i++) s->pkt[i] = s->in[6 + i] ^ s->in[2 + (i & 3)];
    srv_consume(s, 6 + len);
    return mqttc_decode(s->pkt, len, 0, MQTTC_PROTOCOL_311, p, &used);
}

static void ws_send_packet(srv *s, const unsigned char *b, size_t n) {
    unsigned char f[130];
    f[0] = 0x82;
    f[1] = (unsigned char)n;
    memcpy(f + 2, b, n);
    srv_send(s, f, 2 + n);
}

static void step_until_connected(mqttc_client *c, uint64_t now) {
    for (int i = 0; i < 500 && mqttc_state(c) != MQTTC_STATE_CONNECTED && mqttc_state(c) != MQTTC_STATE_CLOSED; i++) {
        (void)mqttc_step(c, now);
        poll(NULL, 0, 1);
    }
    CHECK_MSG(mqttc_state(c) == MQTTC_STATE_CONNECTED, "state %d, error %s", mqttc_state(c), mqttc_errname(mqttc_error(c)));
}

static void step_until_closed(mqttc_client *c, uint64_t now) {
    for (int i = 0; i < 500 && mqttc_state(c) != MQTTC_STATE_CLOSED; i++) {
        (void)mqttc_step(c, now);
        poll(NULL, 0, 1);
    }
    CHECK_EQ_INT(mqttc_state(c), MQTTC_STATE_CLOSED);
}

static mqttc_options opts(const char *proxy) {
    mqttc_options o;
    memset(&o, 0, sizeof o);
    o.client_id = "cover-stages";
    o.proxy = proxy;
    return o;
}

/* ws://name/mqtt through an HTTP proxy: TCP goes to the proxy, CONNECT asks for the
   name and WebSocket's default port 80, the upgrade's Host is the bare name (the scheme's
   port), and MQTT flows in frames. */
TEST(websocket_through_http_proxy) {
    srv px;
    CHECK(srv_listen(&px, 0) == 0);
    char proxy[64];
    snprintf(proxy, sizeof proxy, "http://127.0.0.1:%d", px.port);
    mqttc_options o = opts(proxy);
    mqttc_client c;
    uint64_t now = 0;
    CHECK_RC(mqttc_init(&c, &o), MQTTC_OK);
    CHECK_RC(mqttc_connect_url(&c, "ws://broker.example/mqtt", now), MQTTC_OK);
    CHECK(srv_accept(&px, &c, &now) == 0);
    long end = srv_read_until(&px, &c, &now, "\r\n\r\n");
    CHECK(end > 0);
    static const char ask[] = "CONNECT broker.example:80 HTTP/1.1\r\nHost: broker.example:80\r\n\r\n";
    CHECK_MSG(end == (long)strlen(ask) && memcmp(px.in, ask, strlen(ask)) == 0, "%.*s", (int)end, (const char *)px.in);
    if (end > 0) srv_consume(&px, (size_t)end);
    static const char ok[] = "HTTP/1.1 200 Connection established\r\n\r\n";
    srv_send(&px, ok, strlen(ok));
    ws_accept(&px, &c, &now, "/mqtt", "broker.example");
    mqttc_packet p;
    CHECK_RC(ws_packet(&px, &c, &now, &p), MQTTC_OK);
    CHECK_EQ_INT(p.type, MQTTC_CONNECT);
    ws_send_packet(&px, TEST_CONNACK_OK, sizeof TEST_CONNACK_OK);
    step_until_connected(&c, now);
    CHECK_RC(mqttc_publish(&c, "a/b", "hi", 2, 0, 0, NULL), MQTTC_OK);
    CHECK_RC(ws_packet(&px, &c, &now, &p), MQTTC_OK);
    CHECK_EQ_INT(p.type, MQTTC_PUBLISH);
    CHECK(p.publish.payload_len == 2 && memcmp(p.publish.payload, "hi", 2) == 0);
    mqttc_deinit(&c);
    srv_free(&px);
}

/* ws://[::1]:port/: the upgrade's Host puts the IPv6 address in brackets, with the port. */
TEST(websocket_host_of_an_ipv6_broker) {
    srv b;
    if (srv_listen(&b, 1) != 0) { /* no IPv6 loopback here: nothing to check */
        printf("# no ::1, skipped\n");
        return;
    }
    char url[64], host[64];
    snprintf(url, sizeof url, "ws://[::1]:%d/", b.port);
    snprintf(host, sizeof host, "[::1]:%d", b.port);
    mqttc_options o = opts(NULL);
    mqttc_client c;
    uint64_t now = 0;
    CHECK_RC(mqttc_init(&c, &o), MQTTC_OK);
    CHECK_RC(mqttc_connect_url(&c, url, now), MQTTC_OK);
    CHECK(srv_accept(&b, &c, &now) == 0);
    ws_accept(&b, &c, &now, "/", host);
    mqttc_packet p;
    CHECK_RC(ws_packet(&b, &c, &now, &p), MQTTC_OK);
    CHECK_EQ_INT(p.type, MQTTC_CONNECT);
    ws_send_packet(&b, TEST_CONNACK_OK, sizeof TEST_CONNACK_OK);
    step_until_connected(&c, now);
    mqttc_deinit(&c);
    srv_free(&b);
}

/* socks5:// (not socks5h) resolves the broker's name itself and sends the address: a name
   that resolves to IPv6 goes as address type 4, the port after it. */
TEST(socks5_sends_the_address_it_resolved) {
    srv px;
    CHECK(srv_listen(&px, 0) == 0);
    char proxy[64];
    snprintf(proxy, sizeof proxy, "socks5://127.0.0.1:%d", px.port);
    mqttc_options o = opts(proxy);
    mqttc_client c;
    uint64_t now = 0;
    CHECK_RC(mqttc_init(&c, &o), MQTTC_OK);
    /* not an address literal to inet_pton (the scope), a name getaddrinfo resolves to ::1 */
    CHECK_RC(mqttc_connect_start(&c, "::1%1", 1883, now), MQTTC_OK);
    CHECK(srv_accept(&px, &c, &now) == 0);
    CHECK(srv_read(&px, &c, &now, 3) == 0);
    static const unsigned char greet[] = {5, 1, 0};
    CHECK_MEM(px.in, greet, 3);
    srv_consume(&px, 3);
    static const unsigned char method[] = {5, 0};
    srv_send(&px, method, 2);
    CHECK(srv_read(&px, &c, &now, 22) == 0);
    static const unsigned char ask[] = {5, 1, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0x07, 0x5B};
    CHECK_MEM(px.in, ask, sizeof ask);
    srv_consume(&px, sizeof ask);
    static const unsigned char granted[] = {5, 0, 0, 1, 127, 0, 0, 1, 0x07, 0x5B};
    srv_send(&px, granted, sizeof granted);
    srv_connack(&px, &c, &now, NULL, NULL);
    mqttc_deinit(&c);

    /* a name it cannot resolve: the dial fails with that error, nothing asked */
    CHECK_RC(mqttc_init(&c, &o), MQTTC_OK);
    int rc = mqttc_connect_start(&c, "no-such-host.invalid", 1883, now);
    if (rc == MQTTC_OK) step_until_closed(&c, now);
    CHECK_RC(mqttc_error(&c), MQTTC_ERR_CANNOTRESOLVE);
    mqttc_deinit(&c);
    srv_free(&px);
}

/* What the stages refuse once the broker is named, with the option at fault: a broker
   name that cannot go into the proxy's request, a WebSocket path that cannot go into the
   upgrade request, and extra headers that make it too long. */
static const char *dial_refused(const mqttc_options *o, const char *host, int port) {
    static char why[64];
    mqttc_client c;
    uint64_t now = 0;
    CHECK_RC(mqttc_init(&c, o), MQTTC_OK);
    int rc = mqttc_connect_start(&c, host, port, now);
    if (rc == MQTTC_OK) step_until_closed(&c, now);
    snprintf(why, sizeof why, "%s %s", mqttc_errname(mqttc_error(&c)), mqttc_error(&c) == MQTTC_ERR_ARG ? mqttc_bad_arg(&c) : "");
    mqttc_deinit(&c);
    return why;
}

TEST(stages_refuse_what_cannot_go_into_their_requests) {
    srv px;
    CHECK(srv_listen(&px, 0) == 0);
    char proxy[64];
    snprintf(proxy, sizeof proxy, "socks5h://127.0.0.1:%d", px.port);
    mqttc_options o = opts(proxy);
    const char *why = dial_refused(&o, "two words", 1883);
    CHECK_MSG(strcmp(why, "argument options.proxy") == 0, "%s", why);
    srv_drop(&px);

    o = opts(NULL);
    o.ws_path = "/a b"; /* starts with '/', no fragment: taken at init; a space breaks the request */
    why = dial_refused(&o, "127.0.0.1", px.port);
    CHECK_MSG(strcmp(why, "argument options.ws_path") == 0, "%s", why);
    srv_drop(&px);

    static char big[MQTTC__HTTP_MAX + 16];
    memset(big, 'a', sizeof big - 3);
    memcpy(big, "X-Big: ", 7);
    memcpy(big + sizeof big - 3, "\r\n", 3);
    o = opts(NULL);
    o.ws_path = "/mqtt";
    o.ws_headers = big;
    why = dial_refused(&o, "127.0.0.1", px.port);
    CHECK_MSG(strcmp(why, "argument options.ws_headers") == 0, "%s", why);
    srv_free(&px);
}

int main(void) {
    RUN(websocket_through_http_proxy);
    RUN(websocket_host_of_an_ipv6_broker);
    RUN(socks5_sends_the_address_it_resolved);
    RUN(stages_refuse_what_cannot_go_into_their_requests);
    return test_report();
}
