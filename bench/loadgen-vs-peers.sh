#!/usr/bin/env bash
# Benchmark (not a test): loadgen against wrk, oha and Locust, all driving one
# nginx on loopback, measured side by side in one run.
#
# nginx runs one worker pinned to core 0 (keepalive_requests raised, a small
# fixed response); each client in turn is pinned to core 1 with the same
# number of connections. For each: requests/s, and requests per client
# CPU-second (the client's user+system time, from rusage). Rounds alternate
# between the tools; the summary gives medians.
#
# Then (RSS_MINUTES, default 10; 0 skips it) loadgen runs an open-model load
# for that long while its RSS is sampled every 10 s, to show memory is flat.
#
# Usage: bench/loadgen-vs-peers.sh [ROUNDS] [SECONDS] [CONNECTIONS]
# Needs: nginx and wrk (apt), oha (cargo install oha --locked), Locust (a venv
# under target/bench-venv, created here).
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh
. bench/nginx.sh
ROUNDS=${1:-3}
SECS=${2:-10}
CONNS=${3:-32}
RSS_MINUTES=${RSS_MINUTES:-10}

need nginx "apt-get install nginx"
need wrk "apt-get install wrk"
need oha "cargo install oha --locked"
VENV=target/bench-venv
if [ ! -x "$VENV/bin/locust" ]; then
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q locust
fi
cargo build --release -q -p loadgen
LOADGEN=target/release/loadgen

WORK=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]:-}"; do [ -n "$p" ] && kill "$p" 2>/dev/null || true; done; rm -rf "$WORK"; }
trap cleanup EXIT

start_nginx "$WORK"
pids+=("$NGINX_PID")
URL="http://127.0.0.1:$PORT/"

cat >"$WORK/scenario.yaml" <<EOF
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
  duration: ${SECS}s
EOF
cat >"$WORK/locustfile.py" <<'EOF'
from locust import task
from locust.contrib.fasthttp import FastHttpUser

class Root(FastHttpUser):
    @task
    def root(self):
        self.client.get("/")
EOF

# Runs a command on core 1 and prints "requests cpu_seconds" from its output
# parser ($1) and its rusage.
measure() {
  local parser=$1; shift
  python3 - "$parser" "$@" <<'EOF'
import json, re, resource, subprocess, sys
parser, cmd = sys.argv[1], sys.argv[2:]
out = subprocess.run(["taskset", "-c", "1", *cmd], capture_output=True, text=True)
ru = resource.getrusage(resource.RUSAGE_CHILDREN)
cpu = ru.ru_utime + ru.ru_stime
text = out.stdout + out.stderr
if parser == "wrk":
    reqs = int(re.search(r"(\d+) requests in", text).group(1))
elif parser == "oha":
    reqs = int(json.loads(out.stdout)["statusCodeDistribution"]["200"])
elif parser == "loadgen":
    reqs = int(re.search(r"^total\s+(\d+)", text, re.M).group(1))
elif parser == "locust":
    rows = [l for l in open(cmd[cmd.index("--csv") + 1] + "_stats.csv").read().splitlines()]
    head = rows[0].split(",")
    agg = [r.split(",") for r in rows[1:] if ",Aggregated," in r][0]
    reqs = int(agg[head.index("Request Count")])
print(reqs, cpu)
EOF
}

declare -A RPS CPS
tools=(wrk oha loadgen locust)
for r in $(seq "$ROUNDS"); do
  for t in "${tools[@]}"; do
    case $t in
      wrk) read -r n c < <(measure wrk wrk -t1 -c"$CONNS" -d"${SECS}s" "$URL") ;;
      oha) read -r n c < <(measure oha oha --no-tui --output-format json -z "${SECS}s" -c "$CONNS" "$URL") ;;
      loadgen) read -r n c < <(measure loadgen "$LOADGEN" run "$WORK/scenario.yaml") ;;
      locust) read -r n c < <(measure locust "$VENV/bin/locust" -f "$WORK/locustfile.py" --headless \
                 -u "$CONNS" -r "$CONNS" -t "${SECS}s" --host "${URL%/}" --csv "$WORK/locust" --only-summary) ;;
    esac
    rps=$(awk -v n="$n" -v s="$SECS" 'BEGIN {printf "%.0f", n/s}')
    cps=$(awk -v n="$n" -v c="$c" 'BEGIN {printf "%.0f", (c > 0 ? n/c : 0)}')
    RPS[$t]+="$rps "; CPS[$t]+="$cps "
    echo "round $r: $t $rps req/s, $cps req per CPU-second ($n requests, $c CPU-s)" >&2
  done
done

machine
echo "nginx $(nginx -v 2>&1 | sed 's/.*\///'), one worker on core 0; clients on core 1; $CONNS connections; ${SECS}s x $ROUNDS rounds"
printf '%-8s %12s %22s   %s\n' tool "req/s" "req per CPU-second" "runs (req/s | req/CPU-s)"
for t in "${tools[@]}"; do
  printf '%-8s %12s %22s   %s| %s\n' "$t" "$(median ${RPS[$t]})" "$(median ${CPS[$t]})" "${RPS[$t]}" "${CPS[$t]}"
done
W=$(median ${CPS[wrk]}); L=$(median ${CPS[loadgen]}); K=$(median ${CPS[locust]})
echo "loadgen / wrk (req per CPU-second): $(awk -v a="$L" -v b="$W" 'BEGIN {printf "%.3f", a/b}')"
echo "loadgen / locust (req per CPU-second): $(awk -v a="$L" -v b="$K" 'BEGIN {printf "%.1f", a/b}')"

if [ "$RSS_MINUTES" -gt 0 ]; then
  cat >"$WORK/rss.yaml" <<EOF
base_url: $URL
timeout: 10s
scenarios:
  - name: get
    requests:
      - name: root
        path: /
load:
  model: open
  rate: 2000
  duration: ${RSS_MINUTES}m
  max_users: 64
EOF
  taskset -c 1 "$LOADGEN" run "$WORK/rss.yaml" --report "$WORK/rss.json" >/dev/null 2>&1 &
  LP=$!
  pids+=("$LP")
  samples=()
  while kill -0 "$LP" 2>/dev/null; do
    rss=$(awk '/VmRSS/ {print $2}' /proc/"$LP"/status 2>/dev/null || true)
    [ -n "$rss" ] && samples+=("$rss")
    sleep 10
  done
  echo "loadgen RSS over a ${RSS_MINUTES}-minute open-model run at 2000/s (KiB, every 10 s):"
  echo "  first ${samples[*]:0:3}  ...  last ${samples[*]: -3}"
  printf '%s\n' "${samples[@]}" | sort -n | awk '{a[NR]=$1} END {print "  min " a[1] "  max " a[NR] "  samples " NR}'
  python3 -c "import json; r=json.load(open('$WORK/rss.json')); print('  requests', r['total']['count'], 'dropped', r['dropped_iterations'])"
fi
