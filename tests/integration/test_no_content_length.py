#!/usr/bin/env python3
"""test_no_content_length.py — a body without CONTENT_LENGTH (nginx with request buffering
off passes a chunked body so) is read to its end within max_body, not taken for empty
(docs/responder.md "Answers"):

  - FastCGI: a client of this test speaks the protocol to the responders' socket itself (the
    cgi-fcgi tool sends no body without CONTENT_LENGTH), the body cut in several FCGI_STDIN
    records: stored; wrongly signed: 403; over max_body: 413, nothing stored, the process
    goes on serving;
  - plain CGI: the body on stdin up to end of file;
  - nginx with fastcgi_request_buffering off and a chunked POST, end to end.
TAP lines out."""
import json
import os
import sys

sys.path.insert(0, os.path.dirname(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "servers"))
import fcgiclient as fc  # noqa: E402
import harness as h  # noqa: E402
from harness import Tap  # noqa: E402


def fastcgi(sock_path, params, chunks):
    """One request over FastCGI: params (no CONTENT_LENGTH unless given), the body in the
    given chunks. The answer as harness.parse_cgi_output reads it."""
    s = fc.connect(sock_path)
    try:
        s.sendall(fc.request_bytes(params, chunks))
        data = fc.read_answer(s)
    finally:
        s.close()
    return h.parse_cgi_output(data)


def signed(c, text, size=0):
    """A signed delivery with one message; padded to size bytes (unknown keys are skipped)."""
    doc = h.webhook(h.entry(c.page_id, [h.message_event(c.page_id, "7030", text)]))
    if size:
        doc["padding"] = ""
        doc["padding"] = "p" * (size - len(json.dumps(doc).encode()))
    body = json.dumps(doc).encode()
    return body, h.sign(c.secret, body)


def over_fastcgi(t, e):
    c = e.c1
    params = {"REQUEST_METHOD": "POST", "PATH_INFO": c.path, "SERVER_PROTOCOL": "HTTP/1.1",
              "GATEWAY_INTERFACE": "CGI/1.1"}
    body, sig = signed(c, "chunked over fastcgi")
    e.signatures.add(sig)
    before = e.counts()[0]
    thirds = [body[:10], body[10:len(body) // 2], body[len(body) // 2:]]
    status, _, rbody = fastcgi(e.sock_path, dict(params, HTTP_X_HUB_SIGNATURE_256=sig), thirds)
    t.eq((status, rbody), (200, b"EVENT_RECEIVED"),
         "FastCGI: a signed body without CONTENT_LENGTH, in 3 records, gets 200")
    t.eq(e.counts()[0], before + 1, "FastCGI: ...and its event is stored")
    t.eq(sum(1 for ev in e.events() if "chunked over fastcgi" in (ev.get("raw") or "")), 1,
         "FastCGI: ...the whole body, not an empty one")
    # an empty CONTENT_LENGTH (nginx's $content_length of a chunked body) is the same
    body, sig = signed(c, "empty length")
    e.signatures.add(sig)
    status, _, _ = fastcgi(e.sock_path, dict(params, CONTENT_LENGTH="",
                                              HTTP_X_HUB_SIGNATURE_256=sig), [body])
    t.eq(status, 200, "FastCGI: an empty CONTENT_LENGTH is read to the end too")
    status, _, _ = fastcgi(e.sock_path, dict(params, HTTP_X_HUB_SIGNATURE_256="sha256=" +
                                             "0" * 64), [body])
    t.eq(status, 403, "FastCGI: read whole, then refused when wrongly signed")
    before = e.counts()
    big = b"{" + b" " * (e.max_body + 10) + b"}"
    status, _, _ = fastcgi(e.sock_path, dict(params, HTTP_X_HUB_SIGNATURE_256=h.sign(
        c.secret, big)), [big])
    t.eq(status, 413, "FastCGI: over max_body without CONTENT_LENGTH: 413")
    t.eq(e.counts(), before, "FastCGI: ...nothing stored")
    r = e.verify(c, "hub.mode=subscribe&hub.verify_token=%s&hub.challenge=after"
                 % c.webhook_token)
    t.eq((r.status, r.body), (200, b"after"), "FastCGI: the pool goes on serving")


def over_cgi(t, e):
    c = e.c1
    body, sig = signed(c, "chunked over cgi")
    e.signatures.add(sig)
    env = {"REQUEST_METHOD": "POST", "PATH_INFO": c.path, "HTTP_X_HUB_SIGNATURE_256": sig}
    env.update(e.child_env_extra())
    r, err = h.run_cgi(env, body=body, conf=e.conf_path)
    t.ok(r.status == 200 and r.body == b"EVENT_RECEIVED",
         "CGI: a signed body without CONTENT_LENGTH (stdin to its end) gets 200", err)
    t.eq(sum(1 for ev in e.events() if "chunked over cgi" in (ev.get("raw") or "")), 1,
         "CGI: ...and its event is stored")


def over_nginx(t):
    import webenv
    env = webenv.nginx_env(request_buffering=False)
    try:
        c = env.c1
        # 2 MiB: nginx starts the FastCGI request before the body has all come, and so
        # cannot give its length (a small body read whole with the head gets one).
        body, sig = signed(c, "chunked through nginx", 2 * 1024 * 1024)
        env.signatures.add(sig)
        r = webenv.curl(env.base + "/hooks" + c.path, body=body,
                        headers=["X-Hub-Signature-256: " + sig, "Transfer-Encoding: chunked"])
        t.eq((r.status, r.body), (200, b"EVENT_RECEIVED"),
             "nginx (request buffering off): a chunked signed POST of 2 MiB gets 200")
        t.eq(sum(1 for ev in env.events() if "chunked through nginx" in (ev.get("raw") or "")),
             1, "nginx (request buffering off): ...and its event is stored")
        before = env.counts()
        big = json.dumps({"object": "page", "entry": [],
                          "padding": "p" * webenv.MAX_BODY}).encode()
        r = webenv.curl(env.base + "/hooks" + c.path, body=big,
                        headers=["X-Hub-Signature-256: " + h.sign(c.secret, big),
                                 "Transfer-Encoding: chunked"])
        t.eq(r.status, 413, "nginx (request buffering off): a chunked body over max_body: 413")
        t.eq(env.counts(), before, "nginx (request buffering off): ...nothing stored")
        webenv.finish(t, env)
    finally:
        env.cleanup()


def main():
    t = Tap()
    e = h.Env(nproc=2)
    try:
        for name, fn in (("fastcgi", over_fastcgi), ("cgi", over_cgi)):
            try:
                fn(t, e)
            except Exception as ex:   # noqa: BLE001 — one failing group must not hide the rest
                t.crash(name, ex)
        codes = e.stop()
        t.ok(all(v == 0 for v in codes.values()), "responders exit 0 on SIGTERM", codes)
        t.eq(e.sanitizer_errors(), [], "no sanitizer report in the responders' log")
        t.eq(e.secrets_in_log(), [], "no secret in the responders' log")
    finally:
        e.cleanup()
    try:
        over_nginx(t)
    except Exception as ex:   # noqa: BLE001
        t.crash("nginx", ex)
    return t.done()


if __name__ == "__main__":
    sys.exit(main())
