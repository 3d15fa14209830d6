"""`edtune pipeline submit|upload|schedule` against a loopback KFP v2 REST API (tests/cluster/kfp_server.py).

No real Kubeflow can run here: these tests check what the CLI sends — the bearer token, the profile namespace,
the run's ServiceAccount, the cluster config and the images in the compiled spec — and that a local config is
refused with exit 2 and a message naming the field before a single request is made.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from .conftest import Result
from .kfp_server import KfpState, kfp_server

ROOT = Path(__file__).resolve().parents[2]
CLUSTER_CONFIG = ROOT / "examples" / "cluster" / "config.yaml"
CPU_IMAGE = "registry.example.com/edtune/edtune-cpu@sha256:" + "c" * 64
GPU_IMAGE = "registry.example.com/edtune/edtune-gpu@sha256:" + "d" * 64
PINNED = ["--image", CPU_IMAGE, "--gpu-image", GPU_IMAGE]


def run_subprocess(args: list[str], home: Path, **env: str) -> Result:
    """The real `edtune` process, for the one test that must see what a shell sees."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("EDTUNE_", "KF_PIPELINES_", "AWS_"))}
    clean.update(HOME=str(home), **env)  # kfp keeps a context file under $HOME/.config/kfp
    proc = subprocess.run(
        [sys.executable, "-m", "edtune.cli", *args],
        capture_output=True,
        text=True,
        timeout=300,
        env=clean,
        cwd=ROOT,
        check=False,
    )
    return Result(proc.returncode, proc.stdout, proc.stderr)


def auth_headers(state: KfpState) -> set[str]:
    return {r.headers.get("authorization", "") for r in state.requests}


def test_submit_sends_token_namespace_service_account_cluster_config_and_images(
    edtune: Callable[..., Result],
) -> None:
    with kfp_server() as (url, state):
        proc = edtune(
            [
                "pipeline",
                "submit",
                "--host",
                url,
                "--config",
                str(CLUSTER_CONFIG),
                "--image",
                CPU_IMAGE,
                "--gpu-image",
                GPU_IMAGE,
                "--min-gain",
                "0.02",
                "--json",
            ],
            KF_PIPELINES_TOKEN="tok-abc123",
        )
        assert proc.returncode == 0, proc.stderr
        out = json.loads(proc.stdout)  # exactly one JSON object on stdout: kfp's links went to stderr
        assert out["run_id"] == "run-1" and out["namespace"] == "edtune-runs" and out["auth"] == "env"
        assert auth_headers(state) == {"Bearer tok-abc123"}, "every request carries the bearer token"
        [exp] = state.experiments.values()
        assert (exp["display_name"], exp["namespace"]) == ("edtune", "edtune-runs")
        [run] = state.runs.values()
    assert run["experiment_id"] == exp["experiment_id"]
    assert run["service_account"] == "edtune-pipeline"
    assert run["display_name"] == "colors-001"
    params = run["runtime_config"]["parameters"]
    assert params["task_val"] == "s3://edtune/tasks/colors/val.jsonl"
    assert params["teacher_url"] == "http://edtune-teacher.edtune.svc" and params["teacher_model"] == "auto"
    assert params["publish_min_gain"] == pytest.approx(0.02), "latest moves only at or above the CI gate"
    sent_cfg = json.loads(params["config_overrides"])
    assert sent_cfg["cluster"]["namespace"] == "edtune-runs" and sent_cfg["cache_dir"] == "/cache"
    assert sent_cfg["pool"]["milvus_uri"] == "http://edtune-milvus.edtune-milvus.svc:19530"
    spec, platform = run["pipeline_spec"]["pipeline_spec"], run["pipeline_spec"]["platform_spec"]
    images = {name: ex["container"]["image"] for name, ex in spec["deploymentSpec"]["executors"].items()}
    gpu = {k for k in images if re.sub(r"-\d+$", "", k) in ("exec-tune-op", "exec-evaluate-op")}
    assert len(gpu) >= 2 and {images[k] for k in gpu} == {GPU_IMAGE}
    assert {v for k, v in images.items() if k not in gpu} == {CPU_IMAGE}
    # the placement of the cluster profile travels in the platform spec the backend turns into pods
    tune = platform["platforms"]["kubernetes"]["deploymentSpec"]["executors"]["exec-tune-op"]
    assert tune["nodeSelector"]["labels"] == {"nvidia.com/gpu.present": "true"}
    # the cache is an emptyDir (writable by the images' non-root user: KFP pods get no fsGroup) of cache_size
    assert [m for m in tune["emptyDirMounts"] if m["mountPath"] == "/cache"] == [
        {"volumeName": "edtune-cache", "mountPath": "/cache", "sizeLimit": "200Gi"}
    ]


@pytest.mark.slow  # a fresh interpreter imports the whole CLI and kfp: > 60 s on our loaded 2-core machines
def test_submit_reads_the_service_account_token_file_in_a_real_process(tmp_path: Path) -> None:
    """The projected-token route, through a real `edtune` process: stdout holds exactly one JSON object."""
    token = tmp_path / "token"
    token.write_text("projected-sa-token\n")
    with kfp_server() as (url, state):
        proc = run_subprocess(
            [
                "pipeline",
                "submit",
                "--pipeline",
                "index",
                "--host",
                url,
                "--config",
                str(CLUSTER_CONFIG),
                *PINNED,
                "--json",
            ],
            tmp_path,
            KF_PIPELINES_SA_TOKEN_PATH=str(token),
        )
        assert proc.returncode == 0, proc.stderr
        assert json.loads(proc.stdout)["auth"] == "file"
        assert auth_headers(state) == {"Bearer projected-sa-token"}


LOCAL_CONFIGS = [
    # (what is wrong, --set overrides on top of the cluster profile, field the message must name)
    ("output dir on the pod's disk", ["output=./edtune-data/runs"], "output"),
    ("teacher on loopback", ["teacher.url=http://127.0.0.1:8080"], "teacher.url"),
    ("teacher on localhost", ["teacher.url=http://localhost:8080"], "teacher.url"),
    ("Milvus Lite file", ["pool.milvus_uri=./edtune-data/milvus.db"], "pool.milvus_uri"),
    ("Milvus on loopback", ["pool.milvus_uri=http://[::1]:19530"], "pool.milvus_uri"),
    ("empty student", ["student.base="], "student.base"),
    ("local student dir", ["student.base=/models/qwen"], "student.base"),
    ("local validation split", ["task.val=tasks/colors/val.jsonl"], "task.val"),
    ("local pool", ["pool.uri=/data/pool.jsonl"], "pool.uri"),
    ("cache on the root disk", ["cache_dir=./edtune-data/cache"], "cache_dir"),
]


@pytest.mark.parametrize(("what", "sets", "field"), LOCAL_CONFIGS, ids=[c[0] for c in LOCAL_CONFIGS])
def test_submit_refuses_a_local_config_before_sending_anything(
    edtune: Callable[..., Result], what: str, sets: list[str], field: str
) -> None:
    args = ["pipeline", "submit", "--host", "URL", "--config", str(CLUSTER_CONFIG)]
    for s in sets:
        args += ["--set", s]
    with kfp_server() as (url, state):
        proc = edtune([url if a == "URL" else a for a in args], KF_PIPELINES_TOKEN="t")
        assert proc.returncode == 2, proc.stderr
        assert f": {field}: " in proc.stderr, proc.stderr
        assert state.requests == [], f"{what}: requests were sent before validation"


def test_a_config_with_only_task_val_is_refused_naming_every_local_default(
    tmp_path: Path, edtune: Callable[..., Result]
) -> None:
    cfg = tmp_path / "task.yaml"
    cfg.write_text(yaml.safe_dump({"task": {"name": "colors", "val": "s3://edtune/tasks/colors/val.jsonl"}}))
    with kfp_server() as (url, state):
        proc = edtune(["pipeline", "submit", "--host", url, "--config", str(cfg)])
        assert proc.returncode == 2
        for field in ("output", "teacher.url", "pool.milvus_uri", "student.base", "pool.uri", "cache_dir"):
            assert f": {field}: " in proc.stderr, field
        assert state.requests == []


def test_wait_fails_the_gate_when_the_run_fails(tmp_path: Path, edtune: Callable[..., Result]) -> None:
    with kfp_server() as (url, state):
        state.run_state = "FAILED"
        proc = edtune(
            [
                "pipeline",
                "submit",
                "--host",
                url,
                "--config",
                str(CLUSTER_CONFIG),
                *PINNED,
                "--wait",
                "--min-gain",
                "0.02",
            ],
            KF_PIPELINES_TOKEN="t",
        )
        assert proc.returncode == 1
        assert "FAILED" in proc.stderr


def test_index_pipeline_submits_with_the_journal_in_object_storage(
    tmp_path: Path, edtune: Callable[..., Result]
) -> None:
    with kfp_server() as (url, state):
        proc = edtune(
            [
                "pipeline",
                "submit",
                "--pipeline",
                "index",
                "--host",
                url,
                "--config",
                str(CLUSTER_CONFIG),
                *PINNED,
                "--json",
            ],
            KF_PIPELINES_TOKEN="t",
        )
        assert proc.returncode == 0, proc.stderr
        [run] = state.runs.values()
    params = run["runtime_config"]["parameters"]
    assert params["state_uri"] == "s3://edtune/index-state"
    assert params["skills_uri"] == "s3://edtune/pool/pool.skills.jsonl"
    assert run["pipeline_spec"]["pipeline_spec"]["pipelineInfo"]["name"] == "edtune-index-support-set"


def test_index_pipeline_refuses_a_journal_on_the_pod(tmp_path: Path, edtune: Callable[..., Result]) -> None:
    with kfp_server() as (url, state):
        proc = edtune(
            [
                "pipeline",
                "submit",
                "--pipeline",
                "index",
                "--host",
                url,
                "--config",
                str(CLUSTER_CONFIG),
                "--set",
                "cluster.state_uri=",
            ],
        )
        assert proc.returncode == 2 and ": cluster.state_uri: " in proc.stderr
        assert state.requests == []


def test_upload_creates_then_versions_and_schedule_creates_a_recurring_run(
    tmp_path: Path, edtune: Callable[..., Result]
) -> None:
    with kfp_server() as (url, state):
        base = [
            "--host",
            url,
            "--config",
            str(CLUSTER_CONFIG),
            "--image",
            CPU_IMAGE,
            "--gpu-image",
            GPU_IMAGE,
        ]
        first = edtune(["pipeline", "upload", *base, "--json"], KF_PIPELINES_TOKEN="t")
        assert first.returncode == 0, first.stderr
        up1 = json.loads(first.stdout)
        assert up1["pipeline_created"] is True and up1["pipeline"] == "edtune-error-driven-tuning"
        second = edtune(["pipeline", "upload", *base, "--version", "v2", "--json"], KF_PIPELINES_TOKEN="t")
        up2 = json.loads(second.stdout)
        assert up2["pipeline_created"] is False and up2["pipeline_id"] == up1["pipeline_id"]
        assert len(state.pipelines) == 1 and len(state.versions) == 2
        [pl] = state.pipelines.values()
        assert pl["namespace"] == "edtune-runs"
        spec = yaml.safe_load(next(iter(state.versions.values()))["spec"].split(b"\n---\n")[0])
        assert spec["deploymentSpec"]["executors"]["exec-tune-op"]["container"]["image"] == GPU_IMAGE
        sched = edtune(
            ["pipeline", "schedule", *base, "--cron", "0 0 3 * * 1", "--json"],
            KF_PIPELINES_TOKEN="t",
        )
        assert sched.returncode == 0, sched.stderr
        [rr] = state.recurring.values()
        assert auth_headers(state) == {"Bearer t"}
    assert rr["trigger"]["cron_schedule"]["cron"] == "0 0 3 * * 1"
    assert rr["service_account"] == "edtune-pipeline" and rr["max_concurrency"] in ("1", 1)
    assert rr["runtime_config"]["parameters"]["run_id"] == "colors-001-[[Index]]", (
        "each run gets its own run id"
    )
    assert rr["pipeline_version_reference"]["pipeline_id"] == up1["pipeline_id"]


def _submit(url: str, *extra: str) -> list[str]:
    return ["pipeline", "submit", "--host", url, "--config", str(CLUSTER_CONFIG), *extra]


@pytest.mark.parametrize(
    ("version", "feature"),
    [("2.5.0", "exit-handler-status"), ("2.4.1", "secret-name-parameter"), ("2.3.0", "secret-optional")],
)
def test_submit_refuses_a_backend_below_the_floor_and_creates_no_run(
    edtune: Callable[..., Result], version: str, feature: str
) -> None:
    with kfp_server() as (url, state):
        state.version = version
        proc = edtune([*_submit(url, *PINNED)], KF_PIPELINES_TOKEN="t")
        assert proc.returncode == 2, proc.stderr
        assert f"KFP backend {version}" in proc.stderr and "[backend-floor]" in proc.stderr
        assert f": {feature}: " in proc.stderr, proc.stderr
        assert state.runs == {} and not [r for r in state.requests if r.method == "POST"]


def test_a_backend_that_reports_no_version_is_refused_unless_told_which(
    edtune: Callable[..., Result],
) -> None:
    with kfp_server() as (url, state):
        state.version = None
        proc = edtune(_submit(url, *PINNED), KF_PIPELINES_TOKEN="t")
        assert proc.returncode == 2 and "--backend-version" in proc.stderr
        assert state.runs == {}
        ok = edtune([*_submit(url, *PINNED), "--backend-version", "2.17.0", "--json"], KF_PIPELINES_TOKEN="t")
        assert ok.returncode == 0, ok.stderr
        assert json.loads(ok.stdout)["backend"] == "2.17.0" and len(state.runs) == 1


def test_submit_warns_where_the_backend_ignores_a_setting(edtune: Callable[..., Result]) -> None:
    """2.15 runs the spec but drops the security context (it takes effect from 2.16): a warning, not a refusal."""
    with kfp_server() as (url, state):
        state.version = "2.15.0"
        proc = edtune([*_submit(url, *PINNED), "--json"], KF_PIPELINES_TOKEN="t")
        assert proc.returncode == 0, proc.stderr
        out = json.loads(proc.stdout)
        assert out["backend"] == "2.15.0" and out["min_backend"] == "2.15.0"
        assert any(w.startswith("security-context:") for w in out["warnings"]), out["warnings"]


TAGGED = [
    # (what, flags) — each must be refused with exit 2 before any request
    ("tag CPU image", ["--image", "registry.example.com/edtune/edtune-cpu:0.1.0", "--gpu-image", GPU_IMAGE]),
    ("tag GPU image", ["--image", CPU_IMAGE, "--gpu-image", "registry.example.com/edtune/edtune-gpu:latest"]),
    ("derived GPU tag", ["--image", "registry.example.com/edtune/edtune-cpu:0.1.0"]),
]


@pytest.mark.parametrize(("what", "flags"), TAGGED, ids=[t[0] for t in TAGGED])
def test_submit_refuses_tag_images_unless_allow_unpinned(
    edtune: Callable[..., Result], what: str, flags: list[str]
) -> None:
    with kfp_server() as (url, state):
        proc = edtune(_submit(url, *flags), KF_PIPELINES_TOKEN="t")
        assert proc.returncode == 2, proc.stderr
        assert "digest" in proc.stderr and "--allow-unpinned" in proc.stderr
        assert state.requests == [], f"{what}: requests were sent before the image check"
        ok = edtune([*_submit(url, *flags), "--allow-unpinned"], KF_PIPELINES_TOKEN="t")
        assert ok.returncode == 0, ok.stderr
        assert len(state.runs) == 1


def test_submit_never_sends_the_unpublished_default_image(edtune: Callable[..., Result]) -> None:
    with kfp_server() as (url, state):
        proc = edtune(_submit(url, "--allow-unpinned"), KF_PIPELINES_TOKEN="t")
        assert proc.returncode == 2 and "not published" in proc.stderr and "--image" in proc.stderr
        assert state.requests == []


def test_dry_run_checks_config_spec_and_backend_and_sends_nothing(edtune: Callable[..., Result]) -> None:
    with kfp_server() as (url, state):
        proc = edtune([*_submit(url, *PINNED), "--dry-run", "--json"], KF_PIPELINES_TOKEN="t")
        assert proc.returncode == 0, proc.stderr
        out = json.loads(proc.stdout)
        assert out["dry_run"] is True and out["run_id"] is None and out["backend"] == "2.15.0"
        assert {r.method for r in state.requests} == {"GET"}, "a dry run only reads the backend's version"
        assert state.runs == {} and state.experiments == {}
        state.version = "2.5.0"  # and it fails exactly where submit would
        low = edtune([*_submit(url, *PINNED), "--dry-run"], KF_PIPELINES_TOKEN="t")
        assert low.returncode == 2 and "[backend-floor]" in low.stderr
        bad = edtune([*_submit(url, *PINNED), "--dry-run", "--set", "output=./runs"], KF_PIPELINES_TOKEN="t")
        assert bad.returncode == 2 and ": output: " in bad.stderr


def test_gpu_counts_are_compiled_into_the_spec_submit_sends(edtune: Callable[..., Result]) -> None:
    with kfp_server() as (url, state):
        proc = edtune(
            [*_submit(url, *PINNED), "--eval-gpus", "2", "--tune-gpus", "4"], KF_PIPELINES_TOKEN="t"
        )
        assert proc.returncode == 0, proc.stderr
        [run] = state.runs.values()
    spec = run["pipeline_spec"]["pipeline_spec"]
    counts = {
        re.sub(r"-\d+$", "", name): ex["container"]["resources"]["accelerator"]["resourceCount"]
        for name, ex in spec["deploymentSpec"]["executors"].items()
        if "accelerator" in ex["container"].get("resources", {})
    }
    assert counts == {"exec-evaluate-op": "2", "exec-tune-op": "4"}
    params = spec["root"]["inputDefinitions"]["parameters"]
    assert "eval_gpus" not in params and "tune_gpus" not in params, "GPU counts are not run parameters"
