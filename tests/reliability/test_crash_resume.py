"""Crash anywhere, resume exactly; and a whole run that never leaks a secret (both slow: `pytest -m slow`).

The harness is benchmarks/faults/ (the benchmark runs N >= 20 kills; here 3): `edtune run` in its own process
group is SIGKILLed at seeded random times and rerun until it finishes; the finished run must equal an
uninterrupted one (adapter bytes, metrics, selections, mistakes, manifest), no finished stage may start again, and
no support sample may be used twice.
"""

from __future__ import annotations

import importlib
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]


def _faults() -> ModuleType:
    """The benchmark package, importable from the repository root (it is not installed with edtune)."""
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    return importlib.import_module("benchmarks.faults")


@pytest.fixture(scope="module")
def harness(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ModuleType, object, Path]]:
    faults = _faults()
    root = tmp_path_factory.mktemp("faults")
    setup = faults.prepare(root / "setup")
    yield faults, setup, root
    setup.close()


def test_three_seeded_kills_resume_to_exactly_the_uninterrupted_run(harness: tuple) -> None:
    faults, setup, root = harness
    rep = faults.kill_campaigns(setup, root / "kills", n_kills=3, seed=1, rounds=1, steps=10)
    assert rep.kills_tried == 3
    assert not rep.failed_resumes, rep.failed_resumes
    assert not rep.mismatches, rep.mismatches
    assert not rep.redone_stages, rep.redone_stages
    assert not rep.used_twice, rep.used_twice
    assert rep.kills_survived == rep.kills_tried


def test_a_whole_run_never_writes_a_canary_secret_anywhere(harness: tuple) -> None:
    from .test_secrets_and_servers import canary_env, leaks

    faults, setup, root = harness
    work = root / "canary"
    config = faults.write_config(faults.run_config(setup, work, rounds=1, steps=5), work / "config.yaml")
    env = canary_env({"TMPDIR": str(work / "tmp")})
    (work / "tmp").mkdir(parents=True, exist_ok=True)
    p = subprocess.run(
        [faults.EDTUNE, "--debug", "run", "--config", str(config), "--json"],
        capture_output=True,
        text=True,
        env=env,
        timeout=900,
    )
    assert p.returncode == 0, p.stderr[-2000:]
    assert (work / "runs" / "faults" / "final" / "manifest.json").is_file()
    assert not leaks(p.stdout, p.stderr, roots=(work,))
