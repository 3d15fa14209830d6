"""A student named by hub id (`ORG/NAME[@REVISION]`), resolved offline from a real HF cache layout on disk, and
`edtune models stage` to the S3 stand-in (moto server on loopback), from which the student loads as a run loads it.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from edtune.config import StudentConfig
from edtune.errors import ModelError
from edtune.student import load_student
from edtune.student.hub import parse_hub_id, resolve_base

from .conftest import task_samples

ASSET = Path(__file__).resolve().parents[2] / "src" / "edtune" / "shapes" / "assets" / "base-student"
REPO = "edtune-test/tiny-student"
COMMIT = "0123456789abcdef0123456789abcdef01234567"


def lay_out_hub_cache(model_dir: Path, cache: Path, repo: str, commit: str) -> Path:
    """The huggingface_hub cache layout: blobs by sha256, snapshot symlinks, refs/main -> commit."""
    root = cache / f"models--{repo.replace('/', '--')}"
    snap, blobs = root / "snapshots" / commit, root / "blobs"
    snap.mkdir(parents=True)
    blobs.mkdir(exist_ok=True)
    (root / "refs").mkdir(exist_ok=True)
    (root / "refs" / "main").write_text(commit)
    for f in sorted(model_dir.iterdir()):
        digest = hashlib.sha256(f.read_bytes()).hexdigest()
        shutil.copyfile(f, blobs / digest)
        (snap / f.name).symlink_to(Path("..", "..", "blobs", digest))
    return snap


@pytest.fixture()
def hub_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    cache = tmp_path / "hf-cache"
    lay_out_hub_cache(ASSET, cache, REPO, COMMIT)
    monkeypatch.setenv("HF_HUB_CACHE", str(cache))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    return cache


HUB_IDS = [
    ("Qwen/Qwen2-VL-7B-Instruct", ("Qwen/Qwen2-VL-7B-Instruct", None)),
    ("llava-hf/llava-1.5-7b-hf@a272c74", ("llava-hf/llava-1.5-7b-hf", "a272c74")),
    ("org/name@refs/pr/3", ("org/name", "refs/pr/3")),
    ("s3://bucket/models/qwen", None),
    ("file:///models/qwen", None),
    ("/models/qwen", None),
    ("./models/qwen", None),
    ("just-a-name", None),
    ("a/b/c", None),
]


@pytest.mark.parametrize(("base", "want"), HUB_IDS)
def test_hub_ids_are_told_from_paths_and_uris(base: str, want: tuple[str, str | None] | None) -> None:
    hub = parse_hub_id(base)
    assert (None if hub is None else (hub.repo, hub.revision)) == want


def test_an_existing_local_directory_wins_over_a_hub_id(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "org" / "name").mkdir(parents=True)
    monkeypatch.chdir(tmp_path)
    assert parse_hub_id("org/name") is None


@pytest.mark.parametrize("rev", ["", "@main", f"@{COMMIT}"])
def test_a_hub_id_resolves_offline_to_its_cached_snapshot(hub_cache: Path, tmp_path: Path, rev: str) -> None:
    path = resolve_base(REPO + rev, tmp_path / "edtune-cache")
    assert path.name == COMMIT and (path / "config.json").is_file()


def test_a_hub_id_loads_and_answers_like_the_directory(hub_cache: Path, images: dict[str, str]) -> None:
    cfg = StudentConfig(max_new_tokens=8, batch_size=2, torch_threads=1, image_max_side=112)
    by_id = list(
        load_student(REPO, cfg, cache_dir=str(hub_cache.parent / "c")).answer(task_samples(images, 2))
    )
    by_dir = list(
        load_student(str(ASSET), cfg, cache_dir=str(hub_cache.parent / "c")).answer(task_samples(images, 2))
    )
    assert [t.raw for t in by_id] == [t.raw for t in by_dir]


MISSING = [
    (
        "edtune-test/not-cached",
        (
            "student.base",
            "'edtune-test/not-cached'",
            "hf download edtune-test/not-cached",
            "edtune models stage edtune-test/not-cached s3://",
        ),
    ),
    (f"{REPO}@v9", ("student.base", "--revision v9")),
]


@pytest.mark.parametrize(("base", "fragments"), MISSING)
def test_a_hub_id_missing_offline_names_student_base_and_both_ways_to_stage(
    hub_cache: Path, tmp_path: Path, base: str, fragments: tuple[str, ...]
) -> None:
    with pytest.raises(ModelError) as err:
        resolve_base(base, tmp_path)
    for f in fragments:
        assert f in str(err.value)


def test_a_missing_local_directory_names_student_base(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match=r"student\.base: .*not found"):
        resolve_base(str(tmp_path / "nope"), tmp_path)


def _stage(source: str, dest: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    import os

    return subprocess.run(
        [sys.executable, "-m", "edtune", "models", "stage", source, dest, "--json"],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, **(env or {})},
    )


def test_a_model_staged_to_s3_loads_from_there_with_every_file_checked(
    hub_cache: Path, s3_bucket: str, images: dict[str, str], tmp_path: Path
) -> None:
    dest = f"s3://{s3_bucket}/models/tiny-student"
    r = _stage(REPO, dest)
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert (
        out["dest"] == dest and out["files"] == len(list(ASSET.iterdir())) - 1
    )  # its own manifest is replaced
    from edtune import io

    manifest = io.read_json(f"{dest}/manifest.json")
    assert manifest["revision"] == COMMIT and manifest["source"] == REPO
    assert (
        manifest["files"]["model.safetensors"]
        == hashlib.sha256((ASSET / "model.safetensors").read_bytes()).hexdigest()
    )
    cfg = StudentConfig(max_new_tokens=8, batch_size=2, torch_threads=1, image_max_side=112)
    st = load_student(
        dest, cfg, cache_dir=str(tmp_path / "pod-cache")
    )  # as a pipeline pod: sync, verify, load
    assert len(list(st.answer(task_samples(images, 2)))) == 2
    # a corrupted object is refused at load, naming the file
    io.write_bytes(f"{dest}/tokenizer_config.json", b"{}")
    with pytest.raises(ModelError, match=r"tokenizer_config\.json.*does not match"):
        load_student(dest, cfg, cache_dir=str(tmp_path / "other-pod"))


BAD_SOURCES = [
    ("edtune-test/not-cached", "student.base"),
    ("{tmp}/no-such-dir", "not a directory"),
    ("{tmp}/pickled", "only pickled"),
]


@pytest.mark.parametrize(("source", "fragment"), BAD_SOURCES)
def test_models_stage_refuses_what_could_not_be_loaded(
    hub_cache: Path, tmp_path: Path, source: str, fragment: str
) -> None:
    pickled = tmp_path / "pickled"
    pickled.mkdir()
    (pickled / "config.json").write_text('{"model_type": "qwen2_vl"}')
    (pickled / "pytorch_model.bin").write_bytes(b"\0" * 16)
    r = _stage(source.format(tmp=tmp_path), str(tmp_path / "dest"))
    assert r.returncode == 2, r.stdout + r.stderr
    assert fragment in r.stderr and "Traceback" not in r.stderr
    assert not (tmp_path / "dest").exists()
