"""Fixtures of the cluster tests: the `edtune` CLI in this process, and the object store the cluster config names.

`pipeline submit` runs the preflight before it sends anything (its inputs exist, the student's config is on the
object store, the output is writable), so the example cluster config's `s3://edtune/...` URIs are laid out on the
moto S3 server (tests/conftest.py), and every call of `edtune` is pointed at it unless a test says otherwise.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

BUCKET = "edtune"  # the bucket of examples/cluster/config.yaml
SAMPLE = {"id": "s0", "image": "s3://edtune/images/s0.png", "question": "What color?", "answer": "red"}
OBJECTS: dict[str, bytes] = {
    "tasks/colors/val.jsonl": (json.dumps(SAMPLE) + "\n").encode(),
    "tasks/colors/test.jsonl": (json.dumps(SAMPLE) + "\n").encode(),
    "pool/pool.jsonl": (json.dumps(SAMPLE) + "\n").encode(),
    "pool/pool.skills.jsonl": (json.dumps({"id": "s0", "skills": ["color"]}) + "\n").encode(),
    # what the preflight reads of a student on the object store: its config and the names of its weights
    "models/Qwen2-VL-7B-Instruct/config.json": json.dumps({"model_type": "qwen2_vl"}).encode(),
    "models/Qwen2-VL-7B-Instruct/model-00001-of-00001.safetensors": b"not read by the preflight",
}


@dataclass
class Result:
    returncode: int
    stdout: str
    stderr: str


@pytest.fixture(scope="session")
def cluster_store(moto_server: str) -> dict[str, str]:
    """The environment pointing boto3 at the moto server, where the cluster config's bucket and inputs exist
    (laid out once per session; the preflight only reads them and removes its own probe)."""
    import boto3

    env = {
        "AWS_ENDPOINT_URL": moto_server,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }
    s3 = boto3.client(
        "s3",
        endpoint_url=moto_server,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        region_name="us-east-1",
    )
    if BUCKET not in {b["Name"] for b in s3.list_buckets().get("Buckets", [])}:
        s3.create_bucket(Bucket=BUCKET)
    for key, body in OBJECTS.items():
        s3.put_object(Bucket=BUCKET, Key=key, Body=body)
    return env


@pytest.fixture
def edtune(
    monkeypatch: pytest.MonkeyPatch,
    capfd: pytest.CaptureFixture[str],
    tmp_path: Path,
    cluster_store: dict[str, str],
) -> Callable[..., Result]:
    """`edtune ARGS` in this process (the CLI entry point, exit code and both streams), with a clean env
    pointing at the cluster store; keyword arguments set (or override) environment variables."""
    from edtune.cli import main

    def call(args: list[str], **env: str) -> Result:
        for k in list(os.environ):
            if k.startswith(("EDTUNE_", "KF_PIPELINES_", "AWS_")):
                monkeypatch.delenv(k)
        monkeypatch.setenv("HOME", str(tmp_path))
        for k, v in {**cluster_store, **env}.items():
            monkeypatch.setenv(k, v)
        capfd.readouterr()
        rc = main(args)
        out, err = capfd.readouterr()
        return Result(rc, out, err)

    return call
