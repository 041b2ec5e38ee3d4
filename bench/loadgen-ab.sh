#!/usr/bin/env bash
# Benchmark (not a test): two loadgen builds side by side, with wrk as the
# reference, all driving one nginx on loopback; for deciding whether a change
# to loadgen's hot path helps.
#
# nginx runs one worker pinned to core 0; each client in turn is pinned to
# core 1 with the same number of connections (closed model, `GET /`). Rounds
# alternate wrk, A and B; the summary gives medians of requests/s and of
# requests per client CPU-second (user+system time, from rusage), and the
# ratios B/A and A/wrk, B/wrk.
#
# With CALLGRIND=N (e.g. 20000), it also counts user-space instructions per
# request of A and B under valgrind's callgrind: the difference between a
# run of N requests and one of N/5, divided by the difference in requests,
# so start-up cancels out. Noise-free, unlike the timings.
#
# Usage: bench/loadgen-ab.sh A_BINARY B_BINARY [ROUNDS] [SECONDS] [CONNECTIONS]
# Needs: nginx and wrk (apt); valgrind (apt) for CALLGRIND.
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh
. bench/nginx.sh
A=$(realpath "$1")
B=$(realpath "$2")
ROUNDS=${3:-3}
SECS=${4:-10}
CONNS=${5:-32}
CALLGRIND=${CALLGRIND:-0}

need nginx "apt-get install nginx"
need wrk "apt-get install wrk"
[ "$CALLGRIND" -gt 0 ] && need valgrind "apt-get install valgrind"

WORK=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]:-}"; do [ -n "$p" ] && kill "$p" 2>/dev/null || true; done; rm -rf "$WORK"; }
trap cleanup EXIT

start_nginx "$WORK"
pids+=("$NGINX_PID")
URL="http://127.0.0.1:$PORT/"

# scenario FILE LOAD: a closed-model scenario of GET / with LOAD's lines.
scenario() {
  cat >"$1" <<EOF
base_url: $URL
timeout: 10s
scenarios:
  - name: get
    requests:
      - name: root
        path: /
load:
  model: closed
  users: $CONNS
$2
EOF
}
scenario "$WORK/timed.yaml" "  duration: ${SECS}s"

# measure PARSER CMD...: "requests cpu_seconds" of CMD on core 1.
measure() {
  local parser=$1; shift
  python3 - "$parser" "$@" <<'EOF'
import re, resource, subprocess, sys
parser, cmd = sys.argv[1], sys.argv[2:]
out = subprocess.run(["taskset", "-c", "1", *cmd], capture_output=True, text=True)
ru = resource.getrusage(resource.RUSAGE_CHILDREN)
text = out.stdout + out.stderr
if parser == "wrk":
    reqs = int(re.search(r"(\d+) requests in", text).group(1))
else:
    reqs = int(re.search(r"^total\s+(\d+)", text, re.M).group(1))
print(reqs, ru.ru_utime + ru.ru_stime)
EOF
}

declare -A RPS CPS
tools=(wrk A B)
for r in $(seq "$ROUNDS"); do
  for t in "${tools[@]}"; do
    case $t in
      wrk) read -r n c < <(measure wrk wrk -t1 -c"$CONNS" -d"${SECS}s" "$URL") ;;
      A) read -r n c < <(measure loadgen "$A" run "$WORK/timed.yaml") ;;
      B) read -r n c < <(measure loadgen "$B" run "$WORK/timed.yaml") ;;
    esac
    rps=$(awk -v n="$n" -v s="$SECS" 'BEGIN {printf "%.0f", n/s}')
    cps=$(awk -v n="$n" -v c="$c" 'BEGIN {printf "%.0f", (c > 0 ? n/c : 0)}')
    RPS[$t]+="$rps "; CPS[$t]+="$cps "
    echo "round $r: $t $rps req/s, $cps req per CPU-second ($n requests, $c CPU-s)" >&2
  done
done

machine
if [ "$ROUNDS" -gt 0 ]; then
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "A = $A"
echo "B = $B"
echo "nginx one worker on core 0; clients on core 1; $CONNS connections; ${SECS}s x $ROUNDS rounds, alternating"
printf '%-4s %12s %22s   %s\n' tool "req/s" "req per CPU-second" "runs (req/s | req/CPU-s)"
for t in "${tools[@]}"; do
  printf '%-4s %12s %22s   %s| %s\n' "$t" "$(median ${RPS[$t]})" "$(median ${CPS[$t]})" "${RPS[$t]}" "${CPS[$t]}"
done
W=$(median ${CPS[wrk]}); MA=$(median ${CPS[A]}); MB=$(median ${CPS[B]})
echo "req per CPU-second: B/A $(awk -v a="$MB" -v b="$MA" 'BEGIN {printf "%.3f", a/b}'), A/wrk $(awk -v a="$MA" -v b="$W" 'BEGIN {printf "%.3f", a/b}'), B/wrk $(awk -v a="$MB" -v b="$W" 'BEGIN {printf "%.3f", a/b}')"
fi

if [ "$CALLGRIND" -gt 0 ]; then
  small=$((CALLGRIND / 5))
  scenario "$WORK/small.yaml" "  duration: 10m
  requests: $small"
  scenario "$WORK/large.yaml" "  duration: 10m
  requests: $CALLGRIND"
  # instructions FILE: the total instruction count callgrind wrote.
  instructions() { awk '/^summary:/ {print $2}' "$1"; }
  # ticked FILE: instructions inside the recorder's merge of the shards
  # (loadgen::tally::Shards::drain, inclusive; 0 in builds without it). It
  # runs once per tick of the wall clock, which valgrind stretches about
  # fifty-fold, so its share per request is that much larger than in a
  # normal run; the "hot path" figure leaves it out.
  ticked() {
    callgrind_annotate --inclusive=yes --threshold=100 "$1" 2>/dev/null \
      | awk '/loadgen::tally::Shards::drain/ {gsub(",", "", $1); print $1; exit}' | grep . || echo 0
  }
  for t in A B; do
    bin=${!t}
    for size in small large; do
      taskset -c 1 valgrind --tool=callgrind --callgrind-out-file="$WORK/cg.$t.$size" \
        "$bin" run "$WORK/$size.yaml" >/dev/null 2>&1 || true
    done
    per=$(awk -v a="$(instructions "$WORK/cg.$t.large")" -v b="$(instructions "$WORK/cg.$t.small")" \
      -v n="$((CALLGRIND - small))" 'BEGIN {printf "%.0f", (a - b) / n}')
    hot=$(awk -v a="$(instructions "$WORK/cg.$t.large")" -v b="$(instructions "$WORK/cg.$t.small")" \
      -v ta="$(ticked "$WORK/cg.$t.large")" -v tb="$(ticked "$WORK/cg.$t.small")" \
      -v n="$((CALLGRIND - small))" 'BEGIN {printf "%.0f", ((a - ta) - (b - tb)) / n}')
    echo "callgrind: $t $per instructions per request, $hot without the tick's merge (runs of $small and $CALLGRIND requests)"
  done
fi
