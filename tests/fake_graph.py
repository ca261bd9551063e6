#!/usr/bin/env python3
"""fake_graph.py — a fake Facebook Graph API for the tests (never linked into the product).

Checks every request as strictly as docs/facebook.md says Facebook does and answers with
Facebook's shapes: successes as documented, refusals as HTTP 400 +
{"error":{"message","type","code","error_subcode","fbtrace_id"}}.

    python3 tests/fake_graph.py --config FILE [--port N] [--port-file FILE] [--version v26.0]

Listens on 127.0.0.1 only; --port 0 (default) takes a free port, printed on stdout (one line,
the number) and written to --port-file when given. --port N re-binds a known port, so a test
can stop the server ("refuse connections") and start it again where the client expects it.

Config (JSON):
  {"pages": {"PAGE_ID": {"token": "...", "app_id": "...", "app_secret": "...",
                         "profile_permissions": ["locale"]}},
   "apps": {"APP_ID": "APP_SECRET"},
   "users": {"PSID": {"first_name": "...", "last_name": "...", ...}},   (optional)
   "require_proof": true,
   "max_calls_per_second": 0}           (per page; 0 = record only, N = answer 613 above N)

Control endpoints (no token needed), all JSON:
  GET  /_fake/calls[?path=SUB&since=ID]  recorded calls (Authorization value never kept)
  GET  /_fake/violations                 client misbehaviour seen (token in URL, ...)
  GET  /_fake/rate                       per page: calls, busiest 1 s window
  GET  /_fake/state                      thread owners, subscriptions, profiles, attachments
  POST /_fake/reset                      back to the config's state, failures cleared
  POST /_fake/fail {"mode", "count": N|-1, "path": SUB?, "seconds": S?, "mib": M?,
                    "to": PSID?, "has": KEY?}
       modes: 500 (no Graph error) | unknown (code 1, HTTP 500) | service (2, HTTP 503)
              | rate (613) | rate_4 (4, app limit) | rate_32 (32, page limit) | rate_80006
              | permanent (551) | window (10/2018278)
              | token (190) | restricted (10/1893063) | hang (held open, then closed)
              | close (closed without an answer) | html (200 text/html, not JSON)
              | big (200 with a JSON body of "mib" MiB, for reply caps)
              | slow (answered normally after "seconds")
              | drop (200, the headers and half the body, then the connection closed:
                nothing done, as hang and close)
       "to" limits the rule to calls whose body's recipient.id is PSID, "has" to calls whose
       body holds the key (e.g. "message": not a sender action).
  POST /_fake/clear_fail                 drops every failure rule
  POST /_fake/usage {"app": {...}, "page": {...}, "buc": {...}}   usage headers sent from now on
  POST /_fake/user {"psid", "last_message_age_s"}   the messaging window of a user
  POST /_fake/subscription {"app_id", "active": false}   marks an app's webhook inactive, as
                                         Facebook does after an hour of failed deliveries
  POST /_fake/owner {"page_id", "psid", "app_id"|null}   sets a thread's owner, as Facebook
                                         does (Page Inbox passing back, idle release)
  POST /_fake/echoes {"page_id", "url", "delay_ms": 0, "drop": 0, "enabled": true}
                                         after accepting a message for the page, POST its
                                         echo (webhook field message_echoes: is_echo, app_id,
                                         mid, metadata, text) to url, signed with the page's
                                         app secret (X-Hub-Signature-256) as Facebook does,
                                         delay_ms later, retried while the answer is not 2xx
                                         (up to 20 times); "drop": N leaves out the next N
                                         echoes. "enabled": false turns them off
  GET  /_fake/echoes                     the echoes posted: {page, psid, mid, metadata,
                                         status, tries, ms (until the last try's answer)}
  POST /_fake/latency {"ms": N}          Send API answers wait N ms after the message was
                                         accepted (Facebook's own latency: a process killed
                                         then never learns that its message went)
  POST /_fake/shutdown                   stops the server
  GET  /_fake/callback?token=T           a webhook stand-in: echoes hub.challenge when
                                         hub.verify_token is T (for subscription tests)
"""

import argparse
import hashlib
import hmac
import http.server
import json
import os
import re
import secrets
import socket
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request

INBOX_APP_ID = "263902037430900"
MAX_BODY = 4 * 1024 * 1024
HANG_MAX_S = 60

# docs/facebook.md "Calls"
RECIPIENT_FIELDS = ("id", "user_ref", "post_id", "comment_id")
MESSAGING_TYPES = ("RESPONSE", "UPDATE", "MESSAGE_TAG")
RETIRED_TAGS = ("CONFIRMED_EVENT_UPDATE", "ACCOUNT_UPDATE", "POST_PURCHASE_UPDATE")
SENDER_ACTIONS = ("typing_on", "typing_off", "mark_seen")
NOTIFICATION_TYPES = ("REGULAR", "SILENT_PUSH", "NO_PUSH")
MEDIA_TYPES = ("image", "audio", "video", "file")
PROFILE_FREE = ("id", "name", "first_name", "last_name", "profile_pic")
PROFILE_PERMISSIONED = ("locale", "timezone", "gender")
PAGE_FIELDS = ("messages", "messaging_postbacks", "messaging_optins", "message_deliveries",
               "message_reads", "messaging_referrals", "message_echoes", "messaging_handovers",
               "standby", "message_reactions", "message_edits", "messaging_account_linking",
               "messaging_policy_enforcement", "messaging_game_plays", "messaging_feedback",
               "messaging_customer_information", "response_feedback", "inbox_labels",
               "messaging_optouts", "send_cart", "group_feed", "feed", "calls")
PROFILE_KEYS = ("get_started", "greeting", "persistent_menu", "ice_breakers",
                "whitelisted_domains", "account_linking_url", "commands", "title", "description")
TEXT_MAX = 2000
QR_MAX, QR_TITLE_MAX, PAYLOAD_MAX, METADATA_MAX = 13, 20, 1000, 1000
BUTTONS_MAX, BUTTON_TITLE_MAX, BUTTON_TEXT_MAX = 3, 20, 640
CARDS_MAX, CARD_TITLE_MAX, CARD_SUBTITLE_MAX = 10, 80, 80
GREETING_MAX, MENU_ITEMS_MAX, ICE_BREAKERS_MAX = 160, 20, 4

FAIL_MODES = ("500", "unknown", "service", "rate", "rate_4", "rate_32", "rate_80006",
              "permanent", "window", "token", "restricted", "hang", "close", "html", "big",
              "slow", "drop")


class GraphError(Exception):
    """A refusal in Facebook's shape."""

    def __init__(self, code, message, subcode=None, status=400, etype="OAuthException"):
        super().__init__(message)
        self.code, self.message, self.subcode = code, message, subcode
        self.status, self.etype = status, etype

    def body(self):
        err = {"message": self.message, "type": self.etype, "code": self.code,
               "fbtrace_id": "F" + secrets.token_hex(8)}
        if self.subcode is not None:
            err["error_subcode"] = self.subcode
        return {"error": err}


def bad(msg, subcode=None):
    return GraphError(100, "(#100) " + msg, subcode)


def unsupported(method, obj):
    return GraphError(100, "Unsupported %s request. Object with ID '%s' does not exist, cannot be "
                      "loaded due to missing permissions, or does not support this operation"
                      % (method.lower(), obj), 33, etype="GraphMethodException")


def is_http_url(u, https_only=False):
    if not isinstance(u, str):
        return False
    p = urllib.parse.urlparse(u)
    ok = ("https",) if https_only else ("http", "https")
    return p.scheme in ok and bool(p.netloc)


def chars(s):
    # Python counts code points; Facebook's documentation says "characters".
    return len(s)


class State:
    """Everything the fake remembers; one lock guards it all."""

    def __init__(self, config, version):
        self.config = config
        self.version = version
        self.lock = threading.Lock()
        self.release_hangs = threading.Event()
        self.reset()

    def reset(self):
        self.calls = []
        self.violations = []
        self.failures = []
        self.next_id = 1
        self.owners = {}            # (page, psid) -> app id
        self.subscriptions = {}     # app id -> {object, callback_url, fields, active}
        self.page_apps = {}         # page id -> {app id: [fields]}
        self.profiles = {}          # page id -> messenger profile dict
        self.attachments = {}       # attachment id -> {type, url, page}
        self.usage = {}
        self.windows = {}           # psid -> last message age (s)
        self.rate = {}              # page -> {"times": [...], "max": n, "calls": n}
        self.echo_to = {}           # page -> {"url", "delay_ms", "drop"}
        self.echoes = []            # the echoes posted, for the tests
        self.latency_ms = 0
        self.release_hangs.set()
        self.release_hangs = threading.Event()

    # ---- who is calling ----
    def page_by_token(self, token):
        for pid, p in self.config.get("pages", {}).items():
            if hmac.compare_digest(p.get("token", ""), token):
                return pid, p
        return None, None

    def app_by_token(self, token):
        if "|" not in token:
            return None, None
        app_id, sec = token.split("|", 1)
        apps = self.config.get("apps", {})
        if app_id in apps and hmac.compare_digest(apps[app_id], sec):
            return app_id, sec
        return None, None


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"     # keep-alive, as graph.facebook.com
    server_version = "FakeGraph/1.0"

    def log_message(self, fmt, *args):   # quiet: tests read /_fake/calls instead
        pass

    @property
    def st(self):
        return self.server.state

    # ---- I/O ----
    def send_json(self, status, obj, extra_headers=None):
        data = json.dumps(obj).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=UTF-8")
        self.send_header("Content-Length", str(len(data)))
        for k, v in (extra_headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)

    def send_raw(self, status, ctype, data):
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def read_body(self):
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            raise GraphError(100, "chunked bodies are not supported by the fake", status=411)
        n = self.headers.get("Content-Length")
        if n is None:
            return b""
        try:
            n = int(n)
        except ValueError:
            raise GraphError(100, "bad Content-Length")
        if n < 0 or n > MAX_BODY:
            raise GraphError(100, "body too large", status=413)
        return self.rfile.read(n)

    def do_GET(self):
        self.handle_any("GET")

    def do_POST(self):
        self.handle_any("POST")

    def do_DELETE(self):
        self.handle_any("DELETE")

    # ---- dispatch ----
    def handle_any(self, method):
        url = urllib.parse.urlsplit(self.path)
        if url.path.startswith("/_fake/"):
            return self.control(method, url)
        started = time.time()
        rec = {"method": method, "path": url.path, "time": started, "violations": []}
        try:
            raw = self.read_body()
        except GraphError as e:
            self.close_connection = True
            return self.send_json(e.status, e.body())
        query = dict(urllib.parse.parse_qsl(url.query, keep_blank_values=True))
        body, params = self.parse_body(raw)
        rec["query"] = redact_params(query)
        rec["body"] = redact_params(body) if isinstance(body, dict) else body
        rec["headers"] = {k: v for k, v in self.headers.items() if k.lower() != "authorization"}
        status, answer, extra = 200, None, {}
        try:
            ctx = self.authenticate(query, params, rec)
            fail = self.take_failure(url.path, body)
            if fail is not None and fail["mode"] == "slow":
                rec["failure"] = "slow"
                time.sleep(min(float(fail.get("seconds") or 1), HANG_MAX_S))
                fail = None
            if fail is not None:
                handled = self.apply_failure(fail, rec)
                if handled is not None:
                    status, answer = handled
                    raise _Done()
                return   # hang / close: no answer at all
            self.pace(ctx, rec)
            answer = self.route(method, url.path, query, params, ctx)
        except _Done:
            pass
        except GraphError as e:
            status, answer = e.status, e.body()
        with self.st.lock:
            if self.st.usage.get("app"):
                extra["X-App-Usage"] = json.dumps(self.st.usage["app"])
            if self.st.usage.get("page"):
                extra["X-Page-Usage"] = json.dumps(self.st.usage["page"])
            if self.st.usage.get("buc"):
                extra["X-Business-Use-Case-Usage"] = json.dumps(self.st.usage["buc"])
        rec["status"] = status
        rec["answer"] = answer
        if isinstance(answer, str) and len(answer) > 1000:
            rec["answer"] = answer[:200] + "... (%d bytes)" % len(answer)
        self.record(rec)
        if isinstance(answer, (bytes, str)):
            data = answer.encode() if isinstance(answer, str) else answer
            return self.send_raw(status, "text/html" if status == 200 else "text/plain", data)
        self.send_json(status, answer, extra)

    def parse_body(self, raw):
        """JSON or form-encoded (values that look like JSON decoded), as Facebook accepts both."""
        if not raw:
            return None, {}
        ctype = self.headers.get("Content-Type", "")
        text = raw.decode("utf-8", "replace")
        if "json" in ctype:
            try:
                body = json.loads(text)
            except ValueError:
                raise_later = {"__invalid_json__": True}
                return text, raise_later
            return body, body if isinstance(body, dict) else {"__invalid_json__": True}
        params = {}
        for k, v in urllib.parse.parse_qsl(text, keep_blank_values=True):
            try:
                params[k] = json.loads(v) if v[:1] in "{[" else v
            except ValueError:
                params[k] = v
        return params, params

    def record(self, rec):
        with self.st.lock:
            rec["id"] = self.st.next_id
            self.st.next_id += 1
            self.st.calls.append(rec)
            for v in rec["violations"]:
                self.st.violations.append({"call": rec["id"], "path": rec["path"], "violation": v})

    # ---- token and proof (docs/facebook.md "Calls") ----
    def authenticate(self, query, params, rec):
        token, where = None, None
        auth = self.headers.get("Authorization")
        if auth is not None:
            m = re.match(r"^Bearer (\S+)$", auth)
            if m:
                token, where = m.group(1), "header"
        rec["bearer"] = where == "header"
        if "access_token" in query:
            # Facebook accepts it; our client must never put the token in a URL.
            rec["violations"].append("token_in_url")
            if token is None:
                token, where = query["access_token"], "query"
        if "access_token" in params:
            rec["violations"].append("token_in_body")
            if token is None:
                token, where = str(params["access_token"]), "body"
        if "__invalid_json__" in params:
            raise bad("Invalid JSON in request body")
        if not token:
            raise GraphError(104, "An access token is required to request this resource.")
        ctx = {"token": token}
        pid, page = self.st.page_by_token(token)
        if page is not None:
            ctx.update(kind="page", page_id=pid, page=page, app_id=page.get("app_id"),
                       secret=page.get("app_secret", ""))
            rec["page"] = pid
        else:
            app_id, sec = self.st.app_by_token(token)
            if app_id is None:
                raise GraphError(190, "Invalid OAuth access token - Cannot parse access token")
            ctx.update(kind="app", app_id=app_id, secret=sec)
            rec["app"] = app_id
        proof = query.get("appsecret_proof", params.get("appsecret_proof"))
        rec["proof"] = "missing" if proof is None else "bad"
        if proof is not None:
            want = hmac.new(ctx["secret"].encode(), token.encode(), hashlib.sha256).hexdigest()
            if hmac.compare_digest(want, str(proof)):
                rec["proof"] = "ok"
        if self.st.config.get("require_proof", True) and rec["proof"] != "ok":
            if proof is None:
                raise GraphError(100, "API calls from the server require an appsecret_proof "
                                 "argument", etype="GraphMethodException")
            raise GraphError(100, "Invalid appsecret_proof provided in the API argument",
                             etype="GraphMethodException")
        return ctx

    # ---- failure injection ----
    def take_failure(self, path, body=None):
        b = body if isinstance(body, dict) else {}
        with self.st.lock:
            for f in self.st.failures:
                if f["path"] and f["path"] not in path:
                    continue
                if f.get("to") and str((b.get("recipient") or {}).get("id")) != f["to"]:
                    continue
                if f.get("has") and f["has"] not in b:
                    continue
                if f["count"] == 0:
                    continue
                if f["count"] > 0:
                    f["count"] -= 1
                f["used"] += 1
                return dict(f)
        return None

    def apply_failure(self, f, rec):
        mode = f["mode"]
        rec["failure"] = mode
        if mode == "500":
            return 500, "Internal Server Error"
        table = {
            "unknown": (500, 1, None, "An unknown error occurred"),
            "service": (503, 2, None, "Service temporarily unavailable"),
            "rate": (400, 613, None, "(#613) Calls to this api have exceeded the rate limit."),
            "rate_4": (400, 4, None, "(#4) Application request limit reached"),
            "rate_32": (400, 32, None, "(#32) Page request limit reached"),
            "rate_80006": (400, 80006, None, "(#80006) There have been too many messages sent "
                           "to this Messenger thread from your page in a short period of time."),
            "permanent": (400, 551, 1545041, "(#551) This person isn't available right now."),
            "window": (400, 10, 2018278, "(#10) This message is sent outside of allowed window."),
            "token": (400, 190, 460, "Error validating access token: The session has been "
                      "invalidated because the user changed their password."),
            "restricted": (400, 10, 1893063, "(#10) This Page is temporarily restricted from "
                           "sending messages."),
        }
        if mode in table:
            status, code, sub, msg = table[mode]
            return status, GraphError(code, msg, sub, status).body()
        if mode == "html":
            return 200, "<html><body>Please log in to the network</body></html>"
        if mode == "big":
            mib = max(1, min(int(f.get("mib") or 2), 64))
            return 200, json.dumps({"pad": "x" * (mib * 1024 * 1024)})
        # hang / close / drop: record now, answer nothing (or half an answer)
        rec["status"] = 0
        rec["answer"] = None
        self.record(rec)
        if mode == "drop":
            data = json.dumps({"recipient_id": "0" * 16,
                               "message_id": "m_" + secrets.token_hex(32)}).encode()
            try:
                self.send_response(200)
                self.send_header("Content-Type", "application/json; charset=UTF-8")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data[:len(data) // 2])
                self.wfile.flush()
            except OSError:
                pass
        if mode == "hang":
            ev = self.st.release_hangs
            ev.wait(min(float(f.get("seconds") or HANG_MAX_S), HANG_MAX_S))
        self.close_connection = True
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        return None

    # ---- per-page pacing (docs/facebook.md "Limits") ----
    def pace(self, ctx, rec):
        if ctx.get("kind") != "page":
            return
        now = time.monotonic()
        limit = int(self.st.config.get("max_calls_per_second", 0) or 0)
        with self.st.lock:
            r = self.st.rate.setdefault(ctx["page_id"], {"times": [], "max": 0, "calls": 0})
            r["times"] = [t for t in r["times"] if now - t < 1.0]
            r["times"].append(now)
            r["calls"] += 1
            r["max"] = max(r["max"], len(r["times"]))
            over = limit > 0 and len(r["times"]) > limit
        if over:
            rec["violations"].append("rate")
            raise GraphError(613, "(#613) Calls to this api have exceeded the rate limit.")

    # ---- routes ----
    def route(self, method, path, query, params, ctx):
        m = re.match(r"^/(v\d+\.\d+)/(.*)$", path)
        if not m:
            raise GraphError(2500, "Unknown path components: " + path[:100])
        if self.st.version and m.group(1) != self.st.version:
            raise GraphError(2635, "You are calling a deprecated or unknown version of the "
                             "Graph API: " + m.group(1))
        parts = [p for p in m.group(2).split("/") if p]
        if not parts:
            raise unsupported(method, "")
        obj = parts[0]
        edge = parts[1] if len(parts) > 1 else None
        if len(parts) > 2:
            raise unsupported(method, m.group(2))
        if ctx["kind"] == "app":
            if obj == ctx["app_id"] and edge == "subscriptions":
                return self.app_subscriptions(method, params, ctx)
            raise GraphError(15, "(#15) This method must be called with a Page Access Token")
        # page token from here
        if edge == "subscriptions":
            raise GraphError(15, "(#15) This method must be called with an app access_token.")
        if obj != "me" and obj != ctx["page_id"] and edge is not None:
            raise unsupported(method, obj)
        if edge is None:
            if method != "GET" or obj == "me":
                raise unsupported(method, obj)
            return self.profile(obj, query, ctx)
        handler = {
            ("POST", "messages"): self.send,
            ("POST", "message_attachments"): self.upload,
            ("POST", "pass_thread_control"): self.pass_control,
            ("POST", "take_thread_control"): self.take_control,
            ("POST", "release_thread_control"): self.release_control,
            ("POST", "request_thread_control"): self.request_control,
            ("POST", "extend_thread_control"): self.extend_control,
            ("GET", "thread_owner"): self.thread_owner,
            ("POST", "messenger_profile"): self.profile_set,
            ("DELETE", "messenger_profile"): self.profile_delete,
            ("GET", "messenger_profile"): self.profile_get,
            ("POST", "subscribed_apps"): self.page_subscribe,
            ("GET", "subscribed_apps"): self.page_subscribed,
            ("DELETE", "subscribed_apps"): self.page_unsubscribe,
        }.get((method, edge))
        if handler is None:
            raise unsupported(method, obj + "/" + edge)
        merged = dict(query)
        merged.update(params)
        return handler(merged, ctx)

    # ---- Send API ----
    def send(self, p, ctx):
        rec = p.get("recipient")
        if not isinstance(rec, dict):
            raise bad("param recipient must be an object", 2018001)
        given = [k for k in RECIPIENT_FIELDS if k in rec]
        if len(given) != 1 or set(rec) - set(RECIPIENT_FIELDS):
            raise bad("param recipient must have exactly one of id, user_ref, post_id, "
                      "comment_id")
        rkey = given[0]
        rval = rec[rkey]
        if not isinstance(rval, (str, int)) or str(rval) == "":
            raise bad("param recipient[%s] must be a non-empty string" % rkey)
        rval = str(rval)
        if rkey == "id" and not rval.isdigit():
            raise bad("No matching user found", 2018001)
        has_msg, has_act = "message" in p, "sender_action" in p
        if has_msg == has_act:
            raise bad("param message or sender_action must be set, and not both")
        self.check_messaging_type(p, has_act, rval if rkey == "id" else None)
        if "notification_type" in p and p["notification_type"] not in NOTIFICATION_TYPES:
            raise bad("param notification_type must be one of " + ", ".join(NOTIFICATION_TYPES))
        if "persona_id" in p and not str(p["persona_id"]).isdigit():
            raise bad("param persona_id must be a valid persona id")
        if rkey == "id" and self.owner_of(ctx, rval) not in (None, ctx["app_id"]):
            # Handover: only the thread owner may send messages (sender actions too).
            raise GraphError(10, "(#10) This app is not the thread owner, it can't send "
                             "messages to this thread", 2018300)
        if has_act:
            if p["sender_action"] not in SENDER_ACTIONS:
                raise bad("param sender_action must be one of " + ", ".join(SENDER_ACTIONS))
            return {"recipient_id": rval}
        self.check_message(p["message"], ctx)
        ans = {"message_id": "m_" + secrets.token_urlsafe(24)}
        if rkey != "user_ref":
            ans = {"recipient_id": rval, "message_id": ans["message_id"]}
            self.echo(ctx, rval, p["message"], ans["message_id"])
        with self.st.lock:
            latency = self.st.latency_ms
        if latency > 0:
            # Taken, echoed, and only then answered: what a kill in between leaves unknown.
            time.sleep(latency / 1000.0)
        return ans

    # ---- echoes (docs/facebook.md "Webhooks": message_echoes) ----
    def echo(self, ctx, psid, message, mid):
        """Facebook echoes every message a page sends to the app's callback, with the
        message's metadata; here when the test turned echoes on for the page."""
        page = ctx.get("page_id")
        with self.st.lock:
            to = self.st.echo_to.get(page)
            if to is None:
                return
            if to["drop"] > 0:
                to["drop"] -= 1
                self.st.echoes.append({"page": page, "psid": psid, "mid": mid,
                                       "metadata": message.get("metadata"),
                                       "status": "dropped", "tries": 0})
                return
            rec = {"page": page, "psid": psid, "mid": mid, "metadata": message.get("metadata"),
                   "status": None, "tries": 0}
            self.st.echoes.append(rec)
        now = int(time.time() * 1000)
        m = {"is_echo": True, "app_id": int(ctx["app_id"]), "mid": mid}
        for k in ("text", "metadata", "sticker_id", "quick_replies"):
            if k in message:
                m[k] = message[k]
        body = json.dumps({"object": "page", "entry": [{"id": page, "time": now, "messaging": [
            {"sender": {"id": page}, "recipient": {"id": psid}, "timestamp": now,
             "message": m}]}]}).encode()
        secret = self.st.config["pages"][page].get("app_secret", "")
        sig = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
        threading.Thread(target=post_echo, args=(self.st, rec, to["url"], to["delay_ms"],
                                                  body, sig), daemon=True).start()

    def check_messaging_type(self, p, is_action, psid):
        mt = p.get("messaging_type")
        if mt is None:
            if is_action:
                return
            raise bad("param messaging_type is required")
        if mt not in MESSAGING_TYPES:
            raise bad("param messaging_type must be one of " + ", ".join(MESSAGING_TYPES))
        tag = p.get("tag")
        if mt == "MESSAGE_TAG":
            if tag is None:
                raise bad("param tag is required when messaging_type is MESSAGE_TAG")
            if tag in RETIRED_TAGS:
                raise bad("The tag %s is no longer supported" % tag)
            if tag != "HUMAN_AGENT":
                raise bad("param tag must be HUMAN_AGENT")
        elif tag is not None:
            raise bad("param tag is only valid with messaging_type MESSAGE_TAG")
        with self.st.lock:
            age = self.st.windows.get(psid) if psid else None
        if age is not None:
            limit = 7 * 86400 if mt == "MESSAGE_TAG" else 86400
            if age > limit:
                raise GraphError(10, "(#10) This message is sent outside of allowed window.",
                                 2018278)

    def check_message(self, m, ctx):
        if not isinstance(m, dict):
            raise bad("param message must be an object")
        kinds = [k for k in ("text", "attachment", "sticker_id") if k in m]
        if len(kinds) != 1:
            raise bad("param message must have exactly one of text, attachment, sticker_id")
        known = {"text", "attachment", "sticker_id", "quick_replies", "metadata", "reply_to"}
        extra = set(m) - known
        if extra:
            raise bad("param message has unknown field " + sorted(extra)[0])
        if "text" in m:
            t = m["text"]
            if not isinstance(t, str) or t == "":
                raise bad("param message[text] must be a non-empty string")
            if chars(t) > TEXT_MAX:
                raise bad("Length of param message[text] must be less than or equal to %d"
                          % TEXT_MAX)
        if "sticker_id" in m and not str(m["sticker_id"]).isdigit():
            raise bad("param message[sticker_id] must be a number")
        if "attachment" in m:
            self.check_attachment(m["attachment"], ctx, sending=True)
        if "quick_replies" in m:
            self.check_quick_replies(m["quick_replies"])
        if "metadata" in m:
            if not isinstance(m["metadata"], str) or chars(m["metadata"]) >= METADATA_MAX:
                raise bad("param message[metadata] must be a string under %d characters"
                          % METADATA_MAX)
        if "reply_to" in m:
            r = m["reply_to"]
            if not isinstance(r, dict) or not isinstance(r.get("mid"), str) or not r["mid"]:
                raise bad("param message[reply_to][mid] must be a message id")

    def check_quick_replies(self, qrs):
        if not isinstance(qrs, list) or not qrs:
            raise bad("param message[quick_replies] must be a non-empty array")
        if len(qrs) > QR_MAX:
            raise bad("param message[quick_replies] must have at most %d elements" % QR_MAX)
        for i, q in enumerate(qrs):
            where = "message[quick_replies][%d]" % i
            if not isinstance(q, dict):
                raise bad("param %s must be an object" % where)
            ct = q.get("content_type")
            if ct not in ("text", "user_phone_number", "user_email"):
                raise bad("param %s[content_type] must be one of text, user_phone_number, "
                          "user_email" % where)
            if "image_url" in q and not is_http_url(q["image_url"]):
                raise bad("param %s[image_url] must be a URL" % where)
            if ct != "text":
                continue
            title = q.get("title")
            if not isinstance(title, str) or (title == "" and "image_url" not in q):
                raise bad("param %s[title] is required" % where)
            if chars(title) > QR_TITLE_MAX:
                raise bad("param %s[title] must be at most %d characters"
                          % (where, QR_TITLE_MAX))
            pl = q.get("payload")
            if not isinstance(pl, (str, int)) or str(pl) == "":
                raise bad("param %s[payload] is required" % where)
            if chars(str(pl)) > PAYLOAD_MAX:
                raise bad("param %s[payload] must be at most %d characters"
                          % (where, PAYLOAD_MAX))

    def check_attachment(self, a, ctx, sending):
        if not isinstance(a, dict):
            raise bad("param message[attachment] must be an object")
        t = a.get("type")
        pl = a.get("payload")
        if not isinstance(pl, dict):
            raise bad("param message[attachment][payload] must be an object")
        if t in MEDIA_TYPES:
            has_url, has_id = "url" in pl, "attachment_id" in pl
            if has_url == has_id or (not sending and has_id):
                raise bad("param message[attachment][payload] must have exactly one of url, "
                          "attachment_id")
            if has_url and not is_http_url(pl["url"]):
                raise bad("param message[attachment][payload][url] must be a http(s) URL")
            if "is_reusable" in pl and not isinstance(pl["is_reusable"], bool):
                raise bad("param message[attachment][payload][is_reusable] must be a boolean")
            if has_id:
                self.check_attachment_id(pl["attachment_id"], ctx)
            return
        if t == "template" and sending:
            return self.check_template(pl, ctx)
        raise bad("param message[attachment][type] must be one of image, audio, video, file%s"
                  % (", template" if sending else ""))

    def check_attachment_id(self, aid, ctx):
        with self.st.lock:
            known = self.st.attachments.get(str(aid))
        if known is None or known["page"] != ctx["page_id"]:
            raise GraphError(100, "(#100) Upload attachment failure.", 2018047)

    def check_buttons(self, buttons, where, maximum=BUTTONS_MAX, minimum=1):
        if not isinstance(buttons, list) or not (minimum <= len(buttons) <= maximum):
            raise bad("param %s must have %d to %d buttons" % (where, minimum, maximum))
        for i, b in enumerate(buttons):
            w = "%s[%d]" % (where, i)
            if not isinstance(b, dict):
                raise bad("param %s must be an object" % w)
            t = b.get("type")
            if t not in ("web_url", "postback", "phone_number", "account_link",
                         "account_unlink"):
                raise bad("param %s[type] is not a supported button type" % w)
            if t not in ("account_link", "account_unlink"):
                title = b.get("title")
                if not isinstance(title, str) or title == "":
                    raise bad("param %s[title] is required" % w)
                if chars(title) > BUTTON_TITLE_MAX:
                    raise bad("param %s[title] must be at most %d characters"
                              % (w, BUTTON_TITLE_MAX))
            if t == "web_url":
                if not is_http_url(b.get("url")):
                    raise bad("param %s[url] must be a http(s) URL" % w)
                if b.get("webview_height_ratio", "full") not in ("compact", "tall", "full"):
                    raise bad("param %s[webview_height_ratio] must be compact, tall or full" % w)
            elif t == "postback":
                pl = b.get("payload")
                if not isinstance(pl, str) or pl == "":
                    raise bad("param %s[payload] is required" % w)
                if chars(pl) > PAYLOAD_MAX:
                    raise bad("param %s[payload] must be at most %d characters"
                              % (w, PAYLOAD_MAX))
            elif t == "phone_number":
                pl = b.get("payload")
                if not isinstance(pl, str) or not re.match(r"^\+[0-9]{4,20}$", pl):
                    raise bad("param %s[payload] must be a phone number starting with +" % w)
            elif t == "account_link":
                if not is_http_url(b.get("url"), https_only=True):
                    raise bad("param %s[url] must be an https URL" % w)

    def check_template(self, pl, ctx):
        tt = pl.get("template_type")
        if tt == "button":
            text = pl.get("text")
            if not isinstance(text, str) or text == "":
                raise bad("param payload[text] is required")
            if chars(text) > BUTTON_TEXT_MAX:
                raise bad("param payload[text] must be at most %d characters"
                          % BUTTON_TEXT_MAX)
            self.check_buttons(pl.get("buttons"), "payload[buttons]")
        elif tt == "generic":
            els = pl.get("elements")
            if not isinstance(els, list) or not (1 <= len(els) <= CARDS_MAX):
                raise bad("param payload[elements] must have 1 to %d elements" % CARDS_MAX)
            for i, e in enumerate(els):
                w = "payload[elements][%d]" % i
                if not isinstance(e, dict):
                    raise bad("param %s must be an object" % w)
                title = e.get("title")
                if not isinstance(title, str) or title == "":
                    raise bad("param %s[title] is required" % w)
                if chars(title) > CARD_TITLE_MAX:
                    raise bad("param %s[title] must be at most %d characters"
                              % (w, CARD_TITLE_MAX))
                if not any(k in e for k in ("subtitle", "image_url", "default_action",
                                              "buttons")):
                    raise bad("param %s must have a title and at least one more field" % w)
                if "subtitle" in e and (not isinstance(e["subtitle"], str) or
                                        chars(e["subtitle"]) > CARD_SUBTITLE_MAX):
                    raise bad("param %s[subtitle] must be at most %d characters"
                              % (w, CARD_SUBTITLE_MAX))
                if "image_url" in e and not is_http_url(e["image_url"]):
                    raise bad("param %s[image_url] must be a URL" % w)
                if "buttons" in e:
                    self.check_buttons(e["buttons"], w + "[buttons]")
                if "default_action" in e:
                    da = e["default_action"]
                    if not isinstance(da, dict) or da.get("type") != "web_url" or \
                            not is_http_url(da.get("url")):
                        raise bad("param %s[default_action] must be a web_url action" % w)
        elif tt == "media":
            els = pl.get("elements")
            if not isinstance(els, list) or len(els) != 1:
                raise bad("param payload[elements] must have exactly one element")
            e = els[0]
            if not isinstance(e, dict) or e.get("media_type") not in ("image", "video"):
                raise bad("param payload[elements][0][media_type] must be image or video")
            has_url, has_id = "url" in e, "attachment_id" in e
            if has_url == has_id:
                raise bad("param payload[elements][0] must have exactly one of url, "
                          "attachment_id")
            if has_url:
                host = urllib.parse.urlparse(str(e["url"])).netloc
                if not (host == "facebook.com" or host.endswith(".facebook.com")):
                    raise bad("param payload[elements][0][url] must be a Facebook URL")
            else:
                self.check_attachment_id(e["attachment_id"], ctx)
            if "buttons" in e:
                self.check_buttons(e["buttons"], "payload[elements][0][buttons]")
        else:
            raise bad("param payload[template_type] must be one of button, generic, media")

    def upload(self, p, ctx):
        m = p.get("message")
        if not isinstance(m, dict) or set(m) != {"attachment"}:
            raise bad("param message must hold exactly one attachment")
        a = m["attachment"]
        self.check_attachment(a, ctx, sending=False)
        if a["payload"].get("is_reusable") is not True:
            raise bad("param message[attachment][payload][is_reusable] must be true to get an "
                      "attachment_id")
        aid = str(10 ** 15 + secrets.randbelow(10 ** 15))
        with self.st.lock:
            self.st.attachments[aid] = {"type": a["type"], "url": a["payload"]["url"],
                                        "page": ctx["page_id"], "time": time.time()}
        return {"attachment_id": aid}

    # ---- profile ----
    def profile(self, psid, query, ctx):
        if not psid.isdigit():
            raise unsupported("GET", psid)
        fields = [f for f in query.get("fields", "first_name,last_name,profile_pic").split(",")
                  if f]
        allowed = set(ctx["page"].get("profile_permissions", []))
        for f in fields:
            if f in PROFILE_PERMISSIONED and f not in allowed:
                raise GraphError(100, "(#100) Missing permission to access field %s: the page "
                                 "needs extra permission" % f, 2018247)
            if f not in PROFILE_FREE and f not in PROFILE_PERMISSIONED:
                raise bad("Tried accessing nonexisting field (%s) on node type (User)" % f)
        user = dict(self.st.config.get("users", {}).get(psid, {}))
        user.setdefault("first_name", "First" + psid[-4:])
        user.setdefault("last_name", "Last" + psid[-4:])
        user.setdefault("profile_pic", "https://platform-lookaside.fbsbx.example/%s.jpg" % psid)
        user.setdefault("locale", "en_US")
        user.setdefault("timezone", 1)
        user.setdefault("gender", "neutral")
        user.setdefault("name", user["first_name"] + " " + user["last_name"])
        ans = {f: user[f] for f in fields if f in user}
        ans["id"] = psid
        return ans

    # ---- thread control (docs/facebook.md "Thread control") ----
    def owner_of(self, ctx, psid):
        with self.st.lock:
            return self.st.owners.get((ctx["page_id"], psid))

    def control_recipient(self, p):
        r = p.get("recipient")
        if not isinstance(r, dict) or set(r) != {"id"} or not str(r["id"]).isdigit():
            raise bad("param recipient[id] must be a valid user id", 2018001)
        if "metadata" in p and (not isinstance(p["metadata"], str) or
                                chars(p["metadata"]) >= METADATA_MAX):
            raise bad("param metadata must be a string under %d characters" % METADATA_MAX)
        return str(r["id"])

    def pass_control(self, p, ctx):
        psid = self.control_recipient(p)
        target = p.get("target_app_id")
        if target is None or not str(target).isdigit():
            raise bad("param target_app_id must be an app id")
        target = str(target)
        owner = self.owner_of(ctx, psid) or ctx["app_id"]
        if owner != ctx["app_id"]:
            raise GraphError(10, "(#10) Only the thread owner can pass thread control", 2018300)
        with self.st.lock:
            self.st.owners[(ctx["page_id"], psid)] = target
        return {"success": True}

    def take_control(self, p, ctx):
        psid = self.control_recipient(p)
        with self.st.lock:
            self.st.owners[(ctx["page_id"], psid)] = ctx["app_id"]
        return {"success": True}

    def release_control(self, p, ctx):
        psid = self.control_recipient(p)
        owner = self.owner_of(ctx, psid) or ctx["app_id"]
        if owner != ctx["app_id"]:
            raise GraphError(10, "(#10) Only the thread owner can release thread control",
                             2018300)
        with self.st.lock:
            self.st.owners.pop((ctx["page_id"], psid), None)
        return {"success": True}

    def request_control(self, p, ctx):
        psid = self.control_recipient(p)
        with self.st.lock:
            self.st.owners.setdefault(("requests", ctx["page_id"]), []).append(psid)
        return {"success": True}

    def extend_control(self, p, ctx):
        psid = self.control_recipient(p)
        d = p.get("duration")
        if not isinstance(d, int) or isinstance(d, bool) or not (1 <= d <= 7 * 86400):
            raise bad("param duration must be a number of seconds")
        owner = self.owner_of(ctx, psid) or ctx["app_id"]
        if owner != ctx["app_id"]:
            raise GraphError(10, "(#10) Only the thread owner can extend thread control",
                             2018300)
        return {"success": True}

    def thread_owner(self, p, ctx):
        psid = str(p.get("recipient", ""))
        if not psid.isdigit():
            raise bad("param recipient must be a user id", 2018001)
        owner = self.owner_of(ctx, psid) or ctx["app_id"]
        return {"data": [{"thread_owner": {"app_id": owner,
                                            "expiration": int(time.time()) + 86400}}]}

    # ---- messenger profile ----
    def profile_set(self, p, ctx):
        fields = {k: v for k, v in p.items() if k != "appsecret_proof"}
        if not fields:
            raise bad("param fields must be non-empty")
        for k in fields:
            if k not in PROFILE_KEYS:
                raise bad("param %s is not a messenger profile field" % k)
        with self.st.lock:
            current = dict(self.st.profiles.get(ctx["page_id"], {}))
        if "get_started" in fields:
            gs = fields["get_started"]
            if not isinstance(gs, dict) or not isinstance(gs.get("payload"), str) or \
                    not gs["payload"] or chars(gs["payload"]) > PAYLOAD_MAX:
                raise bad("param get_started[payload] is required")
        if "greeting" in fields:
            g = fields["greeting"]
            if not isinstance(g, list) or not g:
                raise bad("param greeting must be a non-empty array")
            locales = []
            for item in g:
                if not isinstance(item, dict) or not isinstance(item.get("text"), str):
                    raise bad("param greeting must hold {locale, text} objects")
                if chars(item["text"]) > GREETING_MAX:
                    raise bad("param greeting[text] must be at most %d characters"
                              % GREETING_MAX)
                locales.append(item.get("locale"))
            if "default" not in locales:
                raise bad("param greeting must have a default locale")
        if "persistent_menu" in fields:
            if "get_started" not in fields and "get_started" not in current:
                raise bad("persistent_menu requires a get_started button", 2018145)
            pm = fields["persistent_menu"]
            if not isinstance(pm, list) or not pm:
                raise bad("param persistent_menu must be a non-empty array")
            for menu in pm:
                items = menu.get("call_to_actions") if isinstance(menu, dict) else None
                if not isinstance(items, list) or len(items) > MENU_ITEMS_MAX:
                    raise bad("param persistent_menu[call_to_actions] must have at most %d "
                              "items" % MENU_ITEMS_MAX)
                for it in items:
                    if not isinstance(it, dict) or it.get("type") not in ("web_url", "postback"):
                        raise bad("param persistent_menu items must be web_url or postback")
                    if not isinstance(it.get("title"), str) or not it["title"]:
                        raise bad("param persistent_menu item title is required")
            if not any(isinstance(m, dict) and m.get("locale") == "default" for m in pm):
                raise bad("param persistent_menu must have a default locale")
        if "ice_breakers" in fields:
            ib = fields["ice_breakers"]
            if not isinstance(ib, list):
                raise bad("param ice_breakers must be an array")
            if ib and isinstance(ib[0], dict) and "call_to_actions" in ib[0]:
                groups = [g.get("call_to_actions") for g in ib if isinstance(g, dict)]
            else:
                groups = [ib]
            for grp in groups:
                if not isinstance(grp, list) or len(grp) > ICE_BREAKERS_MAX:
                    raise bad("param ice_breakers must have at most %d questions"
                              % ICE_BREAKERS_MAX)
                for q in grp:
                    if not isinstance(q, dict) or not q.get("question") or not q.get("payload"):
                        raise bad("param ice_breakers items need question and payload")
        if "whitelisted_domains" in fields:
            wd = fields["whitelisted_domains"]
            if not isinstance(wd, list) or not all(is_http_url(d, https_only=True) for d in wd):
                raise bad("param whitelisted_domains must be https URLs")
        current.update(fields)
        with self.st.lock:
            self.st.profiles[ctx["page_id"]] = current
        return {"result": "success"}

    def profile_delete(self, p, ctx):
        fields = p.get("fields")
        if not isinstance(fields, list) or not fields or \
                not all(f in PROFILE_KEYS for f in fields):
            raise bad("param fields must be a non-empty array of messenger profile fields")
        with self.st.lock:
            cur = self.st.profiles.setdefault(ctx["page_id"], {})
            if "get_started" in fields and "persistent_menu" in cur and \
                    "persistent_menu" not in fields:
                raise bad("get_started cannot be deleted while a persistent_menu is set",
                          2018145)
            for f in fields:
                cur.pop(f, None)
        return {"result": "success"}

    def profile_get(self, p, ctx):
        want = [f for f in str(p.get("fields", "")).split(",") if f]
        if not want:
            raise bad("param fields is required")
        with self.st.lock:
            cur = dict(self.st.profiles.get(ctx["page_id"], {}))
        data = {f: cur[f] for f in want if f in cur}
        return {"data": [data] if data else []}

    # ---- subscriptions (docs/facebook.md "Subscriptions") ----
    def app_subscriptions(self, method, params, ctx):
        url = urllib.parse.urlsplit(self.path)
        p = dict(urllib.parse.parse_qsl(url.query, keep_blank_values=True))
        p.update(params)
        if method == "GET":
            with self.st.lock:
                subs = [dict(s) for s in self.st.subscriptions.get(ctx["app_id"], {}).values()]
            return {"data": subs}
        if method == "DELETE":
            with self.st.lock:
                self.st.subscriptions.pop(ctx["app_id"], None)
            return {"success": True}
        if p.get("object") != "page":
            raise bad("param object must be page")
        cb = p.get("callback_url")
        if not is_http_url(cb):
            raise bad("param callback_url must be a valid URL")
        vt = p.get("verify_token")
        if not isinstance(vt, str) or not vt:
            raise bad("param verify_token is required")
        fields = p.get("fields")
        if isinstance(fields, str):
            fields = [f for f in fields.split(",") if f]
        if not isinstance(fields, list) or not fields or \
                not all(f in PAGE_FIELDS for f in fields):
            raise bad("param fields must be a list of page webhook fields")
        challenge = str(secrets.randbelow(10 ** 9))
        q = urllib.parse.urlencode({"hub.mode": "subscribe", "hub.challenge": challenge,
                                    "hub.verify_token": vt})
        sep = "&" if urllib.parse.urlsplit(cb).query else "?"
        why = None
        try:
            with urllib.request.urlopen(cb + sep + q, timeout=5) as r:
                got = r.read(4096).decode("utf-8", "replace")
                if r.status != 200 or got != challenge:
                    why = "The URL couldn't be validated. Response does not match challenge, " \
                          "expected value=\"%s\", received=\"%s\"" % (challenge, got[:50])
        except urllib.error.HTTPError as e:
            why = "The URL couldn't be validated. Callback verification failed with the " \
                  "following errors: HTTP Status Code = %d" % e.code
        except (urllib.error.URLError, OSError) as e:
            why = "The URL couldn't be validated. Callback verification failed: %s" % \
                  type(e).__name__
        if why is not None:
            raise GraphError(2200, "(#2200) Callback verification failed: " + why)
        with self.st.lock:
            self.st.subscriptions.setdefault(ctx["app_id"], {})["page"] = {
                "object": "page", "callback_url": cb, "active": True,
                "fields": [{"name": f, "version": self.st.version or "v26.0"} for f in fields]}
        return {"success": True}

    def page_subscribe(self, p, ctx):
        fields = p.get("subscribed_fields")
        if isinstance(fields, str):
            fields = [f for f in fields.split(",") if f]
        if not isinstance(fields, list) or not fields:
            raise bad("param subscribed_fields is required")
        for i, f in enumerate(fields):
            if f not in PAGE_FIELDS:
                raise bad("param subscribed_fields[%d] must be one of {%s}"
                          % (i, ", ".join(PAGE_FIELDS)))
        with self.st.lock:
            self.st.page_apps.setdefault(ctx["page_id"], {})[ctx["app_id"]] = list(fields)
        return {"success": True}

    def page_subscribed(self, p, ctx):
        with self.st.lock:
            apps = dict(self.st.page_apps.get(ctx["page_id"], {}))
        return {"data": [{"id": a, "subscribed_fields": f} for a, f in apps.items()]}

    def page_unsubscribe(self, p, ctx):
        with self.st.lock:
            self.st.page_apps.get(ctx["page_id"], {}).pop(ctx["app_id"], None)
        return {"success": True}

    # ---- control endpoints ----
    def control(self, method, url):
        st = self.st
        try:
            raw = self.read_body()
            body = json.loads(raw.decode() or "{}") if raw else {}
        except (ValueError, GraphError):
            return self.send_json(400, {"error": "bad control request"})
        q = dict(urllib.parse.parse_qsl(url.query))
        name = url.path[len("/_fake/"):]
        if method == "GET" and name == "calls":
            since = int(q.get("since", "0") or 0)
            with st.lock:
                calls = [c for c in st.calls if c["id"] > since and
                         (not q.get("path") or q["path"] in c["path"])]
                calls = json.loads(json.dumps(calls, default=str))
            return self.send_json(200, {"calls": calls})
        if method == "GET" and name == "callback":
            # A webhook stand-in for subscription tests: echoes hub.challenge when
            # hub.verify_token equals ?token= (docs/responder.md "Answers"), 403 otherwise.
            if q.get("hub.mode") == "subscribe" and q.get("token") and \
                    q.get("hub.verify_token") == q.get("token"):
                return self.send_raw(200, "text/plain", q.get("hub.challenge", "").encode())
            return self.send_raw(403, "text/plain", b"forbidden")
        if method == "GET" and name == "echoes":
            with st.lock:
                out = json.loads(json.dumps(st.echoes, default=str))
            return self.send_json(200, {"echoes": out})
        if method == "GET" and name == "violations":
            with st.lock:
                return self.send_json(200, {"violations": list(st.violations)})
        if method == "GET" and name == "rate":
            with st.lock:
                pages = {p: {"calls": r["calls"], "max_per_second": r["max"]}
                         for p, r in st.rate.items()}
            return self.send_json(200, {"pages": pages})
        if method == "GET" and name == "state":
            with st.lock:
                owners = {"%s/%s" % k: v for k, v in st.owners.items() if k[0] != "requests"}
                out = {"owners": owners, "subscriptions": st.subscriptions,
                       "page_apps": st.page_apps, "profiles": st.profiles,
                       "attachments": st.attachments, "failures": st.failures}
                out = json.loads(json.dumps(out, default=str))
            return self.send_json(200, out)
        if method != "POST":
            return self.send_json(405, {"error": "method"})
        if name == "reset":
            with st.lock:
                st.reset()
            return self.send_json(200, {"ok": True})
        if name == "clear_fail":
            with st.lock:
                st.failures = []
                st.release_hangs.set()
                st.release_hangs = threading.Event()
            return self.send_json(200, {"ok": True})
        if name == "fail":
            mode = str(body.get("mode", ""))
            if mode not in FAIL_MODES:
                return self.send_json(400, {"error": "mode must be one of " +
                                            ", ".join(FAIL_MODES)})
            try:
                count = int(body.get("count", 1))
            except (TypeError, ValueError):
                return self.send_json(400, {"error": "count"})
            f = {"mode": mode, "count": count, "path": str(body.get("path") or ""),
                 "seconds": body.get("seconds"), "mib": body.get("mib"), "used": 0,
                 "to": str(body.get("to") or ""), "has": str(body.get("has") or "")}
            with st.lock:
                st.failures.append(f)
            return self.send_json(200, {"ok": True})
        if name == "usage":
            with st.lock:
                st.usage = {k: body[k] for k in ("app", "page", "buc") if k in body}
            return self.send_json(200, {"ok": True})
        if name == "user":
            with st.lock:
                st.windows[str(body.get("psid"))] = float(body.get("last_message_age_s", 0))
            return self.send_json(200, {"ok": True})
        if name == "subscription":
            # What Facebook does after an hour of failed deliveries: the app's webhook stays
            # registered but turns inactive (docs/facebook.md "Webhooks").
            with st.lock:
                sub = st.subscriptions.get(str(body.get("app_id")), {}).get("page")
                if sub is None:
                    return self.send_json(404, {"error": "no such subscription"})
                sub["active"] = bool(body.get("active", False))
            return self.send_json(200, {"ok": True})
        if name == "owner":
            # What Facebook does on its own side: the Page Inbox passing a thread back, an
            # idle thread released after 24 hours. app_id null: nobody holds it.
            key = (str(body.get("page_id")), str(body.get("psid")))
            with st.lock:
                if body.get("app_id") is None:
                    st.owners.pop(key, None)
                else:
                    st.owners[key] = str(body["app_id"])
            return self.send_json(200, {"ok": True})
        if name == "echoes":
            page = str(body.get("page_id", ""))
            with st.lock:
                if page not in st.config.get("pages", {}):
                    return self.send_json(404, {"error": "no such page"})
                if body.get("enabled", True) is False:
                    st.echo_to.pop(page, None)
                else:
                    st.echo_to[page] = {"url": str(body.get("url", "")),
                                        "delay_ms": int(body.get("delay_ms", 0) or 0),
                                        "drop": int(body.get("drop", 0) or 0)}
            return self.send_json(200, {"ok": True})
        if name == "latency":
            with st.lock:
                st.latency_ms = max(0, int(body.get("ms", 0) or 0))
            return self.send_json(200, {"ok": True})
        if name == "shutdown":
            self.send_json(200, {"ok": True})
            threading.Thread(target=self.server.shutdown, daemon=True).start()
            return None
        return self.send_json(404, {"error": "no such control"})


def post_echo(st, rec, url, delay_ms, body, sig):
    """Delivers one echo as Facebook does: retried while the answer is not 2xx."""
    t0 = time.time()
    time.sleep(delay_ms / 1000.0)
    status = None
    for attempt in range(20):
        req = urllib.request.Request(url, data=body, method="POST", headers={
            "Content-Type": "application/json", "X-Hub-Signature-256": sig})
        try:
            with urllib.request.urlopen(req, timeout=10) as r:
                status = r.status
        except urllib.error.HTTPError as e:
            status = e.code
        except (urllib.error.URLError, OSError):
            status = "no answer"
        with st.lock:
            rec["tries"] = attempt + 1
            rec["status"] = status
            rec["ms"] = int((time.time() - t0) * 1000)
        if isinstance(status, int) and 200 <= status < 300:
            return
        time.sleep(0.25)


class _Done(Exception):
    pass


def redact_params(d):
    if not isinstance(d, dict):
        return d
    out = dict(d)
    for k in ("access_token", "appsecret_proof", "verify_token"):
        if k in out:
            out[k] = "[redacted]"
    return out


class Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def handle_error(self, request, client_address):
        # A client that drops the connection (a timeout, a capped reply) is a normal event
        # in these tests, not a fault of the fake.
        if isinstance(sys.exc_info()[1], (ConnectionError, TimeoutError)):
            return
        super().handle_error(request, client_address)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--config", required=True)
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--port-file")
    ap.add_argument("--version", default=None,
                    help="the only Graph API version accepted (default: any vN.N)")
    args = ap.parse_args()
    with open(args.config) as f:
        config = json.load(f)
    srv = Server(("127.0.0.1", args.port), Handler)
    srv.state = State(config, args.version or config.get("version"))
    port = srv.server_address[1]
    if args.port_file:
        tmp = args.port_file + ".tmp"
        with open(tmp, "w") as f:
            f.write("%d\n" % port)
        os.rename(tmp, args.port_file)   # readers never see a half-written file
    print(port, flush=True)
    try:
        srv.serve_forever(poll_interval=0.2)
    except KeyboardInterrupt:
        pass
    srv.state.release_hangs.set()
    srv.server_close()


if __name__ == "__main__":
    sys.exit(main())
