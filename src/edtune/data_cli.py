"""Commands of the `data` area (registered by `edtune.cli`): `edtune data validate`.

The kind (task or support) is read from the records unless `--kind` says it; a file that fails gets a hint
when another kind, or an import command for its format, would fit.
"""

from __future__ import annotations

import sys
from typing import Annotated

import typer

JsonOpt = Annotated[bool, typer.Option("--json", help="Print exactly one JSON object on stdout.")]

data_app = typer.Typer(help="Validate task and support files.", no_args_is_help=True)


@data_app.command("validate")
def data_validate(
    path: Annotated[str, typer.Argument(help="JSONL file (path, file:// or s3://).")],
    kind: Annotated[
        str | None, typer.Option("--kind", help="task | support (default: read from the records)")
    ] = None,
    no_images: Annotated[bool, typer.Option("--no-images", help="Skip opening images.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Validate every line, field and image; exit 0 with a summary, or 2 with every problem found."""
    from edtune.datasets import validate_file
    from edtune.output import emit

    if kind not in (None, "task", "support"):
        raise typer.BadParameter("--kind must be 'task' or 'support'")
    summary = validate_file(path, kind, check_images=not no_images)  # type: ignore[arg-type]
    if summary.valid:
        parts = [f"{summary.count} {summary.kind} samples", f"{summary.distinct_images} distinct images"]
        parts += [f"{n} {t}" for t, n in sorted(summary.answer_types.items())]
        human = f"{path}: OK: " + ", ".join(parts)
    else:
        more = f"\n  ... and {summary.truncated} more" if summary.truncated else ""
        detected = f" (read as {summary.kind} samples; --kind sets it)" if summary.detected else ""
        hint = f"\nhint: {summary.hint}" if summary.hint else ""
        human = f"{path}: INVALID{detected}:\n" + "\n".join(f"  {p}" for p in summary.problems) + more + hint
    if not summary.valid and not as_json:
        print(human, file=sys.stderr)
    else:
        emit(summary, as_json, human=human)
    if not summary.valid:
        raise typer.Exit(2)


def register(app: typer.Typer) -> None:
    app.add_typer(data_app, name="data")
