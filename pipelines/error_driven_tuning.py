"""The main pipeline: evaluate → [diagnose → allocate → retrieve → tune → evaluate → decide] × rounds → finalize.

Rounds are unrolled at compile time (`COMPILED_MAX_ROUNDS`); the runtime `max_rounds` parameter and the gain
on the validation split stop early through nested `dsl.If`. Exactly one `finalize` runs: in the branch where a
round decides to stop. Data flows through the run layout in object storage (DESIGN §3), so every task is
resumable and KFP caching agrees with the stages' own skip logic. Secrets are bound by Secret *name* only.

One graph (`build`) serves the committed YAML, `edtune pipeline run-local` (kfp.local runs the compiled spec) and
`submit`: every task gets the run's placement (components/resources.py), the whole graph runs inside a
`dsl.ExitHandler` whose exit task records the run's final state in `<output>/<run_id>/status.json`, and
`publish` (which moves the registry's `latest`) runs only when the run's validation gain reaches
`publish_min_gain` — the same threshold the CI gate (`--min-gain`) uses.
"""

from typing import Any

from kfp import dsl, kubernetes

from components.allocate.component import RESOURCES as ALLOCATE_RES
from components.allocate.component import allocate_op
from components.configure.component import RESOURCES as CONFIGURE_RES
from components.configure.component import configure_op
from components.decide.component import RESOURCES as DECIDE_RES
from components.decide.component import decide_op
from components.diagnose.component import RESOURCES as DIAGNOSE_RES
from components.diagnose.component import diagnose_op
from components.evaluate.component import RESOURCES as EVALUATE_RES
from components.evaluate.component import evaluate_op
from components.finalize.component import RESOURCES as FINALIZE_RES
from components.finalize.component import finalize_op
from components.merge_eval.component import RESOURCES as MERGE_RES
from components.merge_eval.component import merge_eval_op
from components.publish.component import RESOURCES as PUBLISH_RES
from components.publish.component import publish_op
from components.record_status.component import RESOURCES as STATUS_RES
from components.record_status.component import record_status_op
from components.resources import apply
from components.retrieve.component import RESOURCES as RETRIEVE_RES
from components.retrieve.component import retrieve_op
from components.tune.component import RESOURCES as TUNE_RES
from components.tune.component import tune_op
from edtune.config import ClusterConfig, RunConfig

COMPILED_MAX_ROUNDS = 3
#: the product defaults (edtune.config, suited to a 7B student) that the pipeline parameters default to; the tiny
#: student's preset never reaches a compiled spec (a run's own values arrive as parameters and config_overrides)
PRODUCT = RunConfig()

# Secret name -> {key in the Secret: env var in the pod}. Values never pass through pipeline parameters.
S3_KEYS = {"AWS_ACCESS_KEY_ID": "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY": "AWS_SECRET_ACCESS_KEY"}
#: Optional keys of the same Secret: MinIO / non-AWS S3 need the endpoint (boto3 reads AWS_ENDPOINT_URL); on AWS
#: the key is absent and boto3 must not be pointed anywhere else.
S3_OPTIONAL_KEYS = {"AWS_ENDPOINT_URL": "AWS_ENDPOINT_URL", "AWS_DEFAULT_REGION": "AWS_DEFAULT_REGION"}
TEACHER_KEYS = {"HF_TOKEN": "HF_TOKEN"}
MILVUS_KEYS = {"EDTUNE_MILVUS_TOKEN": "EDTUNE_MILVUS_TOKEN"}
DEFAULT_TEACHER_URL = "http://edtune-teacher.edtune.svc"
DEFAULT_MILVUS_URI = "http://edtune-milvus.edtune-milvus.svc:19530"


def bind_secrets(task: Any, cluster: ClusterConfig, s3: Any, teacher: Any = None, milvus: Any = None) -> Any:
    """Bind Secrets by name (a pipeline parameter) as env vars.

    - S3 keys: required, unless `cluster.s3_secret` is "" (IRSA / workload identity: the run's ServiceAccount
      carries the cloud identity and no key Secret exists); the endpoint/region keys are optional.
    - Teacher token: optional (public teacher models need none; docs/deploy.md says to omit the Secret).
    - Milvus token: required (authorization is enabled in manifests/base/milvus.yaml).
    """
    if cluster.s3_secret:
        kubernetes.use_secret_as_env(task, secret_name=s3, secret_key_to_env=S3_KEYS)
        kubernetes.use_secret_as_env(task, secret_name=s3, secret_key_to_env=S3_OPTIONAL_KEYS, optional=True)
    if teacher is not None and cluster.teacher_secret:
        kubernetes.use_secret_as_env(task, secret_name=teacher, secret_key_to_env=TEACHER_KEYS, optional=True)
    if milvus is not None and cluster.milvus_secret:
        kubernetes.use_secret_as_env(task, secret_name=milvus, secret_key_to_env=MILVUS_KEYS)
    return task


def build(
    cluster: ClusterConfig | None = None, *, eval_gpus: int = 1, tune_gpus: int = 1, eval_shards: int = 1
) -> Any:
    """Build the pipeline: the one graph that `compile`, `run-local` and `submit` all use.

    GPU counts and the cluster placement are compile-time constants, never pipeline parameters: a resource or
    platform setting that reads a parameter inside a nested DAG (ExitHandler, ParallelFor, If) makes its task
    reference a `pipelinechannel--*` input its parent DAG never declares, and both kfp.local and the KFP driver
    refuse the task ("parent DAG does not have input parameter"). The evaluation shards are unrolled at compile
    time for the same reason of one spec (see `evaluate`). `submit`, `upload` and `schedule` recompile, so these
    are flags there (`--eval-gpus/--tune-gpus/--eval-shards`), and a new pipeline version in the UI. The
    committed YAML is `build()`: the default cluster settings, one GPU per GPU task, one evaluation shard.
    """
    cl = cluster or ClusterConfig()

    def place(task: Any, res: Any, gpu_count: int = 1) -> Any:
        return apply(task, res, gpu_count, cl)

    def _secrets(task: Any, s3: Any, teacher: Any = None, milvus: Any = None) -> Any:
        return bind_secrets(task, cl, s3, teacher, milvus)

    @dsl.pipeline(
        name="edtune-error-driven-tuning",
        description="Adapt a student LMM to a task from its own mistakes: a teacher diagnoses, Milvus retrieves "
        "skill-matched support data, peft LoRA tunes; repeated until the validation gain stops.",
    )
    def error_driven_tuning(
        task_val: str,
        pool_uri: str,
        student_base: str,
        output_uri: str,
        run_id: str = PRODUCT.run_id,
        task_name: str = PRODUCT.task.name,
        task_test: str = "",
        pool_collection: str = PRODUCT.pool.collection,
        milvus_uri: str = DEFAULT_MILVUS_URI,
        teacher_url: str = DEFAULT_TEACHER_URL,
        teacher_model: str = PRODUCT.teacher.model,
        budget_per_round: int = PRODUCT.loop.budget_per_round,
        max_rounds: int = min(PRODUCT.loop.max_rounds, COMPILED_MAX_ROUNDS),
        min_gain: float = PRODUCT.loop.min_gain,
        lora_r: int = PRODUCT.lora.r,
        lora_alpha: int = PRODUCT.lora.alpha,
        lora_lr: float = PRODUCT.lora.lr,
        config_overrides: str = "{}",
        registry_uri: str = "",
        publish_min_gain: float = 0.0,
        s3_secret: str = PRODUCT.cluster.s3_secret,
        teacher_secret: str = PRODUCT.cluster.teacher_secret,
        milvus_secret: str = PRODUCT.cluster.milvus_secret,
    ) -> None:
        def graph() -> None:
            conf = place(
                configure_op(
                    run_id=run_id,
                    output_uri=output_uri,
                    task_name=task_name,
                    task_val=task_val,
                    task_test=task_test,
                    pool_uri=pool_uri,
                    pool_collection=pool_collection,
                    milvus_uri=milvus_uri,
                    teacher_url=teacher_url,
                    teacher_model=teacher_model,
                    student_base=student_base,
                    budget_per_round=budget_per_round,
                    max_rounds=max_rounds,
                    compiled_max_rounds=COMPILED_MAX_ROUNDS,
                    min_gain=min_gain,
                    lora_r=lora_r,
                    lora_alpha=lora_alpha,
                    lora_lr=lora_lr,
                    config_overrides=config_overrides,
                    eval_shards=eval_shards,  # a compile-time constant, recorded and checked by configure
                ).set_display_name("configure"),
                CONFIGURE_RES,
            )
            _secrets(
                conf, s3_secret
            )  # configure fingerprints the input data on S3 and asks the teacher its model
            cfg = conf.output

            def evaluate(r: int, after: list[Any]) -> list[Any]:
                """Fan each split out over `eval_shards` GPU pods, then merge the shards back in order.

                The shards are sibling tasks unrolled at compile time, not a `dsl.ParallelFor`: kfp.local (2.17.3)
                hands a loop body a wrong value for an input the loop receives from a sibling task (`config_json`
                arrives as 0.0), and unrolled tasks run in parallel on the backend just the same.
                """
                merged = []
                for split in ("val", "test"):
                    shard_tasks = []
                    for shard in range(eval_shards):
                        t = evaluate_op(
                            config_json=cfg, round_idx=r, split=split, shard=shard, shards=eval_shards
                        )
                        suffix = f"-s{shard}" if eval_shards > 1 else ""
                        t.set_display_name(f"evaluate-{split}-r{r}{suffix}")
                        _secrets(place(t, EVALUATE_RES, eval_gpus), s3_secret)
                        for a in after:
                            t.after(a)
                        shard_tasks.append(t)
                    m = merge_eval_op(config_json=cfg, round_idx=r, split=split, shards=eval_shards)
                    for t in shard_tasks:
                        m.after(t)
                    _secrets(place(m.set_display_name(f"merge-{split}-r{r}"), MERGE_RES), s3_secret)
                    merged.append(m)
                return merged

            def decide(r: int, after: list[Any]) -> Any:
                d = decide_op(config_json=cfg, round_idx=r).set_display_name(f"decide-r{r}")
                _secrets(place(d, DECIDE_RES), s3_secret)
                for a in after:
                    d.after(a)
                return d

            def finalize(after: Any) -> None:
                f = finalize_op(config_json=cfg).set_display_name("finalize").after(after)
                _secrets(place(f, FINALIZE_RES), s3_secret)
                # `latest` moves only for a run that passed its gate: the gain finalize measured >= publish_min_gain
                with (
                    dsl.If(registry_uri != "", name="publish-adapter"),
                    dsl.If(f.outputs["gain"] >= publish_min_gain, name="gain-gate"),
                ):
                    p = (
                        publish_op(config_json=cfg, registry_uri=registry_uri)
                        .set_display_name("publish")
                        .after(f)
                    )
                    _secrets(place(p, PUBLISH_RES), s3_secret)

            def one_round(r: int, after: Any) -> Any:
                diag = (
                    diagnose_op(config_json=cfg, round_idx=r).set_display_name(f"diagnose-r{r}").after(after)
                )
                _secrets(place(diag, DIAGNOSE_RES), s3_secret, teacher=teacher_secret)
                alloc = (
                    allocate_op(config_json=cfg, round_idx=r).set_display_name(f"allocate-r{r}").after(diag)
                )
                _secrets(place(alloc, ALLOCATE_RES), s3_secret)
                retr = (
                    retrieve_op(config_json=cfg, round_idx=r).set_display_name(f"retrieve-r{r}").after(alloc)
                )
                _secrets(place(retr, RETRIEVE_RES), s3_secret, milvus=milvus_secret)
                tune = tune_op(config_json=cfg, round_idx=r).set_display_name(f"tune-r{r}").after(retr)
                _secrets(place(tune, TUNE_RES, tune_gpus), s3_secret)
                return decide(r, evaluate(r, [tune]))

            def rounds_from(r: int, prev: Any) -> None:
                current = one_round(r, prev)
                with dsl.If(current.outputs["Output"] == "stop", name=f"stop-after-r{r}"):
                    finalize(current)
                if r < COMPILED_MAX_ROUNDS:
                    with dsl.If(current.outputs["Output"] == "continue", name=f"round-{r + 1}"):
                        rounds_from(r + 1, current)

            base = decide(0, evaluate(0, [conf]))
            rounds_from(1, base)

        status = record_status_op(output_uri=output_uri, run_id=run_id).set_display_name("record-status")
        _secrets(place(status, STATUS_RES), s3_secret)
        with dsl.ExitHandler(status, name="edtune-run"):
            graph()

    return error_driven_tuning


error_driven_tuning = build()
