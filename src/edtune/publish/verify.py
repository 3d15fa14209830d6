"""Is a stored version whole and unchanged? Re-hash every file against the manifest stored with it.

The answer distinguishes what an operator does next: INCOMPLETE (files but no manifest: a publish was killed;
publishing the same content again completes it), CORRUPT (a manifest, but a file is missing, changed, or the
manifest itself is damaged: republish under a new run id or roll back), ABSENT (nothing under the prefix).
"""

from __future__ import annotations

from pydantic import BaseModel

from edtune.errors import InputError, ModelError, Problem
from edtune.io import exists, join, list_uris, read_bytes, sha256_bytes, sha256_uri
from edtune.publish.errors import ABSENT, CORRUPT, INCOMPLETE, OK, VersionError, problem
from edtune.publish.layout import MANIFEST_NAME, parse_manifest, version_uri
from edtune.schemas import AdapterManifest


class VersionCheck(BaseModel):
    """The verdict on one version: status, and every file that is wrong (uri: what)."""

    task: str
    version: str
    uri: str
    status: str  # OK | INCOMPLETE | CORRUPT | ABSENT
    problems: list[str]
    manifest_sha256: str | None = None

    @property
    def ok(self) -> bool:
        return self.status == OK

    def raise_for_status(self) -> None:
        """VersionError (exit 1) naming the version and listing each problem, unless OK."""
        if self.ok:
            return
        what = {
            INCOMPLETE: "INCOMPLETE (a publish did not finish: no manifest.json; publish the same content again)",
            CORRUPT: f"CORRUPT ({len(self.problems)} problem(s): files do not match the stored manifest)",
            ABSENT: "ABSENT (nothing is stored under this version)",
        }[self.status]
        items = [as_problem(p) for p in self.problems]
        raise VersionError(f"{self.uri}: {self.task} {self.version}: {what}", self.status, items)


def as_problem(text: str) -> Problem:
    """A `uri: what` line as a Problem (what the CLI's error JSON lists)."""
    where, sep, message = text.partition(": ")
    return problem(where, message) if sep else problem(text, "problem")


def file_problems(root: str, files: dict[str, str]) -> list[str]:
    """`uri: what` for each listed file that is missing or whose sha256 differs; [] when all match."""
    problems: list[str] = []
    for rel, expected in sorted(files.items()):
        uri = join(root, rel)
        try:
            actual = sha256_uri(uri)
        except InputError:
            problems.append(f"{uri}: missing (listed in {MANIFEST_NAME})")
            continue
        if actual != expected:
            problems.append(f"{uri}: sha256 {actual[:12]}… does not match the manifest's {expected[:12]}…")
    return problems


def stored_manifest(uri: str, task: str, version: str) -> tuple[AdapterManifest, bytes]:
    """The manifest stored in a version directory; a damaged one is CORRUPT (exit 1), never a bare parse error."""
    manifest_uri = join(uri, MANIFEST_NAME)
    if not exists(manifest_uri):
        check_version_at(uri, task, version).raise_for_status()
    raw = read_bytes(manifest_uri)
    try:
        return parse_manifest(raw, manifest_uri), raw
    except ModelError as exc:
        raise VersionError(
            f"{uri}: {task} {version}: CORRUPT (its manifest is damaged)",
            CORRUPT,
            [as_problem(str(exc))],
        ) from None


def check_version_at(uri: str, task: str, version: str, *, hash_files: bool = True) -> VersionCheck:
    """The verdict on the version stored at `uri` (hash_files=False: manifest only, for cheap listings)."""
    manifest_uri = join(uri, MANIFEST_NAME)
    verdict = {"task": task, "version": version, "uri": uri}
    if not exists(manifest_uri):
        present = list_uris(uri)
        if not present:
            return VersionCheck(**verdict, status=ABSENT, problems=[f"{uri}: no files under this version"])
        return VersionCheck(
            **verdict,
            status=INCOMPLETE,
            problems=[
                f"{manifest_uri}: missing ({len(present)} file(s) uploaded; the publish did not finish)"
            ],
        )
    raw = read_bytes(manifest_uri)
    try:
        manifest = parse_manifest(raw, manifest_uri)
    except ModelError as exc:
        return VersionCheck(**verdict, status=CORRUPT, problems=[str(exc)])
    problems = file_problems(uri, manifest.files) if hash_files else []
    return VersionCheck(
        **verdict, status=CORRUPT if problems else OK, problems=problems, manifest_sha256=sha256_bytes(raw)
    )


def check_version(registry: str, task: str, version: str) -> VersionCheck:
    return check_version_at(version_uri(registry, task, version), task, version)


def verify_version(registry: str, task: str, version: str) -> list[str]:
    """Re-hash every file of a published version against its stored manifest; [] when intact."""
    return check_version(registry, task, version).problems
