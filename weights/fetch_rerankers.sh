#!/usr/bin/env bash
# Obtains the cross-encoder (reranker) checkpoint into weights/hf/<name>/. Idempotent; nothing
# here is committed (see .gitignore).
#
# No PyPI package we could reach ships real cross-encoder weights (ms-marco-MiniLM-L-6-v2 or any
# BERT-family NLI / relevance cross-encoder): flashrank downloads its ONNX files from the
# Hugging Face hub at run time; gatrag-context-classifier, tinyintent and coremem ship code
# only; small-hybrid-reranker ships a joblib model over static embeddings, not a BERT;
# flash-rerank has no installable distribution. So the default reranker is
# seeded-cross-encoder: the all-MiniLM-L6-v2 encoder with a seeded pooler and classifier
# (BertForSequenceClassification, num_labels 1), written by a pure-stdlib script. Its scores
# prove parity of the cross-encoder head; they carry no relevance signal.
# To use a real cross-encoder, put its Hugging Face folder (config.json, model.safetensors,
# vocab.txt / tokenizer.json) anywhere and run `bertrank convert <dir> -o weights/<name>.brm`.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
cd "$here"
mkdir -p hf

if [ ! -f hf/seeded-cross-encoder/config.json ]; then
  [ -f hf/all-MiniLM-L6-v2/model.safetensors ] || bash fetch_models.sh
  python3 ../tests/golden/make_seeded_cross_encoder.py hf/all-MiniLM-L6-v2 hf/seeded-cross-encoder
fi
