"""`annotate --estimate` counts the requests `annotate` then makes (reference teacher on loopback), and its
token and hour figures follow from the stated assumptions."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from edtune.config import TeacherConfig
from edtune.teacher.annotate import CHARS_PER_TOKEN, annotate_pool, estimate_annotation


@pytest.fixture(scope="module")
def pool(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 40-row shapes pool in which 5 rows already carry skills (they ask nothing)."""
    from edtune.shapes.world.generate import generate_world

    out = tmp_path_factory.mktemp("world")
    generate_world(out, seed=5, pool_size=40, val_size=1, test_size=1, progress=False)
    rows = [json.loads(x) for x in (out / "pool.jsonl").read_text().splitlines()]
    for r in rows[:5]:
        r["skills"] = ["color recognition"]
    (out / "pool.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return out / "pool.jsonl"


@pytest.fixture(scope="module")
def teacher_url() -> Iterator[str]:
    from edtune.shapes.world.reference_teacher import start_reference_teacher

    server, url = start_reference_teacher()
    yield url
    server.shutdown()


def test_the_estimate_equals_the_requests_annotate_makes_then_and_on_resume(
    pool: Path, teacher_url: str, tmp_path: Path
) -> None:
    cfg = TeacherConfig(url=teacher_url)
    out, cache = str(tmp_path / "skills.jsonl"), str(tmp_path / "cache")
    kw = {"cache_dir": cache, "prefill_tokens_per_s": 1000.0, "decode_tokens_per_s": 100.0}
    before = estimate_annotation(str(pool), out, cfg, **kw)
    run = annotate_pool(str(pool), out, cfg, cache_dir=cache, progress=False)
    assert (before.rows, before.pretagged, before.requests) == (40, 5, 35)
    assert run.requests == before.requests and run.retries == 0
    after = estimate_annotation(str(pool), out, cfg, **kw)
    rerun = annotate_pool(str(pool), out, cfg, cache_dir=cache, progress=False)
    assert (after.requests, after.resumed) == (0, 35) and rerun.requests == 0


def test_tokens_and_hours_follow_the_stated_assumptions(pool: Path, tmp_path: Path) -> None:
    text = TeacherConfig(url="http://127.0.0.1:9", max_tokens=100)
    with_images = text.model_copy(update={"tag_images": True, "image_max_side": 448})
    kw = {"cache_dir": str(tmp_path), "prefill_tokens_per_s": 2000.0, "decode_tokens_per_s": 500.0}
    a = estimate_annotation(str(pool), str(tmp_path / "o.jsonl"), text, **kw)
    b = estimate_annotation(str(pool), str(tmp_path / "o.jsonl"), with_images, **kw)
    assert a.prompt_tokens > a.requests * 50 / CHARS_PER_TOKEN  # the system prompt alone is longer than that
    assert b.images_sent == 35 and b.prompt_tokens == a.prompt_tokens + 35 * (448 // 28) ** 2
    assert (a.output_tokens, a.output_tokens_max) == (35 * 48, 35 * 100)
    assert a.hours == pytest.approx(a.prompt_tokens / 2000 / 3600 + a.output_tokens / 500 / 3600, abs=1e-4)
    assert a.hours < a.hours_max and "estimate" in a.estimate
