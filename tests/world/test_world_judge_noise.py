"""A re-ask of the noisy reference judge (the request carries the client's error note) draws afresh,
deterministically, so a one-step trace blamed on a step it does not have is mostly recovered by the re-ask."""

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


def test_a_reask_recovers_most_one_step_traces_the_first_ask_blamed_on_a_missing_step() -> None:
    noise = get_profile("realistic")
    one_step = ["The shape is a yellow square."]
    first = [_step(_judge_body(one_step, seed, False), noise) for seed in range(200)]
    missed = [seed for seed, s in enumerate(first) if s != 1]
    assert 0.15 <= len(missed) / 200 <= 0.45  # the profile's 30% step errors, all of them misses here
    again = [_step(_judge_body(one_step, seed, True), noise) for seed in missed]
    assert sum(s == 1 for s in again) / len(again) >= 0.55  # a fresh draw: right again ~70% of the time


def test_a_reask_draws_afresh_and_deterministically() -> None:
    noise = get_profile("realistic")
    steps = ["I look at the picture.", "The shape is a yellow square.", "It is big."]
    first = [_step(_judge_body(steps, seed, False), noise) for seed in range(60)]
    again = [_step(_judge_body(steps, seed, True), noise) for seed in range(60)]
    assert first == [_step(_judge_body(steps, seed, False), noise) for seed in range(60)]
    assert again == [_step(_judge_body(steps, seed, True), noise) for seed in range(60)]
    assert first != again  # the re-ask is keyed on the attempt too
    assert all(1 <= s <= len(steps) + 1 for s in first + again)  # len + 1: "no wrong step", a miss
    assert json.dumps(first)  # every reply parsed as a MistakeReply
