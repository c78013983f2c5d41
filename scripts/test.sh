#!/usr/bin/env bash
# scripts/test.sh - every check CI runs, in order; stops at the first failure.
#
#   bash scripts/test.sh
#
# 1. installs what the tests need if it is missing: the Debian packages in PKGS (needs
#    root; `apt-get update` only when something is missing), cargo-deny, and aioquic
#    (pinned, from PyPI) in a venv for the DNS over QUIC tests' client
# 2. cargo fmt --check, clippy with -D warnings, release build, the test suite
#    (cargo-nextest if installed, else cargo test), the dashboard in headless Chromium
#    (scripts/e2e.sh; SKIP_E2E=1 skips it), the Kubernetes manifests (scripts/k8s-validate.sh),
#    the systemd unit and cloud-init file (scripts/deploy-validate.sh), the multi-node
#    fleet test in network namespaces (scripts/fleet-netns.sh, needs root),
#    cargo deny (licences, bans, sources)
# 3. the correctness comparison against Unbound (bench/compare/run.sh, 2000 questions)
#    and the RPZ comparison against BIND 9 (bench/rpz-compare/run.sh, same policy zones)
#
# Environment: COMPARE_NAMES (default 2000) sets the comparison's size;
# HANSE_DOQ_VENV (default ~/.cache/hanse/doq-venv) is the DoQ client's venv; the tests
# find its python through HANSE_DOQ_PYTHON. SKIP_INSTALL=1 skips step 1; SKIP_COMPARE=1
# skips step 3; FUZZ_SECONDS (default 12) sets the fuzz smoke run per parser target
# (fuzz/smoke.sh; the other targets run FUZZ_SECONDS_BEYOND, default 6), SKIP_FUZZ=1
# skips it.
# Network: only apt-get, cargo install, pip and cargo fetching crates; the tests' DNS traffic
# stays on 127.0.0.0/8, and the fleet test's on its own bridge (10.253.0.0/24, namespaces
# hfleet-*, removed at its end).
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$REPO"
COMPARE_NAMES=${COMPARE_NAMES:-2000}
FUZZ_SECONDS=${FUZZ_SECONDS:-12}
# python3 (the comparison's generator and client) and iproute2 (ss, for free-port
# checks) are not in every minimal Debian image, so they are listed too.
# python3-venv: the venv of aioquic, the DNS over QUIC client of crates/hanse/tests/doq.rs.
# systemd (systemd-analyze), python3-yaml and curl are for the deployment checks and the
# fleet test (scripts/deploy-validate.sh, scripts/fleet-netns.sh); fstrm-bin
# (fstrm_capture) is the dnstap collector of crates/hanse/tests/dnstap.rs.
PKGS=(nsd knot bind9 unbound dnsutils knot-dnsutils ldnsutils dnsperf python3 python3-venv iproute2
  systemd python3-yaml curl fstrm-bin)
# The DoQ tests' client: aioquic (pinned) in its own venv.
AIOQUIC_VERSION=1.7.2
DOQ_VENV=${HANSE_DOQ_VENV:-$HOME/.cache/hanse/doq-venv}
export HANSE_DOQ_PYTHON="$DOQ_VENV/bin/python3"
T_START=$(date +%s)
STEP_START=$T_START
CURRENT=""

step() {
  local now
  now=$(date +%s)
  [ -n "$CURRENT" ] && printf '=== done: %s (%d s)\n' "$CURRENT" $((now - STEP_START))
  CURRENT=$1
  STEP_START=$now
  printf '\n=== [%s] %s\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$1"
}
on_exit() {
  local rc=$?
  if [ "$rc" = 0 ]; then
    printf '=== done: %s (%d s)\n' "$CURRENT" $(($(date +%s) - STEP_START))
    printf '\n=== [%s] all checks passed (%d s)\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" \
      $(($(date +%s) - T_START))
  else
    printf '\n=== [%s] FAILED in step: %s (exit %d, after %d s)\n' \
      "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "${CURRENT:-?}" "$rc" $(($(date +%s) - T_START)) >&2
  fi
}
trap on_exit EXIT

# ------------------------------------------------------------------ installs
if [ "${SKIP_INSTALL:-0}" != 1 ]; then
  step "install test dependencies (if missing)"
  missing=()
  for p in "${PKGS[@]}"; do
    dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
  done
  if [ ${#missing[@]} -gt 0 ]; then
    echo "installing: ${missing[*]}"
    SUDO=""
    [ "$(id -u)" = 0 ] || SUDO=sudo
    $SUDO apt-get update
    # The nsd and unbound packages would start their own services on port 53, which
    # the comparison's NSD instances need: a temporary policy-rc.d (the Debian
    # mechanism for this) keeps maintainer scripts from starting any service.
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
  else
    echo "Debian packages present: ${PKGS[*]}"
  fi
  if ! cargo deny --version >/dev/null 2>&1; then
    echo "installing cargo-deny"
    cargo install --locked cargo-deny
  fi
  cargo deny --version
  if ! "$DOQ_VENV/bin/python3" -c "import aioquic, sys; sys.exit(aioquic.__version__ != '$AIOQUIC_VERSION')" 2>/dev/null; then
    echo "installing aioquic $AIOQUIC_VERSION into $DOQ_VENV"
    python3 -m venv "$DOQ_VENV"
    "$DOQ_VENV/bin/pip" install --quiet --disable-pip-version-check "aioquic==$AIOQUIC_VERSION"
  fi
  "$DOQ_VENV/bin/python3" -c 'import aioquic; print("aioquic", aioquic.__version__)'
  if [ "${SKIP_FUZZ:-0}" != 1 ] && ! command -v cargo-fuzz >/dev/null 2>&1; then
    echo "installing cargo-fuzz"
    cargo install --locked cargo-fuzz
  fi
fi

# ------------------------------------------------------------------ checks
step "toolchain"
rustc --version
cargo --version

step "cargo fmt --all -- --check"
cargo fmt --all -- --check

step "cargo clippy --workspace --all-targets -- -D warnings"
cargo clippy --workspace --all-targets -- -D warnings

step "cargo build --release"
cargo build --release

if cargo nextest --version >/dev/null 2>&1; then
  step "cargo nextest run --workspace"
  cargo nextest run --workspace
else
  step "cargo test --workspace (cargo-nextest not installed)"
  cargo test --workspace
fi

if [ "${SKIP_E2E:-0}" != 1 ]; then
  step "dashboard end-to-end test in headless Chromium (scripts/e2e.sh)"
  bash scripts/e2e.sh
fi

step "Kubernetes manifests rendered and validated (scripts/k8s-validate.sh)"
HANSE_BIN="${CARGO_TARGET_DIR:-target}/release/hanse" bash scripts/k8s-validate.sh

step "systemd unit and cloud-init user data (scripts/deploy-validate.sh)"
HANSE_BIN="${CARGO_TARGET_DIR:-target}/release/hanse" bash scripts/deploy-validate.sh

step "multi-node fleet in network namespaces (scripts/fleet-netns.sh)"
HANSE_BIN="${CARGO_TARGET_DIR:-target}/release/hanse" bash scripts/fleet-netns.sh

step "cargo deny check licenses bans sources"
cargo deny check licenses bans sources

if [ "${SKIP_FUZZ:-0}" != 1 ]; then
  step "fuzz smoke run (fuzz/smoke.sh $FUZZ_SECONDS s per target)"
  bash fuzz/smoke.sh "$FUZZ_SECONDS"
fi

if [ "${SKIP_COMPARE:-0}" != 1 ]; then
  step "correctness comparison against Unbound (bench/compare/run.sh --names $COMPARE_NAMES)"
  bash bench/compare/run.sh --names "$COMPARE_NAMES"
  step "RPZ comparison against BIND 9 (bench/rpz-compare/run.sh)"
  bash bench/rpz-compare/run.sh
fi
