#!/usr/bin/env bash
# Runs every cargo-fuzz target in fuzz/fuzz_targets for a bounded time each.
#
#   FUZZ_SECONDS=20 scripts/fuzz.sh            # all targets, 20 s each (default)
#   FUZZ_SECONDS=60 scripts/fuzz.sh ilp_packet # selected targets
#   FUZZ_SANITIZER=none scripts/fuzz.sh        # skip AddressSanitizer (faster build and runs)
#
# cargo-fuzz needs nightly-only rustc flags; with only a stable toolchain we set
# RUSTC_BOOTSTRAP=1 so stable rustc accepts them. New inputs go to fuzz/corpus/<target>
# (git-ignored), committed seeds come from fuzz/seeds/<target>, crashes land in
# fuzz/artifacts/<target> and make the script fail.
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root/fuzz"

FUZZ_SECONDS="${FUZZ_SECONDS:-20}"
FUZZ_SANITIZER="${FUZZ_SANITIZER:-address}"
export RUSTC_BOOTSTRAP=1

if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "cargo-fuzz not found: installing it (cargo install cargo-fuzz --locked)" >&2
    cargo install cargo-fuzz --locked
fi

if [ "$#" -gt 0 ]; then
    targets=("$@")
else
    targets=()
    for f in fuzz_targets/*.rs; do
        targets+=("$(basename "$f" .rs)")
    done
fi

start=$(date +%s)
echo "== building ${#targets[@]} fuzz target(s) (sanitizer: $FUZZ_SANITIZER)"
cargo fuzz build -O --sanitizer "$FUZZ_SANITIZER"

for t in "${targets[@]}"; do
    mkdir -p "corpus/$t"
    corpora=("corpus/$t")
    [ -d "seeds/$t" ] && corpora+=("seeds/$t")
    echo "== fuzzing $t for ${FUZZ_SECONDS}s"
    log="$(mktemp)"
    set +e
    cargo fuzz run -O --sanitizer "$FUZZ_SANITIZER" "$t" "${corpora[@]}" -- \
        -max_total_time="$FUZZ_SECONDS" -print_final_stats=1 >"$log" 2>&1
    rc=$?
    set -e
    grep -E '^(Done|stat::number_of_executed_units)' "$log" || true
    if [ "$rc" -ne 0 ]; then
        tail -n 40 "$log" >&2
        rm -f "$log"
        echo "FUZZ $t: FAILED (exit $rc; crashing input in fuzz/artifacts/$t)" >&2
        exit 1
    fi
    rm -f "$log"
    echo "FUZZ $t: ok"
done
echo "== fuzz.sh done in $(( $(date +%s) - start ))s"
