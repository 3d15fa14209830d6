"""Every pod edtune ships is admitted by the Pod Security level its namespace enforces.

No Kubernetes API server can run here, so the admission check is tests/cluster/podsecurity.py: the Pod Security
Standards as a rule list, applied to every pod template of every rendered overlay, to the KServe
InferenceService `edtune adapters kserve` generates, and to the pipeline's task pods as the KFP backend builds
them from the compiled spec. Namespaces whose level edtune does not own are pinned here with the reason.
"""

from __future__ import annotations

import hashlib
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from edtune.config import load_config
from edtune.pipeline import PIPELINES, compile_pipelines

from .podsecurity import level_of, pod_templates, violations

ROOT = Path(__file__).resolve().parents[2]
OVERLAYS = ["dev", "prod", "prod-vllm"]
KUBECTL = Path(sys.executable).parent / "kubectl"
#: Namespaces edtune uses but does not create, with the level they must not exceed for edtune's pods to run.
EXTERNAL_LEVELS = {
    # The Kubeflow profile namespace: Kubeflow's profile controller owns its labels; KFP's driver/launcher and
    # Istio sidecars are not `restricted`, so edtune's pods are checked against `baseline` there.
    "edtune-runs": "baseline",
}
#: Custom resources whose pods an operator creates: the most their namespace may enforce.
OPERATOR_MAX_LEVEL = {"Milvus": "baseline"}  # milvus-operator #302, #464: its pods are not `restricted`
LEVELS_UP_TO = {"privileged": ("privileged",), "baseline": ("privileged", "baseline")}


@pytest.fixture(scope="module")
def rendered() -> dict[str, list[dict]]:
    out = {}
    for overlay in OVERLAYS:
        proc = subprocess.run(
            [str(KUBECTL), "kustomize", str(ROOT / "manifests" / "overlays" / overlay)],
            capture_output=True,
            text=True,
            check=False,
            timeout=300,
        )
        assert proc.returncode == 0, proc.stderr
        out[overlay] = [d for d in yaml.safe_load_all(proc.stdout) if d]
    return out


def namespace_levels(docs: list[dict]) -> dict[str, str]:
    levels = dict(EXTERNAL_LEVELS)
    levels.update({d["metadata"]["name"]: level_of(d) for d in docs if d["kind"] == "Namespace"})
    return levels


BAD_PODS = [
    ("privileged container", "baseline", {"containers": [{"name": "c", "securityContext": {"privileged": True}}]}),
    ("hostPath volume", "baseline", {"containers": [{"name": "c"}], "volumes": [{"name": "v", "hostPath": {"path": "/"}}]}),
    ("NET_ADMIN (istio-init)", "baseline", {"containers": [{"name": "c", "securityContext": {"capabilities": {"add": ["NET_ADMIN"]}}}]}),
    ("host network", "baseline", {"hostNetwork": True, "containers": [{"name": "c"}]}),
    ("no security context", "restricted", {"containers": [{"name": "c"}]}),
    ("root allowed", "restricted", {"securityContext": {"seccompProfile": {"type": "RuntimeDefault"}}, "containers": [{"name": "c", "securityContext": {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}}}]}),
]  # fmt: skip


@pytest.mark.parametrize(("what", "level", "pod"), BAD_PODS, ids=[b[0] for b in BAD_PODS])
def test_the_rule_list_refuses_known_bad_pods(what: str, level: str, pod: dict) -> None:
    assert violations(level, pod), what
    if level == "restricted":
        assert not violations("baseline", pod), f"{what} is a restricted-only violation"


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_rendered_pod_meets_the_level_its_namespace_enforces(rendered: dict, overlay: str) -> None:
    docs = rendered[overlay]
    levels = namespace_levels(docs)
    checked = 0
    for d in docs:
        ns = d["metadata"].get("namespace")
        for pod, notes in pod_templates(d):
            assert ns in levels, f"{d['kind']}/{d['metadata']['name']}: namespace {ns!r} has no known level"
            problems = violations(levels[ns], pod, notes)
            assert problems == [], (
                f"{overlay}: {d['kind']}/{d['metadata']['name']} in {ns} ({levels[ns]}): {problems}"
            )
            checked += 1
    assert checked >= 2


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_edtune_pods_also_meet_restricted_where_the_namespace_only_warns(
    rendered: dict, overlay: str
) -> None:
    """The edtune namespace enforces baseline but audits/warns restricted: edtune's own pods must not warn."""
    docs = rendered[overlay]
    [ns] = [d for d in docs if d["kind"] == "Namespace" and d["metadata"]["name"] == "edtune"]
    labels = ns["metadata"]["labels"]
    assert (
        labels["pod-security.kubernetes.io/warn"]
        == labels["pod-security.kubernetes.io/audit"]
        == "restricted"
    )
    for d in docs:
        if d["metadata"].get("namespace") == "edtune":
            for pod, notes in pod_templates(d):
                assert violations("restricted", pod, notes) == [], f"{d['kind']}/{d['metadata']['name']}"


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_operator_managed_resources_live_where_their_pods_are_admitted(rendered: dict, overlay: str) -> None:
    docs = rendered[overlay]
    levels = namespace_levels(docs)
    for d in docs:
        most = OPERATOR_MAX_LEVEL.get(d["kind"])
        if most is None:
            continue
        ns = d["metadata"]["namespace"]
        assert ns != "edtune", "Milvus gets its own namespace"
        allowed = LEVELS_UP_TO[most]
        assert levels[ns] in allowed, f"{d['kind']} in {ns}: {levels[ns]} refuses the operator's pods"


def test_generated_kserve_predictor_meets_restricted(tmp_path: Path) -> None:
    from edtune.publish.registry import publish
    from edtune.publish.serving import kserve_inference_service
    from edtune.schemas import AdapterManifest, RoundMetrics

    files = {"adapter_config.json": b'{"r": 8}', "adapter_model.safetensors": b"W" * 1024}
    adapter = tmp_path / "adapter"
    adapter.mkdir()
    for rel, data in files.items():
        (adapter / rel).write_bytes(data)
    manifest = AdapterManifest.model_validate(
        {
            "base_model": "tiny",
            "lora": {"r": 8},
            "rounds": [RoundMetrics(round=0, val_accuracy=0.5)],
            "best_round": 0,
            "selected_support_ids": [],
            "files": {rel: hashlib.sha256(data).hexdigest() for rel, data in files.items()},
            "edtune_version": "0.1.0",
            "created_at": "2025-01-01T00:00:00+00:00",
        }
    )
    (tmp_path / "manifest.json").write_text(manifest.model_dump_json())
    res = publish(str(adapter), str(tmp_path / "manifest.json"), str(tmp_path / "reg"), "colors", "run-7")
    isvc = kserve_inference_service(str(tmp_path / "reg"), "colors")
    [(pod, notes)] = pod_templates(isvc)
    assert violations("restricted", pod, notes) == []
    env = {e["name"]: e["value"] for e in pod["containers"][0]["env"]}
    assert env["STORAGE_URI"].rstrip("/") == res.uri.rstrip("/"), "storageUri is the published version"
    assert "REPLACE" not in yaml.safe_dump(isvc)


@pytest.fixture(scope="module")
def compiled(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[dict]]:
    cfg = load_config(ROOT / "examples" / "cluster" / "config.yaml")
    out = tmp_path_factory.mktemp("compiled")
    compile_pipelines(out, cluster=cfg.cluster)
    return {n: list(yaml.safe_load_all((out / f"{n}.yaml").read_text())) for n in PIPELINES}


def kfp_user_pod(platform: dict) -> dict:
    """The user container of a task pod as the KFP 2.17 backend builds it: our securityContext fields plus the
    defaults the backend always adds (allowPrivilegeEscalation=false, drop ALL, seccomp RuntimeDefault; see
    kfp.kubernetes.set_security_context). Volumes: the cache volume (ephemeral or PVC)."""
    sc = platform.get("securityContext", {})
    volumes = [{"name": v["volumeName"], "ephemeral": {}} for v in platform.get("genericEphemeralVolume", [])]
    volumes += [
        {"name": f"pvc-{i}", "persistentVolumeClaim": {}} for i, _ in enumerate(platform.get("pvcMount", []))
    ]
    return {
        "containers": [
            {
                "name": "main",
                "securityContext": {
                    "runAsUser": int(sc["runAsUser"]),
                    "runAsGroup": int(sc["runAsGroup"]),
                    "runAsNonRoot": sc["runAsNonRoot"],
                    "allowPrivilegeEscalation": False,
                    "capabilities": {"drop": ["ALL"]},
                    "seccompProfile": {"type": "RuntimeDefault"},
                },
            }
        ],
        "volumes": volumes,
    }


@pytest.mark.parametrize("name", sorted(PIPELINES))
def test_pipeline_task_pods_are_admitted_in_the_profile_namespace(compiled: dict, name: str) -> None:
    cfg = load_config(ROOT / "examples" / "cluster" / "config.yaml")
    level = EXTERNAL_LEVELS[cfg.cluster.namespace]
    platform = compiled[name][1]["platforms"]["kubernetes"]["deploymentSpec"]["executors"]
    for ex in compiled[name][0]["deploymentSpec"]["executors"]:
        pod = kfp_user_pod(platform[ex])
        assert violations(level, pod) == [], ex
        assert violations("restricted", pod) == [], f"{ex}: edtune's own container should meet restricted"
