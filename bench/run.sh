#!/usr/bin/env bash
# bench/run.sh - the benchmark driver behind `make bench` (which builds build/bench/ first).
#  1. makes a CA and a server certificate for 127.0.0.1 (openssl) and starts a private
#     mosquitto on free 127.0.0.1 ports: plain, websockets and TLS listeners; and a second one
#     for the handshake timings only, with set_tcp_nodelay (both killed at the end);
#  2. runs every workload for every client, interleaved (raw mqttc mqttc5 mosquitto paho,
#     raw ...; mqttc5 is bench_mqttc built to speak MQTT 5), ROUNDS times: pub0 and pub1 on
#     each library's default path, and mqttc's tuned one beside it (pub0corked, pub1corked);
#     sub0's messages come from one common publisher (bench_raw blast);
#     allocs = pub0, pub1, sub0 again with alloc_count.so preloaded;
#  3. pub1 at the windows of WINDOWS (raw, mqttc, libmosquitto; BENCH_WINDOW), interleaved;
#  4. N_SCALE (10,000) connections in one process and one poll loop (raw mqttc mosquitto paho);
#  5. TLS: pub0, pub1, sub0 for mqttc and libmosquitto over the TLS listener; handshakes over
#     TLS and over plain TCP (raw mqttc mosquitto) to the second broker, and a few over TLS to
#     the first (what mosquitto's default set_tcp_nodelay false costs a connect);
#  6. WebSocket and the durable stores (their own tables), then once: strace -f -c of each
#     client (system calls per message), callgrind of mqttc and mqttc5 (instructions per
#     message, by function, when valgrind is here), perf of pub1 (when perf works here), the
#     `size` figures (default, and -DMQTTC_NO_MQTT5 -DMQTTC_NO_RECONNECT -DMQTTC_NO_WEBSOCKET
#     -DMQTTC_NO_PROXY -DMQTTC_NO_STORE -DMQTTC_NO_INDEX);
#  7. prints the table of medians and ratios and writes bench/RESULTS.md and
#     bench/README-table.md (the table for the README's performance section).
# Environment: BENCH_QUICK=1 (small N, one round: to try the machinery), BENCH_ROUNDS,
# BENCH_N_SCALE (connections of step 4), BENCH_OUT (the report instead of bench/RESULTS.md;
# its table then goes beside it, NAME-table.md, unless BENCH_TABLE_OUT names the file).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
B=$ROOT/build/bench
OUT_MD=${BENCH_OUT:-$ROOT/bench/RESULTS.md}
if [ -n "${BENCH_OUT:-}" ]; then TABLE_MD=${BENCH_TABLE_OUT:-${BENCH_OUT%.md}-table.md}; else TABLE_MD=${BENCH_TABLE_OUT:-$ROOT/bench/README-table.md}; fi
CLIENTS="raw mqttc mqttc5 mosquitto paho"
WINDOWS="20 1000 10000 65535"
if [ "${BENCH_QUICK:-0}" = 1 ]; then
    ROUNDS=${BENCH_ROUNDS:-1}; N_PUB0=20000; N_PUB1=10000; N_SUB0=20000; N_RTT=1000; N_CONNS=200
    N_ALLOC=5000; N_TRACE=5000; N_TRACE_RTT=500; N_SCALE=${BENCH_N_SCALE:-2000}; N_HANDSHAKE=100; N_HANDSHAKE_NAGLE=10
else
    ROUNDS=${BENCH_ROUNDS:-3}; N_PUB0=200000; N_PUB1=100000; N_SUB0=200000; N_RTT=5000; N_CONNS=1000
    N_ALLOC=20000; N_TRACE=20000; N_TRACE_RTT=2000; N_SCALE=${BENCH_N_SCALE:-10000}; N_HANDSHAKE=500; N_HANDSHAKE_NAGLE=50
fi
# pub1 at window W: N_PUB1 messages, or W when more (the window must fill at least once;
# at 65,535 a library whose bookkeeping grows with the window takes minutes for more)
win_n() { [ "$1" -gt "$N_PUB1" ] && echo "$1" || echo "$N_PUB1"; }
RUN_TIMEOUT=200 # seconds for one program; each also stops itself after BENCH_TIMEOUT_S
LONG_TIMEOUT=170 # for the window and scale runs, which may be slow (then reported as such)

for f in bench_raw bench_mqttc bench_mqttc5 bench_mqttcws bench_mqttcstore bench_pahostore bench_mqttctls bench_mosquittotls \
         bench_mosquitto bench_paho alloc_count.so min_pub min_pub_no5; do
    [ -e "$B/$f" ] || { echo "bench/run.sh: $B/$f is missing: run 'make bench'" >&2; exit 1; }
done
command -v openssl >/dev/null || { echo "bench/run.sh: the openssl command is missing (bench/deps.sh installs it)" >&2; exit 1; }

# Descriptors: conns and the scale run open N sockets here and as many in the broker (which
# inherits this limit); libmosquitto takes 3 a client (its socket and a socket pair).
FD_SLACK=64
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
NOFILE=$(ulimit -n)
[ "$NOFILE" = unlimited ] && NOFILE=1048576
FD_NEED=$((N_SCALE + FD_SLACK)); [ $((3 * N_CONNS + FD_SLACK)) -gt "$FD_NEED" ] && FD_NEED=$((3 * N_CONNS + FD_SLACK))
if [ "$NOFILE" -lt "$FD_NEED" ]; then
    echo "bench/run.sh: ulimit -n is $NOFILE (hard limit $(ulimit -Hn)): $N_SCALE connections need $FD_NEED descriptors in mqttc's process and in the broker's" >&2
    exit 1
fi

WORK=$(mktemp -d /tmp/mqttc-bench.XXXXXX)
RAW=$WORK/results.txt
WARN_TXT=$WORK/warnings.txt
: >"$RAW"
: >"$WARN_TXT"
MQ_PID=""
HS_PID=""
cleanup() {
    local pid
    for pid in $MQ_PID $HS_PID; do kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; done
    rm -rf "$WORK"
}
trap cleanup EXIT
START_S=$SECONDS
LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)
# warn TEXT: said now on stderr, and again in the report
warn() { echo "bench: WARNING: $*" >&2; echo "$*" >>"$WARN_TXT"; }

# libmosquitto at scale: 3 descriptors a connection; past the limit, as many as fit
N_SCALE_MOSQ=$N_SCALE
if [ "$NOFILE" -lt $((3 * N_SCALE + FD_SLACK)) ]; then
    N_SCALE_MOSQ=$(( (NOFILE - FD_SLACK) / 3 / 100 * 100 ))
    warn "libmosquitto needs 3 descriptors a connection (its socket and a socket pair): $N_SCALE connections need $((3 * N_SCALE + FD_SLACK)), and ulimit -n's hard limit here is $NOFILE, so its scale run has $N_SCALE_MOSQ connections (raise the hard limit to compare at $N_SCALE)"
fi

# ---- certificates for the TLS listener: a CA and a server certificate for 127.0.0.1 and
# localhost, EC P-256 (as tests/tls/make-certs.sh makes them), valid for two days ----
TLS_DIR=$WORK/tls
mkdir -p "$TLS_DIR"
(
    cd "$TLS_DIR"
    openssl ecparam -name prime256v1 -genkey -noout -out ca.key 2>/dev/null
    openssl req -x509 -new -key ca.key -days 2 -subj "/CN=mqttc bench CA" -out ca.crt \
        -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null
    openssl ecparam -name prime256v1 -genkey -noout -out server.key 2>/dev/null
    printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\nbasicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\n' >server.ext
    openssl req -new -key server.key -subj "/CN=localhost" -out server.csr 2>/dev/null
    openssl x509 -req -in server.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 2 -extfile server.ext -out server.crt 2>/dev/null
) || { echo "bench/run.sh: could not make the TLS certificates" >&2; exit 1; }
export BENCH_TLS_CA=$TLS_DIR/ca.crt

# ---- the brokers ----
# max_inflight_messages 65535: per client, mosquitto 2.0.11 holds incoming QoS 1/2 to its
# msgs_in.inflight_maximum (this) and tells MQTT 5 clients so in CONNACK (Receive Maximum);
# a 3.1.1 client's QoS 1 is acknowledged at once and never waits on it, but nothing here may
# cap a window of 65,535. max_queued_messages: what waits beyond it, per client.
# user root (when run as root): mosquitto would drop to its own user, who cannot read the key
# in this private directory.
# The second broker times the handshakes only: set_tcp_nodelay true, because with mosquitto's
# default its CONNACK over TLS 1.3 waits behind its session tickets for the client's delayed
# ACK (Nagle): 40 ms more on every TLS connect, for every client alike. Not on the first: it
# would write every message to a subscriber in a segment of its own (sub0's cost 50 times).
freeport() {
    local p
    while :; do
        p=$("$B/bench_raw" freeport)
        case " 1883 8883 ${PORT:-} ${WS_PORT:-} ${TLS_PORT:-} ${HS_PORT:-} " in *" $p "*) ;; *) echo "$p"; return ;; esac
    done
}
PORT=$(freeport)
WS_PORT=$(freeport)
TLS_PORT=$(freeport)
HS_PORT=$(freeport)
HS_TLS_PORT=$(freeport)
tls_listener() { # port
    echo "listener $1 127.0.0.1"
    echo "cafile $TLS_DIR/ca.crt"
    echo "certfile $TLS_DIR/server.crt"
    echo "keyfile $TLS_DIR/server.key"
}
broker_common() {
    echo "persistence false"
    [ "$(id -u)" != 0 ] || echo "user root"
    echo "log_dest stderr"
    echo "log_type error"
    echo "log_type warning"
}
MQ_CONF=$WORK/mosquitto.conf
{
    echo "listener $PORT 127.0.0.1"
    echo "max_connections -1"
    echo "allow_anonymous true"
    echo "listener $WS_PORT 127.0.0.1"
    echo "protocol websockets"
    tls_listener "$TLS_PORT"
    echo "max_inflight_messages 65535"
    echo "max_queued_messages 10000000"
    broker_common
} >"$MQ_CONF"
HS_CONF=$WORK/mosquitto-handshakes.conf
{
    echo "listener $HS_PORT 127.0.0.1"
    echo "allow_anonymous true"
    tls_listener "$HS_TLS_PORT"
    echo "set_tcp_nodelay true"
    broker_common
} >"$HS_CONF"
mosquitto -c "$MQ_CONF" >"$WORK/mosquitto.log" 2>&1 &
MQ_PID=$!
mosquitto -c "$HS_CONF" >"$WORK/mosquitto-handshakes.log" 2>&1 &
HS_PID=$!
for p in $PORT $TLS_PORT $HS_PORT $HS_TLS_PORT; do
    for _ in $(seq 1 100); do (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null && break; sleep 0.05; done
    (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null || { echo "bench/run.sh: mosquitto did not start (port $p)" >&2; cat "$WORK"/mosquitto*.log >&2; exit 1; }
done
MQ_NOFILE=$(awk '/^Max open files/ {print $4}' "/proc/$MQ_PID/limits")
[ "$MQ_NOFILE" = unlimited ] || [ "$MQ_NOFILE" -ge $((N_SCALE + FD_SLACK)) ] || { echo "bench/run.sh: mosquitto may open $MQ_NOFILE descriptors; the scale run needs $((N_SCALE + FD_SLACK))" >&2; exit 1; }

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

# the workloads a client has: the corked (tuned) ones are mqttc's
has_workload() { # client workload
    case $2 in pub0corked|pub1corked) [ "$1" = mqttc ] || [ "$1" = mqttc5 ] ;; *) true ;; esac
}

run_plain() { # mode round client workload n [preload [port]]
    local pre=${6:-} port=${7:-$PORT} out
    out=$(LD_PRELOAD=$pre timeout "$RUN_TIMEOUT" "$B/bench_$3" "$4" "$port" "$5") || { echo "bench/run.sh: $3 $4 failed: $out" >&2; exit 1; }
    record "$1" "$2" "$out"
}

# A run that may take too long (a large window, many connections): past LONG_TIMEOUT it
# is reported as not finished (a RESULT line with timeout_s and a warning), not fatal.
run_long() { # mode round client workload n [VAR=value...]
    local mode=$1 round=$2 c=$3 w=$4 n=$5 out rc=0
    shift 5
    out=$(env "$@" BENCH_TIMEOUT_S=$LONG_TIMEOUT timeout $((LONG_TIMEOUT + 10)) "$B/bench_$c" "$w" "$PORT" "$n" 2>&1) || rc=$?
    if [ "$rc" = 3 ] || [ "$rc" = 124 ]; then
        warn "$c $w ($mode, n $n${*:+, $*}) did not finish in $LONG_TIMEOUT s"
        echo "RESULT client=$c workload=$w n=$n timeout_s=$LONG_TIMEOUT mode=$mode round=$round" >>"$RAW"
        return
    fi
    [ "$rc" = 0 ] || { echo "bench/run.sh: $c $w ($*) failed: $out" >&2; exit 1; }
    record "$mode" "$round" "$out"
}

# sub0: the subscriber says READY on its stdout (a fifo here), then the blaster runs (to
# the plain listener; the subscriber may be on another one of the same broker).
run_sub0() { # mode round client n [preload [port]]
    local pre=${5:-} port=${6:-$PORT} fifo=$WORK/sub.fifo line out pid
    rm -f "$fifo"; mkfifo "$fifo"
    LD_PRELOAD=$pre timeout "$RUN_TIMEOUT" "$B/bench_$3" sub0 "$port" "$4" >"$fifo" &
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
        pub0|pub0corked) run_plain "$1" "$2" "$3" "$4" "$([ "$1" = allocs ] && echo "$N_ALLOC" || echo "$N_PUB0")" "${5:-}" ;;
        pub1|pub1corked) run_plain "$1" "$2" "$3" "$4" "$([ "$1" = allocs ] && echo "$N_ALLOC" || echo "$N_PUB1")" "${5:-}" ;;
        sub0) run_sub0 "$1" "$2" "$3" "$([ "$1" = allocs ] && echo "$N_ALLOC" || echo "$N_SUB0")" "${5:-}" ;;
        rtt) run_plain "$1" "$2" "$3" rtt "$N_RTT" ;;
        conns) run_plain "$1" "$2" "$3" conns "$N_CONNS" ;;
    esac
}

echo "bench: mosquitto on 127.0.0.1:$PORT (TLS $TLS_PORT; handshakes: $HS_PORT, TLS $HS_TLS_PORT); $ROUNDS rounds of pub0 pub0corked pub1 pub1corked sub0 rtt conns allocs; clients: $CLIENTS"
for round in $(seq 1 "$ROUNDS"); do
    for w in pub0 pub0corked pub1 pub1corked sub0 rtt conns; do
        for c in $CLIENTS; do
            if has_workload "$c" "$w"; then run_workload time "$round" "$c" "$w"; fi
        done
    done
    for w in pub0 pub1 sub0; do
        for c in $CLIENTS; do run_workload allocs "$round" "$c" "$w" "$B/alloc_count.so"; done
    done
    echo "bench: round $round done ($((SECONDS - START_S)) s)"
done

# ---- pub1 at several windows: BENCH_WINDOW=W sets mqttc's options.max_inflight, libmosquitto's
# max inflight messages (and its own loop's window) and the raw floor's window; the default
# path (publish, pump on BUSY); interleaved, ROUNDS times; mode "wW" ----
for round in $(seq 1 "$ROUNDS"); do
    for win in $WINDOWS; do
        for c in raw mqttc mosquitto; do run_long "w$win" "$round" "$c" pub1 "$(win_n "$win")" BENCH_WINDOW="$win"; done
    done
    echo "bench: windows, round $round done ($((SECONDS - START_S)) s)"
done

# ---- scale: N_SCALE connections in one process and one poll loop, interleaved, ROUNDS
# times; mode "scale" ----
for round in $(seq 1 "$ROUNDS"); do
    for c in raw mqttc mosquitto paho; do
        n=$N_SCALE; [ "$c" = mosquitto ] && n=$N_SCALE_MOSQ
        run_long scale "$round" "$c" conns "$n"
    done
    echo "bench: $N_SCALE connections, round $round done ($((SECONDS - START_S)) s)"
done

# ---- TLS: mqttc (MQTTC_WITH_OPENSSL) and libmosquitto over the TLS listener, pub0 pub1
# sub0; handshakes over TLS and plain TCP to the second broker (set_tcp_nodelay), a few over
# TLS to the first; interleaved, ROUNDS times; mode "tls" ("tlsnagle": the first broker's) ----
for round in $(seq 1 "$ROUNDS"); do
    for w in pub0 pub1 sub0; do
        for c in mqttctls mosquittotls; do
            case $w in
                pub0) run_plain tls "$round" "$c" pub0 "$N_PUB0" "" "$TLS_PORT" ;;
                pub1) run_plain tls "$round" "$c" pub1 "$N_PUB1" "" "$TLS_PORT" ;;
                sub0) run_sub0 tls "$round" "$c" "$N_SUB0" "" "$TLS_PORT" ;;
            esac
        done
    done
    for c in mqttctls mosquittotls raw mqttc mosquitto; do
        p=$HS_PORT; [ "$c" = mqttctls ] || [ "$c" = mosquittotls ] && p=$HS_TLS_PORT
        BENCH_BROKER_PID=$HS_PID run_plain tls "$round" "$c" handshake "$N_HANDSHAKE" "" "$p"
    done
    for c in mqttctls mosquittotls; do run_plain tlsnagle "$round" "$c" handshake "$N_HANDSHAKE_NAGLE" "" "$TLS_PORT"; done
    echo "bench: TLS, round $round done ($((SECONDS - START_S)) s)"
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
        for w in pub0 pub0corked pub1 pub1corked sub0 rtt; do
            has_workload "$c" "$w" || continue
            n=$N_TRACE; [ "$w" = rtt ] && n=$N_TRACE_RTT
            m=$(run_under "$c" "$w" "$n" strace -f -c -o "$WORK/strace.out")
            calls=$(awk '$NF == "total" {print $4}' "$WORK/strace.out")
            echo "$c $w $(awk -v c="$calls" -v m="$m" 'BEGIN{printf "%.3f", c/m}')" >>"$TRACE"
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

# ---- size: the default build (MQTT 5 compiled in) and the small one (-DMQTTC_NO_MQTT5 -DMQTTC_NO_RECONNECT -DMQTTC_NO_WEBSOCKET -DMQTTC_NO_PROXY -DMQTTC_NO_STORE -DMQTTC_NO_INDEX) ----
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
export WINDOWS N_SCALE N_SCALE_MOSQ N_HANDSHAKE N_HANDSHAKE_NAGLE LONG_TIMEOUT
WIN_NS=""
for w in $WINDOWS; do WIN_NS="$WIN_NS${WIN_NS:+, }$w: $(win_n "$w")"; done
REPORT=$WORK/report.md
awk -f bench/report.awk "$RAW" "$TRACE" "$PROFILE" "$INFO" "$INSTR" >"$REPORT"
# the broker's configuration, its ports and directory named
conf_shown() { grep -v '^log_' "$1" | sed "s#$TLS_DIR#DIR#; s/ $PORT / PORT /; s/ $WS_PORT / WS_PORT /; s/ $TLS_PORT / TLS_PORT /; s/ $HS_PORT / PORT /; s/ $HS_TLS_PORT / TLS_PORT /" | paste -sd ';' | sed 's/;/; /g'; }

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
    echo "- libmosquitto $(pkgver libmosquitto1) ($(basename "$MOSQ_SO")), Paho C $(pkgver libpaho-mqtt1.3) ($(basename "$PAHO_SO")): Debian's packages; OpenSSL $(pkgver libssl3)"
    echo "- broker: mosquitto $(pkgver mosquitto), config: \`$(conf_shown "$MQ_CONF")\`"
    echo "- the second broker (handshake timings only): \`$(conf_shown "$HS_CONF")\`"
    echo "- descriptors: ulimit -n $NOFILE here and in the broker (hard limit $(ulimit -Hn))"
    echo "- N: pub0 $N_PUB0, pub1 $N_PUB1, sub0 $N_SUB0 messages of 64 bytes; rtt $N_RTT round trips; conns $N_CONNS clients;"
    echo "  allocs $N_ALLOC messages; pub1 at window W, messages: $WIN_NS; scale $N_SCALE connections"
    echo "  (libmosquitto $N_SCALE_MOSQ); handshakes $N_HANDSHAKE ($N_HANDSHAKE_NAGLE to the first broker)"
    echo
    if [ -s "$WARN_TXT" ]; then
        echo "**Warnings of this run:**"
        echo
        sed 's/^/- /' "$WARN_TXT"
        echo
    fi
    cat "$REPORT"
    echo "## MQTT over WebSocket"
    echo
    echo "bench_mqttcws is bench_mqttc connecting to mosquitto's websockets listener"
    echo "(ws://127.0.0.1:PORT/mqtt) instead of its plain one: the same default options, the same"
    echo "default path for pub0 and pub1 (publish, pump on BUSY; no cork); medians of $ROUNDS interleaved"
    echo "runs. Client CPU per message (rtt: the p50 round trip). sub0 is left out: mosquitto 2.0.11"
    echo "writes to a websockets client about 4 KiB per 100 ms, so a stream from the broker runs at"
    echo "the broker's pace."
    echo
    echo "$WS_REPORT"
    echo
    echo "## Durable stores (pub1)"
    echo
    echo "pub1 (QoS 1, window 20, default path, $N_STORE messages) with each library's file store,"
    echo "beside the same program without one, medians of $ROUNDS interleaved runs: mqttc's file store"
    echo "(mqttc.h section 13) synced every 100 ms (BENCH_STORE_FLUSH_MS), Paho C's default file"
    echo "persistence (it writes a file per message and removes it at the acknowledgement). Client CPU"
    echo "per message."
    echo
    echo "$ST_REPORT"
    echo
    cat <<'EOF'
## What each program does

Same command line (`bench_CLIENT WORKLOAD PORT N`), same output line; sources in bench/.

- **raw floor** (bench_raw.c): no MQTT library. A blocking socket writes packets encoded in
  advance: pub0 in 64 KiB writes; pub1 keeps 20 QoS 1 messages in flight (mqttc's default
  window; BENCH_WINDOW otherwise) and refills them in one write per read of PUBACKs; sub0 and
  rtt read 64 KiB at a time; conns writes CONNECT and SUBSCRIBE in one write per socket;
  handshake connects, writes CONNECT and reads CONNACK.
- **mqttc** (bench_mqttc.c): the poll-loop API (mqttc_wait, or mqttc_fd / mqttc_poll_events
  and poll(2) for many clients, then mqttc_step), one thread, default options (window 20,
  64 KiB output limit).
  - **pub0, pub1: the default path**, what a new user writes with the documented API: a loop
    of mqttc_publish, and on MQTTC_ERR_BUSY (output or window full) one pump (mqttc_wait,
    mqttc_step), then the same publish again; no cork, no flush. A publish is written through
    at once when the socket is idle. pub0 ends with one QoS 1 round trip (so every message
    arrived), pub1 with every PUBACK.
  - **pub0 corked, pub1 corked: tuned** (mqttc_cork / mqttc_flush): publishes are queued until
    the output (pub0) or the window (pub1) is full, then one mqttc_flush writes them all.
  - sub0, rtt and conns are not corked.
- **mqttc5** (bench_mqttc.c again, built with -DBENCH_MQTT5): the same program with
  options.protocol_version = MQTTC_PROTOCOL_5 and nothing else, a user's default MQTT 5 path:
  the broker's CONNACK properties are read and obeyed (its Receive Maximum, 65,535 with this
  broker's max_inflight_messages, leaves the window at 20), no topic aliases, no properties
  sent. The column "mqttc5 / mqttc" is what speaking MQTT 5 costs over 3.1.1 in the same library.
- **libmosquitto** (bench_mosquitto.c): single-threaded, its fastest use, which is also its
  default (it has nothing like a cork): mosquitto_publish writes each packet at once,
  mosquitto_loop(mosq, 1000, 1) reads and completes the rest. pub1 keeps at most 20 in flight
  (its default max inflight messages; BENCH_WINDOW sets both its loop's window and
  mosquitto_max_inflight_messages_set, which is MOSQ_OPT_SEND_MAXIMUM in 2.0 and holds for
  3.1.1 too). conns: one poll(2) over every client's socket, mosquitto_loop_read / _write for
  the clients with events, mosquitto_loop_misc for those and for every client once a second
  (mosquitto_loop's select() cannot take descriptors past 1023).
- **Paho C** (bench_paho.c): MQTTAsync, its fastest here. MQTTAsync_send queues a command that
  the library's thread writes; callbacks run on its receiving thread and signal the main thread.
  No persistence. pub1: its default window (maxInflight 65535). conns: all connects issued at
  once (its I/O thread paces them; 100 at a time costs about a second per batch in Paho).
- **over TLS**: bench_mqttctls is bench_mqttc built with -DMQTTC_WITH_OPENSSL and options.secure
  = 1, tls_ca_file = the bench's CA, tls_verify = 1 (chain and host name checked, as
  libmosquitto checks them by default); bench_mosquittotls is bench_mosquitto with
  mosquitto_tls_set(CA file) and its defaults otherwise. Both to the broker's TLS listener
  (TLS 1.3, an EC P-256 certificate for 127.0.0.1 made for the run); the same default paths
  as over TCP; sub0's messages come from the blaster on the plain listener. Neither resumes
  TLS sessions: every handshake is a full one.

Common rules: a warm-up of N/10 (at least 1,000 messages, 200 round trips or 20 handshakes) is
not measured; pub0 ends with one QoS 1 round trip inside the measured phase (so the broker has
every message); sub0's messages come from one common publisher process (`bench_raw blast`,
64 KiB writes). CPU is getrusage(RUSAGE_SELF) over the measured phase, every thread; its
user/kernel split is sampled at the scheduler tick, coarse for short phases. allocs preloads
bench/alloc_count.so, which counts malloc, calloc, realloc and the memalign family (every
thread) between the start and the end of the measured phase.

- **pub1 at several windows**: the default path of pub1 with BENCH_WINDOW = W (mqttc:
  options.max_inflight = W; libmosquitto: its loop's window and mosquitto_max_inflight_messages_set(W);
  raw: W in flight), with the number of messages on the N line above, so the window fills; the
  broker holds no QoS 1 of a 3.1.1 client back (max_inflight_messages 65535; mosquitto 2.0.11
  acknowledges a 3.1.1 client's QoS 1 at once: its incoming quota is taken and given back in
  the same call). A run past its time limit is reported as not finished, not dropped.
- **conns (memory per idle connection)**: N clients connected and subscribed (connect,
  CONNACK, SUBSCRIBE, SUBACK), 100 connecting at a time, all of them in one poll loop. The
  baseline is taken **before the first connection** of the process, so what the first connect
  brings in (library and libc pages touched for the first time, one-time allocations, Paho's
  threads) counts, spread over N; the clients' array (mqttc_client is the caller's memory) and
  the poll array count too. Peak RSS per connection = (VmHWM with every client connected -
  VmRSS at the baseline) / N, VmHWM reset at the baseline; heap bytes per connection =
  (mallinfo2 uordblks + hblkhd: glibc's every arena and its mmapped chunks, allocator headers
  included) with every client connected, over the baseline, / N; descriptors from
  /proc/self/fd. Connections per second = N / the wall time of the measured phase.
- **scale**: the same workload with N_SCALE connections in one process and one poll(2) call
  over every descriptor per loop round (mqttc: mqttc_fd / mqttc_poll_events / mqttc_step, a
  step for each client with events or a deadline due; libmosquitto as in conns). ulimit -n
  is raised to its hard limit; libmosquitto takes 3 descriptors a connection, so where the
  hard limit is below 3 x N_SCALE it runs as many as fit, and the report says so. A run past
  its time limit is reported as not finished.
- **handshake**: one client connects N times, one after another: each connect is timed from
  the call (mqttc_connect; mosquitto_connect and its loop) to CONNACK, wall time and CPU
  (CLOCK_PROCESS_CPUTIME_ID); then it disconnects cleanly (not timed). Medians (p50) of the
  N; over TLS and, beside it, over plain TCP, to the second broker (set_tcp_nodelay true);
  and a few over TLS to the first one (mosquitto's default, set_tcp_nodelay false), whose
  CONNACK waits for the client's delayed ACK of its session tickets.
- **size**: bench/min_pub.c (connect, publish, disconnect; mqttc_init with NULL options) built
  -Os, MQTTC_STATIC, --gc-sections, stripped, twice: the default build (MQTT 5 compiled in,
  what mqttc5 needs) and the small build (-DMQTTC_NO_MQTT5 -DMQTTC_NO_RECONNECT
  -DMQTTC_NO_WEBSOCKET -DMQTTC_NO_PROXY -DMQTTC_NO_STORE -DMQTTC_NO_INDEX: 3.1.1 only, no staying connected, TCP
  only); against the .text of libmosquitto.so.1 and libpaho-mqtt3a.so.1 (libmosquitto's
  includes its TLS code and speaks MQTT 5; Debian builds it with TLS, and mqttc's figures are
  without).
- **The brokers**: the first, for everything but the handshake timings: max_inflight_messages
  65535 (per client, incoming QoS 1/2 held to it, and an MQTT 5 client's Receive Maximum),
  max_queued_messages 10000000, max_connections -1, Nagle on (mosquitto's default). The second,
  for the handshake timings: set_tcp_nodelay true, because with mosquitto's default its
  CONNACK over TLS 1.3 waits behind its session tickets for the client's delayed ACK, about
  40 ms on every TLS connect for every client alike (the "default broker" row shows it); it is
  not set on the first, where it would write every message to a subscriber in a segment of its
  own and multiply sub0's cost for every client. Both run as root when the bench is (to read
  the key in the bench's private directory).

## All runs

EOF
    echo '```'
    sed 's/^RESULT //' "$RAW"
    echo '```'
} >"$OUT_MD"
awk '/^<!-- table -->/{p=1; next} /^<!-- end table -->/{p=0} p' "$REPORT" >"$TABLE_MD"
awk '/^<!-- table -->/{p=1; next} /^<!-- end table -->/{p=0} p' "$REPORT"
awk '/^<!-- targets -->/{p=1; next} /^<!-- end targets -->/{p=0} p' "$REPORT"
if [ -s "$WARN_TXT" ]; then echo; sed 's/^/bench: WARNING: /' "$WARN_TXT"; fi
echo
echo "bench: wrote $OUT_MD and $TABLE_MD in ${ELAPSED} s"
