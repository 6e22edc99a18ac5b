/* tests/live_reconnect.c - staying connected (mqttc.h, top comment section 12) against real
   brokers on 127.0.0.1, run by tests/t_reconnect.sh (under Valgrind), which starts the
   brokers, kills them, cuts the network through a relay, and passes what the scenario needs:
       live_reconnect kill PORT DONEFILE        mosquitto (persistence) SIGKILLed and restarted
       live_reconnect cut PORT DONEFILE         the same through a relay that drops every link
       live_reconnect failover PORT_A PID_A PORT_B DEAD_PORT   two brokers (options.brokers)
       live_reconnect auth PORT LOGFILE         mosquitto with a password file, wrong password
       live_reconnect plan PORT                 minibroker --connack 3: the backoff plan
       live_reconnect takeover PORT             two clients with one client id
       live_reconnect run PORT                  minibroker --drop-after 3: the blocking mqttc_run
       live_reconnect srvdisconnect P8E P9C P8B minibrokers sending DISCONNECT 0x8E, 0x9C, 0x8B
       live_reconnect transport PORT            mosquitto: reconnect_transport, mqttc_adopt_fd
       live_reconnect drain PORT                minibroker --no-pubrel: a disconnect that times out
       live_reconnect limits PORT_A PORT_B      minibrokers: held messages against B's limits
       live_reconnect churn PORT [rss]          minibroker --drop-after 2: 1,000 reconnects
       live_reconnect queue RELAY CTL BROKER    the offline queue (queue_bytes) through a relay
   Each check is named after what the spec or section 12 asks ([MQTT-x.y.z-n] where one
   applies) and prints "ok - NAME" or "not ok - NAME" with what was found; measurements are
   printed as "    NAME: ..." lines. The program exits 0 only when every check held.
   Several clients live in one process and are stepped together (spin), WAITING ones too;
   each client's on_status, on_published, on_dropped and trace are counted. */
#define _POSIX_C_SOURCE 200809L
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>
#define MQTTC_IMPLEMENTATION
#include "mqttc.h"
#include "test.h"

/* A measurement, reported whatever the checks say. */
static void TEST_PRINTF(1, 2) report(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    printf("    ");
    vprintf(fmt, ap);
    printf("\n");
    va_end(ap);
    fflush(stdout);
}

static void sleep_ms(long ms) {
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* ---- numbered streams: one topic, one QoS, payloads "1", "2", ... ---- */

enum { MAX_SEQ = 40000, MAX_PEERS = 8, MAX_STREAMS = 6, LOG_MAX = 64 };

typedef struct stream {
    char topic[64];
    int qos, width;       /* payloads "%0*d", width digits at least */
    int published;        /* 1..published were accepted by mqttc_publish */
    int refused, refused_rc;
    unsigned char *acked; /* per number: on_published calls */
    unsigned char *seen;  /* per number: deliveries to the subscriber */
    int *order;           /* numbers in the order they arrived */
    int order_n, extra;   /* arrivals; those beyond MAX_SEQ or unnumbered */
} stream;

static void stream_init(stream *s, const char *topic, int qos) {
    memset(s, 0, sizeof *s);
    snprintf(s->topic, sizeof s->topic, "%s", topic);
    s->qos = qos;
    s->acked = (unsigned char *)calloc(MAX_SEQ + 1, 1);
    s->seen = (unsigned char *)calloc(MAX_SEQ + 1, 1);
    s->order = (int *)calloc(2 * MAX_SEQ, sizeof(int));
}

static void stream_free(stream *s) {
    free(s->acked);
    free(s->seen);
    free(s->order);
}

/* What arrived of 1..published: missing ones, repeats (arrivals beyond the first), and
   whether they came in order (each new number above the last new one). */
typedef struct tally {
    int missing, repeats, first_missing, first_repeat, out_of_order, unacked;
} tally;

static tally stream_tally(const stream *s) {
    tally t;
    int last = 0;
    memset(&t, 0, sizeof t);
    for (int i = 1; i <= s->published; i++) {
        if (!s->seen[i] && !t.missing++) t.first_missing = i;
        if (s->seen[i] > 1 && !t.repeats) t.first_repeat = i;
        if (s->seen[i] > 1) t.repeats += s->seen[i] - 1;
        t.unacked += !s->acked[i];
    }
    unsigned char *first = (unsigned char *)calloc(MAX_SEQ + 1, 1);
    for (int i = 0; i < s->order_n && first; i++) {
        int n = s->order[i];
        if (first[n]) continue; /* a repeat does not break the order */
        first[n] = 1;
        if (n < last) t.out_of_order++;
        last = n;
    }
    free(first);
    return t;
}

static int stream_all_seen(const stream *s) {
    for (int i = 1; i <= s->published; i++)
        if (!s->seen[i]) return 0;
    return 1;
}

/* ---- one client and what it did ---- */

typedef struct peer peer;
typedef void (*policy_fn)(peer *p, const mqttc_status *s);

/* A subscriber's QoS 1/2 as its trace saw them arrive, to tell its own doing from the
   broker's: a number received but never delivered, a QoS 2 repeat within one flow (same id
   before PUBREL: the client must not deliver it again), a QoS 2 message sent again as a new
   one (another id, or after its flow was complete: the client takes it as new, as it must),
   and a QoS 2 id the broker used for another message while that id's flow was still open
   (the client takes it as the repeat it must be, by the book, and does not deliver it). */
typedef struct flows {
    stream *q1, *q2;
    int *open_num;                    /* packet id -> number of the open incoming QoS 2 flow */
    unsigned char *received1, *received2, *swallowed, *dup_class;
    int id_reused, resent_after_complete, repeat_in_flow, delivered_again_in_flow, delivered_again_after,
        delivered_again_unknown;
} flows;

static void flows_init(flows *f, stream *q1, stream *q2) {
    memset(f, 0, sizeof *f);
    f->q1 = q1;
    f->q2 = q2;
    f->open_num = (int *)calloc(65536, sizeof(int));
    f->received1 = (unsigned char *)calloc(MAX_SEQ + 1, 1);
    f->received2 = (unsigned char *)calloc(MAX_SEQ + 1, 1);
    f->swallowed = (unsigned char *)calloc(MAX_SEQ + 1, 1);
    f->dup_class = (unsigned char *)calloc(MAX_SEQ + 1, 1);
}

static void flows_free(flows *f) {
    free(f->open_num);
    free(f->received1);
    free(f->received2);
    free(f->swallowed);
    free(f->dup_class);
}

static int topic_is(const stream *s, const mqttc_publish_info *m) {
    return s && strlen(s->topic) == m->topic_len && !memcmp(s->topic, m->topic, m->topic_len);
}

typedef struct sent_publish {
    unsigned short id;
    unsigned char qos, dup;
    int link; /* which connection (CONNECT count) it went on */
    char payload[16];
} sent_publish;

struct peer {
    mqttc_client c;
    mqttc_options o;
    const char *name;
    int is_init;
    policy_fn policy;      /* the scenario's reconnect policy, from on_status */
    int policy_count;
    /* on_status */
    int connected, failed, lost, stops, present[2], last_present, last_event, last_error, last_reason;
    long last_retry;
    unsigned max_attempt;
    int status_n;
    long retry_log[LOG_MAX];
    unsigned attempt_log[LOG_MAX];
    int error_log[LOG_MAX], reason_log[LOG_MAX];
    int peer_port;         /* the broker's port at the last CONNECTED */
    uint64_t changed_ms;   /* the last on_status */
    /* the trace */
    int connects, sent_pub, sent_dup, sent_subscribe, sent_pubrel, subscribe_link[LOG_MAX];
    uint64_t connect_ms[LOG_MAX];
    sent_publish log[LOG_MAX];
    int log_n;
    /* callbacks */
    int messages, subacks, published;
    int dropped, dropped_why[LOG_MAX];
    unsigned short dropped_id[LOG_MAX];
    char dropped_payload[LOG_MAX][16];
    /* numbered streams it publishes (out) and counts (in) */
    stream *out[MAX_STREAMS], *in[MAX_STREAMS];
    flows *flows;  /* a subscriber's QoS 1/2 as they arrived (the storms) */
    int *id_map; /* packet id -> (out index + 1) << 20 | number */
    unsigned short last_id; /* of the last publish_next */
};

static int payload_number(const void *payload, size_t len) {
    char buf[32];
    size_t n = len < sizeof buf - 1 ? len : sizeof buf - 1;
    if (n) memcpy(buf, payload, n);
    buf[n] = '\0';
    return atoi(buf);
}

static int port_of_fd(int fd) {
    struct sockaddr_in a;
    socklen_t len = sizeof a;
    if (fd < 0 || getpeername(fd, (struct sockaddr *)&a, &len) != 0) return 0;
    return ntohs(a.sin_port);
}

static void on_status(mqttc_client *c, const mqttc_status *s, void *u) {
    peer *p = (peer *)u;
    p->last_event = s->event;
    p->last_error = s->error;
    p->last_reason = s->reason_code;
    p->last_retry = s->retry_ms;
    p->changed_ms = mqttc_now_ms();
    if (s->event == MQTTC_EVENT_CONNECTED) {
        p->connected++;
        p->present[s->session_present ? 1 : 0]++;
        p->last_present = s->session_present;
        if (!s->session_present && p->flows) memset(p->flows->open_num, 0, 65536 * sizeof(int));
        p->peer_port = port_of_fd(mqttc_fd(c));
    } else {
        if (s->event == MQTTC_EVENT_CONNECT_FAILED) p->failed++;
        else p->lost++;
        if (s->retry_ms < 0) p->stops++;
        if (s->attempt > p->max_attempt) p->max_attempt = s->attempt;
        if (p->status_n < LOG_MAX) {
            p->retry_log[p->status_n] = s->retry_ms;
            p->attempt_log[p->status_n] = s->attempt;
            p->error_log[p->status_n] = s->error;
            p->reason_log[p->status_n] = s->reason_code;
        }
        p->status_n++;
    }
    if (p->policy) p->policy(p, s);
}

static void on_message(mqttc_client *c, const mqttc_message *m, void *u) {
    peer *p = (peer *)u;
    (void)c;
    p->messages++;
    for (int i = 0; i < MAX_STREAMS && p->in[i]; i++) {
        stream *s = p->in[i];
        if (strlen(s->topic) != m->topic_len || memcmp(s->topic, m->topic, m->topic_len) != 0) continue;
        int n = payload_number(m->payload, m->payload_len);
        if (n < 1 || n > MAX_SEQ || s->order_n >= 2 * MAX_SEQ) {
            s->extra++;
            return;
        }
        if (s->seen[n] && p->flows && s == p->flows->q2) {
            int k = p->flows->dup_class[n];
            p->flows->delivered_again_in_flow += k == 2;
            p->flows->delivered_again_after += k == 1;
            p->flows->delivered_again_unknown += k == 0;
        }
        if (s->seen[n] < 255) s->seen[n]++;
        s->order[s->order_n++] = n;
        return;
    }
}

static void on_published(mqttc_client *c, const mqttc_ack_info *a, void *u) {
    peer *p = (peer *)u;
    (void)c;
    p->published++;
    int v = p->id_map ? p->id_map[a->packet_id] : 0;
    if (!v) return;
    stream *s = p->out[(v >> 20) - 1];
    int n = v & 0xFFFFF;
    if (s->acked[n] < 255) s->acked[n]++;
    p->id_map[a->packet_id] = 0;
}

static void on_dropped(mqttc_client *c, const mqttc_publish_info *m, int why, void *u) {
    peer *p = (peer *)u;
    (void)c;
    if (p->dropped < LOG_MAX) {
        p->dropped_why[p->dropped] = why;
        p->dropped_id[p->dropped] = m->packet_id;
        snprintf(p->dropped_payload[p->dropped], sizeof p->dropped_payload[0], "%.*s",
                 m->payload ? (int)m->payload_len : 0, m->payload ? (const char *)m->payload : "");
    }
    p->dropped++;
    if (p->id_map) p->id_map[m->packet_id] = 0;
}

static void on_suback(mqttc_client *c, const mqttc_suback_info *s, void *u) {
    (void)c;
    (void)s;
    ((peer *)u)->subacks++;
}

/* What arrived, for the flows of a subscriber. */
static void flows_received(flows *f, const mqttc_packet *k) {
    if (k->type == MQTTC_PUBREL) { /* the client completes the flow and forgets the id */
        f->open_num[k->ack.packet_id] = 0;
        return;
    }
    if (k->type != MQTTC_PUBLISH) return;
    const mqttc_publish_info *m = &k->publish;
    int n = payload_number(m->payload, m->payload_len);
    if (n < 1 || n > MAX_SEQ) return;
    if (topic_is(f->q1, m) && f->received1[n] < 255) f->received1[n]++;
    if (!topic_is(f->q2, m) || m->qos != 2) return;
    if (f->received2[n] < 255) f->received2[n]++;
    int open = f->open_num[m->packet_id];
    if (open && open != n) { /* the id is still open for another message */
        f->id_reused++;
        f->swallowed[n] = 1;
        return;
    }
    if (open == n) {
        f->repeat_in_flow++;
        f->dup_class[n] = 2;
        return;
    }
    if (f->q2->seen[n]) {
        f->resent_after_complete++;
        f->dup_class[n] = 1;
    }
    f->open_num[m->packet_id] = n;
}

static void on_trace(mqttc_client *c, int is_sent, const mqttc_packet *k, void *u) {
    peer *p = (peer *)u;
    (void)c;
    if (!is_sent && p->flows) flows_received(p->flows, k);
    if (!is_sent) return;
    switch (k->type) {
    case MQTTC_CONNECT:
        if (p->connects < LOG_MAX) p->connect_ms[p->connects] = mqttc_now_ms();
        p->connects++;
        break;
    case MQTTC_PUBLISH:
        p->sent_pub++;
        p->sent_dup += k->publish.dup;
        if (p->log_n < LOG_MAX) {
            sent_publish *e = &p->log[p->log_n++];
            e->id = k->publish.packet_id;
            e->qos = (unsigned char)k->publish.qos;
            e->dup = (unsigned char)k->publish.dup;
            e->link = p->connects;
            snprintf(e->payload, sizeof e->payload, "%.*s", (int)k->publish.payload_len,
                     (const char *)k->publish.payload);
        }
        break;
    case MQTTC_SUBSCRIBE:
        if (p->sent_subscribe < LOG_MAX) p->subscribe_link[p->sent_subscribe] = p->connects;
        p->sent_subscribe++;
        break;
    case MQTTC_PUBREL: p->sent_pubrel++; break;
    default: break;
    }
}

/* ---- the loop: every client that is open or waiting to dial, stepped together ---- */

static peer *loop_set[MAX_PEERS];
static int loop_n;

static int is_live(const peer *p) {
    int s = mqttc_state(&p->c);
    return s != MQTTC_STATE_IDLE && s != MQTTC_STATE_CLOSED;
}

/* Waits (poll(2) on every live client, at most max_ms; a WAITING one has no fd, only its
   timeout), then steps them all. */
static void spin(long max_ms) {
    struct pollfd fds[MAX_PEERS];
    peer *live[MAX_PEERS];
    int n = 0;
    long ms = max_ms;
    uint64_t now = mqttc_now_ms();
    for (int i = 0; i < loop_n; i++) {
        if (!is_live(loop_set[i])) continue;
        long t = mqttc_timeout_ms(&loop_set[i]->c, now);
        if (t >= 0 && t < ms) ms = t;
        live[n] = loop_set[i];
        fds[n++] = test_pollfd(&loop_set[i]->c);
    }
    if (n == 0) {
        sleep_ms(max_ms);
        return;
    }
    poll(fds, (nfds_t)n, (int)ms);
    now = mqttc_now_ms();
    for (int i = 0; i < n; i++) mqttc_step(&live[i]->c, now);
}

#define UNTIL(cond, ms)                                                                                                \
    do {                                                                                                               \
        uint64_t until_end_ = mqttc_now_ms() + (ms);                                                                   \
        while (!(cond) && mqttc_now_ms() < until_end_) spin(10);                                                       \
    } while (0)

/* A peer with every callback on (version 5: MQTT 5, else 3.1.1). */
static void peer_options(peer *p, const char *id, int version) {
    memset(p, 0, sizeof *p);
    p->name = id;
    p->o.client_id = id;
    p->o.protocol_version = version;
    p->o.on_message = on_message;
    p->o.on_published = on_published;
    p->o.on_status = on_status;
    p->o.on_trace = on_trace;
    p->o.on_dropped = on_dropped;
    p->o.user = p;
    p->o.connect_timeout_ms = 5000;
    p->last_retry = -2;
}

static int peer_init(peer *p) {
    if (p->is_init) return MQTTC_OK;
    int rc = mqttc_init(&p->c, &p->o);
    if (rc != MQTTC_OK) {
        fprintf(stderr, "init %s: %s (%s)\n", p->name, mqttc_errname(rc), mqttc_bad_arg(&p->c));
        return rc;
    }
    p->is_init = 1;
    p->id_map = (int *)calloc(65536, sizeof(int));
    loop_set[loop_n++] = p;
    return MQTTC_OK;
}

/* Initialises (the first time) and connects, blocking. */
static int peer_connect(peer *p, int port) {
    int rc = peer_init(p);
    return rc == MQTTC_OK ? mqttc_connect(&p->c, "127.0.0.1", port) : rc;
}

static int peer_subscribe(peer *p, const char *filter, int qos) {
    int before = p->subacks;
    int rc = mqttc_subscribe(&p->c, filter, qos, on_suback, NULL, p, NULL);
    if (rc != MQTTC_OK) return rc;
    UNTIL(p->subacks > before, 5000);
    return p->subacks > before ? MQTTC_OK : MQTTC_ERR_TIMEOUT;
}

/* Publishes the next number of s; its id is mapped back to it for on_published. */
static int publish_next(peer *p, stream *s) {
    char payload[16];
    unsigned short id = 0;
    int n = s->published + 1, k = 0;
    if (n > MAX_SEQ) return MQTTC_ERR_BUSY;
    snprintf(payload, sizeof payload, "%0*d", s->width, n);
    int rc = mqttc_publish(&p->c, s->topic, payload, strlen(payload), s->qos, 0, &id);
    if (rc != MQTTC_OK) {
        s->refused++;
        s->refused_rc = rc;
        return rc;
    }
    s->published = n;
    p->last_id = id;
    while (k < MAX_STREAMS && p->out[k] && p->out[k] != s) k++;
    if (k < MAX_STREAMS && !p->out[k]) p->out[k] = s;
    if (id && k < MAX_STREAMS) p->id_map[id] = ((k + 1) << 20) | n;
    return MQTTC_OK;
}

/* A graceful end for every peer, then deinit. */
static void peers_end(void) {
    for (int i = 0; i < loop_n; i++)
        if (mqttc_state(&loop_set[i]->c) == MQTTC_STATE_CONNECTED) mqttc_disconnect(&loop_set[i]->c);
    for (int i = 0; i < loop_n; i++)
        UNTIL(!is_live(loop_set[i]) || mqttc_state(&loop_set[i]->c) == MQTTC_STATE_WAITING, 3000);
    for (int i = 0; i < loop_n; i++) {
        mqttc_deinit(&loop_set[i]->c);
        free(loop_set[i]->id_map);
        loop_set[i]->id_map = NULL;
        loop_set[i]->is_init = 0;
    }
    loop_n = 0;
}

static int file_exists(const char *path) { return access(path, F_OK) == 0; }

static long file_number(const char *path) {
    FILE *f = fopen(path, "r");
    long n = -1;
    if (f) {
        if (fscanf(f, "%ld", &n) != 1) n = -1;
        fclose(f);
    }
    return n;
}

/* ---- kill and cut: 50 losses while QoS 1 and QoS 2 streams flow ----
   A publisher and a subscriber (persistent sessions, reconnect on) on one broker; the
   script kills and restarts mosquitto (kill), or drops every link at a relay (cut), each
   time once both clients are back and traffic has flowed a while; it writes how many times
   into DONEFILE when it is done. Both streams go at once, one message each per PACE_MS,
   while fewer than MAX_BACKLOG wait in the publisher's queue (offline, or past the window):
   a slow machine sends fewer, never a backlog the drain cannot clear.
   Through the relay the broker keeps every state: nothing may be lost or (QoS 2)
   duplicated end to end. A SIGKILLed mosquitto forgets what came since it last saved its
   database (mosquitto 2.0's main loop handles the packets, its acknowledgements go out, and
   only then does autosave_on_changes save, when enough changed): there the checks
   hold each client to its part, from the traces: the publisher got every message
   acknowledged, the subscriber delivered every message it received, QoS 2 once a flow;
   what is missing end to end was acknowledged by mosquitto and never reached the subscriber. */
enum { PACE_MS = 2, MAX_BACKLOG = 200 };

/* Where each missing or repeated message went wrong. */
typedef struct storm_count {
    int missing, never_sent, swallowed, client_lost, unacked, repeats;
} storm_count;

static storm_count storm_classify(const stream *s, const flows *f) {
    storm_count k;
    memset(&k, 0, sizeof k);
    const unsigned char *received = s->qos == 1 ? f->received1 : f->received2;
    for (int n = 1; n <= s->published; n++) {
        if (s->seen[n] > 1) k.repeats += s->seen[n] - 1;
        if (s->seen[n]) continue;
        k.missing++;
        if (!s->acked[n]) k.unacked++;
        else if (!received[n]) k.never_sent++;
        else if (s->qos == 2 && f->swallowed[n]) k.swallowed++;
        else k.client_lost++;
        if (k.missing <= 6)
            report("QoS %d #%d missing: acknowledged to the publisher %d, PUBLISH received by the subscriber %d%s",
                   s->qos, n, s->acked[n], received[n], s->qos == 2 && f->swallowed[n] ? " (with an id still open)" : "");
    }
    return k;
}

/* Steps until the publisher has nothing left and the subscriber has everything, or has
   taken nothing new for 2 s (what the broker lost never comes; nor may the PUBREL of a
   flow it forgot, so the subscriber's open flows are not waited for). */
static uint64_t storm_drain(peer *pub, peer *sub, const stream *q1, const stream *q2) {
    uint64_t t0 = mqttc_now_ms(), quiet_since = t0;
    int last = sub->messages;
    while (mqttc_now_ms() - t0 < 30000) {
        int empty = mqttc_inflight(&pub->c) == 0 && mqttc_queued(&pub->c) == 0;
        if (empty && mqttc_inflight_in(&sub->c) == 0 && stream_all_seen(q1) && stream_all_seen(q2)) break;
        if (sub->messages != last) {
            last = sub->messages;
            quiet_since = mqttc_now_ms();
        }
        if (empty && mqttc_now_ms() - quiet_since > 2000) break;
        spin(10);
    }
    return mqttc_now_ms() - t0;
}

static void storm_clients(const char *label, peer *pub, peer *sub, const stream *q1, const stream *q2, long losses) {
    char name[320];
    tally t1 = stream_tally(q1), t2 = stream_tally(q2);
    snprintf(name, sizeof name, "%s: each client came back after each of the %ld losses and never stopped trying "
             "(no on_status with retry_ms -1); both CONNECTED at the end", label, losses);
    verdict(name,
            losses >= 1 && pub->connected >= losses + 1 && sub->connected >= losses + 1 && !pub->stops && !sub->stops &&
                mqttc_state(&pub->c) == MQTTC_STATE_CONNECTED && mqttc_state(&sub->c) == MQTTC_STATE_CONNECTED,
            "links %d/%d, stops %d/%d, states %d/%d", pub->connected, sub->connected, pub->stops, sub->stops,
            mqttc_state(&pub->c), mqttc_state(&sub->c));
    snprintf(name, sizeof name, "%s: every publish accepted, those made while offline held (queue_bytes)", label);
    verdict(name, q1->refused == 0 && q2->refused == 0, "refused %d/%d, last %s", q1->refused, q2->refused,
            mqttc_errname(q1->refused_rc ? q1->refused_rc : q2->refused_rc));
    snprintf(name, sizeof name, "MQTT-4.4.0-1 %s: unacknowledged messages went again after the reconnects, with DUP "
             "[MQTT-3.3.1-1], and PUBREL for those past PUBREC (the storm caught messages in flight)", label);
    verdict(name, pub->sent_dup > 0 && pub->present[1] > 0, "%d resent with DUP, %d links with the session kept",
            pub->sent_dup, pub->present[1]);
    snprintf(name, sizeof name, "MQTT-4.3.2-1 MQTT-4.3.3-1 %s: the publisher got every message acknowledged "
             "(PUBACK, PUBCOMP): nothing left in flight or queued, on_dropped never called", label);
    verdict(name, t1.unacked == 0 && t2.unacked == 0 && mqttc_inflight(&pub->c) == 0 && mqttc_queued(&pub->c) == 0 &&
                      pub->dropped == 0,
            "unacknowledged %d/%d, inflight %u, queued %u, dropped %d (first why %s)", t1.unacked, t2.unacked,
            mqttc_inflight(&pub->c), mqttc_queued(&pub->c), pub->dropped,
            pub->dropped ? mqttc_errname(pub->dropped_why[0]) : "-");
}

static void scenario_storm(const char *label, int version, int port, const char *done_path) {
    static peer pub, sub;
    stream q1, q2;
    flows f;
    int is_kill = !strcmp(label, "kill");
    char topic1[64], topic2[64], filter[64], pub_id[64], sub_id[64], name[400];
    snprintf(topic1, sizeof topic1, "rc/%s/1", label);
    snprintf(topic2, sizeof topic2, "rc/%s/2", label);
    snprintf(filter, sizeof filter, "rc/%s/#", label);
    snprintf(pub_id, sizeof pub_id, "rc-%s-pub", label);
    snprintf(sub_id, sizeof sub_id, "rc-%s-sub", label);
    stream_init(&q1, topic1, 1);
    stream_init(&q2, topic2, 2);
    flows_init(&f, &q1, &q2);
    peer *both[2] = {&pub, &sub};
    for (int i = 0; i < 2; i++) {
        peer *p = both[i];
        peer_options(p, i ? sub_id : pub_id, version);
        p->o.no_clean_session = 1;
        if (version == 5) p->o.session_expiry_s = 600;
        p->o.keepalive_s = 1;  /* a link cut silently (the relay's hold) is found in 2 s */
        p->o.reconnect_min_ms = 10;
        p->o.reconnect_max_ms = 250;
        p->o.reconnect_reset_ms = 40; /* each life of the broker is a new story, not a flap */
        p->o.queue_bytes = 4u << 20;  /* whatever is published while offline is held */
    }
    sub.in[0] = &q1;
    sub.in[1] = &q2;
    sub.flows = &f;
    int rc = peer_connect(&sub, port);
    if (rc == MQTTC_OK) rc = peer_subscribe(&sub, filter, 2);
    if (rc == MQTTC_OK) rc = peer_connect(&pub, port);
    verdict("storm: publisher and subscriber connected (MQTT 3.1.1; through the relay MQTT 5), subscription made",
            rc == MQTTC_OK, "%s", mqttc_errname(rc));
    uint64_t t0 = mqttc_now_ms(), now = t0;
    while (rc == MQTTC_OK && !file_exists(done_path) && now - t0 < 150000) {
        long due = (long)((now - t0) / PACE_MS);
        while (q1.published < due && q1.published < MAX_SEQ && q2.published < MAX_SEQ &&
               mqttc_queued(&pub.c) < MAX_BACKLOG && publish_next(&pub, &q1) == MQTTC_OK &&
               publish_next(&pub, &q2) == MQTTC_OK) {
        }
        spin(PACE_MS);
        now = mqttc_now_ms();
    }
    uint64_t t_done = mqttc_now_ms(), drained_ms = storm_drain(&pub, &sub, &q1, &q2);
    UNTIL(0, 300); /* late repeats */
    long losses = file_number(done_path);
    report("%s: %ld %s, %.1f s of traffic, drained in %llu ms", label, losses,
           is_kill ? "SIGKILLs and restarts of mosquitto" : "cuts at the relay (2 of them silent)",
           (double)(t_done - t0) / 1000.0, (unsigned long long)drained_ms);
    for (int i = 0; i < 2; i++) {
        peer *p = both[i];
        report("%s: %d links (%d reconnects), %d failed attempts, %d losses, session present 1/0: %d/%d, "
               "largest attempt %u, %d stops; sent %d PUBLISH (%d with DUP), %d PUBREL",
               p->name, p->connected, p->connected - 1, p->failed, p->lost, p->present[1], p->present[0],
               p->max_attempt, p->stops, p->sent_pub, p->sent_dup, p->sent_pubrel);
    }
    storm_count k1 = storm_classify(&q1, &f), k2 = storm_classify(&q2, &f);
    report("QoS 1: %d published, %d missing (%d never reached the subscriber, %d lost by the subscriber, %d "
           "unacknowledged), %d duplicates",
           q1.published, k1.missing, k1.never_sent, k1.client_lost, k1.unacked, k1.repeats);
    report("QoS 2: %d published, %d missing (%d never reached the subscriber, %d sent with an id the subscriber still "
           "had open, %d lost by the subscriber, %d unacknowledged), %d duplicates (%d sent again by the broker as new "
           "messages, %d within one flow)",
           q2.published, k2.missing, k2.never_sent, k2.swallowed, k2.client_lost, k2.unacked, k2.repeats,
           f.delivered_again_after, f.delivered_again_in_flow);
    report("the subscriber's trace: %d QoS 2 repeats within a flow (not delivered again: right), %d sent again as new "
           "messages, %d ids reused while open; %u flows still awaiting PUBREL at the end",
           f.repeat_in_flow, f.resent_after_complete, f.id_reused, mqttc_inflight_in(&sub.c));
    storm_clients(label, &pub, &sub, &q1, &q2, losses);
    snprintf(name, sizeof name, "MQTT-4.3.2-2 %s: the subscriber delivered every QoS 1 message it received, and no QoS "
             "2 message twice within one flow [MQTT-4.3.3-2]", label);
    verdict(name, !k1.client_lost && !k2.client_lost && !f.delivered_again_in_flow && !f.delivered_again_unknown,
            "QoS 1 lost %d, QoS 2 lost %d, delivered again within a flow %d (unexplained %d)", k1.client_lost,
            k2.client_lost, f.delivered_again_in_flow, f.delivered_again_unknown);
    if (!is_kill) {
        snprintf(name, sizeof name, "MQTT-4.3.2-2 cut: QoS 1, nothing lost end to end (%d messages, %d duplicates)",
                 q1.published, k1.repeats);
        verdict(name, q1.published > 0 && k1.missing == 0, "%d of %d missing", k1.missing, q1.published);
        snprintf(name, sizeof name, "MQTT-4.3.3-2 cut: QoS 2, nothing lost and nothing duplicated end to end (%d "
                 "messages)", q2.published);
        verdict(name, q2.published > 0 && k2.missing == 0 && k2.repeats == 0, "%d missing, %d duplicates", k2.missing,
                k2.repeats);
    } else {
        snprintf(name, sizeof name, "MQTT-4.3.2-2 kill: QoS 1, nothing lost by the clients (%d messages, %d "
                 "duplicates): the %d missing were each acknowledged by mosquitto and never reached the subscriber "
                 "(lost in its SIGKILL)", q1.published, k1.repeats, k1.missing);
        verdict(name, q1.published > 0 && k1.missing == k1.never_sent,
                "%d missing, %d of them never reached the subscriber", k1.missing, k1.never_sent);
        snprintf(name, sizeof name, "MQTT-4.3.3-2 kill: QoS 2, nothing lost or duplicated by the clients (%d "
                 "messages): the %d missing were acknowledged by mosquitto and never reached the subscriber, or came "
                 "under an id whose flow mosquitto had left open; the %d duplicates came from mosquitto as new "
                 "messages (another packet id, or the same after PUBREL had completed the flow)",
                 q2.published, k2.missing, k2.repeats);
        verdict(name,
                q2.published > 0 && k2.missing == k2.never_sent + k2.swallowed && k2.repeats == f.delivered_again_after,
                "%d missing (%d never reached the subscriber, %d with an open id), %d duplicates (%d as new)",
                k2.missing, k2.never_sent, k2.swallowed, k2.repeats, f.delivered_again_after);
    }
    peers_end();
    flows_free(&f);
    stream_free(&q1);
    stream_free(&q2);
}

/* ---- failover: two mosquitto instances, options.brokers ----
   F1 and F2 connect to A (brokers: a dead port, then B), persistent sessions. A is stopped
   (SIGSTOP), each publishes five QoS 1 and one QoS 2 message (written, never acknowledged),
   A is killed. Each client tries the dead port, then B: session present 0 there, so F1 makes
   its subscription again and F2 (no_resubscribe) does not; the QoS 1 messages go again as new
   (DUP 0, their ids), F1's QoS 2 one is reported to on_dropped, F2's (republish_qos2) goes
   again as new. An observer on B counts. */
static int failover_check_resent(peer *p, int link, char *why, size_t cap) {
    int found = 0;
    for (int i = 0; i < p->log_n; i++) {
        const sent_publish *e = &p->log[i];
        if (e->link != 1 || e->qos != 1 || !strcmp(e->payload, "warm")) continue;
        int again = 0;
        for (int j = 0; j < p->log_n; j++)
            if (p->log[j].link == link && p->log[j].id == e->id && !strcmp(p->log[j].payload, e->payload)) {
                again = 1;
                if (p->log[j].dup) {
                    snprintf(why, cap, "id %u went with DUP 1", e->id);
                    return 0;
                }
            }
        if (!again) {
            snprintf(why, cap, "id %u (%s) not sent on link %d", e->id, e->payload, link);
            return 0;
        }
        found++;
    }
    snprintf(why, cap, "%d resent", found);
    return found == 5;
}

static void scenario_failover(int port_a, pid_t pid_a, int port_b, int port_dead) {
    static peer f1, f2, obs;
    stream o1, o2, o1q2, o2q2, mine;
    char b_addr[32], dead_addr[32], why[160];
    snprintf(b_addr, sizeof b_addr, "127.0.0.1:%d", port_b);
    snprintf(dead_addr, sizeof dead_addr, "127.0.0.1:%d", port_dead);
    const char *brokers[3] = {dead_addr, b_addr, NULL};
    stream_init(&o1, "rc/fo/f1/x", 1);
    stream_init(&o2, "rc/fo/f2/x", 1);
    stream_init(&o1q2, "rc/fo/f1/q2", 2);
    stream_init(&o2q2, "rc/fo/f2/q2", 2);
    stream_init(&mine, "rc/fo/f1/x", 1);
    peer_options(&obs, "rc-fo-observer", 0);
    obs.in[0] = &o1;
    obs.in[1] = &o2;
    obs.in[2] = &o1q2;
    obs.in[3] = &o2q2;
    peer *fs[2] = {&f1, &f2};
    for (int i = 0; i < 2; i++) {
        peer_options(fs[i], i ? "rc-fo-2" : "rc-fo-1", 0);
        fs[i]->o.no_clean_session = 1;
        fs[i]->o.reconnect_min_ms = 20;
        fs[i]->o.reconnect_max_ms = 200;
        fs[i]->o.brokers = brokers;
    }
    f2.o.republish_qos2 = 1;
    f2.o.no_resubscribe = 1;
    f1.in[0] = &mine;
    int rc = peer_connect(&obs, port_b);
    if (rc == MQTTC_OK) rc = peer_subscribe(&obs, "rc/fo/#", 2);
    if (rc == MQTTC_OK) rc = peer_connect(&f1, port_a);
    if (rc == MQTTC_OK) rc = peer_subscribe(&f1, "rc/fo/f1/#", 1);
    if (rc == MQTTC_OK) rc = peer_connect(&f2, port_a);
    if (rc == MQTTC_OK) rc = peer_subscribe(&f2, "rc/fo/f2/#", 1);
    if (rc == MQTTC_OK) rc = mqttc_publish(&f1.c, "rc/fo/f1/warm", "warm", 4, 1, 0, NULL);
    if (rc == MQTTC_OK) rc = mqttc_publish(&f2.c, "rc/fo/f2/warm", "warm", 4, 1, 0, NULL);
    UNTIL(f1.published == 1 && f2.published == 1, 3000);
    verdict("failover: an observer on B, F1 and F2 on A, subscribed, a first message acknowledged by A",
            rc == MQTTC_OK && f1.published == 1 && f2.published == 1 && f1.peer_port == port_a,
            "%s, acks %d/%d, F1 on port %d", mqttc_errname(rc), f1.published, f2.published, f1.peer_port);
    if (rc != MQTTC_OK) goto end;
    kill(pid_a, SIGSTOP);
    unsigned short q2_id[2] = {0, 0};
    for (int i = 0; i < 2 && rc == MQTTC_OK; i++) {
        peer *p = fs[i];
        for (int n = 1; n <= 5 && rc == MQTTC_OK; n++) rc = publish_next(p, i ? &o2 : &o1);
        if (rc == MQTTC_OK) rc = mqttc_publish(&p->c, i ? o2q2.topic : o1q2.topic, "1", 1, 2, 0, &q2_id[i]);
    }
    UNTIL(0, 150);
    int inflight_at_kill = (int)(mqttc_inflight(&f1.c) + mqttc_inflight(&f2.c));
    int links_before = f1.connects;
    kill(pid_a, SIGKILL);
    report("A (pid %d) stopped, 12 messages published (%s), %d in flight, then killed", (int)pid_a, mqttc_errname(rc),
           inflight_at_kill);
    UNTIL(f1.connected == 2 && f2.connected == 2, 8000);
    verdict("failover: both clients moved on: one failed attempt at the dead port (options.brokers[0]), then B "
            "(options.brokers[1])",
            f1.connected == 2 && f2.connected == 2 && f1.peer_port == port_b && f2.peer_port == port_b &&
                f1.failed == 1 && f2.failed == 1 && f1.lost == 1,
            "links %d/%d, ports %d/%d (B %d), failed attempts %d/%d, losses %d", f1.connected, f2.connected,
            f1.peer_port, f2.peer_port, port_b, f1.failed, f2.failed, f1.lost);
    verdict("MQTT-3.2.2-3 failover: B has no session of theirs: session present 0",
            f1.connected == 2 && !f1.last_present && f2.connected == 2 && !f2.last_present, "session present %d/%d",
            f1.last_present, f2.last_present);
    int sub_again = 0;
    for (int i = 0; i < f1.sent_subscribe && i < LOG_MAX; i++) sub_again += f1.subscribe_link[i] > links_before;
    report("on_trace saw F1 send %d SUBSCRIBE after the move, F2 %d in all", sub_again, f2.sent_subscribe);
    int ok1 = failover_check_resent(&f1, f1.connects, why, sizeof why);
    verdict("failover: F1's five QoS 1 messages in flight at the kill went again to B as new ones (same ids, DUP 0)",
            inflight_at_kill == 12 && ok1, "in flight at the kill %d; %s", inflight_at_kill, why);
    int ok2 = failover_check_resent(&f2, f2.connects, why, sizeof why);
    verdict("failover: F2's five likewise", ok2, "%s", why);
    UNTIL(stream_all_seen(&o1) && stream_all_seen(&o2) && o2q2.order_n >= 1, 5000);
    tally t1 = stream_tally(&o1), t2 = stream_tally(&o2);
    verdict("failover: the observer on B got F1's and F2's QoS 1 messages 1..5, once each, in order",
            !t1.missing && !t2.missing && !t1.repeats && !t2.repeats && !t1.out_of_order && !t2.out_of_order,
            "F1 missing %d repeats %d disorder %d, F2 missing %d repeats %d disorder %d", t1.missing, t1.repeats,
            t1.out_of_order, t2.missing, t2.repeats, t2.out_of_order);
    verdict("failover: F1's QoS 2 message went to on_dropped as MQTTC_ERR_SESSION_LOST (its id and payload), "
            "not sent to B",
            f1.dropped == 1 && f1.dropped_why[0] == MQTTC_ERR_SESSION_LOST && f1.dropped_id[0] == q2_id[0] &&
                !strcmp(f1.dropped_payload[0], "1") && o1q2.order_n == 0,
            "%d dropped, why %s, id %u (published %u), payload '%s'; observer got %d", f1.dropped,
            f1.dropped ? mqttc_errname(f1.dropped_why[0]) : "-", f1.dropped ? f1.dropped_id[0] : 0, q2_id[0],
            f1.dropped ? f1.dropped_payload[0] : "", o1q2.order_n);
    verdict("failover: F2's QoS 2 message (republish_qos2) went again as new and arrived once; nothing dropped",
            f2.dropped == 0 && o2q2.order_n == 1, "%d dropped, observer got it %d times", f2.dropped, o2q2.order_n);
    /* after the move: F1's subscription on B works, F2 has none */
    int before1 = mine.order_n, before2 = f2.messages;
    rc = publish_next(&f1, &o1);
    if (rc == MQTTC_OK) rc = publish_next(&f2, &o2);
    UNTIL(mine.seen[6] >= 1 && o2.seen[6] >= 1, 3000);
    UNTIL(0, 100);
    verdict("failover: F1 made its subscription again on B (it receives there); F2 (no_resubscribe) did not (it "
            "receives nothing)",
            rc == MQTTC_OK && mine.seen[6] >= 1 && f2.messages == before2,
            "%s; F1 got %d (before %d), #6 %d times; F2 got %d more", mqttc_errname(rc), mine.order_n, before1,
            mine.seen[6], f2.messages - before2);
    report("F1: %d links, %d failed attempts, %d PUBLISH sent (%d DUP), %d SUBSCRIBE; F2: %d links, %d PUBLISH",
           f1.connected, f1.failed, f1.sent_pub, f1.sent_dup, f1.sent_subscribe, f2.connected, f2.sent_pub);
end:
    peers_end();
    stream_free(&o1);
    stream_free(&o2);
    stream_free(&o1q2);
    stream_free(&o2q2);
    stream_free(&mine);
}

/* ---- auth: mosquitto refuses the password ----
   3.1.1 code 5 and MQTT 5 0x87 stop the attempts (CLOSED, on_status retry_ms -1, no further
   TCP connect: counted in mosquitto's log); an on_status that overrides with mqttc_set_retry
   gets attempts on its plan. */
static const char *log_path;
static int auth_port;

static int log_connections(void) {
    FILE *f = fopen(log_path, "r");
    char line[512];
    int n = 0;
    if (!f) return -1;
    while (fgets(line, sizeof line, f)) n += strstr(line, "New connection from") != NULL;
    fclose(f);
    return n;
}

static void auth_refused(const char *id, int version, int want_reason) {
    static peer p;
    char name[256];
    peer_options(&p, id, version);
    p.o.username = "rc-user";
    p.o.password = "wrong";
    p.o.password_len = 5;
    p.o.reconnect_min_ms = 20;
    p.o.reconnect_first = 1; /* a first connect that fails would be retried: not this one */
    int before = log_connections();
    int rc = peer_connect(&p, auth_port);
    UNTIL(0, 500); /* 20 ms plans: a retry would have come many times */
    int after = log_connections();
    snprintf(name, sizeof name, "MQTT-3.2.2-5 %s: refused (%s %d): CONNECT_FAILED with retry_ms -1, CLOSED, no fd, "
             "one CONNECT and one TCP connect in 500 ms", id, version == 5 ? "reason" : "code", want_reason);
    verdict(name,
            rc == MQTTC_ERR_REFUSED && mqttc_reason_code(&p.c) == want_reason && p.failed == 1 && p.last_retry == -1 &&
                p.last_reason == want_reason && mqttc_state(&p.c) == MQTTC_STATE_CLOSED && mqttc_fd(&p.c) == -1 &&
                p.connects == 1 && after - before == 1 && mqttc_error(&p.c) == MQTTC_ERR_REFUSED,
            "connect %s, reason %d, on_status %d failed (retry_ms %ld, reason %d), state %d, fd %d, %d CONNECT, "
            "%d TCP connects in the log",
            mqttc_errname(rc), mqttc_reason_code(&p.c), p.failed, p.last_retry, p.last_reason, mqttc_state(&p.c),
            mqttc_fd(&p.c), p.connects, after - before);
    peers_end();
}

static const long override_plan[] = {0, 100, 200};

static void override_policy(peer *p, const mqttc_status *s) {
    if (s->event == MQTTC_EVENT_CONNECTED || p->policy_count >= 3) return;
    mqttc_set_retry(&p->c, override_plan[p->policy_count++]);
}

static void auth_override(void) {
    static peer p;
    peer_options(&p, "rc-auth-override", 0);
    p.o.username = "rc-user";
    p.o.password = "wrong";
    p.o.password_len = 5;
    p.o.reconnect_min_ms = 20;
    p.o.reconnect_first = 1;
    p.policy = override_policy;
    int before = log_connections();
    uint64_t t0 = mqttc_now_ms();
    int rc = peer_connect(&p, auth_port); /* blocks through the plan */
    long took = (long)(mqttc_now_ms() - t0);
    UNTIL(0, 400);
    int after = log_connections(), gaps_ok = p.connects == 4;
    char gaps[128] = "";
    for (int i = 1; i < p.connects && i < 4; i++) {
        long gap = (long)(p.connect_ms[i] - p.connect_ms[i - 1]);
        gaps_ok &= gap >= override_plan[i - 1] - 25 && gap <= override_plan[i - 1] + 400;
        snprintf(gaps + strlen(gaps), sizeof gaps - strlen(gaps), "%s%ld", i > 1 ? ", " : "", gap);
    }
    report("override: CONNECTs %s ms apart (plan 0, 100, 200); mqttc_connect returned after %ld ms", gaps, took);
    verdict("auth: on_status overriding the stop with mqttc_set_retry(0, 100, 200): four CONNECTs on that plan, then "
            "CLOSED; the blocking mqttc_connect waits through it and returns refused",
            rc == MQTTC_ERR_REFUSED && gaps_ok && after - before == 4 && p.failed == 4 && p.stops == 4 &&
                mqttc_state(&p.c) == MQTTC_STATE_CLOSED,
            "connect %s, %d CONNECTs (gaps %s), %d TCP connects, %d failed, %d told -1, state %d", mqttc_errname(rc),
            p.connects, gaps, after - before, p.failed, p.stops, mqttc_state(&p.c));
    peers_end();
}

static void scenario_auth(void) {
    auth_refused("rc-auth-311", 0, 5);
    auth_refused("rc-auth-5", 5, MQTTC_RC_NOT_AUTHORIZED);
    auth_override();
}

/* ---- plan: minibroker --connack 3 (server unavailable: worth retrying) ----
   Attempt n waits d = min(max, min * 2^n), jittered in [d/2, d]; the CONNECTs follow the
   plan told to on_status; the same random_seed gives the same plan; without reconnect_first
   a first connect that fails is not retried. The gaps are measured between the CONNECTs as
   traced, while the plan counts from the start of the step that saw the refusal, which may
   have written that CONNECT too: up to 25 ms early (one slow step under Valgrind on a busy
   machine) or 400 ms late (Valgrind translating the dialling code the first time, on a
   busy machine) are allowed; the plans themselves are checked exactly. */
static void plan_stop_policy(peer *p, const mqttc_status *s) {
    if (s->event != MQTTC_EVENT_CONNECTED && ++p->policy_count >= 6) mqttc_set_retry(&p->c, -1);
}

static int plan_run(uint32_t seed, long *plan, int port) {
    static peer p;
    int ok = 1;
    peer_options(&p, "rc-plan", 0);
    p.o.reconnect_min_ms = 40;
    p.o.reconnect_max_ms = 320;
    p.o.reconnect_first = 1;
    p.o.random_seed = seed;
    p.policy = plan_stop_policy;
    int rc = peer_connect(&p, port);
    char line[512] = "";
    for (int i = 0; i < 5 && i < p.status_n; i++) {
        long d = 40L << i;
        if (d > 320) d = 320;
        long gap = (long)(p.connect_ms[i + 1] - p.connect_ms[i]);
        plan[i] = p.retry_log[i];
        ok &= p.retry_log[i] >= d / 2 && p.retry_log[i] <= d && gap >= p.retry_log[i] - 25 &&
              gap <= p.retry_log[i] + 400 && p.attempt_log[i] == (unsigned)i + 1 && p.error_log[i] == MQTTC_ERR_REFUSED;
        snprintf(line + strlen(line), sizeof line - strlen(line), "%s[%ld,%ld] plan %ld gap %ld attempt %u",
                 i ? "; " : "", d / 2, d, p.retry_log[i], gap, p.attempt_log[i]);
    }
    report("seed %u: %s", seed, line);
    ok &= rc == MQTTC_ERR_REFUSED && p.connects == 6 && p.status_n == 6 && p.stops == 0 &&
          mqttc_state(&p.c) == MQTTC_STATE_CLOSED; /* (the sixth plan overridden with -1) */
    if (!ok) report("connect %s, %d CONNECTs, %d on_status, %d told -1, state %d", mqttc_errname(rc), p.connects,
                    p.status_n, p.stops, mqttc_state(&p.c));
    peers_end();
    return ok;
}

static void scenario_plan(int port) {
    long a[5] = {0}, b[5] = {0}, c[5] = {0};
    int ok = plan_run(7, a, port);
    ok &= plan_run(7, b, port);
    verdict("plan: a refusal worth retrying (3.1.1 code 3): attempt n after d = min(320, 40 * 2^n) ms, jittered in "
            "[d/2, d], as told to on_status (retry_ms, attempt); the CONNECTs follow it",
            ok, "see the lines above");
    plan_run(99, c, port);
    verdict("plan: the same random_seed gives the same plan, another seed another",
            !memcmp(a, b, sizeof a) && memcmp(a, c, sizeof a),
            "7: %ld %ld %ld %ld %ld, 7: %ld %ld %ld %ld %ld, 99: %ld %ld %ld %ld %ld", a[0], a[1], a[2], a[3], a[4],
            b[0], b[1], b[2], b[3], b[4], c[0], c[1], c[2], c[3], c[4]);
    long z1[5] = {0}, z2[5] = {0};
    plan_run(0, z1, port);
    plan_run(0, z2, port);
    verdict("plan: random_seed 0 seeds each client apart: two clients, two plans (a fleet does not come back at one "
            "instant)",
            memcmp(z1, z2, sizeof z1) != 0, "%ld %ld %ld %ld %ld, %ld %ld %ld %ld %ld", z1[0], z1[1], z1[2], z1[3],
            z1[4], z2[0], z2[1], z2[2], z2[3], z2[4]);
    static peer p, q;
    peer_options(&q, "rc-plan-5", 5);
    q.o.reconnect_min_ms = 40;
    q.o.reconnect_first = 1;
    q.policy = plan_stop_policy;
    q.policy_count = 4; /* two attempts, then stop */
    int rc = peer_connect(&q, port);
    verdict("plan: MQTT 5's 0x88 (server unavailable) is retried too, on the same plan",
            rc == MQTTC_ERR_REFUSED && q.connects == 2 && q.last_reason == 0x88 && q.retry_log[0] >= 20 &&
                q.retry_log[0] <= 40 && q.stops == 0,
            "connect %s, %d CONNECTs, reason 0x%02x, first plan %ld, %d told -1", mqttc_errname(rc), q.connects,
            q.last_reason, q.retry_log[0], q.stops);
    peers_end();
    peer_options(&p, "rc-plan-first", 0);
    p.o.reconnect_min_ms = 40;
    rc = peer_connect(&p, port);
    UNTIL(0, 300);
    verdict("plan: without reconnect_first a first connect that is refused is not retried (retry_ms -1)",
            rc == MQTTC_ERR_REFUSED && p.connects == 1 && p.last_retry == -1 && mqttc_state(&p.c) == MQTTC_STATE_CLOSED,
            "connect %s, %d CONNECTs, retry_ms %ld, state %d", mqttc_errname(rc), p.connects, p.last_retry,
            mqttc_state(&p.c));
    peers_end();
}

/* ---- takeover: two clients with one client id, both reconnecting ----
   mosquitto 2.0 closes the older connection when the same id connects [MQTT-3.1.4-2], so
   each knocks the other off. Section 12: ten links in a row accepted and lost before
   reconnect_reset_ms, and the client stops. Measured: how many links each made, how long
   until nothing changed for 2 s, who is left. */
static void takeover_round(const char *id, int version, int port) {
    static peer a, b;
    char name[256];
    peer_options(&a, id, version);
    peer_options(&b, id, version);
    a.o.reconnect_min_ms = b.o.reconnect_min_ms = 10;
    a.o.reconnect_max_ms = b.o.reconnect_max_ms = 200;
    int rc = peer_connect(&a, port);
    uint64_t t0 = mqttc_now_ms();
    if (rc == MQTTC_OK) rc = peer_connect(&b, port);
    uint64_t last = t0;
    while (mqttc_now_ms() - t0 < 20000) { /* until nothing happened for 2 s */
        spin(20);
        if (a.changed_ms > last) last = a.changed_ms;
        if (b.changed_ms > last) last = b.changed_ms;
        if (mqttc_now_ms() - last > 2000) break;
    }
    int up_a = mqttc_state(&a.c) == MQTTC_STATE_CONNECTED, up_b = mqttc_state(&b.c) == MQTTC_STATE_CONNECTED;
    report("%s: settled after %llu ms: A %d links, %d losses, %d stops, state %d (last %s, retry %ld); "
           "B %d links, %d losses, %d stops, state %d (last %s, retry %ld)",
           id, (unsigned long long)(last - t0), a.connected, a.lost, a.stops, mqttc_state(&a.c),
           mqttc_errname(a.last_error), a.last_retry, b.connected, b.lost, b.stops, mqttc_state(&b.c),
           mqttc_errname(b.last_error), b.last_retry);
    snprintf(name, sizeof name, "MQTT-3.1.4-2 %s: no endless takeover battle: each client stops within 10 quick "
             "flaps, the battle ends within 10 s, one client keeps its link", id);
    verdict(name,
            rc == MQTTC_OK && a.connected <= 10 && b.connected <= 10 && last - t0 < 10000 && up_a + up_b == 1 &&
                a.stops + b.stops == 1,
            "connect %s, links %d/%d, %llu ms, connected %d/%d, stops %d/%d", mqttc_errname(rc), a.connected,
            b.connected, (unsigned long long)(last - t0), up_a, up_b, a.stops, b.stops);
    peers_end();
}

static void scenario_takeover(int port) {
    takeover_round("rc-twin-311", 0, port);
    takeover_round("rc-twin-5", 5, port);
}

/* ---- run: the blocking mqttc_run through reconnects ----
   minibroker --drop-after 3: each link takes CONNECT and two publishes (sent from on_status
   CONNECTED) and is closed. mqttc_run runs through the losses until on_status calls
   mqttc_disconnect (5th link), or mqttc_set_retry(-1) (3rd loss), or the flap bound; and
   a mqttc_disconnect whose drain the broker cuts short (two QoS 1 publishes, then
   disconnect: the second publish is the third packet) ends it too. */
static int run_mode, run_redialled;

static void run_policy(peer *p, const mqttc_status *s) {
    if (s->event == MQTTC_EVENT_CONNECTED) {
        if (run_mode == 0 && p->connected == 5) {
            mqttc_disconnect(&p->c);
            return;
        }
        if (run_mode == 3 && p->connected > 1) { /* dialled again after mqttc_disconnect: end it */
            run_redialled++;
            mqttc_disconnect(&p->c);
            return;
        }
        if (run_mode == 3) return; /* the first link: see run_round */
        mqttc_publish(&p->c, "rc/run/x", "a", 1, 0, 0, NULL);
        mqttc_publish(&p->c, "rc/run/x", "b", 1, 0, 0, NULL);
        return;
    }
    if (run_mode == 1 && p->lost == 3) mqttc_set_retry(&p->c, -1);
}

static void run_round(int mode, int port) {
    static peer p;
    run_mode = mode;
    run_redialled = 0;
    peer_options(&p, "rc-run", 0);
    p.o.reconnect_min_ms = 5;
    p.o.reconnect_max_ms = 40;
    p.policy = run_policy;
    int rc = peer_connect(&p, port);
    if (rc == MQTTC_OK && mode == 3) { /* DRAINING, and the broker drops the link in it */
        rc = mqttc_publish(&p.c, "rc/run/x", "a", 1, 1, 0, NULL);
        if (rc == MQTTC_OK) rc = mqttc_publish(&p.c, "rc/run/x", "b", 1, 1, 0, NULL);
        if (rc == MQTTC_OK) rc = mqttc_disconnect(&p.c);
    }
    if (rc == MQTTC_OK) rc = mqttc_run(&p.c);
    if (mode == 0)
        verdict("run: mqttc_run runs through 4 losses and returns MQTTC_ERR_DISCONNECT after mqttc_disconnect on the "
                "5th link",
                rc == MQTTC_ERR_DISCONNECT && p.connected == 5 && p.lost == 5 && p.stops == 1 &&
                    p.last_error == MQTTC_ERR_DISCONNECT && mqttc_state(&p.c) == MQTTC_STATE_CLOSED,
                "run %s, %d links, %d losses, %d stops, last %s, state %d", mqttc_errname(rc), p.connected, p.lost,
                p.stops, mqttc_errname(p.last_error), mqttc_state(&p.c));
    else if (mode == 1)
        verdict("run: mqttc_run returns the loss's error when on_status decides to stop (mqttc_set_retry(-1) at the "
                "3rd loss)",
                (rc == MQTTC_ERR_CLOSED || rc == MQTTC_ERR_IO) && rc == mqttc_error(&p.c) && p.connected == 3 &&
                    p.lost == 3 && mqttc_state(&p.c) == MQTTC_STATE_CLOSED,
                "run %s, %d links, %d losses, state %d", mqttc_errname(rc), p.connected, p.lost, mqttc_state(&p.c));
    else if (mode == 2)
        verdict("run: mqttc_run returns by itself after 10 links accepted and lost again quickly (the flap bound)",
                (rc == MQTTC_ERR_CLOSED || rc == MQTTC_ERR_IO) && p.connected == 10 && p.lost == 10 && p.stops == 1 &&
                    p.last_retry == -1,
                "run %s, %d links, %d losses, %d stops, retry %ld", mqttc_errname(rc), p.connected, p.lost, p.stops,
                p.last_retry);
    else
        verdict("run: mqttc_disconnect is final: a link lost while DRAINING (QoS 1 flows open) is not dialled again; "
                "on_status says retry_ms -1 and mqttc_run returns",
                p.connected == 1 && run_redialled == 0 && p.lost == 1 && p.stops == 1 && p.last_retry == -1 &&
                    mqttc_state(&p.c) == MQTTC_STATE_CLOSED,
                "run %s, %d links (%d after the disconnect), %d losses, retry_ms told %ld, error %s, state %d",
                mqttc_errname(rc), p.connected, run_redialled, p.lost, p.retry_log[0], mqttc_errname(p.error_log[0]),
                mqttc_state(&p.c));
    peers_end();
}

static void scenario_run(int port) {
    for (int mode = 0; mode < 4; mode++) run_round(mode, port);
}

/* ---- drain: mqttc_disconnect whose drain times out (minibroker --no-pubrel) ----
   The client subscribes QoS 2 and publishes to itself: the broker never releases the
   message, so mqttc_disconnect waits disconnect_timeout_ms, sends DISCONNECT and ends with
   "timeout". That end is the user's own: it is not dialled again. */
static int drain_redialled;

static void drain_policy(peer *p, const mqttc_status *s) {
    if (s->event == MQTTC_EVENT_CONNECTED && p->connected > 1) {
        drain_redialled++;
        mqttc_disconnect(&p->c);
    }
}

static void scenario_drain(int port) {
    static peer p;
    peer_options(&p, "rc-drain", 0);
    p.o.reconnect_min_ms = 20;
    p.o.disconnect_timeout_ms = 300;
    p.policy = drain_policy;
    int rc = peer_connect(&p, port);
    if (rc == MQTTC_OK) rc = peer_subscribe(&p, "rc/dr/#", 2);
    if (rc == MQTTC_OK) rc = mqttc_publish(&p.c, "rc/dr/x", "x", 1, 2, 0, NULL);
    UNTIL(mqttc_inflight_in(&p.c) == 1, 3000);
    int open_in = (int)mqttc_inflight_in(&p.c);
    if (rc == MQTTC_OK) rc = mqttc_disconnect(&p.c);
    if (rc == MQTTC_OK) rc = mqttc_run(&p.c);
    verdict("drain: mqttc_disconnect is final when its drain times out (an incoming QoS 2 never released): "
            "\"timeout\", retry_ms -1, no new link",
            open_in == 1 && rc == MQTTC_ERR_TIMEOUT && p.connected == 1 && drain_redialled == 0 && p.status_n >= 1 &&
                p.retry_log[0] == -1,
            "open incoming flows %d, run %s, %d links (%d after the disconnect), first loss %s with retry_ms %ld",
            open_in, mqttc_errname(rc), p.connected, drain_redialled, p.status_n ? mqttc_errname(p.error_log[0]) : "-",
            p.status_n ? p.retry_log[0] : 0);
    peers_end();
}

/* ---- churn: 1,000 reconnects against minibroker --drop-after 2 ----
   Each link: CONNECT, then the subscription made again (session present 0) and a QoS 1
   message that goes again as new: dropped after the second packet. The flap bound is
   overridden (mqttc_set_retry(1)); after the 1000th loss on_status stops it (set_retry(-1)),
   and mqttc_run returns. VmRSS and open descriptors at links 100, 500 and 1000. */
static long rss_kib(void) {
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long kib = -1;
    if (!f) return -1;
    while (fgets(line, sizeof line, f))
        if (!strncmp(line, "VmRSS:", 6)) kib = atol(line + 6);
    fclose(f);
    return kib;
}

static int open_fds(void) {
    DIR *d = opendir("/proc/self/fd");
    struct dirent *e;
    int n = 0;
    if (!d) return -1;
    while ((e = readdir(d)) != NULL) n += e->d_name[0] != '.';
    closedir(d);
    return n - 1; /* (the directory's own) */
}

enum { CHURN_LINKS = 1000 };
static long churn_rss[3];
static int churn_fds[3], churn_held;

static void churn_policy(peer *p, const mqttc_status *s) {
    if (s->event == MQTTC_EVENT_CONNECTED) {
        int at = p->connected == 100 ? 0 : p->connected == 500 ? 1 : p->connected == CHURN_LINKS ? 2 : -1;
        if (at >= 0) {
            churn_rss[at] = rss_kib();
            churn_fds[at] = open_fds();
        }
        return;
    }
    if (p->lost >= CHURN_LINKS) { /* the queue's bound after 1000 session losses: still all of it */
        mqttc_set_retry(&p->c, 1); /* (a client with no attempt to come holds nothing: plan one) */
        for (int i = 0; i < 200; i++) {
            char payload[8];
            snprintf(payload, sizeof payload, "%03d", i);
            churn_held += mqttc_publish(&p->c, "rc/churn/q", payload, 3, 1, 0, NULL) == MQTTC_OK;
        }
        mqttc_set_retry(&p->c, -1); /* the stop decision: mqttc_run returns */
    } else if (s->retry_ms < 0) {
        p->policy_count++;
        mqttc_set_retry(&p->c, 1);
    }
}

static void scenario_churn(int port, int check_rss) {
    static peer p;
    peer_options(&p, "rc-churn", 0);
    p.o.reconnect_min_ms = 1;
    p.o.reconnect_max_ms = 2;
    p.o.queue_bytes = 4096;
    p.policy = churn_policy;
    uint64_t t0 = mqttc_now_ms();
    int rc = peer_connect(&p, port);
    if (rc == MQTTC_OK) rc = mqttc_subscribe(&p.c, "rc/churn/#", 1, NULL, NULL, NULL, NULL);
    if (rc == MQTTC_OK) rc = mqttc_publish(&p.c, "rc/churn/x", "x", 1, 1, 0, NULL);
    if (rc == MQTTC_OK) rc = mqttc_run(&p.c);
    long took = (long)(mqttc_now_ms() - t0);
    report("churn: %d links in %ld ms, %d losses, %d failed attempts, %d flap stops overridden, %d SUBSCRIBE, "
           "%d PUBLISH sent; VmRSS %ld / %ld / %ld KiB and %d / %d / %d fds at links 100 / 500 / 1000",
           p.connected, took, p.lost, p.failed, p.policy_count, p.sent_subscribe, p.sent_pub, churn_rss[0],
           churn_rss[1], churn_rss[2], churn_fds[0], churn_fds[1], churn_fds[2]);
    if (check_rss) goto measured; /* (the other checks were made by the run under Valgrind) */
    verdict("churn: 1000 links made and lost again; mqttc_run returned the loss's error after the stop decision",
            (rc == MQTTC_ERR_CLOSED || rc == MQTTC_ERR_IO) && p.connected == CHURN_LINKS && p.lost == CHURN_LINKS,
            "run %s, %d links, %d losses", mqttc_errname(rc), p.connected, p.lost);
    verdict("churn: on_trace (\"every packet sent\") shows the SUBSCRIBE that makes the subscription again on each "
            "link (session present 0)",
            p.sent_subscribe >= CHURN_LINKS, "%d SUBSCRIBE traced in %d links (the broker's log: one per link)",
            p.sent_subscribe, p.connected);
    verdict("churn: after 1000 session losses the queue still holds what queue_bytes says: 200 more QoS 1 messages "
            "of 19 bytes beside the one in flight (4096 bytes)",
            churn_held == 200 && mqttc_queued(&p.c) == 200 && mqttc_inflight(&p.c) == 201, "%d accepted, %u queued, %u "
            "in flight", churn_held, mqttc_queued(&p.c), mqttc_inflight(&p.c));
measured:
    verdict("churn: no descriptor kept: as many open at link 1000 as at link 100",
            churn_fds[0] > 0 && churn_fds[0] == churn_fds[2], "%d, %d", churn_fds[0], churn_fds[2]);
    if (check_rss)
        verdict("churn: VmRSS flat from link 100 to link 1000 (at most 16 KiB more)",
                churn_rss[0] > 0 && churn_rss[2] - churn_rss[0] <= 16, "%ld KiB -> %ld KiB", churn_rss[0],
                churn_rss[2]);
    peers_end();
}

/* ---- transport: a connection begun over a transport of the test's own ----
   (options.reconnect_transport) A TCP link the test can cut; dialled again through the
   callback, which fails once on purpose (a failed attempt like any other); the session's
   QoS 1 message goes again with DUP. Begun by mqttc_adopt_fd without the callback, a loss
   cannot be dialled again: retry_ms -1. */
typedef test_cuttable cuttable; /* (test.h) */
static cuttable links[4];
static int links_n, transport_port, transport_calls, transport_fail_first;

/* A new link to the broker as a transport; MQTTC_ERR_CANNOTCONNECT when none is left. */
static int cut_open(mqttc_transport *t) {
    if (links_n >= 4) return MQTTC_ERR_CANNOTCONNECT;
    return test_cut_open(&links[links_n++], transport_port, t);
}

static int redial_transport(mqttc_client *c, mqttc_transport *t, void *u) {
    (void)c;
    (void)u;
    if (transport_calls++ == 0 && transport_fail_first) return MQTTC_ERR_CANNOTCONNECT;
    return cut_open(t);
}

static void scenario_transport(int port) {
    static peer p, q;
    mqttc_transport t;
    transport_port = port;
    transport_fail_first = 1;
    peer_options(&p, "rc-transport", 0);
    p.o.no_clean_session = 1;
    p.o.reconnect_min_ms = 20;
    p.o.reconnect_transport = redial_transport;
    int rc = peer_init(&p);
    if (rc == MQTTC_OK) rc = cut_open(&t);
    if (rc == MQTTC_OK) rc = mqttc_start_transport(&p.c, &t, mqttc_now_ms());
    if (rc == MQTTC_OK) rc = mqttc_connect_wait(&p.c);
    if (rc == MQTTC_OK) rc = mqttc_publish(&p.c, "rc/tr/x", "x", 1, 1, 0, NULL);
    links[0].cut = 1; /* before the PUBACK is read */
    UNTIL(p.connected == 2 && mqttc_inflight(&p.c) == 0, 5000);
    verdict("transport: a link of the test's own cut; reconnect_transport dials again (its first call fails: a failed "
            "attempt, retried); the kept session's QoS 1 message goes again with DUP [MQTT-4.4.0-1] and is "
            "acknowledged",
            rc == MQTTC_OK && transport_calls == 2 && p.failed == 1 && p.connected == 2 && p.last_present == 1 &&
                p.sent_dup == 1 && p.published == 1 && mqttc_inflight(&p.c) == 0,
            "%s, %d calls, %d failed, %d links, session present %d, %d DUP, %d acks, inflight %u", mqttc_errname(rc),
            transport_calls, p.failed, p.connected, p.last_present, p.sent_dup, p.published, mqttc_inflight(&p.c));
    peers_end();
    peer_options(&q, "rc-adopted", 0);
    q.o.reconnect_min_ms = 20;
    int fd = test_tcp_socket(port, 0, 0);
    rc = peer_init(&q);
    if (rc == MQTTC_OK) rc = fd >= 0 ? mqttc_adopt_fd(&q.c, fd, mqttc_now_ms()) : MQTTC_ERR_CANNOTCONNECT;
    if (rc == MQTTC_OK) rc = mqttc_connect_wait(&q.c);
    if (rc == MQTTC_OK) shutdown(mqttc_fd(&q.c), SHUT_RDWR);
    UNTIL(q.lost == 1, 3000);
    UNTIL(0, 200);
    verdict("transport: begun by mqttc_adopt_fd without reconnect_transport, a loss cannot be dialled again: "
            "retry_ms -1, CLOSED",
            rc == MQTTC_OK && q.lost == 1 && q.last_retry == -1 && q.connected == 1 &&
                mqttc_state(&q.c) == MQTTC_STATE_CLOSED,
            "%s, %d losses, retry_ms %ld, %d links, state %d", mqttc_errname(rc), q.lost, q.last_retry, q.connected,
            mqttc_state(&q.c));
    peers_end();
}

/* ---- limits: held messages checked against the next broker's CONNACK (MQTT 5) ----
   A is the minibroker --drop-after 2; B (options.brokers) another that allows QoS 1 and
   packets of at most 64 bytes. Held while offline: QoS 2 ones go to on_dropped as
   MQTTC_ERR_QOS, one larger than 64 bytes as MQTTC_ERR_TOOLARGE; the rest go to B. */
static void scenario_limits(int port_a, int port_b) {
    static peer p;
    char b_addr[32], big[80];
    snprintf(b_addr, sizeof b_addr, "127.0.0.1:%d", port_b);
    const char *brokers[2] = {b_addr, NULL};
    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    peer_options(&p, "rc-limits", 5);
    p.o.reconnect_min_ms = 400; /* time to publish while offline */
    p.o.queue_bytes = 4096;
    p.o.brokers = brokers;
    int rc = peer_connect(&p, port_a);
    if (rc == MQTTC_OK) rc = mqttc_publish(&p.c, "rc/lim/x", "trigger", 7, 0, 0, NULL); /* A's second packet */
    UNTIL(mqttc_state(&p.c) == MQTTC_STATE_WAITING, 3000);
    int waiting = mqttc_state(&p.c) == MQTTC_STATE_WAITING, ok = 0;
    unsigned short id_q2 = 0, id_big = 0, id_small = 0;
    if (rc == MQTTC_OK && waiting) {
        ok += mqttc_publish(&p.c, "rc/lim/x", "q2", 2, 2, 0, &id_q2) == MQTTC_OK;
        ok += mqttc_publish(&p.c, "rc/lim/x", big, strlen(big), 1, 0, &id_big) == MQTTC_OK;
        ok += mqttc_publish(&p.c, "rc/lim/x", "small", 5, 1, 0, &id_small) == MQTTC_OK;
    }
    UNTIL(p.connected == 2 && p.published == 1, 5000);
    int why_q2 = 0, why_big = 0;
    for (int i = 0; i < p.dropped && i < LOG_MAX; i++) {
        if (p.dropped_id[i] == id_q2) why_q2 = p.dropped_why[i];
        if (p.dropped_id[i] == id_big) why_big = p.dropped_why[i];
    }
    verdict("limits: held while offline, checked again against B's CONNACK (Maximum QoS 1, Maximum Packet Size 64): "
            "QoS 2 to on_dropped as MQTTC_ERR_QOS, the large one as MQTTC_ERR_TOOLARGE [MQTT-3.2.2-15], the small "
            "one sent and acknowledged",
            waiting && ok == 3 && p.connected == 2 && p.peer_port == port_b && why_q2 == MQTTC_ERR_QOS &&
                why_big == MQTTC_ERR_TOOLARGE && p.dropped == 2 && p.published == 1 && mqttc_inflight(&p.c) == 0,
            "waiting %d, %d accepted, %d links (port %d, B %d), dropped %d (QoS 2: %s, large: %s), %d acks, "
            "inflight %u",
            waiting, ok, p.connected, p.peer_port, port_b, p.dropped, mqttc_errname(why_q2), mqttc_errname(why_big),
            p.published, mqttc_inflight(&p.c));
    peers_end();
}

/* ---- srvdisconnect: the broker's DISCONNECT (MQTT 5), minibroker --disconnect-after 2 ----
   0x8E (session taken over) and 0x9C (use another server) stop the attempts; 0x8B (server
   shutting down) is retried. Each link: CONNECT, one publish, the broker's DISCONNECT. */
static void srvdisconnect_one(int port, int reason, int is_retried) {
    static peer p;
    char name[200];
    peer_options(&p, "rc-srvdisconnect", 5);
    p.o.reconnect_min_ms = 20;
    int rc = peer_connect(&p, port);
    if (rc == MQTTC_OK) rc = mqttc_publish(&p.c, "rc/sd/x", "x", 1, 0, 0, NULL);
    UNTIL(p.lost >= 1, 3000);
    if (is_retried) UNTIL(p.connected == 2, 3000);
    UNTIL(0, 300);
    snprintf(name, sizeof name, "srvdisconnect: the broker's DISCONNECT 0x%02X (%s): on_status CONNECTION_LOST, "
             "serverdisconnect, %s", reason, mqttc_reason_name(reason),
             is_retried ? "and the client dials again" : "retry_ms -1, CLOSED, no new link");
    int told = p.status_n >= 1 && p.error_log[0] == MQTTC_ERR_SERVER_DISCONNECT && p.reason_log[0] == reason;
    verdict(name,
            rc == MQTTC_OK && told &&
                (is_retried ? p.retry_log[0] >= 0 && p.connected == 2
                            : p.retry_log[0] == -1 && p.connected == 1 && mqttc_state(&p.c) == MQTTC_STATE_CLOSED),
            "%s, %d on_status (first %s, retry %ld), reason 0x%02x, %d links, state %d", mqttc_errname(rc), p.status_n,
            p.status_n ? mqttc_errname(p.error_log[0]) : "-", p.status_n ? p.retry_log[0] : 0, p.reason_log[0],
            p.connected, mqttc_state(&p.c));
    peers_end();
}

static void scenario_srvdisconnect(int port_8e, int port_9c, int port_8b) {
    srvdisconnect_one(port_8e, 0x8E, 0);
    srvdisconnect_one(port_9c, 0x9C, 0);
    srvdisconnect_one(port_8b, 0x8B, 1);
}

/* ---- queue: publishes while the broker is out of reach (a relay, told to go down) ---- */
static int ctl_port, queue_relay_port;

/* A command to the test's relay ("drop", "down", "up", "hold"); its answer "ok N". */
static int relay_cmd(const char *cmd) {
    char buf[64];
    int fd = test_tcp_socket(ctl_port, 0, 0);
    if (fd < 0) return -1;
    ssize_t n = send(fd, cmd, strlen(cmd), 0);
    n = n > 0 ? send(fd, "\n", 1, 0) : n;
    n = n > 0 ? recv(fd, buf, sizeof buf - 1, 0) : n;
    close(fd);
    return n > 2 && !memcmp(buf, "ok", 2) ? 0 : -1;
}

/* mqttc_set_retry from outside on_status, while WAITING: -1 stops at once (CLOSED, the
   loss's error kept), as its declaration says. */
static void queue_set_retry_outside(peer *p) {
    relay_cmd("down");
    UNTIL(mqttc_state(&p->c) == MQTTC_STATE_WAITING, 3000);
    int failed = p->failed;
    mqttc_set_retry(&p->c, -1);
    int state = mqttc_state(&p->c);
    UNTIL(0, 400);
    verdict("queue: mqttc_set_retry(-1) while WAITING stops at once: CLOSED, no more attempts, the loss's error kept",
            state == MQTTC_STATE_CLOSED && p->failed == failed && mqttc_state(&p->c) == MQTTC_STATE_CLOSED &&
                mqttc_error(&p->c) != MQTTC_OK,
            "state right after %d, %d more failed attempts in 400 ms, state then %d, error %s", state,
            p->failed - failed, mqttc_state(&p->c), mqttc_errname(mqttc_error(&p->c)));
    relay_cmd("up");
    if (mqttc_state(&p->c) == MQTTC_STATE_CLOSED) { /* stopped: connect again for what follows */
        mqttc_connect(&p->c, "127.0.0.1", queue_relay_port);
    }
    UNTIL(mqttc_state(&p->c) == MQTTC_STATE_CONNECTED, 3000);
}

/* mqttc_disconnect while WAITING: the attempts stop (section 12). */
static void queue_stop_waiting(peer *p) {
    relay_cmd("down");
    UNTIL(mqttc_state(&p->c) == MQTTC_STATE_WAITING, 3000);
    int was_waiting = mqttc_state(&p->c) == MQTTC_STATE_WAITING, connects = p->connects, told = p->status_n;
    int rc = mqttc_disconnect(&p->c);
    UNTIL(0, 500);
    report("queue: mqttc_disconnect while WAITING: on_status event %d, error %s, retry_ms %ld", p->last_event,
           mqttc_errname(p->last_error), p->last_retry);
    verdict("queue: mqttc_disconnect while WAITING stops the attempts: CLOSED, error \"disconnect\", retry_ms -1, no "
            "attempt in 500 ms",
            was_waiting && rc == MQTTC_OK && mqttc_state(&p->c) == MQTTC_STATE_CLOSED &&
                mqttc_error(&p->c) == MQTTC_ERR_DISCONNECT && p->last_retry == -1 && p->connects == connects &&
                p->status_n == told + 1,
            "waiting %d, disconnect %s, state %d, error %s, retry_ms %ld, %d more CONNECT, told %d times", was_waiting,
            mqttc_errname(rc), mqttc_state(&p->c), mqttc_errname(mqttc_error(&p->c)), p->last_retry,
            p->connects - connects, p->status_n - told);
    relay_cmd("up");
}

/* reconnect_first: the blocking mqttc_connect waits through failed attempts until the
   broker can be reached (a thread brings the relay up after 400 ms). */
static void *relay_up_later(void *arg) {
    (void)arg;
    sleep_ms(400);
    relay_cmd("up");
    return NULL;
}

static void queue_first(int relay_port) {
    static peer p;
    pthread_t t;
    peer_options(&p, "rc-q-first", 0);
    p.o.reconnect_min_ms = 20;
    p.o.reconnect_max_ms = 100;
    p.o.reconnect_first = 1;
    relay_cmd("down");
    uint64_t t0 = mqttc_now_ms();
    int started = pthread_create(&t, NULL, relay_up_later, NULL) == 0;
    int rc = peer_connect(&p, relay_port);
    long took = (long)(mqttc_now_ms() - t0);
    if (started) pthread_join(t, NULL);
    verdict("queue: reconnect_first: the blocking mqttc_connect to a broker out of reach retries on the plan and "
            "returns MQTTC_OK once it is back (400 ms later)",
            started && rc == MQTTC_OK && p.failed >= 2 && p.stops == 0 && took >= 390 && took < 2000,
            "connect %s after %ld ms, %d failed attempts, %d told -1", mqttc_errname(rc), took, p.failed, p.stops);
    peers_end();
}

static void scenario_queue(int relay_port, int broker_port) {
    static peer obs, p, full, oldest;
    stream a1, a2, w, f, d;
    char name[256];
    size_t msg = 1 + 1 + 2 + 6 + 2 + 3; /* a PUBLISH QoS 1 to "rc/q/f" with "NNN": 15 bytes */
    stream_init(&a1, "rc/q/a1", 1);
    stream_init(&a2, "rc/q/a2", 2);
    stream_init(&w, "rc/q/w", 1);
    stream_init(&f, "rc/q/f", 1);
    stream_init(&d, "rc/q/d", 1);
    f.width = d.width = 3;
    peer_options(&obs, "rc-q-observer", 0);
    obs.in[0] = &a1;
    obs.in[1] = &a2;
    obs.in[2] = &w;
    obs.in[3] = &f;
    obs.in[4] = &d;
    peer_options(&p, "rc-q-pub", 0);
    peer_options(&full, "rc-q-full", 0);
    peer_options(&oldest, "rc-q-oldest", 5);
    peer *pubs[3] = {&p, &full, &oldest};
    for (int i = 0; i < 3; i++) {
        pubs[i]->o.reconnect_min_ms = 20;
        pubs[i]->o.reconnect_max_ms = 200;
        pubs[i]->o.queue_bytes = i ? 10 * msg : 64u * 1024u;
    }
    oldest.o.queue_bytes = 10 * (msg + 1); /* MQTT 5: one byte more, the property length */
    oldest.o.queue_drop_oldest = 1;
    int rc = peer_connect(&obs, broker_port);
    if (rc == MQTTC_OK) rc = peer_subscribe(&obs, "rc/q/#", 2);
    for (int i = 0; i < 3 && rc == MQTTC_OK; i++) rc = peer_connect(pubs[i], relay_port);
    verdict("queue: an observer on the broker, three publishers through the relay", rc == MQTTC_OK, "%s",
            mqttc_errname(rc));
    if (rc != MQTTC_OK) goto end;

    /* while the window is full: 200 QoS 1 publishes at once, none refused */
    int busy = 0;
    for (int i = 0; i < 200; i++) busy += publish_next(&p, &w) != MQTTC_OK;
    unsigned held = mqttc_queued(&p.c);
    UNTIL(stream_all_seen(&w) && mqttc_inflight(&p.c) == 0, 5000);
    tally tw = stream_tally(&w);
    verdict("queue: 200 QoS 1 publishes at once: past the window of 20 they are held, not refused (MQTTC_ERR_BUSY), "
            "and arrive once each, in order [MQTT-4.6.0-6]",
            busy == 0 && held == 180 && w.published == 200 && !tw.missing && !tw.repeats && !tw.out_of_order,
            "%d refused, %u held at once, missing %d, repeats %d, disorder %d", busy, held, tw.missing, tw.repeats,
            tw.out_of_order);

    /* the broker out of reach */
    relay_cmd("down");
    UNTIL(mqttc_state(&p.c) == MQTTC_STATE_WAITING && mqttc_state(&full.c) == MQTTC_STATE_WAITING &&
              mqttc_state(&oldest.c) == MQTTC_STATE_WAITING,
          5000);
    int refused = 0, ids_given = 1;
    for (int i = 0; i < 30; i++) {
        refused += publish_next(&p, &a1) != MQTTC_OK;
        ids_given &= p.last_id != 0;
        refused += publish_next(&p, &a2) != MQTTC_OK;
        ids_given &= p.last_id != 0;
    }
    int held_p = (int)mqttc_queued(&p.c), fd_p = mqttc_fd(&p.c);
    long wait_ms = mqttc_timeout_ms(&p.c, mqttc_now_ms());
    int full_ok = 0, full_refused = 0, full_last = 0, oldest_refused = 0;
    for (int i = 0; i < 15; i++) {
        int r = publish_next(&full, &f);
        if (r == MQTTC_OK) full_ok++;
        else if (r == MQTTC_ERR_QUEUEFULL) full_refused++;
        else full_last = r;
        oldest_refused += publish_next(&oldest, &d) != MQTTC_OK;
    }
    f.published = full_ok; /* the refused ones were never accepted */
    int held_full = (int)mqttc_queued(&full.c), held_oldest = (int)mqttc_queued(&oldest.c);
    UNTIL(0, 300);
    int failed_while_down = p.failed;
    verdict("queue: offline (WAITING, no fd, mqttc_timeout_ms the time to the next attempt), 60 QoS 1/2 publishes "
            "accepted and held, their ids given at once",
            refused == 0 && ids_given && held_p == 60 && fd_p == -1 && wait_ms >= 0 && wait_ms <= 200,
            "%d refused, ids given %d, %d held, fd %d, timeout %ld ms", refused, ids_given, held_p, fd_p, wait_ms);
    snprintf(name, sizeof name, "queue: a full queue refuses the new one: queue_bytes %zu holds 10 messages of %zu "
             "bytes, the 5 after are MQTTC_ERR_QUEUEFULL", 10 * msg, msg);
    verdict(name, full_ok == 10 && full_refused == 5 && held_full == 10 && full.dropped == 0,
            "%d accepted, %d queuefull, other %s, %d held, %d dropped", full_ok, full_refused, mqttc_errname(full_last),
            held_full, full.dropped);
    int oldest_ok = oldest.dropped == 5 && oldest_refused == 0 && held_oldest == 10;
    for (int i = 0; i < 5 && i < oldest.dropped; i++) {
        char want[8];
        snprintf(want, sizeof want, "%03d", i + 1);
        oldest_ok &= oldest.dropped_why[i] == MQTTC_ERR_QUEUEFULL && !strcmp(oldest.dropped_payload[i], want);
    }
    verdict("queue: queue_drop_oldest (MQTT 5 client): 15 accepted, the 5 oldest to on_dropped (MQTTC_ERR_QUEUEFULL, "
            "numbers 1..5), 10 held",
            oldest_ok, "%d refused, %d dropped (first why %s, payload '%s'), %d held", oldest_refused, oldest.dropped,
            oldest.dropped ? mqttc_errname(oldest.dropped_why[0]) : "-",
            oldest.dropped ? oldest.dropped_payload[0] : "", held_oldest);
    relay_cmd("up");
    UNTIL(stream_all_seen(&a1) && stream_all_seen(&a2) && stream_all_seen(&f) && d.seen[15] &&
              mqttc_queued(&p.c) == 0 && mqttc_inflight(&p.c) == 0 && mqttc_inflight(&full.c) == 0 &&
              mqttc_inflight(&oldest.c) == 0,
          5000);
    UNTIL(0, 200);
    tally t1 = stream_tally(&a1), t2 = stream_tally(&a2), tf = stream_tally(&f);
    report("queue: %d failed attempts while down; after the reconnect %d PUBLISH sent by the publisher",
           failed_while_down, p.sent_pub);
    verdict("MQTT-4.6.0-6 queue: after the reconnect the 60 held messages arrived once each, in order per topic, "
            "and were acknowledged",
            !t1.missing && !t1.repeats && !t1.out_of_order && !t2.missing && !t2.repeats && !t2.out_of_order &&
                mqttc_queued(&p.c) == 0 && mqttc_inflight(&p.c) == 0 && !t1.unacked,
            "QoS 1 missing %d repeats %d disorder %d; QoS 2 missing %d repeats %d disorder %d; queued %u inflight %u",
            t1.missing, t1.repeats, t1.out_of_order, t2.missing, t2.repeats, t2.out_of_order, mqttc_queued(&p.c),
            mqttc_inflight(&p.c));
    verdict("queue: the full queue's 10 arrived in order, the refused ones never",
            !tf.missing && !tf.repeats && !tf.out_of_order && f.order_n == 10 && !f.extra, "missing %d, %d arrivals",
            tf.missing, f.order_n);
    int newest_ok = d.order_n == 10;
    for (int i = 0; i < d.order_n && i < 10; i++) newest_ok &= d.order[i] == 6 + i;
    verdict("queue: drop-oldest's newest 10 (6..15) arrived, in order, and nothing older", newest_ok,
            "%d arrivals, first %d, last %d", d.order_n, d.order_n ? d.order[0] : 0,
            d.order_n ? d.order[d.order_n - 1] : 0);
    queue_set_retry_outside(&p);
    queue_stop_waiting(&p);
end:
    peers_end();
    stream_free(&a1);
    stream_free(&a2);
    stream_free(&w);
    stream_free(&f);
    stream_free(&d);
}

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: live_reconnect SCENARIO PORT [ARGS...] (see the top of tests/live_reconnect.c)\n");
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    const char *s = argv[1];
    int port = atoi(argv[2]);
    if ((!strcmp(s, "kill") || !strcmp(s, "cut")) && argc >= 4)
        scenario_storm(s, !strcmp(s, "cut") ? 5 : 0, port, argv[3]);
    else if (!strcmp(s, "failover") && argc >= 6)
        scenario_failover(port, (pid_t)atoi(argv[3]), atoi(argv[4]), atoi(argv[5]));
    else if (!strcmp(s, "auth") && argc >= 4) {
        log_path = argv[3];
        auth_port = port;
        scenario_auth();
    } else if (!strcmp(s, "plan")) scenario_plan(port);
    else if (!strcmp(s, "takeover")) scenario_takeover(port);
    else if (!strcmp(s, "run")) scenario_run(port);
    else if (!strcmp(s, "transport")) scenario_transport(port);
    else if (!strcmp(s, "drain")) scenario_drain(port);
    else if (!strcmp(s, "limits") && argc >= 4) scenario_limits(port, atoi(argv[3]));
    else if (!strcmp(s, "srvdisconnect") && argc >= 5) scenario_srvdisconnect(port, atoi(argv[3]), atoi(argv[4]));
    else if (!strcmp(s, "churn")) scenario_churn(port, argc >= 4 && !strcmp(argv[3], "rss"));
    else if (!strcmp(s, "queue") && argc >= 5) {
        ctl_port = atoi(argv[3]);
        queue_relay_port = port;
        scenario_queue(port, atoi(argv[4]));
        queue_first(port);
    } else {
        fprintf(stderr, "unknown scenario or missing arguments: %s\n", s);
        return 2;
    }
    return test_exit(s);
}
