#!/usr/bin/env python3
"""test_hostile_clients.py — hostile clients through lighttpd while Facebook's webhooks keep
coming (issue 13, "Prove it under faults and load"; docs/responder.md "Faults and attacks,
tested").

lighttpd/messenger.conf as test_lighttpd.py runs it (lighttpd starts 2 responders), the
responder's worker off (worker.budget_ms = 0) and state.sync = "normal", so the timings
measure intake and not the disk or the Graph API. One client of this process posts signed
webhooks over a kept-alive connection, one every 10 ms: 300 of them alone (the baseline), then
300 while a separate attack process (this file with --attack, so its threads never hold this
process's GIL) runs, all at once and for the whole time:

  flood        2 connections posting wrongly signed webhooks, up to 200 a second in all
  slow         6 clients trickling a validly signed webhook, 16 bytes every 50 ms
  disconnect   2 clients sending half a body (Content-Length 2000, 500 bytes), then closing
  headers      1 client sending a 64 KiB header
  lies         1 client declaring Content-Length larger than it sends (then waiting, then
               closing) or smaller (the rest looks like a second request)

Checked: every valid webhook (the stream's and the slow clients') answered 200 and stored
exactly once; nothing stored from the others, each answered as it should (403, 4xx) or not at
all; the stream's p99 under attack within max(2 x the baseline's p99, 20 ms); the same
responder processes before and after (none crashed and was restarted by lighttpd) and no
sanitizer report in the logs. The attack process runs at nice 10: its own CPU stands for a
remote attacker's, which would not compete with the server at all. The timing takes up to 4
rounds (baseline, then attack); a starved stream fails every one, a burst of the shared
machine's own load does not repeat. TAP lines out; 10 to 35 s."""
import hashlib
import hmac
import http.client
import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "servers"))

SAMPLES = 300                    # valid webhooks timed in each phase
WARMUP = 20
FLOOR_S = 0.020                  # the p99 bound is never below this
ROUNDS = 4                       # timing rounds at most (the first that passes ends them)
STREAM_INTERVAL_S = 0.010        # the valid stream: one webhook every 10 ms (3 s a phase)
FLOOD_INTERVAL_S = 0.010         # each flood connection: one POST every 10 ms at most
ATTACK_NICE = 10                 # the attackers' own CPU is not the server's: a remote
                                 # attacker's would not be on this machine at all
PREFIX = {"stream": "71", "slow": "72", "disconnect": "73", "flood": "74", "lies": "75",
          "headers": "76"}


def psid(kind):
    return PREFIX[kind] + "".join(secrets.choice("0123456789") for _ in range(14))


def webhook_body(page_id, user):
    now = int(time.time() * 1000)
    doc = {"object": "page", "entry": [{"id": page_id, "time": now, "messaging": [
        {"sender": {"id": user}, "recipient": {"id": page_id}, "timestamp": now,
         "message": {"mid": "mid." + secrets.token_hex(12), "text": "hello"}}]}]}
    return json.dumps(doc).encode()


def sign(secret, body):
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def p99(xs):
    s = sorted(xs)
    return s[min(len(s) - 1, int(len(s) * 0.99))]


# ---- the attack process ----

def read_status(sock, timeout):
    """The status of the first answer on sock, None when the peer closes or says nothing."""
    sock.settimeout(timeout)
    data = b""
    try:
        while b"\r\n" not in data:
            chunk = sock.recv(4096)
            if not chunk:
                break
            data += chunk
    except OSError:
        pass
    try:
        return int(data.split(b" ", 2)[1])
    except (IndexError, ValueError):
        return None


def head(port, path, length, extra=""):
    return ("POST %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nContent-Type: application/json\r\n"
            "Content-Length: %d\r\n%s\r\n" % (path, port, length, extra)).encode()


def attack(cfg):
    port, path, page, secret = cfg["port"], cfg["path"], cfg["page_id"], cfg["secret"]
    stop = threading.Event()
    lock = threading.Lock()
    out = {k: {"statuses": {}, "psids": []} for k in ("flood", "slow", "disconnect",
                                                         "headers", "lies_long", "lies_short")}

    def note(kind, status, user=None):
        with lock:
            o = out[kind]
            o["statuses"][str(status)] = o["statuses"].get(str(status), 0) + 1
            if user is not None:
                o["psids"].append(user)

    def flood():
        conn = None
        while not stop.is_set():
            t0 = time.time()
            user = psid("flood")
            body = webhook_body(page, user)
            try:
                if conn is None:
                    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
                conn.request("POST", path, body, {
                    "Content-Type": "application/json",
                    "X-Hub-Signature-256": "sha256=" + secrets.token_hex(32)})
                r = conn.getresponse()
                r.read()
                note("flood", r.status, user)
            except (OSError, http.client.HTTPException) as e:
                note("flood", type(e).__name__, user)
                conn = None
            time.sleep(max(0.0, FLOOD_INTERVAL_S - (time.time() - t0)))

    def slow():
        while not stop.is_set():
            user = psid("slow")
            body = webhook_body(page, user)
            s = socket.create_connection(("127.0.0.1", port), timeout=10)
            try:
                s.sendall(head(port, path, len(body), "X-Hub-Signature-256: %s\r\n" %
                               sign(secret, body)))
                for i in range(0, len(body), 16):
                    s.sendall(body[i:i + 16])
                    time.sleep(0.05)
                note("slow", read_status(s, 10), user)
            except OSError as e:
                note("slow", type(e).__name__, user)
            finally:
                s.close()

    def disconnect():
        while not stop.is_set():
            user = psid("disconnect")
            body = webhook_body(page, user) + b" " * 1500
            s = socket.create_connection(("127.0.0.1", port), timeout=10)
            try:
                s.sendall(head(port, path, len(body), "X-Hub-Signature-256: %s\r\n" %
                               sign(secret, body)) + body[:500])
                time.sleep(0.02)
                note("disconnect", "closed", user)
            except OSError as e:
                note("disconnect", type(e).__name__, user)
            finally:
                s.close()
            time.sleep(0.03)

    def headers():
        while not stop.is_set():
            user = psid("headers")
            body = webhook_body(page, user)
            s = socket.create_connection(("127.0.0.1", port), timeout=10)
            try:
                s.sendall(head(port, path, len(body), "X-Hub-Signature-256: %s\r\n"
                               "X-Junk: %s\r\n" % (sign(secret, body), "a" * 65536)) + body)
                note("headers", read_status(s, 10), user)
            except OSError as e:
                note("headers", type(e).__name__, user)
            finally:
                s.close()
            time.sleep(0.1)

    def lies():
        while not stop.is_set():
            # Longer than sent: lighttpd waits for the rest; the client gives up and closes.
            user = psid("lies")
            body = webhook_body(page, user)
            s = socket.create_connection(("127.0.0.1", port), timeout=10)
            try:
                s.sendall(head(port, path, len(body) + 1000, "X-Hub-Signature-256: %s\r\n" %
                               sign(secret, body)) + body)
                note("lies_long", read_status(s, 0.5), user)
            except OSError as e:
                note("lies_long", type(e).__name__, user)
            finally:
                s.close()
            # Shorter than sent: the body is cut (the signature no longer matches) and the
            # rest is taken for a second request.
            user = psid("lies")
            body = webhook_body(page, user)
            s = socket.create_connection(("127.0.0.1", port), timeout=10)
            try:
                s.sendall(head(port, path, len(body) - 40, "X-Hub-Signature-256: %s\r\n" %
                               sign(secret, body)) + body)
                note("lies_short", read_status(s, 10), user)
            except OSError as e:
                note("lies_short", type(e).__name__, user)
            finally:
                s.close()
            time.sleep(0.05)

    kinds = [flood] * 2 + [slow] * 6 + [disconnect] * 2 + [headers, lies]
    only = os.environ.get("MSGR_HOSTILE_ONLY")     # while investigating: one kind alone
    if only:
        kinds = [f for f in kinds if f.__name__ in only.split(",")]
    threads = [threading.Thread(target=f, daemon=True) for f in kinds]
    for th in threads:
        th.start()
    print("started", flush=True)
    sys.stdin.readline()                 # the test says stop (or dies: end of file)
    stop.set()
    for th in threads:
        th.join(15)
    out["alive"] = sum(1 for th in threads if th.is_alive())
    print(json.dumps(out), flush=True)


# ---- the test ----

def main():
    import harness  # noqa: F401
    import webenv
    from harness import Tap

    class Env(webenv.WebEnv):
        """The worker off, the store in memory (tmpfs): what is timed is the intake."""

        def write_config(self, extra=""):
            super().write_config(extra)
            if not hasattr(self, "shm_dir"):
                base = "/dev/shm" if os.path.isdir("/dev/shm") else None
                self.shm_dir = tempfile.mkdtemp(prefix="msgr-hostile-", dir=base)
                if self.root:
                    os.chown(self.shm_dir, self.user[2], self.user[3])
                self.db_path = os.path.join(self.shm_dir, "state.db")
            with open(self.conf_path) as f:
                text = f.read()
            text = text.replace('path = "%s"; journal' % self.state_path,
                                'path = "%s"; journal' % self.db_path)
            text = text.replace('sync = "full"', 'sync = "normal"')
            text = text.replace("budget_ms = %d;" % self.budget_ms, "budget_ms = 0;")
            with open(self.conf_path, "w") as f:
                f.write(text)

        def cleanup(self):
            try:
                super().cleanup()
            finally:
                shutil.rmtree(self.shm_dir, ignore_errors=True)

    t = Tap()
    env = None
    proc = None
    try:
        env = webenv.lighttpd_env(Env)
        c = env.c1
        pids = env.responder_pids()
        t.eq(len(pids), 2, "hostile: lighttpd started 2 responders")
        conf = open(env.conf_path).read()
        t.ok("budget_ms = 0;" in conf and env.db_path in conf,
             "hostile: the worker is off, the store on a tmpfs")

        conn = [http.client.HTTPConnection("127.0.0.1", env.port, timeout=30)]
        sent = {}            # psid -> status
        next_at = [0.0]

        def one():
            time.sleep(max(0.0, next_at[0] - time.perf_counter()))
            next_at[0] = time.perf_counter() + STREAM_INTERVAL_S
            user = psid("stream")
            body = webhook_body(c.page_id, user)
            sig = sign(c.secret, body)
            env.signatures.add(sig)          # checked absent from every log at the end
            t0 = time.perf_counter()
            try:
                conn[0].request("POST", c.path, body, {"Content-Type": "application/json",
                                                       "X-Hub-Signature-256": sig})
                r = conn[0].getresponse()
                r.read()
                status = r.status
                if r.getheader("connection", "").lower() == "close":
                    conn[0].close()
            except (OSError, http.client.HTTPException) as e:
                status = type(e).__name__
                conn[0].close()
            dt = time.perf_counter() - t0
            sent[user] = status
            return dt

        def round_():
            """SAMPLES alone, then SAMPLES under attack; the attack's summary."""
            nonlocal proc
            base = [one() for _ in range(SAMPLES)]
            proc = subprocess.Popen([sys.executable, os.path.abspath(__file__), "--attack"],
                                    stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                                    preexec_fn=lambda: os.nice(ATTACK_NICE))
            proc.stdin.write(json.dumps({"port": env.port, "path": c.path,
                                         "page_id": c.page_id, "secret": c.secret}) + "\n")
            proc.stdin.flush()
            started = proc.stdout.readline().strip() == "started"
            time.sleep(1.0)          # every attacker at work before the timing starts
            under = [one() for _ in range(SAMPLES)]
            proc.stdin.write("stop\n")
            proc.stdin.flush()
            summary, _ = proc.communicate(timeout=60)
            proc = None
            res = json.loads(summary.strip().splitlines()[-1])
            res["started"] = started
            return base, under, res

        for _ in range(WARMUP):
            one()
        # The timing: a real starvation fails every round; a burst of the shared machine's
        # own load (a spike in one phase and not the other) does not repeat ROUNDS times.
        results, verdicts = [], []
        for i in range(ROUNDS):
            base, under, res = round_()
            results.append(res)
            b99, u99 = p99(base), p99(under)
            limit = max(2 * b99, FLOOR_S)
            verdicts.append((round(b99 * 1000, 1), round(u99 * 1000, 1), u99 <= limit))
            print("# round %d: valid webhooks' p99 %.1f ms alone, %.1f ms under attack (limit "
                  "%.1f ms); median %.1f / %.1f ms; slowest under attack %s" % (
                      i + 1, b99 * 1000, u99 * 1000, limit * 1000,
                      sorted(base)[len(base) // 2] * 1000, sorted(under)[len(under) // 2] * 1000,
                      [round(x * 1000, 1) for x in sorted(under)[-4:]]))
            if u99 <= limit:
                break
        t.ok(verdicts[-1][2], "hostile: the valid webhooks' p99 under attack within max(2 x "
             "their p99 alone, %d ms) (%d round(s) of %d+%d)" % (
                 FLOOR_S * 1000, len(verdicts), SAMPLES, SAMPLES),
             "p99 alone / under attack (ms) per round: %r" % verdicts)
        t.ok(all(r["started"] for r in results) and all(r["alive"] == 0 for r in results),
             "hostile: the attack ran and every attacker stopped")

        res = {}
        for k in ("flood", "slow", "disconnect", "headers", "lies_long", "lies_short"):
            st, ps = {}, []
            for r in results:
                for s_, n in r[k]["statuses"].items():
                    st[s_] = st.get(s_, 0) + n
                ps += r[k]["psids"]
            res[k] = {"statuses": st, "psids": ps}
            print("# %s: %d requests, %s" % (k, sum(st.values()), st))
        bad = {k[-4:]: v for k, v in sent.items() if v != 200}
        t.eq(bad, {}, "hostile: every valid webhook of the stream (%d) got 200" % len(sent))

        # What each attacker got.
        fl = res["flood"]["statuses"]
        t.ok(sum(fl.values()) >= 100 and set(fl) == {"403"}, "hostile: the flood (%d wrongly "
             "signed POSTs) got 403 each" % sum(fl.values()), fl)
        sl = res["slow"]["statuses"]
        t.ok(sum(sl.values()) >= 6 and set(sl) == {"200"}, "hostile: every slow sender's "
             "webhook (%d) got 200 once complete" % sum(sl.values()), sl)
        hd = res["headers"]["statuses"]
        t.ok(sum(hd.values()) >= 5 and set(hd) <= {"400", "413", "431"},
             "hostile: oversized headers refused with a 4xx each", hd)
        ll = res["lies_long"]["statuses"]
        t.ok(sum(ll.values()) >= 3 and set(ll) <= {"None", "400", "408"},
             "hostile: Content-Length larger than sent: no answer but a 4xx, never 200", ll)
        ls = res["lies_short"]["statuses"]
        t.ok(sum(ls.values()) >= 3 and set(ls) <= {"400", "403"},
             "hostile: Content-Length smaller than sent: refused (the cut body fails its "
             "signature)", ls)
        t.ok(sum(res["disconnect"]["statuses"].values()) >= 10,
             "hostile: clients disconnected mid-body", res["disconnect"]["statuses"])

        # The store: each valid webhook once, nothing of the others.
        rows = env.query("SELECT user_id, count(*) AS n FROM events GROUP BY user_id")
        stored = {r["user_id"]: r["n"] for r in rows}
        valid = [u for u, s in sent.items() if s == 200] + res["slow"]["psids"]
        miss = [u[-4:] for u in valid if stored.get(u) != 1]
        t.eq(miss, [], "hostile: every valid webhook (%d) stored exactly once" % len(valid))
        others = {u[:2] for u in stored if u[:2] not in (PREFIX["stream"], PREFIX["slow"])}
        t.eq(sorted(others), [], "hostile: nothing stored from the flood, the disconnected, "
             "the oversized or the lying clients")
        t.eq(sum(stored.values()), len(valid), "hostile: no other row in the store")

        t.eq(env.responder_pids(), pids, "hostile: the same 2 responders before and after (no "
             "crash, no restart)")
        webenv.finish(t, env)
    except Exception as e:   # noqa: BLE001 - any failure is a reported failure
        t.crash("hostile clients", e)
    finally:
        if proc is not None:
            proc.kill()
            proc.wait()
        if env is not None:
            env.cleanup()
    return t.done()


if __name__ == "__main__":
    if sys.argv[1:] == ["--attack"]:
        attack(json.loads(sys.stdin.readline()))
        sys.exit(0)
    sys.exit(main())
