"""The CI retraining examples parse, trigger on tasks/<name>/, and call commands and settings that exist."""

from __future__ import annotations

import re
import shlex
import subprocess
from pathlib import Path

import pytest
import yaml
from typer.main import get_command

from edtune.cli import app
from edtune.config import RunConfig

ROOT = Path(__file__).resolve().parents[2]


def scripts(path: Path) -> str:
    doc = yaml.safe_load(path.read_text())
    if path.name == "github-actions.yml":
        assert set(doc[True]["push"]["paths"]) == {
            "tasks/*/task.yaml",
            "tasks/*/val.jsonl",
        }  # `on:` parses as True
        return "\n".join(s.get("run", "") for s in doc["jobs"]["retrain"]["steps"])
    job = doc["edtune-retrain"]
    assert set(job["rules"][0]["changes"]) == {"tasks/*/task.yaml", "tasks/*/val.jsonl"}
    return "\n".join(job["script"])


def edtune_calls(text: str) -> list[list[str]]:
    joined = text.replace("\\\n", " ")
    return [shlex.split(m.group(0))[1:] for m in re.finditer(r"^\s*edtune [^|\n]*", joined, re.M)]


def option_names(path: list[str]) -> set[str]:
    cmd = get_command(app)
    for name in path:
        cmd = cmd.commands[name]  # type: ignore[attr-defined]
    return {opt for p in cmd.params for opt in p.opts}


@pytest.mark.parametrize("example", ["github-actions.yml", "gitlab-ci.yml"])
def test_ci_example_validates_uploads_and_gates_on_the_gain(example: str) -> None:
    text = scripts(ROOT / "examples" / "ci" / example)
    calls = edtune_calls(text)
    assert [c[:2] for c in calls] == [["data", "validate"], ["pipeline", "submit"]]
    assert "aws s3 sync" in text
    submit = calls[1]
    assert {"--wait", "--min-gain", "--host", "--config", "--json"} <= set(submit)
    assert {o for o in submit if o.startswith("--")} <= option_names(["pipeline", "submit"])
    assert {o for o in calls[0] if o.startswith("--")} <= option_names(["data", "validate"])
    for setting in (submit[i + 1] for i, a in enumerate(submit) if a == "--set"):
        section, _, field = setting.split("=", 1)[0].partition(".")
        model = RunConfig.model_fields[section].annotation if field else RunConfig
        assert (field or section) in model.model_fields, setting  # type: ignore[union-attr]


GITHUB_EXAMPLES = ["github-actions.yml", "images-github-actions.yml"]


def github_shell(doc: dict, step: dict) -> list[str]:
    """The command GitHub Actions runs a `run:` step with on Linux: `shell: bash` (step or workflow default)
    means `bash --noprofile --norc -eo pipefail {0}`; no shell means `bash -e {0}` (no pipefail)."""
    shell = step.get("shell") or (doc.get("defaults") or {}).get("run", {}).get("shell")
    return ["bash", "--noprofile", "--norc", "-eo", "pipefail"] if shell == "bash" else ["bash", "-e"]


@pytest.mark.parametrize("example", GITHUB_EXAMPLES)
def test_github_steps_fail_when_any_command_of_a_pipe_fails(example: str, tmp_path: Path) -> None:
    """`edtune pipeline submit ... | tee result.json` must fail the job when submit fails (the quality gate)."""
    doc = yaml.safe_load((ROOT / "examples" / "ci" / example).read_text())
    steps = [s for job in doc["jobs"].values() for s in job.get("steps", []) if "run" in s]
    piped = [s for s in steps if re.search(r"[^|]\|[^|]", s["run"])]
    assert piped, "no step pipes anything"
    for step in steps:
        assert github_shell(doc, step)[-1] == "pipefail", f"{step.get('name')}: runs without pipefail"
    # run the gate step as GitHub would, with an `edtune` that fails like a failed gate (exit 1)
    if example == "github-actions.yml":
        [gate] = [s for s in steps if "pipeline submit" in s["run"]]
        stub = tmp_path / "bin"
        stub.mkdir()
        (stub / "edtune").write_text("#!/bin/sh\necho '{\"ok\": false}'\nexit 1\n")
        (stub / "edtune").chmod(0o755)
        script = tmp_path / "step.sh"
        script.write_text(gate["run"])
        proc = subprocess.run(
            [*github_shell(doc, gate), str(script)],
            env={
                "PATH": f"{stub}:/usr/bin:/bin",
                **dict.fromkeys(
                    ("KFP_HOST", "EDTUNE_BUCKET", "EDTUNE_IMAGE", "EDTUNE_GPU_IMAGE", "MIN_GAIN"), "x"
                ),
                "TASK": "colors",
                "GITHUB_SHA": "0123456789abcdef",
            },
            cwd=tmp_path,
            capture_output=True,
            text=True,
            check=False,
            timeout=60,
        )
        assert (tmp_path / "result-colors.json").exists(), proc.stderr  # the step really ran up to the pipe
        assert proc.returncode != 0, "a failed submit piped into tee must fail the step"


def test_image_workflow_builds_pushes_and_digest_pins_both_images() -> None:
    doc = yaml.safe_load((ROOT / "examples" / "ci" / "images-github-actions.yml").read_text())
    build = doc["jobs"]["build"]
    assert build["strategy"]["matrix"]["variant"] == ["cpu", "gpu"]
    [push] = [s for s in build["steps"] if str(s.get("uses", "")).startswith("docker/build-push-action")]
    assert push["with"]["push"] is True and push["with"]["context"] == "."
    assert push["with"]["file"] == "images/edtune-${{ matrix.variant }}/Dockerfile"
    out = "\n".join(s.get("run", "") for s in build["steps"])
    assert "@${{ steps.build.outputs.digest }}" in out, "the output is a digest reference, not a tag"
    pin = "\n".join(s.get("run", "") for s in doc["jobs"]["pin"]["steps"])
    assert "@sha256:[0-9a-f]{64}" in pin
    calls = edtune_calls(pin)
    [upload] = [c for c in calls if c[:2] == ["pipeline", "upload"]]
    assert {"--image", "--gpu-image", "--host", "--config"} <= set(upload)
    assert {o for o in upload if o.startswith("--")} <= option_names(["pipeline", "upload"])


def test_retraining_submits_the_digest_pinned_images_with_a_token() -> None:
    doc = yaml.safe_load((ROOT / "examples" / "ci" / "github-actions.yml").read_text())
    job = doc["jobs"]["retrain"]
    assert job["env"]["KF_PIPELINES_TOKEN"] == "${{ secrets.KFP_TOKEN }}"
    submit = next(
        c
        for c in edtune_calls(scripts(ROOT / "examples" / "ci" / "github-actions.yml"))
        if c[0] == "pipeline"
    )
    assert submit[submit.index("--image") + 1] == "$EDTUNE_IMAGE"
    assert submit[submit.index("--gpu-image") + 1] == "$EDTUNE_GPU_IMAGE"
    assert "EDTUNE_REPO" in job["env"], "a wheel lacks pipelines/ and components/: submit needs the source"
