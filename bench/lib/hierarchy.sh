# bench/lib/hierarchy.sh - shell helpers shared by the comparisons that run
# resolvers over the synthetic hierarchy of bench/compare/gen.py
# (bench/compare/run.sh, bench/rpz-compare/run.sh).  Source it; it defines
# functions only.  The caller sets LOG_TAG (prefix of log lines), KEEP (1 =
# keep $RUN after success) and RUN (directory of configs and logs).
#
# Every process started with `start` is recorded in PIDS and stopped by its
# PID, newest first, by `cleanup` (install it with `trap cleanup EXIT`).

BENCH_LIB=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
DNSCOMPARE=$BENCH_LIB/../compare/dnscompare.py
PIDS=()          # every process we started, in start order

log() { printf '[%s %s] %s\n' "${LOG_TAG:-bench}" "$(date -u +%H:%M:%S)" "$*" >&2; }
fail() { log "ERROR: $*"; exit 3; }

stop_pid() {     # SIGTERM, wait up to 10 s, then SIGKILL; only the PID we started
  local pid=$1 i
  kill -0 "$pid" 2>/dev/null || { wait "$pid" 2>/dev/null || true; return 0; }
  kill -TERM "$pid" 2>/dev/null || true
  for i in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  if kill -0 "$pid" 2>/dev/null; then
    log "pid $pid ignored SIGTERM, sending SIGKILL"; kill -KILL "$pid" 2>/dev/null || true
  fi
  wait "$pid" 2>/dev/null || true
}
cleanup() {
  local rc=$? i
  trap - EXIT INT TERM
  for ((i = ${#PIDS[@]} - 1; i >= 0; i--)); do stop_pid "${PIDS[$i]}"; done
  # keep the logs and configs of a failed run for inspection
  if [ "${KEEP:-0}" = 0 ] && [ "$rc" = 0 ]; then rm -rf "$RUN"; else log "logs kept in $RUN"; fi
  exit "$rc"
}

port_busy() {  # ADDR PORT -> 0 if something already listens there (UDP)
  ss -Hlnu 2>/dev/null | awk '{print $4}' | grep -qxE "($1|0\.0\.0\.0|\*|\[::\]):$2"
}
# start NAME LOGFILE CMD... : start in the background (foreground mode), record the PID
start() {
  local name=$1 logf=$2; shift 2
  "$@" > "$logf" 2>&1 < /dev/null &
  PIDS+=("$!")
  LAST_PID=$!
  log "started $name (pid $LAST_PID): $*"
}
wait_ready() {  # NAME PID ADDR PORT SECONDS LOG
  local name=$1 pid=$2 addr=$3 port=$4 secs=$5 logf=$6 end
  end=$((SECONDS + secs))
  while [ $SECONDS -lt $end ]; do
    if ! kill -0 "$pid" 2>/dev/null; then
      log "$name (pid $pid) exited; last lines of $logf:"; tail -20 "$logf" >&2 || true
      return 1
    fi
    python3 "$DNSCOMPARE" probe "$addr" "$port" --timeout 1 && return 0
  done
  log "$name did not answer on $addr:$port within ${secs}s; last lines of $logf:"
  tail -20 "$logf" >&2 || true
  return 1
}

# start_nsd_hierarchy WORK : start the four NSD instances gen.py configured in
# WORK/nsd/{root,tld,slda,sldb} and wait until each answers on its first address.
start_nsd_hierarchy() {
  local work=$1 inst conf a addr t0=$SECONDS
  declare -A nsd_pid
  for inst in root tld slda sldb; do
    conf=$work/nsd/$inst/nsd.conf
    nsd-checkconf "$conf" || fail "nsd-checkconf $conf"
    for a in $(awk '/^  ip-address:/{print $2}' "$conf"); do
      port_busy "$a" 53 && fail "$a:53 is already in use (another NSD? see README)"
    done
    rm -f "$work/nsd/$inst/nsd.pid"
    start "nsd-$inst" "$RUN/nsd-$inst.log" nsd -d -c "$conf"
    nsd_pid[$inst]=$LAST_PID
  done
  for inst in root tld slda sldb; do
    conf=$work/nsd/$inst/nsd.conf
    addr=$(awk '/^  ip-address:/{print $2; exit}' "$conf")
    wait_ready "nsd-$inst" "${nsd_pid[$inst]}" "$addr" 53 60 "$RUN/nsd-$inst.log" \
      || fail "NSD instance $inst did not start"
  done
  log "NSD up: root, tld, slda, sldb ($(( SECONDS - t0 )) s)"
}
