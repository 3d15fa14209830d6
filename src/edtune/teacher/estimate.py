"""What `edtune annotate` will cost before it is spent: requests, prompt and output tokens, hours.

The requests are counted exactly as `annotate_pool` decides them (a pool row already carrying `skills`, or
already in the resume journal, asks nothing; every other row asks once), so on a teacher that answers every
request validly the count equals the run's `requests`. Tokens are estimates, stated as such:
- prompt tokens: the tag prompt annotate would send, at CHARS_PER_TOKEN characters per token, plus, with
  `teacher.tag_images`, (image_max_side / 28)^2 tokens per image (a Qwen2-VL-style 28-pixel patch per token);
- output tokens: `output_tokens_per_reply` per request (a skill-list JSON reply is a few dozen tokens), and the
  ceiling at `teacher.max_tokens`;
- hours: prompt tokens at the prefill throughput plus output tokens at the decode throughput, both given by the
  caller (aggregate tokens/s of the teacher deployment across concurrent requests).
"""

from __future__ import annotations

from pydantic import BaseModel

from edtune.config import TeacherConfig
from edtune.datasets import iter_support
from edtune.io.jsonl import read_journal
from edtune.teacher import prompts
from edtune.teacher.annotate import SkillRow, _turns, journal_path

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
