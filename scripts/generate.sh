#!/usr/bin/env bash
# Regenerates every checked-in file that `slo` derives from the SLO spec and
# from the measured capacity. slo/tests/generated.rs runs each `gen` line
# below and fails when a checked-in copy differs (so keep one per line).
#
#   bash scripts/generate.sh
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build -q --locked -p slo
slo=target/debug/slo

# gen FILE ARGS...: `slo ARGS...` to FILE, written atomically.
gen() {
  local file=$1
  shift
  mkdir -p "$(dirname "$file")"
  local tmp
  tmp=$(mktemp "$file.XXXXXX")
  "$slo" "$@" >"$tmp"
  chmod 0644 "$tmp"
  mv "$tmp" "$file"
  echo "wrote $file"
}

# Alerting rules, promtool tests and Alertmanager routes (alerts/README.md).
"$slo" alerts alerts/target-app.slo.yaml --out alerts \
  --pager-url https://pager.example.com/hooks/target-app \
  --ticket-url https://tickets.example.com/hooks/target-app

gen dashboards/target-app.json dashboard alerts/target-app.slo.yaml
gen k8s/base/target-app/grafana-dashboard.yaml dashboard alerts/target-app.slo.yaml --format configmap
gen k8s/base/target-app/prometheusrule.yaml alerts alerts/target-app.slo.yaml --format operator
gen k8s/components/hpa/hpa.yaml hpa --deployment target-app --capacity k8s/capacity/target-app-stress.json --format hpa
gen k8s/components/hpa/prometheus-adapter-values.yaml hpa --deployment target-app --capacity k8s/capacity/target-app-stress.json --format adapter
gen k8s/components/keda/scaledobject.yaml hpa --deployment target-app --capacity k8s/capacity/target-app-stress.json --format keda --namespace target-app-prod
