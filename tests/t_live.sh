#!/usr/bin/env bash
# Integration over real sockets: build/live_client scenarios (under Valgrind) against the
# bundled minibroker (with its fault flags) and a private mosquitto, on loopback only.
. "$(dirname "$0")/lib.sh"
L=$B/live_client
live() { # name, scenario, port, args...: passes when the scenario (under Valgrind) exits 0
    local name=$1; shift
    check "$name" timeout 120 $VALGRIND "$L" "$@"
}

start_minibroker
live "minibroker: QoS 0/1/2, handlers, binary, 1 MiB, retained" roundtrip "$MB_PORT"
live "minibroker: will on a vanished client, none after DISCONNECT" will "$MB_PORT"
live "minibroker: 20 independent clients in one process" many "$MB_PORT"
live "minibroker: adopted socket (the seed's proxy example)" adopt "$MB_PORT"
live "minibroker: poll(2) loop, timer publishing, idle without spinning" pollloop "$MB_PORT"
live "minibroker: loop thread + publishing thread with lock hooks" threads "$MB_PORT"
live "minibroker: three filters in one SUBSCRIBE and one UNSUBSCRIBE" manyfilters "$MB_PORT"
live "minibroker: pause holds messages back; disconnect after 100 QoS 2 delivers 100" pausedrain "$MB_PORT"
stop_pid "$MB_PID"

start_minibroker --user alice --pass 's3cret'
live "minibroker --user/--pass: right, wrong (4), none (5)" credentials "$MB_PORT" alice 's3cret'
stop_pid "$MB_PID"

for code in 1 2 3 4 5; do
    start_minibroker --connack "$code"
    live "minibroker --connack $code: refusal reported as \"$code\"" connack "$MB_PORT" "$code"
    stop_pid "$MB_PID"
done

start_minibroker --no-pingresp
live "minibroker --no-pingresp: \"pingresp\" within 2 x keepalive" pingresp "$MB_PORT"
stop_pid "$MB_PID"

start_minibroker --drop-after 3
live "minibroker --drop-after 3: \"closed\", in-flight message kept" closed "$MB_PORT"
stop_pid "$MB_PID"

live "cannotresolve, cannotconnect, invalidresp, timeout" errors 0

# mosquitto: IPv4 and IPv6 loopback on the same port
MQ_PORT=$(free_port)
conf=$TMP/mq-live.conf
printf 'listener %s 127.0.0.1\nlistener %s ::1\nallow_anonymous true\npersistence false\n' "$MQ_PORT" "$MQ_PORT" >"$conf"
mosquitto -c "$conf" >"$TMP/mq-live.log" 2>&1 &
CLEANUP_PIDS+=($!)
wait_port "$MQ_PORT"
live "mosquitto: QoS 0/1/2, handlers, binary, 1 MiB, retained" roundtrip "$MQ_PORT"
live "mosquitto: will on a vanished client, none after DISCONNECT" will "$MQ_PORT"
live "mosquitto: IPv6 loopback ::1" ipv6 "$MQ_PORT"
live "mosquitto: adopted socket" adopt "$MQ_PORT"
live "mosquitto: poll(2) loop" pollloop "$MQ_PORT"
live "mosquitto: 20 independent clients" many "$MQ_PORT"
live "mosquitto: overlapping filters, one PUBLISH, each handler once" overlap "$MQ_PORT"
live "mosquitto: three filters in one SUBSCRIBE and one UNSUBSCRIBE" manyfilters "$MQ_PORT"
live "mosquitto: pause holds messages back; disconnect after 100 QoS 2 delivers 100" pausedrain "$MQ_PORT"
# the threaded program: no data race on the client with the lock hooks set (Helgrind in the
# Valgrind pass; ThreadSanitizer in the sanitizer pass, where Valgrind cannot run)
if [ "${SANITIZE:-0}" = 1 ]; then
    check "mosquitto: lock hooks are race-free under ThreadSanitizer" \
        env TSAN_OPTIONS=halt_on_error=1:exitcode=98 timeout 180 "$B/live_client_tsan" threads "$MQ_PORT"
else
    check "mosquitto: lock hooks are race-free under Helgrind" \
        timeout 180 valgrind -q --tool=helgrind --error-exitcode=98 "$L" threads "$MQ_PORT"
fi
finish
