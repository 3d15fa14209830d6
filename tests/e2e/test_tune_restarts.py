"""LoRA restarts (`lora.restarts`): the round keeps the restart its validation split scores best, each restart is the
single run of its seed, and a killed tune resumes without retraining the restarts it finished."""

from __future__ import annotations

from pathlib import Path

from edtune import io, loop, stages
from edtune.layout import RunLayout
from edtune.runfiles import read_selections
from edtune.stages.restarts import restart_dir

from .conftest import make_config

WEIGHTS = "adapter_model.safetensors"


def _weights(uri: str) -> str:
    return io.sha256_uri(io.join(uri, WEIGHTS))


def test_restarts_keep_the_best_on_validation_and_each_is_the_single_run_of_its_seed(
    tmp_path: Path, tiny_world: Path, base_student: str, teacher_url: str, indexed_pool: dict
) -> None:
    milvus = indexed_pool["milvus_uri"]
    cfg = make_config(
        tmp_path / "restarts", tiny_world, base_student, teacher_url, milvus, lora__restarts=2, run_id="rs"
    )
    summary = loop.run(cfg)
    lay = RunLayout(cfg.run_uri)
    tuned = io.read_json(lay.tune_summary(1))
    rows = tuned["restarts"]
    assert [(x["restart"], x["seed"]) for x in rows] == [(0, cfg.seed + 1), (1, cfg.seed + 2)]
    best = max(rows, key=lambda x: (x["val_accuracy"], -x["restart"]))
    assert tuned["restart_chosen"] == best["restart"]
    # The evaluate stage scores the kept adapter on the same validation split: the same accuracy.
    assert summary.rounds[1].val_accuracy == best["val_accuracy"]
    kept = restart_dir(lay.round_dir(1), best["restart"])
    assert _weights(lay.adapter(1)) == _weights(io.join(kept, "adapter"))
    other = restart_dir(lay.round_dir(1), 1 - best["restart"])
    assert not io.list_uris(io.join(other, "adapter")), "the restarts not kept are deleted"
    assert io.exists(io.join(other, "score.json"))

    # Restart k is the single run (restarts = 1) of run seed cfg.seed + k: same selection, same seed, same weights.
    k = best["restart"]
    single = make_config(
        tmp_path / "single", tiny_world, base_student, teacher_url, milvus, seed=cfg.seed + k, run_id="one"
    )
    loop.run(single)
    one = RunLayout(single.run_uri)
    assert read_selections(one.selection(1)) == read_selections(lay.selection(1))
    assert _weights(one.adapter(1)) == _weights(lay.adapter(1))

    # A tune killed after one restart finished: the rerun trains only the other one and keeps the same choice.
    first_score = io.join(restart_dir(lay.round_dir(1), 0), "score.json")
    stamp = io.read_bytes(first_score)
    chosen_weights = _weights(lay.adapter(1))
    io.write_bytes(lay.marker(1, "tune"), b"{}")  # a marker of other inputs: the stage must run again
    for x in rows:
        if x["restart"] != 0:
            for uri in io.list_uris(restart_dir(lay.round_dir(1), x["restart"])):
                Path(io.parse(uri).local).unlink()
    again = stages.tune(cfg, 1)
    assert not again.skipped
    assert io.read_bytes(first_score) == stamp, "a finished restart is not retrained"
    assert io.read_json(lay.tune_summary(1))["restarts"] == rows
    assert _weights(lay.adapter(1)) == chosen_weights
