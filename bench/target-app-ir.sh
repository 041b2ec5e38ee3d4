#!/usr/bin/env bash
# Benchmark (not a test): user-space instructions per request of the
# target-app, telemetry off versus OTLP/HTTP at 100% and at 10% sampling,
# counted by valgrind's callgrind. A noise-free proxy for
# bench/target-app.sh on a shared machine: the count is the same however
# busy the other cores are.
#
# Per mode: start target-app under callgrind with instrumentation off, warm up
# with 1000 requests, switch instrumentation on, send N requests of
# GET /api/products (oha, 32 connections), wait past the batch exporter's
# delay so the spans of those requests are exported, and dump. The count
# covers every thread of the process: request threads and exporter alike.
#
# Usage: bench/target-app-ir.sh [REQUESTS] [ROUNDS]
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh
N=${1:-3000}
ROUNDS=${2:-1}
need valgrind "apt-get install valgrind"
need callgrind_control "apt-get install valgrind"
OHA=$(command -v oha || echo ~/.cargo/bin/oha)
[ -x "$OHA" ] || { echo "missing oha: cargo install oha" >&2; exit 2; }
cargo build --release -q -p target-app --bin target-app --example otlp-sink
BIN=target/release/target-app
SINK=target/release/examples/otlp-sink

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
pids=()
cleanup() { for p in "${pids[@]:-}"; do [ -n "$p" ] && kill "$p" 2>/dev/null || true; done; }
trap cleanup EXIT
WORK=$(mktemp -d)
SINK_PORT=$(free_port)
"$SINK" "127.0.0.1:$SINK_PORT" >"$WORK/sink" &
SINK_PID=$!
pids+=("$SINK_PID")

run() { # mode sampler ratio -> instructions per request
  local mode=$1 sampler=$2 arg=$3 port pid dir total
  port=$(free_port)
  dir=$(mktemp -d -p "$WORK")
  OTEL_EXPORTER_OTLP_ENDPOINT="http://127.0.0.1:$SINK_PORT" \
  OTEL_EXPORTER_OTLP_PROTOCOL=http/protobuf \
  OTEL_TRACES_SAMPLER="$sampler" OTEL_TRACES_SAMPLER_ARG="$arg" \
    valgrind --tool=callgrind --instr-atstart=no --callgrind-out-file="$dir/cg.%p" \
      "$BIN" --listen "127.0.0.1:$port" --telemetry "$mode" --work-scale 0 \
      --max-in-flight 100000 >"$dir/log" 2>&1 &
  pid=$!
  pids+=("$pid")
  for _ in $(seq 300); do curl -fs "http://127.0.0.1:$port/ready" >/dev/null && break; sleep 0.2; done
  "$OHA" -n 1000 -c 32 --no-tui "http://127.0.0.1:$port/api/products" >/dev/null
  callgrind_control -i on "$pid" >/dev/null 2>&1
  "$OHA" -n "$N" -c 32 --no-tui "http://127.0.0.1:$port/api/products" >"$dir/oha"
  sleep 6 # past OTEL_BSP_SCHEDULE_DELAY (5 s): these requests' spans are exported
  callgrind_control -d "$pid" >/dev/null 2>&1
  callgrind_control -i off "$pid" >/dev/null 2>&1
  kill -TERM "$pid"; wait "$pid" 2>/dev/null || true
  total=$(awk '/^summary:/ {print $2}' "$dir"/cg.*.1)
  awk -v t="$total" -v n="$N" 'BEGIN {printf "%.0f\n", t/n}'
}

declare -a OFF ON TEN
for r in $(seq "$ROUNDS"); do
  OFF+=("$(run off always_on 1)")
  ON+=("$(run otlp always_on 1)")
  TEN+=("$(run otlp traceidratio 0.1)")
  echo "round $r: off ${OFF[-1]}, otlp 100% ${ON[-1]}, otlp 10% ${TEN[-1]} instructions/request" >&2
done
kill -TERM "$SINK_PID"; wait "$SINK_PID" 2>/dev/null || true
M_OFF=$(median "${OFF[@]}")
M_ON=$(median "${ON[@]}")
M_TEN=$(median "${TEN[@]}")
machine
echo "callgrind, $N requests per mode, oha -c 32, GET /api/products, --work-scale 0"
echo "off          median $M_OFF instructions/request   [${OFF[*]}]"
echo "otlp 100%    median $M_ON instructions/request   [${ON[*]}]"
echo "otlp 10%     median $M_TEN instructions/request   [${TEN[*]}]"
echo "ratio off / otlp 100% (throughput proxy): $(awk -v a="$M_OFF" -v b="$M_ON" 'BEGIN {printf "%.3f", a/b}')"
echo "ratio off / otlp 10%:                     $(awk -v a="$M_OFF" -v b="$M_TEN" 'BEGIN {printf "%.3f", a/b}')"
echo "receiver: $(cat "$WORK/sink")"
