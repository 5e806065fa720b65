#!/usr/bin/env bash
# Converts the fetched checkpoints (weights/hf/<name>/, from fetch_models.sh) into one-file
# bertrank models weights/<name>.brm, and writes the seeded synthetic BERT that the tests use as
# a second configuration (make_synthetic_bert.py; standard-library Python only). Needs the
# `bertrank` CLI, so it runs after the build:  weights/convert_models.sh [path/to/bertrank]
# (default: build/bertrank, or $BUILD_DIR/bertrank). Idempotent: a .brm newer than its source
# folder is kept. Outputs are git-ignored.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
bin=${1:-$root/${BUILD_DIR:-build}/bertrank}
case "$bin" in /*) ;; *) bin="$root/$bin" ;; esac
[ -x "$bin" ] || { echo "convert_models: no bertrank binary at $bin (build first)" >&2; exit 1; }
cd "$here"

if [ -f hf/all-MiniLM-L6-v2/vocab.txt ] && [ ! -f hf/synthetic-bert-cls/model.safetensors ]; then
  python3 make_synthetic_bert.py hf/synthetic-bert-cls hf/all-MiniLM-L6-v2/vocab.txt
fi

for dir in hf/*/; do
  name=$(basename "$dir")
  [ -f "$dir/config.json" ] && [ -f "$dir/model.safetensors" ] || continue
  out="$name.brm"
  if [ -f "$out" ] && [ "$out" -nt "$dir/model.safetensors" ] && [ "$out" -nt "$dir/config.json" ]; then continue; fi
  "$bin" convert "$dir" -o "$out" --name "$name"
done
