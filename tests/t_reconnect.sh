#!/usr/bin/env bash
# tests/t_reconnect.sh - staying connected (mqttc.h, section 12) with real components on
# 127.0.0.1: build/live_reconnect (tests/live_reconnect.c) under $VALGRIND against
#   kill      mosquitto with persistence, SIGKILLed and restarted 50 times while QoS 1 and
#             QoS 2 streams flow to a subscriber with a persistent session
#   cut       the same with the network cut instead (a relay drops every link; twice it
#             holds them silently instead, for the keepalive to find)
#   failover  two mosquitto instances (options.brokers): the one in use killed
#   auth      mosquitto with a password file refusing a wrong password (3.1.1 and MQTT 5)
#   plan      the minibroker refusing with "server unavailable": the backoff plan
#   takeover  two clients with one client id, both reconnecting (mosquitto)
#   run       the blocking mqttc_run through reconnects (minibroker --drop-after 3), and a
#             mqttc_disconnect whose drain is cut short; drain: one that times out
#   transport a connection over the test's own transport (reconnect_transport), or adopted
#   srvdisconnect  the broker's MQTT 5 DISCONNECT 0x8E, 0x9C (stop) and 0x8B (retried)
#   limits    held messages checked against the next broker's CONNACK (MQTT 5 minibrokers)
#   churn     1,000 reconnects (minibroker --drop-after 2): leaks under Valgrind, then
#             VmRSS and descriptors without it
#   queue     publishes while the broker is out of reach (relay down): held, in order; a
#             full queue; mqttc_disconnect while waiting; reconnect_first
# The program prints one "ok - " / "not ok - " line per check and "    " lines with what
# it measured; each run counts once more for ending clean (exit 0, or 1 with its failed
# checks printed: never a Valgrind error, a crash or a hang). The groups run at the same time.
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
L=$B/live_reconnect
if [ ! -x "$L" ] || [ ! -x "$B/minibroker" ]; then
    echo "missing $L or $B/minibroker: build them first (make $L $B/minibroker)" >&2
    not_ok "the scenario program $L and the minibroker exist"
    finish
fi
KILLS=${RC_KILLS:-50}

# The relay between client and broker: python3 relay.py PORT CTL_PORT TARGET_PORT. On
# CTL_PORT it takes one command a line and answers "ok N" (N: links accepted so far):
#   drop  close every link, both ends, with RST (the network cut)
#   hold  forward nothing more on the links open now, and keep them open (a silent cut)
#   down  drop, and stop listening (the broker out of reach: connects are refused)
#   up    listen again
RELAY=$TMP/relay.py
cat >"$RELAY" <<'PY'
import selectors, socket, struct, sys
port, ctl_port, target = (int(a) for a in sys.argv[1:4])
sel = selectors.DefaultSelector()
peer = {}
accepted = 0

def listener(p):
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("127.0.0.1", p))
    s.listen(64)
    return s

def close(s):
    for x in (s, peer.pop(s, None)):
        if x is None:
            continue
        peer.pop(x, None)
        try:
            sel.unregister(x)
        except (KeyError, ValueError):
            pass
        try:
            x.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            x.close()
        except OSError:
            pass

lsn = listener(port)
sel.register(lsn, selectors.EVENT_READ, "accept")
sel.register(listener(ctl_port), selectors.EVENT_READ, "ctl")

def command(line):
    global lsn
    if line in ("drop", "down"):
        for s in list(peer):
            if s in peer:
                close(s)
    if line == "hold":
        for s in list(peer):
            try:
                sel.unregister(s)
            except (KeyError, ValueError):
                pass
    if line == "down" and lsn is not None:
        sel.unregister(lsn)
        lsn.close()
        lsn = None
    if line == "up" and lsn is None:
        lsn = listener(port)
        sel.register(lsn, selectors.EVENT_READ, "accept")
    return "ok %d\n" % accepted

while True:
    for key, _ in sel.select():
        s = key.fileobj
        if key.data == "accept":
            c, _ = s.accept()
            accepted += 1
            try:
                b = socket.create_connection(("127.0.0.1", target))
            except OSError:
                c.close()
                continue
            peer[c], peer[b] = b, c
            sel.register(c, selectors.EVENT_READ, "link")
            sel.register(b, selectors.EVENT_READ, "link")
        elif key.data == "ctl":
            c, _ = s.accept()
            sel.register(c, selectors.EVENT_READ, "cmd")
        elif key.data == "cmd":
            data = s.recv(256)
            if not data:
                sel.unregister(s)
                s.close()
                continue
            for line in data.decode().split():
                s.sendall(command(line).encode())
        else:
            try:
                data = s.recv(65536)
            except OSError:
                data = b""
            if not data or s not in peer:
                close(s)
                continue
            try:
                peer[s].sendall(data)
            except OSError:
                close(s)
PY

# relay_up TARGET_PORT: a relay to it (RELAY_PORT, RELAY_CTL, RELAY_PID)
relay_up() {
    RELAY_PORT=$(free_port)
    RELAY_CTL=$(free_port)
    python3 "$RELAY" "$RELAY_PORT" "$RELAY_CTL" "$1" >"$W/relay.log" 2>&1 &
    RELAY_PID=$!
    CLEANUP_PIDS+=("$RELAY_PID")
    wait_port "$RELAY_CTL" && wait_port "$RELAY_PORT"
}
# relay_cmd CMD: one command to the relay; fails unless it answers "ok"
relay_cmd() {
    local fd reply=
    exec {fd}<>"/dev/tcp/127.0.0.1/$RELAY_CTL" || return 1
    printf '%s\n' "$1" >&"$fd"
    read -r -t 5 reply <&"$fd"
    exec {fd}>&-
    [[ $reply == ok* ]]
}
# mq_conf FILE PORT [LINES...]: a mosquitto config for a private listener; mq_up FILE LOG:
# mosquitto with it, its log appended to LOG (MQ_PID). As root mosquitto 2.0 runs as user
# mosquitto: the test's directories must let it in (persistence writes there).
mq_conf() {
    local f=$1 port=$2
    shift 2
    { echo "listener $port 127.0.0.1"; printf '%s\n' "$@"; } >"$f"
    chmod a+rwx "$TMP" "$W"
}
mq_up() {
    mosquitto -c "$1" >>"$2" 2>&1 &
    MQ_PID=$!
    CLEANUP_PIDS+=("$MQ_PID")
}
# wait_connected LOG ID N: until mosquitto's log says ID connected N times (10 s)
wait_connected() {
    local _
    for _ in $(seq 1 500); do
        [ "$(grep -c "as $2 (" "$1")" -ge "$3" ] && return 0
        sleep 0.02
    done
    return 1
}

# judge NAME RC OUTFILE: prints the program's lines, and counts its end
judge() {
    cat "$3"
    if [ "$2" -eq 0 ] || { [ "$2" -eq 1 ] && grep -q '^not ok - ' "$3"; }; then
        ok "$1: ran to its end clean (exit $2: no Valgrind error, leak or crash)"
    else
        not_ok "$1: ran to its end clean (exit $2)"
    fi
}
# scenario NAME ARGS...: the program under $VALGRIND, judged
scenario() {
    local name=$1 rc start=$SECONDS
    shift
    # shellcheck disable=SC2086
    timeout -k 5 60 $VALGRIND "$L" "$name" "$@" >"$W/$name.out" 2>&1
    rc=$?
    echo "    $name: $((SECONDS - start)) s" >>"$W/$name.out"
    judge "$name" "$rc" "$W/$name.out"
}

# storm MODE: kill (SIGKILL and restart mosquitto) or cut (drop every link at the relay),
# $KILLS times, each once both clients are back (mosquitto's log) and 60 ms of traffic
# flowed; then DONEFILE says how many, and the program drains and counts.
storm() {
    local mode=$1 port conf=$W/mosquitto.conf log=$W/mosquitto.log done=$W/done n=0 prog rc cmd target
    port=$(free_port)
    if [ "$mode" = kill ]; then
        mq_conf "$conf" "$port" "allow_anonymous true" "persistence true" "persistence_location $W/" \
            "autosave_on_changes true" "autosave_interval 1" "max_queued_messages 100000"
    else
        mq_conf "$conf" "$port" "allow_anonymous true" "persistence false" "max_queued_messages 100000"
    fi
    mq_up "$conf" "$log"
    wait_port "$port" || { not_ok "$mode: mosquitto starts"; return; }
    target=$port
    if [ "$mode" = cut ]; then
        relay_up "$port" || { not_ok "cut: the relay starts"; return; }
        target=$RELAY_PORT
    fi
    local start=$SECONDS
    # shellcheck disable=SC2086
    timeout -k 5 170 $VALGRIND "$L" "$mode" "$target" "$done" >"$W/$mode.out" 2>&1 &
    prog=$!
    while [ "$n" -lt "$KILLS" ]; do
        if ! wait_connected "$log" "rc-$mode-pub" $((n + 1)) || ! wait_connected "$log" "rc-$mode-sub" $((n + 1)); then
            break
        fi
        sleep 0.06
        n=$((n + 1))
        if [ "$mode" = kill ]; then
            kill -KILL "$MQ_PID"
            wait "$MQ_PID" 2>/dev/null
            mq_up "$conf" "$log"
            wait_port "$port" || break
        else
            cmd=drop
            [ "$n" -eq 17 ] || [ "$n" -eq 34 ] && cmd=hold
            relay_cmd "$cmd" || break
        fi
    done
    wait_connected "$log" "rc-$mode-pub" $((n + 1)) && wait_connected "$log" "rc-$mode-sub" $((n + 1))
    echo "$n" >"$done"
    echo "    $mode: the $n losses took $((SECONDS - start)) s"
    wait "$prog"
    rc=$?
    judge "$mode" "$rc" "$W/$mode.out"
    if [ "$mode" = kill ]; then
        check "kill: mosquitto SIGKILLed and restarted $KILLS times, each with both clients back and traffic flowing" \
            test "$n" -eq "$KILLS"
    else
        check "cut: every link cut $KILLS times (twice held silently), each with both clients back and traffic on" \
            test "$n" -eq "$KILLS"
    fi
}
g_kill() { storm kill; }
g_cut() { storm cut; }

g_failover() {
    local pa pida
    start_mosquitto || { not_ok "failover: mosquitto A starts"; return; }
    pa=$MQ_PORT pida=$MQ_PID
    disown "$pida" # (the program kills it: no job notice in the log)
    start_mosquitto || { not_ok "failover: mosquitto B starts"; return; }
    scenario failover "$pa" "$pida" "$MQ_PORT" "$(free_port)"
}

g_auth() {
    local port conf=$W/auth.conf log=$W/auth.log
    port=$(free_port)
    mosquitto_passwd -b -c "$W/passwd" rc-user right ||
        { not_ok "auth: mosquitto_passwd makes a password file"; return; }
    mq_conf "$conf" "$port" "allow_anonymous false" "password_file $W/passwd" "persistence false"
    chmod a+r "$W/passwd"
    mq_up "$conf" "$log"
    wait_port "$port" || { not_ok "auth: mosquitto starts"; return; }
    scenario auth "$port" "$log"
}

g_brokers() {
    start_minibroker --connack 3 || { not_ok "plan: minibroker starts"; return; }
    scenario plan "$MB_PORT"
    stop_pid "$MB_PID"
    start_mosquitto || { not_ok "takeover: mosquitto starts"; return; }
    scenario takeover "$MQ_PORT"
    scenario transport "$MQ_PORT"
    start_minibroker --drop-after 3 || { not_ok "run: minibroker starts"; return; }
    scenario run "$MB_PORT"
    stop_pid "$MB_PID"
    start_minibroker --no-pubrel || { not_ok "drain: minibroker starts"; return; }
    scenario drain "$MB_PORT"
    stop_pid "$MB_PID"
    local r ports=()
    for r in 0x8E 0x9C 0x8B; do
        start_minibroker --disconnect-after 2 --disconnect-reason "$r" ||
            { not_ok "srvdisconnect: minibroker starts"; return; }
        ports+=("$MB_PORT")
    done
    scenario srvdisconnect "${ports[@]}"
    start_minibroker --drop-after 2 || { not_ok "limits: minibroker A starts"; return; }
    ports=("$MB_PORT")
    start_minibroker --connack-prop maximum-qos=1 --connack-prop maximum-packet-size=64 ||
        { not_ok "limits: minibroker B starts"; return; }
    scenario limits "${ports[0]}" "$MB_PORT"
}

g_churn() {
    local rc subs runs=1
    start_minibroker -v --drop-after 2 || { not_ok "churn: minibroker starts"; return; }
    scenario churn "$MB_PORT"
    # without Valgrind (whose own heap grows): VmRSS from link 100 to link 1000. Not in the
    # sanitizer build: ASan's allocator grows by itself (100 KiB or so, then flat)
    if [ "${SANITIZE:-0}" = 1 ]; then
        echo "    churn: VmRSS not checked in the sanitizer build"
    else
        runs=2
        timeout -k 5 60 "$L" churn "$MB_PORT" rss >"$W/churn-rss.out" 2>&1
        rc=$?
        judge "churn rss" "$rc" "$W/churn-rss.out"
    fi
    stop_pid "$MB_PID"
    subs=$(grep -c '< SUBSCRIBE' "${MB_LOG%.log}.err")
    echo "    churn: the minibroker got $subs SUBSCRIBE in $runs x 1000 links"
    check "churn: the subscription was made again on every link (the minibroker got a SUBSCRIBE on each)" \
        test "$subs" -ge $((runs * 1000))
}

g_queue() {
    start_mosquitto || { not_ok "queue: mosquitto starts"; return; }
    relay_up "$MQ_PORT" || { not_ok "queue: the relay starts"; return; }
    scenario queue "$RELAY_PORT" "$RELAY_CTL" "$MQ_PORT"
}

read -r -a GROUPS_RUN <<<"${RC_GROUPS:-kill cut failover auth brokers churn queue}" # RC_GROUPS: some only
GROUP_START=$SECONDS
for g in "${GROUPS_RUN[@]}"; do group "$g" "g_$g" & done
wait
count_groups "${GROUPS_RUN[@]}"
echo "    the suite took $((SECONDS - GROUP_START)) s"
finish
