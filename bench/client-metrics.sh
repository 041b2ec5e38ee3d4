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
# With CALLGRIND=N (e.g. 20000) it also counts instructions under callgrind,
# which a busy or noisy machine does not change:
#   - per request: runs of N and N/5 requests (closed model, a request
#     budget), the difference over the difference, for off, listen (never
#     scraped) and remote with a 1h interval (only the final reading goes
#     out): the hot path's cost of counting the buckets;
#   - per reading: a remote run of N requests with a 100ms interval against
#     the 1h one, over the readings it sent more (the report's
#     metrics.remote_write.sent): building, encoding and sending one.
# The cost per request of remote write at a rate R and interval I is then
# the first plus the second / (R * I).
#
# With MICRO=1 it counts, under callgrind, the two costs apart with
# loadgen's example `metrics-cost` (cargo build --release -p loadgen
# --example metrics-cost): instructions per request recorded into a shard
# with the metrics on and off, and instructions per reading (built, and
# encoded both as OpenMetrics and as a remote-write body) of 8 request
# series. That is what settles a few percent on a noisy machine.
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
CALLGRIND=${CALLGRIND:-0}
MICRO=${MICRO:-0}
if [ "$MICRO" = 1 ]; then
  need valgrind "apt-get install valgrind"
  E=target/release/examples/metrics-cost
  [ -x "$E" ] || { echo "build it first: cargo build --release -p loadgen --example metrics-cost" >&2; exit 2; }
  cgc() { valgrind --tool=callgrind --callgrind-out-file="$(mktemp)" "$E" "$@" 2>&1 >/dev/null | awk '/Collected :/ {print $4}'; }
  per() { awk -v a="$1" -v b="$2" -v n="$3" 'BEGIN {printf "%.0f", (b - a) / n}'; }
  off=$(per "$(cgc record 100000 off)" "$(cgc record 500000 off)" 400000)
  on=$(per "$(cgc record 100000 on)" "$(cgc record 500000 on)" 400000)
  reading=$(per "$(cgc reading 10 8)" "$(cgc reading 50 8)" 40)
  echo "recording a request into its shard: $off instructions with the metrics off, $on on (+$((on - off)))"
  echo "one reading of 8 request series (16 with their 503s), built and encoded both ways: $reading instructions"
  exit 0
fi
[ "$CALLGRIND" -gt 0 ] && need valgrind "apt-get install valgrind"
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

if [ "$CALLGRIND" -gt 0 ]; then
  small=$((CALLGRIND / 5))
  budget() {
    printf 'base_url: %s\nscenarios:\n  - requests:\n      - name: root\n        path: /\nload:\n  model: closed\n  users: %s\n  duration: 10m\n  requests: %s\n' \
      "$URL" "$CONNS" "$1" >"$2"
  }
  budget "$small" "$WORK/small.yaml"
  budget "$CALLGRIND" "$WORK/large.yaml"
  cgflags() {
    case $1 in
      off) ;;
      listen) echo "--metrics-listen 127.0.0.1:0" ;;
      remote) echo "--remote-write http://127.0.0.1:$PROM_PORT/api/v1/write --remote-write-interval 1h --run-id cg-remote" ;;
      often) echo "--remote-write http://127.0.0.1:$PROM_PORT/api/v1/write --remote-write-interval 100ms --run-id cg-often" ;;
    esac
  }
  instructions() { awk '/^summary:/ {print $2}' "$1"; }
  # shellcheck disable=SC2046
  cg() { taskset -c 1 valgrind --tool=callgrind --callgrind-out-file="$WORK/cg.$1.$2" \
    "$LOADGEN" run "$WORK/$2.yaml" --quiet --report "$WORK/r.$1.$2.json" $(cgflags "$1") >/dev/null 2>&1 || true; }
  for v in off listen remote; do
    cg "$v" small
    cg "$v" large
    per=$(awk -v a="$(instructions "$WORK/cg.$v.large")" -v b="$(instructions "$WORK/cg.$v.small")" \
      -v n="$((CALLGRIND - small))" 'BEGIN {printf "%.0f", (a - b) / n}')
    echo "callgrind: $v $per instructions per request (runs of $small and $CALLGRIND requests)"
  done
  cg often large
  sent() { python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["metrics"]["remote_write"]["sent"])' "$1"; }
  s_often=$(sent "$WORK/r.often.large.json")
  s_rare=$(sent "$WORK/r.remote.large.json")
  per_reading=$(awk -v a="$(instructions "$WORK/cg.often.large")" -v b="$(instructions "$WORK/cg.remote.large")" \
    -v n="$((s_often - s_rare))" 'BEGIN {printf "%.0f", (n > 0 ? (a - b) / n : 0)}')
  echo "callgrind: $per_reading instructions per remote-write reading ($s_often readings sent against $s_rare)"
fi
