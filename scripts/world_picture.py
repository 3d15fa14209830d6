"""Draw docs/img/world-scenes.png: the first test sample of every target task (224 px), its question and answer.

    python scripts/world_picture.py [--out docs/img/world-scenes.png]

Regenerate it whenever the world version changes (docs/world.md shows it).
"""

from __future__ import annotations

import argparse
import textwrap

from PIL import Image, ImageDraw, ImageFont

from edtune.shapes.world.scenes import WORLD_VERSION, render
from edtune.shapes.world.tasks import TASKS, iter_task

TILE, PAD, TEXT_H = 224, 8, 90


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--out", default="docs/img/world-scenes.png")
    args = ap.parse_args(argv)
    font = ImageFont.load_default(size=11)
    sheet = Image.new("RGB", (len(TASKS) * (TILE + 2 * PAD), TILE + TEXT_H + 2 * PAD), "white")
    draw = ImageDraw.Draw(sheet)
    for k, spec in enumerate(TASKS.values()):
        sample, scene, _ = next(iter_task(spec, "test", 1, seed=0))
        x = k * (TILE + 2 * PAD) + PAD
        sheet.paste(render(scene, size=TILE), (x, PAD))
        draw.rectangle((x - 1, PAD - 1, x + TILE, PAD + TILE), outline="gray")
        y = PAD + TILE + 6
        draw.text((x, y), f"{spec.name} ({spec.kind})", fill="black", font=font)
        for line in textwrap.wrap(sample.question, 40)[:3]:
            y += 14
            draw.text((x, y), line, fill=(60, 60, 60), font=font)
        draw.text((x, y + 16), f"answer: {sample.answer}", fill=(0, 110, 0), font=font)
    draw.text((PAD, sheet.height - 14), f"world version {WORLD_VERSION}", fill="gray", font=font)
    sheet.save(args.out)
    print(args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
