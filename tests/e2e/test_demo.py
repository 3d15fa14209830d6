"""`edtune demo --quick`, exactly as the README runs it: the whole method through the KFP local runner, on a world
the demo's settings were not chosen on (world seed 1; settings were chosen on world 0)."""

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
        [str(edtune), "demo", "--quick", "--json", "--world-seed", "1", "--workdir", str(tmp_path / "demo")],
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
    # the result must be real, measured against what a constant answer scores on the same held-out split: the best
    # adapter (chosen on validation) must beat the split's best constant answer by the goal, +0.30. Measured on world
    # seed 1 (benchmarks/results/demo-worlds-quick.json and -cpu2.json, two machines): 0.567 -> 0.907 and 0.847
    # against a best constant of 0.500; at r 8 it was +0.160, which this gate fails, as it fails a constant answer.
    assert res["world_seed"] == 1 and res["best_round"] >= 1
    assert res["test_best_constant"] >= res["test_chance"] - 1e-9
    assert res["test_accuracy_after"] >= res["test_best_constant"] + 0.30, res
    # the base answers inside the options at chance under both scorings (not below it, as a base that names the
    # object instead of a side would), and the paper's answer switch finds a share of its mistakes (measured 44%)
    for key in ("test_accuracy_before", "test_ll_accuracy_before"):
        assert abs(res[key] - res["test_chance"]) <= 0.1, (key, res)
    assert res["answer_switch_share"] >= 0.30 and res["undiagnosed_share"] <= 0.10, res
    # choice log-likelihood accuracy is reported beside generated accuracy, before and after
    assert 0.0 <= res["test_ll_accuracy_before"] <= 1.0 and 0.0 <= res["test_ll_accuracy_after"] <= 1.0
    # how each round's mistakes were found is reported, and adds up
    for row in res["rounds"][1:]:
        assert row["by_switch"] + row["by_judge"] + row["undiagnosed"] == row["mistakes"], row
