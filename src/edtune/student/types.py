"""The student's role (DESIGN §"narrow interface per role") and the results it reports. No torch here."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Protocol, runtime_checkable

from pydantic import BaseModel, Field

from edtune.config import LoraConfig
from edtune.schemas import SupportSample, TaskSample, Trace


class TuneResult(BaseModel):
    """What one LoRA tuning run did and cost; `adapter_dir` is a PEFT adapter directory (safetensors)."""

    steps: int
    loss_curve: list[float]
    final_loss: float
    samples_per_s: float
    tokens_per_s: float
    peak_rss_mb: float
    peak_gpu_mb: float | None = None
    adapter_dir: str
    seconds: float
    samples: int = 0
    trainable_params: int = 0
    # Added with the Trainer-based tune (issue 17); defaults keep older tune.json files readable.
    trainer: str = "loop"  # "transformers.Trainer" or "loop" (the hand-written baseline)
    lr_curve: list[float] = Field(default_factory=list)  # learning rate used at each step
    processes: int = 1  # data-parallel processes (torchrun workers)
    bf16: bool = False
    gradient_checkpointing: bool = False
    resumed_from_step: int | None = None  # the object-store checkpoint this run continued, if any
    checkpoints_saved: int = 0
    tensorboard_uri: str | None = None


class EvalSummary(BaseModel):
    """Accuracy with a Wilson 95% interval; `parse_rate` is the fraction of replies with an Answer line."""

    accuracy: float = Field(ge=0, le=1)
    ci95: tuple[float, float]
    n: int
    n_correct: int
    parse_rate: float = Field(ge=0, le=1)
    samples_per_s: float
    seconds: float = 0.0
    # choice log-likelihood accuracy over the multiple-choice samples (None when there are none): after the
    # student's own steps, and directly after the question (edtune.student.choice_ll)
    ll_accuracy: float | None = Field(default=None, ge=0, le=1)
    ll_accuracy_direct: float | None = Field(default=None, ge=0, le=1)


@runtime_checkable
class Student(Protocol):
    """A student answers questions with reasoning steps and tunes on samples; the loop needs nothing else."""

    def answer(self, samples: Sequence[TaskSample]) -> Iterator[Trace]: ...

    def tune(
        self,
        samples: Sequence[SupportSample],
        out_dir: str,
        lora: LoraConfig,
        *,
        adapter_in: str | None = None,
        seed: int = 0,
        checkpoint_uri: str | None = None,
        log_uri: str | None = None,
    ) -> TuneResult: ...
