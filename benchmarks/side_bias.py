"""Where the demo's `left-right` errors sit: accuracy and the share answering "left", by the object's true side.

    python -m benchmarks.demo_worlds --quick --seeds 1 2 3 --workdir W     # keeps each world's demo work directory
    python -m benchmarks.side_bias --out side-bias-quick W/quick/world-seed-1 W/quick/world-seed-2 ...

Why: a mean accuracy of 0.66 on a balanced two-way task can be a student that half-sees every object or one that
answers "left" to most of them. The held-out split's scenes are regenerated from the world seed (the generator is
deterministic), so each test question is matched to its object's true side without reading pixels; the base's
traces (round 0) and the kept round's are read from the demo's own work directory.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from benchmarks.bookkeeping import RESULTS, provenance
from benchmarks.plots import write_json
from edtune.io import read_jsonl
from edtune.schemas import Trace

TASK = "left-right"


def true_sides(world_dir: Path, world: dict[str, Any]) -> dict[str, str]:
    """Test sample id -> the side of its (single) object, from the world's seed and split size (`world.json`)."""
    from edtune.shapes.world.tasks import TASKS, iter_task

    n = next(t["test"] for t in world["tasks"] if t["name"] == TASK)
    return {
        s.id: scene.objects[0].side for s, scene, _ in iter_task(TASKS[TASK], "test", n, int(world["seed"]))
    }


def breakdown(workdir: Path) -> dict[str, Any]:
    """Per stage and true side: n, accuracy and the share of answers that say "left". "tuned" is the last round
    tuned (the student the LoRA made; the demo may have kept an earlier round on validation: `kept_round`)."""
    run = workdir / "runs" / f"demo-{TASK}"
    kept = int(json.loads((run / "final" / "manifest.json").read_text())["best_round"])
    tuned = max(int(d.parent.name.split("-")[1]) for d in run.glob("round-*/test-traces.jsonl"))
    world = json.loads((workdir / "world" / "world.json").read_text())
    sides = true_sides(workdir / "world", world)
    out: dict[str, Any] = {"workdir": str(workdir), "kept_round": kept, "last_tuned_round": tuned}
    for stage, r in (("base", 0), ("tuned", tuned)):
        traces = read_jsonl(run / f"round-{r:02d}" / "test-traces.jsonl", Trace, id_field="sample_id")
        for side in ("left", "right"):
            ts = [t for t in traces if sides.get(t.sample_id) == side]
            out[f"{stage}_{side}"] = {
                "n": len(ts),
                "accuracy": round(sum(t.correct for t in ts) / len(ts), 3),
                "says_left": round(sum(t.answer == "left" for t in ts) / len(ts), 3),
            }
    out["world"] = world["seed"]
    return out


def markdown(rows: list[dict[str, Any]]) -> str:
    head = '| world | stage | object on the left: accuracy | object on the right: accuracy | answers "left" (all) |'
    lines = [head, "|---|---|---|---|---|"]
    for row in rows:
        for stage in ("base", "tuned"):
            left, right = row[f"{stage}_left"], row[f"{stage}_right"]
            says = (left["says_left"] * left["n"] + right["says_left"] * right["n"]) / (
                left["n"] + right["n"]
            )
            lines.append(
                f"| {row['world']} | {stage} | {left['accuracy']:.2f} | {right['accuracy']:.2f} | {says:.0%} |"
            )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.side_bias", description=__doc__.split("\n")[0])
    ap.add_argument("workdirs", nargs="+", type=Path, help="`edtune demo` work directories (one per world)")
    ap.add_argument("--out", required=True, help="results name (results/OUT.json and .md)")
    ap.add_argument("--allow-dirty", action="store_true", help="run from uncommitted code (recorded)")
    args = ap.parse_args(argv)
    command = ["python", "-m", "benchmarks.side_bias", *(argv if argv is not None else sys.argv[1:])]
    prov = provenance(command, allow_dirty=args.allow_dirty, writing=[RESULTS / f"{args.out}.json"])
    rows = [breakdown(wd) for wd in args.workdirs]
    write_json(RESULTS / f"{args.out}.json", {"task": TASK, "rows": rows, "provenance": prov})
    (RESULTS / f"{args.out}.md").write_text(markdown(rows))
    print(markdown(rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
