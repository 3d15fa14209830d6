"""The task card's floors: chance level and best constant answer, scored as the student's answer would be."""

from __future__ import annotations

import pytest

from edtune.schemas import TaskSample
from edtune.taskcard import answer_baselines, task_card


def mc(i: int, answer: str, choices: list[str]) -> TaskSample:
    return TaskSample(id=f"m{i}", image="x.png", question="q?", choices=choices, answer=answer)


def free(i: int, answer: str) -> TaskSample:
    return TaskSample(id=f"f{i}", image="x.png", question="q?", answer=answer)


CASES = [
    # name, samples, chance, best_constant, best_constant_answer
    ("empty split", [], 0.0, 0.0, None),
    (
        "two-way choice, 3 of 4 left",
        [mc(0, "left", ["left", "right"])] * 3 + [mc(1, "right", ["left", "right"])],
        0.5,
        0.75,
        "A",
    ),
    (
        "letters as gold, four options",
        [mc(i, "B", ["a", "b", "c", "d"]) for i in range(3)] + [mc(9, "D", ["a", "b", "c", "d"])],
        0.25,
        0.75,
        "B",
    ),
    ("yes/no free form", [free(0, "yes"), free(1, "no"), free(2, "Yes")], 0.5, 2 / 3, "yes"),
    ("counting, number words match digits", [free(0, "3"), free(1, "three"), free(2, "4")], 0.5, 2 / 3, "3"),
    (
        "mixed: option text shuffled across positions beats any letter",
        [
            mc(0, "red", ["red", "blue"]),
            mc(1, "red", ["blue", "red"]),
            mc(2, "red", ["green", "red"]),
            mc(3, "blue", ["blue", "green"]),
        ],
        0.5,
        3 / 4,
        "red",
    ),
]


@pytest.mark.parametrize(("name", "samples", "chance", "best", "answer"), CASES, ids=[c[0] for c in CASES])
def test_answer_baselines_on_small_splits(name, samples, chance, best, answer) -> None:
    b = answer_baselines(samples)
    assert b.n == len(samples)
    assert b.chance == pytest.approx(chance)
    assert b.best_constant == pytest.approx(best)
    assert b.best_constant_answer == answer


def test_best_constant_is_never_below_the_most_frequent_answer_share() -> None:
    samples = [free(i, str(i % 3)) for i in range(30)] + [free(99, "0")]
    b = answer_baselines(samples)
    assert b.best_constant == pytest.approx(11 / 31)
    assert b.best_constant_answer == "0"


def test_card_counts_answers_letters_and_types() -> None:
    samples = [mc(0, "left", ["left", "right"]), mc(1, "B", ["left", "right"]), free(2, "2"), free(3, "cat")]
    card = task_card(samples)
    assert card.n == 4
    assert card.answer_types == {"multiple-choice": 2, "number": 1, "short-answer": 1}
    assert card.answers == {"left": 1, "right": 1, "2": 1, "cat": 1}
    assert card.letters == {"A": 1, "B": 1}
    assert card.baselines == answer_baselines(samples)
