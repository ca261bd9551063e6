#!/usr/bin/env python3
"""test_cgi_worker.py — the responder as plain CGI (one request per process) and its worker
(docs/worker.md): it runs only after a request that stored events, so a scanner's 404, 403
or 405 opens no store; and it keeps to worker.budget_ms, however long the bot's timeout (a
bot that never answers cannot hold the web server's process). TAP lines out.

The api bot is a socket that listens and never answers (the kernel completes connections);
its timeout is 20 s (50 s under valgrind) against a 500 ms budget (the call gets the 1 s floor
of lib/http.h), so the margin below is many seconds."""
import json
import os
import socket
import sqlite3
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))
import harness as h  # noqa: E402
from harness import Tap  # noqa: E402

BUDGET_MS = 500
# Under valgrind (make valgrind, MSGR_SLOW) a CGI process alone took 7 to 13 s here: the bot's
# timeout grows with it, so "about the budget, not the bot's timeout" still tells them apart.
BOT_TIMEOUT_MS = 50000 if h.SLOW else 20000


def main():
    t = Tap()
    silent = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    silent.bind(("127.0.0.1", 0))
    silent.listen(64)
    e = h.Env(nproc=1, start=False)
    try:
        c = e.c1
        e.write_config("worker = { budget_ms = %d; lease_ms = 60000; };" % BUDGET_MS)
        with open(e.conf_path) as f:
            text = f.read()
        first = 'bot = { type = "stories"; file = "stories.conf"; };'
        text = text.replace(first, 'bot = { type = "api"; url = "http://127.0.0.1:%d/bot"; '
                            'secret = "5d2f9a0c7e1b4d3a8f6c2e0b9a7c5e3f"; timeout_ms = %d; };'
                            % (silent.getsockname()[1], BOT_TIMEOUT_MS), 1)
        with open(e.conf_path, "w") as f:
            f.write(text)
        extra = e.child_env_extra()

        # ---- requests that store nothing: no worker, no store ----
        body = json.dumps(h.webhook(h.entry(c.page_id, [h.message_event(c.page_id, "7020")])))
        body = body.encode()
        for name, env, data, want in [
                ("a path no connector has", {"REQUEST_METHOD": "GET",
                                             "PATH_INFO": "/wp-login.php"}, b"", 404),
                ("a wrong signature", {"REQUEST_METHOD": "POST", "PATH_INFO": c.path,
                                       "CONTENT_LENGTH": str(len(body)),
                                       "HTTP_X_HUB_SIGNATURE_256": "sha256=" + "0" * 64},
                 body, 403),
                ("a wrong verify token", {"REQUEST_METHOD": "GET", "PATH_INFO": c.path,
                                          "QUERY_STRING": "hub.mode=subscribe&"
                                          "hub.verify_token=nope&hub.challenge=1"}, b"", 403),
                ("another method", {"REQUEST_METHOD": "PUT", "PATH_INFO": c.path}, b"", 405)]:
            env.update(extra)
            r, err = h.run_cgi(env, body=data, conf=e.conf_path)
            t.eq(r.status, want, "CGI: %s -> %d" % (name, want))
        t.ok(not os.path.exists(e.db_path),
             "CGI: requests that stored nothing start no worker and create no state file",
             sorted(os.listdir(e.dir)))

        # ---- a request that stores: the worker runs, within its budget ----
        env = {"REQUEST_METHOD": "POST", "PATH_INFO": c.path, "CONTENT_LENGTH": str(len(body)),
               "HTTP_X_HUB_SIGNATURE_256": h.sign(c.secret, body)}
        env.update(extra)
        t0 = time.time()
        r, err = h.run_cgi(env, body=body, conf=e.conf_path, timeout=120 if h.SLOW else 60)
        took = time.time() - t0
        t.ok(r.status == 200, "CGI: a signed event is stored", err)
        t.ok(took < BOT_TIMEOUT_MS / 1000.0 / 2,
             "CGI: a bot that never answers holds the process about worker.budget_ms, not its "
             "%d ms timeout (%.1f s)" % (BOT_TIMEOUT_MS, took))
        t.ok("cut to the worker's budget" in err,
             "CGI: the bot call was cut to the budget, and the log says so", err)
        with sqlite3.connect(e.db_path) as db:
            rows = db.execute("SELECT state, attempts FROM events").fetchall()
        t.eq(rows, [(0, 1)], "CGI: the event waits for a retry (a transient failure)")
    finally:
        silent.close()
        e.cleanup()
    return t.done()


if __name__ == "__main__":
    sys.exit(main())
