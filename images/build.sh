#!/usr/bin/env bash
# Build (and optionally push) the edtune images, tagged with the package version from pyproject.toml.
#   images/build.sh [cpu|gpu|all]            build locally
#   PUSH=1 REGISTRY=ghcr.io/you images/build.sh all
#   DRY_RUN=1 images/build.sh all            print the commands only
# Run from anywhere; the build context is the repository root (see .dockerignore).
set -euo pipefail
cd "$(dirname "$0")/.."
REGISTRY="${REGISTRY:-ghcr.io/edtune}"
DOCKER="${DOCKER:-docker}"
PY="${PYTHON:-python3}"
VERSION="$("$PY" -c 'import tomllib; print(tomllib.load(open("pyproject.toml", "rb"))["project"]["version"])')"
which="${1:-all}"
case "$which" in
  cpu) variants=(cpu) ;;
  gpu) variants=(gpu) ;;
  all) variants=(cpu gpu) ;;
  *) echo "usage: images/build.sh [cpu|gpu|all]" >&2; exit 2 ;;
esac

run() {
  echo "+ $*"
  if [ -z "${DRY_RUN:-}" ]; then "$@"; fi
}

for v in "${variants[@]}"; do
  image="$REGISTRY/edtune-$v:$VERSION"
  run "$DOCKER" build -f "images/edtune-$v/Dockerfile" -t "$image" \
    --label "org.opencontainers.image.version=$VERSION" .
  if [ -n "${PUSH:-}" ]; then
    run "$DOCKER" push "$image"
  fi
done
