"""Where a checkpoint comes from and whether it can be trusted, before transformers touches it.

Checks run in the order a user can act on: the directory exists, its config names an architecture of the
configured family, weights are safetensors (pickled `.bin` is refused), every file listed in a `manifest.json`
matches its sha256, and every safetensors header parses. `s3://` prefixes are synced once into a cache
directory keyed by the sha256 of their manifest (or of the URI when there is none).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

from edtune.errors import ModelError

MANIFEST = "manifest.json"
PICKLE_WEIGHTS = (".bin", ".pt", ".pth", ".ckpt", ".pkl")


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def resolve_local(uri: str, cache_dir: str | Path, what: str = "checkpoint") -> Path:
    """A local directory holding `uri`: the path itself for local/file:// URIs, a synced cache dir for s3://."""
    from edtune.io import parse

    u = parse(uri)
    if u.scheme == "file":
        p = Path(u.local)
        if not p.is_dir():
            raise ModelError(f"{uri}: {what} directory not found")
        return p
    from edtune.io import download_dir, exists, join, read_bytes

    manifest_uri = join(uri, MANIFEST)
    key_src = read_bytes(manifest_uri) if exists(manifest_uri) else uri.encode()
    key = hashlib.sha256(key_src).hexdigest()[:32]
    dest = Path(cache_dir) / "models" / key
    if (dest / ".complete").is_file():
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{key}.", dir=dest.parent))
    try:
        files = download_dir(uri, tmp)
        if not files:
            raise ModelError(f"{uri}: no files under this {what} prefix")
        (tmp / ".complete").write_text(uri + "\n")
        if dest.exists():  # a concurrent sync finished first: keep theirs
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            os.replace(tmp, dest)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return dest


def read_config(model_dir: Path) -> dict[str, Any]:
    cfg = model_dir / "config.json"
    if not cfg.is_file():
        raise ModelError(f"{model_dir}: missing config.json (not a Hugging Face checkpoint directory)")
    try:
        return json.loads(cfg.read_text())
    except json.JSONDecodeError as exc:
        raise ModelError(f"{cfg}: invalid JSON ({exc})") from None


def verify_manifest(
    model_dir: Path, *, required: bool = False, manifest_path: Path | None = None
) -> dict[str, Any] | None:
    """Check every file listed in `manifest.json` ({"files": {rel: sha256}}); returns the manifest or None.

    `required=True` is the serving contract (nothing unverified is served): the manifest must exist, list at
    least one file, and list every `*.safetensors` in the directory, so no weight file goes unchecked.
    Without it an absent manifest returns None, as callers that also accept plain checkpoints expect.
    `manifest_path` reads the manifest from elsewhere (finalize writes it beside `final/adapter/`).
    """
    mpath = manifest_path or model_dir / MANIFEST
    if not mpath.is_file():
        if required:
            raise ModelError(
                f"{mpath}: missing; an adapter is served only with the manifest that lists the sha256 of its "
                "files (`edtune adapters sync` writes it)"
            )
        return None
    try:
        manifest = json.loads(mpath.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ModelError(f"{mpath}: invalid JSON ({exc})") from None
    files = manifest.get("files") if isinstance(manifest, dict) else None
    if files is not None and not isinstance(files, dict):
        raise ModelError(f"{mpath}: files: expected a mapping of relative path to sha256")
    files = files or {}
    if required:
        _check_listing(model_dir, mpath, files)
    for rel, want in files.items():
        f = model_dir / rel
        if not f.is_file():
            raise ModelError(f"{model_dir}: file {rel} listed in {MANIFEST} is missing")
        got = sha256_file(f)
        if got != want:
            raise ModelError(
                f"{f}: sha256 {got[:12]}… does not match {MANIFEST} ({want[:12]}…); the file is corrupt"
            )
    return manifest


def _check_listing(model_dir: Path, mpath: Path, files: dict[str, Any]) -> None:
    """A required manifest covers the directory: files listed, paths inside it, every weight file listed."""
    if not files:
        raise ModelError(f"{mpath}: files: the manifest lists no files; nothing could be verified")
    for rel in files:
        parts = str(rel).replace("\\", "/").split("/")
        if str(rel).startswith("/") or ".." in parts:
            raise ModelError(f"{mpath}: files: path {rel!r} is absolute or escapes {model_dir}")
    unlisted = sorted(
        p.relative_to(model_dir).as_posix()
        for p in model_dir.rglob("*.safetensors")
        if p.relative_to(model_dir).as_posix() not in files
    )
    if unlisted:
        raise ModelError(f"{model_dir / unlisted[0]}: weights not listed in {mpath}; they cannot be verified")


def adapter_manifest_path(adapter_dir: Path) -> Path:
    """Where an adapter directory's manifest is: inside it (a registry version or sync), else beside it when that
    manifest lists exactly this directory's files (a run's `final/manifest.json` next to `final/adapter/`)."""
    inside = adapter_dir / MANIFEST
    beside = adapter_dir.parent / MANIFEST
    if inside.is_file() or not beside.is_file():
        return inside
    try:
        files = json.loads(beside.read_text()).get("files") or {}
    except (json.JSONDecodeError, UnicodeDecodeError, AttributeError):
        return inside
    present = {
        p.relative_to(adapter_dir).as_posix()
        for p in adapter_dir.rglob("*")
        if p.is_file() and not p.name.startswith(".")
    }
    return beside if files and set(files) == present else inside


def verify_adapter_dir(adapter_dir: Path) -> dict[str, Any]:
    """The serving check: the adapter's manifest exists and every file matches it (ModelError naming the file)."""
    manifest = verify_manifest(adapter_dir, required=True, manifest_path=adapter_manifest_path(adapter_dir))
    assert manifest is not None
    return manifest


def check_safetensors(files: list[Path]) -> None:
    from safetensors import safe_open

    for f in files:
        try:
            with safe_open(str(f), framework="pt") as sf:
                for name in list(sf.keys())[:1]:
                    sf.get_slice(name)
        except Exception as exc:
            raise ModelError(
                f"{f}: corrupted or truncated safetensors file ({type(exc).__name__}: {exc})"
            ) from None
        size = f.stat().st_size
        with open(f, "rb") as fh:
            header_len = int.from_bytes(fh.read(8), "little")
            header = json.loads(fh.read(header_len))
        end = max((int(v["data_offsets"][1]) for k, v in header.items() if k != "__metadata__"), default=0)
        if 8 + header_len + end != size:
            raise ModelError(
                f"{f}: safetensors file is {size} bytes, its header says {8 + header_len + end}; truncated"
            )


def verify_checkpoint(model_dir: Path, model_types: tuple[str, ...], family: str) -> dict[str, Any]:
    """All pre-load checks of a base checkpoint; returns its config.json."""
    cfg = read_config(model_dir)
    mt = cfg.get("model_type")
    if mt not in model_types:
        raise ModelError(
            f"{model_dir}: checkpoint architecture is model_type={mt!r}, but student family {family!r} "
            f"expects one of {list(model_types)}; set student.family to match the checkpoint"
        )
    weights = sorted(model_dir.glob("*.safetensors"))
    if not weights:
        pickled = [p.name for p in model_dir.iterdir() if p.suffix in PICKLE_WEIGHTS]
        if pickled:
            raise ModelError(
                f"{model_dir}: only pickled weights ({', '.join(pickled)}); edtune loads safetensors only"
            )
        raise ModelError(f"{model_dir}: no *.safetensors weights found")
    index = model_dir / "model.safetensors.index.json"
    if index.is_file():
        shards = set(json.loads(index.read_text()).get("weight_map", {}).values())
        missing = sorted(s for s in shards if not (model_dir / s).is_file())
        if missing:
            raise ModelError(f"{model_dir}: missing weight shard(s) {', '.join(missing)}")
    verify_manifest(model_dir)
    check_safetensors(weights)
    return cfg


def base_fingerprint(model_dir: Path) -> str:
    """Identity of a base checkpoint for adapter matching: the manifest's hashes if shipped, else the weights'.

    Large checkpoints without a manifest are fingerprinted by config + weight file sizes (hashing 15 GB on each
    load is not worth it); tiny ones by content.
    """
    manifest = model_dir / MANIFEST
    h = hashlib.sha256()
    if manifest.is_file():
        files = json.loads(manifest.read_text()).get("files") or {}
        for rel in sorted(files):
            if rel.endswith(".safetensors") or rel == "config.json":
                h.update(f"{rel}={files[rel]}\n".encode())
        return h.hexdigest()
    for f in sorted([*model_dir.glob("*.safetensors"), model_dir / "config.json"]):
        if f.stat().st_size < 64 * 1024 * 1024:
            h.update(f"{f.name}={sha256_file(f)}\n".encode())
        else:
            h.update(f"{f.name}:{f.stat().st_size}\n".encode())
    return h.hexdigest()


def write_manifest(model_dir: Path, extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """Write `manifest.json` with the sha256 of every other file (plus `extra` fields)."""
    files = {
        p.relative_to(model_dir).as_posix(): sha256_file(p)
        for p in sorted(model_dir.rglob("*"))
        if p.is_file() and p.name != MANIFEST and not p.name.startswith(".")
    }
    manifest = {**(extra or {}), "files": files}
    (model_dir / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")
    return manifest
