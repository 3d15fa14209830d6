"""Mid-tune checkpoints in the run's object store, and SIGTERM turned into "checkpoint, then stop".

A tune pod that is preempted or OOM-killed after hours must not restart from step 0. The Trainer writes its
checkpoints (adapter, optimizer, scheduler, RNG states, trainer state) to a local directory; `CheckpointStore`
mirrors each one to `<checkpoint_uri>/step-NNNNNN/` and only then moves the pointer `<checkpoint_uri>/latest.json`
(an atomic write), so a kill during an upload leaves the previous checkpoint current. The pointer carries the
sha256 of every file (checked on download) and the job key: a checkpoint of other samples, another LoRA config,
seed, base, incoming adapter or world size is never resumed. Older step directories are pruned after the
pointer moves. Pickled files the Trainer writes that resuming does not need (`training_args.bin`) never leave
the pod; the optimizer/scheduler/RNG files are loaded by the Trainer with `weights_only=True`.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import logging
import shutil
import signal
import threading
from collections.abc import Iterator
from pathlib import Path
from types import FrameType
from typing import Any

from pydantic import BaseModel

from edtune import io
from edtune.errors import StageError, StorageError
from edtune.log import kv

log = logging.getLogger(__name__)

POINTER = "latest.json"
NOT_UPLOADED = frozenset({"training_args.bin"})


class TunePreempted(StageError):
    """The tune stopped on SIGTERM after saving a checkpoint; rerunning the stage resumes from it."""


class CheckpointPointer(BaseModel):
    """What `latest.json` says: which step directory is complete, for which job, with each file's sha256."""

    step: int
    dir: str
    key: str
    files: dict[str, str]
    created_at: str


class CheckpointStore:
    """Checkpoints of one tune job under one URI (`file://`, a path, or `s3://`)."""

    def __init__(self, uri: str, key: str) -> None:
        self.uri = uri.rstrip("/")
        self.key = key

    def latest(self) -> CheckpointPointer | None:
        """The current checkpoint of this job, or None (none yet, or one of another job, which is ignored)."""
        ptr_uri = io.join(self.uri, POINTER)
        if not io.exists(ptr_uri):
            return None
        try:
            ptr = CheckpointPointer.model_validate(io.read_json(ptr_uri))
        except Exception as exc:  # a pointer we cannot read is not one we can trust: start over
            log.warning(
                kv("tune checkpoint pointer unreadable; starting from step 0", uri=ptr_uri, error=exc)
            )
            return None
        if ptr.key != self.key:
            log.warning(
                kv(
                    "tune checkpoint is of another job (inputs or config changed); starting from step 0",
                    uri=ptr_uri,
                )
            )
            return None
        return ptr

    def fetch(self, ptr: CheckpointPointer, local_root: Path) -> Path:
        """Download `ptr`'s step directory to `local_root/checkpoint-<step>` and check every sha256."""
        from edtune.student.checkpoint import sha256_file

        dst = local_root / f"checkpoint-{ptr.step}"
        shutil.rmtree(dst, ignore_errors=True)
        io.download_dir(io.join(self.uri, ptr.dir), dst)
        for rel, want in ptr.files.items():
            p = dst / rel
            if not p.is_file() or sha256_file(p) != want:
                raise StorageError(
                    f"{io.join(self.uri, ptr.dir, rel)}: checkpoint file missing or corrupt (sha256 mismatch); "
                    f"delete {self.uri} to restart the tune from step 0"
                )
        return dst

    def publish(self, local_ckpt: Path, step: int) -> CheckpointPointer:
        """Upload one local Trainer checkpoint, then move the pointer to it, then prune older steps."""
        from edtune.student.checkpoint import sha256_file

        name = f"step-{step:06d}"
        for p in local_ckpt.rglob("*"):
            if p.name in NOT_UPLOADED:
                p.unlink()
        files = {
            p.relative_to(local_ckpt).as_posix(): sha256_file(p)
            for p in sorted(local_ckpt.rglob("*"))
            if p.is_file()
        }
        io.upload_dir(local_ckpt, io.join(self.uri, name))
        ptr = CheckpointPointer(
            step=step,
            dir=name,
            key=self.key,
            files=files,
            created_at=_dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        )
        io.write_json(io.join(self.uri, POINTER), ptr.model_dump(mode="json"))
        self._prune(keep=name)
        log.info(kv("tune checkpoint saved", step=step, uri=io.join(self.uri, name)))
        return ptr

    def _prune(self, keep: str) -> None:
        stale = sorted(
            {
                u[len(self.uri) + 1 :].split("/", 1)[0]
                for u in io.list_uris(self.uri)
                if u[len(self.uri) + 1 :].startswith("step-")
            }
            - {keep}
        )
        for d in stale:
            delete_prefix(io.join(self.uri, d))

    def clear(self) -> None:
        """Remove every checkpoint of this URI (the caller has kept the final adapter)."""
        delete_prefix(self.uri)


def delete_prefix(uri: str) -> None:
    """Delete every object under `uri` (a local directory or an S3 prefix); a missing prefix is fine."""
    u = io.parse(uri)
    if u.scheme == "file":
        shutil.rmtree(u.local, ignore_errors=True)
        return
    from edtune.io.storage import s3_client

    keys = [io.parse(x).path for x in io.list_uris(uri)]
    client = s3_client()
    for i in range(0, len(keys), 1000):
        client.delete_objects(Bucket=u.bucket, Delete={"Objects": [{"Key": k} for k in keys[i : i + 1000]]})


class PreemptGuard:
    """While active, SIGTERM (what Kubernetes sends before killing a pod) sets `requested` instead of killing.

    The Trainer callback checks it after every optimizer step, saves a checkpoint and stops; the caller then
    raises `TunePreempted`. A second SIGTERM while stopping is ignored (the grace period is the limit). Outside
    the main thread (where Python cannot install handlers) the guard is inert.
    """

    def __init__(self) -> None:
        self.requested = False
        self._prev: Any = None
        self._installed = False

    def _on_term(self, signum: int, frame: FrameType | None) -> None:
        if not self.requested:
            log.warning(kv("SIGTERM: saving a tune checkpoint at the end of this step, then stopping"))
        self.requested = True

    def __enter__(self) -> PreemptGuard:
        if threading.current_thread() is threading.main_thread():
            self._prev = signal.signal(signal.SIGTERM, self._on_term)
            self._installed = True
        return self

    def __exit__(self, *exc: object) -> None:
        if self._installed:
            signal.signal(signal.SIGTERM, self._prev)
            self._installed = False


@contextlib.contextmanager
def forward_sigterm(proc: Any) -> Iterator[None]:
    """While a launcher waits on a child (torchrun), pass SIGTERM on to it instead of dying first."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def _fwd(signum: int, frame: FrameType | None) -> None:
        with contextlib.suppress(ProcessLookupError):
            proc.send_signal(signal.SIGTERM)

    prev = signal.signal(signal.SIGTERM, _fwd)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, prev)
