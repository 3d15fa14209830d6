"""What the serving side needs from the registry: per-task pinned syncs, and a KServe InferenceService.

The adapter server serves several tasks, one LoRA each (`EDTUNE_TASKS`). Each task can be pinned to a version by
the pod-template annotation `adapters.edtune.io/<task>`; the server's initContainer reads all annotations from a
downward-API file (a container cannot name an annotation key chosen at deploy time in a `fieldRef`, which is why
a fixed `fieldRef` pinned only the task `demo`). A KServe InferenceService must name an immutable, published
version in its storage URI, so it is generated from the registry instead of being committed with a placeholder.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any

from edtune.errors import InputError
from edtune.publish.fetch import sync
from edtune.publish.layout import task_uri
from edtune.publish.pointer import LatestPointer
from edtune.publish.registry import read_latest
from edtune.publish.rollout import TASK_ANNOTATION_PREFIX
from edtune.publish.verify import verify_version

log = logging.getLogger(__name__)

LORA_ARGS_NAME = "lora-modules.args"


def parse_downward_annotations(text: str) -> dict[str, str]:
    """Parse a downward-API `metadata.annotations` file: one `key="value"` per line, value Go-quoted."""
    out: dict[str, str] = {}
    for line in text.splitlines():
        if "=" not in line:
            continue
        key, _, raw = line.partition("=")
        raw = raw.strip()
        try:
            value = json.loads(raw) if raw.startswith('"') else raw
        except ValueError:
            value = raw.strip('"')
        out[key.strip()] = str(value)
    return out


def parse_tasks(tasks: str) -> list[str]:
    names = [t.strip() for t in tasks.split(",") if t.strip()]
    if not names:
        raise InputError("--tasks: name at least one task (comma-separated)")
    if len(set(names)) != len(names):
        raise InputError(f"--tasks: {tasks!r} names a task twice")
    return names


def pins(annotations: dict[str, str], tasks: list[str]) -> dict[str, str | None]:
    """The pinned version of each task (`adapters.edtune.io/<task>`), None when empty or absent (= latest)."""
    return {t: (annotations.get(TASK_ANNOTATION_PREFIX + t) or None) for t in tasks}


def sync_tasks(
    registry: str, tasks: list[str], dest: str | Path, pins_file: str | Path | None = None
) -> dict[str, LatestPointer]:
    """Sync and verify every task's pinned (or latest) version into `dest/<task>`, then write the server's
    `--lora-modules` list (`dest/lora-modules.args`: `task=dest/task ...`) — written last, so a server never starts
    on a half-synced set."""
    dest = Path(dest)
    annotations: dict[str, str] = {}
    if pins_file is not None and Path(pins_file).is_file():
        annotations = parse_downward_annotations(Path(pins_file).read_text())
    wanted = pins(annotations, tasks)
    done: dict[str, LatestPointer] = {}
    for task in tasks:
        done[task] = sync(registry, task, dest / task, wanted[task])
        log.info("serving.synced task=%s version=%s pinned=%s", task, done[task].version, bool(wanted[task]))
    args = dest / LORA_ARGS_NAME
    tmp = args.with_name(f".{LORA_ARGS_NAME}.{os.getpid()}.edtune-tmp")
    tmp.write_text(" ".join(f"{t}={dest / t}" for t in tasks) + "\n")
    os.replace(tmp, args)  # atomic: a server never reads a half-written list
    return done


def kserve_inference_service(
    registry: str,
    task: str,
    version: str | None = None,
    *,
    name: str = "edtune-adapter-kserve",
    namespace: str = "edtune",
    base_model: str = "Qwen/Qwen2-VL-7B-Instruct",
    image: str = "vllm/vllm-openai:v0.11.0",
) -> dict[str, Any]:
    """An InferenceService serving `task`'s version (default: latest) with vLLM, its storage URI the version's
    immutable directory. Refuses a version that is absent or does not verify (the storage initializer would
    otherwise crash-loop on it). The pod meets Pod Security `restricted`."""
    if version is None:
        pointer = read_latest(registry, task)
        if pointer is None:
            raise InputError(f"{registry}: nothing published for task {task!r}")
        version = pointer.version
    problems = verify_version(registry, task, version)
    if problems:
        raise InputError(f"{task} {version}: not a complete, intact version:\n  " + "\n  ".join(problems))
    storage_uri = f"{task_uri(registry, task)}/{version}/"
    return {
        "apiVersion": "serving.kserve.io/v1beta1",
        "kind": "InferenceService",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "annotations": {
                "serving.kserve.io/deploymentMode": "RawDeployment",
                "edtune.io/adapter-version": version,
            },
            "labels": {"app.kubernetes.io/part-of": "edtune", "edtune.io/task": task},
        },
        "spec": {
            "predictor": {
                "serviceAccountName": "edtune-kserve-s3",
                "minReplicas": 1,
                "securityContext": {
                    "runAsNonRoot": True,
                    "runAsUser": 10001,
                    "runAsGroup": 10001,
                    "fsGroup": 10001,
                    "seccompProfile": {"type": "RuntimeDefault"},
                },
                "containers": [
                    {
                        "name": "kserve-container",
                        "image": image,
                        "command": ["vllm", "serve"],
                        "args": [
                            base_model,
                            "--enable-lora",
                            "--max-lora-rank",
                            "64",
                            "--lora-modules",
                            f"{task}=/mnt/models",
                            "--host=0.0.0.0",
                            "--port=8080",
                        ],
                        "env": [
                            {"name": "STORAGE_URI", "value": storage_uri},
                            {"name": "HOME", "value": "/tmp"},
                            {"name": "HF_HOME", "value": "/tmp/hf"},
                        ],
                        "ports": [{"containerPort": 8080, "protocol": "TCP"}],
                        "securityContext": {
                            "allowPrivilegeEscalation": False,
                            "capabilities": {"drop": ["ALL"]},
                            "runAsNonRoot": True,
                            "seccompProfile": {"type": "RuntimeDefault"},
                        },
                        "resources": {
                            "requests": {
                                "cpu": "4",
                                "memory": "32Gi",
                                "nvidia.com/gpu": "1",
                                "ephemeral-storage": "20Gi",
                            },
                            "limits": {
                                "cpu": "8",
                                "memory": "64Gi",
                                "nvidia.com/gpu": "1",
                                "ephemeral-storage": "70Gi",
                            },
                        },
                    }
                ],
            }
        },
    }
