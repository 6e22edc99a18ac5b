#!/usr/bin/env bash
# tests/t_minibroker.sh - the minibroker against mosquitto_pub/mosquitto_sub and raw-socket
# clients (python3), all on 127.0.0.1. Run: make build/minibroker && bash tests/t_minibroker.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

[ -x "$B/minibroker" ] || { echo "build/minibroker missing: run make build/minibroker"; not_ok "build"; finish; }

# ---- helpers ----
H=127.0.0.1
# A raw MQTT client driven by steps "CONN:cmd,arg,..." (CONN names a connection). Each step
# that observes something prints one token; the tokens come out space-separated.
#   connect,ID,KEEPALIVE[,WILLTOPIC,WILLMSG][,clean0]  -> "connack=<hex>" (other steps connect bare)
#   publish,TOPIC,PAYLOAD,QOS,ID[,dup] | subscribe,ID,FILTER,QOS | unsubscribe,ID,FILTER | pubrel,ID | puback,ID
#   ping | disconnect | close | send,HEX | sleep,S | bigpublish,TOPIC,BYTES,ID (QoS 1)
#   read,TIMEOUT  -> one whole packet in hex, "eof" or "timeout"
#   eof,TIMEOUT   -> "eof" when the broker closes within TIMEOUT s (packets before are skipped), else "open"
#   eofat,LO,HI   -> "eof-in-window" when it closes between LO and HI s from this step, else "eof@T"/"open"
RAW=$TMP/raw.py
cat >"$RAW" <<'PY'
import socket, struct, sys, time
port = int(sys.argv[1]); conns = {}; out = []
def s16(b): return struct.pack(">H", len(b)) + b
def varint(n):
    r = b""
    while True:
        d, n = n % 128, n // 128
        r += bytes([d | (128 if n else 0)])
        if not n: return r
def pkt(first, body): return bytes([first]) + varint(len(body)) + body
def connect(cid, ka, *rest):
    flags, payload = 0x02, s16(cid.encode())
    rest = list(rest)
    if "clean0" in rest: rest.remove("clean0"); flags = 0
    if rest: flags |= 0x04; payload += s16(rest[0].encode()) + s16(rest[1].encode())
    return pkt(0x10, s16(b"MQTT") + bytes([4, flags]) + struct.pack(">H", int(ka)) + payload)
def publish(topic, payload, qos, pid, dup=""):
    q = int(qos); first = 0x30 | (q << 1) | (8 if dup else 0)
    return pkt(first, s16(topic.encode()) + (struct.pack(">H", int(pid)) if q else b"") + payload.encode())
def recv_exact(s, n, deadline):
    b = b""
    while len(b) < n:
        s.settimeout(max(0.001, deadline - time.time()))
        try: c = s.recv(n - len(b))
        except socket.timeout: return None
        except ConnectionResetError: c = b""
        if not c: return b""
        b += c
    return b
def read_packet(s, timeout):
    deadline = time.time() + timeout
    h = recv_exact(s, 1, deadline)
    if not h: return h
    n, mul = 0, 1
    while True:
        d = recv_exact(s, 1, deadline)
        if not d: return d
        h += d; n += (d[0] & 127) * mul; mul *= 128
        if not d[0] & 128: break
    body = recv_exact(s, n, deadline)
    return body if not body and n else h + body
def wait_eof(s, timeout):
    deadline = time.time() + timeout
    while time.time() < deadline:
        p = read_packet(s, deadline - time.time())
        if p == b"": return True
        if p is None: return False
    return False
for step in sys.argv[2:]:
    name, _, rest = step.partition(":")
    cmd, *a = rest.split(",")
    s = conns.get(name)
    if s is None and cmd != "connect": s = conns[name] = socket.create_connection(("127.0.0.1", port))
    if cmd == "connect":
        s = conns[name] = socket.create_connection(("127.0.0.1", port))
        s.sendall(connect(*a)); p = read_packet(s, 3)
        out.append("connack=" + (p.hex() if p else "eof" if p == b"" else "timeout"))
    elif cmd == "publish": s.sendall(publish(*a))
    elif cmd == "bigpublish": s.sendall(pkt(0x32, s16(a[0].encode()) + struct.pack(">H", int(a[2])) + b"x" * int(a[1])))
    elif cmd == "unsubscribe": s.sendall(pkt(0xa2, struct.pack(">H", int(a[0])) + s16(a[1].encode())))
    elif cmd == "subscribe": s.sendall(pkt(0x82, struct.pack(">H", int(a[0])) + s16(a[1].encode()) + bytes([int(a[2])])))
    elif cmd == "pubrel": s.sendall(pkt(0x62, struct.pack(">H", int(a[0]))))
    elif cmd == "puback": s.sendall(pkt(0x40, struct.pack(">H", int(a[0]))))
    elif cmd == "ping": s.sendall(b"\xc0\x00")
    elif cmd == "disconnect": s.sendall(b"\xe0\x00"); s.close()
    elif cmd == "close": s.close()
    elif cmd == "send": s.sendall(bytes.fromhex(a[0]))
    elif cmd == "sleep": time.sleep(float(a[0]))
    elif cmd == "read":
        p = read_packet(s, float(a[0])); out.append(p.hex() if p else "eof" if p == b"" else "timeout")
    elif cmd == "eof": out.append("eof" if wait_eof(s, float(a[0])) else "open")
    elif cmd == "eofat":
        t0 = time.time(); closed = wait_eof(s, float(a[1]) + 1); t = time.time() - t0
        out.append(("eof-in-window" if float(a[0]) <= t <= float(a[1]) else "eof@%.2f" % t) if closed else "open")
    else: sys.exit("unknown step " + step)
print(" ".join(out))
PY
raw() { timeout 20 python3 "$RAW" "$@"; }

# mb_start ARGS: start_minibroker, remembered for the SIGTERM + Valgrind verdict at the end.
ALL_MB=()
mb_start() {
    start_minibroker "$@" || { not_ok "start minibroker $*"; finish; }
    ALL_MB+=("$MB_PID|${MB_LOG%.log}|$*")
}
# remember_broker NAME: keeps the last started minibroker's port and stderr log as NAME_PORT, NAME_ERR.
remember_broker() {
    printf -v "${1}_PORT" %s "$MB_PORT"
    printf -v "${1}_ERR" %s "${MB_LOG%.log}.err"
}
# wait_log FILE TEXT [COUNT]: until TEXT occurs COUNT (default 1) times in FILE (10 s at most).
wait_log() {
    local i
    for i in $(seq 1 200); do
        [ "$(grep -cF -- "$2" "$1" 2>/dev/null)" -ge "${3:-1}" ] && return 0
        sleep 0.05
    done
    echo "    (timed out waiting for '$2' in $1)"; return 1
}
# sub_bg PORT ID OUTFILE BROKER_ERR_LOG ARGS...: a mosquitto_sub with client id ID in the
# background (pid in SUB_PID); returns once the broker (run with -v) logged its SUBACK.
sub_bg() {
    local port=$1 id=$2 file=$3 err=$4; shift 4
    timeout 10 mosquitto_sub -h $H -p "$port" -i "$id" "$@" >"$file" 2>&1 &
    SUB_PID=$!
    wait_log "$err" "$id > SUBACK"
}
pub() { local port=$1; shift; mosquitto_pub -h $H -p "$port" "$@"; }
# watch_bg ID FILTER COUNT: sub_bg on the broker $P (stderr log $E) printing "topic payload"
# for COUNT messages on FILTER; expect_watched NAME EXPECTED then waits for it to end and
# compares what it printed. One watcher at a time.
watch_bg() {
    sub_bg "$P" "$1" "$TMP/$1.out" "$E" -t "$2" -v -C "$3"
    WATCH_ID=$1 WATCH_PID=$SUB_PID
}
expect_watched() {
    wait "$WATCH_PID"
    expect_eq "$1" "$2" "$(cat "$TMP/$WATCH_ID.out")"
}
# term_wait PID: SIGTERM, then up to 15 s for the process to end; its exit code, or 124 (after
# SIGKILL) when it hangs, so a broker stuck at shutdown cannot hang the suite.
term_wait() {
    local i st
    kill -TERM "$1" 2>/dev/null
    for i in $(seq 1 150); do
        st=$(ps -o stat= -p "$1" 2>/dev/null)
        [ -z "$st" ] || [[ $st == Z* ]] && break
        sleep 0.1
    done
    if [ -n "$st" ] && [[ $st != Z* ]]; then kill -KILL "$1"; wait "$1" 2>/dev/null; return 124; fi
    wait "$1"
}

# Every broker runs under Valgrind; with VALGRIND empty (SANITIZE=1 builds) the sanitizers check it.
if [ -n "${VALGRIND:-}" ]; then MB_VALGRIND=1 CHECKER=Valgrind; else MB_VALGRIND=0 CHECKER=sanitizers; echo "# VALGRIND empty: sanitizers check the broker"; fi

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
expect_eq "unsupported protocol level: CONNACK 1" "20020001 eof" \
    "$(raw $P A:send,101000044d5154540502003c00046c76356c A:read,2 A:eof,2)"
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
for e in "${ALL_MB[@]}"; do
    IFS='|' read -r pid base args <<<"$e"
    term_wait "$pid"; rc=$?
    if [ "$MB_VALGRIND" = 1 ]; then
        verdict=$([ -f "$base.vg" ] && { [ -s "$base.vg" ] && echo "Valgrind errors" || echo clean; } || echo "no Valgrind log")
        [ -s "$base.vg" ] && sed 's/^/    /' "$base.vg" | head -n 30
    else
        verdict=$(grep -q Sanitizer "$base.err" && echo "sanitizer report" || echo clean)
    fi
    expect_eq "minibroker ${args:-(no options)}: SIGTERM -> exit 0, clean under $CHECKER" "0 clean" "$rc $verdict"
done

finish
