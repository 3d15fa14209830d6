"""The shipped base student, measured (issue 13 item 1): every family on 200 fresh probes, every task's val split.

    python -m benchmarks.base_student --world DIR [--n 200] [--out benchmarks/results/base_student_measure.json]

Base families must be >= 0.90 and gap families <= 0.5 (`kind` says which is which); the record also carries the
pre-training command, steps and seconds the base was made with (its `pretrain.json`), and provenance.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from benchmarks.common import RESULTS, provenance


def main(argv: list[str] | None = None) -> int:
    from edtune.config import StudentConfig
    from edtune.shapes.student.base import shipped_base
    from edtune.shapes.student.measure import measure_student
    from edtune.student.hf import load_student

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--world", required=True, help="a generated world directory (its tasks' val splits)")
    ap.add_argument("--n", type=int, default=200, help="fresh probes per family")
    ap.add_argument("--out", default=str(RESULTS / "base_student_measure.json"))
    ap.add_argument("--allow-dirty", action="store_true", help="run from uncommitted code (recorded)")
    args = ap.parse_args(argv)
    argv_rec = sys.argv if argv is None else ["benchmarks/base_student.py", *argv]
    prov = provenance(argv_rec, allow_dirty=args.allow_dirty)
    base = shipped_base()
    if base is None:
        raise SystemExit("the shipped base student is missing or does not verify")
    pre = json.loads((base / "pretrain.json").read_text())
    from edtune.shapes.preset import SHAPES_PRESET  # the tiny student's settings, as before the 7B defaults

    cfg = StudentConfig(**SHAPES_PRESET.values["student"])
    res = measure_student(load_student(str(base), cfg), args.world, args.n)
    world_version = json.loads((Path(args.world) / "world.json").read_text()).get("world_version")
    rec = {
        "provenance": prov,
        "world_version": world_version,
        "pretrain": {k: pre.get(k) for k in ("command", "steps", "train_seconds", "steps_per_s", "params")},
        **res,
    }
    Path(args.out).write_text(json.dumps(rec, indent=2) + "\n")
    for fam, r in res["families"].items():
        print(f"{fam:12} {r['kind']:10} {r['accuracy']:.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
