"""Commands that drive whole runs: demo, run, stages, pipeline compile/run-local/submit."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    """Add the run-level commands to the root app."""
