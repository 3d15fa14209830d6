"""Against the world's reference teacher (real HTTP on loopback): the right first wrong step and skill."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from edtune.config import TeacherConfig
from edtune.datasets import load_task
from edtune.schemas import TaskSample, Trace
from edtune.teacher.annotate import annotate_pool
from edtune.teacher.diagnose import diagnose

SIDE = "spatial relations left right"
NEUTRAL = "I look at the objects in the image."


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from edtune.shapes.world.generate import generate_world

    out = tmp_path_factory.mktemp("world")
    generate_world(out, seed=3, pool_size=60, val_size=8, test_size=1, progress=False)
    return out


@pytest.fixture(scope="module")
def reference() -> Iterator[tuple[object, str]]:
    from edtune.shapes.world.reference_teacher import start_reference_teacher

    server, url = start_reference_teacher()
    yield server, url
    server.shutdown()


def _left_right(world: Path, wrong_at: int) -> tuple[list[Trace], dict[str, TaskSample]]:
    """Wrong traces on the left-right task whose step `wrong_at` puts the object on the wrong side."""
    samples = {s.id: s for s in load_task(world / "tasks" / "left-right" / "val.jsonl")}
    traces = []
    for s in samples.values():
        m = re.match(r"Which half of the picture holds the (\w+) (\w+)\?", s.question)
        assert m, s.question
        wrong = "left" if s.answer == "right" else "right"
        steps = [NEUTRAL] * (wrong_at - 1) + [f"The {m[1]} {m[2]} is on the {wrong}."]
        traces.append(Trace(sample_id=s.id, steps=steps, answer=wrong, correct=False, raw=""))
    return traces, samples


# (method, step the student first goes wrong at, expected erroneous_step)
CASES = [("answer-switch", 1, 1), ("answer-switch", 3, 3), ("judge", 1, 1)]


@pytest.mark.parametrize(("method", "wrong_at", "expected"), CASES)
def test_wrong_traces_get_the_first_erroneous_step_and_the_missing_skill(
    world: Path, reference: tuple[object, str], tmp_path: Path, method: str, wrong_at: int, expected: int
) -> None:
    traces, samples = _left_right(world, wrong_at)
    cfg = TeacherConfig(url=reference[1], method=method)  # type: ignore[arg-type]
    res = diagnose(traces, samples, cfg, cache_dir=str(tmp_path), progress=False)
    assert res.diagnosed == len(traces) and res.undiagnosed == 0
    assert res.teacher_model == "reference-shapes-teacher"
    for r in res.reports:
        assert r.erroneous_step == expected, r
        assert [s.name for s in r.missing_skills] == [SIDE]


def test_rerun_is_served_from_the_cache_without_requests(
    world: Path, reference: tuple[object, str], tmp_path: Path
) -> None:
    traces, samples = _left_right(world, 2)
    cfg = TeacherConfig(url=reference[1])
    first = diagnose(traces, samples, cfg, cache_dir=str(tmp_path), progress=False)
    again = diagnose(traces, samples, cfg, cache_dir=str(tmp_path), progress=False)
    assert first.requests > 0 and again.requests == 0
    assert again.cache_hits == first.requests
    assert [r.model_dump() for r in again.reports] == [r.model_dump() for r in first.reports]


def test_annotate_tags_the_pool_in_order_with_the_labelled_skills(
    world: Path, reference: tuple[object, str], tmp_path: Path
) -> None:
    cfg = TeacherConfig(url=reference[1])
    out = tmp_path / "pool.skills.jsonl"
    res = annotate_pool(
        str(world / "pool.jsonl"), str(out), cfg, cache_dir=str(tmp_path / "c"), progress=False
    )
    rows = [json.loads(ln) for ln in out.read_text().splitlines()]
    labels = [json.loads(ln) for ln in (world / "pool.labels.jsonl").read_text().splitlines()]
    assert [r["id"] for r in rows] == [lab["id"] for lab in labels]
    assert res.rows == len(rows) and res.failed == 0 and res.tagged == len(rows)
    single = [
        (r, lab)
        for r, lab in zip(rows, labels, strict=True)
        if lab["turns"] == 1 and lab["family"] != "caption"
    ]
    assert single and all(set(lab["skills"]) <= set(r["skills"]) for r, lab in single)

    again = annotate_pool(
        str(world / "pool.jsonl"), str(out), cfg, cache_dir=str(tmp_path / "c"), progress=False
    )
    assert again.requests == 0 and again.resumed == len(rows)
