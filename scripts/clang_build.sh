#!/usr/bin/env bash
# Builds the CLI and the test suite with clang (-Wall -Wextra) into build-clang and runs the
# fast part of the suite with it: CI's second compiler (issue 13). GCC is scripts/test.sh's.
#   CLANG_BUILD_DIR   build directory (default: build-clang)
#   CLANG_TEST_REGEX  ctest -R filter (default: the fast unit tests below)
#   CLANG_TEST_EXCLUDE ctest -E filter (default: the real-checkpoint parity tests, minutes each)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${CLANG_BUILD_DIR:-$root/build-clang}
command -v clang++ >/dev/null || { echo "clang_build: clang++ not found (apt-get install clang libomp-dev)" >&2; exit 1; }
if [ ! -f "$build/CMakeCache.txt" ]; then
  CC=clang CXX=clang++ cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release \
    -DBERTRANK_BUILD_BENCH=OFF -DBERTRANK_BUILD_PACKAGE=OFF >/dev/null
fi
t0=$(date +%s)
cmake --build "$build" -j "$(nproc)" --target bertrank bertrank_tests
echo "clang_build: build took $(( $(date +%s) - t0 )) s"
# Kernels against the reference, tokenizer goldens, readers, index, model, C API and the server
# (transport, store, routes): ~1 min.
regex=${CLANG_TEST_REGEX:-'^(Isa/)?(WordPiece|TokenizerGolden|KernelsIsa|KernelsDispatch|GemmQ8Isa|Metrics|CApi|Bm25|DocsIo|Smart|Safetensors|ModelFile|IndexFile|IndexFlat|IndexIvf|IndexScan|BiEncoder|CrossEncoder|Http|Store|Service)[./]'}
t0=$(date +%s)
exclude=${CLANG_TEST_EXCLUDE:-Parity}
ctest --test-dir "$build" --output-on-failure -j "$(nproc)" -R "$regex" -E "$exclude" --timeout 300
echo "clang_build: tests took $(( $(date +%s) - t0 )) s"
