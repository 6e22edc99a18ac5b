/* mqttc-pub - publish a message, as mosquitto_pub does, with mqttc.h alone.
       build/mqttc-pub -h localhost -t sensors/temp -m 21.5 -q 1
       tail -f log | build/mqttc-pub -t logs -l        (one message per line, as they come)
   Same flags, output and exit codes as mosquitto_pub 2.0 (see --help and cli_common.h).
   The loop is the poll-loop API: mqttc_fd / mqttc_events / mqttc_timeout_ms / mqttc_step,
   with stdin watched beside the socket for -l.
   When the broker goes away, as mosquitto_pub: -m, -f, -n and -s end ("The connection was
   lost.", exit 7); -l dials again every second (cli_plan_retry) and goes on reading: a QoS 0
   line read meanwhile is lost, QoS 1 and 2 lines are held (options.queue_bytes) and sent
   once connected again. */
#define MQTTC_IMPLEMENTATION
#include "mqttc.h"
#include "cli_common.h"

static const char usage[] =
    "mqttc-pub publishes one message on one topic, then exits (mosquitto_pub's flags).\n\n"
    "Usage: mqttc-pub [-h host] [-p port] [-u username [-P password]] -t topic | -L URL\n"
    "                 {-m message | -f file | -l | -n | -s} [-q qos] [-r]\n"
    "                 [--repeat N] [--repeat-delay seconds] [-c] [-i id] [-k keepalive]\n"
    "                 [-d] [--quiet] [--will-topic topic [--will-payload payload]\n"
    "                 [--will-qos qos] [--will-retain]]\n"
    "                 [-V protocol-version] [-x session-expiry] [-D command identifier value]\n"
    "                 [--proxy URL] [--ws-path path] [--store dir]\n\n"
    " -t : mqtt topic to publish to.\n"
    " -m : message payload to send.\n"
    " -f : send the contents of a file as the message.\n"
    " -l : read messages from stdin, sending a separate message for each line.\n"
    " -n : send a null (zero length) message.\n"
    " -s : read message from stdin, sending the entire input as a message.\n"
    " -q : quality of service level to use for all messages. Defaults to 0.\n"
    " -r : message should be retained.\n"
    " --repeat : with -m, -f, -n or -s, publish the message N times.\n"
    " --repeat-delay : wait this many seconds between repeats. Defaults to 0.\n"
    " --store : (mqttc's own, not mosquitto_pub's) keep every QoS 1 and 2 message in this\n"
    "           directory until the broker acknowledges it, on disk before it is sent: after\n"
    "           a crash the next mqttc-pub with the same -i sends what was left. Needs -i;\n"
    "           implies -c (the broker keeps its half of the session).\n\n"
    "Exits 0 once every message is complete: written (QoS 0) or acknowledged by the broker\n"
    "(QoS 1 and 2); 1 if acknowledgements are still missing 10 s after the last message.\n"
    "With -l a lost connection is made again every second (QoS 1 and 2 lines wait for it);\n"
    "otherwise it ends the program (exit 7).\n";

typedef struct pub_state {
    const cli_config *cfg;
    int was_connected; /* a CONNACK came: later losses are dialled again (-l) */
    int is_ending;     /* every message is given: DISCONNECT once their flows are complete */
    int is_refused_quietly; /* -l refused on a reconnect, and no line came after: no last word */
} pub_state;

/* -l: QoS 1/2 lines read while the broker is away are held up to this many bytes; a full
   queue stops reading until the connection is back (libmosquitto's queue has no bound). */
#define PUB_QUEUE_BYTES (16u * 1024u * 1024u)

/* All of a file (or stdin) in memory: -f and -s send it as one message. */
static int read_all(FILE *f, unsigned char **data, size_t *len) {
    size_t cap = 65536;
    *len = 0;
    *data = (unsigned char *)malloc(cap);
    while (*data) {
        *len += fread(*data + *len, 1, cap - *len, f);
        if (*len < cap) return ferror(f) ? -1 : 0;
        unsigned char *bigger = (unsigned char *)realloc(*data, cap *= 2);
        if (!bigger) free(*data);
        *data = bigger;
    }
    return -1;
}

/* Lost, and dialling again (-l): waiting for the next attempt, or in the middle of one. */
static int is_reconnecting(const mqttc_client *c) {
    int st = mqttc_state(c);
    return st == MQTTC_STATE_WAITING || st == MQTTC_STATE_HANDSHAKE || st == MQTTC_STATE_CONNACK_WAIT;
}

/* Queues one message (in MQTT 5 with the properties of -D publish); while the in-flight
   window or the output buffer is full, runs the client until there is room (mqttc_publish_with
   says MQTTC_ERR_BUSY). -l while the broker is away: a QoS 1/2 message is held for the next
   connection (a full queue: MQTTC_ERR_QUEUEFULL, wait), a QoS 0 one is lost as with
   mosquitto_pub (not connected: MQTTC_ERR_STATE). Connected, messages still held go first:
   one at a time is held, so reading keeps the window's pace. */
static int publish(mqttc_client *c, const cli_config *cfg, const void *payload, size_t len) {
    int rc, ready;
    mqttc_publish_info pi;
    memset(&pi, 0, sizeof pi);
    pi.topic = cfg->topic;
    pi.topic_len = strlen(cfg->topic);
    pi.payload = payload;
    pi.payload_len = len;
    pi.qos = cfg->qos;
    pi.retain = cfg->retain;
    pi.props = cli_props_of(cfg, CLI_PUBLISH);
    for (;;) {
        if (mqttc_state(c) == MQTTC_STATE_CONNECTED && mqttc_queued(c)) rc = MQTTC_ERR_BUSY;
        else rc = mqttc_publish_with(c, &pi, NULL);
        if (rc == MQTTC_ERR_STATE && is_reconnecting(c)) return MQTTC_OK;
        if (rc == MQTTC_ERR_STATE && mqttc_error(c)) return mqttc_error(c); /* ended: why */
        if (rc != MQTTC_ERR_BUSY && rc != MQTTC_ERR_QUEUEFULL) return rc;
        if ((rc = cli_wait(c, -1, -1, &ready)) != MQTTC_OK) return rc;
    }
}

/* Runs the client until every message is complete: acknowledged (QoS 1: PUBACK, QoS 2:
   PUBCOMP) or, for QoS 0, written to the socket. */
static int complete(mqttc_client *c) {
    int rc = MQTTC_OK, ready;
    while (rc == MQTTC_OK && (mqttc_inflight(c) || mqttc_pending_output(c))) rc = cli_wait(c, -1, -1, &ready);
    return rc;
}

/* Runs the client (keepalive, acks) for ms milliseconds. */
static int pause_ms(mqttc_client *c, long ms) {
    uint64_t end = mqttc_now_ms() + (uint64_t)ms;
    int rc = MQTTC_OK, ready;
    for (uint64_t now = mqttc_now_ms(); rc == MQTTC_OK && now < end; now = mqttc_now_ms())
        rc = cli_wait(c, -1, (long)(end - now), &ready);
    return rc;
}

/* -m, -f, -n, -s: the same message --repeat times, each completed before the pause (the
   last one is completed by the graceful disconnect in publish_all). */
static int publish_repeated(mqttc_client *c, const cli_config *cfg, const void *payload, size_t len) {
    int rc = MQTTC_OK;
    for (long i = 0; rc == MQTTC_OK && i < cfg->repeat; i++) {
        rc = publish(c, cfg, payload, len);
        if (rc == MQTTC_OK && i + 1 < cfg->repeat) rc = complete(c);
        if (rc == MQTTC_OK && i + 1 < cfg->repeat) rc = pause_ms(c, (long)(cfg->repeat_delay_s * 1000));
    }
    return rc;
}

/* Publishes the complete lines in buf[0..*len) (without their '\n'; at the end of input the
   last line too) and keeps the rest. */
static int publish_lines_in(mqttc_client *c, const cli_config *cfg, char *buf, size_t *len, int at_end) {
    size_t start = 0;
    int rc = MQTTC_OK;
    for (char *nl; rc == MQTTC_OK && (nl = (char *)memchr(buf + start, '\n', *len - start)) != NULL;) {
        rc = publish(c, cfg, buf + start, (size_t)(nl - (buf + start)));
        start = (size_t)(nl - buf) + 1;
    }
    if (rc == MQTTC_OK && at_end && start < *len) {
        rc = publish(c, cfg, buf + start, *len - start);
        start = *len;
    }
    memmove(buf, buf + start, *len - start);
    *len -= start;
    return rc;
}

/* -l once the connection has ended for good, as mosquitto_pub's input loop goes on: after
   the broker's DISCONNECT (MQTT 5; no reconnect, as libmosquitto) it reads to the end of its
   input, every line lost; after a refusal on a reconnect, up to its next line. len: bytes of
   a line begun before. Returns whether a line came (after a DISCONNECT: any byte): only then
   does mosquitto_pub say why at the end ("not connected", "refused": lost()). */
static int read_on(size_t len, int at_end, int is_refused) {
    int more = len > 0, line = 0;
    char scratch[4096];
    while (!at_end && !(is_refused && line)) {
        ssize_t n = read(STDIN_FILENO, scratch, sizeof scratch);
        if (n < 0 && errno == EINTR) continue;
        at_end = n <= 0;
        more |= n > 0;
        line |= n > 0 && memchr(scratch, '\n', (size_t)n) != NULL;
    }
    return is_refused ? line : more;
}

/* -l: each line is published as soon as it arrives; stdin is polled beside the socket, so
   keepalive and acknowledgements go on while we wait for input. */
static int publish_lines(mqttc_client *c, pub_state *p) {
    const cli_config *cfg = p->cfg;
    char *buf = NULL;
    size_t len = 0, cap = 0;
    int rc = MQTTC_OK, at_end = 0;
    while (rc == MQTTC_OK && !at_end) {
        int readable = 0;
        rc = cli_wait(c, STDIN_FILENO, -1, &readable);
        if (rc != MQTTC_OK || !readable) continue;
        if (len == cap) {
            char *bigger = (char *)realloc(buf, cap = cap ? cap * 2 : 4096);
            if (!bigger) {
                rc = MQTTC_ERR_NOMEM;
                break;
            }
            buf = bigger;
        }
        ssize_t n = read(STDIN_FILENO, buf + len, cap - len);
        if (n < 0 && errno == EINTR) continue;
        at_end = n <= 0;
        len += n > 0 ? (size_t)n : 0;
        mqttc_cork(c, 1); /* the lines of one read leave in one write */
        rc = publish_lines_in(c, cfg, buf, &len, at_end);
        mqttc_cork(c, 0);
    }
    if (rc == MQTTC_ERR_SERVER_DISCONNECT && !read_on(len, at_end, 0)) rc = MQTTC_ERR_DISCONNECT; /* exit 0 */
    if (rc == MQTTC_ERR_REFUSED) p->is_refused_quietly = !read_on(len, at_end, 1);
    free(buf);
    return rc;
}

/* The message of -m, -f, -s or -n; read before connecting, as mosquitto_pub does. */
static int load_message(const cli_config *cfg, unsigned char **data, size_t *len) {
    *data = NULL;
    *len = 0;
    if (cfg->msg_mode == CLI_MSG_ARG) {
        *len = strlen(cfg->message);
        *data = (unsigned char *)strdup(cfg->message);
        return *data ? 0 : 1;
    }
    if (cfg->msg_mode == CLI_MSG_STDIN && read_all(stdin, data, len) != 0) {
        cli_error(cfg, "Unable to read the message from stdin.", NULL);
        return 1;
    }
    if (cfg->msg_mode == CLI_MSG_FILE) {
        FILE *f = fopen(cfg->message, "rb");
        int rc = f ? read_all(f, data, len) : -1;
        if (f) fclose(f);
        if (rc != 0) {
            cli_error(cfg, "Unable to read file \"%s\".", cfg->message);
            free(*data);
            return 1;
        }
    }
    return 0;
}

/* The graceful end, once every message is given: mqttc_disconnect waits until each is
   complete (QoS 1: PUBACK [MQTT-4.3.2-1], QoS 2: PUBCOMP [MQTT-4.3.3-1]; QoS 0: written;
   up to the library's disconnect timeout, 10 s), then sends DISCONNECT; the loop runs until
   the connection has ended. Messages still held are written first (the drain does not
   release them). -l while the broker is away: what is owed (QoS 1/2, in flight or held)
   waits for the next connection, as mosquitto_pub waits for it; with nothing owed the end is
   now (mosquitto_pub would wait for ever when the outage took its last, QoS 0, line). A
   connection lost while draining is dialled again, and the end asked for again. */
static int finish(mqttc_client *c, pub_state *p) {
    int rc = MQTTC_OK, ready;
    p->is_ending = 1;
    while (rc == MQTTC_OK) {
        if (mqttc_state(c) == MQTTC_STATE_CONNECTED && !mqttc_queued(c)) rc = cli_disconnect(c, p->cfg);
        else if (is_reconnecting(c) && !mqttc_inflight(c)) rc = mqttc_disconnect(c); /* stops dialling */
        if (rc == MQTTC_OK) rc = cli_wait(c, -1, -1, &ready);
    }
    return rc;
}

/* A connection that ended before the end, in mosquitto_pub's words and with its exit codes
   (libmosquitto's error numbers): lost (EOF, reset) MOSQ_ERR_CONN_LOST 7; after the broker's
   DISCONNECT (MQTT 5) MOSQ_ERR_NO_CONN 4; no PINGRESP MOSQ_ERR_KEEPALIVE 19 (which its
   mosquitto_strerror does not know); another socket error MOSQ_ERR_ERRNO 14 with strerror;
   a refusal on a reconnect (-l): its code, as on the first connect (read_on). */
static int lost(const pub_state *p, const mqttc_client *c, int rc) {
    const cli_config *cfg = p->cfg;
    if (rc == MQTTC_ERR_REFUSED)
        return cli_connect_failed_as(cfg, c, rc, p->is_refused_quietly ? CLI_REFUSED_LATER_QUIET : CLI_REFUSED_LATER);
    if (rc == MQTTC_ERR_CLOSED) {
        cli_error(cfg, "The connection was lost.", NULL);
        return 7;
    }
    if (rc == MQTTC_ERR_SERVER_DISCONNECT) {
        cli_error(cfg, "The client is not currently connected.", NULL);
        return 4;
    }
    if (rc == MQTTC_ERR_PINGRESP) {
        cli_error(cfg, "Unknown error.", NULL);
        return 19;
    }
    if (rc == MQTTC_ERR_IO && mqttc_sys_errno(c)) {
        cli_error(cfg, "%s", strerror(mqttc_sys_errno(c)));
        return 14;
    }
    cli_error(cfg, "%s.", mqttc_strerror(rc));
    return 1;
}

/* Publishes, then ends gracefully (finish): as mosquitto_pub, it exits once every message is
   complete. Returns the exit code: 0; 1 when acknowledgements were missing at the timeout;
   mosquitto_pub's codes when the connection ended otherwise (lost). */
static int publish_all(mqttc_client *c, pub_state *p, const unsigned char *message, size_t len) {
    const cli_config *cfg = p->cfg;
    int rc;
    if (cfg->msg_mode == CLI_MSG_LINES) rc = publish_lines(c, p);
    else rc = publish_repeated(c, cfg, message, len);
    if (rc == MQTTC_OK) rc = finish(c, p);
    if (rc == MQTTC_ERR_DISCONNECT) return 0;
    if (rc == MQTTC_ERR_TIMEOUT && mqttc_inflight(c)) {
        char n[32];
        snprintf(n, sizeof n, "%u", mqttc_inflight(c));
        cli_error(cfg, "%s message(s) not acknowledged by the broker in time.", n);
        return 1;
    }
    return lost(p, c, rc);
}

/* MQTT 5: a QoS 1/2 message the broker refused (PUBACK or PUBREC with a reason code of
   0x80 or more [MQTT-3.4.2.1], [MQTT-3.5.2.1]) is complete all the same; mosquitto_pub warns and
   still exits 0. */
static void on_published(mqttc_client *c, const mqttc_ack_info *a, void *user) {
    const cli_config *cfg = ((const pub_state *)user)->cfg;
    (void)c;
    if (a->reason_code >= 0x80 && !cfg->quiet)
        fprintf(stderr, "Warning: Publish %u failed: %s.\n", a->packet_id, cli_reason_sentence(a->reason_code));
}

/* -l: a loss once connected is dialled again a second later, as libmosquitto's loop does;
   not when the drain of the end timed out (the acks are not coming: exit 1 as ever). */
static void on_status(mqttc_client *c, const mqttc_status *st, void *user) {
    pub_state *p = (pub_state *)user;
    if (st->event == MQTTC_EVENT_CONNECTED) p->was_connected = 1;
    cli_plan_retry(c, st, p->was_connected,
                   p->is_ending && st->event == MQTTC_EVENT_CONNECTION_LOST && st->error == MQTTC_ERR_TIMEOUT);
}

int main(int argc, char **argv) {
    cli_config cfg;
    mqttc_client c;
    mqttc_options o;
    pub_state p;
    unsigned char *message = NULL;
    size_t message_len = 0;
    int stopped; /* never: mqttc-pub's connect has no deadline and watches no descriptor */
    int exit_code = cli_parse(&cfg, CLI_PUB, argc, argv);
    if (exit_code == 2) printf("%s\n%s", usage, cli_usage_common);
    if (exit_code == 0) exit_code = load_message(&cfg, &message, &message_len);
    if (exit_code) {
        cli_free(&cfg);
        return 1; /* as mosquitto_pub, --help too exits 1 */
    }
    cli_options(&cfg, &o);
    mqttc_file_store store;
    int has_store = 0;
    if (cfg.store_dir) { /* opened before mqttc_init, which loads what it holds */
        if (!cfg.id) {
            cli_error(&cfg, "--store needs -i: the store is kept per client id.", NULL);
            free(message);
            cli_free(&cfg);
            return 1;
        }
        int src = mqttc_file_store_open(&store, cfg.store_dir, cfg.id, 0);
        if (src != MQTTC_OK) {
            cli_error(&cfg, src == MQTTC_ERR_BUSY ? "The store in %s is in use by another mqttc-pub -i of that id."
                                                  : "Cannot open the store in %s.", cfg.store_dir);
            free(message);
            cli_free(&cfg);
            return 1;
        }
        if (store.skipped) fprintf(stderr, "Warning: the store skipped %u damaged record(s): %s.\n", store.skipped, store.problem);
        has_store = 1;
        o.store = &store.store;
        o.no_clean_session = 1;
    }
    memset(&p, 0, sizeof p);
    p.cfg = &cfg;
    o.on_published = on_published;
    o.user = &p;
    if (cfg.msg_mode == CLI_MSG_LINES) { /* as mosquitto_pub -l (libmosquitto's threaded loop) */
        cli_reconnect_options(&o);
        o.queue_bytes = PUB_QUEUE_BYTES;
        o.on_status = on_status;
    }
    int rc = mqttc_init(&c, &o);
    if (rc != MQTTC_OK) {
        cli_error(&cfg, "Invalid options: %s.", mqttc_strerror(rc));
        exit_code = 1;
    } else if ((rc = cli_connect(&c, &cfg, -1, 0, &stopped)) != MQTTC_OK) {
        exit_code = cli_connect_failed(&cfg, &c, rc);
    } else {
        exit_code = publish_all(&c, &p, message, message_len);
    }
    mqttc_deinit(&c);
    if (has_store) mqttc_file_store_close(&store);
    free(message);
    cli_free(&cfg);
    return exit_code;
}
