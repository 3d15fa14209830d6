"""The shipped shapes-world base student: verified by its manifest, follows the format, retrainable by command."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from edtune.config import StudentConfig
from edtune.errors import ModelError
from edtune.shapes.student.base import ASSET, ensure_base_student, shipped_base
from edtune.student import load_student
from edtune.student.checkpoint import verify_manifest


def test_shipped_base_student_verifies_and_records_how_it_was_made() -> None:
    assert shipped_base() == ASSET
    assert ensure_base_student() == str(ASSET)
    manifest = json.loads((ASSET / "manifest.json").read_text())
    assert manifest["command"].startswith(
        "edtune student pretrain --out src/edtune/shapes/assets/base-student"
    )
    assert {"config.json", "model.safetensors", "tokenizer.json", "processor_config.json"} <= set(
        manifest["files"]
    )
    assert sum(p.stat().st_size for p in ASSET.iterdir()) < 5 * 2**20


def test_shipped_base_student_answers_in_the_step_answer_format(tmp_path: Path) -> None:
    from edtune.shapes.student.measure import family_probes

    probes = family_probes(tmp_path, n_per_family=2)
    samples = [s for fam in ("color", "count", "side") for s in probes[fam]]
    from edtune.shapes.preset import SHAPES_PRESET  # the tiny student's settings, as before the 7B defaults

    cfg = StudentConfig(**SHAPES_PRESET.values["student"])
    traces = list(load_student(str(ASSET), cfg).answer(samples))
    assert all(t.answer is not None and t.steps for t in traces), [t.raw for t in traces]


def test_a_tampered_copy_of_the_base_student_is_refused(tmp_path: Path) -> None:
    d = tmp_path / "base"
    shutil.copytree(ASSET, d)
    (d / "tokenizer.json").write_text((d / "tokenizer.json").read_text().replace("circle", "circlE", 1))
    with pytest.raises(ModelError, match="does not match manifest"):
        verify_manifest(d)


def test_pretrain_writes_a_loadable_checkpoint_with_manifest_and_record(tmp_path: Path) -> None:
    from edtune.shapes.student.pretrain import pretrain_base

    rec = pretrain_base(str(tmp_path / "b"), seed=3, steps=2, log_every=1)
    assert rec["steps"] == 2 and len(rec["loss_curve"]) == 2
    manifest = verify_manifest(tmp_path / "b")
    assert manifest is not None and manifest["seed"] == 3 and "--steps 2" in manifest["command"]
    assert load_student(str(tmp_path / "b"), StudentConfig()).model is not None


def test_pretrain_init_continues_from_a_base_and_keeps_its_tokenizer_and_record(tmp_path: Path) -> None:
    from safetensors.torch import load_file

    from edtune.shapes.student.pretrain import pretrain_base

    first = pretrain_base(str(tmp_path / "a"), seed=3, steps=2, log_every=1)
    rec = pretrain_base(str(tmp_path / "b"), seed=4, steps=2, log_every=1, lr=5e-4, init=str(tmp_path / "a"))
    assert rec["init"]["record"]["command"] == first["command"] and rec["command"].endswith(
        f"--init {tmp_path / 'a'}"
    )
    assert (tmp_path / "b" / "tokenizer.json").read_text() == (tmp_path / "a" / "tokenizer.json").read_text()
    before, after = (
        load_file(tmp_path / "a" / "model.safetensors"),
        load_file(tmp_path / "b" / "model.safetensors"),
    )
    assert before.keys() == after.keys() and any(not before[k].equal(after[k]) for k in before)  # it trained
    assert verify_manifest(tmp_path / "b") is not None


@pytest.mark.parametrize("curriculum", [0, 2])
def test_pretrain_records_the_curriculum_in_its_record_and_command(tmp_path: Path, curriculum: int) -> None:
    from edtune.shapes.student.pretrain import pretrain_base

    rec = pretrain_base(str(tmp_path / "b"), seed=1, steps=3, log_every=1, curriculum=curriculum)
    record = json.loads((tmp_path / "b" / "pretrain.json").read_text())
    assert record["curriculum_steps"] == rec["curriculum_steps"] == curriculum
    assert rec["command"].endswith(f"--curriculum {curriculum}")


def test_easy_stream_shows_one_big_object_that_its_text_describes() -> None:
    import itertools

    from edtune.shapes.world.pretraining import easy_stream
    from edtune.shapes.world.scenes import COLORS

    for img, human, gpt in itertools.islice(easy_stream(0), 40):
        colours = {c for _, c in img.getcolors()} - {(255, 255, 255)}
        assert len(colours) == 1 and "<image>" not in human
        (rgb,) = colours
        name = next(n for n, v in COLORS.items() if v == rgb)
        if human.startswith("Describe"):
            assert name in gpt
        assert sum(n for n, c in img.getcolors() if c == rgb) > 26 * 26


def test_cli_pretrain_passes_curriculum_lr_and_shares_into_the_record(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from edtune.cli import main

    out = tmp_path / "c"
    argv = ["student", "pretrain", "--out", str(out), "--steps", "2", "--curriculum", "1", "--lr", "0.002"]
    main([*argv, "--note-share", "0.25", "--guess-share", "0.1", "--lookup-share", "0.2", "--json"])
    rec = json.loads(capsys.readouterr().out)
    assert rec["curriculum_steps"] == 1 and rec["recipe"]["lr"] == 0.002 and rec["note_share"] == 0.25
    assert rec["guess_share"] == 0.1 and rec["lookup_share"] == 0.2
    assert rec["command"].endswith(
        "--curriculum 1 --lr 0.002 --note-share 0.25 --guess-share 0.1 --lookup-share 0.2"
    )
