"""Commands of the `imports` area (registered by `edtune.cli`): `edtune pool import`, `edtune task import`.

Exit codes: 0 when the import finished (refused records are listed on stderr with their count and kept in
`refused.txt`; `--strict` makes any refusal exit 2), 2 for an unreadable source or bad usage.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Annotated, cast

import typer

JsonOpt = Annotated[bool, typer.Option("--json", help="Print exactly one JSON object on stdout.")]
OutOpt = Annotated[str, typer.Option("--out", help="Output folder (path, file:// or s3://).")]
ImagesOpt = Annotated[
    str | None,
    typer.Option(
        "--images", help="Folder relative image paths are resolved against (default: each source's folder)."
    ),
]
StrictOpt = Annotated[bool, typer.Option("--strict", help="Exit 2 if any record was refused.")]

pool_app = typer.Typer(
    help="Build a support pool from LLaVA, messages (ms-swift/TRL) or Parquet files.", no_args_is_help=True
)
task_app = typer.Typer(
    help="Build task splits from a benchmark's files (MMBench TSV, LLaVA with answers).", no_args_is_help=True
)


@contextmanager
def _progress(enabled: bool, label: str) -> Iterator[Callable[[int], None] | None]:
    if not enabled:
        yield None
        return
    from rich.console import Console
    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    with Progress(
        SpinnerColumn(),
        TextColumn("{task.description} {task.completed} records"),
        TimeElapsedColumn(),
        console=Console(stderr=True),
        transient=True,
    ) as bar:
        task = bar.add_task(label, total=None)
        yield lambda n: bar.update(task, completed=n)


def _report_refused(problems: list[str], refused: int, duplicates: int, refused_file: str) -> None:
    if not problems:
        return
    for p in problems:
        print(f"  {p}", file=sys.stderr)
    shown = len(problems)
    total = refused + duplicates
    more = f" ({total - shown} more)" if total > shown else ""
    print(
        f"{refused} refused, {duplicates} duplicate(s){more}; all listed in {refused_file}", file=sys.stderr
    )


@pool_app.command("import")
def pool_import(
    sources: Annotated[
        list[str], typer.Argument(help="LLaVA .json/.jsonl, messages .jsonl, or .parquet files.")
    ],
    out: OutOpt,
    images: ImagesOpt = None,
    limit: Annotated[
        int | None, typer.Option("--limit", min=1, help="Read at most N records per source (a slice).")
    ] = None,
    strict: StrictOpt = False,
    as_json: JsonOpt = False,
) -> None:
    """Import support samples into one pool (pool.jsonl + images/), deduplicated by id and by content."""
    from edtune.imports.pool import import_pool
    from edtune.output import emit

    with _progress(sys.stderr.isatty() and not as_json, "pool import") as progress:
        r = import_pool(sources, out, images=images, progress=progress, limit=limit)
    _report_refused(r.problems, r.refused, r.duplicates, r.refused_file)
    human = (
        f"{r.pool}: {r.imported} samples imported of {r.read} read ({r.refused} refused, {r.duplicates} "
        f"duplicates); {r.images_written} images written, {r.images_reused} reused; {r.records_per_s:.0f} records/s"
    )
    emit(r, as_json, human=human)
    if strict and r.refused + r.duplicates:
        raise typer.Exit(2)


@task_app.command("import")
def task_import(
    source: Annotated[
        str, typer.Argument(help="MMBench-style .tsv, or LLaVA .json/.jsonl records with answers.")
    ],
    fmt: Annotated[str, typer.Option("--format", help="mmbench | llava")],
    out: OutOpt,
    val_fraction: Annotated[
        float, typer.Option("--val-fraction", min=0.0, max=1.0, help="Share of samples in val.jsonl.")
    ] = 0.5,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the val/test split.")] = 0,
    images: ImagesOpt = None,
    max_answer_words: Annotated[
        int,
        typer.Option(
            "--max-answer-words", min=1, help="Longest free-form answer scored by normalised match."
        ),
    ] = 5,
    strict: StrictOpt = False,
    as_json: JsonOpt = False,
) -> None:
    """Write val.jsonl, test.jsonl and card.json (counts, answers, chance and best constant answer)."""
    from edtune.imports.task import Format, import_task
    from edtune.output import emit

    if fmt not in ("mmbench", "llava"):
        raise typer.BadParameter("--format must be 'mmbench' or 'llava'")
    r = import_task(
        source,
        out,
        fmt=cast(Format, fmt),
        val_fraction=val_fraction,
        seed=seed,
        images=images,  # type: ignore[arg-type]
        max_answer_words=max_answer_words,
    )
    _report_refused(r.problems, r.refused, r.duplicates, r.refused_file)
    human = (
        f"{r.out}: {r.imported} samples imported of {r.read} read ({r.refused} refused, {r.duplicates} "
        f"duplicates): val {r.val}, test {r.test}; card in card.json"
    )
    emit(r, as_json, human=human)
    if strict and r.refused + r.duplicates:
        raise typer.Exit(2)


def register(app: typer.Typer) -> None:
    app.add_typer(pool_app, name="pool")
    app.add_typer(task_app, name="task")
