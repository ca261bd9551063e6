#!/usr/bin/env python3
"""test_portable.py — the portable build (scripts/build-portable.sh, docs/portable.md).

Builds dist/ into a temp folder, checks with readelf that neither program needs libfcgi,
libjansson, libconfig, libsqlite3 or libunistring as a shared object (only libc, libm,
libcurl and libcrypto, whose runtime packages every Debian 12 has), that ldd resolves what is
left, and then runs the portable responder for real: a pool of two on one socket driven by
`cgi-fcgi` (verification, wrong token, a signed event stored), plain CGI, and the portable
msgrctl on the same config."""
import json
import os
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
DIST = tempfile.mkdtemp(prefix="msgr-portable-")
# harness reads the responder's path at import: point it at the portable one.
os.environ["MSGR_FCGI"] = os.path.join(DIST, "messenger.fcgi")
sys.path.insert(0, HERE)
import harness                     # noqa: E402
from harness import Tap, Env       # noqa: E402

STATIC = ("libfcgi", "libjansson", "libconfig", "libsqlite3", "libunistring")
ALLOWED = ("libc.so", "libm.so", "libcurl.so", "libcrypto.so", "libpthread.so", "libdl.so",
           "ld-linux")


def needed(path):
    p = subprocess.run(["readelf", "-d", path], capture_output=True, timeout=30)
    out = []
    for line in p.stdout.decode().splitlines():
        if "(NEEDED)" in line and "[" in line:
            out.append(line.split("[", 1)[1].rstrip("]"))
    return out


def main():
    t = Tap()
    env = None
    try:
        p = subprocess.run(["sh", "scripts/build-portable.sh", DIST], cwd=ROOT,
                           capture_output=True, timeout=900)
        t.ok(p.returncode == 0, "build-portable.sh: exit 0", p.stderr.decode()[-2000:])
        fcgi = os.path.join(DIST, "messenger.fcgi")
        ctl = os.path.join(DIST, "msgrctl")
        for prog in (fcgi, ctl):
            name = os.path.basename(prog)
            libs = needed(prog)
            t.ok(libs and not [l for l in libs if l.startswith(STATIC)],
                 "%s needs none of libfcgi, libjansson, libconfig, libsqlite3, "
                 "libunistring as shared objects" % name, libs)
            t.eq([l for l in libs if not l.startswith(ALLOWED)], [],
                 "%s needs only libc, libm, libcurl, libcrypto" % name)
            p = subprocess.run(["ldd", prog], capture_output=True, timeout=30)
            t.ok(p.returncode == 0 and b"not found" not in p.stdout,
                 "%s: ldd resolves every library" % name, p.stdout.decode())
        with open(os.path.join(DIST, "NEEDED")) as f:
            listed = sorted(l.strip() for l in f if l.strip())
        t.eq(listed, sorted(set(needed(fcgi)) | set(needed(ctl))),
             "dist/NEEDED lists what the programs need")

        # The portable responder, for real, as spawn-fcgi would run it.
        env = Env(nproc=2)
        c = env.c1
        r = env.verify(c, "hub.mode=subscribe&hub.verify_token=%s&hub.challenge=777"
                       % c.webhook_token)
        t.ok(r.status == 200 and r.body == b"777",
             "portable responder via cgi-fcgi: verification answered", r)
        r = env.verify(c, "hub.mode=subscribe&hub.verify_token=wrong&hub.challenge=777")
        t.eq(r.status, 403, "portable responder: a wrong verify token -> 403")
        body = harness.webhook(harness.entry(c.page_id, [harness.message_event(
            c.page_id, "9" * 16, "hello")]))
        r = env.post(c, body)
        t.ok(r.status == 200 and r.body == b"EVENT_RECEIVED" and env.counts()[0] == 1,
             "portable responder: a signed event is stored (SQLite linked in)", r)
        t.eq(env.secrets_in_log(), [], "portable responder: no secret in its log")

        cgi_env = dict(env.child_env_extra(), PATH_INFO=c.path, QUERY_STRING=
                       "hub.mode=subscribe&hub.verify_token=%s&hub.challenge=5"
                       % c.webhook_token)
        res, err = harness.run_cgi(cgi_env, conf=env.conf_path, cwd=env.dir)
        t.ok(res.status == 200 and res.body == b"5", "portable responder as plain CGI",
             err[-1000:])

        p = subprocess.run([ctl, "-c", env.conf_path, "check"], env=env.child_env,
                           capture_output=True, timeout=30, cwd=env.dir)
        t.ok(p.returncode == 0 and b"config OK: 3 connectors" in p.stdout,
             "portable msgrctl check", p.stderr.decode())
        sig = subprocess.run([ctl, "-c", env.conf_path, "sign"], env=env.child_env,
                             input=json.dumps(body).encode(), capture_output=True, timeout=30)
        t.eq(sig.stdout.decode().strip(), harness.sign(c.secret, json.dumps(body).encode()),
             "portable msgrctl sign (libcrypto) agrees with Python's hmac")
    except Exception as e:   # noqa: BLE001
        t.crash("portable", e)
    finally:
        if env is not None:
            env.stop()
            env.cleanup()
        shutil.rmtree(DIST, ignore_errors=True)
    t.done()


if __name__ == "__main__":
    main()
