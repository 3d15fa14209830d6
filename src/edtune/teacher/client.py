"""The teacher client: huggingface_hub's AsyncInferenceClient against a TGI Messages API (or vLLM / any
OpenAI-compatible server), with the robustness a long diagnosis batch needs.

Failure policy (a run never silently loses a sample):
- *Transient* failures — connection refused/reset, dropped connection, truncated body, per-request timeout,
  HTTP 408/429/5xx — are retried with exponential backoff and jitter (429 waits at least `Retry-After`), at most
  `max_retries` times. When they are exhausted, the endpoint is treated as down: `ServiceError` naming it is
  raised and the batch stops (what finished is in the journal and the cache; a rerun resumes).
- *Bad replies* — a 200 whose body is not JSON or not a chat completion, content that fails validation, missing
  logprobs, or a 400/422 refusal of this one request — are re-asked ONCE with the error appended to the prompt
  (`prompts.with_error_note`); if the re-ask is bad too, `BadReply` carries the reason and the caller records the
  sample as `undiagnosed` with it.
- 401/403/404 are configuration errors (token, URL): `ServiceError` at once, no retries.
"""

from __future__ import annotations

import asyncio
import email.utils
import json
import logging
import random
import re
import time
from collections.abc import Callable
from typing import Any, TypeVar

from pydantic import BaseModel

from edtune.config import TeacherConfig, secret_from_env
from edtune.errors import ServiceError
from edtune.log import kv
from edtune.teacher import prompts
from edtune.teacher.cache import ReplyCache, content_key

log = logging.getLogger(__name__)
T = TypeVar("T")
TOKEN_ENV = ("EDTUNE_TEACHER_TOKEN", "HF_TOKEN")
AUTO_MODEL = ("", "auto")  # teacher.model values that mean "whatever the server serves"
TRANSIENT_STATUS = {408, 425, 429, 500, 502, 503, 504}
CONFIG_STATUS = {401, 403, 404}


class BadReply(Exception):
    """The teacher answered, but not usably (after the one re-ask). `str()` is the reason recorded."""


class ChatReply(BaseModel):
    """The parts of a chat completion edtune uses (also what the cache stores)."""

    content: str | None = None
    top_logprobs: list[dict[str, Any]] | None = None  # of the first generated token


class ServerInfo(BaseModel):
    endpoint: str
    model_id: str | None = (
        None  # what the server reports (TGI /info model_id, OpenAI /v1/models), if anything
    )
    raw: dict[str, Any] = {}


class ClientStats(BaseModel):
    requests: int = 0  # HTTP chat requests sent (retries and re-asks included)
    retries: int = 0  # transient failures retried
    reasks: int = 0  # bad replies re-asked with the error appended
    cache_hits: int = 0
    latencies: list[float] = []  # seconds per successful HTTP chat request


def _to_reply(out: Any) -> ChatReply:
    """Pull content and first-token top_logprobs out of a chat completion; ValueError on the wrong shape."""
    try:
        choice = out["choices"][0]
        message = choice["message"]
    except (KeyError, IndexError, TypeError):
        raise ValueError("not a chat completion (no choices[0].message)") from None
    content = message.get("content") if isinstance(message, dict) else None
    if content is not None and not isinstance(content, str):
        raise ValueError("choices[0].message.content is not a string")
    top = None
    lp = choice.get("logprobs") if isinstance(choice, dict) else None
    if isinstance(lp, dict) and isinstance(lp.get("content"), list) and lp["content"]:
        first = lp["content"][0]
        if isinstance(first, dict) and isinstance(first.get("top_logprobs"), list):
            top = [dict(t) for t in first["top_logprobs"] if isinstance(t, dict)]
    return ChatReply(content=content, top_logprobs=top)


def _retry_after(headers: Any) -> float | None:
    value = headers.get("retry-after") if headers is not None else None
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
        return max(0.0, when.timestamp() - time.time())
    except (TypeError, ValueError):
        return None


def extract_json(content: str | None) -> Any:
    """The JSON object in a reply, tolerating ```json fences and prose around it; ValueError if none."""
    if not content or not content.strip():
        raise ValueError("empty reply")
    text = content.strip()
    fence = re.search(r"```(?:json)?\s*(.*?)```", text, re.DOTALL)
    if fence:
        text = fence.group(1).strip()
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        start, end = text.find("{"), text.rfind("}")
        if 0 <= start < end:
            try:
                return json.loads(text[start : end + 1])
            except json.JSONDecodeError:
                pass
    raise ValueError(f"reply is not JSON: {content[:80]!r}")


class TeacherClient:
    """One teacher endpoint: health/info check, bounded-concurrency chat with retries, re-asks and a cache.

    Use as `async with TeacherClient(cfg, cache_dir=...) as client:`. The token comes from the environment
    (EDTUNE_TEACHER_TOKEN, then HF_TOKEN) and is never logged nor stored.
    """

    def __init__(
        self,
        cfg: TeacherConfig,
        *,
        cache_dir: str | None = None,
        deadline: float | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self.cfg = cfg
        self.endpoint = cfg.url.rstrip("/")
        self._token = secret_from_env(*TOKEN_ENV)
        self._client = _client_class()(base_url=self.endpoint, token=self._token, timeout=cfg.timeout_s)
        self._sem: asyncio.Semaphore | None = None
        self._cache = ReplyCache(cache_dir) if cache_dir else None
        self._deadline = deadline  # time.monotonic() value after which nothing new is sent
        self._rng = rng or random.Random()
        self.stats = ClientStats()
        # the id that goes into cache keys and requests (the server's, once known); "auto" is not a name
        self.model_id: str | None = None if cfg.model in AUTO_MODEL else cfg.model

    async def __aenter__(self) -> TeacherClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._client.close()

    @property
    def semaphore(self) -> asyncio.Semaphore:
        if self._sem is None:  # created lazily, inside the running loop
            self._sem = asyncio.Semaphore(self.cfg.concurrency)
        return self._sem

    def set_deadline(self, seconds: float) -> None:
        self._deadline = time.monotonic() + seconds

    # ------------------------------------------------------------------ health / info

    async def check(self) -> ServerInfo:
        """GET /health then /info (TGI) or /v1/models (OpenAI-compatible), once before a batch.

        huggingface_hub's health_check()/get_endpoint_info() do not work with base_url, so this calls the routes
        itself. Raises ServiceError when the endpoint is down, unhealthy, or serves a model other than
        `cfg.model` (compared only when both are known).
        """
        headers = {"Authorization": f"Bearer {self._token}"} if self._token else {}
        http = await self._client._get_async_client()
        health = await self._get(http, "/health", headers)
        if health is None or health.status_code != 200:
            code = "no reply" if health is None else f"HTTP {health.status_code}"
            raise ServiceError(self.endpoint, f"teacher is not healthy: GET /health gave {code}")
        routes = ["/info", "/v1/models"] if self.cfg.backend == "tgi" else ["/v1/models", "/info"]
        if self.cfg.model not in AUTO_MODEL:
            routes = routes[:1]  # a named model: only the configured API is asked (and compared)
        info = ServerInfo(endpoint=self.endpoint)
        for route in routes:
            self._read_info(info, route, await self._get(http, route, headers))
            if info.model_id:
                break
        named = self.cfg.model not in AUTO_MODEL
        if named and info.model_id and info.model_id != self.cfg.model:
            raise ServiceError(
                self.endpoint,
                f"serves model {info.model_id!r} but teacher.model is {self.cfg.model!r} "
                "(point teacher.url at the right server, or set teacher.model to what it serves, or auto)",
            )
        if self.cfg.model == "auto" and not info.model_id:
            raise ServiceError(
                self.endpoint,
                "teacher.model is 'auto' but neither /info (TGI) nor /v1/models (vLLM, OpenAI-compatible) "
                "named a served model; set teacher.model",
            )
        self.model_id = info.model_id or (self.cfg.model if named else None)
        log.info(kv("teacher.check", endpoint=self.endpoint, model=self.model_id))
        return info

    def _read_info(self, info: ServerInfo, route: str, resp: Any) -> None:
        """Fill `info` from a /info (TGI) or /v1/models (vLLM, OpenAI) reply; leave it as is otherwise."""
        if resp is not None and resp.status_code == 200:
            try:
                body = resp.json()
            except ValueError:
                body = {}
            if isinstance(body, dict):
                info.raw = body
                if route == "/info":
                    info.model_id = body.get("model_id") or body.get("model") or None
                else:
                    ids = [m.get("id") for m in body.get("data", []) if isinstance(m, dict)]
                    if ids:
                        info.model_id = self.cfg.model if self.cfg.model in ids else ids[0]

    def _request_model(self) -> str | None:
        """The `model` of a chat request: the configured name, or the server's for `auto` (vLLM checks it)."""
        if self.cfg.model == "auto":
            return self.model_id
        return self.cfg.model or None

    async def _get(self, http: Any, route: str, headers: dict[str, str]) -> Any:
        import httpx2

        last: Exception | None = None
        for attempt in range(self.cfg.max_retries + 1):
            try:
                resp = await http.get(self.endpoint + route, headers=headers, timeout=self.cfg.timeout_s)
            except (httpx2.TransportError, httpx2.TimeoutException) as exc:
                last = exc
            else:
                if resp.status_code not in TRANSIENT_STATUS:
                    return resp
                last = RuntimeError(f"HTTP {resp.status_code}")
            if attempt < self.cfg.max_retries:
                await asyncio.sleep(self._backoff(attempt))
        raise ServiceError(
            self.endpoint,
            f"teacher unreachable: GET {route} failed {self.cfg.max_retries + 1} times "
            f"({type(last).__name__}: {last})",
        )

    # ------------------------------------------------------------------ chat

    def _backoff(self, attempt: int, retry_after: float | None = None) -> float:
        base = min(self.cfg.backoff_max_s, self.cfg.backoff_s * (2**attempt))
        delay = base * (0.5 + 0.5 * self._rng.random())  # jitter: spread retries of concurrent requests
        if retry_after is not None:  # jittered too: a shared Retry-After would re-synchronise a 429 storm
            delay = max(delay, retry_after * (1.0 + 0.25 * self._rng.random()))
        if self._deadline is not None:
            delay = min(delay, max(0.0, self._deadline - time.monotonic()))
        return delay

    def _check_deadline(self) -> None:
        if self._deadline is not None and time.monotonic() >= self._deadline:
            raise ServiceError(
                self.endpoint, f"deadline of {self.cfg.deadline_s:g}s passed (teacher.deadline_s)"
            )

    async def _post(self, messages: list[dict[str, Any]], params: dict[str, Any]) -> ChatReply:
        """One chat request with transport retries; returns the parsed reply or raises BadReply/ServiceError."""
        import httpx2
        from huggingface_hub.errors import HfHubHTTPError, InferenceTimeoutError

        last = ""
        for attempt in range(self.cfg.max_retries + 1):
            self._check_deadline()
            retry_after: float | None = None
            async with self.semaphore:
                self.stats.requests += 1
                t0 = time.perf_counter()
                try:
                    out = await self._client.chat_completion(
                        messages, model=self._request_model(), temperature=0.0, **params
                    )
                    reply = _to_reply(out)
                    self.stats.latencies.append(time.perf_counter() - t0)
                    return reply
                except InferenceTimeoutError:
                    last = f"no reply within {self.cfg.timeout_s:g}s (teacher.timeout_s)"
                except HfHubHTTPError as exc:
                    status = exc.response.status_code if exc.response is not None else 0
                    body = _short_body(exc.response)
                    if status in CONFIG_STATUS:
                        raise ServiceError(
                            self.endpoint, f"HTTP {status} on /v1/chat/completions: {body} (check URL/token)"
                        ) from None
                    if status not in TRANSIENT_STATUS:
                        raise BadReply(f"teacher refused the request: HTTP {status}: {body}") from None
                    last = f"HTTP {status}: {body}"
                    if status == 429:
                        retry_after = _retry_after(exc.response.headers)
                except (httpx2.TransportError, httpx2.TimeoutException, OSError) as exc:
                    last = f"{type(exc).__name__}: {exc}"
                except (ValueError, TypeError, KeyError, UnicodeDecodeError) as exc:
                    raise BadReply(f"malformed reply: {type(exc).__name__}: {str(exc)[:120]}") from None
            if attempt < self.cfg.max_retries:
                self.stats.retries += 1
                delay = self._backoff(attempt, retry_after)
                log.debug(kv("teacher.retry", attempt=attempt + 1, delay=f"{delay:.2f}", error=last))
                await asyncio.sleep(delay)
        raise ServiceError(
            self.endpoint,
            f"teacher unavailable: {self.cfg.max_retries + 1} attempts failed, last: {last} "
            "(raise teacher.max_retries / teacher.timeout_s, or fix the server; a rerun resumes)",
        )

    async def ask(
        self,
        messages: list[dict[str, Any]],
        *,
        kind: str,
        sample_id: str,
        image_sha: str | None,
        params: dict[str, Any],
        validate: Callable[[ChatReply], T],
    ) -> T:
        """Ask, validate, re-ask once with the error appended, cache valid replies. Raises BadReply/ServiceError.

        `validate` raises ValueError with a reason a model can act on (it is appended to the re-ask).
        """
        key = None
        if self._cache is not None:
            key = content_key(
                model=self.model_id,
                prompt_version=prompts.PROMPT_VERSION,
                kind=kind,
                sample_id=sample_id,
                image=image_sha,
                messages=messages,
                params=params,
            )
            hit = self._cache.get(key)
            if hit is not None:
                try:
                    value = validate(ChatReply.model_validate(hit))
                except ValueError:
                    pass  # a stale or foreign entry: ask again
                else:
                    self.stats.cache_hits += 1
                    return value
        current = messages
        error = ""
        for ask_no in range(2):
            try:
                reply = await self._post(current, params)
                value = validate(reply)
            except (BadReply, ValueError) as exc:
                error = str(exc)
                if ask_no == 0:
                    self.stats.reasks += 1
                    current = prompts.with_error_note(messages, error)
                continue
            if self._cache is not None and key is not None:
                self._cache.put(key, reply.model_dump())
            return value
        raise BadReply(f"{kind}: {error} (after one re-ask)")


def _client_class() -> type:
    """AsyncInferenceClient with its own HTTP session.

    The hub's default session carries an event hook that refuses EVERY request while HF_HUB_OFFLINE=1 — also
    requests to a self-hosted TGI on the cluster network — and edtune runs with HF_HUB_OFFLINE=1 (no hub
    downloads). The teacher is not the hub, so its requests go through a plain httpx2 client (the same library
    the hub uses), pooled for `concurrency` connections. Everything else (URL building, payload, parsing) is
    the hub client's.
    """
    import httpx2
    from huggingface_hub import AsyncInferenceClient

    class _TeacherInferenceClient(AsyncInferenceClient):
        async def _get_async_client(self) -> Any:
            if self._async_client is None:
                session = httpx2.AsyncClient(
                    timeout=None, follow_redirects=False, limits=httpx2.Limits(max_keepalive_connections=64)
                )
                self._async_client = await self.exit_stack.enter_async_context(session)
            return self._async_client

    return _TeacherInferenceClient


def _short_body(response: Any) -> str:
    try:
        return (response.text or "").strip().replace("\n", " ")[:160]
    except Exception:  # a body that cannot be read is not worth failing over
        return ""
