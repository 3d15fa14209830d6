"""The look-up probe: its scenes pick one object out by side and by size, its answers are read by colour, and a
real base is probed end to end on a few scenes."""

from __future__ import annotations

from pathlib import Path

from benchmarks.lookup_probe import PROBES, classify, markdown, scenes


def test_probe_scenes_hold_two_objects_that_differ_in_side_size_and_colour() -> None:
    picked = scenes(30)
    assert len(picked) == 30 and picked == scenes(30)  # seeded
    for s in picked:
        a, b = s.objects
        assert a.side != b.side and a.size != b.size and a.color != b.color


def test_answers_are_read_by_the_colour_they_name() -> None:
    assert classify("A small red circle on the left.", "red", "blue") == "asked"
    assert classify("blue", "red", "blue") == "other"
    assert classify("circle", "red", "blue") == "neither"
    assert classify(None, "red", "blue") == "neither"


def test_the_shipped_base_answers_every_probe_and_the_table_has_a_row_each(tmp_path: Path) -> None:
    """Run in a child process: a student loaded into the test process slows every later test that forks
    (measured: the KFP local-runner set-up after it took 26 s instead of 10 s)."""
    import json
    import subprocess
    import sys

    from benchmarks.lookup_probe import ProbeResult

    code = (
        "import json, sys; from pathlib import Path; "
        "from benchmarks.lookup_probe import probe_base, scenes; "
        "from edtune.shapes.student.base import shipped_base; "
        "base = shipped_base(); assert base is not None; "
        "rows = probe_base('shipped', str(base), scenes(4), Path(sys.argv[1])); "
        "print(json.dumps([r.model_dump() for r in rows]))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, str(tmp_path)], capture_output=True, text=True, check=True, timeout=300
    )
    rows = [ProbeResult(**r) for r in json.loads(out.stdout.strip().splitlines()[-1])]
    assert [r.probe for r in rows] == [p for p, _, _ in PROBES]
    for r in rows:
        assert r.n == 4 and abs(r.asked + r.other + r.neither - 1.0) < 0.01
    table = markdown(rows)
    assert table.count("\n") == len(PROBES) + 2 and "`shipped`" in table
