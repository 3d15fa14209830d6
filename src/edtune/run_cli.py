"""Commands that drive a whole run in this process: `run` and `report`."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from edtune.config import RunConfig

ConfigOpt = Annotated[Path | None, typer.Option("--config", "-c", help="RunConfig YAML file.")]
SetOpt = Annotated[
    list[str] | None, typer.Option("--set", help="Override a setting: key.sub=value (repeatable).")
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print exactly one JSON object on stdout.")]


def round_table(rows: list[dict]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title="edtune rounds (validation = diagnosis split; test = held out)")
    columns = list(rows[0]) if rows else []  # the columns are edtune.report.summary_table's keys, in order
    for col in columns:
        table.add_column(col)
    for row in rows:
        table.add_row(*("" if row.get(c) is None else str(row.get(c)) for c in columns))
    Console(stderr=False, width=150).print(table)


def prepared(cfg: RunConfig) -> RunConfig:
    """The config a run executes: a hub-id `student.base` becomes its HF cache snapshot (pinned by commit).

    The stages hash `student.base` as an input and the manifest records it; the snapshot directory names the
    repository and the exact commit (`models--ORG--NAME/snapshots/<sha>`), so a moved hub revision starts a
    new run instead of resuming an old one silently.
    """
    from edtune.student.hub import parse_hub_id, resolve_hub

    if parse_hub_id(cfg.student.base) is None:
        return cfg
    student = cfg.student.model_copy(update={"base": str(resolve_hub(cfg.student.base))})
    return cfg.model_copy(update={"student": student})


def register(app: typer.Typer) -> None:
    @app.command("run")
    def run(
        config: ConfigOpt = None,
        set_: SetOpt = None,
        as_json: JsonOpt = False,
        check: Annotated[
            bool,
            typer.Option(
                "--check", help="Only run the preflight checks (no model work); exit 2 if any fails."
            ),
        ] = False,
    ) -> None:
        """Run (or resume) an error-driven tuning run in this process from a RunConfig.

        The cheap preflight checks (`edtune.preflight`) run first, so a wrong teacher URL or an unindexed pool
        fails before the base evaluation; `--check` runs all of them and stops.
        """
        from edtune import loop
        from edtune.config import load_config
        from edtune.output import emit
        from edtune.preflight import raise_on_failure, run_checks
        from edtune.report import summary_table

        cfg = load_config(config, set_ or [])
        if check:
            results = run_checks(cfg)
            ok = all(r.ok for r in results)
            emit(
                {"ok": ok, "checks": [r.model_dump() for r in results]},
                as_json,
                human="\n".join(r.line() for r in results),
            )
            if not ok:
                raise typer.Exit(2)
            return
        raise_on_failure(run_checks(cfg, thorough=False))
        res = loop.run(prepared(cfg))
        if as_json:
            emit(res, True)
            return
        round_table(summary_table(res.rounds))
        print(f"stopped: {res.stopped_because}; best round {res.best_round}; report {res.report}")

    @app.command("report")
    def report(config: ConfigOpt = None, set_: SetOpt = None, as_json: JsonOpt = False) -> None:
        """(Re)write final/report.html for a run from what its rounds recorded."""
        from edtune import stages
        from edtune.config import load_config
        from edtune.output import emit
        from edtune.report import write_report

        cfg = load_config(config, set_ or [])
        rounds = stages.round_metrics(cfg)
        uri = write_report(cfg, rounds, stages.best_round(rounds))
        emit({"report": uri}, as_json, human=f"report: {uri}")
