/* cli_format.h - mqttc-sub -F: mosquitto_sub 2.0's output format (mosquitto_sub(1), OUTPUT
   FORMAT). %-parameters of the message, each with an optional flag ('-' left-aligned, '0'
   zero-padded), field width and maximum width; @-sequences passed to strftime(3) (@N the
   nanoseconds, @@ an @); \-escapes; %j and %J, the message as JSON. MQTT 5's parameters
   (%A %C %D %E %F %P %R %S) read the message's properties, a zero-copy view: in 3.1.1 they
   print nothing. Include after cli_common.h; only mqttc-sub uses it. */
#ifndef CLI_FORMAT_H
#define CLI_FORMAT_H

#include <ctype.h>
#include <time.h>

/* One %-directive: flag ('-', '0' or 0), width (0: none), maximum width (-1: none) and
   the conversion character. */
typedef struct fmt_spec {
    int flag, width, precision;
    char conv;
} fmt_spec;

#define FMT_CONVERSIONS "%ACDEFIjJlmPpqRrStUxX"
#define FMT_ESCAPES "\\0aenrtv"
#define FMT_MAX_WIDTH 100000 /* wider is read as this: a typo must not pad for ever */

/* Reads [flag][width][.maximum]conversion from s (just after the '%'). Returns the
   characters read, or 0 when the format ends first. mosquitto takes one flag only, so
   "%0-5l" is the conversion '-'. */
static size_t fmt_read_spec(const char *s, fmt_spec *sp) {
    size_t i = 0;
    sp->flag = 0;
    sp->width = 0;
    sp->precision = -1;
    if (s[i] == '-' || s[i] == '0') sp->flag = s[i++];
    for (; isdigit((unsigned char)s[i]); i++)
        if (sp->width < FMT_MAX_WIDTH) sp->width = sp->width * 10 + (s[i] - '0');
    if (s[i] == '.') {
        sp->precision = 0;
        for (i++; isdigit((unsigned char)s[i]); i++)
            if (sp->precision < FMT_MAX_WIDTH) sp->precision = sp->precision * 10 + (s[i] - '0');
    }
    if (!s[i]) return 0;
    sp->conv = s[i];
    return i + 1;
}

/* -F's errors, found before connecting as mosquitto_sub finds them: exit code 1. */
static int fmt_check(const cli_config *cfg, const char *f) {
    char what[64];
    fmt_spec sp;
    for (size_t i = 0, n; f[i]; i++) {
        if (f[i] == '@') { /* any character: strftime's to judge */
            if (!f[++i]) return cli_usage_error(cfg, "Incomplete format specifier.", NULL);
        } else if (f[i] == '%') {
            if ((n = fmt_read_spec(f + i + 1, &sp)) == 0)
                return cli_usage_error(cfg, "Incomplete format specifier.", NULL);
            if (!strchr(FMT_CONVERSIONS, sp.conv)) {
                snprintf(what, sizeof what, "Invalid format specifier '%c'.", sp.conv);
                return cli_usage_error(cfg, "%s", what);
            }
            i += n;
        } else if (f[i] == '\\') {
            if (!f[++i]) return cli_usage_error(cfg, "Incomplete escape specifier.", NULL);
            if (!strchr(FMT_ESCAPES, f[i])) {
                snprintf(what, sizeof what, "Invalid escape specifier '%c'.", f[i]);
                return cli_usage_error(cfg, "%s", what);
            }
        }
    }
    return 0;
}

/* ---- fields ---- */

static void fmt_repeat(int c, int n) {
    for (; n > 0; n--) putchar(c);
}

/* Text in its field: cut to the maximum width, padded with blanks to the width. */
static void fmt_text(const fmt_spec *sp, const char *s, size_t len) {
    if (sp->precision >= 0 && len > (size_t)sp->precision) len = (size_t)sp->precision;
    int pad = sp->width > (int)len ? sp->width - (int)len : 0;
    if (sp->flag != '-') fmt_repeat(' ', pad);
    fwrite(s, 1, len, stdout);
    if (sp->flag == '-') fmt_repeat(' ', pad);
}

static void fmt_number(const fmt_spec *sp, long long v) {
    if (sp->flag == '-') printf("%-*lld", sp->width, v);
    else if (sp->flag == '0') printf("%0*lld", sp->width, v);
    else printf("%*lld", sp->width, v);
}

/* An MQTT 5 number the message does not carry: mosquitto_sub fills its field all the same. */
static void fmt_no_number(const fmt_spec *sp) { fmt_repeat(sp->flag == '0' ? '0' : ' ', sp->width); }

/* A property's number (%A %E %F), or its empty field. */
static void fmt_property_number(const fmt_spec *sp, const mqttc_message *m, int id) {
    mqttc_prop p;
    if (mqttc_props_get(&m->props, id, &p)) fmt_number(sp, (long long)p.value);
    else fmt_no_number(sp);
}

/* %p: the payload's bytes; with a width, exactly that many (cut or padded), as mosquitto_sub. */
static void fmt_payload(const fmt_spec *sp, const mqttc_message *m) {
    fmt_spec cut = *sp;
    cut.precision = sp->width ? sp->width : -1;
    fmt_text(&cut, (const char *)m->payload, m->payload_len);
}

/* %x, %X: each byte as two hex digits. (mosquitto_sub 2.0.11 prints at most two bytes once a
   width is given; here the width only pads.) */
static void fmt_hex(const fmt_spec *sp, const mqttc_message *m, int is_upper) {
    const unsigned char *b = (const unsigned char *)m->payload;
    int pad = sp->width > (int)(2 * m->payload_len) ? sp->width - (int)(2 * m->payload_len) : 0;
    if (sp->flag != '-') fmt_repeat(sp->flag == '0' ? '0' : ' ', pad);
    for (size_t i = 0; i < m->payload_len; i++) printf(is_upper ? "%02X" : "%02x", b[i]);
    if (sp->flag == '-') fmt_repeat(' ', pad);
}

/* %P: every user property as name:value, separated by blanks (the same name may repeat). */
static void fmt_user_properties(const mqttc_message *m) {
    size_t pos = 0;
    int n = 0;
    mqttc_prop p;
    while (mqttc_props_next(&m->props, &pos, &p) == 1)
        if (p.id == MQTTC_PROP_USER)
            printf("%s%.*s:%.*s", n++ ? " " : "", (int)p.str.len, p.str.ptr, (int)p.val.len, p.val.ptr);
}

/* A property's string or binary data (%C %R), or when absent blanks, as mosquitto_sub
   pads %C but not %R. */
static void fmt_property_text(const fmt_spec *sp, const mqttc_message *m, int id, int is_padded_when_absent) {
    mqttc_prop p;
    if (mqttc_props_get(&m->props, id, &p)) fmt_text(sp, p.str.ptr, p.str.len);
    else if (is_padded_when_absent) fmt_repeat(' ', sp->width);
}

/* %D: the correlation data's bytes, without a field (mosquitto_sub ignores width there). */
static void fmt_correlation_data(const mqttc_message *m) {
    mqttc_prop p;
    if (mqttc_props_get(&m->props, MQTTC_PROP_CORRELATION_DATA, &p)) fwrite(p.str.ptr, 1, p.str.len, stdout);
}

/* %I: the local time the message arrived, ISO 8601. */
static void fmt_iso_time(const fmt_spec *sp, const struct timespec *now) {
    char buf[64];
    struct tm tm;
    localtime_r(&now->tv_sec, &tm);
    size_t len = strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S%z", &tm);
    fmt_text(sp, buf, len);
}

/* @X: strftime's %X; @N the nanoseconds; @@ an @. */
static void fmt_at(char conv, const struct timespec *now) {
    char spec[3] = {'%', conv, 0}, buf[128];
    struct tm tm;
    if (conv == '@') putchar('@');
    else if (conv == 'N') printf("%09ld", (long)now->tv_nsec);
    else {
        localtime_r(&now->tv_sec, &tm);
        fwrite(buf, 1, strftime(buf, sizeof buf, spec, &tm), stdout);
    }
}

static void fmt_escape(char c) {
    static const char from[] = FMT_ESCAPES, to[] = {'\\', '\0', '\a', 27, '\n', '\r', '\t', '\v'};
    const char *at = strchr(from, c);
    if (at) putchar(to[at - from]);
}

/* ---- %j and %J: the message as JSON, as mosquitto_sub writes it (cJSON's layout; with
   --pretty one member a line, indented with tabs) ---- */

typedef struct fmt_json {
    int is_pretty, depth;
    int members[4]; /* members written so far at each depth */
} fmt_json;

/* A JSON string. cJSON escapes '"', '\\' and control characters, and copies the other bytes
   as they are; it stops at a NUL (its strings are C strings). */
static void json_string(const char *s, size_t len) {
    putchar('"');
    for (size_t i = 0; i < len && s[i]; i++) {
        unsigned char c = (unsigned char)s[i];
        const char *esc = c == '"' ? "\\\"" : c == '\\' ? "\\\\" : c == '\b' ? "\\b" : c == '\f' ? "\\f"
                        : c == '\n' ? "\\n" : c == '\r' ? "\\r" : c == '\t' ? "\\t" : NULL;
        if (esc) fputs(esc, stdout);
        else if (c < 0x20) printf("\\u%04x", c);
        else putchar(c);
    }
    putchar('"');
}

/* A member's name, after the comma and (pretty) the indent of the one before. */
static void json_name(fmt_json *j, const char *name, size_t len) {
    if (j->members[j->depth]++) putchar(',');
    if (j->is_pretty) {
        putchar('\n');
        fmt_repeat('\t', j->depth);
    }
    json_string(name, len);
    putchar(':');
    if (j->is_pretty) putchar('\t');
}

static void json_key(fmt_json *j, const char *key) { json_name(j, key, strlen(key)); }

static void json_open(fmt_json *j) {
    putchar('{');
    j->members[++j->depth] = 0;
}

static void json_close(fmt_json *j) {
    if (j->is_pretty) {
        putchar('\n');
        fmt_repeat('\t', j->depth - 1);
    }
    putchar('}');
    j->depth--;
}

static void json_number(fmt_json *j, const char *key, long long v) {
    json_key(j, key);
    printf("%lld", v);
}

/* The user properties, as one object at the place of the first ({"name":"value",...}). */
static void json_user_properties(fmt_json *j, const mqttc_message *m) {
    size_t pos = 0;
    mqttc_prop p;
    json_key(j, "user-properties");
    json_open(j);
    while (mqttc_props_next(&m->props, &pos, &p) == 1) {
        if (p.id != MQTTC_PROP_USER) continue;
        json_name(j, p.str.ptr, p.str.len);
        json_string(p.val.ptr, p.val.len);
    }
    json_close(j);
}

/* The JSON name of a message property mosquitto_sub shows, or NULL. */
static const char *json_property_name(int id) {
    switch (id) {
    case MQTTC_PROP_PAYLOAD_FORMAT: return "payload-format-indicator";
    case MQTTC_PROP_MESSAGE_EXPIRY: return "message-expiry-interval";
    case MQTTC_PROP_CONTENT_TYPE: return "content-type";
    case MQTTC_PROP_RESPONSE_TOPIC: return "response-topic";
    case MQTTC_PROP_CORRELATION_DATA: return "correlation-data";
    case MQTTC_PROP_TOPIC_ALIAS: return "topic-alias";
    case MQTTC_PROP_USER: return "user-properties";
    default: return NULL;
    }
}

/* "properties":{...}: the subscription identifier first, as mosquitto puts it first in what
   it forwards (the one -D gave: those on the wire are the library's, see cli_keep_owned),
   then the others in the order the message carries them. */
static void json_properties(fmt_json *j, const cli_config *cfg, const mqttc_message *m) {
    size_t pos = 0;
    int has_users = 0, any = cfg->subscription_id != 0;
    mqttc_prop p;
    while (mqttc_props_next(&m->props, &pos, &p) == 1) any |= json_property_name(p.id) != NULL;
    if (!any) return;
    json_key(j, "properties");
    json_open(j);
    if (cfg->subscription_id) json_number(j, "subscription-identifier", cfg->subscription_id);
    for (pos = 0; mqttc_props_next(&m->props, &pos, &p) == 1;) {
        const char *name = json_property_name(p.id);
        if (!name || (p.id == MQTTC_PROP_USER && has_users++)) continue;
        if (p.id == MQTTC_PROP_USER) json_user_properties(j, m);
        else if (p.str.ptr) {
            json_key(j, name);
            json_string(p.str.ptr, p.str.len);
        } else json_number(j, name, p.value);
    }
    json_close(j);
}

/* "tst": the time it arrived, as mosquitto_sub writes it ("2020-05-06T22:12:00.000000Z+0100"). */
static void json_time(fmt_json *j, const struct timespec *now) {
    char date[40], zone[8];
    struct tm tm;
    localtime_r(&now->tv_sec, &tm);
    strftime(date, sizeof date, "%Y-%m-%dT%H:%M:%S", &tm);
    strftime(zone, sizeof zone, "%z", &tm);
    json_key(j, "tst");
    printf("\"%s.%06ldZ%s\"", date, (long)(now->tv_nsec / 1000), zone);
}

static int json_is_valid(const char *s, size_t len);

/* %j (payload as a string) and %J (the payload is JSON itself: copied as it is when valid;
   mosquitto re-writes it with cJSON); an empty payload is null in both. */
static void fmt_json_message(const cli_config *cfg, const mqttc_message *m, const struct timespec *now, int raw) {
    fmt_json j;
    memset(&j, 0, sizeof j);
    j.is_pretty = cfg->pretty;
    if (raw && m->payload_len && !json_is_valid((const char *)m->payload, m->payload_len)) {
        if (!cfg->quiet) fprintf(stderr, "Error: Message payload is not valid JSON on topic %s.\n", m->topic);
        return;
    }
    json_open(&j);
    json_time(&j, now);
    json_key(&j, "topic");
    json_string(m->topic, m->topic_len);
    json_number(&j, "qos", m->qos);
    json_number(&j, "retain", m->retain);
    json_number(&j, "payloadlen", (long long)m->payload_len);
    if (m->qos > 0) json_number(&j, "mid", m->packet_id);
    json_properties(&j, cfg, m);
    json_key(&j, "payload");
    if (m->payload_len == 0) fputs("null", stdout);
    else if (raw) fwrite(m->payload, 1, m->payload_len, stdout);
    else json_string((const char *)m->payload, m->payload_len);
    json_close(&j);
}

/* ---- a JSON checker for %J: RFC 8259's grammar, recursion bounded ---- */

typedef struct json_in {
    const char *s;
    size_t len, at;
    int depth;
} json_in;

static void json_blank(json_in *in) {
    while (in->at < in->len && strchr(" \t\r\n", in->s[in->at])) in->at++;
}

static int json_char(json_in *in, char c) {
    json_blank(in);
    if (in->at >= in->len || in->s[in->at] != c) return 0;
    in->at++;
    return 1;
}

static int json_word(json_in *in, const char *w) {
    size_t n = strlen(w);
    if (in->len - in->at < n || memcmp(in->s + in->at, w, n)) return 0;
    in->at += n;
    return 1;
}

static int json_digits(json_in *in) {
    size_t start = in->at;
    while (in->at < in->len && isdigit((unsigned char)in->s[in->at])) in->at++;
    return in->at > start;
}

static int json_number_ok(json_in *in) {
    json_char(in, '-');
    if (!json_char(in, '0') && !json_digits(in)) return 0;
    if (json_char(in, '.') && !json_digits(in)) return 0;
    if (in->at < in->len && (in->s[in->at] == 'e' || in->s[in->at] == 'E')) {
        in->at++;
        if (in->at < in->len && (in->s[in->at] == '+' || in->s[in->at] == '-')) in->at++;
        return json_digits(in);
    }
    return 1;
}

static int json_string_ok(json_in *in) {
    while (in->at < in->len) {
        unsigned char c = (unsigned char)in->s[in->at++];
        if (c == '"') return 1;
        if (c < 0x20) return 0;
        if (c != '\\' || in->at >= in->len) continue;
        c = (unsigned char)in->s[in->at++];
        if (c == 'u') {
            for (int k = 0; k < 4; k++)
                if (in->at >= in->len || !isxdigit((unsigned char)in->s[in->at++])) return 0;
        } else if (!strchr("\"\\/bfnrt", c)) return 0;
    }
    return 0;
}

static int json_value_ok(json_in *in);

/* The members of an object or the elements of an array, up to `close`. */
static int json_members_ok(json_in *in, char close, int is_object) {
    if (json_char(in, close)) return 1;
    do {
        if (is_object && !(json_char(in, '"') && json_string_ok(in) && json_char(in, ':'))) return 0;
        if (!json_value_ok(in)) return 0;
    } while (json_char(in, ','));
    return json_char(in, close);
}

static int json_value_ok(json_in *in) {
    int ok;
    json_blank(in);
    if (in->at >= in->len || ++in->depth > 64) return 0;
    char c = in->s[in->at];
    if (c == '{' || c == '[') {
        in->at++;
        ok = json_members_ok(in, c == '{' ? '}' : ']', c == '{');
    } else if (c == '"') {
        in->at++;
        ok = json_string_ok(in);
    } else if (c == '-' || isdigit((unsigned char)c)) ok = json_number_ok(in);
    else ok = json_word(in, "true") || json_word(in, "false") || json_word(in, "null");
    in->depth--;
    return ok;
}

static int json_is_valid(const char *s, size_t len) {
    json_in in = {s, len, 0, 0};
    if (!json_value_ok(&in)) return 0;
    json_blank(&in);
    return in.at == len;
}

/* ---- the format ---- */

/* One %-directive of a message that arrived at `now`. */
static void fmt_directive(const cli_config *cfg, const fmt_spec *sp, const mqttc_message *m,
                          const struct timespec *now) {
    switch (sp->conv) {
    case '%': putchar('%'); break;
    case 'A': fmt_property_number(sp, m, MQTTC_PROP_TOPIC_ALIAS); break;
    case 'C': fmt_property_text(sp, m, MQTTC_PROP_CONTENT_TYPE, 1); break;
    case 'D': fmt_correlation_data(m); break;
    case 'E': fmt_property_number(sp, m, MQTTC_PROP_MESSAGE_EXPIRY); break;
    case 'F': fmt_property_number(sp, m, MQTTC_PROP_PAYLOAD_FORMAT); break;
    case 'I': fmt_iso_time(sp, now); break;
    case 'j': fmt_json_message(cfg, m, now, 0); break;
    case 'J': fmt_json_message(cfg, m, now, 1); break;
    case 'l': fmt_number(sp, (long long)m->payload_len); break;
    case 'm': fmt_number(sp, m->packet_id); break;
    case 'P': fmt_user_properties(m); break;
    case 'p': fmt_payload(sp, m); break;
    case 'q': printf("%d", m->qos); break;
    case 'R': fmt_property_text(sp, m, MQTTC_PROP_RESPONSE_TOPIC, 0); break;
    case 'r': printf("%d", m->retain); break;
    case 'S':
        if (cfg->subscription_id) fmt_number(sp, cfg->subscription_id);
        else fmt_no_number(sp);
        break;
    case 't': fmt_text(sp, m->topic, m->topic_len); break;
    case 'U': printf("%lld.%09ld", (long long)now->tv_sec, (long)now->tv_nsec); break;
    case 'x':
    case 'X': fmt_hex(sp, m, sp->conv == 'X'); break;
    }
}

/* Prints one message by the -F format (checked by fmt_check). */
static void fmt_print(const cli_config *cfg, const mqttc_message *m) {
    const char *f = cfg->format;
    struct timespec now;
    fmt_spec sp;
    clock_gettime(CLOCK_REALTIME, &now);
    for (size_t i = 0; f[i]; i++) {
        if (f[i] == '%') {
            i += fmt_read_spec(f + i + 1, &sp);
            fmt_directive(cfg, &sp, m, &now);
        } else if (f[i] == '@') fmt_at(f[++i], &now);
        else if (f[i] == '\\') fmt_escape(f[++i]);
        else putchar(f[i]);
    }
}

#endif /* CLI_FORMAT_H */
