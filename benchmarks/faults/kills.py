"""Crash anywhere, resume exactly: SIGKILL `edtune run`'s process group at random moments, rerun, compare.

Why kill the whole process group: a pod or node dies with all its children (milvus-lite's server, tokenizer
threads), so a SIGKILL of the group is the realistic crash; killing only the parent would leave helpers behind.
"""

from __future__ import annotations

import hashlib
import json
import random
import re
import shutil
import subprocess
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchmarks.faults.common import EDTUNE, Setup, _child_env, kill_group, run_config, write_config

STAGE_RE = re.compile(r"stage (start|done|skipped) stage=(\S+) round=(\d+)")
TEMP_RE = re.compile(r"(\.edtune-tmp$|\.tmp$|^tmp|^edtune-)")


def start_run(config: Path, log_path: Path, tmpdir: Path) -> subprocess.Popen[bytes]:
    tmpdir.mkdir(parents=True, exist_ok=True)
    fh = open(log_path, "wb")  # noqa: SIM115 - the child owns it; "wb": an earlier run's log must not count
    return subprocess.Popen(
        [EDTUNE, "-v", "run", "--config", str(config)],  # -v: the stage start/done lines parsed below
        stdout=fh,
        stderr=subprocess.STDOUT,
        env=_child_env(tmpdir),
        start_new_session=True,  # its own process group: the kill takes every child with it
    )


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
