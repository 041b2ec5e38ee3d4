#!/usr/bin/env bash
# Benchmark (not a test): loadgen's memory over a long open-model run.
#
# nginx as in bench/nginx.sh (one worker pinned to core 0); `loadgen run`
# pinned to core 1, open model (`GET /`, a constant RATE for MINUTES, MAX_USERS
# users), its VmRSS read from /proc every 10 s. Reports every sample, the peak
# (VmHWM, the kernel's high-water mark, read with each sample), the RSS at
# minute 1 and at the end, and the growth after minute 1 in % (the end against
# minute 1, and the largest sample after minute 1 against minute 1); then the
# run's requests, achieved rate and dropped iterations from its report.
#
# Usage: bench/rss.sh [MINUTES] [RATE]     (defaults: 10 10000)
# Environment: MAX_USERS (default 128), LOADGEN (a loadgen binary; default:
# build this tree's release binary), KEEP=DIR (keep the report and samples),
# PRIO=N (nginx and loadgen at nice N, as in bench/open-model.sh).
# Needs: nginx (apt), taskset, python3.
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh
. bench/nginx.sh
MINUTES=${1:-10}
RATE=${2:-10000}
MAX_USERS=${MAX_USERS:-128}
[ "$MINUTES" -ge 2 ] || { echo "MINUTES must be at least 2 (growth is measured after minute 1)" >&2; exit 2; }

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
PRIO_CMD=()
if [ -n "${PRIO:-}" ]; then
  renice -n "$PRIO" -p "$NGINX_PID" $(pgrep -P "$NGINX_PID") >/dev/null
  PRIO_CMD=(nice -n "$PRIO")
fi
cat >"$WORK/rss.yaml" <<EOF
base_url: http://127.0.0.1:$PORT/
timeout: 10s
scenarios:
  - name: get
    requests:
      - name: root
        path: /
load:
  model: open
  rate: $RATE
  duration: ${MINUTES}m
  max_users: $MAX_USERS
EOF

taskset -c 1 "${PRIO_CMD[@]}" "$LOADGEN" run "$WORK/rss.yaml" --report "$WORK/report.json" >"$WORK/stdout" 2>"$WORK/stderr" &
LP=$!
pids+=("$LP")
start=$(date +%s.%N)
: >"$WORK/samples"
# One sample every 10 s from the start: seconds since start, VmRSS and VmHWM (KiB).
n=0
while kill -0 "$LP" 2>/dev/null; do
  n=$((n + 1))
  next=$(awk -v s="$start" -v n="$n" 'BEGIN {printf "%.3f", s + 10 * n}')
  while kill -0 "$LP" 2>/dev/null && awk -v t="$(date +%s.%N)" -v x="$next" 'BEGIN {exit !(t < x)}'; do sleep 0.2; done
  read -r rss hwm < <(awk '/VmRSS/ {r=$2} /VmHWM/ {h=$2} END {print r, h}' /proc/"$LP"/status 2>/dev/null || true) || true
  [ -n "${rss:-}" ] && echo "$((n * 10)) $rss $hwm" >>"$WORK/samples"
  rss=
done
wait "$LP" || echo "loadgen exited with $?" >&2
[ -n "${KEEP:-}" ] && mkdir -p "$KEEP" && cp "$WORK/report.json" "$WORK/samples" "$KEEP/"

machine
echo "nginx $(nginx -v 2>&1 | sed 's/.*\///'), one worker on core 0; loadgen on core 1; open model at $RATE/s for $MINUTES min, max_users $MAX_USERS; nice ${PRIO:-0}; load average $(cut -d' ' -f1-3 /proc/loadavg)"
python3 - "$WORK/samples" "$WORK/report.json" "$MINUTES" "$RATE" <<'PY'
import json, sys
samples = [tuple(map(int, l.split())) for l in open(sys.argv[1]) if l.strip()]
r = json.load(open(sys.argv[2]))
minutes, rate = int(sys.argv[3]), float(sys.argv[4])
if not samples:
    sys.exit("no RSS sample")
print("VmRSS every 10 s (KiB):", " ".join(str(s[1]) for s in samples))
at1 = next((s[1] for s in samples if s[0] >= 60), None)
end = samples[-1]
after = [s[1] for s in samples if s[0] > 60]
peak = max(max(s[2] for s in samples), max(s[1] for s in samples))
print(f"samples {len(samples)}; peak (VmHWM) {peak} KiB = {peak / 1024:.1f} MiB")
if at1 is not None:
    print(f"RSS at minute 1: {at1} KiB; at the end ({end[0]} s): {end[1]} KiB; growth after minute 1: {(end[1] - at1) / at1 * 100:+.1f} %"
          + (f" (largest sample after minute 1: {max(after)} KiB, {(max(after) - at1) / at1 * 100:+.1f} %)" if after else ""))
count = r["total"]["count"]
secs = minutes * 60
print(f"requests {count} ({count / secs:.1f}/s against {rate:.0f}/s, {(count / secs - rate) / rate * 100:+.3f} %), "
      f"dropped {r['dropped_iterations']}, not 200: {count - r['total']['status_codes'].get('200', 0)}, "
      f"intervals in the report {len(r['intervals'])}")
PY
