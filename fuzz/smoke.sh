#!/usr/bin/env bash
# Runs every fuzz target for N seconds (default 30) and exits non-zero if any
# of them crashes. Usage: fuzz/smoke.sh [SECONDS]
#
# cargo-fuzz needs nightly features; RUSTC_BOOTSTRAP=1 enables them on a
# stable toolchain. Install it once with: cargo install cargo-fuzz --locked
set -uo pipefail

seconds="${1:-30}"
cd "$(dirname "$0")"
export RUSTC_BOOTSTRAP=1

if ! command -v cargo-fuzz >/dev/null 2>&1; then
    echo "cargo-fuzz is missing: cargo install cargo-fuzz --locked" >&2
    exit 2
fi

failed=()
for target in message_parse query_view zone_parse dnssec_rdata proxy_header cookie; do
    mkdir -p "corpus/$target"
    echo "== $target for ${seconds}s"
    if ! cargo fuzz run "$target" "corpus/$target" "seeds/$target" -- \
        -max_total_time="$seconds" -print_final_stats=1; then
        failed+=("$target")
    fi
done

if ((${#failed[@]} > 0)); then
    echo "crashed: ${failed[*]} (inputs in fuzz/artifacts/)" >&2
    exit 1
fi
echo "no crash in ${seconds}s per target"
