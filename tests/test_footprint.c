/* tests/test_footprint.c - what a connection costs in memory and in reads (the figures
   `make bench` compares): an idle connected and subscribed client holds little heap, a
   stream is read in large chunks, no allocation per message once the buffers have grown,
   and the smallest caller memory takes a packet that arrives one byte at a time. Over the
   in-memory transport, with an allocator that knows how many bytes are live. */
#define _POSIX_C_SOURCE 200809L
#include <stdlib.h>
#include <string.h>

static long allocations, live_bytes; /* MQTTC_MALLOC/REALLOC calls; bytes held right now */

/* Each block carries its size in front, so live_bytes stays exact through realloc/free. */
static void *track_realloc(void *p, size_t n) {
    size_t *h = p ? (size_t *)p - 2 : NULL;
    allocations++;
    if (h) live_bytes -= (long)h[0];
    h = (size_t *)realloc(h, n + 2 * sizeof(size_t));
    if (!h) return NULL;
    h[0] = n;
    live_bytes += (long)n;
    return h + 2;
}
static void track_free(void *p) {
    if (!p) return;
    size_t *h = (size_t *)p - 2;
    live_bytes -= (long)h[0];
    free(h);
}
#define MQTTC_MALLOC(n) track_realloc(NULL, n)
#define MQTTC_REALLOC(p, n) track_realloc(p, n)
#define MQTTC_FREE(p) track_free(p)
#define MQTTC_IMPLEMENTATION
#include "mqttc.h"
#include "test.h"
#include "mem_transport.h"

static const unsigned char CONNACK_OK[] = {0x20, 0x02, 0x00, 0x00};
static long messages, recv_calls;

static void on_message(mqttc_client *c, const mqttc_message *m, void *u) { (void)c; (void)m; (void)u; messages++; }

/* The link's recv, counted. */
static int counting_recv(mqttc_transport *t, unsigned char *buf, size_t cap, size_t *n) {
    recv_calls++;
    return mem_recv(t, buf, cap, n);
}

static void connect_over(mqttc_client *c, mem_link *l, const mqttc_options *o) {
    mqttc_transport t = mem_transport(l);
    t.recv = counting_recv;
    CHECK_EQ_INT(mqttc_init(c, o), MQTTC_OK);
    CHECK_EQ_INT(mqttc_start_transport(c, &t, 0), MQTTC_OK);
    mem_feed(l, CONNACK_OK, sizeof CONNACK_OK);
    for (int i = 0; i < 50 && mqttc_state(c) == MQTTC_STATE_CONNACK_WAIT; i++) mqttc_step(c, 0);
    CHECK_EQ_INT(mqttc_state(c), MQTTC_STATE_CONNECTED);
}

/* n PUBLISH QoS 0 packets to "bench/sub0" with 64-byte payloads, as the broker sends them. */
static void feed_messages(mem_link *l, int n) {
    unsigned char p[2 + 2 + 10 + 64] = {0x30, 76, 0, 10, 'b', 'e', 'n', 'c', 'h', '/', 's', 'u', 'b', '0'};
    memset(p + 14, 'x', 64);
    for (int i = 0; i < n; i++) mem_feed(l, p, sizeof p);
}

static void step_until_drained(mqttc_client *c, mem_link *l) {
    for (int i = 0; i < 100000 && l->in_len && mqttc_state(c) == MQTTC_STATE_CONNECTED; i++) mqttc_step(c, 1);
}

/* A connected, subscribed, idle client holds its buffers at their first, small size:
   1,000 idle connections should not cost megabytes. */
TEST(an_idle_connection_holds_little) {
    mqttc_client c;
    mem_link l = {0};
    mqttc_options o;
    static const unsigned char suback[] = {0x90, 0x03, 0x00, 0x01, 0x00};
    memset(&o, 0, sizeof o);
    o.on_message = on_message;
    connect_over(&c, &l, &o);
    mqttc_packet p;
    size_t pos = 0;
    CHECK_EQ_INT(mqttc_subscribe(&c, "bench/conns", 0, NULL, NULL, NULL, NULL), MQTTC_OK);
    CHECK(mem_next_sent(&l, &pos, &p) && p.type == MQTTC_CONNECT);
    CHECK(mem_next_sent(&l, &pos, &p) && p.type == MQTTC_SUBSCRIBE);
    mem_feed(&l, suback, sizeof suback);
    step_until_drained(&c, &l);
    /* receive, send (CONNECT), in-flight records, and the subscription (kept to make it again
       after a lost session) */
    CHECK_MSG(live_bytes <= 16 + 64 + 64 + 64, "%ld bytes", (long)live_bytes);
    mqttc_deinit(&c);
    CHECK_EQ_INT(live_bytes, 0);
    mem_free(&l);
}

/* A stream of small messages is read in large chunks (the buffer doubles while reads fill
   it), and once it has grown, messages cost no allocation. */
TEST(a_stream_is_read_in_large_chunks_without_allocation) {
    mqttc_client c;
    mem_link l = {0};
    mqttc_options o;
    memset(&o, 0, sizeof o);
    o.on_message = on_message;
    connect_over(&c, &l, &o);
    messages = 0;
    feed_messages(&l, 1000); /* 78,000 bytes */
    recv_calls = 0;
    step_until_drained(&c, &l);
    CHECK_EQ_INT(messages, 1000);
    CHECK(recv_calls <= 20); /* 2 KiB reads would take 38 */
    long before = allocations;
    feed_messages(&l, 1000);
    recv_calls = 0;
    step_until_drained(&c, &l);
    CHECK_EQ_INT(messages, 2000);
    CHECK(recv_calls <= 8); /* 16 KiB reads: 5 */
    CHECK_EQ_INT(allocations, before);
    mqttc_deinit(&c);
    mem_free(&l);
}

/* A stream of acknowledgements (a publisher's window of PUBACKs, 4 bytes each) is read in
   large chunks too: small packets that fill each read exactly must also make the buffer
   grow, or each step reads 16 bytes at a time (one system call per four acks). */
TEST(a_stream_of_acks_is_read_in_large_chunks) {
    mqttc_client c;
    mem_link l = {0};
    mqttc_options o;
    memset(&o, 0, sizeof o);
    o.max_inflight = 4000;
    o.max_output = 1u << 20;
    connect_over(&c, &l, &o);
    for (unsigned id = 1; id <= 4000; id++) {
        unsigned short got = 0;
        CHECK_EQ_INT(mqttc_publish(&c, "t", "x", 1, 1, 0, &got), MQTTC_OK);
        CHECK_EQ_INT(got, id);
    }
    for (unsigned id = 1; id <= 4000; id++) test_feed_ack(&l, MQTTC_PUBACK, (unsigned short)id); /* 16,000 bytes */
    recv_calls = 0;
    CHECK_EQ_INT(mqttc_step(&c, 1), MQTTC_OK);
    CHECK_EQ_INT(mqttc_inflight(&c), 0); /* all of it in one step */
    CHECK(recv_calls <= 12);            /* reads of 16, 32, ... 8192 bytes: 11 */
    mqttc_deinit(&c);
    mem_free(&l);
}

/* The smallest caller memory (4 KiB: 1 KiB of receive buffer) takes packets that arrive one
   byte at a time, when the first byte alone does not tell the packet's size yet. */
TEST(the_smallest_caller_memory_takes_one_byte_reads) {
    static unsigned char mem[4096];
    mqttc_client c;
    mem_link l = {0};
    mqttc_options o;
    memset(&o, 0, sizeof o);
    o.on_message = on_message;
    o.mem = mem;
    o.mem_size = sizeof mem;
    l.read_chunk = 1;
    long before = allocations;
    messages = 0;
    connect_over(&c, &l, &o);
    feed_messages(&l, 3);
    step_until_drained(&c, &l);
    CHECK_EQ_INT(messages, 3);
    CHECK_EQ_INT(mqttc_error(&c), MQTTC_OK);
    CHECK_EQ_INT(allocations, before);
    mqttc_deinit(&c);
    mem_free(&l);
}

int main(void) {
    RUN(an_idle_connection_holds_little);
    RUN(a_stream_is_read_in_large_chunks_without_allocation);
    RUN(a_stream_of_acks_is_read_in_large_chunks);
    RUN(the_smallest_caller_memory_takes_one_byte_reads);
    return test_report();
}
