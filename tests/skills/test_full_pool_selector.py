"""The full-pool baseline (`retrieval.selector=all`) trains on the whole pool in every round.

Why: rounds of the full pool are its epochs (the study's early-stopped full pool keeps the best of 3). The rule
that a sample is never tuned on twice holds for every other selector; applied to "all" it left round 2 empty.
"""

from __future__ import annotations

from pathlib import Path

from edtune.datasets import iter_support
from edtune.shapes.demo import world_config
from edtune.shapes.world.generate import generate_world
from edtune.stages import layout_of, read_selections
from edtune.stages.selection import retrieve


def test_every_round_of_the_full_pool_selects_the_whole_pool(tmp_path: Path) -> None:
    world = tmp_path / "world"
    generate_world(str(world), seed=0, pool_size=60, val_size=10, test_size=10)
    overrides = {"retrieval": {"selector": "all"}, "lora": {"replay_fraction": 0.0}, "run_id": "full-pool"}
    cfg = world_config(
        tmp_path, world, "unused-base", "http://127.0.0.1:9", "left-right", overrides=overrides
    )
    pool_ids = {s.id for s in iter_support(str(world / "pool.jsonl"))}
    layout = layout_of(cfg)
    for r in (1, 2):
        retrieve(cfg, r)
        assert {s.support_id for s in read_selections(layout.selection(r))} == pool_ids, f"round {r}"
