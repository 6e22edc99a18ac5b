#!/usr/bin/env python3
"""tests/coverage/gate.py INFO HEADER OUTDIR - the coverage gate of `make coverage`.

Reads the lcov tracefile INFO (mqttc.h as compiled by every suite and corpus replayer),
takes out the exempt branches (tests/coverage/exemptions), prints line and branch coverage
per section of HEADER (the `/* >>name` markers after `#ifdef MQTTC_IMPLEMENTATION`) and for
the whole header, and checks the whole header against tests/coverage/thresholds. Writes
OUTDIR/uncovered.txt: every uncovered branch and line that is not exempt, with its function
and source text. Ends with "N passed, N failed" (three checks: lines, branches, the
exemptions all still apply) and exits non-zero on a failure.

An exemption names a line by its function and its exact source text (stripped of the
indentation), never by its number, so it survives edits elsewhere in the header. One that
matches no line, matches a line of the same text twice without saying which (`name#2`), or
exempts a branch that the tests now take, is stale: the gate fails until it is fixed.
Lines and branches the build never compiled (another #ifdef) are not in the tracefile and do
not count."""
import os
import re
import sys

HERE = os.path.dirname(os.path.abspath(__file__))


def read_thresholds(path):
    t = {}
    for raw in open(path):
        line = raw.split("#", 1)[0].split()
        if len(line) == 2:
            t[line[0]] = float(line[1])
    if set(t) != {"lines", "branches"}:
        sys.exit("%s: want exactly `lines P` and `branches P`" % path)
    return t


def read_tracefile(path, header):
    lines, brs = {}, {}  # n -> hits; n -> [taken, per branch]
    on = False
    for raw in open(path):
        raw = raw.rstrip("\n")
        if raw.startswith("SF:"):
            on = os.path.realpath(raw[3:]) == os.path.realpath(header)
        elif not on:
            continue
        elif raw.startswith("DA:"):
            n, h = raw[3:].split(",")[:2]
            lines[int(n)] = lines.get(int(n), 0) + int(h)
        elif raw.startswith("BRDA:"):
            n, _block, _br, taken = raw[5:].split(",")
            brs.setdefault(int(n), []).append(0 if taken == "-" else int(taken))
    return lines, brs


FUNC_START = re.compile(r"^(?:static|MQTTC_DEF)\b[^=;]*?\b(\w+)\s*\(")


def functions_of(src):
    """The function each line is in, from the source (lcov merges same-named functions of
    different #if branches under one line): a definition starts at column 0 with `static`
    or `MQTTC_DEF` and ends at a `}` in column 0. Lines outside any: "-"."""
    names, cur = [], None
    for line in src:
        m = FUNC_START.match(line)
        if m and not line.rstrip().endswith(";"):
            cur = m.group(1)
        names.append(cur or "-")
        if line.startswith("}"):
            cur = None
    return names


def sections_of(src):
    marks, impl = [], False
    for i, line in enumerate(src, 1):
        if line.startswith("#ifdef MQTTC_IMPLEMENTATION"):
            impl = True
        m = re.match(r"/\* >>([a-z]+)", line)
        if impl and m:
            marks.append((i, m.group(1)))
    return marks


def section_of(marks, n):
    s = "declarations"
    for start, name in marks:
        if n >= start:
            s = name
    return s


def read_exemptions(path):
    """Entries: `function[#k] | branches | source text`, under a `why:` line that gives
    the reason. branches: the indices (from 0, in the tracefile's order) of the line's
    branches that no test can take, comma-separated, or `line` for the whole line."""
    entries, why = [], None
    for no, raw in enumerate(open(path), 1):
        line = raw.rstrip("\n")
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        if line.startswith("why:"):
            why = line[4:].strip()
            continue
        parts = line.split(" | ", 2)
        if len(parts) != 3 or not why:
            sys.exit("%s:%d: want `function | branches | source text` under a `why:` line" % (path, no))
        fn, which, text = (p.strip() for p in parts)
        k = 0
        if "#" in fn:
            fn, k = fn.split("#")
            k = int(k)
        which = "line" if which == "line" else [int(b) for b in which.split(",")]
        entries.append({"where": "%s:%d" % (os.path.relpath(path), no), "fn": fn, "k": k,
                        "which": which, "text": text, "why": why})
    return entries


def main():
    info, header, outdir = sys.argv[1:4]
    thresholds = read_thresholds(os.path.join(HERE, "thresholds"))
    entries = read_exemptions(os.path.join(HERE, "exemptions"))
    src = open(header).read().split("\n")
    lines, brs = read_tracefile(info, header)
    funcs = functions_of(src)
    function_of = lambda n: funcs[n - 1]
    marks = sections_of(src)
    text = lambda n: src[n - 1].strip()

    # where each (function, text) occurs among the lines the tracefile knows
    occurs = {}
    for n in sorted(set(lines) | set(brs)):
        occurs.setdefault((function_of(n), text(n)), []).append(n)

    stale, ex_lines, ex_brs = [], set(), set()  # ex_brs: (line, index)
    for e in entries:
        found = occurs.get((e["fn"], e["text"]), [])
        if not found:
            stale.append("%s: no line `%s` in %s" % (e["where"], e["text"], e["fn"]))
            continue
        if len(found) > 1 and not e["k"]:
            stale.append("%s: `%s` is in %s %d times (lines %s): say which, %s#k" % (
                e["where"], e["text"], e["fn"], len(found), ", ".join(map(str, found)), e["fn"]))
            continue
        if e["k"] > len(found):
            stale.append("%s: %s has no occurrence %d of `%s`" % (e["where"], e["fn"], e["k"], e["text"]))
            continue
        n = found[e["k"] - 1 if e["k"] else 0]
        taken = brs.get(n, [])
        if e["which"] == "line":
            if lines.get(n, 0):
                stale.append("%s: line %d (%s) is covered now: remove the entry" % (e["where"], n, e["text"]))
            ex_lines.add(n)
            ex_brs.update((n, i) for i in range(len(taken)))
            continue
        for i in e["which"]:
            if i >= len(taken):
                stale.append("%s: line %d (%s) has no branch %d (it has %d)" % (e["where"], n, e["text"], i, len(taken)))
            elif taken[i]:
                stale.append("%s: branch %d of line %d (%s) is taken now: remove it" % (e["where"], i, n, e["text"]))
            else:
                ex_brs.add((n, i))

    names = [name for _, name in marks]
    tab = {s: [0, 0, 0, 0, 0] for s in names + ["declarations"]}  # hit, lines, taken, branches, exempt
    uncovered = []
    for n in sorted(set(lines) | set(brs)):
        t = tab[section_of(marks, n)]
        if n in lines and n not in ex_lines:
            t[1] += 1
            t[0] += lines[n] > 0
            if not lines[n]:
                uncovered.append("%s:%d\t%s\tline\t%s" % (os.path.basename(header), n, function_of(n), text(n)))
        for i, k in enumerate(brs.get(n, [])):
            if (n, i) in ex_brs:
                t[4] += 1
                continue
            t[3] += 1
            t[2] += k > 0
            if not k:
                uncovered.append("%s:%d\t%s\tbranch %d/%d\t%s" % (
                    os.path.basename(header), n, function_of(n), i, len(brs[n]), text(n)))

    pct = lambda a, b: "%5.1f%%" % (100.0 * a / b) if b else "    -"
    def row(label, t):
        print("%-20s lines %s (%d/%d)   branches %s (%d/%d)%s" % (
            label, pct(t[0], t[1]), t[0], t[1], pct(t[2], t[3]), t[2], t[3],
            "   exempt %d" % t[4] if t[4] else ""))
    total = [0, 0, 0, 0, 0]
    for s in (["declarations"] if tab["declarations"][1] or tab["declarations"][3] else []) + names:
        row(s, tab[s])
        total = [a + b for a, b in zip(total, tab[s])]
    row("mqttc.h (compiled)", total)

    os.makedirs(outdir, exist_ok=True)
    with open(os.path.join(outdir, "uncovered.txt"), "w") as f:
        f.write("# uncovered and not exempt (tests/coverage/exemptions): file:line, function, what, source\n")
        f.write("".join(u + "\n" for u in uncovered))
    print("uncovered, not exempt: %d lines, %d branches (list in %s)" % (
        total[1] - total[0], total[3] - total[2], os.path.join(outdir, "uncovered.txt")))

    passed = failed = 0
    for what, got, want in (("lines", total[0], total[1]), ("branches", total[2], total[3])):
        p = 100.0 * got / want if want else 100.0
        ok = p >= thresholds[what]
        print("%s - %s %.1f%% >= %.1f%% (tests/coverage/thresholds)" % ("ok" if ok else "not ok", what, p, thresholds[what]))
        passed += ok
        failed += not ok
    print("%s - the %d exemptions all still apply" % ("not ok" if stale else "ok", len(entries)))
    for s in stale:
        print("    stale exemption: " + s)
    passed += not stale
    failed += bool(stale)
    print("%d passed, %d failed" % (passed, failed))
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
