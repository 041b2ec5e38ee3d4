#!/usr/bin/env bash
# Benchmark (not a test): loadgen's throughput with the live terminal view on
# versus headless, side by side in one run against one nginx on loopback.
#
# nginx: one worker pinned to core 0, a small fixed response. loadgen: pinned
# to core 1, closed model with CONNECTIONS users for SECONDS; with the view it
# runs inside a 160x48 tmux pane (a private tmux server, killed at the end).
# Rounds alternate between the two; requests/s comes from each run's report
# (count / elapsed). The summary gives medians and the ratio.
#
# Usage: bench/tui-overhead.sh [ROUNDS] [SECONDS] [CONNECTIONS]
# Needs: nginx and tmux (apt).
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS=${1:-5}
SECS=${2:-10}
CONNS=${3:-32}
need() { command -v "$1" >/dev/null || { echo "missing $1: $2" >&2; exit 2; }; }
need nginx "apt-get install nginx"
need tmux "apt-get install tmux"
cargo build --release -q -p loadgen
LOADGEN=$PWD/target/release/loadgen

WORK=$(mktemp -d)
SOCK="tui-bench-$$"
NGINX_PID=""
cleanup() {
  tmux -L "$SOCK" kill-server 2>/dev/null || true
  [ -n "$NGINX_PID" ] && kill "$NGINX_PID" 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT

PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
mkdir -p "$WORK/nginx/logs"
cat >"$WORK/nginx/nginx.conf" <<EOF
worker_processes 1;
worker_cpu_affinity 01;
daemon off;
pid $WORK/nginx/nginx.pid;
error_log $WORK/nginx/logs/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  keepalive_requests 10000000;
  client_body_temp_path $WORK/nginx/body;
  proxy_temp_path $WORK/nginx/proxy;
  fastcgi_temp_path $WORK/nginx/fastcgi;
  uwsgi_temp_path $WORK/nginx/uwsgi;
  scgi_temp_path $WORK/nginx/scgi;
  server {
    listen 127.0.0.1:$PORT;
    location / { default_type text/plain; return 200 "ok\n"; }
  }
}
EOF
taskset -c 0 nginx -p "$WORK/nginx" -c "$WORK/nginx/nginx.conf" &
NGINX_PID=$!
for _ in $(seq 50); do curl -fs "http://127.0.0.1:$PORT/" >/dev/null && break; sleep 0.1; done

cat >"$WORK/scenario.yaml" <<EOF
base_url: http://127.0.0.1:$PORT/
timeout: 10s
scenarios:
  - name: get
    requests:
      - name: root
        path: /
load:
  model: closed
  users: $CONNS
  duration: ${SECS}s
EOF

rps() { python3 -c 'import json,sys; r=json.load(open(sys.argv[1])); print(r["total"]["count"]/r["elapsed_s"])' "$1"; }

headless=(); tui=()
for round in $(seq "$ROUNDS"); do
  taskset -c 1 "$LOADGEN" run "$WORK/scenario.yaml" --report "$WORK/h.json" >/dev/null </dev/null
  headless+=("$(rps "$WORK/h.json")")
  tmux -L "$SOCK" new-session -d -s b -x 160 -y 48 \
    "taskset -c 1 $LOADGEN run $WORK/scenario.yaml --tui --report $WORK/t.json >/dev/null; tmux -L $SOCK wait-for -S done"
  tmux -L "$SOCK" wait-for done
  tmux -L "$SOCK" kill-server 2>/dev/null || true
  tui+=("$(rps "$WORK/t.json")")
  echo "round $round: headless ${headless[-1]} req/s, view ${tui[-1]} req/s"
done
python3 - "${headless[*]}" "${tui[*]}" <<'EOF'
import statistics, sys
h = [float(x) for x in sys.argv[1].split()]
t = [float(x) for x in sys.argv[2].split()]
mh, mt = statistics.median(h), statistics.median(t)
print(f"median headless {mh:,.0f} req/s, with the view {mt:,.0f} req/s, ratio {mt/mh:.3f} ({(1-mt/mh)*100:+.1f}% lower)")
EOF
