"""The `edtune` CLI as a user runs it (a subprocess): help, version, config show, data validate, exit codes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from edtune import __version__
from foundation.imagegen import IMAGES

ENTRY_POINTS = [[sys.executable, "-m", "edtune"], [sys.executable, "-m", "edtune.cli"]]


def run(
    *args: str, entry: list[str] | None = None, env: dict[str, str] | None = None, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("EDTUNE_")}
    full_env.update(env or {})
    return subprocess.run(
        [*(entry or ENTRY_POINTS[0]), *args],
        capture_output=True,
        text=True,
        env=full_env,
        cwd=cwd,
        timeout=120,
    )


@pytest.mark.parametrize("entry", ENTRY_POINTS, ids=["python -m edtune", "python -m edtune.cli"])
def test_version_and_help_work_from_both_module_entry_points(entry: list[str]) -> None:
    v = run("--version", entry=entry)
    assert (v.returncode, v.stdout.strip()) == (0, f"edtune {__version__}")
    h = run("--help", entry=entry)
    assert h.returncode == 0 and "config" in h.stdout and "data" in h.stdout


def test_console_script_is_installed_and_runs() -> None:
    script = Path(sys.executable).with_name("edtune")
    r = subprocess.run([str(script), "--version"], capture_output=True, text=True, timeout=120)
    assert (r.returncode, r.stdout.strip()) == (0, f"edtune {__version__}")


USAGE_ERRORS = [
    (["data", "validate"], "Missing argument"),
    (["data", "validate", "x.jsonl", "--bogus"], "No such option"),
    (["data", "validate", "x.jsonl", "--kind", "images"], "--kind must be 'task' or 'support'"),
    (["no-such-command"], "No such command"),
    ([], "Usage"),
]


@pytest.mark.parametrize(("args", "fragment"), USAGE_ERRORS)
def test_bad_usage_exits_2_without_a_traceback(args: list[str], fragment: str) -> None:
    r = run(*args)
    assert r.returncode == 2
    assert fragment in r.stdout + r.stderr
    assert "Traceback" not in r.stderr


def test_config_show_prints_the_resolved_config_with_secrets_redacted(tmp_path: Path) -> None:
    cfg = tmp_path / "run.yaml"
    cfg.write_text("seed: 7\npool:\n  milvus_uri: http://root:s3cr3t@milvus:19530\n")
    r = run(
        "config",
        "show",
        "--config",
        str(cfg),
        "--set",
        "loop.max_rounds=2",
        env={"EDTUNE_TEACHER__CONCURRENCY": "3"},
    )
    assert r.returncode == 0, r.stderr
    assert "seed: 7" in r.stdout and "max_rounds: 2" in r.stdout and "concurrency: 3" in r.stdout
    assert "s3cr3t" not in r.stdout + r.stderr


def test_config_show_json_prints_exactly_one_json_object(tmp_path: Path) -> None:
    r = run("config", "show", "--json", "--set", "teacher.url=https://user:canary-pw@tgi:80")
    assert r.returncode == 0, r.stderr
    data = json.loads(r.stdout)  # the whole stdout is one JSON document
    assert r.stdout.count("\n") == 1
    assert data["teacher"]["url"] == "https://***@tgi:80"
    assert "canary-pw" not in r.stdout + r.stderr


def test_config_errors_exit_2_and_name_field_and_source(tmp_path: Path) -> None:
    r = run("config", "show", "--set", "loop.max_rounds=-1")
    assert r.returncode == 2
    assert (
        "flag --set loop.max_rounds: loop.max_rounds: Input should be greater than or equal to 1" in r.stderr
    )
    assert "Traceback" not in r.stderr and r.stdout == ""


@pytest.fixture()
def task_dir(tmp_path: Path) -> Path:
    (tmp_path / "img").mkdir()
    (tmp_path / "img" / "a.png").write_bytes(IMAGES["ok.png"])
    (tmp_path / "img" / "b.png").write_bytes(IMAGES["palette.png"])
    (tmp_path / "img" / "bad.png").write_bytes(IMAGES["not_an_image.png"])
    rows = [
        {"id": "1", "image": "img/a.png", "question": "Colour?", "answer": "red"},
        {"id": "2", "image": "img/b.png", "question": "How many?", "answer": "3"},
        {"id": "3", "image": "img/a.png", "question": "Which?", "choices": ["x", "y"], "answer": "A"},
    ]
    (tmp_path / "val.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    bad = [*rows[:1], {"id": "1", "image": "img/bad.png", "question": "", "answer": "x"}]
    (tmp_path / "bad.jsonl").write_text("".join(json.dumps(r) + "\n" for r in bad) + "not json\n")
    return tmp_path


def test_data_validate_valid_file_exits_0_with_a_one_line_summary(task_dir: Path) -> None:
    r = run("data", "validate", str(task_dir / "val.jsonl"))
    assert r.returncode == 0, r.stderr
    lines = r.stdout.strip().splitlines()
    assert len(lines) == 1
    assert lines[0] == (
        f"{task_dir / 'val.jsonl'}: OK: 3 task samples, 2 distinct images, 1 multiple-choice, 1 number, 1 short-answer"
    )


def test_data_validate_invalid_file_exits_2_listing_every_problem(task_dir: Path) -> None:
    path = task_dir / "bad.jsonl"
    r = run("data", "validate", str(path))
    assert r.returncode == 2
    assert "Traceback" not in r.stderr
    for fragment in (f"{path}:2: question:", f"{path}:2: id: duplicate id '1'", f"{path}:3: not valid JSON"):
        assert fragment in r.stderr, r.stderr


def test_data_validate_json_prints_one_object_for_valid_and_invalid_files(task_dir: Path) -> None:
    ok = run("data", "validate", str(task_dir / "val.jsonl"), "--json")
    assert ok.returncode == 0
    summary = json.loads(ok.stdout)
    assert (summary["valid"], summary["count"], summary["distinct_images"]) == (True, 3, 2)
    bad = run("data", "validate", str(task_dir / "bad.jsonl"), "--json")
    assert bad.returncode == 2
    summary = json.loads(bad.stdout)
    assert summary["valid"] is False and len(summary["problems"]) >= 3


def test_data_validate_support_kind(task_dir: Path) -> None:
    pool = task_dir / "pool.jsonl"
    pool.write_text(
        json.dumps(
            {"id": "s", "conversations": [{"from": "human", "value": "q"}, {"from": "gpt", "value": "a"}]}
        )
        + "\n"
    )
    r = run("data", "validate", str(pool), "--kind", "support")
    assert r.returncode == 0 and "OK: 1 support samples, 0 distinct images" in r.stdout


def test_data_validate_reads_from_s3(task_dir: Path, s3_bucket: str, moto_server: str) -> None:
    from edtune import io

    io.copy_dir(task_dir / "img", f"s3://{s3_bucket}/task/img")
    io.write_bytes(f"s3://{s3_bucket}/task/val.jsonl", (task_dir / "val.jsonl").read_bytes())
    env = {
        "AWS_ENDPOINT_URL": moto_server,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }
    r = run("data", "validate", f"s3://{s3_bucket}/task/val.jsonl", env=env)
    assert r.returncode == 0, r.stderr
    assert "OK: 3 task samples" in r.stdout


MISSING = [
    ("missing local file", "{tmp}/nope.jsonl", "file not found"),
    ("unsupported scheme", "http://example.com/val.jsonl", "unsupported URI scheme 'http'"),
    ("directory", "{tmp}", "is a directory"),
]


@pytest.mark.parametrize(("name", "path", "fragment"), MISSING, ids=[m[0] for m in MISSING])
def test_unreadable_inputs_exit_2_with_a_message_and_no_traceback(
    tmp_path: Path, name: str, path: str, fragment: str
) -> None:
    target = path.format(tmp=tmp_path)
    r = run("data", "validate", target)
    assert r.returncode == 2
    assert r.stderr.startswith("error: ") and fragment in r.stderr and "Traceback" not in r.stderr
    j = run("data", "validate", target, "--json")
    assert j.returncode == 2
    err = json.loads(j.stdout)  # with --json, even a failure is one JSON object on stdout
    assert err["ok"] is False and err["exit_code"] == 2 and fragment in err["error"]["message"]


def test_debug_shows_the_traceback(tmp_path: Path) -> None:
    r = run("--debug", "data", "validate", str(tmp_path / "nope.jsonl"))
    assert r.returncode != 0
    assert "Traceback" in r.stderr and "InputError" in r.stderr


def test_quiet_and_json_keep_stdout_to_the_result(task_dir: Path) -> None:
    r = run("--quiet", "data", "validate", str(task_dir / "val.jsonl"), "--json")
    assert r.returncode == 0 and json.loads(r.stdout)["valid"] is True
