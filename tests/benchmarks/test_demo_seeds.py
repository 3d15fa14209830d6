"""`benchmarks.demo_seeds.step_and_answer`: the step and the answer of a left/right reply are scored apart."""

from __future__ import annotations

import json
from pathlib import Path

from benchmarks.demo_seeds import step_and_answer


def _write(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def test_step_right_and_answer_agreement_are_counted_apart(tmp_path: Path) -> None:
    questions = _write(
        tmp_path / "test.jsonl",
        [
            {
                "id": f"q{i}",
                "image": "q.png",
                "question": "Which half?",
                "choices": ["left", "right"],
                "answer": a,
            }
            for i, a in enumerate(["left", "right", "left", "right"])
        ],
    )
    traces = _write(
        tmp_path / "test-traces.jsonl",
        [
            # right step, answer repeats it
            {
                "sample_id": "q0",
                "steps": ["The red circle is on the left."],
                "answer": "left",
                "correct": True,
                "raw": "",
            },
            # right step, answer does not repeat it (the tiny student's failure)
            {
                "sample_id": "q1",
                "steps": ["The blue square is on the right."],
                "answer": "left",
                "correct": False,
                "raw": "",
            },
            # wrong step, answer repeats it; the last side word named counts
            {
                "sample_id": "q2",
                "steps": ["It is not on the left, it is on the right."],
                "answer": "Right",
                "correct": False,
                "raw": "",
            },
            # no side word in the step: neither right nor agreeing
            {
                "sample_id": "q3",
                "steps": ["The object is red."],
                "answer": "right",
                "correct": True,
                "raw": "",
            },
        ],
    )
    assert step_and_answer(traces, questions) == {"step_right": 0.5, "answer_agrees": 0.5}
