"""The in-process round loop (`edtune run`): evaluate → [diagnose → allocate → retrieve → tune → evaluate]*.

Written once against the stage functions, so it resumes from whatever a previous (killed) run already wrote:
every stage is skipped when its outputs exist for the same inputs. Round r+1 continues round r's adapter; the loop
stops at `max_rounds` or when a round's validation gain over the best so far drops below `min_gain`, and the best
round (by validation accuracy only; the test split is never used to choose) is the one finalised.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from pydantic import BaseModel

from edtune import stages
from edtune.config import RunConfig
from edtune.log import kv
from edtune.schemas import RoundMetrics

log = logging.getLogger("edtune.loop")


class RunSummary(BaseModel):
    run_uri: str
    rounds: list[RoundMetrics]
    best_round: int
    stopped_because: str
    val_accuracy_before: float
    val_accuracy_after: float
    test_accuracy_before: float | None
    test_accuracy_after: float | None
    adapter: str | None
    manifest: str
    report: str
    stages_run: int
    stages_skipped: int


def _evaluate_round(cfg: RunConfig, r: int, results: list[stages.StageResult]) -> None:
    results.append(stages.evaluate(cfg, r, "val"))
    if cfg.task.test and cfg.loop.eval_test_each_round:
        results.append(stages.evaluate(cfg, r, "test"))


def run(cfg: RunConfig, on_round: Callable[[RoundMetrics], None] | None = None) -> RunSummary:
    """Run (or resume) a whole error-driven tuning run in this process."""
    results: list[stages.StageResult] = []
    _evaluate_round(cfg, 0, results)
    m = stages.record_round(cfg, 0)
    if on_round:
        on_round(m)
    stopped = f"max_rounds={cfg.loop.max_rounds} reached"
    rounds_to_run = range(1, cfg.loop.max_rounds + 1)
    if m.val_accuracy >= 1.0:
        stopped, rounds_to_run = "the base student made no mistake on the validation split", range(0)
    for r in rounds_to_run:
        for fn in (stages.diagnose, stages.allocate, stages.retrieve, stages.tune):
            results.append(fn(cfg, r))
        _evaluate_round(cfg, r, results)
        m = stages.record_round(cfg, r)
        if on_round:
            on_round(m)
        go_on, gain = stages.should_continue(cfg, r)
        log.info(kv("round done", round=r, val_accuracy=m.val_accuracy, gain=round(gain, 4)))
        if not go_on:
            if m.selected == 0:
                stopped = (
                    f"round {r} had no diagnosed mistake to learn from (it kept round {r - 1}'s adapter)"
                )
            elif stages.too_few_to_tune(cfg, r, m.selected):
                stopped = (
                    f"round {r} found {m.selected} new sample(s), fewer than loop.min_selected "
                    f"{cfg.loop.min_selected} (it kept round {r - 1}'s adapter)"
                )
            elif m.val_accuracy >= 1.0:
                stopped = f"no mistake left on the validation split after round {r}"
            elif r < cfg.loop.max_rounds:
                stopped = f"gain {gain:+.3f} < min_gain {cfg.loop.min_gain:+.3f} after round {r}"
            break
    if cfg.task.test and not cfg.loop.eval_test_each_round:
        best = stages.best_round(stages.round_metrics(cfg))
        for q in sorted({0, best}):
            results.append(stages.evaluate(cfg, q, "test"))
            stages.record_round(cfg, q)
    final = stages.finalize(cfg)
    results.append(final)
    rounds = stages.round_metrics(cfg)
    s = final.summary
    return RunSummary(
        run_uri=cfg.run_uri,
        rounds=rounds,
        best_round=s["best_round"],
        stopped_because=stopped,
        val_accuracy_before=s["val_accuracy_before"],
        val_accuracy_after=s["val_accuracy_after"],
        test_accuracy_before=s["test_accuracy_before"],
        test_accuracy_after=s["test_accuracy_after"],
        adapter=s["adapter"],
        manifest=s["manifest"],
        report=s["report"],
        stages_run=sum(1 for x in results if not x.skipped),
        stages_skipped=sum(1 for x in results if x.skipped),
    )
