/* tests/test_cover_nomem.c - running out of memory, one allocation at a time. mqttc's
   allocations go through MQTTC_MALLOC/REALLOC/FREE (here an allocator that fails the k-th
   call); a scenario (a client's whole life in MQTT 3.1.1 and 5 over the in-memory link, the
   file store's) runs once for every k until none fails. Each time the failure is either
   reported (MQTTC_ERR_NOMEM from a call or as the client's error; see note() for the
   record pools' BUSY and OVERFLOW) or harmless (the scenario's
   outcome is the one without any failure); calls never return anything else; and nothing
   leaks (Valgrind, ASan), whatever failed. */
#define _POSIX_C_SOURCE 200809L
#include <stdlib.h>
#include <string.h>

static long alloc_calls, fail_at, failed; /* calls so far; the one to fail (0: none); failures */
static void *test_realloc(void *p, size_t n) {
    if (++alloc_calls == fail_at) {
        failed++;
        return NULL;
    }
    return realloc(p, n);
}
#define MQTTC_MALLOC(n) test_realloc(NULL, n)
#define MQTTC_REALLOC(p, n) test_realloc(p, n)
#define MQTTC_FREE(p) free(p)
#define MQTTC_IMPLEMENTATION
#include "mqttc.h"
#include "tests/test.h"

#include <sys/stat.h>
#include <unistd.h>

/* ---- a broker that answers whatever the client sent ---- */

typedef struct run {
    int version;
    int nomem_seen; /* a call returned MQTTC_ERR_NOMEM, or the client's error is it */
    int other_rc;   /* a call returned something else that is not OK (0: none) */
    int messages, completed, subacks;
    size_t payload_bytes;
} run;

/* A call's result. Reported: NOMEM; and BUSY (a record pool that could not grow: the
   in-flight and handler pools say "full, retry" for it) and OVERFLOW (the same for a
   record the broker's packet needed: the client ends the connection). Expected: OK, STATE
   (the client closed already), DISCONNECT (after mqttc_disconnect). Anything else is not. */
static void note(run *r, int rc) {
    if (rc == MQTTC_ERR_NOMEM || rc == MQTTC_ERR_BUSY || rc == MQTTC_ERR_OVERFLOW) r->nomem_seen = 1;
    else if (rc != MQTTC_OK && rc != MQTTC_ERR_STATE && rc != MQTTC_ERR_DISCONNECT && !r->other_rc) r->other_rc = rc;
}

static void on_message(mqttc_client *c, const mqttc_message *m, void *user) {
    run *r = (run *)user;
    (void)c;
    r->messages++;
    r->payload_bytes += m->payload_len;
}
static void on_published(mqttc_client *c, const mqttc_ack_info *a, void *user) {
    (void)c;
    (void)a;
    ((run *)user)->completed++;
}
static void on_suback(mqttc_client *c, const mqttc_suback_info *s, void *user) {
    (void)c;
    (void)s;
    ((run *)user)->subacks++;
}

static void feed_ack(mem_link *l, int version, int type, unsigned short id) {
    unsigned char b[16];
    size_t n = 0;
    mqttc_ack_info a;
    memset(&a, 0, sizeof a);
    a.type = type;
    a.packet_id = id;
    if (mqttc_encode_ack(b, sizeof b, version, &a, &n) == MQTTC_OK) mem_feed(l, b, n);
}

/* Answers every packet the client sent since *pos: SUBACK, PUBACK, PUBREC, PUBCOMP. */
static void answer(mem_link *l, size_t *pos, int version) {
    mqttc_packet p;
    size_t used;
    while (*pos < l->out_len && mqttc_decode(l->out + *pos, l->out_len - *pos, 0, version, &p, &used) == MQTTC_OK) {
        *pos += used;
        unsigned short id = mqttc_packet_id(&p);
        if (p.type == MQTTC_SUBSCRIBE) {
            unsigned char b[32], codes[8] = {1, 2, 1, 2, 1, 2, 1, 2};
            mqttc_suback_info sa;
            size_t n = 0;
            memset(&sa, 0, sizeof sa);
            sa.packet_id = id;
            sa.codes = codes;
            sa.count = p.subscribe.count < 8 ? p.subscribe.count : 8;
            if (mqttc_encode_suback(b, sizeof b, version, &sa, &n) == MQTTC_OK) mem_feed(l, b, n);
        } else if (p.type == MQTTC_PUBLISH && p.publish.qos == 1) {
            feed_ack(l, version, MQTTC_PUBACK, id);
        } else if (p.type == MQTTC_PUBLISH && p.publish.qos == 2) {
            feed_ack(l, version, MQTTC_PUBREC, id);
        } else if (p.type == MQTTC_PUBREL) {
            feed_ack(l, version, MQTTC_PUBCOMP, id);
        }
    }
}

static void steps(mqttc_client *c, run *r, mem_link *l, size_t *pos, uint64_t now) {
    for (int i = 0; i < 8; i++) {
        note(r, mqttc_step(c, now));
        answer(l, pos, r->version);
    }
}

/* A PUBLISH from the broker, as the version writes it (MQTT 5: with a topic alias). */
static void feed_publish(mem_link *l, int version, const char *topic, size_t len, int qos, unsigned short id,
                         unsigned short alias) {
    static unsigned char payload[3000], b[3100];
    unsigned char props[3] = {MQTTC_PROP_TOPIC_ALIAS, (unsigned char)(alias >> 8), (unsigned char)alias};
    mqttc_publish_info pi;
    size_t n = 0;
    memset(&pi, 0, sizeof pi);
    memset(payload, 'p', sizeof payload);
    pi.topic = topic;
    pi.topic_len = strlen(topic);
    pi.payload = payload;
    pi.payload_len = len;
    pi.qos = qos;
    pi.packet_id = id;
    if (version == MQTTC_PROTOCOL_5 && alias) {
        pi.props.ptr = props;
        pi.props.len = 3;
    }
    if (mqttc_encode_publish(b, sizeof b, version, &pi, &n) == MQTTC_OK) mem_feed(l, b, n);
}

/* A client's life: connect (MQTT 5: the broker assigns the id and allows aliases),
   subscribe, publish at each QoS (one large), receive at each QoS (one large, MQTT 5 through
   an alias), unsubscribe, disconnect. */
static void client_life(run *r) {
    mqttc_client c;
    mem_link l;
    size_t pos = 0;
    memset(&l, 0, sizeof l);
    mqttc_options o;
    memset(&o, 0, sizeof o);
    o.protocol_version = r->version;
    o.client_id = r->version == MQTTC_PROTOCOL_5 ? "" : "nomem";
    o.will_topic = "will/t";
    o.will_payload = "gone";
    o.will_payload_len = 4;
    o.on_message = on_message;
    o.on_published = on_published;
    o.user = r;
    if (r->version == MQTTC_PROTOCOL_5) {
        o.topic_alias_in = 4;
        o.topic_alias_out = 4;
        o.session_expiry_s = 60;
    }
    int rc = mqttc_init(&c, &o);
    note(r, rc);
    if (rc != MQTTC_OK) return;
    mqttc_transport t = mem_transport(&l);
    note(r, mqttc_start_transport(&c, &t, 0));
    unsigned char ack[64];
    size_t n = 0;
    mqttc_connack_info ca;
    memset(&ca, 0, sizeof ca);
    static const unsigned char v5props[] = {MQTTC_PROP_TOPIC_ALIAS_MAX, 0, 4, MQTTC_PROP_ASSIGNED_CLIENT_ID, 0, 3, 'i', 'd', '7'};
    if (r->version == MQTTC_PROTOCOL_5) {
        ca.props.ptr = v5props;
        ca.props.len = sizeof v5props;
    }
    if (mqttc_encode_connack(ack, sizeof ack, r->version, &ca, &n) == MQTTC_OK) mem_feed(&l, ack, n);
    steps(&c, r, &l, &pos, 1);

    const char *filters[] = {"in/#", "other/+"};
    const unsigned char qos[] = {2, 1};
    note(r, mqttc_subscribe(&c, "in/#", 2, on_suback, on_message, r, NULL));
    note(r, mqttc_subscribe_many(&c, filters, qos, 2, on_suback, on_message, r, NULL));
    steps(&c, r, &l, &pos, 2);

    static unsigned char big[2500];
    memset(big, 'b', sizeof big);
    note(r, mqttc_publish(&c, "out/big", big, sizeof big, 0, 0, NULL));
    note(r, mqttc_publish(&c, "out/one", "1", 1, 1, 0, NULL));
    note(r, mqttc_publish(&c, "out/two", "2", 1, 2, 0, NULL));
    note(r, mqttc_publish(&c, "out/two", "2", 1, 2, 0, NULL)); /* MQTT 5: the alias again */
    steps(&c, r, &l, &pos, 3);

    feed_publish(&l, r->version, "in/a", 2900, 0, 0, 0);
    feed_publish(&l, r->version, "in/b", 10, 1, 1, 1);
    feed_publish(&l, r->version, r->version == MQTTC_PROTOCOL_5 ? "" : "in/c", 10, 2, 2, 1); /* MQTT 5: by the alias alone */
    feed_ack(&l, r->version, MQTTC_PUBREL, 2);
    steps(&c, r, &l, &pos, 4);

    note(r, mqttc_unsubscribe(&c, "other/+", NULL, NULL, NULL));
    steps(&c, r, &l, &pos, 5);
    note(r, mqttc_disconnect(&c));
    steps(&c, r, &l, &pos, 6);
    if (mqttc_error(&c) == MQTTC_ERR_NOMEM || mqttc_error(&c) == MQTTC_ERR_OVERFLOW) r->nomem_seen = 1;
    mqttc_deinit(&c);
    mem_free(&l);
}

static int same_outcome(const run *a, const run *b) {
    return a->messages == b->messages && a->completed == b->completed && a->subacks == b->subacks &&
           a->payload_bytes == b->payload_bytes;
}

static void sweep_client(int version) {
    run clean;
    memset(&clean, 0, sizeof clean);
    clean.version = version;
    fail_at = 0;
    alloc_calls = 0;
    client_life(&clean);
    CHECK_EQ_INT(clean.nomem_seen, 0);
    CHECK_EQ_INT(clean.other_rc, 0);
    CHECK_EQ_INT(clean.messages, 3);
    CHECK_EQ_INT(clean.completed, 3);
    long total = alloc_calls;
    CHECK(total > 5);
    for (long k = 1; k <= total; k++) {
        run r;
        memset(&r, 0, sizeof r);
        r.version = version;
        fail_at = k;
        alloc_calls = 0;
        failed = 0;
        client_life(&r);
        CHECK_MSG(r.other_rc == 0, "allocation %ld of %ld failed: a call returned %s", k, total, mqttc_errname(r.other_rc));
        CHECK_MSG(r.nomem_seen || same_outcome(&r, &clean),
                  "allocation %ld of %ld failed unreported: %d messages, %d completed, %d subacks (want %d, %d, %d)", k,
                  total, r.messages, r.completed, r.subacks, clean.messages, clean.completed, clean.subacks);
    }
    fail_at = 0;
}

TEST(every_allocation_of_a_mqtt311_client_may_fail) { sweep_client(MQTTC_PROTOCOL_311); }
TEST(every_allocation_of_a_mqtt5_client_may_fail) { sweep_client(MQTTC_PROTOCOL_5); }

/* ---- an MQTT 5 client that authenticates, is told to go, and comes back ---- */

/* A store in memory holding one outgoing QoS 1 PUBLISH (id 7) from a previous run. */
static int mstore_put(void *ctx, const mqttc_stored *r) { (void)ctx; (void)r; return MQTTC_OK; }
static int mstore_remove(void *ctx, int in, unsigned short id) { (void)ctx; (void)in; (void)id; return MQTTC_OK; }
static int mstore_load(void *ctx, int (*each)(void *, const mqttc_stored *), void *arg) {
    static const unsigned char pub[] = {0x32, 0x09, 0, 3, 'o', '/', 's', 0, 7, 0, 'x'}; /* MQTT 5: property length 0 */
    mqttc_stored r = {MQTTC_STORED_PUBLISH, 7, pub, sizeof pub};
    (void)ctx;
    return each(arg, &r);
}

static mem_link relink;
static int relinked;
static int redial(mqttc_client *c, mqttc_transport *t, void *user) {
    (void)c; (void)user;
    mem_free(&relink);
    memset(&relink, 0, sizeof relink);
    relinked++;
    *t = mem_transport(&relink);
    return MQTTC_OK;
}

/* A client that dials again reports the end of a connection here. */
static void on_status(mqttc_client *c, const mqttc_status *s, void *user) {
    (void)c;
    if (s->error == MQTTC_ERR_NOMEM || s->error == MQTTC_ERR_OVERFLOW) ((run *)user)->nomem_seen = 1;
}

static int on_auth(mqttc_client *c, const mqttc_auth_info *in, mqttc_str *out, void *user) {
    (void)c; (void)in; (void)user;
    out->ptr = "proof";
    out->len = 5;
    return 0;
}

static void feed_connack5(mem_link *l) {
    static const unsigned char props[] = {MQTTC_PROP_AUTH_METHOD, 0, 1, 'M', MQTTC_PROP_REASON_STRING, 0, 2, 'h', 'i'};
    unsigned char b[32];
    size_t n = 0;
    mqttc_connack_info ca;
    memset(&ca, 0, sizeof ca);
    ca.props.ptr = props;
    ca.props.len = sizeof props;
    if (mqttc_encode_connack(b, sizeof b, MQTTC_PROTOCOL_5, &ca, &n) == MQTTC_OK) mem_feed(l, b, n);
}

static void client_comeback_life(run *r) {
    mqttc_client c;
    mem_link l;
    size_t pos = 0;
    memset(&l, 0, sizeof l);
    memset(&relink, 0, sizeof relink);
    relinked = 0;
    static const unsigned char method[] = {MQTTC_PROP_AUTH_METHOD, 0, 1, 'M'};
    mqttc_store st = {mstore_put, mstore_remove, mstore_load, NULL, NULL};
    mqttc_options o;
    memset(&o, 0, sizeof o);
    o.protocol_version = MQTTC_PROTOCOL_5;
    o.client_id = "comeback";
    o.connect_props.ptr = method;
    o.connect_props.len = sizeof method;
    o.on_auth = on_auth;
    o.store = &st;
    o.reconnect_min_ms = 1;
    o.reconnect_max_ms = 2;
    o.reconnect_transport = redial;
    o.on_message = on_message;
    o.on_published = on_published;
    o.on_status = on_status;
    o.user = r;
    int rc = mqttc_init(&c, &o);
    if (rc == MQTTC_ERR_STORE) rc = MQTTC_ERR_NOMEM; /* (loading the store ran out: init says the store failed) */
    note(r, rc);
    if (rc != MQTTC_OK) return;
    mqttc_transport t = mem_transport(&l);
    note(r, mqttc_start_transport(&c, &t, 0));
    /* AUTH continue (method M), then CONNACK */
    static const unsigned char auth[] = {0xF0, 0x06, 0x18, 0x04, MQTTC_PROP_AUTH_METHOD, 0, 1, 'M'};
    mem_feed(&l, auth, sizeof auth);
    steps(&c, r, &l, &pos, 1);
    feed_connack5(&l);
    steps(&c, r, &l, &pos, 2);
    note(r, mqttc_subscribe(&c, "a/#", 1, on_suback, on_message, r, NULL));
    note(r, mqttc_subscribe(&c, "b/+", 2, on_suback, on_message, r, NULL));
    steps(&c, r, &l, &pos, 3);
    note(r, mqttc_publish(&c, "o/q", "q", 1, 1, 0, NULL));
    /* the broker goes: DISCONNECT 0x8B, server shutting down, with a reason string */
    static const unsigned char bye[] = {0xE0, 0x07, 0x8B, 0x05, MQTTC_PROP_REASON_STRING, 0, 2, 'b', 'y'};
    l.write_stalled = 1; /* (the PUBLISH waits: it goes again on the next connection) */
    mem_feed(&l, bye, sizeof bye);
    steps(&c, r, &l, &pos, 4);
    /* dialled again: the session is gone (CONNACK without session present) */
    size_t pos2 = 0;
    for (int i = 0; i < 20 && relinked == 0; i++) note(r, mqttc_step(&c, 10 + (uint64_t)i));
    if (relinked) {
        mem_feed(&relink, auth, sizeof auth);
        steps(&c, r, &relink, &pos2, 40);
        feed_connack5(&relink);
        steps(&c, r, &relink, &pos2, 41);
        feed_publish(&relink, MQTTC_PROTOCOL_5, "a/x", 5, 1, 3, 0);
        steps(&c, r, &relink, &pos2, 42);
        static const unsigned char user_prop[] = {MQTTC_PROP_USER, 0, 1, 'k', 0, 1, 'v'};
        mqttc_disconnect_info di;
        memset(&di, 0, sizeof di);
        di.reason_code = 0x04;
        di.props.ptr = user_prop;
        di.props.len = sizeof user_prop;
        note(r, mqttc_disconnect_with(&c, &di));
        steps(&c, r, &relink, &pos2, 43);
    }
    if (mqttc_error(&c) == MQTTC_ERR_NOMEM || mqttc_error(&c) == MQTTC_ERR_OVERFLOW) r->nomem_seen = 1;
    r->subacks += relinked * 100;
    mqttc_deinit(&c);
    mem_free(&l);
    mem_free(&relink);
}

TEST(every_allocation_of_a_client_that_comes_back_may_fail) {
    run clean;
    memset(&clean, 0, sizeof clean);
    clean.version = MQTTC_PROTOCOL_5;
    fail_at = 0;
    alloc_calls = 0;
    client_comeback_life(&clean);
    CHECK_EQ_INT(clean.nomem_seen, 0);
    CHECK_EQ_INT(clean.other_rc, 0);
    CHECK_EQ_INT(clean.subacks, 100 + 2); /* one redial; two SUBACKs (the filters again: no callback) */
    CHECK_EQ_INT(clean.messages, 1);
    CHECK_EQ_INT(clean.completed, 2); /* the stored one and the new one, on the second link */
    long total = alloc_calls;
    for (long k = 1; k <= total; k++) {
        run r;
        memset(&r, 0, sizeof r);
        r.version = MQTTC_PROTOCOL_5;
        fail_at = k;
        alloc_calls = 0;
        client_comeback_life(&r);
        CHECK_MSG(r.other_rc == 0, "allocation %ld of %ld failed: a call returned %s", k, total, mqttc_errname(r.other_rc));
        CHECK_MSG(r.nomem_seen || same_outcome(&r, &clean),
                  "allocation %ld of %ld failed unreported: %d messages, %d completed, %d subacks (want %d, %d, %d)", k,
                  total, r.messages, r.completed, r.subacks, clean.messages, clean.completed, clean.subacks);
    }
    fail_at = 0;
}

/* ---- the file store ---- */

static char store_dir[64];

static int count_each(void *arg, const mqttc_stored *r) {
    (void)r;
    (*(int *)arg)++;
    return 0;
}

/* Opens, puts a few records (one PUBLISH with data), removes one, reopens (the log read
   back and compacted), loads. Returns how many records load found, or -1 on NOMEM. */
static int store_life(int *nomem) {
    mqttc_file_store fs;
    static const unsigned char data[] = {0x32, 0x06, 0, 1, 't', 0, 1, 'x'};
    mqttc_stored r1 = {MQTTC_STORED_PUBLISH, 1, data, sizeof data};
    mqttc_stored r2 = {MQTTC_STORED_PUBREL, 2, NULL, 0};
    mqttc_stored r3 = {MQTTC_STORED_PUBREC, 3, NULL, 0};
    int found = 0, rc;
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s/nomem", store_dir);
    if (system(cmd) != 0) return -2;
    for (int pass = 0; pass < 2; pass++) {
        rc = mqttc_file_store_open(&fs, store_dir, "nomem", 0);
        if (rc == MQTTC_ERR_NOMEM) { *nomem = 1; return -1; }
        if (rc != MQTTC_OK) return -3;
        if (pass == 0) {
            const mqttc_stored *all[] = {&r1, &r2, &r3};
            for (int i = 0; i < 3; i++) {
                rc = fs.store.put(fs.store.ctx, all[i]);
                if (rc == MQTTC_ERR_NOMEM) *nomem = 1;
                else if (rc != MQTTC_OK) found = -4;
            }
            rc = fs.store.remove(fs.store.ctx, 1, 3);
            if (rc != MQTTC_OK && rc != MQTTC_ERR_NOMEM) found = -5;
        } else {
            rc = fs.store.load(fs.store.ctx, count_each, &found);
            if (rc == MQTTC_ERR_NOMEM) { *nomem = 1; found = -1; }
        }
        mqttc_file_store_close(&fs);
    }
    return found;
}

TEST(every_allocation_of_the_file_store_may_fail) {
    snprintf(store_dir, sizeof store_dir, "/tmp/mqttc-nomem.%ld", (long)getpid());
    int nomem = 0;
    fail_at = 0;
    alloc_calls = 0;
    CHECK_EQ_INT(store_life(&nomem), 2); /* the PUBLISH and the PUBREL; the PUBREC removed */
    long total = alloc_calls;
    for (long k = 1; k <= total; k++) {
        nomem = 0;
        fail_at = k;
        alloc_calls = 0;
        int found = store_life(&nomem);
        CHECK_MSG(found == 2 || (nomem && found >= -1), "allocation %ld of %ld failed: %d found, nomem %d", k, total,
                  found, nomem);
    }
    fail_at = 0;
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", store_dir);
    CHECK(system(cmd) == 0);
}

int main(void) {
    RUN(every_allocation_of_a_mqtt311_client_may_fail);
    RUN(every_allocation_of_a_mqtt5_client_may_fail);
    RUN(every_allocation_of_a_client_that_comes_back_may_fail);
    RUN(every_allocation_of_the_file_store_may_fail);
    return test_report();
}
