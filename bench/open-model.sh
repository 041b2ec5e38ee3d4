#!/usr/bin/env bash
# Benchmark (not a test): how exactly loadgen's open model holds its rate.
#
# nginx as in bench/nginx.sh (one worker pinned to core 0, a 3-byte answer);
# `loadgen run` pinned to core 1 with an open-model scenario (`GET /`, a
# constant `rate` for SECONDS, MAX_USERS users, each one connection) at each
# RATE in turn, ROUNDS times, alternating between the rates. Per run:
#   - achieved rate: the report's request count / SECONDS (the schedule's
#     length), and its error against the target in %;
#   - the report's per-second intervals t = 0 .. SECONDS-1 (a request counts
#     in the second it ended): median, min and max second;
#   - dropped iterations, requests that were not a 200, the client's CPU
#     seconds (user+system, from rusage) and requests per CPU-second.
# The summary gives the medians of the rounds per rate.
#
# Usage: bench/open-model.sh [SECONDS] [RATES...]     (defaults: 60 10000 20000)
# Environment: ROUNDS (default 1), MAX_USERS (default 32, wrk's and oha's 32
# connections), MAX_QUEUE (default 20000: a second of slack at 20k/s, so a stall
# of the machine costs latency, not drops; empty: left out, 10 x MAX_USERS), LOADGEN (a loadgen binary; default: build this
# tree's release binary), KEEP=DIR (keep the reports there), PRIO=N (run nginx
# and loadgen at nice N, e.g. -10, so that builds sharing the machine at nice
# 10 do not starve them; needs root for N < 0; default: not changed).
# Needs: nginx (apt), taskset, python3.
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh
. bench/nginx.sh
SECS=${1:-60}
shift || true
RATES=("$@")
[ ${#RATES[@]} -gt 0 ] || RATES=(10000 20000)
ROUNDS=${ROUNDS:-1}
MAX_USERS=${MAX_USERS:-32}
MAX_QUEUE=${MAX_QUEUE-20000}
QUEUE_LINE=
[ -n "$MAX_QUEUE" ] && QUEUE_LINE="  max_queue: $MAX_QUEUE"

need nginx "apt-get install nginx"
need taskset "apt-get install util-linux"
if [ -z "${LOADGEN:-}" ]; then
  nice -n 10 cargo build --release -q -p loadgen
  LOADGEN=target/release/loadgen
fi

WORK=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]:-}"; do [ -n "$p" ] && kill "$p" 2>/dev/null || true; done; rm -rf "$WORK"; }
trap cleanup EXIT

start_nginx "$WORK"
pids+=("$NGINX_PID")
URL="http://127.0.0.1:$PORT/"
PRIO_CMD=()
if [ -n "${PRIO:-}" ]; then
  # The master and its worker (found by the master's PID).
  renice -n "$PRIO" -p "$NGINX_PID" $(pgrep -P "$NGINX_PID") >/dev/null
  PRIO_CMD=(nice -n "$PRIO")
fi

# run_one RATE REPORT: one run; prints the run's numbers as one line:
# target achieved err% median min max dropped non200 cpu req/cpu-s elapsed
run_one() {
  local rate=$1 report=$2
  cat >"$WORK/open-$rate.yaml" <<EOF
base_url: $URL
timeout: 10s
scenarios:
  - name: get
    requests:
      - name: root
        path: /
load:
  model: open
  rate: $rate
  duration: ${SECS}s
  max_users: $MAX_USERS
$QUEUE_LINE
EOF
  python3 - "$rate" "$SECS" "$report" "${PRIO_CMD[@]}" "$LOADGEN" run "$WORK/open-$rate.yaml" --report "$report" <<'PY'
import json, resource, statistics, subprocess, sys
rate, secs, report = float(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
cmd = sys.argv[4:]
out = subprocess.run(["taskset", "-c", "1", *cmd], capture_output=True, text=True)
ru = resource.getrusage(resource.RUSAGE_CHILDREN)
cpu = ru.ru_utime + ru.ru_stime
try:
    r = json.load(open(report))
except Exception:
    last = (out.stderr.strip().splitlines() or ["no output"])[-1]
    sys.exit(f"loadgen failed (exit {out.returncode}): {last}")
count = r["total"]["count"]
ok = r["total"]["status_codes"].get("200", 0)
per_sec = {i["t"]: i["count"] for i in r["intervals"]}
seconds = [per_sec.get(t, 0) for t in range(secs)]
achieved = count / secs
err = (achieved - rate) / rate * 100
print(f"{rate:.0f} {achieved:.1f} {err:+.3f} {statistics.median(seconds):.0f} {min(seconds)} {max(seconds)} "
      f"{r['dropped_iterations']} {count - ok} {cpu:.2f} {count / cpu if cpu > 0 else 0:.0f} {r['elapsed_s']:.3f}")
PY
}

declare -A ACH ERR MED MIN MAX DROP BAD CPU CPS
for round in $(seq "$ROUNDS"); do
  for rate in "${RATES[@]}"; do
    report=$WORK/report-$rate-$round.json
    read -r _ ach err med mn mx drop bad cpu cps elapsed < <(run_one "$rate" "$report")
    echo "round $round: rate $rate/s: achieved $ach/s ($err %), seconds median $med min $mn max $mx, dropped $drop, not 200: $bad, CPU $cpu s ($cps req/CPU-s), elapsed $elapsed s" >&2
    ACH[$rate]+="$ach "; ERR[$rate]+="$err "; MED[$rate]+="$med "; MIN[$rate]+="$mn "; MAX[$rate]+="$mx "
    DROP[$rate]+="$drop "; BAD[$rate]+="$bad "; CPU[$rate]+="$cpu "; CPS[$rate]+="$cps "
    [ -n "${KEEP:-}" ] && mkdir -p "$KEEP" && cp "$report" "$KEEP/"
  done
done

machine
echo "nginx $(nginx -v 2>&1 | sed 's/.*\///'), one worker on core 0; loadgen on core 1; open model, max_users $MAX_USERS (max_queue ${MAX_QUEUE:-$((MAX_USERS * 10))}); ${SECS}s x $ROUNDS rounds; nice ${PRIO:-0}; load average $(cut -d' ' -f1-3 /proc/loadavg)"
printf '%8s %11s %9s %24s %8s %8s %9s %11s\n' target achieved "error %" "per second med/min/max" dropped "not 200" "CPU s" "req/CPU-s"
for rate in "${RATES[@]}"; do
  printf '%8s %11s %9s %24s %8s %8s %9s %11s\n' "$rate" "$(median ${ACH[$rate]})" "$(median ${ERR[$rate]})" \
    "$(median ${MED[$rate]})/$(median ${MIN[$rate]})/$(median ${MAX[$rate]})" "$(median ${DROP[$rate]})" \
    "$(median ${BAD[$rate]})" "$(median ${CPU[$rate]})" "$(median ${CPS[$rate]})"
  [ "$ROUNDS" -gt 1 ] && echo "         runs: achieved ${ACH[$rate]}| dropped ${DROP[$rate]}| min second ${MIN[$rate]}"
done
