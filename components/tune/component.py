"""tune: LoRA-tune the student on the round's selection, continuing the previous round's adapter."""

from kfp import dsl

from components.resources import EDTUNE_GPU_IMAGE, Resources

# retries=2: a preempted or evicted GPU pod is retried by Argo. Safe because the stage resumes from its mid-tune
# checkpoints in the run layout (round-NN/tune-checkpoints/) and ends with the adapter an uninterrupted run makes;
# a finished tune is skipped by the stage's own marker.
# Sized for one GPU; each further GPU adds a torchrun worker (its host copy of the model while loading, its
# DataLoader workers and its share of the memory-backed /dev/shm): memory and CPU grow with the GPU count.
RESOURCES = Resources(
    cpu="8",
    memory="64Gi",
    gpu=True,
    retries=2,
    scratch=True,
    cpu_per_extra_gpu="6",
    memory_per_extra_gpu="48Gi",
)


@dsl.component(base_image=EDTUNE_GPU_IMAGE, install_kfp_package=False)
def tune_op(
    config_json: str, round_idx: int, adapter: dsl.Output[dsl.Model], metrics: dsl.Output[dsl.Metrics]
) -> float:
    """Run `edtune.stages.tune`; the adapter is written to the run layout and mirrored into the Model artifact.

    The training figures of round-NN/tune.json (final loss, samples/s, tokens/s, peak RSS / GPU memory, steps,
    seconds; `edtune.runfiles.TRAINING_FIGURES`) go to the Metrics artifact, so the KFP UI compares rounds and
    runs without opening the run's files.

    Returns:
        The final training loss.
    """
    from edtune import io, log, runfiles, stages
    from edtune.config import RunConfig
    from edtune.pipeline.taskenv import require_writable_cache

    log.setup()
    cfg = RunConfig.model_validate_json(config_json)
    require_writable_cache(cfg)  # exit 2 naming cluster.cache_* before any download
    res = stages.tune(cfg, round_idx)
    store_uri = stages.layout_of(cfg).adapter(round_idx)
    io.copy_dir(store_uri, adapter.path)
    adapter.metadata.update({"round": round_idx, "uri": store_uri, "framework": "peft-lora"})
    for name, value in runfiles.training_figures(res.summary).items():
        metrics.log_metric(name, value)
    metrics.metadata.update({"round": round_idx})
    return float(res.summary.get("final_loss") or 0.0)
