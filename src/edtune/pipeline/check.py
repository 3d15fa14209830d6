"""Check a compiled pipeline spec against the KFP backend driver's rules before anything is sent.

A spec the SDK compiles is not a spec the backend runs. The driver resolves every task input against the
inputs its *parent DAG* declares (`backend/src/v2/driver/resolve.go`: "parent DAG does not have input
parameter"), each release parses a different set of Kubernetes platform fields, and a tag image that was never
pushed fails only when the pod pulls it. This module reads the YAML as the backend would and reports, per rule:

- `input-declared`: every task input comes from an input its parent DAG declares, a sibling task's output, or
  a sibling's final status (nested DAGs walked: exit handler, conditions, loops);
- `channel-declared`: every `pipelinechannel--*` reference (conditions, loop items, executor placeholders,
  platform config) names an input of the task that uses it;
- `secret-present`: every Secret bound as env names a Secret (a constant or a declared, non-empty parameter)
  and at least one key;
- `image-pinned`: every executor image is digest-pinned (an error for `submit`, a warning for committed specs);
- `backend-floor`: the features the spec uses, each with the first KFP backend that runs it (`FEATURES`).

`check_spec_file` returns a `SpecReport`; `raise_for_errors()` turns its errors into InputError (exit 2), each
problem naming the task, the input and the rule.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml

from edtune.errors import InputError
from edtune.pipeline.backend import (
    BACKEND_FLOOR,
    FEATURES,
    Feature,
    Finding,
    Version,
    check_backend,
    fmt,
    parse_version,
)

__all__ = [
    "BACKEND_FLOOR",
    "FEATURES",
    "Feature",
    "Finding",
    "SpecReport",
    "Version",
    "check_backend",
    "check_spec",
    "check_spec_file",
    "fmt",
    "parse_version",
]

_CHANNEL = re.compile(r"pipelinechannel--[A-Za-z0-9_-]+")
_DIGEST = re.compile(r"@sha256:[0-9a-f]{64}$")


_PLACEMENT_FIELDS = ("tolerations", "nodeSelector", "podMetadata", "activeDeadlineSeconds")
_VOLUME_FIELDS = ("pvcMount", "genericEphemeralVolume")


@dataclass
class SpecReport:
    path: str
    findings: list[Finding] = field(default_factory=list)
    features: dict[str, list[str]] = field(default_factory=dict)  # feature key -> where it is used

    @property
    def errors(self) -> list[Finding]:
        return [f for f in self.findings if f.level == "error"]

    @property
    def warnings(self) -> list[Finding]:
        return [f for f in self.findings if f.level == "warning"]

    @property
    def min_backend(self) -> Version:
        """The oldest backend that runs every feature this spec uses."""
        return max((FEATURES[k].runs_from for k in self.features), default=(2, 0, 0))

    def raise_for_errors(self) -> None:
        if self.errors:
            raise InputError(
                f"{self.path}: the KFP backend would refuse this spec ({len(self.errors)} problem(s))",
                [f.problem(self.path) for f in self.errors],
            )

    def summary(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "ok": not self.errors,
            "errors": [f.__dict__ for f in self.errors],
            "warnings": [f.__dict__ for f in self.warnings],
            "features": {
                k: {
                    "runs_from": fmt(FEATURES[k].runs_from),
                    "works_from": fmt(FEATURES[k].works_from),
                    "used_by": len(v),
                }
                for k, v in sorted(self.features.items())
            },
            "min_backend": fmt(self.min_backend),
        }


class _Checker:
    def __init__(self, docs: list[dict], path: str, strict_images: bool) -> None:
        self.spec = docs[0]
        self.platform = (
            (docs[1] if len(docs) > 1 and docs[1] else {})
            .get("platforms", {})
            .get("kubernetes", {})
            .get("deploymentSpec", {})
            .get("executors", {})
        )
        self.strict_images = strict_images
        self.report = SpecReport(path)
        self.components: dict[str, dict] = self.spec.get("components", {})
        self.root_params = self.spec.get("root", {}).get("inputDefinitions", {}).get("parameters", {})
        # executor -> the input names of every task that runs it (executor placeholders resolve against these)
        self.executor_inputs: dict[str, list[set[str]]] = {}
        # executor -> the inputs each of its tasks' parent DAG declares (the driver resolves platform config
        # parameters, e.g. a Secret name, against the parent DAG's inputs)
        self.executor_parents: dict[str, list[set[str]]] = {}

    def add(self, level: Literal["error", "warning"], rule: str, task: str, inp: str, msg: str) -> None:
        self.report.findings.append(Finding(level, rule, task, inp, msg))

    def use(self, feature: str, where: str) -> None:
        places = self.report.features.setdefault(feature, [])
        if where not in places:
            places.append(where)

    def run(self) -> SpecReport:
        self.use("dag", "root")
        self.walk("root", self.spec.get("root", {}), seen=set())
        self.check_executors()
        self.check_platform()
        return self.report

    # ------------------------------------------------------------ DAGs

    def walk(self, name: str, comp: dict, seen: set[str]) -> None:
        if name in seen:
            return
        seen.add(name)
        defs = comp.get("inputDefinitions", {})
        params, artifacts = set(defs.get("parameters", {})), set(defs.get("artifacts", {}))
        tasks: dict[str, dict] = comp.get("dag", {}).get("tasks", {})
        for tname, task in tasks.items():
            where = f"{name}/{tname}"
            self.check_task(where, task, params, artifacts, tasks)
            ref = task.get("componentRef", {}).get("name", "")
            child = self.components.get(ref)
            if child is None:
                self.add(
                    "error", "input-declared", where, "componentRef", f"component {ref!r} is not defined"
                )
                continue
            if "dag" in child:
                self.walk(ref, child, seen)
            elif child.get("executorLabel"):
                inputs = set(task.get("inputs", {}).get("parameters", {}))
                self.executor_inputs.setdefault(child["executorLabel"], []).append(inputs)
                self.executor_parents.setdefault(child["executorLabel"], []).append(params)

    def check_task(
        self, where: str, task: dict, params: set[str], artifacts: set[str], siblings: dict
    ) -> None:
        inputs = task.get("inputs", {})
        for kind, declared, from_parent, from_sibling, noun in (
            ("parameters", params, "componentInputParameter", "taskOutputParameter", "an output"),
            ("artifacts", artifacts, "componentInputArtifact", "taskOutputArtifact", "an artifact"),
        ):
            for iname, spec in inputs.get(kind, {}).items():
                if from_parent in spec and spec[from_parent] not in declared:
                    what = "" if kind == "parameters" else "artifact "
                    self.add(
                        "error",
                        "input-declared",
                        where,
                        iname,
                        f"reads {what}{spec[from_parent]!r}, which its parent DAG does not declare"
                        + (
                            " (the driver fails: 'parent DAG does not have input parameter')"
                            if not what
                            else ""
                        ),
                    )
                producer = (spec.get(from_sibling) or {}).get("producerTask")
                if producer and producer not in siblings:
                    self.add(
                        "error",
                        "input-declared",
                        where,
                        iname,
                        f"reads {noun} of {producer!r}, which is not a task of the same DAG",
                    )
        for iname, spec in inputs.get("parameters", {}).items():
            final = (spec.get("taskFinalStatus") or {}).get("producerTask")
            if final is not None:
                self.use("exit-handler-status", where)
                if final not in siblings:
                    self.add(
                        "error",
                        "input-declared",
                        where,
                        iname,
                        f"reads the final status of {final!r}, which is not a task of the same DAG",
                    )
        for dep in task.get("dependentTasks", []):
            if dep not in siblings:
                self.add(
                    "error",
                    "input-declared",
                    where,
                    "dependentTasks",
                    f"depends on {dep!r}, which is not a task of the same DAG",
                )
        own = set(inputs.get("parameters", {})) | set(inputs.get("artifacts", {}))
        condition = task.get("triggerPolicy", {}).get("condition", "")
        for ch in _CHANNEL.findall(condition):
            if ch not in own:
                self.add(
                    "error",
                    "channel-declared",
                    where,
                    ch,
                    "the trigger condition reads an input the task does not have",
                )
        iterator = task.get("parameterIterator", {}).get("items", {}).get("inputParameter")
        if iterator and iterator not in own:
            self.add(
                "error", "channel-declared", where, iterator, "the loop's items are not an input of the loop"
            )
        if "retryPolicy" in task:
            self.use("retry-policy", where)

    # ------------------------------------------------------------ executors and platform config

    def check_executors(self) -> None:
        executors = self.spec.get("deploymentSpec", {}).get("executors", {})
        for ex_name, ex in executors.items():
            container = ex.get("container")
            if container is None:
                continue
            where = f"executor {ex_name}"
            image = str(container.get("image", ""))
            if not _DIGEST.search(image):
                self.add(
                    "error" if self.strict_images else "warning",
                    "image-pinned",
                    where,
                    "image",
                    f"{image!r} is a tag, not a digest (@sha256:...): a moved or never-pushed tag fails or "
                    "changes at pull time; pass --image/--gpu-image by digest, or --allow-unpinned",
                )
            accel = container.get("resources", {}).get("accelerator", {})
            count = str(accel.get("resourceCount", accel.get("count", "")))
            if "{{$" in count:
                self.use("accelerator-parameter", where)
            component_inputs = self.executor_inputs.get(ex_name, [])
            text = yaml.safe_dump(container.get("resources", {}))
            for ch in set(_CHANNEL.findall(text)):
                for inputs in component_inputs:
                    if ch not in inputs:
                        self.add(
                            "error",
                            "channel-declared",
                            where,
                            ch,
                            "a resource reads a pipeline channel that the task using this executor is not "
                            "given; use a compile-time constant",
                        )
                        break

    def check_platform(self) -> None:
        for ex_name, spec in self.platform.items():
            where = f"executor {ex_name}"
            users = self.executor_parents.get(ex_name, [])
            for key in _PLACEMENT_FIELDS:
                if spec.get(key):
                    self.use("placement", where)
            for key in _VOLUME_FIELDS:
                if spec.get(key):
                    self.use("volumes", where)
            if spec.get("emptyDirMounts"):
                self.use("empty-dir", where)
            if spec.get("securityContext"):
                self.use("security-context", where)
            for i, secret in enumerate(spec.get("secretAsEnv", [])):
                self.check_secret(f"{where}", f"secretAsEnv[{i}]", secret, users)
            for ch in set(_CHANNEL.findall(yaml.safe_dump(spec))):
                if any(ch not in inputs for inputs in users):
                    self.add(
                        "error",
                        "channel-declared",
                        where,
                        ch,
                        "the platform config reads a pipeline channel that the parent DAG of a task using "
                        "this executor does not declare",
                    )

    def check_secret(self, where: str, field: str, secret: dict, users: list[set[str]]) -> None:
        if secret.get("optional"):
            self.use("secret-optional", where)
        keys = secret.get("keyToEnv", [])
        if not keys or any(not k.get("secretKey") or not k.get("envVar") for k in keys):
            self.add(
                "error", "secret-present", where, field, "binds no Secret key, or a key without an env var"
            )
        param = secret.get("secretNameParameter", {})
        constant = param.get("runtimeValue", {}).get("constant")
        name_input = param.get("componentInputParameter")
        if name_input:
            self.use("secret-name-parameter", where)
            root_name = name_input.removeprefix("pipelinechannel--")
            default = self.root_params.get(root_name, {}).get("defaultValue")
            if root_name not in self.root_params:
                self.add(
                    "error",
                    "secret-present",
                    where,
                    field,
                    f"the Secret name comes from {name_input!r}, which is no pipeline parameter",
                )
            elif not default:
                self.add(
                    "warning",
                    "secret-present",
                    where,
                    field,
                    f"the Secret name parameter {root_name!r} has no default: every run must pass it",
                )
        elif not (constant or secret.get("secretName")):
            self.add("error", "secret-present", where, field, "names no Secret")


def check_spec(docs: list[dict], path: str = "<spec>", *, strict_images: bool = False) -> SpecReport:
    """Check a compiled spec (the YAML documents: pipeline spec, then platform spec)."""
    if not docs or not isinstance(docs[0], dict) or "root" not in docs[0]:
        raise InputError(f"{path}: not a compiled KFP v2 pipeline (no `root`)")
    return _Checker(docs, path, strict_images).run()


def check_spec_file(path: str | Path, *, strict_images: bool = False) -> SpecReport:
    """Check one compiled YAML file; InputError when it is not a compiled pipeline at all."""
    p = Path(path)
    try:
        docs = [d for d in yaml.safe_load_all(p.read_text()) if d is not None]
    except (OSError, yaml.YAMLError) as exc:
        raise InputError(f"{p}: cannot read a compiled pipeline ({type(exc).__name__}: {exc})") from None
    return check_spec(docs, str(p), strict_images=strict_images)
