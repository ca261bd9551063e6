#!/usr/bin/env python3
"""proclogs.py DIR TEST — what the processes of one test wrote about themselves, as TAP lines
(tests/run calls it after each test when MSGR_PROC_LOGS is set: make valgrind, make tsan).

    vg.NAME.PID   valgrind memcheck's report of one process (tests/valgrind/wrap.sh)
    tsan.PID      a ThreadSanitizer report (TSAN_OPTIONS log_path; written only on a report)

One line per kind found: `ok` when no process reported an error, else `not ok` with the first
records (the stacks, never the program's data). Valgrind's line fails too when no process of
the test ran under valgrind at all (the wrapper was not used: the check would be vacuous).
The files then move into DIR/TEST/, kept for a look after the run."""
import os
import re
import sys

RECORD_AT = re.compile(r"^\s+(at|by) 0x")
PREFIX = re.compile(r"^==\d+== ?")
SUMMARY = re.compile(r"ERROR SUMMARY: (\d+) errors")


# A process ended by one of these is a test stopping or killing it, not a memory error.
STOPPED = re.compile(r"^Process terminating with default action of signal \d+ "
                     r"\(SIG(TERM|KILL|INT|HUP|USR1)\)")


def valgrind_records(text):
    """The error records of a memcheck log: a heading line followed by its stack (a crash's
    signal included, a stop's excluded)."""
    lines = [PREFIX.sub("", l) for l in text.splitlines()]
    out = []
    i = 0
    while i < len(lines):
        l = lines[i]
        if l and not l[0].isspace() and i + 1 < len(lines) and RECORD_AT.match(lines[i + 1]):
            rec = [l]
            i += 1
            while i < len(lines) and lines[i].strip():
                rec.append(lines[i])
                i += 1
            if not STOPPED.match(l):
                out.append(rec)
        else:
            i += 1
    return out


def main():
    if len(sys.argv) != 3:
        print("usage: proclogs.py DIR TEST", file=sys.stderr)
        return 2
    d, test = sys.argv[1], sys.argv[2]
    names = sorted(n for n in os.listdir(d) if os.path.isfile(os.path.join(d, n)))
    vg = [n for n in names if n.startswith("vg.")]
    ts = [n for n in names if n.startswith("tsan.")]
    failed = 0

    if os.environ.get("MSGR_PROC_LOGS_KIND", "") == "valgrind" or vg:
        procs = exited = 0
        bad = []
        for n in vg:
            with open(os.path.join(d, n), errors="replace") as f:
                text = f.read()
            procs += 1
            m = SUMMARY.search(text)
            if m:
                exited += 1
            recs = valgrind_records(text)
            if recs or (m and int(m.group(1)) > 0):
                bad.append((n, recs, m.group(0) if m else "killed before its exit"))
        name = ("valgrind over %s: %d processes (%d ran to their exit, leak-checked), "
                "no invalid access, no definite leak" % (test, procs, exited))
        if procs and not bad:
            print("ok - " + name)
        else:
            failed += 1
            print("not ok - " + name)
            if not procs:
                print("#   no process of this test ran under valgrind")
            shown = 0
            for n, recs, summary in bad:
                print("#   %s: %s" % (n, summary))
                for rec in recs:
                    for l in rec[:16]:
                        if shown < 120:
                            print("#     " + l)
                            shown += 1

    if os.environ.get("MSGR_PROC_LOGS_KIND", "") == "tsan" or ts:
        name = "ThreadSanitizer over %s: no report" % test
        if not ts:
            print("ok - " + name)
        else:
            failed += 1
            print("not ok - " + name)
            shown = 0
            for n in ts:
                with open(os.path.join(d, n), errors="replace") as f:
                    for l in f.read().splitlines():
                        if shown < 150:
                            print("#   %s: %s" % (n, l))
                            shown += 1

    if vg or ts:
        keep = os.path.join(d, test)
        os.makedirs(keep, exist_ok=True)
        for n in vg + ts:
            os.replace(os.path.join(d, n), os.path.join(keep, n))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
