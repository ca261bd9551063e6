#!/usr/bin/env python3
"""test_worker_durability.py — the worker's bookkeeping is made durable where it matters
(docs/worker.md "Durability"): with state.sync = "full" the commits of a run are not fsynced
one by one; the commit before each call that must not go twice (a message, a thread action)
is, and so is the end of the run. Counted with strace over `msgrctl drain`: before, about a
dozen fsyncs per answer; now one per message call and a few to open the store. Every
answer still goes exactly once. With sync = "normal" nothing is fsynced per call. Prints TAP.
"""
import os
import re
import shutil
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h  # noqa: E402
from workerenv import MSGRCTL, WorkerEnv  # noqa: E402

tap = h.Tap()
USERS = 12


def drain_fsyncs(e):
    """Runs `msgrctl drain` under strace; returns (rc, fsync calls, strace summary)."""
    out = os.path.join(e.dir, "strace.txt")
    env = dict(e.child_env)
    # LeakSanitizer cannot work under ptrace and aborts at exit: leaks are checked by every
    # other test that runs msgrctl drain; ASan's other checks stay on.
    env["ASAN_OPTIONS"] = (env.get("ASAN_OPTIONS", "") + ":detect_leaks=0").lstrip(":")
    p = subprocess.run(["strace", "-f", "-c", "-e", "trace=fsync,fdatasync", "-o", out,
                        MSGRCTL, "-c", e.conf_path, "drain", "--budget", "20000"],
                       env=env, capture_output=True, timeout=120, cwd=e.dir)
    with open(e.log_path, "ab") as f:
        f.write(p.stderr)
    text = open(out).read()
    n = 0
    for m in re.finditer(r"^\s*[\d.]+\s+[\d.]+\s+\d+\s+(\d+)\s+(?:\d+\s+)?(fsync|fdatasync)\s*$",
                         text, re.M):
        n += int(m.group(1))
    return p.returncode, n, text


def run(sync):
    e = WorkerEnv(nproc=1, budget_ms=0)
    try:
        if sync == "normal":
            # msgrctl reads the file again; the responder keeps its own durable intake.
            with open(e.conf_path) as f:
                text = f.read()
            with open(e.conf_path, "w") as f:
                f.write(text.replace('sync = "full"', 'sync = "normal"'))
        c = e.c1
        mids = []
        for i in range(USERS):
            mid = h.uniq("du")
            mids.append(mid)
            r = e.post(c, h.webhook(h.entry(c.page_id, [
                h.message_event(c.page_id, "7%05d" % i, text="one", mid=mid)])))
            if r.status != 200:
                tap.ok(False, "%s: webhook %d answered 200" % (sync, i), r)
        # The responders stop first: the host committer's checkpoints would restart the WAL
        # under the drain, and each restart syncs it (a few a second, however fast the drain).
        e.stop()
        rc, n, summary = drain_fsyncs(e)
        tap.eq(rc, 0, "%s: msgrctl drain exits 0" % sync)
        sends = [s for s in e.fake.sends() if "message" in (s.get("body") or {})]
        per_user = {}
        for s in sends:
            uid = (s["body"].get("recipient") or {}).get("id")
            per_user[uid] = per_user.get(uid, 0) + 1
        tap.ok(len(per_user) == USERS and all(v == 1 for v in per_user.values()),
               "%s: every user answered exactly once (%d messages)" % (sync, len(sends)),
               per_user)
        return n, len(sends), len(e.fake.sends())
    finally:
        e.cleanup()


def main():
    if shutil.which("strace") is None:
        tap.ok(False, "strace is installed (sh scripts/deps.sh --test)")
        tap.done()
        return
    try:
        n_full, msgs, _ = run("full")
        # One durable commit before each message call, and a few for opening the store. Every
        # commit was durable before: about a dozen per answer.
        tap.ok(msgs <= n_full <= msgs + 6,
               "sync = full: %d fsyncs for %d answers of one message each (one before each "
               "message call; a dozen per answer before)" % (n_full, msgs), n_full)
        n_normal, _, calls = run("normal")
        tap.ok(n_normal < calls, "sync = normal: no fsync per call (%d in all, for %d Send API "
               "calls)" % (n_normal, calls), n_normal)
    except Exception as exc:  # noqa: BLE001
        tap.crash("durability", exc)
    tap.done()


if __name__ == "__main__":
    main()
