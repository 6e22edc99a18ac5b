#!/usr/bin/env bash
# fuzz/minimize.sh DIR TARGET... - rewrites the committed corpus fuzz/corpus/TARGET as the
# smallest set of inputs that reaches every edge (libFuzzer -merge=1, edges only:
# -use_counters=0) that it and the working corpus of `make fuzz` (DIR/corpus/TARGET) reach.
# The merge goes into a fresh directory that starts with the named seeds (files whose name
# is not a SHA-1: fuzz/make_seeds.c's and the hand-written ones), so they always stay;
# libFuzzer adds the inputs that reach more, named by their SHA-1. Run `make fuzz` first
# (FUZZ_TIME=180 or more) to grow the working corpus. Prints the counts before and after.
set -eu
dir=$1; shift
for t in "$@"; do
    fresh=$dir/minimized/$t
    rm -rf "$fresh"
    mkdir -p "$fresh" "$dir/corpus/$t"
    for f in fuzz/corpus/"$t"/*; do
        [ -f "$f" ] || continue
        [[ "$(basename "$f")" =~ ^[0-9a-f]{40}$ ]] || cp "$f" "$fresh/"
    done
    seeds=$(find "$fresh" -type f | wc -l)
    before=$(find fuzz/corpus/"$t" -type f | wc -l)
    "$dir/fuzz_$t" -merge=1 -use_counters=0 "$fresh" fuzz/corpus/"$t" "$dir/corpus/$t" >"$dir/minimize-$t.log" 2>&1 ||
        { tail -n 20 "$dir/minimize-$t.log"; exit 1; }
    rm -f fuzz/corpus/"$t"/*
    cp "$fresh"/* fuzz/corpus/"$t"/
    echo "$t: $before inputs and $(find "$dir/corpus/$t" -type f | wc -l) working ones -> $(find fuzz/corpus/"$t" -type f | wc -l) ($seeds named seeds)"
done
