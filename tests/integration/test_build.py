#!/usr/bin/env python3
"""test_build.py — the build itself: libmsgr exports only msgr_ names, and the tree builds
clean (-Werror with every warning of the Makefile) with the other compiler too.

The suite is built with gcc (or whatever CC make used); this test builds the library, the
responder and msgrctl again with clang into a temp dir, so a warning only one compiler sees
cannot slip in."""
import os
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(__file__))
from harness import ROOT, Tap  # noqa: E402

BUILD = os.environ.get("MSGR_BUILD", "build")


def exported(lib):
    p = subprocess.run(["nm", "-D", "--defined-only", lib], capture_output=True, text=True,
                       timeout=60)
    names = []
    for line in p.stdout.splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[1] in "TDBRVW":
            names.append(parts[2])
    return p.returncode, names


def main():
    t = Tap()
    lib = os.path.join(ROOT, BUILD, "libmsgr.so")
    rc, names = exported(lib)
    t.ok(rc == 0 and len(names) > 50, "libmsgr.so exports its API (%d names)" % len(names))
    bad = [n for n in names if not n.startswith("msgr_")]
    t.eq(bad, [], "libmsgr.so exports only msgr_ names")
    static = os.path.join(ROOT, BUILD, "libmsgr.a")
    p = subprocess.run(["nm", "--defined-only", "-g", static], capture_output=True, text=True,
                       timeout=60)
    globals_ = [l.split()[2] for l in p.stdout.splitlines()
                if len(l.split()) == 3 and l.split()[1] in "TDBR"]
    # ASan's own aliases (__odr_asan.NAME) come with a SAN=1 build.
    t.eq([g for g in globals_ if not g.startswith(("msgr_", "__odr_asan", "__asan"))], [],
         "libmsgr.a defines no global outside msgr_ (no name clashes for users)")

    # bench/variants.sh measures design ceilings with ceiling.patch applied to a copy of the
    # tree, bench/run.sh's DRAIN_TIMES=1 where the drain's time goes with drain_times.patch,
    # INTAKE_TIMES=1 where a request's goes with intake_times.patch: a change to lib/commit.c,
    # lib/hostcommit.c, lib/turns.c, lib/http.c, lib/clock.c or src/fcgi_serve.c must keep
    # them applying, and the patched tree building with -Werror (the way the bench builds it).
    for patch in ("bench/variants/ceiling.patch", "bench/variants/drain_times.patch",
                  "bench/variants/intake_times.patch"):
        out = tempfile.mkdtemp(prefix="msgr-variant-")
        try:
            p = subprocess.run(["sh", "bench/variants/build.sh", patch, out], cwd=ROOT,
                               capture_output=True, text=True, timeout=900)
            built = [f for f in ("bin/msgrctl", "cgi-bin/messenger.fcgi")
                     if os.access(os.path.join(out, f), os.X_OK)]
            t.ok(p.returncode == 0 and len(built) == 2,
                 patch + " applies to this tree, which then builds", (p.stderr)[-2000:])
        finally:
            shutil.rmtree(out, ignore_errors=True)

    # The bench's scripts run only under `make bench`: a syntax error in one would wait there.
    scripts = sorted(os.path.join("bench", f) for f in os.listdir(os.path.join(ROOT, "bench"))
                     if f.endswith(".sh")) + ["bench/variants/build.sh"]
    bad = {}
    for sh in scripts:
        p = subprocess.run(["sh", "-n", sh], cwd=ROOT, capture_output=True, text=True,
                           timeout=60)
        if p.returncode != 0:
            bad[sh] = p.stderr[-500:]
    t.ok(len(scripts) >= 5 and not bad, "the bench's %d shell scripts parse (sh -n)"
         % len(scripts), bad)

    # The bench's C programs build with -Werror, and calls_ceiling makes calls to graph_fast.
    progs = ["build/bench/" + n for n in ("bare_fcgi", "graph_fast", "store_enqueue",
                                          "rss_floor", "calls_ceiling")]
    p = subprocess.run(["make", "-s", "-C", ROOT] + progs, capture_output=True, text=True,
                       timeout=900)
    t.ok(p.returncode == 0, "the bench's C programs build with -Werror",
         (p.stdout + p.stderr)[-3000:])
    if p.returncode == 0:
        work = tempfile.mkdtemp(prefix="msgr-calls-")
        stub = subprocess.Popen([os.path.join(ROOT, "build/bench/graph_fast"), "0",
                                 os.path.join(work, "port"), os.devnull, "60"])
        try:
            for _ in range(100):
                if os.path.exists(os.path.join(work, "port")):
                    break
                time.sleep(0.05)
            with open(os.path.join(work, "port")) as f:
                url = "http://127.0.0.1:%s/v26.0/me/messages" % f.read().strip()
            lines = []
            for mode in ("easy", "multi"):
                p = subprocess.run([os.path.join(ROOT, "build/bench/calls_ceiling"), url, mode,
                                    "2", "0.5"], capture_output=True, text=True, timeout=60)
                lines.append((p.returncode, p.stdout + p.stderr))
            t.ok(all(rc == 0 and " calls/s " in o and "client CPU" in o for rc, o in lines),
                 "bench/calls_ceiling calls graph_fast with easy and multi handles", lines)
            p = subprocess.run([os.path.join(ROOT, "build/bench/calls_ceiling"),
                                "http://127.0.0.1:9/", "easy", "1", "0.5"],
                               capture_output=True, text=True, timeout=60)
            t.ok(p.returncode == 1 and "a call failed" in p.stderr,
                 "bench/calls_ceiling says so when no stub answers", (p.returncode, p.stderr))
        finally:
            stub.terminate()
            stub.wait(timeout=30)
            shutil.rmtree(work, ignore_errors=True)

    cc = "clang" if shutil.which("clang") else None
    if cc is None:
        t.ok(False, "clang is installed (sh scripts/deps.sh --test)")
        return t.done()
    out = tempfile.mkdtemp(prefix="msgr-clang-")
    try:
        p = subprocess.run(["make", "-s", "-C", ROOT, "CC=" + cc, "O=" + out,
                            "FCGI_OUT=" + os.path.join(out, "messenger.fcgi"),
                            "CTL_OUT=" + os.path.join(out, "msgrctl"),
                            os.path.join(out, "libmsgr.a"), os.path.join(out, "libmsgr.so"),
                            os.path.join(out, "messenger.fcgi"), os.path.join(out, "msgrctl")],
                           capture_output=True, text=True, timeout=900)
        t.ok(p.returncode == 0, "clang builds the library and both programs with -Werror",
             (p.stdout + p.stderr)[-3000:])
        t.ok(os.path.exists(os.path.join(out, "msgrctl")) and
             subprocess.run([os.path.join(out, "msgrctl"), "--help"], capture_output=True,
                            timeout=30).returncode == 0,
             "the clang-built msgrctl runs")
    finally:
        shutil.rmtree(out, ignore_errors=True)
    return t.done()


if __name__ == "__main__":
    sys.exit(main())
