"""Ask the teacher which of a round's missing-skill names are the same skill (the `group` request).

Each diagnosis names its missing skill in free text, so one gap arrives under several paraphrases. Counted
apart, a gap's budget is split into small slices and each slice is retrieved with one paraphrase, which drags
in whatever shares its words ("spatial relations (left vs right)" also matches "spatial relations (above vs
below)"). A sentence embedding cannot merge them safely: all-MiniLM-L6-v2 puts "horizontal position of
objects" closer to "vertical position of objects" (0.86) than to "left/right localisation" (0.29). The
teacher is a language model and can: one request per round, the distinct names with their descriptions in,
groups of list numbers out. `edtune.skills.gaps.merge_gaps` then merges each group into one gap whose query
carries every paraphrase. A reply that stays invalid after the re-ask leaves the names ungrouped (the stage
falls back to the embedding merge) and is logged; an unreachable teacher raises, like any teacher request.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Sequence

from edtune.config import TeacherConfig
from edtune.log import kv
from edtune.teacher import prompts
from edtune.teacher.client import BadReply, ChatReply, TeacherClient, extract_json

log = logging.getLogger(__name__)


def validate_groups(reply: ChatReply, n: int) -> list[list[int]]:
    """The reply's groups as 1-based list numbers; each of 1..n exactly once, else ValueError (re-asked)."""
    obj = extract_json(reply.content)
    if not isinstance(obj, dict):
        raise ValueError('expected a JSON object {"groups": [[<int>, ...], ...]}')
    parsed = prompts.GroupReply.model_validate(obj)
    seen: list[int] = [i for g in parsed.groups for i in g]
    bad = sorted({i for i in seen if not 1 <= i <= n})
    if bad:
        raise ValueError(f"numbers {bad} are out of range: the skills are numbered 1..{n}")
    dup = sorted({i for i in seen if seen.count(i) > 1})
    if dup:
        raise ValueError(f"numbers {dup} appear in more than one place: put each number in exactly one group")
    missing = sorted(set(range(1, n + 1)) - set(seen))
    if missing:
        raise ValueError(f"numbers {missing} are in no group: every number must appear exactly once")
    return [sorted(g) for g in parsed.groups if g]


async def group_skill_names(
    client: TeacherClient, cfg: TeacherConfig, skills: Sequence[tuple[str, str]]
) -> list[list[str]] | None:
    """Groups of names (each name once) for `skills` = distinct (name, description); None if the reply
    stayed invalid. One skill needs no request: it is its own group."""
    names = [n for n, _ in skills]
    if len(skills) < 2:
        return [names] if names else []
    ident = hashlib.sha256("\x1f".join(names).encode()).hexdigest()[:16]
    schema = prompts.GroupReply.model_json_schema()
    params = {"max_tokens": cfg.max_tokens, "response_format": prompts.response_format(schema, cfg.backend)}
    try:
        groups = await client.ask(
            prompts.build_group(list(skills)),
            kind="group",
            sample_id=f"group:{ident}",
            image_sha=None,
            params=params,
            validate=lambda reply: validate_groups(reply, len(skills)),
        )
    except BadReply as exc:
        log.warning(kv("skill_group.failed", names=len(names), reason=repr(str(exc))))
        return None
    out = [[names[i - 1] for i in g] for g in groups]
    for g in out:
        if len(g) > 1:
            log.info(kv("skill_group", names=repr(g)))
    return out
