"""evaluate: score the student of a round (base or adapter) on one shard of the validation or test split."""

from kfp import dsl

from components.resources import EDTUNE_GPU_IMAGE, Resources

RESOURCES = Resources(cpu="4", memory="32Gi", gpu=True, scratch=True, memory_per_extra_gpu="16Gi")


@dsl.component(base_image=EDTUNE_GPU_IMAGE, install_kfp_package=False)
def evaluate_op(
    config_json: str, round_idx: int, split: str, shard: int, shards: int, metrics: dsl.Output[dsl.Metrics]
) -> float:
    """Run `edtune.stages.evaluate_shard` on every `shards`-th sample from `shard` (one of `shards` parallel pods).

    Returns:
        Accuracy on this shard, a fraction in [0, 1].
    """
    from edtune import log, stages
    from edtune.config import RunConfig
    from edtune.pipeline.taskenv import require_writable_cache

    log.setup()
    cfg = RunConfig.model_validate_json(config_json)
    require_writable_cache(cfg)  # exit 2 naming cluster.cache_* before any download
    res = stages.evaluate_shard(cfg, round_idx, "test" if split == "test" else "val", shard, shards)
    acc = float(res.summary["accuracy"])
    metrics.log_metric(f"{split}_accuracy_shard", acc)
    metrics.log_metric("n", float(res.summary.get("n", 0)))
    metrics.metadata.update({"round": round_idx, "split": split, "shard": shard, "shards": shards})
    return acc
