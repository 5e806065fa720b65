#!/usr/bin/env bash
# Peer benchmark of issue 7, in one go on this machine: bertrank (fp32, int8, bf16) vs ONNX Runtime
# (fp32 and dynamic int8 of an ONNX export of the same weights) vs sentence-transformers on torch
# CPU, on the same texts (MEDLINE documents, Cranfield queries) and thread counts (1 and 2).
# Writes bench/results/peers.md (tables + targets) and bench/results/peers.png (plot).
#
#   bench/peers/run.sh            # full run (~15-20 min on the 2-vCPU VM)
#   bench/peers/run.sh --quick    # smaller workload, one round (development; ~5 min)
#
# Options: --quick, --rounds N (default 1; each task already repeats 3 times in a full run, and
# a round of all six engines takes ~15-20 min here), --data DIR (default ../shared/data beside the
# repository, or $BERTRANK_SHARED_DATA), --out-dir DIR (default bench/results).
# Environment: BERTRANK_PEERS_VENV (the peers' virtualenv, made by make_peers_venv.sh, outside
# the repository), BERTRANK_PEERS_BUILD (CMake build dir, default build-peers),
# BERTRANK_PEERS_CACHE (ONNX exports and the run's plan/results; default
# ${XDG_CACHE_HOME:-~/.cache}/bertrank/peers). Nothing of the peers lands in the repository.
#
# bertrank int8/bf16 are converted at load (Model::load's precision); a build whose loader
# refuses a precision gets "n/a" rows from bench_e2e instead of failing the run.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
# shellcheck source=scripts/lib.sh
source scripts/lib.sh
cmdline="bench/peers/run.sh${*:+ $*}"
t_start=$(date +%s)

quick=0
rounds=""
data=${BERTRANK_SHARED_DATA:-$root/../shared/data}
out_dir=$root/bench/results
while [ $# -gt 0 ]; do
  case "$1" in
    --quick) quick=1 ;;
    --rounds) rounds=$2; shift ;;
    --data) data=$2; shift ;;
    --out-dir) out_dir=$2; shift ;;
    -h|--help) sed -n 2,20p "$0"; exit 0 ;;
    *) echo "run.sh: unknown option $1" >&2; exit 2 ;;
  esac
  shift
done
[ -n "$rounds" ] || rounds=1
[ -d "$data/ir" ] || { echo "run.sh: no $data/ir (MEDLINE / Cranfield); pass --data" >&2; exit 1; }

venv=${BERTRANK_PEERS_VENV:-${XDG_CACHE_HOME:-$HOME/.cache}/bertrank/peers-venv}
build=${BERTRANK_PEERS_BUILD:-build-peers}
cache=${BERTRANK_PEERS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/bertrank/peers}
export BERTRANK_PEERS_VENV=$venv
py="$venv/bin/python"

# 1. Peers' virtualenv (idempotent).
bash bench/peers/make_peers_venv.sh

# 2. Models: .brm files and the Hugging Face folders they come from (scripts/setup.sh fetches,
#    builds and converts whatever is missing).
if [ ! -f weights/all-MiniLM-L6-v2.brm ] || [ ! -f weights/seeded-cross-encoder.brm ] \
   || [ ! -f weights/hf/all-MiniLM-L6-v2/model.safetensors ] || [ ! -f weights/hf/seeded-cross-encoder/model.safetensors ]; then
  ./scripts/setup.sh
fi

# 3. bertrank's side: build/bench/bench_e2e in its own Release build dir.
if [ ! -f "$build/CMakeCache.txt" ]; then
  cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release >/dev/null
fi
#    Only errors and warnings are shown; cmake's exit status decides (a stale bench_e2e never passes).
run_filtered -E 'error|warning:' cmake --build "$build" -j "$(nproc)" --target bench_e2e ||
  { echo "run.sh: build of bench_e2e failed (cmake --build $build): see the errors above" >&2; exit 1; }
e2e="$build/bench/bench_e2e"
test -x "$e2e" || { echo "run.sh: the build made no $e2e" >&2; exit 1; }

# 4. Plan (identical texts and tasks for every engine) and the ONNX exports.
mkdir -p "$cache" "$out_dir"
run_dir="$cache/run"
rm -rf "$run_dir"
mkdir -p "$run_dir"
plan="$run_dir/plan.json"
quick_arg=()
[ $quick = 0 ] || quick_arg=(--quick)
"$py" bench/peers/peers.py prepare --data "$data" --out "$plan" "${quick_arg[@]}"
"$py" bench/peers/peers.py export --onnx-dir "$cache/onnx"

load_start=$(cut -d' ' -f1-3 /proc/loadavg)

# 5. Rounds: every engine, precision and thread count once per round, each in its own process
#    (thread pools and environment variables cannot leak between engines). Even rounds run the
#    engines in reverse order so a drift of the machine's load does not favour one engine.
# libgomp's default spin-wait turns every fork/join into a scheduler time slice when the VM is
# busy (measured here: sentence-transformers' 1-query encode 35 ms with PASSIVE, 380-730 ms with
# the default, on 2 threads). PASSIVE for every engine that uses OpenMP (torch, bertrank);
# BERTRANK_PEERS_OMP_WAIT_POLICY= (empty) leaves libgomp's default.
wait_policy=${BERTRANK_PEERS_OMP_WAIT_POLICY-PASSIVE}
if [ -n "$wait_policy" ]; then export OMP_WAIT_POLICY=$wait_policy; else unset OMP_WAIT_POLICY; fi

engines=("bertrank fp32" "bertrank int8" "bertrank bf16" "ort fp32" "ort int8" "st fp32")
declare -A unavailable=()
for ((r = 1; r <= rounds; r++)); do
  order=("${engines[@]}")
  if [ $((r % 2)) = 0 ]; then
    order=()
    for ((i = ${#engines[@]} - 1; i >= 0; i--)); do order+=("${engines[i]}"); done
  fi
  for ep in "${order[@]}"; do
    read -r engine prec <<<"$ep"
    [ -z "${unavailable[$ep]:-}" ] || continue
    for th in 1 2; do
      out="$run_dir/$engine-$prec-t$th-r$r.jsonl"
      echo "== round $r/$rounds: $engine $prec, $th thread(s)"
      export OMP_NUM_THREADS=$th RAYON_NUM_THREADS=$th TOKENIZERS_PARALLELISM=true
      if [ "$engine" = bertrank ]; then
        peak=()
        [ "$prec" != fp32 ] || peak=(--peak)
        "$e2e" --plan "$plan" --precision "$prec" --threads "$th" "${peak[@]}" --out "$out"
        if grep -q '"status":"n/a"' "$out" && ! grep -q '"task"' "$out"; then
          unavailable[$ep]=1
          break
        fi
      else
        "$py" bench/peers/peers.py run --engine "$engine" --precision "$prec" --threads "$th" \
          --plan "$plan" --onnx-dir "$cache/onnx" --out "$out"
      fi
    done
  done
done
unset OMP_NUM_THREADS RAYON_NUM_THREADS

# 6. Report.
load_end=$(cut -d' ' -f1-3 /proc/loadavg)
elapsed=$(( $(date +%s) - t_start ))
commit="$(git rev-parse --short HEAD) ($(git log -1 --format=%s | cut -c1-80))"
# The binary is built from the working tree: name what differs from the commit.
dirty=$(git status --porcelain --untracked-files=no -- . ':!bench/results' | awk '{print $2}' | cut -d/ -f1 | sort -u | tr '\n' ' ')
[ -z "$dirty" ] || commit="$commit, built from a working tree with uncommitted changes in: ${dirty% }"
"$py" bench/peers/peers.py report --plan "$plan" --results "$run_dir"/*.jsonl \
  --md "$out_dir/peers.md" --png "$out_dir/peers.png" \
  --command "$cmdline" --date "$(date -u '+%Y-%m-%d %H:%M UTC')" --commit "$commit" \
  --load-start "$load_start" --load-end "$load_end" --elapsed "$((elapsed / 60)) min $((elapsed % 60)) s" >/dev/null
echo "run.sh: wrote $out_dir/peers.md and $out_dir/peers.png in $((elapsed / 60)) min $((elapsed % 60)) s"
