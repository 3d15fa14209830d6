"""The in-process loop over real parts: shipped tiny student, reference teacher over HTTP, Milvus Lite, local files."""

from __future__ import annotations

from pathlib import Path

from edtune import io, loop, stages
from edtune.layout import RunLayout
from edtune.runfiles import read_selections
from edtune.schemas import AdapterManifest, MistakeReport

from .conftest import make_config


def test_one_round_writes_the_run_layout_and_a_rerun_redoes_nothing(
    tmp_path: Path, tiny_world: Path, base_student: str, teacher_url: str, indexed_pool: dict
) -> None:
    cfg = make_config(tmp_path, tiny_world, base_student, teacher_url, indexed_pool["milvus_uri"])
    first = loop.run(cfg)
    lay = RunLayout(cfg.run_uri)
    for name in ("traces.jsonl", "test-traces.jsonl", "metrics.json"):
        assert io.exists(lay.file(0, name)), name
    for name in (
        "mistakes.jsonl",
        "gaps.json",
        "selection.jsonl",
        "replay.jsonl",
        "traces.jsonl",
        "metrics.json",
    ):
        assert io.exists(lay.file(1, name)), name
    assert io.list_uris(lay.adapter(1)), "round 1 adapter missing"
    assert all(not f.endswith(".bin") for f in io.list_uris(lay.adapter(1))), "adapters are safetensors only"
    reports = io.read_jsonl(lay.mistakes(1), MistakeReport, id_field="sample_id")
    assert len(reports) == first.rounds[0].mistakes, "every wrong validation sample gets a report"
    manifest = AdapterManifest.model_validate(io.read_json(first.manifest))
    assert manifest.best_round == first.best_round
    assert manifest.rounds[0].val_accuracy == first.val_accuracy_before
    if first.best_round:
        for rel, sha in manifest.files.items():
            assert io.sha256_uri(io.join(str(first.adapter), rel)) == sha
    assert Path(first.report).read_text().startswith("<!doctype html>")

    again = loop.run(cfg)
    assert again.stages_run == 0, "a rerun of a finished run must redo nothing"
    assert again.model_dump(exclude={"stages_run", "stages_skipped"}) == first.model_dump(
        exclude={"stages_run", "stages_skipped"}
    )


def test_an_unreachable_min_gain_stops_after_the_first_round(
    tmp_path: Path, tiny_world: Path, base_student: str, teacher_url: str, indexed_pool: dict
) -> None:
    cfg = make_config(
        tmp_path,
        tiny_world,
        base_student,
        teacher_url,
        indexed_pool["milvus_uri"],
        loop__max_rounds=3,
        loop__min_gain=1.0,
    )
    res = loop.run(cfg)
    assert [m.round for m in res.rounds] == [0, 1]
    assert "min_gain" in res.stopped_because


def test_support_samples_are_never_used_twice_across_rounds(
    tmp_path: Path, tiny_world: Path, base_student: str, teacher_url: str, indexed_pool: dict
) -> None:
    cfg = make_config(
        tmp_path,
        tiny_world,
        base_student,
        teacher_url,
        indexed_pool["milvus_uri"],
        loop__max_rounds=2,
        loop__min_gain=-1.0,
        # a budget the tiny pool can serve twice: every mistake of the base names the same gap, and the 600-sample
        # pool holds a few dozen samples for it, so round 1 at the default 48 (+12 replayed) would exhaust it
        loop__budget_per_round=20,
        # fill every budget from the whole ranking (no score cut, no answer space): this tiny pool's few close
        # matches of the gap all go in round 1 otherwise, and round 2 has nothing to select
        retrieval__answer_space=False,
        retrieval__min_score_ratio=0.0,
        lora__replay_fraction=0.2,  # replayed samples count as used too (replay is off by default)
    )
    loop.run(cfg)
    lay = RunLayout(cfg.run_uri)
    used: list[str] = []
    for r in (1, 2):
        assert read_selections(lay.selection(r)), f"round {r}: nothing selected (the pool ran out)"
        assert read_selections(lay.replay(r)), f"round {r}: replay asked for, none written"
        for uri in (lay.selection(r), lay.replay(r)):
            used += [s.support_id for s in read_selections(uri)]
    assert len(used) == len(set(used)) > 0
    assert stages.used_support_ids(cfg, 3) == set(used)
