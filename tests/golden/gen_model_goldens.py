#!/usr/bin/env python3
"""Reference goldens for bertrank's bi-encoder (model/), from sentence-transformers + transformers.

Writes, per model, tests/golden/model_<key>.json (metadata, text references, token ids) and
tests/golden/model_<key>.f32 (little-endian float32 blob the JSON points into):
  - "parity": sentence-transformers embeddings of real texts from ../shared/data/ir, identified
    by (file, record index) — the texts themselves are read at test time (retrieval/smart.h's
    rules, mirrored in read_smart below) and never copied into the repository;
  - "layers": for a handful of texts, token ids and the hidden states after the embeddings and
    after every layer (transformers' output_hidden_states), compared by name in C++.
The JSON records the SHA-256 of the model.safetensors it was made from; the C++ tests compare
it with the .brm's source fingerprint so stale goldens are reported as such.

Run with the reference venv (tests/golden/make_ref_venv.sh), after weights/fetch_models.sh:
  /root/.cache/bertrank/ref-venv/bin/python tests/golden/gen_model_goldens.py [minilm] [paraphrase] [synthetic]
(no argument: all three; keys: all-MiniLM-L6-v2, paraphrase-MiniLM-L3-v2, synthetic-bert-cls).
"""
import hashlib
import json
import os
import sys

import numpy as np
import torch
from sentence_transformers import SentenceTransformer

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
GOLDEN = os.path.join(ROOT, "tests", "golden")
SHARED = os.environ.get("BERTRANK_SHARED_DATA", os.path.join(ROOT, "..", "shared", "data"))

WS = b" \t\r\n\v\f"


def read_smart(path):
    """Mirror of retrieval/smart.cpp: returns the list of record texts (.W, else .T)."""
    with open(path, "rb") as f:
        data = f.read()
    lines = data.split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()
    recs = []  # list of dict field -> text
    field, cur = None, []

    def flush():
        nonlocal field, cur
        if recs and field is not None:
            recs[-1][field] = b"\n".join(cur).strip(WS)
        cur, field = [], None

    for line in lines:
        if line.endswith(b"\r"):
            line = line[:-1]
        if line.startswith(b".I") and (len(line) == 2 or line[2:3] in (b" ", b"\t")):
            flush()
            recs.append({})
            continue
        t = line.strip(WS)
        if len(t) == 2 and t[0:1] == b"." and b"A" <= t[1:2] <= b"Z":
            flush()
            field = t[1:2]
            continue
        if not recs or field is None:
            continue
        cur.append(line)
    flush()
    out = []
    for r in recs:
        w = r.get(b"W", b"")
        out.append((w if w else r.get(b"T", b"")).decode("utf-8", errors="replace"))
    return out


def sha256_file(p):
    h = hashlib.sha256()
    with open(p, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


class Blob:
    def __init__(self):
        self.parts, self.n = [], 0

    def add(self, arr):
        a = np.ascontiguousarray(arr, dtype="<f4").ravel()
        off = self.n
        self.parts.append(a)
        self.n += a.size
        return off


def make(key, model_dir, selection, layer_texts):
    torch.manual_seed(0)
    st = SentenceTransformer(model_dir, device="cpu")
    st.eval()
    tok = st.tokenizer
    max_len = st.max_seq_length
    blob = Blob()
    files = {}
    texts, refs = [], []
    for rel, indices in selection:
        if rel not in files:
            files[rel] = read_smart(os.path.join(SHARED, "ir", rel))
        for i in indices:
            texts.append(files[rel][i])
            refs.append([rel, i])
    with torch.no_grad():
        emb = st.encode(texts, batch_size=32, convert_to_numpy=True, show_progress_bar=False)
    emb = np.asarray(emb, dtype=np.float32)
    n_tokens, truncated = [], []
    for t in texts:
        full = len(tok(t, add_special_tokens=True, truncation=False)["input_ids"])
        n_tokens.append(min(full, max_len))
        truncated.append(full > max_len)
    parity = {"count": len(texts), "dim": int(emb.shape[1]), "offset": blob.add(emb),
              "texts": [[r[0], r[1], n, int(tr)] for r, n, tr in zip(refs, n_tokens, truncated)]}

    layers = []
    auto = st[0].auto_model
    for spec in layer_texts:
        if isinstance(spec, str):
            text, ref = spec, None
        else:
            rel, i = spec
            if rel not in files:
                files[rel] = read_smart(os.path.join(SHARED, "ir", rel))
            text, ref = files[rel][i], [rel, i]
        enc = tok(text, truncation=True, max_length=max_len, return_tensors="pt")
        with torch.no_grad():
            out = auto(input_ids=enc["input_ids"], attention_mask=enc["attention_mask"],
                       token_type_ids=enc.get("token_type_ids"), output_hidden_states=True)
            e = st.encode([text], convert_to_numpy=True, show_progress_bar=False)[0]
        hs = out.hidden_states
        states = []
        for li, h in enumerate(hs):
            name = "embeddings" if li == 0 else "encoder.layer.%d" % (li - 1)
            a = h[0].numpy()
            states.append({"name": name, "offset": blob.add(a), "rows": int(a.shape[0]), "cols": int(a.shape[1])})
        entry = {"ids": enc["input_ids"][0].tolist(), "states": states, "embedding_offset": blob.add(e)}
        if ref:
            entry["ref"] = ref
        else:
            entry["text"] = text
        layers.append(entry)

    meta = {
        "generator": "tests/golden/gen_model_goldens.py",
        "model": os.path.basename(model_dir.rstrip("/")),
        "source_sha256": sha256_file(os.path.join(model_dir, "model.safetensors")),
        "max_seq_length": max_len,
        "versions": {"torch": torch.__version__, "sentence_transformers": __import__("sentence_transformers").__version__,
                     "transformers": __import__("transformers").__version__},
        "blob": "model_%s.f32" % key,
        "blob_floats": blob.n,
        "parity": parity,
        "layers": layers,
    }
    with open(os.path.join(GOLDEN, "model_%s.f32" % key), "wb") as f:
        for p in blob.parts:
            f.write(p.tobytes())
    with open(os.path.join(GOLDEN, "model_%s.json" % key), "w") as f:
        json.dump(meta, f, separators=(",", ":"))
        f.write("\n")
    print("%s: %d parity texts (%d truncated), %d layer texts, %.2f MB" %
          (key, len(texts), sum(truncated), len(layers), blob.n * 4 / 1e6))


def every(n, step, limit=None):
    r = list(range(0, n, step))
    return r[:limit] if limit else r


def main():
    torch.set_num_threads(max(1, os.cpu_count() or 1))
    cran_q, med_q = "cranfield/cran.qry", "medline/MED.QRY"
    cran_d, med_d = "cranfield/cran.all.1400", "medline/MED.ALL"
    nq_cran = len(read_smart(os.path.join(SHARED, "ir", cran_q)))
    nq_med = len(read_smart(os.path.join(SHARED, "ir", med_q)))
    nd_cran = len(read_smart(os.path.join(SHARED, "ir", cran_d)))
    nd_med = len(read_smart(os.path.join(SHARED, "ir", med_d)))
    # 1,000 texts: every query of both collections, then every third document up to 1,000.
    n_docs = 1000 - nq_cran - nq_med
    cran_docs = every(nd_cran, 3, n_docs - n_docs * 345 // 745)
    med_docs = every(nd_med, 3, n_docs - len(cran_docs))
    hand = ["hello world", "The Caf\u00e9's na\u00efve r\u00e9sum\u00e9 costs $3.50 \u2014 isn't it? \u6771\u4eac!"]
    which = sys.argv[1:] or ["minilm", "paraphrase", "synthetic"]
    real_selection = [(cran_q, range(nq_cran)), (med_q, range(nq_med)), (cran_d, cran_docs), (med_d, med_docs)]
    if "minilm" in which:
        make("minilm", os.path.join(ROOT, "weights", "hf", "all-MiniLM-L6-v2"), real_selection,
             hand + [(cran_q, 0), (med_q, 1)])
    if "paraphrase" in which:
        # A second real checkpoint with another configuration (3 layers, max_seq_length 128, no
        # Normalize module): the same 1,000 texts (many documents truncated at 128 word pieces),
        # the same hand texts, two queries and a document truncated at 128 for the per-layer states.
        make("paraphrase", os.path.join(ROOT, "weights", "hf", "paraphrase-MiniLM-L3-v2"), real_selection,
             hand + [(cran_q, 0), (med_q, 1), (med_d, 3)])
    if "synthetic" in which:
        make("synthetic", os.path.join(ROOT, "weights", "hf", "synthetic-bert-cls"),
             [(cran_q, every(nq_cran, 5)), (med_q, range(nq_med)), (cran_d, every(nd_cran, 10)),
              (med_d, every(nd_med, 10))],
             hand + [(cran_q, 0), (cran_d, 0)])


if __name__ == "__main__":
    main()
