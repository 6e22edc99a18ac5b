#!/usr/bin/env bash
# tests/t_cli5.sh - MQTT 5 in build/mqttc-pub and build/mqttc-sub, beside mosquitto_pub and
# mosquitto_sub 2.0 with -V 5. Each scenario runs mosquitto's tool and ours side by side
# against a private mosquitto on 127.0.0.1 and compares what they print and how they exit:
# -F with every specifier, widths and escapes (and -F in 3.1.1), %j / %J and --pretty; -D for
# each command, checked where the property lands: on the subscriber's -F line (publish, will),
# through the broker's behaviour (session expiry and resume, maximum packet size, will delay,
# retain as published, subscription identifier), and byte for byte on the wire through
# capture.py below, a stand-in broker that logs every packet's properties (connect,
# subscribe, unsubscribe, disconnect, topic alias); -V, -x, -D and -F errors; MQTT 5
# refusals and PUBACK reason codes; -d lines. Our tools run under $VALGRIND, so a leak or a
# memory error makes the exit code 99 and the comparison fails.
. "$(dirname "$0")/lib.sh"
PUB=$B/mqttc-pub
SUB=$B/mqttc-sub
for p in "$PUB" "$SUB"; do
    [ -x "$p" ] || { echo "missing $p: run make first" >&2; exit 1; }
done
for p in mosquitto mosquitto_pub mosquitto_sub mosquitto_passwd python3; do
    command -v "$p" >/dev/null || { echo "missing $p: bash tests/deps.sh" >&2; exit 1; }
done
chmod 711 "$TMP" # mosquitto leaves root for its own user, which must reach the password file

# ---- running the tools: tests/cli_lib.sh ----
. "$(dirname "$0")/cli_lib.sh"

# same_bytes LABEL MOSQ OURS: byte for byte the same output (NULs and all), and exit code
same_bytes() {
    payload "$2" >"$W/$2.bytes"
    payload "$3" >"$W/$3.bytes"
    check "$1: mqttc-sub prints mosquitto_sub's bytes" cmp "$W/$2.bytes" "$W/$3.bytes"
    expect_eq "$1: same exit code (${RC[$2]})" "${RC[$2]}" "${RC[$3]}"
}
# both TOOL ARGS...: runs mosquitto_TOOL and mqttc-TOOL with ARGS (in the foreground, one
# after the other); their stdout in $W/both.{mosq,ours}.out, stderr in .err, exit codes in
# BOTH_RC_MOSQ and BOTH_RC_OURS
both() {
    local tool=$1; shift
    "mosquitto_$tool" "$@" >"$W/both.mosq.out" 2>"$W/both.mosq.err"
    BOTH_RC_MOSQ=$?
    $VALGRIND "$B/mqttc-$tool" "$@" >"$W/both.ours.out" 2>"$W/both.ours.err"
    BOTH_RC_OURS=$?
}
# same_both LABEL TOOL: after `both`, ours said on stderr what mosquitto's said (its own name
# for the tool's) and exited alike
same_both() {
    expect_eq "$1: mqttc-$2 exits as mosquitto_$2 ($BOTH_RC_MOSQ)" "$BOTH_RC_MOSQ" "$BOTH_RC_OURS"
    expect_eq "$1: mqttc-$2 says what mosquitto_$2 says" "$(sed "s/mosquitto_$2/TOOL/g" "$W/both.mosq.err")" \
        "$(sed "s/mqttc-$2/TOOL/g" "$W/both.ours.err")"
}

# ---- -F: mosquitto_sub's output format ----

# The properties of the richest message: one of each a PUBLISH may carry from a client, and
# two user properties under one name (order and repeats kept [MQTT-3.3.2-18]).
PROPS=(-D publish content-type text/plain -D publish correlation-data c0rr -D publish user-property k1 v1
       -D publish user-property k1 v2 -D publish response-topic resp/t -D publish message-expiry-interval 3600
       -D publish payload-format-indicator 1)
# Every parameter but the times (tested apart), every escape, and fields
FMT_ALL='%t|%p|%q|%r|%m|%l|%x|%X|%A|%C|%D|%E|%F|%R|%S|%P|%%|@@|\t|\\|\0|\a|\e|\r|\v|\n'
FMT_FIELDS='%10.3t|%-8t|%08l|%-08l|%5q|%5r|%5m|%-5m|%5E|%05E|%-5F|%5C|%.1C|%5R|%5.1R|%15p|%-4p|%5S|%5A|%5D|%5P|%-05l|%-0t'

s_format() { # -F with every specifier: mosquitto_pub's and mqttc-pub's messages, to both subscribers
    local t=f5
    start_sub fm mosq -p "$PORT" -V 5 -q 2 -t "$t/#" -F "$FMT_ALL" -C 5
    start_sub fo ours -p "$PORT" -V 5 -q 2 -t "$t/#" -F "$FMT_ALL" -C 5
    start_sub wm mosq -p "$PORT" -V 5 -q 2 -t "$t/#" -F "$FMT_FIELDS" -C 5
    start_sub wo ours -p "$PORT" -V 5 -q 2 -t "$t/#" -F "$FMT_FIELDS" -C 5
    start_sub vm mosq -p "$PORT" -V 5 -q 2 -t "$t/#" -v -C 5
    start_sub vo ours -p "$PORT" -V 5 -q 2 -t "$t/#" -v -C 5
    start_sub nm mosq -p "$PORT" -V 5 -q 2 -t "$t/#" -F '%t %P;' -N -C 5
    start_sub no ours -p "$PORT" -V 5 -q 2 -t "$t/#" -F '%t %P;' -N -C 5
    subscribed fm fo wm wo vm vo nm no || return
    check "mosquitto_pub -V 5 with every publish property" pub mosq -p "$PORT" -V 5 -q 1 -t "$t/m" -m "hello world" "${PROPS[@]}"
    check "mqttc-pub -V 5 with every publish property" pub ours -p "$PORT" -V 5 -q 1 -t "$t/o" -m "hello world" "${PROPS[@]}"
    check "mosquitto_pub -V 5 -n" pub mosq -p "$PORT" -V 5 -t "$t/empty" -n
    check "mqttc-pub -V 5 -r" pub ours -p "$PORT" -V 5 -t "$t/r" -m retained -r
    # last: libmosquitto prints a QoS 2 message once PUBREL came, mqttc when PUBLISH came, so
    # a message right after it could come first in one and second in the other
    check "mqttc-pub -V 5 -f binary, QoS 2, payload-format-indicator 0" \
        pub ours -p "$PORT" -V 5 -q 2 -t "$t/bin" -f "$TMP/binary.bin" -D publish payload-format-indicator 0
    reap fm fo wm wo vm vo nm no
    same_bytes "-F every specifier and escape" fm fo
    same_bytes "-F flags, widths and maximum widths" wm wo
    same_bytes "-v in MQTT 5: topic and payload, no properties, as mosquitto_sub" vm vo
    same_bytes "-F with -N: no end of line" nm no
    check "-F '%t %P;' -N: one line for all" test "$(payload no | wc -l)" = 0
    # mqttc-pub's properties reach mosquitto_sub as mosquitto_pub's do: content type
    # [MQTT-3.3.2-20], correlation data [MQTT-3.3.2-16], user properties [MQTT-3.3.2-17],
    # response topic [MQTT-3.3.2-15], payload format [MQTT-3.3.2-4], expiry [MQTT-3.3.2-6]
    local line_m line_o # without %t and %m (the broker numbers the two messages apart)
    line_m=$(grep -a "^$t/m|" "$W/fm.out" | cut -d'|' -f2-4,6-)
    line_o=$(grep -a "^$t/o|" "$W/fm.out" | cut -d'|' -f2-4,6-)
    check "-F: mosquitto_sub shows the content type" grep -q -a "|text/plain|c0rr|3600|1|resp/t||k1:v1 k1:v2|" "$W/fm.out"
    expect_eq "[MQTT-3.3.2-17] mqttc-pub's -D publish properties reach mosquitto_sub as mosquitto_pub's" \
        "$line_m" "$line_o"
    check "-F: the retained message shows %r 0 to a live subscriber [MQTT-3.3.1-12]" grep -q -a "^$t/r|retained|0|0|" "$W/fo.out"
}

s_format_311() { # -F in 3.1.1: the MQTT 5 parameters print nothing (or their empty field)
    local t=f311
    start_sub gm mosq -p "$PORT" -t "$t/#" -F "$FMT_ALL" -C 2
    start_sub go ours -p "$PORT" -t "$t/#" -F "$FMT_ALL" -C 2
    start_sub hm mosq -p "$PORT" -t "$t/#" -F "$FMT_FIELDS" -C 2
    start_sub ho ours -p "$PORT" -t "$t/#" -F "$FMT_FIELDS" -C 2
    subscribed gm go hm ho || return
    check "mosquitto_pub -V 5 with properties, to 3.1.1 subscribers" pub mosq -p "$PORT" -V 5 -q 1 -t "$t/v5" -m five "${PROPS[@]}"
    check "mqttc-pub 3.1.1" pub ours -p "$PORT" -t "$t/v311" -m three -q 2
    reap gm go hm ho
    same_bytes "-F in 3.1.1" gm go
    same_bytes "-F fields in 3.1.1" hm ho
    check "-F in 3.1.1: no property is printed" grep -q -a -F "$t/v5|five|0|0|0|4|66697665|66697665|||||||||%|@" "$W/go.out"
}

s_times() { # %I, %U and @-times: the same shapes as mosquitto_sub's, and now
    local t=ft re='^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}[+-][0-9]{4}\|[0-9]+\.[0-9]{9}\|[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9]{2}:[0-9]{2}\|[0-9]{9}\|@\|    [0-9]{4}$'
    start_sub tm mosq -p "$PORT" -V 5 -t "$t" -F '%I|%U|@Y-@m-@d @H:@M|@N|@@|%8.4I' -C 1
    start_sub to ours -p "$PORT" -V 5 -t "$t" -F '%I|%U|@Y-@m-@d @H:@M|@N|@@|%8.4I' -C 1
    subscribed tm to || return
    local before after
    before=$(date +%s)
    check "mosquitto_pub for the times" pub mosq -p "$PORT" -t "$t" -m now
    reap tm to
    after=$(date +%s)
    check "%I %U @Y-@m-@d @H:@M @N @@ %8.4I: mosquitto_sub's shapes" grep -q -E "$re" <(payload tm)
    check "%I %U @Y-@m-@d @H:@M @N @@ %8.4I: mqttc-sub's are the same" grep -q -E "$re" <(payload to)
    local u
    u=$(payload to | cut -d'|' -f2 | cut -d. -f1)
    check "%U is the time of arrival ($before <= $u <= $after)" test "$before" -le "$u" -a "$u" -le "$after"
    expect_eq "%I is the local time of %U" "$(date -d "@$u" +%Y-%m-%dT%H:%M:%S%z)" "$(payload to | cut -d'|' -f1)"
}

# json NAME: the subscriber's %j lines, the time of arrival ("tst") left out
json() { payload "$1" | sed -E 's/"tst":(\t?)"[^"]*"/"tst":\1"T"/'; }
s_json() { # %j, with --pretty, with a subscription identifier; %J with a JSON payload and without
    local t=j5
    start_sub jm mosq -p "$PORT" -V 5 -q 1 -t "$t/#" -F '%j' -C 4
    start_sub jo ours -p "$PORT" -V 5 -q 1 -t "$t/#" -F '%j' -C 4
    start_sub pm mosq -p "$PORT" -V 5 -q 1 -t "$t/#" -F '%j' --pretty -C 4 -D subscribe subscription-identifier 9
    start_sub po ours -p "$PORT" -V 5 -q 1 -t "$t/#" -F '%j' --pretty -C 4 -D subscribe subscription-identifier 9
    start_sub Jm mosq -p "$PORT" -V 5 -t "$t/#" -F '%J' -C 4
    start_sub Jo ours -p "$PORT" -V 5 -t "$t/#" -F '%J' -C 4
    start_sub 3m mosq -p "$PORT" -t "$t/#" -F '%j' -C 4
    start_sub 3o ours -p "$PORT" -t "$t/#" -F '%j' -C 4
    subscribed jm jo pm po Jm Jo 3m 3o || return
    check "mosquitto_pub -V 5 JSON with properties" pub mosq -p "$PORT" -V 5 -q 1 -t "$t/props" -m '{"a":[1,2,"x"],"b":null}' "${PROPS[@]}"
    check "mosquitto_pub -V 5 -n" pub mosq -p "$PORT" -V 5 -t "$t/empty" -n
    printf 'quote" back\\ tab\t nl\n ctl\001 utf8\303\251' >"$W/json.txt"
    check "mosquitto_pub -f text to escape" pub mosq -p "$PORT" -V 5 -t "$t/escapes" -f "$W/json.txt" -q 1
    check "mosquitto_pub not JSON" pub mosq -p "$PORT" -t "$t/notjson" -m 'not json'
    reap jm jo pm po Jm Jo 3m 3o
    expect_eq "%j: mqttc-sub prints mosquitto_sub's JSON" "$(json jm)" "$(json jo)"
    expect_eq "%j --pretty, subscription identifier first: as mosquitto_sub" "$(json pm)" "$(json po)"
    expect_eq "%J: a JSON payload as it is, and the error for one that is not" "$(json Jm)" "$(json Jo)"
    expect_eq "%J: the error on stderr" "$(cat "$W/Jm.err")" "$(cat "$W/Jo.err")"
    expect_eq "%j in 3.1.1: no properties" "$(json 3m)" "$(json 3o)"
    check "%j: the payload null when empty, as mosquitto_sub" grep -q -F '"payloadlen":0,"payload":null}' "$W/jo.out"
    check "%j: the time of arrival with microseconds" grep -q -E '"tst":"[0-9-]{10}T[0-9:]{8}\.[0-9]{6}Z[+-][0-9]{4}"' "$W/jo.out"
}

s_subscription_id() { # -D subscribe subscription-identifier: %S shows it, as mosquitto_sub's
    local t=sid
    start_sub sm mosq -p "$PORT" -V 5 -t "$t/#" -F '%S|%t|%5S|' -C 2 -D subscribe subscription-identifier 7
    start_sub so ours -p "$PORT" -V 5 -t "$t/#" -F '%S|%t|%5S|' -C 2 -D subscribe subscription-identifier 7
    start_sub nm mosq -p "$PORT" -V 5 -t "$t/#" -F '%S|%t|%5S|' -C 2
    start_sub no ours -p "$PORT" -V 5 -t "$t/#" -F '%S|%t|%5S|' -C 2
    subscribed sm so nm no || return
    check "mqttc-pub to $t/a/b" pub ours -p "$PORT" -t "$t/a/b" -m x
    check "mqttc-pub to $t/c" pub ours -p "$PORT" -t "$t/c" -m x
    reap sm so nm no
    same_output "[MQTT-3.3.4-3] -D subscribe subscription-identifier 7" sm so "$(printf '%s\n' "7|$t/a/b|    7|" "7|$t/c|    7|")"
    same_output "%S without a subscription identifier" nm no "$(printf '%s\n' "|$t/a/b|     |" "|$t/c|     |")"
}

s_retain_as_published() { # --retain-as-published: the RETAIN flag as the publisher set it
    local t=rap
    start_sub am mosq -p "$PORT" -V 5 -t "$t/#" -F '%t %r' -C 1 --retain-as-published
    start_sub ao ours -p "$PORT" -V 5 -t "$t/#" -F '%t %r' -C 1 --retain-as-published
    start_sub bm mosq -p "$PORT" -V 5 -t "$t/#" -F '%t %r' -C 1
    start_sub bo ours -p "$PORT" -V 5 -t "$t/#" -F '%t %r' -C 1
    subscribed am ao bm bo || return
    check "mqttc-pub -r to live subscribers" pub ours -p "$PORT" -V 5 -t "$t/live" -m x -r
    reap am ao bm bo
    same_output "[MQTT-3.3.1-13] --retain-as-published: RETAIN as published" am ao "$t/live 1"
    same_output "[MQTT-3.3.1-12] without it: RETAIN 0 to a live subscriber" bm bo "$t/live 0"
    expect_eq "--retain-as-published: the -d lines show Options: 0x08 as mosquitto_sub's" \
        "$(debug_lines am | grep SUBSCRIBE)" "$(debug_lines ao | grep SUBSCRIBE)"
    check "clear the retained message" pub ours -p "$PORT" -t "$t/live" -r -n
}

# ---- -D where the properties land ----

s_will() { # SIGKILL: mosquitto_sub -V 5 sees our will's properties as those of mosquitto_sub's will
    local t=will5
    local W_PROPS=(-D will content-type text/will -D will user-property wk wv -D will user-property wk wv2
                   -D will response-topic "$t/resp" -D will correlation-data wcd -D will payload-format-indicator 1
                   -D will message-expiry-interval 3600)
    start_sub om mosq -p "$PORT" -V 5 -t "$t/#" -F '%t|%p|%C|%P|%R|%D|%F|%E' -C 2
    start_sub ko ours -p "$PORT" -V 5 -t "$t/none" --will-topic "$t/ours" --will-payload gone "${W_PROPS[@]}"
    start_sub km mosq -p "$PORT" -V 5 -t "$t/none" --will-topic "$t/mosq" --will-payload gone "${W_PROPS[@]}"
    subscribed om ko km || return
    kill -KILL "${PID[ko]}"
    wait_text "$W/om.out" "$t/ours|"
    kill -KILL "${PID[km]}"
    reap om
    expect_eq "-D will: the will carries its properties, ours as mosquitto_sub's [MQTT-3.1.3-10]" \
        "$(printf '%s\n' "$t/ours|gone|text/will|wk:wv wk:wv2|$t/resp|wcd|1|3600" "$t/mosq|gone|text/will|wk:wv wk:wv2|$t/resp|wcd|1|3600")" \
        "$(payload om)"
}

# will_delay NAME TOOL: SIGKILL a subscriber whose will is delayed 2 s (its session lasts 10 s),
# prints how many ms the will took to come
s_will_delay() {
    local t=delay5 tool start
    start_sub dobs mosq -p "$PORT" -V 5 -t "$t/#" -v -C 2
    start_sub dl_ours ours -p "$PORT" -V 5 -i delay-ours -x 10 -t "$t/none" --will-topic "$t/ours" --will-payload late \
        -D will will-delay-interval 2
    start_sub dl_mosq mosq -p "$PORT" -V 5 -i delay-mosq -x 10 -t "$t/none" --will-topic "$t/mosq" --will-payload late \
        -D will will-delay-interval 2
    subscribed dobs dl_ours dl_mosq || return
    for tool in ours mosq; do
        start=$(date +%s%3N)
        kill -KILL "${PID[dl_$tool]}"
        wait_text "$W/dobs.out" "$t/$tool late"
        local took=$(($(date +%s%3N) - start))
        check "-D will will-delay-interval 2 ($tool): the will comes after 2 s, not before ($took ms)" \
            test "$took" -ge 1500 -a "$took" -lt 8000
    done
    reap dobs
}

# session NAME TOOL EXPECT_RC ARGS...: a subscriber that subscribes at QoS 1 and leaves (-E);
# a message is published while it is away; it comes back (-C 1 -W 3): with its session the
# message is there (exit 0), without it nothing comes (exit 27, Timed out)
session() {
    local name=$1 tool=$2 want=$3 t=sess/$1
    shift 3
    start_sub "${name}1" "$tool" -p "$PORT" -V 5 -i "s-$name" -c -q 1 -t "$t" -E "$@"
    reap "${name}1"
    check "$name: $tool subscribes and leaves (exit 0)" test "${RC[${name}1]}" = 0
    check "$name: a message while it is away" pub mosq -p "$PORT" -t "$t" -m kept -q 1
    start_sub "${name}2" "$tool" -p "$PORT" -V 5 -i "s-$name" -c -x 60 -q 1 -t "$t" -C 1 -W 3
    reap "${name}2"
    expect_eq "$name: $tool back: exit $want" "$want" "${RC[${name}2]}"
    if [ "$want" = 0 ]; then expect_eq "$name: the message kept for it" kept "$(payload "${name}2")"
    else expect_eq "$name: no message" "" "$(payload "${name}2")"; fi
}
s_session() {
    session x60o ours 0 -x 60 # [MQTT-3.1.2-23] the session outlives the connection
    session x60m mosq 0 -x 60
    session d60o ours 0 -D connect session-expiry-interval 60
    session x0o ours 27 -x 0 # no session kept after the connection
    session x0m mosq 27 -x 0
    session cdo ours 0 # -c alone: a session that never ends, as in 3.1.1
    session dso ours 27 -x 60 -D disconnect session-expiry-interval 0 # DISCONNECT ends it (3.14.2.2.2)
    session dsm mosq 27 -x 60 -D disconnect session-expiry-interval 0
}

s_max_packet() { # -D connect maximum-packet-size 300: the broker keeps bigger messages back
    local t=mps
    start_sub mm mosq -p "$PORT" -V 5 -t "$t/#" -v -C 1 -D connect maximum-packet-size 300
    start_sub mo ours -p "$PORT" -V 5 -t "$t/#" -v -C 1 -D connect maximum-packet-size 300
    subscribed mm mo || return
    head -c 1000 /dev/zero | tr '\0' x >"$W/big.txt"
    check "mosquitto_pub 1000 bytes" pub mosq -p "$PORT" -t "$t/big" -f "$W/big.txt"
    check "mosquitto_pub a small one" pub mosq -p "$PORT" -t "$t/small" -m small
    reap mm mo
    same_output "[MQTT-3.1.2-24] -D connect maximum-packet-size 300: only the small message" mm mo "$t/small small"
}

s_user_properties() { # subscribe, unsubscribe and disconnect properties: the broker takes them
    local t=up
    start_sub um mosq -p "$PORT" -V 5 -t "$t/a" -t "$t/b" -U "$t/b" -E -D subscribe user-property sk sv \
        -D unsubscribe user-property uk uv -D disconnect user-property dk dv
    start_sub uo ours -p "$PORT" -V 5 -t "$t/a" -t "$t/b" -U "$t/b" -E -D subscribe user-property sk sv \
        -D unsubscribe user-property uk uv -D disconnect user-property dk dv
    reap um uo
    same_output "-D subscribe/unsubscribe/disconnect user-property: accepted, -E exits" um uo ""
    expect_eq "... with mosquitto_sub's -d lines (one SUBSCRIBE, one UNSUBSCRIBE)" \
        "$(debug_lines um | grep -E 'sending (UN)?SUBSCRIBE|Subscribed')" "$(debug_lines uo | grep -E 'sending (UN)?SUBSCRIBE|Subscribed')"
}

s_debug() { # -d: the same lines as mosquitto's tools in MQTT 5 (ids assigned by the broker)
    local q pids=()
    for q in 0 1 2; do
        mosquitto_pub -d -V 5 -p "$PORT" -t "d5/$q" -m payload -q "$q" >"$W/dm$q.out" 2>&1
        pub ours -d -V 5 -p "$PORT" -t "d5/$q" -m payload -q "$q" >"$W/do$q.out" 2>&1 &
        pids+=($!)
    done
    wait "${pids[@]}"
    for q in 0 1 2; do
        expect_eq "-V 5 -d -q $q: mqttc-pub prints mosquitto_pub's lines (PUBACK/PUBCOMP with RC)" \
            "$(sed -E 's/auto-[0-9A-F-]+/auto-ID/' "$W/dm$q.out")" "$(sed -E 's/auto-[0-9A-F-]+/auto-ID/' "$W/do$q.out")"
    done
    check "-V 5 without -i: the broker assigns the id (\"(null)\" until CONNACK)" \
        grep -q -E '^Client auto-[0-9A-F-]+ received CONNACK \(0\)$' "$W/do1.out"
}

g_mosquitto() {
    start_mosquitto || { not_ok "mosquitto starts"; return; }
    PORT=$MQ_PORT
    s_format
    s_format_311
    s_times
    s_json
    s_subscription_id
    s_retain_as_published
    s_user_properties
    s_debug
}
g_mosquitto2() { # the scenarios that wait, on a broker of their own
    start_mosquitto || { not_ok "mosquitto starts"; return; }
    PORT=$MQ_PORT
    s_will
    s_will_delay
    s_session
    s_max_packet
}

# ---- on the wire: capture.py logs each packet's properties ----

cat >"$TMP/capture.py" <<'EOF'
"""A stand-in MQTT 5 broker for one test: answers every packet with success (CONNACK with
Topic Alias Maximum 10, and an Assigned Client Identifier when the id is empty, or the
CONNACK a client id "refuse-HEX" spells in hex; SUBACK (0x87 for a filter deny/...),
UNSUBACK, PUBACK, PUBREC, PUBCOMP, PINGRESP) and logs a line per packet it receives: its
type and its properties, id=value, sorted (a will's as will:id=value). Loopback only; ends
by itself after 60 s."""
import os, select, socket, sys, time
INT = {0x01: 1, 0x17: 1, 0x19: 1, 0x13: 2, 0x21: 2, 0x22: 2, 0x23: 2, 0x02: 4, 0x11: 4, 0x18: 4, 0x27: 4}
def varint(b, i):
    v = shift = 0
    while True:
        c = b[i]; i += 1; v += (c & 127) << shift; shift += 7
        if c < 128: return v, i
def text(b, i):
    n = int.from_bytes(b[i:i + 2], "big")
    return b[i + 2:i + 2 + n].decode(errors="replace"), i + 2 + n
def props(b, i):
    n, i = varint(b, i); end, out = i + n, []
    while i < end:
        pid, i = varint(b, i)
        if pid in INT:
            out.append("%02x=%d" % (pid, int.from_bytes(b[i:i + INT[pid]], "big"))); i += INT[pid]
        elif pid == 0x0B:
            v, i = varint(b, i); out.append("0b=%d" % v)
        elif pid == 0x26:
            k, i = text(b, i); v, i = text(b, i); out.append("26=%s:%s" % (k, v))
        else:
            v, i = text(b, i); out.append("%02x=%s" % (pid, v))
    return sorted(out), end
def packet(t, flags, body, log, conn):
    """One packet of a connection (conn["v"]: its protocol level, 4 or 5)."""
    words, reply, v5 = [], b"", conn.get("v") == 5
    nothing = lambda b, i: ([], i) # 3.1.1 packets have no properties
    p_of = props if v5 else nothing
    if t == 1:
        conn["v"] = body[6]; v5 = body[6] == 5; cflags = body[7]
        p, i = (props if v5 else nothing)(body, 10); cid, i = text(body, i)
        words = ["CONNECT", "v%d" % body[6], "clean%d" % ((cflags >> 1) & 1)] + p
        if cflags & 4 and v5: words += ["will:" + x for x in props(body, i)[0]]
        reply = bytes([0x20, 6, 0, 0, 3, 0x22, 0, 10]) if v5 else bytes([0x20, 2, 0, 0])
        if not cid and v5: reply = bytes([0x20, 12, 0, 0, 9, 0x22, 0, 10, 0x12, 0, 3]) + b"cap"
        if cid.startswith("refuse-"): reply = bytes.fromhex(cid[7:]) # the CONNACK the id spells
    elif t == 3:
        qos = (flags >> 1) & 3; topic, i = text(body, 0); pid = body[i:i + 2] if qos else b""
        words = ["PUBLISH", "q%d" % qos, "topic=" + topic] + p_of(body, i + len(pid))[0]
        reply = bytes([0x40, 2]) + pid if qos == 1 else bytes([0x50, 2]) + pid if qos == 2 else b""
    elif t == 6: words, reply = ["PUBREL"], bytes([0x70, 2]) + body[:2]
    elif t in (8, 10):
        p, i = p_of(body, 2); words = ["SUBSCRIBE" if t == 8 else "UNSUBSCRIBE"] + p; n = 0; filters = []
        while i < len(body):
            f, i = text(body, i); n += 1; filters.append(f)
            if t == 8: words.append("%s/options=0x%02x" % (f, body[i])); i += 1
            else: words.append(f)
        codes = bytes(n) if t == 8 or v5 else b""
        if t == 8: codes = bytes((0x87 if v5 else 0x80) if f.startswith("deny/") else 0 for f in filters)
        if v5: codes = b"\0" + codes
        reply = bytes([0x90 if t == 8 else 0xB0, 2 + len(codes)]) + body[:2] + codes
    elif t == 12: words, reply = ["PINGREQ"], bytes([0xD0, 0])
    elif t == 14:
        words = ["DISCONNECT"] + (["reason=%d" % body[0]] if body else []) + (props(body, 1)[0] if len(body) > 1 else [])
    else: words = ["type%d" % t]
    log.write(" ".join(words) + "\n"); log.flush()
    return reply
def main():
    ready, logname = sys.argv[1], sys.argv[2]
    srv = socket.socket(); srv.bind(("127.0.0.1", 0)); srv.listen(8)
    with open(ready + ".tmp", "w") as f: f.write(str(srv.getsockname()[1]))
    os.rename(ready + ".tmp", ready)
    log, conns, state, end = open(logname, "a"), {}, {}, time.time() + 60
    while time.time() < end:
        for s in select.select([srv] + list(conns), [], [], 0.5)[0]:
            if s is srv:
                c = srv.accept()[0]; conns[c] = b""; state[c] = {}; continue
            data = s.recv(65536)
            if not data:
                log.write("EOF\n"); log.flush(); s.close(); del conns[s]; continue
            buf = conns[s] + data
            while len(buf) >= 2:
                n, i, shift = 0, 1, 0
                while i < len(buf):
                    c = buf[i]; n += (c & 127) << shift; shift += 7; i += 1
                    if c < 128: break
                if len(buf) < i + n: break
                reply = packet(buf[0] >> 4, buf[0] & 15, buf[i:i + n], log, state[s]); buf = buf[i + n:]
                if reply: s.sendall(reply)
            conns[s] = buf
main()
EOF

# capture NAME TOOL CMD ARGS...: runs `TOOL CMD ARGS` against a capture.py of its own; the log in
# $W/NAME.cap, the tool's stdout in $W/NAME.capout and stderr in $W/NAME.caperr
capture() {
    local name=$1 tool=$2 cmd=$3 port
    shift 3
    rm -f "$W/$name.ready" "$W/$name.cap"
    python3 "$TMP/capture.py" "$W/$name.ready" "$W/$name.cap" &
    CLEANUP_PIDS+=("$!")
    local cap=$!
    for _ in $(seq 1 100); do [ -s "$W/$name.ready" ] && break; sleep 0.05; done
    port=$(cat "$W/$name.ready")
    if [ "$tool" = ours ]; then $VALGRIND "$B/mqttc-$cmd" -h 127.0.0.1 -p "$port" "$@" >"$W/$name.capout" 2>"$W/$name.caperr"
    else "mosquitto_$cmd" -h 127.0.0.1 -p "$port" "$@" >"$W/$name.capout" 2>"$W/$name.caperr"; fi
    CAPTURE_RC=$?
    sleep 0.3 # the last lines
    kill "$cap" 2>/dev/null
    wait "$cap" 2>/dev/null
}
# the library's own default differs from libmosquitto's: it advertises Maximum Packet Size
# (options.max_packet_size, 16 MiB) where mosquitto's tools advertise Receive Maximum 20; giving
# both makes the CONNECTs comparable
SAME_LIMITS=(-D connect receive-maximum 20 -D connect maximum-packet-size 16777216)
g_wire() {
    local CONNECT_PROPS=(-D connect user-property cu cv -D connect user-property cu cv2 -D connect receive-maximum 10
        -D connect maximum-packet-size 1000 -D connect topic-alias-maximum 5 -D connect request-problem-information 0
        -D connect request-response-information 1 -D connect session-expiry-interval 60)
    local WILL_PROPS=(--will-topic w -D will will-delay-interval 5 -D will content-type wc -D will user-property wu wv
        -D will payload-format-indicator 1 -D will message-expiry-interval 9 -D will response-topic w/r
        -D will correlation-data wd)
    local args=(-i capid -t t -m x -q 1 "${CONNECT_PROPS[@]}" "${WILL_PROPS[@]}" "${PROPS[@]}"
        -D disconnect user-property du dv -D disconnect session-expiry-interval 30)
    capture pm mosq pub "${args[@]}"
    capture po ours pub "${args[@]}"
    expect_eq "mqttc-pub exits 0 as mosquitto_pub against the stand-in broker" 0 "$CAPTURE_RC"
    check "-D connect: the properties are in CONNECT" grep -q "^CONNECT v5 clean1 11=60 17=0 19=1 21=10 22=5 26=cu:cv 26=cu:cv2 27=1000 will:" "$W/po.cap"
    expect_eq "-D connect, will, publish, disconnect: the packets carry mosquitto_pub's properties" "$(cat "$W/pm.cap")" "$(cat "$W/po.cap")"

    args=(-d -V 5 -t a/b -t c -U c -q 2 --retain-as-published -E "${SAME_LIMITS[@]}" -D subscribe user-property su sv
        -D unsubscribe user-property uu uv -D disconnect user-property du dv)
    capture sm mosq sub "${args[@]}"
    capture so ours sub "${args[@]}"
    expect_eq "mqttc-sub -E exits 0 against the stand-in broker" 0 "$CAPTURE_RC"
    check "-D subscribe: one SUBSCRIBE, user property and options 0x0a (QoS 2, retain as published)" \
        grep -q "^SUBSCRIBE 26=su:sv a/b/options=0x0a c/options=0x0a$" "$W/so.cap"
    # (mosquitto_sub -E does not always get its DISCONNECT out before it exits: compared apart)
    expect_eq "-D subscribe, unsubscribe: the packets carry mosquitto_sub's properties" \
        "$(grep -v -E '^(DISCONNECT|EOF)' "$W/sm.cap")" "$(grep -v -E '^(DISCONNECT|EOF)' "$W/so.cap")"
    check "-D disconnect user-property: DISCONNECT carries it" grep -q -x "DISCONNECT reason=0 26=du:dv" "$W/so.cap"
    expect_eq "-V 5 without -i: \"(null)\", then the Assigned Client Identifier in the -d lines [MQTT-3.2.2-16]" \
        "$(grep -a -E '^Client' "$W/sm.capout")" "$(grep -a -E '^Client' "$W/so.capout")"

    # topic aliases are the library's (options.topic_alias_out): the topic goes once, then
    # the alias alone; mosquitto_pub sends its alias with the topic every time
    capture ta ours pub -V 5 -t alias/t -m x --repeat 3 -D publish topic-alias 3
    expect_eq "-D publish topic-alias: the topic once with alias 1, then the alias alone [MQTT-3.3.2-12]" \
        "$(printf 'PUBLISH q0 topic=alias/t 23=1\nPUBLISH q0 topic= 23=1\nPUBLISH q0 topic= 23=1')" \
        "$(grep ^PUBLISH "$W/ta.cap")"
    # refusals: MQTT 5's 0x84 and 0x87 (mosquitto's sentences, exit code the reason code)
    local connack tool
    for connack in 2003008400 2003008700; do
        for tool in pub sub; do
            local a=(-V 5 -i "refuse-$connack" -t r -m x)
            [ $tool = sub ] && a=(-V 5 -i "refuse-$connack" -t r)
            capture "r$connack$tool"m mosq $tool "${a[@]}"
            local rc_mosq=$CAPTURE_RC
            capture "r$connack$tool"o ours $tool "${a[@]}"
            expect_eq "CONNACK ${connack:6:2}: mqttc-$tool exits as mosquitto_$tool ($rc_mosq)" "$rc_mosq" "$CAPTURE_RC"
            expect_eq "CONNACK ${connack:6:2}: mqttc-$tool says what mosquitto_$tool says" \
                "$(cat "$W/r$connack${tool}m.caperr")" "$(cat "$W/r$connack${tool}o.caperr")"
        done
    done
    check "CONNACK 84: mosquitto's hint to use MQTT v3.x" grep -q "Try connecting to an MQTT v5 broker" "$W/r2003008400subo.caperr"
    # SUBACK 0x87 (3.1.1: 0x80) for every filter: mosquitto_sub's words and exit code; one
    # granted of two: -E exits 0
    local f
    for f in "-V 5 -t deny/a -t deny/b" "-V 5 -t deny/a -t ok/b -E" "-t deny/a" "-t deny/a -t deny/b -E"; do
        # shellcheck disable=SC2086
        capture dm mosq sub $f -d
        local rc_mosq=$CAPTURE_RC
        # shellcheck disable=SC2086
        capture do ours sub $f -d
        expect_eq "[MQTT-3.9.3-1] SUBACK refusing $f: mqttc-sub exits as mosquitto_sub ($rc_mosq)" "$rc_mosq" "$CAPTURE_RC"
        expect_eq "SUBACK refusing $f: the same words" "$(cat "$W/dm.caperr")" "$(cat "$W/do.caperr")"
        [[ $f == -V* ]] || continue # (3.1.1: a SUBSCRIBE per filter in mqttc-sub, one in all in mosquitto_sub)
        expect_eq "SUBACK refusing $f: the same -d lines" "$(sed -E 's/^Client [^ ]* /Client ID /' "$W/dm.capout")" \
            "$(sed -E 's/^Client [^ ]* /Client ID /' "$W/do.capout")"
    done
    capture nw ours pub -V 5 -t nowill -m x -D will content-type a
    expect_eq "-D will without --will-topic: ignored, as by mosquitto_pub (exit 0)" 0 "$CAPTURE_RC"
    check "... no will in CONNECT" grep -q -x "CONNECT v5 clean1 27=16777216" "$W/nw.cap"
    capture x3 ours pub -t x311 -m x -x 30
    check "-x in 3.1.1 is ignored, as by mosquitto_pub: a 3.1.1 CONNECT" grep -q "^CONNECT v4 clean1$" "$W/x3.cap"
    capture rap3 ours sub -t r311 --retain-as-published -E
    check "--retain-as-published in 3.1.1 is ignored, as by mosquitto_sub" grep -q "^SUBSCRIBE r311/options=0x00$" "$W/rap3.cap"
}

# ---- errors: the same words and exit codes as mosquitto's tools ----

# usage TOOL ARGS...: ours says on stderr what mosquitto's tool says and exits alike (all at
# once in the background; usage_check compares)
USAGE=() USAGE_PIDS=()
usage() {
    local tool=$1 n=${#USAGE[@]}
    shift
    USAGE+=("mqttc-$tool $*")
    "mosquitto_$tool" "$@" >/dev/null 2>"$W/usage$n.mosq.err"
    echo $? >"$W/usage$n.mosq"
    ($VALGRIND "$B/mqttc-$tool" "$@" >/dev/null 2>"$W/usage$n.ours.err"; echo $? >"$W/usage$n.ours") &
    USAGE_PIDS+=($!)
}
usage_check() {
    local n
    wait "${USAGE_PIDS[@]}"
    for n in "${!USAGE[@]}"; do
        local rc
        rc=$(cat "$W/usage$n.mosq")
        expect_eq "${USAGE[$n]}: exits $rc" "$rc" "$(cat "$W/usage$n.ours")"
        expect_eq "${USAGE[$n]}: says what mosquitto's tool says" \
            "$(sed -E 's/mosquitto_(pub|sub)/TOOL/g' "$W/usage$n.mosq.err")" \
            "$(sed -E 's/mqttc-(pub|sub)/TOOL/g' "$W/usage$n.ours.err")"
    done
}
g_usage() {
    local nothing P bad=$'\xff'
    nothing=$(free_port) # nothing listens: the errors come before any connect
    P=(-h 127.0.0.1 -p "$nothing" -t a -m x)
    # -V
    usage pub "${P[@]}" -V 3
    usage pub "${P[@]}" -V mqttv4
    usage pub "${P[@]}" -V MQTTV5
    usage pub "${P[@]}" -V
    usage sub -t a --protocol-version
    # -x
    usage pub "${P[@]}" -V 5 -x
    usage pub "${P[@]}" -V 5 -x abc
    usage pub "${P[@]}" -V 5 -x 10s
    usage pub "${P[@]}" -V 5 -x -2
    usage pub "${P[@]}" -V 5 -x 4294967296
    usage pub "${P[@]}" -V 5 -x -1
    usage pub "${P[@]}" -V 5 -x "∞"
    usage pub "${P[@]}" -V 5 -c
    usage pub "${P[@]}" -V 5 -c -x 5
    usage sub -t a -V 5 -c
    usage pub "${P[@]}" -V 5 -x 5 -D connect session-expiry-interval 6
    # -D: the words, the command, the property, where it may go, its value
    usage pub "${P[@]}" -D publish
    usage pub "${P[@]}" -D publish content-type
    usage pub "${P[@]}" -D publish user-property k
    usage pub "${P[@]}" -D pubx content-type x
    usage sub -t a -D suback reason-string x
    usage pub "${P[@]}" -D publish colour x
    usage pub "${P[@]}" -D connect content-type x          # [MQTT-2.2.2.2]: not in CONNECT
    usage pub "${P[@]}" -D CONNECT Content-Type x          # as typed
    usage pub "${P[@]}" -D will session-expiry-interval 5
    usage pub "${P[@]}" -D connect assigned-client-identifier x
    usage sub -t a -D subscribe content-type x
    usage pub "${P[@]}" -D puback user-property a b        # the tools send no ack properties
    usage pub "${P[@]}" -D auth authentication-data x
    usage pub "${P[@]}" -D publish subscription-identifier 3 # [MQTT-3.3.4-6]
    usage pub "${P[@]}" -D connect receive-maximum 65536
    usage pub "${P[@]}" -D connect receive-maximum 0
    usage pub "${P[@]}" -D connect maximum-packet-size 0
    usage pub "${P[@]}" -D connect request-problem-information 2
    usage pub "${P[@]}" -D connect request-response-information 256
    usage pub "${P[@]}" -D publish payload-format-indicator -1
    usage pub "${P[@]}" -D publish message-expiry-interval 4294967296
    usage pub "${P[@]}" -D publish message-expiry-interval 99999999999999999999
    usage pub "${P[@]}" -D publish topic-alias 0           # [MQTT-3.3.2-8]
    usage pub "${P[@]}" -D publish topic-alias 65536
    usage sub -t a -D subscribe subscription-identifier -1
    usage sub -t a -D subscribe subscription-identifier 268435456
    usage pub "${P[@]}" -D publish content-type "$bad"     # [MQTT-1.5.4-1]
    usage pub "${P[@]}" -D connect user-property "$bad" v
    usage pub "${P[@]}" -D publish correlation-data "$(head -c 65536 /dev/zero | tr '\0' c)"
    usage pub "${P[@]}" -D publish content-type a -D publish content-type b # [MQTT-2.2.2.2]: once
    usage pub "${P[@]}" -D will content-type a -D will content-type b --will-topic w
    usage sub -t a -D subscribe user-property a b -D subscribe subscription-identifier 5 -D subscribe subscription-identifier 6
    usage sub -t a -D disconnect session-expiry-interval 5 -D disconnect session-expiry-interval 5
    # properties, then -V 311: connect and will refused, as by mosquitto's tools
    usage pub "${P[@]}" -D connect user-property a b -V 311
    usage pub "${P[@]}" -D will user-property a b --will-topic w -V mqttv311
    # -F
    usage sub -t a -F
    usage sub -t a -F '%z'
    usage sub -t a -F 'topic %'
    usage sub -t a -F '%10.'
    usage sub -t a -F '%0-5l'
    usage sub -t a -F '\q'
    usage sub -t a -F 'end \'
    usage sub -t a -F 'at @'
    usage pub "${P[@]}" -F '%t'
    usage pub "${P[@]}" --retain-as-published
    usage_check
    # where mqttc differs on purpose
    $VALGRIND "$PUB" "${P[@]}" -V 31 2>"$W/v31.err"
    expect_eq "-V 31: MQTT 3.1 is refused (exit 1)" 1 $?
    check "-V 31: the message says so" grep -q "MQTT v3.1 (-V 31) is not supported" "$W/v31.err"
    $VALGRIND "$PUB" "${P[@]}" -D publish user-property a b -V 311 2>"$W/v311.err"
    expect_eq "-D publish then -V 311: refused (mosquitto_pub publishes nothing and exits 0)" 1 $?
    check "... and says why" grep -q -- "-D publish properties need MQTT v5" "$W/v311.err"
    local many=()
    for _ in $(seq 1 33); do many+=(-D publish user-property k v); done
    $VALGRIND "$PUB" "${P[@]}" "${many[@]}" 2>"$W/many.err"
    expect_eq "33 publish properties: past the fixed bound, an error (exit 1)" 1 $?
    check "... that names the bound" grep -q "at most 32" "$W/many.err"
}

# ---- refusals and reason codes, against brokers that refuse ----

g_refused() {
    mosquitto_passwd -c -b "$W/passwd" alice secret >/dev/null
    printf 'user alice\ntopic readwrite ok/#\n' >"$W/acl"
    chmod 644 "$W/passwd" "$W/acl"
    chmod 711 "$W"
    start_mosquitto "allow_anonymous false" "password_file $W/passwd" "acl_file $W/acl" || { not_ok "mosquitto starts"; return; }
    local tool P=(-h 127.0.0.1 -p "$MQ_PORT" -V 5)
    for tool in pub sub; do
        local extra=()
        [ $tool = pub ] && extra=(-m x)
        both $tool "${P[@]}" -t a -u alice -P wrong "${extra[@]}"
        same_both "CONNACK 0x87 (bad password)" $tool
        expect_eq "mosquitto_$tool exits with the reason code 135" 135 "$BOTH_RC_MOSQ"
        both $tool "${P[@]}" -t a -P secret "${extra[@]}" # MQTT 5 allows a password alone (3.1.2.9)
        same_both "-V 5 -P without -u" $tool
    done
    # QoS 1 and 2 refused by the ACL: PUBACK / PUBREC 0x87; a warning, exit 0
    for q in 1 2; do
        both pub "${P[@]}" -u alice -P secret -t denied -m x -q "$q"
        same_both "[MQTT-3.4.2-1] PUBACK/PUBREC 0x87 at QoS $q: a warning" pub
        check "QoS $q: the warning names the reason" grep -q "Warning: Publish 1 failed: Not authorized." "$W/both.ours.err"
    done
    both pub "${P[@]}" -u alice -P secret -t denied -m x -q 1 --repeat 2 -d
    same_both "--repeat 2, both refused" pub
    expect_eq "... -d shows RC:135 as mosquitto_pub" "$(grep -c 'received PUBACK (Mid: [12], RC:135)' "$W/both.mosq.out")" \
        "$(grep -c 'received PUBACK (Mid: [12], RC:135)' "$W/both.ours.out")"
    stop_pid "$MQ_PID"
    # an authentication method the broker does not know: CONNACK 0x8C
    start_mosquitto || { not_ok "mosquitto starts"; return; }
    P=(-h 127.0.0.1 -p "$MQ_PORT" -V 5 -D connect authentication-method NOPE)
    both pub "${P[@]}" -t a -m x
    same_both "CONNACK 0x8C (bad authentication method)" pub
    expect_eq "... exit code the reason code 140" 140 "$BOTH_RC_MOSQ"
    both sub "${P[@]}" -t a
    same_both "CONNACK 0x8C (bad authentication method)" sub
}

printf '\000\001\377\376 binary\nwith a newline and a NUL\000' >"$TMP/binary.bin"
GROUPS_RUN=(mosquitto mosquitto2 wire usage refused)
pids=() GROUP_START=$SECONDS
for g in "${GROUPS_RUN[@]}"; do
    group "$g" "g_$g" &
    pids+=($!)
done
wait "${pids[@]}"
count_groups "${GROUPS_RUN[@]}"
finish
