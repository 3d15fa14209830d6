"""publish: copy the final adapter to the registry as a new immutable, verified version and move `latest`."""

from kfp import dsl

from components.resources import EDTUNE_IMAGE, Resources

RESOURCES = Resources(cpu="1", memory="2Gi", retries=2)


@dsl.component(base_image=EDTUNE_IMAGE, install_kfp_package=False)
def publish_op(config_json: str, registry_uri: str) -> str:
    """Run `edtune.stages.publish`. Nothing is published when no round beat the base student.

    Returns:
        The published version URI, or "" when nothing was published.
    """
    from edtune import log, stages
    from edtune.config import RunConfig

    log.setup()
    res = stages.publish(RunConfig.model_validate_json(config_json), registry_uri)
    return str(res.get("uri", "")) if res.get("published") else ""
