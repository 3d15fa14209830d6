"""benchmarks.demo_worlds reports the median and range over world seeds, never the best seed alone."""

from __future__ import annotations

from benchmarks.demo_worlds import COLUMNS, markdown, summarise


def _row(seed: int, after: float) -> dict:
    return {
        "world_seed": seed,
        "test_chance": 0.5,
        "test_best_constant": 0.54,
        "test_accuracy_before": 0.0,
        "test_ll_accuracy_before": 0.5,
        "test_accuracy_after": after,
        "test_ll_accuracy_after": None,
        "margin_over_constant": round(after - 0.54, 4),
        "answer_switch_share": 0.0,
        "undiagnosed_share": 0.25,
        "seconds": 200.0,
    }


def test_the_summary_is_the_median_and_range_and_the_table_shows_every_seed() -> None:
    rows = [_row(1, 0.95), _row(2, 0.55), _row(3, 0.81)]
    summary = summarise(rows)
    assert summary["test_accuracy_after"] == {"median": 0.81, "min": 0.55, "max": 0.95}
    assert "test_ll_accuracy_after" not in summary  # no value at any seed: no figure
    table = markdown(rows, summary).splitlines()
    assert len(table) == 2 + 3 + 2 and table[-2].startswith("| **median** |") and "0.810" in table[-2]
    assert all(len(line.split("|")) == len(COLUMNS) + 2 for line in table)
    assert "0.550 – 0.950" in table[-1]
