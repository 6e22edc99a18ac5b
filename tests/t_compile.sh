#!/usr/bin/env bash
# The compile matrix, the one place it is defined: the header compiles warning-free (-Wall
# -Wextra -Werror) as C99 (pedantic) and as C++, with gcc and clang, with and without
# MQTTC_STATIC, without sockets, with OpenSSL, without MQTT 5, reconnect, WebSocket, proxies or the store, and with MQTTC_DEF set
# by the user.
. "$(dirname "$0")/lib.sh"
src=tests/compile_check.c
W="-Wall -Wextra -Werror"
for cc in gcc clang; do
    for defs in "" "-DMQTTC_STATIC" "-DMQTTC_NO_SOCKETS" "-DMQTTC_WITH_OPENSSL" "-DMQTTC_WITH_OPENSSL -DMQTTC_STATIC" \
                "-DMQTTC_WITH_OPENSSL -DMQTTC_NO_SOCKETS" "-DMQTTC_NO_MQTT5" "-DMQTTC_NO_MQTT5 -DMQTTC_STATIC" \
                "-DMQTTC_NO_RECONNECT" "-DMQTTC_NO_MQTT5 -DMQTTC_NO_RECONNECT -DMQTTC_NO_SOCKETS" \
                "-DMQTTC_NO_WEBSOCKET" "-DMQTTC_NO_PROXY" "-DMQTTC_NO_WEBSOCKET -DMQTTC_NO_PROXY -DMQTTC_NO_STORE -DMQTTC_WITH_OPENSSL" \
                "-DMQTTC_NO_STORE" "-DMQTTC_NO_STORE -DMQTTC_STATIC" \
                "-DMQTTC_NO_INDEX" "-DMQTTC_NO_INDEX -DMQTTC_STATIC" \
                "-DMQTTC_NO_MQTT5 -DMQTTC_NO_RECONNECT -DMQTTC_NO_WEBSOCKET -DMQTTC_NO_PROXY -DMQTTC_NO_STORE -DMQTTC_NO_INDEX"; do
        check "$cc C99 $defs" $cc -std=c99 -pedantic $W $defs -I. -c $src -o "$TMP/o.o"
    done
done
for cxx in g++ clang++; do
    for defs in "" "-DMQTTC_STATIC" "-DMQTTC_WITH_OPENSSL" "-DMQTTC_NO_MQTT5" "-DMQTTC_NO_WEBSOCKET -DMQTTC_NO_PROXY -DMQTTC_NO_STORE" "-DMQTTC_NO_INDEX"; do
        check "$cxx C++11 $defs" $cxx -x c++ -std=c++11 $W $defs -I. -c $src -o "$TMP/o.o"
    done
done
# MQTTC_DEF is the user's to set (here: exported from a shared object)
check "gcc C99 with MQTTC_DEF set by the user" \
    gcc -std=c99 -pedantic $W '-DMQTTC_DEF=extern __attribute__((visibility("default")))' -fvisibility=hidden \
    -I. -c $src -o "$TMP/o.o"
# declarations alone (no implementation) in a second unit link with the implementation
printf '#include "mqttc.h"\nint other_unit(void);\nint other_unit(void) { return mqttc_topic_matches("a/#", 3, "a/b", 3); }\n' >"$TMP/other.c"
printf '#define _POSIX_C_SOURCE 200809L\n#define MQTTC_IMPLEMENTATION\n#include "mqttc.h"\nint other_unit(void);\nint main(void) { return other_unit() == 1 ? 0 : 1; }\n' >"$TMP/impl.c"
check "two units: declarations in one, implementation in the other, link and run" \
    sh -c "gcc -std=c99 $W -I. -c $TMP/other.c -o $TMP/other.o && gcc -std=c99 $W -I. $TMP/impl.c $TMP/other.o -o $TMP/two && $TMP/two"
finish
