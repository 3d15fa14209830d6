"""index: embed the pool's skill tags and insert them into Milvus (BM25 + dense), resumably."""

from kfp import dsl

from components.resources import EDTUNE_IMAGE, Resources

RESOURCES = Resources(cpu="8", memory="16Gi", retries=2)


@dsl.component(base_image=EDTUNE_IMAGE, install_kfp_package=False)
def index_op(config_json: str, skills_uri: str, manifest: dsl.Output[dsl.Artifact]) -> int:
    """Run `edtune.stages.index`; an empty `skills_uri` indexes the conversation text itself (cheap mode).

    Returns:
        The number of rows in the collection.
    """
    import json

    from edtune import log, stages
    from edtune.config import RunConfig

    log.setup()
    cfg = RunConfig.model_validate_json(config_json)
    cfg.pool.skills = skills_uri or None
    summary = stages.index(cfg)
    with open(manifest.path, "w") as fh:
        json.dump(summary, fh)
    manifest.metadata.update({k: v for k, v in summary.items() if isinstance(v, (int, float, str))})
    return int(summary.get("count", 0))
