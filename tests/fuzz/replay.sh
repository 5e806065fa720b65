#!/usr/bin/env bash
# Replays every committed regression input of one fuzz target once (no fuzzing):
#   replay.sh <fuzz binary> <regressions/<target> dir>
# Fails if the directory holds no input or if the target crashes / reports on any of them.
set -euo pipefail
bin=$1 dir=$2
mapfile -t inputs < <(find "$dir" -maxdepth 1 -type f ! -name '*.md' | sort)
if [ ${#inputs[@]} -eq 0 ]; then
  echo "replay: no regression inputs in $dir" >&2
  exit 1
fi
echo "replay: ${#inputs[@]} inputs from $dir"
exec "$bin" "${inputs[@]}"
