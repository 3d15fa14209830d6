"""`edtune serve` over real HTTP on 127.0.0.1: OpenAI-compatible routes, the adapter picked by `model` (vLLM,
OpenAI) or `adapter_id` (TGI), images as data: URIs, and answers identical to `edtune evaluate`'s."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.slow  # builds a world and tunes an adapter (~1-2 min on a shared CPU)

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

ADAPTER = "left-right"
TASK = "left-right"


@dataclass
class Served:
    url: str
    base: str
    adapter: str
    task: Path  # a small test split of TASK
    cache: str
    server: object


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    from edtune.config import LoraConfig, StudentConfig
    from edtune.datasets import iter_support
    from edtune.serve.api import AdapterSpec
    from edtune.serve.engine import AdapterEngine
    from edtune.serve.server import start_server
    from edtune.shapes.student.base import ensure_base_student
    from edtune.shapes.world.generate import generate_world
    from edtune.student import load_student
    from edtune.student.checkpoint import write_manifest

    root = tmp_path_factory.mktemp("serve")
    world = root / "world"
    generate_world(str(world), seed=3, pool_size=160, val_size=8, test_size=24, progress=False)
    cache = str(root / "cache")
    base = ensure_base_student(cache)
    from edtune.shapes.preset import SHAPES_PRESET  # the tiny student's settings, as before the 7B defaults

    cfg = StudentConfig(base=base, **SHAPES_PRESET.values["student"])
    samples = list(iter_support(str(world / "pool.jsonl")))[:64]
    adapter = root / "adapter"
    lora = LoraConfig(max_steps=30, **SHAPES_PRESET.values["lora"])
    load_student(base, cfg, cache_dir=cache).tune(samples, str(adapter), lora, seed=0)
    write_manifest(adapter)  # serve refuses an adapter without a manifest (`adapters sync` writes one)
    engine = AdapterEngine(base, [AdapterSpec(name=ADAPTER, uri=str(adapter))], cfg, cache_dir=cache)
    server = start_server(engine, host="127.0.0.1", port=0)
    try:
        yield Served(server.url, base, str(adapter), world / "tasks" / TASK / "test.jsonl", cache, server)
    finally:
        server.shutdown()
        server.server_close()


class _Reply:
    def __init__(self, status: int, text: str) -> None:
        self.status_code, self.text = status, text

    def json(self) -> Any:
        return json.loads(self.text)


def _chat(url: str, body: dict[str, Any]) -> _Reply:
    from edtune.serve.smoke import http_json

    return _Reply(*http_json(f"{url}/v1/chat/completions", body))


def _get(url: str) -> _Reply:
    from edtune.serve.smoke import http_json

    return _Reply(*http_json(url))


def _sample_body(s: Served, model: str = ADAPTER, **extra: Any) -> dict[str, Any]:
    from edtune.datasets import load_task
    from edtune.io import read_bytes
    from edtune.serve.smoke import request_body

    sample = load_task(str(s.task))[0]
    return {**request_body(sample, read_bytes(sample.image), model, max_tokens=64, shape="openai"), **extra}


def test_models_lists_the_base_and_every_adapter_with_its_parent(served: Served) -> None:
    r = _get(f"{served.url}/v1/models")
    assert r.status_code == 200
    data = {m["id"]: m for m in r.json()["data"]}
    assert set(data) == {"base", ADAPTER}
    assert data[ADAPTER]["parent"] == "base" and data[ADAPTER]["object"] == "model"
    assert _get(f"{served.url}/health").json() == {"status": "ok"}


def test_model_and_tgi_adapter_id_pick_the_same_adapter(served: Served) -> None:
    by_model = _chat(served.url, _sample_body(served))
    by_adapter_id = _chat(served.url, _sample_body(served, model="tgi", adapter_id=ADAPTER))
    assert by_model.status_code == by_adapter_id.status_code == 200
    reply = by_model.json()
    assert reply["object"] == "chat.completion" and reply["model"] == ADAPTER
    assert (
        reply["choices"][0]["message"]["content"] == by_adapter_id.json()["choices"][0]["message"]["content"]
    )
    assert reply["usage"]["completion_tokens"] > 0


def _tiny_png() -> str:
    from io import BytesIO

    from PIL import Image

    buf = BytesIO()
    Image.new("RGB", (8, 8), "red").save(buf, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()


def _with_image(url: str) -> list[dict[str, Any]]:
    return [
        {
            "role": "user",
            "content": [{"type": "image_url", "image_url": {"url": url}}, {"type": "text", "text": "?"}],
        }
    ]


BAD_REQUESTS = [
    (
        "unknown model",
        {"model": "nope", "messages": [{"role": "user", "content": "hi"}]},
        404,
        "model_not_found",
    ),
    ("no messages", {"model": ADAPTER, "messages": []}, 400, None),
    ("remote image url", {"model": ADAPTER, "messages": _with_image("http://example.com/x.png")}, 400, None),
    (
        "base64 that does not decode",
        {"model": ADAPTER, "messages": _with_image("data:image/png;base64,@@@")},
        400,
        None,
    ),
    (
        "not an image",
        {"model": ADAPTER, "messages": _with_image("data:image/png;base64,aGVsbG8=")},
        400,
        None,
    ),
    (
        "streaming",
        {"model": ADAPTER, "stream": True, "messages": [{"role": "user", "content": "hi"}]},
        400,
        None,
    ),
    (
        "only a system message",
        {"model": ADAPTER, "messages": [{"role": "system", "content": "x"}]},
        400,
        None,
    ),
]


@pytest.mark.parametrize(("name", "body", "status", "code"), BAD_REQUESTS, ids=[b[0] for b in BAD_REQUESTS])
def test_bad_requests_get_an_openai_error_body_not_a_traceback(
    served: Served, name: str, body: dict[str, Any], status: int, code: str | None
) -> None:
    r = _chat(served.url, body)
    assert r.status_code == status, r.text
    err = r.json()["error"]
    assert err["message"] and "Traceback" not in err["message"]
    if code:
        assert err["code"] == code


def test_two_images_are_refused_but_a_text_only_chat_is_answered(served: Served) -> None:
    png = _tiny_png()
    two = [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": png}}] * 2}]
    assert _chat(served.url, {"model": ADAPTER, "messages": two}).status_code == 400
    text_only = _chat(served.url, {"model": "base", "messages": [{"role": "user", "content": "Step 1"}]})
    assert text_only.status_code == 200


def test_served_adapter_scores_on_its_task_what_evaluate_scores(served: Served) -> None:
    """Done-when of issue 16: smoke accuracy through the API == `edtune evaluate` accuracy (±0.01)."""
    from edtune.config import StudentConfig
    from edtune.datasets import load_task
    from edtune.serve.smoke import smoke
    from edtune.student import load_student
    from edtune.student.evaluate import evaluate

    samples = load_task(str(served.task))
    for model, adapter in (("base", None), (ADAPTER, served.adapter)):
        student = load_student(
            served.base, StudentConfig(base=served.base), adapter=adapter, cache_dir=served.cache
        )
        _, summary = evaluate(student, samples, progress=False)
        res = smoke(served.url, model, str(served.task), concurrency=4)
        assert res.n == summary.n and not res.errors
        assert abs(res.accuracy - summary.accuracy) <= 0.01, (model, res.accuracy, summary.accuracy)
        assert res.parse_rate == pytest.approx(summary.parse_rate, abs=0.01)


@pytest.mark.parametrize(("bar", "exit_code"), [(0.0, 0), (1.01, 1)])
def test_smoke_command_prints_one_json_object_and_exits_1_below_the_bar(
    served: Served, bar: float, exit_code: int
) -> None:
    edtune = Path(sys.executable).with_name("edtune")
    cmd = [
        str(edtune),
        "adapters",
        "smoke",
        "--url",
        served.url,
        "--model",
        ADAPTER,
        "--task",
        str(served.task),
    ]
    p = subprocess.run(
        [*cmd, "--min-accuracy", str(bar), "--limit", "4", "--json"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert p.returncode == exit_code, p.stderr
    out = [ln for ln in p.stdout.splitlines() if ln.strip()]
    assert len(out) == 1
    res = json.loads(out[0])
    assert res["n"] == 4 and res["passed"] is (exit_code == 0) and res["model"] == ADAPTER


def test_smoke_against_a_server_that_is_down_is_a_service_error(served: Served) -> None:
    from edtune.errors import ServiceError
    from edtune.serve.smoke import smoke

    with pytest.raises(ServiceError, match="no request succeeded"):
        smoke("http://127.0.0.1:9", ADAPTER, str(served.task), limit=2)
