"""LoRA restarts: train a round's adapter from `lora.restarts` seeds and keep the one the validation split scores best.

Why: a short LoRA on the tiny student is a draw over seeds (the demo task's round, replayed over LoRA seeds 0-8:
held-out test 0.70-0.99, `benchmarks/README.md`), and validation accuracy tracks held-out accuracy within a few
points in every replayed seed. Choosing among restarts on the validation split is model selection on the data the
method already owns (it diagnoses it); the test split is never read here.

Restart k trains with seed `cfg.seed + r + k`, so restart 0 is exactly the single run of `restarts = 1`, and the
restarts of run seed s are the single runs of seeds s, s+1, ... (what `benchmarks.demo_seeds` replays). Each
finished restart writes its adapter and its validation score under `round-NN/restarts/restart-K/` (score last), so
a killed tune resumes: finished restarts are not retrained, an unfinished one resumes from its own checkpoints.
On CPU with one torch thread per process the restarts run side by side, one process per free core (the tune of a
tiny student leaves the other cores idle); on a GPU they run one after another.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
from concurrent.futures import ProcessPoolExecutor
from typing import Any

from pydantic import BaseModel

from edtune import io
from edtune.config import RunConfig
from edtune.log import kv
from edtune.schemas import SupportSample

log = logging.getLogger("edtune.stages.restarts")


class RestartScore(BaseModel):
    """One restart's outcome: written last, so its presence means the restart's adapter is complete."""

    restart: int
    seed: int
    job: str  # what was trained (config, samples, adapter in, validation split): a resume needs the same
    val_accuracy: float
    val_n: int
    tune: dict[str, Any]  # the restart's TuneResult (without the adapter dir)


def restart_seed(cfg: RunConfig, r: int, k: int) -> int:
    return cfg.seed + r + k


def restart_dir(round_dir: str, k: int) -> str:
    return io.join(round_dir, "restarts", f"restart-{k}")


def restart_processes(cfg: RunConfig, pending: int) -> int:
    """How many restarts run at once: `lora.restart_processes`, else one per free core on CPU, one on a GPU."""
    if cfg.lora.restart_processes:
        return max(1, min(pending, cfg.lora.restart_processes))
    if cfg.student.device == "cuda" or (cfg.student.device == "auto" and _cuda()):
        return 1
    cores = _usable_cores()
    threads = cfg.student.torch_threads or cores
    return max(1, min(pending, cores // threads))


def _usable_cores() -> int:
    """Cores this process may run on (its CPU affinity, e.g. a cpuset), not every core of the node."""
    try:
        return len(os.sched_getaffinity(0)) or 1
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def _cuda() -> bool:
    import torch

    return bool(torch.cuda.is_available())


def train_restart(
    cfg_json: dict[str, Any],
    r: int,
    k: int,
    samples_json: list[dict[str, Any]],
    adapter_in: str | None,
    round_dir: str,
    job: str,
) -> dict[str, Any]:
    """Train restart k (the tune stage's own `train_adapter`), score it on the validation split (never the test
    split) with the evaluate stage's scorer, and write its score last."""
    from edtune.stages.adapter_training import train_adapter
    from edtune.stages.base import _task_uri
    from edtune.stages.scoring import _answer

    cfg = RunConfig.model_validate(cfg_json)
    samples = [SupportSample.model_validate(s) for s in samples_json]
    seed = restart_seed(cfg, r, k)
    out = restart_dir(round_dir, k)
    tuned = train_adapter(cfg, samples, adapter_in, seed=seed, out_dir=out, work_key=[cfg.run_uri, r, k])
    adapter = io.join(out, "adapter")
    _, summary = _answer(cfg, _task_uri(cfg, "val"), adapter, shard=None, progress=False)
    score = RestartScore(
        restart=k, seed=seed, job=job, val_accuracy=summary.accuracy, val_n=summary.n, tune=tuned
    )
    io.write_json(io.join(out, "score.json"), score.model_dump(mode="json"))
    log.info(kv("restart done", round=r, restart=k, seed=seed, val_accuracy=round(summary.accuracy, 4)))
    return score.model_dump(mode="json")


def read_score(round_dir: str, k: int, job: str) -> RestartScore | None:
    """Restart k's finished score for this very job; one left by a tune of other inputs (a changed LoRA setting,
    selection or previous adapter under the same run id) is not a result of this one."""
    uri = io.join(restart_dir(round_dir, k), "score.json")
    if not io.exists(uri):
        return None
    score = RestartScore.model_validate(io.read_json(uri))
    return score if score.job == job else None


def restart_job(cfg: RunConfig, r: int, samples: list[SupportSample], adapter_in: str | None) -> str:
    """A digest of everything a restart's adapter and score depend on, except its own index."""
    from edtune.stages.base import _sha_inputs, _sha_json, _task_uri

    return _sha_json(
        {
            "lora": cfg.lora.model_dump(mode="json"),
            "student": cfg.student.model_dump(mode="json"),
            "seed": cfg.seed,
            "round": r,
            "samples": [s.id for s in samples],
            "inputs": _sha_inputs([adapter_in, _task_uri(cfg, "val")]),
        }
    )


def best_restart(scores: list[RestartScore]) -> RestartScore:
    """Highest validation accuracy; the earliest restart on ties (so restarts never change a clear single run)."""
    return max(scores, key=lambda s: (s.val_accuracy, -s.restart))


def tune_restarts(
    cfg: RunConfig,
    r: int,
    samples: list[SupportSample],
    adapter_in: str | None,
    round_dir: str,
) -> tuple[RestartScore, list[RestartScore]]:
    """Run the restarts not finished yet (side by side where cores allow), then return (best, all) by restart."""
    n = cfg.lora.restarts
    job = restart_job(cfg, r, samples, adapter_in)
    done = {k: s for k in range(n) if (s := read_score(round_dir, k, job)) is not None}
    todo = [k for k in range(n) if k not in done]
    if todo:
        args = (cfg.model_dump(mode="json"), r)
        samples_json = [s.model_dump(mode="json", by_alias=True) for s in samples]
        workers = restart_processes(cfg, len(todo))
        log.info(kv("restarts", round=r, todo=len(todo), resumed=len(done), processes=workers))
        if workers == 1:
            for k in todo:
                done[k] = RestartScore.model_validate(
                    train_restart(*args, k, samples_json, adapter_in, round_dir, job)
                )
        else:
            ctx = multiprocessing.get_context("spawn")  # a fresh interpreter: no forked torch/thread state
            with ProcessPoolExecutor(max_workers=workers, mp_context=ctx) as pool:
                futures = {
                    k: pool.submit(train_restart, *args, k, samples_json, adapter_in, round_dir, job)
                    for k in todo
                }
                for k, fut in futures.items():
                    done[k] = RestartScore.model_validate(fut.result())
    scores = [done[k] for k in range(n)]
    return best_restart(scores), scores
