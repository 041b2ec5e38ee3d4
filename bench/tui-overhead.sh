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
. bench/lib.sh
. bench/nginx.sh
ROUNDS=${1:-5}
SECS=${2:-10}
CONNS=${3:-32}
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

start_nginx "$WORK"

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
d = (mt / mh - 1) * 100
print(f"median headless {mh:,.0f} req/s, with the view {mt:,.0f} req/s, ratio {mt/mh:.3f} ({abs(d):.1f}% {'higher' if d >= 0 else 'lower'})")
EOF
