"""Every route of `bertrank serve` through a real HTTP client, against the CLI's results.

The server runs on an ephemeral loopback port with the default models (weights/, fetched by
scripts/setup.sh) and a small index built by the CLI. Embeddings and scores are compared with
`bertrank embed` / `bertrank rerank` / `bertrank search` bit for bit (as float32), token ids
with `bertrank tokenize`. Run: build/server-venv/bin/pytest tests/server (scripts/test.sh does).
"""
import base64
import json
import math
import os
import shutil
import struct
import subprocess
import threading

import pytest

from server_util import BIN, ENCODER, RERANKER, Server, get, post, request

pytestmark = pytest.mark.skipif(not (os.path.exists(BIN) and os.path.exists(ENCODER) and os.path.exists(RERANKER)),
                                reason="needs build/bertrank and the default models (scripts/setup.sh)")

DOCS = [
    {"id": 0, "text": "The boundary layer on a flat plate in supersonic flow.", "meta": {"src": "a"}},
    {"id": 1, "text": "Heat transfer to a blunt body at hypersonic speed.", "meta": {"src": "b"}},
    {"id": 2, "text": "A cooking recipe for bread with yeast and flour."},
    {"id": 3, "text": "Buckling of thin cylindrical shells under axial compression."},
    {"id": 4, "text": "Transition from laminar to turbulent flow in the boundary layer."},
    {"id": 5, "text": "Fast linear algebra routines for dense matrices."},
]
TEXTS = ["what is the boundary layer", "hypersonic heat transfer", "fresh bread", "héllo wörld — ünïcode ✓ 中文"]
LONG = "word " * 600  # > 256 word pieces


def f32(x):
    return struct.pack("<f", x)


def f32_rows(rows):
    return [b"".join(f32(v) for v in r) for r in rows]


def cli(*args, stdin=None):
    r = subprocess.run([BIN, *args], input=stdin, capture_output=True, text=True, check=True)
    return [json.loads(l) for l in r.stdout.splitlines() if l.strip()]


@pytest.fixture(scope="module")
def index_path(tmp_path_factory):
    d = tmp_path_factory.mktemp("srv")
    docs = d / "docs.jsonl"
    docs.write_text("".join(json.dumps(x) + "\n" for x in DOCS))
    idx = d / "docs.idx"
    subprocess.run([BIN, "index", "build", "-m", ENCODER, "--docs", str(docs), "-o", str(idx), "--bm25"],
                   check=True, capture_output=True)
    return idx


@pytest.fixture(scope="module")
def server(index_path, tmp_path_factory):
    # The server writes the index it serves: give it a copy, keep the original for the CLI.
    served = tmp_path_factory.mktemp("served") / "docs.idx"
    shutil.copy(index_path, served)
    s = Server("-m", ENCODER, "--reranker", RERANKER, "-i", str(served)).start()
    yield s
    assert s.stop() == 0, s.text_log()


@pytest.fixture(scope="module")
def port(server):
    return server.port


# ---- TEI routes ---------------------------------------------------------------------------------

def test_health_and_info(port):
    status, _ = get(port, "/health")
    assert status == 200
    status, info = get(port, "/info")
    assert status == 200
    text = json.dumps(info)
    for key in ("max_client_batch_size", "max_batch_tokens", "max_concurrent_requests", "payload_limit"):
        assert key in text, key
    assert "all-MiniLM-L6-v2" in text and "ms-marco-MiniLM-L-12-v2" in text
    assert info.get("isa")


def test_embed_bit_identical_to_cli(port):
    status, emb = post(port, "/embed", {"inputs": TEXTS})
    assert status == 200 and len(emb) == len(TEXTS) and all(len(e) == 384 for e in emb)
    ref = cli("embed", "-m", ENCODER, stdin="\n".join(TEXTS) + "\n")
    assert f32_rows(emb) == f32_rows(ref)
    status, one = post(port, "/embed", {"inputs": TEXTS[1]})
    assert status == 200 and f32_rows(one) == f32_rows([ref[1]])


def test_embed_normalize_false_and_truncate(port):
    status, raw = post(port, "/embed", {"inputs": TEXTS[0], "normalize": False})
    assert status == 200
    norm = math.sqrt(sum(v * v for v in raw[0]))
    assert abs(norm - 1.0) > 1e-3  # mean pooling: not a unit vector
    status, unit = post(port, "/embed", {"inputs": TEXTS[0]})
    assert max(abs(a / norm - b) for a, b in zip(raw[0], unit[0])) < 1e-6
    status, err = post(port, "/embed", {"inputs": [TEXTS[0], LONG], "truncate": False})
    assert status == 422 and "256" in err["error"] and "1" in err["error"], err
    status, emb = post(port, "/embed", {"inputs": [LONG], "truncate": True})
    assert status == 200
    ref = cli("embed", "-m", ENCODER, stdin=LONG + "\n")
    assert f32_rows(emb) == f32_rows(ref)


def test_rerank_matches_cli(port):
    q = "boundary layer flow"
    texts = [d["text"] for d in DOCS]
    status, res = post(port, "/rerank", {"query": q, "texts": texts, "raw_scores": True, "return_text": True})
    assert status == 200 and len(res) == len(texts)
    ref = cli("rerank", "-m", RERANKER, "-q", q, stdin="\n".join(texts) + "\n")
    assert [r["index"] for r in res] == [r["index"] for r in ref]
    assert [f32(r["score"]) for r in res] == [f32(r["score"]) for r in ref]
    assert all(r["text"] == texts[r["index"]] for r in res)
    status, sig = post(port, "/rerank", {"query": q, "texts": texts})
    assert status == 200
    by_index = {r["index"]: r["score"] for r in ref}
    for r in sig:
        assert abs(r["score"] - 1 / (1 + math.exp(-by_index[r["index"]]))) < 1e-6
        assert "text" not in r


def test_tokenize_matches_cli(port):
    status, toks = post(port, "/tokenize", {"inputs": TEXTS})
    assert status == 200 and len(toks) == len(TEXTS)
    ref = cli("tokenize", "-m", ENCODER, stdin="\n".join(TEXTS) + "\n")
    for got, want in zip(toks, ref):
        assert [t["id"] for t in got] == want["ids"]
        assert got[0]["special"] and got[-1]["special"] and not got[1]["special"]


# ---- OpenAI and Cohere/Jina routes -------------------------------------------------------------

def test_openai_client_embeddings(server, port):
    openai = pytest.importorskip("openai")
    client = openai.OpenAI(base_url=server.url + "/v1", api_key="unused")
    r = client.embeddings.create(model="all-MiniLM-L6-v2", input=TEXTS)  # base64 on the wire
    assert [d.index for d in r.data] == list(range(len(TEXTS)))
    ref = cli("embed", "-m", ENCODER, stdin="\n".join(TEXTS) + "\n")
    assert f32_rows([d.embedding for d in r.data]) == f32_rows(ref)
    assert r.usage.prompt_tokens > 0 and r.usage.total_tokens == r.usage.prompt_tokens
    r = client.embeddings.create(model="x", input=TEXTS[0], encoding_format="float")
    assert f32_rows([r.data[0].embedding]) == f32_rows([ref[0]])
    r = client.embeddings.create(model="x", input=TEXTS[0], dimensions=128)
    e = r.data[0].embedding
    assert len(e) == 128 and abs(math.sqrt(sum(v * v for v in e)) - 1) < 1e-5
    with pytest.raises(openai.UnprocessableEntityError):
        client.embeddings.create(model="x", input=TEXTS[0], dimensions=385)


def test_openai_base64_raw(port):
    status, r = post(port, "/v1/embeddings", {"input": TEXTS[:2], "model": "m", "encoding_format": "base64"})
    assert status == 200 and r["object"] == "list" and r["data"][0]["object"] == "embedding"
    ref = cli("embed", "-m", ENCODER, stdin="\n".join(TEXTS[:2]) + "\n")
    for d in r["data"]:
        raw = base64.b64decode(d["embedding"])
        assert raw == f32_rows([ref[d["index"]]])[0]


def test_cohere_rerank(port):
    q = "boundary layer flow"
    texts = [d["text"] for d in DOCS]
    docs = [texts[0], {"text": texts[1]}] + texts[2:]
    status, r = post(port, "/v1/rerank", {"query": q, "documents": docs, "top_n": 3, "return_documents": True})
    assert status == 200 and len(r["results"]) == 3 and "usage" in r
    ref = cli("rerank", "-m", RERANKER, "-q", q, "--activation", "sigmoid", stdin="\n".join(texts) + "\n")
    for got, want in zip(r["results"], ref[:3]):
        assert got["index"] == want["index"] and f32(got["relevance_score"]) == f32(want["score"])
        assert got["document"]["text"] == texts[got["index"]]


# ---- Search and documents ----------------------------------------------------------------------

def test_search_matches_cli(port, index_path):
    queries = ["boundary layer", "bread"]
    for mode in ("dense", "bm25", "hybrid"):
        status, r = post(port, "/search", {"queries": queries, "k": 4, "mode": mode, "rerank": True,
                                           "candidates": 5, "timings": True})
        assert status == 200 and len(r["results"]) == 2, r
        assert "timings" in r
        for qi, q in enumerate(queries):
            ref = cli("search", "-i", str(index_path), "-q", q, "-k", "4", "--mode", mode, "--rerank", RERANKER,
                      "--candidates", "5")
            got = r["results"][qi]
            assert [h["id"] for h in got] == [h["id"] for h in ref], (mode, q)
            assert [f32(h["score"]) for h in got] == [f32(h["score"]) for h in ref]


def test_documents_add_get_delete(port):
    status, r = post(port, "/documents", {"documents": [{"id": 100, "text": "a new note about wind tunnels",
                                                         "meta": {"k": 1}}, {"text": "an id chosen by the server"}]})
    assert status == 200 and r["ids"][0] == 100 and r["ids"][1] == 101, r
    status, d = get(port, "/documents/100")
    assert status == 200 and d["text"] == "a new note about wind tunnels" and d["meta"] == {"k": 1}
    status, r = post(port, "/search", {"query": "wind tunnels", "k": 1, "rerank": False})
    assert status == 200 and r["results"][0][0]["id"] == 100
    status, _, body = request(port, "DELETE", "/documents/101")
    assert status == 200 and json.loads(body)["removed"] == 1
    status, _ = get(port, "/documents/101")
    assert status == 404
    status, r = post(port, "/documents", {"documents": [{"id": 100, "text": "duplicate"}]})
    assert status == 422 and "100" in r["error"]


# ---- Metrics and the OpenAPI document ----------------------------------------------------------

def test_metrics(port):
    post(port, "/embed", {"inputs": "count me"})
    status, text = get(port, "/metrics")
    assert status == 200
    for name in ("bertrank_requests_total", "bertrank_queue_depth", "bertrank_batch_size_bucket",
                 "bertrank_batch_tokens_bucket", "bertrank_tokens_total", "bertrank_request_duration_seconds_bucket",
                 "bertrank_inference_duration_seconds_bucket"):
        assert name in text, name
    assert 'route="/embed"' in text and 'status="200"' in text


def test_openapi_names_every_route(port):
    status, doc = get(port, "/openapi.json")
    assert status == 200 and doc["openapi"].startswith("3.")
    for path in ("/embed", "/rerank", "/tokenize", "/health", "/info", "/v1/embeddings", "/v1/rerank", "/search",
                 "/documents", "/documents/{id}", "/metrics"):
        assert path in doc["paths"], path


# ---- Errors ------------------------------------------------------------------------------------

def test_error_codes(port):
    status, _, body = request(port, "POST", "/embed", b'{"inputs": ["a",')
    assert status == 400 and "error" in json.loads(body)
    status, err = post(port, "/embed", {"inputs": 5})
    assert status == 422 and "inputs" in err["error"]
    status, err = post(port, "/embed", {"inputs": []})
    assert status == 422
    status, err = post(port, "/embed", {"inputs": ""})
    assert status in (200, 422)  # TEI embeds an empty string; either way not a crash
    status, err = post(port, "/embed", {"inputs": ["x"] * 33})
    assert status == 422 and "33" in err["error"] and "32" in err["error"]
    status, err = post(port, "/rerank", {"query": "q", "texts": "not a list"})
    assert status == 422 and "texts" in err["error"]
    status, err = post(port, "/v1/embeddings", {"input": ["a"], "encoding_format": "hex"})
    assert status == 422 and "encoding_format" in err["error"]
    status, _ = get(port, "/no/such/route")
    assert status == 404
    status, hdrs, _ = request(port, "GET", "/embed")
    assert status == 405 and "POST" in hdrs.get("allow", "")
    status, _ = get(port, "/documents/999999")
    assert status == 404
    status, _, body = request(port, "POST", "/embed", b'{"inputs": "\xff\xfe"}')
    assert status in (400, 422)
    status, _, body = request(port, "POST", "/embed", b"[" * 100000)
    assert status == 400
    status, _ = get(port, "/health")
    assert status == 200


def test_payload_limit_and_api_key(tmp_path):
    s = Server("-m", ENCODER, "--no-reranker", "--payload-limit", "1000", "--api-key", "sekrit").start()
    try:
        status, _ = get(s.port, "/health")
        assert status == 200  # health needs no key
        status, err = post(s.port, "/embed", {"inputs": "hi"})
        assert status == 401
        auth = {"Authorization": "Bearer sekrit"}
        status, _ = post(s.port, "/embed", {"inputs": "hi"}, headers={"Authorization": "Bearer wrong"})
        assert status == 401
        status, emb = post(s.port, "/embed", {"inputs": "hi"}, headers=auth)
        assert status == 200
        status, err = post(s.port, "/embed", {"inputs": "x" * 2000}, headers=auth)
        assert status == 413
        status, err = post(s.port, "/rerank", {"query": "q", "texts": ["a"]}, headers=auth)
        assert status == 424  # no reranker loaded
        status, err = post(s.port, "/search", {"query": "q"}, headers=auth)
        assert status == 424  # no index loaded
    finally:
        assert s.stop() == 0


def test_queue_full_gives_429():
    s = Server("-m", ENCODER, "--no-reranker", "--max-concurrent-requests", "1", "-t", "1").start()
    try:
        statuses = []
        lock = threading.Lock()

        def one():
            st, _ = post(s.port, "/embed", {"inputs": [LONG] * 8, "truncate": True})
            with lock:
                statuses.append(st)

        threads = [threading.Thread(target=one) for _ in range(12)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert 429 in statuses and 200 in statuses and set(statuses) <= {200, 429}, statuses
        status, _ = get(s.port, "/health")
        assert status == 200
    finally:
        assert s.stop() == 0


def test_sigterm_persists_documents(tmp_path, index_path):
    idx = tmp_path / "p.idx"
    shutil.copy(index_path, idx)
    s = Server("-m", ENCODER, "--no-reranker", "-i", str(idx)).start()
    status, r = post(s.port, "/documents", {"documents": [{"id": 50, "text": "persist me"}]})
    assert status == 200
    assert s.stop() == 0
    info = subprocess.run([BIN, "index", "info", "-i", str(idx)], capture_output=True, text=True, check=True).stdout
    assert str(len(DOCS) + 1) in info, info
