"""The harness's top-level command: `edtune demo` (the method end to end on the shapes world)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from edtune.run_cli import JsonOpt, SetOpt, round_table


def demo_cmd(
    workdir: Annotated[
        Path | None,
        typer.Option(
            "--workdir",
            help="Where everything is written (default ./edtune-data/demo, or ./edtune-data/demo-quick with"
            " --quick: the two demos' worlds differ).",
        ),
    ] = None,
    quick: Annotated[
        bool,
        typer.Option(
            "--quick",
            help="Smaller splits and budget, one round of 4 LoRA restarts kept on validation (~3.5 min).",
        ),
    ] = False,
    runner: Annotated[str, typer.Option("--runner", help="kfp-local | inprocess")] = "kfp-local",
    task: Annotated[str, typer.Option("--task", help="Target task of the shapes world.")] = "",
    teacher_noise: Annotated[
        str, typer.Option("--teacher-noise", help="Reference teacher noise profile: realistic | exact.")
    ] = "realistic",
    world_seed: Annotated[
        int,
        typer.Option(
            "--world-seed",
            help="Seed of the generated shapes world (and of the teacher's noise). Settings were chosen on"
            " worlds 0, 4, 5, 9 and 10; report on others.",
        ),
    ] = 0,
    pool_size: Annotated[
        int | None,
        typer.Option(
            "--pool-size",
            min=100,
            help="Support pool of the generated world (default 10,000).",
        ),
    ] = None,
    set_: SetOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Run the method end to end on embedded defaults: shapes world, tiny student, reference teacher,
    Milvus Lite, local files, and the KFP local runner."""
    import sys

    from edtune.output import emit
    from edtune.shapes.demo import DEMO_TASK, run_demo

    if runner not in ("kfp-local", "inprocess"):
        raise typer.BadParameter("--runner must be kfp-local or inprocess")
    budget = "~3.5 minutes" if quick else "~5-8 minutes"
    print(
        f"edtune demo: this takes {budget} on a 2-core CPU machine (progress below, on stderr).",
        file=sys.stderr,
    )
    res = run_demo(
        workdir or Path("./edtune-data/demo-quick" if quick else "./edtune-data/demo"),
        quick=quick,
        runner=runner,  # type: ignore[arg-type]
        task=task or DEMO_TASK,
        teacher_noise=teacher_noise,
        seed=world_seed,
        settings=set_ or [],
        pool_size=pool_size,
    )
    if as_json:
        emit(res, True)
        return
    round_table(res.rounds)
    tb = "" if res.test_accuracy_before is None else f"{res.test_accuracy_before:.3f}"
    ta = "" if res.test_accuracy_after is None else f"{res.test_accuracy_after:.3f}"
    print(
        f"task {res.task} (world seed {res.world_seed}): validation {res.val_accuracy_before:.3f} -> "
        f"{res.val_accuracy_after:.3f}, held-out test {tb} -> {ta} (best round {res.best_round})"
    )
    if res.test_chance is not None:
        ll = (
            ""
            if res.test_ll_accuracy_after is None
            else f"; choice log-likelihood {res.test_ll_accuracy_before:.3f} -> {res.test_ll_accuracy_after:.3f}"
        )
        print(
            f"held-out floors: chance {res.test_chance:.3f}, best constant answer "
            f"{res.test_best_constant_answer!r} {res.test_best_constant:.3f}{ll}"
        )
    print("seconds per step: " + ", ".join(f"{k} {v:.1f}" for k, v in res.stage_seconds.items()))
    print(f"report: {res.report}\nmanifest: {res.manifest}\ntotal: {res.seconds:.0f} s")


def register(app: typer.Typer) -> None:
    from edtune.shapes.preset import register as register_preset

    register_preset()  # `preset: shapes-tiny` becomes selectable in any config the CLI reads
    app.command("demo")(demo_cmd)
