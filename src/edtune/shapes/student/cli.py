"""The harness's commands on the `student` group: `edtune student tiny|pretrain|measure` (the tiny base student)."""

from __future__ import annotations

from typing import Annotated

import typer

from edtune.student.cli import ConfigOpt, JsonOpt, SetOpt, student_app


def tiny_cmd(
    family: Annotated[str, typer.Option("--family", help="qwen2-vl | llava")] = "qwen2-vl",
    out: Annotated[str, typer.Option("--out", help="Output directory.")] = "./tiny-student",
    seed: Annotated[int, typer.Option("--seed")] = 0,
    as_json: JsonOpt = False,
) -> None:
    """Build a randomly initialised tiny model (with a locally trained tokenizer) as a HF checkpoint dir."""
    from edtune.output import emit
    from edtune.shapes.student.tiny import build_tiny

    path = build_tiny(family, out, seed)
    emit(
        {"family": family, "path": path, "seed": seed},
        as_json,
        human=f"tiny {family} student written to {path}",
    )


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
    guess_share: Annotated[
        float,
        typer.Option(
            "--guess-share",
            help="Share of guessed gap questions (answers of a misperceived scene: the base learns each gap "
            "question's answer format, not the skill; 0: the plain stream).",
        ),
    ] = 0.0,
    lookup_share: Annotated[
        float,
        typer.Option(
            "--lookup-share",
            help="Share of look-up exercises (describe one object of two, referred to by its side or size; "
            "0: the plain stream).",
        ),
    ] = 0.0,
    as_json: JsonOpt = False,
) -> None:
    """Pretrain the shapes-world base student (tiny Qwen2-VL) on the world's generic stream, one CPU thread."""
    from edtune.output import emit
    from edtune.shapes.student.pretrain import DEFAULT_CURRICULUM, pretrain_base

    warm = DEFAULT_CURRICULUM if curriculum is None else curriculum
    rec = pretrain_base(
        out,
        seed=seed,
        steps=steps,
        seconds=seconds,
        curriculum=warm,
        lr=lr,
        init=init,
        note_share=note_share,
        guess_share=guess_share,
        lookup_share=lookup_share,
    )
    rec = {k: v for k, v in rec.items() if k != "loss_curve"}
    emit(rec, as_json, human=f"base student in {out}: {rec['steps']} steps in {rec['train_seconds']} s")


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
    from edtune.shapes.student.base import ensure_base_student
    from edtune.shapes.student.measure import measure_student
    from edtune.student import load_student

    cfg = load_config(config, set_ or [])
    base = student or ensure_base_student(cfg.cache_dir)
    st = load_student(base, cfg.student, adapter=adapter, cache_dir=cfg.cache_dir)
    res = measure_student(st, world, n)
    emit(res, as_json, human=json.dumps(res, indent=2))


def register(app: typer.Typer) -> None:
    """Add the tiny-student commands to the product's `student` group (registered before this)."""
    student_app.command("tiny")(tiny_cmd)
    student_app.command("pretrain")(pretrain_cmd)
    student_app.command("measure")(measure_cmd)
