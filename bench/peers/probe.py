#!/usr/bin/env python3
"""Checks that a peer of bench/peers.sh verifies the webhook signature: posts the first line of
GOOD (bench/peers/sign_sha1.py's output) and then the first line of BAD (the same made with
--bad), to 127.0.0.1:PORT PATH, 5 s at most each, and says what came back and whether the peer
process PID is still alive. Prints one line; exits 1 when the wrongly signed webhook got a 2xx
(the comparison would be unfair) or the well signed one did not.

    probe.py PORT PATH GOOD BAD PID"""
import http.client
import os
import sys
import time


def post(port, path, line):
    sig256, sig1, body = line.rstrip("\n").split("\t", 2)
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        c.request("POST", path, body, {"Content-Type": "application/json",
                                       "X-Hub-Signature-256": sig256, "X-Hub-Signature": sig1})
        r = c.getresponse()
        r.read()
        return r.status, "HTTP %d" % r.status
    except (OSError, http.client.HTTPException) as e:
        return None, "no answer (%s)" % type(e).__name__
    finally:
        c.close()


def alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie (exited, not yet reaped by the shell) counts as gone.
    try:
        with open("/proc/%d/stat" % pid, encoding="ascii") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def main():
    if len(sys.argv) != 6:
        sys.exit("usage: probe.py PORT PATH GOOD BAD PID")
    port, path, good, bad, pid = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4], \
        int(sys.argv[5])
    with open(good, encoding="ascii") as f:
        good_status, good_text = post(port, path, f.readline())
    with open(bad, encoding="ascii") as f:
        bad_status, bad_text = post(port, path, f.readline())
    time.sleep(0.5)
    state = "still running" if alive(pid) else "process exited"
    print("signed: %s; wrongly signed: %s, %s" % (good_text, bad_text, state))
    ok2 = lambda s: s is not None and 200 <= s < 300
    sys.exit(0 if ok2(good_status) and not ok2(bad_status) else 1)


if __name__ == "__main__":
    main()
