/* fuzz/fuzz_store.c - the bundled file store (>>filestore) opening a log it did not write:
   the input is written as dir/<id>/log (the directory made once per process) and the store
   opened on it. Checks: opening never fails on content; skipped and problem agree (a
   problem named exactly when something was skipped); every record loaded is a kind 1..3
   with data only for a PUBLISH, never two for one direction and id; the log is rewritten
   clean: opened again it skips nothing and loads the same records in the same order; then
   a put and a remove on the reopened store, and once more the same after a reopen. The
   records are also given to a client (mqttc_init loads them as its session): it must take
   or skip each without harm. */
#define MQTTC_IMPLEMENTATION
#include "mqttc.h"
#include <fcntl.h>
#include <sys/stat.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#define FUZZ_TARGET "fuzz_store"
#include "fuzz/fuzz.h"

typedef struct fz_rec {
    int kind;
    unsigned short id;
    size_t len;
    uint32_t crc; /* of the data */
} fz_rec;

typedef struct fz_loaded {
    fz_rec *r;
    size_t n, cap;
} fz_loaded;

static int fz_collect(void *arg, const mqttc_stored *st) {
    fz_loaded *L = (fz_loaded *)arg;
    FUZZ_REQUIRE(st->kind >= MQTTC_STORED_PUBLISH && st->kind <= MQTTC_STORED_PUBREC);
    FUZZ_REQUIRE((st->kind == MQTTC_STORED_PUBLISH) || st->len == 0);
    FUZZ_REQUIRE(!st->len || st->data);
    for (size_t i = 0; i < L->n; i++) /* one record per direction and id */
        FUZZ_REQUIRE(!(L->r[i].id == st->packet_id &&
                       (L->r[i].kind == MQTTC_STORED_PUBREC) == (st->kind == MQTTC_STORED_PUBREC)));
    if (L->n == L->cap) {
        L->cap = L->cap ? L->cap * 2 : 16;
        L->r = (fz_rec *)realloc(L->r, L->cap * sizeof *L->r);
        FUZZ_REQUIRE(L->r != NULL);
    }
    fz_rec *r = &L->r[L->n++];
    r->kind = st->kind;
    r->id = st->packet_id;
    r->len = st->len;
    r->crc = mqttc__crc32(0, st->data, st->len);
    return 0;
}

static void fz_load(mqttc_file_store *fs, fz_loaded *L) {
    L->n = 0;
    FUZZ_REQUIRE(fs->store.load(fs->store.ctx, fz_collect, L) == MQTTC_OK);
}

static void fz_same(const fz_loaded *a, const fz_loaded *b) {
    FUZZ_REQUIRE(a->n == b->n);
    for (size_t i = 0; i < a->n; i++)
        FUZZ_REQUIRE(a->r[i].kind == b->r[i].kind && a->r[i].id == b->r[i].id && a->r[i].len == b->r[i].len &&
                     a->r[i].crc == b->r[i].crc);
}

static char fz_dir[64];
static char fz_log[256];

static void fz_cleanup(void) {
    unlink(fz_log);
    char sub[128];
    snprintf(sub, sizeof sub, "%s/fuzz", fz_dir);
    char tmp[300];
    snprintf(tmp, sizeof tmp, "%s.new", fz_log);
    unlink(tmp);
    rmdir(sub);
    rmdir(fz_dir);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (!fz_dir[0]) {
        snprintf(fz_dir, sizeof fz_dir, "/tmp/mqttc_fuzz_store.XXXXXX");
        FUZZ_REQUIRE(mkdtemp(fz_dir) != NULL);
        char sub[128];
        snprintf(sub, sizeof sub, "%s/fuzz", fz_dir);
        FUZZ_REQUIRE(mkdir(sub, 0700) == 0);
        snprintf(fz_log, sizeof fz_log, "%s/log", sub);
        atexit(fz_cleanup);
    }
    int fd = open(fz_log, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    FUZZ_REQUIRE(fd >= 0);
    for (size_t at = 0; at < size;) {
        ssize_t w = write(fd, data + at, size - at);
        FUZZ_REQUIRE(w > 0);
        at += (size_t)w;
    }
    close(fd);

    mqttc_file_store fs;
    fz_loaded first = {0}, again = {0};
    FUZZ_REQUIRE(mqttc_file_store_open(&fs, fz_dir, "fuzz", 1000) == MQTTC_OK);
    FUZZ_REQUIRE((fs.problem != NULL) == (fs.skipped != 0));
    FUZZ_REQUIRE(fs.skipped <= size);
    if (size == 0) FUZZ_REQUIRE(fs.skipped == 0);
    fz_load(&fs, &first);
    FUZZ_REQUIRE(first.n <= size / 14);

    /* a client takes the records as its session, or skips them */
    mqttc_client c;
    mqttc_options o;
    memset(&o, 0, sizeof o);
    o.client_id = "fuzz";
    o.no_clean_session = 1;
    o.store = &fs.store;
    int rc = mqttc_init(&c, &o);
    FUZZ_REQUIRE(rc == MQTTC_OK);
    FUZZ_REQUIRE(mqttc_inflight(&c) <= first.n);
    mqttc_deinit(&c);
    mqttc_file_store_close(&fs);

    /* rewritten clean: the same records, nothing skipped */
    FUZZ_REQUIRE(mqttc_file_store_open(&fs, fz_dir, "fuzz", 0) == MQTTC_OK);
    FUZZ_REQUIRE(fs.skipped == 0 && fs.problem == NULL);
    fz_load(&fs, &again);
    fz_same(&first, &again);

    /* and it goes on working: a put and a remove, kept across a reopen */
    mqttc_stored r;
    memset(&r, 0, sizeof r);
    r.kind = MQTTC_STORED_PUBREL;
    r.packet_id = size ? data[0] : 1;
    FUZZ_REQUIRE(fs.store.put(fs.store.ctx, &r) == MQTTC_OK);
    FUZZ_REQUIRE(fs.store.remove(fs.store.ctx, 1, size > 1 ? data[1] : 2) == MQTTC_OK);
    fz_load(&fs, &first);
    mqttc_file_store_close(&fs);
    FUZZ_REQUIRE(mqttc_file_store_open(&fs, fz_dir, "fuzz", 0) == MQTTC_OK);
    FUZZ_REQUIRE(fs.skipped == 0);
    fz_load(&fs, &again);
    fz_same(&first, &again);
    mqttc_file_store_close(&fs);
    free(first.r);
    free(again.r);
    return 0;
}
