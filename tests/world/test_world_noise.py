"""The reference teacher's noise profiles over real HTTP on loopback: realistic errors, deterministic draws."""

from __future__ import annotations

import base64
import json
import urllib.request
from collections import defaultdict
from collections.abc import Iterator
from typing import Any

import pytest

from edtune.errors import InputError
from edtune.schemas import MistakeReply
from edtune.shapes.world.families import canonical_skill
from edtune.shapes.world.inject import injected_traces
from edtune.shapes.world.noise import NOISE_PROFILES, get_profile
from edtune.shapes.world.reference_teacher import start_reference_teacher
from edtune.shapes.world.scenes import Scene, render_png
from edtune.teacher import prompts


def _post(url: str, body: dict[str, Any]) -> Any:
    req = urllib.request.Request(
        url + "/v1/chat/completions",
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(req, timeout=10) as resp:
        return json.loads(resp.read())["choices"][0]["message"]["content"]


def _uri(scene: Scene) -> str:
    return "data:image/png;base64," + base64.b64encode(render_png(scene)).decode()


@pytest.fixture(scope="module")
def noisy() -> Iterator[str]:
    server, url = start_reference_teacher("127.0.0.1", 0, noise=get_profile("realistic", seed=7))
    yield url
    server.shutdown()


def _judge(url: str, n: int, seed: str) -> list[tuple[int, str, MistakeReply]]:
    out = []
    for scene, q, k, steps, skill in injected_traces(n, seed):
        msgs = prompts.build_judge(q.question, q.choices, q.answer, steps, "?", _uri(scene))
        out.append((k, skill, MistakeReply.model_validate_json(_post(url, {"messages": msgs}))))
    return out


def test_realistic_judge_errs_at_the_configured_rates_not_like_an_oracle(noisy: str) -> None:
    rows = _judge(noisy, 240, "noise-rates")
    step_acc = sum(r.erroneous_step == k for k, _, r in rows) / len(rows)
    skill_acc = sum(canonical_skill(r.missing_skills[0].name) == s for _, s, r in rows) / len(rows)
    assert 0.58 <= step_acc <= 0.82, step_acc  # profile: 30% wrong steps
    assert 0.70 <= skill_acc <= 0.95, skill_acc  # profile: 15% wrong skills
    assert skill_acc < 1.0 and step_acc < 1.0


def test_realistic_teacher_paraphrases_each_skill_at_least_three_ways(noisy: str) -> None:
    names: dict[str, set[str]] = defaultdict(set)
    for _, _, r in _judge(noisy, 240, "noise-phrases"):
        name = r.missing_skills[0].name
        names[canonical_skill(name) or "?"].add(name)
    assert "?" not in names, names["?"]  # every phrasing is one the world knows
    common = [s for s, ns in names.items() if len(ns) >= 3]
    assert len(common) >= 3, {s: sorted(ns) for s, ns in names.items()}


def test_noise_is_a_function_of_the_request_so_replies_repeat_exactly(noisy: str) -> None:
    (scene, q, _k, steps, _s), *_ = list(injected_traces(1, "repeat"))
    msgs = prompts.build_judge(q.question, q.choices, q.answer, steps, "?", _uri(scene))
    first = [_post(noisy, {"messages": msgs}) for _ in range(3)]
    assert first[0] == first[1] == first[2]
    tag_msgs = prompts.build_tag([("human", "<image>\nHow many objects are there?"), ("gpt", "2")])
    assert _post(noisy, {"messages": tag_msgs}) == _post(noisy, {"messages": tag_msgs})


def test_another_noise_seed_draws_other_errors() -> None:
    a, b = get_profile("realistic", 1), get_profile("realistic", 2)
    draws_a = [a.draw("step", i) < a.step_error for i in range(400)]
    draws_b = [b.draw("step", i) < b.step_error for i in range(400)]
    assert draws_a != draws_b
    assert 0.22 <= sum(draws_a) / 400 <= 0.38  # the rate holds for any seed


def test_exact_profile_never_errs_and_unknown_profiles_are_refused() -> None:
    exact = NOISE_PROFILES["exact"]
    assert exact.phrase("spatial relations left right", "x") == "spatial relations left right"
    assert exact.step_error == exact.skill_error == exact.tag_miss == exact.tag_wrong == 0.0
    with pytest.raises(InputError, match="unknown noise profile 'loud'"):
        get_profile("loud")
