"""The look-up probe: its scenes pick one object out by side and by size, its answers are read by colour, and a
real base is probed end to end on a few scenes."""

from __future__ import annotations

from pathlib import Path

from benchmarks.lookup_probe import PROBES, classify, markdown, probe_base, scenes


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
    from edtune.shapes.student.base import shipped_base

    base = shipped_base()
    assert base is not None
    rows = probe_base("shipped", str(base), scenes(4), tmp_path)
    assert [r.probe for r in rows] == [p for p, _, _ in PROBES]
    for r in rows:
        assert r.n == 4 and abs(r.asked + r.other + r.neither - 1.0) < 0.01
    table = markdown(rows)
    assert table.count("\n") == len(PROBES) + 2 and "`shipped`" in table
