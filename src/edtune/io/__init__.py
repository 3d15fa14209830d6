"""Object storage behind one small API: `s3://bucket/key` (boto3), `file://` and plain paths.

Writes are atomic (a reader sees the old object or the new one, never half), large files stream.
"""

from edtune.io.jsonl import append_jsonl, iter_jsonl, read_jsonl, write_jsonl
from edtune.io.storage import (
    copy_dir,
    download_dir,
    exists,
    list_uris,
    read_bytes,
    read_json,
    read_text,
    sha256_bytes,
    sha256_uri,
    upload_dir,
    write_bytes,
    write_json,
    write_text,
)
from edtune.io.uri import Uri, join, parse, resolve_relative

__all__ = [
    "Uri",
    "append_jsonl",
    "copy_dir",
    "download_dir",
    "exists",
    "iter_jsonl",
    "join",
    "list_uris",
    "parse",
    "read_bytes",
    "read_json",
    "read_jsonl",
    "read_text",
    "resolve_relative",
    "sha256_bytes",
    "sha256_uri",
    "upload_dir",
    "write_bytes",
    "write_json",
    "write_jsonl",
    "write_text",
]
