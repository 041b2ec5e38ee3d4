#!/usr/bin/env bash
# Benchmark (not a test): user-space instructions per request of `loadgen URL`
# (closed model, -c 32, HTTP/1.1) against the nginx of bench/nginx.sh, counted
# by valgrind's callgrind over all of the client's threads: a proxy for CPU
# per request that the load of other processes on the machine does not move.
#
# Each binary runs twice, with -n SMALL and -n LARGE requests; instructions
# per request are (I(LARGE) - I(SMALL)) / (LARGE - SMALL), so start-up and
# shut-down cancel out. Allocations are the calls into the global allocator
# (__rust_alloc, __rust_alloc_zeroed, __rust_realloc) in callgrind's call
# graph, counted the same way. Binaries alternate, ROUNDS times; medians.
#
# Usage: bench/client-instructions.sh [ROUNDS] [SMALL] [LARGE]
#   BASELINE=path/to/older/loadgen  measures that binary too
# Needs: nginx (apt), valgrind (apt).
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh
. bench/nginx.sh
ROUNDS=${1:-3}
SMALL=${2:-2000}
LARGE=${3:-12000}
BASELINE=${BASELINE:-}

need nginx "apt-get install nginx"
need valgrind "apt-get install valgrind"
cargo build --release -q -p loadgen
LOADGEN=${LOADGEN:-target/release/loadgen}

WORK=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]:-}"; do [ -n "$p" ] && kill "$p" 2>/dev/null || true; done; rm -rf "$WORK"; }
trap cleanup EXIT
start_nginx "$WORK"
pids+=("$NGINX_PID")
URL="http://127.0.0.1:$PORT/"

# measure BIN N: "instructions allocations" of one run of N requests.
measure() {
  local out
  out=$(valgrind --tool=callgrind --callgrind-out-file="$WORK/cg.out" \
    "$1" "$URL" -n "$2" -c 32 --report "$WORK/r.json" 2>&1 >/dev/null | awk '/Collected :/ {print $4}')
  [ -n "$out" ] || { echo "no callgrind total for $1" >&2; exit 1; }
  echo "$out $(python3 - "$WORK/cg.out" <<'PY'
import re, sys
names, total, target = {}, 0, None
want = re.compile(r"__rust_(alloc|alloc_zeroed|realloc)$")
for line in open(sys.argv[1], errors="replace"):
    m = re.match(r"(c?fn)=\((\d+)\)(?: (.*))?", line)
    if m:
        kind, i, name = m.groups()
        if name is not None:
            names[i] = name.strip()
        target = names.get(i, "") if kind == "cfn" else None
        continue
    if line.startswith("calls=") and target is not None:
        if want.search(target):
            total += int(line.split("=")[1].split()[0])
        target = None
print(total)
PY
)"
}

bins=(current)
[ -n "$BASELINE" ] && bins=(baseline current)
declare -A PER ALLOCS
for r in $(seq "$ROUNDS"); do
  for b in "${bins[@]}"; do
    bin=$LOADGEN; [ "$b" = baseline ] && bin=$BASELINE
    read -r small small_allocs < <(measure "$bin" "$SMALL")
    read -r large large_allocs < <(measure "$bin" "$LARGE")
    per=$(awk -v a="$small" -v b="$large" -v s="$SMALL" -v l="$LARGE" 'BEGIN {printf "%.0f", (b - a) / (l - s)}')
    allocs=$(awk -v a="$small_allocs" -v b="$large_allocs" -v s="$SMALL" -v l="$LARGE" 'BEGIN {printf "%.2f", (b - a) / (l - s)}')
    PER[$b]+="$per "; ALLOCS[$b]+="$allocs "
    echo "round $r: $b $per instructions and $allocs allocations per request ($small / $small_allocs for $SMALL, $large / $large_allocs for $LARGE)" >&2
  done
done

machine
echo "valgrind $(valgrind --version | sed 's/valgrind-//'); loadgen URL -c 32, $SMALL and $LARGE requests; $ROUNDS rounds"
printf '%-10s %26s %26s   %s\n' binary "instructions per request" "allocations per request" "runs (instructions | allocations)"
for b in "${bins[@]}"; do
  printf '%-10s %26s %26s   %s| %s\n' "$b" "$(median ${PER[$b]})" "$(median ${ALLOCS[$b]})" "${PER[$b]}" "${ALLOCS[$b]}"
done
