"""Sustained teacher load: the diagnose client against the reference teacher in its own process."""

from __future__ import annotations

import resource
import subprocess
import time
from pathlib import Path
from typing import Any

from benchmarks.faults.common import EDTUNE, TASK, kill_group


def _wrong_traces(world: Path, n: int) -> tuple[list[Any], dict[str, Any]]:
    """`n` distinct wrong traces over the world's validation samples (unique step text: no reply-cache hits)."""
    from edtune.datasets import load_task
    from edtune.schemas import Trace

    base = load_task(str(world / "tasks" / TASK / "val.jsonl"))
    samples: dict[str, Any] = {}
    traces = []
    for i in range(n):
        s = base[i % len(base)]
        sid = f"{s.id}-x{i:05d}"
        samples[sid] = s.model_copy(update={"id": sid})
        wrong = next(c for c in (s.choices or ["left", "right"]) if c != s.answer)
        obj = s.question.removeprefix("Is the ").split(" on the ")[0]
        steps = [f"I find the {obj} (look {i}).", f"The {obj} is on the {wrong}."]
        traces.append(Trace(sample_id=sid, steps=steps, answer=wrong, correct=False, raw=""))
    return traces, samples


def _serve_teacher(port: int) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen(
        [EDTUNE, "teacher", "serve-reference", "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    deadline = time.time() + 30
    import socket

    while time.time() < deadline:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return proc
        time.sleep(0.1)
    kill_group(proc)
    raise RuntimeError("reference teacher did not start")


def _vm_hwm_mb(pid: int) -> float | None:
    """Peak resident memory of another process (Linux /proc VmHWM)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        return None
    return None


def load(world: Path, requests: int, concurrency: int, workdir: Path) -> dict[str, Any]:
    """Sustained diagnose load: the teacher client (this process) against the reference teacher (its own
    process) on loopback. Peak RSS is this process's (client side: traces, reports, images, in-flight replies)."""
    import socket
    import statistics

    from edtune.config import TeacherConfig
    from edtune.teacher.diagnose import diagnose

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = _serve_teacher(port)
    try:
        per_trace = 4  # measured: 4 requests per 2-step trace (answer switch per prefix, then the skill)
        traces, samples = _wrong_traces(world, max(1, requests // per_trace))
        rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        cfg = TeacherConfig(url=f"http://127.0.0.1:{port}", model="", concurrency=concurrency, timeout_s=60)
        t0 = time.time()
        res = diagnose(traces, samples, cfg, cache_dir=str(workdir / "cache"), progress=False)
        seconds = time.time() - t0
        server_hwm = _vm_hwm_mb(server.pid)
    finally:
        kill_group(server)
    ids = [r.sample_id for r in res.reports]
    lat = sorted(res.latencies)
    q = statistics.quantiles(lat, n=100) if len(lat) >= 2 else lat * 99
    return {
        "traces": len(traces),
        "requests": res.requests,
        "concurrency": concurrency,
        "seconds": round(seconds, 1),
        "requests_per_s": round(res.requests / seconds, 1),
        "reports": len(ids),
        "samples_lost": len(traces) - len(set(ids)),
        "samples_duplicated": len(ids) - len(set(ids)),
        "diagnosed": res.diagnosed,
        "undiagnosed": res.undiagnosed,
        "retries": res.retries,
        "latency_p50_ms": round(q[49] * 1000, 1),
        "latency_p99_ms": round(q[98] * 1000, 1),
        "latency_max_ms": round(lat[-1] * 1000, 1) if lat else None,
        "peak_rss_mb_before": round(rss0, 1),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "server_peak_rss_mb": server_hwm,
    }
