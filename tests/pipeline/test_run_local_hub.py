"""`pipeline run-local` with `student.base: ORG/NAME`: the id resolves to its HF cache snapshot before the spec is
compiled, as under `edtune run` (the stages hash `student.base` as an input file: an unresolved id would be a
"missing input"). The cache is the tiny student laid out as a real huggingface_hub cache, offline
(tests/student/test_own_model_hub.py); no pipeline runs here.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from student import test_own_model_hub as own_model_hub

from edtune.config import RunConfig, StudentConfig
from edtune.errors import ModelError
from edtune.pipeline import local

COMMIT, REPO = own_model_hub.COMMIT, own_model_hub.REPO
hub_cache = own_model_hub.hub_cache  # the offline HF cache fixture, reused


def _cfg(base: str) -> RunConfig:
    return RunConfig(student=StudentConfig(base=base))


@pytest.mark.parametrize("rev", ["", "@main", f"@{COMMIT}"])
def test_a_hub_id_becomes_its_cached_snapshot(hub_cache: Path, rev: str) -> None:
    cfg = _cfg(REPO + rev)
    resolved = Path(local.local_config(cfg).student.base)
    assert resolved.name == COMMIT and (resolved / "config.json").is_file()
    assert resolved.is_relative_to(hub_cache), "the snapshot of the local HF cache, nothing downloaded"
    assert cfg.student.base == REPO + rev, "the caller's config is not changed"


@pytest.mark.parametrize("base", ["s3://edtune/models/qwen", "/models/qwen", ""])
def test_paths_and_uris_stay_as_they_are(base: str) -> None:
    cfg = _cfg(base)
    assert local.local_config(cfg) is cfg


def test_an_id_missing_from_the_offline_cache_names_student_base_and_how_to_stage(hub_cache: Path) -> None:
    with pytest.raises(ModelError) as err:
        local.local_config(_cfg("edtune-test/not-cached"))
    assert "student.base" in str(err.value) and "edtune models stage" in str(err.value)


class Compiled(Exception):
    """Stops run_local where it would compile: the config it compiles with is what this test reads."""


def test_run_local_compiles_with_the_resolved_config(
    hub_cache: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: dict[str, Any] = {}

    def stop(cfg: RunConfig, *args: Any, **kwargs: Any) -> Path:
        seen["base"] = cfg.student.base
        raise Compiled

    monkeypatch.setattr(local, "local_spec", stop)
    cfg = _cfg(REPO).model_copy(update={"output": str(tmp_path / "runs")})
    with pytest.raises(Compiled):
        local.run_local(cfg, tmp_path / "kfp-root")
    assert Path(seen["base"]).name == COMMIT
