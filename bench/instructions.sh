#!/bin/bash
# instructions.sh - user-space instructions per query of the whole resolver process
# (every thread), counted by valgrind's callgrind: cache misses and cache hits of
# Hanse, and the hits of the floor (`hanse floor`), under a bounded dnsperf load.
#
#   bench/instructions.sh                 # 5,000 misses, 20,000 hits, 20,000 floor queries
#   MISSES=2000 HITS=10000 bench/instructions.sh
#
# Needs valgrind (callgrind_control), nsd, dnsperf, python3 and a release build
# ($CARGO_TARGET_DIR/release/hanse, or HANSE_BIN=...; the release profile keeps line
# tables, so callgrind_annotate can name functions). Instruction counts do not depend
# on the load of the machine, only on what the process does; the kernel's work is not
# counted (callgrind sees user space only).
#
# What it does: generates an unsigned copy of the synthetic hierarchy (lib/gen_zones.py:
# 2 TLDs x 10 zones x 1,000 names) in $WORK, starts its three NSD instances, then Hanse
# (1 worker thread, validation off, API off) under callgrind and
#   1. resolves the first PRIME names of miss.txt (fills the zone cuts), dump;
#   2. resolves the next MISSES names, each once (one upstream query each), dump;
#   3. asks hit.txt once (all cached), dump;
#   4. asks hit.txt HIT_ROUNDS times (HITS queries, saturating), dump;
# and the floor under callgrind: hit.txt once, dump, then HIT_ROUNDS times, dump.
# Ir of dump 2 / answered misses and of dump 4 / answered hits are the results;
# the dump files stay in $WORK/callgrind/ for `callgrind_annotate --inclusive=yes`.
#
# Addresses (127.94.0.0/16, apart from bench/run.sh's 127.53.0.0/16): NSD on
# 127.94.0.10 (root), 127.94.0.11-12 (TLDs), 127.94.1.1-20 (zones), port 53; Hanse on
# 127.94.2.1:5394, the floor on 127.94.2.2:5394. Every process it starts is stopped by
# its PID on exit; every dnsperf run is bounded by a query count and a time limit.
set -euo pipefail
BENCH=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$BENCH/.." && pwd)
WORK=${WORK:-/tmp/hanse-instructions}
HANSE_BIN=${HANSE_BIN:-${CARGO_TARGET_DIR:-$REPO/target}/release/hanse}
PRIME=${PRIME:-500}
MISSES=${MISSES:-5000}
HIT_ROUNDS=${HIT_ROUNDS:-20}
HANSE_ADDR=127.94.2.1 FLOOR_ADDR=127.94.2.2 PORT=5394

for tool in valgrind callgrind_control nsd dnsperf python3; do
  command -v "$tool" > /dev/null || { echo "instructions.sh: $tool is missing" >&2; exit 1; }
done
[ -x "$HANSE_BIN" ] || { echo "instructions.sh: no $HANSE_BIN (cargo build --release -p hanse)" >&2; exit 1; }

PIDS=()
cleanup() {
  local i pid
  for ((i = ${#PIDS[@]} - 1; i >= 0; i--)); do
    pid=${PIDS[$i]}
    kill -TERM "$pid" 2> /dev/null || true
    for _ in $(seq 50); do kill -0 "$pid" 2> /dev/null || break; sleep 0.2; done
    kill -KILL "$pid" 2> /dev/null || true
    wait "$pid" 2> /dev/null || true
  done
}
trap cleanup EXIT
trap 'exit 130' INT TERM

if [ ! -f "$WORK/queries/miss.txt" ]; then
  WORK=$WORK ROOT_ADDR=127.94.0.10 CALIB_ADDR=127.94.0.9 TLD_NET=127.94.0 SLD_NET=127.94.1 \
    ZONES_PER_TLD=10 NAMES_PER_ZONE=1000 HIT_NAMES=1000 SIGN=0 python3 "$BENCH/lib/gen_zones.py"
fi
OUT=$WORK/callgrind
rm -rf "$OUT"
mkdir -p "$OUT"
head -n "$PRIME" "$WORK/queries/miss.txt" > "$OUT/prime.txt"
sed -n "$((PRIME + 1)),$((PRIME + MISSES))p" "$WORK/queries/miss.txt" > "$OUT/miss.txt"

for instance in root tld sld; do
  rm -f "$WORK/nsd/$instance/nsd.pid"
  nsd -d -c "$WORK/nsd/$instance/nsd.conf" > "$OUT/nsd-$instance.log" 2>&1 < /dev/null &
  PIDS+=("$!")
done

# answered QUERIES FILE ROUNDS ADDR OUTSTANDING: runs dnsperf, prints the answered count
answered() {
  local file=$1 rounds=$2 addr=$3 outstanding=$4 log
  log=$OUT/dnsperf-$(date +%s%N).log
  dnsperf -s "$addr" -p "$PORT" -d "$file" -n "$rounds" -c 1 -q "$outstanding" -t 10 -l 600 > "$log" 2>&1
  awk '/Queries completed:/ { print $3 }' "$log"
}
# wait_for ADDR: until a query is answered (at most 120 s: valgrind starts slowly)
wait_for() {
  local end=$((SECONDS + 120))
  echo "h0000.z000.bench A" > "$OUT/probe.txt"
  while [ $SECONDS -lt $end ]; do
    [ "$(dnsperf -s "$1" -p "$PORT" -d "$OUT/probe.txt" -n 1 -t 2 2>&1 | awk '/Queries completed:/ { print $3 }')" = 1 ] && return 0
    sleep 1
  done
  echo "instructions.sh: nothing answers on $1:$PORT" >&2
  exit 1
}
# dump PID NAME: writes the counters since the last dump to OUT/NAME.out
dump() {
  local dumped
  callgrind_control --dump="$2" "$1" > /dev/null
  for _ in $(seq 100); do
    dumped=$(find "$OUT" -name 'callgrind.*.out.*' -print -quit)
    [ -n "$dumped" ] && break
    sleep 0.2
  done
  [ -n "$dumped" ] || { echo "instructions.sh: callgrind wrote no dump for $2" >&2; exit 1; }
  sleep 0.5 # the file is written whole before the next command is read
  mv "$dumped" "$OUT/$2.out"
}
total() { awk '/^(totals|summary):/ { print $2; exit }' "$1"; }

cat > "$OUT/hanse.toml" << CONF
[server]
listen = ["$HANSE_ADDR:$PORT"]
allow_from = ["127.0.0.0/8"]
threads = 1
[resolver]
root_hints = "$WORK/hints/root.hints"
query_private_upstreams = true
qname_minimisation = "relaxed"
[cache]
max_memory = "256MiB"
[dnssec]
validation = false
[api]
enabled = false
[log]
level = "error"
CONF

valgrind --tool=callgrind --callgrind-out-file="$OUT/callgrind.%p.out" \
  "$HANSE_BIN" serve --config "$OUT/hanse.toml" > "$OUT/hanse.log" 2>&1 < /dev/null &
HANSE_PID=$!
PIDS+=("$HANSE_PID")
wait_for "$HANSE_ADDR"
answered "$OUT/prime.txt" 1 "$HANSE_ADDR" 20 > /dev/null
dump "$HANSE_PID" hanse-prime
MISS_ANSWERED=$(answered "$OUT/miss.txt" 1 "$HANSE_ADDR" 20)
dump "$HANSE_PID" hanse-miss
answered "$WORK/queries/hit.txt" 1 "$HANSE_ADDR" 100 > /dev/null
dump "$HANSE_PID" hanse-warm
HIT_ANSWERED=$(answered "$WORK/queries/hit.txt" "$HIT_ROUNDS" "$HANSE_ADDR" 100)
dump "$HANSE_PID" hanse-hit

valgrind --tool=callgrind --callgrind-out-file="$OUT/callgrind.%p.out" \
  "$HANSE_BIN" floor --listen "$FLOOR_ADDR:$PORT" --threads 1 > "$OUT/floor.log" 2>&1 < /dev/null &
FLOOR_PID=$!
PIDS+=("$FLOOR_PID")
wait_for "$FLOOR_ADDR"
answered "$WORK/queries/hit.txt" 1 "$FLOOR_ADDR" 100 > /dev/null
dump "$FLOOR_PID" floor-warm
FLOOR_ANSWERED=$(answered "$WORK/queries/hit.txt" "$HIT_ROUNDS" "$FLOOR_ADDR" 100)
dump "$FLOOR_PID" floor-hit

per() { python3 -c "import sys; a, b = int(sys.argv[1]), int(sys.argv[2]); print(f'{a / b:,.0f}' if b else 'n/a')" "$1" "$2"; }
MISS_IR=$(total "$OUT/hanse-miss.out")
HIT_IR=$(total "$OUT/hanse-hit.out")
FLOOR_IR=$(total "$OUT/floor-hit.out")
printf '%-12s %10s %16s %14s\n' workload answered "Ir (all threads)" "Ir per query"
printf '%-12s %10s %16s %14s\n' "hanse miss" "$MISS_ANSWERED/$(wc -l < "$OUT/miss.txt")" "$MISS_IR" "$(per "$MISS_IR" "$MISS_ANSWERED")"
printf '%-12s %10s %16s %14s\n' "hanse hit" "$HIT_ANSWERED" "$HIT_IR" "$(per "$HIT_IR" "$HIT_ANSWERED")"
printf '%-12s %10s %16s %14s\n' "floor hit" "$FLOOR_ANSWERED" "$FLOOR_IR" "$(per "$FLOOR_IR" "$FLOOR_ANSWERED")"
echo "callgrind files: $OUT/{hanse-miss,hanse-hit,floor-hit}.out (callgrind_annotate --inclusive=yes FILE)"
