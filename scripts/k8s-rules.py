"""Checks of rendered Hanse manifests that schemas cannot express.

Used by scripts/k8s-validate.sh after schema validation:

    k8s-rules.py OVERLAY RENDERED.yaml OUT.toml   check; write the ConfigMap's hanse.toml
    k8s-rules.py --secrets RENDERED.yaml DIR      write the Secret's values as files

The rules are those of docs/fleet.md: a non-root pod with only
NET_BIND_SERVICE, a read-only root with an emptyDir for state, probes on the
health endpoints, Prometheus annotations, resource requests and limits, DNS on
UDP and TCP 53 with externalTrafficPolicy: Local, a PodDisruptionBudget, the
configuration from a hashed ConfigMap, and lame_duck plus the drain within
terminationGracePeriodSeconds.
"""

import base64
import pathlib
import re
import sys
import tomllib

import yaml

DRAIN_SECONDS = 5  # DRAIN_GRACE in crates/hanse/src/main.rs


def fail(overlay, message):
    print(f"k8s-validate: FAIL: {overlay}: {message}", file=sys.stderr)
    return False


def duration_seconds(text):
    match = re.fullmatch(r"(\d+)(ms|s|m|h|d)?", str(text))
    if not match:
        raise ValueError(f"not a duration: {text!r}")
    number, unit = int(match.group(1)), match.group(2) or "s"
    return number * {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400}[unit]


def check(overlay, documents, toml_out):
    by_kind = {}
    for document in documents:
        by_kind.setdefault(document["kind"], []).append(document)
    ok = True
    workloads = by_kind.get("Deployment", []) + by_kind.get("DaemonSet", [])
    expected = {"node-local": "DaemonSet", "central-pool": "Deployment"}.get(overlay)
    if len(workloads) != 1:
        return fail(overlay, f"expected one workload, found {len(workloads)}")
    workload = workloads[0]
    if expected and workload["kind"] != expected:
        ok = fail(overlay, f"the workload is a {workload['kind']}, expected {expected}")
    if overlay == "central-pool" and not by_kind.get("HorizontalPodAutoscaler"):
        ok = fail(overlay, "no HorizontalPodAutoscaler")
    if not by_kind.get("PodDisruptionBudget"):
        ok = fail(overlay, "no PodDisruptionBudget")
    template = workload["spec"]["template"]
    pod = template["spec"]
    annotations = template["metadata"].get("annotations", {})
    if annotations.get("prometheus.io/scrape") != "true" or not annotations.get("prometheus.io/port"):
        ok = fail(overlay, "no prometheus.io scrape annotations on the pod")
    if not pod.get("securityContext", {}).get("runAsNonRoot"):
        ok = fail(overlay, "the pod does not set runAsNonRoot")
    container = next(c for c in pod["containers"] if c["name"] == "hanse")
    context = container.get("securityContext", {})
    capabilities = context.get("capabilities", {})
    if capabilities.get("drop") != ["ALL"] or capabilities.get("add") != ["NET_BIND_SERVICE"]:
        ok = fail(overlay, "capabilities must drop ALL and add only NET_BIND_SERVICE")
    if not context.get("readOnlyRootFilesystem") or context.get("allowPrivilegeEscalation") is not False:
        ok = fail(overlay, "the root file system must be read-only, without privilege escalation")
    resources = container.get("resources", {})
    for part in ("requests", "limits"):
        if not {"cpu", "memory"} <= set(resources.get(part, {})):
            ok = fail(overlay, f"resources.{part} must give cpu and memory")
    probes = {
        "livenessProbe": "/healthz/live",
        "readinessProbe": "/healthz/ready",
    }
    for probe, path in probes.items():
        if container.get(probe, {}).get("httpGet", {}).get("path") != path:
            ok = fail(overlay, f"{probe} must ask {path}")
    volumes = {volume["name"]: volume for volume in pod.get("volumes", [])}
    mounts = {mount["mountPath"]: mount["name"] for mount in container.get("volumeMounts", [])}
    state = volumes.get(mounts.get("/var/lib/hanse", ""), {})
    if "emptyDir" not in state:
        ok = fail(overlay, "/var/lib/hanse must be an emptyDir")
    config_maps = by_kind.get("ConfigMap", [])
    config_volume = volumes.get(mounts.get("/etc/hanse/config", ""), {})
    config_name = config_volume.get("configMap", {}).get("name", "")
    config_map = next((m for m in config_maps if m["metadata"]["name"] == config_name), None)
    if config_map is None or not re.fullmatch(r"hanse-config-[a-z0-9]{10}", config_name):
        return fail(overlay, f"the config volume must name the hashed hanse-config ConfigMap, not {config_name!r}")
    text = config_map["data"]["hanse.toml"]
    toml_out and pathlib.Path(toml_out).write_text(text)
    config = tomllib.loads(text)
    lame_duck = duration_seconds(config.get("server", {}).get("lame_duck", "5s"))
    grace = pod.get("terminationGracePeriodSeconds", 30)
    if lame_duck + DRAIN_SECONDS + 3 > grace:
        ok = fail(overlay, f"lame_duck {lame_duck} s + drain {DRAIN_SECONDS} s + 3 s exceed the grace period {grace} s")
    api = config.get("api", {})
    if not api.get("listen", "").startswith("0.0.0.0:") or not api.get("token"):
        ok = fail(overlay, "the API must listen on 0.0.0.0 with [[api.token]] entries")
    dns = [s for s in by_kind.get("Service", []) if s["spec"].get("type") == "LoadBalancer"]
    if len(dns) != 1:
        return fail(overlay, "expected one LoadBalancer Service for DNS")
    spec = dns[0]["spec"]
    if spec.get("externalTrafficPolicy") != "Local":
        ok = fail(overlay, "the DNS Service must have externalTrafficPolicy: Local")
    ports = {(port["port"], port["protocol"]) for port in spec["ports"]}
    if ports != {(53, "UDP"), (53, "TCP")}:
        ok = fail(overlay, f"the DNS Service must serve 53 UDP and TCP, not {sorted(ports)}")
    if not by_kind.get("Secret"):
        ok = fail(overlay, "no Secret for API tokens and TSIG keys")
    return ok


def write_secrets(documents, directory):
    directory = pathlib.Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    for document in documents:
        if document["kind"] != "Secret":
            continue
        for key, value in document.get("stringData", {}).items():
            (directory / key).write_text(value + "\n")
        for key, value in document.get("data", {}).items():
            (directory / key).write_bytes(base64.b64decode(value))


def main(arguments):
    if arguments[:1] == ["--secrets"]:
        documents = [d for d in yaml.safe_load_all(pathlib.Path(arguments[1]).read_text()) if d]
        write_secrets(documents, arguments[2])
        return 0
    overlay, rendered, toml_out = arguments
    documents = [d for d in yaml.safe_load_all(pathlib.Path(rendered).read_text()) if d]
    return 0 if check(overlay, documents, toml_out) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
