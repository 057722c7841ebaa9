#!/usr/bin/env bash
# Makes a fresh clone runnable, then runs the given command with the project's tools on PATH:
#   scripts/bootstrap.sh [--k8s] COMMAND...
# Installs the pinned prerequisites (skipping what is present) and the npm dependencies (skipped
# when node_modules matches package-lock.json).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
profile=core
if [ "${1:-}" = --k8s ]; then profile=k8s; shift; fi
bash scripts/install-prereqs.sh "$profile"
# shellcheck source=env.sh
source scripts/env.sh
if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ] || [ ! -d generated/prisma ]; then
  echo "[bootstrap] npm ci" >&2
  npm ci --no-audit --no-fund --loglevel=error
fi
exec "$@"
