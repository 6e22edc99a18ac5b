#!/usr/bin/env bash
# The Lua module require"mqttc" (mqttc_lua.c): the suites of tests/lua/ under Lua 5.4 (inside
# Valgrind: no error, no leak), Lua 5.1 and LuaJIT, against private minibrokers and mosquittos
# on loopback (plain, refusing with each CONNACK code, not answering pings, TLS with trusted,
# self-signed and wrong-name certificates made now, default-configured and frozen mosquittos
# with mosquitto_sub counting), create() (MQTT 5: tests/lua/create.lua, with minibrokers of its
# own killed and restarted, mosquitto_sub/_pub -V 5 as peers), and the rockspec through luarocks make.
#   LUA_VARIANTS="lua5.1"  bash tests/t_lua.sh     only some interpreters
. "$(dirname "$0")/lib.sh"
read -r -a VARIANTS <<<"${LUA_VARIANTS:-lua5.4 lua5.1 luajit}"
for v in "${VARIANTS[@]}"; do
    if [ ! -f "$B/$v/mqttc.so" ]; then
        not_ok "build/$v/mqttc.so is built (make lua-all)"
        finish
    fi
done

# Brokers every variant may share (they keep no state between connections)...
ports=()
for code in 1 2 3 4 5; do start_minibroker --connack "$code"; ports+=("$MB_PORT"); done
export MB_CONNACK_PORTS="${ports[*]}"
start_minibroker --no-pingresp; export MB_NOPING_PORT=$MB_PORT

export CERTS=$TMP/certs
chmod 755 "$TMP" # mosquitto started as root reads the certificates as its own user
check "certificates made with the openssl command (tests/tls/make-certs.sh)" bash tests/tls/make-certs.sh "$CERTS"
chmod -R a+rX "$CERTS"
tls_mosquitto() { # cert-name: a TLS mosquitto with that server certificate; sets MQ_PORT
    start_mosquitto "cafile $CERTS/ca.crt" "certfile $CERTS/$1.crt" "keyfile $CERTS/$1.key"
}
tls_mosquitto selfsigned; export TLS_SELF_PORT=$MQ_PORT
tls_mosquitto wronghost; export TLS_WRONG_PORT=$MQ_PORT

# Transports: a mosquitto with a plain and a websockets listener, microsocks with a login.
start_mosquitto "listener $(free_port) 127.0.0.1" "protocol websockets"
WS_MQ_PORT=$MQ_PORT
WS_PORT=$(sed -n 's/^listener \([0-9]*\) 127.0.0.1$/\1/p' "$TMP/mosquitto.$MQ_PORT.conf" | tail -1)
export WS_MQ_PORT WS_PORT
wait_port "$WS_PORT" || not_ok "mosquitto's websockets listener on $WS_PORT"
SOCKS_PORT=$(free_port)
microsocks -i 127.0.0.1 -p "$SOCKS_PORT" -u u -P p >"$TMP/microsocks.log" 2>&1 &
CLEANUP_PIDS+=($!)
wait_port "$SOCKS_PORT" || not_ok "microsocks on $SOCKS_PORT"
export SOCKS_PORT

# ... and brokers of each variant's own: the suites use fixed client ids and topics, and the
# variants run at the same time.
# MQ is a default-configured mosquitto (no extra lines: its limits are the ones people run).
declare -A MB MQ TLS KILL KILL_PID FROZEN FROZEN_PID
for v in "${VARIANTS[@]}"; do
    start_minibroker; MB[$v]=$MB_PORT
    start_minibroker; KILL[$v]=$MB_PORT KILL_PID[$v]=$MB_PID # "closed": errors.lua kills it
    start_mosquitto; MQ[$v]=$MQ_PORT
    start_mosquitto; FROZEN[$v]=$MQ_PORT FROZEN_PID[$v]=$MQ_PID # flow.lua stops it (SIGSTOP)
    tls_mosquitto server; TLS[$v]=$MQ_PORT
done

# Built with SANITIZE=1 the module needs the sanitizer runtimes loaded first (no Valgrind).
SAN_PRELOAD=""
if [ "${SANITIZE:-0}" = 1 ]; then
    SAN_PRELOAD="$(cc -print-file-name=libasan.so) $(cc -print-file-name=libubsan.so)"
fi

# lua_suite VARIANT SUITE LABEL [VAR=VALUE...]: runs tests/lua/SUITE.lua (lua5.4 under
# $VALGRIND); its "ok"/"not ok" lines count here, prefixed with the variant and label; a
# crash, a timeout or a Valgrind error (exit 99) is one failure more.
lua_suite() {
    local v=$1 suite=$2 label=$3 out=$TMP/lua.$RANDOM.out vg="" t0=$SECONDS
    shift 3
    [ "$v" = lua5.4 ] && vg=$VALGRIND
    # shellcheck disable=SC2086
    env "$@" LUA_CPATH="$B/$v/?.so;;" LUA_BIN="$v" ${SAN_PRELOAD:+LD_PRELOAD="$SAN_PRELOAD"} \
        timeout 300 $vg "$v" "tests/lua/$suite.lua" >"$out" 2>&1
    local rc=$?
    echo "    ($label under $v: $((SECONDS - t0)) s)"
    sed -e "s|^ok - $suite|ok - [$v] $label|" -e "s|^not ok - $suite|not ok - [$v] $label|" \
        -e 's/^\([0-9]* passed, [0-9]* failed\)/    (\1)/' "$out"
    local p f
    p=$(grep -c '^ok - ' "$out")
    f=$(grep -c '^not ok - ' "$out")
    T_PASS=$((T_PASS + p))
    T_FAIL=$((T_FAIL + f))
    if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then not_ok "[$v] $label exited with $rc (crash, timeout or Valgrind)"; fi
    grep -q '^[0-9]* passed, [0-9]* failed' "$out" || not_ok "[$v] $label printed no count"
}

# run_variant V: every suite under interpreter V; its counts go to $TMP/count.V
run_variant() {
    local v=$1 mb=${MB[$1]} mq=${MQ[$1]}
    T_PASS=0 T_FAIL=0
    export MB_PORT=$mb MB_KILL_PORT=${KILL[$v]} MB_KILL_PID=${KILL_PID[$v]} TLS_PORT=${TLS[$v]}
    lua_suite "$v" args args
    lua_suite "$v" errors errors
    lua_suite "$v" features "features/minibroker" BROKER_PORT="$mb" BROKER_NAME="mb"
    lua_suite "$v" features "features/mosquitto" BROKER_PORT="$mq" BROKER_NAME="mq"
    lua_suite "$v" examples "examples/minibroker" BROKER_PORT="$mb" BROKER_NAME="mb"
    lua_suite "$v" examples "examples/mosquitto" BROKER_PORT="$mq" BROKER_NAME="mq" WITH_TLS=1
    lua_suite "$v" cosocket "cosocket/minibroker" BROKER_PORT="$mb"
    lua_suite "$v" cosocket "cosocket/mosquitto" BROKER_PORT="$mq"
    lua_suite "$v" async "async" BROKER_PORT="$mb"
    lua_suite "$v" flow "flow" BROKER_PORT="$mq" FROZEN_PORT="${FROZEN[$v]}" FROZEN_PID="${FROZEN_PID[$v]}"
    kill -CONT "${FROZEN_PID[$v]}" 2>/dev/null # should flow.lua have ended while it was stopped
    lua_suite "$v" readme "readme" BROKER_PORT="$mb"
    lua_suite "$v" create "create (MQTT 5)" BROKER_PORT="$mq" MINIBROKER="$B/minibroker"
    lua_suite "$v" transports "transports" BROKER_PORT="$WS_MQ_PORT"
    lua_suite "$v" store "store" BROKER_PORT="$mq"
    echo "$T_PASS $T_FAIL" >"$TMP/count.$v"
}

# The variants side by side (Valgrind makes lua5.4 the long one); logs in order afterwards.
jobs_started=()
for v in "${VARIANTS[@]}"; do
    run_variant "$v" >"$TMP/variant.$v.log" 2>&1 &
    jobs_started+=($!)
done
for j in "${jobs_started[@]}"; do wait "$j"; done
for v in "${VARIANTS[@]}"; do
    cat "$TMP/variant.$v.log"
    if [ -f "$TMP/count.$v" ]; then
        read -r p f <"$TMP/count.$v"
        T_PASS=$((T_PASS + p)) T_FAIL=$((T_FAIL + f))
    else
        not_ok "[$v] the suites did not report (see above)"
    fi
done

# Built without OpenSSL: op.secure is refused before any I/O, plain connections work.
notls() {
    env ${SAN_PRELOAD:+LD_PRELOAD="$SAN_PRELOAD"} LUA_CPATH="$B/lua-notls/?.so" lua5.4 -e "
        local mqttc = require'mqttc'
        local ok, err = pcall(mqttc.connect, 'localhost', print, {secure = true})
        assert(err == 'opt.secure: this mqttc module was built without TLS (OpenSSL)', err)
        local m = assert(mqttc.connect('127.0.0.1', print, {port = ${MB[${VARIANTS[0]}]}}))
        m:close()"
}
check "the module built without OpenSSL refuses op.secure and connects in plain text" notls

# The rockspec: luarocks make builds and installs the module (builtin build type), from a
# copy of the sources (luarocks make leaves its objects in the tree it builds).
rock() { # lua-version interpreter
    local src=$TMP/rock-src-$1 tree=$TMP/rock-tree
    mkdir -p "$src/rockspecs"
    cp mqttc_lua.c mqttc.h "$src/" && cp rockspecs/mqttc-0.1.0-1.rockspec "$src/rockspecs/"
    (cd "$src" && luarocks --lua-version="$1" make --tree="$tree" rockspecs/mqttc-0.1.0-1.rockspec) \
        >"$TMP/rock-$1.log" 2>&1 || { cat "$TMP/rock-$1.log"; return 1; }
    [ -f "$tree/lib/lua/$1/mqttc.so" ] || { echo "no $tree/lib/lua/$1/mqttc.so"; return 1; }
    LUA_CPATH="$tree/lib/lua/$1/?.so" "$2" -e "
        local mqttc = require'mqttc'
        assert(mqttc._VERSION == '0.1.0', mqttc._VERSION)
        local m = assert(mqttc.connect('localhost', function() end,
            {port = ${TLS[${VARIANTS[0]}]}, secure = true, cafile = '$CERTS/ca.crt', verify = true}))
        assert(m:publish('rock/x', 'installed by luarocks'))
        m:close()"
}
check "luarocks make (Lua 5.4) installs a module that connects over TLS" rock 5.4 lua5.4
check "luarocks make (Lua 5.1) installs a module that connects over TLS" rock 5.1 lua5.1
finish
