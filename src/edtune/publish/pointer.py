"""`latest.json`, moved only by compare-and-swap, so concurrent publishers never lose each other's update.

Why not a plain overwrite: two CI jobs publishing at once each read the pointer, then each wrote theirs; the last
writer won and both reported the same `previous_version`. Now a move reads the pointer and its ETag, writes the
new pointer with `If-Match: <etag>` (`If-None-Match: *` when there is none yet), and on `412 Precondition Failed`
re-reads and tries again. Each pointer records the version it replaced and a `sequence` one above the replaced
one, so the history of `latest` is a chain with no gap: pointer n+1 names pointer n's version as its previous.

On local disk the same contract holds with an advisory lock (`fcntl.flock` on a sibling lock file) around the
compare and an atomic rename for the swap; the "ETag" is the sha256 of the file's bytes.

A damaged `latest.json` (not a valid pointer) is reported, never silently ignored: readers fail naming it, and
the next publish or rollback replaces it (conditionally on the damaged bytes) with a warning.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import random
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from pydantic import BaseModel, Field, ValidationError

from edtune.errors import StorageError
from edtune.io import parse
from edtune.io.storage import s3_client
from edtune.publish.errors import s3_error

log = logging.getLogger(__name__)

_PRECONDITION_CODES = {"PreconditionFailed", "412", "ConditionalRequestConflict", "409"}
_ABSENT_CODES = {"NoSuchKey", "404", "NotFound"}


class LatestPointer(BaseModel):
    """The content of `latest.json`: what serving reads to find the current adapter of a task."""

    task: str
    version: str
    uri: str  # the version directory
    manifest_sha256: str
    run_id: str
    files: int
    published_at: str = Field(default_factory=lambda: datetime.now(UTC).isoformat(timespec="seconds"))
    previous_version: str | None = (
        None  # the version this pointer replaced (None: first, or over a damaged one)
    )
    sequence: int = 0  # 1 for the first pointer of a task, +1 per move; 0 in pointers written before CAS


@dataclass(frozen=True)
class PointerState:
    """What a reader saw at `uri`: the pointer (None when absent or damaged), its ETag, and any damage."""

    uri: str
    pointer: LatestPointer | None
    etag: str | None  # None: no latest.json exists
    damage: str | None = None  # why the existing latest.json is not a valid pointer

    @property
    def exists(self) -> bool:
        return self.etag is not None


def _code(exc: BaseException) -> str:
    response = getattr(exc, "response", None)
    if not isinstance(response, dict):
        return ""
    return str((response.get("Error") or {}).get("Code", ""))


def _parse(uri: str, data: bytes, etag: str) -> PointerState:
    try:
        return PointerState(uri, LatestPointer.model_validate_json(data), etag)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(map(str, first["loc"])) or "(file)"
        return PointerState(uri, None, etag, f"{uri}: not a valid latest pointer ({where}: {first['msg']})")


def read_state(uri: str) -> PointerState:
    """Read `latest.json` with the tag a conditional write will compare against."""
    u = parse(uri)
    if u.scheme == "file":
        try:
            data = u.local.read_bytes()
        except FileNotFoundError:
            return PointerState(uri, None, None)
        except OSError as exc:
            raise StorageError(f"{uri}: cannot read ({exc.strerror or type(exc).__name__})") from None
        return _parse(uri, data, hashlib.sha256(data).hexdigest())
    try:
        reply = s3_client().get_object(Bucket=u.bucket, Key=u.path)
        data = reply["Body"].read()
    except Exception as exc:
        if _code(exc) in _ABSENT_CODES:
            return PointerState(uri, None, None)
        raise s3_error(uri, exc, "read") from exc
    return _parse(uri, data, str(reply["ETag"]))


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    import fcntl

    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.with_name(f".{path.name}.lock"), "a+b") as fh:
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh.fileno(), fcntl.LOCK_UN)


def swap(state: PointerState, new: LatestPointer) -> bool:
    """Write `new` only if `latest.json` is still what `state` saw; False when someone moved it first."""
    data = (new.model_dump_json(indent=2) + "\n").encode()
    u = parse(state.uri)
    if u.scheme == "file":
        with _locked(u.local):
            try:
                current: str | None = hashlib.sha256(u.local.read_bytes()).hexdigest()
            except FileNotFoundError:
                current = None
            if current != state.etag:
                return False
            fd, tmp = tempfile.mkstemp(prefix=f".{u.local.name}.", suffix=".edtune-tmp", dir=u.local.parent)
            try:
                with os.fdopen(fd, "wb") as fh:
                    fh.write(data)
                    fh.flush()
                    os.fsync(fh.fileno())
                os.replace(tmp, u.local)
            except BaseException:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(tmp)
                raise
        return True
    condition = {"IfMatch": state.etag} if state.etag else {"IfNoneMatch": "*"}
    try:
        s3_client().put_object(
            Bucket=u.bucket, Key=u.path, Body=data, ContentType="application/json", **condition
        )
    except Exception as exc:
        code = _code(exc)
        if code in _PRECONDITION_CODES or (state.etag and code in _ABSENT_CODES):
            return False
        raise s3_error(state.uri, exc, "write") from exc
    return True


def move(
    uri: str,
    build: Callable[[PointerState], LatestPointer | None],
    *,
    max_attempts: int = 100,
) -> tuple[LatestPointer | None, PointerState, int]:
    """Read-build-swap until a swap wins: `(pointer written or None, the state it replaced, attempts)`.

    `build` sees the current state and returns the pointer to write (its `previous_version` and `sequence`
    derived from that state), or None when no move is needed. Backoff is jittered so publishers that lost a
    round do not collide again in lockstep.
    """
    for attempt in range(1, max_attempts + 1):
        state = read_state(uri)
        new = build(state)
        if new is None:
            return None, state, attempt
        if state.damage:
            log.warning(
                "registry.latest_damaged uri=%s replacing=%s detail=%r", uri, new.version, state.damage
            )
        if swap(state, new):
            return new, state, attempt
        log.info(
            "registry.latest_conflict uri=%s attempt=%d (moved by another publisher; re-reading)",
            uri,
            attempt,
        )
        time.sleep(random.uniform(0.0, min(0.5, 0.005 * 2 ** min(attempt, 7))))
    raise StorageError(
        f"{uri}: the pointer kept moving under {max_attempts} conditional writes (other publishers); "
        "latest was not moved by this publish — run it again"
    )


def next_pointer(state: PointerState, **fields: object) -> LatestPointer:
    """A pointer that replaces `state`: previous_version and sequence follow from what it replaces."""
    prev = state.pointer
    return LatestPointer.model_validate(
        {
            **fields,
            "previous_version": prev.version if prev else None,
            "sequence": (prev.sequence if prev else 0) + 1,
        }
    )
