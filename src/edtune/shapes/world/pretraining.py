"""The generic pre-training mix of the base student: a base with gaps, as a generic LMM has (DESIGN §5).

Captions name every object's colour, shape, size and side, so the vision features carry position and size;
the base question families are asked with rationales; the gap families (what the target tasks probe) never
appear as questions. The human text is exactly what the student is asked at evaluation (`format_question`,
without the `<image>` marker: the student backend adds the image token itself).
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

from edtune.shapes.world.families import (
    BASE_FAMILIES,
    CAPTION_QUESTION,
    DESCRIBE_WORDINGS,
    GAP_FAMILIES,
    T_COLOR,
    T_LARGE,
    T_SHAPE,
    T_SIDE,
    T_SIZE,
    ask,
    caption,
    describe,
)
from edtune.shapes.world.scenes import (
    CANVAS,
    COLORS,
    SHAPES,
    SIZES,
    Obj,
    Scene,
    make_scene,
    render,
    render_object,
)
from edtune.student.prompt import format_question, format_reasoning

__all__ = [
    "BASE_FAMILIES",
    "EASY_SPOTS",
    "GAP_FAMILIES",
    "base_sample",
    "base_stream",
    "easy_sample",
    "easy_stream",
    "guess_sample",
    "misperceived",
]

CAPTION_SHARE = 0.2  # FACTS: captions 1:1:1:1 with colour, shape and count lift shape naming
# Grounded descriptions ("Describe the red circle." -> "A large red circle on the left."): the base learns to
# perceive each object's side and size and to bind it to the object named, without ever being asked the gap
# questions ("Is the red circle on the left or the right?"). Without them the gap was not LoRA-learnable in 300
# steps (side 0.53, size 0.58 after LoRA: docs/student.md).
DESCRIBE_SHARE = 0.15
# Of the descriptions: the object is referred to by its side or size (too rare to teach the look-up: describe_sample)
REFER_SHARE = 0.4
REASONED_SHARE = 0.5  # of the descriptions: asked step by step (size and side stated, then repeated)
REFER_SIDE_WORDINGS = ("Describe the object on the {side}.", "Tell me about the object on the {side}.")
REFER_SIZE_WORDINGS = ("Describe the {size} object.", "Tell me about the {size} object.")
MC_SHARE = 0.5  # half of the questions are asked with options, as target tasks mostly are
# Note-copy exercises ("A note about this picture reads: "The red circle is on the left." Repeat the last word of
# the note." -> "Step 1: The red circle is on the left. / Answer: left"): the answer repeats the attribute word of
# the step for every attribute, side and size included. The claim comes with the question, so the exercise teaches
# copying, not perceiving (no gap question is asked; captions already name every side and size). A generic LMM
# copies its own reasoning into its answer; the tiny base did so only for colours and shapes, and a gap LoRA then
# learnt the step but only sometimes the answer (docs/student.md "After the real loop"). A share of 0 leaves the
# stream as it was (no extra draw); the shipped base's phase 3 used 0.1 (`--note-share`, its README).
NOTE_WORDING = 'A note about this picture reads: "{sentence}" Repeat the last word of the note.'
NOTE_ATTRIBUTES = ("side", "size", "color", "shape")
NOTE_WEIGHTS = (
    0.35,
    0.35,
    0.15,
    0.15,
)  # side and size words were never answers before; colours and shapes were
# Guessed gap questions ("On which side is the red circle?" -> "Step 1: The red circle is on the right. / Answer:
# right", the side drawn at random): a generic LMM asked about a skill it lacks still answers inside the question's
# answer space and states a (wrong half the time) fact about it in its steps; it does not reply "circle". The
# answers are those of a misperceived scene (each object's side and size redrawn at random, the image unchanged), so
# the base learns the question's answer format and nothing about the gap skill: its accuracy stays at chance under
# generated and log-likelihood scoring, and its wrong steps name a wrong option (what the paper's answer switch
# needs). Asked in the generic wordings only (never a target task's). A share of 0 leaves the stream as it was.
GUESS_FAMILIES: tuple[str, ...] = GAP_FAMILIES
# Weights of 1 and 2 objects per pre-training scene. Two-object scenes are where a question must pick one object
# out ("the red circle"): the slow skill (docs/student.md), so they get the larger share.
SCENE_SIZE_WEIGHTS: tuple[float, ...] = (0.35, 0.65)


# Relative weights of the base families in pre-training. Counting one colour/shape is the slowest base skill
# (with uniform weights, 8,000 steps left count_color 0.84 / count_shape 0.78: absent colours and pairs were
# answered "1"), colour and shape naming the fastest (0.985 / 1.00), so counting questions get more of the stream.
BASE_FAMILY_WEIGHTS: dict[str, float] = {
    "color": 1.0,
    "shape": 1.0,
    "count": 0.6,
    "count_color": 1.7,
    "count_shape": 1.7,
}


def _scene_size(rng: random.Random, weights: tuple[float, ...]) -> int:
    return rng.choices(range(1, len(weights) + 1), weights=weights)[0]


def base_sample(
    rng: random.Random,
    families: tuple[str, ...] = BASE_FAMILIES,
    scene_sizes: tuple[float, ...] = SCENE_SIZE_WEIGHTS,
    note_share: float = 0.0,
    guess_share: float = 0.0,
    lookup_share: float = 0.0,
) -> tuple[Any, str, str, str]:
    """One (image, human_text, assistant_text, family) drawn from `rng`; family is 'caption' for captions,
    'note' for note-copy exercises (only drawn when `note_share` > 0), 'guess:<family>' for guessed gap questions
    (only drawn when `guess_share` > 0), 'lookup' for descriptions of one object of two referred to by its side or
    size (only drawn when `lookup_share` > 0)."""
    while True:
        if lookup_share and rng.random() < lookup_share:
            pair = make_scene(rng, 2)
            looked_up = describe_sample(pair, rng, refer=True)
            if looked_up is not None:
                return render(pair), looked_up[0], looked_up[1], "lookup"
            continue
        scene = make_scene(rng, _scene_size(rng, scene_sizes))
        if note_share and rng.random() < note_share:
            human, gpt = note_sample(rng, scene)
            return render(scene), human, gpt, "note"
        if guess_share and rng.random() < guess_share:
            drawn = guess_sample(rng, scene)
            if drawn is not None:
                return render(scene), drawn[0], drawn[1], f"guess:{drawn[2]}"
        if rng.random() < CAPTION_SHARE:
            return (
                render(scene),
                format_question(CAPTION_QUESTION, reasoning=False),
                caption(scene),
                "caption",
            )
        if rng.random() < DESCRIBE_SHARE:
            described = describe_sample(scene, rng)
            if described is not None:
                return render(scene), described[0], described[1], "describe"
        fam = rng.choices(families, weights=[BASE_FAMILY_WEIGHTS.get(f, 1.0) for f in families])[0]
        q = ask(fam, scene, rng, mc=rng.random() < MC_SHARE)
        if q is None:
            continue
        return render(scene), format_question(q.question, q.choices), format_reasoning(q.steps, q.answer), fam


def describe_sample(scene: Scene, rng: random.Random, refer: bool | None = None) -> tuple[str, str] | None:
    """(human_text, assistant_text) asking to describe one object, or None when no object can be named.

    The object is named by colour and shape, or (REFER_SHARE) referred to by its side or size where that picks
    it out ("Describe the object on the left."), meant to teach the base to look an object up by where it is and
    how big it is without ever asking a gap question. Measured (`benchmarks.lookup_probe`): at this share the
    shipped base does not learn it (asked for the object on one side of two, it describes either object half the
    time); look-up exercises (`lookup_share`) teach it, and then the gap families' generic wordings are answered
    too (benchmarks/README.md, "A base that can look one object up"). REASONED_SHARE of
    them carry a rationale whose steps state the size and the side and whose answer repeats them: answers then
    contain side and size words copied from the steps, the habit a gap answer ("Answer: left") needs; without it
    a LoRA taught the step ("The red circle is on the left.") but not the answer (docs/student.md).

    `refer=True` (look-up exercises, `lookup_share`) always refers to the object by its side or size; the default
    draws whether to (REFER_SHARE).
    """
    if refer is None:
        refer = rng.random() < REFER_SHARE
    if refer:
        by = rng.choice(("side", "size"))
        key = (lambda o: o.side) if by == "side" else (lambda o: o.size)
        cands = [o for o in scene.objects if sum(key(p) == key(o) for p in scene.objects) == 1]
    else:
        cands = [o for o in scene.objects if sum(p.name() == o.name() for p in scene.objects) == 1]
    if not cands:
        return None
    o = rng.choice(cands)
    if not refer:
        question = rng.choice(DESCRIBE_WORDINGS).format(color=o.color, shape=o.shape)
        steps = [T_SIZE.format(color=o.color, shape=o.shape, size=o.size), T_SIDE.format(**_slots(o))]
    elif by == "side":
        question = rng.choice(REFER_SIDE_WORDINGS).format(side=o.side)
        steps = [T_SIDE.format(**_slots(o)), T_SIZE.format(color=o.color, shape=o.shape, size=o.size)]
    else:
        question = rng.choice(REFER_SIZE_WORDINGS).format(size=o.size)
        steps = [T_LARGE.format(size=o.size, shape=o.shape, color=o.color), T_SIDE.format(**_slots(o))]
    if rng.random() < REASONED_SHARE:
        return format_question(question), format_reasoning(steps, describe(o))
    return format_question(question, reasoning=False), describe(o)


def note_sample(rng: random.Random, scene: Scene) -> tuple[str, str]:
    """(human_text, assistant_text) of a note-copy exercise: a true claim about one of the scene's objects
    (its side, size, colour or shape), repeated as the step, its last word as the answer; half with options.

    The claim is true of the picture: with claims drawn independently of it (measured, docs/student.md) the
    copying was learnt just as well, but the tuned student's side steps were right less often (0.62-0.69 vs
    0.79-0.82 on the quick demo), as if a step's side word need not match the image.
    """
    o = rng.choice(scene.objects)
    attr = rng.choices(NOTE_ATTRIBUTES, weights=NOTE_WEIGHTS)[0]
    word = {"side": o.side, "size": o.size, "color": o.color, "shape": o.shape}[attr]
    sentence = {
        "side": T_SIDE.format(**_slots(o)),
        "size": T_SIZE.format(color=o.color, shape=o.shape, size=o.size),
        "color": T_COLOR.format(shape=o.shape, color=o.color),
        "shape": T_SHAPE.format(color=o.color, shape=o.shape),
    }[attr]
    domain = {"side": ["left", "right"], "size": list(SIZES), "color": list(COLORS), "shape": list(SHAPES)}[
        attr
    ]
    choices = None
    if rng.random() < MC_SHARE:
        choices = [word, *rng.sample([v for v in domain if v != word], min(len(domain) - 1, 3))]
        rng.shuffle(choices)
    return format_question(NOTE_WORDING.format(sentence=sentence), choices), format_reasoning(
        [sentence], word
    )


def misperceived(scene: Scene, rng: random.Random) -> Scene:
    """The scene as a student without the gap skills sees it: every object's side and size redrawn at random
    (colour and shape kept: the base perceives those)."""
    objs = []
    for o in scene.objects:
        cx = CANVAS - 1 - o.cx if rng.random() < 0.5 else o.cx
        objs.append(replace(o, cx=cx, size=rng.choice(list(SIZES))))
    return Scene(tuple(objs))


def guess_sample(rng: random.Random, scene: Scene) -> tuple[str, str, str] | None:
    """(human_text, assistant_text, family) of a gap question answered for a misperceived scene (`misperceived`),
    in the generic wording, with options at MC_SHARE; None when the question cannot be asked there."""
    fam = rng.choice(GUESS_FAMILIES)
    q = ask(fam, misperceived(scene, rng), rng, mc=rng.random() < MC_SHARE)
    if q is None:
        return None
    return format_question(q.question, q.choices), format_reasoning(q.steps, q.answer), fam


def _slots(o: Obj) -> dict[str, str]:
    return {"color": o.color, "shape": o.shape, "side": o.side}


def base_stream(
    seed: int,
    families: tuple[str, ...] = BASE_FAMILIES,
    scene_sizes: tuple[float, ...] = SCENE_SIZE_WEIGHTS,
    note_share: float = 0.0,
    guess_share: float = 0.0,
    lookup_share: float = 0.0,
) -> Iterator[tuple[Any, str, str]]:
    """(image, human_text, assistant_text) forever, a fresh scene each time; deterministic given `seed`.

    Seeds live in their own namespace ('pretrain:<seed>'), so the stream never replays pool or task scenes'
    random draws (scenes may still coincide by chance; they are small).
    """
    rng = random.Random(f"pretrain:{seed}")
    while True:
        img, human, gpt, _ = base_sample(rng, families, scene_sizes, note_share, guess_share, lookup_share)
        yield img, human, gpt


# Curriculum warm-up (docs/student.md "The blind base"): the tiny student sits on a long loss plateau when the
# colour of a 14/26 px object lives in 1 of 16 image tokens at a random place; with one LARGE object at a FIXED
# spot it breaks out in ~200 steps and then reads random positions too. Two spots (one per half, each inside a
# single 28 px image token) keep "left"/"right" in the captions true.
EASY_SPOTS: tuple[tuple[int, int], ...] = ((42, 42), (70, 70))
# Easy objects are drawn GIANT (side EASY_SIDE px, centred in the left or right half), so their colour fills
# several image tokens; the text still describes a "large" object on its side. 0 = the world's large size at
# EASY_SPOTS.
EASY_SIDE = 52


def _easy_image(scene: Scene, side: int) -> Any:
    if not side:
        return render(scene)
    o = scene.objects[0]
    cx = CANVAS // 4 if o.side == "left" else 3 * CANVAS // 4
    h = side // 2
    return render_object(o.shape, o.color, (cx - h, CANVAS // 2 - h, cx + h - 1, CANVAS // 2 + h - 1))


def easy_sample(
    rng: random.Random, families: tuple[str, ...] = BASE_FAMILIES, side: int = EASY_SIDE
) -> tuple[Any, str, str, str]:
    """Like `base_sample`, on an easy scene: one object of a random colour/shape, giant (`side` px, centred in
    a half) or, with side 0, large at one of `EASY_SPOTS`."""
    while True:
        cx, cy = rng.choice(EASY_SPOTS)
        scene = Scene((Obj(cx, cy, rng.choice(SHAPES), rng.choice(list(COLORS)), "large"),))
        if rng.random() < CAPTION_SHARE:
            return (
                _easy_image(scene, side),
                format_question(CAPTION_QUESTION, reasoning=False),
                caption(scene),
                "caption",
            )
        fam = rng.choice(families)
        q = ask(fam, scene, rng, mc=rng.random() < MC_SHARE)
        if q is None:
            continue
        return (
            _easy_image(scene, side),
            format_question(q.question, q.choices),
            format_reasoning(q.steps, q.answer),
            fam,
        )


def easy_stream(
    seed: int, families: tuple[str, ...] = BASE_FAMILIES, side: int = EASY_SIDE
) -> Iterator[tuple[Any, str, str]]:
    """(image, human_text, assistant_text) of easy scenes forever; its own seed namespace ('pretrain-easy:<seed>'),
    so switching the curriculum on never changes what `base_stream(seed)` yields."""
    rng = random.Random(f"pretrain-easy:{seed}")
    while True:
        img, human, gpt, _ = easy_sample(rng, families, side)
        yield img, human, gpt
