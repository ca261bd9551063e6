#!/usr/bin/env python3
"""test_store_faults.py — the store failing under a running responder pool (issue 13, "Prove it
under faults and load", store faults;
docs/responder.md "Faults and attacks, tested").

A pool of 2 responders on one FastCGI socket (harness.py, as spawn-fcgi runs it), driven with
the real `cgi-fcgi`, its SQLite state file on a small tmpfs of its own (`mount -t tmpfs`: this
test needs root, as CI runs it, and says so as a failure otherwise). Four faults, one after the
other, on the same pool:

  full       the filesystem full (a filler file; the WAL truncated first so the next commit
             needs new blocks): SQLITE_FULL at commit
  locked     another writer holds the write lock (a Python sqlite3 BEGIN IMMEDIATE) past
             state.busy_timeout_ms
  read-only  the filesystem remounted read-only; responders started while it is (a process
             manager starting or replacing a process): they cannot open the store
  read-only file  the state file immutable (chattr +i: refused to root too), responders
             started while it is: SQLite would open it read-only; the store refuses that
             handle, so no handle opened during the fault (a borrower's) outlives it
  corrupt    garbage over the file's header and a page; responders started while it is

Each time: the webhook gets 503 (Retry-After: 1), nothing of it is stored (rows counted), the
fault is removed and the same processes answer 200 again (no restart), the redelivery is
stored once, and every event acknowledged so far is answered exactly once by `msgrctl drain`
through the fake Graph API (tests/fake_graph.py counts the Send API calls per user).

Then all five again with responder.threads = 4 (group commit): 8 concurrent copies of the
webhook all 503 while the fault holds, 8 concurrent redeliveries all 200 after, stored once.
Then the two faults a running pool meets (full, locked) again behind real lighttpd
(lighttpd/messenger.conf as test_lighttpd.py runs it: lighttpd starts the responders, as
www-data under root), the state file on its own tmpfs: the same checks, and the same two
responder processes throughout, lighttpd never restarted.
TAP lines out; bounded in time (about 30 s)."""
import fcntl
import json
import os
import shutil
import signal
import sqlite3
import struct
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "servers"))
from harness import Tap, entry, message_event, webhook, rand_digits, sign, wait_pid  # noqa: E402
from workerenv import WorkerEnv, drain_until, send_calls_to  # noqa: E402


def messages_to(fake, psid):
    """Send API calls that carried a message to psid (sender actions left out)."""
    return [b for b in send_calls_to(fake, psid) if "message" in b]

TMPFS_SIZE = "4m"
STORIES = """stories = (
  { name = "one"; triggers = ( "one" ); answers = ( { text = "1"; } ); },
  { name = "unknown"; fallback = true; answers = ( { text = "?"; } ); } );
"""


def sh(*argv):
    p = subprocess.run(list(argv), capture_output=True, timeout=30)
    if p.returncode != 0:
        raise RuntimeError("%s: exit %d: %s" % (" ".join(argv), p.returncode,
                                                (p.stdout + p.stderr).decode()[-500:]))


FS_IOC_GETFLAGS, FS_IOC_SETFLAGS, FS_IMMUTABLE_FL = 0x80086601, 0x40086602, 0x10


def set_immutable(path, on):
    """chattr +i / -i (tmpfs has the flag since Linux 6.0)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        buf = fcntl.ioctl(fd, FS_IOC_GETFLAGS, struct.pack("l", 0))
        flags = struct.unpack("l", buf)[0]
        flags = flags | FS_IMMUTABLE_FL if on else flags & ~FS_IMMUTABLE_FL
        fcntl.ioctl(fd, FS_IOC_SETFLAGS, struct.pack("l", flags))
    finally:
        os.close(fd)


def checkpoint(path):
    """Every commit into the main file, the WAL truncated to nothing."""
    db = sqlite3.connect(path, timeout=10)
    try:
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()
    finally:
        db.close()


class Faults:
    """The pool of harness.py, driven through cgi-fcgi; the store read as root."""
    name = "store faults"

    def __init__(self, t):
        self.t = t
        self.env = None
        self.mounted = False
        self.mnt = tempfile.mkdtemp(prefix="msgr-fs-")

    def setup(self):
        sh("mount", "-t", "tmpfs", "-o", "size=%s,mode=0700" % TMPFS_SIZE, "msgr-test",
           self.mnt)
        self.mounted = True
        self.db_path = os.path.join(self.mnt, "state.db")
        self.filler = os.path.join(self.mnt, "filler")
        self.env = WorkerEnv(nproc=2, budget_ms=0, stories=STORIES, state_path=self.db_path)
        self.c = self.env.c1
        self.acked = []          # psids whose webhook got 200: each must be answered once
        self.log_at = 0

    # ---- what differs between the pool here and lighttpd's ----

    def checkpoint(self):
        checkpoint(self.db_path)

    def hold_lock(self):
        """Another writer takes the write lock and keeps it; returns what releases it."""
        holder = sqlite3.connect(self.db_path, timeout=10, isolation_level=None)
        holder.execute("BEGIN IMMEDIATE")

        def release():
            holder.execute("ROLLBACK")
            holder.close()
        return release

    def log(self):
        return self.env.log()

    # ---- requests ----

    def body(self, psid):
        return webhook(entry(self.c.page_id, [message_event(self.c.page_id, psid, "one")]))

    def post(self, body):
        return self.env.post(self.c, body)

    def rows(self, where="1=1", args=()):
        if not os.path.exists(self.db_path):
            return 0
        self.env.settled()
        db = self.env.db()
        try:
            return db.execute("SELECT count(*) FROM events WHERE " + where, args).fetchone()[0]
        except sqlite3.OperationalError as e:
            if "no such table" in str(e):
                return 0            # no responder has created the schema yet
            raise
        finally:
            db.close()

    def good(self, n, what):
        """n new webhooks, each must get 200 and be stored."""
        before = self.rows()
        statuses = []
        for _ in range(n):
            psid = rand_digits(16)
            r = self.post(self.body(psid))
            statuses.append(r.status)
            if r.status == 200:
                self.acked.append(psid)
        self.t.eq(statuses, [200] * n, "%s: webhooks get 200" % what)
        self.t.eq(self.rows(), before + n, "%s: each of them stored" % what)

    def mark(self):
        self.log_at = len(self.log())

    def logged(self, what, words):
        """The responders' log since mark() names the fault: the 503s came from it. words:
        the text, or a tuple of texts any of which names it."""
        text = self.log()[self.log_at:]
        alts = words if isinstance(words, tuple) else (words,)
        self.t.ok(any(w in text for w in alts),
                  "%s: the responders log why (%s)" % (what, " or ".join(alts)), text[-1500:])

    def refused(self, what, body, tries=4, max_s=None):
        """The same webhook sent `tries` times (reaching both processes) while the fault
        holds: each gets 503 with Retry-After: 1; nothing stored. Returns the statuses."""
        statuses, slow = [], []
        for _ in range(tries):
            t0 = time.time()
            r = self.post(body)
            dt = time.time() - t0
            statuses.append((r.status, r.headers.get("retry-after")))
            if max_s is not None and dt > max_s:
                slow.append(round(dt, 2))
        self.t.eq(statuses, [(503, "1")] * tries, "%s: the webhook gets 503 with Retry-After: 1"
                  % what)
        if max_s is not None:
            self.t.eq(slow, [], "%s: each 503 comes within %.1f s" % (what, max_s))

    def recovered(self, what, body, psid, before):
        """The fault is gone: the redelivery gets 200 from the same processes, stored once."""
        r = self.post(body)
        self.t.eq(r.status, 200, "%s: once the fault is removed, the redelivery gets 200 "
                  "without a restart" % what)
        r2 = self.post(body)
        self.t.eq(r2.status, 200, "%s: a second redelivery gets 200 too" % what)
        n = self.rows("user_id = ?", (psid,))
        self.t.eq(n, 1, "%s: the refused event is stored once" % what)
        self.t.eq(self.rows(), before + 1, "%s: nothing else was stored" % what)
        if r.status == 200:
            self.acked.append(psid)
        self.good(3, what + ", after")

    def answered(self, what):
        """Every event acknowledged so far gets exactly one answer, through msgrctl drain."""
        fake = self.env.fake

        def all_once():
            return all(len(messages_to(fake, p)) >= 1 for p in self.acked)
        drain_until(self.env, all_once, timeout=20)
        counts = {p: len(messages_to(fake, p)) for p in self.acked}
        bad = {p[-4:]: n for p, n in counts.items() if n != 1}
        self.t.eq(bad, {}, "%s: every event acknowledged so far (%d) answered exactly once "
                  "by msgrctl drain" % (what, len(self.acked)))

    # ---- the pool ----

    def stop_pool(self, label):
        """SIGTERM the responders; each exits 0 (the check named label)."""
        for pid in self.env.children:
            os.kill(pid, signal.SIGTERM)
        codes = [wait_pid(pid, 10) for pid in self.env.children]
        self.env.children = []
        self.t.eq(codes, [0, 0], label)

    def restart_pool(self):
        """SIGTERM the responders (each exits 0) and start 2 new ones on the same socket, as
        a process manager replaces them; the socket stays open (requests queue)."""
        self.stop_pool("the responders stop with exit 0")
        self.env.start(2)

    def refused_by_new_pool(self, what, why):
        """A new pool of 2 meets the fault: a webhook is refused and the log says why.
        Returns the pool's pids, and the refused webhook's psid and body."""
        self.mark()
        self.env.start(2)
        pids = list(self.env.children)
        psid = rand_digits(16)
        body = self.body(psid)
        self.refused(what, body)
        self.logged(what, why)
        return pids, psid, body

    def same_pool_recovers(self, what, body, psid, before, pids):
        """Once the fault is gone the pool that met it stores the redelivery, unrestarted."""
        self.recovered(what, body, psid, before)
        self.t.eq(sorted(self.env.alive()), sorted(pids),
                  what + ": the same processes answer, all still alive")
        self.answered(what)

    # ---- the faults ----

    def full(self):
        what = self.name + ": filesystem full"
        self.good(3, what + ", before")
        before = self.rows()
        # The WAL keeps its blocks after a checkpoint; truncate it so the next commit needs
        # new ones, then fill every block left.
        self.checkpoint()
        fd = os.open(self.filler, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            for chunk in (1 << 16, 4096, 512, 1):
                try:
                    while os.write(fd, b"\0" * chunk) > 0:
                        pass
                except OSError:
                    pass
        finally:
            os.close(fd)
        try:
            self.full_on(what, before)
        finally:
            if os.path.exists(self.filler):
                os.unlink(self.filler)

    def full_on(self, what, before):
        st = os.statvfs(self.mnt)
        self.t.eq(st.f_bavail, 0, what + ": the filesystem is full")
        psid = rand_digits(16)
        body = self.body(psid)
        self.mark()
        self.refused(what, body)
        self.logged(what, "database or disk is full")
        self.t.eq(self.rows(), before, what + ": nothing stored while full (rows counted)")
        os.unlink(self.filler)
        self.recovered(what, body, psid, before)
        self.answered(what)

    def locked(self):
        what = self.name + ": write lock held by another writer"
        before = self.rows()
        release = self.hold_lock()
        try:
            psid = rand_digits(16)
            body = self.body(psid)
            # busy_timeout_ms is 300 (harness.Env); a 503 must not wait much longer.
            self.mark()
            self.refused(what, body, max_s=3.0)
            self.logged(what, "database is locked")
            # A reader is not held up by the writer (WAL).
            self.t.eq(self.rows(), before, what + ": nothing stored while locked (rows "
                      "counted)")
        finally:
            release()
        self.recovered(what, body, psid, before)
        self.answered(what)

    def readonly(self):
        what = self.name + ": read-only filesystem"
        before = self.rows()
        # A read-only remount needs no file open for writing: the pool is replaced while
        # the filesystem is read-only, so the new processes meet it when they open the store.
        self.stop_pool(what + ": the responders stop with exit 0")
        sh("mount", "-o", "remount,ro", self.mnt)
        try:
            pids, psid, body = self.refused_by_new_pool(
                what, ("cannot be opened: store failure: open: unable to open",
                       # the -wal and -shm files left by the last pool: SQLite opens the
                       # database read-only and refuses the first write instead
                       "attempt to write a readonly database"))
        finally:
            sh("mount", "-o", "remount,rw", self.mnt)
        self.t.eq(self.rows(), before, what + ": nothing stored while read-only (rows counted)")
        self.recovered(what, body, psid, before)
        self.t.eq(sorted(self.env.children), sorted(pids), what + ": the same processes answer")
        self.t.eq(sorted(self.env.alive()), sorted(pids), what + ": they are all still alive")
        self.answered(what)

    def immutable(self):
        what = self.name + ": read-only state file"
        before = self.rows()
        self.stop_pool(what + ": the responders stop with exit 0")
        # The immutable flag: refused even to root (as the pool runs here), unlike a mode.
        # SQLite opens such a file read-only without a word; the store refuses the handle.
        set_immutable(self.db_path, True)
        try:
            fd = None
            try:
                fd = os.open(self.db_path, os.O_RDWR)
            except OSError:
                pass
            finally:
                if fd is not None:
                    os.close(fd)
            self.t.eq(fd, None, what + ": the file cannot be opened for writing, even by root")
            pids, psid, body = self.refused_by_new_pool(
                what, "attempt to write a readonly database")
        finally:
            set_immutable(self.db_path, False)
        self.t.eq(self.rows(), before, what + ": nothing stored while read-only (rows counted)")
        self.same_pool_recovers(what, body, psid, before, pids)

    def corrupt(self):
        what = self.name + ": corrupt state file"
        before = self.rows()
        self.stop_pool(what + ": the responders stop with exit 0")
        # Every commit in the main file (the last process to close checkpoints the WAL),
        # kept aside as the operator's backup.
        checkpoint(self.db_path)
        backup = os.path.join(self.mnt, "state.backup")
        shutil.copyfile(self.db_path, backup)
        size = os.path.getsize(self.db_path)
        with open(self.db_path, "r+b") as f:
            f.write(os.urandom(512))            # the header and the start of page 1
            f.seek(size // 2)
            f.write(os.urandom(4096))          # and a page in the middle
        pids, psid, body = self.refused_by_new_pool(
            what, "cannot be opened: store failure: open: file is not a database")
        # The operator restores the backup in place of the damaged file.
        os.replace(backup, self.db_path)
        for sfx in ("-wal", "-shm"):
            if os.path.exists(self.db_path + sfx):
                os.unlink(self.db_path + sfx)
        self.t.eq(self.rows(), before, what + ": nothing stored while corrupt (rows counted)")
        self.same_pool_recovers(what, body, psid, before, pids)

    def finish(self):
        env = self.env
        codes = env.stop()
        self.t.ok(all(v == 0 for v in codes.values()), "%s: responders exit 0 on SIGTERM" %
                  self.name, codes)
        self.t.eq(env.sanitizer_errors(), [], "%s: no sanitizer report" % self.name)
        self.t.eq(env.secrets_in_log(), [], "%s: no secret in the logs" % self.name)

    def cleanup(self):
        try:
            if self.env is not None:
                self.env.cleanup()
        finally:
            if self.mounted:
                subprocess.run(["umount", "-l", self.mnt], capture_output=True, timeout=30)
                self.mounted = False
            shutil.rmtree(self.mnt, ignore_errors=True)


class ThreadFaults(Faults):
    """The same pool with responder.threads = 4 (group commit, lib/commit.c): 8 concurrent
    copies of the webhook while the fault holds all get 503; once it is removed, 8 concurrent
    redeliveries all get 200 and the event is stored once."""
    name = "store faults (threads = 4)"

    def setup(self):
        sh("mount", "-t", "tmpfs", "-o", "size=%s,mode=0700" % TMPFS_SIZE, "msgr-test",
           self.mnt)
        self.mounted = True
        self.db_path = os.path.join(self.mnt, "state.db")
        self.filler = os.path.join(self.mnt, "filler")
        self.env = WorkerEnv(nproc=2, budget_ms=0, stories=STORIES, state_path=self.db_path,
                             extra_config="responder = { threads = 4; };\n")
        self.c = self.env.c1
        self.acked = []
        self.log_at = 0

    def concurrently(self, body, n=8):
        out = []
        lock = threading.Lock()

        def go():
            try:
                r = self.post(body)
                got = (r.status, r.headers.get("retry-after"))
            except Exception as e:   # noqa: BLE001 - reported as the status
                got = (type(e).__name__, None)
            with lock:
                out.append(got)
        ths = [threading.Thread(target=go) for _ in range(n)]
        for th in ths:
            th.start()
        for th in ths:
            th.join(60)
        return sorted(out, key=str)

    def refused(self, what, body, tries=8, max_s=None):
        t0 = time.time()
        got = self.concurrently(body, tries)
        dt = time.time() - t0
        self.t.eq(got, [(503, "1")] * tries, "%s: %d concurrent copies of the webhook get 503 "
                  "with Retry-After: 1" % (what, tries))
        if max_s is not None:
            self.t.ok(dt <= max_s + 2, "%s: all within %.1f s" % (what, max_s + 2), dt)

    def recovered(self, what, body, psid, before):
        got = self.concurrently(body)
        self.t.eq([g[0] for g in got], [200] * 8, "%s: once the fault is removed, 8 concurrent "
                  "redeliveries get 200 without a restart" % what)
        self.t.eq(self.rows("user_id = ?", (psid,)), 1, "%s: the refused event is stored once"
                  % what)
        self.t.eq(self.rows(), before + 1, "%s: nothing else was stored" % what)
        if got and got[0][0] == 200:
            self.acked.append(psid)
        self.good(3, what + ", after")

    def finish(self):
        lines = [l for l in self.env.log().splitlines() if " req=" in l and "status=200" in l]
        self.t.ok(len(lines) >= 40 and all(" group=" in l for l in lines), self.name + ": every "
                  "stored request went through the group commit (group= on its log line)",
                  lines[-3:])
        super().finish()


class LighttpdFaults(Faults):
    """The same faults a running pool meets (full, locked) behind lighttpd as
    test_lighttpd.py runs it: lighttpd starts the responders (as www-data when root), the
    store on the tmpfs, given to that user; reads, the lock holder and msgrctl run as it."""
    name = "store faults (lighttpd)"

    def setup(self):
        import webenv
        self.webenv = webenv
        mnt = self.mnt
        owner = []

        class Env(webenv.WebEnv):
            def write_config(self, extra=""):
                super().write_config(extra)
                if not owner:
                    opts = "size=%s,mode=0700" % TMPFS_SIZE
                    if self.root:
                        opts += ",uid=%d,gid=%d" % (self.user[2], self.user[3])
                    sh("mount", "-t", "tmpfs", "-o", opts, "msgr-test", mnt)
                    owner.append(True)
                    self.db_path = os.path.join(mnt, "state.db")
                with open(self.conf_path) as f:
                    text = f.read()
                text = text.replace('path = "%s"; journal' % self.state_path,
                                    'path = "%s"; journal' % self.db_path)
                text = text.replace("budget_ms = %d;" % self.budget_ms, "budget_ms = 0;")
                with open(self.conf_path, "w") as f:
                    f.write(text)

        try:
            self.env = webenv.lighttpd_env(Env)
        finally:
            self.mounted = bool(owner)
        self.db_path = os.path.join(self.mnt, "state.db")
        self.filler = os.path.join(self.mnt, "filler")
        self.c = self.env.c1
        self.acked = []
        self.log_at = 0
        self.pids = self.env.responder_pids()
        self.t.eq(len(self.pids), 2, self.name + ": lighttpd started 2 responders")
        conf = open(self.env.conf_path).read()
        self.t.ok(self.db_path in conf and "budget_ms = 0;" in conf,
                  self.name + ": the store on the tmpfs, the worker off")

    def checkpoint(self):
        self.env.query("PRAGMA wal_checkpoint(TRUNCATE)")

    def hold_lock(self):
        code = ("import sqlite3, sys\n"
                "c = sqlite3.connect(sys.argv[1], timeout=10, isolation_level=None)\n"
                "c.execute('BEGIN IMMEDIATE')\n"
                "print('held', flush=True)\n"
                "sys.stdin.readline()\n"
                "c.execute('ROLLBACK')\n")
        py = "/usr/bin/python3" if os.access("/usr/bin/python3", os.X_OK) else sys.executable
        p = subprocess.Popen([py, "-c", code, self.db_path], stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, text=True, **self.env.as_service())
        if p.stdout.readline().strip() != "held":
            p.kill()
            p.wait()
            raise RuntimeError("the lock holder did not take the lock")

        def release():
            try:
                p.communicate("\n", timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        return release

    def log(self):
        return self.env.responder_log()

    def post(self, body):
        data = json.dumps(body).encode()
        sig = sign(self.c.secret, data)
        self.env.signatures.add(sig)
        return self.webenv.post(self.env, "", self.c, data, sig)

    def rows(self, where="1=1", args=()):
        for a in args:                       # digits only (psids): safe to inline
            where = where.replace("?", "'%s'" % str(a).replace("'", ""), 1)
        self.env.settled()
        return self.env.query("SELECT count(*) AS n FROM events WHERE " + where)[0]["n"]

    def finish(self):
        self.t.eq(self.env.responder_pids(), self.pids, self.name + ": the same 2 responders "
                  "throughout (none died and was respawned, lighttpd not restarted)")
        self.webenv.finish(self.t, self.env)


def main():
    t = Tap()
    if os.geteuid() != 0:
        t.ok(False, "store faults: this test mounts a tmpfs and needs root (uid %d); CI runs "
             "it as root" % os.geteuid())
        return t.done()
    f = None
    try:
        f = Faults(t)
        f.setup()
        for fn in (f.full, f.locked, f.readonly, f.immutable, f.corrupt):
            try:
                fn()
            except Exception as e:   # noqa: BLE001 - a crash is a failure, the run goes on
                t.crash(fn.__name__, e)
        f.finish()
    except Exception as e:   # noqa: BLE001
        t.crash("store faults", e)
    finally:
        if f is not None:
            f.cleanup()
    f = None
    try:
        f = ThreadFaults(t)
        f.setup()
        for fn in (f.full, f.locked, f.readonly, f.immutable, f.corrupt):
            try:
                fn()
            except Exception as e:   # noqa: BLE001
                t.crash("threads " + fn.__name__, e)
        f.finish()
    except Exception as e:   # noqa: BLE001
        t.crash("store faults (threads = 4)", e)
    finally:
        if f is not None:
            f.cleanup()
    f = None
    try:
        f = LighttpdFaults(t)
        f.setup()
        for fn in (f.full, f.locked):
            try:
                fn()
            except Exception as e:   # noqa: BLE001
                t.crash("lighttpd " + fn.__name__, e)
        f.finish()
    except Exception as e:   # noqa: BLE001
        t.crash("store faults (lighttpd)", e)
    finally:
        if f is not None:
            f.cleanup()
    return t.done()


if __name__ == "__main__":
    sys.exit(main())
