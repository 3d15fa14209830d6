"""Commands that drive a whole run in this process: `run` and `report`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

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


def register(app: typer.Typer) -> None:
    @app.command("run")
    def run(config: ConfigOpt = None, set_: SetOpt = None, as_json: JsonOpt = False) -> None:
        """Run (or resume) an error-driven tuning run in this process from a RunConfig."""
        from edtune import loop
        from edtune.config import load_config
        from edtune.output import emit
        from edtune.report import summary_table

        cfg = load_config(config, set_ or [])
        res = loop.run(cfg)
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
