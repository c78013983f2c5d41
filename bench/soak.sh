#!/bin/bash
# soak.sh - the soak and chaos run: Hanse under mixed load with policy reloads.
# See BENCHMARKS.md ("Soak and chaos run").  Only 127.0.0.0/8 is used.
#
#   bench/soak.sh               10 minutes of chaos (plus ~1 min of setup, warm-up, unloaded phase)
#   bench/soak.sh --minutes N   N minutes of chaos
#   bench/soak.sh --quick       2 minutes of chaos
#
# Starts the synthetic authoritative hierarchy of setup.sh (unsigned, its own
# work directory bench/work-soak/) and Hanse (release binary, HANSE_BIN) with a
# hosts-format policy feed of a few thousand rules and the HTTP API on (for
# /metrics).  Then:
#   1. warm-up: every name of the hit set once;
#   2. unloaded phase (UNLOADED_SECS): the hit load alone -> baseline latency;
#   3. chaos phase (--minutes), all at once, each bounded in time and count:
#      - legitimate hits:  dnsperf at HIT_QPS over the hit set   from 127.53.41.1
#      - legitimate misses: dnsperf at MISS_QPS over the miss set from 127.53.41.2
#      - random-subdomain flood: dnsperf at FLOOD_QPS, unique random labels
#        under one zone (NXDOMAIN from the authority)            from 127.53.42.1
#      - malformed datagrams: lib/soak_garbage.py at GARBAGE_RATE from 127.53.43.1
#      - policy reloads every RELOAD_SECS: the feed file is rewritten with a
#        canary name blocked or unblocked, Hanse gets SIGHUP, and the canary is
#        queried (from 127.53.41.3) until the change shows (at most 5 s);
#      - Hanse's VmRSS sampled every 10 s.
# Rate limiting: [rate_limit] exempts only the legitimate clients' network
# 127.53.41.0/24 and turns the per-network query limit off (queries_per_second
# = 0), so the flood and the garbage reach the resolver in full; overload
# shedding (max_resolutions) keeps its defaults and is what bounds the flood.
# Every process is started here, recorded by PID and stopped by PID at exit.
# Result: results/soak-<UTC time>/summary.txt (+ raw logs); exit status 1 if a
# target is missed (lost legitimate hits, RSS growth > 10 %, p99 > 2x, a
# reload that did not take effect).
set -u -o pipefail
BENCH=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
export BENCH
source "$BENCH/bench.env"
export WORK=$BENCH/work-soak SIGN=0

MINUTES=10
UNLOADED_SECS=${UNLOADED_SECS:-20}
HIT_QPS=${HIT_QPS:-2000}
MISS_QPS=${MISS_QPS:-150}
FLOOD_QPS=${FLOOD_QPS:-3000}
GARBAGE_RATE=${GARBAGE_RATE:-300}
RELOAD_SECS=${RELOAD_SECS:-5}
RULES=${RULES:-5000}
THREADS=${THREADS:-2}
PIN=${PIN:-1}  # 1: Hanse on CPU RES_CPUS_1, NSD and the load generators on GEN_CPUS (bench.env)
SOAK_CACHE_MB=${SOAK_CACHE_MB:-32}  # small, so the cache reaches its bound within the first minute of chaos
HANSE_ADDR=127.53.40.1
API_PORT=${API_PORT:-8053}
HIT_SRC=127.53.41.1 MISS_SRC=127.53.41.2 CHECK_SRC=127.53.41.3
FLOOD_SRC=127.53.42.1 GARBAGE_SRC=127.53.43.1

usage() { sed -n 2,30p "$0" | sed 's/^# \{0,1\}//'; }
while [ $# -gt 0 ]; do
  case "$1" in
    --minutes) MINUTES=$2; shift 2 ;;
    --quick) MINUTES=2; shift ;;
    -h|--help) usage; exit 0 ;;
    *) echo "unknown option: $1" >&2; usage >&2; exit 2 ;;
  esac
done
[[ "$MINUTES" =~ ^[0-9]+$ ]] && [ "$MINUTES" -ge 1 ] && [ "$MINUTES" -le 240 ] || { echo "--minutes: 1 to 240" >&2; exit 2; }
CHAOS_SECS=$((MINUTES * 60))

log() { printf '[soak %s] %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }
die() { log "ERROR: $*"; exit 3; }

for t in dnsperf dig nsd python3 ss curl; do command -v "$t" >/dev/null || die "missing $t (bench/setup.sh installs it)"; done
[ -x "$HANSE_BIN" ] || die "no Hanse binary at $HANSE_BIN: cargo build --release -p hanse (or set HANSE_BIN)"

TS=$(date -u +%Y%m%dT%H%M%SZ)
RES=$BENCH/results/soak-$TS
RAW=$RES/raw
mkdir -p "$RAW"
log "results in $RES"

# ------------------------------------------------------------------ processes
PIDS=()
alive() { local st; st=$(sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | awk '{print $1}'); [ -n "$st" ] && [ "$st" != Z ]; }
stop_pid() {  # SIGTERM, up to 10 s, then SIGKILL: only a PID this script started
  local pid=$1 i
  if alive "$pid"; then
    kill -TERM "$pid" 2>/dev/null
    for i in $(seq 100); do alive "$pid" || break; sleep 0.1; done
    alive "$pid" && { log "pid $pid ignored SIGTERM, sending SIGKILL"; kill -KILL "$pid" 2>/dev/null; }
  fi
  wait "$pid" 2>/dev/null
  return 0
}
cleanup() {
  local i
  trap - EXIT INT TERM
  for ((i = ${#PIDS[@]} - 1; i >= 0; i--)); do stop_pid "${PIDS[$i]}"; done
}
trap cleanup EXIT
trap 'log "interrupted"; exit 130' INT TERM
# start NAME LOG CPUS CMD... -> LAST_PID (recorded in PIDS); taskset execs the command (same PID)
start() {
  local name=$1 logf=$2 cpus=$3; shift 3
  if [ "$PIN" = 1 ]; then set -- taskset -c "$cpus" "$@"; fi
  "$@" > "$logf" 2>&1 < /dev/null &
  LAST_PID=$!
  PIDS+=("$LAST_PID")
  echo "$name: $*" >> "$RES/commands.txt"
}
port_busy() { ss -Hlnu 2>/dev/null | awk '{print $4}' | grep -qxE "($1|0\.0\.0\.0|\*):$2"; }

# ------------------------------------------------------------------ hierarchy
if [ ! -f "$WORK/zones.json" ] || [ "$BENCH/bench.env" -nt "$WORK/zones.json" ]; then
  log "generating the unsigned hierarchy in $WORK"
  python3 "$BENCH/lib/gen_zones.py" > "$RAW/gen_zones.log" 2>&1 || die "gen_zones.py failed (see $RAW/gen_zones.log)"
fi
jq_zone() { python3 -c "import json,sys;d=json.load(open('$WORK/zones.json'));print(eval(sys.argv[1]))" "$1"; }
for inst in root tld sld; do
  first=$(jq_zone "d['nsd']['$inst'][0]")
  port_busy "$first" 53 && die "$first:53 already in use (another bench run? use flock /tmp/hanse-bench.lock)"
done
port_busy "$HANSE_ADDR" 53 && die "$HANSE_ADDR:53 already in use"
for inst in root tld sld; do
  rm -f "$WORK/nsd/$inst/nsd.pid"
  start "nsd-$inst" "$RAW/nsd-$inst.log" "$AUTH_CPUS" /usr/sbin/nsd -d -c "$WORK/nsd/$inst/nsd.conf"
done
for inst in root tld sld; do
  read -r addr zone < <(jq_zone "d['nsd']['$inst'][0] + ' ' + d['probe']['$inst']")
  ok=0
  for _ in $(seq 300); do
    dig @"$addr" +norec +time=1 +tries=1 "$zone" SOA 2>/dev/null | grep -q 'status: NOERROR' && { ok=1; break; }
    sleep 0.1
  done
  [ "$ok" = 1 ] || die "NSD $inst not answering on $addr"
done
log "authoritative hierarchy up"

# ------------------------------------------------------------------ query sets
HIT_FILE=$WORK/queries/hit.txt
CANARY=$(grep -vxFf "$HIT_FILE" "$WORK/queries/miss.txt" | tail -1 | awk '{print $1}')
[ -n "$CANARY" ] || die "no canary name"
CANARY_ZONE=${CANARY#*.}
CANARY_ADDR=""  # learnt from Hanse before the first reload (generation 0 does not block it)
grep -v "^$CANARY " "$WORK/queries/miss.txt" | grep -vxFf "$HIT_FILE" > "$RAW/miss-set.txt"
# random-subdomain flood: unique random labels under one zone, enough for the whole phase
FLOOD_ZONE=z001.perf
python3 - "$RAW/flood-set.txt" $((FLOOD_QPS * CHAOS_SECS + 1000)) "$FLOOD_ZONE" <<'PY'
import random, string, sys
rng = random.Random(11)
letters = string.ascii_lowercase + string.digits
with open(sys.argv[1], "w") as out:
    for _ in range(min(int(sys.argv[2]), 4_000_000)):
        out.write("".join(rng.choice(letters) for _ in range(12)) + "." + sys.argv[3] + " A\n")
PY

# ------------------------------------------------------------------ Hanse
FEED=$RES/feed.hosts
write_feed() {  # BLOCK_CANARY(0/1): RULES rules + optionally the canary; atomically (rename)
  {
    echo "# soak feed, generation $2"
    for i in $(seq 1 "$RULES"); do echo "0.0.0.0 blocked$i.soak.invalid"; done
    echo "0.0.0.0 gen$2.soak.invalid"
    if [ "$1" = 1 ]; then echo "0.0.0.0 $CANARY"; fi
  } > "$FEED.tmp" && mv "$FEED.tmp" "$FEED"
}
write_feed 0 0
cat > "$RES/hanse.toml" <<CONF
# generated by bench/soak.sh
[server]
listen = ["$HANSE_ADDR:53"]
allow_from = ["127.0.0.0/8"]
threads = $THREADS

[resolver]
root_hints = "$WORK/hints/root.hints"
query_private_upstreams = true
qname_minimisation = "relaxed"

[cache]
max_memory = "${SOAK_CACHE_MB}MiB"

[rate_limit]
# only the legitimate clients are exempt; no per-network query limit, so the
# flood and the garbage arrive in full; overload shedding keeps its defaults
exempt = ["127.53.41.0/24"]
queries_per_second = 0

[api]
enabled = true
listen = "$HANSE_ADDR:$API_PORT"

[log]
level = "warn"

[[policy.feed]]
name = "soak"
format = "hosts"
file = "$FEED"

[[policy.profile]]
name = "default"
feeds = ["soak"]
CONF
"$HANSE_BIN" check-config "$RES/hanse.toml" > "$RAW/check-config.log" 2>&1 || die "check-config failed: $(cat "$RAW/check-config.log")"
start hanse "$RAW/hanse.log" "$RES_CPUS_1" "$HANSE_BIN" serve --config "$RES/hanse.toml"
HANSE_PID=$LAST_PID
ok=0
for _ in $(seq 100); do
  alive "$HANSE_PID" || die "Hanse exited: $(tail -5 "$RAW/hanse.log")"
  dig @"$HANSE_ADDR" +norec +time=1 +tries=1 . SOA > /dev/null 2>&1 && { ok=1; break; }
  sleep 0.1
done
[ "$ok" = 1 ] || die "Hanse did not answer on $HANSE_ADDR:53"
log "Hanse up (pid $HANSE_PID, $("$HANSE_BIN" --version 2>/dev/null | head -1))"

canary_answer() {  # the first A record (or the rcode when none) Hanse gives for the canary
  local out
  out=$(dig @"$HANSE_ADDR" -b "$CHECK_SRC" +time=2 +tries=1 "$CANARY" A 2>/dev/null)
  local a; a=$(echo "$out" | awk '$4 == "A" && $1 ~ /^'"${CANARY%%.*}"'/ {print $5; exit}')
  [ -n "$a" ] && { echo "$a"; return; }
  echo "$out" | grep -o 'status: [A-Z]*' | awk '{print $2}' | head -1
}
[ -n "$CANARY_ADDR" ] || CANARY_ADDR=$(canary_answer)
[[ "$CANARY_ADDR" =~ ^127\. ]] || die "canary $CANARY: no real address ($CANARY_ADDR)"
log "canary $CANARY -> $CANARY_ADDR (unblocked)"

rss_kb() { awk '/^VmRSS:/{print $2}' "/proc/$1/status" 2>/dev/null; }
metrics() { curl -s --max-time 5 "http://$HANSE_ADDR:$API_PORT/metrics"; }
metrics > "$RAW/metrics-start.txt"

# ------------------------------------------------------------------ warm-up + unloaded
GEN=()
[ "$PIN" = 1 ] && GEN=(taskset -c "$GEN_CPUS")
run_hits() {  # LOGFILE SECONDS
  "${GEN[@]}" dnsperf -s "$HANSE_ADDR" -a "$HIT_SRC" -d "$HIT_FILE" -Q "$HIT_QPS" -l "$2" -c 8 -q 200 -t "$TIMEOUT" -v > "$1" 2>&1
}
log "warm-up: the hit set once"
"${GEN[@]}" dnsperf -s "$HANSE_ADDR" -a "$HIT_SRC" -d "$HIT_FILE" -n 1 -Q 3000 -c 8 -q 200 -l 60 -t "$TIMEOUT" > "$RAW/warmup.txt" 2>&1
RSS_START=$(rss_kb "$HANSE_PID")
log "unloaded phase: hits at $HIT_QPS q/s for ${UNLOADED_SECS}s"
run_hits "$RAW/hits-unloaded.txt" "$UNLOADED_SECS"

# ------------------------------------------------------------------ chaos
log "chaos phase: ${CHAOS_SECS}s of hits ${HIT_QPS}/s, misses ${MISS_QPS}/s, flood ${FLOOD_QPS}/s, garbage ${GARBAGE_RATE}/s, reload every ${RELOAD_SECS}s"
T0=$SECONDS
start hits "$RAW/hits-chaos.txt" "$GEN_CPUS" dnsperf -s "$HANSE_ADDR" -a "$HIT_SRC" -d "$HIT_FILE" -Q "$HIT_QPS" -l "$CHAOS_SECS" -c 8 -q 200 -t "$TIMEOUT" -v
HITS_PID=$LAST_PID
start misses "$RAW/misses-chaos.txt" "$GEN_CPUS" dnsperf -s "$HANSE_ADDR" -a "$MISS_SRC" -d "$RAW/miss-set.txt" -n 1 -Q "$MISS_QPS" -l "$CHAOS_SECS" -c 4 -q 200 -t "$TIMEOUT" -v
MISSES_PID=$LAST_PID
start flood "$RAW/flood-chaos.txt" "$GEN_CPUS" dnsperf -s "$HANSE_ADDR" -a "$FLOOD_SRC" -d "$RAW/flood-set.txt" -n 1 -Q "$FLOOD_QPS" -l "$CHAOS_SECS" -c 8 -q 1000 -t "$TIMEOUT"
FLOOD_PID=$LAST_PID
start garbage "$RAW/garbage-chaos.txt" "$GEN_CPUS" python3 "$BENCH/lib/soak_garbage.py" "$HANSE_ADDR" 53 "$GARBAGE_SRC" "$GARBAGE_RATE" "$CHAOS_SECS"
GARBAGE_PID=$LAST_PID

echo "elapsed_s rss_kb" > "$RES/rss.txt"
echo "reload blocked answer took_ms ok" > "$RES/reloads.txt"
RELOADS=0 RELOAD_FAIL=0 GENERATION=0 BLOCKED=0
next_rss=$T0 next_reload=$((T0 + RELOAD_SECS))
RSS_WARM=""
while [ $((SECONDS - T0)) -lt "$CHAOS_SECS" ]; do
  alive "$HANSE_PID" || die "Hanse died during the chaos phase: $(tail -5 "$RAW/hanse.log")"
  if [ "$SECONDS" -ge "$next_rss" ]; then
    r=$(rss_kb "$HANSE_PID"); echo "$((SECONDS - T0)) $r" >> "$RES/rss.txt"
    if [ -z "$RSS_WARM" ] && [ $((SECONDS - T0)) -ge 60 ]; then RSS_WARM=$r; metrics > "$RAW/metrics-warm.txt"; fi
    next_rss=$((next_rss + 10))
  fi
  if [ "$SECONDS" -ge "$next_reload" ]; then
    GENERATION=$((GENERATION + 1)); BLOCKED=$((1 - BLOCKED))
    write_feed "$BLOCKED" "$GENERATION"
    t_start=$(date +%s%N)
    kill -HUP "$HANSE_PID"
    RELOADS=$((RELOADS + 1))
    ok=0 ans=""
    for _ in $(seq 50); do  # at most ~5 s (+ dig time): the change must show
      ans=$(canary_answer)
      if [ "$BLOCKED" = 1 ] && [ "$ans" != "$CANARY_ADDR" ] && [ -n "$ans" ] && [ "$ans" != SERVFAIL ]; then ok=1; break; fi
      if [ "$BLOCKED" = 0 ] && [ "$ans" = "$CANARY_ADDR" ]; then ok=1; break; fi
      sleep 0.1
    done
    took=$(( ($(date +%s%N) - t_start) / 1000000 ))
    [ "$ok" = 1 ] || RELOAD_FAIL=$((RELOAD_FAIL + 1))
    echo "$RELOADS $BLOCKED $ans $took $ok" >> "$RES/reloads.txt"
    next_reload=$((SECONDS + RELOAD_SECS))
  fi
  sleep 0.5
done
log "chaos phase over; waiting for the load generators (timeout ${TIMEOUT}s)"
for p in "$HITS_PID" "$MISSES_PID" "$FLOOD_PID" "$GARBAGE_PID"; do
  for _ in $(seq $(( (TIMEOUT + 15) * 10 ))); do alive "$p" || break; sleep 0.1; done
  stop_pid "$p"
done
alive "$HANSE_PID" || die "Hanse died at the end of the chaos phase"
RSS_END=$(rss_kb "$HANSE_PID"); echo "$((SECONDS - T0)) $RSS_END" >> "$RES/rss.txt"
[ -n "$RSS_WARM" ] || { RSS_WARM=$(awk 'NR==2{print $2}' "$RES/rss.txt"); cp "$RAW/metrics-start.txt" "$RAW/metrics-warm.txt"; }
metrics > "$RAW/metrics-end.txt"
log "after the load: one more unloaded hit run"
run_hits "$RAW/hits-after.txt" "$UNLOADED_SECS"
alive "$HANSE_PID" || die "Hanse died"

# ------------------------------------------------------------------ summary
export SOAK_CACHE_MB PIN_NOTE
if [ "$PIN" = 1 ]; then PIN_NOTE="Hanse CPU $RES_CPUS_1, NSD CPU $AUTH_CPUS, load generators CPU $GEN_CPUS"; else PIN_NOTE=none; fi
python3 - "$RES" "$RAW" "$MINUTES" "$HIT_QPS" "$MISS_QPS" "$FLOOD_QPS" "$GARBAGE_RATE" "$RELOAD_SECS" "$RULES" \
  "$RSS_START" "$RSS_WARM" "$RSS_END" "$RELOADS" "$RELOAD_FAIL" "$THREADS" "$BENCH/lib/parse_dnsperf.py" <<'PY' | tee "$RES/summary.txt"
import json, os, re, subprocess, sys
(res, raw, minutes, hit_qps, miss_qps, flood_qps, garbage_rate, reload_secs, rules,
 rss_start, rss_warm, rss_end, reloads, reload_fail, threads, parser) = sys.argv[1:]
def parse(name):
    out = subprocess.run([sys.executable, parser, os.path.join(raw, name)], capture_output=True, text=True).stdout
    return json.loads(out)
un, ch, af = parse("hits-unloaded.txt"), parse("hits-chaos.txt"), parse("hits-after.txt")
mi, fl = parse("misses-chaos.txt"), parse("flood-chaos.txt")
garbage = json.loads(open(os.path.join(raw, "garbage-chaos.txt")).read().strip().splitlines()[-1])
def metric(path, prefix):
    total = {}
    for line in open(path):
        if line.startswith(prefix):
            key, _, value = line.rpartition(" ")
            total[key] = float(value)
    return total
def delta(prefix):
    a, b = metric(os.path.join(raw, "metrics-start.txt"), prefix), metric(os.path.join(raw, "metrics-end.txt"), prefix)
    return {k: int(b[k] - a.get(k, 0)) for k in sorted(b) if b[k] - a.get(k, 0)}
rss_start, rss_warm, rss_end = int(rss_start), int(rss_warm), int(rss_end)
growth = 100.0 * (rss_end - rss_warm) / rss_warm
ratio50 = ch["p50_ms"] / un["p50_ms"] if un["p50_ms"] else float("nan")
ratio99 = ch["p99_ms"] / un["p99_ms"] if un["p99_ms"] else float("nan")
lost_legit = sum((r["lost"] or 0) for r in (un, ch, af, mi))
checks = {
    "legitimate queries (hits and misses) lost == 0": lost_legit == 0,
    "RSS end within +10% of RSS at 1 min": growth <= 10.0,
    "hit p99 during flood <= 2x unloaded": ratio99 <= 2.0,
    "every reload took effect": int(reload_fail) == 0,
}
w = print
w(f"Hanse soak and chaos run: {minutes} min of chaos, {threads} threads, cache {os.environ['SOAK_CACHE_MB']} MiB, "
  f"pinning: {os.environ['PIN_NOTE']}")
w(f"load: hits {hit_qps}/s, misses {miss_qps}/s, random-subdomain flood {flood_qps}/s, "
  f"malformed datagrams {garbage_rate}/s, reload every {reload_secs}s ({rules} rules + canary)")
w("")
w(f"{'':34}{'sent':>10}{'answered':>10}{'lost':>7}{'p50 ms':>9}{'p99 ms':>9}  rcodes")
for label, r in (("hits, unloaded (before)", un), ("hits, during chaos", ch), ("hits, unloaded (after)", af),
                 ("misses, during chaos", mi), ("flood (not legitimate)", fl)):
    w(f"{label:34}{r['sent'] or 0:>10}{r['completed'] or 0:>10}{r['lost'] or 0:>7}"
      f"{(r['p50_ms'] if r['p50_ms'] is not None else float('nan')):>9.3f}{(r['p99_ms'] if r['p99_ms'] is not None else float('nan')):>9.3f}  "
      + " ".join(f"{k}={v}" for k, v in sorted(r["rcodes"].items())))
w(f"{'malformed datagrams':34}{garbage['sent']:>10}{garbage['answered']:>10}   (answers counted, not parsed)")
w("")
w(f"hit latency during chaos / unloaded: p50 x{ratio50:.2f}, p99 x{ratio99:.2f}")
w(f"resident memory (VmRSS): after warm-up {rss_start/1024:.1f} MiB, at 1 min of chaos {rss_warm/1024:.1f} MiB, "
  f"at the end {rss_end/1024:.1f} MiB ({growth:+.1f}%)")
w(f"policy reloads: {reloads} done, {int(reloads) - int(reload_fail)} verified (canary flipped), {reload_fail} failed")
rl = delta("hanse_rate_limited_total")
w("rate limiting / shedding during chaos: " + (", ".join(f"{k}={v}" for k, v in rl.items()) or "none"))
w("dropped / FORMERR during chaos: " + ", ".join(f"{k}={v}" for k, v in {**delta("hanse_dropped_total"), **delta('hanse_responses_total{rcode="FORMERR"}')}.items()))
def cache(name):
    m = metric(os.path.join(raw, name), "hanse_cache_bytes")
    return sum(m.values()) / 1048576
cap = sum(metric(os.path.join(raw, "metrics-end.txt"), "hanse_cache_capacity_bytes").values()) / 1048576
w(f"cache bytes (accounted): at 1 min {cache('metrics-warm.txt'):.1f} MiB, at the end {cache('metrics-end.txt'):.1f} MiB "
  f"(capacity {cap:.1f} MiB); evictions " + ", ".join(f"{k}={v}" for k, v in delta("hanse_cache_evictions_total").items()))
w("")
for name, ok in checks.items():
    w(f"[{'PASS' if ok else 'FAIL'}] {name}")
open(os.path.join(res, "status"), "w").write("pass\n" if all(checks.values()) else "fail\n")
PY
log "summary: $RES/summary.txt"
ln -sfn "$RES" "$BENCH/results/soak-latest"
[ "$(cat "$RES/status" 2>/dev/null)" = pass ]
