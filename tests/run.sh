#!/usr/bin/env bash
# tests/run.sh - runs every suite and adds up their "N passed, N failed" lines.
#   C suites:      build/test_*      (each under Valgrind, or as built with SANITIZE=1)
#   script suites: tests/t_*.sh      (they run their own programs under $VALGRIND)
# A suite that exits non-zero without reporting a failure counts one failure more, so a
# crash, a Valgrind error or a leak can never pass. Ends with "N passed, N failed".
set -u
cd "$(dirname "$0")/.."
export MQTTC_ROOT=$PWD
if [ "${SANITIZE:-0}" = 1 ]; then
    export VALGRIND=""
else
    export VALGRIND="valgrind -q --error-exitcode=99 --leak-check=full --show-leak-kinds=definite,indirect,possible --errors-for-leak-kinds=definite,indirect,possible --track-fds=no"
fi
total_pass=0 total_fail=0 failed_suites=()
run_suite() { # name, command...
    local name=$1; shift
    local log=${MQTTC_BUILD:-build}/logs/$name.log
    mkdir -p "$(dirname "$log")"
    local start=$SECONDS
    # a suite that hangs is killed and counted as failed; it never blocks the run
    timeout -k 10 "${SUITE_TIMEOUT:-900}" "$@" >"$log" 2>&1
    local rc=$?
    [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ] && echo "  suite timed out after ${SUITE_TIMEOUT:-900} s" >>"$log"
    local line p=0 f=0
    line=$(grep -E '^([A-Za-z-]+: )?[0-9]+ passed, [0-9]+ failed' "$log" | tail -n 1)
    if [ -n "$line" ]; then
        p=$(echo "$line" | sed -E 's/^([A-Za-z-]+: )?([0-9]+) passed.*/\2/')
        f=$(echo "$line" | sed -E 's/.* ([0-9]+) failed.*/\1/')
    fi
    if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then f=$((f + 1)); fi
    if [ -z "$line" ] && [ "$rc" -eq 0 ]; then f=$((f + 1)); echo "  (suite printed no count)" >>"$log"; fi
    total_pass=$((total_pass + p)); total_fail=$((total_fail + f))
    printf '%-28s %4d passed, %d failed  (%ds)\n' "$name" "$p" "$f" $((SECONDS - start))
    if [ "$f" -ne 0 ]; then
        failed_suites+=("$name")
        grep -E '^not ok|CHECK|FAIL|==[0-9]+==|error|Error' "$log" | head -n 40 | sed 's/^/    /'
    fi
}
only=${TESTS:-}
BUILD_DIR=${MQTTC_BUILD:-$PWD/build}
for bin in "$BUILD_DIR"/test_*; do
    [ -x "$bin" ] || continue
    name=$(basename "$bin")
    [ -n "$only" ] && [[ "$name" != *$only* ]] && continue
    # shellcheck disable=SC2086
    run_suite "$name" $VALGRIND "$bin"
done
for script in tests/t_*.sh; do
    [ -f "$script" ] || continue
    name=$(basename "$script" .sh)
    [ -n "$only" ] && [[ "$name" != *$only* ]] && continue
    run_suite "$name" bash "$script"
done
[ ${#failed_suites[@]} -gt 0 ] && echo "failed suites: ${failed_suites[*]} (logs in ${MQTTC_BUILD:-build}/logs/)"
echo "${total_pass} passed, ${total_fail} failed"
[ "$total_fail" -eq 0 ]
