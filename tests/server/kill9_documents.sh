#!/usr/bin/env bash
# kill -9 durability of POST /documents (issue 15): every write the server acknowledged (200) must
# be in the index after the server is killed with SIGKILL and restarted on the same index.
#
# Each round: a client POSTs one document at a time and records the ids answered 200; after a
# random 0.2-1.5 s the server gets kill -9; it is restarted on the same index and every id
# acknowledged in that round is looked up (GET /documents/{id} must answer 200). At the end
# every id acknowledged in any round is looked up once more.
#
#   tests/server/kill9_documents.sh            # from the source root, after building `bertrank`
#   ROUNDS=10 BERTRANK_BIN=build/tools/bertrank tests/server/kill9_documents.sh
#
# Prints "N rounds, M acknowledged writes, K lost" last; exits 0 only if K = 0 (and M > 0).
# ctest runs it as server_kill9 with ROUNDS=10 (about a minute); skips (77) without the models.
set -euo pipefail

cd "$(dirname "$0")/../.."
ROUNDS=${ROUNDS:-100}
BIN=${BERTRANK_BIN:-}
if [[ -z "$BIN" ]]; then
  for c in build/bertrank build/tools/bertrank; do [[ -x "$c" ]] && BIN=$c && break; done
fi
ENCODER=${ENCODER:-weights/all-MiniLM-L6-v2.brm}
RERANKER=${RERANKER:-weights/ms-marco-MiniLM-L-12-v2.brm}
[[ -n "$BIN" && -x "$BIN" ]] || { echo "kill9_documents: no bertrank binary (build it, or set BERTRANK_BIN)" >&2; exit 2; }
for f in "$ENCODER" "$RERANKER"; do
  [[ -f "$f" ]] || { echo "SKIP: kill9_documents: missing $f (weights/fetch_models.sh)"; exit 77; }
done
command -v curl >/dev/null || { echo "kill9_documents: needs curl" >&2; exit 2; }

TMP=$(mktemp -d "${TMPDIR:-/tmp}/bertrank_kill9.XXXXXX")
INDEX=$TMP/docs.idx
SERVER_PID=""
cleanup() {
  [[ -n "$SERVER_PID" ]] && kill -9 "$SERVER_PID" 2>/dev/null || true
  [[ -n "${KEEP_TMP:-}" ]] || rm -rf "$TMP"
}
trap cleanup EXIT

PORT=""
# Starts the server on $INDEX and waits for its ready line; sets SERVER_PID and PORT.
start_server() {
  local log=$TMP/server.$1.log
  "$BIN" serve -m "$ENCODER" --reranker "$RERANKER" -i "$INDEX" --port 0 2>"$log" >/dev/null &
  SERVER_PID=$!
  for _ in $(seq 1 600); do
    PORT=$(grep -o 'bertrank serve: listening on http://127\.0\.0\.1:[0-9]*' "$log" 2>/dev/null | head -1 | sed 's/.*://') || true
    [[ -n "$PORT" ]] && return 0
    if ! kill -0 "$SERVER_PID" 2>/dev/null; then
      echo "kill9_documents: the server exited before it was ready:" >&2
      cat "$log" >&2
      exit 1
    fi
    sleep 0.1
  done
  echo "kill9_documents: no ready line after 60 s:" >&2
  cat "$log" >&2
  exit 1
}

# POSTs documents base, base+1, ... one at a time until the server stops answering; appends each
# id answered 200 to $2. The id is written only after its 200 arrived.
client() {
  local base=$1 acked=$2 round=$3 i=0 code
  while :; do
    local id=$((base + i))
    code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 10 -X POST \
      -H 'Content-Type: application/json' \
      -d "{\"documents\":[{\"id\":$id,\"text\":\"kill nine document $id of round $round\",\"meta\":{\"round\":$round,\"i\":$i}}]}" \
      "http://127.0.0.1:$PORT/documents") || true
    [[ "$code" == 200 ]] && echo "$id" >>"$acked"
    [[ "$code" == 000 ]] && return 0  # connection refused or reset: the server is gone
    i=$((i + 1))
  done
}

# Looks up every id in file $1 on the running server (one curl, one connection); prints the
# ids whose answer was not 200.
missing_ids() {
  local ids=$1
  [[ -s "$ids" ]] || return 0
  local cfg=$TMP/lookup.cfg
  : >"$cfg"
  while read -r id; do
    printf 'url = "http://127.0.0.1:%s/documents/%s"\noutput = "/dev/null"\n' "$PORT" "$id" >>"$cfg"
  done <"$ids"
  paste -d' ' "$ids" <(curl -s -K "$cfg" -w '%{http_code}\n' || true) | awk '$2 != 200 { print $1 }'
}

ALL=$TMP/acked.all
: >"$ALL"
LOST=0
start_server 0
for r in $(seq 1 "$ROUNDS"); do
  acked=$TMP/acked.$r
  : >"$acked"
  client $((r * 1000000)) "$acked" "$r" &
  client_pid=$!
  ms=$((200 + RANDOM % 1301))
  sleep "$((ms / 1000)).$(printf '%03d' $((ms % 1000)))"
  kill -9 "$SERVER_PID"
  wait "$SERVER_PID" 2>/dev/null || true
  wait "$client_pid"
  start_server "$r"
  lost=$(missing_ids "$acked" | wc -l)
  LOST=$((LOST + lost))
  [[ "$lost" -gt 0 ]] && echo "round $r: $lost of $(wc -l <"$acked") acknowledged writes lost" >&2
  cat "$acked" >>"$ALL"
done
# Everything acknowledged in any round is still there at the end.
final_lost=$(missing_ids "$ALL" | wc -l)
[[ "$final_lost" -gt "$LOST" ]] && LOST=$final_lost
kill -TERM "$SERVER_PID"
wait "$SERVER_PID" 2>/dev/null || echo "kill9_documents: the server did not exit 0 on SIGTERM" >&2
SERVER_PID=""

ACKED=$(wc -l <"$ALL")
echo "$ROUNDS rounds, $ACKED acknowledged writes, $LOST lost"
[[ "$LOST" -eq 0 && "$ACKED" -gt 0 ]]
