#!/usr/bin/env bash
# bench/run.sh - the benchmark driver behind `make bench` (which builds build/bench/ first).
#  1. starts a private mosquitto on a free 127.0.0.1 port (killed at the end);
#  2. runs every workload for every client, interleaved (raw mqttc mqttc5 mosquitto paho,
#     raw ...; mqttc5 is bench_mqttc built to speak MQTT 5),
#     ROUNDS times; sub0's messages come from one common publisher (bench_raw blast);
#     allocs = pub0, pub1, sub0 again with alloc_count.so preloaded;
#  3. once: strace -f -c of each client (system calls per message), callgrind of mqttc and
#     mqttc5 (instructions per message, by function: what MQTT 5 costs, when valgrind is
#     here), perf of pub1 (where the time goes, when perf works here), the `size` figures
#     (default, and -DMQTTC_NO_MQTT5 -DMQTTC_NO_RECONNECT -DMQTTC_NO_WEBSOCKET -DMQTTC_NO_PROXY -DMQTTC_NO_STORE);
#  4. prints the table of medians and ratios and writes bench/RESULTS.md and
#     bench/README-table.md (the table for the README's performance section).
# Environment: BENCH_QUICK=1 (small N, one round: to try the machinery), BENCH_ROUNDS.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
B=$ROOT/build/bench
OUT_MD=${BENCH_OUT:-$ROOT/bench/RESULTS.md}
TABLE_MD=$ROOT/bench/README-table.md
CLIENTS="raw mqttc mqttc5 mosquitto paho"
if [ "${BENCH_QUICK:-0}" = 1 ]; then
    ROUNDS=${BENCH_ROUNDS:-1}; N_PUB0=20000; N_PUB1=10000; N_SUB0=20000; N_RTT=1000; N_CONNS=200
    N_ALLOC=5000; N_TRACE=5000; N_TRACE_RTT=500
else
    ROUNDS=${BENCH_ROUNDS:-3}; N_PUB0=200000; N_PUB1=100000; N_SUB0=200000; N_RTT=5000; N_CONNS=1000
    N_ALLOC=20000; N_TRACE=20000; N_TRACE_RTT=2000
fi
RUN_TIMEOUT=200 # seconds for one program; each also stops itself after BENCH_TIMEOUT_S

for f in bench_raw bench_mqttc bench_mqttc5 bench_mqttcws bench_mqttcstore bench_pahostore bench_mosquitto bench_paho alloc_count.so min_pub min_pub_no5; do
    [ -e "$B/$f" ] || { echo "bench/run.sh: $B/$f is missing: run 'make bench'" >&2; exit 1; }
done

# conns opens 1,000 sockets here and as many in the broker (libmosquitto: 3 fds a client).
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
[ "$(ulimit -n)" = unlimited ] || [ "$(ulimit -n)" -ge 4096 ] || { echo "bench/run.sh: ulimit -n is $(ulimit -n); conns needs 4096" >&2; exit 1; }

WORK=$(mktemp -d /tmp/mqttc-bench.XXXXXX)
RAW=$WORK/results.txt
: >"$RAW"
MQ_PID=""
cleanup() {
    if [ -n "$MQ_PID" ]; then kill "$MQ_PID" 2>/dev/null || true; wait "$MQ_PID" 2>/dev/null || true; fi
    rm -rf "$WORK"
}
trap cleanup EXIT
START_S=$SECONDS
LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)

# ---- the broker ----
PORT=$("$B/bench_raw" freeport)
[ "$PORT" != 1883 ] || PORT=$("$B/bench_raw" freeport)
WS_PORT=$("$B/bench_raw" freeport)
while [ "$WS_PORT" = "$PORT" ]; do WS_PORT=$("$B/bench_raw" freeport); done
MQ_CONF=$WORK/mosquitto.conf
cat >"$MQ_CONF" <<EOF
listener $PORT 127.0.0.1
allow_anonymous true
listener $WS_PORT 127.0.0.1
protocol websockets
persistence false
max_connections -1
max_queued_messages 10000000
log_dest stderr
log_type error
log_type warning
EOF
mosquitto -c "$MQ_CONF" >"$WORK/mosquitto.log" 2>&1 &
MQ_PID=$!
for _ in $(seq 1 100); do (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null && break; sleep 0.05; done
(exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null || { echo "bench/run.sh: mosquitto did not start" >&2; cat "$WORK/mosquitto.log" >&2; exit 1; }

# ---- one run: appends its RESULT line, with the mode and the round ----
INFO=$WORK/info.txt
: >"$INFO"
export BENCH_BROKER_PID=$MQ_PID # the programs read the broker's CPU over their measured phase
record() { # mode round output
    local line
    line=$(grep '^RESULT ' <<<"$3" || true)
    if [ -z "$line" ]; then echo "bench/run.sh: no result: $3" >&2; exit 1; fi
    grep '^INFO ' <<<"$3" >>"$INFO" || true
    echo "$line mode=$1 round=$2" >>"$RAW"
}

run_plain() { # mode round client workload n [preload]
    local pre=${6:-} out
    out=$(LD_PRELOAD=$pre timeout "$RUN_TIMEOUT" "$B/bench_$3" "$4" "$PORT" "$5") || { echo "bench/run.sh: $3 $4 failed: $out" >&2; exit 1; }
    record "$1" "$2" "$out"
}

# sub0: the subscriber says READY on its stdout (a fifo here), then the blaster runs.
run_sub0() { # mode round client n [preload]
    local pre=${5:-} fifo=$WORK/sub.fifo line out pid
    rm -f "$fifo"; mkfifo "$fifo"
    LD_PRELOAD=$pre timeout "$RUN_TIMEOUT" "$B/bench_$3" sub0 "$PORT" "$4" >"$fifo" &
    pid=$!
    exec 8<"$fifo"
    read -r -t 30 line <&8 || { echo "bench/run.sh: $3 sub0 did not subscribe" >&2; exit 1; }
    [ "$line" = READY ] || { echo "bench/run.sh: $3 sub0: $line" >&2; exit 1; }
    "$B/bench_raw" blast "$PORT" "$4"
    out=$(cat <&8)
    exec 8<&-
    wait "$pid" || { echo "bench/run.sh: $3 sub0 failed: $out" >&2; exit 1; }
    record "$1" "$2" "$out"
}

run_workload() { # mode round client workload [preload]
    case $4 in
        pub0) run_plain "$1" "$2" "$3" pub0 "$([ "$1" = allocs ] && echo "$N_ALLOC" || echo "$N_PUB0")" "${5:-}" ;;
        pub1) run_plain "$1" "$2" "$3" pub1 "$([ "$1" = allocs ] && echo "$N_ALLOC" || echo "$N_PUB1")" "${5:-}" ;;
        sub0) run_sub0 "$1" "$2" "$3" "$([ "$1" = allocs ] && echo "$N_ALLOC" || echo "$N_SUB0")" "${5:-}" ;;
        rtt) run_plain "$1" "$2" "$3" rtt "$N_RTT" ;;
        conns) run_plain "$1" "$2" "$3" conns "$N_CONNS" ;;
    esac
}

echo "bench: mosquitto on 127.0.0.1:$PORT; $ROUNDS rounds of pub0 pub1 sub0 rtt conns allocs; clients: $CLIENTS"
for round in $(seq 1 "$ROUNDS"); do
    for w in pub0 pub1 sub0 rtt conns; do
        for c in $CLIENTS; do run_workload time "$round" "$c" "$w"; done
    done
    for w in pub0 pub1 sub0; do
        for c in $CLIENTS; do run_workload allocs "$round" "$c" "$w" "$B/alloc_count.so"; done
    done
    echo "bench: round $round done ($((SECONDS - START_S)) s)"
done

# the median of a[k, 1..n], for the sections' awk programs below
AWK_MEDIAN='function median(a, k, n,   i, j, t, x) { for (i = 1; i <= n; i++) x[i] = a[k, i] + 0
    for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (x[j] < x[i]) { t = x[i]; x[i] = x[j]; x[j] = t }
    return n % 2 ? x[(n + 1) / 2] : (x[n / 2] + x[n / 2 + 1]) / 2 }'

# ---- MQTT over WebSocket: mqttc to the plain listener and mqttcws to the websockets one,
# interleaved, ROUNDS times. Not sub0: mosquitto 2.0.11's websockets listener writes about
# 4 KiB per 100 ms to a client (measured here), so a stream from the broker is the broker's
# pace, not the client's. Lines go to their own file (the table above is the five clients'). ----
WS_RAW=$WORK/ws.txt
: >"$WS_RAW"
for round in $(seq 1 "$ROUNDS"); do
    for w in pub0 pub1 rtt; do
        n=$N_PUB0; [ "$w" = pub1 ] && n=$N_PUB1; [ "$w" = rtt ] && n=$N_RTT
        for c in mqttc mqttcws; do
            p=$PORT; [ "$c" = mqttcws ] && p=$WS_PORT
            out=$(timeout "$RUN_TIMEOUT" "$B/bench_$c" "$w" "$p" "$n") || { echo "bench/run.sh: $c $w failed: $out" >&2; exit 1; }
            grep '^RESULT ' <<<"$out" | sed 's/^RESULT //' >>"$WS_RAW"
        done
    done
done
WS_REPORT=$(awk '
    { for (i = 1; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] }
      k = v["client"] " " v["workload"]; m[k]++; cpu[k, m[k]] = v["cpu_ns_per_msg"]; p50[k, m[k]] = v["p50_us"] }
    '"$AWK_MEDIAN"'
    END {
        print "| workload | mqttc over TCP | mqttc over WebSocket | ws / tcp | target |"
        print "|---|---|---|---|---|"
        split("pub0 pub1 rtt", ws, " ")
        for (i = 1; i <= 3; i++) {
            w = ws[i]; t = "mqttc " w; s = "mqttcws " w
            if (w == "rtt") { a = median(p50, t, m[t]); b = median(p50, s, m[s]); unit = " us p50" }
            else { a = median(cpu, t, m[t]); b = median(cpu, s, m[s]); unit = " ns CPU/msg" }
            r = a > 0 ? b / a : 0
            printf "| %s | %.1f%s | %.1f%s | %.2fx | %s |\n", w, a, unit, b, unit, r, (w == "rtt" ? "-" : (r <= 1.3 ? "at most 1.3x: met" : "at most 1.3x: missed"))
        }
    }' "$WS_RAW")
echo "$WS_REPORT"
echo "bench: WebSocket compared ($((SECONDS - START_S)) s)"

# ---- durable stores, pub1: mqttc with its file store synced every 100 ms (bench_mqttcstore)
# and Paho C with its file persistence (bench_pahostore), each beside itself without, in a
# directory under /tmp, interleaved, ROUNDS times ----
ST_RAW=$WORK/store.txt
: >"$ST_RAW"
N_STORE=$((N_PUB1 / 4))
for round in $(seq 1 "$ROUNDS"); do
    for c in mqttc mqttcstore paho pahostore; do
        out=$(BENCH_STORE_FLUSH_MS=100 timeout "$RUN_TIMEOUT" "$B/bench_$c" pub1 "$PORT" "$N_STORE") || { echo "bench/run.sh: $c pub1 failed: $out" >&2; exit 1; }
        grep '^RESULT ' <<<"$out" | sed 's/^RESULT //' >>"$ST_RAW"
    done
done
ST_REPORT=$(awk '
    { for (i = 1; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] }
      k = v["client"]; m[k]++; cpu[k, m[k]] = v["cpu_ns_per_msg"]; rate[k, m[k]] = v["msgs_per_s"] }
    '"$AWK_MEDIAN"'
    END {
        print "| client | without a store | with its file store | store / without | messages/s with it |"
        print "|---|---|---|---|---|"
        a = median(cpu, "mqttc", m["mqttc"]); b = median(cpu, "mqttcstore", m["mqttcstore"])
        printf "| mqttc (file store, synced every 100 ms) | %.0f ns CPU/msg | %.0f ns CPU/msg | %.2fx | %.0f |\n", a, b, (a > 0 ? b / a : 0), median(rate, "mqttcstore", m["mqttcstore"])
        a = median(cpu, "paho", m["paho"]); b = median(cpu, "pahostore", m["pahostore"])
        printf "| Paho C (MQTTCLIENT_PERSISTENCE_DEFAULT) | %.0f ns CPU/msg | %.0f ns CPU/msg | %.2fx | %.0f |\n", a, b, (a > 0 ? b / a : 0), median(rate, "pahostore", m["pahostore"])
    }' "$ST_RAW")
echo "$ST_REPORT"
echo "bench: durable stores compared ($((SECONDS - START_S)) s)"

# ---- one run of a client under a tool (strace, valgrind), whose words come first ----
# sub0's messages come from the blaster once the client says READY. Prints the messages
# the run handled, warm-up included (what a whole-run count is divided by).
run_under() { # client workload n tool...
    local c=$1 w=$2 n=$3 warm fifo=$WORK/under.fifo pid
    shift 3
    warm=$((n / 10)); if [ "$w" = rtt ]; then [ "$warm" -ge 200 ] || warm=200; else [ "$warm" -ge 1000 ] || warm=1000; fi
    if [ "$w" = sub0 ]; then
        rm -f "$fifo"; mkfifo "$fifo"
        "$@" "$B/bench_$c" sub0 "$PORT" "$n" >"$fifo" &
        pid=$!
        exec 8<"$fifo"; read -r -t 60 _ <&8
        "$B/bench_raw" blast "$PORT" "$n" >/dev/null
        cat <&8 >/dev/null; exec 8<&-; wait "$pid"
    else
        "$@" "$B/bench_$c" "$w" "$PORT" "$n" >/dev/null
    fi
    echo $((n + warm))
}

# ---- system calls per message: strace -f -c, one run each (setup included, < 0.01/msg) ----
TRACE=$WORK/syscalls.txt
: >"$TRACE"
if command -v strace >/dev/null && strace -f -c -o /dev/null true 2>/dev/null; then
    for c in $CLIENTS; do
        for w in pub0 pub1 sub0 rtt; do
            n=$N_TRACE; [ "$w" = rtt ] && n=$N_TRACE_RTT
            m=$(run_under "$c" "$w" "$n" strace -f -c -o "$WORK/strace.out")
            calls=$(awk '$NF == "total" {print $4}' "$WORK/strace.out")
            echo "$c $w $(awk -v c="$calls" -v m="$m" 'BEGIN{printf "%.2f", c/m}')" >>"$TRACE"
        done
    done
fi
echo "bench: system calls counted ($((SECONDS - START_S)) s)"

# ---- what MQTT 5 costs in user space: instructions per message of mqttc and mqttc5, by
# function (callgrind, one run each, setup included; exact, so free of the machine's noise;
# when valgrind is here). Lines: "client workload messages TOTAL instructions" and
# "client workload messages function instructions" (gcc's clone suffixes summed away).
INSTR=$WORK/instructions.txt
: >"$INSTR"
if command -v valgrind >/dev/null && command -v callgrind_annotate >/dev/null; then
    for c in mqttc mqttc5; do
        for w in pub0 pub1 sub0; do
            rm -f "$WORK/callgrind.out"
            m=$(run_under "$c" "$w" "$N_TRACE" valgrind -q --tool=callgrind --callgrind-out-file="$WORK/callgrind.out")
            callgrind_annotate --inclusive=no --auto=no --threshold=100 "$WORK/callgrind.out" 2>/dev/null |
                awk -v c="$c" -v w="$w" -v m="$m" '
                    /^ *[0-9,]+ .*PROGRAM TOTALS/ { x = $1; gsub(",", "", x); print c, w, m, "TOTAL", x; next }
                    /^ *[0-9,]+ \([ 0-9.]+%\) / {
                        x = $1; gsub(",", "", x); f = $0; sub(/^ *[0-9,]+ \([ 0-9.]+%\) +/, "", f); sub(/ \[.*$/, "", f)
                        sub(/^.*:/, "", f); sub(/\..*$/, "", f); s[f] += x
                    }
                    END { for (f in s) print c, w, m, f, s[f] }' >>"$INSTR"
        done
    done
    echo "bench: instructions counted ($((SECONDS - START_S)) s)"
fi

# ---- where pub1's time goes: perf, shares of the CPU samples by code (when perf works) ----
PROFILE=$WORK/profile.txt
: >"$PROFILE"
if command -v perf >/dev/null && perf record -q -o "$WORK/perf.probe" true >/dev/null 2>&1; then
    for c in raw mqttc mqttc5 mosquitto; do
        perf record -q -o "$WORK/perf.data" "$B/bench_$c" pub1 "$PORT" "$N_TRACE" >/dev/null 2>&1 || continue
        perf report -i "$WORK/perf.data" --sort dso --stdio 2>/dev/null |
            awk -v c="$c" '/^ *[0-9.]+%/ { d=$2; if (d ~ /kernel/) d="kernel"; else if (d ~ /^bench_/) d="program+mqttc"; s[d]+=$1 }
                           END { printf "%s", c; for (d in s) if (s[d] >= 1) printf " %s=%.0f%%", d, s[d]; printf "\n" }' >>"$PROFILE"
    done
fi

# ---- size: the default build (MQTT 5 compiled in) and the small one (-DMQTTC_NO_MQTT5 -DMQTTC_NO_RECONNECT -DMQTTC_NO_WEBSOCKET -DMQTTC_NO_PROXY -DMQTTC_NO_STORE) ----
MQTTC_TEXT=$(size -A "$B/min_pub" | awk '$1 == ".text" {print $2}')
MQTTC_NO5_TEXT=$(size -A "$B/min_pub_no5" | awk '$1 == ".text" {print $2}')
MOSQ_SO=$(readlink -f "$(cc -print-file-name=libmosquitto.so.1)")
PAHO_SO=$(readlink -f "$(cc -print-file-name=libpaho-mqtt3a.so.1)")
MOSQ_TEXT=$(size -A "$MOSQ_SO" | awk '$1 == ".text" {print $2}')
PAHO_TEXT=$(size -A "$PAHO_SO" | awk '$1 == ".text" {print $2}')

# ---- versions and machine ----
pkgver() { dpkg-query -W -f='${Version}' "$1" 2>/dev/null || echo "?"; }
CPU=$(awk -F': ' '/^model name/ {print $2; exit}' /proc/cpuinfo)
MEM=$(awk '/^MemTotal/ {printf "%.0f GiB", $2 / 1048576}' /proc/meminfo)
MQTTC_VER=$(awk -F'"' '/#define MQTTC_VERSION "/ {print $2}' mqttc.h)
GIT_REV=$(git rev-parse --short HEAD 2>/dev/null || echo "?")
GIT_DIRTY=$(git status --porcelain -- mqttc.h 2>/dev/null | grep -q . && echo " + uncommitted mqttc.h changes" || true)
ELAPSED=$((SECONDS - START_S))

# ---- the report: medians, ratios, targets ----
export ROUNDS N_PUB0 N_PUB1 N_SUB0 N_RTT N_CONNS N_ALLOC N_TRACE MQTTC_TEXT MQTTC_NO5_TEXT MOSQ_TEXT PAHO_TEXT
REPORT=$WORK/report.md
awk -f bench/report.awk "$RAW" "$TRACE" "$PROFILE" "$INFO" "$INSTR" >"$REPORT"

{
    echo "# mqttc benchmark results"
    echo
    echo "Written by \`make bench\` (bench/run.sh) on $(date -u '+%Y-%m-%d %H:%M UTC'); run it again rather than editing."
    echo "Whole run: ${ELAPSED} s. Every figure is the median of $ROUNDS runs; the clients ran interleaved"
    echo "(raw, mqttc, mqttc5, libmosquitto, Paho, raw, ...) against one private mosquitto on 127.0.0.1."
    echo
    echo "## Machine and versions"
    echo
    echo "- CPU: $CPU, $(nproc) cores, $MEM; kernel $(uname -r); Debian $(cat /etc/debian_version 2>/dev/null || echo '?')"
    echo "- load average when the run started: $LOAD_START (other work on this machine is noise; medians of $ROUNDS)"
    echo "- mqttc $MQTTC_VER (git $GIT_REV$GIT_DIRTY), built by $(cc --version | head -n 1), -O2"
    echo "- libmosquitto $(pkgver libmosquitto1) ($(basename "$MOSQ_SO")), Paho C $(pkgver libpaho-mqtt1.3) ($(basename "$PAHO_SO")): Debian's packages"
    echo "- broker: mosquitto $(pkgver mosquitto), config: \`$(grep -v '^log_' "$MQ_CONF" | sed "s/$PORT/PORT/" | paste -sd ';' | sed 's/;/; /g')\`"
    echo "- N: pub0 $N_PUB0, pub1 $N_PUB1, sub0 $N_SUB0 messages of 64 bytes; rtt $N_RTT round trips; conns $N_CONNS clients; allocs $N_ALLOC messages"
    echo
    cat "$REPORT"
    echo "## MQTT over WebSocket"
    echo
    echo "bench_mqttcws is bench_mqttc connecting to mosquitto's websockets listener"
    echo "(ws://127.0.0.1:PORT/mqtt) instead of its plain one: the same default options, the same"
    echo "corked pub0 and pub1; medians of $ROUNDS interleaved runs. Client CPU per message (rtt: the"
    echo "p50 round trip). sub0 is left out: mosquitto 2.0.11 writes to a websockets client about"
    echo "4 KiB per 100 ms, so a stream from the broker runs at the broker's pace."
    echo
    echo "$WS_REPORT"
    echo
    echo "## Durable stores (pub1)"
    echo
    echo "pub1 (QoS 1, window 20, $N_STORE messages) with each library's file store, beside the same"
    echo "program without one, medians of $ROUNDS interleaved runs: mqttc's file store (mqttc.h"
    echo "section 13) synced every 100 ms (BENCH_STORE_FLUSH_MS), Paho C's default file persistence"
    echo "(it writes a file per message and removes it at the acknowledgement). Client CPU per message."
    echo
    echo "$ST_REPORT"
    echo
    cat <<'EOF'
## What each program does

Same command line (`bench_CLIENT WORKLOAD PORT N`), same output line; sources in bench/.

- **raw floor** (bench_raw.c): no MQTT library. A blocking socket writes packets encoded in
  advance: pub0 in 64 KiB writes; pub1 keeps 32 QoS 1 messages in flight (mqttc's default
  window) and refills them in one write per read of PUBACKs; sub0 and rtt read 64 KiB at a time;
  conns writes CONNECT and SUBSCRIBE in one write per socket.
- **mqttc** (bench_mqttc.c): the poll-loop API (mqttc_fd, mqttc_events, poll(2), mqttc_step),
  one thread, default options (window 20, 64 KiB output limit). pub0 and pub1 are corked
  (mqttc_cork): publishes queue until the output is full (pub0) or the window is (pub1), then
  one mqttc_flush writes them. sub0, rtt and conns are not corked: a lone publish is written
  through at once.
- **mqttc5** (bench_mqttc.c again, built with -DBENCH_MQTT5): the same program with
  options.protocol_version = MQTTC_PROTOCOL_5 and nothing else, a user's default MQTT 5 path:
  the broker's CONNACK properties are read and obeyed (its Receive Maximum, 20 for mosquitto,
  caps the window of 20 anyway), no topic aliases, no properties sent. The column "mqttc5 /
  mqttc" is what speaking MQTT 5 costs over 3.1.1 in the same library.
- **libmosquitto** (bench_mosquitto.c): single-threaded, its fastest use: mosquitto_publish
  writes each packet at once, mosquitto_loop(mosq, 1000, 1) reads and completes the rest. pub1
  keeps at most 20 in flight (its default max_inflight_messages). conns uses poll(2) with
  mosquitto_loop_read/_write/_misc (mosquitto_loop's select() cannot take 1,000 sockets).
- **Paho C** (bench_paho.c): MQTTAsync, its fastest here. MQTTAsync_send queues a command that
  the library's thread writes; callbacks run on its receiving thread and signal the main thread.
  No persistence. pub1: its default window (maxInflight 65535). conns: all connects issued at
  once (its I/O thread paces them; 100 at a time costs about a second per batch in Paho).

Common rules: a warm-up of N/10 (at least 1,000 messages or 200 round trips) is not measured;
pub0 ends with one QoS 1 round trip inside the measured phase (so the broker has every
message); sub0's messages come from one common publisher process (`bench_raw blast`, 64 KiB
writes). conns connects one client first (every code path runs once), then measures N more,
100 connecting at a time (Paho excepted): peak RSS per connection = (VmHWM after - VmRSS
before) / N, descriptors from /proc/self/fd. CPU is getrusage(RUSAGE_SELF) over the measured
phase, every thread; its user/kernel split is sampled at the scheduler tick, coarse for short
phases. allocs preloads bench/alloc_count.so, which counts malloc, calloc, realloc and the
memalign family (every thread) between the start and the end of the measured phase. size:
bench/min_pub.c (connect, publish, disconnect; mqttc_init with NULL options) built -Os,
MQTTC_STATIC, --gc-sections, stripped, twice: the default build (MQTT 5 compiled in, what
mqttc5 needs) and the small build (-DMQTTC_NO_MQTT5 -DMQTTC_NO_RECONNECT -DMQTTC_NO_WEBSOCKET -DMQTTC_NO_PROXY -DMQTTC_NO_STORE: 3.1.1 only, no staying connected, TCP only); against the .text of
libmosquitto.so.1 and libpaho-mqtt3a.so.1 (libmosquitto's includes its TLS code and speaks
MQTT 5; Debian builds it with TLS, and mqttc's figures are without).

## All runs

EOF
    echo '```'
    sed 's/^RESULT //' "$RAW"
    echo '```'
} >"$OUT_MD"
awk '/^<!-- table -->/{p=1; next} /^<!-- end table -->/{p=0} p' "$REPORT" >"$TABLE_MD"
awk '/^<!-- table -->/{p=1; next} /^<!-- end table -->/{p=0} p' "$REPORT"
awk '/^<!-- targets -->/{p=1; next} /^<!-- end targets -->/{p=0} p' "$REPORT"
echo
echo "bench: wrote $OUT_MD and $TABLE_MD in ${ELAPSED} s"
