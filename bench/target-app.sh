#!/usr/bin/env bash
# Benchmark (not a test): requests/s of GET /api/products with simulated work
# at zero, telemetry off versus on: OTLP/HTTP to a local receiver with 100%
# sampling (the goal's configuration), and with 10% sampling for reference.
# wrk on loopback; the server is pinned to core 0, wrk and the receiver share
# core 1. Runs alternate between modes so drift on a shared machine hits all
# alike; the summary gives medians, ratios, and where the server's CPU went
# (request threads versus exporter threads, in microseconds per request).
#
# Usage: bench/target-app.sh [ROUNDS] [SECONDS] [CONNECTIONS]
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh
ROUNDS=${1:-3}
SECONDS_PER_RUN=${2:-10}
CONNS=${3:-32}

command -v wrk >/dev/null || { echo "wrk is required (apt-get install wrk)" >&2; exit 2; }
command -v taskset >/dev/null || { echo "taskset is required (util-linux)" >&2; exit 2; }
cargo build --release -q -p target-app --bin target-app --example otlp-sink
BIN=target/release/target-app
SINK=target/release/examples/otlp-sink
TICKS=$(getconf CLK_TCK)

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

pids=()
cleanup() { for p in "${pids[@]:-}"; do [ -n "$p" ] && kill "$p" 2>/dev/null || true; done; }
trap cleanup EXIT

SINK_PORT=$(free_port)
SINK_OUT=$(mktemp)
taskset -c 1 "$SINK" "127.0.0.1:$SINK_PORT" >"$SINK_OUT" &
SINK_PID=$!
pids+=("$SINK_PID")

# CPU ticks per thread name: "worker" (tokio) and "export" (everything else).
cpu_split() {
  local pid=$1 w=0 e=0 t name ticks
  for t in /proc/"$pid"/task/*; do
    name=$(cat "$t/comm" 2>/dev/null) || continue
    ticks=$(awk '{print $14+$15}' "$t/stat" 2>/dev/null) || continue
    if [[ $name == tokio-rt-worker ]]; then w=$((w + ticks)); else e=$((e + ticks)); fi
  done
  echo "$w $e"
}

run() { # mode sampler ratio -> prints "rps worker_us_per_req export_us_per_req"
  local mode=$1 sampler=$2 arg=$3 port log pid out rps reqs w0 e0 w1 e1
  port=$(free_port)
  log=$(mktemp)
  OTEL_EXPORTER_OTLP_ENDPOINT="http://127.0.0.1:$SINK_PORT" \
  OTEL_EXPORTER_OTLP_PROTOCOL=http/protobuf \
  OTEL_TRACES_SAMPLER="$sampler" OTEL_TRACES_SAMPLER_ARG="$arg" \
    taskset -c 0 "$BIN" --listen "127.0.0.1:$port" --telemetry "$mode" --work-scale 0 \
      --max-in-flight 100000 >"$log" 2>&1 &
  pid=$!
  pids+=("$pid")
  for _ in $(seq 100); do curl -fs "http://127.0.0.1:$port/ready" >/dev/null && break; sleep 0.1; done
  taskset -c 1 wrk -t1 -c"$CONNS" -d2s "http://127.0.0.1:$port/api/products" >/dev/null # warm-up
  read -r w0 e0 < <(cpu_split "$pid")
  out=$(taskset -c 1 wrk -t1 -c"$CONNS" -d"${SECONDS_PER_RUN}s" "http://127.0.0.1:$port/api/products")
  read -r w1 e1 < <(cpu_split "$pid")
  kill -TERM "$pid"; wait "$pid" 2>/dev/null || true
  rps=$(awk '/Requests\/sec/ {print $2}' <<<"$out")
  reqs=$(awk '/requests in/ {print $1}' <<<"$out")
  awk -v r="$rps" -v n="$reqs" -v w=$((w1 - w0)) -v e=$((e1 - e0)) -v t="$TICKS" \
    'BEGIN {printf "%s %.2f %.2f\n", r, w*1e6/t/n, e*1e6/t/n}'
}

declare -a OFF ON TEN OFF_CPU ON_CPU TEN_CPU
for r in $(seq "$ROUNDS"); do
  read -r rps w e < <(run off always_on 1); OFF+=("$rps"); OFF_CPU+=("$w/$e")
  read -r rps w e < <(run otlp always_on 1); ON+=("$rps"); ON_CPU+=("$w/$e")
  read -r rps w e < <(run otlp traceidratio 0.1); TEN+=("$rps"); TEN_CPU+=("$w/$e")
  echo "round $r: off ${OFF[-1]}, otlp 100% ${ON[-1]}, otlp 10% ${TEN[-1]} req/s" >&2
done
kill -TERM "$SINK_PID"; wait "$SINK_PID" 2>/dev/null || true

M_OFF=$(median "${OFF[@]}")
M_ON=$(median "${ON[@]}")
M_TEN=$(median "${TEN[@]}")
machine
echo "runs: $ROUNDS x ${SECONDS_PER_RUN}s each, wrk -t1 -c$CONNS, GET /api/products, --work-scale 0"
echo "off          median $M_OFF req/s   [${OFF[*]}]"
echo "otlp 100%    median $M_ON req/s   [${ON[*]}]"
echo "otlp 10%     median $M_TEN req/s   [${TEN[*]}]"
echo "ratio otlp 100% / off: $(awk -v a="$M_ON" -v b="$M_OFF" 'BEGIN {printf "%.3f", a/b}')"
echo "ratio otlp 10% / off:  $(awk -v a="$M_TEN" -v b="$M_OFF" 'BEGIN {printf "%.3f", a/b}')"
echo "server CPU us/request, request threads/exporter threads:"
echo "  off       ${OFF_CPU[*]}"
echo "  otlp 100% ${ON_CPU[*]}"
echo "  otlp 10%  ${TEN_CPU[*]}"
echo "receiver: $(cat "$SINK_OUT")"
