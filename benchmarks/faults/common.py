"""The tiny world every fault benchmark runs on: world, base student, reference teacher, indexed pool, configs."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
RESULTS = ROOT / "benchmarks" / "results"
TASK = "left-right"
PY = sys.executable
EDTUNE = str(Path(sys.executable).with_name("edtune"))

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


# ---------------------------------------------------------------- the tiny world every part runs on


@dataclass
class Setup:
    root: Path
    world: Path
    base: str
    teacher_url: str
    milvus_uri: str
    server: Any = None  # the in-process reference teacher (kept alive across the killed runs)

    def close(self) -> None:
        if self.server is not None:
            self.server.shutdown()


def ensure_base(cache: Path) -> str:
    """The shipped base student when present, else a short pretrain (cached) that still writes Step/Answer."""
    from edtune.shapes.student.base import ensure_base_student, shipped_base

    src = ensure_base_student(str(cache)) if shipped_base() is not None else None
    if src is None:
        return ensure_base_student(str(cache), steps=300)
    # a private snapshot: a run's stage keys hash the base's files, so an edit of the shipped asset while the
    # benchmark runs (it happened) would rightly rerun stages and make the comparison meaningless
    snap = cache / "base-snapshot"
    if not snap.is_dir():
        shutil.copytree(src, snap)
    return str(snap)


def prepare(root: Path, *, pool: int = 600, val: int = 40, test: int = 0) -> Setup:
    """World, base student, reference teacher (thread), annotated + indexed pool in a Milvus Lite file."""
    from edtune.shapes.world.generate import generate_world
    from edtune.shapes.world.reference_teacher import start_reference_teacher

    root.mkdir(parents=True, exist_ok=True)
    world = root / "world"
    if not (world / "pool.jsonl").is_file():
        generate_world(
            str(world), seed=0, pool_size=pool, val_size=val, test_size=max(test, 1), progress=False
        )
        (world / "pool.labels.jsonl").unlink(missing_ok=True)
    base = ensure_base(root / "base-cache")
    server, url = start_reference_teacher(host="127.0.0.1", port=0)
    milvus = root / "milvus" / "milvus.db"
    setup = Setup(root, world, base, url, str(milvus), server)
    marker = root / "milvus" / "indexed"
    if not marker.is_file():
        # in a child process: Milvus Lite holds a flock on its file for as long as the opening process lives
        milvus.parent.mkdir(parents=True, exist_ok=True)
        config = write_config(run_config(setup, root / "idx"), root / "idx" / "config.yaml")
        code = (
            "import sys; from edtune import stages; from edtune.config import load_config; "
            "cfg = load_config(sys.argv[1], env={}); stages.annotate(cfg, cfg.pool.skills); stages.index(cfg)"
        )
        subprocess.run([PY, "-c", code, str(config)], check=True, env=_child_env(root / "idx"))
        marker.write_text("ok\n")
    return setup


def run_config(s: Setup, workdir: Path, *, rounds: int = 2, steps: int = 20, **extra: Any) -> dict[str, Any]:
    """The tiny run: pool 600, val 40, `rounds` rounds, `steps` LoRA steps (min_gain -1: every round runs)."""
    data: dict[str, Any] = {
        "preset": "shapes-tiny",  # the tiny student's settings (edtune.shapes.preset), as before the 7B defaults
        "run_id": "faults",
        "output": str(workdir / "runs"),
        "cache_dir": str(workdir / "cache"),
        "task": {"name": TASK, "val": str(s.world / "tasks" / TASK / "val.jsonl")},
        "pool": {
            "uri": str(s.world / "pool.jsonl"),
            "skills": str(s.world / "pool.skills.jsonl"),
            "milvus_uri": s.milvus_uri,
            "collection": "faults_pool",
        },
        "student": {"base": s.base},
        "teacher": {"url": s.teacher_url, "model": ""},
        "loop": {"max_rounds": rounds, "budget_per_round": 48, "min_gain": -1.0},
        "lora": {"max_steps": steps},
    }
    for k, v in extra.items():
        data.setdefault(k, {}).update(v) if isinstance(v, dict) else data.__setitem__(k, v)
    return data


def write_config(data: dict[str, Any], path: Path) -> Path:
    import yaml

    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


# ---------------------------------------------------------------- child processes


def _child_env(tmpdir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("EDTUNE_")}
    env.update(TMPDIR=str(tmpdir), OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", PYTHONHASHSEED="0")
    return env


def kill_group(proc: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
