"""Bad checkpoints and adapters fail before use, with a ModelError that says what is wrong."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from edtune.errors import ModelError
from edtune.student import load_student
from edtune.student.checkpoint import write_manifest

from .conftest import cfg_for, support_samples


def _drop_config(d: Path) -> None:
    (d / "config.json").unlink()


def _pickle_only(d: Path) -> None:
    (d / "model.safetensors").rename(d / "pytorch_model.bin")


def _no_weights(d: Path) -> None:
    (d / "model.safetensors").unlink()


def _truncate(d: Path) -> None:
    p = d / "model.safetensors"
    p.write_bytes(p.read_bytes()[: p.stat().st_size // 2])


def _garbage_header(d: Path) -> None:
    p = d / "model.safetensors"
    p.write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{not json at all" + p.read_bytes()[24:])


def _manifest_mismatch(d: Path) -> None:
    write_manifest(d)
    data = bytearray((d / "model.safetensors").read_bytes())
    data[-1] ^= 0xFF  # same size, valid header: only the hash can tell
    (d / "model.safetensors").write_bytes(bytes(data))


def _missing_shard(d: Path) -> None:
    (d / "model.safetensors.index.json").write_text(
        json.dumps({"weight_map": {"a": "model.safetensors", "b": "model-00002-of-00002.safetensors"}})
    )


BAD_BASES: list[tuple[str, Callable[[Path], None], str]] = [
    ("missing config.json", _drop_config, "missing config.json"),
    ("pickled weights only", _pickle_only, "safetensors only"),
    ("no weights", _no_weights, r"no \*\.safetensors"),
    ("truncated safetensors", _truncate, "safetensors"),
    ("garbage safetensors header", _garbage_header, "corrupted"),
    ("file differs from manifest", _manifest_mismatch, "does not match manifest.json"),
    ("missing shard", _missing_shard, "missing weight shard"),
]


@pytest.mark.parametrize(("case", "damage", "message"), BAD_BASES, ids=[c[0] for c in BAD_BASES])
def test_damaged_base_checkpoint_is_refused_with_a_clear_error(
    case: str, damage: Callable[[Path], None], message: str, tiny_dirs: dict[str, Path], tmp_path: Path
) -> None:
    d = tmp_path / "ckpt"
    shutil.copytree(tiny_dirs["qwen2-vl"], d)
    damage(d)
    with pytest.raises(ModelError, match=message):
        load_student(str(d), cfg_for("qwen2-vl"))


def test_missing_directory_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="not found"):
        load_student(str(tmp_path / "nope"), cfg_for("qwen2-vl"))


@pytest.mark.parametrize(("family", "other"), [("qwen2-vl", "llava"), ("llava", "qwen2-vl")])
def test_checkpoint_of_another_architecture_is_refused(
    family: str, other: str, tiny_dirs: dict[str, Path]
) -> None:
    with pytest.raises(ModelError, match="architecture is model_type"):
        load_student(str(tiny_dirs[other]), cfg_for(family))


@pytest.fixture(scope="module")
def trained_adapter(
    tiny_dirs: dict[str, Path], images: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> Path:
    from edtune.config import LoraConfig

    st = load_student(str(tiny_dirs["qwen2-vl"]), cfg_for("qwen2-vl"))
    out = tmp_path_factory.mktemp("adapter") / "a"
    st.tune(support_samples(images, 3), str(out), LoraConfig(max_steps=2, batch_size=3, lr=1e-2))
    return out


def test_adapter_trained_on_another_base_is_refused(trained_adapter: Path, tmp_path: Path) -> None:
    from edtune.shapes.student.tiny import build_tiny

    other = build_tiny("qwen2-vl", str(tmp_path / "other"), seed=1)  # same shapes, different weights
    with pytest.raises(ModelError, match="trained on another base"):
        load_student(other, cfg_for("qwen2-vl"), adapter=str(trained_adapter))


def test_adapter_with_pickled_weights_is_refused(
    trained_adapter: Path, tiny_dirs: dict[str, Path], tmp_path: Path
) -> None:
    d = tmp_path / "a"
    shutil.copytree(trained_adapter, d)
    (d / "adapter_model.safetensors").rename(d / "adapter_model.bin")
    with pytest.raises(ModelError, match="pickled"):
        load_student(str(tiny_dirs["qwen2-vl"]), cfg_for("qwen2-vl"), adapter=str(d))


def test_adapter_that_changes_nothing_is_refused(tiny_dirs: dict[str, Path], tmp_path: Path) -> None:
    """A fresh LoRA (B = 0) loads without complaint in peft; the student must notice it is inert."""
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForImageTextToText

    base = AutoModelForImageTextToText.from_pretrained(str(tiny_dirs["qwen2-vl"]))
    cfg = LoraConfig(r=4, target_modules=r".*language_model\.layers\.\d+\.self_attn\.(q|v)_proj")
    get_peft_model(base, cfg).save_pretrained(str(tmp_path / "inert"))
    st = load_student(str(tiny_dirs["qwen2-vl"]), cfg_for("qwen2-vl"), adapter=str(tmp_path / "inert"))
    with pytest.raises(ModelError, match="no effect"):
        _ = st.model


def test_unknown_family_is_refused() -> None:
    from edtune.student.families import get_family

    with pytest.raises(ModelError, match="unknown student family"):
        get_family("gpt-2")
