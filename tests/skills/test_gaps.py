"""Skill-gap normalisation: near-duplicate names merge, distinct skills stay apart, order is deterministic."""

from __future__ import annotations

import pytest

from edtune.schemas import MissingSkill, MistakeReport
from edtune.skills.embed import Embedder
from edtune.skills.gaps import merge_gaps, normalise


def report(sid: str, *names: str, status: str = "diagnosed") -> MistakeReport:
    if status != "diagnosed":
        return MistakeReport(sample_id=sid, status="undiagnosed", reason="no reply")
    return MistakeReport(
        sample_id=sid,
        erroneous_step=1,
        missing_skills=[MissingSkill(name=n, description=f"about {n}") for n in names],
    )


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("Colour recognition.", "color recognition"),
        ("left-right  relations", "left right relations"),
        ("GREY shades", "gray shades"),
    ],
)
def test_normal_form_folds_case_punctuation_and_spelling(a: str, b: str):
    assert normalise(a) == normalise(b)


def test_colour_and_color_merge_and_distinct_skills_stay_apart(embedder: Embedder):
    reports = [
        report("v1", "colour recognition"),
        report("v2", "color recognition"),
        report("v3", "color recognition"),
        report("v4", "counting objects"),
        report("v5", "object counting"),
        report("v6", "shape recognition"),
        report("v7", "left right relations"),
        report("v8", "x", status="undiagnosed"),
    ]
    gaps = merge_gaps(reports, threshold=0.85, embedder=embedder)
    assert [(g.skill, g.count) for g in gaps] == [
        ("color recognition", 3),
        ("counting objects", 2),
        ("left right relations", 1),
        ("shape recognition", 1),
    ]
    assert gaps[0].examples == ["v1", "v2", "v3"]
    assert gaps[0].description == "about color recognition"


def test_embedding_merge_needs_the_embedder_and_the_threshold(embedder: Embedder):
    reports = [report("v1", "counting objects"), report("v2", "object counting")]
    assert len(merge_gaps(reports, threshold=0.85, embedder=None)) == 2  # string normal form only
    assert len(merge_gaps(reports, threshold=0.999, embedder=embedder)) == 2
    assert len(merge_gaps(reports, threshold=0.85, embedder=embedder)) == 1


def test_a_report_naming_two_variants_of_one_gap_counts_once(embedder: Embedder):
    gaps = merge_gaps(
        [report("v1", "colour naming"), report("v1", "color naming")], threshold=0.85, embedder=embedder
    )
    assert [(g.count, g.examples) for g in gaps] == [(1, ["v1"])]


def test_merge_is_deterministic_under_input_order(embedder: Embedder):
    reports = [
        report(f"v{i}", n)
        for i, n in enumerate(["size comparison", "colour naming", "color naming", "counting"])
    ]
    a = merge_gaps(reports, threshold=0.85, embedder=embedder)
    b = merge_gaps(list(reversed(reports)), threshold=0.85, embedder=embedder)
    assert [(g.skill, g.count, sorted(g.examples)) for g in a] == [
        (g.skill, g.count, sorted(g.examples)) for g in b
    ]
    assert merge_gaps([], threshold=0.85, embedder=embedder) == []


def test_merged_gap_keeps_its_other_spellings_as_aliases_for_bm25(embedder: Embedder):
    gaps = merge_gaps(
        [report("v1", "colour naming"), report("v2", "color naming"), report("v3", "Color naming!")],
        threshold=0.85,
        embedder=embedder,
    )
    assert [(g.skill, g.aliases) for g in gaps] == [("color naming", ["Color naming!", "colour naming"])]


def test_teacher_groups_merge_paraphrases_that_the_embedding_cannot(embedder: Embedder):
    """Side paraphrases share no words; "horizontal" is nearer "vertical" in MiniLM than any side paraphrase."""
    reports = [
        report("v1", "left/right localisation"),
        report("v2", "horizontal position of objects"),
        report("v3", "spatial relations (left vs right)"),
        report("v4", "vertical position of objects"),
        report("v5", "left/right localisation"),
        report("v6", "object size"),
    ]
    groups = [
        ["left/right localisation", "horizontal position of objects", "spatial relations (left vs right)"],
        ["vertical position of objects"],
        ["object size"],
    ]
    by_embedding = merge_gaps(reports, threshold=0.85, embedder=embedder)
    assert {"horizontal position of objects", "left/right localisation"} & {g.skill for g in by_embedding}
    assert len(by_embedding) >= 4  # the side paraphrases stay apart (or join "vertical")

    gaps = merge_gaps(reports, threshold=0.85, embedder=embedder, groups=groups)
    assert [(g.skill, g.count) for g in gaps] == [
        ("left/right localisation", 4),
        ("object size", 1),
        ("vertical position of objects", 1),
    ]
    assert gaps[0].aliases == ["horizontal position of objects", "spatial relations (left vs right)"]
    assert gaps[0].examples == ["v1", "v2", "v3", "v5"]


def test_names_the_teacher_did_not_group_stay_apart():
    reports = [
        report("v1", "counting objects"),
        report("v2", "object counting"),
        report("v3", "shape naming"),
    ]
    gaps = merge_gaps(reports, threshold=0.0, embedder=None, groups=[["counting objects"]])
    assert sorted(g.skill for g in gaps) == ["counting objects", "object counting", "shape naming"]
