"""Read a run's files (DESIGN §3) without any stage logic: what the report, the CLI and the stages share.

This module exists so that readers of a run (the HTML report, `edtune report`, the demo's summary) depend on the
files a run wrote, never on the stage functions that wrote them: `edtune.stages` imports the report to finalise a
run, and the report must not import the stages back.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from edtune import io
from edtune.layout import RunLayout
from edtune.schemas import MistakeReport, RoundMetrics, Selection


def read_reports(uri: str) -> list[MistakeReport]:
    """A round's mistakes.jsonl; empty when the student made no mistake on the validation split."""
    if not io.exists(uri) or not io.read_bytes(uri).strip():
        return []
    return io.read_jsonl(uri, MistakeReport, id_field="sample_id")


def read_selections(uri: str) -> list[Selection]:
    """A round's selection or replay file; a missing or empty file is an empty list (e.g. no replay)."""
    if not io.exists(uri) or not io.read_bytes(uri).strip():
        return []
    return io.read_jsonl(uri, Selection, id_field=None)


def read_round_metrics(layout: RunLayout) -> list[RoundMetrics]:
    """Metrics of every round recorded so far (round-00, round-01, … until the first gap), in order."""
    out = []
    r = 0
    while io.exists(layout.metrics(r)):
        out.append(RoundMetrics.model_validate(io.read_json(layout.metrics(r))))
        r += 1
    return out


#: The tune stage's figures the report shows and `tune_op` logs as KFP metrics, in display order: keys of
#: `round-NN/tune.json` (`edtune.student.types.TuneResult`), also in the stage summary. `peak_gpu_mb` is null on
#: a CPU run; one list so the report and the KFP UI show the same figures under the same names.
TRAINING_FIGURES = (
    "final_loss",
    "samples_per_s",
    "tokens_per_s",
    "peak_rss_mb",
    "peak_gpu_mb",
    "steps",
    "seconds",
)


def training_figures(summary: Mapping[str, Any]) -> dict[str, float]:
    """The numeric `TRAINING_FIGURES` a tune summary holds; missing or null ones (no GPU) are left out."""
    return {
        k: float(summary[k])
        for k in TRAINING_FIGURES
        if isinstance(summary.get(k), int | float) and not isinstance(summary.get(k), bool)
    }


def read_training_figures(layout: RunLayout, r: int) -> dict[str, float] | None:
    """Round r's training figures from its tune.json; None when the round did not tune (round 0, an old run, a
    round with nothing selected)."""
    uri = layout.tune_summary(r)
    if not io.exists(uri):
        return None
    data = io.read_json(uri)
    return None if data.get("skipped") else training_figures(data)
