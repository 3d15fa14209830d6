"""How good is a shapes-world student? Parse rate, accuracy per question family and per target task.

Per-family probes are drawn fresh from the world's own question makers (a seed namespace of their own),
in both multiple-choice and short form; per-task figures use each task's `val.jsonl` as written by
`edtune.world.generate.generate_world`.
"""

from __future__ import annotations

import random
import tempfile
from pathlib import Path
from typing import Any

from edtune.schemas import TaskSample
from edtune.student.evaluate import evaluate
from edtune.student.types import Student


def family_probes(out_dir: Path, n_per_family: int = 64, seed: int = 0) -> dict[str, list[TaskSample]]:
    from edtune.world.families import FAMILIES, ask
    from edtune.world.scenes import make_scene, render

    rng = random.Random(f"measure:{seed}")
    out: dict[str, list[TaskSample]] = {}
    for fam in FAMILIES:
        samples: list[TaskSample] = []
        while len(samples) < n_per_family:
            scene = make_scene(rng)
            q = ask(fam, scene, rng, mc=len(samples) % 2 == 0)
            if q is None:
                continue
            img = out_dir / f"{fam}-{len(samples)}.png"
            render(scene).save(img)
            samples.append(
                TaskSample(
                    id=f"{fam}-{len(samples)}",
                    image=str(img),
                    question=q.question,
                    choices=q.choices,
                    answer=q.answer,
                )
            )
        out[fam] = samples
    return out


def measure_student(student: Student, world_dir: str | None, n_per_family: int = 64) -> dict[str, Any]:
    """{"families": {f: {accuracy, parse_rate, n}}, "tasks": {t: {...}}, "parse_rate": overall}."""
    from edtune.datasets import load_task

    res: dict[str, Any] = {"families": {}, "tasks": {}}
    n_parsed = n_all = 0
    with tempfile.TemporaryDirectory() as tmp:
        for fam, samples in family_probes(Path(tmp), n_per_family).items():
            _, s = evaluate(student, samples, progress=False)
            res["families"][fam] = {"accuracy": round(s.accuracy, 3), "parse_rate": round(s.parse_rate, 3), "n": s.n}
            n_parsed += round(s.parse_rate * s.n)
            n_all += s.n
    if world_dir:
        for val in sorted(Path(world_dir).glob("tasks/*/val.jsonl")):
            _, s = evaluate(student, load_task(str(val)), progress=False)
            res["tasks"][val.parent.name] = {
                "accuracy": round(s.accuracy, 3),
                "ci95": [round(x, 3) for x in s.ci95],
                "parse_rate": round(s.parse_rate, 3),
                "n": s.n,
            }
    res["parse_rate"] = round(n_parsed / n_all, 3) if n_all else 0.0
    return res
