"""Traces with a known injected error: gold rationales with one step made false, and the skill that step needs.

What mistake identification is scored against without circularity (the teacher's answer is compared with the
injection, not with the world's own checker): used by the reference-teacher tests and by
`benchmarks/teacher_noise.py`.
"""

from __future__ import annotations

import random
from collections.abc import Iterator

from edtune.shapes.world.families import (
    COLOR,
    COUNT,
    FAMILIES,
    SHAPE,
    SIDE,
    SIZE,
    VERTICAL,
    Question,
    ask,
    parse_step,
)
from edtune.shapes.world.scenes import COLORS, SHAPES, Scene, make_scene

SLOT_SKILL: dict[str, str] = {
    "color": COLOR,
    "shape": SHAPE,
    "n": COUNT,
    "size": SIZE,
    "side": SIDE,
    "pos": VERTICAL,
}
LIST_SKILL: dict[str, str] = {
    "list_color": COLOR,
    "none_color": COLOR,
    "list_shape": SHAPE,
    "none_shape": SHAPE,
}
LIST_SKILL |= {"list_side": SIDE, "none_side": SIDE}
VALUES: dict[str, list[str]] = {
    "color": list(COLORS),
    "shape": list(SHAPES),
    "size": ["small", "large"],
    "side": ["left", "right"],
}
VALUES["pos"] = ["above", "below"]


def corrupt(q: Question, k: int, rng: random.Random, scene: Scene) -> tuple[list[str], str] | None:
    """Gold steps with step k (0-based) made false: (steps, the skill that step exercises), or None."""
    claim = parse_step(q.steps[k], q.family)
    assert claim is not None
    s = dict(claim.slots)
    if claim.template in LIST_SKILL:
        items = [x.strip() for x in s.get("items", "").split(",") if x.strip()]
        pool = VALUES["shape"] if "color" in s else VALUES["color"] if "shape" in s else ["red circle"]
        if items:
            items.pop()
        else:
            items = [rng.choice(pool)]
        head = {
            "list_color": f"The {s.get('color')} objects are: ",
            "none_color": f"The {s.get('color')} objects are: ",
        }
        head |= {"list_shape": f"The {s.get('shape')}s are: ", "none_shape": f"The {s.get('shape')}s are: "}
        head |= {"list_side": f"On the {s.get('side')}: ", "none_side": f"On the {s.get('side')}: "}
        text = (
            head[claim.template] + ", ".join(items) + "."
            if items
            else {
                "list_color": f"There are no {s.get('color')} objects.",
                "list_shape": f"There are no {s.get('shape')}s.",
                "list_side": f"Nothing is on the {s.get('side')}.",
            }[claim.template]
        )
        steps = list(q.steps)
        steps[k] = text
        return steps, LIST_SKILL[claim.template]
    # the slot the step answers with (what the question asks), or for size_color sometimes its size
    slot = next(key for key, v in s.items() if v == claim.implies)
    if claim.template == "size_color" and rng.random() < 0.5:
        slot = "size"
    old = s[slot]
    if slot == "size":
        new = "large" if old == "small" else "small"
        if any(o.shape == s["shape"] and o.size == new and o.color == s["color"] for o in scene.objects):
            return None  # the changed claim would still be true of some object
    elif slot == "n":
        new = str((int(old) + rng.choice([1, 2])) % 5)
    else:  # a colour no object of that shape has: the error is plainly about colour, not position or size
        taken = {o.color for o in scene.objects if o.shape == s.get("shape")} if slot == "color" else set()
        new = rng.choice([v for v in VALUES[slot] if v != old and v not in taken])
    steps = list(q.steps)
    pos = {"n": None}.get(slot, 0)
    steps[k] = (
        q.steps[k].replace(old, new, 1) if pos is not None else q.steps[k].replace(f" {old}", f" {new}", 1)
    )
    return steps, SLOT_SKILL[slot]


def injected_traces(
    n: int, seed: str, families: list[str] | None = None, wordings: dict[str, tuple[str, ...]] | None = None
) -> Iterator[tuple[Scene, Question, int, list[str], str]]:
    rng = random.Random(seed)
    fams = families or [f for f in FAMILIES if not f.startswith("same_")]  # yes/no pairs: no slot to corrupt
    made = 0
    while made < n:
        scene = make_scene(rng)
        fam = fams[made % len(fams)]
        q = ask(fam, scene, rng, mc=rng.random() < 0.5, wordings=(wordings or {}).get(fam))
        if q is None:
            continue
        k = rng.randrange(len(q.steps))
        bad = corrupt(q, k, rng, scene)
        if bad is None:
            continue
        steps, skill = bad
        yield scene, q, k + 1, steps, skill
        made += 1
