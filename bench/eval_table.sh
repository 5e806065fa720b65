#!/usr/bin/env bash
# Retrieval quality on Cranfield and MEDLINE (../shared/data/ir): NDCG@10 / MRR@10 / Recall@100
# for BM25, the bi-encoder (all-MiniLM-L6-v2) and hybrid (RRF), optionally + cross-encoder
# rerank of the top N. Writes a Markdown table to stdout.
#   bench/eval_table.sh [RERANK_DEPTHS...]     e.g. bench/eval_table.sh 20 50 100
#   RERANK_COLLECTIONS="medline" limits the rerank rows to those collections (default: both)
# The reference pipeline (sentence-transformers + FAISS, tests/golden/ref_pipeline.py) writes
# bench/results/ref_pipeline.md for comparison.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
build=${BUILD_DIR:-build}
data=${BERTRANK_SHARED_DATA:-$root/../shared/data}/ir
reranker=${RERANKER:-weights/seeded-cross-encoder.brm}
mkdir -p "$build/eval"
echo "| collection | method | NDCG@10 | MRR@10 | Recall@100 | queries |"
echo "|---|---|---|---|---|---|"
for spec in cranfield:cran.all.1400:cran.qry:cranqrel medline:MED.ALL:MED.QRY:MED.REL; do
  IFS=: read -r name docs queries qrels <<<"$spec"
  idx="$build/eval/$name.idx"
  [ -f "$idx" ] || "$build/bertrank" index build -m weights/all-MiniLM-L6-v2.brm \
                     --docs "$data/$name/$docs" -o "$idx" --bm25 >/dev/null 2>&1
  for mode in bm25 dense hybrid; do
    depths=(0)
    case " ${RERANK_COLLECTIONS:-cranfield medline} " in *" $name "*) depths+=("$@") ;; esac
    for depth in "${depths[@]}"; do
      extra=() label=$mode
      if [ "$depth" != 0 ]; then extra=(--rerank "$reranker" --candidates "$depth"); label="$mode + rerank@$depth"; fi
      "$build/bertrank" eval -i "$idx" --queries "$data/$name/$queries" --qrels "$data/$name/$qrels" \
        --mode "$mode" "${extra[@]}" |
        python3 -c "import json,sys; r=json.load(sys.stdin); print(f\"| $name | $label | {r['ndcg@10']:.4f} | {r['mrr@10']:.4f} | {r['recall@100']:.4f} | {r['queries']} |\")"
    done
  done
done
