#!/usr/bin/env python3
"""Sustained load on `bertrank serve`: a mix of routes at a fixed concurrency for a fixed time.
Passes when no response is 5xx (429 under overload is allowed and counted), no request fails at
the connection level, and the server's resident memory stays flat: the RSS at the end is within
max(10 %, 32 MiB) of the RSS after the first fifth of the run (the warm-up: buffers, caches and
thread stacks reach their working size).

  load.py [--seconds 300] [--concurrency 64]
Last line: "N requests (per status ...), RSS warm X MiB, end Y MiB, peak Z MiB: ok|FAIL".
"""
import argparse
import collections
import http.client
import json
import os
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(__file__))
from server_util import ENCODER, RERANKER, Server, get  # noqa: E402

MIX = [
    ("/embed", {"inputs": "a single short query about boundary layers"}),
    ("/embed", {"inputs": ["document number %d about heat transfer and flow in a channel" % i for i in range(32)],
                "truncate": True}),
    ("/rerank", {"query": "boundary layer", "texts": ["candidate %d text about supersonic flow" % i for i in range(20)]}),
    ("/v1/embeddings", {"input": ["openai style", "two inputs"], "model": "m"}),
    ("/v1/rerank", {"query": "q", "documents": ["a", "b", "c"], "top_n": 2}),
    ("/search", {"query": "heat transfer", "k": 5, "rerank": True, "candidates": 10}),
    ("/tokenize", {"inputs": "tokenize me"}),
]


def rss_kib(pid, field="VmRSS"):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=300)
    ap.add_argument("--concurrency", type=int, default=64)
    args = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix="bertrank-load-")
    s = Server("-m", ENCODER, "--reranker", RERANKER, "-i", os.path.join(tmp, "load.idx")).start()
    # A few documents so that /search has something to find.
    conn = http.client.HTTPConnection(s.host, s.port, timeout=120)
    docs = [{"text": "document %d on heat transfer, boundary layers and supersonic flow" % i} for i in range(32)]
    conn.request("POST", "/documents", json.dumps({"documents": docs}), {"Content-Type": "application/json"})
    assert conn.getresponse().status == 200
    conn.close()

    statuses = collections.Counter()
    failures = []
    lock = threading.Lock()
    end = time.time() + args.seconds
    bodies = [(route, json.dumps(body).encode()) for route, body in MIX]

    def client(t):
        conn = None
        i = t
        while time.time() < end:
            route, body = bodies[i % len(bodies)]
            i += 1
            try:
                if conn is None:
                    conn = http.client.HTTPConnection(s.host, s.port, timeout=300)
                conn.request("POST", route, body, {"Content-Type": "application/json"})
                r = conn.getresponse()
                r.read()
                st = r.status
                if r.getheader("Connection", "").lower() == "close":
                    conn.close()
                    conn = None
            except Exception as e:  # noqa: BLE001
                st = "error: " + repr(e)
                conn = None
            with lock:
                statuses[st] += 1
                if (not isinstance(st, int) or st >= 500) and len(failures) < 20:
                    failures.append((route, st))

    rss = []
    threads = [threading.Thread(target=client, args=(t,)) for t in range(args.concurrency)]
    t0 = time.time()
    for th in threads:
        th.start()
    while any(th.is_alive() for th in threads):
        rss.append((time.time() - t0, rss_kib(s.proc.pid)))
        time.sleep(1)
    for th in threads:
        th.join()
    peak = rss_kib(s.proc.pid, "VmHWM")
    health, _ = get(s.port, "/health")
    rc = s.stop()
    warm = [r for t, r in rss if t >= args.seconds / 5]
    warm_rss = warm[0] if warm else rss[0][1]
    end_rss = rss[-1][1]
    flat = end_rss <= warm_rss + max(warm_rss // 10, 32 << 10)
    bad = sum(n for st, n in statuses.items() if not isinstance(st, int) or st >= 500)
    ok = bad == 0 and flat and health == 200 and rc == 0
    for f in failures:
        print("FAIL", f)
    per = ", ".join("%s: %d" % (k, v) for k, v in sorted(statuses.items(), key=lambda kv: str(kv[0])))
    print("%d requests in %.0f s at concurrency %d (%s), RSS warm %.0f MiB, end %.0f MiB, peak %.0f MiB: %s"
          % (sum(statuses.values()), time.time() - t0, args.concurrency, per, warm_rss / 1024, end_rss / 1024,
             peak / 1024, "ok" if ok else "FAIL"))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
