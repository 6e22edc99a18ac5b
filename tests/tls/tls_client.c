/* tests/tls/tls_client.c - TLS scenarios over real sockets, run by tests/t_tls.sh (under
   Valgrind) against a private mosquitto with TLS listeners and tests/tls/tls_server.py.
   Usage: tls_client SCENARIO PORT CERTDIR [FLAGS...]
     pubsub     the seed's example 3 in C: TLS, credentials, will, keepalive; subscribe,
                publish QoS 1 and receive it, through the blocking calls
     expect     PORT CERTDIR E [FLAGS]: connect and expect the error named E ("ok": success)
     adopt      TCP connected here, handed over with mqttc_adopt_fd, then TLS and pubsub
     eventloop  mqttc_connect_start and a poll(2) loop of our own (fd, events, timeout, step)
     stall      a server that never answers: "timeout" after connect_timeout_ms
   FLAGS: --user U --pass P --ca FILE --capath DIR --cert FILE --key FILE --name NAME
          --verify --insecure --host HOST --timeout-ms N
   Prints what it checks; exits 0 only when every check held. */
#define _POSIX_C_SOURCE 200809L
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>
#define MQTTC_WITH_OPENSSL
#define MQTTC_IMPLEMENTATION
#include "mqttc.h"
#include "../test.h"

static int port;
static const char *host = "localhost";
static char paths[4][512];

static int received;
static char last_payload[64];

static void on_message(mqttc_client *c, const mqttc_message *m, void *user) {
    (void)c; (void)user;
    received++;
    snprintf(last_payload, sizeof last_payload, "%.*s", (int)m->payload_len, (const char *)m->payload);
}

/* The options from the command line; the CA is CERTDIR/ca.crt unless --ca or --capath. */
static void parse_flags(mqttc_options *o, const char *certs, int argc, char **argv) {
    memset(o, 0, sizeof *o);
    o->secure = 1;
    o->on_message = on_message;
    o->connect_timeout_ms = 20000; /* Valgrind on a shared machine: generous */
    snprintf(paths[0], sizeof paths[0], "%s/ca.crt", certs);
    o->tls_ca_file = paths[0];
    for (int i = 0; i < argc; i++) {
        const char *f = argv[i];
        if (!strcmp(f, "--verify")) { o->tls_verify = 1; continue; }
        if (!strcmp(f, "--insecure")) { o->tls_insecure_skip_hostname_check = 1; continue; }
        if (i + 1 == argc) { fprintf(stderr, "%s needs a value\n", f); exit(2); }
        const char *v = argv[++i];
        if (!strcmp(f, "--user")) o->username = v;
        else if (!strcmp(f, "--pass")) { o->password = v; o->password_len = strlen(v); }
        else if (!strcmp(f, "--ca")) o->tls_ca_file = v;
        else if (!strcmp(f, "--capath")) { o->tls_ca_file = NULL; o->tls_ca_path = v; }
        else if (!strcmp(f, "--cert")) o->tls_cert_file = v;
        else if (!strcmp(f, "--key")) o->tls_key_file = v;
        else if (!strcmp(f, "--name")) o->tls_server_name = v;
        else if (!strcmp(f, "--host")) host = v;
        else if (!strcmp(f, "--timeout-ms")) o->connect_timeout_ms = (unsigned)atoi(v);
        else { fprintf(stderr, "unknown flag %s\n", f); exit(2); }
    }
}

/* Subscribe, publish QoS 1 to ourselves, and wait for it; then a graceful end. */
static void roundtrip(mqttc_client *c, const char *topic) {
    unsigned short id;
    received = 0;
    CHECK_RC(mqttc_subscribe(c, topic, 1, NULL, NULL, NULL, NULL), MQTTC_OK);
    CHECK_RC(mqttc_publish(c, topic, "over tls", 8, 1, 0, &id), MQTTC_OK);
    for (int i = 0; i < 200 && received == 0 && mqttc_state(c) == MQTTC_STATE_CONNECTED; i++)
        CHECK_RC(mqttc_run_for(c, 100), MQTTC_OK);
    CHECK(received == 1);
    CHECK(strcmp(last_payload, "over tls") == 0);
    CHECK(mqttc_inflight(c) == 0);
    CHECK_RC(mqttc_disconnect(c), MQTTC_OK);
    CHECK_RC(mqttc_run(c), MQTTC_ERR_DISCONNECT);
    printf("  connected, published QoS 1 and received it, disconnected\n");
}

static void scenario_pubsub(mqttc_options *o) {
    mqttc_client c;
    o->client_id = "my-unique-id";
    o->keepalive_s = 5 * 60;
    o->will_topic = "whoops";
    o->will_payload = "Someone unplugged my cable!";
    o->will_payload_len = strlen("Someone unplugged my cable!");
    CHECK_RC(mqttc_init(&c, o), MQTTC_OK);
    CHECK_RC(mqttc_connect(&c, host, port), MQTTC_OK);
    if (mqttc_state(&c) == MQTTC_STATE_CONNECTED) roundtrip(&c, "tls/pubsub");
    mqttc_deinit(&c);
}

static int errcode(const char *name) {
    if (!strcmp(name, "ok")) return MQTTC_OK;
    for (int e = MQTTC_OK; e > -100; e--)
        if (!strcmp(mqttc_errname(e), name)) return e;
    fprintf(stderr, "unknown error name %s\n", name);
    exit(2);
}

static void scenario_expect(mqttc_options *o, const char *name) {
    mqttc_client c;
    CHECK_RC(mqttc_init(&c, o), MQTTC_OK);
    int rc = mqttc_connect(&c, host, port);
    CHECK_RC(rc, errcode(name));
    CHECK(mqttc_fd(&c) == (rc == MQTTC_OK ? c.tr.fd : -1));
    printf("  connect: %s\n", mqttc_errname(rc));
    if (rc == MQTTC_OK) {
        CHECK_RC(mqttc_disconnect(&c), MQTTC_OK);
        CHECK_RC(mqttc_run(&c), MQTTC_ERR_DISCONNECT);
    }
    mqttc_deinit(&c);
}

/* The seed's example 4: a socket connected by someone else (a proxy), then TLS over it. */
static void scenario_adopt(mqttc_options *o) {
    mqttc_client c;
    int fd = test_tcp_socket(port, 0, 0); /* blocking: "the proxy" */
    CHECK(fd >= 0);
    CHECK_RC(mqttc_init(&c, o), MQTTC_OK);
    CHECK_RC(mqttc_adopt_fd(&c, fd, mqttc_now_ms()), MQTTC_OK);
    CHECK(mqttc_state(&c) == MQTTC_STATE_HANDSHAKE || mqttc_state(&c) == MQTTC_STATE_CONNACK_WAIT);
    CHECK(mqttc_fd(&c) == fd);
    while (mqttc_state(&c) != MQTTC_STATE_CONNECTED && mqttc_state(&c) != MQTTC_STATE_CLOSED) mqttc_run_for(&c, 100);
    CHECK_RC(mqttc_error(&c), MQTTC_OK);
    if (mqttc_state(&c) == MQTTC_STATE_CONNECTED) roundtrip(&c, "tls/adopt");
    mqttc_deinit(&c);
}

/* One round of an application's own loop: poll what the client asks for, then step. */
static int poll_once(mqttc_client *c) {
    struct pollfd p;
    long ms = mqttc_timeout_ms(c, mqttc_now_ms());
    p = test_pollfd(c);
    if (poll(&p, 1, ms < 0 || ms > 1000 ? 1000 : (int)ms) < 0) return MQTTC_ERR_IO;
    return mqttc_step(c, mqttc_now_ms());
}

static void scenario_eventloop(mqttc_options *o) {
    mqttc_client c;
    int rc, handshake_rounds = 0;
    CHECK_RC(mqttc_init(&c, o), MQTTC_OK);
    CHECK_RC(mqttc_connect_start(&c, "127.0.0.1", port, mqttc_now_ms()), MQTTC_OK);
    do {
        handshake_rounds += mqttc_state(&c) == MQTTC_STATE_HANDSHAKE;
        rc = poll_once(&c);
    } while (rc == MQTTC_OK && mqttc_state(&c) != MQTTC_STATE_CONNECTED);
    CHECK_RC(rc, MQTTC_OK);
    /* (how many rounds the handshake takes depends on scheduling: a preempted client may
       find the server's whole answer waiting; tests/tls/test_tls.c counts them exactly) */
    received = 0;
    CHECK_RC(mqttc_subscribe(&c, "tls/loop", 0, NULL, NULL, NULL, NULL), MQTTC_OK);
    CHECK_RC(mqttc_publish(&c, "tls/loop", "over tls", 8, 0, 0, NULL), MQTTC_OK);
    for (int i = 0; i < 200 && received == 0 && rc == MQTTC_OK; i++) rc = poll_once(&c);
    CHECK(received == 1);
    CHECK_RC(mqttc_disconnect(&c), MQTTC_OK);
    while ((rc = poll_once(&c)) == MQTTC_OK) {}
    CHECK_RC(rc, MQTTC_ERR_DISCONNECT);
    printf("  %d handshake rounds in the loop, message received, disconnected\n", handshake_rounds);
    mqttc_deinit(&c);
}

static void scenario_stall(mqttc_options *o) {
    mqttc_client c;
    CHECK_RC(mqttc_init(&c, o), MQTTC_OK);
    uint64_t t0 = mqttc_now_ms();
    CHECK_RC(mqttc_connect(&c, host, port), MQTTC_ERR_TIMEOUT);
    uint64_t ms = mqttc_now_ms() - t0;
    CHECK(ms >= o->connect_timeout_ms);
    CHECK(ms < o->connect_timeout_ms + 5000u);
    printf("  timeout after %llu ms (connect_timeout_ms %u)\n", (unsigned long long)ms, o->connect_timeout_ms);
    mqttc_deinit(&c);
}

int main(int argc, char **argv) {
    mqttc_options o;
    if (argc < 4) {
        fprintf(stderr, "usage: tls_client SCENARIO PORT CERTDIR [FLAGS]\n");
        return 2;
    }
    port = atoi(argv[2]);
    const char *s = argv[1];
    int skip = !strcmp(s, "expect") ? 1 : 0; /* expect takes the error name first */
    if (skip && argc < 5) return 2;
    parse_flags(&o, argv[3], argc - 4 - skip, argv + 4 + skip);
    if (!strcmp(s, "pubsub")) scenario_pubsub(&o);
    else if (!strcmp(s, "expect")) scenario_expect(&o, argv[4]);
    else if (!strcmp(s, "adopt")) scenario_adopt(&o);
    else if (!strcmp(s, "eventloop")) scenario_eventloop(&o);
    else if (!strcmp(s, "stall")) scenario_stall(&o);
    else { fprintf(stderr, "unknown scenario %s\n", s); return 2; }
    return test__current_failed ? 1 : 0;
}
