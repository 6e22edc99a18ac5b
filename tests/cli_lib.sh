# tests/cli_lib.sh - running mosquitto's tools and ours side by side, for t_cli.sh and
# t_cli5.sh (sourced after lib.sh; PUB and SUB name our tools, W the round's directory).
declare -A PID RC
# pub ours|mosq ARGS...: a publisher in the foreground
pub() {
    local tool=$1; shift
    if [ "$tool" = ours ]; then $VALGRIND "$PUB" "$@"; else mosquitto_pub "$@"; fi
}
# pub_input TEXT ARGS...: our publisher reading TEXT (printf %b) from stdin
pub_input() {
    local text=$1; shift
    printf '%b' "$text" | $VALGRIND "$PUB" "$@"
}
# start_sub NAME ours|mosq ARGS...: a subscriber in the background with -d (so its SUBACK can
# be awaited); stdout in $W/NAME.out, stderr in $W/NAME.err
start_sub() {
    local name=$1 tool=$2; shift 2
    if [ "$tool" = ours ]; then
        $VALGRIND "$SUB" -d "$@" >"$W/$name.out" 2>"$W/$name.err" &
    else
        stdbuf -oL mosquitto_sub -d "$@" >"$W/$name.out" 2>"$W/$name.err" & # its -d lines unbuffered
    fi
    PID[$name]=$!
    CLEANUP_PIDS+=("$!")
}
# wait_text FILE TEXT [SECONDS]: until FILE contains TEXT (default 20 s)
wait_text() {
    local i
    for i in $(seq 1 $((${3:-20} * 20))); do
        grep -q -a -F -- "$2" "$1" 2>/dev/null && return 0
        sleep 0.05
    done
    echo "timed out waiting for '$2' in $1" >&2
    return 1
}
# subscribed NAME...: until each subscriber has printed its SUBACK line; a failure counts
subscribed() {
    local n
    for n in "$@"; do
        wait_text "$W/$n.out" "Subscribed (mid:" || { not_ok "${BR:+$BR: }$n subscribed"; return 1; }
    done
}
# reap NAME...: waits (up to 20 s, then kills) for each subscriber to exit; RC[NAME]
reap() {
    local n i
    for n in "$@"; do
        for i in $(seq 1 400); do kill -0 "${PID[$n]}" 2>/dev/null || break; sleep 0.05; done
        kill "${PID[$n]}" 2>/dev/null && echo "$n did not exit by itself" >&2
        wait "${PID[$n]}"
        RC[$n]=$?
    done
}
# payload NAME: what the subscriber printed, without the -d lines (which -N may have glued to
# the end of a payload)
payload() {
    perl -0777 -pe 's/Client \S+ (?:sending|received) [^\n]*\n//g; s/Subscribed \(mid: [^\n]*\n//g' "$W/$1.out"
}
# same_output LABEL MOSQ OURS EXPECTED: both printed EXPECTED and exited alike
same_output() {
    expect_eq "$1: mosquitto_sub prints" "$4" "$(payload "$2")"
    expect_eq "$1: mqttc-sub prints the same" "$4" "$(payload "$3")"
    expect_eq "$1: same exit code (${RC[$2]})" "${RC[$2]}" "${RC[$3]}"
}
# debug_lines NAME: the -d lines with the client id replaced (mosquitto's is "(null)")
debug_lines() { grep -a -E '^(Client|Subscribed)' "$W/$1.out" | sed 's/^Client [^ ]* /Client ID /'; }
