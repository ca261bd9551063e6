#!/usr/bin/env python3
"""test_install.py — `make install` with DESTDIR and PREFIX into a temp dir: every file where
it belongs, the installed programs run (msgrctl --help, the responder answering a
verification as plain CGI), the man pages render without warnings and cover every command
and config key, and `make uninstall` takes it all back."""
import os
import re
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Tap, ROOT, parse_cgi_output   # noqa: E402

PREFIX = "/opt/msgr"


def make(*args, timeout=900):
    san = ["SAN=1"] if os.environ.get("SAN") == "1" else []
    return subprocess.run(["make", "--no-print-directory"] + san + list(args), cwd=ROOT,
                          capture_output=True, timeout=timeout)


def files_under(d):
    out = set()
    for root, _, files in os.walk(d):
        for f in files:
            out.add(os.path.relpath(os.path.join(root, f), d))
    for root, dirs, _ in os.walk(d):
        for x in dirs:
            p = os.path.join(root, x)
            if os.path.islink(p):
                out.add(os.path.relpath(p, d))
    return out


def man_warnings(path):
    p = subprocess.run(["man", "--warnings", "-l", path], capture_output=True, timeout=60,
                       env=dict(os.environ, MANPAGER="cat", PAGER="cat", MANWIDTH="80"))
    return p.returncode, p.stdout.decode("utf-8", "replace"), p.stderr.decode("utf-8", "replace")


def main():
    t = Tap()
    dest = tempfile.mkdtemp(prefix="msgr-install-")
    try:
        p = make("install", "DESTDIR=" + dest, "PREFIX=" + PREFIX)
        t.ok(p.returncode == 0, "make install DESTDIR PREFIX: exit 0",
             p.stderr.decode()[-2000:])
        root = dest + PREFIX
        want = ["bin/msgrctl", "lib/messenger-fcgi/messenger.fcgi", "lib/libmsgr.a",
                "lib/libmsgr.so.0", "lib/libmsgr.so", "include/msgr/config.h",
                "include/msgr/graph.h", "share/man/man1/msgrctl.1",
                "share/man/man5/msgr.conf.5", "share/man/man8/messenger.fcgi.8",
                "share/doc/messenger-fcgi/examples/msgr.conf",
                "share/doc/messenger-fcgi/examples/stories.conf",
                "share/doc/messenger-fcgi/README.md"]
        have = files_under(root)
        t.eq([w for w in want if w not in have], [], "install: every file under DESTDIR/PREFIX")
        t.eq(sorted(f for f in files_under(dest) if not ("/" + f).startswith(PREFIX + "/")),
             [], "install: nothing outside PREFIX")
        modes = {f: os.stat(os.path.join(root, f)).st_mode & 0o777 for f in want
                 if f in have}
        t.ok(modes.get("bin/msgrctl") == 0o755 and
             modes.get("lib/messenger-fcgi/messenger.fcgi") == 0o755 and
             all(modes.get(f) == 0o644 for f in want if f.startswith("share/man/")),
             "install: programs 755, man pages 644", modes)
        t.eq(os.readlink(os.path.join(root, "lib/libmsgr.so")), "libmsgr.so.0",
             "install: libmsgr.so links to libmsgr.so.0")

        # The installed programs run.
        ctl = os.path.join(root, "bin/msgrctl")
        p = subprocess.run([ctl, "--help"], capture_output=True, timeout=30)
        out = p.stdout.decode()
        t.ok(p.returncode == 0 and "usage: msgrctl" in out and "subscribe" in out,
             "installed msgrctl --help: exit 0 with the command list", p.stderr.decode())
        cmds = re.findall(r"^  ([a-z]+)\b", out, re.M)
        t.ok(len(cmds) >= 10, "msgrctl --help lists the commands", cmds)
        p = subprocess.run([ctl, "subscribe", "--help"], capture_output=True, timeout=30)
        t.ok(p.returncode == 0 and b"--check" in p.stdout, "installed msgrctl subscribe --help")

        work = tempfile.mkdtemp(prefix="msgr-install-run-", dir=dest)
        with open(os.path.join(work, "stories.conf"), "w") as f:
            f.write('stories = ( { name = "u"; fallback = true; answers = ( { text = "x"; } ); } );\n')
        conf = os.path.join(work, "msgr.conf")
        with open(conf, "w") as f:
            f.write('connectors = ( { id = "i"; path = "/hook"; app_id = "1"; page_id = "2";\n'
                    '  call_token = "file:tok"; webhook_token = "file:tok"; secret = "file:tok";\n'
                    '  bot = { type = "stories"; file = "stories.conf"; }; } );\n')
        with open(os.path.join(work, "tok"), "w") as f:
            f.write("install-test-token\n")
        os.chmod(os.path.join(work, "tok"), 0o600)
        env = dict(os.environ, MSGR_CONFIG=conf, REQUEST_METHOD="GET", PATH_INFO="/hook",
                   GATEWAY_INTERFACE="CGI/1.1", SERVER_PROTOCOL="HTTP/1.1",
                   QUERY_STRING="hub.mode=subscribe&hub.verify_token=install-test-token"
                                "&hub.challenge=31337")
        p = subprocess.run([os.path.join(root, "lib/messenger-fcgi/messenger.fcgi")], env=env,
                           input=b"", capture_output=True, timeout=30, cwd=work)
        status, _, body = parse_cgi_output(p.stdout)
        t.ok(status == 200 and body == b"31337",
             "installed messenger.fcgi answers a verification as CGI", p.stdout[:300])
        p = subprocess.run([ctl, "-c", conf, "check"], capture_output=True, timeout=30)
        t.ok(p.returncode == 0 and b"config OK: 1 connectors" in p.stdout,
             "installed msgrctl check on a config", p.stderr.decode())

        # Man pages: render clean, and say what the programs do.
        pages = {}
        for f in ("share/man/man1/msgrctl.1", "share/man/man5/msgr.conf.5",
                  "share/man/man8/messenger.fcgi.8"):
            rc, text, err = man_warnings(os.path.join(root, f))
            pages[f] = open(os.path.join(root, f)).read()
            t.ok(rc == 0 and err.strip() == "" and len(text) > 1000,
                 "man %s renders without warnings" % os.path.basename(f), err[-1500:])
        src1 = pages["share/man/man1/msgrctl.1"]
        t.eq([c for c in cmds if not re.search(r"^\.SS %s\b" % c, src1, re.M)], [],
             "msgrctl(1) has a section for every command of msgrctl help")
        docs = open(os.path.join(ROOT, "docs", "configuration.md")).read()
        keys = set(re.findall(r"^\| `([a-z_]+)(?:\[\])?(?:\.[a-z_]+)?` \|", docs, re.M))
        src5 = pages["share/man/man5/msgr.conf.5"].replace("\\-", "-")
        t.ok(len(keys) > 30, "docs/configuration.md lists the keys", sorted(keys))
        t.eq(sorted(k for k in keys if not re.search(r"^\.BR? %s\b" % k, src5, re.M)), [],
             "msgr.conf(5) has every key of docs/configuration.md")
        src8 = pages["share/man/man8/messenger.fcgi.8"]
        t.ok(all(s in src8 for s in (".SH SIGNALS", "SIGTERM", "MSGR_CONFIG", ".SH LOGS",
                                     "503", "413", "405", "FastCGI", "CGI")),
             "messenger.fcgi(8): modes, signals, environment, statuses, logs")

        # Uninstall removes every file install put there.
        p = make("uninstall", "DESTDIR=" + dest, "PREFIX=" + PREFIX)
        left = sorted(f for f in files_under(root))
        t.ok(p.returncode == 0 and left == [], "make uninstall removes every installed file",
             left)
    except Exception as e:   # noqa: BLE001
        t.crash("install", e)
    finally:
        shutil.rmtree(dest, ignore_errors=True)
    t.done()


if __name__ == "__main__":
    main()
