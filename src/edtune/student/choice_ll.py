"""Choice log-likelihood scoring of multiple-choice samples, the lm-eval-harness `multiple_choice` way.

Generated accuracy mixes two things: whether the student has the skill, and whether it answers in the task's
answer format. Scoring each option by the log-likelihood the student gives it separates them: the option the
student finds most likely counts as its answer, whatever it would have generated. Two contexts are scored:

- after its own steps (`ll_correct`): the prompt, the steps the student generated, then `Answer:`; this is the
  figure reported beside generated accuracy;
- directly after the question (`ll_direct_correct`): the prompt, then `Answer:` with no steps.

Each option is scored as the sum of its tokens' log-probabilities (lm-eval's `acc`). Diagnosis still reads the
generated traces; these fields only add to them. Free-form samples (no `choices`) are left unscored (None).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from edtune.schemas import TaskSample, Trace

ANSWER_CUE = "Answer:"


def _contexts(prompt: str, trace: Trace) -> tuple[str, str]:
    steps = "".join(f"Step {i}: {s.strip()}\n" for i, s in enumerate(trace.steps, start=1))
    return prompt + steps + ANSWER_CUE, prompt + ANSWER_CUE


def option_logprobs(student: Any, context: str, image: Any, options: Sequence[str]) -> list[float]:
    """Sum of log p(option tokens | image, context) for each option, in one left-padded batch."""
    import torch

    tok = student.processor.tokenizer
    n_ctx = len(tok(context, add_special_tokens=False)["input_ids"])
    texts = [f"{context} {o.strip()}" for o in options]
    n_cont = [len(tok(t, add_special_tokens=False)["input_ids"]) - n_ctx for t in texts]
    enc = student.processor(text=texts, images=[image] * len(texts), return_tensors="pt", padding=True)
    model = student.model
    dev = next(model.parameters()).device
    enc = {
        k: (v.to(dev, dtype=student.dtype) if v.is_floating_point() else v.to(dev)) for k, v in enc.items()
    }
    with torch.inference_mode():
        logits = model(**enc).logits.float()
    logp = torch.log_softmax(logits[:, :-1], dim=-1)
    ids = enc["input_ids"][:, 1:]
    picked = logp.gather(-1, ids.unsqueeze(-1)).squeeze(-1)  # log p of each next token; rows end aligned
    return [float(picked[i, -n:].sum()) if n > 0 else float("-inf") for i, n in enumerate(n_cont)]


def score_choices(student: Any, samples: Sequence[TaskSample], traces: Sequence[Trace]) -> list[Trace]:
    """Traces with `ll_choice`, `ll_correct` and `ll_direct_correct` set on every multiple-choice sample.

    Students that expose no processor and model (other backends) are returned unchanged."""
    if not (hasattr(student, "processor") and hasattr(student, "_prompt") and hasattr(student, "model")):
        return list(traces)
    from edtune.io.images import load_image
    from edtune.student.inputs import fit_image

    out: list[Trace] = []
    for sample, trace in zip(samples, traces, strict=True):
        if not sample.choices:
            out.append(trace)
            continue
        image = fit_image(load_image(sample.image), student.cfg.image_max_side)
        after_steps, direct = _contexts(student._prompt(sample), trace)
        gold = sample.gold_text
        scores = option_logprobs(student, after_steps, image, sample.choices)
        best = sample.choices[max(range(len(scores)), key=scores.__getitem__)]
        direct_scores = option_logprobs(student, direct, image, sample.choices)
        best_direct = sample.choices[max(range(len(direct_scores)), key=direct_scores.__getitem__)]
        out.append(
            trace.model_copy(
                update={
                    "ll_choice": best,
                    "ll_correct": best == gold,
                    "ll_direct_correct": best_direct == gold,
                }
            )
        )
    return out
