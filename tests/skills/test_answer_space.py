"""`retrieval.answer_space`: skill matches are kept only when they answer in the task's own answer space.

Why: a tiny student learns the answer format it is tuned on; tuned on "left/right" samples, it answered "left" to
a colour question. The stage test runs the real retrieve stage over a generated world indexed in Milvus Lite.
"""

from __future__ import annotations

import json

import pytest

from edtune import io
from edtune.datasets import iter_support, load_task
from edtune.schemas import SkillGap, SupportSample, TaskSample
from edtune.shapes.demo import world_config
from edtune.shapes.world.generate import generate_world
from edtune.skills.answer_space import answering_outside, support_answer, task_answer_space
from edtune.stages import layout_of, read_selections
from edtune.stages.pool import index as index_pool
from edtune.stages.selection import retrieve


def task(answer: str, choices: list[str] | None = None, sid: str = "t") -> TaskSample:
    return TaskSample(id=sid, image="a.png", question="q?", choices=choices, answer=answer)


def support(reply: str, sid: str = "s") -> SupportSample:
    return SupportSample.model_validate(
        {
            "id": sid,
            "conversations": [{"from": "human", "value": "<image>\nq?"}, {"from": "gpt", "value": reply}],
        }
    )


def test_the_space_is_the_choices_and_answers_normalised() -> None:
    space = task_answer_space([task("Red", ["Red", "blue."]), task("3", sid="u")])
    assert space == {"red", "blue", "3"}


def test_an_open_ended_task_has_no_answer_space() -> None:
    assert task_answer_space([task(f"a caption number {i}", sid=f"t{i}") for i in range(30)]) is None


def test_a_support_answer_is_what_follows_the_last_answer_cue_of_the_first_reply() -> None:
    assert support_answer(support("Step 1: The circle is on the left.\nAnswer: Left.")) == "left"
    assert support_answer(support("blue")) == "blue"
    pool = [support("Answer: left", "a"), support("Answer: green", "b"), support("a caption", "c")]
    assert answering_outside(pool, {"green", "red"}) == {"a", "c"}


@pytest.fixture(scope="module")
def world_cfg(tmp_path_factory: pytest.TempPathFactory):
    tmp = tmp_path_factory.mktemp("answer-space")
    world = tmp / "world"
    generate_world(str(world), seed=0, pool_size=400, val_size=20, test_size=10)
    # the world's true skills stand in for the teacher's tags (the annotate stage is tested elsewhere)
    lines = (world / "pool.labels.jsonl").read_text().splitlines()
    tags = [{"id": r["id"], "skills": r["skills"]} for r in map(json.loads, lines)]
    (world / "pool.skills.jsonl").write_text("".join(json.dumps(t) + "\n" for t in tags))
    cfg = world_config(
        tmp, world, "unused-base", "http://127.0.0.1:9", "color-by-side", overrides={"run_id": "a"}
    )
    index_pool(cfg)
    return cfg


@pytest.mark.parametrize("answer_space", [False, True])
def test_the_stage_keeps_only_matches_in_the_task_answer_space(world_cfg, answer_space: bool) -> None:
    cfg = world_cfg.model_copy(
        update={
            "run_id": f"space-{answer_space}",
            "retrieval": world_cfg.retrieval.model_copy(update={"answer_space": answer_space}),
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
    else:
        assert inside < len(answers)  # the skill-only match takes "left"/"right" answers too
