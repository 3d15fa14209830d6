"""Question families (skills) of the shapes world, their step templates, and how to check a step against a scene.

Each family turns a scene into a question with a short gold rationale in the student's format (1-2 steps of a
few words, short answers: the tiny student generates ~64 tokens). Step templates are owned here, so the
reference teacher can parse a step back (`parse_step`), check its claim against a recovered scene
(`check_step`) and tell which skill it exercises. Questions are parsed back the same way (`edtune.shapes.world.tasks.family_of_question`, which knows the tasks' wordings too).

Answers are always written as text (a multiple-choice answer is the option text, not its letter).

Wording: every family has a few *generic* phrasings (`GENERIC_WORDINGS`), the ones the pre-training stream and the
support pool use (a generic LMM has seen a question asked more than one way). Target tasks ask in wordings of their
own (`edtune.shapes.world.tasks`) that never occur in the pool; answers always stay in the pool's vocabulary. A question
is made from *slots* (`Question.slots`) and a wording template, so the same draw can be phrased either way.
"""

from __future__ import annotations

import functools
import random
import re
from collections.abc import Callable
from dataclasses import dataclass, field

from edtune.shapes.world.scenes import COLORS, SHAPES, SIZES, Obj, Scene

# ---------------------------------------------------------------- skills

COLOR = "color recognition"
SHAPE = "shape recognition"
COUNT = "counting objects"
SIDE = "spatial relations left right"
SIZE = "size recognition"
DESCRIBE = "scene description"
VERTICAL = "spatial relations above below"  # distractor: no target task needs it
COLOR_CMP = "color comparison"  # distractor
SHAPE_CMP = "shape comparison"  # distractor

SKILL_DESCRIPTIONS: dict[str, str] = {
    COLOR: "Name the colour of an object.",
    SHAPE: "Tell circles, squares and triangles apart.",
    COUNT: "Count the objects that match a description.",
    SIDE: "Tell whether an object is on the left or the right of the image.",
    SIZE: "Tell small objects from large ones.",
    DESCRIBE: "Describe every object of a scene with its colour, shape, size and side.",
    VERTICAL: "Tell whether an object is above or below another one.",
    COLOR_CMP: "Tell whether two objects have the same colour.",
    SHAPE_CMP: "Tell whether two objects have the same shape.",
}
# Phrasings a teacher may use for a skill (the reference teacher's noisy profile draws from these; gap merging and
# retrieval must cope). The first entry of each list is how the exact profile writes the skill: the canonical name.
SKILL_SYNONYMS: dict[str, list[str]] = {
    COLOR: ["colour recognition", "color naming", "identifying colors", "recognising object colours"],
    SHAPE: ["shape naming", "identifying shapes", "shape classification", "geometric shape recognition"],
    COUNT: ["counting", "object counting", "counting shapes", "enumerating objects"],
    SIDE: [
        "left/right localisation",
        "spatial relations (left vs right)",
        "horizontal position of objects",
        "locating objects left or right",
    ],
    SIZE: ["size comparison", "object size", "judging size", "small vs large objects"],
    DESCRIBE: ["image captioning", "scene captioning", "describing images"],
    VERTICAL: ["above/below relations", "vertical position of objects", "spatial relations (above vs below)"],
    COLOR_CMP: ["comparing colours", "same or different colour", "colour matching"],
    SHAPE_CMP: ["comparing shapes", "same or different shape", "shape matching"],
}


def canonical_skill(phrase: str) -> str | None:
    """Map a skill phrase (canonical or synonym, any case) to its canonical name, or None."""
    p = phrase.strip().lower()
    for name, syns in SKILL_SYNONYMS.items():
        if p == name or p in syns:
            return name
    return None


# ---------------------------------------------------------------- wordings

# Generic phrasings per family (pre-training and pool). Slots: {color} {shape} {size} {side}.
GENERIC_WORDINGS: dict[str, tuple[str, ...]] = {
    "color": (
        "What color is the {shape}?",
        "Which color does the {shape} have?",
        "Name the color of the {shape}.",
    ),
    "shape": (
        "What shape is the {color} object?",
        "Which shape is the {color} object?",
        "Name the shape of the {color} object.",
    ),
    "count": ("How many objects are there?", "How many shapes are in the image?", "Count the objects."),
    "count_color": (
        "How many {color} objects are there?",
        "Count the {color} objects.",
        "How many objects are {color}?",
    ),
    "count_shape": ("How many {shape}s are there?", "Count the {shape}s.", "How many objects are {shape}s?"),
    "side": (
        "Is the {color} {shape} on the left or the right?",
        "On which side is the {color} {shape}?",
        "Where is the {color} {shape}, left or right?",
    ),
    "size": (
        "Is the {color} {shape} small or large?",
        "What size is the {color} {shape}?",
        "Is the {color} {shape} large or small?",
    ),
    "side_color": (
        "What color is the object on the {side}?",
        "Which color does the object on the {side} have?",
        "Name the color of the object on the {side}.",
    ),
    "side_count": (
        "How many objects are on the {side}?",
        "Count the objects on the {side}.",
        "How many shapes are on the {side}?",
    ),
    "size_color": (
        "What color is the {size} object?",
        "Which color does the {size} object have?",
        "Name the color of the {size} object.",
    ),
    "vertical": (
        "Is the {color} {shape} above or below the other object?",
        "Is the {color} {shape} higher or lower than the other object?",
    ),
    "same_color": ("Do the two objects have the same color?", "Are both objects the same color?"),
    "same_shape": ("Do the two objects have the same shape?", "Are both objects the same shape?"),
}


@dataclass(frozen=True)
class Question:
    family: str
    question: str
    choices: list[str] | None
    answer: str
    steps: list[str]
    skills: list[str] = field(default_factory=list)
    slots: dict[str, str] = field(default_factory=dict)


Maker = Callable[[Scene, random.Random, bool], "Question | None"]


@dataclass(frozen=True)
class Family:
    name: str
    skill: str  # the canonical skill phrase of the family
    skills: tuple[str, ...]  # every skill it needs (first = canonical); 2-3 for compositional families
    make: Maker
    answer_kind: str  # "mc" | "short" | "both": which forms the family can be asked in


def _plural(shape: str) -> str:
    return shape + "s"


def _choices(rng: random.Random, answer: str, pool: list[str], k: int) -> list[str]:
    others = [p for p in pool if p != answer]
    rng.shuffle(others)
    out = [answer, *others[: k - 1]]
    rng.shuffle(out)
    return out


def _unique(scene: Scene, key: Callable[[Obj], object]) -> list[Obj]:
    counts: dict[object, int] = {}
    for o in scene.objects:
        counts[key(o)] = counts.get(key(o), 0) + 1
    return [o for o in scene.objects if counts[key(o)] == 1]


def _count_choices(rng: random.Random, n: int) -> list[str]:
    return _choices(rng, str(n), [str(i) for i in range(0, 4)], 3)


def _q(
    family: str,
    slots: dict[str, str],
    choices: list[str] | None,
    answer: str,
    steps: list[str],
    skills: list[str],
) -> Question:
    """A question in the family's first generic wording (`phrase` re-words it)."""
    return Question(
        family, GENERIC_WORDINGS[family][0].format(**slots), choices, answer, steps, skills, slots
    )


# step templates (text, parse regex)
T_COLOR = "The {shape} is {color}."
T_SHAPE = "The {color} object is a {shape}."
T_COUNT = "I count {n} objects."
T_SIZE = "The {color} {shape} is {size}."
T_SIDE = "The {color} {shape} is on the {side}."
T_LIST_COLOR = "The {color} objects are: {items}."
T_NONE_COLOR = "There are no {color} objects."
T_LIST_SHAPE = "The {plural} are: {items}."
T_NONE_SHAPE = "There are no {plural}."
T_LIST_SIDE = "On the {side}: {items}."
T_NONE_SIDE = "Nothing is on the {side}."
T_SO_COUNT = "So there are {n}."
T_LARGE = "The {size} {shape} is {color}."
T_VERTICAL = "The {color} {shape} is {pos} the other object."
T_PAIR_COLOR = "The objects are {a} and {b}."
T_PAIR_SHAPE = "The objects are a {a} and a {b}."
T_SO_SAME = "So the answer is {yn}."


def _make_color(scene: Scene, rng: random.Random, mc: bool) -> Question | None:
    cands = _unique(scene, lambda o: o.shape)
    if not cands:
        return None
    o = rng.choice(cands)
    choices = _choices(rng, o.color, list(COLORS), 4) if mc else None
    step = T_COLOR.format(shape=o.shape, color=o.color)
    return _q("color", {"shape": o.shape}, choices, o.color, [step], [COLOR])


def _make_shape(scene: Scene, rng: random.Random, mc: bool) -> Question | None:
    cands = _unique(scene, lambda o: o.color)
    if not cands:
        return None
    o = rng.choice(cands)
    choices = _choices(rng, o.shape, list(SHAPES), 3) if mc else None
    step = T_SHAPE.format(color=o.color, shape=o.shape)
    return _q("shape", {"color": o.color}, choices, o.shape, [step], [SHAPE])


def _make_count(scene: Scene, rng: random.Random, mc: bool) -> Question | None:
    n = len(scene)
    if not 1 <= n <= 4:
        return None
    choices = _count_choices(rng, n) if mc else None
    return _q("count", {}, choices, str(n), [T_COUNT.format(n=n)], [COUNT])


def _make_size(scene: Scene, rng: random.Random, mc: bool) -> Question | None:
    cands = _unique(scene, lambda o: (o.color, o.shape))
    if not cands:
        return None
    o = rng.choice(cands)
    choices = _choices(rng, o.size, list(SIZES), 2) if mc else None
    step = T_SIZE.format(color=o.color, shape=o.shape, size=o.size)
    return _q("size", {"color": o.color, "shape": o.shape}, choices, o.size, [step], [SIZE])


def _make_side(scene: Scene, rng: random.Random, mc: bool) -> Question | None:
    cands = _unique(scene, lambda o: (o.color, o.shape))
    if not cands:
        return None
    o = rng.choice(cands)
    choices = _choices(rng, o.side, ["left", "right"], 2) if mc else None
    step = T_SIDE.format(color=o.color, shape=o.shape, side=o.side)
    return _q("side", {"color": o.color, "shape": o.shape}, choices, o.side, [step], [SIDE])


def _items(objs: list[Obj], attr: str) -> str:
    return ", ".join(getattr(o, attr) for o in objs)


def _make_count_color(scene: Scene, rng: random.Random, mc: bool) -> Question | None:
    color = rng.choice(sorted({o.color for o in scene.objects}) if rng.random() < 0.85 else list(COLORS))
    objs = [o for o in scene.objects if o.color == color]
    first = (
        T_LIST_COLOR.format(color=color, items=_items(objs, "shape"))
        if objs
        else T_NONE_COLOR.format(color=color)
    )
    n = len(objs)
    choices = _count_choices(rng, n) if mc else None
    return _q(
        "count_color", {"color": color}, choices, str(n), [first, T_SO_COUNT.format(n=n)], [COUNT, COLOR]
    )


def _make_count_shape(scene: Scene, rng: random.Random, mc: bool) -> Question | None:
    shape = rng.choice(sorted({o.shape for o in scene.objects}) if rng.random() < 0.85 else list(SHAPES))
    objs = [o for o in scene.objects if o.shape == shape]
    pl = _plural(shape)
    first = (
        T_LIST_SHAPE.format(plural=pl, items=_items(objs, "color"))
        if objs
        else T_NONE_SHAPE.format(plural=pl)
    )
    n = len(objs)
    choices = _count_choices(rng, n) if mc else None
    return _q(
        "count_shape", {"shape": shape}, choices, str(n), [first, T_SO_COUNT.format(n=n)], [COUNT, SHAPE]
    )


def _make_side_count(scene: Scene, rng: random.Random, mc: bool) -> Question | None:
    side = rng.choice(["left", "right"])
    objs = [o for o in scene.objects if o.side == side]
    items = ", ".join(o.name() for o in objs)
    first = T_LIST_SIDE.format(side=side, items=items) if objs else T_NONE_SIDE.format(side=side)
    n = len(objs)
    choices = _count_choices(rng, n) if mc else None
    return _q("side_count", {"side": side}, choices, str(n), [first, T_SO_COUNT.format(n=n)], [COUNT, SIDE])


def _make_side_color(scene: Scene, rng: random.Random, mc: bool) -> Question | None:
    """What color is the object on the <side>? Only when exactly one object is on that side and one of another
    colour on the other side (so the side decides the answer)."""
    cands = []
    for o in scene.objects:
        here = [p for p in scene.objects if p.side == o.side]
        there = [p for p in scene.objects if p.side != o.side and p.color != o.color]
        if len(here) == 1 and there:
            cands.append(o)
    if not cands:
        return None
    o = rng.choice(cands)
    choices = _choices(rng, o.color, list(COLORS), 4) if mc else None
    step = T_SIDE.format(color=o.color, shape=o.shape, side=o.side)
    return _q("side_color", {"side": o.side}, choices, o.color, [step], [SIDE, COLOR])


def _make_size_color(scene: Scene, rng: random.Random, mc: bool) -> Question | None:
    """What color is the <size> object? Only when exactly one object has that size and another object of another
    size and colour exists (so the size decides the answer)."""
    cands = []
    for o in scene.objects:
        same = [p for p in scene.objects if p.size == o.size]
        other = [p for p in scene.objects if p.size != o.size and p.color != o.color]
        if len(same) == 1 and other:
            cands.append(o)
    if not cands:
        return None
    o = rng.choice(cands)
    choices = _choices(rng, o.color, list(COLORS), 4) if mc else None
    step = T_LARGE.format(size=o.size, shape=o.shape, color=o.color)
    return _q("size_color", {"size": o.size}, choices, o.color, [step], [SIZE, COLOR])


def _vertical(o: Obj, other: Obj) -> str | None:
    """'above'/'below' when the boxes do not overlap vertically, else None (ambiguous)."""
    if o.box[3] < other.box[1]:
        return "above"
    if o.box[1] > other.box[3]:
        return "below"
    return None


def _make_vertical(scene: Scene, rng: random.Random, mc: bool) -> Question | None:
    if len(scene) != 2:
        return None
    a, b = scene.objects
    if a.name() == b.name():
        return None
    o, other = (a, b) if rng.random() < 0.5 else (b, a)
    pos = _vertical(o, other)
    if pos is None:
        return None
    choices = _choices(rng, pos, ["above", "below"], 2) if mc else None
    step = T_VERTICAL.format(color=o.color, shape=o.shape, pos=pos)
    return _q("vertical", {"color": o.color, "shape": o.shape}, choices, pos, [step], [VERTICAL])


def _make_same(attr: str) -> Maker:
    def make(scene: Scene, rng: random.Random, mc: bool) -> Question | None:
        if len(scene) != 2:
            return None
        a, b = (getattr(o, attr) for o in scene.objects)
        yn = "yes" if a == b else "no"
        choices = _choices(rng, yn, ["yes", "no"], 2) if mc else None
        tpl = T_PAIR_COLOR if attr == "color" else T_PAIR_SHAPE
        fam, skill = ("same_color", COLOR_CMP) if attr == "color" else ("same_shape", SHAPE_CMP)
        return _q(fam, {}, choices, yn, [tpl.format(a=a, b=b), T_SO_SAME.format(yn=yn)], [skill])

    return make


FAMILIES: dict[str, Family] = {
    f.name: f
    for f in (
        Family("color", COLOR, (COLOR,), _make_color, "both"),
        Family("shape", SHAPE, (SHAPE,), _make_shape, "both"),
        Family("count", COUNT, (COUNT,), _make_count, "both"),
        Family("size", SIZE, (SIZE,), _make_size, "both"),
        Family("side", SIDE, (SIDE,), _make_side, "both"),
        Family("count_color", COUNT, (COUNT, COLOR), _make_count_color, "both"),
        Family("count_shape", COUNT, (COUNT, SHAPE), _make_count_shape, "both"),
        Family("side_count", SIDE, (SIDE, COUNT), _make_side_count, "both"),
        Family("side_color", SIDE, (SIDE, COLOR), _make_side_color, "both"),
        Family("size_color", SIZE, (SIZE, COLOR), _make_size_color, "both"),
        Family("vertical", VERTICAL, (VERTICAL,), _make_vertical, "both"),
        Family("same_color", COLOR_CMP, (COLOR_CMP,), _make_same("color"), "both"),
        Family("same_shape", SHAPE_CMP, (SHAPE_CMP,), _make_same("shape"), "both"),
    )
}

# The base student is asked these in pre-training (and sees every object's side and size in captions only).
BASE_FAMILIES: tuple[str, ...] = ("color", "shape", "count", "count_color", "count_shape")
# Never asked in pre-training; the target tasks probe them. The base perceives what they ask about (captions).
GAP_FAMILIES: tuple[str, ...] = ("side", "size", "side_count", "side_color", "size_color")
# In the pool only: skills no target task needs (retrieval must not be fooled by them).
DISTRACTOR_FAMILIES: tuple[str, ...] = ("vertical", "same_color", "same_shape")


def ask(
    family: str, scene: Scene, rng: random.Random, mc: bool, wordings: tuple[str, ...] | None = None
) -> Question | None:
    """A question of `family` about `scene`, or None when the scene does not support it.

    `wordings` None: one of the family's generic phrasings, drawn from `rng`; else one of the given templates
    (a target task's own wording).
    """
    q = FAMILIES[family].make(scene, rng, mc)
    if q is None:
        return None
    templates = wordings or GENERIC_WORDINGS[family]
    # a single template draws nothing from `rng`, so a task's splits stay what one wording makes them
    template = templates[rng.randrange(len(templates))] if len(templates) > 1 else templates[0]
    text = template.format(**q.slots)
    return Question(q.family, text, q.choices, q.answer, q.steps, q.skills, q.slots)


# ---------------------------------------------------------------- captions (distractors)

CAPTION_QUESTION = "Describe the image."


def describe(o: Obj) -> str:
    """One object in caption words: size, colour, shape and side."""
    return f"A {o.size} {o.color} {o.shape} on the {o.side}."


def caption(scene: Scene) -> str:
    """Every object with its size, colour, shape and side, in colour/shape order — NOT left to right: with a
    left-to-right order the side words follow from word order, and a student can write them without looking."""
    parts = [describe(o) for o in sorted(scene.objects, key=lambda o: (o.color, o.shape, o.size, o.cx, o.cy))]
    return " ".join(parts) if parts else "An empty image."


DESCRIBE_WORDINGS = ("Describe the {color} {shape}.", "Tell me about the {color} {shape}.")


# ---------------------------------------------------------------- parsing back questions and steps

_C = "|".join(COLORS)
_S = "|".join(SHAPES)
_Z = "|".join(SIZES)
_SLOT_RE = {"color": _C, "shape": _S, "size": _Z, "side": "left|right"}


def wording_pattern(template: str) -> re.Pattern[str]:
    """A template such as 'What color is the {shape}?' as a regex that matches its questions exactly."""
    parts = re.split(r"\{(\w+)\}", template)
    rx = "".join(
        re.escape(part) if i % 2 == 0 else f"(?P<{part}>{_SLOT_RE[part]})" for i, part in enumerate(parts)
    )
    return re.compile(f"^{rx}$")


@functools.lru_cache(maxsize=1)
def _generic_patterns() -> tuple[re.Pattern[str], ...]:
    return tuple(wording_pattern(t) for ts in GENERIC_WORDINGS.values() for t in ts)


def is_generic_wording(text: str) -> bool:
    """Does a question (first line) use one of the pool's generic wordings? Target tasks never do."""
    first = text.replace("<image>", "").strip().split("\n", 1)[0].strip()
    return first == CAPTION_QUESTION or any(p.match(first) for p in _generic_patterns())


def skills_of_family(family: str) -> list[str]:
    if family == "caption":
        return [DESCRIBE]
    return list(FAMILIES[family].skills)


@dataclass(frozen=True)
class Claim:
    """A parsed step: which template, its slots, the skill it exercises, the answer it implies (if any)."""

    template: str
    slots: dict[str, str]
    skill: str
    implies: str | None


def _split_items(s: str) -> list[str]:
    return [x.strip() for x in s.split(",") if x.strip()]


_STEP_PATTERNS: list[tuple[str, re.Pattern[str], str]] = [
    ("color", re.compile(rf"^The (?P<shape>{_S}) is (?P<color>{_C})\.?$"), COLOR),
    ("shape", re.compile(rf"^The (?P<color>{_C}) object is an? (?P<shape>{_S})\.?$"), SHAPE),
    ("count", re.compile(r"^I count (?P<n>\d+) objects?\.?$"), COUNT),
    ("size", re.compile(rf"^The (?P<color>{_C}) (?P<shape>{_S}) is (?P<size>{_Z})\.?$"), SIZE),
    ("side", re.compile(rf"^The (?P<color>{_C}) (?P<shape>{_S}) is on the (?P<side>left|right)\.?$"), SIDE),
    ("list_color", re.compile(rf"^The (?P<color>{_C}) objects are: (?P<items>.*?)\.?$"), COLOR),
    ("none_color", re.compile(rf"^There are no (?P<color>{_C}) objects\.?$"), COLOR),
    ("list_shape", re.compile(rf"^The (?P<shape>{_S})s are: (?P<items>.*?)\.?$"), SHAPE),
    ("none_shape", re.compile(rf"^There are no (?P<shape>{_S})s\.?$"), SHAPE),
    ("list_side", re.compile(r"^On the (?P<side>left|right): (?P<items>.*?)\.?$"), SIDE),
    ("none_side", re.compile(r"^Nothing is on the (?P<side>left|right)\.?$"), SIDE),
    ("so_count", re.compile(r"^So there are (?P<n>\d+)\.?$"), COUNT),
    ("size_color", re.compile(rf"^The (?P<size>{_Z}) (?P<shape>{_S}) is (?P<color>{_C})\.?$"), SIZE),
    (
        "vertical",
        re.compile(rf"^The (?P<color>{_C}) (?P<shape>{_S}) is (?P<pos>above|below) the other object\.?$"),
        VERTICAL,
    ),
    ("pair_color", re.compile(rf"^The objects are (?P<a>{_C}) and (?P<b>{_C})\.?$"), COLOR_CMP),
    ("pair_shape", re.compile(rf"^The objects are an? (?P<a>{_S}) and an? (?P<b>{_S})\.?$"), SHAPE_CMP),
    ("so_same", re.compile(r"^So the answer is (?P<yn>yes|no)\.?$"), COLOR_CMP),
]
_IMPLIES = {
    "color": "color",
    "shape": "shape",
    "count": "n",
    "size": "size",
    "so_count": "n",
    "size_color": "color",
    "vertical": "pos",
    "so_same": "yn",
}


def parse_step(step: str, family: str | None = None) -> Claim | None:
    """Parse a step written with one of our templates, or None. `family` disambiguates what a step implies
    (a `side` step implies the side in the `side` family, the colour in `side_color`)."""
    text = step.strip()
    for template, pat, skill in _STEP_PATTERNS:
        m = pat.match(text)
        if m:
            slots = {k: v for k, v in m.groupdict().items() if v is not None}
            key = _IMPLIES.get(template)
            if template == "side":
                key = "color" if family == "side_color" else "side"
            return Claim(template, slots, skill, slots.get(key) if key else None)
    return None


@dataclass(frozen=True)
class Verdict:
    ok: bool
    skill: str
    explanation: str


def _mark(objs: list[Obj], attr: str) -> list[str]:
    return sorted(getattr(o, attr) for o in objs)


def check_step(claim: Claim, scene: Scene) -> Verdict:
    """Is the step's claim true of the scene? If not, which skill would have got it right, and why."""
    s, objs = claim.slots, scene.objects
    t = claim.template
    if t == "color":
        match = [o for o in objs if o.shape == s["shape"]]
        if not match:
            return Verdict(False, SHAPE, f"there is no {s['shape']} in the image")
        if any(o.color == s["color"] for o in match):
            return Verdict(True, COLOR, "")
        return Verdict(False, COLOR, f"the {s['shape']} is {match[0].color}, not {s['color']}")
    if t == "shape":
        match = [o for o in objs if o.color == s["color"]]
        if not match:
            return Verdict(False, COLOR, f"there is no {s['color']} object in the image")
        if any(o.shape == s["shape"] for o in match):
            return Verdict(True, SHAPE, "")
        return Verdict(False, SHAPE, f"the {s['color']} object is a {match[0].shape}, not a {s['shape']}")
    if t == "count":
        n = len(objs)
        ok = int(s["n"]) == n
        return Verdict(ok, COUNT, "" if ok else f"there are {n} objects, not {s['n']}")
    if t in ("size", "side"):
        match = [o for o in objs if o.color == s["color"] and o.shape == s["shape"]]
        attr = t
        skill = SIZE if t == "size" else SIDE
        if not match:
            return _missing(objs, s["color"], s["shape"], side=s.get("side"))
        if any(getattr(o, attr) == s[attr] for o in match):
            return Verdict(True, skill, "")
        return Verdict(
            False, skill, f"the {s['color']} {s['shape']} is {_phrase(attr, getattr(match[0], attr))}"
        )
    if t in ("list_color", "none_color"):
        real = [o for o in objs if o.color == s["color"]]
        said = sorted(_split_items(s.get("items", "")))
        if said == _mark(real, "shape"):
            return Verdict(True, COLOR, "")
        if len(said) == len(real):
            return Verdict(False, SHAPE, f"the {s['color']} objects are: {', '.join(_mark(real, 'shape'))}")
        return Verdict(False, COLOR, f"there are {len(real)} {s['color']} objects, not {len(said)}")
    if t in ("list_shape", "none_shape"):
        real = [o for o in objs if o.shape == s["shape"]]
        said = sorted(_split_items(s.get("items", "")))
        if said == _mark(real, "color"):
            return Verdict(True, SHAPE, "")
        if len(said) == len(real):
            return Verdict(False, COLOR, f"the {s['shape']}s are: {', '.join(_mark(real, 'color'))}")
        return Verdict(False, SHAPE, f"there are {len(real)} {s['shape']}s, not {len(said)}")
    if t in ("list_side", "none_side"):
        real = sorted(o.name() for o in objs if o.side == s["side"])
        said = sorted(_split_items(s.get("items", "")))
        if said == real:
            return Verdict(True, SIDE, "")
        return Verdict(False, SIDE, f"on the {s['side']} there are: {', '.join(real) or 'no objects'}")
    if t == "so_count":
        return Verdict(True, COUNT, "")  # checked against the previous step by `check_steps`
    if t == "size_color":
        same = [o for o in objs if o.shape == s["shape"]]
        if not same:
            return Verdict(False, SHAPE, f"there is no {s['shape']} in the image")
        sized = [o for o in same if o.size == s["size"]]
        if any(o.color == s["color"] for o in sized):
            return Verdict(True, SIZE, "")
        if any(o.color == s["color"] for o in same):
            return Verdict(False, SIZE, f"the {s['color']} {s['shape']} is not {s['size']}")
        if sized:
            return Verdict(
                False, COLOR, f"the {s['size']} {s['shape']} is {sized[0].color}, not {s['color']}"
            )
        return Verdict(False, SIZE, f"there is no {s['size']} {s['shape']}")
    if t == "vertical":
        match = [o for o in objs if o.color == s["color"] and o.shape == s["shape"]]
        if not match:
            return _missing(objs, s["color"], s["shape"], side=None)
        others = [o for o in objs if o is not match[0]]
        pos = _vertical(match[0], others[0]) if others else None
        if pos == s["pos"]:
            return Verdict(True, VERTICAL, "")
        return Verdict(False, VERTICAL, f"the {s['color']} {s['shape']} is not {s['pos']} the other object")
    if t in ("pair_color", "pair_shape"):
        attr, skill = ("color", COLOR_CMP) if t == "pair_color" else ("shape", SHAPE_CMP)
        if sorted([s["a"], s["b"]]) == _mark(list(objs), attr):
            return Verdict(True, skill, "")
        base = COLOR if attr == "color" else SHAPE
        return Verdict(False, base, f"the objects are {' and '.join(_mark(list(objs), attr))}")
    if t == "so_same":
        return Verdict(True, COLOR_CMP, "")  # checked against the previous step by `check_steps`
    return Verdict(False, COLOR, "unrecognised claim")


def _phrase(attr: str, value: str) -> str:
    return f"on the {value}" if attr == "side" else value


def _missing(objs: tuple[Obj, ...], color: str, shape: str, side: str | None) -> Verdict:
    """No object has both the colour and the shape claimed: blame colour if the shape exists where claimed."""
    shaped = [o for o in objs if o.shape == shape and (side is None or o.side == side)]
    if shaped:
        return Verdict(False, COLOR, f"there is no {color} {shape}; the {shape} there is {shaped[0].color}")
    if any(o.color == color for o in objs):
        return Verdict(False, SHAPE, f"there is no {color} {shape} in the image")
    return Verdict(False, COLOR, f"there is no {color} object in the image")


def check_steps(
    steps: list[str], scene: Scene, family: str | None = None
) -> tuple[int | None, Verdict | None]:
    """The first wrong step (1-based) and its verdict, or (None, None) when every step checks out.

    A step we cannot parse counts as wrong (blamed on the question family's skill). A closing count
    ('So there are N.') must match the items listed in the step before it.
    """
    fam_skill = FAMILIES[family].skill if family in FAMILIES else COLOR
    last_items: int | None = None
    last_pair: tuple[str, str] | None = None
    for i, step in enumerate(steps, start=1):
        claim = parse_step(step, family)
        if claim is None:
            return i, Verdict(False, fam_skill, f"step {i} does not state a fact about the image clearly")
        v = check_step(claim, scene)
        if claim.template == "so_count" and last_items is not None and int(claim.slots["n"]) != last_items:
            v = Verdict(False, COUNT, f"the previous step lists {last_items} objects, not {claim.slots['n']}")
        if claim.template == "so_same" and last_pair is not None:
            same = "yes" if last_pair[0] == last_pair[1] else "no"
            if claim.slots["yn"] != same:
                v = Verdict(
                    False,
                    fam_skill,
                    f"the previous step names {' and '.join(last_pair)}: the answer is {same}",
                )
        if not v.ok:
            return i, v
        last_items = len(_split_items(claim.slots["items"])) if "items" in claim.slots else None
        last_pair = (claim.slots["a"], claim.slots["b"]) if "a" in claim.slots else None
        if claim.template.startswith("none_"):
            last_items = 0
    return None, None
