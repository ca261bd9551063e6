#!/usr/bin/env python3
"""Integration tests of the worker (docs/worker.md): answers through cgi-fcgi and the fake Graph API.

A pool of responders shares one FastCGI socket; each runs the worker after its response.
`msgrctl drain` runs the same worker from the command line. The fake Graph API checks every
call as Facebook would and records it; it is told to fail to test retries, pauses and
permanent errors."""
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))
import harness  # noqa: E402
from harness import Env, Tap, entry, message_event, postback_event, uniq, webhook  # noqa: E402
from workerenv import MSGRCTL, WorkerEnv, drain_until, send_calls_to, wait_for  # noqa: E402

def test_answers_in_order(t, env):
    c, psid = env.c1, harness.rand_digits(16)
    r = env.post(c, webhook(entry(c.page_id, [message_event(c.page_id, psid, "Hello there")])))
    t.eq(r.status, 200, "worker: webhook accepted")
    ok = wait_for(lambda: len(env.fake.texts(psid)) >= 2)
    t.ok(ok, "worker: the story's answers were sent", env.fake.calls())
    seq = []
    for b in send_calls_to(env.fake, psid):
        seq.append(b.get("sender_action") or (b.get("message") or {}).get("text"))
    # The fake's profile of a user it does not know is First<last 4 digits>.
    t.eq(seq, ["mark_seen", "typing_on", "Hello First%s!" % psid[-4:], "How can I help?"],
         "worker: mark_seen, typing, then the answers in order, names from the profile")
    last = send_calls_to(env.fake, psid)[-1]
    t.eq([q.get("payload") for q in last["message"].get("quick_replies", [])], ["HELP"],
         "worker: quick replies ride on the answer")
    t.eq(last.get("messaging_type"), "RESPONSE", "worker: messaging_type RESPONSE")
    t.eq(env.fake.violations(), [], "worker: the fake saw no violation (token never in a URL)")


def test_redelivery_answered_once(t, env):
    c, psid = env.c1, harness.rand_digits(16)
    body = webhook(entry(c.page_id, [message_event(c.page_id, psid, "one")]))
    for _ in range(3):
        env.post(c, body)
    wait_for(lambda: env.fake.texts(psid))
    time.sleep(1.0)
    env.post(c, body)         # once more after it was answered
    time.sleep(1.0)
    env.msgrctl("drain")
    t.eq(env.fake.texts(psid), ["1"], "worker: a redelivered webhook is answered once")


def test_order_across_processes(t, env):
    c, psid = env.c2, harness.rand_digits(16)
    base = harness.now_ms()
    words = ["one", "two", "three", "four", "five", "six"]
    bodies = [webhook(entry(c.page_id, [message_event(c.page_id, psid, w, ts=base + i * 10)]))
              for i, w in enumerate(words)]
    # Each is posted once the one before is acknowledged, as Facebook delivers one person's
    # messages: the two processes take them as they come, and the next is often stored while
    # the other process's worker holds the conversation. (Posted at once, the second could be
    # stored and answered before the first had arrived at all.)
    statuses = [env.post(c, b).status for b in bodies]
    t.eq(statuses, [200] * 6, "worker: six messages of one user, each acknowledged")
    wait_for(lambda: len(env.fake.texts(psid)) >= 6, timeout=30)
    env.msgrctl("drain")
    t.eq(env.fake.texts(psid), ["1", "2", "3", "4", "5", "6"],
         "worker: six messages of one user posted to two processes are answered in order")


def test_graph_failing_then_recovering(t, env):
    c = env.c1
    users = [harness.rand_digits(16) for _ in range(3)]
    env.fake.fail("500", count=-1, path="/messages")
    for u in users:
        env.post(c, webhook(entry(c.page_id, [message_event(c.page_id, u, "two")])))
    time.sleep(1.5)
    t.ok(all(env.fake.texts(u) == [] for u in users), "worker: nothing answered while failing")
    rc, out, _ = env.msgrctl("status")
    t.ok(rc == 0 and "retr" in out, "worker: status shows retries waiting", out)
    # The Graph API refuses connections for a while, then comes back on the same port.
    env.fake.stop()
    time.sleep(2.5)
    env.msgrctl("drain")
    env.fake.start(port=env.fake.port)
    env.fake.clear_fail()
    ok = drain_until(env, lambda: all(len(env.fake.texts(u)) >= 1 for u in users), timeout=40)
    t.ok(ok, "worker: every event answered after the Graph API recovers")
    time.sleep(1.0)
    env.msgrctl("drain")
    t.ok(all(env.fake.texts(u) == ["2"] for u in users),
         "worker: ...exactly once", [env.fake.texts(u) for u in users])


def test_sigkill_mid_work(t, env):
    c, psid = env.c2, harness.rand_digits(16)
    env.fake.fail("hang", count=1, path="/messages", seconds=20)
    env.post(c, webhook(entry(c.page_id, [message_event(c.page_id, psid, "Hello")])))
    # A responder is now inside the Send API call that hangs: kill the whole pool.
    wait_for(lambda: any(cc.get("path", "").endswith("/messages") for cc in env.fake.calls()),
             timeout=10)
    time.sleep(0.3)
    for pid in list(env.children):
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
    env.children = []
    env.fake.clear_fail()
    with env.db() as db:
        n = db.execute("SELECT count(*) FROM events WHERE user_id = ?", (psid,)).fetchone()[0]
    t.eq(n, 1, "worker: the event survived the kill")
    time.sleep(3.2)           # the dead process's lease lapses
    drain_until(env, lambda: len(env.fake.texts(psid)) >= 2, timeout=20)
    env.msgrctl("drain")
    t.eq(env.fake.texts(psid), ["Hello First%s!" % psid[-4:], "How can I help?"],
         "worker: after SIGKILL and msgrctl drain every answer went exactly once")
    env.start(2)


def test_permanent_not_retried(t, env):
    c, psid = env.c1, harness.rand_digits(16)
    env.fake.fail("permanent", count=-1, path="/messages")
    env.post(c, webhook(entry(c.page_id, [message_event(c.page_id, psid, "three")])))
    wait_for(lambda: env.jobs("user_id = '%s' AND state != 0" % psid))
    env.fake.clear_fail()
    time.sleep(2.5)
    env.msgrctl("drain")
    attempts = [cc for cc in env.fake.calls("/messages")
                if (cc.get("body") or {}).get("recipient", {}).get("id") == psid
                and "message" in (cc.get("body") or {})]
    t.eq(len(attempts), 1, "worker: a permanent error (551) is not retried")
    rc, out, _ = env.msgrctl("status")
    t.ok(rc == 0 and "551" in out, "worker: the failure shows in msgrctl status", out)


def test_window(t, env):
    c, psid = env.c1, harness.rand_digits(16)
    old = harness.now_ms() - 25 * 3600 * 1000
    env.post(c, webhook(entry(c.page_id, [message_event(c.page_id, psid, "four", ts=old)])))
    wait_for(lambda: env.jobs("user_id = '%s' AND state != 0" % psid))
    t.eq(env.fake.texts(psid), [], "worker: no answer past the 24-hour window")
    rows = env.jobs("user_id = '%s'" % psid)
    t.ok(rows and "window" in (rows[0][3] or ""), "worker: refused locally and recorded", rows)


def test_echo_and_standby_not_answered(t, env):
    c, psid = env.c1, harness.rand_digits(16)
    echo = {"sender": {"id": c.page_id}, "recipient": {"id": psid},
            "timestamp": harness.now_ms(),
            "message": {"mid": uniq("m_echo"), "is_echo": True, "app_id": 263902037430900,
                        "text": "hi from a person"}}
    standby = message_event(c.page_id, psid, "hello while someone else owns the thread")
    env.post(c, webhook(entry(c.page_id, [echo]), entry(c.page_id, [standby], standby=True)))
    wait_for(lambda: len(env.jobs("user_id = '%s' AND state != 0" % psid)) == 2)
    env.msgrctl("drain")
    t.eq(send_calls_to(env.fake, psid), [], "worker: echoes and standby events are never answered")
    t.eq(len(env.jobs("user_id = '%s' AND state = 1" % psid)), 2,
         "worker: ...and both are recorded as done")


def test_profile_once(t, env):
    c, psid = env.c3, harness.rand_digits(16)
    for w in ("hello", "five", "six"):
        env.post(c, webhook(entry(c.page_id, [message_event(c.page_id, psid, w)])))
    wait_for(lambda: len(env.fake.texts(psid)) >= 4, timeout=20)
    gets = [cc for cc in env.fake.calls("/" + psid) if cc.get("method") == "GET"]
    t.eq(len(gets), 1, "worker: the profile is fetched once per user")


def traced_env(env):
    """The child's environment for a run under strace: LeakSanitizer cannot work under ptrace
    (it stops the process with an error), so the sanitizer build's leak check is left to the
    untraced runs."""
    e = dict(env.child_env)
    e["ASAN_OPTIONS"] = ":".join(o for o in (e.get("ASAN_OPTIONS", ""), "detect_leaks=0") if o)
    return e


def store_held(env):
    """What holds the store while a worker should hold nothing, or None. SQLite: its write
    lock, taken with 1 s to get it. PostgreSQL (locks by row, no lock of the whole store): a
    session of the store's database idle inside an open transaction for over 1 s, as long
    (a worker's own steps, and the intake's, leave a transaction idle between statements for
    a moment; under valgrind for hundreds of ms: CI's valgrind stage saw one)."""
    if env.backend == "postgresql":
        with env.db() as db:
            n = db.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = "
                           "current_database() AND state = 'idle in transaction' AND "
                           "state_change < now() - interval '1 second'").fetchall()[0][0]
        return "%s session(s) idle in transaction over 1 s" % n if int(n) else None
    db = sqlite3.connect(env.db_path, timeout=1.0, isolation_level=None)
    try:
        db.execute("BEGIN IMMEDIATE")
        db.execute("ROLLBACK")
        return None
    except sqlite3.OperationalError as e:
        return str(e)
    finally:
        db.close()


def test_bot_opened_without_the_lock(t):
    """A worker opens a connector's bot (reads and folds its stories file) with the store's
    transaction committed: the host's intake and the other workers never wait for it. strace
    holds the stories file's openat for 3 s; meanwhile the test looks, over and over, for
    what would hold the store (store_held)."""
    env = WorkerEnv(nproc=1, budget_ms=0)
    try:
        c, psid = env.c1, harness.rand_digits(16)
        r = env.post(c, webhook(entry(c.page_id, [message_event(c.page_id, psid, "one")])))
        t.eq(r.status, 200, "worker, bot opened: webhook stored")
        env.settled()
        stories = os.path.join(env.dir, "stories.conf")
        trace = os.path.join(env.dir, "open.strace")
        drain = subprocess.Popen(
            ["strace", "-f", "-qq", "-o", trace, "-P", stories, "-e", "trace=openat,open",
             "-e", "inject=openat,open:delay_exit=3000000", MSGRCTL, "-c", env.conf_path,
             "drain"], env=traced_env(env), cwd=env.dir,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        looks, seen_held = 0, []
        try:
            while drain.poll() is None and looks < 200:
                time.sleep(0.2)
                held = store_held(env)
                if held is not None and drain.poll() is None:
                    seen_held.append(held)
                looks += 1
            rc = drain.wait(timeout=120)
        finally:
            if drain.poll() is None:
                drain.kill()
                drain.wait()
        with open(trace) as f:
            opens = [ln for ln in f if "stories.conf" in ln and "resumed" not in ln]
        t.ok(rc == 0 and any("DELAYED" in o for o in opens),
             "worker, bot opened: the drain read the stories file held 3 s", (rc, opens))
        t.eq(seen_held, [], "worker, bot opened: nothing held the store meanwhile (%d looks)"
             % looks)
        t.eq(env.fake.texts(psid), ["1"], "worker, bot opened: and the answer went")
    finally:
        env.stop()
        env.cleanup()


def test_token_pause(t):
    env = WorkerEnv(nproc=1)
    try:
        c, psid = env.c3, harness.rand_digits(16)
        env.fake.fail("token", count=-1, path="/messages")
        env.post(c, webhook(entry(c.page_id, [message_event(c.page_id, psid, "six")])))
        wait_for(lambda: env.jobs("user_id = '%s' AND attempts > 0" % psid))
        rc, out, _ = env.msgrctl("status")
        t.ok("paused" in out and c.id in out, "worker: 190 pauses the connector", out)
        t.eq(env.fake.texts(psid), [], "worker: ...and nothing is sent meanwhile")
        # Other connectors go on.
        other = harness.rand_digits(16)
        env.post(env.c2, webhook(entry(env.c2.page_id,
                                       [message_event(env.c2.page_id, other, "one")])))
        env.fake.fail("token", count=-1, path="/messages")
        # The token is fixed: a new one in the config (the fake accepts it) and Facebook works.
        env.fake.clear_fail()
        new = "EAAnew" + harness.rand_digits(30)
        fake_conf = json.load(open(env.fake.conf))
        fake_conf["pages"][c.page_id]["token"] = new
        json.dump(fake_conf, open(env.fake.conf, "w"))
        env.fake.stop()
        env.fake.start(port=env.fake.port)
        c.call_token = new
        env.write_config()
        ok = drain_until(env, lambda: env.fake.texts(psid) == ["6"], timeout=30)
        t.ok(ok, "worker: sending resumes once the token is fixed", env.fake.texts(psid))
        rc, out, _ = env.msgrctl("status")
        t.ok("paused" not in out.split("recent")[0] or c.id not in out.split("recent")[0],
             "worker: ...and the pause is gone", out)
    finally:
        env.stop()
        env.cleanup()


def main():
    t = Tap()
    env = WorkerEnv(nproc=2)
    try:
        for fn in (test_answers_in_order, test_redelivery_answered_once,
                   test_order_across_processes, test_graph_failing_then_recovering,
                   test_permanent_not_retried, test_window, test_echo_and_standby_not_answered,
                   test_profile_once, test_sigkill_mid_work):
            try:
                fn(t, env)
            except Exception as e:  # a crash is a failure, the run goes on
                t.crash(fn.__name__, e)
        # The harness writes inline secrets; the responder says so at start when others can
        # read the file (and only then).
        readable = os.stat(env.conf_path).st_mode & 0o044
        warned = "holds secrets inline" in env.log()
        t.ok(warned == bool(readable), "responder: warns of a readable config holding secrets",
             (oct(os.stat(env.conf_path).st_mode), warned))
        codes = env.stop()
        t.ok(all(v == 0 for v in codes.values()), "worker: responders exit 0 on SIGTERM", codes)
        t.eq(env.sanitizer_errors(), [], "worker: no sanitizer report")
        t.eq(env.secrets_in_log(), [], "worker: no secret in the logs")
    finally:
        env.cleanup()
    for fn in (test_token_pause, test_bot_opened_without_the_lock):
        try:
            fn(t)
        except Exception as e:
            t.crash(fn.__name__, e)
    return t.done()


if __name__ == "__main__":
    sys.exit(main())
