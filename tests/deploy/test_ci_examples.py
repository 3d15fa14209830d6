"""The CI retraining examples parse, trigger on tasks/<name>/, and call commands and settings that exist."""

from __future__ import annotations

import re
import shlex
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
