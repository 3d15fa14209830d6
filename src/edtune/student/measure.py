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


def family_kind(family: str) -> str:
    """ "base" (asked in pre-training), "gap" (never asked; target tasks probe it) or "distractor" (pool only)."""
    from edtune.world.families import BASE_FAMILIES, GAP_FAMILIES

    return "base" if family in BASE_FAMILIES else "gap" if family in GAP_FAMILIES else "distractor"


def family_probes(
    out_dir: Path, n_per_family: int = 200, seed: int = 0, families: tuple[str, ...] | None = None
) -> dict[str, list[TaskSample]]:
    """Fresh probes per family, on scenes drawn like the tasks' (1 or 2 objects, equally often), in generic
    wording, half multiple-choice and half short answer; a seed namespace of their own ('measure:<seed>')."""
    from edtune.world.families import FAMILIES, ask
    from edtune.world.scenes import MAX_OBJECTS, make_scene, render

    rng = random.Random(f"measure:{seed}")
    out: dict[str, list[TaskSample]] = {}
    for fam in families or tuple(FAMILIES):
        samples: list[TaskSample] = []
        while len(samples) < n_per_family:
            scene = make_scene(rng, rng.randint(1, MAX_OBJECTS))
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


def measure_student(student: Student, world_dir: str | None, n_per_family: int = 200) -> dict[str, Any]:
    """{"families": {f: {kind, accuracy, ci95, parse_rate, n}}, "tasks": {t: {...}}, "parse_rate": overall}.

    `kind` says whether the family is a base skill (goal >= 0.90 for the shipped base) or a gap (<= 0.5 before
    tuning)."""
    from edtune.datasets import load_task

    res: dict[str, Any] = {"families": {}, "tasks": {}}
    n_parsed = n_all = 0
    with tempfile.TemporaryDirectory() as tmp:
        for fam, samples in family_probes(Path(tmp), n_per_family).items():
            _, s = evaluate(student, samples, progress=False)
            res["families"][fam] = {
                "kind": family_kind(fam),
                "accuracy": round(s.accuracy, 3),
                "ci95": [round(x, 3) for x in s.ci95],
                "parse_rate": round(s.parse_rate, 3),
                "n": s.n,
            }
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


def lora_gap_study(
    base: str,
    world_dir: str,
    *,
    gap_families: tuple[str, ...] = ("side",),
    task: str = "left-right",
    steps: tuple[int, ...] = (50, 100, 200),
    lrs: tuple[float, ...] = (3e-3, 1e-2),
    replay: float = 0.2,
    n_probe: int = 32,
    out_dir: str | None = None,
    seed: int = 0,
    probe_families: tuple[str, ...] | None = None,
) -> list[dict[str, Any]]:
    """Does LoRA with replay fill a gap? Tune on the pool's gap-family samples + `replay` of base-family ones.

    One run per (lr, steps) (cosine schedules differ by length, as in the pipeline); each is scored on the
    task's val split, on fresh probes of every family, and by its parse rate.
    """
    import json as _json

    from edtune.config import LoraConfig, StudentConfig
    from edtune.datasets import iter_support, load_task
    from edtune.student.hf import load_student
    from edtune.world.families import BASE_FAMILIES

    world = Path(world_dir)
    labels = {r["id"]: r for r in map(_json.loads, (world / "pool.labels.jsonl").read_text().splitlines())}
    gap, rep = [], []
    for s in iter_support(str(world / "pool.jsonl")):
        fam = labels[s.id]["family"]
        if fam in gap_families:
            gap.append(s)
        elif fam in BASE_FAMILIES or fam == "caption":
            rep.append(s)
    rng = random.Random(seed)
    n_rep = round(len(gap) * replay / (1 - replay))
    data = gap + rng.sample(rep, min(n_rep, len(rep)))
    rng.shuffle(data)
    val = load_task(str(world / "tasks" / task / "val.jsonl"))
    cfg = StudentConfig()
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as tmp:
        probes = family_probes(Path(tmp), n_probe, seed=seed + 1, families=probe_families)
        student = load_student(base, cfg)

        def score(st: Any) -> dict[str, Any]:
            _, s = evaluate(st, val, progress=False)
            fams = {f: round(evaluate(st, p, progress=False)[1].accuracy, 3) for f, p in probes.items()}
            return {
                "task_accuracy": round(s.accuracy, 3),
                "parse_rate": round(s.parse_rate, 3),
                "families": fams,
            }

        rows.append({"lr": 0.0, "steps": 0, **score(student)})
        for lr in lrs:
            for n in steps:
                lora = LoraConfig(lr=lr, max_steps=n)
                adir = str(Path(out_dir or tmp) / f"lr{lr:g}-s{n}")
                res = student.tune(data, adir, lora, seed=seed)
                tuned = load_student(base, cfg, adapter=adir)
                row = {
                    "lr": lr,
                    "steps": n,
                    "train_s": round(res.seconds, 1),
                    "final_loss": round(res.final_loss, 4),
                }
                rows.append({**row, **score(tuned)})
                print(_json.dumps(rows[-1]), flush=True)
    return rows
