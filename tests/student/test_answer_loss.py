"""`lora.answer_weight`: the tokens after the last "Answer:" count more, on both tune paths, and weight 1 is the
model's own loss."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import pytest

from edtune.config import LoraConfig
from edtune.student import load_student
from edtune.student.answer_loss import answer_token_weights, answer_weighted_loss, loss_for
from edtune.student.inputs import IGNORE, collate

from .conftest import FAMILIES, cfg_for, support_samples

FAMILY = "qwen2-vl"


@pytest.fixture(scope="module")
def student(tiny_dirs: dict[str, Path]) -> Any:
    return load_student(str(tiny_dirs[FAMILY]), cfg_for(FAMILY))


def _batch(student: Any, images: dict[str, str]) -> dict[str, Any]:
    tok = student.processor.tokenizer
    examples = [student.example(s) for s in support_samples(images, 3)]
    return collate(examples, tok.pad_token_id, student.family.needs_mm_token_type_ids)


def test_weights_mark_what_follows_the_last_marker_and_nothing_unsupervised() -> None:
    i = IGNORE
    labels = [i, i, 7, 1, 2, 9, i, i, 1, 2, 5, 6]  # marker (1, 2) twice: the answer is 5, 6
    assert answer_token_weights(labels, [(1, 2)], 4.0) == [0, 0, 1, 1, 1, 1, 0, 0, 1, 1, 4, 4]
    assert answer_token_weights(labels, [(3,)], 4.0) == [0, 0] + [1] * 4 + [0, 0] + [1] * 4  # no marker
    # two spellings of the marker: the later hit wins whichever spelling it is
    assert answer_token_weights([7, 1, 2, 8, 0, 1, 2, 9], [(0, 1, 2), (1, 2)], 3.0)[-1] == 3.0
    assert answer_token_weights([7, 1, 2, 8, 0, 1, 2, 9], [(0, 1, 2), (1, 2)], 3.0)[3] == 1.0


@pytest.mark.parametrize("family", FAMILIES)
def test_weight_one_is_the_models_own_loss_and_five_adds_the_answer_tokens(
    family: str, tiny_dirs: dict[str, Path], images: dict[str, str]
) -> None:
    import torch
    import torch.nn.functional as F

    student = load_student(str(tiny_dirs[family]), cfg_for(family))
    tok = student.processor.tokenizer
    batch = _batch(student, images)
    model = student.peft_model(LoraConfig(), None, for_training=False)
    with torch.no_grad():
        out = model(**batch)
    markers = [tuple(tok(t, add_special_tokens=False)["input_ids"]) for t in ("Answer:", " Answer:")]
    plain = answer_weighted_loss(markers, 1.0)(out, batch["labels"])
    assert float(plain) == pytest.approx(float(out.loss), rel=1e-5)

    target = batch["labels"][:, 1:]
    ce = F.cross_entropy(
        out.logits[:, :-1].float().transpose(1, 2), target, ignore_index=IGNORE, reduction="none"
    )
    weights = torch.tensor([answer_token_weights(r, markers, 5.0) for r in target.tolist()])
    heavy = weights == 5.0
    # the weighted tokens are each row's last answer and its end of turn ("Answer: square" is the last gpt turn)
    for row, mask in zip(target.tolist(), heavy.tolist(), strict=True):
        assert tok.decode([t for t, m in zip(row, mask, strict=True) if m]).strip().startswith("square")
    n = int((target != IGNORE).sum())
    want = float(out.loss) + 4.0 * float(ce[heavy].sum()) / n
    assert float(answer_weighted_loss(markers, 5.0)(out, batch["labels"])) == pytest.approx(want, rel=1e-5)
    assert loss_for(tok, 1.0) is None and loss_for(tok, 5.0) is not None


def test_both_tune_paths_train_the_same_weighted_adapter_and_it_differs_from_the_plain_one(
    student: Any, images: dict[str, str], tmp_path: Path
) -> None:
    lora = LoraConfig(max_steps=6, batch_size=2, checkpoint_every=0, answer_weight=5.0)

    def sha(res: Any) -> str:
        return hashlib.sha256((Path(res.adapter_dir) / "adapter_model.safetensors").read_bytes()).hexdigest()

    samples = support_samples(images)
    trainer = student.tune(samples, str(tmp_path / "hf"), lora, seed=3)
    loop = student.tune(samples, str(tmp_path / "loop"), lora.model_copy(update={"trainer": "loop"}), seed=3)
    plain = student.tune(
        samples, str(tmp_path / "plain"), lora.model_copy(update={"answer_weight": 1.0}), seed=3
    )
    assert sha(trainer) == sha(loop)
    assert trainer.loss_curve == pytest.approx(loop.loss_curve, rel=1e-6)
    assert sha(plain) != sha(trainer)
    assert trainer.loss_curve[0] > plain.loss_curve[0]  # the same first batch, its answer counted five times
