"""Teacher throughput: the diagnose stage vs a bare AsyncInferenceClient loop on the same server, same run.

Both send the same requests (answer-switch prefixes + one skill request per wrong trace of the shapes world's
left-right task) to the reference teacher on 127.0.0.1 with a fixed per-request service delay (standing in for
model latency, so the ratio measures our client overhead rather than the server's CPU use on a shared box).
Reports requests/s and per-request latency p50/p99 at concurrency 1, 4, 16 and the ratio diagnose/bare
(target >= 0.8).

    nice python benchmarks/teacher_throughput.py [--samples 40] [--delay 0.02] [--out benchmarks/results/...]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")


def _pct(xs: list[float], q: float) -> float:
    if not xs:
        return float("nan")
    xs = sorted(xs)
    return xs[min(len(xs) - 1, round(q * (len(xs) - 1)))]


def _traces(world: Path, n_steps: int) -> tuple[list[Any], dict[str, Any]]:
    from edtune.datasets import load_task
    from edtune.schemas import Trace

    samples = {s.id: s for s in load_task(world / "tasks" / "left-right" / "val.jsonl")}
    traces = []
    for s in samples.values():
        # the left-right task's own wording (world v3+), or the generic one it had before
        m = re.search(r"holds the (\w+) (\w+)\?", s.question) or re.match(
            r"Is the (\w+) (\w+) on the left or the right\?", s.question
        )
        if m is None:
            raise SystemExit(f"{s.id}: unexpected left-right question {s.question!r}")
        wrong = "left" if s.answer == "right" else "right"
        steps = ["I look at the objects in the image."] * (n_steps - 1) + [
            f"The {m[1]} {m[2]} is on the {wrong}."
        ]
        traces.append(Trace(sample_id=s.id, steps=steps, answer=wrong, correct=False, raw=""))
    return traces, samples


def _payloads(traces: list[Any], samples: dict[str, Any], cfg: Any) -> list[tuple[list[dict], dict]]:
    """The exact requests diagnose sends (answer-switch prefixes, then the skill request at the wrong step)."""
    from edtune.io import read_bytes
    from edtune.teacher import prompts
    from edtune.teacher.diagnose import candidates
    from edtune.teacher.images import image_data_uri

    out = []
    for t in traces:
        s = samples[t.sample_id]
        options, gold, _ = candidates(s, t)
        params = prompts.answer_switch_params(len(options))
        params.pop("temperature")
        for k in range(len(t.steps) + 1):
            out.append(
                (prompts.build_answer_switch(s.question, options, gold, cfg.prior, t.steps[:k]), params)
            )
        img = image_data_uri(read_bytes(s.image), cfg.image_max_side, s.image)
        skill = prompts.build_skill(s.question, t.steps, len(t.steps), "x", img)
        fmt = prompts.response_format(prompts.SkillReply.model_json_schema(), cfg.backend)
        out.append((skill, {"max_tokens": cfg.max_tokens, "response_format": fmt}))
    return out


async def _bare(
    url: str, payloads: list[tuple[list[dict], dict]], concurrency: int, model: str
) -> dict[str, Any]:
    from edtune.teacher.client import _client_class

    client = _client_class()(base_url=url, timeout=30)
    sem = asyncio.Semaphore(concurrency)
    lat: list[float] = []

    async def one(msgs: list[dict], params: dict) -> None:
        async with sem:
            t0 = time.perf_counter()
            await client.chat_completion(msgs, model=model, temperature=0.0, **params)
            lat.append(time.perf_counter() - t0)

    t0 = time.perf_counter()
    await asyncio.gather(*(one(m, p) for m, p in payloads))
    secs = time.perf_counter() - t0
    await client.close()
    return {"requests": len(payloads), "seconds": secs, "latencies": lat}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--samples", type=int, default=40)
    ap.add_argument("--steps", type=int, default=3)
    ap.add_argument("--delay", type=float, default=0.02, help="server-side seconds per request")
    ap.add_argument("--concurrency", default="1,4,16")
    ap.add_argument("--out", default="benchmarks/results/teacher_throughput.json")
    args = ap.parse_args()

    from edtune.config import TeacherConfig
    from edtune.shapes.world.generate import generate_world
    from edtune.shapes.world.reference_teacher import start_reference_teacher
    from edtune.teacher.diagnose import diagnose

    tmp = Path(tempfile.mkdtemp(prefix="edtune-bench-"))
    generate_world(tmp / "world", seed=0, pool_size=10, val_size=args.samples, test_size=1, progress=False)
    traces, samples = _traces(tmp / "world", args.steps)
    from edtune.shapes.world.reference_teacher import ReferenceTeacherServer

    if getattr(ReferenceTeacherServer, "request_queue_size", 5) < 64:
        # socketserver's default listen backlog (5) overflows when 16 connections open at once: the kernel drops
        # the SYNs and the client retries after 1 s, which would measure the backlog, not our client.
        ReferenceTeacherServer.request_queue_size = 128
    server, url = start_reference_teacher(delay_s=args.delay)
    rows = []
    try:
        for c in [int(x) for x in args.concurrency.split(",")]:
            cfg = TeacherConfig(url=url, concurrency=c)
            payloads = _payloads(traces, samples, cfg)
            bare = asyncio.run(_bare(url, payloads, c, cfg.model))
            res = diagnose(traces, samples, cfg, cache_dir=str(tmp / f"cache-{c}"), progress=False)
            assert res.diagnosed == len(traces) and res.cache_hits == 0
            d_rps = res.requests / res.seconds
            b_rps = bare["requests"] / bare["seconds"]
            rows.append(
                {
                    "concurrency": c,
                    "requests": res.requests,
                    "diagnose_rps": round(d_rps, 1),
                    "diagnose_p50_ms": round(1000 * statistics.median(res.latencies), 1),
                    "diagnose_p99_ms": round(1000 * _pct(res.latencies, 0.99), 1),
                    "bare_rps": round(b_rps, 1),
                    "bare_p50_ms": round(1000 * statistics.median(bare["latencies"]), 1),
                    "bare_p99_ms": round(1000 * _pct(bare["latencies"], 0.99), 1),
                    "ratio": round(d_rps / b_rps, 3),
                }
            )
            print(json.dumps(rows[-1]), flush=True)
    finally:
        server.shutdown()
    result = {
        "benchmark": "teacher_throughput",
        "server": "edtune reference teacher on 127.0.0.1",
        "server_delay_s": args.delay,
        "samples": args.samples,
        "steps_per_trace": args.steps,
        "requests_per_sample": args.steps + 2,
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "target_ratio": 0.8,
        "rows": rows,
    }
    from benchmarks.bookkeeping import provenance

    result["provenance"] = provenance(["benchmarks.teacher_throughput", *sys.argv[1:]], writing=[args.out])
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    print("\n| concurrency | diagnose req/s | p50 ms | p99 ms | bare req/s | p50 ms | p99 ms | ratio |")
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r['concurrency']} | {r['diagnose_rps']} | {r['diagnose_p50_ms']} | {r['diagnose_p99_ms']} | "
            f"{r['bare_rps']} | {r['bare_p50_ms']} | {r['bare_p99_ms']} | {r['ratio']} |"
        )


if __name__ == "__main__":
    main()
