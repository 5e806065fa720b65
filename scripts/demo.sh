#!/usr/bin/env bash
# The main job on defaults: set everything up (packages, models, build), then run the pipeline
# that exists so far on a few example lines. Pass your own text file as the first argument.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
bash "$root/scripts/setup.sh"
cd "$root"
input=${1:-}
if [ -z "$input" ]; then
  input=$(mktemp)
  trap 'rm -f "$input"' EXIT
  printf '%s\n' \
    "What similarity laws must be obeyed when constructing aeroelastic models?" \
    "Correlation between maternal and fetal plasma levels of glucose." \
    "Café au lait, naïve résumé — déjà vu!" > "$input"
fi
echo "== bertrank tokenize (all-MiniLM-L6-v2 WordPiece) =="
build/bertrank tokenize -m weights/hf/all-MiniLM-L6-v2 "$input"
