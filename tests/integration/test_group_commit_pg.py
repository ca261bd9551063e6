#!/usr/bin/env python3
"""test_group_commit_pg.py — group commit (responder.threads > 1, lib/commit.c) with the store on
PostgreSQL: the same checks as test_group_commit.py's first half (many concurrent requests
over 2 processes x 4 threads, each event stored once and only acknowledged once stored; the
same events in concurrent requests stored once), and its locked-store check done the
PostgreSQL way: another session holds the events table past state.busy_timeout_ms, every
request of the group gets 503 (lock_timeout), nothing is stored, and the same requests sent
again once it lets go are stored once."""
import concurrent.futures
import os
import sys
import time

os.environ["MSGR_TEST_BACKEND"] = "postgresql"
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h  # noqa: E402
import test_group_commit as gc  # noqa: E402

tap = gc.tap


def test_locked(e, n=12):
    c = e.c1
    mids = [h.uniq("lk") for _ in range(n)]
    before = e.counts()
    holder = e.pg.client(e.pg_db)
    try:
        holder.query("BEGIN")
        holder.query("LOCK TABLE events IN EXCLUSIVE MODE")

        def one(m):
            t0 = time.time()
            st = e.post(c, gc.body_with(c, [m], psid="8300")).status
            return st, time.time() - t0

        with concurrent.futures.ThreadPoolExecutor(n) as ex:
            results = list(ex.map(one, mids))
        tap.ok(all(st == 503 for st, _ in results),
               "postgresql locked: every request of the group answered 503", results)
        tap.ok(max(took for _, took in results) < 4.5,
               "postgresql locked: all answered within Facebook's 5 s",
               [round(took, 2) for _, took in results])
    finally:
        holder.query("ROLLBACK")
        holder.close()
    tap.eq(e.counts(), before, "postgresql locked: nothing stored while locked")
    statuses = [e.post(c, gc.body_with(c, [m], psid="8300")).status for m in mids]
    tap.eq(statuses, [200] * n, "postgresql released: the retried requests are stored (200)")
    stored = gc.mids_of(e.events())
    tap.ok(all(stored.count(m) == 1 for m in mids), "postgresql released: each stored once")


def main():
    e = gc.pool()
    try:
        for t in (gc.test_many, gc.test_duplicates, test_locked):
            try:
                t(e)
            except Exception as exc:  # noqa: BLE001 (one crash is one failure)
                tap.crash(t.__name__, exc)
        tap.eq(len(e.alive()), 2, "postgresql: both threaded responders survived every request")
        found = e.secrets_in_log()
        tap.ok(not found, "postgresql: no secret, password, token or signature in the log",
               found)
        codes = e.stop()
        tap.ok(all(v == 0 for v in codes.values()), "postgresql: the threaded pool exits 0",
               codes)
        tap.ok(not e.sanitizer_errors(), "postgresql: no sanitizer report",
               e.sanitizer_errors())
    finally:
        e.cleanup()
    tap.done()


if __name__ == "__main__":
    main()
