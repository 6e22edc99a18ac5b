#!/usr/bin/env bash
# tests/t_cli_reconnect.sh - when the broker goes away and comes back, build/mqttc-sub and
# build/mqttc-pub do what mosquitto_sub and mosquitto_pub 2.0 do, side by side against a
# real mosquitto on 127.0.0.1 that the test stops (SIGTERM: it saves its persistent state)
# and starts again on the same port. What mosquitto's tools do (libmosquitto's
# mosquitto_loop_forever: a new attempt 1 s after the loss and 1 s after each failed one, no
# backoff, no end, no word printed), and so ours:
#   sub     mosquitto_sub dials again and subscribes afresh on every CONNACK, whether the
#           broker kept the session (-c, persistence on) or not: retained messages come
#           again, -C counts across connections, the same -d lines (SUBSCRIBE Mid 2), a kept
#           session delivers what was queued meanwhile; after a 5 s outage, back within 1.6 s
#   wait    -W during the outage: "Timed out", exit 27, on time; SIGTERM during it: exit 0
#   lines   mosquitto_pub -l dials again and reads on: a QoS 0 line read during the outage is
#           lost, a QoS 1 line is delivered after the restart; input that ends during the
#           outage with a QoS 1 line owed waits for the broker, then exits 0 (ours alone: with
#           nothing owed it ends at once, where mosquitto_pub would wait for ever for the QoS
#           0 line the outage took); -m --repeat does not reconnect: "Error: The connection
#           was lost.", exit 7
#   refused the broker comes back refusing anonymous clients: mosquitto_sub exits with the
#           CONNACK's code (5; 135 in MQTT 5) in its words; mosquitto_pub -l too, once it reads
#           its next line ("Error: The connection was refused.") or the end of its input
#   v5      the broker's DISCONNECT (MQTT 5, 0x8B from a scripted broker): neither dials
#           again; mosquitto_sub exits 0 without a word; mosquitto_pub -l reads on, and exits
#           4 ("The client is not currently connected.") if a line came after it, else 0
# Our tools run under $VALGRIND (a leak or a memory error makes the exit code 99). The groups
# run at the same time, each with its own broker.
. "$(dirname "$0")/lib.sh"
PUB=$B/mqttc-pub
SUB=$B/mqttc-sub
for p in "$PUB" "$SUB"; do
    [ -x "$p" ] || { echo "missing $p: run make first" >&2; exit 1; }
done
chmod 711 "$TMP" # mosquitto runs as its own user: it must reach its persistence directory
. "$(dirname "$0")/cli_lib.sh"

now_ms() { date +%s%3N; }
# broker: a private mosquitto (start_mosquitto) that saves its state to $W/db
# when stopped, so that sessions (-c) and retained messages outlive a restart
broker() {
    mkdir -p "$W/db" && chmod 777 "$W/db"
    start_mosquitto "persistence true" "persistence_location $W/db/"
}
# broker_down: stops it (SIGTERM); broker_up: starts it again on the same port, UP_AT = when
broker_down() { stop_pid "$MQ_PID"; }
broker_up() {
    detached mosquitto -c "$TMP/mosquitto.$MQ_PORT.conf" >>"$TMP/mosquitto.$MQ_PORT.log" 2>&1 &
    MQ_PID=$!
    CLEANUP_PIDS+=("$MQ_PID")
    wait_port "$MQ_PORT" 200 || not_ok "mosquitto starts again on port $MQ_PORT"
    UP_AT=$(now_ms)
}
# reached COUNT PATTERN NAME...: waits (20 s at most) until each NAME's output has PATTERN
# COUNT times; AT[NAME] = when it was seen (epoch ms, to 50 ms), or "never"
declare -A AT AGAIN ENDED FD
reached() {
    local count=$1 pattern=$2 n i left
    shift 2
    for n in "$@"; do AT[$n]=never; done
    for i in $(seq 1 400); do
        left=0
        for n in "$@"; do
            [ "${AT[$n]}" = never ] || continue
            if [ "$(grep -c -a -F -- "$pattern" "$W/$n.out" 2>/dev/null)" -ge "$count" ]; then AT[$n]=$(now_ms); else left=1; fi
        done
        [ $left = 0 ] && return 0
        sleep 0.05
    done
}
# again PATTERN NAME...: until each NAME's output has PATTERN twice (a second "Subscribed", a
# second CONNACK); AGAIN[NAME] = ms from UP_AT, or "never"
again() {
    local pattern=$1 n
    shift
    reached 2 "$pattern" "$@"
    for n in "$@"; do if [ "${AT[$n]}" = never ]; then AGAIN[$n]=never; else AGAIN[$n]=$((AT[$n] - UP_AT)); fi; done
}
# back_soon NAME LIMIT_MS: NAME was connected again within LIMIT_MS of the restart
back_soon() {
    local v=${AGAIN[$1]}
    if [ "$v" != never ] && [ "$v" -le "$2" ]; then ok "$1: back within $2 ms of the restart ($v ms)"
    else not_ok "$1: back within $2 ms of the restart ($v ms)"; fi
}
# ended NAME...: waits (20 s at most) until each has exited: RC[NAME], ENDED[NAME] (epoch ms)
ended() {
    local n i left
    for n in "$@"; do ENDED[$n]=; done
    for i in $(seq 1 400); do
        left=0
        for n in "$@"; do
            [ -z "${ENDED[$n]}" ] || continue
            if kill -0 "${PID[$n]}" 2>/dev/null; then left=1; else ENDED[$n]=$(now_ms); fi
        done
        [ $left = 0 ] && break
        sleep 0.05
    done
    for n in "$@"; do
        [ -n "${ENDED[$n]}" ] || { echo "$n did not exit by itself" >&2; kill "${PID[$n]}" 2>/dev/null; ENDED[$n]=$(now_ms); }
        wait "${PID[$n]}"
        RC[$n]=$?
    done
}
# detached CMD...: CMD (run it with &) without the ends of the publishers' input fifos that
# this shell holds (FD), so that closing one is the end of its reader's input
detached() {
    local fd
    for fd in "${FD[@]}"; do eval "exec $fd>&-"; done
    exec "$@"
}
# start_timed NAME ours|mosq ARGS...: as start_sub, and when it ends, its exit code goes to
# $W/NAME.rc and the time (epoch ms) to $W/NAME.end
start_timed() {
    local name=$1 tool=$2
    shift 2
    (
        if [ "$tool" = ours ]; then $VALGRIND "$SUB" -d "$@"; else stdbuf -oL mosquitto_sub -d "$@"; fi \
            >"$W/$name.out" 2>"$W/$name.err"
        echo $? >"$W/$name.rc"
        now_ms >"$W/$name.end"
    ) &
    PID[$name]=$!
    CLEANUP_PIDS+=("$!")
}
# running NAME...: each is still running
running() { local n; for n in "$@"; do kill -0 "${PID[$n]}" 2>/dev/null || return 1; done; }
# start_lines NAME ours|mosq ARGS...: a publisher with -d -l reading the fifo $W/NAME.in, which
# FD[NAME] holds open (feed NAME LINE writes a line, close_lines NAME ends its input)
start_lines() {
    local name=$1 tool=$2 fd
    shift 2
    mkfifo "$W/$name.in"
    if [ "$tool" = ours ]; then
        detached $VALGRIND "$PUB" -d -l "$@" <"$W/$name.in" >"$W/$name.out" 2>"$W/$name.err" &
    else
        detached stdbuf -oL mosquitto_pub -d -l "$@" <"$W/$name.in" >"$W/$name.out" 2>"$W/$name.err" &
    fi
    PID[$name]=$!
    CLEANUP_PIDS+=("$!")
    exec {fd}>"$W/$name.in"
    FD[$name]=$fd
}
feed() { (printf '%s\n' "$2" >&"${FD[$1]}") 2>/dev/null; } # (a reader gone: SIGPIPE ends the subshell only)
close_lines() {
    eval "exec ${FD[$1]}>&-"
    unset "FD[$1]"
}
# same_err LABEL MOSQ OURS: the same stderr
same_err() { expect_eq "$1: mqttc says what mosquitto says on stderr" "$(cat "$W/$2.err")" "$(cat "$W/$3.err")"; }
# lines_of NAME TOPIC: the payloads the observer NAME printed on TOPIC, in order, one line
lines_of() { grep -a "^$2 " "$W/$1.out" | cut -d' ' -f2- | paste -sd' '; }

# ---- sub: dialled again, subscribed afresh on every CONNACK ----

g_sub() {
    broker || { not_ok "mosquitto starts"; return; }
    local P=$MQ_PORT n
    mosquitto_pub -p "$P" -t r/ret -m keep -r -q 1
    # clean session: -C 4 counts the retained message twice (once per subscription)
    start_sub cm mosq -p "$P" -t 'r/#' -v -q 1 -C 4
    start_sub co ours -p "$P" -t 'r/#' -v -q 1 -C 4
    # the broker keeps the session (-c, persistence on): a message published before they are
    # back is queued for them; -R leaves the retained one out
    start_sub pm mosq -p "$P" -t 'p/#' -v -q 1 -c -i rc-pm -R -C 3
    start_sub po ours -p "$P" -t 'p/#' -v -q 1 -c -i rc-po -R -C 3
    subscribed cm co pm po || return
    mosquitto_pub -p "$P" -t r/x -m before -q 1
    mosquitto_pub -p "$P" -t p/x -m before -q 1
    for n in cm co pm po; do wait_text "$W/$n.out" "x before" || not_ok "$n got the first message"; done
    broker_down
    sleep 5 # five attempts refused (a backoff would wait 1, 2, 4 s ...: back late)
    check "sub: all four still running during the outage" running cm co pm po
    broker_up
    mosquitto_pub -p "$P" -t p/x -m queued -q 1
    again "Subscribed (mid:" cm co pm po
    for n in cm pm; do back_soon $n 1600; done
    for n in co po; do back_soon $n 2000; done # (Valgrind)
    mosquitto_pub -p "$P" -t r/x -m after -q 1
    mosquitto_pub -p "$P" -t p/x -m after -q 1
    reap cm co pm po
    same_output "clean session" cm co "$(printf '%s\n' "r/ret keep" "r/x before" "r/ret keep" "r/x after")"
    expect_eq "clean session -d: the same packet lines (SUBSCRIBE Mid 2 on the new connection)" \
        "$(debug_lines cm)" "$(debug_lines co)"
    same_err "clean session" cm co
    same_output "-c" pm po "$(printf '%s\n' "p/x before" "p/x queued" "p/x after")"
    expect_eq "-c: subscribed again though the broker kept the session, as mosquitto_sub" \
        "$(grep -a '^Subscribed' "$W/pm.out")" "$(grep -a '^Subscribed' "$W/po.out")"
    same_err "-c" pm po
}

# ---- wait: -W and SIGTERM while the broker is away ----

g_wait() {
    broker || { not_ok "mosquitto starts"; return; }
    local P=$MQ_PORT t_term n
    # (a numeric host: under Valgrind, resolving "localhost" takes a second of ours)
    start_timed wm mosq -h 127.0.0.1 -p "$P" -t w -W 5
    start_timed wo ours -h 127.0.0.1 -p "$P" -t w -W 5
    start_sub tm mosq -p "$P" -t w
    start_sub to ours -p "$P" -t w
    reached 1 "sending CONNECT" wm wo # -W counts from here (mosquitto_sub: from its connect)
    subscribed wm wo tm to || return
    sleep 0.5
    broker_down # and it stays down
    sleep 1.5
    kill -TERM "${PID[tm]}" "${PID[to]}"
    t_term=$(now_ms)
    ended tm to wm wo
    for n in wm wo; do
        expect_eq "$n: -W 5 during the outage exits 27" 27 "$(cat "$W/$n.rc")"
        # mosquitto_sub counts from its connect, ours from its start (before the TCP connect)
        local at=$(($(cat "$W/$n.end") - AT[$n])) early=4500 late=5800
        [ $n = wo ] && early=3500 late=6500 # (its connect under Valgrind; Valgrind's exit)
        if [ $at -ge $early ] && [ $at -le $late ]; then ok "$n: on time ($at ms after its CONNECT)"
        else not_ok "$n: on time ($at ms after its CONNECT, not in $early..$late)"; fi
    done
    same_err "-W during the outage (Timed out)" wm wo
    for n in tm to; do
        expect_eq "$n: SIGTERM during the outage exits 0" 0 "${RC[$n]}"
        local took=$((ENDED[$n] - t_term))
        check "$n: ended within 1 s of SIGTERM ($took ms)" test $took -le 1000
    done
    same_err "SIGTERM during the outage (nothing)" tm to
}

# ---- lines: mosquitto_pub -l dials again; -m --repeat does not ----

g_lines() {
    broker || { not_ok "mosquitto starts"; return; }
    local P=$MQ_PORT n
    start_sub obs mosq -p "$P" -t 'l/#' -v -q 1 -c -i rc-obs # keeps what comes while it is away
    subscribed obs || return
    start_lines m1 mosq -p "$P" -t l/m1 -q 1
    start_lines o1 ours -p "$P" -t l/o1 -q 1
    start_lines m0 mosq -p "$P" -t l/m0 -q 0
    start_lines o0 ours -p "$P" -t l/o0 -q 0
    start_lines me mosq -p "$P" -t l/me -q 1 # its input ends during the outage
    start_lines oe ours -p "$P" -t l/oe -q 1
    start_lines oz ours -p "$P" -t l/oz -q 0 # (ours alone: mosquitto_pub would wait for ever)
    for n in m1 o1 m0 o0 me oe oz; do feed $n one; done
    for n in m1 o1 m0 o0 me oe oz; do wait_text "$W/obs.out" "l/$n one" || not_ok "observer got l/$n one"; done
    broker_down
    sleep 0.5
    for n in m1 o1 m0 o0 me oe oz; do feed $n two; done
    close_lines me
    close_lines oe
    close_lines oz
    sleep 0.5
    check "lines: -l input ended during the outage with a QoS 1 line owed: both wait" running me oe
    ended oz
    expect_eq "oz: input ended during the outage, nothing owed (QoS 0): mqttc-pub exits 0 at once" 0 "${RC[oz]}"
    sleep 1.5
    broker_up
    again "received CONNACK" m1 o1 m0 o0
    for n in m1 m0; do back_soon $n 1600; done
    for n in o1 o0; do back_soon $n 2000; done
    wait_text "$W/obs.out" "l/me two" 10
    wait_text "$W/obs.out" "l/oe two" 10
    again "Subscribed (mid:" obs # the observer is back: QoS 0 reaches it again
    for n in m1 o1 m0 o0; do feed $n three; close_lines $n; done
    ended m1 o1 m0 o0 me oe
    kill -TERM "${PID[obs]}"
    reap obs
    for n in m1 o1 m0 o0 me oe oz; do expect_eq "$n: exits 0" 0 "${RC[$n]}"; done
    same_err "-l -q 1" m1 o1
    same_err "-l -q 0" m0 o0
    same_err "-l -q 1, input ended in the outage" me oe
    expect_eq "-l -q 1: mosquitto_pub delivers the line read during the outage" "one two three" "$(lines_of obs l/m1)"
    expect_eq "-l -q 1: so does mqttc-pub" "one two three" "$(lines_of obs l/o1)"
    expect_eq "-l -q 0: mosquitto_pub loses the line read during the outage" "one three" "$(lines_of obs l/m0)"
    expect_eq "-l -q 0: so does mqttc-pub" "one three" "$(lines_of obs l/o0)"
    expect_eq "-l -q 1, input ended in the outage: mosquitto_pub delivers the last line" "one two" "$(lines_of obs l/me)"
    expect_eq "-l -q 1, input ended in the outage: so does mqttc-pub" "one two" "$(lines_of obs l/oe)"
    expect_eq "-l -q 0, input ended in the outage: mqttc-pub delivered the first line only" "one" "$(lines_of obs l/oz)"

    # -m --repeat: no reconnect; the loss ends it. (Found while a repeat is due, mosquitto_pub
    # tries it first and says "not connected", exit 4: a race of its loop, kept out here by
    # the long delay.)
    local args=(-p "$P" -t l/rep -m x -q 1 --repeat 2 --repeat-delay 10)
    stdbuf -oL mosquitto_pub -d "${args[@]}" >"$W/rm.out" 2>"$W/rm.err" &
    PID["rm"]=$!
    $VALGRIND "$PUB" -d "${args[@]}" >"$W/ro.out" 2>"$W/ro.err" &
    PID["ro"]=$!
    CLEANUP_PIDS+=("${PID["rm"]}" "${PID["ro"]}")
    wait_text "$W/rm.out" "received PUBACK" && wait_text "$W/ro.out" "received PUBACK"
    broker_down
    ended rm ro
    expect_eq "-m --repeat, broker gone: mosquitto_pub exits 7 (MOSQ_ERR_CONN_LOST)" 7 "${RC[rm]}"
    expect_eq "-m --repeat, broker gone: mqttc-pub too" 7 "${RC[ro]}"
    same_err "-m --repeat, broker gone (The connection was lost.)" rm ro
}

# ---- refused: the broker comes back refusing anonymous clients ----

g_refused() {
    broker || { not_ok "mosquitto starts"; return; }
    local P=$MQ_PORT n
    start_sub fm mosq -p "$P" -t f
    start_sub fo ours -p "$P" -t f
    start_sub vm mosq -p "$P" -t f -V 5
    start_sub vo ours -p "$P" -t f -V 5
    start_lines lm mosq -p "$P" -t f # its input ends after the refusal
    start_lines lo ours -p "$P" -t f
    start_lines km mosq -p "$P" -t f # a line comes after the refusal
    start_lines ko ours -p "$P" -t f
    subscribed fm fo vm vo || return
    for n in lm lo km ko; do feed $n one; done
    for n in lm lo km ko; do wait_text "$W/$n.out" "sending PUBLISH"; done
    broker_down
    sed -i 's/^allow_anonymous true$/allow_anonymous false/' "$TMP/mosquitto.$MQ_PORT.conf"
    broker_up
    ended fm fo vm vo
    sleep 1 # (mosquitto_pub -l only looks again when a line comes, and meanwhile dials on)
    feed km two
    feed ko two
    for n in lm lo km ko; do close_lines $n; done
    ended lm lo km ko
    expect_eq "refused on reconnect: mosquitto_sub exits with the CONNACK's code" 5 "${RC[fm]}"
    expect_eq "refused on reconnect: mqttc-sub too" 5 "${RC[fo]}"
    same_err "refused on reconnect" fm fo
    expect_eq "refused on reconnect, MQTT 5: mosquitto_sub exits 135 (not authorized)" 135 "${RC[vm]}"
    expect_eq "refused on reconnect, MQTT 5: mqttc-sub too" 135 "${RC[vo]}"
    same_err "refused on reconnect, MQTT 5" vm vo
    # mosquitto_pub -l goes on dialling, and says the refusal once per attempt, until it reads
    # its next line or the end of its input; ours stops dialling and says it once
    for n in l k; do
        expect_eq "refused on reconnect ($n): mosquitto_pub -l exits 5" 5 "${RC[${n}m]}"
        expect_eq "refused on reconnect ($n): mqttc-pub -l too" 5 "${RC[${n}o]}"
        expect_eq "refused on reconnect ($n): mqttc-pub -l says what mosquitto_pub says (its repeats aside)" \
            "$(awk '!seen[$0]++' "$W/${n}m.err")" "$(cat "$W/${n}o.err")"
    done
    check "refused, then the end of input: no last word (mosquitto_pub's)" test "$(wc -l <"$W/lo.err")" -eq 1
    check "refused, then a line: The connection was refused." grep -q -x "Error: The connection was refused." "$W/ko.err"
}

# ---- v5: the broker's DISCONNECT ends it, no reconnect ----

# disconnecting_broker NAME: a scripted MQTT 5 broker on a free port (written to
# $W/NAME.port): CONNACK, a SUBACK for a SUBSCRIBE, then 0.5 s later DISCONNECT 0x8B (server
# shutting down) and close; it logs "conn N" per connection to $W/NAME.log and ends after 60 s.
disconnecting_broker() {
    python3 - "$W/$1.port" "$W/$1.log" >/dev/null <<'EOF' &
import select, socket, sys, time
l = socket.socket()
l.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
l.bind(("127.0.0.1", 0))
l.listen(4)
log = open(sys.argv[2], "a", buffering=1)
open(sys.argv[1] + ".tmp", "w").write("%d\n" % l.getsockname()[1])
import os; os.rename(sys.argv[1] + ".tmp", sys.argv[1])
n, end = 0, time.time() + 60
while time.time() < end:
    if not select.select([l], [], [], 0.2)[0]:
        continue
    s, _ = l.accept()
    n += 1
    log.write("conn %d\n" % n)
    s.recv(65536)                              # CONNECT
    s.sendall(bytes([0x20, 3, 0, 0, 0]))       # CONNACK 0, no properties
    until = time.time() + 0.5
    while time.time() < until:
        if select.select([s], [], [], 0.05)[0]:
            d = s.recv(65536)
            if d and d[0] >> 4 == 8:           # SUBSCRIBE: granted QoS 0
                s.sendall(bytes([0x90, 4]) + d[2:4] + bytes([0, 0]))
    s.sendall(bytes([0xE0, 2, 0x8B, 0]))       # DISCONNECT 0x8B, no properties
    time.sleep(0.2)
    s.close()
EOF
    CLEANUP_PIDS+=("$!")
}

g_v5() {
    local n _
    declare -A port
    for n in sm so lm lo zm zo; do disconnecting_broker "b$n"; done
    for n in sm so lm lo zm zo; do
        for _ in $(seq 1 400); do [ -s "$W/b$n.port" ] && break; sleep 0.05; done
        port[$n]=$(cat "$W/b$n.port" 2>/dev/null) || { not_ok "scripted broker b$n starts"; return; }
    done
    start_sub sm mosq -p "${port[sm]}" -t d -V 5
    start_sub so ours -p "${port[so]}" -t d -V 5
    start_lines lm mosq -p "${port[lm]}" -t d -V 5 # a line after the DISCONNECT
    start_lines lo ours -p "${port[lo]}" -t d -V 5
    start_lines zm mosq -p "${port[zm]}" -t d -V 5 # none
    start_lines zo ours -p "${port[zo]}" -t d -V 5
    for n in lm lo zm zo; do feed $n one; done
    for n in lm lo zm zo; do wait_text "$W/$n.out" "Received DISCONNECT"; done
    feed lm two
    feed lo two
    ended sm so
    sleep 2 # time enough for a reconnect, were there one
    for n in lm lo zm zo; do close_lines $n; done
    ended lm lo zm zo
    expect_eq "the broker's DISCONNECT: mosquitto_sub exits 0" 0 "${RC[sm]}"
    expect_eq "the broker's DISCONNECT: mqttc-sub too" 0 "${RC[so]}"
    same_err "the broker's DISCONNECT, sub (nothing)" sm so
    expect_eq "the broker's DISCONNECT, -d: mqttc-sub prints libmosquitto's line" \
        "$(grep -a '^Received DISCONNECT' "$W/sm.out")" "$(grep -a '^Received DISCONNECT' "$W/so.out")"
    expect_eq "the broker's DISCONNECT, a line after it: mosquitto_pub -l exits 4 (MOSQ_ERR_NO_CONN)" 4 "${RC[lm]}"
    expect_eq "the broker's DISCONNECT, a line after it: mqttc-pub -l too" 4 "${RC[lo]}"
    same_err "the broker's DISCONNECT, a line after it" lm lo
    expect_eq "the broker's DISCONNECT, no line after it: mosquitto_pub -l exits 0" 0 "${RC[zm]}"
    expect_eq "the broker's DISCONNECT, no line after it: mqttc-pub -l too" 0 "${RC[zo]}"
    same_err "the broker's DISCONNECT, no line after it" zm zo
    for n in sm so lm lo zm zo; do expect_eq "$n: no reconnect after the broker's DISCONNECT" "conn 1" "$(cat "$W/b$n.log")"; done
}

# a group whose shell died (an unexpected signal) counts as a failure
whole() {
    "g_$GNAME"
    echo "group $GNAME ran to its end"
}
GROUPS_RUN=(sub wait lines refused v5)
pids=() GROUP_START=$SECONDS
for g in "${GROUPS_RUN[@]}"; do
    GNAME=$g group "$g" whole &
    pids+=($!)
done
wait "${pids[@]}"
count_groups "${GROUPS_RUN[@]}"
for g in "${GROUPS_RUN[@]}"; do
    grep -q -x "group $g ran to its end" "$TMP/$g.log" || not_ok "group $g ran to its end"
done
finish
