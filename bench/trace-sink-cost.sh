#!/usr/bin/env bash
# Benchmark (not a test): what the trace sink costs the load generator.
# loadgen (release, core 1) runs an open-model load at RATE requests/s for
# SECS seconds against the target app (release, core 0, GET /api/products
# with its work at zero, OTLP/HTTP export of every span: 2 per request).
# Three variants, alternating in each round so drift hits all alike:
#   off      the app exports to a separate receiver (loadgen's trace-sink
#            example, on core 0 with the app); loadgen runs without a sink;
#   sink     the app exports to loadgen's own --trace-sink: loadgen keeps
#            its requests with their trace ids, receives, decodes and stores
#            every span, and analyses them after the run;
#   sink10   the same with the app sampling 10% of traces.
# loadgen's CPU is its rusage (user + system) over the whole process, so
# the sink's wait for the last spans and the analysis are in it; the result
# is requests per loadgen CPU-second, medians over the rounds, and the
# ratios against off.
#
# Usage: bench/trace-sink-cost.sh [ROUNDS] [SECS] [RATE]   (defaults: 3 20 3000)
# Needs: taskset (util-linux), curl, python3.
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh
ROUNDS=${1:-3}
SECS=${2:-20}
RATE=${3:-3000}
need taskset "apt-get install util-linux"
need curl "apt-get install curl"

nice -n 10 cargo build --release -q -p loadgen --bin loadgen --example trace-sink
nice -n 10 cargo build --release -q -p target-app --bin target-app
LOADGEN=target/release/loadgen
APP=target/release/target-app
SINK=target/release/examples/trace-sink

WORK=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]:-}"; do [ -n "$p" ] && kill "$p" 2>/dev/null || true; done; rm -rf "$WORK"; }
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

cat >"$WORK/load.yaml" <<EOF
scenarios:
  - name: browse
    requests:
      - name: list products
        path: /api/products
load:
  model: open
  rate: $RATE
  duration: ${SECS}s
  max_users: 500
EOF

# The separate receiver of the "off" variant.
taskset -c 0 "$SINK" serve 127.0.0.1:0 200000 >"$WORK/sink.out" &
pids+=("$!")
for _ in $(seq 100); do grep -q '^listening' "$WORK/sink.out" 2>/dev/null && break; sleep 0.1; done
OTHER=$(awk '/^listening/ {print $2}' "$WORK/sink.out")
[ -n "$OTHER" ] || { echo "the receiver did not start" >&2; exit 1; }

# run VARIANT -> "requests cpu_seconds spans"
run() {
  local variant=$1 port sink_port endpoint sampler=always_on arg=1 app
  port=$(free_port)
  sink_port=$(free_port)
  local flags=()
  case $variant in
    off) endpoint="http://$OTHER" ;;
    sink) endpoint="http://127.0.0.1:$sink_port"; flags=(--trace-sink "127.0.0.1:$sink_port") ;;
    sink10) endpoint="http://127.0.0.1:$sink_port"; flags=(--trace-sink "127.0.0.1:$sink_port")
      sampler=traceidratio; arg=0.1 ;;
  esac
  OTEL_EXPORTER_OTLP_ENDPOINT="$endpoint" OTEL_EXPORTER_OTLP_PROTOCOL=http/protobuf \
  OTEL_TRACES_SAMPLER="$sampler" OTEL_TRACES_SAMPLER_ARG="$arg" OTEL_BSP_SCHEDULE_DELAY=1000 \
    taskset -c 0 "$APP" --listen "127.0.0.1:$port" --telemetry otlp --work-scale 0 \
      --max-in-flight 100000 >"$WORK/app.log" 2>&1 &
  app=$!
  pids+=("$app")
  for _ in $(seq 100); do curl -fs "http://127.0.0.1:$port/ready" >/dev/null && break; sleep 0.1; done
  python3 - "$WORK/r.json" taskset -c 1 "$LOADGEN" run "$WORK/load.yaml" --host "http://127.0.0.1:$port" \
    --report "$WORK/r.json" --quiet "${flags[@]}" <<'EOF'
import json, resource, subprocess, sys
report, cmd = sys.argv[1], sys.argv[2:]
subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
ru = resource.getrusage(resource.RUSAGE_CHILDREN)
r = json.load(open(report))
spans = (r.get("bottlenecks") or {}).get("spans", 0)
print(r["total"]["count"], ru.ru_utime + ru.ru_stime, spans)
EOF
  kill -TERM "$app"; wait "$app" 2>/dev/null || true
}

declare -A CPS
variants=(off sink sink10)
machine
echo "loadgen on core 1, the target app on core 0; $RATE req/s open model for ${SECS}s, $ROUNDS rounds"
for r in $(seq "$ROUNDS"); do
  for v in "${variants[@]}"; do
    read -r n c s < <(run "$v")
    cps=$(awk -v n="$n" -v c="$c" 'BEGIN {printf "%.0f", n/c}')
    CPS[$v]+="$cps "
    echo "round $r: $v $n requests, $c loadgen CPU-s, $cps req per CPU-second, $s spans kept" >&2
  done
done
printf '%-8s %22s   %s\n' variant "req per CPU-second" "runs"
for v in "${variants[@]}"; do
  # shellcheck disable=SC2086
  printf '%-8s %22s   %s\n' "$v" "$(median ${CPS[$v]})" "${CPS[$v]}"
done
OFF=$(median ${CPS[off]})
for v in sink sink10; do
  # shellcheck disable=SC2086
  echo "$v / off: $(awk -v a="$(median ${CPS[$v]})" -v b="$OFF" 'BEGIN {printf "%.3f", a/b}')"
done
