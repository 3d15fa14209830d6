"""Choice log-likelihood scoring (lm-eval `multiple_choice`): the batched, left-padded scores equal a plain
one-sequence forward pass per option, only multiple-choice samples are scored, and the summary averages them."""

from __future__ import annotations

import pytest

from edtune.student import load_student
from edtune.student.choice_ll import option_logprobs, score_choices
from edtune.student.evaluate import evaluate, summarise
from tests.student.conftest import FAMILIES, cfg_for, task_samples


def _one_by_one(student, context: str, image, option: str) -> float:  # type: ignore[no-untyped-def]
    """The reference: one unpadded sequence, log p of the option's tokens summed."""
    import torch

    tok = student.processor.tokenizer
    n = len(tok(f"{context} {option}", add_special_tokens=False)["input_ids"]) - len(
        tok(context, add_special_tokens=False)["input_ids"]
    )
    enc = student.processor(text=[f"{context} {option}"], images=[image], return_tensors="pt")
    with torch.inference_mode():
        logits = student.model(**enc).logits.float()
    logp = torch.log_softmax(logits[0, :-1], dim=-1)
    ids = enc["input_ids"][0, 1:]
    return float(logp[-n:].gather(-1, ids[-n:].unsqueeze(-1)).sum())


@pytest.mark.parametrize("family", FAMILIES)
def test_batched_option_scores_equal_one_sequence_per_option(family, tiny_dirs, images) -> None:  # type: ignore[no-untyped-def]
    from edtune.io.images import load_image

    student = load_student(str(tiny_dirs[family]), cfg_for(family))
    sample = task_samples(images)[1]
    context = student._prompt(sample) + "Step 1: look at the square.\nAnswer:"
    image = load_image(sample.image)
    options = ["red", "dark blue square", "green"]  # options of different token lengths force padding
    batched = option_logprobs(student, context, image, options)
    reference = [_one_by_one(student, context, image, o) for o in options]
    assert batched == pytest.approx(reference, abs=1e-3)
    assert len(set(batched)) == 3


def test_only_multiple_choice_samples_are_scored_and_the_summary_averages_them(tiny_dirs, images) -> None:  # type: ignore[no-untyped-def]
    student = load_student(str(tiny_dirs["qwen2-vl"]), cfg_for("qwen2-vl"))
    samples = task_samples(images, n=6)
    traces, summary = evaluate(student, samples, progress=False)
    for s, t in zip(samples, traces, strict=True):
        if s.choices:
            assert t.ll_choice in s.choices
            assert t.ll_correct == (t.ll_choice == s.gold_text)
            assert t.ll_direct_correct is not None
        else:
            assert t.ll_choice is None and t.ll_correct is None
    mc = [t for t in traces if t.ll_correct is not None]
    assert len(mc) == 3
    assert summary.ll_accuracy == pytest.approx(sum(t.ll_correct for t in mc) / 3)
    assert summarise(traces, 1.0).ll_accuracy_direct == pytest.approx(
        sum(bool(t.ll_direct_correct) for t in mc) / 3
    )
    # scoring twice gives the same choices (deterministic), and a student without a model is left unchanged
    again = score_choices(student, samples, traces)
    assert [t.ll_choice for t in again] == [t.ll_choice for t in traces]
    assert score_choices(object(), samples, traces) == list(traces)
