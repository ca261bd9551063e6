#!/usr/bin/env python3
"""test_fcgi_close.py — how a request thread ends its FastCGI connection
(docs/responder.md "Threads and group commit"):

  - a request whose body was read to its end (the empty FCGI_STDIN record) is closed at
    once, without libfcgi's lingering wait for the web server to close first: right after
    the answer the connection is gone, and a byte sent into it is refused;
  - a request that left bytes unread (stdin longer than its CONTENT_LENGTH) keeps the
    lingering close: its answer arrives whole, and the responder still reads what comes
    after it, so the kernel never resets a connection with an answer in flight;
  - parameters cut short (the stream ends inside them, as when a stop interrupts libfcgi's
    accept) are answered 503, which Facebook retries, never routed as a request without a
    path (404);
  - both with threads = 1 (the plain loop) and with request threads (the pool).
TAP lines out."""
import json
import os
import socket
import struct
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))
import fcgiclient as fc  # noqa: E402
import harness as h  # noqa: E402
from harness import Tap  # noqa: E402


def params(c, body, sig, length=None):
    return {"REQUEST_METHOD": "POST", "PATH_INFO": c.path, "SERVER_PROTOCOL": "HTTP/1.1",
            "GATEWAY_INTERFACE": "CGI/1.1", "HTTP_X_HUB_SIGNATURE_256": sig,
            "CONTENT_LENGTH": str(len(body) if length is None else length)}


def exchange(e, chunks, prm):
    """Sends one request; returns (status, body, refused): refused is whether a byte sent
    after the answer and the responder's end of stream was refused (the connection closed)
    rather than taken (the responder still reading, as libfcgi's lingering close does)."""
    s = fc.connect(e.sock_path, timeout=10)
    try:
        s.sendall(fc.request_bytes(prm, chunks))
        status, _, body = h.parse_cgi_output(fc.read_answer(s))
        end = s.recv(1)   # the responder's end of stream: shutdown or close, either way
        if end != b"":
            return status, body, None
        time.sleep(0.3)   # the close follows the shutdown at once; the lingering wait, 2 s
        try:
            s.send(b"x")
            return status, body, False
        except (BrokenPipeError, ConnectionResetError):
            return status, body, True
    finally:
        s.close()


def cut_params(e):
    """Sends the start of a request's parameters, then ends the stream as a web server
    stopping or a peer gone would: returns the answer's status and the Retry-After header."""
    s = fc.connect(e.sock_path, timeout=10)
    try:
        out = fc.record(fc.FCGI_BEGIN_REQUEST, struct.pack("!HB5x", 1, 0))
        out += fc.record(fc.FCGI_PARAMS, fc.pair(b"REQUEST_METHOD", b"POST"))
        s.sendall(out)
        s.shutdown(socket.SHUT_WR)
        status, headers, _ = h.parse_cgi_output(fc.read_answer(s))
        return status, headers.get("retry-after")
    finally:
        s.close()


def signed(c, text):
    doc = h.webhook(h.entry(c.page_id, [h.message_event(c.page_id, "7040", text,
                                                         mid=h.uniq("close"))]))
    body = json.dumps(doc).encode()
    return body, h.sign(c.secret, body)


def check(t, threads):
    e = h.Env(start=False, nproc=1)
    try:
        e.write_config("responder = { threads = %d; };" % threads)
        e.start(1)
        c = e.c1
        tag = "threads = %d" % threads
        body, sig = signed(c, "read to its end")
        e.signatures.add(sig)
        before = e.counts()[0]
        status, rbody, refused = exchange(e, [body], params(c, body, sig))
        t.eq((status, rbody), (200, b"EVENT_RECEIVED"), tag + ": a signed POST gets 200")
        t.eq(e.counts()[0], before + 1, tag + ": ...its event is stored")
        t.eq(refused, True, tag + ": read to its end, the connection is closed at once "
             "(no lingering wait)")
        body, sig = signed(c, "more than its count")
        e.signatures.add(sig)
        status, rbody, refused = exchange(e, [body + b"trailing bytes never read"],
                                          params(c, body, sig))
        t.eq((status, rbody), (200, b"EVENT_RECEIVED"),
             tag + ": stdin longer than CONTENT_LENGTH: the answer arrives whole")
        t.eq(refused, False, tag + ": ...and the close lingers, reading what comes after it")
        before = e.counts()
        t.eq(cut_params(e), (503, "1"), tag + ": parameters cut short (the stream ended inside "
             "them): 503 with Retry-After, never 404")
        t.eq(e.counts(), before, tag + ": ...and nothing stored or quarantined")
        t.ok("parameters were cut short" in e.log(), tag + ": ...and the log says so")
        r = e.verify(c, "hub.mode=subscribe&hub.verify_token=%s&hub.challenge=next"
                     % c.webhook_token)
        t.eq((r.status, r.body), (200, b"next"), tag + ": the responder goes on serving")
        codes = e.stop()
        t.ok(all(v == 0 for v in codes.values()), tag + ": exit 0 on SIGTERM", codes)
        t.eq(e.sanitizer_errors(), [], tag + ": no sanitizer report in the log")
        t.eq(e.secrets_in_log(), [], tag + ": no secret in the log")
    finally:
        e.cleanup()


def main():
    t = Tap()
    for threads in (1, 4):
        try:
            check(t, threads)
        except Exception as ex:   # noqa: BLE001 — one set-up failing must not hide the other
            t.crash("threads %d" % threads, ex)
    return t.done()


if __name__ == "__main__":
    sys.exit(main())
