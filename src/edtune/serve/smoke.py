"""`edtune adapters smoke`: score a served adapter on a task split through the serving API, exit 1 below a bar.

The client sends what any OpenAI-compatible server takes — edtune serve, TGI (Messages API, multi-LoRA) and vLLM
(`--lora-modules`): one user message with the image as a data: URI (the file's own bytes, so the server sees the
pixels `edtune evaluate` sees) and the question in the student's own format, `model` = the adapter name (with
`--shape tgi`, `adapter_id` too), greedy (`temperature` 0). The answer is parsed and scored exactly as
`edtune evaluate` scores a trace.
"""

from __future__ import annotations

import base64
import concurrent.futures
import json
import mimetypes
import time
from typing import Any, Literal

from pydantic import BaseModel

from edtune.errors import ServiceError


class SmokeResult(BaseModel):
    """What the smoke check measured; `passed` is accuracy >= min_accuracy (None: no bar, always passes)."""

    url: str
    model: str
    task: str
    n: int
    correct: int
    accuracy: float
    parse_rate: float
    min_accuracy: float | None
    passed: bool
    seconds: float
    latency_p50_ms: float
    errors: list[str]


def http_json(
    url: str,
    body: dict[str, Any] | None = None,
    *,
    headers: dict[str, str] | None = None,
    timeout_s: float = 120.0,
) -> tuple[int, str]:
    """POST `body` as JSON (GET when None); (status, response text). Transport failures raise OSError.

    Standard library only: a smoke check runs in CI and rollout images where fewer dependencies is better."""
    import urllib.error
    import urllib.request

    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method="GET" if body is None else "POST")
    req.add_header("Content-Type", "application/json")
    for k, v in (headers or {}).items():
        req.add_header(k, v)
    try:
        with urllib.request.urlopen(req, timeout=timeout_s) as r:
            return r.status, r.read().decode("utf-8", "replace")
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode("utf-8", "replace")


def _data_uri(data: bytes, name: str) -> str:
    mime = mimetypes.guess_type(name)[0] or "image/png"
    return f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"


def request_body(
    sample: Any, image: bytes | None, model: str, *, max_tokens: int, shape: Literal["openai", "tgi"]
) -> dict[str, Any]:
    """The chat request for one task sample (the shape TGI and vLLM accept)."""
    from edtune.student.prompt import format_question

    content: list[dict[str, Any]] = []
    if image is not None:
        content.append({"type": "image_url", "image_url": {"url": _data_uri(image, sample.image)}})
    content.append({"type": "text", "text": format_question(sample.question, sample.choices)})
    body: dict[str, Any] = {
        "model": model,
        "messages": [{"role": "user", "content": content}],
        "max_tokens": max_tokens,
        "temperature": 0.0,
        "stream": False,
    }
    if shape == "tgi":
        body["adapter_id"] = model
    return body


def smoke(
    url: str,
    model: str,
    task: str,
    *,
    min_accuracy: float | None = None,
    concurrency: int = 4,
    max_tokens: int = 64,
    timeout_s: float = 120.0,
    shape: Literal["openai", "tgi"] = "openai",
    token: str | None = None,
    limit: int | None = None,
) -> SmokeResult:
    """Ask the server every sample of `task` (JSONL), score the answers. ServiceError when the server is
    unreachable or answers no request at all; individual failed requests count as wrong and are listed."""
    from edtune.datasets import load_task
    from edtune.io import read_bytes
    from edtune.student.prompt import parse_reasoning
    from edtune.student.scoring import is_correct

    samples = load_task(task)[: limit or None]
    endpoint = url.rstrip("/") + "/v1/chat/completions"
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    t0 = time.perf_counter()

    def one(sample: Any) -> tuple[bool, bool, float, str | None]:
        image = read_bytes(sample.image) if sample.image else None
        body = request_body(sample, image, model, max_tokens=max_tokens, shape=shape)
        t = time.perf_counter()
        try:
            status, reply = http_json(endpoint, body, headers=headers, timeout_s=timeout_s)
        except OSError as exc:
            return False, False, 0.0, f"{sample.id}: {type(exc).__name__}: {exc}"
        ms = (time.perf_counter() - t) * 1000
        if status != 200:
            return False, False, ms, f"{sample.id}: HTTP {status}: {reply[:200]}"
        try:
            text = json.loads(reply)["choices"][0]["message"]["content"] or ""
        except (ValueError, KeyError, IndexError, TypeError):
            return False, False, ms, f"{sample.id}: reply is not a chat.completion: {reply[:200]}"
        _, answer, _ = parse_reasoning(text)
        return is_correct(sample, answer), answer is not None, ms, None

    with concurrent.futures.ThreadPoolExecutor(max_workers=max(1, concurrency)) as pool:
        results = list(pool.map(one, samples))
    errors = [e for *_, e in results if e]
    if samples and len(errors) == len(samples):
        raise ServiceError(endpoint, f"no request succeeded ({len(errors)} failed); first: {errors[0]}")
    n = len(samples)
    correct = sum(ok for ok, *_ in results)
    lat = sorted(ms for _, _, ms, e in results if e is None)
    acc = correct / n if n else 0.0
    return SmokeResult(
        url=url,
        model=model,
        task=task,
        n=n,
        correct=correct,
        accuracy=round(acc, 4),
        parse_rate=round(sum(p for _, p, _, _ in results) / n, 4) if n else 0.0,
        min_accuracy=min_accuracy,
        passed=min_accuracy is None or acc >= min_accuracy,
        seconds=round(time.perf_counter() - t0, 2),
        latency_p50_ms=round(lat[len(lat) // 2], 1) if lat else 0.0,
        errors=errors[:20],
    )
