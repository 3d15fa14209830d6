"""Publish a tuned adapter to a versioned registry on object storage, and roll serving onto it.

`registry.publish` copies an adapter and its manifest to `<registry>/adapters/<task>/<version>/`, verifies every
file's sha256 against the manifest, and only then moves the task's `latest.json` pointer by compare-and-swap
(`pointer`). `fetch.sync` downloads a version atomically and verified; `verify` says OK / INCOMPLETE / CORRUPT;
`catalog` lists versions; `rollout.rollout` annotates the serving Deployment so its pods sync the new version.
"""

from edtune.publish.fetch import sync
from edtune.publish.pointer import LatestPointer
from edtune.publish.registry import (
    PublishResult,
    publish,
    read_latest,
    rollback,
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
    "rollback",
    "rollout",
    "rollout_patch",
    "sync",
    "verify_version",
    "version_id",
]
