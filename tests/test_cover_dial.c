/* tests/test_cover_dial.c - dialling and the blocking calls over real loopback sockets:
   what the client dials again after a loss (the first broker kept as given, a URL with its
   login, options.brokers in each of its forms, entries it cannot dial), the URL login's
   scope, mqttc_tcp_transport's arguments, and the blocking section (mqttc_connect to a
   closed port, mqttc_wait's extra descriptor, the wake-up pipe of a client shared between
   threads). The brokers here are the test itself: listening sockets it accepts on and
   answers from the same thread between steps, with a fake clock for the client. */
#define _POSIX_C_SOURCE 200809L
#define MQTTC_IMPLEMENTATION
#include "mqttc.h"
#include "tests/hostile.h"
#include "tests/test.h"
#include "tests/loopback_broker.h"

#include <arpa/inet.h>
#include <limits.h>
#include <pthread.h>
#include <stdlib.h>

/* on_status: the errors of the attempts that failed, in order */
typedef struct seen {
    int errors[32], n, lost;
} seen;
static void on_status(mqttc_client *c, const mqttc_status *s, void *user) {
    seen *v = (seen *)user;
    (void)c;
    if (s->event == MQTTC_EVENT_CONNECT_FAILED && v->n < 32) v->errors[v->n++] = s->error;
    if (s->event == MQTTC_EVENT_CONNECTION_LOST) v->lost++;
}

static void init_redialling(mqttc_client *c, mqttc_options *o, seen *v) {
    memset(v, 0, sizeof *v);
    o->client_id = "cover-dial";
    o->reconnect_min_ms = 10;
    o->reconnect_max_ms = 20;
    o->on_status = on_status;
    o->user = v;
    CHECK_RC(mqttc_init(c, o), MQTTC_OK);
}

/* A URL's login goes with that URL on every dial to it, unescaped, and never to another
   broker of the list; options.username wins over it. */
TEST(url_login_stays_with_its_url) {
    srv a, b;
    CHECK(srv_listen(&a, 0) == 0);
    CHECK(srv_listen(&b, 0) == 0);
    char url[128], other[64];
    snprintf(url, sizeof url, "mqtt://us%%65r:p%%3Ass@127.0.0.1:%d", a.port);
    snprintf(other, sizeof other, "127.0.0.1:%d", b.port);
    const char *brokers[] = {other, NULL};
    mqttc_options o;
    memset(&o, 0, sizeof o);
    o.brokers = brokers;
    mqttc_client c;
    seen v;
    uint64_t now = 0;
    init_redialling(&c, &o, &v);
    CHECK_RC(mqttc_connect_url(&c, url, now), MQTTC_OK);
    srv_session(&a, &c, &now, "user", "p:ss");
    srv_drop(&a); /* lost: the next attempt goes to options.brokers[0], without the login */
    srv_session(&b, &c, &now, NULL, NULL);
    CHECK(v.lost == 1);
    mqttc_deinit(&c);

    /* a user name without a password; then options.username first */
    snprintf(url, sizeof url, "mqtt://bob@127.0.0.1:%d", a.port);
    memset(&o, 0, sizeof o);
    init_redialling(&c, &o, &v);
    CHECK_RC(mqttc_connect_url(&c, url, now), MQTTC_OK);
    srv_session(&a, &c, &now, "bob", NULL);
    mqttc_deinit(&c);
    memset(&o, 0, sizeof o);
    o.username = "carol";
    init_redialling(&c, &o, &v);
    CHECK_RC(mqttc_connect_url(&c, url, now), MQTTC_OK);
    srv_session(&a, &c, &now, "carol", NULL);
    mqttc_deinit(&c);

    /* a login that does not unescape is the URL's fault, found before anything is dialled */
    memset(&o, 0, sizeof o);
    init_redialling(&c, &o, &v);
    snprintf(url, sizeof url, "mqtt://bob:%%zz@127.0.0.1:%d", a.port);
    CHECK_RC(mqttc_connect_url(&c, url, now), MQTTC_ERR_ARG);
    CHECK(strcmp(mqttc_bad_arg(&c), "url") == 0);
    CHECK_EQ_INT(mqttc_state(&c), MQTTC_STATE_IDLE);
    mqttc_deinit(&c);
    srv_free(&a);
    srv_free(&b);
}

/* Dialling a URL with a login again (reconnect to target 0) sends the same login. It once
   failed with MQTTC_ERR_ARG: mqttc__target parsed the URL kept in the subs pool in place,
   and keeping its login changed that pool, moving the bytes the parsed login pointed into;
   the kept URL is now parsed from a copy. */
TEST(a_url_login_survives_a_redial) {
    srv a;
    CHECK(srv_listen(&a, 0) == 0);
    char url[128];
    snprintf(url, sizeof url, "mqtt://us%%65r:p%%3Ass@127.0.0.1:%d", a.port);
    mqttc_options o;
    memset(&o, 0, sizeof o);
    mqttc_client c;
    seen v;
    uint64_t now = 0;
    init_redialling(&c, &o, &v);
    CHECK_RC(mqttc_connect_url(&c, url, now), MQTTC_OK);
    srv_session(&a, &c, &now, "user", "p:ss");
    srv_drop(&a); /* lost: the next attempt dials the same URL */
    srv_session(&a, &c, &now, "user", "p:ss");
    CHECK_EQ_INT(v.n, 0); /* no failed attempt */
    mqttc_deinit(&c);
    srv_free(&a);
}

/* options.brokers in each form: "host:port", "[v6]:port", a bare host (the first broker's
   port), a URL; entries that cannot be dialled ("[v6" unclosed, a port out of range or not
   a number) are failed attempts, and the round goes on to the next. */
TEST(brokers_in_every_form) {
    srv a, b, six;
    CHECK(srv_listen(&a, 0) == 0);
    CHECK(srv_listen(&b, 0) == 0);
    int has_v6 = srv_listen(&six, 1) == 0;
    char e_b[64], e_six[64], e_url[64];
    snprintf(e_b, sizeof e_b, "127.0.0.1:%d", b.port);
    snprintf(e_six, sizeof e_six, has_v6 ? "[::1]:%d" : "127.0.0.1:%d", has_v6 ? six.port : b.port);
    snprintf(e_url, sizeof e_url, "mqtt://127.0.0.1:%d", b.port);
    const char *brokers[] = {e_b, e_six, "127.0.0.1", "[::1", "127.0.0.1:70000", "127.0.0.1:12x", e_url, NULL};
    mqttc_options o;
    memset(&o, 0, sizeof o);
    o.brokers = brokers;
    mqttc_client c;
    seen v;
    uint64_t now = 0;
    init_redialling(&c, &o, &v);
    CHECK_RC(mqttc_connect_start(&c, "127.0.0.1", a.port, now), MQTTC_OK);
    srv_session(&a, &c, &now, NULL, NULL);
    srv_drop(&a);
    srv_session(&b, &c, &now, NULL, NULL); /* "127.0.0.1:port" */
    srv_drop(&b);
    srv_session(has_v6 ? &six : &b, &c, &now, NULL, NULL); /* "[::1]:port" */
    srv_drop(has_v6 ? &six : &b);
    srv_session(&a, &c, &now, NULL, NULL); /* "127.0.0.1": the first broker's port */
    srv_drop(&a);
    int before = v.n;
    srv *order[] = {&a, &b};
    CHECK_EQ_INT(srv_accept_any(order, 2, &c, &now), 1); /* the three bad ones failed: the URL */
    CHECK_EQ_INT(v.n - before, 3);
    for (int i = before; i < v.n; i++) CHECK_RC(v.errors[i], MQTTC_ERR_ARG);
    mqttc_deinit(&c);
    srv_free(&a);
    srv_free(&b);
    if (has_v6) srv_free(&six);
}

/* A failover round where a broker cannot be resolved or reached: a failed attempt, then
   the next. mqttc_set_retry while waiting: -1 stops dialling. */
TEST(unreachable_broker_is_a_failed_attempt) {
    srv a, closed;
    CHECK(srv_listen(&a, 0) == 0);
    CHECK(srv_listen(&closed, 0) == 0);
    char e_closed[64];
    snprintf(e_closed, sizeof e_closed, "127.0.0.1:%d", closed.port);
    srv_free(&closed); /* nobody listens there now */
    const char *brokers[] = {e_closed, "no-such-host.invalid:1883", NULL};
    mqttc_options o;
    memset(&o, 0, sizeof o);
    o.brokers = brokers;
    mqttc_client c;
    seen v;
    uint64_t now = 0;
    init_redialling(&c, &o, &v);
    CHECK_RC(mqttc_connect_start(&c, "127.0.0.1", a.port, now), MQTTC_OK);
    srv_session(&a, &c, &now, NULL, NULL);
    srv_drop(&a);
    srv_session(&a, &c, &now, NULL, NULL); /* both others failed, the round came back */
    CHECK_EQ_INT(v.n, 2);
    CHECK_RC(v.errors[0], MQTTC_ERR_CANNOTCONNECT);
    CHECK_RC(v.errors[1], MQTTC_ERR_CANNOTRESOLVE);
    srv_drop(&a);
    for (int i = 0; i < 500 && mqttc_state(&c) != MQTTC_STATE_WAITING; i++) {
        (void)mqttc_step(&c, now);
        poll(NULL, 0, 1);
    }
    CHECK_EQ_INT(mqttc_state(&c), MQTTC_STATE_WAITING);
    mqttc_set_retry(&c, -1);
    CHECK_EQ_INT(mqttc_state(&c), MQTTC_STATE_CLOSED);
    mqttc_deinit(&c);
    srv_free(&a);
}

TEST(tcp_transport_arguments) {
    mqttc_transport t;
    CHECK_RC(mqttc_tcp_transport(NULL, 0), MQTTC_ERR_ARG);
    CHECK_RC(mqttc_tcp_transport(&t, -1), MQTTC_ERR_ARG);
    int p[2];
    CHECK(pipe(p) == 0);
    int bad = p[0];
    close(p[0]);
    close(p[1]);
    CHECK_RC(mqttc_tcp_transport(&t, bad), MQTTC_ERR_IO); /* not an open descriptor */
}

/* The TCP stage's calls on a connected stream (a socketpair): nothing to read and a full
   send buffer are "would block" (OK, 0 bytes); the peer's EOF, its reset (it closed with
   our bytes unread) and a write to a closed peer are closed; a descriptor that is not a
   socket is an I/O error. */
TEST(tcp_stage_reads_and_writes) {
    int sv[2];
    CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
    mqttc_transport t;
    unsigned char buf[4096];
    size_t n = 99;
    CHECK_RC(mqttc_tcp_transport(&t, sv[0]), MQTTC_OK);
    CHECK_RC(t.recv(&t, buf, sizeof buf, &n), MQTTC_OK);
    CHECK_EQ_INT(n, 0);
    memset(buf, 'x', sizeof buf);
    size_t total = 0;
    for (int i = 0; i < 100000; i++) {
        CHECK_RC(t.send(&t, buf, sizeof buf, &n), MQTTC_OK);
        if (n == 0) break;
        total += n;
    }
    CHECK(total > 0);
    CHECK_EQ_INT(n, 0); /* the buffer filled: would block */
    CHECK(write(sv[1], "hi", 2) == 2);
    CHECK_RC(t.recv(&t, buf, sizeof buf, &n), MQTTC_OK);
    CHECK_EQ_INT(n, 2);
    close(sv[1]); /* with our bytes unread: a reset */
    int rc = t.recv(&t, buf, sizeof buf, &n);
    CHECK_MSG(rc == MQTTC_ERR_CLOSED, "%s", mqttc_errname(rc));
    CHECK_RC(t.send(&t, buf, 10, &n), MQTTC_ERR_CLOSED);
    t.close(&t);

    CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
    CHECK_RC(mqttc_tcp_transport(&t, sv[0]), MQTTC_OK);
    close(sv[1]); /* nothing unread: EOF */
    CHECK_RC(t.recv(&t, buf, sizeof buf, &n), MQTTC_ERR_CLOSED);
    t.close(&t);

    int p[2];
    CHECK(pipe(p) == 0);
    CHECK_RC(mqttc_tcp_transport(&t, p[0]), MQTTC_OK);
    CHECK_RC(t.recv(&t, buf, sizeof buf, &n), MQTTC_ERR_IO); /* not a socket */
    CHECK_RC(t.send(&t, buf, 1, &n), MQTTC_ERR_IO);
    t.close(&t);
    close(p[1]);
}

/* An address no socket may connect to (the broadcast address): the dial fails at once, a
   failed connect like any other. */
TEST(an_address_that_cannot_be_dialled) {
    mqttc_options o;
    memset(&o, 0, sizeof o);
    o.client_id = "cover-broadcast";
    mqttc_client c;
    CHECK_RC(mqttc_init(&c, &o), MQTTC_OK);
    int rc = mqttc_connect_start(&c, "255.255.255.255", 1883, 0);
    for (int i = 0; i < 100 && rc == MQTTC_OK && mqttc_state(&c) != MQTTC_STATE_CLOSED; i++) {
        (void)mqttc_step(&c, (uint64_t)i);
        poll(NULL, 0, 1);
    }
    CHECK_EQ_INT(mqttc_state(&c), MQTTC_STATE_CLOSED);
    CHECK_RC(mqttc_error(&c), MQTTC_ERR_CANNOTCONNECT);
    mqttc_deinit(&c);
}

/* ---- the blocking section ---- */

/* HB_CONNACK_OK without a compound literal (whose life ends with the statement in C++) */
#define CONNACK_STEP {HB_OP_SEND, 0, 0, TEST_CONNACK_OK, sizeof TEST_CONNACK_OK, 0}

TEST(blocking_connect_to_a_closed_port) {
    srv s;
    CHECK(srv_listen(&s, 0) == 0);
    int port = s.port;
    srv_free(&s);
    mqttc_options o;
    memset(&o, 0, sizeof o);
    o.client_id = "cover-closed";
    mqttc_client c;
    CHECK_RC(mqttc_init(&c, &o), MQTTC_OK);
    CHECK_RC(mqttc_run(&c), MQTTC_ERR_STATE); /* never started */
    CHECK_RC(mqttc_run_for(&c, 10), MQTTC_ERR_STATE);
    CHECK_RC(mqttc_connect(&c, "127.0.0.1", port), MQTTC_ERR_CANNOTCONNECT);
    CHECK_EQ_INT(mqttc_state(&c), MQTTC_STATE_CLOSED);
    CHECK_RC(mqttc_wait(&c, 10, -1), MQTTC_ERR_STATE); /* closed: nothing to wait for */
    CHECK_RC(mqttc_connect_wait(&c), MQTTC_ERR_CANNOTCONNECT); /* the sticky error */
    mqttc_deinit(&c);
}

/* mqttc_wait's extra descriptor: 1 when it is readable, 0 on the deadline. */
TEST(wait_reports_the_extra_descriptor) {
    const hb_step script[] = {HB_EXPECT(MQTTC_CONNECT, 0), CONNACK_STEP, HB_EXPECT(MQTTC_DISCONNECT, 0), HB_DONE};
    hb_broker b;
    CHECK(hb_start(&b, script, 0) == 0);
    mqttc_options o;
    memset(&o, 0, sizeof o);
    o.client_id = "cover-wait";
    mqttc_client c;
    CHECK_RC(mqttc_init(&c, &o), MQTTC_OK);
    CHECK_RC(mqttc_connect(&c, "127.0.0.1", b.port), MQTTC_OK);
    int p[2];
    CHECK(pipe(p) == 0);
    uint64_t t0 = mqttc_now_ms();
    CHECK_EQ_INT(mqttc_wait(&c, 30, p[0]), 0);
    CHECK(mqttc_now_ms() - t0 >= 25);
    CHECK(write(p[1], "x", 1) == 1);
    CHECK_EQ_INT(mqttc_wait(&c, 5000, p[0]), 1);
    CHECK(mqttc_now_ms() - t0 < 4000);
    CHECK_RC(mqttc_run_for(&c, 20), MQTTC_OK);
    CHECK_EQ_INT(mqttc_state(&c), MQTTC_STATE_CONNECTED);
    CHECK_RC(mqttc_disconnect(&c), MQTTC_OK);
    CHECK_RC(mqttc_run(&c), MQTTC_ERR_DISCONNECT);
    close(p[0]);
    close(p[1]);
    mqttc_deinit(&c);
    hb_finish(&b);
    CHECK_MSG(b.failure[0] == 0, "%s", b.failure);
}

/* A client shared between threads (lock hooks): mqttc_run sleeps in poll; another thread's
   calls wake it through the pipe, so a publish, a pause and the disconnect take effect at
   once, not at the next keepalive. */
static pthread_mutex_t lock_m;
static void lk(void *u) { (void)u; pthread_mutex_lock(&lock_m); }
static void unlk(void *u) { (void)u; pthread_mutex_unlock(&lock_m); }
typedef struct runner {
    mqttc_client *c;
    int rc;
} runner;
static void *run_thread(void *arg) {
    runner *r = (runner *)arg;
    r->rc = mqttc_run(r->c);
    return NULL;
}

TEST(run_is_woken_by_other_threads) {
    const hb_step script[] = {HB_EXPECT(MQTTC_CONNECT, 0), CONNACK_STEP, HB_EXPECT(MQTTC_PUBLISH, 0),
                                     HB_EXPECT(MQTTC_DISCONNECT, 0), HB_DONE};
    hb_broker b;
    pthread_mutexattr_t attr;
    pthread_mutexattr_init(&attr);
    pthread_mutexattr_settype(&attr, PTHREAD_MUTEX_RECURSIVE);
    pthread_mutex_init(&lock_m, &attr);
    CHECK(hb_start(&b, script, 0) == 0);
    mqttc_options o;
    memset(&o, 0, sizeof o);
    o.client_id = "cover-threads";
    o.keepalive_s = 600; /* nothing else would wake the loop for ten minutes */
    o.lock = lk;
    o.unlock = unlk;
    mqttc_client c;
    CHECK_RC(mqttc_init(&c, &o), MQTTC_OK);
    CHECK_RC(mqttc_connect(&c, "127.0.0.1", b.port), MQTTC_OK);
    runner r = {&c, 1};
    pthread_t th;
    uint64_t t0 = mqttc_now_ms();
    CHECK(pthread_create(&th, NULL, run_thread, &r) == 0);
    poll(NULL, 0, 50);
    mqttc_pause(&c, 1);
    mqttc_pause(&c, 0); /* wakes the loop: it reads again */
    CHECK_RC(mqttc_publish(&c, "t", "x", 1, 0, 0, NULL), MQTTC_OK);
    poll(NULL, 0, 50);
    CHECK_RC(mqttc_disconnect(&c), MQTTC_OK);
    pthread_join(th, NULL);
    CHECK_RC(r.rc, MQTTC_ERR_DISCONNECT);
    CHECK(mqttc_now_ms() - t0 < 10000);
    mqttc_deinit(&c); /* closes the pipe (Valgrind: no descriptor or memory left) */
    hb_finish(&b);
    CHECK_MSG(b.failure[0] == 0, "%s", b.failure);
    pthread_mutex_destroy(&lock_m);
    pthread_mutexattr_destroy(&attr);
}

/* The blocking calls from inside a callback would re-enter the dispatch: refused (STATE),
   and the message still counts once. */
typedef struct inner_calls {
    int connect_wait, run, run_for, calls;
} inner_calls;
static void call_blocking(mqttc_client *c, const mqttc_message *m, void *user) {
    inner_calls *k = (inner_calls *)user;
    (void)m;
    k->calls++;
    k->connect_wait = mqttc_connect_wait(c);
    k->run = mqttc_run(c);
    k->run_for = mqttc_run_for(c, 10);
}

TEST(blocking_calls_inside_a_callback_are_refused) {
    mqttc_client c;
    mem_link l;
    memset(&l, 0, sizeof l);
    inner_calls k = {0, 0, 0, 0};
    mqttc_options o;
    memset(&o, 0, sizeof o);
    o.client_id = "cover-inside";
    o.on_message = call_blocking;
    o.user = &k;
    test_connect(&c, &l, &o);
    test_feed_publish(&l, "t", "x", 0, 0);
    CHECK_RC(mqttc_step(&c, 1), MQTTC_OK);
    CHECK_EQ_INT(k.calls, 1);
    CHECK_RC(k.connect_wait, MQTTC_ERR_STATE);
    CHECK_RC(k.run, MQTTC_ERR_STATE);
    CHECK_RC(k.run_for, MQTTC_ERR_STATE);
    CHECK_EQ_INT(mqttc_state(&c), MQTTC_STATE_CONNECTED);
    mqttc_deinit(&c);
    mem_free(&l);
    CHECK_RC(mqttc_init(&c, &o), MQTTC_OK);
    CHECK_RC(mqttc_connect(&c, "127.0.0.1", 70000), MQTTC_ERR_ARG); /* the start's own refusal */
    mqttc_deinit(&c);
}

/* mqttc_wait while WAITING to dial again (no connection, no descriptor of its own): its
   deadline is the next attempt, 49 days away (mqttc_timeout_ms says poll's longest, 24
   days); the extra descriptor still wakes it, readable or hung up. Connected without a
   keepalive (no deadline at all), a max_ms beyond poll's range is cut to it. */
static mem_link wait_link;
static int wait_redial(mqttc_client *c, mqttc_transport *t, void *user) {
    (void)c; (void)user;
    *t = mem_transport(&wait_link);
    return MQTTC_OK;
}

TEST(wait_while_waiting_to_dial_again) {
    mqttc_client c;
    mem_link l;
    memset(&l, 0, sizeof l);
    memset(&wait_link, 0, sizeof wait_link);
    mqttc_options o;
    memset(&o, 0, sizeof o);
    o.client_id = "cover-waiting";
    o.reconnect_min_ms = o.reconnect_max_ms = 4294967295u; /* 49 days */
    o.reconnect_transport = wait_redial;
    o.no_keepalive = 1;
    test_connect(&c, &l, &o);
    l.is_eof = 1;
    (void)mqttc_step(&c, mqttc_now_ms()); /* mqttc_wait reads the real clock */
    CHECK_EQ_INT(mqttc_state(&c), MQTTC_STATE_WAITING);
    CHECK_EQ_INT(mqttc_timeout_ms(&c, mqttc_now_ms()), 0x7fffffffL);
    int p[2];
    CHECK(pipe(p) == 0);
    CHECK(write(p[1], "x", 1) == 1);
    uint64_t t0 = mqttc_now_ms();
    CHECK_EQ_INT(mqttc_wait(&c, -1, p[0]), 1);
    CHECK_EQ_INT(mqttc_wait(&c, 20, -1), 0); /* its own deadline, cut to max_ms */
    close(p[1]);
    char b;
    CHECK(read(p[0], &b, 1) == 1);
    CHECK_EQ_INT(mqttc_wait(&c, -1, p[0]), 1); /* hung up */
    CHECK(mqttc_now_ms() - t0 < 5000);
    close(p[0]);
    mqttc_set_retry(&c, 0); /* now */
    mem_feed(&wait_link, TEST_CONNACK_OK, sizeof TEST_CONNACK_OK);
    for (int i = 0; i < 5 && mqttc_state(&c) != MQTTC_STATE_CONNECTED; i++) (void)mqttc_step(&c, mqttc_now_ms());
    CHECK_EQ_INT(mqttc_state(&c), MQTTC_STATE_CONNECTED);
    CHECK_EQ_INT(mqttc_timeout_ms(&c, mqttc_now_ms()), -1);
    CHECK(pipe(p) == 0);
    CHECK(write(p[1], "x", 1) == 1);
    CHECK_EQ_INT(mqttc_wait(&c, LONG_MAX, p[0]), 1); /* (LONG_MAX: beyond an int on LP64) */
    close(p[0]);
    close(p[1]);
    mqttc_deinit(&c);
    mem_free(&l);
    mem_free(&wait_link);
}

int main(void) {
    RUN(url_login_stays_with_its_url);
    RUN(a_url_login_survives_a_redial);
    RUN(brokers_in_every_form);
    RUN(unreachable_broker_is_a_failed_attempt);
    RUN(tcp_transport_arguments);
    RUN(tcp_stage_reads_and_writes);
    RUN(an_address_that_cannot_be_dialled);
    RUN(blocking_connect_to_a_closed_port);
    RUN(wait_reports_the_extra_descriptor);
    RUN(run_is_woken_by_other_threads);
    RUN(blocking_calls_inside_a_callback_are_refused);
    RUN(wait_while_waiting_to_dial_again);
    return test_report();
}
