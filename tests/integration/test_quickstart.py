#!/usr/bin/env python3
"""scripts/quickstart.sh, the README's run command: simulator mode, replay, stop, ports already
taken, Facebook mode and the config moved aside between the two, the clock off without
libfaketime. Every run in a temporary RUN_DIR on free ports, with the binaries of the build
under test ($MSGR_FCGI, $MSGRCTL, $MSGR_SIM). TAP lines: "ok - name" / "not ok - name".
"""
import glob
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
SCRIPT = os.path.join(ROOT, "scripts", "quickstart.sh")
SECRET_FILES = ("app.secret", "webhook.token", "bakery.secret", "bakery.webhook.token", "bot.secret",
                "cafe.page.token", "cafe_api.page.token", "bakery.page.token")

failures = 0
passes = 0


def report(ok, name, detail=""):
    global failures, passes
    passes += 1 if ok else 0
    print(("ok - " if ok else "not ok - ") + "quickstart: " + name)
    if not ok:
        failures += 1
        for line in str(detail).splitlines()[:30]:
            print("# " + line)
    sys.stdout.flush()


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def run(run_dir, *args, timeout=120, **env):
    e = dict(os.environ)
    e.pop("APP_ID", None)
    e.pop("PAGE_ID", None)
    e["RUN_DIR"] = run_dir
    e.update({k: str(v) for k, v in env.items()})
    p = subprocess.run(["sh", SCRIPT] + list(args), cwd=ROOT, env=e, timeout=timeout,
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    return p.returncode, p.stdout, p.stderr


def http(url, body=None, timeout=30):
    req = urllib.request.Request(url, data=body.encode() if body is not None else None,
                                 method="POST" if body is not None else "GET")
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, r.read().decode("utf-8", "replace")
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode("utf-8", "replace")


def secrets_of(run_dir):
    out = []
    for f in SECRET_FILES:
        try:
            with open(os.path.join(run_dir, f)) as fp:
                out.append(fp.read().strip())
        except OSError:
            pass
    return [s for s in out if s]


def pids_of(run_dir):
    pids = {}
    for f in ("lighttpd.pid", "bot.pid", "worker.pid"):
        try:
            with open(os.path.join(run_dir, f)) as fp:
                pids[f] = int(fp.read().strip())
        except (OSError, ValueError):
            pass
    return pids


def alive(pid):
    try:
        os.kill(pid, 0)
        return True
    except OSError:
        return False


def main():
    base = tempfile.mkdtemp(prefix="msgr-quickstart-")
    rd = os.path.join(base, "run")
    port, bot = free_port(), free_port()
    while bot == port:
        bot = free_port()
    try:
        # ---- simulator mode ----
        rc, out, err = run(rd, PORT=port, BOT_PORT=bot)
        chat = "http://127.0.0.1:%d/_sim/" % port
        first = next((l for l in out.splitlines() if l.strip()), "")
        report(rc == 0 and chat in first, "simulator mode exits 0 and prints the chat page URL first",
               "rc=%d\nstdout:\n%s\nstderr:\n%s" % (rc, out, err))
        if rc != 0:
            return
        hooks = ["http://127.0.0.1:%d/io/%s/messenger" % (port, c) for c in ("cafe", "cafe_api", "bakery")]
        report(all(h in out for h in hooks) and "scripts/quickstart.sh stop" in out,
               "it prints the three webhook URLs and the stop command", out)
        leaked = [s for s in secrets_of(rd) if s in out or s in err]
        report(len(secrets_of(rd)) == len(SECRET_FILES) and not leaked,
               "the secrets are generated as files and never printed", "%d leaked" % len(leaked))
        modes = {f: oct(os.stat(os.path.join(rd, f)).st_mode & 0o777) for f in ("app.secret", "msgr.conf")}
        report(os.stat(rd).st_mode & 0o777 == 0o700 and set(modes.values()) == {"0o600"},
               "the run folder is 700 and its files 600", repr(modes))

        st, page = http(chat)
        report(st == 200 and "<html" in page.lower(), "the chat page answers 200", "%d %s" % (st, page[:200]))
        st, world = http(chat + "api/world")
        try:
            w = json.loads(world)
            ids = sorted((p["connector"], p["page_id"], p["app_id"]) for p in w["pages"])
        except (ValueError, KeyError, TypeError):
            w, ids = {}, []
        report(ids == [("bakery", "200000000000005", "100000000000004"),
                       ("cafe", "200000000000002", "100000000000001"),
                       ("cafe_api", "200000000000003", "100000000000001")],
               "the simulator sees the three connectors of run/msgr.conf", world[:500])
        have_ft = bool(glob.glob("/usr/lib/*-linux-gnu*/faketime/libfaketimeMT.so.1"))
        report(w.get("clock", {}).get("enabled") is have_ft,
               "the clock control is on exactly when libfaketime is installed", world[:500])

        # the responder still answers at "/" and the simulator's prefix does not swallow more
        with open(os.path.join(rd, "webhook.token")) as fp:
            vt = fp.read().strip()
        st, body = http("http://127.0.0.1:%d/io/cafe/messenger?hub.mode=subscribe&hub.verify_token=%s"
                        "&hub.challenge=77" % (port, vt))
        st2, _ = http("http://127.0.0.1:%d/_simx" % port)
        report(st == 200 and body == "77" and st2 == 404,
               "the responder answers the verification; /_simx is the responder's 404", "%d %r %d" % (st, body, st2))

        # a conversation, then its transcript replayed through the script
        user = json.loads(http(chat + "api/users", "{}")[1])["key"]
        st, ans = http(chat + "api/event", json.dumps({"page": "200000000000002", "user": user,
                                                         "type": "text", "text": "hello"}))
        items = []
        for _ in range(100):
            conv = json.loads(http(chat + "api/conversation?page=200000000000002&user=%s&since=0" % user)[1])
            items = [i for i in conv["items"] if i.get("from") == "page" and "message" in i]
            if len(items) >= 2:
                break
            time.sleep(0.1)
        report(st == 200 and len(items) >= 2, "the stories bot answers a message from the chat page's API",
               "%s %s" % (ans, items))
        time.sleep(0.7)
        st, tr = http(chat + "api/transcript?page=200000000000002&user=%s" % user)
        good = os.path.join(base, "good.json")
        bad = os.path.join(base, "bad.json")
        with open(good, "w") as fp:
            fp.write(tr)
        t = json.loads(tr)
        for step in t["steps"]:
            if "page" in step:
                step["page"][0] = {"text": "Not what the bot says"}
                break
        with open(bad, "w") as fp:
            json.dump(t, fp)
        rc, out, err = run(rd, "replay", good, timeout=120, PORT=port)
        report(rc == 0 and out.strip() == good + ": ok", "replay of a saved transcript prints FILE: ok",
               "rc=%d\n%s%s" % (rc, out, err))
        rc, out, err = run(rd, "replay", good, bad, timeout=120)   # the port read from the run folder
        report(rc == 1 and good + ": ok" in out and bad + ": differs" in out,
               "replay of a changed one prints the difference and exits 1", "rc=%d\n%s%s" % (rc, out, err))

        # ---- ports ----
        rc, out, err = run(rd, PORT=port, BOT_PORT=bot)
        report(rc == 0, "a second start on the same folder replaces the first one", err)
        other = os.path.join(base, "other")
        rc, out, err = run(other, PORT=port, BOT_PORT=free_port())
        msg = "port %d is in use; choose another: PORT=%d sh scripts/quickstart.sh" % (port, port + 1)
        report(rc == 1 and msg in err and not os.path.exists(os.path.join(other, "msgr.conf")),
               "a port taken by another run is refused by name, before anything is written",
               "rc=%d\n%s" % (rc, err))
        rc, out, err = run(other, PORT=free_port(), BOT_PORT=bot)
        report(rc == 1 and "port %d is in use; choose another: BOT_PORT=%d" % (bot, bot + 1) in err,
               "so is a bot port in use", "rc=%d\n%s" % (rc, err))

        # ---- stop ----
        pids = pids_of(rd)
        rc, out, err = run(rd, "stop")
        time.sleep(0.3)
        running = [f for f, p in pids.items() if alive(p)]
        report(rc == 0 and len(pids) == 3 and not running, "stop stops lighttpd, the worker and the bot",
               "rc=%d pids=%r running=%r\n%s%s" % (rc, pids, running, out, err))
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            listening = True
        except OSError:
            listening = False
        report(not listening, "...and the port is free again (the simulator and responders went with lighttpd)")

        # ---- Facebook mode, and back ----
        rc, out, err = run(rd, PORT=port, APP_ID="123", PAGE_ID="456")
        st, _ = http(chat)
        report(rc == 0 and "msgr.conf.old" in err and os.path.exists(os.path.join(rd, "msgr.conf.old"))
               and "/io/quickstart/messenger" in out and st == 404,
               "Facebook mode moves the simulator's config aside and runs without the simulator",
               "rc=%d st=%d\n%s%s" % (rc, st, out, err))
        with open(os.path.join(rd, "msgr.conf")) as fp:
            conf = fp.read()
        report('app_id = "123"' in conf and "simulator" not in conf and "graph.facebook.com" in conf,
               "...with a config for the app and page given", conf)
        rc, out, err = run(rd, PORT=port, BOT_PORT=bot)
        report(rc == 0 and "no simulator group" in err and chat in out,
               "simulator mode again moves that config aside and writes its own", "rc=%d\n%s" % (rc, err))
        run(rd, "stop")

        # ---- no libfaketime ----
        rd2 = os.path.join(base, "noclock")
        rc, out, err = run(rd2, PORT=port, BOT_PORT=bot, FAKETIME_LIB="")
        with open(os.path.join(rd2, "msgr.conf")) as fp:
            conf = fp.read()
        st, world = http(chat + "api/world")
        clock = json.loads(world).get("clock", {}) if st == 200 else {}
        report(rc == 0 and "clock_file" not in conf and "simulated clock is off" in err
               and clock.get("enabled") is False,
               "without libfaketime the simulator runs and its clock control is off",
               "rc=%d %s\n%s" % (rc, world[:300], err))
        run(rd2, "stop")
        # the sanitizer build (make check SAN=1) reports into the logs of each run
        reports = []
        for d in ("run", "noclock"):
            for f in ("responder.log", "worker.log", "error.log"):
                try:
                    with open(os.path.join(base, d, f), errors="replace") as fp:
                        text = fp.read()
                except OSError:
                    continue
                reports += ["%s/%s: %s" % (d, f, l) for l in text.splitlines()
                            if "Sanitizer" in l or "runtime error:" in l]
        report(not reports, "no sanitizer report in the logs", "\n".join(reports[:20]))
    finally:
        for d in ("run", "other", "noclock"):
            if os.path.isdir(os.path.join(base, d)):
                run(os.path.join(base, d), "stop")
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    try:
        main()
    except Exception as e:   # a crash is one failure, with its reason
        report(False, "the test ran to the end", repr(e))
    print("# %d passed, %d failed" % (passes, failures))
    sys.exit(1 if failures else 0)
