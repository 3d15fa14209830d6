"""Baseline selectors behind the same output as `retrieve` (a list of Selection), for the benchmarks.

- `random`: uniform from the pool (the data-efficiency floor).
- `similar-questions`: dense nearest neighbours of the validation questions — the surface-feature baseline the
  paper argues against (in the spirit of INSTA). It searches the index's dense field, so for a faithful
  baseline use a collection indexed in text mode (the conversation text, not the skill tags).
`all` and `validation` are trivial and live with the stages.
"""

from __future__ import annotations

import math
import random
from collections.abc import Collection, Sequence

from edtune.schemas import Selection
from edtune.skills.index import SkillIndex


def select_random(
    pool_ids: Sequence[str], n: int, *, seed: int, round: int, exclude: Collection[str] = ()
) -> list[Selection]:
    """`n` ids drawn uniformly without replacement from the pool minus `exclude`; same seed+round, same draw."""
    excl = set(exclude)
    candidates = sorted({i for i in pool_ids if i not in excl})
    rng = random.Random(f"edtune-random:{seed}:{round}")
    chosen = rng.sample(candidates, min(n, len(candidates)))
    return [
        Selection(support_id=sid, skill="random", score=0.0, rank=i + 1, round=round)
        for i, sid in enumerate(chosen)
    ]


def select_similar_questions(
    index: SkillIndex, questions: Sequence[str], n: int, *, round: int, exclude: Collection[str] = ()
) -> list[Selection]:
    """`n` samples nearest (dense) to the validation questions, round-robin over questions so each one is
    represented, deduplicated; the per-question depth doubles until `n` is reached or the pool runs out."""
    qs = [q for q in questions if q.strip()]
    if n <= 0 or not qs:
        return []
    excl = set(exclude)
    depth = max(1, math.ceil(n / len(qs)) * 2)
    while True:
        lists = [index.search(q, mode="dense", k=depth, exclude=excl) for q in qs]
        out: list[Selection] = []
        seen: set[str] = set()
        for r in range(depth):
            for hits in lists:
                if r < len(hits) and hits[r][0] not in seen and len(out) < n:
                    sid, score = hits[r]
                    seen.add(sid)
                    out.append(
                        Selection(
                            support_id=sid,
                            skill="similar-questions",
                            score=score,
                            rank=len(out) + 1,
                            round=round,
                        )
                    )
        exhausted = all(len(h) < depth for h in lists)
        if len(out) >= n or exhausted or depth >= 16384:
            return out
        depth = min(depth * 2, 16384)
