"""Where things live in the adapter registry, and how a stored manifest is read and trusted.

    <registry>/adapters/<task>/<version>/<adapter files...>   (exactly the files listed in the manifest)
    <registry>/adapters/<task>/<version>/manifest.json         (written last: its presence marks a complete version)
    <registry>/adapters/<task>/latest.json                     (the pointer, moved by compare-and-swap)

`version` is `<run_id>-<12 hex>` where the hex is a hash of the manifest's `files` map, so the same run with the
same weights always maps to the same version and different weights never collide. Every other publish module
builds its URIs from here, so the layout is written down once.
"""

from __future__ import annotations

import hashlib
import re

from pydantic import ValidationError

from edtune.errors import InputError, ModelError
from edtune.io import join, read_bytes
from edtune.schemas import AdapterManifest

MANIFEST_NAME = "manifest.json"
LATEST_NAME = "latest.json"
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")
_UNSAFE_SUFFIXES = (".bin", ".pt", ".pth", ".pkl", ".pickle", ".ckpt")
_SHA_RE = re.compile(r"[0-9a-f]{64}")


def check_name(value: str, what: str) -> str:
    """A task, run id or version must be one safe path part (they become S3 keys and local dir names)."""
    if not _NAME_RE.match(value):
        raise InputError(
            f"{what} {value!r} is not a valid name: use letters, digits, '.', '_' or '-' (max 100, no leading punctuation)"
        )
    return value


def version_id(run_id: str, manifest: AdapterManifest) -> str:
    """`<run_id>-<first 12 hex of sha256 over the sorted 'path<TAB>sha256' lines of manifest.files>`."""
    check_name(run_id, "run id")
    lines = "".join(f"{path}\t{digest}\n" for path, digest in sorted(manifest.files.items()))
    return f"{run_id}-{hashlib.sha256(lines.encode()).hexdigest()[:12]}"


def task_uri(registry: str, task: str) -> str:
    return join(registry, "adapters", check_name(task, "task"))


def version_uri(registry: str, task: str, version: str) -> str:
    return join(task_uri(registry, task), check_name(version, "version"))


def latest_uri(registry: str, task: str) -> str:
    return join(task_uri(registry, task), LATEST_NAME)


def manifest_problems(manifest: AdapterManifest) -> list[str]:
    """What makes a parsed manifest unfit for the registry: no files, unsafe paths, pickles, bad digests."""
    if not manifest.files:
        return ["files: the manifest lists no adapter files"]
    problems = []
    for rel, digest in manifest.files.items():
        parts = rel.replace("\\", "/").split("/")
        if rel.startswith("/") or ".." in parts or rel == MANIFEST_NAME:
            problems.append(f"files: path {rel!r} is absolute, escapes, or is reserved")
        elif rel.lower().endswith(_UNSAFE_SUFFIXES):
            problems.append(f"files: {rel!r} is a pickle-based format; adapters are safetensors only")
        if not _SHA_RE.fullmatch(digest):
            problems.append(f"files.{rel}: {digest!r} is not a sha256 hex digest")
    return problems


def parse_manifest(data: bytes, where: str) -> AdapterManifest:
    """Parse and check manifest bytes; ModelError naming `where` (exit 2: an input the user must fix)."""
    try:
        manifest = AdapterManifest.model_validate_json(data)
    except ValidationError as exc:
        detail = "; ".join(
            f"{'.'.join(map(str, e['loc'])) or '(file)'}: {e['msg']}" for e in exc.errors()[:10]
        )
        raise ModelError(f"{where}: not a valid AdapterManifest: {detail}") from None
    problems = manifest_problems(manifest)
    if problems:
        raise ModelError(f"{where}: {problems[0]}")
    return manifest


def load_manifest(manifest_uri: str) -> tuple[AdapterManifest, bytes]:
    """The manifest at `manifest_uri` and its exact bytes (the bytes are what versions and pointers hash)."""
    data = read_bytes(manifest_uri)
    return parse_manifest(data, manifest_uri), data


def manifest_gain(manifest: AdapterManifest) -> float:
    """Validation gain of the kept round over the base student (round 0): the pipeline's publish gate measure."""
    by_round = {m.round: m for m in manifest.rounds}
    if 0 not in by_round or manifest.best_round not in by_round:
        raise ModelError(
            f"rounds: the manifest has no metrics for round 0 and best_round {manifest.best_round}; "
            "its gain cannot be measured"
        )
    return by_round[manifest.best_round].val_accuracy - by_round[0].val_accuracy
