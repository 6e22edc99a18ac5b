# bench/report.awk - turns the runs of bench/run.sh into the report (markdown).
# Files: 1. RESULT lines (+ mode, round), 2. "client workload
# syscalls_per_msg", 3. "client share=N% ..." from perf, 4. "INFO key=value" lines,
# 5. "client workload messages function instructions" from callgrind (function TOTAL: all).
# Environment: ROUNDS, N_*, MQTTC_TEXT (default build), MQTTC_NO5_TEXT (-DMQTTC_NO_MQTT5),
# MOSQ_TEXT, PAHO_TEXT. Clients: raw, mqttc (3.1.1), mqttc5 (the same, MQTT 5), mosquitto, paho.
# The table between <!-- table --> markers is also bench/README-table.md.

{ file = FILENAME == ARGV[1] ? 1 : FILENAME == ARGV[2] ? 2 : FILENAME == ARGV[3] ? 3 : FILENAME == ARGV[4] ? 4 : 5 }
file == 1 && $1 == "RESULT" {
    delete kv
    for (i = 2; i <= NF; i++) { split($i, a, "="); kv[a[1]] = a[2] }
    key = kv["client"] SUBSEP kv["workload"] SUBSEP kv["mode"]
    for (k in kv) if (kv[k] != "-" && k != "client" && k != "workload" && k != "mode") {
        vals[key, k] = (key SUBSEP k) in vals ? vals[key, k] " " kv[k] : kv[k]
    }
    # the side that limited the run: CPU of each side over the wall time
    if (kv["mode"] == "time" && kv["wall_s"] > 0 && kv["broker_cpu_s"] != "-") {
        pc = 100 * kv["cpu_s"] / kv["wall_s"]; pb = 100 * kv["broker_cpu_s"] / kv["wall_s"]
        vals[key, "client_pct"] = (key SUBSEP "client_pct") in vals ? vals[key, "client_pct"] " " pc : pc
        vals[key, "broker_pct"] = (key SUBSEP "broker_pct") in vals ? vals[key, "broker_pct"] " " pb : pb
    }
    next
}
file == 2 { sys[$1, $2] = $3; has_sys = 1; next }
file == 3 { prof[$1] = substr($0, length($1) + 2); has_prof = 1; next }
file == 4 && $1 == "INFO" { for (i = 2; i <= NF; i++) { split($i, a, "="); info[a[1]] = a[2] } }
file == 5 && NF == 5 && $3 > 0 {
    ins[$1, $2, $4] = $5 / $3; has_ins = 1
    if ($4 != "TOTAL") fns[$2, $4] = 1
}

function median(s,    n, x, i, j, t) {
    n = split(s, x, " ")
    if (n == 0) return ""
    for (i = 2; i <= n; i++) for (j = i; j > 1 && x[j - 1] + 0 > x[j] + 0; j--) { t = x[j]; x[j] = x[j - 1]; x[j - 1] = t }
    return x[int((n + 1) / 2)] + 0
}
function med(client, workload, mode, k) {
    return ((client SUBSEP workload SUBSEP mode SUBSEP k) in vals) ? median(vals[client, workload, mode, k]) : ""
}
function fmt(v, d) { return v == "" ? "-" : sprintf("%." d "f", v) }
function ratio(a, b) { return (a == "" || b == "" || b + 0 == 0) ? "" : a / b }
function fmt_ratio(r) { return r == "" ? "-" : sprintf("%.2fx", r) }

# One row: a figure for every client, then mqttc's ratios to libmosquitto, mqttc5's to
# mqttc (what MQTT 5 costs) and mqttc's to raw.
function row(label, figure, workload, mode, k, d,    r, m, m5, q, p) {
    r = med("raw", workload, mode, k); m = med("mqttc", workload, mode, k); m5 = med("mqttc5", workload, mode, k)
    q = med("mosquitto", workload, mode, k); p = med("paho", workload, mode, k)
    printf "| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", label, figure, fmt(r, d), fmt(m, d), fmt(m5, d),
        fmt(q, d), fmt(p, d), fmt_ratio(ratio(m, q)), fmt_ratio(ratio(m5, m)), fmt_ratio(ratio(m, r))
}
function target(label, measured, goal, ok) {
    printf "| %s | %s | %s | %s |\n", label, measured, goal, ok ? "met" : "**missed**"
    if (!ok) missed++
}
# One client's figure k over another's (medians of the timed runs); "" when one is missing
function over(client, other, workload, k) {
    return ratio(med(client, workload, "time", k), med(other, workload, "time", k))
}
# A target on such a ratio: met when it is known and at most `max` (a number).
function ratio_target(label, r, max) { target(label, fmt_ratio(r), "at most " max "x", r != "" && r <= max) }
# A client's allocations per message over pub0, pub1 and sub0; "" when one is missing.
function allocs_sum(client,    a, b, c) {
    a = med(client, "pub0", "allocs", "allocs_per_msg"); b = med(client, "pub1", "allocs", "allocs_per_msg")
    c = med(client, "sub0", "allocs", "allocs_per_msg")
    return (a == "" || b == "" || c == "") ? "" : a + b + c
}
function limited(workload, client,    pc, pb, side) {
    pc = med(client, workload, "time", "client_pct"); pb = med(client, workload, "time", "broker_pct")
    if (pc == "") return
    if (pb >= 60 && pb >= pc) side = "broker"
    else if (pc >= 60) side = "client"
    else side = "neither (round trips and wake-ups set the pace)"
    printf "| %s | %s | %.0f%% | %.0f%% | %s |\n", workload, client, pc, pb, side
}

# System calls per message of a client and workload, "-" when strace did not run.
function sys_of(client, workload) {
    if ((client, workload) in sys) return sys[client, workload]
    return "-"
}

# What MQTT 5 adds in user space: instructions per message of mqttc and mqttc5 (callgrind),
# and the functions that take most of the difference.
function instructions(    w, wl, a, b, k, n, f, d, used, best, bf, top) {
    print "## What MQTT 5 costs in user space (callgrind, instructions per message, one run)"
    print ""
    print "Exact counts, so free of the machine's noise: the CPU figures above include the kernel and"
    print "vary from run to run; these do not. One run of " ENVIRON["N_TRACE"] " messages (and the warm-up), setup included."
    print ""
    print "| workload | mqttc | mqttc5 | mqttc5 / mqttc | where mqttc5's extra instructions go, per message |"
    print "| --- | ---: | ---: | ---: | --- |"
    for (w = 1; w <= 3; w++) {
        wl = w == 1 ? "pub0" : w == 2 ? "pub1" : "sub0"
        if (!(("mqttc", wl, "TOTAL") in ins) || !(("mqttc5", wl, "TOTAL") in ins)) continue
        a = ins["mqttc", wl, "TOTAL"]; b = ins["mqttc5", wl, "TOTAL"]
        delete used; top = ""
        for (n = 1; n <= 6; n++) { # the six largest increases, largest first
            best = 0; bf = ""
            for (k in fns) {
                split(k, f, SUBSEP)
                if (f[1] != wl || (f[2] in used)) continue
                d = ins["mqttc5", wl, f[2]] - ins["mqttc", wl, f[2]]
                if (d > best) { best = d; bf = f[2] }
            }
            if (bf == "" || best < 1) break
            used[bf] = 1
            top = top (top == "" ? "" : ", ") sprintf("%s +%.0f", bf, best)
        }
        printf "| %s | %.0f | %.0f | %s | %s |\n", wl, a, b, fmt_ratio(b / a), top == "" ? "-" : top
    }
    print ""
}

# Why a missed target was missed, from this run's own figures.
function notes(    rf, mr, sq, sr, st, kb) {
    rf = over("raw", "mosquitto", "pub1", "cpu_ns_per_msg")
    mr = over("mqttc", "raw", "pub1", "cpu_ns_per_msg")
    if (over("mqttc", "mosquitto", "pub1", "cpu_ns_per_msg") > 0.2) {
        printf "- **pub1** is out of reach on this machine: the raw floor, with no library at all, takes %s of\n", fmt_ratio(rf)
        printf "  libmosquitto's CPU per message, and mqttc is within %s of the floor. The cost is the kernel's\n", fmt_ratio(mr)
        print "  (see \"of which in the kernel\", the perf shares and the system calls per message): mosquitto"
        print "  writes every PUBACK on its own, so a client with a window of 20 wakes up and reads about once per"
        print "  acknowledgement; what a library does in user space is a few percent of it."
    }
    kb = med("mqttc", "conns", "time", "rss_kb_per_conn")
    if (ratio(kb, med("mosquitto", "conns", "time", "rss_kb_per_conn")) > 0.75 && "client_struct_bytes" in info) {
        st = info["client_struct_bytes"]
        printf "- **conns**: of mqttc's %.2f KiB per connection, %d bytes are the client struct itself (sizeof\n", kb, st
        print "  mqttc_client, options copy included); the rest is its receive, send and in-flight buffers at their"
        print "  first size (64 bytes each) with the allocator's headers. libmosquitto holds no buffer while idle:"
        print "  its connection is its client struct. 0.75x needs a smaller mqttc_client."
    }
    sq = over("mqttc", "raw", "rtt", "p50_us")
    rf = over("mosquitto", "raw", "rtt", "p50_us")
    if (over("mqttc", "mosquitto", "rtt", "p50_us") > 0.9 && rf < 1.11) {
        printf "- **rtt**: mqttc's p50 is %s of the raw floor's, and libmosquitto's was %s of it in this run:\n", fmt_ratio(sq), fmt_ratio(rf)
        print "  0.9x of libmosquitto is below the floor. The broker and the kernel's wake-ups set the latency;"
        print "  the clients differ in their tails (p99) and in CPU per round trip."
    }
    if (sq > 1.15)
        print "- **rtt**: mqttc waits in poll(2) and then reads (one system call more per round trip than the raw floor's blocking read)."
    for (w = 1; w <= 3; w++) {
        wl = w == 1 ? "pub0" : w == 2 ? "pub1" : "sub0"
        if (over("mqttc5", "mqttc", wl, "cpu_ns_per_msg") > 1.1) {
            printf "- **%s, MQTT 5**: mqttc5 took %s ns per message more than mqttc, with %s system calls per\n", wl,
                fmt(med("mqttc5", wl, "time", "cpu_ns_per_msg") - med("mqttc", wl, "time", "cpu_ns_per_msg"), 0),
                sys_of("mqttc5", wl)
            printf "  message against %s: the difference is work in user space, in mqttc.h%s\n", sys_of("mqttc", wl),
                has_ins ? " (by function: the next section)." : "."
        }
    }
    print ""
}

END {
    print "## Results"
    print ""
    print "<!-- table -->"
    print "| workload | figure (median of " ENVIRON["ROUNDS"] ") | raw floor | mqttc (3.1.1) | mqttc5 (MQTT 5) | libmosquitto | Paho C | mqttc / libmosquitto | mqttc5 / mqttc | mqttc / raw |"
    print "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
    row("pub0", "client CPU per message, ns", "pub0", "time", "cpu_ns_per_msg", 0)
    row("pub0", "of which in the kernel, ns", "pub0", "time", "sys_ns_per_msg", 0)
    row("pub0", "messages per second", "pub0", "time", "msgs_per_s", 0)
    row("pub1", "client CPU per message, ns", "pub1", "time", "cpu_ns_per_msg", 0)
    row("pub1", "of which in the kernel, ns", "pub1", "time", "sys_ns_per_msg", 0)
    row("pub1", "messages per second", "pub1", "time", "msgs_per_s", 0)
    row("sub0", "client CPU per message, ns", "sub0", "time", "cpu_ns_per_msg", 0)
    row("sub0", "of which in the kernel, ns", "sub0", "time", "sys_ns_per_msg", 0)
    row("sub0", "messages per second", "sub0", "time", "msgs_per_s", 0)
    row("rtt", "p50 latency, us", "rtt", "time", "p50_us", 1)
    row("rtt", "p99 latency, us", "rtt", "time", "p99_us", 1)
    row("rtt", "client CPU per round trip, ns", "rtt", "time", "cpu_ns_per_msg", 0)
    row("conns", "peak RSS per connection, KiB", "conns", "time", "rss_kb_per_conn", 2)
    row("conns", "file descriptors per connection", "conns", "time", "fds_per_conn", 2)
    row("allocs", "heap allocations per message, pub0", "pub0", "allocs", "allocs_per_msg", 3)
    row("allocs", "heap allocations per message, pub1", "pub1", "allocs", "allocs_per_msg", 3)
    row("allocs", "heap allocations per message, sub0", "sub0", "allocs", "allocs_per_msg", 3)
    # size: mqttc's minimal publisher, built two ways; the others' shared library
    printf "| size | .text, bytes, default build (MQTT 5 compiled in: mqttc and mqttc5 alike; mqttc: minimal publisher; others: the shared library) | - | %d | %d | %d | %d | %s | - | - |\n",
        ENVIRON["MQTTC_TEXT"], ENVIRON["MQTTC_TEXT"], ENVIRON["MOSQ_TEXT"], ENVIRON["PAHO_TEXT"], fmt_ratio(ENVIRON["MQTTC_TEXT"] / ENVIRON["MOSQ_TEXT"])
    printf "| size | .text, bytes, small build (-DMQTTC_NO_MQTT5 -DMQTTC_NO_RECONNECT -DMQTTC_NO_WEBSOCKET -DMQTTC_NO_PROXY -DMQTTC_NO_STORE: 3.1.1 only, no staying connected, TCP only, no store; mqttc: minimal publisher; others: the shared library) | - | %d | - | %d | %d | %s | - | - |\n",
        ENVIRON["MQTTC_NO5_TEXT"], ENVIRON["MOSQ_TEXT"], ENVIRON["PAHO_TEXT"], fmt_ratio(ENVIRON["MQTTC_NO5_TEXT"] / ENVIRON["MOSQ_TEXT"])
    if (has_sys) for (w = 1; w <= 4; w++) {
        wl = w == 1 ? "pub0" : w == 2 ? "pub1" : w == 3 ? "sub0" : "rtt"
        printf "| syscalls | system calls per message, %s (strace -f -c, one run) | %s | %s | %s | %s | %s | %s | %s | %s |\n", wl,
            sys["raw", wl], sys["mqttc", wl], sys["mqttc5", wl], sys["mosquitto", wl], sys["paho", wl],
            fmt_ratio(ratio(sys["mqttc", wl], sys["mosquitto", wl])), fmt_ratio(ratio(sys["mqttc5", wl], sys["mqttc", wl])),
            fmt_ratio(ratio(sys["mqttc", wl], sys["raw", wl]))
    }
    print "<!-- end table -->"
    print ""
    print "## Targets (mqttc / libmosquitto, mqttc5 / mqttc, this run)"
    print ""
    print "<!-- targets -->"
    print "| target | measured | goal | |"
    print "| --- | --- | --- | --- |"
    missed = 0
    ratio_target("pub0 client CPU per message", over("mqttc", "mosquitto", "pub0", "cpu_ns_per_msg"), 0.2)
    ratio_target("pub1 client CPU per message", over("mqttc", "mosquitto", "pub1", "cpu_ns_per_msg"), 0.2)
    ratio_target("sub0 client CPU per message", over("mqttc", "mosquitto", "sub0", "cpu_ns_per_msg"), 0.1)
    ratio_target("rtt p50 latency", over("mqttc", "mosquitto", "rtt", "p50_us"), 0.9)
    ratio_target("rtt p50 latency / raw floor", over("mqttc", "raw", "rtt", "p50_us"), 1.15)
    ratio_target("conns peak RSS per connection", over("mqttc", "mosquitto", "conns", "rss_kb_per_conn"), 0.75)
    f = med("mqttc", "conns", "time", "fds_per_conn")
    target("conns file descriptors per connection", fmt(f, 2), "1", f != "" && f <= 1.0)
    al = allocs_sum("mqttc")
    target("allocations per message (pub0 + pub1 + sub0)", fmt(al, 3), "0", al != "" && al == 0)
    target(".text of a minimal publisher, small build (-DMQTTC_NO_MQTT5 -DMQTTC_NO_RECONNECT -DMQTTC_NO_WEBSOCKET -DMQTTC_NO_PROXY -DMQTTC_NO_STORE)", ENVIRON["MQTTC_NO5_TEXT"] " bytes", "at most 12 KiB (12288)", ENVIRON["MQTTC_NO5_TEXT"] + 0 <= 12288)
    ratio_target("MQTT 5: pub0 client CPU per message, mqttc5 / mqttc", over("mqttc5", "mqttc", "pub0", "cpu_ns_per_msg"), 1.1)
    ratio_target("MQTT 5: pub1 client CPU per message, mqttc5 / mqttc", over("mqttc5", "mqttc", "pub1", "cpu_ns_per_msg"), 1.1)
    ratio_target("MQTT 5: sub0 client CPU per message, mqttc5 / mqttc", over("mqttc5", "mqttc", "sub0", "cpu_ns_per_msg"), 1.1)
    al = allocs_sum("mqttc5")
    target("MQTT 5: allocations per message, mqttc5 (pub0 + pub1 + sub0)", fmt(al, 3), "0", al != "" && al == 0)
    print "<!-- end targets -->"
    print ""
    print (missed ? missed " target(s) missed in this run; see the notes below." : "Every target met in this run.")
    print ""
    notes()
    if (has_ins) instructions()
    print "## Which side limited each run"
    print ""
    print "CPU of the client and of the broker over the measured phase, as a share of one core (mosquitto"
    print "has one thread; Paho's figure adds its threads and can pass 100%). The busier side, at 60% or"
    print "more, is named; other work on this 2-core machine takes its share too."
    print ""
    print "| workload | client | client CPU | broker CPU | limited by |"
    print "| --- | --- | ---: | ---: | --- |"
    for (w = 1; w <= 5; w++) {
        wl = w == 1 ? "pub0" : w == 2 ? "pub1" : w == 3 ? "sub0" : w == 4 ? "rtt" : "conns"
        limited(wl, "raw"); limited(wl, "mqttc"); limited(wl, "mqttc5"); limited(wl, "mosquitto"); limited(wl, "paho")
    }
    print ""
    if (has_prof) {
        print "## Where pub1's time goes (perf record, share of the CPU samples)"
        print ""
        print "| client | shares |"
        print "| --- | --- |"
        for (c in prof) printf "| %s | %s |\n", c, prof[c]
        print ""
    }
    if ("client_struct_bytes" in info) {
        print "mqttc's client struct (sizeof mqttc_client, part of every connection): " info["client_struct_bytes"] " bytes."
        print ""
    }
}
