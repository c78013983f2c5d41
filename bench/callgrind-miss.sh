#!/bin/bash
# callgrind-miss.sh - instructions per cache miss of `hanse serve`, DNSSEC validation
# off and on, counted by valgrind's callgrind (instruction counts do not depend on the
# machine's load, unlike the CPU time of run.sh).
#
#   bench/callgrind-miss.sh [WARM] [MISSES]      (defaults 300 and 1000)
#
# A small signed copy of the bench hierarchy (lib/gen_zones.py: root, 2 TLDs, 10 zones
# of 1,000 names, ECDSA P-256) on 127.93.0.0/16 under $WORK (default /tmp/hanse-callgrind-miss),
# three NSD instances, and Hanse (1 worker) under callgrind on 127.93.2.1 (off) and
# 127.93.2.2 (on), both at once. Each Hanse first answers WARM distinct names (every
# zone's delegation, DS and DNSKEY get cached), then the counters are zeroed
# (callgrind_control -z), MISSES further distinct names are asked (dnsperf -n 1, 100
# queries/s), the counters dumped (-d). Prints instructions per miss for both modes and
# the functions with the most instructions of their own with validation on.
# Needs root (port 53), nsd, ldnsutils, dnsperf, dig, valgrind, python3, and a release
# build: $HANSE_BIN or $CARGO_TARGET_DIR/release/hanse (or target/release/hanse).
# Takes about 4 minutes. Every process it starts is stopped by PID.
set -euo pipefail
BENCH=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$BENCH/.." && pwd)
WARM=${1:-300}
MISSES=${2:-1000}
WORK=${WORK:-/tmp/hanse-callgrind-miss}
HANSE_BIN=${HANSE_BIN:-${CARGO_TARGET_DIR:-$REPO/target}/release/hanse}
for tool in nsd ldns-signzone dnsperf dig valgrind callgrind_control python3; do
  command -v "$tool" > /dev/null || { echo "callgrind-miss.sh: $tool is missing" >&2; exit 1; }
done
[ -x "$HANSE_BIN" ] || { echo "callgrind-miss.sh: no Hanse binary at $HANSE_BIN" >&2; exit 1; }

PIDS=()
stop_all() {
  for pid in "${PIDS[@]}"; do kill "$pid" 2> /dev/null || true; done
  for pid in "${PIDS[@]}"; do wait "$pid" 2> /dev/null || true; done
}
trap stop_all EXIT

if [ ! -f "$WORK/zones.json" ]; then
  WORK=$WORK CALIB_ADDR=127.93.0.9 ROOT_ADDR=127.93.0.10 TLD_NET=127.93.0 SLD_NET=127.93.1 \
    ZONES_PER_TLD=5 NAMES_PER_ZONE=1000 HIT_NAMES=1000 python3 "$BENCH/lib/gen_zones.py"
fi
for instance in root tld sld; do
  /usr/sbin/nsd -d -c "$WORK/nsd/$instance/nsd.conf" > "$WORK/nsd-$instance.out" 2>&1 &
  PIDS+=($!)
done
for _ in $(seq 1 50); do
  dig @127.93.1.1 +norec +time=1 +tries=1 z000.bench SOA 2> /dev/null | grep -q NOERROR && break
  sleep 0.2
done

# measure MODE ADDRESS: writes $WORK/run-MODE/result (instructions of the measured part).
measure() {
  local mode=$1 address=$2 run=$WORK/run-$1 validation
  rm -rf "$run"
  mkdir -p "$run"
  if [ "$mode" = on ]; then
    validation="validation = true
trust_anchor_file = \"$WORK/ta/root.ds\""
  else
    validation="validation = false"
  fi
  cat > "$run/hanse.toml" << CONF
[server]
listen = ["$address:53"]
allow_from = ["127.0.0.0/8"]
threads = 1
[resolver]
root_hints = "$WORK/hints/root.hints"
query_private_upstreams = true
qname_minimisation = "relaxed"
[cache]
max_memory = "64MiB"
[api]
enabled = false
[dnssec]
$validation
[log]
level = "error"
CONF
  valgrind --tool=callgrind --compress-strings=no --callgrind-out-file="$run/callgrind.out" \
    "$HANSE_BIN" serve --config "$run/hanse.toml" > "$run/hanse.log" 2>&1 &
  local pid=$!
  for _ in $(seq 1 120); do
    dig @"$address" +time=2 +tries=1 z000.bench SOA > /dev/null 2>&1 && break
    sleep 1
  done
  sed -n "1,${WARM}p" "$WORK/queries/miss.txt" > "$run/warm.txt"
  sed -n "$((WARM + 1)),$((WARM + MISSES))p" "$WORK/queries/miss.txt" > "$run/misses.txt"
  dnsperf -s "$address" -d "$run/warm.txt" -n 1 -Q 100 -t 20 -l 300 > "$run/warm.log" 2>&1
  sleep 1
  callgrind_control -z "$pid" > /dev/null
  dnsperf -s "$address" -d "$run/misses.txt" -n 1 -Q 100 -t 20 -l 600 > "$run/misses.log" 2>&1
  sleep 1
  callgrind_control -d "$pid" > /dev/null
  kill -TERM "$pid"
  wait "$pid" || true
  grep -q "Queries completed: *$MISSES " "$run/misses.log" \
    || { echo "callgrind-miss.sh: not every miss was answered ($mode):" >&2; grep Queries "$run/misses.log" >&2; }
  sed -n 's/^summary: //p' "$run/callgrind.out.1" > "$run/result"
}

measure off 127.93.2.1 &
PIDS+=($!)
measure on 127.93.2.2 &
PIDS+=($!)
wait "${PIDS[-1]}" "${PIDS[-2]}"
off=$(cat "$WORK/run-off/result")
on=$(cat "$WORK/run-on/result")
echo "binary: $HANSE_BIN; $MISSES misses after $WARM warm-up names"
echo "instructions per miss, validation off: $((off / MISSES))"
echo "instructions per miss, validation on:  $((on / MISSES))"
python3 -c "print(f'on / off: {$on / $off:.2f}')"
echo "functions with the most instructions of their own, validation on:"
# Self cost per function from the dump (callgrind_annotate 3.19 puts a dump made by
# callgrind_control all under `clone`, so the file is read directly).
python3 - "$WORK/run-on/callgrind.out.1" << 'PY'
import collections, re, sys
own = collections.Counter()
function, call = None, False
for line in open(sys.argv[1], errors="replace"):
    line = line.rstrip("\n")
    if line.startswith("fn="):
        function, call = line[3:], False
    elif line.startswith("calls="):
        call = True
    elif line[:1].isdigit() or line[:1] in "+-*":
        fields = line.split()
        if len(fields) >= 2 and function is not None:
            if call:
                call = False
            else:
                own[function] += int(fields[1])
total = sum(own.values())
for function, count in own.most_common(15):
    print(f"{count:>14,} {100 * count / total:5.1f}%  {function[:110]}")
PY
