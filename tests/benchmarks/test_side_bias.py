"""The side breakdown matches each held-out question to its object's true side without reading pixels."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from PIL import Image

from benchmarks.side_bias import true_sides
from edtune.shapes.world.generate import generate_world


def test_regenerated_sides_match_the_pictures(tmp_path: Path) -> None:
    generate_world(str(tmp_path), seed=2, pool_size=40, val_size=8, test_size=16, progress=False)
    sides = true_sides(tmp_path, json.loads((tmp_path / "world.json").read_text()))
    task = tmp_path / "tasks" / "left-right"
    samples = [json.loads(line) for line in (task / "test.jsonl").read_text().splitlines()]
    assert len(sides) == len(samples) == 16 and set(sides.values()) == {"left", "right"}
    for s in samples:
        img = np.asarray(Image.open(task / s["image"]).convert("RGB")).astype(int)
        xs = np.nonzero(np.abs(img - img[0, 0]).sum(-1) > 30)[
            1
        ]  # the object's pixels (background at the corner)
        assert sides[s["id"]] == ("left" if xs.mean() < img.shape[1] / 2 else "right"), s["id"]
