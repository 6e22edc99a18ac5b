#!/usr/bin/env bash
# tests/t_faults.sh - faults with a real peer (mosquitto on 127.0.0.1): build/fault_peer
# (tests/faults/peer.c) under $VALGRIND against a broker that is killed, stopped,
# fed 16 MiB payloads through 4 KiB socket buffers, or flooded by another client.
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

PEER=$B/fault_peer
[ -x "$PEER" ] || { not_ok "build/fault_peer missing (make test builds it)"; finish; }
command -v mosquitto_pub >/dev/null || { not_ok "mosquitto_pub missing (tests/deps.d/fuzz.list)"; finish; }

# run MODE ARGS...: the program under $VALGRIND, its report in the log
run() {
    # shellcheck disable=SC2086
    $VALGRIND "$PEER" "$@"
    local rc=$?
    [ "$rc" -eq 0 ] || echo "    $1: fault_peer exited $rc"
    return $rc
}

# 1. mosquitto killed (SIGKILL) while QoS 1 and QoS 2 publishes are in flight, the messages
#    still owned then completing through a second mosquitto.
start_mosquitto; P1=$MQ_PORT PID1=$MQ_PID
start_mosquitto; P2=$MQ_PORT
check "killed with QoS 1/2 in flight: closed, owned messages accounted for and resent" run killed "$P1" "$PID1" "$P2"
kill -CONT "$PID1" 2>/dev/null

# 2. mosquitto stopped (SIGSTOP): a half-open link, found by the keepalive.
start_mosquitto
check "stopped broker: pingresp within 2 x keepalive" run halfopen "$MQ_PORT" "$MQ_PID" 2
kill -CONT "$MQ_PID" 2>/dev/null

# 3. 16 MiB payloads through small socket buffers. Not under Valgrind (memcheck checks the
#    whole 16 MiB receive buffer on each of thousands of reads: minutes), but built with
#    ASan and UBSan (build/fault_peer_asan; leaks fail it too).
start_mosquitto
if [ -x "$B/fault_peer_asan" ]; then
    check "16 MiB payload through small socket buffers (ASan), and overflow at the default limit" \
        "$B/fault_peer_asan" bigpayload "$MQ_PORT"
else
    not_ok "build/fault_peer_asan missing (make test builds it)"
fi

# 4. 1000 QoS 1 messages while mosquitto_pub floods the same broker (QoS 0, as fast as it
#    can) to a mosquitto_sub.
start_mosquitto
mosquitto_sub -h 127.0.0.1 -p "$MQ_PORT" -t 'flood/#' >"$TMP/flood.out" 2>/dev/null &
SUB_PID=$!; CLEANUP_PIDS+=("$SUB_PID")
yes 'flood flood flood flood flood flood flood flood flood flood flood flood' |
    mosquitto_pub -h 127.0.0.1 -p "$MQ_PORT" -t flood/x -q 0 -l 2>/dev/null &
FLOOD_PID=$!; CLEANUP_PIDS+=("$FLOOD_PID")
for _ in $(seq 1 100); do [ -s "$TMP/flood.out" ] && break; sleep 0.05; done  # the flood is on
before=$(wc -l <"$TMP/flood.out")
check "1000 QoS 1 messages during a flood" run flood "$MQ_PORT"
after=$(wc -l <"$TMP/flood.out")
echo "    flood: the flood subscriber got $((after - before)) messages during the run"
check "the flood was flowing during the run" test "$((after - before))" -gt 1000
stop_pid "$FLOOD_PID"
finish
