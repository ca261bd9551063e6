#!/usr/bin/env python3
"""Integration tests of tests/fake_graph.py: each check of docs/facebook.md refuses the bad request
with Facebook's code, good requests get Facebook's answers, failures can be injected, calls
are recorded without the token. Python 3 stdlib, 127.0.0.1 only, bounded in time. TAP lines.
(The C client against the fake is tested in tests/unit/test_graph.c.)"""

import hashlib
import hmac
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
FAKE = os.path.join(HERE, "..", "fake_graph.py")
sys.path.insert(0, os.path.join(HERE, ".."))
import portfile  # noqa: E402
PAGE, APP, TOKEN, SECRET = "1111", "9999", "EAApagetoken1111", "appsecret9999"
PAGE2, TOKEN2 = "2222", "EAApagetoken2222"
PSID = "5550001"
INBOX = "263902037430900"

results = {"ok": 0, "fail": 0}


def tap(ok, name, detail=""):
    if ok:
        results["ok"] += 1
        print("ok - " + name)
    else:
        results["fail"] += 1
        print("not ok - " + name + (": " + detail if detail else ""))
    sys.stdout.flush()


class Fake:
    def __init__(self, config, port=0):
        self.dir = tempfile.mkdtemp(prefix="fake_graph_")
        self.cfg = os.path.join(self.dir, "cfg.json")
        with open(self.cfg, "w") as f:
            json.dump(config, f)
        self.start(port)

    def start(self, port=0):
        pf = os.path.join(self.dir, "port")
        if os.path.exists(pf):
            os.unlink(pf)
        self.proc = subprocess.Popen([sys.executable, FAKE, "--config", self.cfg, "--port-file",
                                      pf, "--port", str(port), "--version", "v26.0"],
                                     stdout=subprocess.DEVNULL)
        self.port = portfile.wait(pf, self.proc, "fake graph")
        self.base = "http://127.0.0.1:%d" % self.port

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()

    def ctl(self, method, what, body=None):
        data = json.dumps(body).encode() if body is not None else (b"{}" if method == "POST"
                                                                    else None)
        req = urllib.request.Request(self.base + "/_fake/" + what, data=data, method=method)
        with urllib.request.urlopen(req, timeout=10) as r:
            return json.loads(r.read())

    def call(self, method, path, body=None, token=TOKEN, secret=SECRET, proof=True,
             query=None, version="v26.0", form=False, timeout=10):
        q = dict(query or {})
        if proof and token:
            q["appsecret_proof"] = hmac.new(secret.encode(), token.encode(),
                                            hashlib.sha256).hexdigest()
        url = "%s/%s%s" % (self.base, version + "/" if version else "", path)
        if q:
            url += "?" + urllib.parse.urlencode(q)
        headers = {}
        data = None
        if token:
            headers["Authorization"] = "Bearer " + token
        if body is not None:
            if form:
                data = urllib.parse.urlencode({k: json.dumps(v) if isinstance(v, (dict, list))
                                               else v for k, v in body.items()}).encode()
                headers["Content-Type"] = "application/x-www-form-urlencoded"
            else:
                data = json.dumps(body).encode()
                headers["Content-Type"] = "application/json"
        req = urllib.request.Request(url, data=data, method=method, headers=headers)
        try:
            with urllib.request.urlopen(req, timeout=timeout) as r:
                raw = r.read()
                return r.status, parse(raw), dict(r.headers)
        except urllib.error.HTTPError as e:
            raw = e.read()
            return e.code, parse(raw), dict(e.headers)


def parse(raw):
    try:
        return json.loads(raw)
    except ValueError:
        return raw.decode("utf-8", "replace")


def code_of(ans):
    if isinstance(ans, dict) and isinstance(ans.get("error"), dict):
        return ans["error"].get("code"), ans["error"].get("error_subcode")
    return None, None


def send_body(message=None, **kw):
    b = {"recipient": {"id": PSID}, "messaging_type": "RESPONSE"}
    if message is not None:
        b["message"] = message
    b.update(kw)
    return b


def expect(fake, name, method, path, body=None, want=(200, None), **kw):
    """want: (200, None) for success, or (code, subcode) of the Graph error expected."""
    try:
        status, ans, _ = fake.call(method, path, body, **kw)
    except Exception as e:  # noqa: BLE001 — any exception is a failed test
        tap(False, name, repr(e))
        return None
    if want[0] == 200:
        tap(status == 200 and code_of(ans) == (None, None), name, "%s %s" % (status, ans))
    else:
        c, s = code_of(ans)
        shape = isinstance(ans, dict) and all(k in ans.get("error", {}) for k in
                                               ("message", "type", "code", "fbtrace_id"))
        tap(status >= 400 and c == want[0] and s == want[1] and shape, name,
            "%s %s" % (status, ans))
    return ans


def text(n, ch="a"):
    return ch * n


def main():
    config = {"pages": {PAGE: {"token": TOKEN, "app_id": APP, "app_secret": SECRET},
                        PAGE2: {"token": TOKEN2, "app_id": APP, "app_secret": SECRET,
                                "profile_permissions": ["locale", "timezone"]}},
              "apps": {APP: SECRET},
              "users": {PSID: {"first_name": "Zoé", "last_name": "Martin"}},
              "require_proof": True}
    fake = Fake(config)
    try:
        run(fake)
        run_rate(config)
    finally:
        fake.stop()
    print("# %d passed, %d failed" % (results["ok"], results["fail"]))
    return 1 if results["fail"] else 0


def run(f):
    # ---- token and proof ----
    ans = expect(f, "send: good text message", "POST", "me/messages", send_body({"text": "hi"}))
    tap(isinstance(ans, dict) and ans.get("recipient_id") == PSID and
        str(ans.get("message_id", "")).startswith("m_"), "send: answer has recipient_id and "
        "message_id")
    expect(f, "send: form-encoded body accepted", "POST", "me/messages",
           send_body({"text": "hi"}), form=True)
    expect(f, "send: /{page-id}/messages accepted", "POST", PAGE + "/messages",
           send_body({"text": "hi"}))
    expect(f, "send: another page's id refused", "POST", PAGE2 + "/messages",
           send_body({"text": "hi"}), want=(100, 33))
    expect(f, "token: none -> 104", "POST", "me/messages", send_body({"text": "x"}),
           token=None, want=(104, None))
    expect(f, "token: unknown -> 190", "POST", "me/messages", send_body({"text": "x"}),
           token="EAAnope", want=(190, None))
    expect(f, "proof: missing -> 100", "POST", "me/messages", send_body({"text": "x"}),
           proof=False, want=(100, None))
    expect(f, "proof: wrong secret -> 100", "POST", "me/messages", send_body({"text": "x"}),
           secret="other", want=(100, None))
    f.ctl("POST", "reset")
    expect(f, "token: in the URL accepted (as Facebook does)", "GET", PSID, token=None,
           proof=False, query={"access_token": TOKEN, "appsecret_proof": hmac.new(
               SECRET.encode(), TOKEN.encode(), hashlib.sha256).hexdigest()})
    v = f.ctl("GET", "violations")["violations"]
    tap(len(v) == 1 and v[0]["violation"] == "token_in_url", "token: in the URL recorded as a "
        "violation", str(v))
    expect(f, "version: unknown version refused", "POST", "me/messages",
           send_body({"text": "x"}), version="v2.0", want=(2635, None))
    expect(f, "version: missing prefix refused", "POST", "me/messages",
           send_body({"text": "x"}), version="", want=(2500, None))

    # ---- recipient, message / sender_action, messaging_type ----
    expect(f, "recipient: missing -> 100", "POST", "me/messages",
           {"messaging_type": "RESPONSE", "message": {"text": "x"}}, want=(100, 2018001))
    expect(f, "recipient: two fields -> 100", "POST", "me/messages",
           send_body({"text": "x"}, recipient={"id": PSID, "user_ref": "r"}), want=(100, None))
    expect(f, "recipient: unknown field -> 100", "POST", "me/messages",
           send_body({"text": "x"}, recipient={"phone": "+1555"}), want=(100, None))
    ans = expect(f, "recipient: user_ref accepted", "POST", "me/messages",
                 send_body({"text": "x"}, recipient={"user_ref": "ref-1"}))
    tap(isinstance(ans, dict) and "recipient_id" not in ans and "message_id" in ans,
        "recipient: user_ref answer has no recipient_id", str(ans))
    for rk in ("post_id", "comment_id"):
        expect(f, "recipient: %s accepted" % rk, "POST", "me/messages",
               send_body({"text": "x"}, recipient={rk: "123_456"}))
    expect(f, "message and sender_action together -> 100", "POST", "me/messages",
           send_body({"text": "x"}, sender_action="typing_on"), want=(100, None))
    expect(f, "neither message nor sender_action -> 100", "POST", "me/messages", send_body(),
           want=(100, None))
    ans = expect(f, "sender_action: typing_on", "POST", "me/messages",
                 {"recipient": {"id": PSID}, "sender_action": "typing_on"})
    tap(ans == {"recipient_id": PSID}, "sender_action: answer is only recipient_id", str(ans))
    expect(f, "sender_action: unknown -> 100", "POST", "me/messages",
           {"recipient": {"id": PSID}, "sender_action": "dance"}, want=(100, None))
    expect(f, "messaging_type: missing -> 100", "POST", "me/messages",
           {"recipient": {"id": PSID}, "message": {"text": "x"}}, want=(100, None))
    expect(f, "messaging_type: unknown -> 100", "POST", "me/messages",
           send_body({"text": "x"}, messaging_type="NON_PROMOTIONAL_SUBSCRIPTION"),
           want=(100, None))
    expect(f, "MESSAGE_TAG without tag -> 100", "POST", "me/messages",
           send_body({"text": "x"}, messaging_type="MESSAGE_TAG"), want=(100, None))
    for tag in ("CONFIRMED_EVENT_UPDATE", "ACCOUNT_UPDATE", "POST_PURCHASE_UPDATE"):
        expect(f, "MESSAGE_TAG retired tag %s -> 100" % tag, "POST", "me/messages",
               send_body({"text": "x"}, messaging_type="MESSAGE_TAG", tag=tag),
               want=(100, None))
    expect(f, "MESSAGE_TAG HUMAN_AGENT accepted", "POST", "me/messages",
           send_body({"text": "x"}, messaging_type="MESSAGE_TAG", tag="HUMAN_AGENT"))
    expect(f, "tag without MESSAGE_TAG -> 100", "POST", "me/messages",
           send_body({"text": "x"}, tag="HUMAN_AGENT"), want=(100, None))
    expect(f, "notification_type: unknown -> 100", "POST", "me/messages",
           send_body({"text": "x"}, notification_type="LOUD"), want=(100, None))
    expect(f, "notification_type and persona_id accepted", "POST", "me/messages",
           send_body({"text": "x"}, notification_type="SILENT_PUSH", persona_id="777"))

    # ---- message contents (docs/facebook.md "Calls", "Quick replies", "Templates") ----
    expect(f, "message: text and attachment -> 100", "POST", "me/messages",
           send_body({"text": "x", "sticker_id": 369239263222822}), want=(100, None))
    expect(f, "message: empty -> 100", "POST", "me/messages", send_body({}), want=(100, None))
    expect(f, "message: sticker_id accepted", "POST", "me/messages",
           send_body({"sticker_id": 369239263222822}))
    expect(f, "text: 2000 characters (multi-byte) accepted", "POST", "me/messages",
           send_body({"text": text(2000, "é")}))
    expect(f, "text: 2001 characters -> 100", "POST", "me/messages",
           send_body({"text": text(2001)}), want=(100, None))
    expect(f, "metadata: 999 characters accepted", "POST", "me/messages",
           send_body({"text": "x", "metadata": text(999)}))
    expect(f, "metadata: 1000 characters -> 100", "POST", "me/messages",
           send_body({"text": "x", "metadata": text(1000)}), want=(100, None))
    expect(f, "reply_to.mid accepted", "POST", "me/messages",
           send_body({"text": "x", "reply_to": {"mid": "m_abc"}}))
    qr = {"content_type": "text", "title": "Yes", "payload": "YES"}
    expect(f, "quick replies: 13 accepted", "POST", "me/messages",
           send_body({"text": "x", "quick_replies": [qr] * 13}))
    expect(f, "quick replies: 14 -> 100", "POST", "me/messages",
           send_body({"text": "x", "quick_replies": [qr] * 14}), want=(100, None))
    expect(f, "quick replies: title of 21 -> 100", "POST", "me/messages",
           send_body({"text": "x", "quick_replies": [dict(qr, title=text(21))]}),
           want=(100, None))
    expect(f, "quick replies: payload of 1001 -> 100", "POST", "me/messages",
           send_body({"text": "x", "quick_replies": [dict(qr, payload=text(1001))]}),
           want=(100, None))
    expect(f, "quick replies: user_email and user_phone_number accepted", "POST",
           "me/messages", send_body({"text": "x", "quick_replies": [
               {"content_type": "user_email"}, {"content_type": "user_phone_number"}]}))
    expect(f, "quick replies: location (retired) -> 100", "POST", "me/messages",
           send_body({"text": "x", "quick_replies": [{"content_type": "location"}]}),
           want=(100, None))

    def tmpl(payload):
        return send_body({"attachment": {"type": "template", "payload": payload}})

    pb = {"type": "postback", "title": "Go", "payload": "GO"}
    expect(f, "button template: 3 buttons accepted", "POST", "me/messages",
           tmpl({"template_type": "button", "text": "Pick", "buttons": [pb] * 3}))
    expect(f, "button template: 4 buttons -> 100", "POST", "me/messages",
           tmpl({"template_type": "button", "text": "Pick", "buttons": [pb] * 4}),
           want=(100, None))
    expect(f, "button template: text of 641 -> 100", "POST", "me/messages",
           tmpl({"template_type": "button", "text": text(641), "buttons": [pb]}),
           want=(100, None))
    expect(f, "button: title of 21 -> 100", "POST", "me/messages",
           tmpl({"template_type": "button", "text": "t", "buttons": [dict(pb, title=text(21))]}),
           want=(100, None))
    expect(f, "button: phone_number without + -> 100", "POST", "me/messages",
           tmpl({"template_type": "button", "text": "t", "buttons": [
               {"type": "phone_number", "title": "Call", "payload": "0555123"}]}),
           want=(100, None))
    expect(f, "button: account_link over http -> 100", "POST", "me/messages",
           tmpl({"template_type": "button", "text": "t", "buttons": [
               {"type": "account_link", "url": "http://example.org/login"}]}),
           want=(100, None))
    expect(f, "buttons: web_url, phone_number, account_link accepted", "POST", "me/messages",
           tmpl({"template_type": "button", "text": "t", "buttons": [
               {"type": "web_url", "title": "Site", "url": "https://example.org",
                "webview_height_ratio": "tall"},
               {"type": "phone_number", "title": "Call", "payload": "+15551234567"},
               {"type": "account_link", "url": "https://example.org/login"}]}))
    card = {"title": "Card", "subtitle": "sub", "image_url": "https://example.org/a.jpg",
            "buttons": [pb]}
    expect(f, "generic template: 10 cards accepted", "POST", "me/messages",
           tmpl({"template_type": "generic", "elements": [card] * 10}))
    expect(f, "generic template: 11 cards -> 100", "POST", "me/messages",
           tmpl({"template_type": "generic", "elements": [card] * 11}), want=(100, None))
    expect(f, "generic template: title of 81 -> 100", "POST", "me/messages",
           tmpl({"template_type": "generic", "elements": [dict(card, title=text(81))]}),
           want=(100, None))
    expect(f, "generic template: title alone -> 100", "POST", "me/messages",
           tmpl({"template_type": "generic", "elements": [{"title": "only"}]}),
           want=(100, None))
    expect(f, "generic template: 4 buttons on a card -> 100", "POST", "me/messages",
           tmpl({"template_type": "generic", "elements": [dict(card, buttons=[pb] * 4)]}),
           want=(100, None))
    expect(f, "media template: facebook URL accepted", "POST", "me/messages",
           tmpl({"template_type": "media", "elements": [
               {"media_type": "image", "url": "https://www.facebook.com/photo.php?fbid=1"}]}))
    expect(f, "media template: other URL -> 100", "POST", "me/messages",
           tmpl({"template_type": "media", "elements": [
               {"media_type": "image", "url": "https://example.org/a.jpg"}]}),
           want=(100, None))
    expect(f, "media template: two elements -> 100", "POST", "me/messages",
           tmpl({"template_type": "media", "elements": [
               {"media_type": "image", "url": "https://www.facebook.com/a"}] * 2}),
           want=(100, None))
    expect(f, "template: unknown type -> 100", "POST", "me/messages",
           tmpl({"template_type": "receipt_v9"}), want=(100, None))

    # ---- attachments ----
    expect(f, "attachment by url accepted", "POST", "me/messages",
           send_body({"attachment": {"type": "image", "payload": {
               "url": "https://example.org/cat.jpg", "is_reusable": True}}}))
    ans = expect(f, "upload: attachment_id returned", "POST", "me/message_attachments",
                 {"message": {"attachment": {"type": "image", "payload": {
                     "url": "https://example.org/cat.jpg", "is_reusable": True}}}})
    aid = ans.get("attachment_id") if isinstance(ans, dict) else None
    tap(isinstance(aid, str) and aid.isdigit(), "upload: attachment_id is a numeric string")
    expect(f, "attachment_id from upload accepted", "POST", "me/messages",
           send_body({"attachment": {"type": "image", "payload": {"attachment_id": aid}}}))
    expect(f, "attachment_id never issued -> 100", "POST", "me/messages",
           send_body({"attachment": {"type": "image", "payload": {"attachment_id": "42"}}}),
           want=(100, 2018047))
    expect(f, "upload: without is_reusable -> 100", "POST", "me/message_attachments",
           {"message": {"attachment": {"type": "image", "payload": {
               "url": "https://example.org/cat.jpg"}}}}, want=(100, None))
    expect(f, "upload: attachment_id instead of url -> 100", "POST", "me/message_attachments",
           {"message": {"attachment": {"type": "image", "payload": {"attachment_id": aid,
                                                                     "is_reusable": True}}}},
           want=(100, None))

    # ---- messaging window ----
    f.ctl("POST", "user", {"psid": "5550002", "last_message_age_s": 2 * 86400})
    expect(f, "window: RESPONSE after 24 h -> 10/2018278", "POST", "me/messages",
           send_body({"text": "x"}, recipient={"id": "5550002"}), want=(10, 2018278))
    expect(f, "window: HUMAN_AGENT within 7 days accepted", "POST", "me/messages",
           send_body({"text": "x"}, recipient={"id": "5550002"}, messaging_type="MESSAGE_TAG",
                     tag="HUMAN_AGENT"))
    f.ctl("POST", "user", {"psid": "5550002", "last_message_age_s": 8 * 86400})
    expect(f, "window: HUMAN_AGENT after 7 days -> 10/2018278", "POST", "me/messages",
           send_body({"text": "x"}, recipient={"id": "5550002"}, messaging_type="MESSAGE_TAG",
                     tag="HUMAN_AGENT"), want=(10, 2018278))

    # ---- profile ----
    ans = expect(f, "profile: default fields", "GET", PSID,
                 query={"fields": "first_name,last_name,profile_pic"})
    tap(isinstance(ans, dict) and ans.get("first_name") == "Zoé" and "profile_pic" in ans,
        "profile: names from the config", str(ans))
    expect(f, "profile: locale without permission -> 100/2018247", "GET", PSID,
           query={"fields": "first_name,locale"}, want=(100, 2018247))
    expect(f, "profile: locale with permission accepted", "GET", PSID, token=TOKEN2,
           query={"fields": "first_name,locale"})
    expect(f, "profile: unknown field -> 100", "GET", PSID, query={"fields": "shoe_size"},
           want=(100, None))

    # ---- thread control ----
    ans = expect(f, "thread_owner: default is our app", "GET", PAGE + "/thread_owner",
                 query={"recipient": PSID})
    tap(isinstance(ans, dict) and ans["data"][0]["thread_owner"]["app_id"] == APP,
        "thread_owner: answer shape", str(ans))
    expect(f, "pass_thread_control to inbox", "POST", "me/pass_thread_control",
           {"recipient": {"id": PSID}, "target_app_id": INBOX, "metadata": "human"})
    ans = expect(f, "thread_owner after pass", "GET", PAGE + "/thread_owner",
                 query={"recipient": PSID})
    tap(isinstance(ans, dict) and ans["data"][0]["thread_owner"]["app_id"] == INBOX,
        "thread_owner: inbox owns the thread", str(ans))
    expect(f, "send while not owner -> 10", "POST", "me/messages", send_body({"text": "x"}),
           want=(10, 2018300))
    expect(f, "pass while not owner -> 10", "POST", "me/pass_thread_control",
           {"recipient": {"id": PSID}, "target_app_id": APP}, want=(10, 2018300))
    expect(f, "request_thread_control", "POST", "me/request_thread_control",
           {"recipient": {"id": PSID}, "metadata": "please"})
    expect(f, "take_thread_control", "POST", "me/take_thread_control",
           {"recipient": {"id": PSID}, "metadata": "back"})
    expect(f, "extend_thread_control", "POST", "me/extend_thread_control",
           {"recipient": {"id": PSID}, "duration": 3600})
    expect(f, "extend_thread_control: bad duration -> 100", "POST", "me/extend_thread_control",
           {"recipient": {"id": PSID}, "duration": "soon"}, want=(100, None))
    expect(f, "pass_thread_control: target 'inbox' (not an id) -> 100", "POST",
           "me/pass_thread_control", {"recipient": {"id": PSID}, "target_app_id": "inbox"},
           want=(100, None))
    expect(f, "release_thread_control", "POST", "me/release_thread_control",
           {"recipient": {"id": PSID}})

    # ---- messenger profile ----
    expect(f, "messenger_profile: persistent_menu without get_started -> 100", "POST",
           "me/messenger_profile", {"persistent_menu": [{"locale": "default",
                                                          "call_to_actions": [pb]}]},
           want=(100, 2018145))
    expect(f, "messenger_profile: greeting of 161 -> 100", "POST", "me/messenger_profile",
           {"greeting": [{"locale": "default", "text": text(161)}]}, want=(100, None))
    expect(f, "messenger_profile: greeting without default locale -> 100", "POST",
           "me/messenger_profile", {"greeting": [{"locale": "fr_FR", "text": "Salut"}]},
           want=(100, None))
    expect(f, "messenger_profile: 5 ice breakers -> 100", "POST", "me/messenger_profile",
           {"ice_breakers": [{"question": "q?", "payload": "P"}] * 5}, want=(100, None))
    expect(f, "messenger_profile: 21 menu items -> 100", "POST", "me/messenger_profile",
           {"get_started": {"payload": "GS"}, "persistent_menu": [
               {"locale": "default", "call_to_actions": [pb] * 21}]}, want=(100, None))
    expect(f, "messenger_profile: unknown field -> 100", "POST", "me/messenger_profile",
           {"home_url": "https://example.org"}, want=(100, None))
    ans = expect(f, "messenger_profile: full profile accepted", "POST", "me/messenger_profile",
                 {"get_started": {"payload": "GS"},
                  "greeting": [{"locale": "default", "text": "Hi {{user_first_name}}!"}],
                  "ice_breakers": [{"question": "What can you do?", "payload": "HELP"}] * 4,
                  "persistent_menu": [{"locale": "default", "call_to_actions": [pb] * 20}],
                  "whitelisted_domains": ["https://example.org"]})
    tap(ans == {"result": "success"}, "messenger_profile: answer is result success", str(ans))
    expect(f, "messenger_profile: delete get_started under a menu -> 100", "DELETE",
           "me/messenger_profile", {"fields": ["get_started"]}, want=(100, 2018145))
    expect(f, "messenger_profile: delete menu and get_started", "DELETE",
           "me/messenger_profile", {"fields": ["persistent_menu", "get_started"]})

    # ---- subscriptions ----
    app_token = APP + "|" + SECRET
    cb = f.base + "/_fake/callback?token=vt-123"
    sub = {"object": "page", "callback_url": cb, "verify_token": "vt-123",
           "fields": "messages,messaging_postbacks"}
    expect(f, "subscriptions: page token -> 15", "POST", APP + "/subscriptions", sub,
           want=(15, None))
    expect(f, "subscriptions: callback not echoing -> 2200", "POST", APP + "/subscriptions",
           dict(sub, verify_token="wrong"), token=app_token, want=(2200, None))
    expect(f, "subscriptions: callback unreachable -> 2200", "POST", APP + "/subscriptions",
           dict(sub, callback_url="http://127.0.0.1:9/none"), token=app_token,
           want=(2200, None))
    expect(f, "subscriptions: verified callback accepted", "POST", APP + "/subscriptions",
           sub, token=app_token)
    ans = expect(f, "subscriptions: GET lists it", "GET", APP + "/subscriptions",
                 token=app_token)
    tap(isinstance(ans, dict) and len(ans["data"]) == 1 and ans["data"][0]["active"] is True
        and ans["data"][0]["callback_url"] == cb, "subscriptions: active with the callback",
        str(ans))
    expect(f, "subscribed_apps: unknown field -> 100", "POST", PAGE + "/subscribed_apps",
           query={"subscribed_fields": "messages,telepathy"}, want=(100, None))
    expect(f, "subscribed_apps: accepted", "POST", PAGE + "/subscribed_apps",
           query={"subscribed_fields": "messages,messaging_postbacks,standby"})
    ans = expect(f, "subscribed_apps: GET", "GET", PAGE + "/subscribed_apps")
    tap(isinstance(ans, dict) and ans["data"][0]["id"] == APP and
        "standby" in ans["data"][0]["subscribed_fields"], "subscribed_apps: lists our app",
        str(ans))
    expect(f, "unknown edge -> 100/33", "POST", "me/feed", {"message": "x"}, want=(100, 33))

    # ---- failure injection ----
    modes = [("500", 500, None), ("unknown", 500, (1, None)), ("service", 503, (2, None)),
             ("rate", 400, (613, None)), ("rate_80006", 400, (80006, None)),
             ("permanent", 400, (551, 1545041)), ("window", 400, (10, 2018278)),
             ("token", 400, (190, 460)), ("restricted", 400, (10, 1893063))]
    for mode, status, want in modes:
        f.ctl("POST", "fail", {"mode": mode, "count": 1})
        st, ans, _ = f.call("POST", "me/messages", send_body({"text": "x"}))
        ok = st == status and (code_of(ans) == want if want else not isinstance(ans, dict))
        tap(ok, "fail %s: HTTP %d%s" % (mode, status, " code %s/%s" % want if want else
                                       " without a Graph error"), "%s %s" % (st, ans))
    st, ans, _ = f.call("POST", "me/messages", send_body({"text": "x"}))
    tap(st == 200, "fail: count 1 is used once", str(ans))
    f.ctl("POST", "fail", {"mode": "rate", "count": -1, "path": "/messages"})
    a = [f.call("POST", "me/messages", send_body({"text": "x"}))[0] for _ in range(3)]
    b = f.call("GET", PSID, query={"fields": "first_name"})[0]
    tap(a == [400, 400, 400] and b == 200, "fail: count -1 lasts, path filter applies",
        "%s %s" % (a, b))
    f.ctl("POST", "clear_fail")
    tap(f.call("POST", "me/messages", send_body({"text": "x"}))[0] == 200,
        "fail: clear_fail ends it")
    f.ctl("POST", "fail", {"mode": "html", "count": 1})
    st, ans, _ = f.call("POST", "me/messages", send_body({"text": "x"}))
    tap(st == 200 and isinstance(ans, str), "fail html: 200 that is not JSON")
    f.ctl("POST", "fail", {"mode": "close", "count": 1})
    try:
        f.call("POST", "me/messages", send_body({"text": "x"}))
        tap(False, "fail close: connection closed without an answer")
    except (urllib.error.URLError, ConnectionError, OSError, Exception) as e:  # noqa: BLE001
        tap("RemoteDisconnected" in repr(e) or isinstance(e, (ConnectionError,
                                                             urllib.error.URLError)),
            "fail close: connection closed without an answer", repr(e))
    f.ctl("POST", "fail", {"mode": "hang", "count": 1, "seconds": 30})
    t0 = time.time()
    try:
        f.call("POST", "me/messages", send_body({"text": "x"}), timeout=1)
        tap(False, "fail hang: no answer within the client's timeout")
    except (socket.timeout, TimeoutError, urllib.error.URLError, OSError):
        tap(0.9 <= time.time() - t0 < 5, "fail hang: no answer within the client's timeout")
    # clear_fail releases the held request at once
    f.ctl("POST", "fail", {"mode": "hang", "count": 1, "seconds": 30})
    box = {}

    def held():
        t = time.time()
        try:
            f.call("POST", "me/messages", send_body({"text": "x"}), timeout=20)
        except Exception:  # noqa: BLE001
            pass
        box["t"] = time.time() - t
    th = threading.Thread(target=held)
    th.start()
    time.sleep(0.5)
    f.ctl("POST", "clear_fail")
    th.join(20)
    tap(box.get("t", 99) < 5, "fail hang: released by clear_fail", str(box))
    r = None
    try:
        f.ctl("POST", "fail", {"mode": "sideways"})
    except urllib.error.HTTPError as e:
        r = e.code
    tap(r == 400, "fail: unknown mode refused")

    # ---- usage headers ----
    f.ctl("POST", "usage", {"app": {"call_count": 12, "total_time": 3, "total_cputime": 2},
                            "buc": {PAGE: [{"type": "pages", "call_count": 50,
                                            "estimated_time_to_regain_access": 0}]}})
    _, _, hdr = f.call("POST", "me/messages", send_body({"text": "x"}))
    hl = {k.lower(): v for k, v in hdr.items()}
    tap(json.loads(hl.get("x-app-usage", "{}")).get("call_count") == 12 and
        "x-business-use-case-usage" in hl, "usage: headers sent as set", str(hl))
    f.ctl("POST", "usage", {})

    # ---- recording ----
    calls = f.ctl("GET", "calls")["calls"]
    blob = json.dumps(calls)
    tap(len(calls) > 50 and TOKEN not in blob and SECRET not in blob,
        "record: every call kept, no token or secret in the record")
    c = calls[-1]
    tap(all(k in c for k in ("method", "path", "query", "headers", "body", "status", "answer",
                             "time", "bearer", "page")) and
        all(k.lower() != "authorization" for k in c["headers"]),
        "record: fields kept, Authorization dropped", str(c)[:300])
    sub_calls = f.ctl("GET", "calls?path=/subscriptions")["calls"]
    tap(sub_calls and all("/subscriptions" in x["path"] for x in sub_calls) and
        all(x["body"].get("verify_token") in (None, "[redacted]") for x in sub_calls
            if isinstance(x["body"], dict)), "record: path filter; verify_token redacted")
    f.ctl("POST", "reset")
    tap(f.ctl("GET", "calls")["calls"] == [], "reset: calls cleared")
    ans = f.call("GET", PAGE + "/thread_owner", query={"recipient": PSID})[1]
    tap(ans["data"][0]["thread_owner"]["app_id"] == APP, "reset: thread owners back to default")

    # ---- stop and restart on the same port ----
    port = f.port
    f.stop()
    refused = False
    try:
        f.call("POST", "me/messages", send_body({"text": "x"}), timeout=2)
    except (urllib.error.URLError, ConnectionError):
        refused = True
    tap(refused, "stopped: connections refused")
    f.start(port)
    tap(f.port == port and f.call("POST", "me/messages", send_body({"text": "x"}))[0] == 200,
        "restarted on the same port (--port)")


def run_rate(config):
    cfg = dict(config, max_calls_per_second=5)
    f = Fake(cfg)
    try:
        codes = [f.call("POST", "me/messages", send_body({"text": "x"}))[0] for _ in range(8)]
        rate = f.ctl("GET", "rate")["pages"].get(PAGE, {})
        tap(codes[:5] == [200] * 5 and 400 in codes[5:], "rate: over max_calls_per_second "
            "-> 613", str(codes))
        tap(rate.get("max_per_second", 0) >= 6 and rate.get("calls") == 8,
            "rate: busiest 1 s window recorded", str(rate))
        v = f.ctl("GET", "violations")["violations"]
        tap(any(x["violation"] == "rate" for x in v), "rate: recorded as a violation")
        time.sleep(1.1)
        tap(f.call("POST", "me/messages", send_body({"text": "x"}))[0] == 200,
            "rate: window slides")
    finally:
        f.stop()


if __name__ == "__main__":
    sys.exit(main())
