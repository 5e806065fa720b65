#!/usr/bin/env bash
# Builds the libFuzzer targets (tests/fuzz/, clang, ASan+UBSan) into build-fuzz, makes their
# seed corpora, replays the committed regression inputs, then fuzzes each target for a fixed
# time. Exits non-zero on any build error, failed replay or finding (crash, sanitizer report,
# broken invariant, leak, timeout, out-of-memory); findings are kept in <build>/findings/<target>/.
#   FUZZ_SECONDS   seconds per target (default 25)
#   FUZZ_TARGETS   targets to fuzz (default: model safetensors index tokenizer docs http)
#   FUZZ_BUILD_DIR build directory (default: build-fuzz)
#   FUZZ_ARGS      extra libFuzzer arguments
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${FUZZ_BUILD_DIR:-$root/build-fuzz}
secs=${FUZZ_SECONDS:-25}
targets=${FUZZ_TARGETS:-model safetensors index tokenizer docs http}
jobs=$(nproc)

command -v clang++ >/dev/null || { echo "fuzz: clang++ not found (apt-get install clang libclang-rt-dev)" >&2; exit 1; }
if [ ! -f "$build/CMakeCache.txt" ]; then
  CC=clang CXX=clang++ cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DBERTRANK_BUILD_FUZZ=ON -DBERTRANK_BUILD_BENCH=OFF -DBERTRANK_BUILD_PACKAGE=OFF >/dev/null
fi
bins=()
for t in $targets; do bins+=("fuzz_$t"); done
t0=$(date +%s)
cmake --build "$build" -j "$jobs" --target "${bins[@]}" fuzz_make_seeds
echo "fuzz: build took $(( $(date +%s) - t0 )) s"

bash "$root/tests/fuzz/make_seeds.sh" "$build" "$build/seeds"
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
export OMP_NUM_THREADS=1

status=0
for t in $targets; do
  bin="$build/fuzz/fuzz_$t"
  if ! bash "$root/tests/fuzz/replay.sh" "$bin" "$root/tests/fuzz/regressions/$t" > "$build/replay_$t.log" 2>&1; then
    echo "fuzz: $t: a regression input fails; see $build/replay_$t.log" >&2
    tail -30 "$build/replay_$t.log" >&2
    status=1
    continue
  fi
  corpus="$build/corpus/$t"
  rm -rf "$corpus" && mkdir -p "$corpus" "$build/findings/$t"
  log="$build/fuzz_$t.log"
  # shellcheck disable=SC2086
  if nice -n 10 "$bin" -max_total_time="$secs" -timeout=20 -rss_limit_mb=2048 -print_final_stats=1 \
       -artifact_prefix="$build/findings/$t/" ${FUZZ_ARGS:-} "$corpus" "$build/seeds/$t" > "$log" 2>&1; then
    done_line=$(grep -E '^#[0-9]+[[:space:]]+DONE' "$log" | tail -1 || true)
    execs=$(grep -E '^stat::number_of_executed_units' "$log" | awk '{print $2}')
    echo "fuzz: $t: ok, ${execs:-?} executions in ${secs}s; ${done_line:-(no DONE line)}"
  else
    echo "fuzz: $t: FINDING (libFuzzer exit status non-zero); artifacts in $build/findings/$t/, log $log" >&2
    grep -E 'ERROR|FUZZ_CHECK|runtime error|SUMMARY|Test unit written' "$log" | head -20 >&2 || true
    status=1
  fi
done
exit $status
