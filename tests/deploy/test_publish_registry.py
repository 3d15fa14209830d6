"""Publishing adapters to the registry on a real S3 API (moto server over HTTP) and on local disk."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import boto3
import pytest

from edtune.errors import InputError, ModelError, StorageError
from edtune.publish.fetch import sync
from edtune.publish.lifecycle import incomplete_uploads
from edtune.publish.registry import (
    VersionConflictError,
    publish,
    read_latest,
    verify_version,
    version_id,
)
from edtune.schemas import AdapterManifest, RoundMetrics


def make_adapter(
    root: Path, name: str, files: dict[str, bytes], **manifest_overrides: object
) -> tuple[str, str, AdapterManifest]:
    """An adapter dir + a manifest beside it whose `files` map holds the real sha256 of each file."""
    adapter = root / name / "adapter"
    adapter.mkdir(parents=True)
    for rel, data in files.items():
        (adapter / rel).parent.mkdir(parents=True, exist_ok=True)
        (adapter / rel).write_bytes(data)
    fields: dict[str, object] = {
        "base_model": "tiny-qwen2-vl",
        "lora": {"r": 8, "alpha": 16},
        "rounds": [RoundMetrics(round=0, val_accuracy=0.5), RoundMetrics(round=1, val_accuracy=0.8)],
        "best_round": 1,
        "selected_support_ids": ["s1", "s2"],
        "files": {rel: hashlib.sha256(data).hexdigest() for rel, data in files.items()},
        "edtune_version": "0.1.0",
        "created_at": "2025-01-01T00:00:00+00:00",
    }
    fields.update(manifest_overrides)
    manifest = AdapterManifest.model_validate(fields)
    manifest_path = root / name / "manifest.json"
    manifest_path.write_text(manifest.model_dump_json(indent=2))
    return str(adapter), str(manifest_path), manifest


WEIGHTS_A = {"adapter_config.json": b'{"r": 8}', "adapter_model.safetensors": b"A" * 4096}
WEIGHTS_B = {"adapter_config.json": b'{"r": 8}', "adapter_model.safetensors": b"B" * 4096}


def s3_keys(bucket: str, prefix: str) -> set[str]:
    s3 = boto3.client("s3", endpoint_url=os.environ["AWS_ENDPOINT_URL"])
    pages = s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
    return {obj["Key"] for page in pages for obj in page.get("Contents", [])}


def test_publish_writes_version_files_manifest_and_latest(tmp_path: Path, s3_bucket: str) -> None:
    adapter, manifest_uri, manifest = make_adapter(tmp_path, "a", WEIGHTS_A)
    registry = f"s3://{s3_bucket}/registry"

    result = publish(adapter, manifest_uri, registry, "colors", "run-1")

    assert result.created is True
    assert result.previous_version is None
    assert result.version == version_id("run-1", manifest)
    assert result.version.startswith("run-1-") and len(result.version) == len("run-1-") + 12
    prefix = f"registry/adapters/colors/{result.version}/"
    assert s3_keys(s3_bucket, "registry/") == {
        prefix + "adapter_config.json",
        prefix + "adapter_model.safetensors",
        prefix + "manifest.json",
        "registry/adapters/colors/latest.json",
    }
    latest = read_latest(registry, "colors")
    assert latest is not None
    assert (latest.version, latest.uri, latest.run_id, latest.files) == (
        result.version,
        result.uri,
        "run-1",
        2,
    )
    assert latest.manifest_sha256 == hashlib.sha256(Path(manifest_uri).read_bytes()).hexdigest()
    assert verify_version(registry, "colors", result.version) == []


def test_republishing_identical_content_is_idempotent(tmp_path: Path, s3_bucket: str) -> None:
    adapter, manifest_uri, _ = make_adapter(tmp_path, "a", WEIGHTS_A)
    registry = f"s3://{s3_bucket}/r"
    first = publish(adapter, manifest_uri, registry, "colors", "run-1")
    second = publish(adapter, manifest_uri, registry, "colors", "run-1")
    assert (second.created, second.version, second.previous_version) == (False, first.version, first.version)


def test_refuses_to_overwrite_a_version_with_a_different_manifest(tmp_path: Path, s3_bucket: str) -> None:
    registry = f"s3://{s3_bucket}/r"
    adapter, manifest_uri, _ = make_adapter(tmp_path, "a", WEIGHTS_A)
    first = publish(adapter, manifest_uri, registry, "colors", "run-1")
    # same weights (so the same version id), different metadata
    adapter2, manifest2, _ = make_adapter(tmp_path, "b", WEIGHTS_A, base_model="another-base")

    with pytest.raises(VersionConflictError, match="never overwritten"):
        publish(adapter2, manifest2, registry, "colors", "run-1")

    stored = boto3.client("s3", endpoint_url=os.environ["AWS_ENDPOINT_URL"]).get_object(
        Bucket=s3_bucket, Key=f"r/adapters/colors/{first.version}/manifest.json"
    )["Body"]
    assert stored.read() == Path(manifest_uri).read_bytes()


def test_a_new_run_moves_latest_and_keeps_the_old_version(tmp_path: Path, s3_bucket: str) -> None:
    registry = f"s3://{s3_bucket}/r"
    old = publish(*make_adapter(tmp_path, "a", WEIGHTS_A)[:2], registry, "colors", "run-1")
    new = publish(*make_adapter(tmp_path, "b", WEIGHTS_B)[:2], registry, "colors", "run-2")
    assert new.previous_version == old.version
    assert read_latest(registry, "colors").version == new.version  # type: ignore[union-attr]
    assert verify_version(registry, "colors", old.version) == []


@pytest.mark.parametrize(
    ("corrupt", "what"),
    [
        (lambda p: p.write_bytes(b"X" + p.read_bytes()[1:]), "one byte changed"),
        (lambda p: p.write_bytes(p.read_bytes()[:-1]), "truncated"),
        (lambda p: p.write_bytes(b""), "emptied"),
    ],
)
def test_a_file_that_does_not_match_the_manifest_is_detected_and_latest_stays(
    tmp_path: Path, s3_bucket: str, corrupt: object, what: str
) -> None:
    registry = f"s3://{s3_bucket}/r"
    old = publish(*make_adapter(tmp_path, "a", WEIGHTS_A)[:2], registry, "colors", "run-1")
    adapter, manifest_uri, manifest = make_adapter(tmp_path, "b", WEIGHTS_B)
    corrupt(Path(adapter) / "adapter_model.safetensors")  # type: ignore[operator]

    with pytest.raises(ModelError, match="do not match the manifest"):
        publish(adapter, manifest_uri, registry, "colors", "run-2")

    assert read_latest(registry, "colors").version == old.version, what  # type: ignore[union-attr]
    version = version_id("run-2", manifest)
    assert s3_keys(s3_bucket, f"r/adapters/colors/{version}/") == set(), "nothing is uploaded for a bad input"


def test_a_tampered_published_file_is_reported_and_blocks_republish(tmp_path: Path, s3_bucket: str) -> None:
    registry = f"s3://{s3_bucket}/r"
    adapter, manifest_uri, _ = make_adapter(tmp_path, "a", WEIGHTS_A)
    result = publish(adapter, manifest_uri, registry, "colors", "run-1")
    boto3.client("s3", endpoint_url=os.environ["AWS_ENDPOINT_URL"]).put_object(
        Bucket=s3_bucket, Key=f"r/adapters/colors/{result.version}/adapter_model.safetensors", Body=b"evil"
    )
    problems = verify_version(registry, "colors", result.version)
    assert len(problems) == 1 and "adapter_model.safetensors" in problems[0]
    with pytest.raises(StorageError, match="no longer matches"):
        publish(adapter, manifest_uri, registry, "colors", "run-1")


@pytest.mark.parametrize(
    ("change", "error", "message"),
    [
        ({"files": {"adapter_model.bin": "0" * 64}}, ModelError, "safetensors only"),
        ({"files": {"../escape.safetensors": "0" * 64}}, ModelError, "escapes"),
        ({"files": {"adapter_model.safetensors": "not-a-digest"}}, ModelError, "not a sha256"),
        ({"files": {"missing.safetensors": "0" * 64}}, ModelError, "missing: missing.safetensors"),
        ({"files": {}}, ModelError, "lists no adapter files"),
        ({"task": "bad task!"}, InputError, "not a valid name"),
        ({"run_id": "../run"}, InputError, "not a valid name"),
    ],
)
def test_bad_inputs_are_refused_before_anything_is_written(
    tmp_path: Path, change: dict[str, object], error: type[Exception], message: str
) -> None:
    task = str(change.pop("task", "colors"))
    run_id = str(change.pop("run_id", "run-1"))
    adapter, manifest_uri, _ = make_adapter(tmp_path, "a", WEIGHTS_A)
    if change:
        data = json.loads(Path(manifest_uri).read_text())
        data.update(change)
        Path(manifest_uri).write_text(json.dumps(data))
    registry = tmp_path / "registry"
    with pytest.raises(error, match=message):
        publish(adapter, manifest_uri, str(registry), task, run_id)
    assert not registry.exists()


def test_a_manifest_that_is_not_an_adapter_manifest_is_refused(tmp_path: Path) -> None:
    adapter, manifest_uri, _ = make_adapter(tmp_path, "a", WEIGHTS_A)
    Path(manifest_uri).write_text('{"base_model": "x"}')
    with pytest.raises(ModelError, match="not a valid AdapterManifest"):
        publish(adapter, manifest_uri, str(tmp_path / "reg"), "colors", "run-1")


def test_a_failure_mid_upload_on_disk_leaves_latest_and_completes_on_retry(tmp_path: Path) -> None:
    """The second file cannot be written (a directory blocks its path): the upload fails half-way."""
    registry = tmp_path / "registry"
    old = publish(*make_adapter(tmp_path, "a", WEIGHTS_A)[:2], str(registry), "colors", "run-1")
    adapter, manifest_uri, manifest = make_adapter(tmp_path, "b", WEIGHTS_B)
    version_dir = registry / "adapters" / "colors" / version_id("run-2", manifest)
    (version_dir / "adapter_model.safetensors").mkdir(parents=True)  # blocks the 2nd file (sorted order)

    with pytest.raises(OSError):
        publish(adapter, manifest_uri, str(registry), "colors", "run-2")
    assert (version_dir / "adapter_config.json").exists()  # the first file did land
    assert not (version_dir / "manifest.json").exists()
    assert read_latest(str(registry), "colors").version == old.version  # type: ignore[union-attr]

    (version_dir / "adapter_model.safetensors").rmdir()
    retry = publish(adapter, manifest_uri, str(registry), "colors", "run-2")
    assert retry.created is True and read_latest(str(registry), "colors").version == retry.version  # type: ignore[union-attr]


def test_a_killed_publish_process_leaves_latest_intact(tmp_path: Path, s3_bucket: str) -> None:
    """SIGKILL an `edtune publish` once its first file reached S3: the old latest survives, a rerun completes."""
    registry = f"s3://{s3_bucket}/r"
    old = publish(*make_adapter(tmp_path, "a", WEIGHTS_A)[:2], registry, "colors", "run-1")
    big = {
        "a_config.json": b"{}",
        **{f"z{i}.safetensors": os.urandom(1024) * (16 * 1024) for i in range(4)},
    }  # 4 x 16 MiB after a tiny first file
    adapter, manifest_uri, manifest = make_adapter(tmp_path, "b", big)
    version = version_id("run-2", manifest)
    first_key = f"r/adapters/colors/{version}/a_config.json"
    cmd = [sys.executable, "-m", "edtune.cli", "publish", "--adapter", adapter, "--manifest", manifest_uri]
    cmd += ["--registry", registry, "--task", "colors", "--run-id", "run-2"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.time() + 60
        while first_key not in s3_keys(s3_bucket, f"r/adapters/colors/{version}/"):
            assert proc.poll() is None, proc.stderr.read().decode() if proc.stderr else ""
            assert time.time() < deadline, "the publish never started uploading"
            time.sleep(0.01)
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    keys = s3_keys(s3_bucket, f"r/adapters/colors/{version}/")
    assert f"r/adapters/colors/{version}/manifest.json" not in keys, (
        "killed too late: the upload had finished"
    )
    assert read_latest(registry, "colors").version == old.version  # type: ignore[union-attr]

    left = incomplete_uploads(f"{registry}/adapters/colors/{version}")
    rerun = publish(adapter, manifest_uri, registry, "colors", "run-2")
    assert rerun.created is True and rerun.previous_version == old.version
    assert verify_version(registry, "colors", version) == []
    # the killed multipart upload (16 MiB files go in parts) is aborted by the rerun once the version is whole
    assert rerun.aborted_uploads == len(left)
    assert incomplete_uploads(registry) == []


def test_sync_downloads_latest_or_a_pinned_version_and_verifies(tmp_path: Path, s3_bucket: str) -> None:
    registry = f"s3://{s3_bucket}/r"
    old = publish(*make_adapter(tmp_path, "a", WEIGHTS_A)[:2], registry, "colors", "run-1")
    new = publish(*make_adapter(tmp_path, "b", WEIGHTS_B)[:2], registry, "colors", "run-2")

    got = sync(registry, "colors", tmp_path / "serve-latest")
    assert got.version == new.version
    assert (tmp_path / "serve-latest" / "adapter_model.safetensors").read_bytes() == WEIGHTS_B[
        "adapter_model.safetensors"
    ]
    assert (tmp_path / "serve-latest" / "manifest.json").exists()

    pinned = sync(registry, "colors", tmp_path / "serve-old", version=old.version)
    assert pinned.version == old.version
    assert (tmp_path / "serve-old" / "adapter_model.safetensors").read_bytes() == WEIGHTS_A[
        "adapter_model.safetensors"
    ]


def test_sync_with_nothing_published_names_the_task(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="nothing published for task 'colors'"):
        sync(str(tmp_path / "reg"), "colors", tmp_path / "dest")


def test_cli_publish_json_with_dry_run_rollout(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from edtune.cli import main

    adapter, manifest_uri, manifest = make_adapter(tmp_path, "a", WEIGHTS_A)
    argv = ["publish", "--adapter", adapter, "--manifest", manifest_uri, "--registry", str(tmp_path / "reg")]
    argv += [
        "--task",
        "colors",
        "--run-id",
        "run-1",
        "--rollout",
        "edtune-adapter-server",
        "--dry-run",
        "--json",
    ]
    assert main(argv) == 0
    out = json.loads(capsys.readouterr().out)
    version = version_id("run-1", manifest)
    assert out["version"] == version and out["created"] is True
    assert out["rollout"]["applied"] is False and out["rollout"]["dry_run"] is True
    annotations = out["rollout"]["patch"]["spec"]["template"]["metadata"]["annotations"]
    assert annotations["edtune.io/adapter-version"] == version
    assert annotations["adapters.edtune.io/colors"] == version
