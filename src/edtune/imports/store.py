"""Where imported records land: a content-addressed image store and a disk-backed "seen" set.

Images are stored once per content hash (`images/ab/<sha256>.<ext>`), so the same picture referenced by a
thousand records — LLaVA-665K asks many questions about one COCO image — is written once, and a rerun finds
every image already there (idempotent). The seen set (ids and record contents) lives in a temporary SQLite
file, not in a Python set: 1M ids would cost ~100 MB of RSS; on disk the import's memory stays flat.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
import sqlite3
import tempfile
from collections import OrderedDict
from pathlib import Path
from typing import Any

from edtune.errors import InputError
from edtune.io import exists, join, parse, read_bytes, resolve_relative, write_bytes
from edtune.io.images import decode_image

LRU_SIZE = 4096
_EXT = {"PNG": "png", "JPEG": "jpg", "WEBP": "webp", "GIF": "gif", "BMP": "bmp", "TIFF": "tif", "PPM": "ppm"}


def check_out(out: str) -> None:
    """`--out` names a folder (pool.jsonl, images/ and the reports go inside it), never the JSONL itself."""
    if out.rstrip("/").lower().endswith((".jsonl", ".json")):
        raise InputError(f"--out {out}: give a folder; the pool is written to FOLDER/pool.jsonl")


class Refused(Exception):
    """One record cannot be imported: the field and what is wrong, for `PATH:LINE: field: message`."""

    def __init__(self, field: str | None, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


class SeenSet:
    """First-seen lookups on disk: `first(key, where)` returns None the first time, then the first `where`."""

    def __init__(self) -> None:
        self._dir = tempfile.TemporaryDirectory(prefix="edtune-seen-")
        self._db = sqlite3.connect(str(Path(self._dir.name) / "seen.db"))
        for pragma in ("journal_mode=OFF", "synchronous=OFF", "cache_size=-8192", "temp_store=FILE"):
            self._db.execute(f"PRAGMA {pragma}")
        self._db.execute("CREATE TABLE seen (k BLOB PRIMARY KEY, v TEXT) WITHOUT ROWID")
        self._pending = 0

    def first(self, key: str, where: str) -> str | None:
        k = hashlib.blake2b(key.encode("utf-8", "surrogatepass"), digest_size=16).digest()
        cur = self._db.execute("INSERT OR IGNORE INTO seen VALUES (?, ?)", (k, where))
        self._pending += 1
        if self._pending >= 50_000:
            self._db.commit()
            self._pending = 0
        if cur.rowcount == 1:
            return None
        row = self._db.execute("SELECT v FROM seen WHERE k = ?", (k,)).fetchone()
        return str(row[0])

    def close(self) -> None:
        self._db.close()
        self._dir.cleanup()


def image_bytes(value: Any, field: str, root: str) -> bytes:
    """The bytes of an image as records name it: a path (relative to `root`), a data: URI, raw bytes, base64,
    or a Hugging Face `Image` struct `{"bytes": ..., "path": ...}`."""
    if isinstance(value, dict):
        if value.get("bytes"):
            return image_bytes(value["bytes"], field, root)
        if value.get("path"):
            return image_bytes(value["path"], field, root)
        raise Refused(field, "an image struct with neither 'bytes' nor 'path'")
    if isinstance(value, bytes | bytearray):
        return bytes(value)
    if not isinstance(value, str):
        raise Refused(field, f"expected an image path, URI or bytes, got {type(value).__name__}")
    if not value.strip():
        raise Refused(field, "empty image reference")
    if value.startswith("data:"):
        return decode_base64(value.partition(",")[2], field)
    try:
        uri = resolve_relative(value, join(root, "_"))
        if not exists(uri):
            raise Refused(field, f"image not found: {uri}")
        return read_bytes(uri)
    except InputError as exc:
        raise Refused(field, str(exc).splitlines()[0]) from None


def decode_base64(text: str, field: str) -> bytes:
    try:
        data = base64.b64decode("".join(text.split()), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise Refused(field, f"not valid base64 ({exc})") from None
    if not data:
        raise Refused(field, "empty base64 image")
    return data


class ImageStore:
    """Write each distinct image once under `<out>/images/`; `put` returns the ref relative to `<out>`.

    Local images are written to a temp file and renamed (atomic for readers) without one fsync each — on a pool
    of 600K images that would cost hours; `close()` syncs once, before the caller renames pool.jsonl into place,
    so a pool file never names an image that is not on disk. A rerun rewrites an image whose size is wrong
    (a crash between rename and sync). On S3 each image is one PUT (atomic by itself).
    """

    def __init__(self, out: str, seen: SeenSet) -> None:
        self.out = out
        self.seen = seen
        self.written = 0
        self.reused = 0
        self._recent: OrderedDict[str, str] = OrderedDict()  # sha -> ref, bounded
        self._paths: OrderedDict[tuple[str, str], tuple[str, str]] = (
            OrderedDict()
        )  # (root, path) -> (ref, sha)
        u = parse(out)
        self._local = str(u.local) if u.scheme == "file" else None

    def put_value(self, value: Any, field: str, root: str) -> tuple[str, str]:
        """`put` for an image as a record names it; a path seen recently is not read or hashed again
        (LLaVA-665K names one COCO file in many records)."""
        key = (root, value) if isinstance(value, str) and not value.startswith("data:") else None
        if key is not None and (hit := self._paths.get(key)) is not None:
            self._paths.move_to_end(key)
            self.reused += 1
            return hit
        ref_sha = self.put(image_bytes(value, field, root), field)
        if key is not None:
            self._paths[key] = ref_sha
            if len(self._paths) > LRU_SIZE:
                self._paths.popitem(last=False)
        return ref_sha

    def _write(self, ref: str, data: bytes) -> bool:
        """Write one image unless it is already there whole; True if written."""
        if self._local is None:
            target = join(self.out, ref)
            if exists(target):
                return False
            write_bytes(target, data)
            return True
        target = os.path.join(self._local, ref)
        try:
            if os.stat(target).st_size == len(data):
                return False
        except FileNotFoundError:
            pass
        os.makedirs(os.path.dirname(target), exist_ok=True)
        tmp = f"{target}.{os.getpid()}.tmp"
        with open(tmp, "wb") as fh:
            fh.write(data)
        os.replace(tmp, target)
        return True

    def close(self) -> None:
        """Make every image written so far durable (one sync for all of them)."""
        if self._local is not None and self.written:
            os.sync()

    def put(self, data: bytes, field: str) -> tuple[str, str]:
        """(ref, sha256) of the stored image; refuses bytes that are not a readable image."""
        sha = hashlib.sha256(data).hexdigest()
        if (ref := self._recent.get(sha)) is not None:
            self._recent.move_to_end(sha)
            self.reused += 1
            return ref, sha
        try:
            decode_image(
                data, field
            )  # the whole image, once per distinct image: truncated data is refused here
        except InputError as exc:
            raise Refused(field, str(exc).split(": ", 1)[-1]) from None
        ref = f"images/{sha[:2]}/{sha}.{_format_ext(data)}"
        if self.seen.first("img\0" + sha, ref) is None and self._write(ref, data):
            self.written += 1
        else:
            self.reused += 1
        self._recent[sha] = ref
        if len(self._recent) > LRU_SIZE:
            self._recent.popitem(last=False)
        return ref, sha


def _format_ext(data: bytes) -> str:
    import io

    from PIL import Image

    with Image.open(io.BytesIO(data)) as probe:
        return _EXT.get(probe.format or "", "png")
