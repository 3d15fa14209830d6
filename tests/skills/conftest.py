"""Fixtures for the skill index tests: one embedder per session (~5 s to load), real Milvus Lite files."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from edtune.schemas import SupportSample
from edtune.skills.embed import Embedder
from edtune.skills.index import SkillIndex

# id -> skill tags. Several samples per skill so budgets, dedup and back-fill have room to act.
TAGS: dict[str, list[str]] = {
    "col-1": ["color naming"],
    "col-2": ["color naming", "shape naming"],
    "col-3": ["naming the color of objects"],
    "shp-1": ["shape naming"],
    "shp-2": ["recognizing triangles"],
    "cnt-1": ["counting objects"],
    "cnt-2": ["counting objects", "number of shapes"],
    "cnt-3": ["counting small objects"],
    "lr-1": ["left right relations"],
    "lr-2": ["left right relations", "spatial position"],
    "size-1": ["size comparison"],
    "txt-1": ["reading text"],
    "ani-1": ["animal identification"],
    "wea-1": ["weather description"],
    "tex-1": ["texture recognition"],
    "fac-1": ["facial expression"],
}


def sample(sid: str, question: str = "What is in the image?", answer: str = "A thing.") -> SupportSample:
    return SupportSample.model_validate(
        {
            "id": sid,
            "image": f"images/{sid}.png",
            "conversations": [
                {"from": "human", "value": f"<image>\n{question}"},
                {"from": "gpt", "value": answer},
            ],
            "source": "test",
        }
    )


def pool(tags: dict[str, list[str]] = TAGS) -> list[SupportSample]:
    return [sample(sid) for sid in tags]


@pytest.fixture(scope="session")
def embedder() -> Embedder:
    e = Embedder()
    e.encode(["warm up"])  # load once per session
    return e


@pytest.fixture(scope="module")
def tagged_index(tmp_path_factory: pytest.TempPathFactory, embedder: Embedder) -> Iterator[SkillIndex]:
    """The TAGS pool indexed in skills mode, shared read-only by a module's tests."""
    db: Path = tmp_path_factory.mktemp("milvus") / "skills.db"
    idx = SkillIndex(str(db), "support", embedder=embedder)
    idx.ingest(pool(), TAGS, batch=5, progress=False)
    yield idx
