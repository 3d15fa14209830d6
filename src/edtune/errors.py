"""One exception hierarchy, so the CLI can turn any failure into an actionable message and an exit code.

Exit codes across the CLI: 0 success, 1 the run failed (a service or a stage), 2 bad usage or bad input.
"""

from __future__ import annotations

from dataclasses import dataclass


class EdtuneError(Exception):
    """Base of every error edtune raises on purpose. `exit_code` is what the CLI exits with."""

    exit_code = 1


@dataclass(frozen=True)
class Problem:
    """One thing wrong with an input: where (file, line, field) and what."""

    where: str
    line: int | None
    field: str | None
    message: str

    def __str__(self) -> str:
        loc = self.where if self.line is None else f"{self.where}:{self.line}"
        return f"{loc}: {self.field}: {self.message}" if self.field else f"{loc}: {self.message}"


class InputError(EdtuneError):
    """Bad input (file, line, field named). Nothing was written because of it."""

    exit_code = 2

    def __init__(self, message: str, problems: list[Problem] | None = None, truncated: int = 0) -> None:
        self.problems = list(problems or [])
        self.truncated = truncated
        lines = [message, *(f"  {p}" for p in self.problems)]
        if truncated:
            lines.append(f"  ... and {truncated} more problem(s)")
        super().__init__("\n".join(lines))


class ConfigError(InputError):
    """A run configuration is invalid; the message names the field and where its value came from."""


class StorageError(EdtuneError):
    """Object storage could not be read or written (names the URI)."""


class ServiceError(EdtuneError):
    """A remote service (teacher, Milvus, S3) failed after bounded retries; names the endpoint."""

    def __init__(self, endpoint: str, message: str) -> None:
        self.endpoint = endpoint
        super().__init__(f"{endpoint}: {message}")


class ModelError(InputError):
    """A model checkpoint or adapter is missing, corrupt, unsupported or does not match its base."""


class StageError(EdtuneError):
    """A pipeline stage failed for a reason that is not bad input nor a service outage."""
