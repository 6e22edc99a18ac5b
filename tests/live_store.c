/* tests/live_store.c - a publisher with the file store (mqttc.h section 13), for
   tests/t_store.sh, which SIGKILLs it at random points and starts it again with the same
   client id and store:
       live_store DIR PORT ID QOS FROM TO [drain]
   publishes "K" to store/ID at QOS for K = FROM..TO (clean session off, flush every
   message, reconnecting every 100 ms while the broker is away, publishes queued meanwhile),
   printing "accepted K id N" once mqttc_publish returned MQTTC_OK (durable then; N its
   packet id).
   Killed, it has printed the numbers the store holds or the broker has; started again with
   FROM = the last accepted + 1, it resumes the session from the store first. With "drain"
   it waits after TO until nothing is in flight, prints "drained" and disconnects (exit 0;
   1 when that takes over 60 s). It prints "loaded N" at start: what the store gave back. */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#define MQTTC_IMPLEMENTATION
#include "mqttc.h"

static void pause_ms(long ms) {
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* Each connection and each message given up, for the test's log. */
static void on_status(mqttc_client *c, const mqttc_status *s, void *user) {
    (void)c;
    (void)user;
    if (s->event == MQTTC_EVENT_CONNECTED) printf("connected session_present=%d\n", s->session_present);
    else printf("%s %s\n", s->event == MQTTC_EVENT_CONNECT_FAILED ? "connect failed" : "lost", mqttc_errname(s->error));
    fflush(stdout);
}

static void on_dropped(mqttc_client *c, const mqttc_publish_info *m, int why, void *user) {
    (void)c;
    (void)user;
    printf("dropped id %u (%.*s): %s\n", m->packet_id, m->payload ? (int)m->payload_len : 0,
           m->payload ? (const char *)m->payload : "", mqttc_errname(why));
    fflush(stdout);
}

static void pump(mqttc_client *c, long ms) {
    mqttc_wait(c, ms, -1);
    (void)mqttc_step(c, mqttc_now_ms());
}

int main(int argc, char **argv) {
    if (argc < 7) {
        fprintf(stderr, "usage: live_store DIR PORT ID QOS FROM TO [drain]\n");
        return 2;
    }
    int port = atoi(argv[2]), qos = atoi(argv[4]), drain = argc > 7 && strcmp(argv[7], "drain") == 0;
    long from = atol(argv[5]), to = atol(argv[6]);
    char topic[128];
    snprintf(topic, sizeof topic, "store/%s", argv[3]);
    mqttc_file_store fs;
    int rc = mqttc_file_store_open(&fs, argv[1], argv[3], 0);
    if (rc != MQTTC_OK) {
        printf("store: %s\n", mqttc_errname(rc));
        return 1;
    }
    if (fs.skipped) printf("skipped %u: %s\n", fs.skipped, fs.problem);
    mqttc_client c;
    mqttc_options o;
    memset(&o, 0, sizeof o);
    o.client_id = argv[3];
    o.no_clean_session = 1;
    o.store = &fs.store;
    o.reconnect_min_ms = 100;
    o.reconnect_max_ms = 400;
    o.reconnect_first = 1;
    o.queue_bytes = 1 << 20;
    o.on_status = on_status;
    o.on_dropped = on_dropped;
    rc = mqttc_init(&c, &o);
    printf("loaded %u\n", mqttc_inflight(&c));
    fflush(stdout);
    if (rc == MQTTC_OK) rc = mqttc_connect_start(&c, "127.0.0.1", port, mqttc_now_ms());
    if (rc != MQTTC_OK) {
        printf("start: %s\n", mqttc_errname(rc));
        mqttc_deinit(&c);
        mqttc_file_store_close(&fs);
        return 1;
    }
    for (long k = from; k <= to; k++) {
        char payload[24];
        int n = snprintf(payload, sizeof payload, "%ld", k);
        unsigned short id = 0;
        while ((rc = mqttc_publish(&c, topic, payload, (size_t)n, qos, 0, &id)) == MQTTC_ERR_BUSY ||
               rc == MQTTC_ERR_QUEUEFULL || rc == MQTTC_ERR_STATE)
            pump(&c, 50);
        if (rc != MQTTC_OK) {
            printf("publish %ld: %s\n", k, mqttc_errname(rc));
            break;
        }
        printf("accepted %ld id %u\n", k, id);
        fflush(stdout);
        pump(&c, 0);
    }
    uint64_t end = mqttc_now_ms() + 60000;
    while (rc == MQTTC_OK && (drain || 1) && mqttc_inflight(&c) && mqttc_now_ms() < end) pump(&c, 100);
    if (!drain) { /* killed by the test while it waits */
        for (;;) pause_ms(1000);
    }
    int ok = rc == MQTTC_OK && mqttc_inflight(&c) == 0;
    printf(ok ? "drained\n" : "not drained: %u in flight, %s\n", mqttc_inflight(&c), mqttc_errname(mqttc_error(&c)));
    if (mqttc_state(&c) == MQTTC_STATE_CONNECTED && mqttc_disconnect(&c) == MQTTC_OK) (void)mqttc_run(&c);
    mqttc_deinit(&c);
    mqttc_file_store_close(&fs);
    return ok ? 0 : 1;
}
