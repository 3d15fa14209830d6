"""`edtune data validate` without --kind reads the kind from the records, says which kind or import command
would fit when a file fails, and prints a clean one-line summary (in process: `edtune.cli.main`)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from edtune.cli import main

from .test_pool_import import png

SUPPORT = {"id": "s1", "conversations": [{"from": "human", "value": "q"}, {"from": "gpt", "value": "a"}]}
TASK = {"id": "t1", "image": "a.png", "question": "q?", "answer": "yes"}
MESSAGES = {"messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}]}


def write(path: Path, records: list[dict]) -> str:
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return str(path)


CASES = [
    # name, file name, records, --kind, exit, stdout or stderr fragment
    ("support detected", "pool.jsonl", [SUPPORT], None, 0, ": OK: 1 support samples, 0 distinct images"),
    (
        "task detected",
        "val.jsonl",
        [TASK],
        None,
        0,
        ": OK: 1 task samples, 1 distinct images, 1 short-answer",
    ),
    (
        "support checked as task",
        "pool.jsonl",
        [SUPPORT],
        "task",
        2,
        "hint: the records are support samples: run with --kind support",
    ),
    (
        "task checked as support",
        "val.jsonl",
        [TASK],
        "support",
        2,
        "hint: the records are task samples: run with --kind task",
    ),
    (
        "messages file",
        "m.jsonl",
        [MESSAGES],
        None,
        2,
        "hint: records in `messages` format (ms-swift/TRL): convert them with `edtune pool import",
    ),
]


@pytest.mark.parametrize(
    ("name", "fname", "records", "kind", "rc", "fragment"), CASES, ids=[c[0] for c in CASES]
)
def test_validate_reads_the_kind_and_hints_at_what_fits(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    name: str,
    fname: str,
    records: list[dict],
    kind: str | None,
    rc: int,
    fragment: str,
) -> None:
    (tmp_path / "a.png").write_bytes(png())
    path = write(tmp_path / fname, records)
    assert main(["data", "validate", path, *(["--kind", kind] if kind else [])]) == rc
    out = capsys.readouterr()
    text = out.out if rc == 0 else out.err
    assert fragment in text, text
    if rc == 0:
        assert text.strip() == text.strip().splitlines()[0] and not text.rstrip().endswith("-")


def test_a_detected_kind_is_named_when_the_file_fails(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(tmp_path / "pool.jsonl", [SUPPORT, {**SUPPORT, "id": "s2", "conversations": []}])
    assert main(["data", "validate", path]) == 2
    err = capsys.readouterr().err
    assert "INVALID (read as support samples; --kind sets it)" in err and f"{path}:2: conversations" in err


def test_a_tsv_is_pointed_to_task_import(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "mmb.tsv").write_text("index\tquestion\n0\tq\n")
    assert main(["data", "validate", str(tmp_path / "mmb.tsv")]) == 2
    assert "edtune task import FILE --format mmbench" in capsys.readouterr().err
