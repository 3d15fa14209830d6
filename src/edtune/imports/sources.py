"""Stream raw records out of the files people hold, one at a time, each with where it came from.

Containers (not formats): JSONL, a JSON array (LLaVA-665K ships one ~1 GB array), Parquet (Hugging Face exports)
and TSV (MMBench). Nothing reads a whole file: JSONL goes line by line, a JSON array is decoded object by object
from a sliding buffer, Parquet batch by batch, TSV row by row. A record that cannot be read (not UTF-8, not
JSON, not an object) comes back as a `Problem` naming file and line (or row), so the caller can refuse it by
name and go on — except inside a JSON array, where a syntax error leaves no way to find the next object.
"""

from __future__ import annotations

import codecs
import csv
import json
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from edtune.errors import InputError, Problem
from edtune.io import parse
from edtune.io.storage import open_read

CHUNK = 1 << 20
MAX_RECORD_CHARS = (
    256 << 20
)  # one JSON-array element larger than this is refused (a broken array, not a record)


@dataclass(frozen=True)
class Raw:
    """One record as read: `obj` (a dict) or `problem`, never both."""

    where: str  # "PATH:LINE" or "PATH:row N"
    obj: dict[str, Any] | None = None
    problem: Problem | None = None


def _where(path: str, line: int | None = None, row: int | None = None) -> str:
    return f"{path}:{line}" if line is not None else f"{path}:row {row}"


def _bad(where: str, message: str, field: str | None = None) -> Raw:
    return Raw(where, problem=Problem(where, None, field, message))


def _has_surrogate(obj: Any) -> bool:
    """True if a string inside `obj` carries an undecodable byte (decoded with surrogateescape)."""
    if isinstance(obj, str):
        return any("\udc80" <= ch <= "\udcff" for ch in obj)
    if isinstance(obj, dict):
        return any(_has_surrogate(k) or _has_surrogate(v) for k, v in obj.items())
    if isinstance(obj, list):
        return any(_has_surrogate(v) for v in obj)
    return False


def iter_jsonl(path: str) -> Iterator[Raw]:
    with open_read(path) as fh:
        lineno, pending = 0, b""
        for chunk in iter(lambda: fh.read(CHUNK), b""):
            pending += chunk
            *lines, pending = pending.split(b"\n")
            for raw in lines:
                lineno += 1
                if r := _jsonl_line(path, lineno, raw):
                    yield r
        if pending and (r := _jsonl_line(path, lineno + 1, pending)):
            yield r


def _jsonl_line(path: str, lineno: int, raw: bytes) -> Raw | None:
    where = _where(path, lineno)
    if lineno == 1 and raw.startswith(codecs.BOM_UTF8):
        raw = raw[3:]
    raw = raw.rstrip(b"\r")
    if not raw.strip():
        return None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        return _bad(where, f"invalid UTF-8 at byte {exc.start}")
    try:
        obj = json.loads(text)
    except json.JSONDecodeError as exc:
        return _bad(where, f"not valid JSON: {exc.msg}")
    if not isinstance(obj, dict):
        return _bad(where, f"expected a JSON object, got {type(obj).__name__}")
    return Raw(where, obj=obj)


def iter_json_array(path: str) -> Iterator[Raw]:
    """Elements of a top-level JSON array, decoded one at a time (`raw_decode` on a sliding buffer)."""
    decoder = json.JSONDecoder()
    utf8 = codecs.getincrementaldecoder("utf-8")(errors="surrogateescape")
    with open_read(path) as fh:
        buf, pos, line, eof, started = "", 0, 1, False, False

        def more() -> bool:
            nonlocal buf, pos, eof
            chunk = fh.read(CHUNK)
            if not chunk:
                eof = True
                buf = buf[pos:] + utf8.decode(b"", final=True)
            else:
                buf = buf[pos:] + utf8.decode(chunk)
            pos = 0
            return bool(chunk)

        while True:
            while True:  # skip separators, reading more until a token or the end of the file
                while pos < len(buf) and buf[pos] in " \t\r\n,":
                    line += buf[pos] == "\n"
                    pos += 1
                if pos < len(buf) or eof:
                    break
                more()
            if pos >= len(buf):
                if not started:
                    raise InputError(f"{path}: empty file, expected a JSON array")
                yield _bad(_where(path, line), "the JSON array is not closed (truncated file?)")
                return
            if not started:
                if buf[pos] != "[":
                    raise InputError(f"{_where(path, line)}: expected a JSON array ('['), got {buf[pos]!r}")
                started, pos = True, pos + 1
                continue
            if buf[pos] == "]":
                return
            try:
                obj, end = decoder.raw_decode(buf, pos)
            except json.JSONDecodeError as exc:
                if not eof and len(buf) - pos < MAX_RECORD_CHARS:
                    more()
                    continue
                at = line + buf.count("\n", pos, exc.pos)
                msg = f"not valid JSON: {exc.msg}; the rest of the array cannot be read (no next element to find)"
                yield _bad(_where(path, at), msg)
                return
            where = _where(path, line)
            line += buf.count("\n", pos, end)
            pos = end
            if _has_surrogate(obj):
                yield _bad(where, "invalid UTF-8 inside this element")
            elif not isinstance(obj, dict):
                yield _bad(where, f"expected a JSON object, got {type(obj).__name__}")
            else:
                yield Raw(where, obj=obj)


def iter_parquet(path: str, batch_rows: int = 64) -> Iterator[Raw]:
    """Rows of a Parquet file as dicts, one record batch in memory at a time (image bytes included)."""
    import pyarrow.parquet as pq

    u = parse(path)
    try:
        if u.scheme == "file":
            pf = pq.ParquetFile(str(u.local))
        else:  # small-ish exports from S3: pyarrow needs a seekable file, so read it into a local temp file
            import tempfile

            tmp = tempfile.TemporaryFile()  # noqa: SIM115 (closed with the ParquetFile, at the end of the read)
            with open_read(path) as fh:
                for chunk in iter(lambda: fh.read(CHUNK), b""):
                    tmp.write(chunk)
            tmp.seek(0)
            pf = pq.ParquetFile(tmp)
    except (OSError, ValueError) as exc:  # pyarrow.ArrowInvalid is a ValueError
        raise InputError(f"{path}: not a readable Parquet file ({exc})") from None
    row = 0
    for batch in pf.iter_batches(batch_size=batch_rows):
        for obj in batch.to_pylist():
            row += 1
            yield Raw(_where(path, row=row), obj=obj)


def iter_tsv(path: str) -> Iterator[Raw]:
    """Rows of a TSV with a header line as dicts (MMBench: base64 images make fields of megabytes)."""
    csv.field_size_limit(min(sys.maxsize, 1 << 30))
    with open_read(path) as fh:
        text = codecs.getreader("utf-8")(fh, "surrogateescape")
        reader = csv.reader(text, delimiter="\t", quoting=csv.QUOTE_NONE)
        header = next(reader, None)
        if header is None:
            raise InputError(f"{path}: empty file, expected a header line")
        header = [h.strip().lstrip("\ufeff") for h in header]
        start = reader.line_num + 1
        for fields in reader:
            where = _where(path, start)
            start = reader.line_num + 1
            if not any(f.strip() for f in fields):
                continue
            if _has_surrogate(fields):
                yield _bad(where, "invalid UTF-8 in this row")
            elif len(fields) != len(header):
                yield _bad(where, f"{len(fields)} fields, the header has {len(header)}")
            else:
                yield Raw(where, obj=dict(zip(header, fields, strict=True)))


def container_of(path: str) -> str:
    """jsonl | json | parquet | tsv, from the extension (a `.json` file may still hold JSONL: see `iter_any`)."""
    name = path.lower().removesuffix("/")
    for ext in ("jsonl", "json", "parquet", "tsv"):
        if name.endswith("." + ext):
            return ext
    raise InputError(f"{path}: unknown file type (expected .jsonl, .json, .parquet or .tsv)")


def check_source(path: str) -> None:
    """Refuse, before anything is written, a source that cannot be read at all: a missing file, an unknown
    extension, a `.json` that is neither an array nor JSONL, a Parquet file without a readable footer."""
    from edtune.io import exists

    kind = container_of(path)
    if not exists(path):
        raise InputError(f"{path}: no such file")
    if kind == "json":
        with open_read(path) as fh:
            head = fh.read(4096).lstrip(codecs.BOM_UTF8).lstrip()
        if head and head[:1] not in (b"[", b"{"):
            raise InputError(f"{path}: neither a JSON array nor JSON lines (starts with {head[:20]!r})")
    elif kind == "parquet" and parse(path).scheme == "file":
        import pyarrow.parquet as pq

        try:
            pq.read_metadata(str(parse(path).local))
        except (OSError, ValueError) as exc:
            raise InputError(f"{path}: not a readable Parquet file ({exc})") from None


def iter_any(path: str) -> Iterator[Raw]:
    kind = container_of(path)
    if kind == "json":
        with open_read(path) as fh:
            head = fh.read(4096).lstrip(codecs.BOM_UTF8).lstrip()
        yield from (iter_json_array(path) if head.startswith(b"[") else iter_jsonl(path))
    elif kind == "jsonl":
        yield from iter_jsonl(path)
    elif kind == "parquet":
        yield from iter_parquet(path)
    else:
        yield from iter_tsv(path)
