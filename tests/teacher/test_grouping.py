"""The `group` request: the teacher groups a round's paraphrased skill names (real HTTP, reference teacher)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

from edtune.config import TeacherConfig
from edtune.shapes.world.noise import get_profile
from edtune.teacher import prompts
from edtune.teacher.client import ChatReply, TeacherClient
from edtune.teacher.grouping import group_skill_names, validate_groups

SKILLS = [
    ("left/right localisation", "Tell whether an object is on the left or the right of the image."),
    ("vertical position of objects", ""),
    ("horizontal position of objects", "Where an object is, left or right."),
    ("spatial relations (above vs below)", ""),
    ("reading clocks", "Not a skill of the shapes world."),
    ("spatial relations (left vs right)", ""),
]


def test_group_prompt_round_trips_names_and_descriptions():
    req = prompts.parse_group(prompts.build_group(SKILLS))
    assert req.skills == SKILLS
    assert prompts.kind_of(prompts.build_group(SKILLS)) == ("group", prompts.PROMPT_VERSION)


@pytest.mark.parametrize(
    ("content", "error"),
    [
        ('{"groups": [[1, 2], [3, 4]]}', "in no group"),
        ('{"groups": [[1, 2], [2, 3, 4, 5]]}', "more than one place"),
        ('{"groups": [[0, 1, 2, 3, 4, 5]]}', "out of range"),
        ('["not", "an object"]', "JSON object"),
    ],
)
def test_invalid_groupings_are_refused_with_a_reason_to_re_ask(content: str, error: str):
    with pytest.raises(ValueError, match=error):
        validate_groups(ChatReply(content=content), 5)


def _group(url: str, tmp_path: Path, skills: list[tuple[str, str]]) -> list[list[str]] | None:
    async def go() -> list[list[str]] | None:
        cfg = TeacherConfig(url=url)
        async with TeacherClient(cfg, cache_dir=str(tmp_path / "cache")) as client:
            return await group_skill_names(client, cfg, skills)

    return asyncio.run(go())


@pytest.fixture()
def teacher(request: pytest.FixtureRequest) -> Iterator[str]:
    from edtune.shapes.world.reference_teacher import start_reference_teacher

    server, url = start_reference_teacher(noise=request.param)
    yield url
    server.shutdown()


@pytest.mark.parametrize("teacher", [get_profile("exact", 0)], indirect=True)
def test_exact_teacher_groups_paraphrases_and_keeps_related_skills_apart(teacher: str, tmp_path: Path):
    groups = _group(teacher, tmp_path, SKILLS)
    assert groups is not None
    assert sorted(map(sorted, groups)) == sorted(
        [
            sorted(
                [
                    "left/right localisation",
                    "horizontal position of objects",
                    "spatial relations (left vs right)",
                ]
            ),
            sorted(["vertical position of objects", "spatial relations (above vs below)"]),
            ["reading clocks"],
        ]
    )


@pytest.mark.parametrize(
    "teacher", [get_profile("realistic", 0).model_copy(update={"group_miss": 1.0})], indirect=True
)
def test_a_teacher_that_recognises_nothing_leaves_every_name_alone(teacher: str, tmp_path: Path):
    groups = _group(teacher, tmp_path, SKILLS)
    assert groups == [[name] for name, _ in SKILLS]


@pytest.mark.parametrize("teacher", [get_profile("realistic", 3)], indirect=True)
def test_noisy_grouping_is_a_function_of_the_request(teacher: str, tmp_path: Path):
    first = _group(teacher, tmp_path / "a", SKILLS)
    again = _group(teacher, tmp_path / "b", SKILLS)  # another cache: asked again over HTTP
    assert first is not None and first == again
    assert sorted(n for g in first for n in g) == sorted(n for n, _ in SKILLS)


def test_one_name_needs_no_request(tmp_path: Path):
    assert _group("http://127.0.0.1:9", tmp_path, SKILLS[:1]) == [["left/right localisation"]]
