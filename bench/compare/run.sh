#!/usr/bin/env bash
# bench/compare/run.sh - correctness comparison of Hanse against Unbound.
#
# Builds a synthetic DNS hierarchy (gen.py), serves it with four NSD instances on
# 127.57.0.0/16 port 53, starts Hanse and Unbound with those root hints, asks both
# the same questions (dnscompare.py) and compares the answers.  Everything stays on
# loopback; every process started here is stopped by its PID on exit (also on error
# or Ctrl-C).  Needs root (NSD binds port 53), nsd, unbound, python3.
#
#   bench/compare/run.sh [--names N] [--zones Z] [--resolver-cmd CMD] [--keep]
#
# --resolver-cmd replaces the tested resolver's command (env HANSE_COMPARE_RESOLVER_CMD).
# Placeholders: {ADDR} {PORT} {HINTS} {CONFIG} (a Hanse config written for you) {RUNDIR}.
# The special value "unbound" runs a second Unbound instead, to prove the harness itself.
# Exit status: 0 all matched; 1 mismatches; 2 usage; 3 setup/start failure.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
NAMES=3000
ZONES=${HANSE_COMPARE_ZONES:-2400}
NET=${HANSE_COMPARE_NET:-127.57}
TEST_ADDR=${HANSE_COMPARE_ADDR:-127.0.0.57}
TEST_PORT=${HANSE_COMPARE_PORT:-5357}
REF_ADDR=${HANSE_COMPARE_REF_ADDR:-$NET.0.200}
REF_PORT=${HANSE_COMPARE_REF_PORT:-5357}
RESOLVER_CMD=${HANSE_COMPARE_RESOLVER_CMD:-}
TIME_LIMIT=${HANSE_COMPARE_TIME_LIMIT:-100}
KEEP=0

usage() { sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//'; }
while [ $# -gt 0 ]; do
  case "$1" in
    --names) NAMES=$2; shift 2 ;;
    --zones) ZONES=$2; shift 2 ;;
    --resolver-cmd) RESOLVER_CMD=$2; shift 2 ;;
    --keep) KEEP=1; shift ;;
    -h|--help) usage; exit 0 ;;
    *) echo "run.sh: unknown option $1" >&2; usage >&2; exit 2 ;;
  esac
done
[[ "$NAMES" =~ ^[0-9]+$ && "$NAMES" -gt 0 ]] || { echo "run.sh: --names needs a positive number" >&2; exit 2; }
[[ "$ZONES" =~ ^[0-9]+$ && "$ZONES" -ge 8 ]] || { echo "run.sh: --zones needs a number >= 8" >&2; exit 2; }

LOG_TAG=compare
# shellcheck source=../lib/hierarchy.sh
. "$HERE/../lib/hierarchy.sh"

for t in nsd unbound python3 ss flock; do
  command -v "$t" >/dev/null || fail "missing $t (bash scripts/test.sh installs nsd and unbound)"
done
[ "$(id -u)" = 0 ] || fail "needs root: the NSD instances bind port 53 on $NET.x.y"

WORK=$HERE/work
RESULTS=$HERE/results
RUN=$WORK/run
mkdir -p "$WORK" "$RESULTS"

# One comparison at a time on this machine: the addresses and ports are fixed.
exec 9> "$WORK/.lock"
flock -w 300 9 || fail "another bench/compare/run.sh holds $WORK/.lock"

trap cleanup EXIT
trap 'log "interrupted"; exit 130' INT TERM

T0=$SECONDS
rm -rf "$RUN"; mkdir -p "$RUN"
log "generating the hierarchy and $NAMES questions (zones: $ZONES)"
python3 "$HERE/gen.py" --out "$WORK" --names "$NAMES" --zones "$ZONES" --net "$NET" --seed "${COMPARE_SEED:-20261122}"
HINTS=$WORK/root.hints

# ------------------------------------------------------------------ NSD
start_nsd_hierarchy "$WORK"

# ------------------------------------------------------------------ resolvers
unbound_conf() {  # ADDR PORT DIR -> writes DIR/unbound.conf
  mkdir -p "$3"
  cat > "$3/unbound.conf" <<EOF
server:
  interface: $1@$2
  port: $2
  do-ip4: yes
  do-ip6: no
  do-udp: yes
  do-tcp: yes
  num-threads: 1
  username: ""
  chroot: ""
  directory: "$3"
  pidfile: ""
  use-syslog: no
  logfile: ""
  verbosity: 0
  access-control: 127.0.0.0/8 allow
  root-hints: "$HINTS"
  # the synthetic authoritative servers live on 127/8
  do-not-query-localhost: no
  # no validation: the synthetic zones are unsigned
  module-config: "iterator"
  qname-minimisation: yes
  prefetch: no
  rrset-cache-size: 64m
  msg-cache-size: 32m
remote-control:
  control-enable: no
EOF
  unbound-checkconf "$3/unbound.conf" > /dev/null || fail "unbound-checkconf $3/unbound.conf"
}

# reference: Unbound
port_busy "$REF_ADDR" "$REF_PORT" && fail "$REF_ADDR:$REF_PORT is already in use"
unbound_conf "$REF_ADDR" "$REF_PORT" "$RUN/unbound-ref"
start unbound-ref "$RUN/unbound-ref.log" unbound -d -c "$RUN/unbound-ref/unbound.conf"
REF_PID=$LAST_PID

# tested: Hanse (or a substitute)
port_busy "$TEST_ADDR" "$TEST_PORT" && fail "$TEST_ADDR:$TEST_PORT is already in use"
TDIR=$RUN/tested; mkdir -p "$TDIR"
cat > "$TDIR/hanse.toml" <<EOF
# written by bench/compare/run.sh
[server]
listen = ["$TEST_ADDR:$TEST_PORT"]
allow_from = ["127.0.0.0/8"]
threads = 2

[resolver]
mode = "recursive"
root_hints = "$HINTS"
query_private_upstreams = true
qname_minimisation = "relaxed"

[cache]
max_memory = "256MiB"
EOF
TEST_LABEL=hanse
if [ "$RESOLVER_CMD" = unbound ]; then
  TEST_LABEL="unbound (stand-in for hanse)"
  unbound_conf "$TEST_ADDR" "$TEST_PORT" "$TDIR"
  TCMD=(unbound -d -c "$TDIR/unbound.conf")
elif [ -n "$RESOLVER_CMD" ]; then
  TEST_LABEL="custom: $RESOLVER_CMD"
  c=$RESOLVER_CMD
  c=${c//'{ADDR}'/$TEST_ADDR}; c=${c//'{PORT}'/$TEST_PORT}; c=${c//'{HINTS}'/$HINTS}
  c=${c//'{CONFIG}'/$TDIR/hanse.toml}; c=${c//'{RUNDIR}'/$TDIR}
  TCMD=(bash -c "exec $c")
else
  HANSE=${HANSE_BIN:-${CARGO_TARGET_DIR:-$REPO/target}/release/hanse}
  [ -x "$HANSE" ] || fail "$HANSE not found: run 'cargo build --release' first"
  TCMD=("$HANSE" serve --config "$TDIR/hanse.toml")
fi
start tested "$RUN/tested.log" "${TCMD[@]}"
TEST_PID=$LAST_PID

wait_ready unbound-ref "$REF_PID" "$REF_ADDR" "$REF_PORT" 30 "$RUN/unbound-ref.log" \
  || fail "reference unbound did not start"
wait_ready "$TEST_LABEL" "$TEST_PID" "$TEST_ADDR" "$TEST_PORT" 30 "$RUN/tested.log" \
  || fail "the tested resolver ($TEST_LABEL) failed to start"
log "resolvers up: tested $TEST_ADDR:$TEST_PORT, reference unbound $REF_ADDR:$REF_PORT"

# ------------------------------------------------------------------ compare
TS=$(date -u +%Y%m%dT%H%M%SZ)
REPORT=$RESULTS/compare-$TS.json
set +e
python3 "$HERE/dnscompare.py" run --work "$WORK" --meta "$WORK/meta.json" \
  --test "$TEST_ADDR:$TEST_PORT" --ref "$REF_ADDR:$REF_PORT" \
  --test-label "$TEST_LABEL" --ref-label "unbound $(unbound -V | sed -n 's/^Version //p')" \
  --time-limit "$TIME_LIMIT" --report "$REPORT"
rc=$?
set -e
ln -sfn "$(basename "$REPORT")" "$RESULTS/latest.json"
# a resolver that died during the run is a failure even if the numbers look fine
kill -0 "$TEST_PID" 2>/dev/null || { log "the tested resolver exited during the run"; tail -20 "$RUN/tested.log" >&2; rc=1; }
kill -0 "$REF_PID" 2>/dev/null || { log "the reference unbound exited during the run"; rc=3; }
if [ "$rc" != 0 ] && [ -s "$RUN/tested.log" ]; then
  log "last lines of the tested resolver's log:"; tail -10 "$RUN/tested.log" >&2
fi
log "done in $(( SECONDS - T0 )) s, exit $rc"
exit "$rc"
