"""RunConfig loading: defaults < YAML < env < --set, errors naming field and source, secrets redacted."""

from __future__ import annotations

from pathlib import Path

import pytest

from edtune.config import load_config, redact_text, redacted
from edtune.errors import ConfigError, InputError


def write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "run.yaml"
    p.write_text(text)
    return p


def test_precedence_is_defaults_then_file_then_env_then_flag(tmp_path: Path) -> None:
    cfg_file = write(
        tmp_path, "seed: 1\nteacher:\n  concurrency: 2\n  timeout_s: 5\nloop:\n  max_rounds: 4\n"
    )
    env = {"EDTUNE_TEACHER__CONCURRENCY": "3", "EDTUNE_LOOP__MAX_ROUNDS": "5"}
    cfg = load_config(cfg_file, ["loop.max_rounds=6"], env=env)
    assert cfg.seed == 1  # file over default
    assert cfg.teacher.timeout_s == 5  # file, untouched by env
    assert cfg.teacher.concurrency == 3  # env over file
    assert cfg.loop.max_rounds == 6  # flag over env over file
    assert cfg.teacher.url == "http://127.0.0.1:8080"  # default kept beside file values in the same section


def test_the_process_environment_is_read_when_no_env_is_given(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EDTUNE_SEED", "42")
    assert load_config().seed == 42


def test_string_settings_keep_their_text_verbatim() -> None:
    cfg = load_config(
        None,
        ["student.base=2024", "teacher.model=1.5", "task.name=a: b", "task.test=null", "run_id=007"],
        env={"EDTUNE_TEACHER__URL": "http://h:1/v1"},
    )
    assert (cfg.student.base, cfg.teacher.model, cfg.task.name) == ("2024", "1.5", "a: b")
    assert cfg.task.test is None and cfg.run_id == "007"
    assert cfg.teacher.url == "http://h:1/v1"


def test_env_vars_outside_the_config_are_ignored() -> None:
    env = {"EDTUNE_HF_TOKEN": "x", "EDTUNE_DEBUG": "1", "EDTUNE_TEACHER_TOKEN": "t", "EDTUNE_IMAGE": "i"}
    assert load_config(None, env=env).seed == 0


BAD_CONFIG = [
    ("unknown top key in file", "rounds: 3\n", [], {}, "file {path}: rounds: Extra inputs are not permitted"),
    (
        "unknown nested key in file",
        "teacher:\n  urll: x\n",
        [],
        {},
        "file {path}: teacher.urll: Extra inputs",
    ),
    ("wrong type in file", "seed: abc\n", [], {}, "file {path}: seed: Input should be a valid integer"),
    (
        "section is a scalar",
        "teacher: 3\n",
        [],
        {},
        "file {path}: teacher: Input should be a valid dictionary",
    ),
    (
        "zero budget",
        "loop:\n  budget_per_round: 0\n",
        [],
        {},
        "loop.budget_per_round: Input should be greater than or equal to 1",
    ),
    (
        "negative rounds",
        "loop:\n  max_rounds: -1\n",
        [],
        {},
        "loop.max_rounds: Input should be greater than or equal to 1",
    ),
    (
        "too many rounds",
        "",
        ["loop.max_rounds=99"],
        {},
        "flag --set loop.max_rounds: loop.max_rounds: Input should be less than or equal to 20",
    ),
    (
        "bad literal by flag",
        "",
        ["student.family=gpt5"],
        {},
        "flag --set student.family: student.family: Input should be",
    ),
    ("bad run id", "", ["run_id=../escape"], {}, "flag --set run_id: run_id: String should match pattern"),
    (
        "unknown key by flag",
        "",
        ["teacher.bogus=1"],
        {},
        "flag --set teacher.bogus: teacher.bogus: Extra inputs",
    ),
    (
        "wrong type by env",
        "",
        [],
        {"EDTUNE_TEACHER__CONCURRENCY": "many"},
        "env EDTUNE_TEACHER__CONCURRENCY: teacher.concurrency: Input should be a valid integer",
    ),
    (
        "typo in a section by env",
        "",
        [],
        {"EDTUNE_TEACHER__URLL": "x"},
        "env EDTUNE_TEACHER__URLL: teacher.urll: Extra inputs",
    ),
    (
        "out of range by env",
        "",
        [],
        {"EDTUNE_LORA__DROPOUT": "1.5"},
        "env EDTUNE_LORA__DROPOUT: lora.dropout: Input should be less than 1",
    ),
    ("flag without =", "", ["seed"], {}, "--set 'seed': expected key.sub=value"),
    ("flag with empty key", "", ["=3"], {}, "expected a dotted key"),
    ("flag into a scalar", "", ["seed.x=1"], {}, "flag --set seed.x: seed: Input should be a valid integer"),
    ("invalid YAML", "seed: 1\nteacher:\n  url: [unclosed\n", [], {}, "file {path}:4: "),
    ("YAML tab indentation", "teacher:\n\turl: x\n", [], {}, "file {path}:2: "),
    ("YAML list not mapping", "- a\n- b\n", [], {}, "the config must be a YAML mapping, got list"),
    ("YAML scalar not mapping", "false\n", [], {}, "the config must be a YAML mapping, got bool"),
]


@pytest.mark.parametrize(
    ("name", "text", "flags", "env", "fragment"), BAD_CONFIG, ids=[c[0] for c in BAD_CONFIG]
)
def test_bad_configs_name_the_field_and_where_the_value_came_from(
    tmp_path: Path, name: str, text: str, flags: list[str], env: dict[str, str], fragment: str
) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as err:
        load_config(path, flags, env=env)
    assert err.value.exit_code == 2
    assert fragment.format(path=path) in str(err.value), str(err.value)


def test_every_config_problem_is_listed_at_once(tmp_path: Path) -> None:
    path = write(tmp_path, "seed: x\nloop:\n  max_rounds: 0\n  budget_per_round: -5\n")
    with pytest.raises(ConfigError) as err:
        load_config(path, env={})
    assert sorted(p.field or "" for p in err.value.problems) == [
        "loop.budget_per_round",
        "loop.max_rounds",
        "seed",
    ]


def test_missing_config_file_is_an_input_error_naming_it(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"nope\.yaml: file not found"):
        load_config(tmp_path / "nope.yaml", env={})


def test_an_empty_or_comment_only_file_gives_the_defaults(tmp_path: Path) -> None:
    assert load_config(write(tmp_path, "# nothing\n"), env={}) == load_config(None, env={})


def test_validation_errors_do_not_echo_values(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as err:
        load_config(None, ["teacher.concurrency=sk-canary-123"], env={})
    assert "sk-canary-123" not in str(err.value)


REDACT = [
    ("http://user:pa55@milvus:19530", "http://***@milvus:19530"),
    ("https://hf_TOKEN123@host/x", "https://***@host/x"),
    ("http://h/v1?token=abc&model=m", "http://h/v1?token=***&model=m"),
    ("s3://b/k?X-Amz-Signature=deadbeef", "s3://b/k?X-Amz-Signature=***"),
    ("s3://bucket/runs", "s3://bucket/runs"),
    ("./edtune-data/milvus.db", "./edtune-data/milvus.db"),
]


@pytest.mark.parametrize(("text", "expected"), REDACT)
def test_credentials_inside_urls_are_redacted(text: str, expected: str) -> None:
    assert redact_text(text) == expected


def test_redacted_config_hides_url_credentials_and_secret_named_keys() -> None:
    cfg = load_config(
        None,
        ["pool.milvus_uri=http://root:Milvus@host:19530", "teacher.url=https://tok3n@tgi/"],
        env={},
    )
    out = redacted(cfg)
    text = repr(out)
    assert "Milvus@" not in text and "tok3n" not in text
    assert out["pool"]["milvus_uri"] == "http://***@host:19530"
    assert redacted({"api_key": "abc", "nested": {"hf_token": "x", "n": 1}, "l": ["http://a:b@c"]}) == {
        "api_key": "***",
        "nested": {"hf_token": "***", "n": 1},
        "l": ["http://***@c"],
    }
