"""What a cluster run may be given, and the pipeline parameters a RunConfig becomes.

`validate_for_cluster` refuses (exit 2, before anything is compiled or sent) a config that only works on one
machine: local paths, loopback URLs, an empty student, a cache outside the task's cache volume.
"""

from __future__ import annotations

import ipaddress
import json
from typing import Any
from urllib.parse import urlsplit

from edtune.config import RunConfig
from edtune.errors import InputError, Problem
from edtune.pipeline.graph import canonical
from edtune.student.hub import parse_hub_id, stage_hint

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
        elif parse_hub_id(base) is not None:
            problems.append(
                Problem(
                    "config",
                    None,
                    "student.base",
                    f"{base!r} is a hub id: pipeline pods never download from a hub; {stage_hint(base)}",
                )
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
