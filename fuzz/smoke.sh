#!/usr/bin/env bash
# Runs every fuzz target and exits non-zero if any of them crashes.
# Usage: fuzz/smoke.sh [SECONDS]
# The parser targets run SECONDS each (default 30); the slower targets beyond
# the parsers (policy_lists, config, api_bodies, resolution) run at most
# FUZZ_SECONDS_BEYOND each (default 6), to keep the CI step short.
#
# cargo-fuzz needs nightly features; RUSTC_BOOTSTRAP=1 enables them on a
# stable toolchain. Install it once with: cargo install cargo-fuzz --locked
set -uo pipefail

seconds="${1:-30}"
beyond="${FUZZ_SECONDS_BEYOND:-6}"
if ((beyond > seconds)); then
    beyond="$seconds"
fi
cd "$(dirname "$0")"
export RUSTC_BOOTSTRAP=1

if ! command -v cargo-fuzz >/dev/null 2>&1; then
    echo "cargo-fuzz is missing: cargo install cargo-fuzz --locked" >&2
    exit 2
fi

failed=()
for entry in message_parse query_view zone_parse dnssec_rdata proxy_header cookie \
    policy_lists:beyond config:beyond api_bodies:beyond resolution:beyond; do
    target="${entry%%:*}"
    limit="$seconds"
    if [[ "$entry" == *:beyond ]]; then
        limit="$beyond"
    fi
    mkdir -p "corpus/$target"
    echo "== $target for ${limit}s"
    # -timeout: an input that takes over 10 s is a hang, reported as a crash.
    if ! cargo fuzz run "$target" "corpus/$target" "seeds/$target" -- \
        -max_total_time="$limit" -timeout=10 -print_final_stats=1; then
        failed+=("$target")
    fi
done

if ((${#failed[@]} > 0)); then
    echo "crashed: ${failed[*]} (inputs in fuzz/artifacts/)" >&2
    exit 1
fi
echo "no crash (${seconds}s per parser target, ${beyond}s per other target)"
