"""The per-task table over worlds: medians over world seeds, each world's own floors, and the verdict per task."""

from __future__ import annotations

import pytest

from benchmarks.per_task_worlds import markdown, split_floors, summarise


def _study(seed: int, acc: dict[str, dict[str, float]]) -> dict:
    return {
        "world_seed": seed,
        "settings": {"test_size": 12},
        "aggregate": {
            task: {sel: {"200": {"accuracy": {"mean": v}}} for sel, v in by_sel.items()}
            for task, by_sel in acc.items()
        },
    }


def test_floors_are_the_regenerated_splits_own() -> None:
    chance, constant = split_floors("left-right", 1, 12)
    assert chance == pytest.approx(0.5) and constant == pytest.approx(0.5)  # balanced answers and letters
    chance, _ = split_floors("color-by-side", 1, 12)
    assert chance < 0.5  # four options


def test_medians_ranges_and_the_verdict_per_task() -> None:
    studies = [
        _study(
            1,
            {
                "left-right": {"none": 0.5, "error-bm25": 0.9, "random": 0.6},
                "size-check": {"error-bm25": 0.7, "random": 0.65},
            },
        ),
        _study(
            2,
            {
                "left-right": {"none": 0.4, "error-bm25": 0.7, "random": 0.5},
                "size-check": {"error-bm25": 0.8, "random": 0.5},
            },
        ),
        _study(
            3,
            {
                "left-right": {"none": 0.6, "error-bm25": 0.8, "random": 0.9},
                "size-check": {"error-bm25": 0.9, "random": 0.55},
            },
        ),
    ]
    out = summarise(studies)
    lr = out["tasks"]["left-right"]
    assert lr["median"]["error-bm25"] == pytest.approx(0.8) and lr["range"]["random"] == [0.5, 0.9]
    assert lr["over_random"] == pytest.approx(0.2) and lr["over_chance"] == pytest.approx(0.3) and lr["meets"]
    sc = out["tasks"]["size-check"]
    assert (
        sc["over_random"] == pytest.approx(0.25) and sc["over_chance"] == pytest.approx(0.3) and sc["meets"]
    )
    studies[0]["aggregate"]["left-right"]["random"]["200"]["accuracy"]["mean"] = 0.75  # random median 0.75
    out = summarise(studies)
    assert not out["tasks"]["left-right"]["meets"] and out["tasks_meeting"] == 1
    table = markdown(out, ["none", "error-bm25", "random"])
    assert "| `left-right` |" in table and table.count("| yes |") == 1 and table.count("| no |") == 1


def test_the_share_of_picks_teaching_the_gap_is_the_seeds_mean_then_the_worlds_median() -> None:
    studies = []
    for seed, shares in ((1, (0.2, 0.4)), (2, (0.5, 0.5)), (3, (0.9, 0.7))):
        study = _study(seed, {"left-right": {"error-bm25": 0.9, "random": 0.6}})
        study["rows"] = [
            {"task": "left-right", "selector": "error-bm25", "coverage": {"n": 10, "gap_skill_share": v}}
            for v in shares
        ] + [
            {"task": "left-right", "selector": "random", "coverage": {"n": 10, "gap_skill_share": 0.05}},
            {"task": "left-right", "selector": "none", "coverage": None},
        ]
        studies.append(study)
    entry = summarise(studies)["tasks"]["left-right"]
    assert entry["median"]["gap_share:error-bm25"] == pytest.approx(0.5)  # world means 0.3, 0.5, 0.8
    assert entry["range"]["gap_share:error-bm25"] == pytest.approx([0.3, 0.8])
    assert "gap_share:none" not in entry["median"]
    row = markdown(summarise(studies), ["error-bm25", "random"]).splitlines()[2]
    assert row.endswith("| 50% (30%–80%) / 5% (5%–5%) |"), row


def test_a_study_with_two_budgets_is_refused() -> None:
    study = _study(1, {"left-right": {"error-bm25": 0.9}})
    study["aggregate"]["left-right"]["error-bm25"]["400"] = {"accuracy": {"mean": 0.1}}
    with pytest.raises(ValueError, match="one budget"):
        summarise([study])


def test_a_later_study_of_a_world_replaces_its_selectors_and_keeps_the_earlier_figures(tmp_path, monkeypatch):
    import json

    import benchmarks.per_task_worlds as ptw

    monkeypatch.setattr(ptw, "RESULTS", tmp_path)
    first = _study(1, {"left-right": {"none": 0.5, "error-bm25": 0.6, "random": 0.2}})
    first["settings"]["selectors"] = ["none", "error-bm25", "random"]
    first["rows"] = [
        {"task": "left-right", "selector": "error-bm25", "coverage": {"n": 1, "gap_skill_share": 0.5}}
    ]
    first["provenance"] = {"git_commit": "a" * 40}
    later = _study(1, {"left-right": {"error-bm25": 0.9}})
    later["settings"]["selectors"] = ["error-bm25"]
    later["rows"] = [
        {"task": "left-right", "selector": "error-bm25", "coverage": {"n": 1, "gap_skill_share": 1.0}}
    ]
    later["provenance"] = {"git_commit": "b" * 40}
    (tmp_path / "w1.json").write_text(json.dumps(first))
    (tmp_path / "w1-new.json").write_text(json.dumps(later))
    study, sources = ptw.load_world("w1+w1-new")
    acc = ptw.accuracies(study)["left-right"]
    assert acc == {"none": 0.5, "error-bm25": 0.9, "error-bm25, earlier": 0.6, "random": 0.2}
    assert ptw.gap_shares(study)["left-right"]["gap_share:error-bm25"] == 1.0
    assert [s["provenance"]["git_commit"] for s in sources] == ["a" * 40, "b" * 40]
    later["world_seed"] = 2
    (tmp_path / "w1-new.json").write_text(json.dumps(later))
    with pytest.raises(ValueError, match="different world seeds"):
        ptw.load_world("w1+w1-new")


def test_a_later_study_of_some_tasks_adds_its_selector_and_may_not_add_tasks(tmp_path, monkeypatch):
    import json

    import benchmarks.per_task_worlds as ptw

    monkeypatch.setattr(ptw, "RESULTS", tmp_path)
    both = {"left-right": {"none": 0.5, "error-bm25": 0.6, "random": 0.2}, "size-check": {"none": 0.5}}
    first = {**_study(1, both), "rows": [], "provenance": {}}
    first["settings"].update(tasks=["left-right", "size-check"], selectors=["none", "error-bm25", "random"])
    bound = {**_study(1, {"size-check": {"oracle-task": 0.7}}), "rows": [], "provenance": {}}
    bound["settings"].update(tasks=["size-check"], selectors=["oracle-task"])
    (tmp_path / "w1.json").write_text(json.dumps(first))
    (tmp_path / "w1-bound.json").write_text(json.dumps(bound))
    study, _ = ptw.load_world("w1+w1-bound")
    assert ptw.accuracies(study)["size-check"] == {"none": 0.5, "oracle-task": 0.7}
    table = markdown(summarise([study]), ["none", "error-bm25", "random", "oracle-task"])
    assert "the task's own family (upper bound)" in table
    assert "| `left-right` |" in table and "0.200 (0.200–0.200) | – |" in table  # no bound there: a dash
    bound["settings"]["tasks"] = ["size-check", "count-by-side"]
    (tmp_path / "w1-bound.json").write_text(json.dumps(bound))
    with pytest.raises(ValueError, match="not tasks"):
        ptw.load_world("w1+w1-bound")


def test_log_likelihood_figures_get_their_own_medians_and_verdict_beside_generated_ones() -> None:
    studies = []
    for seed, (mine, rnd) in ((1, (0.6, 0.3)), (2, (0.7, 0.4)), (3, (0.4, 0.5))):
        study = _study(seed, {"left-right": {"error-bm25": 0.5, "random": 0.5}})
        study["rows"] = [
            {"task": "left-right", "selector": "error-bm25", "test_ll_accuracy": mine},
            {"task": "left-right", "selector": "random", "test_ll_accuracy": rnd},
            {"task": "left-right", "selector": "none", "test_ll_accuracy": None},  # not scored: no column
        ]
        studies.append(study)
    out = summarise(studies)
    entry = out["tasks"]["left-right"]
    assert entry["median"]["ll:error-bm25"] == pytest.approx(0.6) and "ll:none" not in entry["median"]
    # generated: no lift over random; log-likelihood: +0.20 over random, +0.10 over chance (0.5): still short
    assert not entry["meets"] and entry["over_random_ll"] == pytest.approx(0.2)
    assert entry["over_chance_ll"] == pytest.approx(0.1) and not entry["meets_ll"]
    assert (out["tasks_meeting_ll"], out["tasks_total_ll"]) == (0, 1)
    studies[0]["rows"][0]["test_ll_accuracy"] = studies[1]["rows"][0]["test_ll_accuracy"] = 0.9
    again = summarise(studies)
    assert again["tasks"]["left-right"]["meets_ll"] and again["tasks_meeting_ll"] == 1
    table = markdown(again, ["none", "error-bm25", "random"])
    assert "– / 0.900 (0.400–0.900) / 0.400 (0.300–0.500)" in table
