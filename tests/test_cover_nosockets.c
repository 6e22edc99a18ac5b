/* tests/test_cover_nosockets.c - a build without sockets and without MQTT 5
   (MQTTC_NO_SOCKETS, MQTTC_NO_MQTT5: the smallest one), through the in-memory link: the
   options for what it left out (proxies, WebSocket, MQTT 5) are refused at init by name,
   never ignored, and the rest works: connect, subscribe, publish and receive. */
#define _POSIX_C_SOURCE 200809L
#define MQTTC_NO_SOCKETS
#define MQTTC_NO_MQTT5
#include <stdlib.h>
#define MQTTC_IMPLEMENTATION
#include "mqttc.h"
#include "tests/test.h"


static mqttc_options base(void) {
    mqttc_options o;
    memset(&o, 0, sizeof o);
    o.client_id = "cover-small";
    return o;
}

TEST(options_for_what_is_left_out_are_refused) {
    mqttc_options o = base();
    CHECK(strcmp(test_refused(&o), "") == 0);
    o.proxy = "socks5h://127.0.0.1:1080";
    CHECK(strcmp(test_refused(&o), "options.proxy") == 0);
    o = base();
    o.ws_path = "/mqtt";
    CHECK(strcmp(test_refused(&o), "options.ws_path") == 0);
    o.ws_headers = "X-A: b\r\n";
    CHECK(strcmp(test_refused(&o), "options.ws_path") == 0);
    o.ws_path = NULL;
    CHECK(strcmp(test_refused(&o), "options.ws_headers") == 0);
    o = base();
    o.secure = 1;
    CHECK(strcmp(test_refused(&o), "options.secure") == 0);
    o = base();
    o.protocol_version = MQTTC_PROTOCOL_5;
    CHECK(strcmp(test_refused(&o), "options.protocol_version") == 0);
    o.protocol_version = MQTTC_PROTOCOL_311;
    CHECK(strcmp(test_refused(&o), "") == 0);
}

static int messages;
static void on_message(mqttc_client *c, const mqttc_message *m, void *user) {
    (void)c; (void)user;
    if (m->payload_len == 2 && memcmp(m->payload, "hi", 2) == 0) messages++;
}

TEST(the_rest_works) {
    mqttc_client c;
    mem_link l;
    size_t pos = 0;
    test_packet p;
    memset(&l, 0, sizeof l);
    mqttc_options o = base();
    o.on_message = on_message;
    test_connect(&c, &l, &o);
    CHECK_RC(mqttc_subscribe(&c, "a/#", 1, NULL, NULL, NULL, NULL), MQTTC_OK);
    CHECK_RC(mqttc_publish(&c, "a/b", "hi", 2, 1, 0, NULL), MQTTC_OK);
    CHECK_EQ_INT(test_next_sent(&l, &pos, &p), MQTTC_CONNECT);
    CHECK_EQ_INT(test_next_sent(&l, &pos, &p), MQTTC_SUBSCRIBE);
    CHECK_EQ_INT(test_next_sent(&l, &pos, &p), MQTTC_PUBLISH);
    CHECK_EQ_INT(p.qos, 1);
    unsigned short id = p.packet_id;
    test_feed_ack(&l, MQTTC_PUBACK, id);
    test_feed_publish(&l, "a/b", "hi", 0, 0);
    CHECK_RC(mqttc_step(&c, 1), MQTTC_OK);
    CHECK_EQ_INT(messages, 1);
    CHECK_EQ_INT(mqttc_inflight(&c), 0);
    mqttc_deinit(&c);
    mem_free(&l);
}

int main(void) {
    RUN(options_for_what_is_left_out_are_refused);
    RUN(the_rest_works);
    return test_report();
}
