"""The shapes-world base student: the shipped asset when it verifies, else pretrained once into the cache."""

from __future__ import annotations

import logging
from pathlib import Path

from edtune.errors import ModelError
from edtune.student.checkpoint import verify_manifest

log = logging.getLogger(__name__)

ASSET = Path(__file__).resolve().parent.parent / "assets" / "base-student"


def shipped_base() -> Path | None:
    """The packaged base student if all its files match `manifest.json`, else None (with a warning)."""
    if not (ASSET / "manifest.json").is_file():
        return None
    try:
        verify_manifest(ASSET)
    except ModelError as exc:
        log.warning("shipped base student does not verify, rebuilding: %s", exc)
        return None
    return ASSET


def ensure_base_student(
    cache_dir: str = "./edtune-data/cache", *, seed: int = 0, steps: int | None = None
) -> str:
    """Path of the base student: the verified shipped asset, or one pretrained into `cache_dir` (reused after)."""
    shipped = shipped_base()
    if shipped is not None and seed == 0 and steps is None:
        return str(shipped)
    from edtune.shapes.student.pretrain import DEFAULT_STEPS, pretrain_base

    n = steps or DEFAULT_STEPS
    out = Path(cache_dir) / f"base-student-s{seed}-n{n}"
    if (out / "manifest.json").is_file():
        try:
            verify_manifest(out)
            return str(out)
        except ModelError as exc:
            log.warning("cached base student does not verify, rebuilding: %s", exc)
    log.info("pretraining the base student into %s (%d steps, ~15-45 min on one core)", out, n)
    pretrain_base(str(out), seed=seed, steps=n)
    return str(out)
