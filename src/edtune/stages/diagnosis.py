"""Diagnose stage: the teacher explains every wrong validation trace of the previous round."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from edtune import io
from edtune.config import RunConfig
from edtune.schemas import Trace
from edtune.stages.base import StageResult, _run, _sha_json, _task_uri, layout_of


def diagnose(cfg: RunConfig, r: int) -> StageResult:
    """Ask the teacher about every wrong validation trace of round r-1; write round r's mistakes.jsonl."""
    layout = layout_of(cfg)
    traces_uri = layout.traces(r - 1, "val")
    task_uri = _task_uri(cfg, "val")

    def body() -> dict[str, Any]:
        from edtune.datasets import load_task
        from edtune.teacher.diagnose import diagnose as run_diagnose

        traces = io.read_jsonl(traces_uri, Trace, id_field="sample_id")
        samples = {s.id: s for s in load_task(task_uri)}
        journal = str(Path(cfg.cache_dir) / "journals" / _sha_json([cfg.run_uri, r])[:16] / "mistakes.jsonl")
        res = run_diagnose(traces, samples, cfg.teacher, cache_dir=cfg.cache_dir, journal=journal)
        # Before mistakes.jsonl (allocate reads both once mistakes exist); always written, so a rerun that got
        # no grouping (null) never leaves an older one behind.
        io.write_json(layout.skill_groups(r), {"groups": res.skill_groups})
        io.write_jsonl(layout.mistakes(r), res.reports)
        return res.model_dump(mode="json", exclude={"reports", "skill_groups"})

    teacher_part = cfg.teacher.model_dump(
        mode="json", exclude={"concurrency", "timeout_s", "deadline_s", "url"}
    )
    return _run(layout, r, "diagnose", teacher_part, [traces_uri, task_uri], body)
