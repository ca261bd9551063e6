#!/usr/bin/env python3
"""test_cgi_fcgi_start.py — the pool started by the real `cgi-fcgi -start -connect SOCK APP 2`
(the way a user tries it by hand: docs/responder.md), driven with `cgi-fcgi -bind -connect`,
then stopped with SIGTERM. The responder binary is copied to a unique path in the temp dir so
its processes are found exactly (/proc/PID/exe), never by a broad name. TAP lines out."""
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h  # noqa: E402

tap = h.Tap()


def pids_of(exe):
    out = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            if os.readlink("/proc/%s/exe" % d) == exe and not zombie(int(d)):
                out.append(int(d))
        except OSError:
            pass
    return sorted(out)


def zombie(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0] in ("Z", "X")
    except OSError:
        return True


def gone(pid):
    return not os.path.exists("/proc/%d" % pid) or zombie(pid)


def run(mode):
    """mode "direct": cgi-fcgi -start execs the responder itself (stdout and stderr closed:
    the responder must put /dev/null there, or a connection would land on fd 2 and take the
    log lines); mode "wrapper": a two-line script keeps stderr in a log file."""
    e = h.Env(start=False)
    pids = []
    name = "cgi-fcgi -start (%s)" % mode
    try:
        exe = os.path.join(e.dir, "bin", "messenger.fcgi")
        os.makedirs(os.path.dirname(exe))
        shutil.copy2(h.FCGI, exe)
        app = exe
        if mode == "wrapper":
            app = os.path.join(e.dir, "bin", "run-responder")
            with open(app, "w") as f:
                f.write("#!/bin/sh\nexec %s 2>>%s\n" % (exe, e.log_path))
            os.chmod(app, 0o755)
        env = dict(e.child_env)
        p = subprocess.run([h.CGI_FCGI, "-start", "-connect", e.sock_path, app, "2"],
                           env=env, cwd=e.dir, stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL, timeout=20)
        tap.eq(p.returncode, 0, "%s: exits 0" % name)
        deadline = time.time() + 5
        while time.time() < deadline and len(pids_of(exe)) < 2:
            time.sleep(0.05)
        pids = pids_of(exe)
        tap.eq(len(pids), 2, "%s: 2 responder processes run" % name)

        c = e.c1
        query = urllib.parse.urlencode({"hub.mode": "subscribe",
                                        "hub.verify_token": c.webhook_token,
                                        "hub.challenge": "20261125"})
        r = e.verify(c, query)
        tap.eq((r.status, r.body), (200, b"20261125"), "%s: verification" % name)
        mid = h.uniq("start")
        r = e.post(c, h.webhook(h.entry(c.page_id, [h.message_event(c.page_id, "9001", mid=mid)])))
        tap.eq((r.status, r.body), (200, b"EVENT_RECEIVED"), "%s: signed POST" % name)
        stored = [row for row in e.events() if mid in (row.get("raw") or "")]
        tap.eq(len(stored), 1, "%s: event stored" % name)
        statuses = [e.post(c, h.webhook(h.entry(c.page_id, [h.message_event(c.page_id, "9002")]))).status
                    for _ in range(20)]
        tap.eq(statuses, [200] * 20, "%s: 20 more POSTs" % name)
        r = e.request("POST", c.path, body=b"{}", signature="sha256=" + "0" * 64)
        tap.eq(r.status, 403, "%s: bad signature still 403" % name)

        for pid in pids:
            os.kill(pid, signal.SIGTERM)
        deadline = time.time() + 5
        while time.time() < deadline and not all(gone(pid) for pid in pids):
            time.sleep(0.05)
        tap.ok(all(gone(pid) for pid in pids), "%s: SIGTERM stops the pool" % name)
        if mode == "wrapper":
            log = e.log()
            tap.eq(log.count("stopping after"), 2, "%s: each process logged a clean stop" % name)
            tap.eq(len(e.request_lines()), e.requests_sent, "%s: one log line per request" % name)
            tap.ok(not e.secrets_in_log(), "%s: no secret in the log" % name)
            tap.ok(not e.sanitizer_errors(), "%s: sanitizers: no report" % name,
                   e.sanitizer_errors())
    except Exception as exc:
        tap.crash(name, exc)
    finally:
        for pid in pids:
            if not gone(pid):
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
        e.cleanup()


def main():
    run("direct")
    run("wrapper")
    tap.done()


if __name__ == "__main__":
    main()
