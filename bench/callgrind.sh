#!/bin/bash
# callgrind.sh - instruction counts of Hanse's cache-hit hot path (QueryView::parse,
# cache key, AnswerCache::get, StoredAnswer::write_to), measured under valgrind's
# callgrind by the gungraun benchmark crates/server/benches/hot_path.rs.
#
#   bench/callgrind.sh            run the benchmark, print instructions per query
#
# Needs valgrind and gungraun-runner of the same version as the gungraun
# dev-dependency in crates/server/Cargo.toml; installs the runner when missing:
#   cargo install gungraun-runner --version <that version> --locked
# Instruction counts do not depend on machine load; gungraun keeps the previous run
# under target/gungraun/ and prints the change against it.
set -euo pipefail
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
command -v valgrind > /dev/null || { echo "callgrind.sh: valgrind is missing (apt-get install valgrind)" >&2; exit 1; }
VERSION=$(sed -n 's/^gungraun = "\([0-9.]*\)".*/\1/p' "$REPO/crates/server/Cargo.toml")
[ -n "$VERSION" ] || { echo "callgrind.sh: no gungraun dev-dependency in crates/server/Cargo.toml" >&2; exit 1; }
if ! gungraun-runner --version 2>/dev/null | grep -q "$VERSION"; then
  echo "installing gungraun-runner $VERSION" >&2
  cargo install gungraun-runner --version "$VERSION" --locked
fi
cd "$REPO"
OUT=$(mktemp)
trap 'rm -f "$OUT"' EXIT
cargo bench -p hanse-server --bench hot_path 2>&1 | tee "$OUT"
echo
echo "instructions per cached answer (callgrind Ir of one call, setup excluded):"
awk '/^hot_path::/ { name = $2; sub(/:.*/, "", name) }
     /Instructions:/ { split($2, count, "|"); print "  " name ": " count[1] " instructions" }' "$OUT"
