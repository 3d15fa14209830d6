"""RunConfig: the single source of a run's settings (YAML < env `EDTUNE_A__B` < CLI `--set a.b=v`).

Validation errors name the field and where its value came from (file, env var or flag). Secrets are not
fields: tokens are read from the environment at the edge (`secret_from_env`) so they can never reach a
pipeline parameter, a log line or a manifest.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from edtune.errors import ConfigError, Problem

ENV_PREFIX = "EDTUNE_"


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
    base: str = ""  # local dir or s3:// prefix of a HF checkpoint
    max_new_tokens: int = Field(default=64, ge=1, le=4096)
    batch_size: int = Field(default=8, ge=1)
    image_max_side: int = Field(default=112, ge=28)
    device: Literal["auto", "cpu", "cuda"] = "auto"
    torch_threads: int = Field(default=1, ge=0)  # 0 = torch default; 1 is fastest for tiny models on 2 cores
    trust_remote_code: bool = False


class TeacherConfig(_Section):
    url: str = "http://127.0.0.1:8080"
    model: str = "reference-shapes-teacher"
    backend: Literal["tgi", "openai"] = "tgi"
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


class LoraConfig(_Section):
    r: int = Field(default=8, ge=1)
    alpha: int = Field(default=16, ge=1)
    dropout: float = Field(default=0.0, ge=0, lt=1)
    lr: float = Field(default=3e-3, gt=0)
    epochs: float = Field(default=1.0, gt=0)
    max_steps: int | None = Field(default=None, ge=1)
    batch_size: int = Field(default=8, ge=1)
    grad_accum: int = Field(default=1, ge=1)
    warmup_ratio: float = Field(default=0.03, ge=0, lt=1)
    scheduler: Literal["cosine", "linear", "constant"] = "cosine"
    weight_decay: float = Field(default=0.0, ge=0)
    # Share of generic pool samples mixed into tuning against forgetting. 0 = the paper: an adapter is served per
    # task (multi-LoRA) and the base keeps every other skill. Measured on the demo task (demo_sweep-v3.json), mixed:
    # 300 steps, seed 0: 0.967 without vs 0.627 with 20%; seed 1: 0.607 vs 0.687. Raise it when one adapter must
    # keep the base's other skills (tiny LoRA students forget them within tens of steps, FACTS.md).
    replay_fraction: float = Field(default=0.0, ge=0, lt=1)
    # Loss weight of the tokens after the last "Answer:" of each target (1: every supervised token alike). The answer
    # word is one token of ~20, and the tiny student's failure after tuning is an answer that does not repeat a right
    # step (`edtune.student.answer_loss`). Measured over LoRA seeds 0-2 (benchmarks/README.md, "The answer weight"):
    # full demo 0.947/0.717/0.817 at 5 vs 0.940/0.507/0.527 at 1; study mean over tasks 0.355 vs 0.340.
    answer_weight: float = Field(default=5.0, ge=1.0, le=100.0)
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
    tensorboard: bool = True  # TensorBoard event files beside the checkpoints, if tensorboard is importable


class LoopConfig(_Section):
    max_rounds: int = Field(default=3, ge=1, le=20)
    min_gain: float = Field(default=0.0, ge=-1, le=1)
    budget_per_round: int = Field(default=400, ge=1)
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


# ---------------------------------------------------------------- loading with source tracking


def _set_path(data: dict[str, Any], dotted: str, value: Any, sources: dict[str, str], source: str) -> None:
    keys = dotted.split(".")
    if not all(k.strip() for k in keys):
        raise ConfigError(f"{source}: {dotted!r}: expected a dotted key such as teacher.url")
    node = data
    for k in keys[:-1]:
        nxt = node.setdefault(k, {})
        if not isinstance(nxt, dict):
            raise ConfigError(f"{source}: {dotted}: {k!r} is not a section")
        node = nxt
    node[keys[-1]] = value
    sources[dotted] = source


def _walk(data: dict[str, Any], prefix: str, sources: dict[str, str], source: str) -> None:
    for k, v in data.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict):
            _walk(v, key + ".", sources, source)
        else:
            sources[key] = source


def _parse_scalar(text: str) -> Any:
    """`--set` and env values are YAML scalars: 3 -> int, 0.5 -> float, true -> bool, [a,b] -> list."""
    try:
        return yaml.safe_load(text) if text != "" else ""
    except yaml.YAMLError:
        return text


def _text_kind(dotted: str) -> Literal["str", "optional"] | None:
    """Whether `dotted` names a plain string setting (`str` or `str | None`), whose value is kept verbatim.

    Without this, `--set student.base=2024` or `--set teacher.model=1.5` would arrive as int/float and be
    refused, and `--set task.name=a: b` would become a mapping.
    """
    import types
    import typing

    model: Any = RunConfig
    ann: Any = None
    for k in dotted.split("."):
        if not (isinstance(model, type) and issubclass(model, BaseModel)) or k not in model.model_fields:
            return None
        ann = model = model.model_fields[k].annotation
    if ann is str:
        return "str"
    if typing.get_origin(ann) in (typing.Union, types.UnionType) and set(typing.get_args(ann)) == {
        str,
        type(None),
    }:
        return "optional"
    return None


def _env_value(dotted: str, text: str) -> Any:
    """Parse an env/`--set` value: verbatim for string settings (`null` clears an optional one), else YAML."""
    kind = _text_kind(dotted)
    if kind == "str":
        return text
    if kind == "optional":
        return None if text in ("null", "~") else text
    return _parse_scalar(text)


def secret_from_env(*names: str) -> str | None:
    """Read a secret (token, key) from the environment; never store it in a config object."""
    for n in names:
        v = os.environ.get(n)
        if v:
            return v
    return None


def load_config(
    path: str | Path | None = None,
    overrides: list[str] | None = None,
    env: dict[str, str] | None = None,
    base: dict[str, Any] | None = None,
) -> RunConfig:
    """Build a RunConfig from defaults < `base` < YAML file < env (`EDTUNE_SECTION__KEY`) < `--set k=v`."""
    data: dict[str, Any] = {}
    sources: dict[str, str] = {}
    if base:
        for k, v in base.items():
            data[k] = dict(v) if isinstance(v, dict) else v
        _walk(base, "", sources, "defaults")
    if path is not None:
        from edtune.io import read_text

        text = read_text(str(path))
        try:
            loaded = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            line = mark.line + 1 if mark else None
            what = getattr(exc, "problem", None) or str(exc).splitlines()[0]
            ctx = getattr(exc, "context", None)
            msg = f"{what} ({ctx})" if ctx else what
            raise ConfigError("invalid YAML", [Problem(f"file {path}", line, None, msg)]) from None
        if loaded is None:  # an empty file (or only comments): all defaults
            loaded = {}
        if not isinstance(loaded, dict):
            raise ConfigError(f"{path}: the config must be a YAML mapping, got {type(loaded).__name__}")
        for k, v in loaded.items():
            if isinstance(v, dict) and isinstance(data.get(k), dict):
                data[k] = {**data[k], **v}
            else:
                data[k] = v
        _walk(loaded, "", sources, f"file {path}")
    environ = os.environ if env is None else env
    for name, value in sorted(environ.items()):
        if name.startswith(ENV_PREFIX) and name not in ("EDTUNE_TEACHER_TOKEN", "EDTUNE_MILVUS_TOKEN"):
            dotted = name[len(ENV_PREFIX) :].lower().replace("__", ".")
            if dotted.split(".")[0] not in RunConfig.model_fields:
                # process settings and secrets (EDTUNE_DEBUG, EDTUNE_HF_TOKEN, ...) are not run config; a
                # typo inside a section (EDTUNE_TEACHER__URLL) still names a section and is refused below
                continue
            _set_path(data, dotted, _env_value(dotted, value), sources, f"env {name}")
    for item in overrides or []:
        if "=" not in item:
            raise ConfigError(f"--set {item!r}: expected key.sub=value")
        key, value = item.split("=", 1)
        key = key.strip()
        _set_path(data, key, _env_value(key, value), sources, f"flag --set {key}")
    try:
        return RunConfig.model_validate(data)
    except ValidationError as exc:
        problems = []
        for e in exc.errors():
            dotted = ".".join(str(p) for p in e["loc"])
            # a section set whole by a nested key (`--set seed.x=1`) takes the source of that key
            src = sources.get(dotted) or next(
                (v for k, v in sources.items() if k.startswith(dotted + ".")), "default"
            )
            problems.append(Problem(src, None, dotted, e["msg"]))
        raise ConfigError("invalid configuration", problems) from None


REDACT_KEYS = ("token", "secret", "password", "passwd", "key", "credential", "auth", "signature")

_USERINFO = re.compile(r"(://)[^/@\s?#]+@")  # scheme://user:pass@host or scheme://token@host
_SECRET_QUERY = re.compile(
    r"([?&](?:[^=&#\s]*(?:token|secret|password|passwd|key|credential|auth|signature)[^=&#\s]*)=)[^&#\s]*",
    re.IGNORECASE,
)


def redact_text(text: str) -> str:
    """Hide credentials inside a string: URL userinfo and secret-looking query parameters."""
    return _SECRET_QUERY.sub(r"\1***", _USERINFO.sub(r"\1***@", text))


def redacted(cfg: RunConfig | dict[str, Any]) -> dict[str, Any]:
    """The resolved config as a dict with anything secret-looking redacted.

    A value under a token/secret/password/key-like name becomes `***`; inside any other string, URL
    credentials (`https://user:pass@host`, `https://TOKEN@host`) and secret query parameters are hidden.
    """

    def scrub(obj: Any, key: str = "") -> Any:
        if isinstance(obj, dict):
            return {k: scrub(v, str(k)) for k, v in obj.items()}
        if isinstance(obj, list | tuple):
            return [scrub(v, key) for v in obj]
        if any(s in key.lower() for s in REDACT_KEYS) and obj not in (None, ""):
            return "***"
        if isinstance(obj, str):
            return redact_text(obj)
        return obj

    return scrub(cfg.model_dump(mode="json") if isinstance(cfg, BaseModel) else cfg)
