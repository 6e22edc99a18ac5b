#!/usr/bin/env bash
# tests/t_transport.sh - transports (section 8 of mqttc.h) against real components and
# scripted faults, all on loopback:
#   ws      mosquitto 2.0's websockets listeners, plain (ws) and TLS (wss), beside a plain MQTT
#           and an MQTT-over-TLS listener: build/live_transport (QoS 0/1/2, 1 MiB) and the
#           tools (-L ws:// and wss://, --ws-path), cross-checked with mosquitto_pub/_sub
#   socks   microsocks, without and with user/password: mqtt, mqtts and wss through it; TLS
#           names the broker, never the proxy; refusals; mosquitto_pub --proxy beside ours
#   http    tinyproxy with BasicAuth and ConnectPort lines: mqtt and wss through it; refusals
#   faults  tests/transport_fault.py: every SOCKS5 reply code, refused methods and logins,
#           HTTP statuses, odd but valid answers, answers one byte at a time; the WebSocket
#           upgrade's and the framing's faults; the client's frames all masked
# C programs and our tools run under $VALGRIND: a leak or a memory error fails the check.
. "$(dirname "$0")/lib.sh"
LT=$B/live_transport
PUB=$B/mqttc-pub
SUB=$B/mqttc-sub
for p in "$LT" "$PUB" "$SUB"; do
    [ -x "$p" ] || { not_ok "$p is built (make test builds it)"; finish; }
done
for p in mosquitto mosquitto_pub mosquitto_sub microsocks tinyproxy python3 openssl; do
    command -v "$p" >/dev/null || { not_ok "$p is installed (bash tests/deps.sh; tests/deps.d/transport.list)"; finish; }
done
chmod 755 "$TMP" # mosquitto started as root drops to its own user: it must read the certificates
CERTS=$TMP/certs
check "certificates made with the openssl command" bash tests/tls/make-certs.sh "$CERTS"
chmod -R a+rX "$CERTS"
CA=$CERTS/ca.crt
CREDS=(--user alice --pass s3cret) # the trust rule: with credentials the broker is checked

# ---- the brokers: one mosquitto with a plain, a ws, a wss and an mqtts listener; one on ::1;
#      one whose certificate names another host ----
WS_PORT=$(free_port) WSS_PORT=$(free_port) TLS_PORT=$(free_port)
start_mosquitto "listener $WS_PORT 127.0.0.1" "protocol websockets" \
    "listener $WSS_PORT 127.0.0.1" "protocol websockets" \
    "certfile $CERTS/server.crt" "keyfile $CERTS/server.key" \
    "listener $TLS_PORT 127.0.0.1" "certfile $CERTS/server.crt" "keyfile $CERTS/server.key" ||
    { not_ok "mosquitto with websockets listeners started"; finish; }
for p in "$WS_PORT" "$WSS_PORT" "$TLS_PORT"; do
    wait_port "$p" || { not_ok "mosquitto listens on $p"; finish; }
done
V6_MQTT=$(free_port) V6_WS=$(free_port)
MQ_MAIN=$MQ_PORT
start_mosquitto "listener $V6_MQTT ::1" "listener $V6_WS ::1" "protocol websockets" ||
    { not_ok "mosquitto on ::1 started"; finish; }
WRONG_TLS=$(free_port)
start_mosquitto "listener $WRONG_TLS 127.0.0.1" "certfile $CERTS/wronghost.crt" "keyfile $CERTS/wronghost.key" ||
    { not_ok "mosquitto with a certificate for another host started"; finish; }
MQ_PORT=$MQ_MAIN
CLOSED=$(free_port) # nothing listens here

# lt NAME ARGS...: build/live_transport ARGS under Valgrind; its own lines indented
LT_N=0
lt() {
    local name=$1 out rc
    shift
    LT_N=$((LT_N + 1))
    out=$W/lt.$LT_N.log
    timeout 120 $VALGRIND "$LT" "$@" >"$out" 2>&1
    rc=$?
    sed 's/^/    /' "$out"
    if [ "$rc" -eq 0 ]; then ok "$name"; else not_ok "$name (exit $rc: live_transport $*)"; fi
}

# start_fault KIND ARGS...: tests/transport_fault.py on a free port (F_PORT, F_LOG, F_PID)
F_N=0
start_fault() {
    local i
    F_N=$((F_N + 1))
    F_LOG=$W/fault.$F_N.log
    python3 tests/transport_fault.py "$@" >"$F_LOG" 2>&1 &
    F_PID=$!
    CLEANUP_PIDS+=("$F_PID")
    for i in $(seq 1 200); do
        grep -q '^listening on' "$F_LOG" && break
        sleep 0.05
    done
    F_PORT=$(sed -n 's/^listening on 127.0.0.1:\([0-9]*\)$/\1/p' "$F_LOG")
    [ -n "$F_PORT" ] || { echo "transport_fault.py $* did not start:"; cat "$F_LOG"; return 1; }
}
# fault_saw LABEL REGEX: the fault server logged a matching line (within 10 s)
fault_saw() {
    local i
    for i in $(seq 1 200); do
        grep -qE -- "$2" "$F_LOG" && { ok "  $1"; return 0; }
        sleep 0.05
    done
    not_ok "  $1"
    echo "    wanted /$2/ in $F_LOG:"
    sed 's/^/      /' "$F_LOG" | cut -c1-200
}
# fault_clean: the client broke no rule the fault server checks (masking, opcodes, ...)
fault_clean() {
    if grep -q "ERROR" "$F_LOG"; then
        not_ok "  the client broke no rule ($F_LOG)"
        grep "ERROR" "$F_LOG" | sed 's/^/      /' | cut -c1-200
    else ok "  the client broke no rule"; fi
}
stop_fault() { stop_pid "$F_PID"; }

# ---- the tools: tests/cli_lib.sh (start_sub, subscribed, reap, payload) ----
. "$(dirname "$0")/cli_lib.sh"
# fails NAME EXIT STDERR_TEXT TOOL ARGS...: our tool exits EXIT and says STDERR_TEXT (grep -F)
fails() {
    local name=$1 want=$2 text=$3 tool=$4 rc
    shift 4
    timeout 60 $VALGRIND "$B/mqttc-$tool" "$@" >"$W/fails.out" 2>"$W/fails.err"
    rc=$?
    expect_eq "$name: exits $want" "$want" "$rc"
    if grep -qF -- "$text" "$W/fails.err"; then ok "$name: says '$text'"
    else not_ok "$name: says '$text'"; sed 's/^/      /' "$W/fails.err"; fi
}
# sub_gets NAME TEXT SUB-ARGS... -- PUB-TOOL PUB-ARGS...: a subscriber (ours or mosquitto's,
# by PUB-TOOL's partner: the first SUB-ARG, ours|mosq) gets TEXT from the publisher
sub_gets() {
    local name=$1 text=$2 sub_tool=$3 args=() pub_tool
    shift 3
    while [ "$1" != "--" ]; do args+=("$1"); shift; done
    shift
    pub_tool=$1
    shift
    start_sub "$name" "$sub_tool" "${args[@]}" -C 1 -W 60
    subscribed "$name" || { kill "${PID[$name]}" 2>/dev/null; return 1; }
    check "$name: $pub_tool publisher exits 0" pub "$pub_tool" "$@"
    reap "$name"
    expect_eq "$name: the $sub_tool subscriber prints the message" "$text" "$(payload "$name")"
    expect_eq "$name: the $sub_tool subscriber exits 0" 0 "${RC[$name]}"
}

# ---- ws: mosquitto's websockets listeners ----

# mqttc-sub -L ws:// stays connected as mosquitto_sub does: its broker restarts (on the same
# websockets port) and it dials the same URL again, through the same SOCKS5 proxy, subscribes
# again and gets the next message.
ws_reconnect() {
    local keep_port=$MQ_PORT keep_pid=$MQ_PID rp i sp
    rp=$(free_port) sp=$(free_port)
    microsocks -i 127.0.0.1 -p "$sp" >"$W/microsocks-re.log" 2>&1 &
    CLEANUP_PIDS+=("$!")
    wait_port "$sp" || not_ok "reconnect: microsocks listens"
    start_mosquitto "listener $rp 127.0.0.1" "protocol websockets" || { not_ok "reconnect: mosquitto started"; return; }
    wait_port "$rp"
    start_sub re ours --proxy "socks5h://127.0.0.1:$sp" -L "ws://localhost:$rp/cli/re" -q 1 -C 1 -W 90
    if subscribed re; then
        stop_pid "$MQ_PID"
        start_mosquitto "listener $rp 127.0.0.1" "protocol websockets" && wait_port "$rp"
        for i in $(seq 1 400); do
            [ "$(grep -c "^Subscribed (mid:" "$W/re.out")" -ge 2 ] && break
            sleep 0.05
        done
        expect_eq "mqttc-sub -L ws:// --proxy dials again after its broker restarted, and subscribes" 2 \
            "$(grep -c "^Subscribed (mid:" "$W/re.out")"
        check "re: ours publisher exits 0" pub ours -L "ws://127.0.0.1:$rp/cli/re" -q 1 -m "after the restart"
        reap re
        expect_eq "re: mqttc-sub gets the message after the restart" "after the restart" "$(payload re)"
        expect_eq "re: mqttc-sub exits 0" 0 "${RC[re]}"
    fi
    stop_pid "$MQ_PID"
    MQ_PORT=$keep_port MQ_PID=$keep_pid
}
g_ws() {
    lt "ws:// round trip: QoS 0, 1, 2, 1 MiB at QoS 2" roundtrip "ws://127.0.0.1:$WS_PORT/mqtt"
    lt "wss:// round trip, trust checked (CA, user): QoS 0, 1, 2, 1 MiB" \
        roundtrip "wss://localhost:$WSS_PORT/mqtt" --ca "$CA" "${CREDS[@]}"
    lt "host and port with options.ws_path" roundtrip "127.0.0.1:$WS_PORT" --ws-path /mqtt --big 0
    lt "host and port with options.ws_path and options.secure" \
        roundtrip "localhost:$WSS_PORT" --ws-path /mqtt --secure --ca "$CA" "${CREDS[@]}" --big 0
    lt "ws:// to an IPv6 literal ([::1])" roundtrip "ws://[::1]:$V6_WS/mqtt" --big 0
    lt "mqtt:// to an IPv6 literal ([::1])" roundtrip "mqtt://[::1]:$V6_MQTT" --big 0
    lt "mqtts:// URL: QoS 0, 1, 2, 1 MiB" roundtrip "mqtts://localhost:$TLS_PORT" --ca "$CA" "${CREDS[@]}"
    lt "wss:// to an untrusted chain, credentials: cert" \
        expect "wss://localhost:$WSS_PORT/mqtt" cert --ca "$CERTS/selfsigned.crt" "${CREDS[@]}"
    lt "mqtts:// to a certificate for another host: cn" expect "mqtts://localhost:$WRONG_TLS" cn --ca "$CA" "${CREDS[@]}"
    lt "a URL with an unknown scheme: argument" expect "tcp://127.0.0.1:$MQ_PORT" argument

    for q in 0 1 2; do
        sub_gets "ws-q$q" "over ws at QoS $q" ours -L "ws://127.0.0.1:$WS_PORT/cli/ws/$q" -q "$q" -- \
            ours -L "ws://127.0.0.1:$WS_PORT/cli/ws/$q" -q "$q" -m "over ws at QoS $q"
    done
    sub_gets "wss-q2" "over wss" ours -L "wss://localhost:$WSS_PORT/cli/wss" --cafile "$CA" -q 2 -- \
        ours -L "wss://localhost:$WSS_PORT/cli/wss" --cafile "$CA" -q 2 -m "over wss"
    # 1 MiB, binary, through wss to a ws subscriber (-N: the bytes alone). mosquitto 2.0.11
    # sends a websockets client 4 KiB per 100 ms of its loop: 25 s for 1 MiB, so up to 90 s.
    python3 -c 'import sys; sys.stdout.buffer.write(bytes((i * 7 + 3) & 255 for i in range(1 << 20)))' >"$W/big"
    start_sub big ours -L "ws://127.0.0.1:$WS_PORT/cli/big" -q 1 -N -C 1 -W 120
    start_sub bigplain mosq -h 127.0.0.1 -p "$MQ_PORT" -t cli/big -q 1 -N -C 1 -W 60
    if subscribed big bigplain; then
        check "mqttc-pub -L wss:// -f (1 MiB) at QoS 1" pub ours -L "wss://localhost:$WSS_PORT/cli/big" --cafile "$CA" -q 1 -f "$W/big"
        for i in $(seq 1 1800); do kill -0 "${PID[big]}" 2>/dev/null || break; sleep 0.05; done
        reap big bigplain
        payload bigplain >"$W/bigplain.got"
        check "mosquitto_sub on the plain listener gets the 1 MiB byte for byte" cmp "$W/big" "$W/bigplain.got"
        payload big >"$W/big.got"
        check "mqttc-sub -L ws:// gets the 1 MiB byte for byte" cmp "$W/big" "$W/big.got"
        expect_eq "mqttc-sub -L ws:// exits 0 after the 1 MiB" 0 "${RC[big]}"
    fi
    # cross-checks with mosquitto's tools on the plain listener
    sub_gets "cross1" "ours over wss" mosq -h 127.0.0.1 -p "$MQ_PORT" -t cli/cross1 -q 1 -- \
        ours -L "wss://localhost:$WSS_PORT/cli/cross1" --cafile "$CA" -q 1 -m "ours over wss"
    sub_gets "cross2" "mosquitto's over plain" ours -L "ws://127.0.0.1:$WS_PORT/cli/cross2" -q 2 -- \
        mosq -h 127.0.0.1 -p "$MQ_PORT" -t cli/cross2 -q 2 -m "mosquitto's over plain"
    sub_gets "wspath" "-h, -p and --ws-path" mosq -h 127.0.0.1 -p "$MQ_PORT" -t cli/wspath -- \
        ours -h 127.0.0.1 -p "$WS_PORT" --ws-path /mqtt -t cli/wspath -m "-h, -p and --ws-path"
    sub_gets "ws6" "to [::1]" mosq -h ::1 -p "$V6_MQTT" -t cli/v6 -- \
        ours -L "ws://[::1]:$V6_WS/cli/v6" -m "to [::1]"
    sub_gets "v5-ws" "MQTT 5 over ws" ours -V 5 -L "ws://127.0.0.1:$WS_PORT/cli/v5" -q 1 -- \
        ours -V 5 -L "wss://localhost:$WSS_PORT/cli/v5" --cafile "$CA" -q 2 -D publish content-type text/plain \
        -m "MQTT 5 over ws"
    ws_reconnect
    fails "mqttc-pub -L wss:// to an untrusted chain" 1 "Unable to connect" pub \
        -L "wss://localhost:$WSS_PORT/cli/x" --cafile "$CERTS/selfsigned.crt" -m x
    fails "--ws-path not starting with /" 1 "it must start with '/'" pub -t a -m x --ws-path mqtt
    fails "--ws-path with an mqtt:// URL" 1 "--ws-path is for MQTT over WebSocket" pub \
        -L "mqtt://127.0.0.1:$MQ_PORT/a" -m x --ws-path /mqtt
    fails "-L with an unknown scheme" 1 "unsupported URL scheme" pub -L "http://127.0.0.1/a" -m x
    fails "--proxy with an unknown scheme" 1 "Unsupported proxy protocol: ftp://127.0.0.1:21" pub \
        -t a -m x --proxy ftp://127.0.0.1:21
    fails "-L ws:// with no topic" 1 "topic missing" sub -L "ws://127.0.0.1:$WS_PORT/"
    $PUB --help >"$W/help.out"
    check "--help names --proxy" grep -q -- "--proxy" "$W/help.out"
    check "--help names --ws-path as our extension" grep -q -- "--ws-path : WebSocket request path (our extension)" "$W/help.out"
    check "--help names ws(s):// URLs" grep -qF "ws(s)://[username[:password]@]host[:port]/topic" "$W/help.out"
}

# ---- socks: microsocks ----
g_socks() {
    local S SA S2 S6 i
    S=$(free_port) SA=$(free_port) S2=$(free_port)
    microsocks -i 127.0.0.1 -p "$S" >"$W/microsocks.log" 2>&1 &
    CLEANUP_PIDS+=("$!")
    microsocks -i 127.0.0.1 -p "$SA" -u alice -P s3cret >"$W/microsocks-auth.log" 2>&1 &
    CLEANUP_PIDS+=("$!")
    microsocks -i 127.0.0.2 -p "$S2" >"$W/microsocks2.log" 2>&1 &
    CLEANUP_PIDS+=("$!")
    S6=$(free_port)
    microsocks -i ::1 -p "$S6" -u alice -P s3cret >"$W/microsocks6.log" 2>&1 &
    CLEANUP_PIDS+=("$!")
    for i in "$S" "$SA"; do wait_port "$i" || not_ok "microsocks listens on $i"; done
    lt "socks5h: mqtt:// through microsocks, QoS 0, 1, 2, 1 MiB" \
        roundtrip "mqtt://localhost:$MQ_PORT" --proxy "socks5h://127.0.0.1:$S"
    lt "socks5 (name resolved here): host and port" roundtrip "localhost:$MQ_PORT" --proxy "socks5://127.0.0.1:$S" --big 0
    lt "socks5h with user and password" roundtrip "mqtt://localhost:$MQ_PORT" \
        --proxy "socks5h://alice:s3cret@127.0.0.1:$SA" --big 0
    lt "a proxy at an IPv6 literal, percent-escapes in its user name" roundtrip "mqtt://localhost:$MQ_PORT" \
        --proxy "socks5h://al%69ce:s3cret@[::1]:$S6" --big 0
    lt "socks5h: mqtts:// through microsocks, trust checked" \
        roundtrip "mqtts://localhost:$TLS_PORT" --ca "$CA" "${CREDS[@]}" --proxy "socks5h://alice:s3cret@127.0.0.1:$SA"
    lt "socks5h: wss:// through microsocks, trust checked" \
        roundtrip "wss://localhost:$WSS_PORT/mqtt" --ca "$CA" "${CREDS[@]}" --proxy "socks5h://127.0.0.1:$S" --big 0
    lt "TLS names the broker, not the proxy (at 127.0.0.2, not in the certificate)" \
        roundtrip "mqtts://localhost:$TLS_PORT" --ca "$CA" "${CREDS[@]}" --proxy "socks5h://127.0.0.2:$S2" --big 0
    lt "through the proxy, a certificate for another host: cn" \
        expect "mqtts://localhost:$WRONG_TLS" cn --ca "$CA" "${CREDS[@]}" --proxy "socks5h://127.0.0.1:$S"
    lt "wrong proxy password: proxyauth" expect "mqtt://localhost:$MQ_PORT" proxyauth \
        --proxy "socks5h://alice:wrong@127.0.0.1:$SA"
    lt "no credentials for a proxy that wants some: proxyauth" expect "mqtt://localhost:$MQ_PORT" proxyauth \
        --proxy "socks5h://127.0.0.1:$SA"
    lt "the proxy cannot reach the broker: proxy, reply 5 (connection refused)" \
        expect "mqtt://127.0.0.1:$CLOSED" proxy --reason 5 --proxy "socks5h://127.0.0.1:$S"
    lt "nothing listens where the proxy should be: cannotconnect" \
        expect "mqtt://127.0.0.1:$MQ_PORT" cannotconnect --proxy "socks5h://127.0.0.1:$CLOSED"

    sub_gets "socks-pub" "ours through socks5h" mosq -h 127.0.0.1 -p "$MQ_PORT" -t cli/socks1 -q 1 -- \
        ours --proxy "socks5h://alice:s3cret@127.0.0.1:$SA" -h localhost -p "$MQ_PORT" -t cli/socks1 -q 1 \
        -m "ours through socks5h"
    sub_gets "socks-sub" "mosquitto_pub through socks5h" ours --proxy "socks5h://alice:s3cret@127.0.0.1:$SA" \
        -L "mqtt://localhost:$MQ_PORT/cli/socks2" -q 2 -- \
        mosq --proxy "socks5h://alice:s3cret@127.0.0.1:$SA" -h localhost -p "$MQ_PORT" -t cli/socks2 -q 2 \
        -m "mosquitto_pub through socks5h"
    sub_gets "socks-mqtts" "mqtts through socks5h" mosq -h 127.0.0.1 -p "$MQ_PORT" -t cli/socks3 -- \
        ours --proxy "socks5h://127.0.0.2:$S2" -L "mqtts://localhost:$TLS_PORT/cli/socks3" --cafile "$CA" \
        -m "mqtts through socks5h"
    sub_gets "socks-v5" "MQTT 5 through socks5h, ws" ours -V 5 --proxy "socks5h://127.0.0.1:$S" \
        -L "ws://127.0.0.1:$WS_PORT/cli/socks5" -q 2 -- \
        ours -V 5 --proxy "socks5h://127.0.0.1:$S" -L "ws://127.0.0.1:$WS_PORT/cli/socks5" -q 2 -m "MQTT 5 through socks5h, ws"
    fails "mqttc-pub, wrong SOCKS5 password" 1 "Unable to connect [proxyauth" pub \
        --proxy "socks5h://alice:wrong@127.0.0.1:$SA" -h localhost -p "$MQ_PORT" -t a -m x
    fails "mqttc-pub, the proxy cannot reach the broker" 1 "Unable to connect [proxy, reply 5]" pub \
        --proxy "socks5h://127.0.0.1:$S" -h 127.0.0.1 -p "$CLOSED" -t a -m x
    fails "mqttc-sub, no proxy listening" 1 "Unable to connect to the proxy [cannotconnect]" sub \
        --proxy "socks5h://127.0.0.1:$CLOSED" -h 127.0.0.1 -p "$MQ_PORT" -t a
}

# ---- http: tinyproxy ----
g_http() {
    local H conf=$W/tinyproxy.conf p
    H=$(free_port)
    { echo "Port $H"; echo "Listen 127.0.0.1"; echo "Timeout 60"; echo "MaxClients 50"
      echo "Allow 127.0.0.1"; echo "BasicAuth alice s3cret"; echo "LogLevel Info"
      for p in "$MQ_PORT" "$WSS_PORT" "$TLS_PORT" "$CLOSED"; do echo "ConnectPort $p"; done; } >"$conf"
    tinyproxy -d -c "$conf" >"$W/tinyproxy.log" 2>&1 &
    CLEANUP_PIDS+=("$!")
    wait_port "$H" || { not_ok "tinyproxy listens"; cat "$W/tinyproxy.log"; return; }
    local P="http://alice:s3cret@127.0.0.1:$H"
    lt "http CONNECT: mqtt:// through tinyproxy, QoS 0, 1, 2, 1 MiB" roundtrip "mqtt://127.0.0.1:$MQ_PORT" --proxy "$P"
    lt "http CONNECT: wss:// through tinyproxy to mosquitto's wss listener" \
        roundtrip "wss://localhost:$WSS_PORT/mqtt" --ca "$CA" "${CREDS[@]}" --proxy "$P"
    lt "http CONNECT: mqtts:// host and port through tinyproxy" \
        roundtrip "localhost:$TLS_PORT" --secure --ca "$CA" "${CREDS[@]}" --proxy "$P" --big 0
    lt "wrong proxy password: proxyauth" expect "mqtt://127.0.0.1:$MQ_PORT" proxyauth \
        --proxy "http://alice:wrong@127.0.0.1:$H"
    lt "no proxy credentials: proxyauth (407)" expect "mqtt://127.0.0.1:$MQ_PORT" proxyauth --reason 407 \
        --proxy "http://127.0.0.1:$H"
    lt "a port the proxy refuses: proxy, status 403" expect "mqtt://127.0.0.1:$WS_PORT" proxy --reason 403 --proxy "$P"
    lt "the proxy cannot reach the broker: proxy, status 500" expect "mqtt://127.0.0.1:$CLOSED" proxy --reason 500 \
        --proxy "$P"
    sub_gets "http-wss" "mosquitto_pub to wss through tinyproxy" ours --proxy "$P" \
        -L "wss://localhost:$WSS_PORT/cli/http1" --cafile "$CA" -q 1 -- \
        mosq -h 127.0.0.1 -p "$MQ_PORT" -t cli/http1 -q 1 -m "mosquitto_pub to wss through tinyproxy"
    sub_gets "http-pub" "ours through tinyproxy" mosq -h 127.0.0.1 -p "$MQ_PORT" -t cli/http2 -q 2 -- \
        ours --proxy "$P" -h 127.0.0.1 -p "$MQ_PORT" -t cli/http2 -q 2 -m "ours through tinyproxy"
    fails "mqttc-pub, no proxy credentials" 1 "Unable to connect [proxyauth, reply 407]" pub \
        --proxy "http://127.0.0.1:$H" -h 127.0.0.1 -p "$MQ_PORT" -t a -m x
    fails "mqttc-pub, a port the proxy refuses" 1 "Unable to connect [proxy, reply 403]" pub \
        --proxy "$P" -h 127.0.0.1 -p "$WS_PORT" -t a -m x
}

# ---- faults: tests/transport_fault.py ----
g_faults_socks() {
    local n
    for n in 1 2 3 4 5 6 7 8; do
        start_fault socks5 --fault "rep:$n" || { not_ok "fault server (rep:$n)"; continue; }
        lt "SOCKS5 reply $n: proxy, reason $n" expect "mqtt://localhost:$MQ_PORT" proxy --reason "$n" \
            --proxy "socks5h://127.0.0.1:$F_PORT"
        stop_fault
    done
    start_fault socks5 --fault method-refused
    lt "SOCKS5 no acceptable method (0xFF): proxyauth" expect "mqtt://localhost:$MQ_PORT" proxyauth \
        --proxy "socks5h://alice:s3cret@127.0.0.1:$F_PORT"
    stop_fault
    start_fault socks5 --fault login-refused
    lt "SOCKS5 login refused (status 1): proxyauth" expect "mqtt://localhost:$MQ_PORT" proxyauth \
        --proxy "socks5h://alice:s3cret@127.0.0.1:$F_PORT"
    fault_saw "the login carried user and password (RFC 1929)" "login version 1 user alice password s3cret$"
    stop_fault
    start_fault socks5 --user alice --password s3cret --slow --bnd domain
    lt "SOCKS5 with login, answers one byte at a time, bound address a name" \
        roundtrip "mqtt://localhost:$MQ_PORT" --proxy "socks5h://alice:s3cret@127.0.0.1:$F_PORT" --big 0
    fault_saw "socks5h offers methods 0 and 2 with credentials" "greeting version 5 methods (0,2|2)$"
    fault_saw "socks5h sends the broker's name" "request version 5 command 1 domain localhost port $MQ_PORT$"
    fault_clean
    stop_fault
    start_fault socks5 --bnd ipv6
    lt "SOCKS5 bound address IPv6; socks5:// resolves the name here" \
        roundtrip "mqtt://localhost:$MQ_PORT" --proxy "socks5://127.0.0.1:$F_PORT" --big 0
    fault_saw "socks5:// sends an address" "request version 5 command 1 ipv(4 127.0.0.1|6 ::1) port $MQ_PORT$"
    stop_fault
    start_fault socks5 --fault silent
    lt "a SOCKS5 proxy that never answers: timeout (connect_timeout_ms)" expect "mqtt://localhost:$MQ_PORT" timeout \
        --proxy "socks5h://127.0.0.1:$F_PORT" --timeout-ms 1500
    fault_saw "and the client closes" "the client closed$"
    stop_fault
    start_fault socks5 --user alice --password s3cret
    lt "a SOCKS5 user name of 256 bytes (RFC 1929: at most 255): argument" expect "mqtt://localhost:$MQ_PORT" argument \
        --proxy "socks5h://$(printf 'u%.0s' $(seq 256)):pw@127.0.0.1:$F_PORT"
    lt "a broker name of 256 bytes through socks5h (at most 255): argument" \
        expect "mqtt://$(printf 'h%.0s' $(seq 256)):1883" argument --proxy "socks5h://alice:s3cret@127.0.0.1:$F_PORT"
    stop_fault
    start_fault socks5 --fault silent
    lt "given up while SOCKS5 waits, mqtts above it: deinit frees all" abort "mqtts://localhost:$TLS_PORT" \
        --proxy "socks5h://127.0.0.1:$F_PORT" --ca "$CA" --ms 300
    lt "given up while SOCKS5 waits, wss above it: disconnect, then deinit" abort "wss://localhost:$WSS_PORT/mqtt" \
        --proxy "socks5h://127.0.0.1:$F_PORT" --ca "$CA" --ms 300 --disconnect
    start_sub silent ours --proxy "socks5h://127.0.0.1:$F_PORT" -L "wss://localhost:$WSS_PORT/t" --cafile "$CA" -W 1
    reap silent
    expect_eq "mqttc-sub -W 1 while the proxy says nothing: 255, as mosquitto_sub's -W before a connection" \
        255 "${RC[silent]}"
    stop_fault
    start_fault socks5 --early
    lt "SOCKS5 reply and CONNACK in one send: the reply is read to its end, no further" \
        roundtrip "mqtt://broker.example:1883" --proxy "socks5h://127.0.0.1:$F_PORT" --big 0
    fault_saw "socks5h resolves nothing here: the name goes to the proxy" "domain broker.example port 1883$"
    stop_fault
    start_fault socks5
    lt "SOCKS5 to an IPv6 literal broker" roundtrip "mqtt://[::1]:$V6_MQTT" --proxy "socks5h://127.0.0.1:$F_PORT" --big 0
    fault_saw "an IPv6 literal goes as an IPv6 address" "request version 5 command 1 ipv6 ::1 port $V6_MQTT$"
    stop_fault
}

g_faults_http() {
    local code
    for code in 407 403 502; do
        start_fault http --fault "status:$code"
        local want=proxy
        [ "$code" = 407 ] && want=proxyauth
        lt "HTTP CONNECT answered $code: $want, reason $code" expect "mqtt://localhost:$MQ_PORT" "$want" \
            --reason "$code" --proxy "http://127.0.0.1:$F_PORT"
        stop_fault
    done
    start_fault http --user alice --password s3cret --http10
    lt "HTTP/1.0 200 accepted" roundtrip "mqtt://localhost:$MQ_PORT" --proxy "http://alice:s3cret@127.0.0.1:$F_PORT" --big 0
    fault_saw "the request names the broker" "request CONNECT localhost:$MQ_PORT HTTP/1\.[01]$"
    fault_saw "Basic credentials" "authorization alice:s3cret$"
    fault_saw "a Host header" "host localhost:$MQ_PORT$"
    stop_fault
    start_fault http --fault silent
    lt "an HTTP proxy that never answers: timeout (connect_timeout_ms)" expect "mqtt://localhost:$MQ_PORT" timeout \
        --proxy "http://127.0.0.1:$F_PORT" --timeout-ms 1500
    fault_saw "and the client closes" "the client closed$"
    stop_fault
    start_fault http --fault silent
    lt "given up while HTTP CONNECT waits: deinit frees all" abort "ws://localhost:$WS_PORT/mqtt" \
        --proxy "http://u:p@127.0.0.1:$F_PORT" --ms 300
    stop_fault
    start_fault http --early
    lt "HTTP 200 and CONNACK in one send: the answer is read to its end, no further" \
        roundtrip "mqtt://broker.example:1883" --proxy "http://127.0.0.1:$F_PORT" --big 0
    fault_saw "the broker's name goes to the proxy" "request CONNECT broker.example:1883 HTTP/1\.[01]$"
    stop_fault
    start_fault http --fault content-length
    lt "a 200 with Content-Length: the tunnel starts after the head (RFC 9110 9.3.6)" \
        roundtrip "mqtt://localhost:$MQ_PORT" --proxy "http://127.0.0.1:$F_PORT" --big 0 --timeout-ms 5000
    stop_fault
    start_fault http --fault empty-reason
    lt "a 200 with an empty reason phrase accepted" roundtrip "mqtt://localhost:$MQ_PORT" --proxy "http://127.0.0.1:$F_PORT" --big 0
    stop_fault
    start_fault http --long-header
    lt "an 8000-byte header line accepted" roundtrip "mqtt://localhost:$MQ_PORT" --proxy "http://127.0.0.1:$F_PORT" --big 0
    stop_fault
    start_fault http --many-headers
    lt "200 header lines accepted" roundtrip "mqtt://localhost:$MQ_PORT" --proxy "http://127.0.0.1:$F_PORT" --big 0
    stop_fault
    start_fault http --slow
    lt "an answer one byte at a time" roundtrip "mqtt://localhost:$MQ_PORT" --proxy "http://127.0.0.1:$F_PORT" --big 0
    stop_fault
    start_fault http
    lt "HTTP CONNECT to an IPv6 literal broker" roundtrip "mqtt://[::1]:$V6_MQTT" --proxy "http://127.0.0.1:$F_PORT" --big 0
    fault_saw "the authority in brackets" "request CONNECT \[::1\]:$V6_MQTT HTTP/1\.[01]$"
    stop_fault
    start_fault http --fault status:407
    fails "mqttc-pub, an HTTP proxy answers 407" 1 "Unable to connect [proxyauth, reply 407]" pub \
        --proxy "http://127.0.0.1:$F_PORT" -h localhost -p "$MQ_PORT" -t a -m x
    stop_fault
}

g_faults_ws() {
    local f
    for f in bad-accept no-protocol other-protocol extension no-upgrade no-connection status:200 status:404; do
        start_fault ws --fault "$f"
        lt "WebSocket upgrade answered $f: wshandshake" expect "ws://127.0.0.1:$F_PORT/mqtt" wshandshake
        stop_fault
    done
    for f in masked text rsv opcode big-ping lone-continuation; do
        start_fault ws --fault "$f"
        lt "a $f frame from the server: websocket" expect "ws://127.0.0.1:$F_PORT/mqtt" websocket
        stop_fault
    done
    start_fault ws --fault close
    lt "the server's CLOSE: closed, and the detail says so" expect "ws://127.0.0.1:$F_PORT/mqtt" closed --detail "sent CLOSE"
    fault_saw "the client answers CLOSE" "client CLOSE code [0-9]+$"
    fault_clean
    stop_fault
    start_fault ws --fault fragmented
    lt "CONNACK over three frames (FIN=0, continuation, continuation)" hold "ws://127.0.0.1:$F_PORT/mqtt" --ms 500
    fault_clean
    stop_fault
    start_fault ws --fault coalesced
    lt "CONNACK and a PUBLISH in one frame" hold "ws://127.0.0.1:$F_PORT/mqtt" --ms 500 --messages 1
    stop_fault
    start_fault ws --fault ping
    lt "a PING from the server" hold "ws://127.0.0.1:$F_PORT/mqtt" --ms 1000
    fault_saw "the client's PONG carries the PING's payload" "PONG ok: same payload$"
    fault_saw "the client closes with CLOSE 1000 after DISCONNECT" "client CLOSE code 1000$"
    fault_clean
    stop_fault
    start_fault ws --fault silent
    lt "a WebSocket upgrade never answered: timeout (connect_timeout_ms)" expect "ws://127.0.0.1:$F_PORT/mqtt" timeout \
        --timeout-ms 1500
    fault_saw "and the client closes" "the client closed$"
    lt "given up while the upgrade waits: deinit frees all" abort "ws://127.0.0.1:$F_PORT/mqtt" --ms 300
    lt "given up while the upgrade waits: disconnect, then deinit" abort "ws://127.0.0.1:$F_PORT/mqtt" --ms 300 --disconnect
    start_sub silent ours -L "ws://127.0.0.1:$F_PORT/t" -W 1
    reap silent
    start_sub silentm mosq -h 127.0.0.1 -p "$F_PORT" -t t -W 1
    reap silentm
    expect_eq "mqttc-sub -W 1 while the upgrade waits exits as mosquitto_sub -W 1 with no CONNACK" \
        "${RC[silentm]}" "${RC[silent]}"
    stop_fault
    start_fault ws
    lt "keepalive over WebSocket: PINGREQ and PINGRESP in frames" hold "ws://127.0.0.1:$F_PORT/mqtt" --keepalive 1 --ms 3500
    fault_saw "PINGREQ came" "mqtt PINGREQ$"
    fault_clean
    stop_fault
    start_fault ws --fault ping-in-fragments
    lt "a PING between the frames of a fragmented CONNACK" hold "ws://127.0.0.1:$F_PORT/mqtt" --ms 300
    fault_saw "answered with its payload" "PONG ok: same payload$"
    fault_clean
    stop_fault
    start_fault ws --fault empty-frames
    lt "empty binary frames around the CONNACK" hold "ws://127.0.0.1:$F_PORT/mqtt" --ms 300
    stop_fault
    # options.ws_path and _headers go into the upgrade request: a line break in either is
    # refused, and so is a path that is no request-target (origin-form starts with '/', RFC
    # 9112 3.2.1): refused (argument), or never sent as it is.
    start_fault ws
    lt "options.ws_path with CR LF (header injection): argument" expect "127.0.0.1:$F_PORT" argument \
        --ws-path $'/a\nX-Injected: 1'
    lt "options.ws_headers not ending in CR LF: argument" expect "127.0.0.1:$F_PORT" argument \
        --ws-path /mqtt --ws-headers "X-No-End: 1"
    stop_fault
    local path
    for path in "" mqtt; do
        start_fault ws
        LT_N=$((LT_N + 1))
        timeout 60 $VALGRIND "$LT" hold "127.0.0.1:$F_PORT" --ws-path "$path" --ms 100 >"$W/lt.$LT_N.log" 2>&1
        sed 's/^/    /' "$W/lt.$LT_N.log"
        if grep -qE "connect: argument|mqttc_init: argument" "$W/lt.$LT_N.log"; then ok "options.ws_path '$path': refused"
        elif grep -qE "upgrade GET [^/]" "$F_LOG"; then
            not_ok "options.ws_path '$path': refused, or sent as a request-target that starts with /"
            grep "upgrade" "$F_LOG" | sed 's/^/      /'
        else ok "options.ws_path '$path': sent as a request-target that starts with /"; fi
        stop_fault
    done
    # A fragment is no part of a WebSocket URI [RFC 6455 3: '#' MUST be escaped as %23] and
    # never part of a request-target [RFC 9112 3.2]: refused (argument) or left out, never sent.
    start_fault ws
    LT_N=$((LT_N + 1))
    timeout 60 $VALGRIND "$LT" hold "ws://127.0.0.1:$F_PORT/p#frag" --ms 100 >"$W/lt.$LT_N.log" 2>&1
    local frag_rc=$?
    sed 's/^/    /' "$W/lt.$LT_N.log"
    if grep -q "connect: argument" "$W/lt.$LT_N.log" || { [ "$frag_rc" -eq 0 ] && grep -q "upgrade GET /p HTTP/1.1$" "$F_LOG"; }
    then ok "a ws:// URL with a #fragment: refused, or the fragment not sent"
    else not_ok "a ws:// URL with a #fragment: refused, or the fragment not sent"; grep "upgrade" "$F_LOG" | sed 's/^/      /'; fi
    stop_fault
    start_fault ws --fault lowercase
    lt "the 101's header names and values in other cases accepted" hold "ws://127.0.0.1:$F_PORT/mqtt" --ms 200
    stop_fault
    start_fault ws --early
    lt "the 101 and a CONNACK frame in one send: the upgrade is read to its end, no further" \
        hold "ws://127.0.0.1:$F_PORT/mqtt" --ms 200
    stop_fault
    start_fault ws --fault ping-mid
    lt "a PING while a 300 kB PUBLISH is half sent; its echo in one 64-bit-length frame" \
        roundtrip "ws://127.0.0.1:$F_PORT/mqtt" --big 300000
    fault_saw "the PING came mid-packet" "sent PING with [0-9]+ bytes of a packet in$"
    fault_saw "the client's PONG carries the PING's payload, between its frames" "PONG ok: same payload$"
    fault_saw "the whole PUBLISH arrived" "mqtt PUBLISH qos 2 topic transport/[0-9]+/big/qos2 payload 300000 bytes$"
    fault_clean
    stop_fault
    start_fault ws --slow
    lt "the upgrade answer one byte at a time" roundtrip "ws://alice:s%33cret@127.0.0.1:$F_PORT/some/path" --big 0
    fault_saw "the request path is the URL's" "upgrade GET /some/path HTTP/1.1$"
    fault_saw "subprotocol mqtt asked for" "header sec-websocket-protocol: mqtt$"
    fault_saw "version 13" "header sec-websocket-version: 13$"
    fault_saw "the URL's user and (percent-decoded) password go in CONNECT" "mqtt CONNECT level 4 id .* user alice password s3cret$"
    fault_clean
    stop_fault
    start_fault ws
    lt "options.ws_headers and options.ws_path with host and port" \
        hold "127.0.0.1:$F_PORT" --ws-path /custom --ws-headers $'X-Test: yes\nX-Other: 2\n' --ms 200
    fault_saw "the extra header lines" "header x-test: yes$"
    fault_saw "the path" "upgrade GET /custom HTTP/1.1$"
    stop_fault
    # the tools against the scripted server
    start_fault ws --fault coalesced
    start_sub fcoal ours -L "ws://127.0.0.1:$F_PORT/fault/#" --ws-path /alt -C 1 -W 30 -v
    reap fcoal
    expect_eq "mqttc-sub -L ws:// gets the PUBLISH that came with the CONNACK" \
        "fault/coalesced carried with the CONNACK" "$(payload fcoal)"
    fault_saw "mqttc-sub's --ws-path" "upgrade GET /alt HTTP/1.1$"
    fault_clean
    stop_fault
    start_fault ws
    check "mqttc-pub -L ws:// with user and password, QoS 2" pub ours -L "ws://bob:pw@127.0.0.1:$F_PORT/t" -q 2 -m x
    fault_saw "the default request path /mqtt" "upgrade GET /mqtt HTTP/1.1$"
    fault_saw "the tool's user and password" "mqtt CONNECT level 4 id .* user bob password pw$"
    fault_saw "the QoS 2 PUBLISH" "mqtt PUBLISH qos 2 topic t payload 1 bytes$"
    fault_clean
    stop_fault
    start_fault ws --fault bad-accept
    fails "mqttc-pub, a wrong Sec-WebSocket-Accept" 1 "Unable to connect [wshandshake]" pub \
        -L "ws://127.0.0.1:$F_PORT/t" -m x
    stop_fault
    start_fault ws --fault text
    fails "mqttc-sub, a text frame" 1 "Unable to connect [websocket]" sub -L "ws://127.0.0.1:$F_PORT/t"
    stop_fault
}

# Two waves of three groups (the machine may have two cores). TRANSPORT_GROUPS="ws faults_ws"
# runs only those (to look into one part); the default is all six.
GROUPS_RUN=(${TRANSPORT_GROUPS:-ws socks http faults_socks faults_http faults_ws})
GROUP_START=$SECONDS
WAVE=() # the groups' pids: a bare wait would wait for the brokers too
for g in "${GROUPS_RUN[@]}"; do
    group "$g" "g_$g" &
    WAVE+=($!)
    [ ${#WAVE[@]} -eq 3 ] && { wait "${WAVE[@]}"; WAVE=(); }
done
[ ${#WAVE[@]} -gt 0 ] && wait "${WAVE[@]}"
count_groups "${GROUPS_RUN[@]}"
finish
