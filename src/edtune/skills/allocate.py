"""Budget allocation: split a round's sample budget over its skill gaps, summing exactly to the budget.

Two policies:
- "per-mistake" (the paper): every wrong sample gets the same K = budget // mistakes; a gap gets K × its
  count, and the remainder goes one sample at a time to gaps in order (count desc).
- "proportional": every gap first gets `min_per_skill` (the floor), the rest is split in proportion to the
  counts by largest remainder (Hamilton), so rare skills are never starved and frequent ones lead.

Both then cap each gap at what the pool can give it (`available`, e.g. the matches left after exclusion) and
hand any excess back to the gaps that still have room, in proportion to their counts. The result sums to
`min(budget, sum(available))` exactly; ties are broken by gap order, so the split is deterministic.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal

from edtune.errors import InputError
from edtune.schemas import SkillGap

Policy = Literal["per-mistake", "proportional"]


def _hamilton(amount: int, weights: list[int]) -> list[int]:
    """Split `amount` ∝ weights, integer parts then largest remainders (ties: earlier index first)."""
    total = sum(weights)
    if amount <= 0 or total <= 0:
        return [0] * len(weights)
    quotas = [amount * w / total for w in weights]
    parts = [int(q) for q in quotas]
    rest = amount - sum(parts)
    order = sorted(range(len(weights)), key=lambda i: (-(quotas[i] - parts[i]), i))
    for i in order[:rest]:
        parts[i] += 1
    return parts


def allocate(
    gaps: list[SkillGap],
    budget: int,
    *,
    policy: Policy,
    min_per_skill: int = 1,
    available: Mapping[str, int] | None = None,
) -> list[SkillGap]:
    """Return copies of `gaps` (same order) with `budget` set; see the module docstring for the rules."""
    if budget < 0:
        raise InputError(f"budget must be ≥ 0, got {budget}")
    if min_per_skill < 0:
        raise InputError(f"min_per_skill must be ≥ 0, got {min_per_skill}")
    if policy not in ("per-mistake", "proportional"):
        raise InputError(f"allocation policy {policy!r}: expected per-mistake or proportional")
    n = len(gaps)
    if n == 0:
        return []
    counts = [g.count for g in gaps]
    caps = [max(0, int(available.get(g.skill, 0))) if available is not None else budget for g in gaps]
    target = min(budget, sum(caps))

    if policy == "per-mistake":
        k, rest = divmod(target, sum(counts))
        alloc = [k * c for c in counts]
        i = 0
        while rest > 0:  # one more sample per mistake, gap by gap in order, until the remainder is spent
            give = min(rest, counts[i])
            alloc[i] += give
            rest -= give
            i = (i + 1) % n
        floor = min_per_skill if target >= n * min_per_skill else 0
        alloc = _raise_floor(alloc, floor, counts)
    else:
        floor_each = min_per_skill
        if n * floor_each > target:  # not enough for every floor: the most frequent gaps get theirs first
            alloc = [0] * n
            left = target
            for i in range(n):
                give = min(floor_each, left, caps[i])
                alloc[i] = give
                left -= give
            alloc = [a + b for a, b in zip(alloc, _hamilton(left, counts), strict=True)]
        else:
            alloc = [floor_each] * n
            alloc = [a + b for a, b in zip(alloc, _hamilton(target - n * floor_each, counts), strict=True)]

    alloc = _apply_caps(alloc, caps, counts)
    assert sum(alloc) == target, (alloc, target)
    return [g.model_copy(update={"budget": b}) for g, b in zip(gaps, alloc, strict=True)]


def _raise_floor(alloc: list[int], floor: int, counts: list[int]) -> list[int]:
    """Lift every gap to `floor`, taking the samples from the largest allocations (keeps the sum)."""
    alloc = list(alloc)
    for i in range(len(alloc)):
        while alloc[i] < floor:
            donor = max(
                (j for j in range(len(alloc)) if alloc[j] > floor), key=lambda j: (alloc[j], -j), default=None
            )
            if donor is None:
                return alloc
            alloc[donor] -= 1
            alloc[i] += 1
    return alloc


def _apply_caps(alloc: list[int], caps: list[int], counts: list[int]) -> list[int]:
    """Clip to caps and hand the excess to gaps with room, ∝ counts, until it is spent or nobody has room."""
    clipped = [min(a, c) for a, c in zip(alloc, caps, strict=True)]
    excess = sum(alloc) - sum(clipped)
    while excess > 0:
        room = [i for i in range(len(clipped)) if clipped[i] < caps[i]]
        if not room:
            break
        share = _hamilton(excess, [counts[i] for i in room])
        for i, extra in zip(room, share, strict=True):
            give = min(extra, caps[i] - clipped[i])
            clipped[i] += give
            excess -= give
    return clipped
