#!/usr/bin/env bash
# Runs every tollcast test on a fresh machine: set-up, the Rust test suite (unit, conformance,
# interop against the JS reference peers, multi-node, browser), then bounded fuzzing.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh

mkdir -p target
log=target/test.log
echo "test: cargo test --workspace (log: $log)"
set +e
cargo test --workspace --no-fail-fast -- --nocapture 2>&1 | tee "$log" | grep -E '^(test result|running|CONFORMANCE|error|failures:|---- |thread .* panicked)' 
status=${PIPESTATUS[0]}
set -e
echo
echo "== conformance =="
grep -a '^CONFORMANCE' "$log" | sort -u || true
if [ "$status" != 0 ]; then
  echo "test: cargo test FAILED (exit $status); failing tests:"
  grep -a -E '^    [a-z_:0-9]+$|^test .* FAILED' "$log" | sort -u || true
  exit "$status"
fi

if [ -x scripts/fuzz.sh ] && [ "${SKIP_FUZZ:-0}" != 1 ]; then
  echo "== fuzz (bounded) =="
  FUZZ_SECONDS="${FUZZ_SECONDS:-15}" scripts/fuzz.sh
fi
echo "test: all passed"
