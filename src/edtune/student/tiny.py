"""Tiny students built from config (a few hundred K parameters), saved as ordinary HF checkpoint dirs."""

from __future__ import annotations

from pathlib import Path

from edtune.student.families import get_family

TINY_FAMILIES = ("qwen2-vl", "llava")


def build_tiny(family: str, out_dir: str, seed: int = 0) -> str:
    """Build a randomly initialised tiny model of `family` (config, safetensors, tokenizer, processor) in `out_dir`.

    The tokenizer is a byte-level BPE trained locally on shapes-world text; loading goes through the real
    `from_pretrained` paths, so tests exercise what production checkpoints do.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    get_family(family).build_tiny(out, seed)
    return str(out)
