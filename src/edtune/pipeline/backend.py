"""Which KFP backend runs which feature of a compiled spec, and the floor edtune supports.

Read from the backend's driver source of each release a Kubeflow version ships (Kubeflow 1.9.0 = KFP 2.2.0,
1.9.1 = 2.3.0, 1.10.0 = 2.4.1, 1.10.1/1.10.2 = 2.5.0, 1.11 = 2.15.0), except where a row's source says "release
history". docs/deploy.md carries the same table; a test keeps the two equal.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

from edtune.errors import InputError, Problem

Version = tuple[int, int, int]

#: The oldest KFP backend edtune supports (Kubeflow 1.11 ships 2.15.0): the exit handler's task status, optional
#: Secret keys and parameter-named Secrets all need it; docs/deploy.md explains the choice.
BACKEND_FLOOR: Version = (2, 15, 0)


@dataclass(frozen=True)
class Feature:
    """A backend feature a spec may use: the first release that runs it, and the first where it takes effect."""

    key: str
    what: str
    runs_from: Version  # below: the task or run fails
    works_from: Version  # between runs_from and this: accepted but ignored
    source: str


#: feature -> minimum KFP backend, read from the backend driver's source per release (FACTS.md) unless the
#: source says "release history". docs/deploy.md carries the same table (a test compares them).
FEATURES: dict[str, Feature] = {
    f.key: f
    for f in (
        Feature(
            "dag",
            "v2 DAG: ParallelFor, dsl.If on task outputs, nested DAGs",
            (2, 0, 0),
            (2, 0, 0),
            "v2 pipeline spec",
        ),
        Feature(
            "exit-handler-status",
            "ExitHandler task reading PipelineTaskFinalStatus",
            (2, 15, 0),
            (2, 15, 0),
            "driver: 'not implemented yet' in 2.5.0, so every run fails",
        ),
        Feature(
            "secret-name-parameter",
            "Secret name from a pipeline parameter",
            (2, 15, 0),
            (2, 15, 0),
            "driver: 2.2/2.3 reject the field; 2.4.1 resolves the name to an empty string",
        ),
        Feature(
            "secret-optional",
            "optional Secret keys",
            (2, 15, 0),
            (2, 15, 0),
            "driver: 2.2/2.3 reject the field; 2.5.0 drops it (a missing key fails the pod)",
        ),
        Feature(
            "security-context",
            "runAsUser/runAsNonRoot on the user container",
            (2, 4, 1),
            (2, 16, 0),
            "driver: 2.2/2.3 reject the field; 2.4.1 to 2.15 drop it silently",
        ),
        Feature(
            "retry-policy",
            "task retries (retryPolicy)",
            (2, 0, 0),
            (2, 4, 1),
            "driver: retries exist from 2.4.1",
        ),
        Feature(
            "accelerator-parameter",
            "GPU count from a parameter (resourceCount placeholder)",
            (2, 0, 0),
            (2, 4, 0),
            "kubeflow/pipelines #11501; older backends drop the GPU request",
        ),
        Feature(
            "empty-dir",
            "emptyDir volumes (/dev/shm, the default cache)",
            (2, 3, 0),
            (2, 3, 0),
            "release history (not read from the driver)",
        ),
        Feature(
            "placement",
            "tolerations, node selectors, pod labels, activeDeadlineSeconds",
            (2, 2, 0),
            (2, 2, 0),
            "release history (not read from the driver)",
        ),
        Feature(
            "volumes",
            "PVC mounts and generic ephemeral volumes",
            (2, 2, 0),
            (2, 2, 0),
            "release history (not read from the driver)",
        ),
    )
}


def parse_version(text: str) -> Version:
    """`2.15.0`, `v2.4.1`, `2.5.0-rc.1` -> (2, 15, 0); InputError when no version can be read."""
    m = re.match(r"^v?(\d+)\.(\d+)(?:\.(\d+))?", text.strip())
    if not m:
        raise InputError(f"cannot read a KFP version from {text!r} (expected e.g. 2.15.0)")
    return int(m.group(1)), int(m.group(2)), int(m.group(3) or 0)


def fmt(v: Version) -> str:
    return ".".join(map(str, v))


@dataclass
class Finding:
    level: Literal["error", "warning"]
    rule: str
    task: str  # "<component>/<task>" or "executor <name>"
    input: str
    message: str

    def problem(self, where: str) -> Problem:
        return Problem(where, None, f"{self.task}: {self.input}", f"[{self.rule}] {self.message}")


def check_backend(
    features: Mapping[str, Sequence[str]], server: Version, *, floor: Version = BACKEND_FLOOR
) -> list[Finding]:
    """Findings for running a spec that uses `features` (SpecReport.features) on backend `server`: errors below the floor or below a
    feature's `runs_from`, warnings where a feature is accepted but ignored."""
    out: list[Finding] = []
    if server < floor:
        out.append(
            Finding(
                "error",
                "backend-floor",
                "server",
                fmt(server),
                f"KFP backend {fmt(server)} is older than edtune's floor {fmt(floor)} (Kubeflow 1.11); "
                "see docs/deploy.md",
            )
        )
    for key, places in sorted(features.items()):
        f = FEATURES[key]
        if server < f.runs_from:
            out.append(
                Finding(
                    "error",
                    "backend-floor",
                    places[0],
                    key,
                    f"{f.what} needs KFP >= {fmt(f.runs_from)} ({f.source}); server is {fmt(server)}",
                )
            )
        elif server < f.works_from:
            out.append(
                Finding(
                    "warning",
                    "backend-floor",
                    places[0],
                    key,
                    f"{f.what} is ignored below KFP {fmt(f.works_from)} ({f.source}); server is "
                    f"{fmt(server)}",
                )
            )
    return out
