"""Skip/resume machinery shared by every stage, and the small lookups stages share.

Every stage reads and writes URIs in the run layout (`edtune.layout`), and is skipped when its `.done` marker exists
and records the same input hash (config subset + sha256 of input files): that is what makes an interrupted run
resume and a rerun idempotent, on local disk and on S3 alike. Markers are written last, after every output.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel

from edtune import __version__, io
from edtune.config import RunConfig
from edtune.errors import InputError
from edtune.io.storage import TMP_SUFFIX
from edtune.layout import RunLayout
from edtune.log import activity, kv, progress

log = logging.getLogger("edtune.stages")
Split = Literal["val", "test"]
_SPINNER_STAGES = ("allocate", "retrieve", "tune")  # no count to show: a spinner with the elapsed time


class StageResult(BaseModel):
    stage: str
    round: int
    skipped: bool
    seconds: float
    summary: dict[str, Any]


def _sha_json(obj: Any) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()


def _sha_inputs(uris: Iterable[str | None]) -> dict[str, str]:
    """sha256 of each input file; a directory (adapter) hashes every file under it."""
    out: dict[str, str] = {}
    for uri in uris:
        if uri is None:
            continue
        u = io.parse(uri)
        is_file = Path(u.path).is_file() if u.scheme == "file" else io.exists(uri)
        files = [uri] if is_file else io.list_uris(uri)
        if not files:
            raise InputError(f"{uri}: missing input (file or directory not found)")
        for f in files:
            if f.endswith(".tmp"):
                continue
            out[f] = io.sha256_uri(f)
    return out


def _run(
    layout: RunLayout,
    r: int,
    stage: str,
    config_part: Any,
    inputs: Iterable[str | None],
    body: Callable[[], dict[str, Any]],
) -> StageResult:
    marker = layout.marker(r, stage)
    key = _sha_json(
        {"config": config_part, "inputs": _sha_inputs(inputs), "edtune": __version__.split("+")[0]}
    )
    if io.exists(marker):
        done = io.read_json(marker)
        if done.get("key") == key:
            log.info(kv("stage skipped", stage=stage, round=r, reason="outputs exist for these inputs"))
            progress(f"{stage:<22} round {r}  skipped (outputs exist)")
            return StageResult(
                stage=stage, round=r, skipped=True, seconds=0.0, summary=done.get("summary", {})
            )
        log.info(kv("stage rerun", stage=stage, round=r, reason="inputs changed"))
    t0 = time.perf_counter()
    log.info(kv("stage start", stage=stage, round=r))
    if stage in _SPINNER_STAGES:  # the others draw their own bar (rich allows one live display at a time)
        with activity(f"{stage} round {r}"):
            summary = body()
    else:
        summary = body()
    seconds = round(time.perf_counter() - t0, 3)
    io.write_json(marker, {"key": key, "summary": summary, "seconds": seconds, "stage": stage})
    log.info(kv("stage done", stage=stage, round=r, seconds=seconds))
    progress(f"{stage:<22} round {r}  {seconds:7.1f} s")
    return StageResult(stage=stage, round=r, skipped=False, seconds=seconds, summary=summary)


def _sweep_temp_files(prefix: str) -> None:
    """Remove temp files a killed writer left under a local round directory (readers never see them, but a
    resumed run should not accumulate them). S3 needs nothing: an unfinished upload never becomes an object."""
    u = io.parse(prefix)
    if u.scheme != "file" or not Path(u.path).is_dir():
        return
    for leftover in Path(u.path).rglob(f"*{TMP_SUFFIX}"):
        leftover.unlink(missing_ok=True)


def layout_of(cfg: RunConfig) -> RunLayout:
    return RunLayout(cfg.run_uri)


def _task_uri(cfg: RunConfig, split: Split) -> str:
    uri = cfg.task.val if split == "val" else cfg.task.test
    if not uri:
        raise InputError(f"task.{split}: no URI configured for the {split} split")
    return uri


def _adapter_for(layout: RunLayout, r: int) -> str | None:
    return layout.adapter(r) if r >= 1 else None


def _student_cfg(cfg: RunConfig) -> dict[str, Any]:
    return cfg.student.model_dump(mode="json")


def _milvus_token() -> str | None:
    from edtune.config import secret_from_env

    return secret_from_env("EDTUNE_MILVUS_TOKEN", "MILVUS_TOKEN")
