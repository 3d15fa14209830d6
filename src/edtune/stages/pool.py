"""Pool stages, run once per support pool and shared by every task: tag with the teacher, index into Milvus."""

from __future__ import annotations

from typing import Any

from edtune.config import RunConfig
from edtune.stages.base import _milvus_token


def annotate(cfg: RunConfig, out: str) -> dict[str, Any]:
    """Tag every support sample with its skills through the teacher (resumable through the teacher cache)."""
    from edtune.teacher.annotate import annotate_pool

    res = annotate_pool(cfg.pool.uri, out, cfg.teacher, cache_dir=cfg.cache_dir)
    return res.model_dump(mode="json")


def index(cfg: RunConfig) -> dict[str, Any]:
    """Index the pool (skills text, BM25 + dense) into Milvus; rows already present are skipped."""
    from edtune.datasets import iter_support
    from edtune.skills.index import SkillIndex
    from edtune.skills.tags import load_skill_tags

    skills = load_skill_tags(cfg.pool.skills) if cfg.pool.skills else None
    with SkillIndex(
        cfg.pool.milvus_uri, cfg.pool.collection, token=_milvus_token(), index_type=cfg.pool.index_type
    ) as idx:
        manifest = idx.ingest(iter_support(cfg.pool.uri), skills, batch=cfg.pool.insert_batch)
    return manifest.model_dump(mode="json")
