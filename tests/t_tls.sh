#!/usr/bin/env bash
# TLS over real sockets: build/tls_client scenarios (under Valgrind) against private mosquitto
# TLS listeners and tests/tls/tls_server.py, on loopback, with certificates made now by
# tests/tls/make-certs.sh. The trust rule's "no byte of CONNECT" is proved on the server side:
# tls_server.py logs how many application bytes each connection carried.
. "$(dirname "$0")/lib.sh"
T=$B/tls_client
if [ ! -x "$T" ]; then
    not_ok "build/tls_client is built (make test builds it; see mk/tls.mk)"
    finish
fi
CERTS=$TMP/certs
chmod 755 "$TMP" # mosquitto started as root drops to its own user: it must read the certificates
check "certificates made with the openssl command" bash tests/tls/make-certs.sh "$CERTS"
chmod -R a+rX "$CERTS"
CREDS=(--user alice --pass s3cret)

tls() { # name, scenario, port, args...: passes when the scenario (under Valgrind) exits 0
    local name=$1 scenario=$2 port=$3; shift 3
    check "$name" timeout 120 $VALGRIND "$T" "$scenario" "$port" "$CERTS" "$@"
}

# start_tls_server MODE [ARGS]: tests/tls/tls_server.py on a free port (sets TS_PORT, TS_LOG).
start_tls_server() {
    TS_LOG=$TMP/tls_server.$RANDOM.log
    python3 tests/tls/tls_server.py "$@" >"$TS_LOG" 2>&1 &
    TS_PID=$!
    CLEANUP_PIDS+=("$TS_PID")
    local i
    for i in $(seq 1 200); do
        grep -q '^listening on' "$TS_LOG" && break
        sleep 0.05
    done
    TS_PORT=$(sed -n 's/^listening on 127.0.0.1:\([0-9]*\)$/\1/p' "$TS_LOG")
    [ -n "$TS_PORT" ] || { echo "tls_server.py did not start:"; cat "$TS_LOG"; return 1; }
}

# server_saw N EXPECTED: the server's line about connection N, once it has written it.
server_saw() {
    local i line=""
    for i in $(seq 1 400); do
        line=$(grep "^connection $1:" "$TS_LOG")
        [ -n "$line" ] && break
        sleep 0.05
    done
    expect_eq "  server side: $2" "connection $1: $2" "$line"
}

# 1. A trusted server (CA-signed for localhost and 127.0.0.1).
start_mosquitto "cafile $CERTS/ca.crt" "certfile $CERTS/server.crt" "keyfile $CERTS/server.key"
tls "trusted, credentials: the seed's example 3 in C, QoS 1 round trip" pubsub "$MQ_PORT" "${CREDS[@]}"
tls "trusted, credentials: 127.0.0.1 matches the certificate's IP entry" expect "$MQ_PORT" ok --host 127.0.0.1 "${CREDS[@]}"
tls "trusted through a CA directory (tls_ca_path)" expect "$MQ_PORT" ok --capath "$CERTS/capath" "${CREDS[@]}"
tls "a CA file that did not sign the server, credentials: cert" expect "$MQ_PORT" cert --ca "$CERTS/selfsigned.crt" "${CREDS[@]}"
tls "adopted socket (the seed's proxy example), then TLS" adopt "$MQ_PORT" --name localhost "${CREDS[@]}"
tls "event loop of our own: connect_start, poll(fd, events, timeout), step" eventloop "$MQ_PORT"
stop_pid "$MQ_PID"

# 2. An untrusted (self-signed) server: the seed's rule without credentials.
start_mosquitto "certfile $CERTS/selfsigned.crt" "keyfile $CERTS/selfsigned.key"
tls "untrusted chain, no credentials: connects (the seed's rule)" expect "$MQ_PORT" ok
tls "untrusted chain, verification forced (tls_verify): cert" expect "$MQ_PORT" cert --verify
stop_pid "$MQ_PID"

# 3. A listener that requires client certificates.
start_mosquitto "cafile $CERTS/ca.crt" "certfile $CERTS/server.crt" "keyfile $CERTS/server.key" \
    "require_certificate true"
tls "client certificate accepted where one is required" pubsub "$MQ_PORT" --cert "$CERTS/client.crt" --key "$CERTS/client.key"
tls "no client certificate where one is required: sslhandshake" expect "$MQ_PORT" sslhandshake
stop_pid "$MQ_PID"

# 4. Credentials never reach an untrusted server: it completes the handshake and then
#    receives nothing (not even close_notify counts as application data).
start_tls_server record "$CERTS/selfsigned.crt" "$CERTS/selfsigned.key"
tls "untrusted chain, credentials: cert" expect "$TS_PORT" cert "${CREDS[@]}"
server_saw 1 "handshake ok, application bytes 0"
stop_pid "$TS_PID"
start_tls_server record "$CERTS/wronghost.crt" "$CERTS/wronghost.key"
tls "trusted chain for another host name, credentials: cn" expect "$TS_PORT" cn "${CREDS[@]}"
server_saw 1 "handshake ok, application bytes 0"
tls "the same server without credentials is sent CONNECT (control)" expect "$TS_PORT" timeout --timeout-ms 5000
server_saw 2 "handshake ok, application bytes 37"
stop_pid "$TS_PID"

# 5. A server that accepts TCP and never answers the ClientHello.
start_tls_server stall
tls "stalled handshake: timeout after connect_timeout_ms" stall "$TS_PORT" --timeout-ms 1500
stop_pid "$TS_PID"

finish
