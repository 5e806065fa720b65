#!/usr/bin/env python3
"""Single-threaded throughput of Hugging Face `tokenizers` (the WordPiece peer of bertrank's
tokenizer) on the SMART test collections.

    <ref-venv>/bin/python bench/peers/tokenizer_hf.py [DATA_DIR] [--tokenizer T] [--reps 5]

Text: the record text (as retrieval/smart.h defines it) of every record of
ir/cranfield/cran.all.1400, ir/cranfield/cran.qry, ir/medline/MED.ALL and ir/medline/MED.QRY
under DATA_DIR (default: ../shared/data relative to the repository root): documents and queries,
2,688 texts. Each text is encoded with the special tokens ([CLS] ... [SEP]), without truncation
and without padding; `tokens` counts the special tokens too.

Two modes, one JSON line each: `encode_batch` over the whole corpus in one call, and a Python
loop of `encode` (which includes the per-call Python overhead). Each line reports the median of
`--reps` timed repetitions after one warm-up run. MB is 10^6 bytes of UTF-8 input text.
`cpu_seconds_median` (process CPU time) is less sensitive to a busy machine than wall time.
"""
import os

# Must be set before tokenizers is imported: one thread, no Rayon pool.
os.environ["RAYON_NUM_THREADS"] = "1"
os.environ["RAYON_RS_NUM_CPUS"] = "1"
os.environ["TOKENIZERS_PARALLELISM"] = "false"

import argparse  # noqa: E402
import json  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(REPO, "tests", "golden"))
from gen_tokenizer_goldens import SMART_FILES, read_smart  # noqa: E402  (same record rules)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("data", nargs="?", default=os.path.normpath(os.path.join(REPO, "../shared/data")))
    ap.add_argument("--tokenizer", default=os.path.join(REPO, "weights/hf/all-MiniLM-L6-v2/tokenizer.json"))
    ap.add_argument("--reps", type=int, default=5)
    args = ap.parse_args()

    import tokenizers
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(args.tokenizer)
    tok.no_truncation()
    tok.no_padding()

    texts = []
    for f in SMART_FILES:
        texts += [r[2].decode("utf-8", "replace") for r in read_smart(os.path.join(args.data, "ir", f))]
    n_bytes = sum(len(t.encode("utf-8")) for t in texts)

    def run_batch():
        return sum(len(e.ids) for e in tok.encode_batch(texts, add_special_tokens=True))

    def run_loop():
        n = 0
        for t in texts:
            n += len(tok.encode(t, add_special_tokens=True).ids)
        return n

    for mode, fn in (("encode_batch", run_batch), ("encode_loop", run_loop)):
        n_tokens = fn()  # warm-up
        times, cpu = [], []
        for _ in range(args.reps):
            t0, c0 = time.perf_counter(), time.process_time()
            n = fn()
            times.append(time.perf_counter() - t0)
            cpu.append(time.process_time() - c0)
            assert n == n_tokens
        med = statistics.median(times)
        print(json.dumps({
            "engine": "hf-tokenizers %s" % tokenizers.__version__,
            "mode": mode,
            "threads": 1,
            "bytes": n_bytes,
            "texts": len(texts),
            "tokens": n_tokens,
            "seconds_median": round(med, 6),
            "MB_per_s": round(n_bytes / med / 1e6, 3),
            "tokens_per_s": round(n_tokens / med, 1),
            "cpu_seconds_median": round(statistics.median(cpu), 6),
        }), flush=True)


if __name__ == "__main__":
    main()
