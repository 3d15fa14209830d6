"""A demo workdir keeps its world: a demo of other sizes there is refused, naming the file and the field.

Why: the quick and full demos share a pool size (10,000) but not their splits; before the check, `edtune demo`
after `edtune demo --quick` in one workdir silently scored the full demo on the quick demo's 100 / 150 splits.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from edtune.errors import InputError
from edtune.shapes import demo


def _world(tmp_path: Path, sizes: demo.DemoSizes) -> Path:
    world = tmp_path / "world"
    world.mkdir()
    task = {"name": "left-right", "val": sizes.val, "test": sizes.test}
    (world / "world.json").write_text(json.dumps({"pool_size": sizes.pool, "tasks": [task]}))
    return world


def test_the_same_sizes_pass_and_other_splits_name_the_field(tmp_path: Path) -> None:
    world = _world(tmp_path, demo.QUICK)
    demo._check_world_size(world, demo.QUICK, "left-right")
    assert demo.QUICK.pool == demo.FULL.pool  # what the split check is for
    with pytest.raises(
        InputError, match=r"world\.json: field tasks\[left-right\]\.val: .* has 100, not the 200"
    ):
        demo._check_world_size(world, demo.FULL, "left-right")
    bigger = demo.QUICK.model_copy(update={"pool": 20000})
    with pytest.raises(InputError, match=r"field pool_size: .* has 10000, not the 20000"):
        demo._check_world_size(world, bigger, "left-right")


def test_the_quick_and_full_demos_default_to_separate_workdirs() -> None:
    from typer.testing import CliRunner

    from edtune.cli import app

    out = CliRunner().invoke(app, ["demo", "--help"], env={"COLUMNS": "200"})
    assert "./edtune-data/demo-quick with --quick" in out.output
