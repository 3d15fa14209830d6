"""Target tasks of the shapes world: each needs a different mix of skills, including the base student's gaps.

A task is a weighted mix of question families asked in one form (multiple-choice or short answer). Splits are
drawn from their own seed namespace ('task:<seed>:<name>:<split>'), disjoint from the pool's ('pool:<seed>').
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass

from edtune.schemas import TaskSample
from edtune.world.families import FAMILIES, GAP_FAMILIES, SKILL_DESCRIPTIONS, ask
from edtune.world.scenes import MAX_OBJECTS, Scene, make_scene


@dataclass(frozen=True)
class TaskSpec:
    name: str
    description: str
    families: tuple[tuple[str, float], ...]  # (family, weight)
    mc: bool
    max_objects: int = MAX_OBJECTS  # scenes of 1..max_objects objects (the pool always has 1..MAX_OBJECTS)

    @property
    def answer_type(self) -> str:
        if self.mc:
            return "multiple-choice"
        return (
            "number"
            if all(f.startswith("count") or f.endswith("_count") for f, _ in self.families)
            else "short-answer"
        )

    @property
    def skills(self) -> list[str]:
        out: list[str] = []
        for f, _ in self.families:
            out += [s for s in FAMILIES[f].skills if s not in out]
        return out

    @property
    def gap_families(self) -> list[str]:
        return [f for f, _ in self.families if f in GAP_FAMILIES]


TASKS: dict[str, TaskSpec] = {
    t.name: t
    for t in (
        TaskSpec(
            "left-right",
            "Is an object on the left or the right of the image? (the demo task: one gap skill)",
            (("side", 1.0),),
            mc=True,
        ),
        TaskSpec(
            "color-by-side",
            "Name the colour of an object picked out by its side, plus plain colour questions.",
            (("side_color", 0.7), ("color", 0.3)),
            mc=True,
        ),
        TaskSpec(
            "size-check",
            "Tell small from large objects and name the colour of an object picked out by its size.",
            (("size", 0.6), ("size_color", 0.4)),
            mc=True,
        ),
        TaskSpec(
            "count-by-side",
            "Count the objects on one side of the image, or of one colour (short numeric answers).",
            (("side_count", 0.7), ("count_color", 0.3)),
            mc=False,
        ),
    )
}
DEMO_TASK = "left-right"


def _pick(rng: random.Random, families: tuple[tuple[str, float], ...]) -> str:
    names = [f for f, _ in families]
    return rng.choices(names, weights=[w for _, w in families])[0]


def iter_task(spec: TaskSpec, split: str, n: int, seed: int) -> Iterator[tuple[TaskSample, Scene, str]]:
    """(sample with image 'images/<id>.png', scene, family) for `n` samples; deterministic given the args."""
    rng = random.Random(f"task:{seed}:{spec.name}:{split}")
    i = 0
    while i < n:
        fam = _pick(rng, spec.families)
        scene = make_scene(rng, rng.randint(1, spec.max_objects))  # same draws as make_scene(rng) at 6
        q = ask(fam, scene, rng, mc=spec.mc)
        if q is None:
            continue
        sid = f"{spec.name}-{split}-{i:05d}"
        sample = TaskSample(
            id=sid,
            image=f"images/{sid}.png",
            question=q.question,
            choices=q.choices,
            answer=q.answer,
            meta={"family": fam},
        )
        yield sample, scene, fam
        i += 1


def task_card(spec: TaskSpec, n_val: int, n_test: int) -> dict[str, object]:
    """The task.yaml card."""
    return {
        "name": spec.name,
        "description": spec.description,
        "answer_type": spec.answer_type,
        "metric": "exact_match",
        "skills": spec.skills,
        "skill_descriptions": {s: SKILL_DESCRIPTIONS[s] for s in spec.skills},
        "families": {f: w for f, w in spec.families},
        "gap_families": spec.gap_families,
        "splits": {"val": n_val, "test": n_test},
        "max_objects": spec.max_objects,
    }
