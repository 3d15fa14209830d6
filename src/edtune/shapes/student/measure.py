"""How good is a shapes-world student? Parse rate, accuracy per question family and per target task.

Per-family probes are drawn fresh from the world's own question makers (a seed namespace of their own),
in both multiple-choice and short form; per-task figures use each task's `val.jsonl` as written by
`edtune.shapes.world.generate.generate_world`.
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
    from edtune.shapes.world.families import BASE_FAMILIES, GAP_FAMILIES

    return "base" if family in BASE_FAMILIES else "gap" if family in GAP_FAMILIES else "distractor"


def family_probes(
    out_dir: Path, n_per_family: int = 200, seed: int = 0, families: tuple[str, ...] | None = None
) -> dict[str, list[TaskSample]]:
    """Fresh probes per family, on scenes drawn like the tasks' (1 or 2 objects, equally often), in generic
    wording, half multiple-choice and half short answer; a seed namespace of their own ('measure:<seed>')."""
    from edtune.shapes.world.families import FAMILIES, ask
    from edtune.shapes.world.scenes import MAX_OBJECTS, make_scene, render

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
                    id=f"{fam}-{len(samples)}-o{len(scene.objects)}",  # object count: see accuracy_by_objects
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


def accuracy_by_objects(samples: list[TaskSample], traces: list[Any]) -> dict[str, float]:
    """Accuracy per object count of the probes' scenes ({"1": .., "2": ..}): picking one object out of two is
    the tiny student's slow skill, so a family's mean hides where it fails."""
    hits: dict[str, list[bool]] = {}
    for s, t in zip(samples, traces, strict=True):
        hits.setdefault(s.id.rsplit("-o", 1)[-1], []).append(bool(t.correct))
    return {k: round(sum(v) / len(v), 3) for k, v in sorted(hits.items())}


def lora_gap_study(
    base: str,
    world_dir: str,
    *,
    gap_families: tuple[str, ...] = ("side",),
    steps: int = 300,
    lora: dict[str, Any] | None = None,
    replay: float = 0.2,
    n_probe: int = 100,
    seed: int = 0,
    probe_families: tuple[str, ...] | None = None,
) -> dict[str, Any]:
    """Does LoRA with replay fill a gap? Tune on the pool's samples of `gap_families` + `replay` of base-family
    ones and captions, then score fresh probes of every family (generic wording), per object count.

    Returns {"before": {family: {...}}, "after": {...}, "train": {...}}; each family's entry has its accuracy
    and its accuracy on one- and two-object scenes.
    """
    import json as _json

    from edtune.config import LoraConfig, StudentConfig
    from edtune.datasets import iter_support
    from edtune.shapes.world.families import BASE_FAMILIES
    from edtune.student.hf import load_student

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
    cfg = StudentConfig()
    with tempfile.TemporaryDirectory() as tmp:
        probes = family_probes(Path(tmp), n_probe, seed=seed + 1, families=probe_families)

        def score(st: Any) -> dict[str, Any]:
            out = {}
            for f, p in probes.items():
                traces, summary = evaluate(st, p, progress=False)
                out[f] = {
                    "kind": family_kind(f),
                    "accuracy": round(summary.accuracy, 3),
                    "by_objects": accuracy_by_objects(p, traces),
                }
            return out

        before = score(load_student(base, cfg))
        cfg_lora = LoraConfig(**{**(lora or {}), "max_steps": steps})
        res = load_student(base, cfg).tune(data, f"{tmp}/adapter", cfg_lora, seed=seed)
        after = score(load_student(base, cfg, adapter=f"{tmp}/adapter"))
    return {
        "gap_families": list(gap_families),
        "before": before,
        "after": after,
        "train": {
            "gap_samples": len(gap),
            "samples": len(data),
            "steps": steps,
            "lora": cfg_lora.model_dump(include={"r", "alpha", "lr", "batch_size", "target_modules"}),
            "final_loss": round(res.final_loss, 4),
            "seconds": round(res.seconds, 1),
        },
    }
