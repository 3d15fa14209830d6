"""Shared machinery of the data-efficiency study and the ablations: one world, one annotated + indexed pool, one
reference teacher and one base student per study, and a stage-by-stage driver with hooks.

Why a driver and not `edtune.loop.run`: the benchmarks must (a) post-process a stage's output in between (the
"random erroneous step" ablation rewrites mistakes.jsonl; the validation selector is brought to the exact budget),
(b) skip diagnosis for selectors that do not use it, and (c) share the base student's round-0 evaluation across
every run of a task. Everything still goes through the `edtune.stages` functions, so each config's run directory
under the study workdir is cached and a killed study resumes where it stopped.

The pool's analysis sidecar (pool.labels.jsonl) is read HERE only, to measure skill coverage of what a selector
picked; no stage ever sees it.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from benchmarks.bookkeeping import base_fingerprint

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

TEXT_COLLECTION = "bench_pool_text"  # the pool indexed as conversation text (similar-questions baseline)
SKILL_COLLECTION = "bench_pool_skills"  # the pool indexed with the teacher's skill tags (the paper's setting)


# ---------------------------------------------------------------- study setup


class StudyPaths(BaseModel):
    workdir: str
    world: str
    cache: str
    milvus: str
    base: str
    teacher_url: str  # noise seed 0: tags the pool once for the whole study
    teacher_urls: dict[int, str] = {}  # per study seed: the teacher whose noise that seed draws
    noise: str = "realistic"

    def teacher_for(self, seed: int) -> str:
        return self.teacher_urls.get(seed, self.teacher_url)


def code_stamp() -> str:
    """sha256 over the world's code and the shipped base student: a change to either invalidates a cached study
    (its world, annotations, index and every run), so results always describe the code that is checked out."""

    import edtune

    root = Path(edtune.__file__).parent / "shapes"  # names hashed relative to it, as before the harness moved
    h = hashlib.sha256()
    files = sorted((root / "world").glob("*.py")) + sorted(
        f for f in (root / "assets" / "base-student").rglob("*") if f.is_file()
    )
    for f in files:
        h.update(str(f.relative_to(root)).encode())
        h.update(f.read_bytes())
    return h.hexdigest()[:16]


@contextmanager
def study(
    workdir: Path,
    *,
    pool_size: int,
    val_size: int,
    test_size: int,
    world_seed: int = 0,
    log: Callable = print,
    noise: str = "realistic",
    seeds: Sequence[int] = (0,),
    base_student: str | None = None,
) -> Iterator[StudyPaths]:
    """Generate the world once, start the reference teachers, annotate and index the pool once (two collections:
    skill tags and plain text), and yield the paths every run of the study shares.

    One reference teacher per study seed, with that seed's noise (`noise` profile): a seed sets the teacher's
    errors as well as LoRA init and data order. The pool is tagged once, by the seed-0 teacher."""
    import torch

    from edtune.shapes.student.base import ensure_base_student
    from edtune.shapes.world.generate import generate_world
    from edtune.shapes.world.reference_teacher import start_reference_teacher

    torch.set_num_threads(1)
    workdir.mkdir(parents=True, exist_ok=True)
    world = workdir / "world"
    spec = {
        "pool_size": pool_size,
        "val_size": val_size,
        "test_size": test_size,
        "seed": world_seed,
        "code": code_stamp(),
        "noise": noise,
    }
    stamp = workdir / "world.spec.json"
    if not (world / "world.json").exists() or not stamp.exists() or json.loads(stamp.read_text()) != spec:
        shutil.rmtree(workdir, ignore_errors=True)  # a different world invalidates every cached run
        workdir.mkdir(parents=True)
        t0 = time.perf_counter()
        generate_world(world, seed=world_seed, pool_size=pool_size, val_size=val_size, test_size=test_size)
        stamp.write_text(json.dumps(spec))
        log(
            f"world generated in {time.perf_counter() - t0:.1f}s: pool {pool_size}, val {val_size}, test {test_size}"
        )
    cache = workdir / "cache"
    # snapshot the base student into the study: a base swapped mid-study must not mix into its runs
    base = str(workdir / "base-student")
    source = base_student or ensure_base_student(str(cache))
    if not Path(base, "manifest.json").exists():
        shutil.copytree(source, base + ".tmp", dirs_exist_ok=True)
        os.replace(base + ".tmp", base)
    elif base_student and base_fingerprint(base) != base_fingerprint(base_student):
        raise ValueError(
            f"{workdir} holds runs of another base student than {base_student}; use another workdir"
        )
    from edtune.shapes.world.noise import get_profile

    servers = {s: start_reference_teacher("127.0.0.1", 0, noise=get_profile(noise, s)) for s in {0, *seeds}}
    servers[EXACT_TEACHER] = start_reference_teacher("127.0.0.1", 0, noise=get_profile("exact"))
    try:
        paths = StudyPaths(
            workdir=str(workdir),
            world=str(world),
            cache=str(cache),
            milvus=str(workdir / "milvus.db"),
            base=base,
            teacher_url=servers[0][1],
            teacher_urls={s: url for s, (_, url) in servers.items()},
            noise=noise,
        )
        _prepare_pool(paths, log)
        yield paths
    finally:
        for server, _ in servers.values():
            server.shutdown()


def _prepare_pool(p: StudyPaths, log: Callable) -> None:
    from edtune import stages

    done = Path(p.workdir) / "pool.done.json"
    if done.exists():
        return
    cfg = make_config(p, "left-right", "pool")
    t0 = time.perf_counter()
    ann = stages.annotate(cfg, cfg.pool.skills)  # type: ignore[arg-type]
    t1 = time.perf_counter()
    idx = stages.index(cfg)
    t2 = time.perf_counter()
    text_cfg = cfg.model_copy(deep=True)
    text_cfg.pool.skills = None
    text_cfg.pool.collection = TEXT_COLLECTION
    tidx = stages.index(text_cfg)
    t3 = time.perf_counter()
    info = {
        "annotate_s": round(t1 - t0, 1),
        "index_skills_s": round(t2 - t1, 1),
        "index_text_s": round(t3 - t2, 1),
        "annotate": {k: ann.get(k) for k in ("n", "tagged", "requests") if k in ann},
        "indexed": idx.get("count"),
        "indexed_text": tidx.get("count"),
    }
    done.write_text(json.dumps(info))
    log(f"pool annotated and indexed: {info}")


EXACT_TEACHER = -1  # key of the noiseless reference teacher in StudyPaths.teacher_urls


def make_config(
    p: StudyPaths, task: str, run_id: str, *, exact_teacher: bool = False, **overrides: Any
) -> Any:
    """A RunConfig for one run of the study (built like the demo's); `overrides` use `section__field=value`."""
    from edtune.shapes.demo import world_config

    seed = int(overrides.get("seed", 0))
    data: dict[str, Any] = {
        "run_id": run_id,
        # the teacher-reply cache is keyed by the served model id, which is the same for every noise seed
        "cache_dir": f"{p.cache}/exact"
        if exact_teacher
        else p.cache
        if seed == 0
        else f"{p.cache}/seed-{seed}",
        "student": {"torch_threads": 1},
        "teacher": {"concurrency": 8},
        "loop": {"max_rounds": 1, "budget_per_round": 1, "min_gain": -1.0},
    }
    for key, value in overrides.items():
        section, _, fld = key.partition("__")
        if fld:
            data.setdefault(section, {})[fld] = value
        else:
            data[section] = value
    return world_config(
        Path(p.workdir),
        Path(p.world),
        p.base,
        p.teacher_urls[EXACT_TEACHER] if exact_teacher else p.teacher_for(seed),
        task,
        milvus_uri=p.milvus,
        collection=SKILL_COLLECTION,
        overrides=data,
    )


def load_labels(p: StudyPaths) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    with open(Path(p.world) / "pool.labels.jsonl", encoding="utf-8") as fh:
        for line in fh:
            rec = json.loads(line)
            out[rec["id"]] = rec
    return out


def val_labels(p: StudyPaths, task: str) -> dict[str, dict[str, Any]]:
    """Sidecar-like labels for the validation samples (selected as `val:<id>`), from their own `meta.family`."""
    from edtune.shapes.world.families import FAMILIES

    out: dict[str, dict[str, Any]] = {}
    with open(Path(p.world) / "tasks" / task / "val.jsonl", encoding="utf-8") as fh:
        for line in fh:
            rec = json.loads(line)
            fam = (rec.get("meta") or {}).get("family")
            if fam in FAMILIES:
                out[f"val:{rec['id']}"] = {
                    "family": fam,
                    "families": [fam],
                    "skills": list(FAMILIES[fam].skills),
                }
    return out
