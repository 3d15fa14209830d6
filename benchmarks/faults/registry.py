"""The adapter registry under concurrency, kills and corruption, against a real S3 API (moto server on loopback).

Three parts, each with real `edtune` processes where a process boundary matters:
- `concurrency`: N `edtune publish` processes started together on one task, T trials. Every version must be stored
  once, and the pointer's history must be one chain: sorted by `sequence`, each publish's `previous_version` is the
  version of the publish before it (a lost update shows as a repeated sequence or a broken link). `latest` verifies.
- `kills`: `edtune publish` of a ~24 MiB adapter (multipart) SIGKILLed at a seeded random moment after its upload
  began and before its commit; `latest` is checked after each kill, then the same publish is rerun. At the end no
  incomplete multipart upload may remain. SIGTERM (what a pod gets first) is tried too: the upload must be aborted
  by the dying process itself.
- `corruption`: damaged weights, a garbled manifest, a damaged `latest.json`, and a sync over a good copy.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

PY = sys.executable


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_moto() -> tuple[subprocess.Popen[bytes], str]:
    port = _free_port()
    moto = Path(sys.executable).with_name("moto_server")
    proc = subprocess.Popen(
        [str(moto), "-H", "127.0.0.1", "-p", str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    deadline = time.time() + 60
    while time.time() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return proc, f"http://127.0.0.1:{port}"
        time.sleep(0.05)
    proc.kill()
    raise RuntimeError("moto_server did not start")


def make_adapter(root: Path, name: str, files: dict[str, bytes]) -> tuple[str, str]:
    """An adapter dir and its AdapterManifest (gain +0.3) beside it."""
    from edtune.schemas import AdapterManifest, RoundMetrics

    adapter = root / name / "adapter"
    adapter.mkdir(parents=True, exist_ok=True)
    for rel, data in files.items():
        (adapter / rel).write_bytes(data)
    manifest = AdapterManifest(
        base_model="tiny",
        lora={"r": 8},
        rounds=[RoundMetrics(round=0, val_accuracy=0.5), RoundMetrics(round=1, val_accuracy=0.8)],
        best_round=1,
        selected_support_ids=[],
        files={rel: hashlib.sha256(data).hexdigest() for rel, data in files.items()},
        edtune_version="bench",
    )
    path = root / name / "manifest.json"
    path.write_text(manifest.model_dump_json(indent=2))
    return str(adapter), str(path)


def _publish_cmd(adapter: str, manifest: str, registry: str, task: str, run_id: str) -> list[str]:
    cmd = [PY, "-m", "edtune.cli", "publish", "--adapter", adapter, "--manifest", manifest]
    return [*cmd, "--registry", registry, "--task", task, "--run-id", run_id, "--json"]


def chain_report(results: list[dict[str, Any]]) -> dict[str, Any]:
    """How far the publishes' pointer history is from one chain: repeated sequences and broken links."""
    chain = sorted(results, key=lambda r: r["sequence"])
    seqs = [r["sequence"] for r in chain]
    breaks = 0
    previous = None
    for r in chain:
        breaks += int(r["previous_version"] != previous)
        previous = r["version"]
    repeated = len(seqs) - len(set(seqs))
    return {
        "sequences": seqs,
        "repeated_sequences": repeated,
        "chain_breaks": breaks,
        "lost_pointer_updates": max(repeated, breaks),
        "previous_null": sum(r["previous_version"] is None for r in results),
    }


def concurrency(root: Path, registry: str, publishers: int, trials: int) -> dict[str, Any]:
    from edtune.publish.catalog import list_versions
    from edtune.publish.registry import read_latest
    from edtune.publish.verify import check_version

    out: list[dict[str, Any]] = []
    for t in range(trials):
        task = f"concurrent-{t}"
        inputs = [
            make_adapter(
                root / task, f"p{i}", {"adapter_model.safetensors": os.urandom(64 * 1024), "c.json": b"{}"}
            )
            for i in range(publishers)
        ]
        t0 = time.time()
        procs = [
            subprocess.Popen(
                _publish_cmd(a, m, registry, task, f"run-{t}-{i}"),
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
            )
            for i, (a, m) in enumerate(inputs)
        ]
        replies = [p.communicate(timeout=600) for p in procs]
        seconds = time.time() - t0
        results = [json.loads(o) for (o, _), p in zip(replies, procs, strict=True) if p.returncode == 0]
        failed = [e.decode()[-300:] for (_, e), p in zip(replies, procs, strict=True) if p.returncode != 0]
        listing = list_versions(registry, task, verify=True)
        latest = read_latest(registry, task)
        top = max(results, key=lambda r: r["sequence"]) if results else None
        out.append(
            {
                "trial": t,
                "publishers": publishers,
                "succeeded": len(results),
                "failed": failed,
                "versions_stored": len(listing.versions),
                "versions_distinct": len({r["version"] for r in results}),
                "versions_verified": sum(v.status == "OK" for v in listing.versions),
                **chain_report(results),
                "conditional_write_retries": sum(r["pointer_attempts"] - 1 for r in results),
                "latest_is_last_in_chain": bool(latest and top and latest.version == top["version"]),
                "latest_verifies": bool(latest and check_version(registry, task, latest.version).ok),
                "seconds": round(seconds, 1),
            }
        )
    return {
        "trials": out,
        "publishes": sum(t["succeeded"] for t in out),
        "failed_publishes": sum(len(t["failed"]) for t in out),
        "lost_pointer_updates": sum(t["lost_pointer_updates"] for t in out),
        "versions_stored_once": all(
            t["versions_stored"] == t["versions_distinct"] == publishers for t in out
        ),
        "versions_verified": sum(t["versions_verified"] for t in out),
        "latest_verifies": all(t["latest_verifies"] and t["latest_is_last_in_chain"] for t in out),
        "conditional_write_retries": sum(t["conditional_write_retries"] for t in out),
    }


def _kill_once(
    cmd: list[str], prefix: str, version_manifest_key: str, bucket: str, sig: int, delay: float
) -> tuple[bool, float]:
    """Start a publish, wait until its multipart upload began, wait `delay`, send `sig`. (killed mid-publish, s)."""
    from edtune.io.storage import s3_client
    from edtune.publish.lifecycle import incomplete_uploads

    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    t0 = time.time()
    try:
        while not incomplete_uploads(prefix):
            if proc.poll() is not None or time.time() - t0 > 120:
                return False, time.time() - t0
            time.sleep(0.005)
        time.sleep(delay)
        if proc.poll() is not None:
            return False, time.time() - t0
        committed = "Contents" in s3_client().list_objects_v2(Bucket=bucket, Prefix=version_manifest_key)
        proc.send_signal(sig)
        proc.wait(timeout=60)
        return not committed, time.time() - t0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def kills(root: Path, registry: str, bucket: str, n_kills: int, n_terms: int, seed: int) -> dict[str, Any]:
    from edtune.errors import EdtuneError
    from edtune.publish.layout import load_manifest, version_id
    from edtune.publish.lifecycle import incomplete_uploads
    from edtune.publish.registry import publish, read_latest
    from edtune.publish.verify import check_version

    rng = random.Random(seed)
    task = "kills"
    base = make_adapter(root / task, "good", {"adapter_model.safetensors": b"g" * 4096, "c.json": b"{}"})
    subprocess.run(_publish_cmd(*base, registry, task, "good"), check=True, capture_output=True)
    blob = os.urandom(1024 * 1024)
    report: dict[str, Any] = {
        "kills_tried": 0,
        "kills_mid_publish": 0,
        "latest_named_a_partial_version": 0,
        "incomplete_uploads_after_kill": [],
        "reruns_ok": 0,
        "failed_reruns": [],
        "aborted_by_reruns": 0,
        "sigterms_mid_publish": 0,
        "incomplete_uploads_after_sigterm": [],
    }
    i = 0
    while report["kills_mid_publish"] + report["sigterms_mid_publish"] < n_kills + n_terms and i < 4 * (
        n_kills + n_terms
    ):
        term = report["kills_mid_publish"] >= n_kills
        files = {"a.safetensors": blob * 12, "b.safetensors": blob[::-1] * 12, "c.json": str(i).encode()}
        adapter, manifest = make_adapter(root / task, f"big{i}", files)
        run_id = f"big-{i}"
        version = version_id(run_id, load_manifest(manifest)[0])
        key_prefix = f"{registry.split('/', 3)[3]}/adapters/{task}/{version}"
        cmd = _publish_cmd(adapter, manifest, registry, task, run_id)
        i += 1
        mid, _ = _kill_once(
            cmd, f"{registry}/adapters/{task}/{version}", f"{key_prefix}/manifest.json", bucket,
            signal.SIGTERM if term else signal.SIGKILL, rng.uniform(0.0, 0.6),
        )  # fmt: skip
        report["kills_tried"] += int(not term)
        if not mid:
            continue
        report["sigterms_mid_publish" if term else "kills_mid_publish"] += 1
        latest = read_latest(registry, task)
        if latest is None or not check_version(registry, task, latest.version).ok:  # names a partial version
            report["latest_named_a_partial_version"] += 1
        left = len(incomplete_uploads(registry))
        report["incomplete_uploads_after_sigterm" if term else "incomplete_uploads_after_kill"].append(left)
        # the rerun runs in this process (the same `publish`): a CLI start per kill would double the run time
        try:
            res = publish(adapter, manifest, registry, task, run_id)
        except EdtuneError as exc:
            report["failed_reruns"].append(str(exc)[:300])
            continue
        report["reruns_ok"] += int(res.version == version and check_version(registry, task, version).ok)
        report["aborted_by_reruns"] += res.aborted_uploads
    report["incomplete_uploads_at_end"] = len(incomplete_uploads(registry))
    return report


def corruption(root: Path, registry: str, bucket: str) -> dict[str, Any]:
    from edtune.errors import EdtuneError
    from edtune.io.storage import s3_client
    from edtune.publish.fetch import sync
    from edtune.publish.registry import publish, read_latest

    task = "corrupt"
    s3 = s3_client()
    good = publish(
        *make_adapter(root / task, "g", {"adapter_model.safetensors": b"G" * 4096}), registry, task, "g"
    )
    bad = publish(
        *make_adapter(root / task, "b", {"adapter_model.safetensors": b"B" * 4096}), registry, task, "b"
    )
    prefix = f"{registry.split('/', 3)[3]}/adapters/{task}"
    dest = root / task / "serving"
    sync(registry, task, dest, version=good.version)
    before = {p.name: p.read_bytes() for p in dest.iterdir()}
    s3.put_object(Bucket=bucket, Key=f"{prefix}/{bad.version}/adapter_model.safetensors", Body=b"evil")
    try:
        sync(registry, task, dest)
        sync_refused = False
    except EdtuneError:
        sync_refused = True
    after = {p.name: p.read_bytes() for p in dest.iterdir()}
    verify = subprocess.run(
        [PY, "-m", "edtune.cli", "adapters", "verify", "--registry", registry, "--task", task, "--json"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    lines = verify.stdout.splitlines()
    problems = json.loads(lines[0])["error"]["problems"] if len(lines) == 1 else []
    s3.put_object(Bucket=bucket, Key=f"{prefix}/{good.version}/manifest.json", Body=b'{"files": ')
    try:
        sync(registry, task, root / task / "pinned", version=good.version)
        garbled_named = False
    except EdtuneError as exc:
        garbled_named = f"{prefix}/{good.version}/manifest.json" in str(exc) and "CORRUPT" in str(exc)
    s3.put_object(Bucket=bucket, Key=f"{prefix}/latest.json", Body=b'{"task": ')
    repaired = publish(
        *make_adapter(root / task, "r", {"adapter_model.safetensors": b"R" * 4096}), registry, task, "r"
    )
    latest = read_latest(registry, task)
    return {
        "sync_of_damaged_version_refused": sync_refused,
        "good_destination_byte_identical": before == after,
        "verify_json_objects_on_stdout": len(lines),
        "verify_exit_code": verify.returncode,
        "verify_problems_name_the_file": len(problems) == 1 and "adapter_model.safetensors" in problems[0],
        "garbled_manifest_error_names_uri": garbled_named,
        "damaged_latest_replaced_with_warning": bool(
            repaired.warnings and latest and latest.version == repaired.version
        ),
    }


def registry_faults(
    root: Path, *, publishers: int = 8, trials: int = 3, n_kills: int = 10, n_terms: int = 3, seed: int = 0
) -> dict[str, Any]:
    import boto3

    root.mkdir(parents=True, exist_ok=True)
    proc, url = start_moto()
    env = {
        "AWS_ENDPOINT_URL": url,
        "AWS_ACCESS_KEY_ID": "bench",
        "AWS_SECRET_ACCESS_KEY": "bench",
        "AWS_DEFAULT_REGION": "us-east-1",
    }
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        bucket = "edtune-registry"
        boto3.client("s3", endpoint_url=url).create_bucket(Bucket=bucket)
        registry = f"s3://{bucket}/registry"
        t0 = time.time()
        conc = concurrency(root, registry, publishers, trials)
        t1 = time.time()
        kill = kills(root, registry, bucket, n_kills, n_terms, seed)
        t2 = time.time()
        corr = corruption(root, registry, bucket)
        t3 = time.time()
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        proc.terminate()
        proc.wait(timeout=10)
    return {
        "concurrency": conc,
        "kills": kill,
        "corruption": corr,
        "seconds": {
            "concurrency": round(t1 - t0, 1),
            "kills": round(t2 - t1, 1),
            "corruption": round(t3 - t2, 1),
        },
    }
