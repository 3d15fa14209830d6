"""Batched evaluation: traces plus accuracy with a Wilson 95% interval, parse rate and throughput."""

from __future__ import annotations

import math
import time
from collections.abc import Sequence

from edtune.schemas import TaskSample, Trace
from edtune.student.types import EvalSummary, Student


def wilson(k: int, n: int, z: float = 1.959964) -> tuple[float, float]:
    """Wilson score interval: sane at 0/n and n/n, unlike the normal approximation."""
    if n == 0:
        return (0.0, 1.0)
    p = k / n
    den = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / den
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / den
    return (max(0.0, centre - half), min(1.0, centre + half))


def summarise(traces: Sequence[Trace], seconds: float) -> EvalSummary:
    n = len(traces)
    k = sum(t.correct for t in traces)
    parsed = sum(t.answer is not None for t in traces)
    ll = [t.ll_correct for t in traces if t.ll_correct is not None]
    ll_direct = [t.ll_direct_correct for t in traces if t.ll_direct_correct is not None]
    return EvalSummary(
        accuracy=k / n if n else 0.0,
        ci95=wilson(k, n),
        n=n,
        n_correct=k,
        parse_rate=parsed / n if n else 0.0,
        samples_per_s=n / seconds if seconds > 0 else 0.0,
        seconds=seconds,
        ll_accuracy=sum(ll) / len(ll) if ll else None,
        ll_accuracy_direct=sum(ll_direct) / len(ll_direct) if ll_direct else None,
    )


def evaluate(
    student: Student, samples: Sequence[TaskSample], progress: bool = True, choice_loglikelihood: bool = True
) -> tuple[list[Trace], EvalSummary]:
    """Answer every sample (input order) and summarise; the progress bar shows samples/s on stderr.

    Multiple-choice samples are also scored by choice log-likelihood (`edtune.student.choice_ll`)."""
    t0 = time.perf_counter()
    traces: list[Trace] = []
    if progress and samples:
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

        cols = (
            TextColumn("evaluate"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[rate]:.1f} samples/s"),
            TimeRemainingColumn(),
        )
        with Progress(*cols, transient=True) as bar:
            task = bar.add_task("evaluate", total=len(samples), rate=0.0)
            for tr in student.answer(samples):
                traces.append(tr)
                el = time.perf_counter() - t0
                bar.update(task, advance=1, rate=len(traces) / el if el > 0 else 0.0)
    else:
        traces = list(student.answer(samples))
    if choice_loglikelihood:
        from edtune.student.choice_ll import score_choices

        traces = score_choices(student, samples, traces)
    return traces, summarise(traces, time.perf_counter() - t0)
