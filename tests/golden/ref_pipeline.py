#!/usr/bin/env python3
"""Reference retrieval pipeline: what `bertrank eval` must reproduce (to 3 decimals for the
bi-encoder). Built only on sentence-transformers, FAISS, transformers and this file's own code
(its metrics, BM25 and reciprocal rank fusion are written here, independently of the C++).

    <ref-venv>/bin/python tests/golden/ref_pipeline.py [--data D] [--rerank N,...] [--out F]

For Cranfield and MEDLINE (../shared/data/ir):
  dense    all-MiniLM-L6-v2 (weights/hf/all-MiniLM-L6-v2, sentence-transformers,
           max_seq_length 256, normalized) embeddings of queries and documents, FAISS
           IndexFlatIP, top 100
  bm25     Okapi BM25, k1 = 1.2, b = 0.75 (as float32, like the C++ defaults), Lucene's idf
           ln(1 + (N - df + 0.5) / (df + 0.5)); analyzer of retrieval/bm25.h: split on every
           ASCII byte that is not a letter or digit, ASCII lower-case, bytes >= 0x80 kept inside
           tokens, the 33 Lucene English stop words dropped; documents without a query token do
           not appear; ties by smaller id
  hybrid   reciprocal rank fusion of the dense and BM25 top 100: sum of 1 / (60 + rank), top
           100, ties by smaller id (retrieval/index.h)
  +rerank  with --rerank 20,50,100 (and a cross-encoder, default weights/hf/seeded-cross-encoder):
           the first stage's top N re-ordered by the cross-encoder's raw logit ("[CLS] query
           [SEP] document [SEP]", longest_first truncation to 512; ties keep first-stage
           order), ranks N+1..100 unchanged
Metrics (independent of retrieval/metrics.cpp, same definitions): NDCG@10 with linear gains
and log2(rank + 1) discount, ideal DCG from all judged gains of the query; MRR@10; Recall@100
(relevant = gain > 0); means over the queries with at least one relevant judgement.
Gains: Cranfield grade 1..4 -> 5 - grade (4, 3, 2, 1), -1 -> 0; MEDLINE every judgement 1.
Cranfield's judgements number queries 1..225 in cran.qry order (not by .I id).

Writes a Markdown table (and the same numbers as JSON in a fenced block) to --out
(default bench/results/ref_pipeline.md) and prints it.
"""
import argparse
import json
import math
import os
import platform
import struct
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)
from gen_tokenizer_goldens import read_qrels, read_smart  # noqa: E402  (smart.h's rules)

COLLECTIONS = [
    # name, docs, queries, qrels, query numbering, gain of a grade
    ("cranfield", "cranfield/cran.all.1400", "cranfield/cran.qry", "cranfield/cranqrel", "ordinal",
     lambda g: float(5 - g) if 1 <= g <= 4 else 0.0),
    ("medline", "medline/MED.ALL", "medline/MED.QRY", "medline/MED.REL", "record",
     lambda g: 1.0 if g > 0 else 0.0),
]
STOP = {"a", "an", "and", "are", "as", "at", "be", "but", "by", "for", "if", "in", "into", "is", "it",
        "no", "not", "of", "on", "or", "such", "that", "the", "their", "then", "there", "these",
        "they", "this", "to", "was", "will", "with"}
DEPTH = 100


def f32(x):
    return struct.unpack("<f", struct.pack("<f", x))[0]


def canon(i):
    return i.lstrip("0") or "0" if i.isdigit() else i


# --------------------------------------------------------------------------------------------
# Metrics

def ndcg(ranked, gains, k=10):
    dcg, seen, r = 0.0, set(), 0
    for d in ranked:
        if r == k:
            break
        if d in seen:
            continue
        seen.add(d)
        r += 1
        dcg += gains.get(d, 0.0) / math.log2(r + 1)
    ideal = sorted((g for g in gains.values() if g > 0), reverse=True)[:k]
    idcg = sum(g / math.log2(i + 2) for i, g in enumerate(ideal))
    return dcg / idcg if idcg > 0 else 0.0


def mrr(ranked, gains, k=10):
    for i, d in enumerate(ranked[:k]):
        if gains.get(d, 0.0) > 0:
            return 1.0 / (i + 1)
    return 0.0


def recall(ranked, gains, k=100):
    rel = {d for d, g in gains.items() if g > 0}
    return len(rel & set(ranked[:k])) / len(rel) if rel else 0.0


def evaluate(run, qrels):
    """run: qid -> ranked doc ids; qrels: qid -> {doc: gain}. Means over queries with a relevant doc."""
    qs = [q for q in run if any(g > 0 for g in qrels.get(q, {}).values())]
    n = len(qs)
    return {"ndcg@10": sum(ndcg(run[q], qrels[q]) for q in qs) / n,
            "mrr@10": sum(mrr(run[q], qrels[q]) for q in qs) / n,
            "recall@100": sum(recall(run[q], qrels[q]) for q in qs) / n,
            "queries": n}


# --------------------------------------------------------------------------------------------
# First stages

def analyze(text):
    out, cur = [], []
    for c in text.encode("utf-8"):
        if 65 <= c <= 90:
            cur.append(c + 32)
        elif 97 <= c <= 122 or 48 <= c <= 57 or c >= 0x80:
            cur.append(c)
        elif cur:
            out.append(bytes(cur))
            cur = []
    if cur:
        out.append(bytes(cur))
    return [t for t in out if t.decode("utf-8", "replace") not in STOP]


class Bm25:
    def __init__(self, ids, texts, k1=f32(1.2), b=f32(0.75)):
        self.k1, self.b = k1, b
        self.post, self.dl = {}, {}
        for i, t in zip(ids, texts):
            toks = analyze(t)
            self.dl[i] = len(toks)
            tf = {}
            for w in toks:
                tf[w] = tf.get(w, 0) + 1
            for w, c in tf.items():
                self.post.setdefault(w, []).append((i, c))
        self.N = len(self.dl)
        self.avgdl = max(1e-9, sum(self.dl.values()) / self.N)

    def search(self, query, k):
        acc = {}
        for w in analyze(query):  # repeated query tokens count again
            p = self.post.get(w)
            if not p:
                continue
            idf = math.log(1.0 + (self.N - len(p) + 0.5) / (len(p) + 0.5))
            for i, tf in p:
                norm = tf + self.k1 * (1 - self.b + self.b * self.dl[i] / self.avgdl)
                acc[i] = acc.get(i, 0.0) + idf * tf * (self.k1 + 1) / norm
        return [i for i, _ in sorted(acc.items(), key=lambda x: (-f32(x[1]), int(x[0])))[:k]]


def rrf(lists, k, c=60.0):
    acc = {}
    for l in lists:
        for r, d in enumerate(l):
            acc[d] = acc.get(d, 0.0) + 1.0 / (c + r + 1)
    return [d for d, _ in sorted(acc.items(), key=lambda x: (-f32(x[1]), int(x[0])))[:k]]


# --------------------------------------------------------------------------------------------

def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default=os.path.join(os.path.dirname(REPO), "shared/data"))
    ap.add_argument("--model", default=os.path.join(REPO, "weights/hf/all-MiniLM-L6-v2"))
    ap.add_argument("--cross-encoder", default=os.path.join(REPO, "weights/hf/seeded-cross-encoder"))
    ap.add_argument("--rerank", default="", help="comma-separated candidate counts, e.g. 20,50,100")
    ap.add_argument("--collections", default="cranfield,medline")
    ap.add_argument("--rerank-collections", default="cranfield,medline",
                    help="collections to rerank (the rerank of Cranfield's 225 queries takes long)")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--out", default=os.path.join(REPO, "bench/results/ref_pipeline.md"))
    ap.add_argument("--runs-dir", default="", help="also write each run as <dir>/<collection>.<method>.run "
                    "(TREC: qid Q0 docid rank score tag; score = 1000 - rank)")
    args = ap.parse_args()

    import faiss
    import numpy as np
    import sentence_transformers
    import torch
    import transformers
    from sentence_transformers import SentenceTransformer

    torch.set_num_threads(args.threads)
    faiss.omp_set_num_threads(args.threads)
    st = SentenceTransformer(args.model, device="cpu")
    st.max_seq_length = 256
    rerank_ns = [int(x) for x in args.rerank.split(",") if x]
    ce = tok = None
    if rerank_ns:
        from transformers import AutoModelForSequenceClassification, AutoTokenizer
        tok = AutoTokenizer.from_pretrained(args.cross_encoder)
        ce = AutoModelForSequenceClassification.from_pretrained(args.cross_encoder).eval()

    results = {}  # collection -> method -> metrics
    timings = {}
    for name, dfile, qfile, rfile, numbering, gain in COLLECTIONS:
        if name not in args.collections.split(","):
            continue
        t0 = time.time()
        drecs = read_smart(os.path.join(args.data, "ir", dfile))
        doc_ids = [canon(r[0]) for r in drecs]
        doc_texts = [r[2].decode("utf-8", "replace") for r in drecs]
        qrecs = read_smart(os.path.join(args.data, "ir", qfile))
        q_ids = [str(i + 1) for i in range(len(qrecs))] if numbering == "ordinal" else [canon(r[0]) for r in qrecs]
        q_texts = [r[2].decode("utf-8", "replace") for r in qrecs]
        qrels = {}
        for q, d, g in read_qrels(os.path.join(args.data, "ir", rfile)):
            docs = qrels.setdefault(canon(q), {})
            docs[canon(d)] = max(docs.get(canon(d), 0.0), gain(g))

        demb = st.encode(doc_texts, batch_size=32, normalize_embeddings=True, convert_to_numpy=True)
        qemb = st.encode(q_texts, batch_size=32, normalize_embeddings=True, convert_to_numpy=True)
        index = faiss.IndexFlatIP(demb.shape[1])
        index.add(np.ascontiguousarray(demb, dtype=np.float32))
        _, I = index.search(np.ascontiguousarray(qemb, dtype=np.float32), DEPTH)
        runs = {"dense": {q: [doc_ids[j] for j in I[i] if j >= 0] for i, q in enumerate(q_ids)}}
        bm = Bm25(doc_ids, doc_texts)
        runs["bm25"] = {q: bm.search(t, DEPTH) for q, t in zip(q_ids, q_texts)}
        runs["hybrid"] = {q: rrf([runs["dense"][q], runs["bm25"][q]], DEPTH) for q in q_ids}
        timings[name] = {"first_stage_s": round(time.time() - t0, 1)}

        if rerank_ns and name in args.rerank_collections.split(","):
            t1 = time.time()
            text_of = dict(zip(doc_ids, doc_texts))
            qtext = dict(zip(q_ids, q_texts))
            cache = {}
            top = max(rerank_ns)
            for first in ("bm25", "dense", "hybrid"):
                for q in q_ids:
                    for d in runs[first][q][:top]:
                        cache.setdefault((q, d), None)
            todo = sorted(cache, key=lambda p: len(qtext[p[0]]) + len(text_of[p[1]]))
            with torch.no_grad():
                for s in range(0, len(todo), 16):
                    chunk = todo[s:s + 16]
                    enc = tok([qtext[q] for q, _ in chunk], [text_of[d] for _, d in chunk], padding=True,
                              truncation="longest_first", max_length=512, return_tensors="pt")
                    logits = ce(**enc).logits[:, 0].tolist()
                    for p, v in zip(chunk, logits):
                        cache[p] = v
            for first in ("bm25", "dense", "hybrid"):
                for n in rerank_ns:
                    run = {}
                    for q in q_ids:
                        r = runs[first][q]
                        head = sorted(range(min(n, len(r))), key=lambda i: (-cache[(q, r[i])], i))
                        run[q] = [r[i] for i in head] + r[n:]
                    runs["%s+rerank@%d" % (first, n)] = run
            timings[name]["rerank_pairs"] = len(todo)
            timings[name]["rerank_s"] = round(time.time() - t1, 1)
        results[name] = {m: evaluate(r, qrels) for m, r in runs.items()}
        if args.runs_dir:
            os.makedirs(args.runs_dir, exist_ok=True)
            for m, r in runs.items():
                with open(os.path.join(args.runs_dir, "%s.%s.run" % (name, m)), "w") as f:
                    for q in q_ids:
                        for i, d in enumerate(r[q]):
                            f.write("%s Q0 %s %d %d ref\n" % (q, d, i + 1, 1000 - i - 1))
        print("%s: done in %.0f s" % (name, time.time() - t0), file=sys.stderr)

    meta = {"generator": "tests/golden/ref_pipeline.py",
            "versions": {"sentence_transformers": sentence_transformers.__version__,
                         "transformers": transformers.__version__, "torch": torch.__version__,
                         "faiss": faiss.__version__, "python": platform.python_version()},
            "bi_encoder": os.path.basename(os.path.normpath(args.model)), "max_seq_length": 256,
            "cross_encoder": os.path.basename(os.path.normpath(args.cross_encoder)) if rerank_ns else None,
            "timings": timings}
    lines = ["# Reference pipeline (sentence-transformers + FAISS)", "",
             "Made by `%s` (`<ref-venv>/bin/python tests/golden/ref_pipeline.py%s`). "
             "Definitions in the script's docstring; `bertrank eval` must match the dense rows to "
             "3 decimals." % (meta["generator"], " ".join(sys.argv[1:]) and " " + " ".join(sys.argv[1:])), ""]
    if rerank_ns:
        note = ""
        if meta["cross_encoder"] == "seeded-cross-encoder":
            note = (" Its pooler and classifier are seeded random weights (the test fixture of "
                    "weights/fetch_rerankers.sh), so its scores carry no relevance signal: the +rerank "
                    "rows check the plumbing against `bertrank eval --rerank`, they are not a quality result.")
        lines += ["Cross-encoder: `%s`, raw logits, 512 word pieces longest_first.%s" % (meta["cross_encoder"], note), ""]
    lines += ["| collection | method | NDCG@10 | MRR@10 | Recall@100 | queries |", "|---|---|---|---|---|---|"]
    for c, ms in results.items():
        for m, v in ms.items():
            lines.append("| %s | %s | %.4f | %.4f | %.4f | %d |" %
                         (c, m, v["ndcg@10"], v["mrr@10"], v["recall@100"], v["queries"]))
    lines += ["", "```json", json.dumps({"meta": meta, "results": results}, indent=1, sort_keys=True), "```", ""]
    text = "\n".join(lines)
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out + ".tmp", "w") as f:
        f.write(text)
    os.replace(args.out + ".tmp", args.out)
    print(text)


if __name__ == "__main__":
    main()
