"""Run bookkeeping: each round's metrics.json, the stop rule and the best round. No stage work happens here."""

from __future__ import annotations

from pathlib import Path

from edtune import io
from edtune.config import RunConfig
from edtune.errors import InputError, StageError
from edtune.layout import RunLayout
from edtune.runfiles import read_reports, read_round_metrics, read_selections
from edtune.schemas import MistakeReport, RoundMetrics, SkillGap
from edtune.stages.base import Split, _task_uri, layout_of
from edtune.stages.tuning import too_few_to_tune


def mistake_provenance(reports: list[MistakeReport]) -> dict[str, int]:
    """How the diagnosed mistakes were found, from each report's `method` (teacher.diagnose writes it):
    "answer-switch" (the switch found the step), "judge" (method judge, or the judge fallback: "answer-switch/judge"),
    "last-step" (fallback blamed the last step); undiagnosed reports are not counted here."""
    out = {"answer-switch": 0, "judge": 0, "last-step": 0}
    for rep in reports:
        if rep.status != "diagnosed":
            continue
        kind = (
            "judge"
            if rep.method.endswith("judge")
            else "last-step"
            if rep.method.endswith("last-step")
            else None
        )
        out[kind or "answer-switch"] += 1
    return out


def _floors(cfg: RunConfig, split: Split) -> tuple[float | None, float | None]:
    """Chance level and best constant answer of a split (the same every round: they depend on the split only)."""
    from edtune.datasets import load_task
    from edtune.taskcard import answer_baselines

    try:
        b = answer_baselines(load_task(_task_uri(cfg, split), check_images=False))
    except InputError:
        return None, None
    return round(b.chance, 4), round(b.best_constant, 4)


def record_round(cfg: RunConfig, r: int, stage_seconds: dict[str, float] | None = None) -> RoundMetrics:
    """Assemble round r's metrics.json from what its stages wrote (idempotent)."""
    layout = layout_of(cfg)
    val = io.read_json(layout.eval_summary(r, "val"))
    test_uri = layout.eval_summary(r, "test")
    test = io.read_json(test_uri) if io.exists(test_uri) else None
    m = RoundMetrics(
        round=r,
        val_accuracy=val["accuracy"],
        val_ci95=tuple(val.get("ci95", (0.0, 0.0))),
        n_val=val.get("n", 0),
        test_accuracy=test["accuracy"] if test else None,
        val_ll_accuracy=val.get("ll_accuracy"),
        test_ll_accuracy=test.get("ll_accuracy") if test else None,
        adapter=layout.adapter(r) if r >= 1 else None,
    )
    m.val_chance, m.val_best_constant = _floors(cfg, "val")
    if test:
        m.test_chance, m.test_best_constant = _floors(cfg, "test")
    if r >= 1:
        reports = read_reports(layout.mistakes(r))
        gaps = [SkillGap.model_validate(g) for g in io.read_json(layout.gaps(r))]
        sel = read_selections(layout.selection(r))
        tuned = io.read_json(layout.tune_summary(r))
        m.mistakes = len(reports)
        m.diagnosed = sum(1 for x in reports if x.status == "diagnosed")
        m.undiagnosed = m.mistakes - m.diagnosed
        found = mistake_provenance(reports)
        m.by_answer_switch, m.by_judge, m.by_last_step = (
            found["answer-switch"],
            found["judge"],
            found["last-step"],
        )
        m.top_skills = [g.skill for g in gaps[:5]]
        m.selected = len(sel)
        m.train_loss = tuned.get("final_loss")
    else:
        m.mistakes = val.get("n", 0) - val.get("n_correct", 0)
    m.stage_seconds = stage_seconds or _stage_seconds(layout, r)
    io.write_json(layout.metrics(r), m.model_dump(mode="json"))
    return m


_ROUND_STAGES = ("diagnose", "allocate", "retrieve", "tune", "evaluate-val", "evaluate-test")


def _stage_seconds(layout: RunLayout, r: int) -> dict[str, float]:
    """Work time of each stage of the round, from the markers (a resumed stage keeps its original time)."""
    out: dict[str, float] = {}
    for marker in io.list_uris(io.join(layout.round_dir(r), ".done")):
        name = Path(io.parse(marker).path).stem.split("-shard-")[0]  # shards add up to their split's evaluate
        if name in _ROUND_STAGES:
            out[name] = round(out.get(name, 0.0) + float(io.read_json(marker).get("seconds", 0.0)), 3)
    return out


def round_metrics(cfg: RunConfig) -> list[RoundMetrics]:
    """Metrics of every round recorded so far, in order."""
    return read_round_metrics(layout_of(cfg))


def should_continue(cfg: RunConfig, r: int) -> tuple[bool, float]:
    """After round r: go on while r < max_rounds and the validation gain over the best so far >= min_gain, and
    round r had something to learn from (a round with nothing selected, or after the first fewer than
    `loop.min_selected`, kept the previous adapter: another round would meet the same mistakes)."""
    rounds = round_metrics(cfg)
    if len(rounds) <= r:
        raise StageError(f"round {r} has no metrics yet")
    best_before = max(m.val_accuracy for m in rounds[:r])
    gain = rounds[r].val_accuracy - best_before
    no_mistakes_left = rounds[r].val_accuracy >= 1.0
    nothing_learnt = r >= 1 and (rounds[r].selected == 0 or too_few_to_tune(cfg, r, rounds[r].selected))
    go_on = (
        r < cfg.loop.max_rounds and gain >= cfg.loop.min_gain and not no_mistakes_left and not nothing_learnt
    )
    return go_on, gain


def best_round(rounds: list[RoundMetrics]) -> int:
    """The round with the best validation accuracy (earliest on ties; 0 = no adapter beats the base)."""
    best = 0
    for m in rounds:
        if m.val_accuracy > rounds[best].val_accuracy:
            best = m.round
    return best
