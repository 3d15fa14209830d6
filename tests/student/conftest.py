"""Tiny real students built once per session (both families), plus a small shapes-like image set."""

from __future__ import annotations

from pathlib import Path

import pytest

from edtune.config import StudentConfig
from edtune.schemas import SupportSample, TaskSample

FAMILIES = ["qwen2-vl", "llava"]


@pytest.fixture(scope="session", autouse=True)
def _one_thread() -> None:
    import torch

    torch.set_num_threads(1)


@pytest.fixture(scope="session")
def tiny_dirs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    from edtune.shapes.student.tiny import build_tiny

    root = tmp_path_factory.mktemp("tiny")
    return {f: Path(build_tiny(f, str(root / f), seed=0)) for f in FAMILIES}


@pytest.fixture(scope="session")
def images(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    from PIL import Image, ImageDraw

    root = tmp_path_factory.mktemp("img")
    out = {}
    for colour in ("red", "blue", "green"):
        img = Image.new("RGB", (112, 112), "white")
        ImageDraw.Draw(img).rectangle([20, 30, 60, 70], fill=colour)
        p = root / f"{colour}.png"
        img.save(p)
        out[colour] = str(p)
    return out


def cfg_for(family: str, **kw: object) -> StudentConfig:
    opts: dict[str, object] = {"max_new_tokens": 12, "batch_size": 4, **kw}
    return StudentConfig(family=family, **opts)  # type: ignore[arg-type]


def task_samples(images: dict[str, str], n: int = 5) -> list[TaskSample]:
    colours = list(images)
    out = []
    for i in range(n):
        c = colours[i % len(colours)]
        mc = i % 2 == 1
        out.append(
            TaskSample(
                id=f"t{i}",
                image=images[c],
                question="What colour is the square?" + " Look closely." * (i % 3),
                choices=colours if mc else None,
                answer=c,
            )
        )
    return out


def support_samples(images: dict[str, str], n: int = 6) -> list[SupportSample]:
    out = []
    for i, (c, uri) in enumerate(list(images.items()) * (n // len(images) + 1)):
        if len(out) == n:
            break
        out.append(
            SupportSample.model_validate(
                {
                    "id": f"s{i}",
                    "image": uri,
                    "conversations": [
                        {"from": "human", "value": "<image>\nWhat colour is the square?"},
                        {"from": "gpt", "value": f"Step 1: The square is {c}.\nAnswer: {c}"},
                        {"from": "human", "value": "And its shape?"},
                        {"from": "gpt", "value": "Answer: square"},
                    ],
                }
            )
        )
    return out
