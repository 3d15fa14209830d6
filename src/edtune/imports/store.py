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
import sqlite3
import tempfile
from collections import OrderedDict
from pathlib import Path
from typing import Any

from edtune.errors import InputError
from edtune.io import exists, join, read_bytes, resolve_relative, write_bytes
from edtune.io.images import decode_image

LRU_SIZE = 4096
_EXT = {"PNG": "png", "JPEG": "jpg", "WEBP": "webp", "GIF": "gif", "BMP": "bmp", "TIFF": "tif", "PPM": "ppm"}


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
    """Write each distinct image once under `<out>/images/`; `put` returns the ref relative to `<out>`."""

    def __init__(self, out: str, seen: SeenSet) -> None:
        self.out = out
        self.seen = seen
        self.written = 0
        self.reused = 0
        self._recent: OrderedDict[str, str] = OrderedDict()  # sha -> ref, bounded

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
        if self.seen.first("img\0" + sha, ref) is None:
            target = join(self.out, ref)
            if not exists(target):
                write_bytes(target, data)
                self.written += 1
            else:
                self.reused += 1
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
