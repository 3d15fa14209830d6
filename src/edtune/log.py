"""Logging with key=value context on stderr, so stdout stays free for `--json` results."""

from __future__ import annotations

import logging
import sys
from typing import Any


def setup(level: int = logging.INFO) -> None:
    root = logging.getLogger()
    if not any(getattr(h, "_edtune", False) for h in root.handlers):
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s", "%H:%M:%S"))
        handler._edtune = True  # type: ignore[attr-defined]
        root.addHandler(handler)
    root.setLevel(level)
    for noisy in ("httpx", "urllib3", "botocore", "boto3", "filelock", "werkzeug", "kfp", "grpc"):
        logging.getLogger(noisy).setLevel(max(level, logging.WARNING))
    # milvus-lite's embedded gRPC server logs a traceback for every unimplemented (and unneeded) call it gets
    logging.getLogger("grpc._server").setLevel(logging.CRITICAL)


def kv(msg: str, **fields: Any) -> str:
    """`event key=value ...`: one line, greppable, no secrets (callers pass only safe fields)."""
    return " ".join([msg, *(f"{k}={v}" for k, v in fields.items())])
