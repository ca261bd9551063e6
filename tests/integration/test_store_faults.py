#!/usr/bin/env python3
"""test_store_faults.py — the store failing under a running responder pool (issue 13, "Prove it
under faults and load", store faults; docs/responder.md "Store faults").

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
             started while it is: SQLite opens it read-only and the first write fails
  corrupt    garbage over the file's header and a page; responders started while it is

Each time: the webhook gets 503 (Retry-After: 1), nothing of it is stored (rows counted), the
fault is removed and the same processes answer 200 again (no restart), the redelivery is
stored once, and every event acknowledged so far is answered exactly once by `msgrctl drain`
through the fake Graph API (tests/fake_graph.py counts the Send API calls per user).
TAP lines out; bounded in time (about 20 s)."""
import fcntl
import os
import shutil
import signal
import sqlite3
import struct
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import Tap, entry, message_event, webhook, rand_digits, wait_pid  # noqa: E402
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

    # ---- requests ----

    def body(self, psid):
        return webhook(entry(self.c.page_id, [message_event(self.c.page_id, psid, "one")]))

    def post(self, body):
        return self.env.post(self.c, body)

    def rows(self, where="1=1", args=()):
        db = self.env.db()
        try:
            return db.execute("SELECT count(*) FROM events WHERE " + where, args).fetchone()[0]
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
        self.log_at = len(self.env.log())

    def logged(self, what, words):
        """The responders' log since mark() names the fault: the 503s came from it."""
        text = self.env.log()[self.log_at:]
        self.t.ok(words in text, "%s: the responders log why (%s)" % (what, words),
                  text[-1500:])

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

    def restart_pool(self):
        """SIGTERM the responders (each exits 0) and start 2 new ones on the same socket, as
        a process manager replaces them; the socket stays open (requests queue)."""
        codes = []
        for pid in self.env.children:
            os.kill(pid, signal.SIGTERM)
        for pid in self.env.children:
            codes.append(wait_pid(pid, 10))
        self.env.children = []
        self.t.eq(codes, [0, 0], "the responders stop with exit 0")
        self.env.start(2)

    # ---- the faults ----

    def full(self):
        what = "store faults: filesystem full"
        self.good(3, what + ", before")
        before = self.rows()
        # The WAL keeps its blocks after a checkpoint; truncate it so the next commit needs
        # new ones, then fill every block left.
        checkpoint(self.db_path)
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
        what = "store faults: write lock held by another writer"
        before = self.rows()
        holder = sqlite3.connect(self.db_path, timeout=10, isolation_level=None)
        try:
            holder.execute("BEGIN IMMEDIATE")
            psid = rand_digits(16)
            body = self.body(psid)
            # busy_timeout_ms is 300 (harness.Env); a 503 must not wait much longer.
            self.mark()
            self.refused(what, body, max_s=3.0)
            self.logged(what, "database is locked")
            n = holder.execute("SELECT count(*) FROM events").fetchone()[0]
            self.t.eq(n, before, what + ": nothing stored while locked (rows counted)")
        finally:
            holder.execute("ROLLBACK")
            holder.close()
        self.recovered(what, body, psid, before)
        self.answered(what)

    def readonly(self):
        what = "store faults: read-only filesystem"
        before = self.rows()
        # A read-only remount needs no file open for writing: the pool is replaced while
        # the filesystem is read-only, so the new processes meet it when they open the store.
        for pid in self.env.children:
            os.kill(pid, signal.SIGTERM)
        codes = [wait_pid(pid, 10) for pid in self.env.children]
        self.env.children = []
        self.t.eq(codes, [0, 0], what + ": the responders stop with exit 0")
        sh("mount", "-o", "remount,ro", self.mnt)
        try:
            self.mark()
            self.env.start(2)
            pids = list(self.env.children)
            psid = rand_digits(16)
            body = self.body(psid)
            self.refused(what, body)
            self.logged(what, "cannot be opened: store failure: open: unable to open")
        finally:
            sh("mount", "-o", "remount,rw", self.mnt)
        self.t.eq(self.rows(), before, what + ": nothing stored while read-only (rows counted)")
        self.recovered(what, body, psid, before)
        self.t.eq(sorted(self.env.children), sorted(pids), what + ": the same processes answer")
        self.t.eq(sorted(self.env.alive()), sorted(pids), what + ": they are all still alive")
        self.answered(what)

    def immutable(self):
        what = "store faults: read-only state file"
        before = self.rows()
        for pid in self.env.children:
            os.kill(pid, signal.SIGTERM)
        codes = [wait_pid(pid, 10) for pid in self.env.children]
        self.env.children = []
        self.t.eq(codes, [0, 0], what + ": the responders stop with exit 0")
        # The immutable flag: refused even to root (as the pool runs here), unlike a mode.
        # SQLite opens such a file read-only without a word; the first write fails.
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
            self.mark()
            self.env.start(2)
            pids = list(self.env.children)
            psid = rand_digits(16)
            body = self.body(psid)
            self.refused(what, body)
            self.logged(what, "attempt to write a readonly database")
        finally:
            set_immutable(self.db_path, False)
        self.t.eq(self.rows(), before, what + ": nothing stored while read-only (rows counted)")
        self.recovered(what, body, psid, before)
        self.t.eq(sorted(self.env.alive()), sorted(pids),
                  what + ": the same processes answer, all still alive")
        self.answered(what)

    def corrupt(self):
        what = "store faults: corrupt state file"
        before = self.rows()
        for pid in self.env.children:
            os.kill(pid, signal.SIGTERM)
        codes = [wait_pid(pid, 10) for pid in self.env.children]
        self.env.children = []
        self.t.eq(codes, [0, 0], what + ": the responders stop with exit 0")
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
        self.mark()
        self.env.start(2)
        pids = list(self.env.children)
        psid = rand_digits(16)
        body = self.body(psid)
        self.refused(what, body)
        self.logged(what, "cannot be opened: store failure: open: file is not a database")
        # The operator restores the backup in place of the damaged file.
        os.replace(backup, self.db_path)
        for sfx in ("-wal", "-shm"):
            if os.path.exists(self.db_path + sfx):
                os.unlink(self.db_path + sfx)
        self.t.eq(self.rows(), before, what + ": nothing stored while corrupt (rows counted)")
        self.recovered(what, body, psid, before)
        self.t.eq(sorted(self.env.alive()), sorted(pids),
                  what + ": the same processes answer, all still alive")
        self.answered(what)

    def finish(self):
        env = self.env
        codes = env.stop()
        self.t.ok(all(v == 0 for v in codes.values()), "store faults: responders exit 0 on "
                  "SIGTERM", codes)
        self.t.eq(env.sanitizer_errors(), [], "store faults: no sanitizer report")
        self.t.eq(env.secrets_in_log(), [], "store faults: no secret in the logs")

    def cleanup(self):
        try:
            if self.env is not None:
                self.env.cleanup()
        finally:
            if self.mounted:
                subprocess.run(["umount", "-l", self.mnt], capture_output=True, timeout=30)
                self.mounted = False
            shutil.rmtree(self.mnt, ignore_errors=True)


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
    return t.done()


if __name__ == "__main__":
    sys.exit(main())
