"""The colour-disguised tasks' wrong answers, read against the picture: binding (the other object) or not."""

from __future__ import annotations

from pathlib import Path

from benchmarks.binding_errors import RunErrors, classify, markdown


def test_a_wrong_colour_in_the_picture_is_the_other_object_and_one_not_there_is_absent() -> None:
    scene = {"red", "blue"}
    assert classify("red", True, scene) == "correct"
    assert classify("Blue ", False, scene) == "other object"  # the student's answer as parsed, case aside
    assert classify("green", False, scene) == "absent colour"
    assert classify(None, False, scene) == "no answer"


def test_the_table_shows_each_outcome_as_a_share_of_the_run() -> None:
    row = RunErrors(
        world_seed=1,
        task="color-by-side",
        run="error-bm25-b200-s0-k4",
        n=4,
        counts={"correct": 2, "other object": 1, "absent colour": 1, "no answer": 0},
    )
    assert "| 1 | `color-by-side` | `error-bm25-b200-s0-k4` | 0.500 | 0.250 | 0.250 | 0.000 |" in markdown(
        [row]
    )


def test_a_run_is_read_from_its_last_round_and_the_untuned_base_from_round_zero(tmp_path: Path) -> None:
    import json
    import random

    import pytest

    from benchmarks.binding_errors import run_errors
    from edtune.shapes.world.scenes import make_scene, render

    task_dir = tmp_path / "world" / "tasks" / "color-by-side"
    (task_dir / "images").mkdir(parents=True)
    (tmp_path / "world" / "world.json").write_text(json.dumps({"seed": 7}))
    scenes = (make_scene(random.Random(i), 2) for i in range(50))
    scene = next(s for s in scenes if s.objects[0].color != s.objects[1].color)
    render(scene).save(task_dir / "images" / "t0.png")
    gold, other = scene.objects[0].color, scene.objects[1].color
    (task_dir / "test.jsonl").write_text(json.dumps({"id": "t0", "image": "images/t0.png"}) + "\n")

    def traces(run: str, rnd: str, answer: str, correct: bool) -> None:
        d = tmp_path / "runs" / f"color-by-side-{run}" / rnd
        d.mkdir(parents=True)
        (d / "test-traces.jsonl").write_text(
            json.dumps({"sample_id": "t0", "answer": answer, "correct": correct})
        )

    traces("none-bna-s0", "round-00", other, False)
    traces("tuned", "round-00", other, False)
    traces("tuned", "round-01", gold, True)
    base = run_errors(tmp_path, "color-by-side", "none-bna-s0")
    assert base.world_seed == 7 and base.counts["other object"] == 1 and base.n == 1
    assert (
        run_errors(tmp_path, "color-by-side", "tuned").counts["correct"] == 1
    )  # the last round, not round-00
    with pytest.raises(FileNotFoundError, match="color-by-side-missing"):
        run_errors(tmp_path, "color-by-side", "missing")
