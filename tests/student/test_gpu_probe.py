"""`python -m benchmarks.gpu_probe`: the 7B shape is Qwen2-VL-7B's, and the probe runs end to end at tiny shape on CPU.

The 7B model is built on the meta device (no memory, no weights) to check its parameter count and that the
product's LoRA target modules hit every attention and MLP projection of its language model; the full probe (bf16,
LoRA with gradient checkpointing, a batched generation) runs at tiny shape and must write every figure.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def test_the_7b_shape_has_qwen2_vl_7b_parameters_and_the_lora_targets_hit_every_projection() -> None:
    import torch

    from benchmarks.gpu_probe import build_model, model_flops_per_token
    from edtune.config import LoraConfig

    model = build_model("7b", "meta", torch.bfloat16)
    params = sum(p.numel() for p in model.parameters())
    assert 8.28e9 < params < 8.30e9  # Qwen/Qwen2-VL-7B-Instruct: 8.29B
    pattern = re.compile(LoraConfig().target_modules)
    hits = [n for n, _ in model.named_modules() if pattern.fullmatch(n)]
    assert len(hits) == 28 * 7  # 28 layers x (q, k, v, o, gate, up, down); none in the vision tower
    assert not any("visual" in n for n in hits)
    assert 2 * 7.0e9 < model_flops_per_token(model, image_tokens=256, seq_len=450) < 2 * 9.5e9


def _probe(tmp_path: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    args = ["--shape", "tiny", "--device", "cpu", "--steps", "2", "--warmup", "1", "--batch", "2"]
    args += ["--image-side", "112", "--prompt-len", "8", "--answer-len", "8", "--new-tokens", "4"]
    return subprocess.run(
        [sys.executable, "-m", "benchmarks.gpu_probe", *args, "--out", str(tmp_path / "probe.json"), *extra],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=180,
    )


def test_the_probe_runs_at_tiny_shape_on_cpu_and_writes_every_figure(tmp_path: Path) -> None:
    r = _probe(tmp_path, "--peak-tflops", "1.0")
    assert r.returncode == 0, r.stderr[-2000:]
    rec = json.loads((tmp_path / "probe.json").read_text())
    assert (
        rec["provenance"]["git_commit"] and rec["dtype"] == "bf16" and rec["gradient_checkpointing"] is True
    )
    assert 0 < rec["trainable_params"] < 0.1 * rec["params"]
    train, ev = rec["train"], rec["eval"]
    assert (
        train["steps"] == 2 and train["samples_per_s"] > 0 and train["tokens_per_s"] > train["samples_per_s"]
    )
    assert ev["tokens_per_s"] > 0 and ev["new_tokens"] == 4
    assert rec["seq_len"] == 1 + 16 + 1 + 8 + 8  # <vision_start> 16 image tokens <vision_end> prompt answer
    want_mfu = 2 * rec["model_flops_per_token"] * train["tokens_per_s"] / 1e12
    assert train["mfu"] == pytest.approx(want_mfu, rel=1e-2, abs=1e-4)
    assert train["peak_gpu_mem_gib"] is None  # no GPU here: the figure is absent, not zero


def test_an_image_side_the_processor_could_not_produce_is_refused(tmp_path: Path) -> None:
    r = _probe(tmp_path, "--image-side", "100")
    assert r.returncode == 2 and "multiple of 28" in r.stderr
    assert not (tmp_path / "probe.json").exists()
