"""Run a pipeline on this machine with kfp.local: the very spec `submit` would send, checked the same way.

`run_local` compiles the run's spec with the run's `cluster` settings and GPU counts (exactly as `submit` does),
runs the spec checker on it, then hands the compiled YAML to kfp.local's SubprocessRunner (no Docker; the same
interpreter, so the installed `edtune` imports inside every task). kfp.local ignores resources and the
Kubernetes platform config and honours everything else — the DAG, the loops, the conditions, the exit handler
and the retries — so a graph the KFP driver would refuse fails here first.
"""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from edtune import io
from edtune.config import RunConfig
from edtune.errors import EdtuneError, StageError
from edtune.pipeline.graph import compile_run_spec, repo_root
from edtune.pipeline.validate import pipeline_arguments


class PipelineRun(BaseModel):
    runner: str
    seconds: float
    pipeline_root: str
    state: str
    final: dict[str, Any] | None = None
    spec: str = ""  # the compiled YAML that ran (kept beside the task logs)


@contextlib.contextmanager
def stdout_to_stderr() -> Iterator[None]:
    """Send everything written to fd 1 (Python prints and child processes alike) to fd 2 for a while."""
    sys.stdout.flush()
    saved = os.dup(1)
    try:
        os.dup2(2, 1)
        with contextlib.redirect_stdout(sys.stderr):
            yield
    finally:
        sys.stdout.flush()
        os.dup2(saved, 1)
        os.close(saved)


def final_summary(cfg: RunConfig) -> dict[str, Any] | None:
    """The summary `finalize` wrote for this run, or None when the run has not finalized."""
    from edtune.layout import RunLayout

    marker = RunLayout(cfg.run_uri).marker(0, "finalize")
    return io.read_json(marker).get("summary") if io.exists(marker) else None


def local_config(cfg: RunConfig) -> RunConfig:
    """The config a local pipeline run executes: a hub-id `student.base` becomes its HF cache snapshot.

    The stages hash `student.base` as an input file, so `ORG/NAME` must name a directory by the time a task
    reads it; as `edtune run` does, the id resolves here (offline: from the local HF cache, else an error naming
    `student.base` and how to stage the model), and the snapshot path (`models--ORG--NAME/snapshots/<sha>`) pins
    the commit. `submit` refuses hub ids instead: pods never download from a hub.
    """
    from edtune.student.hub import parse_hub_id, resolve_hub

    if parse_hub_id(cfg.student.base) is None:
        return cfg
    student = cfg.student.model_copy(update={"base": str(resolve_hub(cfg.student.base))})
    return cfg.model_copy(update={"student": student})


def local_spec(
    cfg: RunConfig, out_dir: Path, *, eval_gpus: int = 1, tune_gpus: int = 1, eval_shards: int = 1
) -> Path:
    """Compile and check the spec `run_local` runs: `submit`'s compile of the tuning pipeline for `cfg`.

    Tag images are warnings here (kfp.local runs no container); every structural rule is an error.
    """
    from edtune.pipeline.check import check_spec_file

    path = compile_run_spec(
        cfg, "error_driven_tuning", out_dir, eval_gpus=eval_gpus, tune_gpus=tune_gpus, eval_shards=eval_shards
    )
    check_spec_file(path, strict_images=False).raise_for_errors()
    return path


def run_local(
    cfg: RunConfig,
    pipeline_root: str | Path,
    *,
    eval_gpus: int = 1,
    tune_gpus: int = 1,
    eval_shards: int = 1,
) -> PipelineRun:
    """Run the tuning pipeline's submit spec with the KFP local SubprocessRunner (a hub id resolved first).

    The GPU counts only change resources (which kfp.local ignores); they and the shard count default to
    submit's, so the graph that runs is the one `edtune pipeline submit` sends for this config.
    """
    import kfp.local
    from kfp import components

    from edtune.tasklog import task_logs

    cfg = local_config(cfg)
    Path(pipeline_root).mkdir(parents=True, exist_ok=True)
    run_dir = io.parse(cfg.run_uri)
    logs_dir = Path(run_dir.local if run_dir.scheme == "file" else pipeline_root) / "logs"
    logs_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="edtune-compile-") as tmp:
        compiled = local_spec(
            cfg, Path(tmp), eval_gpus=eval_gpus, tune_gpus=tune_gpus, eval_shards=eval_shards
        )
        spec = logs_dir / f"kfp-local-{cfg.run_id}.yaml"
        spec.write_text(compiled.read_text())
    pipeline = components.load_component_from_file(str(spec))
    kfp.local.init(
        runner=kfp.local.SubprocessRunner(use_venv=False),
        pipeline_root=str(pipeline_root),
        raise_on_error=True,
    )
    t0 = time.perf_counter()
    root = str(repo_root())
    os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (root, os.environ.get("PYTHONPATH", "")) if p)
    logs = logs_dir / f"kfp-local-{cfg.run_id}.log"
    try:
        with task_logs(logs):  # kfp.local streams task logs to stdout: kept in a file, condensed on stderr
            pipeline(**pipeline_arguments(cfg))
    except EdtuneError:
        raise
    except Exception as exc:  # kfp.local raises RuntimeError naming the failed task
        raise StageError(f"local pipeline run failed: {exc} (task logs: {logs})") from exc
    return PipelineRun(
        runner="kfp-local",
        seconds=round(time.perf_counter() - t0, 1),
        pipeline_root=str(pipeline_root),
        state="SUCCEEDED",
        final=final_summary(cfg),
        spec=str(spec),
    )
