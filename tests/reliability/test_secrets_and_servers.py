"""Secrets never leave the environment; servers listen on loopback and cap what they read; paths never escape.

The canary values below are put in every secret variable edtune or its clients read; every byte a command
writes (stdout, stderr, files under its output) is searched for them. The full-run canary is in
test_crash_resume.py (slow); here are the fast entry points: config, pipeline compile, errors of each client.
"""

from __future__ import annotations

import http.client
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

EDTUNE = str(Path(sys.executable).with_name("edtune"))
CANARIES = {
    "AWS_SECRET_ACCESS_KEY": "CANARYawsSECRET0123456789",
    "AWS_ACCESS_KEY_ID": "CANARYAKID0123",
    "HF_TOKEN": "hf_CANARYhfTOKEN0123456789",
    "EDTUNE_TEACHER_TOKEN": "CANARYteacherTOKEN0123456789",
    "EDTUNE_MILVUS_TOKEN": "CANARYmilvusTOKEN0123456789",
}


def canary_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("EDTUNE_", "AWS_"))}
    env.update(CANARIES)
    env.update(HF_HUB_OFFLINE="1", OMP_NUM_THREADS="1")
    env.update(extra or {})
    return env


def leaks(*texts: str, roots: tuple[Path, ...] = ()) -> list[str]:
    """Every place a canary (or a recognisable half of one) appears."""
    needles = [v for v in CANARIES.values()] + [v[: len(v) // 2] for v in CANARIES.values()]
    found = [f"output #{i}: {n}" for i, t in enumerate(texts) for n in needles if n in t]
    for root in roots:
        for p in root.rglob("*"):
            if p.is_file():
                data = p.read_bytes()
                found += [f"{p}: {n}" for n in needles if n.encode() in data]
    return found


def edtune(args: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([EDTUNE, *args], capture_output=True, text=True, env=env, cwd=cwd, timeout=180)


# ---------------------------------------------------------------- secrets


def test_config_show_redacts_credentials_in_urls_and_never_prints_secret_env(tmp_path: Path) -> None:
    env = canary_env(
        {
            "EDTUNE_TEACHER__URL": f"https://bot:{CANARIES['EDTUNE_TEACHER_TOKEN']}@teacher.example/v1",
            "EDTUNE_POOL__MILVUS_URI": f"http://127.0.0.1:19530?token={CANARIES['EDTUNE_MILVUS_TOKEN']}",
        }
    )
    for args in (["config", "show"], ["config", "show", "--json"]):
        p = edtune(args, env, tmp_path)
        assert p.returncode == 0, p.stderr
        assert "teacher.example" in p.stdout
        assert not leaks(p.stdout, p.stderr)


def test_compiled_pipelines_carry_no_secret_values(tmp_path: Path) -> None:
    out = tmp_path / "compiled"
    p = edtune(["pipeline", "compile", "--out", str(out)], canary_env(), tmp_path)
    assert p.returncode == 0, p.stderr
    assert list(out.glob("*.yaml")), "nothing compiled"
    assert not leaks(p.stdout, p.stderr, roots=(out,))


def test_teacher_and_storage_errors_do_not_echo_credentials(tmp_path: Path) -> None:
    """A dead teacher (with a token) and a dead S3 endpoint (with keys): the errors name endpoints, not secrets."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    traces = tmp_path / "traces.jsonl"
    traces.write_text(
        json.dumps({"sample_id": "a", "steps": ["x"], "answer": "b", "correct": False, "raw": ""}) + "\n"
    )
    img = tmp_path / "i.png"
    from PIL import Image

    Image.new("RGB", (28, 28)).save(img)
    task = tmp_path / "val.jsonl"
    task.write_text(
        json.dumps({"id": "a", "image": "i.png", "question": "q?", "choices": ["a", "b"], "answer": "a"})
        + "\n"
    )
    dead = f"http://127.0.0.1:{port}"
    env = canary_env({"AWS_ENDPOINT_URL": dead})
    runs = [
        edtune(
            [
                "diagnose",
                "--traces",
                str(traces),
                "--task",
                str(task),
                "--out",
                str(tmp_path / "m.jsonl"),
                "--teacher-url",
                dead,
                "--set",
                "teacher.max_retries=0",
                "--set",
                "teacher.timeout_s=1",
            ],
            env,
            tmp_path,
        ),
        edtune(["data", "validate", "s3://bucket/val.jsonl"], env | {"EDTUNE_S3_TIMEOUT_S": "1"}, tmp_path),
    ]
    for p in runs:
        assert p.returncode != 0
        assert dead.split("//")[1] in p.stderr or "s3://bucket/val.jsonl" in p.stderr, p.stderr[-800:]
    assert not leaks(*(p.stdout for p in runs), *(p.stderr for p in runs), roots=(tmp_path / "cache",))


# ---------------------------------------------------------------- servers


@pytest.fixture(scope="module")
def reference_teacher() -> Iterator[tuple[object, str]]:
    from edtune.shapes.world.reference_teacher import start_reference_teacher

    server, url = start_reference_teacher()
    yield server, url
    server.shutdown()


def test_servers_bind_loopback_by_default(reference_teacher: tuple[object, str]) -> None:
    import inspect

    from edtune.shapes.world import reference_teacher as rt

    server, _url = reference_teacher
    assert server.server_address[0] == "127.0.0.1"  # type: ignore[attr-defined]
    for fn in (rt.start_reference_teacher, rt.running_reference_teacher, rt.serve):
        assert inspect.signature(fn).parameters["host"].default == "127.0.0.1", fn.__name__
    p = subprocess.run(
        [EDTUNE, "teacher", "serve-reference", "--help"], capture_output=True, text=True, timeout=60
    )
    assert "127.0.0.1" in p.stdout


@pytest.mark.parametrize(
    ("name", "length", "body"),
    [
        ("declared body over the cap", 8 * 1024 * 1024 + 1, b""),
        ("huge declared body, nothing sent", 10**12, b""),
    ],
)
def test_reference_teacher_refuses_oversized_bodies_with_413_without_reading_them(
    reference_teacher: tuple[object, str], name: str, length: int, body: bytes
) -> None:
    _, url = reference_teacher
    host, port = url.removeprefix("http://").rsplit(":", 1)
    conn = http.client.HTTPConnection(host, int(port), timeout=10)
    conn.putrequest("POST", "/v1/chat/completions")
    conn.putheader("Content-Type", "application/json")
    conn.putheader("Content-Length", str(length))
    conn.endheaders(body)
    resp = conn.getresponse()
    assert resp.status == 413
    assert "max" in resp.read().decode()
    conn.close()


def test_reference_teacher_still_serves_after_refusing_a_body(reference_teacher: tuple[object, str]) -> None:
    _, url = reference_teacher
    host, port = url.removeprefix("http://").rsplit(":", 1)
    conn = http.client.HTTPConnection(host, int(port), timeout=10)
    conn.request("GET", "/health")
    assert conn.getresponse().status == 200


# ---------------------------------------------------------------- paths


@pytest.mark.parametrize(
    "name",
    ["../../escape", "a/../../b", "/etc/passwd", "..", "skill/../../x", "..\\..\\win"],
)
def test_names_from_data_cannot_escape_the_run_prefix(name: str, tmp_path: Path) -> None:
    """Sample ids and skill names never become path parts; where a name is joined onto a URI, `..` is refused."""
    from edtune import io
    from edtune.errors import InputError

    root = tmp_path / "run"
    with pytest.raises(InputError, match=r"\.\.|absolute"):
        io.join(str(root), name)
    if ".." in name.replace("\\", "/").split("/"):  # a data ref may be absolute (an image), never escape
        with pytest.raises(InputError, match=r"\.\."):
            io.resolve_relative(name, str(root / "val.jsonl"))


def test_the_run_writes_only_under_its_prefix_whatever_the_ids_contain(tmp_path: Path) -> None:
    """Teacher journal/cache keys and layout names are hashes or fixed names: ids with `../` stay data."""
    from edtune.layout import RunLayout
    from edtune.teacher.cache import content_key

    lay = RunLayout(str(tmp_path / "run"))
    for r in range(3):
        for uri in (lay.traces(r), lay.mistakes(r), lay.selection(r), lay.adapter(r), lay.marker(r, "tune")):
            assert Path(uri).resolve().is_relative_to((tmp_path / "run").resolve())
    key = content_key(sample="../../etc/passwd", skill="../x/y")
    assert "/" not in key and ".." not in key
