#!/usr/bin/env bash
# Runs each cargo-fuzz target briefly, starting from the corpus kept in the
# repository (fuzz/corpus/<target>). New inputs go to a scratch directory, so
# a run never changes the repository; a crash fails the run and leaves its
# input in fuzz/artifacts/<target>/.
#
#   scripts/fuzz.sh                     # every target, FUZZ_SECONDS (20) each
#   FUZZ_SECONDS=300 scripts/fuzz.sh return_to
#
# cargo-fuzz needs nightly compiler features; RUSTC_BOOTSTRAP=1 unlocks them
# on the pinned stable toolchain. No sanitizer: the product forbids unsafe
# code, so libFuzzer's coverage and our assertions are what find bugs.
#
# `cargo xtask test` (CI) runs this with the defaults. The targets depend only
# on giponext-shared and giponext-bff-core (no network stack): a cold build
# is about 2.5 CPU-minutes, each target then runs FUZZ_SECONDS.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
"$ROOT/scripts/ensure-tools.sh" cargo_fuzz
cd "$ROOT/fuzz"
export RUSTC_BOOTSTRAP=1
SECONDS_EACH="${FUZZ_SECONDS:-20}"
ALL="return_to scope_parse callback_query upstream_problem"
if [ "$#" -eq 0 ]; then
    # shellcheck disable=SC2086
    set -- $ALL
fi
if [ "$#" -eq 4 ]; then
    cargo fuzz build --sanitizer none --debug-assertions
else
    for target in "$@"; do cargo fuzz build --sanitizer none --debug-assertions "$target"; done
fi
for target in "$@"; do
    scratch="$(mktemp -d)"
    mkdir -p "corpus/$target" "$scratch/new"
    echo "fuzz: $target for ${SECONDS_EACH}s"
    if ! cargo fuzz run --sanitizer none --debug-assertions "$target" \
        "$scratch/new" "corpus/$target" -- \
        -max_total_time="$SECONDS_EACH" -max_len=4096 >"$scratch/log" 2>&1; then
        tail -n 40 "$scratch/log"
        echo "fuzz: $target FAILED (input saved under fuzz/artifacts/$target/)"
        rm -rf "$scratch"
        exit 1
    fi
    # The corpus replay (INITED: every input of corpus/<target> ran) and the
    # fuzzing that followed.
    grep -E '^#[0-9]+[[:space:]]+INITED' "$scratch/log" | tail -n 1 || true
    grep -E '^(Done|#[0-9]+[[:space:]]+DONE)' "$scratch/log" | tail -n 1 || true
    rm -rf "$scratch"
done
echo "fuzz: every target ran without a crash"
