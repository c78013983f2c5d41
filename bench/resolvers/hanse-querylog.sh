#!/bin/bash
# Launcher for Hanse with the query log on.  usage: hanse-querylog.sh ADDR PORT THREADS DNSSEC RUNDIR [--config-only]
# The same settings as hanse.sh plus [query_log] at privacy level 1 (pseudonymised
# clients), its SQLite database in RUNDIR; the default queue and batches.  Its cache-hit
# CPU per query against hanse's is the query log's cost (BENCHMARKS.md, "Query log cost").
set -eu
ADDR=$1 PORT=$2 THREADS=$3 DNSSEC=$4 RUNDIR=$5
HERE=$(dirname "$0")
"$HERE/hanse.sh" "$ADDR" "$PORT" "$THREADS" "$DNSSEC" "$RUNDIR" --config-only-write
cat >> "$RUNDIR/hanse.toml" <<CONF

[query_log]
enabled = true
path = "$RUNDIR/querylog.sqlite"
privacy_level = 1
CONF
source "$HERE/../bench.env"
if [ "${6:-}" = --config-only ]; then
  [ -x "$HANSE_BIN" ] || exit 0
  "$HANSE_BIN" check-config "$RUNDIR/hanse.toml" > /dev/null
  exit 0
fi
exec "$HANSE_BIN" serve --config "$RUNDIR/hanse.toml"
