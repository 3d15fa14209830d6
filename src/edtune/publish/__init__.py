"""Publish a tuned adapter to a versioned registry on object storage, and roll serving onto it.

`registry.publish` copies an adapter and its manifest to `<registry>/adapters/<task>/<version>/`, verifies every
file's sha256 against the manifest, and only then moves the task's `latest.json` pointer. `rollout.rollout`
annotates the serving Deployment's pod template so its pods restart and sync the new version.
"""

from edtune.publish.registry import (
    LatestPointer,
    PublishResult,
    publish,
    read_latest,
    sync,
    verify_version,
    version_id,
)
from edtune.publish.rollout import RBAC_RULES, rollout, rollout_patch

__all__ = [
    "RBAC_RULES",
    "LatestPointer",
    "PublishResult",
    "publish",
    "read_latest",
    "rollout",
    "rollout_patch",
    "sync",
    "verify_version",
    "version_id",
]
