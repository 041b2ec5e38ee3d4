#!/usr/bin/env bash
# Cold build cost: a release build of the workspace into an empty target
# directory, with cargo's --timings report; prints the wall time, the crate
# count and the ten most expensive compilation units.
#
#   bench/build-time.sh [PROFILE] [TARGET_DIR]
#
# PROFILE is release (the default) or test (cargo test --workspace --no-run,
# what scripts/test.sh builds). TARGET_DIR defaults to a fresh temporary
# directory, deleted at the end; the report is copied to target/bench-timings/. Run on a
# quiet machine: other builds inflate every number.
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh
need python3 "apt-get install python3"

profile=${1:-release}
dir=${2:-}
cleanup=""
if [ -z "$dir" ]; then
  dir=$(mktemp -d /tmp/cold-build.XXXXXX)
  cleanup=$dir
fi
trap '[ -z "$cleanup" ] || rm -rf "$cleanup"' EXIT
[ -z "$(ls -A "$dir" 2>/dev/null)" ] || { echo "$dir is not empty: the build would not be cold" >&2; exit 2; }

case $profile in
  release) cmd=(cargo build --release --workspace --locked --timings) ;;
  test) cmd=(cargo test --workspace --locked --no-run --timings) ;;
  *) echo "profile must be release or test, got $profile" >&2; exit 2 ;;
esac

machine
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "crates (normal): $(cargo tree --workspace -e normal --prefix none | sort -u | wc -l)"
echo "crates (normal, build, dev): $(cargo tree --workspace -e normal,build,dev --prefix none | sort -u | wc -l)"
start=$(date +%s)
CARGO_TARGET_DIR=$dir "${cmd[@]}" >/dev/null 2>&1
end=$(date +%s)
echo "${cmd[*]}: $((end - start)) s wall"
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
mkdir -p target/bench-timings
report=target/bench-timings/cargo-timing-$profile-$(date +%Y%m%dT%H%M%S).html
cp "$dir/cargo-timings/cargo-timing.html" "$report"
echo "report: $report"
python3 bench/timings-top.py "$report" 10
