/* bench/bench.h - what every benchmark program shares: the command line, the clocks, the
   process's own CPU (getrusage), memory and descriptor counts, the allocation counter of
   alloc_count.so, and the one output line the driver (bench/run.sh) parses.

   Command line of every program:   bench_CLIENT WORKLOAD PORT N
     pub0        N QoS 0 publishes (after a warm-up), then one QoS 1 round trip; the way a
                 new user writes it with the library's defaults
     pub0corked  the same, tuned (mqttc only: mqttc_cork / mqttc_flush)
     pub1        N QoS 1 publishes, the library's own in-flight window (BENCH_WINDOW)
     pub1corked  the same, tuned (mqttc only)
     sub0        receive N QoS 0 messages (after a warm-up) from `bench_raw blast`
     rtt         N sequential round trips through our own subscription: p50 / p99
     conns       N clients connected and subscribed at once in this process, one poll loop
     handshake   N connects one after another, each timed from the connect call to CONNACK
                 (then a clean disconnect, not timed): p50 / p99 wall, p50 CPU
   Environment: BENCH_WINDOW=W sets the outgoing in-flight window (QoS 1/2 messages
   unacknowledged) of a client that has one; unset, each library's default. BENCH_TIMEOUT_S:
   the time limit of a run (default BENCH_TIMEOUT_S below); past it the program exits 3.
   Output: one line "RESULT client=... workload=... key=value ..." (the same keys for every
   client; "-" where a figure does not apply), and for sub0 a line "READY" once subscribed.
   Per-message figures divide by N: for conns, by connections; for rtt, by round trips; for
   handshake, by handshakes. The broker is always 127.0.0.1. */
#ifndef BENCH_H
#define BENCH_H

#include <dirent.h>
#include <dlfcn.h>
#include <malloc.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#define BENCH_PAYLOAD_LEN 64
#define BENCH_TIMEOUT_S 150    /* a run that takes longer is stuck: fail loudly */
#define BENCH_CONN_CHUNK 100   /* conns: clients connecting at once (the broker's backlog) */

typedef struct bench_args {
    const char *workload;
    int port;
    long n;
    long warmup; /* messages (pub0, pub1, sub0), round trips (rtt) or handshakes before measuring */
    long window; /* BENCH_WINDOW: the in-flight window to set; 0: the library's default */
} bench_args;

typedef struct bench_result {
    long n;
    double wall_s, user_s, sys_s; /* the measured phase: wall time, this process's CPU */
    double broker_s;        /* the broker's CPU in the same phase; < 0: not known */
    double p50_us, p99_us;  /* rtt; < 0: not measured */
    double rss_kb_per_conn, fds_per_conn; /* conns; < 0: not measured */
    double heap_b_per_conn; /* conns: heap bytes in use per connection (mallinfo2) */
    double cpu_p50_us;      /* handshake: the median CPU of one; < 0: not measured */
    double allocs;          /* allocations in the measured phase; < 0: no counter loaded */
} bench_result;

static void bench_die(const char *client, const char *what) {
    fprintf(stderr, "bench_%s: %s\n", client, what);
    exit(1);
}

static void bench_on_alarm(int sig) {
    static const char msg[] = "bench: timed out\n";
    (void)sig;
    ssize_t r = write(2, msg, sizeof msg - 1);
    (void)r;
    _exit(3);
}

/* Parses the common command line; the warm-up is a tenth of N (at least 1,000 messages, 200
   round trips or 20 handshakes) so buffers and windows reach their working size before
   measuring. BENCH_TIMEOUT_S replaces the default time limit of a run. */
static bench_args bench_parse(int argc, char **argv, const char *client) {
    bench_args a;
    const char *w = getenv("BENCH_WINDOW");
    if (argc != 4) {
        fprintf(stderr, "usage: bench_%s pub0|pub0corked|pub1|pub1corked|sub0|rtt|conns|handshake PORT N\n", client);
        exit(2);
    }
    a.workload = argv[1];
    a.port = atoi(argv[2]);
    a.n = atol(argv[3]);
    a.window = w && *w ? atol(w) : 0;
    if (a.port <= 0 || a.n <= 0) bench_die(client, "bad PORT or N");
    if (a.window < 0 || a.window > 65535) bench_die(client, "BENCH_WINDOW: 1..65535");
    a.warmup = a.n / 10;
    if (strcmp(a.workload, "rtt") == 0) { if (a.warmup < 200) a.warmup = 200; }
    else if (strcmp(a.workload, "handshake") == 0) { if (a.warmup < 20) a.warmup = 20; }
    else if (a.warmup < 1000) a.warmup = 1000;
    signal(SIGALRM, bench_on_alarm);
    signal(SIGPIPE, SIG_IGN);
    const char *t = getenv("BENCH_TIMEOUT_S");
    alarm(t && atoi(t) > 0 ? (unsigned)atoi(t) : BENCH_TIMEOUT_S);
    return a;
}

static int bench_is(const bench_args *a, const char *workload) { return strcmp(a->workload, workload) == 0; }

static uint64_t bench_now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* CPU of the whole process, every thread: in user space (the library and the program)
   and in the kernel (system calls, the loopback TCP stack, wake-ups). */
static void bench_cpu_s(double *user, double *sys) {
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    *user = (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6;
    *sys = (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

/* CPU seconds the broker has used so far, when the driver names it in BENCH_BROKER_PID (from
   /proc/PID/stat: utime + stime, in clock ticks); -1 when it does not. */
static double bench_broker_cpu_s(void) {
    const char *pid = getenv("BENCH_BROKER_PID");
    char path[64], buf[1024];
    if (!pid) return -1.0;
    snprintf(path, sizeof path, "/proc/%s/stat", pid);
    FILE *f = fopen(path, "r");
    if (!f) return -1.0;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = 0;
    char *p = strrchr(buf, ')'); /* the command name may hold spaces; fields follow it */
    unsigned long utime = 0, stime = 0;
    if (!p || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &utime, &stime) != 2) return -1.0;
    return (double)(utime + stime) / (double)sysconf(_SC_CLK_TCK);
}

/* ---- the allocation counter: present only when alloc_count.so is preloaded ---- */
typedef unsigned long (*bench_count_fn)(void);

static double bench_allocs_now(void) {
    static bench_count_fn fn;
    static int looked;
    if (!looked) {
        *(void **)(&fn) = dlsym(RTLD_DEFAULT, "bench_alloc_count");
        looked = 1;
    }
    return fn ? (double)fn() : -1.0;
}

/* A measured phase: open it with bench_begin, close it with bench_end. */
typedef struct bench_phase {
    uint64_t t0_ns;
    double user0, sys0, allocs0, broker0;
} bench_phase;

static void bench_begin(bench_phase *ph) {
    ph->broker0 = bench_broker_cpu_s();
    ph->allocs0 = bench_allocs_now();
    bench_cpu_s(&ph->user0, &ph->sys0);
    ph->t0_ns = bench_now_ns();
}

static void bench_end(const bench_phase *ph, bench_result *r) {
    uint64_t t1 = bench_now_ns();
    double user1, sys1, allocs1;
    bench_cpu_s(&user1, &sys1);
    allocs1 = bench_allocs_now();
    r->wall_s = (double)(t1 - ph->t0_ns) / 1e9;
    r->user_s = user1 - ph->user0;
    r->sys_s = sys1 - ph->sys0;
    r->allocs = ph->allocs0 < 0 ? -1.0 : allocs1 - ph->allocs0;
    r->broker_s = ph->broker0 < 0 ? -1.0 : bench_broker_cpu_s() - ph->broker0;
}

static void bench_result_init(bench_result *r, long n) {
    memset(r, 0, sizeof *r);
    r->n = n;
    r->p50_us = r->p99_us = r->rss_kb_per_conn = r->fds_per_conn = r->allocs = r->broker_s = -1.0;
    r->heap_b_per_conn = r->cpu_p50_us = -1.0;
}

/* ---- memory and descriptors, from /proc ---- */

/* A field of /proc/self/status in kB (VmRSS, VmHWM), or -1. */
static long bench_status_kb(const char *field) {
    char line[256];
    long kb = -1;
    size_t len = strlen(field);
    FILE *f = fopen("/proc/self/status", "r");
    if (!f) return -1;
    while (fgets(line, sizeof line, f))
        if (strncmp(line, field, len) == 0 && line[len] == ':') { kb = atol(line + len + 1); break; }
    fclose(f);
    return kb;
}

/* Resets the peak RSS (VmHWM) to the current RSS, so the peak of one phase can be read. */
static void bench_reset_peak(void) {
    FILE *f = fopen("/proc/self/clear_refs", "w");
    if (f) { fputs("5", f); fclose(f); }
}

static int bench_count_fds(void) {
    int n = 0;
    DIR *d = opendir("/proc/self/fd");
    struct dirent *e;
    if (!d) return -1;
    while ((e = readdir(d)) != NULL) if (e->d_name[0] != '.') n++;
    closedir(d);
    return n - 1; /* the directory's own descriptor */
}

/* Heap bytes in use: glibc's every arena (uordblks) and its mmapped chunks (hblkhd),
   allocator headers included. */
static double bench_heap_bytes(void) {
    struct mallinfo2 mi = mallinfo2();
    return (double)mi.uordblks + (double)mi.hblkhd;
}

/* conns: what the process had before the clients, to subtract afterwards. Taken before the
   first connection of the run, so what a first connect brings in (code and data pages of
   the library and libc touched for the first time, one-time allocations) counts too. */
typedef struct bench_conns_base {
    long rss_kb;
    int fds;
    double heap;
} bench_conns_base;

static bench_conns_base bench_conns_begin(void) {
    bench_conns_base b;
    b.fds = bench_count_fds(); /* first: its buffer must not count in the peak */
    (void)bench_status_kb("VmRSS");
    b.heap = bench_heap_bytes();
    bench_reset_peak();
    b.rss_kb = bench_status_kb("VmRSS");
    return b;
}

/* Peak RSS (VmHWM) over the baseline, heap bytes in use over it, and descriptors, each
   per connection; called with every connection still open. */
static void bench_conns_end(const bench_conns_base *b, long conns, bench_result *r) {
    long peak = bench_status_kb("VmHWM");
    r->rss_kb_per_conn = (double)(peak - b->rss_kb) / (double)conns;
    r->heap_b_per_conn = (bench_heap_bytes() - b->heap) / (double)conns;
    r->fds_per_conn = (double)(bench_count_fds() - b->fds) / (double)conns;
}

/* ---- latency percentiles ---- */
static int bench_cmp_u64(const void *a, const void *b) {
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static void bench_percentiles(uint64_t *ns, long n, bench_result *r) {
    qsort(ns, (size_t)n, sizeof *ns, bench_cmp_u64);
    r->p50_us = (double)ns[(n - 1) / 2] / 1e3;
    r->p99_us = (double)ns[(long)((double)(n - 1) * 0.99)] / 1e3;
}

/* CPU time of the whole process so far, every thread, in ns (exact, not tick-sampled). */
static uint64_t bench_cpu_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* handshake: connect(ctx) returns at CONNACK, disconnect(ctx) ends the connection cleanly.
   Each connect is timed (wall and CPU); the warm-up's are not. The measured phase (the
   mean CPU per handshake in cpu_ns_per_msg) includes the disconnects. Inline: a program
   without the workload leaves it unused, which is then no warning. */
static inline void bench_handshakes(const bench_args *a, bench_result *r, void (*connect_fn)(void *ctx),
                                    void (*disconnect_fn)(void *ctx), void *ctx) {
    uint64_t *wall = malloc((size_t)a->n * sizeof *wall), *cpu = malloc((size_t)a->n * sizeof *cpu);
    bench_phase ph;
    if (!wall || !cpu) bench_die("handshake", "out of memory");
    for (long i = -a->warmup; i < a->n; i++) {
        if (i == 0) bench_begin(&ph);
        uint64_t t0 = bench_now_ns(), c0 = bench_cpu_ns();
        connect_fn(ctx);
        if (i >= 0) {
            cpu[i] = bench_cpu_ns() - c0;
            wall[i] = bench_now_ns() - t0;
        }
        disconnect_fn(ctx);
    }
    bench_end(&ph, r);
    qsort(cpu, (size_t)a->n, sizeof *cpu, bench_cmp_u64);
    r->cpu_p50_us = (double)cpu[(a->n - 1) / 2] / 1e3;
    bench_percentiles(wall, a->n, r);
    free(wall);
    free(cpu);
}

/* ---- the output line ---- */
static void bench_put(const char *key, double v, int decimals) {
    if (v < 0) printf(" %s=-", key);
    else printf(" %s=%.*f", key, decimals, v);
}

static void bench_print(const char *client, const bench_args *a, const bench_result *r) {
    printf("RESULT client=%s workload=%s n=%ld", client, a->workload, r->n);
    bench_put("window", a->window ? (double)a->window : -1, 0);
    double per_msg = 1e9 / (double)r->n;
    bench_put("wall_s", r->wall_s, 4);
    bench_put("cpu_s", r->user_s + r->sys_s, 4);
    bench_put("cpu_ns_per_msg", (r->user_s + r->sys_s) * per_msg, 1);
    bench_put("user_ns_per_msg", r->user_s * per_msg, 1);
    bench_put("sys_ns_per_msg", r->sys_s * per_msg, 1);
    bench_put("msgs_per_s", r->wall_s > 0 ? (double)r->n / r->wall_s : -1, 0);
    bench_put("p50_us", r->p50_us, 1);
    bench_put("p99_us", r->p99_us, 1);
    bench_put("rss_kb_per_conn", r->rss_kb_per_conn, 2);
    bench_put("fds_per_conn", r->fds_per_conn, 2);
    bench_put("heap_b_per_conn", r->heap_b_per_conn, 0);
    bench_put("cpu_p50_us", r->cpu_p50_us, 1);
    bench_put("allocs_per_msg", r->allocs >= 0 && r->n ? r->allocs / (double)r->n : -1, 3);
    bench_put("broker_cpu_s", r->broker_s, 2);
    printf("\n");
    fflush(stdout);
}

/* sub0: tells the driver the subscription is in place, so the blaster may start. */
static void bench_ready(void) {
    printf("READY\n");
    fflush(stdout);
}

static void bench_fill_payload(unsigned char *p) {
    for (int i = 0; i < BENCH_PAYLOAD_LEN; i++) p[i] = (unsigned char)('a' + i % 26);
}

/* ---- the workloads ---- */

/* One workload as a client runs it: the figures of its measured phase go into r. */
typedef void (*bench_workload_fn)(const bench_args *a, bench_result *r);

/* Every workload of the command line, as one client runs them; pub0 and pub1 are one
   function, told the QoS; publish_corked is the tuned one (NULL: the client has none), and
   handshake may be NULL too. */
typedef struct bench_workloads {
    void (*publish)(const bench_args *a, bench_result *r, int qos);
    void (*publish_corked)(const bench_args *a, bench_result *r, int qos);
    bench_workload_fn sub0, rtt, conns, handshake;
} bench_workloads;

/* Runs the workload the command line names (an unknown one, or one this client does not
   have, ends the program) and prints its RESULT line. */
static void bench_run(const char *client, const bench_args *a, const bench_workloads *w) {
    bench_result r;
    bench_result_init(&r, a->n);
    if (bench_is(a, "pub0")) w->publish(a, &r, 0);
    else if (bench_is(a, "pub1")) w->publish(a, &r, 1);
    else if (bench_is(a, "pub0corked") && w->publish_corked) w->publish_corked(a, &r, 0);
    else if (bench_is(a, "pub1corked") && w->publish_corked) w->publish_corked(a, &r, 1);
    else if (bench_is(a, "sub0")) w->sub0(a, &r);
    else if (bench_is(a, "rtt")) w->rtt(a, &r);
    else if (bench_is(a, "conns")) w->conns(a, &r);
    else if (bench_is(a, "handshake") && w->handshake) w->handshake(a, &r);
    else bench_die(client, "unknown workload, or not one this client has");
    bench_print(client, a, &r);
}

#endif
