#!/usr/bin/env bash
# Makes the seed corpora of the fuzz targets (generated, not committed):
#   make_seeds.sh <build-fuzz dir> <out dir>
# <out>/<target>/ gets tiny valid files from fuzz_make_seeds (the project's own writers), the
# target's committed regression inputs, and for docs the head of the Cranfield files when
# ../shared/data is there (BERTRANK_SHARED_DATA overrides its location).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
build=$1 out=$2
rm -rf "$out"
mkdir -p "$out"
"$build/fuzz/fuzz_make_seeds" "$out"
for t in model safetensors index tokenizer docs http; do
  find "$here/regressions/$t" -maxdepth 1 -type f ! -name '*.md' -exec cp {} "$out/$t/" \;
done
data=${BERTRANK_SHARED_DATA:-$here/../../../shared/data}
if [ -d "$data/ir/cranfield" ]; then
  head -c 3000 "$data/ir/cranfield/cran.all.1400" > "$out/docs/cran_all_head"
  head -c 1500 "$data/ir/cranfield/cran.qry" > "$out/docs/cran_qry_head"
  head -n 40 "$data/ir/cranfield/cranqrel" > "$out/docs/cranqrel_head"
  head -n 40 "$data/ir/medline/MED.REL" > "$out/docs/medrel_head"
fi
for t in model safetensors index tokenizer docs http; do
  echo "seeds: $t: $(find "$out/$t" -type f | wc -l) files"
done
