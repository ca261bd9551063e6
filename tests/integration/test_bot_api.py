#!/usr/bin/env python3
"""Integration tests of the Bot API bot (docs/bot-api.md): webhooks through cgi-fcgi, the worker asks
an external bot over HTTP, the answers go to the fake Graph API.

Connectors of the WorkerEnv (harness.py) get `type = "api"` bots:
  alpha -> the example bot (examples/bot_api/echo_bot.py, a subprocess), same secret;
  beta  -> the example bot too, with a secret that differs from the bot's: it refuses;
  gamma -> a bot of this test (a thread) that misbehaves on request: too slow, invalid JSON,
           an over-limit message, a reply unsigned or signed with another key.
Each request's signature is checked by the bot side with Python's hmac, never by the code
under test; the bots sign their replies as docs/bot-api.md "Signatures" says."""
import hashlib
import hmac
import http.server
import json
import os
import re
import secrets
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(__file__))
import harness  # noqa: E402
import portfile  # noqa: E402  (tests/, on the path harness sets)
from harness import Tap, entry, message_event, postback_event, uniq, webhook  # noqa: E402
from workerenv import WorkerEnv, drain_until, send_calls_to, wait_for  # noqa: E402

EXAMPLE_BOT = os.path.join(harness.ROOT, "examples", "bot_api", "echo_bot.py")
STORIES_BOT = 'bot = { type = "stories"; file = "stories.conf"; };'
GAMMA_TIMEOUT_MS = 1000          # under the WorkerEnv's 3000 ms lease


def mac(secret, *parts):
    """An X-Msgr-Signature value: "sha256=" + hex HMAC-SHA256(secret, parts joined by ".")."""
    return "sha256=" + hmac.new(secret, b".".join(parts), hashlib.sha256).hexdigest()


class TestBot:
    """The misbehaving bot: answers by the event's text; records every request it gets."""

    def __init__(self, secret):
        self.secret = secret.encode()
        self.requests = []            # (event type, text, signature ok)
        self.slow = True              # "slowpoke" answers only once this is False
        self.forge = True             # "unsigned", "forged" sign right once this is False
        self.lock = threading.Lock()
        bot = self

        class H(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def reply(self, status, body, sig=None):
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                if sig is None:
                    sig = mac(bot.secret, self.headers.get("X-Msgr-Signature", "").encode(),
                              body)
                if sig:
                    self.send_header("X-Msgr-Signature", sig)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                try:
                    self.wfile.write(body)
                except (BrokenPipeError, ConnectionResetError):
                    pass   # the connector gave up waiting: what the slow case wants

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                ts = self.headers.get("X-Msgr-Timestamp", "")
                ok = ts.isdigit() and abs(time.time() - int(ts)) <= 300 and \
                    hmac.compare_digest(self.headers.get("X-Msgr-Signature", ""),
                                        mac(bot.secret, ts.encode(), body))
                ev = json.loads(body).get("event", {}) if ok else {}
                text = ev.get("text") or ""
                with bot.lock:
                    bot.requests.append((ev.get("type"), text, ok))
                if not ok:
                    return self.reply(401, b"{}")
                if text == "slowpoke" and bot.slow:
                    time.sleep(GAMMA_TIMEOUT_MS / 1000.0 + 1.0)
                    return self.reply(200, b"{}")
                if text == "badjson":
                    return self.reply(200, b'{"messages": [{"text": "half')
                if text == "overlimit":
                    qr = [{"content_type": "text", "title": "q%d" % i, "payload": "P"}
                          for i in range(14)]
                    out = {"messages": [{"text": "this one is fine"},
                                        {"text": "too many", "quick_replies": qr}]}
                    return self.reply(200, json.dumps(out).encode())
                out = json.dumps({"messages": [{"text": "got: " + text}]}).encode()
                if text == "unsigned" and bot.forge:
                    return self.reply(200, out, sig="")
                if text == "forged" and bot.forge:
                    return self.reply(200, out, sig=mac(b"not-the-bot-secret", b"x", out))
                return self.reply(200, out)

        self.srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.srv.daemon_threads = True
        self.port = self.srv.server_address[1]
        self.thread = threading.Thread(target=self.srv.serve_forever, daemon=True)
        self.thread.start()

    def seen(self, text):
        with self.lock:
            return [r for r in self.requests if r[1] == text]

    def close(self):
        self.srv.shutdown()
        self.srv.server_close()


class ApiEnv(WorkerEnv):
    """A WorkerEnv whose connectors use Bot API bots."""

    def __init__(self):
        self.bot_secret = "botsecret-" + secrets.token_hex(12)
        self.gamma_secret = "gammasecret-" + secrets.token_hex(12)
        self.example = None
        self.testbot = TestBot(self.gamma_secret)
        self.example_log = None
        self._start_example()
        super().__init__(nproc=2)

    def _start_example(self):
        import tempfile
        self.example_dir = tempfile.mkdtemp(prefix="msgr-bot-")
        secret_file = os.path.join(self.example_dir, "bot.secret")
        with open(secret_file, "w") as f:
            f.write(self.bot_secret + "\n")
        port_file = os.path.join(self.example_dir, "port")
        self.example_log = os.path.join(self.example_dir, "bot.log")
        with open(self.example_log, "wb") as log:
            # The one command a user runs (docs/bot-api.md), on a free port.
            self.example = subprocess.Popen(
                [sys.executable, EXAMPLE_BOT, "--port", "0", "--secret-file", secret_file,
                 "--port-file", port_file], stdout=subprocess.DEVNULL, stderr=log)
        self.example_port = portfile.wait(port_file, self.example, "the example bot",
                                          log=self.example_log)

    def write_config(self, extra=""):
        super().write_config(extra)
        if not hasattr(self, "example_port"):
            return
        # The bot secret of alpha from a file (as a user would), beta's inline and wrong.
        with open(os.path.join(self.dir, "bot.secret"), "w") as f:
            f.write(self.bot_secret + "\n")
        bots = {
            "alpha": 'bot = { type = "api"; url = "http://127.0.0.1:%d/bot"; '
                     'secret = "file:bot.secret"; timeout_ms = 2000; };' % self.example_port,
            "beta": 'bot = { type = "api"; url = "http://127.0.0.1:%d/bot"; '
                    'secret = "not-the-bot-secret-%s"; timeout_ms = 2000; };'
                    % (self.example_port, secrets.token_hex(4)),
            "gamma": 'bot = { type = "api"; url = "http://127.0.0.1:%d/hook"; secret = "%s"; '
                     'timeout_ms = %d; };' % (self.testbot.port, self.gamma_secret,
                                              GAMMA_TIMEOUT_MS),
        }
        with open(self.conf_path) as f:
            text = f.read()
        for cid, bot in bots.items():
            pat = re.compile(r'(id = "%s";.*?)%s' % (cid, re.escape(STORIES_BOT)), re.S)
            text, n = pat.subn(lambda m: m.group(1) + bot, text, count=1)
            if n != 1:
                raise RuntimeError("no bot line for connector " + cid)
        with open(self.conf_path, "w") as f:
            f.write(text)

    def secrets_in_text(self, text):
        found = super().secrets_in_text(text)
        for s in (self.bot_secret, self.gamma_secret):
            if s in text:
                found.append(s)
        return found

    def cleanup(self):
        super().cleanup()
        if self.example is not None and self.example.poll() is None:
            self.example.terminate()
            try:
                self.example.wait(5)
            except subprocess.TimeoutExpired:
                self.example.kill()
                self.example.wait()
        self.testbot.close()
        import shutil
        shutil.rmtree(self.example_dir, ignore_errors=True)


def sends_to(fake, psid=None, user_ref=None):
    out = []
    for c in fake.sends():
        b = c.get("body") or {}
        r = b.get("recipient") or {}
        if (psid is not None and r.get("id") == psid) or \
           (user_ref is not None and r.get("user_ref") == user_ref):
            out.append(b)
    return out


def job(env, psid):
    rows = env.jobs("user_id = '%s'" % psid)
    return rows[0] if rows else None


def settled(env, psid):
    """The job of psid is done or failed (state 1 or 2)."""
    rows = env.jobs("user_id = '%s' AND state IN (1, 2)" % psid)
    return rows[0] if rows else None


# ---- round trips through the example bot ----

def test_message(t, env):
    c, psid = env.c1, harness.rand_digits(16)
    r = env.post(c, webhook(entry(c.page_id, [message_event(c.page_id, psid, "hello bot")])))
    t.eq(r.status, 200, "bot api: webhook accepted")
    ok = wait_for(lambda: env.fake.texts(psid))
    t.ok(ok, "bot api: the message was answered through the bot", env.fake.calls())
    calls = send_calls_to(env.fake, psid)
    seq = [b.get("sender_action") or (b.get("message") or {}).get("text") for b in calls]
    t.eq(seq, ["typing_on", "Hi First%s! You said: hello bot" % psid[-4:]],
         "bot api: sender_action first, then the echo with the profile's first name")
    qr = [q.get("payload") for q in (calls[-1].get("message") or {}).get("quick_replies", [])]
    t.eq(qr, ["HUMAN", "MENU"], "bot api: the bot's quick replies are sent")
    t.eq(calls[-1].get("messaging_type"), "RESPONSE", "bot api: messaging_type RESPONSE")


def test_postback(t, env):
    c, psid = env.c1, harness.rand_digits(16)
    env.post(c, webhook(entry(c.page_id, [postback_event(c.page_id, psid, "GET_STARTED")])))
    ok = wait_for(lambda: len(send_calls_to(env.fake, psid)) >= 2)
    calls = send_calls_to(env.fake, psid)
    t.ok(ok and (calls[0].get("message") or {}).get("text") == 'You pressed "Get Started".',
         "bot api: a postback is answered (its title reached the bot)", calls)
    att = ((calls[-1].get("message") or {}).get("attachment") or {}) if calls else {}
    t.eq((att.get("payload") or {}).get("template_type"), "button",
         "bot api: ...with a button template")


def test_referral(t, env):
    c, psid = env.c1, harness.rand_digits(16)
    ev = {"sender": {"id": psid}, "recipient": {"id": c.page_id}, "timestamp": harness.now_ms(),
          "referral": {"ref": "spring-sale", "source": "SHORTLINK", "type": "OPEN_THREAD"}}
    env.post(c, webhook(entry(c.page_id, [ev])))
    ok = wait_for(lambda: env.fake.texts(psid))
    t.eq(env.fake.texts(psid) if ok else [],
         ["Welcome First%s! You came from: spring-sale" % psid[-4:]],
         "bot api: a referral reaches the bot with its ref and is answered")


def test_reaction(t, env):
    c, psid = env.c1, harness.rand_digits(16)
    ev = {"sender": {"id": psid}, "recipient": {"id": c.page_id}, "timestamp": harness.now_ms(),
          "reaction": {"reaction": "love", "emoji": "\u2764\ufe0f", "action": "react",
                       "mid": uniq("mid")}}
    env.post(c, webhook(entry(c.page_id, [ev])))
    ok = wait_for(lambda: env.fake.texts(psid))
    t.eq(env.fake.texts(psid) if ok else [], ["Thanks for the \u2764\ufe0f!"],
         "bot api: a reaction reaches the bot (emoji intact) and is answered")


def test_checkbox_optin(t, env):
    c = env.c1
    user_ref = "cbx-" + secrets.token_hex(8)
    ev = {"recipient": {"id": c.page_id}, "timestamp": harness.now_ms(),
          "optin": {"ref": "order-77", "user_ref": user_ref}}
    env.post(c, webhook(entry(c.page_id, [ev])))
    ok = wait_for(lambda: sends_to(env.fake, user_ref=user_ref))
    calls = sends_to(env.fake, user_ref=user_ref)
    t.ok(ok and [(b.get("message") or {}).get("text") for b in calls] ==
         ["Thanks for opting in (order-77)."],
         "bot api: a checkbox optin is answered at recipient.user_ref", env.fake.calls())
    t.ok(all("id" not in (b.get("recipient") or {}) for b in calls),
         "bot api: ...and never to a recipient id")


def test_handover(t, env):
    c, psid = env.c1, harness.rand_digits(16)
    env.post(c, webhook(entry(c.page_id, [message_event(c.page_id, psid, "a human please")])))
    ok = wait_for(lambda: [cc for cc in env.fake.calls("/pass_thread_control")
                           if ((cc.get("body") or {}).get("recipient") or {}).get("id") == psid])
    t.ok(ok, "bot api: the bot's handover passes the thread control", env.fake.calls())
    if ok:
        body = ok[0].get("body") or {}
        t.eq((str(body.get("target_app_id")), body.get("metadata")),
             ("263902037430900", "asked for a human"),
             "bot api: ...to the Page Inbox, with the bot's metadata")
    t.eq(env.fake.texts(psid), ["OK First%s, a person from our team will answer you here."
                                % psid[-4:]], "bot api: ...after its message")


# ---- failures ----

def test_wrong_secret(t, env):
    c, psid = env.c2, harness.rand_digits(16)
    before = open(env.example_log).read().count("refused a request")
    env.post(c, webhook(entry(c.page_id, [message_event(c.page_id, psid, "hello")])))
    row = wait_for(lambda: settled(env, psid))
    t.ok(row and row[1] == 2, "bot api: a bot refusing the signature fails the job", row)
    t.ok(row and "HTTP 401" in (row[3] or ""), "bot api: ...the reason names HTTP 401", row)
    t.ok(open(env.example_log).read().count("refused a request") > before,
         "bot api: the example bot refused the wrong signature")
    t.eq(send_calls_to(env.fake, psid), [], "bot api: ...and nothing was sent")


def test_timeout_then_recovers(t, env):
    c, psid = env.c3, harness.rand_digits(16)
    env.testbot.slow = True
    env.post(c, webhook(entry(c.page_id, [message_event(c.page_id, psid, "slowpoke")])))
    retried = wait_for(lambda: env.jobs("user_id = '%s' AND attempts > 0 AND state = 0" % psid),
                       timeout=20)
    t.ok(retried, "bot api: a bot that times out leaves the job queued for a retry",
         env.jobs("user_id = '%s'" % psid))
    t.ok(retried and "no answer within %d ms" % GAMMA_TIMEOUT_MS in (retried[0][3] or ""),
         "bot api: ...with the timeout as the reason", retried)
    t.eq(env.fake.texts(psid), [], "bot api: nothing sent while the bot is slow")
    env.testbot.slow = False
    ok = drain_until(env, lambda: env.fake.texts(psid), timeout=30)
    t.ok(ok, "bot api: answered once the bot recovers")
    time.sleep(1.0)
    env.msgrctl("drain")
    t.eq(env.fake.texts(psid), ["got: slowpoke"], "bot api: ...exactly once")
    t.ok(len(env.testbot.seen("slowpoke")) >= 2, "bot api: the bot was asked again",
         env.testbot.seen("slowpoke"))


def test_invalid_json(t, env):
    c, psid = env.c3, harness.rand_digits(16)
    env.post(c, webhook(entry(c.page_id, [message_event(c.page_id, psid, "badjson")])))
    row = wait_for(lambda: settled(env, psid))
    t.ok(row and row[1] == 2 and "not JSON" in (row[3] or ""),
         "bot api: invalid JSON from the bot fails the job with the reason", row)
    time.sleep(2.5)
    env.msgrctl("drain")
    t.eq(len(env.testbot.seen("badjson")), 1, "bot api: ...and is not retried")
    t.eq(send_calls_to(env.fake, psid), [], "bot api: ...and nothing was sent")


def test_over_limit(t, env):
    c, psid = env.c3, harness.rand_digits(16)
    env.post(c, webhook(entry(c.page_id, [message_event(c.page_id, psid, "overlimit")])))
    row = wait_for(lambda: settled(env, psid))
    t.ok(row and row[1] == 2, "bot api: an over-limit message fails the job", row)
    t.eq(send_calls_to(env.fake, psid), [],
         "bot api: ...and none of the reply is sent, not even its valid first message")
    rc, out, _ = env.msgrctl("status")
    recent = out.split("recent failures", 1)[-1]
    t.ok(rc == 0 and "messages[1]" in recent and "quick_replies" in recent,
         "bot api: msgrctl status names the message and the limit", out)
    log = env.log()
    t.ok(any("messages[1]: quick_replies" in l and "nothing sent" in l
             for l in log.splitlines()),
         "bot api: one log line names the message and the limit")


def test_example_bot_signatures(t, env):
    """The example bot, spoken to directly: what it accepts and how it signs its answer."""
    import urllib.error
    import urllib.request
    secret = env.bot_secret.encode()
    body = json.dumps({"connector": "alpha", "page_id": "1", "user": {"id": "2"},
                       "event": {"type": "message", "text": "hi"}, "raw": {}}).encode()

    def ask(ts, sig):
        req = urllib.request.Request("http://127.0.0.1:%d/bot" % env.example_port, data=body,
                                     headers={"Content-Type": "application/json",
                                              "X-Msgr-Timestamp": ts,
                                              "X-Msgr-Signature": sig})
        try:
            with urllib.request.urlopen(req, timeout=10) as r:
                return r.status, r.headers.get("X-Msgr-Signature"), r.read()
        except urllib.error.HTTPError as e:
            return e.code, e.headers.get("X-Msgr-Signature"), e.read()

    now = str(int(time.time()))
    status, rsig, rbody = ask(now, mac(secret, now.encode(), body))
    sig = mac(secret, now.encode(), body)
    t.eq(status, 200, "bot api: the example bot answers a fresh signed request")
    t.ok(rsig is not None and hmac.compare_digest(rsig, mac(secret, sig.encode(), rbody)),
         "bot api: ...and signs its answer over REQUEST_SIGNATURE.BODY", rsig)
    old = str(int(time.time()) - 301)
    t.eq(ask(old, mac(secret, old.encode(), body))[0], 401,
         "bot api: a request older than 5 minutes is refused, though rightly signed")
    ahead = str(int(time.time()) + 301)
    t.eq(ask(ahead, mac(secret, ahead.encode(), body))[0], 401,
         "bot api: ...and one from 5 minutes ahead")
    t.eq(ask(now, mac(secret, body))[0], 401,
         "bot api: a signature over the body alone (no timestamp) is refused")
    t.eq(ask("", mac(secret, b"", body))[0], 401, "bot api: no timestamp: refused")


def test_reply_not_signed(t, env):
    """A 2xx whose signature is missing or wrong: nothing of it is sent, the event is retried
    like a bot that did not answer, and answered once the bot signs."""
    c = env.c3
    env.testbot.forge = True
    psids = {}
    for text in ("unsigned", "forged"):
        psids[text] = harness.rand_digits(16)
        env.post(c, webhook(entry(c.page_id, [message_event(c.page_id, psids[text], text)])))
    for text, why in (("unsigned", "reply not signed"), ("forged", "reply signature wrong")):
        psid = psids[text]
        retried = wait_for(lambda: env.jobs("user_id = '%s' AND attempts > 0 AND state = 0"
                                            % psid), timeout=20)
        t.ok(retried and why in (retried[0][3] or ""),
             "bot api: a reply %s is a failure retried, with the reason" % text,
             env.jobs("user_id = '%s'" % psid))
        t.eq(env.fake.texts(psid), [], "bot api: ...and nothing of it is sent (%s)" % text)
    env.testbot.forge = False
    for text in ("unsigned", "forged"):
        psid = psids[text]
        ok = drain_until(env, lambda: env.fake.texts(psid), timeout=30)
        t.eq(env.fake.texts(psid) if ok else [], ["got: " + text],
             "bot api: answered once the reply is signed (%s)" % text)
    log = env.log()
    t.ok(any("reply signature wrong" in l for l in log.splitlines()) and
         "sha256=" not in log, "bot api: the failure is logged, never the signature")


def test_plain_http_refused(t, env):
    """http:// to another host than this machine: check refuses the bot's url."""
    path = os.path.join(env.dir, "http.conf")
    with open(env.conf_path) as f:
        text = f.read()
    text = text.replace("http://127.0.0.1:%d/hook" % env.testbot.port, "http://192.0.2.7/hook")
    with open(path, "w") as f:
        f.write(text)
    rc, out, err = env.msgrctl("-c", path, "check")
    t.ok(rc == 1 and "http:// only to 127.0.0.1, localhost or [::1]" in err,
         "bot api: a plain http:// bot url off this machine is refused", out + err)


def main():
    t = Tap()
    env = ApiEnv()
    try:
        rc, out, err = env.msgrctl("check")
        t.ok(rc == 0 and out.count("bot=api") == 3, "bot api: msgrctl check accepts api bots",
             out + err)
        for fn in (test_message, test_postback, test_referral, test_reaction,
                   test_checkbox_optin, test_handover, test_wrong_secret,
                   test_timeout_then_recovers, test_invalid_json, test_over_limit,
                   test_example_bot_signatures, test_reply_not_signed,
                   test_plain_http_refused):
            try:
                fn(t, env)
            except Exception as e:  # a crash is a failure, the run goes on
                t.crash(fn.__name__, e)
        codes = env.stop()
        t.ok(all(v == 0 for v in codes.values()), "bot api: responders exit 0 on SIGTERM",
             codes)
        t.eq(env.sanitizer_errors(), [], "bot api: no sanitizer report")
        t.eq(env.secrets_in_log(), [], "bot api: no secret or signature in the logs")
        t.ok("X-Msgr-Signature: sha256" not in env.log() and
             "sha256=" not in open(env.example_log).read(),
             "bot api: no X-Msgr-Signature value in either log")
    finally:
        env.cleanup()
    return t.done()


if __name__ == "__main__":
    sys.exit(main())
