"""The runbook (docs/deploy.md) says what the manifests and the code do: each fix a reader can act on, checked
where a test can see it (the commands it gives, the Secret template, the settings it names)."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
DOC = (ROOT / "docs" / "deploy.md").read_text()


def bash_blocks(text: str) -> list[str]:
    return re.findall(r"```bash\n(.*?)```", text, flags=re.S)


def test_the_profile_namespace_is_waited_for_never_created() -> None:
    """The profile controller owns edtune-runs; creating it first makes the Profile fail ("not owned")."""
    commands = "\n".join(bash_blocks(DOC))
    assert "kubectl wait --for=create namespace/edtune-runs" in commands
    for line in commands.splitlines():
        if "kubectl create namespace" in line:
            assert "edtune-runs" not in line and "$ns" not in line, line
    assert commands.index("kind: Profile") < commands.index("kubectl wait --for=create namespace/edtune-runs")


def test_the_s3_secret_carries_a_region_in_the_runbook_and_the_template() -> None:
    [secret_cmd] = [b for b in bash_blocks(DOC) if "create secret generic edtune-s3" in b]
    assert "AWS_DEFAULT_REGION=" in secret_cmd
    template = yaml.safe_load((ROOT / "manifests" / "secrets" / "edtune-s3.example.yaml").read_text())
    assert "AWS_DEFAULT_REGION" in template["stringData"]


def test_the_ci_token_is_minted_per_job_not_stored() -> None:
    assert "expires" in DOC and "Mint it at the start of every CI job" in DOC


def test_the_cache_section_names_every_setting_the_tasks_check_names() -> None:
    """A task whose cache is not writable names `cluster.cache_*`; the runbook explains each of them."""
    for setting in ("cache_storage_class", "cache_pvc", "cache_size", "cache_mount"):
        assert f"`{setting}" in DOC or f"cluster.{setting}" in DOC, setting
    assert "fsGroup" in DOC and "ReadWriteMany" in DOC and "--eval-shards" in DOC


def test_the_backend_floor_and_the_flags_that_enforce_it_are_documented() -> None:
    from edtune.pipeline.check import BACKEND_FLOOR, fmt

    assert f"backend ≥ {fmt(BACKEND_FLOOR)}" in DOC
    for flag in ("--dry-run", "--allow-unpinned", "--backend-version", "--eval-gpus", "--tune-gpus"):
        assert flag in DOC, flag
