"""End-to-end fixtures: one tiny shapes world, the reference teacher on loopback, the shipped base student."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from edtune.config import RunConfig

TASK = "left-right"


@pytest.fixture(scope="session")
def tiny_world(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from edtune.shapes.world.generate import generate_world

    out = tmp_path_factory.mktemp("world")
    generate_world(str(out), seed=0, pool_size=600, val_size=40, test_size=40)
    # The analysis sidecar must never be read by the pipeline: every e2e test runs without it.
    (out / "pool.labels.jsonl").unlink()
    return out


@pytest.fixture(scope="session")
def teacher_url() -> Iterator[str]:
    from edtune.shapes.world.reference_teacher import start_reference_teacher

    server, url = start_reference_teacher(host="127.0.0.1", port=0)
    try:
        yield url
    finally:
        server.shutdown()


@pytest.fixture(scope="session")
def base_student(tmp_path_factory: pytest.TempPathFactory) -> str:
    from edtune.shapes.student.base import ensure_base_student, shipped_base

    assert shipped_base() is not None, (
        "the shipped base student (src/edtune/shapes/assets/base-student) must verify"
    )
    return ensure_base_student(str(tmp_path_factory.mktemp("cache")))


@pytest.fixture(scope="session")
def indexed_pool(
    tiny_world: Path, teacher_url: str, base_student: str, tmp_path_factory: pytest.TempPathFactory
) -> dict:
    """Annotate the pool through the reference teacher and index it in a Milvus Lite file, once per session."""
    from edtune import stages

    milvus = tmp_path_factory.mktemp("milvus") / "milvus.db"
    cfg = make_config(tmp_path_factory.mktemp("idx"), tiny_world, base_student, teacher_url, str(milvus))
    stages.annotate(cfg, str(tiny_world / "pool.skills.jsonl"))
    stages.index(cfg)
    return {"milvus_uri": str(milvus), "skills": str(tiny_world / "pool.skills.jsonl")}


def make_config(
    workdir: Path, world: Path, base: str, teacher_url: str, milvus_uri: str, **overrides: object
) -> RunConfig:
    """A tiny run (1 round, budget 48, 20 LoRA steps); `section__field=value` or `section=value` override."""
    from edtune.shapes.demo import world_config

    data: dict = {
        "run_id": "e2e",
        "loop": {"max_rounds": 1, "budget_per_round": 48},
        "lora": {"max_steps": 20},
    }
    for key, value in overrides.items():
        section, _, field = key.partition("__")
        if field:
            data.setdefault(section, {})[field] = value
        else:
            data[section] = value
    return world_config(
        workdir, world, base, teacher_url, TASK, milvus_uri=milvus_uri, collection="e2e_pool", overrides=data
    )
