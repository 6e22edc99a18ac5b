/* tests/test_cover_ws.c - the WebSocket upgrade's answer header by header (RFC 6455 4.2.2,
   4.1: Upgrade is "websocket" in any case, Connection a list holding the "Upgrade" token),
   over the in-memory link: which answers open the connection and which end it with
   "wshandshake"; and the stage over a transport that has no close of its own. */
#define _POSIX_C_SOURCE 200809L
#include <stdlib.h>
#define MQTTC_IMPLEMENTATION
#include "mqttc.h"
#include "tests/test.h"

/* The accept value for the key in the client's request. */
static void accept_for(const mem_link *l, char out[32]) {
    char req[2048], key[64] = "";
    size_t n = l->out_len < sizeof req - 1 ? l->out_len : sizeof req - 1;
    memcpy(req, l->out, n);
    req[n] = 0;
    const char *k = strstr(req, "\r\nSec-WebSocket-Key: ");
    if (k) sscanf(k + 21, "%63[^\r]", key);
    unsigned char both[128], digest[20];
    size_t kl = strlen(key);
    memcpy(both, key, kl);
    memcpy(both + kl, "258EAFA5-E914-47DA-95CA-C5AB0DC85B11", 36);
    mqttc__sha1(both, kl + 36, digest);
    out[mqttc__base64(digest, 20, out)] = 0;
}

/* A client with ws_path over a fresh link, answered with status, then the Upgrade and
   Connection lines given (whole lines, CR LF included), the accept value and mqtt: its state
   after a few steps, and its error. */
static int answered(const char *status, const char *upgrade, const char *connection, int *error) {
    mqttc_client c;
    mem_link l;
    memset(&l, 0, sizeof l);
    mqttc_options o;
    memset(&o, 0, sizeof o);
    o.client_id = "cover-ws";
    o.ws_path = "/mqtt";
    mqttc_transport t = mem_transport(&l);
    CHECK_RC(mqttc_init(&c, &o), MQTTC_OK);
    CHECK_RC(mqttc_start_transport(&c, &t, 0), MQTTC_OK);
    char acc[32], ans[1024];
    accept_for(&l, acc);
    int n = snprintf(ans, sizeof ans, "%s\r\n%s%sSec-WebSocket-Accept: %s\r\nSec-WebSocket-Protocol: mqtt\r\n\r\n", status,
                     upgrade, connection, acc);
    mem_feed(&l, ans, (size_t)n);
    for (int i = 0; i < 5 && mqttc_state(&c) == MQTTC_STATE_HANDSHAKE; i++) (void)mqttc_step(&c, 0);
    int state = mqttc_state(&c);
    *error = mqttc_error(&c);
    mqttc_deinit(&c);
    mem_free(&l);
    return state;
}

static const char *const OK_STATUS = "HTTP/1.1 101 Switching Protocols";
static const char *const UPGRADE = "Upgrade: websocket\r\n";
static const char *const CONNECTION = "Connection: Upgrade\r\n";

TEST(connection_lists_with_the_upgrade_token) {
    static const char *const take[] = {
        "Connection: keep-alive, Upgrade\r\n", "Connection: ,, upgrade\r\n", "Connection: Upgrade \t \r\n",
        "Connection: \tkeep-alive ,\tUPGRADE\t,close\r\n", "Connection: Upgrade\r\nConnection: close\r\n"};
    for (int i = 0; i < 5; i++) {
        int err;
        CHECK_MSG(answered(OK_STATUS, UPGRADE, take[i], &err) == MQTTC_STATE_CONNACK_WAIT, "%s: %s", take[i],
                  mqttc_errname(err));
    }
    static const char *const refuse[] = {"Connection: keep-alive\r\n", "Connection: upgraded\r\n",
                                         "Connection: up grade\r\n", "Connection: , ,\r\n", "Connection:\r\n",
                                         "Connectio: Upgrade\r\n"};
    for (int i = 0; i < 6; i++) {
        int err;
        CHECK_MSG(answered(OK_STATUS, UPGRADE, refuse[i], &err) == MQTTC_STATE_CLOSED, "%s taken", refuse[i]);
        CHECK_RC(err, MQTTC_ERR_WSHANDSHAKE);
    }
}

TEST(upgrade_is_websocket_in_any_case) {
    int err;
    CHECK_EQ_INT(answered(OK_STATUS, "Upgrade: WebSocket\r\n", CONNECTION, &err), MQTTC_STATE_CONNACK_WAIT);
    CHECK_EQ_INT(answered(OK_STATUS, "upgrade:websocket  \r\n", CONNECTION, &err), MQTTC_STATE_CONNACK_WAIT);
    static const char *const refuse[] = {"Upgrade: websocke2\r\n", "Upgrade: websockets\r\n", "Upgrade: web\r\n",
                                         "Upgrade: h2c\r\n", ""};
    for (int i = 0; i < 5; i++) {
        CHECK_MSG(answered(OK_STATUS, refuse[i], CONNECTION, &err) == MQTTC_STATE_CLOSED, "%s taken", refuse[i]);
        CHECK_RC(err, MQTTC_ERR_WSHANDSHAKE);
    }
}

TEST(an_answer_that_is_not_http) {
    static const char *const status[] = {"XTTP/1.1 101 Switching Protocols", "HTTP/2.0 101 Switching", "HTTP/1.x 101 OK",
                                         "HTTP/1.1 1O1 OK", "HTTP/1.1101 OK"};
    for (int i = 0; i < 5; i++) {
        int err;
        CHECK_MSG(answered(status[i], UPGRADE, CONNECTION, &err) == MQTTC_STATE_CLOSED, "%s taken", status[i]);
        CHECK_RC(err, MQTTC_ERR_WSHANDSHAKE);
    }
}

/* A caller's transport may have no close: the stage above it closes itself alone. */
TEST(a_transport_without_close) {
    mqttc_client c;
    mem_link l;
    memset(&l, 0, sizeof l);
    mqttc_options o;
    memset(&o, 0, sizeof o);
    o.client_id = "cover-ws";
    o.ws_path = "/mqtt";
    mqttc_transport t = mem_transport(&l);
    t.close = NULL;
    CHECK_RC(mqttc_init(&c, &o), MQTTC_OK);
    CHECK_RC(mqttc_start_transport(&c, &t, 0), MQTTC_OK);
    CHECK_EQ_INT(mqttc_state(&c), MQTTC_STATE_HANDSHAKE);
    CHECK_RC(mqttc_disconnect(&c), MQTTC_OK);
    (void)mqttc_step(&c, 1);
    CHECK_EQ_INT(mqttc_state(&c), MQTTC_STATE_CLOSED);
    CHECK_EQ_INT(l.closed, 0); /* (nothing was called) */
    mqttc_deinit(&c);
    mem_free(&l);
}

int main(void) {
    RUN(connection_lists_with_the_upgrade_token);
    RUN(upgrade_is_websocket_in_any_case);
    RUN(an_answer_that_is_not_http);
    RUN(a_transport_without_close);
    return test_report();
}
