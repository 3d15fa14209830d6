"""The HTML report's training table (issue 17): one row per round that tuned, read from round-NN/tune.json.

Round 0 never tunes and a run older than tune.json has none: such rounds have no row, and a run without any tune.json
has no table, rather than a crash.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from edtune import io
from edtune.config import RunConfig, load_config
from edtune.layout import RunLayout
from edtune.report import _TRAINING_COLUMNS, build_report
from edtune.runfiles import TRAINING_FIGURES
from edtune.schemas import RoundMetrics

ROUNDS = [RoundMetrics(round=0, val_accuracy=0.4), RoundMetrics(round=1, val_accuracy=0.6)]


def _cfg(tmp_path: Path) -> RunConfig:
    return load_config(None, env={}, base={"output": str(tmp_path / "runs"), "run_id": "rep"})


def _tune_json(**over: Any) -> dict[str, Any]:
    """A tune.json as `edtune.stages.tune` writes it (TuneResult without adapter_dir)."""
    data = {
        "steps": 30,
        "loss_curve": [2.5, 1.25, 0.5],
        "final_loss": 0.4321,
        "samples_per_s": 12.34,
        "tokens_per_s": 1567.8,
        "peak_rss_mb": 3072.4,
        "peak_gpu_mb": 8191.6,
        "seconds": 42.31,
        "samples": 120,
        "trainable_params": 1000,
        "trainer": "transformers.Trainer",
        "lr_curve": [1e-4, 5e-5, 0.0],
    }
    data.update(over)
    return data


def _training_rows(page: str) -> list[str]:
    table = re.search(r"<h2>Training</h2><table class='training'>(.*?)</table>", page)
    assert table, "no training table"
    return re.findall(r"<tr><td>.*?</tr>", table.group(1))


def test_report_shows_a_training_row_per_round_with_a_tune_json(tmp_path: Path) -> None:
    cfg = _cfg(tmp_path)
    io.write_json(RunLayout(cfg.run_uri).tune_summary(1), _tune_json())
    page = build_report(cfg, ROUNDS, best=1)
    assert "<th>round</th><th>final loss</th><th>samples/s</th><th>tokens/s</th>" in page
    assert "<th>peak RSS (MB)</th><th>peak GPU (MB)</th><th>steps</th><th>train seconds</th>" in page
    rows = _training_rows(page)
    assert rows == [
        "<tr><td>1</td><td>0.4321</td><td>12.3</td><td>1568</td><td>3072</td><td>8192</td>"
        "<td>30</td><td>42.3</td><td></td></tr>"
    ], "round 0 (no tune.json) must have no row"


def test_a_cpu_round_has_an_empty_gpu_memory_cell(tmp_path: Path) -> None:
    cfg = _cfg(tmp_path)
    io.write_json(RunLayout(cfg.run_uri).tune_summary(1), _tune_json(peak_gpu_mb=None))
    (row,) = _training_rows(build_report(cfg, ROUNDS, best=1))
    assert "<td>3072</td><td></td><td>30</td>" in row


def test_a_round_with_restarts_shows_each_validation_score_and_the_kept_one_in_bold(tmp_path: Path) -> None:
    cfg = _cfg(tmp_path)
    restarts = [
        {"restart": k, "seed": 1 + k, "val_accuracy": v, "final_loss": 0.4}
        for k, v in enumerate([0.74, 0.93, 0.9])
    ]
    tuned = _tune_json(restarts=restarts, restart_chosen=1)
    io.write_json(RunLayout(cfg.run_uri).tune_summary(1), tuned)
    page = build_report(cfg, ROUNDS, best=1)
    assert "<th>restarts: validation (kept in bold)</th>" in page
    (row,) = _training_rows(page)
    assert row.endswith("<td>0.74 / <b>0.93</b> / 0.90</td></tr>")


def test_report_without_any_tune_json_has_no_training_table(tmp_path: Path) -> None:
    page = build_report(_cfg(tmp_path), ROUNDS, best=1)
    assert "<h2>Training</h2>" not in page
    assert "<h2>Rounds</h2>" in page  # the rest of the report is still there


def test_the_table_shows_every_training_figure_the_component_logs() -> None:
    """One list names the figures for the report and the KFP metrics; the table follows it in order."""
    assert tuple(key for key, _, _ in _TRAINING_COLUMNS) == TRAINING_FIGURES
