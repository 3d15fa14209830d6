"""The Kubernetes Pod Security Standards (baseline, restricted) as a rule list over pod specs.

No API server can run on our machines, so the admission controller that enforces
`pod-security.kubernetes.io/enforce` cannot be asked. This module encodes the checks of
https://kubernetes.io/docs/concepts/security/pod-security-standards/ (policy version "latest", Kubernetes 1.33)
and returns every violation of a pod spec, naming the container and the field.
"""

from __future__ import annotations

LEVELS = ("privileged", "baseline", "restricted")
BASELINE_CAPS = {
    "AUDIT_WRITE", "CHOWN", "DAC_OVERRIDE", "FOWNER", "FSETID", "KILL", "MKNOD", "NET_BIND_SERVICE",
    "SETFCAP", "SETGID", "SETPCAP", "SETUID", "SYS_CHROOT",
}  # fmt: skip
SAFE_SYSCTLS = {
    "kernel.shm_rmid_forced", "net.ipv4.ip_local_port_range", "net.ipv4.ip_unprivileged_port_start",
    "net.ipv4.tcp_syncookies", "net.ipv4.ping_group_range", "net.ipv4.ip_local_reserved_ports",
    "net.ipv4.tcp_keepalive_time", "net.ipv4.tcp_fin_timeout", "net.ipv4.tcp_keepalive_intvl",
    "net.ipv4.tcp_keepalive_probes",
}  # fmt: skip
RESTRICTED_VOLUMES = {
    "configMap",
    "csi",
    "downwardAPI",
    "emptyDir",
    "ephemeral",
    "persistentVolumeClaim",
    "projected",
    "secret",
}
SELINUX_TYPES = {"", "container_t", "container_init_t", "container_kvm_t", "container_engine_t"}


def _containers(pod: dict) -> list[dict]:
    return [*pod.get("initContainers", []), *pod.get("containers", []), *pod.get("ephemeralContainers", [])]


def baseline_violations(pod: dict, annotations: dict[str, str] | None = None) -> list[str]:
    out: list[str] = []
    psc = pod.get("securityContext") or {}
    for f in ("hostNetwork", "hostPID", "hostIPC"):
        if pod.get(f):
            out.append(f"spec.{f}=true")
    if (psc.get("windowsOptions") or {}).get("hostProcess"):
        out.append("spec.securityContext.windowsOptions.hostProcess=true")
    for v in pod.get("volumes", []):
        if "hostPath" in v:
            out.append(f"volume {v['name']}: hostPath")
    for s in psc.get("sysctls", []) or []:
        if s["name"] not in SAFE_SYSCTLS:
            out.append(f"sysctl {s['name']} is not safe")
    if (psc.get("seccompProfile") or {}).get("type") == "Unconfined":
        out.append("spec.securityContext.seccompProfile Unconfined")
    if (psc.get("seLinuxOptions") or {}).get("type", "") not in SELINUX_TYPES:
        out.append("spec.securityContext.seLinuxOptions.type")
    for key, value in (annotations or {}).items():
        if (
            key.startswith("container.apparmor.security.beta.kubernetes.io/")
            and value
            not in (
                "runtime/default",
                "",
            )
            and not value.startswith("localhost/")
        ):
            out.append(f"annotation {key}={value}")
    for c in _containers(pod):
        sc = c.get("securityContext") or {}
        where = f"container {c['name']}"
        if sc.get("privileged"):
            out.append(f"{where}: privileged")
        if (sc.get("windowsOptions") or {}).get("hostProcess"):
            out.append(f"{where}: hostProcess")
        added = set((sc.get("capabilities") or {}).get("add", []) or [])
        if added - BASELINE_CAPS:
            out.append(f"{where}: capabilities.add {sorted(added - BASELINE_CAPS)}")
        for p in c.get("ports", []) or []:
            if p.get("hostPort"):
                out.append(f"{where}: hostPort {p['hostPort']}")
        if sc.get("procMount", "Default") != "Default":
            out.append(f"{where}: procMount")
        if (sc.get("seccompProfile") or {}).get("type") == "Unconfined":
            out.append(f"{where}: seccompProfile Unconfined")
        if (sc.get("seLinuxOptions") or {}).get("type", "") not in SELINUX_TYPES:
            out.append(f"{where}: seLinuxOptions.type")
        if (sc.get("appArmorProfile") or {}).get("type") == "Unconfined":
            out.append(f"{where}: appArmorProfile Unconfined")
    return out


def restricted_violations(pod: dict, annotations: dict[str, str] | None = None) -> list[str]:
    out = baseline_violations(pod, annotations)
    psc = pod.get("securityContext") or {}
    for v in pod.get("volumes", []):
        kinds = set(v) - {"name"}
        if not kinds <= RESTRICTED_VOLUMES:
            out.append(f"volume {v['name']}: type {sorted(kinds)} is not allowed")
    if psc.get("runAsUser") == 0:
        out.append("spec.securityContext.runAsUser=0")
    pod_seccomp = (psc.get("seccompProfile") or {}).get("type")
    for c in _containers(pod):
        sc = c.get("securityContext") or {}
        where = f"container {c['name']}"
        if sc.get("allowPrivilegeEscalation") is not False:
            out.append(f"{where}: allowPrivilegeEscalation must be false")
        non_root = sc.get("runAsNonRoot", psc.get("runAsNonRoot"))
        if non_root is not True:
            out.append(f"{where}: runAsNonRoot must be true (pod or container)")
        if sc.get("runAsUser") == 0:
            out.append(f"{where}: runAsUser=0")
        seccomp = (sc.get("seccompProfile") or {}).get("type", pod_seccomp)
        if seccomp not in ("RuntimeDefault", "Localhost"):
            out.append(f"{where}: seccompProfile must be RuntimeDefault or Localhost")
        caps = sc.get("capabilities") or {}
        if "ALL" not in (caps.get("drop") or []):
            out.append(f"{where}: capabilities.drop must include ALL")
        if set(caps.get("add") or []) - {"NET_BIND_SERVICE"}:
            out.append(f"{where}: capabilities.add beyond NET_BIND_SERVICE")
    return out


def violations(level: str, pod: dict, annotations: dict[str, str] | None = None) -> list[str]:
    if level == "privileged":
        return []
    if level == "baseline":
        return baseline_violations(pod, annotations)
    if level == "restricted":
        return restricted_violations(pod, annotations)
    raise ValueError(f"unknown Pod Security level {level!r}")


def pod_templates(doc: dict) -> list[tuple[dict, dict[str, str]]]:
    """(pod spec, pod annotations) of a workload object; [] for objects that create no pods themselves."""
    kind = doc.get("kind")
    if kind == "Pod":
        return [(doc["spec"], doc["metadata"].get("annotations") or {})]
    if kind in ("Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job"):
        t = doc["spec"]["template"]
        return [(t["spec"], (t.get("metadata") or {}).get("annotations") or {})]
    if kind == "CronJob":
        t = doc["spec"]["jobTemplate"]["spec"]["template"]
        return [(t["spec"], (t.get("metadata") or {}).get("annotations") or {})]
    if kind == "InferenceService":
        predictor = dict(doc["spec"]["predictor"])
        return [(predictor, doc["metadata"].get("annotations") or {})]
    return []


def level_of(namespace_doc: dict) -> str:
    return (namespace_doc["metadata"].get("labels") or {}).get(
        "pod-security.kubernetes.io/enforce", "privileged"
    )
