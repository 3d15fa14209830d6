"""Allocate and retrieve stages: turn a round's mistakes into skill gaps and budgets, then pick tuning samples.

A support sample is never tuned on twice across rounds (`used_support_ids`), and every selector gets the same
replay share, so selectors differ only in what they pick.
"""

from __future__ import annotations

import logging
import random
from typing import Any

from edtune import io
from edtune.config import RunConfig
from edtune.log import kv
from edtune.runfiles import read_reports, read_selections
from edtune.schemas import Selection, SkillGap, Trace
from edtune.stages.base import StageResult, _milvus_token, _run, _task_uri, layout_of

log = logging.getLogger(__name__)


def allocate(cfg: RunConfig, r: int) -> StageResult:
    """Merge the round's missing skills into gaps and split the round budget across them."""
    layout = layout_of(cfg)
    mistakes_uri = layout.mistakes(r)
    groups_uri = layout.skill_groups(r)

    def body() -> dict[str, Any]:
        from edtune.skills.allocate import allocate as run_allocate
        from edtune.skills.embed import Embedder
        from edtune.skills.gaps import merge_gaps

        reports = [m for m in read_reports(mistakes_uri) if m.status == "diagnosed"]
        groups = None  # runs diagnosed before skill-groups.json existed merge by embedding, as they did
        if cfg.teacher.group_skills and io.exists(groups_uri):
            groups = io.read_json(groups_uri).get("groups")
        gaps = merge_gaps(
            reports, threshold=cfg.teacher.skill_merge_threshold, embedder=Embedder(), groups=groups
        )
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
    part["group_skills"] = cfg.teacher.group_skills
    inputs = [mistakes_uri, groups_uri if io.exists(groups_uri) else None]
    return _run(layout, r, "allocate", part, inputs, body)


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


def _answer_space(cfg: RunConfig) -> tuple[set[str], dict[str, str], dict[str, float]]:
    """For the `retrieval.answer_space` option: the pool ids answering outside the task's answer space (never
    matches; a set in memory, one short id per pool sample, not a Milvus filter), every pool sample's answer, and the validation split's answer shares (to balance the selection).
    Nothing is excluded when the split has no closed answer space or no pool sample answers inside it."""
    from edtune.datasets import iter_support, load_task
    from edtune.skills.answer_space import (
        support_answer,
        support_answers,
        task_answer_shares,
        task_answer_space,
    )

    val = load_task(_task_uri(cfg, "val"), check_images=False)
    space = task_answer_space(val)
    if space is None:
        log.info(kv("answer_space_open", task=cfg.task.name))
        return set(), {}, {}
    answers, outside = {}, set()
    for s in iter_support(cfg.pool.uri):
        answers[s.id] = support_answer(s)
        replies = support_answers(s) if cfg.retrieval.answer_space_turns == "all" else [answers[s.id]]
        if any(a not in space for a in replies):
            outside.add(s.id)
    if len(outside) == len(
        answers
    ):  # nothing in the pool answers that way: the skill-only match, not no match
        log.warning(kv("answer_space_unmatched", answers=len(space), pool=len(answers)))
        return set(), {}, {}
    log.info(kv("answer_space", answers=len(space), pool_outside=len(outside)))
    return outside, answers, task_answer_shares(val)


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


def retrieve(cfg: RunConfig, r: int) -> StageResult:
    """Pick round r's tuning samples with the configured selector, plus a generic replay share."""
    layout = layout_of(cfg)
    selector = cfg.retrieval.selector
    inputs: list[str | None] = [layout.selection(q) for q in range(1, r)]
    inputs = [u for u in inputs if io.exists(u)]
    if selector == "error-driven":
        inputs.append(layout.gaps(r))
        if cfg.retrieval.answer_space:
            inputs.append(_task_uri(cfg, "val"))
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
            outside, answers, shares = _answer_space(cfg) if cfg.retrieval.answer_space else (set(), {}, {})
            with SkillIndex(cfg.pool.milvus_uri, cfg.pool.collection, token=_milvus_token()) as index:
                selections = run_retrieve(
                    index,
                    gaps,
                    mode=cfg.retrieval.mode,
                    round=r,
                    exclude=exclude,
                    allowed=(lambda sid: sid not in outside) if outside else None,
                    queries=queries,
                    min_score_ratio=cfg.retrieval.min_score_ratio,
                )
            if shares and cfg.retrieval.balance_answers != "off":
                from edtune.skills.answer_space import balance_answers, repeat_answers

                balance = balance_answers if cfg.retrieval.balance_answers == "drop" else repeat_answers
                selections = balance(selections, answers, shares)
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
        elif selector == "all":  # the full-pool baseline: every round is one more epoch of the whole pool, so
            # the never-twice rule does not apply (with it, round 2 had nothing left and "early-stopped over 3
            # epochs" silently stopped after one)
            selections = [
                Selection(support_id=i, skill="all", score=0.0, rank=k, round=r)
                for k, i in enumerate(pool_ids)
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
        replay = _replay(cfg, r, pool_ids, exclude | chosen, len(chosen))  # repeats add no replay
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
