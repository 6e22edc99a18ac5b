/* poll_loop - one poll(2) loop drives the client and an application timer.
       build/poll_loop [HOST [PORT [TOPIC [COUNT]]]]     (127.0.0.1 1883 demo/ticks 5)
   Nothing here blocks but poll: the client says which socket (mqttc_fd), which events
   (mqttc_events) and until when (mqttc_timeout_ms) it needs; the loop adds its own timer,
   waits, and calls mqttc_step. Every 200 ms it publishes "tick N" on TOPIC, to which it is
   subscribed, and it prints what comes back; after COUNT messages it disconnects.
   (A program without a loop of its own gets the same wait from mqttc_wait.) */
#define MQTTC_IMPLEMENTATION
#include "mqttc.h"

#include <poll.h>
#include <stdio.h>
#include <stdlib.h>

#define TICK_MS 200

typedef struct app {
    const char *topic;
    long count, sent, received;
    int is_subscribed;
    uint64_t next_tick_ms;
} app;

static void on_message(mqttc_client *c, const mqttc_message *m, void *user) {
    app *a = (app *)user;
    printf("received %s: %.*s\n", m->topic, (int)m->payload_len, (const char *)m->payload);
    fflush(stdout);
    if (++a->received == a->count) mqttc_disconnect(c);
}

/* The application's part of each turn: subscribe once connected, publish when the timer is
   due. Returns how long the timer lets the loop sleep. */
static long app_turn(mqttc_client *c, app *a, uint64_t now) {
    if (mqttc_state(c) != MQTTC_STATE_CONNECTED) return -1;
    if (!a->is_subscribed) {
        a->is_subscribed = mqttc_subscribe(c, a->topic, 1, NULL, NULL, NULL, NULL) == MQTTC_OK;
        a->next_tick_ms = now + TICK_MS;
    }
    if (a->sent < a->count && now >= a->next_tick_ms) {
        char text[32];
        int len = snprintf(text, sizeof text, "tick %ld", a->sent + 1);
        if (mqttc_publish(c, a->topic, text, (size_t)len, 1, 0, NULL) == MQTTC_OK) a->sent++;
        a->next_tick_ms = now + TICK_MS; /* on BUSY: try again next tick */
    }
    return a->sent < a->count ? (long)(a->next_tick_ms > now ? a->next_tick_ms - now : 0) : -1;
}

int main(int argc, char **argv) {
    const char *host = argc > 1 ? argv[1] : "127.0.0.1"; /* numeric: no blocking DNS */
    int port = argc > 2 ? atoi(argv[2]) : 1883;
    app a = {argc > 3 ? argv[3] : "demo/ticks", argc > 4 ? atol(argv[4]) : 5, 0, 0, 0, 0};
    mqttc_client c;
    mqttc_options o = {0};
    o.on_message = on_message;
    o.user = &a;

    int rc = mqttc_init(&c, &o);
    if (rc == MQTTC_OK) rc = mqttc_connect_start(&c, host, port, mqttc_now_ms());
    while (rc == MQTTC_OK) {
        uint64_t now = mqttc_now_ms();
        long app_ms = app_turn(&c, &a, now), ms = mqttc_timeout_ms(&c, now);
        if (app_ms >= 0 && (ms < 0 || app_ms < ms)) ms = app_ms;
        struct pollfd p = {mqttc_fd(&c), mqttc_poll_events(&c), 0};
        poll(&p, 1, (int)ms); /* a real loop would watch its other descriptors here too */
        rc = mqttc_step(&c, mqttc_now_ms());
    }
    printf("sent %ld, received %ld, ended: %s\n", a.sent, a.received, mqttc_errname(rc));
    mqttc_deinit(&c);
    return rc == MQTTC_ERR_DISCONNECT && a.received == a.count ? 0 : 1;
}
