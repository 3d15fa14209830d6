"""The reference teacher: a stand-in for a 72B LMM served by TGI, exact in the shapes world only.

It speaks the OpenAI-compatible chat API of TGI's Messages API (POST /v1/chat/completions, GET /v1/models,
GET /info, GET /health) and answers the four kinds of request the teacher client sends. It reads requests only
through `edtune.teacher.prompts` (the wire format both sides share), decodes the image from the `data:` URI,
recovers the scene from the pixels and checks the student's steps against it. It never sees the generator's
scene, the pool sidecar, or any answer key beyond what the prompt itself carries.

Jobs:
- answer-switch (text only): start from the hint prior over the options; every step whose text implies an option
  moves most of the mass onto it; reply one letter with `logprobs.content[0].top_logprobs` over the letters.
- judge (image): the first step whose claim is false of the recovered scene -> MistakeReply JSON. The judge is
  meant for wrong answers: when every step checks out and the answer is right it replies
  `erroneous_step = len(steps) + 1` with an explanation starting "No wrong step".
- skill: the wrong step's template tells the skill (refined with the image when one is given) -> SkillReply JSON.
- tag: the question families of a support conversation -> TagReply JSON with their skill phrases.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import math
import re
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from edtune.errors import InputError
from edtune.schemas import MissingSkill, MistakeReply
from edtune.shapes.world.families import (
    COLOR,
    FAMILIES,
    SKILL_DESCRIPTIONS,
    canonical_skill,
    check_step,
    check_steps,
    parse_step,
    skills_of_family,
)
from edtune.shapes.world.noise import NOISE_PROFILES, NoiseProfile
from edtune.shapes.world.scenes import Scene, recover_scene
from edtune.shapes.world.tasks import family_of_question
from edtune.student.prompt import LETTERS
from edtune.teacher import prompts

log = logging.getLogger(__name__)

MODEL_ID = "reference-shapes-teacher"
MAX_BODY = 8 * 1024 * 1024
MAX_TOTAL_TOKENS = 8192
STEP_WEIGHT = 0.85  # share of the mass a step moves onto the option it implies
_TOKEN = re.compile(r"\w+|[^\w\s]", re.UNICODE)


class RequestError(Exception):
    """A malformed request: becomes an OpenAI-style 4xx error body."""

    def __init__(self, status: int, message: str, param: str | None = None, code: str | None = None) -> None:
        super().__init__(message)
        self.status, self.message, self.param, self.code = status, message, param, code


# ---------------------------------------------------------------- the jobs


def _scene_of(image_url: str | None) -> Scene | None:
    if image_url is None:
        return None
    if not image_url.startswith("data:"):
        raise RequestError(400, "image_url must be a data: URI (this server cannot fetch URLs)", "messages")
    try:
        header, b64 = image_url.split(",", 1)
        if ";base64" not in header:
            raise ValueError("not base64")
        data = base64.b64decode(b64, validate=True)
        from edtune.io.images import decode_image

        return recover_scene(decode_image(data, "image_url"))
    except (ValueError, InputError) as exc:
        raise RequestError(400, f"unreadable image in data: URI ({exc})", "messages") from None


def _family(question: str) -> str | None:
    return family_of_question(question)


def _family_skill(family: str | None) -> str:
    if family in FAMILIES:
        return FAMILIES[family].skill
    return COLOR


def _implied_option(step: str, options: list[str], family: str | None) -> int | None:
    """Which option a step's text implies: the slot our templates fill, else a unique whole-word match."""
    claim = parse_step(step, family)
    lowered = [o.strip().lower() for o in options]
    if claim is not None and claim.implies is not None:
        if claim.implies.lower() in lowered:
            return lowered.index(claim.implies.lower())
        return None
    words = set(re.findall(r"\w+", step.lower()))
    hits = [i for i, o in enumerate(lowered) if o in words]
    return hits[0] if len(hits) == 1 else None


EXACT = NOISE_PROFILES["exact"]


def _key(req: Any) -> str:
    """What a noise draw depends on: the request's whole content (so equal requests get equal replies)."""
    return hashlib.sha256(req.model_dump_json().encode()).hexdigest()


def answer_switch_distribution(req: prompts.AnswerSwitchRequest, noise: NoiseProfile = EXACT) -> list[float]:
    """The probability of each option after reading the hint and the steps (a noisy teacher overlooks what a
    step implies with probability `noise.switch_miss`)."""
    n = len(req.options)
    hint = LETTERS.index(req.hint_letter) if req.hint_letter in LETTERS[:n] else 0
    prior = min(max(req.hint_prob, 0.0), 1.0)
    p = [(1 - prior) / (n - 1)] * n
    p[hint] = prior
    family = _family(req.question)
    key = _key(req) if noise.switch_miss else ""
    for i, step in enumerate(req.steps):
        k = _implied_option(step, req.options, family)
        if k is not None and noise.switch_miss and noise.draw("switch", key, i) < noise.switch_miss:
            k = None
        if k is not None:
            p = [(1 - STEP_WEIGHT) * v for v in p]
            p[k] += STEP_WEIGHT
    total = sum(p)
    return [v / total for v in p]


def _answer_text(answer: str | None, options: list[str] | None) -> str | None:
    if answer is None:
        return None
    a = answer.strip()
    if options and len(a) == 1 and a.upper() in LETTERS[: len(options)]:
        return options[LETTERS.index(a.upper())]
    if options and re.fullmatch(r"\(?[A-Z]\)?\s.*", a) and a.lstrip("(")[0] in LETTERS[: len(options)]:
        return re.sub(r"^\(?[A-Z]\)?\s+", "", a)
    return a


def judge(req: prompts.JudgeRequest, noise: NoiseProfile = EXACT, attempt: int = 0) -> MistakeReply:
    """The judge's reply: exact (`_judge_exact`), then the profile's errors on the step and the skill.

    A wrong step is drawn among the trace's other steps or "no wrong step" (a miss, which the client refuses for a
    wrong answer and re-asks). A re-ask (`attempt` 1: the request carries the client's error note) draws afresh,
    still deterministically, as a sampled teacher asked again would answer differently; first asks draw exactly as
    before, so the profile's error rates (benchmarks.teacher_noise) are unchanged."""
    reply = _judge_exact(req)
    if noise == EXACT:  # no draws: skip hashing the request (it carries the whole image)
        return reply
    key = _key(req) + (f":attempt-{attempt}" if attempt else "")
    n = len(req.steps)
    step = reply.erroneous_step
    if step <= n and noise.step_error and noise.draw("step", key) < noise.step_error:
        others = [k for k in range(1, n + 2) if k != step]  # n + 1: "no wrong step" (a miss)
        step = others[int(noise.draw("step-pick", key) * len(others))]
    skills = [_skill(_noisy_skill(m.name, noise, key, i)) for i, m in enumerate(reply.missing_skills)]
    return MistakeReply(erroneous_step=step, explanation=reply.explanation, missing_skills=skills)


def _noisy_skill(name: str, noise: NoiseProfile, key: str, i: int = 0) -> str:
    if noise.skill_error and noise.draw("skill", key, i) < noise.skill_error:
        name = noise.wrong_skill(name, key, i)
    return noise.phrase(name, key, i)


def _judge_exact(req: prompts.JudgeRequest) -> MistakeReply:
    family = _family(req.question)
    scene = _scene_of(req.image_url)
    skill = _family_skill(family)
    if scene is None:  # text only: blame the first step that implies a wrong option, else the last step
        k = None
        if req.options:
            for i, step in enumerate(req.steps, start=1):
                j = _implied_option(step, req.options, family)
                if j is not None and req.options[j] != req.gold:
                    k = i
                    break
        claim = parse_step(req.steps[k - 1], family) if k else None
        return MistakeReply(
            erroneous_step=k or max(1, len(req.steps)),
            explanation="without the image, this step is the first to point away from the correct answer",
            missing_skills=[_skill(claim.skill if claim else skill)],
        )
    step, verdict = check_steps(req.steps, scene, family)
    if step is not None and verdict is not None:
        return MistakeReply(
            erroneous_step=step,
            explanation=f"Step {step} is wrong: {verdict.explanation}.",
            missing_skills=[_skill(verdict.skill)],
        )
    given = _answer_text(req.student_answer, req.options)
    if not req.steps:
        return MistakeReply(
            erroneous_step=1,
            explanation=f"The student gave no reasoning; the answer is {req.gold}.",
            missing_skills=[_skill(skill)],
        )
    if given is not None and given.strip().lower() == req.gold.strip().lower():
        return MistakeReply(
            erroneous_step=len(req.steps) + 1,
            explanation="No wrong step: the reasoning and the answer are correct.",
            missing_skills=[_skill(skill)],
        )
    return MistakeReply(
        erroneous_step=len(req.steps),
        explanation=f"The steps are right but the answer {given!r} does not follow from them; it is {req.gold}.",
        missing_skills=[_skill(skill)],
    )


def _skill(name: str) -> MissingSkill:
    canonical = canonical_skill(name) or name
    return MissingSkill(name=name, description=SKILL_DESCRIPTIONS.get(canonical, ""))


def skill_of(req: prompts.SkillRequest, noise: NoiseProfile = EXACT) -> prompts.SkillReply:
    family = _family(req.question)
    name = _family_skill(family)
    if 0 < req.erroneous_step <= len(req.steps):
        claim = parse_step(req.steps[req.erroneous_step - 1], family)
        if claim is not None:
            name = claim.skill
            scene = _scene_of(req.image_url)
            if scene is not None:
                verdict = check_step(claim, scene)
                if not verdict.ok:
                    name = verdict.skill
    description = SKILL_DESCRIPTIONS.get(name, "")
    return prompts.SkillReply(name=_noisy_skill(name, noise, _key(req)), description=description)


def tag(req: prompts.TagRequest, noise: NoiseProfile = EXACT) -> prompts.TagReply:
    """The skills a support conversation exercises; a noisy teacher leaves some out, adds a wrong one, and
    paraphrases skill names."""
    skills: list[str] = []
    for who, value in req.turns:
        if who != "human":
            continue
        fam = family_of_question(value)
        if fam is not None:
            skills += [s for s in skills_of_family(fam) if s not in skills]
    key = _key(req) if (noise.tag_miss or noise.tag_wrong or noise.paraphrase) else ""
    if noise.tag_miss:
        skills = [s for i, s in enumerate(skills) if noise.draw("tag-miss", key, i) >= noise.tag_miss]
    if noise.tag_wrong and noise.draw("tag-wrong", key) < noise.tag_wrong:
        wrong = noise.wrong_skill(skills[0] if skills else "", key, "tag")
        if wrong not in skills:
            skills.append(wrong)
    named = [noise.phrase(s, key, "tag", i) for i, s in enumerate(skills)]
    return prompts.TagReply(skills=(named or ["visual question answering"])[:5])


def group(req: prompts.GroupRequest, noise: NoiseProfile = EXACT) -> prompts.GroupReply:
    """Group the listed skill names by the skill they paraphrase (the world's synonym table, which a language
    model brings from English). A noisy teacher fails to recognise a name now and then (`group_miss`, drawn per
    name, so the same name is missed in every request) and leaves it on its own; unknown names stay alone."""
    groups: dict[str, list[int]] = {}
    for i, (name, _desc) in enumerate(req.skills, 1):
        canonical = canonical_skill(name)
        if canonical is None or (noise.group_miss and noise.draw("group-miss", name) < noise.group_miss):
            canonical = f"\0{i}"  # its own group
        groups.setdefault(canonical, []).append(i)
    return prompts.GroupReply(groups=list(groups.values()))


# ---------------------------------------------------------------- structured output


def _schema_of(response_format: Any) -> dict[str, Any] | None:
    """The JSON schema a request constrains the reply to (None: free text)."""
    if response_format is None:
        return None
    if not isinstance(response_format, dict):
        raise RequestError(400, "response_format must be an object", "response_format")
    kind = response_format.get("type")
    if kind == "text":
        return None
    if kind in ("json", "json_object"):
        value = response_format.get("value", response_format.get("schema"))
        if value is None:
            return {}
        if not isinstance(value, dict):
            raise RequestError(400, "response_format.value must be a JSON schema object", "response_format")
        return value
    if kind == "json_schema":
        spec = response_format.get("json_schema")
        if not isinstance(spec, dict) or not isinstance(spec.get("schema", {}), dict):
            raise RequestError(400, "response_format.json_schema.schema must be an object", "response_format")
        return spec.get("schema", {})
    raise RequestError(400, f"unsupported response_format type {kind!r}", "response_format")


def _conform(value: Any, schema: dict[str, Any], defs: dict[str, Any]) -> Any:
    """Project a reply onto a JSON schema: keep declared properties, fill required ones with neutral values."""
    if "$ref" in schema:
        schema = defs.get(schema["$ref"].rsplit("/", 1)[-1], {})
    for key in ("anyOf", "oneOf"):
        if key in schema:
            options = schema[key]
            for opt in options:
                if _type_ok(value, opt.get("type")):
                    return _conform(value, opt, defs)
            return _conform(value, options[0], defs) if options else value
    t = schema.get("type")
    if t == "object" or "properties" in schema:
        props: dict[str, Any] = schema.get("properties", {})
        src = value if isinstance(value, dict) else {}
        if not props:
            return src
        out = {k: _conform(src[k], props[k], defs) for k in props if k in src}
        for k in schema.get("required", []):
            if k not in out:
                out[k] = _neutral(props.get(k, {}), defs)
        return out
    if t == "array":
        items = schema.get("items", {})
        seq = value if isinstance(value, list) else []
        seq = [_conform(v, items, defs) for v in seq]
        lo, hi = schema.get("minItems", 0), schema.get("maxItems")
        seq = seq[:hi] if hi is not None else seq
        while len(seq) < lo:
            seq.append(_neutral(items, defs))
        return seq
    if t == "integer":
        return int(value) if isinstance(value, int | float) else int(schema.get("minimum", 0))
    if t == "number":
        return float(value) if isinstance(value, int | float) else float(schema.get("minimum", 0))
    if t == "string":
        return value if isinstance(value, str) else ("" if value is None else str(value))
    if t == "boolean":
        return bool(value)
    return value


def _type_ok(value: Any, t: Any) -> bool:
    return {
        "object": isinstance(value, dict),
        "array": isinstance(value, list),
        "string": isinstance(value, str),
        "integer": isinstance(value, int),
        "number": isinstance(value, int | float),
        "boolean": isinstance(value, bool),
        "null": value is None,
    }.get(t, True)


def _neutral(schema: dict[str, Any], defs: dict[str, Any]) -> Any:
    return _conform(None, schema, defs)


# ---------------------------------------------------------------- HTTP


def _count_tokens(text: str) -> int:
    return len(_TOKEN.findall(text))


def _truncate(text: str, max_tokens: int) -> tuple[str, bool]:
    matches = list(_TOKEN.finditer(text))
    if len(matches) <= max_tokens:
        return text, False
    return text[: matches[max_tokens - 1].end()], True


def _lp(p: float) -> float:
    return math.log(max(p, 1e-9))


class ReferenceTeacherServer(ThreadingHTTPServer):
    """Threaded HTTP server; `request_counts` counts chat requests per kind (and errors) for resume tests."""

    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128  # the default 5 drops connections when a client runs 16+ requests at once

    def __init__(self, address: tuple[str, int], delay_s: float = 0.0, noise: NoiseProfile = EXACT) -> None:
        super().__init__(address, _Handler)
        self.noise = noise
        self.request_counts: Counter[str] = Counter()
        self.delay_s = delay_s
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host}:{port}"

    def count(self, kind: str) -> None:
        with self._lock:
            self.request_counts[kind] += 1

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that went away mid-request (killed run, timeout, reset) is routine: one debug line, not a
        traceback on stderr per connection (socketserver's default)."""
        import sys

        exc = sys.exc_info()[1]
        if isinstance(exc, ConnectionError | TimeoutError):
            log.debug("client %s went away: %s", client_address, type(exc).__name__)
            return
        super().handle_error(request, client_address)

    def shutdown(self) -> None:
        """Stop serving and close the socket (safe to call twice)."""
        if self._thread is not None:
            super().shutdown()
            self._thread.join(timeout=5)
            self._thread = None
        self.server_close()


def _attempt(messages: list[dict[str, Any]]) -> int:
    """1 for a re-ask (the client appended an error note to the last user text), else 0."""
    content = messages[-1].get("content")
    texts = (
        [content]
        if isinstance(content, str)
        else [p.get("text", "") for p in content or [] if isinstance(p, dict)]
    )
    return int(any(prompts.ERROR_NOTE in (t or "") for t in texts))


def complete(body: dict[str, Any], noise: NoiseProfile = EXACT) -> tuple[str, dict[str, Any]]:
    """Answer one chat-completion request body: (kind, OpenAI chat.completion object). Raises RequestError."""
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages or not all(isinstance(m, dict) for m in messages):
        raise RequestError(400, "'messages' must be a non-empty list of message objects", "messages")
    if body.get("stream"):
        raise RequestError(400, "streaming is not supported by the reference teacher", "stream")
    max_tokens = body.get("max_tokens", body.get("max_completion_tokens"))
    if max_tokens is not None and (
        not isinstance(max_tokens, int) or isinstance(max_tokens, bool) or max_tokens < 1
    ):
        raise RequestError(400, "'max_tokens' must be a positive integer", "max_tokens")
    top_n = body.get("top_logprobs", 0) or 0
    if not isinstance(top_n, int) or not 0 <= top_n <= 20:
        raise RequestError(400, "'top_logprobs' must be an integer from 0 to 20", "top_logprobs")
    schema = _schema_of(body.get("response_format"))
    found = prompts.kind_of(messages)
    if found is None:
        raise RequestError(
            400, "untagged request: the reference teacher answers edtune prompts only", "messages"
        )
    kind = found[0]
    logprobs: dict[str, Any] | None = None
    try:
        if kind == "answer-switch":
            req = prompts.parse_answer_switch(messages)
            dist = answer_switch_distribution(req, noise)
            letters = list(LETTERS[: len(dist)])
            order = sorted(range(len(dist)), key=lambda i: (-dist[i], i))
            content = letters[order[0]]
            if body.get("logprobs"):
                top = [
                    {"token": letters[i], "logprob": _lp(dist[i]), "bytes": list(letters[i].encode())}
                    for i in order
                ]
                logprobs = {
                    "content": [
                        {
                            "token": content,
                            "logprob": _lp(dist[order[0]]),
                            "bytes": list(content.encode()),
                            "top_logprobs": top[:top_n],
                        }
                    ]
                }
            reply: Any = None
        elif kind == "judge":
            reply = judge(prompts.parse_judge(messages), noise, _attempt(messages)).model_dump(mode="json")
        elif kind == "skill":
            reply = skill_of(prompts.parse_skill(messages), noise).model_dump(mode="json")
        elif kind == "tag":
            reply = tag(prompts.parse_tag(messages), noise).model_dump(mode="json")
        elif kind == "group":
            reply = group(prompts.parse_group(messages), noise).model_dump(mode="json")
        else:
            raise RequestError(400, f"unknown request kind {kind!r}", "messages")
    except ValueError as exc:  # pydantic ValidationError is a ValueError too
        raise RequestError(400, f"malformed {kind} request: {exc}", "messages") from None
    if reply is not None:
        if schema:
            reply = _conform(reply, schema, schema.get("$defs", schema.get("definitions", {})))
        content = json.dumps(reply)
    finish = "stop"
    if max_tokens is not None:
        content, cut = _truncate(content, max_tokens)
        finish = "length" if cut else "stop"
    prompt_text = json.dumps(messages)[:100_000]
    completion = {
        "id": f"chatcmpl-ref-{abs(hash(prompt_text)) % 10**12}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": str(body.get("model") or MODEL_ID),
        "system_fingerprint": f"edtune-reference-{prompts.PROMPT_VERSION}",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": content},
                "logprobs": logprobs,
                "finish_reason": finish,
            }
        ],
        "usage": {
            "prompt_tokens": _count_tokens(prompt_text),
            "completion_tokens": _count_tokens(content),
            "total_tokens": _count_tokens(prompt_text) + _count_tokens(content),
        },
    }
    return kind, completion


class _Handler(BaseHTTPRequestHandler):
    server: ReferenceTeacherServer
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt: str, *args: Any) -> None:
        log.debug("reference-teacher " + fmt, *args)

    def _send(self, status: int, obj: Any) -> None:
        data = json.dumps(obj).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _error(self, err: RequestError) -> None:
        self.server.count("error")
        self._send(
            err.status,
            {
                "error": {
                    "message": err.message,
                    "type": "invalid_request_error",
                    "param": err.param,
                    "code": err.code,
                },
                "error_type": "validation",  # TGI's field
            },
        )

    def do_GET(self) -> None:
        path = self.path.split("?", 1)[0].rstrip("/")
        if path == "/health":
            self._send(200, {"status": "ok"})
        elif path == "/v1/models":
            self._send(
                200,
                {
                    "object": "list",
                    "data": [{"id": MODEL_ID, "object": "model", "created": 0, "owned_by": "edtune"}],
                },
            )
        elif path == "/info":
            self._send(
                200,
                {
                    "model_id": MODEL_ID,
                    "model_sha": None,
                    "model_pipeline_tag": "image-text-to-text",
                    "max_total_tokens": MAX_TOTAL_TOKENS,
                    "max_input_tokens": MAX_TOTAL_TOKENS - 1024,
                    "version": f"edtune-reference-{prompts.PROMPT_VERSION}",
                    "router": "edtune.shapes.world.reference_teacher",
                },
            )
        else:
            self._error(RequestError(404, f"no route GET {path or '/'}", code="not_found"))

    def do_POST(self) -> None:
        path = self.path.split("?", 1)[0].rstrip("/")
        length_h = self.headers.get("Content-Length")
        consumed = False
        try:
            if path != "/v1/chat/completions":
                raise RequestError(404, f"no route POST {path or '/'}", code="not_found")
            if length_h is None:
                raise RequestError(411, "Content-Length is required")
            try:
                length = int(length_h)
            except ValueError:
                raise RequestError(400, "bad Content-Length") from None
            if length > MAX_BODY:
                self.close_connection = True
                raise RequestError(413, f"request body is {length} bytes (max {MAX_BODY})")
            raw = self.rfile.read(length)
            consumed = True
            try:
                body = json.loads(raw)
            except (json.JSONDecodeError, UnicodeDecodeError) as exc:
                raise RequestError(400, f"request body is not JSON: {exc}") from None
            if not isinstance(body, dict):
                raise RequestError(400, "request body must be a JSON object")
            kind, completion = complete(body, self.server.noise)
        except RequestError as err:
            if not consumed:  # an unread body would be parsed as the next request
                self.close_connection = True
            self._error(err)
            return
        except Exception as exc:  # a bug here must not kill the thread silently
            log.exception("reference teacher failed")
            self.server.count("error")
            self._send(500, {"error": {"message": f"{type(exc).__name__}: {exc}", "type": "server_error"}})
            return
        self.server.count(kind)
        if self.server.delay_s:
            time.sleep(self.server.delay_s)
        self._send(200, completion)


def start_reference_teacher(
    host: str = "127.0.0.1", port: int = 0, *, delay_s: float = 0.0, noise: NoiseProfile = EXACT
) -> tuple[ReferenceTeacherServer, str]:
    """Serve in a background thread; returns (server, base URL). Call `server.shutdown()` to stop.

    `noise` defaults to the exact profile (tests); `edtune demo` passes the realistic one."""
    server = ReferenceTeacherServer((host, port), delay_s=delay_s, noise=noise)
    thread = threading.Thread(target=server.serve_forever, name="reference-teacher", daemon=True)
    server._thread = thread
    thread.start()
    return server, server.url


@contextmanager
def running_reference_teacher(
    host: str = "127.0.0.1", port: int = 0, **kw: Any
) -> Iterator[tuple[ReferenceTeacherServer, str]]:
    """`with running_reference_teacher() as (server, url): ...`"""
    server, url = start_reference_teacher(host, port, **kw)
    try:
        yield server, url
    finally:
        server.shutdown()


def serve(
    host: str = "127.0.0.1", port: int = 8080, *, delay_s: float = 0.0, noise: NoiseProfile = EXACT
) -> None:
    """Serve in the foreground until interrupted (what `edtune teacher serve-reference` runs)."""
    server = ReferenceTeacherServer((host, port), delay_s=delay_s, noise=noise)
    print(
        f"reference teacher listening on {server.url} (noise profile {noise.name}, seed {noise.seed})",
        flush=True,
    )
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
