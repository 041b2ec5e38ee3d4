#!/usr/bin/env bash
# Benchmark (not a test): loadgen's client over HTTP/1.1 and HTTP/2 (h2c,
# prior knowledge) against one nginx on loopback, next to oha with the same
# connections, and optionally next to an earlier loadgen binary (to show the
# HTTP/1.1 path did not get slower).
#
# nginx runs one worker pinned to core 0 with two listeners: HTTP/1.1, and
# h2c (`listen ... http2`). Each client in turn runs on core 1 with the same
# number of connections (closed model, one request in flight per
# connection). For each: requests/s and requests per client CPU-second (user
# + system time from rusage). Rounds alternate between the clients; the
# summary gives medians.
#
# Usage: bench/client-versions.sh [ROUNDS] [SECONDS] [CONNECTIONS]
#   BASELINE=path/to/older/loadgen  adds that binary's HTTP/1.1 run
# Needs: nginx (apt), oha (cargo install oha --locked).
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh
ROUNDS=${1:-3}
SECS=${2:-10}
CONNS=${3:-32}
BASELINE=${BASELINE:-}

need nginx "apt-get install nginx"
need oha "cargo install oha --locked"
cargo build --release -q -p loadgen
LOADGEN=target/release/loadgen

WORK=$(mktemp -d)
NGINX_PID=
cleanup() { [ -n "$NGINX_PID" ] && kill "$NGINX_PID" 2>/dev/null || true; rm -rf "$WORK"; }
trap cleanup EXIT

port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
P1=$(port)
P2=$(port)
mkdir -p "$WORK/nginx/logs"
cat >"$WORK/nginx/nginx.conf" <<EOF
worker_processes 1;
worker_cpu_affinity 01;
daemon off;
pid $WORK/nginx/nginx.pid;
error_log $WORK/nginx/logs/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  keepalive_requests 10000000;
  keepalive_timeout 120s;
  http2_max_requests 10000000;
  client_body_temp_path $WORK/nginx/body;
  proxy_temp_path $WORK/nginx/proxy;
  fastcgi_temp_path $WORK/nginx/fastcgi;
  uwsgi_temp_path $WORK/nginx/uwsgi;
  scgi_temp_path $WORK/nginx/scgi;
  server {
    listen 127.0.0.1:$P1;
    location / { default_type text/plain; return 200 "ok\n"; }
  }
  server {
    listen 127.0.0.1:$P2 http2;
    location / { default_type text/plain; return 200 "ok\n"; }
  }
}
EOF
taskset -c 0 nginx -p "$WORK/nginx" -c "$WORK/nginx/nginx.conf" 2>/dev/null &
NGINX_PID=$!
for _ in $(seq 50); do curl -fs "http://127.0.0.1:$P1/" >/dev/null && break; sleep 0.1; done

scenario() {
  cat >"$WORK/$1.yaml" <<EOF
base_url: http://127.0.0.1:$2/
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
$3
EOF
}
scenario h1 "$P1" ""
scenario h2 "$P2" "http2: true"

# Runs a command on core 1; prints "requests cpu_seconds".
measure() {
  local parser=$1; shift
  python3 - "$parser" "$@" <<'EOF'
import json, re, resource, subprocess, sys
parser, cmd = sys.argv[1], sys.argv[2:]
out = subprocess.run(["taskset", "-c", "1", *cmd], capture_output=True, text=True)
ru = resource.getrusage(resource.RUSAGE_CHILDREN)
cpu = ru.ru_utime + ru.ru_stime
text = out.stdout + out.stderr
if parser == "oha":
    reqs = int(json.loads(out.stdout)["statusCodeDistribution"]["200"])
else:
    reqs = int(re.search(r"^total\s+(\d+)", text, re.M).group(1))
    if parser == "h2" and " over HTTP/2 " not in text:
        sys.exit("loadgen did not speak HTTP/2:\n" + text)
print(reqs, cpu)
EOF
}

declare -A RPS CPS
clients=(loadgen-h1 oha-h1 loadgen-h2 oha-h2)
[ -n "$BASELINE" ] && clients=(baseline-h1 "${clients[@]}")
for r in $(seq "$ROUNDS"); do
  for t in "${clients[@]}"; do
    case $t in
      baseline-h1) read -r n c < <(measure h1 "$BASELINE" run "$WORK/h1.yaml") ;;
      loadgen-h1) read -r n c < <(measure h1 "$LOADGEN" run "$WORK/h1.yaml") ;;
      loadgen-h2) read -r n c < <(measure h2 "$LOADGEN" run "$WORK/h2.yaml") ;;
      oha-h1) read -r n c < <(measure oha oha --no-tui --output-format json -z "${SECS}s" -c "$CONNS" "http://127.0.0.1:$P1/") ;;
      oha-h2) read -r n c < <(measure oha oha --no-tui --output-format json -z "${SECS}s" -c "$CONNS" -p 1 --http2 "http://127.0.0.1:$P2/") ;;
    esac
    rps=$(awk -v n="$n" -v s="$SECS" 'BEGIN {printf "%.0f", n/s}')
    cps=$(awk -v n="$n" -v c="$c" 'BEGIN {printf "%.0f", (c > 0 ? n/c : 0)}')
    RPS[$t]+="$rps "; CPS[$t]+="$cps "
    echo "round $r: $t $rps req/s, $cps req per CPU-second ($n requests, $c CPU-s)" >&2
  done
done

machine
echo "nginx $(nginx -v 2>&1 | sed 's/.*\///'), one worker on core 0; clients on core 1; $CONNS connections (one stream each); ${SECS}s x $ROUNDS rounds"
printf '%-12s %12s %22s   %s\n' client "req/s" "req per CPU-second" "runs (req/s | req/CPU-s)"
for t in "${clients[@]}"; do
  printf '%-12s %12s %22s   %s| %s\n' "$t" "$(median ${RPS[$t]})" "$(median ${CPS[$t]})" "${RPS[$t]}" "${CPS[$t]}"
done
