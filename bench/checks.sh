#!/usr/bin/env bash
# Benchmark (not a test): what checks and captures cost loadgen on its hot
# path. One nginx worker on core 0 answers GET /order with a 128-byte JSON
# order; loadgen on core 1 runs the closed model with CONNECTIONS users in
# four variants, alternating in each round:
#   none     no checks (the response's headers and body are not kept)
#   status   a status check (nothing kept: the status is always there)
#   json     a JSON check: {json: /order_id, exists: true} (the body is kept and parsed)
#   capture  the JSON check, a header check and a capture of /order_id
# The summary gives medians of requests per client CPU-second (user+system,
# from rusage) and each variant's ratio to `none`.
#
# With CALLGRIND=N (e.g. 20000) it also counts instructions per request of
# each variant under callgrind (a run of N requests minus one of N/5, over
# the difference), which is repeatable on a busy machine.
#
# Usage: bench/checks.sh [ROUNDS] [SECONDS] [CONNECTIONS]
# Needs: nginx (apt), a release build (cargo build --release -p loadgen).
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh
. bench/nginx.sh
ROUNDS=${1:-3}
SECS=${2:-10}
CONNS=${3:-32}
CALLGRIND=${CALLGRIND:-0}
LOADGEN=${LOADGEN:-target/release/loadgen}
need nginx "apt-get install nginx"
[ -x "$LOADGEN" ] || { echo "build loadgen first: cargo build --release -p loadgen" >&2; exit 2; }
[ "$CALLGRIND" -gt 0 ] && need valgrind "apt-get install valgrind"

WORK=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]:-}"; do [ -n "$p" ] && kill "$p" 2>/dev/null || true; done; rm -rf "$WORK"; }
trap cleanup EXIT
start_nginx "$WORK"
pids+=("$NGINX_PID")
URL="http://127.0.0.1:$PORT"

# scenario FILE VARIANT LOAD: GET /order with VARIANT's checks and LOAD's lines.
scenario() {
  local checks=""
  case $2 in
    none) ;;
    status) checks="        checks: [{status: [200]}]" ;;
    json) checks="        checks: [{json: /order_id, exists: true}]" ;;
    capture) checks="        checks: [{json: /order_id, exists: true}, {header: content-type, matches: ^application/json}]
        capture: [{var: id, json: /order_id}]" ;;
  esac
  cat >"$1" <<EOF
base_url: $URL
scenarios:
  - requests:
      - name: order
        path: /order
$checks
load:
  model: closed
  users: $CONNS
$3
EOF
}
variants=(none status json capture)
for v in "${variants[@]}"; do scenario "$WORK/$v.yaml" "$v" "  duration: ${SECS}s"; done

# measure FILE: "requests cpu_seconds" of a loadgen run on core 1.
measure() {
  python3 - "$LOADGEN" "$1" <<'PY'
import re, resource, subprocess, sys
out = subprocess.run(["taskset", "-c", "1", sys.argv[1], "run", sys.argv[2]], capture_output=True, text=True)
ru = resource.getrusage(resource.RUSAGE_CHILDREN)
m = re.search(r"^total\s+(\d+)", out.stdout + out.stderr, re.M)
if not m:
    sys.exit("no total in the output:\n" + out.stdout + out.stderr)
print(m.group(1), ru.ru_utime + ru.ru_stime)
PY
}

declare -A CPS
for r in $(seq "$ROUNDS"); do
  for v in "${variants[@]}"; do
    read -r n c < <(measure "$WORK/$v.yaml")
    cps=$(awk -v n="$n" -v c="$c" 'BEGIN {printf "%.0f", (c > 0 ? n/c : 0)}')
    CPS[$v]+="$cps "
    echo "round $r: $v $cps req per CPU-second ($n requests, $c CPU-s)" >&2
  done
done

machine
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "nginx one worker on core 0; loadgen on core 1; $CONNS connections; ${SECS}s x $ROUNDS rounds, alternating"
if [ "$ROUNDS" -gt 0 ]; then
  base=$(median ${CPS[none]})
  printf '%-8s %20s %8s   %s\n' variant "req per CPU-second" "/none" "runs"
  for v in "${variants[@]}"; do
    m=$(median ${CPS[$v]})
    printf '%-8s %20s %8s   %s\n' "$v" "$m" "$(awk -v a="$m" -v b="$base" 'BEGIN {printf "%.3f", a/b}')" "${CPS[$v]}"
  done
fi

if [ "$CALLGRIND" -gt 0 ]; then
  small=$((CALLGRIND / 5))
  instructions() { awk '/^summary:/ {print $2}' "$1"; }
  for v in "${variants[@]}"; do
    scenario "$WORK/$v.small.yaml" "$v" "  duration: 10m
  requests: $small"
    scenario "$WORK/$v.large.yaml" "$v" "  duration: 10m
  requests: $CALLGRIND"
    for size in small large; do
      taskset -c 1 valgrind --tool=callgrind --callgrind-out-file="$WORK/cg.$v.$size" \
        "$LOADGEN" run "$WORK/$v.$size.yaml" >/dev/null 2>&1 || true
    done
    per=$(awk -v a="$(instructions "$WORK/cg.$v.large")" -v b="$(instructions "$WORK/cg.$v.small")" \
      -v n="$((CALLGRIND - small))" 'BEGIN {printf "%.0f", (a - b) / n}')
    echo "callgrind: $v $per instructions per request (runs of $small and $CALLGRIND requests)"
  done
fi
