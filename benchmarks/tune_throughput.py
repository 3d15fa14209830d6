"""Tune throughput: edtune's Trainer path vs the hand-written loop, TRL's SFTTrainer and LLaMA-Factory.

Same work for every runner: the tiny Qwen2-VL (`build_tiny("qwen2-vl", seed=0)`), the same 32 single-turn
support samples (112 px images, `Step 1: … Answer: …` replies, loss on the reply only), LoRA r 8 / alpha 16 on
the language model's attention and MLP projections, AdamW lr 3e-3, cosine with a 3% warm-up, batch 8, the same
number of steps, fp32 on CPU, one torch thread. Each run is a fresh process (peak RSS is per run) and the
runners are interleaved over `--repeats` rounds; the table reports medians.

    python -m benchmarks.tune_throughput [--steps 40] [--repeats 3] [--lf-venv /tmp/lf-venv]

samples/s is samples trained / seconds inside the training call (for the peers, the Trainer's own
`train_samples_per_second`, which is measured the same way); "process s" is the whole process (imports, model
load, data preparation, training). The machine is shared (2 cores, other engineers' jobs): the load average
at start and end is recorded, and figures move by tens of percent between runs; compare rows of one run only.

LLaMA-Factory runs from its own venv (`--lf-venv`, created by `--setup-lf`: it pins transformers <= 5.6 and
peft 0.18); where it cannot be installed or cannot train this model on CPU, the row records the exact error.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
RESULTS = REPO / "benchmarks" / "results"
RUNNERS = ("edtune", "edtune-no-datasets", "edtune+ckpt", "loop", "trl", "llamafactory")
LF_SPEC = "llamafactory"


def _rss_mb(who: int = resource.RUSAGE_SELF) -> float:
    return resource.getrusage(who).ru_maxrss / 1024.0


def _support(root: Path, n: int) -> list[Any]:
    from benchmarks.student_throughput import _samples

    return _samples(n, root)[1]


# ---------------------------------------------------------------- runners (each in its own process)


def run_edtune(model: str, root: Path, n: int, steps: int, trainer: str, ckpt: bool) -> dict[str, Any]:
    from edtune.config import LoraConfig, StudentConfig
    from edtune.student import load_student

    st = load_student(model, StudentConfig(family="qwen2-vl"))
    lora = LoraConfig(max_steps=steps, batch_size=8, trainer=trainer, checkpoint_every=10)  # type: ignore[arg-type]
    res = st.tune(
        _support(root, n),
        str(root / "adapter"),
        lora,
        seed=0,
        checkpoint_uri=str(root / "ckpt") if ckpt else None,
    )
    return {
        "samples_per_s": res.samples_per_s,
        "tokens_per_s": res.tokens_per_s,
        "train_s": res.seconds,
        "final_loss": res.final_loss,
        "samples": res.samples,
        "checkpoints": res.checkpoints_saved,
    }


def run_trl(model: str, root: Path, n: int, steps: int) -> dict[str, Any]:
    """TRL's own VLM path: a prompt/completion dataset with images, its vision collator, completion-only loss."""
    import torch
    from datasets import Dataset
    from peft import LoraConfig as PeftLoraConfig
    from PIL import Image
    from transformers import AutoModelForImageTextToText
    from trl import SFTConfig, SFTTrainer

    from edtune.config import LoraConfig, StudentConfig
    from edtune.student.families import get_family
    from edtune.student.inputs import turns

    lora = LoraConfig()
    processor = get_family("qwen2-vl").load_processor(Path(model))  # AutoProcessor needs torchvision here
    rows = []
    for s in _support(root, n):
        human, gpt = turns(s)
        rows.append(
            {
                "prompt": [{"role": "user", "content": human[0]}],
                "completion": [{"role": "assistant", "content": gpt[0]}],
                "images": [Image.open(s.image).convert("RGB")],
            }
        )
    args = SFTConfig(
        output_dir=str(root / "trl"),
        max_steps=steps,
        per_device_train_batch_size=8,
        learning_rate=lora.lr,
        lr_scheduler_type="cosine",
        warmup_steps=max(1, round(lora.warmup_ratio * steps)),
        weight_decay=lora.weight_decay,
        max_grad_norm=1.0,
        logging_steps=1,
        save_strategy="no",
        report_to=[],
        use_cpu=True,
        bf16=False,
        completion_only_loss=True,
        max_length=None,
        dataloader_num_workers=0,
        seed=0,
        disable_tqdm=True,
    )
    peft_cfg = PeftLoraConfig(
        r=lora.r, lora_alpha=lora.alpha, lora_dropout=0.0, target_modules=lora.target_modules, bias="none"
    )
    _ = StudentConfig  # the student's processor settings (image size) are the family defaults, as for edtune
    model_obj = AutoModelForImageTextToText.from_pretrained(model, dtype=torch.float32)
    trainer = SFTTrainer(
        model=model_obj,
        args=args,
        train_dataset=Dataset.from_list(rows),
        processing_class=processor,
        peft_config=peft_cfg,
    )
    t0 = time.perf_counter()
    out = trainer.train()
    sec = time.perf_counter() - t0
    losses = [h["loss"] for h in trainer.state.log_history if "loss" in h]
    return {
        "samples_per_s": steps * 8 / sec,
        "trainer_samples_per_s": out.metrics.get("train_samples_per_second"),
        "train_s": sec,
        "final_loss": sum(losses[-5:]) / len(losses[-5:]),
        "samples": steps * 8,
    }


def run_llamafactory(model: str, root: Path, n: int, steps: int, venv: Path) -> dict[str, Any]:
    """LLaMA-Factory's CLI from its own venv on the same model and data (its `mllm_demo` sharegpt format)."""
    import yaml

    from edtune.config import LoraConfig
    from edtune.student.inputs import turns

    cli = venv / "bin" / "llamafactory-cli"
    if not cli.exists():
        return {"status": "not run", "error": f"{cli} not found (install failed or --setup-lf not run)"}
    lora = LoraConfig()
    data_dir = root / "lfdata"
    data_dir.mkdir()
    records = []
    for s in _support(root, n):
        human, gpt = turns(s)
        records.append(
            {
                "messages": [
                    {"role": "user", "content": "<image>" + human[0]},
                    {"role": "assistant", "content": gpt[0]},
                ],
                "images": [s.image],
            }
        )
    (data_dir / "shapes.json").write_text(json.dumps(records))
    (data_dir / "dataset_info.json").write_text(
        json.dumps(
            {
                "shapes": {
                    "file_name": "shapes.json",
                    "formatting": "sharegpt",
                    "columns": {"messages": "messages", "images": "images"},
                    "tags": {
                        "role_tag": "role",
                        "content_tag": "content",
                        "user_tag": "user",
                        "assistant_tag": "assistant",
                    },
                }
            }
        )
    )
    cfg = {
        "model_name_or_path": model,
        "trust_remote_code": False,
        "stage": "sft",
        "do_train": True,
        "finetuning_type": "lora",
        "lora_rank": lora.r,
        "lora_alpha": lora.alpha,
        "lora_dropout": 0.0,
        "lora_target": "q_proj,k_proj,v_proj,o_proj,gate_proj,up_proj,down_proj",
        "freeze_vision_tower": True,
        "dataset": "shapes",
        "dataset_dir": str(data_dir),
        "template": "qwen2_vl",
        "cutoff_len": 1024,
        "overwrite_cache": True,
        "preprocessing_num_workers": 1,
        "output_dir": str(root / "lf"),
        "logging_steps": 1,
        "save_strategy": "no",
        "report_to": "none",
        "per_device_train_batch_size": 8,
        "gradient_accumulation_steps": 1,
        "learning_rate": lora.lr,
        "max_steps": steps,
        "lr_scheduler_type": "cosine",
        "warmup_ratio": lora.warmup_ratio,
        "bf16": False,
        "use_cpu": True,
        "seed": 0,
        "image_max_pixels": 112 * 112,
        "disable_tqdm": True,
    }
    (root / "lf.yaml").write_text(yaml.safe_dump(cfg))
    env = {**os.environ, "OMP_NUM_THREADS": "1", "CUDA_VISIBLE_DEVICES": "", "DISABLE_VERSION_CHECK": "1"}
    t0 = time.perf_counter()
    proc = subprocess.run(
        [str(cli), "train", str(root / "lf.yaml")], capture_output=True, text=True, env=env, timeout=1200
    )
    sec = time.perf_counter() - t0
    if proc.returncode != 0:
        lines = [ln for ln in (proc.stdout + proc.stderr).splitlines() if ln.strip()]
        err = next(
            (ln for ln in reversed(lines) if "Error" in ln or "error" in ln), lines[-1] if lines else ""
        )
        return {"status": "failed", "error": err.strip()[:500], "log_tail": lines[-15:], "process_s": sec}
    metrics = json.loads((root / "lf" / "train_results.json").read_text())
    return {
        "samples_per_s": metrics.get("train_samples_per_second"),
        "train_s": metrics.get("train_runtime"),
        "final_loss": metrics.get("train_loss"),
        "samples": steps * 8,
        "peak_rss_mb_child": _rss_mb(resource.RUSAGE_CHILDREN),
    }


def _hide_datasets() -> None:
    """Make `datasets` unimportable, as in the production image (only the dev extras' `trl` brings it): with it
    installed, `transformers.Trainer` imports datasets, pandas and pyarrow (~80 MB RSS) at import time."""
    sys.modules["datasets"] = None  # type: ignore[assignment]  # find_spec → None, import → ImportError


def one(runner: str, model: str, n: int, steps: int, lf_venv: str) -> dict[str, Any]:
    """One measurement in this process (called in a subprocess by `main`)."""
    if runner == "edtune-no-datasets":
        _hide_datasets()
    import torch

    torch.set_num_threads(1)
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        try:
            if runner in ("edtune", "edtune-no-datasets", "edtune+ckpt", "loop"):
                res = run_edtune(
                    model, root, n, steps, "loop" if runner == "loop" else "hf", ckpt=runner == "edtune+ckpt"
                )
            elif runner == "trl":
                res = run_trl(model, root, n, steps)
            else:
                res = run_llamafactory(model, root, n, steps, Path(lf_venv))
            res.setdefault("status", "ok")
        except Exception as exc:  # a peer that cannot run records why
            res = {"status": "failed", "error": f"{type(exc).__name__}: {exc}"[:500]}
    res["peak_rss_mb"] = res.pop("peak_rss_mb_child", None) or _rss_mb()
    res.update(runner=runner, process_s=res.get("process_s") or time.perf_counter() - t0)
    res["datasets_imported"] = "datasets" in sys.modules
    return res


# ---------------------------------------------------------------- driver


def _git(*args: str) -> str:
    return subprocess.run(["git", *args], cwd=REPO, capture_output=True, text=True).stdout.strip()


def _versions(lf_venv: Path) -> dict[str, str | None]:
    import importlib.metadata as md

    out: dict[str, str | None] = {}
    for pkg in ("torch", "transformers", "peft", "accelerate", "trl", "datasets"):
        try:
            out[pkg] = md.version(pkg)
        except md.PackageNotFoundError:
            out[pkg] = None
    py = lf_venv / "bin" / "python"
    if py.exists():
        code = (
            "import importlib.metadata as m, json; print(json.dumps({p: m.version(p) for p in "
            "('llamafactory', 'torch', 'transformers', 'peft')}))"
        )
        r = subprocess.run([str(py), "-c", code], capture_output=True, text=True)
        out["llamafactory_venv"] = r.stdout.strip() or r.stderr.strip()[-300:]
    return out


def setup_lf(venv: Path) -> dict[str, Any]:
    """Create LLaMA-Factory's venv: the CPU torch wheel first (an unpinned torch pulls CUDA), then the package."""
    t0 = time.perf_counter()
    steps = [
        [sys.executable, "-m", "venv", str(venv)],
        [str(venv / "bin" / "pip"), "install", "-q", "torch==2.13.0"],
        [str(venv / "bin" / "pip"), "install", "-q", LF_SPEC],
    ]
    for cmd in steps:
        r = subprocess.run(cmd, capture_output=True, text=True)
        if r.returncode != 0:
            return {"ok": False, "cmd": " ".join(cmd), "error": (r.stderr or r.stdout)[-1000:]}
    return {"ok": True, "seconds": round(time.perf_counter() - t0, 1)}


def _median(rows: list[dict[str, Any]], key: str) -> float | None:
    vals = [r[key] for r in rows if r.get("status") == "ok" and isinstance(r.get(key), int | float)]
    return statistics.median(vals) if vals else None


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=str(RESULTS / "tune_throughput.json"))
    ap.add_argument("--steps", type=int, default=40)
    ap.add_argument("--n", type=int, default=32)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--runners", default=",".join(RUNNERS))
    ap.add_argument("--lf-venv", default="/tmp/lf-venv")
    ap.add_argument("--setup-lf", action="store_true", help="create --lf-venv first (pip, minutes)")
    ap.add_argument("--one", default=None, help=argparse.SUPPRESS)
    ap.add_argument("--model", default=None, help=argparse.SUPPRESS)
    a = ap.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    if a.one:
        print(json.dumps(one(a.one, a.model, a.n, a.steps, a.lf_venv)))
        return

    from edtune.shapes.student.tiny import build_tiny

    t_start = time.perf_counter()
    load_start = os.getloadavg()
    setup = setup_lf(Path(a.lf_venv)) if a.setup_lf else None
    runners = [r for r in a.runners.split(",") if r]
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as tmp:
        model = build_tiny("qwen2-vl", str(Path(tmp) / "tiny-qwen2-vl"), seed=0)
        for rep in range(a.repeats):
            for runner in runners:
                earlier = [r for r in rows if r["runner"] == runner]
                if runner == "llamafactory" and earlier and earlier[-1].get("status") == "failed":
                    continue  # a peer that failed once fails the same way: one error row is enough
                cmd = [sys.executable, "-m", "benchmarks.tune_throughput", "--one", runner, "--model", model]
                cmd += ["--n", str(a.n), "--steps", str(a.steps), "--lf-venv", a.lf_venv]
                p = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True)
                try:
                    row = json.loads(p.stdout.strip().splitlines()[-1])
                except (IndexError, json.JSONDecodeError):
                    row = {"runner": runner, "status": "failed", "error": p.stderr.strip()[-500:]}
                row["repeat"] = rep
                rows.append(row)
                print(json.dumps({k: v for k, v in row.items() if k != "log_tail"}), file=sys.stderr)
    summary = []
    for runner in runners:
        mine = [r for r in rows if r["runner"] == runner]
        ok = [r for r in mine if r.get("status") == "ok"]
        summary.append(
            {
                "runner": runner,
                "runs_ok": len(ok),
                "samples_per_s": _median(mine, "samples_per_s"),
                "peak_rss_mb": _median(mine, "peak_rss_mb"),
                "process_s": _median(mine, "process_s"),
                "final_loss": _median(mine, "final_loss"),
                "error": None if ok else (mine[0].get("error") if mine else "not run"),
            }
        )
    base = next((s for s in summary if s["runner"] == "edtune"), None)
    for s in summary:
        if base and base["samples_per_s"] and s["samples_per_s"]:
            s["edtune_speed_ratio"] = round(base["samples_per_s"] / s["samples_per_s"], 3)
        if base and base["peak_rss_mb"] and s["peak_rss_mb"]:
            s["edtune_rss_ratio"] = round(base["peak_rss_mb"] / s["peak_rss_mb"], 3)
    result = {
        "benchmark": "tune_throughput",
        "created_at": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        "commit": _git("rev-parse", "HEAD"),
        "git_dirty": bool(_git("status", "--porcelain")),
        "command": " ".join([Path(sys.executable).name, "-m", "benchmarks.tune_throughput", *sys.argv[1:]]),
        "wall_s": round(time.perf_counter() - t_start, 1),
        "load_average_start": load_start,
        "load_average_end": os.getloadavg(),
        "cpus": os.cpu_count(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "versions": _versions(Path(a.lf_venv)),
        "work": {
            "model": "tiny qwen2-vl (build_tiny seed 0)",
            "samples": a.n,
            "steps": a.steps,
            "batch": 8,
            "lora": "r 8, alpha 16, LM attention+MLP, lr 3e-3 cosine, warm-up 3%",
            "threads": 1,
            "dtype": "fp32",
            "device": "cpu",
        },
        "lf_setup": setup,
        "summary": summary,
        "rows": rows,
    }
    Path(a.out).parent.mkdir(parents=True, exist_ok=True)
    Path(a.out).write_text(json.dumps(result, indent=2) + "\n")
    print(table(result))


def table(result: dict[str, Any]) -> str:
    """The Markdown table for benchmarks/README.md."""
    lines = [
        "| runner | samples/s (median) | peak RSS MB | process s | final loss | edtune ÷ runner samples/s | note |",
        "|---|---|---|---|---|---|---|",
    ]
    for s in result["summary"]:

        def f(v: Any, fmt: str = "{:.1f}") -> str:
            return fmt.format(v) if isinstance(v, int | float) else "–"

        note = s["error"] or f"{s['runs_ok']} runs"
        lines.append(
            f"| {s['runner']} | {f(s['samples_per_s'])} | {f(s['peak_rss_mb'], '{:.0f}')} | {f(s['process_s'])} | "
            f"{f(s['final_loss'], '{:.3f}')} | {f(s.get('edtune_speed_ratio'), '{:.2f}')} | {note} |"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    main()
