"""`edtune config show`: the resolved config as YAML, each value followed by where it came from.

Sources are `default` (with the reason recorded in `edtune.config.defaults`), `preset NAME`, `file PATH`,
`env NAME` or `flag --set KEY`. The text stays valid YAML (the sources are comments), so it can be saved and
edited as a config; only credentials inside strings are hidden (`edtune.config.redact`).
"""

from __future__ import annotations

from typing import Any

import yaml

from edtune.config.loading import Resolved
from edtune.config.redact import redacted


def _scalar(value: Any) -> str:
    text = yaml.safe_dump(value, default_flow_style=True, width=10**6, sort_keys=False).strip()
    return text[: -len("...")].strip() if text.endswith("...") else text


def leaf_sources(resolved: Resolved) -> dict[str, str]:
    """Every leaf setting (dotted) of the resolved config -> its source."""
    out: dict[str, str] = {}

    def walk(node: Any, prefix: str) -> None:
        if isinstance(node, dict) and node:
            for k, v in node.items():
                walk(v, f"{prefix}{k}.")
        else:
            dotted = prefix[:-1]
            out[dotted] = resolved.source(dotted)

    walk(resolved.config.model_dump(mode="json"), "")
    return out


def render(resolved: Resolved) -> str:
    """YAML with `# source` after every leaf; lists and empty mappings print inline (flow style)."""
    lines: list[str] = []

    def walk(node: dict[str, Any], prefix: str, indent: int) -> None:
        for k, v in node.items():
            dotted = f"{prefix}{k}"
            pad = "  " * indent
            if isinstance(v, dict) and v:
                lines.append(f"{pad}{_scalar(k)}:")
                walk(v, dotted + ".", indent + 1)
            else:
                lines.append(f"{pad}{_scalar(k)}: {_scalar(v)}  # {resolved.source(dotted)}")

    walk(redacted(resolved.config), "", 0)
    return "\n".join(lines)
