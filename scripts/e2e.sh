#!/usr/bin/env bash
# scripts/e2e.sh - the dashboard's end-to-end test in Debian's headless Chromium.
#
#   bash scripts/e2e.sh
#
# 1. installs what it needs if missing (Debian: chromium, nsd, dnsutils for dig,
#    nodejs and npm; npm ci in tests/e2e: playwright-core, which drives the Debian
#    browser and never downloads one);
# 2. uses the release binary ${HANSE_BIN:-${CARGO_TARGET_DIR:-target}/release/hanse},
#    building it with `cargo build --release -p hanse` if it is missing;
# 3. starts the world in a temporary directory: NSD for the root zone on
#    127.63.0.1:53 and for `example.` on 127.63.0.2:53, and Hanse on 127.63.0.10:53
#    (DNS) and 127.63.0.10:8053 (API and dashboard), recursing from root hints that
#    name 127.63.0.1, with the query log on (privacy level 0) and a feed
#    `kids-block` (a hosts file listing blocked.example) used by profile `kids` only;
# 4. runs tests/e2e/dashboard.mjs (what it checks is listed at its top), which
#    writes screenshots to tests/e2e/results/;
# 5. stops every process it started, by PID (trap on EXIT), and exits non-zero on
#    any failure; the logs are kept (and their ends printed) when it fails.
#
# Addresses: 127.63.0.1, 127.63.0.2 (NSD), 127.63.0.10 (Hanse); clients 127.0.0.1
# and 127.0.0.77. Nothing else may listen on 127.63.0.1-2:53 or 127.63.0.10:53/8053.
# Environment: SKIP_INSTALL=1 skips step 1; KEEP=1 keeps the world's directory;
# HANSE_BIN picks the binary. After the installs the run takes well under 2 minutes.
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
E2E=$REPO/tests/e2e
HANSE_BIN=${HANSE_BIN:-${CARGO_TARGET_DIR:-$REPO/target}/release/hanse}
ROOT_ADDRESS=127.63.0.1
EXAMPLE_ADDRESS=127.63.0.2
HANSE_ADDRESS=127.63.0.10
DNS_PORT=53
API_PORT=8053
PIDS=()
RUN=""

log() { printf '[e2e.sh %s] %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }
fail() { log "ERROR: $*"; exit 1; }

stop_pid() { # SIGTERM, wait up to 5 s, then SIGKILL; only a PID we started
  local pid=$1 i
  kill -TERM "$pid" 2>/dev/null || { wait "$pid" 2>/dev/null || true; return 0; }
  for i in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  if kill -0 "$pid" 2>/dev/null; then
    log "pid $pid ignored SIGTERM, sending SIGKILL"
    kill -KILL "$pid" 2>/dev/null || true
  fi
  wait "$pid" 2>/dev/null || true
}
cleanup() {
  local rc=$? i f
  trap - EXIT INT TERM
  for ((i = ${#PIDS[@]} - 1; i >= 0; i--)); do stop_pid "${PIDS[$i]}"; done
  if [ -n "$RUN" ] && [ -d "$RUN" ]; then
    if [ "$rc" = 0 ] && [ "${KEEP:-0}" = 0 ]; then
      rm -rf "$RUN"
    else
      for f in "$RUN"/*.log; do
        [ -s "$f" ] || continue
        log "last lines of $f:"
        tail -15 "$f" >&2
      done
      log "the world's files and logs are kept in $RUN"
    fi
  fi
  if [ "$rc" = 0 ]; then log "passed ($SECONDS s)"; else log "FAILED (exit $rc, $SECONDS s)"; fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# start NAME CMD... : starts CMD in the background, output to $RUN/NAME.log
start() {
  local name=$1
  shift
  "$@" >"$RUN/$name.log" 2>&1 </dev/null &
  PIDS+=("$!")
  LAST_PID=$!
  log "started $name (pid $LAST_PID): $*"
}

# wait_dns NAME PID ADDRESS QNAME SECONDS : until ADDRESS:53 answers QNAME (any rcode)
wait_dns() {
  local name=$1 pid=$2 address=$3 qname=$4 end=$((SECONDS + $5))
  while [ $SECONDS -lt $end ]; do
    kill -0 "$pid" 2>/dev/null || fail "$name (pid $pid) exited"
    if dig -p "$DNS_PORT" @"$address" "$qname" SOA +time=1 +tries=1 +norecurse 2>/dev/null |
      grep -q 'status: '; then
      return 0
    fi
    sleep 0.2
  done
  fail "$name did not answer on $address:$DNS_PORT within $5 s"
}

port_busy() { # ADDRESS PORT PROTOCOL(u|t) -> 0 if something listens there
  ss -Hln"$3" 2>/dev/null | awk '{print $4}' | grep -qxE "($1|0\.0\.0\.0|\*|\[::\]):$2"
}

# ------------------------------------------------------------------ installs
if [ "${SKIP_INSTALL:-0}" != 1 ]; then
  missing=()
  command -v chromium >/dev/null || missing+=(chromium)
  command -v nsd >/dev/null || missing+=(nsd)
  command -v dig >/dev/null || missing+=(dnsutils)
  command -v ss >/dev/null || missing+=(iproute2)
  command -v curl >/dev/null || missing+=(curl)
  command -v node >/dev/null || missing+=(nodejs)
  command -v npm >/dev/null || missing+=(npm)
  if [ ${#missing[@]} -gt 0 ]; then
    log "installing: ${missing[*]}"
    SUDO=""
    [ "$(id -u)" = 0 ] || SUDO=sudo
    $SUDO apt-get update
    # nsd's package would start its own service on port 53: a temporary
    # policy-rc.d (Debian's mechanism for this) keeps any service from starting.
    POLICY=/usr/sbin/policy-rc.d
    ADDED_POLICY=0
    if [ ! -e "$POLICY" ]; then
      printf '#!/bin/sh\nexit 101\n' | $SUDO tee "$POLICY" >/dev/null
      $SUDO chmod 755 "$POLICY"
      ADDED_POLICY=1
    fi
    set +e
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y --no-install-recommends "${missing[@]}"
    rc=$?
    set -e
    [ "$ADDED_POLICY" = 1 ] && $SUDO rm -f "$POLICY"
    [ "$rc" = 0 ] || exit "$rc"
  fi
  if ! (cd "$E2E" && node -e 'require.resolve("playwright-core")' 2>/dev/null) ||
    [ "$E2E/package-lock.json" -nt "$E2E/node_modules/.package-lock.json" ]; then
    log "npm ci in tests/e2e"
    (cd "$E2E" && npm ci --no-audit --no-fund)
  fi
fi
for tool in chromium nsd dig ss curl node; do
  command -v "$tool" >/dev/null || fail "$tool is missing (run without SKIP_INSTALL=1)"
done
[ -d "$E2E/node_modules/playwright-core" ] || fail "playwright-core is missing: npm ci in tests/e2e"

if [ ! -x "$HANSE_BIN" ]; then
  log "building $HANSE_BIN"
  (cd "$REPO" && cargo build --release -p hanse)
fi
[ -x "$HANSE_BIN" ] || fail "no binary at $HANSE_BIN"

SECONDS=0
for address in $ROOT_ADDRESS $EXAMPLE_ADDRESS $HANSE_ADDRESS; do
  port_busy "$address" "$DNS_PORT" u && fail "$address:$DNS_PORT (UDP) is already in use"
done
port_busy "$HANSE_ADDRESS" "$API_PORT" t && fail "$HANSE_ADDRESS:$API_PORT (TCP) is already in use"

# ------------------------------------------------------------------ the world
RUN=$(mktemp -d /tmp/hanse-e2e.XXXXXX)
log "world in $RUN"

cat >"$RUN/root.zone" <<EOF
.               3600 IN SOA ns.root-servers.test. hostmaster.root-servers.test. 1 3600 600 86400 300
.               3600 IN NS  ns.root-servers.test.
ns.root-servers.test. 3600 IN A $ROOT_ADDRESS
example.        3600 IN NS  ns.example.
ns.example.     3600 IN A   $EXAMPLE_ADDRESS
EOF
cat >"$RUN/example.zone" <<EOF
\$ORIGIN example.
@          3600 IN SOA ns hostmaster 1 3600 600 86400 300
@          3600 IN NS  ns
ns         3600 IN A   $EXAMPLE_ADDRESS
www        300  IN A   127.63.1.1
blocked    300  IN A   127.63.1.2
other      300  IN A   127.63.1.3
EOF
# nsd.conf for one instance: nsd_conf NAME ADDRESS ZONE FILE
nsd_conf() {
  local dir=$RUN/nsd-$1
  mkdir -p "$dir"
  cat >"$dir/nsd.conf" <<EOF
server:
  ip-address: $2
  port: $DNS_PORT
  do-ip6: no
  server-count: 1
  reuseport: no
  username: ""
  chroot: ""
  database: ""
  zonelistfile: "$dir/zone.list"
  xfrdfile: "$dir/xfrd.state"
  xfrdir: "$dir"
  pidfile: "$dir/nsd.pid"
  verbosity: 1
remote-control:
  control-enable: no
zone:
  name: "$3"
  zonefile: "$4"
EOF
  nsd-checkconf "$dir/nsd.conf" || fail "nsd-checkconf $dir/nsd.conf"
}
nsd_conf root $ROOT_ADDRESS . "$RUN/root.zone"
nsd_conf example $EXAMPLE_ADDRESS example. "$RUN/example.zone"

cat >"$RUN/root.hints" <<EOF
.                      3600000 IN NS ns.root-servers.test.
ns.root-servers.test.  3600000 IN A  $ROOT_ADDRESS
EOF
printf '# kids-block: the names the profile "kids" blocks\n0.0.0.0 blocked.example\n' \
  >"$RUN/kids-block.hosts"
cat >"$RUN/hanse.toml" <<EOF
[server]
listen = ["$HANSE_ADDRESS:$DNS_PORT"]
threads = 2

[resolver]
root_hints = "root.hints"
query_private_upstreams = true

[log]
level = "info"

[policy]
state_directory = "state"

[[policy.feed]]
name = "kids-block"
format = "hosts"
file = "kids-block.hosts"

[[policy.profile]]
name = "default"

[[policy.profile]]
name = "kids"
feeds = ["kids-block"]

[api]
enabled = true
listen = "$HANSE_ADDRESS:$API_PORT"

[query_log]
enabled = true
privacy_level = 0
path = "$RUN/querylog.sqlite"
EOF

start nsd-root nsd -d -c "$RUN/nsd-root/nsd.conf"
ROOT_PID=$LAST_PID
start nsd-example nsd -d -c "$RUN/nsd-example/nsd.conf"
EXAMPLE_PID=$LAST_PID
wait_dns nsd-root $ROOT_PID $ROOT_ADDRESS . 20
wait_dns nsd-example $EXAMPLE_PID $EXAMPLE_ADDRESS example. 20

"$HANSE_BIN" check-config "$RUN/hanse.toml" >"$RUN/check-config.log" 2>&1 ||
  fail "hanse check-config refused $RUN/hanse.toml: $(cat "$RUN/check-config.log")"
start hanse "$HANSE_BIN" serve --config "$RUN/hanse.toml"
HANSE_PID=$LAST_PID
wait_dns hanse $HANSE_PID $HANSE_ADDRESS example. 20
end=$((SECONDS + 20))
until curl -fsS -o /dev/null --max-time 2 "http://$HANSE_ADDRESS:$API_PORT/healthz/ready"; do
  kill -0 $HANSE_PID 2>/dev/null || fail "hanse (pid $HANSE_PID) exited"
  [ $SECONDS -lt $end ] || fail "the API on $HANSE_ADDRESS:$API_PORT was not ready within 20 s"
  sleep 0.2
done
log "world up ($SECONDS s)"

# ------------------------------------------------------------------ the browser test
cd "$E2E"
HANSE_API="http://$HANSE_ADDRESS:$API_PORT" HANSE_DNS=$HANSE_ADDRESS HANSE_DNS_PORT=$DNS_PORT \
  CHROMIUM=$(command -v chromium) timeout 110 node dashboard.mjs
