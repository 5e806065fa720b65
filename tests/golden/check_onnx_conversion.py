#!/usr/bin/env python3
"""Checks that weights/onnx_to_hf.py turned an ONNX export into the same model: runs the original
ONNX file in onnxruntime and the converted folder in sentence-transformers (embedding model) or
transformers (cross-encoder) on real texts from ../shared/data/ir, and prints how far apart they
are. Run in the reference venv (tests/golden/make_ref_venv.sh):

    <ref-venv>/bin/python tests/golden/check_onnx_conversion.py embedding ONNX HF_DIR [--texts N]
    <ref-venv>/bin/python tests/golden/check_onnx_conversion.py classifier ONNX HF_DIR [--pairs N]

For an exact fp32 export the two agree to float rounding (max |diff| ~1e-6). For an onnxruntime
dynamic-int8 export the converted folder holds the dequantized weights, while onnxruntime also
quantizes every activation to uint8 on the fly, so the scores differ by that activation rounding;
the check then reports the difference and the rank correlation instead of an exact match.
"""
import argparse
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)
from gen_tokenizer_goldens import read_smart  # noqa: E402


def spearman(a, b):
    def ranks(x):
        order = sorted(range(len(x)), key=lambda i: x[i])
        r = [0.0] * len(x)
        for k, i in enumerate(order):
            r[i] = float(k)
        return r
    ra, rb = ranks(a), ranks(b)
    n = len(a)
    ma, mb = sum(ra) / n, sum(rb) / n
    cov = sum((x - ma) * (y - mb) for x, y in zip(ra, rb))
    va = sum((x - ma) ** 2 for x in ra) ** 0.5
    vb = sum((y - mb) ** 2 for y in rb) ** 0.5
    return cov / (va * vb)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("kind", choices=["embedding", "classifier"])
    ap.add_argument("onnx")
    ap.add_argument("hf_dir")
    ap.add_argument("--data", default=os.path.join(os.path.dirname(REPO), "shared/data"))
    ap.add_argument("--texts", type=int, default=200)
    ap.add_argument("--pairs", type=int, default=100)
    a = ap.parse_args()

    import numpy as np
    import onnxruntime as ort
    import torch
    from transformers import AutoTokenizer

    torch.set_num_threads(2)
    so = ort.SessionOptions()
    so.intra_op_num_threads = 2
    sess = ort.InferenceSession(a.onnx, so, providers=["CPUExecutionProvider"])
    names = [i.name for i in sess.get_inputs()]
    tok = AutoTokenizer.from_pretrained(a.hf_dir)
    docs = [r[2].decode("utf-8", "replace") for r in read_smart(os.path.join(a.data, "ir/medline/MED.ALL"))]
    queries = [r[2].decode("utf-8", "replace") for r in read_smart(os.path.join(a.data, "ir/medline/MED.QRY"))]

    if a.kind == "embedding":
        from sentence_transformers import SentenceTransformer
        st = SentenceTransformer(a.hf_dir, device="cpu")
        texts = (queries + docs)[: a.texts]
        ref = st.encode(texts, batch_size=16, convert_to_numpy=True)
        # The sentence embedding is the graph's [batch, dim] output (exports also pass ids through).
        dim = st.get_sentence_embedding_dimension()
        outs = [o.name for o in sess.get_outputs() if len(o.shape) == 2 and o.shape[1] == dim]
        if len(outs) != 1:
            raise SystemExit("no single [batch, %d] output in %s" % (dim, a.onnx))
        worst, worst_cos = 0.0, 1.0
        for t, r in zip(texts, ref):
            enc = tok([t], truncation=True, max_length=st.max_seq_length, return_tensors="np")
            feed = {k: enc[k].astype(np.int64) for k in names}
            o = sess.run(outs, feed)[0][0]
            worst = max(worst, float(np.abs(o - r).max()))
            worst_cos = min(worst_cos, float(np.dot(o, r) / (np.linalg.norm(o) * np.linalg.norm(r))))
        print("embedding: %d texts, max |onnxruntime - sentence-transformers| = %.3g, min cosine = %.8f"
              % (len(texts), worst, worst_cos))
    else:
        from transformers import AutoModelForSequenceClassification
        model = AutoModelForSequenceClassification.from_pretrained(a.hf_dir).eval()
        pairs = [(queries[i % len(queries)], docs[(7 * i) % len(docs)]) for i in range(a.pairs)]
        ours, theirs = [], []
        with torch.no_grad():
            for q, d in pairs:
                enc = tok([q], [d], truncation="longest_first", max_length=512, return_tensors="pt")
                ours.append(float(model(**enc).logits[0, 0]))
                feed = {k: enc[k].numpy().astype(np.int64) for k in names}
                theirs.append(float(sess.run(None, feed)[0][0, 0]))
        diff = [abs(x - y) for x, y in zip(ours, theirs)]
        print("classifier: %d pairs, |onnxruntime int8 - transformers on the converted weights|: max %.3g, "
              "mean %.3g; score range %.2f..%.2f; Spearman %.5f"
              % (len(pairs), max(diff), sum(diff) / len(diff), min(ours), max(ours), spearman(ours, theirs)))


if __name__ == "__main__":
    main()
