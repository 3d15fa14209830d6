"""Redaction of what `config show`, logs and errors print: secrets only, never ordinary settings.

A RunConfig holds no secrets by design (tokens come from the environment at the edge, Kubernetes Secrets are
bound by *name*), so in a config only credentials embedded in strings are hidden: URL userinfo and secret query
parameters. Settings whose names merely contain "token" or "key" (`student.max_new_tokens`, a toleration's
`key`, `cluster.s3_secret` — the name of a Secret) print as they are. Arbitrary dicts (request bodies, env
listings) are also scrubbed by key name, matched word by word (`api_key`, `hf_token`), not by substring.
"""

from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel

REDACT_WORDS = frozenset(
    {
        "token",
        "secret",
        "password",
        "passwd",
        "key",
        "apikey",
        "credential",
        "credentials",
        "auth",
        "signature",
    }
)

_USERINFO = re.compile(r"(://)[^/@\s?#]+@")  # scheme://user:pass@host or scheme://token@host
_SECRET_QUERY = re.compile(
    r"([?&](?:[^=&#\s]*(?:token|secret|password|passwd|key|credential|auth|signature)[^=&#\s]*)=)[^&#\s]*",
    re.IGNORECASE,
)
_WORDS = re.compile(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+|[0-9]+")  # snake_case, kebab-case, camelCase, UPPER_CASE


def redact_text(text: str) -> str:
    """Hide credentials inside a string: URL userinfo and secret-looking query parameters."""
    return _SECRET_QUERY.sub(r"\1***", _USERINFO.sub(r"\1***@", text))


def is_secret_name(key: str) -> bool:
    """`api_key`, `hf_token`, `AWS_SECRET_ACCESS_KEY`, `X-Amz-Signature`: yes; `max_new_tokens`, `keys`: no."""
    return any(w.lower() in REDACT_WORDS for w in _WORDS.findall(key.replace("-", "_")))


def redacted(cfg: BaseModel | dict[str, Any]) -> dict[str, Any]:
    """The resolved config (or any dict) as a dict with secrets hidden.

    For a config (a pydantic model) only credentials inside strings are hidden: its field names are settings.
    For a plain dict a value under a secret-looking key name also becomes `***`.
    """
    by_name = not isinstance(cfg, BaseModel)

    def scrub(obj: Any, key: str = "") -> Any:
        if isinstance(obj, dict):
            return {k: scrub(v, str(k)) for k, v in obj.items()}
        if isinstance(obj, list | tuple):
            return [scrub(v, key) for v in obj]
        if by_name and is_secret_name(key) and obj not in (None, ""):
            return "***"
        if isinstance(obj, str):
            return redact_text(obj)
        return obj

    return scrub(cfg.model_dump(mode="json") if isinstance(cfg, BaseModel) else cfg)
