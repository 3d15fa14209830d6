"""How a component is placed on the cluster: image, CPU/memory, GPUs, retries — declared once per component.

Each `components/<stage>/component.py` declares `RESOURCES = Resources(...)` next to its function; the pipeline
applies it with `apply()`. Locally (kfp.local) CPU/memory/accelerator settings are ignored (FACTS.md); retries are
honoured.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from edtune import __version__

_VERSION = __version__.split("+")[0]
#: The one image setting. GPU stages use the -gpu variant of the same tag.
EDTUNE_IMAGE = os.environ.get("EDTUNE_IMAGE", f"ghcr.io/edtune/edtune-cpu:{_VERSION}")
EDTUNE_GPU_IMAGE = os.environ.get("EDTUNE_GPU_IMAGE", EDTUNE_IMAGE.replace("edtune-cpu", "edtune-gpu"))
GPU_RESOURCE = "nvidia.com/gpu"
ALLOWED_GPU_COUNTS = (0, 1, 2, 4, 8)
#: NetworkPolicies (manifests/base) admit only pods with this label to the teacher, Milvus and MinIO.
POD_LABEL = ("edtune.io/role", "pipeline")


@dataclass(frozen=True)
class Resources:
    cpu: str
    memory: str
    gpu: bool = False  # requests `nvidia.com/gpu` (count from a pipeline parameter)
    retries: int = 0  # retry policy for stages that call services
    cache: bool = True

    @property
    def image(self) -> str:
        return EDTUNE_GPU_IMAGE if self.gpu else EDTUNE_IMAGE


def apply(task: Any, res: Resources, gpu_count: Any = 1) -> Any:
    """Apply a component's declared resources to a pipeline task."""
    task.set_cpu_request(res.cpu).set_cpu_limit(res.cpu)
    task.set_memory_request(res.memory).set_memory_limit(res.memory)
    if res.gpu:
        task.set_accelerator_type(GPU_RESOURCE).set_accelerator_limit(gpu_count)
    if res.retries:
        task.set_retry(
            num_retries=res.retries, backoff_duration="30s", backoff_factor=2.0, backoff_max_duration="600s"
        )
    task.set_caching_options(res.cache)
    from kfp import kubernetes

    kubernetes.add_pod_label(task, *POD_LABEL)
    return task
