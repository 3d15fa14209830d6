"""The README's headline tables are checked against results JSON too: every figure in a table of the README's
"What the demo shows" section is either a linked figure (checked by test_quoted_figures) or inside a generated
`<!-- results:NAME.md -->` block (checked byte for byte there). A bare number in a headline table fails."""

from __future__ import annotations

import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SECTION = "## What the demo shows"
FIGURE = re.compile(r"(?<![\w.\-])[-+]?\d+\.\d+%?(?![\w.])")
LINKED = re.compile(r"\[[^\]]*\]\([^)]*\)")
BLOCK = re.compile(r"<!-- results:[\w.\-]+\.md -->\n.*?<!-- /results -->", re.S)


def bare_figures(markdown: str) -> list[str]:
    """Table rows of the headline section holding a decimal figure that is neither linked nor generated."""
    start = markdown.index(SECTION)
    end = markdown.find("\n## ", start + len(SECTION))
    section = BLOCK.sub("", markdown[start : end if end != -1 else None])
    return [row for row in section.splitlines() if row.startswith("|") and FIGURE.search(LINKED.sub("", row))]


def test_every_headline_figure_is_linked_or_generated() -> None:
    readme = (REPO / "README.md").read_text()
    assert "<!-- results:" in readme[readme.index(SECTION) :], "the demo table is generated from results"
    assert bare_figures(readme) == []


def test_a_bare_figure_in_a_headline_table_is_caught() -> None:
    doc = f"{SECTION}\n\n| demo | tuned |\n|---|---|\n| quick | 0.947 |\n| linked | [0.9](results/x.json#a) |\n## Next\n"
    assert bare_figures(doc) == ["| quick | 0.947 |"]


def test_the_readme_is_short_and_names_no_issue_numbers_or_commit_hashes() -> None:
    readme = (REPO / "README.md").read_text()
    assert len(readme.splitlines()) <= 160
    assert not re.search(r"\bissues? #?\d+", readme, re.I)
    assert not re.search(r"(?<![\w/.#-])[0-9a-f]{7,40}(?![\w.-])", readme), "a commit hash in the README"
