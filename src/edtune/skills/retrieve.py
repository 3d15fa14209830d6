"""Error-driven retrieval: for each skill gap, the support samples that best teach it.

Per gap (in gap order: count desc), query the index with the gap's skill name (or an override such as the
erroneous step's text, for the "no skill analysis" ablation) and take its budget of top hits that were not used
in an earlier round and not already taken by an earlier gap — a sample matched by two gaps counts once and
the later gap back-fills from further down its own list. If a gap's matches run out (and no score cut is set),
its shortfall goes to the gaps that still have matches, so the round gets its whole budget whenever the pool can
give it. The same inputs give the same selection (ties broken by id inside the index).

What counts as a match: with `min_score_ratio` > 0, a hit whose score is below that share of the query's best score
over the whole pool (earlier rounds' samples included, so later rounds do not lower the bar) is no match, and the
budget is a ceiling, not a quota: a gap that runs out of matches keeps its shortfall (handed to the other gaps it
went to noise diagnoses — measured on the full demo, world seed 1: 480 of 1,000 samples went to the teacher's
one-off skill names, and the share teaching the real gap fell from 35% to 27%). BM25 scores any sample that shares one
word with the query ("objects" in "horizontal position of objects"), so filling a budget larger than the pool's
supply of a skill tunes on samples of other skills: measured on the demo world's development seed, the BM25 scores
of the left/right gap's query fall from 0.63 to 0.37 of the best within 50 ranks, where the share of samples that
teach the skill drops from 84% to 20%. Applies to bm25 and dense scores; hybrid (RRF) scores rank positions, not
relevance, so no cut is made there.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection, Mapping

from edtune.log import kv
from edtune.schemas import Selection, SkillGap
from edtune.skills.index import MAX_LIMIT, Mode, SkillIndex

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
    min_score_ratio: float = 0.0,
    allowed: Callable[[str], bool] | None = None,
) -> list[Selection]:
    """Select up to `gap.budget` samples per gap (see the module docstring). Ranks are 1-based within a gap.

    `allowed` narrows what counts as a match (e.g. the task's answer space) without an exclusion list of the rest of
    the pool: hits are fetched in growing batches until a gap has its budget or its matches end."""
    taken: set[str] = set(exclude)
    picked: dict[str, list[Selection]] = {g.skill: [] for g in gaps}
    floors: dict[str, float] = {}
    open_gaps: list[SkillGap] = []
    shortfall = 0

    def floor(query: str) -> float:
        """The lowest score that still counts as a match for `query` (0: every hit does)."""
        if min_score_ratio <= 0 or mode == "hybrid":
            return 0.0
        if query not in floors:
            best = index.search(query, mode=mode, k=1)
            floors[query] = min_score_ratio * best[0][1] if best else 0.0
        return floors[query]

    def take(gap: SkillGap, n: int) -> int:
        query = (queries or {}).get(gap.skill) or query_text(gap)
        least = floor(query)
        k = n
        while True:
            raw = index.search(query, mode=mode, k=k, exclude=taken)
            hits = [h for h in raw if h[1] >= least and (allowed is None or allowed(h[0]))]
            ended = len(raw) < k or (bool(raw) and raw[-1][1] < least) or k >= MAX_LIMIT
            if len(hits) >= n or ended or allowed is None:
                break
            k = min(k * 4, MAX_LIMIT)
        hits = hits[:n]
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

    cut = min_score_ratio > 0 and mode != "hybrid"
    # without a cut, back-fill from the gaps that still have matches, in gap order
    while shortfall > 0 and open_gaps and not cut:
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
    if shortfall and cut:
        log.info(
            kv("retrieve_matches_exhausted", unused_budget=shortfall, round=round, ratio=min_score_ratio)
        )
    elif shortfall:
        log.warning(kv("retrieve_pool_exhausted", missing=shortfall, round=round))
    return [s for g in gaps for s in picked[g.skill]]
