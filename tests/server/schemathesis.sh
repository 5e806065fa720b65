#!/usr/bin/env bash
# schemathesis (property-based API testing, PyPI) against the server's own /openapi.json, every
# check on (status codes, content types, headers and bodies must match the document; no 5xx),
# for a fixed time budget. Exit 0 only with 0 failures.
#   tests/server/schemathesis.sh [seconds (default 90)]     (SCHEMATHESIS_SEED: default 1)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
build=${BUILD_DIR:-$root/build}
case "$build" in /*) ;; *) build="$root/$build" ;; esac
venv=${BERTRANK_SERVER_VENV:-$build/server-venv}
secs=${1:-90}
[ -x "$venv/bin/schemathesis" ] || { echo "SKIP: no $venv (scripts/setup.sh makes it; needs PyPI)"; exit 77; }
[ -f "$root/weights/all-MiniLM-L6-v2.brm" ] || { echo "SKIP: no weights (scripts/setup.sh)"; exit 77; }
tmp=$(mktemp -d)
log="$tmp/serve.log"
# One worker: with two, hypothesis's ast.parse from two threads trips CPython 3.11.7's
# "AST constructor recursion depth mismatch" (a CPython bug fixed in 3.11.8), a Runtime Error in
# schemathesis's coverage phase that says nothing about the server.
# With an API key, so that the authentication checks have something to check.
key=schemathesis-key
"$build/bertrank" serve --port 0 --api-key "$key" -m "$root/weights/all-MiniLM-L6-v2.brm" \
  --reranker "$root/weights/ms-marco-MiniLM-L-12-v2.brm" -i "$tmp/st.idx" 2>"$log" &
pid=$!
trap 'kill -TERM $pid 2>/dev/null; wait $pid 2>/dev/null; rm -rf "$tmp"' EXIT
for _ in $(seq 600); do grep -q "listening on" "$log" && break; kill -0 $pid || { cat "$log"; exit 1; }; sleep 0.1; done
port=$(sed -n 's/.*listening on http:\/\/[^ ]*:\([0-9]*\).*/\1/p' "$log" | head -1)
cd "$tmp"
set +e
"$venv/bin/schemathesis" --no-color run "http://127.0.0.1:$port/openapi.json" --checks all --max-time "$secs" \
  -H "Authorization: Bearer $key" \
  --workers 1 --seed "${SCHEMATHESIS_SEED:-1}" >"$build/schemathesis.log" 2>&1
rc=$?
tail -80 "$build/schemathesis.log"
echo "(the whole report: $build/schemathesis.log)"
set -e
kill -0 $pid || { echo "FAIL: the server died"; cat "$log"; exit 1; }
code=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/health")
[ "$code" = 200 ] || { echo "FAIL: /health answered $code after the run"; exit 1; }
echo "schemathesis exit status $rc; /health ok"
exit "$rc"
