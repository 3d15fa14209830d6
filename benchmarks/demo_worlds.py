"""The demo on worlds it was not tuned on: `edtune demo` run as the README runs it, once per world seed.

    python -m benchmarks.demo_worlds --quick --seeds 1 2 3      # writes results/demo-worlds-quick.{json,md}
    python -m benchmarks.demo_worlds --seeds 1 2 3              # the full demo: results/demo-worlds-full.*

Why: the demo's settings (pool, budget, LoRA steps, answer weight, restarts) were chosen on development world
seeds (0, then also 4, 5, 9 and 10), so a figure measured there flatters them; `--set` and `--pool-size` compare a
variant on those development worlds before it is adopted. Each seed generates a different shapes world (scenes, tasks, pool) and draws
the reference teacher's noise afresh; the base student, the settings and the LoRA seeds stay. Reported per seed
and as the median and range over seeds, beside the held-out split's chance level and best constant answer, with
choice log-likelihood accuracy beside generated accuracy, and how round 1's mistakes were diagnosed.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from benchmarks.bookkeeping import RESULTS, provenance

COLUMNS = (
    ("world seed", "world_seed", "{}"),
    ("chance", "test_chance", "{:.3f}"),
    ("best constant", "test_best_constant", "{:.3f}"),
    ("base", "test_accuracy_before", "{:.3f}"),
    ("base (log-lik.)", "test_ll_accuracy_before", "{:.3f}"),
    ("tuned", "test_accuracy_after", "{:.3f}"),
    ("tuned (log-lik.)", "test_ll_accuracy_after", "{:.3f}"),
    ("tuned - best constant", "margin_over_constant", "{:+.3f}"),
    ("by answer switch", "answer_switch_share", "{:.0%}"),
    ("undiagnosed", "undiagnosed_share", "{:.0%}"),
    ("seconds", "seconds", "{:.0f}"),
)


def run_one(
    seed: int, quick: bool, workdir: Path, settings: list[str] | None = None, pool_size: int | None = None
) -> dict[str, Any]:
    """One `edtune demo --json` in a subprocess (the README's command; KFP local runner), `--set` per setting."""
    edtune = Path(sys.executable).with_name("edtune")
    cmd = [str(edtune), "demo", "--json", "--world-seed", str(seed), "--workdir", str(workdir)]
    if pool_size:
        cmd += ["--pool-size", str(pool_size)]
    for item in settings or []:
        cmd += ["--set", item]
    if quick:
        cmd.insert(2, "--quick")
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise SystemExit(
            f"world seed {seed}: edtune demo failed (exit {proc.returncode}):\n{proc.stderr[-3000:]}"
        )
    row = json.loads(proc.stdout.strip().splitlines()[-1])
    row["wall_s"] = round(time.perf_counter() - t0, 1)
    after, const = row.get("test_accuracy_after"), row.get("test_best_constant")
    row["margin_over_constant"] = None if after is None or const is None else round(after - const, 4)
    return row


def summarise(rows: list[dict[str, Any]]) -> dict[str, dict[str, float]]:
    """Median, min and max over seeds of every numeric column (never the best seed alone)."""
    out: dict[str, dict[str, float]] = {}
    for _, key, _ in COLUMNS[1:]:
        vals = [r[key] for r in rows if isinstance(r.get(key), int | float)]
        if vals:
            out[key] = {"median": statistics.median(vals), "min": min(vals), "max": max(vals)}
    return out


def markdown(rows: list[dict[str, Any]], summary: dict[str, dict[str, float]]) -> str:
    def cell(fmt: str, v: Any) -> str:
        return "–" if v is None else fmt.format(v)

    head = "| " + " | ".join(c for c, _, _ in COLUMNS) + " |\n|" + "---|" * len(COLUMNS) + "\n"
    body = "".join("| " + " | ".join(cell(f, r.get(k)) for _, k, f in COLUMNS) + " |\n" for r in rows)
    med = (
        "| **median** | "
        + " | ".join(cell(f, summary.get(k, {}).get("median")) for _, k, f in COLUMNS[1:])
        + " |\n"
    )
    rng = (
        "| range | "
        + " | ".join(
            "–" if k not in summary else f"{cell(f, summary[k]['min'])} – {cell(f, summary[k]['max'])}"
            for _, k, f in COLUMNS[1:]
        )
        + " |\n"
    )
    return head + body + med + rng


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--workdir", default="/tmp/edtune-demo-worlds")
    ap.add_argument("--out", default=None, help="results name (default demo-worlds-quick / demo-worlds-full)")
    ap.add_argument(
        "--set",
        dest="settings",
        action="append",
        default=[],
        help="a setting over the demo's (key.sub=value, repeatable): compare variants on development worlds",
    )
    ap.add_argument(
        "--pool-size", type=int, default=None, help="the demo's --pool-size (default: the demo's)"
    )
    ap.add_argument("--allow-dirty", action="store_true")
    args = ap.parse_args(argv)
    name = args.out or ("demo-worlds-quick" if args.quick else "demo-worlds-full")
    out_json, out_md = RESULTS / f"{name}.json", RESULTS / f"{name}.md"
    prov = provenance(
        ["benchmarks.demo_worlds", *(argv if argv is not None else sys.argv[1:])],
        allow_dirty=args.allow_dirty,
        writing=[out_json, out_md],
    )
    rows = []
    for seed in args.seeds:
        wd = Path(args.workdir) / ("quick" if args.quick else "full")
        rows.append(run_one(seed, args.quick, wd, args.settings, args.pool_size))
        print(json.dumps({k: rows[-1].get(k) for _, k, _ in COLUMNS}), flush=True)
    summary = summarise(rows)
    keep = [k for _, k, _ in COLUMNS] + [
        "val_accuracy_before",
        "val_accuracy_after",
        "rounds",
        "wall_s",
        "task",
    ]
    out_json.write_text(
        json.dumps(
            {
                "what": f"edtune demo{' --quick' if args.quick else ''} per world seed (settings chosen on development worlds 0, 4, 5, 9, 10)",
                "settings": args.settings,
                "pool_size": args.pool_size,
                "provenance": prov,
                "rows": [{k: r.get(k) for k in keep} for r in rows],
                "summary": summary,
            },
            indent=2,
        )
        + "\n"
    )
    out_md.write_text(markdown(rows, summary))
    print(out_md.read_text())


if __name__ == "__main__":
    main()
