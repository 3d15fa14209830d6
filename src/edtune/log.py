"""Logging with key=value context on stderr, so stdout stays free for `--json` results.

Three levels of detail, because a user running `edtune demo` wants progress, not a request log:
- default (CLI, verbosity 0): progress bars plus one line per finished stage (`edtune.progress`), warnings and
  errors from edtune; library loggers (httpx, kfp, faiss, milvus-lite, grpc, transformers) only at ERROR, and a
  warning repeated for many samples is shown three times and then counted (`RepeatFilter`);
- `-v`: edtune's INFO key=value lines with timestamps, library warnings, every repeat;
- `-vv` / `--debug` / `--log-level debug`: everything, per-request library lines included.
KFP components call `setup()` with its INFO default: in a pod, the full log is what an operator reads.
"""

from __future__ import annotations

import atexit
import contextlib
import logging
import os
import sys
import threading
import warnings
from collections.abc import Iterator
from typing import Any

PROGRESS = "edtune.progress"
PROGRESS_MARK = "▸ "  # starts every progress line, so a task log can be condensed to them (edtune.tasklog)
_LIBRARIES = (
    "httpx",
    "httpx2",
    "httpcore",
    "urllib3",
    "botocore",
    "boto3",
    "filelock",
    "werkzeug",
    "kfp",
    "grpc",
    "faiss",
    "milvus_lite",
    "pymilvus",
    "transformers",
    "peft",
    "huggingface_hub",
    "sentence_transformers",
    "py.warnings",
)


class RepeatFilter(logging.Filter):
    """Let the first `limit` records of one event (first word of the message) through per logger, then count.

    Why: a diagnose warning per undiagnosed sample is right in a pod log but buries the progress of a demo run
    (a noisy teacher leaves dozens); `summary()` reports what was held back, and `-v` turns the filter off.
    """

    def __init__(self, limit: int = 3) -> None:
        super().__init__()
        self.limit = limit
        self.seen: dict[tuple[str, str], int] = {}
        self._lock = threading.Lock()

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno >= logging.ERROR or record.name == PROGRESS:
            return True
        key = (record.name, str(record.msg).split(" ", 1)[0])
        with self._lock:
            n = self.seen[key] = self.seen.get(key, 0) + 1
        return n <= self.limit

    def summary(self) -> list[str]:
        return [
            f"{n - self.limit} more '{event}' from {name} (see -v)"
            for (name, event), n in self.seen.items()
            if n > self.limit
        ]


class _ProgressFormatter(logging.Formatter):
    """Progress lines bare; everything else `HH:MM:SS LEVEL name message`."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s %(message)s", "%H:%M:%S")

    def format(self, record: logging.LogRecord) -> str:
        if record.name == PROGRESS:
            return record.getMessage()
        return super().format(record)


def level_for(
    verbosity: int, log_level: str | None = None, *, debug: bool = False, quiet: bool = False
) -> int:
    """The root level the CLI flags ask for (`--log-level` wins, then --debug, --quiet, -v count)."""
    if log_level:
        level = logging.getLevelName(log_level.upper())
        if not isinstance(level, int):
            from edtune.errors import InputError

            raise InputError(f"--log-level {log_level!r}: expected debug, info, warning or error")
        return level
    if debug or verbosity >= 2:
        return logging.DEBUG
    if quiet:
        return logging.ERROR
    return logging.INFO if verbosity == 1 else logging.WARNING


def setup(level: int = logging.INFO, *, progress: bool = True) -> None:
    """Configure the root logger once per process (idempotent); `level` is what `level_for` returns.

    WARNING (the CLI default) means the quiet mode above: edtune warnings and progress lines, libraries at ERROR.
    """
    root = logging.getLogger()
    handler = next((h for h in root.handlers if getattr(h, "_edtune", False)), None)
    if handler is None:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(_ProgressFormatter())
        handler._edtune = True  # type: ignore[attr-defined]
        root.addHandler(handler)
    for f in list(handler.filters):
        handler.removeFilter(f)
    quiet = level >= logging.WARNING
    if quiet:
        handler.addFilter(RepeatFilter())
        # chatter that bypasses Python logging, silenced through the environment (children inherit it): gRPC
        # C-core lines (milvus-lite keepalive "too_many_pings"), transformers'/hub's tqdm weight-loading bars
        os.environ.setdefault("GRPC_VERBOSITY", "NONE")
        os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
        if not _STATE.get("atexit"):
            atexit.register(_note_held_back)
            _STATE["atexit"] = True
    root.setLevel(level)
    lib_level = logging.ERROR if quiet else logging.WARNING if level > logging.DEBUG else logging.DEBUG
    for name in _LIBRARIES:
        logging.getLogger(name).setLevel(lib_level)
    logging.captureWarnings(True)  # library `warnings.warn` go through py.warnings (quiet: ERROR only)
    if quiet:
        warnings.filterwarnings("ignore", category=FutureWarning)
        warnings.filterwarnings("ignore", category=DeprecationWarning)
    logging.getLogger(PROGRESS).setLevel(
        logging.INFO if progress and level <= logging.WARNING else logging.WARNING
    )
    # milvus-lite's embedded gRPC server logs a traceback for every unimplemented (and unneeded) call it gets
    logging.getLogger("grpc._server").setLevel(logging.CRITICAL)


_STATE: dict[str, bool] = {}


def _note_held_back() -> None:
    lines = held_back()
    if lines:
        with contextlib.suppress(Exception):  # stderr may already be closed at interpreter exit
            sys.stderr.write("".join(f"({line})\n" for line in lines))
            sys.stderr.flush()


def held_back() -> list[str]:
    """What the quiet mode's RepeatFilter held back, one line per event (for an end-of-run note)."""
    for h in logging.getLogger().handlers:
        for f in h.filters:
            if isinstance(f, RepeatFilter):
                return f.summary()
    return []


def progress(msg: str, **fields: Any) -> None:
    """One user-facing progress line (a stage finished, with its time); shown at default verbosity."""
    logging.getLogger(PROGRESS).info(PROGRESS_MARK + (kv(msg, **fields) if fields else msg))


@contextlib.contextmanager
def activity(label: str) -> Iterator[None]:
    """A spinner with the elapsed time on a terminal, for work without a count (tune, retrieve).

    Drawn only when stderr is a terminal and progress lines are on: in a KFP task or a CI log a redrawn line is
    noise, and the stage's progress line already says how long it took.
    """
    if not (sys.stderr.isatty() and logging.getLogger(PROGRESS).isEnabledFor(logging.INFO)):
        yield
        return
    from rich.console import Console
    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    cols = (SpinnerColumn(), TextColumn("[bold]{task.description}"), TimeElapsedColumn())
    with Progress(*cols, console=Console(stderr=True), transient=True) as bar:
        bar.add_task(label, total=None)
        yield


def kv(msg: str, **fields: Any) -> str:
    """`event key=value ...`: one line, greppable, no secrets (callers pass only safe fields)."""
    return " ".join([msg, *(f"{k}={v}" for k, v in fields.items())])
