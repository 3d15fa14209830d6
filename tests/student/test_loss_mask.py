"""The training loss sees assistant tokens only: prompts, image tokens and later human turns are masked."""

from __future__ import annotations

from pathlib import Path

import pytest

from edtune.student import load_student
from edtune.student.inputs import IGNORE, build_example, collate, strip_image_mark, turns

from .conftest import FAMILIES, cfg_for, support_samples

END_OF_TURN = {"qwen2-vl": "<|im_end|>\n", "llava": "</s>"}


def _runs(labels: list[int]) -> list[list[int]]:
    runs: list[list[int]] = []
    cur: list[int] = []
    for lab in labels:
        if lab == IGNORE:
            if cur:
                runs.append(cur)
            cur = []
        else:
            cur.append(lab)
    return [*runs, cur] if cur else runs


@pytest.mark.parametrize("family", FAMILIES)
def test_labelled_tokens_are_exactly_the_assistant_turns(
    family: str, tiny_dirs: dict[str, Path], images: dict[str, str]
) -> None:
    st = load_student(str(tiny_dirs[family]), cfg_for(family))
    sample = support_samples(images, 1)[0]
    ex = st.example(sample)
    tok = st.processor.tokenizer
    _human, gpt = turns(sample)
    decoded = [tok.decode(run, skip_special_tokens=False) for run in _runs(ex.labels)]
    assert decoded == [g + END_OF_TURN[family] for g in gpt]
    image_id = tok.convert_tokens_to_ids(st.family.image_token)
    n_image = sum(1 for i in ex.input_ids if i == image_id)
    assert n_image == 16  # 112 px -> 16 image tokens in both tiny families
    assert all(lab == IGNORE for i, lab in zip(ex.input_ids, ex.labels, strict=True) if i == image_id)
    assert all(lab in (IGNORE, i) for i, lab in zip(ex.input_ids, ex.labels, strict=True))


@pytest.mark.parametrize("family", FAMILIES)
def test_training_example_matches_the_processor_on_the_whole_conversation(
    family: str, tiny_dirs: dict[str, Path], images: dict[str, str]
) -> None:
    """Segment-wise tokenisation must not drift from what the model sees when the text is processed whole."""
    from edtune.io.images import load_image

    st = load_student(str(tiny_dirs[family]), cfg_for(family))
    sample = support_samples(images, 1)[0]
    human, gpt = turns(sample)
    full = st.processor.apply_chat_template(st.family.messages(human, gpt, True), tokenize=False)
    whole = st.processor(text=[full], images=[load_image(sample.image)], return_tensors="pt")
    ex = build_example(st.family, st.processor, human, gpt, load_image(sample.image))
    assert ex.input_ids == whole["input_ids"][0].tolist()
    if "mm_token_type_ids" in whole:
        assert ex.mm_token_type_ids == whole["mm_token_type_ids"][0].tolist()


def test_collate_pads_right_and_masks_padding() -> None:
    from edtune.student.inputs import Example

    a = Example([1, 2, 3], [IGNORE, 2, 3], [0, 0, 0], {})
    b = Example([4], [4], [0], {})
    batch = collate([a, b], pad_id=0, with_mm=True)
    assert batch["input_ids"].tolist() == [[1, 2, 3], [4, 0, 0]]
    assert batch["labels"].tolist() == [[IGNORE, 2, 3], [4, IGNORE, IGNORE]]
    assert batch["attention_mask"].tolist() == [[1, 1, 1], [1, 0, 0]]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("<image>\nWhat colour?", "What colour?"),
        ("What colour?\n<image>", "What colour?"),
        ("What colour?", "What colour?"),
    ],
)
def test_image_marker_is_stripped_from_llava_turns(text: str, expected: str) -> None:
    assert strip_image_mark(text) == expected
