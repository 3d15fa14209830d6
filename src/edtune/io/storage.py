"""Read and write bytes on local disk or S3 with one API; atomic writes; streaming for large objects.

S3 settings come from the usual AWS chain (env, profile, IRSA); `AWS_ENDPOINT_URL` points boto3 at MinIO or a
test server. Credentials are never logged.
"""

from __future__ import annotations

import contextlib
import glob
import hashlib
import json
import os
import posixpath
import shutil
import tempfile
from collections.abc import Iterable, Iterator
from functools import lru_cache
from pathlib import Path
from typing import IO, Any

from edtune.errors import InputError, StorageError
from edtune.io.uri import Uri, join, parse

_CHUNK = 8 * 1024 * 1024
_BODY_ATTEMPTS = 3  # reads of an S3 object body cut short are retried this many times in all
TMP_SUFFIX = ".edtune-tmp"  # in-flight atomic writes: `.<name>.<random>.edtune-tmp`, never listed


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _is_temp(p: Path) -> bool:
    return p.name.startswith(".") and p.name.endswith(TMP_SUFFIX)


def _sweep_leftovers_of(target: Path) -> None:
    """Remove the temp files earlier, killed writes of `target` left beside it (see `open_write`)."""
    for leftover in target.parent.glob(f".{glob.escape(target.name)}.*{TMP_SUFFIX}"):
        with contextlib.suppress(FileNotFoundError):
            leftover.unlink()


@lru_cache(maxsize=8)
def _s3_client(endpoint: str | None, timeout_s: float = 60.0) -> Any:
    import boto3
    from botocore.config import Config

    cfg = Config(
        retries={"max_attempts": 5, "mode": "standard"},
        connect_timeout=min(10.0, timeout_s),
        read_timeout=timeout_s,
    )
    return boto3.client("s3", endpoint_url=endpoint or None, config=cfg)


def s3_client() -> Any:
    """The boto3 S3 client for the current `AWS_ENDPOINT_URL` (cached per endpoint and timeout).

    `EDTUNE_S3_TIMEOUT_S` (default 60) bounds one socket read; a stalled store then costs at most 5 attempts of it.
    """
    try:
        timeout = float(os.environ.get("EDTUNE_S3_TIMEOUT_S", "60"))
    except ValueError:
        timeout = 60.0
    endpoint = os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL")
    return _s3_client(endpoint, timeout if timeout > 0 else 60.0)


def _s3_code(exc: BaseException) -> str:
    """The S3 error code of a botocore error; "" for errors without a response (ResponseStreamingError has
    `response = None`, which used to crash the mapping with AttributeError)."""
    response = getattr(exc, "response", None)
    if not isinstance(response, dict):
        return ""
    return str((response.get("Error") or {}).get("Code", ""))


def _s3_error(u: Uri, exc: Exception) -> Exception:
    if not u.path:
        return InputError(f"{u}: no object key (expected s3://bucket/key)")
    code = _s3_code(exc)
    if code in ("NoSuchKey", "404", "NotFound"):
        return InputError(f"{u}: object not found")
    if code == "NoSuchBucket":
        return InputError(f"{u}: bucket {u.bucket!r} does not exist")
    return StorageError(f"{u}: {type(exc).__name__}: {exc}")


def _local_error(u: Uri, exc: OSError) -> InputError:
    """Map an OS error on a local file to an InputError naming the path (no traceback needed)."""
    if isinstance(exc, FileNotFoundError):
        return InputError(f"{u}: file not found")
    if isinstance(exc, IsADirectoryError):
        return InputError(f"{u}: is a directory, expected a file")
    if isinstance(exc, PermissionError):
        return InputError(f"{u}: permission denied")
    return InputError(f"{u}: cannot read ({exc.strerror or type(exc).__name__})")


def read_bytes(uri: str | Path) -> bytes:
    u = parse(uri)
    if u.scheme == "file":
        try:
            return u.local.read_bytes()
        except OSError as exc:
            raise _local_error(u, exc) from None
    # botocore retries the request, not the reading of the body: a reply cut short or reset mid-body
    # (ResponseStreamingError / IncompleteReadError) is retried here, a bounded number of times
    from botocore.exceptions import IncompleteReadError, ResponseStreamingError

    for attempt in range(_BODY_ATTEMPTS):
        try:
            return s3_client().get_object(Bucket=u.bucket, Key=u.path)["Body"].read()
        except (ResponseStreamingError, IncompleteReadError) as exc:
            if attempt + 1 == _BODY_ATTEMPTS:
                raise _s3_error(u, exc) from exc
        except Exception as exc:
            raise _s3_error(u, exc) from exc
    raise AssertionError("unreachable")


def read_text(uri: str | Path) -> str:
    data = read_bytes(uri)
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InputError(f"{uri}: not valid UTF-8 (byte {exc.start})") from None


def read_json(uri: str | Path) -> Any:
    try:
        return json.loads(read_text(uri))
    except json.JSONDecodeError as exc:
        raise InputError(f"{uri}:{exc.lineno}: not valid JSON: {exc.msg}") from None


@contextlib.contextmanager
def open_read(uri: str | Path) -> Iterator[IO[bytes]]:
    """A binary stream over the object, without loading it whole (for large JSONL)."""
    u = parse(uri)
    if u.scheme == "file":
        try:  # only the open is mapped: errors raised by the caller's block pass through unchanged
            fh = open(u.local, "rb")  # noqa: SIM115
        except OSError as exc:
            raise _local_error(u, exc) from None
        with fh:
            yield fh
        return
    try:
        body = s3_client().get_object(Bucket=u.bucket, Key=u.path)["Body"]
    except Exception as exc:
        raise _s3_error(u, exc) from exc
    try:
        yield body
    finally:
        body.close()


@contextlib.contextmanager
def open_write(uri: str | Path) -> Iterator[IO[bytes]]:
    """Write a binary stream atomically: local temp file + fsync + rename; S3 upload only after success.

    If the block raises, nothing is published and the previous object (if any) stays intact. A writer killed
    between creating its temp file and the rename (SIGKILL, OOM) leaves `.<name>.<random>.edtune-tmp` behind; the
    next write of the same object removes those. Safe because every output of a run has one writer at a time (a
    stage owns its outputs; concurrent shards and restarts write to names of their own), and a sweep of whole
    directories would not be: shards write beside each other.
    """
    u = parse(uri)
    if u.scheme == "file":
        u.local.parent.mkdir(parents=True, exist_ok=True)
        _sweep_leftovers_of(u.local)
        fd, tmp = tempfile.mkstemp(prefix=f".{u.local.name}.", suffix=TMP_SUFFIX, dir=u.local.parent)
        try:
            with os.fdopen(fd, "wb") as fh:
                yield fh
                fh.flush()
                # mkstemp creates 0600; give the file the mode a plain open() would (0666 & ~umask)
                os.fchmod(fh.fileno(), 0o666 & ~_umask())
                os.fsync(fh.fileno())
            os.replace(tmp, u.local)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
            raise
        return
    with tempfile.TemporaryFile() as spool:
        yield spool  # type: ignore[misc]
        spool.seek(0)
        try:  # upload_fileobj switches to multipart for large bodies; the object appears only on completion
            s3_client().upload_fileobj(spool, u.bucket, u.path)
        except Exception as exc:
            raise _s3_error(u, exc) from exc


def write_bytes(uri: str | Path, data: bytes) -> None:
    u = parse(uri)
    if u.scheme == "s3":
        try:
            s3_client().put_object(Bucket=u.bucket, Key=u.path, Body=data)
        except Exception as exc:
            raise _s3_error(u, exc) from exc
        return
    with open_write(uri) as fh:
        fh.write(data)


def write_text(uri: str | Path, text: str) -> None:
    write_bytes(uri, text.encode("utf-8"))


def write_json(uri: str | Path, obj: Any) -> None:
    write_text(uri, json.dumps(obj, indent=2, sort_keys=True, default=str) + "\n")


def exists(uri: str | Path) -> bool:
    """Whether an object (a file) exists at `uri`.

    A directory is not an object, exactly as an S3 prefix is not: `exists` is False for both, so code that
    checks `exists(x)` behaves the same on disk and on S3 (use `list_uris` for directories/prefixes).
    """
    u = parse(uri)
    if u.scheme == "file":
        return u.local.is_file()
    try:
        s3_client().head_object(Bucket=u.bucket, Key=u.path)
        return True
    except Exception as exc:
        code = _s3_code(exc)
        if code in ("404", "NoSuchKey", "NotFound"):
            return False
        raise _s3_error(u, exc) from exc


def list_uris(prefix: str | Path) -> list[str]:
    """All objects (files) under a prefix (directory), recursively, sorted; S3 listings paginate.

    A prefix naming one file/object lists just that; a missing prefix lists nothing; in-flight temp files of
    `open_write` are never listed.
    """
    u = parse(prefix)
    if u.scheme == "file":
        root = u.local
        if root.is_file():
            return [str(root)]
        if not root.exists():
            return []
        return sorted(str(p) for p in root.rglob("*") if p.is_file() and not _is_temp(p))
    key_prefix = u.path.rstrip("/") + "/" if u.path else ""
    out: list[str] = []
    try:
        for page in s3_client().get_paginator("list_objects_v2").paginate(Bucket=u.bucket, Prefix=key_prefix):
            out.extend(f"s3://{u.bucket}/{obj['Key']}" for obj in page.get("Contents", []))
    except Exception as exc:
        raise _s3_error(u, exc) from exc
    if not out and u.path and not u.path.endswith("/") and exists(str(u)):
        return [str(u)]  # a single object, as for a local file
    return sorted(out)


def _relative(child: str, prefix: str) -> str:
    cu, pu = parse(child), parse(prefix)
    if cu.path == pu.path.rstrip("/") or (cu.scheme == "file" and Path(cu.path) == Path(pu.path)):
        return posixpath.basename(cu.path)  # the prefix is a single file: copy it under its own name
    if cu.scheme == "file":
        return Path(cu.path).relative_to(Path(pu.path)).as_posix()
    return cu.path[len(pu.path.rstrip("/")) + 1 :] if pu.path else cu.path


def copy_dir(src: str | Path, dst: str | Path) -> list[str]:
    """Copy every file under `src` to `dst` (any scheme to any scheme); returns relative paths copied."""
    rels: list[str] = []
    for child in list_uris(src):
        rel = _relative(child, str(src))
        su, du = parse(child), parse(join(str(dst), rel))
        if su.scheme == "file" and du.scheme == "file":
            with open(su.local, "rb") as fin, open_write(du.local) as fout:
                shutil.copyfileobj(fin, fout, _CHUNK)
        elif su.scheme == "file":
            try:
                s3_client().upload_file(str(su.local), du.bucket, du.path)
            except Exception as exc:
                raise _s3_error(du, exc) from exc
        else:
            with open_read(child) as fin, open_write(str(du)) as fout:
                shutil.copyfileobj(fin, fout, _CHUNK)
        rels.append(rel)
    return rels


def upload_dir(local_dir: str | Path, dst: str) -> list[str]:
    return copy_dir(str(local_dir), dst)


def download_dir(src: str, local_dir: str | Path) -> list[str]:
    return copy_dir(src, str(local_dir))


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def sha256_uri(uri: str | Path) -> str:
    h = hashlib.sha256()
    with open_read(uri) as fh:
        for chunk in iter(lambda: fh.read(_CHUNK), b""):
            h.update(chunk)
    return h.hexdigest()


def sha256_text_lines(lines: Iterable[str]) -> str:
    h = hashlib.sha256()
    for line in lines:
        h.update(line.encode())
    return h.hexdigest()
