/* cli_common.h - what mqttc-pub and mqttc-sub share: mosquitto 2.0's options, messages and
   exit codes; TLS options; the packet trace of -d (options.on_trace); and a poll(2) wait that
   watches the client and one descriptor of the tool's own (stdin, a signal pipe).
   Include it after mqttc.h in a file that defines MQTTC_IMPLEMENTATION. The tools are built
   with MQTTC_WITH_OPENSSL when OpenSSL is there (mk/cli.mk); without it TLS flags are refused. */
#ifndef CLI_COMMON_H
#define CLI_COMMON_H

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

enum { CLI_PUB, CLI_SUB };
/* mqttc-pub: where the message comes from (-m, -f, -l, -n, -s) */
enum { CLI_MSG_NONE, CLI_MSG_ARG, CLI_MSG_FILE, CLI_MSG_LINES, CLI_MSG_EMPTY, CLI_MSG_STDIN };

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
    /* mqttc-pub */
    const char *topic;     /* -t */
    int msg_mode;          /* CLI_MSG_* */
    const char *message;   /* -m, or -f's file name */
    int retain;            /* -r */
    long repeat;           /* --repeat; default 1 */
    double repeat_delay_s; /* --repeat-delay */
    /* mqttc-sub */
    const char **filters; /* -t, repeatable */
    int filter_count;
    const char **unsubscribes; /* -U, repeatable */
    int unsubscribe_count;
    long count;               /* -C; 0: no limit */
    long timeout_s;           /* -W; 0: none */
    int verbose, no_eol;      /* -v, -N */
    int no_retained;          /* -R */
    int exit_after_subscribe; /* -E */
    char *url;                /* -L, copied and split in place */
} cli_config;

/* ---- errors, in mosquitto's words ---- */

static void cli_error(const cli_config *cfg, const char *fmt, const char *arg) {
    if (cfg->quiet) return;
    fprintf(stderr, "Error: ");
    fprintf(stderr, fmt, arg);
    fprintf(stderr, "\n");
}

/* An error in the command line: exit code 1, as mosquitto's tools. */
static int cli_usage_error(const cli_config *cfg, const char *fmt, const char *arg) {
    fprintf(stderr, "Error: ");
    fprintf(stderr, fmt, arg);
    fprintf(stderr, "\n\nUse '%s --help' to see usage.\n", cfg->name);
    return 1;
}

/* Says why a connect failed; returns the exit code. A CONNACK refusal (MQTTC_ERR_REFUSED)
   exits with its return code, the client's reason code [MQTT-3.2.2-5], in mosquitto's words. */
static int cli_connect_failed(const cli_config *cfg, const mqttc_client *c, int err) {
    static const char *const refusals[] = {"unacceptable protocol version", "identifier rejected",
                                           "broker unavailable", "bad user name or password",
                                           "not authorised"};
    int code = mqttc_reason_code(c);
    if (err == MQTTC_ERR_REFUSED && code >= 1 && code <= 5) {
        if (!cfg->quiet) {
            fprintf(stderr, "Connection error: Connection Refused: %s.\n", refusals[code - 1]);
            if (cfg->tool == CLI_PUB) fprintf(stderr, "Error: The connection was refused.\n");
        }
        return code;
    }
    if (err == MQTTC_ERR_CANNOTRESOLVE)
        cli_error(cfg, "Unable to connect: cannot resolve the host name '%s'.", cfg->host);
    else if (err == MQTTC_ERR_CANNOTCONNECT)
        cli_error(cfg, "Unable to connect to '%s': connection refused or host unreachable.", cfg->host);
    else cli_error(cfg, "Unable to connect: %s.", mqttc_strerror(err));
    return 1;
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
                                     " --will-qos --repeat --repeat-delay --cafile --capath --cert --key ";
    char key[32];
    if (strlen(opt) + 3 > sizeof key) return 0;
    snprintf(key, sizeof key, " %s ", opt);
    return strstr(with_value, key) != NULL;
}

static int cli_parse_url(cli_config *cfg, const char *url);

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
    else if (!strcmp(opt, "-c")) cfg->no_clean_session = 1;
    else if (!strcmp(opt, "-d")) cfg->debug = 1;
    else if (!strcmp(opt, "--quiet")) cfg->quiet = 1;
    else if (!strcmp(opt, "--will-retain")) cfg->will_retain = 1;
    else if (!strcmp(opt, "--insecure")) cfg->insecure = 1;
    else return -1;
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
    if (!strcmp(opt, "-v")) cfg->verbose = 1;
    else if (!strcmp(opt, "-N")) cfg->no_eol = 1;
    else if (!strcmp(opt, "-R")) cfg->no_retained = 1;
    else if (!strcmp(opt, "-E")) cfg->exit_after_subscribe = 1;
    else return -1;
    return 0;
}

/* -L mqtt://[user[:pass]@]host[:port]/topic; mqtts:// asks for TLS. */
static int cli_parse_url(cli_config *cfg, const char *url) {
    const char *rest = NULL;
    if (!strncmp(url, "mqtt://", 7)) rest = url + 7;
    else if (!strncmp(url, "mqtts://", 8)) {
        rest = url + 8;
        cfg->is_tls_url = 1;
    }
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
    if ((colon = strchr(host, ':')) != NULL) {
        long port;
        *colon = '\0';
        if (!cli_number(colon + 1, 1, 65535, &port))
            return cli_usage_error(cfg, "Invalid port given: %s", colon + 1);
        cfg->port = (int)port;
    }
    cfg->host = host;
    return cfg->tool == CLI_PUB ? cli_parse_pub(cfg, "-t", slash + 1) : cli_parse_sub(cfg, "-t", slash + 1);
}

static int cli_is_tls(const cli_config *cfg) { return cfg->cafile || cfg->capath || cfg->is_tls_url; }

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

/* The rules that involve several options, checked once all are read. */
static int cli_check(const cli_config *cfg) {
    if (cfg->will_payload && !cfg->will_topic)
        return cli_usage_error(cfg, "Will payload given, but no will topic given.", NULL);
    if (cfg->will_retain && !cfg->will_topic)
        return cli_usage_error(cfg, "Will retain given, but no will topic given.", NULL);
    if (cfg->pass && !cfg->user)
        return cli_usage_error(cfg, "Problem setting username and/or password.", NULL); /* [MQTT-3.1.2-22] */
    if (cfg->no_clean_session && !cfg->id)
        return cli_usage_error(cfg, "You must provide a client id if you are using the -c option.", NULL);
    if (cfg->tool == CLI_PUB && (!cfg->topic || cfg->msg_mode == CLI_MSG_NONE))
        return cli_usage_error(cfg, "Both topic and message must be supplied.", NULL);
    if (cfg->tool == CLI_SUB && cfg->filter_count == 0)
        return cli_usage_error(cfg, "You must specify a topic to subscribe to.", NULL);
    return cli_check_tls(cfg);
}

/* Reads argv into cfg. Returns 0, 1 for an error (printed), or 2 for --help. */
static int cli_parse(cli_config *cfg, int tool, int argc, char **argv) {
    memset(cfg, 0, sizeof *cfg);
    cfg->tool = tool;
    cfg->name = tool == CLI_PUB ? "mqttc-pub" : "mqttc-sub";
    cfg->host = "localhost";
    cfg->keepalive_s = 60;
    cfg->repeat = 1;
    cfg->filters = (const char **)calloc((size_t)argc + 1, sizeof *cfg->filters);
    cfg->unsubscribes = (const char **)calloc((size_t)argc + 1, sizeof *cfg->unsubscribes);
    if (!cfg->filters || !cfg->unsubscribes) return 1;
    for (int i = 1; i < argc; i++) {
        int takes_value = cli_takes_value(argv[i]), rc;
        const char *val = takes_value ? argv[i + 1] : NULL; /* argv[argc] is NULL */
        if (!strcmp(argv[i], "--help")) return 2;
        if (takes_value && !val)
            return cli_usage_error(cfg, "%s argument given but no value specified.", argv[i]);
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
    free(cfg->url);
}

static void cli_trace_line(mqttc_client *c, int is_sent, const mqttc_packet *p, void *user);

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
    " --quiet : don't print error messages.\n"
    " --will-topic, --will-payload, --will-qos, --will-retain : the client's will, published\n"
    "      by the broker if the connection ends without DISCONNECT.\n"
    " --cafile : path to a file of trusted CA certificates: connect with TLS.\n"
    " --capath : path to a directory of trusted CA certificates: connect with TLS.\n"
    " --cert, --key : client certificate and its private key, for brokers that ask for one.\n"
    " --insecure : do not check that the broker's certificate names the host (tests only!).\n"
    " --help : display this message.\n";

/* ---- the -d packet trace: options.on_trace, one line per packet in mosquitto's words ---- */

/* libmosquitto numbers QoS 0 publishes on from the last packet id; the tools have one client,
   so that counter can live here. */
static unsigned cli_last_mid;

static void cli_trace_line(mqttc_client *c, int is_sent, const mqttc_packet *p, void *user) {
    static const char *const names[] = {"?",           "CONNECT",  "CONNACK", "PUBLISH",   "PUBACK",
                                        "PUBREC",      "PUBREL",   "PUBCOMP", "SUBSCRIBE", "SUBACK",
                                        "UNSUBSCRIBE", "UNSUBACK", "PINGREQ", "PINGRESP",  "DISCONNECT"};
    size_t pos = 0;
    mqttc_str f;
    int qos;
    const mqttc_publish_info *pub = &p->publish;
    unsigned id = mqttc_packet_id(p);
    unsigned mid = id;
    (void)user;
    if (is_sent && id) cli_last_mid = id;
    if (is_sent && p->type == MQTTC_PUBLISH && pub->qos == 0) mid = ++cli_last_mid;
    printf("Client %s %s %s", mqttc_client_id(c), is_sent ? "sending" : "received", names[p->type]);
    if (p->type == MQTTC_CONNACK) printf(" (%d)", p->connack.reason_code);
    else if (p->type == MQTTC_PUBLISH)
        printf(" (d%d, q%d, r%d, m%u, '%.*s', ... (%lu bytes))", pub->dup, pub->qos, pub->retain, mid,
               (int)pub->topic_len, pub->topic, (unsigned long)pub->payload_len);
    else if (p->type >= MQTTC_PUBACK && p->type <= MQTTC_PUBCOMP && is_sent)
        printf(p->type == MQTTC_PUBACK || p->type == MQTTC_PUBREC ? " (m%u, rc0)" : " (m%u)", id);
    else if (p->type >= MQTTC_PUBACK && p->type <= MQTTC_PUBCOMP)
        printf(p->type == MQTTC_PUBACK || p->type == MQTTC_PUBCOMP ? " (Mid: %u, RC:0)" : " (Mid: %u)", id);
    else if (p->type == MQTTC_SUBSCRIBE && mqttc_next_filter(&p->subscribe, &pos, &f, &qos))
        printf(" (Mid: %u, Topic: %.*s, QoS: %d, Options: 0x00)", id, (int)f.len, f.ptr, qos);
    else if (p->type == MQTTC_UNSUBSCRIBE && mqttc_next_filter(&p->subscribe, &pos, &f, NULL))
        printf(" (Mid: %u, Topic: %.*s)", id, (int)f.len, f.ptr);
    printf("\n");
    fflush(stdout);
}

/* ---- running the client ---- */

/* Waits until the client or `extra` (-1: none) is ready, at most max_ms (-1: the client's own
   deadline), then steps the client. *extra_ready says whether extra can be read. */
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
    int rc = mqttc_connect_start(c, cfg->host, cfg->port, mqttc_now_ms());
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
