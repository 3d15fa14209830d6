"""A versioned adapter registry on object storage (S3/MinIO or a local directory): publish, list, roll back.

The layout is in `edtune.publish.layout`. A complete version is never overwritten: `manifest.json` is created with
an exclusive write (S3 `If-None-Match: *`, a hard link on disk) after every file was uploaded and re-hashed. A
publish that was killed half-way leaves files but no `manifest.json`; the next publish of the same content
completes it. `latest.json` moves only by compare-and-swap (`edtune.publish.pointer`), so concurrent publishers
each replace exactly one pointer and record it as their `previous_version`. Readers (serving) follow `latest.json`
or a pinned version and re-verify sha256 on download (`edtune.publish.fetch`).
"""

from __future__ import annotations

import logging
import os
import shutil
from datetime import UTC, datetime
from pathlib import Path

from pydantic import BaseModel

from edtune.errors import InputError, ModelError, StorageError
from edtune.io import exists, join, list_uris, parse, read_bytes, sha256_bytes
from edtune.io.storage import open_read, open_write, s3_client
from edtune.publish.errors import CORRUPT, GateError, VersionError, credential_hints, s3_error
from edtune.publish.layout import (
    LATEST_NAME,
    MANIFEST_NAME,
    check_name,
    latest_uri,
    load_manifest,
    manifest_gain,
    task_uri,
    version_id,
    version_uri,
)
from edtune.publish.lifecycle import abort_stale_uploads
from edtune.publish.pointer import LatestPointer, PointerState, move, next_pointer, read_state
from edtune.publish.verify import (
    as_problem,
    check_version_at,
    file_problems,
    stored_manifest,
    verify_version,
)

__all__ = [
    "LATEST_NAME",
    "MANIFEST_NAME",
    "LatestPointer",
    "PublishResult",
    "VersionConflictError",
    "publish",
    "read_latest",
    "rollback",
    "task_uri",
    "verify_version",
    "version_id",
]

log = logging.getLogger(__name__)

_CHUNK = 8 * 1024 * 1024


class VersionConflictError(InputError):
    """A complete version with the same id but different content already exists; it is never overwritten."""


class PublishResult(BaseModel):
    """What `publish` did: where the version lives, whether it was new, and which pointer it replaced."""

    task: str
    version: str
    uri: str
    latest_uri: str
    created: bool  # False when the same content was already published (idempotent republish)
    previous_version: str | None  # the version the pointer named when this publish's swap replaced it
    sequence: int  # the pointer's position in the task's history of `latest` (1 = first)
    files: dict[str, str]  # relative path -> sha256, all verified after upload
    gain: float | None = None  # validation gain of the manifest (kept round over round 0), when measurable
    pointer_attempts: int = 1  # conditional writes tried: > 1 when concurrent publishers moved latest first
    aborted_uploads: int = 0  # stale multipart uploads of killed attempts aborted after the commit
    warnings: list[str] = []


def _copy_file(src: str, dst: str) -> None:
    """Copy one object between any two schemes; the destination appears only when complete."""
    su, du = parse(src), parse(dst)
    if su.scheme == "file" and du.scheme == "s3":
        try:
            s3_client().upload_file(str(su.local), du.bucket, du.path)
        except FileNotFoundError:
            raise InputError(f"{src}: file not found (did it disappear during the upload?)") from None
        except Exception as exc:
            raise s3_error(dst, exc, "upload") from exc
        return
    with open_read(src) as fin, open_write(dst) as fout:
        shutil.copyfileobj(fin, fout, _CHUNK)


def _create_exclusive(uri: str, data: bytes) -> bool:
    """Create `uri` only if absent; False if it already exists. The commit point of a version."""
    u = parse(uri)
    if u.scheme == "s3":
        try:
            s3_client().put_object(Bucket=u.bucket, Key=u.path, Body=data, IfNoneMatch="*")
        except Exception as exc:
            code = ((getattr(exc, "response", None) or {}).get("Error") or {}).get("Code", "")
            if code in ("PreconditionFailed", "412", "ConditionalRequestConflict"):
                return False
            raise s3_error(uri, exc, "write") from exc
        return True
    u.local.parent.mkdir(parents=True, exist_ok=True)
    tmp = u.local.with_name(f".{u.local.name}.{os.getpid()}.edtune-tmp")
    tmp.write_bytes(data)
    try:
        os.link(tmp, u.local)  # atomic and fails if the target exists
    except FileExistsError:
        return False
    finally:
        tmp.unlink(missing_ok=True)
    return True


def _relative(child: str, prefix: str) -> str:
    cu, pu = parse(child), parse(prefix)
    if cu.scheme == "file":
        return Path(cu.path).relative_to(Path(pu.path)).as_posix()
    return cu.path[len(pu.path.rstrip("/")) + 1 :] if pu.path else cu.path


def read_latest(registry: str, task: str) -> LatestPointer | None:
    """The task's current pointer, or None if nothing was published yet; a damaged pointer is an error naming it."""
    state = read_state(latest_uri(registry, task))
    if state.damage:
        raise StorageError(
            f"{state.damage}; the next `edtune publish` or `edtune adapters rollback --to VERSION` replaces it"
        )
    return state.pointer


def _check_same_version(
    version_manifest: str, manifest_bytes: bytes, vuri: str, files: dict[str, str]
) -> None:
    stored = read_bytes(version_manifest)
    if stored != manifest_bytes:
        raise VersionConflictError(
            f"{vuri}: version already published with a different manifest; versions are never "
            "overwritten (publish under a new run id)"
        )
    problems = file_problems(vuri, files)
    if problems:
        raise VersionError(
            f"{vuri}: the published version no longer matches its manifest; refusing to point latest at it",
            CORRUPT,
            [as_problem(p) for p in problems],
        )


def _upload_version(adapter_uri: str, vuri: str, files: dict[str, str], manifest_bytes: bytes) -> bool:
    """Upload, re-hash, then commit with the exclusive manifest write; False when the version already existed."""
    version_manifest = join(vuri, MANIFEST_NAME)
    if exists(version_manifest):
        _check_same_version(version_manifest, manifest_bytes, vuri, files)
        return False
    try:
        for rel in sorted(files):
            _copy_file(join(adapter_uri, rel), join(vuri, rel))
    except StorageError:
        if not exists(version_manifest):
            raise
        # a concurrent publisher of the same content committed it (and aborted our now useless upload)
        _check_same_version(version_manifest, manifest_bytes, vuri, files)
        return False
    problems = file_problems(vuri, files)
    if problems:
        raise VersionError(
            f"{vuri}: verification after upload failed (the files do not match the manifest); latest not moved",
            CORRUPT,
            [as_problem(p) for p in problems],
        )
    if not _create_exclusive(version_manifest, manifest_bytes):
        _check_same_version(version_manifest, manifest_bytes, vuri, files)  # a concurrent publisher won
        return False
    return True


@credential_hints()
def publish(
    adapter_uri: str,
    manifest_uri: str,
    registry: str,
    task: str,
    run_id: str,
    *,
    min_gain: float | None = None,
) -> PublishResult:
    """Copy an adapter + manifest to a new immutable version, verify it, then move `latest.json` to it.

    Order matters for readers: the quality gate and input checks (nothing written on failure), adapter files,
    sha256 verification of every uploaded file, `manifest.json` (exclusive create: the version is complete), then
    `latest.json` by compare-and-swap. A kill at any point before the last step leaves the previous pointer as it
    was. Republishing identical content is a no-op for the version and points `latest` at it again.
    """
    started = datetime.now(UTC)
    task = check_name(task, "task")
    manifest, manifest_bytes = load_manifest(manifest_uri)
    version = version_id(run_id, manifest)
    gain: float | None
    try:
        gain = manifest_gain(manifest)
    except ModelError:
        if min_gain is not None:
            raise
        gain = None
    if min_gain is not None and gain is not None and gain < min_gain:
        raise GateError(
            f"{manifest_uri}: quality gate: validation gain {gain:+.3f} < --min-gain {min_gain:+.3f}; "
            "nothing was published"
        )
    vuri = version_uri(registry, task, version)
    present = {_relative(u, adapter_uri) for u in list_uris(adapter_uri)}
    missing = sorted(set(manifest.files) - present)
    if missing:
        raise ModelError(f"{adapter_uri}: files listed in {manifest_uri} are missing: {', '.join(missing)}")
    extra = sorted(present - set(manifest.files))
    if extra:
        log.warning("publish.ignored_files adapter=%s files=%s (not in the manifest)", adapter_uri, extra)
    if parse(adapter_uri).scheme == "file":  # cheap on disk: a bad input fails before anything is written
        mismatched = file_problems(adapter_uri, manifest.files)
        if mismatched:
            raise ModelError(
                f"{adapter_uri}: the adapter files do not match the manifest {manifest_uri}; nothing was "
                "published:\n  " + "\n  ".join(mismatched)
            )

    created = _upload_version(adapter_uri, vuri, manifest.files, manifest_bytes)
    aborted = abort_stale_uploads(vuri, started)
    fields = {
        "task": task,
        "version": version,
        "uri": vuri,
        "manifest_sha256": sha256_bytes(manifest_bytes),
        "run_id": run_id,
        "files": len(manifest.files),
    }
    warnings: list[str] = []

    def build(state: PointerState) -> LatestPointer:
        warnings[:] = [f"{state.damage}; replaced by this publish"] if state.damage else []
        return next_pointer(state, **fields)

    pointer, replaced, attempts = move(latest_uri(registry, task), build)
    assert pointer is not None
    log.info(
        "publish.done task=%s version=%s created=%s sequence=%d", task, version, created, pointer.sequence
    )
    return PublishResult(
        task=task,
        version=version,
        uri=vuri,
        latest_uri=latest_uri(registry, task),
        created=created,
        previous_version=replaced.pointer.version if replaced.pointer else None,
        sequence=pointer.sequence,
        files=dict(manifest.files),
        gain=gain,
        pointer_attempts=attempts,
        aborted_uploads=aborted,
        warnings=warnings,
    )


class RollbackResult(BaseModel):
    task: str
    version: str
    previous_version: str | None
    moved: bool  # False when latest already named the version
    sequence: int
    warnings: list[str] = []


@credential_hints()
def rollback(registry: str, task: str, to: str) -> RollbackResult:
    """Point `latest` at an earlier version by the same compare-and-swap; a version that does not verify is refused."""
    vuri = version_uri(registry, task, to)
    check_version_at(vuri, task, to).raise_for_status()
    manifest, raw = stored_manifest(vuri, task, to)
    fields = {
        "task": task,
        "version": to,
        "uri": vuri,
        "manifest_sha256": sha256_bytes(raw),
        "run_id": manifest.run_id or to.rsplit("-", 1)[0],
        "files": len(manifest.files),
    }
    warnings: list[str] = []

    def build(state: PointerState) -> LatestPointer | None:
        warnings[:] = [f"{state.damage}; replaced by this rollback"] if state.damage else []
        if state.pointer is not None and state.pointer.version == to:
            return None
        return next_pointer(state, **fields)

    pointer, replaced, _ = move(latest_uri(registry, task), build)
    now = pointer or replaced.pointer
    assert now is not None
    return RollbackResult(
        task=task,
        version=to,
        previous_version=replaced.pointer.version if replaced.pointer else None,
        moved=pointer is not None,
        sequence=now.sequence,
        warnings=warnings,
    )
