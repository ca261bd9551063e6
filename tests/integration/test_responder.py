#!/usr/bin/env python3
"""test_responder.py — every row of docs/responder.md's HTTP table, routing, durability and process
behaviour, against a pool of responder processes sharing one FastCGI socket, driven with the
real `cgi-fcgi` command. Prints TAP lines; tests/run counts them."""
import concurrent.futures
import json
import os
import re
import signal
import sqlite3
import sys
import threading
import time
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h  # noqa: E402

tap = h.Tap()


def q(**kw):
    return urllib.parse.urlencode({k.replace("_", ".", 1): v for k, v in kw.items()})


def conn_of(row):
    return row.get("connector", row.get("connector_id"))


def mids_of(rows):
    out = []
    for r in rows:
        try:
            o = json.loads(r["raw"])
        except (TypeError, ValueError):
            continue
        for k in ("message", "postback"):
            if isinstance(o.get(k), dict) and "mid" in o[k]:
                out.append(o[k]["mid"])
    return out


def test_verification(e):
    c = e.c1
    ch = h.rand_digits(10)
    r = e.verify(c, q(hub_mode="subscribe", hub_verify_token=c.webhook_token, hub_challenge=ch))
    tap.eq(r.status, 200, "GET verify: 200")
    tap.eq(r.body, ch.encode(), "GET verify: body is exactly the challenge")
    tap.ok(r.headers.get("content-type", "").startswith("text/plain"),
           "GET verify: text/plain", r.headers)
    odd = "a b+c/%&=é"
    r = e.verify(c, q(hub_mode="subscribe", hub_verify_token=c.webhook_token, hub_challenge=odd))
    tap.eq((r.status, r.body), (200, odd.encode()), "GET verify: url-decoded challenge echoed exactly")
    r = e.verify(e.c3, q(hub_mode="subscribe", hub_verify_token=e.c3.webhook_token,
                         hub_challenge="42"))
    tap.eq((r.status, r.body), (200, b"42"), "GET verify: token read from a file: secret")
    cases = [
        ("wrong token", q(hub_mode="subscribe", hub_verify_token="nope", hub_challenge="1")),
        ("token prefix", q(hub_mode="subscribe", hub_verify_token=c.webhook_token[:-1],
                           hub_challenge="1")),
        ("missing token", q(hub_mode="subscribe", hub_challenge="1")),
        ("other mode", q(hub_mode="unsubscribe", hub_verify_token=c.webhook_token,
                         hub_challenge="1")),
        ("missing mode", q(hub_verify_token=c.webhook_token, hub_challenge="1")),
        ("other app's token", q(hub_mode="subscribe", hub_verify_token=e.c3.webhook_token,
                                hub_challenge="1")),
        ("repeated token", q(hub_mode="subscribe", hub_verify_token=c.webhook_token,
                             hub_challenge="1") + "&hub.verify_token=x"),
        ("oversized challenge", q(hub_mode="subscribe", hub_verify_token=c.webhook_token,
                                  hub_challenge="7" * 1025)),
        ("oversized query", q(hub_mode="subscribe", hub_verify_token=c.webhook_token,
                              hub_challenge="1") + "&pad=" + "x" * 5000),
        ("NUL in token", "hub.mode=subscribe&hub.challenge=1&hub.verify_token=" +
         urllib.parse.quote(c.webhook_token) + "%00x"),
    ]
    for name, query in cases:
        r = e.verify(c, query)
        tap.ok(r.status == 403 and b"1" not in r.body and r.headers.get("content-type"),
               "GET verify: %s -> 403 with a body" % name, r)


def test_signed_post(e):
    c = e.c1
    n0, q0 = e.counts()
    m1, m2 = h.uniq("mid"), h.uniq("pb")
    body = h.webhook(h.entry(c.page_id, [h.message_event(c.page_id, "7001", mid=m1),
                                         h.postback_event(c.page_id, "7001", mid=m2)]))
    r = e.post(c, body)
    tap.eq((r.status, r.body), (200, b"EVENT_RECEIVED"), "POST signed: 200 EVENT_RECEIVED")
    tap.ok(r.headers.get("content-type", "").startswith("text/plain"), "POST signed: text/plain")
    rows = [x for x in e.events() if any(m in (x.get("raw") or "") for m in (m1, m2))]
    tap.eq(len(rows), 2, "POST signed: both events stored")
    tap.eq(sorted(h.KINDS[x["kind"]] for x in rows), ["message", "postback"],
           "POST signed: kinds message and postback")
    tap.ok(all(conn_of(x) == c.id for x in rows), "POST signed: stored under the connector", rows)
    keys = [x["key"] for x in rows]
    tap.ok(len(set(keys)) == 2 and all(re.fullmatch(r"[0-9a-f]{64}", k) for k in keys),
           "POST signed: distinct dedup keys", keys)
    tap.ok(all(x.get("page_id") == c.page_id and x.get("user_id") == "7001" for x in rows),
           "POST signed: page and user stored", rows)
    tap.eq(e.counts()[1], q0, "POST signed: nothing quarantined")


def test_bad_signatures(e):
    c = e.c1
    body = json.dumps(h.webhook(h.entry(c.page_id, [h.message_event(c.page_id, "7002")]))).encode()
    before = e.counts()
    good = h.sign(c.secret, body)
    cases = [
        ("missing", dict(signature=False)),
        ("other app's secret", dict(secret=e.c3.secret)),
        ("malformed", dict(signature="sha256=zz")),
        ("truncated", dict(signature=good[:-2])),
        ("sha1 only", dict(signature=False, extra_env={"HTTP_X_HUB_SIGNATURE": "sha1=" + "0" * 40})),
        ("other body", dict(signature=h.sign(c.secret, body + b" "))),
        ("no prefix", dict(signature=good[7:])),
    ]
    for name, kw in cases:
        r = e.post(c, body, **kw)
        tap.eq(r.status, 403, "POST %s signature -> 403" % name)
    tap.eq(e.counts(), before, "POST bad signatures: nothing stored, nothing quarantined")
    # The path's connector decides the secret: app1's signature is no good on app2's path.
    body3 = json.dumps(h.webhook(h.entry(e.c3.page_id, [h.message_event(e.c3.page_id, "7003")])))
    r = e.post(e.c3, body3.encode(), secret=c.secret)
    tap.eq(r.status, 403, "POST to app2's path signed with app1's secret -> 403")
    tap.eq(e.counts(), before, "POST cross-app signature: nothing stored")


def test_too_big(e):
    c = e.c1
    before = e.counts()
    body = b"x" * (e.max_body + 1)
    r = e.post(c, body)
    tap.eq(r.status, 413, "POST body over max_body -> 413")
    tap.ok(r.headers.get("content-type") and r.body, "413 has a content type and a body")
    tap.eq(e.counts(), before, "413: nothing stored")
    r = e.post(c, b"y" * e.max_body)
    tap.eq(r.status, 200, "POST body of exactly max_body (not JSON) -> 200")
    tap.eq(e.counts()[1], before[1] + 1, "body of exactly max_body quarantined")


def test_quarantine(e):
    c = e.c1
    n0, q0 = e.counts()
    body = b"this is not JSON \x01 at all"
    r = e.post(c, body)
    tap.eq((r.status, r.body), (200, b"EVENT_RECEIVED"), "POST signed non-JSON -> 200")
    rows = e.quarantine()
    tap.eq(len(rows), q0 + 1, "non-JSON: one quarantine row")
    last = rows[-1] if rows else {}
    raw = last.get("raw")
    raw = raw.encode() if isinstance(raw, str) else raw
    tap.ok(raw == body and conn_of(last) == c.id and last.get("reason"),
           "non-JSON: raw body kept with connector and reason", last)
    tap.eq(e.counts()[0], n0, "non-JSON: no event stored")
    r = e.post(c, {"object": "page", "entry": "not an array"})
    tap.eq(r.status, 200, "POST signed JSON not shaped as a webhook -> 200")
    tap.eq(e.counts(), (n0, q0 + 2), "not a webhook: quarantined, no event")


def test_other_object(e):
    c = e.c1
    before = e.counts()
    body = h.webhook(h.entry(c.page_id, [h.message_event(c.page_id, "7004")]), obj="instagram")
    r = e.post(c, body)
    tap.eq((r.status, r.body), (200, b"EVENT_RECEIVED"), "POST object=instagram -> 200")
    tap.eq(e.counts(), before, "object=instagram: nothing stored")


def test_locked_store(e):
    c = e.c1
    mid = h.uniq("locked")
    body = json.dumps(h.webhook(h.entry(c.page_id, [h.message_event(c.page_id, "7005", mid=mid)])))
    before = e.counts()
    holder = sqlite3.connect(e.db_path, timeout=5, isolation_level=None)
    try:
        holder.execute("BEGIN EXCLUSIVE")
        t0 = time.time()
        r = e.post(c, body.encode())
        took = time.time() - t0
        tap.eq(r.status, 503, "POST with the database locked -> 503")
        tap.eq(r.headers.get("retry-after"), "1", "503 carries Retry-After: 1")
        tap.ok(took < 4.0, "503 comes well under Facebook's 5 s (%.2fs)" % took)
        r2 = e.post(c, b"not json while locked")
        tap.eq(r2.status, 503, "POST non-JSON with the database locked -> 503 (not lost)")
        n = holder.execute("SELECT count(*) FROM events").fetchone()[0]
        nq = holder.execute("SELECT count(*) FROM quarantine").fetchone()[0]
        tap.eq((n, nq), before, "locked: nothing half-stored")
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    r = e.post(c, body.encode())
    tap.eq(r.status, 200, "after the lock is released the retried POST -> 200")
    tap.eq(mids_of(e.events()).count(mid), 1, "retried POST stored once")


def test_paths_and_methods(e):
    c = e.c1
    for m in ("GET", "POST"):
        r = e.request(m, "/no/such/path", body=b"{}" if m == "POST" else None)
        tap.ok(r.status == 404 and r.body and r.headers.get("content-type"),
               "%s unknown path -> 404 with a body" % m, r)
    r = e.request("GET", c.path + "/")
    tap.eq(r.status, 404, "path with a trailing slash is another path -> 404")
    for m in ("PUT", "DELETE", "HEAD", "PATCH", "OPTIONS"):
        r = e.request(m, c.path, body=b"{}" if m in ("PUT", "PATCH") else None)
        tap.ok(r.status == 405 and r.headers.get("allow") == "GET, POST" and r.body,
               "%s -> 405 with Allow: GET, POST" % m, r)
    r = e.request("GET", "/x\ny", query="")
    tap.eq(r.status, 404, "path with a newline -> 404")


def test_redelivery(e):
    c = e.c1
    mid = h.uniq("redeliver")
    body = json.dumps(h.webhook(h.entry(c.page_id, [h.message_event(c.page_id, "7006", mid=mid)])))
    statuses = [e.post(c, body.encode()).status for _ in range(3)]
    tap.eq(statuses, [200, 200, 200], "redelivered body: 200 each time")
    tap.eq(mids_of(e.events()).count(mid), 1, "redelivered body stored once")


def test_mixed(e):
    c = e.c1
    n0, q0 = e.counts()
    good1, good2 = h.uniq("good"), h.uniq("good")
    bad = h.message_event(c.page_id, "7007")
    bad["message"]["text"] = 42          # wrong type: malformed event
    body = h.webhook(h.entry(c.page_id, [h.message_event(c.page_id, "7007", mid=good1), bad,
                                         h.postback_event(c.page_id, "7007", mid=good2)]))
    r = e.post(c, body)
    tap.eq(r.status, 200, "mixed valid + malformed events -> 200")
    mids = mids_of(e.events())
    tap.ok(good1 in mids and good2 in mids, "mixed: valid events stored")
    tap.eq(e.counts(), (n0 + 2, q0 + 1), "mixed: malformed event quarantined, valid stored")
    rows = e.quarantine()
    tap.ok(rows and rows[-1].get("reason") and conn_of(rows[-1]) == c.id,
           "mixed: quarantine row has a reason and the connector", rows[-1:] if rows else rows)


def test_routing(e):
    m1, m2, m3 = h.uniq("r1"), h.uniq("r2"), h.uniq("r3")
    body = h.webhook(h.entry(e.c1.page_id, [h.message_event(e.c1.page_id, "7008", mid=m1)]),
                     h.entry(e.c2.page_id, [h.message_event(e.c2.page_id, "7008", mid=m2)]),
                     h.entry(e.c3.page_id, [h.message_event(e.c3.page_id, "7008", mid=m3)]))
    r = e.post(e.c1, body)
    tap.eq(r.status, 200, "routing: one body for three pages -> 200")
    by_mid = {}
    for row in e.events():
        for m in mids_of([row]):
            by_mid[m] = conn_of(row)
    tap.eq(by_mid.get(m1), e.c1.id, "routing: page of the path's connector stored under it")
    tap.eq(by_mid.get(m2), e.c2.id, "routing: other page of the same app stored under its connector")
    tap.ok(m3 not in by_mid, "routing: page of another app dropped")
    m4 = h.uniq("r4")
    r = e.post(e.c2, h.webhook(h.entry(e.c1.page_id, [h.message_event(e.c1.page_id, "7009", mid=m4)])))
    by_mid = {m: conn_of(row) for row in e.events() for m in mids_of([row])}
    tap.ok(r.status == 200 and by_mid.get(m4) == e.c1.id,
           "routing: entry posted to a sibling connector's path goes to its page's connector")
    m5 = h.uniq("r5")
    r = e.post(e.c1, h.webhook(h.entry("999999999999", [h.message_event("999999999999", "1", mid=m5)])))
    tap.ok(r.status == 200 and m5 not in mids_of(e.events()),
           "routing: entry for an unknown page -> 200, dropped")


def test_many(e, n=300, workers=8):
    c = e.c1
    before = e.counts()[0]
    mids = [h.uniq("many") for _ in range(n)]
    lines0 = len(e.request_lines())

    def one(mid):
        return e.post(c, h.webhook(h.entry(c.page_id, [h.message_event(c.page_id, "8000", mid=mid)]))).status

    t0 = time.time()
    with concurrent.futures.ThreadPoolExecutor(workers) as ex:
        statuses = list(ex.map(one, mids))
    took = time.time() - t0
    tap.eq(statuses.count(200), n, "%d POSTs in a row: all 200 (%.1fs)" % (n, took))
    stored = mids_of(e.events())
    tap.eq(e.counts()[0], before + n, "%d POSTs: %d events stored" % (n, n))
    tap.ok(all(stored.count(m) == 1 for m in mids), "%d POSTs: each stored exactly once" % n)
    pids = set()
    for line in e.request_lines()[lines0:]:
        mo = re.search(r"\[(\d+)\] req=", line)
        if mo:
            pids.add(mo.group(1))
    tap.ok(len(pids) >= 2, "requests were served by %d processes sharing the socket" % len(pids))


def test_bad_lengths(e):
    """CONTENT_LENGTH faults, in CGI mode where the test controls exactly what is sent."""
    c = e.c1
    before = e.counts()
    body = json.dumps(h.webhook(h.entry(c.page_id, [h.message_event(c.page_id, "7010")]))).encode()
    sig = h.sign(c.secret, body)
    base = {"REQUEST_METHOD": "POST", "PATH_INFO": c.path, "HTTP_X_HUB_SIGNATURE_256": sig}
    for name, cl, data, want in [
            ("non-numeric CONTENT_LENGTH", "12ab", body, 400),
            ("negative CONTENT_LENGTH", "-5", body, 400),
            ("body shorter than CONTENT_LENGTH", str(len(body) + 10), body, 400),
            ("huge CONTENT_LENGTH", "99999999999999999999999", body, 413)]:
        env = dict(base, CONTENT_LENGTH=cl)
        env.update(e.child_env_extra())
        r, err = h.run_cgi(env, body=data, conf=e.conf_path)
        tap.eq(r.status, want, "CGI: %s -> %d" % (name, want))
    tap.eq(e.counts(), before, "CONTENT_LENGTH faults: nothing stored")


def test_cgi(e):
    c = e.c1
    env = {"REQUEST_METHOD": "GET", "PATH_INFO": c.path,
           "QUERY_STRING": q(hub_mode="subscribe", hub_verify_token=c.webhook_token,
                             hub_challenge="31337")}
    env.update(e.child_env_extra())
    r, err = h.run_cgi(env, conf=e.conf_path)
    tap.ok(r.rc == 0 and r.status == 200 and r.body == b"31337", "CGI mode: GET verify", (r, err))
    tap.ok(" req=" in err and not e.secrets_in_text(err), "CGI mode: one log line, no secret", err)
    mid = h.uniq("cgi")
    body = json.dumps(h.webhook(h.entry(c.page_id, [h.message_event(c.page_id, "7011", mid=mid)]))).encode()
    env = {"REQUEST_METHOD": "POST", "PATH_INFO": c.path, "CONTENT_LENGTH": str(len(body)),
           "HTTP_X_HUB_SIGNATURE_256": h.sign(c.secret, body)}
    env.update(e.child_env_extra())
    r, err = h.run_cgi(env, body=body, conf=e.conf_path)
    tap.ok(r.rc == 0 and r.status == 200 and r.body == b"EVENT_RECEIVED", "CGI mode: signed POST", (r, err))
    tap.eq(mids_of(e.events()).count(mid), 1, "CGI mode: event stored")
    # PATH_INFO absent: the path comes from REQUEST_URI without SCRIPT_NAME.
    env = {"REQUEST_METHOD": "GET", "REQUEST_URI": "/cgi-bin/messenger.fcgi" + c.path + "?" +
           q(hub_mode="subscribe", hub_verify_token=c.webhook_token, hub_challenge="55"),
           "SCRIPT_NAME": "/cgi-bin/messenger.fcgi", "QUERY_STRING":
           q(hub_mode="subscribe", hub_verify_token=c.webhook_token, hub_challenge="55")}
    env.update(e.child_env_extra())
    r, err = h.run_cgi(env, conf=e.conf_path)
    tap.ok(r.status == 200 and r.body == b"55", "CGI mode: no PATH_INFO -> REQUEST_URI minus SCRIPT_NAME", (r, err))
    r, err = h.run_cgi({"REQUEST_METHOD": "GET", "PATH_INFO": c.path},
                       conf=os.path.join(e.dir, "no-such.conf"))
    tap.ok(r.rc == 1 and r.status == 500 and r.body, "CGI mode: config error -> 500 and exit 1", (r, err))
    tap.ok("no-such.conf" in err, "CGI mode: config error names the file", err)
    bad = os.path.join(e.dir, "bad.conf")
    with open(bad, "w") as f:
        f.write("max_body = 12;\nbogus_key = 1;\nconnectors = ( );\n")
    r, err = h.run_cgi({"REQUEST_METHOD": "GET", "PATH_INFO": c.path}, conf=bad)
    errlines = [l for l in err.splitlines() if "ERROR" in l]
    tap.ok(r.status == 500 and len(errlines) >= 2, "CGI mode: every config fault logged", err)


def test_log(e):
    lines = e.request_lines()
    tap.eq(len(lines), e.requests_sent, "log: one line per request")
    found = e.secrets_in_log()
    tap.ok(not found, "log: no secret, token or signature", found)
    tap.ok(all(re.search(r"req=[0-9a-f]+-[0-9a-f]+ ", l) and " status=" in l and " ms=" in l
               for l in lines), "log: request id, status and duration on every line")
    newline = [l for l in lines if 'path="/x\\x0ay"' in l]
    tap.eq(len(newline), 1, "log: untrusted path escaped, still one line")
    ids = [re.search(r"req=(\S+)", l).group(1) for l in lines]
    tap.eq(len(ids), len(set(ids)), "log: request ids are unique")


def test_sigterm_idle():
    e = h.Env(nproc=3)
    try:
        r = e.verify(e.c1, q(hub_mode="subscribe", hub_verify_token=e.c1.webhook_token, hub_challenge="9"))
        tap.eq(r.status, 200, "pool of 3 answers")
        time.sleep(0.2)
        t0 = time.time()
        codes = e.stop(timeout=10)
        took = time.time() - t0
        # 3 s; under valgrind (MSGR_SLOW) each exit also runs the leak check
        tap.ok(list(codes.values()) == [0, 0, 0] and took < (10.0 if h.SLOW else 3.0),
               "SIGTERM while idle: every process exits 0 quickly (%.2fs)" % took, codes)
        tap.ok(not e.sanitizer_errors(), "sanitizers: no report (idle pool)", e.sanitizer_errors())
    finally:
        e.cleanup()


def test_sigterm_busy():
    """SIGTERM arriving mid-request: the request is finished and answered, then exit 0."""
    e = h.Env(nproc=1, busy_timeout_ms=1500)
    holder = None
    try:
        c = e.c1
        e.post(c, h.webhook(h.entry(c.page_id, [h.message_event(c.page_id, "1")])))  # create db
        holder = sqlite3.connect(e.db_path, timeout=5, isolation_level=None)
        holder.execute("BEGIN EXCLUSIVE")
        result = {}

        def send():
            result["r"] = e.post(c, h.webhook(h.entry(c.page_id, [h.message_event(c.page_id, "2")])))

        t = threading.Thread(target=send)
        t.start()
        time.sleep(0.6)                     # the request now waits for the lock
        for pid in e.children:
            os.kill(pid, signal.SIGTERM)
        t.join(15)
        r = result.get("r")
        tap.ok(r is not None and r.status == 503,
               "SIGTERM mid-request: the request is still answered (503 while locked)", r)
        holder.execute("ROLLBACK")
        holder.close()
        holder = None
        codes = {pid: h.wait_pid(pid, 5) for pid in e.children}
        e.children = []
        tap.ok(list(codes.values()) == [0], "SIGTERM mid-request: exit 0 after the answer", codes)
        tap.ok(not e.sanitizer_errors(), "sanitizers: no report (SIGTERM mid-request)", e.sanitizer_errors())
    finally:
        if holder is not None:
            holder.close()
        e.cleanup()


def test_store_unavailable_at_start():
    """The store cannot be opened when the processes start (its folder is missing): they keep
    running, verification still works, POSTs get 503, and once the folder exists the next
    POST opens the store and is stored."""
    e = h.Env(nproc=2, state_path="later/state.db")
    try:
        c = e.c1
        tap.eq(len(e.alive()), 2, "store unavailable at start: the responders keep running")
        r = e.verify(c, q(hub_mode="subscribe", hub_verify_token=c.webhook_token, hub_challenge="5"))
        tap.eq((r.status, r.body), (200, b"5"), "store unavailable: verification still 200")
        mid = h.uniq("later")
        body = json.dumps(h.webhook(h.entry(c.page_id, [h.message_event(c.page_id, "7012", mid=mid)]))).encode()
        statuses = [e.post(c, body).status for _ in range(2)]
        tap.eq(statuses, [503, 503], "store unavailable: POSTs -> 503 (in both processes)")
        os.mkdir(os.path.join(e.dir, "later"))
        statuses = [e.post(c, body).status for _ in range(4)]
        tap.eq(statuses, [200] * 4, "store reopened on the next request: 200")
        tap.eq(mids_of(e.events()).count(mid), 1, "store reopened: the event stored once")
        codes = e.stop()
        tap.ok(all(v == 0 for v in codes.values()), "store unavailable: clean exit", codes)
        tap.ok(not e.sanitizer_errors(), "sanitizers: no report (store unavailable)", e.sanitizer_errors())
    finally:
        e.cleanup()


def main():
    e = h.Env(nproc=2)
    try:
        for t in (test_verification, test_signed_post, test_bad_signatures, test_too_big,
                  test_quarantine, test_other_object, test_locked_store, test_paths_and_methods,
                  test_redelivery, test_mixed, test_routing, test_many, test_bad_lengths,
                  test_cgi, test_log):
            try:
                t(e)
            except Exception as exc:  # a crash of one test is one failure, the rest still run
                tap.crash(t.__name__, exc)
        alive = e.alive()
        tap.eq(len(alive), 2, "both responders survived every request")
        t0 = time.time()
        codes = e.stop()
        tap.ok(all(v == 0 for v in codes.values()) and time.time() - t0 < 5,
               "SIGTERM: the pool exits 0", codes)
        errs = e.sanitizer_errors()
        tap.ok(not errs, "sanitizers: no report in the responders' log", errs)
    finally:
        e.cleanup()
    for t in (test_store_unavailable_at_start, test_sigterm_idle, test_sigterm_busy):
        try:
            t()
        except Exception as exc:
            tap.crash(t.__name__, exc)
    tap.done()


if __name__ == "__main__":
    main()
