"""Command results: one JSON object on stdout with `--json`, a readable rendering otherwise."""

from __future__ import annotations

import json
import sys
from typing import Any

from pydantic import BaseModel


def emit(result: BaseModel | dict[str, Any], as_json: bool, human: str | None = None) -> None:
    data = result.model_dump(mode="json") if isinstance(result, BaseModel) else result
    if as_json:
        sys.stdout.write(json.dumps(data, default=str) + "\n")
        sys.stdout.flush()
        return
    if human is not None:
        print(human)
    else:
        from rich.console import Console
        from rich.pretty import Pretty

        Console().print(Pretty(data))
