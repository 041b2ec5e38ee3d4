#!/usr/bin/env bash
# Benchmark (not a test): requests/s of GET /api/products with simulated work
# at zero, telemetry off versus on (OTLP/HTTP to a local receiver, 100%
# sampling), measured with wrk on loopback. The server is pinned to core 0;
# wrk and the receiver share core 1. Runs alternate off/on so drift on a
# shared machine hits both alike; the summary gives medians and the ratio.
#
# Usage: bench/target-app.sh [ROUNDS] [SECONDS] [CONNECTIONS]
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS=${1:-3}
SECONDS_PER_RUN=${2:-10}
CONNS=${3:-32}

command -v wrk >/dev/null || { echo "wrk is required (apt-get install wrk)" >&2; exit 2; }
cargo build --release -q -p target-app --bin target-app --example otlp-sink
BIN=target/release/target-app
SINK=target/release/examples/otlp-sink

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

pids=()
cleanup() { for p in "${pids[@]:-}"; do [ -n "$p" ] && kill "$p" 2>/dev/null || true; done; }
trap cleanup EXIT

SINK_PORT=$(free_port)
SINK_OUT=$(mktemp)
taskset -c 1 "$SINK" "127.0.0.1:$SINK_PORT" >"$SINK_OUT" &
SINK_PID=$!
pids+=("$SINK_PID")

run() { # mode -> prints requests/s
  local mode=$1 port log pid rps
  port=$(free_port)
  log=$(mktemp)
  OTEL_EXPORTER_OTLP_ENDPOINT="http://127.0.0.1:$SINK_PORT" \
  OTEL_EXPORTER_OTLP_PROTOCOL=http/protobuf \
  OTEL_TRACES_SAMPLER=always_on \
  RUST_LOG=warn \
    taskset -c 0 "$BIN" --listen "127.0.0.1:$port" --telemetry "$mode" --work-scale 0 \
      --max-in-flight 100000 >"$log" 2>&1 &
  pid=$!
  pids+=("$pid")
  for _ in $(seq 100); do curl -fs "http://127.0.0.1:$port/ready" >/dev/null && break; sleep 0.1; done
  taskset -c 1 wrk -t1 -c"$CONNS" -d2s "http://127.0.0.1:$port/api/products" >/dev/null # warm-up
  rps=$(taskset -c 1 wrk -t1 -c"$CONNS" -d"${SECONDS_PER_RUN}s" "http://127.0.0.1:$port/api/products" \
        | awk '/Requests\/sec/ {print $2}')
  kill -TERM "$pid"; wait "$pid" 2>/dev/null || true
  echo "$rps"
}

declare -a OFF ON
for r in $(seq "$ROUNDS"); do
  OFF+=("$(run off)")
  ON+=("$(run otlp)")
  echo "round $r: off ${OFF[-1]} req/s, otlp ${ON[-1]} req/s" >&2
done
kill -TERM "$SINK_PID"; wait "$SINK_PID" 2>/dev/null || true

median() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
M_OFF=$(median "${OFF[@]}")
M_ON=$(median "${ON[@]}")
echo "machine: $(nproc) cores, $(awk '/model name/ {$1=$2=$3=""; print; exit}' /proc/cpuinfo | xargs)"
echo "runs: $ROUNDS x ${SECONDS_PER_RUN}s, wrk -t1 -c$CONNS, GET /api/products, --work-scale 0"
echo "off (median):  $M_OFF req/s   [${OFF[*]}]"
echo "otlp (median): $M_ON req/s   [${ON[*]}]"
echo "ratio otlp/off: $(awk -v a="$M_ON" -v b="$M_OFF" 'BEGIN {printf "%.3f", a/b}')"
echo "receiver: $(cat "$SINK_OUT")"
