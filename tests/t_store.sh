#!/usr/bin/env bash
# tests/t_store.sh - nothing lost across a client crash (mqttc.h section 13): a publisher
# with the file store (build/live_store, tests/live_store.c; flush every message) sends a
# numbered QoS 1 stream and a numbered QoS 2 stream to mosquitto (persistence on); each is
# SIGKILLed at random points STORE_KILLS times (default 20) and started again with the same
# client id and store, then once more to the end under $VALGRIND, draining. A subscriber
# with a persistent session (mqttc-sub -c -q 2; mosquitto_sub loses the QoS 2 messages it
# has half received when the broker restarts: up to its window of 20 each time) counts: QoS 1 nothing lost; QoS 2
# nothing lost and nothing twice, but for the one number each kill may leave the program
# itself unsure of (killed between mqttc_publish returning and its "accepted" line, it
# publishes that number again: the application's duplicate, not the library's).
# Then the same QoS 2 stream while mosquitto too is stopped (SIGTERM: it saves its state)
# and started again every fourth run: nothing lost, and nothing twice but what mosquitto
# sends the subscriber again itself: its saved state of a flow to the subscriber may predate
# the PUBREC it had received, and after the restart it sends that PUBLISH again (DUP)
# instead of PUBREL [MQTT-4.3.3]; its log (log_type all) tells how often, and every
# duplicate must be one of those. And once more with
# mosquitto SIGKILLed instead: mosquitto 2.0.11 saves its state only now and then, so what it
# had acknowledged and not saved is gone with it (a loss), and messages it had received and
# forgotten come again from the client (DUP) as new ones (duplicates): both are counted and
# printed, as t_reconnect does; checked are the client's runs (they drain, Valgrind-clean)
# and that nothing arrives that was never sent.
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
L=$B/live_store
if [ ! -x "$L" ]; then
    not_ok "the scenario program $L exists (make $L)"
    finish
fi
KILLS=${STORE_KILLS:-20}
TO=${STORE_TO:-2500}
DIR=$TMP/stores
mkdir -p "$DIR" "$TMP/mq"
chmod a+rwx "$TMP" "$TMP/mq" # mosquitto started as root saves its state as user mosquitto
MQ_CONF=$TMP/mq.conf
MQ_PORT=$(free_port)
{ echo "listener $MQ_PORT 127.0.0.1"; echo "allow_anonymous true"; echo "persistence true"
  echo "persistence_location $TMP/mq/"; echo "autosave_interval 1"; echo "autosave_on_changes true"
  echo "max_queued_messages 1000000"; echo "log_type all"; } >"$MQ_CONF"
start_broker() {
    mosquitto -c "$MQ_CONF" >>"$TMP/mosquitto.log" 2>&1 &
    MQ_PID=$!
    CLEANUP_PIDS+=("$MQ_PID")
    wait_port "$MQ_PORT"
}
start_broker || { not_ok "mosquitto starts"; finish; }
SUB_OUT=$TMP/sub.txt
"$B/mqttc-sub" -h 127.0.0.1 -p "$MQ_PORT" -i storesub -c -q 2 -t 'store/#' -v >"$SUB_OUT" 2>"$TMP/sub.err" &
SUB_PID=$!
CLEANUP_PIDS+=("$SUB_PID")
sleep 0.5

# stream ID QOS BROKER_KILLS: the killed runs, then the draining one. Sets BOUNDARY_ID (the
# numbers a kill left unsure) and prints what each run loaded.
stream() {
    local id=$1 qos=$2 broker_kills=$3 from=1 i pid last loaded=0 out signal=TERM
    [ "$broker_kills" = 9 ] && signal=KILL
    : >"$TMP/$id.boundary"
    for i in $(seq 1 "$KILLS"); do
        out=$TMP/$id.run$i
        "$L" "$DIR" "$MQ_PORT" "$id" "$qos" "$from" "$TO" >"$out" 2>&1 &
        pid=$!
        sleep "0.$((RANDOM % 4 + 2))"
        if [ "$broker_kills" -gt 0 ] && [ $((i % 4)) = 0 ]; then # the broker goes too, now and then
            kill -"$signal" "$MQ_PID" 2>/dev/null; wait "$MQ_PID" 2>/dev/null
            sleep 0.2
            start_broker
            sleep "0.$((RANDOM % 3 + 1))"
        fi
        kill -9 "$pid" 2>/dev/null; wait "$pid" 2>/dev/null
        [ "$(sed -n 's/^loaded //p' "$out")" -gt 0 ] 2>/dev/null && loaded=$((loaded + 1))
        last=$(sed -n 's/^accepted \([0-9]*\).*/\1/p' "$out" | tail -n 1)
        if [ -n "$last" ]; then from=$((last + 1)); fi
        echo "$from" >>"$TMP/$id.boundary"
        grep -v '^accepted \|^loaded ' "$out" | sed "s/^/    $id run $i: /" || true
    done
    echo "    $id: $KILLS runs killed, $loaded of them resumed a session from the store; then from $from to $TO"
    $VALGRIND "$L" "$DIR" "$MQ_PORT" "$id" "$qos" "$from" "$TO" drain >"$TMP/$id.final" 2>&1
    echo $? >"$TMP/$id.final.rc"
}

# count ID QOS: what the subscriber got of store/ID
count() {
    local id=$1 qos=$2 got dup lost bad
    sed -n "s|^store/$id ||p" "$SUB_OUT" | sort -n | uniq -c >"$TMP/$id.counts"
    got=$(wc -l <"$TMP/$id.counts")
    lost=$(awk -v to="$TO" '{ seen[$2] = 1 } END { n = 0; for (k = 1; k <= to; k++) if (!seen[k]) n++; print n }' "$TMP/$id.counts")
    dup=$(awk 'NR == FNR { b[$1] = 1; next } $1 > 1 && !b[$2] { n++ } END { print n + 0 }' "$TMP/$id.boundary" "$TMP/$id.counts")
    bad=$(awk -v to="$TO" '$2 < 1 || $2 > to { n++ } END { print n + 0 }' "$TMP/$id.counts")
    echo "    $id (QoS $qos): $got distinct numbers of $TO arrived, $lost lost, $dup twice (beyond a kill's own), $bad not sent"
    [ "$lost" = 0 ] || echo "    $id lost: $(awk -v to="$TO" '{ seen[$2] = 1 } END { for (k = 1; k <= to; k++) if (!seen[k]) { if (k != p + 1) { if (s) printf "%s ", (s == p ? s : s "-" p); s = k } p = k } if (s) printf "%s", (s == p ? s : s "-" p) }' "$TMP/$id.counts" | cut -c1-300)"
    COUNT_LOST=$lost COUNT_DUP=$dup COUNT_BAD=$bad
}

# wait_sub ID: until the subscriber has every number of store/ID, or 30 s
wait_sub() {
    local i
    for i in $(seq 1 300); do
        [ "$(sed -n "s|^store/$1 ||p" "$SUB_OUT" | sort -un | wc -l)" -ge "$TO" ] && return 0
        sleep 0.1
    done
}

stream q1 1 0
check "QoS 1: the last run resumes and drains under Valgrind" grep -q '^drained' "$TMP/q1.final"
expect_eq "QoS 1: the last run exits 0 (no Valgrind error, no leak)" 0 "$(cat "$TMP/q1.final.rc")"
wait_sub q1
count q1 1
expect_eq "QoS 1: nothing lost across $KILLS kills" 0 "$COUNT_LOST"
expect_eq "QoS 1: nothing arrives that was never sent" 0 "$COUNT_BAD"

stream q2 2 0
check "QoS 2: the last run resumes and drains under Valgrind" grep -q '^drained' "$TMP/q2.final"
expect_eq "QoS 2: the last run exits 0 (no Valgrind error, no leak)" 0 "$(cat "$TMP/q2.final.rc")"
wait_sub q2
count q2 2
expect_eq "QoS 2: nothing lost across $KILLS kills" 0 "$COUNT_LOST"
expect_eq "QoS 2: nothing delivered twice across $KILLS kills [MQTT-4.3.3]" 0 "$COUNT_DUP"
expect_eq "QoS 2: nothing arrives that was never sent" 0 "$COUNT_BAD"

stream b2 2 1
check "QoS 2, broker stopped and started too: the last run drains under Valgrind" grep -q '^drained' "$TMP/b2.final"
expect_eq "QoS 2, broker stopped and started too: the last run exits 0" 0 "$(cat "$TMP/b2.final.rc")"
wait_sub b2
count b2 2
expect_eq "QoS 2, broker stopped and started too: nothing lost" 0 "$COUNT_LOST"
# mosquitto's own re-sends: PUBLISH again (DUP) to the subscriber after its PUBREC came
RESENT=$(awk '/Received PUBREC from storesub/ { sub(/.*Mid: /, ""); sub(/\).*/, ""); rec[$0] = 1; next }
              /Sending PUBLISH to storesub \(d1, q2/ { m = $0; sub(/.*, m/, "", m); sub(/,.*/, "", m); if (rec[m]) n++ }
              END { print n + 0 }' "$TMP/mosquitto.log")
echo "    mosquitto sent the subscriber $RESENT PUBLISH again after their PUBREC (restored from its saved state)"
check "QoS 2, broker stopped and started too: nothing twice but mosquitto's own re-sends ($COUNT_DUP <= $RESENT)" \
    test "$COUNT_DUP" -le "$RESENT"
expect_eq "QoS 2, broker stopped and started too: nothing arrives that was never sent" 0 "$COUNT_BAD"

# mqttc-pub --store (our extension): QoS 1 lines sent to a broker that answers CONNECT and
# then nothing (so none is acknowledged) stay in the store; mqttc-pub is SIGKILLed; the next
# mqttc-pub with the same -i and --store sends them to mosquitto (a new session there: QoS 1
# goes again as new, section 12).
SILENT_PORT=$(free_port)
python3 -c 'import socket, sys, threading
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1]))); s.listen(8)
def serve(c):
    c.recv(4096); c.sendall(bytes([0x20, 2, 0, 0]))  # CONNACK, then only reads
    while c.recv(4096): pass
while True: threading.Thread(target=serve, args=(s.accept()[0],), daemon=True).start()' "$SILENT_PORT" &
CLEANUP_PIDS+=("$!")
wait_port "$SILENT_PORT"
( for i in 1 2 3 4 5; do echo "line $i"; done; sleep 30 ) |
    "$B/mqttc-pub" -h 127.0.0.1 -p "$SILENT_PORT" -l -q 1 -i clipub --store "$DIR" -t store/cli >"$TMP/cli1.out" 2>&1 &
CLI_PID=$!
sleep 1.5
kill -9 "$CLI_PID" 2>/dev/null
wait "$CLI_PID" 2>/dev/null
check "mqttc-pub --store: the killed run left its 5 lines in the store" grep -c 'line 5' "$DIR/clipub/log"
$VALGRIND "$B/mqttc-pub" -h 127.0.0.1 -p "$MQ_PORT" -n -q 1 -i clipub --store "$DIR" -t store/cli >"$TMP/cli2.out" 2>&1
expect_eq "mqttc-pub --store: the next run exits 0 (Valgrind-clean)" 0 "$?"
for _ in $(seq 1 50); do [ "$(grep -c '^store/cli line' "$SUB_OUT")" -ge 5 ] && break; sleep 0.1; done
expect_eq "mqttc-pub --store: the next run sent the 5 lines the killed one had sent and not seen acknowledged" \
    "line 1|line 2|line 3|line 4|line 5" "$(sed -n 's|^store/cli \(line .*\)|\1|p' "$SUB_OUT" | sort | paste -sd'|')"
"$B/mqttc-pub" -h 127.0.0.1 -p "$MQ_PORT" -n -q 1 -i clipub --store "$DIR" -t store/cli >"$TMP/cli3.out" 2>&1
sleep 0.5
expect_eq "mqttc-pub --store: a third run has nothing left to send again" 5 "$(grep -c '^store/cli line' "$SUB_OUT")"
check "mqttc-pub --store without -i is refused" sh -c "! '$B/mqttc-pub' -p $MQ_PORT -n -t x --store '$DIR' 2>/dev/null"

stream k2 2 9
check "QoS 2, broker SIGKILLed too: the last run drains under Valgrind" grep -q '^drained' "$TMP/k2.final"
expect_eq "QoS 2, broker SIGKILLed too: the last run exits 0" 0 "$(cat "$TMP/k2.final.rc")"
wait_sub k2
count k2 2
echo "    (mosquitto 2.0.11 SIGKILLed every fourth run: what it had not saved is lost, or comes again as new)"
expect_eq "QoS 2, broker SIGKILLed too: nothing arrives that was never sent" 0 "$COUNT_BAD"
finish
