"""Starting and stopping `bertrank serve` for the server tests and benchmarks.

Server(args).start() runs build/bertrank serve on an ephemeral loopback port (--port 0), waits
for the ready line on stderr ("bertrank serve: listening on http://HOST:PORT ...") and keeps
reading stderr in a thread (so the pipe never fills). stop() sends SIGTERM and returns the exit
status; the log is in .log.
"""
import http.client
import json
import os
import re
import signal
import subprocess
import threading
import time

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
BUILD = os.environ.get("BUILD_DIR", os.path.join(ROOT, "build"))
if not os.path.isabs(BUILD):
    BUILD = os.path.join(ROOT, BUILD)
BIN = os.environ.get("BERTRANK_BIN", os.path.join(BUILD, "bertrank"))
ENCODER = os.path.join(ROOT, "weights", "all-MiniLM-L6-v2.brm")
RERANKER = os.path.join(ROOT, "weights", "ms-marco-MiniLM-L-12-v2.brm")
SHARED = os.path.abspath(os.path.join(ROOT, "..", "shared"))
READY = re.compile(r"bertrank serve: listening on http://(\S+):(\d+)")


class Server:
    def __init__(self, *args, env=None):
        self.args = [BIN, "serve", "--port", "0", *args]
        self.env = env
        self.proc = None
        self.log = []
        self.host = self.port = None

    def start(self, timeout=60):
        self.proc = subprocess.Popen(self.args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                     text=True, env=self.env, cwd=ROOT)
        ready = threading.Event()

        def pump():
            for line in self.proc.stderr:
                self.log.append(line)
                m = READY.search(line)
                if m and not ready.is_set():
                    self.host, self.port = m.group(1).strip("[]"), int(m.group(2))
                    ready.set()
            ready.set()

        self.thread = threading.Thread(target=pump, daemon=True)
        self.thread.start()
        if not ready.wait(timeout) or self.port is None:
            self.kill()
            raise RuntimeError("server did not become ready:\n" + "".join(self.log))
        return self

    @property
    def url(self):
        return "http://%s:%d" % (self.host, self.port)

    def stop(self, timeout=60):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        rc = self.proc.wait(timeout)
        self.thread.join(5)
        return rc

    def kill(self):
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def text_log(self):
        return "".join(self.log)


def request(port, method, path, body=None, headers=None, host="127.0.0.1", timeout=120):
    """One request on a new connection; returns (status, headers dict, body bytes)."""
    conn = http.client.HTTPConnection(host, port, timeout=timeout)
    h = dict(headers or {})
    data = None
    if body is not None:
        data = body if isinstance(body, (bytes, bytearray)) else json.dumps(body).encode()
        h.setdefault("Content-Type", "application/json")
    conn.request(method, path, body=data, headers=h)
    r = conn.getresponse()
    out = r.read()
    hdrs = {k.lower(): v for k, v in r.getheaders()}
    conn.close()
    return r.status, hdrs, out


def post(port, path, body, **kw):
    status, hdrs, out = request(port, "POST", path, body, **kw)
    return status, (json.loads(out) if out else None)


def get(port, path, **kw):
    status, hdrs, out = request(port, "GET", path, **kw)
    if hdrs.get("content-type", "").startswith("application/json"):
        return status, json.loads(out)
    return status, out.decode("utf-8", "replace")


def wait_gone(proc, timeout=30):
    t0 = time.time()
    while proc.poll() is None and time.time() - t0 < timeout:
        time.sleep(0.05)
    return proc.poll()
