"""Can a short LoRA fill each gap of the base student? (issue 13 item 2)

For each gap family: tune the base on the pool's samples of that family plus 20% replay (base families and
captions), at most 300 steps with the default LoRA settings, then score fresh probes (generic wording, 1- and
2-object scenes, half multiple-choice) of the gap family and of the base families it might forget. Accuracy is
reported overall and per object count: the tiny student learns a gap on one-object scenes far faster than the
binding of one object out of two, and a mean would hide which.

    python -m benchmarks.gap_lora --world DIR [--families side size side_color side_count size_color]
        [--steps 300] [--n 100] [--out benchmarks/results/gap_lora.json]

DIR is a generated world (`edtune world generate --out DIR`, default 20K pool). Writes JSON (with provenance)
and a Markdown table beside it.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from benchmarks.common import RESULTS, provenance

WATCHED = ("color", "shape", "count_color")  # base families a gap LoRA might make the student forget


def table(rec: dict[str, Any]) -> str:
    rows = [
        "| gap family | before | after (1 / 2 objects) | pool samples | colour / shape / count_color after |",
        "|---|---|---|---|---|",
    ]
    for r in rec["runs"]:
        fam = r["gap_families"][0]
        b, a = r["before"][fam], r["after"][fam]
        split = " / ".join(str(a["by_objects"].get(k, "–")) for k in ("1", "2"))
        kept = " / ".join(f"{r['after'][w]['accuracy']:.2f}" for w in WATCHED)
        rows.append(
            f"| {fam} | {b['accuracy']:.2f} | **{a['accuracy']:.2f}** ({split}) | {r['train']['gap_samples']} |"
            f" {kept} |"
        )
    return "\n".join(rows) + "\n"


def main(argv: list[str] | None = None) -> int:
    from edtune.shapes.student.base import shipped_base
    from edtune.shapes.student.measure import lora_gap_study

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--world", required=True, help="a generated world directory")
    ap.add_argument("--base", default=None, help="base student (default: the shipped one)")
    ap.add_argument(
        "--families", nargs="+", default=["side", "size", "side_color", "side_count", "size_color"]
    )
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--n", type=int, default=100, help="fresh probes per family")
    ap.add_argument("--out", default=str(RESULTS / "gap_lora.json"))
    ap.add_argument("--allow-dirty", action="store_true", help="run from uncommitted code (recorded)")
    args = ap.parse_args(argv)
    prov = provenance(
        sys.argv if argv is None else ["benchmarks/gap_lora.py", *argv], allow_dirty=args.allow_dirty
    )
    base = args.base or str(shipped_base())
    world_version = json.loads((Path(args.world) / "world.json").read_text()).get("world_version")
    runs = []
    for fam in args.families:
        r = lora_gap_study(
            base,
            args.world,
            gap_families=(fam,),
            steps=args.steps,
            n_probe=args.n,
            probe_families=(fam, *WATCHED),
        )
        runs.append(r)
        print(json.dumps({"family": fam, "after": r["after"][fam], "train": r["train"]}), flush=True)
    rec = {"provenance": prov, "world_version": world_version, "base": base, "runs": runs}
    out = Path(args.out)
    out.write_text(json.dumps(rec, indent=2) + "\n")
    out.with_suffix(".md").write_text(table(rec))
    print(table(rec))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
