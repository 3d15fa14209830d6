"""Error-driven retrieval: for each skill gap, the support samples that best teach it.

Per gap (in gap order: count desc), query the index with the gap's skill name (or an override such as the
erroneous step's text, for the "no skill analysis" ablation) and take its budget of top hits that were not used
in an earlier round and not already taken by an earlier gap — a sample matched by two gaps counts once and
the later gap back-fills from further down its own list. If a gap's matches run out, its shortfall goes to the
gaps that still have matches, so the round gets its whole budget whenever the pool can give it. The same
inputs give the same selection (ties broken by id inside the index).
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Mapping

from edtune.log import kv
from edtune.schemas import Selection, SkillGap
from edtune.skills.index import Mode, SkillIndex

log = logging.getLogger(__name__)


def query_text(gap: SkillGap) -> str:
    """The gap's name plus its merged surface forms, e.g. "color naming; colour naming"."""
    forms = [gap.skill, *(a for a in gap.aliases if a.lower() != gap.skill.lower())]
    return "; ".join(dict.fromkeys(forms))


def retrieve(
    index: SkillIndex,
    gaps: list[SkillGap],
    *,
    mode: Mode,
    round: int,
    exclude: Collection[str] = (),
    queries: Mapping[str, str] | None = None,
) -> list[Selection]:
    """Select `gap.budget` samples per gap (see the module docstring). Ranks are 1-based within a gap."""
    taken: set[str] = set(exclude)
    picked: dict[str, list[Selection]] = {g.skill: [] for g in gaps}
    open_gaps: list[SkillGap] = []
    shortfall = 0

    def take(gap: SkillGap, n: int) -> int:
        query = (queries or {}).get(gap.skill) or query_text(gap)
        hits = index.search(query, mode=mode, k=n, exclude=taken)
        got = picked[gap.skill]
        for sid, score in hits:
            taken.add(sid)
            got.append(
                Selection(support_id=sid, skill=gap.skill, score=score, rank=len(got) + 1, round=round)
            )
        return len(hits)

    for gap in gaps:
        if gap.budget <= 0:
            continue
        got = take(gap, gap.budget)
        if got < gap.budget:
            shortfall += gap.budget - got
            log.info(kv("retrieve_gap_short", skill=repr(gap.skill), wanted=gap.budget, got=got))
        else:
            open_gaps.append(gap)

    while shortfall > 0 and open_gaps:  # back-fill from gaps that still have matches, in gap order
        share, rest = divmod(shortfall, len(open_gaps))
        still_open: list[SkillGap] = []
        for i, gap in enumerate(open_gaps):
            want = share + (1 if i < rest else 0)
            if want == 0:
                still_open.append(gap)
                continue
            got = take(gap, want)
            shortfall -= got
            if got == want:
                still_open.append(gap)
        open_gaps = still_open
    if shortfall:
        log.warning(kv("retrieve_pool_exhausted", missing=shortfall, round=round))
    return [s for g in gaps for s in picked[g.skill]]
