#!/usr/bin/env bash
# scripts/deploy-validate.sh - checks the VM deployment files (docs/deploy.md):
#
#   HANSE_BIN=target/release/hanse bash scripts/deploy-validate.sh
#
# 1. deploy/systemd/hanse.service: `systemd-analyze verify` (Debian package systemd) on
#    a copy whose ExecStart names $HANSE_BIN (verify wants the binary to exist); any
#    message (an unknown key is only a warning to systemd) is a failure; then
#    `systemd-analyze security --offline=yes` must rate the unit's exposure below 2.5.
# 2. deploy/cloud-init/user-data.yaml: YAML syntax (python3-yaml), `#cloud-config`
#    first, the unit inside identical to deploy/systemd/hanse.service, and its hanse.toml
#    accepted by `hanse check-config` with its credentials put where the unit's
#    LoadCredential= would put them. `cloud-init schema` too when cloud-init is installed.
# A missing tool is a failure, never a skip (except cloud-init, which Debian's CI image
# does not carry and which would pull in a large dependency tree; said on stdout).
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
HANSE_BIN=${HANSE_BIN:-$REPO/target/release/hanse}
UNIT=$REPO/deploy/systemd/hanse.service
USER_DATA=$REPO/deploy/cloud-init/user-data.yaml
WORK=$(mktemp -d /tmp/hanse-deploy-validate.XXXXXX)
trap 'rm -rf "$WORK"' EXIT

fail() { echo "deploy-validate: FAILED: $*" >&2; exit 1; }
command -v systemd-analyze >/dev/null || fail "systemd-analyze missing (Debian package systemd)"
command -v python3 >/dev/null || fail "python3 missing"
python3 -c 'import yaml' 2>/dev/null || fail "python3 yaml missing (Debian package python3-yaml)"
[ -x "$HANSE_BIN" ] || fail "no hanse binary at $HANSE_BIN"
HANSE_BIN=$(cd "$(dirname "$HANSE_BIN")" && pwd)/$(basename "$HANSE_BIN")

# ---- 1. the systemd unit
sed "s#/usr/local/bin/hanse#$HANSE_BIN#" "$UNIT" > "$WORK/hanse.service"
timeout 30 systemd-analyze verify "$WORK/hanse.service" > "$WORK/verify.out" 2>&1 \
  || { cat "$WORK/verify.out"; fail "systemd-analyze verify"; }
if [ -s "$WORK/verify.out" ]; then
  cat "$WORK/verify.out"
  fail "systemd-analyze verify printed messages"
fi
# A broken unit must be refused by the same check (the check can fail).
sed 's/^WatchdogSec=/WatchdogSecond=/' "$WORK/hanse.service" > "$WORK/broken.service"
timeout 30 systemd-analyze verify "$WORK/broken.service" > "$WORK/broken.out" 2>&1 || true
[ -s "$WORK/broken.out" ] || fail "systemd-analyze verify did not notice an unknown key"
exposure=$(timeout 30 systemd-analyze security --offline=yes "$WORK/hanse.service" 2>&1 \
  | sed -n 's/.*Overall exposure level for hanse.service: \([0-9.]*\).*/\1/p')
[ -n "$exposure" ] || fail "systemd-analyze security gave no exposure level"
python3 -c "import sys; sys.exit(0 if float('$exposure') < 2.5 else 1)" \
  || fail "the unit's exposure level is $exposure (want below 2.5)"
echo "systemd unit: verify clean, exposure level $exposure"

# ---- 2. the cloud-init user data
python3 - "$USER_DATA" "$UNIT" "$WORK" <<'PY'
import os, sys, yaml
user_data, unit, work = sys.argv[1:4]
text = open(user_data).read()
if not text.startswith("#cloud-config\n"):
    sys.exit("user-data.yaml: the first line must be #cloud-config")
data = yaml.safe_load(text)
files = {entry["path"]: entry for entry in data["write_files"]}
if files["/etc/systemd/system/hanse.service"]["content"] != open(unit).read():
    sys.exit("user-data.yaml: the embedded unit differs from deploy/systemd/hanse.service")
credentials = os.path.join(work, "credentials")
os.makedirs(credentials)
for path, entry in files.items():
    if path.startswith("/etc/hanse/credentials/"):
        with open(os.path.join(credentials, os.path.basename(path)), "w") as out:
            out.write(entry["content"])
config = files["/etc/hanse/hanse.toml"]["content"]
config = config.replace("/run/credentials/hanse.service/", credentials + "/")
config = config.replace('"/var/lib/hanse"', '"' + os.path.join(work, "state") + '"')
open(os.path.join(work, "hanse.toml"), "w").write(config)
if not any("enable --now hanse.service" in str(command) for command in data["runcmd"]):
    sys.exit("user-data.yaml: runcmd does not start hanse.service")
print("cloud-init user data: YAML parses, %d files, unit in step" % len(files))
PY
"$HANSE_BIN" check-config "$WORK/hanse.toml" > "$WORK/check.out" 2>&1 \
  || { cat "$WORK/check.out"; fail "hanse check-config refused the user data's hanse.toml"; }
echo "cloud-init user data: hanse.toml accepted by hanse check-config"
if command -v cloud-init >/dev/null; then
  timeout 60 cloud-init schema --config-file "$USER_DATA" || fail "cloud-init schema"
else
  echo "cloud-init not installed: schema not checked (YAML syntax and content only)"
fi
echo "deploy-validate: OK"
