#!/usr/bin/env python3
"""Serving benchmark of issue 15: `bertrank serve` beside infinity and llama.cpp's server, on the
same weights, the same texts and the same threads, in one run.

  bench/peers/make_serve_peers.sh          # once: the peers' venvs and GGUF files (outside the repo)
  bench/bench_server.py --quick            # ~5 min: short cells, a first look
  bench/bench_server.py                    # full run -> bench/results/serve.md

Engines (each started on a free loopback port, stopped with SIGTERM at the end of its cells):
  bertrank          build/bertrank serve -m all-MiniLM-L6-v2.brm --reranker ms-marco-MiniLM-L-12-v2.brm
                    -i <Cranfield index> -t T    (routes /v1/embeddings, /v1/rerank)
  infinity-torch    infinity_emb v2 --engine torch  on weights/hf/<model> (routes /embeddings, /rerank)
  infinity-onnx     infinity_emb v2 --engine optimum (ONNX Runtime) on the bi-encoder's folder with
                    an optimum-cli ONNX export beside it (no rerank: see Infinity.command)
  llama.cpp         python -m llama_cpp.server on the f32 GGUF conversion (/v1/embeddings; it has
                    no rerank route)
Workloads, each at concurrency 1, 8, 32 (one persistent connection per client, fixed bodies):
  embed1     /v1/embeddings with one Cranfield query per request (the first 224 queries in turn)
  embed32    32 MEDLINE documents per request (the first 32)
  rerank20   MEDLINE query 1 against the first 20 MEDLINE documents
  MEDLINE documents are cut, at a word-piece boundary, to at most 256 word pieces (the
  bi-encoder's max length) so that no engine truncates and all do the same work.
  keepalive/newconn: embed1 at concurrency 1 on a reused connection vs a new one per request.
Offline figures of the engine in the same run, through libbertrank (ctypes, same threads):
batch-32 throughput on the same 224 queries, single-query latency, the 32-document and rerank-20
calls. From them the issue's targets: c32 embed1 throughput / offline batch-32 throughput (>= 0.8),
c1 embed1 p50 - offline single-query p50 (<= 1 ms), bertrank / each peer at c32 (>= 2x).

The client is this process: one thread per connection, raw HTTP/1.1 over sockets (TCP_NODELAY,
Content-Length or chunked bodies), so it spends little CPU; its own CPU time and the server's
(/proc/PID/stat) are reported per cell, as % of one core. A cell: every client opens its
connection, then sends requests until --duration seconds have passed (the requests in flight then
finish and count: a closed loop); each workload is warmed up first (2 clients, --warmup s).
Peak RSS (VmHWM) of each server is read after its cells.
"""
import argparse
import ctypes
import datetime
import glob
import json
import math
import os
import platform
import re
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(HERE, "peers"))
from peers import read_smart_texts  # noqa: E402  (the SMART reader of retrieval/smart.h's rules)

DATA = os.environ.get("BERTRANK_IR_DATA", os.path.join(os.path.dirname(REPO), "shared", "data", "ir"))
if not os.path.isdir(DATA):
    DATA = "/work/shared/data/ir"
CACHE = os.path.join(os.environ.get("XDG_CACHE_HOME", os.path.expanduser("~/.cache")), "bertrank")
BI, CE = "all-MiniLM-L6-v2", "ms-marco-MiniLM-L-12-v2"
MAX_WORD_PIECES = 256
N_QUERIES = 224  # 7 batches of 32


# ---- libbertrank through ctypes ---------------------------------------------------------------

class EmbedParams(ctypes.Structure):
    _fields_ = [("num_threads", ctypes.c_int), ("max_length", ctypes.c_int),
                ("max_batch_tokens", ctypes.c_int)]


class ScoreParams(ctypes.Structure):
    _fields_ = [("num_threads", ctypes.c_int), ("max_length", ctypes.c_int),
                ("activation", ctypes.c_int), ("window_length", ctypes.c_int),
                ("window_stride", ctypes.c_int), ("max_batch_tokens", ctypes.c_int)]


class ModelInfo(ctypes.Structure):
    _fields_ = [("kind", ctypes.c_int), ("dim", ctypes.c_int), ("num_labels", ctypes.c_int),
                ("max_length", ctypes.c_int), ("num_layers", ctypes.c_int),
                ("vocab_size", ctypes.c_int), ("precision", ctypes.c_int),
                ("name", ctypes.c_char_p), ("fingerprint", ctypes.c_char_p), ("path", ctypes.c_char_p)]


class Lib:
    """The few C API calls the benchmark needs; every failure raises with bertrank_last_error()."""

    def __init__(self, path):
        self.c = c = ctypes.CDLL(path)
        vp, sz = ctypes.c_void_p, ctypes.c_size_t
        c.bertrank_last_error.restype = ctypes.c_char_p
        c.bertrank_version.restype = ctypes.c_char_p
        c.bertrank_isa.restype = ctypes.c_char_p
        c.bertrank_model_load.argtypes = [ctypes.c_char_p, vp, ctypes.POINTER(vp)]
        c.bertrank_model_get_info.argtypes = [vp, ctypes.POINTER(ModelInfo)]
        c.bertrank_model_tokenizer.argtypes = [vp, ctypes.POINTER(vp)]
        c.bertrank_embed_default_params.restype = EmbedParams
        c.bertrank_score_default_params.restype = ScoreParams
        c.bertrank_embed.argtypes = [vp, ctypes.POINTER(ctypes.c_char_p), ctypes.POINTER(sz), sz,
                                     ctypes.POINTER(EmbedParams), ctypes.POINTER(ctypes.c_float), sz, vp]
        c.bertrank_score.argtypes = [vp, ctypes.c_char_p, sz, ctypes.POINTER(ctypes.c_char_p),
                                     ctypes.POINTER(sz), sz, ctypes.POINTER(ScoreParams),
                                     ctypes.POINTER(ctypes.c_float), sz]
        c.bertrank_tokenize.argtypes = [vp, ctypes.c_char_p, sz, ctypes.c_char_p, sz, ctypes.c_int,
                                        ctypes.POINTER(ctypes.c_int32), ctypes.POINTER(ctypes.c_int32),
                                        ctypes.POINTER(ctypes.c_int32), sz, ctypes.POINTER(sz)]
        self.version = c.bertrank_version().decode()
        self.isa = c.bertrank_isa().decode()

    def check(self, status, what):
        if status != 0:
            raise RuntimeError("%s: %s" % (what, self.c.bertrank_last_error().decode("utf-8", "replace")))

    def load(self, path):
        m = ctypes.c_void_p()
        self.check(self.c.bertrank_model_load(path.encode(), None, ctypes.byref(m)), path)
        info = ModelInfo()
        self.check(self.c.bertrank_model_get_info(m, ctypes.byref(info)), "model info")
        tok = ctypes.c_void_p()
        self.check(self.c.bertrank_model_tokenizer(m, ctypes.byref(tok)), "tokenizer")
        return m, info, tok

    @staticmethod
    def _texts(texts):
        raw = [t.encode("utf-8") for t in texts]
        return (ctypes.c_char_p * len(raw))(*raw), (ctypes.c_size_t * len(raw))(*map(len, raw))

    def embed(self, model, dim, texts, threads):
        arr, lens = self._texts(texts)
        out = (ctypes.c_float * (len(texts) * dim))()
        p = self.c.bertrank_embed_default_params()
        p.num_threads = threads
        self.check(self.c.bertrank_embed(model, arr, lens, len(texts), ctypes.byref(p), out, len(out), None),
                   "embed")
        return [list(out[i * dim:(i + 1) * dim]) for i in range(len(texts))]

    def score(self, model, query, docs, threads):
        arr, lens = self._texts(docs)
        q = query.encode("utf-8")
        out = (ctypes.c_float * len(docs))()
        p = self.c.bertrank_score_default_params()
        p.num_threads = threads
        self.check(self.c.bertrank_score(model, q, len(q), arr, lens, len(docs), ctypes.byref(p), out,
                                         len(out)), "score")
        return list(out)

    def tokenize(self, tok, text, max_length):
        """(number of word pieces incl. [CLS]/[SEP], end offset in code points of the last piece)."""
        raw = text.encode("utf-8")
        cap = len(raw) + 8
        ids = (ctypes.c_int32 * cap)()
        offs = (ctypes.c_int32 * (2 * cap))()
        n = ctypes.c_size_t()
        self.check(self.c.bertrank_tokenize(tok, raw, len(raw), None, 0, max_length, ids, None, offs, cap,
                                            ctypes.byref(n)), "tokenize")
        ends = [offs[2 * i + 1] for i in range(n.value)]
        return n.value, max(ends) if ends else 0


def fit_to_word_pieces(lib, tok, text, limit):
    """text cut at a word-piece end so that it tokenizes to <= limit pieces untruncated."""
    n, _ = lib.tokenize(tok, text, 0)
    budget = limit
    while n > limit:
        _, end = lib.tokenize(tok, text, budget)
        text = text[:end]
        n, _ = lib.tokenize(tok, text, 0)
        budget -= 2  # a word cut inside may re-tokenize into more pieces: cut again, shorter
    return text


# ---- statistics -------------------------------------------------------------------------------

def pct(values, p):
    if not values:
        return float("nan")
    v = sorted(values)
    k = (len(v) - 1) * p / 100.0
    lo, hi = math.floor(k), math.ceil(k)
    return v[lo] + (v[hi] - v[lo]) * (k - lo)


def timed_loop(fn, min_seconds, min_calls):
    times, t_end = [], time.perf_counter() + min_seconds
    while len(times) < min_calls or time.perf_counter() < t_end:
        t0 = time.perf_counter()
        fn(len(times))
        times.append(time.perf_counter() - t0)
    return times


def offline(lib, bi, ce, w, threads, seconds):
    (bm, binfo, _), (cm, _, _) = bi, ce
    dim = binfo.dim
    q = w["queries"]
    batches = [q[i:i + 32] for i in range(0, len(q), 32)]
    for b in batches[:2]:
        lib.embed(bm, dim, b, threads)
    t = timed_loop(lambda i: lib.embed(bm, dim, batches[i % len(batches)], threads), seconds, len(batches))
    batch32_qps = 32 * len(t) / sum(t)
    single = timed_loop(lambda i: lib.embed(bm, dim, [q[i % len(q)]], threads), seconds, 100)
    docs = timed_loop(lambda i: lib.embed(bm, dim, w["docs32"], threads), seconds, 5)
    lib.score(cm, w["med_query"], w["rerank_docs"], threads)
    rr = timed_loop(lambda i: lib.score(cm, w["med_query"], w["rerank_docs"], threads), seconds, 5)
    return {"batch32_qps": batch32_qps, "single_p50_ms": 1e3 * pct(single, 50),
            "single_p99_ms": 1e3 * pct(single, 99), "docs32_p50_ms": 1e3 * pct(docs, 50),
            "docs32_rps": len(docs) / sum(docs), "rerank20_p50_ms": 1e3 * pct(rr, 50),
            "rerank20_rps": len(rr) / sum(rr)}


# ---- HTTP client ------------------------------------------------------------------------------

class Conn:
    """One client connection: raw HTTP/1.1 requests, one at a time."""

    def __init__(self, port, keepalive=True, timeout=600):
        self.port, self.keepalive, self.timeout, self.sock = port, keepalive, timeout, None

    def close(self):
        if self.sock:
            self.sock.close()
            self.sock = None

    def request(self, raw):
        """(status, body). A reused connection that the server had closed while it was idle
        (uvicorn closes idle keep-alive connections after 5 s) is opened again once, as
        HTTP clients do; self.reopened counts those."""
        reused = self.sock is not None
        try:
            return self._request(raw)
        except (ConnectionError, BrokenPipeError) as e:
            if not reused or getattr(e, "got_bytes", False):
                raise
            self.reopened += 1
            return self._request(raw)

    reopened = 0

    def connect(self):
        if self.sock is None:
            s = socket.create_connection(("127.0.0.1", self.port), timeout=self.timeout)
            s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self.sock = s

    def _request(self, raw):
        self.connect()
        try:
            self.sock.sendall(raw)
            status, body, close = self._read()
        except Exception:
            self.close()
            raise
        if close or not self.keepalive:
            self.close()
        return status, body

    def _read(self):
        buf = b""
        while b"\r\n\r\n" not in buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                e = ConnectionError("connection closed before the response headers")
                e.got_bytes = bool(buf)
                raise e
            buf += chunk
        head, _, buf = buf.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split()[1])
        headers = {}
        for line in lines[1:]:
            k, _, v = line.partition(":")
            headers[k.strip().lower()] = v.strip()
        close = headers.get("connection", "").lower() == "close"
        if "content-length" in headers:
            n = int(headers["content-length"])
            while len(buf) < n:
                chunk = self.sock.recv(max(65536, n - len(buf)))
                if not chunk:
                    raise ConnectionError("connection closed inside the body")
                buf += chunk
            return status, buf[:n], close
        if headers.get("transfer-encoding", "").lower() == "chunked":
            body = b""
            while True:
                while b"\r\n" not in buf:
                    buf += self._recv_some()
                size_line, _, buf = buf.partition(b"\r\n")
                size = int(size_line.split(b";")[0], 16)
                while len(buf) < size + 2:
                    buf += self._recv_some()
                body, buf = body + buf[:size], buf[size + 2:]
                if size == 0:
                    return status, body, close  # (no trailers from these servers)
        while True:  # neither: the body runs to the end of the connection
            chunk = self.sock.recv(65536)
            if not chunk:
                return status, buf, True
            buf += chunk

    def _recv_some(self):
        chunk = self.sock.recv(65536)
        if not chunk:
            raise ConnectionError("connection closed inside a chunked body")
        return chunk


def http_request(port, path, body):
    raw = b"POST %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nContent-Type: application/json\r\n" \
          b"Content-Length: %d\r\n\r\n" % (path.encode(), port, len(body)) + body
    return raw


def proc_cpu_seconds(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except OSError:
        return float("nan")


def proc_status(pid, key):
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1]) // 1024  # MiB
    except OSError:
        pass
    return None


def run_cell(port, raws, concurrency, duration, server_pid, keepalive=True):
    """Each client opens its connection (keep-alive), then all send requests until the deadline;
    the requests in flight then finish and count. Returns the figures."""
    lat = [[] for _ in range(concurrency)]
    errors = [[] for _ in range(concurrency)]
    reopened = [0] * concurrency
    start = threading.Barrier(concurrency + 1)
    deadline = [0.0]

    def client(c):
        conn = Conn(port, keepalive)
        i = c * 7
        try:
            if keepalive:
                conn.connect()
        except OSError as e:
            errors[c].append(repr(e))
        start.wait()
        while time.perf_counter() < deadline[0]:
            i += 1
            t0 = time.perf_counter()
            try:
                status, body = conn.request(raws[i % len(raws)])
            except Exception as e:  # noqa: BLE001
                errors[c].append(repr(e))
                continue
            lat[c].append(time.perf_counter() - t0)
            if status != 200:
                errors[c].append("%d %s" % (status, body[:200]))
        reopened[c] = conn.reopened
        conn.close()

    threads = [threading.Thread(target=client, args=(c,), daemon=True) for c in range(concurrency)]
    for t in threads:
        t.start()
    while start.n_waiting < concurrency and any(t.is_alive() for t in threads):
        time.sleep(0.01)
    cpu0, scpu0, t0 = time.process_time(), proc_cpu_seconds(server_pid), time.perf_counter()
    deadline[0] = t0 + duration
    start.wait()
    for t in threads:
        t.join()
    wall = time.perf_counter() - t0
    cpu, scpu = time.process_time() - cpu0, proc_cpu_seconds(server_pid) - scpu0
    all_lat = [x for c in lat for x in c]
    errs = [e for c in errors for e in c]
    return {"n": len(all_lat), "wall_s": wall, "rps": len(all_lat) / wall,
            "p50_ms": 1e3 * pct(all_lat, 50), "p99_ms": 1e3 * pct(all_lat, 99),
            "client_cpu_pct": 100 * cpu / wall, "server_cpu_pct": 100 * scpu / wall,
            "errors": len(errs), "first_error": errs[0] if errs else "", "reopened": sum(reopened)}


# ---- engines ----------------------------------------------------------------------------------

def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Engine:
    """A server process and how to talk to it. Subclasses set the command and the routes."""
    name = ""
    embed_path = "/v1/embeddings"
    rerank_path = None

    def __init__(self, args, threads):
        self.args, self.threads, self.proc, self.port, self.log = args, threads, None, None, None
        self.cmd, self.cwd = [], REPO

    def embed_body(self, texts):
        return {"input": texts, "model": BI}

    def rerank_body(self, query, docs):
        return {"query": query, "documents": docs, "model": CE}

    @staticmethod
    def parse_embedding(body):
        return json.loads(body)["data"][0]["embedding"]

    @staticmethod
    def parse_rerank(body, n):
        scores = [None] * n
        for r in json.loads(body)["results"]:
            scores[r["index"]] = r["relevance_score"]
        return scores

    def env(self):
        e = dict(os.environ, HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1")
        for k in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
            e[k] = str(self.threads)
        wait = os.environ.get("BERTRANK_PEERS_OMP_WAIT_POLICY", "PASSIVE")
        if wait:
            e["OMP_WAIT_POLICY"] = wait
        return e

    def start(self):
        os.makedirs(os.path.join(CACHE, "serve-bench", "logs"), exist_ok=True)
        self.log = os.path.join(CACHE, "serve-bench", "logs", "%s-t%d.log" % (self.name, self.threads))
        if self.port is None:
            self.port = free_port()
        cmd = self.command()
        if self.threads < os.cpu_count():  # fewer threads than cores: every engine on the same cores
            cmd = ["taskset", "-c", ",".join(map(str, range(self.threads)))] + cmd
        self.cmd = cmd
        with open(self.log, "w") as log:
            self.proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=self.env(),
                                         cwd=self.cwd, start_new_session=True)

    def wait_ready(self, probe, timeout):
        t_end = time.time() + timeout
        while time.time() < t_end:
            if self.proc.poll() is not None:
                raise RuntimeError("%s exited with %s; last log lines:\n%s"
                                   % (self.name, self.proc.returncode, self.tail()))
            if self.port is not None:
                try:
                    status, body = Conn(self.port, keepalive=False, timeout=60).request(probe)
                    if status == 200:
                        return
                    if 400 <= status < 500 and status not in (404, 424, 503):
                        raise RuntimeError("%s answers %d: %s" % (self.name, status, body[:300]))
                except OSError:
                    pass
            time.sleep(1)
        raise RuntimeError("%s not ready after %d s; last log lines:\n%s" % (self.name, timeout, self.tail()))

    def tail(self, n=15):
        try:
            with open(self.log, errors="replace") as f:
                return "".join(f.readlines()[-n:])
        except OSError:
            return ""

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


class Bertrank(Engine):
    name = "bertrank"
    rerank_path = "/v1/rerank"

    def command(self):
        a = self.args
        cmd = [a.bertrank_bin, "serve", "-m", os.path.join(REPO, "weights", BI + ".brm"),
               "--reranker", os.path.join(REPO, "weights", CE + ".brm"), "--port", "0",
               "-t", str(self.threads)]
        if a.index:
            cmd += ["-i", a.index]
        return cmd

    def start(self):
        super().start()
        self.port = None  # --port 0: read the ready line
        t_end = time.time() + 60
        while time.time() < t_end and self.proc.poll() is None:
            m = re.search(r"listening on http://127\.0\.0\.1:(\d+)", self.tail(50))
            if m:
                self.port = int(m.group(1))
                return
            time.sleep(0.1)
        raise RuntimeError("bertrank serve printed no ready line:\n" + self.tail())


class Infinity(Engine):
    embed_path = "/embeddings"
    rerank_path = "/rerank"

    def __init__(self, args, threads, engine):
        super().__init__(args, threads)
        self.engine = engine
        self.name = "infinity-" + {"torch": "torch", "optimum": "onnx"}[engine]
        if engine == "optimum":
            self.rerank_path = None

    def env(self):
        return dict(super().env(), INFINITY_ANONYMOUS_USAGE_STATS="0", DO_NOT_TRACK="1")

    def command(self):
        venv = os.path.join(self.args.peers, "infinity-venv")
        if self.engine == "optimum":
            # The folder with an ONNX export beside the weights (make_serve_peers.sh), as ".": infinity
            # 0.0.78 hands optimum 2.x the .onnx path it globbed, which optimum compares with bare
            # file names ("Could not find any ONNX files with target file name /abs/model.onnx"), so
            # only a model in the working directory loads: the bi-encoder alone, no rerank.
            # Its pooling must be named: "auto" picks CLS for this folder (cosine 0.48 with the
            # model's mean-pooled embedding).
            self.cwd = os.path.join(self.args.peers, "onnx", BI)
            models = ["--model-id", ".", "--served-model-name", BI, "--pooling-method", "mean"]
        else:
            hf = os.path.join(REPO, "weights", "hf")
            models = ["--model-id", os.path.join(hf, BI), "--served-model-name", BI,
                      "--model-id", os.path.join(hf, CE), "--served-model-name", CE]
        return [os.path.join(venv, "bin", "infinity_emb"), "v2"] + models + [
                "--engine", self.engine, "--device", "cpu", "--dtype", "float32", "--batch-size", "32",
                # no result cache (it would answer repeated bodies from SQLite); no access log
                "--no-vector-disk-cache", "--log-level", "warning",
                "--host", "127.0.0.1", "--port", str(self.port)]


class LlamaCpp(Engine):
    name = "llama.cpp"

    def command(self):
        venv = os.path.join(self.args.peers, "llama-venv")
        t = str(self.threads)
        # n_batch = n_ubatch = 512: one forward pass holds whole sequences (<= 256 word pieces
        # here; BERT's n_ctx_train is 512).
        return [os.path.join(venv, "bin", "python"), "-m", "llama_cpp.server",
                "--model", os.path.join(self.args.peers, "gguf", BI + "-f32.gguf"),
                "--embedding", "true", "--n_threads", t, "--n_threads_batch", t,
                "--n_ctx", "512", "--n_batch", "512", "--n_ubatch", "512", "--verbose", "false",
                "--host", "127.0.0.1", "--port", str(self.port)]


# ---- the run ----------------------------------------------------------------------------------

def cosine(a, b):
    dot = sum(x * y for x, y in zip(a, b))
    return dot / math.sqrt(sum(x * x for x in a) * sum(y * y for y in b))


def rank_corr(a, b):
    """Spearman's rho (no ties expected in float scores)."""
    def ranks(v):
        r = [0] * len(v)
        for k, i in enumerate(sorted(range(len(v)), key=lambda i: v[i])):
            r[i] = k
        return r
    ra, rb, n = ranks(a), ranks(b), len(a)
    return 1 - 6 * sum((x - y) ** 2 for x, y in zip(ra, rb)) / (n * (n * n - 1))


def load_workload(lib, tok):
    queries = read_smart_texts(os.path.join(DATA, "cranfield", "cran.qry"))[:N_QUERIES]
    med = read_smart_texts(os.path.join(DATA, "medline", "MED.ALL"))[:32]
    # [CLS] + pieces + [SEP] <= 256
    med = [fit_to_word_pieces(lib, tok, d, MAX_WORD_PIECES) for d in med]
    med_query = read_smart_texts(os.path.join(DATA, "medline", "MED.QRY"))[0]
    return {"queries": queries, "docs32": med, "rerank_docs": med[:20], "med_query": med_query,
            "query_pieces": statistics.mean(lib.tokenize(tok, q, 0)[0] for q in queries),
            "doc_pieces": statistics.mean(lib.tokenize(tok, d, 0)[0] for d in med)}


def bench_engine(eng, w, a, ref):
    """All cells of one engine; returns {cell: figures} plus checks and RSS."""
    out = {"cells": {}, "checks": {}}
    q_raws = [http_request(eng.port, eng.embed_path, json.dumps(eng.embed_body([q])).encode())
              for q in w["queries"]]
    work = {"embed1": q_raws,
            "embed32": [http_request(eng.port, eng.embed_path, json.dumps(eng.embed_body(w["docs32"])).encode())]}
    if eng.rerank_path:
        work["rerank20"] = [http_request(eng.port, eng.rerank_path, json.dumps(
            eng.rerank_body(w["med_query"], w["rerank_docs"])).encode())]
    # Same model? The served embedding of query 0 against libbertrank's; the rerank order.
    conn = Conn(eng.port)
    status, body = conn.request(q_raws[0])
    out["checks"]["embed_cosine"] = cosine(eng.parse_embedding(body), ref["q0"]) if status == 200 else None
    if "rerank20" in work:
        status, body = conn.request(work["rerank20"][0])
        if status == 200:
            s = eng.parse_rerank(body, len(w["rerank_docs"]))
            out["checks"]["rerank_spearman"] = rank_corr(s, ref["rerank"])
            out["checks"]["rerank_top1_same"] = max(range(len(s)), key=s.__getitem__) == \
                max(range(len(s)), key=ref["rerank"].__getitem__)
        else:
            out["checks"]["rerank_error"] = "%d %s" % (status, body[:200])
    conn.close()
    for name, raws in work.items():  # warm-up
        run_cell(eng.port, raws, 2, a.warmup, eng.proc.pid)
    for name, raws in work.items():
        for c in (a.concurrency if name == "embed1" else a.heavy_concurrency):
            r = run_cell(eng.port, raws, c, a.duration, eng.proc.pid)
            out["cells"]["%s/c%d" % (name, c)] = r
            log("  %-9s %-8s c=%-3d %8.1f req/s  p50 %8.2f ms  p99 %8.2f ms  client %4.0f%%  server %4.0f%%%s"
                % (eng.name, name, c, r["rps"], r["p50_ms"], r["p99_ms"], r["client_cpu_pct"],
                   r["server_cpu_pct"], "  ERRORS %d: %s" % (r["errors"], r["first_error"]) if r["errors"] else ""))
    for keepalive in (True, False):
        r = run_cell(eng.port, q_raws, 1, a.duration, eng.proc.pid, keepalive=keepalive)
        out["cells"]["embed1/c1/" + ("keepalive" if keepalive else "newconn")] = r
        log("  %-9s embed1 c=1 %-9s p50 %8.2f ms  p99 %8.2f ms" % (
            eng.name, "keepalive" if keepalive else "newconn", r["p50_ms"], r["p99_ms"]))
    out["vmhwm_mib"] = proc_status(eng.proc.pid, "VmHWM")
    out["vmrss_mib"] = proc_status(eng.proc.pid, "VmRSS")
    return out


def log(msg):
    print(msg, flush=True)


def cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


def ensure_index(a):
    """A Cranfield index (flat, with BM25) built by the CLI once, cached outside the repository."""
    path = os.path.join(CACHE, "serve-bench", "cranfield-%s.idx" % BI)
    docs = os.path.join(DATA, "cranfield", "cran.all.1400")
    model = os.path.join(REPO, "weights", BI + ".brm")
    if not os.path.exists(path) or os.path.getmtime(path) < max(os.path.getmtime(docs), os.path.getmtime(model)):
        os.makedirs(os.path.dirname(path), exist_ok=True)
        log("building the Cranfield index: %s" % path)
        subprocess.run([a.bertrank_bin, "index", "build", "-m", model, "--docs", docs, "-o", path, "--bm25"],
                       check=True)
    return path


def peers_status(peers):
    lines = []
    for f in sorted(glob.glob(os.path.join(peers, "status", "*"))):
        with open(f) as fh:
            lines += [line.strip() for line in fh if line.strip()]
    return lines


def fmt(x, nd=1):
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "—"
    return "%.*f" % (nd, x)


def report(a, meta, results):
    L = ["# Serving benchmark (issue 15)", "",
         "Generated by `bench/bench_server.py` — do not edit by hand.", "",
         "- command: `%s`" % meta["command"],
         "- date: %s; commit %s" % (meta["date"], meta["commit"]),
         "- CPU: %s, %d logical CPUs; bertrank %s, ISA %s" % (meta["cpu"], meta["ncpu"], meta["version"], meta["isa"]),
         "- load average at start %s, at end %s" % (meta["load_start"], meta["load_end"]),
         "- cells: %.0f s each after a %.0f s warm-up per workload; one persistent connection per client; "
         "OMP_WAIT_POLICY=%s" % (a.duration, a.warmup, os.environ.get("BERTRANK_PEERS_OMP_WAIT_POLICY", "PASSIVE")),
         "- texts: %d Cranfield queries (%.1f word pieces on average), MEDLINE documents 1-32 cut to <= %d "
         "word pieces (%.1f on average), MEDLINE query 1 for rerank" % (
             N_QUERIES, meta["query_pieces"], MAX_WORD_PIECES, meta["doc_pieces"]),
         "- peers (bench/peers/make_serve_peers.sh): " + ("; ".join(meta["peers_status"]) or "not made"), ""]
    for t, per in results.items():
        off = per["offline"]
        L += ["## %d thread%s" % (t, "s" if t > 1 else ""), "",
              "Offline (libbertrank in this process): batch-32 %.0f queries/s; one query p50 %.2f ms (p99 %.2f); "
              "32 documents p50 %.1f ms; rerank of 20 p50 %.1f ms." % (
                  off["batch32_qps"], off["single_p50_ms"], off["single_p99_ms"], off["docs32_p50_ms"],
                  off["rerank20_p50_ms"]), ""]
        L += ["| engine | workload | conc. | req/s | p50 ms | p99 ms | requests | errors | client CPU % | server CPU % |",
              "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
        for eng, r in per["engines"].items():
            if "error" in r:
                L.append("| %s | — | — | failed: %s | | | | | | |" % (eng, r["error"].splitlines()[0][:200]))
                continue
            for cell, c in r["cells"].items():
                wl, conc = cell.split("/", 1)
                L.append("| %s | %s | %s | %s | %s | %s | %d | %d | %s | %s |" % (
                    eng, wl, conc.replace("c", "", 1), fmt(c["rps"]), fmt(c["p50_ms"], 2), fmt(c["p99_ms"], 2),
                    c["n"], c["errors"], fmt(c["client_cpu_pct"], 0), fmt(c["server_cpu_pct"], 0)))
        L += ["", "Same model? (served vs libbertrank) and peak memory:", "",
              "| engine | embedding cosine, query 1 | rerank Spearman / same top-1 | VmHWM MiB | VmRSS MiB at end |",
              "|---|---:|---|---:|---:|"]
        for eng, r in per["engines"].items():
            if "error" in r:
                continue
            ch = r["checks"]
            rr = ("%.3f / %s" % (ch["rerank_spearman"], "yes" if ch["rerank_top1_same"] else "no")
                  if "rerank_spearman" in ch else ch.get("rerank_error", "no rerank route"))
            L.append("| %s | %s | %s | %s | %s |" % (eng, fmt(ch.get("embed_cosine"), 6), rr,
                                                     r.get("vmhwm_mib"), r.get("vmrss_mib")))
        L += ["", "Targets:", ""] + ["- " + x for x in targets(per)] + [""]
    if meta.get("rss_note"):
        L += [meta["rss_note"], ""]
    L += ["<details><summary>raw results (JSON)</summary>", "", "```json",
          json.dumps({"meta": meta, "results": results}, indent=1, sort_keys=True), "```", "</details>", ""]
    return "\n".join(L)


def targets(per):
    out, off = [], per["offline"]
    b = per["engines"].get("bertrank", {})
    cells = b.get("cells", {})
    if "embed1/c32" in cells:
        ratio = cells["embed1/c32"]["rps"] / off["batch32_qps"]
        out.append("c32, one query per request: %.0f req/s = %.2f × offline batch-32 (%.0f q/s); target ≥ 0.8: %s"
                   % (cells["embed1/c32"]["rps"], ratio, off["batch32_qps"], "met" if ratio >= 0.8 else "MISSED"))
    if "embed1/c1" in cells:
        d = cells["embed1/c1"]["p50_ms"] - off["single_p50_ms"]
        out.append("c1, one query: p50 %.2f ms − offline %.2f ms = %+.2f ms; target ≤ 1 ms: %s"
                   % (cells["embed1/c1"]["p50_ms"], off["single_p50_ms"], d, "met" if d <= 1 else "MISSED"))
    for eng, r in per["engines"].items():
        if eng == "bertrank" or "cells" not in r:
            continue
        for wl in ("embed1", "embed32", "rerank20"):
            k = wl + "/c32"
            if k in cells and k in r["cells"] and r["cells"][k]["rps"] > 0:
                x = cells[k]["rps"] / r["cells"][k]["rps"]
                out.append("bertrank / %s at c32, %s: %.2f×; target ≥ 2×: %s"
                           % (eng, wl, x, "met" if x >= 2 else "MISSED"))
    for eng, r in per["engines"].items():
        c = r.get("cells", {})
        if "embed1/c1/keepalive" in c:
            ka, nc = c["embed1/c1/keepalive"]["p50_ms"], c["embed1/c1/newconn"]["p50_ms"]
            out.append("%s keep-alive p50 %.2f ms vs new connection %.2f ms (%+.2f ms on a reused connection)"
                       % (eng, ka, nc, ka - nc))
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="3 s cells, 1 s warm-up")
    ap.add_argument("--duration", type=float, help="seconds per cell (default 12, quick 3)")
    ap.add_argument("--warmup", type=float, help="warm-up seconds per workload (default 3, quick 1)")
    ap.add_argument("--threads", type=int, nargs="+", default=[2], help="engine threads (default 2)")
    ap.add_argument("--concurrency", type=int, nargs="+", default=[1, 8, 32])
    ap.add_argument("--heavy-concurrency", type=int, nargs="+",
                    help="concurrency of embed32 and rerank20 (default: --concurrency). At c32 a cell "
                         "drains 32 requests of 32 documents: minutes on a slow peer or a busy machine")
    ap.add_argument("--engines", default="bertrank,llama.cpp,infinity-onnx,infinity-torch")
    ap.add_argument("--bertrank-bin", default=os.path.join(REPO, "build", "bertrank"))
    ap.add_argument("--lib", help="libbertrank.so (default: build/lib/libbertrank.so*)")
    ap.add_argument("--peers", default=os.environ.get("BERTRANK_SERVE_PEERS", os.path.join(CACHE, "serve-peers")))
    ap.add_argument("--index", help="index for bertrank serve (default: a cached Cranfield index; 'none': no index)")
    ap.add_argument("--ready-timeout", type=float, default=900, help="seconds for a peer to start (ONNX export)")
    ap.add_argument("--out", default=os.path.join(REPO, "bench", "results", "serve.md"))
    a = ap.parse_args()
    # SIGTERM (e.g. from timeout) unwinds like Ctrl-C, so the servers started here are stopped
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    a.duration = a.duration or (3.0 if a.quick else 12.0)
    a.warmup = a.warmup or (1.0 if a.quick else 3.0)
    a.heavy_concurrency = a.heavy_concurrency or a.concurrency
    if not a.lib:
        libs = sorted(glob.glob(os.path.join(REPO, "build", "lib", "libbertrank.so*")), key=len)
        if not libs:
            sys.exit("no build/lib/libbertrank.so: configure with -DBERTRANK_BUILD_PACKAGE=ON, make bertrank_shared")
        a.lib = libs[0]
    if a.index == "none":
        a.index = None
    elif not a.index:
        a.index = ensure_index(a)

    meta = {"command": " ".join(["bench/bench_server.py"] + sys.argv[1:]),
            "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
            "cpu": cpu_model(), "ncpu": os.cpu_count(),
            "load_start": " ".join("%.2f" % x for x in os.getloadavg()),
            "peers_status": peers_status(a.peers)}
    try:
        meta["commit"] = subprocess.run(["git", "-C", REPO, "rev-parse", "--short", "HEAD"], capture_output=True,
                                        text=True).stdout.strip()
    except OSError:
        meta["commit"] = "?"
    log("load average at start: " + meta["load_start"])
    lib = Lib(a.lib)
    meta.update(version=lib.version, isa=lib.isa)
    bi = lib.load(os.path.join(REPO, "weights", BI + ".brm"))
    ce = lib.load(os.path.join(REPO, "weights", CE + ".brm"))
    w = load_workload(lib, bi[2])
    meta.update(query_pieces=w["query_pieces"], doc_pieces=w["doc_pieces"])
    ref = {"q0": lib.embed(bi[0], bi[1].dim, [w["queries"][0]], 1)[0],
           "rerank": lib.score(ce[0], w["med_query"], w["rerank_docs"], 1)}

    makers = {"bertrank": Bertrank, "infinity-torch": lambda a_, t: Infinity(a_, t, "torch"),
              "infinity-onnx": lambda a_, t: Infinity(a_, t, "optimum"), "llama.cpp": LlamaCpp}
    names = [e.strip() for e in a.engines.split(",") if e.strip()]
    for n in names:
        if n not in makers:
            sys.exit("unknown engine %r (%s)" % (n, ", ".join(makers)))
    results = {}
    for t in a.threads:
        per = results[t] = {"engines": {}}
        per["offline"] = offline(lib, bi, ce, w, t, max(1.0, a.duration / 2))
        log("[%d threads] offline: %s" % (t, json.dumps({k: round(v, 2) for k, v in per["offline"].items()})))
        for n in names:
            eng = makers[n](a, t)
            try:
                eng.start()
                probe = http_request(eng.port, eng.embed_path, json.dumps(eng.embed_body(["ready?"])).encode())
                eng.wait_ready(probe, a.ready_timeout)
                log("[%d threads] %s ready on port %d: %s" % (t, n, eng.port, " ".join(eng.cmd)))
                per["engines"][n] = bench_engine(eng, w, a, ref)
                per["engines"][n]["command"] = " ".join(eng.cmd)
            except Exception as e:  # noqa: BLE001 - a peer that fails is reported, the run goes on
                log("[%d threads] %s FAILED: %s" % (t, n, e))
                per["engines"][n] = {"error": str(e)}
            finally:
                eng.stop()
            write(a, meta, results)  # after each engine: a run cut short still leaves its results
    write(a, meta, results)
    log("\n".join(sum((targets(r) for r in results.values()), [])))
    log("load average at end: " + meta["load_end"])
    log("wrote " + a.out)


def write(a, meta, results):
    meta["load_end"] = " ".join("%.2f" % x for x in os.getloadavg())
    b = [(t, r["engines"].get("bertrank", {})) for t, r in results.items()]
    rss = ["%d threads: VmHWM %s MiB" % (t, r.get("vmhwm_mib")) for t, r in b if r.get("vmhwm_mib")]
    if rss:
        meta["rss_note"] = ("Peak RSS of `bertrank serve` with both default models%s, after all its cells: %s."
                            % (" and the Cranfield index (%s)" % os.path.basename(a.index) if a.index else "",
                               "; ".join(rss)))
    md = report(a, meta, results)
    os.makedirs(os.path.dirname(a.out), exist_ok=True)
    with open(a.out + ".tmp", "w") as f:
        f.write(md)
    os.replace(a.out + ".tmp", a.out)


if __name__ == "__main__":
    main()
