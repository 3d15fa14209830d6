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

import datetime as _dt
import hashlib
import json
import math
import os
import platform
import random
import shutil
import statistics
import subprocess
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

REPO = Path(__file__).resolve().parent.parent
RESULTS = REPO / "benchmarks" / "results"
TEXT_COLLECTION = "bench_pool_text"  # the pool indexed as conversation text (similar-questions baseline)
SKILL_COLLECTION = "bench_pool_skills"  # the pool indexed with the teacher's skill tags (the paper's setting)


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
    from edtune.world.tasks import TASKS

    return {f for f, _ in TASKS[task].families}


def task_skills(task: str) -> set[str]:
    from edtune.world.tasks import TASKS

    return set(TASKS[task].skills)


def task_gap_skills(task: str) -> set[str]:
    """The canonical skill of each of the task's gap families (what the base student lacks)."""
    from edtune.world.families import FAMILIES, GAP_FAMILIES

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


class DirtyTreeError(SystemExit):
    """A study refuses to run from uncommitted code (its results could not be traced to a commit)."""


def provenance(argv: Sequence[str], *, allow_dirty: bool | None = None) -> dict[str, Any]:
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
        dirty = bool(
            subprocess.run(
                ["git", "-C", str(REPO), "status", "--porcelain", "--untracked-files=no"],
                capture_output=True,
                text=True,
                check=True,
            ).stdout.strip()
        )
    except (OSError, subprocess.CalledProcessError):
        commit, dirty = None, None
    if allow_dirty is False and dirty:
        raise DirtyTreeError(
            "refusing to run a study from a dirty tree (uncommitted changes to tracked files): commit first, run "
            "from a clean worktree (git worktree add /tmp/edtune-study HEAD), or pass --allow-dirty (recorded)"
        )
    gpu = None
    try:
        import torch

        gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else None
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
            "gpu": gpu,
        },
        "versions": {
            p: v(p) for p in ("edtune", "torch", "transformers", "peft", "pymilvus", "milvus-lite", "numpy")
        },
        "base_student": _shipped_base_fingerprint(),
    }


def _shipped_base_fingerprint() -> str | None:
    """sha256 of the shipped base student's manifest (which lists every file's sha256): two results files with
    the same fingerprint tuned the same base, whatever their commits."""
    manifest = REPO / "src" / "edtune" / "assets" / "base-student" / "manifest.json"
    return hashlib.sha256(manifest.read_bytes()).hexdigest() if manifest.is_file() else None


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
    import hashlib

    import edtune

    root = Path(edtune.__file__).parent
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
) -> Iterator[StudyPaths]:
    """Generate the world once, start the reference teachers, annotate and index the pool once (two collections:
    skill tags and plain text), and yield the paths every run of the study shares.

    One reference teacher per study seed, with that seed's noise (`noise` profile): a seed sets the teacher's
    errors as well as LoRA init and data order. The pool is tagged once, by the seed-0 teacher."""
    import torch

    from edtune.student.base import ensure_base_student
    from edtune.world.generate import generate_world
    from edtune.world.reference_teacher import start_reference_teacher

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
    if not Path(base, "manifest.json").exists():
        shutil.copytree(ensure_base_student(str(cache)), base + ".tmp", dirs_exist_ok=True)
        os.replace(base + ".tmp", base)
    from edtune.world.noise import get_profile

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
    from edtune.demo import world_config

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
    from edtune.world.families import FAMILIES

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


# ---------------------------------------------------------------- the driver


@dataclass
class RunOutcome:
    run_id: str
    base_test: float
    test_by_round: list[float | None]  # test accuracy after each round (index 0 = base)
    val_by_round: list[float | None]
    selected: list[str] = field(default_factory=list)  # every id selected (all rounds), replay excluded
    replay: int = 0
    steps: int = 0
    seconds: float = 0.0
    note: str | None = None
    pick_by_val: bool = False  # early stopping: the round with the best validation accuracy, not the last

    @property
    def final_test(self) -> float:
        if self.pick_by_val:
            scored = [(v, -r) for r, v in enumerate(self.val_by_round) if v is not None and r > 0]
            if scored:
                best = -max(scored)[1]
                t = self.test_by_round[best]
                return t if t is not None else self.base_test
        done = [x for x in self.test_by_round if x is not None]
        return done[-1] if done else self.base_test


Hook = Callable[[Any, int], None]


def _share_round0(p: StudyPaths, cfg: Any) -> None:
    """Copy the task's round-0 evaluation (base student, val + test) into this run so it is not recomputed:
    the stage markers key on inputs and config, not on the run directory, so the copy is a valid cache hit."""
    from edtune import stages

    src_cfg = cfg.model_copy(deep=True)
    src_cfg.run_id = f"base-{cfg.task.name}"
    src = Path(stages.layout_of(src_cfg).round_dir(0))
    if not (src / ".done" / "evaluate-test.json").exists():
        stages.evaluate(src_cfg, 0, "val")
        stages.evaluate(src_cfg, 0, "test")
    dst = Path(stages.layout_of(cfg).round_dir(0))
    if not dst.exists():
        shutil.copytree(src, dst)


def _read_acc(cfg: Any, r: int, split: str) -> float | None:
    from edtune import io, stages

    uri = stages.layout_of(cfg).eval_summary(r, split)
    return float(io.read_json(uri)["accuracy"]) if io.exists(uri) else None


def drive(
    p: StudyPaths,
    cfg: Any,
    *,
    rounds: int = 1,
    steps_per_round: Sequence[int] | None = None,
    budgets_per_round: Sequence[int] | None = None,
    after_diagnose: Hook | None = None,
    after_retrieve: Hook | None = None,
    test_each_round: bool = False,
    early_stop: bool = False,
) -> RunOutcome:
    """Run `rounds` tuning rounds of `cfg` through the stage functions. Round r may use its own budget and LoRA
    step count (equal TOTAL budget and steps across round counts). Diagnosis runs only for error-driven selection;
    validation is evaluated only where a later round's diagnosis needs it."""
    from edtune import stages
    from edtune.errors import StageError

    t0 = time.perf_counter()
    _share_round0(p, cfg)
    base_test = _read_acc(cfg, 0, "test")
    assert base_test is not None
    test_by_round: list[float | None] = [base_test]
    val_by_round: list[float | None] = [_read_acc(cfg, 0, "val")]
    selected: list[str] = []
    replay = steps = 0
    note = None
    error_driven = cfg.retrieval.selector == "error-driven"
    for r in range(1, rounds + 1):
        rcfg = cfg.model_copy(deep=True)
        if budgets_per_round is not None:
            rcfg.loop.budget_per_round = budgets_per_round[r - 1]
        if steps_per_round is not None:
            rcfg.lora.max_steps = steps_per_round[r - 1]
        if error_driven:
            stages.diagnose(rcfg, r)
            if after_diagnose:
                after_diagnose(rcfg, r)
            stages.allocate(rcfg, r)
        stages.retrieve(rcfg, r)
        if after_retrieve:
            after_retrieve(rcfg, r)
        layout = stages.layout_of(rcfg)
        sel = [s.support_id for s in _read_selections(layout.selection(r))]
        if not sel:  # nothing to tune on (e.g. no diagnosed mistake): the round keeps the student
            note = f"round {r}: nothing selected"
            break
        _never_empty_replay(layout, r)
        sel = [s.support_id for s in _read_selections(layout.selection(r))]
        rep = _read_selections(layout.replay(r))
        try:
            stages.tune(rcfg, r)
        except StageError as exc:
            note = f"round {r}: {exc}"
            break
        selected += sel
        replay += len(rep)
        steps += int(rcfg.lora.max_steps or 0)
        last = r == rounds
        if (error_driven and not last) or early_stop:
            stages.evaluate(rcfg, r, "val")
        if last or test_each_round or early_stop:
            stages.evaluate(rcfg, r, "test")
        test_by_round.append(_read_acc(rcfg, r, "test"))
        val_by_round.append(_read_acc(rcfg, r, "val"))
    return RunOutcome(
        run_id=cfg.run_id,
        base_test=base_test,
        test_by_round=test_by_round,
        val_by_round=val_by_round,
        selected=selected,
        replay=replay,
        steps=steps,
        seconds=round(time.perf_counter() - t0, 1),
        note=note,
        pick_by_val=early_stop,
    )


def _read_selections(uri: str) -> list[Any]:
    """Selections in a JSONL file; an empty file is an empty list (`read_jsonl` refuses empty files)."""
    from edtune import io
    from edtune.schemas import Selection

    if not io.exists(uri) or not io.read_text(uri).strip():
        return []
    return io.read_jsonl(uri, Selection, id_field=None)


def _never_empty_replay(layout: Any, r: int) -> None:
    """Work around the tune stage refusing an empty replay.jsonl (full-pool selection leaves no pool sample to
    replay): move the last selected sample into replay. The set of samples tuned on is unchanged."""
    from edtune import io

    sel = _read_selections(layout.selection(r))
    if _read_selections(layout.replay(r)) or len(sel) < 2:
        return
    last = sel[-1].model_copy(update={"skill": "replay", "rank": 0})
    io.write_jsonl(layout.selection(r), sel[:-1])
    io.write_jsonl(layout.replay(r), [last])


def fit_selection_to_budget(cfg: Any, r: int) -> None:
    """Hook: make round r's selection exactly `budget_per_round` ids (seeded cycle or truncation) and redraw its
    replay share to match — the validation selector otherwise tunes on however many validation samples exist."""
    from edtune import io, stages
    from edtune.schemas import Selection

    layout = stages.layout_of(cfg)
    sel = io.read_jsonl(layout.selection(r), Selection, id_field=None)
    budget = cfg.loop.budget_per_round
    if len(sel) == budget or not sel:
        return
    rng = random.Random(f"fit:{cfg.seed}:{r}")
    order = list(sel)
    rng.shuffle(order)
    out = [order[k % len(order)] for k in range(budget)]
    fitted = [s.model_copy(update={"rank": k}) for k, s in enumerate(out)]
    pool_ids = stages._pool_ids(cfg)
    exclude = stages.used_support_ids(cfg, r) | {s.support_id for s in fitted}
    replay = stages._replay(cfg, r, pool_ids, exclude, len(fitted))
    io.write_jsonl(layout.selection(r), fitted)
    io.write_jsonl(layout.replay(r), replay)


# ---------------------------------------------------------------- rendering


def write_json(path: Path, data: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, indent=1, default=str) + "\n")
    os.replace(tmp, path)


PALETTE = [
    (31, 119, 180),
    (255, 127, 14),
    (44, 160, 44),
    (214, 39, 40),
    (148, 103, 189),
    (140, 86, 75),
    (227, 119, 194),
    (127, 127, 127),
    (188, 189, 34),
    (23, 190, 207),
    (0, 0, 0),
    (128, 0, 0),  # the budget plot across studies draws 12 selectors
    (0, 0, 128),
]


def line_plot_png(
    path: Path,
    panels: list[tuple[str, dict[str, list[tuple[float, float, float]]]]],
    *,
    x_label: str = "budget (% of pool)",
    y_label: str = "test accuracy",
) -> None:
    """A small multi-panel line chart with PIL (matplotlib is not installed): one panel per task, one line per
    series of (x, mean, std) points, error bars at ± std, a shared legend below."""
    from PIL import Image, ImageDraw

    pw, ph, m = 420, 300, 50
    names: list[str] = []
    for _, series in panels:
        names += [n for n in series if n not in names]
    width = pw * max(1, len(panels))
    cols = max(1, width // 210)
    legend_rows = math.ceil(len(names) / cols)
    img = Image.new("RGB", (width, ph + 20 + 16 * legend_rows), "white")
    d = ImageDraw.Draw(img)
    for k, (title, series) in enumerate(panels):
        ox = k * pw
        xs = [x for pts in series.values() for x, _, _ in pts] or [0.0, 1.0]
        x0, x1 = min(xs), max(xs)
        x1 = x1 if x1 > x0 else x0 + 1
        left, right, top, bottom = ox + m, ox + pw - 15, 25, ph - 35

        box = (x0, x1, left, right, top, bottom)

        def px(x: float, y: float, box: tuple[float, ...] = box) -> tuple[float, float]:
            a, b, lft, rgt, tp, bt = box
            return (lft + (x - a) / (b - a) * (rgt - lft), bt - max(0.0, min(1.0, y)) * (bt - tp))

        d.rectangle([left, top, right, bottom], outline=(0, 0, 0))
        d.text((left, 5), f"{title}: {y_label}", fill=(0, 0, 0))
        for t in range(0, 11, 2):
            y = t / 10
            _, yy = px(x0, y)
            d.line([left - 4, yy, left, yy], fill=(0, 0, 0))
            d.text((ox + 15, yy - 6), f"{y:.1f}", fill=(0, 0, 0))
        for x in sorted(set(xs)):
            xx, _ = px(x, 0)
            d.line([xx, bottom, xx, bottom + 4], fill=(0, 0, 0))
            d.text((xx - 8, bottom + 6), f"{x:g}", fill=(0, 0, 0))
        d.text((left + 100, bottom + 20), x_label, fill=(0, 0, 0))
        for name, pts in series.items():
            col = PALETTE[names.index(name) % len(PALETTE)]
            pts = sorted(pts)
            xy = [px(x, y) for x, y, _ in pts]
            if len(xy) > 1:
                d.line(xy, fill=col, width=2)
            for (x, y, s), (xx, yy) in zip(pts, xy, strict=True):
                d.ellipse([xx - 3, yy - 3, xx + 3, yy + 3], fill=col)
                if s:
                    _, ya = px(x, y + s)
                    _, yb = px(x, y - s)
                    d.line([xx, ya, xx, yb], fill=col)
    for i, name in enumerate(names):
        col = PALETTE[i % len(PALETTE)]
        x = 10 + (i % cols) * 210
        y = ph + 5 + (i // cols) * 16
        d.rectangle([x, y + 3, x + 12, y + 10], fill=col)
        d.text((x + 18, y), name, fill=(0, 0, 0))
    path.parent.mkdir(parents=True, exist_ok=True)
    img.save(path)
