"""fakegraph.py — starts tests/fake_graph.py as a separate process and talks to its control API.

Used by the integration tests of the worker, handover and set-up commands. The server is
a real HTTP server on 127.0.0.1; "refuse connections" is done by stopping it and starting it
again on the same port."""
import json
import os
import subprocess
import sys
import tempfile
import urllib.request

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "tests"))
import portfile  # noqa: E402
FAKE = os.path.join(ROOT, "tests", "fake_graph.py")


class FakeGraph:
    def __init__(self, config, version="v26.0"):
        self.dir = tempfile.mkdtemp(prefix="msgr-fake-")
        self.conf = os.path.join(self.dir, "fake.json")
        self.port_file = os.path.join(self.dir, "port")
        self.version = version
        with open(self.conf, "w") as f:
            json.dump(config, f)
        self.proc = None
        self.port = 0
        self.start()

    @property
    def url(self):
        return "http://127.0.0.1:%d" % self.port

    def start(self, port=None):
        if os.path.exists(self.port_file):
            os.unlink(self.port_file)
        args = [sys.executable, FAKE, "--config", self.conf, "--port-file", self.port_file,
                "--port", str(self.port if port is None else port)]
        self.proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        self.port = portfile.wait(self.port_file, self.proc, "fake graph")

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def ctl(self, method, what, body=None):
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.url + "/_fake/" + what, data=data, method=method,
                                     headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=10) as r:
            return json.loads(r.read() or b"null")

    def calls(self, path=None):
        q = "calls" + ("?path=" + urllib.request.quote(path) if path else "")
        return self.ctl("GET", q)["calls"]

    def sends(self):
        """Successful Send API calls (POST .../me/messages answered 200), in order."""
        out = []
        for c in self.calls("/messages"):
            if c.get("method") == "POST" and c.get("status") == 200:
                out.append(c)
        return out

    def texts(self, psid=None):
        """Texts of the successful message sends, in order (optionally to one user)."""
        out = []
        for c in self.sends():
            b = c.get("body") or {}
            if psid is not None and (b.get("recipient") or {}).get("id") != psid:
                continue
            m = b.get("message")
            if isinstance(m, dict) and "text" in m:
                out.append(m["text"])
        return out

    def fail(self, mode, count=-1, path=None, **kw):
        body = {"mode": mode, "count": count}
        if path:
            body["path"] = path
        body.update(kw)
        return self.ctl("POST", "fail", body)

    def clear_fail(self):
        return self.ctl("POST", "clear_fail", {})

    def violations(self):
        return self.ctl("GET", "violations")["violations"]

    def close(self):
        self.stop()
        import shutil
        shutil.rmtree(self.dir, ignore_errors=True)
