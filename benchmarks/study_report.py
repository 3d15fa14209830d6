"""The data-efficiency study's results files: per-cell aggregates, the paired gains the README quotes, the
generated markdown and plots, and the operations across files (a study run in several processes, one seed range
each, is merged into one file; the accuracy-vs-budget plot is drawn across studies run one budget at a time).

Kept apart from `benchmarks.data_efficiency` (which runs the study) so that a results file can be rebuilt, merged or
plotted without the machinery that trains."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from benchmarks import common
from benchmarks.common import Stat, fmt, stat

HEADLINE = "error-bm25"  # the error-driven selector the goals are judged on (the library's default mode)
BUDGET_FREE = ("none", "full-pool", "full-pool-es")  # one result per seed, shown at every budget


class Settings(BaseModel):
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
    answer_weight: float = 1.0  # the LoRA loss weight of the answer tokens; files before it was a setting: 1
    # LoRA restarts per tuned run, the best on validation kept (lora.restarts); files before it was a setting: 1
    lora_restarts: int = 1


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
                lls = [r["test_ll_accuracy"] for r in rs if r.get("test_ll_accuracy") is not None]
                per[sel][str(b)] = {
                    "accuracy": acc.model_dump(),
                    # choice log-likelihood accuracy (multiple-choice tasks; rows recorded it since it was added)
                    "ll_accuracy": stat(lls).model_dump() if lls else None,
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
            "vs_full_pool_es_at_top": paired(rows, task, ed, "full-pool-es", top),
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
    out["tasks_at_least_full_pool_es"] = sum(
        1
        for t in s.tasks
        if (m := out["per_task"][t]["vs_full_pool_es_at_top"]["mean"]) is not None and m >= 0
    )
    return out


def _table_head(columns: list[str]) -> list[str]:
    """A markdown table's header and rule, selectors down the side."""
    return ["| selector | " + " | ".join(columns) + " |", "|---" * (len(columns) + 1) + "|"]


def _stat_rows(per: dict[str, Any], budgets: list[int], key: str) -> list[str]:
    """One row per selector: the `key` statistic (mean ± std over seeds) at each budget, – where it is absent."""
    return [
        f"| {sel} | "
        + " | ".join(
            fmt(Stat(**cells[str(b)][key])) if (cells.get(str(b)) or {}).get(key) else "–" for b in budgets
        )
        + " |"
        for sel, cells in per.items()
    ]


def markdown(data: dict[str, Any]) -> str:
    s = data["settings"]
    budgets = data["budgets"]
    frac = {str(b): f"{100 * b / s['pool_size']:g}%" for b in budgets}
    # a merged file's runs may come from several commits: each source's is listed below the header
    commit = data["provenance"]["git_commit"] or ("several" if data["provenance"].get("merged_from") else "?")
    lines = [
        f"# Data-efficiency study{' (quick)' if data['quick'] else ''}",
        "",
        f"`{data['provenance']['command']}` — {data['provenance']['date']}, commit `{commit[:10]}`, "
        f"{data['provenance']['machine']['cpus']} CPUs, "
        f"GPU: {data['provenance']['machine']['gpu'] or 'none'}.",
        "",
        f"Pool {s['pool_size']} samples, validation {s['val_size']}, test {s['test_size']} per task; seeds "
        f"{s['seeds']}; LoRA lr {s['lora_lr']}, batch {s['lora_batch']}, replay {s['replay_fraction']}, "
        + (f"best of {s['lora_restarts']} restarts on validation, " if s.get("lora_restarts", 1) > 1 else "")
        + f"{s['epochs']} epochs of the budget (+replay) for every selector, the full pool included"
        + (f" (capped at {s['full_pool_max_steps']} steps)" if s["full_pool_max_steps"] else "")
        + "; `full-pool-es` is the full pool one epoch per round, kept at its best validation round. "
        "Test accuracy (%), mean ± std over seeds.",
        "",
    ]
    for src in data["provenance"].get("merged_from", []):
        sp = src["provenance"]
        lines += [
            f"- merged from `{src['name']}`: `{sp['command']}` — {sp['date']}, commit "
            f"`{(sp['git_commit'] or '?')[:10]}`, {src['wall_s']} s",
        ]
    if data["provenance"].get("merged_from"):
        lines.append("")
    if data.get("incomplete"):
        lines += [f"**Incomplete:** {data['incomplete']}", ""]
    for task, per in data["aggregate"].items():
        lines += [f"## {task}", "", *_table_head([f"{frac[str(b)]} ({b})" for b in budgets])]
        lines += _stat_rows(per, budgets, "accuracy")
        if any((c or {}).get("ll_accuracy") for cells in per.values() for c in cells.values()):
            lines += [
                "",
                "The same by choice log-likelihood (the option the student finds most likely after its steps):",
                "",
                *_table_head([frac[str(b)] for b in budgets]),
                *_stat_rows(per, budgets, "ll_accuracy"),
            ]
        lines += ["", "Gain over random (points, paired by seed) · fraction of full-pool accuracy:", ""]
        lines += _table_head([frac[str(b)] for b in budgets])
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
            *_table_head([frac[str(b)] for b in budgets]),
        ]
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
    studies = [load_study(n) for n in names]
    path = common.RESULTS / f"{out}.png"
    plot(merge_budgets(studies), path, rounds=False)
    return path


def complete(data: dict[str, Any]) -> dict[str, Any]:
    """`data` with its `aggregate` and `summary` recomputed from its rows, settings and budgets."""
    s = Settings(**data["settings"])
    return {
        **data,
        "aggregate": aggregate(data["rows"], s, data["budgets"]),
        "summary": summary(data["rows"], s, data["budgets"]),
    }


def run_plan(
    tasks: list[str], selectors: list[str], seeds: list[int], budgets: list[int]
) -> list[tuple[str, str, int | None, int]]:
    """Every run of a study as (task, selector, budget, seed), seed outermost (a study cut short still has every
    selector at some seed); budget-free selectors run once per seed, with budget None."""
    return [
        (task, sel, b, seed)
        for seed in seeds
        for task in tasks
        for sel in selectors
        for b in ([None] if sel in BUDGET_FREE else budgets)
    ]


def load_study(name: str) -> dict[str, Any]:
    """results/NAME.json as a study run (or a merge) wrote it."""
    return json.loads((common.RESULTS / f"{name}.json").read_text())


def write_study(name: str, data: dict[str, Any]) -> None:
    """results/NAME.json, the generated NAME.md and NAME.png (plus NAME-rounds.png for multi-round selectors)."""
    common.write_json(common.RESULTS / f"{name}.json", data)
    (common.RESULTS / f"{name}.md").write_text(markdown(data))
    plot(data, common.RESULTS / f"{name}.png")


# settings that change what one run means: studies merged into one file must agree on every one of them
SHARED_SETTINGS = (
    "pool_size",
    "val_size",
    "test_size",
    "epochs",
    "lora_lr",
    "lora_batch",
    "replay_fraction",
    "answer_weight",
    "lora_restarts",
)


def _union(values: list[list[Any]]) -> list[Any]:
    return list(dict.fromkeys(v for vs in values for v in vs))


def merge_studies(studies: dict[str, dict[str, Any]], command: str) -> dict[str, Any]:
    """One results dict from studies of the same world and settings run as separate processes (a seed range or a
    set of selectors each; `--first-seed`), so that paired gains and intervals are computed over all their seeds.

    Refused, naming the files: settings that change what a run means differ, the full pool was capped
    differently, the base students differ, or one run (task, selector, budget, seed) appears in two files with
    different accuracies (a deterministic rerun agrees; it is then kept once). Each file's provenance is kept."""
    if not studies:
        raise ValueError("nothing to merge")
    names = list(studies)
    first_name, first = names[0], studies[names[0]]
    for name in names[1:]:
        a, b = (Settings.model_validate(studies[n]["settings"]).model_dump() for n in (first_name, name))
        diff = {k: [a[k], b[k]] for k in SHARED_SETTINGS if a[k] != b[k]}
        if diff:
            raise ValueError(f"{name}: settings differ from {first_name}: {diff}")
    bases = {b for d in studies.values() if (b := d["provenance"].get("base_student"))}
    if len(bases) > 1:
        raise ValueError(f"the studies tuned different base students: {sorted(bases)}")
    caps = {
        d["settings"]["full_pool_max_steps"]
        for d in studies.values()
        if any(r["selector"].startswith("full-pool") for r in d["rows"])
    }
    if len(caps) > 1:
        raise ValueError(f"the full pool was capped differently across the studies: {sorted(caps)} steps")
    kept: dict[tuple[Any, ...], tuple[str, dict[str, Any]]] = {}
    for name in names:
        for r in studies[name]["rows"]:
            key = (r["task"], r["selector"], r["budget"], r["seed"])
            if key in kept and kept[key][1]["test_accuracy"] != r["test_accuracy"]:
                raise ValueError(
                    f"{kept[key][0]} and {name} disagree on run {key}: test accuracy "
                    f"{kept[key][1]['test_accuracy']} vs {r['test_accuracy']}"
                )
            kept.setdefault(key, (name, r))
    each = [studies[n]["settings"] for n in names]
    settings = {
        **first["settings"],
        "tasks": _union([s["tasks"] for s in each]),
        "fractions": sorted({f for s in each for f in s["fractions"]}),
        "seeds": sorted({seed for s in each for seed in s["seeds"]}),
        "selectors": _union([s["selectors"] for s in each]),
        "full_pool_max_steps": caps.pop() if caps else 0,
        "max_minutes": max(s["max_minutes"] for s in each),
    }
    budgets = sorted({b for d in studies.values() for b in d["budgets"]})
    provs = [studies[n]["provenance"] for n in names]
    commits = {p["git_commit"] for p in provs}
    here = common.provenance(command.split()[2:])
    provenance = {
        **here,
        "command": command,
        "merge_commit": here[
            "git_commit"
        ],  # the code that aggregated the merged rows, and whether it was clean
        "merge_git_dirty": here["git_dirty"],
        # the merge runs no model: what the figures rest on is the sources' code, named here when it is one commit
        "git_commit": commits.pop() if len(commits) == 1 else None,
        "git_dirty": any(p["git_dirty"] for p in provs),
        "allow_dirty": any(p.get("allow_dirty") for p in provs),
        "merged_from": [
            {
                "name": n,
                "provenance": studies[n]["provenance"],
                "wall_s": studies[n]["wall_s"],
                "incomplete": studies[n]["incomplete"],
            }
            for n in names
        ],
    }
    # a run one file missed may come from another (a rerun with --first-seed): incomplete is what none holds
    plan = run_plan(settings["tasks"], settings["selectors"], settings["seeds"], budgets)
    missing = [k for k in plan if k not in kept]
    incomplete = (
        f"{len(missing)} of {len(plan)} runs missing, e.g. "
        + ", ".join("/".join(map(str, k)) for k in missing[:5])
        if missing
        else None
    )
    return complete(
        {
            "quick": any(d["quick"] for d in studies.values()),
            "settings": settings,
            "budgets": budgets,
            "provenance": provenance,
            "pool": first["pool"],
            "wall_s": round(sum(d["wall_s"] for d in studies.values()), 1),
            "incomplete": incomplete,
            "rows": [r for _, r in kept.values()],
        }
    )


def merge_files(out: str, names: list[str]) -> Path:
    """`--merge OUT NAME...`: results/OUT.{json,md,png} from the results files NAME ..."""
    studies = {n: load_study(n) for n in names}
    write_study(
        out, merge_studies(studies, f"python -m benchmarks.data_efficiency --merge {out} {' '.join(names)}")
    )
    return common.RESULTS / f"{out}.json"
