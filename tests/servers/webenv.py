"""webenv.py — real web servers in front of the responder, for tests/integration/test_*.py.

Each test starts one real server (Apache 2.4 with mod_fcgid, mod_proxy_fcgi or mod_cgi,
lighttpd with mod_fastcgi, nginx) as a foreground process on 127.0.0.1 and a free port, with
its own config in a temp dir. That config includes the snippet from apache/, nginx/ or
lighttpd/ as it is in the repository; only the placeholders of docs/deploy.md
("Placeholders": @PORT@, @SERVER_NAME@, @MSGR_FCGI@, @MSGR_CONFIG@, @MSGR_RUN@) are replaced.
The responder's config is workerenv's (graph.url at the fake Graph API), so an answer can be
followed end to end. Requests go through the real `curl` command.

As root (CI), Apache refuses to serve as root and mod_fcgid, lighttpd and nginx workers drop
privileges, so the servers run their workers as www-data (or nobody), the temp dir is given
to that user, and everything that opens the SQLite store (reads of the tests, msgrctl) runs
as that user too: a root-owned -shm or -wal file would lock the responders out.
Everything is bounded in time; every server and pool is stopped at the end.
"""
import json
import os
import pwd
import grp
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))
import harness  # noqa: E402
from harness import SANITIZER_MARKS, entry, message_event, webhook  # noqa: E402
from workerenv import WorkerEnv, MSGRCTL, wait_for  # noqa: E402

DEPS_HINT = "run `sh scripts/deps.sh --test` to install the web servers"
APACHE_MODULES = "/usr/lib/apache2/modules"
CURL_TIMEOUT = 30          # seconds for one HTTP exchange (sanitizer builds are slow)
START_TIMEOUT = 15         # seconds for a server to answer
MAX_BODY = 4194304         # the snippets' limit, equal to the config's max_body

# Where the systemd unit puts things, replaced by the test's own folders.
UNIT_FCGI = "/usr/local/lib/messenger-fcgi/messenger.fcgi"
UNIT_CONFIG = "/usr/local/etc/messenger-fcgi/msgr.conf"
UNIT_RUN = "/run/messenger-fcgi"
UNIT_LOG = "/var/log/messenger-fcgi"

STORIES = """stories = (
  { name = "greetings"; triggers = ( "hello", "hi" );
    answers = ( { text = "Hello {first_name}!"; } ); },
  { name = "unknown"; fallback = true;
    answers = ( { text = "Sorry, I did not understand."; } ); } );
"""


def find_program(name, *extra):
    p = shutil.which(name)
    if p:
        return p
    for d in ("/usr/sbin", "/usr/bin", "/usr/local/sbin", "/usr/local/bin") + extra:
        c = os.path.join(d, name)
        if os.access(c, os.X_OK):
            return c
    return None


def free_port():
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def service_user():
    """The unprivileged user the servers' workers run as when the test runs as root."""
    for name in ("www-data", "nobody"):
        try:
            pw = pwd.getpwnam(name)
            return name, grp.getgrgid(pw.pw_gid).gr_name, pw.pw_uid, pw.pw_gid
        except KeyError:
            continue
    raise RuntimeError("no www-data or nobody user to run the web server's workers as")


def unit_execstart():
    """The ExecStart line of apache/messenger-fcgi.service (the responder pool behind nginx
    and Apache mod_proxy_fcgi), checked to run spawn-fcgi with the unit's MSGR_CONFIG."""
    unit = os.path.join(ROOT, "apache", "messenger-fcgi.service")
    execstart, envs = None, {}
    with open(unit) as f:
        for line in f:
            line = line.strip()
            if line.startswith("ExecStart="):
                execstart = line[len("ExecStart="):]
            elif line.startswith("Environment="):
                k, v = line[len("Environment="):].split("=", 1)
                envs[k] = v
    if execstart is None or envs.get("MSGR_CONFIG") != UNIT_CONFIG:
        raise RuntimeError("%s: no ExecStart= or MSGR_CONFIG= line as expected" % unit)
    if shlex.split(execstart)[0] != "/usr/bin/spawn-fcgi":
        raise RuntimeError("%s: ExecStart does not run /usr/bin/spawn-fcgi" % unit)
    return execstart


def unit_pool():
    """How many responders the unit starts: spawn-fcgi's -F."""
    argv = shlex.split(unit_execstart())
    return int(argv[argv.index("-F") + 1])


def render(path, subst):
    """A snippet from the repository with its placeholders replaced; a placeholder left
    over (a typo, or one this test does not know) is an error, never silently served."""
    with open(os.path.join(ROOT, path)) as f:
        text = f.read()
    for k, v in subst.items():
        text = text.replace("@%s@" % k, v)
    left = [w for w in text.split("@")[1::2] if w.isupper() and w.replace("_", "").isalnum()]
    if left:
        raise RuntimeError("%s: placeholder(s) not replaced: %s" % (path, ", ".join(left)))
    return text


class WebEnv(WorkerEnv):
    """A responder config (three connectors, fake Graph API) with no pool of its own: the
    web server under test starts the responders. Subclass hooks: start_server()."""

    def __init__(self, name):
        self.name = name
        self.root = os.geteuid() == 0
        self.user = service_user() if self.root else None
        self.procs = []            # (label, Popen) of the servers we started
        self.pool_pids = []        # spawn-fcgi children (not our children)
        self.logs = []             # files that receive the responders' stderr
        self.server_logs = []      # the web server's own logs (for diagnostics)
        self.port = free_port()
        # Under valgrind (make valgrind) a web server's first responder needs seconds to start
        # the host committer and create the store, and a committer silent for busy_timeout_ms
        # + 2 s gets the request a 503 (docs/responder.md): the longest busy timeout then.
        super().__init__(nproc=0, stories=STORIES, max_body=MAX_BODY,
                         busy_timeout_ms=3000 if harness.SLOW else 300)
        # A private copy of the responder: its processes are then found by their exact
        # /proc/PID/exe, never by a name other tests' responders share.
        self.fcgi = os.path.join(self.dir, "bin", "messenger.fcgi")
        os.makedirs(os.path.dirname(self.fcgi), exist_ok=True)
        shutil.copy2(harness.FCGI, self.fcgi)
        self.run_dir = os.path.join(self.dir, "run")
        os.makedirs(self.run_dir, exist_ok=True)
        self.base = "http://127.0.0.1:%d" % self.port

    # ---- harness.Env hooks ----

    def start(self, nproc):
        """The web server starts the responders: nothing to fork here."""

    def write_config(self, extra=""):
        """workerenv's config, but every secret from a file: a web server passes the
        responder MSGR_CONFIG only, so an env: secret could not be resolved."""
        super().write_config(extra)
        with open(self.conf_path) as f:
            text = f.read()
        with open(os.path.join(self.dir, "app2.secret"), "w") as f:
            f.write(self.c3.secret + "\n")
        text = text.replace('"env:%s"' % self.env_secret_name, '"file:app2.secret"')
        with open(self.conf_path, "w") as f:
            f.write(text)

    # ---- ownership ----

    def give_away(self):
        """As root: the service user owns the temp dir (config, secrets, store, sockets)."""
        if not self.root:
            return
        _, _, uid, gid = self.user
        os.chown(self.dir, uid, gid)
        for base, dirs, files in os.walk(self.dir):
            for n in dirs + files:
                os.lchown(os.path.join(base, n), uid, gid)

    def as_service(self):
        """subprocess keyword arguments that run a command as the service user (as root)."""
        if not self.root:
            return {}
        _, _, uid, gid = self.user
        return {"user": uid, "group": gid, "extra_groups": []}

    # ---- the store, read as the service user ----

    def query(self, sql):
        code = ("import json, sqlite3, sys\n"
                "c = sqlite3.connect(sys.argv[1], timeout=10)\n"
                "c.row_factory = sqlite3.Row\n"
                "print(json.dumps([dict(r) for r in c.execute(sys.argv[2])]))\n")
        if not os.path.exists(self.db_path):
            return []
        # The system python: the service user may not reach the one running this test.
        py = "/usr/bin/python3" if os.access("/usr/bin/python3", os.X_OK) else sys.executable
        p = subprocess.run([py, "-c", code, self.db_path, sql],
                           capture_output=True, timeout=30, **self.as_service())
        if p.returncode != 0:
            raise RuntimeError("reading the store failed: " + p.stderr.decode()[-500:])
        return json.loads(p.stdout)

    def settled(self, timeout=30.0):
        """Waits until the inbox is empty: the events the host committer acknowledged are in
        the queue (it moves them as soon as it is idle; docs/store.md "Inbox"). True when it
        is, or there is no inbox; False after timeout seconds."""
        deadline = time.monotonic() + timeout
        while os.path.exists(self.db_path):
            try:
                if not self.query("SELECT 1 FROM sqlite_master WHERE name = 'inbox'") or \
                        self.query("SELECT count(*) AS n FROM inbox")[0]["n"] == 0:
                    return True
            except RuntimeError as e:
                if "locked" not in str(e):
                    return True     # unreadable (a fault a test made): nothing to wait for
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.05)
        return True

    def events(self):
        self.settled()
        return self.query("SELECT * FROM events ORDER BY id")

    def counts(self):
        if not os.path.exists(self.db_path):
            return 0, 0
        self.settled()
        n = self.query("SELECT count(*) AS n FROM events")[0]["n"]
        q = self.query("SELECT count(*) AS n FROM quarantine")[0]["n"]
        return n, q

    def msgrctl(self, *args, timeout=60):
        p = subprocess.run([MSGRCTL, "-c", self.conf_path] + list(args),
                           env=dict(self.child_env), capture_output=True, timeout=timeout,
                           cwd=self.dir, **self.as_service())
        return (p.returncode, p.stdout.decode("utf-8", "replace"),
                p.stderr.decode("utf-8", "replace"))

    # ---- processes ----

    def spawn(self, label, argv, log):
        """Starts a foreground server; its stdout and stderr go to `log`."""
        out = open(log, "ab")
        try:
            p = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT,
                                 stdin=subprocess.DEVNULL, cwd=self.dir,
                                 start_new_session=True)
        finally:
            out.close()
        self.procs.append((label, p))
        self.server_logs.append(log)
        return p

    def wait_ready(self, path):
        """Polls a verification GET until the responder answers with the challenge."""
        c = self.connectors[0]
        url = "%s%s%s?hub.mode=subscribe&hub.verify_token=%s&hub.challenge=ready" % (
            self.base, path, c.path, c.webhook_token)
        self.wait_answer(url, b"ready")

    def wait_answer(self, url, body):
        """Polls url until it answers 200 with body, failing at once if a process exits."""
        deadline = time.time() + START_TIMEOUT
        last = None
        while time.time() < deadline:
            for label, p in self.procs:
                if p.poll() is not None:
                    raise RuntimeError("%s exited with %s at start:\n%s" % (
                        label, p.returncode, self.tail()))
            try:
                last = curl(url, timeout=3)
                if last.status == 200 and last.body == body:
                    return
            except (subprocess.TimeoutExpired, RuntimeError) as e:
                last = e
            time.sleep(0.2)
        raise RuntimeError("%s does not answer on %s (last: %r):\n%s" % (
            self.name, self.base, last, self.tail()))

    def start_pool(self, nproc=2):
        """The pool of apache/messenger-fcgi.service: its ExecStart line run with the test's
        folders, as root with spawn-fcgi's -u/-g in place of the unit's User=/Group=."""
        spawn_fcgi = find_program("spawn-fcgi")
        if spawn_fcgi is None:
            raise RuntimeError("spawn-fcgi is not installed: " + DEPS_HINT)
        execstart = unit_execstart()
        log_dir = os.path.join(self.dir, "log")
        os.makedirs(log_dir, exist_ok=True)
        for a, b in ((UNIT_FCGI, self.fcgi), (UNIT_RUN, self.run_dir), (UNIT_LOG, log_dir)):
            execstart = execstart.replace(a, b)
        argv = shlex.split(execstart)
        argv[0] = spawn_fcgi
        sep = argv.index("--")
        # The unit's 2 processes; the test's own count keeps the machine quiet.
        i = argv.index("-F")
        argv[i + 1] = str(nproc)
        pidfile = os.path.join(self.run_dir, "spawn.pid")
        extra = ["-P", pidfile]
        if self.root:
            name, group, _, _ = self.user
            extra += ["-u", name, "-g", group]
        argv = argv[:sep] + extra + argv[sep:]
        self.logs.append(os.path.join(log_dir, "responder.log"))
        self.give_away()
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"),
               "MSGR_CONFIG": self.conf_path}
        for k in ("ASAN_OPTIONS", "UBSAN_OPTIONS", "LSAN_OPTIONS"):
            if k in os.environ:
                env[k] = os.environ[k]
        p = subprocess.run(argv, env=env, capture_output=True, timeout=30, cwd=self.dir)
        if p.returncode != 0:
            raise RuntimeError("spawn-fcgi failed (%d): %s" % (
                p.returncode, (p.stdout + p.stderr).decode("utf-8", "replace")))
        with open(pidfile) as f:
            self.pool_pids = [int(x) for x in f.read().split()]
        return argv

    def responder_pids(self):
        """Live processes running this test's copy of the responder."""
        out = []
        for d in os.listdir("/proc"):
            if not d.isdigit():
                continue
            try:
                if os.readlink("/proc/%s/exe" % d) == self.fcgi and not zombie(int(d)):
                    out.append(int(d))
            except OSError:
                pass
        return sorted(out)

    def stop_servers(self, timeout=15.0):
        """SIGTERM to each server (it stops its own responders), then to the pool. Returns
        the labels of anything that had to be killed."""
        killed = []
        for label, p in self.procs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        deadline = time.time() + timeout
        for label, p in self.procs:
            try:
                p.wait(max(0.1, deadline - time.time()))
            except subprocess.TimeoutExpired:
                killed.append(label)
                os.killpg(p.pid, signal.SIGKILL)
                p.wait()
        for pid in self.pool_pids:
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        deadline = time.time() + timeout
        while self.responder_pids() and time.time() < deadline:
            time.sleep(0.1)
        for pid in self.responder_pids():
            killed.append("responder %d" % pid)
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self.procs = []
        self.pool_pids = []
        return killed

    def cleanup(self):
        try:
            self.stop_servers(timeout=5)
        finally:
            super().cleanup()

    # ---- logs ----

    def read(self, path):
        try:
            with open(path, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""

    def responder_log(self):
        return "".join(self.read(p) for p in self.logs)

    def all_logs(self):
        return "".join(self.read(p) for p in dict.fromkeys(self.logs + self.server_logs))

    def tail(self, n=3000):
        return self.all_logs()[-n:]

    def sanitizer_errors(self):
        return [l for l in self.all_logs().splitlines() if any(m in l for m in SANITIZER_MARKS)]


def zombie(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0] in ("Z", "X")
    except OSError:
        return True


class Http:
    def __init__(self, status, headers, body):
        self.status = status
        self.headers = headers
        self.body = body

    def __repr__(self):
        return "Http(%r, %r, %r)" % (self.status, self.headers, self.body[:300])


def curl(url, method=None, body=None, headers=(), timeout=CURL_TIMEOUT):
    """One exchange through the curl command; the body from a temp file (bytes as they are)."""
    exe = find_program("curl")
    if exe is None:
        raise RuntimeError("curl is not installed: " + DEPS_HINT)
    argv = [exe, "-sS", "--max-time", str(timeout), "-D", "-", "-o", "-",
            "-H", "Expect:"]   # no 100-continue round trip on big bodies
    for h in headers:
        argv += ["-H", h]
    if method:
        argv += ["-X", method]
    if body is not None:
        argv += ["--data-binary", "@-", "-H", "Content-Type: application/json"]
    argv.append(url)
    p = subprocess.run(argv, input=body if body is not None else b"", capture_output=True,
                       timeout=timeout + 5)
    if p.returncode != 0:
        raise RuntimeError("curl %s: exit %d: %s" % (url, p.returncode,
                                                     p.stderr.decode("utf-8", "replace")))
    out = p.stdout
    # Skip interim 1xx heads; the last head before the body is the answer.
    status, headers = None, {}
    while True:
        sep = out.find(b"\r\n\r\n")
        if sep < 0:
            break
        head, out = out[:sep], out[sep + 4:]
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split()[1])
        headers = {}
        for l in lines[1:]:
            if ":" in l:
                k, v = l.split(":", 1)
                headers[k.strip().lower()] = v.strip()
        if status >= 200:
            break
    return Http(status, headers, out)


# ---- the checks every server gets ----

def verify_url(env, prefix, conn, token, challenge):
    return "%s%s%s?hub.mode=subscribe&hub.verify_token=%s&hub.challenge=%s" % (
        env.base, prefix, conn.path, token, challenge)


def post(env, prefix, conn, body, signature):
    headers = []
    if signature is not None:
        headers.append("X-Hub-Signature-256: " + signature)
    return curl(env.base + prefix + conn.path, body=body, headers=headers)


def run_suite(t, env, prefix, drain_for_answer=False, layer413="responder", fcgid_limit=None):
    """Every check of servers.md for one server, the connector URLs being prefix + path.
    drain_for_answer: the host runs `msgrctl drain` from cron (plain CGI); the answer is
    then expected after a drain if the responder's own run did not already send it.
    layer413: "responder" or "web server", who answers 413 to a body over max_body.
    fcgid_limit: the host's FcgidMaxRequestLen when it caps bodies under max_body."""
    n = env.name
    c1, c3 = env.c1, env.c3

    challenge = harness.uniq("ch")
    r = curl(verify_url(env, prefix, c1, c1.webhook_token, challenge))
    # The first request starts everything (a CGI run, a FastCGI spawn): on a failure the
    # logs' tail says whether the web server or the program gave up.
    t.ok((r.status, r.body) == (200, challenge.encode()), "%s: verification GET answers 200 "
         "and exactly the challenge" % n, "got: %r %r\nlogs:\n%s" % (r.status, r.body[:300],
                                                                    env.tail(2000)))
    t.ok(r.headers.get("content-type", "").startswith("text/plain"),
         "%s: the challenge goes back as text/plain" % n, r.headers)
    r = curl(verify_url(env, prefix, c3, c3.webhook_token, "c3"))
    t.eq((r.status, r.body), (200, b"c3"), "%s: the second app's connector verifies with "
         "its own token (file: secret)" % n)
    r = curl(verify_url(env, prefix, c1, c1.webhook_token + "x", "nope"))
    t.eq(r.status, 403, "%s: a wrong verify token gets 403" % n)
    r = curl(verify_url(env, prefix, c1, c3.webhook_token, "nope"))
    t.eq(r.status, 403, "%s: another app's verify token gets 403" % n)

    unknown = harness.Connector("x", "/io/xxxx/nobody/messenger", "1", "2", "", "", "")
    r = curl(verify_url(env, prefix, unknown, c1.webhook_token, "nope"))
    t.eq(r.status, 404, "%s: a path no connector has gets 404" % n)

    # A message, signed as Facebook signs it, through the server: stored, then answered.
    psid = harness.rand_digits(16)
    mid = harness.uniq("mid")
    body = json.dumps(webhook(entry(c1.page_id, [message_event(c1.page_id, psid, "hello",
                                                               mid=mid)]))).encode()
    sig = harness.sign(c1.secret, body)
    env.signatures.add(sig)
    r = post(env, prefix, c1, body, sig)
    t.eq((r.status, r.body), (200, b"EVENT_RECEIVED"), "%s: a signed POST gets 200 "
         "EVENT_RECEIVED (X-Hub-Signature-256 passed through)" % n)
    stored = [e for e in env.events() if mid in (e.get("raw") or "")]
    t.eq(len(stored), 1, "%s: the event is in the store once" % n)
    want = ["Hello First%s!" % psid[-4:]]
    got = wait_for(lambda: env.fake.texts(psid) == want, timeout=20)
    how = "by the responder after its answer"
    if not got and drain_for_answer:
        rc, out, err = env.msgrctl("drain")
        got = wait_for(lambda: env.fake.texts(psid) == want, timeout=10)
        how = "by `msgrctl drain` (cron)"
    t.ok(got, "%s: the stories bot's answer reached the (fake) Graph API %s" % (n, how),
         "texts: %r\ncalls: %r\n%s" % (env.fake.texts(psid), env.fake.calls()[-5:], env.tail()))
    t.eq(env.fake.violations(), [], "%s: the fake Graph API saw no violation" % n)

    before = env.counts()
    bad = json.dumps(webhook(entry(c1.page_id, [message_event(c1.page_id, psid)]))).encode()
    r = post(env, prefix, c1, bad, harness.sign(c1.secret + "x", bad))
    t.eq(r.status, 403, "%s: a wrong signature gets 403" % n)
    r = post(env, prefix, c1, bad, None)
    t.eq(r.status, 403, "%s: no signature gets 403" % n)
    r = post(env, prefix, c3, bad, harness.sign(c1.secret, bad))
    t.eq(r.status, 403, "%s: another app's signature gets 403" % n)
    t.eq(env.counts(), before, "%s: nothing stored from refused POSTs" % n)

    # A delivery bigger than mod_fcgid's default FcgidMaxRequestLen (128 KiB) and well under
    # max_body: unknown keys are skipped, so the padding costs nothing but bytes. On a host
    # that kept that default (fcgid_limit), the biggest that passes is checked, and what
    # Apache does above it is asserted as docs/deploy.md "Troubleshooting" tells it.
    def padded(size):
        doc = webhook(entry(c1.page_id, [message_event(c1.page_id, harness.rand_digits(16),
                                                       "big")]))
        doc["padding"] = ""
        base = len(json.dumps(doc).encode())
        doc["padding"] = "p" * (size - base)
        data = json.dumps(doc).encode()
        sig = harness.sign(c1.secret, data)
        env.signatures.add(sig)
        return data, sig

    size = 300 * 1024 if fcgid_limit is None else fcgid_limit
    r = post(env, prefix, c1, *padded(size))
    t.eq((r.status, r.body), (200, b"EVENT_RECEIVED"),
         "%s: a signed %d KiB delivery gets 200" % (n, size // 1024))
    if fcgid_limit is not None:
        r = post(env, prefix, c1, *padded(fcgid_limit + 1))
        t.eq(r.status, 500, "%s: one byte over the host's FcgidMaxRequestLen gets 500 from "
             "mod_fcgid (documented)" % n)

    # One byte over max_body: 413 from whichever layer sees it first (docs/deploy.md).
    before = env.counts()
    seen = env.responder_log().count(" status=413 ")
    huge = json.dumps({"object": "page", "entry": [],
                       "padding": "p" * MAX_BODY}).encode()[:MAX_BODY + 1]
    r = post(env, prefix, c1, huge, harness.sign(c1.secret, huge))
    if fcgid_limit is None:
        t.eq(r.status, 413, "%s: a body over max_body gets 413" % n)
        by_responder = wait_for(lambda: env.responder_log().count(" status=413 ") > seen,
                                timeout=2)
        t.eq("responder" if by_responder else "web server", layer413,
             "%s: the 413 comes from the %s" % (n, layer413))
    else:
        t.eq(r.status, 500, "%s: a body over max_body gets 500 from mod_fcgid (over the "
             "host's FcgidMaxRequestLen; documented)" % n)
    t.eq(env.counts(), before, "%s: nothing stored from the oversized body" % n)

    r = curl(env.base + prefix + c1.path, method="DELETE")
    t.eq(r.status, 405, "%s: another method gets 405" % n)
    t.eq(r.headers.get("allow"), "GET, POST", "%s: 405 says Allow: GET, POST" % n)


def finish(t, env, cgi=False):
    """Stops the servers and checks what only shows at the end: clean exits, logs."""
    n = env.name
    killed = env.stop_servers()
    t.eq(killed, [], "%s: the server and its responders stopped on SIGTERM" % n)
    log = env.responder_log()
    t.ok(" req=" in log, "%s: the responders' request lines reach the log" % n,
         env.tail())
    t.eq(env.secrets_in_text(env.all_logs()), [], "%s: no secret, token or signature in "
         "any log" % n)
    if not cgi:
        # A long-lived responder's last words (and a LeakSanitizer report at exit) must
        # reach the log too, or the sanitizer check below would prove nothing. Under
        # valgrind the pool's processes run behind a wrapper whose exit can come before
        # the program's last write: the log is read again for a while (bounded).
        deadline = time.time() + (10.0 if os.environ.get("MSGR_SLOW") else 2.0)
        while "stopping after" not in log and time.time() < deadline:
            time.sleep(0.1)
            log = env.responder_log()
        t.ok("stopping after" in log, "%s: the responders' exit line reaches the log" % n,
             env.tail())
    t.eq(env.sanitizer_errors(), [], "%s: no sanitizer report in the logs" % n)


def main(name, make_env, prefix, **kw):
    """One server's test program: TAP lines, exit status for tests/run."""
    t = harness.Tap()
    env = None
    try:
        env = make_env()
        run_suite(t, env, prefix, **kw)
        finish(t, env, cgi=kw.get("drain_for_answer", False))
    except Exception as e:   # noqa: BLE001 - any failure is a reported failure
        t.crash(name, e)
    finally:
        if env is not None:
            env.cleanup()
    t.done()


# ---- the servers ----

def need(prog):
    p = find_program(prog)
    if p is None:
        raise RuntimeError("%s is not installed: %s" % (prog, DEPS_HINT))
    return p


def need_module(name):
    path = os.path.join(APACHE_MODULES, "mod_%s.so" % name)
    if not os.path.exists(path):
        raise RuntimeError("Apache module %s is missing (%s): %s" % (name, path, DEPS_HINT))
    return "LoadModule %s_module %s" % (name, path)


def apache_env(kind):
    """kind: "fcgid" (apache/fcgid-vhost.conf), "proxy_fcgi" (apache/proxy-fcgi-vhost.conf
    and the unit's spawn-fcgi pool), "htaccess-fcgid" / "htaccess-cgi" (a host whose
    docroot allows .htaccess, with or without mod_fcgid: apache/shared-hosting/)."""
    apache2 = need("apache2")
    env = WebEnv("apache " + kind)
    try:
        d = env.dir
        htdocs = os.path.join(d, "htdocs")
        os.makedirs(os.path.join(htdocs, "cgi-bin"))
        os.makedirs(os.path.join(d, "rt"))
        error_log = os.path.join(d, "apache-error.log")
        # mod_cgi needs the prefork MPM (mod_cgid would need its own daemon socket).
        mpm = "mpm_prefork" if kind == "htaccess-cgi" else "mpm_event"
        mods = [mpm, "authz_core", "alias", "mime", "dir"]
        mods += {"fcgid": ["fcgid"], "proxy_fcgi": ["proxy", "proxy_fcgi"],
                 "htaccess-fcgid": ["fcgid"], "htaccess-cgi": ["cgi"]}[kind]
        lines = [
            "# written by tests/servers/webenv.py: the host around the snippet",
            "ServerRoot %s" % d,
            "PidFile %s/httpd.pid" % d,
            "DefaultRuntimeDir %s/rt" % d,
            "ErrorLog %s" % error_log,
            "LogLevel warn",
            "Listen 127.0.0.1:%d" % env.port,
            "ServerName 127.0.0.1",
        ] + [need_module(m) for m in mods] + [
            "TypesConfig /etc/mime.types",
            "DocumentRoot %s" % htdocs,
            # As Debian's apache2.conf: nothing outside the docroot, the docroot readable.
            "<Directory />\n    Require all denied\n    AllowOverride None\n</Directory>",
        ]
        if kind.startswith("htaccess"):
            # The hosting company's side: .htaccess files may set options and handlers.
            lines.append("<Directory %s>\n    Require all granted\n"
                         "    AllowOverride Options FileInfo\n</Directory>" % htdocs)
        else:
            lines.append("<Directory %s>\n    Require all granted\n</Directory>" % htdocs)
        if env.root:
            name, group, _, _ = env.user
            lines += ["User %s" % name, "Group %s" % group]
        if "fcgid" in kind:
            os.makedirs(os.path.join(d, "fcgid"))
            lines += ["FcgidIPCDir %s/fcgid" % d,
                      "FcgidProcessTableFile %s/fcgid/shm" % d]
        if kind == "htaccess-fcgid":
            # Debian's mods-available/fcgid.conf, as a host enabling mod_fcgid has it; its
            # FcgidMaxRequestLen is mod_fcgid's default (128 KiB).
            lines += ["FcgidConnectTimeout 20", "AddHandler fcgid-script .fcgi"]
        subst = {"PORT": str(env.port), "SERVER_NAME": "127.0.0.1",
                 "MSGR_FCGI": env.fcgi, "MSGR_CONFIG": env.conf_path,
                 "MSGR_RUN": env.run_dir}
        if kind == "fcgid":
            site = render("apache/fcgid-vhost.conf", subst)
            prefix = "/hooks"
        elif kind == "proxy_fcgi":
            site = render("apache/proxy-fcgi-vhost.conf", subst)
            prefix = "/hooks"
        else:
            site = "# the .htaccess does it all\n"
            prefix = "/cgi-bin/messenger.fcgi"
            shutil.copy(os.path.join(ROOT, "apache", "shared-hosting", ".htaccess"),
                        os.path.join(htdocs, "cgi-bin", ".htaccess"))
            launcher = os.path.join(htdocs, "cgi-bin", "messenger.fcgi")
            with open(launcher, "w") as f:
                f.write(render("apache/shared-hosting/messenger.fcgi", subst))
            os.chmod(launcher, 0o755)
        with open(os.path.join(d, "site.conf"), "w") as f:
            f.write(site)
        lines.append("Include %s/site.conf" % d)
        conf = os.path.join(d, "apache2.conf")
        with open(conf, "w") as f:
            f.write("\n".join(lines) + "\n")
        env.logs.append(error_log)
        if kind == "proxy_fcgi":
            env.start_pool()
        env.give_away()
        p = subprocess.run([apache2, "-f", conf, "-t"], capture_output=True, timeout=30)
        if p.returncode != 0:
            raise RuntimeError("apache2 -t refuses the config: " +
                               (p.stdout + p.stderr).decode("utf-8", "replace"))
        env.spawn("apache2", [apache2, "-f", conf, "-DFOREGROUND"],
                  os.path.join(d, "apache-console.log"))
        env.wait_ready(prefix)
        env.prefix = prefix
        return env
    except BaseException:
        env.cleanup()
        raise


def lighttpd_env(env_class=None):
    """lighttpd/messenger.conf included as scripts/quickstart.sh includes it. env_class: a
    WebEnv subclass, for a test that changes the responder's config."""
    lighttpd = need("lighttpd")
    env = (env_class or WebEnv)("lighttpd")
    try:
        d = env.dir
        # var.msgr_root is a folder holding cgi-bin/messenger.fcgi: the private copy.
        root = os.path.join(d, "root")
        os.makedirs(os.path.join(root, "cgi-bin"))
        shutil.move(env.fcgi, os.path.join(root, "cgi-bin", "messenger.fcgi"))
        env.fcgi = os.path.join(root, "cgi-bin", "messenger.fcgi")
        os.makedirs(os.path.join(d, "www"))
        error_log = os.path.join(d, "lighttpd-error.log")
        breakage = os.path.join(d, "responder.log")
        lines = [
            "# written by tests/servers/webenv.py: the host around the snippet",
            'var.msgr_root = "%s"' % root,
            'var.msgr_run  = "%s"' % env.run_dir,
            'var.msgr_conf = "%s"' % env.conf_path,
            'server.modules = ( "mod_fastcgi" )',
            'server.bind = "127.0.0.1"',
            "server.port = %d" % env.port,
            'server.document-root = "%s/www"' % d,
            'server.errorlog = "%s"' % error_log,
            'server.breakagelog = "%s"' % breakage,
            'server.upload-dirs = ( "%s" )' % d,
        ]
        if env.root:
            name, group, _, _ = env.user
            lines += ['server.username = "%s"' % name, 'server.groupname = "%s"' % group]
        lines.append('include "%s/lighttpd/messenger.conf"' % ROOT)
        conf = os.path.join(d, "lighttpd.conf")
        with open(conf, "w") as f:
            f.write("\n".join(lines) + "\n")
        env.logs.append(breakage)
        env.server_logs.append(error_log)
        env.give_away()
        p = subprocess.run([lighttpd, "-tt", "-f", conf], capture_output=True, timeout=30)
        if p.returncode != 0:
            raise RuntimeError("lighttpd -tt refuses the config: " +
                               (p.stdout + p.stderr).decode("utf-8", "replace"))
        env.spawn("lighttpd", [lighttpd, "-D", "-f", conf],
                  os.path.join(d, "lighttpd-console.log"))
        env.wait_ready("")
        env.prefix = ""
        return env
    except BaseException:
        env.cleanup()
        raise


def nginx_env(request_buffering=True, workers="1", connections=64):
    """nginx/messenger.conf inside a server block, the unit's spawn-fcgi pool behind it.
    request_buffering=False: the snippet with fastcgi_request_buffering off, as a site that
    streams bodies has it (a chunked body then reaches the responder without
    CONTENT_LENGTH). workers, connections: the host's worker_processes and
    worker_connections (bench/servers.py gives Debian's "auto" and 768: 64 are too few for
    32 clients and their 32 connections to the pool)."""
    nginx = need("nginx")
    env = WebEnv("nginx")
    try:
        d = env.dir
        for sub in ("www", "tmp"):
            os.makedirs(os.path.join(d, sub))
        # The stock fastcgi_params the snippet includes, beside the config as in /etc/nginx.
        params = "/etc/nginx/fastcgi_params"
        if not os.path.exists(params):
            raise RuntimeError("%s is missing: %s" % (params, DEPS_HINT))
        shutil.copy(params, os.path.join(d, "fastcgi_params"))
        snippet = render("nginx/messenger.conf", {"MSGR_RUN": env.run_dir})
        if not request_buffering:
            if "fastcgi_request_buffering on;" not in snippet:
                raise RuntimeError("nginx/messenger.conf: no fastcgi_request_buffering line")
            snippet = snippet.replace("fastcgi_request_buffering on;",
                                      "fastcgi_request_buffering off;")
        with open(os.path.join(d, "messenger.conf"), "w") as f:
            f.write(snippet)
        error_log = os.path.join(d, "nginx-error.log")
        user = ""
        if env.root:
            name, group, _, _ = env.user
            user = "user %s %s;" % (name, group)
        text = """# written by tests/servers/webenv.py: the host around the snippet
%(user)s
daemon off;
worker_processes %(workers)s;
pid %(d)s/nginx.pid;
error_log %(err)s warn;
events { worker_connections %(conns)d; }
http {
    access_log off;
    client_body_temp_path %(d)s/tmp/body;
    fastcgi_temp_path %(d)s/tmp/fastcgi;
    proxy_temp_path %(d)s/tmp/proxy;
    uwsgi_temp_path %(d)s/tmp/uwsgi;
    scgi_temp_path %(d)s/tmp/scgi;
    server {
        listen 127.0.0.1:%(port)d;
        server_name 127.0.0.1;
        root %(d)s/www;
        include messenger.conf;
    }
}
""" % {"user": user, "d": d, "err": error_log, "port": env.port, "workers": workers,
       "conns": connections}
        conf = os.path.join(d, "nginx.conf")
        with open(conf, "w") as f:
            f.write(text)
        env.server_logs.append(error_log)
        env.start_pool()
        env.give_away()
        argv = [nginx, "-p", d, "-c", conf, "-e", error_log]
        p = subprocess.run(argv + ["-t"], capture_output=True, timeout=30)
        if p.returncode != 0:
            raise RuntimeError("nginx -t refuses the config: " +
                               (p.stdout + p.stderr).decode("utf-8", "replace"))
        env.spawn("nginx", argv, os.path.join(d, "nginx-console.log"))
        env.wait_ready("/hooks")
        env.prefix = "/hooks"
        return env
    except BaseException:
        env.cleanup()
        raise
