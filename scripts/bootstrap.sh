#!/usr/bin/env bash
# One entry point for a fresh machine: creates .venv, installs the CPU torch first (pinned: an unpinned torch
# pulls a multi-GB CUDA build), then edtune with its dev extras, then runs what you asked:
#   bash scripts/bootstrap.sh demo [edtune demo flags]   - the end-to-end demo on embedded defaults
#   bash scripts/bootstrap.sh test [pytest args]         - ruff + the whole default test suite
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${PYTHON:-python3.11}"
command -v "$PY" >/dev/null 2>&1 || PY=python3
VENV="${EDTUNE_VENV:-.venv}"
STAMP="$VENV/.edtune-installed"

if [ ! -x "$VENV/bin/python" ]; then
  "$PY" -m venv "$VENV"
fi
if [ ! -f "$STAMP" ] || [ pyproject.toml -nt "$STAMP" ]; then
  "$VENV/bin/python" -m pip install -q --upgrade pip
  "$VENV/bin/python" -m pip install -q "torch==2.13.0"
  "$VENV/bin/python" -m pip install -q -e ".[dev]"
  touch "$STAMP"
fi
export PATH="$PWD/$VENV/bin:$PATH"
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 TOKENIZERS_PARALLELISM=false

cmd="${1:-demo}"
shift || true
case "$cmd" in
  demo)
    exec edtune demo "$@"
    ;;
  test)
    # checkov (manifest/Dockerfile security scan, tests/deploy) pins many packages of its own: it gets a venv
    # inside .venv (ignored by git), created once; the tests find it at .venv/checkov/bin/checkov.
    if [ ! -x "$VENV/checkov/bin/checkov" ]; then
      "$PY" -m venv "$VENV/checkov"
      "$VENV/checkov/bin/python" -m pip install -q "checkov>=3.2,<4"
    fi
    ruff check .
    set +e
    python -m pytest "$@"
    rc=$?
    set -e
    if [ "$rc" -eq 5 ]; then echo "no tests ran: failing" >&2; exit 1; fi
    exit "$rc"
    ;;
  *)
    echo "usage: bash scripts/bootstrap.sh demo|test [args]" >&2
    exit 2
    ;;
esac
