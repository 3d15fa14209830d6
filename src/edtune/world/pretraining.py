"""The generic pre-training mix of the base student: a base with gaps, as a generic LMM has (DESIGN §5).

Captions name every object's colour, shape, size and side, so the vision features carry position and size;
the base question families are asked with rationales; the gap families (what the target tasks probe) never
appear as questions. The human text is exactly what the student is asked at evaluation (`format_question`,
without the `<image>` marker: the student backend adds the image token itself).
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from typing import Any

from edtune.student.prompt import format_question, format_reasoning
from edtune.world.families import BASE_FAMILIES, CAPTION_QUESTION, GAP_FAMILIES, ask, caption
from edtune.world.scenes import make_scene, render

__all__ = ["BASE_FAMILIES", "GAP_FAMILIES", "base_sample", "base_stream"]

CAPTION_SHARE = 0.25  # FACTS: captions 1:1:1:1 with colour, shape and count lift shape naming
MC_SHARE = 0.5  # half of the questions are asked with options, as target tasks mostly are
# Weights of 1..6 objects per pre-training scene (a study knob; the shipped base uses the uniform default).
# Measured: 2,400 steps with (4,3,2,1,.5,.5) or 1-3 objects did NOT make the student read colour/shape from the
# image (1-object colour stays at chance), so scene size is not what blocks the base (docs/student.md).
SCENE_SIZE_WEIGHTS: tuple[float, ...] = (1.0, 1.0, 1.0, 1.0, 1.0, 1.0)


def _scene_size(rng: random.Random, weights: tuple[float, ...]) -> int | None:
    """None for the default (uniform) weights: `make_scene` then draws 1..6 itself, so the stream (and the
    shipped base student's recorded command) stays byte-for-byte what it was."""
    if tuple(weights) == SCENE_SIZE_WEIGHTS:
        return None
    return rng.choices(range(1, len(weights) + 1), weights=weights)[0]


def base_sample(
    rng: random.Random,
    families: tuple[str, ...] = BASE_FAMILIES,
    scene_sizes: tuple[float, ...] = SCENE_SIZE_WEIGHTS,
) -> tuple[Any, str, str, str]:
    """One (image, human_text, assistant_text, family) drawn from `rng`; family is 'caption' for captions."""
    while True:
        scene = make_scene(rng, _scene_size(rng, scene_sizes))
        if rng.random() < CAPTION_SHARE:
            return (
                render(scene),
                format_question(CAPTION_QUESTION, reasoning=False),
                caption(scene),
                "caption",
            )
        fam = rng.choice(families)
        q = ask(fam, scene, rng, mc=rng.random() < MC_SHARE)
        if q is None:
            continue
        return render(scene), format_question(q.question, q.choices), format_reasoning(q.steps, q.answer), fam


def base_stream(
    seed: int, families: tuple[str, ...] = BASE_FAMILIES, scene_sizes: tuple[float, ...] = SCENE_SIZE_WEIGHTS
) -> Iterator[tuple[Any, str, str]]:
    """(image, human_text, assistant_text) forever, a fresh scene each time; deterministic given `seed`.

    Seeds live in their own namespace ('pretrain:<seed>'), so the stream never replays pool or task scenes'
    random draws (scenes may still coincide by chance; they are small).
    """
    rng = random.Random(f"pretrain:{seed}")
    while True:
        img, human, gpt, _ = base_sample(rng, families, scene_sizes)
        yield img, human, gpt
