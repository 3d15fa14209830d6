"""Submit, upload and schedule runs on Kubeflow Pipelines — each only after every check passed.

One order for all three, nothing sent until the last step: validate the config for a cluster
(`validate_for_cluster`) -> choose the images (refusing tags unless `allow_unpinned`, and never the unpublished
built-in default) -> compile the run's spec with `cfg.cluster` and the GPU counts (the same builder `run-local`
uses) -> check the spec against the backend driver's rules (`edtune.pipeline.check`) -> (submit) the run's
preflight, the `edtune.preflight` checks that need no cluster service -> read the backend's version from its
healthz endpoint and refuse one below the floor or below a feature the spec needs -> send.
`submit(dry_run=True)` stops before the send and reports what it checked.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from edtune.config import RunConfig
from edtune.errors import InputError, Problem, StageError
from edtune.pipeline.check import (
    BACKEND_FLOOR,
    SpecReport,
    Version,
    check_backend,
    check_spec_file,
    fmt,
    parse_version,
)
from edtune.pipeline.graph import (
    canonical,
    check_gpu_counts,
    compile_run_spec,
    default_images,
    resolve_images,
)
from edtune.pipeline.kfp_api import backend_version, kfp_call, log, make_client
from edtune.pipeline.local import final_summary
from edtune.pipeline.validate import cluster_arguments, validate_for_cluster
from edtune.preflight import CheckResult, raise_on_failure, run_checks


@dataclass
class Prepared:
    """A run's spec, compiled and checked, with what was chosen for it."""

    path: Path
    report: SpecReport
    images: tuple[str, str]


def choose_images(
    cfg: RunConfig, image: str | None, gpu_image: str | None, *, allow_unpinned: bool
) -> tuple[str, str]:
    """The run's images; InputError (exit 2) for the never-published built-in default, or for tags unless
    `allow_unpinned` (a tag can move, or never have been pushed: the pod then waits in ImagePullBackOff until
    its 12-hour timeout)."""
    chosen = image or cfg.cluster.image or os.environ.get("EDTUNE_IMAGE")
    if not chosen:
        raise InputError(
            "no image chosen: the built-in default "
            f"{default_images()[0]!r} is not published; pass --image/--gpu-image (by digest, "
            "docs/deploy.md section 1) or set cluster.image/cluster.gpu_image"
        )
    images = resolve_images(cfg, image, gpu_image)
    if not allow_unpinned:
        problems = [
            Problem("images", None, flag, f"{ref!r} is a tag; pin it by digest (…@sha256:<64 hex>)")
            for flag, ref in zip(("--image", "--gpu-image"), images, strict=True)
            if "@sha256:" not in ref
        ]
        if problems:
            raise InputError(
                "images must be digest-pinned (nothing was sent); or pass --allow-unpinned", problems
            )
    return images


def prepare(
    cfg: RunConfig,
    pipeline: str,
    out_dir: Path,
    *,
    image: str | None = None,
    gpu_image: str | None = None,
    eval_gpus: int = 1,
    tune_gpus: int = 1,
    eval_shards: int = 1,
    allow_unpinned: bool = False,
) -> Prepared:
    """Validate, choose images, compile and check a run's spec; InputError (exit 2) on any problem."""
    name = canonical(pipeline)
    check_gpu_counts(eval_shards, eval_gpus=eval_gpus, tune_gpus=tune_gpus)
    validate_for_cluster(cfg, name)
    images = choose_images(cfg, image, gpu_image, allow_unpinned=allow_unpinned)
    path = compile_run_spec(
        cfg,
        name,
        out_dir,
        images=images,
        eval_gpus=eval_gpus,
        tune_gpus=tune_gpus,
        eval_shards=eval_shards,
    )
    report = check_spec_file(path, strict_images=not allow_unpinned)
    report.raise_for_errors()
    for w in report.warnings:
        log.warning("pipeline.check %s %s: %s", w.rule, w.task, w.message)
    return Prepared(path, report, images)


def preflight(cfg: RunConfig, pipeline: str) -> list[CheckResult]:
    """The run's preflight from outside the cluster (`run_checks(local=False)`: settings, inputs, the student's
    config on the object store, the output writable; the teacher, Milvus and the GPU are the pods' to see).
    InputError (exit 2, nothing sent) naming every failed check. The index pipeline reads no student and writes
    no `output`: its own inputs are checked by `validate_for_cluster` and its tasks."""
    if canonical(pipeline) != "error_driven_tuning":
        return []
    results = run_checks(cfg, local=False)
    raise_on_failure(results)
    return results


def enforce_backend(
    client: Any, host: str, report: SpecReport, assumed: str | None = None
) -> tuple[Version, list[str]]:
    """Read the backend's version (or take `assumed`) and refuse (exit 2) one the spec cannot run on."""
    version = parse_version(assumed) if assumed else backend_version(client, host)
    if version is None:
        raise InputError(
            f"{host}: the KFP backend did not report its version on its healthz endpoint (nothing was sent); "
            f"pass --backend-version X.Y.Z if you know it (edtune needs >= {fmt(BACKEND_FLOOR)})"
        )
    findings = check_backend(report.features, version)
    errors = [f for f in findings if f.level == "error"]
    if errors:
        raise InputError(
            f"{host}: KFP backend {fmt(version)} cannot run this spec (nothing was sent)",
            [f.problem(host) for f in errors],
        )
    warnings = [f"{f.input}: {f.message}" for f in findings if f.level == "warning"]
    for w in warnings:
        log.warning("pipeline.backend %s", w)
    return version, warnings


def submit(
    cfg: RunConfig,
    host: str,
    *,
    pipeline: str = "tuning",
    experiment: str | None = None,
    wait: bool = False,
    timeout_s: int = 12 * 3600,
    min_gain: float | None = None,
    eval_gpus: int = 1,
    tune_gpus: int = 1,
    eval_shards: int = 1,
    image: str | None = None,
    gpu_image: str | None = None,
    allow_unpinned: bool = False,
    dry_run: bool = False,
    backend: str | None = None,
) -> dict[str, Any]:
    """Submit a pipeline run to Kubeflow; with `wait`, gate on the run's state and validation gain.

    The tuning pipeline publishes (and moves the registry's `latest`) only when its gain reaches `min_gain`
    (`publish_min_gain`), so a candidate that fails this gate is never what `latest` names. With `wait`, a
    failed run or a gain below `min_gain` raises StageError (exit 1): the CI retraining gate.
    """
    name = canonical(pipeline)
    c = cfg.cluster
    experiment = experiment or c.experiment
    extra: dict[str, Any] = {}
    if name == "error_driven_tuning":
        extra["publish_min_gain"] = max(min_gain, 0.0) if min_gain is not None else 0.0
    args = cluster_arguments(cfg, name, **extra)
    with tempfile.TemporaryDirectory(prefix="edtune-compile-") as tmp:
        prep = prepare(
            cfg,
            name,
            Path(tmp),
            image=image,
            gpu_image=gpu_image,
            eval_gpus=eval_gpus,
            tune_gpus=tune_gpus,
            eval_shards=eval_shards,
            allow_unpinned=allow_unpinned,
        )
        checks = preflight(cfg, name)
        client, auth = make_client(host, c.namespace)
        version, backend_warnings = enforce_backend(client, host, prep.report, backend)
        out: dict[str, Any] = {
            "host": host,
            "pipeline": name,
            "experiment": experiment,
            "namespace": c.namespace,
            "service_account": c.service_account,
            "images": {"cpu": prep.images[0], "gpu": prep.images[1]},
            "gpus": {"eval": eval_gpus, "tune": tune_gpus},
            "eval_shards": eval_shards,
            "backend": fmt(version),
            "min_backend": fmt(max(prep.report.min_backend, BACKEND_FLOOR)),
            "warnings": [f"{w.task}: {w.message}" for w in prep.report.warnings] + backend_warnings,
            "auth": auth.source,
            "preflight": [r.line() for r in checks],
        }
        if dry_run:
            return {**out, "dry_run": True, "run_id": None, "arguments": sorted(args)}
        run = kfp_call(
            host,
            "create run",
            client.create_run_from_pipeline_package,
            str(prep.path),
            arguments=args,
            run_name=cfg.run_id,
            experiment_name=experiment,
            namespace=c.namespace or None,
            service_account=c.service_account or None,
        )
    out["run_id"] = run.run_id
    if not wait:
        return out
    detail = kfp_call(host, "wait for run", client.wait_for_run_completion, run.run_id, timeout=timeout_s)
    state = str(getattr(detail, "state", "UNKNOWN"))
    out["state"] = state
    if "SUCCEEDED" not in state.upper():
        raise StageError(f"pipeline run {run.run_id} ended in state {state}")
    if name != "error_driven_tuning":
        return out
    final = final_summary(cfg)
    out["final"] = final
    if min_gain is not None:
        if final is None:
            raise StageError(f"run {run.run_id} succeeded but {cfg.run_uri}/final has no summary")
        gain = float(final["val_accuracy_after"]) - float(final["val_accuracy_before"])
        out["gain"] = gain
        if gain < min_gain:
            raise StageError(
                f"quality gate: validation gain {gain:+.3f} < --min-gain {min_gain:+.3f} "
                "(nothing was promoted to latest)"
            )
    return out


def _pipeline_display_name(path: Path) -> str:
    return str(yaml.safe_load(path.read_text().split("\n---\n")[0])["pipelineInfo"]["name"])


def upload(
    cfg: RunConfig,
    host: str,
    *,
    pipeline: str = "tuning",
    version: str | None = None,
    image: str | None = None,
    gpu_image: str | None = None,
    eval_gpus: int = 1,
    tune_gpus: int = 1,
    eval_shards: int = 1,
    allow_unpinned: bool = False,
    backend: str | None = None,
) -> dict[str, Any]:
    """Create the pipeline in KFP, or add a version to it when it exists (`upload_pipeline(_version)`).

    The version name defaults to `<edtune version>-<12 hex of the compiled spec>`, so re-uploading an identical
    spec is recognisable and a changed image, placement or GPU count is a new version — which is how a KFP UI
    user gets other GPU counts: they are compile-time constants of the spec, not run parameters.
    """
    from edtune import __version__

    name = canonical(pipeline)
    ns = cfg.cluster.namespace
    with tempfile.TemporaryDirectory(prefix="edtune-compile-") as tmp:
        prep = prepare(
            cfg,
            name,
            Path(tmp),
            image=image,
            gpu_image=gpu_image,
            eval_gpus=eval_gpus,
            tune_gpus=tune_gpus,
            eval_shards=eval_shards,
            allow_unpinned=allow_unpinned,
        )
        package = prep.path
        display = _pipeline_display_name(package)
        digest = hashlib.sha256(package.read_bytes()).hexdigest()[:12]
        version = version or f"{__version__.split('+')[0]}-{digest}"
        client, auth = make_client(host, ns)
        enforce_backend(client, host, prep.report, backend)
        flt = json.dumps(
            {"predicates": [{"operation": "EQUALS", "key": "display_name", "stringValue": display}]}
        )
        listed = kfp_call(host, "list pipelines", client.list_pipelines, filter=flt, namespace=ns or None)
        existing = [p for p in (getattr(listed, "pipelines", None) or []) if p.display_name == display]
        if existing:
            pipeline_id = existing[0].pipeline_id
            created = False
        else:
            created_p = kfp_call(
                host,
                "upload pipeline",
                client.upload_pipeline,
                str(package),
                pipeline_name=display,
                description="edtune: error-driven data selection and LoRA tuning",
                namespace=ns or None,
            )
            pipeline_id = created_p.pipeline_id
            created = True
        ver = kfp_call(
            host,
            "upload pipeline version",
            client.upload_pipeline_version,
            str(package),
            pipeline_version_name=version,
            pipeline_id=pipeline_id,
        )
    return {
        "pipeline": display,
        "pipeline_id": pipeline_id,
        "pipeline_created": created,
        "version": version,
        "version_id": ver.pipeline_version_id,
        "namespace": ns,
        "gpus": {"eval": eval_gpus, "tune": tune_gpus},
        "eval_shards": eval_shards,
        "auth": auth.source,
    }


def schedule(
    cfg: RunConfig,
    host: str,
    *,
    cron: str,
    pipeline: str = "tuning",
    name: str | None = None,
    image: str | None = None,
    gpu_image: str | None = None,
    eval_gpus: int = 1,
    tune_gpus: int = 1,
    eval_shards: int = 1,
    allow_unpinned: bool = False,
    backend: str | None = None,
) -> dict[str, Any]:
    """Upload (or version) the pipeline, compiled with these GPU counts, and create a recurring run on `cron`.

    Every scheduled run gets its own run id (`<run_id>-[[Index]]`: KFP's scheduled-workflow controller
    substitutes the run's index), so runs never resume into each other's output; max concurrency 1, no catch-up.
    """
    if len(cron.split()) != 6:
        raise InputError(f"--cron {cron!r}: KFP expects 6 fields (second minute hour day month weekday)")
    full = canonical(pipeline)
    up = upload(
        cfg,
        host,
        pipeline=full,
        image=image,
        gpu_image=gpu_image,
        eval_gpus=eval_gpus,
        tune_gpus=tune_gpus,
        eval_shards=eval_shards,
        allow_unpinned=allow_unpinned,
        backend=backend,
    )
    c = cfg.cluster
    args = cluster_arguments(cfg, full)
    if full == "error_driven_tuning":
        args["run_id"] = f"{cfg.run_id}-[[Index]]"
    client, _ = make_client(host, c.namespace)
    exp = kfp_call(
        host, "create experiment", client.create_experiment, c.experiment, namespace=c.namespace or None
    )
    job = kfp_call(
        host,
        "create recurring run",
        client.create_recurring_run,
        experiment_id=exp.experiment_id,
        job_name=name or f"{cfg.run_id}-schedule",
        cron_expression=cron,
        max_concurrency=1,
        no_catchup=True,
        params=args,
        pipeline_id=up["pipeline_id"],
        version_id=up["version_id"],
        service_account=c.service_account or None,
    )
    return {**up, "recurring_run_id": job.recurring_run_id, "cron": cron, "experiment_id": exp.experiment_id}
