/* fuzz/fuzz_proxy.c - the proxy stage's handshake (SOCKS5, RFC 1928/1929; HTTP CONNECT)
   over the in-memory transport, the input as the proxy's answer. The first byte chooses
   the kind (socks5h, socks5h with a login, http, http with a login) and the broker's
   address (a name, IPv4, IPv6); the second the read and write sizes. The handshake is
   driven until it ends or waits for more. Besides the sanitizers: the result is OK, MORE or
   a negative error with a detail; a SOCKS5 reply code comes back as such; on OK not one
   byte past the answer was read (the answer's end is computed here independently, and
   the same input cut one byte short only asks for more), and the stage then passes bytes
   through untouched. */
#define MQTTC_IMPLEMENTATION
#include "mqttc.h"
#include "tests/mem_transport.h"
#define FUZZ_TARGET "fuzz_proxy"
#include "fuzz/fuzz.h"

static const char *const fz_proxies[] = {"socks5h://127.0.0.1:1080", "socks5h://us%40r:pa:ss@127.0.0.1",
                                         "http://127.0.0.1:3128", "http://user:p%20w@[::1]:8080"};
static const char *const fz_hosts[] = {"broker.example", "10.1.2.3", "::1", "b"};

typedef struct fz_run {
    int rc;
    size_t consumed;
    int detail_code;
    const char *detail;
} fz_run;

static void fz_handshake(int kind, int host, unsigned sizes, const uint8_t *ans, size_t n, fz_run *r, int pass_through) {
    mqttc__url px;
    mem_link l;
    memset(&l, 0, sizeof l);
    mqttc_transport t = mem_transport(&l);
    FUZZ_REQUIRE(mqttc__proxy_parse(fz_proxies[kind], &px) == MQTTC_OK);
    FUZZ_REQUIRE(mqttc__proxy_stage(&px, fz_hosts[host], 1883, &t) == MQTTC_OK);
    l.read_chunk = sizes & 15;
    l.write_chunk = sizes >> 4;
    mem_feed(&l, ans, n);
    int rc = MQTTC_MORE;
    for (int i = 0; i < 100000 && rc == MQTTC_MORE; i++) {
        size_t before = l.in_len;
        rc = t.handshake(&t);
        if (rc == MQTTC_MORE) FUZZ_REQUIRE(t.want & (MQTTC_EV_READ | MQTTC_EV_WRITE));
        if (rc == MQTTC_MORE && l.in_len == 0 && before == 0) break;
    }
    FUZZ_REQUIRE(rc == MQTTC_OK || rc == MQTTC_MORE || rc < 0);
    if (rc < 0) FUZZ_REQUIRE(t.detail != NULL);
    r->rc = rc;
    r->consumed = n - l.in_len;
    r->detail = t.detail;
    r->detail_code = t.detail_code;
    if (rc == MQTTC_OK && pass_through) { /* then bytes pass through untouched */
        unsigned char buf[8];
        size_t got = 0, sent = 0, out0 = l.out_len;
        mem_feed(&l, "\x20\x02\x00\x00", 4);
        FUZZ_REQUIRE(t.recv(&t, buf, sizeof buf, &got) == MQTTC_OK);
        FUZZ_REQUIRE(got >= 1 && memcmp(buf, ans + r->consumed, got < n - r->consumed ? got : n - r->consumed) == 0);
        FUZZ_REQUIRE(t.send(&t, (const unsigned char *)"\xC0\x00", 2, &sent) == MQTTC_OK);
        FUZZ_REQUIRE(sent >= 1 && l.out_len == out0 + sent && l.out[out0] == 0xC0);
    }
    t.close(&t);
    FUZZ_REQUIRE(l.closed == 1);
    mem_free(&l);
}

/* The length of a complete SOCKS5 answer (method, login status, reply) at the front of a,
   or 0 when it is not all there or not a success. */
static size_t fz_socks_len(const uint8_t *a, size_t n, int login) {
    size_t k = 2;
    if (n < 2 || a[0] != 5) return 0;
    if (a[1] == 2 && login) {
        if (n < 4 || a[3] != 0) return 0;
        k = 4;
    } else if (a[1] != 0) {
        return 0;
    }
    if (n < k + 5 || a[k] != 5 || a[k + 1] != 0) return 0;
    size_t addr = a[k + 3] == 1 ? 4 : a[k + 3] == 4 ? 16 : a[k + 3] == 3 ? 1u + a[k + 4] : 0;
    if (!addr) return 0;
    return n >= k + 4 + addr + 2 ? k + 4 + addr + 2 : 0;
}

/* The length of an HTTP answer up to its empty line, or 0 when none is there. */
static size_t fz_http_len(const uint8_t *a, size_t n) {
    size_t line_start = 0;
    int lines = 0;
    for (size_t i = 0; i < n; i++) {
        if (a[i] != '\n') continue;
        size_t len = i - line_start;
        if (lines > 0 && (len == 0 || (len == 1 && a[line_start] == '\r'))) return i + 1;
        lines++;
        line_start = i + 1;
    }
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    fz_input in = {data, size};
    unsigned choice = fz_byte(&in), sizes = fz_byte(&in);
    int kind = (int)(choice & 3), host = (int)((choice >> 2) & 3);
    fz_run r, r2;
    fz_handshake(kind, host, sizes, in.p, in.n, &r, 1);
    if (r.rc == MQTTC_ERR_PROXY && kind < 2 && r.detail_code)
        FUZZ_REQUIRE(r.detail_code >= 1 && r.detail_code <= 255);
    if (r.rc == MQTTC_ERR_PROXYAUTH || r.rc == MQTTC_ERR_PROXY)
        FUZZ_REQUIRE(kind < 2 || (r.detail_code >= 0 && r.detail_code <= 999)); /* the status as sent */
    if (r.rc != MQTTC_OK) return 0;
    /* the answer's end, computed here */
    if (kind < 2) FUZZ_REQUIRE(r.consumed == fz_socks_len(in.p, in.n, kind == 1));
    else FUZZ_REQUIRE(r.consumed == fz_http_len(in.p, in.n) && r.consumed <= 16384);
    /* one byte short: not done yet */
    FUZZ_REQUIRE(r.consumed > 0);
    fz_handshake(kind, host, sizes, in.p, r.consumed - 1, &r2, 0);
    FUZZ_REQUIRE(r2.rc == MQTTC_MORE);
    return 0;
}
