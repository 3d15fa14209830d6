"""One spec: the graph kfp.local runs is the graph `submit` sends, and `edtune pipeline check` accepts both.

The spec `submit` sends is captured by the loopback KFP stand-in (tests/cluster/kfp_server.py); the spec
`run-local` runs is `edtune.pipeline.local.local_spec` (what `run_local` hands to kfp.local). They may differ only
in what kfp.local ignores: each executor's image and resources, and the Kubernetes platform config.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest
import yaml

from edtune.config import RunConfig, load_config
from edtune.pipeline import submit
from edtune.pipeline.check import check_spec
from edtune.pipeline.local import local_spec

from .kfp_server import kfp_server

ROOT = Path(__file__).resolve().parents[2]
CLUSTER_CONFIG = ROOT / "examples" / "cluster" / "config.yaml"
CPU_IMAGE = "registry.example.com/edtune/edtune-cpu@sha256:" + "c" * 64
GPU_IMAGE = "registry.example.com/edtune/edtune-gpu@sha256:" + "d" * 64


def _graph(spec: dict) -> dict:
    """The pipeline spec less what kfp.local ignores (executor images and resources)."""
    out = copy.deepcopy(spec)
    for ex in out["deploymentSpec"]["executors"].values():
        ex["container"].pop("image", None)
        ex["container"].pop("resources", None)
    return out


def _dag_shape(spec: dict) -> dict[str, list[tuple[str, str, tuple[str, ...]]]]:
    return {
        name: sorted(
            (t, task["componentRef"]["name"], tuple(sorted(task.get("dependentTasks", []))))
            for t, task in comp["dag"]["tasks"].items()
        )
        for name, comp in {"root": spec["root"], **spec["components"]}.items()
        if "dag" in comp
    }


@pytest.fixture(scope="module")
def sent(tmp_path_factory: pytest.TempPathFactory, cluster_store: dict[str, str]) -> list[dict]:
    """The spec `submit` sends for examples/cluster/config.yaml with 2 eval / 4 tune GPUs, as the server got it
    (its preflight reads the config's inputs from the S3 stand-in, tests/cluster/conftest.py)."""
    mp = pytest.MonkeyPatch()
    for k, v in cluster_store.items():
        mp.setenv(k, v)
    mp.setenv("KF_PIPELINES_TOKEN", "t")
    mp.setenv("HOME", str(tmp_path_factory.mktemp("home")))
    try:
        with kfp_server() as (url, state):
            submit(
                load_config(CLUSTER_CONFIG, []),
                url,
                image=CPU_IMAGE,
                gpu_image=GPU_IMAGE,
                eval_gpus=2,
                tune_gpus=4,
            )
            [run] = state.runs.values()
    finally:
        mp.undo()
    return [run["pipeline_spec"]["pipeline_spec"], run["pipeline_spec"]["platform_spec"]]


@pytest.fixture(scope="module")
def local(tmp_path_factory: pytest.TempPathFactory) -> list[dict]:
    """The spec `run_local` runs for a laptop config (local paths, default cluster settings, 1 GPU each)."""
    out = tmp_path_factory.mktemp("local")
    cfg = RunConfig.model_validate({"output": str(out / "runs"), "task": {"val": str(out / "val.jsonl")}})
    return list(yaml.safe_load_all(local_spec(cfg, out).read_text()))


def test_kfp_local_runs_the_graph_submit_sends(sent: list[dict], local: list[dict]) -> None:
    assert _dag_shape(sent[0]) == _dag_shape(local[0]), "same tasks, same DAG nesting"
    assert _graph(sent[0]) == _graph(local[0]), "only images, resources and platform config may differ"
    # ...and they do differ there: the submit build carries the cluster profile and the GPU counts
    tune_sent = sent[0]["deploymentSpec"]["executors"]["exec-tune-op"]["container"]
    tune_local = local[0]["deploymentSpec"]["executors"]["exec-tune-op"]["container"]
    assert tune_sent["resources"]["accelerator"]["resourceCount"] == "4"
    assert tune_local["resources"]["accelerator"]["resourceCount"] == "1"
    assert tune_sent["image"] == GPU_IMAGE


def test_the_graph_fans_out_under_an_exit_handler_in_both(sent: list[dict], local: list[dict]) -> None:
    for spec in (sent[0], local[0]):
        assert set(spec["root"]["dag"]["tasks"]) == {"exit-handler-1", "record-status-op"}
        names = json.dumps(spec["components"]["comp-exit-handler-1"]["dag"]["tasks"])
        assert "evaluate-op" in names and "merge-eval-op" in names


def test_pipeline_check_accepts_the_spec_submit_sends_with_pinned_images(sent: list[dict]) -> None:
    report = check_spec(sent, "sent", strict_images=True)
    assert report.errors == [], [str(f) for f in report.errors]
    assert not [f for f in report.findings if f.rule == "image-pinned"]
