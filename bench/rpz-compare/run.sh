#!/usr/bin/env bash
# bench/rpz-compare/run.sh - the same response policy zones in BIND 9 and in
# Hanse, over the same synthetic hierarchy, must give the same answers.
#
# Builds a small hierarchy (bench/compare/gen.py) plus lab zones and three
# policy zones (gen_rpz.py), serves the hierarchy with four NSD instances on
# 127.58.0.0/16 port 53, starts BIND (named) and Hanse as recursive resolvers
# with the same root hints and policy zones, asks both every case from the
# case's client address (rpzcompare.py) and prints a table.  Everything stays
# on loopback; every process started here is stopped by its PID on exit.
# Needs root (NSD binds port 53), nsd, named, python3, ss, flock.
#
#   bench/rpz-compare/run.sh [--keep]
#
# Exit status: 0 every case matched (or is a documented known difference);
# 1 mismatches; 2 usage; 3 set-up or start failure.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
NET=${HANSE_RPZ_NET:-127.58}
HANSE_ADDR=${HANSE_RPZ_ADDR:-127.0.0.58}
# named listens only on addresses configured on an interface: 127.0.0.1 on lo
BIND_ADDR=${HANSE_RPZ_BIND_ADDR:-127.0.0.1}
PORT=${HANSE_RPZ_PORT:-5358}
CLIENT_NET=127.0.58
KEEP=0
while [ $# -gt 0 ]; do
  case "$1" in
    --keep) KEEP=1; shift ;;
    -h|--help) sed -n '2,17p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "run.sh: unknown option $1" >&2; exit 2 ;;
  esac
done

LOG_TAG=rpz-compare
# shellcheck source=../lib/hierarchy.sh
. "$HERE/../lib/hierarchy.sh"

for t in nsd nsd-checkconf named named-checkconf python3 ss flock; do
  command -v "$t" >/dev/null || fail "missing $t (Debian: apt-get install nsd bind9)"
done
[ "$(id -u)" = 0 ] || fail "needs root: the NSD instances bind port 53 on $NET.x.y"
HANSE=${HANSE_BIN:-${CARGO_TARGET_DIR:-$REPO/target}/release/hanse}
[ -x "$HANSE" ] || fail "$HANSE not found: run 'cargo build --release -p hanse' first"

WORK=$HERE/work
RESULTS=$HERE/results
RUN=$WORK/run
mkdir -p "$WORK" "$RESULTS"
exec 9> "$WORK/.lock"
flock -w 300 9 || fail "another bench/rpz-compare/run.sh holds $WORK/.lock"
trap cleanup EXIT
trap 'log "interrupted"; exit 130' INT TERM

T0=$SECONDS
rm -rf "$RUN"; mkdir -p "$RUN"
python3 "$HERE/../compare/gen.py" --out "$WORK" --names 1 --zones 48 --net "$NET" --seed 20261122
python3 "$HERE/gen_rpz.py" --work "$WORK" --net "$NET" --client-net "$CLIENT_NET"
HINTS=$WORK/root.hints
ZONES=(first second third)

start_nsd_hierarchy "$WORK"

# ------------------------------------------------------------------ BIND
# Every option is explained in bench/README.md ("RPZ answers: Hanse against BIND 9").
B=$RUN/bind; mkdir -p "$B"
cp "$HINTS" "$B/root.hints"
{
  cat <<EOF
options {
  directory "$B";
  pid-file "$B/named.pid";
  session-keyfile "$B/session.key";
  listen-on port $PORT { $BIND_ADDR; };
  listen-on-v6 { none; };
  recursion yes;
  allow-query { 127.0.0.0/8; };
  allow-recursion { 127.0.0.0/8; };
  dnssec-validation no;
  qname-minimization relaxed;
  empty-zones-enable no;
  notify no;
  minimal-responses no;
  max-cache-size 64m;
  response-policy {
EOF
  for z in "${ZONES[@]}"; do echo "    zone \"$z.rpz\";"; done
  cat <<EOF
  } break-dnssec no recursive-only yes max-policy-ttl 1h
    qname-wait-recurse yes nsip-wait-recurse yes nsdname-wait-recurse yes
    nsip-enable yes nsdname-enable yes;
};
logging { channel stderr_only { stderr; severity info; print-time yes; };
          category default { stderr_only; }; category rpz { stderr_only; }; };
controls { };
zone "." { type hint; file "root.hints"; };
EOF
  for z in "${ZONES[@]}"; do
    echo "zone \"$z.rpz\" { type primary; file \"$WORK/rpz/$z-rpz.zone\"; allow-query { none; }; };"
  done
} > "$B/named.conf"
named-checkconf -z "$B/named.conf" > "$B/checkconf.log" 2>&1 \
  || { cat "$B/checkconf.log" >&2; fail "named-checkconf $B/named.conf"; }
port_busy "$BIND_ADDR" "$PORT" && fail "$BIND_ADDR:$PORT is already in use"
start named "$RUN/named.log" named -g -4 -n 1 -c "$B/named.conf"
BIND_PID=$LAST_PID

# ------------------------------------------------------------------ Hanse
H=$RUN/hanse; mkdir -p "$H"
{
  cat <<EOF
# written by bench/rpz-compare/run.sh
[server]
listen = ["$HANSE_ADDR:$PORT"]
allow_from = ["127.0.0.0/8"]
threads = 1

[resolver]
mode = "recursive"
root_hints = "$HINTS"
query_private_upstreams = true
qname_minimisation = "relaxed"

[cache]
max_memory = "64MiB"
EOF
  for z in "${ZONES[@]}"; do
    printf '\n[[policy.feed]]\nname = "%s"\nformat = "rpz"\nfile = "%s"\n' "$z" "$WORK/rpz/$z-rpz.zone"
  done
  printf '\n[[policy.profile]]\nname = "default"\nfeeds = ["first", "second", "third"]\n'
} > "$H/hanse.toml"
port_busy "$HANSE_ADDR" "$PORT" && fail "$HANSE_ADDR:$PORT is already in use"
start hanse "$RUN/hanse.log" "$HANSE" serve --config "$H/hanse.toml"
HANSE_PID=$LAST_PID

wait_ready named "$BIND_PID" "$BIND_ADDR" "$PORT" 30 "$RUN/named.log" || fail "named did not start"
wait_ready hanse "$HANSE_PID" "$HANSE_ADDR" "$PORT" 30 "$RUN/hanse.log" || fail "hanse did not start"
for s in "$BIND_ADDR:$PORT" "$HANSE_ADDR:$PORT"; do
  python3 "$HERE/rpzcompare.py" ready --cases "$WORK/cases.json" --server "$s" --timeout 30 \
    || fail "$s did not load the policy zones"
done
log "resolvers up: BIND $BIND_ADDR:$PORT, Hanse $HANSE_ADDR:$PORT ($(( SECONDS - T0 )) s)"

# ------------------------------------------------------------------ compare
REPORT=$RESULTS/rpz-compare-$(date -u +%Y%m%dT%H%M%SZ).json
set +e
python3 "$HERE/rpzcompare.py" run --cases "$WORK/cases.json" \
  --bind "$BIND_ADDR:$PORT" --hanse "$HANSE_ADDR:$PORT" --known "$HERE/known-differences.json" \
  --bind-label "$(named -v)" --report "$REPORT"
rc=$?
set -e
ln -sfn "$(basename "$REPORT")" "$RESULTS/latest.json"
kill -0 "$HANSE_PID" 2>/dev/null || { log "hanse exited during the run"; tail -20 "$RUN/hanse.log" >&2; rc=1; }
kill -0 "$BIND_PID" 2>/dev/null || { log "named exited during the run"; rc=3; }
log "done in $(( SECONDS - T0 )) s, exit $rc"
exit "$rc"
