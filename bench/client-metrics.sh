#!/usr/bin/env bash
# Benchmark (not a test): what the client metrics cost loadgen. One nginx
# worker on core 0 answers GET /; loadgen on core 1 runs the closed model
# with CONNECTIONS users in three variants, alternating in each round:
#   off     no client metrics
#   listen  --metrics-listen, scraped every second by a real Prometheus
#   remote  --remote-write every second into a real Prometheus
#           (--web.enable-remote-write-receiver)
# Prometheus runs through every variant (on core 0 with nginx), so each
# sees the same machine. The summary gives medians of requests per client
# CPU-second (user+system, from rusage) and each variant's ratio to `off`;
# the goal is remote >= 0.97 (at most 3% cost).
#
# Usage: bench/client-metrics.sh [ROUNDS] [SECONDS] [CONNECTIONS]
# Needs: nginx and prometheus (apt), a release build (cargo build --release -p loadgen).
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh
. bench/nginx.sh
ROUNDS=${1:-3}
SECS=${2:-10}
CONNS=${3:-32}
LOADGEN=${LOADGEN:-target/release/loadgen}
need nginx "apt-get install nginx"
need prometheus "apt-get install prometheus"
[ -x "$LOADGEN" ] || { echo "build loadgen first: cargo build --release -p loadgen" >&2; exit 2; }

WORK=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]:-}"; do [ -n "$p" ] && kill "$p" 2>/dev/null || true; done; rm -rf "$WORK"; }
trap cleanup EXIT
start_nginx "$WORK"
pids+=("$NGINX_PID")
URL="http://127.0.0.1:$PORT"

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
LISTEN_PORT=$(free_port)
PROM_PORT=$(free_port)
printf 'global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: loadgen\n    static_configs:\n      - targets: ["127.0.0.1:%s"]\n' \
  "$LISTEN_PORT" >"$WORK/prometheus.yml"
taskset -c 0 prometheus --config.file="$WORK/prometheus.yml" --storage.tsdb.path="$WORK/data" \
  --web.listen-address="127.0.0.1:$PROM_PORT" --web.enable-remote-write-receiver >/dev/null 2>&1 &
pids+=("$!")
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$PROM_PORT/-/ready" >/dev/null && break; sleep 0.1; done
curl -sf "http://127.0.0.1:$PROM_PORT/-/ready" >/dev/null || { echo "prometheus did not start" >&2; exit 1; }

printf 'base_url: %s\nscenarios:\n  - requests:\n      - name: root\n        path: /\nload:\n  model: closed\n  users: %s\n  duration: %ss\n' \
  "$URL" "$CONNS" "$SECS" >"$WORK/s.yaml"

flags() {
  case $1 in
    off) ;;
    listen) echo "--metrics-listen 127.0.0.1:$LISTEN_PORT --run-id bench-listen" ;;
    remote) echo "--remote-write http://127.0.0.1:$PROM_PORT/api/v1/write --remote-write-interval 1s --run-id bench-remote" ;;
  esac
}

# measure VARIANT: "requests cpu_seconds" of a loadgen run on core 1.
measure() {
  # shellcheck disable=SC2046
  python3 - "$LOADGEN" "$WORK/s.yaml" $(flags "$1") <<'PY'
import re, resource, subprocess, sys
out = subprocess.run(["taskset", "-c", "1", sys.argv[1], "run", sys.argv[2], *sys.argv[3:]], capture_output=True, text=True)
ru = resource.getrusage(resource.RUSAGE_CHILDREN)
m = re.search(r"^total\s+(\d+)", out.stdout + out.stderr, re.M)
if not m:
    sys.exit("no total in the output:\n" + out.stdout + out.stderr)
if "warning" in out.stderr:
    sys.exit("loadgen warned:\n" + out.stderr)
print(m.group(1), ru.ru_utime + ru.ru_stime)
PY
}

variants=(off listen remote)
declare -A CPS
for r in $(seq "$ROUNDS"); do
  for v in "${variants[@]}"; do
    read -r n c < <(measure "$v")
    cps=$(awk -v n="$n" -v c="$c" 'BEGIN {printf "%.0f", (c > 0 ? n/c : 0)}')
    CPS[$v]+="$cps "
    echo "round $r: $v $cps req per CPU-second ($n requests, $c CPU-s)" >&2
  done
done

# The remote variant's totals are in Prometheus: the last run's count.
got=$(curl -s "http://127.0.0.1:$PROM_PORT/api/v1/query" \
  --data-urlencode 'query=sum(http_client_request_duration_seconds_count{loadgen_run="bench-remote"})' |
  python3 -c 'import json,sys; r=json.load(sys.stdin)["data"]["result"]; print(r[0]["value"][1] if r else "none")')

machine
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "nginx one worker and Prometheus on core 0; loadgen on core 1; $CONNS connections; ${SECS}s x $ROUNDS rounds, alternating"
echo "Prometheus holds $got requests for the last remote-write run"
if [ "$ROUNDS" -gt 0 ]; then
  base=$(median ${CPS[off]})
  printf '%-8s %20s %8s   %s\n' variant "req per CPU-second" "/off" "runs"
  for v in "${variants[@]}"; do
    m=$(median ${CPS[$v]})
    printf '%-8s %20s %8s   %s\n' "$v" "$m" "$(awk -v a="$m" -v b="$base" 'BEGIN {printf "%.3f", a/b}')" "${CPS[$v]}"
  done
fi
