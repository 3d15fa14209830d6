"""What a task's registry holds: every version with its date, gain and state, and which one is `latest`.

Listing reads each version's manifest (small) but hashes no weights, so it stays cheap on a registry of many
versions; `--verify` adds the full re-hash (`edtune adapters verify` does it for one version).
"""

from __future__ import annotations

from pydantic import BaseModel

from edtune.io import list_uris, parse
from edtune.publish.errors import OK
from edtune.publish.layout import LATEST_NAME, MANIFEST_NAME, latest_uri, manifest_gain, task_uri
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
        vuri = f"{base.rstrip('/')}/{name}"
        check = check_version_at(vuri, task, name, hash_files=verify)
        row = VersionRow(version=name, status=check.status, latest=name == current)
        if check.status == OK or (check.manifest_sha256 and check.status != OK):
            manifest, _ = stored_manifest(vuri, task, name)
            row.created_at, row.run_id, row.best_round = (
                manifest.created_at,
                manifest.run_id,
                manifest.best_round,
            )
            try:
                row.gain = round(manifest_gain(manifest), 6)
                best = {m.round: m for m in manifest.rounds}[manifest.best_round]
                row.val_accuracy = best.val_accuracy
            except Exception:
                pass
        rows.append(row)
    rows.sort(
        key=lambda r: (r.created_at is None, r.created_at or "", r.version)
    )  # undated (incomplete) last
    return Listing(
        task=task,
        uri=base,
        latest=current,
        latest_sequence=state.pointer.sequence if state.pointer else None,
        latest_damage=state.damage,
        versions=rows,
    )


__all__ = ["LATEST_NAME", "MANIFEST_NAME", "Listing", "VersionRow", "list_versions"]
