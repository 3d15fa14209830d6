"""Retrieval over a real Milvus Lite index: per-gap budgets, exclusion of earlier rounds, dedup with back-fill."""

from __future__ import annotations

import pytest

from edtune.schemas import SkillGap
from edtune.skills.baselines import select_random, select_similar_questions
from edtune.skills.index import SkillIndex
from edtune.skills.retrieve import retrieve

from .conftest import TAGS


def gap(skill: str, budget: int, count: int = 1) -> SkillGap:
    return SkillGap(skill=skill, count=count, budget=budget)


@pytest.mark.parametrize("mode", ["bm25", "dense", "hybrid"])
def test_each_gap_gets_its_budget_and_no_sample_is_selected_twice(tagged_index: SkillIndex, mode: str):
    gaps = [gap("counting objects", 2), gap("object counting", 2), gap("color naming", 2)]
    sel = retrieve(tagged_index, gaps, mode=mode, round=1)
    ids = [s.support_id for s in sel]
    assert len(ids) == 6 and len(set(ids)) == 6
    by_skill = {g.skill: [s for s in sel if s.skill == g.skill] for g in gaps}
    assert all([s.rank for s in v] == list(range(1, len(v) + 1)) for v in by_skill.values())
    if mode != "bm25":  # BM25 has no stemming: "object counting" matches only 3 "counting" samples, so it
        assert all(len(v) == 2 for v in by_skill.values())  # may run short and others back-fill
    assert {s.support_id for s in by_skill["object counting"]}.isdisjoint(
        s.support_id for s in by_skill["counting objects"]
    )
    assert all(s.round == 1 for s in sel)


@pytest.mark.parametrize("mode", ["bm25", "dense", "hybrid"])
def test_samples_used_in_earlier_rounds_are_never_selected_again(tagged_index: SkillIndex, mode: str):
    first = retrieve(tagged_index, [gap("counting objects", 2)], mode=mode, round=1)
    used = {s.support_id for s in first}
    second = retrieve(tagged_index, [gap("counting objects", 2)], mode=mode, round=2, exclude=used)
    assert used.isdisjoint(s.support_id for s in second)
    assert len(second) == 2


def test_a_gap_that_runs_out_of_matches_hands_its_budget_to_the_others(tagged_index: SkillIndex):
    # BM25 matches "weather" once only; its shortfall goes to the counting gap, which has 3 matches.
    gaps = [gap("weather", 4), gap("counting", 2)]
    sel = retrieve(tagged_index, gaps, mode="bm25", round=0)
    assert len(sel) == 4  # 1 weather + all 3 counting samples: the pool can give no more by BM25
    assert [s.support_id for s in sel if s.skill == "weather"] == ["wea-1"]
    assert {s.support_id for s in sel if s.skill == "counting"} == {"cnt-1", "cnt-2", "cnt-3"}


def test_dense_back_fill_reaches_the_exact_round_budget(tagged_index: SkillIndex):
    gaps = [gap("weather description", 3), gap("counting objects", 3)]
    sel = retrieve(tagged_index, gaps, mode="dense", round=0, exclude={"cnt-1"})
    assert (
        len(sel) == 6 and len({s.support_id for s in sel}) == 6 and "cnt-1" not in {s.support_id for s in sel}
    )


@pytest.mark.parametrize("mode", ["bm25", "dense", "hybrid"])
def test_the_same_inputs_give_the_same_selection(tagged_index: SkillIndex, mode: str):
    gaps = [gap("counting objects", 3), gap("shape naming", 2)]
    a = retrieve(tagged_index, gaps, mode=mode, round=0, exclude={"col-2"})
    b = retrieve(tagged_index, gaps, mode=mode, round=0, exclude={"col-2"})
    assert [s.model_dump() for s in a] == [s.model_dump() for s in b]


def test_query_override_replaces_the_skill_text(tagged_index: SkillIndex):
    sel = retrieve(tagged_index, [gap("g1", 1)], mode="bm25", round=0, queries={"g1": "triangles"})
    assert [(s.support_id, s.skill) for s in sel] == [("shp-2", "g1")]


def test_random_baseline_is_seeded_and_respects_exclusion():
    ids = sorted(TAGS)
    a = select_random(ids, 5, seed=3, round=1, exclude={"cnt-1"})
    b = select_random(list(reversed(ids)), 5, seed=3, round=1, exclude={"cnt-1"})
    c = select_random(ids, 5, seed=4, round=1, exclude={"cnt-1"})
    assert [s.support_id for s in a] == [s.support_id for s in b]
    assert [s.support_id for s in a] != [s.support_id for s in c]
    assert "cnt-1" not in {s.support_id for s in a} and len(a) == 5
    assert len(select_random(ids, 100, seed=0, round=0)) == len(ids)


def test_similar_questions_baseline_covers_every_question_without_duplicates(tagged_index: SkillIndex):
    sel = select_similar_questions(tagged_index, ["how many objects?", "what is the weather?"], 4, round=2)
    ids = [s.support_id for s in sel]
    assert len(ids) == 4 and len(set(ids)) == 4
    assert "wea-1" in ids and ids[0].startswith("cnt")


@pytest.mark.parametrize("mode", ["bm25", "dense"])
def test_with_a_score_ratio_a_budget_is_a_ceiling_not_filled_with_other_skills(
    tagged_index: SkillIndex, mode: str
):
    # "counting objects" shares only the word "objects" with col-3 ("naming the color of objects"): BM25 scores
    # it 0.29 of the best hit, and every other skill scores below half the best by cosine too.
    filled = retrieve(tagged_index, [gap("counting objects", 6)], mode=mode, round=1)
    cut = retrieve(tagged_index, [gap("counting objects", 6)], mode=mode, round=1, min_score_ratio=0.5)
    assert len(filled) >= 4 and "col-3" in {s.support_id for s in filled}
    assert {s.support_id for s in cut} == {"cnt-1", "cnt-2", "cnt-3"}


def test_the_score_floor_is_set_by_the_whole_pool_so_a_later_round_does_not_lower_it(
    tagged_index: SkillIndex,
):
    # Round 1 took the counting samples; round 2's best remaining hit (col-3) is still no match.
    first = retrieve(tagged_index, [gap("counting objects", 3)], mode="bm25", round=1, min_score_ratio=0.5)
    used = {s.support_id for s in first}
    again = retrieve(
        tagged_index, [gap("counting objects", 3)], mode="bm25", round=2, exclude=used, min_score_ratio=0.5
    )
    assert used == {"cnt-1", "cnt-2", "cnt-3"} and again == []


def test_with_a_score_ratio_a_gap_out_of_matches_keeps_its_shortfall(tagged_index: SkillIndex):
    # "left right relations" has two matches; its 4 spare samples are not handed to "color naming", which would
    # otherwise take all 3 of its matches (above half its best; shp-1, "shape naming", scores 0.46 of it).
    gaps = [gap("left right relations", 6), gap("color naming", 1)]
    cut = retrieve(tagged_index, gaps, mode="bm25", round=1, min_score_ratio=0.5)
    filled = retrieve(tagged_index, gaps, mode="bm25", round=1)
    assert {s.support_id for s in cut} == {"lr-1", "lr-2", "col-1"}
    assert {"col-2", "col-3"} <= {s.support_id for s in filled}


def test_hybrid_scores_are_ranks_so_no_cut_is_made(tagged_index: SkillIndex):
    sel = retrieve(tagged_index, [gap("counting objects", 5)], mode="hybrid", round=1, min_score_ratio=0.5)
    assert len(sel) == 5


def test_allowed_narrows_the_matches_and_the_next_best_fill_the_budget(tagged_index: SkillIndex):
    # cnt-1 is the best hit for "counting objects"; not allowed, the next two take its place (fetched in batches)
    sel = retrieve(
        tagged_index, [gap("counting objects", 2)], mode="bm25", round=1, allowed=lambda i: i != "cnt-1"
    )
    assert [s.support_id for s in sel] == ["cnt-3", "cnt-2"]
    none = retrieve(tagged_index, [gap("counting objects", 2)], mode="bm25", round=1, allowed=lambda i: False)
    assert none == []
