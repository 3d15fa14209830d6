"""Tag every support sample with the skills it teaches (issue #6 item 1), with the teacher client's
concurrency, retries and reply cache.

Output rows `{"id": ..., "skills": [...]}` in pool order (plus `"error"` for a sample whose replies stayed
invalid after the re-ask: its `skills` is empty and it is counted in `failed` — never silently dropped).
A sample that already carries `skills` in the pool is kept as is without asking. Results are journaled locally
as they arrive, so a killed run resumes where it stopped; the output file is written atomically at the end.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from pathlib import Path

from pydantic import BaseModel

from edtune.config import TeacherConfig
from edtune.datasets import iter_support
from edtune.errors import ServiceError
from edtune.io import read_bytes, write_jsonl
from edtune.io.jsonl import append_jsonl, read_journal
from edtune.log import kv
from edtune.schemas import SupportSample
from edtune.teacher import prompts
from edtune.teacher.client import BadReply, ChatReply, TeacherClient, extract_json
from edtune.teacher.images import image_data_uri
from edtune.teacher.progress import progress_bar

log = logging.getLogger(__name__)


class SkillRow(BaseModel):
    id: str
    skills: list[str]
    error: str | None = None


class AnnotateResult(BaseModel):
    out: str
    rows: int
    tagged: int  # asked the teacher and got skills
    pretagged: int  # carried skills in the pool already
    failed: int  # rows with an error and no skills
    resumed: int  # rows reused from the journal
    requests: int
    cache_hits: int
    retries: int = 0
    seconds: float
    teacher_model: str | None = None


def validate_tags(reply: ChatReply) -> list[str]:
    obj = extract_json(reply.content)
    if not isinstance(obj, dict):
        raise ValueError('expected a JSON object {"skills": [...]}')
    parsed = prompts.TagReply.model_validate(obj)
    skills: list[str] = []
    for s in parsed.skills:
        name = " ".join(s.split()).lower()
        if name and name not in skills:
            skills.append(name)
    if not skills:
        raise ValueError("no non-empty skill")
    return skills


def _turns(s: SupportSample) -> list[tuple[str, str]]:
    return [(t.from_, t.value.replace("<image>", "").strip()) for t in s.conversations]


def journal_path(pool_uri: str, out_uri: str, cfg: TeacherConfig, cache_dir: str) -> str:
    """The resume journal of one (pool, output, teacher, prompt version): the estimate reads the same file."""
    ident = f"{pool_uri}\0{out_uri}\0{cfg.url}\0{cfg.model}\0{prompts.PROMPT_VERSION}"
    jkey = hashlib.sha256(ident.encode()).hexdigest()[:24]
    return str(Path(cache_dir) / "annotate" / f"{jkey}.jsonl")


async def annotate_pool_async(
    pool_uri: str, out_uri: str, cfg: TeacherConfig, *, cache_dir: str, progress: bool = True
) -> AnnotateResult:
    t0 = time.perf_counter()
    journal = journal_path(pool_uri, out_uri, cfg, cache_dir)
    results: dict[str, SkillRow] = {r.id: r for r in read_journal(journal, SkillRow)}
    resumed = 0
    pretagged = 0
    total = 0
    queue: asyncio.Queue[SupportSample | None] = asyncio.Queue(maxsize=4 * cfg.concurrency)

    async with TeacherClient(cfg, cache_dir=f"{cache_dir}/teacher") as client:
        client.set_deadline(cfg.deadline_s)
        checked = False
        params = {
            "max_tokens": cfg.max_tokens,
            "response_format": prompts.response_format(prompts.TagReply.model_json_schema(), cfg.backend),
        }

        async def tag(s: SupportSample) -> SkillRow:
            image_url = sha = None
            if s.image and cfg.tag_images:
                data = await asyncio.to_thread(read_bytes, s.image)
                sha = hashlib.sha256(data).hexdigest()
                image_url = image_data_uri(data, cfg.image_max_side, s.image)
            try:
                skills = await client.ask(
                    prompts.build_tag(_turns(s), image_url),
                    kind="tag",
                    sample_id=s.id,
                    image_sha=sha,
                    params=params,
                    validate=validate_tags,
                )
            except BadReply as exc:
                return SkillRow(id=s.id, skills=[], error=str(exc))
            return SkillRow(id=s.id, skills=skills)

        n_workers = 2 * cfg.concurrency
        failure: list[ServiceError] = []
        tagged = 0
        with progress_bar(progress, "annotate", total=None) as advance:

            async def worker() -> None:
                nonlocal tagged
                while (s := await queue.get()) is not None:
                    if failure:
                        continue  # drain, so the producer never blocks on a full queue
                    try:
                        row = await tag(s)
                    except ServiceError as exc:
                        failure.append(exc)
                        continue
                    results[s.id] = row
                    tagged += row.error is None
                    append_jsonl(journal, [row])
                    advance()

            tasks = [asyncio.create_task(worker()) for _ in range(n_workers)]
            try:
                for s in iter_support(pool_uri):
                    total += 1
                    if failure:
                        break
                    if s.id in results:
                        resumed += 1
                        continue
                    if s.skills:
                        results[s.id] = SkillRow(id=s.id, skills=list(s.skills))
                        pretagged += 1
                        continue
                    if not checked:
                        await client.check()
                        checked = True
                    await queue.put(s)
                for _ in tasks:
                    await queue.put(None)
                await asyncio.gather(*tasks)
            except BaseException:
                for t in tasks:
                    t.cancel()
                raise
            if failure:
                exc = failure[0]
                raise ServiceError(
                    exc.endpoint,
                    f"{str(exc).split(': ', 1)[-1]} [{len(results)} pool rows done, journaled in {journal}; "
                    "a rerun resumes]",
                )

    def rows() -> object:
        for s in iter_support(pool_uri):
            yield results[s.id].model_dump(exclude_none=True)

    n = write_jsonl(out_uri, rows())  # type: ignore[arg-type]
    failed = sum(1 for r in results.values() if r.error)
    result = AnnotateResult(
        out=out_uri,
        rows=n,
        tagged=tagged,
        pretagged=pretagged,
        failed=failed,
        resumed=resumed,
        requests=client.stats.requests,
        cache_hits=client.stats.cache_hits,
        retries=client.stats.retries,
        seconds=round(time.perf_counter() - t0, 3),
        teacher_model=client.model_id,
    )
    log.info(kv("annotate.done", **result.model_dump(exclude={"out"})))
    assert n == total, "every pool row must have a skills row"
    return result


def annotate_pool(
    pool_uri: str, out_uri: str, cfg: TeacherConfig, *, cache_dir: str, progress: bool = True
) -> AnnotateResult:
    """Write `out_uri` (pool.skills.jsonl) with one `{"id", "skills"}` row per pool sample, in pool order.

    Raises ServiceError naming the endpoint if the teacher is down past the retries (finished rows stay in the
    journal under `cache_dir/annotate/`, a rerun resumes), InputError for a bad pool line.
    """
    return asyncio.run(annotate_pool_async(pool_uri, out_uri, cfg, cache_dir=cache_dir, progress=progress))


# ---------------------------------------------------------------- the estimate (`annotate --estimate`)
# What `edtune annotate` will cost before it is spent: requests, prompt and output tokens, hours.
#
# The requests are counted exactly as `annotate_pool` decides them (a pool row already carrying `skills`, or
# already in the resume journal, asks nothing; every other row asks once), so on a teacher that answers every
# request validly the count equals the run's `requests`. Tokens are estimates, stated as such:
# - prompt tokens: the tag prompt annotate would send, at CHARS_PER_TOKEN characters per token, plus, with
#   `teacher.tag_images`, (image_max_side / 28)^2 tokens per image (a Qwen2-VL-style 28-pixel patch per token);
# - output tokens: `output_tokens_per_reply` per request (a skill-list JSON reply is a few dozen tokens), and the
#   ceiling at `teacher.max_tokens`;
# - hours: prompt tokens at the prefill throughput plus output tokens at the decode throughput, both given by the
#   caller (aggregate tokens/s of the teacher deployment across concurrent requests).

CHARS_PER_TOKEN = 4.0
PATCH_PIXELS = 28
OUTPUT_TOKENS_PER_REPLY = 48


class AnnotateEstimate(BaseModel):
    pool: str
    rows: int
    requests: int  # teacher requests annotate will send (one per untagged, unjournaled row)
    pretagged: int
    resumed: int
    images_sent: int
    prompt_tokens: int
    output_tokens: int
    output_tokens_max: int
    prefill_tokens_per_s: float
    decode_tokens_per_s: float
    hours: float
    hours_max: float
    estimate: str  # how the token and hour figures were reached (they are estimates; requests are exact)


def _prompt_chars(messages: list[dict[str, object]]) -> int:
    n = 0
    for m in messages:
        content = m.get("content")
        if isinstance(content, str):
            n += len(content)
        elif isinstance(content, list):
            n += sum(len(str(p.get("text", ""))) for p in content if isinstance(p, dict))
    return n


def estimate_annotation(
    pool_uri: str,
    out_uri: str,
    cfg: TeacherConfig,
    *,
    cache_dir: str,
    prefill_tokens_per_s: float,
    decode_tokens_per_s: float,
    output_tokens_per_reply: int = OUTPUT_TOKENS_PER_REPLY,
) -> AnnotateEstimate:
    """Count what annotating `pool_uri` into `out_uri` would ask of the teacher; reads the pool, sends nothing."""
    done = {r.id for r in read_journal(journal_path(pool_uri, out_uri, cfg, cache_dir), SkillRow)}
    rows = requests = pretagged = resumed = images = chars = 0
    for s in iter_support(pool_uri):
        rows += 1
        if s.id in done:
            resumed += 1
            continue
        if s.skills:
            pretagged += 1
            continue
        requests += 1
        chars += _prompt_chars(prompts.build_tag(_turns(s), None))
        images += bool(s.image and cfg.tag_images)
    image_tokens = images * (cfg.image_max_side // PATCH_PIXELS) ** 2
    prompt_tokens = round(chars / CHARS_PER_TOKEN) + image_tokens
    output_tokens = requests * min(output_tokens_per_reply, cfg.max_tokens)
    output_max = requests * cfg.max_tokens
    prefill_h = prompt_tokens / prefill_tokens_per_s / 3600
    return AnnotateEstimate(
        pool=pool_uri,
        rows=rows,
        requests=requests,
        pretagged=pretagged,
        resumed=resumed,
        images_sent=images,
        prompt_tokens=prompt_tokens,
        output_tokens=output_tokens,
        output_tokens_max=output_max,
        prefill_tokens_per_s=prefill_tokens_per_s,
        decode_tokens_per_s=decode_tokens_per_s,
        hours=round(prefill_h + output_tokens / decode_tokens_per_s / 3600, 4),
        hours_max=round(prefill_h + output_max / decode_tokens_per_s / 3600, 4),
        estimate=(
            f"estimate: prompt text at {CHARS_PER_TOKEN:g} chars/token"
            + (f", {(cfg.image_max_side // PATCH_PIXELS) ** 2} tokens per image" if images else "")
            + f"; {output_tokens_per_reply} output tokens per reply (ceiling {cfg.max_tokens}); "
            f"{prefill_tokens_per_s:g} prefill and {decode_tokens_per_s:g} decode tokens/s"
        ),
    )
