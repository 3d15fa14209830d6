"""SkillIndex against a real Milvus Lite file: BM25 finds exact terms, dense/hybrid find synonyms, exclusion holds."""

from __future__ import annotations

import pytest

from edtune.skills.index import FILTER_MAX_IDS, SkillIndex

from .conftest import TAGS

EXACT_TERM_CASES = [
    ("counting", {"cnt-1", "cnt-2", "cnt-3"}),
    ("triangles", {"shp-2"}),
    ("weather", {"wea-1"}),
    ("left right", {"lr-1", "lr-2"}),
]


@pytest.mark.parametrize(("query", "expected"), EXACT_TERM_CASES)
def test_bm25_finds_samples_tagged_with_the_exact_term(
    tagged_index: SkillIndex, query: str, expected: set[str]
):
    hits = tagged_index.search(query, mode="bm25", k=len(expected))
    assert {i for i, _ in hits} == expected
    assert all(score > 0 for _, score in hits)


SYNONYM_CASES = [
    ("tallying items", {"cnt-1", "cnt-2", "cnt-3"}),
    ("hue identification", {"col-1", "col-2", "col-3"}),
]


@pytest.mark.parametrize(("query", "relevant"), SYNONYM_CASES)
def test_dense_and_hybrid_find_a_synonym_that_bm25_misses(
    tagged_index: SkillIndex, query: str, relevant: set[str]
):
    bm25 = {i for i, _ in tagged_index.search(query, mode="bm25", k=3)}
    dense = tagged_index.search(query, mode="dense", k=1)
    hybrid = {i for i, _ in tagged_index.search(query, mode="hybrid", k=3)}
    assert not bm25 & relevant
    assert dense[0][0] in relevant
    assert hybrid & relevant  # RRF may rank a BM25 word match first, but the synonym is in the top 3


@pytest.mark.parametrize("mode", ["bm25", "dense", "hybrid"])
def test_scores_descend_and_ties_break_by_id(tagged_index: SkillIndex, mode: str):
    hits = tagged_index.search("counting objects", mode=mode, k=8)
    keys = [(-s, i) for i, s in hits]
    assert keys == sorted(keys)


@pytest.mark.parametrize("mode", ["bm25", "dense", "hybrid"])
def test_excluded_ids_never_come_back_with_a_short_or_a_long_exclusion_list(
    tagged_index: SkillIndex, mode: str
):
    excluded = {"cnt-1", "cnt-2"}
    short = tagged_index.search("counting objects", mode=mode, k=5, exclude=excluded)  # filter expression
    padding = {f"not-in-pool-{i}" for i in range(FILTER_MAX_IDS + 10)}
    long = tagged_index.search("counting objects", mode=mode, k=5, exclude=excluded | padding)  # client side
    assert not {i for i, _ in short} & excluded
    assert [i for i, _ in short] == [i for i, _ in long]
    assert short[0][0] == "cnt-3"
    assert len(short) == (2 if mode == "bm25" else 5)  # BM25 returns only term matches (cnt-3, col-3)


def test_count_and_ids_report_exactly_what_was_indexed(tagged_index: SkillIndex):
    assert tagged_index.count() == len(TAGS)
    assert tagged_index.ids() == set(TAGS)


def test_reingesting_the_same_pool_inserts_nothing(tagged_index: SkillIndex):
    from .conftest import pool

    m = tagged_index.ingest(pool(), TAGS, batch=7, progress=False)
    assert (m.inserted, m.skipped, m.count) == (0, len(TAGS), len(TAGS))
    assert m.mode == "skills"
