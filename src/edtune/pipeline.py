"""Compile, run locally (kfp.local), submit, upload and schedule the KFP pipelines, all from a RunConfig.

The pipelines and components live at the repository's top level (`pipelines/`, `components/`); this module finds
them from the installed (editable) package, from `EDTUNE_REPO`, or from the current directory.

The cluster path (`submit`, `upload`, `schedule`) refuses a config that only works on one machine *before*
anything is sent (`validate_for_cluster`: local paths, loopback URLs, an empty student), recompiles the pipeline
with the run's `cluster` settings and the chosen images, and talks to the KFP v2 REST API with a bearer token
(`KF_PIPELINES_TOKEN`, or the projected ServiceAccount token at `KF_PIPELINES_SA_TOKEN_PATH`), in the run's
profile namespace, as the run's ServiceAccount.
"""

from __future__ import annotations

import contextlib
import hashlib
import ipaddress
import json
import logging
import os
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

import yaml
from pydantic import BaseModel

from edtune import io
from edtune.config import ClusterConfig, RunConfig
from edtune.errors import EdtuneError, InputError, Problem, ServiceError, StageError

log = logging.getLogger("edtune.pipeline")

PIPELINES = {
    "error_driven_tuning": ("pipelines.error_driven_tuning", "error_driven_tuning"),
    "index_support_set": ("pipelines.index_support_set", "index_support_set"),
}
#: Short names accepted by `--pipeline`.
ALIASES = {"tuning": "error_driven_tuning", "index": "index_support_set"}
PipelineName = Literal["tuning", "index"]


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
    raise InputError(
        "cannot find the edtune repository (components/, pipelines/): a wheel install does not ship them; "
        "check out the edtune source at the installed version and set EDTUNE_REPO to it"
    )


def canonical(name: str) -> str:
    """`tuning`/`index` or a full pipeline name -> the full name; InputError naming the choices otherwise."""
    full = ALIASES.get(name, name)
    if full not in PIPELINES:
        raise InputError(f"unknown pipeline {name!r}; choose from {sorted(ALIASES)}")
    return full


def load_pipeline(name: str, *, local: bool = False, cluster: ClusterConfig | None = None) -> Any:
    """The pipeline function, built for kfp.local (`local`) or for a cluster with `cluster`'s placement."""
    import importlib

    name = canonical(name)
    root = str(repo_root())
    if root not in sys.path:
        sys.path.insert(0, root)
    module, attr = PIPELINES[name]
    mod = importlib.import_module(module)
    if hasattr(mod, "build"):
        return mod.build(local=local, cluster=cluster)
    return getattr(mod, attr)


def compiled_path(name: str) -> Path:
    return repo_root() / "pipelines" / "compiled" / f"{canonical(name)}.yaml"


def default_images() -> tuple[str, str]:
    """The images the committed YAML names (EDTUNE_IMAGE / EDTUNE_GPU_IMAGE at import of components)."""
    root = str(repo_root())
    if root not in sys.path:
        sys.path.insert(0, root)
    from components.resources import EDTUNE_GPU_IMAGE, EDTUNE_IMAGE

    return EDTUNE_IMAGE, EDTUNE_GPU_IMAGE


def resolve_images(cfg: RunConfig, image: str | None = None, gpu_image: str | None = None) -> tuple[str, str]:
    """CPU and GPU image of a run: flag > `cluster.image`/`cluster.gpu_image` > EDTUNE_IMAGE env > default.

    The GPU image defaults to the `edtune-gpu` sibling of the CPU image; a CPU image that is not named
    `edtune-cpu` needs an explicit GPU image (the error names `cluster.gpu_image`).
    """
    cpu_default, gpu_default = default_images()
    cpu = image or cfg.cluster.image or cpu_default
    gpu = gpu_image or cfg.cluster.gpu_image
    if not gpu:
        if cpu == cpu_default:
            gpu = gpu_default
        elif "edtune-cpu" in cpu and "@sha256:" not in cpu:
            gpu = cpu.replace("edtune-cpu", "edtune-gpu")
        else:
            raise InputError(
                "cluster.gpu_image: the CPU image "
                f"{cpu!r} has no derivable GPU sibling; set cluster.gpu_image (or --gpu-image)"
            )
    return cpu, gpu


def retarget_images(path: str | Path, cpu: str, gpu: str) -> None:
    """Point every executor of a compiled pipeline at `cpu` or `gpu` (GPU executors request an accelerator).

    kfp bakes `base_image` into the spec at decoration time; rewriting the executors of a fresh compile is the
    one place the submit-time image choice is applied, so the YAML sent always names the chosen images.
    """
    path = Path(path)
    docs = list(yaml.safe_load_all(path.read_text()))
    for ex in docs[0]["deploymentSpec"]["executors"].values():
        container = ex.get("container")
        if container is None:
            continue
        container["image"] = gpu if "accelerator" in container.get("resources", {}) else cpu
    path.write_text(yaml.safe_dump_all(docs, sort_keys=False))


def compile_pipelines(
    out_dir: str | Path | None = None,
    cluster: ClusterConfig | None = None,
    images: tuple[str, str] | None = None,
    names: list[str] | None = None,
) -> list[str]:
    """Compile pipelines to YAML. Without arguments: every pipeline with the default cluster settings, which is
    what `pipelines/compiled/` holds (a test compares them). With `cluster`/`images`: a run's own spec."""
    from kfp import compiler

    out = Path(out_dir) if out_dir else repo_root() / "pipelines" / "compiled"
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for name in names or list(PIPELINES):
        path = out / f"{canonical(name)}.yaml"
        compiler.Compiler().compile(load_pipeline(name, cluster=cluster), str(path))
        if images is not None and images != default_images():
            retarget_images(path, *images)
        written.append(str(path))
    return written


# ---------------------------------------------------------------- what a cluster run may be given

_LOOPBACK_NAMES = {"localhost", "localhost.localdomain", "ip6-localhost", "0.0.0.0", ""}


def is_loopback(url: str) -> bool:
    """Whether a URL points at the machine it is read on (127/8, ::1, localhost, 0.0.0.0)."""
    host = (urlsplit(url).hostname or "").lower()
    if host in _LOOPBACK_NAMES or host.endswith(".localhost"):
        return True
    try:
        addr = ipaddress.ip_address(host)
    except ValueError:
        return False
    return addr.is_loopback or addr.is_unspecified


def _remote_uri(value: str | None, field: str, problems: list[Problem], *, required: bool = True) -> None:
    if not value:
        if required:
            problems.append(Problem("config", None, field, "is empty; a cluster run needs an s3:// URI"))
        return
    if not value.startswith("s3://"):
        problems.append(
            Problem(
                "config",
                None,
                field,
                f"{value!r} is a local path: every task runs in its own pod and would read/write its own disk; "
                "use s3://bucket/prefix",
            )
        )


def _service_url(value: str, field: str, problems: list[Problem]) -> None:
    if "://" not in value or urlsplit(value).scheme not in ("http", "https", "grpc", "tcp"):
        problems.append(
            Problem(
                "config", None, field, f"{value!r} is not a service URL (http://host:port) a pod can reach"
            )
        )
    elif is_loopback(value):
        problems.append(
            Problem(
                "config",
                None,
                field,
                f"{value!r} is a loopback address: inside a pod it names the pod itself; use the Service DNS name "
                "(e.g. http://edtune-teacher.edtune.svc)",
            )
        )


def validate_for_cluster(cfg: RunConfig, pipeline: str = "tuning") -> None:
    """Refuse (InputError, exit 2) a config that only works on one machine, naming every offending field.

    Called before anything is compiled or sent: a local output directory, a Milvus Lite file, a teacher on
    127.0.0.1 or an empty student would otherwise fail (or silently write to a pod's disk) hours later.
    """
    name = canonical(pipeline)
    c = cfg.cluster
    problems: list[Problem] = []
    _remote_uri(cfg.pool.uri, "pool.uri", problems)
    if name == "error_driven_tuning":
        _remote_uri(cfg.output, "output", problems)
        _remote_uri(cfg.task.val, "task.val", problems)
        _remote_uri(cfg.task.test, "task.test", problems, required=False)
        _remote_uri(cfg.registry, "registry", problems, required=False)
        base = cfg.student.base
        if not base:
            problems.append(
                Problem("config", None, "student.base", "is empty; name the base checkpoint (s3://...)")
            )
        elif not base.startswith("s3://") and not (
            c.cache_pvc and base.startswith(c.cache_mount.rstrip("/") + "/")
        ):
            problems.append(
                Problem(
                    "config",
                    None,
                    "student.base",
                    f"{base!r} is a local path; use s3://... (or a path under cluster.cache_mount with "
                    "cluster.cache_pvc set to a PVC that holds it)",
                )
            )
    else:
        _remote_uri(cfg.pool.skills, "pool.skills", problems)
        _remote_uri(c.state_uri, "cluster.state_uri", problems)
    _service_url(cfg.teacher.url, "teacher.url", problems)
    if "://" not in cfg.pool.milvus_uri:
        problems.append(
            Problem(
                "config",
                None,
                "pool.milvus_uri",
                f"{cfg.pool.milvus_uri!r} is a Milvus Lite file: each pod would get its own empty index; use the "
                "Milvus Service (e.g. http://edtune-milvus.edtune-milvus.svc:19530)",
            )
        )
    else:
        _service_url(cfg.pool.milvus_uri, "pool.milvus_uri", problems)
    mount = c.cache_mount.rstrip("/")
    if cfg.cache_dir != mount and not cfg.cache_dir.startswith(mount + "/"):
        problems.append(
            Problem(
                "config",
                None,
                "cache_dir",
                f"{cfg.cache_dir!r} is not under cluster.cache_mount ({c.cache_mount}): model and teacher caches "
                "would fill the node's root disk instead of the task's cache volume",
            )
        )
    if problems:
        raise InputError(
            "this config cannot run on a cluster (nothing was sent); see examples/cluster/config.yaml",
            problems,
        )


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


def cluster_arguments(cfg: RunConfig, pipeline: str, **extra: Any) -> dict[str, Any]:
    """Parameters of a cluster run of `pipeline`: the Secret names come from `cluster`, never values."""
    c = cfg.cluster
    secrets = {"s3_secret": c.s3_secret, "teacher_secret": c.teacher_secret, "milvus_secret": c.milvus_secret}
    if canonical(pipeline) == "index_support_set":
        return {
            "pool_uri": cfg.pool.uri,
            "skills_uri": cfg.pool.skills or "",
            "milvus_uri": cfg.pool.milvus_uri,
            "pool_collection": cfg.pool.collection,
            "teacher_url": cfg.teacher.url,
            "teacher_model": cfg.teacher.model,
            "state_uri": c.state_uri,
            "config_overrides": json.dumps(cfg.model_dump(mode="json"), sort_keys=True),
            **secrets,
            **extra,
        }
    return pipeline_arguments(cfg, **secrets, **extra)


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
    from edtune.tasklog import task_logs

    run_dir = io.parse(cfg.run_uri)
    logs = (
        Path(run_dir.local if run_dir.scheme == "file" else pipeline_root)
        / "logs"
        / f"kfp-local-{cfg.run_id}.log"
    )
    try:
        with task_logs(logs):  # kfp.local streams task logs to stdout: kept in a file, condensed on stderr
            pipeline(**pipeline_arguments(cfg, eval_gpus=gpus, tune_gpus=gpus))
    except EdtuneError:
        raise
    except Exception as exc:  # kfp.local raises RuntimeError naming the failed task
        raise StageError(f"local pipeline run failed: {exc} (task logs: {logs})") from exc
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


# ---------------------------------------------------------------- talking to Kubeflow Pipelines

TOKEN_ENV = "KF_PIPELINES_TOKEN"  # a bearer token (CI secret, `kubectl create token`, an OIDC id token)
SA_TOKEN_PATH_ENV = (
    "KF_PIPELINES_SA_TOKEN_PATH"  # a projected ServiceAccount token file (audience pipelines.kubeflow.org)
)


class Auth(BaseModel):
    """Where the bearer token came from (never the token itself: this is printed)."""

    source: Literal["env", "file", "none"]
    detail: str = ""


def make_client(host: str, namespace: str = "") -> tuple[Any, Auth]:
    """A kfp.Client for `host` with a bearer token and the profile namespace set.

    Multi-user Kubeflow refuses anonymous calls. The token comes from `KF_PIPELINES_TOKEN` (passed as
    kfp's `existing_token`) or, when that is unset, from the file at `KF_PIPELINES_SA_TOKEN_PATH` (kfp's
    ServiceAccountTokenVolumeCredentials, which re-reads the file so a rotated projected token keeps working
    through a 12-hour `--wait`). kfp itself reads that file only when it runs inside the cluster *without* a
    host; here a host is always given, so this function wires it explicitly.
    """
    import kfp
    from kfp.client.set_volume_credentials import ServiceAccountTokenVolumeCredentials

    token = os.environ.get(TOKEN_ENV, "").strip()
    path = os.environ.get(SA_TOKEN_PATH_ENV, "").strip()
    kwargs: dict[str, Any] = {"host": host}
    if namespace:
        kwargs["namespace"] = namespace
    if token:
        kwargs["existing_token"] = token
        auth = Auth(source="env", detail=TOKEN_ENV)
    elif path:
        if not Path(path).is_file():
            raise InputError(f"{SA_TOKEN_PATH_ENV}={path}: no such token file")
        kwargs["credentials"] = ServiceAccountTokenVolumeCredentials(path=path)
        auth = Auth(source="file", detail=path)
    else:
        auth = Auth(source="none")
        log.warning(
            "pipeline.auth none: neither %s nor %s is set (fine for single-user KFP)",
            TOKEN_ENV,
            SA_TOKEN_PATH_ENV,
        )
    with _stdout_to_stderr():
        client = kfp.Client(**kwargs)
    return client, auth


def _kfp_call(host: str, what: str, fn: Any, *args: Any, **kwargs: Any) -> Any:
    """Run one kfp client call; API and connection errors become ServiceError naming the endpoint."""
    try:
        with _stdout_to_stderr():  # kfp prints "Run details: ..." links on stdout; `--json` owns stdout
            return fn(*args, **kwargs)
    except EdtuneError:
        raise
    except Exception as exc:
        status = getattr(exc, "status", None)
        reason = getattr(exc, "reason", None) or str(exc).splitlines()[0]
        hint = " (check the bearer token and the namespace)" if status in (401, 403) else ""
        raise ServiceError(
            host, f"{what} failed: {f'HTTP {status} ' if status else ''}{reason}{hint}"
        ) from None


def _compile_for(
    cfg: RunConfig, pipeline: str, out_dir: Path, image: str | None, gpu_image: str | None
) -> Path:
    images = resolve_images(cfg, image, gpu_image)
    [path] = compile_pipelines(out_dir, cluster=cfg.cluster, images=images, names=[pipeline])
    return Path(path)


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
    image: str | None = None,
    gpu_image: str | None = None,
) -> dict[str, Any]:
    """Submit a pipeline run to Kubeflow; with `wait`, gate on the run's state and validation gain.

    Order: validate the config for a cluster (exit 2, nothing sent) -> recompile with `cfg.cluster` and the
    chosen images -> create the run in the profile namespace as the run's ServiceAccount. The tuning pipeline
    publishes (and moves the registry's `latest`) only when its gain reaches `min_gain` (`publish_min_gain`),
    so a candidate that fails this gate is never what `latest` names. With `wait`, a failed run or a gain below
    `min_gain` raises StageError (exit 1): the CI retraining gate.
    """
    name = canonical(pipeline)
    validate_for_cluster(cfg, name)
    c = cfg.cluster
    experiment = experiment or c.experiment
    if name == "error_driven_tuning":
        args = cluster_arguments(
            cfg,
            name,
            eval_gpus=eval_gpus,
            tune_gpus=tune_gpus,
            publish_min_gain=max(min_gain, 0.0) if min_gain is not None else 0.0,
        )
    else:
        args = cluster_arguments(cfg, name)
    with tempfile.TemporaryDirectory(prefix="edtune-compile-") as tmp:
        package = _compile_for(cfg, name, Path(tmp), image, gpu_image)
        images = resolve_images(cfg, image, gpu_image)
        client, auth = make_client(host, c.namespace)
        run = _kfp_call(
            host,
            "create run",
            client.create_run_from_pipeline_package,
            str(package),
            arguments=args,
            run_name=cfg.run_id,
            experiment_name=experiment,
            namespace=c.namespace or None,
            service_account=c.service_account or None,
        )
    out: dict[str, Any] = {
        "run_id": run.run_id,
        "host": host,
        "pipeline": name,
        "experiment": experiment,
        "namespace": c.namespace,
        "service_account": c.service_account,
        "images": {"cpu": images[0], "gpu": images[1]},
        "auth": auth.source,
    }
    if not wait:
        return out
    detail = _kfp_call(host, "wait for run", client.wait_for_run_completion, run.run_id, timeout=timeout_s)
    state = str(getattr(detail, "state", "UNKNOWN"))
    out["state"] = state
    if "SUCCEEDED" not in state.upper():
        raise StageError(f"pipeline run {run.run_id} ended in state {state}")
    if name != "error_driven_tuning":
        return out
    final = _final_summary(cfg)
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
) -> dict[str, Any]:
    """Create the pipeline in KFP, or add a version to it when it exists (`upload_pipeline(_version)`).

    The version name defaults to `<edtune version>-<12 hex of the compiled spec>`, so re-uploading an identical
    spec is recognisable and a changed image or placement is a new version.
    """
    from edtune import __version__

    name = canonical(pipeline)
    validate_for_cluster(cfg, name)
    ns = cfg.cluster.namespace
    with tempfile.TemporaryDirectory(prefix="edtune-compile-") as tmp:
        package = _compile_for(cfg, name, Path(tmp), image, gpu_image)
        display = _pipeline_display_name(package)
        digest = hashlib.sha256(package.read_bytes()).hexdigest()[:12]
        version = version or f"{__version__.split('+')[0]}-{digest}"
        client, auth = make_client(host, ns)
        flt = json.dumps(
            {"predicates": [{"operation": "EQUALS", "key": "display_name", "stringValue": display}]}
        )
        listed = _kfp_call(host, "list pipelines", client.list_pipelines, filter=flt, namespace=ns or None)
        existing = [p for p in (getattr(listed, "pipelines", None) or []) if p.display_name == display]
        if existing:
            pipeline_id = existing[0].pipeline_id
            created = False
        else:
            created_p = _kfp_call(
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
        ver = _kfp_call(
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
) -> dict[str, Any]:
    """Upload (or version) the pipeline and create a recurring run on `cron` (KFP's 6-field cron).

    Every scheduled run gets its own run id (`<run_id>-[[Index]]`: KFP's scheduled-workflow controller
    substitutes the run's index), so runs never resume into each other's output; max concurrency 1, no catch-up.
    """
    if len(cron.split()) != 6:
        raise InputError(f"--cron {cron!r}: KFP expects 6 fields (second minute hour day month weekday)")
    full = canonical(pipeline)
    up = upload(cfg, host, pipeline=full, image=image, gpu_image=gpu_image)
    c = cfg.cluster
    if full == "error_driven_tuning":
        args = cluster_arguments(cfg, full, eval_gpus=eval_gpus, tune_gpus=tune_gpus)
        args["run_id"] = f"{cfg.run_id}-[[Index]]"
    else:
        args = cluster_arguments(cfg, full)
    client, _ = make_client(host, c.namespace)
    exp = _kfp_call(
        host, "create experiment", client.create_experiment, c.experiment, namespace=c.namespace or None
    )
    job = _kfp_call(
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


# ---------------------------------------------------------------- helpers the cluster components call


def detect_teacher(url: str, timeout_s: float = 10.0) -> tuple[Literal["tgi", "openai"], str]:
    """Which server a teacher URL runs and the model name it serves: TGI answers `/info` with `model_id`;
    vLLM (and other OpenAI-compatible servers) list the served name under `/v1/models`.

    The served name is what a vLLM server checks requests against (`--served-model-name`); asking a vLLM
    teacher for any other name is a 404 on every diagnosis.
    """
    import urllib.error
    import urllib.request

    base = url.rstrip("/")

    def get(path: str) -> Any | None:
        try:
            with urllib.request.urlopen(base + path, timeout=timeout_s) as resp:
                return json.loads(resp.read() or b"null")
        except urllib.error.HTTPError:
            return None
        except (urllib.error.URLError, OSError, ValueError) as exc:
            raise ServiceError(base + path, f"{type(exc).__name__}: {exc}") from None

    info = get("/info")
    if isinstance(info, dict) and info.get("model_id"):
        return "tgi", str(info["model_id"])
    models = get("/v1/models")
    data = models.get("data") if isinstance(models, dict) else None
    if data:
        return "openai", str(data[0]["id"])
    raise ServiceError(base, "neither /info (TGI) nor /v1/models (OpenAI-compatible) named a served model")


def resolve_teacher(cfg: RunConfig) -> RunConfig:
    """With `teacher.model` empty or `auto`, ask the teacher which model and API it serves (see detect_teacher)."""
    if cfg.teacher.model not in ("", "auto"):
        return cfg
    backend, model = detect_teacher(cfg.teacher.url, timeout_s=cfg.teacher.timeout_s)
    log.info("pipeline.teacher detected backend=%s model=%s url=%s", backend, model, cfg.teacher.url)
    teacher = cfg.teacher.model_copy(update={"backend": backend, "model": model})
    return cfg.model_copy(update={"teacher": teacher})


def _listing(uri: str) -> list[str]:
    """Cheap identity of every object under a URI: key, size, ETag (S3) or size, mtime (files)."""
    u = io.parse(uri)
    rows: list[str] = []
    if u.scheme == "file":
        root = u.local
        files = (
            [root]
            if root.is_file()
            else sorted(p for p in root.rglob("*") if p.is_file())
            if root.exists()
            else []
        )
        for f in files:
            st = f.stat()
            rows.append(f"{f}\t{st.st_size}\t{st.st_mtime_ns}")
        return rows
    from edtune.io.storage import s3_client

    prefix = u.path
    for page in s3_client().get_paginator("list_objects_v2").paginate(Bucket=u.bucket, Prefix=prefix):
        for obj in page.get("Contents", []):
            rows.append(f"s3://{u.bucket}/{obj['Key']}\t{obj['Size']}\t{obj.get('ETag', '')}")
    return rows


def data_fingerprint(cfg: RunConfig) -> str:
    """A hash over what a run reads (task splits, pool, skills, base student): sizes and ETags, not contents.

    KFP's cache key is the task's inputs (`config_json`), so two runs with the same run id over *changed* data
    would reuse stale outputs; `configure` (never cached) puts this fingerprint into the config, so any change
    of the data changes every downstream cache key, and unchanged data still hits the cache.
    """
    h = hashlib.sha256()
    for uri in (cfg.task.val, cfg.task.test, cfg.pool.uri, cfg.pool.skills, cfg.student.base):
        if not uri:
            continue
        h.update(uri.encode() + b"\n")
        for row in _listing(uri):
            h.update(row.encode() + b"\n")
    return h.hexdigest()[:16]


@contextlib.contextmanager
def journal_sync(local_dir: str | Path, remote: str, every_s: float = 60.0) -> Iterator[None]:
    """Mirror a local journal directory to object storage while the block runs, and restore it first.

    A KFP retry starts a fresh pod with an empty disk; annotating a 1.5M-sample pool takes a day, so the
    journal that lets annotation resume must outlive the pod. Files are copied whole when their size changed
    (journals are append-only), every `every_s` seconds and once more on exit, error or not. A kill loses at
    most `every_s` seconds of work.
    """
    local = Path(local_dir)
    local.mkdir(parents=True, exist_ok=True)
    restored = 0
    for uri in io.list_uris(remote):
        rel = uri[len(remote.rstrip("/")) + 1 :]
        if not rel or ".." in rel.split("/"):
            continue
        dest = local / rel
        dest.parent.mkdir(parents=True, exist_ok=True)
        dest.write_bytes(io.read_bytes(uri))
        restored += 1
    log.info("journal.restored files=%d from=%s to=%s", restored, remote, local)
    sizes: dict[Path, int] = {}

    def push() -> None:
        for f in sorted(p for p in local.rglob("*") if p.is_file() and not p.name.startswith(".")):
            size = f.stat().st_size
            if sizes.get(f) == size:
                continue
            io.write_bytes(io.join(remote, f.relative_to(local).as_posix()), f.read_bytes())
            sizes[f] = size

    for f in local.rglob("*"):
        if f.is_file():
            sizes[f] = f.stat().st_size  # just restored: already remote
    stop = threading.Event()

    def loop() -> None:
        while not stop.wait(every_s):
            try:
                push()
            except Exception as exc:  # a transient storage error must not kill the annotation
                log.warning("journal.push_failed remote=%s error=%s", remote, exc)

    thread = threading.Thread(target=loop, name="journal-sync", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(timeout=every_s + 5)
        push()


def record_run_status(output_uri: str, run_id: str, status: dict[str, Any]) -> str:
    """Write `<output>/<run_id>/status.json` (the pipeline's ExitHandler runs this, success or failure).

    A failed KFP run otherwise leaves nothing in the run's own folder: the CI gate, the report and a human
    reading the bucket can then see that it failed, where, and why.
    """
    uri = io.join(output_uri, run_id, "status.json")
    body = {**status, "run_id": run_id, "recorded_at": datetime.now(UTC).isoformat(timespec="seconds")}
    io.write_json(uri, body)
    return uri
