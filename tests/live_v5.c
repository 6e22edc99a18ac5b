/* tests/live_v5.c - MQTT 5 against a real mosquitto 2.0 on 127.0.0.1, run by tests/t_live5.sh
   (under Valgrind), which starts a private mosquitto with the limit a scenario is about:
       live_v5 SCENARIO PORT
   Each check is named after what the spec asks ([MQTT-x.y.z-n]) and prints "ok - NAME" or
   "not ok - NAME" with what was found; the program exits 0 only when every check held.
   Several mqttc clients live in one process and are stepped together (spin); what each
   sent and received is watched through options.on_trace, so the checks see the wire. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>
#define MQTTC_IMPLEMENTATION
#include "mqttc.h"
#include "test.h"

static int port;

/* What one client did and saw: its callbacks' and its trace's counts. */
enum { MAX_NUM = 600, MAX_ALIAS = 16 };
typedef struct peer {
    mqttc_client c;
    mqttc_options o;
    int is_init;
    uint64_t connected_ms;
    /* options.on_message, on_published, on_status */
    int messages, published, last_ack_type, last_ack_reason, ack_reasons_nonzero;
    int status_events, st_event, st_error, st_reason, st_session_present;
    unsigned char st_props[512];
    size_t st_props_len;
    /* the trace: sent */
    int connects, sent_publish, sent_pingreq, sent_pubrel, sent_disconnect_reason, published_at_disconnect;
    char connect_id[128];
    unsigned connect_keepalive;
    unsigned char connect_props[256];
    size_t connect_props_len;
    int outstanding, max_outstanding; /* QoS 1/2 PUBLISH not yet completed */
    uint64_t first_ping_ms;
    int alias_max, alias_zero, alias_unset, alias_wrong, empty_topic, with_alias;
    char alias_topic[MAX_ALIAS][32]; /* our aliases as the broker knows them */
    int resent, resent_whole;        /* PUBLISH with DUP: with topic, no alias */
    /* the trace: received */
    int recv_publish, recv_alias, recv_pingresp, recv_disconnect, nacks, last_pubrec_reason;
    int in_unreleased, max_in_unreleased; /* incoming QoS 2 before PUBREL */
} peer;

/* SUBACK and UNSUBACK codes, for the handlers' user. */
typedef struct acks {
    int subacks, unsubacks;
    unsigned char codes[8];
    size_t count;
    int reason_code;
} acks;
/* What a per-filter handler got; its SUBACK first (one user serves both callbacks). */
typedef struct sink {
    acks a;
    int count, retained, bad_topic, sub_ids;
    char topic[128];
    unsigned char payload[512];
    size_t len;
    unsigned char props[1024];
    size_t props_len;
    unsigned char seen[MAX_NUM + 1]; /* how often each number came (payloads "N" or "topic|N") */
} sink;

/* The number a payload carries ("N" or "topic|N"); 0 for none. */
static int payload_number(const mqttc_message *m) {
    char buf[64];
    size_t n = m->payload_len < sizeof buf - 1 ? m->payload_len : sizeof buf - 1;
    if (n) memcpy(buf, m->payload, n);
    buf[n] = '\0';
    const char *bar = strchr(buf, '|');
    return atoi(bar ? bar + 1 : buf);
}

/* A payload "topic|N" names the topic it was published to. */
static int topic_as_said(const char *topic, size_t topic_len, const void *payload, size_t len) {
    const char *bar = (const char *)memchr(payload, '|', len);
    return !bar || ((size_t)(bar - (const char *)payload) == topic_len && memcmp(payload, topic, topic_len) == 0);
}

static void keep(sink *s, const mqttc_message *m) {
    mqttc_prop pr;
    size_t pos = 0;
    s->count++;
    s->retained += m->retain;
    snprintf(s->topic, sizeof s->topic, "%.*s", (int)m->topic_len, m->topic);
    s->len = m->payload_len < sizeof s->payload ? m->payload_len : sizeof s->payload;
    if (s->len) memcpy(s->payload, m->payload, s->len);
    s->props_len = m->props.len < sizeof s->props ? m->props.len : sizeof s->props;
    if (s->props_len) memcpy(s->props, m->props.ptr, s->props_len);
    while (mqttc_props_next(&m->props, &pos, &pr) == 1) s->sub_ids += pr.id == MQTTC_PROP_SUBSCRIPTION_ID;
    int n = payload_number(m);
    if (n > 0 && n <= MAX_NUM && s->seen[n] < 255) s->seen[n]++;
    if (!topic_as_said(m->topic, m->topic_len, m->payload, m->payload_len)) s->bad_topic++;
}

static void on_sink(mqttc_client *c, const mqttc_message *m, void *u) {
    (void)c;
    keep((sink *)u, m);
}

static void on_suback(mqttc_client *c, const mqttc_suback_info *s, void *u) {
    acks *a = (acks *)u;
    (void)c;
    a->subacks++;
    a->count = s->count < 8 ? s->count : 8;
    memcpy(a->codes, s->codes, a->count);
}
static void on_unsuback(mqttc_client *c, const mqttc_ack_info *ack, void *u) {
    acks *a = (acks *)u;
    (void)c;
    a->unsubacks++;
    a->reason_code = ack->reason_code;
    a->count = ack->count < 8 ? ack->count : 8;
    if (a->count) memcpy(a->codes, ack->codes, a->count);
}

/* ---- the peer's callbacks ---- */

static void on_message(mqttc_client *c, const mqttc_message *m, void *u) {
    peer *p = (peer *)u;
    (void)c;
    (void)m;
    p->messages++;
}

static void on_published(mqttc_client *c, const mqttc_ack_info *a, void *u) {
    peer *p = (peer *)u;
    (void)c;
    p->published++;
    p->last_ack_type = a->type;
    p->last_ack_reason = a->reason_code;
    p->ack_reasons_nonzero += a->reason_code != 0;
}

static void on_status(mqttc_client *c, const mqttc_status *s, void *u) {
    peer *p = (peer *)u;
    (void)c;
    p->status_events++;
    p->st_event = s->event;
    p->st_error = s->error;
    p->st_reason = s->reason_code;
    p->st_session_present = s->session_present;
    p->st_props_len = s->props.len < sizeof p->st_props ? s->props.len : sizeof p->st_props;
    if (p->st_props_len) memcpy(p->st_props, s->props.ptr, p->st_props_len);
}

/* Our PUBLISH as sent: its Topic Alias against the broker's maximum and against the
   mapping this connection has set up [MQTT-3.3.2-8/9/12]. */
static void trace_sent_publish(peer *p, const mqttc_publish_info *pi) {
    mqttc_prop pr;
    p->sent_publish++;
    if (pi->dup) {
        p->resent++;
        p->resent_whole += pi->topic_len > 0 && !mqttc_props_get(&pi->props, MQTTC_PROP_TOPIC_ALIAS, NULL);
    }
    if (pi->qos && !pi->dup) {
        p->outstanding++;
        if (p->outstanding > p->max_outstanding) p->max_outstanding = p->outstanding;
    }
    if (!pi->topic_len) p->empty_topic++;
    if (!mqttc_props_get(&pi->props, MQTTC_PROP_TOPIC_ALIAS, &pr)) {
        if (!pi->topic_len) p->alias_unset++; /* an empty topic needs an alias */
        return;
    }
    p->with_alias++;
    if (pr.value == 0) p->alias_zero++;
    if ((int)pr.value > p->alias_max) p->alias_max = (int)pr.value;
    if (pr.value >= MAX_ALIAS) return;
    char *known = p->alias_topic[pr.value];
    if (pi->topic_len) {
        snprintf(known, sizeof p->alias_topic[0], "%.*s", (int)pi->topic_len, pi->topic);
        return;
    }
    if (!known[0]) p->alias_unset++;
    else if (!topic_as_said(known, strlen(known), pi->payload, pi->payload_len)) p->alias_wrong++;
}

static void trace_sent(peer *p, const mqttc_packet *k) {
    switch (k->type) {
    case MQTTC_CONNECT:
        p->connects++;
        snprintf(p->connect_id, sizeof p->connect_id, "%.*s", (int)k->connect.client_id.len, k->connect.client_id.ptr);
        p->connect_keepalive = k->connect.keepalive_s;
        p->connect_props_len = k->connect.props.len < sizeof p->connect_props ? k->connect.props.len : 0;
        if (p->connect_props_len) memcpy(p->connect_props, k->connect.props.ptr, p->connect_props_len);
        memset(p->alias_topic, 0, sizeof p->alias_topic); /* aliases die with the connection */
        p->outstanding = 0;
        break;
    case MQTTC_PUBLISH: trace_sent_publish(p, &k->publish); break;
    case MQTTC_PUBREL: p->sent_pubrel++; break;
    case MQTTC_PINGREQ:
        if (!p->sent_pingreq++) p->first_ping_ms = mqttc_now_ms();
        break;
    case MQTTC_DISCONNECT:
        p->sent_disconnect_reason = k->disconnect.reason_code;
        p->published_at_disconnect = p->published;
        break;
    default: break;
    }
}

static void trace_received(peer *p, const mqttc_packet *k) {
    switch (k->type) {
    case MQTTC_PUBLISH:
        p->recv_publish++;
        p->recv_alias += mqttc_props_get(&k->publish.props, MQTTC_PROP_TOPIC_ALIAS, NULL);
        if (k->publish.qos == 2 && !k->publish.dup && ++p->in_unreleased > p->max_in_unreleased)
            p->max_in_unreleased = p->in_unreleased;
        break;
    case MQTTC_PUBREL: p->in_unreleased--; break;
    case MQTTC_PUBACK: /* QoS 1 ends; QoS 2 ends at PUBCOMP, or at a PUBREC >= 0x80 [MQTT-4.9.0-2] */
    case MQTTC_PUBCOMP:
        p->outstanding--;
        p->nacks += k->ack.reason_code >= 0x80;
        break;
    case MQTTC_PUBREC:
        p->last_pubrec_reason = k->ack.reason_code;
        if (k->ack.reason_code >= 0x80) {
            p->outstanding--;
            p->nacks++;
        }
        break;
    case MQTTC_PINGRESP: p->recv_pingresp++; break;
    case MQTTC_DISCONNECT: p->recv_disconnect++; break;
    default: break;
    }
}

static void on_trace(mqttc_client *c, int is_sent, const mqttc_packet *k, void *u) {
    (void)c;
    if (is_sent) trace_sent((peer *)u, k);
    else trace_received((peer *)u, k);
}

/* ---- the loop: every started peer, stepped together ---- */

static peer *loop_set[8];
static int loop_n;

static int is_open(peer *p) { return mqttc_state(&p->c) > MQTTC_STATE_IDLE && mqttc_state(&p->c) < MQTTC_STATE_CLOSED; }

/* Waits (poll(2) on every open peer, at most max_ms), then steps them all. */
static void spin(long max_ms) {
    struct pollfd fds[8];
    peer *open[8];
    int n = 0;
    long ms = max_ms;
    uint64_t now = mqttc_now_ms();
    for (int i = 0; i < loop_n; i++) {
        if (!is_open(loop_set[i])) continue;
        long t = mqttc_timeout_ms(&loop_set[i]->c, now);
        if (t >= 0 && t < ms) ms = t;
        open[n] = loop_set[i];
        fds[n++] = test_pollfd(&loop_set[i]->c);
    }
    if (n == 0) {
        struct timespec ts = {max_ms / 1000, (max_ms % 1000) * 1000000L};
        nanosleep(&ts, NULL);
        return;
    }
    poll(fds, (nfds_t)n, (int)ms);
    now = mqttc_now_ms();
    for (int i = 0; i < n; i++) mqttc_step(&open[i]->c, now);
}

/* Spins until cond holds or ms pass. */
#define UNTIL(cond, ms)                                                                                                \
    do {                                                                                                               \
        uint64_t until_end_ = mqttc_now_ms() + (ms);                                                                   \
        while (!(cond) && mqttc_now_ms() < until_end_) spin(20);                                                       \
    } while (0)

/* Options of a peer: MQTT 5 (version 0: 3.1.1), every callback on. */
static void peer_options(peer *p, const char *id, int version) {
    memset(p, 0, sizeof *p);
    p->o.client_id = id;
    p->o.protocol_version = version;
    p->o.on_message = on_message;
    p->o.on_published = on_published;
    p->o.on_status = on_status;
    p->o.on_trace = on_trace;
    p->o.user = p;
    p->o.connect_timeout_ms = 10000;
}

/* Initialises (the first time) and connects; the peer joins the loop. */
static int peer_connect(peer *p) {
    int rc = MQTTC_OK;
    if (!p->is_init) {
        rc = mqttc_init(&p->c, &p->o);
        if (rc != MQTTC_OK) {
            fprintf(stderr, "init %s: %s (%s)\n", p->o.client_id, mqttc_errname(rc), mqttc_bad_arg(&p->c));
            return rc;
        }
        p->is_init = 1;
        loop_set[loop_n++] = p;
    }
    rc = mqttc_connect(&p->c, "127.0.0.1", port);
    p->connected_ms = mqttc_now_ms();
    if (rc != MQTTC_OK)
        fprintf(stderr, "connect %s: %s (reason 0x%02x)\n", p->o.client_id, mqttc_errname(rc),
                mqttc_reason_code(&p->c));
    return rc;
}

/* A graceful end, stepped until the connection is closed; returns how it ended. */
static int peer_disconnect(peer *p, const mqttc_disconnect_info *di) {
    int rc = di ? mqttc_disconnect_with(&p->c, di) : mqttc_disconnect(&p->c);
    if (rc != MQTTC_OK) return rc;
    UNTIL(!is_open(p), 10000);
    return mqttc_error(&p->c);
}

static void peers_end(void) {
    for (int i = 0; i < loop_n; i++) mqttc_deinit(&loop_set[i]->c);
    loop_n = 0;
}

/* Subscribes one filter with options (QoS | MQTTC_SUB_*), its messages to a sink, and
   waits for the SUBACK (its codes in s->a). */
static int subscribe_sink(peer *p, const char *filter, unsigned options, sink *s) {
    const char *f[1] = {filter};
    unsigned char o[1] = {(unsigned char)options};
    mqttc_subscribe_info si;
    memset(&si, 0, sizeof si);
    si.filters = f;
    si.options = o;
    si.count = 1;
    int before = s->a.subacks;
    int rc = mqttc_subscribe_with(&p->c, &si, on_suback, on_sink, s, NULL);
    if (rc != MQTTC_OK) return rc;
    UNTIL(s->a.subacks > before || !is_open(p), 5000);
    return s->a.subacks > before ? MQTTC_OK : MQTTC_ERR_TIMEOUT;
}

/* Publishes, stepping while the window is full. */
static int publish_wait(peer *p, const char *topic, const char *payload, int qos, int retain) {
    int rc;
    while ((rc = mqttc_publish(&p->c, topic, payload, strlen(payload), qos, retain, NULL)) == MQTTC_ERR_BUSY) spin(10);
    return rc;
}

/* A property of a copied set, by id (the first). */
static int props_find(const unsigned char *raw, size_t len, int id, mqttc_prop *out) {
    mqttc_props ps;
    memset(&ps, 0, sizeof ps);
    ps.ptr = raw;
    ps.len = len;
    return mqttc_props_get(&ps, id, out) == 1;
}

/* Numbers lo..hi each seen exactly once: 1, else 0 with the first exception in *bad. */
static int each_once(const sink *s, int lo, int hi, int *bad) {
    for (int i = lo; i <= hi; i++)
        if (s->seen[i] != 1) {
            *bad = i;
            return 0;
        }
    return 1;
}

/* ---- scenarios ---- */

/* count QoS 1 or 2 publishes as fast as the API allows (stepping only when it says
   MQTTC_ERR_BUSY), against a Receive Maximum of 5: what the API, the wire and the
   subscriber saw. */
static void publish_window(peer *pub, sink *got, int qos, int first, int count, const char *label) {
    int busy = 0, busy_not_full = 0, over = 0;
    unsigned max_seen = 0;
    char name[160], payload[16];
    for (int i = first; i < first + count; i++) {
        snprintf(payload, sizeof payload, "%d", i);
        int rc;
        while ((rc = mqttc_publish(&pub->c, "win/t", payload, strlen(payload), qos, 0, NULL)) == MQTTC_ERR_BUSY) {
            busy++;
            busy_not_full += mqttc_inflight(&pub->c) != 5;
            spin(5);
        }
        if (rc != MQTTC_OK) {
            fprintf(stderr, "publish %d: %s\n", i, mqttc_errname(rc));
            break;
        }
        unsigned n = mqttc_inflight(&pub->c);
        if (n > max_seen) max_seen = n;
        over += n > 5;
    }
    UNTIL(mqttc_inflight(&pub->c) == 0 && got->count >= first + count - 1, 20000);
    spin(300); /* a duplicate would come by now */
    int bad = 0;
    snprintf(name, sizeof name, "MQTT-3.3.4-7 receive maximum 5, %s: %d QoS %d publishes, mqttc_inflight never above 5",
             label, count, qos);
    verdict(name, over == 0 && max_seen == 5, "max inflight %u, %d calls left it above 5", max_seen, over);
    snprintf(name, sizeof name, "MQTT-3.3.4-7 receive maximum 5, %s QoS %d: on the wire at most 5 unacknowledged",
             label, qos);
    verdict(name, pub->max_outstanding <= 5 && pub->nacks == 0,
            "at most %d outstanding, %d refused (0x97 quota exceeded?)", pub->max_outstanding, pub->nacks);
    snprintf(name, sizeof name, "MQTT-4.9.0-2 receive maximum 5, %s QoS %d: MQTTC_ERR_BUSY only with 5 in flight",
             label, qos);
    verdict(name, busy > 0 && busy_not_full == 0, "busy %d times, %d of them with fewer than 5 in flight", busy,
            busy_not_full);
    snprintf(name, sizeof name, "MQTT-4.3.%d receive maximum 5, %s QoS %d: all %d arrive exactly once", qos + 1, label,
             qos, count);
    verdict(name, each_once(got, first, first + count - 1, &bad), "message %d came %d times (%d messages in all)", bad,
            got->seen[bad], got->count);
}

/* mosquitto max_inflight_messages 5: its CONNACK says Receive Maximum 5; no more than 5
   QoS 1/2 publishes are ever unacknowledged [MQTT-3.3.4-7], on this connection and on the
   next; every message arrives once. */
static void scenario_window(void) {
    peer pub, sub;
    sink got;
    memset(&got, 0, sizeof got);
    peer_options(&sub, "v5-win-sub", 5);
    peer_options(&pub, "v5-win-pub", 5);
    pub.o.max_inflight = 100; /* ours is larger: the broker's 5 must be what limits */
    CHECK_RC(peer_connect(&sub), MQTTC_OK);
    CHECK_RC(subscribe_sink(&sub, "win/t", 2, &got), MQTTC_OK);
    CHECK_RC(peer_connect(&pub), MQTTC_OK);
    const mqttc_limits *l = mqttc_server_limits(&pub.c);
    verdict("MQTT-3.2.2.3.3 Receive Maximum 5 from CONNACK: mqttc_server_limits()->receive_max", l->receive_max == 5,
            "receive_max %u", l->receive_max);
    publish_window(&pub, &got, 1, 1, 200, "first connection");
    publish_window(&pub, &got, 2, 201, 200, "first connection");
    CHECK_RC(peer_disconnect(&pub, NULL), MQTTC_ERR_DISCONNECT);
    pub.max_outstanding = 0;
    CHECK_RC(peer_connect(&pub), MQTTC_OK);
    verdict("MQTT-3.2.2.3.3 Receive Maximum 5 again after a reconnect", l->receive_max == 5, "receive_max %u",
            l->receive_max);
    publish_window(&pub, &got, 2, 401, 100, "after reconnect");
    peers_end();
}

/* Publishes of sizes around mosquitto's 200 bytes: the larger are MQTTC_ERR_TOOLARGE with
   nothing sent [MQTT-3.2.2-15], exactly 200 goes (another subscriber gets it). */
static void packet_sizes(peer *me, sink *theirs) {
    /* "big/a", QoS 0: 1 + 2 (remaining length) + 2 + 5 + 1 (no properties) + payload; 189: 200 bytes */
    static const struct {
        int qos, len, want;
    } cases[] = {{0, 190, MQTTC_ERR_TOOLARGE}, {0, 300, MQTTC_ERR_TOOLARGE}, {1, 188, MQTTC_ERR_TOOLARGE},
                 {2, 188, MQTTC_ERR_TOOLARGE}, {0, 189, MQTTC_OK},           {1, 187, MQTTC_OK}};
    char payload[400], name[200];
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int sent = me->sent_publish, before = theirs->count;
        unsigned inflight = mqttc_inflight(&me->c);
        size_t pending = mqttc_pending_output(&me->c);
        memset(payload, 'x', (size_t)cases[i].len); /* "big/a|N" and x up to the length */
        snprintf(payload, sizeof payload, "big/a|%d", (int)i + 1);
        payload[strlen(payload)] = 'x';
        int rc = mqttc_publish(&me->c, "big/a", payload, (size_t)cases[i].len, cases[i].qos, 0, NULL);
        int size = 1 + 2 + 2 + 5 + 1 + cases[i].len + (cases[i].qos ? 2 : 0);
        snprintf(name, sizeof name, "MQTT-3.2.2-15 a %d-byte QoS %d PUBLISH %s", size, cases[i].qos,
                 cases[i].want == MQTTC_OK ? "goes" : "is MQTTC_ERR_TOOLARGE, nothing sent, still connected");
        if (cases[i].want == MQTTC_OK) {
            UNTIL(theirs->count > before || !is_open(me), 5000);
            verdict(name, rc == MQTTC_OK && theirs->count == before + 1 && mqttc_state(&me->c) == MQTTC_STATE_CONNECTED,
                    "%s, delivered %d, state %d", mqttc_errname(rc), theirs->count - before, mqttc_state(&me->c));
        } else {
            verdict(name,
                    rc == MQTTC_ERR_TOOLARGE && me->sent_publish == sent && mqttc_inflight(&me->c) == inflight &&
                        mqttc_pending_output(&me->c) == pending && mqttc_state(&me->c) == MQTTC_STATE_CONNECTED,
                    "%s, %d PUBLISH sent, inflight %u -> %u, state %d", mqttc_errname(rc), me->sent_publish - sent,
                    inflight, mqttc_inflight(&me->c), mqttc_state(&me->c));
        }
    }
    char filter[260]; /* a SUBSCRIBE over 200 bytes is refused the same way */
    memset(filter, 'f', sizeof filter - 1);
    filter[sizeof filter - 1] = '\0';
    int rc = mqttc_subscribe(&me->c, filter, 0, NULL, NULL, NULL, NULL);
    verdict("MQTT-3.2.2-15 a 266-byte SUBSCRIBE is MQTTC_ERR_TOOLARGE", rc == MQTTC_ERR_TOOLARGE, "%s",
            mqttc_errname(rc));
}

/* Our Maximum Packet Size 100: mosquitto_pub -V 5 sends a message with a 159-byte payload,
   then a small one; mosquitto keeps the big one from us [MQTT-3.1.2-24] (the other
   subscriber gets both), and our connection goes on. */
static void packet_ours(peer *me, sink *mine, sink *theirs) {
    char cmd[160];
    snprintf(cmd, sizeof cmd, "mosquitto_pub -V 5 -h 127.0.0.1 -p %d -q 1 -t big/cli -l", port);
    FILE *f = popen(cmd, "w");
    CHECK(f != NULL);
    if (f) {
        fprintf(f, "big/cli|60|%0148d\nbig/cli|61\n", 0);
        CHECK(pclose(f) == 0);
    }
    UNTIL((theirs->seen[61] && mine->seen[61]) || !is_open(me), 5000);
    spin(200);
    verdict("MQTT-3.1.2-24 mosquitto sends nothing over our Maximum Packet Size 100: the 159-byte payload is not "
            "delivered, the next message is",
            mine->seen[60] == 0 && mine->seen[61] == 1 && theirs->seen[60] == 1 && theirs->seen[61] == 1,
            "we got big %d small %d; the other subscriber big %d small %d", mine->seen[60], mine->seen[61],
            theirs->seen[60], theirs->seen[61]);
    verdict("MQTT-3.1.2-24 the connection survives mosquitto's drop",
            mqttc_state(&me->c) == MQTTC_STATE_CONNECTED && mqttc_error(&me->c) == MQTTC_OK, "state %d, error %s",
            mqttc_state(&me->c), mqttc_errname(mqttc_error(&me->c)));
}

/* mosquitto max_packet_size 200 against ours of 100. */
static void scenario_packet(void) {
    peer me, other;
    sink mine, theirs;
    mqttc_prop pr;
    memset(&mine, 0, sizeof mine);
    memset(&theirs, 0, sizeof theirs);
    peer_options(&me, "v5-pkt-me", 5);
    me.o.max_packet_size = 100;
    peer_options(&other, "v5-pkt-other", 5);
    CHECK_RC(peer_connect(&me), MQTTC_OK);
    CHECK_RC(peer_connect(&other), MQTTC_OK);
    CHECK_RC(subscribe_sink(&me, "big/#", 1, &mine), MQTTC_OK);
    CHECK_RC(subscribe_sink(&other, "big/#", 1, &theirs), MQTTC_OK);
    const mqttc_limits *l = mqttc_server_limits(&me.c);
    verdict("MQTT-3.2.2.3.6 Maximum Packet Size 200 from CONNACK: limits.max_packet_size", l->max_packet_size == 200,
            "max_packet_size %u", (unsigned)l->max_packet_size);
    int adv = props_find(me.connect_props, me.connect_props_len, MQTTC_PROP_MAX_PACKET_SIZE, &pr);
    verdict("MQTT-3.1.2.11.4 our Maximum Packet Size 100 is in CONNECT", adv && pr.value == 100, "%s %u",
            adv ? "value" : "absent", adv ? (unsigned)pr.value : 0);
    packet_sizes(&me, &theirs);
    CHECK_RC(publish_wait(&me, "big/small", "big/small|50", 1, 0), MQTTC_OK);
    UNTIL(mine.seen[50] || !is_open(&me), 5000);
    verdict("MQTT-3.2.2-15 after the refusals the connection is up and a small QoS 1 publish arrives",
            mine.seen[50] == 1 && mqttc_state(&me.c) == MQTTC_STATE_CONNECTED, "got %d, state %d", mine.seen[50],
            mqttc_state(&me.c));
    packet_ours(&me, &mine, &theirs);
    peers_end();
}

/* mosquitto max_keepalive 10, ours 60: Server Keep Alive 10 is the one in effect
   [MQTT-3.2.2-21]: a PINGREQ after 10 s of silence, and mosquitto (which would end the
   connection after 15 s) keeps us. */
static void scenario_keepalive(void) {
    peer p;
    peer_options(&p, "v5-keepalive", 5);
    p.o.keepalive_s = 60;
    CHECK_RC(peer_connect(&p), MQTTC_OK);
    mqttc_prop pr;
    int said = props_find(p.st_props, p.st_props_len, MQTTC_PROP_SERVER_KEEP_ALIVE, &pr);
    verdict("MQTT-3.2.2-21 Server Keep Alive 10 (CONNECT said 60) is adopted: limits.keepalive_s",
            p.connect_keepalive == 60 && said && pr.value == 10 && mqttc_server_limits(&p.c)->keepalive_s == 10,
            "CONNECT %u, CONNACK %s %u, in effect %u", p.connect_keepalive, said ? "said" : "did not say",
            said ? (unsigned)pr.value : 0, mqttc_server_limits(&p.c)->keepalive_s);
    UNTIL(p.sent_pingreq > 0 || !is_open(&p), 13000);
    long after = p.sent_pingreq ? (long)(p.first_ping_ms - p.connected_ms) : -1;
    printf("first PINGREQ %ld ms after CONNACK\n", after);
    verdict("MQTT-3.1.2-20 idle for the Server Keep Alive: PINGREQ 9 to 11 s after connecting",
            after >= 9000 && after <= 11000, "first PINGREQ after %ld ms", after);
    UNTIL(!is_open(&p), p.connected_ms + 16000 > mqttc_now_ms() ? (long)(p.connected_ms + 16000 - mqttc_now_ms()) : 0);
    verdict("MQTT-3.1.2-22 still connected 16 s after connecting (mosquitto closes after 15 s of silence)",
            mqttc_state(&p.c) == MQTTC_STATE_CONNECTED && p.recv_pingresp > 0, "state %d, error %s, %d PINGRESP",
            mqttc_state(&p.c), mqttc_errname(mqttc_error(&p.c)), p.recv_pingresp);
    peers_end();
}

/* mosquitto max_topic_alias 3, ours up to 10: never an alias above 3 [MQTT-3.3.2-9], each
   later use of a topic with an empty topic name [MQTT-3.3.2-12], every message under its
   own topic at a subscriber. */
static void scenario_alias(void) {
    peer pub, sub;
    sink got;
    char topic[16], payload[32];
    int n = 0;
    memset(&got, 0, sizeof got);
    peer_options(&sub, "v5-alias-sub", 5);
    peer_options(&pub, "v5-alias-pub", 5);
    pub.o.topic_alias_out = 10;
    CHECK_RC(peer_connect(&sub), MQTTC_OK);
    CHECK_RC(subscribe_sink(&sub, "al/#", 1, &got), MQTTC_OK);
    CHECK_RC(peer_connect(&pub), MQTTC_OK);
    verdict("MQTT-3.2.2.3.8 Topic Alias Maximum 3 from CONNACK: limits.topic_alias_max",
            mqttc_server_limits(&pub.c)->topic_alias_max == 3, "topic_alias_max %u",
            mqttc_server_limits(&pub.c)->topic_alias_max);
    /* six topics round robin (each use evicts), then three that fit (each use a hit) */
    for (int round = 0; round < 4; round++)
        for (int t = 0; t < 6; t++) {
            snprintf(topic, sizeof topic, "al/t%d", t);
            snprintf(payload, sizeof payload, "%s|%d", topic, ++n);
            CHECK_RC(publish_wait(&pub, topic, payload, n % 2, 0), MQTTC_OK);
        }
    int empty_before = pub.empty_topic, hits_from = n + 3;
    for (int round = 0; round < 4; round++)
        for (int t = 0; t < 3; t++) {
            snprintf(topic, sizeof topic, "al/t%d", t);
            snprintf(payload, sizeof payload, "%s|%d", topic, ++n);
            CHECK_RC(publish_wait(&pub, topic, payload, n % 2, 0), MQTTC_OK);
        }
    /* two in a row to one topic with a packet between */
    CHECK_RC(publish_wait(&pub, "al/t5", "al/t5|100", 1, 0), MQTTC_OK);
    CHECK_RC(publish_wait(&pub, "al/t5", "al/t5|101", 0, 0), MQTTC_OK);
    UNTIL((got.seen[101] && got.seen[100] && got.count >= n + 2) || !is_open(&pub), 10000);
    spin(200);
    int bad = 0;
    verdict("MQTT-3.3.2-9 never a Topic Alias above mosquitto's 3, never 0",
            pub.alias_max <= 3 && pub.alias_zero == 0 && pub.with_alias > 0, "highest %d, %d zero, %d with an alias",
            pub.alias_max, pub.alias_zero, pub.with_alias);
    verdict("MQTT-3.3.2-12 later uses of an aliased topic go with an empty topic name",
            pub.empty_topic - empty_before == 9 + 1 && got.seen[101] == 1,
            "%d empty topics; want 10: the 9 repeats from #%d on and #101", pub.empty_topic - empty_before, hits_from);
    verdict("MQTT-3.3.2-10 every empty topic names the alias mapping set before it on this connection",
            pub.alias_unset == 0 && pub.alias_wrong == 0, "%d empty without a mapping, %d mapped to another topic",
            pub.alias_unset, pub.alias_wrong);
    verdict("MQTT-3.3.2-11 each of the messages arrives once under its own topic",
            each_once(&got, 1, n, &bad) && got.seen[100] == 1 && got.seen[101] == 1 && got.bad_topic == 0,
            "message %d came %d times, %d under another topic", bad, got.seen[bad], got.bad_topic);
    verdict("MQTT-3.3.2-9 mosquitto kept the connection (an alias above 3 gets DISCONNECT 0x94)",
            mqttc_state(&pub.c) == MQTTC_STATE_CONNECTED, "state %d, error %s, reason 0x%02x", mqttc_state(&pub.c),
            mqttc_errname(mqttc_error(&pub.c)), mqttc_reason_code(&pub.c));
    peers_end();
}

/* Our Topic Alias Maximum 5 goes in CONNECT; mosquitto 2.0 assigns no aliases to the
   messages it sends (it only accepts the client's): none arrives, every topic is whole. */
static void scenario_alias_in(void) {
    peer pub, sub;
    sink got;
    char topic[16], payload[32];
    memset(&got, 0, sizeof got);
    peer_options(&sub, "v5-alias-in", 5);
    sub.o.topic_alias_in = 5;
    peer_options(&pub, "v5-alias-in-pub", 5);
    pub.o.topic_alias_out = 10;
    CHECK_RC(peer_connect(&sub), MQTTC_OK);
    mqttc_prop pr;
    int adv = props_find(sub.connect_props, sub.connect_props_len, MQTTC_PROP_TOPIC_ALIAS_MAX, &pr);
    verdict("MQTT-3.1.2.11.5 our Topic Alias Maximum 5 is in CONNECT", adv && pr.value == 5, "%s %u",
            adv ? "value" : "absent", adv ? (unsigned)pr.value : 0);
    CHECK_RC(subscribe_sink(&sub, "ai/#", 1, &got), MQTTC_OK);
    CHECK_RC(peer_connect(&pub), MQTTC_OK);
    for (int i = 1; i <= 30; i++) {
        snprintf(topic, sizeof topic, "ai/t%d", i % 3);
        snprintf(payload, sizeof payload, "%s|%d", topic, i);
        CHECK_RC(publish_wait(&pub, topic, payload, i % 2, 0), MQTTC_OK);
    }
    UNTIL(got.count >= 30 || !is_open(&sub), 10000);
    int bad = 0;
    printf("mosquitto sent %d PUBLISH, %d with a Topic Alias\n", sub.recv_publish, sub.recv_alias);
    verdict("MQTT-3.3.2-7 mosquitto 2.0 sends no Topic Alias to a client that allows 5 (it has no outgoing aliases)",
            sub.recv_alias == 0 && sub.recv_publish >= 30, "%d of %d PUBLISH carried an alias", sub.recv_alias,
            sub.recv_publish);
    verdict("MQTT-3.3.2-10 all 30 messages arrive once under their own topics",
            each_once(&got, 1, 30, &bad) && got.bad_topic == 0 && is_open(&sub),
            "message %d came %d times, %d under another topic", bad, got.seen[bad], got.bad_topic);
    peers_end();
}

/* mosquitto max_qos 1: QoS 2 is MQTTC_ERR_QOS before anything is sent [MQTT-3.2.2-11]. */
static void scenario_qos(void) {
    peer p;
    sink got;
    memset(&got, 0, sizeof got);
    peer_options(&p, "v5-maxqos", 5);
    CHECK_RC(peer_connect(&p), MQTTC_OK);
    CHECK_RC(subscribe_sink(&p, "mq/t", 1, &got), MQTTC_OK);
    verdict("MQTT-3.2.2.3.4 Maximum QoS 1 from CONNACK: limits.max_qos", mqttc_server_limits(&p.c)->max_qos == 1,
            "max_qos %d", mqttc_server_limits(&p.c)->max_qos);
    int sent = p.sent_publish;
    int rc = mqttc_publish(&p.c, "mq/t", "mq/t|1", 6, 2, 0, NULL);
    spin(300);
    verdict("MQTT-3.2.2-11 a QoS 2 publish is MQTTC_ERR_QOS, nothing sent, still connected",
            rc == MQTTC_ERR_QOS && p.sent_publish == sent && mqttc_inflight(&p.c) == 0 &&
                mqttc_state(&p.c) == MQTTC_STATE_CONNECTED && got.count == 0,
            "%s, %d sent, inflight %u, state %d", mqttc_errname(rc), p.sent_publish - sent, mqttc_inflight(&p.c),
            mqttc_state(&p.c));
    CHECK_RC(publish_wait(&p, "mq/t", "mq/t|2", 1, 0), MQTTC_OK);
    UNTIL((got.seen[2] && p.published) || !is_open(&p), 5000);
    verdict("MQTT-3.2.2-11 QoS 1 works: delivered, PUBACK 0",
            got.seen[2] == 1 && p.published == 1 && p.last_ack_reason == 0,
            "delivered %d, acknowledged %d, reason 0x%02x", got.seen[2], p.published, p.last_ack_reason);
    peers_end();
}

/* mosquitto retain_available false: retain is MQTTC_ERR_UNSUPPORTED [MQTT-3.2.2-14]. */
static void scenario_retain(void) {
    peer p;
    sink got;
    memset(&got, 0, sizeof got);
    peer_options(&p, "v5-noretain", 5);
    CHECK_RC(peer_connect(&p), MQTTC_OK);
    CHECK_RC(subscribe_sink(&p, "rt/t", 1, &got), MQTTC_OK);
    verdict("MQTT-3.2.2.3.5 Retain Available 0 from CONNACK: limits.retain_available",
            mqttc_server_limits(&p.c)->retain_available == 0, "retain_available %d",
            mqttc_server_limits(&p.c)->retain_available);
    int sent = p.sent_publish;
    int rc = mqttc_publish(&p.c, "rt/t", "rt/t|1", 6, 1, 1, NULL);
    spin(300);
    verdict("MQTT-3.2.2-14 a retained publish is MQTTC_ERR_UNSUPPORTED, nothing sent, still connected",
            rc == MQTTC_ERR_UNSUPPORTED && p.sent_publish == sent && mqttc_inflight(&p.c) == 0 &&
                mqttc_state(&p.c) == MQTTC_STATE_CONNECTED && got.count == 0,
            "%s, %d sent, state %d", mqttc_errname(rc), p.sent_publish - sent, mqttc_state(&p.c));
    CHECK_RC(publish_wait(&p, "rt/t", "rt/t|2", 1, 0), MQTTC_OK);
    UNTIL(got.seen[2] || !is_open(&p), 5000);
    verdict("MQTT-3.2.2-14 without retain the publish works", got.seen[2] == 1 && is_open(&p), "delivered %d",
            got.seen[2]);
    peers_end();
}

/* Session Expiry: a session outlives the connection for its interval [MQTT-3.1.2-23]. */
static void session_round(const char *id, uint32_t expiry, const mqttc_disconnect_info *di, int want_present,
                          const char *name) {
    peer p, pub;
    sink got;
    memset(&got, 0, sizeof got);
    peer_options(&p, id, 5);
    p.o.session_expiry_s = expiry;
    p.o.no_clean_session = 1;
    peer_options(&pub, "v5-sess-pub", 5);
    CHECK_RC(peer_connect(&p), MQTTC_OK);
    CHECK(mqttc_session_present(&p.c) == 0);
    CHECK_RC(subscribe_sink(&p, "sess/t", 1, &got), MQTTC_OK);
    CHECK_RC(peer_disconnect(&p, di), MQTTC_ERR_DISCONNECT);
    CHECK_RC(peer_connect(&pub), MQTTC_OK);
    for (int i = 1; i <= 5; i++) {
        char payload[16];
        snprintf(payload, sizeof payload, "sess/t|%d", i);
        CHECK_RC(publish_wait(&pub, "sess/t", payload, 1, 0), MQTTC_OK);
    }
    UNTIL(pub.published == 5, 5000);
    CHECK_RC(peer_connect(&p), MQTTC_OK);
    UNTIL(got.count >= 5, want_present ? 5000 : 500);
    int bad = 0;
    if (want_present)
        verdict(name,
                mqttc_session_present(&p.c) == 1 && p.st_session_present == 1 && each_once(&got, 1, 5, &bad) &&
                    mqttc_server_limits(&p.c)->session_expiry_s == expiry,
                "session present %d (on_status %d), message %d came %d times, %d in all, expiry in effect %u",
                mqttc_session_present(&p.c), p.st_session_present, bad, got.seen[bad], got.count,
                (unsigned)mqttc_server_limits(&p.c)->session_expiry_s);
    else
        verdict(name, mqttc_session_present(&p.c) == 0 && got.count == 0, "session present %d, %d messages",
                mqttc_session_present(&p.c), got.count);
    peers_end();
}

static void scenario_session(void) {
    session_round("v5-sess-60", 60, NULL, 1,
                  "MQTT-3.1.2-23 Session Expiry 60, Clean Start 0: after a reconnect session present 1, the 5 QoS 1 "
                  "messages sent while away arrive once, to the filter's handler");
    session_round("v5-sess-0", 0, NULL, 0,
                  "MQTT-3.1.2-23 Session Expiry 0 (default), Clean Start 0: the session ended with the connection");
    mqttc_prop zero = mqttc_prop_int(MQTTC_PROP_SESSION_EXPIRY, 0);
    mqttc_disconnect_info di;
    memset(&di, 0, sizeof di);
    di.props.list = &zero;
    di.props.count = 1;
    session_round("v5-sess-end", 60, &di, 0, "MQTT-3.14.2.2.2 DISCONNECT with Session Expiry 0 ends a session of 60 s");
}

/* Client id "": mosquitto assigns one (CONNACK's Assigned Client Identifier); it is
   mqttc_client_id and names the session on the reconnect. */
static void scenario_assigned(void) {
    peer p, pub;
    sink got;
    char assigned[128] = "";
    memset(&got, 0, sizeof got);
    peer_options(&p, "", 5);
    p.o.session_expiry_s = 60;
    p.o.no_clean_session = 1;
    peer_options(&pub, "v5-assigned-pub", 5);
    int rc = mqttc_init(&p.c, &p.o);
    /* MQTT 5 has no rule against an empty id with Clean Start 0: the server assigns one and
       goes on as if the client had sent it [MQTT-3.1.3-6/7]; only 3.1.1 forbids it. */
    verdict("MQTT-3.1.3-7 (v5) client_id \"\" with no_clean_session 1 and session_expiry_s 60: mqttc_init accepts it",
            rc == MQTTC_OK, "%s, mqttc_bad_arg \"%s\" (the 3.1.1 rule applied to MQTT 5)", mqttc_errname(rc),
            mqttc_bad_arg(&p.c));
    int kept = rc == MQTTC_OK;
    if (!kept) { /* go on with Clean Start 1 to check the rest */
        p.o.no_clean_session = 0;
        CHECK_RC(mqttc_init(&p.c, &p.o), MQTTC_OK);
    } else {
        mqttc_deinit(&p.c);
    }
    CHECK_RC(peer_connect(&p), MQTTC_OK);
    mqttc_prop pr;
    int said = props_find(p.st_props, p.st_props_len, MQTTC_PROP_ASSIGNED_CLIENT_ID, &pr);
    if (said) snprintf(assigned, sizeof assigned, "%.*s", (int)pr.str.len, pr.str.ptr);
    const char *id = mqttc_client_id(&p.c);
    printf("CONNECT sent id \"%s\"; mosquitto assigned \"%s\"\n", p.connect_id, assigned);
    verdict("MQTT-3.2.2.3.7 Assigned Client Identifier: mqttc_client_id() is the one mosquitto assigned",
            p.connect_id[0] == '\0' && said && assigned[0] && id && strcmp(id, assigned) == 0,
            "sent \"%s\", CONNACK %s \"%s\", mqttc_client_id \"%s\"", p.connect_id, said ? "said" : "did not say",
            assigned, id ? id : "(null)");
    CHECK_RC(subscribe_sink(&p, "asg/t", 1, &got), MQTTC_OK);
    CHECK_RC(peer_disconnect(&p, NULL), MQTTC_ERR_DISCONNECT);
    if (!kept) {
        rc = mqttc_set_clean_session(&p.c, 0);
        verdict("MQTT-3.1.3-7 (v5) mqttc_set_clean_session(c, 0) once an id was assigned", rc == MQTTC_OK,
                "%s, mqttc_bad_arg \"%s\": no way to resume a session under an assigned id", mqttc_errname(rc),
                mqttc_bad_arg(&p.c));
    }
    CHECK_RC(peer_connect(&pub), MQTTC_OK);
    for (int i = 1; i <= 3; i++) {
        char payload[16];
        snprintf(payload, sizeof payload, "asg/t|%d", i);
        CHECK_RC(publish_wait(&pub, "asg/t", payload, 1, 0), MQTTC_OK);
    }
    UNTIL(pub.published == 3, 5000);
    CHECK_RC(peer_connect(&p), MQTTC_OK);
    verdict("MQTT-3.1.3-7 the reconnect's CONNECT carries the assigned id",
            p.connects == 2 && strcmp(p.connect_id, assigned) == 0, "%d CONNECTs, the last with \"%s\"", p.connects,
            p.connect_id);
    UNTIL(got.count >= 3, 3000);
    int bad = 0;
    verdict("MQTT-3.1.2-23 under the assigned id the session is resumed: session present 1, the 3 messages arrive",
            mqttc_session_present(&p.c) == 1 && each_once(&got, 1, 3, &bad), "session present %d, %d messages",
            mqttc_session_present(&p.c), got.count);
    peers_end();
}

/* What a message's properties should be after mosquitto forwarded them. */
static const unsigned char corr[] = {0, 1, 2, 0xff, 0};

static void check_forwarded_props(const sink *s) {
    mqttc_props ps;
    mqttc_prop pr;
    size_t pos = 0;
    char users[128] = "", ct[64] = "", rt[64] = "";
    int pf = -1, subs = 0, corr_ok = 0, n;
    long expiry = -1;
    memset(&ps, 0, sizeof ps);
    ps.ptr = s->props;
    ps.len = s->props_len;
    while ((n = mqttc_props_next(&ps, &pos, &pr)) == 1) {
        switch (pr.id) {
        case MQTTC_PROP_USER: {
            size_t u = strlen(users);
            snprintf(users + u, sizeof users - u, "%s%.*s=%.*s", u ? "," : "", (int)pr.str.len, pr.str.ptr,
                     (int)pr.val.len, pr.val.ptr);
            break;
        }
        case MQTTC_PROP_CONTENT_TYPE: snprintf(ct, sizeof ct, "%.*s", (int)pr.str.len, pr.str.ptr); break;
        case MQTTC_PROP_RESPONSE_TOPIC: snprintf(rt, sizeof rt, "%.*s", (int)pr.str.len, pr.str.ptr); break;
        case MQTTC_PROP_CORRELATION_DATA:
            corr_ok = pr.str.len == sizeof corr && !memcmp(pr.str.ptr, corr, sizeof corr);
            break;
        case MQTTC_PROP_PAYLOAD_FORMAT: pf = (int)pr.value; break;
        case MQTTC_PROP_MESSAGE_EXPIRY: expiry = (long)pr.value; break;
        case MQTTC_PROP_SUBSCRIPTION_ID: subs++; break;
        default: break;
        }
    }
    verdict("MQTT-3.3.2-17 user properties arrive in order (a repeated name too), iterated with mqttc_props_next",
            n == 0 && strcmp(users, "k1=v1,k2=v2,k1=v1b") == 0, "\"%s\" (iteration ended %d)", users, n);
    verdict("MQTT-3.3.2-20 Content Type arrives", strcmp(ct, "text/plain; charset=utf-8") == 0, "\"%s\"", ct);
    verdict("MQTT-3.3.2.3.5 Response Topic arrives", strcmp(rt, "pr/reply") == 0, "\"%s\"", rt);
    verdict("MQTT-3.3.2.3.6 Correlation Data (binary, with NULs) arrives", corr_ok, "%s", "different or absent");
    verdict("MQTT-3.3.2-4 Payload Format Indicator 1 arrives with the UTF-8 payload",
            pf == 1 && s->len == 6 && memcmp(s->payload, "h\xc3\xa9llo", 6) == 0, "indicator %d, payload %zu bytes", pf,
            s->len);
    verdict("MQTT-3.3.2-6 Message Expiry Interval arrives, counted down from 3600", expiry > 3590 && expiry <= 3600,
            "%ld", expiry);
    verdict("MQTT-3.3.4-3 the message names our subscription's identifier", subs == 1, "%d identifiers", subs);
}

/* Every property a PUBLISH may carry from a client, through mosquitto to a handler. */
static void props_forwarded(peer *pub, peer *sub) {
    static sink got; /* static: its handler stays subscribed after this returns */
    mqttc_prop list[8];
    mqttc_publish_info pi;
    memset(&got, 0, sizeof got);
    CHECK_RC(subscribe_sink(sub, "pr/x", 1, &got), MQTTC_OK);
    list[0] = mqttc_prop_user("k1", "v1");
    list[1] = mqttc_prop_user("k2", "v2");
    list[2] = mqttc_prop_user("k1", "v1b");
    list[3] = mqttc_prop_str(MQTTC_PROP_CONTENT_TYPE, "text/plain; charset=utf-8");
    list[4] = mqttc_prop_str(MQTTC_PROP_RESPONSE_TOPIC, "pr/reply");
    list[5] = mqttc_prop_bin(MQTTC_PROP_CORRELATION_DATA, corr, sizeof corr);
    list[6] = mqttc_prop_int(MQTTC_PROP_PAYLOAD_FORMAT, 1);
    list[7] = mqttc_prop_int(MQTTC_PROP_MESSAGE_EXPIRY, 3600);
    memset(&pi, 0, sizeof pi);
    pi.topic = "pr/x";
    pi.topic_len = 4;
    pi.payload = "h\xc3\xa9llo";
    pi.payload_len = 6;
    pi.qos = 1;
    pi.props.list = list;
    pi.props.count = 8;
    CHECK_RC(mqttc_publish_with(&pub->c, &pi, NULL), MQTTC_OK);
    UNTIL(got.count > 0, 5000);
    CHECK(got.count == 1);
    check_forwarded_props(&got);
}

/* A SUBSCRIBE with the application's user property and a handler: the client's
   subscription identifier goes beside it. */
static void props_subscribe_user(peer *pub, peer *sub) {
    static sink got; /* (as above) */
    mqttc_prop user = mqttc_prop_user("purpose", "test");
    const char *f[] = {"up/t"};
    unsigned char o[] = {1};
    mqttc_subscribe_info si;
    memset(&got, 0, sizeof got);
    memset(&si, 0, sizeof si);
    si.filters = f;
    si.options = o;
    si.count = 1;
    si.props.list = &user;
    si.props.count = 1;
    CHECK_RC(mqttc_subscribe_with(&sub->c, &si, on_suback, on_sink, &got, NULL), MQTTC_OK);
    UNTIL(got.a.subacks, 5000);
    CHECK_RC(publish_wait(pub, "up/t", "up/t|1", 1, 0), MQTTC_OK);
    UNTIL(got.count, 5000);
    verdict("MQTT-3.8.2.1.3 SUBSCRIBE with a user property (list) and a handler: granted, the message reaches the "
            "handler with its subscription identifier",
            got.a.subacks == 1 && got.a.codes[0] == 1 && got.seen[1] == 1 && got.sub_ids == 1 && sub->messages == 0,
            "SUBACK %d (0x%02x), got %d, %d identifiers, on_message %d", got.a.subacks, got.a.codes[0], got.seen[1],
            got.sub_ids, sub->messages);
}

/* Subscription identifiers: overlapping filters, a handler each, and a shared
   subscription with its handler: each message exactly to the handlers it matched. */
static void props_overlap_shared(peer *pub, peer *sub) {
    static sink all, plus, shared; /* (as above) */
    int bad = 0;
    memset(&all, 0, sizeof all);
    memset(&plus, 0, sizeof plus);
    memset(&shared, 0, sizeof shared);
    CHECK_RC(subscribe_sink(sub, "a/#", 1, &all), MQTTC_OK);
    CHECK_RC(subscribe_sink(sub, "a/+", 1, &plus), MQTTC_OK);
    CHECK_RC(subscribe_sink(sub, "$share/g/sh/x", 1, &shared), MQTTC_OK);
    int recv_before = sub->recv_publish;
    CHECK_RC(publish_wait(pub, "a/x", "a/x|1", 1, 0), MQTTC_OK);
    UNTIL(all.count && plus.count, 5000);
    spin(300);
    printf("for 2 overlapping subscriptions mosquitto sent %d PUBLISH\n", sub->recv_publish - recv_before);
    verdict(
        "MQTT-3.3.4-3 overlapping \"a/#\" and \"a/+\": each handler gets the message exactly once, on_message never",
        all.seen[1] == 1 && plus.seen[1] == 1 && sub->messages == 0, "a/# %d, a/+ %d, on_message %d", all.seen[1],
        plus.seen[1], sub->messages);
    CHECK_RC(publish_wait(pub, "a/x/y", "a/x/y|2", 1, 0), MQTTC_OK);
    UNTIL(all.seen[2], 5000);
    spin(200);
    verdict("MQTT-3.3.4-3 \"a/x/y\" goes to the \"a/#\" handler alone",
            all.seen[2] == 1 && plus.seen[2] == 0 && sub->messages == 0, "a/# %d, a/+ %d, on_message %d", all.seen[2],
            plus.seen[2], sub->messages);
    for (int i = 3; i <= 5; i++) {
        char payload[16];
        snprintf(payload, sizeof payload, "sh/x|%d", i);
        CHECK_RC(publish_wait(pub, "sh/x", payload, 1, 0), MQTTC_OK);
    }
    UNTIL(shared.count >= 3, 5000);
    spin(200);
    verdict("MQTT-4.8.2 \"$share/g/sh/x\" with a handler: its 3 messages reach it once each, on_message never",
            each_once(&shared, 3, 5, &bad) && shared.count == 3 && sub->messages == 0 && !strcmp(shared.topic, "sh/x"),
            "%d messages (last topic \"%s\"), on_message %d", shared.count, shared.topic, sub->messages);
}

/* No Local: our own publish does not come back; another client's does. */
static void props_no_local(peer *pub, peer *sub) {
    static sink mine, theirs; /* (as above) */
    memset(&mine, 0, sizeof mine);
    memset(&theirs, 0, sizeof theirs);
    CHECK_RC(subscribe_sink(sub, "nl/t", 1 | MQTTC_SUB_NO_LOCAL, &mine), MQTTC_OK);
    CHECK_RC(subscribe_sink(pub, "nl/t", 1, &theirs), MQTTC_OK);
    CHECK_RC(publish_wait(sub, "nl/t", "nl/t|1", 1, 0), MQTTC_OK);
    UNTIL(theirs.seen[1], 5000);
    spin(300);
    verdict("MQTT-3.8.3-3 No Local: our own publish is not sent back to us", mine.count == 0 && theirs.seen[1] == 1,
            "we got %d, the other subscriber %d", mine.count, theirs.seen[1]);
    CHECK_RC(publish_wait(pub, "nl/t", "nl/t|2", 1, 0), MQTTC_OK);
    UNTIL(mine.seen[2], 5000);
    verdict("MQTT-3.8.3-3 No Local: another client's publish reaches us", mine.seen[2] == 1, "we got %d", mine.seen[2]);
}

/* Retain Handling 2: no retained message at subscribe; 0 (another filter): it comes. */
static void props_retain_handling(peer *pub, peer *sub) {
    static sink rh2, rh0; /* (as above) */
    memset(&rh2, 0, sizeof rh2);
    memset(&rh0, 0, sizeof rh0);
    CHECK_RC(publish_wait(pub, "rh/t", "rh/t|1", 1, 1), MQTTC_OK);
    UNTIL(mqttc_inflight(&pub->c) == 0, 5000);
    CHECK_RC(subscribe_sink(sub, "rh/t", 1 | MQTTC_SUB_RETAIN_HANDLING(2), &rh2), MQTTC_OK);
    spin(500);
    verdict("MQTT-3.3.1-11 Retain Handling 2: no retained message when subscribing", rh2.count == 0, "%d messages",
            rh2.count);
    CHECK_RC(subscribe_sink(sub, "rh/+", 1 | MQTTC_SUB_RETAIN_HANDLING(0), &rh0), MQTTC_OK);
    UNTIL(rh0.count, 5000);
    spin(200);
    verdict("MQTT-3.3.1-9 Retain Handling 0 on another filter: the retained message comes, to that handler only",
            rh0.seen[1] == 1 && rh0.retained == 1 && rh2.count == 0, "rh/+ %d (retained %d), rh/t %d", rh0.seen[1],
            rh0.retained, rh2.count);
    CHECK_RC(publish_wait(pub, "rh/t", "rh/t|2", 1, 0), MQTTC_OK);
    UNTIL(rh2.seen[2] && rh0.seen[2], 5000);
    verdict("MQTT-3.3.1-11 the Retain Handling 2 subscription takes live messages",
            rh2.seen[2] == 1 && rh0.seen[2] == 1, "rh/t %d, rh/+ %d", rh2.seen[2], rh0.seen[2]);
    CHECK_RC(publish_wait(pub, "rh/t", "", 1, 1), MQTTC_OK); /* clears the retained message */
    UNTIL(mqttc_inflight(&pub->c) == 0, 5000);
}

/* MQTT 5 features through a default mosquitto, with one publisher and one subscriber. */
static void scenario_props(void) {
    peer pub, sub;
    peer_options(&pub, "v5-props-pub", 5);
    peer_options(&sub, "v5-props-sub", 5);
    CHECK_RC(peer_connect(&pub), MQTTC_OK);
    CHECK_RC(peer_connect(&sub), MQTTC_OK);
    props_forwarded(&pub, &sub);
    props_subscribe_user(&pub, &sub);
    props_overlap_shared(&pub, &sub);
    props_no_local(&pub, &sub);
    props_retain_handling(&pub, &sub);
    peers_end();
}

/* Reason codes in acks: PUBACK/PUBREC 0x10, UNSUBACK 0x11. */
static void scenario_reasons(void) {
    peer p;
    acks a, b;
    memset(&a, 0, sizeof a);
    memset(&b, 0, sizeof b);
    peer_options(&p, "v5-reasons", 5);
    CHECK_RC(peer_connect(&p), MQTTC_OK);
    CHECK_RC(publish_wait(&p, "nobody/here", "n|1", 1, 0), MQTTC_OK);
    UNTIL(p.published == 1, 5000);
    verdict("MQTT-3.4.2.1 PUBACK 0x10 (no matching subscribers) reaches on_published",
            p.published == 1 && p.last_ack_type == MQTTC_PUBACK &&
                p.last_ack_reason == MQTTC_RC_NO_MATCHING_SUBSCRIBERS,
            "%d acks, type %d, reason 0x%02x", p.published, p.last_ack_type, p.last_ack_reason);
    CHECK_RC(publish_wait(&p, "nobody/here", "n|2", 2, 0), MQTTC_OK);
    UNTIL(p.published == 2, 5000);
    /* mosquitto routes a QoS 2 message at PUBREL, so its PUBREC says 0x00 even with nobody
       subscribed (0x10 would be allowed too) */
    printf("QoS 2 to no subscriber: mosquitto's PUBREC says 0x%02x\n", p.last_pubrec_reason);
    verdict("MQTT-4.3.3-4 QoS 2 to no subscriber: PUBREC below 0x80 continues the flow, PUBREL, PUBCOMP completes it",
            (p.last_pubrec_reason == 0 || p.last_pubrec_reason == MQTTC_RC_NO_MATCHING_SUBSCRIBERS) &&
                p.sent_pubrel == 1 && p.published == 2 && p.last_ack_type == MQTTC_PUBCOMP && mqttc_inflight(&p.c) == 0,
            "PUBREC 0x%02x, %d PUBREL, %d completions, last type %d, inflight %u", p.last_pubrec_reason, p.sent_pubrel,
            p.published, p.last_ack_type, mqttc_inflight(&p.c));
    CHECK_RC(mqttc_unsubscribe(&p.c, "never/subscribed", on_unsuback, &a, NULL), MQTTC_OK);
    UNTIL(a.unsubacks, 5000);
    verdict("MQTT-3.11.3-1 UNSUBACK 0x11 (no subscription existed) reaches on_unsuback",
            a.unsubacks == 1 && a.count == 1 && a.codes[0] == MQTTC_RC_NO_SUBSCRIPTION_EXISTED &&
                a.reason_code == MQTTC_RC_NO_SUBSCRIPTION_EXISTED,
            "%d UNSUBACK, %zu codes, first 0x%02x, reason_code 0x%02x", a.unsubacks, a.count, a.codes[0],
            a.reason_code);
    CHECK_RC(mqttc_subscribe(&p.c, "was/here", 1, NULL, NULL, NULL, NULL), MQTTC_OK);
    const char *both[] = {"was/here", "never/here"};
    CHECK_RC(mqttc_unsubscribe_many(&p.c, both, 2, on_unsuback, &b, NULL), MQTTC_OK);
    UNTIL(b.unsubacks, 5000);
    verdict("MQTT-3.11.3-2 UNSUBACK with two filters: codes 0x00 and 0x11, in order",
            b.count == 2 && b.codes[0] == 0 && b.codes[1] == MQTTC_RC_NO_SUBSCRIPTION_EXISTED,
            "%zu codes: 0x%02x 0x%02x", b.count, b.codes[0], b.codes[1]);
    verdict("MQTT-2.4 mqttc_reason_name names them",
            !strcmp(mqttc_reason_name(0x10), "nomatchingsubscribers") &&
                !strcmp(mqttc_reason_name(0x11), "nosubscriptionexisted"),
            "\"%s\", \"%s\"", mqttc_reason_name(0x10), mqttc_reason_name(0x11));
    verdict("the connection stays up through every code", mqttc_state(&p.c) == MQTTC_STATE_CONNECTED, "state %d",
            mqttc_state(&p.c));
    peers_end();
}

/* mosquitto with an ACL (only open/# for anonymous clients): a SUBACK refusal 0x87. */
static void scenario_acl(void) {
    peer p;
    sink got;
    memset(&got, 0, sizeof got);
    peer_options(&p, "v5-acl", 5);
    CHECK_RC(peer_connect(&p), MQTTC_OK);
    const char *f[] = {"open/x", "secret/x"};
    unsigned char o[] = {1, 1};
    mqttc_subscribe_info si;
    memset(&si, 0, sizeof si);
    si.filters = f;
    si.options = o;
    si.count = 2;
    CHECK_RC(mqttc_subscribe_with(&p.c, &si, on_suback, on_sink, &got, NULL), MQTTC_OK);
    UNTIL(got.a.subacks || !is_open(&p), 5000);
    verdict("MQTT-3.9.3-1 SUBACK: \"open/x\" granted QoS 1, \"secret/x\" 0x87 not authorized, to on_suback",
            got.a.subacks == 1 && got.a.count == 2 && got.a.codes[0] == 1 && got.a.codes[1] == MQTTC_RC_NOT_AUTHORIZED,
            "%d SUBACK, %zu codes: 0x%02x 0x%02x", got.a.subacks, got.a.count, got.a.codes[0], got.a.codes[1]);
    CHECK_RC(publish_wait(&p, "open/x", "open/x|1", 1, 0), MQTTC_OK);
    UNTIL(got.count || !is_open(&p), 5000);
    verdict("MQTT-3.9.3 after the refusal the connection is up and the granted filter works",
            got.seen[1] == 1 && mqttc_state(&p.c) == MQTTC_STATE_CONNECTED, "got %d, state %d", got.seen[1],
            mqttc_state(&p.c));
    peers_end();
}

typedef test_cuttable cuttable; /* (test.h) */

/* Connects p (initialised) over a new cuttable link. */
static int cut_connect(peer *p, cuttable *l) {
    mqttc_transport t;
    int rc = test_cut_open(l, port, &t);
    if (rc != MQTTC_OK) return rc;
    rc = mqttc_start_transport(&p->c, &t, mqttc_now_ms());
    if (rc == MQTTC_OK) rc = mqttc_connect_wait(&p->c);
    p->connected_ms = mqttc_now_ms();
    return rc;
}

/* Aliases die with the connection [MQTT-3.3.2-7]: QoS 2 messages sent with a topic alias
   (the second with an empty topic) and cut off before their PUBREC are sent again on the
   next connection with their whole topic and no alias, and arrive once. */
static void scenario_alias_resend(void) {
    peer p, sub;
    sink got;
    cuttable link;
    memset(&got, 0, sizeof got);
    peer_options(&sub, "v5-resend-sub", 5);
    CHECK_RC(peer_connect(&sub), MQTTC_OK);
    CHECK_RC(subscribe_sink(&sub, "ar/t", 2, &got), MQTTC_OK);
    peer_options(&p, "v5-resend", 5);
    p.o.topic_alias_out = 5;
    p.o.no_clean_session = 1;
    p.o.session_expiry_s = 60;
    CHECK_RC(mqttc_init(&p.c, &p.o), MQTTC_OK);
    p.is_init = 1;
    loop_set[loop_n++] = &p;
    CHECK_RC(cut_connect(&p, &link), MQTTC_OK);
    CHECK_RC(mqttc_publish(&p.c, "ar/t", "ar/t|1", 6, 2, 0, NULL), MQTTC_OK); /* alias 1 with the topic */
    CHECK_RC(mqttc_publish(&p.c, "ar/t", "ar/t|2", 6, 2, 0, NULL), MQTTC_OK); /* alias 1, empty topic */
    int first_empty = p.empty_topic;
    link.cut = 1; /* before any step: the PUBRECs are never read on this connection */
    UNTIL(!is_open(&p), 5000);
    CHECK(first_empty == 1 && mqttc_inflight(&p.c) == 2);
    CHECK_RC(cut_connect(&p, &link), MQTTC_OK);
    CHECK(mqttc_session_present(&p.c) == 1);
    UNTIL((got.seen[1] && got.seen[2] && mqttc_inflight(&p.c) == 0) || !is_open(&p), 5000);
    CHECK_RC(publish_wait(&p, "ar/t", "ar/t|3", 1, 0), MQTTC_OK); /* a new alias mapping on this connection */
    UNTIL(got.seen[3] || !is_open(&p), 5000);
    spin(300);
    verdict("MQTT-3.3.2-7 after a reconnect both QoS 2 messages are sent again (DUP) with their whole topic, no alias",
            p.resent == 2 && p.resent_whole == 2, "%d resent, %d of them whole", p.resent, p.resent_whole);
    verdict("MQTT-3.3.2-7 no empty topic relies on the old connection's alias",
            p.alias_unset == 0 && p.alias_wrong == 0, "%d empty without a mapping on this connection, %d mapped wrong",
            p.alias_unset, p.alias_wrong);
    int bad = 0;
    verdict("MQTT-4.3.3 the cut-off messages arrive exactly once, the connection is up",
            each_once(&got, 1, 3, &bad) && mqttc_state(&p.c) == MQTTC_STATE_CONNECTED,
            "message %d came %d times; state %d, error %s", bad, got.seen[bad], mqttc_state(&p.c),
            mqttc_errname(mqttc_error(&p.c)));
    peers_end();
}

/* Our Receive Maximum (options.max_inflight_in 2) goes in CONNECT; a broker must keep to
   it [MQTT-3.3.4-9], and one that does not gets DISCONNECT 0x93 [MQTT-4.9]. mosquitto 2.0.11
   does not for QoS 2: for a subscriber paused with 60 messages waiting it sends 2, and once
   those are complete 4 more at once (its quota comes back at PUBREC and again at PUBCOMP;
   seen on the wire with a raw client too: up to 6 unreleased). So either all 60 arrive, or
   the client ends the connection with 0x93 at the first message past 2. */
static void scenario_receive_in(void) {
    peer pub, sub;
    sink got;
    memset(&got, 0, sizeof got);
    peer_options(&sub, "v5-recvmax-sub", 5);
    sub.o.max_inflight_in = 2;
    peer_options(&pub, "v5-recvmax-pub", 5);
    CHECK_RC(peer_connect(&sub), MQTTC_OK);
    mqttc_prop pr;
    int adv = props_find(sub.connect_props, sub.connect_props_len, MQTTC_PROP_RECEIVE_MAX, &pr);
    verdict("MQTT-3.1.2.11.3 our Receive Maximum 2 is in CONNECT", adv && pr.value == 2, "%s %u",
            adv ? "value" : "absent", adv ? (unsigned)pr.value : 0);
    CHECK_RC(subscribe_sink(&sub, "ri/t", 2, &got), MQTTC_OK);
    CHECK_RC(peer_connect(&pub), MQTTC_OK);
    mqttc_pause(&sub.c, 1);
    for (int i = 1; i <= 60; i++) {
        char payload[16];
        snprintf(payload, sizeof payload, "ri/t|%d", i);
        CHECK_RC(publish_wait(&pub, "ri/t", payload, 2, 0), MQTTC_OK);
    }
    UNTIL(mqttc_inflight(&pub.c) == 0, 10000);
    mqttc_pause(&sub.c, 0);
    unsigned max_in = 0;
    uint64_t end = mqttc_now_ms() + 10000;
    while (got.count < 60 && is_open(&sub) && mqttc_now_ms() < end) {
        spin(20);
        if (mqttc_inflight_in(&sub.c) > max_in) max_in = mqttc_inflight_in(&sub.c);
    }
    spin(200);
    int bad = 0, twice = 0;
    for (int i = 1; i <= 60; i++) twice += got.seen[i] > 1;
    printf("mosquitto had up to %d QoS 2 messages unreleased against our Receive Maximum 2; %d delivered\n",
           sub.max_in_unreleased, got.count);
    verdict("MQTT-3.3.4-9 mqttc_inflight_in never above our Receive Maximum 2, no message twice", max_in <= 2 && !twice,
            "mqttc_inflight_in up to %u, %d messages twice", max_in, twice);
    if (sub.max_in_unreleased > 2)
        verdict("MQTT-4.9 mosquitto overran our Receive Maximum 2: the client answers DISCONNECT 0x93 and ends with "
                "MQTTC_ERR_OVERFLOW (on_status CONNECTION_LOST)",
                sub.sent_disconnect_reason == MQTTC_RC_RECEIVE_MAX_EXCEEDED &&
                    mqttc_error(&sub.c) == MQTTC_ERR_OVERFLOW && sub.st_event == MQTTC_EVENT_CONNECTION_LOST &&
                    sub.st_error == MQTTC_ERR_OVERFLOW,
                "DISCONNECT 0x%02x, error %s, on_status event %d error %s", sub.sent_disconnect_reason,
                mqttc_errname(mqttc_error(&sub.c)), sub.st_event, mqttc_errname(sub.st_error));
    else
        verdict("MQTT-3.3.4-9 the broker kept to our Receive Maximum 2: all 60 arrive once, the connection stays",
                each_once(&got, 1, 60, &bad) && mqttc_state(&sub.c) == MQTTC_STATE_CONNECTED,
                "message %d came %d times (%d in all); state %d, error %s", bad, got.seen[bad], got.count,
                mqttc_state(&sub.c), mqttc_errname(mqttc_error(&sub.c)));
    peers_end();
}

/* Session takeover [MQTT-3.1.4-3]: the first connection ends. mosquitto 2.0.11 (Debian 12)
   just closes it: the DISCONNECT 0x8E came with 2.0.15 (mosquitto issues 2340, 2607). So the
   first client's on_status says "closed" with reason 0, or, from a broker that sends it,
   "serverdisconnect" with 0x8E; either way its state is CLOSED and it may connect again. */
static void scenario_takeover(void) {
    peer first, second;
    peer_options(&first, "v5-takeover", 5);
    peer_options(&second, "v5-takeover", 5);
    CHECK_RC(peer_connect(&first), MQTTC_OK);
    int events = first.status_events;
    CHECK_RC(peer_connect(&second), MQTTC_OK);
    UNTIL(!is_open(&first), 5000);
    printf("the taken-over connection got %d DISCONNECT\n", first.recv_disconnect);
    int told = first.status_events == events + 1 && first.st_event == MQTTC_EVENT_CONNECTION_LOST;
    if (first.recv_disconnect)
        verdict("MQTT-3.1.4-3 session taken over: DISCONNECT 0x8E reaches on_status as CONNECTION_LOST, "
                "MQTTC_ERR_SERVER_DISCONNECT, reason 0x8E; mqttc_reason_code says 0x8E",
                told && first.st_error == MQTTC_ERR_SERVER_DISCONNECT &&
                    first.st_reason == MQTTC_RC_SESSION_TAKEN_OVER && mqttc_reason_code(&first.c) == 0x8E &&
                    !strcmp(mqttc_reason_name(0x8E), "sessiontakenover"),
                "%d events, last %d, error %s, reason 0x%02x, mqttc_reason_code 0x%02x", first.status_events - events,
                first.st_event, mqttc_errname(first.st_error), first.st_reason, mqttc_reason_code(&first.c));
    else
        verdict("MQTT-3.1.4-3 session taken over, mosquitto 2.0.11 closes without DISCONNECT 0x8E: on_status "
                "CONNECTION_LOST, MQTTC_ERR_CLOSED, reason 0",
                told && first.st_error == MQTTC_ERR_CLOSED && first.st_reason == 0 && mqttc_reason_code(&first.c) == 0,
                "%d events, last %d, error %s, reason 0x%02x", first.status_events - events, first.st_event,
                mqttc_errname(first.st_error), first.st_reason);
    spin(200);
    verdict("MQTT-3.1.4-3 the second client keeps its connection", mqttc_state(&second.c) == MQTTC_STATE_CONNECTED,
            "state %d", mqttc_state(&second.c));
    peers_end();
}

/* A DISCONNECT that mosquitto 2.0.11 does send: 0x9B (QoS not supported) for a PUBLISH above
   its Maximum QoS 1. The client never sends one (MQTTC_ERR_QOS), so the test writes it on a
   duplicate of the client's socket; the broker's DISCONNECT then reaches the client. */
static void scenario_server_disconnect(void) {
    peer p;
    peer_options(&p, "v5-srvdisc", 5);
    CHECK_RC(peer_connect(&p), MQTTC_OK);
    int events = p.status_events;
    int fd = dup(mqttc_fd(&p.c));
    /* PUBLISH QoS 2, topic "a", id 0xBEEF, no properties, payload "x" */
    static const unsigned char qos2[] = {0x34, 0x07, 0x00, 0x01, 'a', 0xBE, 0xEF, 0x00, 'x'};
    CHECK(fd >= 0 && write(fd, qos2, sizeof qos2) == (ssize_t)sizeof qos2);
    UNTIL(!is_open(&p), 5000);
    verdict("MQTT-3.14.2.1 mosquitto's DISCONNECT 0x9B reaches on_status: CONNECTION_LOST, "
            "MQTTC_ERR_SERVER_DISCONNECT, reason 0x9B",
            p.recv_disconnect == 1 && p.status_events == events + 1 && p.st_event == MQTTC_EVENT_CONNECTION_LOST &&
                p.st_error == MQTTC_ERR_SERVER_DISCONNECT && p.st_reason == MQTTC_RC_QOS_NOT_SUPPORTED,
            "%d DISCONNECT, %d events, last %d, error %s, reason 0x%02x", p.recv_disconnect, p.status_events - events,
            p.st_event, mqttc_errname(p.st_error), p.st_reason);
    verdict("MQTT-3.14.2.1 mqttc_error, mqttc_reason_code and mqttc_reason_name say it too",
            mqttc_error(&p.c) == MQTTC_ERR_SERVER_DISCONNECT && mqttc_reason_code(&p.c) == 0x9B &&
                !strcmp(mqttc_reason_name(mqttc_reason_code(&p.c)), "qosnotsupported"),
            "%s, 0x%02x, \"%s\"", mqttc_errname(mqttc_error(&p.c)), mqttc_reason_code(&p.c),
            mqttc_reason_name(mqttc_reason_code(&p.c)));
    if (fd >= 0) close(fd);
    CHECK_RC(peer_connect(&p), MQTTC_OK); /* a new connection clears it */
    verdict("after the server's DISCONNECT the client connects again: reason and error cleared",
            mqttc_state(&p.c) == MQTTC_STATE_CONNECTED && mqttc_reason_code(&p.c) == 0 && mqttc_error(&p.c) == MQTTC_OK,
            "state %d, reason 0x%02x, error %s", mqttc_state(&p.c), mqttc_reason_code(&p.c),
            mqttc_errname(mqttc_error(&p.c)));
    peers_end();
}

/* DISCONNECT 0x04 makes mosquitto publish the will, with its properties; 0x00 does not. */
static void scenario_will(void) {
    peer watcher, with, normal;
    sink wills;
    memset(&wills, 0, sizeof wills);
    static mqttc_prop will_props[3];
    will_props[0] = mqttc_prop_str(MQTTC_PROP_CONTENT_TYPE, "text/plain");
    will_props[1] = mqttc_prop_user("who", "v5-will-04");
    will_props[2] = mqttc_prop_int(MQTTC_PROP_WILL_DELAY, 0);
    peer_options(&watcher, "v5-will-watcher", 5);
    CHECK_RC(peer_connect(&watcher), MQTTC_OK);
    CHECK_RC(subscribe_sink(&watcher, "will/#", 1, &wills), MQTTC_OK);

    peer_options(&with, "v5-will-04", 5);
    with.o.will_topic = "will/with";
    with.o.will_payload = "will/with|1";
    with.o.will_payload_len = 11;
    with.o.will_qos = 1;
    with.o.will_props.list = will_props;
    with.o.will_props.count = 3;
    CHECK_RC(peer_connect(&with), MQTTC_OK);
    /* ten QoS 2 flows open: the reason goes only after the drain */
    for (int i = 10; i < 20; i++) {
        char payload[24];
        snprintf(payload, sizeof payload, "will/data|%d", i);
        CHECK_RC(mqttc_publish(&with.c, "will/data", payload, strlen(payload), 2, 0, NULL), MQTTC_OK);
    }
    mqttc_disconnect_info di;
    memset(&di, 0, sizeof di);
    di.reason_code = MQTTC_RC_DISCONNECT_WITH_WILL;
    int end = peer_disconnect(&with, &di);
    UNTIL(wills.seen[1] > 0, 5000);
    verdict("MQTT-3.14.2.1 mqttc_disconnect_with 0x04: DISCONNECT 0x04 sent, mosquitto publishes the will",
            end == MQTTC_ERR_DISCONNECT && with.sent_disconnect_reason == 0x04 && wills.seen[1] == 1,
            "ended %s, DISCONNECT 0x%02x, will %d times", mqttc_errname(end), with.sent_disconnect_reason,
            wills.seen[1]);
    int bad = 0;
    verdict("MQTT-3.14.4-1 with 10 QoS 2 flows open, DISCONNECT 0x04 goes after all 10 completed; they arrive once",
            with.published_at_disconnect == 10 && each_once(&wills, 10, 19, &bad),
            "%d completed when DISCONNECT went; message %d came %d times", with.published_at_disconnect, bad,
            wills.seen[bad]);
    mqttc_prop pr;
    char ct[32] = "", user[64] = "";
    if (props_find(wills.props, wills.props_len, MQTTC_PROP_CONTENT_TYPE, &pr))
        snprintf(ct, sizeof ct, "%.*s", (int)pr.str.len, pr.str.ptr);
    if (props_find(wills.props, wills.props_len, MQTTC_PROP_USER, &pr))
        snprintf(user, sizeof user, "%.*s=%.*s", (int)pr.str.len, pr.str.ptr, (int)pr.val.len, pr.val.ptr);
    verdict("MQTT-3.1.3-9 the will's properties (content type, user property; delay 0) arrive with it",
            !strcmp(ct, "text/plain") && !strcmp(user, "who=v5-will-04"), "content type \"%s\", user \"%s\"", ct, user);

    peer_options(&normal, "v5-will-00", 5);
    normal.o.will_topic = "will/normal";
    normal.o.will_payload = "will/normal|2";
    normal.o.will_payload_len = 13;
    CHECK_RC(peer_connect(&normal), MQTTC_OK);
    memset(&di, 0, sizeof di);
    end = peer_disconnect(&normal, &di);
    spin(700);
    verdict("MQTT-3.1.2-10 mqttc_disconnect_with 0x00: no will",
            end == MQTTC_ERR_DISCONNECT && wills.seen[2] == 0 && wills.count == 11,
            "ended %s, will %d times, %d messages in all", mqttc_errname(end), wills.seen[2], wills.count);
    peers_end();
}

/* The same program with protocol_version 0: MQTT 3.1.1 as before. */
static void scenario_v311(void) {
    peer p;
    sink got;
    memset(&got, 0, sizeof got);
    peer_options(&p, "v311-plain", 0);
    CHECK_RC(peer_connect(&p), MQTTC_OK);
    CHECK_RC(subscribe_sink(&p, "old/t", 2, &got), MQTTC_OK);
    for (int q = 0; q <= 2; q++) {
        char payload[16];
        snprintf(payload, sizeof payload, "old/t|%d", q + 1);
        CHECK_RC(publish_wait(&p, "old/t", payload, q, 0), MQTTC_OK);
    }
    UNTIL(got.count >= 3 && p.published >= 2, 5000);
    int bad = 0;
    const mqttc_limits *l = mqttc_server_limits(&p.c);
    verdict("MQTT-3.1.2-2 protocol_version 0 speaks 3.1.1: QoS 0/1/2 to our own subscription, each once, no properties",
            each_once(&got, 1, 3, &bad) && got.props_len == 0 && p.published == 2 && p.ack_reasons_nonzero == 0,
            "message %d came %d times, %zu property bytes, %d completions", bad, got.seen[bad], got.props_len,
            p.published);
    verdict("3.1.1: the limits are the defaults (nothing from a CONNACK)",
            l->receive_max == 65535 && l->max_packet_size == 0 && l->max_qos == 2 && l->retain_available == 1 &&
                l->keepalive_s == 60,
            "receive_max %u, max_packet_size %u, max_qos %d", l->receive_max, (unsigned)l->max_packet_size, l->max_qos);
    CHECK_RC(peer_disconnect(&p, NULL), MQTTC_ERR_DISCONNECT);
    peers_end();
}

/* ---- against the minibroker: what mosquitto will not do (tests/t_live5.sh starts it with
   the flag each scenario is about) ---- */

/* --alias-out 3: the broker aliases the topics it sends us; with topic_alias_in 3 every
   message reaches the handler under its whole topic [MQTT-3.3.2-10]. */
static void scenario_mb_alias_in(void) {
    peer pub, sub;
    sink got;
    char topic[32], payload[48];
    memset(&got, 0, sizeof got);
    peer_options(&sub, "mb-alias-sub", 5);
    sub.o.topic_alias_in = 3;
    peer_options(&pub, "mb-alias-pub", 5);
    CHECK_RC(peer_connect(&sub), MQTTC_OK);
    CHECK_RC(peer_connect(&pub), MQTTC_OK);
    CHECK_RC(subscribe_sink(&sub, "al/#", 1, &got), MQTTC_OK);
    for (int i = 1; i <= 30; i++) {
        snprintf(topic, sizeof topic, "al/t%d", i % 3); /* three topics: the broker's three aliases */
        snprintf(payload, sizeof payload, "%s|%d", topic, i);
        CHECK_RC(publish_wait(&pub, topic, payload, 1, 0), MQTTC_OK);
    }
    UNTIL(got.count >= 30, 5000);
    int bad = 0;
    verdict("MQTT-3.3.2-10 the broker's aliases resolved: 30 messages, each once, under its own topic",
            got.count == 30 && each_once(&got, 1, 30, &bad) && got.bad_topic == 0,
            "%d messages, first wrong %d, %d under a wrong topic", got.count, bad, got.bad_topic);
    verdict("MQTT-3.3.2-12 the broker used its aliases (every PUBLISH came with a Topic Alias)", sub.recv_alias == 30,
            "%d of %d PUBLISH had an alias", sub.recv_alias, sub.recv_publish);
    peers_end();
}

/* The broker's alias out of range (--bad-alias) or never set (--unknown-alias): we answer
   DISCONNECT 0x94 / 0x82 and end with "protocolerror". */
static void mb_bad_alias(const char *name, int want_reason) {
    peer pub, sub;
    sink got;
    memset(&got, 0, sizeof got);
    peer_options(&sub, "mb-bad-alias-sub", 5);
    sub.o.topic_alias_in = 3;
    peer_options(&pub, "mb-bad-alias-pub", 5);
    CHECK_RC(peer_connect(&sub), MQTTC_OK);
    CHECK_RC(peer_connect(&pub), MQTTC_OK);
    CHECK_RC(subscribe_sink(&sub, "ba/#", 0, &got), MQTTC_OK);
    for (int i = 0; i < 3 && is_open(&sub); i++) {
        CHECK_RC(publish_wait(&pub, "ba/x", "1", 0, 0), MQTTC_OK);
        UNTIL(!is_open(&sub), 500);
    }
    verdict(name, !is_open(&sub) && mqttc_error(&sub.c) == MQTTC_ERR_PROTOCOL && sub.sent_disconnect_reason == want_reason,
            "open %d, error %s, DISCONNECT sent with 0x%02x", is_open(&sub), mqttc_errname(mqttc_error(&sub.c)),
            sub.sent_disconnect_reason);
    peers_end();
}

static void scenario_mb_bad_alias(void) { mb_bad_alias("MQTT-3.3.2-10 an alias above ours: DISCONNECT 0x94", 0x94); }
static void scenario_mb_unknown_alias(void) {
    mb_bad_alias("MQTT-3.3.2 an alias never set, with an empty topic: DISCONNECT 0x82", 0x82);
}

/* --disconnect-after 3 --disconnect-reason 0x8B --disconnect-string bye --server-reference
   other:1884: on_status gets the reason and both properties [MQTT-3.14.2]. */
static void scenario_mb_disconnect(void) {
    peer p;
    mqttc_prop pr;
    peer_options(&p, "mb-disc", 5);
    CHECK_RC(peer_connect(&p), MQTTC_OK);
    CHECK_RC(publish_wait(&p, "d/x", "1", 0, 0), MQTTC_OK);
    CHECK_RC(publish_wait(&p, "d/x", "2", 0, 0), MQTTC_OK);
    UNTIL(!is_open(&p), 5000);
    int has_string = props_find(p.st_props, p.st_props_len, MQTTC_PROP_REASON_STRING, &pr) && pr.str.len == 3 &&
                     !memcmp(pr.str.ptr, "bye", 3);
    int has_ref = props_find(p.st_props, p.st_props_len, MQTTC_PROP_SERVER_REFERENCE, &pr) && pr.str.len == 10 &&
                  !memcmp(pr.str.ptr, "other:1884", 10);
    verdict("MQTT-3.14.2 the broker's DISCONNECT 0x8B with Reason String and Server Reference reach on_status",
            p.st_event == MQTTC_EVENT_CONNECTION_LOST && p.st_error == MQTTC_ERR_SERVER_DISCONNECT && p.st_reason == 0x8B &&
                has_string && has_ref,
            "event %d, error %s, reason 0x%02x, reason string %d, server reference %d", p.st_event,
            mqttc_errname(p.st_error), p.st_reason, has_string, has_ref);
    verdict("MQTT-3.14.4-1 nothing is sent after the broker's DISCONNECT", p.sent_disconnect_reason == 0 && !is_open(&p),
            "DISCONNECT sent with 0x%02x", p.sent_disconnect_reason);
    peers_end();
}

/* --ignore-receive-max --no-pubrel: more unreleased QoS 2 than our Receive Maximum 2:
   DISCONNECT 0x93, "overflow". */
static void scenario_mb_receive_max(void) {
    peer pub, sub;
    sink got;
    memset(&got, 0, sizeof got);
    peer_options(&sub, "mb-rm-sub", 5);
    sub.o.max_inflight_in = 2;
    peer_options(&pub, "mb-rm-pub", 5);
    CHECK_RC(peer_connect(&sub), MQTTC_OK);
    CHECK_RC(peer_connect(&pub), MQTTC_OK);
    CHECK_RC(subscribe_sink(&sub, "rm/#", 2, &got), MQTTC_OK);
    for (int i = 1; i <= 5; i++) CHECK_RC(publish_wait(&pub, "rm/x", "q2", 2, 0), MQTTC_OK);
    UNTIL(!is_open(&sub), 5000);
    verdict("MQTT-3.3.4-9 a broker past our Receive Maximum gets DISCONNECT 0x93, the end is \"overflow\"",
            !is_open(&sub) && mqttc_error(&sub.c) == MQTTC_ERR_OVERFLOW && sub.sent_disconnect_reason == 0x93 &&
                got.count == 2,
            "open %d, error %s, DISCONNECT 0x%02x, %d delivered", is_open(&sub), mqttc_errname(mqttc_error(&sub.c)),
            sub.sent_disconnect_reason, got.count);
    peers_end();
}

/* --oversize 600: a PUBLISH above our Maximum Packet Size (256): DISCONNECT 0x95. */
static void scenario_mb_oversize(void) {
    peer pub, sub;
    sink got;
    memset(&got, 0, sizeof got);
    peer_options(&sub, "mb-big-sub", 5);
    sub.o.max_packet_size = 256;
    peer_options(&pub, "mb-big-pub", 5);
    CHECK_RC(peer_connect(&sub), MQTTC_OK);
    CHECK_RC(peer_connect(&pub), MQTTC_OK);
    CHECK_RC(subscribe_sink(&sub, "big/#", 0, &got), MQTTC_OK);
    CHECK_RC(publish_wait(&pub, "big/x", "small", 0, 0), MQTTC_OK);
    UNTIL(!is_open(&sub), 5000);
    verdict("MQTT-3.1.2-24 a packet above our Maximum Packet Size: DISCONNECT 0x95, \"overflow\"",
            !is_open(&sub) && mqttc_error(&sub.c) == MQTTC_ERR_OVERFLOW && sub.sent_disconnect_reason == 0x95 && !got.count,
            "open %d, error %s, DISCONNECT 0x%02x, %d delivered", is_open(&sub), mqttc_errname(mqttc_error(&sub.c)),
            sub.sent_disconnect_reason, got.count);
    peers_end();
}

/* --auth-method SCRAM-TEST --auth-steps 2: two challenges before CONNACK, and again on
   mqttc_reauthenticate; another method is refused with 0x8C. */
static int auth_calls;
static int on_auth_answer(mqttc_client *c, const mqttc_auth_info *in, mqttc_str *out, void *u) {
    (void)c;
    (void)in;
    (void)u;
    auth_calls++;
    out->ptr = "response";
    out->len = 8;
    return 0;
}

static void scenario_mb_auth(void) {
    peer p, other;
    mqttc_prop method = mqttc_prop_str(MQTTC_PROP_AUTH_METHOD, "SCRAM-TEST");
    mqttc_prop wrong = mqttc_prop_str(MQTTC_PROP_AUTH_METHOD, "OTHER");
    peer_options(&p, "mb-auth", 5);
    p.o.connect_props.list = &method;
    p.o.connect_props.count = 1;
    p.o.on_auth = on_auth_answer;
    CHECK_RC(peer_connect(&p), MQTTC_OK);
    verdict("MQTT-4.12.0-3 two AUTH challenges answered through on_auth, then CONNACK 0",
            mqttc_state(&p.c) == MQTTC_STATE_CONNECTED && auth_calls == 2, "state %d, on_auth %d times",
            mqttc_state(&p.c), auth_calls);
    CHECK_RC(mqttc_reauthenticate(&p.c, "again", 5), MQTTC_OK);
    UNTIL(auth_calls == 4, 3000);
    spin(100);
    verdict("MQTT-4.12.1-1 re-authentication: two more challenges, still connected",
            auth_calls == 4 && mqttc_state(&p.c) == MQTTC_STATE_CONNECTED, "on_auth %d times, state %d", auth_calls,
            mqttc_state(&p.c));
    peer_options(&other, "mb-auth-other", 5);
    other.o.connect_props.list = &wrong;
    other.o.connect_props.count = 1;
    other.o.on_auth = on_auth_answer;
    int rc = peer_connect(&other);
    verdict("MQTT-4.12.0-1 another method: CONNACK 0x8C, \"refused\"",
            rc == MQTTC_ERR_REFUSED && mqttc_reason_code(&other.c) == MQTTC_RC_BAD_AUTH_METHOD, "%s, 0x%02x",
            mqttc_errname(rc), mqttc_reason_code(&other.c));
    peers_end();
}

/* --connack-prop ...: the limits a CONNACK sets are mqttc_server_limits', and enforced. */
static void scenario_mb_connack(void) {
    peer p;
    peer_options(&p, "", 5);
    p.o.keepalive_s = 60;
    CHECK_RC(peer_connect(&p), MQTTC_OK);
    const mqttc_limits *l = mqttc_server_limits(&p.c);
    verdict("MQTT-3.2.2.3 CONNACK properties become this connection's limits",
            l->receive_max == 2 && l->max_qos == 1 && l->keepalive_s == 7 && l->max_packet_size == 300 &&
                l->retain_available == 0 && l->wildcard_available == 0 && l->sub_id_available == 0 &&
                !strcmp(mqttc_client_id(&p.c), "given-7"),
            "receive %u, qos %d, keepalive %u, packet %u, retain %d, wildcard %d, sub ids %d, id \"%s\"",
            l->receive_max, l->max_qos, l->keepalive_s, (unsigned)l->max_packet_size, l->retain_available,
            l->wildcard_available, l->sub_id_available, mqttc_client_id(&p.c));
    int q2 = mqttc_publish(&p.c, "c/x", "x", 1, 2, 0, NULL), ret = mqttc_publish(&p.c, "c/x", "x", 1, 0, 1, NULL);
    int wild = mqttc_subscribe(&p.c, "c/#", 0, NULL, NULL, NULL, NULL);
    int n = 0;
    while (mqttc_publish(&p.c, "c/x", "x", 1, 1, 0, NULL) == MQTTC_OK) n++;
    verdict("MQTT-3.2.2-11/14 QoS 2, retain and wildcards refused; the window is 2",
            q2 == MQTTC_ERR_QOS && ret == MQTTC_ERR_UNSUPPORTED && wild == MQTTC_ERR_UNSUPPORTED && n == 2 &&
                mqttc_state(&p.c) == MQTTC_STATE_CONNECTED,
            "%s, %s, %s, %d in flight", mqttc_errname(q2), mqttc_errname(ret), mqttc_errname(wild), n);
    peers_end();
}

/* --ack-reason 0x87: the PUBACK's reason reaches on_published [MQTT-3.4.2.1]. */
static void scenario_mb_ack_reason(void) {
    peer p;
    peer_options(&p, "mb-ack", 5);
    CHECK_RC(peer_connect(&p), MQTTC_OK);
    CHECK_RC(publish_wait(&p, "a/x", "x", 1, 0), MQTTC_OK);
    UNTIL(p.published == 1, 3000);
    verdict("MQTT-3.4.2.1 PUBACK 0x87 reaches on_published", p.published == 1 && p.last_ack_reason == 0x87,
            "%d acks, reason 0x%02x", p.published, p.last_ack_reason);
    peers_end();
}

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: live_v5 SCENARIO PORT\n");
        return 2;
    }
    const char *s = argv[1];
    port = atoi(argv[2]);
    if (!strcmp(s, "window")) scenario_window();
    else if (!strcmp(s, "packet")) scenario_packet();
    else if (!strcmp(s, "keepalive")) scenario_keepalive();
    else if (!strcmp(s, "alias")) scenario_alias();
    else if (!strcmp(s, "alias_in")) scenario_alias_in();
    else if (!strcmp(s, "qos")) scenario_qos();
    else if (!strcmp(s, "retain")) scenario_retain();
    else if (!strcmp(s, "session")) scenario_session();
    else if (!strcmp(s, "assigned")) scenario_assigned();
    else if (!strcmp(s, "props")) scenario_props();
    else if (!strcmp(s, "reasons")) scenario_reasons();
    else if (!strcmp(s, "acl")) scenario_acl();
    else if (!strcmp(s, "alias_resend")) scenario_alias_resend();
    else if (!strcmp(s, "receive_in")) scenario_receive_in();
    else if (!strcmp(s, "takeover")) scenario_takeover();
    else if (!strcmp(s, "srvdisconnect")) scenario_server_disconnect();
    else if (!strcmp(s, "will")) scenario_will();
    else if (!strcmp(s, "v311")) scenario_v311();
    else if (!strcmp(s, "mb_alias_in")) scenario_mb_alias_in();
    else if (!strcmp(s, "mb_bad_alias")) scenario_mb_bad_alias();
    else if (!strcmp(s, "mb_unknown_alias")) scenario_mb_unknown_alias();
    else if (!strcmp(s, "mb_disconnect")) scenario_mb_disconnect();
    else if (!strcmp(s, "mb_receive_max")) scenario_mb_receive_max();
    else if (!strcmp(s, "mb_oversize")) scenario_mb_oversize();
    else if (!strcmp(s, "mb_auth")) scenario_mb_auth();
    else if (!strcmp(s, "mb_connack")) scenario_mb_connack();
    else if (!strcmp(s, "mb_ack_reason")) scenario_mb_ack_reason();
    else {
        fprintf(stderr, "unknown scenario %s\n", s);
        return 2;
    }
    return test_exit(s);
}
