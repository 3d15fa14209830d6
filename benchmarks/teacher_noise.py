"""How well does the reference teacher identify mistakes under a noise profile? Scored against INJECTED errors.

Traces are gold rationales of the target tasks (asked in the tasks' own wording) with one step made false
(`edtune.shapes.world.inject`); a method is right when it names that step, and the skill is right when the teacher's
phrase maps (`canonical_skill`) to the skill the injected step needs. Nothing is scored with the world's own
checker, so the figures are not circular. Methods, through the real client (`edtune.teacher.diagnose`) over HTTP:
answer switch with the judge as fallback (the default), judge only, and a random step (the floor). Tagging is
scored on pool conversations against the analysis sidecar (precision / recall of canonical skills), and the
teacher's grouping of the distinct skill names it wrote (the `group` request) by pairs against its synonym table.

These figures reflect the reference teacher's CONFIGURED noise, not a real LMM's errors, and so are not
comparable with the paper's 65 / 59 / 28 / 7 (GPT-4o-class teacher): what they show is how much each method
loses on top of the teacher's own errors.

    python -m benchmarks.teacher_noise [--profile realistic] [--seeds 0 1 2] [--n 300] [--tags 1000]
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks.common import RESULTS, provenance


def _traces(n: int, seed: int, img_dir: Path) -> tuple[list[Any], dict[str, Any], dict[str, tuple[int, str]]]:
    from edtune.schemas import TaskSample, Trace
    from edtune.shapes.world.families import parse_step
    from edtune.shapes.world.inject import injected_traces
    from edtune.shapes.world.scenes import render_png
    from edtune.shapes.world.tasks import TASKS

    traces, samples, truth = [], {}, {}
    per_task = max(1, n // len(TASKS))
    for spec in TASKS.values():
        fams = [f for f, _ in spec.families]
        for i, (scene, q, k, steps, skill) in enumerate(
            injected_traces(per_task, f"noise:{seed}:{spec.name}", fams, spec.wordings)
        ):
            sid = f"{spec.name}-{i:04d}"
            img = img_dir / f"{sid}.png"
            img.write_bytes(render_png(scene))
            samples[sid] = TaskSample(
                id=sid, image=str(img), question=q.question, choices=q.choices, answer=q.answer
            )
            implied = [c.implies for c in (parse_step(x, q.family) for x in steps) if c and c.implies]
            wrong = next(
                (v for v in reversed(implied) if v != q.answer), None
            )  # what the broken steps lead to
            if wrong is None:
                wrong = next((c for c in (q.choices or []) if c != q.answer), "0" if q.answer != "0" else "1")
            traces.append(Trace(sample_id=sid, steps=steps, answer=wrong, correct=False, raw=""))
            truth[sid] = (k, skill)
    return traces, samples, truth


def _score(reports: list[Any], truth: dict[str, tuple[int, str]]) -> dict[str, Any]:
    from edtune.shapes.world.families import canonical_skill

    n = len(reports)
    step = sum(r.status == "diagnosed" and r.erroneous_step == truth[r.sample_id][0] for r in reports)
    skill = sum(
        r.status == "diagnosed" and canonical_skill(r.missing_skills[0].name) == truth[r.sample_id][1]
        for r in reports
    )
    by = {"answer-switch": 0, "judge": 0, "undiagnosed": 0}
    for r in reports:
        key = (
            "undiagnosed"
            if r.status != "diagnosed"
            else ("judge" if "judge" in r.method else "answer-switch")
        )
        by[key] = by.get(key, 0) + 1
    return {
        "n": n,
        "step_accuracy": round(step / n, 3),
        "skill_accuracy": round(skill / n, 3),
        "found_by": by,
    }


def _score_groups(groups: list[list[str]] | None) -> dict[str, Any]:
    """The teacher's grouping of the round's distinct skill names, scored by pairs against the synonym table: a pair
    is right when both names map to the same canonical skill (precision: of the pairs it grouped; recall: of the
    pairs it should have)."""
    from itertools import combinations

    from edtune.shapes.world.families import canonical_skill

    if groups is None:
        return {"names": 0, "pair_precision": None, "pair_recall": None, "note": "no grouping returned"}
    names = [n for g in groups for n in g]
    owner = {n: i for i, g in enumerate(groups) for n in g}
    tp = fp = fn = 0
    for a, b in combinations(names, 2):
        same_true = canonical_skill(a) is not None and canonical_skill(a) == canonical_skill(b)
        same_got = owner[a] == owner[b]
        tp += same_true and same_got
        fp += same_got and not same_true
        fn += same_true and not same_got
    return {
        "names": len(names),
        "groups": len(groups),
        "pair_precision": round(tp / max(1, tp + fp), 3),
        "pair_recall": round(tp / max(1, tp + fn), 3),
    }


def _tags(url: str, n: int, seed: int, work: Path) -> dict[str, Any]:
    from edtune.config import TeacherConfig
    from edtune.shapes.world.families import canonical_skill
    from edtune.shapes.world.generate import generate_world
    from edtune.teacher.annotate import annotate_pool

    world = work / "world"
    generate_world(world, seed=seed, pool_size=n, val_size=1, test_size=1, progress=False)
    out = work / "skills.jsonl"
    annotate_pool(
        str(world / "pool.jsonl"),
        str(out),
        TeacherConfig(url=url, model=""),
        cache_dir=str(work / "c"),
        progress=False,
    )
    labels = {r["id"]: set(r["skills"]) for r in map(json.loads, (world / "pool.labels.jsonl").open())}
    tp = fp = fn = 0
    phrasings: dict[str, set[str]] = {}
    for row in map(json.loads, out.open()):
        got = set()
        for t in row["skills"]:
            c = canonical_skill(t)
            if c:
                phrasings.setdefault(c, set()).add(t)
                got.add(c)
        true = labels[row["id"]]
        tp += len(got & true)
        fp += len(got - true)
        fn += len(true - got)
    return {
        "n": n,
        "precision": round(tp / max(1, tp + fp), 3),
        "recall": round(tp / max(1, tp + fn), 3),
        "phrasings_per_skill": {k: len(v) for k, v in sorted(phrasings.items())},
    }


def run(profile: str, seed: int, n: int, n_tags: int) -> dict[str, Any]:
    from edtune.config import TeacherConfig
    from edtune.shapes.world.noise import get_profile
    from edtune.shapes.world.reference_teacher import start_reference_teacher
    from edtune.teacher.diagnose import diagnose

    server, url = start_reference_teacher("127.0.0.1", 0, noise=get_profile(profile, seed))
    try:
        with tempfile.TemporaryDirectory() as tmp:
            work = Path(tmp)
            traces, samples, truth = _traces(n, seed, work)
            out: dict[str, Any] = {"profile": profile, "seed": seed}
            for method in ("answer-switch", "judge"):
                cfg = TeacherConfig(url=url, model="", method=method)  # type: ignore[arg-type]
                res = diagnose(traces, samples, cfg, cache_dir=str(work / f"cache-{method}"), progress=False)
                out[method] = _score(res.reports, truth)
                out[method]["grouping"] = _score_groups(res.skill_groups)
            rng = random.Random(f"random-step:{seed}")
            hits = sum(rng.randint(1, len(t.steps)) == truth[t.sample_id][0] for t in traces)
            out["random-step"] = {"n": len(traces), "step_accuracy": round(hits / len(traces), 3)}
            if n_tags > 0:  # the ablations ask for mistake identification only
                out["tags"] = _tags(url, n_tags, seed, work)
    finally:
        server.shutdown()
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--profile", default="realistic")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--n", type=int, default=300, help="injected traces per seed (spread over the tasks)")
    ap.add_argument("--tags", type=int, default=1000, help="pool conversations tagged per seed")
    ap.add_argument("--out", default=str(RESULTS / "teacher_noise.json"))
    ap.add_argument("--allow-dirty", action="store_true", help="run from uncommitted code (recorded)")
    args = ap.parse_args(argv)
    prov = provenance(
        ["benchmarks.teacher_noise", *(argv if argv is not None else sys.argv[1:])],
        allow_dirty=args.allow_dirty,
    )
    t0 = time.perf_counter()
    rows = [run(args.profile, s, args.n, args.tags) for s in args.seeds]
    rec = {
        **prov,
        "seeds": args.seeds,
        "wall_s": round(time.perf_counter() - t0, 1),
        "note": "reflects the reference teacher's configured noise, not a real teacher's",
        "runs": rows,
    }
    Path(args.out).write_text(json.dumps(rec, indent=2) + "\n")
    for r in rows:
        print(json.dumps({k: r[k] for k in ("seed", "answer-switch", "judge", "random-step", "tags")}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
