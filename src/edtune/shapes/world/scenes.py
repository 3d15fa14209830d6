"""Scenes of the shapes world: generated from a seed, rendered to pixels, recovered from pixels.

A scene is a few flat-coloured shapes on a plain white background, drawn without anti-aliasing so that every
pixel is either background or exactly one palette colour. That is what makes `recover_scene` exact: objects are
the 4-connected components of each colour (objects never touch), their colour is the palette entry, their size
the bounding-box side, and their shape the fraction of the bounding box they fill (square ~1, circle ~0.79,
triangle ~0.5). The reference teacher uses `recover_scene` on the image it receives, never the generator's scene.

Geometry is defined on a 112 px canvas (what the tiny CPU student sees: 16 image tokens of 28 px). Every object
lies entirely in the left or the right half (with a gap to the midline), so "left"/"right" is never ambiguous.

Sizes and scene sizes were chosen by measurement (docs/student.md, FACTS "Object size decides whether the tiny
student sees"): objects of 14/26 px are never read by the tiny student, objects of 36-50 px are read within a few
hundred steps; and picking one object out of several ("the red circle") is the slow skill, learnable in the
pre-training budget with at most two objects per scene.
"""

from __future__ import annotations

import io
import random
from dataclasses import dataclass
from typing import Any

CANVAS = 112
BACKGROUND = (255, 255, 255)
COLORS: dict[str, tuple[int, int, int]] = {
    "red": (220, 30, 30),
    "green": (30, 160, 60),
    "blue": (40, 90, 230),
    "yellow": (240, 200, 20),
    "purple": (150, 60, 190),
    "orange": (250, 130, 20),
}
SHAPES = ("circle", "square", "triangle")
# World version: bump whenever scenes, families, wordings, tasks or the pool mix change (written into every
# generated world.json, task card and study result, so results from different worlds are never mixed).
WORLD_VERSION = "4"  # 4: balanced splits (count-by-side answers, control answers, option letters)
SIZES: dict[str, int] = {"small": 36, "large": 50}  # bounding-box side in px on the 112 canvas
MAX_OBJECTS = 2
_MARGIN = 2  # to the image border
_GAP = 3  # between objects' bounding boxes
_MID_GAP = 2  # between an object and the vertical midline


@dataclass(frozen=True, order=True)
class Obj:
    """One object. (cx, cy) is the centre of its bounding box on the 112 px canvas; the box is
    [cx - s/2, cx + s/2) x [cy - s/2, cy + s/2) with s = SIZES[size]."""

    cx: int
    cy: int
    shape: str
    color: str
    size: str

    @property
    def side(self) -> str:
        return "left" if self.cx < CANVAS // 2 else "right"

    @property
    def box(self) -> tuple[int, int, int, int]:
        """Inclusive pixel box (x0, y0, x1, y1)."""
        h = SIZES[self.size] // 2
        return (self.cx - h, self.cy - h, self.cx + h - 1, self.cy + h - 1)

    def name(self) -> str:
        return f"{self.color} {self.shape}"


@dataclass(frozen=True)
class Scene:
    """Objects sorted left to right (then top to bottom): a canonical order, so equal scenes compare equal."""

    objects: tuple[Obj, ...]

    def __len__(self) -> int:
        return len(self.objects)


def _fits(box: tuple[int, int, int, int], placed: list[Obj]) -> bool:
    x0, y0, x1, y1 = box
    for o in placed:
        a0, b0, a1, b1 = o.box
        if not (x1 + _GAP < a0 or a1 + _GAP < x0 or y1 + _GAP < b0 or b1 + _GAP < y0):
            return False
    return True


def make_scene(rng: random.Random, n_objects: int | None = None) -> Scene:
    """Draw a scene from `rng` (deterministic given its state). Fewer objects than asked only if they do not fit."""
    n = n_objects if n_objects is not None else rng.randint(1, MAX_OBJECTS)
    placed: list[Obj] = []
    for _ in range(n):
        shape = rng.choice(SHAPES)
        color = rng.choice(list(COLORS))
        size = rng.choice(list(SIZES))
        half = SIZES[size] // 2
        for _try in range(60):
            if rng.random() < 0.5:
                cx = rng.randint(_MARGIN + half, CANVAS // 2 - _MID_GAP - half)
            else:
                cx = rng.randint(CANVAS // 2 + _MID_GAP + half, CANVAS - _MARGIN - half)
            cy = rng.randint(_MARGIN + half, CANVAS - _MARGIN - half)
            obj = Obj(cx, cy, shape, color, size)
            if _fits(obj.box, placed):
                placed.append(obj)
                break
    return Scene(tuple(sorted(placed)))


def scene_from_seed(seed: int | str) -> Scene:
    """The scene of a seed (ints and strings both seed deterministically across processes)."""
    return make_scene(random.Random(seed))


_PALETTE_INDEX = {name: i + 1 for i, name in enumerate(COLORS)}


def _palette() -> list[int]:
    flat = list(BACKGROUND)
    for rgb in COLORS.values():
        flat.extend(rgb)
    return flat + [0] * (768 - len(flat))


def _draw(scene: Scene) -> Any:
    """Palette-mode image on the 112 canvas (no anti-aliasing: PIL draws P images with exact indices)."""
    from PIL import Image

    img = Image.new("P", (CANVAS, CANVAS), 0)
    img.putpalette(_palette())
    for o in scene.objects:
        _draw_into(img, o, o.box)
    return img


def _draw_into(img: Any, o: Obj, box: tuple[int, int, int, int]) -> None:
    from PIL import ImageDraw

    d = ImageDraw.Draw(img)
    x0, y0, x1, y1 = box
    fill = _PALETTE_INDEX[o.color]
    if o.shape == "square":
        d.rectangle((x0, y0, x1, y1), fill=fill)
    elif o.shape == "circle":
        d.ellipse((x0, y0, x1, y1), fill=fill)
    else:  # triangle pointing up, base on the bottom edge of the box
        d.polygon([(x0, y1), (x1, y1), ((x0 + x1) / 2, y0)], fill=fill)


def render(scene: Scene, size: int = CANVAS) -> Any:
    """The scene as an RGB PIL image of `size` x `size` (nearest-neighbour scaling from the 112 canvas, so
    multiples of 112 stay exactly recoverable)."""
    from PIL import Image

    img = _draw(scene)
    if size != CANVAS:
        img = img.resize((size, size), Image.Resampling.NEAREST)
    return img.convert("RGB")


def render_png(scene: Scene, size: int = CANVAS) -> bytes:
    """PNG bytes (palette mode: a few hundred bytes per image, fast to write, decodes to the exact colours)."""
    from PIL import Image

    img = _draw(scene)
    if size != CANVAS:
        img = img.resize((size, size), Image.Resampling.NEAREST)
    buf = io.BytesIO()
    img.save(buf, format="PNG", compress_level=6)
    return buf.getvalue()


# ---------------------------------------------------------------- recovery from pixels

_FILL_SQUARE = 0.9  # fill ratio above: square
_FILL_CIRCLE = 0.66  # between: circle; below: triangle


def recover_scene(img: Any) -> Scene:
    """Recover the scene from an image alone (connected components per palette colour).

    Exact for images made by `render` at any multiple of 112 px. Pixels that are neither background nor a
    palette colour (e.g. from lossy compression) are snapped to the nearest palette colour first, so mildly
    degraded images still recover sensibly.
    """
    import numpy as np
    from PIL import Image

    img = img.convert("RGB")
    if img.size != (CANVAS, CANVAS):
        img = img.resize((CANVAS, CANVAS), Image.Resampling.NEAREST)
    arr = np.asarray(img, dtype=np.int32)
    pal = np.array([BACKGROUND, *COLORS.values()], dtype=np.int32)  # (7, 3)
    dist = ((arr[:, :, None, :] - pal[None, None, :, :]) ** 2).sum(-1)
    labels = dist.argmin(-1)  # 0 = background, k = k-th colour
    names = list(COLORS)
    objects: list[Obj] = []
    seen = np.zeros(labels.shape, dtype=bool)
    ys, xs = np.nonzero(labels)
    lab = labels.tolist()
    seen_l = seen.tolist()
    for y0, x0 in zip(ys.tolist(), xs.tolist(), strict=True):
        if seen_l[y0][x0]:
            continue
        k = lab[y0][x0]
        stack = [(y0, x0)]
        seen_l[y0][x0] = True
        count = 0
        minx = maxx = x0
        miny = maxy = y0
        while stack:
            y, x = stack.pop()
            count += 1
            minx, maxx = min(minx, x), max(maxx, x)
            miny, maxy = min(miny, y), max(maxy, y)
            for ny, nx in ((y - 1, x), (y + 1, x), (y, x - 1), (y, x + 1)):
                if 0 <= ny < CANVAS and 0 <= nx < CANVAS and not seen_l[ny][nx] and lab[ny][nx] == k:
                    seen_l[ny][nx] = True
                    stack.append((ny, nx))
        w, h = maxx - minx + 1, maxy - miny + 1
        if count < 8:  # specks (noise), not objects
            continue
        side = max(w, h)
        size = min(SIZES, key=lambda s: abs(SIZES[s] - side))
        fill = count / (w * h)
        shape = "square" if fill > _FILL_SQUARE else "circle" if fill > _FILL_CIRCLE else "triangle"
        objects.append(Obj((minx + maxx + 1) // 2, (miny + maxy + 1) // 2, shape, names[k - 1], size))
    return Scene(tuple(sorted(objects)))


def render_object(shape: str, color: str, box: tuple[int, int, int, int], size: int = CANVAS) -> Any:
    """One object drawn into an inclusive pixel `box` of any size on the 112 canvas (RGB, `size` px): the easy
    images of the pre-training curriculum, where the object is bigger than any scene object so its colour
    fills several image tokens (`render` only draws the world's two sizes)."""
    from PIL import Image

    x0, y0, x1, y1 = box
    img = _draw(Scene(()))
    _draw_into(img, Obj((x0 + x1 + 1) // 2, (y0 + y1 + 1) // 2, shape, color, "large"), box)
    if size != CANVAS:
        img = img.resize((size, size), Image.Resampling.NEAREST)
    return img.convert("RGB")
