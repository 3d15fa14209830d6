"""A versioned adapter registry on object storage (S3/MinIO or a local directory).

Layout, per task:

    <registry>/adapters/<task>/<version>/<adapter files...>   (exactly the files listed in the manifest)
    <registry>/adapters/<task>/<version>/manifest.json         (written last: its presence marks a complete version)
    <registry>/adapters/<task>/latest.json                     (small pointer, moved only after a verified upload)

`version` is `<run_id>-<12 hex>` where the hex is a hash of the manifest's `files` map, so the same run with the
same weights always maps to the same version and different weights never collide. A complete version is never
overwritten: `manifest.json` is created with an exclusive write (S3 `If-None-Match: *`, `O_EXCL` on disk).
A publish that was killed half-way leaves files but no `manifest.json`; the next publish of the same content
completes it. Readers (serving) follow `latest.json` or a pinned version and re-verify sha256 on download.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import re
import shutil
from datetime import UTC, datetime
from pathlib import Path

from pydantic import BaseModel, Field, ValidationError

from edtune.errors import InputError, ModelError, StorageError
from edtune.io import exists, join, list_uris, parse, read_bytes, sha256_uri, write_json
from edtune.io.storage import open_read, open_write, s3_client
from edtune.schemas import AdapterManifest

log = logging.getLogger(__name__)

MANIFEST_NAME = "manifest.json"
LATEST_NAME = "latest.json"
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")
_UNSAFE_SUFFIXES = (".bin", ".pt", ".pth", ".pkl", ".pickle", ".ckpt")
_CHUNK = 8 * 1024 * 1024


class VersionConflictError(InputError):
    """A complete version with the same id but different content already exists; it is never overwritten."""


class LatestPointer(BaseModel):
    """The content of `latest.json`: what serving reads to find the current adapter of a task."""

    task: str
    version: str
    uri: str  # the version directory
    manifest_sha256: str
    run_id: str
    files: int
    published_at: str = Field(default_factory=lambda: datetime.now(UTC).isoformat(timespec="seconds"))


class PublishResult(BaseModel):
    """What `publish` did: where the version lives, whether it was new, and where `latest` points now."""

    task: str
    version: str
    uri: str
    latest_uri: str
    created: bool  # False when the same content was already published (idempotent republish)
    previous_version: str | None  # what latest.json pointed at before this publish
    files: dict[str, str]  # relative path -> sha256, all verified after upload


def _check_name(value: str, what: str) -> str:
    if not _NAME_RE.match(value):
        raise InputError(
            f"{what} {value!r} is not a valid name: use letters, digits, '.', '_' or '-' (max 100, no leading punctuation)"
        )
    return value


def version_id(run_id: str, manifest: AdapterManifest) -> str:
    """`<run_id>-<first 12 hex of sha256 over the sorted 'path<TAB>sha256' lines of manifest.files>`."""
    _check_name(run_id, "run id")
    lines = "".join(f"{path}\t{digest}\n" for path, digest in sorted(manifest.files.items()))
    return f"{run_id}-{hashlib.sha256(lines.encode()).hexdigest()[:12]}"


def task_uri(registry: str, task: str) -> str:
    return join(registry, "adapters", _check_name(task, "task"))


def _load_manifest(manifest_uri: str) -> tuple[AdapterManifest, bytes]:
    data = read_bytes(manifest_uri)
    try:
        manifest = AdapterManifest.model_validate_json(data)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors()[:10])
        raise ModelError(f"{manifest_uri}: not a valid AdapterManifest: {problems}") from None
    if not manifest.files:
        raise ModelError(f"{manifest_uri}: files: the manifest lists no adapter files")
    for rel, digest in manifest.files.items():
        parts = rel.replace("\\", "/").split("/")
        if rel.startswith("/") or ".." in parts or rel == MANIFEST_NAME:
            raise ModelError(f"{manifest_uri}: files: path {rel!r} is absolute, escapes, or is reserved")
        if rel.lower().endswith(_UNSAFE_SUFFIXES):
            raise ModelError(
                f"{manifest_uri}: files: {rel!r} is a pickle-based format; adapters are safetensors only"
            )
        if not re.fullmatch(r"[0-9a-f]{64}", digest):
            raise ModelError(f"{manifest_uri}: files.{rel}: {digest!r} is not a sha256 hex digest")
    return manifest, data


def _relative(child: str, prefix: str) -> str:
    cu, pu = parse(child), parse(prefix)
    if cu.scheme == "file":
        return Path(cu.path).relative_to(Path(pu.path)).as_posix()
    return cu.path[len(pu.path.rstrip("/")) + 1 :] if pu.path else cu.path


def _copy_file(src: str, dst: str) -> None:
    """Copy one object between any two schemes; the destination appears only when complete."""
    su, du = parse(src), parse(dst)
    if su.scheme == "file" and du.scheme == "s3":
        try:
            s3_client().upload_file(str(su.local), du.bucket, du.path)
        except FileNotFoundError:
            raise InputError(f"{src}: file not found (did it disappear during the upload?)") from None
        except Exception as exc:
            raise StorageError(f"{dst}: upload failed: {type(exc).__name__}: {exc}") from exc
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
            raise StorageError(f"{uri}: write failed: {type(exc).__name__}: {exc}") from exc
        return True
    u.local.parent.mkdir(parents=True, exist_ok=True)
    tmp = u.local.with_name(f".{u.local.name}.{os.getpid()}.tmp")
    tmp.write_bytes(data)
    try:
        os.link(tmp, u.local)  # atomic and fails if the target exists
    except FileExistsError:
        return False
    finally:
        tmp.unlink(missing_ok=True)
    return True


def _verify(version_uri: str, files: dict[str, str]) -> list[str]:
    problems: list[str] = []
    for rel, expected in sorted(files.items()):
        uri = join(version_uri, rel)
        try:
            actual = sha256_uri(uri)
        except InputError:
            problems.append(f"{uri}: missing")
            continue
        if actual != expected:
            problems.append(f"{uri}: sha256 {actual[:12]}… does not match the manifest's {expected[:12]}…")
    return problems


def read_latest(registry: str, task: str) -> LatestPointer | None:
    """The task's current pointer, or None if nothing was published yet."""
    uri = join(task_uri(registry, task), LATEST_NAME)
    if not exists(uri):
        return None
    try:
        return LatestPointer.model_validate_json(read_bytes(uri))
    except ValidationError as exc:
        raise StorageError(f"{uri}: not a valid latest pointer: {exc.errors()[0]['msg']}") from None


def verify_version(registry: str, task: str, version: str) -> list[str]:
    """Re-hash every file of a published version against its stored manifest; [] when intact."""
    version_uri = join(task_uri(registry, task), _check_name(version, "version"))
    manifest_uri = join(version_uri, MANIFEST_NAME)
    if not exists(manifest_uri):
        return [f"{manifest_uri}: missing (version absent or incomplete)"]
    manifest, _ = _load_manifest(manifest_uri)
    return _verify(version_uri, manifest.files)


def publish(adapter_uri: str, manifest_uri: str, registry: str, task: str, run_id: str) -> PublishResult:
    """Copy an adapter + manifest to a new immutable version, verify it, then move `latest.json` to it.

    Order matters for readers: adapter files, then sha256 verification of every uploaded file, then
    `manifest.json` (exclusive create: the version is complete), then `latest.json` (atomic overwrite).
    A kill at any point before the last step leaves the previous `latest.json` untouched.
    Republishing identical content is a no-op for the version and points `latest` at it again.
    """
    task = _check_name(task, "task")
    manifest, manifest_bytes = _load_manifest(manifest_uri)
    version = version_id(run_id, manifest)
    base = task_uri(registry, task)
    version_uri = join(base, version)
    version_manifest = join(version_uri, MANIFEST_NAME)
    latest_uri = join(base, LATEST_NAME)
    previous = read_latest(registry, task)

    present = {_relative(u, adapter_uri) for u in list_uris(adapter_uri)}
    missing = sorted(set(manifest.files) - present)
    if missing:
        raise ModelError(f"{adapter_uri}: files listed in {manifest_uri} are missing: {', '.join(missing)}")
    extra = sorted(present - set(manifest.files))
    if extra:
        log.warning("publish.ignored_files adapter=%s files=%s (not in the manifest)", adapter_uri, extra)

    created = True
    if exists(version_manifest):
        created = False
        _check_same_version(version_manifest, manifest_bytes, version_uri, manifest.files)
    else:
        for rel in sorted(manifest.files):
            _copy_file(join(adapter_uri, rel), join(version_uri, rel))
        problems = _verify(version_uri, manifest.files)
        if problems:
            raise StorageError(
                f"{version_uri}: verification after upload failed; latest not moved:\n  "
                + "\n  ".join(problems)
            )
        if not _create_exclusive(version_manifest, manifest_bytes):
            created = False  # a concurrent publisher completed it first: same rules as a republish
            _check_same_version(version_manifest, manifest_bytes, version_uri, manifest.files)

    pointer = LatestPointer(
        task=task,
        version=version,
        uri=version_uri,
        manifest_sha256=hashlib.sha256(manifest_bytes).hexdigest(),
        run_id=run_id,
        files=len(manifest.files),
    )
    write_json(latest_uri, pointer.model_dump(mode="json"))
    log.info("publish.done task=%s version=%s created=%s", task, version, created)
    return PublishResult(
        task=task,
        version=version,
        uri=version_uri,
        latest_uri=latest_uri,
        created=created,
        previous_version=previous.version if previous else None,
        files=dict(manifest.files),
    )


def _check_same_version(
    version_manifest: str, manifest_bytes: bytes, version_uri: str, files: dict[str, str]
) -> None:
    stored = read_bytes(version_manifest)
    if stored != manifest_bytes:
        raise VersionConflictError(
            f"{version_uri}: version already published with a different manifest; versions are never "
            "overwritten (publish under a new run id)"
        )
    problems = _verify(version_uri, files)
    if problems:
        raise StorageError(
            f"{version_uri}: the published version no longer matches its manifest; refusing to point latest at it:\n  "
            + "\n  ".join(problems)
        )


def sync(registry: str, task: str, dest: str | Path, version: str | None = None) -> LatestPointer:
    """Download a version (default: the one `latest.json` names) into a local dir and verify every file.

    What the serving initContainer runs: TGI reads adapters from a local path only. Raises if nothing is
    published or any file does not match the manifest; `dest` then holds no manifest.json.
    """
    pointer = read_latest(registry, task)
    if version:
        version_uri = join(task_uri(registry, task), _check_name(version, "version"))
        if pointer is None or pointer.version != version:
            raw = read_bytes(join(version_uri, MANIFEST_NAME))
            pointer = LatestPointer(
                task=task,
                version=version,
                uri=version_uri,
                manifest_sha256=hashlib.sha256(raw).hexdigest(),
                run_id=version.rsplit("-", 1)[0],
                files=len(json.loads(raw).get("files", {})),
            )
    if pointer is None:
        raise InputError(
            f"{join(task_uri(registry, task), LATEST_NAME)}: nothing published for task {task!r}"
        )
    manifest, raw = _load_manifest(join(pointer.uri, MANIFEST_NAME))
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    with contextlib.suppress(FileNotFoundError):
        (dest / MANIFEST_NAME).unlink()
    for rel in sorted(manifest.files):
        _copy_file(join(pointer.uri, rel), str(dest / rel))
    problems = _verify(str(dest), manifest.files)
    if problems:
        raise StorageError(
            f"{pointer.uri}: downloaded files do not match the manifest:\n  " + "\n  ".join(problems)
        )
    (dest / MANIFEST_NAME).write_bytes(raw)
    return pointer
