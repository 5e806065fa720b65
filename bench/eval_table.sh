#!/usr/bin/env bash
# Retrieval quality on Cranfield and MEDLINE (../shared/data/ir): NDCG@10 / MRR@10 / Recall@100
# for BM25, the bi-encoder (all-MiniLM-L6-v2) and hybrid (RRF), optionally + cross-encoder
# rerank of the top N. Writes a Markdown table to stdout.
#   bench/eval_table.sh [RERANK_DEPTHS...]     e.g. bench/eval_table.sh 20 50 100
#   RERANK_COLLECTIONS="medline" limits the rerank rows to those collections (default: both)
#   RERANKER=M.brm   the cross-encoder (default: weights/ms-marco-MiniLM-L-12-v2.brm; the seeded
#                    fixture weights/seeded-cross-encoder.brm made bench/results/eval_table.md)
#   PRECISION=int8   linear-layer precision of both models (default fp32)
#   BIENCODER=M.brm  the bi-encoder that builds the indexes (default weights/all-MiniLM-L6-v2.brm)
# Indexes are cached in $BUILD_DIR/eval/ and rebuilt when the bi-encoder, the documents or the
# index options change (scripts/lib.sh: file_stamp); a failed build shows bertrank's error.
# The reference pipeline (sentence-transformers + FAISS, tests/golden/ref_pipeline.py) writes
# bench/results/ref_pipeline.md for comparison.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
# shellcheck source=scripts/lib.sh
source scripts/lib.sh
build=${BUILD_DIR:-build}
data=${BERTRANK_SHARED_DATA:-$root/../shared/data}/ir
reranker=${RERANKER:-weights/ms-marco-MiniLM-L-12-v2.brm}
model=${BIENCODER:-weights/all-MiniLM-L6-v2.brm}
model_stamp=$(file_stamp "$model")
index_opts=(--bm25)
# build_index DOCS IDX: bertrank index build, its output kept in IDX.log and shown on failure.
build_index() {
  "$build/bertrank" index build -m "$model" --docs "$1" -o "$2" "${index_opts[@]}" >"$2.log" 2>&1 ||
    { cat "$2.log" >&2; echo "eval_table: index build of $1 with $model failed" >&2; return 1; }
}
mkdir -p "$build/eval"
echo "| collection | method | NDCG@10 | MRR@10 | Recall@100 | queries |"
echo "|---|---|---|---|---|---|"
for spec in cranfield:cran.all.1400:cran.qry:cranqrel medline:MED.ALL:MED.QRY:MED.REL; do
  IFS=: read -r name docs queries qrels <<<"$spec"
  idx="$build/eval/$name.idx"
  docs_stamp=$(file_stamp "$data/$name/$docs")
  cached_run "$idx" "$(cache_key "index build ${index_opts[*]}" "$model_stamp" "$docs_stamp")" \
    build_index "$data/$name/$docs" "$idx"
  extra=()
  case " ${RERANK_COLLECTIONS:-cranfield medline} " in
    *" $name "*) [ $# -gt 0 ] && extra=(--rerank "$reranker" --candidates "$(IFS=,; echo "$*")") ;;
  esac
  # One run per collection: every mode and rerank depth, each (query, document) pair scored once.
  "$build/bertrank" eval -i "$idx" --queries "$data/$name/$queries" --qrels "$data/$name/$qrels" \
    --mode bm25,dense,hybrid --precision "${PRECISION:-fp32}" "${extra[@]}" |
    python3 -c "
import json, sys
rows = [json.loads(line) for line in sys.stdin]
for r in rows:
    label = r['mode'] + (' + rerank@%d' % r['rerank_candidates'] if r['rerank_candidates'] else '')
    print(f\"| $name | {label} | {r['ndcg@10']:.4f} | {r['mrr@10']:.4f} | {r['recall@100']:.4f} | {r['queries']} |\")
if rows and rows[0].get('pairs_scored'):
    print(f\"<!-- $name: {rows[0]['pairs_scored']} distinct pairs scored in {rows[0]['seconds']['rerank']:.0f} s -->\", file=sys.stderr)
"
done
