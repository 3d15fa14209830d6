"""The oracle upper bound: the task's gap samples by the world's labels, at exactly the budget, never reused."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from benchmarks.driver import oracle_selection, task_family_selection
from benchmarks.per_task_worlds import markdown, summarise
from edtune import io
from edtune.config import RunConfig
from edtune.schemas import Selection
from edtune.stages import layout_of


def _pool(tmp: Path, n: int) -> Path:
    path = tmp / "pool.jsonl"
    rows = [
        {"id": f"p{i}", "conversations": [{"from": "human", "value": "q"}, {"from": "gpt", "value": "a"}]}
        for i in range(n)
    ]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def _cfg(tmp: Path, pool: Path, budget: int) -> RunConfig:
    cfg = RunConfig(output=str(tmp / "runs"), run_id="oracle")
    cfg.pool.uri = str(pool)
    cfg.loop.budget_per_round = budget
    return cfg


def _selected(cfg: RunConfig, r: int) -> list[str]:
    return [s.support_id for s in io.read_jsonl(layout_of(cfg).selection(r), Selection, id_field=None)]


def test_gap_samples_first_then_random_fill_to_the_budget(tmp_path: Path) -> None:
    pool = _pool(tmp_path, 30)
    gap = {f"p{i}" for i in (1, 4, 7, 9)}
    labels = {f"p{i}": {"skills": ["side"] if f"p{i}" in gap else ["color"]} for i in range(30)}
    cfg = _cfg(tmp_path, pool, budget=10)
    oracle_selection(cfg, 1, labels=labels, gap_skills={"side"})
    picked = _selected(cfg, 1)
    assert len(picked) == 10 and len(set(picked)) == 10
    assert set(picked[:4]) == gap  # every gap sample, then the fill
    cfg.loop.budget_per_round = 3  # fewer than the gap samples: only gap samples
    oracle_selection(cfg, 1, labels=labels, gap_skills={"side"})
    assert set(_selected(cfg, 1)) < gap


def test_a_later_round_never_reuses_what_an_earlier_one_tuned_on(tmp_path: Path) -> None:
    pool = _pool(tmp_path, 12)
    labels = {f"p{i}": {"skills": ["side"]} for i in range(12)}
    cfg = _cfg(tmp_path, pool, budget=5)
    oracle_selection(cfg, 1, labels=labels, gap_skills={"side"})
    oracle_selection(cfg, 2, labels=labels, gap_skills={"side"})
    assert not set(_selected(cfg, 1)) & set(_selected(cfg, 2))


def test_the_task_family_bound_takes_only_the_family_repeated_to_the_budget_and_never_reuses(
    tmp_path: Path,
) -> None:
    pool = _pool(tmp_path, 20)
    own = {"p2", "p5", "p11"}
    labels = {
        f"p{i}": {"families": ["side_color", "color"] if f"p{i}" in own else ["side", "color"]}
        for i in range(20)
    }
    cfg = _cfg(tmp_path, pool, budget=7)
    task_family_selection(cfg, 1, labels=labels, families={"side_color"})
    picked = _selected(cfg, 1)
    assert len(picked) == 7 and set(picked) == own  # the same steps as any selector: the family, repeated
    with pytest.raises(ValueError, match="no unused sample of the families"):
        task_family_selection(cfg, 2, labels=labels, families={"side_color"})  # round 1 used all of them


def test_a_table_without_random_gives_no_verdict_and_shows_the_oracle_share() -> None:
    studies = []
    for seed in (1, 2, 3):
        studies.append(
            {
                "world_seed": seed,
                "settings": {"test_size": 12},
                "aggregate": {
                    "left-right": {s: {"200": {"accuracy": {"mean": 0.6}}} for s in ("error-bm25", "oracle")}
                },
                "rows": [
                    {
                        "task": "left-right",
                        "selector": "oracle",
                        "coverage": {"n": 10, "gap_skill_share": 1.0},
                    }
                ],
            }
        )
    out = summarise(studies)
    assert "meets" not in out["tasks"]["left-right"] and out["tasks_meeting"] == 0
    table = markdown(out, ["error-bm25", "oracle"])
    row = table.splitlines()[2]
    assert "| – | – | – |" in row and row.endswith("| 100% (100%–100%) |")
