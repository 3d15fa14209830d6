"""Task and support JSONL validation: every bad input gets `PATH:LINE: field: problem`, all of them reported.

Each row of the tables below is one input tried (the issue's list, plus images in every awkward mode).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from edtune import io
from edtune.datasets import iter_support, load_task, validate_file
from edtune.errors import InputError
from edtune.io.jsonl import read_journal, read_jsonl
from edtune.schemas import SupportSample, TaskSample
from foundation.imagegen import IMAGES


@pytest.fixture()
def data_dir(tmp_path: Path) -> Path:
    (tmp_path / "img").mkdir()
    for name, data in IMAGES.items():
        (tmp_path / "img" / name).write_bytes(data)
    (tmp_path / "img" / "adir.png").mkdir()
    return tmp_path


def task(**kw: object) -> dict[str, object]:
    rec: dict[str, object] = {"id": "t1", "image": "img/ok.png", "question": "What colour?", "answer": "red"}
    rec.update(kw)
    return {k: v for k, v in rec.items() if v is not ...}


def line(obj: object) -> bytes:
    return json.dumps(obj).encode() + b"\n"


# (name, file bytes, expected problem fragments as (line, field or None, message fragment))
TASK_BAD: list[tuple[str, bytes, list[tuple[int | None, str | None, str]]]] = [
    ("empty file", b"", [(None, None, "file is empty")]),
    ("only blank lines", b"\n  \n\r\n", [(None, None, "file is empty")]),
    ("not JSON", b"hello\n", [(1, None, "not valid JSON")]),
    ("JSON array not object", b"[1, 2]\n", [(1, None, "expected a JSON object, got list")]),
    ("JSON string not object", b'"x"\n', [(1, None, "expected a JSON object, got str")]),
    ("JSON null", b"null\n", [(1, None, "expected a JSON object, got NoneType")]),
    ("missing answer", line(task(answer=...)), [(1, "answer", "Field required")]),
    (
        "missing id and image",
        line(task(id=..., image=...)),
        [(1, "id", "Field required"), (1, "image", "Field required")],
    ),
    ("extra field", line(task(label="red")), [(1, "label", "Extra inputs are not permitted")]),
    ("mistyped answer (int)", line(task(answer=3)), [(1, "answer", "valid string")]),
    ("mistyped id (int)", line(task(id=7)), [(1, "id", "valid string")]),
    ("mistyped choices (str)", line(task(choices="a,b")), [(1, "choices", "valid list")]),
    ("mistyped meta (list)", line(task(meta=[1])), [(1, "meta", "valid dictionary")]),
    ("empty question", line(task(question="")), [(1, "question", "at least 1 character")]),
    ("blank answer", line(task(answer="   ")), [(1, "answer", "must not be blank")]),
    ("empty id", line(task(id="")), [(1, "id", "at least 1 character")]),
    ("empty image", line(task(image="")), [(1, "image", "at least 1 character")]),
    ("one choice only", line(task(choices=["red"], answer="red")), [(1, "choices", "at least 2 choices")]),
    ("repeated choices", line(task(choices=["red", "red"], answer="red")), [(1, "choices", "distinct")]),
    (
        "answer not among choices",
        line(task(choices=["red", "blue"], answer="green")),
        [(1, "answer", "neither one of the choices nor an option letter")],
    ),
    (
        "duplicate ids",
        line(task()) + line(task(question="again?")),
        [(2, "id", "duplicate id 't1' (first on line 1)")],
    ),
    (
        "invalid UTF-8",
        b'{"id": "t1", "image": "img/ok.png", "question": "\xff", "answer": "a"}\n',
        [(1, None, "invalid UTF-8 at byte")],
    ),
    (
        "truncated last line",
        line(task()) + b'{"id": "t2", "image": "img/ok.png", "quest',
        [(2, None, "truncated last line?")],
    ),
    (
        "BOM on a later line",
        line(task()) + b"\xef\xbb\xbf" + line(task(id="t2")),
        [(2, None, "not valid JSON")],
    ),
    ("image missing", line(task(image="img/nope.png")), [(1, "image", "sample 't1': image not found: ")]),
    ("image not an image", line(task(image="img/not_an_image.png")), [(1, "image", "not a readable image")]),
    ("image empty file", line(task(image="img/empty.png")), [(1, "image", "not a readable image")]),
    ("image truncated PNG", line(task(image="img/truncated.png")), [(1, "image", "not a readable image")]),
    ("image decompression bomb", line(task(image="img/bomb.png")), [(1, "image", "decompression bomb")]),
    (
        "image too many pixels",
        line(task(image="img/big.png")),
        [(1, "image", "7000x7000 pixels (max 40000000); refused")],
    ),
    ("image 0x0", line(task(image="img/zero.png")), [(1, "image", "img/zero.png: not a readable image")]),
    ("image is a directory", line(task(image="img/adir.png")), [(1, "image", "image not found")]),
    (
        "image PostScript (never decoded)",
        line(task(image="img/postscript.eps")),
        [(1, "image", "not a readable image")],
    ),
    (
        "image URI unsupported scheme",
        line(task(image="http://example.com/a.png")),
        [(1, "image", "unsupported URI scheme 'http'")],
    ),
    ("image URI .. escape", line(task(image="../../etc/passwd")), [(1, "image", "contains '..'")]),
    ("image URI file:// .. escape", line(task(image="file://../x.png")), [(1, "image", "contains '..'")]),
]


def _assert_problems(
    path: Path, problems: list[str], expected: list[tuple[int | None, str | None, str]]
) -> None:
    for lineno, field, fragment in expected:
        loc = f"{path}:{lineno}" if lineno is not None else f"{path}"
        prefix = f"{loc}: {field}: " if field else f"{loc}: "
        assert any(p.startswith(prefix) and fragment in p for p in problems), (prefix, fragment, problems)
    for p in problems:  # every problem names the file (and a line when there is one)
        assert p.startswith(str(path))


@pytest.mark.parametrize(("name", "content", "expected"), TASK_BAD, ids=[c[0] for c in TASK_BAD])
def test_bad_task_files_are_refused_with_path_line_field(
    data_dir: Path, name: str, content: bytes, expected: list[tuple[int | None, str | None, str]]
) -> None:
    path = data_dir / "val.jsonl"
    path.write_bytes(content)
    summary = validate_file(path, "task")
    assert not summary.valid
    _assert_problems(path, summary.problems, expected)
    with pytest.raises(InputError) as err:  # loading refuses the same file, naming the same problems
        load_task(path)
    assert all(p in str(err.value) for p in summary.problems)


TASK_GOOD = [
    ("plain", line(task()), 1),
    ("CRLF line ends", line(task()).replace(b"\n", b"\r\n") + line(task(id="t2")).replace(b"\n", b"\r\n"), 2),
    ("UTF-8 BOM", b"\xef\xbb\xbf" + line(task()), 1),
    ("no final newline", line(task()).rstrip(b"\n"), 1),
    ("blank lines between", line(task()) + b"\n\n" + line(task(id="t2")), 2),
    ("choices with option letter", line(task(choices=["red", "blue"], answer="B")), 1),
    ("numeric answer", line(task(answer="3")), 1),
    ("unicode text", line(task(question="Quelle couleur ? 色", answer="rouge")), 1),
    ("CMYK image", line(task(image="img/cmyk.jpg")), 1),
    ("palette image", line(task(image="img/palette.png")), 1),
    ("16-bit image", line(task(image="img/gray16.png")), 1),
    ("LA image", line(task(image="img/la.png")), 1),
    ("1-bit image", line(task(image="img/one_bit.png")), 1),
    ("float TIFF image", line(task(image="img/float.tif")), 1),
]


@pytest.mark.parametrize(("name", "content", "count"), TASK_GOOD, ids=[c[0] for c in TASK_GOOD])
def test_valid_task_files_pass_and_load_with_resolved_images(
    data_dir: Path, name: str, content: bytes, count: int
) -> None:
    path = data_dir / "val.jsonl"
    path.write_bytes(content)
    summary = validate_file(path, "task")
    assert summary.valid, summary.problems
    assert summary.count == count
    samples = load_task(path)
    assert len(samples) == count
    assert all(Path(s.image).is_absolute() and Path(s.image).is_file() for s in samples)


def test_summary_counts_distinct_images_and_answer_types(data_dir: Path) -> None:
    path = data_dir / "val.jsonl"
    path.write_bytes(
        line(task(id="a"))
        + line(task(id="b", answer="4", image="img/palette.png"))
        + line(task(id="c", choices=["x", "y"], answer="x"))
    )
    s = validate_file(path, "task")
    assert (s.valid, s.count, s.distinct_images) == (True, 3, 2)
    assert s.answer_types == {"short-answer": 1, "number": 1, "multiple-choice": 1}


def test_every_problem_is_reported_up_to_the_cap_and_the_rest_counted(data_dir: Path) -> None:
    path = data_dir / "val.jsonl"
    path.write_bytes(b"".join(line(task(id=f"t{i}", answer="")) for i in range(120)))
    s = validate_file(path, "task", max_problems=50)
    assert len(s.problems) == 50 and s.truncated == 70
    assert s.problems[0].startswith(f"{path}:1: answer:") and s.problems[49].startswith(f"{path}:50: answer:")


def test_problems_on_several_lines_are_all_reported_not_just_the_first(data_dir: Path) -> None:
    path = data_dir / "val.jsonl"
    path.write_bytes(
        line(task()) + b"oops\n" + line(task(id="t3", extra=1)) + line(task(id="t4", image="img/nope.png"))
    )
    s = validate_file(path, "task")
    assert [p.split(": ")[0] for p in s.problems] == [f"{path}:2", f"{path}:3", f"{path}:4"]


def test_each_line_using_a_bad_image_is_reported(data_dir: Path) -> None:
    path = data_dir / "val.jsonl"
    path.write_bytes(line(task(id="a", image="img/nope.png")) + line(task(id="b", image="img/nope.png")))
    s = validate_file(path, "task")
    assert [p.split(": ")[0] for p in s.problems] == [f"{path}:1", f"{path}:2"]
    assert "sample 'b'" in s.problems[1]


def test_no_images_mode_skips_opening_but_still_refuses_escapes(data_dir: Path) -> None:
    path = data_dir / "val.jsonl"
    path.write_bytes(line(task(image="img/nope.png")) + line(task(id="t2", image="../x.png")))
    s = validate_file(path, "task", check_images=False)
    assert len(s.problems) == 1 and "contains '..'" in s.problems[0]


def test_missing_task_file_is_an_input_error_naming_it(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"nope\.jsonl: file not found"):
        validate_file(tmp_path / "nope.jsonl", "task")


def support(**kw: object) -> dict[str, object]:
    rec: dict[str, object] = {
        "id": "s1",
        "image": "img/ok.png",
        "conversations": [
            {"from": "human", "value": "<image>\nWhat shape?"},
            {"from": "gpt", "value": "A circle."},
        ],
    }
    rec.update(kw)
    return {k: v for k, v in rec.items() if v is not ...}


H = {"from": "human", "value": "q"}
G = {"from": "gpt", "value": "a"}

SUPPORT_BAD: list[tuple[str, bytes, list[tuple[int | None, str | None, str]]]] = [
    ("empty file", b"", [(None, None, "file is empty")]),
    ("not JSON", b"{'single': 'quotes'}\n", [(1, None, "not valid JSON")]),
    ("JSON number", b"42\n", [(1, None, "expected a JSON object, got int")]),
    ("missing conversations", line(support(conversations=...)), [(1, "conversations", "Field required")]),
    ("one turn only", line(support(conversations=[H])), [(1, "conversations", "at least 2 items")]),
    (
        "starts with gpt",
        line(support(conversations=[G, H])),
        [(1, "conversations", "conversations[0].from must be 'human'")],
    ),
    (
        "two humans in a row",
        line(support(conversations=[H, H, G])),
        [(1, "conversations", "conversations[1].from must be 'gpt'")],
    ),
    (
        "ends with human",
        line(support(conversations=[H, G, H])),
        [(1, "conversations", "last turn must be from 'gpt'")],
    ),
    (
        "unknown speaker",
        line(support(conversations=[{"from": "user", "value": "q"}, G])),
        [(1, "conversations.0.from", "'human' or 'gpt'")],
    ),
    (
        "turn missing value",
        line(support(conversations=[{"from": "human"}, G])),
        [(1, "conversations.0.value", "Field required")],
    ),
    (
        "empty turn value",
        line(support(conversations=[H, {"from": "gpt", "value": ""}])),
        [(1, "conversations.1.value", "at least 1 character")],
    ),
    (
        "extra turn field",
        line(support(conversations=[{**H, "weight": 1}, G])),
        [(1, "conversations.0.weight", "Extra inputs")],
    ),
    ("extra record field", line(support(caption="x")), [(1, "caption", "Extra inputs")]),
    ("mistyped skills", line(support(skills="colour")), [(1, "skills", "valid list")]),
    ("empty skill", line(support(skills=[""])), [(1, "skills.0", "at least 1 character")]),
    ("empty image string", line(support(image="")), [(1, "image", "at least 1 character")]),
    ("duplicate ids", line(support()) + line(support()), [(2, "id", "duplicate id 's1'")]),
    ("invalid UTF-8", b"\xc3\x28\n", [(1, None, "invalid UTF-8")]),
    ("truncated last line", line(support()) + b'{"id": "s2", "conv', [(2, None, "truncated last line?")]),
    ("image missing", line(support(image="img/gone.jpg")), [(1, "image", "sample 's1': image not found")]),
    (
        "image not an image",
        line(support(image="img/not_an_image.png")),
        [(1, "image", "not a readable image")],
    ),
    ("image .. escape", line(support(image="img/../../x.png")), [(1, "image", "contains '..'")]),
    (
        "image unsupported scheme",
        line(support(image="gs://bucket/x.png")),
        [(1, "image", "unsupported URI scheme 'gs'")],
    ),
]


@pytest.mark.parametrize(("name", "content", "expected"), SUPPORT_BAD, ids=[c[0] for c in SUPPORT_BAD])
def test_bad_support_files_are_refused_with_path_line_field(
    data_dir: Path, name: str, content: bytes, expected: list[tuple[int | None, str | None, str]]
) -> None:
    path = data_dir / "pool.jsonl"
    path.write_bytes(content)
    summary = validate_file(path, "support")
    assert not summary.valid
    _assert_problems(path, summary.problems, expected)


SUPPORT_GOOD = [
    ("with image", line(support()), 1),
    ("text only (no image)", line(support(image=...)), 1),
    (
        "multi-turn, skills and source",
        line(support(conversations=[H, G, H, G], skills=["colour"], source="llava")),
        1,
    ),
    (
        "CRLF + BOM",
        b"\xef\xbb\xbf"
        + line(support()).replace(b"\n", b"\r\n")
        + line(support(id="s2")).replace(b"\n", b"\r\n"),
        2,
    ),
]


@pytest.mark.parametrize(("name", "content", "count"), SUPPORT_GOOD, ids=[c[0] for c in SUPPORT_GOOD])
def test_valid_support_files_pass_and_stream(data_dir: Path, name: str, content: bytes, count: int) -> None:
    path = data_dir / "pool.jsonl"
    path.write_bytes(content)
    summary = validate_file(path, "support")
    assert summary.valid, summary.problems
    assert summary.count == count and summary.answer_types == {}
    samples = list(iter_support(path))
    assert len(samples) == count
    assert all(s.image is None or Path(s.image).is_absolute() for s in samples)


def test_iter_support_names_the_line_of_an_escaping_image_ref(data_dir: Path) -> None:
    path = data_dir / "pool.jsonl"
    path.write_bytes(line(support()) + line(support(id="s2", image="../x.png")))
    it = iter_support(path)
    assert next(it).id == "s1"
    with pytest.raises(InputError, match=rf"{path}:2: image: sample 's2': .*contains '\.\.'"):
        next(it)


def test_support_samples_round_trip_in_llava_field_names(tmp_path: Path) -> None:
    s = SupportSample.model_validate(support(image=...))
    io.write_jsonl(tmp_path / "p.jsonl", [s])
    raw = json.loads((tmp_path / "p.jsonl").read_text())
    assert raw["conversations"][0]["from"] == "human" and "image" not in raw
    assert read_jsonl(tmp_path / "p.jsonl", SupportSample) == [s]


def test_read_jsonl_raises_one_error_listing_every_problem(tmp_path: Path) -> None:
    path = tmp_path / "x.jsonl"
    path.write_bytes(b"nope\n" + line(task(answer=1)) + b"[]\n")
    with pytest.raises(InputError) as err:
        read_jsonl(path, TaskSample)
    assert [str(p).split(": ")[0] for p in err.value.problems] == [f"{path}:1", f"{path}:2", f"{path}:3"]
    assert str(err.value).startswith(f"{path}: 3 problem(s)")


def test_journal_tolerates_a_torn_last_line_only(tmp_path: Path) -> None:
    path = tmp_path / "j.jsonl"
    io.append_jsonl(path, [task(id="a"), task(id="b")])
    with open(path, "ab") as fh:
        fh.write(b'{"id": "c", "ima')  # the writer died here
    assert [s.id for s in read_journal(path, TaskSample)] == ["a", "b"]
    path.write_bytes(line(task(id="a")) + b"garbage\n" + line(task(id="c")))
    with pytest.raises(InputError, match=rf"{path}:2: corrupt journal line"):
        read_journal(path, TaskSample)
    assert read_journal(tmp_path / "missing.jsonl", TaskSample) == []
