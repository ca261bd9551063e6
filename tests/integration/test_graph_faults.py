#!/usr/bin/env python3
"""test_graph_faults.py — the Graph API and a Bot API bot failing under the worker (issue 13,
"Prove it under faults and load"; docs/worker.md "Faults, tested").

A responder pool (cgi-fcgi, harness.py) stores the webhooks with its own worker off
(worker.budget_ms = 0), so every answer comes from `msgrctl drain`, timed from outside. The
fake Graph API (tests/fake_graph.py) fails the Send API call carrying one user's message, once
(twice for HTTP 500), in each of these ways: held open past graph.timeout_ms (2 s), slow but
within it (1 s), the connection dropped mid-answer (200, headers and half the body), HTTP 500
without a Graph error, codes 1 and 2 (5xx), the rate limits 613, 4 and 32, and closed without
an answer. A Bot API bot (a thread of this test, bot.timeout_ms = 1000) fails the first
request for one user's event: held past its timeout, HTTP 503, dropped mid-answer.

Checked each time: the drain returns within the call's timeout plus slack (and, for a hang,
really waited for it); the event stays queued with attempts = 1 and a retry delay of
1 s x 2^attempt with jitter in [d/2, d] (the worker's log line and next_at), 2 s x jitter for
the second try; then it is answered, with exactly one successful Send API call per message and
no call beyond the failed ones and that one (nothing sent twice), and the bot asked exactly
once more than it failed. TAP lines out; about 25 s."""
import hashlib
import hmac
import http.server
import json
import os
import re
import secrets
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Tap, entry, message_event, webhook, rand_digits, now_ms  # noqa: E402
from workerenv import WorkerEnv, drain_until, send_calls_to  # noqa: E402

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
BOT_FAULTS = [("hang", "held past bot.timeout_ms"), ("5xx", "HTTP 503"),
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
                    if mode == "5xx":
                        self.send_response(503)
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

    def post(self, conn, psid, text):
        body = webhook(entry(conn.page_id, [message_event(conn.page_id, psid, text)]))
        r = self.env.post(conn, body)
        self.t.eq(r.status, 200, "%s: the webhook is acknowledged" % text)

    def job(self, psid):
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
        self.post(c, psid, "one")
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

    def bot(self, mode, what):
        label = "bot %s (%s)" % (mode, what)
        psid = rand_digits(16)
        text = "bot-%s-%s" % (mode, secrets.token_hex(3))
        self.post(self.env.c3, psid, text)
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
        fake, bot = self.env.fake, self.env.bot

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
        for mode, what in BOT_FAULTS:
            try:
                run.bot(mode, what)
            except Exception as e:   # noqa: BLE001
                t.crash("bot " + mode, e)
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
    return t.done()


if __name__ == "__main__":
    sys.exit(main())
