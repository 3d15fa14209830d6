"""`edtune demo --quick` with the Trainer tune path (lora.trainer=hf) against the old hand-written loop (loop).

Issue 17: the new tune path must not make the quick demo more than 10% slower. Runs alternate (hf, loop, hf, ...)
in fresh work directories, so a machine's drifting load falls on both arms; the median of each arm is compared.

    python -m benchmarks.demo_ab [--runs 3] [--workdir /tmp/edtune-ab] [--out benchmarks/results/demo_quick_ab.json]
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
from pathlib import Path
from typing import Any

from benchmarks.common import RESULTS, provenance

_ONE_RUN = """
import sys
import edtune.shapes.demo as d
trainer, workdir = sys.argv[1], sys.argv[2]
plain = d.world_config
def with_trainer(*a, overrides=None, **k):
    ov = dict(overrides or {})
    ov["lora"] = {**ov.get("lora", {}), "trainer": trainer}
    return plain(*a, overrides=ov, **k)
d.world_config = with_trainer
from edtune.cli import main
sys.exit(main(["demo", "--quick", "--workdir", workdir, "--json"]))
"""


def one_run(trainer: str, workdir: Path) -> dict[str, Any]:
    shutil.rmtree(workdir, ignore_errors=True)
    out = subprocess.run(
        [sys.executable, "-c", _ONE_RUN, trainer, str(workdir)], capture_output=True, text=True, check=True
    )
    res = json.loads(out.stdout)
    return {"stage_seconds": res["stage_seconds"], "test_accuracy_after": res["test_accuracy_after"]}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--workdir", default="/tmp/edtune-ab")
    ap.add_argument("--out", default=str(RESULTS / "demo_quick_ab.json"))
    ap.add_argument("--allow-dirty", action="store_true", help="run from uncommitted code (recorded)")
    args = ap.parse_args(argv)
    prov = provenance(
        sys.argv if argv is None else ["benchmarks/demo_ab.py", *argv], allow_dirty=args.allow_dirty
    )
    runs = []
    for i in range(1, args.runs + 1):
        for trainer in ("hf", "loop"):
            runs.append(
                {"trainer": trainer, "run": i, **one_run(trainer, Path(args.workdir) / f"{trainer}-{i}")}
            )
            print(json.dumps(runs[-1]), flush=True)

    def median(trainer: str, stage: str) -> float:
        return statistics.median(r["stage_seconds"][stage] for r in runs if r["trainer"] == trainer)

    pipe = {t: median(t, "pipeline (kfp-local)") for t in ("hf", "loop")}
    tune = {t: median(t, "tune") for t in ("hf", "loop")}
    rec = {
        "provenance": prov,
        "median_pipeline_s": pipe,
        "median_tune_s": tune,
        "pipeline_slowdown": round(pipe["hf"] / pipe["loop"] - 1, 3),
        "tune_slowdown": round(tune["hf"] / tune["loop"] - 1, 3),
        "runs": runs,
    }
    Path(args.out).write_text(json.dumps(rec, indent=2) + "\n")
    print(json.dumps({k: rec[k] for k in ("median_pipeline_s", "median_tune_s", "pipeline_slowdown")}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
