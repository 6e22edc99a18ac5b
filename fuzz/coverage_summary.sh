#!/usr/bin/env bash
# fuzz/coverage_summary.sh INFO HEADER - line and branch coverage of HEADER from an lcov
# tracefile, in total and per section of the implementation (the `/* >>name` markers:
# util, codec, session, transport, client, blocking, tls). Lines and branches the build
# never compiled (another #ifdef) are not in the tracefile and do not count.
set -eu
info=$1 header=$2
# the first line of each section after "#ifdef MQTTC_IMPLEMENTATION"
sections=$(awk '/^#ifdef MQTTC_IMPLEMENTATION/ {impl = 1}
                impl && match($0, /^\/\* >>[a-z]+/) { print NR, substr($0, RSTART + 5, RLENGTH - 5) }' "$header")
awk -v sections="$sections" '
    BEGIN {
        n = split(sections, parts, /[ \n]/)
        for (i = 1; i < n; i += 2) { start[++ns] = parts[i] + 0; name[ns] = parts[i + 1] }
    }
    function section(line,   i, s) { s = "declarations"; for (i = 1; i <= ns; i++) if (line >= start[i]) s = name[i]; return s }
    /^SF:/ { file = $0 }
    file !~ /mqttc\.h$/ { next }
    /^DA:/ { split(substr($0, 4), f, ","); s = section(f[1]); lines[s]++; if (f[2] > 0) hit[s]++ }
    /^BRDA:/ { split(substr($0, 6), f, ","); s = section(f[1]); br[s]++; if (f[4] != "-" && f[4] > 0) taken[s]++ }
    function pct(a, b) { return b ? sprintf("%5.1f%%", 100 * a / b) : "    -" }
    function row(label, h, l, t, b) { printf "%-22s lines %s (%d/%d)   branches %s (%d/%d)\n", label, pct(h, l), h, l, pct(t, b), t, b }
    END {
        for (i = 1; i <= ns; i++) {
            s = name[i]
            row(s, hit[s], lines[s], taken[s], br[s])
            L += lines[s]; H += hit[s]; B += br[s]; T += taken[s]
            if (s == "util" || s == "codec" || s == "session" || s == "client") { cl += lines[s]; ch += hit[s]; cb += br[s]; ct += taken[s] }
        }
        row("codec and client", ch, cl, ct, cb)
        row("mqttc.h (compiled)", H, L, T, B)
    }' "$info"
