"""Incomplete multipart uploads: aborted by the publisher where it can, expired by a bucket rule where it cannot.

A publish uploads large files in parts; the object appears only when the upload completes. An upload that fails
inside the process is aborted by boto3's transfer manager, and a SIGTERM is turned into an interrupt so that
cleanup runs too (see `terminate_as_interrupt`). A SIGKILL leaves the parts behind, invisible and billed. Two
remedies: a publish that commits a version aborts the stale uploads under that version's prefix (those begun
before it started: a killed attempt's, which can never complete usefully now that the version is whole), and
`bucket_rule()` is an S3 lifecycle rule that expires any upload left under the registry prefix after a day.
"""

from __future__ import annotations

import contextlib
import logging
import signal
from collections.abc import Iterator
from datetime import datetime
from types import FrameType
from typing import Any

from edtune.io import parse
from edtune.io.storage import s3_client
from edtune.publish.errors import s3_error

log = logging.getLogger(__name__)

RULE_ID = "edtune-abort-incomplete-multipart"


def incomplete_uploads(prefix_uri: str) -> list[dict[str, Any]]:
    """Multipart uploads begun and never completed or aborted under an s3:// prefix ([] for local paths)."""
    u = parse(prefix_uri)
    if u.scheme != "s3":
        return []
    key_prefix = u.path.rstrip("/") + "/" if u.path else ""
    out: list[dict[str, Any]] = []
    try:
        pages = (
            s3_client().get_paginator("list_multipart_uploads").paginate(Bucket=u.bucket, Prefix=key_prefix)
        )
        for page in pages:
            out.extend(page.get("Uploads", []))
    except Exception as exc:
        raise s3_error(prefix_uri, exc, "list multipart uploads") from exc
    return out


def abort_stale_uploads(prefix_uri: str, begun_before: datetime) -> int:
    """Abort the uploads under `prefix_uri` begun before `begun_before`; returns how many. Best effort: a failure
    here is logged, never fails a publish that already committed its version."""
    u = parse(prefix_uri)
    if u.scheme != "s3":
        return 0
    aborted = 0
    try:
        for up in incomplete_uploads(prefix_uri):
            initiated = up.get("Initiated")
            if isinstance(initiated, datetime) and initiated >= begun_before:
                continue  # begun after this publish started: not a killed attempt's
            s3_client().abort_multipart_upload(Bucket=u.bucket, Key=up["Key"], UploadId=up["UploadId"])
            aborted += 1
    except Exception as exc:
        log.warning("registry.abort_uploads_failed prefix=%s error=%s", prefix_uri, exc)
    if aborted:
        log.info("registry.aborted_uploads prefix=%s count=%d", prefix_uri, aborted)
    return aborted


def bucket_rule(prefix: str, days: int = 1) -> dict[str, Any]:
    """The lifecycle rule that expires incomplete multipart uploads under `prefix` after `days` days."""
    return {
        "ID": RULE_ID,
        "Status": "Enabled",
        "Filter": {"Prefix": prefix.rstrip("/") + "/" if prefix else ""},
        "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": days},
    }


def apply_bucket_rule(registry: str, days: int = 1, *, dry_run: bool = False) -> dict[str, Any]:
    """Add (or replace, by ID) the rule on the registry's bucket, keeping the bucket's other rules."""
    u = parse(registry)
    if u.scheme != "s3":
        from edtune.errors import InputError

        raise InputError(f"{registry}: lifecycle rules apply to s3:// registries only")
    rule = bucket_rule(u.path, days)
    rules: list[dict[str, Any]] = []
    client = s3_client()
    try:
        rules = client.get_bucket_lifecycle_configuration(Bucket=u.bucket).get("Rules", [])
    except Exception as exc:
        code = ((getattr(exc, "response", None) or {}).get("Error") or {}).get("Code", "")
        if code != "NoSuchLifecycleConfiguration":
            raise s3_error(registry, exc, "read the lifecycle configuration") from exc
    merged = [r for r in rules if r.get("ID") != RULE_ID] + [rule]
    if not dry_run:
        try:
            client.put_bucket_lifecycle_configuration(
                Bucket=u.bucket, LifecycleConfiguration={"Rules": merged}
            )
        except Exception as exc:
            raise s3_error(registry, exc, "write the lifecycle configuration") from exc
    return {"bucket": u.bucket, "rule": rule, "rules": len(merged), "applied": not dry_run}


@contextlib.contextmanager
def terminate_as_interrupt() -> Iterator[None]:
    """While inside, SIGTERM (what Kubernetes sends before SIGKILL) raises KeyboardInterrupt in the main thread,
    so the transfer manager's cleanup aborts the multipart upload in flight instead of dying with it."""

    def _raise(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    try:
        previous = signal.signal(signal.SIGTERM, _raise)
    except ValueError:  # not the main thread: leave signals alone
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
