"""Reliability benchmark: crash anywhere and resume exactly, flaky services, sustained teacher load.

    nice .venv/bin/python benchmarks/faults.py kills --n 20 --seed 0
    nice .venv/bin/python benchmarks/faults.py flaky
    nice .venv/bin/python benchmarks/faults.py load --requests 10000 --concurrency 32

Each writes benchmarks/results/faults-<part>.json; docs/reliability.md quotes those files. The same harness
functions back the pytest versions in tests/reliability/ (smaller N, `-m slow` for the kills).

Why kill the whole process group: a pod or node dies with all its children (milvus-lite's server, tokenizer
threads), so a SIGKILL of the group is the realistic crash; killing only the parent would leave helpers behind.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import os
import random
import re
import resource
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
TASK = "left-right"
PY = sys.executable
EDTUNE = str(Path(sys.executable).with_name("edtune"))

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


# ---------------------------------------------------------------- the tiny world every part runs on


@dataclass
class Setup:
    root: Path
    world: Path
    base: str
    teacher_url: str
    milvus_uri: str
    server: Any = None  # the in-process reference teacher (kept alive across the killed runs)

    def close(self) -> None:
        if self.server is not None:
            self.server.shutdown()


def ensure_base(cache: Path) -> str:
    """The shipped base student when present, else a short pretrain (cached) that still writes Step/Answer."""
    from edtune.student.base import ensure_base_student, shipped_base

    src = ensure_base_student(str(cache)) if shipped_base() is not None else None
    if src is None:
        return ensure_base_student(str(cache), steps=300)
    # a private snapshot: a run's stage keys hash the base's files, so an edit of the shipped asset while the
    # benchmark runs (it happened) would rightly rerun stages and make the comparison meaningless
    snap = cache / "base-snapshot"
    if not snap.is_dir():
        shutil.copytree(src, snap)
    return str(snap)


def prepare(root: Path, *, pool: int = 600, val: int = 40, test: int = 0) -> Setup:
    """World, base student, reference teacher (thread), annotated + indexed pool in a Milvus Lite file."""
    from edtune.world.generate import generate_world
    from edtune.world.reference_teacher import start_reference_teacher

    root.mkdir(parents=True, exist_ok=True)
    world = root / "world"
    if not (world / "pool.jsonl").is_file():
        generate_world(
            str(world), seed=0, pool_size=pool, val_size=val, test_size=max(test, 1), progress=False
        )
        (world / "pool.labels.jsonl").unlink(missing_ok=True)
    base = ensure_base(root / "base-cache")
    server, url = start_reference_teacher(host="127.0.0.1", port=0)
    milvus = root / "milvus" / "milvus.db"
    setup = Setup(root, world, base, url, str(milvus), server)
    marker = root / "milvus" / "indexed"
    if not marker.is_file():
        # in a child process: Milvus Lite holds a flock on its file for as long as the opening process lives
        milvus.parent.mkdir(parents=True, exist_ok=True)
        config = write_config(run_config(setup, root / "idx"), root / "idx" / "config.yaml")
        code = (
            "import sys; from edtune import stages; from edtune.config import load_config; "
            "cfg = load_config(sys.argv[1], env={}); stages.annotate(cfg, cfg.pool.skills); stages.index(cfg)"
        )
        subprocess.run([PY, "-c", code, str(config)], check=True, env=_child_env(root / "idx"))
        marker.write_text("ok\n")
    return setup


def run_config(s: Setup, workdir: Path, *, rounds: int = 2, steps: int = 20, **extra: Any) -> dict[str, Any]:
    """The tiny run: pool 600, val 40, `rounds` rounds, `steps` LoRA steps (min_gain -1: every round runs)."""
    data: dict[str, Any] = {
        "run_id": "faults",
        "output": str(workdir / "runs"),
        "cache_dir": str(workdir / "cache"),
        "task": {"name": TASK, "val": str(s.world / "tasks" / TASK / "val.jsonl")},
        "pool": {
            "uri": str(s.world / "pool.jsonl"),
            "skills": str(s.world / "pool.skills.jsonl"),
            "milvus_uri": s.milvus_uri,
            "collection": "faults_pool",
        },
        "student": {"base": s.base},
        "teacher": {"url": s.teacher_url, "model": ""},
        "loop": {"max_rounds": rounds, "budget_per_round": 48, "min_gain": -1.0},
        "lora": {"max_steps": steps},
    }
    for k, v in extra.items():
        data.setdefault(k, {}).update(v) if isinstance(v, dict) else data.__setitem__(k, v)
    return data


def write_config(data: dict[str, Any], path: Path) -> Path:
    import yaml

    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


# ---------------------------------------------------------------- 1. crash anywhere, resume exactly

STAGE_RE = re.compile(r"stage (start|done|skipped) stage=(\S+) round=(\d+)")
TEMP_RE = re.compile(r"(\.edtune-tmp$|\.tmp$|^tmp|^edtune-)")


def _child_env(tmpdir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("EDTUNE_")}
    env.update(TMPDIR=str(tmpdir), OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", PYTHONHASHSEED="0")
    return env


def start_run(config: Path, log_path: Path, tmpdir: Path) -> subprocess.Popen[bytes]:
    tmpdir.mkdir(parents=True, exist_ok=True)
    fh = open(log_path, "wb")  # noqa: SIM115 - the child owns it; "wb": an earlier run's log must not count
    return subprocess.Popen(
        [EDTUNE, "run", "--config", str(config)],
        stdout=fh,
        stderr=subprocess.STDOUT,
        env=_child_env(tmpdir),
        start_new_session=True,  # its own process group: the kill takes every child with it
    )


def kill_group(proc: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()


def run_once(config: Path, log_path: Path, tmpdir: Path, timeout: float = 1800) -> int:
    proc = start_run(config, log_path, tmpdir)
    try:
        return proc.wait(timeout=timeout)
    finally:
        if proc.poll() is None:
            kill_group(proc)


def sha_tree(root: Path) -> dict[str, str]:
    return {
        p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def _normalise(obj: Any, run_root: str) -> Any:
    """Drop what legitimately differs between two runs of the same config: wall times, paths, timestamps."""
    volatile = {
        "seconds",
        "stage_seconds",
        "created_at",
        "samples_per_s",
        "tokens_per_s",
        "peak_rss_mb",
        "peak_gpu_mb",
        "latencies",
    }
    if isinstance(obj, dict):
        return {k: _normalise(v, run_root) for k, v in obj.items() if k not in volatile}
    if isinstance(obj, list):
        return [_normalise(v, run_root) for v in obj]
    if isinstance(obj, str):
        return obj.replace(run_root, "<RUN>")
    return obj


def run_outputs(workdir: Path) -> dict[str, Any]:
    """What must match an uninterrupted run: adapter bytes, metrics, selections, mistakes, manifest."""
    run = workdir / "runs" / "faults"
    out: dict[str, Any] = {}
    adapter = run / "final" / "adapter"
    out["final_adapter_sha256"] = sha_tree(adapter) if adapter.is_dir() else {}
    out["round_adapter_sha256"] = {
        d.parent.name: sha_tree(d) for d in sorted(run.glob("round-*/adapter")) if d.is_dir()
    }
    for p in [*sorted(run.glob("round-*/*.json")), run / "final" / "manifest.json"]:
        if p.is_file():
            out[p.relative_to(run).as_posix()] = _normalise(json.loads(p.read_text()), str(run))
    for p in sorted(run.glob("round-*/*.jsonl")):
        rows = [json.loads(x) for x in p.read_text().splitlines() if x.strip()]
        out[p.relative_to(run).as_posix()] = _normalise(rows, str(run))
    out["markers"] = sorted(p.relative_to(run).as_posix() for p in run.glob("**/.done/*.json"))
    return out


def leftovers(*roots: Path) -> list[str]:
    """Half-written files and temp files/dirs left behind (atomic writes must leave none that matter)."""
    found = []
    for root in roots:
        if not root.exists():
            continue
        for p in root.rglob("*"):
            if TEMP_RE.search(p.name):
                found.append(str(p))
    return sorted(found)


def used_twice(workdir: Path) -> list[str]:
    run = workdir / "runs" / "faults"
    ids: list[str] = []
    for p in sorted(run.glob("round-*/selection.jsonl")) + sorted(run.glob("round-*/replay.jsonl")):
        ids += [json.loads(x)["support_id"] for x in p.read_text().splitlines() if x.strip()]
    return sorted(k for k, n in Counter(ids).items() if n > 1)


def stage_events(log_text: str) -> list[tuple[str, str, int]]:
    return [(m.group(1), m.group(2), int(m.group(3))) for m in STAGE_RE.finditer(log_text)]


def redone_stages(attempt_logs: list[str]) -> list[str]:
    """Stages started again after an earlier attempt finished them (their marker was written)."""
    done: set[tuple[str, int]] = set()
    redone = []
    for text in attempt_logs:
        for ev, stage, r in stage_events(text):
            if ev == "start" and (stage, r) in done:
                redone.append(f"{stage}@{r}")
            if ev == "done":
                done.add((stage, r))
    return redone


def diff_outputs(a: dict[str, Any], b: dict[str, Any]) -> list[str]:
    diffs = []
    for k in sorted(set(a) | set(b)):
        if a.get(k) != b.get(k):
            diffs.append(k)
    return diffs


@dataclass
class KillReport:
    kills_tried: int = 0
    kills_survived: int = 0  # kills after which the resumed run ended equal to the reference
    campaigns: int = 0
    campaigns_equal: int = 0
    killed_in_stage: dict[str, int] = field(default_factory=dict)
    mismatches: list[dict[str, Any]] = field(default_factory=list)
    leftovers: list[str] = field(default_factory=list)
    used_twice: list[str] = field(default_factory=list)
    redone_stages: list[str] = field(default_factory=list)
    failed_resumes: list[str] = field(default_factory=list)
    reference_seconds: float = 0.0


def reference_run(s: Setup, root: Path, **cfg_kw: Any) -> tuple[dict[str, Any], float, list[str]]:
    """One uninterrupted run in `root/run` (the same path every campaign uses, so even files that record
    their own paths compare byte for byte); its outputs are kept, the directory is emptied for the next."""
    work = root / "run"
    shutil.rmtree(work, ignore_errors=True)
    config = write_config(run_config(s, work, **cfg_kw), root / "config.yaml")
    t0 = time.time()
    rc = run_once(config, root / "reference.log", work / "tmp")
    if rc != 0:
        raise RuntimeError(f"reference run failed (rc {rc}); see {root / 'reference.log'}")
    seconds = time.time() - t0
    out = run_outputs(work)
    left = leftovers(work / "runs", work / "cache", work / "tmp")
    shutil.move(str(work), str(root / "reference"))
    return out, seconds, left


def _current_stage(log_text: str) -> str:
    last = "startup"
    for ev, stage, r in stage_events(log_text):
        last = f"{stage}@{r}" if ev == "start" else "between-stages"
    return last


def kill_campaigns(
    s: Setup, root: Path, n_kills: int, seed: int = 0, max_attempts: int = 200, **cfg_kw: Any
) -> KillReport:
    """SIGKILL `edtune run` at seeded random times until `n_kills` kills landed; compare every finished run.

    A campaign = one run directory driven to completion through as many kills as land in it; the next campaign
    starts afresh. A kill *survives* when its campaign ends with every output equal to the reference run, no stage
    redone after its marker was written, and no support sample used twice.
    """
    shutil.rmtree(root, ignore_errors=True)  # an earlier campaign's logs and reference must not count
    root.mkdir(parents=True, exist_ok=True)
    ref, ref_s, ref_left = reference_run(s, root, **cfg_kw)
    rep = KillReport(reference_seconds=round(ref_s, 1))
    rep.leftovers += [f"reference:{x}" for x in ref_left]
    rng = random.Random(seed)
    horizon = max(ref_s, 5.0)
    attempts = 0
    work = root / "run"
    config = root / "config.yaml"
    while rep.kills_tried < n_kills and attempts < max_attempts:
        rep.campaigns += 1
        name = f"campaign-{rep.campaigns:02d}"
        shutil.rmtree(work, ignore_errors=True)
        logs: list[str] = []
        kills_here = 0
        rc = 0
        while True:
            attempts += 1
            log_path = root / f"{name}-attempt-{len(logs):02d}.log"
            proc = start_run(config, log_path, work / "tmp")
            # kill at a uniform point of a whole run's duration: a resumed attempt skips finished stages, so
            # it reaches later stages sooner and late kills land there
            delay = rng.uniform(0.2, horizon) if rep.kills_tried < n_kills else None
            try:
                rc = proc.wait(timeout=delay if delay is not None else 1800)
                killed = False
            except subprocess.TimeoutExpired:
                kill_group(proc)
                killed = True
            text = log_path.read_text(errors="replace")
            logs.append(text)
            if killed:
                rep.kills_tried += 1
                kills_here += 1
                where = _current_stage(text)
                rep.killed_in_stage[where] = rep.killed_in_stage.get(where, 0) + 1
                continue
            if rc != 0:
                rep.failed_resumes.append(f"{log_path}: rc {rc}: {text[-400:]}")
            break
        out = run_outputs(work)
        diffs = diff_outputs(ref, out)
        left = leftovers(work / "runs", work / "cache", work / "tmp")
        twice = used_twice(work)
        redo = redone_stages(logs)
        rep.leftovers += [f"{name}:{x}" for x in left]
        rep.used_twice += twice
        rep.redone_stages += [f"{name}:{x}" for x in redo]
        ok = not diffs and not twice and not redo and rc == 0
        if diffs:
            rep.mismatches.append({"campaign": rep.campaigns, "kills": kills_here, "differs": diffs})
        rep.campaigns_equal += int(ok)
        rep.kills_survived += kills_here if ok else 0
        if diffs:  # keep the evidence
            shutil.move(str(work), str(root / name))
    shutil.rmtree(work, ignore_errors=True)
    return rep


# ---------------------------------------------------------------- 2. flaky services


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
    from edtune.teacher.diagnose import diagnose
    from edtune.world.generate import generate_world
    from edtune.world.reference_teacher import start_reference_teacher

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


# ---------------------------------------------------------------- 5. load


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


# ---------------------------------------------------------------- 3/4. the pytest corpus, counted


def suite(workdir: Path) -> dict[str, Any]:
    """Run tests/reliability (slow tests included) and count cases per file from the JUnit XML."""
    import xml.etree.ElementTree as ET

    workdir.mkdir(parents=True, exist_ok=True)
    xml = workdir / "reliability.xml"
    cmd = [PY, "-m", "pytest", "tests/reliability", "-m", "slow or not slow", "-q", "-p", "no:cacheprovider"]
    proc = subprocess.run([*cmd, f"--junitxml={xml}"], cwd=ROOT, capture_output=True, text=True)
    per_file: dict[str, dict[str, int]] = {}
    for case in ET.parse(xml).getroot().iter("testcase"):
        name = case.get("classname", "").split(".")[-1]
        row = per_file.setdefault(name, {"tried": 0, "passed": 0})
        row["tried"] += 1
        row["passed"] += int(not any(c.tag in ("failure", "error", "skipped") for c in case))
    bad = [c for c in ET.parse(xml).getroot().iter("testcase") if "exits_2" in c.get("name", "")]
    canary = [
        c
        for c in ET.parse(xml).getroot().iter("testcase")
        if re.search(r"secret|canary|credential", c.get("name", ""))
    ]
    return {
        "pytest_rc": proc.returncode,
        "per_file": per_file,
        "bad_inputs_tried": len(bad),
        "bad_inputs_refused": sum(1 for c in bad if not list(c)),
        "secret_checks_tried": len(canary),
        "secret_checks_clean": sum(1 for c in canary if not list(c)),
        "summary": proc.stdout.strip().splitlines()[-1] if proc.stdout.strip() else "",
    }


def table() -> str:
    """The docs/reliability.md table, from the results JSON files only."""

    def rd(name: str) -> dict[str, Any]:
        p = RESULTS / f"faults-{name}.json"
        return json.loads(p.read_text()) if p.is_file() else {}

    k, f, ld, t = rd("kills"), rd("flaky"), rd("load"), rd("tests")
    rows = [("guarantee", "result", "source")]
    if k:
        rows.append(
            ("kills survived / tried", f"{k['kills_survived']} / {k['kills_tried']}", "faults-kills.json")
        )
        rows.append(("stages redone after their marker", str(len(k["redone_stages"])), "faults-kills.json"))
        rows.append(("support samples used twice", str(len(k["used_twice"])), "faults-kills.json"))
        rows.append(
            (
                "temp files/dirs left by the kills (open, see §1)",
                str(len(k["leftovers"])),
                "faults-kills.json",
            )
        )
    for side in ("teacher", "s3"):
        for kind, v in (f.get(side) or {}).items():
            rows.append(
                (
                    f"{side} fault `{kind}`: survived / injected",
                    f"{v['survived']} / {v['injected']}",
                    "faults-flaky.json",
                )
            )
    for name, v in (f.get("outage") or {}).items():
        rows.append(
            (
                f"permanent outage `{name}`: clear error naming the endpoint",
                "yes" if v["clear_error"] else "NO",
                "faults-flaky.json",
            )
        )
    if t:
        rows.append(
            (
                "bad inputs refused (exit 2, named, nothing written) / tried",
                f"{t['bad_inputs_refused']} / {t['bad_inputs_tried']}",
                "faults-tests.json",
            )
        )
        leaked = t["secret_checks_tried"] - t["secret_checks_clean"]
        rows.append(
            (
                "secrets leaked (canary checks failing / run)",
                f"{leaked} / {t['secret_checks_tried']}",
                "faults-tests.json",
            )
        )
    if ld:
        rows.append(
            (
                "load: samples lost / duplicated",
                f"{ld['samples_lost']} / {ld['samples_duplicated']} of {ld['traces']}",
                "faults-load.json",
            )
        )
        rows.append(
            (
                f"load: {ld['requests']} requests at concurrency {ld['concurrency']}",
                f"{ld['requests_per_s']} req/s, p50 {ld['latency_p50_ms']} ms, p99 {ld['latency_p99_ms']} ms",
                "faults-load.json",
            )
        )
        rows.append(
            (
                "load: peak RSS client / reference teacher",
                f"{ld['peak_rss_mb']} MB / {ld.get('server_peak_rss_mb')} MB",
                "faults-load.json",
            )
        )
    return "\n".join(
        [
            "| " + " | ".join(r) + " |" if i else "| " + " | ".join(r) + " |\n|---|---|---|"
            for i, r in enumerate(rows)
        ]
    )


# ---------------------------------------------------------------- CLI


def _write(name: str, data: dict[str, Any]) -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"faults-{name}.json"
    data = {"command": " ".join(["benchmarks/faults.py", *sys.argv[1:]]), **data}
    path.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")
    return path


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="part", required=True)
    k = sub.add_parser("kills")
    k.add_argument("--n", type=int, default=20)
    k.add_argument("--seed", type=int, default=0)
    k.add_argument("--rounds", type=int, default=2)
    k.add_argument("--steps", type=int, default=20)
    k.add_argument("--workdir", default="/tmp/edtune-faults")
    fl = sub.add_parser("flaky")
    fl.add_argument("--rate", type=float, default=0.33)
    fl.add_argument("--seed", type=int, default=0)
    fl.add_argument("--workdir", default="/tmp/edtune-faults")
    sub.add_parser("tests")
    sub.add_parser("table")
    ld = sub.add_parser("load")
    ld.add_argument("--requests", type=int, default=10000)
    ld.add_argument("--concurrency", type=int, default=32)
    ld.add_argument("--workdir", default="/tmp/edtune-faults")
    args = ap.parse_args(argv)
    import logging

    logging.basicConfig(level=logging.WARNING)
    if args.part == "kills":
        root = Path(args.workdir)
        s = prepare(root / "setup")
        try:
            t0 = time.time()
            rep = kill_campaigns(
                s, root / f"kills-s{args.seed}", args.n, args.seed, rounds=args.rounds, steps=args.steps
            )
            data = {"seconds": round(time.time() - t0, 1), **rep.__dict__}
        finally:
            s.close()
        print(_write("kills", data))
        print(json.dumps({k: v for k, v in data.items() if k != "mismatches"}, indent=1)[:3000])
        return 0 if rep.kills_survived == rep.kills_tried else 1
    if args.part == "tests":
        data = suite(Path("/tmp/edtune-faults") / "tests")
        print(_write("tests", data))
        print(json.dumps(data, indent=1))
        return 0 if data["pytest_rc"] == 0 else 1
    if args.part == "table":
        print(table())
        return 0
    if args.part == "flaky":
        root = Path(args.workdir) / "flaky"
        shutil.rmtree(root, ignore_errors=True)
        data = flaky(root, args.rate, args.seed)
        print(_write("flaky", data))
        print(json.dumps(data["totals"], indent=1))
        ok = all(v["survived"] == v["injected"] for side in ("teacher", "s3") for v in data[side].values())
        return 0 if ok and all(v["clear_error"] for v in data["outage"].values()) else 1
    if args.part == "load":
        from edtune.world.generate import generate_world

        root = Path(args.workdir) / "load"
        shutil.rmtree(root, ignore_errors=True)
        generate_world(str(root / "world"), seed=2, pool_size=10, val_size=200, test_size=1, progress=False)
        data = load(root / "world", args.requests, args.concurrency, root)
        print(_write("load", data))
        print(json.dumps(data, indent=1))
        return 0 if data["samples_lost"] == 0 and data["samples_duplicated"] == 0 else 1
    return 2


if __name__ == "__main__":
    sys.exit(main())
