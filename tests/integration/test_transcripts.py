#!/usr/bin/env python3
"""test_transcripts.py — the example bots' conversations replayed as regression tests.

examples/transcripts/*.json were saved from the chat page (the café stories bot of
examples/stories.conf, and the Bot API bot of examples/bot_api on the cafe_api page). The
README's run command is started in a temporary RUN_DIR on free ports with the binaries under
test ($MSGR_FCGI, $MSGRCTL, $MSGR_SIM), and `sh scripts/quickstart.sh replay FILE` replays each
one for a fresh simulated user: it must print "FILE: ok" and exit 0, so a story whose answer
changes fails here. A copy with one expected answer changed must exit 1 and name the step.
REPLAY_WAIT_MS bounds a step's wait: a step expecting one message more than the bot sends
ends after it (not the default 10 s) with the missing message named; a wait out of bounds is
refused. Under valgrind (MSGR_SLOW) a step may wait 60 s: a job that a busy store moved from
a responder to the worker there took over 10 s in one CI run.
TAP lines: "ok - name" / "not ok - name".
"""
import glob
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import SLOW  # noqa: E402

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
SCRIPT = os.path.join(ROOT, "scripts", "quickstart.sh")
TRANSCRIPTS = sorted(glob.glob(os.path.join(ROOT, "examples", "transcripts", "*.json")))

failures = 0


def report(ok, name, detail=""):
    global failures
    print(("ok - " if ok else "not ok - ") + "transcripts: " + name)
    if not ok:
        failures += 1
        for line in str(detail).splitlines()[:40]:
            print("# " + line)
    sys.stdout.flush()


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def run(env, *args, timeout=180):
    if args[:1] == ("replay",) and SLOW and "REPLAY_WAIT_MS" not in env:
        env = dict(env, REPLAY_WAIT_MS="60000")
    p = subprocess.run(["sh", SCRIPT] + list(args), cwd=ROOT, env=env, timeout=timeout,
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    return p.returncode, p.stdout, p.stderr


def main():
    report(len(TRANSCRIPTS) >= 5, "examples/transcripts holds the example bots' conversations",
           "found: %r" % TRANSCRIPTS)
    run_dir = tempfile.mkdtemp(prefix="msgr-transcripts-")
    env = dict(os.environ)
    env.pop("APP_ID", None)
    env.pop("PAGE_ID", None)
    port = free_port()
    bot_port = free_port()
    while bot_port == port:
        bot_port = free_port()
    env.update(RUN_DIR=run_dir, PORT=str(port), BOT_PORT=str(bot_port))
    try:
        rc, out, err = run(env)
        report(rc == 0 and "/_sim/" in out, "the run command starts the simulator", out + err)
        if rc != 0:
            return
        for path in TRANSCRIPTS:
            rel = os.path.relpath(path, ROOT)
            rc, out, err = run(env, "replay", rel)
            report(rc == 0 and out.strip() == rel + ": ok",
                   "%s replays with the same answers" % os.path.basename(path),
                   "rc=%d\n%s%s" % (rc, out, err))

        # A changed expectation is caught, with the step named.
        with open(TRANSCRIPTS[0], encoding="utf-8") as f:
            t = json.load(f)
        changed = None
        for i, s in enumerate(t["steps"]):
            for m in s.get("page", []):
                if "text" in m:
                    m["text"] = "Something the bot never says"
                    changed = i + 1
                    break
            if changed:
                break
        bad = os.path.join(run_dir, "changed.json")
        with open(bad, "w", encoding="utf-8") as f:
            json.dump(t, f, ensure_ascii=False)
        rc, out, err = run(env, "replay", bad)
        report(rc == 1 and "Something the bot never says" in out + err and "step" in out + err,
               "a transcript whose answer differs exits 1 with the difference",
               "rc=%d changed step %s\n%s%s" % (rc, changed, out, err))

        # A step's wait is bounded by REPLAY_WAIT_MS: one message more than the bot sends.
        with open(TRANSCRIPTS[0], encoding="utf-8") as f:
            t = json.load(f)
        first = next(i for i, s in enumerate(t["steps"]) if "page" in s)
        t["steps"] = t["steps"][:first + 1]
        t["steps"][first]["page"].append({"text": "A message the bot never sends"})
        more = os.path.join(run_dir, "more.json")
        with open(more, "w", encoding="utf-8") as f:
            json.dump(t, f, ensure_ascii=False)
        t0 = time.monotonic()
        rc, out, err = run(dict(env, REPLAY_WAIT_MS="1000"), "replay", more)
        took = time.monotonic() - t0
        report(rc == 1 and "A message the bot never sends" in out and "/ got nothing" in out
               and took < 9.5,
               "REPLAY_WAIT_MS=1000: a step waits 1 s for a missing answer, not 10 (%.1f s)"
               % took, "rc=%d %.1f s\n%s%s" % (rc, took, out, err))
        rc, out, err = run(dict(env, REPLAY_WAIT_MS="500"), "replay", more)
        report(rc == 1 and "wait_ms: 1000 to 120000" in out + err,
               "REPLAY_WAIT_MS=500 is refused, with the bounds", "rc=%d\n%s%s" % (rc, out, err))
        rc, out, err = run(dict(env, REPLAY_WAIT_MS="1s"), "replay", more)
        report(rc == 1 and "REPLAY_WAIT_MS" in err, "REPLAY_WAIT_MS=1s is refused",
               "rc=%d\n%s%s" % (rc, out, err))
    finally:
        rc, out, err = run(env, "stop", timeout=60)
        report(rc == 0, "the run command's stop stops everything", out + err)
        shutil.rmtree(run_dir, ignore_errors=True)


if __name__ == "__main__":
    main()
    sys.exit(1 if failures else 0)
