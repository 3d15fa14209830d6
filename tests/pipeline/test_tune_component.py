"""tune_op, run as its Python function: the stage's training figures land in the Metrics artifact (issue 17).

The stage itself is replaced by a stub returning the summary the real one returns (tune.json's keys, without the
loss curve), so this checks the component's wiring, not training.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from kfp import dsl

from edtune import io, log, stages
from edtune.config import RunConfig, load_config
from edtune.pipeline import repo_root
from edtune.runfiles import TRAINING_FIGURES
from edtune.stages.base import StageResult
from edtune.student.types import TuneResult

ROUND = 1


def _summary(peak_gpu_mb: float | None) -> dict[str, Any]:
    """What `edtune.stages.tune` returns as its summary: tune.json less the per-step loss curve."""
    res = TuneResult(
        steps=12,
        loss_curve=[2.0, 1.5, 0.75],
        final_loss=0.75,
        samples_per_s=3.5,
        tokens_per_s=420.0,
        peak_rss_mb=2048.0,
        peak_gpu_mb=peak_gpu_mb,
        adapter_dir="/unused",
        seconds=9.25,
        samples=40,
        lr_curve=[1e-4, 5e-5],
        bf16=True,
    )
    data = res.model_dump(mode="json", exclude={"adapter_dir"})
    return {k: v for k, v in data.items() if k != "loss_curve"}


def _run_tune_op(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, summary: dict[str, Any]
) -> tuple[float, dsl.Metrics, dsl.Model]:
    """Call tune_op's function with a stubbed stage; the adapter the stage 'wrote' is a one-file directory."""
    monkeypatch.syspath_prepend(str(repo_root()))
    from components.tune.component import tune_op

    cfg: RunConfig = load_config(None, env={}, base={"output": str(tmp_path / "runs"), "run_id": "t"})
    io.write_text(io.join(stages.layout_of(cfg).adapter(ROUND), "adapter_config.json"), "{}")

    def fake_tune(c: RunConfig, r: int) -> StageResult:
        assert (c.run_uri, r) == (cfg.run_uri, ROUND)
        return StageResult(stage="tune", round=r, skipped=False, seconds=10.0, summary=summary)

    monkeypatch.setattr(stages, "tune", fake_tune)
    monkeypatch.setattr(log, "setup", lambda *a, **k: None)  # leave the test process's logging alone
    metrics = dsl.Metrics(name="metrics", uri=str(tmp_path / "metrics"), metadata={})
    adapter = dsl.Model(name="adapter", uri=str(tmp_path / "adapter"), metadata={})
    loss = tune_op.python_func(
        config_json=cfg.model_dump_json(), round_idx=ROUND, adapter=adapter, metrics=metrics
    )
    return loss, metrics, adapter


def test_tune_op_logs_the_training_figures_as_kfp_metrics(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    loss, metrics, adapter = _run_tune_op(tmp_path, monkeypatch, _summary(peak_gpu_mb=5120.0))
    assert loss == 0.75  # the return value is unchanged: the final loss
    assert metrics.metadata == {
        "final_loss": 0.75,
        "samples_per_s": 3.5,
        "tokens_per_s": 420.0,
        "peak_rss_mb": 2048.0,
        "peak_gpu_mb": 5120.0,
        "steps": 12.0,
        "seconds": 9.25,
        "round": ROUND,
    }
    assert set(TRAINING_FIGURES) <= set(metrics.metadata)
    assert (Path(adapter.path) / "adapter_config.json").exists()
    assert adapter.metadata["round"] == ROUND


def test_a_cpu_tune_logs_no_gpu_memory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """peak_gpu_mb is null without a GPU: it is left out, not logged as 0 (KFP metrics are numbers)."""
    _, metrics, _ = _run_tune_op(tmp_path, monkeypatch, _summary(peak_gpu_mb=None))
    assert "peak_gpu_mb" not in metrics.metadata
    assert metrics.metadata["peak_rss_mb"] == 2048.0
    assert all(isinstance(v, float) for k, v in metrics.metadata.items() if k != "round")
