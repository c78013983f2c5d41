#!/bin/bash
# setup.sh - install the tools, generate the synthetic DNS hierarchy (zones, keys,
# NSD configs, root hints, trust anchor, query files) and the resolver configs.
# Re-runnable: everything under work/ is regenerated.  Usage: ./setup.sh [--no-install]
# (run.sh calls it when work/ is missing; WORK=... ZONES_PER_TLD=... etc. override bench.env)
set -euo pipefail
BENCH=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
export BENCH
set -a; source "$BENCH/bench.env"; set +a

INSTALL=1
[ "${1:-}" = --no-install ] && INSTALL=0

PKGS="nsd unbound pdns-recursor knot-resolver bind9 dnsperf dnsutils ldnsutils knot-dnsutils time bc iproute2 procps util-linux python3"
# Note: Debian's "flamethrower" package is SystemImager's multicast file tool, not the
# DNS load generator of the same name - it is deliberately not installed.
if [ "$INSTALL" = 1 ]; then
  missing=$(for p in $PKGS; do dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q 'install ok installed' || echo "$p"; done)
  if [ -n "$missing" ]; then
    echo "installing: $missing"
    [ -n "$(find /var/lib/apt/lists -maxdepth 1 -name '*Packages*' 2>/dev/null | head -1)" ] || apt-get update
    DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends $missing
  fi
  # On a systemd host the packages' own services may have been started on 127.0.0.1:53 etc.
  if [ -d /run/systemd/system ]; then
    for s in unbound named pdns-recursor nsd kresd@1; do
      if systemctl is-active --quiet "$s" 2>/dev/null; then
        echo "WARNING: service $s is running (started by its package); the benchmark uses its own"
        echo "         addresses, but it will steal CPU: consider 'systemctl disable --now $s'"
      fi
    done
  fi
fi

echo "== versions"
nsd -v 2>&1 | sed -n 1p
unbound -V | sed -n 1p
pdns_recursor --version 2>&1 | grep -o 'PowerDNS Recursor [^ ]*' | sed -n 1p
kresd -V
named -v
dnsperf -h 2>&1 | grep '^Version'

echo "== zones (work/zones, keys in work/keys, NSD configs in work/nsd)"
python3 "$BENCH/lib/gen_zones.py"
for inst in root tld sld calib; do nsd-checkconf "$WORK/nsd/$inst/nsd.conf"; done
nsd-checkzone . "$(awk -F'"' '/^  zonefile:/{print $2}' "$WORK/nsd/root/nsd.conf")" > /dev/null
nsd-checkzone z000.bench "$(awk -F'"' '/^  zonefile:/{print $2; exit}' "$WORK/nsd/sld/nsd.conf")" > /dev/null
echo "nsd configs and sample zones OK"

echo "== resolver configs (work/conf/<name>-t<threads>-<dnssec>/; run.sh regenerates them per start)"
rm -rf "$WORK/conf"
modes=""
for t in $THREAD_COUNTS; do modes+="$t:off "; [ "$SIGN" = 1 ] && modes+="$t:on "; done
while read -r name addr port rmodes cmd; do
  [[ "$name" =~ ^(#|$) ]] && continue
  launcher="$BENCH/resolvers/$name.sh"
  [ -x "$launcher" ] || continue          # only built-ins have --config-only launchers
  for m in $modes; do
    t=${m%%:*}; dn=${m##*:}
    if [ "$rmodes" != all ] && ! [[ ",$rmodes," == *",$m,"* ]]; then continue; fi
    "$launcher" "$addr" "$port" "$t" "$dn" "$WORK/conf/$name-t$t-$dn" --config-only
  done
  echo "$name: $(ls "$WORK/conf" | grep -c "^$name-") configs OK ($addr:$port)"
done < "$BENCH/resolvers.conf"
echo "setup done: now run ./run.sh"
touch "$WORK/.setup-done"
