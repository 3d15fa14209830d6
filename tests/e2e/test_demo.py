"""`edtune demo --quick`, exactly as the README runs it: the whole method through the KFP local runner."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path


def test_demo_quick_prints_one_json_object_and_the_tuned_student_beats_the_base_on_held_out_test(
    tmp_path: Path,
) -> None:
    edtune = Path(sys.executable).with_name("edtune")
    proc = subprocess.run(
        [str(edtune), "demo", "--quick", "--json", "--workdir", str(tmp_path / "demo")],
        capture_output=True,
        text=True,
        timeout=1200,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    lines = [ln for ln in proc.stdout.splitlines() if ln.strip()]
    assert len(lines) == 1, f"--json must print exactly one JSON object on stdout, got {len(lines)} lines"
    # quiet by default (issue 16): progress and one line per stage, no library/per-request logs, no tracebacks
    err = proc.stderr.splitlines()
    assert len(err) <= 100, f"{len(err)} stderr lines at default verbosity:\n" + "\n".join(err[:60])
    assert "Traceback" not in proc.stderr and "Logging error" not in proc.stderr, proc.stderr[-3000:]
    assert not [ln for ln in err if "HTTP Request:" in ln or "KFP Executor" in ln or "faiss" in ln]
    res = json.loads(lines[0])
    for key in ("val_accuracy_before", "val_accuracy_after", "test_accuracy_before", "test_accuracy_after"):
        assert 0.0 <= res[key] <= 1.0, key
    assert res["rounds"][0]["round"] == 0 and len(res["rounds"]) >= 2
    for row in res["rounds"][1:]:  # how each mistake was found (issue 13 item 6)
        assert row["by_switch"] + row["by_judge"] == row["diagnosed"]
        assert row["diagnosed"] + row["undiagnosed"] == row["mistakes"]
    assert Path(res["report"]).read_text().startswith("<!doctype html>")
    assert Path(res["manifest"]).is_file()
    # the result must be real: the best adapter (chosen on validation) beats the base on the held-out test split by
    # issue 13's margin. Measured at the demo's settings (README "What the demo shows"): 0.000 -> 0.947 at seed 0 (4
    # restarts kept on validation); single runs over LoRA seeds 0-11 reached 0.69-0.95 (benchmarks/README.md), so
    # 0.3 is not a coin flip.
    assert res["best_round"] >= 1
    assert res["test_accuracy_after"] - res["test_accuracy_before"] >= 0.3, res
    # how each round's mistakes were found is reported, and adds up
    for row in res["rounds"][1:]:
        assert row["by_switch"] + row["by_judge"] + row["undiagnosed"] == row["mistakes"], row
