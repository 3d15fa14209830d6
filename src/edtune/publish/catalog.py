"""What a task's registry holds: every version with its date, gain and state, and which one is `latest`.

Listing reads each version's manifest (small) but hashes no weights, so it stays cheap on a registry of many
versions; `--verify` adds the full re-hash (`edtune adapters verify` does it for one version).
"""

from __future__ import annotations

import contextlib

from pydantic import BaseModel

from edtune.errors import ModelError
from edtune.io import join, list_uris, parse
from edtune.publish.layout import latest_uri, manifest_gain, task_uri
from edtune.publish.pointer import read_state
from edtune.publish.verify import check_version_at, stored_manifest


class VersionRow(BaseModel):
    version: str
    status: (
        str  # OK | INCOMPLETE | CORRUPT (CORRUPT without --verify only when the manifest itself is damaged)
    )
    created_at: str | None = None
    run_id: str | None = None
    best_round: int | None = None
    gain: float | None = None
    val_accuracy: float | None = None
    latest: bool = False


class Listing(BaseModel):
    task: str
    uri: str
    latest: str | None  # the version latest.json names (None: nothing published, or the pointer is damaged)
    latest_sequence: int | None = None
    latest_damage: str | None = None
    versions: list[VersionRow]


def _version_names(base: str) -> list[str]:
    prefix = parse(base).path.rstrip("/")
    names: set[str] = set()
    for uri in list_uris(base):
        rest = parse(uri).path[len(prefix) + 1 :] if prefix else parse(uri).path
        head, sep, _ = rest.partition("/")
        if sep and not head.startswith("."):
            names.add(head)
    return sorted(names)


def list_versions(registry: str, task: str, *, verify: bool = False) -> Listing:
    """Every version under the task, oldest first (by manifest date, then name); incomplete ones last."""
    base = task_uri(registry, task)
    state = read_state(latest_uri(registry, task))
    current = state.pointer.version if state.pointer else None
    rows: list[VersionRow] = []
    for name in _version_names(base):
        vuri = join(base, name)
        check = check_version_at(vuri, task, name, hash_files=verify)
        row = VersionRow(version=name, status=check.status, latest=name == current)
        if check.manifest_sha256:  # the manifest parsed: its date, run and gain are known
            manifest, _ = stored_manifest(vuri, task, name)
            row.created_at, row.run_id, row.best_round = (
                manifest.created_at,
                manifest.run_id,
                manifest.best_round,
            )
            with contextlib.suppress(ModelError):  # a manifest without round metrics still lists
                row.gain = round(manifest_gain(manifest), 6)
                row.val_accuracy = {m.round: m for m in manifest.rounds}[manifest.best_round].val_accuracy
        rows.append(row)
    rows.sort(key=lambda r: (r.created_at is None, r.created_at or "", r.version))  # undated last
    return Listing(
        task=task,
        uri=base,
        latest=current,
        latest_sequence=state.pointer.sequence if state.pointer else None,
        latest_damage=state.damage,
        versions=rows,
    )
