"""Budget allocation: budgets sum exactly to the round budget (or to what the pool can give)."""

from __future__ import annotations

import pytest

from edtune.errors import InputError
from edtune.schemas import SkillGap
from edtune.skills.allocate import allocate


def gaps(*counts: int) -> list[SkillGap]:
    return [SkillGap(skill=f"s{i}", count=c) for i, c in enumerate(counts)]


# (name, counts, budget, policy, min_per_skill, available, expected budgets)
CASES = [
    ("per-mistake equal K", (3, 1), 8, "per-mistake", 1, None, [6, 2]),
    ("per-mistake remainder to frequent gaps", (3, 1), 10, "per-mistake", 1, None, [8, 2]),
    ("per-mistake floor lifts a rare gap", (9, 1), 5, "per-mistake", 1, None, [4, 1]),
    ("proportional floor then shares", (6, 2, 1, 1), 20, "proportional", 1, None, [10, 4, 3, 3]),
    ("proportional without floor", (6, 2, 1, 1), 20, "proportional", 0, None, [12, 4, 2, 2]),
    ("budget below floors: frequent gaps first", (5, 3, 1), 2, "proportional", 1, None, [1, 1, 0]),
    (
        "cap moves excess to gaps with room",
        (6, 2, 1, 1),
        20,
        "proportional",
        1,
        {"s0": 3, "s1": 50, "s2": 50, "s3": 50},
        [3, 7, 5, 5],
    ),
    ("pool smaller than budget: all it has", (2, 2), 50, "proportional", 1, {"s0": 4, "s1": 7}, [4, 7]),
    ("per-mistake with a cap", (3, 1), 8, "per-mistake", 1, {"s0": 2, "s1": 10}, [2, 6]),
    ("zero budget", (3, 1), 0, "proportional", 1, None, [0, 0]),
    ("single gap takes all", (4,), 7, "per-mistake", 1, None, [7]),
]


@pytest.mark.parametrize(
    ("name", "counts", "budget", "policy", "floor", "available", "expected"), CASES, ids=[c[0] for c in CASES]
)
def test_budgets_sum_exactly_and_follow_the_policy(name, counts, budget, policy, floor, available, expected):
    out = allocate(gaps(*counts), budget, policy=policy, min_per_skill=floor, available=available)
    got = [g.budget for g in out]
    assert got == expected
    cap_total = sum(available.values()) if available else budget
    assert sum(got) == min(budget, cap_total)
    if available:
        assert all(g.budget <= available[g.skill] for g in out)


@pytest.mark.parametrize("budget", [1, 7, 100, 401, 999])
@pytest.mark.parametrize("policy", ["per-mistake", "proportional"])
def test_any_budget_is_spent_exactly(budget: int, policy: str):
    out = allocate(gaps(17, 5, 5, 3, 1, 1, 1), budget, policy=policy, min_per_skill=1)
    assert sum(g.budget for g in out) == budget
    assert [g.skill for g in out] == [f"s{i}" for i in range(7)]


@pytest.mark.parametrize(
    ("budget", "policy", "floor"), [(-1, "proportional", 1), (5, "weird", 1), (5, "proportional", -2)]
)
def test_bad_arguments_are_refused(budget, policy, floor):
    with pytest.raises(InputError):
        allocate(gaps(1), budget, policy=policy, min_per_skill=floor)
