"""The hand-written LoRA loop that `HFStudent.tune` used before the Trainer (issue 17), kept as the baseline.

It is what `lora.trainer = "loop"` selects and what `benchmarks.tune_throughput` times against the Trainer path,
so an A/B of the two tune paths runs at one commit. It has no mid-tune checkpoints, no bf16 autocast, no
gradient checkpointing and no data parallelism: use it to measure, not at scale. Data order, schedule and
loss are the Trainer path's (`edtune.student.tune_data`): the same sample stream, LambdaLR and AdamW.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path

from edtune.config import LoraConfig
from edtune.schemas import SupportSample
from edtune.student.answer_loss import loss_for
from edtune.student.inputs import collate
from edtune.student.tune_data import TunableStudent, lr_lambda, peak_rss_mb, sample_stream, total_steps
from edtune.student.types import TuneResult


def tune_loop(
    student: TunableStudent,
    samples: Sequence[SupportSample],
    out_dir: str,
    lora: LoraConfig,
    *,
    adapter_in: str | None = None,
    seed: int = 0,
) -> TuneResult:
    """Train `lora` on `samples` with a plain PyTorch loop; same contract as `HFStudent.tune`."""
    import torch

    torch.manual_seed(seed)
    model = student.peft_model(lora, adapter_in, for_training=False)
    trainable = [p for p in model.parameters() if p.requires_grad]
    n_trainable = sum(p.numel() for p in trainable)
    steps = total_steps(lora, len(samples))
    opt = torch.optim.AdamW(trainable, lr=lora.lr, weight_decay=lora.weight_decay)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lr_lambda(lora, steps))
    stream = sample_stream(len(samples), steps * lora.batch_size * lora.grad_accum, seed)
    pad_id = student.processor.tokenizer.pad_token_id
    weighted = loss_for(student.processor.tokenizer, lora.answer_weight)
    dev = next(model.parameters()).device
    model.train()
    curve: list[float] = []
    lrs: list[float] = []
    n_seen = n_tokens = 0
    pos = 0
    t0 = time.perf_counter()
    for _step in range(steps):
        opt.zero_grad(set_to_none=True)
        step_loss = 0.0
        for _ in range(lora.grad_accum):
            idx = stream[pos : pos + lora.batch_size]
            pos += lora.batch_size
            batch = collate(
                [student.example(samples[i]) for i in idx], pad_id, student.family.needs_mm_token_type_ids
            )
            batch = {
                k: (v.to(dev, dtype=student.dtype) if v.is_floating_point() else v.to(dev))
                for k, v in batch.items()
            }
            out = model(**batch)
            loss = (out.loss if weighted is None else weighted(out, batch["labels"])) / lora.grad_accum
            loss.backward()
            step_loss += float(loss.detach())
            n_seen += len(idx)
            n_tokens += int(batch["attention_mask"].sum())
        torch.nn.utils.clip_grad_norm_(trainable, 1.0)
        lrs.append(float(sched.get_last_lr()[0]))
        opt.step()
        sched.step()
        curve.append(step_loss)
    seconds = time.perf_counter() - t0
    student.save_adapter(model, Path(out_dir), lora, steps=steps, seed=seed, adapter_in=adapter_in)
    peak_gpu = torch.cuda.max_memory_allocated() / 2**20 if student.device == "cuda" else None
    return TuneResult(
        steps=steps,
        loss_curve=curve,
        final_loss=sum(curve[-5:]) / len(curve[-5:]),
        samples_per_s=n_seen / seconds if seconds else 0.0,
        tokens_per_s=n_tokens / seconds if seconds else 0.0,
        peak_rss_mb=peak_rss_mb(),
        peak_gpu_mb=peak_gpu,
        adapter_dir=str(out_dir),
        seconds=seconds,
        samples=n_seen,
        trainable_params=n_trainable,
        trainer="loop",
        lr_curve=lrs,
    )
