"""Commands of the `student` area: `edtune student tiny|pretrain|measure`, `edtune evaluate`, `edtune tune`."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Annotated

import typer

student_app = typer.Typer(help="Build, pretrain and measure student models.", no_args_is_help=True)

JsonOpt = Annotated[bool, typer.Option("--json", help="Print exactly one JSON object on stdout.")]
ConfigOpt = Annotated[Path | None, typer.Option("--config", "-c", help="RunConfig YAML file.")]
SetOpt = Annotated[
    list[str] | None, typer.Option("--set", help="Override a setting: key.sub=value (repeatable).")
]


@student_app.command("tiny")
def tiny_cmd(
    family: Annotated[str, typer.Option("--family", help="qwen2-vl | llava")] = "qwen2-vl",
    out: Annotated[str, typer.Option("--out", help="Output directory.")] = "./tiny-student",
    seed: Annotated[int, typer.Option("--seed")] = 0,
    as_json: JsonOpt = False,
) -> None:
    """Build a randomly initialised tiny model (with a locally trained tokenizer) as a HF checkpoint dir."""
    from edtune.output import emit
    from edtune.student.tiny import build_tiny

    path = build_tiny(family, out, seed)
    emit(
        {"family": family, "path": path, "seed": seed},
        as_json,
        human=f"tiny {family} student written to {path}",
    )


@student_app.command("pretrain")
def pretrain_cmd(
    out: Annotated[str, typer.Option("--out", help="Output directory of the base student.")],
    seed: Annotated[int, typer.Option("--seed")] = 0,
    steps: Annotated[int | None, typer.Option("--steps", help="Training steps (default 8000).")] = None,
    seconds: Annotated[
        float | None, typer.Option("--seconds", help="Time budget when --steps is not given.")
    ] = None,
    curriculum: Annotated[
        int | None,
        typer.Option(
            "--curriculum",
            help="Warm-up steps on easy scenes (one large object at a fixed spot) before the normal stream; "
            "0 turns it off (default: DEFAULT_CURRICULUM).",
        ),
    ] = None,
    lr: Annotated[
        float | None, typer.Option("--lr", help="Peak learning rate (default: the recipe's).")
    ] = None,
    init: Annotated[
        str | None,
        typer.Option(
            "--init", help="Continue from this base directory (weights and tokenizer) instead of a new model."
        ),
    ] = None,
    note_share: Annotated[
        float,
        typer.Option(
            "--note-share",
            help="Share of note-copy exercises (the answer repeats the step's last word; 0: the plain stream).",
        ),
    ] = 0.0,
    as_json: JsonOpt = False,
) -> None:
    """Pretrain the shapes-world base student (tiny Qwen2-VL) on the world's generic stream, one CPU thread."""
    from edtune.output import emit
    from edtune.student.pretrain import DEFAULT_CURRICULUM, pretrain_base

    warm = DEFAULT_CURRICULUM if curriculum is None else curriculum
    rec = pretrain_base(
        out, seed=seed, steps=steps, seconds=seconds, curriculum=warm, lr=lr, init=init, note_share=note_share
    )
    rec = {k: v for k, v in rec.items() if k != "loss_curve"}
    emit(rec, as_json, human=f"base student in {out}: {rec['steps']} steps in {rec['train_seconds']} s")


@student_app.command("measure")
def measure_cmd(
    student: Annotated[
        str, typer.Option("--student", help="Checkpoint dir/URI (default: the base student).")
    ] = "",
    adapter: Annotated[str | None, typer.Option("--adapter")] = None,
    world: Annotated[str | None, typer.Option("--world", help="World dir with tasks/*/val.jsonl.")] = None,
    n: Annotated[int, typer.Option("--n", help="Probes per question family.")] = 200,
    config: ConfigOpt = None,
    set_: SetOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Parse rate and accuracy per question family (fresh probes) and per target task (val split)."""
    import json

    from edtune.config import load_config
    from edtune.output import emit
    from edtune.student import load_student
    from edtune.student.base import ensure_base_student
    from edtune.student.measure import measure_student

    cfg = load_config(config, set_ or [])
    base = student or ensure_base_student(cfg.cache_dir)
    st = load_student(base, cfg.student, adapter=adapter, cache_dir=cfg.cache_dir)
    res = measure_student(st, world, n)
    emit(res, as_json, human=json.dumps(res, indent=2))


def evaluate_cmd(
    student: Annotated[str, typer.Option("--student", help="Base checkpoint: dir, file:// or s3:// prefix.")],
    task: Annotated[str, typer.Option("--task", help="Task JSONL (val or test split).")],
    out: Annotated[str, typer.Option("--out", help="Output prefix: traces.jsonl and metrics.json go there.")],
    adapter: Annotated[str | None, typer.Option("--adapter", help="PEFT adapter dir/URI.")] = None,
    config: ConfigOpt = None,
    set_: SetOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Answer every task sample with reasoning steps; write traces and accuracy with a 95% CI."""
    import sys

    from edtune.config import load_config
    from edtune.datasets import load_task
    from edtune.io import join, write_json, write_jsonl
    from edtune.output import emit
    from edtune.student import load_student
    from edtune.student.evaluate import evaluate

    cfg = load_config(config, set_ or [])
    samples = load_task(task)
    st = load_student(student, cfg.student, adapter=adapter, cache_dir=cfg.cache_dir)
    traces, summary = evaluate(st, samples, progress=not as_json and sys.stderr.isatty())
    write_jsonl(join(out, "traces.jsonl"), traces)
    result = {
        **summary.model_dump(mode="json"),
        "task": task,
        "student": student,
        "adapter": adapter,
        "out": out,
    }
    write_json(join(out, "metrics.json"), result)
    lo, hi = summary.ci95
    emit(
        result,
        as_json,
        human=f"accuracy {summary.accuracy:.3f} [{lo:.3f}, {hi:.3f}] on {summary.n} samples, "
        f"parse rate {summary.parse_rate:.2f}, {summary.samples_per_s:.1f} samples/s -> {out}",
    )


def tune_cmd(
    student: Annotated[str, typer.Option("--student", help="Base checkpoint: dir, file:// or s3:// prefix.")],
    data: Annotated[str, typer.Option("--data", help="Support JSONL (LLaVA conversation format).")],
    out: Annotated[str, typer.Option("--out", help="Where the PEFT adapter directory goes (dir or s3://).")],
    adapter_in: Annotated[str | None, typer.Option("--adapter-in", help="Continue this adapter.")] = None,
    config: ConfigOpt = None,
    set_: SetOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """LoRA-tune the language model on support samples (loss on assistant tokens), continuing --adapter-in."""
    from edtune.config import load_config
    from edtune.datasets import iter_support
    from edtune.io import parse, upload_dir
    from edtune.output import emit
    from edtune.student import load_student

    cfg = load_config(config, set_ or [])
    samples = list(iter_support(data))
    st = load_student(student, cfg.student, cache_dir=cfg.cache_dir)
    local = parse(out).scheme == "file"
    with tempfile.TemporaryDirectory() as tmp:
        target = parse(out).local if local else Path(tmp) / "adapter"
        res = st.tune(samples, str(target), cfg.lora, adapter_in=adapter_in, seed=cfg.seed)
        if not local:
            upload_dir(str(target), out)
    result = res.model_copy(update={"adapter_dir": out})
    emit(
        result,
        as_json,
        human=f"{res.steps} steps, final loss {res.final_loss:.4f}, {res.samples_per_s:.1f} samples/s, "
        f"peak RSS {res.peak_rss_mb:.0f} MB -> {out}",
    )


def register(app: typer.Typer) -> None:
    """Add this area's commands to the root app. Heavy imports stay inside the command bodies."""
    app.add_typer(student_app, name="student")
    app.command("evaluate")(evaluate_cmd)
    app.command("tune")(tune_cmd)
