"""decide: record the round's metrics and say whether the next round runs (early stop on the gain)."""

from kfp import dsl

from components.resources import EDTUNE_IMAGE, Resources

RESOURCES = Resources(cpu="500m", memory="512Mi")


@dsl.component(base_image=EDTUNE_IMAGE, install_kfp_package=False)
def decide_op(config_json: str, round_idx: int, metrics: dsl.Output[dsl.Metrics]) -> str:
    """Write round metrics; return "continue" while rounds remain and the validation gain >= min_gain, else "stop".

    Round 0 (the base evaluation) always continues.
    """
    from edtune import log, stages
    from edtune.config import RunConfig

    log.setup()
    cfg = RunConfig.model_validate_json(config_json)
    m = stages.record_round(cfg, round_idx)
    metrics.log_metric("val_accuracy", m.val_accuracy)
    if m.test_accuracy is not None:
        metrics.log_metric("test_accuracy", m.test_accuracy)
    if round_idx == 0:
        return "continue"
    go_on, gain = stages.should_continue(cfg, round_idx)
    metrics.log_metric("gain", gain)
    return "continue" if go_on else "stop"
