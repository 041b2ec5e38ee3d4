#!/usr/bin/env bash
# Capacity of one target-app replica, configured as k8s/base runs it
# (--max-in-flight 16), measured with loadgen's stepped stress and written to
# k8s/capacity/target-app-stress.json, from which `slo hpa --capacity`
# derives the autoscalers' per-pod target (scripts/generate.sh).
#
#   bash bench/capacity.sh            # about 75 s; needs 2 free cores
#
# target-app runs on core 0 and loadgen on core 1 when taskset is there.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --locked -q -p target-app -p loadgen
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
pin() { if command -v taskset >/dev/null; then taskset -c "$1" "${@:2}"; else "${@:2}"; fi; }
pin 0 target/release/target-app --listen "127.0.0.1:$port" --telemetry off --max-in-flight 16 \
  >/dev/null 2>&1 &
app=$!
trap 'kill "$app" 2>/dev/null || true; wait "$app" 2>/dev/null || true' EXIT
for _ in $(seq 50); do curl -fs "http://127.0.0.1:$port/ready" >/dev/null && break; sleep 0.1; done
mkdir -p k8s/capacity
set +e
pin 1 target/release/loadgen run bench/capacity-stress.yaml --host "http://127.0.0.1:$port" \
  --report k8s/capacity/target-app-stress.json
status=$?
set -e
# 99: a threshold broke, which a stress run past the knee is meant to do.
[ "$status" -eq 0 ] || [ "$status" -eq 99 ] || exit "$status"
echo "wrote k8s/capacity/target-app-stress.json (loadgen exit $status)"
