# tests/lib.sh - helpers for script suites (source it). Each suite:
#   . tests/lib.sh
#   check "name" command args...     # passes when the command exits 0
#   ...
#   finish                           # prints "N passed, N failed", exits non-zero on failure
# Brokers: start_minibroker ARGS (sets MB_PORT, MB_PID), start_mosquitto [CONF_LINES]
# (sets MQ_PORT, MQ_PID); both are stopped by the EXIT trap. Loopback only. Parts run at the
# same time: group NAME FUNCTION &, then count_groups NAMES.
set -u
cd "${MQTTC_ROOT:-$(dirname "${BASH_SOURCE[0]}")/..}"
B=${MQTTC_BUILD:-$PWD/build}
VALGRIND=${VALGRIND-valgrind -q --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite,indirect,possible}
T_PASS=0 T_FAIL=0
TMP=$(mktemp -d /tmp/mqttc-test.XXXXXX)
CLEANUP_PIDS=()
cleanup() {
    local p
    for p in "${CLEANUP_PIDS[@]}"; do kill "$p" 2>/dev/null; done
    for p in "${CLEANUP_PIDS[@]}"; do stop_pid "$p"; done
    rm -rf "$TMP"
}
trap cleanup EXIT

ok()     { T_PASS=$((T_PASS + 1)); echo "ok - $1"; }
not_ok() { T_FAIL=$((T_FAIL + 1)); echo "not ok - $1"; }
# check NAME CMD...: runs CMD (output to the log), passes when it exits 0.
check() {
    local name=$1; shift
    if "$@"; then ok "$name"; else not_ok "$name (exit $?)"; fi
}
# expect_eq NAME EXPECTED ACTUAL
expect_eq() {
    if [ "$2" == "$3" ]; then ok "$1"; else not_ok "$1"; printf '    expected: %q\n    actual:   %q\n' "$2" "$3"; fi
}
finish() {
    echo "${T_PASS} passed, ${T_FAIL} failed"
    [ "$T_FAIL" -eq 0 ]
    exit $?
}
# A port nothing listens on now and that this suite has not handed out before: a port kept
# closed on purpose (a test's "nothing listens here") is never given to a server started
# later (the kernel may offer the same free port again). Ports given: $TMP/ports.
free_port() {
    local p
    for _ in 1 2 3 4 5 6 7 8 9 10; do
        p=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()')
        grep -qx "$p" "$TMP/ports" 2>/dev/null && continue
        echo "$p" >>"$TMP/ports"
        echo "$p"
        return 0
    done
    echo "free_port: no new free port in 10 tries" >&2
    return 1
}
wait_port() { # port [tries]: until something listens on 127.0.0.1:port
    local i
    for i in $(seq 1 "${2:-100}"); do
        (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
        sleep 0.05
    done
    return 1
}
# start_minibroker [ARGS]: a private minibroker on a free loopback port (MB_VALGRIND=1: under Valgrind).
start_minibroker() {
    local out=$TMP/minibroker.$RANDOM
    mkfifo "$out.fifo"
    if [ "${MB_VALGRIND:-0}" = 1 ] && [ -n "$VALGRIND" ]; then
        $VALGRIND --log-file="$out.vg" "$B/minibroker" -p 0 "$@" >"$out.fifo" 2>"$out.err" &
    else
        "$B/minibroker" -p 0 "$@" >"$out.fifo" 2>"$out.err" &
    fi
    MB_PID=$!
    CLEANUP_PIDS+=("$MB_PID")
    local line
    exec 7<"$out.fifo"
    read -r -t 20 line <&7 || { echo "minibroker did not start" >&2; return 1; }
    (cat <&7 >"$out.log" &) ; exec 7<&-
    MB_PORT=${line##*:}
    MB_LOG=$out.log
}
# start_mosquitto [CONFIG LINES...]: a private mosquitto on a free loopback port.
start_mosquitto() {
    MQ_PORT=$(free_port)
    local conf=$TMP/mosquitto.$MQ_PORT.conf
    { echo "listener $MQ_PORT 127.0.0.1"; echo "allow_anonymous true"; echo "persistence false"
      local l; for l in "$@"; do echo "$l"; done; } >"$conf"
    mosquitto -c "$conf" >"$TMP/mosquitto.$MQ_PORT.log" 2>&1 &
    MQ_PID=$!
    CLEANUP_PIDS+=("$MQ_PID")
    wait_port "$MQ_PORT" || { echo "mosquitto did not start" >&2; cat "$TMP/mosquitto.$MQ_PORT.log" >&2; return 1; }
}
# group NAME FUNCTION: FUNCTION in a subshell that stops what it started, with its own
# directory W and its output in $TMP/NAME.log, for suites that run parts at the same time
# (start each with &, then wait). Says on stderr how long it took since GROUP_START.
group() {
    (
        CLEANUP_PIDS=() W=$TMP/$1
        trap 'for p in "${CLEANUP_PIDS[@]}"; do kill "$p" 2>/dev/null; done' EXIT
        mkdir -p "$W"
        "$2"
    ) >"$TMP/$1.log" 2>&1
    echo "$1 took $((SECONDS - GROUP_START)) s" >&2
}
# count_groups NAME...: once the groups ended, prints their logs in this order and counts
# their "ok" and "not ok" lines.
count_groups() {
    local g
    for g in "$@"; do
        cat "$TMP/$g.log"
        T_PASS=$((T_PASS + $(grep -c '^ok - ' "$TMP/$g.log")))
        T_FAIL=$((T_FAIL + $(grep -c '^not ok - ' "$TMP/$g.log")))
    done
}
# stop_pid PID: SIGTERM, then up to 15 s for it to end, then SIGKILL: a process that hangs
# while exiting fails its own check elsewhere but never blocks the suite.
stop_pid() {
    local i
    kill "$1" 2>/dev/null
    for i in $(seq 1 150); do
        kill -0 "$1" 2>/dev/null || break
        [[ $(ps -o stat= -p "$1" 2>/dev/null) == Z* ]] && break
        sleep 0.1
    done
    kill -0 "$1" 2>/dev/null && ! [[ $(ps -o stat= -p "$1" 2>/dev/null) == Z* ]] &&
        { echo "pid $1 did not exit within 15 s of SIGTERM: killed" >&2; kill -KILL "$1" 2>/dev/null; }
    wait "$1" 2>/dev/null
    return 0
}
