"""Load and validate task and support files: every line, every field, every image, all problems at once."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Literal

from pydantic import BaseModel

from edtune.errors import InputError, Problem
from edtune.io import exists, resolve_relative
from edtune.io.images import load_image
from edtune.io.jsonl import MAX_PROBLEMS, iter_jsonl, scan_jsonl
from edtune.schemas import SupportSample, TaskSample


class ValidationSummary(BaseModel):
    path: str
    kind: Literal["task", "support"]
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


def validate_file(
    uri: str | Path,
    kind: Literal["task", "support"],
    *,
    check_images: bool = True,
    max_problems: int = MAX_PROBLEMS,
) -> ValidationSummary:
    """Validate a task or support JSONL and summarise it; never raises for bad content (only for a missing file)."""
    file_uri = str(uri)
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
