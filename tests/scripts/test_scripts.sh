#!/usr/bin/env bash
# Regression tests of the shell scripts that build, index and benchmark (issue 13, defect 13):
# a failed build is never passed over on a stale binary, a changed BERTRANK_CMAKE_ARGS
# reconfigures, and a cached index is reused only for the same documents, model and options.
#
#   tests/scripts/test_scripts.sh [SOURCE_DIR]     (default: the checkout holding this file)
#
# Each script under test is copied from SOURCE_DIR into a scratch tree whose neighbours are
# stubs: `cmake`, `dpkg-query`, `bertrank` and the peers' python log their arguments and do
# what each case needs (fail the build, write a fake index that holds the texts and the model
# it was built from), and weights/*.sh and the peers' venv script only log. So the real
# scripts run end to end in a few seconds, with no network, no compiler and no models.
# Prints "ok"/"FAIL" per check; exits 1 when any check failed.
# shellcheck disable=SC2016  # the stubs' single-quoted $ expand when they run, as meant
set -uo pipefail
src=$(cd "${1:-$(dirname "$0")/../..}" && pwd)
tmp=$(mktemp -d "${TMPDIR:-/tmp}/bertrank-test-scripts.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
failures=0
checks=0

# check DESCRIPTION COMMAND...: one check; COMMAND's status decides.
check() {
  local desc=$1
  shift
  checks=$((checks + 1))
  if "$@"; then
    echo "ok   $desc"
  else
    echo "FAIL $desc"
    failures=$((failures + 1))
  fi
}
has() { grep -qF -- "$2" "$1"; }        # has FILE TEXT
lacks() { ! grep -qF -- "$2" "$1"; }    # lacks FILE TEXT
count() { grep -cF -- "$2" "$1" || true; }  # count FILE TEXT: matching lines
eq() { [ "$1" = "$2" ] || { echo "     expected [$2], got [$1]"; return 1; }; }

# ---- stubs ---------------------------------------------------------------------------------
stubs=$tmp/stubs
mkdir -p "$stubs"
# cmake: configure creates CMakeCache.txt (fails if STUB_CONFIGURE_FAIL=1); --build makes the
# binaries, or fails with a compile error if STUB_BUILD_FAIL=1. Progress lines as make's.
cat >"$stubs/cmake" <<'EOF'
#!/usr/bin/env bash
echo "cmake $*" >>"$STUB_LOG"
if [ "$1" = --build ]; then
  dir=$2
  echo "[ 10%] Building CXX object tools/CMakeFiles/bertrank.dir/main.cpp.o"
  if [ "${STUB_BUILD_FAIL:-0}" = 1 ]; then
    echo "tools/main.cpp:1:1: error: stub compile error" >&2
    exit 2
  fi
  [ "${STUB_BUILD_WARN:-0}" = 1 ] && echo "tools/main.cpp:2:1: warning: stub warning" >&2
  echo "[100%] Linking CXX executable bertrank"
  mkdir -p "$dir/bench"
  cp "$STUB_BERTRANK" "$dir/bertrank"
  printf '#!/bin/sh\necho "bench_e2e $*" >>"$STUB_LOG"\n' >"$dir/bench/bench_e2e"
  chmod +x "$dir/bench/bench_e2e"
  exit 0
fi
dir=""
while [ $# -gt 0 ]; do
  case "$1" in -B) dir=$2; shift ;; -B*) dir=${1#-B} ;; esac
  shift
done
echo "-- Configuring done"
[ "${STUB_CONFIGURE_FAIL:-0}" = 1 ] && { echo "CMake Error: stub configure error" >&2; exit 1; }
mkdir -p "$dir" && touch "$dir/CMakeCache.txt"
EOF
printf '#!/bin/sh\nprintf "install ok installed"\n' >"$stubs/dpkg-query"
# bertrank: `index build` writes an "index" holding the model's and the documents' contents
# (so a test can see which ones a search used); search and eval print that content.
cat >"$tmp/bertrank-stub" <<'EOF'
#!/usr/bin/env bash
echo "bertrank $*" >>"$STUB_LOG"
cmd="$1 ${2:-}"
model="" docs="" out="" index="" rerank=""
while [ $# -gt 0 ]; do
  case "$1" in
    -m) model=$2; shift ;; --docs) docs=$2; shift ;; -o) out=$2; shift ;;
    -i) index=$2; shift ;; --rerank) rerank=$2; shift ;;
  esac
  shift
done
case "$cmd" in
  "index build")
    [ "${STUB_INDEX_FAIL:-0}" = 1 ] && { echo "bertrank: stub index build error" >&2; exit 1; }
    [ -f "$model" ] || { echo "bertrank: no model $model" >&2; exit 1; }
    [ -f "$docs" ] || { echo "bertrank: no documents $docs" >&2; exit 1; }
    { echo "model=$(cat "$model")"; echo "docs=$(cat "$docs")"; } >"$out" ;;
  "search -i")
    [ -f "$index" ] || { echo "bertrank: no index $index" >&2; exit 1; }
    [ -z "$rerank" ] || [ -f "$rerank" ] || { echo "bertrank: no reranker $rerank" >&2; exit 1; }
    cat "$index" ;;
  "eval -i")
    [ -f "$index" ] || { echo "bertrank: no index $index" >&2; exit 1; }
    for m in bm25 dense hybrid; do
      echo "{\"mode\":\"$m\",\"rerank_candidates\":0,\"ndcg@10\":0.5,\"mrr@10\":0.25,\"recall@100\":0.75,\"queries\":3}"
    done ;;
  *) echo "bertrank stub: unexpected $cmd" >&2; exit 1 ;;
esac
EOF
chmod +x "$stubs/cmake" "$stubs/dpkg-query" "$tmp/bertrank-stub"
export PATH="$stubs:$PATH" STUB_BERTRANK="$tmp/bertrank-stub"

# sandbox NAME: a scratch tree with the scripts under test and stubbed neighbours; prints its path.
sandbox() {
  local sb=$tmp/$1 f
  mkdir -p "$sb/scripts" "$sb/bench/peers" "$sb/weights" "$sb/tests/server"
  cp "$src"/scripts/*.sh "$sb/scripts/"
  cp "$src/bench/eval_table.sh" "$sb/bench/"
  cp "$src/bench/peers/run.sh" "$sb/bench/peers/"
  for f in weights/fetch_models.sh weights/fetch_rerankers.sh weights/convert_models.sh \
           bench/peers/make_peers_venv.sh tests/server/make_venv.sh; do
    printf '#!/bin/sh\necho "%s $*" >>"$STUB_LOG"\n' "$(basename "$f")" >"$sb/$f"
  done
  echo "$sb"
}
# run_in DIR LOG CMD...: runs CMD in DIR with STUB_LOG=LOG; its stdout+stderr go to LOG.out.
# Returns CMD's status.
run_in() {
  local dir=$1 log=$2
  shift 2
  : >"$log"
  (cd "$dir" && STUB_LOG=$log "$@") >"$log.out" 2>&1
}

# ---- scripts/setup.sh: the build's exit status decides ----------------------------------------
sb=$(sandbox setup)
log=$tmp/setup.log
# A stale binary from an earlier build is there; the build now fails.
mkdir -p "$sb/build" && touch "$sb/build/CMakeCache.txt" && cp "$STUB_BERTRANK" "$sb/build/bertrank"
STUB_BUILD_FAIL=1 run_in "$sb" "$log" bash scripts/setup.sh
rc=$?
check "setup.sh: a failed build exits non-zero although a stale build/bertrank exists" [ $rc -ne 0 ]
check "setup.sh: a failed build stops before the steps that use the binary" lacks "$log" convert_models.sh
check "setup.sh: a failed build shows the compiler's error" has "$log.out" "error: stub compile error"
check "setup.sh: a failed build says so" has "$log.out" "setup: build failed"

# A successful build whose output is all progress lines: filtered away, and still a success.
run_in "$sb" "$log" bash scripts/setup.sh
rc=$?
check "setup.sh: a successful build exits 0 even when the filter leaves no line" [ $rc -eq 0 ]
check "setup.sh: progress lines are filtered" lacks "$log.out" "Building CXX object"
check "setup.sh: the binary is passed to convert_models.sh" has "$log" "convert_models.sh build/bertrank"
check "setup.sh: the server tests' venv goes in the build dir" has "$log" "make_venv.sh $sb/build/server-venv"
STUB_BUILD_WARN=1 run_in "$sb" "$log" bash scripts/setup.sh
check "setup.sh: build warnings are shown" has "$log.out" "warning: stub warning"

# ---- scripts/setup.sh: BERTRANK_CMAKE_ARGS decides when to configure ---------------------------
configures() { grep -F "cmake -S" "$1" || true; }  # configure lines of a log
sb=$(sandbox configure)
BUILD_DIR=b1 BERTRANK_CMAKE_ARGS="-DBERTRANK_SANITIZE=address" run_in "$sb" "$log" bash scripts/setup.sh
check "setup.sh: a new build dir is configured with BERTRANK_CMAKE_ARGS" has "$log" "-DBERTRANK_SANITIZE=address"
BUILD_DIR=b1 BERTRANK_CMAKE_ARGS="-DBERTRANK_SANITIZE=address" run_in "$sb" "$log" bash scripts/setup.sh
check "setup.sh: the same arguments again: no reconfigure" eq "$(configures "$log")" ""
BUILD_DIR=b1 BERTRANK_CMAKE_ARGS="-DBERTRANK_NATIVE=ON" run_in "$sb" "$log" bash scripts/setup.sh
check "setup.sh: changed arguments reconfigure with the new ones" has "$log" "-DBERTRANK_NATIVE=ON"
check "setup.sh: an argument no longer given is removed from the cache (-U)" \
  has "$log" "-U BERTRANK_SANITIZE"
BUILD_DIR=b1 run_in "$sb" "$log" bash scripts/setup.sh
check "setup.sh: unsetting BERTRANK_CMAKE_ARGS reconfigures without them" has "$log" "-U BERTRANK_NATIVE"
BUILD_DIR=b1 STUB_CONFIGURE_FAIL=1 BERTRANK_CMAKE_ARGS="-DX=1" run_in "$sb" "$log" bash scripts/setup.sh
rc=$?
check "setup.sh: a failed configure exits non-zero" [ $rc -ne 0 ]
check "setup.sh: a failed configure does not build" eq "$(count "$log" "cmake --build")" 0
BUILD_DIR=b1 BERTRANK_CMAKE_ARGS="-DX=1" run_in "$sb" "$log" bash scripts/setup.sh
check "setup.sh: after a failed configure, the next run configures again" has "$log" "-DX=1"
# The other spellings of -D: -DNAME:TYPE=VALUE and "-D NAME=VALUE".
BUILD_DIR=b1 BERTRANK_CMAKE_ARGS="-DBERTRANK_SANITIZE:STRING=address -D BERTRANK_NATIVE=ON" \
  run_in "$sb" "$log" bash scripts/setup.sh
BUILD_DIR=b1 BERTRANK_CMAKE_ARGS="-DBERTRANK_SANITIZE=thread" run_in "$sb" "$log" bash scripts/setup.sh
check "setup.sh: -DNAME:TYPE=VALUE and -D NAME=VALUE are recognised (only the dropped one is -U)" \
  eq "$(grep -o -- '-U [A-Z_:]*' "$log" | tr '\n' ' ')" "-U BERTRANK_NATIVE "
# A build dir configured before the arguments were recorded (or by hand): configured once.
mkdir -p "$sb/b2" && touch "$sb/b2/CMakeCache.txt"
BUILD_DIR=b2 BERTRANK_CMAKE_ARGS="-DBERTRANK_NATIVE=ON" run_in "$sb" "$log" bash scripts/setup.sh
check "setup.sh: an existing build dir without recorded arguments is configured" \
  has "$log" "-DBERTRANK_NATIVE=ON"

# ---- bench/peers/run.sh: the build's exit status decides ---------------------------------------
sb=$(sandbox peers)
for f in all-MiniLM-L6-v2 seeded-cross-encoder; do
  touch "$sb/weights/$f.brm" && mkdir -p "$sb/weights/hf/$f" && touch "$sb/weights/hf/$f/model.safetensors"
done
mkdir -p "$tmp/peers-data/ir" "$tmp/peers-venv/bin" "$sb/build-peers/bench"
printf '#!/bin/sh\necho "python $*" >>"$STUB_LOG"\nexit 1\n' >"$tmp/peers-venv/bin/python"
chmod +x "$tmp/peers-venv/bin/python"
touch "$sb/build-peers/CMakeCache.txt"
printf '#!/bin/sh\nexit 0\n' >"$sb/build-peers/bench/bench_e2e" && chmod +x "$sb/build-peers/bench/bench_e2e"
peers() {
  BERTRANK_PEERS_VENV=$tmp/peers-venv BERTRANK_PEERS_CACHE=$tmp/peers-cache \
    run_in "$sb" "$log" bash bench/peers/run.sh --quick --data "$tmp/peers-data"
}
STUB_BUILD_FAIL=1 peers
rc=$?
check "peers/run.sh: a failed build exits non-zero although a stale bench_e2e exists" [ $rc -ne 0 ]
check "peers/run.sh: a failed build stops before the benchmark" lacks "$log" "python bench/peers/peers.py"
check "peers/run.sh: a failed build shows the compiler's error" has "$log.out" "error: stub compile error"
peers
check "peers/run.sh: a successful build without warnings goes on to the benchmark" \
  has "$log" "python bench/peers/peers.py prepare"

# ---- scripts/static_demo.sh: the build's exit status decides; --docs is the caller's --------
sb=$(sandbox static)
touch "$sb/weights/all-MiniLM-L6-v2.brm" "$sb/weights/seeded-cross-encoder.brm"
mkdir -p "$sb/build-static" "$tmp/static-work/a"
cp "$STUB_BERTRANK" "$sb/build-static/bertrank-static"  # a stale binary
echo '{"id":"a1","text":"x"}' >"$tmp/static-work/a/docs.jsonl"
STUB_BUILD_FAIL=1 run_in "$sb" "$log" bash scripts/static_demo.sh
rc=$?
check "static_demo.sh: a failed build exits non-zero although a stale binary exists" [ $rc -ne 0 ]
check "static_demo.sh: ... saying the build failed" has "$log.out" "static_demo: build of bertrank-static failed"
STUB_BUILD_FAIL=1 run_in "$tmp/static-work" "$log" bash "$sb/scripts/static_demo.sh" --docs a/docs.jsonl
check "static_demo.sh: a relative --docs is found from the caller's directory" lacks "$log.out" "no such file"
run_in "$tmp/static-work" "$log" bash "$sb/scripts/static_demo.sh" --docs missing.jsonl
rc=$?
check "static_demo.sh: a missing --docs file is refused before the build" \
  eq "$rc $(count "$log" "cmake") $(count "$log.out" "missing.jsonl: no such file")" "1 0 1"

# ---- scripts/demo.sh: --docs paths and the index cache ---------------------------------------
sb=$(sandbox demo)
printf '#!/bin/sh\necho "setup.sh" >>"$STUB_LOG"\n' >"$sb/scripts/setup.sh"
mkdir -p "$sb/build" && cp "$STUB_BERTRANK" "$sb/build/bertrank"
echo "bi-encoder v1" >"$sb/weights/all-MiniLM-L6-v2.brm"
echo "reranker" >"$sb/weights/ms-marco-MiniLM-L-12-v2.brm"
work=$tmp/work
mkdir -p "$work/a" "$work/b" "$work/my"
echo '{"id":"a1","text":"corpus A"}' >"$work/a/docs.jsonl"
echo '{"id":"b1","text":"corpus B, another file with the same name"}' >"$work/b/docs.jsonl"
echo "my reranker" >"$work/my/ce.brm"
# b's file is older than a's index will be: an mtime comparison cannot tell them apart.
touch -d '2 hours ago' "$work/b/docs.jsonl"
demo() { run_in "$work" "$log" bash "$sb/scripts/demo.sh" "$@"; }
builds() { count "$log" "bertrank index build"; }

demo --docs a/docs.jsonl -q x
check "demo.sh: a relative --docs is read from the caller's directory" has "$log.out" "corpus A"
check "demo.sh: ... and indexed once" eq "$(builds)" 1
demo --docs b/docs.jsonl -q x
check "demo.sh: another file with the same name gets its own index" has "$log.out" "corpus B"
demo --docs a/docs.jsonl -q x
check "demo.sh: an unchanged file reuses its index" eq "$(builds)" 0
check "demo.sh: ... the right one" has "$log.out" "corpus A"
demo --docs "$work/a/docs.jsonl" -q x
check "demo.sh: the same file by its absolute path reuses the index" eq "$(builds)" 0
# The file is replaced by different content with an older mtime (cp -p, a restored backup).
echo '{"id":"a1","text":"corpus A, second edition"}' >"$work/a/docs.jsonl"
touch -d '3 hours ago' "$work/a/docs.jsonl"
demo --docs a/docs.jsonl -q x
check "demo.sh: a changed file is indexed again (even with an older mtime)" has "$log.out" "second edition"
echo "bi-encoder v2, another checkpoint" >"$sb/weights/all-MiniLM-L6-v2.brm"
touch -d '4 hours ago' "$sb/weights/all-MiniLM-L6-v2.brm"
demo --docs a/docs.jsonl -q x
check "demo.sh: a changed bi-encoder is indexed again (even with an older mtime)" \
  has "$log.out" "model=bi-encoder v2"
demo --docs a/docs.jsonl -q x --reranker my/ce.brm
rc=$?
check "demo.sh: a relative --reranker is read from the caller's directory" [ $rc -eq 0 ]
check "demo.sh: ... and named in the header" has "$log.out" "reranked by ce.brm"
demo --docs missing/docs.jsonl -q x
rc=$?
check "demo.sh: a missing --docs file exits non-zero" [ $rc -ne 0 ]
check "demo.sh: ... naming the file" has "$log.out" "missing/docs.jsonl"
check "demo.sh: ... before anything is built" lacks "$log" "setup.sh"

# ---- bench/eval_table.sh: the index cache follows the model and the documents ---------------
sb=$(sandbox eval)
mkdir -p "$sb/build" && cp "$STUB_BERTRANK" "$sb/build/bertrank"
echo "bi-encoder v1" >"$sb/weights/all-MiniLM-L6-v2.brm"
echo "other bi-encoder" >"$sb/weights/other.brm"
data=$tmp/shared
mkdir -p "$data/ir/cranfield" "$data/ir/medline"
for f in cranfield/cran.all.1400 cranfield/cran.qry cranfield/cranqrel medline/MED.ALL medline/MED.QRY medline/MED.REL; do
  echo "$f" >"$data/ir/$f"
done
evalt() { BERTRANK_SHARED_DATA=$data run_in "$sb" "$log" bash bench/eval_table.sh; }
evalt
rc=$?
check "eval_table.sh: runs and builds one index per collection" eq "$rc $(builds)" "0 2"
check "eval_table.sh: prints the table" has "$log.out" "| medline | hybrid | 0.5000 | 0.2500 | 0.7500 | 3 |"
evalt
check "eval_table.sh: unchanged model and documents reuse the indexes" eq "$(builds)" 0
echo "bi-encoder v2" >"$sb/weights/all-MiniLM-L6-v2.brm"
touch -d '1 day ago' "$sb/weights/all-MiniLM-L6-v2.brm"
evalt
check "eval_table.sh: a changed model rebuilds the indexes (even with an older mtime)" eq "$(builds)" 2
BIENCODER=weights/other.brm evalt
check "eval_table.sh: BIENCODER=another model rebuilds the indexes with it" \
  eq "$(count "$log" "index build -m weights/other.brm")" 2
echo "MED.ALL, more documents" >"$data/ir/medline/MED.ALL"
touch -d '1 day ago' "$data/ir/medline/MED.ALL"
BIENCODER=weights/other.brm evalt
check "eval_table.sh: changed documents rebuild that collection's index" eq "$(builds)" 1
echo "bi-encoder v3" >"$sb/weights/all-MiniLM-L6-v2.brm"
STUB_INDEX_FAIL=1 evalt
rc=$?
check "eval_table.sh: a failed index build exits non-zero" [ $rc -ne 0 ]
check "eval_table.sh: ... and shows bertrank's error" has "$log.out" "stub index build error"
evalt
check "eval_table.sh: after a failed build, the next run builds again" eq "$(builds)" 2

echo "$((checks - failures)) of $checks checks passed"
[ "$failures" -eq 0 ]
