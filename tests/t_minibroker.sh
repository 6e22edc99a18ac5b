#!/usr/bin/env bash
# tests/t_minibroker.sh - the minibroker speaking MQTT 3.1.1, against mosquitto_pub/mosquitto_sub
# and raw-socket clients (tests/minibroker_raw.py), all on 127.0.0.1 (MQTT 5: t_minibroker5.sh).
# Run: make build/minibroker && bash tests/t_minibroker.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
. tests/minibroker_lib.sh # lib.sh made the repository root the working directory

# ---- 1. round trips, wildcards, retained, wills ----
mb_start -v
remember_broker VG
P=$VG_PORT E=$VG_ERR

# QoS 0/1/2 round trip; a QoS 1 subscription gets min(published, granted) QoS [MQTT-3.8.4-6]
sub_bg $P s2 $TMP/q2.out $E -t 'rt/#' -q 2 -F '%t|%q|%r|%p' -C 3
S2=$SUB_PID
sub_bg $P s1 $TMP/q1.out $E -t 'rt/+' -q 1 -F '%q|%p' -C 3
S1=$SUB_PID
for q in 0 1 2; do pub $P -t rt/a -q $q -m "hello wörld q$q"; done
wait $S2 $S1
expect_eq "QoS 0/1/2 round trip: payloads, QoS and retain 0" \
    "$(printf 'rt/a|0|0|hello wörld q0\nrt/a|1|0|hello wörld q1\nrt/a|2|0|hello wörld q2')" "$(cat $TMP/q2.out)"
expect_eq "QoS delivered is min(publish, granted)" \
    "$(printf '0|hello wörld q0\n1|hello wörld q1\n1|hello wörld q2')" "$(cat $TMP/q1.out)"
check "broker logs QoS 2 flow with -v" grep -qE '^s2 > PUBLISH q2 id=[0-9]+ topic=rt/a len=15$' "$E"

# 200 KB of binary at QoS 2, byte for byte
head -c 200000 /dev/urandom >$TMP/blob
sub_bg $P sblob $TMP/blob.out $E -t blob -q 2 -N -C 1
SB=$SUB_PID
pub $P -t blob -q 2 -f $TMP/blob
wait $SB
check "200 KB binary payload arrives intact" cmp -s $TMP/blob $TMP/blob.out

# wildcards; '#' and '+' do not match '$' topics [MQTT-4.7.2-1]
sub_bg $P wplus $TMP/wplus.out $E -t '+/w/+' -v -C 2
WP=$SUB_PID
sub_bg $P whash $TMP/whash.out $E -t 'wc/#' -v -C 2
WH=$SUB_PID
sub_bg $P wall $TMP/wall.out $E -t '#' -v -C 5
WA=$SUB_PID
sub_bg $P wsys $TMP/wsys.out $E -t '$SYS/#' -v -C 1
WS=$SUB_PID
pub $P -t '$SYS/x' -m sys
pub $P -t a/w/b -m plus
pub $P -t wc -m parent
pub $P -t wc/x/y -m deep
pub $P -t a/w -m short
pub $P -t z/w/end -m end
wait $WP $WH $WA $WS
expect_eq "'+/w/+' matches one whole level each, not a/w" "$(printf 'a/w/b plus\nz/w/end end')" "$(cat $TMP/wplus.out)"
expect_eq "'wc/#' matches the parent and deeper levels" "$(printf 'wc parent\nwc/x/y deep')" "$(cat $TMP/whash.out)"
expect_eq "'#' gets everything but \$SYS/x" "$(printf 'a/w/b plus\nwc parent\nwc/x/y deep\na/w short\nz/w/end end')" "$(cat $TMP/wall.out)"
expect_eq "'\$SYS/#' gets \$SYS/x" '$SYS/x sys' "$(cat $TMP/wsys.out)"

# retained: a live subscriber gets it with retain 0 [MQTT-3.3.1-9], a later one with retain 1
# [MQTT-3.3.1-6/8]; an empty retained publish clears it [MQTT-3.3.1-10/11]
sub_bg $P ret0 $TMP/ret0.out $E -t 'ret/#' -q 1 -F '%t|%r|%q|%p' -C 1
R0=$SUB_PID
pub $P -t ret/t -q 1 -r -m kept
sub_bg $P ret1 $TMP/ret1.out $E -t 'ret/#' -q 1 -F '%t|%r|%q|%p' -C 1
wait $SUB_PID $R0
expect_eq "retained message forwarded live with retain=0" "ret/t|0|1|kept" "$(cat $TMP/ret0.out)"
expect_eq "retained message reaches a later subscriber, retain=1" "ret/t|1|1|kept" "$(cat $TMP/ret1.out)"
pub $P -t ret/t -r -n
sub_bg $P ret2 $TMP/ret2.out $E -t 'ret/#' -F '%t|%r|%p' -C 1
R2=$SUB_PID
pub $P -t ret/live -m marker
wait $R2
expect_eq "empty retained publish clears it (first message is the live marker)" "ret/live|0|marker" "$(cat $TMP/ret2.out)"

# will: published when the client is killed, not after a clean DISCONNECT
sub_bg $P willw $TMP/will.out $E -t 'will/#' -v -C 2
WW=$SUB_PID
mosquitto_sub -h $H -p $P -i victim -t none --will-topic will/victim --will-payload 'victim died' >/dev/null 2>&1 &
V=$!
CLEANUP_PIDS+=("$V")
wait_log $E "victim > SUBACK"
pub $P -i polite -t none -m x --will-topic will/polite --will-payload 'polite died'
wait_log $E "polite < DISCONNECT"
kill -KILL $V; wait $V 2>/dev/null
wait_log $E "victim: publishing will"
pub $P -t will/marker -m marker
wait $WW
expect_eq "will published on SIGKILL, none after DISCONNECT" "$(printf 'will/victim victim died\nwill/marker marker')" "$(cat $TMP/will.out)"
pub $P -t stay/r -r -m 'freed at exit'   # a retained message the broker holds at SIGTERM

# ---- 2. options ----
mb_start --user alice --pass secret
P=$MB_PORT
check "--user/--pass: right credentials publish" pub $P -u alice -P secret -t a -m x
out=$(pub $P -u alice -P wrong -t a -m x 2>&1); rc=$?
expect_eq "wrong password: CONNACK 4" "4 yes" "$rc $(grep -q 'bad user name or password' <<<"$out" && echo yes)"
out=$(pub $P -u bob -P secret -t a -m x 2>&1); rc=$?
expect_eq "wrong user name: CONNACK 4" 4 $rc
out=$(pub $P -t a -m x 2>&1); rc=$?
expect_eq "no user name: CONNACK 5 (not authorised)" "5 yes" "$rc $(grep -q 'not authorised' <<<"$out" && echo yes)"

mb_start --connack 3
out=$(pub $MB_PORT -t a -m x 2>&1); rc=$?
expect_eq "--connack 3: mosquitto_pub is refused with 3" "3 yes" "$rc $(grep -q 'unavailable' <<<"$out" && echo yes)"
expect_eq "--connack 3: raw CONNACK bytes, then closed" "connack=20020003 eof" "$(raw $MB_PORT A:connect,c3,60 A:eof,2)"

mb_start -v
remember_broker N
mb_start -v --no-pingresp
remember_broker NP
expect_eq "normal broker answers PINGREQ" "connack=20020000 d000" "$(raw $N_PORT A:connect,p,60 A:ping A:read,1.5)"
expect_eq "--no-pingresp: no PINGRESP within 1.5 s" "connack=20020000 timeout" "$(raw $NP_PORT A:connect,p,60 A:ping A:read,1.5)"

# session takeover: the second CONNECT with id X closes the first, whose will is published
# [MQTT-3.1.4-2]; the second stays usable
P=$N_PORT E=$N_ERR
watch_bg tow 'to/#' 1
expect_eq "session takeover closes the first connection" "connack=20020000 connack=20020000 eof d000" \
    "$(raw $P A:connect,X,60,to/will,first-gone B:connect,X,60 A:eof,2 B:ping B:read,2)"
expect_watched "taken-over connection's will is published" "to/will first-gone"

# keepalive 1 and silence: closed after 1.5 s [MQTT-3.1.2-24], the will is published
watch_bg kaw 'ka/#' 1
expect_eq "keepalive 1 s: closed 1.5 s after the last packet" "connack=20020000 eof-in-window" \
    "$(raw $P A:connect,ka,1,ka/will,silent A:eofat,1.3,2.5)"
expect_watched "keepalive expiry publishes the will" "ka/will silent"
expect_eq "keepalive 1 s with PINGREQs stays open" "connack=20020000 d000 d000 open" \
    "$(raw $P A:connect,kb,1 A:sleep,0.9 A:ping A:read,1 A:sleep,0.9 A:ping A:read,1 A:eof,0.2)"

# a malformed packet (SUBSCRIBE with flags 0000 [MQTT-3.8.1-1]) closes the connection, will published
watch_bg malw 'mal/#' 1
expect_eq "malformed packet closes the connection" "connack=20020000 eof" \
    "$(raw $P A:connect,mal,60,mal/will,malformed A:send,8006000100016100 A:eof,2)"
expect_watched "malformed packet: will published" "mal/will malformed"
check "malformed packet: logged as such" grep -q '^mal dropped: malformed packet$' "$E"
expect_eq "first packet not CONNECT: closed, nothing sent" "eof" "$(raw $P A:send,c000 A:eof,2)"
expect_eq "second CONNECT: closed" "connack=20020000 eof" \
    "$(raw $P A:connect,twice,60 A:send,101000044d5154540402003c000461626364 A:eof,2)"
expect_eq "unsupported protocol level (6): CONNACK 1" "20020001 eof" \
    "$(raw $P A:send,101000044d5154540602003c00046c76366c A:read,2 A:eof,2)"
expect_eq "empty client id with clean 0: CONNACK 2" "20020002 eof" \
    "$(raw $P A:send,100c00044d5154540400003c0000 A:read,2 A:eof,2)"

# QoS 2 in: a repeated PUBLISH (same id, DUP) is delivered once [MQTT-4.3.3-2]
watch_bg q2w 'once/#' 2
expect_eq "QoS 2 in: PUBREC twice, PUBCOMP" "connack=20020000 50020005 50020005 70020005" \
    "$(raw $P A:connect,dupper,60 A:publish,once/t,exactly-once,2,5 A:read,2 A:publish,once/t,exactly-once,2,5,dup A:read,2 A:pubrel,5 A:read,2 A:publish,once/z,marker,0,0 A:disconnect)"
expect_watched "QoS 2 in: delivered exactly once" "$(printf 'once/t exactly-once\nonce/z marker')"

# UNSUBSCRIBE: UNSUBACK [MQTT-3.10.4-4], then nothing more from that filter (the first
# message read is u/b's, published after u/a's)
expect_eq "UNSUBSCRIBE stops delivery" "connack=20020000 900400010000 b0020002 30060003752f6262" \
    "$(raw $P A:connect,unsub,60 A:send,820e00010003752f61000003752f6200 A:read,2 A:unsubscribe,2,u/a A:read,2 \
        A:publish,u/a,a,0,0 A:publish,u/b,b,0,0 A:read,2)"

# QoS 1 out: unacknowledged, the client goes; clean session 0 resumes with session_present 1,
# the subscription kept, and the message again with DUP [MQTT-4.4.0-1]
expect_eq "clean session 0: subscription kept, unacked QoS 1 resent with DUP" \
    "connack=20020000 9003000101 connack=20020000 3209000472732f7400016d connack=20020100 3a09000472732f7400016d 3209000472732f7400026e" \
    "$(raw $P S:connect,keep,60,clean0 S:subscribe,1,rs/t,1 S:read,2 P:connect,rspub,60 P:publish,rs/t,m,1,9 \
        S:read,2 S:close P:sleep,0.2 S2:connect,keep,60,clean0 S2:read,2 S2:puback,1 P:publish,rs/t,n,1,10 S2:read,2)"

# --drop-after N: CONNECT and N-1 more packets are handled, then the connection is dropped
mb_start -v --drop-after 2
expect_eq "--drop-after 2: dropped after CONNECT + PINGREQ, no PINGRESP" "connack=20020000 eof" \
    "$(raw $MB_PORT A:connect,dropme,60 A:ping A:read,2)"
check "--drop-after 2: logged" grep -q '^dropme dropped: --drop-after$' "${MB_LOG%.log}.err"
mb_start -v --drop-after 3
P=$MB_PORT E=${MB_LOG%.log}.err
watch_bg daw 'da/#' 1
expect_eq "--drop-after 3: the 2nd packet is answered, the 3rd drops" "connack=20020000 d000 eof" \
    "$(raw $P A:connect,dropme,60,da/will,dropped A:ping A:read,2 A:ping A:read,2)"
expect_watched "--drop-after: the will is published" "da/will dropped"

# --max-packet 1000: 500 bytes pass, 2000 bytes close the connection
mb_start -v --max-packet 1000
expect_eq "--max-packet: under the limit gets PUBACK, over closes" "connack=20020000 40020001 eof" \
    "$(raw $MB_PORT A:connect,big,60 A:bigpublish,b,500,1 A:read,2 A:bigpublish,b,2000,2 A:eof,2)"
check "--max-packet: logged as over the limit" grep -q '^big dropped: packet over --max-packet$' "${MB_LOG%.log}.err"

# the command line
out=$(timeout -k 5 10 "$B/minibroker" --bogus 2>&1); rc=$?
expect_eq "unknown option: usage and exit 2" "2 yes" "$rc $(grep -q '^usage: minibroker' <<<"$out" && echo yes)"
timeout -k 10 20 "$B/minibroker" -p 0 >$TMP/first.out 2>&1 &
FP=$!
wait_log $TMP/first.out listening
line=$(head -n 1 $TMP/first.out)
check "first stdout line is 'listening on 127.0.0.1:PORT' and it listens there" \
    bash -c "[[ '$line' =~ ^listening\ on\ 127\.0\.0\.1:[0-9]+\$ ]] && (exec 3<>/dev/tcp/127.0.0.1/${line##*:})"
kill -INT $FP; wait $FP; rc=$?   # bounded: timeout -k above
expect_eq "SIGINT: exit 0" 0 $rc

# ---- 3. every broker: SIGTERM ends it with 0, and Valgrind (or a sanitizer) saw nothing ----
check_all_brokers

finish
