#!/usr/bin/env python3
"""test_simulator.py — the Messenger simulator (docs/simulator.md) behind real lighttpd, with
the responder, end to end: the page's API posts signed webhooks to the connector, the
stories bot of examples/stories.conf answers through the simulator's fake Graph API, and
each of Facebook's refusals, the Page Inbox, failures, batching, the clock (libfaketime)
and transcripts is checked against what the simulator records. TAP lines out.

lighttpd includes lighttpd/simulator.conf before lighttpd/messenger.conf, as
scripts/quickstart.sh does, on a free port of 127.0.0.1; the binaries are $MSGR_FCGI,
$MSGR_SIM and $MSGRCTL (make passes the sanitizer builds under SAN=1). Python 3 stdlib
only; everything is bounded in time and stopped at the end.
"""
import hashlib
import hmac
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "tests", "servers"))
import webenv  # noqa: E402  (free ports, the service user, sanitizer marks)


def binary(var, default):
    return os.path.abspath(os.path.join(ROOT, os.environ.get(var, default)))


FCGI = binary("MSGR_FCGI", "cgi-bin/messenger.fcgi")
SIM = binary("MSGR_SIM", "cgi-bin/simulator.fcgi")
MSGRCTL = binary("MSGRCTL", "bin/msgrctl")
SAN = os.environ.get("SAN") == "1"
FAKETIME_LIBS = ("/usr/lib/x86_64-linux-gnu/faketime/libfaketimeMT.so.1",
                 "/usr/lib/aarch64-linux-gnu/faketime/libfaketimeMT.so.1",
                 "/usr/lib/faketime/libfaketimeMT.so.1")
APP_ID, PAGE_ID = "100000000000001", "200000000000002"
INBOX = "263902037430900"
VERSION = "v26.0"
TIMEOUT = 20          # seconds for one HTTP exchange (sanitizer builds are slow)
ANSWER_WAIT = 15      # seconds for the bot's answer to arrive


class Tap:
    """Numbered TAP lines ("ok N - ..."), counted by tests/run."""

    def __init__(self):
        self.n = 0
        self.failed = 0

    def ok(self, cond, name, diag=None):
        self.n += 1
        if cond:
            print("ok %d - %s" % (self.n, name), flush=True)
        else:
            self.failed += 1
            print("not ok %d - %s" % (self.n, name), flush=True)
            for line in str(diag if diag is not None else "").splitlines()[:30]:
                print("#   %s" % line, flush=True)
        return bool(cond)

    def eq(self, got, want, name):
        return self.ok(got == want, name, "got:  %r\nwant: %r" % (got, want))


def wait_for(cond, timeout=ANSWER_WAIT, step=0.2, between=None):
    deadline = time.time() + timeout
    while True:
        v = cond()
        if v or time.time() >= deadline:
            return v
        if between is not None:
            between()
        time.sleep(step)


def proof(secret, token):
    return hmac.new(secret.encode(), token.encode(), hashlib.sha256).hexdigest()


class SimEnv:
    """A temp dir holding a checkout-like root (the binaries, web/simulator), the config with
    one connector (the café of examples/stories.conf) and the simulator group, and lighttpd
    running the simulator and two responders under libfaketime."""

    def __init__(self, enabled=True):
        self.dir = tempfile.mkdtemp(prefix="msgr-sim-")
        self.port = webenv.free_port()
        self.base = "http://127.0.0.1:%d" % self.port
        self.root = os.geteuid() == 0
        self.user = webenv.service_user() if self.root else None
        self.proc = None
        self.faketime = next((p for p in FAKETIME_LIBS if os.path.exists(p)), None)
        self.token = "EAAsim" + os.urandom(16).hex()
        self.secret = os.urandom(16).hex()
        self.verify = "vt-" + os.urandom(8).hex()
        d = self.dir
        # var.msgr_root: a folder as the checkout holds them (the builds under test).
        r = os.path.join(d, "root")
        for sub in ("cgi-bin", "bin", "web"):
            os.makedirs(os.path.join(r, sub))
        shutil.copy2(FCGI, os.path.join(r, "cgi-bin", "messenger.fcgi"))
        shutil.copy2(SIM, os.path.join(r, "cgi-bin", "simulator.fcgi"))
        shutil.copy2(MSGRCTL, os.path.join(r, "bin", "msgrctl"))
        self.msgrctl = os.path.join(r, "bin", "msgrctl")
        web = os.path.join(ROOT, "web", "simulator")
        if os.path.isdir(web):
            shutil.copytree(web, os.path.join(r, "web", "simulator"))
        else:
            # The chat page comes with the repository; a stand-in when it is absent.
            os.makedirs(os.path.join(r, "web", "simulator"))
            with open(os.path.join(r, "web", "simulator", "index.html"), "w") as f:
                f.write("<!doctype html><title>Messenger simulator</title>\n")
        self.run = os.path.join(d, "run")
        os.makedirs(self.run)
        os.makedirs(os.path.join(d, "www"))
        for name, value in (("page.token", self.token), ("app.secret", self.secret),
                            ("webhook.token", self.verify)):
            with open(os.path.join(d, name), "w") as f:
                f.write(value + "\n")
            os.chmod(os.path.join(d, name), 0o600)
        shutil.copy2(os.path.join(ROOT, "examples", "stories.conf"),
                     os.path.join(d, "stories.conf"))
        self.clock_file = os.path.join(d, "sim-clock")
        self.conf = os.path.join(d, "msgr.conf")
        with open(self.conf, "w") as f:
            f.write("""# written by tests/integration/test_simulator.py
graph = { url = "%(base)s/_sim/graph"; version = "%(ver)s"; timeout_ms = 3000; };
state = { path = "state.db"; };
worker = { budget_ms = 3000; lease_ms = 5000; retry_max_s = 600; idle_ms = 100; };
simulator = { enabled = %(on)s; url = "%(base)s"; clock_file = "sim-clock";
              personas = ( { id = "7001"; name = "Lumi"; picture = "/_sim/static/lumi.svg"; } ); };
connectors = (
  { id = "cafe"; path = "/io/cafe/messenger"; app_id = "%(app)s"; page_id = "%(page)s";
    call_token = "file:page.token"; webhook_token = "file:webhook.token";
    secret = "file:app.secret"; bot = { type = "stories"; file = "stories.conf"; }; } );
""" % {"base": self.base, "ver": VERSION, "on": "true" if enabled else "false",
                "app": APP_ID, "page": PAGE_ID})
        os.chmod(self.conf, 0o600)
        self.error_log = os.path.join(d, "lighttpd-error.log")
        self.log_path = os.path.join(d, "programs.log")
        lines = [
            "# written by tests/integration/test_simulator.py",
            'var.msgr_root = "%s"' % r,
            'var.msgr_run  = "%s"' % self.run,
            'var.msgr_conf = "%s"' % self.conf,
            'server.modules = ( "mod_fastcgi" )',
            'server.bind = "127.0.0.1"',
            "server.port = %d" % self.port,
            'server.document-root = "%s/www"' % d,
            'server.errorlog = "%s"' % self.error_log,
            'server.breakagelog = "%s"' % self.log_path,
            'server.upload-dirs = ( "%s" )' % d,
        ]
        if self.faketime:
            # One clock for both sides: the simulator writes the offset, the responders and
            # the msgrctl it runs read it through libfaketime.
            env = ['"LD_PRELOAD" => "%s"' % self.faketime,
                   '"FAKETIME_TIMESTAMP_FILE" => "%s"' % self.clock_file,
                   '"FAKETIME_NO_CACHE" => "1"', '"DONT_FAKE_MONOTONIC" => "1"']
            if SAN:
                # ASan wants to be first in the library list; libfaketime is preloaded.
                env.append('"ASAN_OPTIONS" => "verify_asan_link_order=0:detect_leaks=1"')
            lines.append("var.msgr_faketime = ( %s )" % ", ".join(env))
        if self.root:
            name, group, _, _ = self.user
            lines += ['server.username = "%s"' % name, 'server.groupname = "%s"' % group]
        # Order matters: /_sim/ before the responder's / (lighttpd/simulator.conf says why).
        lines.append('include "%s/lighttpd/simulator.conf"' % ROOT)
        lines.append('include "%s/lighttpd/messenger.conf"' % ROOT)
        self.lighttpd_conf = os.path.join(d, "lighttpd.conf")
        with open(self.lighttpd_conf, "w") as f:
            f.write("\n".join(lines) + "\n")
        self.give_away()
        lighttpd = webenv.find_program("lighttpd")
        if lighttpd is None:
            raise RuntimeError("lighttpd is not installed: " + webenv.DEPS_HINT)
        p = subprocess.run([lighttpd, "-tt", "-f", self.lighttpd_conf], capture_output=True,
                           timeout=30)
        if p.returncode != 0:
            raise RuntimeError("lighttpd -tt refuses the config: " +
                               (p.stdout + p.stderr).decode("utf-8", "replace"))
        out = open(os.path.join(d, "lighttpd-console.log"), "ab")
        try:
            self.proc = subprocess.Popen([lighttpd, "-D", "-f", self.lighttpd_conf], stdout=out,
                                         stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                         cwd=d, start_new_session=True)
        finally:
            out.close()
        self.wait_ready()

    # As root the servers' workers run as the service user: it owns the temp dir, and the
    # commands run on it (msgrctl drain) run as that user. The same as the web servers' tests.
    give_away = webenv.WebEnv.give_away
    as_service = webenv.WebEnv.as_service

    def wait_ready(self):
        """The responder answers its verification, and the simulator its world (or 404)."""
        url = "%s/io/cafe/messenger?hub.mode=subscribe&hub.verify_token=%s&hub.challenge=ok" % (
            self.base, self.verify)
        deadline = time.time() + 20
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("lighttpd exited at start:\n" + self.logs()[-3000:])
            st, body, _ = self.http("GET", url, timeout=3)
            if st == 200 and body == b"ok":
                st, _, _ = self.http("GET", self.base + "/_sim/api/world", timeout=3)
                if st in (200, 404):
                    return
            time.sleep(0.2)
        raise RuntimeError("lighttpd does not answer on %s:\n%s" % (self.base, self.logs()[-3000:]))

    # ---- HTTP ----

    def http(self, method, url, body=None, headers=None, timeout=TIMEOUT):
        """(status, body bytes, headers); status 0 when nothing answered."""
        data = body if isinstance(body, (bytes, type(None))) else json.dumps(body).encode()
        req = urllib.request.Request(url, data=data, method=method)
        if data is not None:
            req.add_header("Content-Type", "application/json")
        for k, v in (headers or {}).items():
            req.add_header(k, v)
        try:
            with urllib.request.urlopen(req, timeout=timeout) as r:
                return r.status, r.read(), dict(r.headers)
        except urllib.error.HTTPError as e:
            return e.code, e.read(), dict(e.headers)
        except (urllib.error.URLError, OSError):
            return 0, b"", {}

    def api(self, method, path, body=None, timeout=TIMEOUT):
        """The page's API: (status, JSON answer or None)."""
        if method == "POST" and body is None:
            body = {}
        st, raw, _ = self.http(method, self.base + "/_sim/api/" + path, body, timeout=timeout)
        try:
            return st, json.loads(raw)
        except ValueError:
            return st, None

    def graph(self, method, path, body=None, token=None, with_proof=True, secret=None,
              version=VERSION):
        """A Graph API call as the connector makes it (Bearer token, appsecret_proof)."""
        token = self.token if token is None else token
        url = "%s/_sim/graph/%s/%s" % (self.base, version, path)
        if with_proof:
            url += ("&" if "?" in url else "?") + "appsecret_proof=" + proof(
                secret or self.secret, token)
        st, raw, _ = self.http(method, url, body, headers={"Authorization": "Bearer " + token})
        try:
            return st, json.loads(raw)
        except ValueError:
            return st, None

    # ---- the simulator's view ----

    def conversation(self, user, since=0):
        st, c = self.api("GET", "conversation?page=%s&user=%s&since=%d" % (PAGE_ID, user, since))
        return c if st == 200 else None

    def items(self, user, since=0):
        c = self.conversation(user, since)
        return c["items"] if c else []

    def bot_texts(self, user, since=0):
        """The texts (and template titles) of the bot's messages to user, in order."""
        out = []
        for it in self.items(user, since):
            m = it.get("message")
            if it.get("from") != "page" or m is None or it.get("by") != "bot":
                continue
            if "text" in m:
                out.append(m["text"])
            pl = (m.get("attachment") or {}).get("payload") or {}
            out += [e.get("title", "") for e in pl.get("elements", [])]
            if "text" in pl:
                out.append(pl["text"])
        return out

    def seq(self):
        st, w = self.api("GET", "log?since=999999999")
        return w["seq"] if st == 200 else 0

    def drain(self):
        """msgrctl drain: retries that came due (the responder runs its worker only when a
        request arrives)."""
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "MSGR_CONFIG": self.conf}
        if SAN:
            env["ASAN_OPTIONS"] = "detect_leaks=1"
        subprocess.run([self.msgrctl, "-c", self.conf, "drain", "--budget", "2000"], env=env,
                       capture_output=True, timeout=60, cwd=self.dir, **self.as_service())

    # ---- the end ----

    def logs(self):
        out = ""
        for p in (self.log_path, self.error_log, os.path.join(self.dir, "lighttpd-console.log")):
            try:
                with open(p, "rb") as f:
                    out += f.read().decode("utf-8", "replace")
            except OSError:
                pass
        return out

    def sanitizer_errors(self):
        return [l for l in self.logs().splitlines() if any(m in l for m in webenv.SANITIZER_MARKS)]

    def stop(self):
        """SIGTERM to lighttpd (it stops the simulator and the responders); True when all of
        it stopped in time."""
        if self.proc is None:
            return True
        clean = True
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                clean = False
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        # lighttpd's children are gone with it: any program of our root still alive is not.
        deadline = time.time() + 10
        while self.own_pids() and time.time() < deadline:
            time.sleep(0.1)
        for pid in self.own_pids():
            clean = False
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self.proc = None
        return clean

    def own_pids(self):
        mine = os.path.join(self.dir, "root")
        out = []
        for d in os.listdir("/proc"):
            if d.isdigit():
                try:
                    exe = os.readlink("/proc/%s/exe" % d)
                except OSError:
                    continue
                if exe.startswith(mine + "/") and not webenv.zombie(int(d)):
                    out.append(int(d))
        return out

    def cleanup(self):
        try:
            self.stop()
        finally:
            if os.environ.get("MSGR_KEEP_TMP"):
                print("# kept %s" % self.dir)
            else:
                shutil.rmtree(self.dir, ignore_errors=True)


# ---- the tests ----

def test_off(t):
    env = SimEnv(enabled=False)
    try:
        for path in ("/_sim/", "/_sim/api/world", "/_sim/graph/%s/me/messages" % VERSION):
            st, _, _ = env.http("GET", env.base + path)
            t.eq(st, 404, "simulator off: GET %s answers 404" % path)
        st, _, _ = env.http("POST", env.base + "/_sim/api/event",
                            {"page": PAGE_ID, "user": "u1", "type": "text", "text": "hello"})
        t.eq(st, 404, "simulator off: POST /_sim/api/event answers 404 (no webhook)")
        t.ok(not env.sanitizer_errors(), "simulator off: no sanitizer report",
             "\n".join(env.sanitizer_errors()))
    finally:
        env.cleanup()


def test_world_and_files(t, env):
    st, w = env.api("GET", "world")
    t.ok(st == 200 and [p["page_id"] for p in w["pages"]] == [PAGE_ID] and
         w["pages"][0]["path"] == "/io/cafe/messenger" and len(w["users"]) == 2 and
         w["users"][0]["psids"][PAGE_ID].isdigit() and w["inbox_app_id"] == INBOX and
         w["clock"]["enabled"] is True, "world: the café page, two users with PSIDs, the clock",
         w)
    st, body, hdr = env.http("GET", env.base + "/_sim/")
    t.ok(st == 200 and hdr.get("Content-Type", "").startswith("text/html") and
         b"<" in body, "GET /_sim/ serves the chat page", (st, hdr, body[:200]))
    st, _, _ = env.http("GET", env.base + "/_sim/static/..%2Fmsgr.conf")
    t.eq(st, 404, "a static name with .. is refused")
    st, _, _ = env.http("GET", env.base + "/_sim/static/nothing-here.js")
    t.eq(st, 404, "a missing static file is 404")


def test_hello(t, env):
    st, a = env.api("POST", "event", {"page": PAGE_ID, "user": "u1", "type": "text",
                                      "text": "hello"})
    t.ok(st == 200 and a.get("status") == 200 and a.get("batched") is False and
         a.get("mid", "").startswith("m_"),
         "a text event is posted as a signed webhook and the connector answers 200", a)
    got = wait_for(lambda: any("Lumi, the bot of Café Lumière" in x for x in env.bot_texts("u1")))
    t.ok(got, "the stories bot's welcome answer arrives in the conversation", env.items("u1"))
    # The welcome is two messages, sent one after the other: under valgrind the second can
    # come a while after the first.
    wait_for(lambda: any(i.get("from") == "page" and (i.get("message") or {}).get("quick_replies")
                         for i in env.items("u1")))
    items = env.items("u1")
    msgs = [i for i in items if i.get("from") == "page" and "message" in i]
    t.ok(any(m["message"].get("text", "").startswith("Hello Alice!") for m in msgs),
         "the answer uses the profile's first name (the fake Graph API's profile)", msgs)
    qr = [m for m in msgs if m["message"].get("quick_replies")]
    t.ok(qr and "MENU" in [q.get("payload") for q in qr[0]["message"]["quick_replies"]],
         "the welcome carries its quick replies", msgs)
    t.ok(msgs and all(m.get("messaging_type") == "RESPONSE" and m.get("tag") is None
                      for m in msgs), "the answers go with messaging_type RESPONSE", msgs)
    user = [i for i in items if i.get("from") == "user"]
    t.ok(user and user[0].get("webhook", {}).get("status") == 200,
         "the user's item carries the webhook's status", user)
    st, log = env.api("GET", "log")
    hooks = log["webhooks"] if st == 200 else []
    first = hooks[0] if hooks else {}
    body = first.get("body", "")
    t.ok(first.get("connector") == "cafe" and first.get("path") == "/io/cafe/messenger" and
         first.get("status") == 200 and body.startswith('{"object":"page","entry":[{'),
         "the webhook record: connector, path, status 200, Facebook's compact body", first)
    ev = json.loads(body)["entry"][0]["messaging"][0] if body else {}
    t.ok(ev.get("message", {}).get("text") == "hello" and ev.get("sender", {}).get("id") ==
         w_psid(env, "u1"), "the webhook holds the message from the user's PSID", ev)


def w_psid(env, user):
    st, w = env.api("GET", "world")
    return next(u["psids"][PAGE_ID] for u in w["users"] if u["key"] == user)


def test_redeliver(t, env):
    # Echoes off, so that the last webhook is the person's message, not an echo of the answer.
    st, a = env.api("POST", "echoes", {"on": False})
    t.ok(st == 200 and a == {"echoes": False}, "echoes off", a)
    since = env.seq()
    env.api("POST", "event", {"page": PAGE_ID, "user": "u1", "type": "text", "text": "hi"})
    t.ok(wait_for(lambda: len(env.bot_texts("u1", since)) >= 2), "the bot answers \"hi\"",
         env.items("u1", since))
    time.sleep(1)
    before = len(env.bot_texts("u1"))
    st, log = env.api("GET", "log?since=%d" % since)
    t.ok(st == 200 and len(log["webhooks"]) == 1, "with echoes off only the person's event was "
         "posted", log["webhooks"] if st == 200 else log)
    st, a = env.api("POST", "redeliver")
    t.ok(st == 200 and a.get("status") == 200, "redeliver: the same bytes and signature are "
         "accepted (200)", a)
    time.sleep(2.5)
    t.eq(len(env.bot_texts("u1")), before, "a redelivered webhook is deduplicated: no second "
         "answer")
    st, log = env.api("GET", "log?since=%d" % since)
    hooks = log["webhooks"] if st == 200 else []
    t.ok(len(hooks) == 2 and hooks[1]["redelivery"] is True and
         hooks[1]["body"] == hooks[0]["body"], "the redelivery is recorded with the same body",
         hooks)
    st, a = env.api("POST", "echoes", {"on": True})
    t.ok(st == 200 and a == {"echoes": True}, "echoes on", a)


def test_quick_reply_and_postback(t, env):
    since = env.seq()
    st, a = env.api("POST", "event", {"page": PAGE_ID, "user": "u1", "type": "quick_reply",
                                      "text": "☕ Menu", "payload": "MENU"})
    t.ok(st == 200 and a.get("status") == 200, "a quick reply is posted", a)
    st, log = env.api("GET", "log?since=%d" % since)
    body = log["webhooks"][0]["body"] if st == 200 and log["webhooks"] else ""
    t.ok(body.isascii() and "\\u2615 Menu" in body, "non-ASCII is written \\uXXXX in the "
         "webhook, as Facebook writes it", body)
    t.ok(wait_for(lambda: "Butter croissant" in env.bot_texts("u1", since)),
         "the quick reply's payload reaches the bot: the menu carousel arrives",
         env.bot_texts("u1", since))
    since = env.seq()
    st, a = env.api("POST", "event", {"page": PAGE_ID, "user": "u1", "type": "postback",
                                      "title": "I'll have one", "payload": "ORDER_CROISSANT"})
    t.ok(st == 200 and a.get("status") == 200, "a postback is posted", a)
    t.ok(wait_for(lambda: any("Show this message at the counter" in x
                              for x in env.bot_texts("u1", since))),
         "the postback's payload reaches the bot: the order story answers",
         env.bot_texts("u1", since))


def test_event_types(t, env):
    """Every event type of the page's API is a webhook the connector parses (none goes to
    quarantine), and get_started runs the welcome story."""
    since = env.seq()
    st, a = env.api("POST", "event", {"page": PAGE_ID, "user": "u2", "type": "get_started"})
    t.ok(st == 200 and a.get("status") == 200, "get_started is posted", a)
    t.ok(wait_for(lambda: any("Lumi, the bot" in x for x in env.bot_texts("u2", since)) and
                  len(env.bot_texts("u2", since)) >= 2),
         "get_started (payload GET_STARTED) runs the welcome story", env.items("u2", since))
    time.sleep(0.5)
    # A delivery receipt names the page's last message.
    page_mid = ([i["mid"] for i in env.items("u2", since) if i.get("from") == "page" and
                 i.get("mid")] or ["m_none"])[-1]
    events = [{"type": "referral", "ref": "spring-sale"}, {"type": "optin", "ref": "plugin"},
              {"type": "reaction", "mid": page_mid, "emoji": "❤", "action": "react"},
              {"type": "read"}, {"type": "delivery"},
              {"type": "image", "url": "https://example.org/cat.png"}]
    answers = []
    for ev in events:
        ev.update(page=PAGE_ID, user="u2")
        answers.append(env.api("POST", "event", ev))
    st, a = env.api("POST", "event", {"page": PAGE_ID, "user": "u2", "type": "text",
                                      "text": "a typo"})
    answers.append((st, a))
    answers.append(env.api("POST", "event", {"page": PAGE_ID, "user": "u2", "type": "edit",
                                             "mid": a.get("mid"), "text": "no typo"}))
    t.ok(all(st == 200 and x.get("status") == 200 for st, x in answers),
         "referral, optin, reaction, read, delivery, image and edit are posted (200)", answers)
    kinds = [i["kind"] for i in env.items("u2", since) if i.get("from") == "user"]
    t.eq(kinds, ["postback", "referral", "optin", "reaction", "read", "delivery", "attachment",
                 "text", "edit"], "each is an item of its kind in the conversation")
    st, log = env.api("GET", "log?since=%d" % since)
    bodies = [h["body"] for h in log["webhooks"]] if st == 200 else []
    t.ok(any('"delivery":{"mids":["%s"' % page_mid in b for b in bodies) and
         any('"num_edit":1' in b for b in bodies) and
         any('"reaction":{"reaction":"love"' in b for b in bodies),
         "delivery names the page's last message, an edit counts, a reaction is named",
         bodies[-9:])
    time.sleep(1)
    st, q = env.api("GET", "queue", timeout=60)
    t.ok(st == 200 and q.get("exit") == 0 and "quarantine:  0" in q.get("text", ""),
         "msgrctl status through the page's API: nothing quarantined", q)


def test_graph_refusals(t, env):
    psid = w_psid(env, "u1")
    msg = {"recipient": {"id": psid}, "messaging_type": "RESPONSE", "message": {"text": "hi"}}
    since = env.seq()
    st, a = env.graph("POST", "me/messages", msg, token="EAAwrong" + "0" * 30)
    t.ok(st == 400 and a["error"]["code"] == 190 and a["error"]["type"] == "OAuthException" and
         a["error"].get("fbtrace_id"), "a bad token: 400, code 190 in Facebook's shape", a)
    st, log = env.api("GET", "log?since=%d" % since)
    rec = log["graph"][-1] if st == 200 and log["graph"] else {}
    t.ok(rec.get("status") == 400 and rec.get("page_id") is None and '"code":190' in
         rec.get("answer", "") and "EAAwrong" not in json.dumps(rec),
         "the refused call is recorded, about no page, without its token", rec)
    st, a = env.graph("POST", "me/messages", msg, with_proof=False)
    t.ok(st == 400 and a["error"]["code"] == 100 and "appsecret_proof" in a["error"]["message"],
         "no appsecret_proof: code 100", a)
    st, a = env.graph("POST", "me/messages", msg, secret="not-the-secret")
    t.ok(st == 400 and a["error"]["code"] == 100 and "Invalid appsecret_proof" in
         a["error"]["message"], "a wrong appsecret_proof: code 100", a)
    since = env.seq()
    long_text = dict(msg, message={"text": "x" * 2001})
    st, a = env.graph("POST", "me/messages", long_text)
    t.ok(st == 400 and a["error"]["code"] == 100 and "2000" in a["error"]["message"],
         "a text of 2001 characters: code 100", a)
    retired = dict(msg, messaging_type="MESSAGE_TAG", tag="ACCOUNT_UPDATE")
    st, a = env.graph("POST", "me/messages", retired)
    t.ok(st == 400 and a["error"]["code"] == 100 and "no longer supported" in
         a["error"]["message"], "a retired tag (ACCOUNT_UPDATE): code 100", a)
    st, a = env.graph("POST", "me/messages", dict(msg, persona_id="999"))
    t.ok(st == 400 and a["error"]["code"] == 100 and "persona" in a["error"]["message"],
         "a persona the config does not have: code 100", a)
    st, a = env.graph("POST", "me/messages", dict(msg, persona_id="7001"))
    t.ok(st == 200 and a.get("message_id", "").startswith("m_"),
         "a configured persona may speak", a)
    st, a = env.graph("GET", "%s?fields=first_name,locale" % psid)
    t.ok(st == 400 and a["error"]["code"] == 100 and a["error"]["error_subcode"] == 2018247,
         "a profile field that needs a permission: 100/2018247", a)
    st, a = env.graph("GET", "%s?fields=first_name,last_name,profile_pic" % psid)
    t.ok(st == 200 and a.get("first_name") == "Alice" and a.get("last_name") == "Martin" and
         "/_sim/static/avatar-" in a.get("profile_pic", ""), "the profile of a simulated user",
         a)
    st, a = env.graph("POST", "me/messages", msg, token="%s|%s" % (APP_ID, env.secret))
    t.ok(st == 400 and a["error"]["code"] == 15, "the app token cannot send: code 15", a)
    refused = [i for i in env.items("u1", since) if i.get("kind") == "refused"]
    t.ok(len(refused) >= 2 and refused[0]["code"] == 100,
         "the refusals for a known user are shown beside the chat", refused)
    persona = [i for i in env.items("u1", since) if i.get("persona")]
    t.ok(persona and persona[0]["persona"]["name"] == "Lumi", "the persona's message shows "
         "its name", persona)


def test_inbox(t, env):
    since = env.seq()
    st, a = env.api("POST", "inbox", {"page": PAGE_ID, "user": "u1", "action": "take"})
    t.ok(st == 200 and a.get("status") == 200, "inbox take: take_thread_control posted (200)",
         a)
    c = env.conversation("u1")
    t.eq(c and c["owner"]["label"], "inbox", "the Page Inbox owns the thread")
    psid = w_psid(env, "u1")
    st, a = env.graph("POST", "me/messages", {"recipient": {"id": psid}, "messaging_type":
                                              "RESPONSE", "message": {"text": "me again"}})
    t.ok(st == 400 and a["error"]["code"] == 10 and a["error"]["error_subcode"] == 2018300,
         "the connector may not send while the inbox owns the thread: 10/2018300", a)
    n = len(env.bot_texts("u1"))
    st, a = env.api("POST", "event", {"page": PAGE_ID, "user": "u1", "type": "text",
                                      "text": "hello"})
    t.ok(st == 200 and a.get("status") == 200, "the user's message is taken by the connector",
         a)
    st, log = env.api("GET", "log?since=%d" % since)
    last = log["webhooks"][-1]["body"] if st == 200 and log["webhooks"] else "{}"
    t.ok('"standby"' in last and '"messaging"' not in last,
         "while the inbox owns the thread the event goes on standby", last)
    time.sleep(2.5)
    t.eq(len(env.bot_texts("u1")), n, "no answer to an event on standby")
    st, a = env.api("POST", "inbox", {"page": PAGE_ID, "user": "u1", "action": "reply",
                                      "text": "Hi, Sam here from the café."})
    t.ok(st == 200 and a.get("status") == 200, "inbox reply: echoed to the connector (200)", a)
    st, log = env.api("GET", "log?since=%d" % since)
    echo = log["webhooks"][-1]["body"] if st == 200 and log["webhooks"] else "{}"
    t.ok('"is_echo":true' in echo and INBOX in echo, "the reply's echo carries the Page "
         "Inbox's app id", echo)
    st, a = env.api("POST", "inbox", {"page": PAGE_ID, "user": "u1", "action": "release"})
    c = env.conversation("u1")
    t.ok(st == 200 and a.get("status") == 200 and c["owner"]["label"] == "bot",
         "inbox release: pass_thread_control back, the bot owns the thread", (a, c["owner"]))
    owners = [i["owner"] for i in env.items("u1", since) if i.get("kind") == "owner"]
    t.eq(owners, ["inbox", "bot"], "the owner changes are shown in the conversation")
    since = env.seq()
    env.api("POST", "event", {"page": PAGE_ID, "user": "u1", "type": "text", "text": "hours"})
    t.ok(wait_for(lambda: any("We're open Monday" in x for x in env.bot_texts("u1", since))),
         "after the release the bot answers again", env.bot_texts("u1", since))
    # The café's photo: uploaded once as reusable, then sent by attachment_id.
    image = wait_for(lambda: [i for i in env.items("u1", since) if i.get("urls")])
    aid = image and image[0]["message"]["attachment"]["payload"].get("attachment_id")
    t.ok(image and aid and image[0]["urls"].get(aid, "").startswith("https://picsum.photos/"),
         "an image sent by attachment_id shows the URL of its upload", env.items("u1", since))


def test_fail_613(t, env):
    st, a = env.api("POST", "fail", {"mode": "613", "count": 1})
    t.ok(st == 200 and a == {"mode": "613", "remaining": 1}, "fail 613 once is set", a)
    since = env.seq()
    env.api("POST", "event", {"page": PAGE_ID, "user": "u1", "type": "text", "text": "thanks"})
    refused = wait_for(lambda: [i for i in env.items("u1", since) if i.get("kind") == "refused"
                                and i.get("code") == 613])
    t.ok(refused and "(#613)" in refused[0]["text"], "the call that got 613 is shown refused",
         env.items("u1", since))
    t.ok(wait_for(lambda: any("You're welcome" in x for x in env.bot_texts("u1", since)),
                  timeout=25, step=0.5, between=env.drain),
         "the connector retries and the answer arrives", env.items("u1", since))
    st, log = env.api("GET", "log?since=%d" % since)
    statuses = [g["status"] for g in log["graph"]] if st == 200 else []
    t.ok(400 in statuses and 200 in statuses, "the Graph log shows the 400 and the 200s",
         statuses)
    st, w = env.api("GET", "world")
    t.eq(w["fail"], {"mode": None, "remaining": 0}, "the failure is used up")


def test_fail_hang(t, env):
    st, a = env.api("POST", "fail", {"mode": "hang", "count": 1})
    t.ok(st == 200 and a == {"mode": "hang", "remaining": 1}, "fail hang once is set", a)
    since = env.seq()
    env.api("POST", "event", {"page": PAGE_ID, "user": "u2", "type": "text", "text": "thanks"})
    held = wait_for(lambda: [i for i in env.items("u2", since) if i.get("kind") == "refused"],
                    timeout=10)
    t.ok(held and "no answer" in held[0]["text"], "the held call is shown beside the chat",
         env.items("u2", since))
    # Only the held call's thread waits: the world (and its mutex) answers meanwhile.
    t0 = time.time()
    st, _ = env.api("GET", "world")
    t.ok(st == 200 and time.time() - t0 < 1.5, "the simulator answers while a call is held "
         "(%.2f s)" % (time.time() - t0))
    t.ok(wait_for(lambda: any("You're welcome" in x for x in env.bot_texts("u2", since)),
                  timeout=30, step=0.5, between=env.drain),
         "past the connector's timeout the call is retried and the answer arrives",
         env.items("u2", since))


def test_batch(t, env):
    st, a = env.api("POST", "batch", {"on": True})
    t.ok(st == 200 and a.get("on") is True, "batching on", a)
    since = env.seq()
    answers = [env.api("POST", "event", {"page": PAGE_ID, "user": "u2", "type": "text",
                                         "text": txt})[1] for txt in ("hello", "hours")]
    t.ok(all(x and x.get("batched") is True and x.get("status") is None for x in answers),
         "two events are held", answers)
    st, f = env.api("POST", "batch/flush")
    t.ok(st == 200 and f.get("posted") == 2 and len(f.get("webhooks", [])) == 1 and
         f["webhooks"][0]["events"] == 2 and f["webhooks"][0]["status"] == 200,
         "flush posts both in one webhook, answered 200", f)
    st, log = env.api("GET", "log?since=%d" % since)
    body = json.loads(log["webhooks"][-1]["body"]) if st == 200 and log["webhooks"] else {}
    t.ok(len(body.get("entry", [])) == 1 and len(body["entry"][0].get("messaging", [])) == 2,
         "one entry holding the page's two events", body)
    t.ok(wait_for(lambda: any("We're open Monday" in x for x in env.bot_texts("u2", since)) and
                  any("Lumi, the bot" in x for x in env.bot_texts("u2", since))),
         "both batched events are answered", env.bot_texts("u2", since))
    st, a = env.api("POST", "batch", {"on": False})
    t.ok(st == 200 and a.get("on") is False and a.get("pending") == 0, "batching off", a)


def test_transcript(t, env):
    st, u = env.api("POST", "users", {"name": "Chloé Durand"})
    t.ok(st == 200 and u.get("first_name") == "Chloé", "a user named Chloé Durand is added", u)
    key = u["key"]
    env.api("POST", "event", {"page": PAGE_ID, "user": key, "type": "text", "text": "hello"})
    wait_for(lambda: len(env.bot_texts(key)) >= 2)
    time.sleep(1)
    env.api("POST", "event", {"page": PAGE_ID, "user": key, "type": "quick_reply",
                              "text": "Opening hours", "payload": "HOURS"})
    wait_for(lambda: len(env.bot_texts(key)) >= 4)
    time.sleep(1)
    st, tr = env.api("GET", "transcript?page=%s&user=%s" % (PAGE_ID, key))
    steps = tr.get("steps", []) if st == 200 else []
    t.ok(st == 200 and tr.get("version") == 1 and tr.get("connector") == "cafe" and
         tr.get("user_name") == "Chloé Durand" and [list(s)[0] for s in steps] ==
         ["user", "page", "user", "page"] and steps[0]["user"] == {"type": "text",
                                                                  "text": "hello"},
         "the transcript: user, page, user, page", tr)
    t.ok(steps and all("mid" not in m and "metadata" not in m for s in steps
                       for m in s.get("page", [])), "no mid or metadata in the page's steps",
         steps)
    st, r = env.api("POST", "replay", tr, timeout=90)
    t.ok(st == 200 and r.get("ok") is True and r.get("steps") == 4 and r.get("diff") == "",
         "replaying it for a fresh user gives the same answers", r)
    bad = json.loads(json.dumps(tr))
    bad["steps"][1]["page"][0]["text"] = "Hello Chloé! Something else."
    st, r = env.api("POST", "replay", bad, timeout=90)
    t.ok(st == 200 and r.get("ok") is False and "step 2: expected" in r.get("diff", "") and
         "Something else" in r["diff"], "a changed transcript: ok false and a diff naming "
         "the step", r)
    st, r = env.api("POST", "replay", {"version": 1, "connector": "nope", "steps": []})
    t.ok(st == 400 and "error" in r, "a transcript of an unknown connector is refused", r)


def test_clock(t, env):
    if env.faketime is None:
        t.ok(False, "libfaketime is installed (sh scripts/deps.sh)", FAKETIME_LIBS)
        return
    st, c = env.api("POST", "clock", {"advance_s": 25 * 3600})
    t.ok(st == 200 and c.get("offset_s") == 90000, "the clock moves 25 h ahead", c)
    # Once, not twice, though the simulator itself runs under libfaketime.
    t.ok(c and abs(c["now_ms"] - (time.time() + 90000) * 1000) < 10000, "the simulator's "
         "clock is real time + 25 h", c)
    with open(env.clock_file) as f:
        t.eq(f.read(), "+90000s\n", "the clock file holds libfaketime's offset")
    c = env.conversation("u1")
    t.eq(c and c["window"], "human_agent", "Facebook's window: HUMAN_AGENT only after 24 h")
    st, a = env.api("POST", "page_send", {"page": PAGE_ID, "user": "u1",
                                          "text": "Your order is ready!"}, timeout=60)
    t.ok(st == 200 and a.get("ok") is False and a.get("exit") == 1 and
         "window" in a.get("output", ""), "msgrctl send without a tag: refused by the "
         "connector (exit 1)", a)
    since = env.seq()
    st, a = env.api("POST", "page_send", {"page": PAGE_ID, "user": "u1",
                                          "text": "Your order is ready!", "tag": "HUMAN_AGENT"},
                    timeout=60)
    t.ok(st == 200 and a.get("ok") is True and a.get("exit") == 0,
         "msgrctl send with HUMAN_AGENT goes (exit 0)", a)
    sent = [i for i in env.items("u1", since) if i.get("message", {}).get("text") ==
            "Your order is ready!"]
    t.ok(sent and sent[0]["messaging_type"] == "MESSAGE_TAG" and sent[0]["tag"] ==
         "HUMAN_AGENT", "the message arrives tagged HUMAN_AGENT", env.items("u1", since))
    psid = w_psid(env, "u1")
    st, a = env.graph("POST", "me/messages", {"recipient": {"id": psid}, "messaging_type":
                                              "RESPONSE", "message": {"text": "late"}})
    t.ok(st == 400 and a["error"]["code"] == 10 and a["error"]["error_subcode"] == 2018278,
         "Facebook's side refuses RESPONSE outside the window: 10/2018278", a)
    st, c = env.api("POST", "clock", {"reset": True})
    t.ok(st == 200 and c.get("offset_s") == 0, "the clock is reset", c)


def test_bad_input(t, env):
    st, a = env.api("POST", "event", b"{not json")
    t.ok(st == 400 and "error" in (a or {}), "a body that is not JSON: 400 with an error", a)
    st, a = env.api("POST", "event", {"page": PAGE_ID, "user": "u99", "type": "text",
                                      "text": "x"})
    t.ok(st == 404 and "error" in a, "an unknown user: 404", a)
    st, a = env.api("POST", "event", {"page": PAGE_ID, "user": "u1", "type": "dance"})
    t.ok(st == 400 and "error" in a, "an unknown event type: 400", a)
    st, a = env.api("GET", "event")
    t.eq(st, 405, "GET on a POST path: 405")
    st, a = env.api("GET", "nothing")
    t.eq(st, 404, "an unknown API path: 404")
    st, a = env.api("POST", "event", b"[" * 100000 + b"]" * 100000)
    t.eq(st, 400, "a deeply nested body: 400")
    st, a = env.api("POST", "users", b"{\"name\": \"" + b"x" * (1024 * 1024 + 10) + b"\"}")
    t.eq(st, 413, "a body over 1 MiB: 413")
    st, a = env.graph("POST", "me/messages", b"{nope")
    t.ok(st == 400 and a["error"]["code"] == 100, "the Graph API: a body that is not JSON is "
         "code 100", a)
    st, a = env.graph("GET", "me/messages/x/y")
    t.ok(st == 400 and a["error"]["code"] == 100 and a["error"]["error_subcode"] == 33,
         "the Graph API: a path of no object is refused (100/33)", a)
    st, a = env.graph("GET", "me/messenger_profile?fields=greeting", version="v2")
    t.ok(st == 400 and a["error"]["code"] == 2500, "the Graph API: no version in the path: "
         "2500", a)
    st, a = env.graph("GET", "me/messenger_profile?fields=greeting", version="v2.0")
    t.ok(st == 400 and a["error"]["code"] == 2635, "the Graph API: another version: 2635", a)
    st, w = env.api("GET", "world")
    t.eq(st, 200, "the simulator still answers")


def test_log_clean(t, env):
    st, raw, _ = env.http("GET", env.base + "/_sim/api/log")
    text = raw.decode("utf-8", "replace")
    found = [s for s in (env.token, env.secret, env.verify, proof(env.secret, env.token))
             if s in text]
    try:
        log = json.loads(text)
    except ValueError:
        log = {"webhooks": []}
    for h in log["webhooks"]:
        sig = hmac.new(env.secret.encode(), h["body"].encode(), hashlib.sha256).hexdigest()
        if sig in text:
            found.append("a webhook signature")
    t.ok(st == 200 and not found and log["webhooks"] and log["graph"],
         "/_sim/api/log holds no token, secret, proof or signature", found)
    logs = env.logs()
    t.ok(not [s for s in (env.token, env.secret, env.verify) if s in logs],
         "the programs' logs hold no token or secret")
    t.ok(not env.sanitizer_errors(), "no sanitizer report", "\n".join(env.sanitizer_errors()))


def main():
    t = Tap()
    started = time.time()
    for prog in (FCGI, SIM, MSGRCTL):
        if not os.access(prog, os.X_OK):
            t.ok(False, "%s is built (make)" % prog)
            print("# %d passed, %d failed" % (t.n - t.failed, t.failed))
            sys.exit(1)
    try:
        test_off(t)
    except Exception as e:  # noqa: BLE001  (a crash is one failure, the rest still runs)
        t.ok(False, "simulator off", "%s: %s" % (type(e).__name__, e))
    env = None
    try:
        env = SimEnv()
        for test in (test_world_and_files, test_hello, test_redeliver,
                     test_quick_reply_and_postback, test_event_types, test_graph_refusals, test_inbox,
                     test_fail_613, test_fail_hang, test_batch, test_transcript, test_clock, test_bad_input,
                     test_log_clean):
            try:
                test(t, env)
            except Exception as e:  # noqa: BLE001
                t.ok(False, test.__name__, "%s: %s\n%s" % (type(e).__name__, e,
                                                           env.logs()[-2000:]))
        t.ok(env.stop(), "lighttpd stops the simulator and the responders on SIGTERM")
        t.ok(not env.sanitizer_errors(), "no sanitizer report at exit",
             "\n".join(env.sanitizer_errors()))
    except Exception as e:  # noqa: BLE001
        t.ok(False, "the simulator's environment starts", "%s: %s" % (type(e).__name__, e))
    finally:
        if env is not None:
            env.cleanup()
    print("# %d passed, %d failed in %.1f s" % (t.n - t.failed, t.failed,
                                                 time.time() - started))
    sys.exit(1 if t.failed else 0)


if __name__ == "__main__":
    main()
