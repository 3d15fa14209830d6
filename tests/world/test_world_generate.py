"""World generation: byte-identical per seed, valid files, pool/task disjointness, labels only in the sidecar."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
import yaml

from edtune.cli import main
from edtune.datasets import validate_file
from edtune.shapes.world.generate import generate_world
from edtune.shapes.world.pretraining import BASE_FAMILIES, GAP_FAMILIES, base_stream
from edtune.shapes.world.tasks import TASKS


def digest(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("world")
    generate_world(out, seed=0, pool_size=400, val_size=20, test_size=30, progress=False)
    return out


def test_same_seed_writes_byte_identical_files(world: Path, tmp_path: Path) -> None:
    generate_world(tmp_path, seed=0, pool_size=400, val_size=20, test_size=30, progress=False)
    assert digest(tmp_path) == digest(world)


def test_a_different_seed_gives_different_scenes(world: Path, tmp_path: Path) -> None:
    generate_world(tmp_path, seed=1, pool_size=400, val_size=20, test_size=30, progress=False)
    a, b = digest(world), digest(tmp_path)
    images = [k for k in a if k.startswith("images/") and k in b]
    assert sum(a[k] != b[k] for k in images) > 0.9 * len(images)


def test_every_generated_file_validates(world: Path) -> None:
    s = validate_file(world / "pool.jsonl", "support")
    assert s.valid and s.count == 400, s.problems
    for name in TASKS:
        for split, n in (("val", 20), ("test", 30)):
            t = validate_file(world / "tasks" / name / f"{split}.jsonl", "task")
            assert t.valid and t.count == n, t.problems


def test_pool_has_no_skill_labels_and_image_marker_starts_the_first_turn(world: Path) -> None:
    rows = [json.loads(x) for x in (world / "pool.jsonl").read_text().splitlines()]
    assert all("skills" not in r for r in rows)
    assert all(r["conversations"][0]["value"].startswith("<image>\n") for r in rows)
    assert all("<image>" not in t["value"] for r in rows for t in r["conversations"][1:])
    assert any(len(r["conversations"]) > 2 for r in rows) and any(
        "Step 1:" in r["conversations"][1]["value"] for r in rows
    )
    assert len({r["image"] for r in rows}) < len(rows)  # images are shared between conversations
    labels = [json.loads(x) for x in (world / "pool.labels.jsonl").read_text().splitlines()]
    assert [lab["id"] for lab in labels] == [r["id"] for r in rows]
    assert {lab["family"] for lab in labels} >= set(GAP_FAMILIES) | set(BASE_FAMILIES) | {"caption"}


def test_tasks_have_cards_probe_gap_families_and_share_no_image_with_the_pool(world: Path) -> None:
    pool_images = {hashlib.sha256(p.read_bytes()).hexdigest() for p in (world / "images").iterdir()}
    kinds = set()
    for name in TASKS:
        card = yaml.safe_load((world / "tasks" / name / "task.yaml").read_text())
        assert card["name"] == name and card["metric"] == "exact_match" and card["gap_families"]
        kinds.add(card["answer_type"])
        task_images = {
            hashlib.sha256(p.read_bytes()).hexdigest() for p in (world / "tasks" / name / "images").iterdir()
        }
        assert (
            len(task_images & pool_images) <= 1
        )  # different seeds; a one-object scene may coincide by chance
    assert "multiple-choice" in kinds and kinds - {"multiple-choice"}


def test_base_stream_asks_only_base_families_in_the_evaluation_wording() -> None:
    from edtune.shapes.world.families import DESCRIBE_WORDINGS, wording_pattern
    from edtune.shapes.world.pretraining import REFER_SIDE_WORDINGS, REFER_SIZE_WORDINGS
    from edtune.shapes.world.tasks import family_of_question

    describe = [wording_pattern(w) for w in (*DESCRIBE_WORDINGS, *REFER_SIDE_WORDINGS, *REFER_SIZE_WORDINGS)]
    seen = set()
    for i, (img, human, gpt) in enumerate(base_stream(0)):
        if i == 300:
            break
        assert img.size == (112, 112) and "<image>" not in human and gpt
        fam = family_of_question(human)
        if fam is None and any(
            p.match(human.split("\n")[0]) for p in describe
        ):  # grounded descriptions: not a QA family
            fam = "describe"
            said = gpt.rsplit("Answer: ", 1)[-1]  # described step by step or straight away
            assert said.startswith("A ") and said.endswith(("on the left.", "on the right.")), gpt
        seen.add(fam)
    assert seen == set(BASE_FAMILIES) | {"caption", "describe"}


def test_cli_generate_prints_one_json_summary(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rc = main(
        [
            "world",
            "generate",
            "--out",
            str(tmp_path),
            "--pool-size",
            "50",
            "--val-size",
            "5",
            "--test-size",
            "5",
            "--json",
        ]
    )
    assert rc == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["pool_size"] == 50 and summary["demo_task"] == "left-right"
    assert (tmp_path / "tasks" / "left-right" / "val.jsonl").exists()


def test_note_exercises_copy_the_steps_last_word_and_never_ask_a_gap_question() -> None:
    import itertools
    import random

    from edtune.shapes.world.pretraining import NOTE_WORDING, note_sample
    from edtune.shapes.world.scenes import make_scene
    from edtune.shapes.world.tasks import family_of_question
    from edtune.student.prompt import parse_reasoning

    prefix = NOTE_WORDING.split("{sentence}")[0]
    answers = set()
    for i in range(200):
        rng = random.Random(i)
        scene = make_scene(rng, 1 + i % 2)
        human, gpt = note_sample(rng, scene)
        note = human.split('"')[1]
        steps, answer, issues = parse_reasoning(gpt)
        assert not issues and steps == [note] and human.startswith(prefix)
        assert answer == note.rstrip(".").split()[-1]
        assert family_of_question(human) is None
        # the note is true of one of the picture's objects
        assert any(
            {o.color, o.shape} <= set(note.rstrip(".").split())
            and answer in (o.side, o.size, o.color, o.shape)
            for o in scene.objects
        ), (note, scene)
        if "Options:" in human:
            assert f") {answer}" in human
        answers.add(answer)
    assert {"left", "right", "small", "large"} <= answers

    # the share is honoured, and 0 leaves the stream as it was (no note, the same draws)
    drawn = list(itertools.islice(base_stream(0, note_share=0.5), 200))
    notes = sum(h.startswith(prefix) for _, h, _ in drawn)
    assert 60 <= notes <= 140
    plain = [(h, g) for _, h, g in itertools.islice(base_stream(0), 50)]
    assert plain == [(h, g) for _, h, g in itertools.islice(base_stream(0, note_share=0.0), 50)]
    assert not any(h.startswith(prefix) for h, _ in plain)


def test_guessed_gap_questions_teach_the_answer_format_and_nothing_about_the_skill() -> None:
    """A guessed gap question is asked in a generic wording (never a task's), its step and answer agree with each
    other, and they are those of a misperceived scene: about half of the side answers are wrong for the picture
    (the base learns to answer 'left'/'right', not which one is true)."""
    import itertools
    import random

    from edtune.shapes.world.pretraining import guess_sample
    from edtune.shapes.world.scenes import make_scene
    from edtune.shapes.world.tasks import family_of_question as task_family

    rng = random.Random(5)
    task_wordings = {w.split("{")[0] for spec in TASKS.values() for ws in spec.wordings.values() for w in ws}
    right = asked = 0
    families = set()
    for _ in range(600):
        scene = make_scene(rng, 1)
        drawn = guess_sample(rng, scene)
        if drawn is None:
            continue
        human, gpt, fam = drawn
        families.add(fam)
        assert fam in GAP_FAMILIES and task_family(human) == fam
        assert not any(human.startswith(w) for w in task_wordings), human
        answer = gpt.rsplit("Answer: ", 1)[1]
        assert answer in gpt.split("\nAnswer:")[0] or fam.endswith("count"), gpt  # the step names the answer
        if fam == "side":
            asked += 1
            right += answer == scene.objects[0].side
    assert families == set(GAP_FAMILIES) - {"side_color", "size_color"}  # these need two objects
    assert asked > 50 and 0.35 < right / asked < 0.65, (right, asked)

    # 0 leaves the stream as it was; a share draws guesses
    plain = [(h, g) for _, h, g in itertools.islice(base_stream(0), 50)]
    assert plain == [(h, g) for _, h, g in itertools.islice(base_stream(0, guess_share=0.0), 50)]
    guessed = [h for _, h, _ in itertools.islice(base_stream(0, guess_share=0.5), 200)]
    assert sum(task_family(h) in GAP_FAMILIES for h in guessed) > 40


def test_lookup_exercises_describe_the_object_of_two_that_the_question_points_at() -> None:
    """A look-up exercise refers to one object of a two-object picture by its side or size and describes that
    object (checked against the scene recovered from the pixels); 0 leaves the stream as it was."""
    import itertools
    import random

    from edtune.shapes.world.pretraining import REFER_SIDE_WORDINGS, REFER_SIZE_WORDINGS, base_sample
    from edtune.shapes.world.scenes import recover_scene
    from edtune.shapes.world.tasks import family_of_question

    prefixes = tuple(w.split("{")[0] for w in (*REFER_SIDE_WORDINGS, *REFER_SIZE_WORDINGS))
    rng = random.Random(3)
    by = set()
    for _ in range(120):
        img, human, gpt, fam = base_sample(rng, lookup_share=1.0)
        assert fam == "lookup" and human.startswith(prefixes) and family_of_question(human) is None
        scene = recover_scene(img)
        assert len(scene.objects) == 2
        word = human.split("\n")[0].split()[-2 if "object." in human.split("\n")[0] else -1].rstrip(".")
        (target,) = [o for o in scene.objects if word in (o.side, o.size)]  # the reference picks one out
        answer = gpt.rsplit("Answer: ", 1)[-1]
        assert f"{target.size} {target.color} {target.shape} on the {target.side}" in answer, (human, gpt)
        by.add("side" if word in ("left", "right") else "size")
    assert by == {"side", "size"}

    plain = [(h, g) for _, h, g in itertools.islice(base_stream(0), 50)]
    assert plain == [(h, g) for _, h, g in itertools.islice(base_stream(0, lookup_share=0.0), 50)]
    drawn = [base_sample(random.Random(i), lookup_share=0.5)[3] for i in range(200)]
    assert 60 <= drawn.count("lookup") <= 140
