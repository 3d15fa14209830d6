"""What the studies share, gathered under one name: each part lives in the module of its concern.

- `benchmarks.bookkeeping`: budgets, step counts, coverage, summary statistics, provenance of results files;
- `benchmarks.study`: one world, one annotated + indexed pool, one reference teacher and one base student per study;
- `benchmarks.driver`: the stage-by-stage driver with hooks;
- `benchmarks.plots`: results JSON and PNG line plots.
"""

from __future__ import annotations

from benchmarks.bookkeeping import (
    REPO,
    RESULTS,
    Coverage,
    DirtyTreeError,
    Stat,
    base_fingerprint,
    budgets_for,
    coverage,
    fmt,
    provenance,
    split_evenly,
    stat,
    steps_for,
    task_families,
    task_gap_skills,
    task_skills,
)
from benchmarks.driver import (
    Hook,
    RunOutcome,
    drive,
    fit_selection_to_budget,
    oracle_selection,
    task_family_selection,
)
from benchmarks.plots import (
    PALETTE,
    line_plot_png,
    write_json,
)
from benchmarks.study import (
    EXACT_TEACHER,
    SKILL_COLLECTION,
    TEXT_COLLECTION,
    StudyPaths,
    code_stamp,
    load_labels,
    make_config,
    study,
    val_labels,
)

__all__ = [
    "EXACT_TEACHER",
    "PALETTE",
    "REPO",
    "RESULTS",
    "SKILL_COLLECTION",
    "TEXT_COLLECTION",
    "Coverage",
    "DirtyTreeError",
    "Hook",
    "RunOutcome",
    "Stat",
    "StudyPaths",
    "base_fingerprint",
    "budgets_for",
    "code_stamp",
    "coverage",
    "drive",
    "fit_selection_to_budget",
    "fmt",
    "line_plot_png",
    "load_labels",
    "make_config",
    "oracle_selection",
    "provenance",
    "split_evenly",
    "stat",
    "steps_for",
    "study",
    "task_families",
    "task_family_selection",
    "task_gap_skills",
    "task_skills",
    "val_labels",
    "write_json",
]
