"""Every figure the study READMEs quote is checked against the JSON it came from (issue 14: no stale figures).

Convention (README.md, benchmarks/README.md, docs/reliability.md): a quoted figure is a link whose target names the results
file and the value's path, e.g. `[+12.3](results/data_efficiency.json#summary.gain_vs_random_3pct)`; the link
text must equal the value at that path, formatted with the same number of decimals (a trailing `%` means the
value is a fraction shown as a percentage; a leading `+` is allowed). A generated table is embedded between
`<!-- results:NAME.md -->` and `<!-- /results -->` and must equal `benchmarks/results/NAME.md` byte for byte.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
RESULTS = REPO / "benchmarks" / "results"
LINK = re.compile(r"\[([^\]]+)\]\((?:\.\./)?(?:benchmarks/)?results/([\w.\-]+\.json)#([\w.\-\[\]]+)\)")
BLOCK = re.compile(r"<!-- results:([\w.\-]+\.md) -->\n(.*?)<!-- /results -->", re.S)
# file -> figures it must quote at least
# (the README's tables are generated blocks, checked by test_embedded_result_tables_equal_the_generated_markdown)
DOCS = {"README.md": 4, "benchmarks/README.md": 5, "docs/reliability.md": 3}


def lookup(data: Any, path: str) -> Any:
    """The value at a dotted path; a final `len` on a list is its length."""
    for part in path.split("."):
        if part == "len" and isinstance(data, list):
            return len(data)
        data = data[int(part)] if isinstance(data, list) and part.isdigit() else data[part]
    return data


def matches(text: str, value: Any) -> bool:
    t = text.strip().replace(",", "")
    if isinstance(value, bool) or not isinstance(value, int | float):
        return t == str(value)
    pct = t.endswith("%")
    t = t.rstrip("%").lstrip("+")
    try:
        shown = float(t)
    except ValueError:
        return False
    decimals = len(t.split(".", 1)[1]) if "." in t else 0
    v = value * 100 if pct else value
    return round(v, decimals) == round(shown, decimals)


def figures(doc: str) -> list[tuple[str, str, str]]:
    return LINK.findall((REPO / doc).read_text())


@pytest.mark.parametrize("doc", sorted(DOCS))
def test_every_quoted_figure_equals_its_json_value(doc: str) -> None:
    found = figures(doc)
    assert len(found) >= DOCS[doc], f"{doc} quotes {len(found)} linked figures; expected at least {DOCS[doc]}"
    wrong = []
    for text, name, path in found:
        value = lookup(json.loads((RESULTS / name).read_text()), path)
        if not matches(text, value):
            wrong.append(f"{name}#{path}: README says {text!r}, JSON has {value!r}")
    assert not wrong, "\n".join(wrong)


@pytest.mark.parametrize("doc", sorted(DOCS))
def test_embedded_result_tables_equal_the_generated_markdown(doc: str) -> None:
    for name, body in BLOCK.findall((REPO / doc).read_text()):
        assert body.strip() == (RESULTS / name).read_text().strip(), f"{doc}: table {name} is stale"


@pytest.mark.parametrize(
    ("text", "value", "ok"),
    [
        ("0.912", 0.9123, True),
        ("91.2%", 0.9123, True),
        ("+12.3", 12.34, True),
        ("0.91", 0.93, False),
        ("7", 7, True),
        ("8", 7, False),
        ("91%", 0.92, False),
    ],
)
def test_the_figure_check_would_fail_on_a_changed_figure(text: str, value: float, ok: bool) -> None:
    assert matches(text, value) is ok
