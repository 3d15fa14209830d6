"""`edtune pipeline check`: the KFP backend driver's rules applied to a compiled spec, before anything is sent.

The fixture `fixtures/undeclared_gpu_channels.yaml` is the spec this repository committed before the one-graph
build: eleven evaluate/tune tasks read `pipelinechannel--eval_gpus`/`--tune_gpus` that their parent DAGs (the
exit handler, loops, conditions) never declare, so the backend's driver failed every one of them.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from edtune.errors import InputError
from edtune.pipeline import PIPELINES, compile_pipelines, repo_root
from edtune.pipeline.check import FEATURES, check_backend, check_spec, check_spec_file, fmt, parse_version

FIXTURE = Path(__file__).parent / "fixtures" / "undeclared_gpu_channels.yaml"
DEPLOY_DOC = repo_root() / "docs" / "deploy.md"


@pytest.fixture(scope="module")
def fresh(tmp_path_factory: pytest.TempPathFactory) -> list[dict]:
    out = tmp_path_factory.mktemp("fresh")
    compile_pipelines(out, names=["error_driven_tuning"])
    return list(yaml.safe_load_all((out / "error_driven_tuning.yaml").read_text()))


def test_the_spec_committed_before_the_one_graph_build_is_rejected_naming_task_input_and_rule() -> None:
    report = check_spec_file(FIXTURE)
    undeclared = [(f.task, f.input) for f in report.errors if f.rule == "input-declared"]
    assert len(undeclared) == 11, undeclared  # 8 evaluate tasks in loops, 3 tune tasks in conditions
    assert ("comp-for-loop-2/evaluate-op", "pipelinechannel--eval_gpus") in undeclared
    assert ("comp-exit-handler-1/tune-op", "pipelinechannel--tune_gpus") in undeclared
    assert "accelerator-parameter" in report.features
    with pytest.raises(InputError) as exc:
        report.raise_for_errors()
    assert exc.value.exit_code == 2
    assert "comp-for-loop-2/evaluate-op: pipelinechannel--eval_gpus: [input-declared]" in str(exc.value)


def test_the_cli_exits_2_on_the_old_spec_and_0_on_every_committed_spec(
    capfd: pytest.CaptureFixture[str],
) -> None:
    from edtune.cli import main

    assert main(["pipeline", "check", str(FIXTURE)]) == 2
    err = capfd.readouterr().err
    assert "evaluate-op" in err and "pipelinechannel--eval_gpus" in err and "[input-declared]" in err
    for name in PIPELINES:
        path = repo_root() / "pipelines" / "compiled" / f"{name}.yaml"
        assert main(["pipeline", "check", str(path)]) == 0, capfd.readouterr().err
        captured = capfd.readouterr()
        assert "OK (needs KFP >= 2.15.0)" in captured.out
        assert "[image-pinned]" in captured.err, "committed specs name tag images: a warning"
    assert main(["pipeline", "check", str(path), "--strict-images"]) == 2  # as under submit


def _tasks(spec: dict, component: str) -> dict:
    return (
        spec["components"][component]["dag"]["tasks"] if component != "root" else spec["root"]["dag"]["tasks"]
    )


def _first(spec: dict, prefix: str) -> tuple[str, str]:
    for cname, comp in spec["components"].items():
        for tname in comp.get("dag", {}).get("tasks", {}):
            if tname.startswith(prefix) and cname.startswith("comp-condition"):
                return cname, tname
    raise AssertionError(prefix)


def undeclared_input(docs: list[dict]) -> None:
    cname, tname = _first(docs[0], "evaluate-op")
    _tasks(docs[0], cname)[tname]["inputs"]["parameters"]["extra"] = {
        "componentInputParameter": "pipelinechannel--eval_gpus"
    }


def foreign_producer(docs: list[dict]) -> None:
    cname, tname = _first(docs[0], "evaluate-op")
    _tasks(docs[0], cname)[tname]["inputs"]["parameters"]["config_json"] = {
        "taskOutputParameter": {"producerTask": "configure-op", "outputParameterKey": "Output"}
    }


def condition_on_missing_channel(docs: list[dict]) -> None:
    for comp in docs[0]["components"].values():
        for task in comp.get("dag", {}).get("tasks", {}).values():
            if "condition" in task.get("triggerPolicy", {}):
                task["triggerPolicy"]["condition"] = (
                    "inputs.parameter_values['pipelinechannel--nowhere'] == 'x'"
                )
                return


def unnamed_secret(docs: list[dict]) -> None:
    spec = docs[1]["platforms"]["kubernetes"]["deploymentSpec"]["executors"]["exec-tune-op"]["secretAsEnv"][0]
    spec["secretNameParameter"] = {"runtimeValue": {"constant": ""}}


def secret_without_keys(docs: list[dict]) -> None:
    docs[1]["platforms"]["kubernetes"]["deploymentSpec"]["executors"]["exec-tune-op"]["secretAsEnv"][0][
        "keyToEnv"
    ] = []


def secret_from_unknown_parameter(docs: list[dict]) -> None:
    docs[1]["platforms"]["kubernetes"]["deploymentSpec"]["executors"]["exec-tune-op"]["secretAsEnv"][0][
        "secretNameParameter"
    ] = {"componentInputParameter": "pipelinechannel--nope_secret"}


BROKEN: list[tuple[str, Callable[[list[dict]], None], str, str]] = [
    # (what, how the spec is broken, rule, the input the finding must name)
    ("task reads an input its condition does not declare", undeclared_input, "input-declared", "extra"),
    ("task reads an output of a task outside its DAG", foreign_producer, "input-declared", "config_json"),
    ("condition reads an undeclared channel", condition_on_missing_channel, "channel-declared", "nowhere"),
    ("Secret with an empty name", unnamed_secret, "secret-present", "secretAsEnv[0]"),
    ("Secret with no keys", secret_without_keys, "secret-present", "secretAsEnv[0]"),
    ("Secret name from no parameter", secret_from_unknown_parameter, "channel-declared", "nope_secret"),
]


@pytest.mark.parametrize(("what", "breaks", "rule", "inp"), BROKEN, ids=[b[0] for b in BROKEN])
def test_each_rule_rejects_a_spec_broken_its_way(
    fresh: list[dict], what: str, breaks: Callable[[list[dict]], None], rule: str, inp: str
) -> None:
    assert check_spec(fresh).errors == [], "the fresh compile is clean"
    docs = copy.deepcopy(fresh)
    breaks(docs)
    found = [(f.rule, f.input) for f in check_spec(docs).errors]
    assert any(r == rule and inp in i for r, i in found), (what, found)


def test_tag_images_are_errors_only_when_strict(fresh: list[dict]) -> None:
    lenient, strict = check_spec(fresh), check_spec(fresh, strict_images=True)
    assert {f.rule for f in lenient.warnings} == {"image-pinned"} and not lenient.errors
    assert {f.rule for f in strict.errors} == {"image-pinned"}


BACKENDS = [
    # (server version, errors naming these features, warnings naming these features)
    (
        "2.3.0",
        {"exit-handler-status", "secret-name-parameter", "secret-optional", "security-context"},
        {"retry-policy"},
    ),
    ("2.5.0", {"exit-handler-status", "secret-name-parameter", "secret-optional"}, {"security-context"}),
    ("2.15.0", set(), {"security-context"}),
    ("2.17.0", set(), set()),
]


@pytest.mark.parametrize(("server", "errors", "warnings"), BACKENDS, ids=[b[0] for b in BACKENDS])
def test_backend_versions_are_judged_by_the_features_the_spec_uses(
    fresh: list[dict], server: str, errors: set[str], warnings: set[str]
) -> None:
    findings = check_backend(check_spec(fresh).features, parse_version(server))
    got_errors = {f.input for f in findings if f.level == "error" and f.task != "server"}
    assert got_errors == errors
    assert {f.input for f in findings if f.level == "warning"} == warnings
    below_floor = any(f.task == "server" for f in findings)
    assert below_floor == (parse_version(server) < (2, 15, 0))


def test_the_deploy_docs_table_is_the_checkers_feature_table() -> None:
    """docs/deploy.md lists each feature with its minimum backend; the rows must be FEATURES, no more, no less."""
    rows = {}
    for line in DEPLOY_DOC.read_text().splitlines():
        m = re.match(r"^\| `([a-z-]+)` \|[^|]*\|\s*([\d.]+)\s*\|\s*([\d.]+)\s*\|", line)
        if m:
            rows[m.group(1)] = (m.group(2), m.group(3))
    assert rows == {k: (fmt(f.runs_from), fmt(f.works_from)) for k, f in FEATURES.items()}


def test_check_json_is_one_object_whether_the_spec_passes_or_not(capfd: pytest.CaptureFixture[str]) -> None:
    import json

    from edtune.cli import main

    capfd.readouterr()
    assert main(["pipeline", "check", str(FIXTURE), "--json"]) == 2
    bad = json.loads(capfd.readouterr().out)
    assert bad["ok"] is False and len(bad["error"]["problems"]) == 11
    committed = repo_root() / "pipelines" / "compiled" / "index_support_set.yaml"
    assert main(["pipeline", "check", str(committed), "--json"]) == 0
    good = json.loads(capfd.readouterr().out)
    assert good["ok"] is True and good["min_backend"] == "2.15.0" and good["errors"] == []
