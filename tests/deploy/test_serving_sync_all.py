"""`edtune adapters sync-all`, the adapter server's initContainer, against a real S3 API (moto server on loopback).

A fresh install serves no task (EDTUNE_TASKS empty, no pin): the initContainer must succeed and write an empty
`--lora-modules` list. `publish --rollout` adds `adapters.edtune.io/<task>` to the pod template; the initContainer
reads it from the downward-API annotations file and serves the task. The command runs as its own process with no
S3 key at all: credentials come the IRSA / workload-identity way (a web-identity token file and a role ARN,
exchanged at moto's STS), so nothing depends on the optional `edtune-s3` Secret.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import boto3
import pytest
from test_publish_registry import WEIGHTS_A, WEIGHTS_B, make_adapter

from edtune.publish.registry import publish

ARGS = "lora-modules.args"


def irsa_env(tmp_path: Path, endpoint: str) -> dict[str, str]:
    """The pod's environment under IRSA: a role ARN and a projected token file; no key, no credentials file."""
    token = tmp_path / "irsa" / "token"
    token.parent.mkdir(parents=True, exist_ok=True)
    token.write_text("eyJhbGciOiJSUzI1NiJ9.e30.c2ln")
    return {
        "PATH": str(Path(sys.executable).parent) + ":/usr/bin:/bin",
        "HOME": str(tmp_path / "home"),
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ROLE_ARN": "arn:aws:iam::123456789012:role/edtune-adapter-server",
        "AWS_WEB_IDENTITY_TOKEN_FILE": str(token),
        "AWS_CONFIG_FILE": str(tmp_path / "no-aws-config"),
        "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "no-aws-credentials"),
        "AWS_EC2_METADATA_DISABLED": "true",
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
    }


def sync_all(
    tmp_path: Path, registry: str, tasks: str, pins_file: Path | None = None
) -> subprocess.CompletedProcess[str]:
    """What the initContainer runs: `edtune adapters sync-all --tasks=$(EDTUNE_TASKS) --pins-file=...`."""
    endpoint = os.environ["AWS_ENDPOINT_URL"]  # the moto server the s3_bucket fixture points at
    cmd = [sys.executable, "-m", "edtune.cli", "adapters", "sync-all", "--registry", registry]
    cmd += [f"--tasks={tasks}", "--dest", str(tmp_path / "adapters")]
    if pins_file is not None:
        cmd += ["--pins-file", str(pins_file)]
    return subprocess.run(
        cmd, env=irsa_env(tmp_path, endpoint), capture_output=True, text=True, timeout=120, check=False
    )


def rollout_annotations(
    tmp_path: Path, registry: str, name: str, weights: dict[str, bytes], run: str
) -> tuple[str, dict[str, str]]:
    """`edtune publish --rollout --dry-run --json` for task `colors`, then the pod's downward-API annotations file
    written from the rollout's patch (`key="value"` per line, as the kubelet writes it). Returns the version
    pinned and the sha256 of each of its files."""
    from edtune.cli import main

    adapter, manifest_uri, manifest = make_adapter(tmp_path, name, weights)
    argv = ["publish", "--adapter", adapter, "--manifest", manifest_uri, "--registry", registry]
    argv += ["--task", "colors", "--run-id", run, "--rollout", "edtune-adapter-server", "--dry-run", "--json"]
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        assert main(argv) == 0
    result = json.loads(buf.getvalue())
    annotations = result["rollout"]["patch"]["spec"]["template"]["metadata"]["annotations"]
    lines = [f"{k}={json.dumps(v)}" for k, v in sorted(annotations.items())]
    lines.append('kubectl.kubernetes.io/restartedAt="2025-01-01T00:00:00Z"')
    (tmp_path / "annotations").write_text("\n".join(lines) + "\n")
    return str(result["version"]), dict(manifest.files)


def test_no_task_and_no_annotation_starts_with_an_empty_lora_list(tmp_path: Path, s3_bucket: str) -> None:
    pins_file = tmp_path / "annotations"
    pins_file.write_text('kubectl.kubernetes.io/restartedAt="2025-01-01T00:00:00Z"\n')
    proc = sync_all(tmp_path, f"s3://{s3_bucket}/r", "", pins_file)
    assert proc.returncode == 0, proc.stderr
    args = tmp_path / "adapters" / ARGS
    assert args.is_file(), "the server's command reads this file: it must exist even with no task"
    assert args.read_text() == ""
    assert sorted(p.name for p in (tmp_path / "adapters").iterdir()) == [ARGS]


def test_a_rolled_out_task_is_synced_verified_and_listed(tmp_path: Path, s3_bucket: str) -> None:
    registry = f"s3://{s3_bucket}/r"
    pinned, files = rollout_annotations(tmp_path, registry, "a", WEIGHTS_A, "run-1")
    newer = publish(*make_adapter(tmp_path, "b", WEIGHTS_B)[:2], registry, "colors", "run-2")
    assert newer.version != pinned  # latest moved on: only the pin can make the server serve run-1

    proc = sync_all(tmp_path, registry, "", tmp_path / "annotations")
    assert proc.returncode == 0, proc.stderr
    served = tmp_path / "adapters" / "colors"
    assert (served / "adapter_model.safetensors").read_bytes() == WEIGHTS_A["adapter_model.safetensors"]
    assert json.loads((served / "manifest.json").read_text())["files"] == files
    assert f"synced colors {pinned}" in proc.stdout
    assert (tmp_path / "adapters" / ARGS).read_text().split() == [f"colors={served}"]


def test_a_listed_task_with_nothing_published_is_skipped_with_a_warning(
    tmp_path: Path, s3_bucket: str
) -> None:
    registry = f"s3://{s3_bucket}/r"
    pinned, _ = rollout_annotations(tmp_path, registry, "a", WEIGHTS_A, "run-1")
    proc = sync_all(tmp_path, registry, "shapes", tmp_path / "annotations")
    assert proc.returncode == 0, proc.stderr
    warnings = [line for line in proc.stderr.splitlines() if line.startswith("warning:")]
    assert len(warnings) == 1 and "shapes" in warnings[0] and "nothing published" in warnings[0], proc.stderr
    assert "Traceback" not in proc.stderr
    assert not (tmp_path / "adapters" / "shapes").exists()
    args = (tmp_path / "adapters" / ARGS).read_text().split()
    assert args == [f"colors={tmp_path / 'adapters' / 'colors'}"]
    assert f"synced colors {pinned}" in proc.stdout


def test_a_pinned_version_that_does_not_verify_fails_naming_the_file(tmp_path: Path, s3_bucket: str) -> None:
    registry = f"s3://{s3_bucket}/r"
    pinned, _ = rollout_annotations(tmp_path, registry, "a", WEIGHTS_A, "run-1")
    key = f"r/adapters/colors/{pinned}/adapter_model.safetensors"
    boto3.client("s3").put_object(Bucket=s3_bucket, Key=key, Body=b"X" * 4096)

    proc = sync_all(tmp_path, registry, "", tmp_path / "annotations")
    assert proc.returncode == 1, proc.stderr
    assert f"s3://{s3_bucket}/{key}" in proc.stderr
    assert not (tmp_path / "adapters" / ARGS).exists(), "no list: the server must not start on a partial set"
    assert not (tmp_path / "adapters" / "colors").exists()


@pytest.mark.parametrize("tasks", ["colors,colors", "../etc"])
def test_bad_task_lists_are_refused(tmp_path: Path, s3_bucket: str, tasks: str) -> None:
    proc = sync_all(tmp_path, f"s3://{s3_bucket}/r", tasks)
    assert proc.returncode == 2, proc.stderr
    assert "--tasks" in proc.stderr
    assert not (tmp_path / "adapters").exists()
