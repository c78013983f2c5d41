#!/bin/bash
# run.sh - side-by-side benchmark of Hanse and other recursive resolvers on loopback.
# See bench/README.md and BENCHMARKS.md.  Only 127.0.0.0/8 is used.
#
#   bench/run.sh              setup if needed, build Hanse, 1 and 2 threads, validation off (~8 min)
#   bench/run.sh --quick      the same, shorter runs and a 20k-name miss set (~3 min)
#   bench/run.sh --memory     resident memory per cached RRset (1M names, see --memory-names)
#
# With --memory the flow is different: see run_memory below.
#
# Starts the synthetic authoritative hierarchy (3 NSD instances built by
# setup.sh), then for every mode (THREADS:DNSSEC) and every resolver in
# resolvers.conf (+ --resolver specs): starts the resolver with a cold cache,
# runs the cache-miss workload (100k unique names, each queried once), a
# warm-up, the cache-hit workload (10k names, repeated, saturating), a
# fixed-rate latency probe, DNSSEC/answer sanity checks, and stops it.
# Every process it starts is stopped by PID.  Results: results/<ts>/ and
# results/latest -> report.md, results.jsonl, raw/, commands.txt, versions.txt.
set -u -o pipefail
BENCH=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
export BENCH
source "$BENCH/bench.env"

LAT_QPS=${LAT_QPS:-5000}   # fixed-rate latency probe on the hit set (dnsperf -Q)
LAT_SECS=${LAT_SECS:-3}    # 0 disables the probe
WARM_LIMIT=${WARM_LIMIT:-8}
CALIB_SECS=${CALIB_SECS:-3}
MODES="1:off 2:off"
REGISTRY="$BENCH/resolvers.conf"
ONLY=""; TAG=""; CALIBRATE=1; EXTRA=()
QUICK=0; MEMORY=0; BUILD=1
TRANSPORTS=${TRANSPORTS:-udp}          # --transports udp,dot,doh: cache-hit rows per transport
DOT_PORT=${DOT_PORT:-853}              # the launchers add DoT and DoH listeners on these ports
DOH_PORT=${DOH_PORT:-443}              # of the resolver's address (BENCH_TLS_CERT set)
ENCRYPTED_RESOLVERS=${ENCRYPTED_RESOLVERS:-"hanse unbound"}  # launchers that can
MISS_NAMES=${MISS_NAMES:-0}            # 0 = every name of miss.txt
MEMORY_NAMES=${MEMORY_NAMES:-1000000}  # --memory: distinct names (= RRsets) to cache
MEMORY_LIMIT=${MEMORY_LIMIT:-300}      # --memory: dnsperf -l bound of the fill run, seconds
MEMORY_CACHE_MB=${MEMORY_CACHE_MB:-4096}

usage() {
  cat <<EOF
usage: $0 [options]
  --quick               short runs: 1 hit run of 2 s, 20k-name miss set, 2 s latency probe
  --memory              memory mode: cache MEMORY_NAMES distinct RRsets in each resolver
                        (1 thread) and report resident memory growth per RRset
  --memory-names N      names for --memory (default $MEMORY_NAMES; 100 zones x N/100 names)
  --validation          also run every resolver with DNSSEC validation on
  --no-build            do not run `cargo build --release -p hanse` first
  --only a,b            run only these resolvers (names from resolvers.conf / --resolver)
  --modes "1:off 2:on"  THREADS:DNSSEC modes to run (default: "$MODES")
  --resolver 'NAME ADDR PORT MODES CMD...'
                        add a resolver (same format as a resolvers.conf line; repeatable)
  --registry FILE       resolver registry (default resolvers.conf); --no-builtin: none
  --hit-secs N          dnsperf -l for each cache-hit run (default $HIT_SECS)
  --hit-reps N          number of cache-hit runs; the table shows the median (default $HIT_REPS)
  --miss-limit N        dnsperf -l bound for the cache-miss run (default $MISS_LIMIT)
  --no-calibrate        skip the dnsperf->NSD calibration run
  --transports udp,dot,doh
                        also cache-hit runs over DNS over TLS (dnsperf -m dot, port $DOT_PORT)
                        and DNS over HTTPS (dnsperf -m doh, POST, port $DOH_PORT) for the
                        resolvers in ENCRYPTED_RESOLVERS ("$ENCRYPTED_RESOLVERS"); a
                        self-signed certificate is made in \$WORK/tls (default: udp)
  --encrypted           short for --transports udp,dot,doh --only hanse,unbound
  --tag TAG             suffix for the results directory
Environment overrides: see bench.env (GEN_CPUS, RES_CPUS_1, RES_CPUS_2, CLIENTS, ...),
LAT_QPS, LAT_SECS, WARM_LIMIT, CALIB_SECS, TRANSPORTS, DOT_PORT, DOH_PORT, ENCRYPTED_RESOLVERS.
EOF
}

while [ $# -gt 0 ]; do
  case "$1" in
    --quick) QUICK=1; shift ;;
    --memory) MEMORY=1; shift ;;
    --memory-names) MEMORY_NAMES=$2; shift 2 ;;
    --validation) MODES="1:off 2:off 1:on 2:on"; shift ;;
    --no-build) BUILD=0; shift ;;
    --only) ONLY=$2; shift 2 ;;
    --modes) MODES=$2; shift 2 ;;
    --resolver) EXTRA+=("$2"); shift 2 ;;
    --registry) REGISTRY=$2; shift 2 ;;
    --no-builtin) REGISTRY=/dev/null; shift ;;
    --hit-secs) HIT_SECS=$2; shift 2 ;;
    --hit-reps) HIT_REPS=$2; shift 2 ;;
    --miss-limit) MISS_LIMIT=$2; shift 2 ;;
    --no-calibrate) CALIBRATE=0; shift ;;
    --transports) TRANSPORTS=$2; shift 2 ;;
    --encrypted) TRANSPORTS=udp,dot,doh; ONLY=${ONLY:-hanse,unbound}; shift ;;
    --tag) TAG=$2; shift 2 ;;
    -h|--help) usage; exit 0 ;;
    *) echo "unknown option: $1" >&2; usage >&2; exit 2 ;;
  esac
done

log() { printf '[%s] %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

if [ "$QUICK" = 1 ]; then
  HIT_REPS=1; HIT_SECS=2; WARM_LIMIT=3; LAT_SECS=2; CALIB_SECS=2; MISS_LIMIT=8
  [ "$MISS_NAMES" = 0 ] && MISS_NAMES=20000
  TAG=${TAG:-quick}
fi
if [ "$MEMORY" = 1 ]; then
  # Its own hierarchy: unsigned (signing 1M names is slow and not needed here),
  # 100 zones of MEMORY_NAMES/100 names each; big caches so nothing is evicted.
  export WORK=$BENCH/work-memory SIGN=0 ZONES_PER_TLD=50 NAMES_PER_ZONE=$((MEMORY_NAMES / 100))
  export CACHE_MB=$MEMORY_CACHE_MB PDNS_CACHE_ENTRIES=$((MEMORY_NAMES * 3)) PDNS_PACKETCACHE_ENTRIES=$((MEMORY_NAMES * 2))
  HINTS=$WORK/hints/root.hints; TA_DS=$WORK/ta/root.ds; TA_KEY=$WORK/ta/root.key
  MODES="1:off"; CALIBRATE=0; TAG=${TAG:-memory}
fi
# zones, query files and configs: (re)generate when missing or older than bench.env
if [ ! -f "$WORK/.setup-done" ] || [ "$BENCH/bench.env" -nt "$WORK/.setup-done" ] \
   || { [ "$MEMORY" = 1 ] && [ "$(python3 -c "import json;print(json.load(open('$WORK/zones.json'))['names'])" 2>/dev/null)" != "$((NAMES_PER_ZONE * 100))" ]; }; then
  log "running setup.sh (WORK=$WORK)"
  "$BENCH/setup.sh" || die "setup.sh failed"
fi

for t in dnsperf dig taskset nsd python3 /usr/bin/time ss; do
  command -v "$t" >/dev/null || die "missing $t - run ./setup.sh"
done
[ -f "$WORK/zones.json" ] || die "no $WORK/zones.json - run ./setup.sh first"
SIGNED=$(python3 -c "import json;print(int(json.load(open('$WORK/zones.json'))['signed']))")
CHECK_NAME=$(python3 -c "import json;print(json.load(open('$WORK/zones.json'))['check_name'])")
CHECK_ADDR=$(python3 -c "import json;print(json.load(open('$WORK/zones.json'))['check_addr'])")
BOGUS_NAME=$(python3 -c "import json;print(json.load(open('$WORK/zones.json'))['bogus_name'] or '')")
HIT_FILE=$WORK/queries/hit.txt
MISS_FILE=$WORK/queries/miss.txt
if [ "$MISS_NAMES" != 0 ]; then
  head -n "$MISS_NAMES" "$WORK/queries/miss.txt" > "$WORK/queries/miss-$MISS_NAMES.txt"
  MISS_FILE=$WORK/queries/miss-$MISS_NAMES.txt
fi
CLK_TCK=$(getconf CLK_TCK)

# Encrypted listeners (--transports): a self-signed certificate for the launchers,
# which add DoT on $DOT_PORT and DoH on $DOH_PORT when BENCH_TLS_CERT is set.
ENCRYPTED=""
for tr in ${TRANSPORTS//,/ }; do
  case "$tr" in
    udp) ;;
    dot|doh) ENCRYPTED+="$tr " ;;
    *) die "unknown transport $tr (udp, dot, doh)" ;;
  esac
done
if [ -n "$ENCRYPTED" ]; then
  command -v openssl >/dev/null || die "missing openssl (for the DoT/DoH certificate)"
  mkdir -p "$WORK/tls"
  if [ ! -s "$WORK/tls/cert.pem" ] || [ ! -s "$WORK/tls/key.pem" ]; then
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 30 \
      -subj /CN=bench.test -addext subjectAltName=DNS:bench.test \
      -keyout "$WORK/tls/key.pem" -out "$WORK/tls/cert.pem" 2>/dev/null || die "openssl failed"
  fi
  export BENCH_TLS_CERT=$WORK/tls/cert.pem BENCH_TLS_KEY=$WORK/tls/key.pem DOT_PORT DOH_PORT
fi

TS=$(date -u +%Y%m%dT%H%M%SZ)
RESULTS_DIR=${RESULTS_DIR:-$BENCH/results}
RES=$RESULTS_DIR/$TS${TAG:+-$TAG}
mkdir -p "$RES/raw" "$RES/rundirs"
ln -sfn "$RES" "$RESULTS_DIR/latest"
SCRATCH=/dev/shm/resbench.$$
mkdir -p "$SCRATCH"
JSONL=$RES/results.jsonl
: > "$JSONL"
PIDFILE=$WORK/run.pids        # "pid starttime" of everything this run started
T_START=$(date +%s)

# ---------------------------------------------------------------- processes
starttime() { sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | awk '{print $20}'; }
alive() {  # running and not a zombie
  local st
  st=$(sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | awk '{print $1}')
  [ -n "$st" ] && [ "$st" != Z ]
}
pid_tree() {  # PIDs given + all descendants
  ps -e -o pid=,ppid= | awk -v roots="$*" '
    { kids[$2] = kids[$2] " " $1 }
    END { n = split(roots, q, " "); for (i = 1; i <= n; i++) { p = q[i]; print p;
          m = split(kids[p], c, " "); for (j = 1; j <= m; j++) q[++n] = c[j] } }'
}
ticks() {  # utime+stime (all threads) of the given PIDs and their descendants
  local t=0 p v
  for p in $(pid_tree "$@"); do
    v=$(sed 's/.*) //' "/proc/$p/stat" 2>/dev/null | awk '{print $12+$13}')
    t=$((t + ${v:-0}))
  done
  echo "$t"
}
rss_mb() {  # summed VmRSS of the PIDs and descendants (shared pages, e.g. kresd's LMDB, count per process)
  local t=0 p v
  for p in $(pid_tree "$@"); do
    v=$(awk '/^VmRSS:/{print $2}' "/proc/$p/status" 2>/dev/null)
    t=$((t + ${v:-0}))
  done
  echo $((t / 1024))
}
auth_stats() {  # queries received by the 3 authoritative NSDs: total A AAAA NS DS DNSKEY TCP
  local inst
  for inst in root tld sld; do nsd-control -c "$WORK/nsd/$inst/nsd.conf" stats_noreset 2>/dev/null; done | awk -F= '
    $1 == "num.queries" { q += $2 }      $1 == "num.type.A" { a += $2 }
    $1 == "num.type.AAAA" { a4 += $2 }   $1 == "num.type.NS" { ns += $2 }
    $1 == "num.type.DS" { ds += $2 }     $1 == "num.type.DNSKEY" { dk += $2 }
    $1 == "num.tcp" { tcp += $2 }
    END { print q + 0, a + 0, a4 + 0, ns + 0, ds + 0, dk + 0, tcp + 0 }'
}
busy_ticks() { awk '/^cpu /{print $2+$3+$4+$7+$8+$9}' /proc/stat; }
udp_counters() { awk '/^Udp:/{n++; if (n==2) print $2, $6}' /proc/net/snmp; }  # InDatagrams RcvbufErrors

# start CPUS LOGFILE CMDSTRING -> sets LAST_PID (taskset and bash exec into the command: same PID)
start_proc() {
  local cpus=$1 logf=$2 cmd=$3
  nice -n "$NICE" taskset -c "$cpus" bash -c "exec $cmd" > "$logf" 2>&1 < /dev/null &
  LAST_PID=$!
  sleep 0.05
  echo "$LAST_PID $(starttime "$LAST_PID")" >> "$PIDFILE"
}
calc() { awk "BEGIN { printf \"%.3f\", $* }"; }
# stop PID [RUNDIR]: SIGTERM, wait up to 10 s, SIGKILL; also PIDs in RUNDIR/child.pids
stop_proc() {
  local pid=$1 rundir=${2:-} i c
  if alive "$pid"; then
    kill -TERM "$pid" 2>/dev/null
    for i in $(seq 100); do alive "$pid" || break; sleep 0.1; done
    alive "$pid" && { log "pid $pid ignored SIGTERM, sending SIGKILL"; kill -KILL "$pid" 2>/dev/null; }
  fi
  wait "$pid" 2>/dev/null
  if [ -n "$rundir" ] && [ -f "$rundir/child.pids" ]; then
    for c in $(cat "$rundir/child.pids"); do alive "$c" && kill -KILL "$c" 2>/dev/null; done
  fi
  [ -f "$PIDFILE" ] && sed -i "/^$pid /d" "$PIDFILE"
  return 0
}
# processes left over by an interrupted earlier run.sh (same PID *and* start time)
cleanup_stale() {
  [ -f "$PIDFILE" ] || return 0
  local pid st
  while read -r pid st; do
    if [ -n "$pid" ] && [ "$(starttime "$pid")" = "$st" ]; then
      log "stopping leftover pid $pid from an earlier run"; kill -TERM "$pid" 2>/dev/null
    fi
  done < "$PIDFILE"
  sleep 1; : > "$PIDFILE"
}
AUTH_PIDS=()
CUR_PID=""; CUR_RUNDIR=""
cleanup() {
  [ -n "$CUR_PID" ] && stop_proc "$CUR_PID" "$CUR_RUNDIR"
  for p in "${AUTH_PIDS[@]}"; do stop_proc "$p"; done
  rm -rf "$SCRATCH"
}
trap cleanup EXIT
trap 'log "interrupted"; exit 130' INT TERM

port_busy() {  # ADDR PORT
  ss -Hlnu 2>/dev/null | awk '{print $4}' | grep -qxE "($1|0\.0\.0\.0|\*|\[::\]):$2"
}
wait_ready() {  # PID ADDR PORT SECONDS : any DNS response (RD=0, so nothing gets resolved)
  local pid=$1 addr=$2 port=$3 secs=$4 i
  for i in $(seq $((secs * 10))); do
    alive "$pid" || return 1
    dig @"$addr" -p "$port" +norec +time=1 +tries=1 . SOA > /dev/null 2>&1 && return 0
    sleep 0.1
  done
  return 1
}

# ---------------------------------------------------------------- measuring
# measure TAG META("k=v k=v") WORKLOAD QFILE ADDR PORT MEASURED-PID dnsperf-args...
measure() {
  local tag=$1-$3 meta=$2 wl=$3 qfile=$4 addr=$5 port=$6 rpid=$7; shift 7
  local out=$SCRATCH/run.out
  local cmd=(dnsperf -s "$addr" -p "$port" -d "$qfile" -c "$CLIENTS" -q "$OUTSTANDING" -t "$TIMEOUT" "$@")
  echo "nice -n $NICE taskset -c $GEN_CPUS ${cmd[*]}    # $meta workload=$wl" >> "$RES/commands.txt"
  local b0 r0 n0 u0 e0 b1 r1 n1 u1 e1 gu gs
  local aq0 aa0 a40 an0 ad0 ak0 at0 aq1 aa1 a41 an1 ad1 ak1 at1
  read -r aq0 aa0 a40 an0 ad0 ak0 at0 < <(auth_stats)
  b0=$(busy_ticks); r0=$(ticks "$rpid"); n0=$(ticks "${AUTH_PIDS[@]}"); read -r u0 e0 < <(udp_counters)
  /usr/bin/time -f '%U %S' -o "$SCRATCH/time" nice -n "$NICE" taskset -c "$GEN_CPUS" "${cmd[@]}" > "$out" 2> "$RES/raw/$tag.stderr"
  b1=$(busy_ticks); r1=$(ticks "$rpid"); n1=$(ticks "${AUTH_PIDS[@]}"); read -r u1 e1 < <(udp_counters)
  read -r aq1 aa1 a41 an1 ad1 ak1 at1 < <(auth_stats)
  read -r gu gs < <(tail -1 "$SCRATCH/time")
  local rss; rss=$(rss_mb "$rpid")
  python3 "$BENCH/lib/parse_dnsperf.py" "$out" $meta workload="$wl" \
    res_cpu_s="$(calc "($r1-$r0)/$CLK_TCK")" \
    auth_cpu_s="$(calc "($n1-$n0)/$CLK_TCK")" \
    gen_cpu_s="$(calc "$gu+$gs")" \
    busy_cpu_s="$(calc "($b1-$b0)/$CLK_TCK")" \
    udp_in="$((u1 - u0))" udp_rcvbuf_err="$((e1 - e0))" res_rss_mb="$rss" \
    up_q="$((aq1 - aq0))" up_A="$((aa1 - aa0))" up_AAAA="$((a41 - a40))" up_NS="$((an1 - an0))" \
    up_DS="$((ad1 - ad0))" up_DNSKEY="$((ak1 - ak0))" up_tcp="$((at1 - at0))" >> "$JSONL"
  mv "$out.summary" "$RES/raw/$tag.txt"
  rm -f "$out"
  tail -1 "$JSONL" | python3 -c '
import json,sys; r=json.load(sys.stdin)
print("    %-8s qps=%-9.0f avg=%.3fms p99=%sms completed=%s lost=%s noerror=%s%% rescpu=%ss" % (
  r["workload"], r["qps"] or 0, r["avg_lat_ms"] or 0, r["p99_ms"], r["completed"], r["lost"],
  r["noerror_pct"], r["res_cpu_s"]))' >&2
}

# sanity ADDR PORT DNSSEC -> "ok" or "FAIL:..."
sanity() {
  local addr=$1 port=$2 dnssec=$3 out st res=""
  out=$(dig @"$addr" -p "$port" +time=3 +tries=1 +dnssec "$CHECK_NAME" A 2>&1)
  echo "$out" | grep -q "status: NOERROR" || res+="check-name-status "
  echo "$out" | grep -qE "IN[[:space:]]+A[[:space:]]+$CHECK_ADDR" || res+="check-name-answer "
  if [ "$SIGNED" = 1 ]; then
    if echo "$out" | grep -qE '^;; flags:[^;]* ad[ ;]'; then ad=1; else ad=0; fi
    [ "$dnssec" = on ] && [ "$ad" = 0 ] && res+="no-AD "
    [ "$dnssec" = off ] && [ "$ad" = 1 ] && res+="AD-without-validation "
    st=$(dig @"$addr" -p "$port" +time=3 +tries=1 "$BOGUS_NAME" A 2>&1 | sed -n 's/.*status: \([A-Z]*\).*/\1/p')
    [ "$dnssec" = on ] && [ "$st" != SERVFAIL ] && res+="bogus-not-SERVFAIL($st) "
    [ "$dnssec" = off ] && [ "$st" != NOERROR ] && res+="bogus-unvalidated-$st "
  fi
  [ -z "$res" ] && echo ok || echo "FAIL:${res% }"
}

expand() {  # template name addr port threads dnssec rundir
  local s=$1
  s=${s//'{ADDR}'/$3}; s=${s//'{PORT}'/$4}; s=${s//'{THREADS}'/$5}; s=${s//'{DNSSEC}'/$6}
  s=${s//'{RUNDIR}'/$7}; s=${s//'{HINTS}'/$HINTS}; s=${s//'{TA_DS}'/$TA_DS}; s=${s//'{TA_KEY}'/$TA_KEY}
  s=${s//'{TA_DS_RDATA}'/$WORK/ta/root.ds.rdata}; s=${s//'{CACHE_MB}'/$CACHE_MB}
  s=${s//'{BENCH}'/$BENCH}; s=${s//'{WORK}'/$WORK}
  echo "$s"
}

# ---------------------------------------------------------------- memory mode
rss_kb() {  # like rss_mb, in KiB
  local t=0 p v
  for p in $(pid_tree "$@"); do
    v=$(awk '/^VmRSS:/{print $2}' "/proc/$p/status" 2>/dev/null)
    t=$((t + ${v:-0}))
  done
  echo "$t"
}
# run_memory NAME META ADDR PORT PID: resident memory growth per cached RRset.
# 1. baseline: the first 200 names (caches the root and TLD delegations), RSS0;
# 2. fill: every other name once (dnsperf -n 1), RSS1 two seconds later;
# 3. recheck: 1 % of the filled names again; the upstream queries NSD counts show
#    how many were no longer cached (evicted), i.e. whether RSS1 holds them all.
# bytes per RRset = (RSS1 - RSS0) / NOERROR answers of the fill.
run_memory() {
  local name=$1 meta=$2 addr=$3 port=$4 pid=$5 rss0 rss1
  head -n 200 "$MISS_FILE" > "$SCRATCH/memory-base.txt"
  tail -n +201 "$MISS_FILE" > "$SCRATCH/memory-fill.txt"
  awk 'NR % 100 == 0' "$SCRATCH/memory-fill.txt" > "$SCRATCH/memory-recheck.txt"
  nice -n "$NICE" taskset -c "$GEN_CPUS" dnsperf -s "$addr" -p "$port" -d "$SCRATCH/memory-base.txt" \
    -c "$CLIENTS" -q "$OUTSTANDING" -t "$TIMEOUT" -n 1 -l 20 > "$RES/raw/$name-memory-base.txt" 2>&1
  sleep 2; rss0=$(rss_kb "$pid")
  measure "$name-memory" "$meta" memory-fill "$SCRATCH/memory-fill.txt" "$addr" "$port" "$pid" -n 1 -l "$MEMORY_LIMIT"
  local fill; fill=$(tail -1 "$JSONL")
  sleep 2; rss1=$(rss_kb "$pid")
  measure "$name-memory" "$meta" memory-recheck "$SCRATCH/memory-recheck.txt" "$addr" "$port" "$pid" -n 1 -l 60
  local recheck; recheck=$(tail -1 "$JSONL")
  python3 - "$name" "$rss0" "$rss1" "$fill" "$recheck" >> "$JSONL" <<'PY'
import json, sys
name, rss0, rss1, fill, recheck = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), json.loads(sys.argv[4]), json.loads(sys.argv[5])
cached = fill.get("rcodes", {}).get("NOERROR", 0)
rec = {"resolver": name, "threads": 1, "dnssec": "off", "workload": "memory",
       "rss0_kb": rss0, "rss1_kb": rss1, "cached": cached, "fill_sent": fill.get("sent"),
       "fill_lost": fill.get("lost"), "fill_ended": fill.get("ended"), "fill_qps": fill.get("qps"),
       "bytes_per_rrset": round((rss1 - rss0) * 1024 / cached, 1) if cached else None,
       "recheck_completed": recheck.get("completed"),
       "recheck_upstream_per_q": round(recheck["up_q"] / recheck["completed"], 4) if recheck.get("completed") else None}
print(json.dumps(rec))
PY
  log "   memory: $(tail -1 "$JSONL")"
}

# ---------------------------------------------------------------- resolvers
NAMES=(); declare -A R_ADDR R_PORT R_MODES R_CMD
add_resolver() {
  local name addr port modes cmd
  read -r name addr port modes cmd <<< "$1"
  [ -n "$cmd" ] || die "bad resolver spec: $1"
  if [ -n "$ONLY" ] && ! [[ ",$ONLY," == *",$name,"* ]]; then return; fi
  [ -n "${R_CMD[$name]:-}" ] || NAMES+=("$name")
  R_ADDR[$name]=$addr; R_PORT[$name]=$port; R_MODES[$name]=$modes; R_CMD[$name]=$cmd
}
while IFS= read -r line; do
  [[ "$line" =~ ^[[:space:]]*(#|$) ]] && continue
  add_resolver "$line"
done < "$REGISTRY"
for spec in "${EXTRA[@]}"; do add_resolver "$spec"; done
[ ${#NAMES[@]} -gt 0 ] || die "no resolvers selected"
# build Hanse (the floor is `hanse floor`) when it is in the run
if [[ " ${NAMES[*]} " == *" hanse "* || " ${NAMES[*]} " == *" floor "* ]]; then
  if [ "$BUILD" = 1 ]; then
    log "building Hanse: (cd $REPO && cargo build --release -p hanse)"
    (cd "$REPO" && cargo build --release -p hanse) >&2 || die "cargo build failed"
  fi
  [ -x "$HANSE_BIN" ] || die "no Hanse binary at $HANSE_BIN (cargo build --release, or set HANSE_BIN)"
fi
if [ "$SIGNED" != 1 ]; then
  MODES=$(for m in $MODES; do [[ $m == *:on ]] || echo -n "$m "; done)
  log "zones are not signed: DNSSEC-on modes dropped"
fi

# ---------------------------------------------------------------- versions
{
  echo "date: $(date -u)"; echo "host: $(uname -srm), $(nproc) CPUs: $(lscpu | sed -n 's/^Model name:[[:space:]]*//p')"
  echo "nsd: $(nsd -v 2>&1 | head -1)"
  echo "unbound: $(unbound -V 2>&1 | head -1)"
  echo "pdns-recursor: $(pdns_recursor --version 2>&1 | grep -o 'PowerDNS Recursor [^ ]*' | head -1)"
  echo "kresd: $(kresd -V 2>&1 | head -1)"
  echo "named: $(named -v 2>&1 | head -1)"
  echo "dnsperf: $(dnsperf -h 2>&1 | grep -i '^Version' | head -1)"
  echo "dig: $(dig -v 2>&1 | head -1)"
  for p in nsd unbound pdns-recursor knot-resolver bind9 dnsperf; do
    echo "dpkg $p: $(dpkg-query -W -f='${Version}' $p 2>/dev/null)"
  done
  echo "zones: $(python3 -c "import json;d=json.load(open('$WORK/zones.json'));print(d['slds'],'SLDs,',d['names'],'names, hit set',d['hit_names'],', signed:',d['signed'])")"
  echo "hanse: $("$HANSE_BIN" version 2>/dev/null) ($HANSE_BIN, git $(git -C "$REPO" rev-parse --short HEAD 2>/dev/null)$(git -C "$REPO" status --porcelain 2>/dev/null | grep -q . && echo ' + uncommitted changes'))"
  echo "run: $0 $*; quick=$QUICK memory=$MEMORY miss names=$(wc -l < "$MISS_FILE")"
  echo "settings: CLIENTS=$CLIENTS OUTSTANDING=$OUTSTANDING TIMEOUT=$TIMEOUT HIT_SECS=$HIT_SECS HIT_REPS=$HIT_REPS MISS_LIMIT=$MISS_LIMIT WARM_LIMIT=$WARM_LIMIT LAT_QPS=$LAT_QPS LAT_SECS=$LAT_SECS CACHE_MB=$CACHE_MB"
  echo "pinning: dnsperf=$GEN_CPUS nsd=$AUTH_CPUS resolver(1 thread)=$RES_CPUS_1 resolver(2 threads)=$RES_CPUS_2; nice=$NICE"
  echo "sysctl: $(sysctl -n net.core.rmem_default net.core.rmem_max net.core.wmem_default 2>/dev/null | tr '\n' ' ')(rmem_default rmem_max wmem_default); clocksource: $(cat /sys/devices/system/clocksource/clocksource0/current_clocksource 2>/dev/null)"
  echo "modes: $MODES"; echo "resolvers: ${NAMES[*]}"
} > "$RES/versions.txt"
for n in "${NAMES[@]}"; do echo "resolver $n ${R_ADDR[$n]}:${R_PORT[$n]} modes=${R_MODES[$n]} cmd=${R_CMD[$n]}" >> "$RES/versions.txt"; done

# ---------------------------------------------------------------- authoritative servers
cleanup_stale
for inst in root tld sld; do
  first=$(python3 -c "import json;print(json.load(open('$WORK/zones.json'))['nsd']['$inst'][0])")
  port_busy "$first" 53 && die "$first:53 already in use (another run?)"
done
log "starting authoritative NSD instances (root, tld, sld) on CPUs $AUTH_CPUS"
for inst in root tld sld; do
  start_proc "$AUTH_CPUS" "$RES/raw/nsd-$inst.log" "/usr/sbin/nsd -d -c $WORK/nsd/$inst/nsd.conf"
  AUTH_PIDS+=("$LAST_PID")
  echo "nice -n $NICE taskset -c $AUTH_CPUS /usr/sbin/nsd -d -c $WORK/nsd/$inst/nsd.conf    # authoritative: $inst" >> "$RES/commands.txt"
done
for i in 0 1 2; do
  inst=$(echo root tld sld | cut -d' ' -f$((i + 1)))
  probe=$(python3 -c "import json;d=json.load(open('$WORK/zones.json'));print(d['nsd']['$inst'][0], d['probe']['$inst'])")
  set -- $probe
  for _ in $(seq 300); do dig @"$1" +norec +time=1 +tries=1 "$2" SOA 2>/dev/null | grep -q 'status: NOERROR' && break; sleep 0.1; done
  dig @"$1" +norec +time=1 +tries=1 "$2" SOA 2>/dev/null | grep -q 'status: NOERROR' || die "NSD $inst not answering on $1"
done
log "authoritative hierarchy up: pids ${AUTH_PIDS[*]}"

# ---------------------------------------------------------------- calibration
if [ "$CALIBRATE" = 1 ]; then
  log "calibration: dnsperf -> NSD directly (load generator ceiling), NSD on CPUs $RES_CPUS_1"
  start_proc "$RES_CPUS_1" "$RES/raw/nsd-calib.log" "/usr/sbin/nsd -d -c $WORK/nsd/calib/nsd.conf"
  echo "nice -n $NICE taskset -c $RES_CPUS_1 /usr/sbin/nsd -d -c $WORK/nsd/calib/nsd.conf    # calibration target" >> "$RES/commands.txt"
  cpid=$LAST_PID
  for _ in $(seq 300); do dig @"$CALIB_ADDR" +norec +time=1 +tries=1 z000.bench SOA 2>/dev/null | grep -q NOERROR && break; sleep 0.1; done
  CUR_PID=$cpid
  for rep in $(seq 1 "$HIT_REPS"); do
    measure "nsd-direct-r$rep" "resolver=nsd-direct(ceiling) threads=1 dnssec=- rep=$rep" hit "$HIT_FILE" "$CALIB_ADDR" 53 "$cpid" -l "$CALIB_SECS" -v
  done
  stop_proc "$cpid"; CUR_PID=""
fi

# ---------------------------------------------------------------- resolvers
for mode in $MODES; do
  threads=${mode%%:*}; dnssec=${mode##*:}
  cpus=$RES_CPUS_1; [ "$threads" -gt 1 ] && cpus=$RES_CPUS_2
  for name in "${NAMES[@]}"; do
    m=${R_MODES[$name]}
    if [ "$m" != all ] && ! [[ ",$m," == *",$mode,"* ]]; then continue; fi
    [ "$MEMORY" = 1 ] && [ "$name" = floor ] && continue
    addr=${R_ADDR[$name]}; port=${R_PORT[$name]}
    meta="resolver=$name threads=$threads dnssec=$dnssec"
    rundir=$RES/rundirs/$name-t$threads-$dnssec
    rm -rf "$rundir"; mkdir -p "$rundir"
    cmd=$(expand "${R_CMD[$name]}" "$name" "$addr" "$port" "$threads" "$dnssec" "$rundir")
    log "== $name threads=$threads dnssec=$dnssec on CPUs $cpus: $cmd"
    echo "nice -n $NICE taskset -c $cpus $cmd    # $meta" >> "$RES/commands.txt"
    if port_busy "$addr" "$port"; then
      log "   $addr:$port busy - skipped"
      echo "{\"resolver\":\"$name\",\"threads\":$threads,\"dnssec\":\"$dnssec\",\"workload\":\"start\",\"error\":\"address busy\"}" >> "$JSONL"
      continue
    fi
    start_proc "$cpus" "$rundir/stdout.log" "$cmd"
    pid=$LAST_PID
    CUR_PID=$pid; CUR_RUNDIR=$rundir
    t0=$(date +%s.%N)
    if ! wait_ready "$pid" "$addr" "$port" 30; then
      log "   did not come up (see $rundir/stdout.log)"; tail -5 "$rundir/stdout.log" >&2
      echo "{\"resolver\":\"$name\",\"threads\":$threads,\"dnssec\":\"$dnssec\",\"workload\":\"start\",\"error\":\"not ready\"}" >> "$JSONL"
      stop_proc "$pid" "$rundir"; CUR_PID=""; continue
    fi
    log "   ready after $(calc "$(date +%s.%N) - $t0")s (pid $pid)"
    if [ "$MEMORY" = 1 ]; then
      run_memory "$name" "$meta" "$addr" "$port" "$pid"
      alive "$pid" || log "   WARNING: resolver died during the run"
      stop_proc "$pid" "$rundir"; CUR_PID=""
      continue
    fi
    if [ "$name" = floor ]; then
      # the floor answers anything at once: no miss run, no warm-up, no resolver checks
      for rep in $(seq 1 "$HIT_REPS"); do
        measure "$name-t$threads-$dnssec-r$rep" "$meta rep=$rep" hit "$HIT_FILE" "$addr" "$port" "$pid" -l "$HIT_SECS" -v
      done
      [ "$LAT_SECS" -gt 0 ] && measure "$name-t$threads-$dnssec" "$meta" "hit@${LAT_QPS}" "$HIT_FILE" "$addr" "$port" "$pid" -l "$LAT_SECS" -Q "$LAT_QPS" -v
      alive "$pid" || log "   WARNING: the floor died during the run"
      stop_proc "$pid" "$rundir"; CUR_PID=""
      continue
    fi
    measure "$name-t$threads-$dnssec" "$meta" miss "$MISS_FILE" "$addr" "$port" "$pid" -n 1 -l "$MISS_LIMIT" -v
    warm=(dnsperf -s "$addr" -p "$port" -d "$HIT_FILE" -c "$CLIENTS" -q "$OUTSTANDING" -t "$TIMEOUT" -n 1 -l "$WARM_LIMIT")
    echo "nice -n $NICE taskset -c $GEN_CPUS ${warm[*]}    # $meta warm-up (not measured)" >> "$RES/commands.txt"
    nice -n "$NICE" taskset -c "$GEN_CPUS" "${warm[@]}" > "$RES/raw/$name-t$threads-$dnssec-warmup.txt" 2>&1
    for rep in $(seq 1 "$HIT_REPS"); do
      measure "$name-t$threads-$dnssec-r$rep" "$meta rep=$rep" hit "$HIT_FILE" "$addr" "$port" "$pid" -l "$HIT_SECS" -v
    done
    if [ "$LAT_SECS" -gt 0 ]; then
      measure "$name-t$threads-$dnssec" "$meta" "hit@${LAT_QPS}" "$HIT_FILE" "$addr" "$port" "$pid" -l "$LAT_SECS" -Q "$LAT_QPS" -v
    fi
    for tr in $ENCRYPTED; do
      if ! [[ " $ENCRYPTED_RESOLVERS " == *" $name "* ]]; then
        log "   $tr: $name has no encrypted listener in this harness - skipped"; continue
      fi
      if [ "$tr" = dot ]; then
        targs=(-m dot); tport=$DOT_PORT
      else
        targs=(-m doh -O "doh-uri=https://$addr:$DOH_PORT/dns-query" -O doh-method=POST); tport=$DOH_PORT
      fi
      # warm the connections' path once (the cache is already warm), not measured
      nice -n "$NICE" taskset -c "$GEN_CPUS" dnsperf -s "$addr" -p "$tport" "${targs[@]}" -d "$HIT_FILE" \
        -c "$CLIENTS" -q "$OUTSTANDING" -t "$TIMEOUT" -l 1 > "$RES/raw/$name-t$threads-$dnssec-$tr-warmup.txt" 2>&1
      for rep in $(seq 1 "$HIT_REPS"); do
        measure "$name-t$threads-$dnssec-$tr-r$rep" "$meta rep=$rep" "hit-$tr" "$HIT_FILE" "$addr" "$tport" "$pid" -l "$HIT_SECS" -v "${targs[@]}"
      done
      if [ "$LAT_SECS" -gt 0 ]; then
        measure "$name-t$threads-$dnssec-$tr" "$meta" "hit-$tr@${LAT_QPS}" "$HIT_FILE" "$addr" "$tport" "$pid" -l "$LAT_SECS" -Q "$LAT_QPS" -v "${targs[@]}"
      fi
    done
    echo "dig @$addr -p $port +dnssec $CHECK_NAME A; dig @$addr -p $port $BOGUS_NAME A    # $meta sanity: answer, AD flag, bogus -> SERVFAIL iff validating" >> "$RES/commands.txt"
    s=$(sanity "$addr" "$port" "$dnssec")
    [ "$s" = ok ] || log "   sanity: $s"
    echo "{\"resolver\":\"$name\",\"threads\":$threads,\"dnssec\":\"$dnssec\",\"workload\":\"sanity\",\"sanity\":\"$s\"}" >> "$JSONL"
    alive "$pid" || log "   WARNING: resolver died during the run"
    stop_proc "$pid" "$rundir"; CUR_PID=""
  done
done

for p in "${AUTH_PIDS[@]}"; do stop_proc "$p"; done
AUTH_PIDS=()
T_END=$(date +%s)
echo "wall time: $((T_END - T_START)) s" >> "$RES/versions.txt"
python3 "$BENCH/lib/report.py" "$RES" | tee "$RES/table.txt"
log "done in $((T_END - T_START)) s; results in $RES (results/latest)"
