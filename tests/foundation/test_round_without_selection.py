"""A round after the first with nothing selected (every mistake left undiagnosed) keeps the previous adapter and
stops the loop; it used to fail the whole run, and the KFP pipeline, after a good round 1 (found in the quick
demo: round 2 had one mistake, undiagnosed)."""

from __future__ import annotations

from pathlib import Path

import pytest

from edtune import io, stages
from edtune.config import RunConfig, load_config
from edtune.errors import StageError
from edtune.runfiles import read_training_figures
from edtune.schemas import RoundMetrics
from edtune.shapes.student.base import ASSET
from edtune.stages.tuning import NOTHING_SELECTED


def _cfg(tmp_path: Path) -> RunConfig:
    base = {"output": str(tmp_path / "runs"), "run_id": "t", "student": {"base": str(ASSET)}}
    return load_config(None, env={}, base=base)


def test_tune_with_nothing_selected_after_round_1_keeps_the_previous_adapter(tmp_path: Path) -> None:
    cfg = _cfg(tmp_path)
    layout = stages.layout_of(cfg)
    io.write_text(io.join(layout.adapter(1), "adapter_config.json"), '{"r": 8}')
    io.write_bytes(io.join(layout.adapter(1), "adapter_model.safetensors"), b"weights")
    for uri in (layout.selection(2), layout.replay(2)):
        io.write_text(uri, "")

    res = stages.tune(cfg, 2)

    assert res.summary["skipped"] == NOTHING_SELECTED and res.summary["adapter_from_round"] == 1
    assert io.read_bytes(io.join(layout.adapter(2), "adapter_model.safetensors")) == b"weights"
    assert io.read_json(layout.tune_summary(2))["skipped"] == NOTHING_SELECTED
    assert read_training_figures(layout, 2) is None  # no training row in the report for it
    assert stages.tune(cfg, 2).skipped  # a rerun is a no-op


def test_round_1_with_nothing_selected_is_still_a_clear_error(tmp_path: Path) -> None:
    cfg = _cfg(tmp_path)
    layout = stages.layout_of(cfg)
    for uri in (layout.selection(1), layout.replay(1)):
        io.write_text(uri, "")
    with pytest.raises(StageError, match="round 1: nothing selected"):
        stages.tune(cfg, 1)


@pytest.mark.parametrize(("selected", "expected"), [(0, False), (400, True)])
def test_the_loop_stops_after_a_round_that_had_nothing_to_learn_from(
    tmp_path: Path, selected: int, expected: bool
) -> None:
    cfg = _cfg(tmp_path)
    cfg.loop.max_rounds, cfg.loop.min_gain = 3, 0.0
    layout = stages.layout_of(cfg)
    for m in (
        RoundMetrics(round=0, val_accuracy=0.5),
        RoundMetrics(round=1, val_accuracy=0.6, selected=selected),
    ):
        io.write_json(layout.metrics(m.round), m.model_dump(mode="json"))
    go_on, gain = stages.should_continue(cfg, 1)
    assert go_on is expected and gain == pytest.approx(0.1)
