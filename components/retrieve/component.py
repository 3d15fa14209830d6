"""retrieve: query the Milvus skill index for skill-matched support samples (plus a replay share)."""

from kfp import dsl

from components.resources import EDTUNE_IMAGE, Resources

RESOURCES = Resources(cpu="2", memory="4Gi", retries=3)


@dsl.component(base_image=EDTUNE_IMAGE, install_kfp_package=False)
def retrieve_op(config_json: str, round_idx: int, selection: dsl.Output[dsl.Dataset]) -> int:
    """Run `edtune.stages.retrieve` (Milvus token from the env, mounted from a Secret).

    Returns:
        The number of support samples selected.
    """
    from edtune import io, log, stages
    from edtune.config import RunConfig

    log.setup()
    cfg = RunConfig.model_validate_json(config_json)
    res = stages.retrieve(cfg, round_idx)
    with open(selection.path, "wb") as fh:
        fh.write(io.read_bytes(stages.layout_of(cfg).selection(round_idx)))
    selection.metadata.update({"selected": res.summary["selected"], "replay": res.summary["replay"]})
    return int(res.summary["selected"])
