#!/bin/bash
# Launcher for PowerDNS Recursor.  usage: pdns.sh ADDR PORT THREADS DNSSEC(on|off) RUNDIR [--config-only]
# Writes RUNDIR/recursor.conf and execs pdns_recursor in the foreground (PID = this PID).
set -eu
ADDR=$1 PORT=$2 THREADS=$3 DNSSEC=$4 RUNDIR=$5
source "$(dirname "$0")/../bench.env"
mkdir -p "$RUNDIR"
if [ "$DNSSEC" = on ]; then
  printf 'clearTA()\naddTA(".", "%s")\n' "$(cat "$WORK/ta/root.ds.rdata")" > "$RUNDIR/ta.lua"
  DNSSECCONF="dnssec=validate
lua-config-file=$RUNDIR/ta.lua"
else
  DNSSECCONF="dnssec=off"
fi
cat > "$RUNDIR/recursor.conf" <<CONF
local-address=$ADDR
local-port=$PORT
allow-from=127.0.0.0/8
# default dont-query contains 127.0.0.0/8: the synthetic authoritatives would be unreachable
dont-query=
hint-file=$HINTS
$DNSSECCONF
# N worker threads, each with its own SO_REUSEPORT socket, no separate distributor thread
threads=$THREADS
pdns-distributes-queries=no
reuseport=yes
# cache budget: entry-count based (defaults); the 100k-name working set fits without eviction
max-cache-entries=${PDNS_CACHE_ENTRIES:-1000000}
max-packetcache-entries=${PDNS_PACKETCACHE_ENTRIES:-500000}
daemon=no
write-pid=no
socket-dir=$RUNDIR
quiet=yes
loglevel=3
disable-syslog=yes
log-common-errors=no
statistics-interval=0
security-poll-suffix=
webserver=no
CONF
[ "${6:-}" = --config-only ] && exit 0
exec /usr/sbin/pdns_recursor --config-dir="$RUNDIR"
