#!/usr/bin/env python3
"""test_proclogs.py — the checks make valgrind and make tsan rely on catch what they are for
(docs/SECURITY.md "What the tests cover"): small C programs with a known fault, built here,
run through tests/valgrind/wrap.sh (valgrind memcheck) or with ThreadSanitizer, and their
reports read by tests/proclogs.py, which must print `not ok` for each fault and `ok` for a
clean program and for one a test stops with SIGTERM. Needs cc and valgrind
(scripts/deps.sh --test). TAP lines out."""
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h  # noqa: E402

ROOT = h.ROOT
PROCLOGS = os.path.join(ROOT, "tests", "proclogs.py")
WRAP = os.path.join(ROOT, "tests", "valgrind", "wrap.sh")

PROGRAM = r"""
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int shared;

static void *bump(void *arg)
{
	(void)arg;
	shared++;
	return NULL;
}

int main(int argc, char **argv)
{
	char *p = malloc(8), *q;
	pthread_t t;

	if (p == NULL || argc < 2)
		return 2;
	memset(p, 0, 8);
	if (strcmp(argv[1], "overflow") == 0)
		printf("%d\n", p[8]);                     /* one past the block */
	if (strcmp(argv[1], "leak") == 0) {
		q = malloc(16);                           /* lost on purpose */
		if (q != NULL)
			q[0] = 1;
		printf("%p\n", (void *)q);
		q = NULL;
	}
	if (strcmp(argv[1], "race") == 0) {
		pthread_create(&t, NULL, bump, NULL);
		shared++;
		pthread_join(t, NULL);
		printf("%d\n", shared);
	}
	if (strcmp(argv[1], "wait") == 0) {
		puts("ready");
		fflush(stdout);
		pause();                                  /* the test's SIGTERM ends it */
	}
	free(p);
	return 0;
}
"""


def proclogs(logdir, name, kind):
    env = dict(os.environ, MSGR_PROC_LOGS_KIND=kind)
    p = subprocess.run([sys.executable, PROCLOGS, logdir, name], env=env, capture_output=True,
                       text=True, timeout=60)
    return p.returncode, p.stdout


def main():
    t = h.Tap()
    d = tempfile.mkdtemp(prefix="msgr-proclogs-")
    try:
        src = os.path.join(d, "faulty.c")
        with open(src, "w") as f:
            f.write(PROGRAM)
        cc = shutil.which("cc") or "cc"
        plain = os.path.join(d, "faulty")
        p = subprocess.run([cc, "-g", "-O0", "-pthread", "-o", plain, src],
                           capture_output=True, text=True, timeout=120)
        if not t.ok(p.returncode == 0, "the faulty program builds", p.stderr):
            t.done()
        t.ok(shutil.which("valgrind") is not None, "valgrind is installed "
             "(sh scripts/deps.sh --test)")

        # valgrind: one log folder per case, as tests/run gives one per test.
        for case, want_ok in (("clean", True), ("overflow", False), ("leak", False)):
            logs = os.path.join(d, "vg-" + case)
            wrapped = os.path.join(d, "faulty-vg-" + case)
            p = subprocess.run(["sh", WRAP, plain, wrapped, logs], capture_output=True,
                               text=True, timeout=60)
            t.eq(p.returncode, 0, "wrap.sh writes the program for %s" % case)
            r = subprocess.run([wrapped, case], capture_output=True, timeout=120)
            t.eq(r.returncode, 0 if want_ok else 97,
                 "valgrind, %s: exit status %d" % (case, 0 if want_ok else 97))
            rc, out = proclogs(logs, "case-" + case, "valgrind")
            first = out.splitlines()[0] if out else ""
            t.ok(first.startswith("ok - " if want_ok else "not ok - ") and
                 (rc == 0) == want_ok,
                 "proclogs.py says %s for %s" % ("ok" if want_ok else "not ok", case), out)
            if case == "overflow":
                t.ok("Invalid read of size 1" in out, "...and shows the invalid read", out)
            if case == "leak":
                t.ok("definitely lost" in out, "...and shows the definite leak", out)
            t.ok(os.path.isdir(os.path.join(logs, "case-" + case)) and
                 not any(n.startswith("vg.") for n in os.listdir(logs)),
                 "the %s logs move into their test's folder" % case)

        # A process a test stops with SIGTERM is not a memory error.
        logs = os.path.join(d, "vg-term")
        wrapped = os.path.join(d, "faulty-vg-term")
        subprocess.run(["sh", WRAP, plain, wrapped, logs], check=True, timeout=60)
        proc = subprocess.Popen([wrapped, "wait"], stdout=subprocess.PIPE)
        line = proc.stdout.readline()
        time.sleep(0.2)
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=60)
        proc.stdout.close()
        rc, out = proclogs(logs, "case-term", "valgrind")
        t.ok(line == b"ready\n" and rc == 0 and out.startswith("ok - "),
             "proclogs.py says ok for a process stopped by SIGTERM", out)

        # No process at all under valgrind: the check would prove nothing, so it fails.
        empty = os.path.join(d, "vg-empty")
        os.makedirs(empty)
        rc, out = proclogs(empty, "case-empty", "valgrind")
        t.ok(rc != 0 and out.startswith("not ok - ") and "no process" in out,
             "proclogs.py says not ok when no process ran under valgrind", out)

        # ThreadSanitizer: a data race is reported into log_path and read back.
        racy = os.path.join(d, "faulty-tsan")
        p = subprocess.run([cc, "-g", "-O1", "-fsanitize=thread", "-o", racy, src],
                           capture_output=True, text=True, timeout=120)
        t.ok(p.returncode == 0, "the faulty program builds with -fsanitize=thread", p.stderr)
        for case, want_ok in (("clean", True), ("race", False)):
            logs = os.path.join(d, "tsan-" + case)
            os.makedirs(logs)
            env = dict(os.environ, TSAN_OPTIONS="halt_on_error=0 exitcode=66 log_path=%s"
                       % os.path.join(logs, "tsan"))
            r = subprocess.run([racy, case], env=env, capture_output=True, timeout=120)
            t.eq(r.returncode, 0 if want_ok else 66,
                 "ThreadSanitizer, %s: exit status %d" % (case, 0 if want_ok else 66))
            rc, out = proclogs(logs, "case-" + case, "tsan")
            t.ok(out.startswith("ok - " if want_ok else "not ok - ") and (rc == 0) == want_ok,
                 "proclogs.py says %s for %s" % ("ok" if want_ok else "not ok", case), out)
            if not want_ok:
                t.ok("WARNING: ThreadSanitizer: data race" in out,
                     "...and shows the data race", out)
    except (OSError, subprocess.SubprocessError) as e:
        t.crash("proclogs self-test", e)
    finally:
        shutil.rmtree(d, ignore_errors=True)
    t.done()


if __name__ == "__main__":
    main()
