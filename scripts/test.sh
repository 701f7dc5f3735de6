#!/usr/bin/env bash
# The whole test suite on a fresh Debian 12 machine: install what is
# missing, configure + build (Debug, ASan/UBSan, warnings as errors) and
# run every test through ctest, whose summary line ends the output.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
scripts/format.sh --check
exec cmake --workflow --preset dev
