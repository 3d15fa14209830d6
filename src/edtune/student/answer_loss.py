"""The LoRA loss with the answer weighted: the tokens after the last "Answer:" of each target count `weight` times.

Why: a target is "Step 1: <claim>. Answer: <word>" — the answer word is one supervised token of about twenty, so the
plain causal-LM loss spends almost all of a short LoRA on restating steps. The tiny student's measured failure on the
demo task is exactly there: after tuning its step names the right side 0.80-0.99 of the time while its answer repeats
that step only 0.57-0.85 of the time (README, "What the demo shows today"). Weighting the answer asks the adapter to
learn the copy. `lora.answer_weight = 1` is the plain loss; both tune paths (Trainer and the hand loop) use this.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from edtune.student.inputs import IGNORE

MARKER = "Answer:"


def answer_token_weights(
    labels: Sequence[int], markers: Sequence[Sequence[int]], weight: float
) -> list[float]:
    """Per-position loss weights of one row of labels: 0 where unsupervised, `weight` after the row's last marker.

    `markers` are the token spellings of "Answer:" (a BPE tokenizer spells it differently after a space). A row
    without a marker (a caption, a description) keeps weight 1 on every supervised token.
    """
    row = list(labels)
    last = -1
    for marker in markers:
        k, want = len(marker), list(marker)
        for j in range(len(row) - k, -1, -1):
            if k and row[j : j + k] == want:
                last = max(last, j + k)
                break
    return [
        0.0 if lab == IGNORE else (weight if last >= 0 and j >= last else 1.0) for j, lab in enumerate(labels)
    ]


def answer_weighted_loss(markers: Sequence[Sequence[int]], weight: float) -> Callable[..., Any]:
    """A causal-LM loss (`transformers.Trainer`'s `compute_loss_func` signature) with the answer tokens weighted.

    Normalised like the Trainer's own: by the number of supervised tokens (or `num_items_in_batch` when the Trainer
    passes it for gradient accumulation), so `weight = 1` is the model's own loss.
    """
    import torch
    import torch.nn.functional as F

    def loss_fn(outputs: Any, labels: Any, num_items_in_batch: Any = None) -> Any:
        logits = outputs.logits[:, :-1, :].float()
        target = labels[:, 1:].to(logits.device)
        ce = F.cross_entropy(logits.transpose(1, 2), target, ignore_index=IGNORE, reduction="none")
        w = torch.tensor(
            [answer_token_weights(row, markers, weight) for row in target.tolist()],
            dtype=ce.dtype,
            device=ce.device,
        )
        n = num_items_in_batch if num_items_in_batch is not None else (target != IGNORE).sum()
        return (ce * w).sum() / n

    return loss_fn


def loss_for(tokenizer: Any, weight: float) -> Callable[..., Any] | None:
    """The weighted loss for this tokenizer's "Answer:" tokens, or None (the model's own loss) at weight 1."""
    if weight == 1.0:
        return None
    spellings = {tuple(tokenizer(t, add_special_tokens=False)["input_ids"]) for t in (MARKER, " " + MARKER)}
    return answer_weighted_loss(sorted(spellings), weight)
