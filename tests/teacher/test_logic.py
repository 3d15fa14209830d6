"""Pure pieces of the teacher: answer matching, the switch rule, reply parsing, the re-ask note."""

from __future__ import annotations

from pathlib import Path

import pytest

from edtune.config import TeacherConfig
from edtune.teacher import prompts
from edtune.teacher.annotate import annotate_pool
from edtune.teacher.client import ChatReply, extract_json
from edtune.teacher.diagnose import choice_index, switch_step, validate_judge

from .fault_server import FaultTeacher, RunningTeacher

CHOICES = ["red", "blue", "green"]


@pytest.mark.parametrize(
    ("answer", "expected"),
    [("blue", 1), (" Blue. ", 1), ("B", 1), ("(B)", 1), ("B. blue", 1), ("C) green", 2), ("D", None),
     ("B. red", None), ("purple", None), (None, None)],
)  # fmt: skip
def test_student_answer_is_matched_to_a_choice_by_text_or_letter(
    answer: str | None, expected: int | None
) -> None:
    assert choice_index(answer, CHOICES) == expected


def _d(a: float, b: float) -> dict[str, float]:
    return {"A": a, "B": b}


# (distributions after k=0..n steps, gold, pred, delta, persist, expected step)
SWITCH = [
    ([_d(0.6, 0.4), _d(0.6, 0.4), _d(0.1, 0.9)], 0, 1, 0.1, 1, 2),
    ([_d(0.6, 0.4), _d(0.46, 0.54), _d(0.1, 0.9)], 0, 1, 0.1, 1, 2),  # margin 0.08 is not > delta
    ([_d(0.6, 0.4), _d(0.2, 0.8), _d(0.7, 0.3), _d(0.1, 0.9)], 0, 1, 0.1, 2, 3),  # step 1 does not persist
    ([_d(0.6, 0.4), _d(0.2, 0.8), _d(0.7, 0.3), _d(0.1, 0.9)], 0, 1, 0.1, 1, 1),
    ([_d(0.6, 0.4), _d(0.6, 0.4)], 0, 1, 0.1, 1, None),  # never switches
    ([_d(0.6, 0.4), _d(0.1, 0.9)], 0, None, 0.1, 1, 1),  # pred unknown: strongest wrong option
    ([_d(0.1, 0.9), _d(0.1, 0.9)], 0, 1, 0.1, 1, 1),  # k=0 is never blamed
]


@pytest.mark.parametrize(("dists", "gold", "pred", "delta", "persist", "expected"), SWITCH)
def test_erroneous_step_is_the_first_persistent_switch(
    dists: list[dict[str, float]],
    gold: int,
    pred: int | None,
    delta: float,
    persist: int,
    expected: int | None,
) -> None:
    assert switch_step(dists, gold, pred, delta, persist)[0] == expected


@pytest.mark.parametrize(
    ("content", "ok"),
    [('{"a": 1}', True), ('```json\n{"a": 1}\n```', True), ('Sure: {"a": 1} done', True), ("", False),
     ("no json here", False)],
)  # fmt: skip
def test_reply_json_is_found_in_fences_and_prose(content: str, ok: bool) -> None:
    if ok:
        assert extract_json(content) == {"a": 1}
    else:
        with pytest.raises(ValueError):
            extract_json(content)


@pytest.mark.parametrize(
    ("reply", "error"),
    [('{"erroneous_step": 0, "explanation": "x", "missing_skills": [{"name": "a"}]}', "out of range"),
     ('{"erroneous_step": 4, "explanation": "x", "missing_skills": [{"name": "a"}]}', "out of range"),
     ('{"erroneous_step": 2, "explanation": "x", "missing_skills": []}', "missing_skills"),
     ('{"erroneous_step": 2, "explanation": "x", "missing_skills": [{"name": "  "}]}', "name"),
     ('{"step": 2}', "erroneous_step")],
)  # fmt: skip
def test_judge_replies_out_of_range_or_incomplete_are_rejected(reply: str, error: str) -> None:
    with pytest.raises(ValueError, match=error):
        validate_judge(ChatReply(content=reply), n_steps=3)


def test_error_note_keeps_every_request_parseable() -> None:
    asw = prompts.build_answer_switch("Q?", ["a", "b"], 0, 0.6, ["s1", "s2"])
    judge = prompts.build_judge("Q?", ["a", "b"], "a", ["s1"], "b", "data:x")
    tag = prompts.build_tag([("human", "What?"), ("gpt", "red")])
    for msgs, parse in (
        (asw, prompts.parse_answer_switch),
        (judge, prompts.parse_judge),
        (tag, prompts.parse_tag),
    ):
        noted = prompts.with_error_note(msgs, "bad thing")
        assert parse(noted) == parse(msgs)
        assert prompts.error_note_of(noted).startswith("bad thing") and prompts.error_note_of(msgs) is None


def test_annotate_records_unusable_replies_as_failed_rows_in_pool_order(tmp_path: Path) -> None:
    import json

    pool = tmp_path / "pool.jsonl"
    rows = [
        {"id": f"p{i}", "conversations": [{"from": "human", "value": q}, {"from": "gpt", "value": "x"}]}
        for i, q in enumerate(["What colour is it?", "How many are there?", "Is it on the left?"])
    ]
    rows[1]["skills"] = ["already tagged"]
    pool.write_text("".join(json.dumps(r) + "\n" for r in rows))
    running = RunningTeacher(FaultTeacher(model_id="m", plan={"tag": ["500", "malformed", "malformed"]}))
    try:
        cfg = TeacherConfig(url=running.url, model="m", backoff_s=0.01, backoff_max_s=0.02)
        res = annotate_pool(
            str(pool), str(tmp_path / "out.jsonl"), cfg, cache_dir=str(tmp_path / "c"), progress=False
        )
    finally:
        running.close()
    out = [json.loads(ln) for ln in (tmp_path / "out.jsonl").read_text().splitlines()]
    assert [r["id"] for r in out] == ["p0", "p1", "p2"]
    assert out[1]["skills"] == ["already tagged"] and res.pretagged == 1
    assert res.failed == 2 and all(out[i]["skills"] == [] and "malformed" in out[i]["error"] for i in (0, 2))
