"""`pipeline submit` runs the run's preflight (the checks that need no cluster service) and refuses a hub id.

The object store is the moto S3 server holding the cluster config's inputs (tests/cluster/conftest.py) or, for a
store that cannot be reached, a closed loopback port; the KFP API is the loopback stand-in (kfp_server.py), whose
request log shows that nothing was sent when a check fails.
"""

from __future__ import annotations

import json
import socket
from collections.abc import Callable
from pathlib import Path

from .conftest import Result
from .kfp_server import kfp_server

ROOT = Path(__file__).resolve().parents[2]
CLUSTER_CONFIG = ROOT / "examples" / "cluster" / "config.yaml"
PINNED = [
    "--image",
    "registry.example.com/edtune/edtune-cpu@sha256:" + "c" * 64,
    "--gpu-image",
    "registry.example.com/edtune/edtune-gpu@sha256:" + "d" * 64,
]


def _submit(url: str, *extra: str) -> list[str]:
    return ["pipeline", "submit", "--host", url, "--config", str(CLUSTER_CONFIG), *PINNED, *extra]


def closed_port() -> int:
    with socket.socket() as s:  # bound, then closed: nothing listens there
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_submit_refuses_a_hub_id_and_names_models_stage(edtune: Callable[..., Result]) -> None:
    with kfp_server() as (url, state):
        proc = edtune(_submit(url, "--set", "student.base=Qwen/Qwen2-VL-7B-Instruct"), KF_PIPELINES_TOKEN="t")
        assert proc.returncode == 2, proc.stderr
        assert ": student.base: " in proc.stderr and "hub id" in proc.stderr, proc.stderr
        assert "never download" in proc.stderr
        assert "edtune models stage Qwen/Qwen2-VL-7B-Instruct s3://" in proc.stderr, proc.stderr
        assert state.requests == [], "nothing is sent for a hub id"


def test_dry_run_runs_the_preflight_and_reports_each_check(edtune: Callable[..., Result]) -> None:
    with kfp_server() as (url, state):
        proc = edtune([*_submit(url), "--dry-run", "--json"], KF_PIPELINES_TOKEN="t")
        assert proc.returncode == 0, proc.stderr
        lines = json.loads(proc.stdout)["preflight"]
        assert state.runs == {}
    assert all(line.startswith("ok") for line in lines), lines
    by_name = {line.split()[1]: line for line in lines}
    assert "output: s3://edtune/runs is writable" in by_name["store"]
    assert "qwen2_vl" in by_name["student"]
    assert "skipped" in by_name["teacher"] and "skipped" in by_name["pool"]


def test_dry_run_with_an_unreachable_object_store_exits_2_naming_the_check(
    edtune: Callable[..., Result],
) -> None:
    dead = f"http://127.0.0.1:{closed_port()}"
    with kfp_server() as (url, state):
        proc = edtune([*_submit(url), "--dry-run"], KF_PIPELINES_TOKEN="t", AWS_ENDPOINT_URL=dead)
        assert proc.returncode == 2, proc.stderr
        assert "preflight" in proc.stderr and "preflight store" in proc.stderr, proc.stderr
        assert "output" in proc.stderr and "EndpointConnectionError" in proc.stderr, proc.stderr
        assert state.requests == [] and state.runs == {}, "the preflight fails before the backend is asked"
        # and so does a real submit
        real = edtune(_submit(url), KF_PIPELINES_TOKEN="t", AWS_ENDPOINT_URL=dead)
        assert real.returncode == 2 and state.runs == {} and state.requests == []


def test_submit_refuses_a_missing_input_before_sending_anything(edtune: Callable[..., Result]) -> None:
    with kfp_server() as (url, state):
        proc = edtune(
            _submit(url, "--set", "task.test=s3://edtune/tasks/colors/no-such.jsonl"), KF_PIPELINES_TOKEN="t"
        )
        assert proc.returncode == 2, proc.stderr
        assert "task.test: s3://edtune/tasks/colors/no-such.jsonl: not found" in proc.stderr, proc.stderr
        assert state.requests == []
