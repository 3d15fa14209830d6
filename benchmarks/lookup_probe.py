"""Can a base student look one object of two up by its side or its size? Three wordings each, per base.

    python -m benchmarks.lookup_probe --out lookup-probe [--bases NAME=DIR ...] [--n 100]

Why: the colour-disguised tasks (`color-by-side`, `color-by-size`) show two shapes and ask for the colour of the one
on a side, or of a size. The pre-training stream describes objects referred to by side or size ("Describe the
object on the left.") so that the base could look an object up by where it is and how big it is, and a short LoRA
would only have to route the task's question to that. This probe checks the premise: on fresh two-object scenes
whose objects differ in side, size and colour, it asks for the object on one side (or of one size) in the
pre-training's own description wording, in the pool's generic wording of the gap family, and in the task's own
wording, and counts the answers that name the asked object's colour, the other object's colour, or neither. A base
that sees both objects but cannot look one up names the other's colour as often as the asked one's (0.5 / 0.5).

`--bases` names candidate base directories (`NAME=DIR`); the shipped base is always probed first (`shipped`).
Every base is recorded by its manifest's sha256 and, where it has one, its `pretrain.json` command.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from pydantic import BaseModel

from benchmarks.common import RESULTS, base_fingerprint, provenance, write_json

if TYPE_CHECKING:
    from edtune.shapes.world.scenes import Scene

# (probe name, attribute the object is looked up by, question template): the pre-training's description wording,
# the pool's generic wording of the gap family, the target task's own wording.
PROBES: tuple[tuple[str, str, str], ...] = (
    ("describe the object on a side", "side", "Describe the object on the {side}."),
    ("pool: colour of the object on a side", "side", "What color is the object on the {side}?"),
    ("task color-by-side", "side", "Which colour is the shape in the {side} half of the picture?"),
    ("describe the object of a size", "size", "Describe the {size} object."),
    ("pool: colour of the object of a size", "size", "What color is the {size} object?"),
    ("task color-by-size", "size", "Of the two shapes, which colour is the {size} one?"),
)


class ProbeResult(BaseModel):
    """One base on one probe: shares of answers naming the asked object's colour, the other's only, neither."""

    base: str
    probe: str
    n: int
    asked: float
    other: float
    neither: float


def scenes(n: int, seed: int = 0) -> list[Scene]:
    """`n` fresh two-object scenes whose objects differ in side, size and colour (a seed namespace of their own)."""
    from edtune.shapes.world.scenes import make_scene

    rng = random.Random(f"lookup-probe:{seed}")
    out: list[Scene] = []
    while len(out) < n:
        s = make_scene(rng, 2)
        a, b = s.objects
        if a.side != b.side and a.size != b.size and a.color != b.color:
            out.append(s)
    return out


def classify(answer: str | None, asked: str, other: str) -> str:
    """ "asked" when the answer names the asked object's colour (a description names it with its shape and side),
    "other" when it names only the other object's, "neither" otherwise."""
    words = set((answer or "").lower().replace(".", " ").split())
    return "asked" if asked in words else "other" if other in words else "neither"


def probe_base(name: str, base_dir: str, picked: list[Scene], tmp: Path) -> list[ProbeResult]:
    """Greedy answers of one base to every probe; the asked object alternates between the scene's two."""
    from edtune.config import StudentConfig
    from edtune.schemas import TaskSample
    from edtune.shapes.preset import SHAPES_PRESET
    from edtune.shapes.world.scenes import render
    from edtune.student.hf import load_student

    student = load_student(base_dir, StudentConfig(**SHAPES_PRESET.values["student"]))
    for i, s in enumerate(picked):
        if not (tmp / f"{i}.png").exists():
            render(s).save(tmp / f"{i}.png")
    results = []
    for probe, attr, template in PROBES:
        samples, pairs = [], []
        for i, s in enumerate(picked):
            asked, other = s.objects[i % 2], s.objects[1 - i % 2]
            question = template.format(**{attr: getattr(asked, attr)})
            samples.append(
                TaskSample(id=f"p{i}", image=str(tmp / f"{i}.png"), question=question, answer=asked.color)
            )
            pairs.append((asked.color, other.color))
        counts = {"asked": 0, "other": 0, "neither": 0}
        for trace, (asked_c, other_c) in zip(student.answer(samples), pairs, strict=True):
            counts[classify(trace.answer, asked_c, other_c)] += 1
        n = len(samples)
        results.append(
            ProbeResult(base=name, probe=probe, n=n, **{k: round(v / n, 3) for k, v in counts.items()})
        )
    return results


def markdown(rows: list[ProbeResult]) -> str:
    bases = list(dict.fromkeys(r.base for r in rows))
    lines = [
        "| probe | " + " | ".join(f"`{b}`: asked / other / neither" for b in bases) + " |",
        "|---|" + "---|" * len(bases),
    ]
    for probe, _, _ in PROBES:
        cells = [
            f"{r.asked:.2f} / {r.other:.2f} / {r.neither:.2f}"
            for b in bases
            for r in rows
            if (r.base, r.probe) == (b, probe)
        ]
        lines.append(f"| {probe} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    from edtune.shapes.student.base import shipped_base

    ap = argparse.ArgumentParser(prog="python -m benchmarks.lookup_probe", description=__doc__.split("\n")[0])
    ap.add_argument("--out", required=True, help="results name (results/OUT.json and .md)")
    ap.add_argument("--bases", nargs="*", default=[], metavar="NAME=DIR", help="candidate base directories")
    ap.add_argument("--n", type=int, default=100, help="two-object scenes per probe")
    ap.add_argument("--allow-dirty", action="store_true", help="run from uncommitted code (recorded)")
    args = ap.parse_args(argv)
    shipped = shipped_base()
    if shipped is None:
        ap.error("the shipped base student is missing or does not verify")
    bases = {"shipped": str(shipped)}
    for spec in args.bases:
        name, sep, path = spec.partition("=")
        if not sep or not name or base_fingerprint(path) is None:
            ap.error(f"--bases {spec}: expected NAME=DIR, a base directory with a manifest.json")
        bases[name] = path
    out_json, out_md = RESULTS / f"{args.out}.json", RESULTS / f"{args.out}.md"
    command = ["benchmarks.lookup_probe", *(argv if argv is not None else sys.argv[1:])]
    prov = provenance(command, allow_dirty=args.allow_dirty, writing=[out_json, out_md])
    picked = scenes(args.n)
    rows: list[ProbeResult] = []
    with tempfile.TemporaryDirectory() as tmp:
        for name, path in bases.items():
            rows += probe_base(name, path, picked, Path(tmp))
    records = {}
    for name, path in bases.items():
        pre = Path(path) / "pretrain.json"
        command_of = json.loads(pre.read_text()).get("command") if pre.is_file() else None
        records[name] = {"fingerprint": base_fingerprint(path), "pretrain_command": command_of}
    write_json(out_json, {"provenance": prov, "bases": records, "rows": [r.model_dump() for r in rows]})
    out_md.write_text(markdown(rows))
    print(markdown(rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
