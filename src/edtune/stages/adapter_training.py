"""Train one LoRA adapter for the tune stage: shared by a round's single run and by each restart
(`edtune.stages.restarts`), so both train, checkpoint and store an adapter the same way."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from edtune import io
from edtune.config import RunConfig
from edtune.schemas import SupportSample
from edtune.stages.base import _sha_json, _sweep_temp_files


def train_adapter(
    cfg: RunConfig,
    samples: list[SupportSample],
    adapter_in: str | None,
    *,
    seed: int,
    out_dir: str,
    work_key: list[Any],
) -> dict[str, Any]:
    """Train one LoRA adapter into `out_dir/adapter` and return its TuneResult (without the local adapter dir).

    One path for a round's single run (`out_dir` = the round) and for each restart (`out_dir` = the restart's dir):
    mid-tune checkpoints go to `out_dir/tune-checkpoints` in the run's object store (a preempted or killed tune
    resumes from the last one; they are deleted once the adapter is stored), TensorBoard events to
    `out_dir/tensorboard`.
    """
    from edtune.student import load_student
    from edtune.student.tune_checkpoint import delete_prefix

    student = load_student(cfg.student.base, cfg.student, adapter=None, cache_dir=cfg.cache_dir)
    # Train into a work dir under the cache (not $TMPDIR): a kill leaves it where the rerun clears it.
    work = Path(cfg.cache_dir) / "work" / _sha_json(work_key)[:16] / "adapter"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    ckpt = io.join(out_dir, "tune-checkpoints")
    res = student.tune(
        samples,
        str(work),
        cfg.lora,
        adapter_in=adapter_in,
        seed=seed,
        checkpoint_uri=ckpt,
        log_uri=io.join(out_dir, "tensorboard"),
    )
    adapter = io.join(out_dir, "adapter")
    _sweep_temp_files(adapter)  # a copy killed midway left temp files; this tune is the only writer
    io.copy_dir(str(work), adapter)
    shutil.rmtree(work, ignore_errors=True)
    delete_prefix(ckpt)  # the adapter is the result now
    return res.model_dump(mode="json", exclude={"adapter_dir"})
