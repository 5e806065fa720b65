#!/usr/bin/env bash
# The whole test suite: set-up (packages, models, build) then every test through ctest.
# Tests that need ../shared/data skip, saying why, when it is not beside the checkout.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
bash "$root/scripts/setup.sh"
build=${BUILD_DIR:-build}
case "$build" in /*) ;; *) build="$root/$build" ;; esac  # setup.sh takes either form too
cd "$build"
ctest --output-on-failure -j "$(nproc)" "$@"
