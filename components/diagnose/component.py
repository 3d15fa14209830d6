"""diagnose: the TGI-served teacher finds the first wrong step and the missing skill of each wrong answer."""

from kfp import dsl

from components.resources import EDTUNE_IMAGE, Resources

RESOURCES = Resources(cpu="2", memory="4Gi", retries=3, scratch=True)


@dsl.component(base_image=EDTUNE_IMAGE, install_kfp_package=False)
def diagnose_op(config_json: str, round_idx: int, mistakes: dsl.Output[dsl.Dataset]) -> int:
    """Run `edtune.stages.diagnose` (teacher token from the env, mounted from a Secret).

    Returns:
        The number of diagnosed mistakes.
    """
    from edtune import io, log, stages
    from edtune.config import RunConfig
    from edtune.pipeline.taskenv import require_writable_cache

    log.setup()
    cfg = RunConfig.model_validate_json(config_json)
    require_writable_cache(cfg)  # exit 2 naming cluster.cache_* before any download
    res = stages.diagnose(cfg, round_idx)
    with open(mistakes.path, "wb") as fh:
        fh.write(io.read_bytes(stages.layout_of(cfg).mistakes(round_idx)))
    mistakes.metadata.update({k: v for k, v in res.summary.items() if isinstance(v, (int, float, str))})
    return int(res.summary.get("diagnosed", 0))
