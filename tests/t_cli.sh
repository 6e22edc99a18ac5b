#!/usr/bin/env bash
# tests/t_cli.sh - build/mqttc-pub and build/mqttc-sub beside mosquitto_pub and mosquitto_sub.
# Each scenario runs mosquitto's tool and ours side by side, against a private mosquitto and
# against minibroker, and compares what they print and how they exit: -v lines, plain, empty,
# binary and 1 MiB payloads, -s and -l input (a line is sent as soon as it is read), retained
# messages and -R, -C / -W / -E exits, -U, wills after SIGKILL (none after SIGTERM), -d lines,
# refused credentials, -L URLs and usage errors. Our tools run under $VALGRIND, so a leak or
# a memory error makes the exit code 99 and the comparison fails.
. "$(dirname "$0")/lib.sh"
PUB=$B/mqttc-pub
SUB=$B/mqttc-sub
for p in "$PUB" "$SUB" "$B/minibroker"; do
    [ -x "$p" ] || { echo "missing $p: run make first" >&2; exit 1; }
done
chmod 711 "$TMP" # mosquitto leaves root for its own user, which must reach the password file

# ---- running the tools: tests/cli_lib.sh ----
. "$(dirname "$0")/cli_lib.sh"

# same_bytes LABEL MOSQ OURS EXPECTED_FILE: byte for byte (binary payloads)
same_bytes() {
    payload "$2" >"$W/$2.payload"
    payload "$3" >"$W/$3.payload"
    check "$1: mosquitto_sub prints the bytes" cmp "$4" "$W/$2.payload"
    check "$1: mqttc-sub prints the same bytes" cmp "$4" "$W/$3.payload"
    expect_eq "$1: same exit code (${RC[$2]})" "${RC[$2]}" "${RC[$3]}"
}

# ---- scenarios, run against each broker (BR names it, PORT is its port) ----

s_verbose() { # -v lines (a payload of several lines, QoS 2); -C exits 0; the same -d lines
    local t=v/$BR
    start_sub vm mosq -p "$PORT" -t "$t/#" -v -C 2
    start_sub vo ours -p "$PORT" -t "$t/#" -v -C 2
    subscribed vm vo || return
    check "$BR: mqttc-pub -m -q 2" pub ours -p "$PORT" -t "$t/q2" -m "hello world" -q 2
    check "$BR: mqttc-pub -s" pub_input 'all\nof it\n' -p "$PORT" -t "$t/s" -s
    reap vm vo
    same_output "$BR -v" vm vo "$(printf '%s\n' "$t/q2 hello world" "$t/s all" "of it")"
    expect_eq "$BR -d: mqttc-sub prints mosquitto_sub's packet lines" "$(debug_lines vm)" "$(debug_lines vo)"
}

s_binary() { # without -v, with -N: an empty payload prints nothing, bytes are written as they are
    local t=b/$BR
    printf 'text' >"$W/expected.bin"
    start_sub bm mosq -p "$PORT" -t "$t/#" -N -C 4
    start_sub bo ours -p "$PORT" -t "$t/#" -N -C 4
    subscribed bm bo || return
    check "$BR: mqttc-pub -f binary" pub ours -p "$PORT" -t "$t/bin" -f "$TMP/binary.bin" -q 1
    check "$BR: mosquitto_pub -f binary" pub mosq -p "$PORT" -t "$t/bin" -f "$TMP/binary.bin"
    check "$BR: mqttc-pub -n" pub ours -p "$PORT" -t "$t/empty" -n
    check "$BR: mqttc-pub -m" pub ours -p "$PORT" -t "$t/text" -m text
    reap bm bo
    cat "$TMP/binary.bin" "$TMP/binary.bin" "$W/expected.bin" >"$W/expected_b.bin"
    same_bytes "$BR binary, empty, -N" bm bo "$W/expected_b.bin"
}

s_big() { # 1 MiB from -f, from our publisher and from mosquitto's
    local t=big/$BR
    start_sub gm mosq -p "$PORT" -t "$t" -C 2
    start_sub go ours -p "$PORT" -t "$t" -C 2
    subscribed gm go || return
    check "$BR: mqttc-pub -f 1 MiB, QoS 1" pub ours -p "$PORT" -t "$t" -f "$TMP/big.bin" -q 1
    check "$BR: mosquitto_pub -f 1 MiB" pub mosq -p "$PORT" -t "$t" -f "$TMP/big.bin" -q 1
    reap gm go
    { cat "$TMP/big.bin"; echo; cat "$TMP/big.bin"; echo; } >"$W/expected_big.bin"
    same_bytes "$BR 1 MiB" gm go "$W/expected_big.bin"
}

s_lines() { # -l: one message per line, an empty line is an empty message, the last line
    # needs no newline; and each line leaves as soon as it is read
    local t=l/$BR fifo=$W/lines.fifo
    start_sub lm mosq -p "$PORT" -t "$t/#" -v -C 6 -q 1
    start_sub lo ours -p "$PORT" -t "$t/#" -v -C 6 -q 1
    subscribed lm lo || return
    check "$BR: mqttc-pub -l" pub_input 'l1\nl2\n\nl4' -p "$PORT" -t "$t/batch" -l -q 1
    mkfifo "$fifo"
    $VALGRIND "$PUB" -p "$PORT" -t "$t/live" -l <"$fifo" &
    local live=$!
    exec 8>"$fifo"
    echo first >&8
    check "$BR: -l publishes a line before the input ends" wait_text "$W/lo.out" "$t/live first"
    echo second >&8
    exec 8>&-
    wait "$live"
    expect_eq "$BR: mqttc-pub -l exits 0 at the end of input" 0 $?
    reap lm lo
    same_output "$BR -l" lm lo "$(printf '%s\n' "$t/batch l1" "$t/batch l2" "$t/batch (null)" \
        "$t/batch l4" "$t/live first" "$t/live second")"
}

s_retained() { # a retained message reaches later subscribers; -R skips it; -W exits 27
    local t=r/$BR
    check "$BR: mqttc-pub -r" pub ours -p "$PORT" -t "$t/kept" -m "kept" -r -q 1
    start_sub rm mosq -p "$PORT" -t "$t/#" -v -C 1
    start_sub ro ours -p "$PORT" -t "$t/#" -v -C 1
    if [ "$BR" = mosquitto ]; then # -W once is enough (g_once checks it with minibroker)
        start_sub Wm mosq -p "$PORT" -t "$t/kept" -v -R -W 2
        start_sub Wo ours -p "$PORT" -t "$t/kept" -v -R -W 2
    fi
    start_sub Rm mosq -p "$PORT" -t "$t/#" -v -C 1 -R
    start_sub Ro ours -p "$PORT" -t "$t/#" -v -C 1 -R
    reap rm ro
    same_output "$BR retained" rm ro "$t/kept kept"
    subscribed Rm Ro || return
    check "$BR: mqttc-pub (not retained)" pub ours -p "$PORT" -t "$t/live" -m "fresh"
    reap Rm Ro
    same_output "$BR -R" Rm Ro "$t/live fresh"
    [ "$BR" = mosquitto ] || return 0
    reap Wm Wo
    same_output "$BR -R -W" Wm Wo ""
    expect_eq "$BR -W: mosquitto_sub exits 27" 27 "${RC[Wm]}"
    expect_eq "$BR -W: both say why on stderr" "$(cat "$W/Wm.err")" "$(cat "$W/Wo.err")"
}

s_subscribe_exit() { # -E exits once subscribed; -U unsubscribes
    local t=e/$BR
    start_sub Em mosq -p "$PORT" -t "$t/a" -t "$t/b" -U "$t/b" -E
    start_sub Eo ours -p "$PORT" -t "$t/a" -t "$t/b" -U "$t/b" -E
    reap Em Eo
    same_output "$BR -E -U" Em Eo ""
    check "$BR -E: mqttc-sub sent UNSUBSCRIBE" grep -q "sending UNSUBSCRIBE (Mid: 3, Topic: $t/b)" "$W/Eo.out"
}

s_will() { # SIGKILL: the broker publishes the will; SIGTERM: a clean DISCONNECT, no will
    local t=w/$BR
    start_sub om mosq -p "$PORT" -t "$t/#" -v -C 2
    start_sub wt ours -p "$PORT" -t "$t/none" --will-topic "$t/term" --will-payload "no will expected"
    start_sub wk ours -p "$PORT" -t "$t/none" --will-topic "$t/ours" --will-payload "ours gone" --will-qos 1
    start_sub wm mosq -p "$PORT" -t "$t/none" --will-topic "$t/mosq" --will-payload "mosq gone"
    subscribed om wt wk wm || return
    kill -TERM "${PID[wt]}"
    reap wt
    expect_eq "$BR: mqttc-sub exits 0 on SIGTERM" 0 "${RC[wt]}"
    kill -KILL "${PID[wk]}"
    wait_text "$W/om.out" "$t/ours" # then the order of the two wills is known
    kill -KILL "${PID[wm]}"
    reap om
    expect_eq "$BR: after SIGKILL the broker publishes the will (ours, then mosquitto_sub's)" \
        "$(printf '%s\n' "$t/ours ours gone" "$t/mosq mosq gone")" "$(payload om)"
}

s_debug_pub() { # -d: the same lines as mosquitto_pub, QoS 0 and the QoS 2 handshake
    local q pids=()
    for q in 0 2; do
        mosquitto_pub -d -i "dbg-$BR-$q" -p "$PORT" -t "d/$BR" -m payload -q "$q" >"$W/dm$q.out" 2>&1
        pub ours -d -i "dbg-$BR-$q" -p "$PORT" -t "d/$BR" -m payload -q "$q" >"$W/do$q.out" 2>&1 &
        pids+=($!)
    done
    wait "${pids[@]}"
    for q in 0 2; do
        expect_eq "$BR: mqttc-pub -d -q $q prints mosquitto_pub's lines" "$(cat "$W/dm$q.out")" "$(cat "$W/do$q.out")"
    done
}

run_scenarios() {
    s_verbose
    s_binary
    s_big
    s_lines
    s_retained
    s_subscribe_exit
    s_will
    s_debug_pub
}

printf '\000\001\377\376 binary\nwith a newline and a NUL\000' >"$TMP/binary.bin"
head -c 1048576 /dev/urandom >"$TMP/big.bin"

# ---- the rest: once, against one broker ----

# Against minibroker, whose -v log shows what the tools sent.
g_once() {
    start_minibroker -v || { not_ok "minibroker starts"; return; }
    BR=once PORT=$MB_PORT
    # Two of our clients at once get different ids (Valgrind turns address randomisation
    # off; with equal ids the broker would close the first when the second connects).
    start_sub i1 ours -p "$PORT" -t ids -C 1
    start_sub i2 ours -p "$PORT" -t ids -C 1
    subscribed i1 i2
    check "mosquitto_pub to both" pub mosq -p "$PORT" -t ids -m both
    reap i1 i2
    local id1 id2
    id1=$(grep -m1 'sending CONNECT' "$W/i1.out" | cut -d' ' -f2)
    id2=$(grep -m1 'sending CONNECT' "$W/i2.out" | cut -d' ' -f2)
    check "two clients at once get different generated ids ($id1, $id2)" test -n "$id1" -a "$id1" != "$id2"
    expect_eq "both stayed connected and got the message (exit 0 0)" "0 0" "${RC[i1]} ${RC[i2]}"

    # -k 0 disables keepalive, -c keeps the session, -i names the client.
    check "mqttc-pub -k 0 -c -i" pub ours -p "$PORT" -t k -m x -k 0 -c -i keeper
    check "CONNECT carried keepalive 0, clean 0, the id" grep -q "< CONNECT id=keeper clean=0 keepalive=0" "${MB_LOG%.log}.err"

    # --repeat N --repeat-delay S: N messages, each completed, S seconds apart.
    start_sub rp ours -p "$PORT" -t rep -C 3 -v
    subscribed rp
    local start_ms elapsed
    start_ms=$(date +%s%3N)
    check "mqttc-pub --repeat 3 --repeat-delay 0.4" pub ours -p "$PORT" -t rep -m again -q 1 --repeat 3 --repeat-delay 0.4
    elapsed=$(($(date +%s%3N) - start_ms))
    reap rp
    expect_eq "--repeat: three messages" "$(printf 'rep again\nrep again\nrep again')" "$(payload rp)"
    check "--repeat-delay: at least 800 ms for two pauses ($elapsed ms)" test "$elapsed" -ge 800
}

# The broker restarts: both subscribers connect again by themselves, subscribe afresh and go
# on counting (-C) across connections.
resubscribed() { [ "$(grep -c 'Subscribed (mid:' "$W/$1.out")" -ge 2 ]; }
g_restart() {
    start_mosquitto || { not_ok "mosquitto starts"; return; }
    BR=restart
    start_sub xm mosq -p "$MQ_PORT" -t restart -v -C 2
    start_sub xo ours -p "$MQ_PORT" -t restart -v -C 2
    subscribed xm xo || return
    check "mosquitto_pub before the restart" pub mosq -p "$MQ_PORT" -t restart -m before
    wait_text "$W/xo.out" "restart before"
    stop_pid "$MQ_PID"
    mosquitto -c "$TMP/mosquitto.$MQ_PORT.conf" >>"$TMP/mosquitto.$MQ_PORT.log" 2>&1 &
    MQ_PID=$!
    CLEANUP_PIDS+=("$MQ_PID")
    local i
    for i in $(seq 1 400); do resubscribed xm && resubscribed xo && break; sleep 0.05; done
    check "mqttc-sub subscribed again after the restart" resubscribed xo
    check "mqttc-pub after the restart" pub ours -p "$MQ_PORT" -t restart -m after
    reap xm xo
    same_output "broker restart" xm xo "$(printf 'restart before\nrestart after')"
}

# refused CODE: given wrong credentials, mosquitto's tools and ours print the same and exit
# with the same code, the broker's CONNACK return code; -L carries good ones
refused() {
    local tool rm ro
    for tool in pub sub; do
        local args=(-p "$PORT" -t cred -u alice -P wrong)
        [ $tool = pub ] && args+=(-m x)
        "mosquitto_$tool" "${args[@]}" >/dev/null 2>"$W/cm.err"
        rm=$?
        $VALGRIND "$B/mqttc-$tool" "${args[@]}" >/dev/null 2>"$W/co.err"
        ro=$?
        expect_eq "$BR: bad password: mqttc-$tool exits as mosquitto_$tool ($rm)" "$rm" "$ro"
        expect_eq "$BR: bad password: mqttc-$tool says what mosquitto_$tool says" "$(cat "$W/cm.err")" "$(cat "$W/co.err")"
    done
    expect_eq "$BR: the refusal is the broker's code $1" "$1" "$rm"
    [ "$BR" = mosquitto ] || return 0 # -L once is enough
    start_sub Lo ours -L "mqtt://alice:secret@127.0.0.1:$PORT/cred/url" -v -C 1
    subscribed Lo || return
    check "$BR: mqttc-pub -L with user and password" pub ours -L "mqtt://alice:secret@127.0.0.1:$PORT/cred/url" -m "via url"
    reap Lo
    expect_eq "$BR: mqttc-sub -L" "cred/url via url" "$(payload Lo)"
}
g_credentials() {
    mosquitto_passwd -c -b "$W/passwd" alice secret >/dev/null
    chmod 644 "$W/passwd"
    chmod 711 "$W"
    start_mosquitto "allow_anonymous false" "password_file $W/passwd" || { not_ok "mosquitto starts"; return; }
    BR=mosquitto PORT=$MQ_PORT
    refused 5 # mosquitto 2.0 answers "not authorised"
    stop_pid "$MQ_PID"
    start_minibroker --user alice --pass secret || { not_ok "minibroker starts"; return; }
    BR=minibroker PORT=$MB_PORT
    refused 4 # "bad user name or password"
}

# usage TOOL ARGS...: ours exits as mosquitto's tool does (all at once; usage_check compares)
USAGE=() USAGE_PIDS=()
usage() {
    local tool=$1 n=${#USAGE[@]}
    shift
    USAGE+=("mqttc-$tool $*")
    "mosquitto_$tool" "$@" >/dev/null 2>&1
    echo $? >"$W/usage$n.mosq"
    ($VALGRIND "$B/mqttc-$tool" "$@" >/dev/null 2>"$W/usage$n.err"; echo $? >"$W/usage$n.ours") &
    USAGE_PIDS+=($!)
}
g_usage() {
    local n nothing
    usage pub
    usage pub -t a -m x -q 3
    usage pub -t a -m x -c
    usage pub -t 'a/#' -m x
    usage pub --help
    usage sub
    usage sub -t a -W 0
    nothing=$(free_port)
    usage pub -p "$nothing" -h 127.0.0.1 -t a -m x
    wait "${USAGE_PIDS[@]}"
    for n in "${!USAGE[@]}"; do
        expect_eq "${USAGE[$n]} exits $(cat "$W/usage$n.mosq")" "$(cat "$W/usage$n.mosq")" "$(cat "$W/usage$n.ours")"
    done
    check "nothing listening: mqttc-pub names the cause" grep -q "Unable to connect" "$W/usage$n.err"
}

# TLS flags against mosquitto TLS listeners, with certificates made now (tests/tls/make-certs.sh)
tls_exit() { # ours|mosq ARGS...: a TLS publish; prints its exit code
    if [ "$1" = ours ]; then shift; $VALGRIND "$PUB" "$@" >/dev/null 2>>"$W/tls-ours.err"; echo $?
    else shift; mosquitto_pub "$@" >/dev/null 2>>"$W/tls-mosq.err"; echo $?; fi
}
g_tls() {
    local C=$W/certs good wrong needs_cert
    bash tests/tls/make-certs.sh "$C" && chmod -R a+rX "$W" || { not_ok "certificates made"; return; }
    start_mosquitto "cafile $C/ca.crt" "certfile $C/server.crt" "keyfile $C/server.key" || return
    good=$MQ_PORT
    start_mosquitto "cafile $C/ca.crt" "certfile $C/wronghost.crt" "keyfile $C/wronghost.key" || return
    wrong=$MQ_PORT
    start_mosquitto "cafile $C/ca.crt" "certfile $C/server.crt" "keyfile $C/server.key" "require_certificate true" || return
    needs_cert=$MQ_PORT
    local T=(-h localhost --cafile "$C/ca.crt")
    # ours subscribes over TLS, mosquitto_pub publishes over TLS; and the other way round
    BR=tls
    start_sub tls_ours ours "${T[@]}" -p "$good" -t tls/a -v -C 1
    subscribed tls_ours || return
    mosquitto_pub "${T[@]}" -p "$good" -t tls/a -m 'over tls'
    reap tls_ours
    expect_eq "TLS: mqttc-sub --cafile receives from mosquitto_pub --cafile" "tls/a over tls" "$(payload tls_ours)"
    expect_eq "TLS: mqttc-sub -d shows the packets inside TLS" 1 "$(grep -c 'received CONNACK (0)' "$W/tls_ours.out")"
    start_sub tls_mosq mosq "${T[@]}" -p "$good" -t tls/b -v -C 1
    subscribed tls_mosq || return
    $VALGRIND "$PUB" "${T[@]}" -p "$good" -t tls/b -m 'from ours' -q 1
    reap tls_mosq
    expect_eq "TLS: mosquitto_sub --cafile receives from mqttc-pub --cafile" "tls/b from ours" "$(payload tls_mosq)"
    expect_eq "TLS: --capath works too" 0 "$(tls_exit ours -h localhost --capath "$C/capath" -p "$good" -t c -m x)"
    # an untrusted chain, a wrong host name (and --insecure), client certificates
    local cases=("untrusted chain|-h localhost --cafile $C/selfsigned.crt -p $good"
                 "wrong host name|-h localhost --cafile $C/ca.crt -p $wrong"
                 "wrong host name with --insecure|-h localhost --cafile $C/ca.crt --insecure -p $wrong"
                 "client certificate required, given|-h localhost --cafile $C/ca.crt --cert $C/client.crt --key $C/client.key -p $needs_cert"
                 "--key without --cert|-h localhost --cafile $C/ca.crt --key $C/client.key -p $good")
    local entry name args mosq ours
    for entry in "${cases[@]}"; do
        name=${entry%%|*} args=${entry#*|}
        # shellcheck disable=SC2086
        mosq=$(tls_exit mosq $args -t c -m x)
        # shellcheck disable=SC2086
        ours=$(tls_exit ours $args -t c -m x)
        if [ "$mosq" = 0 ]; then
            expect_eq "TLS $name: succeeds as mosquitto_pub does" 0 "$ours"
        else # mosquitto_pub exits 1 or 8 for the same TLS failure, from run to run; ours exits 1
            expect_eq "TLS $name: fails as mosquitto_pub does (its exit $mosq; ours 1)" 1 "$ours"
        fi
    done
    # a refused client certificate: mosquitto_pub reports it differently; both must fail
    ours=$(tls_exit ours -h localhost --cafile "$C/ca.crt" -p "$needs_cert" -t c -m x)
    check "TLS client certificate required, none given: mqttc-pub fails" test "$ours" -ne 0
    check "TLS untrusted chain: mqttc-pub names the certificate" grep -q "certificate" "$W/tls-ours.err"
    expect_eq "TLS: --insecure without --cafile is a usage error (exit 1)" 1 "$(tls_exit ours --insecure -p "$good" -t c -m x)"
}

# ---- run: the groups at the same time ----

# Most of a run is Valgrind starting up and subscribers waiting, so the groups (lib.sh's
# group) run at once; their "ok" and "not ok" lines are counted when all are done.
g_mosquitto() {
    start_mosquitto || { not_ok "mosquitto starts"; return; }
    BR=mosquitto PORT=$MQ_PORT
    run_scenarios
}
g_minibroker() {
    start_minibroker || { not_ok "minibroker starts"; return; }
    BR=minibroker PORT=$MB_PORT
    run_scenarios
}
g_rest() {
    g_once
    g_restart
    g_usage
    g_tls
}

printf '\000\001\377\376 binary\nwith a newline and a NUL\000' >"$TMP/binary.bin"
head -c 1048576 /dev/urandom >"$TMP/big.bin"
GROUPS_RUN=(mosquitto minibroker rest credentials)
pids=() GROUP_START=$SECONDS
for g in "${GROUPS_RUN[@]}"; do
    group "$g" "g_$g" &
    pids+=($!)
done
wait "${pids[@]}"
count_groups "${GROUPS_RUN[@]}"
finish
