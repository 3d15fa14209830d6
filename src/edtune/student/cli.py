"""Commands of the `student` area (registered by `edtune.cli`)."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    """Add this area's commands to the root app. Heavy imports stay inside the command bodies."""
