"""shards: the list of shard indices the evaluation fans out over (items of a `dsl.ParallelFor`)."""

from kfp import dsl

from components.resources import EDTUNE_IMAGE, Resources

RESOURCES = Resources(cpu="100m", memory="128Mi")


@dsl.component(base_image=EDTUNE_IMAGE, install_kfp_package=False)
def shards_op(eval_shards: int) -> list:
    """Return [0, 1, ..., eval_shards - 1]; `configure` has already checked 1 <= eval_shards <= 64."""
    return list(range(eval_shards))
