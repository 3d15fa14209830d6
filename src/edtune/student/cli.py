"""Commands of the `student` area: `edtune evaluate`, `edtune tune`, and the `student` group (the offline harness
adds `tiny`, `pretrain` and `measure` to it: `edtune.shapes.cli`)."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Annotated

import typer

student_app = typer.Typer(help="Build, pretrain and measure student models.", no_args_is_help=True)
models_app = typer.Typer(help="Stage base models where pipeline pods read them.", no_args_is_help=True)

JsonOpt = Annotated[bool, typer.Option("--json", help="Print exactly one JSON object on stdout.")]
ConfigOpt = Annotated[Path | None, typer.Option("--config", "-c", help="RunConfig YAML file.")]
SetOpt = Annotated[
    list[str] | None, typer.Option("--set", help="Override a setting: key.sub=value (repeatable).")
]


def evaluate_cmd(
    student: Annotated[str, typer.Option("--student", help="Base checkpoint: dir, s3:// prefix or hub id.")],
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
    student: Annotated[str, typer.Option("--student", help="Base checkpoint: dir, s3:// prefix or hub id.")],
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


@models_app.command("stage")
def models_stage_cmd(
    source: Annotated[
        str, typer.Argument(help="Hub id ORG/NAME[@REVISION] (from the HF cache) or a directory.")
    ],
    dest: Annotated[
        str, typer.Argument(help="Object-store prefix, e.g. s3://bucket/models/Qwen2-VL-7B-Instruct.")
    ],
    as_json: JsonOpt = False,
) -> None:
    """Copy a base model to object storage with a sha256 manifest, so pods never download from a hub."""
    from edtune.output import emit
    from edtune.student.staging import stage_model

    res = stage_model(source, dest)
    emit(
        res,
        as_json,
        human=f"staged {res.files} files ({res.bytes / 1e9:.2f} GB) from {res.local_dir} -> {res.dest}\n"
        f"set student.base: {res.dest}",
    )


def register(app: typer.Typer) -> None:
    """Add this area's commands to the root app. Heavy imports stay inside the command bodies."""
    app.add_typer(student_app, name="student")
    app.add_typer(models_app, name="models")
    app.command("evaluate")(evaluate_cmd)
    app.command("tune")(tune_cmd)
