"""`retrieval.answer_space`: skill matches are kept only when they answer in the task's own answer space.

Why: a tiny student learns the answer format it is tuned on; tuned on "left/right" samples, it answered "left" to
a colour question. The stage test runs the real retrieve stage over a generated world indexed in Milvus Lite.
"""

from __future__ import annotations

import json
from collections import Counter

import pytest

from edtune import io
from edtune.datasets import iter_support, load_task
from edtune.schemas import Selection, SkillGap, SupportSample, TaskSample
from edtune.shapes.demo import world_config
from edtune.shapes.world.generate import generate_world
from edtune.skills.answer_space import (
    balance_answers,
    repeat_answers,
    support_answer,
    support_answers,
    task_answer_shares,
    task_answer_space,
)
from edtune.stages import layout_of, read_selections
from edtune.stages.pool import index as index_pool
from edtune.stages.selection import retrieve


def task(answer: str, choices: list[str] | None = None, sid: str = "t") -> TaskSample:
    return TaskSample(id=sid, image="a.png", question="q?", choices=choices, answer=answer)


def support(reply: str, sid: str = "s", *later: str) -> SupportSample:
    """A sample whose first reply is `reply`; each of `later` is one more (question, reply) turn's reply."""
    turns = [{"from": "human", "value": "<image>\nq?"}, {"from": "gpt", "value": reply}]
    for text in later:
        turns += [{"from": "human", "value": "and?"}, {"from": "gpt", "value": text}]
    return SupportSample.model_validate({"id": sid, "conversations": turns})


def test_the_space_is_the_choices_and_answers_normalised() -> None:
    space = task_answer_space([task("Red", ["Red", "blue."]), task("3", sid="u")])
    assert space == {"red", "blue", "3"}


def test_an_open_ended_task_has_no_answer_space() -> None:
    assert task_answer_space([task(f"a caption number {i}", sid=f"t{i}") for i in range(30)]) is None


def test_a_support_answer_is_what_follows_the_last_answer_cue_of_the_first_reply() -> None:
    assert support_answer(support("Step 1: The circle is on the left.\nAnswer: Left.")) == "left"
    assert support_answer(support("blue")) == "blue"
    pool = [support("Answer: left", "a"), support("Answer: green", "b"), support("a caption", "c")]
    assert [support_answer(s) in {"green", "red"} for s in pool] == [False, True, False]


def sel(sid: str, skill: str = "g", rank: int = 1) -> Selection:
    return Selection(support_id=sid, skill=skill, score=1.0, rank=rank, round=1)


def leaning_left() -> tuple[dict[str, str], list[Selection]]:
    """Seven matches in rank order: 5 answering "left", 2 "right" (skill h), and one answering outside the shares."""
    answers = {**{f"l{i}": "left" for i in range(5)}, "r0": "right", "r1": "right", "x": "yellow square"}
    picked = [sel(f"l{i}", rank=i + 1) for i in range(5)]
    return answers, [*picked, sel("r0", "h"), sel("r1", "h", 2), sel("x", "h", 3)]


def test_balancing_keeps_each_answer_best_ranked_up_to_its_validation_share() -> None:
    # 5 "left", 2 "right" selected; the task answers half and half: 2 of each stay, the first-ranked ones.
    answers, picked = leaning_left()
    out = balance_answers(picked, answers, {"left": 0.5, "right": 0.5})
    assert [s.support_id for s in out] == ["l0", "l1", "r0", "r1", "x"]  # an answer with no share is kept
    assert [s.rank for s in out] == [1, 2, 1, 2, 3]
    assert task_answer_shares([task("left"), task("Left", sid="u"), task("right", sid="v")]) == {
        "left": 2 / 3,
        "right": 1 / 3,
    }


def test_an_answer_missing_from_the_selection_does_not_empty_it() -> None:
    answers = {"a": "red", "b": "red", "c": "blue"}
    out = balance_answers(
        [sel("a"), sel("b", rank=2), sel("c", rank=3)],
        answers,
        dict.fromkeys(["red", "blue", "green"], 1 / 3),
    )
    assert [s.support_id for s in out] == ["a", "c"]
    only_red = balance_answers([sel("a"), sel("b", rank=2)], answers, {"red": 0.5, "blue": 0.5})
    assert len(only_red) == 2  # one answer present: nothing to balance against


def test_repeating_keeps_every_match_and_copies_the_rarer_answers_in_rank_order() -> None:
    # 5 "left", 2 "right": the right samples are copied (r0, r1, r0) until the two answers are level; none is lost.
    answers, picked = leaning_left()
    out = repeat_answers(picked, answers, {"left": 0.5, "right": 0.5})
    assert out[: len(picked)] == picked
    assert [s.support_id for s in out[len(picked) :]] == ["r0", "r1", "r0"]
    assert Counter(answers[s.support_id] for s in out) == {"left": 5, "right": 5, "yellow square": 1}
    # shares of answers absent from the selection are left out: red and blue stay level, green cannot be made
    three = {"a": "red", "b": "red", "c": "blue"}
    level = repeat_answers(
        [sel("a"), sel("b", rank=2), sel("c", rank=3)], three, dict.fromkeys(["red", "blue", "green"], 1 / 3)
    )
    assert [s.support_id for s in level] == ["a", "b", "c", "c"]
    assert repeat_answers([sel("a")], three, {"red": 0.5, "blue": 0.5}) == [sel("a")]


def test_the_balance_setting_reads_old_switch_values() -> None:
    from edtune.config import load_config

    def balance(value: str) -> str:
        return load_config(None, [f"retrieval.balance_answers={value}"], env={}).retrieval.balance_answers

    assert [balance(v) for v in ("true", "false", "repeat", "off")] == ["drop", "off", "repeat", "off"]
    with pytest.raises(Exception, match="balance_answers"):
        balance("sometimes")


@pytest.fixture(scope="module")
def world_cfg(tmp_path_factory: pytest.TempPathFactory):
    tmp = tmp_path_factory.mktemp("answer-space")
    world = tmp / "world"
    generate_world(str(world), seed=0, pool_size=600, val_size=20, test_size=10)
    # the world's true skills stand in for the teacher's tags (the annotate stage is tested elsewhere)
    lines = (world / "pool.labels.jsonl").read_text().splitlines()
    tags = [{"id": r["id"], "skills": r["skills"]} for r in map(json.loads, lines)]
    (world / "pool.skills.jsonl").write_text("".join(json.dumps(t) + "\n" for t in tags))
    cfg = world_config(
        tmp, world, "unused-base", "http://127.0.0.1:9", "left-right", overrides={"run_id": "a"}
    )
    index_pool(cfg)
    return cfg


@pytest.mark.parametrize("balance", ["off", "drop", "repeat"])
def test_the_stage_keeps_only_matches_in_the_task_answer_space(world_cfg, balance: str) -> None:
    answer_space = balance != "off"
    cfg = world_cfg.model_copy(
        update={
            "run_id": f"space-{balance}",
            "retrieval": world_cfg.retrieval.model_copy(
                update={"answer_space": answer_space, "balance_answers": balance}
            ),
        }
    )
    layout = layout_of(cfg)
    gap = SkillGap(skill="spatial relations left right", count=5, budget=60)
    io.write_json(layout.gaps(1), [gap.model_dump(mode="json")])
    retrieve(cfg, 1)
    pool = {s.id: s for s in iter_support(cfg.pool.uri)}
    answers = [support_answer(pool[s.support_id]) for s in read_selections(layout.selection(1))]
    space = task_answer_space(load_task(cfg.task.val, check_images=False))
    assert space and answers
    inside = sum(a in space for a in answers)
    if answer_space:
        assert inside == len(answers)
        held = Counter(answers)
        assert held["left"] == held["right"] > 0  # balanced as the task's validation split is
        ids = [s.support_id for s in read_selections(layout.selection(1))]
        assert len(set(ids)) < len(ids) if balance == "repeat" else len(set(ids)) == len(ids)
    else:
        assert inside < len(answers)  # the skill-only match takes colour and count answers too


def test_every_reply_has_its_answer_read_for_the_all_turns_setting() -> None:
    two = support("blue", "s", "Step 1: It is small.\nAnswer: small")
    assert support_answer(two) == "blue" and support_answers(two) == ["blue", "small"]
