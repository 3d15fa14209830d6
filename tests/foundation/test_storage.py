"""Object storage on local disk and on a real S3 API (moto server over HTTP): same behaviour, same errors."""

from __future__ import annotations

import json
import os
import stat
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest

from edtune import io
from edtune.errors import InputError
from edtune.io.storage import open_read, open_write, s3_client


@pytest.fixture(params=["local", "s3"])
def root(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A writable prefix: a temp dir, or a fresh bucket on the moto server."""
    if request.param == "local":
        return str(tmp_path / "store")
    bucket = request.getfixturevalue("s3_bucket")
    return f"s3://{bucket}/store"


def test_bytes_text_and_json_round_trip(root: str) -> None:
    io.write_bytes(io.join(root, "a.bin"), b"\x00\x01\xff")
    io.write_text(io.join(root, "sub/b.txt"), "héllo\n")
    io.write_json(io.join(root, "c.json"), {"b": [1, 2], "a": None})
    assert io.read_bytes(io.join(root, "a.bin")) == b"\x00\x01\xff"
    assert io.read_text(io.join(root, "sub/b.txt")) == "héllo\n"
    assert io.read_json(io.join(root, "c.json")) == {"a": None, "b": [1, 2]}


def test_read_text_strips_a_utf8_bom_and_refuses_invalid_utf8(root: str) -> None:
    io.write_bytes(io.join(root, "bom.txt"), b"\xef\xbb\xbfabc")
    assert io.read_text(io.join(root, "bom.txt")) == "abc"
    io.write_bytes(io.join(root, "bad.txt"), b"ab\xff")
    with pytest.raises(InputError, match=r"bad\.txt: not valid UTF-8 \(byte 2\)"):
        io.read_text(io.join(root, "bad.txt"))


def test_read_json_names_the_uri_and_line_of_a_syntax_error(root: str) -> None:
    io.write_text(io.join(root, "x.json"), '{\n  "a": 1,\n  oops\n}')
    with pytest.raises(InputError, match=r"x\.json:3: not valid JSON"):
        io.read_json(io.join(root, "x.json"))


def test_exists_is_true_for_objects_only(root: str) -> None:
    io.write_text(io.join(root, "d/x.txt"), "x")
    assert io.exists(io.join(root, "d/x.txt"))
    assert not io.exists(io.join(root, "d/missing.txt"))
    assert not io.exists(io.join(root, "d"))  # a directory is not an object, as an S3 prefix is not


def test_missing_object_is_an_input_error_naming_the_uri(root: str) -> None:
    uri = io.join(root, "nope/x.json")
    for reader in (io.read_bytes, io.read_text, io.read_json, io.sha256_uri):
        with pytest.raises(InputError, match=rf"{uri}: (file|object) not found"):
            reader(uri)


def test_missing_bucket_is_an_input_error_naming_the_bucket(s3_bucket: str) -> None:
    uri = f"s3://{s3_bucket}-missing/x.json"
    with pytest.raises(InputError, match=rf"{uri}: bucket '{s3_bucket}-missing' does not exist"):
        io.read_bytes(uri)
    with pytest.raises(InputError, match="does not exist"):
        io.list_uris(f"s3://{s3_bucket}-missing/prefix")
    assert not io.exists(uri)


def test_list_is_recursive_sorted_and_empty_for_a_missing_prefix(root: str) -> None:
    for rel in ("b/2.txt", "a.txt", "b/c/3.txt"):
        io.write_text(io.join(root, "L", rel), rel)
    io.write_text(io.join(root, "L2/other.txt"), "not under L/")
    listed = io.list_uris(io.join(root, "L"))
    assert listed == [io.join(root, "L", r) for r in ("a.txt", "b/2.txt", "b/c/3.txt")]
    assert io.list_uris(io.join(root, "missing")) == []
    assert io.list_uris(io.join(root, "L/a.txt")) == [io.join(root, "L/a.txt")]


def test_s3_listing_paginates_past_1000_keys(s3_bucket: str) -> None:
    client = boto3.client("s3")
    for i in range(1105):
        client.put_object(Bucket=s3_bucket, Key=f"many/{i:05d}", Body=b"")
    listed = io.list_uris(f"s3://{s3_bucket}/many")
    assert len(listed) == 1105
    assert listed[0] == f"s3://{s3_bucket}/many/00000" and listed[-1] == f"s3://{s3_bucket}/many/01104"


COPY_PAIRS = [("local", "s3"), ("s3", "local"), ("local", "local"), ("s3", "s3")]


@pytest.mark.parametrize(("src_kind", "dst_kind"), COPY_PAIRS)
def test_copy_dir_copies_every_file_between_any_two_stores(
    src_kind: str, dst_kind: str, tmp_path: Path, s3_bucket: str
) -> None:
    def base(kind: str, name: str) -> str:
        return f"s3://{s3_bucket}/{name}" if kind == "s3" else str(tmp_path / name)

    src, dst = base(src_kind, "src"), base(dst_kind, "dst")
    files = {
        "adapter_config.json": b"{}",
        "weights/model.safetensors": os.urandom(3000),
        "deep/a/b/c.txt": b"c",
    }
    for rel, data in files.items():
        io.write_bytes(io.join(src, rel), data)
    copied = io.copy_dir(src, dst)
    assert sorted(copied) == sorted(files)
    for rel, data in files.items():
        assert io.read_bytes(io.join(dst, rel)) == data
        assert io.sha256_uri(io.join(dst, rel)) == io.sha256_bytes(data)


def test_upload_and_download_dir_round_trip(tmp_path: Path, s3_bucket: str) -> None:
    (tmp_path / "up" / "x").mkdir(parents=True)
    (tmp_path / "up" / "x" / "f.bin").write_bytes(b"123")
    assert io.upload_dir(tmp_path / "up", f"s3://{s3_bucket}/adapters/r1") == ["x/f.bin"]
    assert io.download_dir(f"s3://{s3_bucket}/adapters/r1/", tmp_path / "down") == ["x/f.bin"]
    assert (tmp_path / "down" / "x" / "f.bin").read_bytes() == b"123"


def test_download_refuses_keys_that_would_escape_the_destination(tmp_path: Path, s3_bucket: str) -> None:
    boto3.client("s3").put_object(Bucket=s3_bucket, Key="evil/../../outside.txt", Body=b"x")
    with pytest.raises(InputError, match=r"'\.\.'"):
        io.download_dir(f"s3://{s3_bucket}/evil", tmp_path / "dst")
    assert not (tmp_path / "outside.txt").exists()


def test_sha256_matches_hashlib(root: str) -> None:
    data = os.urandom(100_000)
    io.write_bytes(io.join(root, "h.bin"), data)
    assert io.sha256_uri(io.join(root, "h.bin")) == io.sha256_bytes(data)
    assert io.sha256_bytes(b"") == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"


class Boom(RuntimeError):
    pass


def test_a_failing_write_leaves_the_old_object_intact_and_no_temp_files(root: str) -> None:
    uri = io.join(root, "atomic/state.json")
    io.write_json(uri, {"v": 1})
    with pytest.raises(Boom), open_write(uri) as fh:
        fh.write(b'{"v": 2, "half')
        raise Boom
    assert io.read_json(uri) == {"v": 1}
    assert io.list_uris(io.join(root, "atomic")) == [uri]
    if not uri.startswith("s3://"):
        assert sorted(p.name for p in Path(uri).parent.iterdir()) == ["state.json"]


def test_a_failing_first_write_creates_nothing(root: str) -> None:
    uri = io.join(root, "fresh/out.jsonl")
    with pytest.raises(Boom), open_write(uri) as fh:
        fh.write(b"partial")
        raise Boom
    assert not io.exists(uri)
    assert io.list_uris(io.join(root, "fresh")) == []


def test_an_s3_object_appears_only_when_the_write_completes(s3_bucket: str) -> None:
    uri = f"s3://{s3_bucket}/stream/out.bin"
    with open_write(uri) as fh:
        fh.write(b"x" * 1000)
        assert not io.exists(uri)  # nothing visible while the block runs
    assert io.read_bytes(uri) == b"x" * 1000


def test_local_atomic_writes_get_normal_file_permissions(tmp_path: Path) -> None:
    # mkstemp creates 0600 files; a published file must be readable as if written by open() (0666 & ~umask)
    old = os.umask(0o022)
    try:
        io.write_text(tmp_path / "perm.txt", "x")
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "perm.txt").stat().st_mode) == 0o644


def test_the_next_write_of_an_object_removes_what_a_killed_write_of_it_left(tmp_path: Path) -> None:
    # what a SIGKILL between mkstemp and the rename leaves: the temp files of earlier writes of this object
    target = tmp_path / "round-02" / "gaps.json"
    target.parent.mkdir()
    killed = [target.parent / f".gaps.json.{r}.edtune-tmp" for r in ("a1b2c3", "zz9")]
    for leftover in killed:
        leftover.write_text("{partial")
    other = target.parent / ".gaps.json.bak.edtune-tmp.keep"  # not a temp file of ours
    neighbour = target.parent / ".traces.jsonl.q7.edtune-tmp"  # another object's write, maybe in flight
    other.write_text("x")
    neighbour.write_text("x")
    io.write_json(str(target), {"ok": True})
    assert io.read_json(str(target)) == {"ok": True}
    assert not any(p.exists() for p in killed)
    assert other.exists() and neighbour.exists()
    # a name with glob characters sweeps only its own leftovers
    odd = tmp_path / "round-02" / "a[1].json"
    lookalike = tmp_path / "round-02" / ".a1.json.r.edtune-tmp"
    lookalike.write_text("x")
    io.write_json(str(odd), {})
    assert lookalike.exists()
    # a second kill of the same object in the same process is swept by the next write too
    again = target.parent / ".gaps.json.k2.edtune-tmp"
    again.write_text("{partial")
    io.write_json(str(target), {"ok": 2})
    assert not again.exists() and io.read_json(str(target)) == {"ok": 2}


def test_in_flight_temp_files_are_not_listed_but_user_tmp_files_are(tmp_path: Path) -> None:
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "data.tmp").write_text("a user file that happens to end in .tmp")
    with open_write(tmp_path / "d" / "x.json") as fh:
        fh.write(b"{}")
        listed = io.list_uris(tmp_path / "d")
    assert listed == [str(tmp_path / "d" / "data.tmp")]


LOCAL_READ_ERRORS = [
    ("directory", "is a directory"),
    ("unreadable", "permission denied"),
]


@pytest.mark.parametrize(("case", "fragment"), LOCAL_READ_ERRORS)
def test_local_read_errors_are_input_errors_naming_the_path(tmp_path: Path, case: str, fragment: str) -> None:
    target = tmp_path / case
    if case == "directory":
        target.mkdir()
    else:
        if os.geteuid() == 0:
            pytest.skip("root reads any file")
        target.write_text("x")
        target.chmod(0)
    for reader in (io.read_bytes, io.sha256_uri):
        with pytest.raises(InputError, match=rf"{target}: {fragment}"):
            reader(target)


def test_open_read_does_not_relabel_errors_raised_by_the_callers_block(tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_text("a")
    with pytest.raises(FileNotFoundError), open_read(tmp_path / "a.txt"):
        raise FileNotFoundError("raised by the caller, not by open_read")


@pytest.fixture()
def big_jsonl_records() -> Iterator[dict[str, object]]:
    return ({"id": f"s{i:06d}", "text": "x" * 40, "n": i} for i in range(200_000))


def test_write_jsonl_streams_a_large_generator_and_reads_back_streaming(
    root: str, big_jsonl_records: Iterator[dict[str, object]]
) -> None:
    from pydantic import BaseModel

    class Row(BaseModel):
        id: str
        text: str
        n: int

    uri = io.join(root, "big.jsonl")
    assert io.write_jsonl(uri, big_jsonl_records) == 200_000
    count, last = 0, None
    for rec in io.iter_jsonl(uri, Row):
        assert rec.n == count
        count += 1
        last = rec
    assert count == 200_000 and last is not None and last.id == "s199999"


def test_s3_client_follows_aws_endpoint_url(s3_bucket: str, moto_server: str) -> None:
    assert s3_client().meta.endpoint_url == moto_server
    # one client per endpoint: building one costs milliseconds on every call
    assert s3_client() is s3_client()
    assert json.loads(json.dumps(io.list_uris(f"s3://{s3_bucket}"))) == []
