#!/usr/bin/env bash
# The project's test command. On a fresh machine it installs what the tests
# need, then runs formatting, lints and the whole test suite.
set -euo pipefail
cd "$(dirname "$0")/.."

need_apt=()
command -v prometheus >/dev/null || need_apt+=(prometheus)
command -v promtool >/dev/null || need_apt+=(prometheus)
command -v amtool >/dev/null || need_apt+=(prometheus-alertmanager)
command -v wrk >/dev/null || need_apt+=(wrk)
command -v tmux >/dev/null || need_apt+=(tmux)
command -v groff >/dev/null || need_apt+=(groff-base)
# HdrHistogram's reference (Java) log processor reads loadgen's --hdr-log in a test.
command -v java >/dev/null || need_apt+=(default-jre-headless)
[ -f /usr/share/java/hdrhistogram.jar ] || need_apt+=(libhdrhistogram-java)
if ((${#need_apt[@]})); then
  echo "==> installing ${need_apt[*]}"
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >/dev/null
fi

# Python tools for the tests, in a venv of their own (pinned versions):
# check-jsonschema (CRD and Grafana schemas), kubernetes-validate (core
# Kubernetes schemas) and dockerfile-parse (the Dockerfile checks), both
# used by scripts/k8s_validate.py, and hdrhistogram (HdrHistogram's Python
# package, which reads loadgen's --hdr-log in loadgen/tests/it/outputs.rs).
VENV=.venv
if ! "$VENV/bin/check-jsonschema" --version >/dev/null 2>&1 ||
  ! "$VENV/bin/python" -c 'import kubernetes_validate, dockerfile_parse, hdrh.log' >/dev/null 2>&1; then
  echo "==> installing check-jsonschema, kubernetes-validate, dockerfile-parse and hdrhistogram into $VENV"
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q --disable-pip-version-check \
    check-jsonschema==0.39.0 kubernetes-validate==1.37.0 dockerfile-parse==2.0.1 \
    hdrhistogram==0.10.8
fi
export CHECK_JSONSCHEMA="$PWD/$VENV/bin/check-jsonschema"
export K8S_PYTHON="$PWD/$VENV/bin/python"
export HDRH_PYTHON="$PWD/$VENV/bin/python"

echo "==> cargo fmt --check"
cargo fmt --all -- --check
echo "==> cargo clippy"
cargo clippy --workspace --all-targets --locked -- -D warnings
echo "==> cargo doc (broken intra-doc links fail)"
RUSTDOCFLAGS="-D warnings" cargo doc --workspace --no-deps --locked -q
echo "==> cargo test"
log=$(mktemp)
trap 'rm -f "$log"' EXIT
set +e
cargo test --workspace --locked 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
set -e
[ "$status" -eq 0 ] || exit "$status"
echo "==> CI gate example (scripts/ci-gate.sh, as examples/ci/github-actions.yml runs it)"
cargo build --workspace --locked --bins -q
bash scripts/ci-gate.sh target/debug
# One closing line for the whole run: the sum of every test binary's results.
awk '/^test result:/ { for (i = 1; i <= NF; i++) { if ($i ~ /^passed/) p += $(i-1); if ($i ~ /^failed/) f += $(i-1) } }
     END { printf "tests: %d passed, %d failed\n", p, f }' "$log"
