"""Talking to the Kubeflow Pipelines v2 REST API: the client with its bearer token, and the backend's version.

Multi-user Kubeflow refuses anonymous calls; every call goes through `kfp_call`, which turns API and connection
errors into ServiceError naming the endpoint (and hints at the token or namespace on 401/403).
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel

from edtune.errors import EdtuneError, InputError, ServiceError
from edtune.pipeline.check import Version, parse_version
from edtune.pipeline.local import stdout_to_stderr

log = logging.getLogger("edtune.pipeline")

TOKEN_ENV = "KF_PIPELINES_TOKEN"  # a bearer token (CI secret, `kubectl create token`, an OIDC id token)
SA_TOKEN_PATH_ENV = (
    "KF_PIPELINES_SA_TOKEN_PATH"  # a projected ServiceAccount token file (audience pipelines.kubeflow.org)
)


class Auth(BaseModel):
    """Where the bearer token came from (never the token itself: this is printed)."""

    source: Literal["env", "file", "none"]
    detail: str = ""


def make_client(host: str, namespace: str = "") -> tuple[Any, Auth]:
    """A kfp.Client for `host` with a bearer token and the profile namespace set.

    Multi-user Kubeflow refuses anonymous calls. The token comes from `KF_PIPELINES_TOKEN` (passed as
    kfp's `existing_token`) or, when that is unset, from the file at `KF_PIPELINES_SA_TOKEN_PATH` (kfp's
    ServiceAccountTokenVolumeCredentials, which re-reads the file so a rotated projected token keeps working
    through a 12-hour `--wait`). kfp itself reads that file only when it runs inside the cluster *without* a
    host; here a host is always given, so this function wires it explicitly.
    """
    import kfp
    from kfp.client.set_volume_credentials import ServiceAccountTokenVolumeCredentials

    token = os.environ.get(TOKEN_ENV, "").strip()
    path = os.environ.get(SA_TOKEN_PATH_ENV, "").strip()
    kwargs: dict[str, Any] = {"host": host}
    if namespace:
        kwargs["namespace"] = namespace
    if token:
        kwargs["existing_token"] = token
        auth = Auth(source="env", detail=TOKEN_ENV)
    elif path:
        if not Path(path).is_file():
            raise InputError(f"{SA_TOKEN_PATH_ENV}={path}: no such token file")
        kwargs["credentials"] = ServiceAccountTokenVolumeCredentials(path=path)
        auth = Auth(source="file", detail=path)
    else:
        auth = Auth(source="none")
        log.warning(
            "pipeline.auth none: neither %s nor %s is set (fine for single-user KFP)",
            TOKEN_ENV,
            SA_TOKEN_PATH_ENV,
        )
    with stdout_to_stderr():
        client = kfp.Client(**kwargs)
    return client, auth


def kfp_call(host: str, what: str, fn: Any, *args: Any, **kwargs: Any) -> Any:
    """Run one kfp client call; API and connection errors become ServiceError naming the endpoint."""
    try:
        with stdout_to_stderr():  # kfp prints "Run details: ..." links on stdout; `--json` owns stdout
            return fn(*args, **kwargs)
    except EdtuneError:
        raise
    except Exception as exc:
        status = getattr(exc, "status", None)
        reason = getattr(exc, "reason", None) or str(exc).splitlines()[0]
        hint = " (check the bearer token and the namespace)" if status in (401, 403) else ""
        raise ServiceError(
            host, f"{what} failed: {f'HTTP {status} ' if status else ''}{reason}{hint}"
        ) from None


#: Where a KFP API server reports its release: the v2beta1 healthz (newer servers), else the v1beta1 one, whose
#: response carries `tag_name` and `commit_sha`.
HEALTHZ_PATHS = ("/apis/v2beta1/healthz", "/apis/v1beta1/healthz")


def backend_version(client: Any, host: str) -> Version | None:
    """The KFP backend's release as (major, minor, patch), read from its healthz endpoint; None when it names none.

    The typed v2beta1 client model keeps only `multi_user`, so the raw JSON is read through the client's own
    API client (same token, same TLS settings).
    """
    api = client._healthz_api.api_client
    for path in HEALTHZ_PATHS:
        try:
            with stdout_to_stderr():
                resp = api.call_api(
                    path,
                    "GET",
                    header_params={"Accept": "application/json"},
                    auth_settings=["Bearer"],
                    _preload_content=False,
                    _return_http_data_only=True,
                )
            body = json.loads(resp.data or b"{}")
        except Exception as exc:
            status = getattr(exc, "status", None)
            if status == 404:
                continue
            if status in (401, 403):
                raise ServiceError(host, f"read {path}: HTTP {status} (check the bearer token)") from None
            log.warning("pipeline.healthz_failed path=%s error=%s", path, str(exc).splitlines()[0])
            continue
        tag = str(body.get("tag_name") or body.get("tagName") or "").strip()
        if tag and tag.lower() != "unknown":
            try:
                return parse_version(tag)
            except InputError:
                log.warning("pipeline.healthz_version unreadable tag_name=%r", tag)
    return None
