"""A task whose cache volume cannot be written stops at once, exit 2, naming the `cluster.cache_*` setting behind it.

KFP task pods get no fsGroup and the images run as uid 10001, so a volume whose root belongs to root is read-only
for the task; without this check the first model download fails minutes or hours into a GPU task. We run as
root here (permission bits do not stop root), so "not writable" is made the way every user meets it: the cache
path lies under a regular file.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from edtune.config import RunConfig
from edtune.pipeline import compile_pipelines, repo_root
from edtune.pipeline.taskenv import require_writable_cache

SCRATCH_STAGES = {"evaluate-op", "tune-op", "diagnose-op", "annotate-op"}

VOLUMES = [
    # (cluster settings, what the message must name)
    ({}, "an emptyDir"),
    ({"cache_storage_class": "fast-rwo"}, "cluster.cache_storage_class='fast-rwo'"),
    ({"cache_pvc": "models"}, "cluster.cache_pvc='models'"),
]


@pytest.mark.parametrize(("cluster", "named"), VOLUMES, ids=["emptyDir", "storage class", "pvc"])
def test_an_unwritable_cache_exits_2_naming_the_cache_settings(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], cluster: dict, named: str
) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("")
    cfg = RunConfig.model_validate({"cache_dir": str(blocker / "cache"), "cluster": cluster})
    with pytest.raises(SystemExit) as exc:
        require_writable_cache(cfg)
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert "cluster.cache_mount='/cache'" in err and named in err and "uid" in err


def test_a_writable_cache_passes_and_leaves_nothing_behind(tmp_path: Path) -> None:
    cfg = RunConfig.model_validate({"cache_dir": str(tmp_path / "cache")})
    assert require_writable_cache(cfg) == tmp_path / "cache"
    assert list((tmp_path / "cache").iterdir()) == []


def test_every_task_with_a_cache_checks_it_before_its_stage(tmp_path: Path) -> None:
    compile_pipelines(tmp_path)
    for name in ("error_driven_tuning", "index_support_set"):
        docs = list(yaml.safe_load_all((tmp_path / f"{name}.yaml").read_text()))
        for ex_name, ex in docs[0]["deploymentSpec"]["executors"].items():
            code = "\n".join(ex["container"]["command"] + ex["container"].get("args", []))
            if re.sub(r"^exec-|-\d+$", "", ex_name) in SCRATCH_STAGES:
                assert "require_writable_cache(cfg)" in code, ex_name
                stage_call = re.search(r"stages\.\w+\(cfg", code)
                assert stage_call and code.index("require_writable_cache(cfg)") < stage_call.start(), ex_name


def test_the_tune_task_process_exits_2_when_its_cache_is_not_writable(tmp_path: Path) -> None:
    """The component function itself, in a fresh interpreter, as the KFP executor runs it."""
    blocker = tmp_path / "file"
    blocker.write_text("")
    cfg = RunConfig.model_validate({"cache_dir": str(blocker / "cache")}).model_dump_json()
    code = (
        "import sys; from components.tune.component import tune_op; "
        "tune_op.python_func(config_json=sys.argv[1], round_idx=1, adapter=None, metrics=None)"
    )
    env = {**os.environ, "PYTHONPATH": str(repo_root())}
    proc = subprocess.run(
        [sys.executable, "-c", code, cfg], capture_output=True, text=True, env=env, timeout=120, check=False
    )
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert "cluster.cache_mount" in proc.stderr and "Traceback" not in proc.stderr
