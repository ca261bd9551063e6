"""The port a test helper server chose, read from the file it writes once it listens
(fake_graph.py, examples/bot_api.py: --port 0 --port-file PATH)."""
import os
import time


def wait(path, proc, what, timeout=10, log=None):
    """The port in path, once there and whole. RuntimeError when proc exits first (with its
    log file's text, or its stderr when piped) or after timeout seconds."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        if os.path.exists(path):
            with open(path) as f:
                text = f.read().strip()
            if text:
                return int(text)
        if proc.poll() is not None:
            why = ""
            if log is not None:
                with open(log) as f:
                    why = f.read()
            elif proc.stderr is not None:
                why = proc.stderr.read().decode(errors="replace")
            raise RuntimeError("%s exited: %s" % (what, why))
        time.sleep(0.05)
    raise RuntimeError("%s did not start within %d s" % (what, timeout))
