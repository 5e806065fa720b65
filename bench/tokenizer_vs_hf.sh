#!/usr/bin/env bash
# Tokenizer speed, bertrank vs Hugging Face tokenizers (Rust, via PyPI), single-threaded, on the
# same texts (every document and query of ../shared/data/ir), in one run. Prints MB/s,
# tokens/s and the ratio. Needs the reference venv (tests/golden/make_ref_venv.sh) and a build.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
venv=${BERTRANK_REF_VENV:-$HOME/.cache/bertrank/ref-venv}
data=${BERTRANK_SHARED_DATA:-$root/../shared/data}
build=${BUILD_DIR:-$root/build}
ours=$(OMP_NUM_THREADS=1 "$build/bench/bench_tokenizer" --benchmark_repetitions=5 \
        --benchmark_report_aggregates_only=true --benchmark_format=json 2>/dev/null)
peer=$(RAYON_NUM_THREADS=1 TOKENIZERS_PARALLELISM=false "$venv/bin/python" \
        "$root/bench/peers/tokenizer_hf.py" "$data" | grep '^{')
python3 - "$ours" "$peer" <<'PY'
import json, sys
ours = json.loads(sys.argv[1]); peers = [json.loads(l) for l in sys.argv[2].splitlines() if l.strip()]
med = next(b for b in ours["benchmarks"] if b.get("aggregate_name") == "median")
o_mb, o_tok = med["bytes_per_second"] / 1e6, med["tokens_per_second"]
print("| engine | MB/s | tokens/s | bertrank ratio |\n|---|---|---|---|")
print(f"| bertrank WordPiece encode (1 thread, median of 5) | {o_mb:.1f} | {o_tok/1e6:.2f} M | 1.0x |")
for p in peers:
    print(f"| {p['engine']} {p.get('mode', '')} (1 thread, median) | {p['MB_per_s']:.1f} | "
          f"{p['tokens_per_s']/1e6:.2f} M | {o_mb/p['MB_per_s']:.1f}x |")
PY
