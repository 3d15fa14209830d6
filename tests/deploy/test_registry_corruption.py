"""Damage in the registry never reaches serving: atomic verified sync, one JSON object per command naming each
bad file, INCOMPLETE vs CORRUPT, kills and SIGTERM mid-upload, and the bucket rule for uploads a kill leaves."""

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
from test_publish_registry import WEIGHTS_A, WEIGHTS_B, make_adapter, s3_keys

from edtune.publish.errors import VersionError
from edtune.publish.fetch import sync
from edtune.publish.lifecycle import RULE_ID, incomplete_uploads
from edtune.publish.registry import publish, read_latest, version_id


def tree(root: Path) -> dict[str, str]:
    return {
        p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def s3() -> object:
    return boto3.client("s3", endpoint_url=os.environ["AWS_ENDPOINT_URL"])


DAMAGE = {
    "weights changed": lambda b, k: s3().put_object(
        Bucket=b, Key=k + "adapter_model.safetensors", Body=b"evil"
    ),  # type: ignore[attr-defined]
    "weights deleted": lambda b, k: s3().delete_object(Bucket=b, Key=k + "adapter_model.safetensors"),  # type: ignore[attr-defined]
    "manifest garbled": lambda b, k: s3().put_object(Bucket=b, Key=k + "manifest.json", Body=b'{"files": '),  # type: ignore[attr-defined]
    "manifest deleted": lambda b, k: s3().delete_object(Bucket=b, Key=k + "manifest.json"),  # type: ignore[attr-defined]
}


@pytest.mark.parametrize("damage", list(DAMAGE))
@pytest.mark.parametrize("pinned", [False, True])
def test_a_failed_sync_leaves_a_good_destination_byte_identical(
    tmp_path: Path, s3_bucket: str, damage: str, pinned: bool
) -> None:
    registry = f"s3://{s3_bucket}/r"
    good = publish(*make_adapter(tmp_path, "a", WEIGHTS_A)[:2], registry, "colors", "run-1")
    dest = tmp_path / "serving" / "colors"
    sync(registry, "colors", dest)
    before = tree(dest)
    bad = publish(*make_adapter(tmp_path, "b", WEIGHTS_B)[:2], registry, "colors", "run-2")
    DAMAGE[damage](s3_bucket, f"r/adapters/colors/{bad.version}/")

    with pytest.raises(VersionError) as err:
        sync(registry, "colors", dest, version=bad.version if pinned else None)

    assert tree(dest) == before, "the good copy must be untouched"
    assert json.loads((dest / "manifest.json").read_text())["files"] == good.files
    assert sorted(p.name for p in dest.parent.iterdir()) == ["colors"], "no temp dir left behind"
    assert bad.version in str(err.value) and f"s3://{s3_bucket}/r/adapters/colors/{bad.version}" in str(
        err.value
    )
    expect = "INCOMPLETE" if damage == "manifest deleted" else "CORRUPT"
    assert err.value.status == expect


@pytest.mark.parametrize(
    ("damage", "status", "file"),
    [
        ("weights changed", "CORRUPT", "adapter_model.safetensors"),
        ("weights deleted", "CORRUPT", "adapter_model.safetensors"),
        ("manifest garbled", "CORRUPT", "manifest.json"),
        ("manifest deleted", "INCOMPLETE", "manifest.json"),
    ],
)
def test_verify_json_prints_one_object_whose_problems_name_each_bad_file(
    tmp_path: Path, s3_bucket: str, capsys: pytest.CaptureFixture[str], damage: str, status: str, file: str
) -> None:
    from edtune.cli import main

    registry = f"s3://{s3_bucket}/r"
    res = publish(*make_adapter(tmp_path, "a", WEIGHTS_A)[:2], registry, "colors", "run-1")
    argv = ["adapters", "verify", "--registry", registry, "--task", "colors", "--json"]
    assert main(argv) == 0
    assert json.loads(capsys.readouterr().out)["status"] == "OK"
    DAMAGE[damage](s3_bucket, f"r/adapters/colors/{res.version}/")

    assert main(argv) == 1

    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 1, lines
    err = json.loads(lines[0])["error"]
    assert status in err["message"] and res.version in err["message"]
    assert len(err["problems"]) == 1
    assert f"s3://{s3_bucket}/r/adapters/colors/{res.version}/{file}:" in err["problems"][0]


def test_latest_fails_when_the_version_it_names_lost_its_manifest(
    tmp_path: Path, s3_bucket: str, capsys: pytest.CaptureFixture[str]
) -> None:
    from edtune.cli import main

    registry = f"s3://{s3_bucket}/r"
    res = publish(*make_adapter(tmp_path, "a", WEIGHTS_A)[:2], registry, "colors", "run-1")
    DAMAGE["manifest deleted"](s3_bucket, f"r/adapters/colors/{res.version}/")
    assert main(["adapters", "latest", "--registry", registry, "--task", "colors", "--json"]) == 1
    err = json.loads(capsys.readouterr().out)["error"]
    assert "INCOMPLETE" in err["message"] and err["problems"][0].startswith(
        f"s3://{s3_bucket}/r/adapters/colors/"
    )


def _publish_proc(adapter: str, manifest: str, registry: str, run_id: str) -> subprocess.Popen[bytes]:
    cmd = [sys.executable, "-m", "edtune.cli", "publish", "--adapter", adapter, "--manifest", manifest]
    cmd += ["--registry", registry, "--task", "colors", "--run-id", run_id, "--json"]
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def _wait_for_upload(proc: subprocess.Popen[bytes], prefix: str, timeout: float = 60) -> None:
    deadline = time.time() + timeout
    while not incomplete_uploads(prefix):
        assert proc.poll() is None, (proc.stderr.read() if proc.stderr else b"").decode()
        assert time.time() < deadline, "no multipart upload started"
        time.sleep(0.01)


def test_sigterm_mid_upload_aborts_the_multipart_upload_and_leaves_latest(
    tmp_path: Path, s3_bucket: str
) -> None:
    """Kubernetes sends SIGTERM before SIGKILL: the publisher aborts its upload in flight and exits non-zero."""
    registry = f"s3://{s3_bucket}/r"
    old = publish(*make_adapter(tmp_path, "a", WEIGHTS_A)[:2], registry, "colors", "run-1")
    big = {"adapter_config.json": b"{}", "adapter_model.safetensors": os.urandom(1024) * (24 * 1024)}
    adapter, manifest, m = make_adapter(tmp_path, "b", big)
    prefix = f"{registry}/adapters/colors/{version_id('run-2', m)}"
    proc = _publish_proc(adapter, manifest, registry, "run-2")
    try:
        _wait_for_upload(proc, prefix)
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode != 0
    assert incomplete_uploads(registry) == [], "the upload in flight was aborted"
    assert read_latest(registry, "colors").version == old.version  # type: ignore[union-attr]
    assert f"r/adapters/colors/{version_id('run-2', m)}/manifest.json" not in s3_keys(s3_bucket, "r/")


def test_lifecycle_adds_the_abort_rule_and_keeps_the_buckets_other_rules(
    s3_bucket: str, capsys: pytest.CaptureFixture[str]
) -> None:
    from edtune.cli import main

    other = {
        "ID": "expire-logs",
        "Status": "Enabled",
        "Filter": {"Prefix": "logs/"},
        "Expiration": {"Days": 30},
    }
    s3().put_bucket_lifecycle_configuration(Bucket=s3_bucket, LifecycleConfiguration={"Rules": [other]})  # type: ignore[attr-defined]
    argv = ["adapters", "lifecycle", "--registry", f"s3://{s3_bucket}/registry", "--days", "2", "--json"]
    assert main(argv) == 0 and main(argv) == 0  # idempotent: the rule is replaced by its ID, not duplicated
    out = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
    assert out[-1]["applied"] is True
    rules = {r["ID"]: r for r in s3().get_bucket_lifecycle_configuration(Bucket=s3_bucket)["Rules"]}  # type: ignore[attr-defined]
    assert set(rules) == {"expire-logs", RULE_ID}
    assert rules[RULE_ID]["AbortIncompleteMultipartUpload"] == {"DaysAfterInitiation": 2}
    assert rules[RULE_ID]["Filter"] == {"Prefix": "registry/"}


def test_the_shipped_lifecycle_manifest_is_the_rule_the_command_writes() -> None:
    import yaml

    from edtune.publish.lifecycle import bucket_rule

    path = Path(__file__).resolve().parents[2] / "manifests" / "base" / "registry-lifecycle.yaml"
    doc = yaml.safe_load(path.read_text())
    assert doc["kind"] == "ConfigMap"
    assert json.loads(doc["data"]["lifecycle.json"]) == {"Rules": [bucket_rule("registry", 1)]}


def test_a_successful_sync_replaces_the_destination_whole_and_leaves_no_temp_dir(
    tmp_path: Path, s3_bucket: str
) -> None:
    registry = f"s3://{s3_bucket}/r"
    publish(
        *make_adapter(tmp_path, "a", {**WEIGHTS_A, "only_in_a.json": b"{}"})[:2], registry, "colors", "run-1"
    )
    dest = tmp_path / "serving" / "colors"
    sync(registry, "colors", dest)
    new = publish(*make_adapter(tmp_path, "b", WEIGHTS_B)[:2], registry, "colors", "run-2")

    got = sync(registry, "colors", dest)

    assert got.version == new.version
    assert sorted(p.name for p in dest.iterdir()) == [
        "adapter_config.json",
        "adapter_model.safetensors",
        "manifest.json",
    ]
    assert (dest / "adapter_model.safetensors").read_bytes() == WEIGHTS_B["adapter_model.safetensors"]
    assert sorted(p.name for p in dest.parent.iterdir()) == ["colors"]
