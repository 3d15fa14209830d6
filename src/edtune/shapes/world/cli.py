"""Commands of the `world` area (registered by `edtune.cli`): `edtune world generate` and
`edtune teacher serve-reference` (the `teacher` group belongs to this area; the teacher area registers its
commands at the top level)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

world_app = typer.Typer(
    help="The shapes world: procedural scenes, support pool, target tasks.", no_args_is_help=True
)
teacher_app = typer.Typer(help="Teacher servers.", no_args_is_help=True)


@world_app.command("generate")
def generate(
    out: Annotated[Path, typer.Option("--out", help="Output directory (created if needed).")],
    seed: Annotated[int, typer.Option("--seed", help="World seed: same seed, byte-identical files.")] = 0,
    pool_size: Annotated[
        int, typer.Option("--pool-size", min=1, help="Support conversations (streams to 1M+).")
    ] = 20000,
    val_size: Annotated[int, typer.Option("--val-size", min=1, help="Validation samples per task.")] = 200,
    test_size: Annotated[int, typer.Option("--test-size", min=1, help="Test samples per task.")] = 500,
    as_json: Annotated[bool, typer.Option("--json", help="Print exactly one JSON object on stdout.")] = False,
) -> None:
    """Write pool.jsonl, images/, tasks/<name>/{task.yaml,val.jsonl,test.jsonl} and pool.labels.jsonl."""
    from edtune.output import emit
    from edtune.shapes.world.generate import generate_world

    s = generate_world(out, seed=seed, pool_size=pool_size, val_size=val_size, test_size=test_size)
    tasks = ", ".join(f"{t.name} ({t.answer_type})" for t in s.tasks)
    human = (
        f"world written to {s.out_dir} in {s.seconds:.1f}s: {s.pool_size} support conversations over "
        f"{s.pool_images} images; tasks: {tasks}; demo task: {s.demo_task}"
    )
    emit(s, as_json, human=human)


@teacher_app.command("serve-reference")
def serve_reference(
    host: Annotated[str, typer.Option("--host", help="Bind address (loopback by default).")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", help="Port (0 picks a free one).")] = 8080,
    delay: Annotated[
        float, typer.Option("--delay", help="Seconds to wait per reply (to emulate a slow LMM).")
    ] = 0.0,
    noise: Annotated[
        str,
        typer.Option(
            "--noise",
            help="Noise profile: 'exact' (tests) or 'realistic' (paraphrased skills, missed steps).",
        ),
    ] = "realistic",
    noise_seed: Annotated[int, typer.Option("--noise-seed", help="Seed of the teacher's noise draws.")] = 0,
) -> None:
    """Serve the reference teacher (OpenAI-compatible chat API; knows the shapes world only)."""
    from edtune.shapes.world.noise import get_profile
    from edtune.shapes.world.reference_teacher import serve

    serve(host, port, delay_s=delay, noise=get_profile(noise, noise_seed))


def register(app: typer.Typer) -> None:
    """Add this area's commands to the root app. Heavy imports stay inside the command bodies."""
    app.add_typer(world_app, name="world")
    app.add_typer(teacher_app, name="teacher")
