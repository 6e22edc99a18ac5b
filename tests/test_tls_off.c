/* tests/test_tls_off.c - the header built WITHOUT MQTTC_WITH_OPENSSL (as by default): asking
   for TLS fails clearly, before any byte is sent, instead of connecting in plain text; and
   the TLS option fields change nothing else. (The OpenSSL build: tests/tls/test_tls.c.) */
#define _POSIX_C_SOURCE 200809L
#define MQTTC_IMPLEMENTATION
#include "mqttc.h"
#include "tests/mem_transport.h"
#include "tests/test.h"

#ifdef OPENSSL_VERSION_NUMBER
#error "the default build must not include OpenSSL"
#endif

TEST(secure_is_refused_at_init) {
    mqttc_client c;
    mqttc_options o;
    memset(&o, 0, sizeof o);
    o.secure = 1;
    CHECK_EQ_INT(mqttc_init(&c, &o), MQTTC_ERR_ARG);
    mqttc_deinit(&c);
}

/* A tls_ field on a connection that is not TLS is refused at connect, naming the field, and
   nothing is sent (a URL's scheme may make a connection TLS, so init cannot know). */
TEST(tls_fields_without_secure_are_refused) {
    mqttc_client c;
    mqttc_options o;
    mem_link l;
    const char *fields[] = {"options.tls_ca_file", "options.tls_verify"};
    for (int i = 0; i < 2; i++) {
        memset(&o, 0, sizeof o);
        memset(&l, 0, sizeof l);
        if (i == 0) o.tls_ca_file = "ca.crt";
        else o.tls_verify = 1;
        CHECK_EQ_INT(mqttc_init(&c, &o), MQTTC_OK);
        mqttc_transport t = mem_transport(&l);
        CHECK_EQ_INT(mqttc_start_transport(&c, &t, 0), MQTTC_ERR_ARG);
        CHECK(strcmp(mqttc_bad_arg(&c), fields[i]) == 0);
        CHECK_EQ_INT((int)l.out_len, 0);
        CHECK_EQ_INT(mqttc_state(&c), MQTTC_STATE_CLOSED);
        mqttc_deinit(&c);
        mem_free(&l);
    }
    memset(&o, 0, sizeof o);
    o.tls_key_file = "key.pem"; /* a key without its certificate: refused at once */
    CHECK_EQ_INT(mqttc_init(&c, &o), MQTTC_ERR_ARG);
    CHECK(strcmp(mqttc_bad_arg(&c), "options.tls_key_file") == 0);
    mqttc_deinit(&c);
}

/* A client with the default options beside an in-memory link, not started on it yet. */
typedef struct linked_client {
    mqttc_client c;
    mem_link link;
    mqttc_transport t; /* over link */
} linked_client;

static void linked_client_init(linked_client *l) {
    memset(&l->link, 0, sizeof l->link);
    l->t = mem_transport(&l->link);
    CHECK_EQ_INT(mqttc_init(&l->c, NULL), MQTTC_OK);
}

static void linked_client_free(linked_client *l) {
    mqttc_deinit(&l->c);
    mem_free(&l->link);
}

/* Options set after init (the struct is the caller's to copy, not to change later, but a
   copy made by hand must not slip through either): the connect refuses and sends nothing. */
TEST(secure_set_after_init_is_refused_at_connect) {
    linked_client l;
    linked_client_init(&l);
    l.c.opt.secure = 1;
    CHECK_EQ_INT(mqttc_start_transport(&l.c, &l.t, 0), MQTTC_ERR_ARG);
    CHECK_EQ_INT(l.link.out_len, 0);
    CHECK_EQ_INT(l.link.closed, 1);
#ifndef MQTTC_NO_SOCKETS
    CHECK_EQ_INT(mqttc_connect_start(&l.c, "127.0.0.1", 1, 0), MQTTC_ERR_ARG);
#endif
    linked_client_free(&l);
}

TEST(a_plain_connection_is_unchanged) {
    linked_client l;
    linked_client_init(&l);
    CHECK_EQ_INT(mqttc_start_transport(&l.c, &l.t, 0), MQTTC_OK);
    CHECK_EQ_INT(mqttc_state(&l.c), MQTTC_STATE_CONNACK_WAIT);
    CHECK(l.link.out_len > 0 && l.link.out[0] == 0x10); /* CONNECT, in the clear */
    CHECK(l.c.stages.tls == NULL);
    linked_client_free(&l);
}

int main(void) {
    (void)mem_feed;
    (void)mem_next_sent;
    RUN(secure_is_refused_at_init);
    RUN(tls_fields_without_secure_are_refused);
    RUN(secure_set_after_init_is_refused_at_connect);
    RUN(a_plain_connection_is_unchanged);
    return test_report();
}
