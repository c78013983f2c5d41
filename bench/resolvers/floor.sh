#!/bin/bash
# Launcher for the floor: `hanse floor`, which answers every UDP query with one canned
# A record using Hanse's socket strategy (one SO_REUSEPORT socket and one
# current-thread runtime per worker thread; crates/server/src/floor.rs).
# usage: floor.sh ADDR PORT THREADS DNSSEC RUNDIR [--config-only]   (DNSSEC is ignored)
set -eu
ADDR=$1 PORT=$2 THREADS=$3 RUNDIR=$5
source "$(dirname "$0")/../bench.env"
mkdir -p "$RUNDIR"
[ "${6:-}" = --config-only ] && exit 0
exec "$HANSE_BIN" floor --listen "$ADDR:$PORT" --threads "$THREADS"
