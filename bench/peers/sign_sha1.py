#!/usr/bin/env python3
"""Adds the X-Hub-Signature (HMAC-SHA1) that Facebook sends beside X-Hub-Signature-256 to the
lines of bench/gen_bodies.py, for the peers of bench/peers.sh (Bottender 1.5 and Botkit's
Facebook adapter verify only the sha1 one). Same bodies, same secret:

    in:  "sha256=<hex>\\t<body>"            out: "sha256=<hex>\\tsha1=<hex>\\t<body>"

bench/post.lua sends both headers when a line has both. With --bad, both signatures are those
of another body (its first byte changed), for the check that the peers refuse a wrongly signed
webhook.

    sign_sha1.py SECRET IN OUT [--bad]"""
import hashlib
import hmac
import sys


def main():
    if len(sys.argv) not in (4, 5) or (len(sys.argv) == 5 and sys.argv[4] != "--bad"):
        sys.exit("usage: sign_sha1.py SECRET IN OUT [--bad]")
    secret, src, out = sys.argv[1].encode(), sys.argv[2], sys.argv[3]
    bad = len(sys.argv) == 5
    with open(src, encoding="ascii") as f, open(out, "w", encoding="ascii") as g:
        for line in f:
            sig256, body = line.rstrip("\n").split("\t", 1)
            signed = (" " + body[1:]) if bad else body
            sig1 = hmac.new(secret, signed.encode(), hashlib.sha1).hexdigest()
            if bad:
                sig256 = "sha256=" + hmac.new(secret, signed.encode(), hashlib.sha256).hexdigest()
            g.write("%s\tsha1=%s\t%s\n" % (sig256, sig1, body))


if __name__ == "__main__":
    main()
