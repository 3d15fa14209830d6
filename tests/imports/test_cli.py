"""`edtune pool import` / `edtune task import` as a user runs them: counts on stdout, refusals on stderr with
their file and line, `--strict` and `--json`, exit 2 and nothing written for an unreadable source."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from edtune.cli import main

from .test_pool_import import llava, png


@pytest.fixture()
def sources(tmp_path: Path) -> Path:
    (tmp_path / "a.png").write_bytes(png())
    rows = [llava("a"), {**llava("b"), "image": "missing.png"}, llava("c")]
    (tmp_path / "p.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return tmp_path


def test_pool_import_prints_counts_and_every_refusal(
    sources: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["pool", "import", str(sources / "p.jsonl"), "--out", str(sources / "out")]) == 0
    out = capsys.readouterr()
    assert out.out.startswith(
        f"{sources / 'out' / 'pool.jsonl'}: 2 samples imported of 3 read (1 refused, 0 duplicates)"
    )
    assert f"  {sources / 'p.jsonl'}:2: image: image not found: {sources / 'missing.png'}" in out.err
    assert f"1 refused, 0 duplicate(s); all listed in {sources / 'out' / 'refused.txt'}" in out.err


def test_strict_exits_2_and_json_is_one_object(sources: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert (
        main(["pool", "import", str(sources / "p.jsonl"), "--out", str(sources / "o"), "--strict", "--json"])
        == 2
    )
    r = json.loads(capsys.readouterr().out)
    assert (r["imported"], r["refused"], r["read"]) == (2, 1, 3)


def test_limit_imports_a_slice(sources: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert (
        main(
            [
                "pool",
                "import",
                str(sources / "p.jsonl"),
                "--out",
                str(sources / "o"),
                "--limit",
                "1",
                "--json",
            ]
        )
        == 0
    )
    assert json.loads(capsys.readouterr().out)["read"] == 1


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["pool", "import", "{d}/nope.jsonl", "--out", "{d}/o"], "no such file"),
        (["pool", "import", "{d}/p.csv", "--out", "{d}/o"], "unknown file type"),
        (["pool", "import", "{d}/p.jsonl", "--out", "{d}/o.jsonl"], "give a folder"),
        (
            ["task", "import", "{d}/p.jsonl", "--format", "vqa", "--out", "{d}/o"],
            "--format must be 'mmbench' or 'llava'",
        ),
    ],
)
def test_bad_usage_exits_2_and_writes_nothing(
    sources: Path, capsys: pytest.CaptureFixture[str], args: list[str], fragment: str
) -> None:
    assert main([a.format(d=sources) for a in args]) == 2
    assert fragment in capsys.readouterr().err
    assert not (sources / "o").exists() and not (sources / "o.jsonl").exists()
