"""Reading `pool.skills.jsonl` (written by `edtune annotate`): one `{"id", "skills": [...]}` row per sample."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict

from edtune.io import iter_jsonl
from edtune.schemas import SampleId


class SkillTags(BaseModel):
    """One annotated support sample. Extra fields (prompt version, model) are allowed and ignored."""

    model_config = ConfigDict(extra="ignore")

    id: SampleId
    skills: list[str]


def load_skill_tags(uri: str | Path) -> dict[str, list[str]]:
    """id → non-empty, stripped skill phrases; a bad line raises InputError naming file:line:field."""
    out: dict[str, list[str]] = {}
    for row in iter_jsonl(uri, SkillTags):
        out[row.id] = [s.strip() for s in row.skills if s.strip()]
    return out
