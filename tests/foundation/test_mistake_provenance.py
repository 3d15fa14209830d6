"""Each round says how its mistakes were found (issue 13 item 6): by the teacher's answer switch, by the judge
fallback, or not at all — in metrics.json, the HTML report and the round table / demo JSON rows."""

from __future__ import annotations

from pathlib import Path

import pytest

from edtune import io, stages
from edtune.config import load_config
from edtune.report import build_report, summary_table
from edtune.schemas import MissingSkill, MistakeReport, RoundMetrics

SKILL = [MissingSkill(name="spatial relations left right", description="")]


def _report(i: int, method: str, status: str = "diagnosed") -> MistakeReport:
    if status == "undiagnosed":
        return MistakeReport(sample_id=f"s{i}", status="undiagnosed", method=method, reason="no switch")
    return MistakeReport(sample_id=f"s{i}", erroneous_step=1, missing_skills=SKILL, method=method)


# (reports' methods, expected (by answer switch, by judge, by last step, undiagnosed))
CASES = [
    ([], (0, 0, 0, 0)),
    (["answer-switch"] * 3, (3, 0, 0, 0)),
    (["answer-switch", "answer-switch/judge", "answer-switch/judge"], (1, 2, 0, 0)),
    (["judge", "judge"], (0, 2, 0, 0)),  # teacher.method=judge: every diagnosis is the judge's
    (["answer-switch/last-step", "answer-switch"], (1, 0, 1, 0)),
    (["answer-switch", "undiagnosed:answer-switch", "undiagnosed:answer-switch/judge"], (1, 0, 0, 2)),
]


@pytest.mark.parametrize(("methods", "expected"), CASES)
def test_round_metrics_count_mistakes_by_how_the_teacher_found_them(
    tmp_path: Path, methods: list[str], expected: tuple[int, int, int, int]
) -> None:
    cfg = load_config(None, env={}, base={"output": str(tmp_path / "runs"), "run_id": "p"})
    layout = stages.layout_of(cfg)
    reports = [
        _report(i, m.split(":", 1)[-1], "undiagnosed" if m.startswith("undiagnosed:") else "diagnosed")
        for i, m in enumerate(methods)
    ]
    for r, acc in ((0, 0.2), (1, 0.6)):
        summary = {"accuracy": acc, "ci95": [0.1, 0.3], "n": 10, "n_correct": int(acc * 10)}
        io.write_json(layout.eval_summary(r, "val"), summary)
    io.write_jsonl(layout.mistakes(1), reports)
    io.write_json(layout.gaps(1), [{"skill": "spatial relations left right", "count": 1, "budget": 4}])
    io.write_jsonl(layout.selection(1), [])
    io.write_json(layout.tune_summary(1), {"final_loss": 0.5})
    stages.record_round(cfg, 0)
    m = stages.record_round(cfg, 1)

    on_disk = RoundMetrics.model_validate(io.read_json(layout.metrics(1)))
    assert (on_disk.by_answer_switch, on_disk.by_judge, on_disk.by_last_step, on_disk.undiagnosed) == expected
    assert on_disk == m
    assert m.by_answer_switch + m.by_judge + m.by_last_step + m.undiagnosed == m.mistakes == len(methods)

    row = summary_table(stages.round_metrics(cfg))[1]
    assert (row["by_switch"], row["by_judge"], row["undiagnosed"]) == (
        expected[0],
        expected[1] + expected[2],
        expected[3],
    )
    html = build_report(cfg, stages.round_metrics(cfg), best=1)
    assert "<th>by answer switch</th><th>by judge fallback</th><th>undiagnosed</th>" in html
    assert f"<td>{expected[0]}</td><td>{expected[1]}" in html


def test_metrics_written_before_provenance_existed_still_load() -> None:
    old = {"round": 1, "val_accuracy": 0.5, "mistakes": 4, "diagnosed": 3, "undiagnosed": 1}
    m = RoundMetrics.model_validate(old)
    assert (m.by_answer_switch, m.by_judge, m.by_last_step) == (0, 0, 0)
