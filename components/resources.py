"""How a component is placed on the cluster: image, CPU/memory, GPUs, retries, scheduling — declared once.

Each `components/<stage>/component.py` declares `RESOURCES = Resources(...)` next to its function; the pipeline
applies it with `apply()`, together with the cluster settings of the run (`RunConfig.cluster`: tolerations,
node selectors, timeouts, the cache volume, the security context) and the GPU count. All of them are
compile-time constants on purpose: kfp-kubernetes takes most of them only as constants, and a resource that
reads a pipeline parameter inside a nested DAG is an input the parent DAG never declares (the KFP driver and
kfp.local both refuse it). `edtune pipeline submit` recompiles with the submitter's settings. kfp.local ignores
CPU/memory/accelerator and every kfp-kubernetes setting (FACTS.md); retries are honoured.

The KFP backend each setting needs is in `edtune.pipeline.check.FEATURES` (docs/deploy.md has the table).
"""

from __future__ import annotations

import inspect
import os
import re
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from types import FrameType
from typing import Any

from edtune import __version__
from edtune.config import ClusterConfig

_VERSION = __version__.split("+")[0]
#: The one image setting. GPU stages use the -gpu variant of the same tag. `edtune pipeline submit` rewrites
#: both in the compiled spec from `cluster.image` / `--image` (see edtune.pipeline.graph.retarget_images); this
#: tag is never published, so submit refuses it unless told `--allow-unpinned`.
EDTUNE_IMAGE = os.environ.get("EDTUNE_IMAGE", f"ghcr.io/edtune/edtune-cpu:{_VERSION}")
EDTUNE_GPU_IMAGE = os.environ.get("EDTUNE_GPU_IMAGE", EDTUNE_IMAGE.replace("edtune-cpu", "edtune-gpu"))
GPU_RESOURCE = "nvidia.com/gpu"
ALLOWED_GPU_COUNTS = (0, 1, 2, 4, 8)
#: NetworkPolicies (manifests/base) admit only pods with this label to the teacher, Milvus and MinIO.
POD_LABEL = ("edtune.io/role", "pipeline")
CACHE_VOLUME = "edtune-cache"
#: Memory-backed /dev/shm of GPU tasks: NCCL and DataLoader workers exchange tensors through it, and a
#: container's default is 64 MiB. It counts against the task's memory limit, which includes it.
SHM_VOLUME = "dshm"
SHM_PER_GPU_GI = 8


@dataclass(frozen=True)
class Resources:
    cpu: str
    memory: str
    gpu: bool = False  # requests `nvidia.com/gpu` (count: a compile-time constant, `apply(gpu_count=...)`)
    retries: int = 0  # retry policy: stages that call services, and resumable ones a preemption may kill
    cache: bool = True  # KFP output caching
    scratch: bool = False  # mounts the model/teacher cache volume (cluster.cache_mount)
    long_running: bool = False  # annotate: takes the longer `annotate_timeout_s`
    # per GPU beyond the first (torchrun starts one worker per GPU, each holding the model on the host while it
    # loads, plus its DataLoader workers): "" = fixed whatever the GPU count
    cpu_per_extra_gpu: str = ""
    memory_per_extra_gpu: str = ""

    @property
    def image(self) -> str:
        return EDTUNE_GPU_IMAGE if self.gpu else EDTUNE_IMAGE


def timeout_for(res: Resources, cluster: ClusterConfig) -> int:
    """activeDeadlineSeconds for a task: a hung pod is killed instead of holding a GPU for days."""
    if res.long_running:
        return cluster.annotate_timeout_s
    return cluster.gpu_task_timeout_s if res.gpu else cluster.task_timeout_s


def _gi(quantity: str) -> int:
    m = re.fullmatch(r"(\d+)Gi", quantity)
    if not m:
        raise ValueError(f"memory {quantity!r}: write whole Gi (e.g. 64Gi)")
    return int(m.group(1))


def sized(res: Resources, gpu_count: int) -> tuple[str, str]:
    """CPU and memory of a task with `gpu_count` GPUs: the declared values, plus the per-extra-GPU share."""
    extra = max(gpu_count - 1, 0) if res.gpu else 0
    cpu, memory = res.cpu, res.memory
    if extra and res.cpu_per_extra_gpu:
        cpu = str(int(res.cpu) + extra * int(res.cpu_per_extra_gpu))
    if extra and res.memory_per_extra_gpu:
        memory = f"{_gi(res.memory) + extra * _gi(res.memory_per_extra_gpu)}Gi"
    return cpu, memory


class _StackWithoutSource:
    """Stands in for `inspect` inside kfp.dsl.pipeline_task while our setters run: `stack()` gives the same
    (frame, filename, lineno, function) records, read off the frames, without opening any source file."""

    def __getattr__(self, name: str) -> Any:
        return getattr(inspect, name)

    @staticmethod
    def stack(context: int = 1) -> list[tuple[Any, str, int, str]]:
        records: list[tuple[Any, str, int, str]] = []
        frame: FrameType | None = sys._getframe(1)
        while frame is not None:
            records.append((frame, frame.f_code.co_filename, frame.f_lineno, frame.f_code.co_name))
            frame = frame.f_back
        return records


@contextmanager
def _setters_skip_source_reads() -> Iterator[None]:
    """Why: each kfp resource setter calls `inspect.stack()` only to name itself in an error message, and that
    reads the source of every frame on the stack and scans `sys.modules` for each. In a process that has imported
    torch and transformers (a notebook, the test suite) that is ~0.1 s per setter and a minute per compile of the
    tuning pipeline; the graph and the compiled spec are the same either way."""
    from kfp.dsl import pipeline_task

    real = pipeline_task.inspect
    pipeline_task.inspect = _StackWithoutSource()  # type: ignore[assignment]
    try:
        yield
    finally:
        pipeline_task.inspect = real


@_setters_skip_source_reads()  # every call of apply runs kfp's setters with the frame-only stack
def apply(task: Any, res: Resources, gpu_count: int = 1, cluster: ClusterConfig | None = None) -> Any:
    """Apply a component's declared resources, its GPU count and the run's cluster placement to a task.

    `gpu_count` must be an int: a pipeline parameter here would be an undeclared input of nested DAGs. A GPU
    stage with 0 GPUs is placed like a CPU task (no accelerator, no GPU toleration).
    """
    from kfp import kubernetes

    if not isinstance(gpu_count, int) or gpu_count not in ALLOWED_GPU_COUNTS:
        raise ValueError(f"gpu_count {gpu_count!r}: a compile-time constant, one of {ALLOWED_GPU_COUNTS}")
    cluster = cluster or ClusterConfig()
    cpu, memory = sized(res, gpu_count)
    task.set_cpu_request(cpu).set_cpu_limit(cpu)
    task.set_memory_request(memory).set_memory_limit(memory)
    if res.gpu and gpu_count:
        task.set_accelerator_type(GPU_RESOURCE).set_accelerator_limit(gpu_count)
        kubernetes.empty_dir_mount(
            task,
            volume_name=SHM_VOLUME,
            mount_path="/dev/shm",
            medium="Memory",
            size_limit=f"{SHM_PER_GPU_GI * gpu_count}Gi",
        )
        for t in cluster.gpu_tolerations:
            kubernetes.add_toleration(task, key=t.key, operator=t.operator, value=t.value, effect=t.effect)
        for key, value in sorted(cluster.gpu_node_selector.items()):
            kubernetes.add_node_selector(task, key, value)
    else:
        for key, value in sorted(cluster.cpu_node_selector.items()):
            kubernetes.add_node_selector(task, key, value)
    if res.retries:
        task.set_retry(
            num_retries=res.retries, backoff_duration="30s", backoff_factor=2.0, backoff_max_duration="600s"
        )
    task.set_caching_options(res.cache)
    kubernetes.add_pod_label(task, *POD_LABEL)
    # Pod Security: the user container runs as the images' non-root user whatever the namespace's defaults are.
    kubernetes.set_security_context(
        task, run_as_user=cluster.run_as_user, run_as_group=cluster.run_as_user, run_as_non_root=True
    )
    seconds = timeout_for(res, cluster)
    if seconds:
        kubernetes.set_timeout(task, seconds)
    if res.scratch:
        # KFP gives task pods no fsGroup, so the cache must be a volume the non-root user can write: an emptyDir
        # (world-writable) by default; a PVC or a storage class only when the operator prepared it
        # (docs/deploy.md); each task checks at start (`edtune.pipeline.taskenv.require_writable_cache`).
        if cluster.cache_pvc:
            kubernetes.mount_pvc(task, pvc_name=cluster.cache_pvc, mount_path=cluster.cache_mount)
        elif not cluster.cache_storage_class:
            kubernetes.empty_dir_mount(
                task, volume_name=CACHE_VOLUME, mount_path=cluster.cache_mount, size_limit=cluster.cache_size
            )
        else:
            kubernetes.add_ephemeral_volume(
                task,
                volume_name=CACHE_VOLUME,
                mount_path=cluster.cache_mount,
                access_modes=["ReadWriteOnce"],
                size=cluster.cache_size,
                storage_class_name=cluster.cache_storage_class,
            )
    return task
