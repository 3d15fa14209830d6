"""`edtune.preflight.run_checks`: every problem at once, one line each, against real services on loopback.

The teacher is the reference teacher over HTTP, the object store a local directory and the moto S3 server, the
skill index a Milvus Lite file, the student the shipped tiny base. Each check is also made to fail, and the line
must name the setting to change.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from edtune.config import RunConfig, load_config
from edtune.errors import InputError
from edtune.preflight import CheckResult, raise_on_failure, run_checks

ASSET = Path(__file__).resolve().parents[2] / "src" / "edtune" / "shapes" / "assets" / "base-student"


@pytest.fixture(scope="module")
def teacher_url() -> Iterator[str]:
    from edtune.shapes.world.reference_teacher import start_reference_teacher

    server, url = start_reference_teacher(host="127.0.0.1", port=0)
    try:
        yield url
    finally:
        server.shutdown()


def _cfg(tmp_path: Path, teacher_url: str, *flags: str) -> RunConfig:
    (tmp_path / "val.jsonl").write_text('{"id": "a", "image": "a.png", "question": "q?", "answer": "x"}\n')
    (tmp_path / "pool.jsonl").write_text("")
    base = {
        "output": str(tmp_path / "runs"),
        "task": {"val": str(tmp_path / "val.jsonl")},
        "pool": {"uri": str(tmp_path / "pool.jsonl"), "milvus_uri": str(tmp_path / "milvus.db")},
        "student": {"base": str(ASSET)},
        "teacher": {"url": teacher_url},
        "retrieval": {"selector": "random"},  # no index needed unless a test asks for one
    }
    return load_config(None, list(flags), env={}, base=base)


def _by_name(results: list[CheckResult]) -> dict[str, CheckResult]:
    return {r.name: r for r in results}


def test_a_complete_local_config_passes_and_resolves_the_teachers_model(
    tmp_path: Path, teacher_url: str
) -> None:
    results = run_checks(_cfg(tmp_path, teacher_url))
    assert all(r.ok for r in results), [r.line() for r in results]
    checks = _by_name(results)
    assert "'reference-shapes-teacher'" in checks["teacher"].detail  # teacher.model: auto, resolved
    assert "qwen2_vl" in checks["student"].detail and "processor" in checks["student"].detail
    assert list((tmp_path / "runs").iterdir()) == []  # the store probe is removed again
    raise_on_failure(results)


def test_every_missing_setting_is_reported_at_once(tmp_path: Path, teacher_url: str) -> None:
    cfg = _cfg(tmp_path, teacher_url, "task.val=", "pool.uri=", "student.base=")
    failed = [r for r in run_checks(cfg) if not r.ok]
    assert {r.field for r in failed} == {"task.val", "pool.uri", "student.base"}
    with pytest.raises(InputError) as err:
        raise_on_failure(failed)
    assert str(err.value).count("not set") == 3 and "3 check(s) failed" in str(err.value)


FAILURES = [
    ("a teacher URL nothing listens on", ("teacher.url=http://127.0.0.1:9",), "teacher.url"),
    ("a teacher serving another model", ("teacher.model=qwen-72b",), "teacher.url"),
    ("a family that is not the checkpoint's", ("student.family=llava",), "student.base"),
    ("a missing validation file", ("task.val={tmp}/nope.jsonl",), "task.val"),
    ("a GPU asked for on a machine without one", ("student.device=cuda",), "student.device"),
    ("an unindexed pool", ("retrieval.selector=error-driven",), "pool.collection"),
    ("an output that is a file", ("output={tmp}/val.jsonl",), "output"),
]


@pytest.mark.parametrize(("what", "flags", "field"), FAILURES, ids=[f[0] for f in FAILURES])
def test_each_check_fails_naming_its_setting(
    tmp_path: Path, teacher_url: str, what: str, flags: tuple[str, ...], field: str
) -> None:
    import torch

    if "student.device=cuda" in flags and torch.cuda.is_available():
        pytest.skip("a GPU is visible here")
    cfg = _cfg(tmp_path, teacher_url, *(f.format(tmp=tmp_path) for f in flags))
    failed = [r for r in run_checks(cfg) if not r.ok]
    assert [r.field for r in failed] == [field], [r.line() for r in failed]
    assert failed[0].line().startswith("FAIL")


def test_an_s3_output_is_probed_on_the_object_store(tmp_path: Path, teacher_url: str, s3_bucket: str) -> None:
    ok = _by_name(run_checks(_cfg(tmp_path, teacher_url, f"output=s3://{s3_bucket}/runs")))
    assert ok["store"].ok, ok["store"].detail
    bad = _by_name(run_checks(_cfg(tmp_path, teacher_url, "output=s3://no-such-bucket-edtune/runs")))
    assert not bad["store"].ok and bad["store"].field == "output"


def test_a_submit_from_outside_the_cluster_skips_cluster_services_but_not_the_rest(
    tmp_path: Path, teacher_url: str
) -> None:
    cfg = _cfg(tmp_path, "http://edtune-teacher.edtune.svc", "retrieval.selector=error-driven", "task.val=")
    checks = run_checks(cfg, local=False)
    by = _by_name(checks)
    assert by["teacher"].ok and "skipped" in by["teacher"].detail
    assert by["pool"].ok and "skipped" in by["pool"].detail
    assert [r.field for r in checks if not r.ok] == ["task.val"]
