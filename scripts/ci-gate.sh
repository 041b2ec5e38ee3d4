#!/usr/bin/env bash
# The CI performance gate, end to end on one machine (loopback, ephemeral
# ports, bounded): start the target app and Prometheus, run a loadgen
# scenario with thresholds, then gate the run on the SLOs with `slo gate`.
# examples/ci/github-actions.yml runs these same steps; scripts/test.sh runs
# this script so the example cannot rot.
#
# Usage: scripts/ci-gate.sh [BIN_DIR] [OUT_DIR]
#   BIN_DIR: where target-app, loadgen and slo are (default target/debug)
#   OUT_DIR: where reports go (default: a temp dir)
# Exit code: loadgen's (99 when a threshold failed), else slo gate's.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${1:-target/debug}
OUT=${2:-$(mktemp -d)}
mkdir -p "$OUT"
WORK=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]:-}"; do [ -n "$p" ] && kill "$p" 2>/dev/null || true; done; rm -rf "$WORK"; }
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
APP_PORT=$(free_port)
PROM_PORT=$(free_port)

"$BIN/target-app" --listen "127.0.0.1:$APP_PORT" --telemetry off >"$WORK/app.log" 2>&1 &
pids+=("$!")
cat >"$WORK/prometheus.yml" <<EOC
global: {scrape_interval: 1s, evaluation_interval: 1s}
scrape_configs:
  - job_name: target-app
    static_configs: [{targets: ['127.0.0.1:$APP_PORT']}]
EOC
prometheus --config.file="$WORK/prometheus.yml" --storage.tsdb.path="$WORK/data" \
  --web.listen-address="127.0.0.1:$PROM_PORT" >"$WORK/prom.log" 2>&1 &
pids+=("$!")
PROM="http://127.0.0.1:$PROM_PORT"

# Wait (bounded) until Prometheus has scraped the app once.
for _ in $(seq 300); do
  curl -fsG "$PROM/api/v1/query" --data-urlencode 'query=up{job="target-app"}' 2>/dev/null | grep -q '"1"\]' && break
  sleep 0.1
done
sleep 2

cat >"$WORK/spec.yaml" <<EOC
version: slo/v1
service: target-app
slos:
  - name: availability
    objective: 99
    period: 30d
    min_events: 10
    sli:
      availability:
        selector: '{job="target-app", http_route=~"/api/.*"}'
EOC

set +e
"$BIN/loadgen" run loadgen/scenarios/steady.yaml --host "http://127.0.0.1:$APP_PORT" --duration 10s \
  --report "$OUT/report.json" --junit "$OUT/junit.xml" --summary-md "$OUT/summary.md"
lg=$?
set -e
[ "$lg" -eq 0 ] || { echo "ci-gate: loadgen thresholds failed ($lg)" >&2; exit "$lg"; }
sleep 3 # let Prometheus scrape the last requests
set +e
"$BIN/slo" gate "$WORK/spec.yaml" --prometheus "$PROM" --run "$OUT/report.json" --json "$OUT/gate.json"
gate=$?
set -e
echo "ci-gate: reports in $OUT (loadgen $lg, slo gate $gate)"
exit "$gate"
