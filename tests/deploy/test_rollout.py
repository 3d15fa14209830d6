"""The rollout patch (kubernetes client models), a rollout against an API server on loopback, and RBAC."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import yaml

from edtune.errors import InputError, ServiceError
from edtune.publish.rollout import RBAC_RULES, rollout, rollout_patch

ROOT = Path(__file__).resolve().parents[2]
HTTP_TO_VERB = {"GET": "get", "PATCH": "patch", "PUT": "update", "POST": "create", "DELETE": "delete"}


def test_patch_touches_only_pod_template_annotations() -> None:
    now = datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC)
    assert rollout_patch("run-1-abc", task="colors", now=now) == {
        "spec": {
            "template": {
                "metadata": {
                    "annotations": {
                        "edtune.io/adapter-version": "run-1-abc",
                        "adapters.edtune.io/colors": "run-1-abc",
                        "edtune.io/rolled-at": "2025-01-02T03:04:05+00:00",
                    }
                }
            }
        }
    }


@pytest.mark.parametrize(
    ("version", "task"), [("", None), ("a b", None), ("../x", None), ("v1", "bad/task"), ("v1", "x" * 64)]
)
def test_bad_versions_and_task_names_are_refused(version: str, task: str | None) -> None:
    with pytest.raises(InputError):
        rollout_patch(version, task=task)


def test_dry_run_returns_the_patch_without_contacting_a_cluster() -> None:
    out = rollout("edtune-adapter-server", "edtune", "run-1-abc", dry_run=True, task="colors")
    assert out["applied"] is False and out["dry_run"] is True
    assert (
        out["patch"]["spec"]["template"]["metadata"]["annotations"]["adapters.edtune.io/colors"]
        == "run-1-abc"
    )


class FakeApiServer(BaseHTTPRequestHandler):
    """A tiny Kubernetes API: one Deployment, GET and PATCH; records every request it serves."""

    deployments: dict[str, dict] = {}
    requests: list[tuple[str, str, str, dict | None]] = []

    def log_message(self, *args: object) -> None:
        pass

    def _reply(self, status: int, body: dict) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _handle(self, body: dict | None) -> None:
        self.requests.append((self.command, self.path, self.headers.get("Content-Type", ""), body))
        name = self.path.rstrip("/").rsplit("/", 1)[-1]
        if (
            not self.path.startswith("/apis/apps/v1/namespaces/edtune/deployments/")
            or name not in self.deployments
        ):
            self._reply(
                404,
                {
                    "kind": "Status",
                    "apiVersion": "v1",
                    "status": "Failure",
                    "reason": "NotFound",
                    "code": 404,
                },
            )
            return
        dep = self.deployments[name]
        if body is not None:
            dep["spec"]["template"]["metadata"].setdefault("annotations", {}).update(
                body["spec"]["template"]["metadata"]["annotations"]
            )
        self._reply(200, dep)

    def do_GET(self) -> None:
        self._handle(None)

    def do_PATCH(self) -> None:
        self._handle(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))


@pytest.fixture()
def api_server() -> Iterator[tuple[str, type[FakeApiServer]]]:
    FakeApiServer.requests = []
    FakeApiServer.deployments = {
        "edtune-adapter-server": {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": "edtune-adapter-server", "namespace": "edtune"},
            "spec": {
                "selector": {"matchLabels": {"app": "x"}},
                "template": {
                    "metadata": {
                        "labels": {"app": "x"},
                        "annotations": {"edtune.io/adapter-version": "run-0-old"},
                    },
                    "spec": {"containers": [{"name": "server", "image": "img:1"}]},
                },
            },
        }
    }
    server = ThreadingHTTPServer(("127.0.0.1", 0), FakeApiServer)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", FakeApiServer
    finally:
        server.shutdown()
        server.server_close()


def api_client(host: str) -> object:
    from kubernetes import client

    cfg = client.Configuration()
    cfg.host = host
    return client.ApiClient(cfg)


def test_rollout_reads_then_strategic_merge_patches_the_deployment(
    api_server: tuple[str, type[FakeApiServer]],
) -> None:
    host, server = api_server
    out = rollout(
        "edtune-adapter-server",
        "edtune",
        "run-1-abc",
        dry_run=False,
        task="colors",
        api_client=api_client(host),
    )
    assert out["applied"] is True and out["previous_version"] == "run-0-old"
    (get, patch) = server.requests
    assert (get[0], get[1]) == ("GET", "/apis/apps/v1/namespaces/edtune/deployments/edtune-adapter-server")
    assert (patch[0], patch[2]) == ("PATCH", "application/strategic-merge-patch+json")
    assert patch[3]["spec"]["template"]["metadata"]["annotations"]["edtune.io/adapter-version"] == "run-1-abc"
    annotations = server.deployments["edtune-adapter-server"]["spec"]["template"]["metadata"]["annotations"]
    assert annotations["adapters.edtune.io/colors"] == "run-1-abc"


def test_rollout_of_a_missing_deployment_names_it(api_server: tuple[str, type[FakeApiServer]]) -> None:
    host, _ = api_server
    with pytest.raises(ServiceError, match=r"edtune/deployments/nope.*404"):
        rollout("nope", "edtune", "run-1-abc", dry_run=False, api_client=api_client(host))


def test_rbac_role_grants_exactly_the_verbs_the_rollout_uses(
    api_server: tuple[str, type[FakeApiServer]],
) -> None:
    host, server = api_server
    rollout("edtune-adapter-server", "edtune", "run-1-abc", dry_run=False, api_client=api_client(host))
    used = {("apps", "deployments", HTTP_TO_VERB[method]) for method, *_ in server.requests}
    declared = {(r.api_group, r.resource, v) for r in RBAC_RULES for v in r.verbs}
    assert used == declared

    docs = list(yaml.safe_load_all((ROOT / "manifests" / "base" / "rbac.yaml").read_text()))
    (role,) = [d for d in docs if d["kind"] == "Role" and d["metadata"]["name"] == "edtune-publish"]
    granted = {
        (g, res, v)
        for rule in role["rules"]
        for g in rule["apiGroups"]
        for res in rule["resources"]
        for v in rule["verbs"]
    }
    assert granted == declared
    assert all(rule.get("resourceNames") == ["edtune-adapter-server"] for rule in role["rules"])
    (binding,) = [d for d in docs if d["kind"] == "RoleBinding" and d["roleRef"]["kind"] == "Role"]
    assert binding["roleRef"]["name"] == "edtune-publish"
    # pipeline pods run in the Kubeflow profile namespace as the run's ServiceAccount (cluster.service_account)
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": "edtune-pipeline", "namespace": "edtune-runs"}
    ]
    assert not [d for d in docs if d["kind"] in ("ClusterRole", "ClusterRoleBinding")]
