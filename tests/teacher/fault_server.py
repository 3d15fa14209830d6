"""A small teacher that really listens on 127.0.0.1, speaks the TGI Messages API in edtune's prompt format, and
injects faults on demand. Used by the teacher tests (and by the benchmark when no reference teacher exists).

Its "knowledge" is a keyword rule, so expected diagnoses are known exactly:
- answer switch: belief starts on the hinted option; a step that names another option moves the belief there.
- judge: the first step that names a non-gold option (open-ended: the student's answer) is wrong.
- skill / tag: a keyword map (colour words -> "colour naming", numbers -> "counting objects", ...).

Faults are scripted per distinct request body: `plan[kind][i]` is the fault for the i-th time the same body
arrives (a retry), so concurrent runs inject the same faults deterministically.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import socket
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from edtune.student.prompt import LETTERS
from edtune.teacher import prompts

SKILL_WORDS = [
    (r"\b(red|green|blue|yellow|purple|orange|colou?r)\b", "colour naming"),
    (r"\b(\d+|one|two|three|four|five|how many|count)\b", "counting objects"),
    (r"\b(left|right|above|below)\b", "spatial relations"),
    (r"\b(circle|square|triangle|shape)\b", "shape naming"),
]
FAULTS = (
    "500",
    "503",
    "429",
    "slow",
    "drop",
    "truncated",
    "malformed",
    "wrong-shape",
    "truncated-json",
    "refuse-400",
    "no-logprobs",
    "bad-step",
    "empty-skill",
)


def skill_of(text: str) -> str:
    for pattern, name in SKILL_WORDS:
        if re.search(pattern, text, re.IGNORECASE):
            return name
    return "visual reasoning"


def _mentions(step: str, option: str) -> bool:
    return re.search(rf"\b{re.escape(option)}\b", step, re.IGNORECASE) is not None


@dataclass
class Hit:
    t: float
    kind: str
    body_sha: str
    fault: str | None
    text: str  # the last user text (the tests look for sample markers in it)
    reask: str | None


@dataclass
class FaultTeacher:
    model_id: str = "fault-teacher"
    plan: dict[str, list[str]] = field(default_factory=dict)  # kind or "*" -> faults for attempts 0, 1, ...
    retry_after: float = 0.2
    slow_s: float = 2.0
    delay_s: float = 0.0  # added to every chat reply (to make a run last long enough to kill it)
    health_status: int = 200
    hits: list[Hit] = field(default_factory=list)
    _seen: dict[str, int] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    # -------------------------------------------------------------- answers

    def answer(self, kind: str, messages: list[dict[str, Any]], fault: str | None) -> dict[str, Any]:
        if kind == "answer-switch":
            req = prompts.parse_answer_switch(messages)
            belief = req.hint_letter
            for step in req.steps:
                for i, opt in enumerate(req.options):
                    if _mentions(step, opt):
                        belief = LETTERS[i]
            p_top = req.hint_prob if not req.steps or belief == req.hint_letter else 0.9
            rest = (1 - p_top) / (len(req.options) - 1)
            top = [
                {"token": LETTERS[i], "logprob": math.log(p_top if LETTERS[i] == belief else rest)}
                for i in range(len(req.options))
            ]
            msg = {"content": belief}
            choice: dict[str, Any] = {
                "index": 0,
                "message": {"role": "assistant", **msg},
                "finish_reason": "length",
            }
            if fault != "no-logprobs":
                choice["logprobs"] = {
                    "content": [{"token": belief, "logprob": top[0]["logprob"], "top_logprobs": top}]
                }
            return self._completion(choice)
        if kind == "judge":
            req = prompts.parse_judge(messages)
            wrong = [o for o in (req.options or []) if o != req.gold] or [req.student_answer or "\0"]
            step = next(
                (k for k, s in enumerate(req.steps, 1) if any(_mentions(s, w) for w in wrong)), len(req.steps)
            )
            if fault == "bad-step":
                step = 0
            name = skill_of(req.steps[step - 1]) if 0 < step <= len(req.steps) else "visual reasoning"
            body = {
                "erroneous_step": step,
                "explanation": f"step {step} is wrong",
                "missing_skills": [{"name": "" if fault == "empty-skill" else name, "description": "d"}],
            }
            return self._text(json.dumps(body))
        if kind == "skill":
            req = prompts.parse_skill(messages)
            wrong = req.steps[req.erroneous_step - 1] if 0 < req.erroneous_step <= len(req.steps) else ""
            name = "" if fault == "empty-skill" else skill_of(wrong)
            return self._text(json.dumps({"name": name, "description": f"Tell {name} apart."}))
        if kind == "tag":
            req = prompts.parse_tag(messages)
            text = " ".join(v for _, v in req.turns)
            return self._text(json.dumps({"skills": [skill_of(text)]}))
        raise ValueError(f"unknown kind {kind!r}")

    def _text(self, content: str) -> dict[str, Any]:
        return self._completion(
            {"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}
        )

    def _completion(self, choice: dict[str, Any]) -> dict[str, Any]:
        return {
            "id": "x",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": self.model_id,
            "choices": [choice],
            "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
        }

    # -------------------------------------------------------------- bookkeeping

    def next_fault(self, kind: str, body: bytes, messages: list[dict[str, Any]]) -> str | None:
        sha = hashlib.sha256(body).hexdigest()
        text = prompts._text_of(messages[-1].get("content")) if messages else ""
        # a re-ask (same request + error note) continues the same fault script as the first ask
        script = hashlib.sha256(f"{kind}\0{text.split(chr(10) + prompts.ERROR_NOTE)[0]}".encode()).hexdigest()
        with self._lock:
            n = self._seen.get(script, 0)
            self._seen[script] = n + 1
            faults = self.plan.get(kind, self.plan.get("*", []))
            fault = faults[n] if n < len(faults) else None
            self.hits.append(Hit(time.monotonic(), kind, sha, fault, text, prompts.error_note_of(messages)))
        return fault

    def count(self, fault: str | None = ..., kind: str | None = None) -> int:  # type: ignore[assignment]
        with self._lock:
            return sum(
                1
                for h in self.hits
                if (fault is ... or h.fault == fault) and (kind is None or h.kind == kind)
            )


def _handler(teacher: FaultTeacher) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: Any) -> None:
            pass

        def _send(self, status: int, body: bytes, headers: dict[str, str] | None = None) -> None:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            for k, v in (headers or {}).items():
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self) -> None:
            if self.path == "/health":
                self._send(teacher.health_status, b"")
            elif self.path == "/info":
                self._send(200, json.dumps({"model_id": teacher.model_id, "version": "test"}).encode())
            elif self.path == "/v1/models":
                self._send(200, json.dumps({"data": [{"id": teacher.model_id}]}).encode())
            else:
                self._send(404, b'{"error": "not found"}')

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            body = self.rfile.read(length)
            if self.path != "/v1/chat/completions":
                self._send(404, b'{"error": "not found"}')
                return
            req = json.loads(body)
            messages = req.get("messages", [])
            kind = (prompts.kind_of(messages) or ("?", ""))[0]
            fault = teacher.next_fault(kind, body, messages)
            if teacher.delay_s:
                time.sleep(teacher.delay_s)
            if fault in ("500", "503"):
                self._send(int(fault), b'{"error": "injected"}')
            elif fault == "429":
                self._send(429, b'{"error": "rate limited"}', {"Retry-After": f"{teacher.retry_after:g}"})
            elif fault == "refuse-400":
                self._send(400, b'{"error": "bad request: injected refusal"}')
            elif fault == "drop":
                self.close_connection = True
                self.connection.shutdown(socket.SHUT_RDWR)
            elif fault == "truncated":
                full = json.dumps(teacher.answer(kind, messages, None)).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(full)))
                self.end_headers()
                self.wfile.write(full[: len(full) // 2])
                self.wfile.flush()
                self.close_connection = True
                self.connection.shutdown(socket.SHUT_RDWR)
            elif fault == "malformed":
                self._send(200, b"{this is not json")
            elif fault == "truncated-json":
                full = json.dumps(teacher.answer(kind, messages, None)).encode()
                self._send(200, full[: len(full) // 2])
            elif fault == "wrong-shape":
                self._send(200, b'{"result": "A", "status": "ok"}')
            else:
                if fault == "slow":
                    time.sleep(teacher.slow_s)
                self._send(200, json.dumps(teacher.answer(kind, messages, fault)).encode())

    return Handler


class _Server(ThreadingHTTPServer):
    request_queue_size = 256  # bursts of concurrent connects must not overflow the listen backlog
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a client that gave up on a slow reply (timeout) leaves a broken pipe here: expected


class RunningTeacher:
    def __init__(self, teacher: FaultTeacher) -> None:
        self.teacher = teacher
        self.server = _Server(("127.0.0.1", 0), _handler(teacher))
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
