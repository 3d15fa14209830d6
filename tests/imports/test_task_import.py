"""`import_task`: MMBench TSV and LLaVA records with answers -> seeded val/test splits and a card."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest

from edtune.datasets import load_task
from edtune.imports import import_task
from edtune.taskcard import answer_baselines

from .conftest import mmbench_rows, task_records, write_tsv
from .test_pool_import import png


@pytest.fixture()
def rows(world: Path) -> list[dict[str, str]]:
    return mmbench_rows(task_records(world, "left-right", "val"), world, "left-right")


def test_mmbench_rows_become_scorable_samples_with_hint_first_and_shared_images(
    rows: list[dict[str, str]], tmp_path: Path
) -> None:
    rows[0]["hint"] = "Look at the colours."
    rows.append(
        {
            **rows[1],
            "index": "500",
            "image": rows[1]["index"],
            "A": rows[1]["B"],
            "B": rows[1]["A"],
            "answer": "B" if rows[1]["answer"] == "A" else "A",
        }
    )  # MMBench's circular copy names its image
    write_tsv(tmp_path / "mmb.tsv", rows)
    r = import_task(str(tmp_path / "mmb.tsv"), str(tmp_path / "out"), fmt="mmbench", val_fraction=0.5, seed=1)
    assert (r.imported, r.refused, r.val + r.test) == (len(rows), 0, len(rows))
    samples = {s.id: s for split in ("val", "test") for s in load_task(tmp_path / "out" / f"{split}.jsonl")}
    first = samples["mmbench-0"]
    assert first.question.startswith("Look at the colours.\n") and first.answer == rows[0]["answer"]
    assert samples["mmbench-500"].image == samples["mmbench-1"].image
    assert samples["mmbench-500"].gold_text == samples["mmbench-1"].gold_text
    assert first.meta == {"index": "0", "category": "spatial", "l2-category": "left-right"}


def test_the_split_is_seeded_and_the_card_uses_the_shared_baselines(
    rows: list[dict[str, str]], tmp_path: Path
) -> None:
    write_tsv(tmp_path / "mmb.tsv", rows)
    a = import_task(str(tmp_path / "mmb.tsv"), str(tmp_path / "a"), fmt="mmbench", val_fraction=0.25, seed=7)
    b = import_task(str(tmp_path / "mmb.tsv"), str(tmp_path / "b"), fmt="mmbench", val_fraction=0.25, seed=7)
    c = import_task(str(tmp_path / "mmb.tsv"), str(tmp_path / "c"), fmt="mmbench", val_fraction=0.25, seed=8)
    assert a.val == round(len(rows) * 0.25)
    assert (tmp_path / "a" / "val.jsonl").read_bytes() == (tmp_path / "b" / "val.jsonl").read_bytes()
    assert (tmp_path / "a" / "val.jsonl").read_bytes() != (tmp_path / "c" / "val.jsonl").read_bytes()
    card = json.loads((tmp_path / "a" / "card.json").read_text())
    val = load_task(tmp_path / "a" / "val.jsonl")
    assert card["val"]["baselines"] == answer_baselines(val).model_dump()
    assert sum(card["val"]["letters"].values()) == len(val) and "normalised match" in card["scoring"]
    assert c.imported == b.imported


MMB_REFUSED = [
    # name, change to a row, field, message
    ("no answer (a test split)", {"answer": ""}, "answer", "cannot be scored"),
    ("bad base64", {"image": "%%%not-base64"}, "image", "not valid base64"),
    (
        "base64 of a non-image",
        {"image": base64.b64encode(b"hello world").decode()},
        "image",
        "not a readable image",
    ),
    ("answer not an option", {"answer": "E"}, "answer", "neither one of the choices nor an option letter"),
    ("image names an unknown row", {"image": "4242"}, "image", "refers to row index 4242"),
]


@pytest.mark.parametrize(("name", "change", "field", "message"), MMB_REFUSED, ids=[c[0] for c in MMB_REFUSED])
def test_a_bad_mmbench_row_is_refused_by_line(
    rows: list[dict[str, str]], tmp_path: Path, name: str, change: dict[str, str], field: str, message: str
) -> None:
    rows[2] = {**rows[2], **change}
    write_tsv(tmp_path / "mmb.tsv", rows)
    r = import_task(str(tmp_path / "mmb.tsv"), str(tmp_path / "out"), fmt="mmbench")
    assert (r.imported, r.refused) == (len(rows) - 1, 1)
    assert r.problems[0].startswith(f"{tmp_path / 'mmb.tsv'}:4: {field}: ") and message in r.problems[0], (
        r.problems
    )


def test_llava_records_with_answers_and_what_cannot_be_scored(tmp_path: Path) -> None:
    (tmp_path / "a.png").write_bytes(png())

    def rec(i: str, answer: str, **extra: object) -> dict[str, object]:
        conv = [{"from": "human", "value": "<image>\nHow many squares?"}, {"from": "gpt", "value": answer}]
        return {"id": i, "image": "a.png", "conversations": conv, **extra}

    records = [
        rec("n1", "3"),
        rec("mc", "B", choices=["left", "right"]),
        rec("long", "there are three squares on the left and two on the right"),
        {**rec("multi", "3"), "conversations": rec("x", "3")["conversations"] * 2},
        {**rec("noimg", "3"), "image": None},
    ]
    (tmp_path / "t.jsonl").write_text("".join(json.dumps(x) + "\n" for x in records))
    r = import_task(str(tmp_path / "t.jsonl"), str(tmp_path / "out"), fmt="llava", val_fraction=1.0)
    assert (r.imported, r.refused, r.val, r.test) == (2, 3, 2, 0)
    where = str(tmp_path / "t.jsonl")
    assert r.problems == [
        f"{where}:3: answer: 12 words; a free-form answer is scored by normalised match and must be at most 5 words"
        " (longer ones would need a judge)",
        f"{where}:4: conversations: 4 turns; a task record is one question and its answer",
        f"{where}:5: image: missing: a task sample needs an image",
    ]
    val = {s.id: s for s in load_task(tmp_path / "out" / "val.jsonl")}
    assert val["n1"].question == "How many squares?" and val["mc"].gold_text == "right"


def test_a_non_utf8_tsv_row_is_refused_by_line(rows: list[dict[str, str]], tmp_path: Path) -> None:
    write_tsv(tmp_path / "mmb.tsv", rows)
    lines = (tmp_path / "mmb.tsv").read_bytes().split(b"\n")
    lines[2] = lines[2].replace(b"Which", b"Wh\xe9ch", 1)
    (tmp_path / "mmb.tsv").write_bytes(b"\n".join(lines))
    r = import_task(str(tmp_path / "mmb.tsv"), str(tmp_path / "out"), fmt="mmbench")
    assert (r.imported, r.refused) == (len(rows) - 1, 1)
    assert r.problems == [f"{tmp_path / 'mmb.tsv'}:3: invalid UTF-8 in this row"]
