#!/usr/bin/env bash
# Runs the fuzz targets one after the other for SECONDS each (default 1800), at the lowest
# priority, on stable Rust: no sanitizer (-s none), libFuzzer's coverage instrumentation only,
# debug assertions and overflow checks on (-a). Crashes land in fuzz/artifacts/<target>/.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"
secs=${1:-1800}
shift || true
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(build_graph link_fixed)
export RUSTC_BOOTSTRAP=1
for t in "${targets[@]}"; do
    mkdir -p "corpus/$t"
    nice -n 19 cargo fuzz run -s none -a "$t" "corpus/$t" seeds -- \
        -max_total_time="$secs" -rss_limit_mb=1024 -malloc_limit_mb=512 -timeout=10 -max_len=65536 \
        -print_final_stats=1
done
