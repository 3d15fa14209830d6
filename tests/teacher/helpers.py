"""Tiny tasks and traces whose correct diagnosis is known under the fault teacher's keyword rule."""

from __future__ import annotations

import io
import json
from pathlib import Path

from edtune.schemas import TaskSample, Trace

COLOURS = ["red", "blue", "green", "yellow"]


def png(path: Path, rgb: tuple[int, int, int] = (200, 30, 30), size: int = 64) -> Path:
    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (size, size), rgb).save(buf, format="PNG")
    path.write_bytes(buf.getvalue())
    return path


def make_case(
    root: Path, n: int, *, wrong_step: int = 2, n_steps: int = 3, n_correct: int = 0, open_ended: bool = False
) -> tuple[list[Trace], dict[str, TaskSample]]:
    """`n` wrong traces whose step `wrong_step` names the wrong colour (the first erroneous step), plus
    `n_correct` correct traces. Each question carries a marker `[sNN]` so a server can tell samples apart."""
    img = png(root / "img.png")
    traces: list[Trace] = []
    samples: dict[str, TaskSample] = {}
    for i in range(n + n_correct):
        sid = f"s{i:03d}"
        gold, wrong = COLOURS[i % 2], COLOURS[2 + i % 2]
        choices = None if open_ended else [gold, "purple", wrong]
        samples[sid] = TaskSample(
            id=sid,
            image=str(img),
            question=f"[{sid}] What colour is the shape?",
            choices=choices,
            answer=gold,
        )
        correct = i >= n
        steps = [
            f"I look at the shape number {i}." if k != wrong_step else f"The shape is {wrong}."
            for k in range(1, n_steps + 1)
        ]
        if correct:
            steps = [f"The shape is {gold}."]
        traces.append(
            Trace(sample_id=sid, steps=steps, answer=gold if correct else wrong, correct=correct, raw="")
        )
    return traces, samples


def write_case(root: Path, traces: list[Trace], samples: dict[str, TaskSample]) -> tuple[Path, Path]:
    tr = root / "traces.jsonl"
    tr.write_text("".join(json.dumps(t.model_dump(mode="json")) + "\n" for t in traces))
    task = root / "val.jsonl"
    task.write_text(
        "".join(
            json.dumps(s.model_dump(mode="json", exclude_none=True) | {"image": "img.png"}) + "\n"
            for s in samples.values()
        )
    )
    return tr, task
