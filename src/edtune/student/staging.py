"""`edtune models stage ID_OR_DIR s3://…`: copy a base model to object storage once, with checksums.

Pipeline pods never download from a model hub (no egress, no rate limits, no silently moved revisions): they read
`student.base: s3://…`, which `resolve_local` syncs into the task's cache and `verify_checkpoint` checks against
the `manifest.json` written here (sha256 of every file). Only what a checkpoint needs travels: safetensors
weights, configs, tokenizer and processor files; pickled weights are refused, as everywhere in edtune.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from pathlib import Path

from pydantic import BaseModel

from edtune.errors import InputError, ModelError
from edtune.log import kv

log = logging.getLogger(__name__)

SKIP = {".gitattributes", "manifest.json"}


class StagedModel(BaseModel):
    source: str  # what was given: a hub id or a directory
    local_dir: str  # where it was read from (the HF cache snapshot for a hub id)
    dest: str  # the object-store prefix; use it as student.base
    files: int
    bytes: int
    manifest: str  # dest/manifest.json: {"files": {rel: sha256}, "source", "revision", "staged_at"}


def _source_dir(source: str) -> tuple[Path, str | None]:
    """The local directory of `source` and its revision (the HF snapshot's commit for a hub id)."""
    from edtune.student.hub import parse_hub_id, resolve_hub

    if parse_hub_id(source) is not None:
        path = resolve_hub(source)
        return path, path.name  # snapshots/<commit sha>
    path = Path(source.removeprefix("file://")).expanduser()
    if not path.is_dir():
        raise InputError(f"{source}: not a directory nor a hub id ORG/NAME[@REVISION] in the HF cache")
    return path, None


def _files(model_dir: Path) -> list[Path]:
    from edtune.student.checkpoint import PICKLE_WEIGHTS, read_config

    read_config(model_dir)  # a Hugging Face checkpoint at least has config.json
    files = sorted(p for p in model_dir.rglob("*") if p.is_file() and p.name not in SKIP)
    pickled = [p.name for p in files if p.suffix in PICKLE_WEIGHTS]
    weights = [p for p in files if p.suffix == ".safetensors"]
    if not weights:
        raise ModelError(
            f"{model_dir}: no *.safetensors weights"
            + (f" (only pickled: {', '.join(pickled)}; edtune loads safetensors only)" if pickled else "")
        )
    return [p for p in files if p.suffix not in PICKLE_WEIGHTS]


def stage_model(source: str, dest: str) -> StagedModel:
    """Verify `source`, upload every file under `dest`, then write `dest/manifest.json` last.

    The manifest is written after every file, so a prefix with a manifest is complete; a rerun re-uploads (S3
    has no rename), which keeps the operation simple and idempotent. The sha256 of each file is taken from the
    local copy, and every weight header is parsed before anything is sent.
    """
    from edtune.io import join, list_uris, parse, write_json
    from edtune.io.storage import copy_dir
    from edtune.student.checkpoint import check_safetensors, sha256_file

    if parse(dest).scheme != "s3" and not dest.startswith(("file://", "/")):
        raise InputError(f"{dest}: expected an object-store prefix such as s3://bucket/models/NAME")
    model_dir, revision = _source_dir(source)
    files = _files(model_dir)
    check_safetensors([p for p in files if p.suffix == ".safetensors"])
    sums = {p.relative_to(model_dir).as_posix(): sha256_file(p) for p in files}
    total = sum(p.stat().st_size for p in files)
    log.info(kv("models.stage", source=source, dest=dest, files=len(files), bytes=total))
    for p in files:
        copy_dir(str(p), join(dest, p.relative_to(model_dir).as_posix()).rsplit("/", 1)[0])
    listed = {u.rsplit("/", 1)[-1] for u in list_uris(dest)}
    missing = sorted(rel for rel in sums if rel.rsplit("/", 1)[-1] not in listed)
    if missing:
        raise ModelError(f"{dest}: upload incomplete, missing {', '.join(missing[:5])}")
    manifest = {
        "kind": "edtune-staged-model",
        "source": source,
        "revision": revision,
        "staged_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "files": sums,
    }
    write_json(join(dest, "manifest.json"), manifest)
    return StagedModel(
        source=source,
        local_dir=str(model_dir),
        dest=dest,
        files=len(files),
        bytes=total,
        manifest=join(dest, "manifest.json"),
    )
