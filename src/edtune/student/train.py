"""LoRA tuning on `transformers.Trainer`: checkpoints in the object store, resume, bf16, torchrun data parallel.

Why `transformers.Trainer` and not TRL's `SFTTrainer`: our collator already builds exactly what SFTTrainer would
have to be told how to build — assistant-only labels from each family's own chat template (SFTTrainer's
`assistant_only_loss` needs `{% generation %}` markers our families' templates lack), image tokens expanded by
the family's processor, `mm_token_type_ids` where the family needs them. With a custom collator SFTTrainer adds
nothing but its dependency (`trl`, `datasets`); the Trainer underneath is the same. What the Trainer gives us:
bf16 autocast, gradient accumulation with token-count loss normalisation, gradient checkpointing, DDP under
torchrun, checkpoints holding optimizer/scheduler/RNG/trainer state, exact resume (it skips consumed batches),
metrics callbacks and TensorBoard.

What we keep from the hand-written loop (`edtune.student.handloop`), so both paths do the same work:
- the data order: one sample stream for the whole run (concatenated seeded permutations, as the loop drew them),
  served in order (`train_sampling_strategy="sequential"`); the Trainer sees one "epoch" of exactly
  steps × batch × accumulation samples, so a resume skips exactly the consumed batches and every batch is full;
- the schedule: linear warm-up from lr/warm, then cosine/linear/constant (our `LambdaLR`), AdamW over the
  trainable (LoRA) parameters, gradient clipping at 1.0, the LoRA initialisation;
- the output: a PEFT adapter dir (safetensors only) plus `edtune_adapter.json`.

This module trains in one process (one rank); `edtune.student.launch` decides between this process and torchrun.
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from edtune import io
from edtune.config import LoraConfig
from edtune.errors import ModelError
from edtune.log import kv
from edtune.schemas import SupportSample
from edtune.student.answer_loss import loss_for
from edtune.student.tune_checkpoint import CheckpointStore, PreemptGuard, TunePreempted
from edtune.student.tune_data import (
    Collator,
    StreamDataset,
    TunableStudent,
    lr_lambda,
    peak_rss_mb,
    sample_stream,
    total_steps,
)
from edtune.student.types import TuneResult

log = logging.getLogger(__name__)

TRAINER_NAME = "transformers.Trainer"


def job_key(
    student: TunableStudent,
    samples: Sequence[SupportSample],
    lora: LoraConfig,
    adapter_in_dir: Path | None,
    seed: int,
    world: int,
) -> str:
    """What a checkpoint must have been made by to be resumed: same data, config, seed, base, adapter, world."""
    from edtune.student.checkpoint import sha256_file

    h = hashlib.sha256()
    for s in samples:
        h.update(s.model_dump_json().encode())
    ignore = {"checkpoint_every", "tensorboard", "trainer"}  # how often/where we save does not change the run
    adapter = (
        {p.name: sha256_file(p) for p in sorted(adapter_in_dir.iterdir()) if p.is_file()}
        if adapter_in_dir
        else None
    )
    meta = {
        "samples": h.hexdigest(),
        "lora": lora.model_dump(mode="json", exclude=ignore),
        "seed": seed,
        "base": student.fingerprint,
        "adapter_in": adapter,
        "world": world,
    }
    return hashlib.sha256(json.dumps(meta, sort_keys=True).encode()).hexdigest()


# ---------------------------------------------------------------- callbacks


def _callbacks(store: CheckpointStore | None, guard: PreemptGuard, counters: dict[str, int]) -> list[Any]:
    from transformers import TrainerCallback

    class Preempt(TrainerCallback):  # type: ignore[misc]
        """SIGTERM → save at the end of this step and stop; no checkpoint after the last step (the adapter is)."""

        def on_step_end(self, args: Any, state: Any, control: Any, **kw: Any) -> Any:
            stop = guard.requested
            if args.world_size > 1:  # every rank must agree, or the save's barriers deadlock
                import torch
                import torch.distributed as dist

                flag = torch.tensor([1.0 if stop else 0.0], device=args.device)
                dist.all_reduce(flag)
                stop = bool(flag.item() > 0)
            if stop:
                guard.requested = True
                control.should_save = store is not None
                control.should_training_stop = True
            elif state.global_step >= state.max_steps:
                control.should_save = False
            return control

    class Mirror(TrainerCallback):  # type: ignore[misc]
        """After the Trainer writes `checkpoint-N` locally, rank 0 mirrors it to the object store."""

        def on_save(self, args: Any, state: Any, control: Any, **kw: Any) -> Any:
            if args.world_size > 1:  # every rank has written its RNG state before rank 0 uploads
                import torch.distributed as dist

                dist.barrier()
            if store is not None and state.is_world_process_zero:
                local = Path(args.output_dir) / f"checkpoint-{state.global_step}"
                store.publish(local, state.global_step)
                counters["checkpoints"] += 1
            return control

    return [Preempt(), Mirror()]


# ---------------------------------------------------------------- one process's training


def _want_bf16(student: TunableStudent, lora: LoraConfig) -> bool:
    if lora.bf16 is None:
        return student.device == "cuda"
    if lora.bf16 and student.device != "cuda":
        import torch

        if not torch.cuda.is_available():
            log.info(
                kv("lora.bf16 on CPU: bf16 autocast on CPU is slow and not bit-reproducible across CPUs")
            )
    return lora.bf16


def train_in_process(
    student: TunableStudent,
    samples: Sequence[SupportSample],
    out_dir: str,
    lora: LoraConfig,
    *,
    adapter_in: str | None,
    seed: int,
    checkpoint_uri: str | None,
    log_uri: str | None,
    work_dir: Path,
) -> TuneResult | None:
    """Train in this process (one rank of a torchrun launch, or the only one); rank 0 returns the result."""
    import torch
    from transformers import Trainer, TrainingArguments
    from transformers.utils import logging as hf_logging

    from edtune.student.checkpoint import resolve_local

    hf_logging.set_verbosity_warning()
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    if lora.batch_size % world:
        raise ModelError(
            f"lora.batch_size {lora.batch_size} must be a multiple of the {world} tune processes"
        )
    steps = total_steps(lora, len(samples))
    per_step = lora.batch_size * lora.grad_accum
    bf16 = _want_bf16(student, lora)
    gc = student.device == "cuda" if lora.gradient_checkpointing is None else lora.gradient_checkpointing

    local_ckpts = work_dir / "trainer"
    torch.manual_seed(seed)
    model = student.peft_model(lora, adapter_in, for_training=True)
    if gc:
        model.base_model.model.gradient_checkpointing_enable(
            gradient_checkpointing_kwargs={"use_reentrant": False}
        )
        model.base_model.model.enable_input_require_grads()
    trainable = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(trainable, lr=lora.lr, weight_decay=lora.weight_decay)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lr_lambda(lora, steps))

    tb_local = work_dir / "tensorboard"
    use_tb = False
    if lora.tensorboard and log_uri and rank == 0:
        try:
            import tensorboard  # noqa: F401

            use_tb = True
        except ImportError:
            _tensorboard_missing()

    args = TrainingArguments(
        output_dir=str(local_ckpts),
        per_device_train_batch_size=lora.batch_size // world,
        gradient_accumulation_steps=lora.grad_accum,
        max_steps=steps,
        learning_rate=lora.lr,
        weight_decay=lora.weight_decay,
        max_grad_norm=1.0,
        logging_strategy="steps",
        logging_steps=1,
        save_strategy="steps" if checkpoint_uri and lora.checkpoint_every else "no",
        save_steps=max(1, lora.checkpoint_every),
        save_total_limit=1,
        report_to=[],  # TensorBoard is added below with its own writer; no other tracker is wanted
        seed=seed,
        bf16=bf16,
        use_cpu=student.device == "cpu",
        dataloader_num_workers=0,
        dataloader_pin_memory=False,
        remove_unused_columns=False,
        disable_tqdm=True,
        train_sampling_strategy="sequential",
        ddp_find_unused_parameters=False,
        ddp_backend="gloo" if student.device == "cpu" and world > 1 else None,
        log_level="warning",
    )
    _ = args.device  # sets up the process group under torchrun (gloo on CPU, NCCL on GPU)
    a_dir = resolve_local(adapter_in, Path(student.cache_dir), what="adapter") if adapter_in else None
    store = None
    if checkpoint_uri:
        store = CheckpointStore(checkpoint_uri, job_key(student, samples, lora, a_dir, seed, world))
    resume: str | None = None
    resumed_step: int | None = None
    ptr = store.latest() if store is not None else None
    if ptr is not None:
        resume = str(local_ckpts / f"checkpoint-{ptr.step}")
        resumed_step = ptr.step
        if rank == 0:  # the ranks share the pod's disk: one download
            store.fetch(ptr, local_ckpts)  # type: ignore[union-attr]
        if world > 1:
            import torch.distributed as dist

            dist.barrier()
        log.info(kv("tune resuming", step=ptr.step, of=steps, uri=checkpoint_uri))
    stream = sample_stream(len(samples), steps * per_step, seed)
    collator = Collator(
        student.processor.tokenizer.pad_token_id, student.family.needs_mm_token_type_ids, student.dtype
    )
    counters = {"checkpoints": 0}
    guard = PreemptGuard()
    trainer = Trainer(
        model=model,
        args=args,
        train_dataset=StreamDataset(student, samples, stream),  # type: ignore[arg-type]
        data_collator=collator,
        optimizers=(opt, sched),
        callbacks=_callbacks(store, guard, counters),
        compute_loss_func=loss_for(student.processor.tokenizer, lora.answer_weight),
    )
    from transformers.trainer_callback import PrinterCallback

    trainer.remove_callback(PrinterCallback)  # stdout belongs to `--json` results; metrics go to tune.json
    if use_tb:
        from torch.utils.tensorboard import SummaryWriter
        from transformers.integrations import TensorBoardCallback

        trainer.add_callback(TensorBoardCallback(tb_writer=SummaryWriter(log_dir=str(tb_local))))
    if student.device == "cuda":
        torch.cuda.reset_peak_memory_stats()
    t0 = time.perf_counter()
    with guard:
        trainer.train(resume_from_checkpoint=resume)
    seconds = time.perf_counter() - t0
    if guard.requested:
        raise TunePreempted(
            f"tune stopped on SIGTERM at step {trainer.state.global_step} of {steps}; "
            + (
                f"checkpoint saved to {checkpoint_uri}: rerun the stage to resume"
                if store
                else "no checkpoint store"
            )
        )

    seen = torch.tensor([collator.samples, collator.tokens], dtype=torch.float64)
    if world > 1:
        import torch.distributed as dist

        dist.all_reduce(seen)
    n_seen, n_tokens = int(seen[0]), int(seen[1])
    hist = [h for h in trainer.state.log_history if "loss" in h]
    curve = [float(h["loss"]) for h in hist]
    lrs = [float(h.get("learning_rate", 0.0)) for h in hist]
    peak_gpu = torch.cuda.max_memory_allocated() / 2**20 if student.device == "cuda" else None
    if rank != 0:
        return None
    out = Path(out_dir)
    student.save_adapter(trainer.model, out, lora, steps=steps, seed=seed, adapter_in=adapter_in)
    tb_uri = None
    if use_tb and log_uri and tb_local.is_dir():
        io.copy_dir(str(tb_local), log_uri)
        tb_uri = log_uri
    return TuneResult(
        steps=steps,
        loss_curve=curve,
        final_loss=sum(curve[-5:]) / len(curve[-5:]) if curve else 0.0,
        samples_per_s=n_seen / seconds if seconds else 0.0,
        tokens_per_s=n_tokens / seconds if seconds else 0.0,
        peak_rss_mb=peak_rss_mb(),
        peak_gpu_mb=peak_gpu,
        adapter_dir=str(out),
        seconds=seconds,
        samples=n_seen,
        trainable_params=sum(p.numel() for p in trainable),
        trainer=TRAINER_NAME,
        lr_curve=lrs,
        processes=world,
        bf16=bf16,
        gradient_checkpointing=gc,
        resumed_from_step=resumed_step,
        checkpoints_saved=counters["checkpoints"],
        tensorboard_uri=tb_uri,
    )


@functools.cache
def _tensorboard_missing() -> None:
    """One line per process (not per restart or round) when `lora.tensorboard` is on but TensorBoard is absent."""
    log.warning(
        "lora.tensorboard is on but tensorboard is not installed: no TensorBoard logs "
        '(pip install "edtune[tb]", or set lora.tensorboard: false; the metrics are in tune.json)'
    )
