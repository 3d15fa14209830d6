"""What the serving side needs from the registry: per-task pinned syncs, and a KServe InferenceService.

The adapter server serves several tasks, one LoRA each: those of `EDTUNE_TASKS` (empty on a fresh install) plus
every task named by a pod-template annotation `adapters.edtune.io/<task>`, which `publish --rollout` adds. The
annotation's value pins the task to a version (empty = what `latest.json` names); the server's initContainer reads
all annotations from a downward-API file (a container cannot name an annotation key chosen at deploy time in a
`fieldRef`, which is why a fixed `fieldRef` pinned only the task `demo`). With no task at all the server starts on
the base model alone. A KServe InferenceService must name an immutable, published
version in its storage URI, so it is generated from the registry instead of being committed with a placeholder.
"""

from __future__ import annotations

import json
import logging
import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from edtune.errors import InputError
from edtune.publish.fetch import sync
from edtune.publish.layout import latest_uri, task_uri
from edtune.publish.pointer import LatestPointer
from edtune.publish.registry import read_latest
from edtune.publish.rollout import TASK_ANNOTATION_PREFIX
from edtune.publish.verify import verify_version

log = logging.getLogger(__name__)

LORA_ARGS_NAME = "lora-modules.args"
_TASK_NAME = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9._-]{0,61}[A-Za-z0-9])?$")  # what rollout accepts


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
    """`EDTUNE_TASKS` as a list; empty (a fresh install) is `[]`: the tasks then come from the annotations."""
    names = [t.strip() for t in tasks.split(",") if t.strip()]
    if len(set(names)) != len(names):
        raise InputError(f"--tasks: {tasks!r} names a task twice")
    for name in names:
        if not _TASK_NAME.match(name):
            raise InputError(f"--tasks: {name!r} is not a task name (letters, digits, '.', '_', '-')")
    return names


def annotated_tasks(annotations: dict[str, str]) -> list[str]:
    """Every task named by an `adapters.edtune.io/<task>` key (what `publish --rollout` writes), sorted."""
    found = []
    for key in annotations:
        if key.startswith(TASK_ANNOTATION_PREFIX):
            task = key[len(TASK_ANNOTATION_PREFIX) :]
            if _TASK_NAME.match(task):
                found.append(task)
            else:
                log.warning("serving.ignored_annotation key=%s (not a task name)", key)
    return sorted(found)


def pins(annotations: dict[str, str], tasks: list[str]) -> dict[str, str | None]:
    """The pinned version of each task (`adapters.edtune.io/<task>`), None when empty or absent (= latest)."""
    return {t: (annotations.get(TASK_ANNOTATION_PREFIX + t) or None) for t in tasks}


def sync_tasks(
    registry: str,
    tasks: list[str],
    dest: str | Path,
    pins_file: str | Path | None = None,
    warn: Callable[[str], None] | None = None,
) -> dict[str, LatestPointer]:
    """Sync and verify the pinned (or latest) version of every task — those of `tasks`, then those the annotations
    name — into `dest/<task>`, then write the server's `--lora-modules` list (`dest/lora-modules.args`:
    `task=dest/task ...`, empty with no task) last, so a server never starts on a half-synced set.

    A task with no pin and nothing published is skipped (`warn` gets one line; default: a logged warning), so
    listing a task before its first publish does not keep the server from starting. A pinned version that is
    absent or does not verify raises, naming the file."""
    dest = Path(dest)
    annotations: dict[str, str] = {}
    if pins_file is not None and Path(pins_file).is_file():
        annotations = parse_downward_annotations(Path(pins_file).read_text())
    wanted_tasks = list(dict.fromkeys([*tasks, *annotated_tasks(annotations)]))
    wanted = pins(annotations, wanted_tasks)
    done: dict[str, LatestPointer] = {}
    for task in wanted_tasks:
        if wanted[task] is None and read_latest(registry, task) is None:
            msg = f"{task}: skipped, nothing published ({latest_uri(registry, task)} absent) and no pin"
            (warn or log.warning)(msg)
            continue
        done[task] = sync(registry, task, dest / task, wanted[task])
        log.info("serving.synced task=%s version=%s pinned=%s", task, done[task].version, bool(wanted[task]))
    dest.mkdir(parents=True, exist_ok=True)
    args = dest / LORA_ARGS_NAME
    tmp = args.with_name(f".{LORA_ARGS_NAME}.{os.getpid()}.edtune-tmp")
    listing = " ".join(f"{t}={dest / t}" for t in done)
    tmp.write_text(listing + "\n" if listing else "")
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
