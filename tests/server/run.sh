#!/usr/bin/env bash
# run.sh <venv> <program> [args...]: runs a server test with the venv's Python tools, or skips
# (exit 77, saying why) when the venv or the default models are missing.
set -euo pipefail
venv=$1 prog=$2
shift 2
root=$(cd "$(dirname "$0")/../.." && pwd)
[ -x "$venv/bin/$prog" ] || { echo "SKIP: no $venv/bin/$prog (scripts/setup.sh makes the venv; needs PyPI)"; exit 77; }
for m in all-MiniLM-L6-v2 ms-marco-MiniLM-L-12-v2; do
  [ -f "$root/weights/$m.brm" ] || { echo "SKIP: no weights/$m.brm (scripts/setup.sh fetches it)"; exit 77; }
done
cd "$root/tests/server"
exec "$venv/bin/$prog" "$@"
