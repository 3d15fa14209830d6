"""tune: LoRA-tune the student on the round's selection, continuing the previous round's adapter."""

from kfp import dsl

from components.resources import EDTUNE_GPU_IMAGE, Resources

RESOURCES = Resources(cpu="8", memory="64Gi", gpu=True, scratch=True)


@dsl.component(base_image=EDTUNE_GPU_IMAGE, install_kfp_package=False)
def tune_op(config_json: str, round_idx: int, adapter: dsl.Output[dsl.Model]) -> float:
    """Run `edtune.stages.tune`; the adapter is written to the run layout and mirrored into the Model artifact.

    Returns:
        The final training loss.
    """
    from edtune import io, log, stages
    from edtune.config import RunConfig

    log.setup()
    cfg = RunConfig.model_validate_json(config_json)
    res = stages.tune(cfg, round_idx)
    store_uri = stages.layout_of(cfg).adapter(round_idx)
    io.copy_dir(store_uri, adapter.path)
    adapter.metadata.update({"round": round_idx, "uri": store_uri, "framework": "peft-lora"})
    return float(res.summary.get("final_loss") or 0.0)
