"""Bookkeeping every benchmark shares: budgets and step counts, coverage, summary statistics, and the provenance
recorded in every results file."""

from __future__ import annotations

import datetime as _dt
import hashlib
import math
import os
import platform
import statistics
import subprocess
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from pydantic import BaseModel

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

REPO = Path(__file__).resolve().parent.parent
RESULTS = REPO / "benchmarks" / "results"


# ---------------------------------------------------------------- pure bookkeeping (unit-tested)


def budgets_for(pool_size: int, fractions: Sequence[float]) -> list[int]:
    """Budgets (number of selected samples) as fractions of the pool, at least 1 each, deduplicated, ascending."""
    return sorted({max(1, round(pool_size * f)) for f in fractions})


def steps_for(n_selected: int, *, replay_fraction: float, batch_size: int, epochs: float) -> int:
    """LoRA steps as a function of the selection size only, so every selector at one budget trains equally long:
    `epochs` passes over the selection plus its replay share (n / (1 - f) samples) at `batch_size`."""
    n_total = n_selected + round(n_selected * replay_fraction / (1 - replay_fraction))
    return max(1, math.ceil(epochs * n_total / batch_size))


def split_evenly(total: int, parts: int) -> list[int]:
    """`total` split into `parts` integers that differ by at most one and sum to `total` (largest first)."""
    base, extra = divmod(total, parts)
    return [base + (1 if i < extra else 0) for i in range(parts)]


def task_families(task: str) -> set[str]:
    from edtune.shapes.world.tasks import TASKS

    return {f for f, _ in TASKS[task].families}


def task_skills(task: str) -> set[str]:
    from edtune.shapes.world.tasks import TASKS

    return set(TASKS[task].skills)


def task_gap_skills(task: str) -> set[str]:
    """The canonical skill of each of the task's gap families (what the base student lacks)."""
    from edtune.shapes.world.families import FAMILIES, GAP_FAMILIES

    return {FAMILIES[f].skill for f in task_families(task) if f in GAP_FAMILIES}


class Coverage(BaseModel):
    """How well a selection serves a task, by the sidecar's ground truth."""

    n: int
    family_share: float  # share of selected samples whose question family is one the task asks
    skill_share: float  # share whose skills include at least one skill the task needs
    gap_skill_share: float  # share that teaches a skill the task needs and the base student lacks


def coverage(
    selected: Iterable[str],
    labels: dict[str, dict[str, Any]],
    families: set[str],
    skills: set[str],
    gap_skills: set[str],
) -> Coverage:
    """Coverage of `selected` ids; ids not in the sidecar (e.g. `val:` samples) count by nothing (not relevant)
    except when they carry their own family in `labels` (the caller may add validation samples)."""
    ids = list(selected)
    if not ids:
        return Coverage(n=0, family_share=0.0, skill_share=0.0, gap_skill_share=0.0)
    fam = sk = gap = 0
    for i in ids:
        lab = labels.get(i)
        if lab is None:
            continue
        fams = set(lab.get("families") or [lab.get("family")])
        sks = set(lab.get("skills") or [])
        fam += bool(fams & families)
        sk += bool(sks & skills)
        gap += bool(sks & gap_skills)
    n = len(ids)
    return Coverage(n=n, family_share=fam / n, skill_share=sk / n, gap_skill_share=gap / n)


class Stat(BaseModel):
    mean: float | None
    std: float | None
    n: int
    values: list[float]


def stat(values: Sequence[float | None]) -> Stat:
    """Mean and sample standard deviation (0 for a single value) of the non-missing values."""
    v = [float(x) for x in values if x is not None]
    if not v:
        return Stat(mean=None, std=None, n=0, values=[])
    return Stat(mean=statistics.fmean(v), std=statistics.stdev(v) if len(v) > 1 else 0.0, n=len(v), values=v)


def fmt(s: Stat | None, pct: bool = True) -> str:
    """`mean ± std` in percent (or raw), `–` when missing."""
    if s is None or s.mean is None:
        return "–"
    k = 100.0 if pct else 1.0
    if s.n <= 1:
        return f"{s.mean * k:.1f}"
    return f"{s.mean * k:.1f} ± {s.std * k:.1f}"  # type: ignore[operator]


# ---------------------------------------------------------------- provenance


def dirty_paths(writing: Sequence[str | Path] = (), repo: Path = REPO) -> list[str]:
    """Paths that make the tree differ from HEAD: modified tracked files and untracked files outside ignored paths
    (`git status --porcelain --untracked-files=all`), except the results files being written (`writing`)."""
    out = subprocess.run(
        ["git", "-C", str(repo), "status", "--porcelain", "--untracked-files=all"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    skip = {Path(w).resolve() for w in writing}
    paths = []
    for line in out.splitlines():
        path = line[3:].split(" -> ")[-1].strip('"')
        if (repo / path).resolve() not in skip:
            paths.append(path)
    return paths


class DirtyTreeError(SystemExit):
    """A study refuses to run from uncommitted code (its results could not be traced to a commit)."""


def provenance(
    argv: Sequence[str], *, allow_dirty: bool | None = None, writing: Sequence[str | Path] = ()
) -> dict[str, Any]:
    """Versions, git commit, `git_dirty`, machine, date and the command, recorded in every results file.

    `allow_dirty` False raises DirtyTreeError (the script exits with its message) when tracked files differ from HEAD; None (bookkeeping
    callers) only records it. Study scripts pass their `--allow-dirty` flag, which is recorded too."""
    from importlib.metadata import PackageNotFoundError, version

    def v(name: str) -> str | None:
        try:
            return version(name)
        except PackageNotFoundError:
            return None

    try:
        commit = subprocess.run(
            ["git", "-C", str(REPO), "rev-parse", "HEAD"], capture_output=True, text=True, check=True
        ).stdout.strip()
        dirty = bool(dirty_paths(writing))
    except (OSError, subprocess.CalledProcessError):
        commit, dirty = None, None
    if allow_dirty is False and dirty:
        raise DirtyTreeError(
            "refusing to run a study from a dirty tree (uncommitted changes or untracked files): commit first, run "
            "from a clean worktree (git worktree add /tmp/edtune-study HEAD), or pass --allow-dirty (recorded)"
        )
    gpu = cpu_capability = None
    try:
        import torch

        gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else None
        # the vector instruction set torch's CPU kernels use (AVX2, AVX512, ...): one reason results differ
        cpu_capability = str(torch.backends.cpu.get_cpu_capability())
    except Exception:  # provenance must never fail a study
        pass
    return {
        "date": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        "command": "python -m " + " ".join(argv),
        "git_commit": commit,
        "git_dirty": dirty,
        "allow_dirty": bool(allow_dirty),
        "machine": {
            "platform": platform.platform(),
            "python": platform.python_version(),
            "cpus": os.cpu_count(),
            "cpu": _cpu_model(),
            "torch_cpu_capability": cpu_capability,
            "gpu": gpu,
        },
        "versions": {
            p: v(p) for p in ("edtune", "torch", "transformers", "peft", "pymilvus", "milvus-lite", "numpy")
        },
        "base_student": _shipped_base_fingerprint(),
    }


def _cpu_model() -> str | None:
    """The CPU's model name: tiny-LoRA outcomes differ between CPUs (their float kernels differ), so a figure names
    the CPU it was measured on."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or None


def _shipped_base_fingerprint() -> str | None:
    """sha256 of the shipped base student's manifest (which lists every file's sha256): two results files with
    the same fingerprint tuned the same base, whatever their commits."""
    return base_fingerprint(REPO / "src" / "edtune" / "shapes" / "assets" / "base-student")


def base_fingerprint(base_dir: str | Path) -> str | None:
    """sha256 of a base student directory's manifest.json (None without one)."""
    manifest = Path(base_dir) / "manifest.json"
    return hashlib.sha256(manifest.read_bytes()).hexdigest() if manifest.is_file() else None
