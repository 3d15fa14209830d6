"""annotate: the teacher tags every support sample with the skills it teaches (once per pool)."""

from kfp import dsl

from components.resources import EDTUNE_IMAGE, Resources

RESOURCES = Resources(cpu="4", memory="8Gi", retries=3)


@dsl.component(base_image=EDTUNE_IMAGE, install_kfp_package=False)
def annotate_op(config_json: str, skills_uri: str) -> str:
    """Run `edtune.stages.annotate`, writing `pool.skills.jsonl` rows {id, skills} to `skills_uri`.

    Returns:
        skills_uri, for the index task.
    """
    from edtune import log, stages
    from edtune.config import RunConfig

    log.setup()
    stages.annotate(RunConfig.model_validate_json(config_json), skills_uri)
    return skills_uri
