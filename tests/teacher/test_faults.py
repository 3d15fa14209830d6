"""The diagnose stage against a teacher that really listens on 127.0.0.1 and injects faults.

Each case: the stage finishes (or fails loudly with ServiceError naming the endpoint for an outage), every wrong
sample has exactly one report, and no request body is sent more than max_retries + 1 times.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from edtune.config import TeacherConfig
from edtune.errors import ServiceError
from edtune.teacher.diagnose import diagnose

from .fault_server import FaultTeacher, RunningTeacher
from .helpers import make_case

N_WRONG, N_CORRECT, N_STEPS = 4, 2, 3
MAX_RETRIES = 3


@pytest.fixture()
def teacher() -> Iterator[RunningTeacher]:
    running = RunningTeacher(FaultTeacher(model_id="reference-shapes-teacher", retry_after=0.3, slow_s=1.5))
    yield running
    running.close()


def _cfg(url: str, **kw: object) -> TeacherConfig:
    base = {
        "url": url,
        "concurrency": 8,
        "timeout_s": 0.6,
        "max_retries": MAX_RETRIES,
        "backoff_s": 0.01,
        "backoff_max_s": 0.05,
    }
    return TeacherConfig(**(base | kw))  # type: ignore[arg-type]


def _hits_once_settled(t: FaultTeacher, expected: int, timeout_s: float = 10.0) -> int:
    """The server's hit count once it has caught up: a request the client gave up on (timeout 0.6 s) may still
    sit in the server's queue when `diagnose` returns, on a loaded machine. Waits only while the count is short."""
    deadline = time.monotonic() + timeout_s
    while len(t.hits) < expected and time.monotonic() < deadline:
        time.sleep(0.05)
    return len(t.hits)


def _max_sends_per_body(t: FaultTeacher) -> int:
    return max(Counter(h.body_sha for h in t.hits).values())


# (name, method, plan by kind, expected status of every sample, substring of the undiagnosed reason)
CASES = [
    ("http 500 twice then ok", "answer-switch", {"*": ["500", "500"]}, "diagnosed", None),
    ("http 503 once", "judge", {"*": ["503"]}, "diagnosed", None),
    ("429 with retry-after", "answer-switch", {"*": ["429"]}, "diagnosed", None),
    ("slow reply past the timeout", "answer-switch", {"*": ["slow"]}, "diagnosed", None),
    ("dropped connection", "answer-switch", {"*": ["drop", "drop"]}, "diagnosed", None),
    ("truncated body (short of content-length)", "judge", {"*": ["truncated"]}, "diagnosed", None),
    ("malformed json once", "answer-switch", {"*": ["malformed"]}, "diagnosed", None),
    ("wrong-shape json once", "judge", {"*": ["wrong-shape"]}, "diagnosed", None),
    ("truncated json body once", "answer-switch", {"*": ["truncated-json"]}, "diagnosed", None),
    ("judge step 0 once", "judge", {"judge": ["bad-step"]}, "diagnosed", None),
    ("malformed json always", "answer-switch", {"*": ["malformed"] * 9}, "undiagnosed", "malformed reply"),
    ("wrong-shape json always", "judge", {"*": ["wrong-shape"] * 9}, "undiagnosed", "not a chat completion"),
    (
        "missing logprobs always",
        "answer-switch",
        {"answer-switch": ["no-logprobs"] * 9},
        "undiagnosed",
        "logprobs",
    ),
    ("judge step 0 always", "judge", {"judge": ["bad-step"] * 9}, "undiagnosed", "out of range"),
    ("empty skill always", "answer-switch", {"skill": ["empty-skill"] * 9}, "undiagnosed", "skill"),
    ("400 refusal always", "judge", {"*": ["refuse-400"] * 9}, "undiagnosed", "HTTP 400"),
]


@pytest.mark.parametrize(("name", "method", "plan", "status", "reason"), CASES, ids=[c[0] for c in CASES])
def test_stage_finishes_and_accounts_for_every_sample(
    tmp_path: Path,
    teacher: RunningTeacher,
    name: str,
    method: str,
    plan: dict[str, list[str]],
    status: str,
    reason: str | None,
) -> None:
    teacher.teacher.plan = plan
    traces, samples = make_case(tmp_path, N_WRONG, n_correct=N_CORRECT, n_steps=N_STEPS, wrong_step=2)
    res = diagnose(
        traces, samples, _cfg(teacher.url, method=method), cache_dir=str(tmp_path / "c"), progress=False
    )

    assert [r.sample_id for r in res.reports] == [t.sample_id for t in traces if not t.correct]
    assert res.skipped_correct == N_CORRECT
    assert res.diagnosed + res.undiagnosed == N_WRONG
    assert {r.status for r in res.reports} == {status}
    if status == "diagnosed":
        assert all(r.erroneous_step == 2 for r in res.reports)
        assert all(r.missing_skills[0].name == "colour naming" for r in res.reports)
    else:
        assert all(reason in (r.reason or "") for r in res.reports), [r.reason for r in res.reports]
    assert _max_sends_per_body(teacher.teacher) <= MAX_RETRIES + 1
    assert res.requests == _hits_once_settled(teacher.teacher, res.requests)


def test_retry_after_is_honoured_before_the_retry(tmp_path: Path, teacher: RunningTeacher) -> None:
    teacher.teacher.plan = {"*": ["429"]}
    traces, samples = make_case(tmp_path, 2, n_steps=2)
    diagnose(
        traces, samples, _cfg(teacher.url, method="judge"), cache_dir=str(tmp_path / "c"), progress=False
    )
    by_body: dict[str, list[float]] = {}
    for h in teacher.teacher.hits:
        by_body.setdefault(h.body_sha, []).append(h.t)
    gaps = [ts[1] - ts[0] for ts in by_body.values() if len(ts) > 1]
    assert (
        gaps and min(gaps) >= 0.3 * 0.95
    )  # never earlier than Retry-After (a lower bound, not a timing race)


def test_invalid_reply_is_reasked_once_with_the_error_appended(
    tmp_path: Path, teacher: RunningTeacher
) -> None:
    teacher.teacher.plan = {"judge": ["bad-step"]}
    traces, samples = make_case(tmp_path, 1, n_steps=3)
    res = diagnose(
        traces, samples, _cfg(teacher.url, method="judge"), cache_dir=str(tmp_path / "c"), progress=False
    )
    notes = [h.reask for h in teacher.teacher.hits]
    assert notes[0] is None and "out of range" in (notes[1] or "")
    assert res.reasks == 1 and res.reports[0].erroneous_step == 2


@pytest.mark.parametrize("fault", ["503", "drop", "slow"])
def test_outage_raises_service_error_naming_the_endpoint_with_bounded_attempts(
    tmp_path: Path, teacher: RunningTeacher, fault: str
) -> None:
    teacher.teacher.plan = {"*": [fault] * 50}
    traces, samples = make_case(tmp_path, 3, n_steps=2)
    journal = tmp_path / "j.jsonl"
    with pytest.raises(ServiceError) as err:
        diagnose(
            traces,
            samples,
            _cfg(teacher.url, max_retries=2, timeout_s=0.3),
            cache_dir=str(tmp_path / "c"),
            journal=str(journal),
            progress=False,
        )
    assert teacher.url in str(err.value) and "3 attempts failed" in str(err.value)
    assert _max_sends_per_body(teacher.teacher) <= 3


def test_unhealthy_endpoint_fails_before_any_chat_request(tmp_path: Path, teacher: RunningTeacher) -> None:
    teacher.teacher.health_status = 503
    traces, samples = make_case(tmp_path, 2)
    with pytest.raises(ServiceError, match="GET /health"):
        diagnose(
            traces, samples, _cfg(teacher.url, max_retries=1), cache_dir=str(tmp_path / "c"), progress=False
        )
    assert teacher.teacher.hits == []


def test_nothing_listening_is_a_service_error_naming_the_url(tmp_path: Path) -> None:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    url = f"http://127.0.0.1:{port}"
    traces, samples = make_case(tmp_path, 1)
    with pytest.raises(ServiceError, match="unreachable") as err:
        diagnose(traces, samples, _cfg(url, max_retries=1), cache_dir=str(tmp_path / "c"), progress=False)
    assert url in str(err.value)


@pytest.mark.parametrize(
    ("configured", "served", "ok"),
    [("reference-shapes-teacher", "other-model", False), ("", "other-model", True), ("m", "m", True)],
)
def test_model_mismatch_is_refused_only_when_both_ids_are_known(
    tmp_path: Path, teacher: RunningTeacher, configured: str, served: str, ok: bool
) -> None:
    teacher.teacher.model_id = served
    traces, samples = make_case(tmp_path, 1)
    cfg = _cfg(teacher.url, model=configured)
    if ok:
        assert diagnose(traces, samples, cfg, cache_dir=str(tmp_path / "c"), progress=False).diagnosed == 1
    else:
        with pytest.raises(ServiceError, match="serves model 'other-model'"):
            diagnose(traces, samples, cfg, cache_dir=str(tmp_path / "c"), progress=False)
