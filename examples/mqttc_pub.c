/* mqttc-pub - publish a message, as mosquitto_pub does, with mqttc.h alone.
       build/mqttc-pub -h localhost -t sensors/temp -m 21.5 -q 1
       tail -f log | build/mqttc-pub -t logs -l        (one message per line, as they come)
   Same flags, output and exit codes as mosquitto_pub 2.0 (see --help and cli_common.h).
   The loop is the poll-loop API: mqttc_fd / mqttc_events / mqttc_timeout_ms / mqttc_step,
   with stdin watched beside the socket for -l. */
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
    "                 [-V protocol-version] [-x session-expiry] [-D command identifier value]\n\n"
    " -t : mqtt topic to publish to.\n"
    " -m : message payload to send.\n"
    " -f : send the contents of a file as the message.\n"
    " -l : read messages from stdin, sending a separate message for each line.\n"
    " -n : send a null (zero length) message.\n"
    " -s : read message from stdin, sending the entire input as a message.\n"
    " -q : quality of service level to use for all messages. Defaults to 0.\n"
    " -r : message should be retained.\n"
    " --repeat : with -m, -f, -n or -s, publish the message N times.\n"
    " --repeat-delay : wait this many seconds between repeats. Defaults to 0.\n\n"
    "Exits 0 once every message is complete: written (QoS 0) or acknowledged by the broker\n"
    "(QoS 1 and 2); 1 if acknowledgements are still missing 10 s after the last message.\n";

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

/* Queues one message (in MQTT 5 with the properties of -D publish); while the in-flight
   window or the output buffer is full, runs the client until there is room (mqttc_publish_with
   says MQTTC_ERR_BUSY). */
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
    while ((rc = mqttc_publish_with(c, &pi, NULL)) == MQTTC_ERR_BUSY) {
        rc = cli_wait(c, -1, -1, &ready);
        if (rc != MQTTC_OK) break;
    }
    return rc;
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

/* -l: each line is published as soon as it arrives; stdin is polled beside the socket, so
   keepalive and acknowledgements go on while we wait for input. */
static int publish_lines(mqttc_client *c, const cli_config *cfg) {
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

/* Publishes, then ends gracefully: as mosquitto_pub, it exits once every message is
   complete (QoS 1: PUBACK [MQTT-4.3.2-1], QoS 2: PUBCOMP [MQTT-4.3.3-1]; QoS 0: written).
   mqttc_disconnect waits for that (up to the library's disconnect timeout, 10 s), then
   sends DISCONNECT; the loop runs until the connection has ended. Returns the exit code: 0,
   or 1 when the connection ended otherwise or acknowledgements were missing at the timeout. */
static int publish_all(mqttc_client *c, const cli_config *cfg, const unsigned char *message, size_t len) {
    int rc, ready;
    if (cfg->msg_mode == CLI_MSG_LINES) rc = publish_lines(c, cfg);
    else rc = publish_repeated(c, cfg, message, len);
    if (rc == MQTTC_OK) rc = cli_disconnect(c, cfg);
    while (rc == MQTTC_OK) rc = cli_wait(c, -1, -1, &ready); /* until DISCONNECT is out */
    if (rc == MQTTC_ERR_DISCONNECT) return 0;
    if (rc == MQTTC_ERR_TIMEOUT && mqttc_inflight(c)) {
        char n[32];
        snprintf(n, sizeof n, "%u", mqttc_inflight(c));
        cli_error(cfg, "%s message(s) not acknowledged by the broker in time.", n);
    } else {
        cli_error(cfg, "%s.", mqttc_strerror(rc));
    }
    return 1;
}

/* MQTT 5: a QoS 1/2 message the broker refused (PUBACK or PUBREC with a reason code of
   0x80 or more [MQTT-3.4.2.1], [MQTT-3.5.2.1]) is complete all the same; mosquitto_pub warns and
   still exits 0. */
static void on_published(mqttc_client *c, const mqttc_ack_info *a, void *user) {
    const cli_config *cfg = (const cli_config *)user;
    (void)c;
    if (a->reason_code >= 0x80 && !cfg->quiet)
        fprintf(stderr, "Warning: Publish %u failed: %s.\n", a->packet_id, cli_reason_sentence(a->reason_code));
}

int main(int argc, char **argv) {
    cli_config cfg;
    mqttc_client c;
    mqttc_options o;
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
    o.on_published = on_published;
    o.user = &cfg;
    int rc = mqttc_init(&c, &o);
    if (rc != MQTTC_OK) {
        cli_error(&cfg, "Invalid options: %s.", mqttc_strerror(rc));
        exit_code = 1;
    } else if ((rc = cli_connect(&c, &cfg, -1, 0, &stopped)) != MQTTC_OK) {
        exit_code = cli_connect_failed(&cfg, &c, rc);
    } else {
        exit_code = publish_all(&c, &cfg, message, message_len);
    }
    mqttc_deinit(&c);
    free(message);
    cli_free(&cfg);
    return exit_code;
}
