"""`edtune serve` serves nothing unverified: an adapter directory without a manifest, or one whose files do not
match it, is refused at start in one line naming the file (a real tiny base and a real peft adapter)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
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
def base_and_adapter(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, Path]:
    from edtune.shapes.student.base import ensure_base_student

    root = tmp_path_factory.mktemp("refuse")
    base = ensure_base_student(str(root / "cache"))
    return base, random_lora(base, root / "adapter")


def _flip(p: Path) -> None:
    data = bytearray(p.read_bytes())
    data[-1] ^= 0xFF
    p.write_bytes(bytes(data))


DAMAGE: dict[str, tuple[Callable[[Path], None], str, str]] = {
    # name: (damage the adapter dir, the file the error names, what it says)
    "no manifest": (lambda d: (d / "manifest.json").unlink(), "manifest.json", "missing"),
    "weights changed": (
        lambda d: _flip(d / "adapter_model.safetensors"),
        "adapter_model.safetensors",
        "sha256",
    ),
    "config changed": (
        lambda d: (d / "adapter_config.json").write_text("{}"),
        "adapter_config.json",
        "does not match",
    ),
    "unlisted weights": (
        lambda d: shutil.copy(d / "adapter_model.safetensors", d / "extra.safetensors"),
        "extra.safetensors",
        "not listed",
    ),
    "manifest lists nothing": (
        lambda d: (d / "manifest.json").write_text('{"files": {}}'),
        "manifest.json",
        "lists no files",
    ),
    "manifest garbled": (
        lambda d: (d / "manifest.json").write_text('{"files": '),
        "manifest.json",
        "invalid JSON",
    ),
}


def _engine(base: str, adapter: Path) -> object:
    from edtune.config import StudentConfig
    from edtune.serve.api import AdapterSpec
    from edtune.serve.engine import AdapterEngine

    cfg = StudentConfig(base=base, torch_threads=1)
    return AdapterEngine(
        base, [AdapterSpec(name="a", uri=str(adapter))], cfg, cache_dir=str(adapter.parent / "c")
    )


@pytest.mark.parametrize("damage", list(DAMAGE))
def test_serve_refuses_an_adapter_that_fails_verification(
    base_and_adapter: tuple[str, Path], tmp_path: Path, damage: str
) -> None:
    from edtune.errors import ModelError

    base, good = base_and_adapter
    adapter = tmp_path / "adapter"
    shutil.copytree(good, adapter)
    hurt, file, says = DAMAGE[damage]
    hurt(adapter)
    with pytest.raises(ModelError, match=says) as err:
        _engine(base, adapter)
    first = str(err.value).splitlines()[0]
    assert f"{adapter}/{file}" in first or (file == "adapter_model.safetensors" and str(adapter) in first)


def test_serve_accepts_a_verified_adapter_and_a_run_final_dir_whose_manifest_is_beside_it(
    base_and_adapter: tuple[str, Path], tmp_path: Path
) -> None:
    base, good = base_and_adapter
    assert _engine(base, good).names == ["base", "a"]  # type: ignore[attr-defined]
    final = tmp_path / "final"
    shutil.copytree(good, final / "adapter")
    (final / "adapter" / "manifest.json").rename(final / "manifest.json")  # finalize's layout
    assert _engine(base, final / "adapter").names == ["base", "a"]  # type: ignore[attr-defined]
    data = json.loads((final / "manifest.json").read_text())
    data["files"]["adapter_model.safetensors"] = "0" * 64
    (final / "manifest.json").write_text(json.dumps(data))
    from edtune.errors import ModelError

    with pytest.raises(ModelError, match="does not match"):
        _engine(base, final / "adapter")


def test_edtune_serve_exits_2_in_one_line_naming_the_file(
    base_and_adapter: tuple[str, Path], tmp_path: Path
) -> None:
    base, good = base_and_adapter
    adapter = tmp_path / "adapter"
    shutil.copytree(good, adapter)
    (adapter / "manifest.json").unlink()
    cmd = [sys.executable, "-m", "edtune.cli", "serve", "--student", base, "--adapter", f"a={adapter}"]
    cmd += ["--port", "0", "--cache-dir", str(tmp_path / "cache")]
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert res.returncode == 2
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and f"{adapter}/manifest.json" in lines[0], res.stderr
