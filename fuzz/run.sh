#!/usr/bin/env bash
# fuzz/run.sh DIR SECONDS TARGET... - runs each fuzz target (DIR/fuzz_TARGET, built by
# mk/fuzz.mk) for SECONDS, in its working corpus DIR/corpus/TARGET seeded from
# fuzz/corpus/TARGET and fuzz/regressions/TARGET. A crash, leak, timeout or failed check
# writes the input to DIR/TARGET-* and fails the target. Prints each target's executions and
# ends with "N passed, N failed" (one per target).
set -u
dir=$1 seconds=$2; shift 2
pass=0 fail=0
for t in "$@"; do
    mkdir -p "$dir/corpus/$t"
    seeds=(fuzz/corpus/"$t")
    [ -d fuzz/regressions/"$t" ] && seeds+=(fuzz/regressions/"$t")
    log=$dir/$t.log
    echo "fuzz: $t for $seconds s (log $log)"
    "$dir/fuzz_$t" -max_total_time="$seconds" -print_final_stats=1 -timeout=10 -rss_limit_mb=2048 \
        -artifact_prefix="$dir/$t-" "$dir/corpus/$t" "${seeds[@]}" >"$log" 2>&1
    rc=$?
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
    speed=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log")
    rss=$(sed -n 's/^stat::peak_rss_mb: *//p' "$log")
    corpus=$(find "$dir/corpus/$t" -type f | wc -l)
    if [ "$rc" -eq 0 ] && [ -n "$execs" ]; then
        pass=$((pass + 1))
        echo "ok - $t: ${execs} executions (${speed}/s), corpus ${corpus} inputs, peak RSS ${rss} MB, nothing found"
    else
        fail=$((fail + 1))
        grep -E 'ERROR|SUMMARY|fuzz_[a-z]+: |Test unit written' "$log" | head -n 20 | sed 's/^/    /'
        echo "not ok - $t: exit $rc after ${execs:-?} executions (log $log)"
    fi
done
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
