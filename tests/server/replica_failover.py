#!/usr/bin/env python3
"""Two replicas behind nginx (scripts/serve_replicas.sh); one is killed with SIGKILL in the middle
of a load of /embed and /rerank requests: no client request may fail.

  replica_failover.py [--seconds 12] [--threads 8]
Last line: "N requests, F failed"; exit 0 only if F = 0 and both halves of the run had traffic.
"""
import argparse
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(__file__))
from server_util import ENCODER, RERANKER, ROOT, post  # noqa: E402


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=12)
    ap.add_argument("--threads", type=int, default=8)
    args = ap.parse_args()
    if not (shutil.which("nginx") or os.path.exists("/usr/sbin/nginx")):
        print("SKIP: no nginx (Debian nginx-light; scripts/setup.sh installs it)")
        return 77
    run_dir = tempfile.mkdtemp(prefix="bertrank-failover-")
    port = free_port()
    proc = subprocess.Popen(["bash", os.path.join(ROOT, "scripts", "serve_replicas.sh"), "-n", "2", "--port",
                             str(port), "--run-dir", run_dir, "--", "-m", ENCODER, "--reranker", RERANKER, "-t", "1"],
                            stderr=subprocess.PIPE, text=True)
    for line in proc.stderr:
        sys.stderr.write(line)
        if "replicas: ready" in line:
            break
    else:
        print("replicas did not start")
        return 1
    threading.Thread(target=lambda: [sys.stderr.write(l) for l in proc.stderr], daemon=True).start()

    stop = time.time() + args.seconds
    kill_at = time.time() + args.seconds / 3
    results = {"ok": 0, "failed": 0, "after_kill": 0}
    errors = []
    lock = threading.Lock()
    killed = threading.Event()

    def client(t):
        i = 0
        while time.time() < stop:
            i += 1
            try:
                if i % 3:
                    st, body = post(port, "/embed", {"inputs": ["client %d request %d" % (t, i)]}, timeout=60)
                else:
                    st, body = post(port, "/rerank", {"query": "q %d" % i, "texts": ["a doc", "another doc"]},
                                    timeout=60)
                good = st == 200
            except Exception as e:  # noqa: BLE001 - any client-side failure counts
                st, good = repr(e), False
            with lock:
                results["ok" if good else "failed"] += 1
                if killed.is_set() and good:
                    results["after_kill"] += 1
                if not good and len(errors) < 20:
                    errors.append(st)

    threads = [threading.Thread(target=client, args=(t,)) for t in range(args.threads)]
    for th in threads:
        th.start()
    time.sleep(max(0, kill_at - time.time()))
    victim = int(open(os.path.join(run_dir, "replica0.pid")).read())
    os.kill(victim, signal.SIGKILL)
    killed.set()
    print("killed replica 0 (pid %d) with SIGKILL" % victim, file=sys.stderr)
    for th in threads:
        th.join()
    proc.send_signal(signal.SIGTERM)
    proc.wait(60)
    for e in errors:
        print("FAIL", e)
    n = results["ok"] + results["failed"]
    print("%d requests (%d after the kill), %d failed" % (n, results["after_kill"], results["failed"]))
    return 0 if results["failed"] == 0 and results["after_kill"] > 0 else 1


if __name__ == "__main__":
    sys.exit(main())
