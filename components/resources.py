"""How a component is placed on the cluster: image, CPU/memory, GPUs, retries, scheduling — declared once.

Each `components/<stage>/component.py` declares `RESOURCES = Resources(...)` next to its function; the pipeline
applies it with `apply()`, together with the cluster settings of the run (`RunConfig.cluster`: tolerations,
node selectors, timeouts, the cache volume, the security context). `edtune pipeline submit` recompiles with the
submitter's settings, so they are compile-time values on purpose: kfp-kubernetes takes most of them only as
constants. Locally (kfp.local) CPU/memory/accelerator and every kfp-kubernetes setting are ignored (FACTS.md);
retries are honoured.

KFP backend versions these settings need (docs/deploy.md has the table): the GPU `resourceCount` placeholder
needs a backend >= 2.4; tolerations, node selectors, `set_timeout` (activeDeadlineSeconds) and generic
ephemeral volumes need >= 2.2 (kfp-kubernetes 1.2/1.3 era); `set_security_context` (runAsUser/runAsGroup/
runAsNonRoot on the user container; the backend itself adds allowPrivilegeEscalation=false, drop ALL and
seccomp RuntimeDefault) needs the 2.17 backend that ships with this SDK — an older backend ignores it and the
pod then runs with the image's USER only.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from edtune import __version__
from edtune.config import ClusterConfig

_VERSION = __version__.split("+")[0]
#: The one image setting. GPU stages use the -gpu variant of the same tag. `edtune pipeline submit` rewrites
#: both in the compiled spec from `cluster.image` / `--image` (see edtune.pipeline.retarget_images).
EDTUNE_IMAGE = os.environ.get("EDTUNE_IMAGE", f"ghcr.io/edtune/edtune-cpu:{_VERSION}")
EDTUNE_GPU_IMAGE = os.environ.get("EDTUNE_GPU_IMAGE", EDTUNE_IMAGE.replace("edtune-cpu", "edtune-gpu"))
GPU_RESOURCE = "nvidia.com/gpu"
ALLOWED_GPU_COUNTS = (0, 1, 2, 4, 8)
#: NetworkPolicies (manifests/base) admit only pods with this label to the teacher, Milvus and MinIO.
POD_LABEL = ("edtune.io/role", "pipeline")
CACHE_VOLUME = "edtune-cache"


@dataclass(frozen=True)
class Resources:
    cpu: str
    memory: str
    gpu: bool = False  # requests `nvidia.com/gpu` (count from a pipeline parameter)
    retries: int = 0  # retry policy: stages that call services, and resumable ones a preemption may kill
    cache: bool = True  # KFP output caching
    scratch: bool = False  # mounts the model/teacher cache volume (cluster.cache_mount)
    long_running: bool = False  # annotate: takes the longer `annotate_timeout_s`

    @property
    def image(self) -> str:
        return EDTUNE_GPU_IMAGE if self.gpu else EDTUNE_IMAGE


def timeout_for(res: Resources, cluster: ClusterConfig) -> int:
    """activeDeadlineSeconds for a task: a hung pod is killed instead of holding a GPU for days."""
    if res.long_running:
        return cluster.annotate_timeout_s
    return cluster.gpu_task_timeout_s if res.gpu else cluster.task_timeout_s


def apply(task: Any, res: Resources, gpu_count: Any = 1, cluster: ClusterConfig | None = None) -> Any:
    """Apply a component's declared resources and the run's cluster placement to a pipeline task."""
    from kfp import kubernetes

    cluster = cluster or ClusterConfig()
    task.set_cpu_request(res.cpu).set_cpu_limit(res.cpu)
    task.set_memory_request(res.memory).set_memory_limit(res.memory)
    if res.gpu:
        task.set_accelerator_type(GPU_RESOURCE).set_accelerator_limit(gpu_count)
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
        if cluster.cache_pvc:
            kubernetes.mount_pvc(task, pvc_name=cluster.cache_pvc, mount_path=cluster.cache_mount)
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
