# bench/report.awk - turns the runs of bench/run.sh into the report (markdown).
# Files: 1. RESULT lines (+ mode, round), 2. "client workload
# syscalls_per_msg", 3. "client share=N% ..." from perf, 4. "INFO key=value" lines,
# 5. "client workload messages function instructions" from callgrind (function TOTAL: all).
# Environment: ROUNDS, N_*, MQTTC_TEXT (default build), MQTTC_NO5_TEXT (-DMQTTC_NO_MQTT5),
# MOSQ_TEXT, PAHO_TEXT, WINDOWS (pub1's windows), N_SCALE, N_HANDSHAKE. Clients: raw, mqttc
# (3.1.1), mqttc5 (the same, MQTT 5), mosquitto, paho; mqttctls and mosquittotls (TLS).
# Modes of the RESULT lines: time (the main table), allocs, wW (pub1 at window W), scale
# (N_SCALE connections), tls (TLS, and handshakes over TCP beside it). A line with
# timeout_s is a run that did not finish. The table between <!-- table --> markers is also
# bench/README-table.md; the targets between <!-- targets --> are printed by run.sh.

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
# One client's figure k over another's (medians of the timed runs; the other's of
# other_workload when given); "" when one is missing
function over(client, other, workload, k, other_workload) {
    return ratio(med(client, workload, "time", k), med(other, other_workload != "" ? other_workload : workload, "time", k))
}
# mqttc's figure over libmosquitto's, both over TLS
function tls_over(workload, k) { return ratio(med("mqttctls", workload, "tls", k), med("mosquittotls", workload, "tls", k)) }
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
# The same as a number, "" when not known.
function sys_num(client, workload) { return ((client, workload) in sys) ? sys[client, workload] : "" }

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
function notes(    rf, mr, sq, sr, st, kb, wr, dr, qr) {
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
    if (ratio(kb, med("mosquitto", "conns", "time", "rss_kb_per_conn")) > 0.5 && "client_struct_bytes" in info) {
        st = info["client_struct_bytes"]
        printf "- **conns**: of mqttc's %.2f KiB of peak RSS per connection (%s heap bytes), %d bytes are the\n", kb,
            fmt(med("mqttc", "conns", "time", "heap_b_per_conn"), 0), st
        print "  client struct itself (sizeof mqttc_client, options copy included, in the caller's array); the rest"
        print "  is its receive, send and in-flight buffers at their first size with the allocator's headers, and"
        print "  the baseline's share (what the first connect brought in, over N). libmosquitto holds no buffer"
        print "  while idle: its connection is its client struct."
    }
    wr = ratio(med("mqttc", "pub1", "w65535", "cpu_ns_per_msg"), med("mqttc", "pub1", "w20", "cpu_ns_per_msg"))
    if (wr > 1.2) {
        printf "- **pub1 at window 65535**: mqttc's CPU per message is %s of its own at window 20 (at 10000:\n", fmt_ratio(wr)
        printf "  %s): work per message that grows with the messages in flight, in mqttc's in-flight bookkeeping.\n",
            fmt_ratio(ratio(med("mqttc", "pub1", "w10000", "cpu_ns_per_msg"), med("mqttc", "pub1", "w20", "cpu_ns_per_msg")))
        qr = ratio(med("mosquitto", "pub1", "w65535", "cpu_ns_per_msg"), med("mosquitto", "pub1", "w20", "cpu_ns_per_msg"))
        if (qr > 1.2) printf "  libmosquitto's grows too (%s at 65535).\n", fmt_ratio(qr)
    }
    dr = over("mqttc", "mqttc", "pub0", "cpu_ns_per_msg", "pub0corked")
    if (dr > 2) {
        printf "- **pub0, the default path**: %s of the corked path's CPU per message, with %s system calls per\n", fmt_ratio(dr), sys_of("mqttc", "pub0")
        printf "  message against %s corked: an uncorked publish is written through at once when the socket is\n", sys_of("mqttc", "pub0corked")
        print "  idle, so a loop of publishes makes about one write per message until the socket backs up."
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

# Informational lines of the targets table: a figure to watch, no goal.
function informational(label, measured) { printf "| %s | %s | informational | - |\n", label, measured }

# A client's figure, or why there is none: "not done in T s" when its runs timed out.
function cell(client, workload, mode, k, d, scale,    v, t) {
    v = med(client, workload, mode, k)
    if (v != "") return fmt(v / (scale ? scale : 1), d)
    t = med(client, workload, mode, "timeout_s")
    return t != "" ? "not done in " t " s" : "-"
}

# One row over any clients (names separated by spaces), then client a's figure over client
# b's (a ratio column whenever the table has one: "-" when a is "").
function row_of(label, clients, workload, mode, k, d, scale, a, b,    n, c, i, line) {
    n = split(clients, c, " ")
    line = "| " label
    for (i = 1; i <= n; i++) line = line " | " cell(c[i], workload, mode, k, d, scale)
    line = line " | " (a == "" ? "-" : fmt_ratio(ratio(med(a, workload, mode, k), med(b, workload, mode, k))))
    print line " |"
}

# pub1 at each window of WINDOWS (mode "wW"): client CPU per message, ratios, rates.
function windows(    ws, n, i, w, m, q, r, m20, q20, nm) {
    n = split(ENVIRON["WINDOWS"], ws, " ")
    print "## pub1 at several windows (default path; median of " ENVIRON["ROUNDS"] ")"
    print ""
    print "QoS 1 publishes with W messages in flight at most (mqttc: options.max_inflight = W;"
    print "libmosquitto: mosquitto_max_inflight_messages_set(W) and its loop's window; raw floor: W), the"
    print "default path (publish, pump on BUSY). Client CPU per message, ns; \"x at 20\" is a client's"
    print "figure over its own at window 20 (flat bookkeeping stays near 1x)."
    print ""
    print "| window | messages | raw floor | mqttc | libmosquitto | mqttc / libmosquitto | mqttc / raw | mqttc x at 20 | libmosquitto x at 20 | mqttc messages/s | libmosquitto messages/s |"
    print "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
    m20 = med("mqttc", "pub1", "w20", "cpu_ns_per_msg"); q20 = med("mosquitto", "pub1", "w20", "cpu_ns_per_msg")
    for (i = 1; i <= n; i++) {
        w = "w" ws[i]
        m = med("mqttc", "pub1", w, "cpu_ns_per_msg"); q = med("mosquitto", "pub1", w, "cpu_ns_per_msg"); r = med("raw", "pub1", w, "cpu_ns_per_msg")
        nm = med("mqttc", "pub1", w, "n"); if (nm == "") nm = med("mosquitto", "pub1", w, "n")
        printf "| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", ws[i], fmt(nm, 0),
            cell("raw", "pub1", w, "cpu_ns_per_msg", 0), cell("mqttc", "pub1", w, "cpu_ns_per_msg", 0),
            cell("mosquitto", "pub1", w, "cpu_ns_per_msg", 0), fmt_ratio(ratio(m, q)), fmt_ratio(ratio(m, r)),
            fmt_ratio(ratio(m, m20)), fmt_ratio(ratio(q, q20)),
            cell("mqttc", "pub1", w, "msgs_per_s", 0), cell("mosquitto", "pub1", w, "msgs_per_s", 0)
    }
    print ""
}

# N_SCALE connections in one process (mode "scale").
function scale(    cs) {
    cs = "raw mqttc mosquitto paho"
    print "## " ENVIRON["N_SCALE"] " connections in one process, one poll loop (median of " ENVIRON["ROUNDS"] ")"
    print ""
    print "Connected and subscribed 100 at a time, every client in one poll(2) call per round of the loop"
    print "(Paho: its own I/O thread). Memory from a baseline taken before the first connection."
    print ""
    print "| figure | raw floor | mqttc | libmosquitto | Paho C | mqttc / libmosquitto |"
    print "| --- | ---: | ---: | ---: | ---: | ---: |"
    row_of("connections", cs, "conns", "scale", "n", 0, 1, "", "")
    row_of("connections per second (connect, CONNACK, SUBSCRIBE, SUBACK)", cs, "conns", "scale", "msgs_per_s", 0, 1, "mqttc", "mosquitto")
    row_of("wall time to connect them all, s", cs, "conns", "scale", "wall_s", 2, 1, "", "")
    row_of("client CPU per connection, us", cs, "conns", "scale", "cpu_ns_per_msg", 1, 1000, "mqttc", "mosquitto")
    row_of("peak RSS per connection, KiB (baseline before the first connection)", cs, "conns", "scale", "rss_kb_per_conn", 2, 1, "mqttc", "mosquitto")
    row_of("heap bytes per connection (mallinfo2, same baseline)", cs, "conns", "scale", "heap_b_per_conn", 0, 1, "mqttc", "mosquitto")
    row_of("descriptors per connection", cs, "conns", "scale", "fds_per_conn", 2, 1, "mqttc", "mosquitto")
    print ""
}

# TLS (mode "tls") beside TCP: pub0, pub1, sub0 against the main table's TCP runs; handshake
# against the plain handshakes of the same section.
function tls_row(label, figure, workload, k, d, sc, tls_mode, tcp_mode,    m, q, mt, qt) {
    m = med("mqttctls", workload, tls_mode, k); q = med("mosquittotls", workload, tls_mode, k)
    mt = med("mqttc", workload, tcp_mode, k); qt = med("mosquitto", workload, tcp_mode, k)
    printf "| %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", label, figure,
        cell("mqttctls", workload, tls_mode, k, d, sc), cell("mosquittotls", workload, tls_mode, k, d, sc), fmt_ratio(ratio(m, q)),
        cell("mqttc", workload, tcp_mode, k, d, sc), cell("mosquitto", workload, tcp_mode, k, d, sc),
        fmt_ratio(ratio(m, mt)), fmt_ratio(ratio(q, qt))
}
function tls() {
    print "## TLS (median of " ENVIRON["ROUNDS"] ")"
    print ""
    print "mqttc built with MQTTC_WITH_OPENSSL (options.secure, tls_ca_file, tls_verify) and libmosquitto"
    print "with mosquitto_tls_set, to the broker's TLS listener; the TCP columns: pub0, pub1, sub0 from the"
    print "table above. A handshake is timed from the connect call to CONNACK (TCP, TLS, CONNECT), " ENVIRON["N_HANDSHAKE"]
    print "of them one after another, to the second broker (set_tcp_nodelay true), over TLS and, in the TCP"
    print "columns, over its plain listener; the last row: " ENVIRON["N_HANDSHAKE_NAGLE"] " over TLS to the first broker (mosquitto's default,"
    print "set_tcp_nodelay false: its CONNACK waits for the client's delayed ACK of its session tickets)."
    print ""
    print "| workload | figure | mqttc over TLS | libmosquitto over TLS | mqttc / libmosquitto | mqttc over TCP | libmosquitto over TCP | mqttc TLS / TCP | libmosquitto TLS / TCP |"
    print "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
    tls_row("pub0", "client CPU per message, ns", "pub0", "cpu_ns_per_msg", 0, 1, "tls", "time")
    tls_row("pub1", "client CPU per message, ns", "pub1", "cpu_ns_per_msg", 0, 1, "tls", "time")
    tls_row("sub0", "client CPU per message, ns", "sub0", "cpu_ns_per_msg", 0, 1, "tls", "time")
    tls_row("handshake", "client CPU per handshake, p50, us", "handshake", "cpu_p50_us", 0, 1, "tls", "tls")
    tls_row("handshake", "wall time per handshake, p50, us", "handshake", "p50_us", 0, 1, "tls", "tls")
    tls_row("handshake", "wall time per handshake, p99, us", "handshake", "p99_us", 0, 1, "tls", "tls")
    tls_row("handshake", "client CPU per handshake with its disconnect, mean, us", "handshake", "cpu_ns_per_msg", 0, 1000, "tls", "tls")
    tls_row("handshake, default broker", "wall time per handshake, p50, us (set_tcp_nodelay false)", "handshake", "p50_us", 0, 1, "tlsnagle", "none")
    print ""
    printf "The raw floor over TCP (a socket, CONNECT, CONNACK; no library): p50 %s us wall, %s us CPU.\n",
        cell("raw", "handshake", "tls", "p50_us", 0), cell("raw", "handshake", "tls", "cpu_p50_us", 0)
    print ""
}

END {
    print "## Results"
    print ""
    print "Default paths in the headline rows: pub0 and pub1 as a new user writes them (mqttc: publish, and"
    print "on BUSY one mqttc_wait + mqttc_step; no cork), window 20; the rows marked tuned are mqttc's"
    print "mqttc_cork / mqttc_flush path. Memory per connection from a baseline taken before the first"
    print "connection. Methods: the end of this file."
    print ""
    print "<!-- table -->"
    print "| workload | figure (median of " ENVIRON["ROUNDS"] ") | raw floor | mqttc (3.1.1) | mqttc5 (MQTT 5) | libmosquitto | Paho C | mqttc / libmosquitto | mqttc5 / mqttc | mqttc / raw |"
    print "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
    row("pub0", "client CPU per message, ns (default path)", "pub0", "time", "cpu_ns_per_msg", 0)
    row("pub0", "of which in the kernel, ns", "pub0", "time", "sys_ns_per_msg", 0)
    row("pub0", "messages per second", "pub0", "time", "msgs_per_s", 0)
    row("pub0 corked", "client CPU per message, ns (tuned: mqttc_cork/mqttc_flush)", "pub0corked", "time", "cpu_ns_per_msg", 0)
    row("pub0 corked", "messages per second (tuned)", "pub0corked", "time", "msgs_per_s", 0)
    row("pub1", "client CPU per message, ns (default path, window 20)", "pub1", "time", "cpu_ns_per_msg", 0)
    row("pub1", "of which in the kernel, ns", "pub1", "time", "sys_ns_per_msg", 0)
    row("pub1", "messages per second", "pub1", "time", "msgs_per_s", 0)
    row("pub1 corked", "client CPU per message, ns (tuned: mqttc_cork/mqttc_flush, window 20)", "pub1corked", "time", "cpu_ns_per_msg", 0)
    row("pub1 corked", "messages per second (tuned)", "pub1corked", "time", "msgs_per_s", 0)
    row("sub0", "client CPU per message, ns", "sub0", "time", "cpu_ns_per_msg", 0)
    row("sub0", "of which in the kernel, ns", "sub0", "time", "sys_ns_per_msg", 0)
    row("sub0", "messages per second", "sub0", "time", "msgs_per_s", 0)
    row("rtt", "p50 latency, us", "rtt", "time", "p50_us", 1)
    row("rtt", "p99 latency, us", "rtt", "time", "p99_us", 1)
    row("rtt", "client CPU per round trip, ns", "rtt", "time", "cpu_ns_per_msg", 0)
    row("conns", "peak RSS per idle connection, KiB (baseline before the first connection)", "conns", "time", "rss_kb_per_conn", 2)
    row("conns", "heap bytes per idle connection (mallinfo2, baseline before the first connection)", "conns", "time", "heap_b_per_conn", 0)
    row("conns", "file descriptors per connection", "conns", "time", "fds_per_conn", 2)
    row("conns", "connections per second (connect, CONNACK, SUBSCRIBE, SUBACK)", "conns", "time", "msgs_per_s", 0)
    if ("client_struct_bytes" in info)
        printf "| conns | client struct, bytes (sizeof mqttc_client, in the caller's memory; counted above) | - | %d | %d | - | - | - | - | - |\n",
            info["client_struct_bytes"], info["client_struct_bytes"]
    row("allocs", "heap allocations per message, pub0", "pub0", "allocs", "allocs_per_msg", 3)
    row("allocs", "heap allocations per message, pub1", "pub1", "allocs", "allocs_per_msg", 3)
    row("allocs", "heap allocations per message, sub0", "sub0", "allocs", "allocs_per_msg", 3)
    # size: mqttc's minimal publisher, built two ways; the others' shared library
    printf "| size | .text, bytes, default build (MQTT 5 compiled in: mqttc and mqttc5 alike; mqttc: minimal publisher; others: the shared library) | - | %d | %d | %d | %d | %s | - | - |\n",
        ENVIRON["MQTTC_TEXT"], ENVIRON["MQTTC_TEXT"], ENVIRON["MOSQ_TEXT"], ENVIRON["PAHO_TEXT"], fmt_ratio(ENVIRON["MQTTC_TEXT"] / ENVIRON["MOSQ_TEXT"])
    printf "| size | .text, bytes, small build (-DMQTTC_NO_MQTT5 -DMQTTC_NO_RECONNECT -DMQTTC_NO_WEBSOCKET -DMQTTC_NO_PROXY -DMQTTC_NO_STORE -DMQTTC_NO_INDEX: 3.1.1 only, no staying connected, TCP only, no store, in-flight records scanned; mqttc: minimal publisher; others: the shared library) | - | %d | - | %d | %d | %s | - | - |\n",
        ENVIRON["MQTTC_NO5_TEXT"], ENVIRON["MOSQ_TEXT"], ENVIRON["PAHO_TEXT"], fmt_ratio(ENVIRON["MQTTC_NO5_TEXT"] / ENVIRON["MOSQ_TEXT"])
    if (has_sys) for (w = 1; w <= 6; w++) {
        wl = w == 1 ? "pub0" : w == 2 ? "pub0corked" : w == 3 ? "pub1" : w == 4 ? "pub1corked" : w == 5 ? "sub0" : "rtt"
        printf "| syscalls | system calls per message, %s (strace -f -c, one run) | %s | %s | %s | %s | %s | %s | %s | %s |\n",
            wl == "pub0corked" ? "pub0 corked (tuned)" : wl == "pub1corked" ? "pub1 corked (tuned)" : wl == "pub0" || wl == "pub1" ? wl " (default path)" : wl,
            sys_of("raw", wl), sys_of("mqttc", wl), sys_of("mqttc5", wl), sys_of("mosquitto", wl), sys_of("paho", wl),
            fmt_ratio(ratio(sys_num("mqttc", wl), sys_num("mosquitto", wl))), fmt_ratio(ratio(sys_num("mqttc5", wl), sys_num("mqttc", wl))),
            fmt_ratio(ratio(sys_num("mqttc", wl), sys_num("raw", wl)))
    }
    print "<!-- end table -->"
    print ""
    windows()
    scale()
    tls()
    print "## Targets (this run)"
    print ""
    print "<!-- targets -->"
    print "| target | measured | goal | |"
    print "| --- | --- | --- | --- |"
    missed = 0
    ratio_target("pub0 client CPU per message (default path), mqttc / libmosquitto", over("mqttc", "mosquitto", "pub0", "cpu_ns_per_msg"), 0.2)
    informational("pub0 client CPU per message, mqttc default / mqttc corked (tuned)", fmt_ratio(over("mqttc", "mqttc", "pub0", "cpu_ns_per_msg", "pub0corked")))
    informational("pub0 system calls per message, mqttc default and mqttc corked (tuned)", sys_of("mqttc", "pub0") " and " sys_of("mqttc", "pub0corked"))
    ratio_target("pub1 client CPU per message (default path, window 20), mqttc / libmosquitto", over("mqttc", "mosquitto", "pub1", "cpu_ns_per_msg"), 0.2)
    informational("pub1 client CPU per message, mqttc default / mqttc corked (tuned)", fmt_ratio(over("mqttc", "mqttc", "pub1", "cpu_ns_per_msg", "pub1corked")))
    ratio_target("pub1 client CPU per message, mqttc at window 65535 / at window 20 (default path)",
        ratio(med("mqttc", "pub1", "w65535", "cpu_ns_per_msg"), med("mqttc", "pub1", "w20", "cpu_ns_per_msg")), 1.2)
    ratio_target("sub0 client CPU per message, mqttc / libmosquitto", over("mqttc", "mosquitto", "sub0", "cpu_ns_per_msg"), 0.1)
    ratio_target("rtt p50 latency, mqttc / libmosquitto", over("mqttc", "mosquitto", "rtt", "p50_us"), 0.9)
    ratio_target("rtt p50 latency, mqttc / raw floor", over("mqttc", "raw", "rtt", "p50_us"), 1.15)
    ratio_target("conns peak RSS per idle connection (baseline before the first connection), mqttc / libmosquitto", over("mqttc", "mosquitto", "conns", "rss_kb_per_conn"), 0.5)
    informational("conns heap bytes per idle connection, mqttc / libmosquitto", fmt_ratio(over("mqttc", "mosquitto", "conns", "heap_b_per_conn")))
    f = med("mqttc", "conns", "time", "fds_per_conn")
    target("conns file descriptors per connection, mqttc", fmt(f, 2), "1", f != "" && f <= 1.0)
    informational(ENVIRON["N_SCALE"] " connections: connections per second, mqttc / libmosquitto",
        fmt_ratio(ratio(med("mqttc", "conns", "scale", "msgs_per_s"), med("mosquitto", "conns", "scale", "msgs_per_s"))))
    informational(ENVIRON["N_SCALE"] " connections: peak RSS per connection, mqttc / libmosquitto",
        fmt_ratio(ratio(med("mqttc", "conns", "scale", "rss_kb_per_conn"), med("mosquitto", "conns", "scale", "rss_kb_per_conn"))))
    al = allocs_sum("mqttc")
    target("allocations per message (pub0 + pub1 + sub0), mqttc", fmt(al, 3), "0", al != "" && al == 0)
    target(".text of a minimal publisher, small build (-DMQTTC_NO_MQTT5 -DMQTTC_NO_RECONNECT -DMQTTC_NO_WEBSOCKET -DMQTTC_NO_PROXY -DMQTTC_NO_STORE -DMQTTC_NO_INDEX)", ENVIRON["MQTTC_NO5_TEXT"] " bytes", "at most 12 KiB (12288)", ENVIRON["MQTTC_NO5_TEXT"] + 0 <= 12288)
    ratio_target("MQTT 5: pub0 client CPU per message, mqttc5 / mqttc", over("mqttc5", "mqttc", "pub0", "cpu_ns_per_msg"), 1.1)
    ratio_target("MQTT 5: pub1 client CPU per message, mqttc5 / mqttc", over("mqttc5", "mqttc", "pub1", "cpu_ns_per_msg"), 1.1)
    ratio_target("MQTT 5: sub0 client CPU per message, mqttc5 / mqttc", over("mqttc5", "mqttc", "sub0", "cpu_ns_per_msg"), 1.1)
    al = allocs_sum("mqttc5")
    target("MQTT 5: allocations per message, mqttc5 (pub0 + pub1 + sub0)", fmt(al, 3), "0", al != "" && al == 0)
    informational("TLS: pub0 client CPU per message, mqttc / libmosquitto", fmt_ratio(tls_over("pub0", "cpu_ns_per_msg")))
    informational("TLS: pub1 client CPU per message, mqttc / libmosquitto", fmt_ratio(tls_over("pub1", "cpu_ns_per_msg")))
    informational("TLS: sub0 client CPU per message, mqttc / libmosquitto", fmt_ratio(tls_over("sub0", "cpu_ns_per_msg")))
    informational("TLS: client CPU per handshake (p50), mqttc / libmosquitto", fmt_ratio(tls_over("handshake", "cpu_p50_us")))
    informational("TLS: wall time per handshake (p50), mqttc / libmosquitto", fmt_ratio(tls_over("handshake", "p50_us")))
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
    for (w = 1; w <= 7; w++) {
        wl = w == 1 ? "pub0" : w == 2 ? "pub0corked" : w == 3 ? "pub1" : w == 4 ? "pub1corked" : w == 5 ? "sub0" : w == 6 ? "rtt" : "conns"
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
}
