"""`latest` under concurrency and damage, on a real S3 API (moto server over HTTP) and on local disk:
compare-and-swap moves, a history with no gap, rollback, list, the publish quality gate, a 403."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import boto3
import pytest
from test_publish_registry import WEIGHTS_A, WEIGHTS_B, make_adapter, s3_keys

from edtune.errors import StorageError
from edtune.publish.catalog import list_versions
from edtune.publish.errors import GateError, VersionError
from edtune.publish.registry import PublishResult, publish, read_latest, rollback
from edtune.publish.verify import check_version
from edtune.schemas import RoundMetrics


def weights(i: int) -> dict[str, bytes]:
    return {"adapter_config.json": b'{"r": 8}', "adapter_model.safetensors": bytes([65 + i]) * 2048}


def assert_one_chain(results: list[PublishResult], first_previous: str | None = None) -> None:
    """Every publish replaced exactly the pointer before it: sequences 1..n, each previous = the one before."""
    chain = sorted(results, key=lambda r: r.sequence)
    assert [r.sequence for r in chain] == list(range(1, len(results) + 1)), "a pointer update was lost"
    previous = first_previous
    for r in chain:
        assert r.previous_version == previous, f"#{r.sequence} replaced {r.previous_version}, not {previous}"
        previous = r.version


@pytest.mark.parametrize("where", ["s3", "disk"])
def test_eight_concurrent_publishers_each_replace_one_pointer_and_none_is_lost(
    tmp_path: Path, where: str, request: pytest.FixtureRequest
) -> None:
    registry = f"s3://{request.getfixturevalue('s3_bucket')}/r" if where == "s3" else str(tmp_path / "reg")
    inputs = [make_adapter(tmp_path, f"a{i}", weights(i))[:2] for i in range(8)]

    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(lambda i: publish(*inputs[i], registry, "colors", f"run-{i}"), range(8)))

    assert len({r.version for r in results}) == 8 and all(r.created for r in results)
    assert_one_chain(results)
    latest = read_latest(registry, "colors")
    assert latest is not None
    top = max(results, key=lambda r: r.sequence)
    assert (latest.version, latest.sequence, latest.previous_version) == (
        top.version,
        8,
        top.previous_version,
    )
    assert all(check_version(registry, "colors", r.version).status == "OK" for r in results)


def test_a_damaged_latest_is_reported_then_replaced_by_the_next_publish(
    tmp_path: Path, s3_bucket: str, capsys: pytest.CaptureFixture[str]
) -> None:
    from edtune.cli import main

    registry = f"s3://{s3_bucket}/r"
    publish(*make_adapter(tmp_path, "a", WEIGHTS_A)[:2], registry, "colors", "run-1")
    s3 = boto3.client("s3", endpoint_url=os.environ["AWS_ENDPOINT_URL"])
    s3.put_object(Bucket=s3_bucket, Key="r/adapters/colors/latest.json", Body=b'{"task": "colors", "vers')

    with pytest.raises(StorageError, match=r"latest\.json: not a valid latest pointer"):
        read_latest(registry, "colors")
    assert main(["adapters", "latest", "--registry", registry, "--task", "colors", "--json"]) == 1
    out = capsys.readouterr()
    assert "latest.json" in json.loads(out.out)["error"]["message"]

    new = publish(*make_adapter(tmp_path, "b", WEIGHTS_B)[:2], registry, "colors", "run-2")
    assert new.previous_version is None and len(new.warnings) == 1
    assert "not a valid latest pointer" in new.warnings[0]
    assert read_latest(registry, "colors").version == new.version  # type: ignore[union-attr]


def test_rollback_moves_latest_back_and_refuses_a_version_that_does_not_verify(
    tmp_path: Path, s3_bucket: str
) -> None:
    registry = f"s3://{s3_bucket}/r"
    old = publish(*make_adapter(tmp_path, "a", WEIGHTS_A)[:2], registry, "colors", "run-1")
    new = publish(*make_adapter(tmp_path, "b", WEIGHTS_B)[:2], registry, "colors", "run-2")

    back = rollback(registry, "colors", old.version)
    assert (back.moved, back.previous_version, back.sequence) == (True, new.version, 3)
    assert read_latest(registry, "colors").version == old.version  # type: ignore[union-attr]
    assert rollback(registry, "colors", old.version).moved is False  # already there: no write

    boto3.client("s3", endpoint_url=os.environ["AWS_ENDPOINT_URL"]).put_object(
        Bucket=s3_bucket, Key=f"r/adapters/colors/{new.version}/adapter_model.safetensors", Body=b"evil"
    )
    with pytest.raises(VersionError, match="CORRUPT") as err:
        rollback(registry, "colors", new.version)
    assert [p.where.rsplit("/", 1)[-1] for p in err.value.problems] == ["adapter_model.safetensors"]
    with pytest.raises(VersionError, match="ABSENT"):
        rollback(registry, "colors", "run-9-000000000000")
    assert read_latest(registry, "colors").version == old.version  # type: ignore[union-attr]


def _rounds(before: float, after: float) -> dict[str, object]:
    return {
        "rounds": [RoundMetrics(round=0, val_accuracy=before), RoundMetrics(round=1, val_accuracy=after)],
        "best_round": 1,
    }


@pytest.mark.parametrize(
    ("before", "after", "min_gain", "published"),
    [(0.5, 0.8, 0.2, True), (0.5, 0.6, 0.2, False), (0.5, 0.5, 0.0, True), (0.6, 0.5, 0.0, False)],
)
def test_publish_min_gain_reads_the_manifest_and_refuses_below_writing_nothing(
    tmp_path: Path,
    s3_bucket: str,
    capsys: pytest.CaptureFixture[str],
    before: float,
    after: float,
    min_gain: float,
    published: bool,
) -> None:
    from edtune.cli import main

    adapter, manifest, _ = make_adapter(tmp_path, "a", WEIGHTS_A, **_rounds(before, after))
    argv = ["publish", "--adapter", adapter, "--manifest", manifest, "--registry", f"s3://{s3_bucket}/r"]
    argv += ["--task", "colors", "--run-id", "run-1", "--min-gain", str(min_gain), "--json"]

    rc = main(argv)

    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 1, "exactly one JSON object on stdout"
    out = json.loads(lines[0])
    if published:
        assert rc == 0 and out["gain"] == pytest.approx(after - before)
    else:
        assert rc == 1 and out["error"]["type"] == GateError.__name__
        assert "--min-gain" in out["error"]["message"] and manifest in out["error"]["message"]
        assert s3_keys(s3_bucket, "r/") == set()


def test_list_shows_every_version_its_date_gain_state_and_which_is_latest(
    tmp_path: Path, s3_bucket: str, capsys: pytest.CaptureFixture[str]
) -> None:
    from edtune.cli import main

    registry = f"s3://{s3_bucket}/r"
    jan, feb = "2025-01-01T00:00:00+00:00", "2025-02-01T00:00:00+00:00"
    a_in = make_adapter(tmp_path, "a", WEIGHTS_A, created_at=jan, **_rounds(0.4, 0.7))[:2]
    b_in = make_adapter(tmp_path, "b", WEIGHTS_B, created_at=feb, **_rounds(0.4, 0.9))[:2]
    a = publish(*a_in, registry, "colors", "run-1")
    b = publish(*b_in, registry, "colors", "run-2")
    rollback(registry, "colors", a.version)
    s3 = boto3.client("s3", endpoint_url=os.environ["AWS_ENDPOINT_URL"])
    s3.put_object(
        Bucket=s3_bucket, Key="r/adapters/colors/run-3-0123456789ab/adapter_config.json", Body=b"{}"
    )

    listing = list_versions(registry, "colors")
    rows = {v.version: v for v in listing.versions}
    assert list(rows) == [a.version, b.version, "run-3-0123456789ab"]
    assert (rows[a.version].latest, rows[a.version].gain, rows[a.version].status) == (True, 0.3, "OK")
    assert (rows[b.version].latest, rows[b.version].gain) == (False, 0.5)
    assert rows[b.version].created_at == "2025-02-01T00:00:00+00:00"
    assert rows["run-3-0123456789ab"].status == "INCOMPLETE"
    assert (listing.latest, listing.latest_sequence) == (a.version, 3)

    assert main(["adapters", "list", "--registry", registry, "--task", "colors", "--json"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 1 and json.loads(lines[0])["latest"] == a.version


def test_a_403_fails_in_one_line_naming_the_uri_and_saying_to_check_credentials(tmp_path: Path) -> None:
    """A moto server that authenticates every request: the test credentials are refused (403)."""
    import socket
    import time

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    moto = Path(sys.executable).with_name("moto_server")
    env = {**os.environ, "INITIAL_NO_AUTH_ACTION_COUNT": "0"}
    proc = subprocess.Popen(
        [str(moto), "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=env,
    )
    try:
        deadline = time.time() + 60
        while True:
            with socket.socket() as probe:
                if probe.connect_ex(("127.0.0.1", port)) == 0:
                    break
            assert time.time() < deadline, "moto_server did not start"
            time.sleep(0.05)
        adapter, manifest, _ = make_adapter(tmp_path, "a", WEIGHTS_A)
        child_env = {
            **os.environ,
            "AWS_ENDPOINT_URL": f"http://127.0.0.1:{port}",
            "AWS_ACCESS_KEY_ID": "wrong",
            "AWS_SECRET_ACCESS_KEY": "wrong",
            "AWS_DEFAULT_REGION": "us-east-1",
        }
        argv = [sys.executable, "-m", "edtune.cli", "publish", "--adapter", adapter, "--manifest", manifest]
        argv += ["--registry", "s3://edtune/r", "--task", "colors", "--run-id", "run-1", "--json"]
        res = subprocess.run(argv, capture_output=True, text=True, env=child_env, timeout=120)
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    assert res.returncode == 1, res.stderr
    err = json.loads(res.stdout)["error"]["message"]
    assert "s3://edtune/r/adapters/colors" in err and "check the S3 credentials" in err
    assert len(res.stderr.strip().splitlines()) == 1 and "Traceback" not in res.stderr


def test_concurrent_publishes_of_the_same_content_create_it_once_and_all_succeed(
    tmp_path: Path, s3_bucket: str
) -> None:
    """Two CI retries of one run at once: one upload commits the version, the others find it and verify it."""
    registry = f"s3://{s3_bucket}/r"
    adapter, manifest, _ = make_adapter(tmp_path, "a", WEIGHTS_A)
    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda _: publish(adapter, manifest, registry, "colors", "run-1"), range(4)))
    assert len({r.version for r in results}) == 1
    assert sum(r.created for r in results) == 1
    assert [r.sequence for r in sorted(results, key=lambda r: r.sequence)] == [1, 2, 3, 4]
    assert check_version(registry, "colors", results[0].version).status == "OK"
