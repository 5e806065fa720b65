#!/usr/bin/env bash
# N stateless `bertrank serve` replicas (embedding and reranking; no index) behind nginx, for
# deployments that outgrow one process or one machine.
#
#   scripts/serve_replicas.sh [-n 2] [--port 8080] [--run-dir DIR] [-- <bertrank serve options>]
#
# Each replica listens on 127.0.0.1 on a port of its own; nginx listens on --port (default 8080)
# and spreads requests over them (least_conn). Health: nginx's passive checks — a replica that
# refuses a connection, resets it or answers 502/503/504 is marked down for 10 s (max_fails=1)
# and the request is retried on the next replica (proxy_next_upstream, POSTs included: every route
# a replica serves is idempotent). A watchdog loop restarts a replica whose process died, on the
# same port (its pid is in $RUN_DIR/replicaI.pid, its log in replicaI.log). Upstream connections are kept alive
# (HTTP/1.1, keepalive 64). Ctrl-C / SIGTERM stops nginx and drains the replicas (SIGTERM each).
# For replicas on other machines, put their addresses in the upstream block of
# $RUN_DIR/nginx.conf (the file this script writes) and run nginx with it.
# Needs nginx (Debian: apt-get install nginx; installed here when missing) and build/bertrank.
# Prints "replicas: ready on http://127.0.0.1:PORT (N replicas: ports ...)" once all are up.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
n=2 port=8080 run_dir="" serve_args=()
while [ $# -gt 0 ]; do
  case "$1" in
    -n) n=$2; shift 2 ;;
    --port) port=$2; shift 2 ;;
    --run-dir) run_dir=$2; shift 2 ;;
    --) shift; serve_args=("$@"); break ;;
    *) echo "usage: $0 [-n N] [--port P] [--run-dir DIR] [-- serve options]" >&2; exit 2 ;;
  esac
done
build=${BUILD_DIR:-$root/build}
case "$build" in /*) ;; *) build="$root/$build" ;; esac
bin=${BERTRANK_BIN:-$build/bertrank}
[ -x "$bin" ] || { echo "serve_replicas: no $bin (run scripts/setup.sh)" >&2; exit 1; }
if ! command -v nginx >/dev/null && [ ! -x /usr/sbin/nginx ]; then
  echo "serve_replicas: installing nginx (Debian)" >&2
  sudo_cmd=""; [ "$(id -u)" -ne 0 ] && sudo_cmd="sudo"
  $sudo_cmd apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq nginx-light >/dev/null 2>&1 ||
    DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq nginx >/dev/null
fi
nginx_bin=$(command -v nginx || echo /usr/sbin/nginx)
[ -n "$run_dir" ] || run_dir=$(mktemp -d /tmp/bertrank-replicas.XXXXXX)
mkdir -p "$run_dir"
run_dir=$(cd "$run_dir" && pwd)
chmod 755 "$run_dir"

pids=() ports=()
start_replica() {  # start_replica I: starts replica I, waits for its ready line, sets ports[I]
  local i=$1 log="$run_dir/replica$1.log"
  : >"$log"
  (cd "$root" && exec "$bin" serve --port "${ports[$i]:-0}" "${serve_args[@]}") 2>"$log" &
  pids[$i]=$!
  echo "${pids[$i]}" >"$run_dir/replica$i.pid"
  local t=0
  until grep -q "listening on http://" "$log"; do
    sleep 0.1; t=$((t + 1))
    if ! kill -0 "${pids[$i]}" 2>/dev/null || [ $t -gt 600 ]; then
      echo "serve_replicas: replica $i did not start:" >&2; cat "$log" >&2; return 1
    fi
  done
  ports[$i]=$(sed -n 's/.*listening on http:\/\/[^ ]*:\([0-9]*\).*/\1/p' "$log" | head -1)
}
cleanup() {
  trap - EXIT INT TERM
  [ -f "$run_dir/nginx.pid" ] && kill "$(cat "$run_dir/nginx.pid")" 2>/dev/null || true
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
}
trap cleanup EXIT
trap 'exit 0' INT TERM
for ((i = 0; i < n; i++)); do start_replica "$i"; done

mkdir -p "$run_dir/tmp"; chmod 777 "$run_dir/tmp"
{
  echo "worker_processes 1;"
  echo "pid $run_dir/nginx.pid;"
  echo "error_log $run_dir/nginx-error.log warn;"
  echo "events { worker_connections 4096; }"
  echo "http {"
  echo "  access_log off;"
  echo "  client_max_body_size 16m;"       # the replicas enforce their own payload limit (413)
  echo "  client_body_buffer_size 16m;"    # bodies stay in memory: no temp files
  echo "  client_body_temp_path $run_dir/tmp; proxy_temp_path $run_dir/tmp;"
  echo "  fastcgi_temp_path $run_dir/tmp; uwsgi_temp_path $run_dir/tmp; scgi_temp_path $run_dir/tmp;"
  echo "  upstream bertrank {"
  echo "    least_conn;"
  for ((i = 0; i < n; i++)); do echo "    server 127.0.0.1:${ports[$i]} max_fails=1 fail_timeout=10s;"; done
  echo "    keepalive 64;"
  echo "  }"
  echo "  server {"
  echo "    listen 127.0.0.1:$port;"
  echo "    location / {"
  echo "      proxy_pass http://bertrank;"
  echo "      proxy_http_version 1.1;"
  echo "      proxy_set_header Connection \"\";"
  echo "      proxy_next_upstream error timeout http_502 http_503 http_504 non_idempotent;"
  echo "      proxy_next_upstream_tries $((n + 1));"
  echo "      proxy_connect_timeout 2s;"
  echo "      proxy_read_timeout 300s;"
  echo "    }"
  echo "  }"
  echo "}"
} >"$run_dir/nginx.conf"
"$nginx_bin" -p "$run_dir" -c "$run_dir/nginx.conf" -g "daemon on;" 2>"$run_dir/nginx-start.log" || {
  cat "$run_dir/nginx-start.log" >&2; exit 1; }
echo "replicas: ready on http://127.0.0.1:$port ($n replicas: ports ${ports[*]}; run dir $run_dir)" >&2

# Watchdog: restart a replica whose process died (on the same port, so nginx's upstream holds).
while true; do
  sleep 1
  for ((i = 0; i < n; i++)); do
    if ! kill -0 "${pids[$i]}" 2>/dev/null; then
      echo "replicas: replica $i (port ${ports[$i]}) died; restarting" >&2
      start_replica "$i" || true
    fi
  done
done
