"""Flaky services: seeded faults in front of the teacher and S3, and full outages, through loopback proxies."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from benchmarks.faults.common import PY, ROOT
from benchmarks.faults.load import _wrong_traces


def _proxy_mod() -> Any:
    sys.path.insert(0, str(ROOT))
    from tests.reliability import fault_proxy

    return fault_proxy


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def flaky(root: Path, rate: float = 0.33, seed: int = 0) -> dict[str, Any]:
    """Each fault kind on a seeded random `rate` of the requests, in front of the reference teacher (diagnose)
    and moto S3 (io). Independent draws, not every k-th request: a strict period resonates with the client's
    concurrency (the same request lands on the faulty slot every time), which tests the plan, not the client.

    survived = faults injected in a run that still ended exactly like the fault-free run; a run that ends with
    ServiceError/StorageError naming the endpoint counts as a clean failure (not survived, not silent).
    """
    fp = _proxy_mod()
    from edtune import io
    from edtune.config import TeacherConfig
    from edtune.errors import EdtuneError
    from edtune.shapes.world.generate import generate_world
    from edtune.shapes.world.reference_teacher import start_reference_teacher
    from edtune.teacher.diagnose import diagnose

    world = root / "world"
    if not (world / "pool.jsonl").is_file():
        generate_world(str(world), seed=1, pool_size=20, val_size=32, test_size=1, progress=False)
    traces, samples = _wrong_traces(world, 32)
    server, url = start_reference_teacher()
    port = int(url.rsplit(":", 1)[1])

    def tcfg(u: str) -> TeacherConfig:
        return TeacherConfig(
            url=u, model="", concurrency=4, timeout_s=0.5, max_retries=5, backoff_s=0.05, backoff_max_s=0.5
        )

    def run_diag(u: str, cache: Path) -> dict[str, Any]:
        res = diagnose(traces, samples, tcfg(u), cache_dir=str(cache), progress=False)
        return {r.sample_id: r.model_dump(mode="json") for r in res.reports}

    out: dict[str, Any] = {"teacher": {}, "s3": {}, "outage": {}}
    clean = run_diag(url, root / "cache-clean")
    for n, kind in enumerate(fp.FAULTS, 1):
        proxy = fp.FaultProxy(
            "127.0.0.1", port, fp.at_rate(rate, (kind,), seed), retry_after=0.1, slow_s=1.0, refuse_s=0.1
        )
        proxy.start()
        try:
            got, err = run_diag(proxy.url, root / f"cache-{n}"), None
        except EdtuneError as exc:
            got, err = None, str(exc)
        finally:
            proxy.close()
        injected = sum(proxy.injected.values())
        out["teacher"][kind] = {
            "injected": injected,
            "survived": injected if got == clean else 0,
            "requests": proxy.requests,
            "samples": len(traces),
            "samples_accounted": len(got or {}),
            "error": err,
        }
    for kind in ("503", "reset", "slow"):
        proxy = fp.FaultProxy("127.0.0.1", port, fp.always(kind), slow_s=1.0).start()
        try:
            run_diag(proxy.url, root / f"cache-out-{kind}")
            out["outage"][f"teacher-{kind}"] = {"clear_error": False}
        except EdtuneError as exc:
            out["outage"][f"teacher-{kind}"] = {
                "clear_error": proxy.url in str(exc),
                "requests": proxy.requests,
            }
        finally:
            proxy.close()
    server.shutdown()

    moto_port = _free_port()
    moto = subprocess.Popen(
        [str(Path(PY).with_name("moto_server")), "-H", "127.0.0.1", "-p", str(moto_port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        import boto3

        time.sleep(1.5)
        os.environ.update(
            AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing", AWS_DEFAULT_REGION="us-east-1"
        )
        os.environ["EDTUNE_S3_TIMEOUT_S"] = "1"
        boto3.client("s3", endpoint_url=f"http://127.0.0.1:{moto_port}").create_bucket(Bucket="faults")
        for kind in fp.FAULTS:
            proxy = fp.FaultProxy(
                "127.0.0.1", moto_port, fp.at_rate(rate, (kind,), seed), retry_after=0.1, slow_s=2.0
            )
            proxy.start()
            os.environ["AWS_ENDPOINT_URL"] = proxy.url
            objs = {
                f"s3://faults/{kind}/obj-{i:02d}.json": {"i": i, "pad": "x" * (i * 997)} for i in range(8)
            }
            ok, errors = 0, []
            for uri, obj in objs.items():
                try:
                    io.write_json(uri, obj)
                    ok += int(io.read_json(uri) == obj)
                except EdtuneError as exc:
                    errors.append(str(exc)[:200])
            proxy.close()
            injected = sum(proxy.injected.values())
            out["s3"][kind] = {
                "injected": injected,
                "survived": injected if ok == len(objs) else 0,
                "objects": len(objs),
                "round_tripped": ok,
                "errors": errors,
            }
        proxy = fp.FaultProxy("127.0.0.1", moto_port, fp.always("503")).start()
        os.environ["AWS_ENDPOINT_URL"] = proxy.url
        try:
            io.write_json("s3://faults/outage/x.json", {"a": 1})
            out["outage"]["s3-503"] = {"clear_error": False}
        except EdtuneError as exc:
            out["outage"]["s3-503"] = {
                "clear_error": "s3://faults/outage/x.json" in str(exc),
                "requests": proxy.requests,
            }
        proxy.close()
    finally:
        moto.terminate()
        moto.wait()
    totals = {
        side: {
            "injected": sum(v["injected"] for v in out[side].values()),
            "survived": sum(v["survived"] for v in out[side].values()),
        }
        for side in ("teacher", "s3")
    }
    return {"rate": rate, "seed": seed, **out, "totals": totals}
