"""The retrieval table in benchmarks/README.md is generated from the results JSON, never typed (issue 16)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from benchmarks import retrieval

RESULTS = Path(retrieval.ROOT) / "benchmarks" / "results"


def test_the_committed_table_is_what_the_results_files_give() -> None:
    assert (RESULTS / "retrieval-lite.md").read_text() == retrieval.table(RESULTS) + "\n"


def test_a_row_follows_its_json_and_shows_a_negative_bm25_split_as_noise(tmp_path: Path) -> None:
    src = RESULTS / "retrieval-lite-100000.json"
    shutil.copy(src, tmp_path / src.name)
    data = json.loads(src.read_text())
    data["rows"], data["ingest"]["rows_per_s"] = 200_000, 1234.0
    data["ingest"]["bm25_split"]["bm25_ms_per_1000_rows"] = -2.5
    (tmp_path / "retrieval-lite-200000.json").write_text(json.dumps(data))
    rows = retrieval.table(tmp_path).splitlines()[2:]
    assert [r.split(" | ")[0] for r in rows] == ["| 100,000", "| 200,000"]  # ordered by size
    assert rows[1].split(" | ")[1] == "1,234" and "| ~0 (-2.5) |" in rows[1]
