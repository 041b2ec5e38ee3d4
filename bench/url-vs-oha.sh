#!/usr/bin/env bash
# Benchmark (not a test): `loadgen URL` against oha with the same flags, both
# driving one nginx on loopback (bench/nginx.sh: one worker pinned to core 0).
#
# Each client runs pinned to core 1. Cases, each for SECONDS:
#   closed  -c 32 -z 10s            (32 connections back to back)
#   open    -q OPEN_RATE -c 32 -z 10s   (a fixed rate, OPEN_RATE=20000 unless set;
#                                    oha with --latency-correction, loadgen
#                                    corrects latency always)
# and, unless HTTP2=0, the same two with --http2 for both tools (h2c with prior
# knowledge on nginx's second listener). Rounds alternate between the tools;
# the summary gives medians of requests/s and of requests per client
# CPU-second (the client's user+system time, from rusage). A tool that
# refuses a case (exit 2, or the HTTP/2 client not there yet) is shown as
# "refused" with its message, and the script goes on.
#
# Usage: bench/url-vs-oha.sh [ROUNDS] [SECONDS]   (HTTP2=0 skips the --http2 cases;
#        OPEN_RATE=R sets the open cases' rate; CASES="open" runs only those named:
#        closed, open, closed-h2, open-h2; LOADGEN=path runs that loadgen binary)
# Needs: nginx (apt), oha (cargo install oha --locked), taskset, python3.
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh
. bench/nginx.sh
ROUNDS=${1:-3}
SECS=${2:-10}
HTTP2=${HTTP2:-1}
OPEN_RATE=${OPEN_RATE:-20000}

need nginx "apt-get install nginx"
need taskset "apt-get install util-linux"
OHA=${OHA:-$(command -v oha || echo "$HOME/.cargo/bin/oha")}
[ -x "$OHA" ] || { echo "missing oha: cargo install oha --locked" >&2; exit 2; }
if [ -z "${LOADGEN:-}" ]; then   # LOADGEN=path runs that binary instead
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
H2C_URL="http://127.0.0.1:$H2C_PORT/"

# Runs a command on core 1; prints "requests cpu_seconds dropped" (dropped:
# loadgen's dropped iterations, "-" for oha), or "refused MESSAGE".
measure() {
  local parser=$1; shift
  python3 - "$parser" "$@" <<'PY'
import json, resource, subprocess, sys
parser, cmd = sys.argv[1], sys.argv[2:]
out = subprocess.run(["taskset", "-c", "1", *cmd], capture_output=True, text=True)
ru = resource.getrusage(resource.RUSAGE_CHILDREN)
cpu = ru.ru_utime + ru.ru_stime
try:
    report = json.loads(out.stdout)
    dropped = "-"
    if parser == "oha":
        reqs = sum(report["statusCodeDistribution"].values())
    else:
        dropped = report["dropped_iterations"]
        reqs = report["total"]["count"]
        if report["total"]["status_codes"].get("200", 0) == 0:
            raise ValueError("no 200")
except Exception:
    last = (out.stderr.strip().splitlines() or ["no output"])[-1]
    print("refused", f"exit {out.returncode}: {last}")
    sys.exit(0)
print(reqs, cpu, dropped)
PY
}

cases=(closed open)
[ "$HTTP2" = 1 ] && cases+=(closed-h2 open-h2)
if [ -n "${CASES:-}" ]; then read -r -a cases <<<"$CASES"; fi
tools=(oha loadgen)
declare -A RPS CPS NOTE
for r in $(seq "$ROUNDS"); do
  for c in "${cases[@]}"; do
    url=$URL; h2=()
    case $c in *-h2) url=$H2C_URL; h2=(--http2) ;; esac
    case $c in
      closed*) flags=(-c 32 -z "${SECS}s") ;;
      open*) flags=(-q "$OPEN_RATE" -c 32 -z "${SECS}s") ;;
    esac
    for t in "${tools[@]}"; do
      case $t in
        oha) extra=(--no-tui --output-format json); [[ $c == open* ]] && extra+=(--latency-correction)
             read -r n cpu dropped < <(measure oha "$OHA" "${flags[@]}" "${h2[@]}" "${extra[@]}" "$url") ;;
        loadgen) read -r n cpu dropped < <(measure loadgen "$LOADGEN" "$url" "${flags[@]}" "${h2[@]}" --report -) ;;
      esac
      key="$c/$t"
      if [ "$n" = refused ]; then
        NOTE[$key]="refused ($cpu $dropped)"
        echo "round $r: $c $t refused: $cpu $dropped" >&2
        continue
      fi
      rps=$(awk -v n="$n" -v s="$SECS" 'BEGIN {printf "%.0f", n/s}')
      cps=$(awk -v n="$n" -v c="$cpu" 'BEGIN {printf "%.0f", (c > 0 ? n/c : 0)}')
      RPS[$key]+="$rps "; CPS[$key]+="$cps "
      echo "round $r: $c $t $rps req/s, $cps req per CPU-second ($n requests, $cpu CPU-s, dropped $dropped)" >&2
    done
  done
done

machine
echo "nginx $(nginx -v 2>&1 | sed 's/.*\///'), one worker on core 0; clients on core 1; $("$OHA" --version); ${SECS}s x $ROUNDS rounds; open cases at $OPEN_RATE/s; load average $(cut -d' ' -f1-3 /proc/loadavg)"
printf '%-10s %-8s %10s %20s   %s\n' case tool "req/s" "req per CPU-second" "runs (req/s | req/CPU-s)"
for c in "${cases[@]}"; do
  for t in "${tools[@]}"; do
    key="$c/$t"
    if [ -n "${RPS[$key]:-}" ]; then
      printf '%-10s %-8s %10s %20s   %s| %s\n' "$c" "$t" "$(median ${RPS[$key]})" "$(median ${CPS[$key]})" "${RPS[$key]}" "${CPS[$key]}"
    else
      printf '%-10s %-8s %s\n' "$c" "$t" "${NOTE[$key]:-no runs}"
    fi
  done
done
