"""URI parsing, joining and resolution: the only three forms we accept, and `..` never escapes."""

from __future__ import annotations

import pytest

from edtune.errors import InputError
from edtune.io import Uri, join, parse, resolve_relative

PARSE_OK = [
    ("s3://bucket/a/b.jsonl", Uri("s3", "bucket", "a/b.jsonl")),
    ("S3://bucket/k", Uri("s3", "bucket", "k")),
    ("s3://bucket", Uri("s3", "bucket", "")),
    ("file:///abs/x.png", Uri("file", "", "/abs/x.png")),
    ("file://rel/x.png", Uri("file", "", "rel/x.png")),
    ("/abs/path", Uri("file", "", "/abs/path")),
    ("rel/path", Uri("file", "", "rel/path")),
]


@pytest.mark.parametrize(("text", "expected"), PARSE_OK)
def test_parse_accepts_s3_file_and_plain_paths(text: str, expected: Uri) -> None:
    assert parse(text) == expected


PARSE_BAD = [
    ("", "empty URI"),
    ("http://host/x.png", "unsupported URI scheme 'http'"),
    ("gs://bucket/x", "unsupported URI scheme 'gs'"),
    ("ftp://h/x", "unsupported URI scheme 'ftp'"),
    ("s3:///key-without-bucket", "needs a bucket"),
    ("file://", "needs a path"),
]


@pytest.mark.parametrize(("text", "fragment"), PARSE_BAD)
def test_parse_refuses_unsupported_or_incomplete_uris(text: str, fragment: str) -> None:
    with pytest.raises(InputError, match=fragment):
        parse(text)


def test_str_round_trips_s3_uris() -> None:
    assert str(parse("s3://b/k/x")) == "s3://b/k/x"
    assert str(parse("s3://b")) == "s3://b"


JOIN_OK = [
    ("s3://b/run", ("round-01", "traces.jsonl"), "s3://b/run/round-01/traces.jsonl"),
    ("s3://b", ("x.json",), "s3://b/x.json"),
    ("s3://b/run/", ("x.json",), "s3://b/run/x.json"),
    ("/data/run", ("a", "b.txt"), "/data/run/a/b.txt"),
    ("rel", ("a.txt",), "rel/a.txt"),
]


@pytest.mark.parametrize(("base", "parts", "expected"), JOIN_OK)
def test_join_appends_relative_parts(base: str, parts: tuple[str, ...], expected: str) -> None:
    assert join(base, *parts) == expected


JOIN_BAD = [
    ("s3://b/run", "../other", "'..'"),
    ("/data/run", "a/../../etc", "'..'"),
    ("/data/run", "..\\windows", "'..'"),
    ("/data/run", "/etc/passwd", "absolute part"),
    ("s3://b/run", "/abs", "absolute part"),
]


@pytest.mark.parametrize(("base", "part", "fragment"), JOIN_BAD)
def test_join_refuses_escapes_and_absolute_parts(base: str, part: str, fragment: str) -> None:
    with pytest.raises(InputError, match=fragment):
        join(base, part)


RESOLVE_OK = [
    ("img/a.png", "/data/task/val.jsonl", "/data/task/img/a.png"),
    ("a.png", "val.jsonl", "a.png"),
    ("./a.png", "/d/val.jsonl", "/d/a.png"),
    ("img/a.png", "s3://b/task/val.jsonl", "s3://b/task/img/a.png"),
    ("a.png", "s3://b/val.jsonl", "s3://b/a.png"),
    ("/abs/a.png", "s3://b/task/val.jsonl", "/abs/a.png"),
    ("s3://other/a.png", "/d/val.jsonl", "s3://other/a.png"),
    ("file:///abs/a.png", "/d/val.jsonl", "file:///abs/a.png"),
]


@pytest.mark.parametrize(("ref", "relative_to", "expected"), RESOLVE_OK)
def test_resolve_relative_joins_onto_the_files_directory_and_keeps_absolute_refs(
    ref: str, relative_to: str, expected: str
) -> None:
    assert resolve_relative(ref, relative_to) == expected


RESOLVE_BAD = [
    ("../secret.png", "/d/val.jsonl", "'..'"),
    ("img/../../x.png", "/d/val.jsonl", "'..'"),
    ("..\\x.png", "/d/val.jsonl", "'..'"),
    ("file://../x.png", "/d/val.jsonl", "'..'"),
    ("s3://b/../k.png", "/d/val.jsonl", "'..'"),
    ("/data/../etc/passwd", "/d/val.jsonl", "'..'"),
    ("http://evil/x.png", "/d/val.jsonl", "unsupported URI scheme"),
]


@pytest.mark.parametrize(("ref", "relative_to", "fragment"), RESOLVE_BAD)
def test_resolve_relative_refuses_escapes_and_unsupported_schemes(
    ref: str, relative_to: str, fragment: str
) -> None:
    with pytest.raises(InputError, match=fragment):
        resolve_relative(ref, relative_to)
