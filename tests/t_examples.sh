#!/usr/bin/env bash
# tests/t_examples.sh - the small C examples, each run under $VALGRIND against minibroker and
# mosquitto with its output checked, and `make demo`'s script: its messages and the will
# arrive, it exits 0 within 10 s and leaves nothing running.
. "$(dirname "$0")/lib.sh"
for p in blocking_sub poll_loop adopt_fd minibroker mqttc-pub mqttc-sub; do
    [ -x "$B/$p" ] || { echo "missing $B/$p: run make first" >&2; exit 1; }
done

# wait_text FILE TEXT: until FILE contains TEXT (up to 20 s)
wait_text() {
    local i
    for i in $(seq 1 400); do
        grep -q -F -- "$2" "$1" 2>/dev/null && return 0
        sleep 0.05
    done
    echo "timed out waiting for '$2' in $1" >&2
    return 1
}

examples() { # BROKER PORT
    local br=$1 port=$2 out=$TMP/$1
    # blocking_sub: the seed's first example; after 2 messages its callback disconnects
    $VALGRIND "$B/blocking_sub" 127.0.0.1 "$port" "ex/$br/#" 2 >"$out.bs" 2>&1 &
    local bs=$!
    check "$br: blocking_sub subscribed" wait_text "$out.bs" "subscribed, granted QoS 1"
    mosquitto_pub -p "$port" -t "ex/$br/a" -m one
    mosquitto_pub -p "$port" -t "ex/$br/b" -m two -q 1
    wait "$bs"
    expect_eq "$br: blocking_sub exits 0" 0 $?
    expect_eq "$br: blocking_sub prints the messages" \
        "$(printf '%s\n' "subscribed, granted QoS 1" "ex/$br/a one" "ex/$br/b two" \
            "ended: disconnect (disconnected by mqttc_disconnect)")" "$(cat "$out.bs")"

    # poll_loop: publishes on a timer and receives its own messages in the same loop
    $VALGRIND "$B/poll_loop" 127.0.0.1 "$port" "ex/$br/ticks" 4 >"$out.pl" 2>&1
    expect_eq "$br: poll_loop exits 0" 0 $?
    expect_eq "$br: poll_loop receives its ticks" \
        "$(printf '%s\n' "received ex/$br/ticks: tick 1" "received ex/$br/ticks: tick 2" \
            "received ex/$br/ticks: tick 3" "received ex/$br/ticks: tick 4" \
            "sent 4, received 4, ended: disconnect")" "$(cat "$out.pl")"

    # adopt_fd: the socket is connected outside the client, then adopted
    $VALGRIND "$B/adopt_fd" 127.0.0.1 "$port" "ex/$br/adopted" >"$out.af" 2>&1
    expect_eq "$br: adopt_fd exits 0" 0 $?
    check "$br: adopt_fd connected over its own socket" grep -q "^connected over fd [0-9]" "$out.af"
    check "$br: adopt_fd receives its message" grep -qx "received ex/$br/adopted: hello over an adopted socket" "$out.af"
}

start_minibroker || exit 1
examples minibroker "$MB_PORT"
stop_pid "$MB_PID"
start_mosquitto || exit 1
examples mosquitto "$MQ_PORT"
stop_pid "$MQ_PID"

# An example given a port where nothing listens says so and exits 1.
$VALGRIND "$B/adopt_fd" 127.0.0.1 "$(free_port)" >/dev/null 2>"$TMP/none.err"
expect_eq "adopt_fd without a broker exits 1" 1 $?
$VALGRIND "$B/blocking_sub" 127.0.0.1 "$(free_port)" >"$TMP/none.out" 2>&1
expect_eq "blocking_sub without a broker exits 1" 1 $?
check "blocking_sub names the error" grep -q "ended: cannotconnect" "$TMP/none.out"

# The demo, as `make demo` runs it.
start_ms=$(date +%s%3N)
timeout 60 bash examples/demo.sh >"$TMP/demo.out" 2>&1
rc=$?
elapsed=$(($(date +%s%3N) - start_ms))
expect_eq "demo exits 0" 0 "$rc"
check "demo takes under 10 s ($elapsed ms)" test "$elapsed" -lt 10000
for line in "demo/status broker up" "demo/greeting hello from mqttc-pub" "demo/temperature 21.5" \
    "demo/log line one" "demo/log line two" "demo/will sensor-7 went offline"; do
    check "demo shows '$line'" grep -q "subscriber | $line\$" "$TMP/demo.out"
done
check "demo: the subscriber exits 0 by itself" grep -q "mqttc-sub exit code: 0" "$TMP/demo.out"
check "demo: the broker stops cleanly" grep -q "broker stopped (exit code 0)" "$TMP/demo.out"
demo_port=$(sed -n 's/.*listening on 127.0.0.1:\([0-9]*\).*/\1/p' "$TMP/demo.out")
check "demo: its broker announced a port ($demo_port)" test -n "$demo_port"
check "demo: nothing listens on its port any more" bash -c "! (exec 3<>/dev/tcp/127.0.0.1/$demo_port) 2>/dev/null"
check "demo: no process of it is left" bash -c "! pgrep -f -- '-p $demo_port( |\$)' >/dev/null"

finish
