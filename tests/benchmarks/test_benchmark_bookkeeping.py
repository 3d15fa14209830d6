"""The study harness's bookkeeping on tiny hand-made inputs: budgets, equal steps, coverage, aggregation, plots,
and the known-wrong-step traces the mistake-identification benchmark relies on."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from benchmarks import common
from benchmarks.ablations import ranked
from benchmarks.study_report import Settings, aggregate

LABELS = {
    "a": {"family": "side", "families": ["side"], "skills": ["spatial relations left right"]},
    "b": {"family": "color", "families": ["color"], "skills": ["color recognition"]},
    "c": {
        "family": "side_color",
        "families": ["side_color"],
        "skills": ["spatial relations left right", "color recognition"],
    },
    "d": {"family": "caption", "families": ["caption"], "skills": ["scene description"]},
}


@pytest.mark.parametrize(
    ("pool", "fractions", "expected"),
    [
        (2000, [0.01, 0.03, 0.1], [20, 60, 200]),
        (10, [0.01, 0.02], [1]),  # at least one sample, duplicates merged
        (1000, [0.1, 0.01], [10, 100]),  # ascending whatever the order asked
    ],
)
def test_budgets_are_pool_fractions_rounded_deduplicated_and_sorted(
    pool: int, fractions: list[float], expected: list[int]
) -> None:
    assert common.budgets_for(pool, fractions) == expected


@pytest.mark.parametrize(
    ("n", "replay", "batch", "epochs", "expected"),
    [
        (80, 0.2, 8, 1.0, 13),  # 80 + 20 replay = 100 samples -> 12.5 -> 13 steps
        (80, 0.0, 8, 3.0, 30),
        (1, 0.2, 8, 1.0, 1),  # never zero steps
    ],
)
def test_lora_steps_depend_only_on_budget_replay_batch_and_epochs(
    n: int, replay: float, batch: int, epochs: float, expected: int
) -> None:
    assert common.steps_for(n, replay_fraction=replay, batch_size=batch, epochs=epochs) == expected


@pytest.mark.parametrize(("total", "parts"), [(60, 1), (60, 2), (61, 3), (2, 3)])
def test_multi_round_split_keeps_the_total_and_differs_by_at_most_one(total: int, parts: int) -> None:
    split = common.split_evenly(total, parts)
    assert len(split) == parts and sum(split) == total and max(split) - min(split) <= 1


COVERAGE_CASES = [
    # (selected, family share, skill share, gap-skill share) for the left-right task (family side)
    (["a", "a", "b", "d"], 0.5, 0.5, 0.5),
    (["c"], 0.0, 1.0, 1.0),  # teaches left/right inside another family: skill, not family
    (["b", "d", "unknown"], 0.0, 0.0, 0.0),  # ids missing from the sidecar count as not relevant
]


@pytest.mark.parametrize(("selected", "fam", "skill", "gap"), COVERAGE_CASES)
def test_coverage_counts_shares_of_selected_samples_by_the_sidecar(
    selected: list[str], fam: float, skill: float, gap: float
) -> None:
    cov = common.coverage(
        selected,
        LABELS,
        common.task_families("left-right"),
        common.task_skills("left-right"),
        common.task_gap_skills("left-right"),
    )
    assert (cov.n, cov.family_share, cov.skill_share, cov.gap_skill_share) == (len(selected), fam, skill, gap)


def test_gap_skills_of_a_task_are_the_canonical_skills_of_its_gap_families() -> None:
    assert common.task_gap_skills("color-by-side") == {"spatial relations left right"}
    assert common.task_gap_skills("count-by-side") == {"spatial relations left right"}


def test_stat_is_mean_and_sample_std_ignoring_missing_values() -> None:
    s = common.stat([0.5, None, 0.7])
    assert s.n == 2 and s.mean == pytest.approx(0.6) and s.std == pytest.approx(0.1414213, rel=1e-5)
    assert common.stat([]).mean is None and common.fmt(common.stat([])) == "–"
    assert common.fmt(common.stat([0.25])) == "25.0"


def _row(sel: str, budget: int | None, seed: int, acc: float) -> dict:
    return {
        "task": "left-right",
        "selector": sel,
        "budget": budget,
        "seed": seed,
        "test_accuracy": acc,
        "test_by_round": [0.0, acc],
        "coverage": {"family_share": 1.0, "skill_share": 1.0, "gap_skill_share": 1.0},
    }


def _settings(selectors: list[str]) -> Settings:
    """One task, one 10% budget of a 100-sample pool, seeds 0 and 1."""
    return Settings(
        tasks=["left-right"],
        fractions=[0.1],
        seeds=[0, 1],
        selectors=selectors,
        pool_size=100,
        val_size=1,
        test_size=1,
        epochs=1,
        full_pool_max_steps=1,
        lora_lr=1e-3,
        lora_batch=8,
        replay_fraction=0.2,
        max_minutes=1,
    )


def test_aggregate_pairs_gain_over_random_by_seed_and_scales_by_full_pool() -> None:
    s = _settings(["random", "error-hybrid", "full-pool"])
    rows = [
        _row("random", 10, 0, 0.5),
        _row("random", 10, 1, 0.3),
        _row("error-hybrid", 10, 0, 0.9),
        _row("error-hybrid", 10, 1, 0.5),
        _row("full-pool", None, 0, 0.8),
        _row("full-pool", None, 1, 0.8),
    ]
    agg = aggregate(rows, s, [10])["left-right"]
    ed = agg["error-hybrid"]["10"]
    assert ed["accuracy"]["mean"] == pytest.approx(0.7)
    assert ed["gain_over_random"]["values"] == pytest.approx([0.4, 0.2])  # paired by seed
    assert ed["fraction_of_full_pool"] == pytest.approx(0.7 / 0.8)
    assert agg["full-pool"]["10"]["accuracy"]["mean"] == pytest.approx(
        0.8
    )  # budget-free: shown at every budget
    assert ed["ll_accuracy"] is None  # no row recorded choice log-likelihood


def test_log_likelihood_accuracy_is_aggregated_and_shown_beside_generated_accuracy() -> None:
    from benchmarks.study_report import markdown

    s = _settings(["random", "error-bm25"])
    rows = [
        {**_row("random", 10, 0, 0.5), "test_ll_accuracy": 0.6},
        {**_row("random", 10, 1, 0.3), "test_ll_accuracy": None},  # not scored: left out of the mean
        {**_row("error-bm25", 10, 0, 0.9), "test_ll_accuracy": 0.8},
        {**_row("error-bm25", 10, 1, 0.5), "test_ll_accuracy": 0.6},
    ]
    agg = aggregate(rows, s, [10])
    assert agg["left-right"]["error-bm25"]["10"]["ll_accuracy"]["mean"] == pytest.approx(0.7)
    assert agg["left-right"]["random"]["10"]["ll_accuracy"]["mean"] == pytest.approx(0.6)
    prov = {"command": "x", "date": "d", "git_commit": "abc", "machine": {"cpus": 2, "gpu": None}}
    data = {"settings": s.model_dump(), "budgets": [10], "quick": False, "provenance": prov, "aggregate": agg}
    text = markdown(data)
    ll_part = text.split("The same by choice log-likelihood")[1].split("Gain over random")[0]
    assert "| error-bm25 | 70.0" in ll_part and "| random | 60.0" in ll_part


def test_ranked_orders_variants_and_marks_ties() -> None:
    got = ranked({"random": 0.3, "full": 0.5, "no-mistake-id": 0.5, "judge": 0.9})
    assert got == "full (50.0) = no-mistake-id (50.0) > random (30.0)"  # judge is not in the paper's ablation


def test_plot_is_a_png_with_one_panel_per_task(tmp_path: Path) -> None:
    from PIL import Image

    out = tmp_path / "p.png"
    common.line_plot_png(out, [("a", {"x": [(1, 0.2, 0.1), (3, 0.5, 0.0)]}), ("b", {"x": [(1, 0.9, 0.0)]})])
    img = Image.open(out)
    assert img.format == "PNG" and img.width == 2 * 420


def test_injected_traces_name_the_step_and_the_skill_they_broke() -> None:
    from edtune.shapes.world.families import check_steps
    from edtune.shapes.world.inject import injected_traces
    from edtune.shapes.world.tasks import TASKS

    spec = TASKS["count-by-side"]
    for scene, q, k, steps, skill in injected_traces(30, "bookkeeping", ["side_count"], spec.wordings):
        assert q.question.startswith("In the ")  # the task's own wording
        step, verdict = check_steps(steps, scene, q.family)
        assert step == k and verdict is not None and verdict.skill == skill


def test_budget_plot_merges_studies_run_one_budget_at_a_time(tmp_path: Path) -> None:
    """The accuracy-vs-budget plot is drawn from several results files; it keeps every budget, prefers the cell
    with more seeds, and refuses studies whose budgets are fractions of different pools."""
    from benchmarks.study_report import merge_budgets, plot

    def study(pool: int, budget: str, n: int, mean: float) -> dict[str, Any]:
        acc = {"mean": mean, "std": 0.0, "n": n, "values": [mean] * n}
        return {
            "settings": {"pool_size": pool},
            "aggregate": {"t": {"error-bm25": {budget: {"accuracy": acc, "test_by_round": [0.0, mean]}}}},
        }

    merged = merge_budgets(
        [study(1000, "10", 3, 0.2), study(1000, "100", 1, 0.5), study(1000, "100", 3, 0.6)]
    )
    cells = merged["aggregate"]["t"]["error-bm25"]
    assert sorted(cells, key=int) == ["10", "100"]
    assert cells["100"]["accuracy"]["mean"] == 0.6
    plot(merged, tmp_path / "budgets.png")
    assert (tmp_path / "budgets.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with pytest.raises(ValueError, match="pool sizes"):
        merge_budgets([study(1000, "10", 3, 0.2), study(2000, "20", 3, 0.2)])


def _study_file(seeds: list[int], selectors: dict[str, dict[int, float]], **settings: Any) -> dict[str, Any]:
    """A results file as one study process writes it: rows per (selector, seed) at one budget of a 1000 pool."""
    from benchmarks.study_report import BUDGET_FREE, Settings, complete

    rows = [
        {
            "task": "t",
            "selector": sel,
            "budget": None if sel in BUDGET_FREE else 30,
            "seed": seed,
            "test_accuracy": acc,
            "test_by_round": [0.0, acc],
            "coverage": None,
        }
        for sel, by_seed in selectors.items()
        for seed, acc in by_seed.items()
    ]
    s = Settings(
        tasks=["t"],
        fractions=[0.03],
        seeds=seeds,
        selectors=list(selectors),
        pool_size=1000,
        val_size=10,
        test_size=10,
        epochs=3.0,
        full_pool_max_steps=settings.get("full_pool_max_steps", 0),
        lora_lr=settings.get("lora_lr", 3e-3),
        lora_restarts=settings.get("lora_restarts", 1),
        lora_batch=8,
        replay_fraction=0.0,
        max_minutes=60.0,
    )
    prov = {
        "git_commit": "c0ffee",
        "git_dirty": False,
        "date": "d",
        "command": "python -m x",
        "base_student": "b",
    }
    return complete(
        {
            "quick": False,
            "settings": s.model_dump(),
            "budgets": [30],
            "provenance": prov,
            "pool": {},
            "wall_s": 1.0,
            "incomplete": "stopped early" if len(rows) < len(seeds) * len(selectors) else None,
            "rows": rows,
        }
    )


def test_merged_seed_ranges_pair_gains_over_every_seed_and_refuse_what_does_not_belong_together() -> None:
    """Seeds run in separate processes (--first-seed) merge into one file whose paired interval spans all
    seeds; a run missing from one file but present in another is not reported missing; a run in two files must
    agree; files whose settings change what a run means are refused, naming the file."""
    from benchmarks.study_report import merge_studies

    a = _study_file([0, 1], {"none": {0: 0.1, 1: 0.1}, "random": {0: 0.2, 1: 0.3}, "error-bm25": {0: 0.5}})
    b = _study_file([2], {"none": {2: 0.1}, "random": {2: 0.2}, "error-bm25": {2: 0.6}})
    c = _study_file(
        [1], {"error-bm25": {1: 0.7}, "random": {1: 0.3}}
    )  # fills a's missing run, agrees on random
    assert a["incomplete"] and a["summary"]["per_task"]["t"]["vs_random"]["n"] == 1
    merged = merge_studies({"a": a, "b": b, "c": c}, "python -m benchmarks.data_efficiency --merge m a b c")
    gain = merged["summary"]["per_task"]["t"]["vs_random"]
    assert gain["n"] == 3 and gain["mean"] == pytest.approx((0.3 + 0.4 + 0.4) / 3, abs=1e-4)
    assert gain["ci95"] is not None and gain["ci95"][0] > 0
    assert merged["settings"]["seeds"] == [0, 1, 2] and merged["incomplete"] is None
    assert len(merged["rows"]) == 9  # c's random seed 1 equals a's: kept once
    assert [m["name"] for m in merged["provenance"]["merged_from"]] == ["a", "b", "c"]
    assert merged["provenance"]["git_commit"] == "c0ffee"

    short = merge_studies({"a": a, "b": b}, "m")
    assert (
        short["incomplete"].startswith("1 of 9 runs missing") and "t/error-bm25/30/1" in short["incomplete"]
    )
    with pytest.raises(ValueError, match="c and d disagree on run"):
        merge_studies({"c": c, "d": _study_file([1], {"random": {1: 0.9}})}, "m")
    with pytest.raises(ValueError, match=r"lr: settings differ from a: \{'lora_lr'"):
        merge_studies({"a": a, "lr": _study_file([2], {"random": {2: 0.2}}, lora_lr=1e-3)}, "m")
    with pytest.raises(ValueError, match=r"k2: settings differ from a: \{'lora_restarts': \[1, 2\]"):
        merge_studies({"a": a, "k2": _study_file([2], {"random": {2: 0.2}}, lora_restarts=2)}, "m")
    capped = _study_file([0], {"full-pool-es": {0: 0.4}}, full_pool_max_steps=100)
    other_cap = _study_file([1], {"full-pool-es": {1: 0.4}}, full_pool_max_steps=200)
    with pytest.raises(ValueError, match="capped differently"):
        merge_studies({"x": capped, "y": other_cap}, "m")


def test_runs_with_restarts_get_their_own_directories_and_the_report_says_so() -> None:
    from benchmarks.data_efficiency import run_name
    from benchmarks.study_report import markdown

    assert run_name("left-right", "error-bm25", 200, 0) == "left-right-error-bm25-b200-s0"
    assert run_name("left-right", "error-bm25", 200, 0, restarts=4) == "left-right-error-bm25-b200-s0-k4"
    assert run_name("left-right", "none", None, 0, restarts=4) == "left-right-none-bna-s0"  # nothing tuned
    s = _settings(["random"]).model_copy(update={"lora_restarts": 4})
    prov = {"command": "x", "date": "d", "git_commit": "abc", "machine": {"cpus": 2, "gpu": None}}
    agg = aggregate([_row("random", 10, 0, 0.5)], s, [10])
    data = {"settings": s.model_dump(), "budgets": [10], "quick": False, "provenance": prov, "aggregate": agg}
    assert "best of 4 restarts on validation" in markdown(data)
    assert "restarts" not in markdown({**data, "settings": _settings(["random"]).model_dump()})


def test_a_candidate_base_is_recorded_by_its_manifest_and_never_mixed_into_another_bases_workdir(
    tmp_path: Path,
) -> None:
    """`--base-student` tunes a candidate base instead of the shipped one: its fingerprint is its manifest's
    sha256, a directory without a manifest is refused, and a workdir whose snapshot is another base is refused
    before anything runs (its cached runs belong to that base)."""
    import json
    import shutil

    from benchmarks.data_efficiency import main
    from benchmarks.study import code_stamp, study
    from edtune.shapes.world.generate import generate_world

    a, b = tmp_path / "a", tmp_path / "b"
    for d, text in ((a, "one"), (b, "two")):
        d.mkdir()
        (d / "manifest.json").write_text(json.dumps({"files": text}))
    assert (
        common.base_fingerprint(a) != common.base_fingerprint(b) and common.base_fingerprint(tmp_path) is None
    )
    with pytest.raises(SystemExit):
        main(["--base-student", str(tmp_path), "--allow-dirty", "--workdir", str(tmp_path / "w")])

    work = tmp_path / "work"
    generate_world(work / "world", seed=0, pool_size=20, val_size=4, test_size=4)
    spec = {
        "pool_size": 20,
        "val_size": 4,
        "test_size": 4,
        "seed": 0,
        "code": code_stamp(),
        "noise": "realistic",
    }
    (work / "world.spec.json").write_text(json.dumps(spec))
    shutil.copytree(a, work / "base-student")
    with (
        pytest.raises(ValueError, match="another base student"),
        study(work, pool_size=20, val_size=4, test_size=4, base_student=str(b)),
    ):
        pass
    assert (work / "world" / "world.json").is_file()  # refused without touching the workdir
