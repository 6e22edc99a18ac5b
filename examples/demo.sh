#!/usr/bin/env bash
# examples/demo.sh - `make demo`: the bundled broker with messages, a retained message and a
# will flowing between the command-line tools. Loopback only; a second or so; leaves no
# process behind. Run it after `make` (it uses build/minibroker, build/mqttc-pub, -sub).
set -u
cd "$(dirname "$0")/.."
B=${MQTTC_BUILD:-$PWD/build} # make exports the build directory (build/asan with SANITIZE=1)
for p in minibroker mqttc-pub mqttc-sub; do
    [ -x "$B/$p" ] || { echo "demo: $B/$p is missing; run make first" >&2; exit 1; }
done
TMP=$(mktemp -d /tmp/mqttc-demo.XXXXXX)
PIDS=()
cleanup() { # SIGTERM to what is left, SIGKILL to what ignores it
    local p i alive
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done
    for i in $(seq 1 40); do
        alive=0
        for p in "${PIDS[@]}"; do kill -0 "$p" 2>/dev/null && alive=1; done
        [ "$alive" = 0 ] && break
        sleep 0.05
    done
    for p in "${PIDS[@]}"; do kill -KILL "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
    rm -rf "$TMP"
}
trap cleanup EXIT

BOLD="" PLAIN=""
[ -t 1 ] && BOLD=$(printf '\033[1m') PLAIN=$(printf '\033[0m')
say() { printf '\n%s%s%s\n' "$BOLD" "$*" "$PLAIN"; }
show_cmd() { # the command as one would type it: build/... and quotes where needed
    local a line="  \$"
    for a in "$@"; do
        a=${a#"$PWD/"}
        [[ "$a" != "&" && "$a" =~ [^A-Za-z0-9_./:=+-] ]] && a="'$a'"
        line+=" $a"
    done
    echo "$line"
}
run() { show_cmd "$@"; "$@"; } # show a command, then run it
fail() { echo "demo: $*" >&2; exit 1; }
# wait_lines FILE N: until FILE has N lines (up to 10 s)
wait_lines() {
    local i
    for i in $(seq 1 200); do
        [ -f "$1" ] && [ "$(wc -l <"$1")" -ge "$2" ] && return 0
        sleep 0.05
    done
    fail "timed out waiting for $2 lines in $(basename "$1")"
}
SHOWN=0
show_new() { # prints the subscriber's lines not shown yet
    tail -n +$((SHOWN + 1)) "$TMP/sub.out" | sed 's/^/    subscriber | /'
    SHOWN=$(wc -l <"$TMP/sub.out")
}

say "1. Start the bundled broker on a free loopback port"
"$B/minibroker" -p 0 >"$TMP/broker.out" 2>"$TMP/broker.err" &
PIDS+=($!)
wait_lines "$TMP/broker.out" 1
PORT=$(head -n 1 "$TMP/broker.out" | sed 's/.*://')
echo "  $(head -n 1 "$TMP/broker.out")"

say "2. Publish a retained status, so that whoever subscribes later gets it at once"
run "$B/mqttc-pub" -p "$PORT" -t demo/status -m "broker up" -r -q 1 || fail "publish failed"

say "3. A subscriber prints every message under demo/ as 'topic payload' (-v); it exits after 6 (-C 6)"
show_cmd "$B/mqttc-sub" -p "$PORT" -v -t 'demo/#' -C 6 \&
"$B/mqttc-sub" -p "$PORT" -v -t 'demo/#' -C 6 >"$TMP/sub.out" 2>"$TMP/sub.err" &
SUB=$!
PIDS+=($SUB)
wait_lines "$TMP/sub.out" 1 # the retained status: the subscription is in place
show_new

say "4. A second client connects with a will: the broker publishes it if the client vanishes"
show_cmd "$B/mqttc-sub" -p "$PORT" -t demo/status --will-topic demo/will --will-payload "sensor-7 went offline" \&
"$B/mqttc-sub" -p "$PORT" -t demo/status --will-topic demo/will --will-payload "sensor-7 went offline" \
    >"$TMP/will.out" 2>"$TMP/will.err" &
WILL=$!
PIDS+=($WILL)
wait_lines "$TMP/will.out" 1 # it got the retained status: connected and subscribed

say "5. Publish a few messages (QoS 0, 1 and 2, and two lines read from stdin with -l)"
run "$B/mqttc-pub" -p "$PORT" -t demo/greeting -m "hello from mqttc-pub" || fail "publish failed"
run "$B/mqttc-pub" -p "$PORT" -t demo/temperature -m 21.5 -q 1 || fail "publish failed"
echo "  \$ printf 'line one\\nline two\\n' | build/mqttc-pub -p $PORT -t demo/log -l -q 2"
printf 'line one\nline two\n' | "$B/mqttc-pub" -p "$PORT" -t demo/log -l -q 2 || fail "publish failed"
wait_lines "$TMP/sub.out" 5
show_new

say "6. Kill the second client with SIGKILL: no DISCONNECT reaches the broker, so it sends the will"
run kill -KILL "$WILL"
wait "$WILL" 2>/dev/null
wait_lines "$TMP/sub.out" 6
show_new

say "7. The subscriber has its 6 messages (the retained status, 4 published, the will) and exits by itself (-C)"
wait "$SUB"
echo "  mqttc-sub exit code: $?"
BROKER=${PIDS[0]}
kill "$BROKER"
for i in $(seq 1 100); do kill -0 "$BROKER" 2>/dev/null || break; sleep 0.05; done
kill -0 "$BROKER" 2>/dev/null && fail "the broker did not stop on SIGTERM" # cleanup kills it
wait "$BROKER"
echo "  broker stopped (exit code $?)"
PIDS=()
say "Done. The same flags work with mosquitto_pub and mosquitto_sub; see build/mqttc-sub --help."
