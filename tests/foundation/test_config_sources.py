"""Where each setting comes from: product defaults (for a 7B student), the harness preset, file, env, flag.

The demo's resolved config is pinned here as it was before the product defaults changed (DEMO_QUICK_BEFORE, the
quick demo's `model_dump` at the commit that introduced presets), so moving the tiny student's values into the
`shapes-tiny` preset cannot silently change what the demo, the e2e tests and the benchmarks run.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from edtune.config import (
    LoraConfig,
    Preset,
    RunConfig,
    StudentConfig,
    is_secret_name,
    load_config,
    redacted,
    resolve_config,
)
from edtune.config.show import leaf_sources, render
from edtune.errors import ConfigError

ROOT = Path(__file__).resolve().parents[2]

# `edtune demo --quick`'s resolved config before presets existed (paths are the placeholders passed below)
DEMO_QUICK_BEFORE: dict[str, Any] = {
    "cache_dir": "/WD/cache",
    "cluster": {
        "annotate_timeout_s": 172800,
        "cache_mount": "/cache",
        "cache_pvc": "",
        "cache_size": "100Gi",
        "cache_storage_class": None,
        "cpu_node_selector": {},
        "data_fingerprint": "",
        "experiment": "edtune",
        "gpu_image": "",
        "gpu_node_selector": {},
        "gpu_task_timeout_s": 43200,
        "gpu_tolerations": [
            {"effect": "NoSchedule", "key": "nvidia.com/gpu", "operator": "Exists", "value": None}
        ],
        "image": "",
        "milvus_secret": "edtune-milvus",
        "namespace": "",
        "run_as_user": 10001,
        "s3_secret": "edtune-s3",
        "service_account": "",
        "state_uri": "",
        "task_timeout_s": 21600,
        "teacher_secret": "edtune-teacher",
    },
    "loop": {
        "budget_per_round": 200,
        "eval_test_each_round": True,
        "max_rounds": 1,
        "min_gain": 0.0,
        "min_selected": 8,
    },
    "lora": {
        "alpha": 128,
        "answer_weight": 5.0,
        "batch_size": 8,
        "bf16": None,
        "checkpoint_every": 50,
        "dropout": 0.0,
        "epochs": 1.0,
        "grad_accum": 1,
        "gradient_checkpointing": None,
        "lr": 0.003,
        "max_steps": 300,
        "processes": 0,
        "r": 64,
        "replay_fraction": 0.0,
        "restart_processes": 0,
        "restarts": 4,
        "scheduler": "cosine",
        "target_modules": ".*language_model\\.layers\\.\\d+\\.(self_attn\\.(q|k|v|o)_proj|mlp\\.(gate|up|down)_proj)",
        "tensorboard": True,
        "trainer": "hf",
        "warmup_ratio": 0.03,
        "weight_decay": 0.0,
    },
    "output": "/WD/runs",
    "pool": {
        "collection": "shapes_pool",
        "embed_batch": 128,
        "index_type": "AUTOINDEX",
        "insert_batch": 2000,
        "milvus_uri": "/WD/milvus.db",
        "skills": "/WD/world/pool.skills.jsonl",
        "uri": "/WD/world/pool.jsonl",
    },
    "registry": None,
    "retrieval": {
        "allocation": "proportional",
        "answer_space": True,
        "answer_space_turns": "all",
        "balance_answers": "off",
        "min_per_skill": 1,
        "min_score_ratio": 0.5,
        "mode": "bm25",
        "query": "skill",
        "selector": "error-driven",
    },
    "run_id": "demo-left-right",
    "seed": 0,
    "student": {
        "base": "/BASE",
        "batch_size": 8,
        "device": "auto",
        "family": "qwen2-vl",
        "image_max_side": 112,
        "max_new_tokens": 64,
        "torch_threads": 1,
        "trust_remote_code": False,
    },
    "task": {
        "name": "left-right",
        "test": "/WD/world/tasks/left-right/test.jsonl",
        "val": "/WD/world/tasks/left-right/val.jsonl",
    },
    "teacher": {
        "backend": "tgi",
        "backoff_max_s": 30.0,
        "backoff_s": 0.5,
        "concurrency": 8,
        "deadline_s": 3600.0,
        "delta": 0.1,
        "fallback": "judge",
        "group_skills": True,
        "image_max_side": 448,
        "max_retries": 4,
        "max_tokens": 256,
        "method": "answer-switch",
        "model": "",
        "persist": 1,
        "prior": 0.6,
        "skill_merge_threshold": 0.85,
        "tag_images": False,
        "timeout_s": 30.0,
        "url": "http://127.0.0.1:1",
    },
}


def _demo(sizes_name: str) -> RunConfig:
    from edtune.shapes import demo

    sizes = demo.QUICK if sizes_name == "quick" else demo.FULL
    return demo.demo_config(
        Path("/WD"), Path("/WD/world"), "/BASE", "http://127.0.0.1:1", sizes, "left-right"
    )


def test_the_demo_resolves_to_exactly_its_settings_from_before_the_7b_defaults() -> None:
    quick = _demo("quick").model_dump(mode="json")
    assert quick.pop("preset") == "shapes-tiny"
    assert quick == DEMO_QUICK_BEFORE
    full = _demo("full").model_dump(mode="json")
    full.pop("preset")
    want = json.loads(json.dumps(DEMO_QUICK_BEFORE))
    want["loop"].update(budget_per_round=1000, max_rounds=2)
    want["lora"].update(max_steps=400)  # four restarts as the quick demo; 400 steps (worlds 9/10 rule)
    assert full == want


def test_a_demo_setting_wins_over_the_demo_and_the_preset_and_a_bad_one_names_itself() -> None:
    from edtune.shapes import demo

    def quick(*settings: str) -> RunConfig:
        return demo.demo_config(
            Path("/WD"),
            Path("/WD/world"),
            "/BASE",
            "http://127.0.0.1:1",
            demo.QUICK,
            "left-right",
            list(settings),
        )

    cfg = quick("lora.restarts=1", "retrieval.balance_answers=repeat")
    assert (cfg.lora.restarts, cfg.retrieval.balance_answers) == (1, "repeat")
    with pytest.raises(ConfigError, match=r"lora\.restarts"):
        quick("lora.restarts=-1")


# setting -> (product default for a 7B student, the tiny preset's value)
CHANGED = [
    ("student.image_max_side", 768, 112),
    ("student.max_new_tokens", 256, 64),
    ("student.torch_threads", 0, 1),
    ("teacher.model", "auto", "reference-shapes-teacher"),
    ("lora.lr", 1e-4, 3e-3),
    ("lora.answer_weight", 1.0, 5.0),
    ("lora.r", 8, 64),
    ("lora.alpha", 16, 128),
    ("retrieval.answer_space", False, True),
    ("retrieval.answer_space_turns", "first", "all"),
]


def _get(cfg: RunConfig, dotted: str) -> Any:
    node: Any = cfg
    for k in dotted.split("."):
        node = getattr(node, k)
    return node


@pytest.mark.parametrize(("dotted", "product", "tiny"), CHANGED)
def test_a_7b_config_gets_the_product_default_and_config_show_names_its_source(
    tmp_path: Path, dotted: str, product: Any, tiny: Any
) -> None:
    f = tmp_path / "qwen7b.yaml"
    f.write_text("student:\n  family: qwen2-vl\n  base: Qwen/Qwen2-VL-7B-Instruct\n")
    resolved = resolve_config(f, env={})
    assert _get(resolved.config, dotted) == product
    assert resolved.source(dotted).startswith("default (") and len(resolved.source(dotted)) > 20
    key = dotted.rsplit(".", 1)[1]
    assert any(
        line.strip().startswith(f"{key}: ") and "# default (" in line
        for line in render(resolved).splitlines()
    )
    tiny_cfg = resolve_config(None, ["preset=shapes-tiny"], env={})
    assert _get(tiny_cfg.config, dotted) == tiny
    assert tiny_cfg.source(dotted) == "preset shapes-tiny"


def test_every_source_kind_is_named(tmp_path: Path) -> None:
    f = tmp_path / "run.yaml"
    f.write_text("preset: shapes-tiny\nseed: 3\nlora:\n  r: 4\n")
    res = resolve_config(f, ["loop.max_rounds=2"], env={"EDTUNE_TEACHER__CONCURRENCY": "5"})
    sources = leaf_sources(res)
    assert sources["seed"] == f"file {f}"
    assert sources["lora.r"] == f"file {f}"
    assert sources["lora.lr"] == "preset shapes-tiny"
    assert sources["teacher.concurrency"] == "env EDTUNE_TEACHER__CONCURRENCY"
    assert sources["loop.max_rounds"] == "flag --set loop.max_rounds"
    assert sources["loop.budget_per_round"].startswith("default (")
    assert sources["run_id"] == "default"


def test_a_preset_sits_below_the_file_env_and_flags(tmp_path: Path) -> None:
    f = tmp_path / "run.yaml"
    f.write_text("preset: shapes-tiny\nlora:\n  lr: 0.01\n")
    cfg = load_config(f, ["student.max_new_tokens=9"], env={"EDTUNE_LORA__ANSWER_WEIGHT": "2"})
    assert (cfg.lora.lr, cfg.student.max_new_tokens, cfg.lora.answer_weight) == (0.01, 9, 2.0)
    assert cfg.student.image_max_side == 112  # from the preset


BAD_PRESETS = [
    (["preset=nope"], "flag --set preset: preset: unknown preset 'nope'"),
    (["preset=../x"], "preset"),
]


@pytest.mark.parametrize(("flags", "fragment"), BAD_PRESETS)
def test_an_unknown_preset_is_an_error_naming_the_field(flags: list[str], fragment: str) -> None:
    with pytest.raises(ConfigError) as err:
        load_config(None, flags, env={})
    assert fragment in str(err.value)


def test_a_preset_object_can_be_passed_without_registering_it() -> None:
    mine = Preset("team-a100", {"student": {"batch_size": 2}, "lora": {"grad_accum": 4}})
    cfg = load_config(None, [], env={}, preset=mine)
    assert (cfg.preset, cfg.student.batch_size, cfg.lora.grad_accum) == ("team-a100", 2, 4)
    assert (
        StudentConfig().batch_size == 8 and LoraConfig().grad_accum == 1
    )  # the defaults themselves unchanged


NOT_SECRET = ["max_new_tokens", "max_tokens", "keys", "tokenizer", "monkey", "keyboard"]
SECRET = ["api_key", "hf_token", "AWS_SECRET_ACCESS_KEY", "X-Amz-Signature", "password", "authToken"]


@pytest.mark.parametrize(("name", "secret"), [(n, False) for n in NOT_SECRET] + [(n, True) for n in SECRET])
def test_secret_names_are_matched_word_by_word(name: str, secret: bool) -> None:
    assert is_secret_name(name) is secret


def test_config_show_redacts_secrets_only() -> None:
    cfg = load_config(
        None,
        ["student.max_new_tokens=77", "teacher.max_tokens=99", "teacher.url=https://bot:pw123@tgi/v1"],
        env={},
    )
    out = redacted(cfg)
    assert out["student"]["max_new_tokens"] == 77 and out["teacher"]["max_tokens"] == 99
    assert out["cluster"]["gpu_tolerations"][0]["key"] == "nvidia.com/gpu"
    assert out["cluster"]["s3_secret"] == "edtune-s3"  # the *name* of a Kubernetes Secret
    assert out["teacher"]["url"] == "https://***@tgi/v1"


def test_the_config_show_command_prints_a_flag_value_and_its_source() -> None:
    r = subprocess.run(
        [sys.executable, "-m", "edtune", "config", "show", "--set", "student.max_new_tokens=77"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert r.returncode == 0, r.stderr
    assert "  max_new_tokens: 77  # flag --set student.max_new_tokens" in r.stdout.splitlines()
    j = subprocess.run(
        [
            sys.executable,
            "-m",
            "edtune",
            "config",
            "show",
            "--json",
            "--sources",
            "--set",
            "preset=shapes-tiny",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    data = json.loads(j.stdout)
    assert data["config"]["lora"]["lr"] == 3e-3 and data["sources"]["lora.lr"] == "preset shapes-tiny"
