"""One torchrun rank of a data-parallel tune: `python -m edtune.student.tune_worker JOB.json` (see `launch`)."""

from __future__ import annotations

import contextlib
import os
import sys
from pathlib import Path

from edtune.schemas import SupportSample
from edtune.student.launch import TuneJob
from edtune.student.train import train_in_process


def main(job_path: str) -> None:
    """One torchrun rank: rebuild the student from the job file and train; rank 0 writes the result."""
    from edtune.io import read_jsonl
    from edtune.student.families import get_family
    from edtune.student.hf import HFStudent

    job = TuneJob.model_validate_json(Path(job_path).read_text())
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    student = HFStudent(Path(job.base_dir), get_family(job.family), job.student, cache_dir=job.cache_dir)
    if student.device == "cuda":
        import torch

        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
    samples = read_jsonl(job.samples_jsonl, SupportSample)
    Path(job.work_dir).mkdir(parents=True, exist_ok=True)
    res = train_in_process(
        student,
        samples,
        job.out_dir,
        job.lora,
        adapter_in=job.adapter_in,
        seed=job.seed,
        checkpoint_uri=job.checkpoint_uri,
        log_uri=job.log_uri,
        work_dir=Path(job.work_dir),
    )
    if res is not None:
        Path(job.result).write_text(res.model_dump_json())


if __name__ == "__main__":
    from edtune import log as _log

    _log.setup()
    with contextlib.suppress(KeyboardInterrupt):
        main(sys.argv[1])
