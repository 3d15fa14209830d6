"""What runs inside a task pod: the helpers the components call before and around their stage.

Teacher detection, the data fingerprint that keys KFP's cache, the annotation journal mirror, the run status
record, and the cache-volume check every task with a cache runs first (`require_writable_cache`).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import sys
import threading
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from edtune import io
from edtune.config import RunConfig
from edtune.errors import ServiceError

log = logging.getLogger("edtune.pipeline")

#: Exit code of a task whose environment is wrong (bad input, as the CLI's 2): KFP shows it on the failed task.
BAD_ENVIRONMENT_EXIT = 2


def require_writable_cache(cfg: RunConfig) -> Path:
    """Fail the task at once (exit 2) when its cache directory cannot be written, naming `cluster.cache_*`.

    KFP task pods get no `fsGroup`, and the images run as a non-root user: a PVC or a generic ephemeral volume
    whose root is owned by root is mounted read-only for the task in practice, and the first model download
    would fail with a PermissionError minutes or hours into a GPU task. Checked by writing a file, which is the
    only test that holds for every volume type, ACL and user.
    """
    path = Path(cfg.cache_dir)
    probe = path / f".edtune-write-check-{uuid.uuid4().hex[:8]}"
    try:
        path.mkdir(parents=True, exist_ok=True)
        probe.write_bytes(b"ok")
        probe.unlink()
    except OSError as exc:
        c = cfg.cluster
        volume = (
            f"cluster.cache_pvc={c.cache_pvc!r}"
            if c.cache_pvc
            else f"cluster.cache_storage_class={c.cache_storage_class!r}"
            if c.cache_storage_class
            else "an emptyDir (cluster.cache_pvc and cluster.cache_storage_class unset)"
        )
        print(
            f"error: cache_dir {str(path)!r} is not writable by uid {os.getuid()} ({type(exc).__name__}: "
            f"{exc.strerror or exc}); it is cluster.cache_mount={c.cache_mount!r} backed by {volume}. KFP gives "
            "task pods no fsGroup: use a volume whose root uid "
            f"{c.run_as_user} can write (unset cluster.cache_storage_class for an emptyDir, or a storage class "
            "or PVC prepared as docs/deploy.md says)",
            file=sys.stderr,
            flush=True,
        )
        raise SystemExit(BAD_ENVIRONMENT_EXIT) from None
    return path


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
