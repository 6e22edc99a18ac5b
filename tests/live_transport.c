/* Transports over real sockets (section 8 of mqttc.h), run by tests/t_transport.sh against
   mosquitto's websockets listeners, microsocks, tinyproxy and tests/transport_fault.py, on
   127.0.0.1 (under Valgrind). Usage:
     live_transport roundtrip TARGET [OPTION...]   QoS 0, 1, 2 and 1 MiB (QoS 2) to ourselves
     live_transport expect TARGET ERROR [OPTION...] the connect fails with ERROR (errname)
     live_transport hold TARGET [OPTION...]          connect, run --ms, count messages, end
     live_transport abort TARGET [OPTION...]         start the connect, run --ms, then deinit
                                                     (or, with --disconnect, disconnect first)
   TARGET is a URL (mqttc_connect_url) or host:port (mqttc_connect_start). Options:
     --proxy URL          options.proxy
     --ws-path PATH       options.ws_path (host:port targets)
     --ws-headers TEXT    options.ws_headers ("\n" in TEXT becomes "\r\n")
     --secure             options.secure (host:port targets)
     --ca FILE            options.tls_ca_file
     --user U --pass P    options.username / password (the trust rule checks the broker)
     --reason N           expect: mqttc_reason_code is N
     --detail TEXT        expect: mqttc_error_detail contains TEXT
     --big N              roundtrip: the big payload's size (default 1 MiB; 0: none)
     --ms N               hold: how long to run (default 1000)
     --timeout-ms N       options.connect_timeout_ms (default 15000)
     --keepalive S        options.keepalive_s
     --messages N         hold: how many messages must have come
   Each scenario prints what it checks ("ok - ..."/"not ok - ...") and exits 0 only when
   every check held. */
#define _POSIX_C_SOURCE 200809L
#define MQTTC_WITH_OPENSSL
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#define MQTTC_IMPLEMENTATION
#include "mqttc.h"
#include "test.h"

typedef struct args {
    const char *scenario, *target, *error, *detail;
    const char *proxy, *ws_path, *ca, *user, *pass;
    char *ws_headers;
    int secure, reason, has_reason, messages, keepalive_s, is_disconnect;
    unsigned timeout_ms;
    long big, ms;
} args;

typedef struct inbox {
    int count, subacks, suback_code, published;
    char topic[128];
    size_t len;
    unsigned char *data; /* the last payload, copied */
    int qos;
} inbox;

static void on_message(mqttc_client *c, const mqttc_message *m, void *user) {
    inbox *b = (inbox *)user;
    (void)c;
    b->count++;
    snprintf(b->topic, sizeof b->topic, "%s", m->topic);
    free(b->data);
    b->data = (unsigned char *)malloc(m->payload_len + 1);
    if (m->payload_len) memcpy(b->data, m->payload, m->payload_len);
    b->len = m->payload_len;
    b->qos = m->qos;
}
static void on_suback(mqttc_client *c, const mqttc_suback_info *sa, void *user) {
    (void)c;
    ((inbox *)user)->subacks++;
    ((inbox *)user)->suback_code = sa->codes[0];
}
static void on_published(mqttc_client *c, const mqttc_ack_info *ack, void *user) {
    (void)c;
    (void)ack;
    ((inbox *)user)->published++;
}

/* Runs the loop until cond holds or ms pass. */
#define RUN_UNTIL(c, cond, ms)                                                            \
    do {                                                                                  \
        uint64_t end_ = mqttc_now_ms() + (ms);                                            \
        while (!(cond) && mqttc_now_ms() < end_ && mqttc_run_for((c), 50) == MQTTC_OK) {} \
    } while (0)

static int parse(args *a, int argc, char **argv) {
    memset(a, 0, sizeof *a);
    a->big = 1L << 20;
    a->ms = 1000;
    a->timeout_ms = 15000;
    if (argc < 3) return 0;
    a->scenario = argv[1];
    a->target = argv[2];
    int i = 3;
    if (!strcmp(a->scenario, "expect")) {
        if (argc < 4) return 0;
        a->error = argv[i++];
    }
    for (; i < argc; i++) {
        const char *o = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(o, "--secure")) { a->secure = 1; continue; }
        if (!strcmp(o, "--disconnect")) { a->is_disconnect = 1; continue; }
        if (!v) return 0;
        i++;
        if (!strcmp(o, "--proxy")) a->proxy = v;
        else if (!strcmp(o, "--ws-path")) a->ws_path = v;
        else if (!strcmp(o, "--ca")) a->ca = v;
        else if (!strcmp(o, "--user")) a->user = v;
        else if (!strcmp(o, "--pass")) a->pass = v;
        else if (!strcmp(o, "--detail")) a->detail = v;
        else if (!strcmp(o, "--reason")) { a->reason = atoi(v); a->has_reason = 1; }
        else if (!strcmp(o, "--big")) a->big = atol(v);
        else if (!strcmp(o, "--ms")) a->ms = atol(v);
        else if (!strcmp(o, "--messages")) a->messages = atoi(v);
        else if (!strcmp(o, "--timeout-ms")) a->timeout_ms = (unsigned)atol(v);
        else if (!strcmp(o, "--keepalive")) a->keepalive_s = atoi(v);
        else if (!strcmp(o, "--ws-headers")) {
            a->ws_headers = (char *)malloc(2 * strlen(v) + 1);
            char *w = a->ws_headers;
            for (const char *r = v; *r; r++) {
                if (*r == '\n') *w++ = '\r';
                *w++ = *r;
            }
            *w = '\0';
        } else return 0;
    }
    return 1;
}

static void options(const args *a, mqttc_options *o, inbox *b) {
    memset(o, 0, sizeof *o);
    o->on_message = on_message;
    o->on_published = on_published;
    o->user = b;
    o->connect_timeout_ms = a->timeout_ms;
    o->keepalive_s = (unsigned)a->keepalive_s;
    o->proxy = a->proxy;
    o->ws_path = a->ws_path;
    o->ws_headers = a->ws_headers;
    o->secure = a->secure;
    o->tls_ca_file = a->ca;
    o->username = a->user;
    o->password = a->pass;
    o->password_len = a->pass ? strlen(a->pass) : 0;
}

/* Starts the connect to TARGET: mqttc_connect_url or mqttc_connect_start. */
static int dial_start(mqttc_client *c, const args *a) {
    int rc;
    if (strstr(a->target, "://")) rc = mqttc_connect_url(c, a->target, mqttc_now_ms());
    else {
        char host[256];
        const char *colon = strrchr(a->target, ':');
        if (!colon || (size_t)(colon - a->target) >= sizeof host) return MQTTC_ERR_ARG;
        memcpy(host, a->target, (size_t)(colon - a->target));
        host[colon - a->target] = '\0';
        rc = mqttc_connect_start(c, host, atoi(colon + 1), mqttc_now_ms());
    }
    return rc;
}

/* Starts the connect and waits for CONNACK: the result of mqttc_connect_wait. */
static int dial(mqttc_client *c, const args *a) {
    int rc = dial_start(c, a);
    return rc == MQTTC_OK ? mqttc_connect_wait(c) : rc;
}

static void say_error(const mqttc_client *c, int rc) {
    printf("    connect: %s, reason %d, detail \"%s\"\n", mqttc_errname(rc), mqttc_reason_code(c),
           mqttc_error_detail(c));
}

/* The end of a connection that worked: DISCONNECT, the loop ends as asked, nothing left. */
static void end_cleanly(mqttc_client *c) {
    int rc = mqttc_disconnect(c);
    verdict("disconnect accepted", rc == MQTTC_OK, "%s", mqttc_errname(rc));
    rc = mqttc_run(c);
    verdict("the loop ends with our DISCONNECT", rc == MQTTC_ERR_DISCONNECT, "%s (detail \"%s\")",
            mqttc_errname(rc), mqttc_error_detail(c));
}

static void publish_and_get(mqttc_client *c, inbox *b, const char *topic, const unsigned char *p, size_t len,
                            int qos) {
    int before = b->count, rc;
    while ((rc = mqttc_publish(c, topic, p, len, qos, 0, NULL)) == MQTTC_ERR_BUSY) mqttc_run_for(c, 10);
    RUN_UNTIL(c, b->count > before, 30000);
    verdict(topic, rc == MQTTC_OK && b->count == before + 1 && b->len == len && b->qos == qos &&
                       !strcmp(b->topic, topic) && (len == 0 || memcmp(b->data, p, len) == 0),
            "publish %s, %d messages came (want %d), last on %s, %zu bytes at QoS %d", mqttc_errname(rc),
            b->count - before, 1, b->topic, b->len, b->qos);
}

static void scenario_roundtrip(const args *a) {
    mqttc_client c;
    mqttc_options o;
    inbox b = {0};
    char filter[64], topic[80];
    options(a, &o, &b);
    int rc = mqttc_init(&c, &o);
    verdict("options accepted (mqttc_init)", rc == MQTTC_OK, "%s", mqttc_errname(rc));
    if (rc != MQTTC_OK) return;
    rc = dial(&c, a);
    verdict("connected (CONNACK)", rc == MQTTC_OK, "%s", mqttc_errname(rc));
    if (rc != MQTTC_OK) say_error(&c, rc);
    if (rc == MQTTC_OK) {
        snprintf(filter, sizeof filter, "transport/%ld/#", (long)getpid());
        CHECK_RC(mqttc_subscribe(&c, filter, 2, on_suback, NULL, &b, NULL), MQTTC_OK);
        RUN_UNTIL(&c, b.subacks == 1, 10000);
        verdict("subscribed at QoS 2", b.subacks == 1 && b.suback_code == 2, "%d subacks, code %d", b.subacks,
                b.suback_code);
        for (int qos = 0; qos <= 2; qos++) {
            char payload[64];
            snprintf(topic, sizeof topic, "transport/%ld/qos%d", (long)getpid(), qos);
            snprintf(payload, sizeof payload, "through the transport at QoS %d", qos);
            publish_and_get(&c, &b, topic, (const unsigned char *)payload, strlen(payload), qos);
        }
        if (a->big > 0) {
            unsigned char *blob = (unsigned char *)malloc((size_t)a->big);
            for (long i = 0; i < a->big; i++) blob[i] = (unsigned char)(i * 7 + 3);
            /* one, at QoS 2: mosquitto 2.0.11 sends a websockets client 4 KiB per 100 ms of its
               loop (40 KiB/s: 1 MiB takes 25 s, whatever the client) */
            snprintf(topic, sizeof topic, "transport/%ld/big/qos2", (long)getpid());
            publish_and_get(&c, &b, topic, blob, (size_t)a->big, 2);
            free(blob);
        }
        int flows = a->big > 0 ? 3 : 2; /* our copy can come back before our PUBCOMP does */
        RUN_UNTIL(&c, b.published == flows && mqttc_inflight(&c) == 0, 10000);
        verdict("every QoS 1 and 2 flow completed", b.published == flows && mqttc_inflight(&c) == 0,
                "%d completed, %u in flight", b.published, mqttc_inflight(&c));
        end_cleanly(&c);
    }
    mqttc_deinit(&c);
    free(b.data);
}

static void scenario_expect(const args *a) {
    mqttc_client c;
    mqttc_options o;
    inbox b = {0};
    options(a, &o, &b);
    int rc = mqttc_init(&c, &o);
    if (rc != MQTTC_OK) { /* options refused: that is the result (no client to ask more) */
        printf("    mqttc_init: %s\n", mqttc_errname(rc));
        verdict(a->error, !strcmp(mqttc_errname(rc), a->error), "%s", mqttc_errname(rc));
        return;
    }
    rc = dial(&c, a);
    const char *detail = mqttc_error_detail(&c);
    say_error(&c, rc);
    verdict(a->error, !strcmp(mqttc_errname(rc), a->error), "%s", mqttc_errname(rc));
    if (rc != MQTTC_ERR_ARG) /* a refused argument is not sticky: nothing was started */
        verdict("mqttc_error is the connect's result", mqttc_error(&c) == rc || rc == MQTTC_OK, "%s",
                mqttc_errname(mqttc_error(&c)));
    if (a->has_reason)
        verdict("reason code", mqttc_reason_code(&c) == a->reason, "%d, want %d", mqttc_reason_code(&c), a->reason);
    if (a->detail)
        verdict("error detail", detail && strstr(detail, a->detail), "\"%s\", want it to contain \"%s\"",
                detail ? detail : "(null)", a->detail);
    if (rc == MQTTC_OK) end_cleanly(&c);
    mqttc_deinit(&c);
    free(b.data);
}

static void scenario_hold(const args *a) {
    mqttc_client c;
    mqttc_options o;
    inbox b = {0};
    options(a, &o, &b);
    int rc = mqttc_init(&c, &o);
    verdict("options accepted (mqttc_init)", rc == MQTTC_OK, "%s", mqttc_errname(rc));
    if (rc != MQTTC_OK) return;
    rc = dial(&c, a);
    verdict("connected (CONNACK)", rc == MQTTC_OK, "%s", mqttc_errname(rc));
    if (rc != MQTTC_OK) say_error(&c, rc);
    if (rc == MQTTC_OK) {
        RUN_UNTIL(&c, 0, a->ms);
        verdict("still connected", mqttc_state(&c) == MQTTC_STATE_CONNECTED, "state %d, error %s (detail \"%s\")",
                mqttc_state(&c), mqttc_errname(mqttc_error(&c)), mqttc_error_detail(&c));
        verdict("messages that came", b.count == a->messages, "%d, want %d (last on %s)", b.count, a->messages,
                b.topic);
        if (b.count) printf("    last message: %s %.*s\n", b.topic, (int)b.len, (const char *)b.data);
        end_cleanly(&c);
    }
    mqttc_deinit(&c);
    free(b.data);
}

/* A connect given up while a stage's handshake waits (a proxy or a server that says
   nothing): deinit, or disconnect and the loop's end, frees all of it (Valgrind checks). */
static void scenario_abort(const args *a) {
    mqttc_client c;
    mqttc_options o;
    inbox b = {0};
    options(a, &o, &b);
    CHECK_RC(mqttc_init(&c, &o), MQTTC_OK);
    int rc = dial_start(&c, a);
    verdict("the connect started", rc == MQTTC_OK, "%s", mqttc_errname(rc));
    RUN_UNTIL(&c, 0, a->ms);
    verdict("still in the handshake", mqttc_state(&c) != MQTTC_STATE_CONNECTED && mqttc_error(&c) == MQTTC_OK,
            "state %d, error %s", mqttc_state(&c), mqttc_errname(mqttc_error(&c)));
    if (a->is_disconnect) {
        CHECK_RC(mqttc_disconnect(&c), MQTTC_OK);
        rc = mqttc_run(&c);
        verdict("disconnect ends the half-made connection", rc == MQTTC_ERR_DISCONNECT, "%s", mqttc_errname(rc));
    }
    mqttc_deinit(&c);
    free(b.data);
}

int main(int argc, char **argv) {
    args a;
    if (!parse(&a, argc, argv)) {
        fprintf(stderr, "usage: live_transport roundtrip|expect|hold|abort TARGET [ERROR] [OPTION...]\n");
        return 2;
    }
    if (!strcmp(a.scenario, "roundtrip")) scenario_roundtrip(&a);
    else if (!strcmp(a.scenario, "expect")) scenario_expect(&a);
    else if (!strcmp(a.scenario, "hold")) scenario_hold(&a);
    else if (!strcmp(a.scenario, "abort")) scenario_abort(&a);
    else {
        fprintf(stderr, "unknown scenario %s\n", a.scenario);
        return 2;
    }
    free(a.ws_headers);
    return test_exit(a.scenario);
}
