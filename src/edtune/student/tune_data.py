"""What both tune paths share, so they train on the same work: steps, schedule, sample order, batches.

The Trainer path (`edtune.student.train`) and the hand-written baseline (`edtune.student.handloop`) both take
these, which is why they produce bit-identical adapters on CPU for a seed (tested): a throughput comparison of
the two measures the trainer stack, not a difference in what was trained.
"""

from __future__ import annotations

import math
import resource
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Protocol

from edtune.config import LoraConfig, StudentConfig
from edtune.schemas import SupportSample
from edtune.student.inputs import Example, collate

#: Built examples (token ids + image tensors) are kept for reuse across epochs up to this many bytes.
EXAMPLE_CACHE_BYTES = 1 << 30


class TunableStudent(Protocol):
    """What the tune paths need from a student backend (`HFStudent` provides it)."""

    base_dir: Path
    cfg: StudentConfig
    cache_dir: str
    device: str
    dtype: Any
    fingerprint: str
    processor: Any
    family: Any

    def example(self, sample: SupportSample) -> Example: ...

    def peft_model(self, lora: LoraConfig, adapter_in: str | None, *, for_training: bool) -> Any: ...

    def save_adapter(
        self, model: Any, out: Path, lora: LoraConfig, *, steps: int, seed: int, adapter_in: str | None
    ) -> None: ...


def peak_rss_mb() -> float:
    """This process's peak resident set size (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def total_steps(lora: LoraConfig, n_samples: int) -> int:
    """Optimizer steps: `max_steps`, else `epochs` passes over the samples at batch × accumulation."""
    return lora.max_steps or max(1, math.ceil(lora.epochs * n_samples / (lora.batch_size * lora.grad_accum)))


def lr_lambda(lora: LoraConfig, steps: int) -> Callable[[int], float]:
    """LR multiplier at an optimizer step: warm-up (step+1)/warm, then cosine/linear to 0, or constant."""
    warm = math.ceil(lora.warmup_ratio * steps)

    def at(step: int) -> float:
        if step < warm:
            return (step + 1) / warm
        if lora.scheduler == "constant":
            return 1.0
        frac = (step - warm) / max(1, steps - warm)
        return 0.5 * (1 + math.cos(math.pi * frac)) if lora.scheduler == "cosine" else 1.0 - frac

    return at


def sample_stream(n: int, length: int, seed: int) -> list[int]:
    """The order samples are trained in: seeded permutations, each consumed from its end, back to back.

    This is the order the hand-written loop drew (`randperm(...).tolist()` then `pop()`), so the two paths train
    on the same batches; it depends only on (n, length, seed), which is what makes a resume exact.
    """
    import torch

    gen = torch.Generator().manual_seed(seed)
    out: list[int] = []
    while len(out) < length:
        out.extend(reversed(torch.randperm(n, generator=gen).tolist()))
    return out[:length]


# ---------------------------------------------------------------- dataset and collator


class StreamDataset:
    """Item k is the k-th sample of this rank's stream, built on first use and cached up to a byte budget."""

    def __init__(self, student: TunableStudent, samples: Sequence[SupportSample], stream: list[int]) -> None:
        self.student = student
        self.samples = samples
        self.stream = stream
        self._cache: dict[int, Any] = {}
        self._bytes = 0

    def __len__(self) -> int:
        return len(self.stream)

    def __getitem__(self, k: int) -> Any:
        i = self.stream[k]
        ex = self._cache.get(i)
        if ex is None:
            ex = self.student.example(self.samples[i])
            size = 8 * len(ex.input_ids) * 3 + sum(
                v.numel() * v.element_size() for v in ex.vision.values() if hasattr(v, "numel")
            )
            if self._bytes + size <= EXAMPLE_CACHE_BYTES:
                self._cache[i] = ex
                self._bytes += size
        return ex


class Collator:
    """`inputs.collate` (right padding, labels -100 outside assistant turns) plus counters for throughput."""

    def __init__(self, pad_id: int, with_mm: bool, dtype: Any) -> None:
        self.pad_id = pad_id
        self.with_mm = with_mm
        self.dtype = dtype
        self.samples = 0
        self.tokens = 0

    def __call__(self, examples: list[Any]) -> dict[str, Any]:
        batch = collate(examples, self.pad_id, self.with_mm)
        self.samples += len(examples)
        self.tokens += int(batch["attention_mask"].sum())
        return {k: (v.to(self.dtype) if v.is_floating_point() else v) for k, v in batch.items()}
