#!/usr/bin/env bash
# Runs the test suite (a few minutes on 2 cores). Builds first if needed.
set -euo pipefail
cd "$(dirname "$0")/.."
[[ -f build/build.ninja ]] || bash scripts/build.sh
cmake --build build -j"$(nproc)"
ctest --test-dir build --output-on-failure -j"$(nproc)" "$@"
