"""A round after the first with nothing selected (every mistake left undiagnosed) keeps the previous adapter and
stops the loop; it used to fail the whole run, and the KFP pipeline, after a good round 1 (found in the quick
demo: round 2 had one mistake, undiagnosed)."""

from __future__ import annotations

from pathlib import Path

import pytest

from edtune import io, stages
from edtune.config import RunConfig, load_config
from edtune.errors import InputError, StageError
from edtune.runfiles import read_training_figures
from edtune.schemas import RoundMetrics, Selection
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


def test_a_later_round_with_fewer_than_min_selected_new_samples_keeps_the_previous_adapter(
    tmp_path: Path,
) -> None:
    """Found in the full demo: a second round that retrieved one sample tuned 400 steps on it and fell to 0.0-0.5."""
    cfg = _cfg(tmp_path)
    assert cfg.loop.min_selected == 8
    cfg.pool.uri = str(tmp_path / "pool.jsonl")
    io.write_text(cfg.pool.uri, "")
    layout = stages.layout_of(cfg)
    io.write_bytes(io.join(layout.adapter(1), "adapter_model.safetensors"), b"weights")
    one = Selection(support_id="pool-0000001", skill="left/right", score=1.0, rank=1, round=2)
    io.write_text(layout.selection(2), one.model_dump_json() + "\n")
    io.write_text(layout.replay(2), "")

    res = stages.tune(cfg, 2)

    assert res.summary["skipped"].startswith("too few selected: 1 new sample(s) < loop.min_selected 8")
    assert io.read_bytes(io.join(layout.adapter(2), "adapter_model.safetensors")) == b"weights"
    cfg.loop.min_selected = (
        1  # the key includes the setting: a rerun with a lower minimum does not reuse the skip
    )
    with pytest.raises(InputError, match=r"pool\.jsonl: invalid record"):  # it tunes now: it reads the pool
        stages.tune(cfg, 2)


@pytest.mark.parametrize(
    ("r", "selected", "minimum", "expected"), [(2, 3, 8, False), (2, 8, 8, True), (1, 3, 8, True)]
)
def test_the_loop_stops_after_a_later_round_with_too_few_new_samples(
    tmp_path: Path, r: int, selected: int, minimum: int, expected: bool
) -> None:
    cfg = _cfg(tmp_path)
    cfg.loop.max_rounds, cfg.loop.min_gain, cfg.loop.min_selected = 3, -1.0, minimum
    layout = stages.layout_of(cfg)
    rounds = [
        RoundMetrics(round=q, val_accuracy=0.5 + 0.05 * q, selected=selected if q == r else 50 * (q > 0))
        for q in range(r + 1)
    ]
    for m in rounds:
        io.write_json(layout.metrics(m.round), m.model_dump(mode="json"))
    go_on, _ = stages.should_continue(cfg, r)
    assert go_on is expected and stages.too_few_to_tune(cfg, r, selected) is not expected
