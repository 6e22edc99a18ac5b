# tests/minibroker_lib.sh - helpers of the minibroker suites (t_minibroker.sh, t_minibroker5.sh);
# source it after tests/lib.sh. Every broker runs under $VALGRIND (or, with VALGRIND empty in
# SANITIZE=1 builds, the sanitizers check it); check_all_brokers gives each its verdict.

[ -x "$B/minibroker" ] || { echo "build/minibroker missing: run make build/minibroker"; not_ok "build"; finish; }

H=127.0.0.1
# raw [--lines] PORT STEP...: the raw client (tests/minibroker_raw.py tells its steps).
RAW=$PWD/tests/minibroker_raw.py
raw() { timeout 20 python3 "$RAW" "$@"; }

# mb_start ARGS: start_minibroker, remembered for the SIGTERM + Valgrind verdict at the end.
ALL_MB=()
mb_start() {
    start_minibroker "$@" || { not_ok "start minibroker $*"; finish; }
    ALL_MB+=("$MB_PID|${MB_LOG%.log}|$*")
}
# remember_broker NAME: keeps the last started minibroker's port and stderr log as NAME_PORT, NAME_ERR.
remember_broker() {
    printf -v "${1}_PORT" %s "$MB_PORT"
    printf -v "${1}_ERR" %s "${MB_LOG%.log}.err"
}
# wait_log FILE TEXT [COUNT]: until TEXT occurs COUNT (default 1) times in FILE (10 s at most).
wait_log() {
    local i
    for i in $(seq 1 200); do
        [ "$(grep -cF -- "$2" "$1" 2>/dev/null)" -ge "${3:-1}" ] && return 0
        sleep 0.05
    done
    echo "    (timed out waiting for '$2' in $1)"; return 1
}
# sub_bg PORT ID OUTFILE BROKER_ERR_LOG ARGS...: a mosquitto_sub with client id ID in the
# background (pid in SUB_PID); returns once the broker (run with -v) logged its SUBACK.
sub_bg() {
    local port=$1 id=$2 file=$3 err=$4; shift 4
    timeout 10 mosquitto_sub -h $H -p "$port" -i "$id" "$@" >"$file" 2>&1 &
    SUB_PID=$!
    wait_log "$err" "$id > SUBACK"
}
pub() { local port=$1; shift; mosquitto_pub -h $H -p "$port" "$@"; }
# watch_bg ID FILTER COUNT [ARGS...]: sub_bg on the broker $P (stderr log $E) printing "topic
# payload" for COUNT messages on FILTER; expect_watched NAME EXPECTED then waits for it to end
# and compares what it printed. One watcher at a time.
watch_bg() {
    local id=$1 filter=$2 count=$3; shift 3
    sub_bg "$P" "$id" "$TMP/$id.out" "$E" -t "$filter" -v -C "$count" "$@"
    WATCH_ID=$id WATCH_PID=$SUB_PID
}
expect_watched() {
    wait "$WATCH_PID"
    expect_eq "$1" "$2" "$(cat "$TMP/$WATCH_ID.out")"
}
# term_wait PID: SIGTERM, then up to 15 s for the process to end; its exit code, or 124 (after
# SIGKILL) when it hangs, so a broker stuck at shutdown cannot hang the suite.
term_wait() {
    local i st
    kill -TERM "$1" 2>/dev/null
    for i in $(seq 1 150); do
        st=$(ps -o stat= -p "$1" 2>/dev/null)
        [ -z "$st" ] || [[ $st == Z* ]] && break
        sleep 0.1
    done
    if [ -n "$st" ] && [[ $st != Z* ]]; then kill -KILL "$1"; wait "$1" 2>/dev/null; return 124; fi
    wait "$1"
}

if [ -n "${VALGRIND:-}" ]; then MB_VALGRIND=1 CHECKER=Valgrind; else MB_VALGRIND=0 CHECKER=sanitizers; echo "# VALGRIND empty: sanitizers check the broker"; fi

# check_all_brokers: every broker started by mb_start: SIGTERM ends it with 0, and Valgrind
# (or a sanitizer) saw nothing.
check_all_brokers() {
    local e pid base args rc verdict
    for e in "${ALL_MB[@]}"; do
        IFS='|' read -r pid base args <<<"$e"
        term_wait "$pid"; rc=$?
        if [ "$MB_VALGRIND" = 1 ]; then
            verdict=$([ -f "$base.vg" ] && { [ -s "$base.vg" ] && echo "Valgrind errors" || echo clean; } || echo "no Valgrind log")
            [ -s "$base.vg" ] && sed 's/^/    /' "$base.vg" | head -n 30
        else
            verdict=$(grep -q Sanitizer "$base.err" && echo "sanitizer report" || echo clean)
        fi
        expect_eq "minibroker ${args:-(no options)}: SIGTERM -> exit 0, clean under $CHECKER" "0 clean" "$rc $verdict"
    done
}
