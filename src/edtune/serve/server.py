"""The HTTP front of `edtune serve`: stdlib ThreadingHTTPServer on loopback, OpenAI-compatible routes.

Routes: `GET /v1/models` (base + adapters, vLLM-style `parent`), `POST /v1/chat/completions`, `GET /health`,
`GET /info` (TGI's, so TGI-minded health checks work). Errors use the OpenAI error body: 400 bad request,
404 unknown model, 500 anything else — never a traceback on the wire. Streaming is not offered (`stream: true`
is refused with 400): the smoke check and clients of a served adapter read whole answers.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from pydantic import ValidationError

from edtune import __version__
from edtune.errors import InputError
from edtune.log import kv
from edtune.serve.api import BASE_NAME, ChatRequest, error_body
from edtune.serve.engine import AdapterEngine, UnknownModel

log = logging.getLogger("edtune.serve")
MAX_BODY = 32 * 1024 * 1024  # a data: URI of a large image fits; a runaway client does not


class AdapterServer(ThreadingHTTPServer):
    """Holds the engine; `url` is the base URL clients use (`http://127.0.0.1:PORT`)."""

    daemon_threads = True
    request_queue_size = 64  # FACTS: the default 5 refuses connections at concurrency 16

    def __init__(self, address: tuple[str, int], engine: AdapterEngine) -> None:
        self.engine = engine
        self.started = time.time()
        super().__init__(address, _Handler)

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host}:{port}"


class _Handler(BaseHTTPRequestHandler):
    server: AdapterServer
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        log.debug(kv("serve.request", line=repr(format % args)))

    def _send(self, status: int, body: dict[str, Any]) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        engine = self.server.engine
        if self.path.rstrip("/") == "/v1/models":
            created = int(self.server.started)
            data = [
                {
                    "id": BASE_NAME,
                    "object": "model",
                    "created": created,
                    "owned_by": "edtune",
                    "root": engine.base,
                }
            ]
            data += [
                {
                    "id": n,
                    "object": "model",
                    "created": created,
                    "owned_by": "edtune",
                    "root": str(p),
                    "parent": BASE_NAME,
                }
                for n, p in engine.adapter_dirs.items()
            ]
            self._send(200, {"object": "list", "data": data})
        elif self.path == "/health":
            self._send(200, {"status": "ok"})
        elif self.path == "/info":
            self._send(
                200, {"model_id": engine.base, "adapters": list(engine.adapter_dirs), "version": __version__}
            )
        else:
            self._send(404, error_body(f"no route {self.path}", code="not_found"))

    def do_POST(self) -> None:
        if self.path.rstrip("/") != "/v1/chat/completions":
            self._send(404, error_body(f"no route {self.path}", code="not_found"))
            return
        t0 = time.perf_counter()
        try:
            n = int(self.headers.get("Content-Length") or 0)
            if n <= 0 or n > MAX_BODY:
                raise InputError(f"request body of {n} bytes (expected 1..{MAX_BODY})")
            req = ChatRequest.model_validate_json(self.rfile.read(n))
            if req.stream:
                raise InputError("stream=true is not supported by edtune serve; send stream=false")
            reply = self.server.engine.chat(req)
        except ValidationError as exc:
            self._send(400, error_body(f"bad request: {exc.errors()[0].get('msg', exc)}"))
            return
        except UnknownModel as exc:
            self._send(404, error_body(str(exc), code="model_not_found"))
            return
        except InputError as exc:
            self._send(400, error_body(str(exc)))
            return
        except Exception as exc:  # the server keeps serving; the client gets the cause, the log the detail
            log.exception("serve.error")
            self._send(500, error_body(f"{type(exc).__name__}: {exc}", kind="server_error"))
            return
        log.info(kv("serve.chat", model=reply["model"], ms=round((time.perf_counter() - t0) * 1000, 1)))
        self._send(200, reply)


def start_server(engine: AdapterEngine, host: str = "127.0.0.1", port: int = 0) -> AdapterServer:
    """Load the engine, then serve in a background thread (tests, smoke runs). Call `server.shutdown()`."""
    engine.load()
    server = AdapterServer((host, port), engine)
    threading.Thread(target=server.serve_forever, name="edtune-serve", daemon=True).start()
    return server
