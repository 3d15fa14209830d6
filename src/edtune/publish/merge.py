"""Merge a LoRA adapter into its base: one plain checkpoint for teams that serve merged weights.

Why: some serving stacks (and every plain `transformers` user) load one checkpoint and know nothing of adapters.
peft's `merge_and_unload` folds `B @ A * scale` into each target weight, so the merged model answers as base +
adapter without peft at inference time. The adapter is verified first exactly as `edtune serve` verifies it
(manifest present, every file's sha256, trained on this very base), the result is written into a hidden sibling
directory with its own `manifest.json`, checked like any base checkpoint, and renamed into place only then.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from edtune.errors import InputError, ModelError

log = logging.getLogger(__name__)

_WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth", ".ckpt", ".pkl")


class MergeResult(BaseModel):
    out: str
    base: str
    adapter: str
    files: int
    manifest_sha256: str
    base_fingerprint: str


def _copy_side_files(base_dir: Path, dest: Path) -> None:
    """Tokenizer, processor and chat-template files of the base (weights and the base's manifest excluded)."""
    for p in sorted(base_dir.iterdir()):
        if not p.is_file() or p.name.startswith(".") or p.name == "manifest.json":
            continue
        if p.name.endswith(_WEIGHT_SUFFIXES) or p.name.endswith(".index.json"):
            continue
        shutil.copy2(p, dest / p.name)


def _saved_dtype(base_dir: Path, default: Any) -> Any:
    """The dtype the base checkpoint was saved in (config.json `dtype` / `torch_dtype`), else `default`."""
    import json

    import torch

    try:
        cfg = json.loads((base_dir / "config.json").read_text())
    except (OSError, ValueError):
        return default
    name = cfg.get("dtype") or cfg.get("torch_dtype") or (cfg.get("text_config") or {}).get("dtype")
    value = getattr(torch, str(name), None) if name else None
    return value if isinstance(value, torch.dtype) else default


def merge_adapter(
    base: str,
    adapter: str,
    out: str | Path,
    *,
    family: str = "qwen2-vl",
    cache_dir: str = "./edtune-data/cache",
) -> MergeResult:
    """Write `out`: the base with `adapter` merged in, safetensors + the base's processor files + a manifest."""
    from peft import PeftModel

    from edtune.config import StudentConfig
    from edtune.student.checkpoint import (
        resolve_local,
        sha256_file,
        verify_adapter_dir,
        verify_checkpoint,
        write_manifest,
    )
    from edtune.student.families import get_family
    from edtune.student.hf import check_adapter, load_student

    out = Path(out)
    if out.exists():
        raise InputError(f"{out}: already exists; merge writes a new directory (choose another --out)")
    cfg = StudentConfig.model_validate({"family": family, "base": base, "device": "cpu"})
    student = load_student(base, cfg, adapter=None, cache_dir=cache_dir)
    adapter_dir = resolve_local(adapter, cache_dir, what="adapter")
    adapter_manifest = verify_adapter_dir(adapter_dir)
    check_adapter(adapter_dir, student.fingerprint)
    student.dtype = _saved_dtype(student.base_dir, student.dtype)  # keep a bf16 base bf16 (not fp32 on CPU)
    model = student._load_base()
    try:
        peft_model = PeftModel.from_pretrained(model, str(adapter_dir), is_trainable=False)
    except Exception as exc:
        raise ModelError(
            f"{adapter}: adapter does not fit base {base} ({type(exc).__name__}: {exc})"
        ) from None
    merged = peft_model.merge_and_unload()
    merged.eval()

    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".edtune-tmp", dir=out.parent))
    try:
        _copy_side_files(student.base_dir, tmp)
        merged.save_pretrained(str(tmp), safe_serialization=True)
        for junk in tmp.glob("*.bin"):
            junk.unlink()
        adapter_sha = hashlib.sha256(
            "".join(f"{k}={v}\n" for k, v in sorted((adapter_manifest.get("files") or {}).items())).encode()
        ).hexdigest()
        manifest = write_manifest(
            tmp,
            extra={
                "merged_from": {
                    "base": base,
                    "base_fingerprint": student.fingerprint,
                    "adapter": adapter,
                    "adapter_files_sha256": adapter_sha,
                }
            },
        )
        fam = get_family(family)
        verify_checkpoint(tmp, fam.model_types, fam.name)  # loads as a base checkpoint would: config, weights
        os.chmod(tmp, 0o755)
        os.replace(tmp, out)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    log.info("merge.done base=%s adapter=%s out=%s", base, adapter, out)
    return MergeResult(
        out=str(out),
        base=base,
        adapter=adapter,
        files=len(manifest["files"]),
        manifest_sha256=sha256_file(out / "manifest.json"),
        base_fingerprint=student.fingerprint,
    )
