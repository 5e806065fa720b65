#!/usr/bin/env bash
# The search demo on "a machine with nothing installed": builds the fully static CLI
# (build-static/bertrank-static: glibc, libstdc++, libgomp and utf8proc linked in), then runs
# index build + search --rerank inside an EMPTY chroot directory that holds only that binary,
# the two .brm files and the documents — no libc, no /proc, no /dev, no /etc, nothing else.
# Prints the binary's size and each step's peak RSS (/usr/bin/time -v, else bash's getrusage).
#
#   ./scripts/static_demo.sh                  # 300 documents of the default demo corpus
#   ./scripts/static_demo.sh --docs FILE      # your jsonl / SMART documents
#   DOCS_LIMIT=N                              # first N lines of the default corpus (300)
#   BUILD_DIR=build-static                    # where the static CLI is built
#   BERTRANK_STATIC_BIN=path                  # use this binary instead of building one
#   DEBOOTSTRAP=1                             # also run it in a debootstrap --variant=minbase
#                                             # bookworm directory (made once: ~3 min, 206 MB)
# chroot needs root: without it the build still runs, and the chroot steps are skipped (exit 0).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
caller=$PWD  # a relative --docs is the caller's
cd "$root"
docs=""
while [ $# -gt 0 ]; do
  case "$1" in
    --docs) docs=$2; [[ "$docs" == /* ]] || docs=$caller/$docs; shift 2 ;;
    *) echo "usage: $0 [--docs FILE]" >&2; exit 2 ;;
  esac
done
[ -z "$docs" ] || [ -f "$docs" ] || { echo "static_demo: --docs $docs: no such file" >&2; exit 1; }
build=${BUILD_DIR:-build-static}
enc=weights/all-MiniLM-L6-v2.brm
ce=weights/seeded-cross-encoder.brm
for w in "$enc" "$ce"; do
  [ -f "$w" ] || { echo "static_demo: $w is missing; run ./scripts/setup.sh first" >&2; exit 1; }
done

# 1. The static binary.
bin=${BERTRANK_STATIC_BIN:-}
if [ -z "$bin" ]; then
  cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release -DBERTRANK_STATIC_CLI=ON -DBERTRANK_BUILD_TESTS=OFF \
    -DBERTRANK_BUILD_BENCH=OFF -DBERTRANK_BUILD_PACKAGE=OFF >/dev/null
  # shellcheck source=scripts/lib.sh
  source scripts/lib.sh  # run_filtered: cmake's exit status decides, not grep's
  run_filtered -vE '^\[ *[0-9]+%\] (Building|Linking|Built)|^-- ' cmake --build "$build" -j "$(nproc)" --target bertrank-static ||
    { echo "static_demo: build of bertrank-static failed: see the errors above" >&2; exit 1; }
  bin=$build/bertrank-static
fi
[ -x "$bin" ] || { echo "static_demo: $bin was not built" >&2; exit 1; }
echo "== $(file -b "$bin" | cut -d, -f1-4)"
if readelf -l "$bin" | grep -q INTERP || readelf -d "$bin" 2>/dev/null | grep -q NEEDED; then
  echo "static_demo: $bin is not fully static" >&2; exit 1
fi
size=$(stat -c %s "$bin")
stripped=$(mktemp); strip -o "$stripped" "$bin"; ssize=$(stat -c %s "$stripped"); rm -f "$stripped"
echo "   size: $size bytes ($((size / 1024)) KiB); stripped: $ssize bytes ($((ssize / 1024)) KiB)"

if [ "$(id -u)" -ne 0 ]; then
  echo "static_demo: SKIP the chroot run: chroot(2) needs root (run this script as root)"
  exit 0
fi

# 2. The documents: by default the first DOCS_LIMIT packages of this machine's dpkg status.
work=$(mktemp -d /tmp/bertrank-static-demo.XXXXXX)
trap 'rm -rf "$work"' EXIT
jail=$work/jail
mkdir -p "$jail"
if [ -z "$docs" ]; then
  python3 scripts/demo_corpus.py "$work/all.jsonl" >/dev/null
  head -n "${DOCS_LIMIT:-300}" "$work/all.jsonl" >"$jail/docs.jsonl"
else
  cp "$docs" "$jail/docs.jsonl"
fi
cp "$bin" "$jail/bertrank"
cp "$enc" "$ce" "$jail/"

# Peak RSS of one command: /usr/bin/time -v when installed, else bash's children rusage.
measure() { # measure LABEL CMD...
  local label=$1; shift
  if [ -x /usr/bin/time ]; then
    /usr/bin/time -v -o "$work/time.$label" "$@"
    echo "   [$label] peak RSS $(awk -F': ' '/Maximum resident/{print $2}' "$work/time.$label") KiB," \
         "wall $(awk -F': ' '/Elapsed/{print $2}' "$work/time.$label")" >&2
  else
    "$@"
    echo "   [$label] peak RSS $(python3 -c 'import resource;print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)') KiB (max over children so far)" >&2
  fi
}

queries=(-q "compress files into an archive" -q "a tool to debug programs"
         -q "library for parsing JSON" -q "fast linear algebra routines")
run_in() { # run_in DIR LABEL: index build + search --rerank inside chroot DIR
  local dir=$1 label=$2
  measure "$label-index" chroot "$dir" /bertrank index build -m /all-MiniLM-L6-v2.brm --docs /docs.jsonl \
    -o /docs.idx --bm25 2>&1 | grep -v 'ETA' >&2
  measure "$label-search" chroot "$dir" /bertrank search -i /docs.idx "${queries[@]}" -k 3 --mode hybrid \
    --rerank /seeded-cross-encoder.brm --candidates 20 --timings | cut -c1-150
}

echo "== chroot $jail — its whole content:"
(cd "$jail" && find . -mindepth 1 -printf '   %p %s bytes\n' | sort)
echo "== bertrank index build + search (hybrid, top 20 reranked by the seeded cross-encoder, best 3)"
echo "   (the default reranker has a random head: it shows the pipeline, not relevance)"
run_in "$jail" empty

# 3. Optional: the same in a minimal Debian (debootstrap --variant=minbase bookworm).
if [ "${DEBOOTSTRAP:-0}" = 1 ]; then
  base=${DEBOOTSTRAP_DIR:-/tmp/bertrank-minbase-bookworm}
  if [ ! -x "$base/bin/sh" ]; then
    command -v debootstrap >/dev/null || apt-get install -y -qq debootstrap >/dev/null
    debootstrap --variant=minbase bookworm "$base" http://deb.debian.org/debian >"$work/debootstrap.log" 2>&1 ||
      { tail -5 "$work/debootstrap.log"; echo "static_demo: debootstrap failed" >&2; exit 1; }
  fi
  echo "== the same in $base (debootstrap minbase bookworm, $(du -sh "$base" | cut -f1))"
  cp "$jail/bertrank" "$jail"/*.brm "$jail/docs.jsonl" "$base/"
  run_in "$base" minbase
  rm -f "$base/bertrank" "$base"/*.brm "$base/docs.jsonl" "$base/docs.idx"
fi
