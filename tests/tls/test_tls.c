/* tests/tls/test_tls.c - the TLS transport against an in-process OpenSSL server, over the
   in-memory link of tests/mem_transport.h and a fake clock: no socket, no sleep.
   Built with MQTTC_WITH_OPENSSL by mk/tls.mk (make test) as build/test_tls; certificates
   come from tests/tls/make-certs.sh at start. The server side is a scripted broker: it
   answers CONNECT with CONNACK and records every application byte it receives, so "no
   byte of CONNECT left the client" is checked where it matters, on the server. */
#ifndef _GNU_SOURCE /* (g++ defines it) */
#define _GNU_SOURCE /* RTLD_NEXT: SSL_read needing to write, on demand (see below) */
#endif
#define _POSIX_C_SOURCE 200809L
#define MQTTC_WITH_OPENSSL
#define MQTTC_IMPLEMENTATION
#include "mqttc.h"
#include "tests/test.h"
#include <arpa/inet.h>
#include <dlfcn.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <stdlib.h>
#include <unistd.h>

static char certs[64];  /* the directory make-certs.sh filled */
static char paths[12][128];

static const char *cert_path(const char *name) { /* "server.crt" -> DIR/server.crt */
    static int next;
    char *p = paths[next++ % 12];
    snprintf(p, sizeof paths[0], "%s/%s", certs, name);
    return p;
}

/* ---- the server: an OpenSSL server SSL over memory BIOs, fed from the link ---- */

typedef struct tls_server {
    SSL_CTX *ctx;
    SSL *ssl;
    BIO *in, *out;          /* in: bytes from the client; out: bytes to the client */
    mem_link link;          /* the client's transport */
    size_t seen;            /* link.out bytes already moved into `in` */
    unsigned char app[1 << 16];
    size_t app_len, parsed; /* application bytes received; how many were parsed */
    int is_silent;          /* never answers: a stalled handshake */
    int handshake_done, handshake_failed, got_close_notify;
    int connects, publishes, disconnects;
    char username[32];
} tls_server;

static void server_init(tls_server *s, const char *cert, const char *key, int wants_client_cert) {
    memset(s, 0, sizeof *s);
    s->ctx = SSL_CTX_new(TLS_server_method());
    CHECK(SSL_CTX_use_certificate_chain_file(s->ctx, cert_path(cert)) == 1);
    CHECK(SSL_CTX_use_PrivateKey_file(s->ctx, cert_path(key), SSL_FILETYPE_PEM) == 1);
    if (wants_client_cert) {
        SSL_CTX_load_verify_locations(s->ctx, cert_path("ca.crt"), NULL);
        SSL_CTX_set_verify(s->ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
    }
    s->ssl = SSL_new(s->ctx);
    s->in = BIO_new(BIO_s_mem());
    s->out = BIO_new(BIO_s_mem());
    SSL_set_bio(s->ssl, s->in, s->out);
    SSL_set_accept_state(s->ssl);
}

static void server_free(tls_server *s) {
    SSL_free(s->ssl);
    SSL_CTX_free(s->ctx);
    mem_free(&s->link);
}

static void server_flush(tls_server *s) {
    unsigned char buf[4096];
    int n;
    while ((n = BIO_read(s->out, buf, sizeof buf)) > 0) mem_feed(&s->link, buf, (size_t)n);
}

static void server_send(tls_server *s, const void *p, size_t n) {
    CHECK_EQ_INT(SSL_write(s->ssl, p, (int)n), n);
    server_flush(s);
}

static void server_send_connack(tls_server *s) {
    unsigned char b[4];
    size_t n;
    mqttc_connack_info ca = {0, 0, {NULL, 0, NULL, 0}};
    mqttc_encode_connack(b, sizeof b, MQTTC_PROTOCOL_311, &ca, &n);
    server_send(s, b, n);
}

/* The scripted broker: CONNECT gets CONNACK; the rest is counted. */
static void server_parse(tls_server *s) {
    mqttc_packet p;
    size_t used;
    while (mqttc_decode(s->app + s->parsed, s->app_len - s->parsed, 0, MQTTC_PROTOCOL_311, &p, &used) == MQTTC_OK) {
        s->parsed += used;
        if (p.type == MQTTC_CONNECT) {
            s->connects++;
            snprintf(s->username, sizeof s->username, "%.*s", (int)p.connect.username.len,
                     p.connect.username.ptr ? p.connect.username.ptr : "");
            server_send_connack(s);
        }
        if (p.type == MQTTC_PUBLISH) s->publishes++;
        if (p.type == MQTTC_DISCONNECT) s->disconnects++;
    }
}

/* Moves what the client sent into the server, runs it, and sends its answers back. */
static void server_pump(tls_server *s) {
    if (s->link.out_len > s->seen) {
        BIO_write(s->in, s->link.out + s->seen, (int)(s->link.out_len - s->seen));
        s->seen = s->link.out_len;
    }
    if (s->is_silent || s->handshake_failed) return;
    if (!s->handshake_done) {
        int r = SSL_do_handshake(s->ssl);
        if (r == 1) s->handshake_done = 1;
        else if (SSL_get_error(s->ssl, r) != SSL_ERROR_WANT_READ) s->handshake_failed = 1;
        ERR_clear_error();
    }
    while (s->handshake_done && s->app_len < sizeof s->app) {
        int r = SSL_read(s->ssl, s->app + s->app_len, (int)(sizeof s->app - s->app_len));
        if (r <= 0) {
            s->got_close_notify |= SSL_get_error(s->ssl, r) == SSL_ERROR_ZERO_RETURN;
            ERR_clear_error();
            break;
        }
        s->app_len += (size_t)r;
    }
    server_flush(s);
    server_parse(s);
}

/* ---- the client ---- */

static int messages_received;
static size_t bytes_received;

static void on_message(mqttc_client *c, const mqttc_message *m, void *user) {
    (void)c; (void)user;
    messages_received++;
    bytes_received += m->payload_len;
}

static mqttc_options trusting_options(const char *name) {
    mqttc_options o;
    memset(&o, 0, sizeof o);
    o.client_id = "tls-test";
    o.secure = 1;
    o.tls_ca_file = cert_path("ca.crt");
    o.tls_server_name = name;
    o.on_message = on_message;
    o.connect_timeout_ms = 5000;
    return o;
}

static void with_credentials(mqttc_options *o) {
    o->username = "alice";
    o->password = "secret";
    o->password_len = 6;
}

static int start(mqttc_client *c, const mqttc_options *o, tls_server *s) {
    mqttc_transport t = mem_transport(&s->link);
    int rc = mqttc_init(c, o);
    if (rc == MQTTC_OK) rc = mqttc_start_transport(c, &t, 0);
    return rc;
}

/* Steps the client and the server in turn until the client is connected or closed. */
static int drive(mqttc_client *c, tls_server *s, uint64_t now) {
    for (int i = 0; i < 50; i++) {
        server_pump(s);
        mqttc_step(c, now);
        if (mqttc_state(c) == MQTTC_STATE_CONNECTED || mqttc_state(c) == MQTTC_STATE_CLOSED) break;
    }
    server_pump(s);
    return mqttc_state(c) == MQTTC_STATE_CONNECTED ? MQTTC_OK : mqttc_error(c);
}

/* Connects to a server holding cert/key with options o; returns the client's verdict. */
static int connect_to(const char *cert, const char *key, const mqttc_options *o, tls_server *s, mqttc_client *c) {
    server_init(s, cert, key, 0);
    s->link.read_chunk = 7; /* partial reads and writes all along */
    s->link.write_chunk = 5;
    int rc = start(c, o, s);
    return rc == MQTTC_OK ? drive(c, s, 1) : rc;
}

/* ---- ALPN: options.tls_alpn offers the protocols in the handshake (RFC 7301) ---- */

static int alpn_pick_mqtt(SSL *ssl, const unsigned char **out, unsigned char *outlen, const unsigned char *in,
                          unsigned inlen, void *arg) {
    (void)ssl;
    *(int *)arg = (int)inlen; /* what the client offered, in wire form */
    for (unsigned i = 0; i < inlen; i += 1u + in[i])
        if (in[i] == 4 && memcmp(in + i + 1, "mqtt", 4) == 0) {
            *out = in + i + 1;
            *outlen = 4;
            return SSL_TLSEXT_ERR_OK;
        }
    return SSL_TLSEXT_ERR_NOACK;
}

TEST(alpn_protocols_are_offered) {
    tls_server s;
    mqttc_client c;
    int offered = 0;
    mqttc_options o = trusting_options("localhost");
    o.tls_alpn = "x-amzn-mqtt-ca,mqtt";
    server_init(&s, "server.crt", "server.key", 0);
    SSL_CTX_set_alpn_select_cb(s.ctx, alpn_pick_mqtt, &offered);
    CHECK_EQ_INT(start(&c, &o, &s), MQTTC_OK);
    CHECK_EQ_INT(drive(&c, &s, 1), MQTTC_OK);
    const unsigned char *chosen = NULL;
    unsigned chosen_len = 0;
    SSL_get0_alpn_selected(s.ssl, &chosen, &chosen_len);
    CHECK_EQ_INT((int)chosen_len, 4);
    CHECK(chosen && memcmp(chosen, "mqtt", 4) == 0);
    CHECK_EQ_INT(offered, 1 + 14 + 1 + 4); /* both names, each after its length */
    mqttc_deinit(&c);
    server_free(&s);
    o.tls_alpn = "mqtt,,x"; /* an empty name is no list */
    CHECK_EQ_INT(mqttc_init(&c, &o), MQTTC_ERR_ARG);
    CHECK(strcmp(mqttc_bad_arg(&c), "options.tls_alpn") == 0);
    mqttc_deinit(&c);
}

/* ---- the trust rule ---- */

TEST(credentials_go_to_a_trusted_server) {
    tls_server s;
    mqttc_client c;
    mqttc_options o = trusting_options("localhost");
    with_credentials(&o);
    CHECK_EQ_INT(connect_to("server.crt", "server.key", &o, &s, &c), MQTTC_OK);
    CHECK_EQ_INT(s.connects, 1);
    CHECK(strcmp(s.username, "alice") == 0);
    CHECK_EQ_INT(mqttc_publish(&c, "t/x", "hello", 5, 0, 0, NULL), MQTTC_OK);
    unsigned char pub[32];
    size_t n;
    mqttc_str topic = {"t/y", 3};
    n = test_publish_bytes(pub, sizeof pub, topic.ptr, "back", 4, 0, 0, 0, 0);
    messages_received = 0;
    server_send(&s, pub, n);
    drive(&c, &s, 2);
    mqttc_step(&c, 2);
    server_pump(&s);
    CHECK_EQ_INT(s.publishes, 1);
    CHECK_EQ_INT(messages_received, 1);
    mqttc_deinit(&c);
    server_free(&s);
}

/* [the seed] "The client will not send any credentials to the broker if the broker's
   certificate is not trusted": the handshake completes, then nothing. */
TEST(untrusted_chain_with_credentials_is_cert_and_sends_nothing) {
    tls_server s;
    mqttc_client c;
    mqttc_options o = trusting_options("localhost");
    with_credentials(&o);
    CHECK_EQ_INT(connect_to("selfsigned.crt", "selfsigned.key", &o, &s, &c), MQTTC_ERR_CERT);
    CHECK(s.handshake_done); /* the check came after the handshake, not instead of it */
    CHECK_EQ_INT(s.app_len, 0);
    CHECK(s.link.closed == 1);
    mqttc_deinit(&c);
    server_free(&s);
}

TEST(wrong_host_name_with_credentials_is_cn_and_sends_nothing) {
    tls_server s;
    mqttc_client c;
    mqttc_options o = trusting_options("localhost");
    with_credentials(&o);
    CHECK_EQ_INT(connect_to("wronghost.crt", "wronghost.key", &o, &s, &c), MQTTC_ERR_CN);
    CHECK(s.handshake_done);
    CHECK_EQ_INT(s.app_len, 0);
    mqttc_deinit(&c);
    server_free(&s);
}

TEST(addresses_are_checked_against_the_certificates_ip_entries) {
    tls_server s;
    mqttc_client c;
    mqttc_options o = trusting_options("127.0.0.1");
    with_credentials(&o);
    CHECK_EQ_INT(connect_to("server.crt", "server.key", &o, &s, &c), MQTTC_OK);
    mqttc_deinit(&c);
    server_free(&s);
    o.tls_server_name = "127.0.0.2";
    CHECK_EQ_INT(connect_to("server.crt", "server.key", &o, &s, &c), MQTTC_ERR_CN);
    CHECK_EQ_INT(s.app_len, 0);
    mqttc_deinit(&c);
    server_free(&s);
}

/* Without a name to compare (an adopted socket, no tls_server_name) credentials are not
   sent: a chain alone does not say whose server it is. */
TEST(no_name_with_credentials_is_cn) {
    tls_server s;
    mqttc_client c;
    mqttc_options o = trusting_options(NULL);
    with_credentials(&o);
    CHECK_EQ_INT(connect_to("server.crt", "server.key", &o, &s, &c), MQTTC_ERR_CN);
    CHECK_EQ_INT(s.app_len, 0);
    mqttc_deinit(&c);
    server_free(&s);
}

TEST(untrusted_chain_without_credentials_connects) { /* the seed's rule */
    tls_server s;
    mqttc_client c;
    mqttc_options o = trusting_options("localhost");
    CHECK_EQ_INT(connect_to("selfsigned.crt", "selfsigned.key", &o, &s, &c), MQTTC_OK);
    CHECK_EQ_INT(s.connects, 1);
    mqttc_deinit(&c);
    server_free(&s);
}

TEST(forced_verification_without_credentials_is_cert) {
    tls_server s;
    mqttc_client c;
    mqttc_options o = trusting_options("localhost");
    o.tls_verify = 1;
    CHECK_EQ_INT(connect_to("selfsigned.crt", "selfsigned.key", &o, &s, &c), MQTTC_ERR_CERT);
    CHECK_EQ_INT(s.app_len, 0);
    mqttc_deinit(&c);
    server_free(&s);
    CHECK_EQ_INT(connect_to("wronghost.crt", "wronghost.key", &o, &s, &c), MQTTC_ERR_CN);
    mqttc_deinit(&c);
    server_free(&s);
}

TEST(skipping_the_host_name_check_still_checks_the_chain) {
    tls_server s;
    mqttc_client c;
    mqttc_options o = trusting_options("localhost");
    with_credentials(&o);
    o.tls_insecure_skip_hostname_check = 1;
    CHECK_EQ_INT(connect_to("wronghost.crt", "wronghost.key", &o, &s, &c), MQTTC_OK);
    mqttc_deinit(&c);
    server_free(&s);
    CHECK_EQ_INT(connect_to("selfsigned.crt", "selfsigned.key", &o, &s, &c), MQTTC_ERR_CERT);
    CHECK_EQ_INT(s.app_len, 0);
    mqttc_deinit(&c);
    server_free(&s);
}

/* ---- the handshake inside the step and deadline machinery ---- */

TEST(a_stalled_handshake_times_out) {
    tls_server s;
    mqttc_client c;
    mqttc_options o = trusting_options("localhost");
    server_init(&s, "server.crt", "server.key", 0);
    s.is_silent = 1;
    CHECK_EQ_INT(start(&c, &o, &s), MQTTC_OK);
    CHECK_EQ_INT(mqttc_state(&c), MQTTC_STATE_HANDSHAKE);
    CHECK(s.link.out_len > 0); /* the ClientHello left */
    CHECK_EQ_INT(mqttc_events(&c), MQTTC_EV_READ);
    CHECK_EQ_INT(mqttc_timeout_ms(&c, 1000), 4000);
    CHECK_EQ_INT(mqttc_step(&c, 4999), MQTTC_OK);
    CHECK_EQ_INT(mqttc_step(&c, 5000), MQTTC_ERR_TIMEOUT);
    CHECK_EQ_INT(s.link.closed, 1);
    mqttc_deinit(&c);
    server_free(&s);
}

/* A TLS record is decrypted whole; what does not fit the client's buffer stays inside
   OpenSSL, invisible to poll. An application that steps only when the socket is readable
   or mqttc_timeout_ms says 0 must still get every message of a burst. */
TEST(decrypted_bytes_left_in_openssl_are_read_without_new_input) {
    tls_server s;
    mqttc_client c;
    mqttc_options o = trusting_options("localhost");
    static unsigned char mem[4096]; /* a 1 KiB receive buffer: 16 reads hold less than a record */
    o.mem = mem;
    o.mem_size = sizeof mem;
    o.no_keepalive = 1;
    CHECK_EQ_INT(connect_to("server.crt", "server.key", &o, &s, &c), MQTTC_OK);
    s.link.read_chunk = s.link.write_chunk = 0;
    /* 109-byte packets, as many as fill 14 records of 16 KiB: the last record is full too */
    enum { packet_size = 109, count = 14 * 16384 / packet_size };
    static unsigned char burst[count * packet_size];
    size_t len = 0, n;
    char payload[100];
    memset(payload, 'p', sizeof payload);
    mqttc_str topic = {"burst", 5};
    for (int i = 0; i < count; i++) {
        n = test_publish_bytes(burst + len, sizeof burst - len, topic.ptr, payload, sizeof payload, 0, 0, 0, 0);
        len += n;
    }
    messages_received = 0;
    server_send(&s, burst, len);
    int steps = 0, unseen_steps = 0;
    for (;;) { /* the poll loop: step when the "socket" is readable or the timeout is 0 */
        int readable = s.link.in_len > 0;
        long ms = mqttc_timeout_ms(&c, 10);
        if (!readable && ms != 0) break;
        unseen_steps += !readable;
        CHECK_EQ_INT(mqttc_step(&c, 10), MQTTC_OK);
        if (++steps > 10000) break;
    }
    CHECK_EQ_INT(len, sizeof burst);
    CHECK_EQ_INT(messages_received, count);
    CHECK(unseen_steps > 0); /* the case arose: bytes only OpenSSL held */
    CHECK_EQ_INT(mqttc_timeout_ms(&c, 10), -1);
    mqttc_deinit(&c);
    server_free(&s);
}

/* A handshake that cannot write waits for writability, one that waits for the server for
   readability: mqttc_events follows the handshake's own wishes. */
TEST(the_handshake_asks_for_the_events_it_waits_for) {
    tls_server s;
    mqttc_client c;
    mqttc_options o = trusting_options("localhost");
    server_init(&s, "server.crt", "server.key", 0);
    s.link.write_stalled = 1;
    CHECK_EQ_INT(start(&c, &o, &s), MQTTC_OK);
    CHECK_EQ_INT(mqttc_state(&c), MQTTC_STATE_HANDSHAKE);
    CHECK_EQ_INT(mqttc_events(&c), MQTTC_EV_WRITE);
    CHECK_EQ_INT(s.link.out_len, 0);
    s.link.write_stalled = 0;
    CHECK_EQ_INT(mqttc_step(&c, 1), MQTTC_OK);
    CHECK(s.link.out_len > 0); /* the ClientHello */
    CHECK_EQ_INT(mqttc_events(&c), MQTTC_EV_READ);
    CHECK_EQ_INT(drive(&c, &s, 2), MQTTC_OK);
    mqttc_deinit(&c);
    server_free(&s);
}

/* TLS 1.3 KeyUpdate from the server, asking for one back: the client answers before its
   next application data, and both sides go on with new keys. */
TEST(a_key_update_from_the_server_is_followed) {
    tls_server s;
    mqttc_client c;
    mqttc_options o = trusting_options("localhost");
    o.no_keepalive = 1;
    CHECK_EQ_INT(connect_to("server.crt", "server.key", &o, &s, &c), MQTTC_OK);
    CHECK_EQ_INT(SSL_version(s.ssl), TLS1_3_VERSION);
    CHECK(SSL_key_update(s.ssl, SSL_KEY_UPDATE_REQUESTED) == 1);
    unsigned char pingresp[2] = {0xD0, 0x00}; /* carries the update; harmless */
    server_send(&s, pingresp, 2);
    CHECK_EQ_INT(mqttc_step(&c, 5), MQTTC_OK);
    CHECK_EQ_INT(mqttc_publish(&c, "after/update", "x", 1, 0, 0, NULL), MQTTC_OK);
    server_pump(&s);
    CHECK_EQ_INT(s.publishes, 1);
    unsigned char pub[32];
    size_t n;
    mqttc_str topic = {"t/y", 3};
    n = test_publish_bytes(pub, sizeof pub, topic.ptr, "back", 4, 0, 0, 0, 0);
    messages_received = 0;
    server_send(&s, pub, n);
    CHECK_EQ_INT(mqttc_step(&c, 6), MQTTC_OK);
    CHECK_EQ_INT(messages_received, 1);
    mqttc_deinit(&c);
    server_free(&s);
}

/* ---- a read that must write ---- */

/* The server's KeyUpdate asks for ours (update_requested) while the client's socket takes
   no bytes (its send buffer full): OpenSSL 3 takes the update in SSL_read and leaves our
   KeyUpdate for the next write (it does not write inside SSL_read), so the PUBLISH behind
   the update is delivered at once, once, and the next write carries our update: both
   directions go on under the new keys. */
static int last_len;
static char last_payload[64];
static void on_message_kept(mqttc_client *c, const mqttc_message *m, void *user) {
    (void)c; (void)user;
    messages_received++;
    last_len = (int)m->payload_len;
    snprintf(last_payload, sizeof last_payload, "%.*s", (int)m->payload_len, (const char *)m->payload);
}

TEST(a_key_update_asked_for_while_the_send_buffer_is_full) {
    tls_server s;
    mqttc_client c;
    mqttc_options o = trusting_options("localhost");
    o.no_keepalive = 1;
    o.on_message = on_message_kept;
    CHECK_EQ_INT(connect_to("server.crt", "server.key", &o, &s, &c), MQTTC_OK);
    CHECK_EQ_INT(SSL_version(s.ssl), TLS1_3_VERSION);
    s.link.read_chunk = s.link.write_chunk = 0;
    s.link.write_stalled = 1; /* the socket's send buffer is full */
    CHECK(SSL_key_update(s.ssl, SSL_KEY_UPDATE_REQUESTED) == 1);
    unsigned char pub[64];
    size_t n = test_publish_bytes(pub, sizeof pub, "t/kx", "behind the update", 17, 0, 0, 0, 0);
    messages_received = 0;
    server_send(&s, pub, n);
    size_t sent_before = s.link.out_len;
    CHECK_RC(mqttc_step(&c, 10), MQTTC_OK);
    CHECK_RC(mqttc_step(&c, 11), MQTTC_OK);
    CHECK_EQ_INT(mqttc_state(&c), MQTTC_STATE_CONNECTED);
    CHECK_EQ_INT(messages_received, 1);
    CHECK(strcmp(last_payload, "behind the update") == 0);
    CHECK_EQ_INT(last_len, 17);
    CHECK_EQ_INT(s.link.out_len, sent_before);
    s.link.write_stalled = 0;
    CHECK_EQ_INT(mqttc_publish(&c, "after/update", "x", 1, 0, 0, NULL), MQTTC_OK);
    CHECK(s.link.out_len > sent_before);
    server_pump(&s);
    CHECK_EQ_INT(s.publishes, 1);
    n = test_publish_bytes(pub, sizeof pub, "t/kx", "again", 5, 0, 0, 0, 0);
    server_send(&s, pub, n);
    CHECK_RC(mqttc_step(&c, 12), MQTTC_OK);
    CHECK_EQ_INT(messages_received, 2);
    CHECK(strcmp(last_payload, "again") == 0);
    mqttc_deinit(&c);
    server_free(&s);
}

/* So SSL_read's SSL_ERROR_WANT_WRITE (which OpenSSL may give for a read that must write:
   a renegotiation in other libraries' settings, older OpenSSL's KeyUpdate) is made on
   demand here: while armed, the client's SSL_read (never the server's) on a link whose
   writes stall reports it (-1, then SSL_get_error says WANT_WRITE), as OpenSSL would while
   its write cannot leave; once the link takes bytes, the real SSL_read runs. These two
   definitions take the place of libssl's for this program (mqttc.h is compiled in it). */
static SSL *want_write_spared;    /* the server's SSL */
static mem_link *want_write_link; /* armed: the client's link */
static int want_write_faked, faked_last;

int SSL_read(SSL *ssl, void *buf, int num) {
    static int (*real)(SSL *, void *, int);
    if (!real) *(void **)&real = dlsym(RTLD_NEXT, "SSL_read");
    faked_last = want_write_link && ssl != want_write_spared && want_write_link->write_stalled;
    if (faked_last) {
        want_write_faked++;
        return -1;
    }
    return real(ssl, buf, num);
}

int SSL_get_error(const SSL *ssl, int ret) {
    static int (*real)(const SSL *, int);
    if (!real) *(void **)&real = dlsym(RTLD_NEXT, "SSL_get_error");
    if (faked_last && ssl != want_write_spared && ret <= 0) return SSL_ERROR_WANT_WRITE;
    return real(ssl, ret);
}

/* The client waits for POLLOUT (mqttc_poll_events) and neither delivers nor fails
   meanwhile; once writable it reads on: the PUBLISH waiting is delivered once, whole, and
   what comes after it too. */
TEST(a_read_that_must_write_waits_for_pollout) {
    tls_server s;
    mqttc_client c;
    mqttc_options o = trusting_options("localhost");
    o.no_keepalive = 1;
    o.on_message = on_message_kept;
    CHECK_EQ_INT(connect_to("server.crt", "server.key", &o, &s, &c), MQTTC_OK);
    s.link.read_chunk = s.link.write_chunk = 0;
    CHECK_EQ_INT(mqttc_poll_events(&c), POLLIN); /* idle: only reading */
    want_write_spared = s.ssl;
    want_write_link = &s.link;
    want_write_faked = 0;
    s.link.write_stalled = 1;
    unsigned char pub[64];
    size_t n = test_publish_bytes(pub, sizeof pub, "t/ww", "waited for", 10, 0, 0, 0, 0);
    messages_received = 0;
    server_send(&s, pub, n);
    for (int i = 0; i < 3; i++) {
        CHECK_RC(mqttc_step(&c, 10 + (uint64_t)i), MQTTC_OK);
        CHECK_EQ_INT(mqttc_state(&c), MQTTC_STATE_CONNECTED);
        CHECK_MSG(mqttc_poll_events(&c) & POLLOUT, "events %#x: not waiting to write", (unsigned)mqttc_poll_events(&c));
        CHECK_EQ_INT(mqttc_timeout_ms(&c, 10 + (uint64_t)i), -1); /* no busy loop: poll decides */
        CHECK_EQ_INT(messages_received, 0);
    }
    CHECK(want_write_faked >= 3);
    s.link.write_stalled = 0; /* POLLOUT: writable */
    n = test_publish_bytes(pub, sizeof pub, "t/ww", "and after", 9, 0, 0, 0, 0);
    server_send(&s, pub, n);
    CHECK_RC(mqttc_step(&c, 20), MQTTC_OK);
    CHECK_EQ_INT(messages_received, 1); /* the one that waited: a TLS record a read */
    CHECK(strcmp(last_payload, "waited for") == 0);
    CHECK_EQ_INT(mqttc_poll_events(&c), POLLIN); /* no longer waiting to write */
    CHECK_RC(mqttc_step(&c, 21), MQTTC_OK);
    CHECK_EQ_INT(messages_received, 2);
    CHECK(strcmp(last_payload, "and after") == 0);
    CHECK_RC(mqttc_step(&c, 22), MQTTC_OK);
    CHECK_EQ_INT(messages_received, 2); /* nothing twice */
    CHECK_EQ_INT(mqttc_publish(&c, "t/out", "x", 1, 0, 0, NULL), MQTTC_OK);
    server_pump(&s);
    CHECK_EQ_INT(s.publishes, 1);
    want_write_link = NULL;
    want_write_spared = NULL;
    mqttc_deinit(&c);
    server_free(&s);
}

/* ---- client certificates, closing, reconnecting ---- */

TEST(a_client_certificate_is_presented_when_asked) {
    tls_server s;
    mqttc_client c;
    mqttc_options o = trusting_options("localhost");
    o.tls_cert_file = cert_path("client.crt");
    o.tls_key_file = cert_path("client.key");
    server_init(&s, "server.crt", "server.key", 1);
    CHECK_EQ_INT(start(&c, &o, &s), MQTTC_OK);
    CHECK_EQ_INT(drive(&c, &s, 1), MQTTC_OK);
    X509 *peer = SSL_get1_peer_certificate(s.ssl);
    CHECK(peer != NULL);
    X509_free(peer);
    mqttc_deinit(&c);
    server_free(&s);
}

/* TLS 1.3: the server refuses a missing certificate after the client's side of the
   handshake ended; the client learns it at its first read, before any application byte. */
TEST(a_server_wanting_a_certificate_refuses_none_with_sslhandshake) {
    tls_server s;
    mqttc_client c;
    mqttc_options o = trusting_options("localhost");
    server_init(&s, "server.crt", "server.key", 1);
    CHECK_EQ_INT(start(&c, &o, &s), MQTTC_OK);
    CHECK_EQ_INT(drive(&c, &s, 1), MQTTC_ERR_SSLHANDSHAKE);
    CHECK(s.handshake_failed);
    CHECK_EQ_INT(s.connects, 0);
    mqttc_deinit(&c);
    server_free(&s);
}

/* The same refusal when the client's first write (CONNECT) meets the server's reset before
   any read: the alert still waits in the socket, and is what the client reports. */
static tls_server *refusing_server;
static mqttc_client *refused_client;

static int send_into_reset(mqttc_transport *t, const unsigned char *buf, size_t len, size_t *n) {
    if (mqttc_state(refused_client) != MQTTC_STATE_CONNACK_WAIT) return mem_send(t, buf, len, n);
    server_pump(refusing_server); /* the server judges the Finished, sends its alert, resets */
    *n = 0;
    return MQTTC_ERR_CLOSED;
}

TEST(a_refusal_met_by_the_first_write_is_sslhandshake) {
    tls_server s;
    mqttc_client c;
    mqttc_options o = trusting_options("localhost");
    server_init(&s, "server.crt", "server.key", 1);
    refusing_server = &s;
    refused_client = &c;
    mqttc_transport t = mem_transport(&s.link);
    t.send = send_into_reset;
    CHECK_EQ_INT(mqttc_init(&c, &o), MQTTC_OK);
    CHECK_EQ_INT(mqttc_start_transport(&c, &t, 0), MQTTC_OK);
    CHECK_EQ_INT(drive(&c, &s, 1), MQTTC_ERR_SSLHANDSHAKE);
    CHECK(s.handshake_failed);
    CHECK(s.link.in_len == 0); /* the alert was read */
    mqttc_deinit(&c);
    server_free(&s);
}

TEST(disconnect_sends_close_notify_and_the_server_can_close_too) {
    tls_server s;
    mqttc_client c;
    mqttc_options o = trusting_options("localhost");
    CHECK_EQ_INT(connect_to("server.crt", "server.key", &o, &s, &c), MQTTC_OK);
    CHECK_EQ_INT(mqttc_disconnect(&c), MQTTC_OK);
    CHECK_EQ_INT(mqttc_step(&c, 2), MQTTC_ERR_DISCONNECT); /* the step after DISCONNECT closes */
    server_pump(&s);
    CHECK_EQ_INT(s.disconnects, 1);
    CHECK(s.got_close_notify);
    CHECK_EQ_INT(mqttc_error(&c), MQTTC_ERR_DISCONNECT);
    mqttc_deinit(&c);
    server_free(&s);

    CHECK_EQ_INT(connect_to("server.crt", "server.key", &o, &s, &c), MQTTC_OK);
    SSL_shutdown(s.ssl);
    server_flush(&s);
    CHECK_EQ_INT(mqttc_step(&c, 3), MQTTC_ERR_CLOSED);
    mqttc_deinit(&c);
    server_free(&s);
}

TEST(a_client_reconnects_over_tls_with_the_same_context) {
    tls_server s;
    mqttc_client c;
    mqttc_options o = trusting_options("localhost");
    with_credentials(&o);
    CHECK_EQ_INT(connect_to("server.crt", "server.key", &o, &s, &c), MQTTC_OK);
    mqttc_disconnect(&c);
    CHECK_EQ_INT(mqttc_step(&c, 2), MQTTC_ERR_DISCONNECT);
    server_free(&s);
    server_init(&s, "server.crt", "server.key", 0);
    mqttc_transport t = mem_transport(&s.link);
    CHECK_EQ_INT(mqttc_start_transport(&c, &t, 10), MQTTC_OK);
    CHECK_EQ_INT(drive(&c, &s, 11), MQTTC_OK);
    CHECK_EQ_INT(s.connects, 1);
    mqttc_deinit(&c);
    server_free(&s);
}

/* ---- options ---- */

TEST(bad_tls_options_are_argument_errors) {
    mqttc_client c;
    mqttc_options o = trusting_options("localhost");
    mem_link plain;
    memset(&plain, 0, sizeof plain);
    mqttc_transport pt = mem_transport(&plain);
    o.secure = 0; /* a CA file on a connection that is not TLS: never a silent plain-text one */
    CHECK_EQ_INT(mqttc_init(&c, &o), MQTTC_OK); /* (a URL's scheme may make it TLS) */
    CHECK_EQ_INT(mqttc_start_transport(&c, &pt, 0), MQTTC_ERR_ARG);
    CHECK(strcmp(mqttc_bad_arg(&c), "options.tls_ca_file") == 0);
    CHECK_EQ_INT(plain.out_len, 0);
    mqttc_deinit(&c);
    mem_free(&plain);
    o = trusting_options("localhost");
    o.tls_key_file = cert_path("client.key"); /* a key without its certificate */
    CHECK_EQ_INT(mqttc_init(&c, &o), MQTTC_ERR_ARG);
    mqttc_deinit(&c);

    mem_link link;
    memset(&link, 0, sizeof link);
    mqttc_transport t = mem_transport(&link);
    o = trusting_options("localhost");
    o.tls_ca_file = "/nonexistent/ca.crt";
    CHECK_EQ_INT(mqttc_init(&c, &o), MQTTC_OK);
    CHECK_EQ_INT(mqttc_start_transport(&c, &t, 0), MQTTC_ERR_ARG);
    CHECK(strcmp(mqttc_bad_arg(&c), "options.tls_ca_file") == 0); /* which argument */
    CHECK_EQ_INT(link.closed, 1); /* the given transport is closed, nothing was sent */
    CHECK_EQ_INT(link.out_len, 0);
    mqttc_deinit(&c);

    o = trusting_options("localhost");
    o.tls_cert_file = cert_path("client.crt");
    o.tls_key_file = cert_path("server.key"); /* not this certificate's key */
    CHECK_EQ_INT(mqttc_init(&c, &o), MQTTC_OK);
    CHECK_EQ_INT(mqttc_start_transport(&c, &t, 0), MQTTC_ERR_ARG);
    mqttc_deinit(&c);

    o = trusting_options("localhost");
    o.tls_ca_file = NULL;
    o.tls_ca_path = cert_path("capath");
    with_credentials(&o);
    tls_server s;
    CHECK_EQ_INT(connect_to("server.crt", "server.key", &o, &s, &c), MQTTC_OK); /* a CA directory */
    mqttc_deinit(&c);
    server_free(&s);
    mem_free(&link);
}

/* Each TLS option on a connection that is not TLS is named (never a silent plain-text
   connection), one at a time; ALPN lists that do not fit the wire form are refused at init. */
TEST(each_tls_option_without_tls_is_named) {
    static const char *const names[] = {"options.tls_ca_path", "options.tls_cert_file", "options.tls_server_name",
                                        "options.tls_insecure_skip_hostname_check", "options.tls_alpn"};
    for (int i = 0; i < 5; i++) {
        mqttc_client c;
        mqttc_options o;
        mem_link plain;
        memset(&o, 0, sizeof o);
        memset(&plain, 0, sizeof plain);
        o.client_id = "tls-test";
        if (i == 0) o.tls_ca_path = cert_path("capath");
        if (i == 1) o.tls_cert_file = cert_path("client.crt");
        if (i == 2) o.tls_server_name = "localhost";
        if (i == 3) o.tls_insecure_skip_hostname_check = 1;
        if (i == 4) o.tls_alpn = "mqtt";
        mqttc_transport pt = mem_transport(&plain);
        CHECK_EQ_INT(mqttc_init(&c, &o), MQTTC_OK);
        CHECK_EQ_INT(mqttc_start_transport(&c, &pt, 0), MQTTC_ERR_ARG);
        CHECK_MSG(strcmp(mqttc_bad_arg(&c), names[i]) == 0, "%s, want %s", mqttc_bad_arg(&c), names[i]);
        CHECK_EQ_INT(plain.out_len, 0);
        mqttc_deinit(&c);
        mem_free(&plain);
    }
    static char long_name[300], many[700];
    memset(long_name, 'p', 256); /* one protocol name of 256 bytes: the wire form has one length byte */
    for (int i = 0; i < 7; i++) memcpy(many + 100 * i, i ? ",ppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppp"
                                                           : "pppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppp",
                                       100); /* seven of 99: more than the 512 bytes kept */
    const char *lists[] = {long_name, many};
    for (int i = 0; i < 2; i++) {
        mqttc_client c;
        mqttc_options o = trusting_options("localhost");
        o.tls_alpn = lists[i];
        CHECK_EQ_INT(mqttc_init(&c, &o), MQTTC_ERR_ARG);
        CHECK(strcmp(mqttc_bad_arg(&c), "options.tls_alpn") == 0);
    }
}

/* Files that do not load are named before anything is sent: a client certificate that is
   not there, a key that is encrypted (no prompt on the terminal: it fails). No CA option:
   the system store is used, and a server it does not trust still gets no credentials. */
TEST(client_files_that_do_not_load_are_named) {
    char cmd[512];
    snprintf(cmd, sizeof cmd, "openssl ec -in %s -aes128 -passout pass:x -out %s 2>/dev/null", cert_path("client.key"),
             cert_path("encrypted.key"));
    CHECK(system(cmd) == 0);
    mem_link link;
    memset(&link, 0, sizeof link);
    mqttc_transport t = mem_transport(&link);
    const char *cert[] = {"/nonexistent/client.crt", cert_path("client.crt")};
    const char *key[] = {NULL, cert_path("encrypted.key")};
    const char *bad[] = {"options.tls_cert_file", "options.tls_key_file"};
    for (int i = 0; i < 2; i++) {
        mqttc_client c;
        mqttc_options o = trusting_options("localhost");
        o.tls_cert_file = cert[i];
        o.tls_key_file = key[i];
        CHECK_EQ_INT(mqttc_init(&c, &o), MQTTC_OK);
        CHECK_EQ_INT(mqttc_start_transport(&c, &t, 0), MQTTC_ERR_ARG);
        CHECK_MSG(strcmp(mqttc_bad_arg(&c), bad[i]) == 0, "%s, want %s", mqttc_bad_arg(&c), bad[i]);
        CHECK_EQ_INT(link.out_len, 0);
        mqttc_deinit(&c);
    }
    mem_free(&link);
    tls_server s;
    mqttc_client c;
    mqttc_options o = trusting_options("localhost");
    o.tls_ca_file = NULL; /* the system's CAs: ours is not among them */
    CHECK_EQ_INT(connect_to("server.crt", "server.key", &o, &s, &c), MQTTC_OK);
    mqttc_deinit(&c);
    server_free(&s);
    with_credentials(&o);
    CHECK_EQ_INT(connect_to("server.crt", "server.key", &o, &s, &c), MQTTC_ERR_CERT);
    CHECK_EQ_INT(s.app_len, 0);
    mqttc_deinit(&c);
    server_free(&s);
}

/* An empty server name names nothing: no SNI, and with credentials the name check fails
   (cn). A password alone (MQTT 5) is a credential too: an untrusted chain is cert. */
TEST(an_empty_name_and_a_password_alone) {
    tls_server s;
    mqttc_client c;
    mqttc_options o = trusting_options("");
    with_credentials(&o);
    CHECK_EQ_INT(connect_to("server.crt", "server.key", &o, &s, &c), MQTTC_ERR_CN);
    CHECK(SSL_get_servername(s.ssl, TLSEXT_NAMETYPE_host_name) == NULL);
    CHECK_EQ_INT(s.app_len, 0);
    mqttc_deinit(&c);
    server_free(&s);
    o = trusting_options("localhost");
    o.protocol_version = MQTTC_PROTOCOL_5;
    o.password = "secret";
    o.password_len = 6;
    CHECK_EQ_INT(connect_to("selfsigned.crt", "selfsigned.key", &o, &s, &c), MQTTC_ERR_CERT);
    CHECK_EQ_INT(s.app_len, 0);
    mqttc_deinit(&c);
    server_free(&s);
}

/* The inner transport's own error comes through OpenSSL unchanged: in the handshake it is
   a failed handshake; once the session is up, the error itself (io), or closed for EOF. */
TEST(the_inner_transports_errors_come_through) {
    tls_server s;
    mqttc_client c;
    mqttc_options o = trusting_options("localhost");
    server_init(&s, "server.crt", "server.key", 0);
    CHECK_EQ_INT(start(&c, &o, &s), MQTTC_OK);
    server_pump(&s);
    s.link.fail_with = MQTTC_ERR_IO;
    CHECK_EQ_INT(drive(&c, &s, 1), MQTTC_ERR_SSLHANDSHAKE);
    mqttc_deinit(&c);
    server_free(&s);
    int errors[] = {MQTTC_ERR_IO, MQTTC_ERR_CLOSED};
    for (int i = 0; i < 2; i++) {
        CHECK_EQ_INT(connect_to("server.crt", "server.key", &o, &s, &c), MQTTC_OK);
        if (i == 0) s.link.fail_with = MQTTC_ERR_IO;
        else s.link.is_eof = 1;
        for (int k = 0; k < 5 && mqttc_state(&c) != MQTTC_STATE_CLOSED; k++) (void)mqttc_step(&c, 2);
        CHECK_EQ_INT(mqttc_state(&c), MQTTC_STATE_CLOSED);
        CHECK_MSG(mqttc_error(&c) == errors[i], "%s, want %s", mqttc_errname(mqttc_error(&c)), mqttc_errname(errors[i]));
        mqttc_deinit(&c);
        server_free(&s);
    }
}

/* Port 0 means 8883 with TLS (1883 without): seen in the address the TCP stage, below the
   TLS stage, connects to. */
TEST(the_default_port_is_8883) {
    mqttc_client c;
    mqttc_options o = trusting_options("localhost");
    CHECK_EQ_INT(mqttc_init(&c, &o), MQTTC_OK);
    CHECK_EQ_INT(mqttc_connect_start(&c, "127.0.0.1", 0, 0), MQTTC_OK);
    CHECK(c.tr.handshake == mqttc__tls_handshake);
    struct addrinfo *ai = (struct addrinfo *)((mqttc__tls_conn *)c.tr.ctx)->inner.slot[0];
    CHECK(ai != NULL && ai->ai_family == AF_INET);
    if (ai) CHECK_EQ_INT(ntohs(((struct sockaddr_in *)(void *)ai->ai_addr)->sin_port), 8883);
    mqttc_deinit(&c);
    o.secure = 0;
    o.tls_ca_file = o.tls_server_name = NULL;
    CHECK_EQ_INT(mqttc_init(&c, &o), MQTTC_OK);
    CHECK_EQ_INT(mqttc_connect_start(&c, "127.0.0.1", 0, 0), MQTTC_OK);
    CHECK(c.tr.handshake == mqttc__tcp_handshake); /* no TLS stage */
    ai = (struct addrinfo *)c.tr.slot[0];
    CHECK(ai != NULL);
    if (ai) CHECK_EQ_INT(ntohs(((struct sockaddr_in *)(void *)ai->ai_addr)->sin_port), 1883);
    mqttc_deinit(&c);
}

int main(void) {
    char cmd[256];
    (void)mem_next_sent; /* the server decodes what it decrypted instead */
    snprintf(certs, sizeof certs, "/tmp/mqttc-tls-test.%ld", (long)getpid());
    snprintf(cmd, sizeof cmd, "bash tests/tls/make-certs.sh %s", certs);
    if (system(cmd) != 0) {
        fprintf(stderr, "make-certs.sh failed (run from the repository root)\n");
        return 1;
    }
    RUN(credentials_go_to_a_trusted_server);
    RUN(untrusted_chain_with_credentials_is_cert_and_sends_nothing);
    RUN(wrong_host_name_with_credentials_is_cn_and_sends_nothing);
    RUN(addresses_are_checked_against_the_certificates_ip_entries);
    RUN(no_name_with_credentials_is_cn);
    RUN(untrusted_chain_without_credentials_connects);
    RUN(forced_verification_without_credentials_is_cert);
    RUN(skipping_the_host_name_check_still_checks_the_chain);
    RUN(a_stalled_handshake_times_out);
    RUN(decrypted_bytes_left_in_openssl_are_read_without_new_input);
    RUN(the_handshake_asks_for_the_events_it_waits_for);
    RUN(a_key_update_from_the_server_is_followed);
    RUN(a_key_update_asked_for_while_the_send_buffer_is_full);
    RUN(a_read_that_must_write_waits_for_pollout);
    RUN(a_client_certificate_is_presented_when_asked);
    RUN(a_server_wanting_a_certificate_refuses_none_with_sslhandshake);
    RUN(a_refusal_met_by_the_first_write_is_sslhandshake);
    RUN(disconnect_sends_close_notify_and_the_server_can_close_too);
    RUN(a_client_reconnects_over_tls_with_the_same_context);
    RUN(alpn_protocols_are_offered);
    RUN(bad_tls_options_are_argument_errors);
    RUN(the_default_port_is_8883);
    RUN(each_tls_option_without_tls_is_named);
    RUN(client_files_that_do_not_load_are_named);
    RUN(an_empty_name_and_a_password_alone);
    RUN(the_inner_transports_errors_come_through);
    snprintf(cmd, sizeof cmd, "rm -rf %s", certs);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", certs);
    return test_report();
}
