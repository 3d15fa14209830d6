"""One plain, typed function per pipeline stage. KFP components, the in-process loop and the CLI all call these.

Every stage reads and writes URIs in the run layout (`edtune.layout`), and is skipped when its `.done` marker exists
and records the same input hash (config subset + sha256 of input files): that is what makes an interrupted run
resume and a rerun idempotent, on local disk and on S3 alike. Markers are written last, after every output.
"""

from __future__ import annotations

import hashlib
import json
import logging
import random
import shutil
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel

from edtune import __version__, io
from edtune.config import RunConfig
from edtune.errors import InputError, StageError
from edtune.io.storage import TMP_SUFFIX
from edtune.layout import RunLayout
from edtune.log import kv
from edtune.schemas import (
    AdapterManifest,
    MistakeReport,
    RoundMetrics,
    Selection,
    SkillGap,
    SupportSample,
    TaskSample,
    Trace,
)

log = logging.getLogger("edtune.stages")
Split = Literal["val", "test"]


class StageResult(BaseModel):
    stage: str
    round: int
    skipped: bool
    seconds: float
    summary: dict[str, Any]


# ---------------------------------------------------------------- skip / resume machinery


def _sha_json(obj: Any) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()


def _sha_inputs(uris: Iterable[str | None]) -> dict[str, str]:
    """sha256 of each input file; a directory (adapter) hashes every file under it."""
    out: dict[str, str] = {}
    for uri in uris:
        if uri is None:
            continue
        u = io.parse(uri)
        is_file = Path(u.path).is_file() if u.scheme == "file" else io.exists(uri)
        files = [uri] if is_file else io.list_uris(uri)
        if not files:
            raise InputError(f"{uri}: missing input (file or directory not found)")
        for f in files:
            if f.endswith(".tmp"):
                continue
            out[f] = io.sha256_uri(f)
    return out


def _run(
    layout: RunLayout,
    r: int,
    stage: str,
    config_part: Any,
    inputs: Iterable[str | None],
    body: Callable[[], dict[str, Any]],
) -> StageResult:
    marker = layout.marker(r, stage)
    key = _sha_json(
        {"config": config_part, "inputs": _sha_inputs(inputs), "edtune": __version__.split("+")[0]}
    )
    if io.exists(marker):
        done = io.read_json(marker)
        if done.get("key") == key:
            log.info(kv("stage skipped", stage=stage, round=r, reason="outputs exist for these inputs"))
            return StageResult(
                stage=stage, round=r, skipped=True, seconds=0.0, summary=done.get("summary", {})
            )
        log.info(kv("stage rerun", stage=stage, round=r, reason="inputs changed"))
    t0 = time.perf_counter()
    log.info(kv("stage start", stage=stage, round=r))
    summary = body()
    seconds = round(time.perf_counter() - t0, 3)
    io.write_json(marker, {"key": key, "summary": summary, "seconds": seconds, "stage": stage})
    log.info(kv("stage done", stage=stage, round=r, seconds=seconds))
    return StageResult(stage=stage, round=r, skipped=False, seconds=seconds, summary=summary)


def _sweep_temp_files(prefix: str) -> None:
    """Remove temp files a killed writer left under a local round directory (readers never see them, but a
    resumed run should not accumulate them). S3 needs nothing: an unfinished upload never becomes an object."""
    u = io.parse(prefix)
    if u.scheme != "file" or not Path(u.path).is_dir():
        return
    for leftover in Path(u.path).rglob(f"*{TMP_SUFFIX}"):
        leftover.unlink(missing_ok=True)


def layout_of(cfg: RunConfig) -> RunLayout:
    return RunLayout(cfg.run_uri)


def _task_uri(cfg: RunConfig, split: Split) -> str:
    uri = cfg.task.val if split == "val" else cfg.task.test
    if not uri:
        raise InputError(f"task.{split}: no URI configured for the {split} split")
    return uri


def _adapter_for(layout: RunLayout, r: int) -> str | None:
    return layout.adapter(r) if r >= 1 else None


def _student_cfg(cfg: RunConfig) -> dict[str, Any]:
    return cfg.student.model_dump(mode="json")


# ---------------------------------------------------------------- evaluate


def evaluate(cfg: RunConfig, r: int, split: Split = "val") -> StageResult:
    """Score the student of round `r` (base for r=0, else round r's adapter) on a task split; write traces."""
    layout = layout_of(cfg)
    task_uri = _task_uri(cfg, split)
    adapter = _adapter_for(layout, r)

    def body() -> dict[str, Any]:
        traces, summary = _answer(cfg, task_uri, adapter, shard=None)
        io.write_jsonl(layout.traces(r, split), traces)
        data = summary.model_dump(mode="json")
        io.write_json(layout.eval_summary(r, split), data)
        return data

    return _run(
        layout, r, f"evaluate-{split}", _student_cfg(cfg), [task_uri, cfg.student.base, adapter], body
    )


def _answer(
    cfg: RunConfig, task_uri: str, adapter: str | None, shard: tuple[int, int] | None
) -> tuple[list, Any]:
    from edtune.datasets import load_task
    from edtune.student import load_student
    from edtune.student.evaluate import evaluate as run_eval

    samples = load_task(task_uri)
    if shard is not None:
        index, count = shard
        samples = samples[index::count]
    student = load_student(cfg.student.base, cfg.student, adapter=adapter, cache_dir=cfg.cache_dir)
    return run_eval(student, samples)


def evaluate_shard(cfg: RunConfig, r: int, split: Split, shard: int, shards: int) -> StageResult:
    """Score every `shards`-th sample starting at `shard` (one GPU pod of a `dsl.ParallelFor` fan-out)."""
    if not 0 <= shard < shards:
        raise InputError(f"shard {shard} is not in [0, {shards})")
    layout = layout_of(cfg)
    task_uri = _task_uri(cfg, split)
    adapter = _adapter_for(layout, r)
    name = f"shard-{shard:03d}-of-{shards:03d}"

    def body() -> dict[str, Any]:
        traces, summary = _answer(cfg, task_uri, adapter, shard=(shard, shards))
        io.write_jsonl(layout.file(r, f"shards/{split}-{name}.jsonl"), traces)
        return summary.model_dump(mode="json")

    part = {"student": _student_cfg(cfg), "shard": shard, "shards": shards}
    return _run(layout, r, f"evaluate-{split}-{name}", part, [task_uri, cfg.student.base, adapter], body)


def merge_shards(cfg: RunConfig, r: int, split: Split, shards: int) -> StageResult:
    """Merge shard traces back into the split's input order and summarise them as one evaluation."""
    from edtune.datasets import load_task
    from edtune.student.evaluate import summarise

    layout = layout_of(cfg)
    task_uri = _task_uri(cfg, split)
    shard_uris = [
        layout.file(r, f"shards/{split}-shard-{i:03d}-of-{shards:03d}.jsonl") for i in range(shards)
    ]

    def body() -> dict[str, Any]:
        order = [s.id for s in load_task(task_uri, check_images=False)]
        by_id: dict[str, Trace] = {}
        seconds = 0.0
        for i, uri in enumerate(shard_uris):
            by_id.update((t.sample_id, t) for t in io.read_jsonl(uri, Trace, id_field="sample_id"))
            marker = layout.marker(r, f"evaluate-{split}-shard-{i:03d}-of-{shards:03d}")
            seconds = max(
                seconds, float(io.read_json(marker).get("seconds", 0.0)) if io.exists(marker) else 0.0
            )
        missing = [sid for sid in order if sid not in by_id]
        if missing:
            raise StageError(
                f"{len(missing)} sample(s) missing from the evaluation shards, e.g. {missing[:3]}"
            )
        traces = [by_id[sid] for sid in order]
        summary = summarise(traces, seconds)
        io.write_jsonl(layout.traces(r, split), traces)
        data = summary.model_dump(mode="json")
        io.write_json(layout.eval_summary(r, split), data)
        return data

    return _run(layout, r, f"evaluate-{split}", _student_cfg(cfg), [task_uri, *shard_uris], body)


# ---------------------------------------------------------------- diagnose


def diagnose(cfg: RunConfig, r: int) -> StageResult:
    """Ask the teacher about every wrong validation trace of round r-1; write round r's mistakes.jsonl."""
    layout = layout_of(cfg)
    traces_uri = layout.traces(r - 1, "val")
    task_uri = _task_uri(cfg, "val")

    def body() -> dict[str, Any]:
        from edtune.datasets import load_task
        from edtune.teacher.diagnose import diagnose as run_diagnose

        traces = io.read_jsonl(traces_uri, Trace, id_field="sample_id")
        samples = {s.id: s for s in load_task(task_uri)}
        journal = str(Path(cfg.cache_dir) / "journals" / _sha_json([cfg.run_uri, r])[:16] / "mistakes.jsonl")
        res = run_diagnose(traces, samples, cfg.teacher, cache_dir=cfg.cache_dir, journal=journal)
        io.write_jsonl(layout.mistakes(r), res.reports)
        return res.model_dump(mode="json", exclude={"reports"})

    teacher_part = cfg.teacher.model_dump(
        mode="json", exclude={"concurrency", "timeout_s", "deadline_s", "url"}
    )
    return _run(layout, r, "diagnose", teacher_part, [traces_uri, task_uri], body)


# ---------------------------------------------------------------- allocate


def allocate(cfg: RunConfig, r: int) -> StageResult:
    """Merge the round's missing skills into gaps and split the round budget across them."""
    layout = layout_of(cfg)
    mistakes_uri = layout.mistakes(r)

    def body() -> dict[str, Any]:
        from edtune.skills.allocate import allocate as run_allocate
        from edtune.skills.embed import Embedder
        from edtune.skills.gaps import merge_gaps

        reports = [m for m in read_reports(mistakes_uri) if m.status == "diagnosed"]
        gaps = merge_gaps(reports, threshold=cfg.teacher.skill_merge_threshold, embedder=Embedder())
        gaps = run_allocate(
            gaps,
            cfg.loop.budget_per_round,
            policy=cfg.retrieval.allocation,
            min_per_skill=cfg.retrieval.min_per_skill,
        )
        io.write_json(layout.gaps(r), [g.model_dump(mode="json") for g in gaps])
        return {"gaps": len(gaps), "budget": sum(g.budget for g in gaps), "top": [g.skill for g in gaps[:5]]}

    part = {"budget": cfg.loop.budget_per_round, "retrieval": cfg.retrieval.model_dump(mode="json")}
    part["threshold"] = cfg.teacher.skill_merge_threshold
    return _run(layout, r, "allocate", part, [mistakes_uri], body)


# ---------------------------------------------------------------- retrieve


def read_reports(uri: str) -> list[MistakeReport]:
    """A round's mistakes.jsonl; empty when the student made no mistake on the validation split."""
    if not io.exists(uri) or not io.read_bytes(uri).strip():
        return []
    return io.read_jsonl(uri, MistakeReport, id_field="sample_id")


def read_selections(uri: str) -> list[Selection]:
    """A round's selection or replay file; a missing or empty file is an empty list (e.g. no replay)."""
    if not io.exists(uri) or not io.read_bytes(uri).strip():
        return []
    return io.read_jsonl(uri, Selection, id_field=None)


def used_support_ids(cfg: RunConfig, before_round: int) -> set[str]:
    """Every support id tuned on (selected or replayed) in rounds < before_round: never used twice."""
    layout = layout_of(cfg)
    used: set[str] = set()
    for q in range(1, before_round):
        for uri in (layout.selection(q), layout.replay(q)):
            used.update(s.support_id for s in read_selections(uri))
    return used


def _pool_ids(cfg: RunConfig) -> list[str]:
    from edtune.datasets import iter_support

    return [s.id for s in iter_support(cfg.pool.uri)]


def _step_queries(cfg: RunConfig, r: int, gaps: list[SkillGap]) -> dict[str, str]:
    """Ablation 'without skill analysis': query with the erroneous steps' own text instead of the skill."""
    layout = layout_of(cfg)
    traces = {t.sample_id: t for t in io.read_jsonl(layout.traces(r - 1), Trace, id_field="sample_id")}
    reports = {m.sample_id: m for m in read_reports(layout.mistakes(r))}
    queries: dict[str, str] = {}
    for g in gaps:
        texts = []
        for sid in g.examples:
            m, t = reports.get(sid), traces.get(sid)
            if m and t and m.erroneous_step and m.erroneous_step <= len(t.steps):
                texts.append(t.steps[m.erroneous_step - 1])
        queries[g.skill] = " ".join(texts) or g.skill
    return queries


def _milvus_token() -> str | None:
    from edtune.config import secret_from_env

    return secret_from_env("EDTUNE_MILVUS_TOKEN", "MILVUS_TOKEN")


def retrieve(cfg: RunConfig, r: int) -> StageResult:
    """Pick round r's tuning samples with the configured selector, plus a generic replay share."""
    layout = layout_of(cfg)
    selector = cfg.retrieval.selector
    inputs: list[str | None] = [layout.selection(q) for q in range(1, r)]
    inputs = [u for u in inputs if io.exists(u)]
    if selector == "error-driven":
        inputs.append(layout.gaps(r))
    elif selector == "validation":
        inputs.append(_task_uri(cfg, "val"))

    def body() -> dict[str, Any]:
        exclude = used_support_ids(cfg, r)
        budget = cfg.loop.budget_per_round
        pool_ids = _pool_ids(cfg)
        selections: list[Selection]
        if selector == "error-driven":
            from edtune.skills.index import SkillIndex
            from edtune.skills.retrieve import retrieve as run_retrieve

            gaps = [SkillGap.model_validate(g) for g in io.read_json(layout.gaps(r))]
            queries = _step_queries(cfg, r, gaps) if cfg.retrieval.query == "step" else None
            with SkillIndex(cfg.pool.milvus_uri, cfg.pool.collection, token=_milvus_token()) as index:
                selections = run_retrieve(
                    index, gaps, mode=cfg.retrieval.mode, round=r, exclude=exclude, queries=queries
                )
        elif selector == "random":
            from edtune.skills.baselines import select_random

            selections = select_random(pool_ids, budget, seed=cfg.seed + r, round=r, exclude=exclude)
        elif selector == "similar-questions":
            from edtune.datasets import load_task
            from edtune.skills.baselines import select_similar_questions
            from edtune.skills.index import SkillIndex

            questions = [s.question for s in load_task(_task_uri(cfg, "val"), check_images=False)]
            with SkillIndex(cfg.pool.milvus_uri, cfg.pool.collection, token=_milvus_token()) as index:
                selections = select_similar_questions(index, questions, budget, round=r, exclude=exclude)
        elif selector == "all":
            selections = [
                Selection(support_id=i, skill="all", score=0.0, rank=k, round=r)
                for k, i in enumerate(x for x in pool_ids if x not in exclude)
            ]
        else:  # validation: tune on the validation samples themselves
            from edtune.datasets import load_task

            samples = load_task(_task_uri(cfg, "val"), check_images=False)
            picked = random.Random(f"validation:{cfg.seed}:{r}").sample(samples, min(budget, len(samples)))
            selections = [
                Selection(support_id=f"val:{s.id}", skill="validation", score=0.0, rank=k, round=r)
                for k, s in enumerate(picked)
            ]
        chosen = {s.support_id for s in selections}
        replay = _replay(cfg, r, pool_ids, exclude | chosen, len(selections))
        io.write_jsonl(layout.selection(r), selections)
        io.write_jsonl(layout.replay(r), replay)
        per_skill: dict[str, int] = {}
        for s in selections:
            per_skill[s.skill] = per_skill.get(s.skill, 0) + 1
        return {
            "selected": len(selections),
            "replay": len(replay),
            "per_skill": per_skill,
            "excluded": len(exclude),
        }

    part = {
        "retrieval": cfg.retrieval.model_dump(mode="json"),
        "budget": cfg.loop.budget_per_round,
        "replay": cfg.lora.replay_fraction,
        "seed": cfg.seed,
        "pool": cfg.pool.model_dump(mode="json", exclude={"embed_batch", "insert_batch"}),
    }
    return _run(layout, r, "retrieve", part, [*inputs, cfg.pool.uri], body)


def _replay(
    cfg: RunConfig, r: int, pool_ids: list[str], exclude: set[str], n_selected: int
) -> list[Selection]:
    """Generic pool samples mixed into tuning against forgetting (FACTS: tiny LoRA forgets without replay)."""
    f = cfg.lora.replay_fraction
    if f <= 0 or n_selected == 0:
        return []
    n = round(n_selected * f / (1 - f))
    candidates = [i for i in pool_ids if i not in exclude]
    rng = random.Random(f"replay:{cfg.seed}:{r}")
    picked = rng.sample(candidates, min(n, len(candidates)))
    return [Selection(support_id=i, skill="replay", score=0.0, rank=k, round=r) for k, i in enumerate(picked)]


# ---------------------------------------------------------------- tune


def _materialise(cfg: RunConfig, ids: list[str]) -> list[SupportSample]:
    """Load the selected support samples (in selection order) by streaming the pool once."""
    from edtune.datasets import iter_support, load_task
    from edtune.student.prompt import format_question

    wanted = set(ids)
    found: dict[str, SupportSample] = {}
    if any(i.startswith("val:") for i in ids):
        for s in load_task(_task_uri(cfg, "val")):
            sid = f"val:{s.id}"
            if sid in wanted:
                found[sid] = _task_as_support(s, sid, format_question)
    for s in iter_support(cfg.pool.uri):
        if s.id in wanted:
            found[s.id] = s
    missing = [i for i in ids if i not in found]
    if missing:
        raise InputError(f"{cfg.pool.uri}: {len(missing)} selected id(s) not in the pool, e.g. {missing[:3]}")
    return [found[i] for i in ids]


def _task_as_support(s: TaskSample, sid: str, fmt: Callable[..., str]) -> SupportSample:
    human = "<image>\n" + fmt(s.question, s.choices)
    return SupportSample.model_validate(
        {
            "id": sid,
            "image": s.image,
            "conversations": [
                {"from": "human", "value": human},
                {"from": "gpt", "value": f"Answer: {s.gold_text}"},
            ],
            "source": "validation",
        }
    )


def tune(cfg: RunConfig, r: int) -> StageResult:
    """LoRA-tune the student on round r's selection (+ replay), continuing round r-1's adapter."""
    layout = layout_of(cfg)
    adapter_in = layout.adapter(r - 1) if r >= 2 else None

    def body() -> dict[str, Any]:
        from edtune.student import load_student

        sel = read_selections(layout.selection(r))
        rep = read_selections(layout.replay(r))
        ids = [s.support_id for s in sel] + [s.support_id for s in rep]
        if not ids:
            raise StageError(f"round {r}: nothing selected to tune on (no mistakes diagnosed?)")
        samples = _materialise(cfg, ids)
        student = load_student(cfg.student.base, cfg.student, adapter=None, cache_dir=cfg.cache_dir)
        # Train into a work dir under the cache (not $TMPDIR): a kill leaves it where the rerun clears it.
        work = Path(cfg.cache_dir) / "work" / _sha_json([cfg.run_uri, r])[:16] / "adapter"
        shutil.rmtree(work, ignore_errors=True)
        work.mkdir(parents=True)
        res = student.tune(samples, str(work), cfg.lora, adapter_in=adapter_in, seed=cfg.seed + r)
        _sweep_temp_files(layout.adapter(r))  # a copy killed midway left temp files; tune is the only writer
        io.copy_dir(str(work), layout.adapter(r))
        shutil.rmtree(work, ignore_errors=True)
        data = res.model_dump(mode="json", exclude={"adapter_dir"})
        io.write_json(layout.tune_summary(r), data)
        return {k: data[k] for k in data if k != "loss_curve"}

    part = {"lora": cfg.lora.model_dump(mode="json"), "student": _student_cfg(cfg), "seed": cfg.seed}
    inputs = [layout.selection(r), layout.replay(r), cfg.student.base, adapter_in]
    return _run(layout, r, "tune", part, inputs, body)


# ---------------------------------------------------------------- round bookkeeping


def record_round(cfg: RunConfig, r: int, stage_seconds: dict[str, float] | None = None) -> RoundMetrics:
    """Assemble round r's metrics.json from what its stages wrote (idempotent)."""
    layout = layout_of(cfg)
    val = io.read_json(layout.eval_summary(r, "val"))
    test_uri = layout.eval_summary(r, "test")
    test = io.read_json(test_uri) if io.exists(test_uri) else None
    m = RoundMetrics(
        round=r,
        val_accuracy=val["accuracy"],
        val_ci95=tuple(val.get("ci95", (0.0, 0.0))),
        n_val=val.get("n", 0),
        test_accuracy=test["accuracy"] if test else None,
        adapter=layout.adapter(r) if r >= 1 else None,
    )
    if r >= 1:
        reports = read_reports(layout.mistakes(r))
        gaps = [SkillGap.model_validate(g) for g in io.read_json(layout.gaps(r))]
        sel = read_selections(layout.selection(r))
        tuned = io.read_json(layout.tune_summary(r))
        m.mistakes = len(reports)
        m.diagnosed = sum(1 for x in reports if x.status == "diagnosed")
        m.undiagnosed = m.mistakes - m.diagnosed
        m.top_skills = [g.skill for g in gaps[:5]]
        m.selected = len(sel)
        m.train_loss = tuned.get("final_loss")
    else:
        m.mistakes = val.get("n", 0) - val.get("n_correct", 0)
    m.stage_seconds = stage_seconds or _stage_seconds(layout, r)
    io.write_json(layout.metrics(r), m.model_dump(mode="json"))
    return m


_ROUND_STAGES = ("diagnose", "allocate", "retrieve", "tune", "evaluate-val", "evaluate-test")


def _stage_seconds(layout: RunLayout, r: int) -> dict[str, float]:
    """Work time of each stage of the round, from the markers (a resumed stage keeps its original time)."""
    out: dict[str, float] = {}
    for marker in io.list_uris(io.join(layout.round_dir(r), ".done")):
        name = Path(io.parse(marker).path).stem.split("-shard-")[0]  # shards add up to their split's evaluate
        if name in _ROUND_STAGES:
            out[name] = round(out.get(name, 0.0) + float(io.read_json(marker).get("seconds", 0.0)), 3)
    return out


def round_metrics(cfg: RunConfig) -> list[RoundMetrics]:
    """Metrics of every round recorded so far, in order."""
    layout = layout_of(cfg)
    out = []
    r = 0
    while io.exists(layout.metrics(r)):
        out.append(RoundMetrics.model_validate(io.read_json(layout.metrics(r))))
        r += 1
    return out


def should_continue(cfg: RunConfig, r: int) -> tuple[bool, float]:
    """After round r: go on while r < max_rounds and the validation gain over the best so far >= min_gain."""
    rounds = round_metrics(cfg)
    if len(rounds) <= r:
        raise StageError(f"round {r} has no metrics yet")
    best_before = max(m.val_accuracy for m in rounds[:r])
    gain = rounds[r].val_accuracy - best_before
    no_mistakes_left = rounds[r].val_accuracy >= 1.0
    return (r < cfg.loop.max_rounds and gain >= cfg.loop.min_gain and not no_mistakes_left), gain


def best_round(rounds: list[RoundMetrics]) -> int:
    """The round with the best validation accuracy (earliest on ties; 0 = no adapter beats the base)."""
    best = 0
    for m in rounds:
        if m.val_accuracy > rounds[best].val_accuracy:
            best = m.round
    return best


# ---------------------------------------------------------------- finalize / publish


def finalize(cfg: RunConfig) -> StageResult:
    """Write final/: the best round's adapter (never a round that made things worse), manifest and report."""
    layout = layout_of(cfg)
    rounds = round_metrics(cfg)
    if not rounds:
        raise StageError("no round metrics: evaluate round 0 first")
    best = best_round(rounds)
    inputs = [layout.metrics(m.round) for m in rounds]

    def body() -> dict[str, Any]:
        files: dict[str, str] = {}
        adapter_uri = None
        if best >= 1:
            adapter_uri = io.join(layout.final, "adapter")
            for rel in io.copy_dir(layout.adapter(best), adapter_uri):
                files[rel] = io.sha256_uri(io.join(adapter_uri, rel))
        selected: list[str] = []
        for q in range(1, best + 1):
            selected += [s.support_id for s in read_selections(layout.selection(q))]
        base_sha = _dir_sha(cfg.student.base)
        manifest = AdapterManifest(
            base_model=cfg.student.base,
            base_sha256=base_sha,
            lora=cfg.lora.model_dump(mode="json"),
            rounds=rounds,
            best_round=best,
            selected_support_ids=selected,
            files=files,
            task=cfg.task.name,
            run_id=cfg.run_id,
            edtune_version=__version__,
        )
        io.write_json(io.join(layout.final, "manifest.json"), manifest.model_dump(mode="json"))
        from edtune.report import write_report

        report_uri = write_report(cfg, rounds, best)
        return {
            "best_round": best,
            "adapter": adapter_uri,
            "manifest": io.join(layout.final, "manifest.json"),
            "report": report_uri,
            "val_accuracy_before": rounds[0].val_accuracy,
            "val_accuracy_after": rounds[best].val_accuracy,
            "test_accuracy_before": rounds[0].test_accuracy,
            "test_accuracy_after": rounds[best].test_accuracy,
        }

    return _run(layout, 0, "finalize", {"rounds": len(rounds)}, inputs, body)


def publish(cfg: RunConfig, registry: str | None = None) -> dict[str, Any]:
    """Publish the final adapter to the registry (new immutable version, sha256-verified, then `latest`).

    A run whose best round is the base student publishes nothing: there is no adapter that beat it.
    """
    from edtune.publish import publish as do_publish

    target = registry or cfg.registry
    if not target:
        raise InputError("registry: no adapter registry URI configured (set registry or pass --registry)")
    final = finalize(cfg).summary
    if not final.get("adapter"):
        return {"published": False, "reason": "no round beat the base student on validation"}
    res = do_publish(final["adapter"], final["manifest"], target, cfg.task.name, cfg.run_id)
    return {"published": True, **res.model_dump(mode="json")}


def _dir_sha(uri: str) -> str | None:
    """One sha256 over a checkpoint directory's files (names + contents), to pin the base in the manifest."""
    try:
        files = io.list_uris(uri)
    except Exception:
        return None
    if not files:
        return None
    h = hashlib.sha256()
    for f in files:
        h.update(Path(f).name.encode())
        h.update(io.sha256_uri(f).encode())
    return h.hexdigest()


# ---------------------------------------------------------------- pool stages (once per pool, shared by tasks)


def annotate(cfg: RunConfig, out: str) -> dict[str, Any]:
    """Tag every support sample with its skills through the teacher (resumable through the teacher cache)."""
    from edtune.teacher.annotate import annotate_pool

    res = annotate_pool(cfg.pool.uri, out, cfg.teacher, cache_dir=cfg.cache_dir)
    return res.model_dump(mode="json")


def index(cfg: RunConfig) -> dict[str, Any]:
    """Index the pool (skills text, BM25 + dense) into Milvus; rows already present are skipped."""
    from edtune.datasets import iter_support
    from edtune.skills.index import SkillIndex
    from edtune.skills.tags import load_skill_tags

    skills = load_skill_tags(cfg.pool.skills) if cfg.pool.skills else None
    with SkillIndex(
        cfg.pool.milvus_uri, cfg.pool.collection, token=_milvus_token(), index_type=cfg.pool.index_type
    ) as idx:
        manifest = idx.ingest(iter_support(cfg.pool.uri), skills, batch=cfg.pool.insert_batch)
    return manifest.model_dump(mode="json")
