"""Tune stage: LoRA on a round's selection (+ replay), continuing the previous round's adapter."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from edtune import io
from edtune.config import RunConfig
from edtune.errors import InputError, StageError
from edtune.runfiles import read_selections
from edtune.schemas import SupportSample, TaskSample
from edtune.stages.base import (
    StageResult,
    _run,
    _student_cfg,
    _sweep_temp_files,
    _task_uri,
    layout_of,
)


def _materialise(cfg: RunConfig, ids: list[str]) -> list[SupportSample]:
    """Load the selected support samples (in selection order) by streaming the pool once."""
    from edtune.datasets import iter_support, load_task
    from edtune.student.prompt import format_question

    wanted = set(ids)
    found: dict[str, SupportSample] = {}
    if any(i.startswith("val:") for i in ids):
        for q in load_task(_task_uri(cfg, "val")):
            sid = f"val:{q.id}"
            if sid in wanted:
                found[sid] = _task_as_support(q, sid, format_question)
    for s in iter_support(cfg.pool.uri):
        if s.id in wanted:
            found[s.id] = s
    missing = [i for i in ids if i not in found]
    if missing:
        raise InputError(f"{cfg.pool.uri}: {len(missing)} selected id(s) not in the pool, e.g. {missing[:3]}")
    return [found[i] for i in ids]


def _task_as_support(s: TaskSample, sid: str, fmt: Callable[..., str]) -> SupportSample:
    human = "<image>\n" + fmt(s.question, s.choices)
    return SupportSample.model_validate(
        {
            "id": sid,
            "image": s.image,
            "conversations": [
                {"from": "human", "value": human},
                {"from": "gpt", "value": f"Answer: {s.gold_text}"},
            ],
            "source": "validation",
        }
    )


#: tune.json's `skipped` when a round after the first had nothing selected (its adapter is the previous round's).
NOTHING_SELECTED = (
    "nothing selected: no mistake left was diagnosed, or the pool has no unused sample for the gaps found "
    "(retrieve's summary says which)"
)


def too_few_to_tune(cfg: RunConfig, r: int, n_selected: int) -> bool:
    """A round after the first with fewer new samples than `loop.min_selected` is not tuned (see the setting)."""
    return r >= 2 and n_selected < cfg.loop.min_selected


def _too_few_selected(n: int, minimum: int) -> str:
    return f"too few selected: {n} new sample(s) < loop.min_selected {minimum} (a round after the first)"


def tune(cfg: RunConfig, r: int) -> StageResult:
    """LoRA-tune the student on round r's selection (+ replay), continuing round r-1's adapter."""
    layout = layout_of(cfg)
    adapter_in = layout.adapter(r - 1) if r >= 2 else None

    def body() -> dict[str, Any]:
        sel = read_selections(layout.selection(r))
        rep = read_selections(layout.replay(r))
        ids = [s.support_id for s in sel] + [s.support_id for s in rep]
        if too_few_to_tune(cfg, r, len(sel)):
            # Every mistake left was undiagnosed (or none was left), or earlier rounds used every pool sample that
            # matches the gaps found: nothing (or too little) to learn from. The round keeps the
            # previous adapter, so it scores what round r-1 scored and the loop stops after it (should_continue);
            # failing here failed the whole run (and the KFP pipeline) after a good round 1.
            _sweep_temp_files(layout.adapter(r))
            io.copy_dir(layout.adapter(r - 1), layout.adapter(r))
            why = _too_few_selected(len(sel), cfg.loop.min_selected) if sel else NOTHING_SELECTED
            data = {"skipped": why, "adapter_from_round": r - 1}
            io.write_json(layout.tune_summary(r), data)
            return data
        if not ids:
            raise StageError(f"round {r}: nothing selected to tune on (no mistakes diagnosed?)")
        samples = _materialise(cfg, ids)
        if cfg.lora.restarts > 1:
            return _tune_with_restarts(cfg, r, samples, adapter_in)
        from edtune.stages.adapter_training import train_adapter

        data = train_adapter(
            cfg,
            samples,
            adapter_in,
            seed=cfg.seed + r,
            out_dir=layout.round_dir(r),
            work_key=[cfg.run_uri, r],
        )
        io.write_json(layout.tune_summary(r), data)
        return {k: data[k] for k in data if k != "loss_curve"}

    part = {"lora": cfg.lora.model_dump(mode="json"), "student": _student_cfg(cfg), "seed": cfg.seed}
    if r >= 2:  # whether a later round tunes at all depends on it (round 1's key stays as it was)
        part["min_selected"] = cfg.loop.min_selected
    inputs = [layout.selection(r), layout.replay(r), cfg.student.base, adapter_in]
    if cfg.lora.restarts > 1:  # the restarts are chosen on the validation split: it is an input then
        inputs.append(_task_uri(cfg, "val"))
    return _run(layout, r, "tune", part, inputs, body)


def _tune_with_restarts(
    cfg: RunConfig, r: int, samples: list[SupportSample], adapter_in: str | None
) -> dict[str, Any]:
    """`lora.restarts` adapters from consecutive seeds; the best on validation becomes the round's adapter.

    tune.json is the chosen restart's TuneResult plus `restarts` (every restart's seed, validation accuracy and
    final loss) and `restart_chosen`; the other restarts' adapters are deleted (a real adapter is hundreds of MB).
    """
    from edtune.stages.restarts import restart_dir, tune_restarts
    from edtune.student.tune_checkpoint import delete_prefix

    layout = layout_of(cfg)
    round_dir = layout.round_dir(r)
    best, scores = tune_restarts(cfg, r, samples, adapter_in, round_dir)
    _sweep_temp_files(layout.adapter(r))
    io.copy_dir(io.join(restart_dir(round_dir, best.restart), "adapter"), layout.adapter(r))
    data = {
        **best.tune,
        "restart_chosen": best.restart,
        "restarts": [
            {
                "restart": s.restart,
                "seed": s.seed,
                "val_accuracy": s.val_accuracy,
                "final_loss": s.tune.get("final_loss"),
            }
            for s in scores
        ],
    }
    io.write_json(layout.tune_summary(r), data)
    for s in scores:
        if s.restart != best.restart:
            delete_prefix(io.join(restart_dir(round_dir, s.restart), "adapter"))
    return {k: data[k] for k in data if k != "loss_curve"}
