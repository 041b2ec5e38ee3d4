#!/usr/bin/env bash
# Benchmark (not a test): the trace sink (loadgen::trace_sink) under a steady
# OTLP/HTTP load: its memory stays bounded, and what it costs in CPU.
#
# The sink runs alone (loadgen/examples/trace-sink.rs `serve`, Keep::All,
# MAX_SPANS spans kept), pinned to core 0; a generator (same example,
# `generate`) on core 1 posts real encoded exports of 500 spans (50 traces of
# 10, six attributes each, fresh trace ids) at RATE spans/s for SECS seconds.
# The sink's VmRSS is read from /proc every second; its CPU (utime + stime)
# at the end. Reports RSS at 10 s, at the moment the cap is first reached,
# the maximum and at the end, VmHWM, the spans received and evicted, and CPU
# ms per 1k spans.
#
# Usage: bench/trace-sink.sh [SECS] [RATE] [MAX_SPANS]   (defaults: 60 5000 200000)
# Needs: taskset (util-linux).
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh
SECS=${1:-60}
RATE=${2:-5000}
MAX_SPANS=${3:-200000}
need taskset "apt-get install util-linux"

nice -n 10 cargo build --release -q -p loadgen --example trace-sink
BIN=target/release/examples/trace-sink

WORK=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]:-}"; do [ -n "$p" ] && kill "$p" 2>/dev/null || true; done; rm -rf "$WORK"; }
trap cleanup EXIT

taskset -c 0 "$BIN" serve 127.0.0.1:0 "$MAX_SPANS" >"$WORK/sink.out" &
SINK=$!
pids+=("$SINK")
for _ in $(seq 100); do grep -q '^listening' "$WORK/sink.out" 2>/dev/null && break; sleep 0.1; done
ADDR=$(awk '/^listening/ {print $2}' "$WORK/sink.out")
[ -n "$ADDR" ] || { echo "the sink did not start" >&2; exit 1; }

taskset -c 1 "$BIN" generate "http://$ADDR" "$RATE" "$SECS" >"$WORK/gen.out" &
GEN=$!
pids+=("$GEN")
ticks=$(getconf CLK_TCK)
rss=()
while kill -0 "$GEN" 2>/dev/null; do
  rss+=("$(awk '/^VmRSS/ {print $2}' "/proc/$SINK/status")")
  sleep 1
done
wait "$GEN"
hwm=$(awk '/^VmHWM/ {print $2}' "/proc/$SINK/status")
# utime and stime, fields 14 and 15 of /proc/PID/stat (after the command's parentheses).
cpu=$(sed 's/^.*) //' "/proc/$SINK/stat" | awk -v t="$ticks" '{printf "%.2f", ($12 + $13) / t}')
kill -TERM "$SINK"
wait "$SINK" || true
stats=$(tail -n 1 "$WORK/sink.out")
received=$(echo "$stats" | sed 's/.*"received_spans":\([0-9]*\).*/\1/')
evicted=$(echo "$stats" | sed 's/.*"evicted_spans":\([0-9]*\).*/\1/')
max=$(printf '%s\n' "${rss[@]}" | sort -n | tail -1)
at10=${rss[9]:-${rss[-1]}}
# The second the store first held MAX_SPANS: received / RATE.
full=$(( MAX_SPANS / RATE ))
atfull=${rss[$full]:-n/a}

machine
echo "sink: $SECS s at $RATE spans/s, max_spans $MAX_SPANS; generator: $(cat "$WORK/gen.out")"
echo "sink stats: $stats"
echo "VmRSS KiB: at 10 s $at10, at the cap (~${full} s) $atfull, max $max, end ${rss[-1]}; VmHWM $hwm"
echo "samples (KiB, 1 s apart): ${rss[*]}"
awk -v c="$cpu" -v n="$received" -v s="$SECS" 'BEGIN {printf "CPU: %.2f s over %d s (%.1f%% of a core), %.3f ms per 1k spans\n", c, s, 100 * c / s, (n > 0 ? 1e6 * c / n : 0)}'
echo "evicted: $evicted"
