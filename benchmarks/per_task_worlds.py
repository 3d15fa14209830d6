"""The per-task table over unseen worlds: one `benchmarks.data_efficiency` study per world seed, summarised.

    python -m benchmarks.data_efficiency --world-seed 1 --out per-task-w1 --tasks ... --selectors none error-bm25 random
    ...                                                  (the same for world seeds 2 and 3, the same settings)
    python -m benchmarks.per_task_worlds per-task-worlds per-task-w1 per-task-w2 per-task-w3
    python -m benchmarks.per_task_worlds OUT per-task-w1+per-task-w1-new ...   # a later study's selectors replace

`A+B` reads one world from two studies of it: B's selectors replace A's (a selector rerun on later code) or add to
them (B may cover only some of A's tasks; the others show "–"), and A's replaced figures stay as
"<selector>, earlier" beside them; each file's provenance is kept.

Why a separate step: each world is its own study (its own pool, splits and teacher noise), so the studies are not
merged as seeds of one study; the table reports, per task and selector, the median and range over worlds, beside
each world's chance level and best constant answer (recomputed from the world's held-out split, which the generator
reproduces exactly from the world seed and split size). The verdict the study is judged by is printed per task:
error-driven >= random + 0.10 and >= chance + 0.25, in the median over worlds.

Beside the accuracies, the share of each selector's samples that teach a skill the task needs and the base lacks
(the study rows' `coverage.gap_skill_share`, by the world's ground-truth labels): it says whether a loss comes from
what was selected or from what the student made of it.
"""

from __future__ import annotations

import argparse
import json
import statistics
from typing import Any

from benchmarks.bookkeeping import RESULTS
from benchmarks.study_report import HEADLINE

MARGIN_OVER_RANDOM = 0.10
MARGIN_OVER_CHANCE = 0.25
# column prefix of the share of selected samples teaching a gap skill: gap_share:<selector>
GAP_SHARE = "gap_share:"
# column prefix of choice log-likelihood accuracy (multiple-choice tasks; rows record it since it was added): ll:<sel>
LL = "ll:"


def split_floors(task: str, world_seed: int, test_size: int) -> tuple[float, float]:
    """(chance, best constant) of a world's held-out split, regenerated from its seed (no images are drawn)."""
    from edtune.shapes.world.tasks import TASKS, iter_task
    from edtune.taskcard import answer_baselines

    samples = [s for s, _, _ in iter_task(TASKS[task], "test", test_size, world_seed)]
    floors = answer_baselines(samples)
    return floors.chance, floors.best_constant


def accuracies(study: dict[str, Any]) -> dict[str, dict[str, float]]:
    """task -> selector -> mean held-out accuracy over the study's seeds (the study's one budget)."""
    out: dict[str, dict[str, float]] = {}
    for task, by_selector in study["aggregate"].items():
        for selector, by_budget in by_selector.items():
            if len(by_budget) != 1:
                raise ValueError(f"{task}/{selector}: expected one budget, found {sorted(by_budget)}")
            (cell,) = by_budget.values()
            out.setdefault(task, {})[selector] = float(cell["accuracy"]["mean"])
    return out


def gap_shares(study: dict[str, Any]) -> dict[str, dict[str, float]]:
    """task -> selector -> mean share of selected samples that teach a gap skill of the task (over the seeds)."""
    shares: dict[tuple[str, str], list[float]] = {}
    for row in study.get("rows", []):
        cov = row.get("coverage")
        if cov and cov.get("n"):
            shares.setdefault((row["task"], row["selector"]), []).append(float(cov["gap_skill_share"]))
    out: dict[str, dict[str, float]] = {}
    for (task, selector), values in shares.items():
        out.setdefault(task, {})[f"{GAP_SHARE}{selector}"] = statistics.fmean(values)
    return out


def ll_accuracies(study: dict[str, Any]) -> dict[str, dict[str, float]]:
    """task -> ll:<selector> -> mean choice log-likelihood accuracy over the seeds (rows that recorded one)."""
    values: dict[tuple[str, str], list[float]] = {}
    for row in study.get("rows", []):
        if row.get("test_ll_accuracy") is not None:
            values.setdefault((row["task"], row["selector"]), []).append(float(row["test_ll_accuracy"]))
    out: dict[str, dict[str, float]] = {}
    for (task, selector), vs in values.items():
        out.setdefault(task, {})[f"{LL}{selector}"] = statistics.fmean(vs)
    return out


def _verdict(med: dict[str, float], prefix: str = "") -> tuple[float, float, bool] | None:
    """(over random, over chance, meets) of the headline selector's median, or None without both columns."""
    mine, rnd = med.get(f"{prefix}{HEADLINE}"), med.get(f"{prefix}random")
    if mine is None or rnd is None:
        return None
    over_random, over_chance = round(mine - rnd, 4), round(mine - med["chance"], 4)
    return over_random, over_chance, over_random >= MARGIN_OVER_RANDOM and over_chance >= MARGIN_OVER_CHANCE


def summarise(studies: list[dict[str, Any]]) -> dict[str, Any]:
    """Per task: each world's figures, then the median and range of every column, and the verdict."""
    per_task: dict[str, dict[str, Any]] = {}
    for study in studies:
        seed = int(study["world_seed"])
        test_size = int(study["settings"]["test_size"])
        shares = gap_shares(study)
        lls = ll_accuracies(study)
        for task, by_selector in accuracies(study).items():
            chance, constant = split_floors(task, seed, test_size)
            row = {
                "world_seed": seed,
                "chance": chance,
                "best_constant": constant,
                **by_selector,
                **shares.get(task, {}),
                **lls.get(task, {}),
            }
            per_task.setdefault(task, {"worlds": []})["worlds"].append(row)
    met = met_ll = 0
    for entry in per_task.values():
        worlds = entry["worlds"]
        columns = sorted({k for w in worlds for k in w if k != "world_seed"})
        values = {c: [w[c] for w in worlds if c in w] for c in columns}
        entry["median"] = {c: statistics.median(v) for c, v in values.items()}
        entry["range"] = {c: [min(v), max(v)] for c, v in values.items()}
        verdict = _verdict(entry["median"])
        if verdict:
            entry["over_random"], entry["over_chance"], entry["meets"] = verdict
            met += entry["meets"]
        verdict_ll = _verdict(entry["median"], LL)
        if verdict_ll:
            entry["over_random_ll"], entry["over_chance_ll"], entry["meets_ll"] = verdict_ll
            met_ll += entry["meets_ll"]
    return {
        "tasks": per_task,
        "tasks_meeting": met,
        "tasks_total": len(per_task),
        # the same verdict by choice log-likelihood, over the multiple-choice tasks that recorded it
        "tasks_meeting_ll": met_ll,
        "tasks_total_ll": sum("meets_ll" in e for e in per_task.values()),
    }


EARLIER = ", earlier"  # suffix of a selector's figures replaced by a later study of the same world (A+B)

LABELS = {
    "none": "base",
    HEADLINE: f"error-driven ({HEADLINE})",
    f"{HEADLINE}{EARLIER}": f"error-driven, the earlier study ({HEADLINE})",
    "random": "random",
    "oracle": "oracle (the world's labels pick)",
    "oracle-task": "the task's own family (upper bound)",
}
SELECTOR_ORDER = (
    "none",
    HEADLINE,
    f"{HEADLINE}{EARLIER}",
    "random",
    "similar-questions",
    "oracle",
    "oracle-task",
)


def markdown(summary: dict[str, Any], selectors: list[str]) -> str:
    names = [LABELS.get(s, s) for s in selectors]
    head = [
        "task",
        "chance",
        "best constant",
        *names,
        "error-driven - random",
        "error-driven - chance",
        "meets",
        "log-lik.: base / error-driven / random",
        "meets (log-lik.)",
        "picks teaching the gap: error-driven / random",
        *(["picks teaching the gap: oracle"] if "oracle" in selectors else []),
    ]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for task, entry in summary["tasks"].items():
        med, rng = entry["median"], entry["range"]
        cells = [f"`{task}`"]
        for col in ("chance", "best_constant", *selectors):
            cells.append(f"{med[col]:.3f} ({rng[col][0]:.3f}–{rng[col][1]:.3f})" if col in med else "–")
        if "meets" in entry:
            cells += [f"{entry['over_random']:+.3f}", f"{entry['over_chance']:+.3f}"]
            cells.append("yes" if entry["meets"] else "no")
        else:  # no random column (e.g. the oracle study): no verdict
            cells += ["–", "–", "–"]
        cells.append(" / ".join(_cell(med, rng, f"{LL}{sel}") for sel in ("none", HEADLINE, "random")))
        cells.append(("yes" if entry["meets_ll"] else "no") if "meets_ll" in entry else "–")
        cells.append(" / ".join(_share(med, rng, sel) for sel in (HEADLINE, "random")))
        if "oracle" in selectors:
            cells.append(_share(med, rng, "oracle"))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def _cell(med: dict[str, float], rng: dict[str, list[float]], col: str) -> str:
    return f"{med[col]:.3f} ({rng[col][0]:.3f}–{rng[col][1]:.3f})" if col in med else "–"


def _share(med: dict[str, float], rng: dict[str, list[float]], selector: str) -> str:
    col = f"{GAP_SHARE}{selector}"
    if col not in med:
        return "–"
    return f"{med[col]:.0%} ({rng[col][0]:.0%}–{rng[col][1]:.0%})"


def _shared_settings(study: dict[str, Any]) -> dict[str, Any]:
    """The settings two studies of one world must share to be read as one (seeds, selectors and tasks may differ)."""
    return {k: v for k, v in study["settings"].items() if k not in ("seeds", "selectors", "tasks")}


def load_world(spec: str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """One world's study from `A` or `A+B` (see the module docstring), and the provenance of each file read."""
    names = spec.split("+")
    studies = [json.loads((RESULTS / f"{n}.json").read_text()) for n in names]
    sources = [{"name": n, "provenance": s["provenance"]} for n, s in zip(names, studies, strict=True)]
    study = studies[0]
    for later in studies[1:]:
        if later["world_seed"] != study["world_seed"]:
            raise ValueError(f"{spec}: the studies are of different world seeds")
        if _shared_settings(later) != _shared_settings(study):
            raise ValueError(f"{spec}: the studies' settings differ")
        if not set(later["settings"].get("tasks", ())) <= set(study["settings"].get("tasks", ())):
            raise ValueError(
                f"{spec}: a later study may add selectors on some of the first one's tasks, not tasks"
            )
        new = set(later["settings"]["selectors"])
        aggregate: dict[str, dict[str, Any]] = {}
        for task, by_sel in study["aggregate"].items():
            for sel, cell in by_sel.items():
                aggregate.setdefault(task, {})[f"{sel}{EARLIER}" if sel in new else sel] = cell
        for task, by_sel in later["aggregate"].items():
            aggregate.setdefault(task, {}).update(by_sel)
        rows = [
            {**r, "selector": f"{r['selector']}{EARLIER}"} if r["selector"] in new else r
            for r in study["rows"]
        ]
        study = {**study, "aggregate": aggregate, "rows": rows + later["rows"]}
    return study, sources


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        prog="python -m benchmarks.per_task_worlds", description=__doc__.split("\n")[0]
    )
    ap.add_argument("out", help="results name to write (results/OUT.json and .md)")
    ap.add_argument("names", nargs="+", help="data_efficiency results names, one per world seed")
    args = ap.parse_args(argv)
    loaded = [load_world(n) for n in args.names]
    studies = [study for study, _ in loaded]
    seeds = [s["world_seed"] for s in studies]
    if len(set(seeds)) != len(seeds):
        ap.error(f"one study per world seed, got seeds {seeds}")
    settings = [{k: v for k, v in s["settings"].items() if k not in ("seeds", "selectors")} for s in studies]
    if any(st != settings[0] for st in settings):
        ap.error("the studies' settings differ: every world must be run with the same settings")
    summary = summarise(studies)
    selectors = [s for s in SELECTOR_ORDER if any(s in e["median"] for e in summary["tasks"].values())]
    data = {
        **summary,
        "world_seeds": seeds,
        "settings": settings[0],
        "provenance": {
            "git_commit": None,
            "merged_from": [source for _, sources in loaded for source in sources],
        },
    }
    (RESULTS / f"{args.out}.json").write_text(json.dumps(data, indent=2) + "\n")
    (RESULTS / f"{args.out}.md").write_text(markdown(summary, selectors))
    print(markdown(summary, selectors))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
