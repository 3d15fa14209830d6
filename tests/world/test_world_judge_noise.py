"""The noisy reference judge blames a step of the trace itself, and a re-ask (the request carries the client's
error note) draws afresh, deterministically; first asks draw exactly as before."""

from __future__ import annotations

import base64
import json
import random

from edtune.schemas import MistakeReply
from edtune.shapes.world.families import ask
from edtune.shapes.world.noise import get_profile
from edtune.shapes.world.reference_teacher import complete
from edtune.shapes.world.scenes import make_scene, render_png
from edtune.teacher import prompts


def _judge_body(steps: list[str], seed: int, reask: bool) -> dict:
    rng = random.Random(seed)
    scene = make_scene(rng, 1)
    q = ask("side", scene, rng, mc=True)
    assert q is not None
    uri = "data:image/png;base64," + base64.b64encode(render_png(scene)).decode()
    msgs = prompts.build_judge(q.question, q.choices, q.answer, steps, "circle", uri)
    if reask:
        msgs = prompts.with_error_note(msgs, "erroneous_step 2 is out of range")
    return {"messages": msgs, "max_tokens": 400}


def _step(body: dict, noise) -> int:  # type: ignore[no-untyped-def]
    _, out = complete(body, noise)
    return MistakeReply.model_validate_json(out["choices"][0]["message"]["content"]).erroneous_step


def test_a_one_step_trace_is_never_blamed_on_a_step_it_does_not_have() -> None:
    noise = get_profile("realistic")
    for seed in range(60):
        for reask in (False, True):
            assert _step(_judge_body(["The shape is a yellow square."], seed, reask), noise) == 1


def test_a_reask_draws_afresh_and_deterministically() -> None:
    noise = get_profile("realistic")
    steps = ["I look at the picture.", "The shape is a yellow square.", "It is big."]
    first = [_step(_judge_body(steps, seed, False), noise) for seed in range(60)]
    again = [_step(_judge_body(steps, seed, True), noise) for seed in range(60)]
    assert first == [_step(_judge_body(steps, seed, False), noise) for seed in range(60)]
    assert again == [_step(_judge_body(steps, seed, True), noise) for seed in range(60)]
    assert first != again  # the re-ask is keyed on the attempt too
    assert all(1 <= s <= len(steps) for s in first + again)
    assert json.dumps(first)  # every reply parsed as a MistakeReply
