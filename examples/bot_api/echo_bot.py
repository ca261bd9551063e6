#!/usr/bin/env python3
"""echo_bot.py — a small Bot API bot for messenger-fcgi (docs/bot-api.md), Python 3 stdlib only.

Start it in one command, with the same secret as the connector's bot.secret:

    python3 examples/bot_api/echo_bot.py --port 9000 --secret-file bot.secret
    MSGR_BOT_SECRET=... python3 examples/bot_api/echo_bot.py --port 9000

and point a connector at it:

    bot = { type = "api"; url = "http://127.0.0.1:9000/bot"; secret = "file:bot.secret"; };

What it does:
  - every request's X-Msgr-Timestamp and X-Msgr-Signature are checked (docs/bot-api.md
    "Signatures"): the timestamp within 5 minutes of this machine's clock, the signature
    HMAC-SHA256 of the secret over "TIMESTAMP.BODY", compared in constant time; a stale,
    wrong or missing one gets 401 and no answer;
  - every answer is signed for the connector: X-Msgr-Signature, HMAC-SHA256 of the secret
    over "REQUEST_SIGNATURE.REPLY_BODY" (the connector sends nothing of an unsigned reply);
  - a message is echoed with quick replies ("Talk to a human", "Show the menu");
  - a message or quick reply saying "human" (or the HUMAN payload) hands the conversation
    over to the Page Inbox, after saying so;
  - a postback gets a button template; a referral, an optin (also the checkbox plugin's,
    which the connector answers at recipient.user_ref) and a reaction get a short text;
  - everything else is ignored: an empty reply, so nothing is sent.
"""
import argparse
import hashlib
import hmac
import http.server
import json
import os
import sys
import time

MAX_BODY = 4 * 1024 * 1024       # the connector never sends more than a webhook held
TEXT_SHOWN = 1000                # of the user's text quoted back: stays readable
WINDOW_S = 300                   # a request older (or newer) than this is refused


def mac(secret, *parts):
    """The X-Msgr-Signature value: "sha256=" + hex HMAC-SHA256(secret, parts joined by ".")."""
    return "sha256=" + hmac.new(secret, b".".join(parts), hashlib.sha256).hexdigest()


def request_ok(secret, timestamp, signature, body, now=None):
    """docs/bot-api.md "Signatures": a fresh timestamp, and the signature over TIMESTAMP.BODY
    (the exact bytes received, before any parsing), compared in constant time."""
    if not timestamp.isdigit():
        return False
    now = time.time() if now is None else now
    if abs(now - int(timestamp)) > WINDOW_S:
        return False
    want = mac(secret, timestamp.encode("ascii"), body)
    return hmac.compare_digest(signature.encode("ascii", "replace"), want.encode("ascii"))


def log(fmt, *args):
    """One line on stderr; never the secret, the signature or the user's words."""
    sys.stderr.write("%s echo_bot: %s\n" % (time.strftime("%Y-%m-%dT%H:%M:%S"), fmt % args))
    sys.stderr.flush()


def quick_replies():
    return [{"content_type": "text", "title": "Talk to a human", "payload": "HUMAN"},
            {"content_type": "text", "title": "Show the menu", "payload": "MENU"}]


def menu():
    """A button template: at most 3 buttons, titles of 20 characters at most."""
    return {"attachment": {"type": "template", "payload": {
        "template_type": "button",
        "text": "What would you like to do?",
        "buttons": [
            {"type": "postback", "title": "Tell me a fact", "payload": "FACT"},
            {"type": "postback", "title": "Talk to a human", "payload": "HUMAN"},
            {"type": "web_url", "title": "Documentation",
             "url": "https://github.com/"}]}}}


def wants_human(text, payload):
    return payload == "HUMAN" or (text is not None and "human" in text.lower())


def answer(req):
    """The reply to one request (docs/bot-api.md "The reply"), or None for no answer."""
    ev = req.get("event") or {}
    user = req.get("user") or {}
    kind = ev.get("type")
    name = user.get("first_name") or "there"
    text, payload = ev.get("text"), ev.get("payload")

    if kind in ("message", "postback") and wants_human(text, payload):
        return {"messages": [{"text": "OK %s, a person from our team will answer you here."
                              % name}],
                "handover": {"pass_to": "inbox", "metadata": "asked for a human"}}
    if kind == "message":
        if payload == "MENU":
            return {"sender_action": "typing_on", "messages": [menu()]}
        if text:
            shown = text if len(text) <= TEXT_SHOWN else text[:TEXT_SHOWN] + "..."
            reply = {"text": "Hi %s! You said: %s" % (name, shown),
                     "quick_replies": quick_replies()}
        elif ev.get("attachments"):
            kinds = ", ".join(a.get("type", "?") for a in ev["attachments"])
            reply = {"text": "Thanks for the %s!" % kinds, "quick_replies": quick_replies()}
        else:
            return None
        return {"sender_action": "typing_on", "messages": [reply]}
    if kind == "postback":
        if payload == "FACT":
            return {"messages": [{"text": "Honey never spoils.",
                                  "quick_replies": quick_replies()}]}
        return {"messages": [
            {"text": "You pressed \"%s\"." % (ev.get("title") or payload or "a button")},
            menu()]}
    if kind == "referral":
        ref = (ev.get("referral") or {}).get("ref") or "no ref"
        return {"messages": [{"text": "Welcome %s! You came from: %s" % (name, ref),
                              "quick_replies": quick_replies()}]}
    if kind == "optin":
        # A checkbox-plugin optin has only user.user_ref: no name, and the connector sends
        # this answer to recipient.user_ref (Facebook allows one message then).
        return {"messages": [{"text": "Thanks for opting in (%s)." % (ev.get("ref") or "-")}]}
    if kind == "reaction":
        if ev.get("action") == "react":
            return {"messages": [{"text": "Thanks for the %s!" % (ev.get("emoji") or
                                                                  ev.get("reaction") or
                                                                  "reaction")}]}
        return None
    return None


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"     # keep-alive: the connector reuses its connection
    server_version = "echo_bot/1"

    def log_message(self, fmt, *args):   # http.server's own line: replaced by ours
        pass

    def send(self, status, obj=None, request_sig=None):
        body = b"" if obj is None else json.dumps(obj).encode("utf-8")
        self.send_response(status)
        if obj is not None:
            self.send_header("Content-Type", "application/json")
        if request_sig is not None:
            # The answer to this request and no other: over its signature and our body.
            self.send_header("X-Msgr-Signature",
                             mac(self.server.secret, request_sig.encode("ascii"), body))
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if body:
            self.wfile.write(body)

    def do_POST(self):
        if self.path.split("?", 1)[0] != self.server.path:
            return self.send(404, {"error": "no such path"})
        try:
            n = int(self.headers.get("Content-Length", ""))
        except ValueError:
            return self.send(411, {"error": "Content-Length required"})
        if n < 0 or n > MAX_BODY:
            self.close_connection = True
            return self.send(413, {"error": "body too large"})
        body = self.rfile.read(n)
        got = self.headers.get("X-Msgr-Signature", "")
        if not request_ok(self.server.secret, self.headers.get("X-Msgr-Timestamp", ""), got,
                          body):
            log("refused a request: missing, stale or wrong X-Msgr-Timestamp or "
                "X-Msgr-Signature")
            return self.send(401, {"error": "bad signature"})
        try:
            req = json.loads(body)
        except ValueError:
            return self.send(400, {"error": "not JSON"})
        reply = answer(req)
        ev = req.get("event") or {}
        log("connector=%s event=%s answered=%s", req.get("connector"), ev.get("type"),
            "yes" if reply else "no")
        self.send(200, reply if reply is not None else {}, request_sig=got)

    def do_GET(self):
        self.send(405, {"error": "POST only"})


def main():
    ap = argparse.ArgumentParser(description="A small Bot API bot for messenger-fcgi.")
    ap.add_argument("--host", default="127.0.0.1", help="address to listen on (127.0.0.1)")
    ap.add_argument("--port", type=int, default=9000, help="port (9000; 0 picks a free one)")
    ap.add_argument("--path", default="/bot", help="the path the connector posts to (/bot)")
    ap.add_argument("--secret-file", help="file holding bot.secret (else $MSGR_BOT_SECRET)")
    ap.add_argument("--port-file", help="write the port here once listening (for scripts)")
    args = ap.parse_args()

    if args.secret_file:
        with open(args.secret_file, "rb") as f:
            secret = f.read().rstrip(b"\r\n")
    else:
        secret = os.environ.get("MSGR_BOT_SECRET", "").encode("utf-8")
    if not secret:
        ap.error("no secret: give --secret-file or set MSGR_BOT_SECRET")

    srv = http.server.ThreadingHTTPServer((args.host, args.port), Handler)
    srv.daemon_threads = True
    srv.secret = secret
    srv.path = args.path
    port = srv.server_address[1]
    if args.port_file:
        tmp = args.port_file + ".tmp"
        with open(tmp, "w") as f:
            f.write(str(port))
        os.replace(tmp, args.port_file)
    log("listening on http://%s:%d%s", args.host, port, args.path)
    try:
        srv.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
