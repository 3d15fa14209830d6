"""Model inputs from samples: prompts for generation, and training examples with assistant-only labels.

Training examples are built segment by segment (prompt part, assistant part, prompt part, ...) from the chat
template's own renderings, so the label mask is exactly the assistant tokens (including the end-of-turn
token, so the model learns to stop) whatever the family's template looks like. Image tokens are expanded by
the processor in the first segment only.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from edtune.schemas import SupportSample
from edtune.student.families import Family

IGNORE = -100
IMAGE_MARK = "<image>"


def fit_image(img: Any, max_side: int) -> Any:
    """Shrink (never enlarge) so the longer side is at most `max_side`: bounds image tokens and time."""
    w, h = img.size
    if max(w, h) <= max_side:
        return img
    s = max_side / max(w, h)
    return img.resize((max(1, round(w * s)), max(1, round(h * s))))


def strip_image_mark(text: str) -> str:
    """LLaVA-format turns carry a literal `<image>` marker; the chat template places the image instead."""
    t = text.replace(IMAGE_MARK + "\n", "", 1) if text.startswith(IMAGE_MARK) else text
    return t.replace(IMAGE_MARK, "").strip()


def turns(sample: SupportSample) -> tuple[list[str], list[str]]:
    human = [strip_image_mark(t.value) for t in sample.conversations if t.from_ == "human"]
    gpt = [t.value.strip() for t in sample.conversations if t.from_ == "gpt"]
    return human, gpt


@dataclass
class Example:
    input_ids: list[int]
    labels: list[int]
    mm_token_type_ids: list[int]
    vision: dict[str, Any]  # processor image tensors for this example (pixel_values, image_grid_thw, ...)


def build_example(
    family: Family, processor: Any, human: list[str], gpt: list[str], image: Any | None
) -> Example:
    """Tokenise one conversation; labels are -100 except on assistant tokens."""
    with_image = image is not None
    segments: list[tuple[str, bool]] = []
    done = ""
    for i in range(len(gpt)):
        msgs = family.messages(human[: i + 1], gpt[:i], with_image)
        prompt = processor.apply_chat_template(msgs, tokenize=False, add_generation_prompt=True)
        full = processor.apply_chat_template(
            family.messages(human[: i + 1], gpt[: i + 1], with_image), tokenize=False
        )
        if not prompt.startswith(done) or not full.startswith(prompt):
            raise ValueError("chat template is not prefix-stable; cannot mask assistant tokens")
        segments.append((prompt[len(done) :], False))
        segments.append((full[len(prompt) :], True))
        done = full
    ids: list[int] = []
    labels: list[int] = []
    mm: list[int] = []
    vision: dict[str, Any] = {}
    tok = processor.tokenizer
    for k, (text, is_asst) in enumerate(segments):
        if k == 0:
            enc = processor(text=[text], images=[image] if with_image else None, return_tensors="pt")
            seg = enc["input_ids"][0].tolist()
            seg_mm = enc["mm_token_type_ids"][0].tolist() if "mm_token_type_ids" in enc else [0] * len(seg)
            vision = {
                k2: v
                for k2, v in enc.items()
                if k2 not in ("input_ids", "attention_mask", "mm_token_type_ids")
            }
        else:
            seg = tok(text, add_special_tokens=False)["input_ids"]
            seg_mm = [0] * len(seg)
        ids += seg
        mm += seg_mm
        labels += seg if is_asst else [IGNORE] * len(seg)
    return Example(ids, labels, mm, vision)


def collate(examples: list[Example], pad_id: int, with_mm: bool) -> dict[str, Any]:
    """Right-padded training batch (causal LM loss ignores pads through labels = -100)."""
    import torch

    n = max(len(e.input_ids) for e in examples)
    batch: dict[str, Any] = {
        "input_ids": torch.tensor([e.input_ids + [pad_id] * (n - len(e.input_ids)) for e in examples]),
        "attention_mask": torch.tensor(
            [[1] * len(e.input_ids) + [0] * (n - len(e.input_ids)) for e in examples]
        ),
        "labels": torch.tensor([e.labels + [IGNORE] * (n - len(e.labels)) for e in examples]),
    }
    if with_mm:
        batch["mm_token_type_ids"] = torch.tensor(
            [e.mm_token_type_ids + [0] * (n - len(e.mm_token_type_ids)) for e in examples]
        )
    keys = {k for e in examples for k in e.vision}
    for k in keys:
        parts = [e.vision[k] for e in examples if k in e.vision]
        batch[k] = torch.cat(parts, dim=0)
    return batch
