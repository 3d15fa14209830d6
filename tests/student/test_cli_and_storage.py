"""The student CLI end to end, and checkpoints/adapters read from and written to S3 (moto on loopback)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from edtune.cli import main
from edtune.io import upload_dir, write_jsonl

from .conftest import cfg_for, support_samples, task_samples


def _run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> dict:
    rc = main(argv)
    out = capsys.readouterr().out
    assert rc == 0, out
    return json.loads(out.strip().splitlines()[-1])


def test_cli_builds_evaluates_and_tunes_with_json_output(
    tmp_path: Path, images: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    built = _run(["student", "tiny", "--family", "llava", "--out", str(tmp_path / "m"), "--json"], capsys)
    assert (Path(built["path"]) / "model.safetensors").is_file()
    task = tmp_path / "val.jsonl"
    write_jsonl(str(task), task_samples(images, 4))
    data = tmp_path / "support.jsonl"
    write_jsonl(str(data), support_samples(images, 4))
    common = ["--set", "student.family=llava", "--set", "student.max_new_tokens=8"]
    ev = _run(
        [
            "evaluate",
            "--student",
            built["path"],
            "--task",
            str(task),
            "--out",
            str(tmp_path / "ev"),
            "--json",
            *common,
        ],
        capsys,
    )
    assert ev["n"] == 4 and 0 <= ev["accuracy"] <= 1 and len(ev["ci95"]) == 2
    traces = (tmp_path / "ev" / "traces.jsonl").read_text().splitlines()
    assert [json.loads(t)["sample_id"] for t in traces] == ["t0", "t1", "t2", "t3"]
    assert json.loads((tmp_path / "ev" / "metrics.json").read_text())["n"] == 4
    tuned = _run(
        [
            "tune",
            "--student",
            built["path"],
            "--data",
            str(data),
            "--out",
            str(tmp_path / "ad"),
            "--json",
            *common,
            "--set",
            "lora.max_steps=2",
            "--set",
            "lora.batch_size=2",
        ],
        capsys,
    )
    assert tuned["steps"] == 2 and (tmp_path / "ad" / "adapter_model.safetensors").is_file()


def test_wrong_family_on_the_cli_exits_2_with_the_reason(
    tmp_path: Path, tiny_dirs: dict[str, Path], images: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    task = tmp_path / "val.jsonl"
    write_jsonl(str(task), task_samples(images, 1))
    rc = main(
        ["evaluate", "--student", str(tiny_dirs["llava"]), "--task", str(task), "--out", str(tmp_path / "o")]
    )
    assert rc == 2
    assert "model_type='llava'" in capsys.readouterr().err


def test_student_and_adapter_load_from_s3_into_a_sha_keyed_cache(
    s3_bucket: str, tiny_dirs: dict[str, Path], images: dict[str, str], tmp_path: Path
) -> None:
    from edtune.config import LoraConfig
    from edtune.student import load_student
    from edtune.student.checkpoint import write_manifest

    local = tmp_path / "base"
    import shutil

    shutil.copytree(tiny_dirs["qwen2-vl"], local)
    write_manifest(local)
    upload_dir(str(local), f"s3://{s3_bucket}/models/tiny")
    cache = tmp_path / "cache"
    st = load_student(f"s3://{s3_bucket}/models/tiny", cfg_for("qwen2-vl"), cache_dir=str(cache))
    assert st.base_dir.parent == cache / "models" and (st.base_dir / ".complete").is_file()
    res = st.tune(
        support_samples(images, 2), str(tmp_path / "ad"), LoraConfig(max_steps=2, batch_size=2, lr=1e-2)
    )
    upload_dir(res.adapter_dir, f"s3://{s3_bucket}/adapters/r1")
    tuned = load_student(
        f"s3://{s3_bucket}/models/tiny",
        cfg_for("qwen2-vl"),
        adapter=f"s3://{s3_bucket}/adapters/r1",
        cache_dir=str(cache),
    )
    assert tuned.base_dir == st.base_dir  # second load reuses the cache
    assert len(list(tuned.answer(task_samples(images, 2)))) == 2
