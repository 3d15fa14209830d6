"""`student.base` as a hub id (`ORG/NAME[@REVISION]`), resolved through huggingface_hub into its cache.

A platform engineer names models the way LLaMA-Factory and ms-swift do (`Qwen/Qwen2-VL-7B-Instruct`). edtune
never downloads weights inside a pipeline pod: on a workstation the id resolves from the local HF cache (filled
by `hf download`), and for a cluster `edtune models stage` copies the model to object storage once. An id that
is not in the cache while offline (`HF_HUB_OFFLINE=1`) is an error naming `student.base` and both ways to stage.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

from edtune.errors import ModelError

# what a checkpoint needs to load: weights (safetensors only), configs, tokenizer and processor files
ALLOW_PATTERNS = ["*.safetensors", "*.json", "*.jinja", "*.txt", "*.model", "*.tiktoken", "*.py", "*.md"]
_HUB_ID = re.compile(
    r"^(?P<repo>[A-Za-z0-9][\w.-]{0,95}/[A-Za-z0-9][\w.-]{0,95})(?:@(?P<rev>[\w./-]{1,128}))?$"
)


@dataclass(frozen=True)
class HubId:
    repo: str
    revision: str | None

    def __str__(self) -> str:
        return f"{self.repo}@{self.revision}" if self.revision else self.repo


def parse_hub_id(base: str) -> HubId | None:
    """A hub id, or None for a URI (`s3://`, `file://`), an absolute/relative path that exists, or other text.

    `models/qwen` as an existing local directory stays a path: local paths win, as in transformers.
    """
    if "://" in base or base.startswith(("/", ".", "~")) or Path(base).exists():
        return None
    m = _HUB_ID.match(base)
    return HubId(m["repo"], m["rev"]) if m else None


def offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in ("1", "true", "yes", "on")


def stage_hint(base: str) -> str:
    hub = parse_hub_id(base)
    repo, rev = (hub.repo, hub.revision) if hub else (base, None)
    name = repo.rsplit("/", 1)[-1]
    rev_flag = f" --revision {rev}" if rev else ""
    return (
        f"stage it first: on this machine `hf download {repo}{rev_flag}` (into the HF cache), or for a cluster "
        f"`edtune models stage {base} s3://BUCKET/models/{name}` and set student.base to that s3:// URI"
    )


def resolve_hub(base: str, *, cache_dir: str | None = None) -> Path:
    """The local snapshot directory of hub id `base`; downloads only when not offline. Errors name student.base."""
    hub = parse_hub_id(base)
    if hub is None:
        raise ModelError(f"student.base: {base!r} is not a hub id (ORG/NAME[@REVISION])")
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import HfHubHTTPError, LocalEntryNotFoundError

    try:
        path = snapshot_download(
            hub.repo,
            revision=hub.revision,
            cache_dir=cache_dir or os.environ.get("HF_HUB_CACHE") or None,  # read now, not at hub import
            local_files_only=offline(),
            allow_patterns=ALLOW_PATTERNS,
        )
    except LocalEntryNotFoundError:
        where = (
            "the local Hugging Face cache (HF_HUB_OFFLINE is set)" if offline() else "the hub or the cache"
        )
        raise ModelError(f"student.base: {base!r} was not found in {where}; {stage_hint(base)}") from None
    except (HfHubHTTPError, OSError, ValueError) as exc:
        raise ModelError(f"student.base: {base!r}: {type(exc).__name__}: {exc}; {stage_hint(base)}") from None
    return Path(path)


def resolve_base(base: str, cache_dir: str | Path) -> Path:
    """`student.base` -> a local checkpoint directory: a hub id through the HF cache, a path or s3:// prefix as is."""
    from edtune.student.checkpoint import resolve_local

    if not base:
        raise ModelError(
            "student.base: not set (a local dir, an s3:// prefix or a hub id ORG/NAME[@REVISION])"
        )
    if parse_hub_id(base) is not None:
        return resolve_hub(base)
    try:
        return resolve_local(base, cache_dir)
    except ModelError as exc:
        raise ModelError(
            f"student.base: {exc} (expected a local dir, an s3:// prefix, or a hub id ORG/NAME[@REVISION] "
            "in the Hugging Face cache)"
        ) from None
