"""harness.py — drives responder processes over a real FastCGI socket (Python 3 stdlib only).

What spawn-fcgi does, done by hand: Python creates, binds and listens on ONE unix socket, forks
N children with it dup2'd onto fd 0 and execs $MSGR_FCGI in each; several processes then share
the socket. Requests go through the real `cgi-fcgi -bind -connect SOCK` command. Bodies are
signed with Python's hmac (not with the code under test). The store is SQLite (read with
sqlite3), or PostgreSQL with backend="postgresql" or MSGR_TEST_BACKEND=postgresql: a database
of its own in the run's throw-away cluster (tests/pgcluster.py), read through the same db()
calls. Every responder writes its stderr into one log file, checked for sanitizer reports.

Everything is bounded in time: each request, each wait for a process to exit.
"""
import hashlib
import hmac
import json
import os
import secrets
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "tests"))
import pgcluster  # noqa: E402
FCGI = os.path.abspath(os.path.join(ROOT, os.environ.get("MSGR_FCGI", "cgi-bin/messenger.fcgi")))
CGI_FCGI = shutil.which("cgi-fcgi") or "/usr/bin/cgi-fcgi"
REQUEST_TIMEOUT = 20   # seconds for one cgi-fcgi exchange (sanitizer builds are slow)
# MSGR_SLOW (make valgrind, make tsan): the programs run many times slower than built.
SLOW = bool(os.environ.get("MSGR_SLOW"))
# accept(2) and accept4(2) as /proc/PID/syscall numbers them, by machine.
ACCEPT_SYSCALLS = {"x86_64": {"43", "288"}, "aarch64": {"202", "242"}}.get(os.uname().machine)

# enum msgr_event_kind (lib/event.h), for readable assertions on the stored kind column.
KINDS = ["message", "echo", "postback", "referral", "optin", "delivery", "read", "reaction",
         "message_edit", "account_linking", "policy_enforcement", "pass_thread_control",
         "take_thread_control", "request_thread_control", "app_roles", "prior_message",
         "unknown"]

SANITIZER_MARKS = ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:",
                   "AddressSanitizer:", "UndefinedBehaviorSanitizer")


class Tap:
    """TAP lines for tests/run: `ok - name` / `not ok - name`, diagnostics as `# ...`."""

    def __init__(self):
        self.failed = 0
        self.passed = 0

    def ok(self, cond, name, diag=None):
        if cond:
            self.passed += 1
            print("ok - %s" % name, flush=True)
        else:
            self.failed += 1
            print("not ok - %s" % name, flush=True)
            if diag is not None:
                for line in str(diag).splitlines()[:40]:
                    print("#   %s" % line, flush=True)
        return bool(cond)

    def eq(self, got, want, name):
        return self.ok(got == want, name, "got:  %r\nwant: %r" % (got, want))

    def crash(self, name, exc):
        self.ok(False, name, "%s: %s" % (type(exc).__name__, exc))

    def done(self):
        print("# %d passed, %d failed" % (self.passed, self.failed), flush=True)
        sys.exit(1 if self.failed else 0)


class Response:
    def __init__(self, status, headers, body, raw, rc):
        self.status = status
        self.headers = headers      # lower-case name -> value
        self.body = body            # bytes
        self.raw = raw
        self.rc = rc

    def __repr__(self):
        return "Response(%r, %r, %r)" % (self.status, self.headers, self.body[:200])


def parse_cgi_output(out):
    """Splits a CGI answer (`Status: ...` + headers, blank line, body)."""
    sep = out.find(b"\r\n\r\n")
    seplen = 4
    if sep < 0:
        sep = out.find(b"\n\n")
        seplen = 2
    if sep < 0:
        return None, {}, out
    head, body = out[:sep], out[sep + seplen:]
    headers = {}
    for line in head.replace(b"\r\n", b"\n").split(b"\n"):
        if b":" in line:
            k, v = line.split(b":", 1)
            headers[k.strip().lower().decode("latin-1")] = v.strip().decode("latin-1")
    status = None
    if "status" in headers:
        try:
            status = int(headers["status"].split()[0])
        except ValueError:
            status = None
    return status, headers, body


def sign(secret, body):
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def rand_digits(n):
    return "".join(secrets.choice("123456789") for _ in range(n))


def threads(pid):
    """{tid: name} of the threads of process pid (their comm: top -H, ps -L), in /proc's
    order."""
    out, task = {}, "/proc/%s/task" % pid
    for tid in (os.listdir(task) if os.path.isdir(task) else []):
        try:
            with open(os.path.join(task, tid, "comm")) as f:
                out[int(tid)] = f.read().strip()
        except OSError:
            pass
    return out


def thread_names(pid):
    """The names of the threads of process pid, in /proc's order."""
    return list(threads(pid).values())


class Connector:
    def __init__(self, cid, path, app_id, page_id, call_token, webhook_token, secret):
        self.id = cid
        self.path = path
        self.app_id = app_id
        self.page_id = page_id
        self.call_token = call_token
        self.webhook_token = webhook_token
        self.secret = secret


STORIES = """stories = (
  { name = "greetings"; triggers = ( "hello", "hi" );
    answers = ( { text = "Hello {first_name}!"; } ); },
  { name = "unknown"; fallback = true;
    answers = ( { text = "Sorry, I did not understand."; } ); } );
"""


class Env:
    """A temp dir with a config (two apps, three connectors; secrets inline, via file: and via
    env:), a pool of responder processes on one unix socket, and helpers to talk to them."""

    def __init__(self, nproc=2, max_body=65536, busy_timeout_ms=None, start=True,
                 state_path="state.db", backend=None, pg_db=None, pg_cluster=None):
        # 300 ms; under valgrind 1000: a responder's first store, which starts the host
        # committer and creates the schema, must come within busy_timeout_ms + 2 s or is 503.
        if busy_timeout_ms is None:
            busy_timeout_ms = 1000 if SLOW else 300
        self.dir = tempfile.mkdtemp(prefix="msgr-it-")
        # The store: SQLite in the temp dir, or a PostgreSQL database (its own, or pg_db: one
        # another Env uses too, as a second web host would).
        self.backend = backend or os.environ.get("MSGR_TEST_BACKEND") or "sqlite"
        self.pg = None
        self.pg_db = pg_db
        self.pg_owned = False
        if self.backend == "postgresql":
            self.pg = pg_cluster or pgcluster.shared_cluster()
            if self.pg_db is None:
                self.pg_db = self.pg.create_db("it")
                self.pg_owned = True
            with open(os.path.join(self.dir, "pg.conninfo"), "w") as f:
                f.write(self.pg.app_conninfo(self.pg_db) + "\n")
            os.chmod(os.path.join(self.dir, "pg.conninfo"), 0o600)
        self.state_path = state_path
        self.sock_path = os.path.join(self.dir, "fcgi.sock")
        self.log_path = os.path.join(self.dir, "responder.log")
        self.db_path = os.path.join(self.dir, state_path)
        self.conf_path = os.path.join(self.dir, "msgr.conf")
        self.max_body = max_body
        self.busy_timeout_ms = busy_timeout_ms
        self.children = []
        self.listener = None
        self.requests_sent = 0          # requests that reached the pool (one log line each)
        self.signatures = set()          # every signature sent, never to be logged
        self._lock = threading.Lock()

        app1, app2 = rand_digits(15), rand_digits(15)
        s1, s2 = secrets.token_hex(16), secrets.token_hex(16)
        w1, w2 = "wh1-" + secrets.token_hex(8), "wh2-" + secrets.token_hex(8)
        self.c1 = Connector("alpha", "/io/xxxx/alpha/messenger", app1, rand_digits(15),
                            "EAA" + secrets.token_hex(20), w1, s1)
        self.c2 = Connector("beta", "/io/xxxx/beta/messenger", app1, rand_digits(15),
                            "EAA" + secrets.token_hex(20), w1, s1)
        self.c3 = Connector("gamma", "/gamma/messenger", app2, rand_digits(15),
                            "EAA" + secrets.token_hex(20), w2, s2)
        self.connectors = [self.c1, self.c2, self.c3]
        # app1's secret from a file, app2's from the environment, app2's verify token from a file.
        with open(os.path.join(self.dir, "app1.secret"), "w") as f:
            f.write(s1 + "\n")
        with open(os.path.join(self.dir, "app2.webhook"), "w") as f:
            f.write(w2 + "\n")
        self.env_secret_name = "MSGR_IT_APP2_SECRET"
        with open(os.path.join(self.dir, "stories.conf"), "w") as f:
            f.write(STORIES)
        self.write_config()
        self.child_env = dict(os.environ)
        self.child_env["MSGR_CONFIG"] = self.conf_path
        self.child_env[self.env_secret_name] = s2
        open(self.log_path, "ab").close()
        if start:
            self.start(nproc)

    # ---- config ----

    def write_config(self, extra=""):
        def conn(c, secret, token):
            return """  { id = "%s"; path = "%s"; app_id = "%s"; page_id = "%s";
    call_token = "%s"; webhook_token = "%s"; secret = "%s";
    bot = { type = "stories"; file = "stories.conf"; }; }""" % (
                c.id, c.path, c.app_id, c.page_id, c.call_token, token, secret)
        if self.backend == "postgresql":
            # The conninfo holds the role's password: a file: secret, as a deployment keeps it.
            state = ('state = { backend = "postgresql"; conninfo = "file:pg.conninfo";'
                     ' busy_timeout_ms = %d; };' % self.busy_timeout_ms)
        else:
            state = ('state = { path = "%s"; journal = "wal"; sync = "full";'
                     ' busy_timeout_ms = %d; };' % (self.state_path, self.busy_timeout_ms))
        text = """# integration test config (tests/integration/harness.py)
graph = { url = "http://127.0.0.1:9"; version = "v26.0"; timeout_ms = 10000; };
%s
max_body = %d;
%s
connectors = (
%s,
%s,
%s );
""" % (state, self.max_body,
            # Responder-only tests keep the worker off (it would call the Graph API after each
            # response); WorkerEnv turns it on with its own worker group.
            extra if "worker" in extra else extra + "\nworker = { budget_ms = 0; };",
            conn(self.c1, "file:app1.secret", self.c1.webhook_token),
            conn(self.c2, "file:app1.secret", self.c2.webhook_token),
            conn(self.c3, "env:" + "MSGR_IT_APP2_SECRET", "file:app2.webhook"))
        with open(self.conf_path, "w") as f:
            f.write(text)

    def child_env_extra(self):
        """What a responder needs in its environment besides MSGR_CONFIG (env: secrets)."""
        return {self.env_secret_name: self.child_env[self.env_secret_name]}

    # ---- processes ----

    def start(self, nproc):
        if self.listener is None:
            self.listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            self.listener.bind(self.sock_path)
            self.listener.listen(128)
        logfd = os.open(self.log_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        devnull = os.open(os.devnull, os.O_RDWR)
        try:
            for _ in range(nproc):
                pid = os.fork()
                if pid == 0:   # child: only async-safe calls until exec
                    try:
                        os.dup2(self.listener.fileno(), 0)
                        os.dup2(devnull, 1)
                        os.dup2(logfd, 2)
                        os.chdir(self.dir)
                        os.execve(FCGI, [FCGI], self.child_env)
                    finally:
                        os._exit(127)
                self.children.append(pid)
        finally:
            os.close(logfd)
            os.close(devnull)
        # A responder that cannot start (bad config) exits at once; the socket would then
        # take requests nobody answers, so fail early with the log.
        time.sleep(0.3)
        if SLOW:
            self.wait_accepting()
        if len(self.alive()) != len(self.children):
            raise RuntimeError("a responder exited at start:\n" + self.log()[-2000:])

    def wait_accepting(self, timeout=60.0):
        """Under valgrind (MSGR_SLOW) a responder takes seconds to start, and a test that
        signals it before then sees the default action of the signal, not the program's:
        waits until each child has a thread in accept(2) (or has exited), bounded."""
        if ACCEPT_SYSCALLS is None:
            time.sleep(5)       # a machine whose numbers are not listed above
            return
        deadline = time.time() + timeout
        for pid in self.children:
            while time.time() < deadline and pid in self.alive():
                try:
                    tasks = os.listdir("/proc/%d/task" % pid)
                    calls = set()
                    for t in tasks:
                        with open("/proc/%d/task/%s/syscall" % (pid, t)) as f:
                            calls.add(f.read().split(" ", 1)[0].strip())
                except OSError:
                    break
                if calls & ACCEPT_SYSCALLS:
                    break
                time.sleep(0.05)

    def alive(self):
        out = []
        for pid in self.children:
            try:
                r, _ = os.waitpid(pid, os.WNOHANG)
            except ChildProcessError:
                continue
            if r == 0:
                out.append(pid)
        return out

    def stop(self, timeout=10.0):
        """SIGTERM every child; returns {pid: exit status or None when it had to be killed}."""
        codes = {}
        for pid in self.children:
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        if ACCEPT_SYSCALLS is None:
            time.sleep(5)       # a machine whose numbers are not listed above
            return
        deadline = time.time() + timeout
        for pid in self.children:
            codes[pid] = wait_pid(pid, max(0.1, deadline - time.time()))
        self.children = []
        if self.listener is not None:
            self.listener.close()
            self.listener = None
        return codes

    def cleanup(self):
        if self.children:
            for pid in self.children:
                try:
                    os.kill(pid, signal.SIGKILL)
                    os.waitpid(pid, 0)
                except (ProcessLookupError, ChildProcessError):
                    pass
            self.children = []
        if os.environ.get("MSGR_KEEP_TMP"):
            print("# kept %s" % self.dir)
        else:
            shutil.rmtree(self.dir, ignore_errors=True)
        if self.pg_owned and not os.environ.get("MSGR_KEEP_TMP"):
            try:
                c = self.pg.client()
                c.query("DROP DATABASE IF EXISTS %s WITH (FORCE)" % self.pg_db)
                c.close()
            except (OSError, pgcluster.PgError):
                pass        # the cluster goes at the end of the run anyway
            self.pg_owned = False

    # ---- requests ----

    def request(self, method, path, query="", body=None, signature=None, extra_env=None,
                content_length=None, count=True):
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"),
               "REQUEST_METHOD": method, "PATH_INFO": path, "QUERY_STRING": query,
               "SCRIPT_NAME": "", "SERVER_PROTOCOL": "HTTP/1.1",
               "GATEWAY_INTERFACE": "CGI/1.1", "SERVER_NAME": "127.0.0.1",
               "SERVER_PORT": "80", "REMOTE_ADDR": "127.0.0.1"}
        if body is not None:
            env["CONTENT_LENGTH"] = str(len(body) if content_length is None else content_length)
            env["CONTENT_TYPE"] = "application/json"
        elif content_length is not None:
            env["CONTENT_LENGTH"] = str(content_length)
        if signature is not None:
            env["HTTP_X_HUB_SIGNATURE_256"] = signature
            with self._lock:
                self.signatures.add(signature)
        if extra_env:
            env.update(extra_env)
        p = subprocess.run([CGI_FCGI, "-bind", "-connect", self.sock_path], env=env,
                           input=body if body is not None else b"", capture_output=True,
                           timeout=REQUEST_TIMEOUT)
        if count:
            with self._lock:
                self.requests_sent += 1
        status, headers, rbody = parse_cgi_output(p.stdout)
        return Response(status, headers, rbody, p.stdout, p.returncode)

    def verify(self, conn, query):
        return self.request("GET", conn.path, query=query)

    def post(self, conn, body, secret=None, signature=None, **kw):
        if isinstance(body, (dict, list)):
            body = json.dumps(body).encode()
        if signature is None:
            signature = sign(secret if secret is not None else conn.secret, body)
        elif signature is False:
            signature = None
        return self.request("POST", conn.path, body=body, signature=signature, **kw)

    # ---- the store ----

    def db(self):
        if self.backend == "postgresql":
            return pgcluster.Db(self.pg, self.pg_db)
        c = sqlite3.connect(self.db_path, timeout=10)
        c.row_factory = sqlite3.Row
        return c

    def settled(self, timeout=None):
        """Waits until the inbox is empty: every event the host committer acknowledged has
        been moved into the queue (it does that as soon as it is idle; docs/store.md "Inbox").
        True when it is (or the store has no inbox); False after timeout seconds."""
        if self.backend == "postgresql" or not os.path.exists(self.db_path):
            return True
        deadline = time.monotonic() + (timeout or (60 if SLOW else 10))
        while True:
            c = None
            try:
                # Closed at once: a test may remount the filesystem read-only next.
                c = sqlite3.connect(self.db_path, timeout=10)
                if c.execute("SELECT count(*) FROM sqlite_master WHERE name = 'inbox'"
                             ).fetchone()[0] == 0:
                    return True
                if c.execute("SELECT count(*) FROM inbox").fetchone()[0] == 0:
                    return True
            except sqlite3.DatabaseError as e:
                if "locked" not in str(e):
                    return True     # unreadable (a fault a test made): nothing to wait for
            finally:
                if c is not None:
                    c.close()
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.02)

    def events(self):
        """Every queued event as a dict (columns as the store names them), once the inbox has
        been moved into the queue."""
        self.settled()
        with self.db() as c:
            return [dict(r) for r in c.execute("SELECT * FROM events ORDER BY id")]

    def quarantine(self):
        with self.db() as c:
            return [dict(r) for r in c.execute("SELECT * FROM quarantine ORDER BY id")]

    def counts(self):
        if self.backend != "postgresql" and not os.path.exists(self.db_path):
            return 0, 0
        self.settled()
        try:
            with self.db() as c:
                n = c.execute("SELECT count(*) FROM events").fetchone()[0]
                q = c.execute("SELECT count(*) FROM quarantine").fetchone()[0]
        except pgcluster.PgError:
            return 0, 0         # no schema yet: nothing was ever stored
        return n, q

    # ---- the log ----

    def log(self):
        with open(self.log_path, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def request_lines(self):
        return [l for l in self.log().splitlines() if " req=" in l]

    def sanitizer_errors(self):
        return [l for l in self.log().splitlines() if any(m in l for m in SANITIZER_MARKS)]

    def secrets_in_log(self):
        """Every secret, token or signature that appears in the log (should be none)."""
        return self.secrets_in_text(self.log())

    def secrets_in_text(self, text):
        found = []
        if self.pg is not None and self.pg.app_password and self.pg.app_password in text:
            found.append("the PostgreSQL password")
        for c in self.connectors:
            for s in (c.secret, c.webhook_token, c.call_token):
                if s in text:
                    found.append(s)
        # A signature sent on purpose malformed ("sha256=zz") is no secret, and so short a
        # text turns up by chance (a temp folder's random name held "zz" once): only whole
        # digests (64 hex digits; a truncated one keeps at least 16) are looked for.
        for sig in self.signatures:
            if len(sig[7:]) >= 16 and sig[7:] in text:
                found.append(sig)
        return found


def wait_pid(pid, timeout):
    """Waits for a child to exit; its exit status, or None after SIGKILL at the timeout.
    A death by signal is returned as 128 + signal number."""
    deadline = time.time() + timeout
    while True:
        try:
            r, st = os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            return None
        if r == pid:
            if os.WIFEXITED(st):
                return os.WEXITSTATUS(st)
            return 128 + os.WTERMSIG(st)
        if time.time() >= deadline:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            return None
        time.sleep(0.02)


def run_cgi(env_extra, body=b"", conf=None, timeout=REQUEST_TIMEOUT, cwd=None):
    """Runs the responder as plain CGI: environment and stdin, no socket on fd 0."""
    env = dict(os.environ)
    env.update({"REQUEST_METHOD": "GET", "PATH_INFO": "", "QUERY_STRING": "",
                "GATEWAY_INTERFACE": "CGI/1.1", "SERVER_PROTOCOL": "HTTP/1.1"})
    if conf is not None:
        env["MSGR_CONFIG"] = conf
    env.update(env_extra)
    p = subprocess.run([FCGI], env=env, input=body, capture_output=True, timeout=timeout,
                       cwd=cwd)
    status, headers, rbody = parse_cgi_output(p.stdout)
    return Response(status, headers, rbody, p.stdout, p.returncode), p.stderr.decode(
        "utf-8", "replace")


# ---- webhook bodies, shaped as docs/facebook.md "Webhooks" and Meta's reference show them ----

_seq = [0]


def uniq(prefix="m"):
    _seq[0] += 1
    return "%s_%d_%s" % (prefix, _seq[0], secrets.token_hex(6))


def now_ms():
    return int(time.time() * 1000)


def message_event(page_id, psid, text="hello", mid=None, ts=None):
    return {"sender": {"id": psid}, "recipient": {"id": page_id},
            "timestamp": ts or now_ms(),
            "message": {"mid": mid or uniq("mid"), "text": text}}


def postback_event(page_id, psid, payload="GET_STARTED", mid=None, ts=None):
    return {"sender": {"id": psid}, "recipient": {"id": page_id},
            "timestamp": ts or now_ms(),
            "postback": {"title": "Get Started", "payload": payload, "mid": mid or uniq("pb")}}


def entry(page_id, events, standby=False):
    return {"id": page_id, "time": now_ms(), ("standby" if standby else "messaging"): events}


def webhook(*entries, obj="page"):
    return {"object": obj, "entry": list(entries)}
