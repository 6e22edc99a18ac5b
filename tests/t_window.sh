#!/usr/bin/env bash
# tests/t_window.sh - how the command-line tools (and the library's defaults) end and pace
# their flows, beside mosquitto_pub and mosquitto_sub:
#   window  1,000 QoS 2 messages through a default-configured mosquitto, which keeps at most
#           20 unreleased incoming QoS 2 messages per client and drops the rest without a word
#           a 3.1.1 client can see: mqttc-pub -l, tests/live_window.c (library defaults) and
#           mosquitto_pub each deliver 1,000 of 1,000, every number once; mqttc-pub exits only
#           when every flow is complete, and says so (exit 1) when acks never come
#   -W      mqttc-sub -W ends the process on time in every state: reconnecting after a
#           malformed packet with no CONNACK coming, a first CONNECT never answered, a TCP
#           connect still pending, and signals while connecting
#   -C      at QoS 2, mqttc-sub -C N finishes the handshake of what it received (PUBREL
#           answered with PUBCOMP) before DISCONNECT, as mosquitto_sub -C does
# The scripted brokers are tests/scripted_broker.py (loopback, logging every packet they
# receive). Our programs run under $VALGRIND; the groups run two at a time.
. "$(dirname "$0")/lib.sh"
PUB=$B/mqttc-pub
SUB=$B/mqttc-sub
LW=$B/live_window
for p in "$PUB" "$SUB" "$LW"; do
    [ -x "$p" ] || { echo "missing $p: run make first" >&2; exit 1; }
done

# ---- helpers ----

# scripted NAME SCENARIO [N]: a scripted broker; its port in SB_PORT, its log $W/NAME.log
scripted() {
    local name=$1 i
    shift
    python3 tests/scripted_broker.py "$1" "$W/$name.port" "$W/$name.log" "${@:2}" &
    CLEANUP_PIDS+=("$!")
    for i in $(seq 1 200); do [ -f "$W/$name.port" ] && break; sleep 0.05; done
    SB_PORT=$(cat "$W/$name.port" 2>/dev/null) || { not_ok "scripted broker $name starts"; return 1; }
}
# timed NAME CMD...: runs CMD in the background (stdout $W/NAME.out, stderr $W/NAME.err),
# bounded by 90 s; when it ends, its exit code goes to $W/NAME.rc and the milliseconds it took
# to $W/NAME.ms. PID[NAME] is the shell waiting for it.
declare -A PID
timed() {
    local name=$1
    shift
    (
        start=$(date +%s%3N)
        timeout -k 5 90 "$@" >"$W/$name.out" 2>"$W/$name.err" </dev/null
        echo $? >"$W/$name.rc"
        echo $(($(date +%s%3N) - start)) >"$W/$name.ms"
    ) &
    PID[$name]=$!
}
# signal_at NAME CONNECTS SIGNAL CMD...: as timed, and SIGNAL reaches CMD 0.3 s after the
# scripted broker NAME has received its CONNECTS-th CONNECT (the client is then connecting:
# waiting for a CONNACK that never comes)
signal_at() {
    local name=$1 connects=$2 sig=$3
    shift 3
    (
        start=$(date +%s%3N)
        "$@" >"$W/$name.out" 2>"$W/$name.err" </dev/null &
        child=$!
        for i in $(seq 1 400); do
            [ "$(grep -c -x CONNECT "$W/$name.log" 2>/dev/null)" -ge "$connects" ] && break
            sleep 0.05
        done
        sleep 0.3
        echo $(($(date +%s%3N) - start)) >"$W/$name.sent"
        kill "-$sig" "$child" 2>/dev/null
        for i in $(seq 1 300); do kill -0 "$child" 2>/dev/null || break; sleep 0.05; done
        kill -KILL "$child" 2>/dev/null
        wait "$child"
        echo $? >"$W/$name.rc"
        echo $(($(date +%s%3N) - start)) >"$W/$name.ms"
    ) &
    PID[$name]=$!
}
finished() { local n; for n in "$@"; do wait "${PID[$n]}"; done; }
rc_of() { cat "$W/$1.rc" 2>/dev/null || echo none; }
ms_of() { cat "$W/$1.ms" 2>/dev/null || echo 999999; }
# within NAME LO_MS HI_MS: NAME ended between LO and HI milliseconds after it started
within() {
    local ms
    ms=$(ms_of "$1")
    check "$1 ended after ${ms} ms, within [$2, $3] ms" test "$ms" -ge "$2" -a "$ms" -le "$3"
}
# packets NAME: what a scripted broker received, one packet per line ("PUBREC 1", ...)
packets() { grep -v -E '^(conn |accepted |closed |> |lifetime)' "$W/$1.log"; }
# connected_ms NAME: from the broker's accept of the client's first connection to the close
# of its last: how long the client stayed, whatever Valgrind adds before main and after exit
connected_ms() {
    local first last
    first=$(grep -m1 '^accepted ' "$W/$1.log" | awk '{ print $4 }')
    last=$(grep '^closed ' "$W/$1.log" | tail -n 1 | awk '{ print $4 }')
    [ -n "$first" ] && [ -n "$last" ] && echo $((last - first)) || echo none
}
# on_time NAME LO_MS HI_MS: the client's connections lasted between LO and HI in all
on_time() {
    local ms
    ms=$(connected_ms "$1")
    check "$1: connected for ${ms} ms, within [$2, $3] ms" test "$ms" != none -a "$ms" -ge "$2" -a "$ms" -le "$3" 2>/dev/null
}
# Under Valgrind a process starts late and ends with a leak check: on a busy two-core
# machine (load 6) that was seen adding 3.5 s to its life. The bounds on a process's elapsed
# time get this much more; the bounds on its connections (on_time) get nothing.
SLACK_MS=0
[ -n "$VALGRIND" ] && SLACK_MS=5000
# completed NAME: each "PUBREC n" the broker received before DISCONNECT was followed by
# "PUBCOMP n" before DISCONNECT: no QoS 2 flow left open [MQTT-4.3.3-2]
completed() {
    awk '/^DISCONNECT$/ { exit } /^PUBREC / { open[$2] = 1 } /^PUBCOMP / { delete open[$2] }
         END { for (id in open) { print "open: " id; bad = 1 } exit bad }' "$W/$1.log"
}
# before NAME FIRST THEN: in the broker's log, line FIRST comes before line THEN
before() {
    local a b
    a=$(grep -n -x -m1 -F -- "$2" "$W/$1.log" | cut -d: -f1)
    b=$(grep -n -x -m1 -F -- "$3" "$W/$1.log" | cut -d: -f1)
    [ -n "$a" ] && [ -n "$b" ] && [ "$a" -lt "$b" ]
}

# ---- window: 1,000 QoS 2 messages through a default mosquitto ----

# every NAME: NAME's subscriber printed each of 1..1000 exactly once (no -d lines counted)
every() {
    grep -x -E '[0-9]+' "$W/$1.out" | sort -n >"$W/$1.numbers"
    seq 1 1000 >"$W/expected.numbers"
    expect_eq "$1: 1000 of 1000 messages arrived" 1000 "$(wc -l <"$W/$1.numbers")"
    expect_eq "$1: none missing (the first missing shown)" "" \
        "$(awk 'NR == FNR { got[$1] = 1; next } !($1 in got)' "$W/$1.numbers" "$W/expected.numbers" | head -n 5 | tr '\n' ' ')"
    expect_eq "$1: none twice" "" "$(uniq -d "$W/$1.numbers" | head -n 5 | tr '\n' ' ')"
}
g_window() {
    start_mosquitto || { not_ok "mosquitto starts"; return; } # no extra lines: its defaults
    local p=$MQ_PORT n
    for n in cli c mosq; do # subscribers at QoS 2, -d so that the SUBACK can be awaited
        timed "sub_$n" stdbuf -oL mosquitto_sub -d -p "$p" -q 2 -C 1000 -W 45 -t "win/$n"
    done
    for n in cli c mosq; do
        check "window: mosquitto_sub for $n subscribed" wait_text "$W/sub_$n.out" "Subscribed (mid:"
    done
    # the three publishers at once; mosquitto's limit is per client [max_inflight_messages 20]
    timed pub_cli sh -c "seq 1 1000 | $VALGRIND '$PUB' -p $p -q 2 -l -t win/cli"
    timed pub_c $VALGRIND "$LW" 127.0.0.1 "$p" win/c 1000
    timed pub_mosq sh -c "seq 1 1000 | mosquitto_pub -p $p -q 2 -l -t win/mosq"
    finished pub_cli pub_c pub_mosq sub_cli sub_c sub_mosq
    expect_eq "window: mqttc-pub -q 2 -l exits 0 ($(cat "$W/pub_cli.err"))" 0 "$(rc_of pub_cli)"
    expect_eq "window: live_window exits 0 ($(cat "$W/pub_c.out"))" 0 "$(rc_of pub_c)"
    expect_eq "window: live_window ended with every flow complete" \
        "published 1000, ended disconnect, inflight 0" "$(cat "$W/pub_c.out")"
    expect_eq "window: mosquitto_pub -q 2 -l exits 0" 0 "$(rc_of pub_mosq)"
    every sub_cli
    every sub_c
    every sub_mosq
    echo "window: mqttc-pub $(ms_of pub_cli) ms, live_window $(ms_of pub_c) ms, mosquitto_pub $(ms_of pub_mosq) ms"
}

# mqttc-pub -l waits for every acknowledgement before DISCONNECT (QoS 1: PUBACK
# [MQTT-4.3.2-1]; QoS 2: PUBREC, then PUBCOMP for our PUBREL [MQTT-4.3.3-1]), as
# mosquitto_pub: a broker that acknowledges 0.3 s late sees DISCONNECT only after its last
# acknowledgement.
acks_then_disconnect() { # NAME QOS
    local last
    last=$([ "$2" = 1 ] && echo "> PUBACK 3" || echo "> PUBCOMP 3")
    check "$1: the broker acknowledged all three ($last)" grep -q -x -F "$last" "$W/$1.log"
    check "$1: DISCONNECT came after the last acknowledgement" before "$1" "$last" DISCONNECT
    [ "$2" = 2 ] && check "$1: PUBREL for the third before DISCONNECT" before "$1" "PUBREL 3" DISCONNECT
    expect_eq "$1: exits 0" 0 "$(rc_of "$1")"
}
g_acks() {
    local q tool
    for q in 1 2; do
        for tool in ours mosq; do
            scripted "acks_${tool}_q$q" acks || return
            if [ $tool = ours ]; then
                timed "acks_${tool}_q$q" sh -c "printf 'a\nb\nc\n' | $VALGRIND '$PUB' -p $SB_PORT -q $q -l -t acks"
            else
                timed "acks_${tool}_q$q" sh -c "printf 'a\nb\nc\n' | mosquitto_pub -p $SB_PORT -q $q -l -t acks"
            fi
        done
    done
    # acknowledgements that never come: DISCONNECT after the library's disconnect timeout
    # (10 s), exit 1, and why on stderr (mosquitto_pub would wait for ever: not run here)
    scripted noacks noacks || return
    timed noacks sh -c "printf 'x\n' | $VALGRIND '$PUB' -p $SB_PORT -q 1 -l -t none"
    finished acks_ours_q1 acks_mosq_q1 acks_ours_q2 acks_mosq_q2 noacks
    for q in 1 2; do
        for tool in ours mosq; do acks_then_disconnect "acks_${tool}_q$q" $q; done
    done
    expect_eq "no acks: mqttc-pub exits 1" 1 "$(rc_of noacks)"
    within noacks 9000 16000
    check "no acks: mqttc-pub says why ($(cat "$W/noacks.err"))" grep -q "not acknowledged" "$W/noacks.err"
    check "no acks: DISCONNECT was still sent" grep -q -x DISCONNECT "$W/noacks.log"
}

# ---- -W: the process ends on time in every state ----

g_timeout() {
    # Reconnecting: the broker's first connection gets CONNACK, SUBACK and then a PUBLISH
    # whose topic is not UTF-8 [MQTT-1.5.3-1]; both clients close [MQTT-4.8.0-1] and connect
    # again a second later; that CONNECT is never answered. -W 6: exit 27 at 6 s. (A numeric
    # host everywhere: no name service to wait for before the first connect.)
    scripted rec_mosq malformed || return
    timed rec_mosq mosquitto_sub -h 127.0.0.1 -p "$SB_PORT" -t a -W 6
    scripted rec_ours malformed || return
    timed rec_ours $VALGRIND "$SUB" -h 127.0.0.1 -p "$SB_PORT" -t a -W 6
    # The first CONNECT is never answered: mosquitto_sub exits 255 (exit(-1)) at -W, before
    # any CONNACK; so does ours.
    scripted first_mosq silent || return
    timed first_mosq mosquitto_sub -h 127.0.0.1 -p "$SB_PORT" -t a -W 3
    scripted first_ours silent || return
    timed first_ours $VALGRIND "$SUB" -h 127.0.0.1 -p "$SB_PORT" -t a -W 3
    # The TCP connect itself is pending (the listener's accept queue is full, so its SYNs are
    # dropped). mosquitto_sub connects before it arms -W and would wait for the kernel to give
    # up (minutes): only ours runs.
    scripted tcp_ours backlog || return
    timed tcp_ours $VALGRIND "$SUB" -d -h 127.0.0.1 -p "$SB_PORT" -t a -W 3
    # Signals while connecting (the first CONNECT, or the reconnect's, unanswered): SIGTERM;
    # -W 30 is not what ends them.
    scripted sig_first_mosq silent || return
    signal_at sig_first_mosq 1 TERM mosquitto_sub -h 127.0.0.1 -p "$SB_PORT" -t a -W 30
    scripted sig_first_ours silent || return
    signal_at sig_first_ours 1 TERM $VALGRIND "$SUB" -h 127.0.0.1 -p "$SB_PORT" -t a -W 30
    scripted sig_rec_mosq malformed || return
    signal_at sig_rec_mosq 2 TERM mosquitto_sub -h 127.0.0.1 -p "$SB_PORT" -t a -W 30
    scripted sig_rec_ours malformed || return
    signal_at sig_rec_ours 2 TERM $VALGRIND "$SUB" -h 127.0.0.1 -p "$SB_PORT" -t a -W 30
    finished rec_mosq rec_ours first_mosq first_ours tcp_ours sig_first_mosq sig_first_ours sig_rec_mosq sig_rec_ours

    local n
    for n in rec_mosq rec_ours; do
        check "$n: the client reconnected (a second CONNECT, never answered)" grep -q -x "conn 2" "$W/$n.log"
        expect_eq "$n: -W 6 while reconnecting exits 27" 27 "$(rc_of $n)"
        on_time $n 5500 7000 # -W counts from the first connect
    done
    within rec_mosq 5500 8000
    within rec_ours 5500 $((8000 + SLACK_MS))
    expect_eq "reconnecting: mqttc-sub says what mosquitto_sub says" "$(cat "$W/rec_mosq.err")" "$(cat "$W/rec_ours.err")"
    for n in first_mosq first_ours; do
        expect_eq "$n: -W 3 with the first CONNECT unanswered exits 255" 255 "$(rc_of $n)"
        on_time $n 2500 4000
    done
    within first_mosq 2500 5000
    within first_ours 2500 $((5000 + SLACK_MS))
    expect_eq "first CONNECT unanswered: mqttc-sub says what mosquitto_sub says (nothing)" \
        "$(cat "$W/first_mosq.err")" "$(cat "$W/first_ours.err")"
    expect_eq "tcp connect pending: mqttc-sub -W 3 exits 255" 255 "$(rc_of tcp_ours)"
    within tcp_ours 2500 $((5000 + SLACK_MS))
    check "tcp connect pending: it never got as far as CONNECT (-d printed nothing)" test ! -s "$W/tcp_ours.out"
    for n in sig_first_mosq sig_first_ours sig_rec_mosq sig_rec_ours; do
        local sent ms
        sent=$(cat "$W/$n.sent" 2>/dev/null || echo 0) ms=$(ms_of $n)
        check "$n: ended within 1 s of SIGTERM (sent at $sent ms, ended at $ms ms)" test $((ms - sent)) -le 1000
    done
    expect_eq "SIGTERM before the first CONNACK: mosquitto_sub exits 255" 255 "$(rc_of sig_first_mosq)"
    expect_eq "SIGTERM before the first CONNACK: mqttc-sub too" 255 "$(rc_of sig_first_ours)"
    expect_eq "SIGTERM while reconnecting: mosquitto_sub exits 0" 0 "$(rc_of sig_rec_mosq)"
    expect_eq "SIGTERM while reconnecting: mqttc-sub too" 0 "$(rc_of sig_rec_ours)"
    echo "-W 6 reconnecting: mosquitto_sub $(ms_of rec_mosq) ms, mqttc-sub $(ms_of rec_ours) ms" \
        "(connected $(connected_ms rec_mosq) / $(connected_ms rec_ours) ms);" \
        "-W 3 first connect: $(ms_of first_mosq) / $(ms_of first_ours) ms" \
        "(connected $(connected_ms first_mosq) / $(connected_ms first_ours) ms); TCP pending: $(ms_of tcp_ours) ms"
}

# ---- -C at QoS 2: the handshake is finished before DISCONNECT ----

g_count() {
    # One message at QoS 2, -C 1: PUBREC, the broker's PUBREL (0.3 s later), PUBCOMP
    # [MQTT-4.3.3-2], and only then DISCONNECT; the same wire flow as mosquitto_sub's.
    scripted one_mosq qos2 1 || return
    timed one_mosq mosquitto_sub -p "$SB_PORT" -t q2 -q 2 -C 1 -W 20
    scripted one_ours qos2 1 || return
    timed one_ours $VALGRIND "$SUB" -p "$SB_PORT" -t q2 -q 2 -C 1 -W 20
    # Two in one write, -C 1: the second arrives while we end. Neither tool prints it; each
    # completes the first message's flow before DISCONNECT. mosquitto_sub answers the second
    # with PUBREC and leaves that flow open; ours takes no new flow while ending (the broker
    # still owns the message [MQTT-4.3.3-1]), so every PUBREC it sent got its PUBCOMP.
    scripted two_mosq qos2 2 || return
    timed two_mosq mosquitto_sub -p "$SB_PORT" -t q2 -q 2 -C 1 -W 20
    scripted two_ours qos2 2 || return
    timed two_ours $VALGRIND "$SUB" -p "$SB_PORT" -t q2 -q 2 -C 1 -W 20
    finished one_mosq one_ours two_mosq two_ours

    local n flow
    flow=$(printf '%s\n' CONNECT SUBSCRIBE "PUBREC 1" "PUBCOMP 1" DISCONNECT EOF)
    for n in one_mosq one_ours; do
        expect_eq "$n: -C 1 -q 2 wire flow: PUBCOMP before DISCONNECT" "$flow" "$(packets $n)"
        expect_eq "$n: prints the message" m1 "$(cat "$W/$n.out")"
        expect_eq "$n: exits 0" 0 "$(rc_of $n)"
    done
    for n in two_mosq two_ours; do
        check "$n: PUBCOMP 1 before DISCONNECT" before $n "PUBCOMP 1" DISCONNECT
        expect_eq "$n: prints only the first (-C 1)" m1 "$(cat "$W/$n.out")"
        expect_eq "$n: exits 0" 0 "$(rc_of $n)"
    done
    check "two_ours: every PUBREC it sent was completed (PUBCOMP) before DISCONNECT" completed two_ours
    expect_eq "two_ours: the first flow is complete, the second never started" \
        "$(printf '%s\n' CONNECT SUBSCRIBE "PUBREC 1" "PUBCOMP 1" DISCONNECT EOF)" "$(packets two_ours)"
}

# ---- run: the groups two at a time ----

# wait_text FILE TEXT: until FILE contains TEXT (20 s at most)
wait_text() {
    local i
    for i in $(seq 1 400); do
        grep -q -a -F -- "$2" "$1" 2>/dev/null && return 0
        sleep 0.05
    done
    return 1
}
# The timing checks (-W) run first, beside the light -C group; the window's 3,000 QoS 2
# messages under Valgrind would slow a busy two-core machine's clocks down by seconds.
GROUPS_RUN=(timeout count window acks)
GROUP_START=$SECONDS
group timeout g_timeout &
group count g_count &
wait
group window g_window &
group acks g_acks &
wait
count_groups "${GROUPS_RUN[@]}"
finish
