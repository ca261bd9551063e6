#!/usr/bin/env python3
"""test_setup.py — `msgrctl subscribe`, `msgrctl profile` and check's permission warning,
against the fake Graph API (tests/fake_graph.py).

The fake verifies a webhook registration as Facebook does, with a GET on the callback during
the call. Here that GET reaches the REAL responder pool: a tiny HTTP server on 127.0.0.1
(the "bridge") turns each HTTP request into a FastCGI one through `cgi-fcgi`, as a web server
would. So a passing subscribe proves the responder answers Facebook's challenge with the
configured verify token at the exact callback URL msgrctl registered."""
import hashlib
import hmac
import http.server
import json
import os
import stat
import subprocess
import sys
import threading
import urllib.parse
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness                      # noqa: E402
from harness import Tap             # noqa: E402
from workerenv import WorkerEnv, MSGRCTL   # noqa: E402

DEFAULT_FIELDS = ["messages", "messaging_postbacks", "messaging_optins", "message_deliveries",
                  "message_reads", "messaging_referrals", "message_echoes",
                  "messaging_handovers", "standby", "message_reactions", "message_edits",
                  "messaging_account_linking", "messaging_policy_enforcement"]

PROFILE = """profile = {
      get_started = "GET_STARTED";
      greeting = ( { locale = "default"; text = "Hi {{user_first_name}}!"; },
                   { locale = "fr_FR"; text = "Bonjour {{user_first_name}} !"; } );
      ice_breakers = ( { question = "What can you do?"; payload = "HELP"; },
                       { question = "Opening hours?"; payload = "HOURS"; } );
      persistent_menu = ( { locale = "default";
                            items = ( { title = "Help"; payload = "HELP"; },
                                      { title = "Website"; url = "https://example.org"; } ); } );
      whitelisted_domains = ( "https://example.org" );
    };"""

EXPECTED_PROFILE = {
    "get_started": {"payload": "GET_STARTED"},
    "greeting": [{"locale": "default", "text": "Hi {{user_first_name}}!"},
                 {"locale": "fr_FR", "text": "Bonjour {{user_first_name}} !"}],
    "ice_breakers": [{"call_to_actions": [{"question": "What can you do?", "payload": "HELP"},
                                          {"question": "Opening hours?", "payload": "HOURS"}],
                      "locale": "default"}],
    "persistent_menu": [{"locale": "default", "composer_input_disabled": False,
                         "call_to_actions": [
                             {"type": "postback", "title": "Help", "payload": "HELP"},
                             {"type": "web_url", "title": "Website",
                              "url": "https://example.org"}]}],
    "whitelisted_domains": ["https://example.org"],
}

BOT_LINE = 'bot = { type = "stories"; file = "stories.conf"; }; }'


class SetupEnv(WorkerEnv):
    """WorkerEnv whose first connector (alpha) carries a profile group."""

    def write_config(self, extra=""):
        super().write_config(extra)
        with open(self.conf_path) as f:
            text = f.read()
        text = text.replace(BOT_LINE, BOT_LINE[:-1] + "\n    " + PROFILE + " }", 1)
        with open(self.conf_path, "w") as f:
            f.write(text)
        os.chmod(self.conf_path, 0o600)


class Bridge:
    """HTTP on 127.0.0.1 -> FastCGI (cgi-fcgi) to the pool: the web server of the test."""

    def __init__(self, env):
        bridge = self

        class H(http.server.BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def do_GET(self):
                u = urllib.parse.urlsplit(self.path)
                r = env.request("GET", u.path, query=u.query)
                bridge.seen.append((u.path, r.status))
                data = r.body
                self.send_response(r.status or 502)
                self.send_header("Content-Type", r.headers.get("content-type", "text/plain"))
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.seen = []
        self.srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.srv.daemon_threads = True
        self.url = "http://127.0.0.1:%d" % self.srv.server_address[1]
        self.t = threading.Thread(target=self.srv.serve_forever, kwargs={"poll_interval": 0.1},
                                  daemon=True)
        self.t.start()

    def close(self):
        self.srv.shutdown()
        self.srv.server_close()


def graph_call(env, method, path, token, secret):
    """A direct call to the fake (to break a subscription behind msgrctl's back)."""
    proof = hmac.new(secret.encode(), token.encode(), hashlib.sha256).hexdigest()
    sep = "&" if "?" in path else "?"
    req = urllib.request.Request("%s/v26.0/%s%sappsecret_proof=%s" % (env.fake.url, path, sep,
                                                                       proof),
                                 method=method, headers={"Authorization": "Bearer " + token})
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, json.loads(r.read() or b"null")
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"null")


def posts(env, since, edge):
    return [c for c in env.fake.calls(edge) if c["id"] > since and c["method"] != "GET"]


def last_id(env):
    calls = env.fake.calls()
    return calls[-1]["id"] if calls else 0


def no_secret(t, env, out, name):
    """No token, secret, verify token or app token in out."""
    found = env.secrets_in_text(out)
    for c in env.connectors:
        tok = "%s|%s" % (c.app_id, c.secret)
        if tok in out:
            found.append("app token of %s" % c.app_id)
    t.ok(not found, name, "secrets found: %d" % len(found))


def subscribe_tests(t, env, bridge):
    c1, c2, c3 = env.c1, env.c2, env.c3
    app1, app2 = c1.app_id, c3.app_id
    cb1, cb3 = bridge.url + c1.path, bridge.url + c3.path

    rc, out, err = env.msgrctl("subscribe", "--url", bridge.url + "/")
    t.eq(rc, 0, "subscribe: exit 0 when every call succeeds")
    t.ok("app %s: webhook %s registered (13 fields)" % (app1, cb1) in out and
         "app %s: webhook %s registered (13 fields)" % (app2, cb3) in out,
         "subscribe: one line per app, with the first connector's callback", out + err)
    t.ok(all("page %s (connector %s): subscribed" % (c.page_id, c.id) in out
             for c in (c1, c2, c3)), "subscribe: one line per page", out)
    st = env.fake.ctl("GET", "state")
    subs = st["subscriptions"]
    t.eq(sorted(subs), sorted([app1, app2]), "subscribe: two apps -> two registrations")
    t.eq((subs.get(app1, {}).get("page", {}).get("callback_url"),
          subs.get(app2, {}).get("page", {}).get("callback_url")), (cb1, cb3),
         "subscribe: callback = BASE + the path of the app's first connector")
    t.eq(sorted(f["name"] for f in subs.get(app1, {}).get("page", {}).get("fields", [])),
         sorted(DEFAULT_FIELDS), "subscribe: the default fields are registered")
    pa = st["page_apps"]
    t.ok(all(pa.get(c.page_id, {}).get(c.app_id) == DEFAULT_FIELDS for c in (c1, c2, c3)),
         "subscribe: every page subscribed to its app with the fields", pa)
    t.eq(sorted((p, s) for p, s in bridge.seen), sorted([(c1.path, 200), (c3.path, 200)]),
         "subscribe: Facebook's verification GET was answered by the real responder")
    calls = env.fake.calls("/subscriptions")
    t.ok(calls and all(c.get("bearer") and c.get("proof") == "ok" for c in calls) and
         not env.fake.violations(), "subscribe: app token in the header, with a proof")
    no_secret(t, env, out + err, "subscribe: no token, secret or app token in the output")

    # --check on a healthy set-up: reads only.
    since = last_id(env)
    rc, out, err = env.msgrctl("subscribe", "--check", "--url", bridge.url)
    t.eq(rc, 0, "subscribe --check: healthy set-up -> exit 0")
    t.eq(posts(env, since, "/"), [], "subscribe --check: healthy set-up -> no change made")
    t.ok("app %s: webhook %s active" % (app1, cb1) in out and
         "page %s (connector %s): subscribed" % (c2.page_id, c2.id) in out,
         "subscribe --check: reports each webhook and page", out + err)

    # A missing webhook and a missing page subscription are repaired.
    graph_call(env, "DELETE", app2 + "/subscriptions", "%s|%s" % (app2, c3.secret), c3.secret)
    graph_call(env, "DELETE", c2.page_id + "/subscribed_apps", c2.call_token, c2.secret)
    since = last_id(env)
    rc, out, err = env.msgrctl("subscribe", "--check", "--url", bridge.url)
    t.eq(rc, 0, "subscribe --check: repaired -> exit 0")
    t.ok("app %s: webhook missing" % app2 in out and
         "app %s: webhook %s registered" % (app2, cb3) in out,
         "subscribe --check: a missing webhook is reported and registered again", out + err)
    t.ok("page %s (connector %s): not subscribed" % (c2.page_id, c2.id) in out,
         "subscribe --check: a missing page subscription is reported", out)
    st = env.fake.ctl("GET", "state")
    t.ok(st["subscriptions"].get(app2, {}).get("page", {}).get("callback_url") == cb3 and
         st["page_apps"].get(c2.page_id, {}).get(app1) == DEFAULT_FIELDS,
         "subscribe --check: the fake holds the repaired subscriptions", st)
    t.eq(sorted(c["path"].split("/")[2] for c in posts(env, since, "/")),
         sorted([app2, c2.page_id]), "subscribe --check: only what was missing is written")

    # Fewer fields than wanted (someone trimmed them): registered again.
    rc, out, err = env.msgrctl("subscribe", "--url", bridge.url, "--fields",
                               "messages,messaging_postbacks")
    st = env.fake.ctl("GET", "state")
    t.eq(st["page_apps"].get(c1.page_id, {}).get(app1), ["messages", "messaging_postbacks"],
         "subscribe --fields: the pages get exactly the fields given")
    t.ok(rc == 0 and "warning: without message_echoes" in err,
         "subscribe --fields without message_echoes: warned (a kill mid-call may double)",
         out + err)
    rc, out, err = env.msgrctl("subscribe", "--check", "--url", bridge.url)
    st = env.fake.ctl("GET", "state")
    t.ok(rc == 0 and "lacks some of the 13 fields" in out and
         st["page_apps"].get(c1.page_id, {}).get(app1) == DEFAULT_FIELDS,
         "subscribe --check: a subscription short of fields is registered again", out + err)

    # Facebook turned a webhook inactive (an hour of failed deliveries): registered again.
    env.fake.ctl("POST", "subscription", {"app_id": app1, "active": False})
    t.eq(env.fake.ctl("GET", "state")["subscriptions"][app1]["page"]["active"], False,
         "fake: the webhook of app1 is now inactive")
    since = last_id(env)
    rc, out, err = env.msgrctl("subscribe", "--check", "--url", bridge.url)
    st = env.fake.ctl("GET", "state")
    t.ok(rc == 0 and "app %s: webhook inactive" % app1 in out and
         st["subscriptions"][app1]["page"]["active"] is True and
         [c["path"].split("/")[2] for c in posts(env, since, "/subscriptions")] == [app1],
         "subscribe --check: an inactive webhook is reported and registered again", out + err)

    # A webhook pointing elsewhere (a developer's tunnel) is reported, not moved.
    other = env.fake.url + "/_fake/callback?token=elsewhere"
    tok = "%s|%s" % (app2, c3.secret)
    q = urllib.parse.urlencode({"object": "page", "callback_url": other,
                                "verify_token": "elsewhere", "fields": "messages"})
    st_, ans = graph_call(env, "POST", app2 + "/subscriptions?" + q, tok, c3.secret)
    t.eq(st_, 200, "fake: a webhook registered elsewhere by hand (%s)" % ans)
    since = last_id(env)
    rc, out, err = env.msgrctl("subscribe", "--check", "--url", bridge.url)
    t.eq(rc, 1, "subscribe --check: a webhook going elsewhere -> exit 1")
    t.ok("app %s: webhook goes to %s" % (app2, other) in err and
         posts(env, since, "/subscriptions") == [],
         "subscribe --check: ... named, and left as it is", out + err)
    rc, out, err = env.msgrctl("subscribe", "--url", bridge.url)
    t.ok(rc == 0 and env.fake.ctl("GET", "state")["subscriptions"][app2]["page"][
        "callback_url"] == cb3, "subscribe: moves a webhook back to BASE", out + err)

    # The callback does not answer the challenge: Facebook's 2200 shown, pages skipped.
    bridge.seen.clear()
    since = last_id(env)
    rc, out, err = env.msgrctl("subscribe", "--url", bridge.url + "/nowhere")
    t.eq(rc, 1, "subscribe: callback verification fails -> exit 1")
    t.ok("(#2200) Callback verification failed" in err and
         "not registered" in err and "404" in err,
         "subscribe: Facebook's (#2200) text is printed", err)
    t.ok(posts(env, since, "/subscribed_apps") == [] and "skipped" in err,
         "subscribe: pages of an app without a webhook are not subscribed", err)
    t.ok(bridge.seen and all(s == 404 for _, s in bridge.seen),
         "subscribe: the responder refused the unknown callback path (404)", bridge.seen)
    no_secret(t, env, out + err, "subscribe: no secret in a failure's output")

    # Facebook errors from the fake: a page token rejected (190) on one page.
    env.fake.fail("token", count=1, path=c3.page_id + "/subscribed_apps")
    rc, out, err = env.msgrctl("subscribe", "--url", bridge.url)
    env.fake.clear_fail()
    t.ok(rc == 1 and "page %s (connector %s): not subscribed: Error validating access token"
         % (c3.page_id, c3.id) in err and
         "page %s (connector %s): subscribed" % (c1.page_id, c1.id) in out,
         "subscribe: a Facebook error on one page is shown, the others still done", out + err)
    env.fake.fail("500", count=-1, path="/subscriptions")
    rc, out, err = env.msgrctl("subscribe", "--check", "--url", bridge.url)
    env.fake.clear_fail()
    t.ok(rc == 1 and "cannot read the subscriptions: HTTP 500" in err,
         "subscribe --check: an answer without a Graph error is named", out + err)
    no_secret(t, env, out + err, "subscribe: no secret in Facebook's errors as printed")

    # Arguments refused before any call.
    since = last_id(env)
    bad = [["subscribe"], ["subscribe", "--url", "ftp://example.org"],
           ["subscribe", "--url", "http://example.org"],
           ["subscribe", "--url", "https://example.org/x?y=1"],
           ["subscribe", "--url", "https://user:pw@example.org"],
           ["subscribe", "--url", bridge.url, "--fields", "messages,Messages"],
           ["subscribe", "--url", bridge.url, "--fields", "messages,messages"],
           ["subscribe", "--url", bridge.url, "--fields", ""]]
    results = [env.msgrctl(*a) for a in bad]
    t.ok(all(r[0] == 1 and r[2].startswith("msgrctl subscribe:") for r in results) and
         last_id(env) == since, "subscribe: a bad --url or --fields is refused, nothing sent",
         [r[2] for r in results])
    rc, out, err = env.msgrctl("subscribe", "--url", bridge.url, "--fields", "no_such_field")
    t.ok(rc == 1 and "(#100)" in err, "subscribe: Facebook's refusal of a field is shown", err)


def profile_tests(t, env):
    c1 = env.c1
    rc, out, err = env.msgrctl("profile")
    t.eq(rc, 0, "profile: exit 0")
    t.ok("connector alpha (page %s): profile set: get_started, greeting, ice_breakers, "
         "persistent_menu, whitelisted_domains" % c1.page_id in out, "profile: says what it set",
         out + err)
    calls = [c for c in env.fake.calls("/messenger_profile") if c["method"] == "POST"]
    t.eq(len(calls), 1, "profile: only the connector with a profile group is pushed")
    t.eq(calls[0]["body"] if calls else None, EXPECTED_PROFILE,
         "profile: the body sent is the config's profile in Facebook's shapes")
    t.eq(env.fake.ctl("GET", "state")["profiles"].get(c1.page_id), EXPECTED_PROFILE,
         "profile: the fake's page profile equals the config")
    no_secret(t, env, out + err, "profile: no secret in the output")

    rc, out, err = env.msgrctl("profile", "--connector", "alpha", "--delete",
                               "greeting,ice_breakers")
    prof = env.fake.ctl("GET", "state")["profiles"].get(c1.page_id, {})
    dels = [c for c in env.fake.calls("/messenger_profile") if c["method"] == "DELETE"]
    t.ok(rc == 0 and "greeting" not in prof and "ice_breakers" not in prof and
         "get_started" in prof and dels and
         dels[-1]["body"] == {"fields": ["greeting", "ice_breakers"]},
         "profile --delete: DELETE with the fields named", out + err)
    rc, out, err = env.msgrctl("profile", "--delete", "get_started")
    t.ok(rc == 1 and "(#100) get_started cannot be deleted" in err,
         "profile --delete: Facebook's refusal is shown", out + err)

    env.fake.fail("permanent", count=1, path="/messenger_profile")
    rc, out, err = env.msgrctl("profile")
    t.ok(rc == 1 and "(#551) This person isn't available right now." in err,
         "profile: a Facebook error is shown with its text, exit 1", err)
    env.fake.fail("token", count=1, path="/messenger_profile")
    rc, out, err = env.msgrctl("profile")
    t.ok(rc == 1 and "Error validating access token" in err,
         "profile: a token error is shown", err)
    no_secret(t, env, out + err, "profile: no secret in Facebook's errors as printed")

    since = last_id(env)
    res = [env.msgrctl("profile", "--connector", "beta"),
           env.msgrctl("profile", "--connector", "nope"),
           env.msgrctl("profile", "--delete", "colour"),
           env.msgrctl("profile", "--delete", "greeting,greeting")]
    t.ok(all(r[0] == 1 for r in res) and "no profile group" in res[0][2] and
         'no connector "nope"' in res[1][2] and last_id(env) == since,
         "profile: a connector without profile, an unknown one, a bad --delete: refused",
         [r[2] for r in res])

    # Over a limit: refused locally, naming the limit; nothing reaches Facebook.
    with open(env.conf_path) as f:
        text = f.read()
    over = os.path.join(env.dir, "over.conf")
    with open(over, "w") as f:
        f.write(text.replace("Hi {{user_first_name}}!", "x" * 161))
    menu = os.path.join(env.dir, "menu.conf")
    items = ", ".join('{ title = "T%d"; payload = "P%d"; }' % (i, i) for i in range(21))
    with open(menu, "w") as f:
        f.write(text.replace('items = ( { title = "Help"; payload = "HELP"; },',
                             "items = ( %s," % items))
    since = last_id(env)
    outs = []
    for path in (over, menu):
        p = subprocess.run([MSGRCTL, "-c", path, "profile"], env=env.child_env,
                           capture_output=True, timeout=30, cwd=env.dir)
        outs.append((p.returncode, p.stderr.decode()))
    t.ok(outs[0][0] == 1 and "160" in outs[0][1], "profile: a greeting over 160 characters is "
         "refused locally, naming the limit", outs[0])
    t.ok(outs[1][0] == 1 and "20" in outs[1][1], "profile: a menu over 20 items is refused "
         "locally, naming the limit", outs[1])
    t.eq(last_id(env), since, "profile: nothing over a limit reaches Facebook")


def check_warning_tests(t, env):
    """msgrctl check warns when the config holding inline secrets is readable by others."""
    def check(path):
        p = subprocess.run([MSGRCTL, "-c", path, "check"], env=env.child_env,
                           capture_output=True, timeout=30, cwd=env.dir)
        return p.returncode, p.stdout.decode(), p.stderr.decode()

    for f in ("app1.secret", "app2.webhook"):
        os.chmod(os.path.join(env.dir, f), 0o600)
    os.chmod(env.conf_path, 0o600)
    rc, out, err = check(env.conf_path)
    t.ok(rc == 0 and "warning" not in err, "check: a mode 600 config -> no warning", err)
    os.chmod(env.conf_path, 0o644)
    rc, out, err = check(env.conf_path)
    t.ok(rc == 0 and "warning" in err and "readable by everyone" in err and
         "holds secrets inline" in err and err.count("inline") == 1,
         "check: a world-readable config with inline secrets -> one warning, exit 0", err)
    no_secret(t, env, out + err, "check: the warning holds no secret")
    os.chmod(env.conf_path, 0o640)
    rc, out, err = check(env.conf_path)
    t.ok("readable by its group" in err, "check: a group-readable one -> warning", err)
    os.chmod(env.conf_path, 0o600)

    # Only env: and file: secrets: the config may be shared; a readable secret file is not.
    with open(env.conf_path) as f:
        text = f.read()
    for c in env.connectors:
        text = text.replace('"%s"' % c.call_token, '"env:TOK_%s"' % c.id)
        text = text.replace('"%s"' % c.webhook_token, '"file:wh.token"')
    shared = os.path.join(env.dir, "shared.conf")
    with open(shared, "w") as f:
        f.write(text)
    os.chmod(shared, 0o644)
    with open(os.path.join(env.dir, "wh.token"), "w") as f:
        f.write(env.c1.webhook_token + "\n")
    os.chmod(os.path.join(env.dir, "wh.token"), 0o600)
    os.chmod(os.path.join(env.dir, "app1.secret"), 0o600)
    os.chmod(os.path.join(env.dir, "app2.webhook"), 0o600)
    for c in env.connectors:
        env.child_env["TOK_" + c.id] = c.call_token
    rc, out, err = check(shared)
    t.ok(rc == 0 and "warning" not in err,
         "check: a readable config with env:/file: secrets only -> no warning", err)
    os.chmod(os.path.join(env.dir, "app1.secret"), 0o644)
    rc, out, err = check(shared)
    t.ok("app1.secret" in err and "readable by everyone" in err and err.count("app1") == 1,
         "check: a readable file: secret -> warning naming the file", err)
    os.chmod(os.path.join(env.dir, "app1.secret"), 0o600)


def main():
    t = Tap()
    env = bridge = None
    try:
        env = SetupEnv(nproc=2)
        bridge = Bridge(env)
        for name, fn in (("subscribe", lambda: subscribe_tests(t, env, bridge)),
                         ("profile", lambda: profile_tests(t, env)),
                         ("check warning", lambda: check_warning_tests(t, env))):
            try:
                fn()
            except Exception as e:   # noqa: BLE001 — one failing group must not hide the rest
                t.crash(name, e)
        t.eq(env.sanitizer_errors(), [], "no sanitizer report in the responders' log")
        t.eq(env.secrets_in_log(), [], "no secret in the responders' log")
    except Exception as e:   # noqa: BLE001
        t.crash("setup environment", e)
    finally:
        if bridge is not None:
            bridge.close()
        if env is not None:
            env.stop()
            env.cleanup()
    t.done()


if __name__ == "__main__":
    main()
