#!/usr/bin/env python3
"""test_kill_soak.py — random SIGKILLs under load: every acknowledged event answered exactly
once, in order, and no file corrupted (docs/worker.md "The call in flight at a kill").

Real lighttpd with lighttpd/messenger.conf (its pool of 2 responders, restarted by lighttpd
when killed), a long-running `msgrctl worker` and a loop of `msgrctl drain`, the fake Graph
API answering each message 150 ms after taking it (Facebook's latency: a process killed in
between never learns that it went) and echoing it, signed, to the app's callback for the
first page only (the kills start once that page has shown an echo: before, a page counts
as not subscribed to them). Concurrent clients post signed webhooks for many conversations, each
conversation's events in order and some posted twice (Facebook's redeliveries), retrying
every delivery not answered 200 as Facebook does, while the script SIGKILLs a responder,
the worker or a drain at random moments. MSGR_SOAK_KILLS sets the number of kills (default
20, about a minute; the long run is 100).

At the end, everything restarted and drained: each conversation's answers, as the fake
received them, are each of its events' once, in the events' order. On the page with echoes,
no answer went twice: a call whose outcome a kill left unknown was found sent by its echo.
On the page without echoes such calls are sent again; the doubles are printed, not failed,
and each was logged as a risk ("repeated a call whose outcome was unknown"). PRAGMA
integrity_check is ok. Prints TAP lines and a "# soak:" line with the counts."""
import concurrent.futures
import json
import os
import random
import re
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "servers"))
sys.path.insert(0, HERE)
import harness as h  # noqa: E402
import webenv  # noqa: E402
import workerenv  # noqa: E402

KILLS = int(os.environ.get("MSGR_SOAK_KILLS", "20"))
EVENTS = max(120, 6 * KILLS)
USERS_PER_PAGE = 6
CLIENTS = 6
LATENCY_MS = 150
REDELIVER = 0.15          # share of posts followed by a redelivery of an earlier event
POST_SECONDS = max(10.0, KILLS * 0.5)   # how long the load lasts; the kills spread over it
SETTLE_S = 90             # bound on the final drain
PER_CONV = EVENTS // (2 * USERS_PER_PAGE)

tap = h.Tap()


def stories():
    """One story per event number: "wN" is answered "rN", so every answer names its event."""
    out = ["stories = ("]
    for i in range(PER_CONV):
        out.append('  { name = "s%d"; triggers = ( "w%d" ); answers = ( { text = "r%d"; } ); },'
                   % (i, i, i))
    out.append('  { name = "unknown"; fallback = true; answers = ( { text = "?"; } ); } );')
    return "\n".join(out) + "\n"


def soak_env():
    """lighttpd's env with a short worker budget in the responders (the worker and the drains
    do most of the work, and the responders stay free to take webhooks and echoes) and a
    lease of 5 s. worker.echo_wait_ms keeps its default (10 s): under two kills a second an
    echo may wait for lighttpd to restart the responders it lost, and deliveries of up to
    6 s were measured."""
    orig = workerenv.WorkerEnv.__init__

    def init(self, *a, **kw):
        kw["budget_ms"] = 300
        kw["lease_ms"] = 5000
        orig(self, *a, **kw)

    webenv.STORIES = stories()
    workerenv.WorkerEnv.__init__ = init
    try:
        return webenv.lighttpd_env()
    finally:
        workerenv.WorkerEnv.__init__ = orig


class Soak:
    def __init__(self, env):
        self.env = env
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.kills = {"responder": 0, "worker": 0, "drain": 0}
        self.posts = 0
        self.redeliveries = 0
        self.failed_posts = 0
        self.acked = set()          # (psid, i) answered 200
        self.unacked = []
        self.errors = []            # what went wrong on the test's side
        self.worker = None
        self.drain = None
        self.worker_log = os.path.join(env.dir, "worker.log")
        self.drain_log = os.path.join(env.dir, "drain.log")

    # ---- processes ----

    def ctl(self, *args, log):
        out = open(log, "ab")
        try:
            return subprocess.Popen([workerenv.MSGRCTL, "-c", self.env.conf_path] + list(args),
                                    env=dict(self.env.child_env), stdout=out, stderr=out,
                                    stdin=subprocess.DEVNULL, cwd=self.env.dir,
                                    **self.env.as_service())
        finally:
            out.close()

    def start_worker(self):
        self.worker = self.ctl("worker", log=self.worker_log)

    def drain_loop(self):
        while not self.stop.is_set():
            try:
                p = self.ctl("drain", log=self.drain_log)
            except OSError as e:
                self.errors.append("msgrctl drain did not start: %s" % e)
                self.stop.wait(0.5)
                continue
            with self.lock:
                self.drain = p
            try:
                p.wait(60)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
            with self.lock:
                self.drain = None
            self.stop.wait(random.uniform(0.05, 0.4))

    def kill_one(self):
        """SIGKILL to a responder, the worker or the drain running now, at random."""
        kinds = ["responder", "responder", "worker", "drain"]
        random.shuffle(kinds)
        for kind in kinds:
            if kind == "responder":
                pids = self.env.responder_pids()
                if not pids:
                    continue
                try:
                    os.kill(random.choice(pids), signal.SIGKILL)
                except ProcessLookupError:
                    continue
            elif kind == "worker":
                if self.worker is None or self.worker.poll() is not None:
                    continue
                self.worker.kill()
                self.worker.wait()
                self.start_worker()
            else:
                with self.lock:
                    p = self.drain
                if p is None or p.poll() is not None:
                    continue
                p.kill()
            self.kills[kind] += 1
            return True
        return False

    def kill_loop(self):
        gap = POST_SECONDS / max(1, KILLS)
        done = 0
        # A page counts as echoing once one of its echoes was seen (docs/worker.md "The call
        # in flight at a kill"): before that, a call a kill leaves unknown is repeated at
        # once. The kills start when the page with echoes has shown one, as a page
        # subscribed to message_echoes has long before any kill.
        page = self.env.c1.page_id
        deadline = time.time() + 30
        while time.time() < deadline and not self.stop.is_set():
            rows = self.env.query("SELECT count(*) AS n FROM echo WHERE page_id = '%s'" % page)
            if rows and rows[0]["n"] > 0:
                break
            time.sleep(0.1)
        while done < KILLS and not self.stop.is_set():
            time.sleep(random.uniform(0.3 * gap, 1.7 * gap))
            if self.kill_one():
                done += 1

    # ---- Facebook's side: webhooks ----

    def deliver(self, conn, body):
        """Posts a signed webhook until it is answered 200, as Facebook retries (bounded)."""
        sig = h.sign(conn.secret, body)
        self.env.signatures.add(sig)
        deadline = time.time() + 60
        while time.time() < deadline:
            req = urllib.request.Request(self.env.base + conn.path, data=body, method="POST",
                                         headers={"Content-Type": "application/json",
                                                  "X-Hub-Signature-256": sig})
            try:
                with urllib.request.urlopen(req, timeout=20) as r:
                    if r.status == 200:
                        with self.lock:
                            self.posts += 1
                        return True
            except (urllib.error.URLError, OSError):
                pass
            with self.lock:
                self.failed_posts += 1
            time.sleep(0.2)
        return False

    def client(self, convs, pause):
        """Posts each conversation's events in order, round robin, some twice."""
        sent = {c: [] for c in convs}
        for i in range(PER_CONV):
            for conn, psid in convs:
                ev = h.message_event(conn.page_id, psid, text="w%d" % i,
                                     mid="%s-%s-%d" % (conn.id, psid, i))
                body = json.dumps(h.webhook(h.entry(conn.page_id, [ev]))).encode()
                if self.deliver(conn, body):
                    with self.lock:
                        self.acked.add((psid, i))
                else:
                    with self.lock:
                        self.unacked.append((psid, i))
                sent[(conn, psid)].append(body)
                if random.random() < REDELIVER:
                    # The same bytes again, maybe much later: stored once.
                    if self.deliver(conn, random.choice(sent[(conn, psid)])):
                        with self.lock:
                            self.redeliveries += 1
                time.sleep(pause)


def pending(env):
    """Events not answered yet: pending in the queue, and acknowledged into the inbox but not
    moved yet (docs/store.md "Inbox")."""
    rows = env.query("SELECT (SELECT count(*) FROM events WHERE state = 0) +"
                     " (SELECT count(*) FROM inbox) AS n")
    return rows[0]["n"] if rows else -1


def echoes_settled(fake):
    return all(e["status"] == 200 or e["status"] == "dropped"
               for e in fake.ctl("GET", "echoes")["echoes"])


def answers(fake):
    """psid -> the message texts the fake took, in the order it took them."""
    out = {}
    for c in fake.calls("/messages"):
        b = c.get("body") or {}
        m = b.get("message")
        if c.get("method") != "POST" or c.get("status") != 200 or not isinstance(m, dict):
            continue
        out.setdefault((b.get("recipient") or {}).get("id"), []).append(m.get("text"))
    return out


def check(env, soak, took):
    fake = env.fake
    got = answers(fake)
    log = env.all_logs() + env.read(soak.worker_log) + env.read(soak.drain_log)
    stats = {}
    for page, conn in (("echoes", env.c1), ("no echoes", env.c2)):
        users = ["9%d%02d" % (1 if conn is env.c1 else 2, u) for u in range(USERS_PER_PAGE)]
        doubles, missing, disorder = 0, [], []
        for psid in users:
            texts = got.get(psid, [])
            want = ["r%d" % i for i in range(PER_CONV) if (psid, i) in soak.acked]
            doubles += len(texts) - len(set(texts))
            missing += [(psid, t) for t in want if t not in texts]
            first = list(dict.fromkeys(texts))
            if first != want:
                disorder.append((psid, first[:8], want[:8]))
        reasons = re.findall(r"connector=%s item=\d+ outbox=\d+: repeated a call whose outcome "
                             r"was unknown \(([^;]*);" % conn.id, log)
        print("# %s: repeated because: %s" % (page, {r: reasons.count(r) for r in set(reasons)}),
              flush=True)
        stats[page] = {
            "doubles": doubles,
            "echoed": len(re.findall(r"connector=%s item=\d+ outbox=\d+ mid=\S+: the call whose "
                                     r"outcome was unknown went through" % conn.id, log)),
            "repeated": len(re.findall(r"connector=%s item=\d+ outbox=\d+: repeated a call whose "
                                       r"outcome was unknown" % conn.id, log)),
        }
        tap.eq(missing, [], "%s: every acknowledged event answered" % page)
        tap.eq(disorder, [], "%s: each conversation answered in its events' order" % page)
        tap.ok(doubles <= stats[page]["repeated"],
               "%s: every answer sent twice was logged as a risk (%d sent twice, %d risked)"
               % (page, doubles, stats[page]["repeated"]))
    tap.eq(stats["echoes"]["doubles"], 0, "echoes on: no answer sent twice (%d calls of unknown "
           "outcome found sent by their echo)" % stats["echoes"]["echoed"])
    print("# echoes off: %d answers sent twice, %d calls of unknown outcome repeated "
          "(a diagnostic: without echoes a kill mid-call may double)"
          % (stats["no echoes"]["doubles"], stats["no echoes"]["repeated"]), flush=True)
    tap.eq(soak.unacked, [], "every delivery acknowledged in the end (Facebook's retries)")
    tap.eq(soak.errors[:5], [], "the test's own processes all started")
    ech = fake.ctl("GET", "echoes")["echoes"]
    slow = sorted(e.get("ms", 0) for e in ech)[-5:]
    print("# echoes: %d posted, %d retried, slowest deliveries %s ms"
          % (len(ech), sum(1 for e in ech if e.get("tries", 0) > 1), slow), flush=True)
    integrity = env.query("PRAGMA integrity_check")
    tap.eq([r.get("integrity_check") for r in integrity], ["ok"],
           "PRAGMA integrity_check: ok")
    tap.eq(env.sanitizer_errors(), [], "no sanitizer report in the logs")
    tap.eq(env.secrets_in_text(log), [], "no secret, token or signature in any log")
    answered = sum(len(set(v)) for k, v in got.items())
    print("# soak: %d events (%d conversations, %d redeliveries, %d deliveries retried), "
          "kills: %d responders, %d worker, %d drain; %d answered; sent twice: %d with echoes, "
          "%d without; unknown outcomes: %d found sent by echo, %d repeated (%d with echoes); "
          "%.1f s" % (len(soak.acked), 2 * USERS_PER_PAGE, soak.redeliveries,
                      soak.failed_posts, soak.kills["responder"], soak.kills["worker"],
                      soak.kills["drain"], answered, stats["echoes"]["doubles"],
                      stats["no echoes"]["doubles"],
                      stats["echoes"]["echoed"] + stats["no echoes"]["echoed"],
                      stats["echoes"]["repeated"] + stats["no echoes"]["repeated"],
                      stats["echoes"]["repeated"], took), flush=True)


def run(env):
    t0 = time.time()
    fake = env.fake
    fake.ctl("POST", "latency", {"ms": LATENCY_MS})
    fake.ctl("POST", "echoes", {"page_id": env.c1.page_id, "url": env.base + env.c1.path})
    soak = Soak(env)
    soak.start_worker()
    convs = [(env.c1, "91%02d" % u) for u in range(USERS_PER_PAGE)] + \
            [(env.c2, "92%02d" % u) for u in range(USERS_PER_PAGE)]
    random.shuffle(convs)
    groups = [convs[i::CLIENTS] for i in range(CLIENTS)]
    pause = POST_SECONDS * CLIENTS / float(EVENTS)
    drainer = threading.Thread(target=soak.drain_loop, daemon=True)
    killer = threading.Thread(target=soak.kill_loop, daemon=True)
    drainer.start()
    killer.start()
    with concurrent.futures.ThreadPoolExecutor(CLIENTS) as ex:
        list(ex.map(lambda g: soak.client(g, pause), groups))
    killer.join(POST_SECONDS + 60)
    tap.eq(sum(soak.kills.values()), KILLS, "%d SIGKILLs under load" % KILLS)
    soak.stop.set()
    drainer.join(70)
    if soak.worker.poll() is not None:
        soak.start_worker()
    # Everything restarted: drained until nothing is pending and every echo delivered.
    deadline = time.time() + SETTLE_S
    while time.time() < deadline:
        if pending(env) == 0 and echoes_settled(fake):
            break
        env.msgrctl("drain")
        time.sleep(0.5)
    tap.eq(pending(env), 0, "drained: nothing left pending")
    soak.worker.send_signal(signal.SIGTERM)
    try:
        soak.worker.wait(30)
    except subprocess.TimeoutExpired:
        soak.worker.kill()
        soak.worker.wait()
    check(env, soak, time.time() - t0)


def main():
    # A SIGTERM (tests/run's timeout, a person) still stops every server started here.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    env = None
    try:
        env = soak_env()
        run(env)
    except Exception as e:   # noqa: BLE001 - any failure is a reported failure
        tap.crash("kill soak", e)
    finally:
        if env is not None:
            env.cleanup()
    tap.done()


if __name__ == "__main__":
    main()
