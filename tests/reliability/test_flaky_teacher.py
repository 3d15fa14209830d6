"""Flaky teacher: our own fault proxy in front of the real reference teacher, driven through `diagnose`.

Every case ends one of two ways: the work completes with exactly the result of a fault-free run (every sample
accounted for, nothing duplicated), or it fails with ServiceError / StorageError naming the endpoint or URI. Retries
are bounded: the proxy counts every request that reached it.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from edtune.config import TeacherConfig
from edtune.errors import ServiceError
from edtune.schemas import TaskSample, Trace

from .fault_proxy import FAULTS, FaultProxy, Plan, always, at_rate, burst, every

TASK = "left-right"
MAX_RETRIES = 5


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def mixed(seed: int, rate: float, kinds: tuple[str, ...] = FAULTS) -> Plan:
    """Seeded random faults of every kind on `rate` of the requests (the health check included)."""
    return at_rate(rate, kinds, seed)


# ---------------------------------------------------------------- teacher


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from edtune.shapes.world.generate import generate_world

    out = tmp_path_factory.mktemp("world")
    generate_world(str(out), seed=1, pool_size=20, val_size=16, test_size=1, progress=False)
    return out


@pytest.fixture(scope="module")
def teacher() -> Iterator[str]:
    from edtune.shapes.world.reference_teacher import start_reference_teacher

    server, url = start_reference_teacher(host="127.0.0.1", port=0)
    yield url
    server.shutdown()


@pytest.fixture(scope="module")
def case(world: Path) -> tuple[list[Trace], dict[str, TaskSample]]:
    """Wrong traces for every validation sample: the student names the other side."""
    from edtune.datasets import load_task

    samples = {s.id: s for s in load_task(str(world / "tasks" / TASK / "val.jsonl"))}
    traces = []
    for s in samples.values():
        wrong = next(c for c in (s.choices or ["left", "right"]) if c != s.answer)
        obj = s.question.removeprefix("Is the ").split(" on the ")[0]
        steps = [f"I find the {obj}.", f"The {obj} is on the {wrong}."]
        traces.append(Trace(sample_id=s.id, steps=steps, answer=wrong, correct=False, raw=""))
    return traces, samples


def _tcfg(url: str, **kw: object) -> TeacherConfig:
    base = {
        "url": url,
        "model": "",
        "concurrency": 4,
        "timeout_s": 0.5,
        "max_retries": MAX_RETRIES,
        "backoff_s": 0.05,  # 5 retries back off ~1.5 s in all: longer than one injected outage window
        "backoff_max_s": 0.5,
        "deadline_s": 60.0,
    }
    return TeacherConfig(**(base | kw))  # type: ignore[arg-type]


def _diagnose(case: tuple, url: str, cache: Path) -> tuple[dict[str, dict], int]:
    from edtune.teacher.diagnose import diagnose

    traces, samples = case
    res = diagnose(traces, samples, _tcfg(url), cache_dir=str(cache), progress=False)
    return {r.sample_id: r.model_dump(mode="json") for r in res.reports}, res.requests


@pytest.fixture(scope="module")
def clean(case: tuple, teacher: str, tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, dict], int]:
    return _diagnose(case, teacher, tmp_path_factory.mktemp("clean"))


TEACHER_FAULTS = [
    ("refused connections", every(8, "refuse", 2)),
    ("resets mid-body", every(3, "reset", 1)),
    ("5xx burst", burst(2, 10, "503")),  # after the health/info GETs: ~3 in a row for each concurrent request
    ("500 on every 4th request", every(4, "500")),
    ("429 storm with Retry-After", burst(2, 12, "429")),
    ("latency past the timeout", every(4, "slow", 1)),
    ("truncated bodies", every(3, "truncate", 1)),
    ("every kind mixed at 30%", mixed(0, 0.3)),
]


@pytest.mark.parametrize(("name", "plan"), TEACHER_FAULTS, ids=[c[0] for c in TEACHER_FAULTS])
def test_diagnose_through_a_flaky_teacher_gives_the_fault_free_reports(
    name: str, plan: Plan, case: tuple, teacher: str, clean: tuple, tmp_path: Path
) -> None:
    host, port = teacher.removeprefix("http://").rsplit(":", 1)
    proxy = FaultProxy(host, int(port), plan, retry_after=0.1, slow_s=1.0, refuse_s=0.1).start()
    try:
        reports, _ = _diagnose(case, proxy.url, tmp_path)
    finally:
        proxy.close()
    want, want_requests = clean
    assert sum(proxy.injected.values()) > 0, "the plan injected nothing"
    assert reports == want, "every sample has exactly the report of a fault-free run"
    # bounded: each request is sent at most 1 + max_retries times (+ the two health/info GETs, retried too)
    assert proxy.requests <= (want_requests + 2) * (1 + MAX_RETRIES)


@pytest.mark.parametrize(
    ("name", "plan"),
    [
        ("every request 503", always("503")),
        ("every reply reset", always("reset")),
        ("every reply slow", always("slow")),
    ],
)
def test_a_teacher_down_for_good_fails_with_a_service_error_naming_the_endpoint(
    name: str, plan: Plan, case: tuple, teacher: str, tmp_path: Path
) -> None:
    host, port = teacher.removeprefix("http://").rsplit(":", 1)
    proxy = FaultProxy(host, int(port), plan, slow_s=1.0).start()
    try:
        with pytest.raises(ServiceError) as err:
            _diagnose(case, proxy.url, tmp_path)
    finally:
        proxy.close()
    assert proxy.url in str(err.value)
    assert proxy.requests <= (len(case[0]) + 2) * (1 + MAX_RETRIES)


def test_a_teacher_that_refuses_every_connection_fails_with_a_service_error_naming_it(
    case: tuple, tmp_path: Path
) -> None:
    url = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    with pytest.raises(ServiceError) as err:
        _diagnose(case, url, tmp_path)
    assert url in str(err.value)
