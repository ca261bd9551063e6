#!/usr/bin/env python3
"""test_ctl_work_pg.py — `msgrctl drain --threads` and `msgrctl worker --threads` with the store
on PostgreSQL (docs/worker.md "Threads"): there each thread has a connection of its own and the
threads run side by side, pacing each page together. The checks of test_ctl_work.py: every
event answered once, in each conversation's order, nothing left pending, a prompt stop on
SIGTERM, bad --threads refused. A database of its own in the run's throw-away cluster
(tests/pgcluster.py)."""
import os
import sys

os.environ["MSGR_TEST_BACKEND"] = "postgresql"
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import test_ctl_work  # noqa: E402

if __name__ == "__main__":
    sys.exit(test_ctl_work.run((test_ctl_work.test_worker_threads,
                                test_ctl_work.test_drain_threads,
                                test_ctl_work.test_drain_threads_at_once)))
