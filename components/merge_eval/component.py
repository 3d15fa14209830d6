"""merge_eval: put the evaluation shards back in the split's order and score them as one evaluation."""

from kfp import dsl

from components.resources import EDTUNE_IMAGE, Resources

RESOURCES = Resources(cpu="500m", memory="1Gi")


@dsl.component(base_image=EDTUNE_IMAGE, install_kfp_package=False)
def merge_eval_op(
    config_json: str, round_idx: int, split: str, shards: int, metrics: dsl.Output[dsl.Metrics]
) -> float:
    """Run `edtune.stages.merge_shards`; writes the split's traces.jsonl and summary in input order.

    Returns:
        Accuracy on the whole split.
    """
    from edtune import log, stages
    from edtune.config import RunConfig

    log.setup()
    cfg = RunConfig.model_validate_json(config_json)
    res = stages.merge_shards(cfg, round_idx, "test" if split == "test" else "val", shards)
    acc = float(res.summary["accuracy"])
    metrics.log_metric(f"{split}_accuracy", acc)
    metrics.metadata.update({"round": round_idx, "split": split, "shards": shards})
    return acc
