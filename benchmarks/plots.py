"""Rendering of study figures (PNG line plots drawn with Pillow, no plotting library)."""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any

# ---------------------------------------------------------------- rendering


def write_json(path: Path, data: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, indent=1, default=str) + "\n")
    os.replace(tmp, path)


PALETTE = [
    (31, 119, 180),
    (255, 127, 14),
    (44, 160, 44),
    (214, 39, 40),
    (148, 103, 189),
    (140, 86, 75),
    (227, 119, 194),
    (127, 127, 127),
    (188, 189, 34),
    (23, 190, 207),
    (0, 0, 0),
    (128, 0, 0),  # the budget plot across studies draws 12 selectors
    (0, 0, 128),
]


def line_plot_png(
    path: Path,
    panels: list[tuple[str, dict[str, list[tuple[float, float, float]]]]],
    *,
    x_label: str = "budget (% of pool)",
    y_label: str = "test accuracy",
) -> None:
    """A small multi-panel line chart with PIL (matplotlib is not installed): one panel per task, one line per
    series of (x, mean, std) points, error bars at ± std, a shared legend below."""
    from PIL import Image, ImageDraw

    pw, ph, m = 420, 300, 50
    names: list[str] = []
    for _, series in panels:
        names += [n for n in series if n not in names]
    width = pw * max(1, len(panels))
    cols = max(1, width // 210)
    legend_rows = math.ceil(len(names) / cols)
    img = Image.new("RGB", (width, ph + 20 + 16 * legend_rows), "white")
    d = ImageDraw.Draw(img)
    for k, (title, series) in enumerate(panels):
        ox = k * pw
        xs = [x for pts in series.values() for x, _, _ in pts] or [0.0, 1.0]
        x0, x1 = min(xs), max(xs)
        x1 = x1 if x1 > x0 else x0 + 1
        left, right, top, bottom = ox + m, ox + pw - 15, 25, ph - 35

        box = (x0, x1, left, right, top, bottom)

        def px(x: float, y: float, box: tuple[float, ...] = box) -> tuple[float, float]:
            a, b, lft, rgt, tp, bt = box
            return (lft + (x - a) / (b - a) * (rgt - lft), bt - max(0.0, min(1.0, y)) * (bt - tp))

        d.rectangle([left, top, right, bottom], outline=(0, 0, 0))
        d.text((left, 5), f"{title}: {y_label}", fill=(0, 0, 0))
        for t in range(0, 11, 2):
            y = t / 10
            _, yy = px(x0, y)
            d.line([left - 4, yy, left, yy], fill=(0, 0, 0))
            d.text((ox + 15, yy - 6), f"{y:.1f}", fill=(0, 0, 0))
        for x in sorted(set(xs)):
            xx, _ = px(x, 0)
            d.line([xx, bottom, xx, bottom + 4], fill=(0, 0, 0))
            d.text((xx - 8, bottom + 6), f"{x:g}", fill=(0, 0, 0))
        d.text((left + 100, bottom + 20), x_label, fill=(0, 0, 0))
        for name, pts in series.items():
            col = PALETTE[names.index(name) % len(PALETTE)]
            pts = sorted(pts)
            xy = [px(x, y) for x, y, _ in pts]
            if len(xy) > 1:
                d.line(xy, fill=col, width=2)
            for (x, y, s), (xx, yy) in zip(pts, xy, strict=True):
                d.ellipse([xx - 3, yy - 3, xx + 3, yy + 3], fill=col)
                if s:
                    _, ya = px(x, y + s)
                    _, yb = px(x, y - s)
                    d.line([xx, ya, xx, yb], fill=col)
    for i, name in enumerate(names):
        col = PALETTE[i % len(PALETTE)]
        x = 10 + (i % cols) * 210
        y = ph + 5 + (i // cols) * 16
        d.rectangle([x, y + 3, x + 12, y + 10], fill=col)
        d.text((x + 18, y), name, fill=(0, 0, 0))
    path.parent.mkdir(parents=True, exist_ok=True)
    img.save(path)
