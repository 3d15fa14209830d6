"""Finalize and publish: the best round's adapter, its manifest and the report; then the registry."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from edtune import __version__, io
from edtune.config import RunConfig
from edtune.errors import InputError, StageError
from edtune.runfiles import read_selections
from edtune.schemas import AdapterManifest
from edtune.stages.base import StageResult, _run, layout_of
from edtune.stages.rounds import best_round, round_metrics


def finalize(cfg: RunConfig) -> StageResult:
    """Write final/: the best round's adapter (never a round that made things worse), manifest and report."""
    layout = layout_of(cfg)
    rounds = round_metrics(cfg)
    if not rounds:
        raise StageError("no round metrics: evaluate round 0 first")
    best = best_round(rounds)
    inputs = [layout.metrics(m.round) for m in rounds]

    def body() -> dict[str, Any]:
        files: dict[str, str] = {}
        adapter_uri = None
        if best >= 1:
            adapter_uri = io.join(layout.final, "adapter")
            for rel in io.copy_dir(layout.adapter(best), adapter_uri):
                files[rel] = io.sha256_uri(io.join(adapter_uri, rel))
        selected: list[str] = []
        for q in range(1, best + 1):
            selected += [s.support_id for s in read_selections(layout.selection(q))]
        base_sha = _dir_sha(cfg.student.base)
        manifest = AdapterManifest(
            base_model=cfg.student.base,
            base_sha256=base_sha,
            lora=cfg.lora.model_dump(mode="json"),
            rounds=rounds,
            best_round=best,
            selected_support_ids=selected,
            files=files,
            task=cfg.task.name,
            run_id=cfg.run_id,
            edtune_version=__version__,
        )
        io.write_json(io.join(layout.final, "manifest.json"), manifest.model_dump(mode="json"))
        from edtune.report import write_report

        report_uri = write_report(cfg, rounds, best)
        return {
            "best_round": best,
            "adapter": adapter_uri,
            "manifest": io.join(layout.final, "manifest.json"),
            "report": report_uri,
            "val_accuracy_before": rounds[0].val_accuracy,
            "val_accuracy_after": rounds[best].val_accuracy,
            "test_accuracy_before": rounds[0].test_accuracy,
            "test_accuracy_after": rounds[best].test_accuracy,
        }

    return _run(layout, 0, "finalize", {"rounds": len(rounds)}, inputs, body)


def publish(cfg: RunConfig, registry: str | None = None) -> dict[str, Any]:
    """Publish the final adapter to the registry (new immutable version, sha256-verified, then `latest`).

    A run whose best round is the base student publishes nothing: there is no adapter that beat it.
    """
    from edtune.publish import publish as do_publish

    target = registry or cfg.registry
    if not target:
        raise InputError("registry: no adapter registry URI configured (set registry or pass --registry)")
    final = finalize(cfg).summary
    if not final.get("adapter"):
        return {"published": False, "reason": "no round beat the base student on validation"}
    res = do_publish(final["adapter"], final["manifest"], target, cfg.task.name, cfg.run_id)
    return {"published": True, **res.model_dump(mode="json")}


def _dir_sha(uri: str) -> str | None:
    """One sha256 over a checkpoint directory's files (names + contents), to pin the base in the manifest."""
    try:
        files = io.list_uris(uri)
    except Exception:
        return None
    if not files:
        return None
    h = hashlib.sha256()
    for f in files:
        h.update(Path(f).name.encode())
        h.update(io.sha256_uri(f).encode())
    return h.hexdigest()
