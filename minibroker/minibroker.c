/* minibroker.c - a small MQTT 3.1.1 and MQTT 5 broker, the test fixture of mqttc.

   build/minibroker [-p PORT] [-v] [--bind ADDR] [--max-packet BYTES] [--user NAME --pass PASS]
                    [--no-pingresp] [--connack CODE] [--drop-after N]
                    [--connack-prop NAME=VALUE]... [--alias-out N] [--bad-alias] [--unknown-alias]
                    [--disconnect-after N [--disconnect-reason CODE] [--disconnect-string TEXT]
                     [--server-reference REF]] [--ignore-receive-max] [--no-pubrel]
                    [--oversize BYTES] [--auth-method NAME [--auth-steps K]]
                    [--ack-reason CODE] [--suback-reason CODE]

   One thread, one poll(2) loop, non-blocking sockets. It speaks the whole of MQTT 3.1.1 that
   a client can see: QoS 0/1/2 in both directions, wildcards, retained messages, wills,
   keepalive, session takeover, and persistent subscriptions for clean session 0 (messages
   are not queued for offline sessions). A client whose CONNECT has protocol level 5 gets
   MQTT 5 on that connection: reason codes and properties on every packet; PUBLISH
   properties forwarded (user properties, content type, correlation data, response topic,
   payload format; Message Expiry passed through unchanged); subscription identifiers; No
   Local, Retain As Published, Retain Handling; the client's topic aliases; the client's
   Receive Maximum, Maximum Packet Size and Topic Alias Maximum respected; Session Expiry
   Interval; will properties and Will Delay Interval; DISCONNECT 0x04 (publish the will);
   enhanced authentication; DISCONNECT 0x81/0x82/... before closing on a protocol error.
   Shared subscriptions are not implemented (the CONNACK says so). The options make it
   misbehave on purpose, so clients can be tested against refusals, lost pings, dropped
   connections and broken MQTT 5 rules.

   Options (every number and CODE in decimal or 0x hex):
     -p PORT              port (0: any free one); --bind ADDR: numeric address, 127.0.0.1
     -v                   one line per packet on stderr: "ID < TYPE ..." in, "ID > TYPE ..." out,
                          MQTT 5 properties as NAME=VALUE (the names of --connack-prop)
     --max-packet BYTES   incoming packets larger than this end the connection (MQTT 5: 0x95)
     --user/--pass        required credentials (3.1.1 code 4/5, MQTT 5 0x86/0x87)
     --no-pingresp        PINGREQ is not answered
     --connack CODE       every CONNECT is refused with CODE, then closed. 3.1.1's 1..5 and
                          MQTT 5's 0x84..0x88 are translated for a client of the other
                          version (1 <-> 0x84, 2 <-> 0x85, 3 <-> 0x88, 4 <-> 0x86, 5 <-> 0x87);
                          any other code goes as it is (to an MQTT 5 client, one MQTT 5 does
                          not define goes without properties)
     --drop-after N       after N packets from a client (CONNECT included) the connection is
                          closed without a word (its will is published)
   MQTT 5 clients only:
     --connack-prop NAME=VALUE   (repeatable; a name given twice: the last wins, but
                          user-property adds one more) a property of every CONNACK, accepted
                          or refused, with the broker's behaviour to match: receive-maximum,
                          maximum-packet-size, topic-alias-maximum, maximum-qos,
                          retain-available, wildcard-subscription-available,
                          subscription-identifier-available, shared-subscription-available,
                          server-keep-alive, session-expiry-interval (numbers);
                          assigned-client-identifier (the id the session gets, even for a
                          client that chose one; without it an empty id gets
                          "minibroker-N"), reason-string, response-information,
                          server-reference (strings); user-property=KEY:VALUE. Values must be
                          legal ones (checked at start). By default an accepted CONNACK says
                          topic-alias-maximum=10 and shared-subscription-available=0
     --alias-out N        PUBLISHes to a client carry topic aliases 1..min(N, its Topic Alias
                          Maximum), first come first served: a topic's first message has the
                          topic and its alias, later ones the alias and an empty topic
     --bad-alias          every PUBLISH to a client carries alias (its maximum + 1), or 0 when
                          its maximum is 65535, with the topic (expect DISCONNECT 0x94)
     --unknown-alias      every PUBLISH to a client carries an alias never set (its maximum,
                          or 1) and an empty topic (expect DISCONNECT 0x82)
     --disconnect-after N after N packets from a client, DISCONNECT with --disconnect-reason
                          CODE (default 0x00), a Reason String --disconnect-string TEXT and a
                          Server Reference --server-reference REF when given; then close.
                          A 3.1.1 client is just closed
     --ignore-receive-max QoS 1/2 PUBLISHes go out without waiting for the client's Receive
                          Maximum (expect DISCONNECT 0x93; with --no-pubrel it is certain)
     --no-pubrel          PUBRELs are never sent: the client keeps each QoS 2 message it got
                          as unacknowledged, which is what its Receive Maximum counts
     --oversize BYTES     every PUBLISH to a client (3.1.1 too) is padded with 'x' to BYTES
                          bytes (as near as the length field allows), and sent even above
                          the client's Maximum Packet Size (expect DISCONNECT 0x95)
     --auth-method NAME   a CONNECT with Authentication Method NAME gets --auth-steps K (0)
                          AUTH 0x18 challenges (data "challenge-1", ...), each to be answered
                          by AUTH 0x18 with NAME, then CONNACK 0 naming NAME. Another method:
                          CONNACK 0x8C (the broker knows no other); during the exchange, a
                          wrong one is CONNACK 0x8C and other packets 0x82. AUTH 0x19 while
                          connected re-authenticates: K challenges, then AUTH 0x00. What the
                          client sent is in the -v log (authentication-data=...)
     --ack-reason CODE    PUBACK and PUBREC carry this reason code (0x80 and above: the
                          message is not delivered; QoS 0 messages are not affected)
     --suback-reason CODE every SUBACK entry is CODE (0..2: that QoS granted; 3.1.1 clients
                          get 0x80 for a refusal)

   The first line on stdout is "listening on ADDR:PORT". SIGINT or SIGTERM ends it with
   exit code 0 after freeing everything. The packet codec is the one of mqttc.h.
   Clause ids in comments are 3.1.1's where the code is 3.1.1's, else 5.0's (marked "5.0"
   where the same id means something else in 3.1.1); "(5.0, 3.3.2.3.4)" names a section. */
#define MQTTC_IMPLEMENTATION
#define MQTTC_NO_SOCKETS /* the broker needs only the codec */
#include "mqttc.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MB_MAX_OUTPUT (64u * 1024u * 1024u) /* unsent bytes before a slow reader is dropped */
#define MB_READ_CHUNK 65536u
#define MB_MAX_CONNACK_PROPS 32u /* --connack-prop given at most this many times */
#define MB_TOPIC_ALIAS_MAX 10u   /* the Topic Alias Maximum offered unless --connack-prop says */
#define MB_NO_EXPIRY 0xFFFFFFFFu /* a Session Expiry Interval that never ends (5.0, 3.1.2.11.2) */

/* ---- configuration and the only globals ---- */

/* All-zero is a broker that behaves (the fuzz target starts from that). */
typedef struct mb_config {
    int port;                 /* -p; 0 = any free port */
    int verbose;              /* -v: one line per packet on stderr */
    const char *user, *pass;  /* --user/--pass: required credentials, NULL = anyone */
    int no_pingresp;          /* --no-pingresp */
    int connack;              /* --connack CODE: refuse every CONNECT with it; 0 = normal */
    unsigned long drop_after; /* --drop-after N: drop after N packets in; 0 = never */
    size_t max_packet;        /* --max-packet: incoming limit in bytes */
    const char *bind_addr;    /* --bind; default 127.0.0.1 */
    /* MQTT 5 */
    mqttc_prop connack_props[MB_MAX_CONNACK_PROPS]; /* --connack-prop, strings in argv */
    size_t connack_prop_count;
    unsigned alias_out;       /* --alias-out N: aliases the broker assigns; 0 = none */
    int bad_alias, unknown_alias;          /* --bad-alias, --unknown-alias */
    unsigned long disconnect_after;        /* --disconnect-after N; 0 = never */
    int disconnect_reason;                 /* --disconnect-reason CODE */
    const char *disconnect_string;         /* --disconnect-string TEXT, NULL = none */
    const char *server_reference;          /* --server-reference REF, NULL = none */
    int ignore_receive_max, no_pubrel;     /* --ignore-receive-max, --no-pubrel */
    size_t oversize;                       /* --oversize BYTES; 0 = off */
    const char *auth_method;               /* --auth-method NAME, NULL = none */
    unsigned auth_steps;                   /* --auth-steps K */
    int ack_reason;                        /* --ack-reason CODE; 0 = success */
    int suback_reason, is_suback_forced;   /* --suback-reason CODE */
} mb_config;

static mb_config g_cfg;
static volatile sig_atomic_t g_stop;

/* ---- data ---- */

/* A byte buffer: [off, len) holds data not yet consumed (input) or sent (output). */
typedef struct mb_buf {
    unsigned char *data;
    size_t off, len, cap;
} mb_buf;

typedef struct mb_sub {
    struct mb_sub *next;
    char *filter;
    size_t len;
    int qos;         /* granted */
    int no_local;    /* MQTT 5: not the subscriber's own messages [MQTT-3.8.3-3] */
    int keep_retain; /* MQTT 5: Retain As Published [MQTT-3.3.1-13] */
    uint32_t sub_id; /* MQTT 5: its Subscription Identifier, 0 = none */
} mb_sub;

/* An outgoing QoS 1/2 message, named by what it waits for [MQTT-4.3]. QUEUED ones wait for
   room under the client's Receive Maximum; the others count against it [MQTT-3.3.4-9]. */
enum { MB_QUEUED, MB_AWAIT_PUBACK, MB_AWAIT_PUBREC, MB_AWAIT_PUBCOMP };
typedef struct mb_inflight {
    struct mb_inflight *next;
    unsigned short id;
    int state, qos;
    unsigned char *pkt; /* the PUBLISH for this client without alias or padding, kept for a
                           send or resend; NULL once PUBREC came */
    size_t len;
} mb_inflight;

/* Session state lives apart from the connection so it can outlive it (3.1.1 clean session
   0 [MQTT-3.1.2-4], MQTT 5 Session Expiry [MQTT-3.1.2-23]): subscriptions, outgoing QoS
   1/2 in flight, incoming QoS 2 ids. */
typedef struct mb_session {
    struct mb_session *next;
    char *id;
    size_t id_len;
    int version;              /* of its client: a client of another version starts afresh */
    uint32_t expiry_s;        /* how long it outlives its connection; MB_NO_EXPIRY: forever */
    uint64_t expires_ms;      /* when it ends, while unused and expiry_s is finite */
    struct mb_client *client; /* the connection using it, or NULL */
    mb_sub *subs;
    mb_inflight *out_head, *out_tail;
    unsigned unacked;         /* outgoing QoS 1/2 sent, not yet complete */
    unsigned queued;          /* outgoing QoS 1/2 waiting for room under Receive Maximum */
    unsigned in_qos2_count;   /* bits set in in_qos2 */
    unsigned short next_id;
    unsigned char out_ids[8192]; /* bitmap: packet ids in use by mb_inflight records */
    unsigned char in_qos2[8192]; /* bitmap: QoS 2 ids received, PUBREL not yet */
} mb_session;

/* An application message on its way from a publisher (or a will) to subscribers. */
typedef struct mb_message {
    mqttc_str topic;
    const void *payload;
    size_t len;
    int qos, retain;
    mqttc_props props;      /* MQTT 5, raw as published; mb_forward_props picks what travels */
    const mb_session *from; /* the publisher's session (for No Local); NULL for a will */
} mb_message;

typedef struct mb_retained {
    struct mb_retained *next;
    char *topic;
    size_t topic_len;
    unsigned char *payload;
    size_t payload_len;
    unsigned char *props; /* MQTT 5 properties as published, raw; NULL if none */
    size_t props_len;
    int qos;
} mb_retained;

/* A will: the client's, then, once its connection ended with a Will Delay Interval, one of
   the broker's delayed wills. */
typedef struct mb_will {
    struct mb_will *next;    /* in mb_broker.wills while the delay runs */
    char *topic;
    size_t topic_len;
    unsigned char *payload;
    size_t payload_len;
    unsigned char *props;    /* MQTT 5 will properties, raw; NULL if none */
    size_t props_len;
    int qos, retain;
    uint32_t delay_s;        /* Will Delay Interval */
    char *client_id;         /* once delayed: whose (a new connection of that id cancels it) */
    size_t client_id_len;
    uint64_t due_ms;
} mb_will;

typedef struct mb_alias {
    char *topic; /* NULL: not set */
    size_t len;
} mb_alias;

/* Connection states in lifecycle order. */
enum {
    MB_NEW,            /* accepted; the first packet must be CONNECT [MQTT-3.1.0-1] */
    MB_AUTHENTICATING, /* MQTT 5 CONNECT with --auth-method: AUTH exchange before CONNACK */
    MB_CONNECTED,      /* CONNACK 0 sent */
    MB_DEAD            /* ended; freed (and its will published) by mb_reap */
};

typedef struct mb_client {
    struct mb_client *next;
    int fd, state;
    int version;        /* the CONNECT's: MQTTC_PROTOCOL_311 or _5; 0 before it */
    int will_pending;   /* publish the will when reaped: the end was not DISCONNECT 0x00 */
    int flush_on_close; /* write what is queued (a refusing CONNACK, DISCONNECT) before closing */
    mb_session *session;
    mb_buf in, out;
    uint64_t last_rx_ms;
    unsigned keepalive_s;
    unsigned long packets_in;
    mb_will *will;      /* the CONNECT's will, NULL if none */
    /* from the CONNECT, until CONNACK */
    char *connect_id;
    size_t connect_id_len;
    int clean_start;
    uint32_t expiry_s;  /* the Session Expiry Interval it asked for (3.1.1: by clean session) */
    int is_id_assigned; /* the broker chose the id: an MQTT 5 CONNACK says which [MQTT-3.2.2-16] */
    /* MQTT 5: the client's limits from its CONNECT, and topic aliases both ways */
    unsigned receive_max;     /* its Receive Maximum; 0 = no limit (3.1.1) */
    size_t max_packet_out;    /* its Maximum Packet Size; 0 = no limit */
    unsigned alias_max_out;   /* its Topic Alias Maximum */
    mb_alias *alias_in;       /* its aliases [1..alias_in_max] (ours: the CONNACK's maximum) */
    unsigned alias_in_max;
    mb_alias *alias_out;      /* the ones --alias-out gave it [1..alias_out_max] */
    unsigned alias_out_max;
    int uses_auth;            /* its CONNECT named --auth-method */
    unsigned auth_step;       /* AUTH challenges sent in the exchange under way; 0 = none */
    char name[48];            /* for logs: the client id, or "fd N" before CONNECT */
} mb_client;

typedef struct mb_broker {
    int listen_fd;
    mb_client *clients;
    mb_session *sessions;
    mb_retained *retained;
    mb_will *wills; /* delayed wills, waiting for their time */
    unsigned long next_auto_id;
    struct pollfd *pfds; /* the poll set, and the client of each entry */
    mb_client **owners;
    size_t poll_cap;
} mb_broker;

/* ---- small helpers ---- */

static uint64_t mb_now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* A NUL-terminated copy of len bytes (NULL on failure; never for len 0). */
static char *mb_memdup(const void *p, size_t len) {
    char *s = (char *)malloc(len + 1);
    if (!s) return NULL;
    if (len) memcpy(s, p, len);
    s[len] = 0;
    return s;
}

/* *dst becomes a copy of src[0..len), NULL for none; -1 when out of memory. */
static int mb_keep_bytes(unsigned char **dst, size_t *dst_len, const void *src, size_t len) {
    *dst = NULL;
    *dst_len = 0;
    if (len == 0) return 0;
    if (!(*dst = (unsigned char *)mb_memdup(src, len))) return -1;
    *dst_len = len;
    return 0;
}

static int mb_str_eq(mqttc_str s, const char *z) { return s.len == strlen(z) && memcmp(s.ptr, z, s.len) == 0; }

static int mb_bit(const unsigned char *map, unsigned i) { return (map[i >> 3] >> (i & 7)) & 1; }
static void mb_set_bit(unsigned char *map, unsigned i, int on) {
    if (on) map[i >> 3] = (unsigned char)(map[i >> 3] | (1u << (i & 7)));
    else map[i >> 3] = (unsigned char)(map[i >> 3] & ~(1u << (i & 7)));
}

static int mb_is_v5(const mb_client *c) { return c->version == MQTTC_PROTOCOL_5; }

/* Room for n more bytes at data + len; compacts first, then grows. NULL when out of memory. */
static unsigned char *mb_buf_reserve(mb_buf *b, size_t n) {
    if (b->cap - b->len >= n) return b->data + b->len;
    if (b->off) {
        memmove(b->data, b->data + b->off, b->len - b->off);
        b->len -= b->off;
        b->off = 0;
        if (b->cap - b->len >= n) return b->data + b->len;
    }
    size_t cap = b->cap ? b->cap : 4096;
    while (cap - b->len < n) cap *= 2;
    unsigned char *d = (unsigned char *)realloc(b->data, cap);
    if (!d) return NULL;
    b->data = d;
    b->cap = cap;
    return d + b->len;
}

static void mb_buf_consumed(mb_buf *b, size_t n) {
    b->off += n;
    if (b->off == b->len) b->off = b->len = 0;
}

/* ---- MQTT 5 properties by name ---- */

/* Every property: its name in -v logs and --connack-prop, and the kind of its value. */
typedef struct mb_prop_name {
    int id;
    const char *name;
    char kind;      /* 'i' a number, 's' a string, 'd' binary data, 'p' a pair KEY:VALUE */
    int in_connack; /* --connack-prop takes it */
} mb_prop_name;

static const mb_prop_name mb_prop_names[] = {
    {MQTTC_PROP_PAYLOAD_FORMAT, "payload-format-indicator", 'i', 0},
    {MQTTC_PROP_MESSAGE_EXPIRY, "message-expiry-interval", 'i', 0},
    {MQTTC_PROP_CONTENT_TYPE, "content-type", 's', 0},
    {MQTTC_PROP_RESPONSE_TOPIC, "response-topic", 's', 0},
    {MQTTC_PROP_CORRELATION_DATA, "correlation-data", 'd', 0},
    {MQTTC_PROP_SUBSCRIPTION_ID, "subscription-identifier", 'i', 0},
    {MQTTC_PROP_SESSION_EXPIRY, "session-expiry-interval", 'i', 1},
    {MQTTC_PROP_ASSIGNED_CLIENT_ID, "assigned-client-identifier", 's', 1},
    {MQTTC_PROP_SERVER_KEEP_ALIVE, "server-keep-alive", 'i', 1},
    {MQTTC_PROP_AUTH_METHOD, "authentication-method", 's', 0},
    {MQTTC_PROP_AUTH_DATA, "authentication-data", 'd', 0},
    {MQTTC_PROP_REQUEST_PROBLEM_INFO, "request-problem-information", 'i', 0},
    {MQTTC_PROP_WILL_DELAY, "will-delay-interval", 'i', 0},
    {MQTTC_PROP_REQUEST_RESPONSE_INFO, "request-response-information", 'i', 0},
    {MQTTC_PROP_RESPONSE_INFO, "response-information", 's', 1},
    {MQTTC_PROP_SERVER_REFERENCE, "server-reference", 's', 1},
    {MQTTC_PROP_REASON_STRING, "reason-string", 's', 1},
    {MQTTC_PROP_RECEIVE_MAX, "receive-maximum", 'i', 1},
    {MQTTC_PROP_TOPIC_ALIAS_MAX, "topic-alias-maximum", 'i', 1},
    {MQTTC_PROP_TOPIC_ALIAS, "topic-alias", 'i', 0},
    {MQTTC_PROP_MAX_QOS, "maximum-qos", 'i', 1},
    {MQTTC_PROP_RETAIN_AVAILABLE, "retain-available", 'i', 1},
    {MQTTC_PROP_USER, "user-property", 'p', 1},
    {MQTTC_PROP_MAX_PACKET_SIZE, "maximum-packet-size", 'i', 1},
    {MQTTC_PROP_WILDCARD_SUB_AVAILABLE, "wildcard-subscription-available", 'i', 1},
    {MQTTC_PROP_SUB_ID_AVAILABLE, "subscription-identifier-available", 'i', 1},
    {MQTTC_PROP_SHARED_SUB_AVAILABLE, "shared-subscription-available", 'i', 1},
};
#define MB_PROP_NAME_COUNT (sizeof mb_prop_names / sizeof mb_prop_names[0])

static const mb_prop_name *mb_prop_by_id(int id) {
    for (size_t i = 0; i < MB_PROP_NAME_COUNT; i++)
        if (mb_prop_names[i].id == id) return &mb_prop_names[i];
    return NULL;
}

static const mb_prop_name *mb_prop_by_name(const char *name, size_t len) {
    for (size_t i = 0; i < MB_PROP_NAME_COUNT; i++)
        if (strlen(mb_prop_names[i].name) == len && memcmp(mb_prop_names[i].name, name, len) == 0)
            return &mb_prop_names[i];
    return NULL;
}

/* The --connack-prop of this id: 1 with *out set (out may be NULL), else 0. */
static int mb_connack_prop(int id, mqttc_prop *out) {
    for (size_t i = 0; i < g_cfg.connack_prop_count; i++) {
        if (g_cfg.connack_props[i].id != id) continue;
        if (out) *out = g_cfg.connack_props[i];
        return 1;
    }
    return 0;
}

/* What the broker's CONNACK tells an MQTT 5 client about this limit: --connack-prop's value,
   else the default, which is also what an absent property means (5.0, 3.2.2.3). */
static uint32_t mb_limit(int id, uint32_t default_value) {
    mqttc_prop p;
    return mb_connack_prop(id, &p) ? p.value : default_value;
}

/* ---- logging (-v) ---- */

static const char *const mb_type_names[16] = {
    "RESERVED", "CONNECT", "CONNACK", "PUBLISH", "PUBACK", "PUBREC", "PUBREL", "PUBCOMP",
    "SUBSCRIBE", "SUBACK", "UNSUBSCRIBE", "UNSUBACK", "PINGREQ", "PINGRESP", "DISCONNECT", "AUTH"};

/* Printable ASCII as it is, any other byte as \xNN, so binary data stays on one line. */
static void mb_log_text(mqttc_str s) {
    for (size_t i = 0; i < s.len; i++) {
        unsigned char ch = (unsigned char)s.ptr[i];
        if (ch >= 0x20 && ch < 0x7F && ch != '\\') fputc(ch, stderr);
        else fprintf(stderr, "\\x%02x", ch);
    }
}

/* " NAME=VALUE" for each property, NAME with a prefix ("will." for will properties). */
static void mb_log_props(const char *prefix, const mqttc_props *ps) {
    size_t pos = 0;
    mqttc_prop pr;
    while (mqttc_props_next(ps, &pos, &pr) == 1) {
        const mb_prop_name *pn = mb_prop_by_id(pr.id);
        fprintf(stderr, " %s%s=", prefix, pn ? pn->name : "unknown");
        if (!pn || pn->kind == 'i') { fprintf(stderr, "%lu", (unsigned long)pr.value); continue; }
        mb_log_text(pr.str);
        if (pn->kind == 'p') { fputc(':', stderr); mb_log_text(pr.val); }
    }
}

static const mqttc_props *mb_packet_props(const mqttc_packet *p) {
    switch (p->type) {
    case MQTTC_CONNECT: return &p->connect.props;
    case MQTTC_CONNACK: return &p->connack.props;
    case MQTTC_PUBLISH: return &p->publish.props;
    case MQTTC_SUBSCRIBE: case MQTTC_UNSUBSCRIBE: return &p->subscribe.props;
    case MQTTC_SUBACK: return &p->suback.props;
    case MQTTC_DISCONNECT: return &p->disconnect.props;
    case MQTTC_AUTH: return &p->auth.props;
    default: return &p->ack.props;
    }
}

/* Filters with their options: "f:q1", and in MQTT 5 ",nl" (No Local), ",rap" (Retain As
   Published), ",rhN" (Retain Handling N). */
static void mb_log_filters(const mqttc_packet *p) {
    size_t pos = 0;
    mqttc_str f;
    int o = 0;
    while (mqttc_next_filter(&p->subscribe, &pos, &f, &o)) {
        fprintf(stderr, " %.*s", (int)f.len, f.ptr);
        if (p->type != MQTTC_SUBSCRIBE) continue;
        fprintf(stderr, ":q%d%s%s", o & 3, (o & 4) ? ",nl" : "", (o & 8) ? ",rap" : "");
        if ((o >> 4) & 3) fprintf(stderr, ",rh%d", (o >> 4) & 3);
    }
}

static void mb_log_connect(const mqttc_connect_info *ci) {
    fprintf(stderr, " id=%.*s clean=%d keepalive=%u", (int)ci->client_id.len, ci->client_id.ptr,
            ci->clean_session, ci->keepalive_s);
    if (ci->will_topic.ptr) fprintf(stderr, " will=%.*s", (int)ci->will_topic.len, ci->will_topic.ptr);
    if (ci->protocol_level == MQTTC_PROTOCOL_5) fputs(" v5", stderr);
    mb_log_props("will.", &ci->will_props);
}

static void mb_log_publish(const mqttc_publish_info *pi) {
    fprintf(stderr, " q%d", pi->qos);
    if (pi->qos) fprintf(stderr, " id=%u", pi->packet_id);
    fprintf(stderr, " topic=%.*s len=%lu%s%s", (int)pi->topic_len, pi->topic, (unsigned long)pi->payload_len,
            pi->retain ? " retain" : "", pi->dup ? " dup" : "");
}

/* Reason codes: 3.1.1's in decimal (as they always were), MQTT 5's in hex. */
static void mb_log_codes(int v5, const unsigned char *codes, size_t count) {
    for (size_t i = 0; i < count; i++) fprintf(stderr, v5 ? " rc=0x%02x" : " rc=%u", codes[i]);
}

static void mb_log_fields(const mb_client *c, const mqttc_packet *p) {
    int v5 = mb_is_v5(c);
    unsigned short id = mqttc_packet_id(p);
    if (id && p->type != MQTTC_PUBLISH) fprintf(stderr, " id=%u", id);
    switch (p->type) {
    case MQTTC_CONNECT: mb_log_connect(&p->connect); break;
    case MQTTC_CONNACK:
        fprintf(stderr, v5 ? " session_present=%d rc=0x%02x" : " session_present=%d rc=%d",
                p->connack.session_present, p->connack.reason_code);
        break;
    case MQTTC_PUBLISH: mb_log_publish(&p->publish); break;
    case MQTTC_SUBSCRIBE: case MQTTC_UNSUBSCRIBE: mb_log_filters(p); break;
    case MQTTC_SUBACK: mb_log_codes(v5, p->suback.codes, p->suback.count); break;
    case MQTTC_UNSUBACK: if (v5) mb_log_codes(v5, p->ack.codes, p->ack.count); break;
    case MQTTC_PUBACK: case MQTTC_PUBREC: case MQTTC_PUBREL: case MQTTC_PUBCOMP:
        if (v5) fprintf(stderr, " rc=0x%02x", p->ack.reason_code);
        break;
    case MQTTC_DISCONNECT: if (v5) fprintf(stderr, " rc=0x%02x", p->disconnect.reason_code); break;
    case MQTTC_AUTH: fprintf(stderr, " rc=0x%02x", p->auth.reason_code); break;
    default: break;
    }
}

/* One line per packet: "client-id < PUBLISH q1 id=3 topic=a/b len=5" (< in, > out), then
   the MQTT 5 properties. */
static void mb_log_packet(const mb_client *c, char dir, const mqttc_packet *p) {
    fprintf(stderr, "%s %c %s", c->name, dir, mb_type_names[p->type & 15]);
    mb_log_fields(c, p);
    mb_log_props("", mb_packet_props(p));
    fputc('\n', stderr);
}

/* Outgoing packets are decoded again for the log; what the codec would refuse (a CONNACK
   code that --connack made up, alias 0 from --bad-alias) is shown by its first bytes. */
static void mb_log_out(const mb_client *c, const unsigned char *pkt, size_t n) {
    mqttc_packet p;
    size_t used;
    if (!g_cfg.verbose) return;
    if (mqttc_decode(pkt, n, 0, c->version, &p, &used) == MQTTC_OK) mb_log_packet(c, '>', &p);
    else if (n >= 4 && pkt[0] == 0x20) fprintf(stderr, "%s > CONNACK session_present=%d rc=%d\n", c->name, pkt[2], pkt[3]);
    else fprintf(stderr, "%s > %s (%lu bytes the codec does not decode)\n", c->name, mb_type_names[pkt[0] >> 4], (unsigned long)n);
}

/* ---- output ---- */

/* Ends a connection at once, as a network failure would: the will (if any) is
   published when the client is reaped [MQTT-3.1.2-8]; queued output is thrown away. */
static void mb_drop(mb_client *c, const char *why) {
    if (c->state == MB_DEAD) return;
    if (g_cfg.verbose) fprintf(stderr, "%s dropped: %s\n", c->name, why);
    c->will_pending = c->will != NULL && c->state == MB_CONNECTED;
    c->state = MB_DEAD;
}

/* Queues one packet of n bytes, encoded by the caller into the returned space. NULL drops
   the client: its unsent output would pass MB_MAX_OUTPUT, or memory ran out. */
static unsigned char *mb_out_begin(mb_client *c, size_t n) {
    if (c->state == MB_DEAD) return NULL;
    if (c->out.len - c->out.off + n > MB_MAX_OUTPUT) {
        mb_drop(c, "output buffer over its limit");
        return NULL;
    }
    unsigned char *p = mb_buf_reserve(&c->out, n);
    if (!p) mb_drop(c, "out of memory");
    return p;
}

static void mb_out_commit(mb_client *c, size_t n) {
    mb_log_out(c, c->out.data + c->out.len, n);
    c->out.len += n;
}

static void mb_send_bytes(mb_client *c, const unsigned char *pkt, size_t n) {
    unsigned char *p = mb_out_begin(c, n);
    if (!p) return;
    memcpy(p, pkt, n);
    mb_out_commit(c, n);
}

/* The one encoder of each packet type the broker sends, by type. */
static int mb_encode(unsigned char *buf, size_t cap, int version, int type, const void *info, size_t *n) {
    switch (type) {
    case MQTTC_CONNACK: return mqttc_encode_connack(buf, cap, version, (const mqttc_connack_info *)info, n);
    case MQTTC_PUBLISH: return mqttc_encode_publish(buf, cap, version, (const mqttc_publish_info *)info, n);
    case MQTTC_SUBACK: return mqttc_encode_suback(buf, cap, version, (const mqttc_suback_info *)info, n);
    case MQTTC_DISCONNECT: return mqttc_encode_disconnect(buf, cap, version, (const mqttc_disconnect_info *)info, n);
    case MQTTC_AUTH: return mqttc_encode_auth(buf, cap, version, (const mqttc_auth_info *)info, n);
    default: return mqttc_encode_ack(buf, cap, version, (const mqttc_ack_info *)info, n);
    }
}

/* Encodes one packet straight into the output: 0, or -1 when the codec refuses it (logged:
   a fault flag asked for something the spec forbids) or the client was dropped. */
static int mb_send_packet(mb_client *c, int type, const void *info) {
    size_t n;
    int rc = mb_encode(NULL, 0, c->version, type, info, &n);
    if (rc != MQTTC_ERR_NOSPACE) {
        if (g_cfg.verbose) fprintf(stderr, "%s: %s not sent: %s\n", c->name, mb_type_names[type & 15], mqttc_strerror(rc));
        return -1;
    }
    unsigned char *p = mb_out_begin(c, n);
    if (!p || mb_encode(p, n, c->version, type, info, &n) != MQTTC_OK) return -1;
    mb_out_commit(c, n);
    return 0;
}

/* PUBACK ... PUBCOMP; MQTT 5 adds a reason code (0 takes the short form: 5.0, 3.4.2.1). */
static void mb_send_ack_code(mb_client *c, int type, unsigned short id, int code) {
    mqttc_ack_info ai = {0};
    ai.type = type;
    ai.packet_id = id;
    ai.reason_code = mb_is_v5(c) ? code : 0;
    mb_send_packet(c, type, &ai);
}

static void mb_send_ack(mb_client *c, int type, unsigned short id) { mb_send_ack_code(c, type, id, 0); }

/* A CONNACK code in the client's version: --connack and the credential checks give 3.1.1's
   1..5 or MQTT 5's codes; each is translated where the other version has the same meaning
   (3.1.1 3.2.2.3, 5.0 3.2.2.2), others go as they are. */
static int mb_connack_code_for(int version, int code) {
    static const unsigned char pairs[][2] = {{1, 0x84}, {2, 0x85}, {3, 0x88}, {4, 0x86}, {5, 0x87}};
    for (size_t i = 0; i < sizeof pairs / sizeof pairs[0]; i++) {
        if (version == MQTTC_PROTOCOL_5 && code == pairs[i][0]) return pairs[i][1];
        if (version != MQTTC_PROTOCOL_5 && code == pairs[i][1]) return pairs[i][0];
    }
    return code;
}

/* An accepted MQTT 5 client's CONNACK properties: the defaults unless --connack-prop names
   them, then --connack-prop's, the id the broker assigned [MQTT-3.2.2-16] and the
   authentication method (5.0, 4.12). list has room for all. */
static size_t mb_connack_props(const mb_client *c, mqttc_prop *list) {
    static const int defaults[][2] = {{MQTTC_PROP_TOPIC_ALIAS_MAX, (int)MB_TOPIC_ALIAS_MAX},
                                      {MQTTC_PROP_SHARED_SUB_AVAILABLE, 0}};
    size_t k = 0;
    for (size_t i = 0; i < sizeof defaults / sizeof defaults[0]; i++)
        if (!mb_connack_prop(defaults[i][0], NULL)) list[k++] = mqttc_prop_int(defaults[i][0], (uint32_t)defaults[i][1]);
    for (size_t i = 0; i < g_cfg.connack_prop_count; i++) list[k++] = g_cfg.connack_props[i];
    if (c->is_id_assigned) list[k++] = mqttc_prop_str(MQTTC_PROP_ASSIGNED_CLIENT_ID, c->session->id);
    if (c->uses_auth) list[k++] = mqttc_prop_str(MQTTC_PROP_AUTH_METHOD, g_cfg.auth_method);
    return k;
}

/* A refusal (code != 0) carries only --connack-prop's properties. A --connack code MQTT 5
   does not define is refused by the codec: that CONNACK is written here, on purpose, as
   flags, code and an empty property length (5.0, 3.2.2). */
static void mb_send_connack(mb_client *c, int session_present, int code) {
    mqttc_prop list[MB_MAX_CONNACK_PROPS + 4];
    mqttc_connack_info ca = {0};
    ca.session_present = session_present;
    ca.reason_code = mb_connack_code_for(c->version, code);
    if (mb_is_v5(c)) {
        ca.props.list = list;
        if (code) memcpy(list, g_cfg.connack_props, g_cfg.connack_prop_count * sizeof list[0]);
        ca.props.count = code ? g_cfg.connack_prop_count : mb_connack_props(c, list);
    }
    if (mb_send_packet(c, MQTTC_CONNACK, &ca) == 0 || !mb_is_v5(c) || !code || c->state == MB_DEAD) return;
    unsigned char raw[5] = {MQTTC_CONNACK << 4, 3, (unsigned char)(session_present ? 1 : 0), (unsigned char)ca.reason_code, 0};
    mb_send_bytes(c, raw, sizeof raw);
}

static void mb_send_disconnect(mb_client *c, int reason, const char *text, const char *reference) {
    mqttc_prop list[2];
    mqttc_disconnect_info di = {0};
    di.reason_code = reason;
    di.props.list = list;
    if (text) list[di.props.count++] = mqttc_prop_str(MQTTC_PROP_REASON_STRING, text);
    if (reference) list[di.props.count++] = mqttc_prop_str(MQTTC_PROP_SERVER_REFERENCE, reference);
    mb_send_packet(c, MQTTC_DISCONNECT, &di);
}

/* AUTH names the method every time [MQTT-4.12.0-5]; data NULL: none. */
static void mb_send_auth(mb_client *c, int reason, const char *data) {
    mqttc_prop list[2];
    mqttc_auth_info ai = {0};
    ai.reason_code = reason;
    ai.props.list = list;
    list[ai.props.count++] = mqttc_prop_str(MQTTC_PROP_AUTH_METHOD, g_cfg.auth_method);
    if (data) list[ai.props.count++] = mqttc_prop_bin(MQTTC_PROP_AUTH_DATA, data, strlen(data));
    mb_send_packet(c, MQTTC_AUTH, &ai);
}

/* Ends a connection over a protocol error: an MQTT 5 client is told why first, by CONNACK
   before it is connected, by DISCONNECT after (5.0, 4.13.1) [MQTT-4.13.1-1]. */
static void mb_end(mb_client *c, int reason, const char *why) {
    if (c->state == MB_DEAD) return;
    if (mb_is_v5(c) && c->state == MB_AUTHENTICATING) mb_send_connack(c, 0, reason);
    if (mb_is_v5(c) && c->state == MB_CONNECTED) mb_send_disconnect(c, reason, NULL, NULL);
    if (mb_is_v5(c)) c->flush_on_close = 1;
    mb_drop(c, why);
}

/* Writes as much queued output as the socket takes now. */
static void mb_flush(mb_client *c) {
    while (c->out.len > c->out.off) {
        ssize_t k = send(c->fd, c->out.data + c->out.off, c->out.len - c->out.off, MSG_NOSIGNAL);
        if (k > 0) { mb_buf_consumed(&c->out, (size_t)k); continue; }
        if (k < 0 && errno == EINTR) continue;
        if (k < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
        mb_drop(c, "send failed");
        return;
    }
}

/* ---- sessions ---- */

static void mb_inflight_remove(mb_session *s, mb_inflight *f) {
    mb_inflight **pp = &s->out_head, *prev = NULL;
    while (*pp != f) { prev = *pp; pp = &(*pp)->next; }
    *pp = f->next;
    if (s->out_tail == f) s->out_tail = prev;
    if (f->state != MB_QUEUED) s->unacked--;
    else s->queued--;
    mb_set_bit(s->out_ids, f->id, 0);
    free(f->pkt);
    free(f);
}

static void mb_session_free(mb_session *s) {
    while (s->subs) {
        mb_sub *sub = s->subs;
        s->subs = sub->next;
        free(sub->filter);
        free(sub);
    }
    while (s->out_head) mb_inflight_remove(s, s->out_head);
    free(s->id);
    free(s);
}

static void mb_session_remove(mb_broker *b, mb_session *s) {
    mb_session **pp = &b->sessions;
    while (*pp && *pp != s) pp = &(*pp)->next;
    if (*pp) *pp = s->next;
    mb_session_free(s);
}

static mb_session *mb_session_find(mb_broker *b, mqttc_str id) {
    for (mb_session *s = b->sessions; s; s = s->next)
        if (s->id_len == id.len && memcmp(s->id, id.ptr, id.len) == 0) return s;
    return NULL;
}

static mb_session *mb_session_new(mb_broker *b, mqttc_str id, int version) {
    mb_session *s = (mb_session *)calloc(1, sizeof *s);
    if (!s) return NULL;
    s->id = mb_memdup(id.ptr, id.len);
    if (!s->id) { free(s); return NULL; }
    s->id_len = id.len;
    s->version = version;
    s->next = b->sessions;
    b->sessions = s;
    return s;
}

/* A free packet id for an outgoing QoS 1/2 message, 0 when all 65535 are in flight. */
static unsigned short mb_session_take_id(mb_session *s) {
    for (unsigned tries = 0; tries < 65535u; tries++) {
        s->next_id = (unsigned short)(s->next_id == 65535u ? 1 : s->next_id + 1);
        if (!mb_bit(s->out_ids, s->next_id)) {
            mb_set_bit(s->out_ids, s->next_id, 1);
            return s->next_id;
        }
    }
    return 0;
}

static mb_inflight *mb_inflight_find(mb_session *s, unsigned short id, int state) {
    for (mb_inflight *f = s->out_head; f; f = f->next)
        if (f->id == id && f->state == state) return f;
    return NULL;
}

/* The link that points to the subscription with exactly this filter, or to the list's end. */
static mb_sub **mb_sub_find(mb_session *s, mqttc_str filter) {
    mb_sub **pp = &s->subs;
    while (*pp && !((*pp)->len == filter.len && memcmp((*pp)->filter, filter.ptr, filter.len) == 0))
        pp = &(*pp)->next;
    return pp;
}

/* Adds or replaces a subscription: an identical filter's options and identifier are
   replaced [MQTT-3.8.4-3]. options: the QoS granted, and MQTT 5's option bits. *is_new says
   whether it existed (Retain Handling 1). 0, or -1 when out of memory. */
static int mb_subscribe(mb_session *s, mqttc_str filter, int qos, int options, uint32_t sub_id, int *is_new) {
    mb_sub **pp = mb_sub_find(s, filter);
    *is_new = *pp == NULL;
    if (!*pp) {
        mb_sub *sub = (mb_sub *)calloc(1, sizeof *sub);
        if (!sub || !(sub->filter = mb_memdup(filter.ptr, filter.len))) { free(sub); return -1; }
        sub->len = filter.len;
        *pp = sub;
    }
    (*pp)->qos = qos;
    (*pp)->no_local = (options & 4) != 0;
    (*pp)->keep_retain = (options & 8) != 0;
    (*pp)->sub_id = sub_id;
    return 0;
}

/* 0 when the subscription existed and is gone, -1 when there was none. */
static int mb_unsubscribe(mb_session *s, mqttc_str filter) {
    mb_sub **pp = mb_sub_find(s, filter), *sub = *pp;
    if (!sub) return -1;
    *pp = sub->next;
    free(sub->filter);
    free(sub);
    return 0;
}

/* One copy of a message for one session: its QoS and RETAIN flag, and the subscription
   identifiers it carries (malloc'd, or NULL). */
typedef struct mb_copy {
    int qos, retain;
    uint32_t *ids;
    size_t id_count;
} mb_copy;

static void mb_copy_add_id(mb_copy *cp, uint32_t id) {
    uint32_t *ids = (uint32_t *)realloc(cp->ids, (cp->id_count + 1) * sizeof *ids);
    if (!ids) return; /* out of memory: the message goes without this identifier */
    ids[cp->id_count++] = id;
    cp->ids = ids;
}

/* How a message reaches session s: 0 with *cp set when a subscription matches, else -1
   (cp->ids is then NULL). Overlapping subscriptions give one copy at the highest QoS
   granted [MQTT-3.3.5-1] [MQTT-3.3.4-2], with all their identifiers [MQTT-3.3.4-4], and at
   most the published QoS [MQTT-3.8.4-6]. */
static int mb_session_match(const mb_session *s, const mb_message *m, mb_copy *cp) {
    memset(cp, 0, sizeof *cp);
    cp->qos = -1;
    for (const mb_sub *sub = s->subs; sub; sub = sub->next) {
        if (!mqttc_topic_matches(sub->filter, sub->len, m->topic.ptr, m->topic.len)) continue;
        if (sub->no_local && m->from == s) continue; /* [MQTT-3.8.3-3] */
        if (sub->qos > cp->qos) cp->qos = sub->qos;
        if (sub->keep_retain && m->retain) cp->retain = 1; /* else retain 0 [MQTT-3.3.1-12] */
        if (sub->sub_id) mb_copy_add_id(cp, sub->sub_id);
    }
    if (m->qos < cp->qos) cp->qos = m->qos;
    return cp->qos < 0 ? -1 : 0;
}

/* ---- delivery ---- */

/* The publisher's properties that travel with its message, unaltered: payload format,
   expiry (passed on unchanged, not reduced by the time held), content type, response
   topic, correlation data, user properties in order [MQTT-3.3.2-4, -15, -16, -17, -18, -20].
   Topic aliases are per connection [MQTT-3.3.2-7]; a will's delay stays with the broker. */
static int mb_is_forwarded(int id) {
    return id == MQTTC_PROP_PAYLOAD_FORMAT || id == MQTTC_PROP_MESSAGE_EXPIRY || id == MQTTC_PROP_CONTENT_TYPE ||
           id == MQTTC_PROP_RESPONSE_TOPIC || id == MQTTC_PROP_CORRELATION_DATA || id == MQTTC_PROP_USER;
}

/* The properties of a PUBLISH to an MQTT 5 client: the forwarded ones, then the
   subscription identifiers [MQTT-3.3.4-3]. malloc'd, NULL when there are none. */
static mqttc_prop *mb_forward_props(const mb_client *c, const mb_message *m, const mb_copy *cp, size_t *count) {
    size_t pos = 0, n = cp->id_count;
    mqttc_prop pr, *list;
    *count = 0;
    if (!mb_is_v5(c)) return NULL;
    while (mqttc_props_next(&m->props, &pos, &pr) == 1) n++;
    if (n == 0 || !(list = (mqttc_prop *)malloc(n * sizeof *list))) return NULL;
    for (pos = 0; mqttc_props_next(&m->props, &pos, &pr) == 1;)
        if (mb_is_forwarded(pr.id)) list[(*count)++] = pr;
    for (size_t i = 0; i < cp->id_count; i++) list[(*count)++] = mqttc_prop_int(MQTTC_PROP_SUBSCRIPTION_ID, cp->ids[i]);
    return list;
}

/* A PUBLISH encoded into a new buffer (NULL when it cannot be encoded). */
static unsigned char *mb_encode_publish_alloc(int version, const mqttc_publish_info *pi, size_t *n) {
    unsigned char *pkt = NULL;
    if (mqttc_encode_publish(NULL, 0, version, pi, n) != MQTTC_ERR_NOSPACE) return NULL;
    if ((pkt = (unsigned char *)malloc(*n)) && mqttc_encode_publish(pkt, *n, version, pi, n) != MQTTC_OK) {
        free(pkt);
        pkt = NULL;
    }
    return pkt;
}

/* The PUBLISH of a message for client c as kept for sending and resending: no alias, no
   padding (those belong to one connection, and are added as it goes out). */
static unsigned char *mb_encode_for(const mb_client *c, const mb_message *m, const mb_copy *cp, unsigned short id,
                                    size_t *n) {
    mqttc_publish_info pi = {0};
    pi.topic = m->topic.ptr;
    pi.topic_len = m->topic.len;
    pi.payload = m->payload;
    pi.payload_len = m->len;
    pi.qos = cp->qos;
    pi.retain = cp->retain;
    pi.packet_id = id;
    pi.props.list = mb_forward_props(c, m, cp, &pi.props.count);
    unsigned char *pkt = mb_encode_publish_alloc(c->version, &pi, n);
    free((void *)pi.props.list);
    return pkt;
}

/* The client's Maximum Packet Size: nothing larger goes to it (5.0 [MQTT-3.1.2-24]), but
   with --oversize. */
static int mb_is_too_large(const mb_client *c, size_t n) {
    return !g_cfg.oversize && c->max_packet_out && n > c->max_packet_out;
}

static int mb_alias_set(mb_alias *a, mqttc_str topic) {
    char *t = mb_memdup(topic.ptr, topic.len);
    if (!t) return -1;
    free(a->topic);
    a->topic = t;
    a->len = topic.len;
    return 0;
}

static void mb_aliases_free(mb_alias *a, unsigned max) {
    if (!a) return;
    for (unsigned i = 0; i <= max; i++) free(a[i].topic);
    free(a);
}

/* --unknown-alias: an alias the client may use but the broker never set. */
static unsigned mb_unused_alias(const mb_client *c) {
    for (unsigned i = c->alias_max_out; i >= 1; i--)
        if (i > c->alias_out_max || !c->alias_out[i].topic) return i;
    return 1;
}

/* The Topic Alias for a PUBLISH to c: 1 with *alias and *with_topic set, 0 for none.
   --alias-out assigns them first come, first served, never above the client's maximum
   [MQTT-3.1.2-26]; a topic's first message defines its alias (5.0, 3.3.2.3.4).
   --bad-alias and --unknown-alias break the rules on purpose. */
static int mb_choose_alias(mb_client *c, mqttc_str topic, unsigned *alias, int *with_topic) {
    *with_topic = 1;
    if (g_cfg.bad_alias) {
        *alias = c->alias_max_out < 65535u ? c->alias_max_out + 1u : 0u;
        return 1;
    }
    if (g_cfg.unknown_alias) {
        *alias = mb_unused_alias(c);
        *with_topic = 0;
        return 1;
    }
    for (unsigned i = 1; i <= c->alias_out_max; i++) {
        mb_alias *a = &c->alias_out[i];
        *alias = i;
        if (!a->topic) return mb_alias_set(a, topic) == 0; /* slots fill in order: a new topic */
        if (a->len != topic.len || memcmp(a->topic, topic.ptr, topic.len) != 0) continue;
        *with_topic = 0;
        return 1;
    }
    return 0;
}

/* --oversize: pi's payload grown with 'x' so the whole packet is g_cfg.oversize bytes; the
   remaining length's own size can grow with it, so the size settles in a few rounds (a
   byte more where no exact fit exists). Returns the buffer to free, NULL if unchanged. */
static unsigned char *mb_pad_payload(mqttc_publish_info *pi, int version) {
    size_t n, len = pi->payload_len, target = g_cfg.oversize;
    mqttc_publish_info t = *pi;
    if (mqttc_encode_publish(NULL, 0, version, pi, &n) != MQTTC_ERR_NOSPACE || n >= target) return NULL;
    t.payload = "";
    t.payload_len = len + (target - n);
    for (int round = 0; round < 4; round++) {
        if (mqttc_encode_publish(NULL, 0, version, &t, &n) != MQTTC_ERR_NOSPACE || n == target) break;
        t.payload_len = n > target ? t.payload_len - (n - target) : t.payload_len + (target - n);
    }
    if (t.payload_len < len) t.payload_len = len;
    unsigned char *buf = (unsigned char *)malloc(t.payload_len);
    if (!buf) return NULL;
    if (len) memcpy(buf, pi->payload, len);
    memset(buf + len, 'x', t.payload_len - len);
    pi->payload = buf;
    pi->payload_len = t.payload_len;
    return buf;
}

/* Alias 0 cannot be encoded (the codec refuses it): the alias is the last property, just
   before the payload, so it is written over the placeholder there. */
static void mb_patch_alias_zero(unsigned char *pkt, size_t n, size_t payload_len) {
    pkt[n - payload_len - 2] = 0;
    pkt[n - payload_len - 1] = 0;
}

/* Sends the PUBLISH pkt with what --alias-out, --bad-alias, --unknown-alias and --oversize
   want: a Topic Alias (the topic left out once the alias is known), a padded payload.
   What cannot be re-encoded, or would pass the client's maximum, goes as it was. */
static void mb_rewrite_publish(mb_client *c, const unsigned char *pkt, size_t n) {
    mqttc_packet p;
    size_t used, out_n = 0;
    unsigned alias = 0;
    int with_topic = 1;
    mqttc_prop alias_prop;
    if (mqttc_decode(pkt, n, 0, c->version, &p, &used) != MQTTC_OK) { mb_send_bytes(c, pkt, n); return; }
    mqttc_publish_info pi = p.publish;
    mqttc_str topic = {pi.topic, pi.topic_len};
    if (mb_is_v5(c) && mb_choose_alias(c, topic, &alias, &with_topic)) {
        alias_prop = mqttc_prop_int(MQTTC_PROP_TOPIC_ALIAS, alias ? alias : 1);
        pi.props.list = &alias_prop;
        pi.props.count = 1;
        if (!with_topic) pi.topic_len = 0;
    }
    unsigned char *padding = g_cfg.oversize ? mb_pad_payload(&pi, c->version) : NULL;
    unsigned char *out = mb_encode_publish_alloc(c->version, &pi, &out_n);
    if (out && pi.props.count && alias == 0) mb_patch_alias_zero(out, out_n, pi.payload_len);
    if (out && !mb_is_too_large(c, out_n)) mb_send_bytes(c, out, out_n);
    else mb_send_bytes(c, pkt, n);
    free(out);
    free(padding);
}

static void mb_transmit(mb_client *c, const unsigned char *pkt, size_t n) {
    int has_alias = mb_is_v5(c) && (g_cfg.bad_alias || g_cfg.unknown_alias || c->alias_out_max);
    if (has_alias || g_cfg.oversize > n) mb_rewrite_publish(c, pkt, n);
    else mb_send_bytes(c, pkt, n);
}

/* Room under the client's Receive Maximum for one more QoS 1/2 PUBLISH [MQTT-3.3.4-9]. */
static int mb_window_open(const mb_client *c) {
    return g_cfg.ignore_receive_max || c->receive_max == 0 || c->session->unacked < c->receive_max;
}

/* Sends queued messages, in order, while the window allows; PUBLISHes wait, nothing else
   does [MQTT-3.3.4-10]. */
static void mb_send_queued(mb_client *c) {
    mb_session *s = c->session;
    if (!s || !s->queued || c->state != MB_CONNECTED) return;
    for (mb_inflight *f = s->out_head; f && mb_window_open(c); f = f->next) {
        if (f->state != MB_QUEUED) continue;
        f->state = f->qos == 1 ? MB_AWAIT_PUBACK : MB_AWAIT_PUBREC;
        s->queued--;
        s->unacked++;
        mb_transmit(c, f->pkt, f->len);
    }
}

/* Keeps pkt (now the record's) as a queued QoS 1/2 message. -1 when out of memory. */
static int mb_inflight_add(mb_session *s, unsigned short id, int qos, unsigned char *pkt, size_t n) {
    mb_inflight *f = (mb_inflight *)calloc(1, sizeof *f);
    if (!f) return -1;
    f->id = id;
    f->qos = qos;
    f->state = MB_QUEUED;
    f->pkt = pkt;
    f->len = n;
    s->queued++;
    if (s->out_tail) s->out_tail->next = f;
    else s->out_head = f;
    s->out_tail = f;
    return 0;
}

static void mb_log_lost(const mb_client *c, const mb_message *m, const char *why) {
    if (g_cfg.verbose) fprintf(stderr, "%s: message to %.*s lost (%s)\n", c->name, (int)m->topic.len, m->topic.ptr, why);
}

/* Sends one copy of a message to a connected client; QoS 1/2 get an id and an in-flight
   record, and wait their turn under its Receive Maximum. One too large for the client is
   dropped as if delivered (5.0 [MQTT-3.1.2-25]). */
static void mb_deliver(mb_client *c, const mb_message *m, const mb_copy *cp) {
    mb_session *s = c->session;
    unsigned short id = 0;
    size_t n = 0;
    const char *lost = NULL;
    if (cp->qos > 0 && !(id = mb_session_take_id(s))) { mb_log_lost(c, m, "no packet id"); return; }
    unsigned char *pkt = mb_encode_for(c, m, cp, id, &n);
    if (!pkt) lost = "cannot be encoded";
    else if (mb_is_too_large(c, n)) lost = "over the client's maximum-packet-size";
    else if (id && mb_inflight_add(s, id, cp->qos, pkt, n) != 0) lost = "out of memory";
    if (lost) {
        mb_log_lost(c, m, lost);
        if (id) mb_set_bit(s->out_ids, id, 0);
        free(pkt);
        return;
    }
    if (id) { mb_send_queued(c); return; }
    mb_transmit(c, pkt, n);
    free(pkt);
}

static void mb_retained_free(mb_retained *r) {
    free(r->topic);
    free(r->payload);
    free(r->props);
    free(r);
}

/* Stores the last retained message of a topic, properties and all; an empty payload
   deletes it [MQTT-3.3.1-10/11]. */
static void mb_retain(mb_broker *b, const mb_message *m) {
    mb_retained **pp = &b->retained, *r;
    while (*pp && !((*pp)->topic_len == m->topic.len && memcmp((*pp)->topic, m->topic.ptr, m->topic.len) == 0))
        pp = &(*pp)->next;
    if (*pp) {
        r = *pp;
        *pp = r->next;
        mb_retained_free(r);
    }
    if (m->len == 0 || !(r = (mb_retained *)calloc(1, sizeof *r))) return;
    r->topic = mb_memdup(m->topic.ptr, m->topic.len);
    r->payload = (unsigned char *)mb_memdup(m->payload, m->len);
    if (!r->topic || !r->payload || mb_keep_bytes(&r->props, &r->props_len, m->props.ptr, m->props.len) != 0) {
        mb_retained_free(r);
        return;
    }
    r->topic_len = m->topic.len;
    r->payload_len = m->len;
    r->qos = m->qos;
    r->next = b->retained;
    b->retained = r;
}

/* Forwards an application message to every matching connected session. */
static void mb_route(mb_broker *b, const mb_message *m) {
    if (m->retain) mb_retain(b, m); /* [MQTT-3.3.1-5] */
    for (mb_client *c = b->clients; c; c = c->next) {
        mb_copy cp;
        if (c->state != MB_CONNECTED) continue;
        if (mb_session_match(c->session, m, &cp) == 0) mb_deliver(c, m, &cp);
        free(cp.ids);
    }
}

/* Retained messages matching a new subscription go out with retain 1 [MQTT-3.3.1-6/8], and
   with that subscription's identifier. */
static void mb_send_retained(mb_broker *b, mb_client *c, mqttc_str filter, int granted, uint32_t sub_id) {
    for (mb_retained *r = b->retained; r; r = r->next) {
        if (!mqttc_topic_matches(filter.ptr, filter.len, r->topic, r->topic_len)) continue;
        mb_message m = {{r->topic, r->topic_len}, r->payload, r->payload_len, r->qos, 1, {0}, NULL};
        mb_copy cp = {r->qos < granted ? r->qos : granted, 1, &sub_id, sub_id ? 1u : 0u};
        m.props.ptr = r->props;
        m.props.len = r->props_len;
        mb_deliver(c, &m, &cp);
    }
}

/* After a resumed session: unacknowledged PUBLISH again with DUP set, PUBREL again for
   those past PUBREC, in their original order [MQTT-4.4.0-1]; then what was queued. */
static void mb_resend_inflight(mb_client *c) {
    for (mb_inflight *f = c->session->out_head; f; f = f->next) {
        if (f->state == MB_QUEUED) continue;
        if (f->state == MB_AWAIT_PUBCOMP) {
            if (!g_cfg.no_pubrel) mb_send_ack(c, MQTTC_PUBREL, f->id);
            continue;
        }
        f->pkt[0] |= 0x08u; /* DUP [MQTT-3.3.1-1] */
        mb_transmit(c, f->pkt, f->len);
    }
    mb_send_queued(c);
}

/* ---- wills ---- */

static void mb_will_free(mb_will *w) {
    if (!w) return;
    free(w->topic);
    free(w->payload);
    free(w->props);
    free(w->client_id);
    free(w);
}

static void mb_will_publish(mb_broker *b, const mb_will *w, const char *whose) {
    mb_message m = {{w->topic, w->topic_len}, w->payload, w->payload_len, w->qos, w->retain, {0}, NULL};
    m.props.ptr = w->props;
    m.props.len = w->props_len;
    if (g_cfg.verbose) fprintf(stderr, "%s: publishing will to %s\n", whose, w->topic);
    mb_route(b, &m);
}

/* The will of a connection that ended without DISCONNECT 0x00 [MQTT-3.1.2-8]: published
   when its Will Delay Interval has passed or its session ends, whichever is first; so at
   once when both are 0. A session taken over by a new connection cancels a delayed one
   [MQTT-3.1.3-9]. */
static void mb_will_release(mb_broker *b, mb_client *c) {
    mb_will *w = c->will;
    uint32_t delay = w->delay_s;
    c->will = NULL;
    if (c->session && c->session->expiry_s < delay) delay = c->session->expiry_s;
    if (delay == 0) mb_will_publish(b, w, c->name);
    if (delay == 0 || !c->session) { mb_will_free(w); return; }
    if (!(w->client_id = mb_memdup(c->session->id, c->session->id_len))) { mb_will_free(w); return; }
    w->client_id_len = c->session->id_len;
    w->due_ms = mb_now_ms() + (uint64_t)delay * 1000u;
    w->next = b->wills;
    b->wills = w;
    if (g_cfg.verbose) fprintf(stderr, "%s: will to %s in %lu s\n", c->name, w->topic, (unsigned long)delay);
}

/* A new connection of this client id: a delayed will is not sent when the connection
   resumes its session [MQTT-3.1.3-9], and is sent now when Clean Start ended the session. */
static void mb_will_settle(mb_broker *b, mqttc_str id, int is_resumed) {
    mb_will **pp = &b->wills;
    while (*pp) {
        mb_will *w = *pp;
        if (w->client_id_len != id.len || memcmp(w->client_id, id.ptr, id.len) != 0) { pp = &w->next; continue; }
        *pp = w->next;
        if (!is_resumed) mb_will_publish(b, w, w->client_id);
        else if (g_cfg.verbose) fprintf(stderr, "%s: delayed will cancelled\n", w->client_id);
        mb_will_free(w);
    }
}

/* Publishes the delayed wills whose time came; returns min(next, ms to the next one). */
static uint64_t mb_check_wills(mb_broker *b, uint64_t now, uint64_t next) {
    mb_will **pp = &b->wills;
    while (*pp) {
        mb_will *w = *pp;
        if (w->due_ms > now) {
            if (w->due_ms - now < next) next = w->due_ms - now;
            pp = &w->next;
            continue;
        }
        *pp = w->next; /* unlinked first: routing may end clients, never wills */
        mb_will_publish(b, w, w->client_id);
        mb_will_free(w);
    }
    return next;
}

/* ---- CONNECT and AUTH ---- */

static int mb_is_mqtt5(const mqttc_connect_info *ci) {
    return mb_str_eq(ci->protocol_name, "MQTT") && ci->protocol_level == MQTTC_PROTOCOL_5;
}

/* The CONNACK code for this CONNECT: 0 to accept, else the refusal in 3.1.1's terms
   (mb_connack_code_for translates) or --connack's. -1 for a protocol name that is not
   MQTT's or MQTT 3.1's: close without CONNACK [MQTT-3.1.2-1]. */
static int mb_connect_code(const mqttc_connect_info *ci) {
    int v311 = mb_str_eq(ci->protocol_name, "MQTT"), v31 = mb_str_eq(ci->protocol_name, "MQIsdp");
    if (!v311 && !v31) return -1;
    if (v311 && ci->protocol_level != 4 && ci->protocol_level != MQTTC_PROTOCOL_5) return 1; /* [MQTT-3.1.2-2] */
    if (v31 && ci->protocol_level != 3) return 1;
    if (g_cfg.connack) return g_cfg.connack;
    /* [MQTT-3.1.3-8]; MQTT 5 assigns an id whatever Clean Start says (5.0, 3.1.3.1) */
    if (ci->client_id.len == 0 && !ci->clean_session && !mb_is_mqtt5(ci)) return 2;
    if (g_cfg.user) {
        if (!ci->username.ptr) return 5;
        if (!mb_str_eq(ci->username, g_cfg.user)) return 4;
        if (g_cfg.pass && (!ci->password.ptr || !mb_str_eq(ci->password, g_cfg.pass))) return 4;
    }
    return 0;
}

/* Enhanced authentication (5.0, 4.12): 0, or 0x8C for a method other than --auth-method. */
static int mb_auth_code(mb_client *c, const mqttc_connect_info *ci) {
    mqttc_prop method;
    if (!mb_is_v5(c) || !mqttc_props_get(&ci->props, MQTTC_PROP_AUTH_METHOD, &method)) return 0;
    if (!g_cfg.auth_method || !mb_str_eq(method.str, g_cfg.auth_method)) return MQTTC_RC_BAD_AUTH_METHOD;
    c->uses_auth = 1;
    return 0;
}

static int mb_store_will(mb_client *c, const mqttc_connect_info *ci) {
    mqttc_prop delay;
    if (!ci->will_topic.ptr) return 0;
    mb_will *w = (mb_will *)calloc(1, sizeof *w);
    if (!(c->will = w)) return -1;
    w->topic = mb_memdup(ci->will_topic.ptr, ci->will_topic.len);
    w->payload = (unsigned char *)mb_memdup(ci->will_payload.ptr, ci->will_payload.len);
    if (!w->topic || !w->payload || mb_keep_bytes(&w->props, &w->props_len, ci->will_props.ptr, ci->will_props.len))
        return -1;
    w->topic_len = ci->will_topic.len;
    w->payload_len = ci->will_payload.len;
    w->qos = ci->will_qos;
    w->retain = ci->will_retain;
    if (mqttc_props_get(&ci->will_props, MQTTC_PROP_WILL_DELAY, &delay)) w->delay_s = delay.value;
    return 0;
}

/* The client's limits and session wishes (5.0, 3.1.2.11); 3.1.1 has none but clean session. */
static void mb_read_connect_props(mb_client *c, const mqttc_connect_info *ci) {
    mqttc_prop pr;
    c->expiry_s = ci->clean_session ? 0 : MB_NO_EXPIRY;
    if (!mb_is_v5(c)) return;
    c->expiry_s = mqttc_props_get(&ci->props, MQTTC_PROP_SESSION_EXPIRY, &pr) ? pr.value : 0;
    c->receive_max = mqttc_props_get(&ci->props, MQTTC_PROP_RECEIVE_MAX, &pr) ? pr.value : 65535u;
    if (mqttc_props_get(&ci->props, MQTTC_PROP_MAX_PACKET_SIZE, &pr)) c->max_packet_out = pr.value;
    if (mqttc_props_get(&ci->props, MQTTC_PROP_TOPIC_ALIAS_MAX, &pr)) c->alias_max_out = pr.value;
}

/* What the CONNECT says, kept past it (the AUTH exchange may come before CONNACK). */
static int mb_remember_connect(mb_client *c, const mqttc_connect_info *ci) {
    if (!(c->connect_id = mb_memdup(ci->client_id.ptr, ci->client_id.len))) return -1;
    c->connect_id_len = ci->client_id.len;
    if (c->connect_id_len) snprintf(c->name, sizeof c->name, "%s", c->connect_id); /* logs during AUTH */
    c->clean_start = ci->clean_session;
    c->keepalive_s = ci->keepalive_s;
    mb_read_connect_props(c, ci);
    return mb_store_will(c, ci);
}

/* Takes over or creates the session of this client id. A connection already using it is
   closed, will and all [MQTT-3.1.4-2] (MQTT 5: DISCONNECT 0x8E); clean session / Clean Start
   starts afresh (3.1.1 [MQTT-3.1.2-6], 5.0 [MQTT-3.1.2-4]), and so does a client of another
   version. */
static mb_session *mb_attach_session(mb_broker *b, const mb_client *c, mqttc_str id, int *present) {
    mb_session *s = mb_session_find(b, id);
    *present = 0;
    if (s && s->client) {
        mb_end(s->client, MQTTC_RC_SESSION_TAKEN_OVER, "session taken over");
        s->client->session = NULL;
        s->client = NULL;
    }
    if (s && (c->clean_start || s->expiry_s == 0 || s->version != c->version)) {
        mb_session_remove(b, s);
        s = NULL;
    }
    if (s) {
        *present = 1; /* [MQTT-3.2.2-2] */
        return s;
    }
    return mb_session_new(b, id, c->version);
}

/* Topic alias tables for this connection: the client's, up to the broker's maximum; the
   broker's, up to min(--alias-out, the client's maximum) [MQTT-3.1.2-26]. */
static int mb_alloc_aliases(mb_client *c) {
    if (!mb_is_v5(c)) return 0;
    c->alias_in_max = mb_limit(MQTTC_PROP_TOPIC_ALIAS_MAX, MB_TOPIC_ALIAS_MAX);
    c->alias_out_max = g_cfg.alias_out < c->alias_max_out ? g_cfg.alias_out : c->alias_max_out;
    c->alias_in = (mb_alias *)calloc(c->alias_in_max + 1u, sizeof *c->alias_in);
    c->alias_out = (mb_alias *)calloc(c->alias_out_max + 1u, sizeof *c->alias_out);
    return c->alias_in && c->alias_out ? 0 : -1;
}

/* CONNACK 0: the session attached, the CONNACK's values in force (Session Expiry and
   Server Keep Alive replace the client's: 5.0, 3.2.2.3.2 and 3.2.2.3.14). */
static void mb_accept_connect(mb_broker *b, mb_client *c) {
    char auto_id[32];
    mqttc_str id = {c->connect_id, c->connect_id_len};
    mqttc_prop forced;
    int present;
    if (mb_is_v5(c) && mb_connack_prop(MQTTC_PROP_ASSIGNED_CLIENT_ID, &forced)) {
        id = forced.str; /* --connack-prop, even over the client's own choice */
    } else if (id.len == 0) { /* the server assigns one [MQTT-3.1.3-6] */
        snprintf(auto_id, sizeof auto_id, "minibroker-%lu", ++b->next_auto_id);
        id.ptr = auto_id;
        id.len = strlen(auto_id);
        c->is_id_assigned = 1;
    }
    snprintf(c->name, sizeof c->name, "%.*s", (int)id.len, id.ptr);
    c->session = mb_attach_session(b, c, id, &present);
    if (!c->session || mb_alloc_aliases(c) != 0) { mb_drop(c, "out of memory"); return; }
    c->session->client = c;
    c->session->expiry_s = mb_is_v5(c) ? mb_limit(MQTTC_PROP_SESSION_EXPIRY, c->expiry_s) : c->expiry_s;
    if (mb_is_v5(c)) c->keepalive_s = mb_limit(MQTTC_PROP_SERVER_KEEP_ALIVE, c->keepalive_s);
    c->state = MB_CONNECTED;
    mb_send_connack(c, present, 0);
    mb_will_settle(b, id, present);
    if (present) mb_resend_inflight(c);
}

/* The next step of an authentication exchange: another challenge, or success: CONNACK, or
   AUTH 0x00 after a re-authentication (5.0, 4.12.0 and 4.12.1). */
static void mb_auth_continue(mb_broker *b, mb_client *c) {
    char data[32];
    if (c->auth_step < g_cfg.auth_steps) {
        snprintf(data, sizeof data, "challenge-%u", ++c->auth_step);
        mb_send_auth(c, MQTTC_RC_CONTINUE_AUTH, data);
        return;
    }
    c->auth_step = 0;
    if (c->state == MB_AUTHENTICATING) mb_accept_connect(b, c);
    else mb_send_auth(c, MQTTC_RC_SUCCESS, NULL);
}

static void mb_on_connect(mb_broker *b, mb_client *c, const mqttc_connect_info *ci) {
    int code = mb_connect_code(ci);
    c->version = mb_is_mqtt5(ci) ? MQTTC_PROTOCOL_5 : MQTTC_PROTOCOL_311;
    if (code < 0) { mb_drop(c, "unknown protocol name"); return; }
    if (code == 0) code = mb_auth_code(c, ci);
    if (code > 0) {
        mb_send_connack(c, 0, code); /* then close [MQTT-3.2.2-5] */
        c->flush_on_close = 1;
        c->state = MB_DEAD;
        return;
    }
    if (mb_remember_connect(c, ci) != 0) { mb_drop(c, "out of memory"); return; }
    if (!c->uses_auth) { mb_accept_connect(b, c); return; }
    c->state = MB_AUTHENTICATING;
    mb_auth_continue(b, c);
}

/* AUTH: an answer to the broker's challenge (0x18), or a re-authentication (0x19), with
   the method of the CONNECT [MQTT-4.12.0-5] [MQTT-4.12.1-1]. A client that did not start
   with enhanced authentication may not send it (5.0, 4.12.0). */
static void mb_on_auth(mb_broker *b, mb_client *c, const mqttc_auth_info *ai) {
    mqttc_prop method;
    int is_reauth = ai->reason_code == MQTTC_RC_REAUTHENTICATE && c->state == MB_CONNECTED && !c->auth_step;
    if (!c->uses_auth) { mb_end(c, MQTTC_RC_PROTOCOL_ERROR, "AUTH without enhanced authentication"); return; }
    if (!mqttc_props_get(&ai->props, MQTTC_PROP_AUTH_METHOD, &method) || !mb_str_eq(method.str, g_cfg.auth_method)) {
        mb_end(c, MQTTC_RC_BAD_AUTH_METHOD, "AUTH with another method");
        return;
    }
    if (!is_reauth && (ai->reason_code != MQTTC_RC_CONTINUE_AUTH || !c->auth_step)) {
        mb_end(c, MQTTC_RC_PROTOCOL_ERROR, "AUTH out of turn");
        return;
    }
    mb_auth_continue(b, c);
}

/* ---- the other packets, in packet-type order ---- */

/* The rules the broker's CONNACK set for an MQTT 5 client's PUBLISH: Maximum QoS, Retain
   Available (5.0, 3.2.2.3.4 and 3.2.2.3.5), and no Subscription Identifier from a client
   [MQTT-3.3.4-6]. 0, or -1 when the connection was ended. */
static int mb_publish_allowed(mb_client *c, const mqttc_publish_info *pi) {
    if (!mb_is_v5(c)) return 0;
    if ((uint32_t)pi->qos > mb_limit(MQTTC_PROP_MAX_QOS, 2)) {
        mb_end(c, MQTTC_RC_QOS_NOT_SUPPORTED, "QoS over maximum-qos");
        return -1;
    }
    if (pi->retain && !mb_limit(MQTTC_PROP_RETAIN_AVAILABLE, 1)) {
        mb_end(c, MQTTC_RC_RETAIN_NOT_SUPPORTED, "retain while retain-available=0");
        return -1;
    }
    if (mqttc_props_get(&pi->props, MQTTC_PROP_SUBSCRIPTION_ID, NULL)) {
        mb_end(c, MQTTC_RC_PROTOCOL_ERROR, "subscription identifier in a PUBLISH from a client");
        return -1;
    }
    return 0;
}

/* The topic of an incoming PUBLISH: its own, or the one its Topic Alias stands for; a topic
   with an alias sets the alias (5.0, 3.3.2.3.4). Alias 0 or above the broker's maximum is
   0x94; an empty topic with no alias or an unknown one is a protocol error. 0, or -1 when
   the connection was ended. */
static int mb_publish_topic(mb_client *c, const mqttc_publish_info *pi, mqttc_str *topic) {
    mqttc_prop alias;
    topic->ptr = pi->topic;
    topic->len = pi->topic_len;
    if (!mb_is_v5(c) || !mqttc_props_get(&pi->props, MQTTC_PROP_TOPIC_ALIAS, &alias)) {
        if (topic->len) return 0;
        mb_end(c, MQTTC_RC_PROTOCOL_ERROR, "empty topic without a topic alias");
        return -1;
    }
    if (alias.value == 0 || alias.value > c->alias_in_max) {
        mb_end(c, MQTTC_RC_TOPIC_ALIAS_INVALID, "topic alias out of range");
        return -1;
    }
    mb_alias *a = &c->alias_in[alias.value];
    if (topic->len) {
        if (mb_alias_set(a, *topic) == 0) return 0;
        mb_drop(c, "out of memory");
        return -1;
    }
    if (!a->topic) { mb_end(c, MQTTC_RC_PROTOCOL_ERROR, "unknown topic alias"); return -1; }
    topic->ptr = a->topic;
    topic->len = a->len;
    if (g_cfg.verbose) fprintf(stderr, "%s: topic alias %lu is %s\n", c->name, (unsigned long)alias.value, a->topic);
    return 0;
}

/* QoS 2 in: deliver once, on the first PUBLISH; keep the id until PUBREL [MQTT-4.3.3-2].
   An MQTT 5 client may not have more of them than the broker's Receive Maximum
   (5.0, 3.3.4: 0x93). A PUBREC of 0x80 or more ends the flow, so the id is not kept. */
static void mb_on_publish_qos2(mb_broker *b, mb_client *c, const mb_message *m, unsigned short id, int code) {
    mb_session *s = c->session;
    if (code < 0x80 && !mb_bit(s->in_qos2, id)) {
        if (mb_is_v5(c) && s->in_qos2_count >= mb_limit(MQTTC_PROP_RECEIVE_MAX, 65535u)) {
            mb_end(c, MQTTC_RC_RECEIVE_MAX_EXCEEDED, "over the broker's receive-maximum");
            return;
        }
        mb_set_bit(s->in_qos2, id, 1);
        s->in_qos2_count++;
        mb_route(b, m);
    }
    mb_send_ack_code(c, MQTTC_PUBREC, id, code);
}

static void mb_on_publish(mb_broker *b, mb_client *c, const mqttc_publish_info *pi) {
    mb_message m = {{NULL, 0}, pi->payload, pi->payload_len, pi->qos, pi->retain, pi->props, c->session};
    int code = mb_is_v5(c) && pi->qos > 0 ? g_cfg.ack_reason : 0; /* QoS 0 has no ack to refuse with */
    if (mb_publish_allowed(c, pi) != 0 || mb_publish_topic(c, pi, &m.topic) != 0) return;
    if (pi->qos == 2) { mb_on_publish_qos2(b, c, &m, pi->packet_id, code); return; }
    if (code < 0x80) mb_route(b, &m); /* a refusal (--ack-reason) is not delivered */
    if (pi->qos == 1) mb_send_ack_code(c, MQTTC_PUBACK, pi->packet_id, code); /* [MQTT-4.3.2-2] */
}

static void mb_on_puback(mb_client *c, const mqttc_ack_info *a) {
    mb_inflight *f = mb_inflight_find(c->session, a->packet_id, MB_AWAIT_PUBACK);
    if (f) mb_inflight_remove(c->session, f);
    mb_send_queued(c);
}

/* PUBREC: the message is no longer resent, only the PUBREL [MQTT-4.3.3-1] (which
   --no-pubrel holds back). A code of 0x80 or more ends the flow (5.0, 4.3.3); an unknown
   id gets PUBREL 0x92 in MQTT 5. */
static void mb_on_pubrec(mb_client *c, const mqttc_ack_info *a) {
    mb_inflight *f = mb_inflight_find(c->session, a->packet_id, MB_AWAIT_PUBREC);
    if (!f) f = mb_inflight_find(c->session, a->packet_id, MB_AWAIT_PUBCOMP); /* a repeated PUBREC */
    if (!f) {
        if (mb_is_v5(c)) mb_send_ack_code(c, MQTTC_PUBREL, a->packet_id, MQTTC_RC_PACKET_ID_NOT_FOUND);
        return;
    }
    if (a->reason_code >= 0x80) {
        mb_inflight_remove(c->session, f);
        mb_send_queued(c);
        return;
    }
    free(f->pkt);
    f->pkt = NULL;
    f->state = MB_AWAIT_PUBCOMP;
    if (!g_cfg.no_pubrel) mb_send_ack(c, MQTTC_PUBREL, a->packet_id);
    else if (g_cfg.verbose) fprintf(stderr, "%s: PUBREL %u held back (--no-pubrel)\n", c->name, a->packet_id);
}

/* PUBCOMP even for an unknown id [MQTT-4.3.3-2]; MQTT 5 says so with 0x92. */
static void mb_on_pubrel(mb_client *c, const mqttc_ack_info *a) {
    mb_session *s = c->session;
    int is_known = mb_bit(s->in_qos2, a->packet_id);
    if (is_known) s->in_qos2_count--;
    mb_set_bit(s->in_qos2, a->packet_id, 0);
    mb_send_ack_code(c, MQTTC_PUBCOMP, a->packet_id, is_known ? 0 : MQTTC_RC_PACKET_ID_NOT_FOUND);
}

static void mb_on_pubcomp(mb_client *c, const mqttc_ack_info *a) {
    mb_inflight *f = mb_inflight_find(c->session, a->packet_id, MB_AWAIT_PUBCOMP);
    if (f) mb_inflight_remove(c->session, f);
    mb_send_queued(c);
}

/* An MQTT 5 SUBSCRIBE's Subscription Identifier (0: none) in *id. One the CONNACK said is
   not available ends the connection with 0xA1 (5.0, 3.2.2.3.12): -1. */
static int mb_subscription_id(mb_client *c, const mqttc_subscribe_info *si, uint32_t *id) {
    mqttc_prop pr;
    *id = 0;
    if (!mb_is_v5(c) || !mqttc_props_get(&si->props, MQTTC_PROP_SUBSCRIPTION_ID, &pr)) return 0;
    if (!mb_limit(MQTTC_PROP_SUB_ID_AVAILABLE, 1)) {
        mb_end(c, MQTTC_RC_SUB_IDS_NOT_SUPPORTED, "subscription identifier while not available");
        return -1;
    }
    *id = pr.value;
    return 0;
}

static int mb_has_wildcard(mqttc_str f) { return memchr(f.ptr, '+', f.len) || memchr(f.ptr, '#', f.len); }
static int mb_is_shared(mqttc_str f) { return f.len >= 7 && memcmp(f.ptr, "$share/", 7) == 0; }

/* The SUBACK code of one filter, subscribing when it is a grant: --suback-reason's, or a
   refusal of what the CONNACK said is unavailable (5.0, 3.2.2.3.11 and 3.2.2.3.13), or
   the QoS asked for, at most Maximum QoS. */
static unsigned char mb_grant(mb_client *c, mqttc_str f, int options, uint32_t sub_id, int *is_new) {
    int v5 = mb_is_v5(c), qos = options & 3;
    *is_new = 0;
    if (g_cfg.is_suback_forced && g_cfg.suback_reason >= 0x80) return (unsigned char)(v5 ? g_cfg.suback_reason : 0x80);
    if (g_cfg.is_suback_forced) qos = g_cfg.suback_reason;
    if (v5 && mb_is_shared(f) && !mb_limit(MQTTC_PROP_SHARED_SUB_AVAILABLE, 0)) return MQTTC_RC_SHARED_SUBS_NOT_SUPPORTED;
    if (v5 && mb_has_wildcard(f) && !mb_limit(MQTTC_PROP_WILDCARD_SUB_AVAILABLE, 1))
        return MQTTC_RC_WILDCARD_SUBS_NOT_SUPPORTED;
    if (v5 && (uint32_t)qos > mb_limit(MQTTC_PROP_MAX_QOS, 2)) qos = (int)mb_limit(MQTTC_PROP_MAX_QOS, 2);
    if (mb_subscribe(c->session, f, qos, v5 ? options : 0, sub_id, is_new) != 0) return 0x80;
    return (unsigned char)qos;
}

/* Retain Handling: 0 sends the retained messages, 1 only for a new subscription, 2 never
   [MQTT-3.3.1-9, -10, -11]. In 3.1.1 the options are the QoS alone: always. */
static int mb_wants_retained(int options, int is_new) {
    int handling = (options >> 4) & 3;
    return handling == 0 || (handling == 1 && is_new);
}

/* SUBACK carries one code per filter, in order [MQTT-3.8.4-5]; retained messages follow it. */
static void mb_on_subscribe(mb_broker *b, mb_client *c, const mqttc_packet *p) {
    const mqttc_subscribe_info *si = &p->subscribe;
    size_t pos = 0, i = 0;
    mqttc_str f;
    int options, *is_new;
    uint32_t sub_id;
    mqttc_suback_info sa = {0};
    if (mb_subscription_id(c, si, &sub_id) != 0) return;
    unsigned char *codes = (unsigned char *)malloc(si->count);
    if (!codes || !(is_new = (int *)malloc(si->count * sizeof *is_new))) { free(codes); mb_drop(c, "out of memory"); return; }
    for (; mqttc_next_filter(si, &pos, &f, &options) && i < si->count; i++)
        codes[i] = mb_grant(c, f, options, sub_id, &is_new[i]);
    sa.packet_id = si->packet_id;
    sa.codes = codes;
    sa.count = si->count;
    mb_send_packet(c, MQTTC_SUBACK, &sa);
    for (pos = 0, i = 0; mqttc_next_filter(si, &pos, &f, &options) && i < si->count; i++)
        if (codes[i] < 0x80 && mb_wants_retained(options, is_new[i])) mb_send_retained(b, c, f, codes[i], sub_id);
    free(codes);
    free(is_new);
}

/* UNSUBACK [MQTT-3.10.4-4]; MQTT 5 has a code per filter: 0x00, or 0x11 when there was no
   such subscription (5.0, 3.11.3). */
static void mb_on_unsubscribe(mb_client *c, const mqttc_packet *p) {
    const mqttc_subscribe_info *si = &p->subscribe;
    size_t pos = 0, i = 0;
    mqttc_str f;
    unsigned char *codes = mb_is_v5(c) ? (unsigned char *)malloc(si->count) : NULL;
    mqttc_ack_info ai = {0};
    if (mb_is_v5(c) && !codes) { mb_drop(c, "out of memory"); return; }
    for (; mqttc_next_filter(si, &pos, &f, NULL); i++) {
        int was_there = mb_unsubscribe(c->session, f) == 0;
        if (codes && i < si->count) codes[i] = was_there ? MQTTC_RC_SUCCESS : MQTTC_RC_NO_SUBSCRIPTION_EXISTED;
    }
    ai.type = MQTTC_UNSUBACK;
    ai.packet_id = si->packet_id;
    ai.codes = codes;
    ai.count = codes ? si->count : 0;
    mb_send_packet(c, MQTTC_UNSUBACK, &ai);
    free(codes);
}

static void mb_on_pingreq(mb_client *c) {
    unsigned char pkt[2];
    size_t n;
    if (g_cfg.no_pingresp) return;
    if (mqttc_encode_ping(pkt, sizeof pkt, MQTTC_PINGRESP, &n) == MQTTC_OK) mb_send_bytes(c, pkt, n);
}

/* DISCONNECT: 0x00 discards the will [MQTT-3.14.4-3], any other reason (0x04 above all)
   keeps it for publishing [MQTT-3.1.2-8]. MQTT 5 may change the Session Expiry Interval,
   but not from 0 (5.0, 3.14.2.2.2). */
static void mb_on_disconnect(mb_client *c, const mqttc_disconnect_info *di) {
    mqttc_prop pr;
    if (mb_is_v5(c) && c->session && mqttc_props_get(&di->props, MQTTC_PROP_SESSION_EXPIRY, &pr)) {
        if (c->expiry_s == 0 && pr.value != 0) {
            mb_end(c, MQTTC_RC_PROTOCOL_ERROR, "session expiry set in DISCONNECT after 0 in CONNECT");
            return;
        }
        c->session->expiry_s = pr.value;
    }
    c->will_pending = c->will != NULL && c->state == MB_CONNECTED && mb_is_v5(c) && di->reason_code != 0;
    c->state = MB_DEAD;
}

/* Before CONNACK an authenticating client may send only AUTH or DISCONNECT [MQTT-3.1.2-30]. */
static void mb_dispatch_authenticating(mb_broker *b, mb_client *c, const mqttc_packet *p) {
    if (p->type == MQTTC_AUTH) mb_on_auth(b, c, &p->auth);
    else if (p->type == MQTTC_DISCONNECT) mb_on_disconnect(c, &p->disconnect);
    else mb_end(c, MQTTC_RC_PROTOCOL_ERROR, "packet other than AUTH before CONNACK");
}

static void mb_dispatch(mb_broker *b, mb_client *c, const mqttc_packet *p) {
    if (c->state == MB_NEW) {
        if (p->type == MQTTC_CONNECT) mb_on_connect(b, c, &p->connect);
        else mb_drop(c, "first packet is not CONNECT"); /* [MQTT-3.1.0-1] */
        return;
    }
    if (c->state == MB_AUTHENTICATING) { mb_dispatch_authenticating(b, c, p); return; }
    switch (p->type) {
    case MQTTC_PUBLISH: mb_on_publish(b, c, &p->publish); break;
    case MQTTC_PUBACK: mb_on_puback(c, &p->ack); break;
    case MQTTC_PUBREC: mb_on_pubrec(c, &p->ack); break;
    case MQTTC_PUBREL: mb_on_pubrel(c, &p->ack); break;
    case MQTTC_PUBCOMP: mb_on_pubcomp(c, &p->ack); break;
    case MQTTC_SUBSCRIBE: mb_on_subscribe(b, c, p); break;
    case MQTTC_UNSUBSCRIBE: mb_on_unsubscribe(c, p); break;
    case MQTTC_PINGREQ: mb_on_pingreq(c); break;
    case MQTTC_DISCONNECT: mb_on_disconnect(c, &p->disconnect); break;
    case MQTTC_AUTH: mb_on_auth(b, c, &p->auth); break;
    case MQTTC_CONNECT: mb_end(c, MQTTC_RC_PROTOCOL_ERROR, "second CONNECT"); break; /* [MQTT-3.1.0-2] */
    default: mb_end(c, MQTTC_RC_PROTOCOL_ERROR, "packet a client may not send"); break;
    }
}

/* ---- input ---- */

/* The size limit on packets from c: --max-packet, or for MQTT 5 the Maximum Packet Size the
   CONNACK announced when that is smaller (5.0, 3.2.2.3.6: larger is 0x95). */
static size_t mb_in_limit(const mb_client *c) {
    size_t limit = g_cfg.max_packet;
    uint32_t announced = mb_is_v5(c) ? mb_limit(MQTTC_PROP_MAX_PACKET_SIZE, 0) : 0;
    return announced && (!limit || announced < limit) ? announced : limit;
}

/* --drop-after and --disconnect-after count packets from the client, CONNECT included. */
static void mb_count_packet(mb_client *c) {
    c->packets_in++;
    if (g_cfg.drop_after && c->packets_in >= g_cfg.drop_after) mb_drop(c, "--drop-after");
    if (!g_cfg.disconnect_after || c->packets_in < g_cfg.disconnect_after || c->state == MB_DEAD) return;
    if (mb_is_v5(c) && c->state == MB_CONNECTED) {
        mb_send_disconnect(c, g_cfg.disconnect_reason, g_cfg.disconnect_string, g_cfg.server_reference);
        c->flush_on_close = 1;
    }
    mb_drop(c, "--disconnect-after");
}

/* Decodes and handles every complete packet in the input buffer. */
static void mb_process_input(mb_broker *b, mb_client *c) {
    while (c->state != MB_DEAD) {
        mqttc_packet p;
        size_t used;
        int rc = mqttc_decode(c->in.data + c->in.off, c->in.len - c->in.off, mb_in_limit(c), c->version, &p, &used);
        if (rc == MQTTC_MORE) return;
        if (rc == MQTTC_ERR_OVERFLOW) { mb_end(c, MQTTC_RC_PACKET_TOO_LARGE, "packet over --max-packet"); return; }
        if (rc == MQTTC_ERR_PROTOCOL) { mb_end(c, MQTTC_RC_PROTOCOL_ERROR, "protocol error"); return; }
        if (rc != MQTTC_OK) { mb_end(c, MQTTC_RC_MALFORMED_PACKET, "malformed packet"); return; }
        if (g_cfg.verbose) mb_log_packet(c, '<', &p);
        c->last_rx_ms = mb_now_ms();
        mb_dispatch(b, c, &p);
        mb_buf_consumed(&c->in, used);
        mb_count_packet(c);
    }
}

static void mb_read(mb_broker *b, mb_client *c) {
    unsigned char *p = mb_buf_reserve(&c->in, MB_READ_CHUNK);
    if (!p) { mb_drop(c, "out of memory"); return; }
    ssize_t k = recv(c->fd, p, c->in.cap - c->in.len, 0);
    if (k == 0) { mb_drop(c, "end of stream"); return; }
    if (k < 0) {
        if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) mb_drop(c, "recv failed");
        return;
    }
    c->in.len += (size_t)k;
    mb_process_input(b, c);
}

/* ---- clients ---- */

static void mb_accept(mb_broker *b) {
    for (;;) {
        int fd = accept(b->listen_fd, NULL, NULL), one = 1;
        if (fd < 0) return; /* EAGAIN, or an error that poll will show again */
        mb_client *c = (mb_client *)calloc(1, sizeof *c);
        if (!c || fcntl(fd, F_SETFL, O_NONBLOCK) != 0) { free(c); close(fd); continue; }
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        c->fd = fd;
        c->state = MB_NEW;
        c->last_rx_ms = mb_now_ms();
        snprintf(c->name, sizeof c->name, "fd %d", fd);
        c->next = b->clients;
        b->clients = c;
    }
}

/* Closes the socket: a refusal's CONNACK (or a DISCONNECT) is written first, and unread
   input is drained so the kernel sends FIN rather than RST (which could destroy that
   packet in flight). */
static void mb_client_close(mb_client *c) {
    unsigned char sink[4096];
    if (c->flush_on_close) mb_flush(c);
    shutdown(c->fd, SHUT_WR);
    for (int i = 0; i < 64 && recv(c->fd, sink, sizeof sink, 0) > 0; i++) {}
    close(c->fd);
}

/* A session outlives its connection by its expiry interval [MQTT-3.1.2-23]. */
static void mb_client_free(mb_broker *b, mb_client *c) {
    mb_session *s = c->session;
    if (s && s->client == c) {
        s->client = NULL;
        if (s->expiry_s == 0) mb_session_remove(b, s); /* 3.1.1 [MQTT-3.1.2-6] */
        else if (s->expiry_s != MB_NO_EXPIRY) s->expires_ms = mb_now_ms() + (uint64_t)s->expiry_s * 1000u;
    }
    mb_client_close(c);
    free(c->in.data);
    free(c->out.data);
    free(c->connect_id);
    mb_will_free(c->will);
    mb_aliases_free(c->alias_in, c->alias_in_max);
    mb_aliases_free(c->alias_out, c->alias_out_max);
    free(c);
}

/* Frees ended clients, releasing the will of those that did not say DISCONNECT 0x00
   [MQTT-3.1.2-8]. A will can overflow another client, so returns how many it freed. */
static int mb_reap(mb_broker *b) {
    int freed = 0;
    mb_client **pp = &b->clients;
    while (*pp) {
        mb_client *c = *pp;
        if (c->state != MB_DEAD) { pp = &c->next; continue; }
        *pp = c->next; /* unlinked first: routing the will walks the list */
        if (c->will_pending && c->will) mb_will_release(b, c);
        mb_client_free(b, c);
        freed++;
    }
    return freed;
}

/* Keepalive: nothing for 1.5 x keepalive ends the connection [MQTT-3.1.2-24] (MQTT 5:
   DISCONNECT 0x8D). Returns the milliseconds until the next deadline (at most 1000). */
static int mb_check_keepalive(mb_broker *b, uint64_t now) {
    uint64_t next = 1000;
    for (mb_client *c = b->clients; c; c = c->next) {
        if (c->state != MB_CONNECTED || c->keepalive_s == 0) continue;
        uint64_t deadline = c->last_rx_ms + (uint64_t)c->keepalive_s * 1500u;
        if (now >= deadline) mb_end(c, MQTTC_RC_KEEP_ALIVE_TIMEOUT, "keepalive expired");
        else if (deadline - now < next) next = deadline - now;
    }
    return (int)next;
}

/* Unused sessions whose expiry interval has passed end; returns min(next, ms to the next). */
static uint64_t mb_check_sessions(mb_broker *b, uint64_t now, uint64_t next) {
    mb_session **pp = &b->sessions;
    while (*pp) {
        mb_session *s = *pp;
        if (s->client || s->expiry_s == MB_NO_EXPIRY || s->expires_ms > now) {
            if (!s->client && s->expiry_s != MB_NO_EXPIRY && s->expires_ms - now < next) next = s->expires_ms - now;
            pp = &s->next;
            continue;
        }
        *pp = s->next;
        if (g_cfg.verbose) fprintf(stderr, "%s: session expired\n", s->id);
        mb_session_free(s);
    }
    return next;
}

/* Every timer: keepalives, delayed wills, session expiry. Milliseconds to the next. */
static int mb_check_timers(mb_broker *b, uint64_t now) {
    uint64_t next = (uint64_t)mb_check_keepalive(b, now);
    next = mb_check_wills(b, now, next);
    return (int)mb_check_sessions(b, now, next);
}

/* ---- the loop ---- */

/* Fills the poll set: the listener, then every client, writable wanted when output waits. */
static size_t mb_poll_set(mb_broker *b) {
    size_t n = 1, count = 1;
    for (mb_client *c = b->clients; c; c = c->next) count++;
    if (count > b->poll_cap) {
        struct pollfd *p = (struct pollfd *)realloc(b->pfds, 2 * count * sizeof *p);
        if (p) b->pfds = p;
        mb_client **o = (mb_client **)realloc(b->owners, 2 * count * sizeof *o);
        if (o) b->owners = o;
        if (!p || !o) return 0;
        b->poll_cap = 2 * count;
    }
    b->pfds[0].fd = b->listen_fd;
    b->pfds[0].events = POLLIN;
    for (mb_client *c = b->clients; c; c = c->next, n++) {
        b->pfds[n].fd = c->fd;
        b->pfds[n].events = (short)(POLLIN | (c->out.len > c->out.off ? POLLOUT : 0));
        b->owners[n] = c;
    }
    return n;
}

/* One round, in the order data flows: wait, accept, read and handle input, write output. */
static int mb_step(mb_broker *b, int timeout_ms) {
    size_t n = mb_poll_set(b);
    if (n == 0) return -1;
    if (poll(b->pfds, n, timeout_ms) < 0) return errno == EINTR ? 0 : -1;
    if (b->pfds[0].revents) mb_accept(b);
    for (size_t i = 1; i < n; i++) {
        mb_client *c = b->owners[i];
        if (c->state != MB_DEAD && (b->pfds[i].revents & (POLLIN | POLLHUP | POLLERR))) mb_read(b, c);
    }
    for (mb_client *c = b->clients; c; c = c->next)
        if (c->state != MB_DEAD) mb_flush(c);
    return 0;
}

/* The listening socket on addr:port (port 0: any free one); "ADDR:PORT" goes to shown. */
static int mb_listen(const char *addr, int port, char *shown, size_t shown_cap) {
    struct addrinfo hints, *ai = NULL;
    struct sockaddr_storage ss;
    socklen_t len = sizeof ss;
    char service[16], host[64], serv[16];
    int one = 1, fd;
    memset(&hints, 0, sizeof hints);
    hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV | AI_PASSIVE;
    hints.ai_socktype = SOCK_STREAM;
    snprintf(service, sizeof service, "%d", port);
    if (getaddrinfo(addr, service, &hints, &ai) != 0) {
        fprintf(stderr, "minibroker: --bind needs a numeric address, not %s\n", addr);
        return -1;
    }
    fd = socket(ai->ai_family, SOCK_STREAM, 0);
    if (fd >= 0) setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (fd < 0 || bind(fd, ai->ai_addr, ai->ai_addrlen) != 0 || listen(fd, 128) != 0 ||
        fcntl(fd, F_SETFL, O_NONBLOCK) != 0 || getsockname(fd, (struct sockaddr *)&ss, &len) != 0 ||
        getnameinfo((struct sockaddr *)&ss, len, host, sizeof host, serv, sizeof serv,
                    NI_NUMERICHOST | NI_NUMERICSERV) != 0) {
        perror("minibroker: listen");
        if (fd >= 0) close(fd);
        fd = -1;
    }
    freeaddrinfo(ai);
    if (fd >= 0) snprintf(shown, shown_cap, strchr(host, ':') ? "[%s]:%s" : "%s:%s", host, serv);
    return fd;
}

static void mb_broker_free(mb_broker *b) {
    while (b->clients) {
        mb_client *c = b->clients;
        b->clients = c->next;
        mb_client_free(b, c);
    }
    while (b->sessions) mb_session_remove(b, b->sessions);
    while (b->retained) {
        mb_retained *r = b->retained;
        b->retained = r->next;
        mb_retained_free(r);
    }
    while (b->wills) {
        mb_will *w = b->wills;
        b->wills = w->next;
        mb_will_free(w);
    }
    if (b->listen_fd >= 0) close(b->listen_fd);
    free(b->pfds);
    free(b->owners);
}

/* ---- command line ---- */

/* The first SIGINT or SIGTERM stops the broker; later ones are ignored: it is exiting
   already, and a signal that lands in a sanitizer's exit-time leak check (which stops the
   process's threads with ptrace) can deadlock it. sigaction is async-signal-safe. */
static void mb_on_signal(int sig) {
    struct sigaction ignore;
    (void)sig;
    g_stop = 1;
    memset(&ignore, 0, sizeof ignore);
    ignore.sa_handler = SIG_IGN;
    sigaction(SIGINT, &ignore, NULL);
    sigaction(SIGTERM, &ignore, NULL);
}

static int mb_usage(void) {
    fputs("usage: minibroker [-p PORT] [-v] [--bind ADDR] [--max-packet BYTES] [--user NAME --pass PASS]\n"
          "                  [--no-pingresp] [--connack CODE] [--drop-after N]\n"
          "       MQTT 5:    [--connack-prop NAME=VALUE]... [--alias-out N] [--bad-alias] [--unknown-alias]\n"
          "                  [--disconnect-after N [--disconnect-reason CODE] [--disconnect-string TEXT]\n"
          "                   [--server-reference REF]] [--ignore-receive-max] [--no-pubrel]\n"
          "                  [--oversize BYTES] [--auth-method NAME [--auth-steps K]]\n"
          "                  [--ack-reason CODE] [--suback-reason CODE]\n"
          "  (numbers in decimal or 0x hex; the top comment of minibroker/minibroker.c explains each)\n",
          stderr);
    return 2;
}

/* A whole number in [0, max] from s, decimal or 0x hex; -1 when it is not one. */
static long long mb_number(const char *s, long long max) {
    char *end;
    int base = (s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) ? 16 : 10;
    errno = 0;
    long long v = strtoll(s, &end, base);
    return (errno || end == s || *end || v < 0 || v > max) ? -1 : v;
}

/* --connack-prop NAME=VALUE: a name given again replaces its value, but user-property adds. */
static int mb_parse_connack_prop(const char *arg) {
    const char *eq = strchr(arg, '='), *value = eq ? eq + 1 : NULL, *colon = NULL;
    const mb_prop_name *pn = eq ? mb_prop_by_name(arg, (size_t)(eq - arg)) : NULL;
    mqttc_prop pr;
    size_t i = 0;
    long long num = value ? mb_number(value, 0xFFFFFFFFLL) : -1;
    if (!pn || !pn->in_connack) return -1;
    if (pn->kind == 'i' && num < 0) return -1;
    if (pn->kind == 'p' && !(colon = strchr(value, ':'))) return -1;
    pr = mqttc_prop_int(pn->id, pn->kind == 'i' ? (uint32_t)num : 0u);
    if (pn->kind == 's') pr.str = (mqttc_str){value, strlen(value)};
    if (pn->kind == 'p') {
        pr.str = (mqttc_str){value, (size_t)(colon - value)};
        pr.val = (mqttc_str){colon + 1, strlen(colon + 1)};
    }
    while (i < g_cfg.connack_prop_count && (pn->kind == 'p' || g_cfg.connack_props[i].id != pn->id)) i++;
    if (i == MB_MAX_CONNACK_PROPS) return -1;
    if (i == g_cfg.connack_prop_count) g_cfg.connack_prop_count++;
    g_cfg.connack_props[i] = pr;
    return 0;
}

/* The options of MQTT 3.1.1's broker. 0, or -1 for one it does not know or a bad value. */
static int mb_parse_option(const char *a, const char *v) {
    long long num = mb_number(v, 0xFFFFFFFFLL);
    if (!strcmp(a, "-p") && num >= 0 && num <= 65535) g_cfg.port = (int)num;
    else if (!strcmp(a, "--user")) g_cfg.user = v;
    else if (!strcmp(a, "--pass")) g_cfg.pass = v;
    else if (!strcmp(a, "--connack") && num >= 0 && num <= 255) g_cfg.connack = (int)num;
    else if (!strcmp(a, "--drop-after") && num >= 0) g_cfg.drop_after = (unsigned long)num;
    else if (!strcmp(a, "--max-packet") && num >= 2 && num <= 268435460LL) g_cfg.max_packet = (size_t)num;
    else if (!strcmp(a, "--bind")) g_cfg.bind_addr = v;
    else return -1;
    return 0;
}

/* The MQTT 5 options that take a value. */
static int mb_parse_option5(const char *a, const char *v) {
    long long num = mb_number(v, 0xFFFFFFFFLL);
    if (!strcmp(a, "--connack-prop")) return mb_parse_connack_prop(v);
    if (!strcmp(a, "--alias-out") && num >= 0 && num <= 65535) g_cfg.alias_out = (unsigned)num;
    else if (!strcmp(a, "--disconnect-after") && num >= 1) g_cfg.disconnect_after = (unsigned long)num;
    else if (!strcmp(a, "--disconnect-reason") && num >= 0 && num <= 255) g_cfg.disconnect_reason = (int)num;
    else if (!strcmp(a, "--disconnect-string")) g_cfg.disconnect_string = v;
    else if (!strcmp(a, "--server-reference")) g_cfg.server_reference = v;
    else if (!strcmp(a, "--oversize") && num >= 2 && num <= 268435460LL) g_cfg.oversize = (size_t)num;
    else if (!strcmp(a, "--auth-method")) g_cfg.auth_method = v;
    else if (!strcmp(a, "--auth-steps") && num >= 0 && num <= 1000) g_cfg.auth_steps = (unsigned)num;
    else if (!strcmp(a, "--ack-reason") && num >= 0 && num <= 255) g_cfg.ack_reason = (int)num;
    else if (!strcmp(a, "--suback-reason") && num >= 0 && num <= 255) {
        g_cfg.suback_reason = (int)num;
        g_cfg.is_suback_forced = 1;
    } else return -1;
    return 0;
}

/* The options without a value: 1 when a is one. */
static int mb_parse_switch(const char *a) {
    int *flag = !strcmp(a, "-v") ? &g_cfg.verbose
                : !strcmp(a, "--no-pingresp") ? &g_cfg.no_pingresp
                : !strcmp(a, "--bad-alias") ? &g_cfg.bad_alias
                : !strcmp(a, "--unknown-alias") ? &g_cfg.unknown_alias
                : !strcmp(a, "--ignore-receive-max") ? &g_cfg.ignore_receive_max
                : !strcmp(a, "--no-pubrel") ? &g_cfg.no_pubrel
                : NULL;
    if (flag) *flag = 1;
    return flag != NULL;
}

static int mb_config_error(const char *why) {
    fprintf(stderr, "minibroker: %s\n", why);
    return -1;
}

/* The values a fault flag chose must still be encodable: --connack-prop's, and the reason
   codes of PUBACK, SUBACK and DISCONNECT, each with its own set [MQTT-3.4.2-1]
   [MQTT-3.9.3-2] [MQTT-3.14.2-1]. */
static int mb_check_config(void) {
    unsigned char code = (unsigned char)g_cfg.suback_reason;
    size_t n;
    mqttc_props ps = {NULL, 0, g_cfg.connack_props, g_cfg.connack_prop_count};
    mqttc_ack_info ai = {MQTTC_PUBACK, 1, g_cfg.ack_reason, {0}, NULL, 0};
    mqttc_suback_info sa = {1, &code, 1, {0}};
    mqttc_disconnect_info di = {g_cfg.disconnect_reason, {0}};
    if (mqttc_encode_disconnect(NULL, 0, MQTTC_PROTOCOL_5, &di, &n) != MQTTC_ERR_NOSPACE)
        return mb_config_error("--disconnect-reason: not a DISCONNECT reason code");
    if (mqttc_props_check(&ps, MQTTC_CONNACK) != MQTTC_OK) return mb_config_error("--connack-prop: a value MQTT 5 forbids");
    if (mqttc_encode_ack(NULL, 0, MQTTC_PROTOCOL_5, &ai, &n) != MQTTC_ERR_NOSPACE)
        return mb_config_error("--ack-reason: not a PUBACK/PUBREC reason code");
    if (g_cfg.is_suback_forced && mqttc_encode_suback(NULL, 0, MQTTC_PROTOCOL_5, &sa, &n) != MQTTC_ERR_NOSPACE)
        return mb_config_error("--suback-reason: not a SUBACK reason code");
    if (g_cfg.auth_steps && !g_cfg.auth_method) return mb_config_error("--auth-steps needs --auth-method");
    return 0;
}

static int mb_parse_args(int argc, char **argv) {
    g_cfg.port = 1883;
    g_cfg.max_packet = MQTTC_DEFAULT_MAX_PACKET;
    g_cfg.bind_addr = "127.0.0.1";
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (mb_parse_switch(a)) continue;
        if (!v) return -1;
        i++;
        if (mb_parse_option(a, v) != 0 && mb_parse_option5(a, v) != 0) return -1;
    }
    if (g_cfg.pass && !g_cfg.user) return -1;
    return mb_check_config();
}

static void mb_install_signals(void) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = mb_on_signal; /* no SA_RESTART: poll returns EINTR at once */
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sa.sa_handler = SIG_IGN; /* a peer gone while we write; send also uses MSG_NOSIGNAL */
    sigaction(SIGPIPE, &sa, NULL);
}

int main(int argc, char **argv) {
    mb_broker b;
    char shown[96];
    int rc = 0, timeout_ms = 1000;
    if (mb_parse_args(argc, argv) != 0) return mb_usage();
    memset(&b, 0, sizeof b);
    b.listen_fd = mb_listen(g_cfg.bind_addr, g_cfg.port, shown, sizeof shown);
    if (b.listen_fd < 0) return 1;
    mb_install_signals();
    printf("listening on %s\n", shown);
    fflush(stdout);
    while (!g_stop) {
        if (mb_step(&b, timeout_ms) != 0) { perror("minibroker: poll"); rc = 1; break; }
        timeout_ms = mb_check_timers(&b, mb_now_ms());
        while (mb_reap(&b) > 0) {}
    }
    mb_broker_free(&b);
    return rc;
}
