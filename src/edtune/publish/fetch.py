"""Download a published version into a local directory, verified, all at once or not at all.

What the serving initContainer runs: TGI and vLLM read adapters from a local path only, and serve whatever is
there. So the download goes into a hidden sibling directory, every file is re-hashed against the stored manifest,
the manifest is written, and only then is the directory renamed into place (an atomic exchange where the kernel
offers one). On any failure the destination is exactly what it was: a good earlier version stays servable.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import logging
import os
import shutil
import tempfile
import time
from pathlib import Path

from edtune.errors import InputError
from edtune.io import join, sha256_bytes
from edtune.publish.errors import CORRUPT, VersionError, credential_hints
from edtune.publish.layout import MANIFEST_NAME, latest_uri, version_uri
from edtune.publish.pointer import LatestPointer
from edtune.publish.registry import _copy_file, read_latest
from edtune.publish.verify import as_problem, file_problems, stored_manifest

log = logging.getLogger(__name__)

TMP_MARK = ".edtune-sync"
_STALE_S = 3600.0  # a sync temp dir untouched this long belongs to a killed sync
_RENAME_EXCHANGE = 2


def _exchange(a: Path, b: Path) -> bool:
    """Swap two paths atomically (Linux renameat2 RENAME_EXCHANGE); False where unsupported."""
    name = ctypes.util.find_library("c")
    if not name:
        return False
    try:
        libc = ctypes.CDLL(name, use_errno=True)
        fn = libc.renameat2
    except (OSError, AttributeError):
        return False
    at_fdcwd = -100
    rc = fn(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), _RENAME_EXCHANGE)
    return rc == 0


def _sweep_stale(dest: Path) -> None:
    for p in dest.parent.glob(f".{dest.name}.*{TMP_MARK}"):
        with contextlib.suppress(OSError):
            if time.time() - p.stat().st_mtime > _STALE_S:
                shutil.rmtree(p, ignore_errors=True)


def _replace_dir(tmp: Path, dest: Path) -> None:
    """Put `tmp` at `dest`. With an existing `dest`: exchange atomically, else two renames (the old copy is
    moved aside first and restored if the second rename fails)."""
    if not dest.exists():
        os.replace(tmp, dest)
        return
    if dest.is_symlink() or not dest.is_dir():
        raise InputError(f"{dest}: exists and is not a directory; refusing to replace it")
    if _exchange(tmp, dest):
        shutil.rmtree(tmp, ignore_errors=True)  # now holds the old copy
        return
    old = dest.with_name(f".{dest.name}.old-{os.getpid()}{TMP_MARK}")
    os.replace(dest, old)
    try:
        os.replace(tmp, dest)
    except BaseException:
        os.replace(old, dest)
        raise
    shutil.rmtree(old, ignore_errors=True)


def _pinned(registry: str, task: str, version: str) -> LatestPointer:
    vuri = version_uri(registry, task, version)
    manifest, raw = stored_manifest(vuri, task, version)
    return LatestPointer(
        task=task,
        version=version,
        uri=vuri,
        manifest_sha256=sha256_bytes(raw),
        run_id=manifest.run_id or version.rsplit("-", 1)[0],
        files=len(manifest.files),
    )


@credential_hints()
def sync(registry: str, task: str, dest: str | Path, version: str | None = None) -> LatestPointer:
    """Download a version (default: the one `latest.json` names) into `dest`, verified; `dest` untouched on failure.

    Raises InputError when nothing is published, VersionError (exit 1, every bad file in `problems`) when the
    version is incomplete, damaged, or not what the pointer promised.
    """
    if version:
        pointer = _pinned(registry, task, version)
    else:
        latest = read_latest(registry, task)
        if latest is None:
            raise InputError(f"{latest_uri(registry, task)}: nothing published for task {task!r}")
        pointer = latest
    manifest, raw = stored_manifest(pointer.uri, task, pointer.version)
    if sha256_bytes(raw) != pointer.manifest_sha256:
        raise VersionError(
            f"{pointer.uri}: {task} {pointer.version}: CORRUPT (the stored manifest is not the one published)",
            CORRUPT,
            [
                as_problem(
                    f"{join(pointer.uri, MANIFEST_NAME)}: sha256 differs from latest.json's manifest_sha256"
                )
            ],
        )
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    _sweep_stale(dest)
    tmp = Path(tempfile.mkdtemp(prefix=f".{dest.name}.", suffix=TMP_MARK, dir=dest.parent))
    try:
        missing: list[str] = []
        for rel in sorted(manifest.files):
            try:
                _copy_file(join(pointer.uri, rel), str(tmp / rel))
            except InputError:  # object not found: the version lost a file
                missing.append(f"{join(pointer.uri, rel)}: missing (listed in {MANIFEST_NAME})")
        got = {rel: digest for rel, digest in manifest.files.items() if (tmp / rel).is_file()}
        problems = missing + [p.replace(str(tmp), pointer.uri, 1) for p in file_problems(str(tmp), got)]
        if problems:
            raise VersionError(
                f"{pointer.uri}: {task} {pointer.version}: CORRUPT: the downloaded files do not match the "
                f"manifest; {dest} was left as it was",
                CORRUPT,
                [as_problem(p) for p in sorted(problems)],
            )
        (tmp / MANIFEST_NAME).write_bytes(raw)
        os.chmod(tmp, 0o755)  # mkdtemp makes 0700; the server may run as another user of the group
        _replace_dir(tmp, dest)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    log.info("registry.synced task=%s version=%s dest=%s", task, pointer.version, dest)
    return pointer
