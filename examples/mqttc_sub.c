/* mqttc-sub - subscribe and print messages, as mosquitto_sub does, with mqttc.h alone.
       build/mqttc-sub -h localhost -t 'sensors/#' -v
       build/mqttc-sub -t status -C 1 -W 10            (one message, or exit 27 after 10 s)
   Same flags, output and exit codes as mosquitto_sub 2.0 (see --help and cli_common.h).
   SIGINT and SIGTERM end it gracefully (DISCONNECT, exit 0); SIGKILL leaves the broker to
   publish the will. When the broker goes away it dials again every second, silently, and
   subscribes afresh on every CONNACK, as mosquitto_sub (cli_common.h, cli_plan_retry). */
#define MQTTC_IMPLEMENTATION
#include "mqttc.h"
#include "cli_common.h"
#include "cli_format.h"

#include <signal.h>

static const char usage[] =
    "mqttc-sub subscribes to topics and prints the messages it receives (mosquitto_sub's flags).\n\n"
    "Usage: mqttc-sub [-h host] [-p port] [-u username [-P password]] -t topic ... | -L URL\n"
    "                 [-q qos] [-C count] [-W seconds] [-v] [-N] [-R] [-E] [-U topic ...]\n"
    "                 [-c] [-i id] [-k keepalive] [-d] [--quiet]\n"
    "                 [--will-topic topic [--will-payload payload] [--will-qos qos] [--will-retain]]\n"
    "                 [-F format [--pretty]] [-V protocol-version] [-x session-expiry]\n"
    "                 [--retain-as-published] [-D command identifier value]\n"
    "                 [--proxy URL] [--ws-path path]\n\n"
    " -t : mqtt topic filter to subscribe to. May be repeated.\n"
    " -q : quality of service level to use for the subscriptions. Defaults to 0.\n"
    " -C : disconnect and exit after receiving the 'count' messages (at QoS 2 once their\n"
    "      handshake is complete).\n"
    " -W : exit (code 27) this many seconds after the first connect starts, whatever the\n"
    "      state, reconnecting too; before the first connection is made, with code 255 as\n"
    "      mosquitto_sub.\n"
    " -v : print published messages verbosely: 'topic payload'.\n"
    " -N : do not add an end of line character when printing the payload.\n"
    " -R : do not print stale messages (those with retain set).\n"
    " -E : exit once all subscriptions have been acknowledged by the broker.\n"
    " -U : unsubscribe from a topic. May be repeated.\n"
    " -F : output format, as mosquitto_sub's: %t topic, %p payload, %q QoS, %r retained,\n"
    "      %m message id, %l length, %x / %X payload in hex, %I / %U / @X time of arrival,\n"
    "      %j / %J JSON; MQTT 5 properties: %A topic alias, %C content type, %D correlation\n"
    "      data, %E expiry, %F payload format, %P user properties, %R response topic, %S\n"
    "      subscription identifier; \\n \\t \\\\ ... escapes. Overrides -v.\n"
    " --pretty : print %j over several lines.\n"
    " --retain-as-published : MQTT 5: the retain flag as the publisher set it.\n";

typedef struct sub_state {
    const cli_config *cfg;
    uint64_t deadline_ms; /* -W: when to stop (from the first connect); 0: never */
    int was_connected;    /* a CONNACK came: losses from now on are dialled again */
    long received;        /* messages counted for -C, across connections */
    int subacks, refused; /* SUBACKs received, and how many refused their filter */
    int is_ending;        /* DISCONNECT asked for: ignore what still arrives */
    int is_timed_out;     /* the -W deadline has passed (and "Timed out" was said) */
    int exit_code;
} sub_state;

/* Once the -W deadline has passed, the acknowledgements still owed (the ending below) get
   this long before the process ends anyway: -W ends it on time in every state. */
#define SUB_GRACE_MS 1000

/* A signal handler may only write to a pipe; the loop polls its other end. */
static int signal_pipe[2] = {-1, -1};

static void on_signal(int sig) {
    char b = (char)sig;
    ssize_t r = write(signal_pipe[1], &b, 1);
    (void)r;
}

static int watch_signals(void) {
    struct sigaction sa;
    if (pipe(signal_pipe) != 0) return -1;
    fcntl(signal_pipe[1], F_SETFL, fcntl(signal_pipe[1], F_GETFL, 0) | O_NONBLOCK);
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    return sigaction(SIGINT, &sa, NULL) | sigaction(SIGTERM, &sa, NULL);
}

/* Graceful end, then exit with exit_code: the library first finishes the acknowledgements
   it owes, then sends DISCONNECT (so no will is published) and closes; run() goes on
   stepping until then. */
static void end(mqttc_client *c, sub_state *s, int exit_code) {
    if (s->is_ending) return;
    s->is_ending = 1;
    s->exit_code = exit_code;
    cli_disconnect(c, s->cfg);
}

/* mosquitto_sub's format: -F's; else the payload's bytes as they are; with -v "topic
   payload"; an empty payload prints "topic (null)" with -v and nothing without. */
static void print_message(const cli_config *cfg, const mqttc_message *m) {
    if (cfg->format) {
        fmt_print(cfg, m);
        if (!cfg->no_eol) putchar('\n');
    } else if (m->payload_len == 0) {
        if (cfg->verbose && !cfg->no_eol) printf("%s (null)\n", m->topic);
    } else {
        if (cfg->verbose) printf("%s ", m->topic);
        fwrite(m->payload, 1, m->payload_len, stdout);
        if (!cfg->no_eol) putchar('\n');
    }
    fflush(stdout);
}

static void on_message(mqttc_client *c, const mqttc_message *m, void *user) {
    sub_state *s = (sub_state *)user;
    if (s->is_ending || (m->retain && s->cfg->no_retained)) return;
    print_message(s->cfg, m);
    if (s->cfg->count && ++s->received == s->cfg->count) end(c, s, 0);
}

/* A SUBACK: a code per filter, in their order [MQTT-3.9.3-1]: the QoS granted or a refusal
   (0x80; in MQTT 5 any reason code of 0x80 or more [MQTT-3.9.3]). */
static void on_suback(mqttc_client *c, const mqttc_suback_info *sa, void *user) {
    sub_state *s = (sub_state *)user;
    const cli_config *cfg = s->cfg;
    if (cfg->debug && !cfg->quiet) {
        printf("Subscribed (mid: %u):", sa->packet_id);
        for (size_t i = 0; i < sa->count; i++) printf("%s %d", i ? "," : "", sa->codes[i]);
        printf("\n");
    }
    fflush(stdout);
    for (size_t i = 0; i < sa->count; i++) s->refused += sa->codes[i] >= 0x80;
    s->subacks += (int)sa->count;
    if (s->subacks < cfg->filter_count) return;
    if (s->refused == cfg->filter_count) { /* as mosquitto_sub 2.0: said without "Error: ", exit 0 */
        if (!cfg->quiet) fprintf(stderr, "All subscription requests were denied.\n");
        end(c, s, 0);
    } else if (cfg->exit_after_subscribe) {
        end(c, s, 0);
    }
}

/* MQTT 5: as mosquitto_sub, all the filters in one SUBSCRIBE (with --retain-as-published
   and -D subscribe's properties), then all of -U in one UNSUBSCRIBE. */
static int subscribe_all_v5(mqttc_client *c, sub_state *s) {
    const cli_config *cfg = s->cfg;
    mqttc_subscribe_info si;
    int rc;
    memset(&si, 0, sizeof si);
    si.filters = cfg->filters;
    si.options = cfg->sub_options;
    si.count = (size_t)cfg->filter_count;
    si.props = cli_props_of(cfg, CLI_SUBSCRIBE);
    rc = mqttc_subscribe_with(c, &si, on_suback, NULL, s, NULL);
    if (rc != MQTTC_OK || cfg->unsubscribe_count == 0) return rc;
    memset(&si, 0, sizeof si);
    si.filters = cfg->unsubscribes;
    si.count = (size_t)cfg->unsubscribe_count;
    si.props = cli_props_of(cfg, CLI_UNSUBSCRIBE);
    return mqttc_unsubscribe_with(c, &si, NULL, NULL, NULL);
}

/* In 3.1.1 a SUBSCRIBE (and an UNSUBSCRIBE) per filter. */
static int subscribe_all(mqttc_client *c, sub_state *s) {
    int rc = MQTTC_OK;
    s->subacks = s->refused = 0; /* counted again after a reconnect */
    if (s->cfg->protocol_version == MQTTC_PROTOCOL_5) return subscribe_all_v5(c, s);
    for (int i = 0; rc == MQTTC_OK && i < s->cfg->filter_count; i++)
        rc = mqttc_subscribe(c, s->cfg->filters[i], s->cfg->qos, on_suback, NULL, s, NULL);
    for (int i = 0; rc == MQTTC_OK && i < s->cfg->unsubscribe_count; i++)
        rc = mqttc_unsubscribe(c, s->cfg->unsubscribes[i], NULL, NULL, NULL);
    return rc;
}

/* Every CONNACK (on_status), as mosquitto_sub's on_connect: subscribe (and unsubscribe -U)
   afresh, whether the broker kept the session or not. The library's own resubscribe is off
   (options.no_resubscribe): it sends one SUBSCRIBE per filter, without -D subscribe's
   properties and without a SUBACK callback, and only after a lost session. Later losses are
   dialled again a second later (cli_plan_retry); ending, never. */
static void on_status(mqttc_client *c, const mqttc_status *st, void *user) {
    sub_state *s = (sub_state *)user;
    int rc;
    if (st->event != MQTTC_EVENT_CONNECTED) {
        cli_plan_retry(c, st, s->was_connected, s->is_ending);
        return;
    }
    s->was_connected = 1;
    if (s->is_ending || (rc = subscribe_all(c, s)) == MQTTC_OK) return;
    cli_error(s->cfg, "Unable to subscribe: %s.", mqttc_strerror(rc));
    end(c, s, 1);
}

/* -W: 1 once the time is up (said on stderr once, as mosquitto_sub); until then it
   shortens *max_ms (-1: no limit) to the time left. */
static int is_timed_out(sub_state *s, long *max_ms) {
    if (!s->deadline_ms) return 0;
    uint64_t now = mqttc_now_ms();
    if (now < s->deadline_ms) {
        if (*max_ms < 0 || (long)(s->deadline_ms - now) < *max_ms) *max_ms = (long)(s->deadline_ms - now);
        return 0;
    }
    if (!s->is_timed_out && !s->cfg->quiet) fprintf(stderr, "Timed out\n");
    s->is_timed_out = 1;
    return 1;
}

/* Stops a graceful end that takes too long: DISCONNECT now, then close. */
static int cut_short(mqttc_client *c, const sub_state *s, int why) {
    (void)cli_disconnect(c, s->cfg);
    (void)mqttc_step(c, mqttc_now_ms()); /* DISCONNECT is out: close */
    return why;
}

/* Runs until the end: -C, -E, -W, a signal, or the broker (a refusal, its DISCONNECT); a
   broker that goes away is dialled again meanwhile, and -W and signals end the wait for it
   as any other state (cli_disconnect then stops the dialling). Ending is graceful:
   the library finishes the QoS 2 handshakes still open (PUBREL answered with PUBCOMP
   [MQTT-4.3.3-2]) and then sends DISCONNECT; messages arriving meanwhile are not printed
   (is_ending). Once -W's deadline has passed that gets SUB_GRACE_MS; another signal while
   ending cuts it short: mqttc_disconnect again sends DISCONNECT at once (no will). */
static int run(mqttc_client *c, sub_state *s) {
    int rc = MQTTC_OK;
    while (rc == MQTTC_OK) {
        long max_ms = -1;
        int signalled = 0;
        char drain[16];
        if (is_timed_out(s, &max_ms)) {
            if (!s->is_ending) end(c, s, 27); /* mosquitto's MOSQ_ERR_TIMEOUT */
            uint64_t now = mqttc_now_ms(), stop = s->deadline_ms + SUB_GRACE_MS;
            if (now >= stop) return cut_short(c, s, MQTTC_ERR_TIMEOUT);
            max_ms = (long)(stop - now);
        }
        rc = cli_wait(c, signal_pipe[0], max_ms, &signalled);
        if (!signalled || read(signal_pipe[0], drain, sizeof drain) <= 0) continue;
        if (s->is_ending) return cut_short(c, s, MQTTC_ERR_DISCONNECT);
        end(c, s, 0);
    }
    return rc;
}

/* Prints until the end (on_status subscribes); returns the exit code: the one ending chose
   (-C, -E, -W, a signal: DISCONNECT was sent, or the dialling stopped); 0 after the broker's
   DISCONNECT (MQTT 5), as mosquitto_sub, which then stops without a word; a refusal on a
   reconnect exits with its code, in mosquitto's words (cli_connect_failed). */
static int serve(mqttc_client *c, sub_state *s) {
    int rc = run(c, s);
    if (s->is_ending) return s->exit_code;
    if (rc == MQTTC_ERR_SERVER_DISCONNECT) return 0;
    return cli_connect_failed_as(s->cfg, c, rc, CLI_REFUSED_LATER);
}

int main(int argc, char **argv) {
    cli_config cfg;
    mqttc_client c;
    mqttc_options o;
    sub_state s;
    int stopped;
    int exit_code = cli_parse(&cfg, CLI_SUB, argc, argv);
    if (exit_code == 0 && cfg.format) exit_code = fmt_check(&cfg, cfg.format);
    if (exit_code == 2) printf("%s\n%s", usage, cli_usage_common);
    if (exit_code || watch_signals() != 0) {
        cli_free(&cfg);
        return 1; /* as mosquitto_sub, --help too exits 1 */
    }
    memset(&s, 0, sizeof s);
    s.cfg = &cfg;
    cli_options(&cfg, &o);
    o.on_message = on_message;
    o.on_status = on_status;
    o.no_resubscribe = 1;
    cli_reconnect_options(&o);
    o.user = &s;
    int rc = mqttc_init(&c, &o);
    /* -W counts from the first connect (mosquitto_sub arms its alarm() once TCP is connected;
       ours bounds the TCP connect too) */
    if (cfg.timeout_s) s.deadline_ms = mqttc_now_ms() + (uint64_t)cfg.timeout_s * 1000u;
    if (rc != MQTTC_OK) {
        cli_error(&cfg, "Invalid options: %s.", mqttc_strerror(rc));
        exit_code = 1;
    } else if ((rc = cli_connect(&c, &cfg, signal_pipe[0], s.deadline_ms, &stopped)) == MQTTC_OK) {
        exit_code = serve(&c, &s);
    } else if (s.is_ending) { /* connected, and ended at once: the SUBSCRIBE failed (on_status) */
        exit_code = s.exit_code;
    } else if (stopped) {
        exit_code = 255; /* -W or a signal before the first CONNACK: mosquitto_sub's exit(-1) */
    } else {
        exit_code = cli_connect_failed(&cfg, &c, rc);
    }
    mqttc_deinit(&c);
    cli_free(&cfg);
    close(signal_pipe[0]);
    close(signal_pipe[1]);
    return exit_code;
}
