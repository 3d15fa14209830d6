"""The library pieces the cluster components call: teacher detection, data fingerprint, journal mirroring, the
run status record, per-task serving pins, and the submit-time image choice. All on loopback / local disk."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from edtune import io
from edtune.config import RunConfig
from edtune.errors import InputError, ServiceError
from edtune.pipeline import (
    data_fingerprint,
    detect_teacher,
    is_loopback,
    journal_sync,
    record_run_status,
    resolve_images,
    resolve_teacher,
)
from edtune.publish.serving import parse_downward_annotations, parse_tasks, pins


@contextmanager
def server(routes: dict[str, dict]) -> Iterator[str]:
    class H(BaseHTTPRequestHandler):
        def log_message(self, *a: object) -> None:
            pass

        def do_GET(self) -> None:
            body = routes.get(self.path)
            data = json.dumps(body or {"error": "not found"}).encode()
            self.send_response(200 if body is not None else 404)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    srv = ThreadingHTTPServer(("127.0.0.1", 0), H)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{srv.server_address[1]}"
    finally:
        srv.shutdown()
        srv.server_close()


TEACHERS = [
    # (server, routes it answers, expected backend, expected model)
    ("TGI", {"/info": {"model_id": "Qwen/Qwen2.5-VL-7B-Instruct"}, "/v1/models": {"data": [{"id": "tgi"}]}}, "tgi",
     "Qwen/Qwen2.5-VL-7B-Instruct"),
    ("vLLM", {"/v1/models": {"object": "list", "data": [{"id": "Qwen/Qwen2.5-VL-72B-Instruct"}]}}, "openai",
     "Qwen/Qwen2.5-VL-72B-Instruct"),
]  # fmt: skip


@pytest.mark.parametrize(("kind", "routes", "backend", "model"), TEACHERS, ids=[t[0] for t in TEACHERS])
def test_teacher_backend_and_served_model_are_detected(
    kind: str, routes: dict, backend: str, model: str
) -> None:
    with server(routes) as url:
        assert detect_teacher(url) == (backend, model)
        cfg = resolve_teacher(RunConfig.model_validate({"teacher": {"url": url, "model": "auto"}}))
        assert (cfg.teacher.backend, cfg.teacher.model) == (backend, model)
        fixed = RunConfig.model_validate({"teacher": {"url": url, "model": "mine"}})
        assert resolve_teacher(fixed) is fixed, "an explicit model name is never second-guessed"


def test_a_teacher_that_names_no_model_is_a_service_error() -> None:
    with server({}) as url, pytest.raises(ServiceError, match="neither /info"):
        detect_teacher(url)


@pytest.mark.parametrize(
    ("url", "loopback"),
    [("http://127.0.0.1:8080", True), ("http://127.9.9.9", True), ("http://localhost", True), ("http://[::1]:1", True),
     ("http://0.0.0.0:80", True), ("http://edtune-teacher.edtune.svc", False), ("https://10.0.0.5", False)],
)  # fmt: skip
def test_loopback_urls_are_recognised(url: str, loopback: bool) -> None:
    assert is_loopback(url) is loopback


def test_data_fingerprint_changes_with_the_data_and_only_then(tmp_path: Path) -> None:
    val = tmp_path / "val.jsonl"
    val.write_text('{"id": "a"}\n')
    cfg = RunConfig.model_validate({"task": {"val": str(val)}, "pool": {"uri": str(val)}})
    first = data_fingerprint(cfg)
    assert data_fingerprint(cfg) == first, "unchanged data keeps the KFP cache"
    val.write_text('{"id": "a"}\n{"id": "b"}\n')
    assert data_fingerprint(cfg) != first, "changed data must change every downstream cache key"


def test_journal_is_restored_before_and_mirrored_after_even_when_the_work_fails(tmp_path: Path) -> None:
    remote = str(tmp_path / "bucket" / "annotate")
    io.write_bytes(io.join(remote, "j.jsonl"), b'{"id": "1"}\n')  # what a killed pod had mirrored
    local = tmp_path / "pod1"
    with pytest.raises(RuntimeError), journal_sync(local, remote, every_s=3600):
        assert (local / "j.jsonl").read_bytes() == b'{"id": "1"}\n', "a retry resumes from the mirror"
        with (local / "j.jsonl").open("ab") as fh:
            fh.write(b'{"id": "2"}\n')
        raise RuntimeError("teacher outage")
    assert io.read_bytes(io.join(remote, "j.jsonl")) == b'{"id": "1"}\n{"id": "2"}\n'


def test_journal_is_mirrored_periodically_while_the_work_runs(tmp_path: Path) -> None:
    import time

    remote = str(tmp_path / "bucket")
    local = tmp_path / "pod"
    with journal_sync(local, remote, every_s=0.05):
        (local / "j.jsonl").write_bytes(b"x\n")
        deadline = time.monotonic() + 5
        while not io.exists(io.join(remote, "j.jsonl")) and time.monotonic() < deadline:
            time.sleep(0.02)
        assert io.exists(io.join(remote, "j.jsonl")), "a kill now would lose nothing already mirrored"


def test_run_status_is_recorded_in_the_run_folder(tmp_path: Path) -> None:
    uri = record_run_status(str(tmp_path), "run-9", {"state": "FAILED", "failed_task": "tune-r1"})
    assert uri == str(tmp_path / "run-9" / "status.json")
    got = io.read_json(uri)
    assert got["state"] == "FAILED" and got["failed_task"] == "tune-r1" and got["run_id"] == "run-9"


def test_per_task_pins_come_from_the_downward_api_file() -> None:
    text = (
        'adapters.edtune.io/colors="run-7-3f2a9c1d0b4e"\n'
        'adapters.edtune.io/shapes=""\n'
        'kubectl.kubernetes.io/restartedAt="2025-01-01T00:00:00Z"\n'
    )
    annotations = parse_downward_annotations(text)
    assert pins(annotations, ["colors", "shapes", "counts"]) == {
        "colors": "run-7-3f2a9c1d0b4e",
        "shapes": None,
        "counts": None,
    }
    with pytest.raises(InputError):
        parse_tasks("colors,colors")


def test_sync_all_pins_each_task_and_writes_the_lora_list(tmp_path: Path) -> None:
    import hashlib

    from edtune.publish.registry import publish
    from edtune.publish.serving import sync_tasks
    from edtune.schemas import AdapterManifest, RoundMetrics

    def publish_one(task: str, run: str, payload: bytes) -> str:
        root = tmp_path / f"{task}-{run}"
        (root / "adapter").mkdir(parents=True)
        files = {"adapter_config.json": b"{}", "adapter_model.safetensors": payload}
        for rel, data in files.items():
            (root / "adapter" / rel).write_bytes(data)
        m = AdapterManifest.model_validate(
            {
                "base_model": "tiny",
                "lora": {"r": 8},
                "rounds": [RoundMetrics(round=0, val_accuracy=0.5)],
                "best_round": 0,
                "selected_support_ids": [],
                "files": {rel: hashlib.sha256(d).hexdigest() for rel, d in files.items()},
                "edtune_version": "0.1.0",
                "created_at": "2025-01-01T00:00:00+00:00",
            }
        )
        (root / "manifest.json").write_text(m.model_dump_json())
        return publish(
            str(root / "adapter"), str(root / "manifest.json"), str(tmp_path / "reg"), task, run
        ).version

    old = publish_one("colors", "run-1", b"A" * 64)
    publish_one("colors", "run-2", b"B" * 64)  # latest now
    shapes = publish_one("shapes", "run-1", b"C" * 64)
    pins_file = tmp_path / "annotations"
    pins_file.write_text(f'adapters.edtune.io/colors="{old}"\nadapters.edtune.io/shapes=""\n')
    done = sync_tasks(str(tmp_path / "reg"), ["colors", "shapes"], tmp_path / "adapters", pins_file)
    assert done["colors"].version == old, "the pin of a task other than `demo` is honoured"
    assert done["shapes"].version == shapes
    assert (tmp_path / "adapters" / "colors" / "adapter_model.safetensors").read_bytes() == b"A" * 64
    args = (tmp_path / "adapters" / "lora-modules.args").read_text().split()
    assert args == [
        f"colors={tmp_path / 'adapters' / 'colors'}",
        f"shapes={tmp_path / 'adapters' / 'shapes'}",
    ]


def test_images_are_chosen_at_submit_time() -> None:
    cfg = RunConfig()
    assert resolve_images(cfg, "r.example/edtune-cpu:2") == (
        "r.example/edtune-cpu:2",
        "r.example/edtune-gpu:2",
    )
    pinned = RunConfig.model_validate({"cluster": {"image": "r/edtune-cpu@sha256:" + "a" * 64}})
    with pytest.raises(InputError, match=r"cluster\.gpu_image"):
        resolve_images(pinned)  # a digest has no derivable GPU sibling: say which field to set
    assert resolve_images(pinned, gpu_image="r/g@sha256:" + "b" * 64)[1].startswith("r/g@")
