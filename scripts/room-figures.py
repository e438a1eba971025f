#!/usr/bin/env python3
"""Issue 12's figures for the rooms of agent/: files and lines per room, and the length of
every function (median, p90, max), plus the run_* functions over 40 lines.

    python3 scripts/room-figures.py [ROOT]      (ROOT: a checkout, default this one)

Function lengths come from a careful brace count, not a compiler: comments, string and
character literals (raw strings too) and preprocessor lines are blanked first, then every
`{` at namespace or class scope whose text since the previous `;`, `{` or `}` reads as a
function head (a parameter list, not `class`/`struct`/`enum`/`union`/`namespace`, no `=`
before the parenthesis) opens a function; its length is the lines from the head's first
line to the matching `}`. Lambdas and local classes count in their enclosing function.
Constructors with initializer lists and out-of-line members (`A::f(...)`) are found;
brace-initialised variables at namespace scope (`T x{...}`) are not functions and are
skipped because their head has no parameter list. Good enough to compare before with after
on the same code base; exact to the line on the functions checked by hand.
"""
import os
import re
import statistics
import sys

ROOMS = ["base", "proc", "goruntime", "probes", "cpu", "leaks", "http", "daemon", "cli"]
NOT_FUNCTION = re.compile(r"^\s*(template\s*<.*>\s*)?(class|struct|enum|union|namespace)\b|"
                          r"^\s*extern\s+\"C\"", re.S)


def blank(src):
    """Comments, literals and preprocessor lines replaced by spaces, newlines kept."""
    out = []
    i, n = 0, len(src)
    at_line_start = True
    while i < n:
        c = src[i]
        if at_line_start and src[i:].lstrip(" \t").startswith("#"):
            j = i
            while j < n:  # a directive, with its backslash continuations
                k = src.find("\n", j)
                k = n if k < 0 else k
                if k > 0 and src[k - 1] == "\\":
                    j = k + 1
                    continue
                j = k
                break
            out.append(re.sub(r"[^\n]", " ", src[i:j]))
            i = j
            continue
        at_line_start = False
        if src.startswith("//", i):
            j = src.find("\n", i)
            j = n if j < 0 else j
            out.append(" " * (j - i))
            i = j
        elif src.startswith("/*", i):
            j = src.find("*/", i + 2)
            j = n if j < 0 else j + 2
            out.append(re.sub(r"[^\n]", " ", src[i:j]))
            i = j
        elif c == "R" and src.startswith('R"', i) and (i == 0 or not (src[i - 1].isalnum() or src[i - 1] == "_")):
            m = re.match(r'R"([^(\s]*)\(', src[i:])
            end = src.find(")" + m.group(1) + '"', i) if m else -1
            j = n if end < 0 else end + len(m.group(1)) + 2
            out.append('""' + re.sub(r"[^\n]", " ", src[i + 2:j]))
            i = j
        elif c in "\"'":
            if c == "'" and i > 0 and src[i - 1].isalnum():  # a digit separator: 1'000
                out.append(c)
                i += 1
                continue
            j = i + 1
            while j < n and src[j] != c and src[j] != "\n":
                j += 2 if src[j] == "\\" else 1
            out.append(c + " " * (min(j, n) - i - 1) + (c if j < n else ""))
            i = j + 1
        else:
            out.append(c)
            if c == "\n":
                at_line_start = True
            i += 1
    return "".join(out)


def functions(path):
    """(name, first line, lines) of each function defined in the file."""
    text = blank(open(path, encoding="utf-8", errors="replace").read())
    found = []
    # A stack of scopes: "ns" (namespace or class body: functions may start here) or "code".
    scopes = []
    head_start = 0
    i = 0
    while i < len(text):
        c = text[i]
        if c == "{":
            head = text[head_start:i]
            in_decl_scope = all(s == "ns" for s in scopes)
            if in_decl_scope and "(" in head and not NOT_FUNCTION.match(head) and \
                    "=" not in head.split("(", 1)[0]:
                depth, j = 1, i + 1
                while j < len(text) and depth:
                    depth += {"{": 1, "}": -1}.get(text[j], 0)
                    j += 1
                first = len(text[:head_start]) - len(text[:head_start].lstrip())
                start_line = text.count("\n", 0, head_start + (len(head) - len(head.lstrip()))) + 1
                end_line = text.count("\n", 0, j) + 1
                name = re.findall(r"([~\w:]+)\s*\(", head.split("->")[0])
                found.append((name[0] if name else "?", start_line, end_line - start_line + 1))
                i = j
                head_start = j
                continue
            scopes.append("ns" if in_decl_scope else "code")
            head_start = i + 1
        elif c == "}":
            if scopes:
                scopes.pop()
            head_start = i + 1
        elif c == ";":
            head_start = i + 1
        elif c == ":" and all(s == "ns" for s in scopes) and re.search(
                r"\b(public|private|protected)\s*$", text[head_start:i]):
            head_start = i + 1
        i += 1
    return found


def percentile(values, p):
    values = sorted(values)
    k = max(0, min(len(values) - 1, int(round(p / 100 * len(values) + 0.5)) - 1))
    return values[k]


def main():
    root = sys.argv[1] if len(sys.argv) > 1 else os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    agent = os.path.join(root, "agent")
    all_lengths, long_runs = [], []
    print(f"{'room':<10} {'files':>5} {'lines':>6} {'funcs':>5} {'median':>6} {'p90':>4} {'max':>4}")
    totals = [0, 0]
    # Before the rooms (0ceef95 and older) agent/ was one flat folder: one row for it.
    rooms = [r for r in ROOMS if os.path.isdir(os.path.join(agent, r))] or ["."]
    for room in rooms:
        d = os.path.join(agent, room)
        files = sorted(f for f in os.listdir(d) if f.endswith((".cpp", ".h")))
        lines, lengths = 0, []
        for f in files:
            p = os.path.join(d, f)
            lines += sum(1 for _ in open(p, encoding="utf-8", errors="replace"))
            for name, line, n in functions(p):
                lengths.append(n)
                if re.search(r"(^|::)run(_\w+)?$", name) and n > 40:
                    long_runs.append(f"{room}/{f}:{line} {name} {n}")
        totals[0] += len(files)
        totals[1] += lines
        all_lengths += lengths
        print(f"{room:<10} {len(files):>5} {lines:>6} {len(lengths):>5} "
              f"{statistics.median(lengths):>6g} {percentile(lengths, 90):>4} {max(lengths):>4}")
    print(f"{'agent/':<10} {totals[0]:>5} {totals[1]:>6} {len(all_lengths):>5} "
          f"{statistics.median(all_lengths):>6g} {percentile(all_lengths, 90):>4} "
          f"{max(all_lengths):>4}")
    print("run* functions over 40 lines:", ", ".join(long_runs) if long_runs else "none")


if __name__ == "__main__":
    main()
