#!/usr/bin/env python3
"""test_graph_faults.py — the Graph API and a Bot API bot failing under the worker (issue 13,
"Prove it under faults and load"; docs/worker.md "Code and tests").

A responder pool (cgi-fcgi, harness.py) stores the webhooks with its own worker off
(worker.budget_ms = 0), so every answer comes from `msgrctl drain`, timed from outside. The
fake Graph API (tests/fake_graph.py) fails the Send API call carrying one user's message, once
(twice for HTTP 500), in each of these ways: held open past graph.timeout_ms (2 s), slow but
within it (1 s), the connection dropped mid-answer (200, headers and half the body), HTTP 500
without a Graph error, codes 1 and 2 (5xx), the rate limits 613, 4 and 32, and closed without
an answer. A Bot API bot (a thread of this test, bot.timeout_ms = 1000) fails the first
request for one user's event: held past its timeout, HTTP 503, HTTP 429, dropped mid-answer.
Then `msgrctl worker` gets SIGTERM while its call hangs (it exits 0 within the call's timeout
plus slack, the event put back), and a responder with its own worker (budget_ms = 1000)
answers a webhook at once although the Send API call that follows hangs, the next request
waiting at most that call's timeout plus slack.

Checked each time: the drain returns within the call's timeout plus slack (and, for a hang,
really waited for it); the event stays queued with attempts = 1 and a retry delay of
1 s x 2^attempt with jitter in [d/2, d] (the worker's log line and next_at), 2 s x jitter for
the second try (a rate limit whose usage header says 2 minutes to regain access: 2 minutes,
nothing sent meanwhile); then it is answered, with exactly one successful Send API call per
message and no call beyond the failed ones and that one (nothing sent twice), and the bot
asked exactly once more than it failed. Then four of those faults at once, for four users,
beside four users without one, through `msgrctl drain --threads 4`: each failed event queued
again with attempts = 1, the others answered once, and all of them in the end exactly once.
TAP lines out; about 20 s."""
import hashlib
import hmac
import http.server
import json
import os
import re
import secrets
import signal
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Tap, entry, message_event, webhook, rand_digits, now_ms  # noqa: E402
from workerenv import MSGRCTL, WorkerEnv, drain_until, wait_for  # noqa: E402

GRAPH_TIMEOUT_S = 2.0            # WorkerEnv's graph.timeout_ms
BOT_TIMEOUT_MS = 1000
SLACK_S = 3.0                    # a drain's own work (process start, store) on a busy machine
STORIES_BOT = 'bot = { type = "stories"; file = "stories.conf"; };'
STORIES = """stories = (
  { name = "one"; triggers = ( "one" ); answers = ( { text = "1"; } ); },
  { name = "unknown"; fallback = true; answers = ( { text = "?"; } ); } );
"""
RETRY_LINE = re.compile(r"job=(\d+) connector=(\S+) retry in (\d+) ms")

# (mode, extra rule fields, failures, what the drain may take at most / at least)
GRAPH_FAULTS = [
    ("hang", {"seconds": 6}, 1, "held open past graph.timeout_ms"),
    ("slow", {"seconds": 1.0}, 1, "slow, within graph.timeout_ms"),
    ("drop", {}, 1, "connection dropped mid-answer"),
    ("close", {}, 1, "connection closed without an answer"),
    ("500", {}, 2, "HTTP 500 without a Graph error, twice"),
    ("unknown", {}, 1, "HTTP 500 code 1"),
    ("service", {}, 1, "HTTP 503 code 2"),
    ("rate", {}, 1, "rate limit 613"),
    ("rate_4", {}, 1, "app rate limit 4"),
    ("rate_32", {}, 1, "page rate limit 32"),
]
BOT_FAULTS = [("hang", "held past bot.timeout_ms"), ("5xx", "HTTP 503"), ("429", "HTTP 429"),
              ("drop", "dropped mid-answer")]


def mac(secret, *parts):
    return "sha256=" + hmac.new(secret, b".".join(parts), hashlib.sha256).hexdigest()


class FaultyBot:
    """A Bot API bot answering "got: TEXT"; the first request for a text "bot-MODE-..." fails
    in that MODE. Records every request it gets (text, time)."""

    def __init__(self, secret):
        self.secret = secret.encode()
        self.requests = []
        self.lock = threading.Lock()
        bot = self

        class H(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                try:
                    text = (json.loads(body).get("event") or {}).get("text") or ""
                except ValueError:
                    text = ""
                with bot.lock:
                    first = not any(r[0] == text for r in bot.requests)
                    bot.requests.append((text, time.time()))
                mode = text.split("-")[1] if first and text.startswith("bot-") else ""
                out = json.dumps({"messages": [{"text": "got: " + text}]}).encode()
                try:
                    if mode == "hang":
                        time.sleep(BOT_TIMEOUT_MS / 1000.0 + 2.0)
                        self.close_connection = True
                        return
                    if mode in ("5xx", "429"):
                        self.send_response(503 if mode == "5xx" else 429)
                        self.send_header("Content-Length", "0")
                        self.end_headers()
                        return
                    self.send_response(200)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("X-Msgr-Signature", mac(
                        bot.secret, self.headers.get("X-Msgr-Signature", "").encode(), out))
                    self.send_header("Content-Length", str(len(out)))
                    self.end_headers()
                    if mode == "drop":
                        self.wfile.write(out[:len(out) // 2])
                        self.wfile.flush()
                        self.close_connection = True
                        return
                    self.wfile.write(out)
                except (BrokenPipeError, ConnectionResetError):
                    pass

        self.srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.srv.daemon_threads = True
        self.port = self.srv.server_address[1]
        threading.Thread(target=self.srv.serve_forever, daemon=True).start()

    def asked(self, text):
        with self.lock:
            return [r for r in self.requests if r[0] == text]

    def close(self):
        self.srv.shutdown()
        self.srv.server_close()


class FaultEnv(WorkerEnv):
    """alpha and beta: the stories bot; gamma: the FaultyBot over the Bot API."""

    def __init__(self):
        self.bot_secret = "botsecret-" + secrets.token_hex(12)
        self.bot = FaultyBot(self.bot_secret)
        super().__init__(nproc=1, budget_ms=0, stories=STORIES)

    def write_config(self, extra=""):
        super().write_config(extra)
        if self.fake is None:
            return
        with open(self.conf_path) as f:
            text = f.read()
        bot = ('bot = { type = "api"; url = "http://127.0.0.1:%d/hook"; secret = "%s"; '
               'timeout_ms = %d; };' % (self.bot.port, self.bot_secret, BOT_TIMEOUT_MS))
        pat = re.compile(r'(id = "gamma";.*?)%s' % re.escape(STORIES_BOT), re.S)
        text, n = pat.subn(lambda m: m.group(1) + bot, text, count=1)
        if n != 1:
            raise RuntimeError("no bot line for connector gamma")
        with open(self.conf_path, "w") as f:
            f.write(text)

    def secrets_in_text(self, text):
        found = super().secrets_in_text(text)
        if self.bot_secret in text:
            found.append("the bot secret")
        return found

    def cleanup(self):
        super().cleanup()
        self.bot.close()


def messages_to(calls, psid):
    return [c for c in calls if c.get("method") == "POST" and
            ((c.get("body") or {}).get("recipient") or {}).get("id") == psid and
            "message" in (c.get("body") or {})]


class Run:
    def __init__(self, t, env):
        self.t, self.env = t, env
        self.cases = []          # (label, psid, conn, failures, bot text or None)

    def post(self, conn, psid, text, label):
        body = webhook(entry(conn.page_id, [message_event(conn.page_id, psid, text)]))
        r = self.env.post(conn, body)
        self.t.eq(r.status, 200, "%s: the webhook is acknowledged" % label)

    def job(self, psid):
        self.env.settled()
        db = self.env.db()
        try:
            return db.execute("SELECT id, state, attempts, next_at FROM events WHERE user_id = ?",
                              (psid,)).fetchone()
        finally:
            db.close()

    def drain(self):
        t0 = time.time()
        rc, out, err = self.env.msgrctl("drain", timeout=60)
        return rc, time.time() - t0, err

    def check_retry(self, label, psid, err, attempt):
        """The job is queued again after `attempt` tries, its delay as docs/worker.md says."""
        job = self.job(psid)
        self.t.ok(job is not None and job["state"] == 0 and job["attempts"] == attempt,
                  "%s: the event stays queued, attempts = %d" % (label, attempt),
                  job and dict(job))
        if job is None:
            return
        delays = [int(m.group(3)) for m in RETRY_LINE.finditer(err)
                  if int(m.group(1)) == job["id"]]
        d = 1000 * 2 ** (attempt - 1)
        self.t.ok(len(delays) == 1 and d // 2 <= delays[0] <= d,
                  "%s: retry %d in [%d, %d] ms (1 s x 2^attempt, jitter)" % (
                      label, attempt, d // 2, d), delays)
        left = job["next_at"] - now_ms()
        self.t.ok(-SLACK_S * 1000 <= left <= d, "%s: next_at within the delay" % label, left)

    def graph(self, mode, extra, failures, what):
        label = "graph %s (%s)" % (mode, what)
        psid = rand_digits(16)
        c = self.env.c1
        self.post(c, psid, "one", label)
        self.env.fake.fail(mode, count=failures, path="/messages", to=psid, has="message",
                           **extra)
        rc, dt, err = self.drain()
        self.t.eq(rc, 0, "%s: msgrctl drain exits 0" % label)
        if mode == "hang":
            self.t.ok(GRAPH_TIMEOUT_S * 0.9 <= dt <= GRAPH_TIMEOUT_S + SLACK_S,
                      "%s: the drain waits graph.timeout_ms and no longer (%.1f s)" % (
                          label, dt), dt)
        elif mode == "slow":
            self.t.ok(extra["seconds"] * 0.9 <= dt <= extra["seconds"] + SLACK_S,
                      "%s: the drain waits for the slow answer (%.1f s)" % (label, dt), dt)
        else:
            self.t.ok(dt <= SLACK_S, "%s: the drain returns at once (%.1f s)" % (label, dt), dt)
        job = self.job(psid)
        if mode == "slow":
            self.t.ok(job is not None and job["state"] == 1 and job["attempts"] == 0,
                      "%s: answered on the first try" % label, job and dict(job))
        elif mode == "close" and job is not None and job["state"] == 1:
            # libcurl sends a request again, once and at once, when a connection it reused
            # is closed before any byte of the answer (the server had dropped it idle); then
            # the worker saw one success. Either way the checks below count the calls.
            n = len(messages_to(self.env.fake.calls("/messages"), psid))
            self.t.ok(job["attempts"] == 0 and n == 2, "%s: sent again at once by the "
                      "transport on a fresh connection, one call each" % label,
                      (dict(job), n))
        else:
            self.check_retry(label, psid, err, 1)
        if failures > 1:
            # The second try fails too: its delay doubles.
            job = self.job(psid)
            wait_due(job)
            rc, dt, err = self.drain()
            self.t.ok(rc == 0 and dt <= SLACK_S, "%s: the second drain returns at once" %
                      label, (rc, dt))
            self.check_retry(label, psid, err, 2)
        self.cases.append((label, psid, failures if mode != "slow" else 0, None))

    def usage_hint(self):
        """A rate limit answered with a usage header's time to regain access (2 minutes): the
        retry waits that long instead of the backoff; nothing more is sent meanwhile."""
        label = "graph rate 613 with estimated_time_to_regain_access 2 min"
        psid = rand_digits(16)
        self.post(self.env.c1, psid, "one", label)
        fake = self.env.fake
        fake.ctl("POST", "usage", {"page": {"call_count": 100, "total_cputime": 10,
                                            "total_time": 10,
                                            "estimated_time_to_regain_access": 2}})
        try:
            fake.fail("rate", count=1, path="/messages", to=psid, has="message")
            rc, dt, err = self.drain()
        finally:
            fake.ctl("POST", "usage", {})
        self.t.ok(rc == 0 and dt <= SLACK_S, "%s: the drain returns at once" % label, (rc, dt))
        job = self.job(psid)
        delays = [int(m.group(3)) for m in RETRY_LINE.finditer(err)
                  if job is not None and int(m.group(1)) == job["id"]]
        self.t.eq(delays, [120000], "%s: the retry waits the 2 minutes" % label)
        self.t.ok(job is not None and job["state"] == 0 and job["attempts"] == 1 and
                  110000 <= job["next_at"] - now_ms() <= 120000,
                  "%s: queued, next_at 2 minutes on" % label, job and dict(job))
        rc, dt, err = self.drain()
        self.t.eq(len(messages_to(fake.calls("/messages"), psid)), 1,
                  "%s: a drain meanwhile sends nothing more" % label)

    def threads(self):
        """Several faults met at once by `msgrctl drain --threads 4` (docs/worker.md
        "Threads"): each failed call is put back for its retry as the single worker does, and
        the conversations beside them are answered once."""
        label = "drain --threads 4"
        c, fake = self.env.c1, self.env.fake
        faulty = []
        for mode in ("drop", "500", "unknown", "rate"):
            psid = rand_digits(16)
            self.post(c, psid, "one", "%s, %s" % (label, mode))
            fake.fail(mode, count=1, path="/messages", to=psid, has="message")
            faulty.append((mode, psid))
        healthy = [rand_digits(16) for _ in range(4)]
        for psid in healthy:
            self.post(c, psid, "one", label + ", no fault")
        t0 = time.time()
        rc, out, err = self.env.msgrctl("drain", "--threads", "4", timeout=60)
        dt = time.time() - t0
        self.t.ok(rc == 0 and dt <= SLACK_S, "%s: exits 0 at once (%.1f s)" % (label, dt),
                  (rc, dt, err[-500:]))
        for mode, psid in faulty:
            job = self.job(psid)
            self.t.ok(job is not None and job["state"] == 0 and job["attempts"] == 1,
                      "%s, %s: the event stays queued, attempts = 1" % (label, mode),
                      job and dict(job))
            self.cases.append(("%s, %s" % (label, mode), psid, 1, None))
        calls = fake.calls("/messages")
        for psid in healthy:
            sent = [x for x in messages_to(calls, psid) if x.get("status") == 200]
            self.t.eq(len(sent), 1, "%s: a conversation without a fault is answered once" %
                      label)
            self.cases.append((label + ", no fault", psid, 0, None))

    def bot(self, mode, what):
        label = "bot %s (%s)" % (mode, what)
        psid = rand_digits(16)
        text = "bot-%s-%s" % (mode, secrets.token_hex(3))
        self.post(self.env.c3, psid, text, label)
        rc, dt, err = self.drain()
        self.t.eq(rc, 0, "%s: msgrctl drain exits 0" % label)
        low = BOT_TIMEOUT_MS / 1000.0 * 0.9 if mode == "hang" else 0
        self.t.ok(low <= dt <= BOT_TIMEOUT_MS / 1000.0 + SLACK_S,
                  "%s: the drain returns within bot.timeout_ms plus slack (%.1f s)" % (label, dt),
                  dt)
        self.check_retry(label, psid, err, 1)
        self.t.eq(len(self.env.bot.asked(text)), 1, "%s: the bot was asked once" % label)
        self.cases.append((label, psid, 0, text))

    def answered(self):
        fake, bot = self.env.fake, getattr(self.env, "bot", None)

        def done():
            calls = fake.calls("/messages")
            return all(any(c.get("status") == 200 for c in messages_to(calls, p))
                       for _, p, _, _ in self.cases)
        drain_until(self.env, done, timeout=25)
        calls = fake.calls("/messages")
        for label, psid, failures, text in self.cases:
            mine = messages_to(calls, psid)
            ok = [c for c in mine if c.get("status") == 200]
            self.t.eq(len(ok), 1, "%s: the answer is sent exactly once" % label)
            self.t.eq(len(mine), failures + 1, "%s: %d Send API call(s) in all: the failed "
                      "one(s) and one success, nothing sent twice" % (label, failures + 1))
            job = self.job(psid)
            self.t.ok(job is not None and job["state"] == 1, "%s: the event is done" % label,
                      job and dict(job))
            if text is not None:
                self.t.eq(len(bot.asked(text)), 2, "%s: the bot was asked twice in all (the "
                          "failure, then once)" % label)
                self.t.eq([(c.get("body") or {}).get("message", {}).get("text") for c in ok],
                          ["got: " + text], "%s: the bot's answer is what was sent" % label)


def worker_sigterm(t, env, run):
    """`msgrctl worker` stopped by SIGTERM while its Send API call hangs: it finishes the
    event in hand (the call times out, the event is put back) and exits 0 within
    graph.timeout_ms plus slack."""
    label = "msgrctl worker, SIGTERM during a hanging call"
    psid = rand_digits(16)
    env.fake.fail("hang", count=1, path="/messages", to=psid, has="message", seconds=6)
    p = subprocess.Popen([MSGRCTL, "-c", env.conf_path, "worker"], env=dict(env.child_env),
                         cwd=env.dir, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        run.post(env.c1, psid, "one", label)

        def hung():
            return [c for c in messages_to(env.fake.calls("/messages"), psid)
                    if c.get("failure") == "hang"]
        t.ok(wait_for(hung, timeout=10, step=0.05), "%s: the call is in flight" % label)
        t0 = time.time()
        p.send_signal(signal.SIGTERM)
        try:
            rc = p.wait(GRAPH_TIMEOUT_S + SLACK_S + 5)
        except subprocess.TimeoutExpired:
            p.kill()
            rc = p.wait()
        dt = time.time() - t0
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
        err = p.stderr.read()
        p.stderr.close()
        with open(env.log_path, "ab") as f:
            f.write(err)
    t.eq(rc, 0, "%s: exits 0" % label)
    t.ok(dt <= GRAPH_TIMEOUT_S + SLACK_S, "%s: exits within graph.timeout_ms plus slack "
         "(%.1f s)" % (label, dt), dt)
    run.check_retry(label, psid, err.decode("utf-8", "replace"), 1)
    run.cases.append((label, psid, 1, None))


def responder_worker(t):
    """The responder's own worker (worker.budget_ms = 1000, one process): a hanging Send API
    call never delays the webhook's answer; the next request waits at most the call's whole
    graph.timeout_ms (a send is never cut short) plus slack; the event is answered once."""
    label = "responder's worker, a hanging call"
    env = WorkerEnv(nproc=1, budget_ms=1000, stories=STORIES)
    try:
        run = Run(t, env)
        a, b = rand_digits(16), rand_digits(16)
        env.fake.fail("hang", count=1, path="/messages", to=a, has="message", seconds=6)
        t0 = time.time()
        run.post(env.c1, a, "one", label)
        t1 = time.time()
        run.post(env.c1, b, "one", label + " (the next user)")
        t2 = time.time()
        t.ok(t1 - t0 <= 1.5, "%s: the webhook is answered before the call (%.2f s)" % (
            label, t1 - t0), t1 - t0)
        t.ok(t2 - t1 <= GRAPH_TIMEOUT_S + SLACK_S, "%s: the next webhook waits at most the "
             "call's timeout plus slack (%.1f s)" % (label, t2 - t1), t2 - t1)
        t.ok(wait_for(lambda: any(c.get("failure") == "hang" for c in
                                  messages_to(env.fake.calls("/messages"), a)), timeout=10),
             "%s: the hanging call was made" % label)
        run.cases.append((label, a, 1, None))
        run.cases.append((label + " (the next user)", b, 0, None))
        run.answered()
        codes = env.stop()
        t.ok(all(v == 0 for v in codes.values()), "%s: the responder exits 0" % label, codes)
        t.eq(env.sanitizer_errors(), [], "%s: no sanitizer report" % label)
        t.eq(env.secrets_in_log(), [], "%s: no secret in the logs" % label)
    finally:
        env.cleanup()


def wait_due(job):
    if job is not None:
        time.sleep(max(0.0, (job["next_at"] - now_ms()) / 1000.0) + 0.05)


def main():
    t = Tap()
    env = None
    try:
        env = FaultEnv()
        run = Run(t, env)
        for mode, extra, failures, what in GRAPH_FAULTS:
            try:
                run.graph(mode, extra, failures, what)
            except Exception as e:   # noqa: BLE001 - a crash is a failure, the run goes on
                t.crash("graph " + mode, e)
        try:
            run.threads()
        except Exception as e:   # noqa: BLE001
            t.crash("drain --threads", e)
        try:
            run.usage_hint()
        except Exception as e:   # noqa: BLE001
            t.crash("usage hint", e)
        for mode, what in BOT_FAULTS:
            try:
                run.bot(mode, what)
            except Exception as e:   # noqa: BLE001
                t.crash("bot " + mode, e)
        try:
            worker_sigterm(t, env, run)
        except Exception as e:   # noqa: BLE001
            t.crash("msgrctl worker", e)
        run.answered()
        t.eq(env.fake.violations(), [], "graph faults: no client misbehaviour seen by the fake")
        codes = env.stop()
        t.ok(all(v == 0 for v in codes.values()), "graph faults: responders exit 0", codes)
        t.eq(env.sanitizer_errors(), [], "graph faults: no sanitizer report")
        t.eq(env.secrets_in_log(), [], "graph faults: no secret in the logs")
    except Exception as e:   # noqa: BLE001
        t.crash("graph faults", e)
    finally:
        if env is not None:
            env.cleanup()
    try:
        responder_worker(t)
    except Exception as e:   # noqa: BLE001
        t.crash("responder's worker", e)
    return t.done()


if __name__ == "__main__":
    sys.exit(main())
