#!/usr/bin/env bash
# tests/t_live5.sh - MQTT 5 against a real mosquitto 2.0 on 127.0.0.1: each scenario of
# build/live_v5 (under $VALGRIND) against a private mosquitto configured with the limit it is
# about (Receive Maximum, Maximum Packet Size, Server Keep Alive, Topic Alias Maximum,
# Maximum QoS, Retain Available, an ACL), or a default one (sessions, assigned ids,
# properties, subscription identifiers, No Local, Retain Handling, reason codes, session
# takeover, the will, 3.1.1 unchanged); then what mosquitto will not do, against the
# minibroker's MQTT 5 fault flags. The program prints one "ok - " / "not ok - " line per
# check, named after the spec's ids; each run counts once more for ending clean (exit 0, or
# 1 with its failed checks printed: never a Valgrind error, a crash or a hang). The groups
# run at the same time, the keepalive one (16 s of idle) beside the others.
. "$(dirname "$0")/lib.sh"
L=$B/live_v5
if [ ! -x "$L" ]; then
    echo "missing $L: build it first (make $L)" >&2
    not_ok "the scenario program $L exists"
    finish
fi

# run_scenario BROKER SCENARIO ARGS...: a private broker (mosquitto with ARGS as config
# lines, or the minibroker with ARGS as flags), then the scenario against it; its check lines
# go to this group's log
run_scenario() {
    local broker=$1 scenario=$2 port pid rc
    shift 2
    if [ "$broker" = mosquitto ]; then
        start_mosquitto "$@" || { not_ok "$scenario: mosquitto starts"; return; }
        port=$MQ_PORT pid=$MQ_PID
    else
        start_minibroker "$@" || { not_ok "$scenario: minibroker starts"; return; }
        port=$MB_PORT pid=$MB_PID
    fi
    timeout -k 5 120 $VALGRIND "$L" "$scenario" "$port" >"$W/$scenario.out" 2>&1
    rc=$?
    cat "$W/$scenario.out"
    if [ "$rc" -eq 0 ] || { [ "$rc" -eq 1 ] && grep -q '^not ok - ' "$W/$scenario.out"; }; then
        ok "$scenario: ran to its end clean (exit $rc: no Valgrind error, leak or crash)"
    else
        not_ok "$scenario: ran to its end clean (exit $rc)"
        [ "$broker" = mosquitto ] && sed 's/^/    mosquitto: /' "$TMP/mosquitto.$port.log"
    fi
    stop_pid "$pid"
}
# v5 SCENARIO [CONF LINES...]: against mosquitto; mb SCENARIO [FLAGS...]: against the
# minibroker, for what mosquitto will not do: aliases towards us, a chosen DISCONNECT, a
# broken Receive Maximum, oversize packets, AUTH, chosen CONNACK properties and ack reasons
v5() { run_scenario mosquitto "$@"; }
mb() { run_scenario minibroker "$@"; }

g_minibroker() {
    mb mb_alias_in --alias-out 3
    mb mb_bad_alias --alias-out 3 --bad-alias
    mb mb_unknown_alias --alias-out 3 --unknown-alias
    mb mb_disconnect --disconnect-after 3 --disconnect-reason 0x8B --disconnect-string bye \
        --server-reference other:1884
    mb mb_receive_max --ignore-receive-max --no-pubrel
    mb mb_oversize --oversize 600
    mb mb_auth --auth-method SCRAM-TEST --auth-steps 2
    mb mb_connack --connack-prop receive-maximum=2 --connack-prop maximum-qos=1 \
        --connack-prop server-keep-alive=7 --connack-prop maximum-packet-size=300 \
        --connack-prop retain-available=0 --connack-prop wildcard-subscription-available=0 \
        --connack-prop subscription-identifier-available=0 --connack-prop assigned-client-identifier=given-7
    mb mb_ack_reason --ack-reason 0x87
}

g_limits() {
    v5 window "max_inflight_messages 5"
    v5 packet "max_packet_size 200"
    v5 alias "max_topic_alias 3"
    v5 alias_in
    v5 qos "max_qos 1"
    v5 srvdisconnect "max_qos 1"
    v5 retain "retain_available false"
}
g_keepalive() {
    v5 keepalive "max_keepalive 10"
    v5 v311
}
g_features() {
    v5 session
    v5 assigned
    v5 props
    v5 alias_resend
    v5 receive_in
    v5 reasons
    # SUBACK 0x87: mosquitto 2.0's acl_file never refuses a SUBSCRIBE (it filters at
    # delivery); its dynamic security plugin does. Anonymous clients may use open/# only.
    # (mosquitto started as root reads the file as user mosquitto: let it in.)
    local dynsec
    dynsec=$(ls /usr/lib/*/mosquitto_dynamic_security.so /usr/lib/mosquitto_dynamic_security.so \
        /usr/local/lib/mosquitto_dynamic_security.so 2>/dev/null | head -n 1)
    if [ -z "$dynsec" ]; then
        not_ok "acl: mosquitto's dynamic security plugin (mosquitto_dynamic_security.so) is installed"
    else
        cat >"$W/dynsec.json" <<'JSON'
{"defaultACLAccess": {"publishClientSend": false, "publishClientReceive": true, "subscribe": false, "unsubscribe": true},
 "clients": [], "anonymousGroup": "anonymous",
 "groups": [{"groupname": "anonymous", "roles": [{"rolename": "open"}]}],
 "roles": [{"rolename": "open", "acls": [
     {"acltype": "subscribePattern", "topic": "open/#", "priority": 0, "allow": true},
     {"acltype": "publishClientSend", "topic": "open/#", "priority": 0, "allow": true}]}]}
JSON
        chmod a+x "$TMP" "$W" && chmod a+r "$W/dynsec.json"
        v5 acl "plugin $dynsec" "plugin_opt_config_file $W/dynsec.json"
    fi
    v5 takeover
    v5 will
}

GROUP_START=$SECONDS
group keepalive g_keepalive &
group limits g_limits &
group features g_features &
group minibroker g_minibroker &
wait
count_groups limits keepalive features minibroker
finish
