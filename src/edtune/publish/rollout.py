"""Roll the adapter-serving Deployment onto a published version by annotating its pod template.

Changing a pod-template annotation makes the Deployment controller replace its pods; the serving
initContainer reads the same annotation (downward API) and syncs that exact version, so a rollout and a
rollback are the same operation with a different version. The patch is built with the kubernetes client
models (30.x, the release kfp allows) and sent as a strategic-merge patch.

`RBAC_RULES` is the single declaration of what this module does against the API server; the Role in
`manifests/base/rbac.yaml` must grant exactly these verbs (a test reads both).
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from edtune.errors import InputError, ServiceError

log = logging.getLogger(__name__)

VERSION_ANNOTATION = "edtune.io/adapter-version"
TASK_ANNOTATION_PREFIX = "adapters.edtune.io/"
ROLLED_AT_ANNOTATION = "edtune.io/rolled-at"


@dataclass(frozen=True)
class RbacRule:
    api_group: str
    resource: str
    verbs: tuple[str, ...]


# Every API call below is one of these: read_namespaced_deployment (get), patch_namespaced_deployment (patch).
RBAC_RULES: tuple[RbacRule, ...] = (
    RbacRule(api_group="apps", resource="deployments", verbs=("get", "patch")),
)

_LABEL_NAME = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9._-]{0,61}[A-Za-z0-9])?$")


def _annotations(version: str, task: str | None, now: datetime | None) -> dict[str, str]:
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]{0,119}", version):
        raise InputError(
            f"version {version!r} is not a published version id (letters, digits, '.', '_', '-')"
        )
    out = {
        VERSION_ANNOTATION: version,
        ROLLED_AT_ANNOTATION: (now or datetime.now(UTC)).isoformat(timespec="seconds"),
    }
    if task is not None:
        if not _LABEL_NAME.match(task):
            raise InputError(
                f"task {task!r} cannot name an annotation (max 63 chars: letters, digits, '.', '_', '-')"
            )
        out[TASK_ANNOTATION_PREFIX + task] = version
    return out


def rollout_patch(version: str, task: str | None = None, now: datetime | None = None) -> dict[str, Any]:
    """The strategic-merge patch body: `spec.template.metadata.annotations` and nothing else."""
    from kubernetes import client

    cfg = client.Configuration()
    cfg.client_side_validation = False  # a patch is partial: selector and containers are absent on purpose
    body = client.V1Deployment(
        spec=client.V1DeploymentSpec(
            selector=None,
            template=client.V1PodTemplateSpec(
                metadata=client.V1ObjectMeta(annotations=_annotations(version, task, now)),
                local_vars_configuration=cfg,
            ),
            local_vars_configuration=cfg,
        ),
        local_vars_configuration=cfg,
    )
    return client.ApiClient().sanitize_for_serialization(body)


def _api(api_client: Any | None) -> Any:
    from kubernetes import client, config

    if api_client is None:
        try:
            config.load_incluster_config()
        except config.ConfigException:
            try:
                config.load_kube_config()
            except (config.ConfigException, FileNotFoundError) as exc:
                raise ServiceError("kubernetes", f"no in-cluster or kubeconfig credentials: {exc}") from None
        api_client = client.ApiClient()
    return client.AppsV1Api(api_client)


def rollout(
    deployment: str,
    namespace: str,
    version: str,
    dry_run: bool = True,
    *,
    task: str | None = None,
    api_client: Any | None = None,
) -> dict[str, Any]:
    """Annotate `deployment`'s pod template with `version` (and `adapters.edtune.io/<task>` when given).

    dry_run: build and return the patch without contacting the cluster. Otherwise read the Deployment
    (to report the version it ran before) and patch it; `api_client` points at a given API server.
    """
    patch = rollout_patch(version, task)
    result: dict[str, Any] = {
        "deployment": deployment,
        "namespace": namespace,
        "version": version,
        "dry_run": dry_run,
        "patch": patch,
        "previous_version": None,
        "applied": False,
    }
    if dry_run:
        return result
    from kubernetes.client.exceptions import ApiException

    apps = _api(api_client)
    endpoint = f"kubernetes:{namespace}/deployments/{deployment}"
    try:
        current = apps.read_namespaced_deployment(deployment, namespace)
        annotations = (
            (current.spec.template.metadata.annotations or {}) if current.spec.template.metadata else {}
        )
        result["previous_version"] = annotations.get(VERSION_ANNOTATION)
        apps.patch_namespaced_deployment(deployment, namespace, patch)
    except ApiException as exc:
        raise ServiceError(endpoint, f"HTTP {exc.status} {exc.reason}") from None
    except OSError as exc:  # urllib3 connection errors subclass OSError
        raise ServiceError(endpoint, f"{type(exc).__name__}: {exc}") from None
    except Exception as exc:
        if type(exc).__module__.startswith("urllib3"):
            raise ServiceError(endpoint, f"{type(exc).__name__}: {exc}") from None
        raise
    result["applied"] = True
    log.info("rollout.patched deployment=%s namespace=%s version=%s", deployment, namespace, version)
    return result
