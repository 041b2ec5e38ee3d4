#!/usr/bin/env bash
# Regenerates every checked-in generated file: alerts/, dashboards/, the
# generated files in k8s/, slo's import goldens and the JSON Schemas. The
# files and the commands that make them are one table, in
# slo/tests/it/goldens.rs; this runs that test with UPDATE_GOLDENS=1, which
# rewrites each stale file (without it, the test fails naming them).
#
#   bash scripts/generate.sh
set -euo pipefail
cd "$(dirname "$0")/.."
UPDATE_GOLDENS=1 cargo test -q --locked -p slo --test it goldens -- --nocapture
