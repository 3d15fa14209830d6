"""`edtune adapters merge`: a verified LoRA folded into the tiny base is a checkpoint plain transformers loads,
and it answers exactly as base + adapter on 20 samples of a task."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


def random_lora(base: str, out: Path) -> Path:
    """A real peft LoRA on the tiny base with non-zero B (so it changes outputs), plus its manifest."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForImageTextToText

    from edtune.student.checkpoint import write_manifest

    torch.manual_seed(0)
    model = AutoModelForImageTextToText.from_pretrained(base, use_safetensors=True)
    cfg = LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"], init_lora_weights=False)
    get_peft_model(model, cfg).save_pretrained(str(out), safe_serialization=True)
    write_manifest(out)
    return out


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path | str]:
    from edtune.shapes.student.base import ensure_base_student
    from edtune.shapes.world.generate import generate_world

    root = tmp_path_factory.mktemp("merge")
    world = root / "world"
    generate_world(str(world), seed=5, pool_size=4, val_size=20, test_size=1, progress=False)
    base = ensure_base_student(str(root / "cache"))
    return {"root": root, "base": base, "adapter": random_lora(base, root / "adapter"), "world": world}


def test_merged_checkpoint_loads_in_plain_transformers_and_answers_as_base_plus_adapter(
    tiny: dict[str, Path | str], capsys: pytest.CaptureFixture[str]
) -> None:
    import torch
    from transformers import AutoModelForImageTextToText

    from edtune.cli import main
    from edtune.config import StudentConfig
    from edtune.datasets import load_task
    from edtune.shapes.preset import SHAPES_PRESET
    from edtune.student import load_student
    from edtune.student.checkpoint import verify_manifest

    base, adapter, out = str(tiny["base"]), str(tiny["adapter"]), Path(tiny["root"]) / "merged"
    argv = ["adapters", "merge", "--student", base, "--adapter", adapter, "--out", str(out)]
    assert main([*argv, "--cache-dir", str(Path(tiny["root"]) / "cache"), "--json"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 1 and json.loads(lines[0])["out"] == str(out)
    assert verify_manifest(out, required=True) is not None  # the merged checkpoint carries its own manifest

    plain = AutoModelForImageTextToText.from_pretrained(str(out), use_safetensors=True)  # no peft involved
    assert not [n for n, _ in plain.named_parameters() if "lora_" in n]

    cfg = StudentConfig(base=base, **SHAPES_PRESET.values["student"])
    samples = load_task(str(Path(tiny["world"]) / "tasks" / "left-right" / "val.jsonl"))[:20]
    assert len(samples) == 20
    with_adapter = load_student(base, cfg, adapter=adapter, cache_dir=str(tiny["root"]))
    merged = load_student(str(out), cfg.model_copy(update={"base": str(out)}), cache_dir=str(tiny["root"]))
    plain_base = load_student(base, cfg, cache_dir=str(tiny["root"]))
    a = [t.raw for t in with_adapter.answer(samples)]
    m = [t.raw for t in merged.answer(samples)]
    b = [t.raw for t in plain_base.answer(samples)]
    assert m == a, "the merged checkpoint answers as base + adapter"
    assert sum(x != y for x, y in zip(a, b, strict=True)) >= 10, "the adapter changes the answers"

    ids = torch.tensor([[1, 2, 3, 4, 5, 6, 7, 8]])
    with torch.no_grad():
        lm = plain(input_ids=ids).logits
        la = with_adapter.model(input_ids=ids).logits
        lb = plain_base.model(input_ids=ids).logits
    assert torch.allclose(lm, la, atol=1e-4) and not torch.allclose(lb, la, atol=1e-2)


@pytest.mark.parametrize("case", ["adapter without manifest", "out exists"])
def test_merge_refuses_an_unverified_adapter_or_an_existing_out_and_writes_nothing(
    tiny: dict[str, Path | str], tmp_path: Path, capsys: pytest.CaptureFixture[str], case: str
) -> None:
    import shutil

    from edtune.cli import main

    adapter = tmp_path / "adapter"
    shutil.copytree(Path(tiny["adapter"]), adapter)
    out = tmp_path / "merged"
    if case == "adapter without manifest":
        (adapter / "manifest.json").unlink()
        named = f"{adapter}/manifest.json"
    else:
        out.mkdir()
        (out / "keep.txt").write_text("mine")
        named = str(out)
    argv = ["adapters", "merge", "--student", str(tiny["base"]), "--adapter", str(adapter), "--out", str(out)]
    assert main([*argv, "--cache-dir", str(tmp_path / "cache"), "--json"]) == 2
    err = json.loads(capsys.readouterr().out)["error"]["message"]
    assert named in err
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []
    if case == "out exists":
        assert [p.name for p in out.iterdir()] == ["keep.txt"]
    else:
        assert not out.exists()
