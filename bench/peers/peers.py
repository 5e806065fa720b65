#!/usr/bin/env python3
"""Peer benchmark of issue 7: bertrank vs ONNX Runtime vs sentence-transformers on the same texts.
Driven by bench/peers/run.sh (which makes the venv, builds bench_e2e and calls the steps below in
order); each step can also be run by hand with the peers venv's python:

  peers.py prepare --data D --out plan.json [--quick]   texts + tasks, tokenized with HF tokenizers
  peers.py export  --onnx-dir DIR                       ONNX export (fp32) + dynamic int8, once
  peers.py run     --engine ort|st --precision fp32|int8 --threads T --plan plan.json --out R.jsonl
  peers.py report  --plan plan.json --results R.jsonl ... --md peers.md --png peers.png

The plan fixes everything an engine does: the texts (MEDLINE documents, Cranfield queries), which
of them, in which order, the batch size, the truncation length, the repetitions. bertrank's
bench_e2e (C++) and this file's executors read the same plan, so all engines run identical work.
Every timed call goes from text to output (tokenization included) for every engine.

Workload (tasks), each at 1 and 2 threads unless said:
  embed medline/bN     the first n MEDLINE documents in file order, in batches of N (input order),
                       truncated at 256 word pieces (the model's max_seq_length)
  embed queries/bN     the first n Cranfield queries, in batches of N
  embed seqlen/LN      MEDLINE documents of >= 256 word pieces, truncated at N (16..256), one batch
                       (every sequence then has exactly N tokens: no padding for anyone), 2 threads
  latency query        Cranfield queries of <= 16 word pieces ([CLS]/[SEP] included), one per call
  rerank N             MEDLINE query 1 against the first N MEDLINE documents (N = 20, 50 on 1 and 2
                       threads, 100 on 2), the seeded cross-encoder, pairs truncated longest_first at 512
Peers: ONNX Runtime runs an export of transformers' BertModel with mean pooling and L2
normalisation inside the graph (BertForSequenceClassification for the reranker), graph
optimisation ORT_ENABLE_ALL, intra_op_num_threads = T, inter_op 1; "int8" is
onnxruntime.quantization.quantize_dynamic of that fp32 file (QInt8 weights, defaults otherwise).
Inputs are padded to the longest sequence of each batch (ORT and sentence-transformers cannot pack);
rerank candidates are sorted by length and run in batches of 32. sentence-transformers:
SentenceTransformer.encode(batch, batch_size=N) and CrossEncoder.predict(pairs, batch_size=32) on
torch CPU with torch.set_num_threads(T).
"""
import argparse
import datetime
import json
import os
import platform
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
BI_HF = os.path.join(REPO, "weights/hf/all-MiniLM-L6-v2")
CE_HF = os.path.join(REPO, "weights/hf/seeded-cross-encoder")
MAX_LEN = 256      # all-MiniLM-L6-v2's max_seq_length
CE_MAX_LEN = 512   # the reranker's (head max_seq_length = tokenizer model_max_length)
CE_BATCH = 32


def read_smart_texts(path):
    sys.path.insert(0, os.path.join(REPO, "tests", "golden"))
    from gen_tokenizer_goldens import read_smart  # the rules of retrieval/smart.h
    return [t.decode("utf-8", "replace") for _, _, t in read_smart(path)]


def load_tokenizer(hf_dir, max_length=None, pad=False):
    from tokenizers import Tokenizer
    tok = Tokenizer.from_file(os.path.join(hf_dir, "tokenizer.json"))
    tok.no_truncation()
    tok.no_padding()
    if max_length:
        tok.enable_truncation(max_length=max_length, strategy="longest_first")
    if pad:
        tok.enable_padding(pad_id=0, pad_token="[PAD]")
    return tok


def model_flops(n_tokens, cfg, cross=False):
    """Forward-pass FLOPs of one sequence of n tokens: 2 * (weights of the linear layers) * n
    + attention (q.k and p.v: 4 * n^2 * hidden per layer); the pooler for the cross-encoder."""
    h, i, l = cfg["hidden_size"], cfg["intermediate_size"], cfg["num_hidden_layers"]
    f = l * (2 * (4 * h * h + 2 * h * i) * n_tokens + 4 * n_tokens * n_tokens * h)
    if cross:
        f += 2 * h * h
    return f


# ---------------------------------------------------------------------------------------------
# prepare

def cmd_prepare(a):
    ir = os.path.join(a.data, "ir")
    med = read_smart_texts(os.path.join(ir, "medline/MED.ALL"))
    med_q = read_smart_texts(os.path.join(ir, "medline/MED.QRY"))
    cran_q = read_smart_texts(os.path.join(ir, "cranfield/cran.qry"))
    cfg = json.load(open(os.path.join(BI_HF, "config.json")))
    full = load_tokenizer(BI_HF)
    n_full = [len(e.ids) for e in full.encode_batch(med)]
    n_q = [len(e.ids) for e in full.encode_batch(cran_q)]

    q = a.quick
    threads = [1, 2]
    tasks = []

    def embed(tid, corpus, idx, batch, max_length, reps, lens, thr=None):
        toks = [min(lens[i], max_length) for i in idx]
        t = {"id": tid, "kind": "embed", "corpus": corpus, "idx": idx, "batch": batch,
             "max_length": max_length, "reps": reps, "tokens": sum(toks),
             "flops": sum(model_flops(n, cfg) for n in toks)}
        if thr:
            t["threads"] = thr
        tasks.append(t)

    # Sizes: the full run must stay within ~20 min on the busy 2-vCPU VM for all six engines;
    # the cross-encoder (long pairs) dominates, then MEDLINE at batch 32.
    reps = 1 if q else 3
    # MEDLINE documents: n texts per batch size (a pass = n texts in batches of `batch`).
    med_n = {1: 4, 32: 32} if q else {1: 4, 8: 8, 32: 32}
    for b, n in med_n.items():
        embed("medline/b%d" % b, "medline", list(range(n)), b, MAX_LEN, reps, n_full)
    qn = {1: 32, 32: 64} if q else {1: 32, 8: 64, 32: 64, 128: 128}
    for b, n in qn.items():
        embed("queries/b%d" % b, "queries", list(range(n)), b, MAX_LEN, reps, n_q)
    # Sequence length sweep: documents long enough that every sequence is exactly L tokens.
    long_idx = [i for i, n in enumerate(n_full) if n >= MAX_LEN][:8 if q else 16]
    for L in ([16, 64, 256] if q else [16, 32, 64, 128, 256]):
        embed("seqlen/L%d" % L, "medline", long_idx, len(long_idx), L, 1, n_full, thr=[2])
    # Single-query latency: Cranfield queries of <= 16 word pieces, one per call.
    short = [i for i, n in enumerate(n_q) if n <= 16]
    tasks.append({"id": "latency/query", "kind": "latency", "corpus": "queries", "idx": short,
                  "max_length": MAX_LEN, "passes": 2 if q else 5,
                  "tokens": sum(n_q[i] for i in short) / max(1, len(short)),
                  "flops": 0})
    # Rerank: MEDLINE query 1 against its first N documents (as bench_rerank does).
    ce_cfg = json.load(open(os.path.join(CE_HF, "config.json")))
    pair_tok = load_tokenizer(CE_HF, CE_MAX_LEN)
    pair_lens = [len(e.ids) for e in pair_tok.encode_batch([(med_q[0], d) for d in med[:100]])]
    # Full: 20 and 50 on 1 and 2 threads, 100 on 2 threads only (the targets are on 2 threads).
    for n in ([50] if q else [20, 50, 100]):
        t = {"id": "rerank/%d" % n, "kind": "rerank", "n": n, "reps": 1,
             "tokens": sum(pair_lens[:n]), "flops": sum(model_flops(x, ce_cfg, True) for x in pair_lens[:n])}
        if q or n == 100:
            t["threads"] = [2]
        tasks.append(t)
    plan = {"quick": q, "threads": threads, "data": os.path.abspath(a.data),
            "corpora": {"medline": med, "queries": cran_q},
            "rerank": {"query": med_q[0], "docs": med[:100]},
            "n_short_queries": len(short), "tasks": tasks}
    with open(a.out, "w") as f:
        json.dump(plan, f)
    print("plan: %d tasks, %d short queries (<= 16 tokens), %d MEDLINE docs >= %d tokens -> %s"
          % (len(tasks), len(short), len([n for n in n_full if n >= MAX_LEN]), MAX_LEN, a.out))


# ---------------------------------------------------------------------------------------------
# export

def cmd_export(a):
    import numpy as np
    import onnxruntime as ort
    import torch
    from onnxruntime.quantization import QuantType, quantize_dynamic
    from transformers import BertForSequenceClassification, BertModel

    os.makedirs(a.onnx_dir, exist_ok=True)

    class Pooled(torch.nn.Module):  # BertModel + mean pooling + L2 normalisation (the ST modules)
        def __init__(self, bert):
            super().__init__()
            self.bert = bert

        def forward(self, input_ids, attention_mask, token_type_ids):
            h = self.bert(input_ids=input_ids, attention_mask=attention_mask,
                          token_type_ids=token_type_ids).last_hidden_state
            m = attention_mask.unsqueeze(-1).to(h.dtype)
            e = (h * m).sum(1) / m.sum(1).clamp(min=1e-9)
            return torch.nn.functional.normalize(e, p=2, dim=1)

    class Logits(torch.nn.Module):
        def __init__(self, m):
            super().__init__()
            self.m = m

        def forward(self, input_ids, attention_mask, token_type_ids):
            return self.m(input_ids=input_ids, attention_mask=attention_mask,
                          token_type_ids=token_type_ids).logits

    for name, hf, wrap, out_name in [
            ("bi", BI_HF, lambda: Pooled(BertModel.from_pretrained(BI_HF, add_pooling_layer=False)), "embedding"),
            ("ce", CE_HF, lambda: Logits(BertForSequenceClassification.from_pretrained(CE_HF)), "logits")]:
        fp32 = os.path.join(a.onnx_dir, name + ".fp32.onnx")
        int8 = os.path.join(a.onnx_dir, name + ".int8.onnx")
        src = os.path.join(hf, "model.safetensors")
        stamp = "%s %d %d" % (src, os.path.getsize(src), int(os.path.getmtime(src)))
        stamp_file = os.path.join(a.onnx_dir, name + ".stamp")
        if os.path.exists(int8) and os.path.exists(stamp_file) and open(stamp_file).read() == stamp:
            print("export: %s up to date" % name)
            continue
        model = wrap().eval()
        tok = load_tokenizer(hf, 128, pad=True)
        texts = ["a short query", "the effects of cortisone on the liver of rats were studied " * 5]
        enc = tok.encode_batch(texts)
        feed = {k: np.array([getattr(e, attr) for e in enc], dtype=np.int64)
                for k, attr in [("input_ids", "ids"), ("attention_mask", "attention_mask"),
                                ("token_type_ids", "type_ids")]}
        args = tuple(torch.from_numpy(feed[k]) for k in ("input_ids", "attention_mask", "token_type_ids"))
        with torch.inference_mode():
            ref = model(*args).numpy()
        dyn = {"input_ids": {0: "batch", 1: "seq"}, "attention_mask": {0: "batch", 1: "seq"},
               "token_type_ids": {0: "batch", 1: "seq"}, out_name: {0: "batch"}}
        torch.onnx.export(model, args, fp32, input_names=list(feed), output_names=[out_name],
                          dynamic_axes=dyn, opset_version=17, dynamo=False, do_constant_folding=True)
        quantize_dynamic(fp32, int8, weight_type=QuantType.QInt8)
        # Check on other shapes than the traced one (batch 1 and 3, longer sequences).
        checks = []
        for batch in (["one"], ["x", "a longer text " * 30, "the liver " * 90]):
            e = load_tokenizer(hf, 256, pad=True).encode_batch(batch)
            f = {k: np.array([getattr(x, attr) for x in e], dtype=np.int64)
                 for k, attr in [("input_ids", "ids"), ("attention_mask", "attention_mask"),
                                 ("token_type_ids", "type_ids")]}
            with torch.inference_mode():
                checks.append((f, model(*(torch.from_numpy(f[k]) for k in f)).numpy()))
        for path in (fp32, int8):
            s = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
            err = max(float(np.abs(s.run(None, f)[0] - r).max()) for f, r in [(feed, ref)] + checks)
            print("export: %s max |ORT - torch| over 3 input shapes = %.2e" % (os.path.basename(path), err))
            if path == fp32 and err > 1e-4:
                raise SystemExit("export: the fp32 ONNX file does not reproduce torch (%.2e)" % err)
        with open(stamp_file, "w") as f:
            f.write(stamp)


# ---------------------------------------------------------------------------------------------
# run (one engine, one precision, one thread count per process)

def cmd_run(a):
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    import numpy as np
    plan = json.load(open(a.plan))
    t = a.threads
    versions = {}

    if a.engine == "ort":
        import onnxruntime as ort
        versions["onnxruntime"] = ort.__version__

        def session(path):
            so = ort.SessionOptions()
            so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
            so.intra_op_num_threads = t
            so.inter_op_num_threads = 1
            so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
            if os.environ.get("OMP_WAIT_POLICY", "").upper() == "PASSIVE":
                # The same no-spinning rule as libgomp's PASSIVE for torch and bertrank (ORT's
                # own pool spins by default; on the busy VM that cost it 1.3-2x).
                so.add_session_config_entry("session.intra_op.allow_spinning", "0")
            return ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])

        bi = session(os.path.join(a.onnx_dir, "bi.%s.onnx" % a.precision))
        ce = session(os.path.join(a.onnx_dir, "ce.%s.onnx" % a.precision))
        toks = {}

        def feed(enc):
            return {"input_ids": np.array([e.ids for e in enc], dtype=np.int64),
                    "attention_mask": np.array([e.attention_mask for e in enc], dtype=np.int64),
                    "token_type_ids": np.array([e.type_ids for e in enc], dtype=np.int64)}

        def embed(texts, max_length):
            if max_length not in toks:
                toks[max_length] = load_tokenizer(BI_HF, max_length, pad=True)
            enc = toks[max_length].encode_batch(texts)
            return bi.run(None, feed(enc))[0], sum(sum(e.attention_mask) for e in enc)

        ce_tok = load_tokenizer(CE_HF, CE_MAX_LEN, pad=True)
        ce_len = load_tokenizer(CE_HF, CE_MAX_LEN)

        def rerank(query, docs):
            pairs = [(query, d) for d in docs]
            lens = [len(e.ids) for e in ce_len.encode_batch(pairs)]
            order = sorted(range(len(pairs)), key=lambda i: lens[i])
            scores = np.empty(len(pairs), dtype=np.float32)
            for s in range(0, len(order), CE_BATCH):
                chunk = order[s:s + CE_BATCH]
                scores[chunk] = ce.run(None, feed(ce_tok.encode_batch([pairs[i] for i in chunk])))[0][:, 0]
            return scores, sum(lens)
    elif a.engine == "st":
        import sentence_transformers
        import torch
        from sentence_transformers import CrossEncoder, SentenceTransformer
        torch.set_num_threads(t)
        torch.set_num_interop_threads(1)
        versions.update(torch=torch.__version__, sentence_transformers=sentence_transformers.__version__)
        st = SentenceTransformer(BI_HF, device="cpu")
        cross = CrossEncoder(CE_HF, device="cpu", max_length=CE_MAX_LEN)
        tok = load_tokenizer(BI_HF)

        def embed(texts, max_length):
            st.max_seq_length = max_length
            with torch.inference_mode():
                out = st.encode(texts, batch_size=len(texts), convert_to_numpy=True, show_progress_bar=False)
            return out, None

        def rerank(query, docs):
            with torch.inference_mode():
                return cross.predict([(query, d) for d in docs], batch_size=CE_BATCH,
                                     show_progress_bar=False), None
    else:
        raise SystemExit("unknown engine " + a.engine)

    out = open(a.out, "a")

    def emit(row):
        row.update(engine=a.engine, precision=a.precision, threads=t, versions=versions)
        out.write(json.dumps(row) + "\n")
        out.flush()

    for task in plan["tasks"]:
        if t not in task.get("threads", plan["threads"]):
            continue
        kind, times, tokens = task["kind"], [], None
        if kind in ("embed", "latency"):
            corpus = plan["corpora"][task["corpus"]]
            texts = [corpus[i] for i in task["idx"]]
            b = 1 if kind == "latency" else task["batch"]
            reps = task["passes"] if kind == "latency" else task["reps"]
            embed(texts[:b], task["max_length"])  # warm-up
            for _ in range(reps):
                total, ntok = 0.0, 0
                for s in range(0, len(texts), b):
                    t0 = time.perf_counter()
                    _, nt = embed(texts[s:s + b], task["max_length"])
                    dt = time.perf_counter() - t0
                    ntok += nt or 0
                    total += dt
                    if kind == "latency":
                        times.append(dt)
                if kind == "embed":
                    times.append(total)
                tokens = ntok or None
            n_texts = 1 if kind == "latency" else len(texts)
        elif kind == "rerank":
            docs = plan["rerank"]["docs"][:task["n"]]
            rerank(plan["rerank"]["query"], docs[:8])  # warm-up
            for _ in range(task["reps"]):
                t0 = time.perf_counter()
                _, nt = rerank(plan["rerank"]["query"], docs)
                times.append(time.perf_counter() - t0)
                tokens = nt
            n_texts = task["n"]
        else:
            continue
        emit({"task": task["id"], "kind": kind, "times": times, "tokens": tokens, "texts": n_texts})
        print("%s %s %d thread(s) %-16s median %.4f s" % (a.engine, a.precision, t, task["id"],
                                                          statistics.median(times)), file=sys.stderr)


# ---------------------------------------------------------------------------------------------
# report

ENGINES = [("bertrank", "fp32"), ("bertrank", "int8"), ("bertrank", "bf16"),
           ("ort", "fp32"), ("ort", "int8"), ("st", "fp32")]
ENGINE_NAME = {"bertrank": "bertrank", "ort": "ONNX Runtime", "st": "sentence-transformers"}


def pct(values, p):
    v = sorted(values)
    if not v:
        return float("nan")
    k = (len(v) - 1) * p / 100.0
    lo = int(k)
    hi = min(lo + 1, len(v) - 1)
    return v[lo] + (v[hi] - v[lo]) * (k - lo)


def cpu_model():
    info = {}
    try:
        for line in open("/proc/cpuinfo"):
            k, _, v = line.partition(":")
            info.setdefault(k.strip(), v.strip())
    except OSError:
        return platform.processor() or "unknown"
    flags = set(info.get("flags", "").split())
    isa = "+".join(f for f in ("avx2", "fma", "avx512f", "avx512_vnni", "avx512_bf16", "avx_vnni") if f in flags)
    return "%s (family %s, model %s), %s" % (info.get("model name", "?"), info.get("cpu family", "?"),
                                             info.get("model", "?"), isa or "no AVX2")


def cmd_report(a):
    plan = json.load(open(a.plan))
    tasks = {t["id"]: t for t in plan["tasks"]}
    rows, na, peaks, versions, bandwidth, token_checks = {}, {}, {}, {}, [], []
    for path in a.results:
        for line in open(path):
            r = json.loads(line)
            key = (r["engine"], r["precision"])
            if r.get("status") == "n/a" and "task" not in r:
                na[key] = r.get("reason", "")
                continue
            if r.get("kind") == "bandwidth":
                bandwidth.append(r["gbps"])
                continue
            if r.get("kind") == "peak":
                peaks.setdefault(r["threads"], []).append(r["gflops"])
                a.isa = r.get("isa", a.isa)
                continue
            versions.update(r.get("versions", {}))
            if r.get("status") == "n/a":
                rows.setdefault(key + (r["threads"], r["task"]), {"na": r.get("reason", "")})
                continue
            d = rows.setdefault(key + (r["threads"], r["task"]), {"times": [], "tokens": [], "texts": r["texts"]})
            d["times"] += r["times"]
            if r.get("tokens") and r["kind"] != "latency":
                d["tokens"].append(r["tokens"])
                want = tasks[r["task"]]["tokens"]
                token_checks.append((r["engine"], r["precision"], r["task"], r["tokens"], want))
    peak = {t: statistics.median(v) for t, v in peaks.items()}

    def med(e, p, th, tid):
        d = rows.get((e, p, th, tid))
        if not d or "na" in d or not d["times"]:
            return None
        return statistics.median(d["times"])

    def na_text(e, p):
        if (e, p) in na:
            return "n/a (not implemented)" if "not" in na[(e, p)].lower() or "implement" in na[(e, p)].lower() \
                else "n/a (%s)" % na[(e, p)]
        return "not run"

    present = [ep for ep in ENGINES if ep in na or any(k[:2] == ep for k in rows)]
    L = []
    L.append("# Peer benchmark: bertrank vs ONNX Runtime vs sentence-transformers (issue 7)")
    L.append("")
    L.append("Generated by `bench/peers/run.sh` — do not edit by hand; re-run it.")
    L.append("")
    L.append("- command: `%s`" % a.command)
    L.append("- date: %s (run took %s)" % (a.date, a.elapsed or "?"))
    L.append("- CPU: %s, %d logical CPUs; kernels: %s" % (cpu_model(), os.cpu_count(), a.isa or "?"))
    L.append("- git commit: %s" % a.commit)
    L.append("- mode: %s; load average at start / end: %s / %s" % ("quick (--quick)" if plan["quick"] else "full",
                                                                   a.load_start, a.load_end))
    passive = (os.environ.get("OMP_WAIT_POLICY") or "").upper() == "PASSIVE"
    L.append("- thread waiting: OMP_WAIT_POLICY=%s for torch and bertrank (OpenMP); ONNX Runtime "
             "`session.intra_op.allow_spinning` = %s" % (os.environ.get("OMP_WAIT_POLICY") or "unset",
                                                         "0" if passive else "default (1)"))
    L.append("- peers: %s" % ", ".join("%s %s" % kv for kv in sorted(versions.items())))
    if peak:
        L.append("- measured AVX2 FMA peak (12 FMA chains/thread, best of 7, wall clock): %s"
                 % ", ".join("%.1f GFLOP/s on %d thread(s)" % (peak[t], t) for t in sorted(peak)))
    if bandwidth:
        L.append("- measured DRAM read bandwidth, 1 thread: %.1f GB/s" % statistics.median(bandwidth))
    bad = [c for c in token_checks if c[3] != c[4]]
    L.append("- identical tokenization: %s" % (
        "the token counts bertrank's tokenizer (bertrank rows) and Hugging Face `tokenizers` (ONNX Runtime "
        "rows) report for every pass agree with the plan's (HF) counts: %d of %d checks" % (len(token_checks), len(token_checks))
        if not bad else "**MISMATCH** in %d of %d passes: %s" % (len(bad), len(token_checks), bad[:5])))
    L.append("")
    L.append("**The machine is a shared 2-vCPU VM**: other sessions compile and test on it during the run, "
             "so absolute figures are noisy and low. Engines run one after another in rounds (each round runs "
             "every engine once) and every figure is the median over rounds and repetitions; compare the "
             "ratios, which are taken within the same run.")
    L.append("")
    L.append("What is timed: text in, output out — tokenization included for every engine. bertrank packs "
             "a batch's sequences without padding; ONNX Runtime and sentence-transformers pad each batch to "
             "its longest sequence. ONNX Runtime: an export of transformers' `BertModel` with mean pooling "
             "and L2 normalisation inside the graph (`BertForSequenceClassification` for the reranker), "
             "`ORT_ENABLE_ALL`, `intra_op_num_threads` = threads; its int8 is "
             "`quantize_dynamic(QInt8)` of that file. sentence-transformers: `encode(batch, batch_size=N)`, "
             "`CrossEncoder.predict(pairs, batch_size=32)`, `torch.set_num_threads`. Tokens counted with "
             "the model's tokenizer ([CLS]/[SEP] included, after truncation). GFLOP/s = model FLOPs "
             "(2·linear weights·tokens + 4·tokens²·hidden per layer, useful tokens only) / time.")
    L.append("")

    # Throughput
    L.append("## Throughput")
    L.append("")
    L.append("`medline`: the first MEDLINE documents, truncated at 256 word pieces; `queries`: the first "
             "Cranfield queries. A pass embeds n texts in batches of `batch` in input order.")
    L.append("")
    L.append("| engine | precision | threads | corpus | batch | texts | sentences/s | tokens/s | GFLOP/s | throughput / bertrank fp32 |")
    L.append("|---|---|---:|---|---:|---:|---:|---:|---:|---:|")
    thr_tasks = [t for t in plan["tasks"] if t["kind"] == "embed" and not t["id"].startswith("seqlen")]
    tput = {}
    for th in plan["threads"]:
        for t in thr_tasks:
            if th not in t.get("threads", plan["threads"]):
                continue
            base = med("bertrank", "fp32", th, t["id"])
            for e, p in present:
                m = med(e, p, th, t["id"])
                label = "%s | %s | %d | %s | %d | %d" % (ENGINE_NAME[e], p, th, t["corpus"], t["batch"], len(t["idx"]))
                if m is None:
                    L.append("| %s | %s | | | |" % (label, na_text(e, p)))
                    continue
                sps = len(t["idx"]) / m
                tps = t["tokens"] / m
                tput[(e, p, th, t["id"])] = (sps, tps, t["flops"] / m * 1e-9)
                ratio = "%.2f×" % (base / m) if base else "–"
                L.append("| %s | %.1f | %.0f | %.1f | %s |" % (label, sps, tps, t["flops"] / m * 1e-9, ratio))
    L.append("")

    # Sequence length sweep
    sweep = [t for t in plan["tasks"] if t["id"].startswith("seqlen")]
    if sweep:
        th = sweep[0].get("threads", plan["threads"])[0]
        L.append("## Throughput vs sequence length (%d threads)" % th)
        L.append("")
        L.append("%d MEDLINE documents of ≥ 256 word pieces, truncated at L (every sequence has exactly L tokens: "
                 "no padding for any engine), one batch of all of them. tokens/s (throughput / bertrank fp32):"
                 % len(sweep[0]["idx"]))
        L.append("")
        L.append("| engine | precision | " + " | ".join("L=%d" % t["max_length"] for t in sweep) + " |")
        L.append("|---|---|" + "---:|" * len(sweep))
        for e, p in present:
            cells = []
            for t in sweep:
                m, base = med(e, p, th, t["id"]), med("bertrank", "fp32", th, t["id"])
                if m is None:
                    cells.append(na_text(e, p) if (e, p) in na else "–")
                else:
                    tput[(e, p, th, t["id"])] = (len(t["idx"]) / m, t["tokens"] / m, t["flops"] / m * 1e-9)
                    cells.append("%.0f (%.2f×)" % (t["tokens"] / m, base / m) if base else "%.0f" % (t["tokens"] / m))
            L.append("| %s | %s | %s |" % (ENGINE_NAME[e], p, " | ".join(cells)))
        L.append("")

    # Latency
    lat = tasks.get("latency/query")
    if lat:
        L.append("## Single-query latency")
        L.append("")
        L.append("%d Cranfield queries of ≤ 16 word pieces (mean %.1f tokens), embedded one per call, %d passes; "
                 "milliseconds per call." % (len(lat["idx"]), lat["tokens"], lat["passes"]))
        L.append("")
        L.append("| engine | precision | threads | p50 ms | p99 ms | calls |")
        L.append("|---|---|---:|---:|---:|---:|")
        for th in lat.get("threads", plan["threads"]):
            for e, p in present:
                d = rows.get((e, p, th, "latency/query"))
                if not d or "na" in d:
                    L.append("| %s | %s | %d | %s | | |" % (ENGINE_NAME[e], p, th, na_text(e, p)))
                    continue
                L.append("| %s | %s | %d | %.2f | %.2f | %d |" % (ENGINE_NAME[e], p, th, pct(d["times"], 50) * 1e3,
                                                               pct(d["times"], 99) * 1e3, len(d["times"])))
        L.append("")

    # Rerank
    rr = [t for t in plan["tasks"] if t["kind"] == "rerank"]
    if rr:
        L.append("## Cross-encoder rerank latency")
        L.append("")
        L.append("MEDLINE query 1 against its first N MEDLINE documents, seeded cross-encoder "
                 "(all-MiniLM-L6-v2 encoder + seeded pooler/classifier), pairs truncated at 512; milliseconds "
                 "per rerank call (median).")
        L.append("")
        L.append("| engine | precision | threads | candidates | tokens | ms | pairs/s | GFLOP/s | speed / bertrank fp32 |")
        L.append("|---|---|---:|---:|---:|---:|---:|---:|---:|")
        for th in plan["threads"]:
            for t in rr:
                if th not in t.get("threads", plan["threads"]):
                    continue
                base = med("bertrank", "fp32", th, t["id"])
                for e, p in present:
                    m = med(e, p, th, t["id"])
                    label = "%s | %s | %d | %d | %d" % (ENGINE_NAME[e], p, th, t["n"], t["tokens"])
                    if m is None:
                        d = rows.get((e, p, th, t["id"]))
                        why = ("n/a (%s)" % d["na"]) if d and "na" in d else na_text(e, p)
                        L.append("| %s | %s | | | |" % (label, why))
                        continue
                    tput[(e, p, th, t["id"])] = m
                    L.append("| %s | %.0f | %.1f | %.1f | %s |" % (label, m * 1e3, t["n"] / m, t["flops"] / m * 1e-9,
                                                                  "%.2f×" % (base / m) if base else "–"))
        L.append("")

    # Targets
    L.append("## Targets of issue 7")
    L.append("")
    L.append("2 threads unless said; throughput at batch 32.")
    L.append("")
    L.append("| target | measured | goal | status |")
    L.append("|---|---:|---:|---|")

    def line(name, val, goal, ok, fmt="%.2f×"):
        if val is None:
            L.append("| %s | n/a | %s | not measured |" % (name, goal))
        else:
            L.append("| %s | %s | %s | %s |" % (name, fmt % val, goal, "met" if ok(val) else "**missed**"))

    def ratio(a_, b_, tid, th=2):
        x, y = tput.get(a_ + (th, tid)), tput.get(b_ + (th, tid))
        return x[0] / y[0] if x and y else None

    for corpus in ("medline", "queries"):
        tid = "%s/b32" % corpus
        line("bertrank fp32 / ONNX Runtime fp32, %s" % corpus, ratio(("bertrank", "fp32"), ("ort", "fp32"), tid),
             "≥ 1.5×", lambda v: v >= 1.5)
        line("bertrank fp32 / sentence-transformers, %s" % corpus, ratio(("bertrank", "fp32"), ("st", "fp32"), tid),
             "≥ 3×", lambda v: v >= 3.0)
        line("bertrank int8 / bertrank fp32, %s" % corpus, ratio(("bertrank", "int8"), ("bertrank", "fp32"), tid),
             "≥ 2×", lambda v: v >= 2.0)
        line("bertrank int8 / ONNX Runtime int8, %s" % corpus, ratio(("bertrank", "int8"), ("ort", "int8"), tid),
             "≥ 1×", lambda v: v >= 1.0)
    for p, goal in (("fp32", 2.0), ("int8", 1.0)):
        d = rows.get(("bertrank", p, 1, "latency/query"))
        v = pct(d["times"], 50) * 1e3 if d and "na" not in d and d["times"] else None
        line("single query latency p50, bertrank %s, 1 thread" % p, v, "≤ %g ms" % goal, lambda x, g=goal: x <= g,
             "%.2f ms")
    best = None
    for p in ("int8", "bf16"):
        m = med("bertrank", p, 2, "rerank/50")
        if m is not None and (best is None or m * 1e3 < best[0]):
            best = (m * 1e3, p)
    line("rerank 50 candidates, bertrank %s" % (best[1] if best else "int8/bf16"), best[0] if best else None,
         "≤ 150 ms", lambda x: x <= 150, "%.0f ms")
    m = med("bertrank", "fp32", 2, "rerank/50")
    if m is not None:
        L.append("| (for reference: rerank 50, bertrank fp32) | %.0f ms | | |" % (m * 1e3))
    for corpus in ("medline", "queries"):
        x = tput.get(("bertrank", "fp32", 2, "%s/b32" % corpus))
        v = x[2] / peak[2] * 100 if x and peak.get(2) else None
        line("model FLOP rate, bertrank fp32, %s batch 32, %% of FMA peak" % corpus, v, "≥ 70%",
             lambda y: y >= 70, "%.0f%%")
    L.append("")
    # What the missed targets would need on this machine, from this run's own measurements.
    notes = []
    cfg = json.load(open(os.path.join(BI_HF, "config.json")))
    h, i_, nl = cfg["hidden_size"], cfg["intermediate_size"], cfg["num_hidden_layers"]
    lin = nl * (4 * h * h + 2 * h * i_)
    l3 = ""
    try:
        l3 = open("/sys/devices/system/cpu/cpu0/cache/index3/size").read().strip()
    except OSError:
        pass
    if bandwidth:
        bw = statistics.median(bandwidth)
        notes.append("Single query: a 1-query forward pass reads every linear weight once: %.1f MB in fp32, "
                     "%.1f MB in int8 (L3 here: %s, shared with the other jobs). fp32 does not fit, so each "
                     "query streams its weights from DRAM: at the measured %.1f GB/s that alone takes %.1f ms "
                     "(int8, if it had to stream: %.1f ms). The ≤ 2 ms fp32 target needs the weights in cache."
                     % (lin * 4e-6, lin * 1e-6, l3 or "?", bw, lin * 4 / bw * 1e-6, lin / bw * 1e-6))
    lat = tasks.get("latency/query")
    if lat and peak.get(1):
        # Compute floor of one query: its linear-layer FLOPs at the measured FMA peak. fp32 FMA does
        # 8 multiply-adds per instruction; AVX2 int8 without VNNI needs vpmaddubsw + vpmaddwd (two
        # multiply-port instructions) for 32, i.e. at best twice the fp32 rate.
        fl = 2.0 * lin * lat["tokens"]
        notes.append("Single query, compute: a query of %.1f tokens is %.0f MFLOP of linear layers; at the "
                     "measured 1-thread FMA peak (%.1f GFLOP/s) that is %.2f ms in fp32 and, at best twice "
                     "that rate for AVX2 int8 (vpmaddubsw + vpmaddwd per 32 multiply-adds, no VNNI), %.2f ms "
                     "in int8 — before attention, LayerNorm, tokenization and the call itself. Both latency "
                     "targets are below these floors on this machine."
                     % (lat["tokens"], fl * 1e-6, peak[1], fl / peak[1] * 1e-6, fl / (2 * peak[1]) * 1e-6))
    if peak.get(2):
        parts = []
        for corpus in ("medline", "queries"):
            st = tput.get(("st", "fp32", 2, "%s/b32" % corpus))
            if st:
                parts.append("%s %.1f GFLOP/s, so 3× is %.1f GFLOP/s = %.0f%%" % (corpus, st[2], 3 * st[2], 300 * st[2] / peak[2]))
        if parts:
            notes.append("fp32 ≥ 3× sentence-transformers: sentence-transformers ran at %s of the measured 2-thread "
                         "FMA peak (%.1f GFLOP/s). Any share above 100%% cannot be reached by any fp32 engine on "
                         "this machine." % ("; ".join(parts), peak[2]))
        ratios = []
        for corpus in ("medline", "queries"):
            i8, f32 = tput.get(("bertrank", "int8", 2, "%s/b32" % corpus)), tput.get(("bertrank", "fp32", 2, "%s/b32" % corpus))
            if i8 and f32:
                ratios.append("%s %.2f×" % (corpus, i8[0] / f32[0]))
        if ratios:
            notes.append("int8 ≥ 2× fp32: without VNNI, AVX2 int8 needs two multiply-port instructions "
                         "(vpmaddubsw, vpmaddwd) per 32 multiply-adds where fp32 FMA does 8 per instruction, so "
                         "the int8 GEMM can run at most 2× the fp32 GEMM (bench_gemm_precision measures it); "
                         "attention, LayerNorm, GELU and the activation quantisation stay fp32, so the whole "
                         "model stays below 2× on this CPU (this run: %s). VNNI (vpdpbusd, 4× per instruction) "
                         "is what the target assumes." % ", ".join(ratios))
    if peak.get(1) and peak.get(2) and peak[2] < 1.3 * peak[1]:
        notes.append("Two threads: the measured FMA peak on 2 threads (%.1f GFLOP/s) is no higher than on 1 "
                     "(%.1f GFLOP/s): this VM's two vCPUs share one core's FMA units, so a second thread "
                     "hides latency but adds no arithmetic." % (peak[2], peak[1]))
    rr50 = tasks.get("rerank/50")
    if rr50 and peak.get(2):
        need = rr50["flops"] / 0.150 * 1e-9
        notes.append("Rerank 50: the 50 pairs are %d tokens, %.0f GFLOP; 150 ms needs %.0f GFLOP/s, %.1f× the "
                     "measured 2-thread fp32 FMA peak (%.1f GFLOP/s). int8 on AVX2 (no VNNI: vpmaddubsw + "
                     "vpmaddwd) multiplies at most 2× faster than fp32 FMA, so the target is out of reach of "
                     "this 2-core machine whatever the kernels do." % (rr50["tokens"], rr50["flops"] * 1e-9, need, need / peak[2], peak[2]))
    if peak:
        notes.append("The FMA peak is measured in the same run, under the same load as the model, so the "
                     "percentage compares like with like; bench/README.md has the per-kernel GEMM figures.")
    if notes:
        L.append("Notes on the targets (computed from this run):")
        L.append("")
        for n_ in notes:
            L.append("- " + n_)
        L.append("")
    L.append("Plot: [peers.png](peers.png) — throughput vs batch size (per corpus, 1 and 2 threads) and vs "
             "sequence length, every engine.")
    L.append("")
    raw = {"peaks": peaks, "rows": {"|".join(map(str, k)): v for k, v in rows.items()}, "na": {"|".join(k): v for k, v in na.items()}}
    L.append("<details><summary>raw timings (seconds)</summary>")
    L.append("")
    L.append("```json")
    L.append(json.dumps(raw, sort_keys=True))
    L.append("```")
    L.append("</details>")
    text = "\n".join(L) + "\n"
    with open(a.md, "w") as f:
        f.write(text)
    print(text)
    plot(a.png, plan, tput, present)


def plot(path, plan, tput, present):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    panels = [("medline", 1), ("medline", 2), ("seqlen", 2), ("queries", 1), ("queries", 2), ("rerank", 2)]
    fig, axes = plt.subplots(2, 3, figsize=(16, 9))
    style = {("bertrank", "fp32"): ("C0", "-o"), ("bertrank", "int8"): ("C0", "--s"), ("bertrank", "bf16"): ("C0", ":^"),
             ("ort", "fp32"): ("C1", "-o"), ("ort", "int8"): ("C1", "--s"), ("st", "fp32"): ("C2", "-o")}
    handles = {}
    for ax, (corpus, th) in zip(axes.flat, panels):
        ylabel = "tokens/s"
        if corpus == "seqlen":
            ts = [t for t in plan["tasks"] if t["id"].startswith("seqlen")]
            xs_of = lambda t: t["max_length"]
            ax.set_xlabel("sequence length (tokens), batch %d" % (ts[0]["batch"] if ts else 0))
            ax.set_title("MEDLINE, throughput vs sequence length, %d threads" % th)
        elif corpus == "rerank":
            ts = [t for t in plan["tasks"] if t["kind"] == "rerank"]
            xs_of = lambda t: t["n"]
            ax.set_xlabel("candidates (MEDLINE documents)")
            ax.set_title("cross-encoder rerank, %d threads" % th)
            ylabel = "pairs/s"
        else:
            ts = [t for t in plan["tasks"] if t["kind"] == "embed" and t["id"].startswith(corpus + "/")]
            xs_of = lambda t: t["batch"]
            ax.set_xlabel("batch size")
            ax.set_title("%s, throughput vs batch size, %d thread%s" % (corpus, th, "s" if th > 1 else ""))
        xs_all = set()
        for e, p in present:
            pts = []
            for t in ts:
                v = tput.get((e, p, th, t["id"]))
                if v is None:
                    continue
                pts.append((xs_of(t), t["n"] / v if corpus == "rerank" else v[1]))
            if pts:
                c, s = style[(e, p)]
                h, = ax.plot([x for x, _ in pts], [y for _, y in pts], s, color=c, label="%s %s" % (ENGINE_NAME[e], p))
                handles.setdefault(h.get_label(), h)
                xs_all.update(x for x, _ in pts)
        ax.set_xscale("log", base=2)
        if xs_all:
            ax.set_xticks(sorted(xs_all))
            ax.set_xticklabels([str(x) for x in sorted(xs_all)])
        ax.set_ylim(bottom=0)
        ax.set_ylabel(ylabel)
        ax.grid(True, alpha=0.3)
    labels = [l for l in ("%s %s" % (ENGINE_NAME[e], p) for e, p in present) if l in handles]
    fig.legend([handles[l] for l in labels], labels, loc="upper center", ncol=len(handles), fontsize=10,
               bbox_to_anchor=(0.5, 0.955))
    fig.suptitle("all-MiniLM-L6-v2 on the shared 2-vCPU Zen 3 VM (higher is better)")
    fig.tight_layout(rect=(0, 0, 1, 0.93))
    fig.savefig(path, dpi=80)
    print("plot: " + path)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("prepare")
    p.add_argument("--data", default=os.path.normpath(os.path.join(REPO, "../shared/data")))
    p.add_argument("--out", required=True)
    p.add_argument("--quick", action="store_true")
    p = sub.add_parser("export")
    p.add_argument("--onnx-dir", required=True)
    p = sub.add_parser("run")
    p.add_argument("--engine", required=True, choices=["ort", "st"])
    p.add_argument("--precision", default="fp32", choices=["fp32", "int8"])
    p.add_argument("--threads", type=int, required=True)
    p.add_argument("--plan", required=True)
    p.add_argument("--onnx-dir", default="")
    p.add_argument("--out", required=True)
    p = sub.add_parser("report")
    p.add_argument("--plan", required=True)
    p.add_argument("--results", nargs="+", required=True)
    p.add_argument("--md", required=True)
    p.add_argument("--png", required=True)
    for k in ("command", "date", "commit", "load-start", "load-end", "elapsed"):
        p.add_argument("--" + k, default="")
    a = ap.parse_args()
    a.isa = ""
    {"prepare": cmd_prepare, "export": cmd_export, "run": cmd_run, "report": cmd_report}[a.cmd](a)


if __name__ == "__main__":
    main()
