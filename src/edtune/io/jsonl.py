"""Streaming JSONL with validation that reports every bad line as `PATH:LINE: field: problem`.

A 1M-line file is never held in memory by `iter_jsonl`; `read_jsonl` materialises the list and is for files
that fit (task splits, selections). Duplicate `id`s are a problem too, because every stage keys on them.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from edtune.errors import InputError, Problem
from edtune.io.storage import open_read, open_write, parse

M = TypeVar("M", bound=BaseModel)
MAX_PROBLEMS = 50


def _field(loc: tuple[Any, ...]) -> str:
    return ".".join(str(p) for p in loc) or "(record)"


def _iter_lines(uri: str | Path) -> Iterator[tuple[int, bytes, bool]]:
    """(line number, raw line without EOL, had_newline)."""
    with open_read(uri) as fh:
        lineno = 0
        pending = b""
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            pending += chunk
            *lines, pending = pending.split(b"\n")
            for raw in lines:
                lineno += 1
                yield lineno, raw, True
        if pending:
            yield lineno + 1, pending, False


def scan_jsonl(
    uri: str | Path,
    model: type[M],
    *,
    id_field: str | None = "id",
    extra_check: Callable[[M, int], Iterable[Problem]] | None = None,
    max_problems: int = MAX_PROBLEMS,
) -> Iterator[tuple[int, M | None, list[Problem]]]:
    """Yield (line, record or None, problems) for every non-blank line; the core of read and validate."""
    where = str(uri)
    seen: dict[str, int] = {}
    any_line = False
    for lineno, raw, had_newline in _iter_lines(uri):
        if lineno == 1 and raw.startswith(b"\xef\xbb\xbf"):
            raw = raw[3:]
        raw = raw.rstrip(b"\r")
        if not raw.strip():
            continue
        any_line = True
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            yield lineno, None, [Problem(where, lineno, None, f"invalid UTF-8 at byte {exc.start}")]
            continue
        try:
            obj = json.loads(text)
        except json.JSONDecodeError as exc:
            hint = " (truncated last line?)" if not had_newline else ""
            yield lineno, None, [Problem(where, lineno, None, f"not valid JSON: {exc.msg}{hint}")]
            continue
        if not isinstance(obj, dict):
            yield (
                lineno,
                None,
                [Problem(where, lineno, None, f"expected a JSON object, got {type(obj).__name__}")],
            )
            continue
        problems: list[Problem] = []
        # the id is checked for duplicates even when the rest of the record is invalid: all problems at once
        raw_id = obj.get(id_field) if id_field else None
        if isinstance(raw_id, str) and raw_id:
            if raw_id in seen:
                problems.append(
                    Problem(
                        where, lineno, id_field, f"duplicate id {raw_id!r} (first on line {seen[raw_id]})"
                    )
                )
            else:
                seen[raw_id] = lineno
        try:
            rec = model.model_validate(obj)
        except ValidationError as exc:
            probs = [Problem(where, lineno, _field(e["loc"]), e["msg"]) for e in exc.errors()[:max_problems]]
            yield lineno, None, probs + problems
            continue
        if id_field and not (isinstance(raw_id, str) and raw_id):  # an id given under an alias or coerced
            key = str(getattr(rec, id_field))
            if key in seen:
                problems.append(
                    Problem(where, lineno, id_field, f"duplicate id {key!r} (first on line {seen[key]})")
                )
            else:
                seen[key] = lineno
        if extra_check:
            problems.extend(extra_check(rec, lineno))
        yield lineno, (None if problems else rec), problems
    if not any_line:
        yield 0, None, [Problem(where, None, None, "file is empty (no JSON lines)")]


def iter_jsonl(uri: str | Path, model: type[M], **kw: Any) -> Iterator[M]:
    """Stream validated records; raise InputError at the first bad line (use for large pools)."""
    for _, rec, problems in scan_jsonl(uri, model, **kw):
        if problems:
            raise InputError(f"{uri}: invalid record", problems)
        assert rec is not None
        yield rec


def read_jsonl(uri: str | Path, model: type[M], *, max_problems: int = MAX_PROBLEMS, **kw: Any) -> list[M]:
    """Read and validate a whole file; raise one InputError listing every problem (up to a cap)."""
    records: list[M] = []
    problems: list[Problem] = []
    for _, rec, probs in scan_jsonl(uri, model, max_problems=max_problems, **kw):
        problems.extend(probs)
        if rec is not None:
            records.append(rec)
    if problems:
        shown = problems[:max_problems]
        raise InputError(f"{uri}: {len(problems)} problem(s)", shown, truncated=len(problems) - len(shown))
    return records


def _dump(rec: BaseModel | dict[str, Any]) -> str:
    if isinstance(rec, BaseModel):
        return json.dumps(rec.model_dump(mode="json"), ensure_ascii=False, sort_keys=False)
    return json.dumps(rec, ensure_ascii=False, default=str)


def write_jsonl(uri: str | Path, records: Iterable[BaseModel | dict[str, Any]]) -> int:
    """Write atomically, streaming (records may be a generator). Returns the count written."""
    n = 0
    with open_write(uri) as fh:
        for rec in records:
            fh.write((_dump(rec) + "\n").encode("utf-8"))
            n += 1
    return n


def append_jsonl(path: str | Path, records: Iterable[BaseModel | dict[str, Any]]) -> None:
    """Append to a *local* journal file, flushed per call, so a kill loses at most the line in flight.

    Readers of a journal must tolerate a torn last line (see `read_journal`).
    """
    u = parse(path)
    u.local.parent.mkdir(parents=True, exist_ok=True)
    with open(u.local, "a", encoding="utf-8") as fh:
        for rec in records:
            fh.write(_dump(rec) + "\n")
        fh.flush()


def read_journal(path: str | Path, model: type[M]) -> list[M]:
    """Read a local append-only journal, ignoring a torn (unterminated or invalid) last line.

    Only the last line can be torn by a kill (`append_jsonl` writes whole lines); an invalid line anywhere
    else is corruption, and is reported as an InputError (`PATH:LINE`) rather than silently dropped.
    Blank lines are skipped.
    """
    p = Path(parse(path).path)
    if not p.exists():
        return []
    lines = p.read_bytes().split(b"\n")
    last = max((i for i, raw in enumerate(lines) if raw.strip()), default=-1)
    out: list[M] = []
    problems: list[Problem] = []
    for i, raw in enumerate(lines):
        if not raw.strip():
            continue
        try:
            out.append(model.model_validate_json(raw))
        except (ValidationError, ValueError) as exc:
            if i == last:
                continue  # a torn tail: the record in flight when the writer died
            problems.append(
                Problem(str(path), i + 1, None, f"corrupt journal line: {str(exc).splitlines()[0]}")
            )
    if problems:
        raise InputError(f"{path}: {len(problems)} corrupt line(s) before the end", problems[:MAX_PROBLEMS])
    return out
