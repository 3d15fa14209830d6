"""edtune.student: a generic LMM being adapted (HF transformers + peft backend, tiny models for CPU).

Public API (heavy imports happen on first use, not at import):
`load_student`, `Student`, `TuneResult`, `EvalSummary`; see `edtune.student.{scoring,evaluate}`; the tiny base student of the offline harness lives in `edtune.shapes.student`.
"""

from __future__ import annotations

from typing import Any

from edtune.student.types import EvalSummary, Student, TuneResult

__all__ = ["EvalSummary", "Student", "TuneResult", "load_student"]


def __getattr__(name: str) -> Any:
    if name == "load_student":
        from edtune.student.hf import load_student

        return load_student
    raise AttributeError(name)
