"""Preflight: everything a run needs, checked before any model work (`edtune run --check`).

A 7B run that fails on its teacher URL after the base evaluation has spent GPU time for nothing, and a config
that reports one missing field per attempt costs one attempt per field. `run_checks` reports every problem at
once, one line each: required fields, input files, the student (config and processor, never the weights), the
teacher (answers, and the model it serves: `teacher.model: auto` resolved), the pool's collection (exists, and
holds the pool's row count), the object store (writable) and a GPU when `student.device: cuda`.

It is a plain function over a RunConfig so every entry point calls the same checks: `edtune run --check` (all of
them, exit 2 on any failure), `edtune run` (the cheap ones, `thorough=False`, before the first evaluation) and
`edtune pipeline submit --dry-run` (with `local=False`, which skips what only a pod can see).
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Callable
from pathlib import Path

from pydantic import BaseModel

from edtune import io
from edtune.config import RunConfig
from edtune.errors import EdtuneError, InputError, Problem

log = logging.getLogger(__name__)

#: settings without a usable default: a run cannot start without them
REQUIRED = ("task.val", "pool.uri", "student.base", "teacher.url", "output")
INDEXED_SELECTORS = ("error-driven", "similar-questions")


class CheckResult(BaseModel):
    name: str  # config | inputs | student | teacher | pool | store | gpu
    ok: bool
    detail: str  # one line: what was found, or what is wrong and the field that says so
    field: str | None = None  # the setting to change when it failed

    def line(self) -> str:
        """`ok   teacher  …` or `FAIL teacher  teacher.url: …` (a failure always names its setting first)."""
        named = self.ok or not self.field or self.detail.startswith(self.field)
        detail = self.detail if named else f"{self.field}: {self.detail}"
        return f"{'ok  ' if self.ok else 'FAIL'} {self.name:<8} {detail}"


def _get(cfg: RunConfig, dotted: str) -> object:
    node: object = cfg
    for k in dotted.split("."):
        node = getattr(node, k)
    return node


def check_fields(cfg: RunConfig) -> list[CheckResult]:
    missing = [f for f in REQUIRED if not _get(cfg, f)]
    if missing:
        return [CheckResult(name="config", ok=False, detail=f"{f}: not set", field=f) for f in missing]
    return [CheckResult(name="config", ok=True, detail="every required setting is given")]


def check_inputs(cfg: RunConfig) -> list[CheckResult]:
    out = []
    for dotted in ("task.val", "task.test", "pool.uri", "pool.skills"):
        uri = _get(cfg, dotted)
        if not uri:
            continue
        try:
            ok, why = io.exists(str(uri)), "not found"
        except EdtuneError as exc:  # an unreachable or refusing store: a failed line, not an abort
            ok, why = False, str(exc).splitlines()[0].removeprefix(f"{uri}: ")
        out.append(
            CheckResult(
                name="inputs",
                ok=ok,
                detail=f"{dotted}: {uri}" + ("" if ok else f": {why}"),
                field=None if ok else dotted,
            )
        )
    return out


def check_student(cfg: RunConfig, *, thorough: bool = True) -> CheckResult:
    """The base resolves to a checkpoint of the configured family; `thorough` also loads its processor."""
    import json

    from edtune.student.checkpoint import read_config
    from edtune.student.families import get_family
    from edtune.student.hub import parse_hub_id, resolve_hub

    base = cfg.student.base
    family = get_family(cfg.student.family)
    if io.parse(base).scheme == "s3" and parse_hub_id(base) is None:
        conf = json.loads(io.read_text(io.join(base, "config.json")))  # not the weights: they sync at load
        weights = [u for u in io.list_uris(base) if u.endswith(".safetensors")]
        where, model_dir = base, None
    else:
        model_dir = resolve_hub(base) if parse_hub_id(base) else Path(io.parse(base).local)
        if not model_dir.is_dir():
            raise InputError(f"student.base: {base}: directory not found")
        conf = read_config(model_dir)
        weights = [str(p) for p in model_dir.glob("*.safetensors")]
        where = str(model_dir)
    mt = conf.get("model_type")
    if mt not in family.model_types:
        raise InputError(
            f"student.family: {family.name!r} expects model_type {list(family.model_types)}, "
            f"student.base has {mt!r}"
        )
    if not weights:
        raise InputError(f"student.base: {where}: no *.safetensors weights")
    detail = f"student.base: {base} -> {mt}, {len(weights)} weight file(s)"
    if thorough and model_dir is not None:
        proc = family.load_processor(model_dir)
        detail += f", processor {type(proc).__name__}"
    return CheckResult(name="student", ok=True, detail=detail)


def check_teacher(cfg: RunConfig) -> CheckResult:
    from edtune.teacher.client import TeacherClient

    async def ask() -> str | None:
        async with TeacherClient(cfg.teacher.model_copy(update={"max_retries": 1})) as client:
            await client.check()
            return client.model_id

    model = asyncio.run(ask())
    return CheckResult(
        name="teacher",
        ok=True,
        detail=f"teacher.url: {cfg.teacher.url} serves {model!r} ({cfg.teacher.backend})",
    )


def check_pool(cfg: RunConfig, *, thorough: bool = True) -> CheckResult:
    """The collection exists and is not empty; `thorough` also compares its rows with the pool's line count."""
    from edtune.skills.index import SkillIndex

    with SkillIndex(cfg.pool.milvus_uri, cfg.pool.collection) as index:
        rows = index.count() if index.exists() else -1
    hint = f"build it: edtune index --pool {cfg.pool.uri} --milvus-uri {cfg.pool.milvus_uri} " + (
        f"--collection {cfg.pool.collection}" + (f" --skills {cfg.pool.skills}" if cfg.pool.skills else "")
    )
    if rows <= 0:
        what = "does not exist" if rows < 0 else "is empty"
        raise InputError(f"pool.collection: {cfg.pool.collection!r} {what} at pool.milvus_uri; {hint}")
    detail = f"pool.collection: {cfg.pool.collection!r}: {rows} rows"
    if thorough and cfg.pool.uri:
        lines = sum(1 for line in io.read_text(cfg.pool.uri).splitlines() if line.strip())
        if lines != rows:
            raise InputError(
                f"pool.collection: {cfg.pool.collection!r} holds {rows} rows but pool.uri has {lines}; "
                f"the index is stale or partial ({hint})"
            )
        detail += f" = the pool's {lines} samples"
    return CheckResult(name="pool", ok=True, detail=detail)


def check_store(cfg: RunConfig) -> CheckResult:
    """A probe object is written and removed under `output` (the run's object store)."""
    probe = io.join(cfg.output, f".edtune-preflight-{uuid.uuid4().hex[:12]}")
    io.write_text(probe, "ok\n")
    u = io.parse(probe)
    if u.scheme == "file":
        u.local.unlink(missing_ok=True)
    else:
        from edtune.io.storage import s3_client

        s3_client().delete_object(Bucket=u.bucket, Key=u.path)
    return CheckResult(name="store", ok=True, detail=f"output: {cfg.output} is writable")


def check_gpu(cfg: RunConfig) -> CheckResult:
    import torch

    if not torch.cuda.is_available():
        raise InputError("student.device: 'cuda' but no CUDA device is visible (set student.device: auto)")
    return CheckResult(name="gpu", ok=True, detail=f"{torch.cuda.device_count()} CUDA device(s) visible")


def _guard(name: str, field: str, fn: Callable[[], CheckResult]) -> CheckResult:
    """Run one check; any error becomes a failed line naming its field, so every check still runs."""
    try:
        return fn()
    except EdtuneError as exc:
        msg = str(exc).splitlines()[0]
        return CheckResult(name=name, ok=False, detail=msg, field=field)
    except Exception as exc:  # a check must report, never abort the others
        return CheckResult(name=name, ok=False, detail=f"{field}: {type(exc).__name__}: {exc}", field=field)


def run_checks(cfg: RunConfig, *, thorough: bool = True, local: bool = True) -> list[CheckResult]:
    """Every check, in the order a user fixes them; never raises for a failed check (see `raise_on_failure`).

    `thorough=False` skips what costs more than a request (the processor, the pool's line count). `local=False`
    is for a submit from outside the cluster: the teacher and Milvus are cluster services (their DNS names do not
    resolve here; the pipeline's `configure` task asks the teacher in the cluster) and the GPU is the pods', so
    those three are skipped, each with a line saying so; settings, inputs, the student and the store are checked.
    """
    results = check_fields(cfg)
    given = {r.field for r in results if not r.ok}
    results += check_inputs(cfg)
    if "student.base" not in given:
        results.append(_guard("student", "student.base", lambda: check_student(cfg, thorough=thorough)))
    if not local:
        results += [
            CheckResult(
                name=n, ok=True, detail=f"{f}: skipped (a cluster service; checked from inside the cluster)"
            )
            for n, f in (("teacher", "teacher.url"), ("pool", "pool.milvus_uri"))
        ]
    elif "teacher.url" not in given:
        results.append(_guard("teacher", "teacher.url", lambda: check_teacher(cfg)))
    if local and cfg.retrieval.selector in INDEXED_SELECTORS:
        results.append(_guard("pool", "pool.collection", lambda: check_pool(cfg, thorough=thorough)))
    if "output" not in given:
        results.append(_guard("store", "output", lambda: check_store(cfg)))
    if local and cfg.student.device == "cuda":
        results.append(_guard("gpu", "student.device", lambda: check_gpu(cfg)))
    return results


def raise_on_failure(results: list[CheckResult]) -> None:
    """One InputError (exit 2) listing every failed check, each naming its field."""
    failed = [r for r in results if not r.ok]
    if failed:
        problems = [
            Problem(f"preflight {r.name}", None, None, r.line()[5:].split(None, 1)[1]) for r in failed
        ]
        raise InputError(f"preflight: {len(failed)} check(s) failed", problems)
