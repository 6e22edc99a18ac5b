/* adopt_fd - hand the client a socket that other code connected.
       build/adopt_fd [HOST [PORT [TOPIC]]]     (127.0.0.1 1883 demo/adopted)
   The original Lua client's proxy example opens the connection through a proxy, then gives
   the socket to MQTT. Here open_connection stands for that code: it connects TCP itself
   (a SOCKS5 or HTTP CONNECT handshake would follow on the same fd), and mqttc_adopt_fd
   takes the socket over: CONNECT, CONNACK and the rest run on it, and the client closes it.
   The program subscribes to TOPIC, publishes one message there and waits for it. */
#define MQTTC_IMPLEMENTATION
#include "mqttc.h"

#include <netdb.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* Someone else's code: a plain blocking TCP connect. Returns the socket or -1. */
static int open_connection(const char *host, const char *port) {
    struct addrinfo hints, *list, *ai;
    int fd = -1;
    memset(&hints, 0, sizeof hints);
    hints.ai_socktype = SOCK_STREAM;
    if (getaddrinfo(host, port, &hints, &list) != 0) return -1;
    for (ai = list; ai && fd < 0; ai = ai->ai_next) {
        fd = socket(ai->ai_family, ai->ai_socktype, ai->ai_protocol);
        if (fd >= 0 && connect(fd, ai->ai_addr, ai->ai_addrlen) != 0) {
            close(fd);
            fd = -1;
        }
    }
    freeaddrinfo(list);
    return fd;
}

static void on_message(mqttc_client *c, const mqttc_message *m, void *user) {
    (void)user;
    printf("received %s: %.*s\n", m->topic, (int)m->payload_len, (const char *)m->payload);
    mqttc_disconnect(c); /* one message is all we wait for */
}

int main(int argc, char **argv) {
    const char *host = argc > 1 ? argv[1] : "127.0.0.1", *port = argc > 2 ? argv[2] : "1883";
    const char *topic = argc > 3 ? argv[3] : "demo/adopted";
    const char text[] = "hello over an adopted socket";
    mqttc_client c;
    mqttc_options o = {0};
    o.on_message = on_message;

    int fd = open_connection(host, port);
    if (fd < 0) {
        fprintf(stderr, "cannot connect to %s port %s\n", host, port);
        return 1;
    }
    int rc = mqttc_init(&c, &o);
    if (rc == MQTTC_OK) rc = mqttc_adopt_fd(&c, fd, mqttc_now_ms()); /* the client owns fd now */
    else close(fd);
    if (rc == MQTTC_OK) rc = mqttc_connect_wait(&c); /* CONNACK */
    if (rc == MQTTC_OK) printf("connected over fd %d\n", fd);
    if (rc == MQTTC_OK) rc = mqttc_subscribe(&c, topic, 1, NULL, NULL, NULL, NULL);
    if (rc == MQTTC_OK) rc = mqttc_publish(&c, topic, text, sizeof text - 1, 1, 0, NULL);
    if (rc == MQTTC_OK) rc = mqttc_run(&c); /* until on_message disconnects */
    printf("ended: %s\n", mqttc_errname(rc));
    mqttc_deinit(&c);
    return rc == MQTTC_ERR_DISCONNECT ? 0 : 1;
}
