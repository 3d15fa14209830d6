"""Scoring and parsing tables: what counts as a right answer, and what the tolerant parser recovers."""

from __future__ import annotations

import pytest

from edtune.schemas import TaskSample
from edtune.student.evaluate import wilson
from edtune.student.prompt import parse_reasoning
from edtune.student.scoring import is_correct

MC = {"choices": ["red", "blue", "green"], "answer": "blue"}
MC_LETTER_GOLD = {"choices": ["red", "blue", "green"], "answer": "B"}
NUM = {"choices": None, "answer": "3"}
WORD = {"choices": None, "answer": "triangle"}
YES = {"choices": None, "answer": "yes"}

CASES = [
    (MC, "blue", True),
    (MC, "Blue.", True),
    (MC, "B", True),
    (MC, "(B)", True),
    (MC, "B) blue", True),
    (MC, "(B) blue", True),
    (MC, "the blue one", False),
    (MC, "(B) red", False),  # letter and text disagree
    (MC, "A", False),
    (MC, "red", False),
    (MC, "D", False),  # no such option
    (MC, None, False),
    (MC, "", False),
    (MC_LETTER_GOLD, "blue", True),
    (MC_LETTER_GOLD, "b", True),
    (NUM, "3", True),
    (NUM, "three", True),
    (NUM, "3.", True),
    (NUM, "There are 3", True),
    (NUM, "4", False),
    (NUM, "3 or 4", False),
    (NUM, "many", False),
    (WORD, "Triangle", True),
    (WORD, "a triangle", True),
    (WORD, "triangles", True),
    (WORD, "square", False),
    (YES, "Yes.", True),
    (YES, "no", False),
]


@pytest.mark.parametrize(("spec", "answer", "expected"), CASES)
def test_is_correct(spec: dict, answer: str | None, expected: bool) -> None:
    sample = TaskSample(id="x", image="/i.png", question="q?", **spec)
    assert is_correct(sample, answer) is expected


PARSES = [
    ("Step 1: The square is red.\nAnswer: red", ["The square is red."], "red", []),
    ("Step 1: a\nStep 2: b\nAnswer: (B) blue", ["a", "b"], "(B) blue", []),
    ("step 1) a\nFinal answer: 3", ["a"], "3", []),
    ("Step 1: a\nmore of a\nAnswer: x", ["a more of a"], "x", []),
    ("Step 1: a", ["a"], None, ["no Answer line"]),
    ("Answer: x\nStep 2: later", [], "x", ["text after the Answer line ignored"]),
    ("Step 2: a\nAnswer: x", ["a"], "x", ["step numbered 2, expected 1"]),
    ("", [], None, ["no Answer line"]),
]


@pytest.mark.parametrize(("raw", "steps", "answer", "issues"), PARSES)
def test_parse_reasoning(raw: str, steps: list[str], answer: str | None, issues: list[str]) -> None:
    got_steps, got_answer, got_issues = parse_reasoning(raw)
    assert got_steps == steps
    assert got_answer == answer
    for i in issues:
        assert any(g.startswith(i) for g in got_issues), got_issues
    if not issues:
        assert got_issues == []


@pytest.mark.parametrize(
    ("k", "n", "lo", "hi"),
    [(0, 10, 0.0, 0.2775), (10, 10, 0.7225, 1.0), (5, 10, 0.2366, 0.7634), (0, 0, 0.0, 1.0)],
)
def test_wilson_interval(k: int, n: int, lo: float, hi: float) -> None:
    got = wilson(k, n)
    assert got == pytest.approx((lo, hi), abs=1e-3)
