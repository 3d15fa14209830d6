"""The task-agnostic support pool (the Vision-Flan stand-in): LLaVA conversations over shapes-world scenes.

A mixture of every question family plus distractors (captions; families no target task needs), single- and
multi-turn, with and without rationales. The pool carries NO skill labels: the family and skills of each
conversation go to a sidecar (`pool.labels.jsonl`) for analysis and benchmarks only; nothing in the pipeline reads
it. Several conversations share one scene image (as real pools reuse images), which keeps writing fast.
Streaming: `iter_pool` yields one scene group at a time, so memory stays bounded at any pool size.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass

from pydantic import BaseModel

from edtune.schemas import SupportSample, Turn
from edtune.shapes.world.families import CAPTION_QUESTION, ask, caption, skills_of_family
from edtune.shapes.world.scenes import Scene, make_scene
from edtune.student.prompt import format_question, format_reasoning

CAPTION_SHARE = 0.12
# Relative weights of the families a (non-caption) turn asks. Each target task's gap skill stays <= 5% of the pool
# (measured by tests/world: side ~4%, size ~4% of conversations), as a skill is a small share of a real generic
# pool; the distractor families (vertical, same_color, same_shape) are skills no task needs.
FAMILY_WEIGHTS: dict[str, float] = {
    "color": 12.0,
    "shape": 12.0,
    "count": 8.0,
    "count_color": 8.0,
    "count_shape": 8.0,
    "vertical": 40.0,
    "same_color": 8.0,
    "same_shape": 8.0,
    "side": 1.1,
    "side_color": 2.0,
    "side_count": 0.6,
    "size": 1.3,
    "size_color": 6.0,
}
SCENE_SIZES = (0.45, 0.55)  # weights of 1 and 2 objects per pool scene
MULTI_TURN_SHARE = 0.2
RATIONALE_SHARE = 0.6
MC_SHARE = 0.5
MAX_PER_IMAGE = 3


class PoolLabel(BaseModel):
    """Sidecar row: what a pool conversation teaches (for analysis only; never read by the pipeline)."""

    id: str
    family: str  # the first turn's family ("caption" for captions)
    families: list[str]
    skills: list[str]
    rationale: bool
    turns: int


@dataclass(frozen=True)
class SceneGroup:
    image: str  # relative path, images/<name>.png
    scene: Scene
    samples: list[tuple[SupportSample, PoolLabel]]


def _qa(rng: random.Random, scene: Scene, family: str | None = None) -> tuple[str, str, str, bool] | None:
    """(family, human text, gpt text, rationale?) or None when the scene does not support the family."""
    fam = family or rng.choices(list(FAMILY_WEIGHTS), weights=list(FAMILY_WEIGHTS.values()))[0]
    if fam == "caption":
        return "caption", format_question(CAPTION_QUESTION, reasoning=False), caption(scene), False
    q = ask(fam, scene, rng, mc=rng.random() < MC_SHARE)
    if q is None:
        return None
    if rng.random() < RATIONALE_SHARE:
        return fam, format_question(q.question, q.choices), format_reasoning(q.steps, q.answer), True
    return fam, format_question(q.question, q.choices, reasoning=False), q.answer, False


def _conversation(rng: random.Random, scene: Scene) -> list[tuple[str, str, str, bool]]:
    if rng.random() < CAPTION_SHARE:
        qa = _qa(rng, scene, "caption")
        assert qa is not None
        return [qa]
    n_turns = rng.choice([2, 3]) if rng.random() < MULTI_TURN_SHARE else 1
    turns: list[tuple[str, str, str, bool]] = []
    for _ in range(n_turns * 4):  # a few tries: some families need a particular scene
        qa = _qa(rng, scene)
        if qa is not None and qa[1] not in {t[1] for t in turns}:
            turns.append(qa)
        if len(turns) == n_turns:
            break
    return turns


def iter_pool(seed: int, size: int, id_prefix: str = "pool") -> Iterator[SceneGroup]:
    """Scene groups until `size` conversations have been yielded; deterministic given (seed, size)."""
    rng = random.Random(f"pool:{seed}")
    made = 0
    scene_no = 0
    while made < size:
        scene = make_scene(rng, rng.choices((1, 2), weights=SCENE_SIZES)[0])
        image = f"images/{id_prefix}-{scene_no:07d}.png"
        scene_no += 1
        samples = []
        for _ in range(min(rng.randint(1, MAX_PER_IMAGE), size - made)):
            turns = _conversation(rng, scene)
            if not turns:
                continue
            sid = f"{id_prefix}-{made:07d}"
            convo: list[Turn] = []
            for k, (_, human, gpt, _) in enumerate(turns):
                convo.append(
                    Turn.model_validate({"from": "human", "value": ("<image>\n" if k == 0 else "") + human})
                )
                convo.append(Turn.model_validate({"from": "gpt", "value": gpt}))
            fams = [t[0] for t in turns]
            skills: list[str] = []
            for f in fams:
                skills += [s for s in skills_of_family(f) if s not in skills]
            label = PoolLabel(
                id=sid,
                family=fams[0],
                families=fams,
                skills=skills,
                rationale=any(t[3] for t in turns),
                turns=len(turns),
            )
            samples.append(
                (SupportSample(id=sid, image=image, conversations=convo, source="shapes-world"), label)
            )
            made += 1
        if samples:
            yield SceneGroup(image, scene, samples)
