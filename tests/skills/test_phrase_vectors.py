"""Ingest embeds each distinct skill phrase once (issue 16): a tagged row's vector is the normalised mean of its
phrases' vectors, so a 1M-row pool over a few thousand phrases costs a few thousand encodes, not a million."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pytest

from edtune.skills.index import SkillIndex


class CountingEmbedder:
    """Deterministic unit vectors per text; counts what it was asked to encode."""

    dim = 384

    def __init__(self) -> None:
        self.encoded: list[str] = []
        self._cache: dict[str, np.ndarray] = {}

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        out = []
        for t in texts:
            if t not in self._cache:
                self.encoded.append(t)
                v = np.random.default_rng(abs(hash(t)) % 2**32).standard_normal(self.dim).astype(np.float32)
                self._cache[t] = v / np.linalg.norm(v)
            out.append(self._cache[t])
        return np.stack(out) if out else np.zeros((0, self.dim), np.float32)


# rows' tags (None: untagged, indexed by its text) -> phrases/texts encoded
CASES = [
    ([["colour naming"]], ["colour naming"]),
    (
        [["colour naming", "counting"], ["counting", "colour naming"], ["counting"]],
        ["colour naming", "counting"],
    ),
    ([["a", "b"], None], ["a", "b", "text of row 1"]),
]


@pytest.mark.parametrize(("tags", "encoded"), CASES)
def test_each_distinct_phrase_is_encoded_once_and_rows_average_their_phrases(
    tags: list[list[str] | None], encoded: list[str]
) -> None:
    emb = CountingEmbedder()
    idx = SkillIndex("/tmp/unused.db", "c", embedder=emb)  # type: ignore[arg-type]
    texts = ["; ".join(t) if t else f"text of row {i}" for i, t in enumerate(tags)]
    vecs = idx._vectors(texts, tags)
    assert sorted(emb.encoded) == sorted(encoded)
    for row, t in enumerate(tags):
        parts = emb.encode(t if t else [texts[row]])
        want = parts.mean(axis=0)
        np.testing.assert_allclose(vecs[row], want / np.linalg.norm(want), atol=1e-6)
        assert abs(np.linalg.norm(vecs[row]) - 1.0) < 1e-5


def test_a_one_tag_row_gets_exactly_its_phrase_vector() -> None:
    emb = CountingEmbedder()
    idx = SkillIndex("/tmp/unused.db", "c", embedder=emb)  # type: ignore[arg-type]
    vec = idx._vectors(["shape recognition"], [["shape recognition"]])[0]
    np.testing.assert_allclose(vec, emb.encode(["shape recognition"])[0], atol=1e-7)
