#!/usr/bin/env python3
"""Generates tests/golden/rerank_golden.jsonl: cross-encoder scores of Hugging Face transformers
(AutoModelForSequenceClassification, eval mode, fp32) that bertrank's cross-encoder must match
(max abs difference <= 1e-4).

    <ref-venv>/bin/python tests/golden/gen_rerank_goldens.py [--model D] [--data D] [--out F]

The model defaults to weights/hf/seeded-cross-encoder (weights/fetch_rerankers.sh). Texts are
records of ../shared/data/ir identified by (file, record index); the data is never copied
here. Record text is SmartRecord::text of retrieval/smart.h (the reader is the one of
gen_tokenizer_goldens.py). Every pair is scored alone (batch of one, no padding), encoded as
"[CLS] a [SEP] b [SEP]" with token_type_ids 0/1 and truncation longest_first to 512.

Lines (one JSON object each):
  meta   model name, source_sha256 (of model.safetensors), versions, max_length, num_labels,
         the hash definition
  text   {"kind":"text","a":..,"b":..,...}: the two literal pairs of the published ms-marco
         sanity check ("What is the capital of France?" / Paris / Berlin); any model
  pair   {"kind":"pair","set":..,"a":[file,i],"b":[file,j],"grade":g|null,"n":..,"n_full":..,
          "truncated":0|1,"hash":..,"logits":[..]}
         file is relative to <data>/ir, i / j are 0-based record indexes in file order, a is
         the first segment (type 0), b the second (type 1); grade is the judgement of (a, b)
         in the qrels (Cranfield: 1..4 or -1; MEDLINE: 1) or null if unjudged; n = tokens
         after truncation with [CLS]/[SEP], n_full = before; hash = fnv1a64 (as in
         gen_tokenizer_goldens.py) over the int32 LE input_ids followed by token_type_ids;
         logits = the raw classifier outputs (num_labels of them), 9 significant digits.
Pair sets, in order (selection is deterministic: a fixed LCG, no Python random):
  cran     each of the 225 Cranfield queries with one judged document (the (q mod k)-th of its
           k judgements in cranqrel order) and one unjudged document
  med      each of the 30 MEDLINE queries with 3 judged and 2 unjudged documents
  long     every document of either corpus with more than 480 tokens alone, with a query of
           its corpus (judged if one judged it): these pairs are truncated at 512
  docdoc   12 pairs of two long documents (both sides truncated; 2 are a document with itself)
"""
import argparse
import hashlib
import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)
from gen_tokenizer_goldens import fnv1a64_int32, read_qrels, read_smart  # noqa: E402

MAX_LENGTH = 512
LONG_DOC_TOKENS = 480
CRAN_DOCS, CRAN_QRY, CRAN_REL = "cranfield/cran.all.1400", "cranfield/cran.qry", "cranfield/cranqrel"
MED_DOCS, MED_QRY, MED_REL = "medline/MED.ALL", "medline/MED.QRY", "medline/MED.REL"
LITERAL = [("What is the capital of France?", "Paris is the capital of France."),
           ("What is the capital of France?", "Berlin is the capital of Germany.")]


class Lcg:
    def __init__(self, seed):
        self.x = seed & ((1 << 64) - 1)

    def below(self, n):
        self.x = (self.x * 6364136223846793005 + 1442695040888963407) & ((1 << 64) - 1)
        return (self.x >> 33) % n


def load_corpus(data, docs_file, qry_file, rel_file, cran):
    docs = [r[2].decode("utf-8", "replace") for r in read_smart(os.path.join(data, "ir", docs_file))]
    doc_ids = [r[0] for r in read_smart(os.path.join(data, "ir", docs_file))]
    qrecs = read_smart(os.path.join(data, "ir", qry_file))
    queries = [r[2].decode("utf-8", "replace") for r in qrecs]
    # Cranfield's judgements number queries 1..225 in file order; MEDLINE uses the .I ids.
    qkey = [str(i + 1) for i in range(len(qrecs))] if cran else [r[0] for r in qrecs]
    doc_index = {d: i for i, d in enumerate(doc_ids)}
    judged = {}  # query index -> [(doc index, grade)] in file order
    qindex = {k: i for i, k in enumerate(qkey)}
    for q, d, g in read_qrels(os.path.join(data, "ir", rel_file)):
        if q in qindex and d in doc_index:
            judged.setdefault(qindex[q], []).append((doc_index[d], g))
    return docs, queries, judged


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default=os.path.join(REPO, "weights/hf/seeded-cross-encoder"))
    ap.add_argument("--data", default=os.path.join(os.path.dirname(REPO), "shared/data"))
    ap.add_argument("--out", default=os.path.join(HERE, "rerank_golden.jsonl"))
    args = ap.parse_args()

    import torch
    import transformers
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    torch.set_num_threads(1)  # results do not depend on it; 1 avoids spin-waits on a busy machine
    tok = AutoTokenizer.from_pretrained(args.model)
    model = AutoModelForSequenceClassification.from_pretrained(args.model, torch_dtype=torch.float32).eval()
    with open(os.path.join(args.model, "model.safetensors"), "rb") as f:
        sha = hashlib.sha256(f.read()).hexdigest()

    corpora = {
        "cran": (CRAN_DOCS, CRAN_QRY) + load_corpus(args.data, CRAN_DOCS, CRAN_QRY, CRAN_REL, True),
        "med": (MED_DOCS, MED_QRY) + load_corpus(args.data, MED_DOCS, MED_QRY, MED_REL, False),
    }

    def n_tokens(text):
        return len(tok(text, add_special_tokens=False)["input_ids"])

    rng = Lcg(20261123)
    pairs = []  # (set, a_file, i, b_file, j, grade)

    def unjudged(docs, judged_q):
        seen = {d for d, _ in judged_q}
        while True:
            j = rng.below(len(docs))
            if j not in seen:
                return j

    for name, n_judged, n_unjudged in (("cran", 1, 1), ("med", 3, 2)):
        dfile, qfile, docs, queries, judged = corpora[name]
        for q in range(len(queries)):
            jq = judged.get(q, [])
            for k in range(min(n_judged, len(jq))):
                d, g = jq[(q + k) % len(jq)]
                pairs.append((name, qfile, q, dfile, d, g))
            for _ in range(n_unjudged):
                pairs.append((name, qfile, q, dfile, unjudged(docs, jq), None))

    long_docs = {}
    for name in ("cran", "med"):
        dfile, qfile, docs, queries, judged = corpora[name]
        by_doc = {}
        for q, jq in sorted(judged.items()):
            for d, g in jq:
                by_doc.setdefault(d, (q, g))
        long_docs[name] = [d for d in range(len(docs)) if n_tokens(docs[d]) > LONG_DOC_TOKENS]
        for d in long_docs[name]:
            q, g = by_doc.get(d, (rng.below(len(queries)), None))
            pairs.append(("long", qfile, q, dfile, d, g))
    for name, n in (("cran", 6), ("med", 6)):
        dfile, _, _, _, _ = corpora[name]
        ld = long_docs[name]
        for k in range(n):
            a = ld[rng.below(len(ld))]
            b = a if k == 0 else ld[rng.below(len(ld))]
            pairs.append(("docdoc", dfile, a, dfile, b, None))

    print("  %d pairs selected" % len(pairs), file=sys.stderr)
    texts = {}
    for name in ("cran", "med"):
        dfile, qfile, docs, queries, _ = corpora[name]
        texts[dfile], texts[qfile] = docs, queries

    def score(a, b):
        full = tok(a, b)
        enc = tok(a, b, truncation="longest_first", max_length=MAX_LENGTH, return_tensors="pt")
        with torch.no_grad():
            logits = model(**enc).logits[0].tolist()
        ids = enc["input_ids"][0].tolist()
        tt = enc["token_type_ids"][0].tolist()
        return {"n": len(ids), "n_full": len(full["input_ids"]), "truncated": int(len(full["input_ids"]) > len(ids)),
                "hash": fnv1a64_int32(ids + tt), "logits": [float("%.9g" % x) for x in logits]}

    lines = [{"kind": "meta", "generator": "tests/golden/gen_rerank_goldens.py",
              "model": os.path.basename(os.path.normpath(args.model)), "source_sha256": sha,
              "max_length": MAX_LENGTH, "truncation": "longest_first", "num_labels": model.config.num_labels,
              "hash": "fnv1a64 over the int32 little-endian input_ids followed by token_type_ids",
              "versions": {"torch": torch.__version__, "transformers": transformers.__version__}}]
    for a, b in LITERAL:
        lines.append(dict({"kind": "text", "a": a, "b": b}, **score(a, b)))
    for k, (s, af, i, bf, j, g) in enumerate(pairs):
        lines.append(dict({"kind": "pair", "set": s, "a": [af, i], "b": [bf, j], "grade": g},
                          **score(texts[af][i], texts[bf][j])))
        if (k + 1) % 100 == 0:
            print("  %d / %d pairs" % (k + 1, len(pairs)), file=sys.stderr)

    tmp = args.out + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        for obj in lines:
            f.write(json.dumps(obj, ensure_ascii=False, separators=(",", ":")) + "\n")
    os.replace(tmp, args.out)
    npairs = len(lines) - 1
    ntrunc = sum(1 for o in lines[1:] if o["truncated"])
    print("rerank goldens: %d pairs (%d truncated at %d), model sha256 %s -> %s"
          % (npairs, ntrunc, MAX_LENGTH, sha, args.out))


if __name__ == "__main__":
    main()
