"""Where a tune runs: in this process, or under torchrun with one process per GPU (or `lora.processes`).

With N > 1, the job (samples, config, paths) is written to the work dir and
`python -m torch.distributed.run --standalone --nproc-per-node=N -m edtune.student.tune_worker JOB` runs it
(gloo on CPU, NCCL on GPU); each rank takes batch/N samples of every step, rank 0 writes the adapter and the
result. The launcher forwards SIGTERM to torchrun (which forwards it to the ranks), so a preempted pod still
checkpoints. The pod's GPU request decides N: the tune component requests `tune_gpus`, and every visible GPU
gets a rank.
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from pydantic import BaseModel

from edtune.config import LoraConfig, StudentConfig
from edtune.errors import StageError
from edtune.log import kv
from edtune.schemas import SupportSample
from edtune.student.train import train_in_process
from edtune.student.tune_checkpoint import TunePreempted, forward_sigterm
from edtune.student.tune_data import TunableStudent
from edtune.student.types import TuneResult

log = logging.getLogger(__name__)


def processes_for(student: TunableStudent, lora: LoraConfig) -> int:
    """`lora.processes`, or one per visible GPU when the student tunes on CUDA (the pod's GPU request), else 1."""
    if lora.processes:
        return lora.processes
    if student.device == "cuda":
        import torch

        return max(1, torch.cuda.device_count())
    return 1


def run_tune(
    student: TunableStudent,
    samples: Sequence[SupportSample],
    out_dir: str,
    lora: LoraConfig,
    *,
    adapter_in: str | None = None,
    seed: int = 0,
    checkpoint_uri: str | None = None,
    log_uri: str | None = None,
) -> TuneResult:
    """Tune in this process, or under torchrun when more than one process is asked for (and we are not a rank)."""
    n = processes_for(student, lora)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    # Local scratch (Trainer checkpoints before upload, TensorBoard events, the torchrun job) beside out_dir
    # under a name derived from it: a killed run's leftovers are cleared by the next run to the same out_dir.
    work = out.parent / f".{out.name}.tune-work"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    try:
        if n <= 1 or "LOCAL_RANK" in os.environ:
            res = train_in_process(
                student,
                samples,
                out_dir,
                lora,
                adapter_in=adapter_in,
                seed=seed,
                checkpoint_uri=checkpoint_uri,
                log_uri=log_uri,
                work_dir=work,
            )
            assert res is not None  # a single process is rank 0
            return res
        return _launch(student, samples, out_dir, lora, adapter_in, seed, checkpoint_uri, log_uri, work, n)
    finally:
        shutil.rmtree(work, ignore_errors=True)


class TuneJob(BaseModel):
    """Everything a torchrun worker needs to rebuild the student and run its rank (written as JSON)."""

    base_dir: str
    family: str
    student: StudentConfig
    cache_dir: str
    samples_jsonl: str
    out_dir: str
    lora: LoraConfig
    adapter_in: str | None
    seed: int
    checkpoint_uri: str | None
    log_uri: str | None
    work_dir: str
    result: str


def _launch(
    student: TunableStudent,
    samples: Sequence[SupportSample],
    out_dir: str,
    lora: LoraConfig,
    adapter_in: str | None,
    seed: int,
    checkpoint_uri: str | None,
    log_uri: str | None,
    work: Path,
    n: int,
) -> TuneResult:
    data = work / "samples.jsonl"
    data.write_text("".join(s.model_dump_json(by_alias=True) + "\n" for s in samples))
    job = TuneJob(
        base_dir=str(student.base_dir),
        family=student.family.name,
        student=student.cfg,
        cache_dir=student.cache_dir,
        samples_jsonl=str(data),
        out_dir=out_dir,
        lora=lora,
        adapter_in=adapter_in,
        seed=seed,
        checkpoint_uri=checkpoint_uri,
        log_uri=log_uri,
        work_dir=str(work / "rank"),
        result=str(work / "result.json"),
    )
    job_path = work / "job.json"
    job_path.write_text(job.model_dump_json())
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        f"--nproc-per-node={n}",
        "-m",
        "edtune.student.tune_worker",
        str(job_path),
    ]
    log.info(kv("tune launching torchrun", processes=n, device=student.device))
    env = {**os.environ, "OMP_NUM_THREADS": str(max(1, student.cfg.torch_threads))}
    t0 = time.perf_counter()
    ranks_log = (
        work / "torchrun.log"
    )  # the ranks' output, to a file: a long run's logs do not pile up in memory
    with open(ranks_log, "w") as fh:
        proc = subprocess.Popen(cmd, env=env, stdout=fh, stderr=subprocess.STDOUT, text=True)
        with forward_sigterm(proc):
            proc.wait()
    output = ranks_log.read_text(errors="replace")
    result = Path(job.result)
    if proc.returncode != 0 or not result.is_file():
        tail = "\n".join(output.splitlines()[-30:])
        if "TunePreempted" in output:
            raise TunePreempted(
                f"tune (torchrun, {n} processes) stopped on SIGTERM; rerun resumes from {checkpoint_uri}"
            )
        raise StageError(
            f"tune under torchrun ({n} processes) failed with exit code {proc.returncode}:\n{tail}"
        )
    res = TuneResult.model_validate_json(result.read_text())
    log.info(kv("tune torchrun done", processes=n, seconds=round(time.perf_counter() - t0, 1)))
    return res
