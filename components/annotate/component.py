"""annotate: the teacher tags every support sample with the skills it teaches (once per pool)."""

from kfp import dsl

from components.resources import EDTUNE_IMAGE, Resources

RESOURCES = Resources(cpu="4", memory="8Gi", retries=3, scratch=True, long_running=True)


@dsl.component(base_image=EDTUNE_IMAGE, install_kfp_package=False)
def annotate_op(config_json: str, skills_uri: str, state_uri: str) -> str:
    """Run `edtune.stages.annotate`, writing `pool.skills.jsonl` rows {id, skills} to `skills_uri`.

    The annotation journal (`<cache_dir>/annotate/`) is mirrored to `<state_uri>/annotate/` while it runs and
    restored from there first, so a KFP retry (a new pod with an empty disk) resumes instead of re-asking the
    teacher about every sample. An empty `state_uri` keeps the journal on the pod only.

    Returns:
        skills_uri, for the index task.
    """
    import contextlib

    from edtune import io, log, stages
    from edtune.config import RunConfig
    from edtune.pipeline.taskenv import journal_sync, require_writable_cache

    log.setup()
    cfg = RunConfig.model_validate_json(config_json)
    require_writable_cache(cfg)  # exit 2 naming cluster.cache_* before any download
    sync = (
        journal_sync(f"{cfg.cache_dir}/annotate", io.join(state_uri, "annotate"))
        if state_uri
        else contextlib.nullcontext()
    )
    with sync:
        stages.annotate(cfg, skills_uri)
    return skills_uri
