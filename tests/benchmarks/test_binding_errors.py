"""The colour-disguised tasks' wrong answers, read against the picture: binding (the other object) or not."""

from __future__ import annotations

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
