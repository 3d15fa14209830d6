"""Every results file can be traced to the code that made it: it records a commit and `git_dirty: false`
(a merged file records each source's), so no figure quoted from benchmarks/results comes from uncommitted code."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

RESULTS = Path(__file__).resolve().parents[2] / "benchmarks" / "results"


def provenance_records(data: Any) -> list[tuple[str | None, bool | None]]:
    """(commit, git_dirty) of every provenance record in a results file: the top level or a `provenance` block,
    and for merged files each source's block under `merged_from`."""
    if not isinstance(data, dict):
        return []
    prov = data.get("provenance") if isinstance(data.get("provenance"), dict) else data
    sources = prov.get("merged_from") or []
    if sources:
        return [rec for s in sources for rec in provenance_records(s.get("provenance", s))]
    commit = prov.get("git_commit") or prov.get("commit")
    if commit is None and "git_commit" not in prov and "commit" not in prov:
        return []
    return [(commit, prov.get("git_dirty"))]


def test_the_reader_finds_top_level_nested_and_merged_records() -> None:
    assert provenance_records({"commit": "abc", "git_dirty": False}) == [("abc", False)]
    assert provenance_records({"provenance": {"git_commit": "abc", "git_dirty": True}}) == [("abc", True)]
    merged = {
        "provenance": {
            "git_commit": None,
            "merged_from": [{"provenance": {"git_commit": "a", "git_dirty": False}}],
        }
    }
    assert provenance_records(merged) == [("a", False)]
    assert provenance_records({"rows": []}) == []


@pytest.mark.parametrize("path", sorted(RESULTS.glob("*.json")), ids=lambda p: p.name)
def test_every_results_file_records_a_clean_commit(path: Path) -> None:
    records = provenance_records(json.loads(path.read_text()))
    assert records, (
        f"{path.name}: no commit recorded (rerun it with the benchmark's provenance, or delete it)"
    )
    for commit, dirty in records:
        assert commit, f"{path.name}: commit is empty"
        assert dirty is False, f"{path.name}: git_dirty is {dirty!r} (rerun from a clean tree, or delete it)"
