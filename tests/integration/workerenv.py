"""workerenv.py — a responder pool with the worker on, behind the fake Graph API.

WorkerEnv extends harness.Env: the fake Graph API knows every connector's page, token and
app secret; the config points graph.url at it, with a short lease and timeout so tests of
kills and retries run in seconds. msgrctl() runs bin/msgrctl on the same config."""
import os
import subprocess
import time

import harness
from harness import Env
from fakegraph import FakeGraph

MSGRCTL = os.path.abspath(os.path.join(harness.ROOT, os.environ.get("MSGRCTL", "bin/msgrctl")))

DEFAULT_STORIES = """stories = (
  { name = "greetings"; triggers = ( "hello", "hi" );
    answers = ( { text = "Hello {first_name}!"; },
                { text = "How can I help?";
                  quick_replies = ( { title = "Help"; payload = "HELP"; } ); } ); },
  { name = "one"; triggers = ( "one" ); answers = ( { text = "1"; } ); },
  { name = "two"; triggers = ( "two" ); answers = ( { text = "2"; } ); },
  { name = "three"; triggers = ( "three" ); answers = ( { text = "3"; } ); },
  { name = "four"; triggers = ( "four" ); answers = ( { text = "4"; } ); },
  { name = "five"; triggers = ( "five" ); answers = ( { text = "5"; } ); },
  { name = "six"; triggers = ( "six" ); answers = ( { text = "6"; } ); },
  { name = "unknown"; fallback = true;
    answers = ( { text = "Sorry, I did not understand."; } ); } );
"""


class WorkerEnv(Env):
    """Env with a fake Graph API behind the connectors and a fast-expiring lease."""

    def __init__(self, nproc=2, wrong_token_for=None, stories=None, extra_config="",
                 budget_ms=3000, lease_ms=3000, **kw):
        self.fake = None
        self.budget_ms = budget_ms
        self.lease_ms = lease_ms
        self.stories = stories or DEFAULT_STORIES
        self.extra_config = extra_config
        self.wrong_token_for = wrong_token_for
        super().__init__(nproc=nproc, start=False, **kw)
        pages, apps, users = {}, {}, {}
        for c in self.connectors:
            pages[c.page_id] = {"token": c.call_token, "app_id": c.app_id,
                                "app_secret": c.secret}
            apps[c.app_id] = c.secret
        self.fake = FakeGraph({"pages": pages, "apps": apps, "users": users,
                               "require_proof": True})
        if wrong_token_for is not None:
            self.good_token = wrong_token_for.call_token
            wrong_token_for.call_token = "EAAwrong" + "0" * 32
        with open(os.path.join(self.dir, "stories.conf"), "w") as f:
            f.write(self.stories)
        self.write_config()
        self.start(nproc)

    def write_config(self, extra=""):
        super().write_config(extra + self.extra_config + """
worker = { budget_ms = %d; lease_ms = %d; retry_max_s = 600; idle_ms = 100; };
log_level = "info";
""" % (self.budget_ms, self.lease_ms))
        if self.fake is None:
            return
        with open(self.conf_path) as f:
            text = f.read()
        text = text.replace('url = "http://127.0.0.1:9"', 'url = "%s"' % self.fake.url)
        text = text.replace("timeout_ms = 10000", "timeout_ms = 2000")
        with open(self.conf_path, "w") as f:
            f.write(text)

    def msgrctl(self, *args, timeout=60):
        env = dict(self.child_env)
        p = subprocess.run([MSGRCTL, "-c", self.conf_path] + list(args), env=env,
                           capture_output=True, timeout=timeout, cwd=self.dir)
        with open(self.log_path, "ab") as f:
            f.write(p.stderr)
        return p.returncode, p.stdout.decode("utf-8", "replace"), p.stderr.decode("utf-8", "replace")

    def jobs(self, where="1=1"):
        self.settled()
        with self.db() as db:
            return db.execute("SELECT kind, state, attempts, error FROM events WHERE " + where
                              ).fetchall()

    def cleanup(self):
        super().cleanup()
        if self.fake is not None:
            self.fake.close()


def wait_for(cond, timeout=15.0, step=0.1):
    deadline = time.time() + timeout
    while time.time() < deadline:
        v = cond()
        if v:
            return v
        time.sleep(step)
    return cond()


def send_calls_to(fake, psid):
    out = []
    for c in fake.sends():
        b = c.get("body") or {}
        if (b.get("recipient") or {}).get("id") == psid:
            out.append(b)
    return out


def drain_until(env, cond, timeout=20.0):
    """Runs `msgrctl drain` until cond() holds (retries become due over time)."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        env.msgrctl("drain")
        if cond():
            return True
        time.sleep(0.3)
    return cond()


