"""configure: turn pipeline parameters into one validated RunConfig (JSON) that every other task receives."""

from kfp import dsl

from components.resources import EDTUNE_IMAGE, Resources

RESOURCES = Resources(cpu="500m", memory="512Mi", cache=False)  # never cached: it fingerprints the data


@dsl.component(base_image=EDTUNE_IMAGE, install_kfp_package=False)
def configure_op(
    run_id: str,
    output_uri: str,
    task_name: str,
    task_val: str,
    task_test: str,
    pool_uri: str,
    pool_collection: str,
    milvus_uri: str,
    teacher_url: str,
    teacher_model: str,
    student_base: str,
    budget_per_round: int,
    max_rounds: int,
    compiled_max_rounds: int,
    min_gain: float,
    lora_r: int,
    lora_alpha: int,
    lora_lr: float,
    config_overrides: str,
    eval_shards: int,
) -> str:
    """Validate the run's settings once, at the door, so a bad value fails the run before any GPU is used.

    Also resolves what only the cluster can see: the teacher's model name and API (`teacher.model: auto`) and
    a fingerprint of the input data, which makes every downstream KFP cache key change when the data does.

    Args:
        config_overrides: JSON object with any other RunConfig fields (never secrets: those come from Secrets).

    Returns:
        The resolved RunConfig as JSON.
    """
    import json

    from edtune.config import RunConfig

    if max_rounds > compiled_max_rounds:
        raise ValueError(
            f"max_rounds={max_rounds} exceeds the {compiled_max_rounds} rounds this pipeline was compiled with"
        )
    data = json.loads(config_overrides or "{}")
    explicit = {
        "run_id": run_id,
        "output": output_uri,
        "task": {"name": task_name, "val": task_val, "test": task_test or None},
        "pool": {"uri": pool_uri, "collection": pool_collection, "milvus_uri": milvus_uri},
        "teacher": {"url": teacher_url, "model": teacher_model},
        "student": {"base": student_base},
        "loop": {"budget_per_round": budget_per_round, "max_rounds": max_rounds, "min_gain": min_gain},
        "lora": {"r": lora_r, "alpha": lora_alpha, "lr": lora_lr},
    }
    for key, value in explicit.items():
        if isinstance(value, dict):
            data[key] = {**data.get(key, {}), **value}
        else:
            data[key] = value
    if not 1 <= eval_shards <= 64:
        raise ValueError(f"eval_shards={eval_shards} must be between 1 and 64")
    from edtune.pipeline.taskenv import data_fingerprint, resolve_teacher

    cfg = resolve_teacher(RunConfig.model_validate(data))  # teacher.model "auto": ask /info, /v1/models
    cfg.cluster.data_fingerprint = data_fingerprint(cfg)  # changed data -> new cache keys downstream
    return cfg.model_dump_json()
