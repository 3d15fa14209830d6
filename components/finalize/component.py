"""finalize: write final/ (best adapter, manifest, report) and expose them as KFP artifacts."""

from typing import NamedTuple

from kfp import dsl

from components.resources import EDTUNE_IMAGE, Resources

RESOURCES = Resources(cpu="1", memory="2Gi")


@dsl.component(base_image=EDTUNE_IMAGE, install_kfp_package=False)
def finalize_op(
    config_json: str,
    report: dsl.Output[dsl.HTML],
    manifest: dsl.Output[dsl.Artifact],
    metrics: dsl.Output[dsl.Metrics],
) -> NamedTuple("Final", [("best_round", int), ("gain", float), ("adapter_uri", str)]):
    """Run `edtune.stages.finalize`. A round that made things worse is never the published one.

    Returns:
        best_round, the validation gain of the best round over the base, and the final adapter URI ("" if none).
    """
    from collections import namedtuple

    from edtune import io, log, stages
    from edtune.config import RunConfig

    log.setup()
    cfg = RunConfig.model_validate_json(config_json)
    s = stages.finalize(cfg).summary
    with open(report.path, "wb") as fh:
        fh.write(io.read_bytes(s["report"]))
    with open(manifest.path, "wb") as fh:
        fh.write(io.read_bytes(s["manifest"]))
    gain = float(s["val_accuracy_after"]) - float(s["val_accuracy_before"])
    for key in ("val_accuracy_before", "val_accuracy_after", "test_accuracy_before", "test_accuracy_after"):
        if s.get(key) is not None:
            metrics.log_metric(key, float(s[key]))
    metrics.log_metric("gain", gain)
    manifest.metadata.update({"best_round": s["best_round"], "adapter": s["adapter"] or ""})
    out = namedtuple("Final", ["best_round", "gain", "adapter_uri"])
    return out(int(s["best_round"]), gain, s["adapter"] or "")
