/* bench/min_pub.c - the smallest useful mqttc program, for the `size` figure: connect,
   publish one message, disconnect. Built -Os, MQTTC_STATIC, --gc-sections, stripped (see
   mk/bench.mk); its .text is what mqttc adds to a program, plus a little C start-up code.
   Built twice: min_pub, the default build (MQTT 5 compiled in; this program speaks
   3.1.1), and min_pub_no5 with -DMQTTC_NO_MQTT5 -DMQTTC_NO_RECONNECT -DMQTTC_NO_WEBSOCKET
   -DMQTTC_NO_PROXY (the small build).
   Usage: min_pub HOST PORT */
#define MQTTC_STATIC
#define MQTTC_IMPLEMENTATION
#include "mqttc.h"

#include <stdlib.h>

int main(int argc, char **argv) {
    mqttc_client c;
    if (argc != 3 || mqttc_init(&c, NULL) != MQTTC_OK) return 2;
    int rc = mqttc_connect(&c, argv[1], atoi(argv[2]));
    if (rc == MQTTC_OK) rc = mqttc_publish(&c, "bench/size", "hello", 5, 0, 0, NULL);
    if (rc == MQTTC_OK) rc = mqttc_disconnect(&c);
    if (rc == MQTTC_OK) rc = mqttc_run(&c);
    mqttc_deinit(&c);
    return rc == MQTTC_ERR_DISCONNECT ? 0 : 1;
}
