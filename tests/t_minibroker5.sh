#!/usr/bin/env bash
# tests/t_minibroker5.sh - the minibroker speaking MQTT 5 (a connection whose CONNECT has
# protocol level 5), and its MQTT 5 fault flags, against raw clients (tests/minibroker_raw.py:
# the bytes it sends and parses are written from the spec, not by mqttc.h's codec) and against
# mosquitto_pub/mosquitto_sub -V 5 as real peers. All on 127.0.0.1, every broker under $VALGRIND.
# Run: make build/minibroker && bash tests/t_minibroker5.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
. tests/minibroker_lib.sh # lib.sh made the repository root the working directory

# r5 PORT STEP...: the raw client, one observation per line; lines A B ...: the expected lines.
r5() { raw --lines "$@"; }
lines() { printf '%s\n' "$@"; }
# What an accepted MQTT 5 client is told by default (5.0, 3.2.2.3): Topic Alias Maximum 10,
# Shared Subscription Available 0.
CA0='CONNACK sp=0 rc=0x00 {topic-alias-maximum=10,shared-subscription-available=0}'
CA1='CONNACK sp=1 rc=0x00 {topic-alias-maximum=10,shared-subscription-available=0}'
X100=$(printf 'x%.0s' $(seq 1 100))

# ---- 1. CONNECT, CONNACK, DISCONNECT, errors ----
mb_start -v
remember_broker D
P=$D_PORT E=$D_ERR

expect_eq "CONNACK bytes: 0, 0, properties 5: Topic Alias Maximum 10, Shared Subscriptions 0" \
    "200800000522000a2a00" "$(raw $P A:send,100e00044d5154540502003c00000161 A:read,2)"
expect_eq "empty client id: CONNACK assigns one [MQTT-3.2.2-16], even with Clean Start 0" \
    "$(lines 'CONNACK sp=0 rc=0x00 {topic-alias-maximum=10,shared-subscription-available=0,assigned-client-identifier=minibroker-1}' \
             'CONNACK sp=0 rc=0x00 {topic-alias-maximum=10,shared-subscription-available=0,assigned-client-identifier=minibroker-2}')" \
    "$(r5 $P A:connect5,,60 B:connect5,,60,clean0)"
expect_eq "a 3.1.1 client on the same broker still gets 3.1.1 (CONNACK, SUBACK bytes)" \
    "connack=20020000 9003000101" "$(raw $P A:connect,old,60 A:subscribe,1,o,1 A:read,2)"
expect_eq "v5 SUBACK and PINGRESP bytes" "$(lines "$CA0" 900400010001 d000)" \
    "$(r5 $P A:connect5,s,60 A:sub5,1,a:1 A:read,2 A:ping A:read,2)"

expect_eq "second CONNECT: DISCONNECT 0x82, closed" "$(lines "$CA0" e00182 eof)" \
    "$(r5 $P A:connect5,twice,60 A:send,100e00044d5154540502003c00000161 A:read,2 A:eof,2)"
expect_eq "malformed packet (SUBSCRIBE flags 0000): DISCONNECT 0x81, closed" "$(lines "$CA0" e00181 eof)" \
    "$(r5 $P A:connect5,mal,60 A:send,8006000100016100 A:read,2 A:eof,2)"
check "malformed packet: logged" grep -q '^mal dropped: malformed packet$' "$E"
expect_eq "empty topic without a topic alias: DISCONNECT 0x82 (protocol error), closed" "$(lines "$CA0" e00182 eof)" \
    "$(r5 $P A:connect5,notopic,60 A:pub5,,x,0,0 A:read,2 A:eof,2)"
expect_eq "keepalive 1 s and silence: DISCONNECT 0x8D, closed" "$(lines "$CA0" e0018d eof)" \
    "$(r5 $P A:connect5,ka,1 A:read,3 A:eof,2)"
expect_eq "session takeover: DISCONNECT 0x8E to the first connection, the second works" \
    "$(lines "$CA0" "$CA0" e0018e eof d000)" \
    "$(r5 $P A:connect5,tk,60 B:connect5,tk,60 A:read,2 A:eof,2 B:ping B:read,2)"
expect_eq "DISCONNECT raising Session Expiry from 0: DISCONNECT 0x82 [5.0 3.14.2.2.2]" "$(lines "$CA0" e00182)" \
    "$(r5 $P A:connect5,sx,60 A:send,e00700051100000005 A:read,2)"

# wills: DISCONNECT 0x04 publishes it, 0x00 discards it [MQTT-3.14.4-3]; its properties travel
watch_bg w4 'w4/#' 2
r5 $P A:connect5,w4a,60,will=w4/a:with-will A:disc5,4 >/dev/null
r5 $P B:connect5,w4b,60,will=w4/b:discarded B:disc5 >/dev/null
wait_log "$E" "w4a: publishing will"
wait_log "$E" "w4b < DISCONNECT"
pub $P -t w4/marker -m marker
expect_watched "DISCONNECT 0x04 publishes the will, 0x00 does not" "$(lines 'w4/a with-will' 'w4/marker marker')"
expect_eq "will delay 1 s: will (with its content type) only after the delay" \
    "$(lines "$CA0" 'SUBACK id=1 codes=00' "$CA0" timeout 'PUBLISH q0 topic=wd/t {content-type=text/x} payload=late')" \
    "$(r5 $P W:connect5,wdw,60 W:sub5,1,wd/#:0 W:readp,2 \
        V:connect5,wdv,60,will=wd/t:late,w.will-delay-interval=1,w.content-type=text/x,session-expiry-interval=10 \
        V:close W:readp,0.6 W:readp,3)"
expect_eq "will delay: resuming the session in time cancels the will [MQTT-3.1.3-9]" \
    "$(lines "$CA0" 'SUBACK id=1 codes=00' "$CA0" "$CA1" timeout)" \
    "$(r5 $P W:connect5,wcw,60 W:sub5,1,wc/#:0 W:readp,2 \
        V:connect5,wcv,60,clean0,will=wc/t:never,w.will-delay-interval=1,session-expiry-interval=10 \
        V:close V2:connect5,wcv,60,clean0,session-expiry-interval=10 W:readp,2)"
expect_eq "will delay: Clean Start ends the session, the will goes at once" \
    "$(lines "$CA0" 'SUBACK id=1 codes=00' "$CA0" "$CA0" 'PUBLISH q0 topic=wn/t payload=now')" \
    "$(r5 $P W:connect5,wnw,60 W:sub5,1,wn/#:0 W:readp,2 \
        V:connect5,wnv,60,will=wn/t:now,w.will-delay-interval=30,session-expiry-interval=60 \
        V:close V2:sleep,0.2 V2:connect5,wnv,60 W:readp,1)"
expect_eq "will delay longer than Session Expiry 0: published at once" \
    "$(lines "$CA0" 'SUBACK id=1 codes=00' "$CA0" 'PUBLISH q0 topic=wz/t payload=gone')" \
    "$(r5 $P W:connect5,wzw,60 W:sub5,1,wz/#:0 W:readp,2 \
        V:connect5,wzv,60,will=wz/t:gone,w.will-delay-interval=30 V:close W:readp,1)"

# Session Expiry Interval [MQTT-3.1.2-23]
expect_eq "Session Expiry 60: the session is there after a reconnect (Clean Start 0)" "$(lines "$CA0" "$CA1")" \
    "$(r5 $P A:connect5,se1,60,clean0,session-expiry-interval=60 A:close A:sleep,0.2 B:connect5,se1,60,clean0)"
expect_eq "Session Expiry 0: no session after a reconnect" "$(lines "$CA0" "$CA0")" \
    "$(r5 $P A:connect5,se0,60,clean0 A:close A:sleep,0.2 B:connect5,se0,60,clean0)"
expect_eq "Session Expiry 1: gone 2 s later" "$(lines "$CA0" "$CA0")" \
    "$(r5 $P A:connect5,se2,60,clean0,session-expiry-interval=1 A:close A:sleep,2.2 B:connect5,se2,60,clean0)"
check "Session Expiry 1: logged as expired" grep -q '^se2: session expired$' "$E"

# ---- 2. PUBLISH: properties, acks, subscription options ----
expect_eq "PUBLISH properties forwarded unaltered and in order [MQTT-3.3.2-4/15/16/17/18/20]" \
    "$(lines "$CA0" 'SUBACK id=1 codes=00' "$CA0" \
        'PUBLISH q0 topic=fw/a {payload-format-indicator=1,message-expiry-interval=60,content-type=text/plain,response-topic=fw/reply,correlation-data=c:d,user-property=k1:v1,user-property=k1:v2} payload=hi')" \
    "$(r5 $P S:connect5,fws,60 S:sub5,1,fw/#:0 S:readp,2 P:connect5,fwp,60 \
        P:pub5,fw/a,hi,0,0,payload-format-indicator=1,message-expiry-interval=60,content-type=text/plain,response-topic=fw/reply,correlation-data=c:d,user-property=k1:v1,user-property=k1:v2 \
        S:readp,2)"
expect_eq "to a 3.1.1 subscriber the same message goes without properties (bytes)" \
    "connack=20020000 9003000100 $CA0 3008000466772f626869" \
    "$(raw $P S:connect,fw3,60 S:subscribe,1,fw/#,0 S:read,2 P:connect5,fwq,60 P:pub5,fw/b,hi,0,0,user-property=k:v S:read,2)"
expect_eq "QoS 1 in: PUBACK short form; QoS 2: PUBREC, PUBCOMP short forms; unknown PUBREL: PUBCOMP 0x92" \
    "$(lines "$CA0" 40020001 50020002 70020002 7003000992)" \
    "$(r5 $P A:connect5,ack,60 A:pub5,ak/t,x,1,1 A:read,2 A:pub5,ak/t,x,2,2 A:read,2 A:ack5,pubrel,2 A:read,2 \
        A:ack5,pubrel,9 A:read,2)"
expect_eq "QoS 2 out: PUBREL after PUBREC; PUBREC 0x80 ends the flow; unknown PUBREC: PUBREL 0x92" \
    "$(lines "$CA0" 'SUBACK id=1 codes=02' "$CA0" 'PUBLISH q2 id=1 topic=q2/a payload=a' 62020001 \
        'PUBLISH q2 id=2 topic=q2/b payload=b' timeout 6203000792)" \
    "$(r5 $P S:connect5,q2s,60 S:sub5,1,q2/#:2 S:readp,2 P:connect5,q2p,60 P:pub5,q2/a,a,2,1 S:readp,2 \
        S:ack5,pubrec,1 S:read,2 S:ack5,pubcomp,1 P:pub5,q2/b,b,2,2 S:readp,2 S:ack5,pubrec,2,0x80 S:read,1 \
        S:ack5,pubrec,7 S:read,2)"
expect_eq "UNSUBACK: a code per filter, 0x00 or 0x11 (no subscription) (bytes)" "$(lines "$CA0" 900400010000 b0050002000011)" \
    "$(r5 $P A:connect5,uns,60 A:sub5,1,ua:0 A:read,2 A:unsub5,2,ua,ub A:read,2)"

# subscription identifiers [MQTT-3.3.4-3/4]: one copy, at the highest QoS, with both ids
expect_eq "subscription identifiers of every matching subscription, none without" \
    "$(lines "$CA0" 'SUBACK id=1 codes=01' 'SUBACK id=2 codes=00' 'SUBACK id=3 codes=00' "$CA0" \
        'PUBLISH q1 id=1 topic=sid/x {subscription-identifier=7,subscription-identifier=9} payload=hi' \
        'PUBLISH q0 topic=other payload=plain')" \
    "$(r5 $P S:connect5,sid,60 S:sub5,1,sid/#:1,subscription-identifier=7 S:readp,2 \
        S:sub5,2,sid/+:0,subscription-identifier=9 S:readp,2 S:sub5,3,other:0 S:readp,2 \
        P:connect5,sidp,60 P:pub5,sid/x,hi,1,5 S:readp,2 P:pub5,other,plain,0,0 S:readp,2)"
# No Local [MQTT-3.8.3-3]
expect_eq "No Local: not the client's own messages; others' still" \
    "$(lines "$CA0" 'SUBACK id=1 codes=00' "$CA0" 'PUBLISH q0 topic=nl/b payload=other')" \
    "$(r5 $P A:connect5,nla,60 A:sub5,1,nl/#:0x04 A:readp,2 A:pub5,nl/a,own,0,0 B:connect5,nlb,60 \
        B:pub5,nl/b,other,0,0 A:readp,2)"
expect_eq "without No Local the client's own message comes back" \
    "$(lines "$CA0" 'SUBACK id=1 codes=00' 'PUBLISH q0 topic=nl2/a payload=own')" \
    "$(r5 $P A:connect5,nlc,60 A:sub5,1,nl2/#:0 A:readp,2 A:pub5,nl2/a,own,0,0 A:readp,2)"
# Retain As Published [MQTT-3.3.1-12/13]
expect_eq "Retain As Published keeps RETAIN on a live message; without it RETAIN is 0" \
    "$(lines "$CA0" 'SUBACK id=1 codes=00' "$CA0" 'SUBACK id=1 codes=00' "$CA0" \
        'PUBLISH q0 retain topic=rap/t payload=kept' 'PUBLISH q0 topic=rap/t payload=kept')" \
    "$(r5 $P A:connect5,rapa,60 A:sub5,1,rap/#:0x08 A:readp,2 B:connect5,rapb,60 B:sub5,1,rap/#:0 B:readp,2 \
        P:connect5,rapp,60 P:pub5,rap/t,kept,0,0,retain A:readp,2 B:readp,2)"
# Retain Handling [MQTT-3.3.1-9/10/11]
raw $P R:connect5,rhp,60 R:pub5,rh/t,old,0,0,retain >/dev/null
expect_eq "Retain Handling 2: never the retained message" "$(lines "$CA0" 'SUBACK id=1 codes=00' timeout)" \
    "$(r5 $P A:connect5,rh2,60 A:sub5,1,rh/#:0x20 A:readp,2 A:readp,0.5)"
expect_eq "Retain Handling 1: only for a new subscription" \
    "$(lines "$CA0" 'SUBACK id=1 codes=00' 'PUBLISH q0 retain topic=rh/t payload=old' 'SUBACK id=2 codes=00' timeout)" \
    "$(r5 $P A:connect5,rh1,60 A:sub5,1,rh/#:0x10 A:readp,2 A:readp,2 A:sub5,2,rh/#:0x10 A:readp,2 A:readp,0.5)"
expect_eq "Retain Handling 0: on every SUBSCRIBE, with the subscription identifier" \
    "$(lines "$CA0" 'SUBACK id=1 codes=00' 'PUBLISH q0 retain topic=rh/t {subscription-identifier=4} payload=old' \
        'SUBACK id=2 codes=00' 'PUBLISH q0 retain topic=rh/t {subscription-identifier=5} payload=old')" \
    "$(r5 $P A:connect5,rh0,60 A:sub5,1,rh/#:0,subscription-identifier=4 A:readp,2 A:readp,2 \
        A:sub5,2,rh/#:0,subscription-identifier=5 A:readp,2 A:readp,2)"

# the client's limits: Receive Maximum [MQTT-3.3.4-9], Maximum Packet Size [MQTT-3.1.2-24/25]
expect_eq "client's Receive Maximum 2: the third QoS 2 waits for a PUBCOMP (not a PUBREC)" \
    "$(lines "$CA0" 'SUBACK id=1 codes=02' "$CA0" 'PUBLISH q2 id=1 topic=rx/1 payload=1' 'PUBLISH q2 id=2 topic=rx/2 payload=2' \
        timeout 62020001 timeout 'PUBLISH q2 id=3 topic=rx/3 payload=3')" \
    "$(r5 $P S:connect5,rxs,60,receive-maximum=2 S:sub5,1,rx/#:2 S:readp,2 P:connect5,rxp,60 \
        P:pub5,rx/1,1,2,1 P:pub5,rx/2,2,2,2 P:pub5,rx/3,3,2,3 S:readp,2 S:readp,2 S:readp,0.5 \
        S:ack5,pubrec,1 S:read,2 S:readp,0.5 S:ack5,pubcomp,1 S:readp,2)"
expect_eq "client's Maximum Packet Size 64: a larger message is not sent, the next one is" \
    "$(lines "$CA0" 'SUBACK id=1 codes=00' "$CA0" 'PUBLISH q0 topic=mp/small payload=ok')" \
    "$(r5 $P S:connect5,mps,60,maximum-packet-size=64 S:sub5,1,mp/#:0 S:readp,2 P:connect5,mpp,60 \
        P:pub5,mp/big,$X100,0,0 P:pub5,mp/small,ok,0,0 S:readp,2)"
check "client's Maximum Packet Size: the dropped message is logged" \
    grep -q "^mps: message to mp/big lost (over the client's maximum-packet-size)$" "$E"

# the client's topic aliases (5.0, 3.3.2.3.4)
expect_eq "client's topic alias: set with a topic, then used with an empty one" \
    "$(lines "$CA0" 'SUBACK id=1 codes=00' "$CA0" 'PUBLISH q0 topic=al/t payload=one' 'PUBLISH q0 topic=al/t payload=two')" \
    "$(r5 $P S:connect5,als,60 S:sub5,1,al/#:0 S:readp,2 A:connect5,ala,60 A:pub5,al/t,one,0,0,topic-alias=1 \
        A:pub5,,two,0,0,topic-alias=1 S:readp,2 S:readp,2)"
expect_eq "client's topic alias 11, above the broker's 10: DISCONNECT 0x94" "$(lines "$CA0" e00194 eof)" \
    "$(r5 $P A:connect5,al11,60 A:pub5,al/t,x,0,0,topic-alias=11 A:read,2 A:eof,2)"
expect_eq "client's unknown topic alias with an empty topic: DISCONNECT 0x82" "$(lines "$CA0" e00182 eof)" \
    "$(r5 $P A:connect5,alu,60 A:pub5,,x,0,0,topic-alias=2 A:read,2 A:eof,2)"
expect_eq "a repeated property (content type twice): DISCONNECT 0x82" "$(lines "$CA0" e00182)" \
    "$(r5 $P A:connect5,rep,60 A:pub5,t,x,0,0,content-type=a,content-type=b A:read,2)"

# enhanced authentication without --auth-method: the broker knows no method
expect_eq "CONNECT with an Authentication Method the broker does not know: CONNACK 0x8C" \
    "$(lines 'CONNACK sp=0 rc=0x8c' eof)" "$(r5 $P A:connect5,am,60,authentication-method=SCRAM A:eof,2)"

# ---- 3. mosquitto_pub / mosquitto_sub -V 5 as real peers ----
sub_bg $P msub $TMP/msub.out $E -V 5 -t 'mq/#' -D subscribe subscription-identifier 42 -C 1 \
    -F '%t|%p|%S|%P|%C|%R|%D|%E|%F'
MS=$SUB_PID
pub $P -V 5 -t mq/a -m hello -D publish user-property k1 v1 -D publish content-type text/plain \
    -D publish response-topic mq/reply -D publish correlation-data abc -D publish message-expiry-interval 60 \
    -D publish payload-format-indicator 1
wait $MS
expect_eq "mosquitto -V 5: user property, content type, response topic, correlation data, expiry, format, subscription id" \
    "mq/a|hello|42|k1:v1|text/plain|mq/reply|abc|60|1" "$(cat $TMP/msub.out)"
sub_bg $P mrap $TMP/mrap.out $E -V 5 -t 'mr/#' --retain-as-published -C 1 -F '%t|%r|%p'
MR=$SUB_PID
pub $P -V 5 -t mr/t -r -m live
wait $MR
expect_eq "mosquitto_sub --retain-as-published sees RETAIN 1 on a live message" "mr/t|1|live" "$(cat $TMP/mrap.out)"
out=$(timeout 10 mosquitto_sub -V 5 -h $H -p $P -t 'ma/#' -d -W 1 2>&1)
check "mosquitto_sub -V 5 without an id adopts the Assigned Client Identifier" \
    grep -qE '^Client minibroker-[0-9]+ received CONNACK \(0\)$' <<<"$out"
pub $P -V 5 -i mpd -t x -m y
check "mosquitto_pub -V 5 ends with DISCONNECT 0x00 (logged)" wait_log "$E" "mpd < DISCONNECT rc=0x00"

# ---- 4. --connack-prop: chosen CONNACK properties, and the broker keeps to them ----
mb_start -v --connack-prop receive-maximum=2 --connack-prop maximum-qos=1 --connack-prop retain-available=0 \
    --connack-prop server-keep-alive=2 --connack-prop user-property=a:b --connack-prop user-property=c:d \
    --connack-prop reason-string=welcome --connack-prop topic-alias-maximum=2 --connack-prop maximum-packet-size=200 \
    --connack-prop wildcard-subscription-available=0 --connack-prop subscription-identifier-available=0 \
    --connack-prop response-information=ri --connack-prop server-reference=else:1883 \
    --connack-prop session-expiry-interval=30 --connack-prop receive-maximum=3
remember_broker CP
P=$CP_PORT E=$CP_ERR
CAP='CONNACK sp=0 rc=0x00 {shared-subscription-available=0,receive-maximum=3,maximum-qos=1,retain-available=0,server-keep-alive=2,user-property=a:b,user-property=c:d,reason-string=welcome,topic-alias-maximum=2,maximum-packet-size=200,wildcard-subscription-available=0,subscription-identifier-available=0,response-information=ri,server-reference=else:1883,session-expiry-interval=30}'
expect_eq "--connack-prop: every property in the CONNACK (a repeated name: the last value)" "$CAP" "$(r5 $P A:connect5,cp,60)"
expect_eq "maximum-qos=1: SUBSCRIBE QoS 2 granted 1; wildcard-subscription-available=0: 0xA2" \
    "$(lines "$CAP" 'SUBACK id=1 codes=01,a2')" "$(r5 $P A:connect5,cpq,60 A:sub5,1,a:2,b/#:0 A:readp,2)"
expect_eq "maximum-qos=1: a QoS 2 PUBLISH gets DISCONNECT 0x9B" "$(lines "$CAP" e0019b eof)" \
    "$(r5 $P A:connect5,cp2,60 A:pub5,a,x,2,1 A:read,2 A:eof,2)"
expect_eq "retain-available=0: a retained PUBLISH gets DISCONNECT 0x9A" "$(lines "$CAP" e0019a)" \
    "$(r5 $P A:connect5,cpr,60 A:pub5,a,x,0,0,retain A:read,2)"
expect_eq "subscription-identifier-available=0: SUBSCRIBE with one gets DISCONNECT 0xA1" "$(lines "$CAP" e001a1)" \
    "$(r5 $P A:connect5,cps,60 A:sub5,1,c:0,subscription-identifier=3 A:read,2)"
expect_eq "topic-alias-maximum=2: alias 3 gets DISCONNECT 0x94" "$(lines "$CAP" e00194)" \
    "$(r5 $P A:connect5,cpa,60 A:pub5,a,x,0,0,topic-alias=3 A:read,2)"
expect_eq "maximum-packet-size=200: a 300-byte PUBLISH gets DISCONNECT 0x95" "$(lines "$CAP" e00195 eof)" \
    "$(r5 $P A:connect5,cpm,60 A:bigpub5,a,300 A:read,2 A:eof,2)"
expect_eq "server-keep-alive=2 replaces the client's 60: silence ends it with 0x8D after 3 s" "$(lines "$CAP" eof-in-window)" \
    "$(r5 $P A:connect5,cpk,60 A:eofat,2.6,4.5)"
check "server-keep-alive=2: mosquitto_sub -k 60 pings every 2 s as told" \
    bash -c "timeout 10 mosquitto_sub -V 5 -h $H -p $P -i mping -k 60 -t z -W 5 >/dev/null 2>&1; [ \$(grep -c '^mping < PINGREQ' $E) -ge 2 ]"
expect_eq "session-expiry-interval=30 replaces the client's 0: the session is kept" \
    "$(lines "$CAP" "${CAP/sp=0/sp=1}")" "$(r5 $P A:connect5,cpe,60,clean0 A:close A:sleep,0.2 B:connect5,cpe,60,clean0)"

mb_start -v --connack-prop receive-maximum=2
P=$MB_PORT
expect_eq "broker's receive-maximum=2: a third unreleased QoS 2 gets DISCONNECT 0x93" \
    "$(lines 'CONNACK sp=0 rc=0x00 {topic-alias-maximum=10,shared-subscription-available=0,receive-maximum=2}' \
        50020001 50020002 e00193)" \
    "$(r5 $P A:connect5,rm,60 A:pub5,a,1,2,1 A:read,2 A:pub5,a,2,2,2 A:read,2 A:pub5,a,3,2,3 A:read,2)"

# --connack: a v5 code, or a 3.1.1 one translated for v5 clients, and back
mb_start --connack 5
expect_eq "--connack 5: MQTT 5 client gets 0x87, 3.1.1 client 5" "$(lines 'CONNACK sp=0 rc=0x87' eof connack=20020005)" \
    "$(r5 $MB_PORT A:connect5,c5,60 A:eof,2 B:connect,c3,60)"
mb_start --connack 0x9c --connack-prop server-reference=other:1883
expect_eq "--connack 0x9c with a server reference (3.1.1 gets the code as it is)" \
    "$(lines 'CONNACK sp=0 rc=0x9c {server-reference=other:1883}' eof connack=2002009c)" \
    "$(r5 $MB_PORT A:connect5,c9,60 A:eof,2 B:connect,c3,60)"
mb_start --connack 6
expect_eq "--connack 6, a code MQTT 5 does not define: sent as it is to both versions" \
    "$(lines 'CONNACK sp=0 rc=0x06' eof connack=20020006)" "$(r5 $MB_PORT A:connect5,c6,60 A:eof,2 B:connect,c3,60)"
mb_start --connack 0x86
out=$(pub $MB_PORT -V 5 -t a -m x 2>&1); rc=$?
expect_eq "--connack 0x86: mosquitto_pub -V 5 is refused with 0x86 (exit 134)" "134 yes" \
    "$rc $(grep -qi 'bad user name or password' <<<"$out" && echo yes)"
mb_start --user alice --pass secret
expect_eq "--user/--pass for MQTT 5: right 0x00, wrong password 0x86, no user name 0x87" \
    "$(lines "$CA0" 'CONNACK sp=0 rc=0x86' 'CONNACK sp=0 rc=0x87')" \
    "$(r5 $MB_PORT A:connect5,u1,60,user=alice,pass=secret B:connect5,u2,60,user=alice,pass=wrong C:connect5,u3,60)"

# ---- 5. the other fault flags ----
mb_start -v --alias-out 2
P=$MB_PORT E=${MB_LOG%.log}.err
expect_eq "--alias-out 2: topic+alias first, alias alone after; at most min(2, client's 5)" \
    "$(lines 'SUBACK id=1 codes=00' 'PUBLISH q0 topic=ao/1 {topic-alias=1} payload=a' 'PUBLISH q0 topic= {topic-alias=1} payload=b' \
        'PUBLISH q0 topic=ao/2 {topic-alias=2} payload=c' 'PUBLISH q0 topic=ao/3 payload=d' 'PUBLISH q0 topic= {topic-alias=2} payload=e')" \
    "$(r5 $P S:connect5,aos,60,topic-alias-maximum=5 S:sub5,1,ao/#:0 S:readp,2 P:connect5,aop,60 \
        P:pub5,ao/1,a,0,0 P:pub5,ao/1,b,0,0 P:pub5,ao/2,c,0,0 P:pub5,ao/3,d,0,0 P:pub5,ao/2,e,0,0 \
        S:readp,2 S:readp,2 S:readp,2 S:readp,2 S:readp,2 | grep -v '^CONNACK')"
expect_eq "--alias-out 2: a client with Topic Alias Maximum 1 gets alias 1 only; none without one" \
    "$(lines 'PUBLISH q0 topic=a1/x {topic-alias=1} payload=x' 'PUBLISH q0 topic=a1/y payload=y' 'PUBLISH q0 topic=a1/x payload=x')" \
    "$(r5 $P S:connect5,ao1,60,topic-alias-maximum=1 S:sub5,1,a1/#:0 S:readp,2 T:connect5,ao0,60 T:sub5,1,a1/#:0 T:readp,2 \
        P:connect5,ao1p,60 P:pub5,a1/x,x,0,0 P:pub5,a1/y,y,0,0 S:readp,2 S:readp,2 T:readp,2 | grep PUBLISH)"
expect_eq "--alias-out: a resent QoS 1 message has its whole topic again on the new connection [MQTT-3.3.2-7]" \
    "$(lines 'PUBLISH q0 topic=ar/t {topic-alias=1} payload=first' 'PUBLISH q1 id=1 topic= {topic-alias=1} payload=second' \
        'PUBLISH q1 id=1 dup topic=ar/t {topic-alias=1} payload=second')" \
    "$(r5 $P S:connect5,ars,60,clean0,topic-alias-maximum=5,session-expiry-interval=60 S:sub5,1,ar/#:1 S:readp,2 \
        P:connect5,arp,60 P:pub5,ar/t,first,0,0 S:readp,2 P:pub5,ar/t,second,1,1 S:readp,2 S:close S:sleep,0.2 \
        S2:connect5,ars,60,clean0,topic-alias-maximum=5 S2:readp,2 | grep PUBLISH)"
sub_bg $P maos $TMP/maos.out $E -V 5 -t 'mo/#' -D connect topic-alias-maximum 10 -C 1 -F '%t|%A|%p'
MA=$SUB_PID
pub $P -V 5 -t mo/1 -m x
wait $MA
expect_eq "--alias-out: mosquitto_sub (topic-alias-maximum 10) sees the topic with alias 1" "mo/1|1|x" "$(cat $TMP/maos.out)"

mb_start --bad-alias
expect_eq "--bad-alias: alias 4 for a client whose maximum is 3, 0 for 65535's, 1 for none" \
    "$(lines 'PUBLISH q0 topic=ba/t {topic-alias=4} payload=x' 'PUBLISH q0 topic=ba/t {topic-alias=0} payload=x' \
        'PUBLISH q0 topic=ba/t {topic-alias=1} payload=x')" \
    "$(r5 $MB_PORT A:connect5,ba3,60,topic-alias-maximum=3 A:sub5,1,ba/#:0 A:readp,2 \
        B:connect5,bam,60,topic-alias-maximum=65535 B:sub5,1,ba/#:0 B:readp,2 C:connect5,ba0,60 C:sub5,1,ba/#:0 C:readp,2 \
        P:connect5,bap,60 P:pub5,ba/t,x,0,0 A:readp,2 B:readp,2 C:readp,2 | grep PUBLISH)"
mb_start --unknown-alias
expect_eq "--unknown-alias: an alias never set (the client's maximum) with an empty topic" \
    'PUBLISH q0 topic= {topic-alias=3} payload=x' \
    "$(r5 $MB_PORT A:connect5,ua3,60,topic-alias-maximum=3 A:sub5,1,ua/#:0 A:readp,2 P:connect5,uap,60 P:pub5,ua/t,x,0,0 \
        A:readp,2 | grep PUBLISH)"

mb_start -v --disconnect-after 3 --disconnect-reason 0x98 --disconnect-string bye --server-reference other:1883
P=$MB_PORT E=${MB_LOG%.log}.err
expect_eq "--disconnect-after 3: the 3rd packet answered, then DISCONNECT 0x98 with Reason String and Server Reference (bytes)" \
    "$(lines "$CA0" d000 d000 e01598131f00036279651c000a6f746865723a31383833 eof)" \
    "$(r5 $P A:connect5,da,60 A:ping A:read,2 A:ping A:read,2 A:read,2 A:eof,2)"
expect_eq "--disconnect-after: a 3.1.1 client is just closed" "connack=20020000 d000 eof" \
    "$(raw $P A:connect,da3,60 A:ping A:read,2 A:ping A:read,2)"
mb_start --disconnect-after 2 --disconnect-reason 0x98
out=$(timeout 10 mosquitto_sub -V 5 -h $H -p $MB_PORT -t a -d 2>&1)
check "--disconnect-after 2 (CONNECT, SUBSCRIBE): mosquitto_sub -V 5 reports DISCONNECT 152 (0x98)" \
    grep -q 'Received DISCONNECT (152)' <<<"$out"

mb_start -v --no-pubrel
P=$MB_PORT
expect_eq "--no-pubrel: PUBREC gets no PUBREL, and Receive Maximum 2 still holds the third back" \
    "$(lines 'PUBLISH q2 id=1 topic=np/1 payload=1' 'PUBLISH q2 id=2 topic=np/2 payload=2' timeout timeout)" \
    "$(r5 $P S:connect5,nps,60,receive-maximum=2 S:sub5,1,np/#:2 S:readp,2 P:connect5,npp,60 P:pub5,np/1,1,2,1 \
        P:pub5,np/2,2,2,2 P:pub5,np/3,3,2,3 S:readp,2 S:readp,2 S:ack5,pubrec,1 S:readp,0.5 S:readp,0.5 | grep -v '^[CS]')"
mb_start -v --ignore-receive-max --no-pubrel
P=$MB_PORT E=${MB_LOG%.log}.err
expect_eq "--ignore-receive-max: the third QoS 2 goes past the client's Receive Maximum 2" \
    "$(lines 'PUBLISH q2 id=1 topic=ir/1 payload=1' 'PUBLISH q2 id=2 topic=ir/2 payload=2' 'PUBLISH q2 id=3 topic=ir/3 payload=3')" \
    "$(r5 $P S:connect5,irs,60,receive-maximum=2 S:sub5,1,ir/#:2 S:readp,2 P:connect5,irp,60 P:pub5,ir/1,1,2,1 \
        S:readp,2 S:ack5,pubrec,1 P:pub5,ir/2,2,2,2 S:readp,2 S:ack5,pubrec,2 P:pub5,ir/3,3,2,3 S:readp,2 | grep PUBLISH)"
check "--no-pubrel: the held PUBREL is logged" grep -q '^irs: PUBREL 1 held back (--no-pubrel)$' "$E"
sub_bg $P mirs $TMP/mirs.out $E -V 5 -q 2 -t 'mi/#' -D connect receive-maximum 2 -C 5
MI=$SUB_PID
for i in 1 2 3; do pub $P -V 5 -q 2 -t mi/$i -m $i; done
wait $MI; rc=$?
expect_eq "--ignore-receive-max: mosquitto_sub (receive-maximum 2) gives up at the third" "2 yes" \
    "$rc $(grep -q '^mirs dropped: end of stream' $E && echo yes)"

mb_start --oversize 300
expect_eq "--oversize 300: a 300-byte PUBLISH to a client whose maximum is 200 (and to a 3.1.1 client)" \
    "$(lines size=300 size=300)" \
    "$(r5 $MB_PORT S:connect5,os,60,maximum-packet-size=200 S:sub5,1,o:0 S:readp,2 T:connect,os3,60 T:subscribe,1,o,0 \
        T:read,2 P:connect5,osp,60 P:pub5,o,small,0,0 S:readsize,2 T:readsize,2 | grep size)"

mb_start -v --auth-method SCRAM --auth-steps 2
P=$MB_PORT E=${MB_LOG%.log}.err
AM=authentication-method=SCRAM
expect_eq "--auth-method SCRAM: the first AUTH challenge (bytes)" "f0181816150005534352414d16000b6368616c6c656e67652d31" \
    "$(raw $P A:send,101700044d5154540502003c08150005534352414d00026175 A:read,2)"
expect_eq "--auth-steps 2: AUTH 0x18 twice, CONNACK naming the method; re-authentication: twice, AUTH 0x00" \
    "$(lines "AUTH rc=0x18 {$AM,authentication-data=challenge-1}" "AUTH rc=0x18 {$AM,authentication-data=challenge-2}" \
        "CONNACK sp=0 rc=0x00 {topic-alias-maximum=10,shared-subscription-available=0,$AM}" \
        "AUTH rc=0x18 {$AM,authentication-data=challenge-1}" "AUTH rc=0x18 {$AM,authentication-data=challenge-2}" \
        "AUTH rc=0x00 {$AM}")" \
    "$(r5 $P A:connect5,auth,60,$AM,authentication-data=first A:auth5,0x18,$AM,authentication-data=response-1 A:readp,2 \
        A:auth5,0x18,$AM,authentication-data=response-2 A:readp,2 A:auth5,0x19,$AM,authentication-data=again A:readp,2 \
        A:auth5,0x18,$AM,authentication-data=r1 A:readp,2 A:auth5,0x18,$AM,authentication-data=r2 A:readp,2)"
check "--auth-method: what the client sent is in the -v log" \
    bash -c "grep -q '^auth < AUTH rc=0x18 $AM authentication-data=response-1$' $E && grep -q '^auth < AUTH rc=0x19 $AM authentication-data=again$' $E"
expect_eq "--auth-method: a wrong method in AUTH gets CONNACK 0x8C" \
    "$(lines "AUTH rc=0x18 {$AM,authentication-data=challenge-1}" 'CONNACK sp=0 rc=0x8c' eof)" \
    "$(r5 $P A:connect5,aw,60,$AM A:auth5,0x18,authentication-method=OTHER A:readp,2 A:eof,2)"
expect_eq "--auth-method: another method in CONNECT gets CONNACK 0x8C" "$(lines 'CONNACK sp=0 rc=0x8c' eof)" \
    "$(r5 $P A:connect5,ao,60,authentication-method=OTHER A:eof,2)"
expect_eq "--auth-method: a PUBLISH during the exchange gets CONNACK 0x82" \
    "$(lines "AUTH rc=0x18 {$AM,authentication-data=challenge-1}" 'CONNACK sp=0 rc=0x82' eof)" \
    "$(r5 $P A:connect5,ap,60,$AM A:pub5,a,x,0,0 A:readp,2 A:eof,2)"
expect_eq "--auth-method: a CONNECT without a method is not asked" "$CA0" "$(r5 $P A:connect5,an,60)"

mb_start -v --ack-reason 0x10
P=$MB_PORT E=${MB_LOG%.log}.err
watch_bg arw 'ar/#' 2
expect_eq "--ack-reason 0x10: PUBACK and PUBREC carry it, the message is delivered (bytes)" \
    "$(lines "$CA0" 4003000110 5003000210)" \
    "$(r5 $P A:connect5,ar,60 A:pub5,ar/1,one,1,1 A:read,2 A:pub5,ar/2,two,2,2 A:read,2)"
expect_watched "--ack-reason 0x10: both messages delivered" "$(lines 'ar/1 one' 'ar/2 two')"
mb_start -v --ack-reason 0x87
P=$MB_PORT E=${MB_LOG%.log}.err
watch_bg anw 'an/#' 1
expect_eq "--ack-reason 0x87: PUBACK/PUBREC 0x87, the QoS 2 id not kept (PUBREL: PUBCOMP 0x92)" \
    "$(lines "$CA0" 4003000187 5003000287 7003000292)" \
    "$(r5 $P A:connect5,an,60 A:pub5,an/1,one,1,1 A:read,2 A:pub5,an/2,two,2,2 A:read,2 A:ack5,pubrel,2 A:read,2 \
        A:pub5,an/marker,m,0,0)"
expect_watched "--ack-reason 0x87: refused messages are not delivered" "an/marker m"
expect_eq "--ack-reason: a 3.1.1 client's PUBACK has no code" "connack=20020000 40020001" \
    "$(raw $P A:connect,an3,60 A:publish,an/3,x,1,1 A:read,2)"
out=$(pub $P -V 5 -q 1 -t an/x -m x 2>&1)
check "--ack-reason 0x87: mosquitto_pub -V 5 reports 'Not authorized'" grep -q 'Publish 1 failed: Not authorized' <<<"$out"

mb_start --suback-reason 0x87
expect_eq "--suback-reason 0x87: MQTT 5 SUBACK 0x87, 3.1.1 0x80, nothing subscribed" \
    "$(lines 'SUBACK id=1 codes=87' 9003000180 timeout)" \
    "$(r5 $MB_PORT A:connect5,sr,60 A:sub5,1,sr:1 A:readp,2 B:connect,sr3,60 B:subscribe,1,sr,1 B:read,2 \
        P:connect5,srp,60 P:pub5,sr,x,0,0 A:readp,0.5 | grep -v '^conn\|^CONNACK')"
out=$(timeout 10 mosquitto_sub -V 5 -h $H -p $MB_PORT -t sr 2>&1)
check "--suback-reason 0x87: mosquitto_sub -V 5 says all subscriptions were denied" \
    grep -q 'All subscription requests were denied' <<<"$out"

# the command line: values MQTT 5 forbids are refused at start
for bad in "--connack-prop maximum-qos=2" "--connack-prop receive-maximum=0" "--connack-prop bogus=1" \
           "--connack-prop user-property=nocolon" "--ack-reason 0x04" "--suback-reason 0x03" "--auth-steps 2" \
           "--disconnect-after 1 --disconnect-reason 0x01"; do
    out=$(timeout -k 5 10 "$B/minibroker" -p 0 $bad 2>&1); rc=$?
    expect_eq "refused at start: $bad (usage, exit 2)" "2 yes" "$rc $(grep -q '^usage: minibroker' <<<"$out" && echo yes)"
done

# ---- 6. every broker: SIGTERM ends it with 0, and Valgrind (or a sanitizer) saw nothing ----
check_all_brokers

finish
