"""Every run config in examples/ validates as written, and says what a user must change and nothing else.

The local examples name a hub id for `student.base` (resolved from the HF cache) and relative data paths; the
cluster example names only object-store URIs and cluster DNS names (a pod cannot see a laptop's files). The CI
files under examples/ci/ are not run configs and are checked by tests/deploy/test_ci_examples.py.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from edtune.config import load_config
from edtune.student.hub import parse_hub_id

ROOT = Path(__file__).resolve().parents[2]
CONFIGS = sorted(p for p in (ROOT / "examples").rglob("*.yaml") if "ci" not in p.relative_to(ROOT).parts)
LOCAL = [p for p in CONFIGS if p.parent.name == "local"]

# example -> (student.family, a word its base must contain)
FAMILIES = {
    "qwen2-vl-7b.yaml": ("qwen2-vl", "Qwen2-VL-7B"),
    "llava-1.5-7b.yaml": ("llava", "llava-1.5-7b-hf"),
}


def test_the_examples_include_a_local_qwen2_vl_a_local_llava_and_a_cluster_config() -> None:
    names = {p.relative_to(ROOT / "examples").as_posix() for p in CONFIGS}
    assert {"local/qwen2-vl-7b.yaml", "local/llava-1.5-7b.yaml", "cluster/config.yaml"} <= names


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_every_example_config_validates_with_no_environment(path: Path) -> None:
    cfg = load_config(path, env={})
    assert cfg.task.val and cfg.pool.uri and cfg.student.base and cfg.teacher.url
    assert cfg.preset == "", "examples run on the product defaults, not a harness preset"
    raw = yaml.safe_load(path.read_text())
    assert "preset" not in raw


@pytest.mark.parametrize("path", LOCAL, ids=lambda p: p.name)
def test_local_examples_name_a_hub_id_of_their_family_and_run_without_a_gpu_check(path: Path) -> None:
    cfg = load_config(path, env={})
    family, word = FAMILIES[path.name]
    assert cfg.student.family == family
    assert parse_hub_id(cfg.student.base) is not None and word in cfg.student.base
    assert cfg.student.device == "auto"  # `run --check` insists on a GPU only for device: cuda
    assert cfg.teacher.model == "auto" and cfg.teacher.backend in ("vllm", "tgi", "openai")
    assert not Path(cfg.task.val).is_absolute() and not Path(cfg.pool.uri).is_absolute()


def test_the_cluster_example_names_only_object_store_uris_and_services() -> None:
    cfg = load_config(ROOT / "examples" / "cluster" / "config.yaml", env={})
    for uri in (cfg.output, cfg.task.val, cfg.pool.uri, cfg.pool.skills or "", cfg.student.base):
        assert uri.startswith("s3://"), uri
    assert "127.0.0.1" not in cfg.teacher.url and "localhost" not in cfg.teacher.url
    assert parse_hub_id(cfg.student.base) is None  # pods never download from a hub: `edtune models stage`
