#!/usr/bin/env bash
# Bounded fuzzing for CI: runs every fuzz target (fuzz/) for FUZZ_SECONDS (default 60) from
# the committed seeds and minimized corpus. A crash, a leak past the memory limit or a
# timeout fails the run; libFuzzer writes the input to fuzz/artifacts/<target>/ (add it to
# testdata/fuzz/<target>/crashes/ with the fix; `cargo test --test it fuzz_regressions::`
# replays them).
#
# Stable Rust: cargo-fuzz runs with no sanitizer (-s none) and RUSTC_BOOTSTRAP=1 for the
# coverage-instrumentation flags it passes; debug assertions and overflow checks are on (-a).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

if ! command -v cargo-fuzz >/dev/null 2>&1; then
    cargo install --locked cargo-fuzz
fi
secs=${FUZZ_SECONDS:-60}
export RUSTC_BOOTSTRAP=1
for target in build_graph link_fixed; do
    work=$(mktemp -d)
    (cd fuzz && cargo fuzz run -s none -a "$target" "$work" seeds "../testdata/fuzz/$target/corpus" -- \
        -max_total_time="$secs" -rss_limit_mb=1024 -malloc_limit_mb=512 -timeout=10 \
        -max_len=65536 -print_final_stats=1 2>&1 | grep -vE '^#[0-9]+' | tail -n 30)
    rm -rf "$work"
done
