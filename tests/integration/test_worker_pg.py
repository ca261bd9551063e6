#!/usr/bin/env python3
"""test_worker_pg.py — the worker's integration tests (test_worker.py: answers in order,
redeliveries answered once, order across processes, retries through a Graph outage, SIGKILL
mid-call and exactly-once, permanent errors, the window, pauses) run again with the store on
PostgreSQL (docs/store.md "Backends"): a database of its own in the run's throw-away
cluster (tests/pgcluster.py), the conninfo with a password given as a file: secret."""
import os
import sys

os.environ["MSGR_TEST_BACKEND"] = "postgresql"
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import test_worker  # noqa: E402

if __name__ == "__main__":
    sys.exit(test_worker.main())
