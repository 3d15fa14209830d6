"""Diagnose the student's wrong traces: first erroneous step (answer switch or judge) and ONE missing skill.

Answer switch (paper §3.2, the default): the teacher sees the question, the candidate answers, a prior hint
toward the gold answer and the first k student steps (k = 0..n, all sent concurrently); from the top
log-probabilities of its one-letter reply we read P(option). The erroneous step is the first k >= 1 where
P(pred) - P(gold) > delta and the margin holds for `persist` consecutive steps (truncated at the last step).
"pred" is the student's answer when it is one of the candidates, else the strongest wrong candidate.
Open-ended samples use the two candidates {gold, predicted}, in sorted order so gold is not always "A".
When the answer never switches, `fallback` decides: ask the judge, blame the last step, or record undiagnosed.

Every wrong trace gets exactly one MistakeReport, in input order: diagnosed, or undiagnosed with a reason.
Reports are appended to the journal as they arrive; a rerun with the same journal reuses them, and the reply
cache under `cache_dir` means a half-finished sample re-asks only what was in flight.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import re
import time
from collections.abc import Mapping, Sequence
from typing import Any

from pydantic import BaseModel, Field

from edtune.config import TeacherConfig
from edtune.errors import InputError, ServiceError
from edtune.io import read_bytes
from edtune.io.jsonl import append_jsonl, read_journal
from edtune.log import kv
from edtune.schemas import MissingSkill, MistakeReply, MistakeReport, TaskSample, Trace
from edtune.student.prompt import LETTERS
from edtune.teacher import prompts
from edtune.teacher.cache import content_key
from edtune.teacher.client import BadReply, ChatReply, TeacherClient, extract_json
from edtune.teacher.grouping import group_skill_names
from edtune.teacher.images import image_data_uri
from edtune.teacher.progress import progress_bar

log = logging.getLogger(__name__)


class DiagnoseResult(BaseModel):
    """The stage's outcome: one report per wrong trace (input order) and the counts a run's metrics need."""

    reports: list[MistakeReport]
    diagnosed: int
    undiagnosed: int
    skipped_correct: int
    requests: int  # HTTP chat requests actually sent (retries and re-asks included)
    cache_hits: int  # replies served from the reply cache
    resumed: int = 0  # reports reused from the journal
    retries: int = 0
    reasks: int = 0
    seconds: float
    method: str
    teacher_model: str | None = None
    endpoint: str = ""
    prompt_version: str = prompts.PROMPT_VERSION
    # The teacher's grouping of the round's paraphrased skill names (teacher/grouping.py); None: not asked
    # (teacher.group_skills off) or its reply stayed invalid; allocate then merges by embedding.
    skill_groups: list[list[str]] | None = None
    latencies: list[float] = Field(default_factory=list, exclude=True)  # per request, for benchmarks

    def summary(self) -> dict[str, Any]:
        return self.model_dump(mode="json", exclude={"reports", "latencies", "skill_groups"})


class JournalEntry(BaseModel):
    key: str
    report: MistakeReport


# ---------------------------------------------------------------- pure helpers (unit-tested)


def _norm(text: str) -> str:
    return re.sub(r"\s+", " ", text.strip().strip(".").strip()).lower()


_LETTER = re.compile(r"^\(?([A-Za-z])\)?[.):]?(?:\s+(.*))?$")


def choice_index(answer: str | None, choices: Sequence[str]) -> int | None:
    """Index of the student's answer among `choices`: by text, or by a letter ('B', '(B)', 'B. red')."""
    if answer is None:
        return None
    a = _norm(answer)
    for i, c in enumerate(choices):
        if _norm(c) == a:
            return i
    m = _LETTER.match(answer.strip())
    if m:
        idx = ord(m.group(1).upper()) - ord("A")
        rest = m.group(2)
        if 0 <= idx < len(choices) and (not rest or _norm(rest) == _norm(choices[idx])):
            return idx
    return None


def candidates(sample: TaskSample, trace: Trace) -> tuple[list[str], int, int | None] | None:
    """(options, gold index, predicted index or None) for the answer switch; None if it cannot apply."""
    if sample.choices:
        options = list(sample.choices)
        gold = options.index(sample.gold_text)
        pred = choice_index(trace.answer, options)
        return options, gold, (None if pred == gold else pred)
    if trace.answer is None or _norm(trace.answer) == _norm(sample.answer):
        return None
    options = sorted([sample.answer, trace.answer.strip()], key=_norm)
    return options, options.index(sample.answer), options.index(trace.answer.strip())


def switch_step(
    dists: Sequence[Mapping[str, float]], gold: int, pred: int | None, delta: float, persist: int
) -> tuple[int | None, list[float]]:
    """First k >= 1 where P(pred) - P(gold) > delta for `persist` steps (window truncated at the end).

    `dists[k]` is the distribution after k steps (dists[0]: no step). Returns (step or None, margins).
    """
    margins = []
    for d in dists:
        probs = [d.get(LETTERS[i], 0.0) for i in range(len(d))]
        if pred is not None:
            wrong = probs[pred]
        else:
            wrong = max((p for i, p in enumerate(probs) if i != gold), default=0.0)
        margins.append(wrong - probs[gold])
    n = len(dists) - 1
    for k in range(1, n + 1):
        window = margins[k : min(n, k + persist - 1) + 1]
        if window and all(m > delta for m in window):
            return k, margins
    return None, margins


def validate_skill(reply: ChatReply) -> MissingSkill:
    obj = extract_json(reply.content)
    parsed = prompts.SkillReply.model_validate(obj) if isinstance(obj, dict) else None
    if parsed is None:
        raise ValueError("expected a JSON object {name, description}")
    name = parsed.name.strip()
    if not name:
        raise ValueError("empty skill name")
    return MissingSkill(name=name, description=parsed.description.strip())


def validate_judge(reply: ChatReply, n_steps: int) -> MistakeReply:
    obj = extract_json(reply.content)
    if not isinstance(obj, dict):
        raise ValueError("expected a JSON object {erroneous_step, explanation, missing_skills}")
    step = obj.get("erroneous_step")
    if isinstance(step, int) and not 1 <= step <= n_steps:
        raise ValueError(f"erroneous_step {step} is out of range: the steps are numbered 1..{n_steps}")
    parsed = MistakeReply.model_validate(obj)  # pydantic ValidationError is a ValueError
    if not parsed.missing_skills[0].name.strip():
        raise ValueError("empty skill name")
    return parsed


def validate_distribution(reply: ChatReply, n_options: int) -> dict[str, float]:
    if not reply.top_logprobs:
        raise ValueError("missing logprobs: the reply has no logprobs.content[0].top_logprobs")
    return prompts.option_distribution(reply.top_logprobs, n_options)


# ---------------------------------------------------------------- the stage


class _Diagnoser:
    def __init__(self, client: TeacherClient, cfg: TeacherConfig, method: str) -> None:
        self.client = client
        self.cfg = cfg
        self.method = method

    def sample_key(self, trace: Trace, image_sha: str) -> str:
        c = self.cfg
        return content_key(
            model=self.client.model_id,
            prompt_version=prompts.PROMPT_VERSION,
            method=self.method,
            params=[c.delta, c.persist, c.prior, c.fallback],
            sample_id=trace.sample_id,
            image=image_sha,
            steps=trace.steps,
            answer=trace.answer,
        )

    async def run(self, trace: Trace, sample: TaskSample, image: bytes, image_sha: str) -> MistakeReport:
        base = {"sample_id": trace.sample_id, "prompt_version": prompts.PROMPT_VERSION}
        if not trace.steps:
            return MistakeReport(
                **base, status="undiagnosed", method=self.method, reason="the trace has no reasoning steps"
            )
        lazy_uri: list[str] = []

        def image_uri() -> str:
            if not lazy_uri:
                lazy_uri.append(image_data_uri(image, self.cfg.image_max_side, sample.image))
            return lazy_uri[0]

        method = self.method
        try:
            cands = candidates(sample, trace) if method == "answer-switch" else None
            if method == "answer-switch" and cands is None:
                method = "judge"  # no two distinct candidates (no predicted answer): only the judge applies
            if method == "judge":
                reply = await self._judge(trace, sample, image_uri(), image_sha)
                return MistakeReport(
                    **base,
                    erroneous_step=reply.erroneous_step,
                    explanation=reply.explanation,
                    missing_skills=[
                        MissingSkill(name=s.name.strip(), description=s.description)
                        for s in reply.missing_skills
                    ],
                    method="judge" if self.method == "judge" else "answer-switch/judge",
                )
            assert cands is not None
            options, gold, pred = cands
            step, explanation = await self._answer_switch(trace, sample, options, gold, pred, image_sha)
            if step is None:
                if self.cfg.fallback == "judge":
                    reply = await self._judge(trace, sample, image_uri(), image_sha)
                    return MistakeReport(
                        **base,
                        erroneous_step=reply.erroneous_step,
                        explanation=reply.explanation,
                        missing_skills=list(reply.missing_skills),
                        method="answer-switch/judge",
                    )
                if self.cfg.fallback == "undiagnosed":
                    return MistakeReport(**base, status="undiagnosed", method=method, reason=explanation)
                step = len(trace.steps)
                explanation += "; blamed the last step (teacher.fallback=last-step)"
                method = "answer-switch/last-step"
            skill = await self.client.ask(
                prompts.build_skill(sample.question, trace.steps, step, explanation, image_uri()),
                kind="skill",
                sample_id=trace.sample_id,
                image_sha=image_sha,
                params=self._json_params(prompts.SkillReply.model_json_schema()),
                validate=validate_skill,
            )
            return MistakeReport(
                **base, erroneous_step=step, explanation=explanation, missing_skills=[skill], method=method
            )
        except BadReply as exc:
            return MistakeReport(**base, status="undiagnosed", method=method, reason=str(exc))

    def _json_params(self, schema: dict[str, Any]) -> dict[str, Any]:
        return {
            "max_tokens": self.cfg.max_tokens,
            "response_format": prompts.response_format(schema, self.cfg.backend),
        }

    async def _judge(self, trace: Trace, sample: TaskSample, image_uri: str, image_sha: str) -> MistakeReply:
        n = len(trace.steps)
        return await self.client.ask(
            prompts.build_judge(
                sample.question, sample.choices, sample.gold_text, trace.steps, trace.answer, image_uri
            ),
            kind="judge",
            sample_id=trace.sample_id,
            image_sha=image_sha,
            params=self._json_params(MistakeReply.model_json_schema()),
            validate=lambda r: validate_judge(r, n),
        )

    async def _answer_switch(
        self,
        trace: Trace,
        sample: TaskSample,
        options: list[str],
        gold: int,
        pred: int | None,
        image_sha: str,
    ) -> tuple[int | None, str]:
        params = prompts.answer_switch_params(len(options))
        params.pop("temperature", None)  # the client always sends temperature 0

        async def one(k: int) -> dict[str, float]:
            return await self.client.ask(
                prompts.build_answer_switch(sample.question, options, gold, self.cfg.prior, trace.steps[:k]),
                kind="answer-switch",
                sample_id=trace.sample_id,
                image_sha=image_sha,
                params=params,
                validate=lambda r: validate_distribution(r, len(options)),
            )

        dists = await asyncio.gather(*(one(k) for k in range(len(trace.steps) + 1)))
        step, margins = switch_step(dists, gold, pred, self.cfg.delta, self.cfg.persist)
        wrong = options[pred] if pred is not None else "a wrong option"
        if step is None:
            return None, (
                f"the teacher's answer never switched from {options[gold]!r} to {wrong!r} "
                f"(margins {', '.join(f'{m:+.2f}' for m in margins)})"
            )
        before, after = dists[step - 1], dists[step]
        g, w = LETTERS[gold], LETTERS[pred] if pred is not None else max(after, key=lambda x: after[x])
        return step, (
            f"after step {step} the teacher's belief moved from {options[gold]!r} "
            f"(P {before.get(g, 0):.2f} -> {after.get(g, 0):.2f}) to {wrong!r} "
            f"(P {before.get(w, 0):.2f} -> {after.get(w, 0):.2f})"
        )


async def diagnose_async(
    traces: Sequence[Trace],
    samples: Mapping[str, TaskSample],
    cfg: TeacherConfig,
    *,
    cache_dir: str,
    journal: str | None = None,
    progress: bool = True,
) -> DiagnoseResult:
    """Async form of `diagnose` (for callers already inside an event loop)."""
    t0 = time.perf_counter()
    wrong = [t for t in traces if not t.correct]
    skipped = len(traces) - len(wrong)
    missing = sorted({t.sample_id for t in wrong if t.sample_id not in samples})
    if missing:
        raise InputError(
            f"{len(missing)} trace(s) name samples absent from the task file: {', '.join(missing[:10])}"
            + (" ..." if len(missing) > 10 else "")
        )
    seen: set[str] = set()
    dup = [t.sample_id for t in wrong if t.sample_id in seen or seen.add(t.sample_id)]  # type: ignore[func-returns-value]
    if dup:
        raise InputError(f"duplicate traces for sample(s): {', '.join(sorted(set(dup))[:10])}")

    reports: list[MistakeReport | None] = [None] * len(wrong)
    resumed = 0
    async with TeacherClient(cfg, cache_dir=f"{cache_dir}/teacher") as client:
        client.set_deadline(cfg.deadline_s)
        if wrong:
            await client.check()
        d = _Diagnoser(client, cfg, cfg.method)
        done = {e.key: e.report for e in read_journal(journal, JournalEntry)} if journal else {}
        images: dict[str, tuple[bytes, str]] = {}
        todo: list[tuple[int, str]] = []
        for i, t in enumerate(wrong):
            uri = samples[t.sample_id].image
            if uri not in images:
                data = await asyncio.to_thread(read_bytes, uri)
                images[uri] = (data, hashlib.sha256(data).hexdigest())
            key = d.sample_key(t, images[uri][1])
            if key in done:
                reports[i] = done[key]
                resumed += 1
            else:
                todo.append((i, key))

        queue: asyncio.Queue[tuple[int, str]] = asyncio.Queue()
        for item in todo:
            queue.put_nowait(item)
        with progress_bar(progress, "diagnose", total=len(wrong), completed=resumed) as advance:

            async def worker() -> None:
                while True:
                    try:
                        i, key = queue.get_nowait()
                    except asyncio.QueueEmpty:
                        return
                    t = wrong[i]
                    s = samples[t.sample_id]
                    data, sha = images[s.image]
                    rep = await d.run(t, s, data, sha)
                    reports[i] = rep
                    if journal:
                        append_jsonl(journal, [JournalEntry(key=key, report=rep)])
                    advance()

            n_workers = max(1, min(len(todo), 2 * cfg.concurrency))
            tasks = [asyncio.create_task(worker()) for _ in range(n_workers)]
            try:
                await asyncio.gather(*tasks)
            except ServiceError as exc:
                for task in tasks:
                    task.cancel()
                await asyncio.gather(*tasks, return_exceptions=True)
                finished = sum(r is not None for r in reports)
                where = f"; they are journaled in {journal}, a rerun resumes" if journal else ""
                raise ServiceError(
                    exc.endpoint,
                    f"{str(exc).split(': ', 1)[-1]} [{finished}/{len(wrong)} samples finished{where}]",
                ) from None
            except BaseException:
                for task in tasks:
                    task.cancel()
                raise

        final = [r for r in reports if r is not None]
        assert len(final) == len(wrong), "every wrong trace must have a report"
        groups = None
        if cfg.group_skills:
            groups = await group_skill_names(client, cfg, distinct_skills(final))
    n_diag = sum(r.status == "diagnosed" for r in final)
    result = DiagnoseResult(
        reports=final,
        diagnosed=n_diag,
        undiagnosed=len(final) - n_diag,
        skipped_correct=skipped,
        requests=client.stats.requests,
        cache_hits=client.stats.cache_hits,
        resumed=resumed,
        retries=client.stats.retries,
        reasks=client.stats.reasks,
        seconds=round(time.perf_counter() - t0, 3),
        method=cfg.method,
        teacher_model=client.model_id,
        endpoint=client.endpoint,
        latencies=client.stats.latencies,
        skill_groups=groups,
    )
    log.info(kv("diagnose.done", **{k: v for k, v in result.summary().items() if k != "endpoint"}))
    for r in final:
        if r.status == "undiagnosed":
            log.warning(kv("diagnose.undiagnosed", sample=r.sample_id, reason=repr(r.reason)))
    return result


def distinct_skills(reports: Sequence[MistakeReport]) -> list[tuple[str, str]]:
    """(name, first description) of every distinct missing-skill name of the diagnosed reports, first-seen order
    (names with whitespace collapsed, as `merge_gaps` counts them)."""
    out: dict[str, str] = {}
    for rep in reports:
        if rep.status != "diagnosed":
            continue
        for ms in rep.missing_skills:
            name = " ".join(ms.name.split())
            if name and (name not in out or not out[name]):
                out[name] = ms.description.strip()
    return list(out.items())


def diagnose(
    traces: Sequence[Trace],
    samples: Mapping[str, TaskSample],
    cfg: TeacherConfig,
    *,
    cache_dir: str,
    journal: str | None = None,
    progress: bool = True,
) -> DiagnoseResult:
    """Diagnose every wrong trace (see the module docstring). Raises ServiceError naming the endpoint when the
    teacher is down past the retries or the deadline passes (finished samples stay in the journal and cache),
    InputError when a trace names a sample absent from `samples` or an image cannot be read."""
    return asyncio.run(
        diagnose_async(traces, samples, cfg, cache_dir=cache_dir, journal=journal, progress=progress)
    )
