/* tests/live_window.c - COUNT QoS 2 messages ("1".."COUNT") to TOPIC with the library's
   defaults, for t_window.sh: a default-configured mosquitto keeps at most 20 unreleased
   incoming QoS 2 messages per client and silently drops the rest, so the default in-flight
   window must fit it. The loop: publish, and while the window or
   the output buffer is full (MQTTC_ERR_BUSY) step and retry; then mqttc_disconnect, which
   finishes every open flow before DISCONNECT, and step until the connection ends.
       live_window HOST PORT TOPIC COUNT
   Prints "published N, ended E, inflight M"; exits 0 when the end is "disconnect". */
#define MQTTC_IMPLEMENTATION
#include "mqttc.h"

#include <stdio.h>
#include <stdlib.h>

/* One round of the loop: wait for what the client asks (mqttc_wait polls), then step. */
static int wait_and_step(mqttc_client *c) {
    (void)mqttc_wait(c, -1, -1);
    return mqttc_step(c, mqttc_now_ms());
}

int main(int argc, char **argv) {
    mqttc_client c;
    mqttc_options o = {0}; /* all defaults: the window under test is the default one */
    char payload[16];
    long published = 0;
    if (argc != 5) {
        fprintf(stderr, "usage: live_window HOST PORT TOPIC COUNT\n");
        return 2;
    }
    long count = atol(argv[4]);
    mqttc_init(&c, &o);
    int rc = mqttc_connect(&c, argv[1], atoi(argv[2]));
    while (rc == MQTTC_OK && published < count) {
        int n = snprintf(payload, sizeof payload, "%ld", published + 1);
        rc = mqttc_publish(&c, argv[3], payload, (size_t)n, 2, 0, NULL);
        if (rc == MQTTC_OK) published++;
        else if (rc == MQTTC_ERR_BUSY) rc = wait_and_step(&c);
    }
    if (rc == MQTTC_OK) rc = mqttc_disconnect(&c);
    while (rc == MQTTC_OK) rc = wait_and_step(&c); /* until DISCONNECT is out */
    printf("published %ld, ended %s, inflight %u\n", published, mqttc_errname(rc), mqttc_inflight(&c));
    mqttc_deinit(&c);
    return rc == MQTTC_ERR_DISCONNECT ? 0 : 1;
}
