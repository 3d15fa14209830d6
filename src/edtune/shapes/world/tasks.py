"""Target tasks of the shapes world: each needs a different mix of skills, including the base student's gaps.

A task is a weighted mix of question families asked in one form (multiple-choice or short answer). Splits are
drawn from their own seed namespace ('task:<seed>:<name>:<split>'), disjoint from the pool's ('pool:<seed>').
"""

from __future__ import annotations

import functools
import random
import re
from collections.abc import Iterator
from dataclasses import dataclass

from edtune.schemas import TaskSample
from edtune.shapes.world.families import (
    CAPTION_QUESTION,
    FAMILIES,
    GAP_FAMILIES,
    GENERIC_WORDINGS,
    SKILL_DESCRIPTIONS,
    ask,
    wording_pattern,
)
from edtune.shapes.world.scenes import WORLD_VERSION, Scene, make_scene


@dataclass(frozen=True)
class TaskSpec:
    """A target task: a weighted mix of families, asked in the task's OWN wording (never the pool's).

    `wordings` maps each family to the task's templates; `scene_sizes` weighs scenes of 1..MAX_OBJECTS objects
    (tasks whose question picks one object out of several hold two; the two controls hold one, because the tiny
    student's LoRA learns a gap on one-object scenes but not the binding of two: docs/student.md). `kind` says what the task is for in the
    study: "disguised" tasks read like a skill the base has while their gap is another; "control" tasks read like
    their gap (similar-question selection should do as well there).
    """

    name: str
    description: str
    families: tuple[tuple[str, float], ...]  # (family, weight)
    mc: bool
    wordings: dict[str, tuple[str, ...]]
    scene_sizes: tuple[float, ...] = (1.0, 1.0)
    kind: str = "disguised"
    # the answer space, when a constant answer text could beat chance: each split then holds every answer equally
    # often (a constant scores chance, not 0.84 as "1" did on count-by-side in world v3); option letters are
    # balanced for every multiple-choice task (`_gold_at`)
    balanced_answers: tuple[str, ...] = ()

    @property
    def max_objects(self) -> int:
        return len(self.scene_sizes)

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

    @property
    def gap_skill(self) -> str:
        """The skill the base student lacks for this task (the canonical skill of its first gap family)."""
        return FAMILIES[self.gap_families[0]].skill


TASKS: dict[str, TaskSpec] = {
    t.name: t
    for t in (
        TaskSpec(
            "left-right",
            "Which half of the picture a shape is in, one shape per picture (control: reads like its gap, left/right).",
            (("side", 1.0),),
            mc=True,
            wordings={"side": ("Which half of the picture holds the {color} {shape}?",)},
            scene_sizes=(1.0,),
            kind="control",
            balanced_answers=("left", "right"),
        ),
        TaskSpec(
            "color-by-side",
            "The colour of the shape in one half of the picture (reads like colour; the gap is left/right).",
            (("side_color", 1.0),),
            mc=True,
            wordings={"side_color": ("Which colour is the shape in the {side} half of the picture?",)},
            scene_sizes=(0.0, 1.0),
        ),
        TaskSpec(
            "count-by-side",
            "How many shapes one half of the picture holds (reads like counting; the gap is left/right).",
            (("side_count", 1.0),),
            mc=False,
            wordings={"side_count": ("In the {side} half of the picture, how many shapes can you see?",)},
            scene_sizes=(0.3, 1.0),
            balanced_answers=("0", "1", "2"),
        ),
        TaskSpec(
            "size-check",
            "Whether a shape is drawn big or little, one shape per picture (control: reads like its gap, size).",
            (("size", 1.0),),
            mc=True,
            wordings={"size": ("How big is the {color} {shape} drawn in this picture?",)},
            scene_sizes=(1.0,),
            kind="control",
            balanced_answers=("large", "small"),
        ),
        TaskSpec(
            "color-by-size",
            "The colour of the bigger or smaller of two shapes (reads like colour; the gap is size).",
            (("size_color", 1.0),),
            mc=True,
            wordings={"size_color": ("Of the two shapes, which colour is the {size} one?",)},
            scene_sizes=(0.0, 1.0),
        ),
    )
}
DEMO_TASK = "left-right"


def _pick(rng: random.Random, families: tuple[tuple[str, float], ...]) -> str:
    names = [f for f, _ in families]
    return rng.choices(names, weights=[w for _, w in families])[0]


def _gold_at(choices: list[str], answer: str, i: int) -> list[str]:
    """The options with the gold one moved to position i mod k (swapped with the option there), so each letter is
    gold equally often in a split and a constant letter scores chance (MMBench's CircularEval rotates options for
    the same reason). Uses no random draw, so the scenes and questions of a split are unchanged."""
    out = list(choices)
    gold = out.index(answer)  # the world's answers are option texts, never letters
    target = i % len(out)
    out[gold], out[target] = out[target], out[gold]
    return out


def iter_task(spec: TaskSpec, split: str, n: int, seed: int) -> Iterator[tuple[TaskSample, Scene, str]]:
    """(sample with image 'images/<id>.png', scene, family) for `n` samples; deterministic given the args."""
    rng = random.Random(f"task:{seed}:{spec.name}:{split}")
    quota = -(-n // len(spec.balanced_answers)) if spec.balanced_answers else n
    per_answer: dict[str, int] = {}
    i = 0
    while i < n:
        fam = _pick(rng, spec.families)
        n_obj = rng.choices(range(1, spec.max_objects + 1), weights=spec.scene_sizes)[0]
        scene = make_scene(rng, n_obj)
        q = ask(fam, scene, rng, mc=spec.mc, wordings=spec.wordings.get(fam))
        if q is None:
            continue
        if spec.balanced_answers:
            if q.answer not in spec.balanced_answers or per_answer.get(q.answer, 0) >= quota:
                continue
            per_answer[q.answer] = per_answer.get(q.answer, 0) + 1
        sid = f"{spec.name}-{split}-{i:05d}"
        sample = TaskSample(
            id=sid,
            image=f"images/{sid}.png",
            question=q.question,
            choices=_gold_at(q.choices, q.answer, i) if q.choices else q.choices,
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
        "kind": spec.kind,
        "gap_skill": spec.gap_skill,
        "wordings": {f: list(ts) for f, ts in spec.wordings.items()},
        "world_version": WORLD_VERSION,
    }


# ---------------------------------------------------------------- reading questions back


@functools.lru_cache(maxsize=1)
def _question_patterns() -> tuple[tuple[str, re.Pattern[str]], ...]:
    """Every wording the world uses: the generic ones, then each target task's own (a reader of questions, such
    as the reference teacher, understands both, as a strong LMM would). Here, not in `families`, because it needs
    the task table and the task table needs the families."""
    pats = [(fam, wording_pattern(t)) for fam, ts in GENERIC_WORDINGS.items() for t in ts]
    for spec in TASKS.values():
        for fam, ts in spec.wordings.items():
            pats += [(fam, wording_pattern(t)) for t in ts]
    pats.append(("caption", re.compile(f"^{re.escape(CAPTION_QUESTION)}$")))
    return tuple(pats)


def family_of_question(text: str) -> str | None:
    """The family of a question (its first line; options and instructions after it are ignored)."""
    first = text.replace("<image>", "").strip().split("\n", 1)[0].strip()
    for name, pat in _question_patterns():
        if pat.match(first):
            return name
    return None
