"""One corpus of bad inputs, fed to every CLI entry point as a real subprocess.

Each case must end with exit code 2, a message on stderr that names what is wrong and where (file, field or URI),
no traceback, and no partial output under the run's output directory (`--out` / `output`).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

EDTUNE = str(Path(sys.executable).with_name("edtune"))


@dataclass(frozen=True)
class Ctx:
    tmp: Path
    out: Path  # where a command would write; must stay empty
    task: Path  # a valid task file (2 samples)
    student: Path  # a valid tiny base
    other_adapter: Path  # an adapter trained on another base


@dataclass(frozen=True)
class Case:
    name: str
    argv: Callable[[Ctx], list[str]]
    expect: tuple[str, ...]  # substrings stderr must contain (with {tmp}/{out} filled in)


def _yaml(ctx: Ctx, text: str, name: str = "cfg.yaml") -> str:
    p = ctx.tmp / name
    p.write_text(text.replace("{out}", str(ctx.out)))
    return str(p)


def _run_cfg(extra: str) -> Callable[[Ctx], list[str]]:
    return lambda c: ["run", "--config", _yaml(c, f"output: {{out}}\n{extra}")]


def _show_cfg(text: str) -> Callable[[Ctx], list[str]]:
    return lambda c: ["config", "show", "--config", _yaml(c, text)]


def _jsonl(ctx: Ctx, rows: list[str], name: str = "bad.jsonl") -> str:
    p = ctx.tmp / name
    p.write_text("".join(r + "\n" for r in rows))
    return str(p)


def _evaluate(
    student: Callable[[Ctx], str], task: Callable[[Ctx], str], adapter: Callable[[Ctx], str] | None = None
):  # type: ignore[no-untyped-def]
    def argv(c: Ctx) -> list[str]:
        args = ["evaluate", "--student", student(c), "--task", task(c), "--out", str(c.out)]
        return args + (["--adapter", adapter(c)] if adapter else [])

    return argv


def _damaged_student(damage: Callable[[Path], None]) -> Callable[[Ctx], str]:
    def make(c: Ctx) -> str:
        d = c.tmp / "damaged"
        shutil.copytree(c.student, d)
        damage(d)
        return str(d)

    return make


def _flip_weight_byte(d: Path) -> None:
    """One bit of tensor data: only the manifest's sha256 can tell (the file still parses)."""
    from edtune.student.checkpoint import write_manifest

    write_manifest(d)
    f = d / "model.safetensors"
    data = bytearray(f.read_bytes())
    data[-100] ^= 0xFF
    f.write_bytes(bytes(data))


def _truncate(d: Path) -> None:
    f = d / "model.safetensors"
    f.write_bytes(f.read_bytes()[:-1000])


def _garble_header(d: Path) -> None:
    f = d / "model.safetensors"
    data = bytearray(f.read_bytes())
    data[10:20] = b"\x00" * 10
    f.write_bytes(bytes(data))


def _foreign_arch(d: Path) -> None:
    cfg = json.loads((d / "config.json").read_text())
    cfg["model_type"] = "bert"
    cfg["architectures"] = ["BertModel"]
    (d / "config.json").write_text(json.dumps(cfg))
    # keep the manifest consistent so the architecture check (not the sha check) is what refuses it
    from edtune.student.checkpoint import write_manifest

    write_manifest(d)


TASK = lambda c: str(c.task)  # noqa: E731
STUDENT = lambda c: str(c.student)  # noqa: E731

CASES = [
    # --- run configurations (edtune config show / edtune run)
    Case("unknown top-level key", _show_cfg("rounds: 3\n"), ("rounds", "cfg.yaml")),
    Case("unknown key in a section", _show_cfg("teacher:\n  urll: http://x\n"), ("teacher.urll", "cfg.yaml")),
    Case("wrong type", _show_cfg("loop:\n  max_rounds: three\n"), ("loop.max_rounds", "cfg.yaml")),
    Case("negative rounds", _run_cfg("loop:\n  max_rounds: -1\n"), ("loop.max_rounds", "cfg.yaml")),
    Case("zero budget", _run_cfg("loop:\n  budget_per_round: 0\n"), ("loop.budget_per_round", "cfg.yaml")),
    Case("out-of-range concurrency", _run_cfg("teacher:\n  concurrency: 100000\n"), ("teacher.concurrency",)),
    Case("zero LoRA steps", _run_cfg("lora:\n  max_steps: 0\n"), ("lora.max_steps", "cfg.yaml")),
    Case("replay fraction of 1", _run_cfg("lora:\n  replay_fraction: 1.0\n"), ("lora.replay_fraction",)),
    Case("run id escaping the output", _run_cfg("run_id: ../../etc\n"), ("run_id", "cfg.yaml")),
    Case("config that is a list", _show_cfg("- a\n- b\n"), ("cfg.yaml", "mapping")),
    Case("invalid YAML", _show_cfg("loop: {max_rounds: 2\n"), ("cfg.yaml", "invalid YAML")),
    Case(
        "missing config file",
        lambda c: ["config", "show", "--config", str(c.tmp / "nope.yaml")],
        ("nope.yaml",),
    ),
    Case("run without a validation split", _run_cfg("task:\n  name: t\n"), ("task.val",)),
    Case(
        "run whose validation file is missing",
        _run_cfg("task:\n  val: {out}-missing/val.jsonl\n"),
        ("val.jsonl", "not found"),
    ),
    Case("--set of an unknown key", lambda c: ["config", "show", "--set", "loop.rounds=2"], ("loop.rounds",)),
    # --- data files (the foundation tests cover the full list; a few here prove the exit path)
    Case(
        "task line that is not JSON",
        lambda c: ["data", "validate", _jsonl(c, ['{"id": "a"', "{}"])],
        ("bad.jsonl:1",),
    ),
    Case(
        "task line missing its answer",
        lambda c: [
            "data",
            "validate",
            "--no-images",
            _jsonl(c, ['{"id": "a", "image": "x.png", "question": "q"}']),
        ],
        ("bad.jsonl:1", "answer"),
    ),
    Case(
        "support line with a bad role",
        lambda c: [
            "data",
            "validate",
            "--kind",
            "support",
            "--no-images",
            _jsonl(c, ['{"id": "s", "conversations": [{"from": "robot", "value": "hi"}]}']),
        ],
        ("bad.jsonl:1", "conversations"),
    ),
    # --- URIs
    Case(
        "unsupported scheme",
        _evaluate(STUDENT, lambda c: "gs://bucket/val.jsonl"),
        ("gs://bucket/val.jsonl",),
    ),
    Case(
        "http scheme",
        _evaluate(STUDENT, lambda c: "http://127.0.0.1:9/val.jsonl"),
        ("http://127.0.0.1:9/val.jsonl",),
    ),
    Case("'..' escape", _evaluate(STUDENT, lambda c: f"{c.tmp}/a/../../val.jsonl"), ("..",)),
    Case("file:// with '..'", _evaluate(STUDENT, lambda c: "file://../val.jsonl"), ("..",)),
    Case(
        "task image escaping with '..'",
        _evaluate(
            STUDENT,
            lambda c: _jsonl(
                c, ['{"id": "a", "image": "../../etc/passwd", "question": "q?", "answer": "x"}']
            ),
        ),
        ("bad.jsonl", ".."),
    ),
    Case("s3 URI without a key", _evaluate(STUDENT, lambda c: "s3://bucket-only"), ("s3://bucket-only",)),
    # --- models
    Case("missing student directory", _evaluate(lambda c: str(c.tmp / "no-model"), TASK), ("no-model",)),
    Case(
        "unsupported architecture",
        _evaluate(_damaged_student(_foreign_arch), TASK),
        ("damaged", "model_type"),
    ),
    Case(
        "corrupted safetensors (manifest sha256)",
        _evaluate(_damaged_student(_flip_weight_byte), TASK),
        ("model.safetensors", "manifest"),
    ),
    Case(
        "truncated safetensors",
        _evaluate(_damaged_student(_truncate), TASK),
        ("model.safetensors", "truncated"),
    ),
    Case(
        "safetensors with a garbled header",
        _evaluate(_damaged_student(_garble_header), TASK),
        ("model.safetensors", "corrupted"),
    ),
    Case(
        "missing weights",
        _evaluate(_damaged_student(lambda d: (d / "model.safetensors").unlink()), TASK),
        ("damaged", "safetensors"),
    ),
    Case(
        "adapter for a different base",
        _evaluate(STUDENT, TASK, lambda c: str(c.other_adapter)),
        ("another base",),
    ),
    Case(
        "adapter directory that is empty",
        _evaluate(STUDENT, TASK, lambda c: str(c.tmp)),
        ("adapter_config.json",),
    ),
]


@pytest.fixture(scope="module")
def fixtures(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    import torch
    from PIL import Image

    from edtune.config import LoraConfig, StudentConfig
    from edtune.schemas import SupportSample
    from edtune.shapes.student.tiny import build_tiny
    from edtune.student import load_student

    torch.set_num_threads(1)
    root = tmp_path_factory.mktemp("models")
    student = Path(build_tiny("qwen2-vl", str(root / "a"), seed=0))
    other = Path(build_tiny("qwen2-vl", str(root / "b"), seed=1))
    img = root / "img.png"
    Image.new("RGB", (56, 56), (200, 30, 30)).save(img)
    task = root / "val.jsonl"
    task.write_text(
        "".join(
            json.dumps({"id": f"t{i}", "image": "img.png", "question": "What colour?", "answer": "red"})
            + "\n"
            for i in range(2)
        )
    )
    sample = SupportSample.model_validate(
        {
            "id": "s0",
            "image": str(img),
            "conversations": [
                {"from": "human", "value": "<image>\nColour?"},
                {"from": "gpt", "value": "red"},
            ],
        }
    )
    adapter = root / "adapter-b"
    st = load_student(str(other), StudentConfig(max_new_tokens=8), cache_dir=str(root / "cache"))
    st.tune([sample], str(adapter), LoraConfig(max_steps=1, batch_size=1))
    return {"student": student, "task": task, "adapter": adapter}


def _env(tmp: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("EDTUNE_", "AWS_"))}
    # an S3 endpoint that refuses at once: "s3://bucket-only" must be refused before any request anyway
    env.update(AWS_ENDPOINT_URL="http://127.0.0.1:9", AWS_ACCESS_KEY_ID="x", AWS_SECRET_ACCESS_KEY="x")
    env.update(EDTUNE_CACHE_DIR=str(tmp / "cache"), HF_HUB_OFFLINE="1", OMP_NUM_THREADS="1")
    return env


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_bad_input_exits_2_naming_what_and_where_and_writes_nothing(
    case: Case, fixtures: dict[str, Path], tmp_path: Path
) -> None:
    ctx = Ctx(tmp_path, tmp_path / "out", fixtures["task"], fixtures["student"], fixtures["adapter"])
    proc = subprocess.run(
        [EDTUNE, *case.argv(ctx)],
        capture_output=True,
        text=True,
        env=_env(tmp_path),
        timeout=120,
        cwd=tmp_path,
    )
    err = proc.stderr
    assert proc.returncode == 2, (
        f"exit {proc.returncode}\nstdout: {proc.stdout[-500:]}\nstderr: {err[-1500:]}"
    )
    for want in case.expect:
        assert want in err, f"stderr does not name {want!r}:\n{err[-1500:]}"
    assert "Traceback" not in err
    written = [p for p in ctx.out.rglob("*") if p.is_file()] if ctx.out.exists() else []
    assert not written, f"partial output left behind: {written}"


def test_the_corpus_covers_every_entry_point() -> None:
    names = " ".join(c.name for c in CASES)
    for kind in (
        "config",
        "rounds",
        "budget",
        "scheme",
        "..",
        "architecture",
        "safetensors",
        "adapter",
        "task",
    ):
        assert kind in names, f"no bad-input case about {kind}"
