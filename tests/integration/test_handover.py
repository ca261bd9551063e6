#!/usr/bin/env python3
"""Integration tests of routing and Conversation Routing, through cgi-fcgi.

Many pages on one app: a body posted to one connector's path carries entries of several
pages; each goes to its own connector, entries of another app's page are dropped. Handover:
a story passes the thread to the Page Inbox; the connector stays silent on standby until the
thread comes back by a pass to this app or by an event on `messaging`; a request for the
thread is honoured or ignored per connector. The fake Graph API keeps thread owners and
refuses sends from an app that does not own the thread, as Facebook does."""
import os
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))
import harness  # noqa: E402
from harness import Tap, entry, message_event, postback_event, uniq, webhook  # noqa: E402
from workerenv import WorkerEnv, send_calls_to, wait_for  # noqa: E402

INBOX = "263902037430900"
OTHER_APP = "555000111222333"

STORIES = """stories = (
  { name = "greetings"; triggers = ( "hello" ); answers = ( { text = "Hello!"; } ); },
  { name = "human"; triggers = ( "human", "agent" ); handover = "inbox";
    answers = ( { text = "A person from our team will answer you here."; } ); },
  { name = "back"; payloads = ( "BACK_TO_BOT" ); take_control = true;
    answers = ( { text = "The bot is back."; } ); },
  { name = "unknown"; fallback = true; answers = ( { text = "Sorry?"; } ); } );
"""


class HandoverEnv(WorkerEnv):
    """beta honours request_thread_control; alpha and gamma ignore it (the default)."""

    def write_config(self, extra=""):
        super().write_config(extra)
        with open(self.conf_path) as f:
            text = f.read()
        marker = 'id = "beta";'
        text = text.replace(marker, marker + ' on_request_thread_control = "honour";')
        with open(self.conf_path, "w") as f:
            f.write(text)


def texts_to(env, psid):
    return env.fake.texts(psid)


def control_calls(env, kind, psid):
    out = []
    for c in env.fake.calls("/" + kind):
        b = c.get("body") or {}
        if c.get("method") == "POST" and (b.get("recipient") or {}).get("id") == psid:
            out.append(c)
    return out


def pass_event(page, psid, new_owner, prev_owner, metadata="back to you"):
    return {"sender": {"id": psid}, "recipient": {"id": page}, "timestamp": harness.now_ms(),
            "pass_thread_control": {"previous_owner_app_id": prev_owner,
                                    "new_owner_app_id": new_owner, "metadata": metadata}}


def request_event(page, psid, requester):
    return {"sender": {"id": psid}, "recipient": {"id": page}, "timestamp": harness.now_ms(),
            "request_thread_control": {"requested_owner_app_id": requester,
                                       "metadata": "may I?"}}


def owner_in_store(env, c, psid):
    with env.db() as db:
        row = db.execute("SELECT value FROM conv WHERE page_id = ? AND user_id = ? AND "
                         "name = 'owner'", (c.page_id, psid)).fetchone()
    return row[0] if row else None


def test_routing_many_pages(t, env):
    c1, c2, c3 = env.c1, env.c2, env.c3
    u1, u2, u3 = (harness.rand_digits(16) for _ in range(3))
    body = webhook(entry(c1.page_id, [message_event(c1.page_id, u1, "hello")]),
                   entry(c2.page_id, [message_event(c2.page_id, u2, "hello")]),
                   entry(c3.page_id, [message_event(c3.page_id, u3, "hello")]))
    r = env.post(c1, body)
    t.eq(r.status, 200, "routing: a body with entries of three pages is accepted")
    env.settled()
    with env.db() as db:
        rows = db.execute("SELECT connector, user_id FROM events WHERE user_id IN (?,?,?)",
                          (u1, u2, u3)).fetchall()
    t.eq(sorted(tuple(r) for r in rows), sorted([("alpha", u1), ("beta", u2)]),
         "routing: each page's entry goes to its own connector; another app's page is dropped")
    wait_for(lambda: texts_to(env, u1) and texts_to(env, u2), timeout=15)
    t.eq((texts_to(env, u1), texts_to(env, u2), texts_to(env, u3)),
         (["Hello!"], ["Hello!"], []),
         "routing: both pages of the app answered, the other app's page not")
    # Each answer went with its own page's token (the fake knows which page a token is).
    pages = set()
    for c in env.fake.sends():
        rid = ((c.get("body") or {}).get("recipient") or {}).get("id")
        if rid in (u1, u2):
            pages.add((rid, c.get("page_id") or c.get("page")))
    t.ok(len(pages) == 2 and all(p[1] for p in pages) and
         dict(pages) == {u1: c1.page_id, u2: c2.page_id},
         "routing: each answer is sent with its page's token", pages)


def test_inbox_then_pass_back(t, env):
    c, psid = env.c1, harness.rand_digits(16)
    env.post(c, webhook(entry(c.page_id, [message_event(c.page_id, psid, "I want a human")])))
    ok = wait_for(lambda: control_calls(env, "pass_thread_control", psid))
    t.ok(ok, "handover: the story passes the thread")
    calls = control_calls(env, "pass_thread_control", psid)
    t.eq([str(x["body"].get("target_app_id")) for x in calls], [INBOX],
         "handover: ...to the Page Inbox, after its answer")
    t.eq(texts_to(env, psid), ["A person from our team will answer you here."],
         "handover: the story's answer went before the pass")
    # The owner is recorded once the pass call has returned: the fake sees the call first.
    wait_for(lambda: owner_in_store(env, c, psid) == INBOX)
    t.eq(owner_in_store(env, c, psid), INBOX, "handover: the store knows the inbox owns it")
    # While the inbox owns the thread, the user's messages reach this app on standby only.
    env.post(c, webhook(entry(c.page_id, [message_event(c.page_id, psid, "hello?")],
                              standby=True)))
    time.sleep(1.5)
    env.msgrctl("drain")
    t.eq(texts_to(env, psid), ["A person from our team will answer you here."],
         "handover: silent on standby")
    env.settled()
    with env.db() as db:
        n = db.execute("SELECT count(*) FROM events WHERE user_id = ? AND standby = 1",
                       (psid,)).fetchone()[0]
    t.eq(n, 1, "handover: ...and the standby event is recorded")
    # The person is done: the inbox passes the thread back to this app.
    env.fake.ctl("POST", "owner", {"page_id": c.page_id, "psid": psid, "app_id": c.app_id})
    env.post(c, webhook(entry(c.page_id, [pass_event(c.page_id, psid, c.app_id, INBOX)])))
    wait_for(lambda: owner_in_store(env, c, psid) == "", timeout=10)
    t.eq(owner_in_store(env, c, psid), "", "handover: a pass to this app gives control back")
    env.post(c, webhook(entry(c.page_id, [message_event(c.page_id, psid, "hello again")])))
    ok = wait_for(lambda: len(texts_to(env, psid)) == 2)
    t.eq(texts_to(env, psid)[-1:], ["Hello!"], "handover: answers again after the pass back")


def test_inbox_then_messaging(t, env):
    c, psid = env.c1, harness.rand_digits(16)
    env.post(c, webhook(entry(c.page_id, [message_event(c.page_id, psid, "agent please")])))
    wait_for(lambda: control_calls(env, "pass_thread_control", psid))
    env.post(c, webhook(entry(c.page_id, [message_event(c.page_id, psid, "hello?")],
                              standby=True)))
    time.sleep(1.0)
    env.msgrctl("drain")
    t.eq(len(texts_to(env, psid)), 1, "handover: silent while the inbox owns the thread")
    # A day of silence: Facebook released the idle thread, the next message comes on messaging.
    env.fake.ctl("POST", "owner", {"page_id": c.page_id, "psid": psid, "app_id": None})
    env.post(c, webhook(entry(c.page_id, [message_event(c.page_id, psid, "hello there")])))
    wait_for(lambda: len(texts_to(env, psid)) == 2)
    t.eq(texts_to(env, psid)[-1:], ["Hello!"],
         "handover: an event on messaging gives control back, and it is answered")
    t.eq(owner_in_store(env, c, psid), "", "handover: ...and the store says so")


def test_take_back_on_payload(t, env):
    c, psid = env.c2, harness.rand_digits(16)
    env.fake.ctl("POST", "owner", {"page_id": c.page_id, "psid": psid, "app_id": INBOX})
    env.post(c, webhook(entry(c.page_id, [postback_event(c.page_id, psid, "BACK_TO_BOT")])))
    ok = wait_for(lambda: texts_to(env, psid))
    t.ok(ok and control_calls(env, "take_thread_control", psid),
         "handover: a story takes control back on a payload")
    t.eq(texts_to(env, psid), ["The bot is back."], "handover: ...then answers")


def test_request_thread_control(t, env):
    # beta honours: the thread goes to the app that asks.
    c, psid = env.c2, harness.rand_digits(16)
    env.post(c, webhook(entry(c.page_id, [request_event(c.page_id, psid, OTHER_APP)])))
    ok = wait_for(lambda: control_calls(env, "pass_thread_control", psid))
    t.ok(ok, "request_thread_control honoured: the thread is passed")
    calls = control_calls(env, "pass_thread_control", psid)
    t.eq([str(x["body"].get("target_app_id")) for x in calls], [OTHER_APP],
         "request_thread_control honoured: ...to the app that asked")
    t.eq(owner_in_store(env, c, psid), OTHER_APP, "request_thread_control: owner recorded")
    # alpha ignores.
    c, psid = env.c1, harness.rand_digits(16)
    env.post(c, webhook(entry(c.page_id, [request_event(c.page_id, psid, OTHER_APP)])))
    wait_for(lambda: env.jobs("user_id = '%s' AND state != 0" % psid))
    env.msgrctl("drain")
    t.eq(control_calls(env, "pass_thread_control", psid), [],
         "request_thread_control ignored: no pass")
    rows = env.jobs("user_id = '%s'" % psid)
    t.eq([r[1] for r in rows], [1], "request_thread_control ignored: recorded as done")


def test_person_in_status(t, env):
    c, psid = env.c3, harness.rand_digits(16)
    env.post(c, webhook(entry(c.page_id, [message_event(c.page_id, psid, "a human please")])))
    wait_for(lambda: control_calls(env, "pass_thread_control", psid))
    echo = {"sender": {"id": c.page_id}, "recipient": {"id": psid},
            "timestamp": harness.now_ms(),
            "message": {"mid": uniq("m_echo"), "is_echo": True, "app_id": int(INBOX),
                        "text": "Hi, Sam here, how can I help?"}}
    env.post(c, webhook(entry(c.page_id, [echo])))
    wait_for(lambda: env.jobs("user_id = '%s' AND kind = 1 AND state != 0" % psid))
    rc, out, _ = env.msgrctl("status")
    line = [l for l in out.splitlines() if psid in l]
    t.ok(rc == 0 and line and "Page Inbox" in line[0] and "person" in line[0],
         "status: shows the conversation a person is handling", out)


def test_thread_commands(t, env):
    c, psid = env.c1, harness.rand_digits(16)
    rc, out, err = env.msgrctl("thread", "pass", "--connector", c.id, "--to", psid,
                               "--target", "inbox", "--metadata", "over to you")
    t.ok(rc == 0, "msgrctl thread pass: exit 0", err)
    rc, out, err = env.msgrctl("thread", "owner", "--connector", c.id, "--to", psid)
    t.ok(rc == 0 and out.startswith(INBOX) and "Page Inbox" in out,
         "msgrctl thread owner: the Page Inbox", out + err)
    rc, out, err = env.msgrctl("thread", "pass", "--connector", c.id, "--to", psid,
                               "--target", "inbox")
    t.ok(rc == 1 and "2018300" in err, "msgrctl thread pass: Facebook's refusal shown", err)
    rc, out, err = env.msgrctl("thread", "take", "--connector", c.id, "--to", psid)
    t.ok(rc == 0, "msgrctl thread take: exit 0", err)
    t.eq(owner_in_store(env, c, psid), "", "msgrctl thread take: the store follows")
    rc, out, err = env.msgrctl("thread", "extend", "--connector", c.id, "--to", psid,
                               "--duration", "3600")
    t.ok(rc == 0, "msgrctl thread extend: exit 0", err)
    rc, out, err = env.msgrctl("thread", "request", "--connector", c.id, "--to", psid)
    t.ok(rc == 0, "msgrctl thread request: exit 0", err)
    rc, out, err = env.msgrctl("thread", "release", "--connector", c.id, "--to", psid)
    t.ok(rc == 0, "msgrctl thread release: exit 0", err)
    rc, out, err = env.msgrctl("thread", "owner", "--connector", c.id, "--to", "12ab")
    t.ok(rc == 1 and "user id" in err, "msgrctl thread: a --to that is not an id is refused", err)
    rc, out, err = env.msgrctl("thread", "owner", "--connector", c.id, "--to", "1" * 65)
    t.ok(rc == 1 and "user id" in err, "msgrctl thread: an id over 64 digits is refused", err)
    rc, out, err = env.msgrctl("thread", "dance", "--connector", c.id, "--to", psid)
    t.ok(rc == 1 and "unknown action" in err, "msgrctl thread: unknown action refused", err)
    secrets = [x.call_token for x in env.connectors] + [x.secret for x in env.connectors]
    t.ok(not any(s in out + err for s in secrets), "msgrctl thread: no secret printed")


def main():
    t = Tap()
    env = HandoverEnv(nproc=2, stories=STORIES)
    try:
        for fn in (test_routing_many_pages, test_inbox_then_pass_back, test_inbox_then_messaging,
                   test_take_back_on_payload, test_request_thread_control,
                   test_person_in_status, test_thread_commands):
            try:
                fn(t, env)
            except Exception as e:
                t.crash(fn.__name__, e)
        codes = env.stop()
        t.ok(all(v == 0 for v in codes.values()), "handover: responders exit 0 on SIGTERM", codes)
        t.eq(env.sanitizer_errors(), [], "handover: no sanitizer report")
        t.eq(env.secrets_in_log(), [], "handover: no secret in the logs")
    finally:
        env.cleanup()
    return t.done()


if __name__ == "__main__":
    sys.exit(main())
