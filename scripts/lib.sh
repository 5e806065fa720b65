# shellcheck shell=bash
# Shell helpers shared by scripts/ and bench/ (source it; it only defines functions).
# Each one exists so that a script cannot hide a failure or serve a stale result:
#   run_filtered   filter a command's noisy output without losing its exit status
#   abs_path       a path as the caller meant it, before the script changes directory
#   file_stamp     what identifies a file's content cheaply (path, size, mtime, inode)
#   cache_key      a short digest of such stamps and options
#   cached_run     rebuild an output unless it was made from the same key
# Tested by tests/scripts/test_scripts.sh.

# run_filtered GREP_FLAGS PATTERN CMD...: runs CMD with stdout and stderr merged and passed
# through `grep GREP_FLAGS -e PATTERN` (e.g. -vE to drop progress lines), and returns CMD's exit
# status: a filter that leaves no line is not a failure, and a failed CMD is never hidden
# behind the filter's status. Safe under `set -e` (the caller sees the status; it can `|| ...`).
run_filtered() {
  local -
  set -o pipefail
  local flags=$1 pattern=$2 status=0
  shift 2
  "$@" 2>&1 | { grep "$flags" -e "$pattern" || true; } || status=$?
  return "$status"
}

# abs_path PATH: PATH made absolute against the current directory (not resolved: it need not
# exist). Call it before `cd`, so a relative argument means what the caller meant.
abs_path() {
  case "$1" in
    /*) printf '%s\n' "$1" ;;
    *) printf '%s/%s\n' "$PWD" "$1" ;;
  esac
}

# file_stamp FILE: one line that changes whenever FILE is replaced or rewritten: its resolved
# absolute path, size, modification time in ns and inode. A stamp, not a hash: cheap for a
# model of hundreds of MB, and it catches a same-named file from elsewhere, an edit, and a
# copy with an older mtime (cp -p, a restored backup), which `-nt` misses.
# Fails, naming FILE, when FILE does not exist.
file_stamp() {
  if [ ! -f "$1" ]; then
    echo "$1: no such file" >&2
    return 1
  fi
  printf '%s %s\n' "$(realpath -- "$1")" "$(stat -L -c '%s %.9Y %i' -- "$1")"
}

# cache_key WORD...: a 16-hex-digit digest of the words (one per line), e.g. the stamps of
# the inputs and the options an output was made with.
cache_key() {
  printf '%s\n' "$@" | sha256sum | cut -c1-16
}

# cached_run OUTPUT KEY CMD...: runs CMD (which writes OUTPUT) unless OUTPUT exists and
# OUTPUT.key holds KEY, i.e. OUTPUT was made from the same inputs. KEY is written only after
# CMD succeeded, so a failed or killed run is redone next time. Returns CMD's status.
cached_run() {
  local out=$1 key=$2 status=0
  shift 2
  if [ -f "$out" ] && [ -f "$out.key" ] && [ "$(cat "$out.key")" = "$key" ]; then
    return 0
  fi
  rm -f "$out.key"
  "$@" || status=$?
  if [ "$status" -eq 0 ]; then
    printf '%s\n' "$key" >"$out.key"
  fi
  return "$status"
}
