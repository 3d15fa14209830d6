"""The compiled pipelines place every pod where a production Kubeflow can run it (issue 15).

Each test reads the compiled YAML (what the KFP backend receives): GPU tolerations and node selectors, pod
timeouts, the non-root security context, the cache volume, the exit handler, the Secret keys and which of them
are optional, the publish gate, caching, and the images chosen at submit time. No KFP backend runs here.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from edtune.config import ClusterConfig
from edtune.pipeline import PIPELINES, compile_pipelines, is_loopback

GPU_STAGES = {"evaluate-op", "tune-op"}
SCRATCH_STAGES = {"evaluate-op", "tune-op", "diagnose-op", "annotate-op"}

CUSTOM = ClusterConfig(
    gpu_node_selector={"nvidia.com/gpu.product": "NVIDIA-A100-SXM4-80GB"},
    cpu_node_selector={"pool": "cpu"},
    gpu_tolerations=[
        {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"},
        {"key": "dedicated", "operator": "Equal", "value": "ml", "effect": "NoSchedule"},
    ],
    task_timeout_s=3600,
    gpu_task_timeout_s=7200,
    annotate_timeout_s=86400,
    cache_pvc="edtune-model-cache",
    s3_secret="",  # IRSA: no key Secret at all
    run_as_user=20002,
)


def _load(path: Path) -> list[dict]:
    return list(yaml.safe_load_all(path.read_text()))


@pytest.fixture(scope="module")
def default(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[dict]]:
    out = tmp_path_factory.mktemp("default")
    compile_pipelines(out)
    return {n: _load(out / f"{n}.yaml") for n in PIPELINES}


@pytest.fixture(scope="module")
def custom(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[dict]]:
    out = tmp_path_factory.mktemp("custom")
    compile_pipelines(
        out, cluster=CUSTOM, images=("reg.example/edtune-cpu@sha256:" + "a" * 64, "reg.example/g:1")
    )
    return {n: _load(out / f"{n}.yaml") for n in PIPELINES}


def stage(executor: str) -> str:
    return re.sub(r"^exec-|-\d+$", "", executor)


def platform(docs: list[dict]) -> dict[str, dict]:
    return docs[1]["platforms"]["kubernetes"]["deploymentSpec"]["executors"]


def executors(docs: list[dict]) -> dict[str, dict]:
    return docs[0]["deploymentSpec"]["executors"]


def all_tasks(node: Any) -> list[tuple[str, dict]]:
    found: list[tuple[str, dict]] = []
    if isinstance(node, dict):
        for k, v in node.items():
            if k == "tasks" and isinstance(v, dict):
                found += list(v.items())
            found += all_tasks(v)
    elif isinstance(node, list):
        for x in node:
            found += all_tasks(x)
    return found


@pytest.mark.parametrize("name", sorted(PIPELINES))
def test_gpu_tasks_tolerate_the_gpu_taint_by_default(default: dict, name: str) -> None:
    for ex, spec in platform(default[name]).items():
        tolerations = spec.get("tolerations", [])
        if stage(ex) in GPU_STAGES:
            assert {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"} in tolerations, ex
        else:
            assert tolerations == [], (
                f"{ex} is CPU-only but tolerates the GPU taint (it would squat GPU nodes)"
            )


def test_tolerations_and_node_selectors_come_from_the_cluster_config(custom: dict) -> None:
    seen = set()
    for ex, spec in platform(custom["error_driven_tuning"]).items():
        labels = spec.get("nodeSelector", {}).get("labels", {})
        if stage(ex) in GPU_STAGES:
            seen.add(stage(ex))
            assert labels == {"nvidia.com/gpu.product": "NVIDIA-A100-SXM4-80GB"}, ex
            assert {"key": "dedicated", "operator": "Equal", "value": "ml", "effect": "NoSchedule"} in spec[
                "tolerations"
            ]
        else:
            assert labels == {"pool": "cpu"}, ex
    assert seen == GPU_STAGES


@pytest.mark.parametrize("name", sorted(PIPELINES))
def test_every_task_has_a_timeout_and_a_non_root_security_context(
    default: dict, custom: dict, name: str
) -> None:
    for docs, cl in ((default[name], ClusterConfig()), (custom[name], CUSTOM)):
        plat = platform(docs)
        for ex in executors(docs):
            spec = plat[ex]
            want = (
                cl.annotate_timeout_s
                if stage(ex) == "annotate-op"
                else cl.gpu_task_timeout_s
                if stage(ex) in GPU_STAGES
                else cl.task_timeout_s
            )
            assert int(spec["activeDeadlineSeconds"]) == want, ex
            sc = spec["securityContext"]
            assert sc["runAsNonRoot"] is True and int(sc["runAsUser"]) == cl.run_as_user != 0, ex


def cache_mounts(spec: dict) -> list[dict]:
    return [m for m in spec.get("emptyDirMounts", []) if m["mountPath"] == "/cache"]


@pytest.mark.parametrize("name", sorted(PIPELINES))
def test_model_and_teacher_caches_go_to_a_volume_the_non_root_user_can_write(
    default: dict, custom: dict, name: str
) -> None:
    """KFP pods get no fsGroup: by default the cache is an emptyDir (world-writable) of cluster.cache_size."""
    for ex, spec in platform(default[name]).items():
        if stage(ex) in SCRATCH_STAGES:
            assert cache_mounts(spec) == [
                {"volumeName": "edtune-cache", "mountPath": "/cache", "sizeLimit": "100Gi"}
            ], ex
            assert "genericEphemeralVolume" not in spec and "pvcMount" not in spec, ex
        else:
            assert not cache_mounts(spec), ex
    for ex, spec in platform(custom[name]).items():
        if stage(ex) in SCRATCH_STAGES:
            assert "genericEphemeralVolume" not in spec, ex
            [mount] = spec["pvcMount"]
            assert mount["mountPath"] == "/cache"
            assert mount["pvcNameParameter"]["runtimeValue"]["constant"] == "edtune-model-cache"


@pytest.mark.parametrize("name", sorted(PIPELINES))
def test_an_exit_handler_records_the_final_state_of_every_run(default: dict, name: str) -> None:
    root = default[name][0]["root"]["dag"]["tasks"]
    assert set(root) == {"exit-handler-1", "record-status-op"}, (
        "the whole graph must sit inside the ExitHandler"
    )
    exit_task = root["record-status-op"]
    assert exit_task["triggerPolicy"]["strategy"] == "ALL_UPSTREAM_TASKS_COMPLETED"
    assert exit_task["inputs"]["parameters"]["status"] == {
        "taskFinalStatus": {"producerTask": "exit-handler-1"}
    }
    assert "output_uri" in exit_task["inputs"]["parameters"]


def _secret_entries(docs: list[dict], stage_name: str) -> list[dict]:
    return [
        s
        for ex, spec in platform(docs).items()
        if stage(ex) == stage_name
        for s in spec.get("secretAsEnv", [])
    ]


def test_s3_secret_maps_the_endpoint_optionally_and_the_teacher_token_is_optional(default: dict) -> None:
    docs = default["error_driven_tuning"]
    for ex, spec in platform(docs).items():
        by_keys = {
            tuple(sorted(k["secretKey"] for k in s["keyToEnv"])): s for s in spec.get("secretAsEnv", [])
        }
        required = by_keys[("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")]
        assert required["optional"] is False, ex
        optional = by_keys[("AWS_DEFAULT_REGION", "AWS_ENDPOINT_URL")]
        assert optional["optional"] is True, f"{ex}: storage reads AWS_ENDPOINT_URL; on AWS the key is absent"
        if stage(ex) == "diagnose-op":
            assert by_keys[("HF_TOKEN",)]["optional"] is True, "public teacher models need no token Secret"
        if stage(ex) == "retrieve-op":
            assert by_keys[("EDTUNE_MILVUS_TOKEN",)]["optional"] is False


def test_irsa_route_binds_no_key_secret(custom: dict) -> None:
    for name in PIPELINES:
        for spec in platform(custom[name]).values():
            keys = {k["secretKey"] for s in spec.get("secretAsEnv", []) for k in s["keyToEnv"]}
            assert not keys & {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_ENDPOINT_URL"}


def test_publish_moves_latest_only_when_the_gain_reaches_the_gate(default: dict) -> None:
    docs = default["error_driven_tuning"]
    params = docs[0]["root"]["inputDefinitions"]["parameters"]
    assert params["publish_min_gain"]["parameterType"] == "NUMBER_DOUBLE"
    publish_parents = []
    for cname, comp in docs[0]["components"].items():
        for tname in (comp.get("dag") or {}).get("tasks", {}):
            if tname.startswith("publish-op"):
                publish_parents.append(cname)
    assert len(publish_parents) == 3  # one per possible stopping round
    conditions = [t.get("triggerPolicy", {}).get("condition", "") for _, t in all_tasks(docs[0])]
    gates = [c for c in conditions if "publish_min_gain" in c]
    assert len(gates) == 3 and all("finalize-op" in g and "gain" in g and ">=" in g for g in gates), gates


def test_configure_is_never_cached_and_fingerprints_the_data(default: dict) -> None:
    for name, docs in default.items():
        tasks = [t for n, t in all_tasks(docs[0]) if re.sub(r"-\d+$", "", n) == "configure-op"]
        assert tasks and all(not t.get("cachingOptions", {}).get("enableCache") for t in tasks), name
        ex = executors(docs)["exec-configure-op"]["container"]
        assert "data_fingerprint" in "\n".join(ex["args"] + ex["command"])


@pytest.mark.parametrize("name", sorted(PIPELINES))
def test_service_defaults_are_cluster_dns_names_not_loopback(default: dict, name: str) -> None:
    params = default[name][0]["root"]["inputDefinitions"]["parameters"]
    for key in ("teacher_url", "milvus_uri"):
        value = params[key]["defaultValue"]
        assert ".svc" in value and not is_loopback(value), (key, value)
    assert "./edtune-data" not in yaml.safe_dump(default[name][0]), "a local default leaked into the spec"


def test_index_annotation_journal_is_kept_in_object_storage(default: dict) -> None:
    docs = default["index_support_set"]
    [ann] = [t for n, t in all_tasks(docs[0]) if n == "annotate-op"]
    assert ann["inputs"]["parameters"]["state_uri"] == {
        "componentInputParameter": "pipelinechannel--state_uri"
    }
    code = "\n".join(executors(docs)["exec-annotate-op"]["container"]["command"])
    assert "journal_sync(" in code
    assert int(platform(docs)["exec-annotate-op"]["activeDeadlineSeconds"]) >= 24 * 3600


def test_images_chosen_at_submit_time_reach_every_executor(custom: dict) -> None:
    for docs in custom.values():
        for ex, spec in executors(docs).items():
            image = spec["container"]["image"]
            want = (
                "reg.example/g:1" if stage(ex) in GPU_STAGES else "reg.example/edtune-cpu@sha256:" + "a" * 64
            )
            assert image == want, ex


def test_a_storage_class_gives_a_generic_ephemeral_volume_of_that_class(tmp_path: Path) -> None:
    """Only when the operator names a class (one that provisions volumes uid 10001 can write, docs/deploy.md)."""
    cl = ClusterConfig(cache_storage_class="edtune-cache-rwo", cache_size="300Gi")
    compile_pipelines(tmp_path, cluster=cl, names=["error_driven_tuning"])
    docs = _load(tmp_path / "error_driven_tuning.yaml")
    for ex, spec in platform(docs).items():
        if stage(ex) in SCRATCH_STAGES:
            [vol] = spec["genericEphemeralVolume"]
            assert (vol["mountPath"], vol["size"], vol["storageClassName"]) == (
                "/cache",
                "300Gi",
                "edtune-cache-rwo",
            )
            assert not cache_mounts(spec), ex


@pytest.mark.parametrize("name", sorted(PIPELINES))
def test_every_gpu_task_has_a_memory_backed_dev_shm(default: dict, name: str) -> None:
    """NCCL and DataLoader workers share tensors through /dev/shm; a container's default is 64 MiB."""
    for ex, spec in platform(default[name]).items():
        shm = [m for m in spec.get("emptyDirMounts", []) if m["mountPath"] == "/dev/shm"]
        if stage(ex) in GPU_STAGES:
            assert shm == [
                {"volumeName": "dshm", "mountPath": "/dev/shm", "medium": "Memory", "sizeLimit": "8Gi"}
            ], ex
        else:
            assert not shm, ex


def _gi(text: str) -> float:
    m = re.fullmatch(r"([\d.]+)(Gi|G)?", str(text))
    assert m, text
    return float(m.group(1)) * (1 if m.group(2) == "Gi" else 1 / 1.073741824 if m.group(2) == "G" else 2**-30)


def test_tune_memory_cpu_and_shm_grow_with_its_gpu_count(tmp_path: Path) -> None:
    seen = []
    for n in (1, 2, 4, 8):
        out = tmp_path / str(n)
        compile_pipelines(out, names=["error_driven_tuning"], tune_gpus=n)
        docs = _load(out / "error_driven_tuning.yaml")
        res = executors(docs)["exec-tune-op"]["container"]["resources"]
        [shm] = [m for m in platform(docs)["exec-tune-op"]["emptyDirMounts"] if m["mountPath"] == "/dev/shm"]
        memory = _gi(res.get("resourceMemoryLimit") or res["memoryLimit"])
        cpu = float(res.get("resourceCpuLimit") or res["cpuLimit"])
        assert int(res["accelerator"]["resourceCount"]) == n
        assert _gi(shm["sizeLimit"]) == 8 * n
        assert memory > _gi(shm["sizeLimit"]) + 48, "shm is memory: the limit must hold it and the workers"
        seen.append((memory, cpu))
    assert seen == sorted(seen) and len({m for m, _ in seen}) == 4, seen
    assert seen[0][0] == 64, "one GPU keeps the declared 64Gi"
