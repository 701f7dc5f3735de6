#!/usr/bin/env bash
# Runs the scopehub server on its embedded default on a fresh Debian 12
# machine: install what is missing, build (RelWithDebInfo), start.
# Extra arguments go to scopehub (try --long-help).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
cmake --preset release >/dev/null
cmake --build --preset release --target scopehub
exec build/release/apps/scopehub "$@"
