"""A loopback stand-in for the Kubeflow Pipelines v2 REST API (`/apis/v2beta1/...`), enough for the kfp client.

No real KFP can run on our machines (no Kubernetes API server, no Argo). This server speaks the part of the
v2beta1 API that `kfp.Client` uses to create experiments, runs, pipelines, versions and recurring runs, keeps
what it was sent, and records every request with its headers, so a test can check what `edtune pipeline
submit|upload|schedule` really puts on the wire (bearer token, namespace, ServiceAccount, spec, parameters).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email.parser import BytesParser
from email.policy import default as email_policy
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit


@dataclass
class Recorded:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: Any


@dataclass
class KfpState:
    requests: list[Recorded] = field(default_factory=list)
    experiments: dict[str, dict] = field(default_factory=dict)
    runs: dict[str, dict] = field(default_factory=dict)
    pipelines: dict[str, dict] = field(default_factory=dict)
    versions: dict[str, dict] = field(default_factory=dict)
    recurring: dict[str, dict] = field(default_factory=dict)
    run_state: str = "SUCCEEDED"  # what GET /runs/{id} reports
    multi_user: bool = True
    # the backend release the server reports: as the KFP API server does, on the v1beta1 healthz (`tag_name`,
    # `commit_sha`); the v2beta1 healthz carries `multi_user` only. None: a server that reports no version.
    version: str | None = "2.15.0"


def _display_filter(query: dict[str, list[str]]) -> str | None:
    raw = query.get("filter", [""])[0]
    if not raw:
        return None
    for p in json.loads(raw).get("predicates", []):
        if p.get("key") in ("display_name", "name"):
            return p.get("stringValue") or p.get("string_value")
    return None


def make_handler(state: KfpState) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

        def _reply(self, status: int, body: dict) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _body(self) -> Any:
            n = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(n) if n else b""
            ctype = self.headers.get("Content-Type", "")
            if ctype.startswith("multipart/form-data"):
                msg = BytesParser(policy=email_policy).parsebytes(
                    b"Content-Type: " + ctype.encode() + b"\r\n\r\n" + raw
                )
                return {
                    part.get_param("name", header="content-disposition"): part.get_payload(decode=True)
                    for part in msg.iter_parts()
                }
            return json.loads(raw) if raw else None

        def _handle(self) -> None:
            url = urlsplit(self.path)
            query = parse_qs(url.query)
            body = self._body() if self.command in ("POST", "PUT", "PATCH") else None
            state.requests.append(
                Recorded(self.command, url.path, query, {k.lower(): v for k, v in self.headers.items()}, body)
            )
            p = url.path.rstrip("/")
            api = "/apis/v2beta1"
            if p == f"{api}/healthz":
                return self._reply(200, {"multi_user": state.multi_user})
            if p == "/apis/v1beta1/healthz":
                if state.version is None:
                    return self._reply(200, {"multi_user": state.multi_user})
                return self._reply(
                    200, {"commit_sha": "0" * 40, "tag_name": state.version, "multi_user": state.multi_user}
                )
            if p == f"{api}/experiments" and self.command == "GET":
                name, ns = _display_filter(query), query.get("namespace", [None])[0]
                found = [
                    e
                    for e in state.experiments.values()
                    if e["display_name"] == name and e.get("namespace") == ns
                ]
                return self._reply(200, {"experiments": found, "total_size": len(found)} if found else {})
            if p == f"{api}/experiments" and self.command == "POST":
                exp = {**body, "experiment_id": f"exp-{len(state.experiments) + 1}"}
                state.experiments[exp["experiment_id"]] = exp
                return self._reply(200, exp)
            if p == f"{api}/runs" and self.command == "POST":
                run = {**body, "run_id": f"run-{len(state.runs) + 1}", "state": "PENDING"}
                state.runs[run["run_id"]] = run
                return self._reply(200, run)
            if p.startswith(f"{api}/runs/") and self.command == "GET":
                rid = p.rsplit("/", 1)[-1]
                if rid not in state.runs:
                    return self._reply(404, {"error": "not found", "code": 5})
                return self._reply(200, {**state.runs[rid], "state": state.run_state})
            if p == f"{api}/pipelines" and self.command == "GET":
                name = _display_filter(query)
                found = [
                    {k: v for k, v in x.items() if k != "spec"}
                    for x in state.pipelines.values()
                    if x["display_name"] == name
                ]
                return self._reply(200, {"pipelines": found, "total_size": len(found)} if found else {})
            if p == f"{api}/pipelines/upload" and self.command == "POST":
                pid = f"pipeline-{len(state.pipelines) + 1}"
                pl = {
                    "pipeline_id": pid,
                    "display_name": query["name"][0],
                    "namespace": query.get("namespace", [""])[0],
                    "spec": body.get("uploadfile"),
                }
                state.pipelines[pid] = pl
                return self._reply(200, {k: v for k, v in pl.items() if k != "spec"})
            if p == f"{api}/pipelines/upload_version" and self.command == "POST":
                pid = query["pipelineid"][0]
                if pid not in state.pipelines:
                    return self._reply(404, {"error": "pipeline not found", "code": 5})
                vid = f"version-{len(state.versions) + 1}"
                v = {"pipeline_id": pid, "pipeline_version_id": vid, "display_name": query["name"][0]}
                state.versions[vid] = {**v, "spec": body.get("uploadfile")}
                return self._reply(200, v)
            if p == f"{api}/recurringruns" and self.command == "POST":
                rr = {**body, "recurring_run_id": f"rr-{len(state.recurring) + 1}"}
                state.recurring[rr["recurring_run_id"]] = rr
                return self._reply(200, rr)
            return self._reply(404, {"error": f"unknown route {self.command} {p}", "code": 5})

        do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _handle

    return Handler


@contextmanager
def kfp_server() -> Iterator[tuple[str, KfpState]]:
    """Serve the fake KFP API on 127.0.0.1 (a free port) for the duration of the block."""
    state = KfpState()
    server = ThreadingHTTPServer(("127.0.0.1", 0), make_handler(state))
    server.request_queue_size = 32
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", state
    finally:
        server.shutdown()
        server.server_close()
