"""Load and validate task and support files: every line, every field, every image, all problems at once."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Literal

from pydantic import BaseModel

from edtune.errors import InputError, Problem
from edtune.io import exists, resolve_relative
from edtune.io.images import load_image
from edtune.io.jsonl import MAX_PROBLEMS, iter_jsonl, scan_jsonl
from edtune.schemas import SupportSample, TaskSample

Kind = Literal["task", "support"]
DETECT_LINES = 100  # lines read to tell a task file from a support file


class ValidationSummary(BaseModel):
    path: str
    kind: Kind
    detected: bool = False  # the kind was read from the records, not given
    hint: str | None = None  # for an invalid file: what would fit instead (another --kind, an import command)
    valid: bool
    count: int
    distinct_images: int
    answer_types: dict[str, int]
    problems: list[str]
    truncated: int = 0


def answer_type(s: TaskSample) -> str:
    if s.choices:
        return "multiple-choice"
    try:
        float(s.answer)
        return "number"
    except ValueError:
        return "short-answer"


def _image_problem(ref: str | None, file_uri: str, lineno: int, check_images: bool) -> list[Problem]:
    """What is wrong with one image ref (messages name the resolved URI, never only the raw ref)."""
    if ref is None:
        return []
    try:
        uri = resolve_relative(ref, file_uri)
        if check_images:
            if not exists(uri):
                return [Problem(file_uri, lineno, "image", f"image not found: {uri}")]
            load_image(uri)
    except InputError as exc:
        return [Problem(file_uri, lineno, "image", str(exc))]
    return []


def _with_sample(p: Problem, sample_id: str) -> Problem:
    return Problem(p.where, p.line, p.field, f"sample {sample_id!r}: {p.message}")


def _first_objects(uri: str, limit: int) -> list[dict[str, object]]:
    """The first few JSON objects of a file (unparseable lines skipped): enough to recognise its format."""
    from edtune.io.storage import open_read

    out: list[dict[str, object]] = []
    with open_read(uri) as fh:
        head = fh.read(
            1 << 20
        )  # a line longer than this (an inline image) is not needed to recognise a format
    for i, raw in enumerate(head.split(b"\n")[:-1] if len(head) == 1 << 20 else head.split(b"\n")):
        if i >= limit or len(out) >= 5:
            break
        if not raw.strip():
            continue
        try:
            obj = json.loads(raw.decode("utf-8", "replace").lstrip("\ufeff"))
        except ValueError:
            continue
        if isinstance(obj, dict):
            out.append(obj)
    return out


def detect_kind(uri: str | Path) -> Kind | None:
    """`support` for LLaVA conversations, `task` for question/answer records, None if the records say neither."""
    for obj in _first_objects(str(uri), DETECT_LINES):
        if "conversations" in obj:
            return "support"
        if "question" in obj or "answer" in obj:
            return "task"
    return None


def _hint(uri: str, kind: Kind) -> str | None:
    """What would fit a file that failed as `kind`: the other kind, or the import command for its format."""
    name = uri.lower()
    if name.endswith(".tsv"):
        return (
            "a TSV is not JSONL: import an MMBench-style TSV with `edtune task import FILE --format mmbench`"
        )
    if name.endswith(".parquet"):
        return "a Parquet file is not JSONL: import it with `edtune pool import FILE --out DIR`"
    objs = _first_objects(uri, DETECT_LINES)
    if any("messages" in o for o in objs):
        return "records in `messages` format (ms-swift/TRL): convert them with `edtune pool import FILE --out DIR`"
    other: Kind = "support" if kind == "task" else "task"
    model: type[BaseModel] = SupportSample if other == "support" else TaskSample
    fits = 0
    for o in objs:
        try:
            model.model_validate(o)
            fits += 1
        except ValueError:
            pass
    if objs and fits == len(objs):
        return f"the records are {other} samples: run with --kind {other}"
    return None


def validate_file(
    uri: str | Path,
    kind: Kind | None = None,
    *,
    check_images: bool = True,
    max_problems: int = MAX_PROBLEMS,
) -> ValidationSummary:
    """Validate a task or support JSONL and summarise it; never raises for bad content (only for a missing file).

    Without `kind` the kind is read from the records (`detect_kind`; task if they say neither). An invalid file's
    summary carries a `hint` when another kind or an import command would fit.
    """
    file_uri = str(uri)
    detected = kind is None
    if kind is None:
        kind = detect_kind(file_uri) or "task"
    model: type[BaseModel] = TaskSample if kind == "task" else SupportSample
    problems: list[Problem] = []
    count = 0
    images: set[str] = set()
    types: dict[str, int] = {}
    checked: dict[str, list[Problem]] = {}

    def check(rec: BaseModel, lineno: int) -> list[Problem]:
        ref = getattr(rec, "image", None)
        if ref is None:
            return []
        if ref not in checked:  # each distinct image is opened once; every line using a bad one is reported
            checked[ref] = _image_problem(ref, file_uri, lineno, check_images)
        return [_with_sample(Problem(file_uri, lineno, p.field, p.message), rec.id) for p in checked[ref]]  # type: ignore[attr-defined]

    total = 0
    for _, rec, probs in scan_jsonl(file_uri, model, extra_check=check):
        total += len(probs)  # every problem is counted; only the first `max_problems` are kept (1M bad lines)
        problems.extend(probs[: max(0, max_problems - len(problems))])
        if rec is None:
            continue
        count += 1
        img = getattr(rec, "image", None)
        if img:
            images.add(img)
        if isinstance(rec, TaskSample):
            t = answer_type(rec)
            types[t] = types.get(t, 0) + 1
    return ValidationSummary(
        path=file_uri,
        kind=kind,
        detected=detected,
        hint=_hint(file_uri, kind) if total else None,
        valid=total == 0,
        count=count,
        distinct_images=len(images),
        answer_types=types,
        problems=[str(p) for p in problems],
        truncated=total - len(problems),
    )


def load_task(uri: str | Path, *, check_images: bool = True) -> list[TaskSample]:
    """Read a task split; image refs are resolved to absolute URIs; any problem raises one InputError."""
    summary = validate_file(uri, "task", check_images=check_images)
    if not summary.valid:
        raise InputError(
            f"{uri}: {len(summary.problems) + summary.truncated} problem(s)",
            [_PreformattedProblem(p) for p in summary.problems],
            truncated=summary.truncated,
        )
    out = []
    for s in iter_jsonl(uri, TaskSample):
        out.append(s.model_copy(update={"image": resolve_relative(s.image, str(uri))}))
    return out


def iter_support(uri: str | Path) -> Iterator[SupportSample]:
    """Stream a (possibly huge) support pool, resolving image refs; raises at the first bad line.

    The InputError names `PATH:LINE: field` for a bad record and for a bad image ref (e.g. a `..` escape).
    """
    for lineno, s, problems in scan_jsonl(uri, SupportSample):
        if problems:
            raise InputError(f"{uri}: invalid record", problems)
        assert s is not None
        if s.image:
            try:
                s = s.model_copy(update={"image": resolve_relative(s.image, str(uri))})
            except InputError as exc:
                raise InputError(
                    f"{uri}: invalid record", [Problem(str(uri), lineno, "image", f"sample {s.id!r}: {exc}")]
                ) from None
        yield s


class _PreformattedProblem(Problem):
    """A problem already rendered as `PATH:LINE: field: message` by `validate_file`."""

    def __init__(self, text: str) -> None:
        super().__init__(text, None, None, "")

    def __str__(self) -> str:
        return self.where
