"""The reference teacher over real HTTP on loopback: judge, skill, tag and answer-switch, and bad requests."""

from __future__ import annotations

import base64
import json
import random
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest

from edtune.schemas import MistakeReply
from edtune.shapes.world.families import (
    FAMILIES,
    Question,
    ask,
    parse_step,
)
from edtune.shapes.world.generate import generate_world
from edtune.shapes.world.inject import corrupt, injected_traces
from edtune.shapes.world.reference_teacher import start_reference_teacher
from edtune.shapes.world.scenes import Scene, make_scene, render_png
from edtune.teacher import prompts


@pytest.fixture(scope="module")
def teacher() -> Iterator[tuple[Any, str]]:
    server, url = start_reference_teacher("127.0.0.1", 0)
    yield server, url
    server.shutdown()


def post(url: str, body: dict[str, Any] | bytes, headers: dict[str, str] | None = None) -> tuple[int, Any]:
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    req = urllib.request.Request(
        url + "/v1/chat/completions",
        data=data,
        headers={"Content-Type": "application/json", **(headers or {})},
    )
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def data_uri(scene: Scene) -> str:
    return "data:image/png;base64," + base64.b64encode(render_png(scene)).decode()


def test_judge_finds_the_injected_wrong_step_and_its_skill(teacher: tuple[Any, str]) -> None:
    _, url = teacher
    step_hits = skill_hits = family_hits = total = 0
    for scene, q, k, steps, skill in injected_traces(200, "judge"):
        msgs = prompts.build_judge(q.question, q.choices, q.answer, steps, "?", data_uri(scene))
        status, body = post(
            url,
            {
                "messages": msgs,
                "max_tokens": 400,
                "response_format": prompts.response_format(MistakeReply.model_json_schema(), "tgi"),
            },
        )
        assert status == 200, body
        reply = MistakeReply.model_validate_json(body["choices"][0]["message"]["content"])
        total += 1
        step_hits += reply.erroneous_step == k
        skill_hits += reply.missing_skills[0].name == skill
        family_hits += reply.missing_skills[0].name in FAMILIES[q.family].skills
    assert step_hits / total >= 0.95, (step_hits, total)
    assert skill_hits / total >= 0.95, (skill_hits, total)
    assert family_hits / total >= 0.95, (family_hits, total)


def test_judge_reports_no_wrong_step_on_a_correct_trace(teacher: tuple[Any, str]) -> None:
    _, url = teacher
    rng = random.Random("correct")
    for fam in FAMILIES:
        while (q := ask(fam, (scene := make_scene(rng)), rng, mc=True)) is None:
            pass
        msgs = prompts.build_judge(q.question, q.choices, q.answer, q.steps, q.answer, data_uri(scene))
        status, body = post(url, {"messages": msgs})
        assert status == 200, body
        reply = MistakeReply.model_validate_json(body["choices"][0]["message"]["content"])
        assert reply.erroneous_step == len(q.steps) + 1 and reply.explanation.startswith("No wrong step"), fam


def letter_distribution(url: str, q: Question, steps: list[str], prior: float = 0.6) -> dict[str, float]:
    assert q.choices is not None
    msgs = prompts.build_answer_switch(q.question, q.choices, q.choices.index(q.answer), prior, steps)
    status, body = post(url, {"messages": msgs, **prompts.answer_switch_params(len(q.choices))})
    assert status == 200, body
    top = body["choices"][0]["logprobs"]["content"][0]["top_logprobs"]
    return prompts.option_distribution(top, len(q.choices))


def test_answer_switch_keeps_the_gold_ahead_on_correct_traces_and_switches_at_the_wrong_step(
    teacher: tuple[Any, str],
) -> None:
    _, url = teacher
    rng = random.Random("switch")
    checked = 0
    for fam in ("color", "shape", "size", "side", "side_color", "size_color", "count"):
        for _ in range(6):
            while (q := ask(fam, (scene := make_scene(rng)), rng, mc=True)) is None:
                pass
            assert q.choices is not None
            gold = "ABCD"[q.choices.index(q.answer)]
            for n in range(len(q.steps) + 1):  # every prefix of a correct trace keeps the gold on top
                dist = letter_distribution(url, q, q.steps[:n])
                assert max(dist, key=dist.get) == gold  # type: ignore[arg-type]
            bad = corrupt(q, 0, rng, scene)
            if bad is None:
                continue
            steps = bad[0]
            claim = parse_step(steps[0], fam)
            if claim is not None and claim.implies in q.choices and claim.implies != q.answer:
                dist = letter_distribution(url, q, steps[:1])
                assert max(dist, key=dist.get) != gold  # type: ignore[arg-type]
                checked += 1
    assert checked >= 20


def test_skill_analysis_names_the_skill_of_the_wrong_step(teacher: tuple[Any, str]) -> None:
    _, url = teacher
    hits = total = 0
    for scene, q, k, steps, skill in injected_traces(100, "skill"):
        msgs = prompts.build_skill(q.question, steps, k, "it is wrong", data_uri(scene))
        status, body = post(
            url,
            {
                "messages": msgs,
                "response_format": {"type": "json_object", "value": prompts.SkillReply.model_json_schema()},
            },
        )
        assert status == 200, body
        reply = prompts.SkillReply.model_validate_json(body["choices"][0]["message"]["content"])
        total += 1
        hits += reply.name == skill
    assert hits / total >= 0.95


def test_tagging_matches_the_sidecar_family_skills(teacher: tuple[Any, str], tmp_path: Any) -> None:
    _, url = teacher
    generate_world(tmp_path, seed=3, pool_size=300, val_size=2, test_size=2, progress=False)
    pool = [json.loads(x) for x in (tmp_path / "pool.jsonl").read_text().splitlines()]
    labels = {r["id"]: r for r in map(json.loads, (tmp_path / "pool.labels.jsonl").read_text().splitlines())}
    (tmp_path / "pool.labels.jsonl").unlink()  # the teacher cannot have read it
    hits = 0
    for rec in pool:
        turns = [(t["from"], t["value"]) for t in rec["conversations"]]
        img = "data:image/png;base64," + base64.b64encode((tmp_path / rec["image"]).read_bytes()).decode()
        status, body = post(url, {"messages": prompts.build_tag(turns, img)})
        assert status == 200, body
        got = prompts.TagReply.model_validate_json(body["choices"][0]["message"]["content"]).skills
        hits += set(got) == set(labels[rec["id"]]["skills"][:5])
    assert hits / len(pool) >= 0.95


BAD_REQUESTS = [
    ("not json", b"{nope", 400),
    ("not an object", b"[1, 2]", 400),
    ("no messages", {"model": "x"}, 400),
    ("untagged", {"messages": [{"role": "user", "content": "hi"}]}, 400),
    (
        "bad max_tokens",
        {"messages": prompts.build_tag([("human", "Describe the image.")]), "max_tokens": 0},
        400,
    ),
    (
        "bad response_format",
        {"messages": prompts.build_tag([("human", "x")]), "response_format": {"type": "xml"}},
        400,
    ),
    ("stream", {"messages": prompts.build_tag([("human", "x")]), "stream": True}, 400),
    (
        "judge without gold",
        {
            "messages": [
                {"role": "system", "content": prompts.SYSTEM["judge"]},
                {"role": "user", "content": "Question: q"},
            ]
        },
        400,
    ),
    (
        "remote image",
        {
            "messages": prompts.build_judge(
                "What color is the circle?",
                None,
                "red",
                ["The circle is red."],
                "red",
                "http://example.com/x.png",
            )
        },
        400,
    ),
    (
        "garbage image",
        {
            "messages": prompts.build_judge(
                "What color is the circle?",
                None,
                "red",
                ["The circle is red."],
                "red",
                "data:image/png;base64,AAAA",
            )
        },
        400,
    ),
]


@pytest.mark.parametrize(("name", "body", "status"), BAD_REQUESTS, ids=[b[0] for b in BAD_REQUESTS])
def test_malformed_requests_get_openai_style_4xx_errors(
    teacher: tuple[Any, str], name: str, body: Any, status: int
) -> None:
    _, url = teacher
    got, payload = post(url, body)
    assert got == status
    assert payload["error"]["type"] == "invalid_request_error" and payload["error"]["message"]


def test_oversized_bodies_are_refused_with_413_before_reading_them(teacher: tuple[Any, str]) -> None:
    import http.client
    from urllib.parse import urlparse

    _, url = teacher
    u = urlparse(url)
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=10)
    conn.putrequest("POST", "/v1/chat/completions")
    conn.putheader("Content-Type", "application/json")
    conn.putheader("Content-Length", str(100 * 1024 * 1024))
    conn.endheaders()  # no body sent: the server must answer from the header alone
    resp = conn.getresponse()
    payload = json.loads(resp.read())
    conn.close()
    assert resp.status == 413 and "max" in payload["error"]["message"]


def test_max_tokens_truncates_the_reply_and_says_so(teacher: tuple[Any, str]) -> None:
    _, url = teacher
    msgs = prompts.build_tag([("human", "<image>\nHow many red objects are there?")])
    _, body = post(url, {"messages": msgs, "max_tokens": 3})
    assert body["choices"][0]["finish_reason"] == "length"
    assert body["usage"]["completion_tokens"] == 3


def test_info_models_health_and_request_counts(teacher: tuple[Any, str]) -> None:
    server, url = teacher
    for path, key in (("/health", "status"), ("/v1/models", "data"), ("/info", "model_id")):
        with urllib.request.urlopen(url + path, timeout=5) as resp:
            assert key in json.loads(resp.read())
    before = server.request_counts["tag"]
    post(url, {"messages": prompts.build_tag([("human", "Describe the image.")])})
    assert server.request_counts["tag"] == before + 1


def test_huggingface_hub_client_gets_schema_constrained_json(
    teacher: tuple[Any, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The maintained TGI client rewrites json_schema to json_object; the server must honour both.

    HF_HUB_OFFLINE=1 (set for the suite) also blocks InferenceClient calls to loopback, so it is lifted here."""
    from huggingface_hub import InferenceClient, constants

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)

    _, url = teacher
    scene = make_scene(random.Random("hub"))
    q = next(q for f in FAMILIES if (q := ask(f, scene, random.Random(1), mc=False)) is not None)
    msgs = prompts.build_judge(q.question, None, q.answer, q.steps, q.answer, data_uri(scene))
    out = InferenceClient(base_url=url).chat_completion(
        messages=msgs,
        response_format=prompts.response_format(MistakeReply.model_json_schema(), "openai"),
        max_tokens=300,
    )
    MistakeReply.model_validate_json(out.choices[0].message.content or "")
