"""Sources in the formats people hold, written from a generated shapes world (real images, real questions)."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest


@pytest.fixture(scope="session")
def world(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from edtune.shapes.world.generate import generate_world

    out = tmp_path_factory.mktemp("world")
    generate_world(str(out), seed=3, pool_size=240, val_size=24, test_size=24)
    (out / "pool.labels.jsonl").unlink()
    return out


def pool_records(world: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (world / "pool.jsonl").read_text().splitlines()]


def task_records(world: Path, task: str, split: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (world / "tasks" / task / f"{split}.jsonl").read_text().splitlines()]


def write_llava_json(path: Path, records: list[dict[str, Any]], world: Path) -> None:
    """A LLaVA-665K-style JSON array (image paths relative to `world`, passed as --images)."""
    path.write_text("[\n" + ",\n".join(json.dumps(r, indent=1) for r in records) + "\n]\n")


def to_messages(rec: dict[str, Any], world: Path, parts: bool) -> dict[str, Any]:
    """ms-swift style (string content with <image>) or TRL style (content parts), images as absolute paths."""
    msgs = []
    for t in rec["conversations"]:
        role = "user" if t["from"] == "human" else "assistant"
        text = t["value"]
        if parts and "<image>" in text:
            msgs.append(
                {
                    "role": role,
                    "content": [{"type": "image"}, {"type": "text", "text": text.replace("<image>\n", "")}],
                }
            )
        else:
            msgs.append({"role": role, "content": text})
    return {"id": rec["id"], "messages": msgs, "images": [str(world / rec["image"])]}


def write_parquet(path: Path, records: list[dict[str, Any]], world: Path) -> None:
    """A Hugging Face-style export: the image as a {bytes, path} struct inside the file."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    rows = [
        {
            "id": r["id"],
            "image": {"bytes": (world / r["image"]).read_bytes(), "path": r["image"]},
            "conversations": r["conversations"],
        }
        for r in records
    ]
    pq.write_table(pa.Table.from_pylist(rows), path)


def mmbench_rows(records: list[dict[str, Any]], world: Path, task_dir: str) -> list[dict[str, str]]:
    out = []
    for i, r in enumerate(records):
        letters = "ABCD"
        row = {
            "index": str(i),
            "question": r["question"],
            "hint": "",
            "answer": letters[r["choices"].index(r["answer"])],
            "image": base64.b64encode((world / "tasks" / task_dir / r["image"]).read_bytes()).decode(),
            "category": "spatial",
            "l2-category": "left-right",
        }
        for j, c in enumerate(r["choices"]):
            row[letters[j]] = c
        out.append(row)
    return out


def write_tsv(path: Path, rows: list[dict[str, str]]) -> None:
    cols = ["index", "question", "hint", "A", "B", "C", "D", "answer", "image", "category", "l2-category"]
    lines = ["\t".join(cols)] + ["\t".join(r.get(c, "") for c in cols) for r in rows]
    path.write_text("\n".join(lines) + "\n")
