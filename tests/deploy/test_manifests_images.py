"""The deployment artefacts, checked offline with the real tools: kustomize (kubectl), Kubernetes schemas
(kubernetes-validate), a security scan (checkov) and a Dockerfile linter (hadolint).

A missing tool fails the test (it is part of the dev install: scripts/bootstrap.sh), it is never skipped.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
MANIFESTS = ROOT / "manifests"
OVERLAYS = ["dev", "prod", "prod-vllm"]
K8S_VERSION = "1.33.0"  # the oldest minor we support; kubernetes-validate bundles its schemas
BIN = Path(sys.executable).parent


def tool(name: str, env_var: str | None = None, extra: list[Path] | None = None) -> str:
    """Path of a required tool; fail (not skip) when absent."""
    candidates = [os.environ.get(env_var, "")] if env_var else []
    candidates += [str(BIN / name), *(str(p) for p in extra or [])]
    for c in candidates:
        if c and Path(c).is_file() and os.access(c, os.X_OK):
            return c
    found = shutil.which(name)
    if found:
        return found
    pytest.fail(f"required tool {name!r} is not installed (run scripts/bootstrap.sh)", pytrace=False)


def run(cmd: list[str], **kw: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, capture_output=True, text=True, timeout=300, check=False, **kw)  # type: ignore[call-overload]


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Every overlay built once with `kubectl kustomize`, written to a file per overlay."""
    kubectl = tool("kubectl")
    out = tmp_path_factory.mktemp("rendered")
    files: dict[str, Path] = {}
    for overlay in OVERLAYS:
        proc = run([kubectl, "kustomize", str(MANIFESTS / "overlays" / overlay)])
        assert proc.returncode == 0, f"kustomize build of {overlay} failed:\n{proc.stderr}"
        files[overlay] = out / f"{overlay}.yaml"
        files[overlay].write_text(proc.stdout)
    return files


def objects(path: Path) -> list[dict]:
    return [d for d in yaml.safe_load_all(path.read_text()) if d]


def find(docs: list[dict], kind: str, name: str) -> dict:
    matches = [d for d in docs if d["kind"] == kind and d["metadata"]["name"] == name]
    assert len(matches) == 1, f"{kind}/{name}: {len(matches)} objects"
    return matches[0]


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_overlay_builds_and_validates_against_pinned_kubernetes_schemas(
    rendered: dict[str, Path], overlay: str
) -> None:
    proc = run(
        [tool("kubernetes-validate"), "--strict", "-k", K8S_VERSION, "--quiet", str(rendered[overlay])]
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_secret_templates_validate_and_hold_no_values() -> None:
    files = sorted((MANIFESTS / "secrets").glob("*.yaml"))
    assert {f.name for f in files} == {
        "edtune-s3.example.yaml",
        "edtune-teacher.example.yaml",
        "edtune-milvus.example.yaml",
    }
    proc = run([tool("kubernetes-validate"), "--strict", "-k", K8S_VERSION, "--quiet", *map(str, files)])
    assert proc.returncode == 0, proc.stdout + proc.stderr
    for f in files:
        for doc in objects(f):
            assert doc["kind"] == "Secret"
            assert set(doc.get("stringData", {}).values()) == {""}, f"{f.name} holds a value"
            assert "data" not in doc


# Custom resources are not in the Kubernetes schemas: check the fields the operators require.
CRD_CHECKS = {
    ("Milvus", "edtune"): lambda d: (
        d["apiVersion"] == "milvus.io/v1beta1"
        and d["metadata"]["namespace"] == "edtune-milvus"
        and d["spec"]["mode"] in ("standalone", "cluster")
        and d["spec"]["components"]["image"].startswith("milvusdb/milvus:v")
    ),
    **{
        ("ServiceMonitor", name): (
            lambda d, name=name: (
                d["apiVersion"] == "monitoring.coreos.com/v1"
                and d["spec"]["selector"]["matchLabels"] == {"app.kubernetes.io/name": name}
                and d["spec"]["endpoints"][0]["port"] == "http"
                and d["spec"]["endpoints"][0]["path"] == "/metrics"
            )
        )
        for name in ("edtune-teacher", "edtune-adapter-server")
    },
}


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_custom_resources_have_the_fields_their_operators_need(
    rendered: dict[str, Path], overlay: str
) -> None:
    docs = objects(rendered[overlay])
    crs = [
        d
        for d in docs
        if "/" in d["apiVersion"]
        and d["apiVersion"].split("/")[0].endswith((".io",))
        and "k8s.io" not in d["apiVersion"]
    ]
    assert crs, "no custom resources rendered"
    for d in crs:
        check = CRD_CHECKS.get((d["kind"], d["metadata"]["name"]))
        assert check is not None, f"unchecked custom resource {d['kind']}/{d['metadata']['name']}"
        assert check(d), f"{d['kind']}/{d['metadata']['name']} in {overlay}"


@pytest.mark.parametrize(
    ("overlay", "milvus_mode", "has_minio", "teacher_image"),
    [
        ("dev", "standalone", True, "ghcr.io/huggingface/text-generation-inference:"),
        ("prod", "cluster", False, "ghcr.io/huggingface/text-generation-inference:"),
        ("prod-vllm", "cluster", False, "vllm/vllm-openai:"),
    ],
)
def test_overlays_differ_where_they_should(
    rendered: dict[str, Path], overlay: str, milvus_mode: str, has_minio: bool, teacher_image: str
) -> None:
    docs = objects(rendered[overlay])
    namespaces = {d["metadata"].get("namespace") for d in docs if d["kind"] != "Namespace"}
    assert namespaces == {"edtune", "edtune-milvus", "edtune-runs"}
    assert find(docs, "Milvus", "edtune")["spec"]["mode"] == milvus_mode
    assert (
        any(d["kind"] == "Deployment" and d["metadata"]["name"] == "edtune-minio" for d in docs) is has_minio
    )
    teacher = find(docs, "Deployment", "edtune-teacher")["spec"]["template"]["spec"]["containers"][0]
    assert teacher["image"].startswith(teacher_image)
    service = find(docs, "Service", "edtune-teacher")["spec"]["ports"][0]
    assert (service["port"], service["targetPort"]) == (80, "http")
    assert {p["name"] for p in teacher["ports"]} == {"http"}


def test_every_pod_runs_non_root_with_resources_and_no_latest_tags(rendered: dict[str, Path]) -> None:
    for overlay, path in rendered.items():
        for d in objects(path):
            if d["kind"] not in ("Deployment", "Job"):
                continue
            pod = d["spec"]["template"]["spec"]
            where = f"{overlay}:{d['kind']}/{d['metadata']['name']}"
            assert pod["securityContext"]["runAsNonRoot"] is True, where
            for c in pod.get("initContainers", []) + pod["containers"]:
                assert c["securityContext"]["allowPrivilegeEscalation"] is False, where
                assert c["securityContext"]["capabilities"]["drop"] == ["ALL"], where
                assert "limits" in c["resources"] and "requests" in c["resources"], where
                # emptyDirs (/tmp, model downloads) count against the node's disk: request it like CPU/memory
                assert "ephemeral-storage" in c["resources"]["requests"], f"{where}/{c['name']}"
                assert "ephemeral-storage" in c["resources"]["limits"], f"{where}/{c['name']}"
                assert ":" in c["image"] and not c["image"].endswith(":latest"), f"{where}: {c['image']}"


def test_model_server_probes_tolerate_a_busy_gpu(rendered: dict[str, Path]) -> None:
    """/health of TGI/vLLM waits behind a forward pass: the 1 s default timeout restarts healthy pods."""
    for overlay, path in rendered.items():
        for name in ("edtune-teacher", "edtune-adapter-server"):
            server = find(objects(path), "Deployment", name)["spec"]["template"]["spec"]["containers"][0]
            for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
                assert server[probe].get("timeoutSeconds", 1) >= 10, f"{overlay}:{name}.{probe}"


def test_read_write_many_claims_name_a_storage_class(rendered: dict[str, Path]) -> None:
    for overlay, path in rendered.items():
        for d in objects(path):
            if d["kind"] == "PersistentVolumeClaim" and "ReadWriteMany" in d["spec"]["accessModes"]:
                assert d["spec"].get("storageClassName"), (
                    f"{overlay}: {d['metadata']['name']} would stay Pending"
                )


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_servers_have_disruption_budgets_and_prod_autoscales_them(
    rendered: dict[str, Path], overlay: str
) -> None:
    docs = objects(rendered[overlay])
    for name in ("edtune-teacher", "edtune-adapter-server"):
        pdb = find(docs, "PodDisruptionBudget", name)
        labels = find(docs, "Deployment", name)["spec"]["template"]["metadata"]["labels"]
        assert pdb["spec"]["selector"]["matchLabels"].items() <= labels.items()
        hpas = [d for d in docs if d["kind"] == "HorizontalPodAutoscaler" and d["metadata"]["name"] == name]
        if overlay == "dev":
            assert not hpas
        else:
            [hpa] = hpas
            assert hpa["spec"]["scaleTargetRef"] == {
                "apiVersion": "apps/v1",
                "kind": "Deployment",
                "name": name,
            }
            assert hpa["spec"]["minReplicas"] >= 2
            assert "replicas" not in find(docs, "Deployment", name)["spec"], "the HPA owns the replica count"


def test_adapter_server_syncs_every_task_at_its_pinned_version_before_serving(
    rendered: dict[str, Path],
) -> None:
    docs = objects(rendered["dev"])
    pod = find(docs, "Deployment", "edtune-adapter-server")["spec"]["template"]
    init = pod["spec"]["initContainers"][0]
    assert init["command"] == ["edtune", "adapters", "sync-all"]
    assert (
        "--tasks=$(EDTUNE_TASKS)" in init["args"] and "--pins-file=/etc/podinfo/annotations" in init["args"]
    )
    podinfo = next(v for v in pod["spec"]["volumes"] if v["name"] == "podinfo")
    assert podinfo["downwardAPI"]["items"] == [
        {"path": "annotations", "fieldRef": {"fieldPath": "metadata.annotations"}}
    ], "all annotations, so any task's adapters.edtune.io/<task> pin is visible (not only `demo`)"
    assert not any("adapters.edtune.io/" in str(e.get("valueFrom", "")) for e in init.get("env", [])), (
        "a fixed fieldRef pins a single task"
    )
    server = pod["spec"]["containers"][0]
    assert server["image"].startswith("vllm/vllm-openai:"), (
        "TGI multi-LoRA fails on Qwen2-VL (TGI #2847, #3335)"
    )
    assert "--enable-lora" in server["args"][0] and "$$(cat /adapters/lora-modules.args)" in server["args"][0]


def _server_argv(script: str, lora_list: str, tmp_path: Path) -> list[str]:
    """What the adapter server's shell command execs, with `lora_list` as the initContainer's output."""
    bindir = tmp_path / "bin"
    bindir.mkdir(exist_ok=True)
    fake = bindir / "vllm"
    fake.write_text('#!/bin/sh\nfor a in "$@"; do printf "%s\\n" "$a"; done\n')
    fake.chmod(0o755)
    args_file = tmp_path / "lora-modules.args"
    args_file.write_text(lora_list)
    # the kubelet turns $$ into $ before the shell runs (Kubernetes $(VAR) expansion)
    shell = script.replace("$$", "$").replace("/adapters/lora-modules.args", str(args_file))
    env = {"PATH": f"{bindir}:/usr/bin:/bin", "BASE_MODEL_ID": "base", "BASE_MODEL_REVISION": "main"}
    proc = run(["/bin/sh", "-c", shell], env={**env, "MAX_LORAS": "4"})
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.splitlines()


def test_adapter_server_starts_with_no_task_and_no_key_secret(
    rendered: dict[str, Path], tmp_path: Path
) -> None:
    """A fresh install has published nothing: the server must start on the base model alone (vLLM refuses an
    empty --lora-modules), and with IRSA / workload identity there is no edtune-s3 Secret to read."""
    for overlay in OVERLAYS:
        docs = objects(rendered[overlay])
        config = next(
            d
            for d in docs
            if d["kind"] == "ConfigMap" and d["metadata"]["name"].startswith("edtune-serving-config")
        )
        assert config["data"]["EDTUNE_TASKS"] == "", f"{overlay}: no task is served before one is published"
        pod = find(docs, "Deployment", "edtune-adapter-server")["spec"]["template"]
        pinned = [k for k in pod["metadata"].get("annotations", {}) if k.startswith("adapters.edtune.io/")]
        assert pinned == [], f"{overlay}: the template names no task until `publish --rollout` adds one"
        init = pod["spec"]["initContainers"][0]
        secret_refs = [e["secretRef"] for e in init["envFrom"] if "secretRef" in e]
        assert secret_refs == [{"name": "edtune-s3", "optional": True}], overlay
    script = find(objects(rendered["dev"]), "Deployment", "edtune-adapter-server")["spec"]["template"][
        "spec"
    ]["containers"][0]["args"][0]
    empty = _server_argv(script, "\n", tmp_path)
    assert empty[:2] == ["serve", "base"] and "--lora-modules" not in empty and "--enable-lora" in empty
    one = _server_argv(script, "colors=/adapters/colors\n", tmp_path)
    i = one.index("--lora-modules")
    assert one[i + 1] == "colors=/adapters/colors"


def test_a_rollout_names_its_task_in_the_annotations_the_sync_reads(rendered: dict[str, Path]) -> None:
    """`publish --rollout` patches `adapters.edtune.io/<task>` into the pod template; the initContainer reads every
    annotation through the downward API, so a task never listed in EDTUNE_TASKS is synced after its rollout."""
    from edtune.publish.rollout import rollout_patch
    from edtune.publish.serving import parse_downward_annotations

    patch = rollout_patch("v3", task="colors")
    annotations = patch["spec"]["template"]["metadata"]["annotations"]
    downward = "\n".join(f"{k}={json.dumps(v)}" for k, v in sorted(annotations.items()))
    assert parse_downward_annotations(downward)["adapters.edtune.io/colors"] == "v3"


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_gpu_deployments_tolerate_the_gpu_taint_in_every_overlay(
    rendered: dict[str, Path], overlay: str
) -> None:
    docs = objects(rendered[overlay])
    for d in docs:
        if d["kind"] != "Deployment":
            continue
        spec = d["spec"]["template"]["spec"]
        wants_gpu = any(
            "nvidia.com/gpu" in (c.get("resources", {}).get("limits") or {}) for c in spec["containers"]
        )
        if wants_gpu:
            assert {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"} in spec.get(
                "tolerations", []
            ), f"{overlay}: {d['metadata']['name']} would stay Pending on tainted GPU nodes"


def test_network_policies_admit_pipeline_pods_of_the_profile_namespace_only(
    rendered: dict[str, Path],
) -> None:
    docs = objects(rendered["dev"])
    pipeline_peer = {
        "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "edtune-runs"}},
        "podSelector": {"matchLabels": {"edtune.io/role": "pipeline"}},
    }
    for policy in ("edtune-teacher-ingress", "edtune-milvus-ingress", "edtune-minio-ingress"):
        rules = find(docs, "NetworkPolicy", policy)["spec"]["ingress"]
        peers = [p for r in rules for p in r["from"]]
        assert pipeline_peer in peers, policy
        for p in peers:  # every peer from another namespace also needs a pod label
            if "namespaceSelector" in p:
                assert (
                    "podSelector" in p
                    or p["namespaceSelector"]["matchLabels"].get("kubernetes.io/metadata.name")
                    == "milvus-operator"
                ), (policy, p)
    milvus = find(docs, "NetworkPolicy", "edtune-milvus-ingress")
    assert milvus["metadata"]["namespace"] == "edtune-milvus"


def test_prometheus_may_scrape_what_the_service_monitors_name(rendered: dict[str, Path]) -> None:
    docs = objects(rendered["prod"])
    prometheus = {
        "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}},
        "podSelector": {"matchLabels": {"app.kubernetes.io/name": "prometheus"}},
    }
    for name in ("edtune-teacher", "edtune-adapter-server"):
        find(docs, "ServiceMonitor", name)
        rules = find(docs, "NetworkPolicy", f"{name}-ingress")["spec"]["ingress"]
        container_port = find(docs, "Deployment", name)["spec"]["template"]["spec"]["containers"][0]["ports"][
            0
        ]
        assert any(
            prometheus in r["from"] and container_port["containerPort"] in [p["port"] for p in r["ports"]]
            for r in rules
        ), name


@pytest.fixture(scope="module")
def checkov_report(rendered: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> dict:
    """One checkov run over every rendered overlay and both Dockerfiles (checkov is slow to start)."""
    checkov = tool("checkov", "EDTUNE_CHECKOV", [ROOT / ".venv" / "checkov" / "bin" / "checkov"])
    scan = tmp_path_factory.mktemp("scan")
    for overlay, path in rendered.items():
        shutil.copy(path, scan / f"{overlay}.yaml")
    for variant in ("cpu", "gpu"):
        (scan / f"edtune-{variant}").mkdir()
        shutil.copy(
            ROOT / "images" / f"edtune-{variant}" / "Dockerfile", scan / f"edtune-{variant}" / "Dockerfile"
        )
    proc = run(
        [
            checkov,
            "-d",
            str(scan),
            "--framework",
            "kubernetes",
            "dockerfile",
            "--skip-download",
            "-o",
            "json",
            "--quiet",
        ],
        env={**os.environ, "BC_SKIP_MAPPING": "TRUE", "CHECKOV_RUN_SCA_PACKAGE_SCAN_V2": "false"},
    )
    assert proc.stdout.strip(), proc.stderr
    data = json.loads(proc.stdout)
    reports = data if isinstance(data, list) else [data]
    return {"reports": reports, "returncode": proc.returncode}


def test_security_scan_passes_and_every_skip_is_justified(checkov_report: dict) -> None:
    failed = [
        f"{c['check_id']} {c['resource']} ({c['file_path']})"
        for r in checkov_report["reports"]
        for c in r.get("results", {}).get("failed_checks", [])
    ]
    assert failed == [], "\n".join(failed)
    assert checkov_report["returncode"] == 0
    scanned = {r.get("check_type") for r in checkov_report["reports"]}
    assert {"kubernetes", "dockerfile"} <= scanned
    passed = sum(r.get("summary", {}).get("passed", 0) for r in checkov_report["reports"])
    assert passed > 100
    for r in checkov_report["reports"]:
        for c in r.get("results", {}).get("skipped_checks", []):
            reason = (c.get("check_result") or {}).get("suppress_comment", "")
            assert len(reason) > 20, f"{c['check_id']} on {c['resource']} is skipped without a reason"


@pytest.mark.parametrize("variant", ["cpu", "gpu"])
def test_dockerfiles_lint_clean(variant: str) -> None:
    proc = run(
        [
            tool("hadolint"),
            "--failure-threshold",
            "info",
            str(ROOT / "images" / f"edtune-{variant}" / "Dockerfile"),
        ]
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


@pytest.mark.parametrize("variant", ["cpu", "gpu"])
def test_images_are_multi_stage_non_root_without_entrypoint_or_secrets(variant: str) -> None:
    text = (ROOT / "images" / f"edtune-{variant}" / "Dockerfile").read_text()
    instructions = [line.split()[0] for line in text.splitlines() if line and not line.startswith((" ", "#"))]
    assert instructions.count("FROM") == 2
    assert "ENTRYPOINT" not in instructions and "HEALTHCHECK" not in instructions
    assert text.rstrip().splitlines()[-3].startswith("USER 10001")
    assert "COPY --from=build /opt/venv /opt/venv" in text
    for secret_word in ("AWS_SECRET", "HF_TOKEN=", "PASSWORD"):
        assert secret_word not in text
    assert '"torch==${TORCH_VERSION}"' in text and "ARG TORCH_VERSION=2.13.0" in text
    if variant == "cpu":
        assert "--index-url https://download.pytorch.org/whl/cpu" in text
    else:
        # CUDA once: the torch wheel's nvidia-*-cu12 libraries, no CUDA base image underneath; a CUDA 12.6 build
        # runs on the drivers managed GPU pools ship (>= 560; PyPI's torch 2.13.0 is CUDA 13 and needs >= 580)
        assert "nvidia/cuda" not in text and text.count("FROM ubuntu:24.04") == 2
        assert "ARG TORCH_CUDA=cu126" in text
        assert '--index-url "https://download.pytorch.org/whl/${TORCH_CUDA}"' in text
        # the device plugin sets it per pod; `all` in the image shows every GPU to a pod that requested none
        assert "NVIDIA_VISIBLE_DEVICES" not in text.replace("# No NVIDIA_VISIBLE_DEVICES", "")


def test_build_script_tags_images_with_the_package_version() -> None:
    import tomllib

    version = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    proc = run(
        ["bash", str(ROOT / "images" / "build.sh"), "all"],
        env={**os.environ, "DRY_RUN": "1", "REGISTRY": "reg.example/x"},
    )
    assert proc.returncode == 0, proc.stderr
    assert f"-t reg.example/x/edtune-cpu:{version} " in proc.stdout
    assert f"-t reg.example/x/edtune-gpu:{version} " in proc.stdout


def dockerignore_excludes(patterns: list[str], path: str) -> bool:
    """Docker's rule: the last matching pattern wins; `!` re-includes; `**` spans directories; a pattern that
    matches a parent directory matches everything under it."""
    import re

    def regex(pat: str) -> re.Pattern[str]:
        out = ""
        i = 0
        while i < len(pat):
            if pat.startswith("**/", i):
                out += "(?:.*/)?"
                i += 3
            elif pat.startswith("**", i):
                out += ".*"
                i += 2
            elif pat[i] == "*":
                out += "[^/]*"
                i += 1
            else:
                out += re.escape(pat[i])
                i += 1
        return re.compile(out + "(?:/.*)?$")

    excluded = False
    for raw in patterns:
        neg = raw.startswith("!")
        pat = raw[1:] if neg else raw
        if regex(pat).match(path):
            excluded = not neg
    return excluded


def test_dockerignore_keeps_only_the_package_in_the_build_context() -> None:
    lines = [
        line
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line and not line.startswith("#")
    ]
    assert lines[0] == "**"
    assert {"!pyproject.toml", "!src/**"} <= set(lines)
    assert "**/*.safetensors" in lines and "**/.env" in lines
    for path in (".env", "src/edtune/.env", "edtune-data/x.safetensors", ".venv/bin/python", "tests/x.py"):
        assert dockerignore_excludes(lines, path), f"{path} must stay out of the image"
    assert not dockerignore_excludes(lines, "src/edtune/pipeline/graph.py")
    assets = sorted((ROOT / "src" / "edtune" / "shapes" / "assets").rglob("*"))
    shipped = [p.relative_to(ROOT).as_posix() for p in assets if p.is_file()]
    assert any(p.endswith(".safetensors") for p in shipped)
    for rel in shipped:  # the shipped base student is package data: the image must carry its weights
        assert not dockerignore_excludes(lines, rel), rel
