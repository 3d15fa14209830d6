"""Keep the KFP local runner's task logs in a file under the run, and show only a condensed view on stderr.

kfp.local streams every task's whole log (executor lines, each twice, library chatter, our INFO lines) to the
terminal: thousands of lines for a demo. Here fds 1 and 2 go to `<run>/logs/kfp-local.log` for the duration of
the run — child processes inherit them, so nothing escapes — and a thread follows the file and forwards to the
real stderr only what a user follows a run by: the one progress line per finished stage, edtune warnings/errors
and kfp's task failures. With `-v` (root level INFO or lower) every line is forwarded, as before.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

from edtune.log import PROGRESS_MARK

# what a user sees of a task at default verbosity: our progress lines, edtune problems, kfp's failure verdicts
# (edtune's own format in this process, "LEVEL edtune.x event ..."; kfp's executor format in a task, "LEVEL]: event")
_KEEP = re.compile(
    rf"{re.escape(PROGRESS_MARK)}|(WARNING|ERROR|CRITICAL) edtune\.|(WARNING|ERROR|CRITICAL)\]: "
    r"|finished with status FAILURE|^error: "
)

_WARNING = re.compile(r"WARNING(?: edtune\.\S+ |\]: )(\S+)")  # group 1: the event (first word of the message)
REPEATS = 3
_EXECUTOR = re.compile(r"\[KFP Executor [^\]]*? (WARNING|ERROR|CRITICAL)\]: ")  # the runner's prefix: dropped
_PY_WARNING = re.compile(r"\b\w+Warning: ")  # a library's `warnings.warn` (deprecations): the file keeps it


def _forward(path: Path, out_fd: int, stop: threading.Event, everything: bool) -> None:
    """Follow `path` from its start until `stop` is set and the file is drained; write kept lines to out_fd."""
    seen: set[str] = set()
    repeats: dict[str, int] = {}
    with open(path, "rb") as f:
        buf = b""
        while True:
            chunk = f.read(65536)
            if not chunk:
                if stop.is_set():
                    break
                stop.wait(0.2)
                continue
            buf += chunk
            *lines, buf = buf.split(b"\n")
            for raw in lines:
                line = raw.decode("utf-8", "replace").rstrip("\r")
                if everything:
                    os.write(out_fd, raw + b"\n")
                elif _KEEP.search(line) and not _PY_WARNING.search(line):
                    text = line[line.index(PROGRESS_MARK) :] if PROGRESS_MARK in line else line
                    m = _WARNING.search(text)
                    # kfp.local prints each task's log twice, and a warning arrives both as the executor's line
                    # and as edtune's own log line: the same message from its event on is shown once
                    message = text[m.start(1) :] if m else text
                    if message in seen:
                        continue
                    seen.add(message)
                    if m:  # a warning per sample (e.g. diagnose.undiagnosed): the first few, then a count
                        key = m.group(1)
                        repeats[key] = repeats.get(key, 0) + 1
                        if repeats[key] > REPEATS:
                            continue
                    os.write(out_fd, (_EXECUTOR.sub(r"\1: ", text).strip() + "\n").encode())
    held = [f"{n - REPEATS} more {key!r} warnings in {path}" for key, n in repeats.items() if n > REPEATS]
    if held:
        os.write(out_fd, ("\n".join(held) + "\n").encode())


@contextlib.contextmanager
def task_logs(path: str | Path, *, everything: bool | None = None) -> Iterator[Path]:
    """Send fds 1 and 2 (this process and its children) to `path` (appended) while the block runs.

    `everything` defaults to "the root logger is at INFO or more detailed" (the CLI's -v). stdout stays free
    for `--json` either way.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if everything is None:
        everything = logging.getLogger().getEffectiveLevel() <= logging.INFO
    sys.stdout.flush()
    sys.stderr.flush()
    saved_out, saved_err = os.dup(1), os.dup(2)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    stop = threading.Event()
    follower = threading.Thread(
        target=_forward, args=(path, saved_err, stop, everything), name="task-log", daemon=True
    )
    try:
        os.dup2(fd, 1)
        os.dup2(fd, 2)
        follower.start()
        yield path
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os.dup2(saved_out, 1)
        os.dup2(saved_err, 2)
        os.close(fd)
        stop.set()
        follower.join(timeout=10)
        os.close(saved_out)
        os.close(saved_err)
