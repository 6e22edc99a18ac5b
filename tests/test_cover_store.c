/* tests/test_cover_store.c - the bundled file store where the file system says no, and at
   its edges: a directory that cannot be made or opened, a log that is not a file, a disk
   that takes no more bytes (RLIMIT_FSIZE), a bad record, flushing after flush_ms, the log
   compacted while running (a live PUBLISH read back from it), load stopped by its callback. */
#define _POSIX_C_SOURCE 200809L
#include <stdlib.h>
#define MQTTC_IMPLEMENTATION
#include "mqttc.h"
#include "tests/test.h"

#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static char root[64];

static void sh(const char *fmt) { /* fmt's %s (up to two): the test's directory */
    char cmd[256];
    snprintf(cmd, sizeof cmd, fmt, root, root);
    CHECK(system(cmd) == 0);
}

TEST(directories_the_file_system_refuses) {
    mqttc_file_store fs;
    char dir[128];
    sh("mkdir -p %s && touch %s/plainfile");
    snprintf(dir, sizeof dir, "%s/plainfile/sub", root); /* under a regular file: ENOTDIR */
    CHECK_RC(mqttc_file_store_open(&fs, dir, "id", 0), MQTTC_ERR_STORE);
    snprintf(dir, sizeof dir, "%s/d1", root);
    sh("mkdir -p %s/d1 && touch %s/d1/id");  /* the client's directory is a file */
    CHECK_RC(mqttc_file_store_open(&fs, dir, "id", 0), MQTTC_ERR_STORE);
    snprintf(dir, sizeof dir, "%s/d2", root);
    sh("mkdir -p %s/d2/id/log"); /* the log is a directory */
    CHECK_RC(mqttc_file_store_open(&fs, dir, "id", 0), MQTTC_ERR_STORE);
    CHECK_RC(mqttc_file_store_open(&fs, dir, "other", 0), MQTTC_OK); /* the next id is fine */
    mqttc_file_store_close(&fs);
}

static int count_each(void *arg, const mqttc_stored *r) {
    int *n = (int *)arg;
    (void)r;
    return ++*n == 1 ? 7 : 0; /* stop at the first */
}

static int find_one(void *arg, const mqttc_stored *r) {
    size_t *len = (size_t *)arg;
    if (r->kind == MQTTC_STORED_PUBLISH && r->packet_id == 1) *len = r->len;
    return 0;
}

TEST(records_flush_load_and_compaction) {
    mqttc_file_store fs;
    char dir[128];
    snprintf(dir, sizeof dir, "%s/d3", root);
    CHECK_RC(mqttc_file_store_open(&fs, dir, "id", 20), MQTTC_OK);
    mqttc_stored bad = {MQTTC_STORED_PUBLISH, 1, NULL, 5}; /* data announced, none given */
    CHECK_RC(fs.store.put(fs.store.ctx, &bad), MQTTC_ERR_ARG);
    static unsigned char pub[1024];
    memset(pub, 0, sizeof pub);
    pub[0] = 0x32; /* (the store keeps bytes; it does not parse them) */
    mqttc_stored live = {MQTTC_STORED_PUBLISH, 1, pub, sizeof pub};
    CHECK_RC(fs.store.put(fs.store.ctx, &live), MQTTC_OK);
    CHECK_EQ_INT(fs.is_dirty, 1);
    CHECK_RC(fs.store.flush(fs.store.ctx), MQTTC_OK); /* within flush_ms: not yet */
    CHECK_EQ_INT(fs.is_dirty, 1);
    struct timespec ts = {0, 30 * 1000000L};
    nanosleep(&ts, NULL);
    CHECK_RC(fs.store.flush(fs.store.ctx), MQTTC_OK);
    CHECK_EQ_INT(fs.is_dirty, 0);
    /* churn: the log grows past 64 KiB with one live record: compacted on the way */
    mqttc_stored churn = {MQTTC_STORED_PUBLISH, 2, pub, sizeof pub};
    for (int i = 0; i < 100; i++) {
        CHECK_RC(fs.store.put(fs.store.ctx, &churn), MQTTC_OK);
        CHECK_RC(fs.store.remove(fs.store.ctx, 0, 2), MQTTC_OK);
    }
    CHECK(fs.log_bytes < 65536); /* 100 KiB went in: rewritten on the way */
    int n = 0;
    CHECK_EQ_INT(fs.store.load(fs.store.ctx, count_each, &n), 7); /* the callback's word ends it */
    CHECK_EQ_INT(n, 1);
    mqttc_file_store_close(&fs);
    CHECK_RC(mqttc_file_store_open(&fs, dir, "id", 0), MQTTC_OK);
    size_t len = 0;
    CHECK_RC(fs.store.load(fs.store.ctx, find_one, &len), MQTTC_OK);
    CHECK_EQ_INT(len, sizeof pub); /* the live one, read back through the compaction */
    mqttc_file_store_close(&fs);
}

/* A disk that takes no more (the file-size limit: EFBIG): the put fails with MQTTC_ERR_STORE
   and what was held before stays, also after a reopen. */
TEST(a_disk_that_takes_no_more) {
    mqttc_file_store fs;
    char dir[128];
    snprintf(dir, sizeof dir, "%s/d4", root);
    CHECK_RC(mqttc_file_store_open(&fs, dir, "id", 0), MQTTC_OK);
    static unsigned char pub[4096];
    mqttc_stored small = {MQTTC_STORED_PUBREL, 3, NULL, 0};
    mqttc_stored big = {MQTTC_STORED_PUBLISH, 4, pub, sizeof pub};
    CHECK_RC(fs.store.put(fs.store.ctx, &small), MQTTC_OK);
    struct rlimit old, lim;
    CHECK(getrlimit(RLIMIT_FSIZE, &old) == 0);
    void (*was)(int) = signal(SIGXFSZ, SIG_IGN);
    lim = old;
    lim.rlim_cur = (rlim_t)fs.log_bytes + 100;
    CHECK(setrlimit(RLIMIT_FSIZE, &lim) == 0);
    int rc = fs.store.put(fs.store.ctx, &big);
    CHECK(setrlimit(RLIMIT_FSIZE, &old) == 0);
    signal(SIGXFSZ, was);
    CHECK_RC(rc, MQTTC_ERR_STORE);
    mqttc_file_store_close(&fs);
    CHECK_RC(mqttc_file_store_open(&fs, dir, "id", 0), MQTTC_OK);
    int n = 0;
    CHECK_EQ_INT(fs.store.load(fs.store.ctx, count_each, &n), 7);
    CHECK_EQ_INT(fs.count, 1); /* the PUBREL only */
    mqttc_file_store_close(&fs);
}

int main(void) {
    snprintf(root, sizeof root, "/tmp/mqttc-cover-store.%ld", (long)getpid());
    RUN(directories_the_file_system_refuses);
    RUN(records_flush_load_and_compaction);
    RUN(a_disk_that_takes_no_more);
    sh("rm -rf %s");
    return test_report();
}
