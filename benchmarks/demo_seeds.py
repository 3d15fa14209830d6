"""How much of the full demo's result is the LoRA seed: round 1 of the full demo, replayed with other seeds.

    nice python -m benchmarks.demo_seeds --workdir /tmp/dfk --seeds 0 1 2   # after `edtune demo --workdir /tmp/dfk`

Why: the tiny student's outcome on `left-right` is bimodal (it either learns to copy its step's side word into the
answer or it does not), so one demo run at seed 0 says little. Each seed reruns round 1 in process on the demo's
own world, annotations, index and realistic teacher (noise seed 0): the diagnoses and the selection are the demo's,
the seed sets LoRA init and data order. Settings are the demo's `FULL` sizes (or `QUICK` with `--quick`);
`--lora KEY=VALUE` changes one LoRA setting for every replayed seed (recorded), to try a lever over seeds at once.
`--rounds 2` replays the demo's whole loop instead (round 2 diagnoses what that seed's round 1 got wrong); a row
then reports the round the demo reports, the best on validation (`best_round`), and `test_by_round`.
Each row also scores the reasoning apart from the answer on the held-out split: `step_right` (the step's last
option word is the right one) and `answer_agrees` (the answer repeats it) — the two halves of a left/right answer.
"""

from __future__ import annotations

import argparse
import hashlib
import re
import sys
import time
from pathlib import Path
from typing import Any

from benchmarks import common


def step_and_answer(traces: Path, questions: Path) -> dict[str, float]:
    """Shares of held-out answers whose step names the right option, and whose answer repeats the step's option.

    The step's option is the last of the question's choices it mentions (a step may name both sides: "... not on
    the right, it is on the left"); a question without choices counts as neither. Both files are read with the
    project's validating reader, so a bad line is named, and an option-letter gold answer counts as its choice.
    """
    from edtune import io
    from edtune.schemas import TaskSample, Trace

    asked = {q.id: q for q in io.read_jsonl(questions, TaskSample)}
    n = right = agrees = 0
    for trace in io.read_jsonl(traces, Trace, id_field="sample_id"):
        q = asked[trace.sample_id]
        words = [c.lower() for c in q.choices or []]
        mentioned = re.findall(
            r"\b(" + "|".join(map(re.escape, words)) + r")\b", " ".join(trace.steps).lower()
        )
        said = mentioned[-1] if words and mentioned else None
        n += 1
        right += said is not None and said == q.gold_text.lower()
        agrees += said is not None and said == (trace.answer or "").strip().lower()
    return {"step_right": round(right / n, 4), "answer_agrees": round(agrees / n, 4)} if n else {}


def _id_safe(value: Any) -> str:
    """A LoRA value as it may appear in a run id: short ones as written, others (a module regex) by a digest."""
    text = str(value)
    if re.fullmatch(r"[A-Za-z0-9._]{1,12}", text):
        return text
    return hashlib.sha256(text.encode()).hexdigest()[:8]


def run_seed(
    workdir: Path,
    seed: int,
    quick: bool,
    task: str,
    answer_weight: float | None = None,
    lora: dict[str, Any] | None = None,
    budget: int | None = None,
    rounds: int = 1,
) -> dict[str, Any]:
    from edtune import loop, stages
    from edtune.config import RunConfig
    from edtune.shapes.demo import FULL, QUICK, demo_config
    from edtune.shapes.student.base import ensure_base_student
    from edtune.shapes.world.noise import get_profile
    from edtune.shapes.world.reference_teacher import start_reference_teacher

    sizes = QUICK if quick else FULL
    server, url = start_reference_teacher(host="127.0.0.1", port=0, noise=get_profile("realistic", 0))
    try:
        # the demo's own config (sizes -> loop/LoRA settings), then this run's id, seed and a single round
        demo = demo_config(
            workdir, workdir / "world", ensure_base_student(str(workdir / "cache")), url, sizes, task
        )
        data = demo.model_dump(mode="json")
        data.update(run_id=f"demo-seeds-{'quick' if quick else 'full'}-s{seed}", seed=seed)
        data["loop"]["max_rounds"] = rounds
        if answer_weight is not None:
            data["lora"]["answer_weight"] = answer_weight
        data["lora"].update(lora or {})
        if budget is not None:
            data["loop"]["budget_per_round"] = budget
        suffix = "" if answer_weight is None else f"-aw{answer_weight:g}"
        suffix += "".join(f"-{k}{_id_safe(v)}" for k, v in sorted((lora or {}).items()))
        suffix += "" if budget is None else f"-b{budget}"
        suffix += "" if rounds == 1 else f"-r{rounds}"
        data["run_id"] += suffix
        cfg = RunConfig.model_validate(data)
        t0 = time.perf_counter()
        summary = loop.run(cfg)
        per_round = stages.round_metrics(cfg)
        best = per_round[summary.best_round]  # the round the demo reports: best on validation, never on test
        scored = step_and_answer(
            Path(stages.layout_of(cfg).traces(best.round, "test")), Path(cfg.task.test or "")
        )
    finally:
        server.shutdown()
    return {
        "seed": seed,
        "budget": cfg.loop.budget_per_round,
        "lora_steps": cfg.lora.max_steps,
        "answer_weight": cfg.lora.answer_weight,
        "rounds": rounds,
        "best_round": best.round,
        "val_accuracy": best.val_accuracy,
        "test_accuracy": best.test_accuracy,
        "test_by_round": [m.test_accuracy for m in per_round],
        **scored,
        "lora": {k: v for k, v in cfg.lora.model_dump(mode="json").items() if k in (lora or {})},
        "seconds": round(time.perf_counter() - t0, 1),
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.demo_seeds", description=__doc__.split("\n")[0])
    ap.add_argument("--workdir", type=Path, required=True, help="a finished `edtune demo` work directory")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--quick", action="store_true", help="the quick demo's sizes (its workdir too)")
    ap.add_argument("--task", default="left-right")
    ap.add_argument("--out", default="demo_seeds")
    ap.add_argument(
        "--answer-weight", type=float, help="lora.answer_weight for the replayed rounds (default: the demo's)"
    )
    ap.add_argument(
        "--lora",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="one LoRA setting for every replayed seed (e.g. lr=0.001), repeatable; default: the demo's",
    )
    ap.add_argument(
        "--budget", type=int, help="samples selected for the replayed round (default: the demo's)"
    )
    ap.add_argument(
        "--rounds",
        type=int,
        default=1,
        help="rounds per replayed run (default 1; the demo itself runs up to 2)",
    )
    ap.add_argument("--allow-dirty", action="store_true", help="run from uncommitted code (recorded)")
    args = ap.parse_args(argv)
    lora = dict(kv.split("=", 1) for kv in args.lora)
    prov = common.provenance(
        ["benchmarks.demo_seeds", *(argv if argv is not None else sys.argv[1:])], allow_dirty=args.allow_dirty
    )
    t0 = time.perf_counter()
    rows = []
    for seed in args.seeds:
        row = run_seed(
            args.workdir.resolve(),
            seed,
            args.quick,
            args.task,
            args.answer_weight,
            lora,
            args.budget,
            args.rounds,
        )
        print(
            f"seed {seed}: test {row['test_accuracy']:.3f} val {row['val_accuracy']:.3f} "
            f"step right {row.get('step_right')} answer agrees {row.get('answer_agrees')} {row['seconds']} s",
            flush=True,
        )
        rows.append(row)
    tests = [r["test_accuracy"] for r in rows]
    data = {
        "what": __doc__.split("\n")[0],
        "provenance": prov,
        "settings": {
            "task": args.task,
            "quick": args.quick,
            "seeds": args.seeds,
            "answer_weight": rows[0]["answer_weight"],
            "lora": rows[0]["lora"],
            "budget": rows[0]["budget"],
            "rounds": args.rounds,
        },
        "rows": rows,
        "summary": {
            "test_min": min(tests),
            "test_max": max(tests),
            "test_mean": round(sum(tests) / len(tests), 4),
            "seeds_at_least_0_90": sum(t >= 0.90 for t in tests),
            "seeds_at_least_0_85": sum(t >= 0.85 for t in tests),
        },
        "wall_s": round(time.perf_counter() - t0, 1),
    }
    common.write_json(common.RESULTS / f"{args.out}.json", data)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
