"""What the tuned student gets wrong on the colour-disguised tasks: the other object's colour, or a colour not there.

    python -m benchmarks.binding_errors --out binding-errors-k4 --workdirs /tmp/pt10k-w1 /tmp/pt10k-w2 /tmp/pt10k-w3 \
        --runs error-bm25-b200-s0-k4 oracle-task-b200-s0-k4 [--tasks color-by-side color-by-size]

Why: `color-by-side` and `color-by-size` show two shapes and ask for the colour of one of them. A student that sees
both colours but cannot bind a colour to a side (or a size) names one of the two, right about half the time; chance
over the four options is 0.25, so the per-task goal (chance + 0.25) sits exactly where that student stops. Reading
each wrong answer against the picture's scene (recovered from the image, as the reference teacher does) says which
failure a figure is: the binding (the other object's colour) or something else (a colour absent from the picture,
no answer). WORKDIR is a `benchmarks.data_efficiency` study workdir; a run is named without its task prefix.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from pathlib import Path
from typing import Literal

from pydantic import BaseModel

from benchmarks.common import RESULTS, provenance, write_json

Outcome = Literal["correct", "other object", "absent colour", "no answer"]
OUTCOMES: tuple[Outcome, ...] = ("correct", "other object", "absent colour", "no answer")


class RunErrors(BaseModel):
    """One tuned run's held-out answers, by outcome."""

    world_seed: int
    task: str
    run: str
    n: int
    counts: dict[str, int]


def classify(answer: str | None, correct: bool, scene_colours: set[str]) -> Outcome:
    """The outcome of one answer to "which colour is the <side/size> one?" in a picture with `scene_colours`."""
    if correct:
        return "correct"
    if answer is None:
        return "no answer"
    return "other object" if answer.strip().lower() in scene_colours else "absent colour"


def run_errors(workdir: Path, task: str, run: str) -> RunErrors:
    from edtune.io.images import decode_image
    from edtune.shapes.world.reference_teacher import recover_scene

    task_dir = workdir / "world" / "tasks" / task
    images = {}
    for line in (task_dir / "test.jsonl").read_text().splitlines():
        sample = json.loads(line)
        images[sample["id"]] = task_dir / sample["image"]
    run_dir = workdir / "runs" / f"{task}-{run}"
    # the last round's traces; round-00 is the untuned base
    rounds = sorted(run_dir.glob("round-*/test-traces.jsonl"))
    if not rounds:
        raise FileNotFoundError(f"{run_dir}: no round-*/test-traces.jsonl (a finished data_efficiency run?)")
    traces_path = rounds[-1]
    counts: Counter[str] = Counter()
    for line in traces_path.read_text().splitlines():
        trace = json.loads(line)
        path = images[trace["sample_id"]]
        scene = recover_scene(decode_image(path.read_bytes(), str(path)))
        counts[classify(trace["answer"], bool(trace["correct"]), {o.color for o in scene.objects})] += 1
    world = json.loads((workdir / "world" / "world.json").read_text())
    return RunErrors(
        world_seed=int(world["seed"]),
        task=task,
        run=run,
        n=sum(counts.values()),
        counts={o: counts.get(o, 0) for o in OUTCOMES},
    )


def markdown(rows: list[RunErrors]) -> str:
    lines = [
        "| world seed | task | run | " + " | ".join(OUTCOMES) + " |",
        "|---|---|---|" + "---|" * len(OUTCOMES),
    ]
    for r in rows:
        cells = [f"{r.counts[o] / r.n:.3f}" for o in OUTCOMES]
        lines.append(f"| {r.world_seed} | `{r.task}` | `{r.run}` | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        prog="python -m benchmarks.binding_errors", description=__doc__.split("\n")[0]
    )
    ap.add_argument("--out", required=True, help="results name (results/OUT.json and .md)")
    ap.add_argument("--workdirs", nargs="+", type=Path, required=True, help="data_efficiency study workdirs")
    ap.add_argument("--runs", nargs="+", required=True, help="run names without the task prefix")
    colour_tasks = ["color-by-side", "color-by-size"]  # tasks whose answer is an object's colour
    ap.add_argument("--tasks", nargs="+", choices=colour_tasks, default=colour_tasks)
    ap.add_argument("--allow-dirty", action="store_true", help="run from uncommitted code (recorded)")
    args = ap.parse_args(argv)
    out_json, out_md = RESULTS / f"{args.out}.json", RESULTS / f"{args.out}.md"
    command = ["benchmarks.binding_errors", *(argv if argv is not None else sys.argv[1:])]
    prov = provenance(command, allow_dirty=args.allow_dirty, writing=[out_json, out_md])
    rows = [run_errors(w, t, r) for w in args.workdirs for t in args.tasks for r in args.runs]
    write_json(out_json, {"provenance": prov, "rows": [r.model_dump() for r in rows]})
    out_md.write_text(markdown(rows))
    print(markdown(rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
