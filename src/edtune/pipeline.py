"""Compile, run locally (kfp.local) and submit the KFP pipelines, all from a RunConfig.

The pipelines and components live at the repository's top level (`pipelines/`, `components/`); this module finds
them from the installed (editable) package, from `EDTUNE_REPO`, or from the current directory.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from edtune import io
from edtune.config import RunConfig
from edtune.errors import EdtuneError, InputError, StageError

log = logging.getLogger("edtune.pipeline")

PIPELINES = {
    "error_driven_tuning": ("pipelines.error_driven_tuning", "error_driven_tuning"),
    "index_support_set": ("pipelines.index_support_set", "index_support_set"),
}


def repo_root() -> Path:
    """The directory holding `components/` and `pipelines/`."""
    candidates = []
    if os.environ.get("EDTUNE_REPO"):
        candidates.append(Path(os.environ["EDTUNE_REPO"]))
    candidates += [Path(__file__).resolve().parents[2], Path.cwd(), *Path.cwd().parents]
    for c in candidates:
        if (c / "components" / "resources.py").exists() and (
            c / "pipelines" / "error_driven_tuning.py"
        ).exists():
            return c
    raise InputError("cannot find the edtune repository (components/, pipelines/); set EDTUNE_REPO")


def load_pipeline(name: str, *, local: bool = False) -> Any:
    import importlib

    if name not in PIPELINES:
        raise InputError(f"unknown pipeline {name!r}; choose from {sorted(PIPELINES)}")
    root = str(repo_root())
    if root not in sys.path:
        sys.path.insert(0, root)
    module, attr = PIPELINES[name]
    mod = importlib.import_module(module)
    if local and hasattr(mod, "build"):
        return mod.build(local=True)
    return getattr(mod, attr)


def compiled_path(name: str) -> Path:
    return repo_root() / "pipelines" / "compiled" / f"{name}.yaml"


def compile_pipelines(out_dir: str | Path | None = None) -> list[str]:
    """Compile every pipeline to YAML (committed next to the code; a test compares them)."""
    from kfp import compiler

    out = Path(out_dir) if out_dir else repo_root() / "pipelines" / "compiled"
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for name in PIPELINES:
        path = out / f"{name}.yaml"
        compiler.Compiler().compile(load_pipeline(name), str(path))
        written.append(str(path))
    return written


_EXPLICIT = {
    "run_id": lambda c: c.run_id,
    "output_uri": lambda c: c.output,
    "task_name": lambda c: c.task.name,
    "task_val": lambda c: c.task.val,
    "task_test": lambda c: c.task.test or "",
    "pool_uri": lambda c: c.pool.uri,
    "pool_collection": lambda c: c.pool.collection,
    "milvus_uri": lambda c: c.pool.milvus_uri,
    "teacher_url": lambda c: c.teacher.url,
    "teacher_model": lambda c: c.teacher.model,
    "student_base": lambda c: c.student.base,
    "budget_per_round": lambda c: c.loop.budget_per_round,
    "max_rounds": lambda c: c.loop.max_rounds,
    "min_gain": lambda c: c.loop.min_gain,
    "lora_r": lambda c: c.lora.r,
    "lora_alpha": lambda c: c.lora.alpha,
    "lora_lr": lambda c: c.lora.lr,
}


def pipeline_arguments(cfg: RunConfig, **extra: Any) -> dict[str, Any]:
    """Pipeline parameters for a RunConfig: the explicit ones, plus every other field in `config_overrides`.

    Secrets are not config fields, so nothing secret can end up here.
    """
    args = {k: f(cfg) for k, f in _EXPLICIT.items()}
    args["config_overrides"] = json.dumps(cfg.model_dump(mode="json"), sort_keys=True)
    args["registry_uri"] = cfg.registry or ""
    args.update(extra)
    return args


class PipelineRun(BaseModel):
    runner: str
    seconds: float
    pipeline_root: str
    state: str
    final: dict[str, Any] | None = None


@contextlib.contextmanager
def _stdout_to_stderr() -> Iterator[None]:
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


def run_local(cfg: RunConfig, pipeline_root: str | Path, *, gpus: int = 0) -> PipelineRun:
    """Run the whole pipeline with the KFP local SubprocessRunner (no Docker; same interpreter)."""
    import kfp.local

    pipeline = load_pipeline("error_driven_tuning", local=True)
    Path(pipeline_root).mkdir(parents=True, exist_ok=True)
    kfp.local.init(
        runner=kfp.local.SubprocessRunner(use_venv=False),
        pipeline_root=str(pipeline_root),
        raise_on_error=True,
    )
    t0 = time.perf_counter()
    root = str(repo_root())
    os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (root, os.environ.get("PYTHONPATH", "")) if p)
    try:
        with _stdout_to_stderr():  # kfp.local streams task logs to stdout; `--json` owns stdout
            pipeline(**pipeline_arguments(cfg, eval_gpus=gpus, tune_gpus=gpus))
    except EdtuneError:
        raise
    except Exception as exc:  # kfp.local raises RuntimeError naming the failed task
        raise StageError(f"local pipeline run failed: {exc}") from exc
    final = _final_summary(cfg)
    return PipelineRun(
        runner="kfp-local",
        seconds=round(time.perf_counter() - t0, 1),
        pipeline_root=str(pipeline_root),
        state="SUCCEEDED",
        final=final,
    )


def _final_summary(cfg: RunConfig) -> dict[str, Any] | None:
    from edtune.layout import RunLayout

    marker = RunLayout(cfg.run_uri).marker(0, "finalize")
    return io.read_json(marker).get("summary") if io.exists(marker) else None


def submit(
    cfg: RunConfig,
    host: str,
    *,
    experiment: str = "edtune",
    wait: bool = False,
    timeout_s: int = 6 * 3600,
    min_gain: float | None = None,
    eval_gpus: int = 1,
    tune_gpus: int = 1,
) -> dict[str, Any]:
    """Submit the compiled pipeline to a Kubeflow Pipelines endpoint; with `wait`, gate on the run's gain.

    The CI retraining gate: a run that fails, or whose validation gain is below `min_gain`, raises StageError
    (exit 1). Authentication uses the kfp client's usual env (KF_PIPELINES_SA_TOKEN_PATH, cookies) — never args.
    """
    import kfp

    package = compiled_path("error_driven_tuning")
    if not package.exists():
        compile_pipelines()
    client = kfp.Client(host=host)
    run = client.create_run_from_pipeline_package(
        str(package),
        arguments=pipeline_arguments(cfg, eval_gpus=eval_gpus, tune_gpus=tune_gpus),
        run_name=cfg.run_id,
        experiment_name=experiment,
        enable_caching=True,
    )
    out: dict[str, Any] = {"run_id": run.run_id, "host": host, "experiment": experiment}
    if not wait:
        return out
    detail = client.wait_for_run_completion(run.run_id, timeout=timeout_s)
    state = str(getattr(detail, "state", "UNKNOWN"))
    out["state"] = state
    if "SUCCEEDED" not in state:
        raise StageError(f"pipeline run {run.run_id} ended in state {state}")
    final = _final_summary(cfg)
    out["final"] = final
    if min_gain is not None:
        if final is None:
            raise StageError(f"run {run.run_id} succeeded but {cfg.run_uri}/final has no summary")
        gain = float(final["val_accuracy_after"]) - float(final["val_accuracy_before"])
        out["gain"] = gain
        if gain < min_gain:
            raise StageError(f"quality gate: validation gain {gain:+.3f} < --min-gain {min_gain:+.3f}")
    return out
