"""The RunConfig schema: every setting of a run, with the product's defaults (chosen for a 7B student).

Where a default comes from (a model card, LLaMA-Factory's or LLaVA's recipe, a measurement) is recorded in
`edtune.config.defaults.DEFAULT_SOURCES` and printed by `edtune config show`. The tiny student of the offline
harness needs other values; it registers them as a preset (`edtune.config.loading.Preset`), never here.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class TaskConfig(_Section):
    name: str = "task"
    val: str = ""  # URI of val.jsonl (diagnosis)
    test: str | None = None  # URI of test.jsonl (held-out scoring only, never diagnosed)


class PoolConfig(_Section):
    uri: str = ""  # support pool JSONL (LLaVA conversation format)
    skills: str | None = None  # pool.skills.jsonl written by `annotate` (None: index conversation text)
    milvus_uri: str = "./edtune-data/milvus.db"  # a Lite file, or http://host:19530
    collection: str = "support"
    index_type: Literal["AUTOINDEX", "FLAT", "IVF_FLAT", "HNSW"] = "AUTOINDEX"
    embed_batch: int = Field(default=128, ge=1)
    insert_batch: int = Field(default=2000, ge=1)


class StudentConfig(_Section):
    family: Literal["qwen2-vl", "llava", "llava-onevision"] = "qwen2-vl"
    base: str = (
        ""  # local dir, s3:// prefix of a HF checkpoint, or a hub id ORG/NAME[@REVISION] (from the HF cache)
    )
    max_new_tokens: int = Field(
        default=256, ge=1, le=4096
    )  # a Step 1..k + Answer reply of a 7B: 60-200 tokens
    batch_size: int = Field(default=8, ge=1)
    image_max_side: int = Field(
        default=768, ge=28
    )  # longer side before the processor (Qwen2-VL: ~750 tokens)
    device: Literal["auto", "cpu", "cuda"] = "auto"
    torch_threads: int = Field(default=0, ge=0)  # 0 = torch default (the tiny harness preset pins 1)
    trust_remote_code: bool = False


class TeacherConfig(_Section):
    url: str = "http://127.0.0.1:8080"
    model: str = "auto"  # "auto": the name the server reports (TGI /info, vLLM /v1/models)
    backend: Literal["tgi", "vllm", "openai"] = "tgi"  # vllm = openai: both list models under /v1/models
    method: Literal["answer-switch", "judge"] = "answer-switch"
    concurrency: int = Field(default=8, ge=1, le=256)
    timeout_s: float = Field(default=30.0, gt=0)
    deadline_s: float = Field(default=3600.0, gt=0)
    max_retries: int = Field(default=4, ge=0, le=20)
    max_tokens: int = Field(default=256, ge=1)
    delta: float = Field(default=0.1, ge=0, le=1)  # answer switch: P(wrong) - P(gold) margin
    persist: int = Field(default=1, ge=1)  # answer switch: λ, steps the switch must persist
    prior: float = Field(default=0.6, gt=0, lt=1)  # the prior hint toward the gold answer
    fallback: Literal["judge", "last-step", "undiagnosed"] = "judge"  # when the answer never switches
    image_max_side: int = Field(default=448, ge=28)
    skill_merge_threshold: float = Field(default=0.85, ge=0, le=1)  # embedding merge, without grouping
    group_skills: bool = (
        True  # ask the teacher which paraphrased skill names are one gap (teacher/grouping.py)
    )
    backoff_s: float = Field(default=0.5, gt=0)  # first retry delay; doubles per attempt, with jitter
    backoff_max_s: float = Field(
        default=30.0, gt=0
    )  # cap of one retry delay (a 429 Retry-After may exceed it)
    tag_images: bool = False  # annotate: send the support image too (text alone names what a turn teaches)


class RetrievalConfig(_Section):
    selector: Literal["error-driven", "random", "similar-questions", "all", "validation"] = "error-driven"
    mode: Literal["bm25", "dense", "hybrid"] = (
        "bm25"  # measured best with grouped paraphrases (docs/retrieval.md)
    )
    allocation: Literal["per-mistake", "proportional"] = "proportional"
    min_per_skill: int = Field(default=1, ge=0)
    query: Literal["skill", "step"] = "skill"  # "step": ablation without skill analysis
    # A hit below this share of its query's best score is no match: the budget is then a ceiling, not filled
    # with other skills' samples (edtune.skills.retrieve; bm25 and dense only). 0 fills every budget.
    min_score_ratio: float = Field(default=0.5, ge=0, lt=1)
    # Matches must answer inside the task's closed answer space (validation choices and answers): the skill taught
    # in the format it is asked in (edtune.skills.answer_space). Off: the paper's skill-only match.
    answer_space: bool = False
    # Which replies must answer inside the space: the first (about the image) or every one (all are tuned on).
    answer_space_turns: Literal["first", "all"] = "first"
    # With answer_space: make the selection's answers follow the validation split's shares, by dropping
    # over-represented answers' lowest-ranked matches ("drop") or repeating under-represented answers' matches
    # ("repeat"; edtune.skills.answer_space). "off": the pool's answer mix, as the paper. true/false read as drop/off.
    balance_answers: Literal["off", "drop", "repeat"] = "off"

    @field_validator("balance_answers", mode="before")
    @classmethod
    def _balance_from_bool(cls, v: Any) -> Any:
        """Configs written when the setting was a switch keep working: true is "drop", false "off"."""
        if isinstance(v, bool) or str(v).lower() in ("true", "false"):
            return "drop" if str(v).lower() == "true" else "off"
        return v


class LoraConfig(_Section):
    r: int = Field(default=8, ge=1)
    alpha: int = Field(default=16, ge=1)
    dropout: float = Field(default=0.0, ge=0, lt=1)
    lr: float = Field(default=1e-4, gt=0)  # LLaMA-Factory qwen2vl_lora_sft (the tiny preset: 3e-3)
    epochs: float = Field(default=1.0, gt=0)
    max_steps: int | None = Field(default=None, ge=1)
    batch_size: int = Field(default=8, ge=1)
    grad_accum: int = Field(default=1, ge=1)
    warmup_ratio: float = Field(default=0.03, ge=0, lt=1)
    scheduler: Literal["cosine", "linear", "constant"] = "cosine"
    weight_decay: float = Field(default=0.0, ge=0)
    # Share of generic pool samples mixed into tuning against forgetting. 0 = the paper: an adapter is served per
    # task (multi-LoRA) and the base keeps every other skill. Measured on the demo task (world v3, ad-hoc sweep), mixed:
    # 300 steps, seed 0: 0.967 without vs 0.627 with 20%; seed 1: 0.607 vs 0.687. Raise it when one adapter must
    # keep the base's other skills (tiny LoRA students forget them within tens of steps, FACTS.md).
    replay_fraction: float = Field(default=0.0, ge=0, lt=1)
    # Loss weight of the tokens after the last "Answer:" of each target (1: every supervised token alike, as
    # LLaMA-Factory and LLaVA train). The tiny student's failure after tuning is an answer that does not repeat a
    # right step (`edtune.student.answer_loss`); for it the harness preset sets 5 (benchmarks/README.md, "The answer
    # weight": full demo 0.947/0.717/0.817 at 5 vs 0.940/0.507/0.527 at 1). Unmeasured on a 7B student: raise it
    # only where answers contradict their own steps.
    answer_weight: float = Field(default=1.0, ge=1.0, le=100.0)
    # LoRA restarts per round (`edtune.stages.restarts`): each from its own seed, the one with the best validation
    # accuracy is kept (the test split is never read). 1 = a single run. A short LoRA on a tiny student is a draw
    # over seeds; validation tracks held-out accuracy within a few points there (benchmarks/README.md).
    restarts: int = Field(default=1, ge=1, le=16)
    restart_processes: int = Field(
        default=0, ge=0
    )  # restarts run at once; 0 = one per free core on CPU, 1 on GPU
    target_modules: str = (
        r".*language_model\.layers\.\d+\.(self_attn\.(q|k|v|o)_proj|mlp\.(gate|up|down)_proj)"
    )
    # How the tune stage runs (docs/student.md "Tuning"): none of these changes what is learnt on CPU.
    trainer: Literal["hf", "loop"] = (
        "hf"  # hf: transformers.Trainer; loop: the old hand-written loop (baseline)
    )
    checkpoint_every: int = Field(default=50, ge=0)  # steps between object-store checkpoints (0 = off)
    processes: int = Field(
        default=0, ge=0
    )  # data-parallel processes (torchrun); 0 = one per visible GPU, CPU 1
    bf16: bool | None = None  # bf16 autocast (LoRA weights stay fp32); None = on when tuning on a GPU
    gradient_checkpointing: bool | None = None  # None = on when tuning on a GPU
    tensorboard: bool = True  # TensorBoard event files beside the checkpoints (`pip install "edtune[tb]"`)


class LoopConfig(_Section):
    max_rounds: int = Field(default=3, ge=1, le=20)
    min_gain: float = Field(default=0.0, ge=-1, le=1)
    budget_per_round: int = Field(default=400, ge=1)
    # A round after the first tunes only on at least this many new samples; fewer keep the previous adapter and stop
    # the loop. A fixed `lora.max_steps` over a handful of samples overwrites the adapter with them: in the full demo
    # a second round that found one sample took validation to 0.00-0.48 on three of eleven worlds (benchmarks/README.md;
    # the best round on validation kept it out, after minutes of tuning). 8: one batch at the default batch size.
    min_selected: int = Field(default=8, ge=1)
    eval_test_each_round: bool = True  # score the held-out test split after each round (reporting only)


class TolerationConfig(_Section):
    """One Kubernetes toleration (the fields of core/v1 Toleration that kfp.kubernetes.add_toleration takes)."""

    key: str | None = None
    operator: Literal["Equal", "Exists"] = "Exists"
    value: str | None = None
    effect: Literal["NoSchedule", "PreferNoSchedule", "NoExecute"] | None = None


class ClusterConfig(_Section):
    """How the pipeline is placed on a Kubeflow cluster. Read at compile/submit time only; the stages ignore it.

    The defaults match docs/deploy.md (GPU nodes tainted `nvidia.com/gpu:NoSchedule`); `edtune pipeline submit`
    recompiles the pipeline with these values, so a change here needs no manual compile.
    """

    namespace: str = ""  # KFP profile namespace (multi-user Kubeflow); "" = single-user KFP
    service_account: str = ""  # the run's ServiceAccount; "" = the profile's default (default-editor)
    experiment: str = "edtune"
    image: str = ""  # CPU image for every CPU task; "" = EDTUNE_IMAGE or ghcr.io/edtune/edtune-cpu:<version>
    gpu_image: str = ""  # GPU image for evaluate/tune; "" = EDTUNE_GPU_IMAGE or the -gpu variant of `image`
    gpu_tolerations: list[TolerationConfig] = Field(
        default_factory=lambda: [
            TolerationConfig(key="nvidia.com/gpu", operator="Exists", effect="NoSchedule")
        ]
    )
    gpu_node_selector: dict[str, str] = Field(
        default_factory=dict
    )  # e.g. {nvidia.com/gpu.product: NVIDIA-A100-SXM4-80GB}
    cpu_node_selector: dict[str, str] = Field(default_factory=dict)
    task_timeout_s: int = Field(default=6 * 3600, ge=0)  # activeDeadlineSeconds of CPU tasks (0 = none)
    gpu_task_timeout_s: int = Field(default=12 * 3600, ge=0)  # evaluate/tune
    annotate_timeout_s: int = Field(default=48 * 3600, ge=0)  # annotating a 1M pool takes a day or more
    cache_size: str = "100Gi"  # generic ephemeral volume for the model/teacher cache of each task
    cache_storage_class: str | None = None  # None = the cluster's default StorageClass
    cache_pvc: str = (
        ""  # mount this existing PVC instead of an ephemeral volume (e.g. a pre-filled model cache)
    )
    cache_mount: str = "/cache"
    run_as_user: int = Field(default=10001, ge=1)  # the images' user; never root
    s3_secret: str = "edtune-s3"  # "" = no key Secret: credentials from IRSA / workload identity on the SA
    teacher_secret: str = "edtune-teacher"  # mounted optional: public teacher models need none
    milvus_secret: str = "edtune-milvus"
    state_uri: str = ""  # object-store prefix for journals that must survive a pod (index pipeline resume)
    # set by the pipeline's `configure` (sizes/ETags of the inputs), so it is part of every task's cache key
    data_fingerprint: str = ""


class RunConfig(BaseModel):
    """Everything one run needs. Defaults are the embedded ones; production values use the same schema."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    # the preset this config was resolved with ("" = the product defaults); informational once resolved
    preset: str = Field(default="", pattern=r"^[A-Za-z0-9._-]{0,64}$")
    run_id: str = Field(default="run", pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$")
    output: str = "./edtune-data/runs"
    cache_dir: str = "./edtune-data/cache"
    registry: str | None = None  # where `publish` puts adapters: <registry>/adapters/<task>/<version>/
    seed: int = 0
    task: TaskConfig = Field(default_factory=TaskConfig)
    pool: PoolConfig = Field(default_factory=PoolConfig)
    student: StudentConfig = Field(default_factory=StudentConfig)
    teacher: TeacherConfig = Field(default_factory=TeacherConfig)
    retrieval: RetrievalConfig = Field(default_factory=RetrievalConfig)
    lora: LoraConfig = Field(default_factory=LoraConfig)
    loop: LoopConfig = Field(default_factory=LoopConfig)
    cluster: ClusterConfig = Field(default_factory=ClusterConfig)

    @model_validator(mode="after")
    def _alpha_sane(self) -> RunConfig:
        return self

    @property
    def run_uri(self) -> str:
        from edtune.io import join

        return join(self.output, self.run_id)
