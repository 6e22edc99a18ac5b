#!/usr/bin/env bash
# The README's claims: its complete program compiles as C99 and C++ and works against the
# broker; its event-loop snippet compiles and runs; the transports snippet through a SOCKS5
# proxy; the MQTT 5 program works against mosquitto; the store snippet opens a store;
# `make install` honours PREFIX/DESTDIR.
. "$(dirname "$0")/lib.sh"
CC=${CC:-cc}
CXX=${CXX:-c++}
# the first ```c block is the complete program; the second the event-loop snippet
awk '/^```c$/{n++; on=1; next} /^```$/{on=0} on && n==1' README.md >"$TMP/quick.c"
awk '/^```c$/{n++; on=1; next} /^```$/{on=0} on && n==2' README.md >"$TMP/loop_body.c"
check "README program is in the README" test -s "$TMP/quick.c"
check "README program compiles as C99 (-Wall -Wextra -Werror)" \
    $CC -std=c99 -D_POSIX_C_SOURCE=200809L -Wall -Wextra -Werror -I. -o "$TMP/quick" "$TMP/quick.c"
check "README program compiles as C++" \
    $CXX -x c++ -Wall -Wextra -Werror -Wno-missing-field-initializers -I. -o "$TMP/quick_cxx" "$TMP/quick.c"

# Run it against minibroker: 1883 is replaced by the broker's port, which is the only edit.
start_minibroker
sed "s/1883/$MB_PORT/" "$TMP/quick.c" >"$TMP/quick_port.c"
$CC -std=c99 -D_POSIX_C_SOURCE=200809L -Wall -Wextra -Werror -I. -o "$TMP/quick_port" "$TMP/quick_port.c"
$VALGRIND "$TMP/quick_port" >"$TMP/quick.out" 2>&1 &
prog=$!
for _ in $(seq 1 200); do grep -q 'sensors/hello hi' "$TMP/quick.out" && break; sleep 0.05; done
stop_pid "$MB_PID" # the broker goes away: mqttc_run returns "closed"
wait "$prog"
rc=$?
expect_eq "README program receives its own message" "sensors/hello hi" "$(grep -m1 sensors "$TMP/quick.out")"
expect_eq "README program ends with \"closed\" when the broker goes" "ended: closed" "$(tail -n1 "$TMP/quick.out")"
expect_eq "README program exits 0, Valgrind-clean" 0 "$rc"

# The event-loop snippet, wrapped in a main that connects; `done` is the only name the
# snippet leaves to its program. Run twice: the broker goes away ("closed"), and the program
# disconnects as soon as it is connected ("disconnect": this loop once hung for ever, as
# mqttc_disconnect closed at once and left poll an fd of -1 and no timeout).
loop_program() { # file, definition of done
    {
        echo '#include <poll.h>'
        echo '#define MQTTC_IMPLEMENTATION'
        echo '#include "mqttc.h"'
        echo '#include <stdio.h>'
        echo 'int main(void) { mqttc_client c; mqttc_init(&c, NULL);'
        echo "$2"
        sed "s/1883/$MB_PORT/" "$TMP/loop_body.c"
        echo 'printf("loop ended: %s, closed %d\n", mqttc_errname(mqttc_error(&c)), mqttc_state(&c) == MQTTC_STATE_CLOSED); mqttc_deinit(&c); return 0; }'
    } >"$1"
}
start_minibroker
loop_program "$TMP/loop.c" 'int done = 0;'
check "README event-loop snippet compiles" \
    $CC -std=c99 -D_POSIX_C_SOURCE=200809L -Wall -Wextra -Werror -I. -o "$TMP/loop" "$TMP/loop.c"
$VALGRIND "$TMP/loop" >"$TMP/loop.out" 2>&1 &
prog=$!
# wait until the client's TCP connection to the broker is established (then CONNACK follows)
for _ in $(seq 1 200); do
    ss -Htn state established "( dport = :$MB_PORT )" 2>/dev/null | grep -q . && break
    sleep 0.05
done
sleep 0.3 # CONNECT/CONNACK on loopback
stop_pid "$MB_PID"
wait "$prog"
expect_eq "README event-loop snippet connects, then ends with \"closed\"" "loop ended: closed, closed 1" "$(tail -n1 "$TMP/loop.out")"

start_minibroker
loop_program "$TMP/loop_done.c" '#define done (mqttc_state(&c) == MQTTC_STATE_CONNECTED)'
$CC -std=c99 -D_POSIX_C_SOURCE=200809L -Wall -Wextra -Werror -I. -o "$TMP/loop_done" "$TMP/loop_done.c"
timeout 30 $VALGRIND "$TMP/loop_done" >"$TMP/loop_done.out" 2>&1
expect_eq "README event-loop snippet ends by itself after mqttc_disconnect (exit 0, within 30 s)" \
    "0 loop ended: disconnect, closed 1" "$? $(tail -n1 "$TMP/loop_done.out")"
stop_pid "$MB_PID"

# The staying-connected options compile and init (their behaviour is test_reconnect's and
# t_reconnect's)
awk '/^```c$/{n++; on=1; next} /^```$/{on=0} on && n==3' README.md >"$TMP/stay_body.c"
{
    echo '#define MQTTC_IMPLEMENTATION'
    echo '#include "mqttc.h"'
    echo 'int main(void) { mqttc_client c;'
    cat "$TMP/stay_body.c"
    echo 'int rc = mqttc_init(&c, &o); mqttc_deinit(&c); return rc == MQTTC_OK ? 0 : 1; }'
} >"$TMP/stay.c"
check "README staying-connected snippet compiles and its options init" \
    sh -c "$CC -std=c99 -D_POSIX_C_SOURCE=200809L -Wall -Wextra -Werror -I. -o $TMP/stay $TMP/stay.c && $TMP/stay"

# The TLS snippet compiles with OpenSSL (its behaviour is tests/t_tls.sh's)
awk '/^```c$/{n++; on=1; next} /^```$/{on=0} on && n==4' README.md >"$TMP/tls_body.c"
{
    echo '#define MQTTC_WITH_OPENSSL'
    echo '#define MQTTC_IMPLEMENTATION'
    echo '#include "mqttc.h"'
    echo 'int main(void) { mqttc_client c; int rc;'
    cat "$TMP/tls_body.c"
    echo 'mqttc_deinit(&c); return rc == MQTTC_OK ? 0 : 1; }'
} >"$TMP/tls.c"
check "README TLS snippet compiles with MQTTC_WITH_OPENSSL" \
    $CC -std=c99 -D_POSIX_C_SOURCE=200809L -Wall -Wextra -Werror -I. -o "$TMP/tls" "$TMP/tls.c" -lssl -lcrypto
check "README TLS snippet runs and fails cleanly (no broker.example here), no crash" \
    sh -c "cd $TMP && ! $TMP/tls"

# The transports snippet: compiles with OpenSSL, and through a real SOCKS5 proxy (microsocks
# with the snippet's user name and password, on a free port for its 1080) its wss:// URL
# reaches the proxy, which cannot resolve broker.example: the error says "proxy" and why.
awk '/^```c$/{n++; on=1; next} /^```$/{on=0} on && n==5' README.md >"$TMP/tr_body.c"
PX_PORT=$(free_port)
{
    echo '#define MQTTC_WITH_OPENSSL'
    echo '#define MQTTC_IMPLEMENTATION'
    echo '#include "mqttc.h"'
    echo '#include <stdio.h>'
    echo 'int main(void) { mqttc_client c; int rc;'
    sed "s/127.0.0.1:1080/127.0.0.1:$PX_PORT/" "$TMP/tr_body.c"
    echo 'mqttc_deinit(&c); return rc == MQTTC_ERR_PROXY ? 0 : 1; }'
} >"$TMP/tr.c"
check "README transports snippet compiles with MQTTC_WITH_OPENSSL" \
    $CC -std=c99 -D_POSIX_C_SOURCE=200809L -Wall -Wextra -Werror -I. -o "$TMP/tr" "$TMP/tr.c" -lssl -lcrypto
microsocks -i 127.0.0.1 -p "$PX_PORT" -u user -P pass >"$TMP/microsocks.log" 2>&1 &
PX_PID=$!
wait_port "$PX_PORT"
timeout 30 $VALGRIND "$TMP/tr" >"$TMP/tr.out" 2>&1
expect_eq "README transports snippet ends \"proxy\" through microsocks, Valgrind-clean" 0 "$?"
expect_eq "README transports snippet prints the proxy's reply" "proxy: socks5: general SOCKS server failure" "$(cat "$TMP/tr.out")"
stop_pid "$PX_PID"

# The MQTT 5 program, against mosquitto speaking MQTT 5: it sees its own message with the
# properties it sent, then disconnects.
awk '/^```c$/{n++; on=1; next} /^```$/{on=0} on && n==6' README.md >"$TMP/v5.c"
check "README MQTT 5 program compiles as C99" \
    $CC -std=c99 -D_POSIX_C_SOURCE=200809L -Wall -Wextra -Werror -I. -o "$TMP/v5" "$TMP/v5.c"
check "README MQTT 5 program compiles as C++" \
    $CXX -x c++ -Wall -Wextra -Werror -Wno-missing-field-initializers -I. -o "$TMP/v5_cxx" "$TMP/v5.c"
start_mosquitto
sed "s/1883/$MQ_PORT/" "$TMP/v5.c" >"$TMP/v5_port.c"
$CC -std=c99 -D_POSIX_C_SOURCE=200809L -Wall -Wextra -Werror -I. -o "$TMP/v5_port" "$TMP/v5_port.c"
timeout 30 $VALGRIND "$TMP/v5_port" >"$TMP/v5.out" 2>&1
expect_eq "README MQTT 5 program exits 0, Valgrind-clean" 0 "$?"
expect_eq "README MQTT 5 program gets its message with content type and user property" \
    "sensors/temp 21.5|  content type text/plain|  unit = celsius|ended: disconnect" "$(paste -sd'|' "$TMP/v5.out")"
stop_pid "$MQ_PID"

# The durable store snippet: compiles, opens a store (in place of /var/lib/myapp/mqtt) and
# loads it into a client, Valgrind-clean; the store's directory is made for the client id.
awk '/^```c$/{n++; on=1; next} /^```$/{on=0} on && n==7' README.md >"$TMP/store_body.c"
{
    echo '#define MQTTC_IMPLEMENTATION'
    echo '#include "mqttc.h"'
    echo 'int main(void) { mqttc_client c;'
    sed "s|/var/lib/myapp/mqtt|$TMP/store|" "$TMP/store_body.c"
    echo 'return rc == MQTTC_OK ? 0 : 1; }'
} >"$TMP/store.c"
check "README store snippet compiles as C99" \
    $CC -std=c99 -D_POSIX_C_SOURCE=200809L -Wall -Wextra -Werror -I. -o "$TMP/store_snippet" "$TMP/store.c"
check "README store snippet opens its store and inits, Valgrind-clean" $VALGRIND "$TMP/store_snippet"
check "README store snippet: the store is dir/<client id>/log" test -f "$TMP/store/sensor-17/log"

# make install with PREFIX and DESTDIR
make --no-print-directory -s install DESTDIR="$TMP/dest" PREFIX=/opt/mq >/dev/null 2>&1
check "make install puts mqttc.h under DESTDIR/PREFIX/include" cmp mqttc.h "$TMP/dest/opt/mq/include/mqttc.h"
check "make install puts minibroker under DESTDIR/PREFIX/bin" test -x "$TMP/dest/opt/mq/bin/minibroker"
finish
