"""Build and compile the pipeline graph: one builder per pipeline, shared by compile, run-local and submit.

The pipelines and components live at the repository's top level (`pipelines/`, `components/`); this module finds
them from the installed (editable) package, from `EDTUNE_REPO`, or from the current directory.

Everything a run can vary that kfp.local or the KFP driver cannot take as a runtime value inside nested DAGs
(GPU counts, the placement of `cluster`, the images) is a compile-time argument of the builder: `submit`,
`upload` and `schedule` recompile anyway, and `run-local` runs that same compiled spec (see `edtune.pipeline.local`).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any, Literal

import yaml

from edtune.config import ClusterConfig, RunConfig
from edtune.errors import InputError

PIPELINES = {
    "error_driven_tuning": ("pipelines.error_driven_tuning", "error_driven_tuning"),
    "index_support_set": ("pipelines.index_support_set", "index_support_set"),
}
#: Short names accepted by `--pipeline`.
ALIASES = {"tuning": "error_driven_tuning", "index": "index_support_set"}
PipelineName = Literal["tuning", "index"]
#: GPU counts a GPU task may request (one node's worth; multi-node training is not built).
ALLOWED_GPU_COUNTS = (0, 1, 2, 4, 8)
MAX_EVAL_SHARDS = 64


def repo_root() -> Path:
    """The directory holding `components/` and `pipelines/`."""
    candidates = []
    if os.environ.get("EDTUNE_REPO"):
        candidates.append(Path(os.environ["EDTUNE_REPO"]))
    candidates += [Path(__file__).resolve().parents[3], Path.cwd(), *Path.cwd().parents]
    for c in candidates:
        if (c / "components" / "resources.py").exists() and (
            c / "pipelines" / "error_driven_tuning.py"
        ).exists():
            return c
    raise InputError(
        "cannot find the edtune repository (components/, pipelines/): a wheel install does not ship them; "
        "check out the edtune source at the installed version and set EDTUNE_REPO to it"
    )


def _on_path() -> None:
    root = str(repo_root())
    if root not in sys.path:
        sys.path.insert(0, root)


def canonical(name: str) -> str:
    """`tuning`/`index` or a full pipeline name -> the full name; InputError naming the choices otherwise."""
    full = ALIASES.get(name, name)
    if full not in PIPELINES:
        raise InputError(f"unknown pipeline {name!r}; choose from {sorted(ALIASES)}")
    return full


def check_gpu_counts(eval_shards: int = 1, **counts: int) -> None:
    """Refuse a GPU count a node cannot give, or a shard count out of range (InputError naming the flag)."""
    for flag, n in counts.items():
        if n not in ALLOWED_GPU_COUNTS:
            raise InputError(f"--{flag.replace('_', '-')} {n}: choose one of {list(ALLOWED_GPU_COUNTS)}")
    if not 1 <= eval_shards <= MAX_EVAL_SHARDS:
        raise InputError(f"--eval-shards {eval_shards}: choose 1 to {MAX_EVAL_SHARDS}")


def load_pipeline(
    name: str,
    *,
    cluster: ClusterConfig | None = None,
    eval_gpus: int = 1,
    tune_gpus: int = 1,
    eval_shards: int = 1,
) -> Any:
    """The pipeline function, built with `cluster`'s placement, the GPU counts and the evaluation shard count as
    compile-time constants.

    There is one builder per pipeline and no local variant: the graph kfp.local runs is the graph submit sends.
    """
    import importlib

    name = canonical(name)
    check_gpu_counts(eval_shards, eval_gpus=eval_gpus, tune_gpus=tune_gpus)
    _on_path()
    module, _ = PIPELINES[name]
    mod = importlib.import_module(module)
    if name == "error_driven_tuning":
        return mod.build(cluster=cluster, eval_gpus=eval_gpus, tune_gpus=tune_gpus, eval_shards=eval_shards)
    return mod.build(cluster=cluster)


def compiled_path(name: str) -> Path:
    return repo_root() / "pipelines" / "compiled" / f"{canonical(name)}.yaml"


def default_images() -> tuple[str, str]:
    """The images the committed YAML names (EDTUNE_IMAGE / EDTUNE_GPU_IMAGE at import of components)."""
    _on_path()
    from components.resources import EDTUNE_GPU_IMAGE, EDTUNE_IMAGE

    return EDTUNE_IMAGE, EDTUNE_GPU_IMAGE


def resolve_images(cfg: RunConfig, image: str | None = None, gpu_image: str | None = None) -> tuple[str, str]:
    """CPU and GPU image of a run: flag > `cluster.image`/`cluster.gpu_image` > EDTUNE_IMAGE env > default.

    The GPU image defaults to the `edtune-gpu` sibling of the CPU image; a CPU image that is not named
    `edtune-cpu` needs an explicit GPU image (the error names `cluster.gpu_image`).
    """
    cpu_default, gpu_default = default_images()
    cpu = image or cfg.cluster.image or cpu_default
    gpu = gpu_image or cfg.cluster.gpu_image
    if not gpu:
        if cpu == cpu_default:
            gpu = gpu_default
        elif "edtune-cpu" in cpu and "@sha256:" not in cpu:
            gpu = cpu.replace("edtune-cpu", "edtune-gpu")
        else:
            raise InputError(
                "cluster.gpu_image: the CPU image "
                f"{cpu!r} has no derivable GPU sibling; set cluster.gpu_image (or --gpu-image)"
            )
    return cpu, gpu


def retarget_images(path: str | Path, cpu: str, gpu: str) -> None:
    """Point every executor of a compiled pipeline at `cpu` or `gpu` (GPU executors request an accelerator).

    kfp bakes `base_image` into the spec at decoration time; rewriting the executors of a fresh compile is the
    one place the submit-time image choice is applied, so the YAML sent always names the chosen images.
    """
    path = Path(path)
    docs = list(yaml.safe_load_all(path.read_text()))
    for ex in docs[0]["deploymentSpec"]["executors"].values():
        container = ex.get("container")
        if container is None:
            continue
        container["image"] = gpu if "accelerator" in container.get("resources", {}) else cpu
    path.write_text(yaml.safe_dump_all(docs, sort_keys=False))


def compile_pipelines(
    out_dir: str | Path | None = None,
    cluster: ClusterConfig | None = None,
    images: tuple[str, str] | None = None,
    names: list[str] | None = None,
    *,
    eval_gpus: int = 1,
    tune_gpus: int = 1,
    eval_shards: int = 1,
) -> list[str]:
    """Compile pipelines to YAML. Without arguments: every pipeline with the default cluster settings, which is
    what `pipelines/compiled/` holds (a test compares them). With `cluster`/`images`/GPU counts: a run's spec."""
    from kfp import compiler

    out = Path(out_dir) if out_dir else repo_root() / "pipelines" / "compiled"
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for name in names or list(PIPELINES):
        path = out / f"{canonical(name)}.yaml"
        fn = load_pipeline(
            name, cluster=cluster, eval_gpus=eval_gpus, tune_gpus=tune_gpus, eval_shards=eval_shards
        )
        compiler.Compiler().compile(fn, str(path))
        if images is not None and images != default_images():
            retarget_images(path, *images)
        written.append(str(path))
    return written


def compile_run_spec(
    cfg: RunConfig,
    pipeline: str,
    out_dir: Path,
    *,
    images: tuple[str, str] | None = None,
    eval_gpus: int = 1,
    tune_gpus: int = 1,
    eval_shards: int = 1,
) -> Path:
    """The one spec of a run: what `submit`/`upload`/`schedule` send and what `run-local` runs."""
    [path] = compile_pipelines(
        out_dir,
        cluster=cfg.cluster,
        images=images,
        names=[pipeline],
        eval_gpus=eval_gpus,
        tune_gpus=tune_gpus,
        eval_shards=eval_shards,
    )
    return Path(path)
