"""Resume: SIGKILL `edtune diagnose` midway, rerun, and the teacher never sees a request for a finished sample."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

from .fault_server import FaultTeacher, RunningTeacher
from .helpers import make_case, write_case

N = 24


def _cli(url: str, tr: Path, task: Path, out: Path, cache: Path) -> list[str]:
    edtune = str(Path(sys.executable).with_name("edtune"))
    return [
        edtune, "diagnose", "--traces", str(tr), "--task", str(task), "--out", str(out),
        "--teacher-url", url, "--set", f"cache_dir={cache}", "--set", "teacher.concurrency=2", "--json",
    ]  # fmt: skip


def _markers(texts: list[str]) -> set[str]:
    return {m for t in texts for m in re.findall(r"\[(s\d{3})\]", t)}


def test_resume_after_sigkill_reasks_nothing_for_finished_samples(tmp_path: Path) -> None:
    traces, samples = make_case(tmp_path, N, n_steps=3)
    tr, task = write_case(tmp_path, traces, samples)
    out, cache = tmp_path / "mistakes.jsonl", tmp_path / "cache"
    running = RunningTeacher(FaultTeacher(model_id="reference-shapes-teacher", delay_s=0.03))
    try:
        env = os.environ | {"HF_HUB_OFFLINE": "1"}
        proc = subprocess.Popen(_cli(running.url, tr, task, out, cache), env=env, stdout=subprocess.PIPE)
        deadline = time.monotonic() + 60
        journal: Path | None = None
        while time.monotonic() < deadline:
            found = list((cache / "journals").glob("*.jsonl")) if (cache / "journals").exists() else []
            if found and len(found[0].read_text().splitlines()) >= 5:
                journal = found[0]
                break
            time.sleep(0.02)
        assert journal is not None, "the first run never journaled 5 samples"
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
        assert not out.exists(), "killed midway: the output must not be published"
        finished = {
            json.loads(ln)["report"]["sample_id"] for ln in journal.read_text().splitlines() if ln.strip()
        }
        assert 5 <= len(finished) < N
        first_run_hits = len(running.teacher.hits)

        done = subprocess.run(
            _cli(running.url, tr, task, out, cache), env=env, capture_output=True, timeout=120
        )
        assert done.returncode == 0, done.stderr.decode()[-2000:]
        summary = json.loads(done.stdout)
        rerun_texts = [h.text for h in running.teacher.hits[first_run_hits:]]
        assert _markers(rerun_texts).isdisjoint(finished)
        assert summary["resumed"] >= len(finished)
        assert summary["diagnosed"] == N and summary["undiagnosed"] == 0
        reports = [json.loads(ln) for ln in out.read_text().splitlines()]
        assert [r["sample_id"] for r in reports] == [t.sample_id for t in traces]
    finally:
        running.close()
