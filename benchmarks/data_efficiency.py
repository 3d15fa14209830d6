"""Data-efficiency study: test accuracy of the same base student after LoRA on equal budgets chosen by each selector.

    nice python -m benchmarks.data_efficiency --quick            # <= 20 min on 2 CPU cores: one task, 3 seeds
    nice python -m benchmarks.data_efficiency                    # every task, 4 budgets, 3 seeds (hours)
    nice python -m benchmarks.data_efficiency --tasks left-right size-check --seeds 3 --budgets 0.03 0.1
    python -m benchmarks.data_efficiency --plot-budgets OUT NAME...  # accuracy vs budget across results files

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
from benchmarks.common import RunOutcome, Stat, StudyPaths, fmt, stat

# name -> (config overrides, rounds); budgets and steps are filled in per run
SELECTORS: dict[str, tuple[dict[str, Any], int]] = {
    "none": ({}, 0),
    "random": ({"retrieval__selector": "random"}, 1),
    "similar-questions": (
        {"retrieval__selector": "similar-questions", "pool__collection": common.TEXT_COLLECTION},
        1,
    ),
    "validation": ({"retrieval__selector": "validation"}, 1),
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
}
HEADLINE = "error-bm25"  # the error-driven selector the goals are judged on (the library's default mode)
QUICK_SELECTORS = ["none", "random", "similar-questions", "full-pool", HEADLINE]
BUDGET_FREE = ("none", "full-pool", "full-pool-es")  # one result per seed, shown at every budget


class Settings(common.BaseModel):
    tasks: list[str]
    fractions: list[float]
    seeds: list[int]
    selectors: list[str]
    pool_size: int
    val_size: int
    test_size: int
    epochs: float
    full_pool_max_steps: int
    lora_lr: float
    lora_batch: int
    replay_fraction: float
    max_minutes: float


def settings_from(args: argparse.Namespace) -> Settings:
    from edtune.world.tasks import TASKS

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
    )


def run_one(
    p: StudyPaths, s: Settings, task: str, selector: str, budget: int | None, seed: int
) -> RunOutcome:
    overrides, rounds = SELECTORS[selector]
    run_id = f"{task}-{selector}-b{budget if budget is not None else 'na'}-s{seed}"
    lora = {"lr": s.lora_lr, "batch_size": s.lora_batch, "replay_fraction": s.replay_fraction}
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
    hook = common.fit_selection_to_budget if selector == "validation" else None
    return common.drive(
        p,
        cfg,
        rounds=rounds,
        budgets_per_round=budgets,
        steps_per_round=steps,
        after_retrieve=hook,
        test_each_round=rounds > 1,
    )


def aggregate(rows: list[dict[str, Any]], s: Settings, budgets: list[int]) -> dict[str, Any]:
    """Per task, selector and budget: accuracy mean ± std over seeds, gain over random, share of full-pool
    accuracy, and coverage of the selected samples."""
    out: dict[str, Any] = {}
    for task in s.tasks:
        t_rows = [r for r in rows if r["task"] == task]
        per: dict[str, dict[str, Any]] = {}
        full = stat([r["test_accuracy"] for r in t_rows if r["selector"] == "full-pool"])
        for sel in s.selectors:
            per[sel] = {}
            for b in budgets:
                rs = [r for r in t_rows if r["selector"] == sel and (sel in BUDGET_FREE or r["budget"] == b)]
                if not rs:
                    continue
                acc = stat([r["test_accuracy"] for r in rs])
                rnd = {
                    r["seed"]: r["test_accuracy"]
                    for r in t_rows
                    if r["selector"] == "random" and r["budget"] == b
                }
                gain = stat([r["test_accuracy"] - rnd[r["seed"]] for r in rs if r["seed"] in rnd])
                per[sel][str(b)] = {
                    "accuracy": acc.model_dump(),
                    "gain_over_random": gain.model_dump(),
                    "fraction_of_full_pool": (acc.mean / full.mean)
                    if acc.mean is not None and full.mean
                    else None,
                    "family_coverage": stat(
                        [r["coverage"]["family_share"] for r in rs if r["coverage"]]
                    ).mean,
                    "skill_coverage": stat([r["coverage"]["skill_share"] for r in rs if r["coverage"]]).mean,
                    "gap_skill_coverage": stat(
                        [r["coverage"]["gap_skill_share"] for r in rs if r["coverage"]]
                    ).mean,
                    "test_by_round": [
                        stat([r["test_by_round"][k] for r in rs if len(r["test_by_round"]) > k]).mean
                        for k in range(max(len(r["test_by_round"]) for r in rs))
                    ],
                }
        out[task] = per
    return out


T95 = {1: 12.706, 2: 4.303, 3: 3.182, 4: 2.776, 5: 2.571, 6: 2.447, 7: 2.365, 8: 2.306, 9: 2.262, 10: 2.228}


def paired(rows: list[dict[str, Any]], task: str, a: str, b: str, budget: int | None) -> dict[str, Any]:
    """Paired gain of selector `a` over `b` on one task (same seed, same budget; budget-free selectors match any
    budget): mean, 95% t-interval over seeds (None with one seed), n."""

    def acc(sel: str) -> dict[int, float]:
        return {
            r["seed"]: r["test_accuracy"]
            for r in rows
            if r["task"] == task and r["selector"] == sel and (sel in BUDGET_FREE or r["budget"] == budget)
        }

    xa, xb = acc(a), acc(b)
    d = [xa[k] - xb[k] for k in sorted(set(xa) & set(xb))]
    st = stat(d)
    ci = None
    if st.n > 1 and st.std is not None and st.mean is not None:
        half = T95.get(st.n - 1, 1.96) * st.std / st.n**0.5
        ci = [round(st.mean - half, 4), round(st.mean + half, 4)]
    return {"mean": None if st.mean is None else round(st.mean, 4), "ci95": ci, "n": st.n}


def summary(rows: list[dict[str, Any]], s: Settings, budgets: list[int]) -> dict[str, Any]:
    """The figures the README quotes (issue 14's goals), each per task and averaged over tasks, in points."""
    decide = (
        budgets[len(budgets) // 2] if len(budgets) > 1 else budgets[0]
    )  # ~3%: where the comparison is decided
    top = budgets[-1]
    ed = HEADLINE
    out: dict[str, Any] = {"decision_budget": decide, "top_budget": top, "selector": ed, "per_task": {}}
    for task in s.tasks:
        out["per_task"][task] = {
            "vs_none": paired(rows, task, ed, "none", decide),
            "vs_random": paired(rows, task, ed, "random", decide),
            "vs_similar": paired(rows, task, ed, "similar-questions", decide),
            "vs_full_pool_at_top": paired(rows, task, ed, "full-pool", top),
        }

    def avg(key: str) -> float | None:
        v = [out["per_task"][t][key]["mean"] for t in s.tasks if out["per_task"][t][key]["mean"] is not None]
        return round(100 * sum(v) / len(v), 1) if len(v) == len(s.tasks) else None

    out["points_vs_none"] = avg("vs_none")
    out["points_vs_random"] = avg("vs_random")
    out["points_vs_similar"] = avg("vs_similar")
    out["tasks_similar_ci_above_zero"] = sum(
        1 for t in s.tasks if (c := out["per_task"][t]["vs_similar"]["ci95"]) is not None and c[0] > 0
    )
    out["tasks_at_least_full_pool"] = sum(
        1 for t in s.tasks if (m := out["per_task"][t]["vs_full_pool_at_top"]["mean"]) is not None and m >= 0
    )
    return out


def markdown(data: dict[str, Any]) -> str:
    s = data["settings"]
    budgets = data["budgets"]
    frac = {str(b): f"{100 * b / s['pool_size']:g}%" for b in budgets}
    lines = [
        f"# Data-efficiency study{' (quick)' if data['quick'] else ''}",
        "",
        f"`{data['provenance']['command']}` — {data['provenance']['date']}, commit "
        f"`{(data['provenance']['git_commit'] or '?')[:10]}`, {data['provenance']['machine']['cpus']} CPUs, "
        f"GPU: {data['provenance']['machine']['gpu'] or 'none'}.",
        "",
        f"Pool {s['pool_size']} samples, validation {s['val_size']}, test {s['test_size']} per task; seeds "
        f"{s['seeds']}; LoRA lr {s['lora_lr']}, batch {s['lora_batch']}, replay {s['replay_fraction']}, "
        f"{s['epochs']} epochs of the budget (+replay) for every selector, the full pool included"
        + (f" (capped at {s['full_pool_max_steps']} steps)" if s["full_pool_max_steps"] else "")
        + "; `full-pool-es` is the full pool one epoch per round, kept at its best validation round. "
        "Test accuracy (%), mean ± std over seeds.",
        "",
    ]
    if data.get("incomplete"):
        lines += [f"**Incomplete:** {data['incomplete']}", ""]
    for task, per in data["aggregate"].items():
        lines += [
            f"## {task}",
            "",
            "| selector | " + " | ".join(f"{frac[str(b)]} ({b})" for b in budgets) + " |",
        ]
        lines.append("|---" * (len(budgets) + 1) + "|")
        for sel, cells in per.items():
            row = [fmt(Stat(**cells[str(b)]["accuracy"])) if str(b) in cells else "–" for b in budgets]
            lines.append(f"| {sel} | " + " | ".join(row) + " |")
        lines += ["", "Gain over random (points, paired by seed) · fraction of full-pool accuracy:", ""]
        lines.append("| selector | " + " | ".join(frac[str(b)] for b in budgets) + " |")
        lines.append("|---" * (len(budgets) + 1) + "|")
        for sel, cells in per.items():
            if sel in ("random", "full-pool"):
                continue
            row = []
            for b in budgets:
                c = cells.get(str(b))
                if not c:
                    row.append("–")
                    continue
                f = c["fraction_of_full_pool"]
                row.append(f"{fmt(Stat(**c['gain_over_random']))} · {'–' if f is None else f'{f:.2f}'}")
            lines.append(f"| {sel} | " + " | ".join(row) + " |")
        lines += [
            "",
            "Skill coverage of the selected samples (sidecar ground truth): task family % · needed skill % · gap skill %:",
            "",
        ]
        lines.append("| selector | " + " | ".join(frac[str(b)] for b in budgets) + " |")
        lines.append("|---" * (len(budgets) + 1) + "|")
        for sel, cells in per.items():
            if sel == "none":
                continue
            row = []
            for b in budgets:
                c = cells.get(str(b))
                if not c or c["family_coverage"] is None:
                    row.append("–")
                    continue
                row.append(
                    f"{100 * c['family_coverage']:.0f} · {100 * c['skill_coverage']:.0f} · "
                    f"{100 * c['gap_skill_coverage']:.0f}"
                )
            lines.append(f"| {sel} | " + " | ".join(row) + " |")
        multi = [sel for sel in per if sel.startswith(("error-hybrid", "error-bm25"))]
        if multi:
            lines += [
                "",
                "Test accuracy after each round (same total budget and steps), mean over seeds:",
                "",
            ]
            lines.append("| selector | budget | round 0 | round 1 | round 2 | round 3 |")
            lines.append("|---|---|---|---|---|---|")
            for sel in multi:
                for b in budgets:
                    c = per[sel].get(str(b))
                    if c:
                        rr = [f"{100 * x:.1f}" if x is not None else "–" for x in c["test_by_round"]]
                        rr += ["–"] * (4 - len(rr))
                        lines.append(f"| {sel} | {b} | " + " | ".join(rr) + " |")
        lines.append("")
    lines += [
        "Coverage: share of selected samples whose question family is one the task asks · that exercise a skill the",
        "task needs · that exercise the task's gap skill (what the base student lacks), from the pool's analysis",
        "sidecar (read by the benchmark only). Random and full-pool coverage are the pool's base rates.",
        "",
        f"## Where error-driven selection loses (mean over seeds, {HEADLINE} vs each other selector, same budget)",
        "",
    ]
    losses = []
    for task, per in data["aggregate"].items():
        mine = per.get(HEADLINE, {})
        for b, cell in mine.items():
            m = cell["accuracy"]["mean"]
            for other, cells in per.items():
                o = cells.get(b) if other not in BUDGET_FREE else next(iter(cells.values()), None)
                if other == HEADLINE or not o or o["accuracy"]["mean"] is None or m is None:
                    continue
                if o["accuracy"]["mean"] > m:
                    losses.append(
                        f"- {task}, budget {b}: {other} {100 * o['accuracy']['mean']:.1f} > {HEADLINE} "
                        f"{100 * m:.1f}"
                    )
    lines += losses or ["- nowhere in this run"]
    lines.append("")
    return "\n".join(lines)


def plot(data: dict[str, Any], path: Path, *, rounds: bool = True) -> None:
    s = data["settings"]
    panels = []
    for task, per in data["aggregate"].items():
        series: dict[str, list[tuple[float, float, float]]] = {}
        for sel, cells in per.items():
            pts = []
            for b, c in cells.items():
                a = c["accuracy"]
                if a["mean"] is not None:
                    pts.append((100 * int(b) / s["pool_size"], a["mean"], a["std"] or 0.0))
            if pts:
                series[sel] = pts
        panels.append((task, series))
    common.line_plot_png(path, panels)
    if not rounds:
        return
    # gain per round: test accuracy after each round of the 1/2/3-round runs (same total budget), largest budget
    rpanels = []
    for task, per in data["aggregate"].items():
        rseries: dict[str, list[tuple[float, float, float]]] = {}
        for sel in (
            "error-hybrid",
            "error-hybrid-2r",
            "error-hybrid-3r",
            HEADLINE,
            "error-bm25-2r",
            "error-bm25-3r",
        ):
            cells = per.get(sel) or {}
            if cells:
                b = max(cells, key=int)
                pts = [(float(k), v, 0.0) for k, v in enumerate(cells[b]["test_by_round"]) if v is not None]
                rseries[f"{sel} (budget {b})"] = pts
        rpanels.append((task, rseries))
    if any(sr for _, sr in rpanels):
        common.line_plot_png(path.with_name(path.stem + "-rounds.png"), rpanels, x_label="round")


def merge_budgets(studies: list[dict[str, Any]]) -> dict[str, Any]:
    """One study-shaped dict whose aggregate holds every (task, selector, budget) cell of `studies`, for the
    accuracy-vs-budget plot across studies run one budget at a time. Studies of different pool sizes do not share
    a budget axis and are refused; a cell present in two studies keeps the one with more seeds."""
    sizes = {d["settings"]["pool_size"] for d in studies}
    if len(sizes) != 1:
        raise ValueError(f"studies of different pool sizes cannot share a budget axis: {sorted(sizes)}")
    merged: dict[str, dict[str, dict[str, Any]]] = {}
    for d in studies:
        for task, per in d["aggregate"].items():
            for sel, cells in per.items():
                into = merged.setdefault(task, {}).setdefault(sel, {})
                for b, cell in cells.items():
                    old = into.get(b)
                    if old is None or (cell["accuracy"]["n"] or 0) > (old["accuracy"]["n"] or 0):
                        into[b] = cell
    return {"settings": studies[0]["settings"], "aggregate": merged}


def plot_budgets(out: str, names: list[str]) -> Path:
    """`--plot-budgets OUT NAME...`: results/OUT.png, accuracy vs budget per selector per task, from the named
    results files (each written by one study run)."""
    studies = [json.loads((common.RESULTS / f"{n}.json").read_text()) for n in names]
    path = common.RESULTS / f"{out}.png"
    plot(merge_budgets(studies), path, rounds=False)
    return path


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        prog="python -m benchmarks.data_efficiency", description=__doc__.split("\n")[0]
    )
    ap.add_argument(
        "--quick", action="store_true", help="one task, 3 budgets, 3 seeds, small world (<= 20 min)"
    )
    ap.add_argument("--tasks", nargs="+")
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
        "--max-minutes", type=float, help="stop starting new runs after this (results stay partial)"
    )
    ap.add_argument(
        "--workdir", type=Path, help="study workdir (default /tmp/edtune-bench/data-efficiency[-quick])"
    )
    ap.add_argument("--out", help="results name (default data_efficiency[-quick])")
    ap.add_argument("--allow-dirty", action="store_true", help="run from uncommitted code (recorded)")
    ap.add_argument(
        "--plot-budgets",
        nargs="+",
        metavar="OUT NAME",
        help="run nothing: draw results/OUT.png, accuracy vs budget, from the results files NAME ...",
    )
    args = ap.parse_args(argv)
    if args.plot_budgets:
        if len(args.plot_budgets) < 2:
            ap.error("--plot-budgets takes OUT and at least one results NAME")
        print(f"wrote {plot_budgets(args.plot_budgets[0], args.plot_budgets[1:])}")
        return 0
    s = settings_from(args)
    name = args.out or ("data_efficiency-quick" if args.quick else "data_efficiency")
    workdir = args.workdir or Path("/tmp/edtune-bench") / name
    t_start = time.perf_counter()
    deadline = t_start + 60 * s.max_minutes
    budgets = common.budgets_for(s.pool_size, s.fractions)
    rows: list[dict[str, Any]] = []
    incomplete = None
    prov = common.provenance(
        ["benchmarks.data_efficiency", *(argv if argv is not None else sys.argv[1:])],
        allow_dirty=args.allow_dirty,
    )

    def save() -> dict[str, Any]:
        data = {
            "quick": args.quick,
            "settings": s.model_dump(),
            "budgets": budgets,
            "provenance": prov,
            "pool": pool_info,
            "wall_s": round(time.perf_counter() - t_start, 1),
            "incomplete": incomplete,
            "rows": rows,
            "aggregate": aggregate(rows, s, budgets),
            "summary": summary(rows, s, budgets),
        }
        common.write_json(common.RESULTS / f"{name}.json", data)
        (common.RESULTS / f"{name}.md").write_text(markdown(data))
        plot(data, common.RESULTS / f"{name}.png")
        return data

    with common.study(
        workdir,
        pool_size=s.pool_size,
        val_size=s.val_size,
        test_size=s.test_size,
        noise=args.teacher_noise,
        seeds=s.seeds,
    ) as p:
        pool_info = common.json.loads((Path(p.workdir) / "pool.done.json").read_text())
        labels = common.load_labels(p)
        plan: list[tuple[str, str, int | None, int]] = []
        for seed in s.seeds:  # seed outermost: a study cut short still has every selector at some seed
            for task in s.tasks:
                for sel in s.selectors:
                    for b in [None] if sel in BUDGET_FREE else budgets:
                        plan.append((task, sel, b, seed))
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
