"""`import_pool`: faithful conversion of each format, refusal by file/line/field, dedup, idempotent reruns."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from edtune.imports import import_pool
from edtune.schemas import SupportSample

from .conftest import write_parquet


def png(color: str = "red") -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (8, 8), color).save(buf, format="PNG")
    return buf.getvalue()


def llava(i: str, image: str | None = "a.png", turns: int = 2) -> dict[str, Any]:
    conv = [{"from": "human" if k % 2 == 0 else "gpt", "value": f"turn {k} of {i}"} for k in range(turns)]
    conv[0]["value"] = "<image>\n" + conv[0]["value"] if image else conv[0]["value"]
    return {"id": i, "image": image, "conversations": conv} if image else {"id": i, "conversations": conv}


@pytest.fixture()
def src(tmp_path: Path) -> Path:
    d = tmp_path / "src"
    d.mkdir()
    (d / "a.png").write_bytes(png("red"))
    (d / "b.png").write_bytes(png("blue"))
    (d / "broken.png").write_bytes(png("green")[:40])
    return d


def jsonl(path: Path, records: list[Any]) -> str:
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in records))
    return str(path)


def read_pool(out: Path) -> list[SupportSample]:
    return [SupportSample.model_validate_json(x) for x in (out / "pool.jsonl").read_text().splitlines()]


def test_multi_turn_llava_and_both_messages_styles_convert_faithfully(src: Path, tmp_path: Path) -> None:
    a = jsonl(src / "l.jsonl", [llava("l1", turns=4)])
    swift = {
        "id": "m1",
        "messages": [{"role": "user", "content": "What colour?"}, {"role": "assistant", "content": "red"}],
        "images": ["a.png"],
    }
    trl = {
        "messages": [
            {"role": "user", "content": [{"type": "text", "text": "Shape?"}, {"type": "image"}]},
            {"role": "assistant", "content": [{"type": "text", "text": "square"}]},
        ],
        "images": ["b.png"],
    }
    text_only = {
        "id": "t1",
        "messages": [{"role": "user", "content": "2+2?"}, {"role": "assistant", "content": "4"}],
    }
    m = jsonl(src / "m.jsonl", [swift, trl, text_only])
    r = import_pool([a, m], str(tmp_path / "out"))
    assert (r.imported, r.refused, r.duplicates) == (4, 0, 0)
    got = {s.id: s for s in read_pool(tmp_path / "out")}
    assert [t.value for t in got["l1"].conversations] == [
        t["value"] for t in llava("l1", turns=4)["conversations"]
    ]
    assert got["m1"].conversations[0].value == "<image>\nWhat colour?"  # placed in the first human turn
    assert got["m-2"].conversations[0].value == "Shape?\n<image>"  # a TRL record without id: file stem + line
    assert got["t1"].image is None
    assert got["m1"].image != got["m-2"].image and (tmp_path / "out" / got["m1"].image).read_bytes() == png(
        "red"
    )


REFUSED = [
    # name, record, field fragment, message fragment
    (
        "system turn",
        {
            "messages": [
                {"role": "system", "content": "be nice"},
                {"role": "user", "content": "q"},
                {"role": "assistant", "content": "a"},
            ]
        },
        "messages.0.role",
        "'system' turn",
    ),
    ("two images", {**llava("x"), "image": ["a.png", "b.png"]}, "image", "multi-image refused"),
    (
        "placeholder in a later turn",
        {
            "id": "x",
            "image": "a.png",
            "conversations": [
                {"from": "human", "value": "q"},
                {"from": "gpt", "value": "a"},
                {"from": "human", "value": "<image> q2"},
                {"from": "gpt", "value": "a2"},
            ],
        },
        "conversations",
        "not in the first human turn",
    ),
    (
        "placeholder without an image",
        llava("x", image=None)
        | {"conversations": [{"from": "human", "value": "<image> q"}, {"from": "gpt", "value": "a"}]},
        "image",
        "names no image",
    ),
    (
        "turns out of order",
        {"id": "x", "conversations": [{"from": "gpt", "value": "a"}, {"from": "human", "value": "q"}]},
        "conversations.0.from",
        "alternate",
    ),
    (
        "one turn",
        {"id": "x", "conversations": [{"from": "human", "value": "q"}]},
        "conversations",
        "1 turn(s)",
    ),
    ("wrong type of conversations", {"id": "x", "conversations": "q? a."}, "conversations", "got str"),
    ("wrong type of id", {**llava("x"), "id": ["x"]}, "id", "got list"),
    (
        "blank answer",
        {"id": "x", "conversations": [{"from": "human", "value": "q"}, {"from": "gpt", "value": " "}]},
        "conversations.1.value",
        "blank",
    ),
    ("missing image file", llava("x", image="nope.png"), "image", "image not found"),
    ("truncated image", llava("x", image="broken.png"), "image", "not a readable image"),
    ("bad base64", {**llava("x"), "image": "data:image/png;base64,***"}, "image", "not valid base64"),
    ("unknown format", {"id": "x", "text": "hello"}, None, "no 'conversations' (LLaVA)"),
    ("not an object", [1, 2], None, "expected a JSON object, got list"),
    ("not JSON", "{'id': 1}", None, "not valid JSON"),
]


@pytest.mark.parametrize(("name", "record", "field", "message"), REFUSED, ids=[c[0] for c in REFUSED])
def test_a_bad_record_is_refused_by_line_and_field_and_the_rest_imported(
    src: Path, tmp_path: Path, name: str, record: Any, field: str | None, message: str
) -> None:
    path = jsonl(src / "p.jsonl", [llava("ok1"), record, llava("ok2", image="b.png")])
    r = import_pool([path], str(tmp_path / "out"))
    assert (r.imported, r.refused) == (2, 1), r.problems
    prefix = f"{path}:2: {field}: " if field else f"{path}:2: "
    assert r.problems[0].startswith(prefix) and message in r.problems[0], r.problems
    assert (tmp_path / "out" / "refused.txt").read_text() == r.problems[0] + "\n"
    assert not list((tmp_path / "out" / "images").rglob("*.png"))[2:], "a refused record writes no image"


def test_non_utf8_lines_are_refused_by_line(src: Path, tmp_path: Path) -> None:
    path = src / "p.jsonl"
    path.write_bytes(json.dumps(llava("ok")).encode() + b'\n{"id": "caf\xe9"}\n')
    r = import_pool([str(path)], str(tmp_path / "out"))
    assert (r.imported, r.refused) == (1, 1) and r.problems == [f"{path}:2: invalid UTF-8 at byte 11"]


def test_duplicates_by_id_and_by_content_are_skipped_and_named(src: Path, tmp_path: Path) -> None:
    first = jsonl(src / "a.jsonl", [llava("s1"), llava("s2", image="b.png")])
    same_content = {**llava("s2"), "id": "s3", "image": "b.png"}
    same_content["conversations"][0]["value"] = "<image>\nturn 0 of s2"
    second = jsonl(src / "b.jsonl", [llava("s1", image="b.png"), same_content])
    r = import_pool([first, second], str(tmp_path / "out"))
    assert (r.read, r.imported, r.refused, r.duplicates) == (4, 2, 0, 2)
    assert f"{second}:1: id: duplicate id 's1' (first at {first}:1)" in r.problems[0]
    assert f"same image and conversation as {first}:2" in r.problems[1]
    assert r.images_written == 2, "each distinct image is stored once"


def test_a_json_array_streams_with_element_lines_and_a_truncated_tail_is_reported(
    src: Path, tmp_path: Path
) -> None:
    path = src / "arr.json"
    path.write_text(
        "[\n"
        + json.dumps(llava("a1"))
        + ",\n"
        + json.dumps(llava("a2"))
        + ",\n"
        + json.dumps(llava("a3"))[:30]
    )
    r = import_pool([str(path)], str(tmp_path / "out"))
    assert r.imported == 2 and r.refused == 1
    assert r.problems[0].startswith(f"{path}:4: ")


def test_parquet_rows_are_named_by_row(src: Path, tmp_path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    rows = [
        {
            "id": "p1",
            "image": {"bytes": png("red"), "path": None},
            "conversations": llava("p1")["conversations"],
        },
        {
            "id": "p2",
            "image": {"bytes": b"not an image", "path": None},
            "conversations": llava("p2")["conversations"],
        },
    ]
    pq.write_table(pa.Table.from_pylist(rows), src / "x.parquet")
    r = import_pool([str(src / "x.parquet")], str(tmp_path / "out"))
    assert (r.imported, r.refused) == (1, 1)
    assert r.problems[0].startswith(f"{src / 'x.parquet'}:row 2: image: ")


def test_a_rerun_writes_the_same_pool_and_no_image_again(src: Path, tmp_path: Path) -> None:
    path = jsonl(src / "p.jsonl", [llava("a"), llava("b", image="b.png"), llava("c")])
    first = import_pool([path], str(tmp_path / "out"))
    before = (tmp_path / "out" / "pool.jsonl").read_bytes()
    again = import_pool([path], str(tmp_path / "out"))
    assert (tmp_path / "out" / "pool.jsonl").read_bytes() == before
    assert (first.images_written, again.images_written) == (2, 0)


def test_imports_to_s3(src: Path, s3_bucket: str) -> None:
    from edtune import io as eio
    from edtune.datasets import validate_file

    path = jsonl(src / "p.jsonl", [llava("a"), llava("b", image="b.png")])
    r = import_pool([path], f"s3://{s3_bucket}/pool")
    assert r.imported == 2
    summary = validate_file(f"s3://{s3_bucket}/pool/pool.jsonl")
    assert (summary.valid, summary.kind, summary.distinct_images) == (True, "support", 2)
    assert eio.exists(f"s3://{s3_bucket}/pool/refused.txt")


def test_an_unreadable_source_writes_nothing(src: Path, tmp_path: Path) -> None:
    from edtune.errors import InputError

    ok = jsonl(src / "p.jsonl", [llava("a")])
    (src / "notarray.json").write_text("hello")
    (src / "broken.parquet").write_bytes(b"PAR1 not really")
    for bad, fragment in (
        (str(src / "nope.jsonl"), "no such file"),
        (str(src / "x.csv"), "unknown file type"),
        (str(src / "notarray.json"), "neither a JSON array nor JSON lines"),
        (str(src / "broken.parquet"), "not a readable Parquet file"),
    ):
        with pytest.raises(InputError, match=fragment):
            import_pool([ok, bad], str(tmp_path / "out"))
    assert not (tmp_path / "out").exists()


def test_the_shapes_pool_survives_a_round_trip_through_parquet(tmp_path: Path, world: Path) -> None:
    recs = [json.loads(x) for x in (world / "pool.jsonl").read_text().splitlines()][:30]
    write_parquet(tmp_path / "p.parquet", recs, world)
    r = import_pool([str(tmp_path / "p.parquet")], str(tmp_path / "out"))
    got = read_pool(tmp_path / "out")
    assert r.refused == 0 and r.imported + r.duplicates == 30
    by_id = {s.id: s for s in got}
    for rec in recs:
        if rec["id"] in by_id:
            s = by_id[rec["id"]]
            assert [t.model_dump() for t in s.conversations] == rec["conversations"]
            assert (tmp_path / "out" / s.image).read_bytes() == (world / rec["image"]).read_bytes()


def test_cauldron_rows_with_user_assistant_pairs_convert(src: Path, tmp_path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    rows = [
        {
            "images": [{"bytes": png("red"), "path": None}],
            "texts": [
                {"user": "Colour?", "assistant": "red", "source": "x"},
                {"user": "Sure?", "assistant": "yes", "source": "x"},
            ],
        },
        {
            "images": [{"bytes": png("red"), "path": None}, {"bytes": png("blue"), "path": None}],
            "texts": [{"user": "Same?", "assistant": "no", "source": "x"}],
        },
    ]
    pq.write_table(pa.Table.from_pylist(rows), src / "cauldron.parquet")
    r = import_pool([str(src / "cauldron.parquet")], str(tmp_path / "out"))
    assert (r.imported, r.refused) == (1, 1)
    assert (
        r.problems[0]
        == f"{src / 'cauldron.parquet'}:row 2: images: 2 images; a support sample holds one image (multi-image refused)"
    )
    (s,) = read_pool(tmp_path / "out")
    assert [t.value for t in s.conversations] == [
        "<image>\nColour?",
        "red",
        "Sure?",
        "yes",
    ] and s.id == "cauldron-r1"


def test_non_utf8_inside_a_json_array_refuses_that_element_only(src: Path, tmp_path: Path) -> None:
    bad = json.dumps(llava("b")).encode().replace(b"turn 0 of b", b"caf\xe9")  # a Latin-1 byte
    body = (
        b"[\n"
        + json.dumps(llava("a")).encode()
        + b",\n"
        + bad
        + b",\n"
        + json.dumps(llava("c")).encode()
        + b"\n]"
    )
    (src / "arr.json").write_bytes(body)
    r = import_pool([str(src / "arr.json")], str(tmp_path / "out"))
    assert (r.imported, r.refused) == (2, 1)
    assert r.problems == [f"{src / 'arr.json'}:3: invalid UTF-8 inside this element"]
