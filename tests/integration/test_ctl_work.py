#!/usr/bin/env python3
"""Integration tests of msgrctl's worker commands: worker, drain, replay, send, status.

The responders here do no work after their responses (worker.budget_ms = 0), as on a host
where `msgrctl worker` runs beside them or cron runs `msgrctl drain`, so every answer the fake
Graph API sees was sent by the command under test."""
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))
import harness  # noqa: E402
from harness import Tap, entry, message_event, webhook  # noqa: E402
from workerenv import MSGRCTL, WorkerEnv, send_calls_to, wait_for  # noqa: E402


def secrets_of(env):
    return [s for c in env.connectors for s in (c.call_token, c.secret, c.webhook_token)]


def run_worker(t, env, args, label, while_running):
    """Runs `msgrctl worker ARGS`, calls while_running(pid), then stops it with SIGTERM: it
    must exit 0 within 5 s. Returns what it logged."""
    logname = os.path.join(env.dir, "worker-%d.log" % len(args))
    log = open(logname, "wb")
    p = subprocess.Popen([MSGRCTL, "-c", env.conf_path, "worker"] + args, env=env.child_env,
                         stdout=subprocess.DEVNULL, stderr=log, cwd=env.dir)
    try:
        while_running(p.pid)
        t0 = time.time()
        p.send_signal(signal.SIGTERM)
        rc = p.wait(10)
        t.eq(rc, 0, label + ": SIGTERM -> exit 0")
        t.ok(time.time() - t0 < 5, label + " stops promptly on SIGTERM")
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
        log.close()
    text = open(logname, encoding="utf-8", errors="replace").read()
    t.ok("worker stopping" in text, label + " logs its stop", text[-500:])
    t.ok(not any(s in text for s in secrets_of(env)), label + ": no secret in its log")
    t.ok("runtime error:" not in text and "AddressSanitizer" not in text,
         label + ": no sanitizer report", text[-2000:])
    return text


def test_worker_command(t, env):
    c, psid = env.c1, harness.rand_digits(16)
    env.post(c, webhook(entry(c.page_id, [message_event(c.page_id, psid, "hello")])))
    time.sleep(0.5)
    t.eq(env.fake.texts(psid), [], "budget_ms 0: the responder itself sends nothing")

    def running(pid):
        ok = wait_for(lambda: len(env.fake.texts(psid)) >= 2, timeout=15)
        t.ok(ok, "msgrctl worker answers what the responders stored")
        # New work while it idles is picked up too.
        other = harness.rand_digits(16)
        env.post(c, webhook(entry(c.page_id, [message_event(c.page_id, other, "one")])))
        t.ok(wait_for(lambda: env.fake.texts(other) == ["1"], timeout=10),
             "msgrctl worker picks up new events while it runs")
        t.ok("msgr-checkpoint" not in harness.thread_names(pid),
             "msgrctl worker alone checkpoints in its own commits", harness.thread_names(pid))
    run_worker(t, env, [], "msgrctl worker", running)


def test_worker_threads(t, env):
    """`worker --threads 3`: three workers in turns on one store handle, until SIGTERM."""
    c = env.c1
    users = [harness.rand_digits(16) for _ in range(6)]

    def running(pid):
        for u in users:
            env.post(c, webhook(entry(c.page_id, [message_event(c.page_id, u, "one")])))
        for u in users:
            env.post(c, webhook(entry(c.page_id, [message_event(c.page_id, u, "two")])))
        ok = wait_for(lambda: all(len(env.fake.texts(u)) >= 2 for u in users), timeout=20)
        t.ok(ok, "msgrctl worker --threads 3 answers what the responders stored")
        time.sleep(1)           # anything sent twice would have arrived by now
        t.eq([env.fake.texts(u) for u in users], [["1", "2"]] * len(users),
             "msgrctl worker --threads 3: each answer once, in each conversation's order")
        # On SQLite its commits leave the WAL's checkpoints to a thread of their own; on
        # PostgreSQL there is no WAL of ours to copy (docs/worker.md "Threads").
        names = harness.thread_names(pid)
        if os.environ.get("MSGR_TEST_BACKEND") == "postgresql":
            t.ok("msgr-checkpoint" not in names,
                 "msgrctl worker --threads 3 on PostgreSQL: no checkpoint thread", names)
        else:
            t.ok(names.count("msgr-checkpoint") == 1,
                 "msgrctl worker --threads 3: one thread takes the checkpoints", names)
    run_worker(t, env, ["--threads", "3"], "msgrctl worker --threads 3", running)
    rc, out, err = env.msgrctl("worker", "--threads", "0")
    t.ok(rc == 1 and "--threads is 1 to 64" in err, "msgrctl worker: --threads 0 is refused",
         err)


def test_drain(t, env):
    c = env.c2
    users = [harness.rand_digits(16) for _ in range(3)]
    for u in users:
        env.post(c, webhook(entry(c.page_id, [message_event(c.page_id, u, "two")])))
    rc, out, err = env.msgrctl("drain")
    t.eq(rc, 0, "msgrctl drain: exit 0")
    t.ok(out.startswith("drained: 3 events"), "msgrctl drain: says what it did", out + err)
    t.ok(all(env.fake.texts(u) == ["2"] for u in users), "msgrctl drain: every event answered")
    rc, out, err = env.msgrctl("drain")
    t.ok(rc == 0 and out.startswith("drained: 0 events"),
         "msgrctl drain: nothing due -> nothing done", out)
    rc, out, err = env.msgrctl("drain", "--budget", "x")
    t.ok(rc == 1 and "milliseconds" in err, "msgrctl drain: a bad --budget is refused", err)


def test_drain_threads(t, env):
    """`drain --threads N`: N workers share one store handle in turns; each conversation's
    events are still answered once each, in order."""
    c = env.c2
    users = [harness.rand_digits(16) for _ in range(12)]
    for u in users:
        env.post(c, webhook(entry(c.page_id, [message_event(c.page_id, u, "one")])))
    for u in users:
        env.post(c, webhook(entry(c.page_id, [message_event(c.page_id, u, "two")])))
    rc, out, err = env.msgrctl("drain", "--threads", "4")
    t.ok(rc == 0, "msgrctl drain --threads 4: exit 0", err)
    t.ok(out.startswith("drained: 24 events"), "msgrctl drain --threads 4: every event, once",
         out + err)
    t.eq([env.fake.texts(u) for u in users], [["1", "2"]] * len(users),
         "msgrctl drain --threads 4: each answer sent once, in each conversation's order")
    with env.db() as db:
        left = db.execute("SELECT count(*) FROM events WHERE state = 0").fetchone()[0]
    t.eq(left, 0, "msgrctl drain --threads 4: nothing left pending (all of it committed)")
    for bad in ("0", "65", "x"):
        rc, out, err = env.msgrctl("drain", "--threads", bad)
        t.ok(rc == 1 and "--threads is 1 to 64" in err,
             "msgrctl drain: --threads %s is refused" % bad, err)


def test_drain_threads_at_once(t, env):
    """`drain --threads 4` keeps four conversations' calls in flight at once. On SQLite its
    workers are fibers of one thread (docs/worker.md "Threads"): while every Send API call
    takes seconds, the four conversations' messages still leave together, and the process
    has one thread working beside its checkpoint and sync threads."""
    c = env.c2
    slow_s = 1.5 if harness.SLOW else 1   # below the test config's graph.timeout_ms (2 s)
    # What earlier tests left due (a call a SIGTERM cut short, repeated) goes first.
    env.msgrctl("drain")
    users = [harness.rand_digits(16) for _ in range(4)]
    for u in users:
        env.post(c, webhook(entry(c.page_id, [message_event(c.page_id, u, "one")])))
    since = env.fake.calls()[-1]["id"] if env.fake.calls() else 0
    env.fake.fail("slow", count=-1, path="/messages", seconds=slow_s)
    log = open(os.path.join(env.dir, "drain-at-once.log"), "wb")
    p = subprocess.Popen([MSGRCTL, "-c", env.conf_path, "drain", "--threads", "4"],
                         env=env.child_env, stdout=subprocess.PIPE, stderr=log, cwd=env.dir)
    try:
        # The first calls answered: the drain is mid-way, with calls still to make.
        t.ok(wait_for(lambda: any(x["id"] > since and "/messages" in x["path"]
                                  for x in env.fake.calls()), timeout=60),
             "drain --threads 4 with slow calls: its first calls answered")
        names = harness.thread_names(p.pid)
        working = [n for n in names if n not in ("msgr-checkpoint", "msgr-sync")]
        # ThreadSanitizer (make tsan) runs a thread of its own in the process.
        if os.environ.get("MSGR_PROC_LOGS_KIND") == "tsan":
            working = working[1:]
        if os.environ.get("MSGR_TEST_BACKEND") == "postgresql":
            t.ok(len(working) == 5, "drain --threads 4 on PostgreSQL: four threads, each with "
                 "a connection of its own, beside the command's", names)
        else:
            t.ok(len(working) == 1, "drain --threads 4 on SQLite: one thread works (fibers)",
                 names)
        out, _ = p.communicate(timeout=240)
        t.eq(p.returncode, 0, "drain --threads 4 with slow calls: exit 0")
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
        log.close()
        env.fake.clear_fail()
    t.eq([env.fake.texts(u) for u in users], [["1"]] * len(users),
         "drain --threads 4 with slow calls: each conversation answered once")
    starts = sorted(x["time"] for x in env.fake.calls()
                    if x["id"] > since and "/messages" in x["path"] and
                    ((x.get("body") or {}).get("recipient") or {}).get("id") in users and
                    "text" in ((x.get("body") or {}).get("message") or {}))
    # One after another, each conversation's three slow calls (seen, typing, text) would part
    # its text from the next one's by 3 slow calls; in flight together, by far less than 2.
    t.ok(len(starts) == 4 and starts[-1] - starts[0] < 2 * slow_s,
         "drain --threads 4: the four conversations' texts left within two slow calls of "
         "each other (in flight at once)", starts)


def test_poison_event(t, env):
    """An event whose worker died three times (crash, OOM kill) is given up, not re-run."""
    c, psid = env.c1, harness.rand_digits(16)
    env.post(c, webhook(entry(c.page_id, [message_event(c.page_id, psid, "hello")])))
    env.settled()           # out of the inbox, into events (docs/store.md "Inbox")
    with env.db() as db:
        db.execute("UPDATE events SET claims = 3 WHERE user_id = ?", (psid,))
        db.commit()
    env.msgrctl("drain")
    rows = env.jobs("user_id = '%s'" % psid)
    t.ok(rows and rows[0][1] == 2 and "died 3 times" in (rows[0][3] or ""),
         "an event that killed its worker 3 times is failed with the reason", rows)
    t.eq(send_calls_to(env.fake, psid), [], "...and nothing is sent for it")
    rc, out, _ = env.msgrctl("status")
    t.ok("died 3 times" in out, "...and status shows it among recent failures", out)


def quarantine_rows(env):
    with env.db() as db:
        return db.execute("SELECT id, connector, reason FROM quarantine ORDER BY id").fetchall()


def test_replay(t, env):
    c = env.c1
    # A signed body that is not JSON: quarantined by the responder, counted by status.
    r = env.post(c, b"this is not json")
    t.eq(r.status, 200, "a signed non-JSON body gets 200")
    rc, out, _ = env.msgrctl("status")
    t.ok("quarantine:  1" in out, "status counts the quarantined body", out)
    # What an older build might have set aside, written as the store keeps it: a whole body
    # that parses now, one lone event, and one still broken.
    u1, u2 = harness.rand_digits(16), harness.rand_digits(16)
    good_body = json.dumps(webhook(entry(c.page_id, [message_event(c.page_id, u1, "three")]))
                           ).encode()
    lone_event = json.dumps(message_event(c.page_id, u2, "four")).encode()
    now = harness.now_ms()
    db = sqlite3.connect(env.db_path, timeout=5)
    with db:
        for raw, why in ((good_body, "an old parser's fault"), (lone_event, "old event bound")):
            db.execute("INSERT INTO quarantine (connector, reason, raw, received_at) "
                       "VALUES (?, ?, ?, ?)", (c.id, why, raw, now))
    db.close()
    rc, out, err = env.msgrctl("replay", "--dry-run")
    t.ok(rc == 0 and "dry run: 2 webhooks replayed (2 events queued), 1 still" in out,
         "msgrctl replay --dry-run: says what would happen", out + err)
    t.eq(len(quarantine_rows(env)), 3, "msgrctl replay --dry-run: changes nothing")
    rc, out, err = env.msgrctl("replay")
    t.ok(rc == 0 and "replay: 2 webhooks replayed (2 events queued), 1 still quarantined" in out,
         "msgrctl replay: replays what now parses", out + err)
    rows = quarantine_rows(env)
    t.ok(len(rows) == 1 and "JSON" in rows[0][2],
         "msgrctl replay: the broken body stays with its reason", rows)
    t.ok("kept" in out, "msgrctl replay: names what it kept", out)
    env.msgrctl("drain")
    t.eq((env.fake.texts(u1), env.fake.texts(u2)), (["3"], ["4"]),
         "replayed events are answered")
    rc, out, _ = env.msgrctl("replay")
    t.ok("0 webhooks replayed" in out, "msgrctl replay again: nothing new", out)


def test_send(t, env):
    c, psid = env.c3, harness.rand_digits(16)
    rc, out, err = env.msgrctl("send", "--connector", c.id, "--to", psid, "Hello from ops")
    t.ok(rc == 0 and out.startswith("sent m_"), "msgrctl send: exit 0, prints the message id",
         out + err)
    t.eq(env.fake.texts(psid), ["Hello from ops"], "msgrctl send: the text reached the user")
    long_text = " ".join(["word%04d" % i for i in range(500)])    # 4,499 characters
    rc, out, err = env.msgrctl("send", "--connector", c.id, "--to", psid, long_text)
    parts = env.fake.texts(psid)[1:]
    t.ok(rc == 0 and len(parts) == 3 and all(len(p) <= 2000 for p in parts) and
         " ".join(parts) == long_text, "msgrctl send: long text split at word boundaries",
         [len(p) for p in parts])
    # The store knows this user wrote 30 hours ago: outside the window, only HUMAN_AGENT goes.
    u = harness.rand_digits(16)
    with env.db() as db:
        db.execute("INSERT INTO conv (page_id, user_id, name, value, updated_at) "
                   "VALUES (?, ?, 'last_user_ts', ?, ?)",
                   (c.page_id, u, str(harness.now_ms() - 30 * 3600 * 1000), harness.now_ms()))
        db.commit()
    rc, out, err = env.msgrctl("send", "--connector", c.id, "--to", u, "Late answer")
    t.ok(rc == 1 and "window" in err, "msgrctl send: refused locally outside the window", err)
    t.eq(env.fake.texts(u), [], "msgrctl send: ...and nothing was sent")
    rc, out, err = env.msgrctl("send", "--connector", c.id, "--to", u, "--tag", "HUMAN_AGENT",
                               "A person answers")
    sent = send_calls_to(env.fake, u)
    t.ok(rc == 0 and len(sent) == 1 and sent[0].get("messaging_type") == "MESSAGE_TAG" and
         sent[0].get("tag") == "HUMAN_AGENT", "msgrctl send --tag HUMAN_AGENT: sent as a tag",
         (out, err, sent))
    rc, out, err = env.msgrctl("send", "--connector", c.id, "--to", u, "--tag",
                               "ACCOUNT_UPDATE", "x")
    t.ok(rc == 1 and "2026" in err, "msgrctl send: a retired tag is refused locally", err)
    rc, out, err = env.msgrctl("send", "--connector", "nope", "--to", u, "x")
    t.ok(rc == 1 and "no connector" in err, "msgrctl send: unknown connector", err)
    rc, out, err = env.msgrctl("send", "--to", u, "x")
    t.ok(rc == 1 and "usage" in err, "msgrctl send: missing --connector -> usage", err)
    env.fake.fail("permanent", count=1, path="/messages")
    rc, out, err = env.msgrctl("send", "--connector", c.id, "--to", psid, "again")
    t.ok(rc == 1 and "551" in err, "msgrctl send: Facebook's refusal is shown", err)
    t.ok(not any(s in out + err for s in secrets_of(env)), "msgrctl send: no secret printed")


def run(tests):
    t = Tap()
    env = WorkerEnv(nproc=2, budget_ms=0)
    try:
        for fn in tests:
            try:
                fn(t, env)
            except Exception as e:
                t.crash(fn.__name__, e)
        rc, out, err = env.msgrctl("status")
        t.ok(rc == 0 and "paused:      none" in out and "queue:       0 pending" in out,
             "msgrctl status after all: an empty queue, nothing paused", out)
        codes = env.stop()
        t.ok(all(v == 0 for v in codes.values()), "responders exit 0 on SIGTERM", codes)
        t.eq(env.sanitizer_errors(), [], "no sanitizer report")
        t.eq(env.secrets_in_log(), [], "no secret in the logs")
    finally:
        env.cleanup()
    return t.done()


def main():
    return run((test_worker_command, test_worker_threads, test_drain, test_drain_threads,
                test_drain_threads_at_once, test_poison_event, test_replay, test_send))


if __name__ == "__main__":
    sys.exit(main())
