#!/usr/bin/env python3
"""bench/servers.py — wrk through every shipped set-up: messenger.fcgi against a bare responder.

For each set-up the real web server is started on 127.0.0.1 with the repository's snippet,
exactly as the integration tests start it (tests/servers/webenv.py: lighttpd/messenger.conf,
nginx/messenger.conf and apache/proxy-fcgi-vhost.conf with the spawn-fcgi pool of
apache/messenger-fcgi.service, apache/fcgid-vhost.conf; only nginx's host config around its
snippet is the bench's own, see nginx_env), twice, back to back: once with
build/bench/bare_fcgi in the responder's place (reads the body, answers 200) and once with
cgi-bin/messenger.fcgi. wrk posts signed webhooks with unique mids as bench/run.sh does
(bench/post.lua, bodies from bench/gen_bodies.py). After each run: the responders' VmRSS
(/proc/PID/status) and their CPU time per request (/proc/PID/stat, over the measured
run), then the servers are stopped and, for messenger.fcgi, the events in
state.db are counted against wrk's 2xx answers. One table at the end; the share of bare is
the ratio of the two runs of one set-up, measured one after the other.

Environment (as bench/run.sh):
  SETUPS=lighttpd,nginx,proxy_fcgi,fcgid   which set-ups, in this order
  DURATION=10 CONNS=32 THREADS=2           wrk: seconds, connections, threads
  THREADS_PER_PROC=N                       responder.threads in every set-up; unset: what
                                           examples/msgr.conf ships for a fixed pool (8), and
                                           1 under mod_fcgid, as that file tells
  POOL=N                                   spawn-fcgi's -F for nginx and proxy_fcgi (unset:
                                           apache/messenger-fcgi.service's, 2); lighttpd's
                                           and mod_fcgid's pools are the snippets' own (2
                                           and at most 8 processes)
  WARMUP=3                                 seconds of load before each measured run, with
                                           bodies of their own (mod_fcgid starts its
                                           processes under load; the others warm caches)
  ROUNDS=1                                 bare + messenger pairs per set-up
  COUNT=200000                             signed bodies generated (distinct mids)
  SYNC=full                                state.sync
  HOST_COMMIT=true|false                   responder.host_commit (unset: the default, on)
A measurement, never a pass/fail test: loopback only, every wait bounded, every server, pool
and temp dir removed at the end, also on Ctrl-C. As root the servers' workers and the
responders run as www-data (webenv). Raw wrk output: bench/results/servers-*.txt.
"""
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, ".."))
sys.path.insert(0, os.path.join(ROOT, "tests", "servers"))
import webenv  # noqa: E402
from webenv import find_program  # noqa: E402
import harness  # noqa: E402  (tests/integration, on the path once webenv is imported)

SETUPS = [s for s in os.environ.get("SETUPS", "lighttpd,nginx,proxy_fcgi,fcgid").split(",") if s]
DURATION = int(os.environ.get("DURATION", "10"))
CONNS = int(os.environ.get("CONNS", "32"))
THREADS = int(os.environ.get("THREADS", "2"))
THREADS_PER_PROC = os.environ.get("THREADS_PER_PROC", "")
POOL = int(os.environ.get("POOL", "0")) or webenv.unit_pool()
WARMUP = int(os.environ.get("WARMUP", "3"))
ROUNDS = int(os.environ.get("ROUNDS", "1"))
COUNT = int(os.environ.get("COUNT", "200000"))
SYNC = os.environ.get("SYNC", "full")
HOST_COMMIT = os.environ.get("HOST_COMMIT", "")

# The connector and secret of bench/run.sh (a bench-only secret, never a real one).
SECRET = "benchsecret0123456789"
PAGE = "100000000000001"
BARE = os.path.join(ROOT, "build", "bench", "bare_fcgi")
MESSENGER = harness.FCGI
RESULTS = os.path.join(ROOT, "bench", "results")
KNOWN = ("lighttpd", "nginx", "proxy_fcgi", "fcgid")


def shipped_threads():
    """responder.threads of examples/msgr.conf, the config people start from."""
    with open(os.path.join(ROOT, "examples", "msgr.conf")) as f:
        m = re.search(r"^responder\s*=\s*\{[^}]*\bthreads\s*=\s*(\d+)\s*;", f.read(), re.M)
    if not m:
        raise RuntimeError("examples/msgr.conf: no responder = { threads = N; } line")
    return int(m.group(1))


def threads_for(setup):
    if THREADS_PER_PROC:
        return int(THREADS_PER_PROC)
    # mod_fcgid hands a process one request at a time: examples/msgr.conf says to set 1.
    return 1 if setup == "fcgid" else shipped_threads()


class BenchEnv(webenv.WebEnv):
    """webenv's WebEnv with the bench's responder config (one connector, intake only) and,
    for the bare run, bench/bare_fcgi copied where the responder would be. The set-up
    functions of webenv (lighttpd_env, nginx_env, apache_env) build the server around it
    unchanged: they are called with this class in webenv.WebEnv's place."""
    binary = MESSENGER
    threads = 1

    def __init__(self, name):
        super().__init__(name)
        self.bare = self.binary == BARE
        # webenv copied messenger.fcgi to a private path (found by /proc/PID/exe); the bare
        # run puts its own binary there.
        shutil.copy2(self.binary, self.fcgi)
        self.c1 = harness.Connector("bench", "/messenger", "200000000000001", PAGE,
                                    "benchtoken0123456789", "benchverify", SECRET)
        self.connectors = [self.c1]

    def write_config(self, extra=""):
        """bench/run.sh's config: the store in the temp dir, intake only."""
        fd = os.open(self.conf_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write("""# bench/servers.py
state = { path = "state.db"; sync = "%s"; };
log_level = "warn";
worker = { budget_ms = 0; };
responder = { threads = %d;%s };
connectors = (
  { id = "bench"; path = "/messenger";
    app_id = "200000000000001"; page_id = "%s";
    call_token = "benchtoken0123456789"; webhook_token = "benchverify";
    secret = "%s"; bot = { type = "stories"; file = "stories.conf"; }; } );
""" % (SYNC, self.threads,
       " host_commit = %s;" % HOST_COMMIT if HOST_COMMIT else "", PAGE, SECRET))

    def start_pool(self, nproc=None):
        return super().start_pool(POOL)

    def wait_ready(self, path):
        """messenger.fcgi: webenv's check (the verification GET answers the challenge). The
        bare responder answers 200 EVENT_RECEIVED to anything: that is its readiness."""
        if not self.bare:
            return super().wait_ready(path)
        self.wait_answer(self.base + path + self.c1.path, b"EVENT_RECEIVED")


def start(setup, binary):
    BenchEnv.binary = binary
    BenchEnv.threads = threads_for(setup)
    webenv.WebEnv = BenchEnv
    if setup == "lighttpd":
        return webenv.lighttpd_env()
    if setup == "nginx":
        # Debian's nginx.conf values for the host around the snippet (the tests' 64
        # connections are too few for 32 clients and their 32 connections to the pool).
        return webenv.nginx_env(workers="auto", connections=768)
    return webenv.apache_env(setup)


def wrk(env, bodies, seconds, out):
    """bench/run.sh's wrk line against the set-up's webhook URL; returns wrk's output."""
    path = env.prefix + env.c1.path
    e = dict(os.environ, BENCH_BODIES=bodies, BENCH_THREADS=str(THREADS), BENCH_PATH=path)
    e.pop("BENCH_RATE", None)     # saturation, as bench/run.sh's first run
    p = subprocess.run(["wrk", "-t%d" % THREADS, "-c%d" % CONNS, "-d%ds" % seconds,
                        "--latency", "-s", os.path.join(HERE, "post.lua"), env.base + path],
                       env=e, capture_output=True, timeout=seconds + 60)
    text = p.stdout.decode("utf-8", "replace")
    if out:
        with open(out, "w") as f:
            f.write(text)
    if p.returncode != 0:
        raise RuntimeError("wrk failed (%d): %s" % (p.returncode, p.stderr.decode()[-500:]))
    return text


def parse(text):
    def grab(pattern, conv=str, default=None):
        m = re.search(pattern, text, re.M)
        return conv(m.group(1)) if m else default
    r = {"rps": grab(r"^Requests/sec:\s+([\d.]+)", float, 0.0),
         "requests": grab(r"^\s*(\d+) requests in", int, 0),
         "p50": grab(r"^\s+50%\s+(\S+)"), "p99": grab(r"^\s+99%\s+(\S+)"),
         "non2xx": grab(r"Non-2xx or 3xx responses:\s+(\d+)", int, 0)}
    m = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text)
    r["sockerr"] = sum(int(x) for x in m.groups()) if m else 0
    r["ok"] = r["requests"] - r["non2xx"]
    return r


def rss(env):
    """VmRSS in KiB of each live responder process of this set-up."""
    out = []
    for pid in env.responder_pids():
        try:
            with open("/proc/%d/status" % pid) as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        out.append(int(line.split()[1]))
        except OSError:
            pass
    return out


def cpu(env):
    """CPU time (user + system, all threads) in seconds of each live responder process."""
    out = {}
    tick = os.sysconf("SC_CLK_TCK")
    for pid in env.responder_pids():
        try:
            with open("/proc/%d/stat" % pid) as f:
                fields = f.read().rsplit(")", 1)[1].split()
            out[pid] = (int(fields[11]) + int(fields[12])) / tick
        except (OSError, IndexError, ValueError):
            pass
    return out


def count(env):
    """Events stored: in the queue, and acknowledged into the inbox but not moved yet
    (docs/store.md "Inbox")."""
    if not env.query("SELECT 1 FROM sqlite_master WHERE name = 'inbox'"):
        return env.query("SELECT count(*) AS n FROM events")[0]["n"]
    return env.query("SELECT (SELECT count(*) FROM events) + (SELECT count(*) FROM inbox)"
                     " AS n")[0]["n"]


def run_one(setup, binary, bodies, warm, rnd):
    label = "bare" if binary == BARE else "messenger"
    env = start(setup, binary)
    try:
        before = 0
        if WARMUP > 0:
            wrk(env, warm, WARMUP, None)
            if binary != BARE:
                before = count(env)
        name = "servers-%s-%s-t%d%s%s.txt" % (
            setup, label, threads_for(setup), "-alone" if HOST_COMMIT == "false" else "",
            "" if rnd == 0 else "-r%d" % (rnd + 1))
        c0 = cpu(env)
        r = parse(wrk(env, bodies, DURATION, os.path.join(RESULTS, name)))
        c1 = cpu(env)
        sizes = rss(env)
        # The responders' CPU per request answered: steadier than requests/s on a shared
        # machine (the other work takes wall time from both runs, not CPU time).
        spent = sum(t - c0.get(pid, 0.0) for pid, t in c1.items())
        r["cpu_us"] = 1e6 * spent / r["requests"] if r["requests"] else 0.0
        r["procs"] = len(sizes)
        r["rss_max"] = max(sizes) if sizes else 0
        r["rss_mean"] = sum(sizes) / len(sizes) if sizes else 0
        killed = env.stop_servers()
        if killed:
            print("# %s %s: had to kill %s" % (setup, label, ", ".join(killed)), flush=True)
        # After the stop: the requests in flight when wrk stopped have been committed too.
        r["stored"] = count(env) - before if binary != BARE else None
        if r["stored"] is not None and r["requests"] > COUNT // THREADS * THREADS:
            # post.lua starts over at the end of its slice: the repeats are duplicates,
            # acknowledged and not stored again, so stored < 2xx says nothing then.
            print("# %s: %d requests for %d bodies: bodies were sent twice (raise COUNT)"
                  % (setup, r["requests"], COUNT), flush=True)
        r["setup"], r["responder"] = setup, label
        r["threads"] = threads_for(setup) if binary != BARE else 1
        return r
    finally:
        env.cleanup()


def mib(kib):
    return "%.1f MiB" % (kib / 1024.0)


def row(r, share):
    stored = "-" if r["stored"] is None else "{:,}".format(r["stored"])
    fmt = "| %s | %s | %d | %d | {:,} | %s | %s | %s | %s | {:,} | %s | %.0f µs | %s | %s |"
    return fmt.format(round(r["rps"]), r["ok"]) % (
        r["setup"], "bare libfcgi" if r["responder"] == "bare" else "messenger.fcgi",
        r["procs"], r["threads"], r["p50"], r["p99"], errors(r), share, stored,
        r["cpu_us"], mib(r["rss_max"]), mib(r["rss_mean"]))


def errors(r):
    """wrk's non-2xx answers, and its socket errors (timeouts included) when there are any."""
    if r["sockerr"]:
        return "%d (+%d socket errors)" % (r["non2xx"], r["sockerr"])
    return "%d" % r["non2xx"]


def main():
    for s in SETUPS:
        if s not in KNOWN:
            sys.exit("servers.py: SETUPS takes %s" % ",".join(KNOWN))
    if HOST_COMMIT not in ("", "true", "false"):
        sys.exit("servers.py: HOST_COMMIT is true or false")
    for tool in ("wrk",):
        if find_program(tool) is None:
            sys.exit("servers.py: %s is not installed (sh scripts/deps.sh --test)" % tool)
    for b in (BARE, MESSENGER):
        if not os.access(b, os.X_OK):
            sys.exit("servers.py: %s is missing: make all build/bench/bare_fcgi" % b)
    # Ctrl-C, SIGTERM and SIGHUP unwind: every finally below stops what it started. Further
    # signals are ignored from then on, so a second Ctrl-C cannot cut the cleanup short
    # (it is bounded: webenv's stop waits 5 s, then kills).
    def stop(signum, frame):
        for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(s, signal.SIG_IGN)
        raise KeyboardInterrupt
    for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(s, stop)
    os.makedirs(RESULTS, exist_ok=True)
    work = tempfile.mkdtemp(prefix="msgr-bench-servers.")
    rows = []
    failed = []
    try:
        bodies = os.path.join(work, "bodies.txt")
        warm = os.path.join(work, "warm.txt")
        gen = os.path.join(HERE, "gen_bodies.py")
        now = int(time.time() * 1000)
        subprocess.run([sys.executable, gen, SECRET, PAGE, str(COUNT), bodies,
                        str(now - COUNT)], check=True, timeout=300)
        # Warm-up bodies: other mids (other timestamps), so the measured run stores its own.
        subprocess.run([sys.executable, gen, SECRET, PAGE, str(COUNT // 4), warm,
                        str(now - 10 * COUNT)], check=True, timeout=300)
        print("setups=%s duration=%ds conns=%d wrk_threads=%d threads_per_proc=%s pool=%d "
              "warmup=%ds sync=%s host_commit=%s" % (
                  ",".join(SETUPS), DURATION, CONNS, THREADS,
                  ",".join("%s:%d" % (x, threads_for(x)) for x in SETUPS), POOL, WARMUP,
                  SYNC, HOST_COMMIT or "default"), flush=True)
        for setup in SETUPS:
            for rnd in range(ROUNDS):
                try:
                    b = run_one(setup, BARE, bodies, warm, rnd)
                    m = run_one(setup, MESSENGER, bodies, warm, rnd)
                except (RuntimeError, subprocess.SubprocessError, OSError) as e:
                    print("# %s: %s" % (setup, str(e)[:2000]), flush=True)
                    failed.append(setup)
                    continue
                share = "%.0f%%" % (100.0 * m["rps"] / b["rps"]) if b["rps"] else "-"
                for r in (b, m):
                    print("%-10s %-9s %2d procs %2d thr %9.0f req/s  p50 %-9s p99 %-9s "
                          "non-2xx %s  2xx %d  stored %s  cpu %.0f us/req  rss max %s mean %s" % (
                              setup, r["responder"], r["procs"], r["threads"], r["rps"],
                              r["p50"], r["p99"], errors(r), r["ok"],
                              "-" if r["stored"] is None else r["stored"], r["cpu_us"],
                              mib(r["rss_max"]), mib(r["rss_mean"])), flush=True)
                rows.append(row(b, "-"))
                rows.append(row(m, share))
    except KeyboardInterrupt:
        print("# interrupted", flush=True)
        return 130
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print()
    print("| set-up | responder | processes | threads | requests/s | p50 | p99 | non-2xx "
          "| share of bare | 2xx answered | events stored | responder CPU per request "
          "| RSS max | RSS mean |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for line in rows:
        print(line)
    if failed:
        print("# not measured: %s" % ", ".join(failed))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
