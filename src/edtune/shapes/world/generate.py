"""Write a whole shapes world to a local directory: pool, images, target tasks, sidecar. Deterministic.

Layout:
  <out>/pool.jsonl               SupportSample rows (no skill labels), images as `images/<name>.png`
  <out>/pool.labels.jsonl        sidecar {id, family, families, skills, rationale, turns}: analysis only
  <out>/images/                  pool scene images (PNG, palette mode, ~1 KB each; shared by 1-3 conversations)
  <out>/tasks/<name>/task.yaml   the task card
  <out>/tasks/<name>/{val,test}.jsonl  TaskSample rows, images in tasks/<name>/images/
  <out>/world.json               what was generated (no timings: the directory is byte-identical per seed)
Each JSONL is written to a temporary name and renamed, so a killed run never leaves a half file under the real name.
"""

from __future__ import annotations

import json
import os
import sys
import time
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

from pydantic import BaseModel

from edtune.shapes.world.families import BASE_FAMILIES, DISTRACTOR_FAMILIES, GAP_FAMILIES
from edtune.shapes.world.pool import iter_pool
from edtune.shapes.world.scenes import WORLD_VERSION, render_png
from edtune.shapes.world.tasks import DEMO_TASK, TASKS, iter_task, task_card


class TaskSummary(BaseModel):
    name: str
    answer_type: str
    skills: list[str]
    val: int
    test: int
    dir: str


class WorldSummary(BaseModel):
    world_version: str = WORLD_VERSION
    out_dir: str
    seed: int
    pool: str
    pool_size: int
    pool_images: int
    labels: str
    tasks: list[TaskSummary]
    demo_task: str
    gap_families: list[str]
    base_families: list[str]
    distractor_families: list[str] = list(DISTRACTOR_FAMILIES)
    seconds: float = 0.0


@contextmanager
def _atomic(path: Path) -> Any:
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w", encoding="utf-8", newline="\n") as fh:
        yield fh
    os.replace(tmp, path)


def _line(fh: IO[str], rec: BaseModel) -> None:
    fh.write(
        json.dumps(rec.model_dump(mode="json", by_alias=True, exclude_none=True), ensure_ascii=False) + "\n"
    )


def _progress(enabled: bool) -> Any:
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=Console(stderr=True),
        disable=not enabled,
        transient=True,
    )


def generate_world(
    out_dir: str | Path,
    seed: int = 0,
    pool_size: int = 20000,
    val_size: int = 200,
    test_size: int = 500,
    *,
    progress: bool | None = None,
) -> WorldSummary:
    """Generate the world under `out_dir` (created if needed); same arguments -> byte-identical files."""
    t0 = time.perf_counter()
    out = Path(out_dir)
    (out / "images").mkdir(parents=True, exist_ok=True)
    show = sys.stderr.isatty() if progress is None else progress
    n_images = 0
    task_summaries: list[TaskSummary] = []
    with _progress(show) as bar:
        job = bar.add_task("support pool", total=pool_size)
        with _atomic(out / "pool.jsonl") as pool_fh, _atomic(out / "pool.labels.jsonl") as lab_fh:
            for group in iter_pool(seed, pool_size):
                (out / group.image).write_bytes(render_png(group.scene))
                n_images += 1
                for sample, label in group.samples:
                    _line(pool_fh, sample)
                    _line(lab_fh, label)
                bar.advance(job, len(group.samples))
        for spec in TASKS.values():
            tdir = out / "tasks" / spec.name
            (tdir / "images").mkdir(parents=True, exist_ok=True)
            job = bar.add_task(f"task {spec.name}", total=val_size + test_size)
            for split, n in (("val", val_size), ("test", test_size)):
                with _atomic(tdir / f"{split}.jsonl") as fh:
                    for sample, scene, _fam in iter_task(spec, split, n, seed):
                        (tdir / sample.image).write_bytes(render_png(scene))
                        _line(fh, sample)
                        bar.advance(job)
            import yaml

            card = yaml.safe_dump(task_card(spec, val_size, test_size), sort_keys=False)
            with _atomic(tdir / "task.yaml") as fh:
                fh.write(card)
            task_summaries.append(
                TaskSummary(
                    name=spec.name,
                    answer_type=spec.answer_type,
                    skills=spec.skills,
                    val=val_size,
                    test=test_size,
                    dir=str(tdir),
                )
            )
    summary = WorldSummary(
        out_dir=str(out),
        seed=seed,
        pool=str(out / "pool.jsonl"),
        pool_size=pool_size,
        pool_images=n_images,
        labels=str(out / "pool.labels.jsonl"),
        tasks=task_summaries,
        demo_task=DEMO_TASK,
        gap_families=list(GAP_FAMILIES),
        base_families=list(BASE_FAMILIES),
    )
    record = summary.model_dump(mode="json", exclude={"seconds", "out_dir", "pool", "labels"})
    for t in record["tasks"]:
        t.pop("dir")
    with _atomic(out / "world.json") as fh:
        fh.write(json.dumps(record, indent=2) + "\n")
    summary.seconds = round(time.perf_counter() - t0, 3)
    return summary
