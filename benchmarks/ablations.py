"""Ablations of error-driven selection at one budget, and mistake-identification accuracy on known wrong steps.

    nice python -m benchmarks.ablations --quick          # left-right + count-by-side, 3% of a 2K pool, 3 seeds
    nice python -m benchmarks.ablations                  # all four tasks, 3% of a 10K pool, 3 seeds

Variants (the paper's 10K ablation, same budget, replay share and LoRA steps for all):
- `full`: error-driven, answer-switch diagnosis, skill-analysis queries, hybrid retrieval;
- `no-mistake-id`: a random step of each wrong trace is called erroneous (mistakes.jsonl is rewritten after the
  diagnose stage, and the teacher names the skill of THAT step), then the same allocate/retrieve/tune;
- `no-skill-analysis`: retrieval queries are the erroneous steps' own text (`retrieval.query=step`);
- `judge`: the judge finds the erroneous step instead of the answer switch;
- `random`: random samples (the floor).
Mistake identification: traces built from the world's gold rationales with one step made false (the world's own
checker confirms which step is the first wrong one), diagnosed by each method; a random step is the baseline.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

from benchmarks import common
from benchmarks.common import Stat, StudyPaths, fmt, stat

HYBRID = {"retrieval__selector": "error-driven", "retrieval__mode": "hybrid"}
VARIANTS: dict[str, dict[str, Any]] = {
    "full": HYBRID,
    "no-mistake-id": HYBRID,
    "no-skill-analysis": {**HYBRID, "retrieval__query": "step"},
    "judge": {**HYBRID, "teacher__method": "judge"},
    "random": {"retrieval__selector": "random"},
}
PAPER_ORDER = ["full", "no-mistake-id", "no-skill-analysis", "random"]


# ---------------------------------------------------------------- "without mistake identification"


def _ask_skill(url: str, question: str, steps: list[str], k: int, image_uri: str) -> dict[str, str]:
    from edtune.teacher import prompts

    body = {
        "messages": prompts.build_skill(question, steps, k, "", image_uri),
        "max_tokens": 200,
        "response_format": prompts.response_format(prompts.SkillReply.model_json_schema(), "tgi"),
    }
    req = urllib.request.Request(
        url.rstrip("/") + "/v1/chat/completions",
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(req, timeout=30) as resp:
        content = json.loads(resp.read())["choices"][0]["message"]["content"]
    reply = prompts.SkillReply.model_validate_json(content)
    return {"name": reply.name, "description": reply.description}


def randomize_error_steps(cfg: Any, r: int) -> None:
    """Hook after diagnose: each diagnosed report's erroneous step becomes a uniformly random step of its trace
    (seeded by seed and sample id, so the rewrite is idempotent), and the teacher names that step's skill."""
    from edtune import io, stages
    from edtune.datasets import load_task
    from edtune.schemas import MissingSkill, MistakeReport, Trace
    from edtune.teacher.images import image_data_uri

    layout = stages.layout_of(cfg)
    traces = {t.sample_id: t for t in io.read_jsonl(layout.traces(r - 1), Trace, id_field="sample_id")}
    samples = {s.id: s for s in load_task(cfg.task.val)}
    reports = io.read_jsonl(layout.mistakes(r), MistakeReport, id_field="sample_id")
    out = []
    for m in reports:
        t = traces.get(m.sample_id)
        if m.status != "diagnosed" or t is None or not t.steps:
            out.append(m)
            continue
        k = random.Random(f"no-mistake-id:{cfg.seed}:{m.sample_id}").randint(1, len(t.steps))
        if k != m.erroneous_step:
            s = samples[m.sample_id]
            uri = image_data_uri(io.read_bytes(s.image), cfg.teacher.image_max_side, s.image)
            skill = _ask_skill(cfg.teacher.url, s.question, t.steps, k, uri)
            m = m.model_copy(
                update={
                    "erroneous_step": k,
                    "explanation": "random step (ablation: no mistake identification)",
                    "missing_skills": [MissingSkill(**skill)],
                    "method": "random-step",
                }
            )
        out.append(m)
    io.write_jsonl(layout.mistakes(r), out)


# ---------------------------------------------------------------- mistake-identification accuracy


class KnownCase(common.BaseModel):
    sample: dict[str, Any]
    steps: list[str]
    wrong_step: int  # 1-based, confirmed by the world's checker
    wrong_skill: str  # the skill the world's checker blames
    family: str
    answer: str


def known_wrong_traces(out_dir: Path, n: int, families: list[str], seed: int = 0) -> list[KnownCase]:
    """Wrong traces whose first wrong step is known: 0-2 true steps about the same scene (gold steps of the colour
    and shape families), the family's gold steps with the last one's answer replaced by a wrong choice, then 0-1
    more true steps (so the wrong step is not always the last). A case is kept only when the world's checker
    (`check_steps`) agrees on the first wrong step; its verdict names the skill that step needed."""
    from edtune.world.families import ask, check_steps
    from edtune.world.scenes import make_scene, render_png

    rng = random.Random(f"known-wrong:{seed}")
    (out_dir / "images").mkdir(parents=True, exist_ok=True)
    cases: list[KnownCase] = []
    tries = 0
    while len(cases) < n and tries < 50 * n:
        tries += 1
        fam = families[len(cases) % len(families)]
        scene = make_scene(rng)
        q = ask(fam, scene, rng, True)
        if q is None or not q.choices:
            continue
        true_steps = [
            x.steps[0] for x in (ask(f, scene, rng, True) for f in ("color", "shape", "color")) if x
        ]
        rng.shuffle(true_steps)
        n_pre = rng.randint(0, 2)
        prefix, suffix = true_steps[:n_pre], true_steps[n_pre : n_pre + rng.randint(0, 1)]
        wrong = rng.choice([c for c in q.choices if c != q.answer])
        last = q.steps[-1]
        cut = last.rfind(q.answer)
        if cut < 0:
            continue
        steps = prefix + q.steps[:-1] + [last[:cut] + wrong + last[cut + len(q.answer) :]]
        k, verdict = check_steps(steps + suffix, scene, fam)
        if k != len(steps) or verdict is None:
            continue
        steps += suffix
        sid = f"known-{len(cases):04d}"
        img = out_dir / "images" / f"{sid}.png"
        img.write_bytes(render_png(scene))
        sample = {
            "id": sid,
            "image": str(img),
            "question": q.question,
            "choices": q.choices,
            "answer": q.answer,
            "meta": {"family": fam},
        }
        cases.append(
            KnownCase(
                sample=sample, steps=steps, wrong_step=k, wrong_skill=verdict.skill, family=fam, answer=wrong
            )
        )
    return cases


def mistake_id_accuracy(p: StudyPaths, cases: list[KnownCase], method: str) -> dict[str, Any]:
    from edtune.config import TeacherConfig
    from edtune.schemas import TaskSample, Trace
    from edtune.teacher.diagnose import diagnose

    samples = {c.sample["id"]: TaskSample.model_validate(c.sample) for c in cases}
    traces = [
        Trace(sample_id=c.sample["id"], steps=c.steps, answer=c.answer, correct=False, raw="") for c in cases
    ]
    t0 = time.perf_counter()
    res = diagnose(
        traces,
        samples,
        TeacherConfig(url=p.teacher_url, model="", method=method),
        cache_dir=p.cache,
        progress=False,
    )
    by_id = {r.sample_id: r for r in res.reports}
    step_hits = skill_hits = 0
    per_family: dict[str, list[int]] = {}
    for c in cases:
        r = by_id[c.sample["id"]]
        hit = r.status == "diagnosed" and r.erroneous_step == c.wrong_step
        step_hits += hit
        skill_hits += (
            r.status == "diagnosed" and bool(r.missing_skills) and r.missing_skills[0].name == c.wrong_skill
        )
        per_family.setdefault(c.family, []).append(int(hit))
    n = len(cases)
    return {
        "method": method,
        "n": n,
        "step_accuracy": step_hits / n,
        "skill_accuracy": skill_hits / n,
        "undiagnosed": res.undiagnosed,
        "per_family_step_accuracy": {f: sum(v) / len(v) for f, v in sorted(per_family.items())},
        "seconds": round(time.perf_counter() - t0, 2),
    }


def random_step_accuracy(cases: list[KnownCase]) -> dict[str, Any]:
    """Expected accuracy of calling a uniformly random step erroneous (exact expectation, not a draw)."""
    per: dict[str, list[float]] = {}
    for c in cases:
        per.setdefault(c.family, []).append(1 / len(c.steps))
    n = len(cases)
    return {
        "method": "random-step",
        "n": n,
        "step_accuracy": sum(1 / len(c.steps) for c in cases) / n,
        "skill_accuracy": None,
        "per_family_step_accuracy": {f: sum(v) / len(v) for f, v in sorted(per.items())},
    }


# ---------------------------------------------------------------- the study


def ranked(means: dict[str, float], tol: float = 1e-9) -> str:
    """The paper's variants ordered by mean accuracy, ties shown as '=': 'full (40.0) > random (35.0) = ...'."""
    vs = sorted((v for v in means if v in PAPER_ORDER), key=lambda v: (-means[v], PAPER_ORDER.index(v)))
    out = ""
    for i, v in enumerate(vs):
        if i:
            out += " = " if abs(means[vs[i - 1]] - means[v]) <= tol else " > "
        out += f"{v} ({100 * means[v]:.1f})"
    return out


def markdown(data: dict[str, Any]) -> str:
    s = data["settings"]
    pv = data["provenance"]
    lines = [
        f"# Ablations{' (quick)' if data['quick'] else ''}",
        "",
        f"`{pv['command']}` — {pv['date']}, commit `{(pv['git_commit'] or '?')[:10]}`, "
        f"{pv['machine']['cpus']} CPUs, GPU: {pv['machine']['gpu'] or 'none'}.",
        "",
        f"Budget {data['budget']} samples ({100 * data['budget'] / s['pool_size']:g}% of a {s['pool_size']}-sample "
        f"pool), {data['steps']} LoRA steps, replay {s['replay_fraction']}, seeds {s['seeds']}; held-out test "
        f"split ({s['test_size']}). Test accuracy (%), mean ± std over seeds.",
        "",
    ]
    if data.get("incomplete"):
        lines += [f"**Incomplete:** {data['incomplete']}", ""]
    tasks = list(data["aggregate"])
    lines += ["| variant | " + " | ".join(tasks) + " | mean over tasks |", "|---" * (len(tasks) + 2) + "|"]
    base_row = ["no tuning"] + [fmt(Stat(**data["base"][t])) for t in tasks] + ["–"]
    lines.append("| " + " | ".join(base_row) + " |")
    for v in data["variants"]:
        cells = [data["aggregate"][t].get(v) for t in tasks]
        means = [c["mean"] for c in cells if c and c["mean"] is not None]
        row = [fmt(Stat(**c)) if c else "–" for c in cells]
        row.append(f"{100 * sum(means) / len(means):.1f}" if len(means) == len(tasks) else "–")
        lines.append(f"| {v} | " + " | ".join(row) + " |")
    lines += [
        "",
        f"Paper's order (10K ablation): {' > '.join(PAPER_ORDER)}. Measured order (mean over tasks): ",
    ]
    lines[-1] += data["measured_order"] or "–"
    lines += ["", "## Mistake identification on traces with a known wrong step", ""]
    mi = data["mistake_identification"]
    fams = sorted({f for m in mi for f in m["per_family_step_accuracy"]})
    lines += [
        "| method | n | step accuracy | skill accuracy | " + " | ".join(fams) + " |",
        "|---" * (len(fams) + 4) + "|",
    ]
    for m in mi:
        sk = "–" if m["skill_accuracy"] is None else f"{100 * m['skill_accuracy']:.1f}"
        per = [f"{100 * m['per_family_step_accuracy'].get(f, 0):.0f}" for f in fams]
        lines.append(
            f"| {m['method']} | {m['n']} | {100 * m['step_accuracy']:.1f} | {sk} | " + " | ".join(per) + " |"
        )
    lines += [
        "",
        "Per-family columns: step accuracy (%) by question family. Traces: 0-2 true steps, then the family's gold",
        "steps with the answer in the last one replaced by a wrong option; the world's checker confirms the step.",
        "",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.ablations", description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--tasks", nargs="+")
    ap.add_argument("--seeds", type=int)
    ap.add_argument("--budget", type=float, default=0.03, help="fraction of the pool")
    ap.add_argument("--variants", nargs="+", choices=list(VARIANTS))
    ap.add_argument("--pool-size", type=int)
    ap.add_argument("--val-size", type=int)
    ap.add_argument("--test-size", type=int)
    ap.add_argument("--epochs", type=float, default=3.0)
    ap.add_argument("--lr", type=float, default=3e-3)
    ap.add_argument("--known-cases", type=int, default=200)
    ap.add_argument("--max-minutes", type=float)
    ap.add_argument("--workdir", type=Path)
    ap.add_argument("--out")
    ap.add_argument("--allow-dirty", action="store_true", help="run from uncommitted code (recorded)")
    args = ap.parse_args(argv)
    quick = args.quick
    settings = {
        # count-by-side is in the quick set because its wrong traces have 2 steps: with 1-step traces (the
        # other tasks) a "random erroneous step" is the only step and the no-mistake-id ablation is vacuous
        "tasks": args.tasks
        or (
            ["left-right", "count-by-side"]
            if quick
            else ["left-right", "color-by-side", "size-check", "count-by-side"]
        ),
        "seeds": list(range(args.seeds or 3)),
        "fraction": args.budget,
        "pool_size": args.pool_size or (2000 if quick else 10000),
        "val_size": args.val_size or (100 if quick else 200),
        "test_size": args.test_size or (200 if quick else 500),
        "epochs": args.epochs,
        "lora_lr": args.lr,
        "lora_batch": 8,
        "replay_fraction": 0.2,
        "known_cases": args.known_cases,
    }
    variants = args.variants or list(VARIANTS)
    name = args.out or ("ablations-quick" if quick else "ablations")
    # the same world/pool as the data-efficiency study of the same size: reuse its workdir (annotate/index once)
    default_wd = "data_efficiency-quick" if quick else "data_efficiency"
    workdir = args.workdir or Path("/tmp/edtune-bench") / default_wd
    t_start = time.perf_counter()
    deadline = t_start + 60 * (args.max_minutes or (10.0 if quick else 24 * 60.0))
    budget = common.budgets_for(settings["pool_size"], [settings["fraction"]])[0]
    steps = common.steps_for(
        budget, replay_fraction=settings["replay_fraction"], batch_size=8, epochs=settings["epochs"]
    )
    prov = common.provenance(
        ["benchmarks.ablations", *(argv if argv is not None else sys.argv[1:])], allow_dirty=args.allow_dirty
    )
    rows: list[dict[str, Any]] = []
    incomplete = None
    with common.study(
        workdir,
        pool_size=settings["pool_size"],
        val_size=settings["val_size"],
        test_size=settings["test_size"],
    ) as p:
        from edtune.world.tasks import TASKS

        families = sorted({f for t in TASKS for f in common.task_families(t)})
        cases = known_wrong_traces(Path(p.workdir) / "known-wrong", settings["known_cases"], families)
        mi = [mistake_id_accuracy(p, cases, m) for m in ("answer-switch", "judge")] + [
            random_step_accuracy(cases)
        ]
        base: dict[str, Any] = {}
        plan = [(seed, t, v) for seed in settings["seeds"] for t in settings["tasks"] for v in variants]
        for i, (seed, task, v) in enumerate(plan):
            if time.perf_counter() > deadline:
                incomplete = f"stopped at the time limit after {i} of {len(plan)} runs"
                break
            lora = {
                "lr": settings["lora_lr"],
                "batch_size": 8,
                "replay_fraction": settings["replay_fraction"],
            }
            cfg = common.make_config(
                p, task, f"abl-{task}-{v}-b{budget}-s{seed}", seed=seed, lora=lora, **VARIANTS[v]
            )
            out = common.drive(
                p,
                cfg,
                rounds=1,
                budgets_per_round=[budget],
                steps_per_round=[steps],
                after_diagnose=randomize_error_steps if v == "no-mistake-id" else None,
            )
            base[task] = out.base_test
            cov = common.coverage(
                out.selected,
                common.load_labels(p),
                common.task_families(task),
                common.task_skills(task),
                common.task_gap_skills(task),
            )
            rows.append(
                {
                    "task": task,
                    "variant": v,
                    "seed": seed,
                    "test_accuracy": out.final_test,
                    "base_test_accuracy": out.base_test,
                    "n_selected": len(out.selected),
                    "lora_steps": out.steps,
                    "coverage": cov.model_dump(),
                    "seconds": out.seconds,
                    "note": out.note,
                }
            )
            print(
                f"[{i + 1}/{len(plan)}] {task} {v} seed={seed}: test {out.final_test:.3f} (base {out.base_test:.3f}) "
                f"family coverage {cov.family_share:.2f} {out.seconds}s",
                flush=True,
            )
    agg: dict[str, dict[str, Any]] = {}
    for t in settings["tasks"]:
        agg[t] = {}
        for v in variants:
            rs = [r["test_accuracy"] for r in rows if r["task"] == t and r["variant"] == v]
            if rs:
                agg[t][v] = stat(rs).model_dump()
    means = {
        v: sum(agg[t][v]["mean"] for t in settings["tasks"]) / len(settings["tasks"])
        for v in variants
        if all(v in agg[t] for t in settings["tasks"])
    }
    order = ranked(means)
    coverage_by_variant = {
        v: stat([r["coverage"]["family_share"] for r in rows if r["variant"] == v]).mean for v in variants
    }
    data = {
        "quick": quick,
        "settings": settings,
        "variants": variants,
        "budget": budget,
        "steps": steps,
        "provenance": prov,
        "wall_s": round(time.perf_counter() - t_start, 1),
        "incomplete": incomplete,
        "base": {t: stat([base[t]]).model_dump() for t in base},
        "rows": rows,
        "aggregate": agg,
        "mean_over_tasks": means,
        "measured_order": order,
        "family_coverage": coverage_by_variant,
        "mistake_identification": mi,
    }
    common.write_json(common.RESULTS / f"{name}.json", data)
    (common.RESULTS / f"{name}.md").write_text(markdown(data))
    print(markdown(data))
    print(f"wrote {common.RESULTS / name}.{{json,md}} in {data['wall_s']}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
