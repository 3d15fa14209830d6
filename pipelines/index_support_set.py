"""Index a support pool once for every task: the teacher tags each sample's skills, then Milvus indexes them."""

from kfp import dsl, kubernetes

from components.annotate.component import RESOURCES as ANNOTATE_RES
from components.annotate.component import annotate_op
from components.configure.component import RESOURCES as CONFIGURE_RES
from components.configure.component import configure_op
from components.index.component import RESOURCES as INDEX_RES
from components.index.component import index_op
from components.resources import apply
from pipelines.error_driven_tuning import MILVUS_KEYS, S3_KEYS, TEACHER_KEYS


@dsl.pipeline(
    name="edtune-index-support-set",
    description="Tag a task-agnostic support pool with skills (teacher) and index it in Milvus (BM25 + dense).",
)
def index_support_set(
    pool_uri: str,
    skills_uri: str,
    milvus_uri: str = "http://edtune-milvus:19530",
    pool_collection: str = "support",
    teacher_url: str = "http://edtune-teacher",
    teacher_model: str = "",
    annotate: bool = True,
    config_overrides: str = "{}",
    s3_secret: str = "edtune-s3",
    teacher_secret: str = "edtune-teacher",
    milvus_secret: str = "edtune-milvus",
) -> None:
    conf = configure_op(
        run_id="index",
        output_uri="./edtune-data/runs",
        task_name="index",
        task_val="",
        task_test="",
        pool_uri=pool_uri,
        pool_collection=pool_collection,
        milvus_uri=milvus_uri,
        teacher_url=teacher_url,
        teacher_model=teacher_model,
        student_base="",
        budget_per_round=1,
        max_rounds=1,
        compiled_max_rounds=1,
        min_gain=0.0,
        lora_r=8,
        lora_alpha=16,
        lora_lr=3e-3,
        config_overrides=config_overrides,
        eval_shards=1,
    ).set_display_name("configure")
    apply(conf, CONFIGURE_RES)
    with dsl.If(annotate == True, name="annotate-pool"):  # noqa: E712  (a pipeline condition, not Python)
        ann = annotate_op(config_json=conf.output, skills_uri=skills_uri).set_display_name("annotate")
        apply(ann, ANNOTATE_RES)
        kubernetes.use_secret_as_env(ann, secret_name=s3_secret, secret_key_to_env=S3_KEYS)
        kubernetes.use_secret_as_env(ann, secret_name=teacher_secret, secret_key_to_env=TEACHER_KEYS)
        idx = index_op(config_json=conf.output, skills_uri=ann.output).set_display_name("index")
        apply(idx, INDEX_RES)
        kubernetes.use_secret_as_env(idx, secret_name=s3_secret, secret_key_to_env=S3_KEYS)
        kubernetes.use_secret_as_env(idx, secret_name=milvus_secret, secret_key_to_env=MILVUS_KEYS)
    with dsl.If(annotate == False, name="index-text"):  # noqa: E712
        idx2 = index_op(config_json=conf.output, skills_uri="").set_display_name("index-text")
        apply(idx2, INDEX_RES)
        kubernetes.use_secret_as_env(idx2, secret_name=s3_secret, secret_key_to_env=S3_KEYS)
        kubernetes.use_secret_as_env(idx2, secret_name=milvus_secret, secret_key_to_env=MILVUS_KEYS)
