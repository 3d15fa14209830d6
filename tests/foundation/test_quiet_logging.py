"""Quiet by default (issue 16): the CLI's verbosity flags, repeated warnings counted instead of repeated, and the
KFP local runner's task logs kept whole in a file while stderr gets one line per stage."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest

from edtune import log
from edtune.tasklog import task_logs

# (verbosity, --log-level, --debug, --quiet) -> root level
LEVELS = [
    ((0, None, False, False), logging.WARNING),
    ((1, None, False, False), logging.INFO),
    ((2, None, False, False), logging.DEBUG),
    ((0, None, True, False), logging.DEBUG),
    ((0, None, False, True), logging.ERROR),
    ((0, "info", False, True), logging.INFO),  # --log-level wins over -q
    ((2, "error", False, False), logging.ERROR),
]


@pytest.mark.parametrize(("flags", "level"), LEVELS)
def test_cli_flags_map_to_one_root_level(flags: tuple[int, str | None, bool, bool], level: int) -> None:
    verbosity, log_level, debug, quiet = flags
    assert log.level_for(verbosity, log_level, debug=debug, quiet=quiet) == level


def test_an_unknown_log_level_is_an_input_error() -> None:
    from edtune.errors import InputError

    with pytest.raises(InputError, match="--log-level"):
        log.level_for(0, "chatty")


def test_repeat_filter_lets_three_of_an_event_through_then_counts() -> None:
    f = log.RepeatFilter(limit=3)

    def rec(msg: str, level: int = logging.WARNING) -> logging.LogRecord:
        return logging.LogRecord("edtune.teacher.diagnose", level, __file__, 1, msg, None, None)

    passed = [f.filter(rec(f"diagnose.undiagnosed sample=s{i}")) for i in range(10)]
    assert passed == [True] * 3 + [False] * 7
    assert f.filter(rec("diagnose.done requests=3"))  # another event has its own budget
    assert f.filter(rec("diagnose.undiagnosed sample=x", logging.ERROR))  # errors always pass
    assert f.summary() == ["7 more 'diagnose.undiagnosed' from edtune.teacher.diagnose (see -v)"]
    progress = [
        logging.LogRecord(log.PROGRESS, logging.INFO, __file__, 1, f"\u25b8 stage{i}", None, None)
        for i in range(9)
    ]
    assert all(f.filter(r) for r in progress)  # progress lines all start with the same mark: never held back


CHILD = r"""
import sys
mark = "\u25b8 "
for i in range(50):
    print(f"    [KFP Executor 2026 INFO]: Got executor_input: chatter {i}")
for _ in range(2):  # kfp.local prints a task's log twice
    print(f"    [KFP Executor 2026 INFO]: {mark}evaluate-val           round 0      3.2 s")
    print(f"02:00:00 INFO edtune.progress {mark}evaluate-val           round 0      3.2 s")
for i in range(6):
    print(f"    [KFP Executor 2026 WARNING]: diagnose.undiagnosed sample=s{i} reason='no switch'", file=sys.stderr)
    # the same warning as edtune's own log line: shown once, not twice
    print(f"02:00:00 WARNING edtune.teacher.diagnose diagnose.undiagnosed sample=s{i} reason='no switch'")
print("    [KFP Executor 2026 WARNING]: /x/modeling_utils.py:3312: FutureWarning: `a` is deprecated")
print("02:00:01 - INFO - Task 'tune-op' finished with status FAILURE", flush=True)
"""


def test_task_logs_keep_everything_in_the_file_and_forward_one_line_per_stage(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "logs" / "kfp-local.log"
    with task_logs(path, everything=False):
        subprocess.run([sys.executable, "-c", CHILD], check=True)  # a child inherits the redirected fds
        os.write(1, b"from this process, on stdout\n")  # fd 1, as print() writes outside pytest
    err = capfd.readouterr().err.splitlines()
    kept = path.read_text()
    assert kept.count("chatter") == 50 and "from this process, on stdout" in kept  # the file has it all
    assert err == [
        "\u25b8 evaluate-val           round 0      3.2 s",
        "WARNING: diagnose.undiagnosed sample=s0 reason='no switch'",  # the runner's prefix dropped
        "WARNING: diagnose.undiagnosed sample=s1 reason='no switch'",  # the runner's prefix dropped
        "WARNING: diagnose.undiagnosed sample=s2 reason='no switch'",  # the runner's prefix dropped
        "02:00:01 - INFO - Task 'tune-op' finished with status FAILURE",
        f"3 more 'diagnose.undiagnosed' warnings in {path}",
    ]


def test_task_logs_with_verbose_forward_every_line(tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
    with task_logs(tmp_path / "t.log", everything=True):
        subprocess.run([sys.executable, "-c", CHILD], check=True)
    assert capfd.readouterr().err.count("chatter") == 50
