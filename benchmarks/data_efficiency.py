"""Data-efficiency study: test accuracy of the same base student after LoRA on equal budgets chosen by each selector.

    nice python -m benchmarks.data_efficiency --quick            # <= 20 min on 2 CPU cores: one task, 3 seeds
    nice python -m benchmarks.data_efficiency                    # every task, 4 budgets, 3 seeds (hours)
    nice python -m benchmarks.data_efficiency --tasks left-right size-check --seeds 3 --budgets 0.03 0.1
    python -m benchmarks.data_efficiency --plot-budgets OUT NAME...  # accuracy vs budget across results files
    nice python -m benchmarks.data_efficiency --seeds 2 --first-seed 3 --out B ...  # more seeds, another process
    python -m benchmarks.data_efficiency --merge OUT A B ...  # one results file (paired gains over all seeds)

Fairness rules (issue #9): every selector at a budget tunes on exactly `budget` selected samples plus the same
replay share, for a LoRA step count that depends on the budget only (`steps_for`); the multi-round variants split
the same total budget and steps across rounds. Accuracy is measured on the held-out TEST split; diagnosis only
ever sees the validation split. Full-pool tuning trains for the pool's own step count (capped; it is the
"more compute" reference the paper compares against). Results go to benchmarks/results/data_efficiency[-quick].*
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

from benchmarks import common
from benchmarks.common import RunOutcome, StudyPaths
from benchmarks.study_report import (
    HEADLINE,
    Settings,
    complete,
    merge_files,
    plot_budgets,
    run_plan,
    write_study,
)

# name -> (config overrides, rounds); budgets and steps are filled in per run
SELECTORS: dict[str, tuple[dict[str, Any], int]] = {
    "none": ({}, 0),
    "random": ({"retrieval__selector": "random"}, 1),
    "similar-questions": (
        {"retrieval__selector": "similar-questions", "pool__collection": common.TEXT_COLLECTION},
        1,
    ),
    "validation": ({"retrieval__selector": "validation"}, 1),
    # an upper bound, not a selector: the samples the world's labels say teach the task's gap (driver.oracle_selection)
    "oracle": ({"retrieval__selector": "random"}, 1),
    # an upper bound: the pool's samples of the task's own question family, repeated to the budget
    # (driver.task_family_selection)
    "oracle-task": ({"retrieval__selector": "random"}, 1),
    "full-pool": ({"retrieval__selector": "all"}, 1),
    # the full pool, one epoch per round for 3 rounds (the adapter continues), kept at the best validation round
    "full-pool-es": ({"retrieval__selector": "all"}, 3),
    "error-bm25": ({"retrieval__selector": "error-driven", "retrieval__mode": "bm25"}, 1),
    "error-dense": ({"retrieval__selector": "error-driven", "retrieval__mode": "dense"}, 1),
    "error-hybrid": ({"retrieval__selector": "error-driven", "retrieval__mode": "hybrid"}, 1),
    "error-hybrid-2r": ({"retrieval__selector": "error-driven", "retrieval__mode": "hybrid"}, 2),
    "error-hybrid-3r": ({"retrieval__selector": "error-driven", "retrieval__mode": "hybrid"}, 3),
    # the same selector diagnosed by the noiseless reference teacher (how much the teacher's noise costs)
    "error-hybrid-exact": ({"retrieval__selector": "error-driven", "retrieval__mode": "hybrid"}, 1),
    # BM25 is the default mode since the teacher groups paraphrased skill names (docs/retrieval.md): the headline
    "error-bm25-2r": ({"retrieval__selector": "error-driven", "retrieval__mode": "bm25"}, 2),
    "error-bm25-3r": ({"retrieval__selector": "error-driven", "retrieval__mode": "bm25"}, 3),
    "error-bm25-exact": ({"retrieval__selector": "error-driven", "retrieval__mode": "bm25"}, 1),
    # the preset's match, its answers balanced to the validation split's (retrieval.balance_answers)
    "error-balanced": (
        {
            "retrieval__selector": "error-driven",
            "retrieval__mode": "bm25",
            "retrieval__balance_answers": "drop",
        },
        1,
    ),
    # the preset's match, its under-represented answers' samples repeated to the validation split's shares
    "error-repeat": (
        {
            "retrieval__selector": "error-driven",
            "retrieval__mode": "bm25",
            "retrieval__balance_answers": "repeat",
        },
        1,
    ),
    # the preset's match, every reply of a match answering in the task's space (retrieval.answer_space_turns)
    "error-all-turns": (
        {
            "retrieval__selector": "error-driven",
            "retrieval__mode": "bm25",
            "retrieval__answer_space_turns": "all",
        },
        1,
    ),
    # the paper's skill-only match (the tiny preset also keeps only matches in the task's answer space)
    "error-skill-only": (
        {"retrieval__selector": "error-driven", "retrieval__mode": "bm25", "retrieval__answer_space": False},
        1,
    ),
}
QUICK_SELECTORS = ["none", "random", "similar-questions", "full-pool", HEADLINE]


def _default_answer_weight() -> float:
    """The study's default: the tiny student's preset (the product default, 1, suits a 7B student)."""
    from edtune.shapes.preset import SHAPES_PRESET

    return float(SHAPES_PRESET.values["lora"]["answer_weight"])


def settings_from(args: argparse.Namespace) -> Settings:
    from edtune.shapes.world.tasks import TASKS

    quick = args.quick
    tasks = args.tasks or (["color-by-side", "left-right"] if quick else list(TASKS))
    fractions = args.budgets or ([0.03] if quick else [0.01, 0.03, 0.1])
    n_seeds = args.seeds if args.seeds else (1 if quick else 3)
    seeds = list(range(args.first_seed, args.first_seed + n_seeds))
    return Settings(
        tasks=tasks,
        fractions=fractions,
        seeds=seeds,
        selectors=args.selectors or (QUICK_SELECTORS if quick else list(SELECTORS)),
        pool_size=args.pool_size or (2000 if quick else 20000),
        val_size=args.val_size or (100 if quick else 200),
        test_size=args.test_size or (200 if quick else 500),
        epochs=args.epochs,
        full_pool_max_steps=args.full_pool_max_steps or 0,  # 0: no cap (the same epochs as the others)
        lora_lr=args.lr,
        lora_batch=8,
        replay_fraction=args.replay,
        max_minutes=args.max_minutes or (19.0 if quick else 24 * 60.0),
        answer_weight=args.answer_weight if args.answer_weight is not None else _default_answer_weight(),
        lora_restarts=args.restarts,
    )


def run_name(task: str, selector: str, budget: int | None, seed: int, restarts: int = 1) -> str:
    """The run's directory name. Runs with LoRA restarts get their own ("-k4"), so a study with restarts in a
    workdir never reuses a single run's adapter; the untuned base ("none") is the same run either way."""
    suffix = f"-k{restarts}" if restarts > 1 and selector != "none" else ""
    return f"{task}-{selector}-b{budget if budget is not None else 'na'}-s{seed}{suffix}"


def run_one(
    p: StudyPaths, s: Settings, task: str, selector: str, budget: int | None, seed: int
) -> RunOutcome:
    overrides, rounds = SELECTORS[selector]
    run_id = run_name(task, selector, budget, seed, s.lora_restarts)
    lora = {
        "lr": s.lora_lr,
        "batch_size": s.lora_batch,
        "replay_fraction": s.replay_fraction,
        "answer_weight": s.answer_weight,
        "restarts": s.lora_restarts,
    }
    exact = selector.endswith("-exact")
    cfg = common.make_config(p, task, run_id, exact_teacher=exact, seed=seed, lora=lora, **overrides)
    if selector == "none":
        return common.drive(p, cfg, rounds=0)
    steps_of = lambda n: common.steps_for(  # noqa: E731
        n, replay_fraction=s.replay_fraction, batch_size=s.lora_batch, epochs=s.epochs
    )
    if selector == "full-pool":  # the same epochs as every other selector (capped only if asked)
        steps = min(steps_of(s.pool_size), s.full_pool_max_steps or 10**9)
        return common.drive(p, cfg, rounds=1, budgets_per_round=[s.pool_size], steps_per_round=[steps])
    if selector == "full-pool-es":
        epoch = common.split_evenly(min(steps_of(s.pool_size), s.full_pool_max_steps or 10**9), rounds)
        return common.drive(
            p,
            cfg,
            rounds=rounds,
            budgets_per_round=[s.pool_size] * rounds,
            steps_per_round=epoch,
            early_stop=True,
        )
    assert budget is not None
    budgets = common.split_evenly(budget, rounds)
    steps = common.split_evenly(steps_of(budget), rounds)
    hook: common.Hook | None = None
    if selector == "validation":
        hook = common.fit_selection_to_budget
    elif selector == "oracle":
        labels, gap_skills = common.load_labels(p), common.task_gap_skills(task)
        hook = lambda c, r: common.oracle_selection(c, r, labels=labels, gap_skills=gap_skills)  # noqa: E731
    elif selector == "oracle-task":
        labels, families = common.load_labels(p), common.task_families(task)
        hook = lambda c, r: common.task_family_selection(c, r, labels=labels, families=families)  # noqa: E731
    return common.drive(
        p,
        cfg,
        rounds=rounds,
        budgets_per_round=budgets,
        steps_per_round=steps,
        after_retrieve=hook,
        test_each_round=rounds > 1,
    )


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        prog="python -m benchmarks.data_efficiency", description=__doc__.split("\n")[0]
    )
    ap.add_argument(
        "--quick", action="store_true", help="one task, 3 budgets, 3 seeds, small world (<= 20 min)"
    )
    ap.add_argument("--tasks", nargs="+")
    ap.add_argument(
        "--world-seed",
        type=int,
        default=0,
        help="seed of the generated world (default 0, the development world settings are chosen on; report on others)",
    )
    ap.add_argument("--seeds", type=int, help="number of seeds (FIRST..FIRST+N-1)")
    ap.add_argument(
        "--first-seed",
        type=int,
        default=0,
        help="first seed (default 0): run more seeds of a study in another process, then --merge the files",
    )
    ap.add_argument("--budgets", nargs="+", type=float, help="fractions of the pool, e.g. 0.01 0.03 0.06 0.1")
    ap.add_argument("--selectors", nargs="+", choices=list(SELECTORS))
    ap.add_argument("--pool-size", type=int)
    ap.add_argument("--val-size", type=int)
    ap.add_argument("--test-size", type=int)
    ap.add_argument("--epochs", type=float, default=3.0)
    ap.add_argument("--teacher-noise", default="realistic", help="reference teacher noise profile")
    ap.add_argument("--lr", type=float, default=3e-3)
    ap.add_argument(
        "--replay", type=float, default=0.2, help="replay share of every tuned run (0: the paper, the demo)"
    )
    ap.add_argument("--full-pool-max-steps", type=int)
    ap.add_argument(
        "--answer-weight",
        type=float,
        default=None,
        help="LoRA loss weight of the answer tokens (lora.answer_weight; default: the config's)",
    )
    ap.add_argument(
        "--restarts",
        type=int,
        default=1,
        help="LoRA restarts per tuned run, the best on validation kept (lora.restarts), the same for every selector",
    )
    ap.add_argument(
        "--max-minutes", type=float, help="stop starting new runs after this (results stay partial)"
    )
    ap.add_argument(
        "--workdir", type=Path, help="study workdir (default /tmp/edtune-bench/data-efficiency[-quick])"
    )
    ap.add_argument("--out", help="results name (default data_efficiency[-quick])")
    ap.add_argument(
        "--base-student",
        help="a base student directory tuned instead of the shipped base (a candidate base; recorded by its "
        "manifest's sha256, and a workdir holds one base)",
    )
    ap.add_argument("--allow-dirty", action="store_true", help="run from uncommitted code (recorded)")
    ap.add_argument(
        "--plot-budgets",
        nargs="+",
        metavar="OUT NAME",
        help="run nothing: draw results/OUT.png, accuracy vs budget, from the results files NAME ...",
    )
    ap.add_argument(
        "--merge",
        nargs="+",
        metavar="OUT NAME",
        help="run nothing: merge the results files NAME ... (seed ranges or selector sets of one study, e.g. run "
        "with --first-seed in parallel) into results/OUT.{json,md,png}",
    )
    args = ap.parse_args(argv)
    if args.merge:
        if len(args.merge) < 3:
            ap.error("--merge takes OUT and at least two results NAMEs")
        try:
            print(f"wrote {merge_files(args.merge[0], args.merge[1:])}")
        except (ValueError, FileNotFoundError) as exc:
            ap.error(f"--merge: {exc}")
        return 0
    if args.plot_budgets:
        if len(args.plot_budgets) < 2:
            ap.error("--plot-budgets takes OUT and at least one results NAME")
        print(f"wrote {plot_budgets(args.plot_budgets[0], args.plot_budgets[1:])}")
        return 0
    s = settings_from(args)
    name = args.out or ("data_efficiency-quick" if args.quick else "data_efficiency")
    workdir = args.workdir or Path("/tmp/edtune-bench") / (
        name if not args.world_seed else f"{name}-w{args.world_seed}"
    )
    t_start = time.perf_counter()
    deadline = t_start + 60 * s.max_minutes
    budgets = common.budgets_for(s.pool_size, s.fractions)
    rows: list[dict[str, Any]] = []
    incomplete = None
    prov = common.provenance(
        ["benchmarks.data_efficiency", *(argv if argv is not None else sys.argv[1:])],
        allow_dirty=args.allow_dirty,
    )
    if args.base_student:
        if common.base_fingerprint(args.base_student) is None:
            ap.error(f"--base-student {args.base_student}: no manifest.json there")
        prov["base_student"] = common.base_fingerprint(args.base_student)

    def save() -> dict[str, Any]:
        data = complete(
            {
                "quick": args.quick,
                "world_seed": args.world_seed,
                "settings": s.model_dump(),
                "budgets": budgets,
                "provenance": prov,
                "pool": pool_info,
                "wall_s": round(time.perf_counter() - t_start, 1),
                "incomplete": incomplete,
                "rows": rows,
            }
        )
        write_study(name, data)
        return data

    with common.study(
        workdir,
        pool_size=s.pool_size,
        val_size=s.val_size,
        test_size=s.test_size,
        noise=args.teacher_noise,
        seeds=s.seeds,
        world_seed=args.world_seed,
        base_student=args.base_student,
    ) as p:
        pool_info = json.loads((Path(p.workdir) / "pool.done.json").read_text())
        labels = common.load_labels(p)
        plan = run_plan(s.tasks, s.selectors, s.seeds, budgets)
        for i, (task, sel, b, seed) in enumerate(plan):
            if time.perf_counter() > deadline:
                incomplete = f"stopped at the {s.max_minutes:g}-minute limit after {i} of {len(plan)} runs"
                break
            out = run_one(p, s, task, sel, b, seed)
            labs = {**labels, **common.val_labels(p, task)}
            gap_skills = common.task_gap_skills(task)
            cov = (
                common.coverage(
                    out.selected, labs, common.task_families(task), common.task_skills(task), gap_skills
                ).model_dump()
                if out.selected
                else None
            )
            rows.append(
                {
                    "task": task,
                    "selector": sel,
                    "budget": b,
                    "seed": seed,
                    "test_accuracy": out.final_test,
                    "base_test_accuracy": out.base_test,
                    "test_ll_accuracy": out.final_test_ll,
                    "base_test_ll_accuracy": out.test_ll_by_round[0] if out.test_ll_by_round else None,
                    "test_by_round": out.test_by_round,
                    "val_by_round": out.val_by_round,
                    "n_selected": len(out.selected),
                    "n_distinct_selected": len(set(out.selected)),
                    "n_replay": out.replay,
                    "lora_steps": out.steps,
                    "coverage": cov,
                    "seconds": out.seconds,
                    "note": out.note,
                }
            )
            print(
                f"[{i + 1}/{len(plan)}] {task} {sel} budget={b} seed={seed}: test {out.final_test:.3f} "
                f"(base {out.base_test:.3f}) n={len(out.selected)} steps={out.steps} {out.seconds}s",
                flush=True,
            )
            save()
    data = save()
    print((common.RESULTS / f"{name}.md").read_text())
    print(f"wrote {common.RESULTS / name}.{{json,md,png}} in {data['wall_s']}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
