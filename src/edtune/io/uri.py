"""Parse and join storage URIs. Only `s3://`, `file://` and plain paths are accepted; `..` never escapes."""

from __future__ import annotations

import posixpath
from dataclasses import dataclass
from pathlib import Path

from edtune.errors import InputError

SCHEMES = ("s3", "file")


@dataclass(frozen=True)
class Uri:
    scheme: str  # "s3" or "file"
    bucket: str  # "" for file
    path: str  # key for s3, absolute or relative filesystem path for file

    def __str__(self) -> str:
        if self.scheme == "s3":
            return f"s3://{self.bucket}/{self.path}" if self.path else f"s3://{self.bucket}"
        return self.path

    @property
    def local(self) -> Path:
        if self.scheme != "file":
            raise ValueError(f"{self} is not a local path")
        return Path(self.path)


def parse(uri: str | Path) -> Uri:
    """Parse a URI; raise InputError for an unsupported scheme or an empty bucket."""
    text = str(uri)
    if not text:
        raise InputError("empty URI")
    if "://" in text:
        scheme, rest = text.split("://", 1)
        scheme = scheme.lower()
        if scheme == "s3":
            bucket, _, key = rest.partition("/")
            if not bucket:
                raise InputError(f"{text}: an s3 URI needs a bucket (s3://bucket/key)")
            return Uri("s3", bucket, key)
        if scheme == "file":
            if not rest:
                raise InputError(f"{text}: a file URI needs a path (file:///abs/path or file://rel/path)")
            return Uri("file", "", rest)
        raise InputError(f"{text}: unsupported URI scheme {scheme!r} (use s3://, file:// or a path)")
    return Uri("file", "", text)


def _check_relative(part: str, context: str) -> None:
    segments = part.replace("\\", "/").split("/")
    if ".." in segments:
        raise InputError(f"{context}: path {part!r} contains '..' (escapes are refused)")


def join(base: str | Path, *parts: str) -> str:
    """Join path parts onto a URI. Parts must be relative and may not contain `..`."""
    u = parse(base)
    for p in parts:
        _check_relative(p, str(base))
        if p.startswith("/"):
            raise InputError(f"{base}: cannot join absolute part {p!r}")
    if u.scheme == "s3":
        key = posixpath.join(u.path, *parts) if u.path else posixpath.join(*parts)
        return str(Uri("s3", u.bucket, key))
    return str(Path(u.path, *parts))


def resolve_relative(ref: str, relative_to: str | Path) -> str:
    """Resolve `ref` (e.g. a sample's image) against the file that mentions it.

    Absolute refs (a scheme or a leading /) are returned unchanged; relative ones are joined onto the
    directory of `relative_to`. A ref comes from data, not from the user, so no form of it may contain a `..`
    segment (`a/../../x`, `file://../x`, `s3://b/../k`, `/data/../etc`): escapes are refused, never normalised.
    """
    _check_relative(ref, str(relative_to))
    if "://" in ref:
        parse(ref)  # validates the scheme
        return ref
    if ref.startswith("/"):
        return ref
    u = parse(relative_to)
    parent = posixpath.dirname(u.path) if u.scheme == "s3" else str(Path(u.path).parent)
    return join(str(Uri(u.scheme, u.bucket, parent)), ref)
