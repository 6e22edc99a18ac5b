#!/usr/bin/env bash
# tests/t_fuzz_corpus.sh - every fuzz target replayed over its seed corpus (fuzz/corpus/<target>)
# and over saved regression inputs (fuzz/regressions/<target>, inputs that once failed),
# without libFuzzer, under $VALGRIND (or as built with SANITIZE=1): the checks inside each
# target (fuzz/fuzz_<target>.c) abort on any broken property, Valgrind on memory errors and
# leaks. `make test` builds the replayers build/fuzz_replay_<target> (mk/fuzz.mk).
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

for t in decode client minibroker ws proxy store; do
    bin=$B/fuzz_replay_$t
    dirs=(fuzz/corpus/$t)
    [ -d fuzz/regressions/$t ] && dirs+=(fuzz/regressions/$t)
    n=$(find "${dirs[@]}" -type f | wc -l)
    if [ ! -x "$bin" ]; then not_ok "$t: $bin missing (make test builds it)"; continue; fi
    [ "$n" -gt 0 ] || { not_ok "$t: no seed inputs in fuzz/corpus/$t"; continue; }
    # shellcheck disable=SC2086
    out=$($VALGRIND "$bin" "${dirs[@]}" 2>&1)
    rc=$?
    echo "$out" | tail -n 20 | sed "s/^/    /"
    expect_eq "$t: $n inputs replayed, exit 0" "0 $n passed, 0 failed" "$rc $(echo "$out" | tail -n 1)"
done
finish
