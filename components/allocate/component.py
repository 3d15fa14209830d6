"""allocate: merge missing skills into gaps and split the round's budget across them."""

from kfp import dsl

from components.resources import EDTUNE_IMAGE, Resources

RESOURCES = Resources(cpu="1", memory="2Gi")


@dsl.component(base_image=EDTUNE_IMAGE, install_kfp_package=False)
def allocate_op(config_json: str, round_idx: int) -> int:
    """Run `edtune.stages.allocate`.

    Returns:
        The number of skill gaps.
    """
    from edtune import log, stages
    from edtune.config import RunConfig

    log.setup()
    res = stages.allocate(RunConfig.model_validate_json(config_json), round_idx)
    return int(res.summary["gaps"])
