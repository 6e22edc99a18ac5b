/* blocking_sub - the simplest client: connect, subscribe, print what arrives.
       build/blocking_sub [HOST [PORT [FILTER [COUNT]]]]     (localhost 1883 "#" forever)
   The C form of the original Lua client's first example:
       local mqtt = require"mqttc".connect(broker, onpub)
       mqtt:subscribe("#")
       mqtt:run()
   Every call blocks until it is done; mqttc_run returns when the connection ends. After
   COUNT messages the callback itself disconnects, which ends mqttc_run with "disconnect". */
#define MQTTC_IMPLEMENTATION
#include "mqttc.h"

#include <stdio.h>
#include <stdlib.h>

typedef struct counter {
    long received, limit; /* limit 0: no limit */
} counter;

static void on_message(mqttc_client *c, const mqttc_message *m, void *user) {
    counter *n = (counter *)user;
    printf("%s %.*s\n", m->topic, (int)m->payload_len, (const char *)m->payload);
    fflush(stdout);
    if (++n->received == n->limit) mqttc_disconnect(c); /* legal inside a callback */
}

static void on_suback(mqttc_client *c, const mqttc_suback_info *s, void *user) {
    (void)c, (void)user;
    printf("subscribed, granted QoS %d\n", s->codes[0]); /* 0x80 would be a refusal */
    fflush(stdout);
}

int main(int argc, char **argv) {
    const char *host = argc > 1 ? argv[1] : "localhost";
    int port = argc > 2 ? atoi(argv[2]) : 1883;
    const char *filter = argc > 3 ? argv[3] : "#";
    counter n = {0, argc > 4 ? atol(argv[4]) : 0};
    mqttc_client c;
    mqttc_options o = {0};
    o.on_message = on_message;
    o.user = &n;

    int rc = mqttc_init(&c, &o);
    if (rc == MQTTC_OK) rc = mqttc_connect(&c, host, port); /* TCP, CONNECT, CONNACK */
    if (rc == MQTTC_OK) rc = mqttc_subscribe(&c, filter, 1, on_suback, NULL, NULL, NULL);
    if (rc == MQTTC_OK) rc = mqttc_run(&c); /* until the connection ends */
    printf("ended: %s (%s)\n", mqttc_errname(rc), mqttc_strerror(rc));
    mqttc_deinit(&c);
    return rc == MQTTC_ERR_DISCONNECT ? 0 : 1;
}
