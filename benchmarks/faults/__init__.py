"""Reliability benchmark: crash anywhere and resume exactly, flaky services, sustained teacher load.

    nice .venv/bin/python -m benchmarks.faults kills --n 20 --seed 0
    nice .venv/bin/python -m benchmarks.faults flaky
    nice .venv/bin/python -m benchmarks.faults load --requests 10000 --concurrency 32

Each writes benchmarks/results/faults-<part>.json; docs/reliability.md quotes those files. The same harness
functions back the pytest versions in tests/reliability/ (smaller N, `-m slow` for the kills).

Read it by part, one module each: `common` (the tiny world every part runs on, child processes), `kills` (SIGKILL
the run's process group, resume, compare outputs), `flaky` (faults and outages through loopback proxies),
`load` (sustained diagnose traffic), `suite` (the pytest corpus counted, and the docs table), `cli`.
"""

from benchmarks.faults.common import EDTUNE, PY, RESULTS, ROOT, TASK, Setup, prepare, run_config, write_config
from benchmarks.faults.flaky import flaky
from benchmarks.faults.kills import KillReport, kill_campaigns
from benchmarks.faults.load import load
from benchmarks.faults.suite import suite, table

__all__ = [
    "EDTUNE",
    "PY",
    "RESULTS",
    "ROOT",
    "TASK",
    "KillReport",
    "Setup",
    "flaky",
    "kill_campaigns",
    "load",
    "prepare",
    "run_config",
    "suite",
    "table",
    "write_config",
]
