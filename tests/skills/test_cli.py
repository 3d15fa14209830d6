"""`edtune index` and `edtune retrieve` end to end on files and a real Milvus Lite file."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from edtune.cli import main
from edtune.io import read_jsonl, write_jsonl
from edtune.schemas import MissingSkill, MistakeReport, Selection

from .conftest import TAGS, pool


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, dict]:
    capsys.readouterr()
    code = main(list(argv))
    out = capsys.readouterr().out.strip()
    return code, (json.loads(out) if code == 0 and out else {})


def test_index_then_retrieve_from_the_command_line(tmp_path: Path, capsys, embedder):
    pool_uri, skills_uri = tmp_path / "pool.jsonl", tmp_path / "pool.skills.jsonl"
    write_jsonl(pool_uri, pool())
    write_jsonl(skills_uri, [{"id": k, "skills": v, "prompt_version": "tag-v1"} for k, v in TAGS.items()])
    db = str(tmp_path / "milvus" / "m.db")
    args = [
        "index",
        "--pool",
        str(pool_uri),
        "--skills",
        str(skills_uri),
        "--milvus-uri",
        db,
        "--collection",
        "sup",
    ]
    code, m = run(capsys, *args, "--json")
    assert code == 0 and (m["count"], m["inserted"], m["mode"]) == (len(TAGS), len(TAGS), "skills")
    code, again = run(capsys, *args, "--json")
    assert code == 0 and (again["inserted"], again["skipped"]) == (0, len(TAGS))

    mistakes = tmp_path / "mistakes.jsonl"
    write_jsonl(
        mistakes,
        [
            MistakeReport(sample_id=f"v{i}", erroneous_step=1, missing_skills=[MissingSkill(name=n)])
            for i, n in enumerate(["counting objects", "Counting objects.", "colour naming", "color naming"])
        ]
        + [MistakeReport(sample_id="v9", status="undiagnosed", reason="timeout")],
    )
    out1, out2 = tmp_path / "r1" / "selection.jsonl", tmp_path / "r2" / "selection.jsonl"
    base = [
        "retrieve",
        "--mistakes",
        str(mistakes),
        "--milvus-uri",
        db,
        "--collection",
        "sup",
        "--budget",
        "4",
    ]
    code, r1 = run(capsys, *base, "--out", str(out1), "--round", "1", "--mode", "bm25", "--json")
    assert code == 0 and r1["selected"] == 4
    assert [(g["skill"], g["count"], g["budget"]) for g in r1["gaps"]] == [
        ("color naming", 2, 2),
        ("counting objects", 2, 2),
    ]
    sel1 = read_jsonl(out1, Selection, id_field="support_id")
    assert {s.support_id for s in sel1 if s.skill == "counting objects"} <= {"cnt-1", "cnt-2", "cnt-3"}
    code, r2 = run(capsys, *base, "--out", str(out2), "--round", "2", "--exclude", str(out1), "--json")
    sel2 = read_jsonl(out2, Selection, id_field="support_id")
    assert code == 0 and r2["excluded"] == 4 and len(sel2) == 4
    assert {s.support_id for s in sel1}.isdisjoint(s.support_id for s in sel2)


@pytest.mark.parametrize(
    ("argv", "code"),
    [
        (["retrieve", "--mistakes", "MISSING", "--budget", "3", "--out", "o.jsonl"], 2),
        (["index", "--pool", "MISSING"], 2),
        (["retrieve", "--mistakes", "M", "--budget", "3", "--out", "o.jsonl", "--mode", "fuzzy"], 2),
    ],
)
def test_bad_inputs_exit_2(tmp_path: Path, capsys, argv: list[str], code: int):
    (tmp_path / "M").write_text("")
    argv = [str(tmp_path / a) if a in ("MISSING", "M") else a for a in argv]
    argv += ["--milvus-uri", str(tmp_path / "x.db")]
    assert main(argv) == code


def test_retrieve_on_a_missing_collection_names_the_fix(tmp_path: Path, capsys, embedder):
    mistakes = tmp_path / "mistakes.jsonl"
    write_jsonl(
        mistakes, [MistakeReport(sample_id="v", erroneous_step=1, missing_skills=[MissingSkill(name="x y")])]
    )
    code = main(
        [
            *("retrieve", "--mistakes", str(mistakes), "--budget", "2", "--out", str(tmp_path / "o.jsonl")),
            *("--milvus-uri", str(tmp_path / "x.db"), "--collection", "nope"),
        ]
    )
    assert code == 2
    assert "edtune index" in capsys.readouterr().err
