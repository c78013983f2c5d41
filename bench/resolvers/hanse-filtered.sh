#!/usr/bin/env bash
# Hanse with filtering on: a 1,000,000-entry RPZ (generated once into
# $WORK/filter/), three profiles, the bench clients mapped to one that uses it.
# Names of the RPZ never overlap the hit or miss sets (*.blocked.invalid), so
# the cost measured is that of checking every answer against the policy.
set -eu
ADDR=$1 PORT=$2 THREADS=$3 DNSSEC=$4 RUNDIR=$5
source "$(dirname "$0")/../bench.env"
mkdir -p "$RUNDIR"
FILTER=$WORK/filter
RPZ=$FILTER/malware-1m.rpz
if [ ! -s "$RPZ" ]; then
  mkdir -p "$FILTER"
  python3 - "$RPZ" <<'PY'
import sys
with open(sys.argv[1], "w") as out:
    out.write("$TTL 60\n@ SOA localhost. root.localhost. 1 3600 600 86400 60\n@ NS localhost.\n")
    for index in range(500_000):
        out.write(f"h{index}.z{index % 1000}.blocked.invalid CNAME .\n")
        out.write(f"*.w{index}.z{index % 1000}.blocked.invalid CNAME .\n")
PY
  printf '0.0.0.0 social%d.invalid\n' $(seq 1 1000) > "$FILTER/social.hosts"
  printf '0.0.0.0 ads%d.invalid\n' $(seq 1 1000) > "$FILTER/ads.hosts"
fi
# The base configuration is hanse.sh's; the policy sections are added to it.
"$(dirname "$0")/hanse.sh" "$ADDR" "$PORT" "$THREADS" "$DNSSEC" "$RUNDIR" --config-only
cat >> "$RUNDIR/hanse.toml" <<CONF

[[policy.feed]]
name = "malware"
format = "rpz"
file = "$RPZ"
origin = "malware.rpz."

[[policy.feed]]
name = "social"
format = "hosts"
file = "$FILTER/social.hosts"

[[policy.feed]]
name = "ads"
format = "hosts"
file = "$FILTER/ads.hosts"

[[policy.profile]]
name = "default"
feeds = ["malware", "ads"]

[[policy.profile]]
name = "kids"
feeds = ["malware", "social", "ads"]
block_answer = "null"

[[policy.profile]]
name = "business"
feeds = ["malware"]

[[policy.client]]
cidr = "10.0.0.0/8"
profile = "kids"

[[policy.client]]
cidr = "192.168.0.0/16"
profile = "business"
CONF
if [ "${6:-}" = --config-only ]; then
  [ -x "$HANSE_BIN" ] || exit 0
  "$HANSE_BIN" check-config "$RUNDIR/hanse.toml" > /dev/null
  exit 0
fi
exec "$HANSE_BIN" serve --config "$RUNDIR/hanse.toml"
