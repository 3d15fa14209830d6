"""The compiled pipelines are specifications: GPUs where the work needs them, secrets by name, retries on services
and on the resumable tune."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from edtune.pipeline import PIPELINES, compile_pipelines, repo_root

GPU_STAGES = ("evaluate-op", "tune-op")
CPU_STAGES = (
    "merge-eval-op",
    "publish-op",
    "configure-op",
    "diagnose-op",
    "allocate-op",
    "retrieve-op",
    "decide-op",
    "finalize-op",
    "annotate-op",
    "index-op",
    "record-status-op",
)
SERVICE_STAGES = ("diagnose-op", "retrieve-op", "annotate-op", "index-op", "publish-op")


@pytest.fixture(scope="module")
def fresh(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[dict]]:
    out = tmp_path_factory.mktemp("compiled")
    compile_pipelines(out)
    return {name: list(yaml.safe_load_all((out / f"{name}.yaml").read_text())) for name in PIPELINES}


@pytest.mark.parametrize("name", sorted(PIPELINES))
def test_committed_yaml_matches_a_fresh_compile(name: str, tmp_path: Path) -> None:
    committed = repo_root() / "pipelines" / "compiled" / f"{name}.yaml"
    compile_pipelines(tmp_path)
    assert committed.read_text() == (tmp_path / f"{name}.yaml").read_text(), (
        f"{committed} is stale: run `edtune pipeline compile` and commit the result"
    )


def _executors(docs: list[dict]) -> dict[str, dict]:
    return docs[0]["deploymentSpec"]["executors"]


def _stage(executor_name: str) -> str:
    return re.sub(r"^exec-|-\d+$", "", executor_name)


@pytest.mark.parametrize("name", sorted(PIPELINES))
def test_gpu_stages_request_accelerators_and_cpu_stages_do_not(fresh: dict, name: str) -> None:
    for ex_name, ex in _executors(fresh[name]).items():
        stage = _stage(ex_name)
        resources = ex["container"].get("resources", {})
        assert "resourceCpuRequest" in resources and "resourceMemoryRequest" in resources, ex_name
        if stage in GPU_STAGES:
            assert resources["accelerator"]["resourceType"] == "nvidia.com/gpu", ex_name
            # a compile-time constant: a parameter here is an input the nested DAGs never declare
            assert resources["accelerator"]["resourceCount"] == "1", ex_name
            assert "edtune-gpu" in ex["container"]["image"]
        else:
            assert stage in CPU_STAGES, f"unexpected stage {stage}"
            assert "accelerator" not in resources, f"{ex_name} is CPU-only but requests an accelerator"


def test_every_stage_of_the_main_pipeline_appears(fresh: dict) -> None:
    stages = {_stage(n) for n in _executors(fresh["error_driven_tuning"])}
    assert stages == {
        "configure-op",
        "evaluate-op",
        "diagnose-op",
        "allocate-op",
        "retrieve-op",
        "tune-op",
        "decide-op",
        "finalize-op",
        "publish-op",
        "merge-eval-op",
        "record-status-op",
    }
    # rounds are unrolled: 3 tune tasks, one finalize per possible stopping point
    names = list(_executors(fresh["error_driven_tuning"]))
    assert sum(1 for n in names if _stage(n) == "tune-op") == 3
    assert sum(1 for n in names if _stage(n) == "finalize-op") == 3


@pytest.mark.parametrize("name", sorted(PIPELINES))
def test_secrets_are_bound_by_name_from_parameters_never_as_values(fresh: dict, name: str) -> None:
    docs = fresh[name]
    platform = docs[1]["platforms"]["kubernetes"]["deploymentSpec"]["executors"]
    bound = 0
    for spec in platform.values():
        for s in spec.get("secretAsEnv", []):
            assert s["secretNameParameter"]["componentInputParameter"].endswith("_secret")
            bound += 1
    assert bound > 0
    params = docs[0]["root"]["inputDefinitions"]["parameters"]
    for pname, p in params.items():
        default = str(p.get("defaultValue", ""))
        assert not re.search(r"(?i)(token|password|secret_key|aws_secret)", pname) or pname.endswith(
            "_secret"
        ), pname
        assert not re.search(r"(?i)(AKIA[0-9A-Z]{12,}|hf_[A-Za-z0-9]{10,})", default), (
            f"{pname} default looks like a credential"
        )
    for need in ("diagnose-op", "retrieve-op", "annotate-op", "index-op"):
        for ex_name, spec in platform.items():
            if _stage(ex_name) == need:
                envs = {k["envVar"] for s in spec["secretAsEnv"] for k in s["keyToEnv"]}
                if need in ("diagnose-op", "annotate-op"):
                    assert "HF_TOKEN" in envs
                if need in ("retrieve-op", "index-op"):
                    assert "EDTUNE_MILVUS_TOKEN" in envs


@pytest.mark.parametrize("name", sorted(PIPELINES))
def test_stages_that_call_services_have_retry_policies(fresh: dict, name: str) -> None:
    def tasks(node: object) -> list[tuple[str, dict]]:
        found = []
        if isinstance(node, dict):
            for k, v in node.items():
                if k == "tasks" and isinstance(v, dict):
                    found += list(v.items())
                found += tasks(v)
        elif isinstance(node, list):
            for x in node:
                found += tasks(x)
        return found

    seen = 0
    for tname, t in tasks(fresh[name][0]):
        stage = re.sub(r"-\d+$", "", tname)
        if stage in SERVICE_STAGES:
            assert t.get("retryPolicy", {}).get("maxRetryCount", 0) >= 1, tname
            seen += 1
        elif stage == "tune-op":
            # resumes from its mid-tune checkpoints, so Argo retries a preempted pod
            assert t.get("retryPolicy", {}).get("maxRetryCount") == 2, tname
            assert t["retryPolicy"]["backoffDuration"] == "30s", tname
        elif stage == "evaluate-op":
            assert "retryPolicy" not in t, f"{tname}: evaluate must not silently retry"
    assert seen > 0


def test_tune_task_has_a_metrics_output(fresh: dict) -> None:
    """tune_op's training figures reach the KFP UI: its component declares a `metrics` system.Metrics output."""
    comps = fresh["error_driven_tuning"][0]["components"]
    tune_comps = [c for name, c in comps.items() if re.sub(r"-\d+$", "", name) == "comp-tune-op"]
    assert len(tune_comps) == 3  # one per unrolled round
    for comp in tune_comps:
        artifacts = comp["outputDefinitions"]["artifacts"]
        assert artifacts["metrics"]["artifactType"]["schemaTitle"] == "system.Metrics"
        assert artifacts["adapter"]["artifactType"]["schemaTitle"] == "system.Model"
        assert comp["outputDefinitions"]["parameters"]["Output"]["parameterType"] == "NUMBER_DOUBLE"


@pytest.mark.parametrize("name", sorted(PIPELINES))
def test_every_pipeline_pod_carries_the_label_the_network_policies_admit(fresh: dict, name: str) -> None:
    platform = fresh[name][1]["platforms"]["kubernetes"]["deploymentSpec"]["executors"]
    for ex_name in _executors(fresh[name]):
        labels = platform.get(ex_name, {}).get("podMetadata", {}).get("labels", {})
        assert labels.get("edtune.io/role") == "pipeline", ex_name


def test_early_stop_is_a_condition_on_the_decide_output(fresh: dict) -> None:
    text = yaml.safe_dump(fresh["error_driven_tuning"][0])
    assert "== 'continue'" in text and "== 'stop'" in text


def test_evaluation_fans_out_over_shards_and_merges_in_order(tmp_path: Path) -> None:
    """Shards are sibling tasks unrolled at compile time (`--eval-shards`); each merge waits for all of its split's."""
    compile_pipelines(tmp_path, names=["error_driven_tuning"], eval_shards=4)
    spec = next(yaml.safe_load_all((tmp_path / "error_driven_tuning.yaml").read_text()))
    assert "eval_shards" not in spec["root"]["inputDefinitions"]["parameters"], "a compile-time constant"
    assert "parameterIterator" not in yaml.safe_dump(spec)
    base = spec["components"]["comp-exit-handler-1"]["dag"]["tasks"]
    for split in ("val", "test"):
        shards = {
            n: t
            for n, t in base.items()
            if n.startswith("evaluate-op")
            and t["inputs"]["parameters"]["split"]["runtimeValue"]["constant"] == split
            and t["inputs"]["parameters"]["round_idx"]["runtimeValue"]["constant"] == 0
        }
        assert sorted(
            t["inputs"]["parameters"]["shard"]["runtimeValue"]["constant"] for t in shards.values()
        ) == [
            0,
            1,
            2,
            3,
        ]
        [merge] = [
            t
            for n, t in base.items()
            if n.startswith("merge-eval-op")
            and t["inputs"]["parameters"]["split"]["runtimeValue"]["constant"] == split
            and t["inputs"]["parameters"]["round_idx"]["runtimeValue"]["constant"] == 0
        ]
        assert set(shards) <= set(merge["dependentTasks"])
        assert merge["inputs"]["parameters"]["shards"]["runtimeValue"]["constant"] == 4


def test_gpu_counts_are_compile_time_constants_not_run_parameters(tmp_path: Path) -> None:
    compile_pipelines(tmp_path, names=["error_driven_tuning"], eval_gpus=2, tune_gpus=8)
    docs = list(yaml.safe_load_all((tmp_path / "error_driven_tuning.yaml").read_text()))
    params = docs[0]["root"]["inputDefinitions"]["parameters"]
    assert not {"eval_gpus", "tune_gpus"} & set(params)
    counts = {
        _stage(n): ex["container"]["resources"]["accelerator"]["resourceCount"]
        for n, ex in _executors(docs).items()
        if "accelerator" in ex["container"]["resources"]
    }
    assert counts == {"evaluate-op": "2", "tune-op": "8"}
    assert "pipelinechannel--eval_gpus" not in yaml.safe_dump(docs)


@pytest.mark.parametrize("flag", ["eval_gpus", "tune_gpus"])
def test_a_gpu_count_no_node_offers_is_refused(tmp_path: Path, flag: str) -> None:
    from edtune.errors import InputError

    with pytest.raises(InputError, match=f"--{flag.replace('_', '-')} 3"):
        compile_pipelines(tmp_path, names=["error_driven_tuning"], **{flag: 3})
