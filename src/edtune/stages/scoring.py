"""Evaluate stages: score the student of a round on a task split, whole or as `dsl.ParallelFor` shards."""

from __future__ import annotations

from typing import Any

from edtune import io
from edtune.config import RunConfig
from edtune.errors import InputError, StageError
from edtune.schemas import Trace
from edtune.stages.base import Split, StageResult, _adapter_for, _run, _student_cfg, _task_uri, layout_of


def evaluate(cfg: RunConfig, r: int, split: Split = "val") -> StageResult:
    """Score the student of round `r` (base for r=0, else round r's adapter) on a task split; write traces."""
    layout = layout_of(cfg)
    task_uri = _task_uri(cfg, split)
    adapter = _adapter_for(layout, r)

    def body() -> dict[str, Any]:
        traces, summary = _answer(cfg, task_uri, adapter, shard=None)
        io.write_jsonl(layout.traces(r, split), traces)
        data = summary.model_dump(mode="json")
        io.write_json(layout.eval_summary(r, split), data)
        return data

    return _run(
        layout, r, f"evaluate-{split}", _student_cfg(cfg), [task_uri, cfg.student.base, adapter], body
    )


def _answer(
    cfg: RunConfig,
    task_uri: str,
    adapter: str | None,
    shard: tuple[int, int] | None,
    progress: bool = True,
) -> tuple[list, Any]:
    from edtune.datasets import load_task
    from edtune.student import load_student
    from edtune.student.evaluate import evaluate as run_eval

    samples = load_task(task_uri)
    if shard is not None:
        index, count = shard
        samples = samples[index::count]
    student = load_student(cfg.student.base, cfg.student, adapter=adapter, cache_dir=cfg.cache_dir)
    return run_eval(student, samples, progress=progress)


def evaluate_shard(cfg: RunConfig, r: int, split: Split, shard: int, shards: int) -> StageResult:
    """Score every `shards`-th sample starting at `shard` (one GPU pod of a `dsl.ParallelFor` fan-out)."""
    if not 0 <= shard < shards:
        raise InputError(f"shard {shard} is not in [0, {shards})")
    layout = layout_of(cfg)
    task_uri = _task_uri(cfg, split)
    adapter = _adapter_for(layout, r)
    name = f"shard-{shard:03d}-of-{shards:03d}"

    def body() -> dict[str, Any]:
        traces, summary = _answer(cfg, task_uri, adapter, shard=(shard, shards))
        io.write_jsonl(layout.file(r, f"shards/{split}-{name}.jsonl"), traces)
        return summary.model_dump(mode="json")

    part = {"student": _student_cfg(cfg), "shard": shard, "shards": shards}
    return _run(layout, r, f"evaluate-{split}-{name}", part, [task_uri, cfg.student.base, adapter], body)


def merge_shards(cfg: RunConfig, r: int, split: Split, shards: int) -> StageResult:
    """Merge shard traces back into the split's input order and summarise them as one evaluation."""
    from edtune.datasets import load_task
    from edtune.student.evaluate import summarise

    layout = layout_of(cfg)
    task_uri = _task_uri(cfg, split)
    shard_uris = [
        layout.file(r, f"shards/{split}-shard-{i:03d}-of-{shards:03d}.jsonl") for i in range(shards)
    ]

    def body() -> dict[str, Any]:
        order = [s.id for s in load_task(task_uri, check_images=False)]
        by_id: dict[str, Trace] = {}
        seconds = 0.0
        for i, uri in enumerate(shard_uris):
            by_id.update((t.sample_id, t) for t in io.read_jsonl(uri, Trace, id_field="sample_id"))
            marker = layout.marker(r, f"evaluate-{split}-shard-{i:03d}-of-{shards:03d}")
            seconds = max(
                seconds, float(io.read_json(marker).get("seconds", 0.0)) if io.exists(marker) else 0.0
            )
        missing = [sid for sid in order if sid not in by_id]
        if missing:
            raise StageError(
                f"{len(missing)} sample(s) missing from the evaluation shards, e.g. {missing[:3]}"
            )
        traces = [by_id[sid] for sid in order]
        summary = summarise(traces, seconds)
        io.write_jsonl(layout.traces(r, split), traces)
        data = summary.model_dump(mode="json")
        io.write_json(layout.eval_summary(r, split), data)
        return data

    return _run(layout, r, f"evaluate-{split}", _student_cfg(cfg), [task_uri, *shard_uris], body)
