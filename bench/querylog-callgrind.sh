#!/bin/bash
# querylog-callgrind.sh - instructions per cache hit of the whole Hanse process (every
# thread, the query log's writer thread included), with the query log off and at privacy
# level 1: the instruction-count form of BENCHMARKS.md's "Query log cost".
#
#   bench/querylog-callgrind.sh [QUERIES] [NAMES] [RATE]
#
# QUERIES cache hits (default 100,000) over NAMES distinct names (default 10,000, the size
# of the bench's hit set) sent by dnsperf at RATE queries a second (default 5,000; under
# valgrind Hanse answers far fewer than natively). Everything runs on 127.92.1.0/24: NSD
# serves the zone `qlog.bench.` on 127.92.1.1 port 5300, Hanse forwards to it from
# 127.92.1.2 port 5300, one worker thread, validation off, API off. For each mode Hanse
# runs under `valgrind --tool=callgrind`; every name is resolved once (not measured), then
# the counters are zeroed (`callgrind_control -z`), the hits are sent, the script waits
# 2 s so that the writer writes them, and the counters are dumped: instructions (Ir) of
# all threads divided by the answered queries. The query log's flush interval is at most
# 1 s (the default; 500 ms before schema 3), so the writer's work of the measured queries
# is inside the 2 s.
#
# Instruction counts do not depend on machine load, but callgrind counts user space
# only: the system calls' kernel time, most of a cache hit's CPU, is not in them, so
# the ratio here is lower than the CPU-time ratio of bench/run.sh. The query rate
# matters with the log on (the writer gathers identical queries of one flush interval
# into one row): what counts is the queries of one interval per distinct name. At RATE
# 5,000 and 10,000 names almost every query of an interval is distinct, the worst case;
# the bench's cache-hit run (about 150,000 a second over 10,000 names) has as many
# queries per name and interval as RATE 5,000 over 333 names, at any flush interval.
#
# Needs valgrind (callgrind_control), nsd and dnsperf; a release build of Hanse
# (HANSE_BIN, or $CARGO_TARGET_DIR/release/hanse, or target/release/hanse).
set -euo pipefail
QUERIES=${1:-100000}
NAMES=${2:-10000}
RATE=${3:-5000}
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
HANSE_BIN=${HANSE_BIN:-${CARGO_TARGET_DIR:-$REPO/target}/release/hanse}
for tool in valgrind callgrind_control nsd dnsperf; do
  command -v "$tool" > /dev/null || { echo "querylog-callgrind.sh: $tool is missing" >&2; exit 1; }
done
[ -x "$HANSE_BIN" ] || { echo "querylog-callgrind.sh: no Hanse binary at $HANSE_BIN (cargo build --release -p hanse)" >&2; exit 1; }
AUTH=127.92.1.1 RESOLVER=127.92.1.2 PORT=5300
RUN=$(mktemp -d /tmp/querylog-callgrind.XXXXXX)
PIDS=()
stop() {  # PID: SIGTERM, up to 10 s, then SIGKILL; only a process this script started
  kill -TERM "$1" 2>/dev/null || true
  for _ in $(seq 100); do kill -0 "$1" 2>/dev/null || break; sleep 0.1; done
  kill -KILL "$1" 2>/dev/null || true
  wait "$1" 2>/dev/null || true
}
cleanup() {
  local i
  for ((i = ${#PIDS[@]} - 1; i >= 0; i--)); do stop "${PIDS[$i]}"; done
  if [ "${KEEP:-0}" = 1 ]; then echo "kept $RUN" >&2; else rm -rf "$RUN"; fi
}
trap cleanup EXIT

# The zone and the query files.
{
  echo "\$ORIGIN qlog.bench."
  echo "\$TTL 86400"
  echo "@ SOA ns hostmaster 1 3600 600 86400 3600"
  echo "@ NS ns"
  echo "ns A $AUTH"
  awk -v n="$NAMES" 'BEGIN { for (i = 0; i < n; i++) printf "n%d A 192.0.2.%d\n", i, i % 250 + 1 }'
} > "$RUN/qlog.bench.zone"
awk -v n="$NAMES" 'BEGIN { for (i = 0; i < n; i++) printf "n%d.qlog.bench A\n", i }' > "$RUN/names.txt"
cat > "$RUN/nsd.conf" <<CONF
server:
  ip-address: $AUTH
  port: $PORT
  do-ip6: no
  server-count: 1
  username: ""
  chroot: ""
  database: ""
  zonelistfile: "$RUN/zone.list"
  xfrdfile: "$RUN/xfrd.state"
  xfrdir: "$RUN"
  pidfile: "$RUN/nsd.pid"
  logfile: "$RUN/nsd.log"
  verbosity: 0
  rrl-ratelimit: 0
  zonefiles-check: no
zone:
  name: "qlog.bench."
  zonefile: "$RUN/qlog.bench.zone"
CONF
nsd -d -c "$RUN/nsd.conf" > "$RUN/nsd.out" 2>&1 &
PIDS+=("$!")

write_config() {  # FILE LOG(on|off)
  cat > "$1" <<CONF
[server]
listen = ["$RESOLVER:$PORT"]
allow_from = ["127.0.0.0/8"]
threads = 1

[resolver]
mode = "forward"
forwarders = ["$AUTH:$PORT"]
query_private_upstreams = true

[dnssec]
validation = false

[api]
enabled = false

[log]
level = "error"
CONF
  if [ "$2" = on ]; then
    cat >> "$1" <<CONF

[query_log]
enabled = true
path = "$RUN/querylog.sqlite"
privacy_level = 1
CONF
  fi
}

# The instructions of QUERIES hits with the log off or on; sets RESULT to "Ir answered".
measure() {
  local mode=$1 pid out dumped answered total
  rm -f "$RUN"/querylog.sqlite* "$RUN"/callgrind.out.*
  write_config "$RUN/hanse-$mode.toml" "$mode"
  valgrind --tool=callgrind --callgrind-out-file="$RUN/callgrind.out.%p" \
    "$HANSE_BIN" serve --config "$RUN/hanse-$mode.toml" > "$RUN/hanse-$mode.log" 2>&1 &
  pid=$!
  PIDS+=("$pid")
  # Ready when it answers (bounded: 60 tries of up to 1 s).
  for _ in $(seq 60); do
    if dnsperf -s "$RESOLVER" -p "$PORT" -d "$RUN/names.txt" -n 1 -l 1 -t 1 -Q 1 2>/dev/null \
        | grep -q "Queries completed: *[1-9]"; then
      break
    fi
    kill -0 "$pid" 2>/dev/null || { cat "$RUN/hanse-$mode.log" >&2; return 1; }
  done
  # Every name once: resolved and cached (not measured).
  dnsperf -s "$RESOLVER" -p "$PORT" -d "$RUN/names.txt" -n 1 -q 20 -t 5 -l 600 > "$RUN/warm-$mode.txt"
  sleep 2
  callgrind_control -z "$pid" > /dev/null
  out=$(dnsperf -s "$RESOLVER" -p "$PORT" -d "$RUN/names.txt" -n $((QUERIES / NAMES)) \
    -q 50 -t 5 -Q "$RATE" -l 600)
  sleep 2
  callgrind_control -d "$pid" > /dev/null
  answered=$(sed -n 's/^ *Queries completed: *\([0-9]*\).*/\1/p' <<< "$out")
  dumped=$(ls "$RUN"/callgrind.out."$pid".* | head -1)
  total=$(sed -n 's/^summary: *\([0-9]*\).*/\1/p' "$dumped")
  RESULT="$total $answered"
  # The next mode listens on the same address: this one goes first.
  stop "$pid"
}

measure off
read -r off_ir off_answered <<< "$RESULT"
measure on
read -r on_ir on_answered <<< "$RESULT"
awk -v a="$off_ir" -v b="$off_answered" -v c="$on_ir" -v d="$on_answered" \
  -v q="$QUERIES" -v n="$NAMES" -v r="$RATE" 'BEGIN {
  off = a / b; on = c / d
  printf "%d hits over %d names at %d/s (callgrind Ir of every thread, per answered query)\n", q, n, r
  printf "  query log off:      %.0f instructions per hit (%d answered)\n", off, b
  printf "  query log level 1:  %.0f instructions per hit (%d answered)\n", on, d
  printf "  off / on:           %.3f\n", off / on
}'
