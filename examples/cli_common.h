/* cli_common.h - what mqttc-pub and mqttc-sub share: mosquitto 2.0's options, messages and
   exit codes; TLS options; MQTT 5 (-V, -x, -D properties, reason codes in mosquitto's
   sentences); the packet trace of -d (options.on_trace); and a poll(2) wait that watches
   the client and one descriptor of the tool's own (stdin, a signal pipe).
   Include it after mqttc.h in a file that defines MQTTC_IMPLEMENTATION. The tools are built
   with MQTTC_WITH_OPENSSL when OpenSSL is there (mk/cli.mk); without it TLS flags are refused. */
#ifndef CLI_COMMON_H
#define CLI_COMMON_H

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

enum { CLI_PUB, CLI_SUB };
/* -L: which kind of URL was given (ws:// and wss:// go to mqttc_connect_url) */
enum { CLI_URL_NONE, CLI_URL_MQTT, CLI_URL_WS };
/* mqttc-pub: where the message comes from (-m, -f, -l, -n, -s) */
enum { CLI_MSG_NONE, CLI_MSG_ARG, CLI_MSG_FILE, CLI_MSG_LINES, CLI_MSG_EMPTY, CLI_MSG_STDIN };

/* MQTT 5: the packets (and the will) that -D gives properties to, each with its own list */
enum { CLI_CONNECT, CLI_PUBLISH, CLI_SUBSCRIBE, CLI_UNSUBSCRIBE, CLI_DISCONNECT, CLI_WILL, CLI_PACKETS };
#define CLI_PROPS_MAX 32 /* -D properties per packet; more is an error (no allocation) */
#define CLI_EXPIRY_NEVER 0xFFFFFFFFu /* Session Expiry Interval: the session never ends [MQTT-3.1.2.11.2] */

typedef struct cli_props {
    mqttc_prop list[CLI_PROPS_MAX];
    size_t count;
    uint64_t seen; /* bit id: property ids given, so a repeated one is an error */
} cli_props;

typedef struct cli_config {
    int tool;                /* CLI_PUB or CLI_SUB */
    const char *name;        /* "mqttc-pub", for messages */
    const char *host;        /* -h; default localhost */
    int port;                /* -p; 0: 1883, or 8883 with TLS */
    const char *id;          /* -i; default: the library's random id */
    long keepalive_s;        /* -k; default 60; 0 disables */
    const char *user, *pass; /* -u, -P */
    int no_clean_session;    /* -c */
    int qos;                 /* -q: of the messages (pub) or the subscriptions (sub) */
    int debug, quiet;        /* -d: one line per packet; --quiet: no error messages */
    const char *will_topic, *will_payload;
    int will_qos, will_retain;
    /* TLS, as mosquitto's: --cafile or --capath (or an mqtts:// URL) turn it on */
    const char *cafile, *capath, *cert, *key;
    int insecure, is_tls_url;
    /* transports (section 8 of mqttc.h): -L ws:// and wss://, --ws-path, --proxy */
    const char *proxy;       /* --proxy: options.proxy (socks5h://, socks5://, http://) */
    const char *ws_path;     /* --ws-path: the WebSocket request path; NULL: "/mqtt" */
    const char *store_dir;   /* mqttc-pub --store: the file store's directory (section 13) */
    int url_scheme;          /* the last -L's: CLI_URL_NONE, _MQTT or _WS (ws:// and wss://) */
    char *ws_url;            /* with -L ws(s)://: what mqttc_connect_url dials (cli_check) */
    /* mqttc-pub */
    const char *topic;     /* -t */
    int msg_mode;          /* CLI_MSG_* */
    const char *message;   /* -m, or -f's file name */
    int retain;            /* -r */
    long repeat;           /* --repeat; default 1 */
    double repeat_delay_s; /* --repeat-delay */
    /* mqttc-sub */
    const char **filters; /* -t, repeatable */
    unsigned char *sub_options; /* MQTT 5: each filter's options byte (QoS and MQTTC_SUB_* bits) */
    int filter_count;
    const char **unsubscribes; /* -U, repeatable */
    int unsubscribe_count;
    long count;               /* -C; 0: no limit */
    long timeout_s;           /* -W; 0: none */
    int verbose, no_eol;      /* -v, -N */
    int no_retained;          /* -R */
    int exit_after_subscribe; /* -E */
    char *url;                /* -L, copied and split in place */
    const char *format;       /* -F; NULL: payload (or -v) */
    int pretty;               /* --pretty: %j over several lines */
    int retain_as_published;  /* --retain-as-published (MQTT 5) */
    /* MQTT 5 */
    int protocol_version;          /* -V, or 5 once -D is given; MQTTC_PROTOCOL_311 by default */
    int has_session_expiry;        /* -x or -D connect session-expiry-interval given */
    int is_expiry_from_x;          /* ... by -x (which 3.1.1 ignores) */
    uint32_t session_expiry_s;     /* ... its value */
    unsigned receive_max;          /* -D connect receive-maximum: options.max_inflight_in */
    uint32_t max_packet_size;      /* -D connect maximum-packet-size: options.max_packet_size */
    unsigned topic_alias_max;      /* -D connect topic-alias-maximum: options.topic_alias_in */
    unsigned topic_alias_out;      /* -D publish topic-alias: options.topic_alias_out */
    uint32_t subscription_id;      /* -D subscribe subscription-identifier: what %S prints */
    cli_props props[CLI_PACKETS];  /* the rest of -D, per packet */
} cli_config;

/* ---- errors, in mosquitto's words ---- */

static void cli_error(const cli_config *cfg, const char *fmt, const char *arg) {
    if (cfg->quiet) return;
    fprintf(stderr, "Error: ");
    fprintf(stderr, fmt, arg);
    fprintf(stderr, "\n");
}

/* An error in the command line: exit code 1, as mosquitto's tools. Where mosquitto's
   message ends with its own newline, so does fmt (two empty lines before "Use"). */
static int cli_usage_error(const cli_config *cfg, const char *fmt, const char *arg) {
    fprintf(stderr, "Error: ");
    fprintf(stderr, fmt, arg);
    fprintf(stderr, "\n\nUse '%s --help' to see usage.\n", cfg->name);
    return 1;
}

/* The same for mosquitto's messages that do not start with "Error: ". */
static int cli_usage_line(const cli_config *cfg, const char *line) {
    fprintf(stderr, "%s\n\nUse '%s --help' to see usage.\n", line, cfg->name);
    return 1;
}

/* MQTT 5 reason codes [MQTT-2.4] in mosquitto's sentences (libmosquitto's
   mosquitto_reason_string), for the messages its tools print; mqttc_reason_name has the
   library's short names. */
static const char *cli_reason_sentence(int code) {
    static const struct {
        int code;
        const char *text;
    } sentences[] = {
        {0x00, "Success"}, {0x01, "Granted QoS 1"}, {0x02, "Granted QoS 2"},
        {0x04, "Disconnect with Will Message"}, {0x10, "No matching subscribers"},
        {0x11, "No subscription existed"}, {0x18, "Continue authentication"}, {0x19, "Re-authenticate"},
        {0x80, "Unspecified error"}, {0x81, "Malformed Packet"}, {0x82, "Protocol Error"},
        {0x83, "Implementation specific error"}, {0x84, "Unsupported Protocol Version"},
        {0x85, "Client Identifier not valid"}, {0x86, "Bad User Name or Password"}, {0x87, "Not authorized"},
        {0x88, "Server unavailable"}, {0x89, "Server busy"}, {0x8A, "Banned"}, {0x8B, "Server shutting down"},
        {0x8C, "Bad authentication method"}, {0x8D, "Keep Alive timeout"}, {0x8E, "Session taken over"},
        {0x8F, "Topic Filter invalid"}, {0x90, "Topic Name invalid"}, {0x91, "Packet Identifier in use"},
        {0x92, "Packet Identifier not found"}, {0x93, "Receive Maximum exceeded"}, {0x94, "Topic Alias invalid"},
        {0x95, "Packet too large"}, {0x96, "Message rate too high"}, {0x97, "Quota exceeded"},
        {0x98, "Administrative action"}, {0x99, "Payload format invalid"}, {0x9A, "Retain not supported"},
        {0x9B, "QoS not supported"}, {0x9C, "Use another server"}, {0x9D, "Server moved"},
        {0x9E, "Shared Subscriptions not supported"}, {0x9F, "Connection rate exceeded"},
        {0xA0, "Maximum connect time"}, {0xA1, "Subscription identifiers not supported"},
        {0xA2, "Wildcard Subscriptions not supported"}};
    for (size_t i = 0; i < sizeof sentences / sizeof sentences[0]; i++)
        if (sentences[i].code == code) return sentences[i].text;
    return "Unknown reason";
}

/* Which connect a refusal answered: the first; a later one (staying connected); a later one
   after which mosquitto_pub -l read no line, so it says no last word (mqttc_pub.c, read_on). */
enum { CLI_REFUSED_FIRST, CLI_REFUSED_LATER, CLI_REFUSED_LATER_QUIET };

/* mosquitto_pub's last line after a refusal: on the first connect its words depend on the
   version; on a reconnect (-l) it is libmosquitto's MOSQ_ERR_CONN_REFUSED in both. */
static void cli_refused_pub_line(const cli_config *cfg, int when) {
    if (cfg->quiet || cfg->tool != CLI_PUB || when == CLI_REFUSED_LATER_QUIET) return;
    if (cfg->protocol_version == MQTTC_PROTOCOL_5 && when == CLI_REFUSED_FIRST)
        fprintf(stderr, "Error: A network protocol error occurred when communicating with the broker.\n");
    else fprintf(stderr, "Error: The connection was refused.\n");
}

/* An MQTT 5 CONNACK refusal, as mosquitto's tools say it: the reason's sentence; for 0x84,
   a broker that does not take MQTT 5 [MQTT-3.1.2-2], a hint. */
static void cli_refused_v5(const cli_config *cfg, int code) {
    if (cfg->quiet) return;
    if (code == MQTTC_RC_UNSUPPORTED_PROTOCOL_VERSION)
        fprintf(stderr, "Connection error: %s. Try connecting to an MQTT v5 broker, or use MQTT v3.x mode.\n",
                cli_reason_sentence(MQTTC_RC_UNSUPPORTED_PROTOCOL_VERSION));
    else fprintf(stderr, "Connection error: %s\n", cli_reason_sentence(code));
}

/* A connect that a transport stage ended (mqttc.h section 8): the error's short name, the
   proxy's reply code, and what the stage found (mqttc_error_detail), e.g.
     Error: Unable to connect [proxy, reply 5]: socks5: connection refused.
   Through a proxy, TCP and name errors are the proxy's (to reach the broker is the proxy's
   job, which it reports as "proxy"). Returns 0 when it is none of these. */
static int cli_transport_failed(const cli_config *cfg, const mqttc_client *c, int err) {
    const char *detail = mqttc_error_detail(c);
    int is_stage = err == MQTTC_ERR_PROXY || err == MQTTC_ERR_PROXYAUTH || err == MQTTC_ERR_WSHANDSHAKE ||
                   err == MQTTC_ERR_WEBSOCKET;
    if (!is_stage && !(cfg->proxy && (err == MQTTC_ERR_CANNOTCONNECT || err == MQTTC_ERR_CANNOTRESOLVE)))
        return 0;
    if (cfg->quiet) return 1;
    if (!is_stage) { /* TCP to the proxy itself (the broker is the proxy's to reach) */
        const char *why = err == MQTTC_ERR_CANNOTRESOLVE ? "cannot resolve its host name"
                                                         : "connection refused or host unreachable";
        fprintf(stderr, "Error: Unable to connect to the proxy [%s]: %s.\n", mqttc_errname(err),
                detail && detail[0] ? detail : why);
        return 1;
    }
    fprintf(stderr, "Error: Unable to connect [%s", mqttc_errname(err));
    if ((err == MQTTC_ERR_PROXY || err == MQTTC_ERR_PROXYAUTH) && mqttc_reason_code(c) > 0)
        fprintf(stderr, ", reply %d", mqttc_reason_code(c));
    fprintf(stderr, "]: %s.\n", detail && detail[0] ? detail : mqttc_strerror(err));
    return 1;
}

/* Says why a connect (when: CLI_REFUSED_*, the first or a later one) failed; returns the exit
   code. A CONNACK refusal (MQTTC_ERR_REFUSED) exits with its return code [MQTT-3.2.2-5] (in
   MQTT 5 its reason code, section 3.2.2.2), in mosquitto's words. */
static int cli_connect_failed_as(const cli_config *cfg, const mqttc_client *c, int err, int when) {
    static const char *const refusals[] = {"unacceptable protocol version", "identifier rejected",
                                           "broker unavailable", "bad user name or password",
                                           "not authorised"};
    int code = mqttc_reason_code(c);
    if (err == MQTTC_ERR_REFUSED && cfg->protocol_version == MQTTC_PROTOCOL_5 && code > 0) {
        cli_refused_v5(cfg, code);
        cli_refused_pub_line(cfg, when);
        return code;
    }
    if (err == MQTTC_ERR_REFUSED && code >= 1 && code <= 5) {
        if (!cfg->quiet) fprintf(stderr, "Connection error: Connection Refused: %s.\n", refusals[code - 1]);
        cli_refused_pub_line(cfg, when);
        return code;
    }
    if (cli_transport_failed(cfg, c, err)) return 1;
    if (err == MQTTC_ERR_CANNOTRESOLVE)
        cli_error(cfg, "Unable to connect: cannot resolve the host name '%s'.", cfg->host);
    else if (err == MQTTC_ERR_CANNOTCONNECT)
        cli_error(cfg, "Unable to connect to '%s': connection refused or host unreachable.", cfg->host);
    else cli_error(cfg, "Unable to connect: %s.", mqttc_strerror(err));
    return 1;
}

static int cli_connect_failed(const cli_config *cfg, const mqttc_client *c, int err) {
    return cli_connect_failed_as(cfg, c, err, CLI_REFUSED_FIRST);
}

/* ---- option parsing ---- */

static int cli_number(const char *s, long lo, long hi, long *out) {
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < lo || v > hi) return 0;
    *out = v;
    return 1;
}

static int cli_set_mode(cli_config *cfg, int mode, const char *message) {
    if (cfg->msg_mode != CLI_MSG_NONE)
        return cli_usage_error(cfg, "Only one type of message can be sent at once.", NULL);
    cfg->msg_mode = mode;
    cfg->message = message;
    return 0;
}

static int cli_takes_value(const char *opt) {
    static const char with_value[] = " -h -p -i -k -u -P -q -L -t -m -f -U -C -W --will-topic --will-payload"
                                     " --will-qos --repeat --repeat-delay --cafile --capath --cert --key"
                                     " -V --protocol-version -x -F --proxy --ws-path --store ";
    char key[32];
    if (strlen(opt) + 3 > sizeof key) return 0;
    snprintf(key, sizeof key, " %s ", opt);
    return strstr(with_value, key) != NULL;
}

static int cli_parse_url(cli_config *cfg, const char *url);
static int cli_is_tls(const cli_config *cfg) { return cfg->cafile || cfg->capath || cfg->is_tls_url; }

/* --proxy: mosquitto's socks5h:// (the proxy resolves the broker's name), and ours: socks5://
   (the name is resolved here) and http:// (HTTP CONNECT). The rest is the library's to read. */
static int cli_parse_proxy(cli_config *cfg, const char *val) {
    if (strncmp(val, "socks5h://", 10) && strncmp(val, "socks5://", 9) && strncmp(val, "http://", 7))
        return cli_usage_error(cfg, "Unsupported proxy protocol: %s", val);
    cfg->proxy = val;
    return 0;
}

/* ---- MQTT 5: -V, -x and -D ---- */

/* The packets' names in mosquitto's messages, and as -D commands. */
static const char *const cli_packet_names[CLI_PACKETS] = {"CONNECT", "PUBLISH", "SUBSCRIBE", "UNSUBSCRIBE",
                                                          "DISCONNECT", "Will"};
static const char *const cli_packet_words[CLI_PACKETS] = {"connect", "publish", "subscribe", "unsubscribe",
                                                          "disconnect", "will"};

/* -V, with mosquitto's names for the versions. MQTT 3.1 ("31", "mqttv31") is refused: the
   library speaks 3.1.1 and 5 only. */
static int cli_parse_version(cli_config *cfg, const char *val) {
    if (!strcmp(val, "5") || !strcmp(val, "mqttv5")) cfg->protocol_version = MQTTC_PROTOCOL_5;
    else if (!strcmp(val, "311") || !strcmp(val, "mqttv311")) cfg->protocol_version = MQTTC_PROTOCOL_311;
    else if (!strcmp(val, "31") || !strcmp(val, "mqttv31"))
        return cli_usage_error(cfg, "MQTT v3.1 (-V %s) is not supported: use -V 311 or -V 5.", val);
    else return cli_usage_error(cfg, "Invalid protocol version argument given.\n", NULL);
    return 0;
}

/* Marks property `id` as given for `packet`; a second one (but a user property) is
   mosquitto's duplicate error: a property may appear once [MQTT-2.2.2.2]. */
static int cli_mark_property(cli_config *cfg, int packet, int id) {
    uint64_t bit = (uint64_t)1 << id;
    char line[96];
    if (id != MQTTC_PROP_USER && (cfg->props[packet].seen & bit)) {
        snprintf(line, sizeof line, "Error in %s properties: Duplicate property in property list",
                 cli_packet_names[packet]);
        return cli_usage_line(cfg, line);
    }
    cfg->props[packet].seen |= bit;
    return 0;
}

/* -x: 0..4294967295 seconds, or -1 (or "∞") for a session that never ends. */
static int cli_parse_expiry(cli_config *cfg, const char *val) {
    long long v = -1;
    char *end;
    if (strcmp(val, "\xE2\x88\x9E")) { /* ∞ */
        errno = 0;
        v = strtoll(val, &end, 10);
        if (end == val || *end) return cli_usage_error(cfg, "session-expiry-interval not a number.\n", NULL);
    }
    if (v < -1 || v > (long long)CLI_EXPIRY_NEVER)
        return cli_usage_error(cfg, "session-expiry-interval out of range.\n", NULL);
    if (cli_mark_property(cfg, CLI_CONNECT, MQTTC_PROP_SESSION_EXPIRY)) return 1;
    cfg->has_session_expiry = cfg->is_expiry_from_x = 1;
    cfg->session_expiry_s = v < 0 ? CLI_EXPIRY_NEVER : (uint32_t)v;
    return 0;
}

/* The value types of properties, numbered as mosquitto numbers them (its "Error adding
   property" message shows the number). */
enum { CLI_BYTE = 1, CLI_INT16, CLI_INT32, CLI_VARINT, CLI_BINARY, CLI_STRING, CLI_PAIR };
#define CLI_IN(type) (1u << (type)) /* a packet type (MQTTC_CONNECT ...), or the will (0) */
#define CLI_WILL_OR_PUBLISH (CLI_IN(MQTTC_PROPS_WILL) | CLI_IN(MQTTC_PUBLISH))
#define CLI_ACKS (CLI_IN(MQTTC_PUBACK) | CLI_IN(MQTTC_PUBREC) | CLI_IN(MQTTC_PUBREL) | CLI_IN(MQTTC_PUBCOMP))

typedef struct cli_property {
    const char *name; /* mosquitto's: the spec's name with '-' between words */
    int id, type;
    unsigned allowed; /* CLI_IN bits: where the spec allows it [MQTT-2.2.2.2] */
} cli_property;

static const cli_property cli_properties[] = {
    {"payload-format-indicator", MQTTC_PROP_PAYLOAD_FORMAT, CLI_BYTE, CLI_WILL_OR_PUBLISH},
    {"message-expiry-interval", MQTTC_PROP_MESSAGE_EXPIRY, CLI_INT32, CLI_WILL_OR_PUBLISH},
    {"content-type", MQTTC_PROP_CONTENT_TYPE, CLI_STRING, CLI_WILL_OR_PUBLISH},
    {"response-topic", MQTTC_PROP_RESPONSE_TOPIC, CLI_STRING, CLI_WILL_OR_PUBLISH},
    {"correlation-data", MQTTC_PROP_CORRELATION_DATA, CLI_BINARY, CLI_WILL_OR_PUBLISH},
    {"subscription-identifier", MQTTC_PROP_SUBSCRIPTION_ID, CLI_VARINT, CLI_IN(MQTTC_PUBLISH) | CLI_IN(MQTTC_SUBSCRIBE)},
    {"session-expiry-interval", MQTTC_PROP_SESSION_EXPIRY, CLI_INT32,
     CLI_IN(MQTTC_CONNECT) | CLI_IN(MQTTC_CONNACK) | CLI_IN(MQTTC_DISCONNECT)},
    {"assigned-client-identifier", MQTTC_PROP_ASSIGNED_CLIENT_ID, CLI_STRING, CLI_IN(MQTTC_CONNACK)},
    {"server-keep-alive", MQTTC_PROP_SERVER_KEEP_ALIVE, CLI_INT16, CLI_IN(MQTTC_CONNACK)},
    {"authentication-method", MQTTC_PROP_AUTH_METHOD, CLI_STRING,
     CLI_IN(MQTTC_CONNECT) | CLI_IN(MQTTC_CONNACK) | CLI_IN(MQTTC_AUTH)},
    {"authentication-data", MQTTC_PROP_AUTH_DATA, CLI_BINARY,
     CLI_IN(MQTTC_CONNECT) | CLI_IN(MQTTC_CONNACK) | CLI_IN(MQTTC_AUTH)},
    {"request-problem-information", MQTTC_PROP_REQUEST_PROBLEM_INFO, CLI_BYTE, CLI_IN(MQTTC_CONNECT)},
    {"will-delay-interval", MQTTC_PROP_WILL_DELAY, CLI_INT32, CLI_IN(MQTTC_PROPS_WILL)},
    {"request-response-information", MQTTC_PROP_REQUEST_RESPONSE_INFO, CLI_BYTE, CLI_IN(MQTTC_CONNECT)},
    {"response-information", MQTTC_PROP_RESPONSE_INFO, CLI_STRING, CLI_IN(MQTTC_CONNACK)},
    {"server-reference", MQTTC_PROP_SERVER_REFERENCE, CLI_STRING, CLI_IN(MQTTC_CONNACK) | CLI_IN(MQTTC_DISCONNECT)},
    {"reason-string", MQTTC_PROP_REASON_STRING, CLI_STRING,
     CLI_IN(MQTTC_CONNACK) | CLI_ACKS | CLI_IN(MQTTC_SUBACK) | CLI_IN(MQTTC_UNSUBACK) | CLI_IN(MQTTC_DISCONNECT) |
         CLI_IN(MQTTC_AUTH)},
    {"receive-maximum", MQTTC_PROP_RECEIVE_MAX, CLI_INT16, CLI_IN(MQTTC_CONNECT) | CLI_IN(MQTTC_CONNACK)},
    {"topic-alias-maximum", MQTTC_PROP_TOPIC_ALIAS_MAX, CLI_INT16, CLI_IN(MQTTC_CONNECT) | CLI_IN(MQTTC_CONNACK)},
    {"topic-alias", MQTTC_PROP_TOPIC_ALIAS, CLI_INT16, CLI_IN(MQTTC_PUBLISH)},
    {"maximum-qos", MQTTC_PROP_MAX_QOS, CLI_BYTE, CLI_IN(MQTTC_CONNACK)},
    {"retain-available", MQTTC_PROP_RETAIN_AVAILABLE, CLI_BYTE, CLI_IN(MQTTC_CONNACK)},
    {"user-property", MQTTC_PROP_USER, CLI_PAIR, ~0u},
    {"maximum-packet-size", MQTTC_PROP_MAX_PACKET_SIZE, CLI_INT32, CLI_IN(MQTTC_CONNECT) | CLI_IN(MQTTC_CONNACK)},
    {"wildcard-subscription-available", MQTTC_PROP_WILDCARD_SUB_AVAILABLE, CLI_BYTE, CLI_IN(MQTTC_CONNACK)},
    {"subscription-identifier-available", MQTTC_PROP_SUB_ID_AVAILABLE, CLI_BYTE, CLI_IN(MQTTC_CONNACK)},
    {"shared-subscription-available", MQTTC_PROP_SHARED_SUB_AVAILABLE, CLI_BYTE, CLI_IN(MQTTC_CONNACK)}};

/* The commands of -D, by mosquitto's names: the packet type (MQTTC_PROPS_WILL for the
   will) and where the tools keep its properties, -1 for packets they send none with. */
typedef struct cli_command {
    const char *name;
    int type, packet;
} cli_command;

static const cli_command cli_commands[] = {
    {"connect", MQTTC_CONNECT, CLI_CONNECT},     {"publish", MQTTC_PUBLISH, CLI_PUBLISH},
    {"puback", MQTTC_PUBACK, -1},                {"pubrec", MQTTC_PUBREC, -1},
    {"pubrel", MQTTC_PUBREL, -1},                {"pubcomp", MQTTC_PUBCOMP, -1},
    {"subscribe", MQTTC_SUBSCRIBE, CLI_SUBSCRIBE}, {"unsubscribe", MQTTC_UNSUBSCRIBE, CLI_UNSUBSCRIBE},
    {"disconnect", MQTTC_DISCONNECT, CLI_DISCONNECT}, {"auth", MQTTC_AUTH, -1},
    {"will", MQTTC_PROPS_WILL, CLI_WILL}};

/* mosquitto's message for a value that breaks the spec's rules: a 0 the spec calls a
   Protocol Error (Receive Maximum and Maximum Packet Size, MQTT 5 section 3.1.2.11; a Topic
   Alias [MQTT-3.3.2-8]), a request flag other than 0 or 1 (3.1.2.11.6 and .7). A
   Subscription Identifier 0 (3.8.2.1.2) is refused here too: mosquitto_sub sends it and
   the broker ends the connection. */
static int cli_property_protocol_error(const cli_config *cfg, int packet) {
    char line[160];
    snprintf(line, sizeof line,
             "Error in %s properties: A network protocol error occurred when communicating with the broker.",
             cli_packet_names[packet]);
    return cli_usage_line(cfg, line);
}

static int cli_is_protocol_error(int id, uint32_t v) {
    switch (id) {
    case MQTTC_PROP_REQUEST_PROBLEM_INFO:
    case MQTTC_PROP_REQUEST_RESPONSE_INFO: return v > 1;
    case MQTTC_PROP_RECEIVE_MAX:
    case MQTTC_PROP_MAX_PACKET_SIZE:
    case MQTTC_PROP_TOPIC_ALIAS:
    case MQTTC_PROP_SUBSCRIPTION_ID: return v == 0;
    default: return 0;
    }
}

/* A number as mosquitto's tools read it: the leading digits ("abc" is 0, "10s" is 10),
   within the type's range, else its out-of-range message (with the name as typed). */
static int cli_property_number(const cli_config *cfg, const cli_property *p, const char *name, const char *val,
                               uint32_t *out) {
    static const uint32_t max[] = {0, 0xFF, 0xFFFF, 0xFFFFFFFFu, 0xFFFFFFFFu};
    long long v = strtoll(val, NULL, 10);
    char line[192];
    if (v < 0 || v > (long long)max[p->type]) {
        snprintf(line, sizeof line, "Property value (%lld) out of range for property %s.\n", v, name);
        return cli_usage_error(cfg, "%s", line);
    }
    if (p->type == CLI_VARINT && v > 268435455) { /* a variable byte integer's largest [MQTT-1.5.5] */
        snprintf(line, sizeof line, "Error adding property %s %d", name, CLI_VARINT);
        return cli_usage_line(cfg, line);
    }
    *out = (uint32_t)v;
    return 0;
}

/* A string, binary data or a string pair: at most 65535 bytes [MQTT-1.5.4], and strings
   well-formed UTF-8 [MQTT-1.5.4-1] (binary data is taken as it is typed). */
static int cli_property_text(const cli_config *cfg, const cli_property *p, const char *name, const char *s) {
    char line[192];
    if (strlen(s) > 65535) return cli_usage_error(cfg, "Property value too long for property %s.\n", name);
    if (p->type != CLI_BINARY && mqttc_utf8_check(s, strlen(s)) != MQTTC_OK) {
        snprintf(line, sizeof line, "Error adding property %s %d", name, p->type);
        return cli_usage_line(cfg, line);
    }
    return 0;
}

/* The properties the library owns go to their options fields (cli_options): 1 if this is
   one of them. The subscription identifier is the library's too (one per handler, so that
   it can tell which subscriptions a message matched): the one given is only what %S and
   %j show, as mosquitto_sub shows the one it sent. */
static int cli_keep_owned(cli_config *cfg, int packet, int id, uint32_t n) {
    if (packet == CLI_CONNECT && id == MQTTC_PROP_SESSION_EXPIRY) {
        cfg->has_session_expiry = 1;
        cfg->session_expiry_s = n;
    } else if (packet == CLI_CONNECT && id == MQTTC_PROP_RECEIVE_MAX) cfg->receive_max = n;
    else if (packet == CLI_CONNECT && id == MQTTC_PROP_MAX_PACKET_SIZE) cfg->max_packet_size = n;
    else if (packet == CLI_CONNECT && id == MQTTC_PROP_TOPIC_ALIAS_MAX) cfg->topic_alias_max = n;
    else if (packet == CLI_PUBLISH && id == MQTTC_PROP_TOPIC_ALIAS) cfg->topic_alias_out = n;
    else if (packet == CLI_SUBSCRIBE && id == MQTTC_PROP_SUBSCRIPTION_ID) cfg->subscription_id = n;
    else return 0;
    return 1;
}

/* Keeps a property: in its options field, or in the packet's list. */
static int cli_keep_property(cli_config *cfg, int packet, const cli_property *p, uint32_t n, const char *s,
                             const char *v) {
    cli_props *ps = &cfg->props[packet];
    int id = p->id;
    char line[96];
    if (cli_keep_owned(cfg, packet, id, n)) return 0;
    if (ps->count == CLI_PROPS_MAX) {
        snprintf(line, sizeof line, "Too many -D properties for %s (at most %d).", cli_packet_names[packet],
                 CLI_PROPS_MAX);
        return cli_usage_error(cfg, "%s", line);
    }
    if (p->type == CLI_PAIR) ps->list[ps->count++] = mqttc_prop_user(s, v);
    else if (p->type == CLI_STRING) ps->list[ps->count++] = mqttc_prop_str(id, s);
    else if (p->type == CLI_BINARY) ps->list[ps->count++] = mqttc_prop_bin(id, s, strlen(s));
    else ps->list[ps->count++] = mqttc_prop_int(id, n);
    return 0;
}

static const cli_command *cli_find_command(const char *name) {
    for (size_t i = 0; i < sizeof cli_commands / sizeof cli_commands[0]; i++)
        if (!strcasecmp(cli_commands[i].name, name)) return &cli_commands[i];
    return NULL;
}

static const cli_property *cli_find_property(const char *name) {
    for (size_t i = 0; i < sizeof cli_properties / sizeof cli_properties[0]; i++)
        if (!strcasecmp(cli_properties[i].name, name)) return &cli_properties[i];
    return NULL;
}

/* Whether this command may carry this property: the spec's rule first, then what the
   tools send (no acks, no AUTH; a PUBLISH's subscription identifier is the broker's). */
static int cli_check_command(const cli_config *cfg, const cli_command *cmd, const cli_property *p, char **argv) {
    char line[192];
    if (!(p->allowed & CLI_IN(cmd->type))) {
        snprintf(line, sizeof line, "%s property not allowed for %s in --property argument.\n", argv[1], argv[0]);
        return cli_usage_error(cfg, "%s", line);
    }
    if (cmd->packet < 0 || (cmd->type == MQTTC_PUBLISH && p->id == MQTTC_PROP_SUBSCRIPTION_ID)) {
        snprintf(line, sizeof line, "%s property not supported for %s in --property argument.\n", argv[1], argv[0]);
        return cli_usage_error(cfg, "%s", line);
    }
    return 0;
}

/* -D command identifier value (a user property: -D command user-property name value).
   argv holds the `left` words after -D; *used says how many were taken. Makes the client an
   MQTT 5 client, as mosquitto's tools do (a later -V may change that again). */
static int cli_parse_property(cli_config *cfg, char **argv, int left, int *used) {
    const cli_command *cmd;
    const cli_property *p;
    uint32_t n = 0;
    int rc;
    if (left < 3) return cli_usage_error(cfg, "--property argument given but not enough arguments specified.\n", NULL);
    if ((cmd = cli_find_command(argv[0])) == NULL)
        return cli_usage_error(cfg, "Invalid command given in --property argument.\n", NULL);
    if ((p = cli_find_property(argv[1])) == NULL)
        return cli_usage_error(cfg, "Invalid property name given in --property argument.\n", NULL);
    if ((rc = cli_check_command(cfg, cmd, p, argv)) != 0) return rc;
    if (p->type == CLI_PAIR && left < 4)
        return cli_usage_error(cfg, "--property argument given but not enough arguments specified.\n", NULL);
    *used = p->type == CLI_PAIR ? 4 : 3;
    if (p->type <= CLI_VARINT) rc = cli_property_number(cfg, p, argv[1], argv[2], &n);
    else rc = cli_property_text(cfg, p, argv[1], argv[2]);
    if (!rc && p->type == CLI_PAIR) rc = cli_property_text(cfg, p, argv[1], argv[3]);
    if (!rc && cli_is_protocol_error(p->id, n)) rc = cli_property_protocol_error(cfg, cmd->packet);
    if (!rc) rc = cli_mark_property(cfg, cmd->packet, p->id);
    if (!rc) rc = cli_keep_property(cfg, cmd->packet, p, n, argv[2], p->type == CLI_PAIR ? argv[3] : NULL);
    if (!rc) cfg->protocol_version = MQTTC_PROTOCOL_5;
    return rc;
}

/* The Session Expiry Interval sent: -x, or -D connect session-expiry-interval; else, as
   mosquitto's tools, never with -c (a 3.1.1 session without clean session does not end)
   and 0 without. */
static uint32_t cli_session_expiry(const cli_config *cfg) {
    if (cfg->has_session_expiry) return cfg->session_expiry_s;
    return cfg->no_clean_session ? CLI_EXPIRY_NEVER : 0;
}

static mqttc_props cli_props_of(const cli_config *cfg, int packet) {
    mqttc_props ps;
    memset(&ps, 0, sizeof ps);
    ps.list = cfg->props[packet].list;
    ps.count = cfg->props[packet].count;
    return ps;
}

/* -D with -V 311 after it. mosquitto's tools refuse connect and will properties with these
   messages; the others they drop without a word (mosquitto_pub then publishes nothing and
   exits 0), which mqttc refuses instead. -x is ignored in 3.1.1, as by mosquitto. */
static int cli_check_311_properties(const cli_config *cfg) {
    uint64_t connect = cfg->props[CLI_CONNECT].seen;
    if (cfg->is_expiry_from_x) connect &= ~((uint64_t)1 << MQTTC_PROP_SESSION_EXPIRY);
    if (connect) {
        fprintf(stderr, "Unable to connect (This feature is not supported.).\n");
        return 1;
    }
    if (cfg->props[CLI_WILL].seen && cfg->will_topic) {
        fprintf(stderr, "Error: Problem setting will.\n");
        return 1;
    }
    for (int packet = CLI_PUBLISH; packet <= CLI_DISCONNECT; packet++)
        if (cfg->props[packet].seen)
            return cli_usage_error(cfg, "-D %s properties need MQTT v5: give -V 5 (or no -V 311).",
                                   cli_packet_words[packet]);
    return 0;
}

/* MQTT 5's rules between options: a session that never ends needs a client id to find it
   again, and a kept session one at all (an empty id gets a new session). */
static int cli_check_v5(const cli_config *cfg) {
    if (cfg->protocol_version != MQTTC_PROTOCOL_5) return cli_check_311_properties(cfg);
    if (!cfg->id && cli_session_expiry(cfg) == CLI_EXPIRY_NEVER)
        return cli_usage_error(cfg, "You must provide a client id if you are using an infinite session expiry "
                                    "interval.", NULL);
    if (!cfg->id && cfg->no_clean_session) {
        fprintf(stderr, "Error: Invalid id.\n");
        return 1;
    }
    return 0;
}

/* Options of both tools. Returns 0, an exit code, or -1 when the option is not one of them. */
static int cli_parse_common(cli_config *cfg, const char *opt, const char *val) {
    long n;
    if (!strcmp(opt, "-h")) cfg->host = val;
    else if (!strcmp(opt, "-p")) {
        if (!cli_number(val, 1, 65535, &n)) return cli_usage_error(cfg, "Invalid port given: %s", val);
        cfg->port = (int)n;
    } else if (!strcmp(opt, "-i")) cfg->id = val;
    else if (!strcmp(opt, "-k")) {
        if (!cli_number(val, 0, 65535, &n))
            return cli_usage_error(cfg, "Invalid keepalive given: %s (0 to 65535; 0 disables it).", val);
        cfg->keepalive_s = n;
    } else if (!strcmp(opt, "-u")) cfg->user = val;
    else if (!strcmp(opt, "-P")) cfg->pass = val;
    else if (!strcmp(opt, "-q")) {
        if (!cli_number(val, 0, 2, &n)) return cli_usage_error(cfg, "Invalid QoS given: %s", val);
        cfg->qos = (int)n;
    } else if (!strcmp(opt, "-L")) return cli_parse_url(cfg, val);
    else if (!strcmp(opt, "--will-topic")) {
        if (mqttc_topic_check(val, strlen(val)) != MQTTC_OK)
            return cli_usage_error(cfg, "Invalid will topic '%s', does it contain '+' or '#'?", val);
        cfg->will_topic = val;
    } else if (!strcmp(opt, "--will-payload")) cfg->will_payload = val;
    else if (!strcmp(opt, "--will-qos")) {
        if (!cli_number(val, 0, 2, &n)) return cli_usage_error(cfg, "Invalid will QoS %s.", val);
        cfg->will_qos = (int)n;
    } else if (!strcmp(opt, "--cafile")) cfg->cafile = val;
    else if (!strcmp(opt, "--capath")) cfg->capath = val;
    else if (!strcmp(opt, "--cert")) cfg->cert = val;
    else if (!strcmp(opt, "--key")) cfg->key = val;
    else if (!strcmp(opt, "-V") || !strcmp(opt, "--protocol-version")) return cli_parse_version(cfg, val);
    else if (!strcmp(opt, "-x")) return cli_parse_expiry(cfg, val);
    else if (!strcmp(opt, "-c")) cfg->no_clean_session = 1;
    else if (!strcmp(opt, "-d")) cfg->debug = 1;
    else if (!strcmp(opt, "--quiet")) cfg->quiet = 1;
    else if (!strcmp(opt, "--will-retain")) cfg->will_retain = 1;
    else if (!strcmp(opt, "--insecure")) cfg->insecure = 1;
    else if (!strcmp(opt, "--proxy")) return cli_parse_proxy(cfg, val);
    else if (!strcmp(opt, "--ws-path")) {
        if (val[0] != '/') return cli_usage_error(cfg, "Invalid --ws-path '%s': it must start with '/'.", val);
        cfg->ws_path = val;
    } else return -1;
    return 0;
}

static int cli_parse_pub(cli_config *cfg, const char *opt, const char *val) {
    if (!strcmp(opt, "-t")) {
        if (mqttc_topic_check(val, strlen(val)) != MQTTC_OK)
            return cli_usage_error(cfg, "Invalid publish topic '%s', does it contain '+' or '#'?", val);
        cfg->topic = val;
        return 0;
    }
    if (!strcmp(opt, "-m")) return cli_set_mode(cfg, CLI_MSG_ARG, val);
    if (!strcmp(opt, "-f")) return cli_set_mode(cfg, CLI_MSG_FILE, val);
    if (!strcmp(opt, "--repeat")) {
        if (!cli_number(val, 1, 0x7fffffffL, &cfg->repeat))
            return cli_usage_error(cfg, "--repeat argument must be >0.", NULL);
        return 0;
    }
    if (!strcmp(opt, "--repeat-delay")) {
        char *end;
        cfg->repeat_delay_s = strtod(val, &end);
        if (end == val || *end || !(cfg->repeat_delay_s >= 0))
            return cli_usage_error(cfg, "--repeat-delay argument must be >=0.0.", NULL);
        return 0;
    }
    if (!strcmp(opt, "--store")) { /* ours: QoS 1/2 messages kept across a crash */
        cfg->store_dir = val;
        return 0;
    }
    if (!strcmp(opt, "-l")) return cli_set_mode(cfg, CLI_MSG_LINES, NULL);
    if (!strcmp(opt, "-n")) return cli_set_mode(cfg, CLI_MSG_EMPTY, NULL);
    if (!strcmp(opt, "-s")) return cli_set_mode(cfg, CLI_MSG_STDIN, NULL);
    if (!strcmp(opt, "-r")) cfg->retain = 1;
    else return -1;
    return 0;
}

static int cli_parse_sub(cli_config *cfg, const char *opt, const char *val) {
    if (!strcmp(opt, "-t") || !strcmp(opt, "-U")) {
        if (mqttc_filter_check(val, strlen(val)) != MQTTC_OK)
            return cli_usage_error(cfg, "Invalid subscription topic '%s', are all '+' and '#' "
                                        "wildcards correct?", val);
        if (opt[1] == 't') cfg->filters[cfg->filter_count++] = val;
        else cfg->unsubscribes[cfg->unsubscribe_count++] = val;
        return 0;
    }
    if (!strcmp(opt, "-C")) {
        if (!cli_number(val, 1, 0x7fffffffL, &cfg->count))
            return cli_usage_error(cfg, "Invalid message count \"%s\".", val);
        return 0;
    }
    if (!strcmp(opt, "-W")) {
        if (!cli_number(val, 1, 0x7fffffffL, &cfg->timeout_s))
            return cli_usage_error(cfg, "Invalid timeout \"%s\".", val);
        return 0;
    }
    if (!strcmp(opt, "-F")) cfg->format = val;
    else if (!strcmp(opt, "-v")) cfg->verbose = 1;
    else if (!strcmp(opt, "--pretty")) cfg->pretty = 1;
    else if (!strcmp(opt, "--retain-as-published")) cfg->retain_as_published = 1;
    else if (!strcmp(opt, "-N")) cfg->no_eol = 1;
    else if (!strcmp(opt, "-R")) cfg->no_retained = 1;
    else if (!strcmp(opt, "-E")) cfg->exit_after_subscribe = 1;
    else return -1;
    return 0;
}

/* -L's scheme: mqtt://, mqtts:// (TLS), ws:// and wss:// (MQTT over WebSocket; TLS); the
   rest of the URL after it, or NULL. */
static const char *cli_url_scheme(cli_config *cfg, const char *url) {
    static const struct {
        const char *prefix;
        int kind, is_tls;
    } schemes[] = {{"mqtt://", CLI_URL_MQTT, 0}, {"mqtts://", CLI_URL_MQTT, 1},
                   {"ws://", CLI_URL_WS, 0}, {"wss://", CLI_URL_WS, 1}};
    for (size_t i = 0; i < sizeof schemes / sizeof schemes[0]; i++) {
        size_t n = strlen(schemes[i].prefix);
        if (strncmp(url, schemes[i].prefix, n)) continue;
        cfg->url_scheme = schemes[i].kind;
        cfg->is_tls_url = schemes[i].is_tls;
        return url + n;
    }
    return NULL;
}

/* host[:port] of -L, in place: an IPv6 literal in brackets ([::1]:1883) loses them. */
static int cli_url_host(cli_config *cfg, char *host) {
    char *colon = strrchr(host, ':');
    long port;
    if (host[0] == '[') {
        char *close = strchr(host, ']');
        if (!close || (close[1] && close[1] != ':'))
            return cli_usage_error(cfg, "Invalid URL for -L argument specified - bad IPv6 address.", NULL);
        *close = '\0';
        colon = close[1] ? close + 1 : NULL;
        host++;
    }
    if (colon) {
        *colon = '\0';
        if (!cli_number(colon + 1, 1, 65535, &port)) return cli_usage_error(cfg, "Invalid port given: %s", colon + 1);
        cfg->port = (int)port;
    }
    cfg->host = host;
    return 0;
}

/* -L {mqtt,mqtts,ws,wss}://[user[:pass]@]host[:port]/topic. For ws:// and wss:// the path is
   the topic too, as for mqtt://: the WebSocket request path is --ws-path's ("/mqtt"). */
static int cli_parse_url(cli_config *cfg, const char *url) {
    const char *rest = cli_url_scheme(cfg, url);
    int rc;
    if (!rest) return cli_usage_error(cfg, "unsupported URL scheme.", NULL);
    free(cfg->url);
    if ((cfg->url = strdup(rest)) == NULL) return 1;
    char *host = cfg->url, *slash = strchr(host, '/'), *at, *colon;
    if (!slash || !slash[1])
        return cli_usage_error(cfg, "Invalid URL for -L argument specified - topic missing.", NULL);
    *slash = '\0';
    if ((at = strrchr(host, '@')) != NULL) {
        *at = '\0';
        cfg->user = host;
        if ((colon = strchr(host, ':')) != NULL) {
            *colon = '\0';
            cfg->pass = colon + 1;
        }
        host = at + 1;
    }
    if ((rc = cli_url_host(cfg, host)) != 0) return rc;
    return cfg->tool == CLI_PUB ? cli_parse_pub(cfg, "-t", slash + 1) : cli_parse_sub(cfg, "-t", slash + 1);
}

/* With -L ws:// or wss://: the URL mqttc_connect_url dials, from the options as they stand
   once all are read (-h and -p after -L win, as for mqtt://). The user and password are not
   in it: they go in options (cli_options). Kept until cli_free: a reconnect dials it again. */
static int cli_make_ws_url(cli_config *cfg) {
    const char *path = cfg->ws_path ? cfg->ws_path : "/mqtt";
    int is_v6 = strchr(cfg->host, ':') != NULL;
    size_t cap = strlen(cfg->host) + strlen(path) + 32;
    if (cfg->url_scheme != CLI_URL_WS) return 0;
    free(cfg->ws_url);
    if ((cfg->ws_url = (char *)malloc(cap)) == NULL) return 1;
    int n = snprintf(cfg->ws_url, cap, "%s://%s%s%s", cli_is_tls(cfg) ? "wss" : "ws", is_v6 ? "[" : "",
                     cfg->host, is_v6 ? "]" : "");
    if (cfg->port) n += snprintf(cfg->ws_url + n, cap - (size_t)n, ":%d", cfg->port);
    snprintf(cfg->ws_url + n, cap - (size_t)n, "%s", path);
    return 0;
}


/* TLS options hang together as in mosquitto_pub: certificate and key come as a pair, and
   they (and --insecure) modify a TLS connection that --cafile or --capath asks for. */
static int cli_check_tls(const cli_config *cfg) {
    int any = cli_is_tls(cfg) || cfg->cert || cfg->key || cfg->insecure;
#ifndef MQTTC_WITH_OPENSSL
    if (any) return cli_usage_error(cfg, "TLS is not available: %s was built without OpenSSL.", cfg->name);
#endif
    if (!any) return 0;
    if (!cfg->cert != !cfg->key)
        return cli_usage_error(cfg, "Both certfile and keyfile must be provided if one of them is set.", NULL);
    if (!cli_is_tls(cfg))
        return cli_usage_error(cfg, "%s", "--cert, --key and --insecure need TLS: give --cafile or --capath.");
    return 0;
}

/* The rules that involve several options, as mosquitto's tools check them. */
static int cli_check_options(const cli_config *cfg) {
    if (cfg->will_payload && !cfg->will_topic)
        return cli_usage_error(cfg, "Will payload given, but no will topic given.", NULL);
    if (cfg->will_retain && !cfg->will_topic)
        return cli_usage_error(cfg, "Will retain given, but no will topic given.", NULL);
    int is_311 = cfg->protocol_version != MQTTC_PROTOCOL_5;
    if (is_311 && cfg->pass && !cfg->user) /* [MQTT-3.1.2-22]; MQTT 5 allows a password alone */
        return cli_usage_error(cfg, "Problem setting username and/or password.", NULL);
    if (is_311 && cfg->no_clean_session && !cfg->id)
        return cli_usage_error(cfg, "You must provide a client id if you are using the -c option.", NULL);
    if (cli_check_v5(cfg)) return 1;
    if (cfg->tool == CLI_PUB && (!cfg->topic || cfg->msg_mode == CLI_MSG_NONE))
        return cli_usage_error(cfg, "Both topic and message must be supplied.", NULL);
    if (cfg->tool == CLI_SUB && cfg->filter_count == 0)
        return cli_usage_error(cfg, "You must specify a topic to subscribe to.", NULL);
    if (cfg->ws_path && cfg->url_scheme == CLI_URL_MQTT)
        return cli_usage_error(cfg, "--ws-path is for MQTT over WebSocket: give a ws:// or wss:// URL (or -h).", NULL);
    return cli_check_tls(cfg);
}

/* The rules that involve several options, checked once all are read; then each filter's
   subscription options [MQTT-3.8.3.1]: the QoS and --retain-as-published (MQTT 5 only). */
static int cli_check(cli_config *cfg) {
    int rc = cli_check_options(cfg);
    unsigned rap = cfg->retain_as_published ? MQTTC_SUB_RETAIN_AS_PUBLISHED : 0;
    for (int i = 0; rc == 0 && i < cfg->filter_count; i++)
        cfg->sub_options[i] = (unsigned char)(cfg->qos | (cfg->protocol_version == MQTTC_PROTOCOL_5 ? rap : 0));
    return rc ? rc : cli_make_ws_url(cfg);
}

/* mosquitto's words when an option's value is missing (the newer options have their own). */
static const char *cli_missing_value(const char *opt) {
    if (!strcmp(opt, "-V") || !strcmp(opt, "--protocol-version"))
        return "--protocol-version argument given but no version specified.\n";
    if (!strcmp(opt, "-x")) return "-x argument given but no session expiry interval specified.\n";
    if (!strcmp(opt, "-F")) return "-F argument given but no format specified.\n";
    return "%s argument given but no value specified.";
}

static int cli_is_property_option(const char *opt) { return !strcmp(opt, "-D") || !strcmp(opt, "--property"); }

/* Reads argv into cfg. Returns 0, 1 for an error (printed), or 2 for --help. */
static int cli_parse(cli_config *cfg, int tool, int argc, char **argv) {
    memset(cfg, 0, sizeof *cfg);
    cfg->tool = tool;
    cfg->name = tool == CLI_PUB ? "mqttc-pub" : "mqttc-sub";
    cfg->host = "localhost";
    cfg->keepalive_s = 60;
    cfg->repeat = 1;
    cfg->protocol_version = MQTTC_PROTOCOL_311;
    cfg->filters = (const char **)calloc((size_t)argc + 1, sizeof *cfg->filters);
    cfg->unsubscribes = (const char **)calloc((size_t)argc + 1, sizeof *cfg->unsubscribes);
    cfg->sub_options = (unsigned char *)calloc((size_t)argc + 1, 1);
    if (!cfg->filters || !cfg->unsubscribes || !cfg->sub_options) return 1;
    for (int i = 1; i < argc; i++) {
        int takes_value = cli_takes_value(argv[i]), rc;
        const char *val = takes_value ? argv[i + 1] : NULL; /* argv[argc] is NULL */
        if (!strcmp(argv[i], "--help")) return 2;
        if (cli_is_property_option(argv[i])) {
            int used = 0;
            if ((rc = cli_parse_property(cfg, argv + i + 1, argc - i - 1, &used)) != 0) return rc;
            i += used;
            continue;
        }
        if (takes_value && !val) return cli_usage_error(cfg, cli_missing_value(argv[i]), argv[i]);
        rc = cli_parse_common(cfg, argv[i], val);
        if (rc < 0) rc = (tool == CLI_PUB ? cli_parse_pub : cli_parse_sub)(cfg, argv[i], val);
        if (rc < 0) return cli_usage_error(cfg, "Unknown option '%s'.", argv[i]);
        if (rc) return rc;
        i += takes_value;
    }
    return cli_check(cfg);
}

static void cli_free(cli_config *cfg) {
    free(cfg->filters);
    free(cfg->unsubscribes);
    free(cfg->sub_options);
    free(cfg->url);
    free(cfg->ws_url);
}

static void cli_trace_line(mqttc_client *c, int is_sent, const mqttc_packet *p, void *user);

/* MQTT 5: the properties the library owns are options fields (0: its default); the others
   go with CONNECT and the will as lists. */
static void cli_options_v5(const cli_config *cfg, mqttc_options *o) {
    o->protocol_version = MQTTC_PROTOCOL_5;
    if (!cfg->id) o->client_id = ""; /* as mosquitto's tools: the broker assigns one [MQTT-3.1.3-6] */
    o->session_expiry_s = cli_session_expiry(cfg);
    o->max_inflight_in = cfg->receive_max;
    o->max_packet_size = cfg->max_packet_size;
    o->topic_alias_in = cfg->topic_alias_max;
    o->topic_alias_out = cfg->topic_alias_out;
    o->connect_props = cli_props_of(cfg, CLI_CONNECT);
    if (cfg->will_topic) o->will_props = cli_props_of(cfg, CLI_WILL); /* without a will: ignored, as by mosquitto */
}

/* Graceful end; in MQTT 5 with the properties of -D disconnect. Not connected (connecting,
   or waiting to dial again): there is nothing to send, and mqttc_disconnect stops trying. */
static int cli_disconnect(mqttc_client *c, const cli_config *cfg) {
    mqttc_disconnect_info di;
    int st = mqttc_state(c);
    if (cfg->protocol_version != MQTTC_PROTOCOL_5 || (st != MQTTC_STATE_CONNECTED && st != MQTTC_STATE_DRAINING))
        return mqttc_disconnect(c);
    memset(&di, 0, sizeof di);
    di.props = cli_props_of(cfg, CLI_DISCONNECT);
    return mqttc_disconnect_with(c, &di);
}

static void cli_options(const cli_config *cfg, mqttc_options *o) {
    memset(o, 0, sizeof *o);
    o->client_id = cfg->id;
    o->keepalive_s = (unsigned)cfg->keepalive_s;
    o->no_keepalive = cfg->keepalive_s == 0;
    o->no_clean_session = cfg->no_clean_session;
    o->username = cfg->user;
    o->password = cfg->pass;
    o->password_len = cfg->pass ? strlen(cfg->pass) : 0;
    o->will_topic = cfg->will_topic;
    o->will_payload = cfg->will_payload;
    o->will_payload_len = cfg->will_payload ? strlen(cfg->will_payload) : 0;
    o->will_qos = cfg->will_qos;
    o->will_retain = cfg->will_retain;
    o->on_trace = cfg->debug ? cli_trace_line : NULL;
    o->secure = cli_is_tls(cfg);
    o->tls_ca_file = cfg->cafile;
    o->tls_ca_path = cfg->capath;
    o->tls_cert_file = cfg->cert;
    o->tls_key_file = cfg->key;
    o->tls_insecure_skip_hostname_check = cfg->insecure;
    o->tls_verify = o->secure; /* as mosquitto's tools: always check the broker under TLS */
    o->proxy = cfg->proxy;
    if (cfg->url_scheme != CLI_URL_WS) o->ws_path = cfg->ws_path; /* -h with --ws-path: WebSocket */
    if (cfg->protocol_version == MQTTC_PROTOCOL_5) cli_options_v5(cfg, o);
}

static const char cli_usage_common[] =
    " -h : mqtt host to connect to. Defaults to localhost.\n"
    " -p : network port to connect to. Defaults to 1883 (8883 for MQTT over TLS).\n"
    " -i : id to use for this client. Defaults to a random id.\n"
    " -k : keep alive in seconds for this client. Defaults to 60; 0 disables it.\n"
    " -u : provide a username\n"
    " -P : provide a password\n"
    " -c : disable clean session (keep the session; needs -i)\n"
    " -d : enable debug messages: one line per packet sent and received.\n"
    " -L : specify user, password, hostname, port and topic as a URL in the form:\n"
    "      mqtt(s)://[username[:password]@]host[:port]/topic\n"
    "      or (our extension) MQTT over WebSocket: ws(s)://[username[:password]@]host[:port]/topic\n"
    "      (the topic is still the path; the WebSocket request goes to --ws-path).\n"
    " --ws-path : WebSocket request path (our extension): with -L ws(s):// it defaults to /mqtt;\n"
    "      with -h it asks for MQTT over WebSocket on that path.\n"
    " --proxy : SOCKS5 proxy URL of the form: socks5h://[username[:password]@]hostname[:port]\n"
    "      (as mosquitto's; \"none\" and \"username\" authentication). Our extensions:\n"
    "      socks5://... (the broker's name is resolved here, not by the proxy) and\n"
    "      http://[username[:password]@]hostname[:port] (HTTP CONNECT, Basic authentication).\n"
    " --quiet : don't print error messages.\n"
    " --will-topic, --will-payload, --will-qos, --will-retain : the client's will, published\n"
    "      by the broker if the connection ends without DISCONNECT.\n"
    " --cafile : path to a file of trusted CA certificates: connect with TLS.\n"
    " --capath : path to a directory of trusted CA certificates: connect with TLS.\n"
    " --cert, --key : client certificate and its private key, for brokers that ask for one.\n"
    " --insecure : do not check that the broker's certificate names the host (tests only!).\n"
    " -V : MQTT protocol version: 5 (or mqttv5), or 311 (or mqttv311, the default).\n"
    " -x : MQTT 5 session expiry interval in seconds (-1: never ends); default -1 with -c, else 0.\n"
    " -D : an MQTT 5 property: -D command identifier value (-D command user-property name value),\n"
    "      command one of connect, publish, subscribe, unsubscribe, disconnect, will; identifier\n"
    "      a property name as in mosquitto_pub(1), e.g. content-type. Implies -V 5.\n"
    " --help : display this message.\n";

/* ---- the -d packet trace: options.on_trace, one line per packet in mosquitto's words ---- */

/* libmosquitto numbers QoS 0 publishes on from the last packet id; the tools have one client,
   so that counter can live here. */
static unsigned cli_last_mid;

/* mosquitto prints "(null)" for the id before the broker assigned one (MQTT 5 without -i),
   and the assigned one from the CONNACK that carries it on [MQTT-3.2.2.3.7]. */
static void cli_trace_client(mqttc_client *c, const mqttc_packet *p) {
    const char *id = mqttc_client_id(c);
    mqttc_prop assigned;
    if (p->type == MQTTC_CONNACK && mqttc_props_get(&p->connack.props, MQTTC_PROP_ASSIGNED_CLIENT_ID, &assigned))
        printf("Client %.*s ", (int)assigned.str.len, assigned.str.ptr);
    else printf("Client %s ", id && id[0] ? id : "(null)");
}

/* SUBSCRIBE and UNSUBSCRIBE: a line per filter, as libmosquitto logs them; SUBSCRIBE with
   the QoS and the other option bits apart (MQTT 5's no local, retain as published, retain
   handling [MQTT-3.8.3.1]). */
static void cli_trace_filters(mqttc_client *c, const char *name, const mqttc_packet *p) {
    size_t pos = 0;
    mqttc_str f;
    int options = 0;
    unsigned id = mqttc_packet_id(p);
    while (mqttc_next_filter(&p->subscribe, &pos, &f, &options)) {
        cli_trace_client(c, p);
        printf("sending %s (Mid: %u, Topic: %.*s", name, id, (int)f.len, f.ptr);
        if (p->type == MQTTC_SUBSCRIBE) printf(", QoS: %d, Options: 0x%02x", options & 3, options & 0xFC);
        printf(")\n");
    }
}

static void cli_trace_line(mqttc_client *c, int is_sent, const mqttc_packet *p, void *user) {
    static const char *const names[] = {"?",           "CONNECT",  "CONNACK", "PUBLISH",   "PUBACK",
                                        "PUBREC",      "PUBREL",   "PUBCOMP", "SUBSCRIBE", "SUBACK",
                                        "UNSUBSCRIBE", "UNSUBACK", "PINGREQ", "PINGRESP",  "DISCONNECT",
                                        "AUTH"};
    const mqttc_publish_info *pub = &p->publish;
    unsigned id = mqttc_packet_id(p);
    unsigned mid = id;
    (void)user;
    if (is_sent && id) cli_last_mid = id;
    if (is_sent && p->type == MQTTC_PUBLISH && pub->qos == 0) mid = ++cli_last_mid;
    if (p->type == MQTTC_SUBSCRIBE || p->type == MQTTC_UNSUBSCRIBE) {
        cli_trace_filters(c, names[p->type], p);
        fflush(stdout);
        return;
    }
    if (!is_sent && p->type == MQTTC_DISCONNECT) { /* the broker's (MQTT 5): libmosquitto's own line */
        printf("Received DISCONNECT (%d)\n", p->disconnect.reason_code);
        fflush(stdout);
        return;
    }
    cli_trace_client(c, p);
    printf("%s %s", is_sent ? "sending" : "received", names[p->type]);
    if (p->type == MQTTC_CONNACK) printf(" (%d)", p->connack.reason_code);
    else if (p->type == MQTTC_PUBLISH)
        printf(" (d%d, q%d, r%d, m%u, '%.*s', ... (%lu bytes))", pub->dup, pub->qos, pub->retain, mid,
               (int)pub->topic_len, pub->topic, (unsigned long)pub->payload_len);
    else if (p->type >= MQTTC_PUBACK && p->type <= MQTTC_PUBCOMP && is_sent)
        printf(p->type == MQTTC_PUBACK || p->type == MQTTC_PUBREC ? " (m%u, rc0)" : " (m%u)", id);
    else if (p->type == MQTTC_PUBACK || p->type == MQTTC_PUBCOMP) /* received; the reason is MQTT 5's */
        printf(" (Mid: %u, RC:%d)", id, p->ack.reason_code);
    else if (p->type >= MQTTC_PUBACK && p->type <= MQTTC_PUBCOMP)
        printf(" (Mid: %u)", id);
    printf("\n");
    fflush(stdout);
}

/* ---- running the client ---- */

/* Staying connected as mosquitto's tools do: libmosquitto's mosquitto_loop_forever (what
   mosquitto_sub runs, and mosquitto_pub -l in its thread) dials again 1 s after a loss and
   1 s after each failed attempt, with no backoff and no end, and nothing is printed. The
   library's reconnect does the dialling (options.reconnect_min_ms); cli_plan_retry, from
   options.on_status, keeps its plan at exactly that second. A first connect that fails is
   never retried (mosquitto's tools exit), and neither is a loss where libmosquitto stops: a
   CONNACK refusal (the tools exit with its code), the broker's DISCONNECT (MQTT 5; libmosquitto
   is then "disconnected") and an end of our own (stop: the tool is ending). QoS 2 messages a
   lost session took go again as new ones, as libmosquitto sends them again. */
#define CLI_RECONNECT_MS 1000u

static void cli_reconnect_options(mqttc_options *o) {
    o->reconnect_min_ms = o->reconnect_max_ms = CLI_RECONNECT_MS;
    o->republish_qos2 = 1;
}

/* From on_status: was_connected says a CONNACK came once (so later failures are retried). */
static void cli_plan_retry(mqttc_client *c, const mqttc_status *st, int was_connected, int stop) {
    if (st->event == MQTTC_EVENT_CONNECTED || !was_connected) return;
    stop = stop || st->error == MQTTC_ERR_REFUSED || st->error == MQTTC_ERR_SERVER_DISCONNECT ||
           st->error == MQTTC_ERR_DISCONNECT || st->error == MQTTC_ERR_AUTH;
    /* (the library's own plan jitters the second in [0.5, 1] s, gives up after ten links
       lost again at once, and ends for good a link lost while draining) */
    mqttc_set_retry(c, stop ? -1 : (long)CLI_RECONNECT_MS);
}

/* Waits until the client or `extra` (-1: none) is ready, at most max_ms (-1: the client's own
   deadline), then steps the client. *extra_ready says whether extra can be read. While the
   client waits to dial again (MQTTC_STATE_WAITING) it has no descriptor (mqttc_fd -1) and its
   deadline is the next attempt, which the step makes: extra and max_ms are watched as ever. */
static int cli_wait(mqttc_client *c, int extra, long max_ms, int *extra_ready) {
    int r = mqttc_wait(c, max_ms, extra);
    *extra_ready = r == 1;
    if (r < 0) return mqttc_error(c) ? mqttc_error(c) : r; /* ended: nothing left to wait for */
    return mqttc_step(c, mqttc_now_ms());
}

/* Why cli_connect stopped waiting before the connection was made or failed. */
enum { CLI_CONNECTING, CLI_STOP_DEADLINE, CLI_STOP_EXTRA };

/* Connects and waits for CONNACK: MQTTC_OK or why not (cli_connect_failed prints it). Port
   0 lets the library choose: 1883, or 8883 with TLS. The wait is the poll loop, so besides
   the client's connect timeout (TCP, TLS and CONNACK together) it ends at deadline_ms (0:
   none; mqttc-sub -W) and when `extra` (-1: none; mqttc-sub's signal pipe) becomes
   readable: then *stopped says which (CLI_STOP_*), the half-made connection is dropped and
   MQTTC_ERR_DISCONNECT returned. A read of the connection that brings CONNACK and more
   returns after CONNACK: the rest is dispatched by the caller's loop. */
static int cli_connect(mqttc_client *c, const cli_config *cfg, int extra, uint64_t deadline_ms, int *stopped) {
    int rc = cfg->ws_url ? mqttc_connect_url(c, cfg->ws_url, mqttc_now_ms())
                         : mqttc_connect_start(c, cfg->host, cfg->port, mqttc_now_ms());
    *stopped = CLI_CONNECTING;
    while (rc == MQTTC_OK && mqttc_state(c) != MQTTC_STATE_CONNECTED) {
        long max_ms = -1;
        int extra_ready = 0;
        uint64_t now = mqttc_now_ms();
        if (deadline_ms && now >= deadline_ms) *stopped = CLI_STOP_DEADLINE;
        else if (deadline_ms) max_ms = (long)(deadline_ms - now);
        if (*stopped == CLI_CONNECTING) rc = cli_wait(c, extra, max_ms, &extra_ready);
        if (extra_ready && rc == MQTTC_OK && mqttc_state(c) != MQTTC_STATE_CONNECTED) *stopped = CLI_STOP_EXTRA;
        if (*stopped != CLI_CONNECTING) {
            mqttc_disconnect(c);
            mqttc_step(c, mqttc_now_ms()); /* closes; anything left is mqttc_deinit's */
            return MQTTC_ERR_DISCONNECT;
        }
    }
    return rc;
}

#endif /* CLI_COMMON_H */
