#!/usr/bin/env python3
"""test_group_commit.py — responder.threads > 1: request threads per process whose events are
committed together (lib/commit.c). A pool of 2 processes x 4 threads on one FastCGI socket,
driven by many concurrent `cgi-fcgi` clients: every event stored exactly once and only
acknowledged once stored, duplicates across concurrent requests stored once, a locked store
failing the whole group with 503 and nothing half-stored, SIGTERM under load (exit 0, every
200 stored), a thread held past the stop's grace (exit 0 anyway), the config key's bounds, and
plain CGI staying single-threaded. Prints TAP lines.
"""
import concurrent.futures
import json
import os
import re
import signal
import sqlite3
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fcgiclient  # noqa: E402
import harness as h  # noqa: E402

tap = h.Tap()
THREADS = 4
# src/fcgi_threads.c OBJECTS_PER_THREAD: requests a thread can have waiting for an answer.
OBJECTS_PER_THREAD = 4


def mids_of(rows):
    out = []
    for r in rows:
        try:
            o = json.loads(r["raw"])
        except (TypeError, ValueError):
            continue
        for k in ("message", "postback"):
            if isinstance(o.get(k), dict) and "mid" in o[k]:
                out.append(o[k]["mid"])
    return out


def pool(nproc=2, threads=THREADS, **kw):
    e = h.Env(start=False, **kw)
    e.write_config("responder = { threads = %d; };" % threads)
    e.start(nproc)
    return e


def body_with(c, mids, psid="8100"):
    return h.webhook(h.entry(c.page_id, [h.message_event(c.page_id, psid, mid=m) for m in mids]))


def line_fields(line):
    return dict(re.findall(r" ([a-z_]+)=(\"[^\"]*\"|\S+)", line))


def test_many(e, n=400, clients=16):
    c = e.c1
    lines0 = len(e.request_lines())
    # Two events per request, each with its own mid.
    batches = [[h.uniq("gc"), h.uniq("gc")] for _ in range(n)]

    def one(mids):
        return e.post(c, body_with(c, mids, psid="81%02d" % (hash(mids[0]) % 50))).status

    t0 = time.time()
    with concurrent.futures.ThreadPoolExecutor(clients) as ex:
        statuses = list(ex.map(one, batches))
    took = time.time() - t0
    tap.eq(statuses.count(200), n, "%d concurrent POSTs (%d clients, 2 procs x %d threads): all 200"
           " (%.1fs)" % (n, clients, THREADS, took))
    stored = mids_of(e.events())
    want = [m for b in batches for m in b]
    tap.eq(len(stored), len(want), "%d events stored" % len(want))
    tap.ok(all(stored.count(m) == 1 for m in want), "every event stored exactly once")
    lines = e.request_lines()[lines0:]
    tap.eq(len(lines), n, "one log line per request")
    ids = [re.search(r"req=(\S+)", l).group(1) for l in lines]
    tap.eq(len(set(ids)), len(ids), "request ids unique across threads and processes")
    tap.ok(all(re.fullmatch(r"[0-9a-f]+-[0-9a-f]+-[0-9a-f]+", i) for i in ids),
           "request ids are pid-thread-counter", ids[:5])
    pids = {i.split("-")[0] for i in ids}
    tids = {tuple(i.split("-")[:2]) for i in ids}
    tap.ok(len(pids) == 2 and len(tids) > 2,
           "served by both processes and several threads (%d threads seen)" % len(tids), tids)
    groups = [int(line_fields(l).get("group", "0")) for l in lines]
    # At most every request in flight on the host: each process's request objects
    # (OBJECTS_PER_THREAD per thread, the answers written by its answerer thread).
    tap.ok(all(1 <= g <= 2 * THREADS * OBJECTS_PER_THREAD for g in groups),
           "every POST line names its group size",
           [g for g in groups if not 1 <= g <= 2 * THREADS * OBJECTS_PER_THREAD][:20])
    tap.ok(max(groups) >= 2, "requests shared a transaction (largest group %d)" % max(groups))
    exact = [line_fields(l) for l in lines if "counts=group" not in l]
    tap.ok(all(int(f["stored"]) == 2 and int(f["dup"]) == 0 for f in exact),
           "each request's line counts its own 2 new events", [f for f in exact
                                                               if f["stored"] != "2"][:3])


def test_duplicates(e, n=48, clients=16):
    """Concurrent requests carrying the same events (Facebook redelivering while the first
    delivery is still being stored): one row each, every request 200."""
    c = e.c1
    shared = [h.uniq("dup") for _ in range(3)]
    own = [h.uniq("own") for _ in range(n)]
    lines0 = len(e.request_lines())

    def one(i):
        return e.post(c, body_with(c, shared + [own[i]], psid="8200")).status

    with concurrent.futures.ThreadPoolExecutor(clients) as ex:
        statuses = list(ex.map(one, range(n)))
    tap.eq(statuses.count(200), n, "duplicates across concurrent requests: all 200")
    stored = mids_of(e.events())
    tap.eq([stored.count(m) for m in shared], [1, 1, 1], "each shared event stored once")
    tap.ok(all(stored.count(m) == 1 for m in own), "each request's own event stored once")
    fields = [line_fields(l) for l in e.request_lines()[lines0:]]
    tap.eq(len(fields), n, "duplicates: one log line per request")
    exact = [f for f in fields if "counts" not in f]
    tap.ok(all(int(f["stored"]) + int(f["dup"]) == 4 for f in exact),
           "exact lines: stored + dup is the request's 4 events", exact[:3])
    tap.ok(sum(int(f["stored"]) for f in exact) <= len(shared) + n,
           "exact lines never count an event new twice")
    grouped = [f for f in fields if "counts" in f]
    tap.ok(all(int(f["stored"]) + int(f["dup"]) >= 4 for f in grouped),
           "counts=group lines carry the group's totals", grouped[:3])


def test_locked(e, n=12):
    """Another process holds the write lock: every request of the group gets 503 within the
    busy timeout (not one timeout per group queued behind), nothing is stored, and the same
    requests retried once it is released are stored once."""
    c = e.c1
    mids = [h.uniq("lk") for _ in range(n)]
    before = e.counts()
    lines0 = len(e.request_lines())
    holder = sqlite3.connect(e.db_path, timeout=5, isolation_level=None)
    results = {}
    try:
        holder.execute("BEGIN EXCLUSIVE")

        def one(m):
            t0 = time.time()
            r = e.post(c, body_with(c, [m], psid="8300"))
            results[m] = time.time() - t0
            return r

        with concurrent.futures.ThreadPoolExecutor(n) as ex:
            rs = list(ex.map(one, mids))
        tap.eq([r.status for r in rs], [503] * n, "locked store: every request of the group -> 503")
        tap.ok(all(r.headers.get("retry-after") == "1" for r in rs), "locked store: Retry-After: 1")
        slowest = max(results.values())
        tap.ok(slowest < 3.0, "locked store: the slowest 503 took %.2fs (busy timeout %d ms)"
               % (slowest, e.busy_timeout_ms))
        n_ev = holder.execute("SELECT count(*) FROM events").fetchone()[0]
        n_q = holder.execute("SELECT count(*) FROM quarantine").fetchone()[0]
        tap.eq((n_ev, n_q), before, "locked store: nothing stored")
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    notes = [line_fields(l).get("note", "") for l in e.request_lines()[lines0:]]
    tap.ok(len(notes) == n and all("store:" in x for x in notes), "locked store: each line says why",
           notes)
    with concurrent.futures.ThreadPoolExecutor(n) as ex:
        rs = list(ex.map(lambda m: e.post(c, body_with(c, [m], psid="8300")), mids))
    tap.eq([r.status for r in rs], [200] * n, "lock released: the retried requests -> 200")
    stored = mids_of(e.events())
    tap.ok(all(stored.count(m) == 1 for m in mids), "lock released: each event stored once")


def test_verify_and_quarantine(e):
    """The other answers are unchanged with threads: verification, 403, quarantine."""
    c = e.c1
    q = "hub.mode=subscribe&hub.verify_token=%s&hub.challenge=777" % c.webhook_token
    r = e.verify(c, q)
    tap.eq((r.status, r.body), (200, b"777"), "threads: verification 200")
    r = e.post(c, b"{}", signature="sha256=" + "0" * 64)
    tap.eq(r.status, 403, "threads: wrong signature 403")
    _, q0 = e.counts()
    r = e.post(c, b"not json")
    tap.eq(r.status, 200, "threads: non-JSON quarantined with 200")
    tap.eq(e.counts()[1], q0 + 1, "threads: one quarantine row")


def test_sigterm_under_load():
    """SIGTERM while 16 clients keep posting: every process exits 0, every request that got 200
    has its events stored, and no thread is left hanging in accept."""
    e = pool(busy_timeout_ms=1000)
    sent = []            # (mids, status)
    lock = threading.Lock()
    stop = threading.Event()
    c = e.c1
    try:
        def client():
            while not stop.is_set():
                mids = [h.uniq("st"), h.uniq("st")]
                try:
                    r = e.post(c, body_with(c, mids, psid="8400"), count=False)
                    status = r.status
                except subprocess.TimeoutExpired:
                    status = None
                with lock:
                    sent.append((mids, status))

        clients = [threading.Thread(target=client) for _ in range(16)]
        for t in clients:
            t.start()
        time.sleep(1.5)
        pids = list(e.children)
        for pid in pids:
            os.kill(pid, signal.SIGTERM)
        stop.set()
        t0 = time.time()
        codes = {pid: h.wait_pid(pid, 10) for pid in pids}
        took = time.time() - t0
        e.children = []
        # Connections queued on the socket after the stop are reset once nobody holds it.
        e.listener.close()
        e.listener = None
        for t in clients:
            t.join(h.REQUEST_TIMEOUT + 5)
        tap.ok(list(codes.values()) == [0, 0], "SIGTERM under load: both processes exit 0 (%.2fs)"
               % took, codes)
        tap.ok(took < 5.0, "SIGTERM under load: the pool stops within 5 s (%.2fs)" % took)
        ok = [m for mids, s in sent for m in mids if s == 200]
        stored = set(mids_of(e.events()))
        missing = [m for m in ok if m not in stored]
        tap.ok(len(ok) > 50 and not missing, "SIGTERM under load: all %d events answered 200 are"
               " stored" % len(ok), missing[:5])
        others = sorted({str(s) for _, s in sent if s != 200})
        tap.ok(set(others) <= {"None", "503"}, "SIGTERM under load: nothing but 200, 503 or no"
               " answer", others)
        log = e.log()
        # A thread held past the stop's grace (libfcgi's graceful close waits up to 2 s a read
        # for the peer; a loaded machine gets there) makes the process exit 0 anyway, saying
        # so: docs/responder.md "Signals". Either line is a stop the process reported.
        stops = re.findall(r"stopping after \d+ requests \(4 threads\)|stopping: \d+ threads "
                           r"still busy after \d+ ms, exiting anyway", log)
        tap.eq(len(stops), 2, "SIGTERM under load: each process logs its stop")
        tap.ok(not e.sanitizer_errors(), "sanitizers: no report (SIGTERM under load)",
               e.sanitizer_errors())
    finally:
        stop.set()
        e.cleanup()


def test_sigterm_idle():
    e = pool(nproc=2, threads=8)
    try:
        r = e.verify(e.c1, "hub.mode=subscribe&hub.verify_token=%s&hub.challenge=1" %
                     e.c1.webhook_token)
        tap.eq(r.status, 200, "8 threads: answers")
        time.sleep(0.3)
        t0 = time.time()
        codes = e.stop(timeout=10)
        took = time.time() - t0
        tap.ok(list(codes.values()) == [0, 0] and took < 3.0,
               "SIGTERM while idle: 8 threads blocked in accept wake, exit 0 (%.2fs)" % took, codes)
    finally:
        e.cleanup()


def test_sigterm_held_past_grace():
    """A client that sends half its body and waits holds one thread in serve: the stop gives
    up after its grace and the process exits 0 anyway, the other threads (ended, never
    joined) no leak to ThreadSanitizer."""
    e = pool(nproc=1, threads=4)
    held = None
    try:
        c = e.c1
        body = json.dumps(body_with(c, [h.uniq("held")])).encode()
        params = {"REQUEST_METHOD": "POST", "PATH_INFO": c.path, "SCRIPT_NAME": "",
                  "CONTENT_LENGTH": str(len(body)),
                  "HTTP_X_HUB_SIGNATURE_256": h.sign(c.secret, body)}
        whole = fcgiclient.request_bytes(params, [body])
        held = fcgiclient.connect(e.sock_path)
        held.sendall(whole[:len(whole) - len(body) // 2 - 8])   # half the body, no end
        r = e.post(c, body_with(c, [h.uniq("other")]))
        tap.eq(r.status, 200, "held past grace: the other threads still answer")
        time.sleep(0.3)
        t0 = time.time()
        codes = e.stop(timeout=10)
        took = time.time() - t0
        tap.ok(list(codes.values()) == [0] and 2.5 < took < 6.0,
               "held past grace: exit 0 after the grace, not before (%.2fs)" % took, codes)
        tap.ok(re.search(r"stopping: thread \d+ still in serve after \d+ ms", e.log()),
               "held past grace: the log names the thread held in serve", e.log()[-1500:])
        tap.ok(re.search(r"stopping: 1 threads still busy after \d+ ms, exiting anyway", e.log()),
               "held past grace: the log says it exits anyway", e.log()[-1500:])
        tap.ok(not e.sanitizer_errors(), "sanitizers: no report (held past grace)",
               e.sanitizer_errors())
    finally:
        if held is not None:
            held.close()
        e.cleanup()


class Held:
    """The state file's write lock, held by another process's connection until release()."""

    def __init__(self, e):
        self.db = sqlite3.connect(e.db_path, timeout=5, isolation_level=None)
        self.db.execute("BEGIN EXCLUSIVE")

    def release(self):
        if self.db is not None:
            self.db.execute("ROLLBACK")
            self.db.close()
            self.db = None


def test_answers_wait_for_the_commit():
    """With the host's committer, a request thread hands its events over and accepts the
    next request (src/fcgi_threads.c): while another process holds the write lock, more POSTs
    than there are request threads are taken, none is answered before its events are stored,
    and a verification is answered meanwhile. Once the lock goes, each POST gets 200 and its
    event is stored once."""
    hold = 2.0
    e = pool(nproc=2, threads=THREADS, busy_timeout_ms=3000)
    c = e.c1
    n = 3 * THREADS   # 12 POSTs for 8 request threads
    held = None
    try:
        # A request thread opening a connection to the committer waits for its hello, which
        # the committer answers between transactions: bursts first, so that each process has
        # connections enough, as under any steady load.
        warm = []
        for _ in range(3):
            with concurrent.futures.ThreadPoolExecutor(2 * n) as ex:
                warm += list(ex.map(lambda m: e.post(c, body_with(c, [m])).status,
                                    [h.uniq("w0") for _ in range(2 * n)]))
        tap.eq(warm, [200] * (6 * n), "waiting answers: bursts choose the committer and open "
               "the processes' connections to it")
        mids = [h.uniq("wa") for _ in range(n)]
        took = {}
        held = Held(e)
        t0 = time.time()

        def one(m):
            r = e.post(c, body_with(c, [m], psid="8500"))
            took[m] = time.time() - t0
            return r.status

        ex = concurrent.futures.ThreadPoolExecutor(n)
        futs = [ex.submit(one, m) for m in mids]
        time.sleep(0.6)
        tap.ok(not any(f.done() for f in futs), "waiting answers: no POST answered while its "
               "events cannot be stored", [f.result() for f in futs if f.done()])
        q = "hub.mode=subscribe&hub.verify_token=%s&hub.challenge=55" % c.webhook_token
        g0 = time.time()
        r = e.verify(c, q)
        g = time.time() - g0
        tap.ok(r.status == 200 and r.body == b"55" and g < hold / 2,
               "waiting answers: a verification answered meanwhile (%.2fs) with %d POSTs "
               "waiting on %d request threads" % (g, n, 2 * THREADS), (r.status, r.body))
        time.sleep(max(0.0, hold - (time.time() - t0)))
        held.release()
        statuses = [f.result(timeout=h.REQUEST_TIMEOUT + 5) for f in futs]
        ex.shutdown()
        tap.eq(statuses, [200] * n, "waiting answers: every POST 200 once the lock went")
        tap.ok(min(took.values()) >= hold - 0.05, "waiting answers: none answered before the "
               "lock went (first after %.2fs, held %.1fs)" % (min(took.values()), hold))
        stored = mids_of(e.events())
        tap.ok(all(stored.count(m) == 1 for m in mids), "waiting answers: each event stored "
               "once", [m for m in mids if stored.count(m) != 1][:5])
        codes = e.stop()
        tap.ok(all(v == 0 for v in codes.values()), "waiting answers: the pool exits 0", codes)
        tap.ok(not e.sanitizer_errors(), "sanitizers: no report (waiting answers)",
               e.sanitizer_errors())
    finally:
        if held is not None:
            held.release()
        e.cleanup()


def test_sigterm_with_answers_pending():
    """SIGTERM while POSTs wait for their commit (another process holds the lock): the stop
    waits for their answers (within its grace), each is 200 with its event stored once, and
    both processes exit 0."""
    e = pool(nproc=2, threads=THREADS, busy_timeout_ms=3000)
    c = e.c1
    n = 6
    held = None
    try:
        tap.eq(e.post(c, body_with(c, [h.uniq("p0")])).status, 200,
               "stop with answers pending: a first POST chooses the committer")
        mids = [h.uniq("pe") for _ in range(n)]
        held = Held(e)
        ex = concurrent.futures.ThreadPoolExecutor(n)
        futs = [ex.submit(lambda m: e.post(c, body_with(c, [m], psid="8600"),
                                           count=False).status, m) for m in mids]
        time.sleep(0.6)
        pids = list(e.children)
        for pid in pids:
            os.kill(pid, signal.SIGTERM)
        time.sleep(0.5)
        tap.ok(set(pids) <= set(e.alive()) and not any(f.done() for f in futs),
               "stop with answers pending: the processes wait for the answers")
        held.release()
        codes = {pid: h.wait_pid(pid, 10) for pid in pids}
        e.children = []
        statuses = [f.result(timeout=h.REQUEST_TIMEOUT + 5) for f in futs]
        ex.shutdown()
        tap.eq(list(codes.values()), [0, 0], "stop with answers pending: both exit 0")
        tap.eq(statuses, [200] * n, "stop with answers pending: each POST answered 200")
        stored = mids_of(e.events())
        tap.ok(all(stored.count(m) == 1 for m in mids), "stop with answers pending: each event "
               "stored once", [m for m in mids if stored.count(m) != 1])
        tap.ok(not e.sanitizer_errors(), "sanitizers: no report (stop with answers pending)",
               e.sanitizer_errors())
    finally:
        if held is not None:
            held.release()
        e.cleanup()


def test_config_bounds():
    e = h.Env(start=False)
    try:
        c = e.c1
        for value, what in (("0", "between 1 and 64"), ("65", "between 1 and 64"),
                            ('"4"', "must be an integer")):
            e.write_config("responder = { threads = %s; };" % value)
            env = {"REQUEST_METHOD": "GET", "PATH_INFO": c.path}
            env.update(e.child_env_extra())
            r, err = h.run_cgi(env, conf=e.conf_path)
            tap.ok(r.status == 500 and "responder.threads" in err and what in err,
                   "responder.threads = %s refused, named" % value, err[-600:])
        e.write_config("responder = { threads = 4; tredas = 1; };")
        r, err = h.run_cgi({"REQUEST_METHOD": "GET", "PATH_INFO": c.path}, conf=e.conf_path)
        tap.ok(r.status == 500 and "unknown key 'responder.tredas'" in err,
               "unknown key in responder named", err[-600:])
        # Plain CGI is one request per process: threads is accepted and ignored.
        e.write_config("responder = { threads = 4; };")
        mid = h.uniq("cgi")
        body = json.dumps(body_with(c, [mid])).encode()
        env = {"REQUEST_METHOD": "POST", "PATH_INFO": c.path, "CONTENT_LENGTH": str(len(body)),
               "HTTP_X_HUB_SIGNATURE_256": h.sign(c.secret, body)}
        env.update(e.child_env_extra())
        r, err = h.run_cgi(env, body=body, conf=e.conf_path)
        tap.ok(r.rc == 0 and r.status == 200 and re.search(r"req=[0-9a-f]+-1 ", err)
               and "group=" not in err, "CGI with threads = 4: one request, the usual log line",
               (r, err))
        tap.eq(mids_of(e.events()).count(mid), 1, "CGI with threads = 4: event stored")
    finally:
        e.cleanup()


def test_one_thread_unchanged():
    """threads = 1 (explicit) is the classic loop: pid-counter ids, no group field."""
    e = pool(nproc=1, threads=1)
    try:
        c = e.c1
        r = e.post(c, body_with(c, [h.uniq("one")]))
        tap.eq(r.status, 200, "threads = 1: POST 200")
        lines = e.request_lines()
        tap.ok(len(lines) == 1 and re.search(r"req=[0-9a-f]+-1 ", lines[0]) and
               "group=" not in lines[0], "threads = 1: the log line as before", lines)
        codes = e.stop()
        tap.eq(list(codes.values()), [0], "threads = 1: exit 0")
        tap.ok("stopping after 1 requests\n" in e.log(), "threads = 1: the usual stop line")
    finally:
        e.cleanup()


def worker_env_ends(env, name):
    """A WorkerEnv's last checks: no violation at the fake Graph API, exit 0, no sanitizer
    report."""
    tap.eq(env.fake.violations(), [], "%s: the fake Graph API saw no violation" % name)
    codes = env.stop()
    tap.ok(all(v == 0 for v in codes.values()), "%s: exit 0" % name, codes)
    tap.ok(not env.sanitizer_errors(), "sanitizers: no report (%s)" % name,
           env.sanitizer_errors())


def test_worker_with_threads():
    """The worker after the response with 2 processes x 4 threads (one thread of a process
    runs it at a time, on its own store handle): 8 users send six messages each, all users at
    once, and each user gets the six answers once each, in order, with no `msgrctl drain`.
    A user's next message is posted once the previous one is acknowledged, as Facebook
    delivers one person's messages: of two posted at once, either may arrive first, and the
    first may be answered before the other has arrived."""
    from workerenv import WorkerEnv, wait_for
    env = WorkerEnv(nproc=2, extra_config="responder = { threads = %d; };" % THREADS)
    try:
        c = env.c1
        words = ["one", "two", "three", "four", "five", "six"]
        users = [h.rand_digits(16) for _ in range(8)]
        base = h.now_ms()

        def conversation(u):
            return [env.post(c, h.webhook(h.entry(c.page_id, [
                h.message_event(c.page_id, u, w, ts=base + i * 10)]))).status
                for i, w in enumerate(words)]

        with concurrent.futures.ThreadPoolExecutor(len(users)) as ex:
            statuses = [s for per_user in ex.map(conversation, users) for s in per_user]
        tap.eq(statuses.count(200), len(words) * len(users),
               "worker with threads: %d POSTs 200" % (len(words) * len(users)))
        done = wait_for(lambda: sum(len(env.fake.texts(u)) for u in users) >= 6 * len(users),
                        timeout=60)
        time.sleep(1.0)   # anything sent twice would show by now
        texts = {u: env.fake.texts(u) for u in users}
        tap.ok(done and all(t == ["1", "2", "3", "4", "5", "6"] for t in texts.values()),
               "worker with threads: every user answered once per message, in order, by the"
               " responders alone", texts)
        worker_env_ends(env, "worker with threads")
    finally:
        env.cleanup()


def test_worker_lone_webhook():
    """With answers written by the answerer thread, the request thread's after-response work
    runs before its events are stored: a lone webhook, coming when no other request does,
    is still answered by the responders' worker (a thread of the pool is nudged), each one
    before the next is posted, and within the second in which the idle poll would not run."""
    from workerenv import WorkerEnv, wait_for
    env = WorkerEnv(nproc=2, extra_config="responder = { threads = %d; };" % THREADS)
    try:
        c = env.c1
        u = h.rand_digits(16)
        base = h.now_ms()
        got = []
        for i, w in enumerate(["one", "two", "three"]):
            r = env.post(c, h.webhook(h.entry(c.page_id, [
                h.message_event(c.page_id, u, w, ts=base + i * 10)])))
            t0 = time.time()
            ok = r.status == 200 and wait_for(lambda: len(env.fake.texts(u)) > i, timeout=10)
            got.append((r.status, ok, round(time.time() - t0, 2)))
            time.sleep(0.3)
        tap.ok(all(s == 200 and ok for s, ok, _ in got) and env.fake.texts(u) == ["1", "2", "3"],
               "lone webhooks: each answered by the responders before the next is posted",
               (got, env.fake.texts(u)))
        worker_env_ends(env, "lone webhooks")
    finally:
        env.cleanup()


def test_worker_helpers():
    """2 processes x 8 threads on SQLite: the thread leading a run of a process's worker works
    it as 8 fibers, each a worker of its own, and one run works on the host at a time (the
    other process leaves its events to it). With each message answered 150 ms late by the
    fake Graph API, a burst of 24 users finds more than 2 messages in flight at once (one
    worker per process could not) and never more than 8 (one process's fibers)."""
    from workerenv import WorkerEnv, wait_for
    env = WorkerEnv(nproc=2, extra_config="responder = { threads = 8; };")
    try:
        c = env.c1
        env.fake.ctl("POST", "latency", {"ms": 150})
        users = [h.rand_digits(16) for _ in range(24)]

        def one(u):
            return env.post(c, h.webhook(h.entry(c.page_id, [
                h.message_event(c.page_id, u, "one")]))).status

        with concurrent.futures.ThreadPoolExecutor(12) as ex:
            statuses = list(ex.map(one, users))
        tap.eq(statuses.count(200), len(users), "worker helpers: %d POSTs 200" % len(users))
        done = wait_for(lambda: all(env.fake.texts(u) for u in users), timeout=60)
        time.sleep(1.0)   # anything sent twice would show by now
        texts = {u: env.fake.texts(u) for u in users}
        tap.ok(done and all(t == ["1"] for t in texts.values()),
               "worker helpers: every user answered once", texts)
        # Each message call lasts at least 150 ms: the ones started in the 140 ms up to one's
        # start are all still in flight then (a count that can only be too low).
        starts = sorted(x["time"] for x in env.fake.sends()
                        if isinstance((x.get("body") or {}).get("message"), dict))
        most = max((sum(1 for t in starts if s - 0.14 < t <= s) for s in starts), default=0)
        tap.ok(3 <= most <= 8, "worker helpers: up to 8 messages in flight at once, one "
               "process's fibers, more than one worker sends (%d)" % most, starts)
        worker_env_ends(env, "worker helpers")
    finally:
        env.cleanup()


def main():
    e = pool()
    try:
        for t in (test_many, test_duplicates, test_locked, test_verify_and_quarantine):
            try:
                t(e)
            except Exception as exc:  # one crash is one failure; the rest still run
                tap.crash(t.__name__, exc)
        tap.eq(len(e.alive()), 2, "both threaded responders survived every request")
        found = e.secrets_in_log()
        tap.ok(not found, "log: no secret, token or signature", found)
        codes = e.stop()
        tap.ok(all(v == 0 for v in codes.values()), "SIGTERM: the threaded pool exits 0", codes)
        tap.ok(not e.sanitizer_errors(), "sanitizers: no report in the responders' log",
               e.sanitizer_errors())
    finally:
        e.cleanup()
    for t in (test_answers_wait_for_the_commit, test_sigterm_with_answers_pending,
              test_sigterm_under_load, test_sigterm_idle, test_sigterm_held_past_grace,
              test_worker_with_threads, test_worker_lone_webhook, test_worker_helpers,
              test_config_bounds, test_one_thread_unchanged):
        try:
            t()
        except Exception as exc:
            tap.crash(t.__name__, exc)
    tap.done()


if __name__ == "__main__":
    main()
