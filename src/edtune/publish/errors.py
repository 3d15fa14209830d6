"""Registry failures a user can act on: each names the URI, lists every bad file, and says what to check.

Why a module of its own: the same S3 failure (a 403, a missing bucket) can surface from the pointer, an upload or
a download, and must read the same everywhere; and `adapters verify --json` / `sync` put each damaged file in the
error's `problems`, which the CLI prints as the one JSON object of a failed command.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from edtune.errors import EdtuneError, InputError, Problem, StorageError

_DENIED = {"AccessDenied", "403", "InvalidAccessKeyId", "SignatureDoesNotMatch", "InvalidClientTokenId"}
_NO_BUCKET = {"NoSuchBucket"}
CREDENTIALS_HINT = (
    "check the S3 credentials (AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY, the profile or the pod's role) "
    "and the bucket policy"
)

# what a version can be, from best to worst; `verify` reports one of them
OK, INCOMPLETE, CORRUPT, ABSENT = "OK", "INCOMPLETE", "CORRUPT", "ABSENT"


class VersionError(StorageError):
    """A version is absent, incomplete (a publish never finished) or corrupt (a file no longer matches).

    `problems` names each file and what is wrong with it; `status` is INCOMPLETE, CORRUPT or ABSENT.
    """

    def __init__(self, message: str, status: str, problems: list[Problem] | None = None) -> None:
        self.status = status
        self.problems = list(problems or [])
        lines = [message, *(f"  {p}" for p in self.problems)]
        super().__init__("\n".join(lines))


class GateError(EdtuneError):
    """A quality gate refused a publish (exit 1, as the pipeline's gate fails a CI run); nothing was written."""


def problem(where: str, message: str) -> Problem:
    return Problem(where=where, line=None, field=None, message=message)


def _code(exc: BaseException | None) -> str:
    response = getattr(exc, "response", None)
    if not isinstance(response, dict):
        return ""
    error = response.get("Error") or {}
    code = str(error.get("Code", ""))
    status = (response.get("ResponseMetadata") or {}).get("HTTPStatusCode")
    return "403" if code not in _DENIED and status == 403 else code


def s3_error(uri: str, exc: BaseException, action: str) -> EdtuneError:
    """One line naming the URI; a 403 says to check credentials, a missing bucket says so."""
    code = _code(exc)
    if code in _DENIED:
        return StorageError(f"{uri}: access denied ({code}) on {action}: {CREDENTIALS_HINT}")
    if code in _NO_BUCKET:
        return InputError(f"{uri}: the bucket does not exist (create it, or fix --registry)")
    detail = str(exc).splitlines()[0] if str(exc) else ""
    return StorageError(f"{uri}: {action} failed: {type(exc).__name__}: {detail}")


def is_denied(exc: BaseException) -> bool:
    """Whether `exc` (or the botocore error under it) is an authorisation failure."""
    seen: BaseException | None = exc
    while seen is not None:
        if _code(seen) in _DENIED:
            return True
        seen = seen.__cause__
    return False


@contextlib.contextmanager
def credential_hints() -> Iterator[None]:
    """Re-raise storage failures caused by a 403 with the credentials hint (io's mapping does not add it)."""
    try:
        yield
    except StorageError as exc:
        if is_denied(exc) and CREDENTIALS_HINT not in str(exc):
            first = str(exc).splitlines()[0]
            raise StorageError(f"{first}: access denied: {CREDENTIALS_HINT}") from exc
        raise
