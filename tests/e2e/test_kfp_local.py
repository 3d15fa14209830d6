"""One real end-to-end run of the compiled pipeline's tasks through the KFP local runner, with the task, the pool
and the run output on a real S3 API (moto server on loopback)."""

from __future__ import annotations

from pathlib import Path

from edtune import io
from edtune.pipeline import run_local
from edtune.schemas import AdapterManifest

from .conftest import TASK, make_config


def test_pipeline_runs_in_the_kfp_local_runner_with_s3_paths(
    tmp_path: Path, tiny_world: Path, base_student: str, teacher_url: str, indexed_pool: dict, s3_bucket: str
) -> None:
    world_uri = f"s3://{s3_bucket}/world"
    io.copy_dir(str(tiny_world), world_uri)
    cfg = make_config(
        tmp_path,
        tiny_world,
        base_student,
        teacher_url,
        indexed_pool["milvus_uri"],
        run_id="kfp-local",
        output=f"s3://{s3_bucket}/runs",
        task={
            "name": TASK,
            "val": f"{world_uri}/tasks/{TASK}/val.jsonl",
            "test": f"{world_uri}/tasks/{TASK}/test.jsonl",
        },
        pool={
            "uri": f"{world_uri}/pool.jsonl",
            "skills": f"{world_uri}/pool.skills.jsonl",
            "milvus_uri": indexed_pool["milvus_uri"],
            "collection": "e2e_pool",
        },
    )
    res = run_local(cfg, tmp_path / "kfp-root")
    assert res.state == "SUCCEEDED" and res.final is not None
    manifest_uri = f"s3://{s3_bucket}/runs/kfp-local/final/manifest.json"
    manifest = AdapterManifest.model_validate(io.read_json(manifest_uri))
    assert [m.round for m in manifest.rounds] == [0, 1]
    assert io.exists(f"s3://{s3_bucket}/runs/kfp-local/round-01/selection.jsonl")
    assert io.exists(f"s3://{s3_bucket}/runs/kfp-local/final/report.html")
    # the KFP artifacts exist too: the Model mirrors the adapter, the HTML report and the manifest
    runs = [
        d for d in (tmp_path / "kfp-root").iterdir() if d.name != "logs"
    ]  # logs/: the condensed task logs
    assert len(runs) == 1
    assert any((tmp_path / "kfp-root" / "logs").glob("kfp-local-*.log")), (
        "the full task log is kept under the run"
    )
    assert (runs[0] / "tune-op" / "adapter" / "adapter_model.safetensors").is_file()
    assert (runs[0] / "finalize-op" / "report").read_text().startswith("<!doctype html>")
    assert (runs[0] / "finalize-op" / "manifest").is_file()
