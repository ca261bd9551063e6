#!/usr/bin/env python3
"""Writes N signed webhook requests with unique mids for bench/post.lua.

One request per line: "<signature>\t<body>" (bodies are single-line JSON). Users and
timestamps vary so the events spread over many conversations, as real traffic does."""
import hashlib
import hmac
import json
import sys

def main():
    if len(sys.argv) not in (5, 6, 7):
        sys.exit("usage: gen_bodies.py SECRET PAGE_ID COUNT OUT [BASE_TS_MS [PAGES]]")
    secret, first, count, out = sys.argv[1].encode(), int(sys.argv[2]), int(sys.argv[3]), \
        sys.argv[4]
    # BASE_TS_MS: now, for a drain run (the worker answers only inside the 24-hour window).
    base = int(sys.argv[5]) if len(sys.argv) >= 6 else 1764000000000
    # PAGES: pages PAGE_ID, PAGE_ID + 1, ... of one app, in turn (the worker paces its calls
    # per page: spread over pages, a drain measures the worker, not the pacing).
    pages = int(sys.argv[6]) if len(sys.argv) == 7 else 1
    with open(out, "w", encoding="ascii") as f:
        for i in range(count):
            ts = base + i
            page = str(first + i % pages)
            body = json.dumps({
                "object": "page",
                "entry": [{"id": page, "time": ts, "messaging": [{
                    "sender": {"id": str(7000000000000000 + i % 5000)},
                    "recipient": {"id": page},
                    "timestamp": ts,
                    "message": {"mid": "m_bench_%d_%d" % (ts, i), "text": "hello bench %d" % i},
                }]}],
            }, separators=(",", ":"))
            sig = hmac.new(secret, body.encode(), hashlib.sha256).hexdigest()
            f.write("sha256=%s\t%s\n" % (sig, body))

if __name__ == "__main__":
    main()
