#!/usr/bin/env python3
"""Hostile requests against a running `bertrank serve`: every one must get the right status, the
server must never answer 5xx, never crash, and still be healthy at the end.

  hostile.py [--count 10000] [--seed 1] [--threads 8]    # starts its own server (tests/server)
  hostile.py --url http://127.0.0.1:8080 ...             # or attacks one already running

Cases (seeded, so a failure can be replayed): malformed and truncated JSON, wrong types for every
field of every route, deep nesting, huge bodies (10 MB, over the payload limit), 100,000-element
arrays, invalid UTF-8, random byte flips of valid bodies, garbage request lines and headers,
conflicting lengths (request smuggling), and slow clients that stall mid-body (408). The last
line is "N requests, F failures"; exit 0 only if F = 0 and the server is alive and healthy.
"""
import argparse
import http.client
import json
import os
import random
import socket
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(__file__))
from server_util import ENCODER, RERANKER, Server, get  # noqa: E402

VALID = {
    "/embed": {"inputs": ["a query", "another text"], "normalize": True, "truncate": True},
    "/rerank": {"query": "q", "texts": ["doc one", "doc two"], "raw_scores": False},
    "/tokenize": {"inputs": "hello world"},
    "/v1/embeddings": {"input": ["hello"], "model": "m", "encoding_format": "float"},
    "/v1/rerank": {"query": "q", "documents": ["a", {"text": "b"}], "top_n": 1},
    "/search": {"query": "q", "k": 3, "mode": "dense"},
}
WRONG = [None, 1, -1, 1.5, True, "s", [], {}, [1, 2], [None], {"a": 1}, 10**30, "\u0000", [[["x"]]]]


def case_stream(rng, limit):
    """Yields (description, raw request bytes, allowed statuses)."""
    routes = list(VALID)
    while True:
        kind = rng.randrange(12)
        route = rng.choice(routes)
        body = json.dumps(VALID[route]).encode()
        if kind == 0:  # truncated JSON
            cut = rng.randrange(1, len(body))
            yield "truncated", post(route, body[:cut]), {400}
        elif kind == 1:  # wrong type for one field
            obj = dict(VALID[route])
            field = rng.choice(list(obj))
            obj[field] = rng.choice(WRONG)
            yield "wrong type %s.%s" % (route, field), post(route, json.dumps(obj).encode()), {200, 422}
        elif kind == 2:  # not an object at all
            yield "non-object", post(route, json.dumps(rng.choice(WRONG)).encode()), {422}
        elif kind == 3:  # deep nesting
            depth = rng.choice([65, 1000, 100000])
            yield "nesting %d" % depth, post(route, b"[" * depth + b"]" * depth), {400, 422}
        elif kind == 4:  # random byte flips
            b = bytearray(body)
            for _ in range(rng.randrange(1, 4)):
                b[rng.randrange(len(b))] = rng.randrange(256)
            yield "flipped", post(route, bytes(b)), {200, 400, 422}
        elif kind == 5:  # invalid UTF-8 inside a string
            bad = rng.choice([b"\xff", b"\xc3\x28", b"\xed\xa0\x80", b"\xf8\x88\x80\x80\x80", b"\xe2\x82"])
            raw = body.replace(b'"q"', b'"q' + bad + b'"').replace(b'"hello', b'"hel' + bad)
            yield "invalid utf-8", post(route, raw), {200, 400, 422}
        elif kind == 6:  # 100,000-element arrays
            field = "inputs" if route in ("/embed", "/tokenize") else "input" if route == "/v1/embeddings" else \
                "texts" if route == "/rerank" else "documents" if route == "/v1/rerank" else "queries"
            obj = dict(VALID[route])
            obj.pop("query", None) if field == "queries" else None
            obj[field] = [rng.choice(["a", 1, None])] * 100000
            yield "100k array", post(route, json.dumps(obj).encode()), {413, 422}
        elif kind == 7:  # garbage request line / headers
            junk = rng.choice([b"GARBAGE\r\n\r\n", b"GET\r\n\r\n", b"GET / HTTP/9.9\r\n\r\n",
                               b"POST /embed HTTP/1.1\r\nContent-Length: -5\r\n\r\n",
                               b"POST /embed HTTP/1.1\r\nContent-Length: 99999999999999999999999\r\n\r\n",
                               b"POST /embed HTTP/1.1\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\n{}",
                               b"POST /embed HTTP/1.1\r\nContent-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
                               b"POST /embed HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n",
                               b"POST /embed HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
                               b"GET / HTTP/1.1\r\n" + b"X: " + b"a" * 20000 + b"\r\n\r\n",
                               b"GET / HTTP/1.1\r\n folded: header\r\n\r\n",
                               b"\x00\x01\x02\x03 / HTTP/1.1\r\n\r\n"])
            yield "garbage", junk, {400, 404, 413, 431, 501, 505}
        elif kind == 8:  # chunked body, valid
            chunks = b""
            rest = body
            while rest:
                n = rng.randrange(1, 8)
                chunks += b"%x\r\n" % len(rest[:n]) + rest[:n] + b"\r\n"
                rest = rest[n:]
            req = (b"POST %s HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
                   % route.encode()) + chunks + b"0\r\n\r\n"
            yield "chunked", req, {200, 424}
        elif kind == 9:  # unknown route / method
            m = rng.choice([b"GET", b"PUT", b"DELETE", b"PATCH", b"OPTIONS", b"HEAD"])
            p = rng.choice([b"/embed", b"/nope", b"/documents/abc", b"/documents/-1", b"/../../etc/passwd",
                            b"/documents/99999999999999999999999"])
            allowed = {400, 404, 405}
            yield "method %s %s" % (m, p), m + b" " + p + b" HTTP/1.1\r\nHost: x\r\n\r\n", allowed
        elif kind == 10:  # missing required field
            obj = dict(VALID[route])
            field = rng.choice(list(obj))
            del obj[field]
            yield "missing %s.%s" % (route, field), post(route, json.dumps(obj).encode()), {200, 422}
        else:  # the valid request itself (the service keeps working between attacks)
            yield "valid " + route, post(route, body), {200}


def post(route, body, extra=b""):
    return (b"POST %s HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: %d\r\n%s\r\n"
            % (route.encode(), len(body), extra)) + body


def read_response(sock, timeout=120):
    """The status of one response read from sock (None if the connection closed first)."""
    sock.settimeout(timeout)
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            return None, data
        data += chunk
    head, _, rest = data.partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    length = 0
    for line in head.split(b"\r\n")[1:]:
        k, _, v = line.partition(b":")
        if k.strip().lower() == b"content-length":
            length = int(v.strip())
    while len(rest) < length:
        chunk = sock.recv(65536)
        if not chunk:
            break
        rest += chunk
    return status, rest[:length]


def send_one(host, port, raw):
    with socket.create_connection((host, port), timeout=120) as s:
        try:
            s.sendall(raw)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server answered early (413) and closed; the answer may still be readable
        try:
            s.shutdown(socket.SHUT_WR)
        except OSError:
            pass
        try:
            return read_response(s)
        except (ConnectionResetError, socket.timeout) as e:
            return ("reset" if isinstance(e, ConnectionResetError) else "timeout"), b""


def big_body(host, port):
    """10 MB body: 413 (with Expect: 100-continue it must come before any body byte is sent)."""
    with socket.create_connection((host, port), timeout=60) as s:
        s.sendall(b"POST /embed HTTP/1.1\r\nHost: x\r\nContent-Length: 10485760\r\nExpect: 100-continue\r\n\r\n")
        status, _ = read_response(s)
    if status != 413:
        return "expect: got %r" % status
    status, _ = send_one(host, port, post("/embed", b'{"inputs": "' + b"a" * (10 << 20) + b'"}'))
    if status not in (413, "reset"):
        return "10 MB body: got %r" % status
    return None


def slow_client(host, port, stall):
    """Sends half a body then stalls: the server must answer 408 (read timeout) and close."""
    body = json.dumps(VALID["/embed"]).encode()
    with socket.create_connection((host, port), timeout=60) as s:
        s.sendall(post("/embed", body)[:-len(body) // 2])
        t0 = time.time()
        status, _ = read_response(s, timeout=stall + 30)
    return status, time.time() - t0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--count", type=int, default=10000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--threads", type=int, default=8)
    ap.add_argument("--slow", type=int, default=16, help="slow clients stalling at once")
    ap.add_argument("--url", default="")
    args = ap.parse_args()

    server = None
    if args.url:
        host, port = args.url.split("//")[1].rsplit(":", 1)
        port = int(port.strip("/"))
    else:
        tmp = tempfile.mkdtemp(prefix="bertrank-hostile-")
        server = Server("-m", ENCODER, "--reranker", RERANKER, "-i", os.path.join(tmp, "empty.idx"),
                        "--read-timeout-ms", "1000", "-t", "2").start()
        host, port = server.host, server.port

    failures = []
    lock = threading.Lock()
    done = [0]
    rng_master = random.Random(args.seed)
    seeds = [rng_master.randrange(1 << 30) for _ in range(args.threads)]
    per_thread = (args.count + args.threads - 1) // args.threads

    def worker(t):
        rng = random.Random(seeds[t])
        stream = case_stream(rng, per_thread)
        for i in range(per_thread):
            what, raw, allowed = next(stream)
            status, body = send_one(host, port, raw)
            ok = status in allowed
            if ok and isinstance(status, int) and status >= 400:
                try:
                    ok = "error" in json.loads(body)
                except ValueError:
                    ok = False
            with lock:
                done[0] += 1
                if not ok:
                    failures.append("%s: status %r, allowed %s: %r" % (what, status, sorted(allowed), body[:200]))

    t0 = time.time()
    threads = [threading.Thread(target=worker, args=(t,)) for t in range(args.threads)]
    for th in threads:
        th.start()
    # Meanwhile: 10 MB bodies and slow clients.
    for _ in range(3):
        e = big_body(host, port)
        if e:
            failures.append(e)
        done[0] += 2
    slow = []
    slow_threads = [threading.Thread(target=lambda: slow.append(slow_client(host, port, 1.0))) for _ in range(args.slow)]
    for th in slow_threads:
        th.start()
    for th in slow_threads + threads:
        th.join()
    done[0] += len(slow)
    for status, secs in slow:
        if status != 408:
            failures.append("slow client: got %r after %.1f s" % (status, secs))
    st, _ = get(port, "/health", host=host)
    alive = server is None or server.proc.poll() is None
    if st != 200 or not alive:
        failures.append("server unhealthy after the run (health %r, alive %s)" % (st, alive))
    for f in failures[:30]:
        print("FAIL", f)
    print("%.1f s, %d slow clients" % (time.time() - t0, len(slow)))
    if server:
        rc = server.stop()
        if rc != 0:
            failures.append("server exit status %r" % rc)
            print(server.text_log()[-3000:])
    print("%d requests, %d failures" % (done[0], len(failures)))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
