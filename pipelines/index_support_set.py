"""Index a support pool once for every task: the teacher tags each sample's skills, then Milvus indexes them.

On a cluster the annotation journal lives in object storage (`state_uri`), so a KFP retry of a day-long
annotation resumes where the killed pod stopped; the run's final state is recorded in `<state_uri>/index/`.
"""

from typing import Any

from kfp import dsl

from components.annotate.component import RESOURCES as ANNOTATE_RES
from components.annotate.component import annotate_op
from components.configure.component import RESOURCES as CONFIGURE_RES
from components.configure.component import configure_op
from components.index.component import RESOURCES as INDEX_RES
from components.index.component import index_op
from components.record_status.component import RESOURCES as STATUS_RES
from components.record_status.component import record_status_op
from components.resources import apply
from edtune.config import ClusterConfig
from pipelines.error_driven_tuning import DEFAULT_MILVUS_URI, DEFAULT_TEACHER_URL, PRODUCT, bind_secrets


def build(cluster: ClusterConfig | None = None) -> Any:
    """Build the index pipeline with a cluster's placement: one graph for compile, local runs and submit
    (see error_driven_tuning.build)."""
    cl = cluster or ClusterConfig()

    @dsl.pipeline(
        name="edtune-index-support-set",
        description="Tag a task-agnostic support pool with skills (teacher) and index it in Milvus (BM25 + dense).",
    )
    def index_support_set(
        pool_uri: str,
        skills_uri: str,
        milvus_uri: str = DEFAULT_MILVUS_URI,
        pool_collection: str = PRODUCT.pool.collection,
        teacher_url: str = DEFAULT_TEACHER_URL,
        teacher_model: str = PRODUCT.teacher.model,
        annotate: bool = True,
        state_uri: str = "",
        config_overrides: str = "{}",
        s3_secret: str = PRODUCT.cluster.s3_secret,
        teacher_secret: str = PRODUCT.cluster.teacher_secret,
        milvus_secret: str = PRODUCT.cluster.milvus_secret,
    ) -> None:
        def graph() -> None:
            conf = configure_op(
                run_id="index",
                output_uri=state_uri,
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
                lora_r=PRODUCT.lora.r,
                lora_alpha=PRODUCT.lora.alpha,
                lora_lr=PRODUCT.lora.lr,
                config_overrides=config_overrides,
                eval_shards=1,
            ).set_display_name("configure")
            bind_secrets(apply(conf, CONFIGURE_RES, cluster=cl), cl, s3_secret)
            with dsl.If(annotate == True, name="annotate-pool"):  # noqa: E712  (a pipeline condition, not Python)
                ann = annotate_op(config_json=conf.output, skills_uri=skills_uri, state_uri=state_uri)
                ann.set_display_name("annotate")
                bind_secrets(apply(ann, ANNOTATE_RES, cluster=cl), cl, s3_secret, teacher=teacher_secret)
                idx = index_op(config_json=conf.output, skills_uri=ann.output).set_display_name("index")
                bind_secrets(apply(idx, INDEX_RES, cluster=cl), cl, s3_secret, milvus=milvus_secret)
            with dsl.If(annotate == False, name="index-text"):  # noqa: E712
                idx2 = index_op(config_json=conf.output, skills_uri="").set_display_name("index-text")
                bind_secrets(apply(idx2, INDEX_RES, cluster=cl), cl, s3_secret, milvus=milvus_secret)

        status = record_status_op(output_uri=state_uri, run_id="index").set_display_name("record-status")
        bind_secrets(apply(status, STATUS_RES, cluster=cl), cl, s3_secret)
        with dsl.ExitHandler(status, name="edtune-index"):
            graph()

    return index_support_set


index_support_set = build()
